//! What has been counted: de-duplication by conversation id, late survey answers and
//! transactions, pruning, the cumulative totals and the rolling window.
//!
//! The ledger is the single owner of business numbers. The poller feeds it whole passes
//! (never half a pass, so a failed poll changes nothing), and the metrics module only
//! reads the [`Snapshot`] it produces.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::iadvize::{Conversation, InvalidReason, Page, Rejection, UnixMillis};
use crate::labels::{CappedLabels, LabelId, normalise_channel};

/// Upper bounds of the CSAT histogram (METRICS.md).
pub const CSAT_BOUNDS: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
/// Upper bounds of the NPS histogram (METRICS.md).
pub const NPS_BOUNDS: [f64; 11] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
/// Quantiles of `iadvize_window_conversation_duration_seconds`.
pub const WINDOW_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// What the ledger needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerConfig {
    pub window_ms: i64,
    pub duration_bounds: Vec<f64>,
    pub amount_bounds: Vec<f64>,
    pub max_channels: usize,
    pub max_currencies: usize,
}

/// The business label set of most series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub project_id: i64,
    pub channel: LabelId,
}

/// The label set of transaction series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AmountKey {
    pub series: SeriesKey,
    pub currency: LabelId,
}

/// A cumulative histogram: `counts[i]` observations fell in bucket `i` (not cumulative),
/// the last slot being `+Inf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, bounds: &[f64], value: f64) {
        // Prometheus buckets are `le`: a value equal to a bound belongs to that bucket.
        let slot = bounds.partition_point(|&b| b < value);
        if let Some(c) = self.counts.get_mut(slot) {
            *c += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// Cumulative business counters, by label set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub conversations: BTreeMap<SeriesKey, u64>,
    pub duration: BTreeMap<SeriesKey, Histogram>,
    pub csat: BTreeMap<SeriesKey, Histogram>,
    pub nps: BTreeMap<SeriesKey, Histogram>,
    pub conversions: BTreeMap<SeriesKey, u64>,
    pub transactions: BTreeMap<AmountKey, Histogram>,
    pub invalid: BTreeMap<InvalidReason, u64>,
}

/// Rolling-window figures of one `project_id, channel` series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowSeries {
    pub conversations: u64,
    /// Nearest-rank quantiles of [`WINDOW_QUANTILES`]; `None` without durations.
    pub duration_quantiles: Option<[f64; 3]>,
    /// Sum and count of the durations known in the window (the summary's `_sum`/`_count`).
    pub duration_sum: f64,
    pub duration_count: u64,
    pub csat_responses: u64,
    pub csat_sum: u64,
    pub nps_responses: u64,
    pub nps_promoters: u64,
    pub nps_detractors: u64,
    pub conversions: u64,
}

impl WindowSeries {
    pub fn csat_average(&self) -> Option<f64> {
        (self.csat_responses > 0).then(|| self.csat_sum as f64 / self.csat_responses as f64)
    }

    pub fn nps(&self) -> Option<f64> {
        (self.nps_responses > 0).then(|| {
            100.0 * (self.nps_promoters as f64 - self.nps_detractors as f64)
                / self.nps_responses as f64
        })
    }
}

/// The rolling window, recomputed from the tracked conversations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub series: BTreeMap<SeriesKey, WindowSeries>,
    pub revenue: BTreeMap<AmountKey, f64>,
}

/// Everything the metrics module shows of the business, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub totals: Totals,
    pub window: Window,
    pub window_seconds: f64,
    pub channels: Vec<String>,
    pub currencies: Vec<String>,
    pub duration_bounds: Vec<f64>,
    pub amount_bounds: Vec<f64>,
    pub tracked_conversations: usize,
}

impl Snapshot {
    pub fn channel(&self, id: LabelId) -> &str {
        self.channels
            .get(usize::from(id))
            .map(String::as_str)
            .unwrap_or(crate::labels::OTHER)
    }

