//! Seeded traffic: conversations closing as a Poisson process, each with its own schedule
//! of survey answers and transactions. One random stream, consumed in close order, so the
//! data is a function of the seed and the start time alone, however often it is generated.
//!
//! Times are real Unix milliseconds. Delays are drawn in simulated time and divided by the
//! speed; durations are drawn in simulated time and served unscaled.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};

use super::record::{
    DateStyle, DurationStyle, ServedConversation, ServedConversions, ServedProject, ServedSurvey,
    ServedTag, ServedTransaction, format_date, format_duration,
};

/// What shapes the traffic. Validated by the caller (speed > 0, rates finite).
#[derive(Debug, Clone)]
pub(crate) struct TrafficParams {
    pub seed: u64,
    /// Real Unix ms at which the simulation starts.
    pub start_ms: i64,
    /// Simulated minutes per real second.
    pub speed: f64,
    /// Conversations closed per simulated hour.
    pub rate_per_hour: f64,
    pub projects: Vec<i32>,
    /// Real ms of already-closed conversations before the start.
    pub history_ms: i64,
    /// No conversation closes after this real Unix ms.
    pub end_ms: Option<i64>,
    /// Real ms between a close and the moment the conversation can be found.
    pub index_lag_ms: i64,
    pub bad_record_rate: f64,
    pub max_transaction_delay_hours: f64,
}

/// (channel, weight per mille, whether NPS and comments are asked).
const CHANNELS: [(&str, u32, bool); 10] = [
    ("CHAT", 520, true),
    ("CALL", 110, false),
    ("VIDEO", 50, false),
    ("WHATSAPP", 100, true),
    ("FACEBOOK_BUSINESS_ON_MESSENGER", 60, true),
    ("INSTAGRAM", 50, true),
    ("SMS", 45, true),
    ("MOBILE_APP", 45, true),
    ("GOOGLE_BUSINESS_MESSAGES", 10, true),
    ("NEW_CHANNEL", 10, false),
];

/// Tags as an account's agents type them: case variants of one name, accents, stray white
/// space, and one name longer than a label may be (64 characters).
const TAGS: [&str; 8] = [
    "Livraison",
    "livraison",
    "Réclamation",
    "  Retour   produit ",
    "VIP",
    "sales",
    "support",
    "Demande de remboursement suite à une commande livrée incomplète ou endommagée",
];

/// Channels iAdvize closes only after 7 days without a message (offsite messaging).
const OFFSITE: [&str; 6] = [
    "WHATSAPP",
    "FACEBOOK_BUSINESS_ON_MESSENGER",
    "INSTAGRAM",
    "SMS",
    "MOBILE_APP",
    "GOOGLE_BUSINESS_MESSAGES",
];

/// A simulated week: how long an offsite conversation stays open after its last message.
const OFFSITE_INACTIVITY_S: f64 = 7.0 * 86_400.0;

const COMMENTS: [&str; 6] = [
    "Great help, thanks!",
    "Quick and clear answer.",
    "Could have been faster.",
    "My problem is not solved.",
    "Very friendly advisor",
    "ok",
];

/// The third project has no name (the API's `name` is nullable); the second has a quote,
/// which must survive the label's escaping.
const PROJECT_NAMES: [Option<&str>; 5] = [
    Some("Online shop"),
    Some("Customer care \"EU\""),
    None,
    Some("B2B"),
    Some("Marketplace"),
];

/// CSAT 1..5, weights in percent.
const CSAT_WEIGHTS: [(i32, u32); 5] = [(1, 7), (2, 6), (3, 12), (4, 30), (5, 45)];

/// NPS 0..10, weights in percent.
const NPS_WEIGHTS: [(i32, u32); 11] = [
    (0, 3),
    (1, 2),
    (2, 2),
    (3, 3),
    (4, 3),
    (5, 5),
    (6, 7),
    (7, 10),
    (8, 15),
    (9, 22),
    (10, 28),
];

const CURRENCIES: [(&str, u32); 3] = [("EUR", 80), ("GBP", 12), ("USD", 8)];

const OFFSETS_MINUTES: [i32; 4] = [120, 60, -300, 330];

/// The one defect a bad record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defect {
    MissingProject,
    BadClosedAt,
    BadCsat,
    BadNps,
    BadDuration,
    BadCreatedAt,
    NegativeAmount,
    BadCurrency,
}

const DEFECTS: [Defect; 8] = [
    Defect::MissingProject,
    Defect::BadClosedAt,
    Defect::BadCsat,
    Defect::BadNps,
    Defect::BadDuration,
    Defect::BadCreatedAt,
    Defect::NegativeAmount,
    Defect::BadCurrency,
];

