//! Access tokens: password-grant login, the token cache, renewal before expiry, and the
//! login budget (iAdvize blocks a user who logs in more than 10 times a minute).
//!
//! One tokio mutex guards the token state, logins included, so concurrent callers that
//! find the token missing or due wait for the same login instead of starting their own.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

use super::json::Json;
use super::transport::Transport;
use super::{Credentials, Endpoint, Error, RetryReason};
use crate::secret::Secret;

/// At most this many logins (token requests) ...
const MAX_LOGINS: usize = 10;
/// ... in any window this long.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Renew this long before expiry, unless that is under 80 % of the lifetime.
const RENEW_AHEAD: Duration = Duration::from_secs(300);
/// The documented lifetime, for a token response that does not state one.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(86_400);
/// Longer stated lifetimes are taken as this, keeping instant arithmetic in range.
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// A token file larger than this is not a token.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// An access token as the client uses it.
#[derive(Clone)]
pub(crate) struct Token {
    /// `Bearer <token>`, marked sensitive so HTTP debug output hides it.
    header: HeaderValue,
    value: Secret,
    /// Distinguishes tokens without comparing secrets in the usual case.
    generation: u64,
    /// When to log in again; `None` for a token file (expiry unknown).
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
}

impl Token {
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.header
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("generation", &self.generation)
            .field("renew_at", &self.renew_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Auth {
    credentials: Credentials,
    token_url: url::Url,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Token>,
    generation: u64,
    /// Start instants of the token requests of the last [`LOGIN_WINDOW`].
    logins: VecDeque<Instant>,
}

impl Auth {
    pub(crate) fn new(credentials: Credentials, token_url: url::Url) -> Auth {
        Auth {
            credentials,
            token_url,
            state: Mutex::new(State::default()),
        }
    }

    /// The current token, after a login (or a read of the token file) when there is
    /// none or it is due for renewal.
    pub(crate) async fn token(&self, transport: &Transport) -> Result<Token, Error> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(token) = &state.current
            && token.renew_at.is_none_or(|renew_at| now < renew_at)
        {
            return Ok(token.clone());
        }
        let previous = state.current.take();
        match self.obtain(&mut state, transport).await {
            Ok(token) => Ok(token),
            // Renewal is early on purpose: a failed one leaves a token that still works.
            Err(error) => match previous {
                Some(token) if token.expires_at.is_some_and(|expires_at| now < expires_at) => {
                    warn!(%error, "token renewal failed; using the current token until it expires");
                    state.current = Some(token.clone());
                    Ok(token)
                }
                _ => Err(error),
            },
        }
    }

    /// A new token after the API refused `refused` with a 401: one login, or one re-read
    /// of the token file. When another caller already replaced it, that token.
    pub(crate) async fn replace_refused(
        &self,
        transport: &Transport,
        refused: &Token,
    ) -> Result<Token, Error> {
        let mut state = self.state.lock().await;
        if let Some(current) = &state.current
            && current.generation != refused.generation
        {
            return Ok(current.clone());
        }
        state.current = None;
        warn!("iAdvize refused the access token; getting a new one");
        let token = self.obtain(&mut state, transport).await?;
        if token.value == refused.value {
            // The token file still holds the refused token: using it again cannot help.
            return Err(Error::Unauthorized);
        }
        Ok(token)
    }

    /// A new token, remembered as a secret to redact; errors come redacted, as callers
    /// log them.
    async fn obtain(&self, state: &mut State, transport: &Transport) -> Result<Token, Error> {
        let token = self
            .obtain_unredacted(state, transport)
            .await
            .map_err(|error| transport.redact_error(error))?;
        transport.remember_secret(&token.value);
        Ok(token)
    }

    async fn obtain_unredacted(
        &self,
        state: &mut State,
        transport: &Transport,
    ) -> Result<Token, Error> {
        let token = match &self.credentials {
            Credentials::Password { username, password } => {
                let generation = state.generation + 1;
                let token = self
                    .login(state, transport, username, password, generation)
                    .await?;
                state.generation = generation;
                token
            }
            Credentials::TokenFile(path) => {
                let value = read_token_file(path).await?;
                state.generation += 1;
                Token {
                    header: bearer_header(&value)
                        .ok_or_else(|| Error::InvalidTokenFile { path: path.clone() })?,
                    value,
                    generation: state.generation,
                    renew_at: None,
                    expires_at: None,
                }
            }
        };
        state.current = Some(token.clone());
        Ok(token)
    }

    async fn login(
        &self,
        state: &mut State,
        transport: &Transport,
        username: &str,
        password: &Secret,
        generation: u64,
    ) -> Result<Token, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Wait out any Retry-After first, so the login is dated when it leaves.
            transport.wait_turn(Endpoint::Token).await?;
            take_login_slot(&mut state.logins, Instant::now())?;
            let form = [
                ("username", username),
                ("password", password.expose()),
                ("grant_type", "password"),
            ];
            let request = transport.http.post(self.token_url.clone()).form(&form);
            let obtained_at = Instant::now();
            let outcome = transport.exchange(Endpoint::Token, request).await;
            // Re-date the login when its answer came: iAdvize counted it no later, so ten
            // logins spaced by this clock are spaced by at least as much at iAdvize.
            if let Some(last) = state.logins.back_mut() {
                *last = Instant::now();
            }
            let (reason, error) = match outcome {
                Ok((200..=299, body)) => match parse_token_response(&body) {
                    Ok(granted) => {
                        return Ok(self.accept(transport, granted, obtained_at, generation));
                    }
                    Err(TokenResponseError::Retryable(message)) => (
                        RetryReason::InvalidResponse,
                        Error::InvalidResponse(message),
                    ),
                    Err(TokenResponseError::Fatal(message)) => {
                        return Err(Error::InvalidResponse(message));
                    }
                },
                Ok((status @ (400 | 401 | 403), _)) => return Err(Error::LoginRefused { status }),
                outcome => transport.retry_or_final_error(outcome, attempt)?,
            };
            transport
                .retry_or_fail(Endpoint::Token, attempt, reason, error)
                .await?;
        }
    }

    fn accept(
        &self,
        transport: &Transport,
        granted: Granted,
        obtained_at: Instant,
        generation: u64,
    ) -> Token {
        let lifetime = granted.lifetime;
        let renew_after = renew_after(lifetime);
        let expires_at_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(lifetime)
            .as_secs_f64();
        transport.observer().login(expires_at_unix);
        info!(
            lifetime_seconds = lifetime.as_secs_f64(),
            renew_in_seconds = renew_after.as_secs_f64(),
            "logged in to iAdvize"
        );
        Token {
            header: granted.header,
            value: granted.value,
            generation,
            renew_at: obtained_at.checked_add(renew_after),
            expires_at: obtained_at.checked_add(lifetime),
        }
    }
}

