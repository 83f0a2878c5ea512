//! iadvize-exporter: a Prometheus exporter for iAdvize closed conversations.
//!
//! Data flows one way: [`config`] → [`iadvize`] client → [`poller`] → [`ledger`] →
//! [`metrics`] snapshot → [`web`]. No file imports a file that imports it back.
//!
//! # Layout
//!
//! - `main.rs`: parse the command line, set up logging, run. `app.rs`: wiring only.
//! - `config/`: flags, environment and YAML file into one validated `Config`.
//!   `flags.rs` the flag table (each default written once), `values.rs` the value
//!   parsers, `sources.rs` flag > env > file, `file.rs` the YAML reader, `credentials.rs`
//!   password and token files, `error.rs` the errors, `simulate.rs` the `simulate`
//!   command's flags.
//! - `iadvize/`: everything that speaks to iAdvize. `transport.rs` HTTP (pacing,
//!   `Retry-After`, status to retry reason, size caps), `connector.rs` its TCP
//!   connections (acknowledged at once, see issue 13), `auth.rs` the login and its
//!   token, `client.rs` GraphQL requests and pagination, `schema.rs` the query shape and
//!   fields the account offers, `clock.rs` iAdvize's clock from the `Date` of its
//!   answers, `json.rs` tolerant JSON readers and the GraphQL error
//!   envelope, `parse.rs` a page into typed records, `time_formats.rs` dates and
//!   durations, `model.rs` the typed records; `fake_server.rs` (tests only) a scripted
//!   iAdvize.
//! - `poller.rs`: the loop (start-up, fresh and revisit passes, watermark, pruning).
//! - `ledger/`: what has been counted. `mod.rs` apply, commit, rollback, prune and the
//!   window; `records.rs` the compact record store and its index; `snapshot.rs` what
//!   metrics reads; `persist.rs` the saved form, with its versions; `tags.rs` the
//!   counted (conversation, tag) pairs, kept beside the records; `exemplars.rs` the
//!   latest conversation counted into each histogram bucket.
//! - `state_file.rs`: restore and save, atomically, with versions and damage handling.
//! - `labels.rs`: label normalisation, which tags are counted (`--metrics.tags`), and caps.
//! - `metrics/`: the only owner of metric names. `mod.rs` publish and scrape,
//!   `business.rs` the business families encoded once per snapshot, `health/` the
//!   exporter's own families by concern (poll, API, state file, web config),
//!   `process.rs` `process_*`, `gzip.rs` gzip framing, `exposition.rs` formats,
//!   `family.rs` a shared encoder, `histograms.rs` the business histograms in
//!   OpenMetrics with their exemplars, `history.rs` samples with timestamps for
//!   `backfill`.
//! - `web/`: the HTTP server. `mod.rs` routes and limits, `connections.rs` which
//!   connection gives way at the cap, `config.rs` the web config and its reload,
//!   `tls.rs`, `auth.rs` basic auth.
//! - `simulator/`: an independent implementation of the iAdvize API for the demo and
//!   the tests: `traffic.rs` seeded conversations, `world.rs` paged search, `graphql.rs`
//!   the schema, `http.rs` routes and faults, `truth.rs` what an exact exporter shows,
//!   and `auth.rs`, `faults.rs`, `record.rs`, `stats.rs`.
//! - `backfill/`: the `backfill` command, on the same client, ledger and encoding as the
//!   exporter: `mod.rs` the run, `plan.rs` sample times and the slices read, `writer.rs`
//!   the OpenMetrics file (families joined from part files), `progress.rs` stderr.
//! - `clock.rs` our wall clock, injected. `logging.rs` logfmt or JSON to stderr;
//!   `secret.rs` a holder that never prints.

/// Wiring: web server, client and poller, started and stopped together.
pub mod app;
/// `backfill`: past conversations as Prometheus history, and a state file to go on from.
pub mod backfill;
/// Our wall clock, injected so tests can steer it.
pub mod clock;
/// Flags, environment and YAML file merged into one validated configuration.
pub mod config;
/// Everything that speaks to iAdvize: login, GraphQL, query shapes, tolerant parsing.
pub mod iadvize;
/// Label values: channel and tag normalisation, the tag filter, cardinality caps.
pub mod labels;
/// What has been counted: de-duplication, late data, pruning, the rolling window.
pub mod ledger;
/// Logs to stderr as logfmt or JSON.
pub mod logging;
/// Metric families per METRICS.md, encoded once per snapshot, and the live health.
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
