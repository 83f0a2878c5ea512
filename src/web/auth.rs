//! HTTP basic auth against bcrypt hashes, with the outcome of each verification cached so
//! that only the first scrape with a given password pays for bcrypt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use tokio::sync::Semaphore;

use crate::secret::Secret;

/// Correct passwords remembered per generation of the web config. Only someone who knows a
/// password can add one, so the list stays as short as the number of users, give or take a
/// password rotation; the bound is a backstop.
const MAX_REMEMBERED_SUCCESSES: usize = 64;

/// Wrong passwords remembered, so a scraper stuck with a stale password costs one bcrypt,
/// not one per scrape. Anyone can add to this list: it is emptied when full, and it never
/// pushes out a correct password.
const MAX_REMEMBERED_FAILURES: usize = 256;

/// One user of `basic_auth_users`.
pub(crate) struct User {
    pub name: String,
    /// The bcrypt hash, as written in the web config.
    pub hash: Secret,
}

/// Why `basic_auth_users` was refused. Names the user, never the hash.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserError {
    #[error("user {user:?}: the value is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)")]
    BadHash { user: String },
    #[error("user {user:?}: a user name cannot contain ':' (basic auth could not send it)")]
    ColonInName { user: String },
}

/// The users of one generation of the web config, and what was already verified for them.
pub(crate) struct BasicAuth {
    users: Vec<User>,
    /// Shared with the bcrypt task, which records its outcome even if the request that
    /// started it is gone (a scraper that timed out finds the answer on its next try).
    cache: Arc<Mutex<Cache>>,
    /// bcrypt runs one at a time: a burst of wrong passwords costs one core, not all.
    bcrypt_gate: Arc<Semaphore>,
    /// How many times bcrypt ran, so a test can tell that every path pays for it.
    bcrypt_runs: Arc<AtomicUsize>,
}

/// bcrypt reads at most this many bytes of a password: a longer one would match on its
/// first 72 alone, so it is refused, as Go's exporter-toolkit refuses it.
const BCRYPT_MAX_PASSWORD: usize = 72;

#[derive(Default)]
struct Cache {
    successes: Vec<[u8; 32]>,
    failures: Vec<[u8; 32]>,
}

impl Cache {
    /// `Some(outcome)` when this digest was verified before. Every entry is compared, each in
    /// constant time, so the time taken tells nothing about which entry matched or how much
    /// of it did.
    fn lookup(&self, digest: &[u8; 32]) -> Option<bool> {
        let mut success = Choice::from(0);
        for entry in &self.successes {
            success |= entry.ct_eq(digest);
        }
        let mut failure = Choice::from(0);
        for entry in &self.failures {
            failure |= entry.ct_eq(digest);
        }
        if bool::from(success) {
            Some(true)
        } else if bool::from(failure) {
            Some(false)
        } else {
            None
        }
    }

    fn remember(&mut self, digest: [u8; 32], ok: bool) {
        if ok {
            if self.successes.len() >= MAX_REMEMBERED_SUCCESSES {
                self.successes.remove(0);
            }
            self.successes.push(digest);
        } else {
            if self.failures.len() >= MAX_REMEMBERED_FAILURES {
                self.failures.clear();
            }
            self.failures.push(digest);
        }
    }
}

