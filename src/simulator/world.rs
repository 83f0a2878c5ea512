//! The account's data: generated traffic plus fixtures, and the paged search over them.
//!
//! Pages are ordered by a keyed hash of the conversation id, not by close time, and a
//! cursor is the last key served: the next page starts after it, so a client paging while
//! new data arrives sees every conversation that was there all along exactly once.
//!
//! The index: close time cut into one-minute chunks, each chunk's entries sorted by key.
//! A page merges the chunks its interval covers, in key order, and stops once it has its
//! conversations: its cost follows the page, not the number of conversations in range.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::RangeInclusive;

use super::record::ServedConversation;
use super::traffic::{GenConversation, Traffic, keyed_hash};
use super::truth::Tally;

/// The page order: a hash, with a unique number to break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SortKey {
    pub hash: u64,
    pub unique: u64,
}

/// Fixture keys live above every generated sequence number.
const FIXTURE_UNIQUE_BASE: u64 = 1 << 63;

/// Width of an index chunk, in real ms of close time.
const CHUNK_MS: i64 = 60_000;

impl SortKey {
    /// The opaque cursor.
    pub fn cursor(self) -> String {
        format!("{:016x}{:016x}", self.hash, self.unique)
    }

    pub fn from_cursor(cursor: &str) -> Option<SortKey> {
        if cursor.len() != 32 || !cursor.is_ascii() {
            return None;
        }
        let (hash, unique) = cursor.split_at(16);
        Some(SortKey {
            hash: u64::from_str_radix(hash, 16).ok()?,
            unique: u64::from_str_radix(unique, 16).ok()?,
        })
    }
}

/// Which conversations a query asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selection {
    /// Inclusive, Unix ms.
    pub from_ms: i64,
    /// Exclusive, Unix ms.
    pub to_ms: i64,
    pub project_ids: Option<Vec<i32>>,
    pub channels: Option<Vec<String>>,
    pub has_conversion: Option<bool>,
}

impl Selection {
    fn matches(&self, close_ms: i64, project: Option<i32>, channel: &str, converted: bool) -> bool {
        let in_interval = self.from_ms <= close_ms && close_ms < self.to_ms;
        let project_ok = match &self.project_ids {
            Some(ids) => project.is_some_and(|p| ids.contains(&p)),
            None => true,
        };
        let channel_ok = match &self.channels {
            Some(channels) => channels.iter().any(|c| c.eq_ignore_ascii_case(channel)),
            None => true,
        };
        let conversion_ok = self.has_conversion.is_none_or(|want| want == converted);
        in_interval && project_ok && channel_ok && conversion_ok
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub items: Vec<(SortKey, ServedConversation)>,
    pub has_next_page: bool,
}

/// A conversation posted to `/_sim/conversations`, served verbatim.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub close_ms: i64,
    pub conversation: ServedConversation,
}

/// Where an index entry points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Position in the generated conversations.
    Generated(usize),
    /// Position in the fixtures.
    Fixture(usize),
}

pub(crate) struct World {
    traffic: Traffic,
    /// Chunk number (close_ms / CHUNK_MS) -> entries sorted by key.
    chunks: BTreeMap<i64, Vec<(SortKey, Entry)>>,
    /// How many generated conversations are in `chunks`.
    indexed: usize,
    fixtures: Vec<Fixture>,
    /// Fixture entries sorted by key; few, so searched as one more stream.
    fixture_keys: Vec<(SortKey, Entry)>,
    /// Whether the schema has `Transaction.id`.
    with_transaction_id: bool,
}

impl World {
    pub fn new(traffic: Traffic, with_transaction_id: bool) -> Self {
        let mut world = World {
            traffic,
            chunks: BTreeMap::new(),
            indexed: 0,
            fixtures: Vec::new(),
            fixture_keys: Vec::new(),
            with_transaction_id,
        };
        world.index_new();
        world
    }

    #[cfg(test)]
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Whether [`World::generate_until`] would add anything.
    pub fn is_behind(&self, now_ms: i64) -> bool {
        self.traffic.is_behind(now_ms)
    }

    /// Generates (and indexes) every conversation closing up to `now_ms`.
    pub fn generate_until(&mut self, now_ms: i64, csat_bias: f64) {
        self.traffic.generate_until(now_ms, csat_bias);
        self.index_new();
    }

