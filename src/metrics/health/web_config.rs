//! The web config families: whether the last reload of `--web.config.file` was taken, and
//! when the version in force was read, as the exporter-toolkit's users know them.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub(in crate::metrics) struct WebConfig {
    last_reload_successful: Gauge,
    last_success: Gauge<f64, AtomicU64>,
}

impl WebConfig {
    pub(in crate::metrics) fn register(registry: &mut Registry) -> Self {
        let last_reload_successful = Gauge::default();
        // In force from the start: with no file, or a file read at start-up, nothing failed.
        last_reload_successful.set(1);
        registry.register(
            "iadvize_web_config_last_reload_successful",
            "1 when the last read of --web.config.file was put in force, 0 when it was refused and the previous version stays",
            last_reload_successful.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_web_config_last_reload_success_timestamp_seconds",
            "Unix time at which the web config in force was read",
            last_success.clone(),
        );
        WebConfig {
            last_reload_successful,
            last_success,
        }
    }

    pub(in crate::metrics) fn set(&self, successful: bool, success_seconds: f64) {
        self.last_reload_successful.set(i64::from(successful));
        self.last_success.set(success_seconds);
    }
}
