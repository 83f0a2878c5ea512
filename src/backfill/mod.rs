//! `iadvize-exporter backfill`: the account's past closed conversations as Prometheus
//! history, and a state file the exporter goes on from.
//!
//! One counting engine: the range is read with the exporter's client (pacing, retries,
//! login budget) into the exporter's [`Ledger`], and each sample is the ledger's
//! snapshot encoded by the metrics module, as a scrape at that time would show it had the
//! exporter run since `--from`. The ledger is pruned as the range is read, as the poller
//! prunes it, so memory is bounded by the revisit horizon, not by the range.
//!
//! `plan.rs` the sample times and the slices read, `writer.rs` the OpenMetrics file,
//! `progress.rs` what standard error shows meanwhile.
//!
//! A run that fails leaves no history and no state file: the next run rebuilds the whole
//! history from `--from` again, so nothing can be counted twice.

mod plan;
mod progress;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Backfill, Config, Output};
use crate::iadvize::{self, ApiObserver, Client, NoopObserver, Page, UnixMillis};
use crate::ledger::{Ledger, LedgerConfig};
use crate::metrics::{HistoryEncoder, check_history_label};
use crate::poller::prune_cutoff;
use crate::simulator;
use crate::state_file::{self, Identity, SavedStateRef};

use progress::Progress;
use writer::HistoryFile;

