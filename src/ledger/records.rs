//! The compact record store: a conversation in 36 bytes, its transactions on the side,
//! and the hash index that finds a record by id.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};

use crate::iadvize::{Id128, InvalidReason, UnixMillis};
use crate::labels::LabelId;

/// A transaction the ledger remembers, so that a re-read never counts it again. Packed
/// like [`Record`], to 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[repr(C, packed(4))]
pub(super) struct TrackedTransaction {
    pub(super) key: Id128,
    pub(super) currency: LabelId,
    pub(super) amount: f64,
}

/// The transactions of one conversation: the usual single one inline, more on the heap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Transactions {
    One(TrackedTransaction),
    Many(Box<[TrackedTransaction]>),
}

impl Transactions {
    pub(super) fn as_slice(&self) -> &[TrackedTransaction] {
        match self {
            Transactions::One(t) => std::slice::from_ref(t),
            Transactions::Many(list) => list,
        }
    }

    pub(super) fn from_list(list: Vec<TrackedTransaction>) -> Option<Self> {
        match list.as_slice() {
            [] => None,
            [one] => Some(Transactions::One(*one)),
            _ => Some(Transactions::Many(list.into_boxed_slice())),
        }
    }
}

/// One conversation the ledger remembers: 36 bytes, for millions of them (packed to a
/// 4-byte alignment, so fields are read by value, never by reference). Late-data details
/// (transactions) live in a side table, only for the few that have some.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[repr(C, packed(4))]
pub(super) struct Record {
    pub(super) id: Id128,
    pub(super) closed_at: UnixMillis,
    pub(super) duration: WindowDuration,
    /// Index in `Ledger::series`.
    pub(super) series: u32,
    /// 1..=5, or [`NO_ANSWER`].
    pub(super) csat: u8,
    /// 0..=10, or [`NO_ANSWER`].
    pub(super) nps: u8,
    /// A bit per [`InvalidReason`] already counted, plus [`COUNTED`] and
    /// [`HAS_TRANSACTIONS`].
    pub(super) flags: u16,
}

/// A conversation's duration as the window needs it, in 4 bytes: milliseconds below 2^31
/// (24.8 days, exact to the millisecond), whole seconds above, `u32::MAX` when unknown.
/// The cumulative histogram is fed the exact value when the conversation is first read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct WindowDuration(u32);

impl WindowDuration {
    const UNKNOWN: WindowDuration = WindowDuration(u32::MAX);
    const SECONDS: u32 = 1 << 31;

    pub(super) fn new(seconds: Option<f64>) -> Self {
        let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
            return Self::UNKNOWN;
        };
        let millis = (seconds * 1000.0).round();
        if millis < f64::from(Self::SECONDS) {
            return WindowDuration(millis as u32);
        }
        // `as` saturates: beyond 68 years the duration reads as 68 years.
        let whole = (seconds.round() as u32).min(Self::SECONDS - 2);
        WindowDuration(Self::SECONDS | whole)
    }

    pub(super) fn seconds(self) -> Option<f64> {
        match self.0 {
            u32::MAX => None,
            v if v & Self::SECONDS != 0 => Some(f64::from(v & !Self::SECONDS)),
            v => Some(f64::from(v) / 1000.0),
        }
    }
}

pub(super) const NO_ANSWER: u8 = u8::MAX;
/// Closed at or after counting started: counted, not only in the window.
pub(super) const COUNTED: u16 = 1 << 14;
/// Has an entry in `Ledger::transactions`.
pub(super) const HAS_TRANSACTIONS: u16 = 1 << 15;

pub(super) fn answer(score: u8) -> Option<u8> {
    (score != NO_ANSWER).then_some(score)
}

/// A record that was skipped whole: remembered only to count its rejection once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Skipped {
    pub(super) invalid_seen: u16,
    pub(super) first_seen: UnixMillis,
}

/// The tracked conversations: a vector of records and a hash index of positions into
/// it. Four bytes of index per slot instead of a whole record keeps a million
/// conversations near 50 bytes each, where a map of id to record needs twice that once
/// its table doubles.
#[derive(Clone, Default)]
pub(super) struct Records {
    list: Vec<Record>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("len", &self.list.len())
            .finish()
    }
}