impl BasicAuth {
    /// Checks every hash's format now, so a bad one stops start-up (or a reload) instead of
    /// refusing every scrape later.
    pub fn new(users: Vec<User>) -> Result<BasicAuth, UserError> {
        for user in &users {
            if user.name.contains(':') {
                return Err(UserError::ColonInName {
                    user: user.name.clone(),
                });
            }
            let well_formed = user
                .hash
                .expose()
                .parse::<bcrypt::HashParts>()
                .is_ok_and(|parts| (4..=31).contains(&parts.get_cost()));
            if !well_formed {
                return Err(UserError::BadHash {
                    user: user.name.clone(),
                });
            }
        }
        Ok(BasicAuth {
            users,
            cache: Arc::new(Mutex::new(Cache::default())),
            bcrypt_gate: Arc::new(Semaphore::new(1)),
            bcrypt_runs: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Whether the `Authorization` header names a user and that user's password.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let digest = cache_key(&user, &password);
        if let Some(ok) = self.cached(&digest) {
            return ok;
        }
        let Ok(permit) = self.bcrypt_gate.clone().acquire_owned().await else {
            return false;
        };
        // Another request may have verified the same password while this one waited.
        if let Some(ok) = self.cached(&digest) {
            return ok;
        }
        let known = self.find(&user);
        // An unknown user is checked against a real user's hash, and refused whatever the
        // outcome, so that the answer takes as long as for a known user with a wrong
        // password: timing does not tell which user names exist.
        let Some(hash) = known.or_else(|| self.users.first().map(|u| &u.hash)) else {
            return false;
        };
        let hash = hash.expose().to_owned();
        let known = known.is_some();
        let cache = self.cache.clone();
        let runs = self.bcrypt_runs.clone();
        tokio::task::spawn_blocking(move || {
            // bcrypt runs whatever the user and the length, before either is looked at:
            // an unknown user or an over-long password costs what a wrong one costs.
            runs.fetch_add(1, Ordering::Relaxed);
            let verified = bcrypt::verify(&password, &hash).unwrap_or(false);
            let ok = known & (password.len() <= BCRYPT_MAX_PASSWORD) & verified;
            if let Ok(mut cache) = cache.lock() {
                cache.remember(digest, ok);
            }
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false)
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<bool> {
        self.cache
            .lock()
            .ok()
            .and_then(|cache| cache.lookup(digest))
    }

    /// The hash of user `name`. Every configured name is compared, so the time taken does
    /// not depend on where in the list the name is.
    fn find(&self, name: &[u8]) -> Option<&Secret> {
        let mut found = None;
        for user in &self.users {
            if bool::from(user.name.as_bytes().ct_eq(name)) {
                found = Some(&user.hash);
            }
        }
        found
    }

    #[cfg(test)]
    fn bcrypt_runs(&self) -> usize {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn remembered(&self) -> (usize, usize) {
        let cache = self.cache.lock().unwrap();
        (cache.successes.len(), cache.failures.len())
    }
}

/// The user and password of a `Basic` credential; `None` for anything else.
fn parse_basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.as_bytes();
    let scheme_end = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let encoded = rest.trim_ascii();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let (user, password) = decoded.split_at(colon);
    Some((user.to_vec(), password.get(1..)?.to_vec()))
}

/// What the cache remembers: a digest of user and password, so that neither is kept in
/// the clear. The user's length comes first so that no two (user, password) pairs share
/// an input.
fn cache_key(user: &[u8], password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((user.len() as u64).to_be_bytes());
    hasher.update(user);
    hasher.update(password);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // bcrypt hashes at the lowest cost, 4, so the tests stay fast; made by another
    // implementation (libxcrypt, through Python's `crypt.crypt`) of "wonderland" and
    // "builder".
    const ALICE_HASH: &str = "$2b$04$5KXYp5Rwayt8Y5c.H76X.u6Tc37OhEk3O8lvYJmTPRthckK2Aa7My";
    const BOB_HASH: &str = "$2b$04$CSZ0fAud2CMICbJ2VA1VWeuujpMgqQ5zE7zkCtVLoTS6KDUmreZ3a";

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn users() -> BasicAuth {
        BasicAuth::new(vec![
            User {
                name: "alice".into(),
                hash: Secret::new(ALICE_HASH),
            },
            User {
                name: "bob".into(),
                hash: Secret::new(BOB_HASH),
            },
        ])
        .unwrap()
    }

    #[test]
    fn the_test_hashes_are_what_they_claim() {
        assert!(bcrypt::verify("wonderland", ALICE_HASH).unwrap());
        assert!(bcrypt::verify("builder", BOB_HASH).unwrap());
    }

    #[tokio::test]
    async fn right_password_passes_and_is_remembered() {
        let auth = users();
        assert!(auth.allows(Some(&header("alice", "wonderland"))).await);
        assert_eq!(auth.remembered(), (1, 0));
        assert!(auth.allows(Some(&header("alice", "wonderland"))).await);
        assert_eq!(
            auth.remembered(),
            (1, 0),
            "the second check is served from the cache"
        );
        assert!(auth.allows(Some(&header("bob", "builder"))).await);
        assert_eq!(auth.remembered(), (2, 0));
    }

    #[tokio::test]
    async fn wrong_password_missing_header_and_unknown_user_fail() {
        let auth = users();
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(&header("alice", "wonderlan"))).await);
        assert!(!auth.allows(Some(&header("alice", "builder"))).await);
        // carol does not exist, even with alice's password (checked against alice's hash).
        assert!(!auth.allows(Some(&header("carol", "wonderland"))).await);
        assert_eq!(auth.remembered(), (0, 3));
        // A remembered failure stays a failure.
        assert!(!auth.allows(Some(&header("carol", "wonderland"))).await);
        assert_eq!(auth.remembered(), (0, 3));
    }

    #[tokio::test]
    async fn an_unknown_user_costs_a_bcrypt_like_a_wrong_password() {
        let auth = users();
        assert!(!auth.allows(Some(&header("alice", "wrong"))).await);
        assert_eq!(auth.bcrypt_runs(), 1);
        assert!(!auth.allows(Some(&header("mallory", "wrong"))).await);
        assert_eq!(auth.bcrypt_runs(), 2, "the unknown user skipped bcrypt");
    }

    #[tokio::test]
    async fn a_password_past_72_bytes_is_refused_even_when_its_start_matches() {
        // bcrypt reads 72 bytes: this hash of 72 'a' would match any longer run of 'a'.
        let base = "a".repeat(BCRYPT_MAX_PASSWORD);
        let hash = bcrypt::hash(&base, 4).unwrap();
        let auth = BasicAuth::new(vec![User {
            name: "long".into(),
            hash: Secret::new(hash),
        }])
        .unwrap();
        assert!(auth.allows(Some(&header("long", &base))).await);
        let longer = format!("{base}b");
        let hash = bcrypt::hash(&base, 4).unwrap();
        assert!(
            bcrypt::verify(&longer, &hash).unwrap(),
            "bcrypt alone accepts the longer password"
        );
        assert!(!auth.allows(Some(&header("long", &longer))).await);
        assert_eq!(
            auth.bcrypt_runs(),
            2,
            "the long password paid for bcrypt too"
        );
    }

    #[tokio::test]
    async fn a_verification_outlives_the_request_that_started_it() {
        let auth = users();
        // Polled once: the bcrypt task starts, then the request is dropped, as when a
        // scraper times out and hangs up.
        let _ = tokio::time::timeout(
            Duration::ZERO,
            auth.allows(Some(&header("alice", "wonderland"))),
        )
        .await;
        let mut waited = 0;
        while auth.remembered() == (0, 0) {
            assert!(waited < 1000, "the outcome was never recorded");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        assert_eq!(auth.remembered(), (1, 0));
    }

    #[test]
    fn cached_failure_does_not_leak_into_a_success_for_another_pair() {
        // ("al", "icewonderland") and ("alice", "wonderland") concatenate to the same bytes;
        // the length prefix keeps their cache keys apart.
        assert_ne!(
            cache_key(b"al", b"icewonderland"),
            cache_key(b"alice", b"wonderland")
        );
    }

    #[test]
    fn failures_are_forgotten_when_full_but_successes_stay() {
        let mut cache = Cache::default();
        cache.remember([1; 32], true);
        for i in 0..MAX_REMEMBERED_FAILURES {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(i as u64).to_be_bytes());
            key[31] = 2;
            cache.remember(key, false);
        }
        assert_eq!(cache.failures.len(), MAX_REMEMBERED_FAILURES);
        cache.remember([3; 32], false);
        assert_eq!(cache.failures.len(), 1);
        assert_eq!(cache.lookup(&[1; 32]), Some(true));
        assert_eq!(cache.lookup(&[3; 32]), Some(false));
        assert_eq!(cache.lookup(&[4; 32]), None);
    }

    #[test]
    fn malformed_authorization_headers_are_refused() {
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!notbase64",
            // "alice" without a colon
            "Basic YWxpY2U=",
        ] {
            assert_eq!(parse_basic(&HeaderValue::from_static(bad)), None, "{bad}");
        }
        // The scheme is case-insensitive; a password may contain ':'.
        assert_eq!(
            parse_basic(&HeaderValue::from_static("basic YTpiOmM=")),
            Some((b"a".to_vec(), b"b:c".to_vec()))
        );
    }

    #[test]
    fn bad_hashes_and_names_are_refused_without_echoing_the_hash() {
        for bad in [
            "wonderland",
            "$2y$04$tooshort",
            "$1$abcdefgh$abcdefghijklmnopqrstuv",
            // cost 3 is below bcrypt's minimum
            "$2b$03$5KXYp5Rwayt8Y5c.H76X.u6Tc37OhEk3O8lvYJmTPRthckK2Aa7My",
        ] {
            let err = BasicAuth::new(vec![User {
                name: "alice".into(),
                hash: Secret::new(bad),
            }])
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"));
            let message = err.to_string();
            assert!(message.contains("\"alice\""), "{message}");
            assert!(!message.contains(bad), "{message}");
        }
        let err = BasicAuth::new(vec![User {
            name: "a:b".into(),
            hash: Secret::new(ALICE_HASH),
        }])
        .err()
        .unwrap();
        assert!(matches!(err, UserError::ColonInName { .. }));
    }
}
