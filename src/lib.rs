//! iadvize-exporter: a Prometheus exporter for iAdvize closed conversations.
//!
//! Data flows one way: [`config`] → [`iadvize`] client → [`poller`] → [`ledger`] →
//! [`metrics`] snapshot → [`web`].

/// Wiring: web server, client and poller, started and stopped together.
pub mod app;
/// Flags, environment and YAML file merged into one validated configuration.
pub mod config;
/// Everything that speaks to iAdvize: login, GraphQL, query shapes, tolerant parsing.
pub mod iadvize;
/// Label values: channel normalisation and cardinality caps.
pub mod labels;
/// What has been counted: de-duplication, late data, pruning, the rolling window.
pub mod ledger;
/// Logs to stderr as logfmt or JSON.
pub mod logging;
/// Metric families per METRICS.md, label normalisation, and the encoded snapshot.
pub mod metrics;
/// The background loop: fresh pass, revisit pass, watermark.
pub mod poller;
/// Redacting holder for passwords and tokens.
pub mod secret;
/// A simulated iAdvize account: token and GraphQL endpoints, traffic, faults, ground truth.
pub mod simulator;
/// The state file: ledger, counters and watermark kept across restarts.
pub mod state_file;
/// The HTTP server: `/metrics`, `/`, `/-/healthy`, `/-/ready`.
pub mod web;
