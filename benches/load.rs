//! Load benchmark: the real exporter binary reads N conversations from the in-process
//! simulator over real HTTP, and we measure what the performance issue asks about.
//!
//! `cargo bench --bench load` runs N = 100,000 then 1,000,000; `cargo bench --bench load --
//! 100000` runs one size. `cargo test --all-targets` runs it too, without `--bench`: then
//! only a smoke run at N = 2,000. Each size prints a Markdown table and writes
//! `target/loadbench/results-<N>.json`; the exporter's own log goes next to it.
//!
//! How one size runs:
//! 1. Start-up time: ten exporters pointed at an unreachable iAdvize, timed from spawn to
//!    their first `/metrics` answer (the web server does not wait for iAdvize).
//! 2. The simulator generates N conversations closed over the last hour, at a speed where
//!    every late survey answer and transaction is already visible, and nothing closes
//!    later: the data is static for the whole run, so every pass reads exactly N.
//! 3. Base memory: an exporter that asks for a project that does not exist (tracks 0).
//! 4. The measured exporter: its start-up pass reads all N (the ingest), then it sits idle,
//!    then one revisit pass re-reads the same N.
//!
//! The exporter schedules its passes itself, so the phases are pinned from the simulator
//! side, which sees every GraphQL request (see [`watch_gates`]): the simulator revokes the
//! token right after the last page of a pass (`revoke_every` at the exact request number,
//! so no race with the exporter), the exporter logs in again and its next request, the
//! first of the next pass, is held (`slow` fault). While it is held the exporter does
//! nothing but answer scrapes: that is the idle phase, and the end of the previous pass
//! is known to within a fraction of a millisecond.
//!
//! CPU comes from `/proc` (no perf counters on the machine this was written on): the sum
//! of every exporter thread's `schedstat` (nanoseconds), or `utime + stime` of
//! `/proc/<pid>/stat` when that is larger (it keeps threads that have exited, in clock
//! ticks).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "load/split_pass.rs"]
mod split_pass;
// The same proxy as the tests'; the bench uses a part of it.
#[allow(dead_code)]
#[path = "../tests/common/split_writes.rs"]
mod split_writes;

use iadvize_exporter::simulator::{self, DEMO_PASSWORD, DEMO_USERNAME, Faults, SimConfig};
use serde_json::json;

const DEFAULT_SIZES: [u64; 2] = [100_000, 1_000_000];
/// Under `cargo test`: enough for every phase to happen, a few seconds in a debug build.
const SMOKE_SIZE: u64 = 2_000;
/// The exporter asks for pages of this many conversations.
const PAGE_SIZE: u64 = 100;
/// Real time over which the simulated conversations closed before the start.
const HISTORY: Duration = Duration::from_secs(3600);
/// Simulated minutes per real second: late answers and transactions (up to 6 simulated
/// hours after the close) become visible within 0.4 s, so the history is static at once.
const SIM_SPEED: f64 = 1000.0;
/// How long the first request after the ingest is held: the idle phase.
const HOLD_AFTER_INGEST: Duration = Duration::from_secs(4);
/// Scrapes stop this long before the hold ends, so no idle sample overlaps the next pass.
const IDLE_MARGIN: Duration = Duration::from_millis(500);
/// The hold after the revisit pass outlasts the measurement (a second idle phase as long
/// as the first); the exporter is stopped in it.
const HOLD_AFTER_REVISIT: Duration = Duration::from_secs(30);
const SCRAPE_PAUSE: Duration = Duration::from_millis(5);
const STARTUP_RUNS: usize = 10;
/// Short: a pass's end is marked by the next round's first request, which should follow
/// at once (rounds start at most this often).
const MAIN_POLL_INTERVAL: [&str; 2] = ["--poll.interval", "1s"];
/// Project id that matches nothing: the base exporter tracks no conversation.
const NO_PROJECT: &str = "999999";

