//! Tags: which (conversation, tag) pairs have been counted, the tag counters and the
//! window's tag figures.
//!
//! Kept beside the records rather than in them: with `--metrics.tags` off this holds
//! nothing at all, and with it on a conversation without counted tags costs nothing. A
//! tagged conversation costs one map entry (its id and four 2-byte tag ids), a tag being
//! an index into one table of the names counted so far.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::iadvize::Id128;
use crate::labels::{CappedLabels, LabelId, TagFilter, normalise_tag};

/// Index of a distinct counted tag name in [`Tags::names`].
pub(super) type TagId = u16;

/// Tag ids kept inline per conversation; the rare conversation with more keeps the rest
/// in [`Tags::more`].
const SLOTS: usize = 4;
/// An unused slot.
const EMPTY: TagId = TagId::MAX;

/// Distinct tag names remembered in the exporter's life. Tag names are an account's
/// vocabulary, tens to hundreds; the bound only stops a flood of distinct names from
/// growing the table without end. A name past it is not counted.
pub(super) const MAX_TAG_NAMES: usize = 4096;

/// The label set of the tag series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TagKey {
    pub project_id: i64,
    /// Index in [`TagFigures::labels`].
    pub tag: LabelId,
}

/// The tag figures of a snapshot; `None` in the snapshot when tags are off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagFigures {
    /// The `tag` label values, by [`TagKey::tag`].
    pub labels: Vec<String>,
    /// `iadvize_conversation_tags_total`: (conversation, tag) pairs counted.
    pub totals: BTreeMap<TagKey, u64>,
    /// `iadvize_window_conversation_tags`: pairs of the conversations in the window.
    pub window: BTreeMap<TagKey, u64>,
}

impl TagFigures {
    pub fn label(&self, id: LabelId) -> &str {
        self.labels
            .get(usize::from(id))
            .map(String::as_str)
            .unwrap_or(crate::labels::OTHER)
    }
}

/// A conversation's tag entries before a change: its slots and its overflow, if any.
type OldEntry = (Id128, Option<[TagId; SLOTS]>, Option<Vec<TagId>>);

/// What a pass changed, to undo it.
#[derive(Debug, Clone)]
struct Checkpoint {
    labels: CappedLabels,
    names: usize,
    totals: BTreeMap<TagKey, u64>,
    /// Old values of the entries the pass changed, oldest first.
    changed: Vec<OldEntry>,
}

#[derive(Debug, Clone)]
pub(super) struct Tags {
    filter: TagFilter,
    labels: CappedLabels,
    /// Each distinct counted tag name (normalised, its own spelling) and its label, by
    /// [`TagId`]. Two names may share a label: `other`.
    names: Vec<(String, LabelId)>,
    ids: HashMap<String, TagId>,
    /// The counted tags of each tracked conversation that has any.
    carried: HashMap<Id128, [TagId; SLOTS]>,
    /// Tags past the fourth, for the few conversations with more.
    more: HashMap<Id128, Vec<TagId>>,
    totals: BTreeMap<TagKey, u64>,
    pass: Option<Checkpoint>,
}

/// What the state file keeps of the tags: the same fields, owned.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TagState {
    labels: Vec<String>,
    names: Vec<(String, LabelId)>,
    carried: HashMap<Id128, [TagId; SLOTS]>,
    more: HashMap<Id128, Vec<TagId>>,
    totals: BTreeMap<TagKey, u64>,
}

/// [`TagState`] borrowed for writing: field order and types must match it.
#[derive(Debug, Serialize)]
pub struct TagStateRef<'a> {
    labels: &'a [String],
    names: &'a [(String, LabelId)],
    carried: &'a HashMap<Id128, [TagId; SLOTS]>,
    more: &'a HashMap<Id128, Vec<TagId>>,
    totals: &'a BTreeMap<TagKey, u64>,
}

impl Tags {
    pub(super) fn new(filter: TagFilter, max_tags: usize) -> Self {
        Tags {
            labels: CappedLabels::new(filter.cap(max_tags)),
            filter,
            names: Vec::new(),
            ids: HashMap::new(),
            carried: HashMap::new(),
            more: HashMap::new(),
            totals: BTreeMap::new(),
            pass: None,
        }
    }

