//! Our wall clock, injected everywhere it is read so tests can steer it.
//!
//! It dates what the exporter itself does (polls, saves, exemplars). Conversations are
//! dated by iAdvize's clock, which [`crate::iadvize::IadvizeClock`] follows.

use std::sync::Arc;

/// Wall-clock time in Unix milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}