/// How long after it was obtained a token is renewed: [`RENEW_AHEAD`] before expiry, or
/// at 80 % of its life when that is later (short-lived tokens).
fn renew_after(lifetime: Duration) -> Duration {
    lifetime
        .saturating_sub(RENEW_AHEAD)
        .max(lifetime.mul_f64(0.8))
}

/// Counts a login at `now`, or refuses when [`MAX_LOGINS`] happened in the last
/// [`LOGIN_WINDOW`].
fn take_login_slot(logins: &mut VecDeque<Instant>, now: Instant) -> Result<(), Error> {
    while logins
        .front()
        .is_some_and(|&at| now.saturating_duration_since(at) >= LOGIN_WINDOW)
    {
        logins.pop_front();
    }
    if logins.len() >= MAX_LOGINS {
        let wait = logins.front().map_or(Duration::ZERO, |&oldest| {
            (oldest + LOGIN_WINDOW).saturating_duration_since(now)
        });
        warn!(
            logins = logins.len(),
            wait_seconds = wait.as_secs_f64(),
            "login budget spent"
        );
        return Err(Error::LoginThrottled {
            logins: logins.len(),
            wait_seconds: wait.as_secs_f64(),
        });
    }
    logins.push_back(now);
    Ok(())
}

struct Granted {
    header: HeaderValue,
    value: Secret,
    lifetime: Duration,
}

/// Why a token response cannot be used. The messages never quote the body: it holds
/// the token.
#[derive(Debug, PartialEq)]
enum TokenResponseError {
    /// Possibly a proxy's error page or a cut response: worth another try.
    Retryable(String),
    /// A well-formed answer we cannot use: another try would get the same.
    Fatal(String),
}

fn parse_token_response(body: &[u8]) -> Result<Granted, TokenResponseError> {
    let retryable = |what: &str| TokenResponseError::Retryable(format!("token response: {what}"));
    let root: Json<'_> = serde_json::from_slice(body).map_err(|_| retryable("not JSON"))?;
    let value = match root.get("access_token") {
        Some(Json::Str(token)) if !token.trim().is_empty() => Secret::new(token.trim()),
        _ => return Err(retryable("no access_token")),
    };
    match root.get("token_type") {
        None | Some(Json::Null) => {}
        Some(Json::Str(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(Json::Str(kind)) => {
            let kind: String = kind.chars().take(32).collect();
            return Err(TokenResponseError::Fatal(format!(
                "token response: unsupported token_type {kind:?}"
            )));
        }
        Some(_) => return Err(retryable("token_type is not a string")),
    }
    let header = bearer_header(&value).ok_or_else(|| {
        TokenResponseError::Fatal(
            "token response: the access token holds characters not allowed in an HTTP header"
                .to_owned(),
        )
    })?;
    let stated_seconds = match root.get("expires_in") {
        Some(Json::Int(seconds)) => Some(*seconds as f64),
        Some(Json::Float(seconds)) => Some(*seconds),
        Some(Json::Str(seconds)) => seconds.trim().parse::<f64>().ok(),
        _ => None,
    };
    let lifetime = match stated_seconds {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::try_from_secs_f64(seconds).map_or(MAX_LIFETIME, |d| d.min(MAX_LIFETIME))
        }
        _ => {
            warn!("token response states no usable expires_in; assuming 24 h");
            DEFAULT_LIFETIME
        }
    };
    Ok(Granted {
        header,
        value,
        lifetime,
    })
}

fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    header.set_sensitive(true);
    Some(header)
}