    pub fn currency(&self, id: LabelId) -> &str {
        self.currencies
            .get(usize::from(id))
            .map(String::as_str)
            .unwrap_or(crate::labels::OTHER)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrackedTransaction {
    key: Box<str>,
    currency: LabelId,
    amount: f64,
}

/// One conversation the ledger remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    closed_at: UnixMillis,
    series: SeriesKey,
    /// False for conversations closed before counting started: they only feed the window.
    counted: bool,
    duration: Option<f64>,
    csat: Option<u8>,
    nps: Option<u8>,
    transactions: Vec<TrackedTransaction>,
    /// Bit per [`InvalidReason`] already counted for this conversation.
    invalid_seen: u16,
}

/// A record that was skipped whole: remembered only to count its rejection once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Skipped {
    invalid_seen: u16,
    first_seen: UnixMillis,
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
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        *self != ApplyReport::default()
    }
}

fn reason_bit(reason: InvalidReason) -> u16 {
    let index = InvalidReason::ALL
        .iter()
        .position(|&r| r == reason)
        .unwrap_or(0);
    1 << index
}

/// What the state file keeps of a ledger: everything but the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerState {
    counting_start: UnixMillis,
    channels: Vec<String>,
    currencies: Vec<String>,
    duration_bounds: Vec<f64>,
    amount_bounds: Vec<f64>,
    entries: HashMap<Box<str>, Entry>,
    skipped: HashMap<Box<str>, Skipped>,
    totals: Totals,
}

/// [`LedgerState`] borrowed from a live ledger: the same encoding, without copying a
/// million entries on every save.
#[derive(Debug, Serialize)]
pub struct LedgerStateRef<'a> {
    counting_start: UnixMillis,
    channels: &'a [String],
    currencies: &'a [String],
    duration_bounds: &'a [f64],
    amount_bounds: &'a [f64],
    entries: &'a HashMap<Box<str>, Entry>,
    skipped: &'a HashMap<Box<str>, Skipped>,
    totals: &'a Totals,
}

impl LedgerState {
    /// Conversations closed at or after this are counted.
    pub fn counting_start(&self) -> UnixMillis {
        self.counting_start
    }

    pub fn tracked(&self) -> usize {
        self.entries.len()
    }
}

/// The de-duplication ledger and the business aggregates.
#[derive(Debug, Clone)]
pub struct Ledger {
    config: LedgerConfig,
    /// Conversations closed at or after this are counted; earlier ones only tracked.
    counting_start: UnixMillis,
    channels: CappedLabels,
    currencies: CappedLabels,
    entries: HashMap<Box<str>, Entry>,
    skipped: HashMap<Box<str>, Skipped>,
    totals: Totals,
}

impl Ledger {
    pub fn new(config: LedgerConfig, counting_start: UnixMillis) -> Self {
        Ledger {
            channels: CappedLabels::new(config.max_channels),
            currencies: CappedLabels::new(config.max_currencies),
            config,
            counting_start,
            entries: HashMap::new(),
            skipped: HashMap::new(),
            totals: Totals::default(),
        }
    }

    pub fn counting_start(&self) -> UnixMillis {
        self.counting_start
    }

    /// Everything worth keeping across a restart, borrowed for encoding.
    pub fn state(&self) -> LedgerStateRef<'_> {
        LedgerStateRef {
            counting_start: self.counting_start,
            channels: self.channels.names(),
            currencies: self.currencies.names(),
            duration_bounds: &self.config.duration_bounds,
            amount_bounds: &self.config.amount_bounds,
            entries: &self.entries,
            skipped: &self.skipped,
            totals: &self.totals,
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
        Ledger {
            channels: CappedLabels::from_names(config.max_channels, state.channels),
            currencies: CappedLabels::from_names(config.max_currencies, state.currencies),
            config,
            counting_start: state.counting_start,
            entries: state.entries,
            skipped: state.skipped,
            totals,
        }
    }

    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Fold one whole pass into the ledger. `now` dates records skipped without a close
    /// time, so that they can be forgotten in time too.
    pub fn apply(&mut self, pages: &[Page], now: UnixMillis) -> ApplyReport {
        let mut report = ApplyReport::default();
        for page in pages {
            for conversation in &page.conversations {
                self.apply_conversation(conversation, &mut report);
            }
            // After the conversations, so a field rejection finds its entry.
            for rejection in &page.rejections {
                self.apply_rejection(rejection, now, &mut report);
            }
        }
        report
    }