    fn index_new(&mut self) {
        let all = self.traffic.conversations();
        let mut touched = BTreeSet::new();
        for (position, c) in all.iter().enumerate().skip(self.indexed) {
            let chunk = c.close_ms.div_euclid(CHUNK_MS);
            self.chunks
                .entry(chunk)
                .or_default()
                .push((generated_key(c), Entry::Generated(position)));
            touched.insert(chunk);
        }
        self.indexed = all.len();
        for chunk in touched {
            if let Some(entries) = self.chunks.get_mut(&chunk) {
                entries.sort_unstable_by_key(|(key, _)| *key);
            }
        }
    }

    pub fn add_fixture(&mut self, close_ms: i64, conversation: ServedConversation) {
        let position = self.fixtures.len();
        let key = SortKey {
            hash: keyed_hash(self.traffic.params().seed, conversation.id.as_bytes()),
            unique: FIXTURE_UNIQUE_BASE + position as u64,
        };
        let at = self.fixture_keys.partition_point(|(k, _)| *k < key);
        self.fixture_keys
            .insert(at, (key, Entry::Fixture(position)));
        self.fixtures.push(Fixture {
            close_ms,
            conversation,
        });
    }

    /// Generated conversations closing in `[from_ms, to_ms)`, in no particular order.
    fn generated_in(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = &GenConversation> {
        let all = self.traffic.conversations();
        chunk_range(from_ms, to_ms)
            .map(|range| self.chunks.range(range))
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries.iter())
            .filter_map(move |(_, entry)| match entry {
                Entry::Generated(position) => all.get(*position),
                Entry::Fixture(_) => None,
            })
            .filter(move |c| from_ms <= c.close_ms && c.close_ms < to_ms)
    }

    /// Whether the entry is found by `selection` at `now_ms`.
    fn selects(&self, entry: Entry, selection: &Selection, now_ms: i64) -> bool {
        match entry {
            Entry::Generated(position) => {
                self.traffic.conversations().get(position).is_some_and(|c| {
                    c.is_indexed(now_ms)
                        && selection.matches(
                            c.close_ms,
                            c.project,
                            c.channel,
                            c.visible_transactions(now_ms).next().is_some(),
                        )
                })
            }
            Entry::Fixture(position) => self.fixtures.get(position).is_some_and(|f| {
                let c = &f.conversation;
                let converted = c
                    .conversions
                    .as_ref()
                    .is_some_and(|c| !c.transactions.is_empty());
                selection.matches(
                    f.close_ms,
                    c.project.as_ref().map(|p| p.id),
                    &c.channel,
                    converted,
                )
            }),
        }
    }

    fn served(&self, entry: Entry, now_ms: i64) -> Option<ServedConversation> {
        match entry {
            Entry::Generated(position) => self
                .traffic
                .conversations()
                .get(position)
                .map(|c| c.served(now_ms, self.with_transaction_id)),
            Entry::Fixture(position) => self.fixtures.get(position).map(|f| f.conversation.clone()),
        }
    }

    /// The page after `after` of the conversations `selection` finds at `now_ms`.
    pub fn page(
        &self,
        selection: &Selection,
        first: usize,
        after: Option<SortKey>,
        now_ms: i64,
    ) -> Page {
        let mut streams: Vec<&[(SortKey, Entry)]> = Vec::new();
        if let Some(range) = chunk_range(selection.from_ms, selection.to_ms) {
            streams.extend(self.chunks.range(range).map(|(_, e)| e.as_slice()));
            streams.push(&self.fixture_keys);
        }
        // The smallest unread key of every stream; popping gives keys in ascending order.
        let mut heads = BinaryHeap::new();
        for (stream, entries) in streams.iter().enumerate() {
            let position = after.map_or(0, |a| entries.partition_point(|(k, _)| *k <= a));
            if let Some((key, _)) = entries.get(position) {
                heads.push(Reverse((*key, stream, position)));
            }
        }
        let mut items = Vec::new();
        let mut has_next_page = false;
        while let Some(Reverse((key, stream, position))) = heads.pop() {
            let Some(entries) = streams.get(stream) else {
                continue;
            };
            if let Some((next, _)) = entries.get(position + 1) {
                heads.push(Reverse((*next, stream, position + 1)));
            }
            let Some((_, entry)) = entries.get(position) else {
                continue;
            };
            if !self.selects(*entry, selection, now_ms) {
                continue;
            }
            if items.len() == first {
                has_next_page = true;
                break;
            }
            if let Some(served) = self.served(*entry, now_ms) {
                items.push((key, served));
            }
        }
        Page {
            items,
            has_next_page,
        }
    }

