//! The latest conversation counted into each bucket of each histogram series, so a
//! dashboard can go from a bucket to a conversation. One per bucket per series: bounded
//! by the series, whatever the traffic. Not kept across restarts.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::iadvize::{Conversation, Id128, UnixMillis};

use super::snapshot::{AmountKey, SeriesKey};

/// The longest id an exemplar carries: OpenMetrics bounds an exemplar's label names and
/// values to 128 characters together, and `conversation_id` takes 15 of them.
pub const MAX_ID_CHARS: usize = 128 - "conversation_id".len();

/// A conversation id as iAdvize sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationId {
    /// A canonical UUID, kept as its value.
    Uuid(Id128),
    /// Any other text.
    Text(Arc<str>),
}

impl ConversationId {
    /// The id of `c`, or `None` when it is too long for an exemplar.
    pub(super) fn of(c: &Conversation) -> Option<ConversationId> {
        match &c.id_text {
            None => Some(ConversationId::Uuid(c.id)),
            Some(text) if text.chars().count() <= MAX_ID_CHARS => {
                Some(ConversationId::Text(text.clone()))
            }
            Some(_) => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            ConversationId::Uuid(id) => id.uuid_text().unwrap_or_default(),
            ConversationId::Text(text) => text.to_string(),
        }
    }
}

/// One observation: which conversation, the value counted, and when the exporter
/// counted it (its own clock, the one Prometheus shows).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub conversation: ConversationId,
    pub value: f64,
    pub counted_at: UnixMillis,
}

/// Per series, one slot per bucket (the last is `+Inf`), as the histogram's `counts`.
pub type Slots = Vec<Option<Exemplar>>;

/// The exemplars of the four histograms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exemplars {
    pub duration: BTreeMap<SeriesKey, Slots>,
    pub csat: BTreeMap<SeriesKey, Slots>,
    pub nps: BTreeMap<SeriesKey, Slots>,
    pub amount: BTreeMap<AmountKey, Slots>,
}

/// Records `exemplar` in `slot` of `key`'s series, whose histogram has `buckets` slots.
pub(super) fn record<K: Ord>(
    series: &mut BTreeMap<K, Slots>,
    key: K,
    buckets: usize,
    slot: usize,
    exemplar: Exemplar,
) {
    let slots = series.entry(key).or_insert_with(|| vec![None; buckets]);
    if let Some(place) = slots.get_mut(slot) {
        *place = Some(exemplar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_comes_back_as_sent_and_other_text_as_kept() {
        let uuid = "0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b";
        let id = Id128::of(uuid);
        assert!(!id.is_hashed());
        assert_eq!(ConversationId::Uuid(id).text(), uuid);
        let other = Id128::of("conv-42");
        assert!(other.is_hashed());
        assert_eq!(other.uuid_text(), None);
        assert_eq!(ConversationId::Text(Arc::from("conv-42")).text(), "conv-42");
    }
}
