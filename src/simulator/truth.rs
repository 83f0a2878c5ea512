//! The ground truth: what an exact exporter must show for a set of served conversations.
//!
//! The rules are the exporter's (METRICS.md and the simulator brief), written here again
//! from scratch so that a test can catch the exporter getting them wrong.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::record::ServedConversation;

/// One conversation as a client reads it, by the same rules as the truth: for the tests
/// that follow an exemplar back to its conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFacts {
    pub project_id: String,
    /// The `channel` label.
    pub channel: String,
    /// The stated duration, else `closedAt - createdAt`; `None` when neither is valid.
    pub duration_seconds: Option<f64>,
    pub csat: Option<i32>,
    pub nps: Option<i32>,
    /// Amounts of the transactions, with their currency upper-cased.
    pub transactions: Vec<(f64, String)>,
}

impl ConversationFacts {
    pub(crate) fn of(c: &ServedConversation) -> Option<ConversationFacts> {
        let project = c.project.as_ref()?;
        let closed = c.closed_at.as_deref().and_then(parse_date)?;
        let created = parse_date(&c.created_at);
        let stated = c.duration.as_deref().map(parse_duration);
        let duration = match stated {
            Some(Some(seconds)) if seconds >= 0.0 => Some(seconds),
            _ => created.map(|created| closed - created),
        }
        .filter(|s| *s >= 0.0);
        let survey = c.satisfaction_survey.as_ref();
        Some(ConversationFacts {
            project_id: project.id.to_string(),
            channel: channel_label(&c.channel),
            duration_seconds: duration,
            csat: survey.and_then(|s| s.customer_satisfaction),
            nps: survey.and_then(|s| s.net_promoter_score),
            transactions: c
                .conversions
                .iter()
                .flat_map(|c| c.transactions.iter())
                .map(|t| (t.amount, t.currency.to_ascii_uppercase()))
                .collect(),
        })
    }
}

/// What an exact exporter must show. See `GET /_sim/truth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Unix seconds at which the truth was taken.
    pub as_of: f64,
    /// Unix seconds after which nothing changes any more; `null` for endless traffic.
    pub complete_at: Option<f64>,
    pub conversations: Vec<CountRow>,
    pub duration: Vec<SumRow>,
    pub csat: Vec<CsatRow>,
    pub nps: Vec<NpsRow>,
    pub conversions: Vec<CountRow>,
    pub transactions: Vec<TransactionRow>,
    /// Rejections by reason (the `reason` label of `iadvize_invalid_records_total`).
    pub invalid: BTreeMap<String, u64>,
    /// (conversation, tag) pairs per project and `tag` label, before any allowlist or cap.
    #[serde(default)]
    pub tags: Vec<TagRow>,
    /// Every name served for each project id: `""` for a null name.
    #[serde(default)]
    pub project_names: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagRow {
    pub project_id: String,
    pub tag: String,
    pub count: u64,
}

/// Longest `tag` label, in characters (METRICS.md).
const MAX_TAG_CHARS: usize = 64;

