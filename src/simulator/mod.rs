//! A simulated iAdvize account: the token and GraphQL endpoints of
//! `spec/iadvize/API.md`, seeded traffic, injected faults, and the ground truth an
//! exact exporter must show.
//!
//! It is an independent implementation of the API: it shares no code with the client in
//! `crate::iadvize`, so that tests run against it can catch the client's mistakes.
//!
//! - `record`: the wire view of a conversation, and how dates and durations are written.
//! - `traffic`: the seeded generator.
//! - `world`: generated and fixture conversations, and the paged search over them.
//! - `graphql`: the schema and its resolvers.
//! - `http`: routes, auth, faults and the `/_sim/` admin endpoints.
//! - `auth`, `faults`, `stats`, `truth`: one concern each.

mod auth;
mod faults;
mod graphql;
mod http;
mod record;
mod stats;
mod traffic;
mod truth;
mod world;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::SimArgs;

pub use crate::config::{DEMO_PASSWORD, DEMO_USERNAME, Offer};
pub use faults::{Faults, FaultsError};
pub use stats::Stats;
pub use truth::{
    ConversationFacts, CountRow, CsatRow, NpsRow, SumRow, TagRow, TransactionRow, Truth,
};

use auth::{AuthState, Issued, LoginRefusal};
use record::ServedConversation;
use traffic::{Traffic, TrafficParams};
use world::{Page, Selection, SortKey, World};

/// Everything that shapes a simulated account.
#[derive(Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated minutes per real second (1.0: time runs 60 times faster).
    pub speed: f64,
    /// Conversations closed per simulated hour.
    pub rate_per_hour: f64,
    /// Project ids (each must fit a GraphQL Int); the first gets the most traffic.
    pub projects: Vec<i64>,
    /// Real time before the start over which conversations have already closed.
    pub history: Duration,
    /// No conversation closes later than this after the start; `None`: endless.
    pub traffic_duration: Option<Duration>,
    /// Real time between a close and the moment the conversation can be found.
    pub index_lag: Duration,
    pub offer: Offer,
    /// Whether the schema has `Transaction.id` (older schemas lack it).
    pub transaction_id: bool,
    pub username: String,
    pub password: String,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// The faults at start; changeable later.
    pub faults: Faults,
    /// Fraction (0..=1) of generated conversations carrying exactly one defect.
    pub bad_record_rate: f64,
    /// Transactions come up to this many simulated hours after the close (most within 2).
    pub max_transaction_delay_hours: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            speed: 1.0,
            rate_per_hour: 120.0,
            projects: vec![1001, 1002, 1003],
            history: Duration::from_secs(2 * 3600),
            traffic_duration: None,
            index_lag: Duration::ZERO,
            offer: Offer::Both,
            transaction_id: true,
            username: DEMO_USERNAME.to_string(),
            password: DEMO_PASSWORD.to_string(),
            token_lifetime: Duration::from_secs(86_400),
            faults: Faults::default(),
            bad_record_rate: 0.0,
            max_transaction_delay_hours: 6.0,
        }
    }
}

