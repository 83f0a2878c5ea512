//! What a scrape of `/metrics` costs, and what `publish` (once per poll) costs.
//!
//! `cargo bench --bench exposition` (add a filter after `--`, e.g. `-- scrape/5k`).
//!
//! Two sizes: `demo` has the shape of `--demo` (3 projects x 10 channels x 3 currencies);
//! `5k` is about 5,000 series. A series is a sample line, as Prometheus counts them; the
//! actual count of each is printed at start-up.
//!
//! Groups:
//! - `scrape/<size>/<variant>`: building the body a scrape sends, as the handler does.
//! - `publish/<size>/<variant>`: the poller handing over a new snapshot, after scrapes of
//!   that variant (so whatever is prepared per poll for it is included).
//! - `http/<size>/<variant>`: one request over loopback, keep-alive, body read whole
//!   (Text, and OpenMetrics gzipped as Prometheus asks).
//! - `http/ingest-idle/<variant>`, `http/ingest-busy/<variant>`: the same, of what a poll
//!   of 100,000 conversations publishes, idle and while such polls run on another thread.
//!
//! Criterion reports means and medians; percentiles (p50, p99, max) of 2,000 sequential
//! scrapes are printed before each `http` bench.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use iadvize_exporter::config::MetricsConfig;
use iadvize_exporter::iadvize::{ApiObserver, Endpoint, Id128, InvalidReason, Page, RetryReason};
use iadvize_exporter::ledger::{
    AmountKey, CSAT_BOUNDS, ConversationId, Exemplar, Exemplars, Histogram, Ledger, NPS_BOUNDS,
    SeriesKey, Slots, Snapshot, Totals, Window, WindowSeries,
};
use iadvize_exporter::metrics::{Format, Metrics};
use iadvize_exporter::web::{WebSecurity, WebState};

const CHANNELS: [&str; 12] = [
    "chat",
    "call",
    "video",
    "messenger",
    "whatsapp",
    "sms",
    "email",
    "apple_business_chat",
    "instagram",
    "google_business_messages",
    "facebook",
    "twitter",
];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

#[derive(Clone, Copy)]
struct Size {
    name: &'static str,
    projects: usize,
    channels: usize,
    currencies: usize,
}

const SIZES: [Size; 2] = [
    Size {
        name: "demo",
        projects: 3,
        channels: 10,
        currencies: 3,
    },
    Size {
        name: "5k",
        projects: 5,
        channels: 11,
        currencies: 3,
    },
];

#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    format: Format,
    gzip: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "text",
        format: Format::Text,
        gzip: false,
    },
    Variant {
        name: "openmetrics",
        format: Format::OpenMetrics,
        gzip: false,
    },
    Variant {
        name: "text+gzip",
        format: Format::Text,
        gzip: true,
    },
    Variant {
        name: "openmetrics+gzip",
        format: Format::OpenMetrics,
        gzip: true,
    },
];

/// A deterministic spread of values, so numbers have the digits real ones have.
fn spread(i: usize, modulo: u64) -> u64 {
    (i as u64).wrapping_mul(2_654_435_761) % modulo
}

fn histogram(bounds_len: usize, seed: usize, scale: f64) -> Histogram {
    let counts: Vec<u64> = (0..=bounds_len)
        .map(|b| spread(seed * 31 + b, 400))
        .collect();
    let count = counts.iter().sum();
    Histogram {
        counts,
        sum: count as f64 * scale + spread(seed, 1000) as f64 / 7.0,
        count,
    }
}

/// An exemplar in every bucket (the worst case: each has counted something), with
/// UUID ids as iAdvize sends them.
fn slots(buckets: usize, i: usize) -> Slots {
    (0..buckets)
        .map(|b| {
            let n = (i * 31 + b) as u64;
            Some(Exemplar {
                conversation: ConversationId::Uuid(Id128::of(&format!(
                    "{:08x}-0000-4000-8000-{:012x}",
                    n, n
                ))),
                value: b as f64 + 0.5,
                counted_at: 1_700_000_000_000 + n as i64,
            })
        })
        .collect()
}

