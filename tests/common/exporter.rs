//! The exporter under test: in this process, or the real binary as a child process.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iadvize_exporter::app;
use iadvize_exporter::config::Command;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Exposition, parse_flags, wait_ready};

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