    /// The truth over generated conversations closing in `[since_ms, until_ms)`, as
    /// visible at `now_ms`. Fixtures are left out: they are hand-made test input whose
    /// expected effect the test states itself.
    /// The generated conversation with this id, as served at `now_ms`, if indexed.
    pub fn find(&self, id: &str, now_ms: i64) -> Option<ServedConversation> {
        self.traffic
            .conversations()
            .iter()
            .filter(|c| c.is_indexed(now_ms))
            .map(|c| c.served(now_ms, self.with_transaction_id))
            .find(|c| c.id == id)
    }

    pub fn tally(&self, since_ms: i64, until_ms: i64, now_ms: i64) -> Tally {
        let mut tally = Tally::default();
        for c in self.generated_in(since_ms, until_ms) {
            if c.is_indexed(now_ms) {
                tally.add(&c.served(now_ms, self.with_transaction_id));
            }
        }
        tally
    }
}

fn generated_key(c: &GenConversation) -> SortKey {
    SortKey {
        hash: c.order_key,
        unique: c.seq,
    }
}

/// The chunks `[from_ms, to_ms)` touches; `None` when it is empty.
fn chunk_range(from_ms: i64, to_ms: i64) -> Option<RangeInclusive<i64>> {
    (from_ms < to_ms).then(|| from_ms.div_euclid(CHUNK_MS)..=(to_ms - 1).div_euclid(CHUNK_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::record::{ServedConversions, ServedProject};
    use crate::simulator::traffic::TrafficParams;
    use std::collections::HashSet;

    // 2024-05-01T12:00:00Z
    const START: i64 = 1_714_564_800_000;
    const MINUTE: i64 = 60_000;

    fn world(history_minutes: i64) -> World {
        let traffic = Traffic::new(TrafficParams {
            seed: 3,
            start_ms: START,
            speed: 1.0,
            rate_per_hour: 120.0,
            projects: vec![1001, 1002],
            history_ms: history_minutes * MINUTE,
            end_ms: None,
            index_lag_ms: 2_000,
            bad_record_rate: 0.0,
            max_transaction_delay_hours: 6.0,
        });
        World::new(traffic, true)
    }

    fn everything() -> Selection {
        Selection {
            from_ms: 0,
            to_ms: i64::MAX,
            ..Selection::default()
        }
    }

    fn fixture(id: &str, project: i32, channel: &str, converted: bool) -> ServedConversation {
        ServedConversation {
            id: id.to_string(),
            created_at: "2024-05-01T11:00:00Z".to_string(),
            closed_at: Some("2024-05-01T12:00:00Z".to_string()),
            channel: channel.to_string(),
            duration: None,
            project: Some(ServedProject {
                id: project,
                name: None,
            }),
            tags: Vec::new(),
            satisfaction_survey: None,
            conversions: converted.then(|| ServedConversions {
                transactions: vec![crate::simulator::record::ServedTransaction {
                    id: None,
                    amount: 1.0,
                    currency: "EUR".to_string(),
                    external_conversion_id: "x".to_string(),
                    received_at: "2024-05-01T12:00:00Z".to_string(),
                    visitor_date: "2024-05-01T12:00:00Z".to_string(),
                }],
            }),
        }
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let key = SortKey {
            hash: 0xdead_beef,
            unique: 42,
        };
        assert_eq!(SortKey::from_cursor(&key.cursor()), Some(key));
        assert_eq!(SortKey::from_cursor("nope"), None);
        assert_eq!(SortKey::from_cursor(&"z".repeat(32)), None);
        assert_eq!(SortKey::from_cursor(&"é".repeat(16)), None);
    }

    #[test]
    fn paging_while_data_arrives_serves_everything_present_exactly_once() {
        let mut world = world(20);
        world.generate_until(START, 0.0);
        let present: HashSet<String> = world
            .page(&everything(), usize::MAX, None, START)
            .items
            .into_iter()
            .map(|(_, c)| c.id)
            .collect();
        assert!(present.len() > 1000, "{}", present.len());

        let mut seen: Vec<String> = Vec::new();
        let mut after = None;
        let mut now = START;
        let mut pages = 0;
        loop {
            let page = world.page(&everything(), 100, after, now);
            assert!(page.items.len() <= 100);
            assert!(page.items.windows(2).all(|w| w[0].0 < w[1].0));
            seen.extend(page.items.iter().map(|(_, c)| c.id.clone()));
            pages += 1;
            if !page.has_next_page {
                break;
            }
            after = page.items.last().map(|(key, _)| *key);
            // New conversations close between two pages.
            now += 5_000;
            world.generate_until(now, 0.0);
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "a conversation was served twice");
        for id in &present {
            assert!(unique.contains(id), "{id} was never served");
        }
        assert!(pages > 10);
    }

    #[test]
    fn the_order_is_not_the_close_order() {
        let mut world = world(10);
        world.generate_until(START, 0.0);
        let page = world.page(&everything(), 100, None, START);
        let closes: Vec<i64> = page
            .items
            .iter()
            .map(|(key, _)| {
                world
                    .traffic()
                    .conversations()
                    .iter()
                    .find(|c| c.seq == key.unique)
                    .unwrap()
                    .close_ms
            })
            .collect();
        assert!(!closes.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn from_is_inclusive_and_to_exclusive() {
        let mut world = world(0);
        world.add_fixture(START - 1, fixture("before", 1, "CHAT", false));
        world.add_fixture(START, fixture("at-from", 1, "CHAT", false));
        world.add_fixture(START + MINUTE - 1, fixture("last-ms", 1, "CHAT", false));
        world.add_fixture(START + MINUTE, fixture("at-to", 1, "CHAT", false));
        let selection = Selection {
            from_ms: START,
            to_ms: START + MINUTE,
            ..Selection::default()
        };
        let mut ids: Vec<String> = world
            .page(&selection, 100, None, START + MINUTE)
            .items
            .into_iter()
            .map(|(_, c)| c.id)
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["at-from", "last-ms"]);
    }

    #[test]
    fn a_conversation_is_found_only_once_indexed() {
        let mut world = world(0);
        world.generate_until(START + MINUTE, 0.0);
        let c = world.traffic().conversations()[0].clone();
        let only = Selection {
            from_ms: c.close_ms,
            to_ms: c.close_ms + 1,
            ..Selection::default()
        };
        let found = |now| {
            world
                .page(&only, 100, None, now)
                .items
                .iter()
                .any(|(key, _)| key.unique == c.seq)
        };
        assert!(!found(c.close_ms + 1_999));
        assert!(found(c.close_ms + 2_000));
    }

    #[test]
    fn project_channel_and_conversion_filters() {
        let mut world = world(0);
        world.add_fixture(START, fixture("a", 1, "CHAT", true));
        world.add_fixture(START, fixture("b", 1, "CALL", false));
        world.add_fixture(START, fixture("c", 2, "CHAT", false));
        let ids = |selection: Selection| -> Vec<String> {
            let mut ids: Vec<String> = world
                .page(&selection, 100, None, START + MINUTE)
                .items
                .into_iter()
                .map(|(_, c)| c.id)
                .collect();
            ids.sort();
            ids
        };
        let base = Selection {
            from_ms: START,
            to_ms: START + 1,
            ..Selection::default()
        };
        assert_eq!(
            ids(Selection {
                project_ids: Some(vec![1]),
                ..base.clone()
            }),
            vec!["a", "b"]
        );
        assert_eq!(
            ids(Selection {
                channels: Some(vec!["CHAT".to_string()]),
                ..base.clone()
            }),
            vec!["a", "c"]
        );
        assert_eq!(
            ids(Selection {
                has_conversion: Some(true),
                ..base.clone()
            }),
            vec!["a"]
        );
        assert_eq!(
            ids(Selection {
                has_conversion: Some(false),
                project_ids: Some(vec![1, 2]),
                ..base.clone()
            }),
            vec!["b", "c"]
        );
    }

    #[test]
    fn the_truth_leaves_fixtures_out_and_counts_only_what_is_visible() {
        let mut world = world(10);
        world.generate_until(START, 0.0);
        world.add_fixture(START - MINUTE, fixture("f", 1001, "CHAT", false));
        let indexed = world
            .traffic()
            .conversations()
            .iter()
            .filter(|c| c.is_indexed(START))
            .count() as u64;
        let all = world.traffic().conversations().len() as u64;
        // Index lag 2 s at 2 a second: a few are not findable yet.
        assert!(indexed < all);
        let truth = world.tally(0, i64::MAX, START).into_truth(0.0, None);
        let counted: u64 = truth.conversations.iter().map(|r| r.count).sum();
        assert_eq!(counted, indexed);
    }
}
