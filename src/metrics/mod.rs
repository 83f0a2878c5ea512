//! [`Metrics`]: the poller publishes ledger snapshots to it, the web server scrapes it.
//!
//! Health metrics are live atomics the client and poller update, encoded at each scrape.
//! Business metrics come from the ledger's [`Snapshot`], which the poller publishes after
//! each pass: they only change then, so they are encoded (and compressed) once per
//! snapshot and format, and a scrape joins those shared bytes to its few live lines.
//! Swapping an `Arc` is the only lock a scrape and the poller ever share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use prometheus_client::registry::Registry;

use crate::iadvize::{ApiObserver, Endpoint, RetryReason};
use crate::ledger::Snapshot;

mod business;
mod exposition;
mod family;
mod gzip;
mod health;
mod histograms;
mod history;
mod process;

use business::Business;
pub use exposition::{Exposition, Format, ScrapeError};
use gzip::{Segment, gzip_member};
use health::Health;
pub use history::{HistoryEncoder, SERIES_LABEL_NAMES, check_history_label};
use process::ProcessCollector;

/// The exporter's metrics and readiness.
#[derive(Debug)]
pub struct Metrics {
    health: Health,
    /// `process_*`: live like `health`, but apart, so that it keeps its place after the
    /// business families.
    process: Registry,
    business: RwLock<Arc<Business>>,
    /// For each variant (format, gzip or not), the generation of the business figures
    /// it was last scraped from; 0 for never.
    served: [AtomicU64; VARIANTS],
}

/// Text and OpenMetrics, each plain or gzipped.
const VARIANTS: usize = 4;

fn variant(format: Format, gzip: bool) -> usize {
    format.index() * 2 + usize::from(gzip)
}

/// A variant scraped from one of the last this many snapshots is encoded by `publish`
/// before the next snapshot is swapped in. More than one, so that a poll that happens
/// to fall between two scrapes of the same scraper does not lose track of it.
const SERVED_RECENTLY: u64 = 3;

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut process = Registry::default();
        process.register_collector(Box::new(ProcessCollector));
        Metrics {
            health: Health::new(),
            process,
            business: RwLock::new(Arc::new(Business::new(0, None))),
            served: Default::default(),
        }
    }

    /// Every family for a scrape, in one string (tests, tools; the server uses
    /// [`Metrics::scrape`]).
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let body = self.scrape(format, false).map_err(|_| std::fmt::Error)?;
        String::from_utf8(body.to_vec()).map_err(|_| std::fmt::Error)
    }

    /// The body of a scrape: the health families live, then the business families of
    /// the latest snapshot, then `process_*` live, then the window summary (and `# EOF`).
    /// The order is that of one registry holding them all.
    pub fn scrape(&self, format: Format, gzip: bool) -> Result<Exposition, ScrapeError> {
        let business = self.business();
        self.served[variant(format, gzip)].store(business.generation, Ordering::Relaxed);
        let mut head = String::with_capacity(8 * 1024);
        let mut process = String::with_capacity(1024);
        format.encode_registry(&mut head, &self.health.registry)?;
        format.encode_registry(&mut process, &self.process)?;
        if gzip {
            let cached = business.compressed(format)?;
            let head = Segment::stored(head.as_bytes());
            let process = Segment::stored(process.as_bytes());
            Ok(gzip_member(&[
                &head,
                &cached.families,
                &process,
                &cached.summary,
            ]))
        } else {
            let cached = business.encoded(format)?;
            Ok(Exposition::new(
                [
                    Bytes::from(head),
                    cached.families.clone(),
                    Bytes::from(process),
                    cached.summary.clone(),
                ],
                false,
            ))
        }
    }

    /// Replace the business figures a scrape shows. What scrapers asked for lately is
    /// encoded here, by the poller, so that their scrapes only join bytes; anything else
    /// is encoded by the first scrape that wants it.
    pub fn publish(&self, snapshot: Snapshot) {
        let generation = self.business().generation + 1;
        let next = Business::new(generation, Some(Arc::new(snapshot)));
        for format in [Format::Text, Format::OpenMetrics] {
            let recent = |gzip: bool| {
                let served = self.served[variant(format, gzip)].load(Ordering::Relaxed);
                served > 0 && served + SERVED_RECENTLY >= generation
            };
            // An error here is met again, and reported, by the scrape.
            if recent(true) {
                let _ = next.compressed(format);
            } else if recent(false) {
                let _ = next.encoded(format);
            }
        }
        let previous = match self.business.write() {
            Ok(mut guard) => std::mem::replace(&mut *guard, Arc::new(next)),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), Arc::new(next)),
        };
        // The old encodings are freed here, outside the lock, unless a scrape still holds them.
        drop(previous);
    }

    fn business(&self) -> Arc<Business> {
        match self.business.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn poll_started(&self) {
        self.health.poll.started();
    }

    /// A poll finished; `now_seconds` is its end, Unix time.
    pub fn poll_finished(&self, ok: bool, seconds: f64, now_seconds: f64) {
        self.health.poll.finished(ok, seconds, now_seconds);
    }

    pub fn set_watermark(&self, unix_seconds: f64) {
        self.health.poll.set_watermark(unix_seconds);
    }

    pub fn conversations_fetched(&self, records: u64) {
        self.health.api.conversations_fetched(records);
    }

    pub fn state_file_corrupt(&self) {
        self.health.state_file.corrupt();
    }

    pub fn state_write_failed(&self) {
        self.health.state_file.write_failed();
    }

    /// How the last read of the web config went, and when the version in force was read.
    pub fn web_config_reloaded(&self, successful: bool, success_seconds: f64) {
        self.health.web_config.set(successful, success_seconds);
    }

    /// Whether a first poll has succeeded (`/-/ready`).
    pub fn is_ready(&self) -> bool {
        self.health.poll.is_ready()
    }
}