type Result<T> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without
    // it, and with test-harness options (`--test-threads 2`) whose values are no sizes:
    // there a small smoke run checks the machinery instead.
    let sizes = if args.iter().any(|a| a == "--bench") {
        match sizes_from_args(args.into_iter()) {
            Ok(sizes) => sizes,
            Err(e) => {
                eprintln!("load bench: {e}");
                std::process::exit(2);
            }
        }
    } else {
        eprintln!("load bench: not run by `cargo bench`: smoke run at N = {SMOKE_SIZE}");
        vec![SMOKE_SIZE]
    };
    let out_dir = target_dir().join("loadbench");
    if let Err(e) = fs::create_dir_all(&out_dir) {
        eprintln!("load bench: cannot create {}: {e}", out_dir.display());
        std::process::exit(1);
    }
    let mut failed = false;
    for n in sizes {
        let started = Instant::now();
        match run_size(n, &out_dir) {
            Ok(report) => {
                let wall = started.elapsed().as_secs_f64();
                println!("{}", report.markdown(wall));
                let path = out_dir.join(format!("results-{n}.json"));
                let text = serde_json::to_string_pretty(&report.json(wall))
                    .expect("a JSON value always serialises");
                if let Err(e) = fs::write(&path, text + "\n") {
                    eprintln!("load bench: cannot write {}: {e}", path.display());
                    failed = true;
                } else {
                    println!("Results written to {}\n", path.display());
                }
            }
            Err(e) => {
                eprintln!("load bench, N = {n}: FAILED: {e}");
                failed = true;
            }
        }
        let rounds = if n == SMOKE_SIZE { 1 } else { 3 };
        match split_pass::run(n, rounds, &out_dir) {
            Ok(report) => {
                println!("{}", report.markdown());
                let path = out_dir.join(format!("split-{n}.json"));
                let text = serde_json::to_string_pretty(&report.json())
                    .expect("a JSON value always serialises");
                if let Err(e) = fs::write(&path, text + "\n") {
                    eprintln!("load bench: cannot write {}: {e}", path.display());
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("load bench, N = {n}, split writes: FAILED: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// Sizes given on the command line; cargo adds `--bench`, and other harness flags may come
/// along, so flags are skipped.
fn sizes_from_args(args: impl Iterator<Item = String>) -> Result<Vec<u64>> {
    let mut sizes = Vec::new();
    for arg in args {
        if arg.starts_with('-') {
            continue;
        }
        match arg.replace('_', "").parse::<u64>() {
            Ok(n) if n >= 1000 => sizes.push(n),
            Ok(n) => return Err(format!("size {n} is too small: give at least 1000")),
            Err(_) => eprintln!("load bench: ignoring argument {arg:?} (not a size)"),
        }
    }
    if sizes.is_empty() {
        sizes.extend(DEFAULT_SIZES);
    }
    Ok(sizes)
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------
// One size

fn run_size(n: u64, out_dir: &Path) -> Result<Report> {
    eprintln!("load bench, N = {n}: start-up time ({STARTUP_RUNS} runs)");
    let startup_ms = measure_startup(out_dir)?;

    eprintln!("load bench, N = {n}: generating the simulated history");
    let sim = Sim::start(n)?;
    let conversations = sim.conversations();
    if conversations == 0 {
        return Err("the simulator generated no conversation".to_string());
    }
    eprintln!(
        "load bench, N = {n}: {conversations} conversations in {:.1} s; base exporter",
        sim.generate_seconds
    );
    let base = measure_base(&sim, out_dir, n)?;
    eprintln!("load bench, N = {n}: measured exporter");
    let main = measure_main(&sim, conversations, out_dir, n)?;
    Ok(Report {
        requested: n,
        conversations,
        startup_ms,
        sim_generate_seconds: sim.generate_seconds,
        sim_rss_kb: sim.rss_growth_kb,
        base,
        main,
    })
}

// ---------------------------------------------------------------------------------------
// The simulator, in this process on its own runtime

struct Sim {
    handle: simulator::SimHandle,
    runtime: Option<tokio::runtime::Runtime>,
    generate_seconds: f64,
    rss_growth_kb: u64,
}

/// The simulator's threads carry this name, so their CPU can be told apart from the
/// scraper's and the watcher's.
const SIM_THREAD: &str = "loadbench-sim";

impl Sim {
    fn start(n: u64) -> Result<Sim> {
        let history_ms = HISTORY.as_secs_f64() * 1000.0;
        let config = SimConfig {
            seed: 7,
            speed: SIM_SPEED,
            // Closes per real ms are rate * speed / 60 / 1000: this gives N over HISTORY.
            rate_per_hour: n as f64 * 60.0 * 1000.0 / (SIM_SPEED * history_ms),
            history: HISTORY,
            // Nothing closes after the start: every pass reads the same N.
            traffic_duration: Some(Duration::ZERO),
            index_lag: Duration::ZERO,
            bad_record_rate: 0.0,
            token_lifetime: Duration::from_secs(86_400),
            faults: Faults::default(),
            ..SimConfig::default()
        };
        let rss_before = proc_status_kb(std::process::id(), "VmRSS")?;
        // One worker: the exporter reads one page at a time, and the two cores are shared
        // with it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(SIM_THREAD)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the simulator's runtime: {e}"))?;
        let started = Instant::now();
        let handle = runtime
            .block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                simulator::start(config, listener).await
            })
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let generate_seconds = started.elapsed().as_secs_f64();
        let rss_after = proc_status_kb(std::process::id(), "VmRSS")?;
        Ok(Sim {
            handle,
            runtime: Some(runtime),
            generate_seconds,
            rss_growth_kb: rss_after.saturating_sub(rss_before),
        })
    }

    /// Every conversation the simulator serves: what an exporter must track.
    fn conversations(&self) -> u64 {
        self.handle
            .truth(0.0, None)
            .conversations
            .iter()
            .map(|row| row.count)
            .sum()
    }

    fn url(&self) -> String {
        self.handle.base_url()
    }

    fn requests(&self) -> u64 {
        self.handle.stats().graphql_requests
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // A held request sleeps in the simulator for a while: do not wait for it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The exporter process

/// A running exporter, killed if dropped while still running.
struct Exporter {
    child: Child,
    addr: SocketAddr,
}

/// A port nobody listens on right now (the exporter binds it a moment later).
fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The flags every exporter of this bench runs with; `extra` comes last and must hold
/// `--poll.interval`.
fn exporter_args(iadvize_url: &str, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--iadvize.url",
        iadvize_url,
        "--iadvize.username",
        DEMO_USERNAME,
        // A fixed shape still costs one schema request at start-up, and no more.
        "--iadvize.query",
        "searchClosedConversations",
        "--iadvize.max-requests-per-second",
        "1000000",
        // Longer than the hold after the ingest, so the held request does not time out.
        "--iadvize.timeout",
        "60s",
        // The fresh pass after the ingest then reads nothing: nothing closes any more.
        "--poll.overlap",
        "0s",
        // A revisit is due at every round: the first comes right after the idle phase.
        "--poll.revisit-interval",
        "1ms",
        // Both cover the hour of history with room to spare, so the start-up pass reads
        // it all and nothing is pruned.
        "--poll.revisit-horizon",
        "3h",
        "--metrics.window",
        "3h",
        "--log.level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("--web.listen-address".to_string());
    args.push(format!("127.0.0.1:{port}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

impl Exporter {
    fn spawn(args: &[String], log: &Path) -> Result<Exporter> {
        let addr = args
            .iter()
            .skip_while(|a| *a != "--web.listen-address")
            .nth(1)
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .ok_or("exporter flags without --web.listen-address")?;
        let log_file = fs::File::create(log)
            .map_err(|e| format!("cannot create the log {}: {e}", log.display()))?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_iadvize-exporter"));
        command
            .args(args)
            .env("IADVIZE_PASSWORD", DEMO_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        // Settings from the caller's environment would change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IADVIZE_") && name != "IADVIZE_PASSWORD" {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start the exporter: {e}"))?;
        Ok(Exporter { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited, naming its log.
    fn check_alive(&mut self, log: &Path) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the exporter exited ({status}); see {}",
                log.display()
            )),
            Err(e) => Err(format!("cannot check on the exporter: {e}")),
        }
    }

    /// SIGTERM, as an operator would stop it; SIGKILL if it lingers.
    fn terminate(mut self) -> Result<()> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err("the exporter did not stop within 10 s of SIGTERM".to_string())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// /proc

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            // USER_HZ is 100 on every Linux architecture in use.
            .unwrap_or(100.0)
    })
}

/// CPU seconds of the live threads of `pid` whose name `keep` accepts.
fn threads_cpu_seconds(pid: u32, keep: impl Fn(&str) -> bool) -> Result<f64> {
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {dir}: {e}"))?;
    let mut ns: u64 = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        // A thread may exit between the listing and the read: skip it.
        let Ok(comm) = fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !keep(comm.trim()) {
            continue;
        }
        let Ok(schedstat) = fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        if let Some(first) = schedstat.split_whitespace().next() {
            ns += first.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(ns as f64 / 1e9)
}

/// CPU seconds of a whole process: live threads' `schedstat` is precise but forgets
/// threads that exited; `stat` keeps them but counts clock ticks. Both can only be under
/// the truth, so the larger is the better figure.
fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let threads = threads_cpu_seconds(pid, |_| true)?;
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15; the first field after the name is field 3.
    let ticks: f64 = [11, 12]
        .iter()
        .map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum::<Option<f64>>()
        .ok_or_else(|| format!("{path}: no utime/stime"))?;
    Ok(threads.max(ticks / clock_ticks_per_second()))
}

/// CPU seconds of the simulator's threads in this process.
fn sim_cpu_seconds() -> Result<f64> {
    threads_cpu_seconds(std::process::id(), |name| name.starts_with(SIM_THREAD))
}

/// CPU seconds every process on the machine has used (all cores), from `/proc/stat`:
/// the exporter and this bench share the machine with whatever else runs, and that shows
/// in the latencies.
fn machine_busy_seconds() -> Result<f64> {
    let stat =
        fs::read_to_string("/proc/stat").map_err(|e| format!("cannot read /proc/stat: {e}"))?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or("/proc/stat: no cpu line")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy / clock_ticks_per_second())
}

/// A `Vm*` line of `/proc/<pid>/status`, in kB.
fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| format!("{path}: no {field}"))
}

#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

fn memory(pid: u32) -> Result<Memory> {
    Ok(Memory {
        rss_kb: proc_status_kb(pid, "VmRSS")?,
        hwm_kb: proc_status_kb(pid, "VmHWM")?,
    })
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client with one keep-alive connection, as Prometheus scrapes

struct HttpClient {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    connections: u64,
}

impl HttpClient {
    fn new(addr: SocketAddr) -> Self {
        HttpClient {
            addr,
            conn: None,
            connections: 0,
        }
    }

    /// `GET path`: the status and the body. A kept-alive connection the server closed in
    /// the meantime gets one retry on a fresh connection.
    fn get(&mut self, path: &str) -> Result<(u16, String)> {
        let reused = self.conn.is_some();
        match self.exchange(path) {
            Ok(answer) => Ok(answer),
            Err(_) if reused => self.exchange(path),
            Err(e) => Err(e),
        }
    }

    fn exchange(&mut self, path: &str) -> Result<(u16, String)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
            self.conn = Some(BufReader::new(stream));
            self.connections += 1;
        }
        let result = self.exchange_on_open(path);
        if !matches!(result, Ok((_, _, true))) {
            self.conn = None;
        }
        result.map(|(status, body, _)| (status, body))
    }

    /// Returns the status, the body and whether the connection may be reused.
    fn exchange_on_open(&mut self, path: &str) -> Result<(u16, String, bool)> {
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        conn.get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut line = String::new();
        read_line(conn, &mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        let mut keep_alive = true;
        loop {
            read_line(conn, &mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                read_line(conn, &mut line)?;
                let size_text = line.trim().split(';').next().unwrap_or("");
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        read_line(conn, &mut line)?;
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                conn.read_exact(&mut body[start..])
                    .map_err(|e| format!("read chunk: {e}"))?;
                read_line(conn, &mut line)?;
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            conn.read_exact(&mut body)
                .map_err(|e| format!("read body: {e}"))?;
        } else {
            conn.read_to_end(&mut body)
                .map_err(|e| format!("read body: {e}"))?;
            keep_alive = false;
        }
        let body = String::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        Ok((status, body, keep_alive))
    }
}

fn read_line(conn: &mut BufReader<TcpStream>, line: &mut String) -> Result<()> {
    line.clear();
    match conn.read_line(line) {
        Ok(0) => Err("connection closed".to_string()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// The exporter's own figures this bench reads back from `/metrics`.
#[derive(Debug, Clone, Default)]
struct Gauges {
    tracked: f64,
    fetched: f64,
    polls: f64,
    poll_failures: f64,
    last_success: f64,
    poll_duration: f64,
    window_conversations: f64,
    body_bytes: usize,
}

impl Gauges {
    fn parse(body: &str) -> Gauges {
        let mut g = Gauges {
            body_bytes: body.len(),
            ..Gauges::default()
        };
        for line in body.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            match name {
                "iadvize_tracked_conversations" => g.tracked = value,
                "iadvize_conversations_fetched_total" => g.fetched = value,
                "iadvize_polls_total" => g.polls = value,
                "iadvize_poll_failures_total" => g.poll_failures = value,
                "iadvize_last_successful_poll_timestamp_seconds" => g.last_success = value,
                "iadvize_poll_duration_seconds" => g.poll_duration = value,
                "iadvize_window_conversations" => g.window_conversations += value,
                _ => {}
            }
        }
        g
    }
}

fn scrape(client: &mut HttpClient) -> Result<Gauges> {
    match client.get("/metrics")? {
        (200, body) => Ok(Gauges::parse(&body)),
        (status, _) => Err(format!("/metrics answered HTTP {status}")),
    }
}

/// Scrapes until `until` accepts the figures, or fails after `limit`.
fn scrape_until(
    addr: SocketAddr,
    exporter: &mut Exporter,
    log: &Path,
    limit: Duration,
    what: &str,
    until: impl Fn(&Gauges) -> bool,
) -> Result<Gauges> {
    let mut client = HttpClient::new(addr);
    let deadline = Instant::now() + limit;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        exporter.check_alive(log)?;
        match scrape(&mut client) {
            Ok(g) if until(&g) => return Ok(g),
            Ok(g) => last = format!("{g:?}"),
            Err(e) => last = e,
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{what}: not within {limit:?}; last: {last}"))
}

// ---------------------------------------------------------------------------------------
// Start-up time

fn measure_startup(out_dir: &Path) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(STARTUP_RUNS);
    let log = out_dir.join("exporter-startup.log");
    for _ in 0..STARTUP_RUNS {
        let port = free_port()?;
        // Nothing listens on port 1: the exporter keeps trying to reach iAdvize in the
        // background, which the first answer on /metrics does not wait for.
        let args = exporter_args("http://127.0.0.1:1", port, &MAIN_POLL_INTERVAL);
        let started = Instant::now();
        let mut exporter = Exporter::spawn(&args, &log)?;
        let deadline = started + Duration::from_secs(10);
        loop {
            if Instant::now() > deadline {
                return Err("start-up: no answer on /metrics within 10 s".to_string());
            }
            let mut client = HttpClient::new(exporter.addr);
            if let Ok((200, _)) = client.get("/metrics") {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            exporter.check_alive(&log)?;
            thread::sleep(Duration::from_micros(500));
        }
        // SIGKILL: while iAdvize is unreachable, SIGTERM waits for the schema request's
        // retries to run out (about 11 s).
        drop(exporter);
    }
    Ok(times)
}

// ---------------------------------------------------------------------------------------
// Base memory

#[derive(Debug, Clone, Copy)]
struct Base {
    memory: Memory,
    body_bytes: usize,
}

fn measure_base(sim: &Sim, out_dir: &Path, n: u64) -> Result<Base> {
    let log = out_dir.join(format!("exporter-{n}-base.log"));
    let port = free_port()?;
    // One poll only: a second would be a revisit (due at once), whose search for a project
    // that matches nothing walks every conversation, and the simulator's one thread would
    // still be busy with it when the measured exporter starts.
    let args = exporter_args(
        &sim.url(),
        port,
        &["--iadvize.project-ids", NO_PROJECT, "--poll.interval", "1h"],
    );
    let mut exporter = Exporter::spawn(&args, &log)?;
    let addr = exporter.addr;
    let gauges = scrape_until(
        addr,
        &mut exporter,
        &log,
        Duration::from_secs(60),
        "the base exporter's first successful poll",
        |g| g.last_success > 0.0,
    )?;
    if gauges.tracked != 0.0 {
        return Err(format!(
            "the base exporter tracks {} conversations, not 0",
            gauges.tracked
        ));
    }
    // Let the first poll's buffers settle, as they would in the measured exporter.
    thread::sleep(Duration::from_millis(500));
    let memory = memory(exporter.pid())?;
    exporter.terminate()?;
    Ok(Base {
        memory,
        body_bytes: gauges.body_bytes,
    })
}

// ---------------------------------------------------------------------------------------
// The measured exporter

/// A moment the watcher pinned down.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    /// The exporter's CPU seconds since it started.
    cpu: f64,
    /// The simulator's CPU seconds.
    sim_cpu: f64,
    /// This bench process's CPU seconds (simulator, scraper, watcher).
    bench_cpu: f64,
    machine_busy: f64,
    /// GraphQL requests the simulator has received, ever.
    requests: u64,
}

#[derive(Debug, Clone, Copy)]
enum Gate {
    /// The first page of the start-up pass arrived.
    FirstPage(Mark),
    /// The start-up pass is over and the next request is held.
    IngestDone(Mark),
    /// The first page of the revisit pass arrived.
    RevisitStart(Mark),
    /// The revisit pass is over and the next request is held.
    RevisitDone(Mark),
}

fn mark(pid: u32, requests: u64) -> Result<Mark> {
    Ok(Mark {
        at: Instant::now(),
        cpu: process_cpu_seconds(pid)?,
        sim_cpu: sim_cpu_seconds()?,
        bench_cpu: process_cpu_seconds(std::process::id())?,
        machine_busy: machine_busy_seconds()?,
        requests,
    })
}

fn set_faults(sim: &Sim, change: impl FnOnce(&mut Faults)) {
    let mut faults = sim.handle.faults();
    change(&mut faults);
    sim.handle.set_faults(faults);
}

/// Follows the exporter's passes from the simulator's side and sends a [`Gate`] at each
/// boundary. Before the exporter starts, `revoke_every` must be the number of the last
/// request of the start-up pass (schema request, then `pages` pages).
///
/// After the last page of a pass the simulator revokes the token; the exporter's next
/// request gets 401, it logs in again and retries, and that retry is held by the `slow`
/// fault set here when the revocation shows. The 401 and the login come after the
/// exporter has finished the pass, so the fault is always in place in time.
fn watch_gates(
    sim: &Sim,
    pid: u32,
    first_page: u64,
    pages: u64,
    stop: &AtomicBool,
    gates: Sender<Gate>,
) -> Result<()> {
    enum State {
        FirstPage,
        IngestEnd,
        HoldIngest,
        RevisitStart { held: u64 },
        RevisitEnd,
        HoldRevisit,
    }
    let hold_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut state = State::FirstPage;
    while !stop.load(Ordering::Relaxed) {
        let stats = sim.handle.stats();
        let requests = stats.graphql_requests;
        let revoked = stats.faults.get("revoked").copied().unwrap_or(0);
        let held = stats.faults.get("slow").copied().unwrap_or(0);
        let (next, gate) = match state {
            State::FirstPage if requests >= first_page => (
                State::IngestEnd,
                Some(Gate::FirstPage(mark(pid, requests)?)),
            ),
            State::IngestEnd if revoked >= 1 => {
                set_faults(sim, |f| {
                    f.revoke_every = 0;
                    f.slow = 1.0;
                    f.slow_delay_ms = hold_ms(HOLD_AFTER_INGEST);
                });
                (State::HoldIngest, None)
            }
            State::HoldIngest if held >= 1 => {
                let m = mark(pid, requests)?;
                // The held request has drawn its fault: the next ones go through, and the
                // last page of the revisit pass will be request `requests + pages`.
                set_faults(sim, |f| {
                    f.slow = 0.0;
                    f.revoke_every = requests + pages;
                });
                (
                    State::RevisitStart { held: requests },
                    Some(Gate::IngestDone(m)),
                )
            }
            State::RevisitStart { held } if requests > held => (
                State::RevisitEnd,
                Some(Gate::RevisitStart(mark(pid, requests)?)),
            ),
            State::RevisitEnd if revoked >= 2 => {
                set_faults(sim, |f| {
                    f.revoke_every = 0;
                    f.slow = 1.0;
                    f.slow_delay_ms = hold_ms(HOLD_AFTER_REVISIT);
                });
                (State::HoldRevisit, None)
            }
            State::HoldRevisit if held >= 2 => {
                let m = mark(pid, requests)?;
                set_faults(sim, |f| f.slow = 0.0);
                let _ = gates.send(Gate::RevisitDone(m));
                return Ok(());
            }
            other => {
                state = other;
                thread::sleep(Duration::from_micros(200));
                continue;
            }
        };
        state = next;
        if let Some(gate) = gate
            && gates.send(gate).is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// One scrape while the scraper ran.
#[derive(Debug, Clone)]
struct Sample {
    start: Instant,
    latency: Duration,
    gauges: Option<Gauges>,
    /// The scrape opened a new connection, so its latency includes the TCP set-up.
    reconnected: bool,
}

/// Scrapes `/metrics` over one keep-alive connection, pausing [`SCRAPE_PAUSE`] between
/// scrapes, while `on` is set; until `stop`.
fn scraper(
    addr: SocketAddr,
    on: &AtomicBool,
    busy: &AtomicBool,
    stop: &AtomicBool,
) -> (Vec<Sample>, u64) {
    let mut client = HttpClient::new(addr);
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        busy.store(true, Ordering::SeqCst);
        if !on.load(Ordering::SeqCst) {
            busy.store(false, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        let connections = client.connections;
        let start = Instant::now();
        let result = scrape(&mut client);
        let latency = start.elapsed();
        busy.store(false, Ordering::SeqCst);
        // Before the exporter listens, connections are refused: not a scrape.
        if client.connections > 0 {
            samples.push(Sample {
                start,
                latency,
                gauges: result.ok(),
                reconnected: client.connections > connections,
            });
        }
        thread::sleep(SCRAPE_PAUSE);
    }
    (samples, client.connections)
}

#[derive(Debug, Clone, Default)]
struct Latencies {
    count: usize,
    errors: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latencies {
    /// Scrapes that opened a connection are left out: what is asked about is how fast
    /// the exporter answers, not the TCP set-up.
    fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Latencies {
        let mut ms = Vec::new();
        let mut errors = 0;
        for s in samples.filter(|s| !s.reconnected) {
            if s.gauges.is_some() {
                ms.push(s.latency.as_secs_f64() * 1000.0);
            } else {
                errors += 1;
            }
        }
        ms.sort_by(f64::total_cmp);
        Latencies {
            count: ms.len(),
            errors,
            p50_ms: percentile(&ms, 0.50),
            p90_ms: percentile(&ms, 0.90),
            p99_ms: percentile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Clone)]
struct Main {
    flags: Vec<String>,
    spawn_at: Instant,
    spawn_unix: f64,
    first_page: Mark,
    ingest_done: Mark,
    idle_end: Mark,
    revisit_start: Mark,
    revisit_done: Mark,
    requests_at_spawn: u64,
    /// Exporter figures during the idle phase and after the revisit pass.
    idle_gauges: Gauges,
    final_gauges: Gauges,
    memory_idle: Memory,
    memory_final: Memory,
    ingest_latency: Latencies,
    idle_latency: Latencies,
    ingest_scrapes: usize,
    idle_scrapes: usize,
    /// The second idle phase, after the revisit pass.
    idle_again_end: Mark,
    idle_again_scrapes: usize,
    idle_after_ingest_latency: Latencies,
    idle_after_revisit_latency: Latencies,
    scraper_connections: u64,
}

fn wait_gate(
    gates: &Receiver<Gate>,
    exporter: &mut Exporter,
    log: &Path,
    limit: Duration,
    what: &str,
) -> Result<Gate> {
    let deadline = Instant::now() + limit;
    loop {
        match gates.recv_timeout(Duration::from_millis(100)) {
            Ok(gate) => return Ok(gate),
            Err(RecvTimeoutError::Timeout) => {
                exporter.check_alive(log)?;
                if Instant::now() > deadline {
                    return Err(format!("{what}: not within {limit:?}"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("{what}: the watcher stopped"));
            }
        }
    }
}

fn measure_main(sim: &Sim, n: u64, out_dir: &Path, size: u64) -> Result<Main> {
    let pages = n.div_ceil(PAGE_SIZE);
    // Base exporter's stray requests, if any, are over by now.
    thread::sleep(Duration::from_millis(200));
    let requests_at_spawn = sim.requests();
    // Request numbers: +1 schema, then the pages of the start-up pass.
    let first_page = requests_at_spawn + 2;
    let last_ingest_page = requests_at_spawn + 1 + pages;
    set_faults(sim, |f| {
        *f = Faults {
            revoke_every: last_ingest_page,
            ..Faults::default()
        }
    });

    let log = out_dir.join(format!("exporter-{size}.log"));
    let port = free_port()?;
    let flags = exporter_args(&sim.url(), port, &MAIN_POLL_INTERVAL);
    let spawn_at = Instant::now();
    let spawn_unix = unix_now();
    let mut exporter = Exporter::spawn(&flags, &log)?;
    let pid = exporter.pid();
    let addr = exporter.addr;

    let scrape_on = AtomicBool::new(true);
    let scrape_busy = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let (gate_tx, gate_rx) = mpsc::channel();

    let outcome = thread::scope(|scope| {
        let watcher = scope.spawn(|| watch_gates(sim, pid, first_page, pages, &stop, gate_tx));
        let scraper = scope.spawn(|| scraper(addr, &scrape_on, &scrape_busy, &stop));
        let phases = (|| -> Result<_> {
            // Generous: the simulator alone needs about a millisecond a page.
            let ingest_limit =
                Duration::from_secs(60) + Duration::from_micros(400u64.saturating_mul(n));
            let Gate::FirstPage(first) =
                wait_gate(&gate_rx, &mut exporter, &log, ingest_limit, "first page")?
            else {
                return Err("gates out of order".to_string());
            };
            let Gate::IngestDone(done) =
                wait_gate(&gate_rx, &mut exporter, &log, ingest_limit, "end of ingest")?
            else {
                return Err("gates out of order".to_string());
            };
            eprintln!(
                "load bench: ingest done in {:.1} s",
                done.at.duration_since(first.at).as_secs_f64()
            );
            // Idle: the exporter only answers scrapes until the held request returns.
            let idle_until = done.at + HOLD_AFTER_INGEST - IDLE_MARGIN;
            thread::sleep(idle_until.saturating_duration_since(Instant::now()));
            scrape_on.store(false, Ordering::SeqCst);
            while scrape_busy.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_micros(100));
            }
            let idle_end = mark(pid, sim.requests())?;
            let memory_idle = memory(pid)?;
            let Gate::RevisitStart(revisit_start) = wait_gate(
                &gate_rx,
                &mut exporter,
                &log,
                HOLD_AFTER_INGEST + Duration::from_secs(30),
                "start of the revisit pass",
            )?
            else {
                return Err("gates out of order".to_string());
            };
            let Gate::RevisitDone(revisit_done) = wait_gate(
                &gate_rx,
                &mut exporter,
                &log,
                ingest_limit,
                "end of the revisit pass",
            )?
            else {
                return Err("gates out of order".to_string());
            };
            eprintln!(
                "load bench: revisit done in {:.1} s",
                revisit_done
                    .at
                    .duration_since(revisit_start.at)
                    .as_secs_f64()
            );
            let memory_final = memory(pid)?;
            // A second idle phase: one short phase is at the mercy of whatever else the
            // machine runs at that moment.
            scrape_on.store(true, Ordering::SeqCst);
            thread::sleep(HOLD_AFTER_INGEST - IDLE_MARGIN);
            scrape_on.store(false, Ordering::SeqCst);
            while scrape_busy.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_micros(100));
            }
            let idle_again_end = mark(pid, sim.requests())?;
            let final_gauges = scrape(&mut HttpClient::new(addr))?;
            Ok((
                first,
                done,
                idle_end,
                memory_idle,
                revisit_start,
                revisit_done,
                memory_final,
                idle_again_end,
                final_gauges,
            ))
        })();
        stop.store(true, Ordering::SeqCst);
        let watched = watcher
            .join()
            .map_err(|_| "the watcher thread panicked".to_string())?;
        let scraped = scraper
            .join()
            .map_err(|_| "the scraper thread panicked".to_string())?;
        let phases = phases?;
        watched?;
        Ok::<_, String>((phases, scraped))
    });
    let (phases, (samples, scraper_connections)) = match outcome {
        Ok(v) => v,
        Err(e) => return Err(format!("{e} (exporter log: {})", log.display())),
    };
    exporter.terminate()?;
    let (
        first_page_mark,
        ingest_done,
        idle_end,
        memory_idle,
        revisit_start,
        revisit_done,
        memory_final,
        idle_again_end,
        final_gauges,
    ) = phases;

    let ingest_samples: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= first_page_mark.at && s.start < ingest_done.at)
        .collect();
    let idle_samples: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= ingest_done.at && s.start < idle_end.at)
        .collect();
    let idle_again_samples: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= revisit_done.at && s.start < idle_again_end.at)
        .collect();
    let idle_gauges = idle_samples
        .iter()
        .rev()
        .find_map(|s| s.gauges.clone())
        .ok_or("no successful scrape in the idle phase")?;

    let main = Main {
        flags,
        spawn_at,
        spawn_unix,
        first_page: first_page_mark,
        ingest_done,
        idle_end,
        revisit_start,
        revisit_done,
        requests_at_spawn,
        idle_gauges,
        final_gauges,
        memory_idle,
        memory_final,
        ingest_latency: Latencies::of(ingest_samples.iter().copied()),
        idle_latency: Latencies::of(idle_samples.iter().chain(&idle_again_samples).copied()),
        idle_after_ingest_latency: Latencies::of(idle_samples.iter().copied()),
        idle_after_revisit_latency: Latencies::of(idle_again_samples.iter().copied()),
        idle_again_end,
        idle_again_scrapes: idle_again_samples.len(),
        ingest_scrapes: ingest_samples.len(),
        idle_scrapes: idle_samples.len(),
        scraper_connections,
    };
    main.check(n, pages)?;
    Ok(main)
}

impl Main {
    /// Fails when the exporter did not track exactly the simulator's conversations, or
    /// when a pass did not read in exactly the planned requests (the gates would then
    /// have cut a pass in the middle, and the figures would mean nothing).
    fn check(&self, n: u64, pages: u64) -> Result<()> {
        let n_f = n as f64;
        let idle = &self.idle_gauges;
        let last = &self.final_gauges;
        let mut problems = Vec::new();
        if idle.tracked != n_f {
            problems.push(format!(
                "after the ingest the exporter tracks {} conversations, the simulator serves {n}",
                idle.tracked
            ));
        }
        if idle.window_conversations != n_f {
            problems.push(format!(
                "after the ingest the window holds {} conversations, not {n}",
                idle.window_conversations
            ));
        }
        if last.tracked != n_f {
            problems.push(format!(
                "after the revisit the exporter tracks {} conversations, not {n}",
                last.tracked
            ));
        }
        if last.fetched != 2.0 * n_f {
            problems.push(format!(
                "the exporter fetched {} records over the ingest and the revisit, not {}",
                last.fetched,
                2 * n
            ));
        }
        if last.poll_failures != 0.0 {
            problems.push(format!("{} polls failed", last.poll_failures));
        }
        if self.ingest_pages() != pages || self.revisit_pages() != pages {
            problems.push(format!(
                "pages read: ingest {}, revisit {}, expected {pages} each: a retry (see the \
                 exporter log) or a late gate moved the pass boundaries",
                self.ingest_pages(),
                self.revisit_pages()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Requests of the start-up pass: all up to the held one, less the schema request, the
    /// refused request after the revocation and the held retry.
    fn ingest_pages(&self) -> u64 {
        self.ingest_done
            .requests
            .saturating_sub(self.requests_at_spawn + 3)
    }

    /// Requests of the revisit pass: between the two held ones, less the refused request
    /// before the second.
    fn revisit_pages(&self) -> u64 {
        self.revisit_done
            .requests
            .saturating_sub(self.ingest_done.requests + 2)
    }

    /// The wall clock at a mark, for comparison with the exporter's own timestamps.
    fn to_unix(&self, at: Instant) -> f64 {
        self.spawn_unix + at.duration_since(self.spawn_at).as_secs_f64()
    }
}

// ---------------------------------------------------------------------------------------
// Report

struct Report {
    requested: u64,
    conversations: u64,
    startup_ms: Vec<f64>,
    sim_generate_seconds: f64,
    sim_rss_kb: u64,
    base: Base,
    main: Main,
}

/// Every figure of a report, derived once for the table and the JSON.
struct Figures {
    startup_median_ms: f64,
    startup_max_ms: f64,
    ingest_wall_s: f64,
    login_and_schema_s: f64,
    ingest_pass_s: f64,
    ingest_read_s: f64,
    ingest_cpu_s: f64,
    startup_cpu_s: f64,
    pass_cpu_s: f64,
    scrape_cpu_ms: f64,
    scrape_cpu_per_scrape_ms: f64,
    ingest_cpu_net_s: f64,
    ingest_us_per_conv: f64,
    ingest_net_us_per_conv: f64,
    sim_ingest_cpu_s: f64,
    ingest_pages: u64,
    min_pages: u64,
    fresh_pass_cpu_ms: f64,
    revisit_wall_s: f64,
    revisit_read_s: f64,
    revisit_cpu_s: f64,
    revisit_us_per_conv: f64,
    sim_revisit_cpu_s: f64,
    others_ingest_cpu_s: f64,
    others_revisit_cpu_s: f64,
    revisit_pages: u64,
    base_rss_mb: f64,
    rss_idle_mb: f64,
    hwm_idle_mb: f64,
    rss_final_mb: f64,
    hwm_final_mb: f64,
    steady_bytes_per_conv: f64,
    peak_bytes_per_conv: f64,
}

/// CPU seconds that neither the exporter nor this bench used between two marks.
fn others_cpu(from: &Mark, to: &Mark) -> f64 {
    let machine = to.machine_busy - from.machine_busy;
    let ours = (to.cpu - from.cpu) + (to.bench_cpu - from.bench_cpu);
    (machine - ours).max(0.0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}

impl Report {
    fn figures(&self) -> Figures {
        let m = &self.main;
        let n = self.conversations as f64;
        let ingest_end_unix = m.idle_gauges.last_success;
        // The exporter does nothing else while idle: its CPU then is the scrapes'.
        let idle_scrapes = m.idle_scrapes + m.idle_again_scrapes;
        let idle_cpu =
            (m.idle_end.cpu - m.ingest_done.cpu) + (m.idle_again_end.cpu - m.revisit_done.cpu);
        let per_scrape_cpu = if idle_scrapes > 0 {
            idle_cpu / idle_scrapes as f64
        } else {
            0.0
        };
        let scrape_cpu = per_scrape_cpu * m.ingest_scrapes as f64;
        let ingest_cpu = m.ingest_done.cpu;
        let pass_cpu = m.ingest_done.cpu - m.first_page.cpu;
        let revisit_cpu = m.revisit_done.cpu - m.revisit_start.cpu;
        let first_page_unix = m.to_unix(m.first_page.at);
        let base_kb = self.base.memory.rss_kb;
        Figures {
            startup_median_ms: median(&self.startup_ms),
            startup_max_ms: self.startup_ms.iter().copied().fold(f64::NAN, f64::max),
            ingest_wall_s: ingest_end_unix - m.spawn_unix,
            login_and_schema_s: first_page_unix - m.spawn_unix,
            ingest_pass_s: ingest_end_unix - first_page_unix,
            ingest_read_s: m.idle_gauges.poll_duration,
            ingest_cpu_s: ingest_cpu,
            startup_cpu_s: m.first_page.cpu,
            pass_cpu_s: pass_cpu,
            scrape_cpu_ms: scrape_cpu * 1000.0,
            scrape_cpu_per_scrape_ms: per_scrape_cpu * 1000.0,
            ingest_cpu_net_s: pass_cpu - scrape_cpu,
            ingest_us_per_conv: pass_cpu * 1e6 / n,
            ingest_net_us_per_conv: (pass_cpu - scrape_cpu) * 1e6 / n,
            sim_ingest_cpu_s: m.ingest_done.sim_cpu - m.first_page.sim_cpu,
            ingest_pages: m.ingest_pages(),
            min_pages: self.conversations.div_ceil(PAGE_SIZE),
            fresh_pass_cpu_ms: (m.revisit_start.cpu - m.idle_end.cpu) * 1000.0,
            revisit_wall_s: m.final_gauges.last_success - m.to_unix(m.revisit_start.at),
            revisit_read_s: m.final_gauges.poll_duration,
            revisit_cpu_s: revisit_cpu,
            revisit_us_per_conv: revisit_cpu * 1e6 / n,
            sim_revisit_cpu_s: m.revisit_done.sim_cpu - m.revisit_start.sim_cpu,
            others_ingest_cpu_s: others_cpu(&m.first_page, &m.ingest_done),
            others_revisit_cpu_s: others_cpu(&m.revisit_start, &m.revisit_done),
            revisit_pages: m.revisit_pages(),
            base_rss_mb: mb(base_kb),
            rss_idle_mb: mb(m.memory_idle.rss_kb),
            hwm_idle_mb: mb(m.memory_idle.hwm_kb),
            rss_final_mb: mb(m.memory_final.rss_kb),
            hwm_final_mb: mb(m.memory_final.hwm_kb),
            steady_bytes_per_conv: (m.memory_idle.rss_kb as f64 - base_kb as f64) * 1024.0 / n,
            peak_bytes_per_conv: (m.memory_idle.hwm_kb as f64 - base_kb as f64) * 1024.0 / n,
        }
    }
}

/// A table row: what, the value, and the target with whether it is met.
struct Row {
    what: String,
    value: String,
    target: Option<(String, bool)>,
}

fn row(what: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        what: what.into(),
        value: value.into(),
        target: None,
    }
}

fn row_target(what: impl Into<String>, value: impl Into<String>, target: &str, met: bool) -> Row {
    Row {
        what: what.into(),
        value: value.into(),
        target: Some((target.to_string(), met)),
    }
}

fn latency_text(l: &Latencies) -> String {
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2} ({} scrapes, {} errors)",
        l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.count, l.errors
    )
}

fn latency_json(l: &Latencies) -> serde_json::Value {
    json!({
        "count": l.count,
        "errors": l.errors,
        "p50_ms": l.p50_ms,
        "p90_ms": l.p90_ms,
        "p99_ms": l.p99_ms,
        "max_ms": l.max_ms,
    })
}

impl Report {
    fn rows(&self, wall: f64) -> Vec<Row> {
        let f = self.figures();
        let m = &self.main;
        let n = self.conversations;
        let nf = n as f64;
        let ingest_ratio = f.ingest_pages as f64 / f.min_pages as f64;
        let revisit_ratio = f.revisit_pages as f64 / f.min_pages as f64;
        let p99_ratio = m.ingest_latency.p99_ms / m.idle_latency.p99_ms;
        let mut rows = vec![
            row(
                "conversations served / tracked after ingest / after revisit",
                format!(
                    "{n} / {} / {}",
                    m.idle_gauges.tracked, m.final_gauges.tracked
                ),
            ),
            row_target(
                format!("start-up to first /metrics answer, median of {STARTUP_RUNS}"),
                format!("{:.1} ms", f.startup_median_ms),
                "≤ 100 ms",
                f.startup_median_ms <= 100.0,
            ),
            row_target(
                "start-up, max",
                format!("{:.1} ms", f.startup_max_ms),
                "≤ 100 ms",
                f.startup_max_ms <= 100.0,
            ),
            row(
                "**ingest** wall, spawn → start-up pass done",
                format!("{:.2} s", f.ingest_wall_s),
            ),
            row(
                "  of which login + schema request",
                format!("{:.3} s", f.login_and_schema_s),
            ),
            row(
                "  of which the pass, first page → ledger updated (exporter's read time)",
                format!(
                    "{:.2} s ({:.2} s); {:.0} conversations/s",
                    f.ingest_pass_s,
                    f.ingest_read_s,
                    nf / f.ingest_pass_s
                ),
            ),
            row(
                "exporter CPU, spawn → pass done (before the first page)",
                format!("{:.3} s ({:.3} s)", f.ingest_cpu_s, f.startup_cpu_s),
            ),
            row(
                format!(
                    "ingest pass CPU, raw (includes {} scrapes ≈ {:.0} ms)",
                    m.ingest_scrapes, f.scrape_cpu_ms
                ),
                format!(
                    "{:.3} s = {:.3} µs/conversation",
                    f.pass_cpu_s, f.ingest_us_per_conv
                ),
            ),
            row_target(
                "ingest pass CPU per conversation, net of scrapes",
                format!(
                    "{:.3} µs ({:.3} s)",
                    f.ingest_net_us_per_conv, f.ingest_cpu_net_s
                ),
                "≤ 1.0 µs",
                f.ingest_net_us_per_conv <= 1.0,
            ),
            row(
                "simulator CPU during the pass; other processes on the machine",
                format!(
                    "{:.2} s; {:.2} s",
                    f.sim_ingest_cpu_s, f.others_ingest_cpu_s
                ),
            ),
            row_target(
                "GraphQL page requests, ingest / minimum ⌈N/100⌉",
                format!(
                    "{} / {} = {ingest_ratio:.4} (+1 schema request, +1 refused by the gate)",
                    f.ingest_pages, f.min_pages
                ),
                "≤ 1.02",
                ingest_ratio <= 1.02,
            ),
            row(
                "fresh pass that finds nothing, with N tracked: CPU",
                format!("{:.1} ms", f.fresh_pass_cpu_ms),
            ),
            row(
                "**revisit** wall, first page → ledger updated (exporter's read time)",
                format!(
                    "{:.2} s ({:.2} s); {:.0} conversations/s",
                    f.revisit_wall_s,
                    f.revisit_read_s,
                    nf / f.revisit_wall_s
                ),
            ),
            row(
                "revisit CPU, exporter (no scrapes)",
                format!(
                    "{:.3} s = {:.3} µs/conversation",
                    f.revisit_cpu_s, f.revisit_us_per_conv
                ),
            ),
            row(
                "simulator CPU during the revisit; other processes on the machine",
                format!(
                    "{:.2} s; {:.2} s",
                    f.sim_revisit_cpu_s, f.others_revisit_cpu_s
                ),
            ),
            row_target(
                "GraphQL page requests, revisit / minimum",
                format!("{} / {} = {revisit_ratio:.4}", f.revisit_pages, f.min_pages),
                "≤ 1.02",
                revisit_ratio <= 1.02,
            ),
            row(
                "**memory** base RSS (same flags, tracking 0)",
                format!("{:.1} MB", f.base_rss_mb),
            ),
        ];
        let steady = format!(
            "{:.1} MB (peak VmHWM {:.1} MB)",
            f.rss_idle_mb, f.hwm_idle_mb
        );
        if self.requested == 100_000 {
            rows.push(row_target(
                "RSS after ingest, idle",
                steady,
                "≤ 40 MB",
                f.rss_idle_mb <= 40.0,
            ));
        } else {
            rows.push(row("RSS after ingest, idle", steady));
        }
        rows.push(row(
            "RSS after revisit",
            format!(
                "{:.1} MB (peak VmHWM {:.1} MB)",
                f.rss_final_mb, f.hwm_final_mb
            ),
        ));
        let steady_bytes = format!("{:.1} B", f.steady_bytes_per_conv);
        if self.requested == 1_000_000 {
            rows.push(row_target(
                "(steady RSS − base) / N",
                steady_bytes,
                "≤ 64 B",
                f.steady_bytes_per_conv <= 64.0,
            ));
        } else {
            rows.push(row("(steady RSS − base) / N", steady_bytes));
        }
        rows.extend([
            row(
                "(peak RSS − base) / N",
                format!("{:.1} B", f.peak_bytes_per_conv),
            ),
            row(
                "**scrapes** /metrics body, tracking N (tracking 0); exporter CPU per scrape",
                format!(
                    "{} B ({} B); {:.2} ms",
                    m.idle_gauges.body_bytes, self.base.body_bytes, f.scrape_cpu_per_scrape_ms
                ),
            ),
            row(
                "scrape latency during ingest, p50 / p90 / p99 / max",
                format!("{} ms", latency_text(&m.ingest_latency)),
            ),
            row(
                "scrape latency idle (after ingest, after revisit), p50 / p90 / p99 / max",
                format!("{} ms", latency_text(&m.idle_latency)),
            ),
            row_target(
                "p99 during ingest / p99 idle",
                format!("{p99_ratio:.2}"),
                "≤ 2",
                p99_ratio <= 2.0,
            ),
            row(
                "scraper connections opened (the server closes one idle for 10 s, as \
                 during a long revisit; scrapes that opened one are left out above)",
                m.scraper_connections.to_string(),
            ),
            row(
                "**simulator** history generation (+ truth)",
                format!(
                    "{:.1} s, +{:.0} MB RSS in the bench process",
                    self.sim_generate_seconds,
                    mb(self.sim_rss_kb)
                ),
            ),
            row("wall time of this size, everything included", {
                format!("{wall:.1} s")
            }),
        ]);
        rows
    }

    fn markdown(&self, wall: f64) -> String {
        let mut out = format!(
            "\n### Load: N = {} ({} requested)\n\n| measure | value | target |\n| --- | --- | --- |\n",
            self.conversations, self.requested
        );
        for r in self.rows(wall) {
            let target = match &r.target {
                Some((t, true)) => format!("{t} ok"),
                Some((t, false)) => format!("{t} **MISSED**"),
                None => String::new(),
            };
            out.push_str(&format!("| {} | {} | {target} |\n", r.what, r.value));
        }
        out.push_str(&format!(
            "\nExporter flags: `{}` (password in IADVIZE_PASSWORD)\n",
            self.main.flags.join(" ")
        ));
        out
    }

    fn json(&self, wall: f64) -> serde_json::Value {
        let f = self.figures();
        let m = &self.main;
        let targets: BTreeMap<String, serde_json::Value> = self
            .rows(wall)
            .into_iter()
            .filter_map(|r| {
                r.target
                    .map(|(t, met)| (r.what, json!({"target": t, "met": met, "value": r.value})))
            })
            .collect();
        json!({
            "requested": self.requested,
            "conversations": self.conversations,
            "wall_seconds": wall,
            "exporter_flags": m.flags,
            "startup_ms": self.startup_ms,
            "startup_median_ms": f.startup_median_ms,
            "startup_max_ms": f.startup_max_ms,
            "ingest": {
                "wall_s": f.ingest_wall_s,
                "login_and_schema_s": f.login_and_schema_s,
                "pass_s": f.ingest_pass_s,
                "exporter_read_s": f.ingest_read_s,
                "process_cpu_s": f.ingest_cpu_s,
                "startup_cpu_s": f.startup_cpu_s,
                "pass_cpu_s": f.pass_cpu_s,
                "scrapes": m.ingest_scrapes,
                "scrape_cpu_ms_estimate": f.scrape_cpu_ms,
                "cpu_net_s": f.ingest_cpu_net_s,
                "us_per_conversation": f.ingest_us_per_conv,
                "net_us_per_conversation": f.ingest_net_us_per_conv,
                "simulator_cpu_s": f.sim_ingest_cpu_s,
                "other_processes_cpu_s": f.others_ingest_cpu_s,
                "page_requests": f.ingest_pages,
                "min_page_requests": f.min_pages,
                "tracked": m.idle_gauges.tracked,
                "window_conversations": m.idle_gauges.window_conversations,
            },
            "empty_fresh_pass_cpu_ms": f.fresh_pass_cpu_ms,
            "revisit": {
                "wall_s": f.revisit_wall_s,
                "exporter_read_s": f.revisit_read_s,
                "cpu_s": f.revisit_cpu_s,
                "us_per_conversation": f.revisit_us_per_conv,
                "simulator_cpu_s": f.sim_revisit_cpu_s,
                "other_processes_cpu_s": f.others_revisit_cpu_s,
                "page_requests": f.revisit_pages,
                "tracked": m.final_gauges.tracked,
                "fetched_total": m.final_gauges.fetched,
            },
            "memory": {
                "base_rss_mb": f.base_rss_mb,
                "base_hwm_mb": mb(self.base.memory.hwm_kb),
                "rss_after_ingest_mb": f.rss_idle_mb,
                "hwm_after_ingest_mb": f.hwm_idle_mb,
                "rss_after_revisit_mb": f.rss_final_mb,
                "hwm_after_revisit_mb": f.hwm_final_mb,
                "steady_bytes_per_conversation": f.steady_bytes_per_conv,
                "peak_bytes_per_conversation": f.peak_bytes_per_conv,
            },
            "scrapes": {
                "body_bytes": m.idle_gauges.body_bytes,
                "base_body_bytes": self.base.body_bytes,
                "during_ingest": latency_json(&m.ingest_latency),
                "idle": latency_json(&m.idle_latency),
                "idle_after_ingest": latency_json(&m.idle_after_ingest_latency),
                "idle_after_revisit": latency_json(&m.idle_after_revisit_latency),
                "cpu_ms_per_scrape": f.scrape_cpu_per_scrape_ms,
                "connections": m.scraper_connections,
            },
            "simulator": {
                "generate_s": self.sim_generate_seconds,
                "rss_growth_mb": mb(self.sim_rss_kb),
            },
            "targets": targets,
        })
    }
}
