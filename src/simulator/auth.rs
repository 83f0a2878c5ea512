//! Tokens, the login limit and `Retry-After` bookkeeping.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use rand::Rng;
use rand::distr::Alphanumeric;

/// The real limit: 10 logins per minute per user.
pub(crate) const LOGINS_PER_MINUTE: usize = 10;
const MINUTE_MS: i64 = 60_000;

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    BadCredentials,
    /// Too many logins; retry after this many seconds.
    RateLimited {
        retry_after_s: u64,
    },
}

/// An issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub token: String,
    pub expires_in_s: u64,
}

#[derive(Default)]
pub(crate) struct AuthState {
    /// Token -> expiry (Unix ms).
    tokens: HashMap<String, i64>,
    /// User -> times of recent logins (Unix ms), oldest first.
    logins: HashMap<String, VecDeque<i64>>,
    /// Until when (Unix ms) a client was asked to wait, by token and by address.
    wait_token: HashMap<String, i64>,
    wait_ip: HashMap<IpAddr, i64>,
}

impl AuthState {
    /// A password-grant login at `now_ms`.
    pub fn login(
        &mut self,
        (username, password): (&str, &str),
        (expected_user, expected_password): (&str, &str),
        lifetime_s: f64,
        now_ms: i64,
    ) -> Result<Issued, LoginRefusal> {
        if username != expected_user || password != expected_password {
            return Err(LoginRefusal::BadCredentials);
        }
        let recent = self.logins.entry(username.to_string()).or_default();
        while recent.front().is_some_and(|t| *t <= now_ms - MINUTE_MS) {
            recent.pop_front();
        }
        if recent.len() >= LOGINS_PER_MINUTE {
            let oldest = recent.front().copied().unwrap_or(now_ms);
            let wait_ms = (oldest + MINUTE_MS - now_ms).max(1);
            return Err(LoginRefusal::RateLimited {
                retry_after_s: (wait_ms as u64).div_ceil(1000),
            });
        }
        recent.push_back(now_ms);
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        let lifetime_ms = (lifetime_s.max(0.0) * 1000.0).round() as i64;
        self.tokens
            .insert(token.clone(), now_ms.saturating_add(lifetime_ms));
        self.tokens.retain(|_, expiry| *expiry > now_ms);
        Ok(Issued {
            token,
            expires_in_s: lifetime_s.max(0.0).round() as u64,
        })
    }

    pub fn is_valid(&self, token: &str, now_ms: i64) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expiry| *expiry > now_ms)
    }

    pub fn revoke_all(&mut self) {
        self.tokens.clear();
    }

    /// Remembers that this client was told to wait until `until_ms`.
    pub fn asked_to_wait(&mut self, token: Option<&str>, ip: Option<IpAddr>, until_ms: i64) {
        if let Some(token) = token {
            self.wait_token.insert(token.to_string(), until_ms);
        }
        if let Some(ip) = ip {
            self.wait_ip.insert(ip, until_ms);
        }
    }

    /// Whether this request comes before a `Retry-After` given to the same token or address
    /// has passed.
    pub fn violates_wait(&self, token: Option<&str>, ip: Option<IpAddr>, now_ms: i64) -> bool {
        let by_token = token
            .and_then(|t| self.wait_token.get(t))
            .is_some_and(|until| now_ms < *until);
        let by_ip = ip
            .and_then(|ip| self.wait_ip.get(&ip))
            .is_some_and(|until| now_ms < *until);
        by_token || by_ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: (&str, &str) = ("demo@example.com", "demo");

    #[test]
    fn wrong_credentials_are_refused() {
        let mut auth = AuthState::default();
        assert_eq!(
            auth.login(("demo@example.com", "nope"), CREDS, 60.0, 0),
            Err(LoginRefusal::BadCredentials)
        );
    }

    #[test]
    fn tokens_expire_and_can_be_revoked() {
        let mut auth = AuthState::default();
        let issued = auth.login(CREDS, CREDS, 10.0, 1_000).unwrap();
        assert_eq!(issued.expires_in_s, 10);
        assert!(auth.is_valid(&issued.token, 10_999));
        assert!(!auth.is_valid(&issued.token, 11_000));
        let again = auth.login(CREDS, CREDS, 10.0, 2_000).unwrap();
        assert!(auth.is_valid(&again.token, 2_000));
        auth.revoke_all();
        assert!(!auth.is_valid(&again.token, 2_000));
    }

    #[test]
    fn the_eleventh_login_in_a_minute_is_refused() {
        let mut auth = AuthState::default();
        for i in 0..10 {
            auth.login(CREDS, CREDS, 60.0, 1_000 + i * 1_000).unwrap();
        }
        // The first login was at 1 s: the window frees at 61 s, 50 s after 11 s.
        assert_eq!(
            auth.login(CREDS, CREDS, 60.0, 11_000),
            Err(LoginRefusal::RateLimited { retry_after_s: 50 })
        );
        assert!(auth.login(CREDS, CREDS, 60.0, 61_000).is_ok());
    }

    #[test]
    fn a_request_before_the_wait_is_over_is_a_violation() {
        let mut auth = AuthState::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        auth.asked_to_wait(Some("t"), None, 5_000);
        assert!(auth.violates_wait(Some("t"), Some(ip), 4_999));
        assert!(!auth.violates_wait(Some("t"), Some(ip), 5_000));
        assert!(!auth.violates_wait(Some("u"), Some(ip), 4_999));
        auth.asked_to_wait(None, Some(ip), 9_000);
        assert!(auth.violates_wait(Some("u"), Some(ip), 4_999));
    }
}