/// Why the backfill stopped without writing its history.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("--label: invalid value {label:?}: {why}")]
    Label { label: String, why: String },
    #[error("--output: cannot write {}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--state.file: {} already exists; the backfill writes a new state file, and an exporter \
         that has counted with this one would restart its counters: remove it or name another",
        path.display()
    )]
    StateExists { path: PathBuf },
    #[error("--state.file: {0}")]
    State(#[source] state_file::StateError),
    #[error("cannot write the history: {0}")]
    Write(#[source] std::io::Error),
    #[error("cannot encode a snapshot")]
    Encode,
    #[error("cannot start the simulated iAdvize account: {0}")]
    Simulator(#[source] std::io::Error),
    #[error("the iAdvize client could not be set up: {0}")]
    Client(#[source] iadvize::Error),
    #[error("{0}; nothing was written: run the backfill again, it starts over from --from")]
    Iadvize(#[source] iadvize::Error),
    #[error("interrupted; nothing was written: run the backfill again, it starts over from --from")]
    Interrupted,
}

impl BackfillError {
    /// 2 for what the command line got wrong, 1 for what went wrong while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackfillError::Label { .. }
            | BackfillError::Output { .. }
            | BackfillError::StateExists { .. } => 2,
            BackfillError::State(e) if e.is_usage() => 2,
            _ => 1,
        }
    }
}

/// What the run did, for the summary.
#[derive(Debug, Clone)]
pub struct Summary {
    pub from: UnixMillis,
    pub to: UnixMillis,
    pub step: Duration,
    pub output: Output,
    pub state_file: Option<PathBuf>,
    pub pages: u64,
    pub conversations: u64,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    pub took: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |ms| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let output = match &self.output {
            Output::Stdout => "standard output".to_owned(),
            Output::File(path) => path.display().to_string(),
        };
        writeln!(
            f,
            "backfill done: [{}, {}) every {}",
            time(self.from),
            time(self.to),
            humantime::format_duration(self.step)
        )?;
        writeln!(
            f,
            "  read:    {} conversations in {} pages",
            self.conversations, self.pages
        )?;
        writeln!(
            f,
            "  wrote:   {} series, {} samples, {} bytes to {output}",
            self.series, self.samples, self.bytes
        )?;
        writeln!(f, "  took:    {:.1} s", self.took.as_secs_f64())?;
        if let Some(state) = &self.state_file {
            writeln!(
                f,
                "  state:   {} (start the exporter with --state.file {0}: it goes on from {})",
                state.display(),
                time(self.to)
            )?;
        }
        if let Output::File(path) = &self.output {
            writeln!(
                f,
                "  load it: promtool tsdb create-blocks-from openmetrics --max-block-duration=168h {} <prometheus data dir>",
                path.display()
            )?;
        }
        Ok(())
    }
}

/// With `--demo`, a simulated account holding the whole range as history, in real time
/// (the live demo runs 60 times faster, which would make a month of history enormous).
async fn start_demo(
    config: &mut Config,
    from: UnixMillis,
) -> Result<Option<simulator::SimHandle>, BackfillError> {
    if !config.demo {
        return Ok(None);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let history =
        Duration::from_millis(u64::try_from(now - from).unwrap_or(0)) + Duration::from_secs(3600);
    let sim = simulator::SimConfig {
        speed: 1.0 / 60.0,
        history,
        ..simulator::SimConfig::demo()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BackfillError::Simulator)?;
    let handle = simulator::start(sim, listener)
        .await
        .map_err(BackfillError::Simulator)?;
    let url = url::Url::parse(&handle.base_url())
        .map_err(|e| BackfillError::Simulator(std::io::Error::other(e.to_string())))?;
    tracing::info!(url = %url, "demo: reading a simulated iAdvize account");
    config.use_demo_account(url);
    Ok(Some(handle))
}

/// Runs the backfill; returns its summary.
pub async fn run(mut config: Config, backfill: Backfill) -> Result<Summary, BackfillError> {
    for (name, value) in &backfill.labels {
        check_history_label(name).map_err(|why| BackfillError::Label {
            label: format!("{name}={value}"),
            why,
        })?;
    }
    // Everything the command line can get wrong is checked before the first request.
    let _lock = match &config.state_file {
        Some(path) => {
            let lock = state_file::prepare(path).map_err(BackfillError::State)?;
            if path.exists() {
                return Err(BackfillError::StateExists { path: path.clone() });
            }
            Some(lock)
        }
        None => None,
    };
    let mut history =
        HistoryFile::create(&backfill.output).map_err(|source| BackfillError::Output {
            path: match &backfill.output {
                Output::File(path) => path.clone(),
                Output::Stdout => std::env::temp_dir(),
            },
            source,
        })?;
    let _demo = start_demo(&mut config, backfill.from).await?;

    let observer: Arc<dyn ApiObserver> = Arc::new(NoopObserver);
    let client = Client::new(config.client.clone(), observer).map_err(BackfillError::Client)?;
    let plan = client.plan().await.map_err(BackfillError::Iadvize)?;
    tracing::info!(shape = plan.shape.field_name(), "iAdvize query decided");

    let ledger_config = LedgerConfig::of(&config.metrics);
    let window_ms = ledger_config.window_ms;
    let mut ledger = Ledger::new(ledger_config, backfill.from);
    let encoder = HistoryEncoder::new(&backfill.labels);
    let step_ms = i64::try_from(backfill.step.as_millis()).unwrap_or(i64::MAX);
    let mut progress = Progress::new(backfill.from, backfill.to);

    for slice in plan::slices(backfill.from, backfill.to, step_ms, plan::SLICE_MS) {
        let mut parts: Vec<Vec<Page>> = vec![Vec::new(); slice.samples.len()];
        let (mut pages, mut conversations) = (0u64, 0u64);
        client
            .fetch_interval(&plan, slice.from, slice.to, &mut |page: Page| {
                pages += 1;
                conversations += page.conversations.len() as u64;
                for (at, part) in plan::split(page, &slice.samples).into_iter().enumerate() {
                    if !part.conversations.is_empty() || !part.rejections.is_empty() {
                        parts[at].push(part);
                    }
                }
            })
            .await
            .map_err(BackfillError::Iadvize)?;
        progress.pages += pages;
        progress.conversations += conversations;
        for (t, pages) in slice.samples.iter().copied().zip(parts) {
            for page in &pages {
                ledger.apply_page(page, t);
            }
            ledger.commit();
            let text = encoder
                .encode(ledger.snapshot(t), t)
                .map_err(|_| BackfillError::Encode)?;
            history.append(&text).map_err(BackfillError::Write)?;
            // As the poller would at `t`, its watermark at `t`: what the exporter's first
            // reads reach (overlap, revisit horizon, window) stays for the state file.
            ledger.prune(prune_cutoff(t, Some(t), &config.poll, window_ms));
        }
        progress.show(slice.to);
    }
    progress.finish();

    let written = history
        .finish(&backfill.output)
        .map_err(BackfillError::Write)?;
    if let Some(path) = &config.state_file {
        let identity = Identity::of(&config.client, config.demo);
        let saved = SavedStateRef {
            identity: &identity,
            written_at: chrono::Utc::now().timestamp_millis(),
            watermark: Some(backfill.to),
            // The start-up read of a live exporter reads the window and the horizon;
            // this one has read them whole, up to `to`.
            last_revisit: Some(backfill.to),
            ledger: ledger.state(),
        };
        let bytes = state_file::encode(&saved).map_err(BackfillError::State)?;
        state_file::write_atomic(path, &bytes).map_err(BackfillError::State)?;
    }
    Ok(Summary {
        from: backfill.from,
        to: backfill.to,
        step: backfill.step,
        output: backfill.output,
        state_file: config.state_file.clone(),
        pages: progress.pages,
        conversations: progress.conversations,
        series: written.series,
        samples: written.samples,
        bytes: written.bytes,
        took: progress.elapsed(),
    })
}
