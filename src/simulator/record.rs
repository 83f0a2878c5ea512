//! The wire view of a conversation: the strings and numbers the API serves, before they
//! are wrapped in GraphQL types. The ground truth is computed from this same view, so it
//! counts exactly what a client can read. Fixtures posted to `/_sim/conversations` use this
//! shape too (the GraphQL JSON field names, plus `closeTime`).

use chrono::{FixedOffset, TimeZone, Utc};
use serde::Deserialize;

/// One conversation as served.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ServedConversation {
    pub id: String,
    pub created_at: String,
    #[serde(default)]
    pub closed_at: Option<String>,
    pub channel: String,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub project: Option<ServedProject>,
    #[serde(default)]
    pub tags: Vec<ServedTag>,
    #[serde(default)]
    pub satisfaction_survey: Option<ServedSurvey>,
    #[serde(default)]
    pub conversions: Option<ServedConversions>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServedProject {
    pub id: i32,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServedTag {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ServedSurvey {
    #[serde(default)]
    pub customer_satisfaction: Option<i32>,
    #[serde(default)]
    pub net_promoter_score: Option<i32>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServedConversions {
    pub transactions: Vec<ServedTransaction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ServedTransaction {
    #[serde(default)]
    pub id: Option<String>,
    pub amount: f64,
    pub currency: String,
    pub external_conversion_id: String,
    pub received_at: String,
    pub visitor_date: String,
}

/// How a date is written on the wire. The API mixes them, and clients must read them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateStyle {
    /// `2024-05-01T12:00:00Z`
    Utc,
    /// `2024-05-01T12:00:00.123Z`
    UtcMillis,
    /// `2024-05-01T14:00:00+02:00`, the offset in minutes east of UTC.
    Offset(i32),
    /// `2024-05-01T14:00:00.123000+02:00`
    OffsetMicros(i32),
    /// Not a date at all (a defect); the number picks one of a few spellings.
    Garbage(u8),
}

impl DateStyle {
    /// Whether the style can carry milliseconds (else the instant must be whole seconds).
    pub fn has_fraction(self) -> bool {
        matches!(self, DateStyle::UtcMillis | DateStyle::OffsetMicros(_))
    }
}

const GARBAGE_DATES: [&str; 3] = ["not a date", "2024-13-45T25:61:00Z", "31/12/2024 10:00"];

/// Writes the instant `ms` (Unix milliseconds) in `style`. A style without fraction
/// drops the milliseconds.
pub(crate) fn format_date(ms: i64, style: DateStyle) -> String {
    let Some(utc) = Utc.timestamp_millis_opt(ms).single() else {
        return GARBAGE_DATES[0].to_string();
    };
    match style {
        DateStyle::Utc => utc.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        DateStyle::UtcMillis => utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        DateStyle::Offset(minutes) | DateStyle::OffsetMicros(minutes) => {
            let Some(offset) = FixedOffset::east_opt(minutes * 60) else {
                return utc.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            };
            let local = utc.with_timezone(&offset);
            if matches!(style, DateStyle::OffsetMicros(_)) {
                local.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
            } else {
                local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
            }
        }
        DateStyle::Garbage(n) => GARBAGE_DATES[usize::from(n) % GARBAGE_DATES.len()].to_string(),
    }
}

/// How a duration is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationStyle {
    /// `PT754S`
    IsoSeconds,
    /// `PT12M34S`
    IsoMinutes,
    /// `PT1H2M3.5S`: hours, minutes and tenths of seconds.
    IsoHours,
    /// `754`
    Bare,
    /// null: the client falls back to `closedAt - createdAt`.
    Null,
    /// `abc` (a defect).
    Garbage,
}

impl DurationStyle {
    /// The precision, in milliseconds, the style can carry.
    pub fn resolution_ms(self) -> i64 {
        match self {
            DurationStyle::IsoHours => 100,
            _ => 1000,
        }
    }
}

/// Writes `ms` (non-negative, a multiple of the style's resolution) in `style`.
pub(crate) fn format_duration(ms: i64, style: DurationStyle) -> Option<String> {
    let whole = ms.div_euclid(1000);
    let tenths = ms.rem_euclid(1000) / 100;
    match style {
        DurationStyle::IsoSeconds => Some(format!("PT{whole}S")),
        DurationStyle::IsoMinutes => {
            let (m, s) = (whole / 60, whole % 60);
            if m == 0 {
                Some(format!("PT{s}S"))
            } else {
                Some(format!("PT{m}M{s}S"))
            }
        }
        DurationStyle::IsoHours => {
            let (h, m, s) = (whole / 3600, (whole / 60) % 60, whole % 60);
            let mut out = String::from("PT");
            if h > 0 {
                out.push_str(&format!("{h}H"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}M"));
            }
            if tenths == 0 {
                out.push_str(&format!("{s}S"));
            } else {
                out.push_str(&format!("{s}.{tenths}S"));
            }
            Some(out)
        }
        DurationStyle::Bare => Some(whole.to_string()),
        DurationStyle::Null => None,
        DurationStyle::Garbage => Some("abc".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-05-01T12:00:00Z
    const NOON: i64 = 1_714_564_800_000;

    #[test]
    fn dates_are_written_in_every_style() {
        assert_eq!(format_date(NOON, DateStyle::Utc), "2024-05-01T12:00:00Z");
        assert_eq!(
            format_date(NOON + 123, DateStyle::UtcMillis),
            "2024-05-01T12:00:00.123Z"
        );
        assert_eq!(
            format_date(NOON, DateStyle::Offset(120)),
            "2024-05-01T14:00:00+02:00"
        );
        assert_eq!(
            format_date(NOON + 5, DateStyle::OffsetMicros(-300)),
            "2024-05-01T07:00:00.005000-05:00"
        );
        assert_eq!(
            format_date(NOON, DateStyle::Garbage(1)),
            "2024-13-45T25:61:00Z"
        );
    }

    #[test]
    fn durations_are_written_in_every_style() {
        assert_eq!(
            format_duration(754_000, DurationStyle::IsoSeconds).as_deref(),
            Some("PT754S")
        );
        assert_eq!(
            format_duration(754_000, DurationStyle::IsoMinutes).as_deref(),
            Some("PT12M34S")
        );
        assert_eq!(
            format_duration(34_000, DurationStyle::IsoMinutes).as_deref(),
            Some("PT34S")
        );
        assert_eq!(
            format_duration(3_723_500, DurationStyle::IsoHours).as_deref(),
            Some("PT1H2M3.5S")
        );
        assert_eq!(
            format_duration(3_600_000, DurationStyle::IsoHours).as_deref(),
            Some("PT1H0M0S")
        );
        assert_eq!(
            format_duration(754_000, DurationStyle::Bare).as_deref(),
            Some("754")
        );
        assert_eq!(format_duration(754_000, DurationStyle::Null), None);
        assert_eq!(
            format_duration(754_000, DurationStyle::Garbage).as_deref(),
            Some("abc")
        );
    }
}
