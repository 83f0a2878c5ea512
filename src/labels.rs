//! Label values per METRICS.md: channel and tag normalisation, which tags are counted, and
//! the caps that keep channel, currency and tag cardinality bounded.
//!
//! It lives apart from `metrics.rs` because the ledger must fix a conversation's labels
//! when it first counts it: a survey answer or transaction that arrives later is counted
//! under those same labels, even if the cap has filled up in between.

use std::collections::HashMap;

/// The value that stands for every channel or currency past the cap.
pub const OTHER: &str = "other";
/// The channel label of an empty or missing channel.
pub const UNKNOWN_CHANNEL: &str = "unknown";

/// Longest label value, in characters, as METRICS.md bounds tags: a channel name from the
/// API is cut there, so a 10 KB channel cannot make a 10 KB label on every series.
pub const MAX_LABEL_CHARS: usize = 64;

/// `CHAT` -> `chat`; every character outside `[a-z0-9_]` becomes `_`; empty -> `unknown`;
/// at most [`MAX_LABEL_CHARS`] characters (two names alike in their first 64 share a
/// label).
pub fn normalise_channel(raw: &str) -> String {
    if raw.is_empty() {
        return UNKNOWN_CHANNEL.to_owned();
    }
    raw.chars()
        .take(MAX_LABEL_CHARS)
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `tag` label of a tag's `name`: trimmed, each run of white space one space, at most
/// [`MAX_LABEL_CHARS`] characters. Empty when the name is only white space.
pub fn normalise_tag(raw: &str) -> String {
    let mut label = String::with_capacity(raw.len().min(4 * MAX_LABEL_CHARS));
    let mut chars = 0;
    for word in raw.split_whitespace() {
        if chars > 0 {
            if chars == MAX_LABEL_CHARS {
                break;
            }
            label.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars == MAX_LABEL_CHARS {
                break;
            }
            label.push(c);
            chars += 1;
        }
    }
    label
}

/// `--metrics.tags`: which tags are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TagFilter {
    /// No tag metrics, and `tags` is not asked for.
    #[default]
    Off,
    /// Every tag, up to the cap.
    All,
    /// The tags whose normalised name equals one of these without regard to case: each
    /// entry normalised like the label, then lower-cased.
    List(Vec<String>),
}

impl TagFilter {
    /// A filter of the named tags; empty entries are left out, and no entry leaves the
    /// filter off.
    pub fn list<S: AsRef<str>>(names: &[S]) -> Self {
        let mut keys: Vec<String> = Vec::new();
        for name in names {
            let key = normalise_tag(name.as_ref()).to_lowercase();
            if !key.is_empty() && !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            TagFilter::Off
        } else {
            TagFilter::List(keys)
        }
    }

    pub fn is_on(&self) -> bool {
        *self != TagFilter::Off
    }

    /// Whether a tag of this label (already normalised) is counted.
    pub fn counts(&self, label: &str) -> bool {
        match self {
            TagFilter::Off => false,
            TagFilter::All => !label.is_empty(),
            TagFilter::List(keys) => {
                let key = label.to_lowercase();
                keys.contains(&key)
            }
        }
    }

    /// The most distinct `tag` values: `--metrics.max-tags`, but with a list never fewer
    /// than its entries, so a list longer than the cap still gets a series per name.
    /// Spelling variants of listed names (`Livraison`, `livraison`) share the cap.
    pub fn cap(&self, max_tags: usize) -> usize {
        match self {
            TagFilter::List(keys) => max_tags.max(keys.len()),
            _ => max_tags,
        }
    }
}

/// Index of a label value inside a [`CappedLabels`].
pub type LabelId = u16;

/// A first-come set of label values with a cap: the first `cap` distinct values keep
/// their name, later ones share [`OTHER`]. Ids are stable for the exporter's life.
#[derive(Debug, Clone)]
pub struct CappedLabels {
    cap: usize,
    names: Vec<String>,
    ids: HashMap<String, LabelId>,
    other: Option<LabelId>,
}

impl CappedLabels {
    pub fn new(cap: usize) -> Self {
        CappedLabels {
            // LabelId is u16; one slot is kept for `other`.
            cap: cap.min(usize::from(LabelId::MAX) - 1),
            names: Vec::new(),
            ids: HashMap::new(),
            other: None,
        }
    }