    fn apply_conversation(&mut self, c: &Conversation, report: &mut ApplyReport) {
        let entry = match self.entries.get_mut(c.id.as_str()) {
            Some(entry) => entry,
            None => {
                let series = SeriesKey {
                    project_id: c.project_id,
                    channel: self.channels.id(&normalise_channel(&c.channel)),
                };
                let counted = c.closed_at >= self.counting_start;
                report.new_conversations += 1;
                if counted {
                    report.counted_conversations += 1;
                    *self.totals.conversations.entry(series).or_default() += 1;
                    if let Some(d) = c.duration_seconds {
                        let bounds = &self.config.duration_bounds;
                        self.totals
                            .duration
                            .entry(series)
                            .or_insert_with(|| Histogram::new(bounds))
                            .observe(bounds, d);
                    }
                }
                self.entries.entry(c.id.as_str().into()).or_insert(Entry {
                    closed_at: c.closed_at,
                    series,
                    counted,
                    duration: c.duration_seconds,
                    csat: None,
                    nps: None,
                    transactions: Vec::new(),
                    invalid_seen: 0,
                })
            }
        };
        // A first sighting and a late one are the same case: what is new gets counted once.
        let series = entry.series;
        let counted = entry.counted;
        if entry.csat.is_none()
            && let Some(score) = c.csat
        {
            entry.csat = Some(score);
            if counted {
                self.totals
                    .csat
                    .entry(series)
                    .or_insert_with(|| Histogram::new(&CSAT_BOUNDS))
                    .observe(&CSAT_BOUNDS, f64::from(score));
                report.answers += 1;
            }
        }
        if entry.nps.is_none()
            && let Some(score) = c.nps
        {
            entry.nps = Some(score);
            if counted {
                self.totals
                    .nps
                    .entry(series)
                    .or_insert_with(|| Histogram::new(&NPS_BOUNDS))
                    .observe(&NPS_BOUNDS, f64::from(score));
                report.answers += 1;
            }
        }
        let had_transaction = !entry.transactions.is_empty();
        for t in &c.transactions {
            if entry.transactions.iter().any(|seen| *seen.key == *t.key) {
                continue;
            }
            let currency = self.currencies.id(&t.currency);
            entry.transactions.push(TrackedTransaction {
                key: t.key.as_str().into(),
                currency,
                amount: t.amount,
            });
            if counted {
                let bounds = &self.config.amount_bounds;
                self.totals
                    .transactions
                    .entry(AmountKey { series, currency })
                    .or_insert_with(|| Histogram::new(bounds))
                    .observe(bounds, t.amount);
                report.transactions += 1;
            }
        }
        if counted && !had_transaction && !entry.transactions.is_empty() {
            *self.totals.conversions.entry(series).or_default() += 1;
        }
    }