/// Every series filled: all channels of all projects had conversations, answers and
/// sales in every currency, both in total and within the window.
fn snapshot(size: Size) -> Snapshot {
    let defaults = MetricsConfig::default();
    let mut totals = Totals::default();
    let mut exemplars = Exemplars::default();
    let mut window = Window::default();
    let mut i = 0;
    for p in 0..size.projects {
        for c in 0..size.channels {
            i += 1;
            let key = SeriesKey {
                project_id: 1001 + p as i64,
                channel: c as u16,
            };
            let conversations = 1 + spread(i, 50_000);
            totals.conversations.insert(key, conversations);
            totals
                .duration
                .insert(key, histogram(defaults.duration_buckets.len(), i, 754.25));
            totals
                .csat
                .insert(key, histogram(CSAT_BOUNDS.len(), i + 1, 4.0));
            totals
                .nps
                .insert(key, histogram(NPS_BOUNDS.len(), i + 2, 8.0));
            exemplars
                .duration
                .insert(key, slots(defaults.duration_buckets.len() + 1, i));
            exemplars
                .csat
                .insert(key, slots(CSAT_BOUNDS.len() + 1, i + 1));
            exemplars
                .nps
                .insert(key, slots(NPS_BOUNDS.len() + 1, i + 2));
            totals.conversions.insert(key, spread(i + 3, 5_000));
            let csat_responses = 1 + spread(i + 4, 300);
            let nps_responses = 1 + spread(i + 5, 300);
            window.series.insert(
                key,
                WindowSeries {
                    conversations: 1 + spread(i + 6, 2_000),
                    duration_quantiles: Some([
                        spread(i, 900) as f64 + 0.5,
                        spread(i, 3_600) as f64 + 0.25,
                        spread(i, 7_200) as f64 + 0.125,
                    ]),
                    duration_sum: spread(i + 7, 1_000_000) as f64 + 0.75,
                    duration_count: 1 + spread(i + 8, 2_000),
                    csat_responses,
                    csat_sum: csat_responses * 4,
                    csat_satisfied: csat_responses * 3 / 4,
                    nps_responses,
                    nps_promoters: nps_responses / 2,
                    nps_detractors: nps_responses / 5,
                    conversions: spread(i + 9, 200),
                },
            );
            for currency in 0..size.currencies {
                let amount_key = AmountKey {
                    series: key,
                    currency: currency as u16,
                };
                exemplars.amount.insert(
                    amount_key,
                    slots(defaults.amount_buckets.len() + 1, i * 7 + currency),
                );
                totals.transactions.insert(
                    amount_key,
                    histogram(defaults.amount_buckets.len(), i * 7 + currency, 123.45),
                );
                window
                    .revenue
                    .insert(amount_key, spread(i + currency, 100_000) as f64 / 100.0);
                window
                    .transactions
                    .insert(amount_key, 1 + spread(i + currency, 50));
            }
        }
    }
    totals.invalid = InvalidReason::ALL
        .iter()
        .enumerate()
        .map(|(n, r)| (*r, spread(n, 50)))
        .collect::<BTreeMap<_, _>>();
    Snapshot {
        totals,
        exemplars,
        window,
        window_seconds: 3600.0,
        channels: CHANNELS[..size.channels]
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        currencies: CURRENCIES[..size.currencies]
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        duration_bounds: defaults.duration_buckets,
        amount_bounds: defaults.amount_buckets,
        tracked_conversations: 123_456,
        project_names: (0..size.projects)
            .map(|p| (1001 + p as i64, format!("Project {p}")))
            .collect(),
    }
}