impl ApiObserver for Metrics {
    fn request(&self, endpoint: Endpoint, status: Option<u16>, seconds: f64) {
        self.health.api.request(endpoint, status, seconds);
    }

    fn retry(&self, endpoint: Endpoint, reason: RetryReason) {
        self.health.api.retry(endpoint, reason);
    }

    fn login(&self, expires_at_unix_seconds: f64) {
        self.health.api.login(expires_at_unix_seconds);
    }

    fn backoff_until(&self, unix_seconds: f64) {
        self.health.api.backoff_until(unix_seconds);
    }

    fn clock_skew(&self, seconds: f64) {
        self.health.api.clock_skew(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::gzip::tests::gunzip;
    use super::*;
    use crate::iadvize::{
        Conversation, Currency, Id128, InvalidReason, Page, Rejection, Transaction,
    };
    use crate::ledger::{Ledger, LedgerConfig};

    const START: i64 = 1_700_000_000_000;

    /// A fixed state: two channels, one late transaction, one rejected CSAT, one record
    /// skipped for its missing project, tags (one with a quote, one past the cap of 2).
    fn fixed_metrics() -> Metrics {
        let metrics = Metrics::new();
        metrics.publish(fixed_snapshot());
        metrics.poll_started();
        metrics.poll_finished(true, 0.25, 1_700_000_180.0);
        metrics.set_watermark(1_700_000_180.0);
        metrics.conversations_fetched(3);
        metrics.request(Endpoint::Token, Some(200), 0.02);
        metrics.request(Endpoint::Graphql, Some(503), 0.2);
        metrics.retry(Endpoint::Graphql, RetryReason::ServerError);
        metrics.request(Endpoint::Graphql, Some(200), 0.3);
        metrics.login(1_700_086_400.0);
        metrics
    }

    /// The business state of [`fixed_metrics`]; the chat conversation's id is a UUID,
    /// the call's is not, and exemplars are dated 5 s after iAdvize's clock.
    fn fixed_snapshot() -> crate::ledger::Snapshot {
        let mut ledger = Ledger::new(
            LedgerConfig {
                window_ms: 3_600_000,
                duration_bounds: vec![60.0, 600.0],
                amount_bounds: vec![50.0, 500.0],
                max_channels: 32,
                max_currencies: 16,
                tags: crate::labels::TagFilter::All,
                max_tags: 2,
            },
            START,
        );
        let chat = Conversation {
            id: Id128::of("0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b"),
            id_text: None,
            project_id: 1001,
            channel: 0,
            closed_at: START + 60_000,
            duration_seconds: Some(754.0),
            csat: Some(4),
            nps: Some(9),
            transactions: vec![Transaction {
                key: Id128::of("t1"),
                amount: 120.0,
                currency: Currency(*b"EUR"),
            }],
            tags: vec![0, 1],
        };
        let call = Conversation {
            id: Id128::of("c2"),
            id_text: Some("c2".into()),
            project_id: 1002,
            channel: 1,
            closed_at: START + 120_000,
            duration_seconds: Some(45.5),
            csat: None,
            nps: None,
            transactions: vec![],
            tags: vec![1, 2, 3],
        };
        let page = Page {
            conversations: vec![chat, call],
            channels: vec!["CHAT".into(), "CALL".into()],
            rejections: vec![
                Rejection {
                    reason: InvalidReason::BadCsat,
                    conversation_id: Some(Id128::of("c2")),
                },
                Rejection {
                    reason: InvalidReason::MissingProject,
                    conversation_id: Some(Id128::of("c3")),
                },
            ],
            records: 3,
            has_next_page: false,
            end_cursor: None,
            // A quote the label must escape, and a project without a name.
            project_names: vec![(1001, Some("Online shop \"EU\"".into())), (1002, None)],
            tags: vec![
                "Réclamation".into(),
                " Livraison  \"express\"".into(),
                "VIP".into(),
                "Retour".into(),
            ],
        };
        ledger.apply_page_at(&page, START + 180_000, START + 185_123);
        ledger.commit();
        ledger.snapshot(START + 180_000)
    }

    /// The histogram families, as `(family, lines)`, of an OpenMetrics body.
    fn histogram_families(body: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut current: Option<(String, Vec<String>)> = None;
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                out.extend(current.take());
                current = Some((rest.split(' ').next().unwrap().to_owned(), Vec::new()));
            }
            if let Some((_, lines)) = &mut current {
                lines.push(line.to_owned());
            }
        }
        out.extend(current);
        out.retain(|(_, lines)| lines.iter().any(|l| l.ends_with(" histogram")));
        out.sort();
        out
    }