impl SimConfig {
    /// For `--demo`: lively and realistic, with twenty minutes of history already there, so
    /// dashboards fill within seconds; a few defects and a few transient faults.
    pub fn demo() -> Self {
        SimConfig {
            seed: 42,
            rate_per_hour: 300.0,
            // Twenty minutes of history (6,000 conversations) fill the dashboards and are
            // read in a couple of seconds at start-up.
            history: Duration::from_secs(20 * 60),
            index_lag: Duration::from_secs(1),
            bad_record_rate: 0.002,
            faults: Faults {
                http_503: 0.005,
                http_429: 0.005,
                ..Faults::default()
            },
            ..SimConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), SimConfigError> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(SimConfigError::Speed(self.speed));
        }
        if !(self.rate_per_hour.is_finite() && self.rate_per_hour >= 0.0) {
            return Err(SimConfigError::Rate(self.rate_per_hour));
        }
        if self.projects.is_empty() {
            return Err(SimConfigError::NoProject);
        }
        if let Some(bad) = self.projects.iter().find(|p| i32::try_from(**p).is_err()) {
            return Err(SimConfigError::ProjectId(*bad));
        }
        if !(0.0..=1.0).contains(&self.bad_record_rate) {
            return Err(SimConfigError::BadRecordRate(self.bad_record_rate));
        }
        if !(self.max_transaction_delay_hours.is_finite()
            && self.max_transaction_delay_hours >= 0.0)
        {
            return Err(SimConfigError::TransactionDelay(
                self.max_transaction_delay_hours,
            ));
        }
        self.faults.validate()?;
        Ok(())
    }

    fn traffic_params(&self, start_ms: i64) -> TrafficParams {
        TrafficParams {
            seed: self.seed,
            start_ms,
            speed: self.speed,
            rate_per_hour: self.rate_per_hour,
            projects: self
                .projects
                .iter()
                .filter_map(|p| i32::try_from(*p).ok())
                .collect(),
            history_ms: duration_ms(self.history),
            end_ms: self
                .traffic_duration
                .map(|d| start_ms.saturating_add(duration_ms(d))),
            index_lag_ms: duration_ms(self.index_lag),
            bad_record_rate: self.bad_record_rate,
            max_transaction_delay_hours: self.max_transaction_delay_hours,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("speed", &self.speed)
            .field("rate_per_hour", &self.rate_per_hour)
            .field("projects", &self.projects)
            .field("history", &self.history)
            .field("traffic_duration", &self.traffic_duration)
            .field("index_lag", &self.index_lag)
            .field("offer", &self.offer)
            .field("transaction_id", &self.transaction_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("faults", &self.faults)
            .field("bad_record_rate", &self.bad_record_rate)
            .field(
                "max_transaction_delay_hours",
                &self.max_transaction_delay_hours,
            )
            .finish()
    }
}

/// A simulator configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimConfigError {
    #[error("speed must be a positive number of simulated minutes per second, not {0}")]
    Speed(f64),
    #[error("rate must be a non-negative number of conversations per hour, not {0}")]
    Rate(f64),
    #[error("at least one project is needed")]
    NoProject,
    #[error("project id {0} does not fit a GraphQL Int")]
    ProjectId(i64),
    #[error("bad record rate must be between 0 and 1, not {0}")]
    BadRecordRate(f64),
    #[error("max transaction delay must be a non-negative number of hours, not {0}")]
    TransactionDelay(f64),
    #[error(transparent)]
    Faults(#[from] FaultsError),
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl From<&SimArgs> for SimConfig {
    fn from(args: &SimArgs) -> SimConfig {
        SimConfig {
            seed: args.seed,
            speed: args.speed,
            rate_per_hour: args.rate,
            projects: args.projects.clone(),
            history: args.history,
            traffic_duration: args.traffic_duration,
            index_lag: args.index_lag,
            offer: args.offer,
            transaction_id: args.transaction_id,
            username: args.username.clone(),
            password: args.password.clone(),
            token_lifetime: args.token_lifetime,
            faults: Faults {
                http_500: args.fault_500,
                http_503: args.fault_503,
                http_429: args.fault_429,
                retry_after_seconds: args.retry_after,
                truncated: args.fault_truncated,
                graphql_error: args.fault_graphql_error,
                graphql_error_no_retry: args.fault_graphql_error_no_retry,
                slow: args.fault_slow,
                slow_delay_ms: u64::try_from(args.slow_delay.as_millis()).unwrap_or(u64::MAX),
                revoke_every: args.revoke_every,
                token_lifetime_seconds: None,
                csat_bias: args.csat_bias,
            },
            bad_record_rate: args.bad_record_rate,
            max_transaction_delay_hours: args.max_transaction_delay_hours,
        }
    }
}

/// Wall-clock Unix milliseconds, shiftable in tests.
#[derive(Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, duration_ms);
        wall.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(duration_ms(by), Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// The state every endpoint shares.
pub(crate) struct Shared {
    config: SimConfig,
    pub clock: Clock,
    world: RwLock<World>,
    faults: RwLock<Faults>,
    stats: Mutex<Stats>,
    auth: Mutex<AuthState>,
    complete_at_ms: Option<i64>,
}

impl Shared {
    /// The account as configured, its history generated up to `start_ms`.
    fn new(config: SimConfig, start_ms: i64) -> Self {
        let mut traffic = Traffic::new(config.traffic_params(start_ms));
        let complete_at_ms = traffic.complete_at_ms();
        traffic.generate_until(start_ms, config.faults.csat_bias);
        Shared {
            world: RwLock::new(World::new(traffic, config.transaction_id)),
            faults: RwLock::new(config.faults.clone()),
            stats: Mutex::new(Stats::default()),
            auth: Mutex::new(AuthState::default()),
            clock: Clock::default(),
            complete_at_ms,
            config,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The world with every conversation closed by `now_ms` generated.
    fn world_at(&self, now_ms: i64) -> RwLockReadGuard<'_, World> {
        {
            let world = read(&self.world);
            if !world.is_behind(now_ms) {
                return world;
            }
        }
        let bias = self.faults().csat_bias;
        self.world
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .generate_until(now_ms, bias);
        read(&self.world)
    }

    pub fn page(&self, selection: &Selection, first: usize, after: Option<SortKey>) -> Page {
        let now_ms = self.now_ms();
        self.world_at(now_ms).page(selection, first, after, now_ms)
    }

    pub fn truth(&self, since: f64, until: Option<f64>) -> Truth {
        let now_ms = self.now_ms();
        let to_ms = |seconds: f64| (seconds * 1000.0).ceil() as i64;
        let until_ms = until.map_or(now_ms, to_ms);
        let tally = self.world_at(now_ms).tally(to_ms(since), until_ms, now_ms);
        tally.into_truth(
            now_ms as f64 / 1000.0,
            self.complete_at_ms.map(|ms| ms as f64 / 1000.0),
        )
    }

    pub fn add_fixtures(&self, fixtures: Vec<(i64, ServedConversation)>) {
        let mut world = self.world.write().unwrap_or_else(PoisonError::into_inner);
        for (close_ms, conversation) in fixtures {
            world.add_fixture(close_ms, conversation);
        }
    }

    pub fn faults(&self) -> Faults {
        read(&self.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub fn with_stats<R>(&self, change: impl FnOnce(&mut Stats) -> R) -> R {
        change(&mut lock(&self.stats))
    }

    pub fn note_page_size(&self, asked: usize) {
        let asked = u64::try_from(asked).unwrap_or(u64::MAX);
        self.with_stats(|s| s.max_page_size_seen = s.max_page_size_seen.max(asked));
    }

    pub fn login(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        now_ms: i64,
    ) -> Result<Issued, LoginRefusal> {
        let lifetime_s = self
            .faults()
            .token_lifetime_seconds
            .unwrap_or(self.config.token_lifetime.as_secs_f64());
        let result = lock(&self.auth).login(
            (username, password),
            (&self.config.username, &self.config.password),
            lifetime_s,
            now_ms,
        );
        match &result {
            Ok(_) => self.with_stats(|s| {
                s.logins += 1;
                s.login_times.push(now_ms as f64 / 1000.0);
            }),
            Err(LoginRefusal::BadCredentials) => {
                self.with_stats(|s| s.logins_refused_credentials += 1)
            }
            Err(LoginRefusal::RateLimited { retry_after_s }) => {
                let wait_ms = i64::try_from(*retry_after_s).unwrap_or(60) * 1000;
                lock(&self.auth).asked_to_wait(None, Some(ip), now_ms.saturating_add(wait_ms));
                self.with_stats(|s| s.logins_refused_rate_limit += 1);
            }
        }
        result
    }

    pub fn token_is_valid(&self, token: &str, now_ms: i64) -> bool {
        lock(&self.auth).is_valid(token, now_ms)
    }

    pub fn revoke_all(&self) {
        lock(&self.auth).revoke_all();
    }

    pub fn asked_to_wait(&self, token: Option<&str>, ip: Option<IpAddr>, until_ms: i64) {
        lock(&self.auth).asked_to_wait(token, ip, until_ms);
    }

    /// Counts a violation when this client was told to wait and has not.
    pub fn check_wait(&self, token: Option<&str>, ip: Option<IpAddr>, now_ms: i64) {
        if lock(&self.auth).violates_wait(token, ip, now_ms) {
            self.with_stats(|s| s.retry_after_violations += 1);
        }
    }
}

/// A running simulator. Dropping it stops the server too; [`SimHandle::shutdown`] also
/// waits for it to finish.
pub struct SimHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (loopback when bound to all addresses).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "simulator server failed"),
            Err(e) => tracing::warn!(error = %e, "simulator task failed"),
        }
    }

    /// The ground truth for conversations closing in `[since, until)` (Unix seconds;
    /// `until` defaults to now), as visible now.
    pub fn truth(&self, since: f64, until: Option<f64>) -> Truth {
        self.shared.truth(since, until)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The conversation with this id as a client reads it now, if the account has it.
    pub fn conversation(&self, id: &str) -> Option<ConversationFacts> {
        let now_ms = self.shared.now_ms();
        let served = self.shared.world_at(now_ms).find(id, now_ms)?;
        ConversationFacts::of(&served)
    }

    /// Unix seconds after which nothing changes any more; `None` for endless traffic.
    pub fn complete_at(&self) -> Option<f64> {
        self.shared.complete_at_ms.map(|ms| ms as f64 / 1000.0)
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Invalidates every token now.
    pub fn revoke_tokens(&self) {
        self.shared.revoke_all();
    }

    /// Moves the account's clock forward, for tests of a long life: traffic, indexing and
    /// the truth all follow it.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// Starts the simulated account on `listener`, with its history already generated.
pub async fn start(
    config: SimConfig,
    listener: tokio::net::TcpListener,
) -> std::io::Result<SimHandle> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let addr = listener.local_addr()?;
    let options = graphql::SchemaOptions {
        offer: config.offer,
        transaction_id: config.transaction_id,
    };
    let start_ms = Clock::default().now_ms();
    // History can be large: generate it off the async threads.
    let shared = tokio::task::spawn_blocking(move || Arc::new(Shared::new(config, start_ms)))
        .await
        .map_err(std::io::Error::other)?;
    let schema = graphql::build_schema(Some(shared.clone()), options);
    let gate = Arc::new(graphql::FieldGate::new(&schema, options));
    let app = http::router(http::AppState {
        shared: shared.clone(),
        schema,
        gate,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            // A dropped handle stops the server as well.
            let _ = stopped.await;
        })
        .await
    });
    Ok(SimHandle {
        addr,
        shared,
        stop: Some(stop),
        task,
    })
}

/// `iadvize-exporter simulate`: serves until Ctrl-C or SIGTERM.
pub async fn serve_forever(args: SimArgs) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let config = SimConfig::from(&args);
    let handle = start(config.clone(), listener).await?;
    tracing::info!(
        addr = %handle.addr,
        url = %handle.base_url(),
        username = %config.username,
        "simulated iAdvize API listening"
    );
    shutdown_signal().await?;
    tracing::info!("simulated iAdvize API stopping");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
