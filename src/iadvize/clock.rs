//! iAdvize's clock, as the `Date` header of its answers tells it.
//!
//! iAdvize dates the conversations, so the intervals the exporter asks for, its window and
//! its watermark must be in iAdvize's time: with our clock hours off, every interval would
//! miss what closed. Between answers, iAdvize's time is the last anchoring `Date` plus
//! the time elapsed on our monotonic clock, so a step of our wall clock (NTP, a resumed
//! VM) moves nothing. A `Date` has a one-second resolution: an answer re-anchors the clock
//! only when it disagrees with the running estimate by more than [`RESYNC_MS`], which a
//! step of iAdvize's clock or a slow drift does, and the second's rounding never does.
//! Clocks within [`AGREE_MS`] of each other are taken to agree, and ours, precise to the
//! millisecond, is used: the `Date` cannot tell them apart.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::clock::Clock;

use super::model::UnixMillis;

/// Disagreement between an answer's `Date` and the running estimate that re-anchors
/// the estimate: past the `Date`'s own rounding (1 s) and a few hundred ms of latency.
pub const RESYNC_MS: i64 = 2_000;

/// A skew the `Date` cannot tell from none: its one-second rounding and some latency.
pub const AGREE_MS: i64 = 2_000;

/// A skew, or a change of skew, that is logged: beyond what NTP leaves between two
/// well-kept machines and what the one-second `Date` can tell.
pub const LOGGED_SKEW_MS: i64 = 10_000;

/// A `Date` this far from our clock is not believed: a broken proxy, not a clock. The
/// exporter then keeps to its current estimate (ours, if it has no other).
pub const MAX_BELIEVED_SKEW_MS: i64 = 24 * 3_600_000;

/// iAdvize's clock, estimated from the `Date` of its answers; ours until one has come.
pub struct IadvizeClock {
    ours: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    anchor: Option<Anchor>,
    /// The skew last logged (or first seen, when too small to log).
    logged_skew_ms: Option<i64>,
    /// Whether an unbelievable `Date` has been logged.
    logged_unbelievable: bool,
}

#[derive(Clone, Copy)]
struct Anchor {
    iadvize_ms: UnixMillis,
    at: Instant,
}

impl Anchor {
    fn at(&self, at: Instant) -> UnixMillis {
        let elapsed = at.saturating_duration_since(self.at).as_millis();
        self.iadvize_ms
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }
}

impl IadvizeClock {
    pub fn new(ours: Clock) -> Self {
        IadvizeClock {
            ours,
            state: Mutex::new(State::default()),
        }
    }

    /// Our wall clock: for what the exporter dates itself (polls, saves).
    pub fn ours(&self) -> UnixMillis {
        (self.ours)()
    }

    /// iAdvize's time now: what dates conversations.
    pub fn now(&self) -> UnixMillis {
        self.now_at(Instant::now())
    }

    fn now_at(&self, at: Instant) -> UnixMillis {
        let ours = self.ours();
        ours.saturating_add(self.applied_skew(ours, at))
    }

    /// What [`IadvizeClock::now`] adds to our clock: iAdvize's clock minus ours, or 0
    /// while the two agree (or iAdvize has not answered).
    pub fn applied_skew_ms(&self) -> i64 {
        self.applied_skew(self.ours(), Instant::now())
    }

    fn applied_skew(&self, ours: UnixMillis, at: Instant) -> i64 {
        match self.lock().anchor {
            Some(anchor) => {
                let skew = anchor.at(at).saturating_sub(ours);
                if skew.abs() <= AGREE_MS { 0 } else { skew }
            }
            None => 0,
        }
    }

    /// iAdvize's clock minus ours, in ms, as measured (also when within [`AGREE_MS`]);
    /// `None` until an answer carried a `Date`.
    pub fn skew_ms(&self) -> Option<i64> {
        let anchor = self.lock().anchor?;
        Some(anchor.at(Instant::now()) - self.ours())
    }

