//! The poll families: whether the last poll of iAdvize succeeded, when, how long it took,
//! and how far the data it read reaches; and readiness, which a first success gives.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub(in crate::metrics) struct Poll {
    up: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    duration: Gauge<f64, AtomicU64>,
    polls: Counter,
    failures: Counter,
    watermark: Gauge<f64, AtomicU64>,
    /// Kept with the poll families because the outcome that sets `up` sets it too.
    ready: AtomicBool,
}

impl Poll {
    pub(in crate::metrics) fn register(registry: &mut Registry) -> Self {
        let up = Gauge::default();
        registry.register(
            "iadvize_up",
            "1 when the last poll of iAdvize succeeded, else 0",
            up.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll",
            last_success.clone(),
        );
        let duration = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_poll_duration_seconds",
            "How long the last poll took",
            duration.clone(),
        );
        let polls = Counter::default();
        registry.register("iadvize_polls", "Polls started", polls.clone());
        let failures = Counter::default();
        registry.register(
            "iadvize_poll_failures",
            "Polls that failed",
            failures.clone(),
        );
        let watermark = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_data_watermark_timestamp_seconds",
            "Close time up to which every conversation has been read",
            watermark.clone(),
        );
        Poll {
            up,
            last_success,
            duration,
            polls,
            failures,
            watermark,
            ready: AtomicBool::new(false),
        }
    }

    pub(in crate::metrics) fn started(&self) {
        self.polls.inc();
    }

    /// `now_seconds` is the poll's end, Unix time.
    pub(in crate::metrics) fn finished(&self, ok: bool, seconds: f64, now_seconds: f64) {
        self.duration.set(seconds);
        if ok {
            self.up.set(1);
            self.last_success.set(now_seconds);
            self.ready.store(true, Ordering::Relaxed);
        } else {
            self.up.set(0);
            self.failures.inc();
        }
    }

    pub(in crate::metrics) fn set_watermark(&self, unix_seconds: f64) {
        self.watermark.set(unix_seconds);
    }

    pub(in crate::metrics) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
