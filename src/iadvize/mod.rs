//! Everything that speaks to iAdvize, and nothing else: login, GraphQL requests, the
//! query shapes, and tolerant parsing into the typed records of [`model`].

pub mod auth;
pub mod client;
pub mod clock;
#[cfg(test)]
pub(crate) mod fake_server;
mod json;
pub mod model;
pub mod parse;
pub mod schema;
mod time_formats;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

pub use client::Client;
pub use clock::IadvizeClock;
pub use model::{
    Conversation, Currency, Id128, InvalidReason, Page, QueryShape, Rejection, Transaction,
    UnixMillis,
};
pub use schema::QueryPlan;

/// Which iAdvize endpoint a request went to (the `endpoint` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Graphql,
    Token,
}

impl Endpoint {
    pub fn as_label(self) -> &'static str {
        match self {
            Endpoint::Graphql => "graphql",
            Endpoint::Token => "token",
        }
    }
}

/// Why a request was retried (the `reason` label of `iadvize_api_retries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryReason {
    RateLimited,
    ServerError,
    Timeout,
    Transport,
    InvalidResponse,
}

impl RetryReason {
    pub fn as_label(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Transport => "transport",
            RetryReason::InvalidResponse => "invalid_response",
        }
    }
}

/// What the client reports about its own traffic. Implemented by the metrics module, so
/// this module never needs to know metric names.
pub trait ApiObserver: Send + Sync {
    /// A request finished: `status` is the HTTP status, or `None` when no response came.
    fn request(&self, endpoint: Endpoint, status: Option<u16>, seconds: f64);
    /// A request is about to be retried.
    fn retry(&self, endpoint: Endpoint, reason: RetryReason);
    /// A login succeeded; the new token expires at this Unix time (seconds).
    fn login(&self, expires_at_unix_seconds: f64);
    /// No request before this Unix time (seconds) because of a `Retry-After`; 0 once
    /// that has passed. A default, so observers that do not care need not say so.
    fn backoff_until(&self, _unix_seconds: f64) {}
    /// iAdvize's clock minus ours, in seconds, as the `Date` of an answer tells it.
    fn clock_skew(&self, _seconds: f64) {}
}

/// An observer that records nothing (for `check` and tests).
pub struct NoopObserver;

impl ApiObserver for NoopObserver {
    fn request(&self, _: Endpoint, _: Option<u16>, _: f64) {}
    fn retry(&self, _: Endpoint, _: RetryReason) {}
    fn login(&self, _: f64) {}
}

/// How the client proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Password-grant login at `/oauth2/token`.
    Password { username: String, password: Secret },
    /// A ready access token in a file, re-read when the API refuses the current one.
    TokenFile(PathBuf),
}

/// `--iadvize.query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryChoice {
    Auto,
    Fixed(QueryShape),
}

/// Everything the client needs, already validated by `config`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL: token at `{base}/oauth2/token`, GraphQL at `{base}/graphql`.
    pub base_url: url::Url,
    /// `--iadvize.platform sd` adds `?platform=sd` to the GraphQL URL.
    pub platform_sd: bool,
    pub credentials: Credentials,
    pub query: QueryChoice,
    /// `None` reads every project.
    pub project_ids: Option<Vec<i64>>,
    /// Client-side pace of GraphQL requests.
    pub max_requests_per_second: f64,
    /// One request's limit.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Attempts per request (first try included) before the call fails.
    pub max_attempts: u32,
    /// First backoff step; doubles each retry, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// `--iadvize.max-retry-after`: the longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// The longest a request waits for a `Retry-After` to pass before it fails with
    /// [`Error::RateLimited`]; `None` waits out any (capped) `Retry-After`. The exporter
    /// sets the poll interval, so a poll that would hang past its slot counts as failed.
    pub max_wait: Option<Duration>,
}

impl ClientConfig {
    /// Defaults for everything but the URL and credentials.
    pub fn new(base_url: url::Url, credentials: Credentials) -> Self {
        ClientConfig {
            base_url,
            platform_sd: false,
            credentials,
            query: QueryChoice::Auto,
            project_ids: None,
            max_requests_per_second: 5.0,
            timeout: Duration::from_secs(30),
            max_response_bytes: 32 * 1024 * 1024,
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            max_wait: None,
        }
    }
}

/// Why a call to iAdvize failed, after any retries the client was allowed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("login refused by iAdvize (HTTP {status}): check the username and password")]
    LoginRefused { status: u16 },
    #[error(
        "login rate limit reached: {logins} logins in the last minute, not logging in again before {wait_seconds:.0}s"
    )]
    LoginThrottled { logins: usize, wait_seconds: f64 },
    #[error("iAdvize refused the access token (HTTP 401) even after a fresh one")]
    Unauthorized,
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {path} is empty")]
    EmptyTokenFile { path: PathBuf },
    #[error("the token file {path} holds characters not allowed in an HTTP header")]
    InvalidTokenFile { path: PathBuf },
    #[error("iAdvize rejected the query (HTTP 400): {message}")]
    QueryRejected { message: String },
    #[error("iAdvize answered HTTP {status} after {attempts} attempts")]
    Http { status: u16, attempts: u32 },
    #[error("request to iAdvize timed out after {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("cannot reach iAdvize after {attempts} attempts: {message}")]
    Transport { message: String, attempts: u32 },
    /// Errors in the GraphQL `errors` array (first one's `extensions.name`, every message).
    /// `retryable` is true only when every error carries a `retryPolicy` other than
    /// `NO_RETRY`.
    #[error("GraphQL error {name}: {message}")]
    Graphql {
        name: String,
        message: String,
        retryable: bool,
    },
    #[error(
        "iAdvize asked to wait {wait_seconds:.0}s more (Retry-After), longer than the {max_wait_seconds:.0}s a poll may wait"
    )]
    RateLimited {
        wait_seconds: f64,
        max_wait_seconds: f64,
    },
    #[error("response larger than the {limit_bytes}-byte cap")]
    ResponseTooLarge { limit_bytes: usize },
    #[error("invalid response from iAdvize: {0}")]
    InvalidResponse(String),
    #[error("the iAdvize schema lacks what the exporter needs: {0}")]
    Schema(String),
    /// The client could not build a request (bad base URL, date out of range, TLS setup).
    #[error("cannot build the request to iAdvize: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// The same error with `f` applied to every text that may hold what a server sent.
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Error {
        match self {
            Error::QueryRejected { message } => Error::QueryRejected {
                message: f(&message),
            },
            Error::Transport { message, attempts } => Error::Transport {
                message: f(&message),
                attempts,
            },
            Error::Graphql {
                name,
                message,
                retryable,
            } => Error::Graphql {
                name: f(&name),
                message: f(&message),
                retryable,
            },
            Error::InvalidResponse(message) => Error::InvalidResponse(f(&message)),
            Error::Schema(message) => Error::Schema(f(&message)),
            Error::InvalidRequest(message) => Error::InvalidRequest(f(&message)),
            other => other,
        }
    }
}
