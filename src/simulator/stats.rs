//! What the simulator saw: how clients behaved. See `GET /_sim/stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters of client behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Tokens issued.
    pub logins: u64,
    /// Unix seconds of each issued token.
    pub login_times: Vec<f64>,
    /// Logins refused with 429 (over 10 a minute for a user).
    pub logins_refused_rate_limit: u64,
    /// Logins refused with 401 (wrong credentials).
    pub logins_refused_credentials: u64,
    /// Requests to `/graphql`, whatever their outcome.
    pub graphql_requests: u64,
    /// Injected faults by kind: `500`, `503`, `429`, `truncated`, `graphql_error`,
    /// `graphql_error_no_retry`, `slow`, `revoked`.
    pub faults: BTreeMap<String, u64>,
    /// 401 answers on `/graphql` and `/_authenticated`.
    pub unauthorized: u64,
    /// Requests that came before a `Retry-After` this server gave had passed.
    pub retry_after_violations: u64,
    /// GraphQL requests refused with 400 (syntax, unknown field, bad argument).
    pub validation_errors: u64,
    /// GraphQL requests whose interval's `from` was after its `to` (refused with 400).
    pub inverted_intervals: u64,
    /// The largest `first` a client asked for (before clamping to 100).
    pub max_page_size_seen: u64,
}

impl Stats {
    pub(crate) fn count_fault(&mut self, kind: &str) {
        *self.faults.entry(kind.to_string()).or_default() += 1;
    }
}
