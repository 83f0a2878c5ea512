//! Injected faults, all off by default, changeable at run time (`POST /_sim/faults`).

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Fault knobs. Probabilities are per GraphQL request, in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// HTTP 500.
    pub http_500: f64,
    /// HTTP 503.
    pub http_503: f64,
    /// HTTP 429 with `Retry-After: retry_after_seconds`.
    pub http_429: f64,
    pub retry_after_seconds: u64,
    /// HTTP 200 carrying only the first half of the JSON body.
    pub truncated: f64,
    /// HTTP 200 with a retryable GraphQL error (`INTERNAL_ERROR`, `retryPolicy: RETRY`).
    pub graphql_error: f64,
    /// HTTP 200 with a non-retryable GraphQL error (`PERMISSION_DENIED`, `NO_RETRY`).
    pub graphql_error_no_retry: f64,
    /// Wait `slow_delay_ms` before answering (combines with the others).
    pub slow: f64,
    pub slow_delay_ms: u64,
    /// Revoke every token after each N-th GraphQL request; 0 is off.
    pub revoke_every: u64,
    /// Lifetime of tokens issued from now on, in seconds; `None`: the configured one.
    pub token_lifetime_seconds: Option<f64>,
    /// Not a fault, but changeable the same way: lowers the CSAT answers of conversations
    /// generated from now on by this many points (0..=4; a fraction is the probability of
    /// one point more).
    pub csat_bias: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            http_500: 0.0,
            http_503: 0.0,
            http_429: 0.0,
            retry_after_seconds: 1,
            truncated: 0.0,
            graphql_error: 0.0,
            graphql_error_no_retry: 0.0,
            slow: 0.0,
            slow_delay_ms: 2000,
            revoke_every: 0,
            token_lifetime_seconds: None,
            csat_bias: 0.0,
        }
    }
}

/// Why a fault update was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    #[error("fault update must be a JSON object")]
    NotAnObject,
    #[error("bad fault update: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} must be a probability between 0 and 1")]
    BadProbability(&'static str),
    #[error("{0} must be a finite non-negative number")]
    BadNumber(&'static str),
}

/// What to do with one GraphQL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Http500,
    Http503,
    Http429,
    GraphqlError,
    GraphqlErrorNoRetry,
    Truncated,
}

impl Fault {
    /// The key in `Stats::faults`.
    pub fn label(self) -> &'static str {
        match self {
            Fault::Http500 => "500",
            Fault::Http503 => "503",
            Fault::Http429 => "429",
            Fault::GraphqlError => "graphql_error",
            Fault::GraphqlErrorNoRetry => "graphql_error_no_retry",
            Fault::Truncated => "truncated",
        }
    }
}

impl Faults {
    /// Checks every knob is in range.
    pub fn validate(&self) -> Result<(), FaultsError> {
        let probabilities = [
            ("http_500", self.http_500),
            ("http_503", self.http_503),
            ("http_429", self.http_429),
            ("truncated", self.truncated),
            ("graphql_error", self.graphql_error),
            ("graphql_error_no_retry", self.graphql_error_no_retry),
            ("slow", self.slow),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultsError::BadProbability(name));
            }
        }
        if !(self.csat_bias.is_finite() && self.csat_bias >= 0.0) {
            return Err(FaultsError::BadNumber("csat_bias"));
        }
        if let Some(lifetime) = self.token_lifetime_seconds
            && !(lifetime.is_finite() && lifetime >= 0.0)
        {
            return Err(FaultsError::BadNumber("token_lifetime_seconds"));
        }
        Ok(())
    }

    /// These knobs with the keys of `patch` (a JSON object) replaced.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Faults, FaultsError> {
        let serde_json::Value::Object(changes) = patch else {
            return Err(FaultsError::NotAnObject);
        };
        let mut merged = serde_json::to_value(self)?;
        if let serde_json::Value::Object(current) = &mut merged {
            for (key, value) in changes {
                current.insert(key.clone(), value.clone());
            }
        }
        let faults: Faults = serde_json::from_value(merged)?;
        faults.validate()?;
        Ok(faults)
    }

    /// Draws the fate of one request: whether it is slowed down, and which fault replaces
    /// its answer, if any.
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> (bool, Option<Fault>) {
        let slow = self.slow > 0.0 && rng.random::<f64>() < self.slow;
        let candidates = [
            (Fault::Http500, self.http_500),
            (Fault::Http503, self.http_503),
            (Fault::Http429, self.http_429),
            (Fault::GraphqlError, self.graphql_error),
            (Fault::GraphqlErrorNoRetry, self.graphql_error_no_retry),
            (Fault::Truncated, self.truncated),
        ];
        let fault = candidates
            .into_iter()
            .find(|(_, p)| *p > 0.0 && rng.random::<f64>() < *p)
            .map(|(fault, _)| fault);
        (slow, fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_patch_changes_only_its_keys() {
        let before = Faults {
            http_500: 0.25,
            ..Faults::default()
        };
        let after = before
            .patched(&serde_json::json!({"http_503": 0.5, "csat_bias": 1.5}))
            .unwrap();
        assert_eq!(after.http_500, 0.25);
        assert_eq!(after.http_503, 0.5);
        assert_eq!(after.csat_bias, 1.5);
        assert_eq!(after.retry_after_seconds, 1);
    }

    #[test]
    fn bad_patches_are_refused() {
        let faults = Faults::default();
        assert!(
            faults
                .patched(&serde_json::json!({"http_500": 1.5}))
                .is_err()
        );
        assert!(
            faults
                .patched(&serde_json::json!({"no_such_knob": 1}))
                .is_err()
        );
        assert!(
            faults
                .patched(&serde_json::json!({"slow": "often"}))
                .is_err()
        );
        assert!(faults.patched(&serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn no_fault_is_drawn_by_default_and_a_certain_one_always_is() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..100 {
            assert_eq!(Faults::default().draw(&mut rng), (false, None));
        }
        let certain = Faults {
            http_503: 1.0,
            slow: 1.0,
            ..Faults::default()
        };
        for _ in 0..100 {
            assert_eq!(certain.draw(&mut rng), (true, Some(Fault::Http503)));
        }
    }
}