/// A value that becomes visible at a given real time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timed<T> {
    pub value: T,
    pub visible_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenTransaction {
    pub id: Option<[u8; 16]>,
    pub external_id: String,
    pub amount: f64,
    pub currency: &'static str,
    pub visitor_ms: i64,
    pub received_ms: i64,
    pub date_style: DateStyle,
    pub visible_ms: i64,
}

/// One generated conversation, kept compact: strings are written when served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenConversation {
    /// Position in the generated sequence, unique.
    pub seq: u64,
    /// Keyed hash of the id: the page order.
    pub order_key: u64,
    pub id: [u8; 16],
    /// The close time the interval filter uses (also what `closedAt` says when parseable).
    pub close_ms: i64,
    /// When the conversation can be found.
    pub indexed_ms: i64,
    pub created_ms: i64,
    pub duration_ms: i64,
    pub project: Option<i32>,
    pub project_index: usize,
    pub channel: &'static str,
    /// Bit i set: tag `TAGS[i]`.
    pub tags: u8,
    /// Tags an agent adds after the close (bits as in `tags`), and when.
    pub late_tags: Option<Timed<u8>>,
    pub closed_style: DateStyle,
    pub created_style: DateStyle,
    pub duration_style: DurationStyle,
    pub csat: Option<Timed<i32>>,
    pub nps: Option<Timed<i32>>,
    pub comment: Option<Timed<usize>>,
    pub transactions: Vec<GenTransaction>,
    /// With no visible transaction, serve `conversions: null` rather than `{transactions: []}`.
    pub null_conversions_when_empty: bool,
    pub defect: Option<Defect>,
}

impl GenConversation {
    /// The last moment anything about this conversation changes.
    pub fn last_change_ms(&self) -> i64 {
        let answers = [
            self.csat.map(|a| a.visible_ms),
            self.nps.map(|a| a.visible_ms),
            self.comment.map(|a| a.visible_ms),
        ];
        let last_answer = answers.into_iter().flatten().max().unwrap_or(i64::MIN);
        let last_transaction = self
            .transactions
            .iter()
            .map(|t| t.visible_ms)
            .max()
            .unwrap_or(i64::MIN);
        let last_tag = self.late_tags.map_or(i64::MIN, |t| t.visible_ms);
        self.indexed_ms
            .max(last_answer)
            .max(last_transaction)
            .max(last_tag)
    }

    pub fn is_indexed(&self, now_ms: i64) -> bool {
        self.indexed_ms <= now_ms
    }

    pub fn visible_transactions(&self, now_ms: i64) -> impl Iterator<Item = &GenTransaction> {
        self.transactions
            .iter()
            .filter(move |t| t.visible_ms <= now_ms)
    }

    /// The conversation as served at `now_ms`. `with_transaction_id`: whether the schema
    /// has `Transaction.id` (when it does not, no client can read it).
    pub fn served(&self, now_ms: i64, with_transaction_id: bool) -> ServedConversation {
        let visible = |a: Option<Timed<i32>>| a.filter(|a| a.visible_ms <= now_ms).map(|a| a.value);
        let csat = visible(self.csat);
        let nps = visible(self.nps);
        let comment = self
            .comment
            .filter(|c| c.visible_ms <= now_ms)
            .and_then(|c| COMMENTS.get(c.value))
            .map(|c| c.to_string());
        let satisfaction_survey = if csat.is_some() || nps.is_some() || comment.is_some() {
            Some(ServedSurvey {
                customer_satisfaction: csat,
                net_promoter_score: nps,
                comment,
            })
        } else {
            None
        };
        let transactions: Vec<ServedTransaction> = self
            .visible_transactions(now_ms)
            .map(|t| ServedTransaction {
                id: t.id.filter(|_| with_transaction_id).map(uuid_string),
                amount: t.amount,
                currency: t.currency.to_string(),
                external_conversion_id: t.external_id.clone(),
                received_at: format_date(t.received_ms, t.date_style),
                visitor_date: format_date(t.visitor_ms, t.date_style),
            })
            .collect();
        let conversions = if transactions.is_empty() && self.null_conversions_when_empty {
            None
        } else {
            Some(ServedConversions { transactions })
        };
        ServedConversation {
            id: uuid_string(self.id),
            created_at: format_date(self.created_ms, self.created_style),
            closed_at: Some(format_date(self.close_ms, self.closed_style)),
            channel: self.channel.to_string(),
            duration: format_duration(self.duration_ms, self.duration_style),
            project: self.project.map(|id| ServedProject {
                id,
                name: project_name(self.project_index, id),
            }),
            tags: TAGS
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    let late = self
                        .late_tags
                        .filter(|t| t.visible_ms <= now_ms)
                        .map_or(0, |t| t.value);
                    (self.tags | late) & (1 << i) != 0
                })
                .map(|(i, name)| ServedTag {
                    id: (i + 1).to_string(),
                    name: name.to_string(),
                })
                .collect(),
            satisfaction_survey,
            conversions,
        }
    }
}