    #[test]
    fn revenue_and_duration_sums_carry_no_float_noise() {
        let mut ledger = Ledger::new(
            LedgerConfig {
                window_ms: 3_600_000,
                duration_bounds: vec![60.0],
                amount_bounds: vec![50.0],
                max_channels: 32,
                max_currencies: 16,
                tags: crate::labels::TagFilter::Off,
                max_tags: 50,
            },
            START,
        );
        // 0.1 + 0.2 and 0.1 + 0.2 + 19.99 + 876.91 are not what binary floats add up to.
        let conversation =
            |id: &str, at: i64, duration: f64, amounts: &[(&str, f64)]| Conversation {
                id: Id128::of(id),
                id_text: Some(id.into()),
                project_id: 1001,
                channel: 0,
                closed_at: START + at,
                duration_seconds: Some(duration),
                csat: None,
                nps: None,
                tags: Vec::new(),
                transactions: amounts
                    .iter()
                    .map(|(key, amount)| Transaction {
                        key: Id128::of(key),
                        amount: *amount,
                        currency: Currency(*b"EUR"),
                    })
                    .collect(),
            };
        assert_ne!(0.1 + 0.2, 0.3);
        assert_ne!(0.1 + 0.2 + 19.99 + 876.91, 897.2);
        let page = Page {
            conversations: vec![
                conversation("a", 1_000, 0.1, &[("t1", 0.1), ("t2", 0.2)]),
                conversation("b", 2_000, 0.2, &[("t3", 19.99), ("t4", 876.91)]),
            ],
            channels: vec!["CHAT".into()],
            records: 2,
            ..Page::default()
        };
        ledger.apply(&[page], START + 3_000);
        let metrics = Metrics::new();
        metrics.publish(ledger.snapshot(START + 3_000));
        for format in [Format::Text, Format::OpenMetrics] {
            let body = metrics.encode(format).unwrap();
            for (name, sum) in [
                ("iadvize_transaction_amount_sum", "897.2"),
                ("iadvize_window_transaction_amount", "897.2"),
                ("iadvize_conversation_duration_seconds_sum", "0.3"),
                ("iadvize_window_conversation_duration_seconds_sum", "0.3"),
            ] {
                let line = body
                    .lines()
                    .find(|l| l.starts_with(&format!("{name}{{")))
                    .unwrap_or_else(|| panic!("no {name} in {body}"));
                assert!(line.ends_with(&format!(" {sum}")), "{format:?}: {line}");
            }
        }
    }

