//! The exporter under test: in this process, or the real binary as a child process.

use std::ffi::OsStr;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iadvize_exporter::app;
use iadvize_exporter::config::Command;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Exposition, free_port, parse_flags, wait_ready};

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
    pub async fn start<S: AsRef<str>>(args: &[S], env: &[(&str, &str)]) -> Exporter {
        Exporter::start_with_clock_offset(args, env, Arc::new(AtomicI64::new(0))).await
    }

    /// The same, with the exporter's clock ahead of the wall clock by `offset_ms`, which
    /// the test can move while the exporter runs (steer it with the simulator's clock).
    pub async fn start_with_clock_offset<S: AsRef<str>>(
        args: &[S],
        env: &[(&str, &str)],
        offset_ms: Arc<AtomicI64>,
    ) -> Exporter {
        let config = match parse_flags(args, env) {
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

    /// Waits for `/-/ready` (the start-up read succeeded), for at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        wait_ready(&self.url(""), limit).await;
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

/// The exporter binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_iadvize-exporter");

/// How a finished process ended, and all it wrote.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A program running as a child process. Its output is drained by threads as it comes, so
/// a chatty child (trace logs) never blocks on a full pipe. Killed if the test fails first.
pub struct Process {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn drain(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buffer[..n]),
            }
        }
    })
}

fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

impl Process {
    /// Starts `program` with these arguments and these `IADVIZE_*` variables; any
    /// `IADVIZE_*` variable of the test's own environment is removed so that it cannot
    /// change the outcome.
    pub fn spawn<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Process {
        let program = program.as_ref();
        let mut command = std::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IADVIZE_") {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.to_string_lossy()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().unwrap(), stdout.clone()),
            drain(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Process {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGTERM`, `SIGINT`... by name, to this child only.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// `SIGKILL`, and waits for the end.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// What the child has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        text(&self.stderr)
    }

    /// What the child has written so far, stdout then stderr.
    pub fn output_so_far(&self) -> String {
        format!("{}{}", text(&self.stdout), text(&self.stderr))
    }

    /// Waits for the child to exit, at most `limit`; past it the child is killed and the
    /// test fails with what it wrote.
    pub async fn wait(mut self, limit: Duration) -> Finished {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the process did not exit within {limit:?}; stderr so far:\n{}",
                    self.stderr_so_far()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        Finished {
            status,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary for a command that should end by itself (a usage error, `--help`,
/// `check`).
pub async fn run<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Finished {
    Process::spawn(BIN, args, env)
        .wait(Duration::from_secs(30))
        .await
}

/// The exporter binary as a child process, serving on a loopback address of its own.
pub struct ExporterProcess {
    process: Process,
    /// `127.0.0.1:port`.
    pub address: String,
}

impl ExporterProcess {
    /// Starts the binary with these flags and variables on a free port.
    pub fn spawn<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> ExporterProcess {
        ExporterProcess::spawn_on(free_port(), args, env)
    }

    /// The same on `port`, which a restarted exporter takes again.
    pub fn spawn_on<S: AsRef<OsStr>>(
        port: u16,
        args: &[S],
        env: &[(&str, &str)],
    ) -> ExporterProcess {
        let address = format!("127.0.0.1:{port}");
        let mut argv: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        argv.extend([OsStr::new("--web.listen-address"), OsStr::new(&address)]);
        ExporterProcess {
            process: Process::spawn(BIN, &argv, env),
            address,
        }
    }

    /// `http://address` then `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// One scrape of `/metrics`, or why there is none (yet).
    pub async fn scrape(&self) -> Result<Exposition, String> {
        let body = reqwest::get(self.url("/metrics"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Exposition::parse(&body))
    }

    /// Waits for `/-/ready` (the start-up read succeeded), for at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        wait_ready(&self.url(""), limit).await;
    }

    pub async fn wait(self, limit: Duration) -> Finished {
        self.process.wait(limit).await
    }
}

impl std::ops::Deref for ExporterProcess {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for ExporterProcess {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}
