//! The HTTP side of every iAdvize request: pacing, `Retry-After`, timeouts, size caps, retries.
//!
//! One [`Transport`] is shared by the GraphQL calls of `client.rs` and the logins of
//! `auth.rs`, so a `Retry-After` from either endpoint holds back both.
//! Time is `tokio::time` throughout (timeouts included) so tests can pause it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::clock::IadvizeClock;
use super::model::UnixMillis;
use super::{ApiObserver, ClientConfig, Credentials, Endpoint, Error, RetryReason};
use crate::secret::Secret;

/// Tokens remembered for redaction besides the password: the current one and a few
/// before it, since a server may quote a token it just refused.
const REMEMBERED_TOKENS: usize = 4;

/// `text` with every occurrence of each secret replaced by `<redacted>`, also in the
/// encodings a server echoing a request would use (form and JSON).
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(secret).unwrap_or_default();
        let json = json.trim_matches('"');
        for variant in [*secret, form.as_str(), json] {
            if !variant.is_empty() && out.contains(variant) {
                out = out.replace(variant, "<redacted>");
            }
        }
    }
    out
}

/// Why an exchange produced no usable response.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout,
    Transport(String),
    TooLarge,
    /// A `Retry-After` holds requests back longer than the caller may wait.
    Deferred(Error),
}

impl Failure {
    /// The retry reason and the error to return if no attempt is left; `Err` when
    /// retrying cannot help.
    fn into_retry(self, attempts: u32, limit_bytes: usize) -> Result<(RetryReason, Error), Error> {
        match self {
            Failure::Timeout => Ok((RetryReason::Timeout, Error::Timeout { attempts })),
            Failure::Transport(message) => Ok((
                RetryReason::Transport,
                Error::Transport { message, attempts },
            )),
            Failure::TooLarge => Err(Error::ResponseTooLarge { limit_bytes }),
            // Retrying inside this poll would wait just as long: the next poll tries.
            Failure::Deferred(error) => Err(error),
        }
    }
}

/// The retry reason of an HTTP status, `None` when retrying cannot help.
fn retry_reason(status: u16) -> Option<RetryReason> {
    match status {
        429 => Some(RetryReason::RateLimited),
        500..=599 => Some(RetryReason::ServerError),
        _ => None,
    }
}

/// The HTTP side shared by GraphQL requests and logins.
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    observer: Arc<dyn ApiObserver>,
    timeout: Duration,
    max_response_bytes: usize,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    max_wait: Option<Duration>,
    /// Time between two GraphQL request starts; `None` for no pacing.
    graphql_interval: Option<Duration>,
    gate: Mutex<Gate>,
    /// iAdvize's clock, fed by the `Date` of every answer.
    clock: Arc<IadvizeClock>,
    /// What must never reach a log or an error message: the password, recent tokens.
    password: Option<Secret>,
    tokens: Mutex<Vec<Secret>>,
}

#[derive(Debug, Default)]
struct Gate {
    /// No request before this instant (the latest `Retry-After`).
    not_before: Option<Instant>,
    /// The earliest start of the next GraphQL request.
    next_graphql_slot: Option<Instant>,
}