    /// Tags restored from a state file. With tags now off, the saved ones are dropped:
    /// off holds nothing. Tag ids past the name table can only come from a damaged file
    /// that still passed its checksum; they are dropped rather than trusted.
    pub(super) fn from_state(filter: TagFilter, max_tags: usize, state: TagState) -> Self {
        if !filter.is_on() {
            if !state.totals.is_empty() {
                tracing::warn!(
                    "--metrics.tags is off: the tag counts of the state file are dropped"
                );
            }
            return Tags::new(filter, max_tags);
        }
        let known = state.names.len().min(MAX_TAG_NAMES);
        let valid = |id: &TagId| usize::from(*id) < known;
        let mut names = state.names;
        names.truncate(known);
        let ids = names
            .iter()
            .enumerate()
            .map(|(at, (name, _))| (name.clone(), at as TagId))
            .collect();
        let carried = state
            .carried
            .into_iter()
            .map(|(id, slots)| (id, slots.map(|t| if valid(&t) { t } else { EMPTY })))
            .collect();
        let more = state
            .more
            .into_iter()
            .map(|(id, list)| (id, list.into_iter().filter(valid).collect()))
            .collect();
        Tags {
            labels: CappedLabels::from_names(filter.cap(max_tags), state.labels),
            filter,
            names,
            ids,
            carried,
            more,
            totals: state.totals,
            pass: None,
        }
    }

