//! The `backfill` command's own flags, and their checks. The iAdvize, poll and metrics
//! flags are the exporter's, read with the rest of [`super::Config`].

use std::path::PathBuf;
use std::time::Duration;

use crate::iadvize::UnixMillis;

use super::error::{ConfigError, Place};

/// Flags of `iadvize-exporter backfill`, as given.
#[derive(clap::Args, Debug, Clone)]
pub struct BackfillFlags {
    /// Start of the history: RFC 3339 (2026-11-01T00:00:00Z) or a duration before now (30d).
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// End of the history, same forms as --from [default: now].
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Time between two samples of each series.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_STEP)]
    pub step: String,
    /// Where to write the OpenMetrics history; `-` for standard output.
    #[arg(long, value_name = "FILE", default_value = "iadvize-history.om")]
    pub output: String,
    /// A label added to every series, NAME=VALUE (repeatable), such as job=iadvize.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
}

/// Five minutes: Grafana's 7-day view asks for about ten-minute points, and a rate over
/// `$__rate_interval` needs two samples in it. docs/performance.md gives the file size.
pub const DEFAULT_STEP: &str = "5m";

/// Where the history goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// The validated `backfill` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    /// Unix ms, before `to`.
    pub from: UnixMillis,
    /// Unix ms, not after the time the command was given.
    pub to: UnixMillis,
    pub step: Duration,
    pub output: Output,
    pub labels: Vec<(String, String)>,
}

fn invalid(flag: &'static str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        place: Place::Flag(flag),
        value: value.to_owned(),
        expected: expected.into(),
    }
}

/// RFC 3339, or a duration before `now`.
fn parse_time(flag: &'static str, text: &str, now: UnixMillis) -> Result<UnixMillis, ConfigError> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(now.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => Err(invalid(
            flag,
            text,
            "expected an RFC 3339 time such as 2026-11-01T00:00:00Z or a duration before now such as 30d",
        )),
    }
}

impl BackfillFlags {
    /// Checks the flags against the clock: `now` is when the command was given.
    pub fn validate(&self, now: UnixMillis) -> Result<Backfill, ConfigError> {
        let from = parse_time("from", &self.from, now)?;
        let to = match &self.to {
            Some(text) => parse_time("to", text, now)?,
            None => now,
        };
        if from > now {
            return Err(invalid(
                "from",
                &self.from,
                "a time in the past: there is no history after now",
            ));
        }
        if to > now {
            return Err(invalid(
                "to",
                self.to.as_deref().unwrap_or_default(),
                "a time not after now: the exporter counts what comes next",
            ));
        }
        if from >= to {
            return Err(invalid(
                "from",
                &self.from,
                format!(
                    "a time before --to ({})",
                    self.to.as_deref().unwrap_or("now")
                ),
            ));
        }
        let step = humantime::parse_duration(self.step.trim())
            .ok()
            .filter(|s| *s >= Duration::from_secs(1))
            .ok_or_else(|| invalid("step", &self.step, "a duration of at least 1s, such as 5m"))?;
        let output = match self.output.as_str() {
            "" => {
                return Err(invalid(
                    "output",
                    "",
                    "a file name, or - for standard output",
                ));
            }
            "-" => Output::Stdout,
            path => Output::File(PathBuf::from(path)),
        };
        let mut labels: Vec<(String, String)> = Vec::new();
        for given in &self.labels {
            let Some((name, value)) = given.split_once('=') else {
                return Err(invalid("label", given, "NAME=VALUE, such as job=iadvize"));
            };
            check_label_name(name).map_err(|why| invalid("label", given, why))?;
            if labels.iter().any(|(n, _)| n == name) {
                return Err(invalid("label", given, format!("{name} given once")));
            }
            labels.push((name.to_owned(), value.to_owned()));
        }
        labels.sort();
        Ok(Backfill {
            from,
            to,
            step,
            output,
            labels,
        })
    }
}

/// What Prometheus allows and keeps for itself. The names the exporter's own series use
/// are refused later, by the backfill, since the metrics module owns them.
fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err("a label name of letters, digits and _, not starting with a digit".into());
    }
    if name.starts_with("__") {
        return Err("a name not starting with __, which Prometheus keeps for itself".into());
    }
    if name == "le" || name == "quantile" {
        return Err(format!(
            "a name other than {name}, which histograms and summaries use"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-01T00:00:00Z
    const NOW: UnixMillis = 1_796_083_200_000;

    fn flags(from: &str, to: Option<&str>) -> BackfillFlags {
        BackfillFlags {
            from: from.to_owned(),
            to: to.map(str::to_owned),
            step: DEFAULT_STEP.to_owned(),
            output: "-".to_owned(),
            labels: vec!["job=iadvize".to_owned(), "instance=a:9834".to_owned()],
        }
    }

    fn refused_flag(result: Result<Backfill, ConfigError>) -> &'static str {
        match result {
            Err(ConfigError::Invalid {
                place: Place::Flag(flag),
                ..
            }) => flag,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_before_now() {
        let b = flags("30d", None).validate(NOW).unwrap();
        assert_eq!(b.from, NOW - 30 * 86_400_000);
        assert_eq!(b.to, NOW);
        let b = flags("2026-11-01T00:00:00Z", Some("2026-11-02T12:00:00+02:00"))
            .validate(NOW)
            .unwrap();
        assert_eq!(b.from, 1_793_491_200_000);
        assert_eq!(b.to, 1_793_491_200_000 + 34 * 3_600_000);
        assert_eq!(b.step, Duration::from_secs(300));
        assert_eq!(b.output, Output::Stdout);
        // Sorted, as the exporter's target labels are.
        assert_eq!(b.labels[0], ("instance".to_owned(), "a:9834".to_owned()));
    }

    #[test]
    fn a_range_that_is_empty_or_in_the_future_is_refused() {
        assert_eq!(refused_flag(flags("1h", Some("2h")).validate(NOW)), "from");
        assert_eq!(refused_flag(flags("1h", Some("1h")).validate(NOW)), "from");
        assert_eq!(
            refused_flag(flags("2026-12-02T00:00:00Z", None).validate(NOW)),
            "from"
        );
        assert_eq!(
            refused_flag(flags("1h", Some("2026-12-01T00:00:01Z")).validate(NOW)),
            "to"
        );
    }
}
