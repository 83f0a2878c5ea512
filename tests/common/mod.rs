//! Shared pieces of the integration tests: a simulated iAdvize account and an exporter,
//! both on loopback ports, and a parser for the exposition the tests read back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iadvize_exporter::app;
use iadvize_exporter::config::{self, Command};
use iadvize_exporter::simulator::{self, SimConfig, SimHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub async fn start_sim(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    simulator::start(config, listener).await.unwrap()
}

/// A running exporter, stopped when dropped or through [`Exporter::stop`].
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), app::AppError>>>,
    counting_start: Arc<Mutex<Option<i64>>>,
}

impl Exporter {
    /// Starts the exporter with these flags (argv without the program name) and this
    /// environment.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::start_with_clock_offset(args, env, Arc::new(AtomicI64::new(0))).await
    }

    /// The same, with the exporter's clock ahead of the wall clock by `offset_ms`, which
    /// the test can move while the exporter runs (steer it with the simulator's clock).
    pub async fn start_with_clock_offset(
        args: &[&str],
        env: &[(&str, &str)],
        offset_ms: Arc<AtomicI64>,
    ) -> Exporter {
        let mut argv = vec!["iadvize-exporter".to_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = match config::parse(argv, &|name| env.get(name).cloned()) {
            Ok(Command::Run(config)) => *config,
            Ok(other) => panic!("not a run command: {other:?}"),
            Err(e) => panic!("bad test flags: {e}"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        // Records the first reading of the clock: the instant counting starts.
        let counting_start = Arc::new(Mutex::new(None));
        let first = counting_start.clone();
        let clock: iadvize_exporter::poller::Clock = Arc::new(move || {
            let now = chrono::Utc::now().timestamp_millis() + offset_ms.load(Ordering::Relaxed);
            let mut first = first.lock().unwrap();
            first.get_or_insert(now);
            now
        });
        let task = tokio::spawn(app::run_with(
            config,
            listener,
            async move {
                let _ = stop_rx.await;
            },
            clock,
        ));
        Exporter {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
            counting_start,
        }
    }

    /// Unix seconds from which conversations are counted.
    pub fn counting_start_seconds(&self) -> f64 {
        self.counting_start
            .lock()
            .unwrap()
            .expect("the exporter has started") as f64
            / 1000.0
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn scrape(&self) -> Exposition {
        let body = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Exposition::parse(&body)
    }

    pub async fn scrape_text(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the exporter and returns how it ended.
    pub async fn stop(mut self) -> Result<(), app::AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the exporter stops within 10 s")
            .unwrap()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Samples of one scrape, keyed by `name{label="value",...}` with labels sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: BTreeMap<String, f64>,
}

/// `name{a="1",b="2"}` with the labels in name order.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<(&str, &str)> = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Exposition {
    pub fn parse(body: &str) -> Exposition {
        let mut samples = BTreeMap::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap(),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series, Vec::new()),
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
            };
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            samples.insert(key(name, &labels), value);
        }
        Exposition { samples }
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&key(name, labels)).copied()
    }

    /// Every sample of a family (exact name), by key.
    pub fn family(&self, name: &str) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The sum of a family's samples.
    pub fn sum(&self, name: &str) -> f64 {
        self.family(name).values().sum()
    }
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((k.trim_start_matches(',').to_owned(), value));
        rest = after[end..].trim_start_matches(',');
    }
    out
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `limit` with the
/// last state `describe` gives.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) => {
                if tokio::time::Instant::now() > deadline {
                    panic!("{what}: not reached within {limit:?}; last state:\n{last}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sleeps until the Unix time `t` (seconds) has passed.
pub async fn sleep_until_unix(t: f64) {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    if t > now {
        tokio::time::sleep(Duration::from_secs_f64(t - now)).await;
    }
}

/// Floats equal to a relative 1e-9 (sums added in another order).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The business samples a ground truth pins down, keyed as [`Exposition`] keys them.
pub fn expected_from_truth(truth: &simulator::Truth) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let pc = |p: &str, c: &str| vec![("project_id", p.to_owned()), ("channel", c.to_owned())];
    let mut put = |name: &str, labels: &[(&str, String)], value: f64| {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.insert(key(name, &labels), value);
    };
    for r in truth.conversations.iter().filter(|r| r.count > 0) {
        put(
            "iadvize_conversations_closed_total",
            &pc(&r.project_id, &r.channel),
            r.count as f64,
        );
    }
    for r in truth.duration.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put(
            "iadvize_conversation_duration_seconds_count",
            &l,
            r.count as f64,
        );
        put("iadvize_conversation_duration_seconds_sum", &l, r.sum);
    }
    for r in truth.csat.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put("iadvize_csat_score_count", &l, r.count as f64);
        put("iadvize_csat_score_sum", &l, r.sum);
        let mut cumulative = 0;
        for v in 1..=5 {
            cumulative += r.buckets.get(&v.to_string()).copied().unwrap_or(0);
            let mut lb = l.clone();
            lb.push(("le", v.to_string()));
            put("iadvize_csat_score_bucket", &lb, cumulative as f64);
        }
    }
    for r in truth.nps.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put("iadvize_nps_score_count", &l, r.count as f64);
        put("iadvize_nps_score_sum", &l, r.sum);
        for (le, v) in [
            ("6", r.detractors),
            ("8", r.detractors + r.passives),
            ("10", r.detractors + r.passives + r.promoters),
        ] {
            let mut lb = l.clone();
            lb.push(("le", le.to_owned()));
            put("iadvize_nps_score_bucket", &lb, v as f64);
        }
    }
    for r in truth.conversions.iter().filter(|r| r.count > 0) {
        put(
            "iadvize_conversions_total",
            &pc(&r.project_id, &r.channel),
            r.count as f64,
        );
    }
    for r in truth.transactions.iter().filter(|r| r.count > 0) {
        let mut l = pc(&r.project_id, &r.channel);
        l.push(("currency", r.currency.clone()));
        put("iadvize_transaction_amount_count", &l, r.count as f64);
        put("iadvize_transaction_amount_sum", &l, r.sum);
    }
    out
}