    pub(super) fn state(&self) -> TagStateRef<'_> {
        TagStateRef {
            labels: self.labels.names(),
            names: &self.names,
            carried: &self.carried,
            more: &self.more,
            totals: &self.totals,
        }
    }

    /// The counted tag of each name of a page, by the page's index; empty when tags are
    /// off. Names are normalised once per page, not once per conversation.
    pub(super) fn page_ids(&mut self, raw_names: &[String]) -> Vec<Option<TagId>> {
        if !self.filter.is_on() {
            return Vec::new();
        }
        raw_names.iter().map(|raw| self.intern(raw)).collect()
    }

    fn intern(&mut self, raw: &str) -> Option<TagId> {
        let name = normalise_tag(raw);
        if !self.filter.counts(&name) {
            return None;
        }
        if let Some(&id) = self.ids.get(&name) {
            return Some(id);
        }
        if self.names.len() >= MAX_TAG_NAMES {
            return None;
        }
        let id = self.names.len() as TagId;
        let label = self.labels.id(&name);
        self.ids.insert(name.clone(), id);
        self.names.push((name, label));
        Some(id)
    }

    pub(super) fn begin_pass(&mut self) {
        if self.pass.is_none() && self.filter.is_on() {
            self.pass = Some(Checkpoint {
                labels: self.labels.clone(),
                names: self.names.len(),
                totals: self.totals.clone(),
                changed: Vec::new(),
            });
        }
    }

    pub(super) fn commit(&mut self) {
        self.pass = None;
    }

    pub(super) fn rollback(&mut self) {
        let Some(pass) = self.pass.take() else {
            return;
        };
        for (id, slots, more) in pass.changed.into_iter().rev() {
            match slots {
                Some(slots) => self.carried.insert(id, slots),
                None => self.carried.remove(&id),
            };
            match more {
                Some(more) => self.more.insert(id, more),
                None => self.more.remove(&id),
            };
        }
        for (name, _) in self.names.drain(pass.names..) {
            self.ids.remove(&name);
        }
        self.labels = pass.labels;
        self.totals = pass.totals;
    }

    /// Remember the tags a conversation carries now; each pair not seen before is counted
    /// when `counted` (the conversation closed after counting started). Returns the new
    /// pairs.
    pub(super) fn carry(
        &mut self,
        conversation: Id128,
        project_id: i64,
        counted: bool,
        tags: impl IntoIterator<Item = TagId>,
    ) -> u64 {
        let mut new_pairs = 0;
        for tag in tags {
            if self.carries(conversation, tag) {
                continue;
            }
            if let Some(pass) = &mut self.pass {
                pass.changed.push((
                    conversation,
                    self.carried.get(&conversation).copied(),
                    self.more.get(&conversation).cloned(),
                ));
            }
            let slots = self.carried.entry(conversation).or_insert([EMPTY; SLOTS]);
            match slots.iter_mut().find(|t| **t == EMPTY) {
                Some(free) => *free = tag,
                None => self.more.entry(conversation).or_default().push(tag),
            }
            if counted && let Some((_, label)) = self.names.get(usize::from(tag)) {
                *self
                    .totals
                    .entry(TagKey {
                        project_id,
                        tag: *label,
                    })
                    .or_default() += 1;
            }
            new_pairs += 1;
        }
        new_pairs
    }

    fn carries(&self, conversation: Id128, tag: TagId) -> bool {
        self.carried
            .get(&conversation)
            .is_some_and(|slots| slots.contains(&tag))
            || self
                .more
                .get(&conversation)
                .is_some_and(|more| more.contains(&tag))
    }

    /// Forget a pruned conversation. Only between passes.
    pub(super) fn forget(&mut self, conversation: Id128) {
        if self.carried.remove(&conversation).is_some() {
            self.more.remove(&conversation);
        }
    }

    /// Add a conversation of the window to `window`, a pair per tag it carries.
    pub(super) fn add_to_window(
        &self,
        conversation: Id128,
        project_id: i64,
        window: &mut BTreeMap<TagKey, u64>,
    ) {
        let Some(slots) = self.carried.get(&conversation) else {
            return;
        };
        let more = self.more.get(&conversation).map_or(&[][..], Vec::as_slice);
        for tag in slots.iter().chain(more).filter(|t| **t != EMPTY) {
            if let Some((_, label)) = self.names.get(usize::from(*tag)) {
                *window
                    .entry(TagKey {
                        project_id,
                        tag: *label,
                    })
                    .or_default() += 1;
            }
        }
    }

    /// Whether nothing is remembered: the window needs no look-up per conversation.
    pub(super) fn carries_none(&self) -> bool {
        self.carried.is_empty()
    }

    pub(super) fn figures(&self, window: BTreeMap<TagKey, u64>) -> Option<TagFigures> {
        self.filter.is_on().then(|| TagFigures {
            labels: self.labels.names().to_vec(),
            totals: self.totals.clone(),
            window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn total(tags: &Tags, project_id: i64, label: &str) -> u64 {
        let figures = tags.figures(BTreeMap::new()).unwrap();
        figures
            .totals
            .iter()
            .filter(|(k, _)| k.project_id == project_id && figures.label(k.tag) == label)
            .map(|(_, v)| *v)
            .sum()
    }

    #[test]
    fn off_remembers_nothing() {
        let mut tags = Tags::new(TagFilter::Off, 50);
        assert!(tags.page_ids(&names(&["VIP"])).is_empty());
        assert_eq!(tags.figures(BTreeMap::new()), None);
        assert!(tags.carries_none());
    }

    #[test]
    fn a_pair_counts_once_and_a_late_tag_when_it_appears() {
        let mut tags = Tags::new(TagFilter::All, 50);
        let c = Id128::of("c");
        let ids = tags.page_ids(&names(&["VIP", " VIP ", "Livraison", "livraison", "  "]));
        // " VIP " is VIP; a blank name is no tag.
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[2], ids[3], "the label keeps each spelling");
        assert_eq!(ids[4], None);
        let [vip, livraison] = [ids[0].unwrap(), ids[2].unwrap()];
        assert_eq!(tags.carry(c, 1, true, [vip, vip]), 1);
        assert_eq!(tags.carry(c, 1, true, [vip]), 0, "read again");
        assert_eq!(tags.carry(c, 1, true, [vip, livraison]), 1, "a late tag");
        assert_eq!(total(&tags, 1, "VIP"), 1);
        assert_eq!(total(&tags, 1, "Livraison"), 1);
        // Not counted (closed before the start): remembered for the window only.
        let old = Id128::of("old");
        assert_eq!(tags.carry(old, 1, false, [vip]), 1);
        assert_eq!(total(&tags, 1, "VIP"), 1);
        let mut window = BTreeMap::new();
        tags.add_to_window(c, 1, &mut window);
        tags.add_to_window(old, 1, &mut window);
        assert_eq!(window.values().sum::<u64>(), 3);
    }

    #[test]
    fn a_list_matches_without_regard_to_case() {
        let mut tags = Tags::new(TagFilter::list(&["livraison"]), 50);
        let ids = tags.page_ids(&names(&["Livraison", "LIVRAISON", "VIP"]));
        assert!(ids[0].is_some() && ids[1].is_some());
        assert_eq!(ids[2], None);
    }

    #[test]
    fn tags_past_the_cap_add_to_other_pair_by_pair() {
        let mut tags = Tags::new(TagFilter::All, 1);
        let ids: Vec<TagId> = tags
            .page_ids(&names(&["a", "b", "c"]))
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let c = Id128::of("c");
        // Five tags: four inline, one on the side.
        let more = tags.page_ids(&names(&["d", "e"]));
        let all: Vec<TagId> = ids
            .iter()
            .copied()
            .chain(more.into_iter().flatten())
            .collect();
        assert_eq!(tags.carry(c, 7, true, all.clone()), 5);
        assert_eq!(tags.carry(c, 7, true, all), 0);
        assert_eq!(total(&tags, 7, "a"), 1);
        assert_eq!(
            total(&tags, 7, "other"),
            4,
            "b, c, d and e, each its own pair"
        );
        let mut window = BTreeMap::new();
        tags.add_to_window(c, 7, &mut window);
        assert_eq!(window.values().sum::<u64>(), 5);
        tags.forget(c);
        assert!(tags.carries_none());
        assert!(tags.more.is_empty());
    }

    #[test]
    fn a_rolled_back_pass_leaves_no_tag_behind() {
        let mut tags = Tags::new(TagFilter::All, 50);
        let c = Id128::of("c");
        let vip = tags.page_ids(&names(&["VIP"]))[0].unwrap();
        tags.carry(c, 1, true, [vip]);
        let before = tags.clone();
        tags.begin_pass();
        let new: Vec<TagId> = tags
            .page_ids(&names(&["a", "b", "c", "d", "e"]))
            .into_iter()
            .flatten()
            .collect();
        tags.carry(c, 1, true, new.clone());
        tags.carry(Id128::of("new"), 1, true, new);
        tags.rollback();
        assert_eq!(tags.names, before.names);
        assert_eq!(tags.ids, before.ids);
        assert_eq!(tags.carried, before.carried);
        assert_eq!(tags.more, before.more);
        assert_eq!(tags.totals, before.totals);
        assert_eq!(tags.labels.names(), before.labels.names());
    }

    fn saved(tags: &Tags) -> TagState {
        postcard::from_bytes(&postcard::to_stdvec(&tags.state()).unwrap()).unwrap()
    }

    #[test]
    fn a_saved_state_comes_back_and_off_drops_it() {
        let mut tags = Tags::new(TagFilter::All, 1);
        let ids: Vec<TagId> = tags
            .page_ids(&names(&["VIP", "a", "b", "c", "d"]))
            .into_iter()
            .flatten()
            .collect();
        let c = Id128::of("c");
        tags.carry(c, 1, true, ids.clone());
        let restored = Tags::from_state(TagFilter::All, 1, saved(&tags));
        assert_eq!(
            restored.figures(BTreeMap::new()),
            tags.figures(BTreeMap::new())
        );
        let mut restored = restored;
        assert_eq!(restored.carry(c, 1, true, ids), 0, "no pair counted twice");
        assert_eq!(total(&restored, 1, "other"), 4);

        let off = Tags::from_state(TagFilter::Off, 1, saved(&tags));
        assert_eq!(off.figures(BTreeMap::new()), None);
        assert!(off.carries_none() && off.names.is_empty());
    }

    #[test]
    fn past_the_name_table_nothing_is_counted() {
        let mut tags = Tags::new(TagFilter::All, 50);
        let many: Vec<String> = (0..MAX_TAG_NAMES).map(|i| format!("t{i}")).collect();
        assert!(tags.page_ids(&many).iter().all(Option::is_some));
        assert_eq!(tags.page_ids(&names(&["one more"])), vec![None]);
        assert!(
            tags.page_ids(&names(&["t1"]))[0].is_some(),
            "known names still count"
        );
    }
}
