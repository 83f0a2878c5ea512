//! The business families of a snapshot as history: the same encoding as a scrape, with
//! the backfill's extra labels and a sample timestamp on every sample line, for
//! `promtool tsdb create-blocks-from openmetrics`.

use std::fmt::Write as _;
use std::sync::Arc;

use super::business::Business;
use super::exposition::Format;
use crate::iadvize::UnixMillis;
use crate::ledger::Snapshot;

/// Every label name the business series use: an extra label may not take one.
pub const SERIES_LABEL_NAMES: [&str; 8] = [
    "project_id",
    "channel",
    "currency",
    "tag",
    "reason",
    "project_name",
    "le",
    "quantile",
];

/// Refuses an extra label name that a business series already uses.
pub fn check_history_label(name: &str) -> Result<(), String> {
    if SERIES_LABEL_NAMES.contains(&name) {
        return Err(format!(
            "a name other than {name}, which the exporter's own series use"
        ));
    }
    Ok(())
}

/// Encodes snapshots as timestamped OpenMetrics lines, with the same extra labels each time.
#[derive(Debug, Clone)]
pub struct HistoryEncoder {
    /// `name="value",...`, escaped; empty for none.
    extra: String,
}

impl HistoryEncoder {
    /// `labels` must have passed [`check_history_label`] and be valid label names.
    pub fn new(labels: &[(String, String)]) -> Self {
        let extra = labels
            .iter()
            .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
            .collect::<Vec<_>>()
            .join(",");
        HistoryEncoder { extra }
    }

    /// The business families of `snapshot` at `at`, in OpenMetrics, without `# EOF`: the
    /// caller joins many of them into one file.
    pub fn encode(&self, snapshot: Snapshot, at: UnixMillis) -> Result<String, std::fmt::Error> {
        let business = Business::new(1, Some(Arc::new(snapshot)));
        let encoded = business.encoded(Format::OpenMetrics)?;
        let timestamp = seconds(at);
        let mut out =
            String::with_capacity((encoded.families.len() + encoded.summary.len()) * 3 / 2);
        for part in [&encoded.families, &encoded.summary] {
            let text = std::str::from_utf8(part).map_err(|_| std::fmt::Error)?;
            for line in text.lines() {
                if line == "# EOF" {
                    continue;
                }
                if line.starts_with('#') {
                    out.push_str(line);
                } else {
                    self.sample(line, &timestamp, &mut out)?;
                }
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// `name{labels} value` as `name{labels,extra} value timestamp`.
    fn sample(&self, line: &str, timestamp: &str, out: &mut String) -> std::fmt::Result {
        let (series, value) = split_sample(line).ok_or(std::fmt::Error)?;
        if self.extra.is_empty() {
            out.push_str(series);
        } else if let Some(labelled) = series.strip_suffix('}') {
            out.push_str(labelled);
            if !labelled.ends_with('{') {
                out.push(',');
            }
            out.push_str(&self.extra);
            out.push('}');
        } else {
            write!(out, "{series}{{{}}}", self.extra)?;
        }
        write!(out, " {value} {timestamp}")
    }
}

/// A sample line's series (name and labels) and value; an exemplar, which history does
/// not carry, is dropped.
fn split_sample(line: &str) -> Option<(&str, &str)> {
    let series_end = match line.find(['{', ' ']) {
        Some(at) if line.as_bytes()[at] == b'{' => closing_brace(line, at)? + 1,
        Some(at) => at,
        None => return None,
    };
    let (series, rest) = line.split_at(series_end);
    let value = rest.trim_start().split(' ').next()?;
    (!value.is_empty()).then_some((series, value))
}

/// The `}` closing the label set opened at `open`, past quoted values that may hold one.
fn closing_brace(line: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in line.char_indices().skip_while(|(i, _)| *i <= open) {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (false, _, '"') => quoted = true,
            (false, _, '}') => return Some(at),
            _ => {}
        }
    }
    None
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Unix seconds as OpenMetrics writes a timestamp, to the millisecond.
fn seconds(ms: UnixMillis) -> String {
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> HistoryEncoder {
        HistoryEncoder::new(&[
            ("instance".to_owned(), "a:1".to_owned()),
            ("job".to_owned(), "x\"y".to_owned()),
        ])
    }

    #[test]
    fn labels_and_timestamp_join_each_sample() {
        let mut out = String::new();
        encoder()
            .sample(
                "iadvize_csat_score_bucket{project_id=\"1\",channel=\"a}b\",le=\"1.0\"} 3",
                "1700000000.5",
                &mut out,
            )
            .unwrap();
        assert_eq!(
            out,
            "iadvize_csat_score_bucket{project_id=\"1\",channel=\"a}b\",le=\"1.0\",instance=\"a:1\",job=\"x\\\"y\"} 3 1700000000.5"
        );
        out.clear();
        encoder()
            .sample("iadvize_window_seconds 3600", "1700000000", &mut out)
            .unwrap();
        assert_eq!(
            out,
            "iadvize_window_seconds{instance=\"a:1\",job=\"x\\\"y\"} 3600 1700000000"
        );
    }

    #[test]
    fn an_exemplar_is_left_out() {
        let mut out = String::new();
        HistoryEncoder::new(&[])
            .sample("a_total{b=\"c\"} 2 # {trace_id=\"t\"} 1.0", "7", &mut out)
            .unwrap();
        assert_eq!(out, "a_total{b=\"c\"} 2 7");
    }

    #[test]
    fn timestamps_are_seconds_to_the_millisecond() {
        assert_eq!(seconds(1_700_000_000_000), "1700000000");
        assert_eq!(seconds(1_700_000_000_042), "1700000000.042");
    }

    #[test]
    fn series_label_names_are_refused() {
        assert!(check_history_label("channel").is_err());
        assert!(check_history_label("job").is_ok());
    }
}