/// The health families as a running exporter has them: both endpoints, a few status
/// codes and retry reasons.
fn metrics(size: Size) -> Metrics {
    let metrics = Metrics::new();
    metrics.publish(snapshot(size));
    metrics.poll_started();
    metrics.poll_finished(true, 1.25, 1_700_000_000.0);
    metrics.set_watermark(1_700_000_000.0);
    metrics.conversations_fetched(123_456);
    for (n, code) in [Some(200), Some(429), Some(503), None]
        .into_iter()
        .enumerate()
    {
        for _ in 0..=n {
            metrics.request(Endpoint::Graphql, code, 0.05 * n as f64);
        }
    }
    metrics.request(Endpoint::Token, Some(200), 0.02);
    metrics.retry(Endpoint::Graphql, RetryReason::RateLimited);
    metrics.retry(Endpoint::Graphql, RetryReason::ServerError);
    metrics.login(1_700_086_400.0);
    metrics
}

/// What the handler builds for the response body (src/web sends these chunks as they are).
fn scrape(metrics: &Metrics, variant: Variant) -> usize {
    metrics
        .scrape(variant.format, variant.gzip)
        .expect("scrape")
        .len()
}

fn series_lines(exposition: &str) -> usize {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn report_sizes() {
    for size in SIZES {
        let m = metrics(size);
        for variant in VARIANTS.iter().filter(|v| !v.gzip) {
            let body = m.encode(variant.format).expect("encode");
            let series = series_lines(&body);
            if variant.format == Format::OpenMetrics {
                assert!(body.ends_with("# EOF\n"));
                assert_eq!(body.matches("# EOF").count(), 1);
            }
            println!(
                "size {}: {} {} series, {} bytes, gzip {} bytes",
                size.name,
                variant.name,
                series,
                body.len(),
                scrape(
                    &m,
                    Variant {
                        gzip: true,
                        ..*variant
                    }
                )
            );
        }
    }
}

fn bench_scrape(c: &mut Criterion) {
    report_sizes();
    let mut group = c.benchmark_group("scrape");
    for size in SIZES {
        let m = metrics(size);
        for variant in VARIANTS {
            group.bench_function(format!("{}/{}", size.name, variant.name), |b| {
                b.iter(|| scrape(&m, variant))
            });
        }
    }
    group.finish();
}

fn bench_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    for size in SIZES {
        let snap = snapshot(size);
        for variant in VARIANTS {
            let m = metrics(size);
            group.bench_function(format!("{}/{}", size.name, variant.name), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let s = snap.clone();
                        // A scrape between polls, as in service: it is what tells publish
                        // which variant to prepare.
                        scrape(&m, variant);
                        let start = Instant::now();
                        m.publish(s);
                        spent += start.elapsed();
                    }
                    spent
                })
            });
        }
    }
    group.finish();
}