fn project_name(index: usize, id: i32) -> Option<String> {
    match PROJECT_NAMES.get(index) {
        Some(name) => name.map(str::to_string),
        None => Some(format!("Project {id}")),
    }
}

pub(crate) fn uuid_string(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A 64-bit mix (splitmix64's finaliser): good spread, no allocation, stable forever.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A keyed hash of `bytes`; the page order, so that it says nothing about close times.
pub(crate) fn keyed_hash(key: u64, bytes: &[u8]) -> u64 {
    let mut h = mix64(key ^ 0x9e37_79b9_7f4a_7c15);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(word)).wrapping_add(chunk.len() as u64);
    }
    h
}

/// Picks from `(item, weight)` pairs with one uniform draw.
fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> Option<T> {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut roll = rng.random_range(0..total);
    for &(item, weight) in table {
        if roll < weight {
            return Some(item);
        }
        roll -= weight;
    }
    None
}

/// The generator and everything it has generated.
pub(crate) struct Traffic {
    params: TrafficParams,
    rng: StdRng,
    /// (index into `CHANNELS`, weight).
    channel_weights: Vec<(usize, u32)>,
    /// (index into `params.projects`, weight): the first project gets the most traffic.
    project_weights: Vec<(usize, u32)>,
    /// Real ms of the next close, before rounding to the chosen date style.
    next_close: f64,
    next_seq: u64,
    /// Real ms per simulated minute.
    ms_per_sim_minute: f64,
    gap: Option<Exp<f64>>,
    conversations: Vec<GenConversation>,
}

impl Traffic {
    pub fn new(params: TrafficParams) -> Self {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let per_real_ms = params.rate_per_hour * params.speed / 60.0 / 1000.0;
        let gap = if per_real_ms.is_finite() && per_real_ms > 0.0 {
            Exp::new(per_real_ms).ok()
        } else {
            None
        };
        let first = (params.start_ms - params.history_ms) as f64;
        let next_close = match &gap {
            Some(gap) => first + gap.sample(&mut rng),
            None => f64::INFINITY,
        };
        let ms_per_sim_minute = if params.speed > 0.0 {
            1000.0 / params.speed
        } else {
            f64::INFINITY
        };
        let channel_weights = CHANNELS
            .iter()
            .enumerate()
            .map(|(i, (_, weight, _))| (i, *weight))
            .collect();
        let count = params.projects.len();
        let project_weights = (0..count)
            .map(|i| (i, u32::try_from(count - i).unwrap_or(1)))
            .collect();
        Traffic {
            params,
            rng,
            channel_weights,
            project_weights,
            next_close,
            next_seq: 0,
            ms_per_sim_minute,
            gap,
            conversations: Vec::new(),
        }
    }

    pub fn params(&self) -> &TrafficParams {
        &self.params
    }

    /// Everything generated so far, in generation order: position = `seq`. That is close
    /// order to within a second (a close rounded down to whole seconds can precede its
    /// predecessor's).
    pub fn conversations(&self) -> &[GenConversation] {
        &self.conversations
    }

    /// Whether a call to [`Traffic::generate_until`] would add anything.
    pub fn is_behind(&self, now_ms: i64) -> bool {
        self.next_close <= now_ms as f64 && !self.past_end()
    }

    fn past_end(&self) -> bool {
        match self.params.end_ms {
            Some(end) => self.next_close > end as f64,
            None => false,
        }
    }

    /// Generates every conversation closing up to `now_ms`. `csat_bias` (0..4) lowers the
    /// CSAT answers of the conversations generated now.
    pub fn generate_until(&mut self, now_ms: i64, csat_bias: f64) {
        while self.is_behind(now_ms) {
            let conversation = self.next(csat_bias);
            self.conversations.push(conversation);
        }
    }

    /// When nothing changes any more: the last visibility time of every conversation up to
    /// the end of the traffic, found by running a copy of the generator. `None` for endless
    /// traffic.
    pub fn complete_at_ms(&self) -> Option<i64> {
        let end = self.params.end_ms?;
        let mut copy = Traffic {
            params: self.params.clone(),
            rng: self.rng.clone(),
            channel_weights: self.channel_weights.clone(),
            project_weights: self.project_weights.clone(),
            next_close: self.next_close,
            next_seq: self.next_seq,
            ms_per_sim_minute: self.ms_per_sim_minute,
            gap: self.gap,
            conversations: Vec::new(),
        };
        let mut last = self
            .conversations
            .iter()
            .map(GenConversation::last_change_ms)
            .max()
            .unwrap_or(i64::MIN);
        while copy.is_behind(end) {
            last = last.max(copy.next(0.0).last_change_ms());
        }
        Some(if last == i64::MIN { end } else { last.max(end) })
    }

