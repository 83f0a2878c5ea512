//! The API families: requests to iAdvize by endpoint and status, their latency, retries,
//! logins and the token's expiry, and the conversation records read.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram as LiveHistogram;
use prometheus_client::registry::Registry;

use crate::iadvize::{Endpoint, RetryReason};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    endpoint: &'static str,
    reason: &'static str,
}

/// Request latency buckets, in seconds: from a fast answer to the 30 s default timeout.
const REQUEST_SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug)]
pub(in crate::metrics) struct Api {
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<EndpointLabels, LiveHistogram>,
    retries: Family<RetryLabels, Counter>,
    token_renewals: Counter,
    token_expiry: Gauge<f64, AtomicU64>,
    backoff_until: Gauge<f64, AtomicU64>,
    clock_skew: Gauge<f64, AtomicU64>,
    /// The poller counts these, but they are what the API answered, and the exposition
    /// has always listed them among the API families.
    fetched: Counter,
}

impl Api {
    pub(in crate::metrics) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "iadvize_api_requests",
            "Requests to iAdvize, by endpoint and HTTP status (error when no response came)",
            requests.clone(),
        );
        let request_duration =
            Family::<EndpointLabels, LiveHistogram>::new_with_constructor(|| {
                LiveHistogram::new(REQUEST_SECONDS_BUCKETS)
            });
        registry.register(
            "iadvize_api_request_duration_seconds",
            "Latency of requests to iAdvize",
            request_duration.clone(),
        );
        let retries = Family::<RetryLabels, Counter>::default();
        registry.register(
            "iadvize_api_retries",
            "Requests to iAdvize that were retried, by reason",
            retries.clone(),
        );
        let token_renewals = Counter::default();
        registry.register(
            "iadvize_token_renewals",
            "Logins made to iAdvize",
            token_renewals.clone(),
        );
        let token_expiry = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_token_expiry_timestamp_seconds",
            "When the current iAdvize access token expires",
            token_expiry.clone(),
        );
        let backoff_until = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_api_backoff_until_timestamp_seconds",
            "No request to iAdvize before this Unix time (a Retry-After); 0 when none",
            backoff_until.clone(),
        );
        let clock_skew = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "iadvize_clock_skew_seconds",
            "iAdvize's clock minus ours, from the Date of its answers (to about a second); 0 until one came",
            clock_skew.clone(),
        );
        let fetched = Counter::default();
        registry.register(
            "iadvize_conversations_fetched",
            "Conversation records read from iAdvize, duplicates included",
            fetched.clone(),
        );
        Api {
            requests,
            request_duration,
            retries,
            token_renewals,
            token_expiry,
            backoff_until,
            clock_skew,
            fetched,
        }
    }

    /// `status` is `None` when no response came.
    pub(in crate::metrics) fn request(
        &self,
        endpoint: Endpoint,
        status: Option<u16>,
        seconds: f64,
    ) {
        let code = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.as_label(),
                code,
            })
            .inc();
        self.request_duration
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.as_label(),
            })
            .observe(seconds);
    }

    pub(in crate::metrics) fn retry(&self, endpoint: Endpoint, reason: RetryReason) {
        self.retries
            .get_or_create(&RetryLabels {
                endpoint: endpoint.as_label(),
                reason: reason.as_label(),
            })
            .inc();
    }

    pub(in crate::metrics) fn login(&self, expires_at_unix_seconds: f64) {
        self.token_renewals.inc();
        self.token_expiry.set(expires_at_unix_seconds);
    }

    pub(in crate::metrics) fn backoff_until(&self, unix_seconds: f64) {
        self.backoff_until.set(unix_seconds);
    }

    pub(in crate::metrics) fn clock_skew(&self, seconds: f64) {
        self.clock_skew.set(seconds);
    }

    pub(in crate::metrics) fn conversations_fetched(&self, records: u64) {
        self.fetched.inc_by(records);
    }
}