    #[test]
    fn openmetrics_histograms_are_prometheus_clients_plus_exemplars() {
        let snapshot = Arc::new(fixed_snapshot());
        let theirs = histogram_families(&business::openmetrics_by_prometheus_client(
            snapshot.clone(),
        ));
        let metrics = Metrics::new();
        metrics.publish((*snapshot).clone());
        let body = metrics.encode(Format::OpenMetrics).unwrap();
        let ours = histogram_families(&body);
        assert_eq!(ours.len(), 4, "{body}");
        let without_exemplars: Vec<(String, Vec<String>)> = ours
            .iter()
            .map(|(name, lines)| {
                let lines = lines
                    .iter()
                    .map(|l| l.split(" # {").next().unwrap().to_owned())
                    .collect();
                (name.clone(), lines)
            })
            .collect();
        assert_eq!(without_exemplars, theirs);
        // Each bucket that counted something, and only those, carries the latest
        // conversation counted into it, its value, and when the exporter counted it.
        let lines: Vec<&String> = ours.iter().flat_map(|(_, l)| l).collect();
        let with = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
        assert_eq!(with(" # {"), 5, "{body}");
        assert!(lines.iter().any(|l| l.as_str()
            == "iadvize_conversation_duration_seconds_bucket{le=\"+Inf\",project_id=\"1001\",channel=\"chat\"} 1 # {conversation_id=\"0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b\"} 754.0 1700000185.123"), "{body}");
        assert!(lines.iter().any(|l| l.as_str()
            == "iadvize_conversation_duration_seconds_bucket{le=\"60.0\",project_id=\"1002\",channel=\"call\"} 1 # {conversation_id=\"c2\"} 45.5 1700000185.123"), "{body}");
        assert!(lines.iter().any(|l| l.as_str()
            == "iadvize_csat_score_bucket{le=\"4.0\",project_id=\"1001\",channel=\"chat\"} 1 # {conversation_id=\"0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b\"} 4.0 1700000185.123"), "{body}");
        assert!(lines.iter().any(|l| l.as_str()
            == "iadvize_transaction_amount_bucket{le=\"500.0\",project_id=\"1001\",channel=\"chat\",currency=\"EUR\"} 1 # {conversation_id=\"0b7e4f6a-3c1d-4e2f-9a8b-7c6d5e4f3a2b\"} 120.0 1700000185.123"), "{body}");
        // The cumulative bucket above an exemplar's own carries none of it.
        assert_eq!(
            with("le=\"+Inf\",project_id=\"1001\",channel=\"chat\"} 1 # "),
            1
        );
        // The text format carries none.
        assert!(!metrics.encode(Format::Text).unwrap().contains(" # {"));
    }