impl Records {
    pub(super) fn from_list(list: Vec<Record>) -> Self {
        let mut records = Records {
            index: HashTable::with_capacity(list.len()),
            list: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        };
        records.list.reserve_exact(list.len());
        for record in list {
            if records.position(record.id).is_none() {
                records.push(record);
            }
        }
        records
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn as_slice(&self) -> &[Record] {
        &self.list
    }

    /// The record at `at`, by value: fields of a packed record cannot be borrowed.
    pub(super) fn get(&self, at: usize) -> Record {
        self.list[at]
    }

    /// Replace the record at `at` by one with the same id, which the index still finds.
    pub(super) fn set(&mut self, at: usize, record: Record) {
        self.list[at] = record;
    }

    pub(super) fn position(&self, id: Id128) -> Option<usize> {
        let list = &self.list;
        self.index
            .find(
                self.hasher.hash_one(id),
                |&at| { list[at as usize].id } == id,
            )
            .map(|&at| at as usize)
    }

    /// Add a record whose id is not there yet; returns its position.
    pub(super) fn push(&mut self, record: Record) -> usize {
        let at = self.list.len();
        if at == self.list.capacity() {
            // Grow by an eighth, not double: a million records would otherwise carry up
            // to 40 MB of spare capacity. Reallocating a large block is a remap, not a copy.
            self.list.reserve_exact((at / 8).max(1024));
        }
        self.list.push(record);
        let (list, hasher) = (&self.list, &self.hasher);
        self.index
            .insert_unique(hasher.hash_one(record.id), at as u32, |&i| {
                hasher.hash_one(list[i as usize].id)
            });
        at
    }

    /// Remove the record at `at`; the last record takes its place.
    pub(super) fn swap_remove(&mut self, at: usize) -> Record {
        let removed = self.list[at];
        let last = self.list.len() - 1;
        if let Ok(entry) = self
            .index
            .find_entry(self.hasher.hash_one(removed.id), |&i| i as usize == at)
        {
            entry.remove();
        }
        if at != last {
            let moved = self.list[last].id;
            if let Some(slot) = self
                .index
                .find_mut(self.hasher.hash_one(moved), |&i| i as usize == last)
            {
                *slot = at as u32;
            }
        }
        self.list.swap_remove(at);
        removed
    }

    /// Remove every record from `len` on: those a failed pass added, newest last.
    pub(super) fn truncate(&mut self, len: usize) {
        while self.list.len() > len {
            let at = self.list.len() - 1;
            self.swap_remove(at);
        }
    }
}

/// The flag of a rejection reason, in [`Record::flags`] and [`Skipped::invalid_seen`].
pub(super) fn reason_bit(reason: InvalidReason) -> u16 {
    let index = InvalidReason::ALL
        .iter()
        .position(|&r| r == reason)
        .unwrap_or(0);
    1 << index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_transactions_stay_small() {
        assert_eq!(std::mem::size_of::<Record>(), 36);
        assert_eq!(std::mem::size_of::<Transactions>(), 32);
    }

    #[test]
    fn window_durations_keep_milliseconds_then_seconds() {
        let round_trip = |s: f64| WindowDuration::new(Some(s)).seconds();
        assert_eq!(round_trip(0.0), Some(0.0));
        assert_eq!(round_trip(754.0), Some(754.0));
        assert_eq!(round_trip(1800.123), Some(1800.123));
        assert_eq!(round_trip(0.0004), Some(0.0), "below a millisecond");
        // 24.8 days is the last duration kept to the millisecond.
        assert_eq!(round_trip(2_147_483.647), Some(2_147_483.647));
        assert_eq!(round_trip(2_147_484.4), Some(2_147_484.0));
        assert_eq!(round_trip(90.0 * 86_400.0), Some(90.0 * 86_400.0));
        assert_eq!(WindowDuration::new(None).seconds(), None);
        assert_eq!(WindowDuration::new(Some(f64::NAN)).seconds(), None);
        assert_eq!(WindowDuration::new(Some(-1.0)).seconds(), None);
    }
}