/// The `tag` label: trimmed, each run of white space one space, at most 64 characters.
pub(crate) fn tag_label(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_TAG_CHARS)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountRow {
    pub project_id: String,
    pub channel: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SumRow {
    pub project_id: String,
    pub channel: String,
    pub count: u64,
    pub sum: f64,
    /// Durations at or under each default bound of METRICS.md (`le`, cumulative), keyed
    /// by the bound as Prometheus writes it.
    #[serde(default)]
    pub buckets: BTreeMap<String, u64>,
}

/// The default duration buckets of METRICS.md, written here from the spec.
pub(crate) const DURATION_BOUNDS: [u32; 15] = [
    30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800, 1209600,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsatRow {
    pub project_id: String,
    pub channel: String,
    pub count: u64,
    pub sum: f64,
    /// Answers per value `"1"` .. `"5"`, not cumulative.
    pub buckets: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpsRow {
    pub project_id: String,
    pub channel: String,
    pub count: u64,
    pub sum: f64,
    /// Answers 9 and 10.
    pub promoters: u64,
    /// Answers 7 and 8.
    pub passives: u64,
    /// Answers 0 to 6.
    pub detractors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    pub project_id: String,
    pub channel: String,
    pub currency: String,
    pub count: u64,
    pub sum: f64,
}

/// Every reason the truth can report, reported even when zero.
pub(crate) const REASONS: [&str; 8] = [
    "missing_id",
    "missing_project",
    "bad_closed_at",
    "bad_created_at",
    "bad_duration",
    "bad_csat",
    "bad_nps",
    "bad_transaction",
];

/// The `channel` label: lower-cased, every character outside `[a-z0-9_]` turned into `_`,
/// empty -> `unknown`.
pub(crate) fn channel_label(channel: &str) -> String {
    if channel.is_empty() {
        return "unknown".to_string();
    }
    channel
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        // METRICS.md bounds label values at 64 characters.
        .take(64)
        .collect()
}

/// An RFC 3339 date as Unix seconds.
pub(crate) fn parse_date(text: &str) -> Option<f64> {
    let date = DateTime::parse_from_rfc3339(text).ok()?;
    Some(date.timestamp() as f64 + f64::from(date.timestamp_subsec_nanos()) / 1e9)
}

/// A duration in seconds: ISO 8601 `PnDTnHnMnS` (each part optional, fractions allowed,
/// at least one part) or a bare number of seconds. `None` when neither.
pub(crate) fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('P') {
        return parse_iso_duration(rest);
    }
    let seconds: f64 = text.parse().ok()?;
    seconds.is_finite().then_some(seconds)
}

/// The part after `P`.
fn parse_iso_duration(rest: &str) -> Option<f64> {
    let (date_part, time_part) = match rest.split_once('T') {
        Some((date, time)) => {
            if time.is_empty() {
                return None;
            }
            (date, time)
        }
        None => (rest, ""),
    };
    let mut total = 0.0;
    let mut parts = 0;
    for (part, units) in [
        (date_part, &[('D', 86_400.0)][..]),
        (time_part, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut remaining = part;
        let mut allowed = units;
        while !remaining.is_empty() {
            let end = remaining.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let (number, tail) = remaining.split_at(end);
            let unit = tail.chars().next()?;
            let position = allowed.iter().position(|(u, _)| *u == unit)?;
            let (_, scale) = allowed[position];
            if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
                return None;
            }
            let value: f64 = number.parse().ok()?;
            total += value * scale;
            parts += 1;
            allowed = &allowed[position + 1..];
            remaining = &tail[unit.len_utf8()..];
        }
    }
    (parts > 0 && total.is_finite()).then_some(total)
}

fn valid_currency(currency: &str) -> bool {
    currency.len() == 3 && currency.chars().all(|c| c.is_ascii_alphabetic())
}

type Labels = (String, String);

#[derive(Default)]
struct Sum {
    count: u64,
    sum: f64,
}

impl Sum {
    fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
    }
}

#[derive(Default)]
struct Durations {
    sum: Sum,
    /// Per bound of `DURATION_BOUNDS`: durations at or under it.
    le: [u64; DURATION_BOUNDS.len()],
}

/// Accumulates served conversations into the truth.
#[derive(Default)]
pub(crate) struct Tally {
    conversations: BTreeMap<Labels, u64>,
    duration: BTreeMap<Labels, Durations>,
    csat: BTreeMap<Labels, (Sum, [u64; 5])>,
    nps: BTreeMap<Labels, (Sum, [u64; 3])>,
    conversions: BTreeMap<Labels, u64>,
    transactions: BTreeMap<(String, String, String), Sum>,
    invalid: BTreeMap<&'static str, u64>,
    tags: BTreeMap<(String, String), u64>,
    project_names: BTreeMap<String, BTreeSet<String>>,
}

impl Tally {
    pub fn add(&mut self, c: &ServedConversation) {
        // Each reason counts once per conversation.
        let mut reasons: BTreeSet<&'static str> = BTreeSet::new();
        self.add_counted(c, &mut reasons);
        for reason in reasons {
            *self.invalid.entry(reason).or_default() += 1;
        }
    }

    fn add_counted(&mut self, c: &ServedConversation, reasons: &mut BTreeSet<&'static str>) {
        if c.id.is_empty() {
            reasons.insert("missing_id");
            return;
        }
        let Some(project) = &c.project else {
            reasons.insert("missing_project");
            return;
        };
        let Some(closed) = c.closed_at.as_deref().and_then(parse_date) else {
            reasons.insert("bad_closed_at");
            return;
        };
        let labels = (project.id.to_string(), channel_label(&c.channel));
        *self.conversations.entry(labels.clone()).or_default() += 1;
        self.project_names
            .entry(labels.0.clone())
            .or_default()
            .insert(project.name.clone().unwrap_or_default());
        // A tag sent twice on one conversation is one pair.
        let tags: BTreeSet<String> = c.tags.iter().map(|t| tag_label(&t.name)).collect();
        for tag in tags.into_iter().filter(|t| !t.is_empty()) {
            *self.tags.entry((labels.0.clone(), tag)).or_default() += 1;
        }

        let created = parse_date(&c.created_at);
        if created.is_none() {
            reasons.insert("bad_created_at");
        }
        let stated = match c.duration.as_deref() {
            None => None,
            Some(text) => match parse_duration(text) {
                Some(seconds) if seconds >= 0.0 => Some(seconds),
                _ => {
                    reasons.insert("bad_duration");
                    None
                }
            },
        };
        let duration = stated.or_else(|| created.map(|created| closed - created));
        if let Some(seconds) = duration.filter(|s| *s >= 0.0) {
            let d = self.duration.entry(labels.clone()).or_default();
            d.sum.add(seconds);
            for (n, bound) in d.le.iter_mut().zip(DURATION_BOUNDS) {
                if seconds <= f64::from(bound) {
                    *n += 1;
                }
            }
        }

        if let Some(survey) = &c.satisfaction_survey {
            if let Some(score) = survey.customer_satisfaction {
                match usize::try_from(score) {
                    Ok(value @ 1..=5) => {
                        let (sum, buckets) = self.csat.entry(labels.clone()).or_default();
                        sum.add(score as f64);
                        buckets[value - 1] += 1;
                    }
                    _ => {
                        reasons.insert("bad_csat");
                    }
                }
            }
            if let Some(score) = survey.net_promoter_score {
                if (0..=10).contains(&score) {
                    let (sum, kinds) = self.nps.entry(labels.clone()).or_default();
                    sum.add(score as f64);
                    let kind = match score {
                        9..=10 => 0,
                        7..=8 => 1,
                        _ => 2,
                    };
                    kinds[kind] += 1;
                } else {
                    reasons.insert("bad_nps");
                }
            }
        }

        let mut seen: HashSet<&str> = HashSet::new();
        let mut converted = false;
        let transactions = c.conversions.iter().flat_map(|c| c.transactions.iter());
        for t in transactions {
            let identity =
                t.id.as_deref()
                    .filter(|id| !id.is_empty())
                    .or(Some(t.external_conversion_id.as_str()).filter(|id| !id.is_empty()));
            // No order is worth more than 10^12 in any currency: beyond, a bad record.
            let valid = identity.is_some()
                && t.amount.is_finite()
                && (0.0..=1e12).contains(&t.amount)
                && valid_currency(&t.currency);
            let Some(identity) = identity.filter(|_| valid) else {
                reasons.insert("bad_transaction");
                continue;
            };
            converted = true;
            if seen.insert(identity) {
                let key = (
                    labels.0.clone(),
                    labels.1.clone(),
                    t.currency.to_ascii_uppercase(),
                );
                self.transactions.entry(key).or_default().add(t.amount);
            }
        }
        if converted {
            *self.conversions.entry(labels).or_default() += 1;
        }
    }

    pub fn into_truth(self, as_of: f64, complete_at: Option<f64>) -> Truth {
        let count_rows = |map: BTreeMap<Labels, u64>| -> Vec<CountRow> {
            map.into_iter()
                .map(|((project_id, channel), count)| CountRow {
                    project_id,
                    channel,
                    count,
                })
                .collect()
        };
        let mut invalid: BTreeMap<String, u64> =
            REASONS.iter().map(|r| (r.to_string(), 0)).collect();
        for (reason, n) in self.invalid {
            *invalid.entry(reason.to_string()).or_default() += n;
        }
        Truth {
            as_of,
            complete_at,
            conversations: count_rows(self.conversations),
            duration: self
                .duration
                .into_iter()
                .map(|((project_id, channel), d)| SumRow {
                    project_id,
                    channel,
                    count: d.sum.count,
                    sum: d.sum.sum,
                    buckets: DURATION_BOUNDS
                        .iter()
                        .zip(d.le)
                        .map(|(bound, n)| (bound.to_string(), n))
                        .collect(),
                })
                .collect(),
            csat: self
                .csat
                .into_iter()
                .map(|((project_id, channel), (s, buckets))| CsatRow {
                    project_id,
                    channel,
                    count: s.count,
                    sum: s.sum,
                    buckets: buckets
                        .iter()
                        .enumerate()
                        .map(|(i, n)| ((i + 1).to_string(), *n))
                        .collect(),
                })
                .collect(),
            nps: self
                .nps
                .into_iter()
                .map(
                    |((project_id, channel), (s, [promoters, passives, detractors]))| NpsRow {
                        project_id,
                        channel,
                        count: s.count,
                        sum: s.sum,
                        promoters,
                        passives,
                        detractors,
                    },
                )
                .collect(),
            conversions: count_rows(self.conversions),
            transactions: self
                .transactions
                .into_iter()
                .map(|((project_id, channel, currency), s)| TransactionRow {
                    project_id,
                    channel,
                    currency,
                    count: s.count,
                    sum: s.sum,
                })
                .collect(),
            invalid,
            tags: self
                .tags
                .into_iter()
                .map(|((project_id, tag), count)| TagRow {
                    project_id,
                    tag,
                    count,
                })
                .collect(),
            project_names: self.project_names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::record::{
        ServedConversions, ServedProject, ServedSurvey, ServedTransaction,
    };

    #[test]
    fn durations_parse_in_every_documented_form() {
        assert_eq!(parse_duration("PT754S"), Some(754.0));
        assert_eq!(parse_duration("PT12M34S"), Some(754.0));
        assert_eq!(parse_duration("PT1H2M3.5S"), Some(3723.5));
        assert_eq!(parse_duration("P1DT1S"), Some(86_401.0));
        assert_eq!(parse_duration("PT2H"), Some(7200.0));
        assert_eq!(parse_duration("754"), Some(754.0));
        assert_eq!(parse_duration("12.25"), Some(12.25));
        for bad in [
            "abc", "", "PT", "P", "PT5", "PTS", "PT1S2M", "PT1.S", "PT-5S", "NaN", "inf",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tag_labels_follow_the_metrics_contract() {
        assert_eq!(tag_label("  Retour   produit "), "Retour produit");
        assert_eq!(tag_label("Réclamation"), "Réclamation");
        assert_eq!(tag_label("VIP"), "VIP");
        let long = "é".repeat(70);
        assert_eq!(tag_label(&long).chars().count(), 64);
        assert_eq!(tag_label(" \t "), "");
    }

    #[test]
    fn channel_labels_follow_the_metrics_contract() {
        assert_eq!(channel_label("CHAT"), "chat");
        assert_eq!(
            channel_label("FACEBOOK_BUSINESS_ON_MESSENGER"),
            "facebook_business_on_messenger"
        );
        assert_eq!(
            channel_label("Apple Business-Chat 2"),
            "apple_business_chat_2"
        );
        assert_eq!(channel_label(""), "unknown");
    }

    #[test]
    fn dates_parse_with_offsets_and_fractions() {
        assert_eq!(parse_date("2024-05-01T12:00:00Z"), Some(1_714_564_800.0));
        assert_eq!(
            parse_date("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800.0)
        );
        assert_eq!(parse_date("2024-05-01T12:00:00.5Z"), Some(1_714_564_800.5));
        assert_eq!(parse_date("yesterday"), None);
    }

    fn conversation(
        id: &str,
        project: Option<i32>,
        channel: &str,
        (created_at, closed_at): (&str, &str),
        duration: Option<&str>,
    ) -> ServedConversation {
        ServedConversation {
            id: id.to_string(),
            created_at: created_at.to_string(),
            closed_at: Some(closed_at.to_string()),
            channel: channel.to_string(),
            duration: duration.map(str::to_string),
            project: project.map(|id| ServedProject { id, name: None }),
            tags: Vec::new(),
            satisfaction_survey: None,
            conversions: None,
        }
    }

    fn survey(csat: Option<i32>, nps: Option<i32>) -> Option<ServedSurvey> {
        Some(ServedSurvey {
            customer_satisfaction: csat,
            net_promoter_score: nps,
            comment: None,
        })
    }

    fn transaction(
        id: Option<&str>,
        external: &str,
        amount: f64,
        currency: &str,
    ) -> ServedTransaction {
        ServedTransaction {
            id: id.map(str::to_string),
            amount,
            currency: currency.to_string(),
            external_conversion_id: external.to_string(),
            received_at: "2024-05-01T13:00:00Z".to_string(),
            visitor_date: "2024-05-01T13:00:00Z".to_string(),
        }
    }

    fn transactions(list: Vec<ServedTransaction>) -> Option<ServedConversions> {
        Some(ServedConversions { transactions: list })
    }

    /// Seven conversations, one rule or more each; the expected numbers are worked out by
    /// hand in the comments.
    #[test]
    fn the_rules_on_a_small_dataset() {
        let mut a = conversation(
            "a",
            Some(1001),
            "CHAT",
            ("2024-05-01T11:50:00Z", "2024-05-01T12:00:00Z"),
            Some("PT12M34S"), // 754 s
        );
        a.satisfaction_survey = survey(Some(4), Some(9));
        a.conversions = transactions(vec![
            transaction(Some("t1"), "o1", 100.5, "EUR"),
            transaction(Some("t1"), "o1", 100.5, "EUR"), // same identity: once
            transaction(None, "o2", 20.0, "usd"),        // identity o2, label USD
        ]);
        // Null duration: 14:00+02:00 - 13:59+02:00 = 60 s. CSAT 7 is out of range.
        let mut b = conversation(
            "b",
            Some(1001),
            "CHAT",
            ("2024-05-01T13:59:00+02:00", "2024-05-01T14:00:00+02:00"),
            None,
        );
        b.satisfaction_survey = survey(Some(7), Some(6));
        // "abc": bad_duration, then 12:02:30.5 - 12:00:00 = 150.5 s. Both transactions
        // bad: one bad_transaction for the conversation, and no conversion.
        let mut c = conversation(
            "c",
            Some(1002),
            "Facebook Business-On Messenger",
            ("2024-05-01T12:00:00Z", "2024-05-01T12:02:30.5Z"),
            Some("abc"),
        );
        c.satisfaction_survey = survey(Some(5), None);
        c.conversions = transactions(vec![
            transaction(Some("t3"), "o3", -5.0, "EUR"),
            transaction(Some("t4"), "o4", 30.0, "EURO"),
        ]);
        // Skipped entirely: no project; then a closedAt that is not a date.
        let mut d = conversation(
            "d",
            None,
            "CHAT",
            ("2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"),
            Some("PT60S"),
        );
        d.satisfaction_survey = survey(Some(5), None);
        let e = conversation(
            "e",
            Some(1002),
            "CHAT",
            ("2024-05-01T11:00:00Z", "yesterday"),
            Some("PT60S"),
        );
        // Empty channel -> unknown; bad createdAt with no duration: no duration observed.
        let mut f = conversation(
            "f",
            Some(1002),
            "",
            ("garbage", "2024-05-01T12:00:00Z"),
            None,
        );
        f.satisfaction_survey = survey(Some(1), Some(11));
        f.conversions = transactions(vec![transaction(None, "o5", 10.0, "GBP")]);
        // 1 h 2 min 3.5 s = 3723.5 s.
        let mut g = conversation(
            "g",
            Some(1001),
            "CHAT",
            ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z"),
            Some("PT1H2M3.5S"),
        );
        g.satisfaction_survey = survey(Some(5), Some(10));
        g.conversions = transactions(vec![transaction(Some("t6"), "o6", 50.0, "EUR")]);

        let mut tally = Tally::default();
        for conversation in [&a, &b, &c, &d, &e, &f, &g] {
            tally.add(conversation);
        }
        let truth = tally.into_truth(1.0, None);

        let count = |p: &str, ch: &str, n| CountRow {
            project_id: p.to_string(),
            channel: ch.to_string(),
            count: n,
        };
        assert_eq!(
            truth.conversations,
            vec![
                count("1001", "chat", 3),
                count("1002", "facebook_business_on_messenger", 1),
                count("1002", "unknown", 1),
            ]
        );
        let le = |counts: [u64; 15]| -> BTreeMap<String, u64> {
            [
                "30", "60", "120", "300", "600", "900", "1800", "3600", "7200", "14400", "28800",
                "86400", "259200", "604800", "1209600",
            ]
            .iter()
            .zip(counts)
            .map(|(b, n)| (b.to_string(), n))
            .collect()
        };
        assert_eq!(
            truth.duration,
            vec![
                SumRow {
                    project_id: "1001".into(),
                    channel: "chat".into(),
                    count: 3,
                    sum: 4537.5, // 754 + 60 + 3723.5
                    buckets: le([0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3]),
                },
                SumRow {
                    project_id: "1002".into(),
                    channel: "facebook_business_on_messenger".into(),
                    count: 1,
                    sum: 150.5,
                    buckets: le([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
                },
            ]
        );
        let buckets = |counts: [u64; 5]| -> BTreeMap<String, u64> {
            (1..=5).map(|v| (v.to_string(), counts[v - 1])).collect()
        };
        assert_eq!(
            truth.csat,
            vec![
                CsatRow {
                    project_id: "1001".into(),
                    channel: "chat".into(),
                    count: 2,
                    sum: 9.0,
                    buckets: buckets([0, 0, 0, 1, 1]),
                },
                CsatRow {
                    project_id: "1002".into(),
                    channel: "facebook_business_on_messenger".into(),
                    count: 1,
                    sum: 5.0,
                    buckets: buckets([0, 0, 0, 0, 1]),
                },
                CsatRow {
                    project_id: "1002".into(),
                    channel: "unknown".into(),
                    count: 1,
                    sum: 1.0,
                    buckets: buckets([1, 0, 0, 0, 0]),
                },
            ]
        );
        assert_eq!(
            truth.nps,
            vec![NpsRow {
                project_id: "1001".into(),
                channel: "chat".into(),
                count: 3,
                sum: 25.0, // 9 + 6 + 10
                promoters: 2,
                passives: 0,
                detractors: 1,
            }]
        );
        assert_eq!(
            truth.conversions,
            vec![count("1001", "chat", 2), count("1002", "unknown", 1)]
        );
        let tx = |p: &str, ch: &str, cur: &str, n, sum| TransactionRow {
            project_id: p.to_string(),
            channel: ch.to_string(),
            currency: cur.to_string(),
            count: n,
            sum,
        };
        assert_eq!(
            truth.transactions,
            vec![
                tx("1001", "chat", "EUR", 2, 150.5),
                tx("1001", "chat", "USD", 1, 20.0),
                tx("1002", "unknown", "GBP", 1, 10.0),
            ]
        );
        let expected_invalid: BTreeMap<String, u64> = [
            ("missing_id", 0),
            ("missing_project", 1),
            ("bad_closed_at", 1),
            ("bad_created_at", 1),
            ("bad_duration", 1),
            ("bad_csat", 1),
            ("bad_nps", 1),
            ("bad_transaction", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(truth.invalid, expected_invalid);
    }

    #[test]
    fn a_negative_duration_is_not_observed() {
        // Created after closed and no duration: -60 s, dropped.
        let c = conversation(
            "x",
            Some(1),
            "CALL",
            ("2024-05-01T12:01:00Z", "2024-05-01T12:00:00Z"),
            None,
        );
        let mut tally = Tally::default();
        tally.add(&c);
        let truth = tally.into_truth(0.0, None);
        assert!(truth.duration.is_empty());
        assert_eq!(truth.conversations.len(), 1);
    }
}