    fn next(&mut self, csat_bias: f64) -> GenConversation {
        let seq = self.next_seq;
        self.next_seq += 1;
        let raw_close = self.next_close;
        self.next_close = match &self.gap {
            Some(gap) => raw_close + gap.sample(&mut self.rng),
            None => f64::INFINITY,
        };

        let rng = &mut self.rng;
        let id: [u8; 16] = rng.random();
        let channel_index = pick(rng, &self.channel_weights).unwrap_or(0);
        let (channel, _, chat_like) = CHANNELS[channel_index];
        let project_index = pick(rng, &self.project_weights).unwrap_or(0);
        let project = self.params.projects.get(project_index).copied();
        let tags = match rng.random_range(0..10u32) {
            0..=3 => 0,
            4..=7 => 1 << rng.random_range(0..TAGS.len()),
            _ => (1 << rng.random_range(0..TAGS.len())) | (1 << rng.random_range(0..TAGS.len())),
        };

        // Median 8 simulated minutes; served unscaled. Most offsite conversations stay
        // open a week after their last message, as iAdvize closes them; a few are closed
        // by hand or by the visitor first.
        let active_s = LogNormal::new(480f64.ln(), 0.8)
            .map(|d| d.sample(rng))
            .unwrap_or(480.0)
            .clamp(5.0, 4.0 * 3600.0);
        let idle_s = if OFFSITE.contains(&channel) && rng.random_bool(0.7) {
            // The last message can come days after the first.
            OFFSITE_INACTIVITY_S + exp_sample(rng, 2.0 * 86_400.0).min(7.0 * 86_400.0)
        } else {
            0.0
        };
        let duration_s = active_s + idle_s;
        let duration_style = pick(
            rng,
            &[
                (DurationStyle::IsoSeconds, 35),
                (DurationStyle::IsoMinutes, 25),
                (DurationStyle::IsoHours, 15),
                (DurationStyle::Bare, 15),
                (DurationStyle::Null, 10),
            ],
        )
        .unwrap_or(DurationStyle::IsoSeconds);
        let resolution = duration_style.resolution_ms();
        let duration_ms = ((duration_s * 1000.0 / resolution as f64).round() as i64) * resolution;

        let offset = OFFSETS_MINUTES[rng.random_range(0..OFFSETS_MINUTES.len())];
        let closed_style = pick(
            rng,
            &[
                (DateStyle::Utc, 40),
                (DateStyle::UtcMillis, 25),
                (DateStyle::Offset(offset), 20),
                (DateStyle::OffsetMicros(offset), 15),
            ],
        )
        .unwrap_or(DateStyle::Utc);
        let mut close_ms = raw_close.floor() as i64;
        if !closed_style.has_fraction() {
            close_ms = close_ms.div_euclid(1000) * 1000;
        }
        let created_ms = close_ms - duration_ms;
        let mut created_style = pick(
            rng,
            &[
                (DateStyle::Utc, 50),
                (DateStyle::UtcMillis, 30),
                (DateStyle::Offset(offset), 20),
            ],
        )
        .unwrap_or(DateStyle::Utc);
        if !created_style.has_fraction() && created_ms.rem_euclid(1000) != 0 {
            // Keep createdAt exact, so that closedAt - createdAt is the duration.
            created_style = DateStyle::UtcMillis;
        }
        let indexed_ms = close_ms.saturating_add(self.params.index_lag_ms);

        // Surveys: answered question by question, after the close; many never are.
        let mut csat = None;
        let mut nps = None;
        let mut comment = None;
        if rng.random_bool(0.55) {
            let csat_minutes = 1.0 + exp_sample(rng, 4.0);
            let raw = pick(rng, &CSAT_WEIGHTS).unwrap_or(5);
            let bias = if csat_bias.is_finite() {
                csat_bias.clamp(0.0, 4.0)
            } else {
                0.0
            };
            // The draw is made whatever the bias, so the bias never shifts the stream.
            let extra = rng.random::<f64>() < bias.fract();
            let shift = bias.trunc() as i32 + i32::from(extra);
            let csat_at = after(self.ms_per_sim_minute, close_ms, csat_minutes);
            csat = Some(Timed {
                value: (raw - shift).max(1),
                visible_ms: csat_at,
            });
            if chat_like && rng.random_bool(0.7) {
                let nps_minutes = csat_minutes + 1.0 + exp_sample(rng, 3.0);
                nps = Some(Timed {
                    value: pick(rng, &NPS_WEIGHTS).unwrap_or(10),
                    visible_ms: after(self.ms_per_sim_minute, close_ms, nps_minutes),
                });
                if rng.random_bool(0.4) {
                    let comment_minutes = nps_minutes + 1.0 + exp_sample(rng, 2.0);
                    comment = Some(Timed {
                        value: rng.random_range(0..COMMENTS.len()),
                        visible_ms: after(self.ms_per_sim_minute, close_ms, comment_minutes),
                    });
                }
            }
        }

        // One tagged conversation in four gains a tag after the close.
        let late_tags = (rng.random_bool(0.25)).then(|| {
            let minutes = 2.0 + exp_sample(rng, 20.0);
            Timed {
                value: 1 << rng.random_range(0..TAGS.len()),
                visible_ms: after(self.ms_per_sim_minute, close_ms, minutes),
            }
        });

        let mut transactions = Vec::new();
        if rng.random_bool(0.12) {
            let count = if rng.random_bool(0.15) { 2 } else { 1 };
            for n in 0..count {
                transactions.push(self.transaction(seq, n, close_ms, indexed_ms));
            }
        }
        let rng = &mut self.rng;
        let null_conversions_when_empty = rng.random_bool(0.5);

        let is_bad = rng.random::<f64>() < self.params.bad_record_rate;
        let defect_kind = DEFECTS[rng.random_range(0..DEFECTS.len())];
        let defect_delay_minutes = 1.0 + exp_sample(rng, 5.0);
        let garbage = rng.random_range(0..3u8);

        let mut conversation = GenConversation {
            seq,
            order_key: keyed_hash(self.params.seed, &id),
            id,
            close_ms,
            indexed_ms,
            created_ms,
            duration_ms,
            project,
            project_index,
            channel,
            tags,
            late_tags,
            closed_style,
            created_style,
            duration_style,
            csat,
            nps,
            comment,
            transactions,
            null_conversions_when_empty,
            defect: None,
        };
        if is_bad {
            let at = after(self.ms_per_sim_minute, close_ms, defect_delay_minutes);
            self.apply_defect(&mut conversation, defect_kind, at, garbage);
        }
        conversation
    }

