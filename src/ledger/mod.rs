//! What has been counted: de-duplication by conversation id, late survey answers and
//! transactions, pruning, the cumulative totals and the rolling window.
//!
//! The ledger is the single owner of business numbers. The poller feeds it whole passes
//! (never half a pass, so a failed poll changes nothing), and the metrics module only
//! reads the [`Snapshot`] it produces.
//!
//! This file holds the ledger's changes (apply, commit, rollback, prune); `records` the
//! compact store they change, [`snapshot`] what they show, `persist` what a restart keeps,
//! `tags` the (conversation, tag) pairs.

mod exemplars;
mod persist;
mod records;
pub mod snapshot;
mod tags;

use std::collections::{BTreeMap, HashMap};

pub use exemplars::{ConversationId, Exemplar, Exemplars, Slots};
pub use persist::{LedgerState, LedgerStateRef, LedgerStateV1, LedgerStateV3};
pub use snapshot::{
    AmountKey, CSAT_BOUNDS, Histogram, NPS_BOUNDS, SeriesKey, Snapshot, Totals, WINDOW_QUANTILES,
    Window, WindowSeries,
};
pub use tags::{TagFigures, TagKey, TagState, TagStateRef};

use records::{
    COUNTED, HAS_TRANSACTIONS, NO_ANSWER, Record, Records, Skipped, TrackedTransaction,
    Transactions, WindowDuration, answer, reason_bit,
};

use tags::{TagId, Tags};

use crate::iadvize::{Conversation, Id128, Page, Rejection, UnixMillis};
use crate::labels::{CappedLabels, LabelId, MAX_LABEL_CHARS, TagFilter, normalise_channel};

/// What the ledger needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerConfig {
    pub window_ms: i64,
    pub duration_bounds: Vec<f64>,
    pub amount_bounds: Vec<f64>,
    pub max_channels: usize,
    pub max_currencies: usize,
    /// `--metrics.tags`; [`TagFilter::Off`] keeps no tag state at all.
    pub tags: TagFilter,
    /// `--metrics.max-tags`.
    pub max_tags: usize,
}

impl LedgerConfig {
    /// The ledger's part of `--metrics.*`.
    pub fn of(metrics: &crate::config::MetricsConfig) -> Self {
        LedgerConfig {
            window_ms: i64::try_from(metrics.window.as_millis()).unwrap_or(i64::MAX),
            duration_bounds: metrics.duration_buckets.clone(),
            amount_bounds: metrics.amount_buckets.clone(),
            max_channels: metrics.max_channels,
            max_currencies: metrics.max_currencies,
            tags: metrics.tags.clone(),
            max_tags: metrics.max_tags,
        }
    }
}

/// What one [`Ledger::apply`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Conversations seen for the first time (counted or not).
    pub new_conversations: u64,
    /// Of those, the ones added to the counters.
    pub counted_conversations: u64,
    /// Survey answers counted (each question once in the conversation's life).
    pub answers: u64,
    /// Transactions counted (each identity once in the conversation's life).
    pub transactions: u64,
    /// Rejections counted (not repeated ones).
    pub invalid: u64,
    /// (conversation, tag) pairs remembered for the first time, counted or not.
    pub tags: u64,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        *self != ApplyReport::default()
    }
}

/// What a pass in progress changed, to undo it if the pass fails: a failed poll must
/// change no count. The small parts are copied whole; records, transactions and
/// skipped ids log their old values.
#[derive(Debug, Clone)]
struct Checkpoint {
    totals: Totals,
    exemplars: Exemplars,
    channels: CappedLabels,
    currencies: CappedLabels,
    records: usize,
    changed_records: Vec<(usize, Record)>,
    changed_transactions: Vec<(Id128, Option<Transactions>)>,
    changed_skipped: Vec<(Id128, Option<Skipped>)>,
    report: ApplyReport,
}

/// The de-duplication ledger and the business aggregates.
#[derive(Debug, Clone)]
pub struct Ledger {
    config: LedgerConfig,
    /// Conversations first read that closed at or after this are counted; earlier ones
    /// only tracked. Starts at the exporter's start and moves up with each prune.
    counting_start: UnixMillis,
    channels: CappedLabels,
    currencies: CappedLabels,
    /// Every `project_id, channel` pair seen, so that a record holds a 4-byte index.
    series: Vec<SeriesKey>,
    series_ids: HashMap<SeriesKey, u32>,
    records: Records,
    transactions: HashMap<Id128, Transactions>,
    skipped: HashMap<Id128, Skipped>,
    totals: Totals,
    /// The latest name seen for each project (`""` for a null one), for
    /// `iadvize_project_info`; saved, so a restart shows the names at once.
    project_names: BTreeMap<i64, String>,
    /// The latest conversation counted into each histogram bucket. Not saved.
    exemplars: Exemplars,
    /// Our clock's time of the page being applied, for its exemplars.
    counted_at: UnixMillis,
    tags: Tags,
    /// The pass being applied, if any.
    pass: Option<Checkpoint>,
}

impl Ledger {
    pub fn new(config: LedgerConfig, counting_start: UnixMillis) -> Self {
        Ledger {
            tags: Tags::new(config.tags.clone(), config.max_tags),
            channels: CappedLabels::new(config.max_channels),
            currencies: CappedLabels::new(config.max_currencies),
            config,
            counting_start,
            series: Vec::new(),
            series_ids: HashMap::new(),
            records: Records::default(),
            transactions: HashMap::new(),
            skipped: HashMap::new(),
            totals: Totals::default(),
            project_names: BTreeMap::new(),
            exemplars: Exemplars::default(),
            counted_at: 0,
            pass: None,
        }
    }

    pub fn counting_start(&self) -> UnixMillis {
        self.counting_start
    }

    /// Counting starts at `at` instead: for a fresh ledger, whose start was taken on our
    /// clock, once iAdvize's clock is known. Nothing counted yet depends on it.
    pub fn rebase_counting_start(&mut self, at: UnixMillis) {
        debug_assert!(self.pass.is_none() && self.records.len() == 0);
        self.counting_start = at;
    }