    /// An answer received at `received` carried `Date: date_ms`. Returns the skew (iAdvize
    /// minus ours, ms) once the answer is taken into account, or `None` when the `Date`
    /// is not believable.
    pub(crate) fn observe(&self, date_ms: UnixMillis, received: Instant) -> Option<i64> {
        // The server's time lies within the second the `Date` names: take its middle.
        let estimate = date_ms.saturating_add(500);
        let ours = self.ours();
        let mut state = self.lock();
        if estimate.saturating_sub(ours).abs() > MAX_BELIEVED_SKEW_MS {
            if !state.logged_unbelievable {
                state.logged_unbelievable = true;
                tracing::warn!(
                    date_seconds = date_ms / 1000,
                    ours_seconds = ours / 1000,
                    "iAdvize's answers carry a Date a day or more from our clock; not believed, intervals follow our own clock"
                );
            }
            return None;
        }
        let resync = state
            .anchor
            .is_none_or(|anchor| (anchor.at(received) - estimate).abs() > RESYNC_MS);
        if resync {
            state.anchor = Some(Anchor {
                iadvize_ms: estimate,
                at: received,
            });
        }
        let skew = state.anchor.map_or(0, |anchor| anchor.at(received)) - ours;
        match state.logged_skew_ms {
            None if skew.abs() < LOGGED_SKEW_MS => state.logged_skew_ms = Some(skew),
            Some(logged) if (skew - logged).abs() < LOGGED_SKEW_MS => {}
            _ => {
                state.logged_skew_ms = Some(skew);
                tracing::warn!(
                    skew_seconds = skew as f64 / 1000.0,
                    "iAdvize's clock and ours differ (iAdvize minus ours, from the Date of its answers); intervals, the window and the watermark follow iAdvize's clock"
                );
            }
        }
        Some(skew)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain values, valid whatever a panicking holder left.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    use super::*;

    const T0: UnixMillis = 1_800_000_000_000;

    fn steerable() -> (IadvizeClock, Arc<AtomicI64>) {
        let ours = Arc::new(AtomicI64::new(T0));
        let read = ours.clone();
        (
            IadvizeClock::new(Arc::new(move || read.load(Ordering::Relaxed))),
            ours,
        )
    }

    #[test]
    fn ours_until_iadvize_answers_then_iadvize_from_its_date() {
        let (clock, _) = steerable();
        assert_eq!(clock.now(), T0);
        assert_eq!(clock.skew_ms(), None);
        let received = Instant::now();
        // iAdvize three hours ahead: its Date names the second, the middle is taken.
        let skew = clock.observe(T0 + 3 * 3_600_000, received).unwrap();
        assert_eq!(skew, 3 * 3_600_000 + 500);
        assert_eq!(clock.now_at(received), T0 + 3 * 3_600_000 + 500);
        assert_eq!(
            clock.now_at(received + Duration::from_secs(7)),
            T0 + 3 * 3_600_000 + 7_500
        );
    }

    #[test]
    fn a_step_of_our_clock_moves_nothing() {
        let (clock, ours) = steerable();
        let received = Instant::now();
        clock.observe(T0, received);
        ours.store(T0 - 3_600_000, Ordering::Relaxed);
        assert_eq!(clock.now_at(received + Duration::from_secs(1)), T0 + 1_500);
        // Its skew is now an hour, and the next answer says so without moving the anchor.
        let skew = clock
            .observe(T0 + 1_000, received + Duration::from_secs(1))
            .unwrap();
        assert_eq!(skew, 3_600_000 + 1_500);
        assert_eq!(clock.now_at(received + Duration::from_secs(1)), T0 + 1_500);
    }

    #[test]
    fn the_rounding_of_a_date_keeps_the_anchor_and_a_step_of_iadvize_moves_it() {
        let (clock, _) = steerable();
        let received = Instant::now();
        clock.observe(T0, received);
        // 10.9 s later the Date still says 10 s: within the resync margin.
        let later = received + Duration::from_millis(10_900);
        clock.observe(T0 + 10_000, later);
        assert_eq!(clock.now_at(later), T0 + 11_400);
        // iAdvize's clock stepped back a minute.
        let step = received + Duration::from_secs(20);
        clock.observe(T0 + 20_000 - 60_000, step);
        assert_eq!(clock.now_at(step), T0 + 20_500 - 60_000);
    }

    #[test]
    fn clocks_a_second_apart_agree_and_ours_is_used() {
        let (clock, _) = steerable();
        let received = Instant::now();
        // iAdvize 1.2 s behind: below what a Date can tell.
        assert_eq!(clock.observe(T0 - 1_700, received), Some(-1_200));
        assert_eq!(clock.skew_ms().map(|s| s <= -1_200), Some(true));
        assert_eq!(clock.applied_skew_ms(), 0);
        assert_eq!(clock.now(), T0);
    }

    #[test]
    fn a_date_a_day_away_is_not_believed() {
        let (clock, _) = steerable();
        assert_eq!(clock.observe(T0 + 2 * 86_400_000, Instant::now()), None);
        assert_eq!(clock.now(), T0);
        assert_eq!(clock.skew_ms(), None);
    }
}
