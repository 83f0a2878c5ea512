//! The simulated iAdvize account as the command line sees it: the flags of `simulate`,
//! and the demo account's login that `--demo` and `--sim.username` share.
//!
//! Only data lives here; the simulator turns [`SimArgs`] into its own configuration, so
//! that config depends on nothing that comes after it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which query fields the simulated schema offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Offer {
    /// `searchClosedConversations` and `closedConversations`.
    #[default]
    Both,
    /// Only `searchClosedConversations`.
    Search,
    /// Only `closedConversations`.
    Closed,
}

/// Credentials of the demo account: `--demo` logs in with them, and the simulated
/// account (`simulate`, or the one `--demo` starts) serves them unless told otherwise.
pub const DEMO_USERNAME: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo";

fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// Flags of `iadvize-exporter simulate`.
#[derive(clap::Args, Clone)]
pub struct SimArgs {
    /// Where to serve the simulated API.
    #[arg(long, default_value = "127.0.0.1:9835")]
    pub listen: SocketAddr,
    /// Seed of the traffic: the same seed and start time give the same data.
    #[arg(long = "sim.seed", default_value_t = 1)]
    pub seed: u64,
    /// Simulated minutes per real second.
    #[arg(long = "sim.speed", default_value_t = 1.0)]
    pub speed: f64,
    /// Conversations closed per simulated hour.
    #[arg(long = "sim.rate", default_value_t = 120.0)]
    pub rate: f64,
    /// Comma-separated project ids.
    #[arg(
        long = "sim.projects",
        value_delimiter = ',',
        default_value = "1001,1002,1003"
    )]
    pub projects: Vec<i64>,
    /// Which query fields the schema offers.
    #[arg(long = "sim.offer", value_enum, default_value_t = Offer::Both)]
    pub offer: Offer,
    /// Whether the schema has `Transaction.id`.
    #[arg(long = "sim.transaction-id", default_value_t = true, action = clap::ArgAction::Set)]
    pub transaction_id: bool,
    /// Real time of already-closed conversations before the start.
    #[arg(long = "sim.history", default_value = "2h", value_parser = parse_duration)]
    pub history: Duration,
    /// Stop closing conversations this long after the start (default: never).
    #[arg(long = "sim.traffic-duration", value_parser = parse_duration)]
    pub traffic_duration: Option<Duration>,
    /// Real delay before a closed conversation can be found.
    #[arg(long = "sim.index-lag", default_value = "0s", value_parser = parse_duration)]
    pub index_lag: Duration,
    /// Lifetime of issued tokens.
    #[arg(long = "sim.token-lifetime", default_value = "24h", value_parser = parse_duration)]
    pub token_lifetime: Duration,
    #[arg(long = "sim.username", default_value = DEMO_USERNAME)]
    pub username: String,
    #[arg(long = "sim.password", default_value = DEMO_PASSWORD)]
    pub password: String,
    /// Probability of HTTP 500 per GraphQL request.
    #[arg(long = "sim.fault-500", default_value_t = 0.0)]
    pub fault_500: f64,
    /// Probability of HTTP 503 per GraphQL request.
    #[arg(long = "sim.fault-503", default_value_t = 0.0)]
    pub fault_503: f64,
    /// Probability of HTTP 429 per GraphQL request.
    #[arg(long = "sim.fault-429", default_value_t = 0.0)]
    pub fault_429: f64,
    /// `Retry-After` of injected 429s, in seconds.
    #[arg(long = "sim.retry-after", default_value_t = 1)]
    pub retry_after: u64,
    /// Probability of a half-sent body.
    #[arg(long = "sim.fault-truncated", default_value_t = 0.0)]
    pub fault_truncated: f64,
    /// Probability of a retryable GraphQL error (HTTP 200).
    #[arg(long = "sim.fault-graphql-error", default_value_t = 0.0)]
    pub fault_graphql_error: f64,
    /// Probability of a non-retryable GraphQL error (HTTP 200).
    #[arg(long = "sim.fault-graphql-error-no-retry", default_value_t = 0.0)]
    pub fault_graphql_error_no_retry: f64,
    /// Probability of a slow answer.
    #[arg(long = "sim.fault-slow", default_value_t = 0.0)]
    pub fault_slow: f64,
    /// How slow a slow answer is.
    #[arg(long = "sim.slow-delay", default_value = "2s", value_parser = parse_duration)]
    pub slow_delay: Duration,
    /// Revoke every token after each N-th GraphQL request (0: never).
    #[arg(long = "sim.revoke-every", default_value_t = 0)]
    pub revoke_every: u64,
    /// Fraction of generated conversations with one defect.
    #[arg(long = "sim.bad-record-rate", default_value_t = 0.0)]
    pub bad_record_rate: f64,
    /// Latest transaction, in simulated hours after the close.
    #[arg(long = "sim.max-transaction-delay-hours", default_value_t = 6.0)]
    pub max_transaction_delay_hours: f64,
    /// Lowers CSAT answers by this many points (0..4).
    #[arg(long = "sim.csat-bias", default_value_t = 0.0)]
    pub csat_bias: f64,
}

// By hand, so that the password never shows, as with every other secret.
impl fmt::Debug for SimArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimArgs")
            .field("listen", &self.listen)
            .field("seed", &self.seed)
            .field("speed", &self.speed)
            .field("rate", &self.rate)
            .field("projects", &self.projects)
            .field("offer", &self.offer)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}