    fn transaction(
        &mut self,
        seq: u64,
        n: usize,
        close_ms: i64,
        indexed_ms: i64,
    ) -> GenTransaction {
        let max_hours = if self.params.max_transaction_delay_hours.is_finite() {
            self.params.max_transaction_delay_hours.max(0.0)
        } else {
            0.0
        };
        let rng = &mut self.rng;
        let soon = rng.random_bool(0.85);
        let u: f64 = rng.random();
        let delay_hours = if soon || max_hours <= 2.0 {
            u * max_hours.min(2.0)
        } else {
            2.0 + u * (max_hours - 2.0)
        };
        let amount = LogNormal::new(60f64.ln(), 0.9)
            .map(|d| d.sample(rng))
            .unwrap_or(60.0);
        let amount = ((amount * 100.0).round() / 100.0).max(1.0);
        let currency = pick(rng, &CURRENCIES).unwrap_or("EUR");
        let id_bytes: [u8; 16] = rng.random();
        let id = if rng.random_bool(0.1) {
            None
        } else {
            Some(id_bytes)
        };
        let received_lag_minutes = rng.random::<f64>() * 0.5;
        let date_style = pick(
            rng,
            &[
                (DateStyle::Utc, 40),
                (DateStyle::UtcMillis, 40),
                (DateStyle::Offset(120), 20),
            ],
        )
        .unwrap_or(DateStyle::Utc);
        let round = |ms: i64| {
            if date_style.has_fraction() {
                ms
            } else {
                ms.div_euclid(1000) * 1000
            }
        };
        let visitor_ms = round(after(self.ms_per_sim_minute, close_ms, delay_hours * 60.0));
        let received_ms = round(after(
            self.ms_per_sim_minute,
            visitor_ms,
            received_lag_minutes,
        ));
        GenTransaction {
            id,
            external_id: format!("ORD-{seq:07}-{n}"),
            amount,
            currency,
            visitor_ms,
            received_ms,
            date_style,
            visible_ms: received_ms.max(indexed_ms),
        }
    }