    /// Label values restored from a state file, ids kept: they are referenced by the
    /// ledger. When the cap was lowered since, the values already there stay.
    pub fn from_names(cap: usize, names: Vec<String>) -> Self {
        let mut labels = CappedLabels::new(cap);
        for name in names {
            let id = LabelId::try_from(labels.names.len()).unwrap_or(LabelId::MAX);
            if name == OTHER {
                labels.other = Some(id);
            }
            labels.ids.insert(name.clone(), id);
            labels.names.push(name);
        }
        labels
    }

    /// The id of an already-normalised value, adding it while under the cap.
    pub fn id(&mut self, value: &str) -> LabelId {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let distinct = self.names.len() - usize::from(self.other.is_some());
        if distinct < self.cap && value != OTHER {
            return self.push(value);
        }
        match self.other {
            Some(id) => id,
            None => {
                let id = self.push(OTHER);
                self.other = Some(id);
                id
            }
        }
    }

    fn push(&mut self, value: &str) -> LabelId {
        // The cap keeps names.len() below LabelId::MAX.
        let id = LabelId::try_from(self.names.len()).unwrap_or(LabelId::MAX);
        self.names.push(value.to_owned());
        self.ids.insert(value.to_owned(), id);
        id
    }

    pub fn name(&self, id: LabelId) -> &str {
        self.names
            .get(usize::from(id))
            .map(String::as_str)
            .unwrap_or(OTHER)
    }

    /// Every value in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_normalised_as_metrics_md_says() {
        assert_eq!(normalise_channel("CHAT"), "chat");
        assert_eq!(
            normalise_channel("FACEBOOK_BUSINESS_ON_MESSENGER"),
            "facebook_business_on_messenger"
        );
        assert_eq!(normalise_channel(""), "unknown");
        assert_eq!(
            normalise_channel("Apple Business-Chat 2"),
            "apple_business_chat_2"
        );
        assert_eq!(normalise_channel("ÉTÉ"), "_t_");
        // A 10 KB channel name: the label keeps 64 characters.
        let huge = "W".repeat(10_000);
        assert_eq!(normalise_channel(&huge), "w".repeat(64));
    }

    #[test]
    fn tags_are_normalised_as_metrics_md_says() {
        assert_eq!(normalise_tag("  Retour   produit "), "Retour produit");
        assert_eq!(normalise_tag("Réclamation"), "Réclamation");
        assert_eq!(normalise_tag("a\t\nb"), "a b");
        assert_eq!(normalise_tag(" \t "), "");
        let long = "Demande de remboursement suite à une commande livrée incomplète ou endommagée";
        let label = normalise_tag(long);
        assert_eq!(label.chars().count(), 64);
        assert_eq!(
            label,
            "Demande de remboursement suite à une commande livrée incomplète "
        );
        // The cut comes right after a word: no space follows it.
        assert_eq!(
            normalise_tag(&format!("{} x", "a".repeat(64))),
            "a".repeat(64)
        );
        assert_eq!(normalise_tag(&"é".repeat(100)), "é".repeat(64));
    }

    #[test]
    fn tag_filters_match_without_regard_to_case() {
        let list = TagFilter::list(&[" livraison ", "VIP", "", "Retour  produit", "vip"]);
        assert_eq!(
            list,
            TagFilter::List(vec![
                "livraison".into(),
                "vip".into(),
                "retour produit".into()
            ])
        );
        assert!(list.counts("Livraison"));
        assert!(list.counts("LIVRAISON"));
        assert!(list.counts("Retour produit"));
        assert!(!list.counts("sales"));
        assert!(TagFilter::list(&["RÉCLAMATION"]).counts("réclamation"));
        assert_eq!(TagFilter::list(&["", " "]), TagFilter::Off);
        assert!(!TagFilter::Off.counts("VIP"));
        assert!(TagFilter::All.counts("anything"));
        assert!(!TagFilter::All.counts(""));
        assert_eq!(TagFilter::All.cap(50), 50);
        assert_eq!(list.cap(2), 3);
    }

    #[test]
    fn values_past_the_cap_become_other() {
        let mut l = CappedLabels::new(2);
        let a = l.id("chat");
        let b = l.id("call");
        let c = l.id("video");
        let d = l.id("sms");
        assert_ne!(a, b);
        assert_eq!(c, d);
        assert_eq!(l.name(c), "other");
        assert_eq!(l.id("chat"), a, "a value under the cap keeps its id");
        assert_eq!(l.names(), ["chat", "call", "other"]);

        let mut restored = CappedLabels::from_names(2, l.names().to_vec());
        assert_eq!(restored.id("call"), b);
        assert_eq!(restored.id("whatsapp"), c, "still past the cap: other");
    }
}