impl Transport {
    pub(crate) fn new(
        config: &ClientConfig,
        observer: Arc<dyn ApiObserver>,
        clock: Arc<IadvizeClock>,
    ) -> Result<Transport, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("iadvize-exporter/", env!("CARGO_PKG_VERSION")))
            // A redirect would resend the form or the Bearer header somewhere unplanned.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidRequest(format!("HTTP client: {e}")))?;
        let rate = config.max_requests_per_second;
        let graphql_interval = if rate.is_finite() && rate > 0.0 {
            Duration::try_from_secs_f64(1.0 / rate).ok()
        } else {
            None
        };
        Ok(Transport {
            http,
            observer,
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            max_attempts: config.max_attempts.max(1),
            initial_backoff: config.initial_backoff,
            max_backoff: config.max_backoff.max(config.initial_backoff),
            max_retry_after: config.max_retry_after,
            max_wait: config.max_wait,
            graphql_interval,
            gate: Mutex::new(Gate::default()),
            clock,
            password: match &config.credentials {
                Credentials::Password { password, .. } => Some(password.clone()),
                Credentials::TokenFile(_) => None,
            },
            tokens: Mutex::new(Vec::new()),
        })
    }

    /// Adds a token (from a login or the token file) to what [`Transport::redact_error`]
    /// hides.
    pub(crate) fn remember_secret(&self, token: &Secret) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if !tokens.contains(token) {
            tokens.push(token.clone());
            let excess = tokens.len().saturating_sub(REMEMBERED_TOKENS);
            tokens.drain(..excess);
        }
    }

    /// `error` with the known secrets removed from every text a server may have put in
    /// it, so a server that echoes the request cannot leak it into our logs.
    pub(crate) fn redact_error(&self, error: Error) -> Error {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let mut secrets: Vec<&str> = tokens.iter().map(Secret::expose).collect();
        if let Some(password) = &self.password {
            secrets.push(password.expose());
        }
        error.map_text(|text| redact(text, &secrets))
    }

    pub(crate) fn observer(&self) -> &dyn ApiObserver {
        self.observer.as_ref()
    }

    /// One request and its body, within the timeout, after waiting for its turn.
    /// Reports to the observer and records any `Retry-After`.
    pub(crate) async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Bytes), Failure> {
        self.wait_turn(endpoint).await.map_err(Failure::Deferred)?;
        let started = Instant::now();
        let mut status = None;
        let outcome = tokio::time::timeout(self.timeout, self.send(request, &mut status)).await;
        let seconds = started.elapsed().as_secs_f64();
        let outcome = outcome.unwrap_or(Err(Failure::Timeout));
        self.observer.request(endpoint, status, seconds);
        match &outcome {
            Ok((status, body)) => {
                debug!(
                    endpoint = endpoint.as_label(),
                    status,
                    bytes = body.len(),
                    seconds,
                    "iAdvize request"
                )
            }
            Err(failure) => {
                debug!(
                    endpoint = endpoint.as_label(),
                    ?status,
                    ?failure,
                    seconds,
                    "iAdvize request failed"
                )
            }
        }
        outcome
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        status_seen: &mut Option<u16>,
    ) -> Result<(u16, Bytes), Failure> {
        let mut response = request.send().await.map_err(transport_failure)?;
        let received = std::time::Instant::now();
        let status = response.status().as_u16();
        *status_seen = Some(status);
        // A `Retry-After` date is iAdvize's, like the `Date` beside it.
        let mut server_now = SystemTime::now();
        if let Some(date) = date_header(response.headers()) {
            if let Some(skew) = self.clock.observe(date, received) {
                self.observer.clock_skew(skew as f64 / 1000.0);
            }
            if let Some(at) = u64::try_from(date)
                .ok()
                .and_then(|ms| SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            {
                server_now = at;
            }
        }
        if let Some(delay) = retry_after(response.headers(), server_now) {
            self.defer(delay.min(self.max_retry_after));
        }
        let limit = self.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(Failure::TooLarge);
        }
        let capacity = response.content_length().map_or(0, |length| {
            usize::try_from(length).unwrap_or(limit).min(limit)
        });
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
            if body.len() + chunk.len() > limit {
                return Err(Failure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, Bytes::from(body)))
    }

    fn lock_gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        // The gate holds two instants, valid whatever a panicking holder left.
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds every request back for `delay` from now (never shortening a longer hold).
    fn defer(&self, delay: Duration) {
        let Some(until) = Instant::now().checked_add(delay) else {
            return;
        };
        let mut gate = self.lock_gate();
        if gate.not_before.is_none_or(|current| current < until) {
            gate.not_before = Some(until);
            let until_unix = SystemTime::now()
                .checked_add(delay)
                .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            self.observer.backoff_until(until_unix);
        }
    }

    /// `Err` when a `Retry-After` holds requests back longer than `max_wait` from now.
    fn check_patience(&self, not_before: Option<Instant>) -> Result<(), Error> {
        let (Some(until), Some(max_wait)) = (not_before, self.max_wait) else {
            return Ok(());
        };
        let wait = until.saturating_duration_since(Instant::now());
        if wait > max_wait {
            return Err(Error::RateLimited {
                wait_seconds: wait.as_secs_f64(),
                max_wait_seconds: max_wait.as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Waits for the pace slot (GraphQL only) and until any `Retry-After` has passed, or
    /// fails at once with [`Error::RateLimited`] when that is further than `max_wait`.
    pub(crate) async fn wait_turn(&self, endpoint: Endpoint) -> Result<(), Error> {
        self.check_patience(self.lock_gate().not_before)?;
        let slot = match (endpoint, self.graphql_interval) {
            (Endpoint::Graphql, Some(interval)) => {
                let mut gate = self.lock_gate();
                let now = Instant::now();
                let slot = [Some(now), gate.not_before, gate.next_graphql_slot]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(now);
                gate.next_graphql_slot = slot.checked_add(interval);
                Some(slot)
            }
            _ => None,
        };
        if let Some(slot) = slot {
            tokio::time::sleep_until(slot).await;
        }
        // Loops because a Retry-After may arrive while this request sleeps.
        loop {
            let not_before = {
                let mut gate = self.lock_gate();
                if gate.not_before.is_some_and(|until| until <= Instant::now()) {
                    gate.not_before = None;
                    self.observer.backoff_until(0.0);
                }
                gate.not_before
            };
            self.check_patience(not_before)?;
            match not_before {
                Some(until) => tokio::time::sleep_until(until).await,
                None => return Ok(()),
            }
        }
    }

    /// The retry reason and the error to return if no attempt is left, or `Err` when
    /// retrying cannot help, for an outcome of [`Transport::exchange`] the caller has no
    /// rule of its own for (it handles success and the statuses its endpoint gives a
    /// meaning first). One place, so logins and GraphQL requests retry alike.
    pub(crate) fn retry_or_final_error(
        &self,
        outcome: Result<(u16, Bytes), Failure>,
        attempts: u32,
    ) -> Result<(RetryReason, Error), Error> {
        match outcome {
            Ok((status, _)) => {
                let error = Error::Http { status, attempts };
                match retry_reason(status) {
                    Some(reason) => Ok((reason, error)),
                    None => Err(error),
                }
            }
            Err(failure) => failure.into_retry(attempts, self.max_response_bytes),
        }
    }

    /// After failed attempt number `attempt`: the error when no attempt is left, else
    /// reports the retry and sleeps the backoff.
    pub(crate) async fn retry_or_fail(
        &self,
        endpoint: Endpoint,
        attempt: u32,
        reason: RetryReason,
        error: Error,
    ) -> Result<(), Error> {
        let error = self.redact_error(error);
        if attempt >= self.max_attempts {
            return Err(error);
        }
        let delay = self.backoff(attempt);
        warn!(
            endpoint = endpoint.as_label(),
            reason = reason.as_label(),
            attempt,
            max_attempts = self.max_attempts,
            backoff_seconds = delay.as_secs_f64(),
            %error,
            "retrying request to iAdvize"
        );
        self.observer.retry(endpoint, reason);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Equal jitter: half of the exponential step is fixed, so retries never bunch up at
    /// zero, and half is random, so clients that failed together do not retry together.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let step = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = step / 2;
        half + (step - half).mul_f64(rand::random::<f64>())
    }
}

fn transport_failure(error: reqwest::Error) -> Failure {
    // The URL holds nothing secret, but the message is shorter without it; the source
    // chain says what actually went wrong (refused, reset, TLS).
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::Transport(message)
}

/// The `Date` of an answer, in Unix ms: an IMF-fixdate (`Tue, 08 Dec 2026 01:02:03 GMT`).
fn date_header(headers: &HeaderMap) -> Option<UnixMillis> {
    let value = headers.get(DATE)?.to_str().ok()?.trim();
    Some(
        chrono::DateTime::parse_from_rfc2822(value)
            .ok()?
            .timestamp_millis(),
    )
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date compared with
/// `now`; a value too large for a `Duration` is `Duration::MAX`, for the caller to cap.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = if let Ok(seconds) = value.parse::<f64>() {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return None;
        }
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    } else {
        let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(
            u64::try_from(date.timestamp_millis()).ok()?,
        ))?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iadvize::Credentials;

    #[test]
    fn retry_after_values() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06T08:49:37Z
        let parse = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(parse("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("99999999"), Some(Duration::from_secs(99_999_999)));
        assert_eq!(parse("1e300"), Some(Duration::MAX));
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn redact_hides_every_secret_and_its_encodings() {
        let secrets = ["s3cr\"et pw", "tok-9", ""];
        assert_eq!(
            redact(
                "a s3cr\"et pw b s3cr%22et+pw c s3cr\\\"et pw d tok-9 tok-9",
                &secrets
            ),
            "a <redacted> b <redacted> c <redacted> d <redacted> <redacted>"
        );
        assert_eq!(redact("nothing here", &secrets), "nothing here");
        assert_eq!(redact("x", &[]), "x");
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_up_to_the_cap() {
        let mut config = ClientConfig::new(
            "http://127.0.0.1:1".parse().unwrap(),
            Credentials::TokenFile("/x".into()),
        );
        config.initial_backoff = Duration::from_secs(1);
        config.max_backoff = Duration::from_secs(8);
        let transport = Transport::new(
            &config,
            Arc::new(crate::iadvize::NoopObserver),
            Arc::new(IadvizeClock::new(crate::clock::system_clock())),
        )
        .unwrap();
        for (attempt, low, high) in [
            (1, 500, 1000),
            (2, 1000, 2000),
            (3, 2000, 4000),
            (4, 4000, 8000),
            (5, 4000, 8000),
            (40, 4000, 8000),
        ] {
            for _ in 0..20 {
                let delay = transport.backoff(attempt).as_millis();
                assert!(
                    (low..=high).contains(&delay),
                    "attempt {attempt}: {delay} ms"
                );
            }
        }
    }
}