async fn read_token_file(path: &Path) -> Result<Secret, Error> {
    let io_error = |source| Error::TokenFile {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(io_error(std::io::Error::other(format!(
            "larger than {MAX_TOKEN_FILE_BYTES} bytes"
        ))));
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidTokenFile {
        path: path.to_owned(),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::EmptyTokenFile {
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_schedule() {
        assert_eq!(
            renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(86_100)
        );
        assert_eq!(renew_after(Duration::from_secs(10)), Duration::from_secs(8));
        // 1500 s: 1200 s by either rule.
        assert_eq!(
            renew_after(Duration::from_secs(1500)),
            Duration::from_secs(1200)
        );
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn login_budget_is_a_rolling_minute() {
        let start = Instant::now();
        let mut logins = VecDeque::new();
        for i in 0..10 {
            take_login_slot(&mut logins, start + Duration::from_secs(i)).unwrap();
        }
        match take_login_slot(&mut logins, start + Duration::from_secs(30)) {
            Err(Error::LoginThrottled {
                logins,
                wait_seconds,
            }) => {
                assert_eq!(logins, 10);
                // The first login (at 0 s) leaves the window at 60 s.
                assert_eq!(wait_seconds, 30.0);
            }
            other => panic!("{other:?}"),
        }
        // At 60 s the first login has left the window: one more is allowed, not two.
        take_login_slot(&mut logins, start + Duration::from_secs(60)).unwrap();
        assert!(take_login_slot(&mut logins, start + Duration::from_secs(60)).is_err());
        take_login_slot(&mut logins, start + Duration::from_secs(61)).unwrap();
        assert_eq!(logins.len(), 10);
    }

    fn granted(body: &str) -> Result<Granted, TokenResponseError> {
        parse_token_response(body.as_bytes())
    }

    #[test]
    fn token_responses() {
        let ok = granted(
            r#"{"access_token":"abc","expires_in":86400,"token_type":"bearer","refresh_token":"none"}"#,
        )
        .unwrap();
        assert_eq!(ok.value.expose(), "abc");
        assert_eq!(ok.lifetime, Duration::from_secs(86_400));
        assert_eq!(ok.header.to_str().unwrap(), "Bearer abc");
        assert!(ok.header.is_sensitive());

        let ok =
            granted(r#"{"access_token":"abc","expires_in":"600","token_type":"Bearer"}"#).unwrap();
        assert_eq!(ok.lifetime, Duration::from_secs(600));
        let ok = granted(r#"{"access_token":"abc","expires_in":1.5}"#).unwrap();
        assert_eq!(ok.lifetime, Duration::from_millis(1500));
        for no_lifetime in [
            r#"{"access_token":"abc"}"#,
            r#"{"access_token":"abc","expires_in":0}"#,
            r#"{"access_token":"abc","expires_in":-5}"#,
            r#"{"access_token":"abc","expires_in":"soon"}"#,
        ] {
            assert_eq!(
                granted(no_lifetime).unwrap().lifetime,
                DEFAULT_LIFETIME,
                "{no_lifetime}"
            );
        }
        assert_eq!(
            granted(r#"{"access_token":"abc","expires_in":1e300}"#)
                .unwrap()
                .lifetime,
            MAX_LIFETIME
        );

        for retryable in [
            "<html>",
            "{}",
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
            r#"{"access_token":"abc","token_type":7}"#,
        ] {
            assert!(
                matches!(granted(retryable), Err(TokenResponseError::Retryable(_))),
                "{retryable}"
            );
        }
        for fatal in [
            r#"{"access_token":"secret-value","token_type":"mac"}"#,
            r#"{"access_token":"secret\nvalue"}"#,
        ] {
            match granted(fatal) {
                Err(TokenResponseError::Fatal(message)) => {
                    assert!(!message.contains("secret"), "{message}")
                }
                Err(other) => panic!("{fatal}: {other:?}"),
                Ok(_) => panic!("{fatal}: accepted"),
            }
        }
    }
}
