//! The business families of a ledger snapshot, encoded and compressed at most once per
//! snapshot and format, since they change only when the poller publishes.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use flate2::Compression;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::exposition::{Format, ScrapeError};
use super::family::family;
use super::gzip::Segment;
use super::histograms;
use crate::iadvize::InvalidReason;
use crate::ledger::{
    AmountKey, CSAT_BOUNDS, Histogram, NPS_BOUNDS, SeriesKey, Snapshot, WINDOW_QUANTILES,
};

/// One published snapshot and its encodings, each made at most once.
pub(super) struct Business {
    /// Counts publishes; 0 before the first.
    pub(super) generation: u64,
    pub(super) snapshot: Option<Arc<Snapshot>>,
    pub(super) encoded: [OnceLock<Result<Encoded, std::fmt::Error>>; 2],
    pub(super) compressed: [OnceLock<Result<Compressed, ScrapeError>>; 2],
}

impl std::fmt::Debug for Business {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Business")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// The business part of an exposition in one format: the families, then the window
/// summary, which comes after `process_*`.
pub(super) struct Encoded {
    pub(super) families: Bytes,
    /// The window summary, and `# EOF` in OpenMetrics.
    pub(super) summary: Bytes,
}

/// [`Encoded`] as raw deflate segments.
pub(super) struct Compressed {
    pub(super) families: Segment,
    /// Ends the deflate stream.
    pub(super) summary: Segment,
}

/// The fastest level: the poller compresses on a runtime worker, and level 6 takes ten
/// times longer (10 ms at 5,000 series) for a body only a fifth smaller.
const CACHED_LEVEL: Compression = Compression::fast();

impl Business {
    pub(super) fn new(generation: u64, snapshot: Option<Arc<Snapshot>>) -> Self {
        Business {
            generation,
            snapshot,
            encoded: Default::default(),
            compressed: Default::default(),
        }
    }

    pub(super) fn encoded(&self, format: Format) -> Result<&Encoded, std::fmt::Error> {
        let slot = &self.encoded[format.index()];
        slot.get_or_init(|| self.encode(format))
            .as_ref()
            .map_err(|e| *e)
    }

    pub(super) fn compressed(&self, format: Format) -> Result<&Compressed, ScrapeError> {
        let slot = &self.compressed[format.index()];
        slot.get_or_init(|| {
            let encoded = self.encoded(format)?;
            Ok(Compressed {
                families: Segment::deflate(&encoded.families, CACHED_LEVEL)?,
                summary: Segment::deflate_last(&encoded.summary, CACHED_LEVEL)?,
            })
        })
        .as_ref()
        .map_err(|e| *e)
    }