/// The samples of a scrape that [`expected_from_truth`] covers, with zero-valued
/// conversion series left out (the truth lists only conversations that converted).
pub fn business_view(e: &Exposition) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, v) in &e.samples {
        let name = k.split('{').next().unwrap_or("");
        let keep = match name {
            "iadvize_conversations_closed_total"
            | "iadvize_conversation_duration_seconds_count"
            | "iadvize_conversation_duration_seconds_sum"
            | "iadvize_csat_score_count"
            | "iadvize_csat_score_sum"
            | "iadvize_nps_score_count"
            | "iadvize_nps_score_sum"
            | "iadvize_transaction_amount_count"
            | "iadvize_transaction_amount_sum" => true,
            "iadvize_conversions_total" => *v != 0.0,
            "iadvize_csat_score_bucket" => !k.contains("le=\"+Inf\""),
            "iadvize_nps_score_bucket" => {
                k.contains("le=\"6\"") || k.contains("le=\"8\"") || k.contains("le=\"10\"")
            }
            _ => false,
        };
        if keep {
            out.insert(k.clone(), *v);
        }
    }
    out
}

/// Differences between what the exporter shows and what the truth says, one per line;
/// empty when they agree.
pub fn diff(actual: &BTreeMap<String, f64>, expected: &BTreeMap<String, f64>) -> String {
    let mut lines = Vec::new();
    for (k, want) in expected {
        match actual.get(k) {
            None => lines.push(format!("missing   {k} (want {want})")),
            Some(got) if !close(*got, *want) => {
                lines.push(format!("wrong     {k} = {got}, want {want}"))
            }
            Some(_) => {}
        }
    }
    for (k, got) in actual {
        if !expected.contains_key(k) {
            lines.push(format!("unexpected {k} = {got}"));
        }
    }
    lines.join("\n")
}
