//! The conditions of issue 13: the simulator in a process of its own (`iadvize-exporter
//! simulate`), behind a proxy that writes each response's headers and body in two sends
//! (`tests/common/split_writes.rs`), and `/metrics` scraped every 200 ms during the
//! start-up pass.
//!
//! Four exporters read the same N, one after the other: over one keep-alive connection
//! without scrapes; the same with scrapes every 200 ms (the figures: wall time,
//! CPU, RSS, scrape latency, and scrapes at rest after the pass); the same with scrapes
//! 5 ms apart; and with scrapes every 200 ms against a proxy that closes every
//! connection after its response (a client that opens a connection per request, the
//! yardstick for the wall time). The CPU of a scrape during the pass is what the densely
//! scraped pass spent beyond the quiet one, per scrape; at rest, the CPU of scrapes
//! taken after the pass, when the exporter does nothing else (its next poll is an hour
//! away). Figures are medians of three rounds (one in the smoke run): one pass's CPU
//! varies by a few percent on a shared machine.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use iadvize_exporter::simulator::DEMO_PASSWORD;

use crate::split_writes::{ClientConnections, SplitWrites};
use crate::{
    Exporter, HttpClient, Result, exporter_args, free_port, median, memory, percentile,
    process_cpu_seconds, scrape,
};

const SCRAPE_EVERY: Duration = Duration::from_millis(200);
/// Scrapes back to back (5 ms apart), for the CPU of a scrape during the pass: at 200 ms
/// a pass takes too few for their CPU to stand out of the pass's own variation.
const DENSE_EVERY: Duration = Duration::from_millis(5);
const REST_SCRAPES: usize = 25;

/// The simulator as a child process.
struct SimProcess {
    child: Child,
    addr: SocketAddr,
}