    fn encode(&self, format: Format) -> Result<Encoded, std::fmt::Error> {
        let mut summary = String::new();
        let Some(snapshot) = &self.snapshot else {
            format.encode_end(&mut summary)?;
            return Ok(Encoded {
                families: Bytes::new(),
                summary: Bytes::from(summary),
            });
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(BusinessFamilies {
            snapshot: snapshot.clone(),
            histograms: format == Format::Text,
        }));
        let mut families = String::with_capacity(64 * 1024);
        format.encode_registry(&mut families, &registry)?;
        if format == Format::OpenMetrics {
            openmetrics_histograms(snapshot, &mut families)?;
        }
        encode_duration_summary(snapshot, &mut summary)?;
        format.encode_end(&mut summary)?;
        Ok(Encoded {
            families: Bytes::from(families),
            summary: Bytes::from(summary),
        })
    }
}

/// The window's duration quantiles, as a summary. METRICS.md calls them gauges, but a
/// `quantile` label belongs to a summary (promtool rejects it elsewhere), and these are
/// exactly a summary's sliding-window quantiles. prometheus-client has no summary type,
/// so this one family is written by hand; it reads the same in both formats.
fn encode_duration_summary(s: &Snapshot, out: &mut String) -> std::fmt::Result {
    use std::fmt::Write as _;
    let name = "iadvize_window_conversation_duration_seconds";
    let mut header = false;
    for (key, series) in &s.window.series {
        let Some(quantiles) = series.duration_quantiles else {
            continue;
        };
        if !header {
            writeln!(
                out,
                "# HELP {name} Conversation duration over the window: nearest-rank quantiles, sum and count."
            )?;
            writeln!(out, "# TYPE {name} summary")?;
            header = true;
        }
        let labels = format!(
            "project_id=\"{}\",channel=\"{}\"",
            key.project_id,
            escape_label_value(s.channel(key.channel))
        );
        for (q, value) in WINDOW_QUANTILES.iter().zip(quantiles) {
            writeln!(out, "{name}{{{labels},quantile=\"{q}\"}} {}", float(value))?;
        }
        writeln!(out, "{name}_sum{{{labels}}} {}", float(series.duration_sum))?;
        writeln!(out, "{name}_count{{{labels}}} {}", series.duration_count)?;
    }
    Ok(())
}

/// The histogram families with their exemplars, which only OpenMetrics carries.
fn openmetrics_histograms(s: &Snapshot, out: &mut String) -> std::fmt::Result {
    let series = |k: &SeriesKey| {
        format!(
            "project_id=\"{}\",channel=\"{}\"",
            k.project_id,
            escape_label_value(s.channel(k.channel))
        )
    };
    let amount = |k: &AmountKey| {
        format!(
            "{},currency=\"{}\"",
            series(&k.series),
            escape_label_value(s.currency(k.currency))
        )
    };
    let (t, x) = (&s.totals, &s.exemplars);
    histograms::write(
        out,
        &histograms::Family {
            name: "iadvize_conversation_duration_seconds",
            help: "Duration of closed conversations.",
            bounds: &s.duration_bounds,
            series: &t.duration,
            exemplars: &x.duration,
            labels: &series,
        },
    )?;
    histograms::write(
        out,
        &histograms::Family {
            name: "iadvize_csat_score",
            help: "Answered CSAT survey questions (1..5).",
            bounds: &CSAT_BOUNDS,
            series: &t.csat,
            exemplars: &x.csat,
            labels: &series,
        },
    )?;
    histograms::write(
        out,
        &histograms::Family {
            name: "iadvize_nps_score",
            help: "Answered NPS survey questions (0..10).",
            bounds: &NPS_BOUNDS,
            series: &t.nps,
            exemplars: &x.nps,
            labels: &series,
        },
    )?;
    histograms::write(
        out,
        &histograms::Family {
            name: "iadvize_transaction_amount",
            help: "Transaction amounts; _sum is revenue, _count transactions.",
            bounds: &s.amount_bounds,
            series: &t.transactions,
            exemplars: &x.amount,
            labels: &amount,
        },
    )
}

/// The business families in OpenMetrics as prometheus-client alone writes them (its
/// histograms, without exemplars), for the test that holds [`histograms`] to them.
#[cfg(test)]
pub(super) fn openmetrics_by_prometheus_client(snapshot: Arc<Snapshot>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BusinessFamilies {
        snapshot,
        histograms: true,
    }));
    let mut out = String::new();
    Format::OpenMetrics
        .encode_registry(&mut out, &registry)
        .unwrap_or_default();
    out
}

pub(super) fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A float as the exposition formats write it (`1.0`, `+Inf`, `NaN`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        }
    } else {
        let mut s = v.to_string();
        if !s.contains(['.', 'e']) {
            s.push_str(".0");
        }
        s
    }
}

/// A histogram whose values are already counted: encodes the ledger's [`Histogram`].
#[derive(Debug)]
struct FixedHistogram<'a> {
    bounds: &'a [f64],
    data: &'a Histogram,
}