    /// Everything worth keeping across a restart, borrowed for encoding. A pass in
    /// progress is not part of it: call [`Ledger::rollback`] or [`Ledger::commit`] first.
    pub fn state(&self) -> LedgerStateRef<'_> {
        debug_assert!(self.pass.is_none(), "state saved in the middle of a pass");
        LedgerStateRef {
            counting_start: self.counting_start,
            channels: self.channels.names(),
            currencies: self.currencies.names(),
            duration_bounds: &self.config.duration_bounds,
            amount_bounds: &self.config.amount_bounds,
            series: &self.series,
            records: self.records.as_slice(),
            transactions: &self.transactions,
            skipped: &self.skipped,
            totals: &self.totals,
            project_names: &self.project_names,
            tags: self.tags.state(),
        }
    }

    /// A ledger that goes on from a saved state, under the current configuration.
    /// Histograms whose buckets changed since cannot be carried over: they restart empty
    /// (with a warning), while every counter and the de-duplication memory go on.
    pub fn from_state(config: LedgerConfig, state: LedgerState) -> Self {
        let mut totals = state.totals;
        if state.duration_bounds != config.duration_bounds {
            tracing::warn!(
                "--metrics.duration-buckets changed since the state was saved: the duration histogram restarts empty"
            );
            totals.duration.clear();
        }
        if state.amount_bounds != config.amount_bounds {
            tracing::warn!(
                "--metrics.amount-buckets changed since the state was saved: the amount histogram restarts empty"
            );
            totals.transactions.clear();
        }
        let series_ids = state
            .series
            .iter()
            .enumerate()
            .map(|(at, key)| (*key, at as u32))
            .collect();
        // A record pointing past the series table can only come from a damaged file that
        // still passed its checksum; it is dropped rather than trusted.
        let series_len = state.series.len();
        let records = state
            .records
            .into_iter()
            .filter(|r| (r.series as usize) < series_len)
            .collect();
        let tags = Tags::from_state(config.tags.clone(), config.max_tags, state.tags);
        Ledger {
            channels: CappedLabels::from_names(config.max_channels, state.channels),
            currencies: CappedLabels::from_names(config.max_currencies, state.currencies),
            config,
            counting_start: state.counting_start,
            series: state.series,
            series_ids,
            records: Records::from_list(records),
            transactions: state.transactions,
            skipped: state.skipped,
            totals,
            project_names: state.project_names,
            exemplars: Exemplars::default(),
            counted_at: 0,
            tags,
            pass: None,
        }
    }

    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Fold whole pages into the ledger and commit them: [`Ledger::apply_page`] for each,
    /// then [`Ledger::commit`].
    pub fn apply(&mut self, pages: &[Page], now: UnixMillis) -> ApplyReport {
        for page in pages {
            self.apply_page(page, now);
        }
        self.commit()
    }

    /// Fold one page of a pass into the ledger, as soon as it is read, so a pass never
    /// holds more than a page in memory. Until [`Ledger::commit`] the pass can still be
    /// undone by [`Ledger::rollback`]. `now` dates records skipped without a close time,
    /// so that they can be forgotten in time too, and the exemplars.
    pub fn apply_page(&mut self, page: &Page, now: UnixMillis) {
        self.apply_page_at(page, now, now);
    }

    /// [`Ledger::apply_page`], with exemplars dated `counted_at` (our clock, while `now`
    /// is iAdvize's).
    pub fn apply_page_at(&mut self, page: &Page, now: UnixMillis, counted_at: UnixMillis) {
        self.counted_at = counted_at;
        if self.pass.is_none() {
            self.pass = Some(Checkpoint {
                totals: self.totals.clone(),
                exemplars: self.exemplars.clone(),
                channels: self.channels.clone(),
                currencies: self.currencies.clone(),
                records: self.records.len(),
                changed_records: Vec::new(),
                changed_transactions: Vec::new(),
                changed_skipped: Vec::new(),
                report: ApplyReport::default(),
            });
        }
        self.tags.begin_pass();
        // A page repeats a handful of channels and tags: normalise each once.
        let tags = self.tags.page_ids(&page.tags);
        let channels: Vec<LabelId> = page
            .channels
            .iter()
            .map(|raw| self.channels.id(&normalise_channel(raw)))
            .collect();
        let mut report = ApplyReport::default();
        for conversation in &page.conversations {
            let channel = channels
                .get(usize::from(conversation.channel))
                .copied()
                .unwrap_or_else(|| self.channels.id(crate::labels::UNKNOWN_CHANNEL));
            self.apply_conversation(conversation, channel, &tags, &mut report);
        }
        for (project_id, name) in &page.project_names {
            let name: String = name
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(MAX_LABEL_CHARS)
                .collect();
            if self.project_names.get(project_id) != Some(&name) {
                self.project_names.insert(*project_id, name);
            }
        }
        // After the conversations, so a field rejection finds its record.
        for rejection in &page.rejections {
            self.apply_rejection(rejection, now, &mut report);
        }
        if let Some(pass) = &mut self.pass {
            let r = &mut pass.report;
            r.new_conversations += report.new_conversations;
            r.counted_conversations += report.counted_conversations;
            r.answers += report.answers;
            r.transactions += report.transactions;
            r.invalid += report.invalid;
            r.tags += report.tags;
        }
    }

    /// Keep what the pass applied; returns what it changed.
    pub fn commit(&mut self) -> ApplyReport {
        self.tags.commit();
        self.pass.take().map(|pass| pass.report).unwrap_or_default()
    }

    /// Undo everything applied since the last commit.
    pub fn rollback(&mut self) {
        self.tags.rollback();
        let Some(pass) = self.pass.take() else {
            return;
        };
        // Newest change first, so the oldest value is the one left.
        for (at, record) in pass.changed_records.into_iter().rev() {
            if at < self.records.len() {
                self.records.set(at, record);
            }
        }
        for (id, old) in pass.changed_transactions.into_iter().rev() {
            match old {
                Some(list) => self.transactions.insert(id, list),
                None => self.transactions.remove(&id),
            };
        }
        for (id, old) in pass.changed_skipped.into_iter().rev() {
            match old {
                Some(skipped) => self.skipped.insert(id, skipped),
                None => self.skipped.remove(&id),
            };
        }
        for record in self.records.as_slice().get(pass.records..).unwrap_or(&[]) {
            if record.flags & HAS_TRANSACTIONS != 0 {
                self.transactions.remove(&{ record.id });
            }
        }
        self.records.truncate(pass.records);
        self.totals = pass.totals;
        self.exemplars = pass.exemplars;
        self.channels = pass.channels;
        self.currencies = pass.currencies;
    }

    fn series_index(&mut self, key: SeriesKey) -> u32 {
        if let Some(&at) = self.series_ids.get(&key) {
            return at;
        }
        self.series.push(key);
        let at = (self.series.len() - 1) as u32;
        self.series_ids.insert(key, at);
        at
    }

    fn apply_conversation(
        &mut self,
        c: &Conversation,
        channel: LabelId,
        page_tags: &[Option<TagId>],
        report: &mut ApplyReport,
    ) {
        let (at, before) = match self.records.position(c.id) {
            Some(at) => (at, Some(self.records.get(at))),
            None => {
                let series = SeriesKey {
                    project_id: c.project_id,
                    channel,
                };
                let counted = c.closed_at >= self.counting_start;
                report.new_conversations += 1;
                if counted {
                    report.counted_conversations += 1;
                    *self.totals.conversations.entry(series).or_default() += 1;
                    if let Some(d) = c.duration_seconds {
                        let bounds = &self.config.duration_bounds;
                        let slot = self
                            .totals
                            .duration
                            .entry(series)
                            .or_insert_with(|| Histogram::new(bounds))
                            .observe(bounds, d);
                        let buckets = bounds.len() + 1;
                        if let Some(e) = self.exemplar(c, d) {
                            exemplars::record(
                                &mut self.exemplars.duration,
                                series,
                                buckets,
                                slot,
                                e,
                            );
                        }
                    }
                }
                let series = self.series_index(series);
                let at = self.records.push(Record {
                    id: c.id,
                    closed_at: c.closed_at,
                    duration: WindowDuration::new(c.duration_seconds),
                    series,
                    csat: NO_ANSWER,
                    nps: NO_ANSWER,
                    flags: if counted { COUNTED } else { 0 },
                });
                (at, None)
            }
        };
        // A first sighting and a late one are the same case: what is new gets counted once.
        let mut record = self.records.get(at);
        let series = self.series[record.series as usize];
        let counted = record.flags & COUNTED != 0;
        if record.csat == NO_ANSWER
            && let Some(score) = c.csat
        {
            record.csat = score;
            if counted {
                let value = f64::from(score);
                let slot = self
                    .totals
                    .csat
                    .entry(series)
                    .or_insert_with(|| Histogram::new(&CSAT_BOUNDS))
                    .observe(&CSAT_BOUNDS, value);
                if let Some(e) = self.exemplar(c, value) {
                    let buckets = CSAT_BOUNDS.len() + 1;
                    exemplars::record(&mut self.exemplars.csat, series, buckets, slot, e);
                }
                report.answers += 1;
            }
        }
        if record.nps == NO_ANSWER
            && let Some(score) = c.nps
        {
            record.nps = score;
            if counted {
                let value = f64::from(score);
                let slot = self
                    .totals
                    .nps
                    .entry(series)
                    .or_insert_with(|| Histogram::new(&NPS_BOUNDS))
                    .observe(&NPS_BOUNDS, value);
                if let Some(e) = self.exemplar(c, value) {
                    let buckets = NPS_BOUNDS.len() + 1;
                    exemplars::record(&mut self.exemplars.nps, series, buckets, slot, e);
                }
                report.answers += 1;
            }
        }
        if !c.transactions.is_empty() {
            self.apply_transactions(c, at, &mut record, series, report);
        }
        if !page_tags.is_empty() {
            let tags = c
                .tags
                .iter()
                .filter_map(|&at| page_tags.get(usize::from(at)).copied().flatten());
            report.tags += self.tags.carry(c.id, series.project_id, counted, tags);
        }
        // Only answers and flags change on a re-read (a NaN duration never equals itself,
        // so whole records are not compared).
        if before
            .is_some_and(|b| (b.csat, b.nps, b.flags) == (record.csat, record.nps, record.flags))
        {
            return;
        }
        self.records.set(at, record);
        if let (Some(before), Some(pass)) = (before, &mut self.pass)
            && at < pass.records
        {
            pass.changed_records.push((at, before));
        }
    }

    /// `c` counted with `value`, as an exemplar; `None` when its id is too long for one.
    fn exemplar(&self, c: &Conversation, value: f64) -> Option<Exemplar> {
        Some(Exemplar {
            conversation: ConversationId::of(c)?,
            value,
            counted_at: self.counted_at,
        })
    }

    fn apply_transactions(
        &mut self,
        c: &Conversation,
        at: usize,
        record: &mut Record,
        series: SeriesKey,
        report: &mut ApplyReport,
    ) {
        let known: &[TrackedTransaction] = if record.flags & HAS_TRANSACTIONS != 0 {
            self.transactions
                .get(&c.id)
                .map_or(&[], Transactions::as_slice)
        } else {
            &[]
        };
        let mut added: Vec<TrackedTransaction> = Vec::new();
        for t in &c.transactions {
            if known.iter().chain(&added).any(|seen| { seen.key } == t.key) {
                continue;
            }
            added.push(TrackedTransaction {
                key: t.key,
                currency: self.currencies.id(t.currency.as_str()),
                amount: t.amount,
            });
        }
        if added.is_empty() {
            return;
        }
        let counted = record.flags & COUNTED != 0;
        if counted {
            let bounds = &self.config.amount_bounds;
            for t in &added {
                let key = AmountKey {
                    series,
                    currency: t.currency,
                };
                let slot = self
                    .totals
                    .transactions
                    .entry(key)
                    .or_insert_with(|| Histogram::new(bounds))
                    .observe(bounds, t.amount);
                if let Some(e) = self.exemplar(c, t.amount) {
                    let buckets = bounds.len() + 1;
                    exemplars::record(&mut self.exemplars.amount, key, buckets, slot, e);
                }
                report.transactions += 1;
            }
            if record.flags & HAS_TRANSACTIONS == 0 {
                *self.totals.conversions.entry(series).or_default() += 1;
            }
        }
        let Some(list) = Transactions::from_list(known.iter().chain(&added).copied().collect())
        else {
            return;
        };
        record.flags |= HAS_TRANSACTIONS;
        let old = self.transactions.insert(c.id, list);
        // A conversation new in this pass needs no undo entry: a rollback drops its
        // transactions with its record.
        if let Some(pass) = &mut self.pass
            && at < pass.records
        {
            pass.changed_transactions.push((c.id, old));
        }
    }

    fn apply_rejection(&mut self, r: &Rejection, now: UnixMillis, report: &mut ApplyReport) {
        let bit = reason_bit(r.reason);
        let first_time = match r.conversation_id {
            // Without an id the record cannot be recognised when read again.
            None => true,
            Some(id) => match self.records.position(id) {
                Some(at) => {
                    let mut record = self.records.get(at);
                    let first = record.flags & bit == 0;
                    if first {
                        let before = record;
                        record.flags |= bit;
                        self.records.set(at, record);
                        if let Some(pass) = &mut self.pass
                            && at < pass.records
                        {
                            pass.changed_records.push((at, before));
                        }
                    }
                    first
                }
                None => {
                    let old = self.skipped.get(&id).copied();
                    let mut skipped = old.unwrap_or(Skipped {
                        invalid_seen: 0,
                        first_seen: now,
                    });
                    let first = skipped.invalid_seen & bit == 0;
                    if first {
                        skipped.invalid_seen |= bit;
                        self.skipped.insert(id, skipped);
                        if let Some(pass) = &mut self.pass {
                            pass.changed_skipped.push((id, old));
                        }
                    }
                    first
                }
            },
        };
        if first_time {
            *self.totals.invalid.entry(r.reason).or_default() += 1;
            report.invalid += 1;
        }
    }

    /// Forget conversations closed before `cutoff` (and skipped records first seen
    /// before it). The poller picks a cutoff no later read can reach behind. Only between
    /// passes: a pass in progress is committed first.
    ///
    /// The counting start moves up to the cutoff: a forgotten conversation that a read
    /// still reaches (our clock stepped back, a horizon was lengthened) was counted
    /// already, or closed before the start, so it must not be counted as new.
    pub fn prune(&mut self, cutoff: UnixMillis) {
        self.commit();
        self.counting_start = self.counting_start.max(cutoff);
        let mut at = 0;
        while at < self.records.len() {
            let record = self.records.get(at);
            if record.closed_at >= cutoff {
                at += 1;
                continue;
            }
            self.records.swap_remove(at);
            if record.flags & HAS_TRANSACTIONS != 0 {
                self.transactions.remove(&{ record.id });
            }
            self.tags.forget(record.id);
        }
        self.skipped.retain(|_, s| s.first_seen >= cutoff);
    }

    /// The window `[now - window, now)` and the totals, for the metrics.
    pub fn snapshot(&self, now: UnixMillis) -> Snapshot {
        Snapshot {
            totals: self.totals.clone(),
            exemplars: self.exemplars.clone(),
            window: self.window(now),
            window_seconds: self.config.window_ms as f64 / 1000.0,
            channels: self.channels.names().to_vec(),
            currencies: self.currencies.names().to_vec(),
            duration_bounds: self.config.duration_bounds.clone(),
            amount_bounds: self.config.amount_bounds.clone(),
            tracked_conversations: self.records.len(),
            project_names: self.project_names.clone(),
            tags: self.tags.figures(self.tag_window(now)),
        }
    }

    /// The pairs of the conversations in the window, by project and tag; empty when tags
    /// are off or none is remembered.
    fn tag_window(&self, now: UnixMillis) -> BTreeMap<TagKey, u64> {
        let mut window = BTreeMap::new();
        if self.tags.carries_none() {
            return window;
        }
        let from = now.saturating_sub(self.config.window_ms);
        for r in self.records.as_slice() {
            if r.closed_at < from || r.closed_at >= now {
                continue;
            }
            if let Some(series) = self.series.get(r.series as usize) {
                self.tags
                    .add_to_window(r.id, series.project_id, &mut window);
            }
        }
        window
    }

    /// One pass over the records, into per-series slots indexed like `self.series`.
    fn window(&self, now: UnixMillis) -> Window {
        let from = now.saturating_sub(self.config.window_ms);
        let mut slots: Vec<WindowSeries> = vec![WindowSeries::default(); self.series.len()];
        let mut durations: Vec<Vec<f64>> = vec![Vec::new(); self.series.len()];
        let mut revenue: BTreeMap<AmountKey, f64> = BTreeMap::new();
        let mut transactions: BTreeMap<AmountKey, u64> = BTreeMap::new();
        for r in self.records.as_slice() {
            if r.closed_at < from || r.closed_at >= now {
                continue;
            }
            let Some(s) = slots.get_mut(r.series as usize) else {
                continue;
            };
            s.conversations += 1;
            if let Some(d) = { r.duration }.seconds() {
                durations[r.series as usize].push(d);
                s.duration_sum += d;
                s.duration_count += 1;
            }
            if let Some(score) = answer(r.csat) {
                s.csat_responses += 1;
                s.csat_sum += u64::from(score);
                if score >= 4 {
                    s.csat_satisfied += 1;
                }
            }
            if let Some(score) = answer(r.nps) {
                s.nps_responses += 1;
                match score {
                    9..=10 => s.nps_promoters += 1,
                    0..=6 => s.nps_detractors += 1,
                    _ => {}
                }
            }
            if r.flags & HAS_TRANSACTIONS != 0
                && let Some(list) = self.transactions.get(&{ r.id })
            {
                s.conversions += 1;
                for t in list.as_slice() {
                    let key = AmountKey {
                        series: self.series[r.series as usize],
                        currency: t.currency,
                    };
                    *revenue.entry(key).or_default() += t.amount;
                    *transactions.entry(key).or_default() += 1;
                }
            }
        }
        let mut window = Window {
            series: BTreeMap::new(),
            revenue,
            transactions,
        };
        for ((key, mut s), mut values) in self.series.iter().zip(slots).zip(durations) {
            if s.conversations == 0 {
                continue;
            }
            if !values.is_empty() {
                values.sort_unstable_by(f64::total_cmp);
                s.duration_quantiles = Some(WINDOW_QUANTILES.map(|q| nearest_rank(&values, q)));
            }
            window.series.insert(*key, s);
        }
        window
    }
}