    fn apply_defect(&mut self, c: &mut GenConversation, defect: Defect, at_ms: i64, garbage: u8) {
        c.defect = Some(defect);
        let visible_ms = at_ms.max(c.indexed_ms);
        match defect {
            Defect::MissingProject => c.project = None,
            Defect::BadClosedAt => c.closed_style = DateStyle::Garbage(garbage),
            Defect::BadCsat => {
                let value = if garbage.is_multiple_of(2) { 0 } else { 7 };
                let visible_ms = c.csat.map_or(visible_ms, |a| a.visible_ms);
                c.csat = Some(Timed { value, visible_ms });
            }
            Defect::BadNps => {
                let visible_ms = c.nps.map_or(visible_ms, |a| a.visible_ms);
                c.nps = Some(Timed {
                    value: 11,
                    visible_ms,
                });
            }
            Defect::BadDuration => c.duration_style = DurationStyle::Garbage,
            Defect::BadCreatedAt => {
                c.created_style = DateStyle::Garbage(garbage);
                c.duration_style = DurationStyle::Null;
            }
            Defect::NegativeAmount | Defect::BadCurrency => {
                let n = c.transactions.len();
                let mut t = self.transaction(c.seq, n, c.close_ms, c.indexed_ms);
                if defect == Defect::NegativeAmount {
                    t.amount = -t.amount;
                } else {
                    t.currency = "EURO";
                }
                c.transactions.push(t);
            }
        }
    }
}

/// Real ms `minutes` simulated minutes after `from_ms`.
fn after(ms_per_sim_minute: f64, from_ms: i64, minutes: f64) -> i64 {
    from_ms.saturating_add((minutes * ms_per_sim_minute).round() as i64)
}