    /// The exposition without what changes from run to run (process, build revision),
    /// samples sorted within each family since live families keep no order.
    fn stable(exposition: &str) -> String {
        let mut out = String::new();
        let mut samples: Vec<&str> = Vec::new();
        let flush = |samples: &mut Vec<&str>, out: &mut String| {
            samples.sort_unstable();
            for s in samples.drain(..) {
                out.push_str(s);
                out.push('\n');
            }
        };
        for line in exposition.lines() {
            if line.contains("process_") || line.contains("iadvize_exporter_build_info{") {
                continue;
            }
            if line.starts_with('#') {
                flush(&mut samples, &mut out);
                out.push_str(line);
                out.push('\n');
            } else {
                samples.push(line);
            }
        }
        flush(&mut samples, &mut out);
        out
    }

    fn golden(name: &str, actual: &str) {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            actual, expected,
            "exposition differs from {path}; review, then UPDATE_GOLDEN=1"
        );
    }

    #[test]
    fn text_exposition_matches_the_golden_file() {
        let m = fixed_metrics();
        golden("exposition.txt", &stable(&m.encode(Format::Text).unwrap()));
    }

    #[test]
    fn openmetrics_exposition_matches_the_golden_file() {
        let m = fixed_metrics();
        let body = m.encode(Format::OpenMetrics).unwrap();
        assert!(body.ends_with("# EOF\n"));
        golden("exposition.openmetrics", &stable(&body));
    }

    fn scraped(m: &Metrics, format: Format, gzip: bool) -> String {
        let exposition = m.scrape(format, gzip).unwrap();
        assert_eq!(exposition.is_gzip(), gzip);
        let body = exposition.to_vec();
        assert_eq!(body.len(), exposition.len());
        if gzip {
            assert_eq!(&body[..2], &[0x1f, 0x8b]);
            String::from_utf8(gunzip(&body)).unwrap()
        } else {
            String::from_utf8(body).unwrap()
        }
    }

    #[test]
    fn gzip_holds_the_plain_body() {
        let m = fixed_metrics();
        for format in [Format::Text, Format::OpenMetrics] {
            // The first scrape encodes the business part, the second reuses it.
            for _ in 0..2 {
                assert_eq!(
                    stable(&scraped(&m, format, true)),
                    stable(&m.encode(format).unwrap())
                );
            }
        }
    }

    #[test]
    fn every_variant_shows_the_latest_snapshot() {
        let m = fixed_metrics();
        // Text plain and OpenMetrics gzipped were scraped, so the next publish prepares
        // them; the other two are encoded by their first scrape.
        scraped(&m, Format::Text, false);
        scraped(&m, Format::OpenMetrics, true);
        let mut snapshot = Snapshot::clone(m.business().snapshot.as_ref().unwrap());
        snapshot.tracked_conversations = 424_242;
        m.publish(snapshot);
        let business = m.business();
        assert!(business.encoded[Format::Text.index()].get().is_some());
        assert!(business.compressed[Format::Text.index()].get().is_none());
        assert!(
            business.compressed[Format::OpenMetrics.index()]
                .get()
                .is_some()
        );
        for format in [Format::Text, Format::OpenMetrics] {
            for gzip in [false, true] {
                let body = scraped(&m, format, gzip);
                assert!(
                    body.contains("\niadvize_tracked_conversations 424242\n"),
                    "{format:?} gzip={gzip}"
                );
            }
        }
    }

    #[test]
    fn one_family_once_and_one_eof_at_the_end() {
        for m in [Metrics::new(), fixed_metrics()] {
            for format in [Format::Text, Format::OpenMetrics] {
                for gzip in [false, true] {
                    let body = scraped(&m, format, gzip);
                    let mut families: Vec<&str> = body
                        .lines()
                        .filter_map(|l| l.strip_prefix("# TYPE "))
                        .filter_map(|l| l.split(' ').next())
                        .collect();
                    let all = families.len();
                    families.sort_unstable();
                    families.dedup();
                    assert_eq!(families.len(), all, "a family repeats:\n{body}");
                    let eofs = body.matches("# EOF").count();
                    if format == Format::OpenMetrics {
                        assert_eq!(eofs, 1, "{body}");
                        assert!(body.ends_with("\n# EOF\n"), "{body}");
                    } else {
                        assert_eq!(eofs, 0, "{body}");
                    }
                }
            }
        }
    }
}
