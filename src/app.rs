//! Wiring: starts the web server, the client and the poller, and stops them cleanly.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::{Clock, system_clock};
use crate::config::Config;
use crate::iadvize::{self, ApiObserver, Client, NoopObserver};
use crate::ledger::LedgerConfig;
use crate::metrics::Metrics;
use crate::poller::{self, Poller};
use crate::simulator;
use crate::state_file;
use crate::web::{self, WebState};

/// Why the exporter stopped with an error (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the simulated iAdvize account: {0}")]
    Simulator(#[source] std::io::Error),
    #[error("{0}")]
    State(#[source] state_file::StateError),
    /// The save at shutdown failed: what was counted since the last good save is lost.
    #[error(
        "the final save of the state at shutdown failed, the counts since the last successful save are lost: {0}"
    )]
    FinalSave(#[source] state_file::StateError),
    #[error("the web server failed: {0}")]
    Web(#[source] std::io::Error),
    #[error("{0}")]
    Iadvize(#[from] iadvize::Error),
    #[error("the iAdvize client could not be set up: {0}")]
    Client(#[source] iadvize::Error),
    /// `--web.config.file` is unreadable or invalid.
    #[error("{0}")]
    WebConfig(#[from] web::WebConfigError),
    #[error("{0}")]
    Backfill(#[from] crate::backfill::BackfillError),
}

impl AppError {
    /// 2 for configuration the exporter cannot honour, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::WebConfig(_) => 2,
            AppError::Backfill(e) => e.exit_code(),
            AppError::State(e) if e.is_usage() => 2,
            _ => 1,
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled: a signal that comes as soon as the server answers
/// must stop the exporter cleanly, not kill it. Call it within the runtime.
pub fn termination_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let (mut interrupt, mut terminate) = match (interrupt, terminate) {
                (Ok(i), Ok(t)) => (i, t),
                // Without handlers the default action stops the process anyway.
                _ => return std::future::pending::<()>().await,
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// With `--demo`, start the simulated account on a loopback port and point the
/// configuration at it. Returns the handle that keeps it running.
async fn start_demo(config: &mut Config) -> Result<Option<simulator::SimHandle>, AppError> {
    if !config.demo {
        return Ok(None);
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(AppError::Simulator)?;
    let handle = simulator::start(simulator::SimConfig::demo(), listener)
        .await
        .map_err(AppError::Simulator)?;
    tracing::info!(url = %handle.base_url(), "demo: serving a simulated iAdvize account");
    if !config.demo_ignores.is_empty() {
        tracing::warn!(
            ignored = %config.demo_ignores.join(","),
            "--demo reads the simulated account: these real-account settings are ignored"
        );
    }
    let base_url = url::Url::parse(&handle.base_url())
        .map_err(|e| AppError::Simulator(std::io::Error::other(e.to_string())))?;
    config.use_demo_account(base_url);
    Ok(Some(handle))
}

/// Run the exporter until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), AppError> {
    run_until(config, termination_signal(), system_clock()).await
}

/// Run the exporter until `stop` resolves.
pub async fn run_until(
    config: Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    clock: Clock,
) -> Result<(), AppError> {
    let listener = TcpListener::bind(config.web.listen_address)
        .await
        .map_err(|source| AppError::Listen {
            address: config.web.listen_address.to_string(),
            source,
        })?;
    run_with(config, listener, stop, clock).await
}

/// Run the exporter on an already-bound listener until `stop` resolves (tests bind port 0
/// themselves, to know the address).
pub async fn run_with(
    mut config: Config,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    clock: Clock,
) -> Result<(), AppError> {
    let web_security = match &config.web.config_file {
        Some(file) => web::WebSecurity::load(file)?,
        None => web::WebSecurity::none(),
    };
    // Held until this returns, after the last save: no other exporter saves meanwhile.
    let _state_lock = match &config.state_file {
        Some(path) => Some(state_file::prepare(path).map_err(AppError::State)?),
        None => None,
    };
    // Counting starts now, before any network call: a conversation that closes while the
    // exporter logs in is counted.
    let counting_start = clock();
    let metrics = Arc::new(Metrics::new());
    let _demo = start_demo(&mut config).await?;
    tracing::info!(
        address = %listener.local_addr().map_or_else(|_| config.web.listen_address.to_string(), |a| a.to_string()),
        telemetry_path = %config.web.telemetry_path,
        tls = web_security.is_tls(),
        basic_auth = web_security.has_basic_auth(),
        "serving metrics"
    );

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let web_state = WebState {
        metrics: metrics.clone(),
        telemetry_path: config.web.telemetry_path.clone(),
    };
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(web::serve(listener, web_state, web_security, async move {
        let _ = web_stop.wait_for(|stop| *stop).await;
    }));
    tokio::spawn(async move {
        stop.await;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
    });

    let identity = state_file::Identity::of(&config.client, config.demo);
    let (ledger, resume) = state_file::restore(
        config.state_file.as_deref(),
        &identity,
        LedgerConfig::of(&config.metrics),
        &metrics,
        counting_start,
        clock(),
    )
    .map_err(AppError::State)?;
    // Restored counts and window are served at once, even while iAdvize is unreachable.
    metrics.publish(ledger.snapshot(clock()));

    let observer: Arc<dyn ApiObserver> = metrics.clone();
    let client = Arc::new(
        Client::with_clock(config.client.clone(), observer, clock).map_err(AppError::Client)?,
    );
    let poller_result = match poller::plan_until_ready(&client, &metrics, &mut stop_rx).await? {
        None => Ok(()),
        Some(plan) => {
            tracing::info!(shape = plan.shape.field_name(), "iAdvize query decided");
            let poller = Poller::new(
                client,
                plan,
                ledger,
                resume,
                config.poll.clone(),
                config.metrics.window,
                metrics.clone(),
                config.state_file.clone().map(|path| state_file::Target {
                    path,
                    identity: identity.clone(),
                }),
            );
            poller
                .run(stop_rx.clone())
                .await
                .map_err(AppError::FinalSave)
        }
    };
    let _ = stop_rx.wait_for(|stop| *stop).await;
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), web).await {
        return Err(AppError::Web(e));
    }
    poller_result
}

/// `iadvize-exporter check`: log in, check the schema, read one page of the last hour,
/// and say what was found. Returns the report, as far as it got, and how it ended: a
/// failure leaves the steps before it in the report, and names the one that failed.
pub async fn check(mut config: Config) -> (String, Result<(), AppError>) {
    let mut report = String::new();
    let outcome = check_into(&mut config, &mut report).await;
    (report, outcome)
}

async fn check_into(config: &mut Config, report: &mut String) -> Result<(), AppError> {
    let _demo = start_demo(config).await?;
    report.push_str(&format!("iAdvize URL:      {}\n", config.client.base_url));
    let observer: Arc<dyn ApiObserver> = Arc::new(NoopObserver);
    let client = Client::new(config.client.clone(), observer).map_err(AppError::Client)?;
    let failed = |report: &mut String, step: &str, error: &iadvize::Error| {
        report.push_str(&format!("{step:<18}failed: {error}\n"));
    };
    if let Err(error) = client.login().await {
        failed(report, "login:", &error);
        return Err(error.into());
    }
    report.push_str("login:            ok\n");
    let plan = match client.plan().await {
        Ok(plan) => plan,
        Err(error) => {
            failed(report, "query shape:", &error);
            return Err(error.into());
        }
    };
    report.push_str(&format!("query shape:      {}\n", plan.shape.field_name()));
    if plan.fallbacks.is_empty() {
        report.push_str("schema:           every field the exporter reads is there\n");
    } else {
        report.push_str("schema fallbacks:\n");
        for fallback in &plan.fallbacks {
            report.push_str(&format!("  {fallback}\n"));
        }
    }
    // The last hour on iAdvize's clock, which its answers have just told.
    let now = client.clock().now();
    let from = now - 3_600_000;
    let page = match client.fetch_page(&plan, from, now, None).await {
        Ok(page) => page,
        Err(error) => {
            failed(report, "last hour, page 1:", &error);
            return Err(error.into());
        }
    };
    let tags = match (config.client.tags, plan.tags) {
        (false, _) => "off".to_owned(),
        (true, false) => "not offered by the schema: the tag metrics stay empty".to_owned(),
        (true, true) => format!("read ({} distinct names on page 1)", page.tags.len()),
    };
    report.push_str(&format!("tags:             {tags}\n"));
    report.push_str(&format!(
        "last hour, page 1: {} records, {} valid conversations, {} rejected records or fields, more pages: {}\n",
        page.records,
        page.conversations.len(),
        page.rejections.len(),
        page.has_next_page
    ));
    for r in &page.rejections {
        report.push_str(&format!("  rejected: {}\n", r.reason.as_label()));
    }
    Ok(())
}