/// An exponential draw with the given mean.
fn exp_sample(rng: &mut StdRng, mean: f64) -> f64 {
    Exp::new(1.0 / mean).map(|e| e.sample(rng)).unwrap_or(mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    // 2024-05-01T12:00:00Z
    const START: i64 = 1_714_564_800_000;
    const MINUTE: i64 = 60_000;

    fn params() -> TrafficParams {
        TrafficParams {
            seed: 7,
            start_ms: START,
            speed: 1.0,
            rate_per_hour: 120.0, // 2 a real second at speed 1
            projects: vec![1001, 1002, 1003],
            history_ms: 10 * MINUTE,
            end_ms: None,
            index_lag_ms: 0,
            bad_record_rate: 0.0,
            max_transaction_delay_hours: 6.0,
        }
    }

    #[test]
    fn the_same_seed_and_start_give_the_same_data_however_it_is_generated() {
        let mut at_once = Traffic::new(params());
        at_once.generate_until(START + 5 * MINUTE, 0.0);
        let mut in_steps = Traffic::new(params());
        let mut t = START - 20 * MINUTE;
        while t <= START + 5 * MINUTE {
            in_steps.generate_until(t, 0.0);
            t += 1_234;
        }
        in_steps.generate_until(START + 5 * MINUTE, 0.0);
        assert!(at_once.conversations().len() > 100);
        assert_eq!(at_once.conversations(), in_steps.conversations());

        let mut other_seed = Traffic::new(TrafficParams {
            seed: 8,
            ..params()
        });
        other_seed.generate_until(START + 5 * MINUTE, 0.0);
        assert_ne!(
            at_once.conversations()[0].id,
            other_seed.conversations()[0].id
        );
    }

    #[test]
    fn history_is_there_at_the_start_and_nothing_later() {
        let mut traffic = Traffic::new(params());
        traffic.generate_until(START, 0.0);
        let all = traffic.conversations();
        // 2 a second over 600 s: 1200 expected, sd ~35.
        assert!((1050..=1350).contains(&all.len()), "{}", all.len());
        assert!(all.iter().all(|c| c.close_ms <= START));
        assert!(all.iter().all(|c| c.close_ms >= START - 10 * MINUTE - 1000));
        assert!(all.windows(2).all(|w| w[0].close_ms < w[1].close_ms + 1000));
        assert!(all.iter().enumerate().all(|(i, c)| c.seq == i as u64));
    }

    #[test]
    fn the_mix_of_channels_projects_and_durations_is_roughly_right() {
        let mut traffic = Traffic::new(TrafficParams {
            history_ms: 40 * MINUTE,
            ..params()
        });
        traffic.generate_until(START, 0.0);
        let all = traffic.conversations();
        let n = all.len() as f64; // ~4800
        let mut channels: HashMap<&str, usize> = HashMap::new();
        let mut projects: HashMap<Option<i32>, usize> = HashMap::new();
        for c in all {
            *channels.entry(c.channel).or_default() += 1;
            *projects.entry(c.project).or_default() += 1;
        }
        let share = |ch: &str| channels.get(ch).copied().unwrap_or(0) as f64 / n;
        assert!((0.46..=0.58).contains(&share("CHAT")), "{}", share("CHAT"));
        assert!((0.08..=0.14).contains(&share("CALL")), "{}", share("CALL"));
        for (channel, _, _) in CHANNELS {
            assert!(share(channel) > 0.0, "{channel} never generated");
        }
        // Weights 3:2:1.
        let first = projects.get(&Some(1001)).copied().unwrap_or(0) as f64 / n;
        assert!((0.44..=0.56).contains(&first), "{first}");
        let mut durations: Vec<i64> = all
            .iter()
            .filter(|c| !OFFSITE.contains(&c.channel))
            .map(|c| c.duration_ms)
            .collect();
        durations.sort_unstable();
        let median = durations[durations.len() / 2];
        assert!((420_000..=540_000).contains(&median), "{median}");
        // Offsite conversations: most are closed after a week without a message.
        let offsite: Vec<i64> = all
            .iter()
            .filter(|c| OFFSITE.contains(&c.channel))
            .map(|c| c.duration_ms)
            .collect();
        let week = 7 * 86_400_000;
        let past_a_week = offsite.iter().filter(|d| **d >= week).count() as f64;
        let share_past = past_a_week / offsite.len() as f64;
        assert!((0.62..=0.78).contains(&share_past), "{share_past}");
        assert!(offsite.iter().all(|d| *d < 15 * 86_400_000));
        assert!(
            all.iter()
                .all(|c| c.created_ms == c.close_ms - c.duration_ms)
        );
    }

    #[test]
    fn every_duration_and_date_style_appears() {
        let mut traffic = Traffic::new(params());
        traffic.generate_until(START, 0.0);
        let served: Vec<ServedConversation> = traffic
            .conversations()
            .iter()
            .map(|c| c.served(START + 48 * 60 * MINUTE, true))
            .collect();
        let durations: Vec<Option<&str>> = served.iter().map(|c| c.duration.as_deref()).collect();
        assert!(durations.contains(&None));
        assert!(
            durations
                .iter()
                .flatten()
                .any(|d| d.starts_with("PT") && d.contains('M'))
        );
        assert!(durations.iter().flatten().any(|d| d.contains('.')));
        assert!(durations.iter().flatten().any(|d| d.parse::<u64>().is_ok()));
        let closed: Vec<&str> = served
            .iter()
            .filter_map(|c| c.closed_at.as_deref())
            .collect();
        assert!(closed.iter().any(|d| d.ends_with("+02:00")));
        assert!(closed.iter().any(|d| d.ends_with('Z') && d.contains('.')));
        assert!(closed.iter().any(|d| d.ends_with('Z') && !d.contains('.')));
        let transactions: Vec<&ServedTransaction> = served
            .iter()
            .filter_map(|c| c.conversions.as_ref())
            .flat_map(|c| c.transactions.iter())
            .collect();
        assert!(transactions.iter().any(|t| t.id.is_none()));
        assert!(transactions.iter().any(|t| t.id.is_some()));
        assert!(
            transactions
                .iter()
                .any(|t| t.currency == "GBP" || t.currency == "USD")
        );
        assert!(served.iter().any(|c| c.conversions.is_none()));
        assert!(served.iter().any(|c| {
            c.conversions
                .as_ref()
                .is_some_and(|c| c.transactions.is_empty())
        }));
    }

    #[test]
    fn some_tags_are_added_after_the_close() {
        let mut traffic = Traffic::new(params());
        traffic.generate_until(START, 0.0);
        let c = traffic
            .conversations()
            .iter()
            .find(|c| c.late_tags.is_some_and(|t| c.tags & t.value == 0))
            .expect("a conversation that gains a new tag after its close");
        let late = c.late_tags.unwrap();
        assert!(late.visible_ms > c.close_ms);
        let names = |at: i64| -> Vec<String> {
            c.served(at, true)
                .tags
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        let before = names(late.visible_ms - 1);
        let after = names(late.visible_ms);
        assert_eq!(after.len(), before.len() + 1, "{before:?} then {after:?}");
        assert!(before.iter().all(|t| after.contains(t)));
        assert!(c.last_change_ms() >= late.visible_ms);
    }

    #[test]
    fn answers_and_transactions_appear_one_by_one() {
        let mut traffic = Traffic::new(TrafficParams {
            index_lag_ms: 3_000,
            ..params()
        });
        traffic.generate_until(START, 0.0);
        let c = traffic
            .conversations()
            .iter()
            .find(|c| c.csat.is_some() && c.nps.is_some() && !c.transactions.is_empty())
            .expect("a conversation with CSAT, NPS and a transaction");
        let (csat, nps) = (c.csat.unwrap(), c.nps.unwrap());
        assert_eq!(c.indexed_ms, c.close_ms + 3_000);
        assert!(!c.is_indexed(c.indexed_ms - 1));
        assert!(c.is_indexed(c.indexed_ms));
        // At speed 1 a simulated minute is a real second: CSAT at least 1 s after close,
        // NPS at least 1 s after CSAT.
        assert!(csat.visible_ms >= c.close_ms + 1_000);
        assert!(nps.visible_ms >= csat.visible_ms + 1_000);

        let before = c.served(csat.visible_ms - 1, true);
        assert_eq!(before.satisfaction_survey, None);
        let after_csat = c.served(csat.visible_ms, true);
        let survey = after_csat.satisfaction_survey.unwrap();
        assert_eq!(survey.customer_satisfaction, Some(csat.value));
        assert_eq!(survey.net_promoter_score, None);
        let after_nps = c.served(nps.visible_ms, true).satisfaction_survey.unwrap();
        assert_eq!(after_nps.net_promoter_score, Some(nps.value));

        let first_tx = c.transactions.iter().map(|t| t.visible_ms).min().unwrap();
        let served_before = c.served(first_tx - 1, true);
        assert!(
            served_before
                .conversions
                .is_none_or(|c| c.transactions.is_empty())
        );
        let served_after = c.served(first_tx, true).conversions.unwrap();
        assert!(!served_after.transactions.is_empty());
        // Transactions come within max_transaction_delay_hours (6 sim h = 6 real min).
        assert!(
            c.transactions
                .iter()
                .all(|t| t.visitor_ms <= c.close_ms + 6 * MINUTE)
        );
    }

    #[test]
    fn traffic_stops_at_its_end_and_complete_at_is_the_last_change() {
        let end = START + 2 * MINUTE;
        let mut traffic = Traffic::new(TrafficParams {
            end_ms: Some(end),
            index_lag_ms: 500,
            ..params()
        });
        traffic.generate_until(START, 0.0);
        let complete_at = traffic.complete_at_ms().unwrap();
        traffic.generate_until(START + 600 * MINUTE, 0.0);
        let all = traffic.conversations();
        assert!(all.iter().all(|c| c.close_ms <= end));
        assert!(all.iter().any(|c| c.close_ms > START));
        let last = all
            .iter()
            .map(GenConversation::last_change_ms)
            .max()
            .unwrap();
        assert_eq!(complete_at, last);
        assert!(complete_at > end);
        let endless = Traffic::new(params());
        assert_eq!(endless.complete_at_ms(), None);
    }

    #[test]
    fn every_bad_record_has_exactly_one_defect_and_all_kinds_appear() {
        let mut traffic = Traffic::new(TrafficParams {
            bad_record_rate: 1.0,
            ..params()
        });
        traffic.generate_until(START, 0.0);
        let kinds: BTreeSet<String> = traffic
            .conversations()
            .iter()
            .map(|c| format!("{:?}", c.defect.expect("a defect")))
            .collect();
        assert_eq!(kinds.len(), DEFECTS.len());
        for c in traffic.conversations() {
            match c.defect {
                Some(Defect::MissingProject) => assert_eq!(c.project, None),
                Some(Defect::BadCsat) => {
                    assert!(matches!(c.csat.map(|a| a.value), Some(0 | 7)))
                }
                Some(Defect::BadNps) => assert_eq!(c.nps.map(|a| a.value), Some(11)),
                Some(Defect::NegativeAmount) => {
                    assert!(c.transactions.iter().any(|t| t.amount < 0.0))
                }
                Some(Defect::BadCurrency) => {
                    assert!(c.transactions.iter().any(|t| t.currency == "EURO"))
                }
                Some(Defect::BadCreatedAt) => {
                    assert_eq!(c.duration_style, DurationStyle::Null);
                    assert!(matches!(c.created_style, DateStyle::Garbage(_)));
                }
                _ => {}
            }
        }
        let mut clean = Traffic::new(params());
        clean.generate_until(START, 0.0);
        assert!(clean.conversations().iter().all(|c| c.defect.is_none()));
    }

    #[test]
    fn csat_bias_lowers_answers_without_changing_anything_else() {
        let mut plain = Traffic::new(params());
        plain.generate_until(START, 0.0);
        let mut biased = Traffic::new(params());
        biased.generate_until(START, 4.0);
        assert_eq!(plain.conversations().len(), biased.conversations().len());
        for (p, b) in plain.conversations().iter().zip(biased.conversations()) {
            assert_eq!(p.id, b.id);
            assert_eq!(p.csat.is_some(), b.csat.is_some());
            if let Some(answer) = b.csat {
                // 5 - 4 = 1, and nothing goes below 1.
                assert_eq!(answer.value, 1);
            }
        }
        assert!(
            plain
                .conversations()
                .iter()
                .any(|c| c.csat.is_some_and(|a| a.value > 1))
        );
    }
}