impl EncodeMetric for FixedHistogram<'_> {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.data.counts.iter().copied())
            .collect();
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.data.sum,
            self.data.count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type SeriesLabels = [(&'static str, String); 2];
type AmountLabels = [(&'static str, String); 3];

fn series_labels(s: &Snapshot, key: &crate::ledger::SeriesKey) -> SeriesLabels {
    [
        ("project_id", key.project_id.to_string()),
        ("channel", s.channel(key.channel).to_owned()),
    ]
}

fn amount_labels(s: &Snapshot, key: &crate::ledger::AmountKey) -> AmountLabels {
    [
        ("project_id", key.series.project_id.to_string()),
        ("channel", s.channel(key.series.channel).to_owned()),
        ("currency", s.currency(key.currency).to_owned()),
    ]
}

/// The business families of one snapshot, for a registry of their own; without the
/// histograms in OpenMetrics, where [`openmetrics_histograms`] writes them with exemplars.
#[derive(Debug)]
struct BusinessFamilies {
    snapshot: Arc<Snapshot>,
    histograms: bool,
}

impl prometheus_client::collector::Collector for BusinessFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.snapshot;
        let t = &s.totals;
        let e = &mut encoder;

        family(
            e,
            "iadvize_conversations_closed",
            "Closed conversations, each counted once.",
            MetricType::Counter,
            t.conversations
                .iter()
                .map(|(k, v)| (series_labels(s, k), ConstCounter::new(*v))),
        )?;
        if self.histograms {
            family(
                e,
                "iadvize_conversation_duration_seconds",
                "Duration of closed conversations.",
                MetricType::Histogram,
                t.duration.iter().map(|(k, h)| {
                    let m = FixedHistogram {
                        bounds: &s.duration_bounds,
                        data: h,
                    };
                    (series_labels(s, k), m)
                }),
            )?;
        }
        if self.histograms {
            family(
                e,
                "iadvize_csat_score",
                "Answered CSAT survey questions (1..5).",
                MetricType::Histogram,
                t.csat.iter().map(|(k, h)| {
                    let m = FixedHistogram {
                        bounds: &CSAT_BOUNDS,
                        data: h,
                    };
                    (series_labels(s, k), m)
                }),
            )?;
        }
        if self.histograms {
            family(
                e,
                "iadvize_nps_score",
                "Answered NPS survey questions (0..10).",
                MetricType::Histogram,
                t.nps.iter().map(|(k, h)| {
                    let m = FixedHistogram {
                        bounds: &NPS_BOUNDS,
                        data: h,
                    };
                    (series_labels(s, k), m)
                }),
            )?;
        }
        family(
            e,
            "iadvize_conversions",
            "Conversations that gained their first transaction.",
            MetricType::Counter,
            t.conversions
                .iter()
                .map(|(k, v)| (series_labels(s, k), ConstCounter::new(*v))),
        )?;
        if self.histograms {
            family(
                e,
                "iadvize_transaction_amount",
                "Transaction amounts; _sum is revenue, _count transactions.",
                MetricType::Histogram,
                t.transactions.iter().map(|(k, h)| {
                    let m = FixedHistogram {
                        bounds: &s.amount_bounds,
                        data: h,
                    };
                    (amount_labels(s, k), m)
                }),
            )?;
        }

        let w = &s.window;
        family(
            e,
            "iadvize_window_seconds",
            "Length of the rolling window of the iadvize_window_* gauges.",
            MetricType::Gauge,
            [([("", ""); 0], ConstGauge::new(s.window_seconds))],
        )?;
        family(
            e,
            "iadvize_window_conversations",
            "Closed conversations in the window.",
            MetricType::Gauge,
            w.series
                .iter()
                .map(|(k, v)| (series_labels(s, k), ConstGauge::new(v.conversations as i64))),
        )?;
        family(
            e,
            "iadvize_window_csat_responses",
            "Answered CSAT in the window.",
            MetricType::Gauge,
            w.series
                .iter()
                .filter(|(_, v)| v.csat_responses > 0)
                .map(|(k, v)| {
                    (
                        series_labels(s, k),
                        ConstGauge::new(v.csat_responses as i64),
                    )
                }),
        )?;
        family(
            e,
            "iadvize_window_csat_average",
            "Mean CSAT (1..5) in the window.",
            MetricType::Gauge,
            w.series.iter().filter_map(|(k, v)| {
                v.csat_average()
                    .map(|avg| (series_labels(s, k), ConstGauge::new(avg)))
            }),
        )?;
        family(
            e,
            "iadvize_window_csat_satisfied",
            "Answered CSAT of 4 or 5 in the window (iAdvize's CSAT is this over the answers).",
            MetricType::Gauge,
            w.series
                .iter()
                .filter(|(_, v)| v.csat_responses > 0)
                .map(|(k, v)| {
                    (
                        series_labels(s, k),
                        ConstGauge::new(v.csat_satisfied as i64),
                    )
                }),
        )?;
        family(
            e,
            "iadvize_window_nps_responses",
            "Answered NPS in the window.",
            MetricType::Gauge,
            w.series
                .iter()
                .filter(|(_, v)| v.nps_responses > 0)
                .map(|(k, v)| (series_labels(s, k), ConstGauge::new(v.nps_responses as i64))),
        )?;
        family(
            e,
            "iadvize_window_nps",
            "Net Promoter Score in the window: 100 x (promoters - detractors) / answers.",
            MetricType::Gauge,
            w.series.iter().filter_map(|(k, v)| {
                v.nps()
                    .map(|nps| (series_labels(s, k), ConstGauge::new(nps)))
            }),
        )?;
        family(
            e,
            "iadvize_window_conversions",
            "Conversations in the window with at least one transaction.",
            MetricType::Gauge,
            w.series
                .iter()
                .map(|(k, v)| (series_labels(s, k), ConstGauge::new(v.conversions as i64))),
        )?;
        family(
            e,
            "iadvize_window_transaction_amount",
            "Revenue of the conversations in the window.",
            MetricType::Gauge,
            w.revenue
                .iter()
                .map(|(k, v)| (amount_labels(s, k), ConstGauge::new(*v))),
        )?;
        family(
            e,
            "iadvize_window_transactions",
            "Transactions of the conversations in the window (iAdvize's conversion rate is these over closed conversations).",
            MetricType::Gauge,
            w.transactions
                .iter()
                .map(|(k, v)| (amount_labels(s, k), ConstGauge::new(*v as i64))),
        )?;

        // One series per project counted or in the window, so dashboards can show names;
        // a project whose name is not known yet (after a restart) waits for its next read.
        let shown: std::collections::BTreeSet<i64> = t
            .conversations
            .keys()
            .chain(w.series.keys())
            .map(|k| k.project_id)
            .collect();
        family(
            e,
            "iadvize_project_info",
            "Names of the projects, always 1: join with * on (project_id) group_left (project_name).",
            MetricType::Gauge,
            shown.into_iter().filter_map(|id| {
                s.project_names.get(&id).map(|name| {
                    (
                        [
                            ("project_id", id.to_string()),
                            ("project_name", name.clone()),
                        ],
                        ConstGauge::new(1),
                    )
                })
            }),
        )?;

        family(
            e,
            "iadvize_invalid_records",
            "Records or fields rejected, each counted once.",
            MetricType::Counter,
            InvalidReason::ALL.iter().map(|r| {
                let n = t.invalid.get(r).copied().unwrap_or(0);
                ([("reason", r.as_label())], ConstCounter::new(n))
            }),
        )?;
        family(
            e,
            "iadvize_tracked_conversations",
            "Conversations held for de-duplication and late data.",
            MetricType::Gauge,
            [(
                [("", ""); 0],
                ConstGauge::new(s.tracked_conversations as i64),
            )],
        )?;
        Ok(())
    }
}