impl SimProcess {
    /// `n` conversations closed over the last hour, all late data visible, none later.
    fn start(n: u64) -> Result<SimProcess> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let speed = crate::SIM_SPEED;
        let history_ms = crate::HISTORY.as_secs_f64() * 1000.0;
        let rate = n as f64 * 60.0 * 1000.0 / (speed * history_ms);
        let child = Command::new(env!("CARGO_BIN_EXE_iadvize-exporter"))
            .args([
                "simulate",
                "--listen",
                &addr.to_string(),
                "--sim.seed",
                "7",
                "--sim.speed",
                &speed.to_string(),
                "--sim.rate",
                &rate.to_string(),
                "--sim.history",
                "1h",
                "--sim.traffic-duration",
                "0s",
                "--sim.index-lag",
                "0s",
                "--sim.password",
                DEMO_PASSWORD,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let sim = SimProcess { child, addr };
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut client = HttpClient::new(addr);
        while client.get("/_sim/stats").map(|(s, _)| s) != Ok(200) {
            if Instant::now() > deadline {
                return Err("the simulator did not answer within 300 s".into());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(sim)
    }

    fn conversations(&self) -> Result<u64> {
        let (status, body) = HttpClient::new(self.addr).get("/_sim/truth?since=0")?;
        if status != 200 {
            return Err(format!("/_sim/truth answered HTTP {status}"));
        }
        let truth: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("/_sim/truth: {e}"))?;
        Ok(truth["conversations"]
            .as_array()
            .ok_or("/_sim/truth: no conversations")?
            .iter()
            .filter_map(|row| row["count"].as_u64())
            .sum())
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One exporter's start-up pass.
#[derive(Debug, Clone, Default)]
struct Pass {
    wall_s: f64,
    cpu_s: f64,
    rss_mb: f64,
    scrapes: usize,
    latencies_ms: Vec<f64>,
    connections: u64,
    /// Scrapes after the pass: their number, CPU and latencies.
    rest_cpu_s: f64,
    rest_latencies_ms: Vec<f64>,
}

fn run_pass(
    sim: &SimProcess,
    n: u64,
    mode: ClientConnections,
    scrape_every: Option<Duration>,
    log: &Path,
) -> Result<Pass> {
    let proxy = SplitWrites::start_with(sim.addr, mode).map_err(|e| format!("proxy: {e}"))?;
    let port = free_port()?;
    let flags = exporter_args(&proxy.url(), port, &["--poll.interval", "1h"]);
    let started = Instant::now();
    let mut exporter = Exporter::spawn(&flags, log)?;
    let pid = exporter.pid();
    let mut ready = HttpClient::new(exporter.addr);
    let mut scraper = HttpClient::new(exporter.addr);
    let mut pass = Pass::default();
    let mut next_scrape = started;
    loop {
        exporter.check_alive(log)?;
        if ready.get("/-/ready").map(|(s, _)| s) == Ok(200) {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the start-up pass did not end within 600 s".into());
        }
        if let Some(every) = scrape_every
            && Instant::now() >= next_scrape
        {
            let at = Instant::now();
            if scrape(&mut scraper).is_ok() {
                pass.latencies_ms.push(at.elapsed().as_secs_f64() * 1000.0);
            }
            next_scrape += every;
        }
        thread::sleep(Duration::from_millis(5));
    }
    pass.wall_s = started.elapsed().as_secs_f64();
    pass.cpu_s = process_cpu_seconds(pid)?;
    pass.rss_mb = memory(pid)?.rss_kb as f64 / 1024.0;
    pass.scrapes = pass.latencies_ms.len();
    pass.connections = proxy.connections();
    let tracked = scrape(&mut scraper)?.tracked;
    if tracked != n as f64 {
        return Err(format!(
            "the exporter tracks {tracked}, the simulator has {n}"
        ));
    }
    if scrape_every == Some(SCRAPE_EVERY) {
        // The publish at the end of the pass and its aftermath are over.
        thread::sleep(Duration::from_millis(500));
        let before = process_cpu_seconds(pid)?;
        for _ in 0..REST_SCRAPES {
            let at = Instant::now();
            scrape(&mut scraper)?;
            pass.rest_latencies_ms
                .push(at.elapsed().as_secs_f64() * 1000.0);
            thread::sleep(SCRAPE_EVERY);
        }
        pass.rest_cpu_s = process_cpu_seconds(pid)? - before;
    }
    exporter.terminate()?;
    Ok(pass)
}

/// What the three exporters measured, over all rounds.
pub(crate) struct SplitReport {
    n: u64,
    rounds: usize,
    quiet: Vec<Pass>,
    scraped: Vec<Pass>,
    dense: Vec<Pass>,
    per_request: Vec<Pass>,
}

pub(crate) fn run(n: u64, rounds: usize, out_dir: &Path) -> Result<SplitReport> {
    eprintln!("load bench, N = {n}: the simulator in its own process, behind split writes");
    let sim = SimProcess::start(n)?;
    let conversations = sim.conversations()?;
    let mut report = SplitReport {
        n: conversations,
        rounds,
        quiet: Vec::new(),
        scraped: Vec::new(),
        dense: Vec::new(),
        per_request: Vec::new(),
    };
    let log = out_dir.join(format!("exporter-split-{n}.log"));
    for round in 1..=rounds {
        eprintln!("load bench, N = {n}: split writes, round {round} of {rounds}");
        use ClientConnections::{CloseEach, KeepAlive};
        let every = Some(SCRAPE_EVERY);
        let dense = Some(DENSE_EVERY);
        let n = conversations;
        report.quiet.push(run_pass(&sim, n, KeepAlive, None, &log)?);
        report
            .scraped
            .push(run_pass(&sim, n, KeepAlive, every, &log)?);
        report
            .dense
            .push(run_pass(&sim, n, KeepAlive, dense, &log)?);
        report
            .per_request
            .push(run_pass(&sim, n, CloseEach, every, &log)?);
    }
    Ok(report)
}

fn med(passes: &[Pass], f: impl Fn(&Pass) -> f64) -> f64 {
    median(&passes.iter().map(f).collect::<Vec<f64>>())
}

fn quantile(passes: &[Pass], q: f64, rest: bool) -> f64 {
    let mut all: Vec<f64> = passes
        .iter()
        .flat_map(|p| {
            if rest {
                p.rest_latencies_ms.clone()
            } else {
                p.latencies_ms.clone()
            }
        })
        .collect();
    all.sort_by(f64::total_cmp);
    percentile(&all, q)
}

impl SplitReport {
    /// CPU per scrape during the pass: the densely scraped pass's CPU beyond the quiet
    /// one's, per scrape, round by round (the passes of a round ran one after the other).
    fn scrape_cpu_during_ms(&self) -> f64 {
        let per_round: Vec<f64> = self
            .quiet
            .iter()
            .zip(&self.dense)
            .map(|(q, s)| (s.cpu_s - q.cpu_s) * 1000.0 / s.scrapes.max(1) as f64)
            .collect();
        median(&per_round)
    }

    fn scrape_cpu_rest_ms(&self) -> f64 {
        med(&self.scraped, |p| {
            p.rest_cpu_s * 1000.0 / REST_SCRAPES as f64
        })
    }

    pub(crate) fn markdown(&self) -> String {
        let n = self.n as f64;
        let mut out = format!(
            "\n### Split writes, the simulator in another process, N = {}\n\n\
             Medians of {} rounds; scrapes every {} ms during the start-up pass.\n\n\
             | | keep-alive, no scrapes | keep-alive, scrapes | connection per request, scrapes |\n\
             | --- | --- | --- | --- |\n",
            self.n,
            self.rounds,
            SCRAPE_EVERY.as_millis()
        );
        out.push_str(&format!(
            "| ingest wall time | {:.2} s | {:.2} s | {:.2} s |\n",
            med(&self.quiet, |p| p.wall_s),
            med(&self.scraped, |p| p.wall_s),
            med(&self.per_request, |p| p.wall_s)
        ));
        out.push_str(&format!(
            "| CPU per conversation (process, start to ready) | {:.2} µs | {:.2} µs | {:.2} µs |\n",
            med(&self.quiet, |p| p.cpu_s * 1e6 / n),
            med(&self.scraped, |p| p.cpu_s * 1e6 / n),
            med(&self.per_request, |p| p.cpu_s * 1e6 / n)
        ));
        out.push_str(&format!(
            "| RSS after the pass | {:.1} MB | {:.1} MB | {:.1} MB |\n",
            med(&self.quiet, |p| p.rss_mb),
            med(&self.scraped, |p| p.rss_mb),
            med(&self.per_request, |p| p.rss_mb)
        ));
        out.push_str(&format!(
            "| connections to the proxy | {} | {} | {} |\n",
            med(&self.quiet, |p| p.connections as f64),
            med(&self.scraped, |p| p.connections as f64),
            med(&self.per_request, |p| p.connections as f64)
        ));
        out.push_str(&format!(
            "| scrapes during the pass, p50 / p99 | | {:.2} / {:.2} ms ({} scrapes) | {:.2} / {:.2} ms |\n",
            quantile(&self.scraped, 0.5, false),
            quantile(&self.scraped, 0.99, false),
            self.scraped.iter().map(|p| p.scrapes).sum::<usize>(),
            quantile(&self.per_request, 0.5, false),
            quantile(&self.per_request, 0.99, false)
        ));
        out.push_str(&format!(
            "| scrapes at rest, p50 / p99 | | {:.2} / {:.2} ms | |\n",
            quantile(&self.scraped, 0.5, true),
            quantile(&self.scraped, 0.99, true)
        ));
        let during = self.scrape_cpu_during_ms();
        let rest = self.scrape_cpu_rest_ms();
        out.push_str(&format!(
            "| CPU per scrape during the pass (from {} scrapes {} ms apart) / at rest | | {during:.3} / {rest:.3} ms ({:.2}x) | |\n",
            self.dense.iter().map(|p| p.scrapes).sum::<usize>(),
            DENSE_EVERY.as_millis(),
            during / rest
        ));
        out
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let pass = |p: &Pass| {
            serde_json::json!({
                "wall_s": p.wall_s,
                "cpu_s": p.cpu_s,
                "rss_mb": p.rss_mb,
                "scrapes": p.scrapes,
                "connections": p.connections,
                "rest_cpu_s": p.rest_cpu_s,
            })
        };
        serde_json::json!({
            "conversations": self.n,
            "quiet": self.quiet.iter().map(pass).collect::<Vec<_>>(),
            "scraped": self.scraped.iter().map(pass).collect::<Vec<_>>(),
            "dense": self.dense.iter().map(pass).collect::<Vec<_>>(),
            "per_request": self.per_request.iter().map(pass).collect::<Vec<_>>(),
            "scrape_cpu_during_ms": self.scrape_cpu_during_ms(),
            "scrape_cpu_rest_ms": self.scrape_cpu_rest_ms(),
            "scrape_p99_during_ms": quantile(&self.scraped, 0.99, false),
        })
    }
}