/// The exporter's server on loopback, with one runtime worker of its own.
struct Server {
    /// Runs the server's tasks until dropped.
    _runtime: tokio::runtime::Runtime,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    fn start(metrics: Arc<Metrics>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = WebState {
            metrics,
            telemetry_path: "/metrics".into(),
        };
        runtime.spawn(iadvize_exporter::web::serve(
            listener,
            state,
            WebSecurity::none(),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            _runtime: runtime,
            url,
            stop: Some(stop),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Client {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(url: &str) -> Client {
        Client {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            http: reqwest::Client::new(),
            url: url.to_owned(),
        }
    }

    /// One scrape, body read whole (reqwest here does not decompress).
    fn get(&self, variant: Variant) -> usize {
        self.runtime.block_on(async {
            let mut request = self.http.get(&self.url);
            if variant.format == Format::OpenMetrics {
                request = request.header(
                    "Accept",
                    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
                );
            }
            if variant.gzip {
                request = request.header("Accept-Encoding", "gzip");
            }
            let response = request.send().await.expect("scrape");
            assert!(response.status().is_success());
            response.bytes().await.expect("body").len()
        })
    }

    fn percentiles(&self, variant: Variant, n: usize) -> String {
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let start = Instant::now();
                self.get(variant);
                start.elapsed()
            })
            .collect();
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        format!(
            "  {n} sequential scrapes: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        )
    }
}

/// 100,000 conversations over the last 50 minutes, parsed from the simulator's JSON.
fn pages() -> Vec<Page> {
    support::parse_all(&support::bodies(100_000, 3_000_000, 7))
}

/// A poller that never rests: ingests the pages into a fresh ledger, publishes, again.
fn ingest_forever(
    metrics: Arc<Metrics>,
    pages: Arc<Vec<Page>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut passes = 0;
        while !stop.load(Ordering::Relaxed) {
            metrics.publish(ingest(&pages));
            passes += 1;
        }
        passes
    })
}

/// One pass as the poller makes it: all pages folded in at once, then a snapshot.
fn ingest(pages: &[Page]) -> Snapshot {
    let mut ledger = Ledger::new(support::ledger_config(), support::NOW_MS - 3_000_001);
    ledger.apply(pages, support::NOW_MS);
    ledger.snapshot(support::NOW_MS)
}

/// Scrapes over HTTP: what Prometheus sees (Text, and OpenMetrics gzipped as it asks).
const HTTP_VARIANTS: [Variant; 2] = [VARIANTS[0], VARIANTS[3]];

/// The exposition a poll of 100,000 conversations publishes, served, and that poll run
/// again and again on another thread once `busy` is called.
struct IngestRig {
    pages: Arc<Vec<Page>>,
    metrics: Arc<Metrics>,
    client: Client,
    _server: Server,
    poller: Option<(Arc<AtomicBool>, std::thread::JoinHandle<u32>)>,
}

impl IngestRig {
    fn new() -> IngestRig {
        let pages = Arc::new(pages());
        let metrics = Arc::new(metrics(SIZES[1]));
        metrics.publish(ingest(&pages));
        let body = metrics.encode(Format::Text).expect("encode");
        println!(
            "ingest snapshot: {} series, {} bytes",
            series_lines(&body),
            body.len()
        );
        let server = Server::start(metrics.clone());
        IngestRig {
            pages,
            client: Client::new(&server.url),
            metrics,
            _server: server,
            poller: None,
        }
    }

    fn busy(&mut self) {
        if self.poller.is_none() {
            let stop = Arc::new(AtomicBool::new(false));
            let poller = ingest_forever(self.metrics.clone(), self.pages.clone(), stop.clone());
            self.poller = Some((stop, poller));
        }
    }

    fn stop(&mut self) {
        if let Some((stop, poller)) = self.poller.take() {
            stop.store(true, Ordering::Relaxed);
            let passes = poller.join().expect("poller");
            println!("({passes} passes of 100,000 conversations, each published, ran meanwhile)");
        }
    }
}

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    for size in SIZES {
        let m = Arc::new(metrics(size));
        let server = Server::start(m.clone());
        let client = Client::new(&server.url);
        for variant in HTTP_VARIANTS {
            let mut first = true;
            group.bench_function(format!("{}/{}", size.name, variant.name), |b| {
                if std::mem::take(&mut first) {
                    println!("{}", client.percentiles(variant, 2000));
                }
                b.iter(|| client.get(variant))
            });
        }
    }

    // Scrapes while a poll ingests 100,000 conversations, against the same scrapes idle.
    let mut rig: Option<IngestRig> = None;
    for busy in [false, true] {
        let phase = if busy { "ingest-busy" } else { "ingest-idle" };
        for variant in HTTP_VARIANTS {
            let mut first = true;
            group.bench_function(format!("{phase}/{}", variant.name), |b| {
                let rig = rig.get_or_insert_with(IngestRig::new);
                if busy {
                    rig.busy();
                }
                if std::mem::take(&mut first) {
                    println!("{}", rig.client.percentiles(variant, 2000));
                }
                b.iter(|| rig.client.get(variant))
            });
        }
    }
    group.finish();
    if let Some(rig) = rig.as_mut() {
        rig.stop();
    }
}

criterion_group!(benches, bench_scrape, bench_publish, bench_http);
criterion_main!(benches);
