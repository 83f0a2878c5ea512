//! Which times get a sample, which intervals are read from iAdvize, and how a page read
//! for a whole slice is split among the samples of that slice.
//!
//! A sample at `t` holds what closed in `[from, t)`, so the ledger must have taken in
//! exactly that before `t` is encoded. The API is asked for slices of about an hour
//! (one request per step would be 12 times more at 5 minutes); each page is split by
//! close time among the slice's samples, and the ledger takes the parts in order.

use std::collections::HashMap;

use crate::iadvize::{Id128, Page, UnixMillis};

/// About what one read asks the API for: long enough to keep the requests few, short
/// enough that a slice's pages are a small part of the ledger's memory.
pub const SLICE_MS: i64 = 3_600_000;

/// `[from, to)` read in one go, and the sample times it ends: ascending, the last is `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub from: UnixMillis,
    pub to: UnixMillis,
    pub samples: Vec<UnixMillis>,
}

/// The sample times of `(from, to]`: every multiple of `step` (since the epoch, so they
/// fall where Prometheus evaluates a query at that step) and `to` itself, so that the
/// history ends at the state file's watermark.
pub fn sample_times(
    from: UnixMillis,
    to: UnixMillis,
    step_ms: i64,
) -> impl Iterator<Item = UnixMillis> {
    let step_ms = step_ms.max(1);
    let first = (from.div_euclid(step_ms) + 1).saturating_mul(step_ms);
    let aligned = (0..)
        .map(move |k: i64| first.saturating_add(k.saturating_mul(step_ms)))
        .take_while(move |t| *t < to);
    aligned.chain(std::iter::once(to))
}

/// The slices of `[from, to)`, in time order: consecutive samples grouped while they
/// span at most `slice_ms`, and at least one sample per slice.
pub fn slices(from: UnixMillis, to: UnixMillis, step_ms: i64, slice_ms: i64) -> Vec<Slice> {
    let mut out: Vec<Slice> = Vec::new();
    let mut start = from;
    let mut samples: Vec<UnixMillis> = Vec::new();
    for t in sample_times(from, to, step_ms) {
        if !samples.is_empty() && t - start > slice_ms {
            let end = samples[samples.len() - 1];
            out.push(Slice {
                from: start,
                to: end,
                samples: std::mem::take(&mut samples),
            });
            start = end;
        }
        samples.push(t);
    }
    if let Some(&end) = samples.last() {
        out.push(Slice {
            from: start,
            to: end,
            samples,
        });
    }
    out
}

/// Which sample first counts a conversation closed at `closed_at`: the first `t` after
/// it. What the API returns outside the slice goes to its nearest end.
fn sample_index(samples: &[UnixMillis], closed_at: UnixMillis) -> usize {
    samples
        .partition_point(|t| *t <= closed_at)
        .min(samples.len().saturating_sub(1))
}

/// `page` split into one page per sample of `samples`. A rejection goes with its
/// conversation; one without a counted conversation (a skipped record) with the first.
pub fn split(page: Page, samples: &[UnixMillis]) -> Vec<Page> {
    let mut parts: Vec<Page> = (0..samples.len().max(1))
        .map(|_| Page {
            channels: page.channels.clone(),
            project_names: page.project_names.clone(),
            ..Page::default()
        })
        .collect();
    let mut placed: HashMap<Id128, usize> = HashMap::with_capacity(page.conversations.len());
    for conversation in page.conversations {
        let at = sample_index(samples, conversation.closed_at);
        placed.insert(conversation.id, at);
        parts[at].records += 1;
        parts[at].conversations.push(conversation);
    }
    for rejection in page.rejections {
        let at = rejection
            .conversation_id
            .and_then(|id| placed.get(&id).copied())
            .unwrap_or(0);
        parts[at].rejections.push(rejection);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iadvize::{Conversation, InvalidReason, Rejection};

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    #[test]
    fn samples_fall_on_the_step_and_end_at_to() {
        let from = 10 * H + 7 * M;
        let to = 10 * H + 31 * M;
        let got: Vec<i64> = sample_times(from, to, 10 * M).collect();
        assert_eq!(
            got,
            vec![10 * H + 10 * M, 10 * H + 20 * M, 10 * H + 30 * M, to]
        );
        // `to` on the step is not written twice.
        let got: Vec<i64> = sample_times(from, 10 * H + 30 * M, 10 * M).collect();
        assert_eq!(got, vec![10 * H + 10 * M, 10 * H + 20 * M, 10 * H + 30 * M]);
    }

    #[test]
    fn slices_cover_the_range_end_to_end() {
        let from = 5 * M;
        let to = 3 * H + 2 * M;
        let slices = slices(from, to, 5 * M, H);
        assert_eq!(slices[0].from, from);
        assert_eq!(slices.last().unwrap().to, to);
        for pair in slices.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        for s in &slices {
            assert!(s.to - s.from <= H, "{s:?}");
            assert_eq!(*s.samples.last().unwrap(), s.to);
        }
        let all: Vec<i64> = slices.iter().flat_map(|s| s.samples.clone()).collect();
        assert_eq!(all, sample_times(from, to, 5 * M).collect::<Vec<_>>());
        // A step longer than a slice: one sample per slice.
        let long = super::slices(0, 3 * 86_400_000, 86_400_000, H);
        assert_eq!(long.len(), 3);
    }

    fn conversation(n: u64, closed_at: i64) -> Conversation {
        Conversation {
            id: Id128(0, n),
            id_text: None,
            project_id: 1,
            channel: 0,
            closed_at,
            duration_seconds: None,
            csat: None,
            nps: None,
            tags: Vec::new(),
            transactions: Vec::new(),
        }
    }

    #[test]
    fn a_page_splits_by_close_time() {
        let page = Page {
            conversations: vec![
                conversation(1, 9 * M),
                conversation(2, 10 * M),
                conversation(3, 25 * M),
                conversation(4, 31 * M),
            ],
            channels: vec!["chat".to_owned()],
            rejections: vec![
                Rejection {
                    reason: InvalidReason::BadCsat,
                    conversation_id: Some(Id128(0, 3)),
                },
                Rejection {
                    reason: InvalidReason::MissingProject,
                    conversation_id: Some(Id128(0, 99)),
                },
            ],
            records: 5,
            ..Page::default()
        };
        let parts = split(page, &[10 * M, 20 * M, 30 * M]);
        let ids = |p: &Page| p.conversations.iter().map(|c| c.id.1).collect::<Vec<_>>();
        // Closed before 10 min: the sample at 10 min counts it; at 10 min exactly, the next.
        assert_eq!(ids(&parts[0]), vec![1]);
        assert_eq!(ids(&parts[1]), vec![2]);
        assert_eq!(ids(&parts[2]), vec![3, 4]);
        assert_eq!(parts[2].rejections[0].reason, InvalidReason::BadCsat);
        assert_eq!(parts[0].rejections[0].reason, InvalidReason::MissingProject);
        assert!(parts.iter().all(|p| p.channels == ["chat"]));
    }
}
