//! The saved form of a ledger, in every version the state file has held: what is written
//! now, and how an older one is read into it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::records::{
    COUNTED, HAS_TRANSACTIONS, NO_ANSWER, Record, Skipped, TrackedTransaction, Transactions,
    WindowDuration,
};
use super::snapshot::{SeriesKey, Totals};
use super::tags::{TagState, TagStateRef};
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
    /// Since version 4.
    pub(super) project_names: BTreeMap<i64, String>,
    /// Since version 4; empty when tags were off.
    pub(super) tags: TagState,
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
    pub(super) project_names: &'a BTreeMap<i64, String>,
    pub(super) tags: TagStateRef<'a>,
}

impl LedgerStateRef<'_> {
    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    /// The same state as version 3 wrote it, for the tests of the migration.
    #[cfg(test)]
    pub(crate) fn as_v3(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct V3<'a> {
            counting_start: UnixMillis,
            channels: &'a [String],
            currencies: &'a [String],
            duration_bounds: &'a [f64],
            amount_bounds: &'a [f64],
            series: &'a [SeriesKey],
            records: &'a [Record],
            transactions: &'a HashMap<Id128, Transactions>,
            skipped: &'a HashMap<Id128, Skipped>,
            totals: &'a Totals,
        }
        V3 {
            counting_start: self.counting_start,
            channels: self.channels,
            currencies: self.currencies,
            duration_bounds: self.duration_bounds,
            amount_bounds: self.amount_bounds,
            series: self.series,
            records: self.records,
            transactions: self.transactions,
            skipped: self.skipped,
            totals: self.totals,
        }
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

    /// The saved project names, for the tests of a restart.
    pub fn project_names(&self) -> &BTreeMap<i64, String> {
        &self.project_names
    }
}

/// The state of versions 2 and 3, before project names and tags were kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LedgerStateV3 {
    counting_start: UnixMillis,
    channels: Vec<String>,
    currencies: Vec<String>,
    duration_bounds: Vec<f64>,
    amount_bounds: Vec<f64>,
    series: Vec<SeriesKey>,
    records: Vec<Record>,
    transactions: HashMap<Id128, Transactions>,
    skipped: HashMap<Id128, Skipped>,
    totals: Totals,
}

/// Names come back with the next conversation of each project read; no tag was counted.
impl From<LedgerStateV3> for LedgerState {
    fn from(v3: LedgerStateV3) -> Self {
        LedgerState {
            counting_start: v3.counting_start,
            channels: v3.channels,
            currencies: v3.currencies,
            duration_bounds: v3.duration_bounds,
            amount_bounds: v3.amount_bounds,
            series: v3.series,
            records: v3.records,
            transactions: v3.transactions,
            skipped: v3.skipped,
            totals: v3.totals,
            project_names: BTreeMap::new(),
            tags: TagState::default(),
        }
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

impl From<LedgerStateV1> for LedgerStateV3 {
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
        LedgerStateV3 {
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
