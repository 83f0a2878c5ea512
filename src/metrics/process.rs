//! The standard `process_*` families, read from `/proc`.

use std::sync::OnceLock;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::family::family;

/// The standard `process_*` metrics, read from `/proc/self` at each scrape (Linux only;
/// elsewhere they are left out).
#[derive(Debug)]
pub(super) struct ProcessCollector;

#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
}

/// `sysconf(_SC_CLK_TCK)` on every Linux architecture the exporter targets.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

fn page_size() -> f64 {
    4096.0
}

/// Parses `/proc/self/stat` (after the command name, which may contain spaces), with the
/// boot time from `/proc/stat`.
fn parse_proc_stat(stat: &str, boot_time_seconds: f64) -> Option<ProcessStats> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields after the name start at field 3 (state); utime is field 14.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / CLOCK_TICKS_PER_SECOND,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size(),
        start_time_seconds: boot_time_seconds + field(22)? / CLOCK_TICKS_PER_SECOND,
        open_fds: None,
        max_fds: None,
    })
}

/// Boot time, Unix seconds. Read once: it does not change, and the kernel writes all of
/// `/proc/stat` (every CPU's and interrupt's counters) for each read.
fn boot_time_seconds() -> Option<f64> {
    static BOOT_TIME: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT_TIME.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<f64>()
            .ok()
    })
}

fn read_process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut stats = parse_proc_stat(&stat, boot_time_seconds()?)?;
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    stats.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse::<f64>()
                .ok()
        });
    Some(stats)
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read_process_stats() else {
            return Ok(());
        };
        let no_labels = [("", ""); 0];
        let e = &mut encoder;
        family(
            e,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
            [(no_labels, ConstCounter::new(p.cpu_seconds))],
        )?;
        family(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricType::Gauge,
            [(no_labels, ConstGauge::new(p.resident_bytes))],
        )?;
        family(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            MetricType::Gauge,
            [(no_labels, ConstGauge::new(p.virtual_bytes))],
        )?;
        family(
            e,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            MetricType::Gauge,
            [(no_labels, ConstGauge::new(p.start_time_seconds))],
        )?;
        family(
            e,
            "process_open_fds",
            "Number of open file descriptors.",
            MetricType::Gauge,
            p.open_fds.map(|v| (no_labels, ConstGauge::new(v))),
        )?;
        family(
            e,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            MetricType::Gauge,
            p.max_fds.map(|v| (no_labels, ConstGauge::new(v))),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_parsed() {
        // Field 14/15 utime/stime = 250/50 ticks, 22 starttime = 1000 ticks,
        // 23 vsize = 8192000 bytes, 24 rss = 1000 pages.
        let stat = "42 (iadvize exp) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 8192000 1000 18446744073709551615";
        let p = parse_proc_stat(stat, 1_700_000_000.0).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
        assert_eq!(p.virtual_bytes, 8_192_000.0);
        assert_eq!(p.resident_bytes, 4_096_000.0);
    }
}