/// The nearest-rank quantile of sorted values: the value at rank `ceil(q * n)`.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iadvize::{Currency, InvalidReason, Transaction};

    const MIN: i64 = 60_000;
    const START: i64 = 1_700_000_000_000;

    fn config() -> LedgerConfig {
        LedgerConfig {
            window_ms: 60 * MIN,
            duration_bounds: vec![60.0, 300.0, 900.0],
            amount_bounds: vec![10.0, 100.0],
            max_channels: 32,
            max_currencies: 16,
            tags: TagFilter::All,
            max_tags: 50,
        }
    }

    /// A conversation with its channel as text, as the tests write it.
    #[derive(Clone)]
    struct Conv {
        id: &'static str,
        channel: String,
        closed_at: i64,
        duration_seconds: Option<f64>,
        csat: Option<u8>,
        nps: Option<u8>,
        transactions: Vec<Transaction>,
        tags: Vec<&'static str>,
    }

    fn conv(id: &str, closed_at: i64) -> Conv {
        Conv {
            id: id.to_owned().leak(),
            channel: "CHAT".to_owned(),
            closed_at,
            duration_seconds: Some(120.0),
            csat: None,
            nps: None,
            transactions: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn tx(key: &str, amount: f64, currency: &str) -> Transaction {
        Transaction {
            key: Id128::of(key),
            amount,
            currency: Currency::parse(currency).unwrap(),
        }
    }

    fn page(conversations: Vec<Conv>) -> Page {
        let mut page = Page {
            records: conversations.len(),
            ..Page::default()
        };
        for c in conversations {
            let channel = page.channel_index(&c.channel);
            let tags = c.tags.iter().filter_map(|t| page.tag_index(t)).collect();
            page.conversations.push(Conversation {
                id: Id128::of(c.id),
                id_text: Id128::of(c.id).is_hashed().then(|| c.id.into()),
                project_id: 1001,
                channel,
                closed_at: c.closed_at,
                duration_seconds: c.duration_seconds,
                csat: c.csat,
                nps: c.nps,
                transactions: c.transactions,
                tags,
            });
        }
        page
    }

    fn chat() -> SeriesKey {
        SeriesKey {
            project_id: 1001,
            channel: 0,
        }
    }

    #[test]
    fn a_conversation_is_counted_once_however_often_it_is_read() {
        let mut ledger = Ledger::new(config(), START);
        let mut c = conv("a", START + MIN);
        c.csat = Some(5);
        c.nps = Some(10);
        c.transactions = vec![tx("t1", 42.5, "EUR")];
        let p = page(vec![c.clone(), c.clone()]);
        let first = ledger.apply(std::slice::from_ref(&p), START + 2 * MIN);
        assert_eq!(first.new_conversations, 1);
        assert_eq!(first.answers, 2);
        assert_eq!(first.transactions, 1);
        let again = ledger.apply(&[p], START + 3 * MIN);
        assert!(!again.changed(), "a re-read changes nothing: {again:?}");

        let t = ledger.totals();
        assert_eq!(t.conversations[&chat()], 1);
        assert_eq!(t.duration[&chat()].counts, vec![0, 1, 0, 0]);
        assert_eq!(t.duration[&chat()].sum, 120.0);
        assert_eq!(t.csat[&chat()].counts, vec![0, 0, 0, 0, 1, 0]);
        assert_eq!(t.nps[&chat()].count, 1);
        assert_eq!(t.nps[&chat()].sum, 10.0);
        assert_eq!(t.conversions[&chat()], 1);
        let eur = AmountKey {
            series: chat(),
            currency: 0,
        };
        assert_eq!(t.transactions[&eur].counts, vec![0, 1, 0]);
        assert_eq!(t.transactions[&eur].sum, 42.5);
    }

    #[test]
    fn late_answers_and_transactions_count_once_under_the_first_labels() {
        let mut ledger = Ledger::new(config(), START);
        let c = conv("a", START + MIN);
        ledger.apply(&[page(vec![c.clone()])], START + 2 * MIN);
        assert!(ledger.totals().csat.is_empty());

        let mut later = c.clone();
        later.channel = "WHATSAPP".to_owned(); // labels stay those of the first sighting
        later.csat = Some(4);
        ledger.apply(&[page(vec![later.clone()])], START + 3 * MIN);
        later.nps = Some(6);
        later.transactions = vec![tx("t1", 5.0, "eur".to_uppercase().as_str())];
        ledger.apply(&[page(vec![later.clone()])], START + 4 * MIN);
        later.transactions.push(tx("t2", 250.0, "EUR"));
        later.transactions.push(tx("t1", 5.0, "EUR"));
        let r = ledger.apply(&[page(vec![later])], START + 5 * MIN);
        assert_eq!(r.transactions, 1, "t1 was already counted");

        let t = ledger.totals();
        assert_eq!(t.conversations.len(), 1);
        assert_eq!(t.conversations[&chat()], 1);
        assert_eq!(t.csat[&chat()].sum, 4.0);
        assert_eq!(t.csat[&chat()].count, 1);
        assert_eq!(t.nps[&chat()].counts[6], 1);
        assert_eq!(
            t.conversions[&chat()],
            1,
            "a second transaction is no new conversion"
        );
        let eur = AmountKey {
            series: chat(),
            currency: 0,
        };
        assert_eq!(t.transactions[&eur].count, 2);
        assert_eq!(t.transactions[&eur].sum, 255.0);
        assert_eq!(t.transactions[&eur].counts, vec![1, 0, 1]);
    }

    #[test]
    fn an_answer_that_changes_is_not_counted_twice() {
        let mut ledger = Ledger::new(config(), START);
        let mut c = conv("a", START + MIN);
        c.csat = Some(2);
        ledger.apply(&[page(vec![c.clone()])], START + 2 * MIN);
        c.csat = Some(5);
        ledger.apply(&[page(vec![c])], START + 3 * MIN);
        assert_eq!(ledger.totals().csat[&chat()].count, 1);
        assert_eq!(ledger.totals().csat[&chat()].sum, 2.0);
    }

    #[test]
    fn conversations_closed_before_the_start_feed_only_the_window() {
        let mut ledger = Ledger::new(config(), START);
        let mut old = conv("old", START - 10 * MIN);
        old.csat = Some(3);
        ledger.apply(&[page(vec![old.clone()])], START);
        old.nps = Some(10);
        old.transactions = vec![tx("t", 20.0, "EUR")];
        ledger.apply(&[page(vec![old])], START + MIN);
        assert_eq!(ledger.totals(), &Totals::default());

        let s = ledger.snapshot(START + MIN);
        let w = &s.window.series[&chat()];
        assert_eq!(w.conversations, 1);
        assert_eq!(w.csat_average(), Some(3.0));
        assert_eq!(w.nps(), Some(100.0));
        assert_eq!(w.conversions, 1);
    }

    #[test]
    fn the_window_holds_only_recent_conversations() {
        let mut ledger = Ledger::new(config(), START);
        let now = START + 120 * MIN;
        // Durations 10, 20, ..., 100 s inside the window; one old conversation outside.
        let mut inside: Vec<Conv> = (1..=10)
            .map(|i| {
                let mut c = conv(&format!("c{i}"), now - 30 * MIN + i);
                c.duration_seconds = Some(f64::from(i as i32) * 10.0);
                c
            })
            .collect();
        inside[0].csat = Some(5);
        inside[1].csat = Some(2);
        inside[2].nps = Some(10);
        inside[3].nps = Some(9);
        inside[4].nps = Some(7);
        inside[5].nps = Some(0);
        inside[6].transactions = vec![tx("x", 30.0, "EUR"), tx("y", 12.5, "EUR")];
        inside[7].transactions = vec![tx("z", 7.0, "GBP")];
        let mut outside = conv("old", now - 61 * MIN);
        outside.csat = Some(1);
        let mut all = inside;
        all.push(outside);
        ledger.apply(&[page(all)], now);

        let s = ledger.snapshot(now);
        let w = &s.window.series[&chat()];
        assert_eq!(w.conversations, 10);
        // Nearest rank over 10 values: p50 -> rank 5, p90 -> rank 9, p99 -> rank 10.
        assert_eq!(w.duration_quantiles, Some([50.0, 90.0, 100.0]));
        assert_eq!((w.duration_count, w.duration_sum), (10, 550.0));
        assert_eq!(w.csat_responses, 2);
        assert_eq!(w.csat_average(), Some(3.5));
        // The 5 is satisfied, the 2 is not; the 1 outside the window does not count.
        assert_eq!(w.csat_satisfied, 1);
        // 2 promoters, 1 passive, 1 detractor: 100 * (2 - 1) / 4.
        assert_eq!(w.nps_responses, 4);
        assert_eq!(w.nps(), Some(25.0));
        assert_eq!(w.conversions, 2);
        let eur = s.currencies.iter().position(|c| c == "EUR").unwrap() as LabelId;
        let gbp = s.currencies.iter().position(|c| c == "GBP").unwrap() as LabelId;
        assert_eq!(
            s.window.revenue[&AmountKey {
                series: chat(),
                currency: eur
            }],
            42.5
        );
        assert_eq!(
            s.window.revenue[&AmountKey {
                series: chat(),
                currency: gbp
            }],
            7.0
        );
        // Two EUR transactions on one conversation, one GBP on another.
        let transactions = |currency| {
            s.window.transactions[&AmountKey {
                series: chat(),
                currency,
            }]
        };
        assert_eq!((transactions(eur), transactions(gbp)), (2, 1));

        // Two hours later nothing is in the window and every series disappears.
        let later = ledger.snapshot(now + 120 * MIN);
        assert!(later.window.series.is_empty());
        assert!(later.window.revenue.is_empty());
        assert!(later.window.transactions.is_empty());
    }

    #[test]
    fn a_renamed_or_unnamed_project_has_one_name() {
        let mut ledger = Ledger::new(config(), START);
        let mut first = page(vec![conv("a", START + MIN)]);
        first.project_names = vec![(1001, None)];
        ledger.apply(&[first], START + 2 * MIN);
        assert_eq!(ledger.snapshot(START + 2 * MIN).project_names[&1001], "");
        let mut renamed = page(vec![conv("b", START + 2 * MIN)]);
        renamed.project_names = vec![(1001, Some("Boutique".into()))];
        ledger.apply(&[renamed], START + 3 * MIN);
        let names = ledger.snapshot(START + 3 * MIN).project_names;
        assert_eq!(names.len(), 1);
        assert_eq!(names[&1001], "Boutique");
    }

    /// The tag series of a snapshot as (label, count), counters or window.
    fn tag_series(s: &Snapshot, window: bool) -> Vec<(String, u64)> {
        let tags = s.tags.as_ref().expect("tags are on");
        let figures = if window { &tags.window } else { &tags.totals };
        let mut series: Vec<(String, u64)> = figures
            .iter()
            .map(|(k, v)| (tags.label(k.tag).to_owned(), *v))
            .collect();
        series.sort();
        series
    }

    fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect()
    }

    #[test]
    fn a_tag_pair_counts_once_also_when_it_comes_late() {
        let mut ledger = Ledger::new(config(), START);
        let mut a = conv("a", START + MIN);
        a.tags = vec!["VIP", " VIP", "Livraison"];
        let mut old = conv("old", START - MIN);
        old.tags = vec!["VIP"];
        let r = ledger.apply(&[page(vec![a.clone(), old.clone()])], START + 2 * MIN);
        assert_eq!(r.tags, 3, "VIP twice is one pair");
        a.tags.push("livraison");
        old.tags.push("Retour");
        let r = ledger.apply(&[page(vec![a.clone(), old])], START + 3 * MIN);
        assert_eq!(r.tags, 2);
        let r = ledger.apply(&[page(vec![a])], START + 4 * MIN);
        assert_eq!(r.tags, 0, "a re-read adds nothing");

        let s = ledger.snapshot(START + 4 * MIN);
        // The conversation closed before the start is in the window only.
        assert_eq!(
            tag_series(&s, false),
            pairs(&[("Livraison", 1), ("VIP", 1), ("livraison", 1)])
        );
        assert_eq!(
            tag_series(&s, true),
            pairs(&[
                ("Livraison", 1),
                ("Retour", 1),
                ("VIP", 2),
                ("livraison", 1)
            ])
        );
        // Pruned, the conversations leave the window; the counters keep their pairs.
        ledger.prune(START + 10 * MIN);
        let s = ledger.snapshot(START + 11 * MIN);
        assert!(tag_series(&s, true).is_empty());
        assert_eq!(tag_series(&s, false).len(), 3);
        assert!(ledger.tags.carries_none());
    }

    #[test]
    fn tags_past_the_cap_add_to_other_and_a_list_ignores_case() {
        let mut cfg = config();
        cfg.max_tags = 1;
        let mut ledger = Ledger::new(cfg, START);
        let mut a = conv("a", START + 1);
        a.tags = vec!["VIP", "Livraison", "Retour"];
        let mut b = conv("b", START + 2);
        b.tags = vec!["Retour"];
        ledger.apply(&[page(vec![a, b])], START + 3);
        let s = ledger.snapshot(START + 3);
        assert_eq!(tag_series(&s, false), pairs(&[("VIP", 1), ("other", 3)]));

        let mut cfg = config();
        cfg.tags = TagFilter::list(&["livraison", "VIP"]);
        let mut ledger = Ledger::new(cfg, START);
        let mut a = conv("a", START + 1);
        a.tags = vec!["Livraison", "LIVRAISON", "vip", "Retour"];
        ledger.apply(&[page(vec![a])], START + 3);
        let s = ledger.snapshot(START + 3);
        assert_eq!(
            tag_series(&s, false),
            pairs(&[("LIVRAISON", 1), ("Livraison", 1), ("vip", 1)])
        );
    }

    #[test]
    fn with_tags_off_nothing_of_them_is_kept() {
        let mut cfg = config();
        cfg.tags = TagFilter::Off;
        let mut ledger = Ledger::new(cfg, START);
        let mut a = conv("a", START + 1);
        a.tags = vec!["VIP"];
        let r = ledger.apply(&[page(vec![a])], START + 2);
        assert_eq!(r.tags, 0);
        assert_eq!(ledger.snapshot(START + 2).tags, None);
        assert!(ledger.tags.carries_none());
    }

    #[test]
    fn a_rolled_back_pass_leaves_no_tag_pair() {
        let mut ledger = Ledger::new(config(), START);
        let mut known = conv("known", START + MIN);
        known.tags = vec!["VIP"];
        ledger.apply(&[page(vec![known.clone()])], START + 2 * MIN);
        let before = ledger.snapshot(START + 3 * MIN);
        known.tags.push("Retour");
        let mut new = conv("new", START + 2 * MIN);
        new.tags = vec!["VIP", "Livraison"];
        let p = page(vec![known, new]);
        ledger.apply_page(&p, START + 3 * MIN);
        ledger.rollback();
        assert_eq!(ledger.snapshot(START + 3 * MIN), before);
        let r = ledger.apply(&[p], START + 4 * MIN);
        assert_eq!(r.tags, 3);
        let s = ledger.snapshot(START + 4 * MIN);
        assert_eq!(
            tag_series(&s, false),
            pairs(&[("Livraison", 1), ("Retour", 1), ("VIP", 2)])
        );
    }

    #[test]
    fn rejections_count_once_per_conversation_and_reason() {
        let mut ledger = Ledger::new(config(), START);
        let mut c = conv("a", START + MIN);
        c.csat = None;
        let mut p = page(vec![c]);
        p.rejections = vec![
            Rejection {
                reason: InvalidReason::BadCsat,
                conversation_id: Some(Id128::of("a")),
            },
            Rejection {
                reason: InvalidReason::MissingProject,
                conversation_id: Some(Id128::of("b")),
            },
            Rejection {
                reason: InvalidReason::MissingId,
                conversation_id: None,
            },
        ];
        ledger.apply(std::slice::from_ref(&p), START + MIN);
        ledger.apply(&[p], START + 2 * MIN);
        let invalid = &ledger.totals().invalid;
        assert_eq!(invalid[&InvalidReason::BadCsat], 1);
        assert_eq!(invalid[&InvalidReason::MissingProject], 1);
        assert_eq!(
            invalid[&InvalidReason::MissingId],
            2,
            "no id: nothing to recognise"
        );
    }

    #[test]
    fn each_bucket_keeps_the_latest_conversation_counted_into_it() {
        let mut ledger = Ledger::new(config(), START);
        let uuid = "0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b";
        let mut first = conv(uuid, START + MIN);
        first.duration_seconds = Some(30.0);
        let mut second = conv("c-2", START + 2 * MIN);
        second.duration_seconds = Some(45.0);
        let mut long = conv("c-3", START + 3 * MIN);
        long.duration_seconds = Some(5_000.0);
        ledger.apply_page_at(
            &page(vec![first.clone(), second, long]),
            START + 4 * MIN,
            77,
        );
        ledger.commit();
        let exemplars = &ledger.snapshot(START + 4 * MIN).exemplars;
        let slots = &exemplars.duration[&chat()];
        assert_eq!(slots.len(), 4);
        let at = |slot: usize| {
            slots[slot]
                .as_ref()
                .map(|e| (e.conversation.text(), e.value, e.counted_at))
        };
        // 30 s then 45 s into the 60 s bucket: the later one stays; 5,000 s into +Inf.
        assert_eq!(at(0), Some(("c-2".to_owned(), 45.0, 77)));
        assert_eq!(at(1), None);
        assert_eq!(at(3), Some(("c-3".to_owned(), 5_000.0, 77)));
        assert!(exemplars.csat.is_empty());

        // A late answer is counted, and becomes its bucket's exemplar, when it appears;
        // in a pass that fails, neither stays.
        first.csat = Some(2);
        ledger.apply_page_at(&page(vec![first.clone()]), START + 5 * MIN, 88);
        ledger.rollback();
        assert!(ledger.snapshot(START + 5 * MIN).exemplars.csat.is_empty());
        ledger.apply_page_at(&page(vec![first]), START + 6 * MIN, 99);
        ledger.commit();
        let csat = &ledger.snapshot(START + 6 * MIN).exemplars.csat[&chat()];
        let e = csat[1].as_ref().unwrap();
        assert_eq!(
            (e.conversation.text(), e.value, e.counted_at),
            (uuid.to_owned(), 2.0, 99)
        );
        assert!(matches!(e.conversation, ConversationId::Uuid(_)));
    }

    #[test]
    fn a_rolled_back_pass_changes_nothing() {
        let mut ledger = Ledger::new(config(), START);
        let mut known = conv("known", START + MIN);
        ledger.apply(&[page(vec![known.clone()])], START + 2 * MIN);
        let before = ledger.snapshot(START + 3 * MIN);

        // A pass that adds a conversation on a new channel, answers and transactions on a
        // known one, and rejections, then fails.
        let mut new = conv("new", START + 2 * MIN);
        new.channel = "SMS".to_owned();
        new.csat = Some(5);
        new.transactions = vec![tx("t-new", 10.0, "USD")];
        known.csat = Some(1);
        known.nps = Some(3);
        known.transactions = vec![tx("t-known", 20.0, "EUR")];
        let mut p = page(vec![new.clone(), known.clone()]);
        p.rejections = vec![
            Rejection {
                reason: InvalidReason::BadNps,
                conversation_id: Some(Id128::of("known")),
            },
            Rejection {
                reason: InvalidReason::BadClosedAt,
                conversation_id: Some(Id128::of("skipped")),
            },
        ];
        ledger.apply_page(&p, START + 3 * MIN);
        assert_eq!(ledger.tracked(), 2);
        assert_eq!(ledger.transactions.len(), 2);
        ledger.rollback();

        assert_eq!(ledger.tracked(), 1);
        assert!(ledger.transactions.is_empty(), "no transaction left behind");
        assert!(ledger.skipped.is_empty(), "no skipped id left behind");
        assert_eq!(ledger.snapshot(START + 3 * MIN), before);
        // Read again and committed, everything counts exactly once.
        let report = ledger.apply(&[p], START + 4 * MIN);
        assert_eq!(report.new_conversations, 1);
        assert_eq!(report.answers, 3);
        assert_eq!(report.transactions, 2);
        assert_eq!(report.invalid, 2);
        let t = ledger.totals();
        assert_eq!(t.conversations.values().sum::<u64>(), 2);
        assert_eq!(t.csat[&chat()].sum, 1.0);
        assert_eq!(t.conversions.values().sum::<u64>(), 2);
        assert_eq!(ledger.snapshot(START + 4 * MIN).channels, ["chat", "sms"]);
    }

    #[test]
    fn records_stay_findable_after_pruning_moves_them() {
        let mut ledger = Ledger::new(config(), START);
        // Old and new interleaved, so pruning moves survivors around.
        let convs: Vec<Conv> = (0..200)
            .map(|i| {
                let closed = if i % 3 == 0 {
                    START + i
                } else {
                    START + 100 * MIN + i
                };
                conv(&format!("c{i}"), closed)
            })
            .collect();
        ledger.apply(&[page(convs.clone())], START + 200 * MIN);
        ledger.prune(START + 50 * MIN);
        let survivors = convs
            .iter()
            .filter(|c| c.closed_at >= START + 50 * MIN)
            .count();
        assert_eq!(ledger.tracked(), survivors);
        // Every survivor is still recognised: answering it counts once, re-reading none.
        let answered: Vec<Conv> = convs
            .iter()
            .filter(|c| c.closed_at >= START + 50 * MIN)
            .map(|c| Conv {
                csat: Some(4),
                ..c.clone()
            })
            .collect();
        let report = ledger.apply(&[page(answered)], START + 201 * MIN);
        assert_eq!(report.new_conversations, 0);
        assert_eq!(report.answers, survivors as u64);
    }

    #[test]
    fn pruning_forgets_old_conversations() {
        let mut ledger = Ledger::new(config(), START);
        ledger.apply(
            &[page(vec![
                conv("old", START + MIN),
                conv("new", START + 10 * MIN),
            ])],
            START + 11 * MIN,
        );
        assert_eq!(ledger.tracked(), 2);
        ledger.prune(START + 5 * MIN);
        assert_eq!(ledger.tracked(), 1);
        // The counters keep what was counted.
        assert_eq!(ledger.totals().conversations[&chat()], 2);
    }

    #[test]
    fn a_forgotten_conversation_read_again_is_not_counted_again() {
        let mut ledger = Ledger::new(config(), START);
        let mut answered = conv("old", START + MIN);
        answered.csat = Some(5);
        ledger.apply(&[page(vec![answered.clone()])], START + 2 * MIN);
        ledger.prune(START + 5 * MIN);
        assert_eq!(ledger.tracked(), 0);
        assert_eq!(ledger.counting_start(), START + 5 * MIN);
        // A read that reaches behind the cutoff (the clock stepped back) finds it again.
        let report = ledger.apply(&[page(vec![answered])], START + 3 * MIN);
        assert_eq!(report.counted_conversations, 0);
        assert_eq!(report.answers, 0);
        assert_eq!(ledger.totals().conversations[&chat()], 1);
        assert_eq!(ledger.totals().csat[&chat()].count, 1);
        // Later conversations still count.
        ledger.apply(
            &[page(vec![conv("next", START + 6 * MIN)])],
            START + 7 * MIN,
        );
        assert_eq!(ledger.totals().conversations[&chat()], 2);
        // A cutoff behind the counting start never moves it back.
        ledger.prune(START);
        assert_eq!(ledger.counting_start(), START + 5 * MIN);
    }

    #[test]
    fn channels_past_the_cap_share_other() {
        let mut cfg = config();
        cfg.max_channels = 1;
        let mut ledger = Ledger::new(cfg, START);
        let mut a = conv("a", START + 1);
        a.channel = "CHAT".into();
        let mut b = conv("b", START + 2);
        b.channel = "CALL".into();
        let mut c = conv("c", START + 3);
        c.channel = "VIDEO".into();
        ledger.apply(&[page(vec![a, b, c])], START + 4);
        let s = ledger.snapshot(START + 4);
        let names: Vec<(&str, u64)> = s
            .totals
            .conversations
            .iter()
            .map(|(k, v)| (s.channel(k.channel), *v))
            .collect();
        assert_eq!(names, vec![("chat", 1), ("other", 2)]);
    }
}
