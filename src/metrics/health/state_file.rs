//! The state-file families: files found damaged at start-up, and saves that failed.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub(in crate::metrics) struct StateFile {
    corrupt: Counter,
    write_failures: Counter,
}

impl StateFile {
    pub(in crate::metrics) fn register(registry: &mut Registry) -> Self {
        let corrupt = Counter::default();
        registry.register(
            "iadvize_state_file_corrupt",
            "State files found damaged or foreign at start-up and moved aside",
            corrupt.clone(),
        );
        let write_failures = Counter::default();
        registry.register(
            "iadvize_state_file_write_failures",
            "Saves of the state file that failed",
            write_failures.clone(),
        );
        StateFile {
            corrupt,
            write_failures,
        }
    }

    pub(in crate::metrics) fn corrupt(&self) {
        self.corrupt.inc();
    }

    pub(in crate::metrics) fn write_failed(&self) {
        self.write_failures.inc();
    }
}
