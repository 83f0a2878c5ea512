//! The business figures at one instant, as the metrics module reads them: cumulative
//! totals, the rolling window, and the label names their ids stand for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::iadvize::InvalidReason;
use crate::labels::LabelId;

/// Upper bounds of the CSAT histogram (METRICS.md).
pub const CSAT_BOUNDS: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
/// Upper bounds of the NPS histogram (METRICS.md).
pub const NPS_BOUNDS: [f64; 11] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
/// Quantiles of `iadvize_window_conversation_duration_seconds`.
pub const WINDOW_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

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
    pub(super) fn new(bounds: &[f64]) -> Self {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Counts `value`; returns the slot it went to.
    pub(super) fn observe(&mut self, bounds: &[f64], value: f64) -> usize {
        // Prometheus buckets are `le`: a value equal to a bound belongs to that bucket.
        let slot = bounds.partition_point(|&b| b < value);
        if let Some(c) = self.counts.get_mut(slot) {
            *c += 1;
        }
        self.sum += value;
        self.count += 1;
        slot
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
    /// Answers of 4 or 5: iAdvize's CSAT is this over `csat_responses`.
    pub csat_satisfied: u64,
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
    /// Transactions per currency: iAdvize's conversion rate is these over conversations.
    pub transactions: BTreeMap<AmountKey, u64>,
}

/// Everything the metrics module shows of the business, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub totals: Totals,
    /// The latest conversation counted into each histogram bucket.
    pub exemplars: super::Exemplars,
    pub window: Window,
    pub window_seconds: f64,
    pub channels: Vec<String>,
    pub currencies: Vec<String>,
    pub duration_bounds: Vec<f64>,
    pub amount_bounds: Vec<f64>,
    pub tracked_conversations: usize,
    /// The latest name of each project seen (`""` when null).
    pub project_names: BTreeMap<i64, String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