    fn apply_rejection(&mut self, r: &Rejection, now: UnixMillis, report: &mut ApplyReport) {
        let bit = reason_bit(r.reason);
        let first_time = match r.conversation_id.as_deref() {
            // Without an id the record cannot be recognised when read again.
            None => true,
            Some(id) => match self.entries.get_mut(id) {
                Some(entry) => {
                    let first = entry.invalid_seen & bit == 0;
                    entry.invalid_seen |= bit;
                    first
                }
                None => {
                    let skipped = self.skipped.entry(id.into()).or_insert(Skipped {
                        invalid_seen: 0,
                        first_seen: now,
                    });
                    let first = skipped.invalid_seen & bit == 0;
                    skipped.invalid_seen |= bit;
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
    /// before it). The poller picks a cutoff no later read can reach behind.
    pub fn prune(&mut self, cutoff: UnixMillis) {
        self.entries.retain(|_, e| e.closed_at >= cutoff);
        self.skipped.retain(|_, s| s.first_seen >= cutoff);
    }

    /// The window `[now - window, now)` and the totals, for the metrics.
    pub fn snapshot(&self, now: UnixMillis) -> Snapshot {
        Snapshot {
            totals: self.totals.clone(),
            window: self.window(now),
            window_seconds: self.config.window_ms as f64 / 1000.0,
            channels: self.channels.names().to_vec(),
            currencies: self.currencies.names().to_vec(),
            duration_bounds: self.config.duration_bounds.clone(),
            amount_bounds: self.config.amount_bounds.clone(),
            tracked_conversations: self.entries.len(),
        }
    }

    fn window(&self, now: UnixMillis) -> Window {
        let from = now.saturating_sub(self.config.window_ms);
        let mut window = Window::default();
        let mut durations: HashMap<SeriesKey, Vec<f64>> = HashMap::new();
        for e in self.entries.values() {
            if e.closed_at < from || e.closed_at >= now {
                continue;
            }
            let s = window.series.entry(e.series).or_default();
            s.conversations += 1;
            if let Some(d) = e.duration {
                durations.entry(e.series).or_default().push(d);
                s.duration_sum += d;
                s.duration_count += 1;
            }
            if let Some(score) = e.csat {
                s.csat_responses += 1;
                s.csat_sum += u64::from(score);
            }
            if let Some(score) = e.nps {
                s.nps_responses += 1;
                match score {
                    9..=10 => s.nps_promoters += 1,
                    0..=6 => s.nps_detractors += 1,
                    _ => {}
                }
            }
            if !e.transactions.is_empty() {
                s.conversions += 1;
            }
            for t in &e.transactions {
                *window
                    .revenue
                    .entry(AmountKey {
                        series: e.series,
                        currency: t.currency,
                    })
                    .or_default() += t.amount;
            }
        }
        for (key, mut values) in durations {
            values.sort_by(f64::total_cmp);
            if let Some(s) = window.series.get_mut(&key) {
                s.duration_quantiles = Some(WINDOW_QUANTILES.map(|q| nearest_rank(&values, q)));
            }
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
    use crate::iadvize::Transaction;

    const MIN: i64 = 60_000;
    const START: i64 = 1_700_000_000_000;

    fn config() -> LedgerConfig {
        LedgerConfig {
            window_ms: 60 * MIN,
            duration_bounds: vec![60.0, 300.0, 900.0],
            amount_bounds: vec![10.0, 100.0],
            max_channels: 32,
            max_currencies: 16,
        }
    }

    fn conv(id: &str, closed_at: i64) -> Conversation {
        Conversation {
            id: id.to_owned(),
            project_id: 1001,
            channel: "CHAT".to_owned(),
            closed_at,
            duration_seconds: Some(120.0),
            csat: None,
            nps: None,
            transactions: Vec::new(),
        }
    }

    fn tx(key: &str, amount: f64, currency: &str) -> Transaction {
        Transaction {
            key: key.to_owned(),
            amount,
            currency: currency.to_owned(),
        }
    }

    fn page(conversations: Vec<Conversation>) -> Page {
        Page {
            records: conversations.len(),
            conversations,
            ..Page::default()
        }
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
        let mut inside: Vec<Conversation> = (1..=10)
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

        // Two hours later nothing is in the window and every series disappears.
        let later = ledger.snapshot(now + 120 * MIN);
        assert!(later.window.series.is_empty());
        assert!(later.window.revenue.is_empty());
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
                conversation_id: Some("a".into()),
            },
            Rejection {
                reason: InvalidReason::MissingProject,
                conversation_id: Some("b".into()),
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

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        h.observe(&[1.0, 2.0], 1.0);
        h.observe(&[1.0, 2.0], 2.5);
        h.observe(&[1.0, 2.0], 0.5);
        assert_eq!(h.counts, vec![2, 0, 1]);
        assert_eq!(h.count, 3);
        assert_eq!(h.sum, 4.0);
    }
}
