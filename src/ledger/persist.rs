//! The saved form of a ledger, in every version the state file has held: what is written
//! now, and how an older one is read into it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::records::{
    COUNTED, HAS_TRANSACTIONS, NO_ANSWER, Record, Skipped, TrackedTransaction, Transactions,
    WindowDuration,
};
use super::snapshot::{SeriesKey, Totals};
use crate::iadvize::{Id128, UnixMillis};
use crate::labels::LabelId;
/// What the state file keeps of a ledger: everything but the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerState {
    pub(super) counting_start: UnixMillis,
    pub(super) channels: Vec<String>,
    pub(super) currencies: Vec<String>,
    pub(super) duration_bounds: Vec<f64>,
    pub(super) amount_bounds: Vec<f64>,
    pub(super) series: Vec<SeriesKey>,
    pub(super) records: Vec<Record>,
    pub(super) transactions: HashMap<Id128, Transactions>,
    pub(super) skipped: HashMap<Id128, Skipped>,
    pub(super) totals: Totals,
}

/// [`LedgerState`] borrowed from a live ledger: the same encoding, without copying a
/// million records on every save.
#[derive(Debug, Serialize)]
pub struct LedgerStateRef<'a> {
    pub(super) counting_start: UnixMillis,
    pub(super) channels: &'a [String],
    pub(super) currencies: &'a [String],
    pub(super) duration_bounds: &'a [f64],
    pub(super) amount_bounds: &'a [f64],
    pub(super) series: &'a [SeriesKey],
    pub(super) records: &'a [Record],
    pub(super) transactions: &'a HashMap<Id128, Transactions>,
    pub(super) skipped: &'a HashMap<Id128, Skipped>,
    pub(super) totals: &'a Totals,
}

impl LedgerStateRef<'_> {
    pub fn tracked(&self) -> usize {
        self.records.len()
    }
}

impl LedgerState {
    /// Conversations closed at or after this are counted.
    pub fn counting_start(&self) -> UnixMillis {
        self.counting_start
    }

    pub fn tracked(&self) -> usize {
        self.records.len()
    }
}

/// The state of version 1 files, which keyed conversations by their text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerStateV1 {
    counting_start: UnixMillis,
    channels: Vec<String>,
    currencies: Vec<String>,
    duration_bounds: Vec<f64>,
    amount_bounds: Vec<f64>,
    entries: HashMap<Box<str>, EntryV1>,
    skipped: HashMap<Box<str>, Skipped>,
    totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct EntryV1 {
    closed_at: UnixMillis,
    series: SeriesKey,
    counted: bool,
    duration: Option<f64>,
    csat: Option<u8>,
    nps: Option<u8>,
    transactions: Vec<TrackedTransactionV1>,
    invalid_seen: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct TrackedTransactionV1 {
    key: Box<str>,
    currency: LabelId,
    amount: f64,
}

impl From<LedgerStateV1> for LedgerState {
    fn from(v1: LedgerStateV1) -> Self {
        let mut series: Vec<SeriesKey> = Vec::new();
        let mut series_ids: HashMap<SeriesKey, u32> = HashMap::new();
        let mut records = Vec::with_capacity(v1.entries.len());
        let mut transactions = HashMap::new();
        for (id, e) in v1.entries {
            let id = Id128::of(&id);
            let index = *series_ids.entry(e.series).or_insert_with(|| {
                series.push(e.series);
                (series.len() - 1) as u32
            });
            let mut flags = e.invalid_seen;
            if e.counted {
                flags |= COUNTED;
            }
            let list = e
                .transactions
                .iter()
                .map(|t| TrackedTransaction {
                    key: Id128::of(&t.key),
                    currency: t.currency,
                    amount: t.amount,
                })
                .collect();
            if let Some(list) = Transactions::from_list(list) {
                flags |= HAS_TRANSACTIONS;
                transactions.insert(id, list);
            }
            records.push(Record {
                id,
                closed_at: e.closed_at,
                duration: WindowDuration::new(e.duration),
                series: index,
                csat: e.csat.unwrap_or(NO_ANSWER),
                nps: e.nps.unwrap_or(NO_ANSWER),
                flags,
            });
        }
        LedgerState {
            counting_start: v1.counting_start,
            channels: v1.channels,
            currencies: v1.currencies,
            duration_bounds: v1.duration_bounds,
            amount_bounds: v1.amount_bounds,
            series,
            records,
            transactions,
            skipped: v1
                .skipped
                .into_iter()
                .map(|(id, s)| (Id128::of(&id), s))
                .collect(),
            totals: v1.totals,
        }
    }
}
