//! Flags + environment + YAML file -> one validated [`Config`].
//!
//! Precedence: a flag beats the environment (`IADVIZE_` + flag name), which beats the
//! `--config.file`, which beats the built-in default.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, FromArgMatches};
use serde::de::{self, DeserializeSeed, Visitor};

use crate::iadvize::{ClientConfig, Credentials, QueryChoice, QueryShape};
use crate::secret::Secret;
use crate::simulator::SimArgs;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the exporter.
    Run(Box<Config>),
    /// `check`: log in, check the schema, read one page, report.
    Check(Box<Config>),
    /// `simulate --listen ADDR`: serve the simulated API alone.
    Simulate(Box<SimArgs>),
}

/// The validated configuration of the exporter.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the iAdvize client needs. With `--demo`, main replaces the URL and
    /// credentials with the in-process simulator's.
    pub client: ClientConfig,
    /// `--demo`: run against the built-in simulated account.
    pub demo: bool,
    pub poll: PollConfig,
    pub metrics: MetricsConfig,
    /// `--state.file`.
    pub state_file: Option<PathBuf>,
    pub web: WebConfig,
    pub log: LogConfig,
}

/// `--poll.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    pub interval: Duration,
    pub overlap: Duration,
    pub revisit_interval: Duration,
    /// Zero turns the revisit pass off.
    pub revisit_horizon: Duration,
}

/// `--metrics.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub window: Duration,
    /// Strictly increasing, finite.
    pub duration_buckets: Vec<f64>,
    /// Strictly increasing, finite.
    pub amount_buckets: Vec<f64>,
    pub max_channels: usize,
    pub max_currencies: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window: Duration::from_secs(3600),
            duration_buckets: vec![
                30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                86400.0,
            ],
            amount_buckets: vec![
                10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
            ],
            max_channels: 32,
            max_currencies: 16,
        }
    }
}

/// `--web.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    pub listen_address: SocketAddr,
    /// Starts with `/`.
    pub telemetry_path: String,
    pub config_file: Option<PathBuf>,
}

/// `--log.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Where a setting's value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `--name` on the command line.
    Flag(&'static str),
    /// `IADVIZE_...` in the environment, standing for flag `name`.
    Env { var: String, flag: &'static str },
    /// A key of the `--config.file`.
    File { file: PathBuf, key: &'static str },
    /// The built-in default of flag `name`.
    Default(&'static str),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Flag(name) => write!(f, "--{name}"),
            Place::Env { var, flag } => write!(f, "{var} (--{flag})"),
            Place::File { file, key } => write!(f, "{}, key {key}", file.display()),
            Place::Default(name) => write!(f, "the default of --{name}"),
        }
    }
}

/// Why the command line, the environment or the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A usage error, or `--help` / `--version`: Display is clap's rendered text, and
    /// [`ConfigError::print`] writes it where clap would (stdout for help).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("{place}: invalid value {value:?}: {expected}")]
    Invalid {
        place: Place,
        value: String,
        expected: String,
    },
    #[error("cannot read the config file {}: {source}", file.display())]
    ReadFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse the config file {}: {message}", file.display())]
    ParseFile { file: PathBuf, message: String },
    #[error("{}{}: key {key}: {problem}", file.display(), line_suffix(*line))]
    FileKey {
        file: PathBuf,
        key: String,
        line: Option<usize>,
        problem: String,
    },
    #[error("cannot read the password file {} (from {place}): {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        place: Place,
        #[source]
        source: std::io::Error,
    },
    #[error("the password file {} (from {place}) is empty", path.display())]
    EmptyPasswordFile { path: PathBuf, place: Place },
    #[error(
        "both IADVIZE_PASSWORD and {place} are set: keep one, the password itself or the file holding it"
    )]
    TwoPasswords { place: Place },
    #[error(
        "no iAdvize credentials: set --iadvize.username and --iadvize.password-file (or IADVIZE_PASSWORD), or --iadvize.token-file, or use --demo"
    )]
    MissingCredentials,
    #[error(
        "--iadvize.username is set ({place}) but no password: set --iadvize.password-file or IADVIZE_PASSWORD"
    )]
    MissingPassword { place: Place },
    #[error(
        "a password is set ({place}) but --iadvize.username is missing: set --iadvize.username to log in with it"
    )]
    MissingUsername { place: Place },
    #[error(
        "both a token file ({token}) and a login ({other}) are set: drop {other} to use the token file, or drop {token} to log in with a username and password"
    )]
    TokenAndLogin { token: Place, other: Place },
    #[error("{place} does not apply to `simulate`, which only takes --listen")]
    NotForSimulate { place: Place },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

impl ConfigError {
    /// The process exit code: 0 when clap displayed `--help` or `--version`, 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Clap(e) => e.exit_code(),
            _ => 2,
        }
    }

    /// Writes the message where the user expects it: help and version on stdout (through
    /// clap, with its colours), everything else on stderr.
    pub fn print(&self) -> std::io::Result<()> {
        match self {
            ConfigError::Clap(e) => e.print(),
            other => {
                use std::io::Write;
                writeln!(std::io::stderr(), "error: {other}")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The flags
// ---------------------------------------------------------------------------------------

/// How a flag's value is checked; also decides whether the config file may give a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Switch,
    Text,
    Path,
    Url,
    Platform,
    Query,
    ProjectIds,
    Rate,
    /// A duration that must be greater than zero.
    Duration,
    /// A duration where `0s` means something (off, or no overlap).
    DurationOrZero,
    Buckets,
    Count,
    ListenAddress,
    TelemetryPath,
    LogLevel,
    LogFormat,
}

impl Kind {
    fn takes_list(self) -> bool {
        matches!(self, Kind::ProjectIds | Kind::Buckets)
    }

    /// Checks a value without keeping it, so config file values can be refused with the
    /// file's line before any merging happens.
    fn check(self, value: &str) -> Result<(), String> {
        match self {
            Kind::Switch => parse_bool(value).map(drop),
            Kind::Text | Kind::Path => parse_non_empty(value).map(drop),
            Kind::Url => parse_url(value).map(drop),
            Kind::Platform => parse_platform(value).map(drop),
            Kind::Query => parse_query(value).map(drop),
            Kind::ProjectIds => parse_project_ids(value).map(drop),
            Kind::Rate => parse_rate(value).map(drop),
            Kind::Duration => parse_duration(value).map(drop),
            Kind::DurationOrZero => parse_duration_or_zero(value).map(drop),
            Kind::Buckets => parse_buckets(value).map(drop),
            Kind::Count => parse_count(value).map(drop),
            Kind::ListenAddress => parse_listen_address(value).map(drop),
            Kind::TelemetryPath => parse_telemetry_path(value).map(drop),
            Kind::LogLevel => parse_log_level(value).map(drop),
            Kind::LogFormat => parse_log_format(value).map(drop),
        }
    }
}

struct Flag {
    /// The flag without `--`, also the config file key.
    name: &'static str,
    kind: Kind,
    value_name: &'static str,
    default: Option<&'static str>,
    /// `None` keeps the flag among the general options.
    heading: Option<&'static str>,
    help: &'static str,
}

const CONFIG_FILE: &str = "config.file";
/// The password itself may only come from the environment, never a flag or the file.
const PASSWORD_ENV: &str = "IADVIZE_PASSWORD";

const DEFAULT_URL: &str = "https://api.iadvize.com";
const DEFAULT_DURATION_BUCKETS: &str = "30,60,120,300,600,900,1800,3600,7200,14400,28800,86400";
const DEFAULT_AMOUNT_BUCKETS: &str = "10,25,50,100,250,500,1000,2500,5000,10000";

const IADVIZE: &str = "iAdvize";
const POLL: &str = "Polling";
const METRICS: &str = "Metrics";
const SERVING: &str = "State and web";
const LOGGING: &str = "Logging";

const FLAGS: &[Flag] = &[
    Flag {
        name: "iadvize.url",
        kind: Kind::Url,
        value_name: "URL",
        default: Some(DEFAULT_URL),
        heading: Some(IADVIZE),
        help: "Base URL of the iAdvize API: token at /oauth2/token, GraphQL at /graphql",
    },
    Flag {
        name: "iadvize.platform",
        kind: Kind::Platform,
        value_name: "ha|sd",
        default: Some("ha"),
        heading: Some(IADVIZE),
        help: "iAdvize platform; sd adds ?platform=sd to the GraphQL URL",
    },
    Flag {
        name: "iadvize.username",
        kind: Kind::Text,
        value_name: "EMAIL",
        default: None,
        heading: Some(IADVIZE),
        help: "Login e-mail",
    },
    Flag {
        name: "iadvize.password-file",
        kind: Kind::Path,
        value_name: "FILE",
        default: None,
        heading: Some(IADVIZE),
        help: "File holding the password (trailing newline ignored); the password itself may \
               come from IADVIZE_PASSWORD instead",
    },
    Flag {
        name: "iadvize.token-file",
        kind: Kind::Path,
        value_name: "FILE",
        default: None,
        heading: Some(IADVIZE),
        help: "A ready access token instead of a login, re-read when the API refuses it",
    },
    Flag {
        name: "iadvize.project-ids",
        kind: Kind::ProjectIds,
        value_name: "IDS",
        default: Some("all"),
        heading: Some(IADVIZE),
        help: "Comma-separated project ids to read, or all",
    },
    Flag {
        name: "iadvize.query",
        kind: Kind::Query,
        value_name: "QUERY",
        default: Some("auto"),
        heading: Some(IADVIZE),
        help: "searchClosedConversations, closedConversations, or auto (ask the schema at \
               start-up)",
    },
    Flag {
        name: "iadvize.max-requests-per-second",
        kind: Kind::Rate,
        value_name: "RATE",
        default: Some("5"),
        heading: Some(IADVIZE),
        help: "Client-side pace of GraphQL requests",
    },
    Flag {
        name: "iadvize.timeout",
        kind: Kind::Duration,
        value_name: "DURATION",
        default: Some("30s"),
        heading: Some(IADVIZE),
        help: "One request's time limit",
    },
    Flag {
        name: "poll.interval",
        kind: Kind::Duration,
        value_name: "DURATION",
        default: Some("60s"),
        heading: Some(POLL),
        help: "How often new closed conversations are read",
    },
    Flag {
        name: "poll.overlap",
        kind: Kind::DurationOrZero,
        value_name: "DURATION",
        default: Some("5m"),
        heading: Some(POLL),
        help: "How far before the watermark each poll reads again, for conversations indexed late",
    },
    Flag {
        name: "poll.revisit-interval",
        kind: Kind::Duration,
        value_name: "DURATION",
        default: Some("1h"),
        heading: Some(POLL),
        help: "How often the revisit pass re-reads recent conversations for late surveys and \
               transactions",
    },
    Flag {
        name: "poll.revisit-horizon",
        kind: Kind::DurationOrZero,
        value_name: "DURATION",
        default: Some("48h"),
        heading: Some(POLL),
        help: "How far back the revisit pass reads; 0s turns it off",
    },
    Flag {
        name: "metrics.window",
        kind: Kind::Duration,
        value_name: "DURATION",
        default: Some("1h"),
        heading: Some(METRICS),
        help: "The rolling window of the iadvize_window_* gauges",
    },
    Flag {
        name: "metrics.duration-buckets",
        kind: Kind::Buckets,
        value_name: "SECONDS,...",
        default: Some(DEFAULT_DURATION_BUCKETS),
        heading: Some(METRICS),
        help: "Bucket bounds of iadvize_conversation_duration_seconds, strictly increasing",
    },
    Flag {
        name: "metrics.amount-buckets",
        kind: Kind::Buckets,
        value_name: "AMOUNT,...",
        default: Some(DEFAULT_AMOUNT_BUCKETS),
        heading: Some(METRICS),
        help: "Bucket bounds of iadvize_transaction_amount, strictly increasing",
    },
    Flag {
        name: "metrics.max-channels",
        kind: Kind::Count,
        value_name: "N",
        default: Some("32"),
        heading: Some(METRICS),
        help: "Most distinct channel label values; the rest are counted as other",
    },
    Flag {
        name: "metrics.max-currencies",
        kind: Kind::Count,
        value_name: "N",
        default: Some("16"),
        heading: Some(METRICS),
        help: "Most distinct currency label values; the rest are counted as other",
    },
    Flag {
        name: "state.file",
        kind: Kind::Path,
        value_name: "FILE",
        default: None,
        heading: Some(SERVING),
        help: "Where de-duplication state and counts survive restarts",
    },
    Flag {
        name: "web.listen-address",
        kind: Kind::ListenAddress,
        value_name: "HOST:PORT",
        default: Some(":9834"),
        heading: Some(SERVING),
        help: "Where /metrics, /, /-/healthy and /-/ready are served; :PORT listens on all \
               interfaces",
    },
    Flag {
        name: "web.telemetry-path",
        kind: Kind::TelemetryPath,
        value_name: "PATH",
        default: Some("/metrics"),
        heading: Some(SERVING),
        help: "Path of the metrics page",
    },
    Flag {
        name: "web.config.file",
        kind: Kind::Path,
        value_name: "FILE",
        default: None,
        heading: Some(SERVING),
        help: "TLS and basic auth, in the Prometheus exporter-toolkit format",
    },
    Flag {
        name: "log.level",
        kind: Kind::LogLevel,
        value_name: "LEVEL",
        default: Some("info"),
        heading: Some(LOGGING),
        help: "error, warn, info, debug or trace",
    },
    Flag {
        name: "log.format",
        kind: Kind::LogFormat,
        value_name: "FORMAT",
        default: Some("logfmt"),
        heading: Some(LOGGING),
        help: "logfmt or json; logs go to stderr",
    },
    Flag {
        name: "demo",
        kind: Kind::Switch,
        value_name: "",
        default: Some("false"),
        heading: None,
        help: "Run against the built-in simulated iAdvize account: no credentials needed",
    },
];

fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// `--poll.interval` <- `IADVIZE_POLL_INTERVAL`.
fn env_var_name(flag: &str) -> String {
    format!("IADVIZE_{}", flag.to_uppercase().replace(['.', '-'], "_"))
}

// ---------------------------------------------------------------------------------------
// Values: each parser says, on failure, what it expected.
// ---------------------------------------------------------------------------------------

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".to_string()),
    }
}

fn parse_non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("expected a non-empty value".to_string())
    } else {
        Ok(value.to_string())
    }
}

fn parse_url(value: &str) -> Result<url::Url, String> {
    const EXPECTED: &str =
        "expected an http:// or https:// URL with a host, such as https://api.iadvize.com";
    let mut url = url::Url::parse(value.trim()).map_err(|e| format!("{EXPECTED} ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(EXPECTED.to_string());
    }
    // A password in the URL would show up in every Debug of the client config.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "expected a URL without user:password@; use --iadvize.username and \
             --iadvize.password-file"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("expected a base URL without ?query or #fragment".to_string());
    }
    // The client appends `/oauth2/token` and `/graphql`; a trailing slash would double it.
    if url.path().len() > 1 && url.path().ends_with('/') {
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(if trimmed.is_empty() { "/" } else { &trimmed });
    }
    Ok(url)
}

fn parse_platform(value: &str) -> Result<bool, String> {
    match value.trim() {
        "ha" => Ok(false),
        "sd" => Ok(true),
        _ => Err("expected ha or sd".to_string()),
    }
}

fn parse_query(value: &str) -> Result<QueryChoice, String> {
    match value.trim() {
        "auto" => Ok(QueryChoice::Auto),
        "searchClosedConversations" => {
            Ok(QueryChoice::Fixed(QueryShape::SearchClosedConversations))
        }
        "closedConversations" => Ok(QueryChoice::Fixed(QueryShape::ClosedConversations)),
        _ => Err("expected auto, searchClosedConversations or closedConversations".to_string()),
    }
}

fn parse_project_ids(value: &str) -> Result<Option<Vec<i64>>, String> {
    const EXPECTED: &str = "expected comma-separated positive integers such as 1234,5678, or all";
    if value.trim() == "all" {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for item in value.split(',') {
        match item.trim().parse::<i64>() {
            Ok(id) if id > 0 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => return Err(EXPECTED.to_string()),
        }
    }
    Ok(Some(ids))
}

fn parse_rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("expected a positive number such as 5 or 0.5".to_string()),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(value)?;
    if duration.is_zero() {
        return Err("expected a duration greater than 0s".to_string());
    }
    Ok(duration)
}

fn parse_duration_or_zero(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|_| "expected a duration such as 30s, 5m, 1h or 1h30m".to_string())
}

fn parse_buckets(value: &str) -> Result<Vec<f64>, String> {
    const EXPECTED: &str =
        "expected comma-separated finite numbers in strictly increasing order, such as 30,60,120";
    let mut bounds: Vec<f64> = Vec::new();
    for item in value.split(',') {
        let bound = match item.trim().parse::<f64>() {
            Ok(b) if b.is_finite() => b,
            _ => return Err(EXPECTED.to_string()),
        };
        if bounds.last().is_some_and(|&last| bound <= last) {
            return Err(EXPECTED.to_string());
        }
        bounds.push(bound);
    }
    Ok(bounds)
}

fn parse_count(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive integer".to_string()),
    }
}

fn parse_listen_address(value: &str) -> Result<SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
    const EXPECTED: &str =
        "expected HOST:PORT or :PORT, such as :9834, 127.0.0.1:9834 or [::]:9834";
    let value = value.trim();
    let (host, port) = value.rsplit_once(':').ok_or_else(|| EXPECTED.to_string())?;
    let port: u16 = port.parse().map_err(|_| EXPECTED.to_string())?;
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(EXPECTED.to_string());
    }
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{EXPECTED} (host {host} has no address)")),
        Err(e) => Err(format!("{EXPECTED} (cannot resolve {host}: {e})")),
    }
}

fn parse_telemetry_path(value: &str) -> Result<String, String> {
    let path = value.trim();
    if !path.starts_with('/') || matches!(path, "/" | "/-/healthy" | "/-/ready") {
        return Err(
            "expected a path starting with /, other than /, /-/healthy and /-/ready".to_string(),
        );
    }
    Ok(path.to_string())
}

fn parse_log_level(value: &str) -> Result<LogLevel, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        _ => Err("expected error, warn, info, debug or trace".to_string()),
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim() {
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected logfmt or json".to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------

fn flag_args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new(CONFIG_FILE)
            .long(CONFIG_FILE)
            .value_name("FILE")
            .help(format!(
                "YAML file of settings, keys as the flag names (iadvize.url, or nested \
                 iadvize: {{url: ...}}) [env: {}]",
                env_var_name(CONFIG_FILE)
            )),
    ];
    for flag in FLAGS {
        let env = env_var_name(flag.name);
        let arg = Arg::new(flag.name)
            .long(flag.name)
            .help_heading(flag.heading);
        args.push(match flag.kind {
            Kind::Switch => arg
                .action(ArgAction::SetTrue)
                .help(format!("{} [env: {env}]", flag.help)),
            _ => {
                let help = match flag.default {
                    Some(default) => format!("{} [default: {default}] [env: {env}]", flag.help),
                    None => format!("{} [env: {env}]", flag.help),
                };
                arg.value_name(flag.value_name).help(help)
            }
        });
    }
    args
}

/// The clap command. Flags are defined on the top level and again on `check` (rather
/// than `global`) so they work before or after `check` without cluttering `simulate`.
fn cli() -> clap::Command {
    // `about` after `augment_args`, which would otherwise take SimArgs' doc comment.
    let simulate = <SimArgs as clap::Args>::augment_args(clap::Command::new("simulate"))
        .about("Serve the simulated iAdvize API alone, to try the exporter without an account");
    clap::Command::new("iadvize-exporter")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Prometheus exporter for iAdvize closed conversations. Without a command, runs the \
             exporter.\n\nEvery flag can also come from the environment (IADVIZE_ + the flag \
             name upper-cased, dots and dashes as _) or from --config.file; a flag beats the \
             environment, which beats the file. The password comes from \
             --iadvize.password-file or IADVIZE_PASSWORD.",
        )
        .args(flag_args())
        .subcommand(
            clap::Command::new("check")
                .about(
                    "Read the configuration, log in, check the schema, read one page, print \
                     what was found",
                )
                .args(flag_args()),
        )
        .subcommand(simulate)
}

/// Parses argv + environment + `--config.file` into what to do.
///
/// `args` includes argv[0]. `env` looks up an environment variable (tests pass a map;
/// main passes `|k| std::env::var(k).ok()`): it is the only way this reads the
/// environment. An empty variable counts as unset.
pub fn parse<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = cli().try_get_matches_from(args)?;
    match matches.subcommand() {
        Some(("simulate", sub)) => {
            if let Some(place) = first_flag_given(&matches) {
                return Err(ConfigError::NotForSimulate { place });
            }
            Ok(Command::Simulate(Box::new(SimArgs::from_arg_matches(sub)?)))
        }
        Some(("check", sub)) => Ok(Command::Check(Box::new(build(&[sub, &matches], env)?))),
        _ => Ok(Command::Run(Box::new(build(&[&matches], env)?))),
    }
}

fn given_on_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

fn first_flag_given(matches: &ArgMatches) -> Option<Place> {
    if given_on_command_line(matches, CONFIG_FILE) {
        return Some(Place::Flag(CONFIG_FILE));
    }
    FLAGS
        .iter()
        .find(|f| given_on_command_line(matches, f.name))
        .map(|f| Place::Flag(f.name))
}

// ---------------------------------------------------------------------------------------
// The config file
// ---------------------------------------------------------------------------------------

/// One setting of the config file, already checked. `None` is an explicit YAML null,
/// which leaves the setting to its default.
struct FileEntry {
    flag: &'static Flag,
    value: Option<String>,
}

/// What went wrong inside the YAML walk, kept aside because serde's error only carries
/// a message and a position, and our error names the key separately.
struct FileProblem {
    key: String,
    problem: String,
}

/// Walks the YAML document with serde seeds rather than through `serde_norway::Value`,
/// because only errors raised during deserialization carry the line of the offending
/// key or value.
struct FileReader {
    entries: RefCell<Vec<FileEntry>>,
    problem: RefCell<Option<FileProblem>>,
}

impl FileReader {
    fn fail<E: de::Error>(&self, key: &str, problem: String) -> E {
        let error = E::custom(format!("{key}: {problem}"));
        *self.problem.borrow_mut() = Some(FileProblem {
            key: key.to_string(),
            problem,
        });
        error
    }
}

fn load_file(file: &std::path::Path) -> Result<Vec<FileEntry>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::ReadFile {
        file: file.to_path_buf(),
        source,
    })?;
    let reader = FileReader {
        entries: RefCell::new(Vec::new()),
        problem: RefCell::new(None),
    };
    let walked = MappingSeed {
        reader: &reader,
        prefix: String::new(),
    }
    .deserialize(serde_norway::Deserializer::from_str(&text));
    if let Err(error) = walked {
        let line = error.location().map(|l| l.line());
        return Err(match reader.problem.into_inner() {
            Some(FileProblem { key, problem }) => ConfigError::FileKey {
                file: file.to_path_buf(),
                key,
                line,
                problem,
            },
            None => ConfigError::ParseFile {
                file: file.to_path_buf(),
                message: error.to_string(),
            },
        });
    }
    Ok(reader.entries.into_inner())
}

/// A mapping of settings whose keys all start with `prefix` (`""` at the top,
/// `"iadvize."` inside `iadvize:`).
struct MappingSeed<'r> {
    reader: &'r FileReader,
    prefix: String,
}

impl MappingSeed<'_> {
    fn not_a_mapping<E: de::Error>(&self) -> E {
        let section = self.prefix.trim_end_matches('.');
        if section.is_empty() {
            E::custom("expected a mapping of settings, such as `poll.interval: 60s`")
        } else {
            self.reader.fail(
                section,
                format!("expected a mapping of {section}.* settings"),
            )
        }
    }
}

impl<'de> DeserializeSeed<'de> for MappingSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MappingSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mapping of settings")
    }

    // An empty file or an empty section (`iadvize:` with nothing under it) sets nothing.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_a_mapping())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_a_mapping())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed {
            reader: self.reader,
            prefix: &self.prefix,
        })? {
            match key {
                Key::Setting(flag) => {
                    let value = map.next_value_seed(ValueSeed {
                        reader: self.reader,
                        flag,
                    })?;
                    self.reader
                        .entries
                        .borrow_mut()
                        .push(FileEntry { flag, value });
                }
                Key::Section(section) => map.next_value_seed(MappingSeed {
                    reader: self.reader,
                    prefix: format!("{section}."),
                })?,
            }
        }
        Ok(())
    }
}

enum Key {
    Setting(&'static Flag),
    Section(String),
}

struct KeySeed<'r> {
    reader: &'r FileReader,
    prefix: &'r str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a setting name such as poll.interval")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        let full = format!("{}{key}", self.prefix);
        let fail = |problem: &str| Err(self.reader.fail(&full, problem.to_string()));
        if full == "iadvize.password" {
            return fail(
                "a password is not accepted in the config file: put it in a file named by \
                 iadvize.password-file, or in the IADVIZE_PASSWORD environment variable",
            );
        }
        if full == CONFIG_FILE {
            return fail("config.file cannot be set inside the config file");
        }
        if let Some(flag) = find_flag(&full) {
            if self
                .reader
                .entries
                .borrow()
                .iter()
                .any(|e| e.flag.name == flag.name)
            {
                return fail("set twice (the dotted and nested forms name the same setting)");
            }
            return Ok(Key::Setting(flag));
        }
        let section = format!("{full}.");
        let is_section =
            full == "config" || FLAGS.iter().any(|f| f.name.starts_with(section.as_str()));
        if is_section {
            return Ok(Key::Section(full));
        }
        fail(
            "unknown key: keys are the flag names without the leading --, such as poll.interval, dotted or nested",
        )
    }
}

struct ValueSeed<'r> {
    reader: &'r FileReader,
    flag: &'static Flag,
}

impl ValueSeed<'_> {
    fn checked<E: de::Error>(&self, value: String) -> Result<Option<String>, E> {
        match self.flag.kind.check(&value) {
            Ok(()) => Ok(Some(value)),
            Err(expected) => Err(self.reader.fail(
                self.flag.name,
                format!("invalid value {value:?}: {expected}"),
            )),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value for {}", self.flag.name)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<String>, E> {
        self.checked(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        if !self.flag.kind.takes_list() {
            return Err(self.reader.fail(
                self.flag.name,
                "expected a single value, not a list".to_string(),
            ));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ScalarSeed)? {
            items.push(item);
        }
        self.checked(items.join(","))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Option<String>, A::Error> {
        Err(self.reader.fail(
            self.flag.name,
            "expected a value, not a mapping".to_string(),
        ))
    }
}

/// One item of a list value: a string or a number.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a number or a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Merging: flag > environment > file > default
// ---------------------------------------------------------------------------------------

struct Sources<'a> {
    /// `check`'s matches first, then the top level's.
    cli: &'a [&'a ArgMatches],
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<(PathBuf, Vec<FileEntry>)>,
}

impl Sources<'_> {
    fn env_value(&self, var: &str) -> Option<String> {
        (self.env)(var).filter(|v| !v.is_empty())
    }

    /// The winning value of a flag, if anything but the default set it.
    fn lookup(&self, flag: &'static Flag) -> Option<(String, Place)> {
        for matches in self.cli {
            if given_on_command_line(matches, flag.name) {
                let value = match flag.kind {
                    Kind::Switch => Some("true".to_string()),
                    _ => matches
                        .try_get_one::<String>(flag.name)
                        .ok()
                        .flatten()
                        .cloned(),
                };
                if let Some(value) = value {
                    return Some((value, Place::Flag(flag.name)));
                }
            }
        }
        let var = env_var_name(flag.name);
        if let Some(value) = self.env_value(&var) {
            return Some((
                value,
                Place::Env {
                    var,
                    flag: flag.name,
                },
            ));
        }
        let (file, entries) = self.file.as_ref()?;
        let entry = entries.iter().find(|e| e.flag.name == flag.name)?;
        let value = entry.value.clone()?;
        Some((
            value,
            Place::File {
                file: file.clone(),
                key: flag.name,
            },
        ))
    }

    fn optional<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<(T, Place)>, ConfigError> {
        let Some(flag) = find_flag(name) else {
            return Ok(None);
        };
        let Some((value, place)) = self.lookup(flag).or_else(|| {
            flag.default
                .map(|d| (d.to_string(), Place::Default(flag.name)))
        }) else {
            return Ok(None);
        };
        match parse(&value) {
            Ok(parsed) => Ok(Some((parsed, place))),
            Err(expected) => Err(ConfigError::Invalid {
                place,
                value,
                expected,
            }),
        }
    }

    /// A flag with a default: absent only if `name` is missing from [`FLAGS`].
    fn required<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.optional(name, parse)? {
            Some((value, _)) => Ok(value),
            None => Err(ConfigError::Invalid {
                place: Place::Default(name),
                value: String::new(),
                expected: "a value (internal error: this flag has no default)".to_string(),
            }),
        }
    }

    fn path(&self, name: &'static str) -> Result<Option<(PathBuf, Place)>, ConfigError> {
        Ok(self
            .optional(name, parse_non_empty)?
            .map(|(p, place)| (PathBuf::from(p), place)))
    }
}

fn build(cli: &[&ArgMatches], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let config_file = cli
        .iter()
        .find(|m| given_on_command_line(m, CONFIG_FILE))
        .and_then(|m| m.try_get_one::<String>(CONFIG_FILE).ok().flatten().cloned())
        .or_else(|| env(&env_var_name(CONFIG_FILE)).filter(|v| !v.is_empty()));
    let file = match config_file {
        Some(path) => {
            let path = PathBuf::from(path);
            let entries = load_file(&path)?;
            Some((path, entries))
        }
        None => None,
    };
    let src = Sources { cli, env, file };

    let demo = src.required("demo", parse_bool)?;
    let url = src.required("iadvize.url", parse_url)?;
    let platform_sd = src.required("iadvize.platform", parse_platform)?;
    let query = src.required("iadvize.query", parse_query)?;
    let project_ids = src.required("iadvize.project-ids", parse_project_ids)?;
    let max_requests_per_second = src.required("iadvize.max-requests-per-second", parse_rate)?;
    let timeout = src.required("iadvize.timeout", parse_duration)?;
    let poll = PollConfig {
        interval: src.required("poll.interval", parse_duration)?,
        overlap: src.required("poll.overlap", parse_duration_or_zero)?,
        revisit_interval: src.required("poll.revisit-interval", parse_duration)?,
        revisit_horizon: src.required("poll.revisit-horizon", parse_duration_or_zero)?,
    };
    let metrics = MetricsConfig {
        window: src.required("metrics.window", parse_duration)?,
        duration_buckets: src.required("metrics.duration-buckets", parse_buckets)?,
        amount_buckets: src.required("metrics.amount-buckets", parse_buckets)?,
        max_channels: src.required("metrics.max-channels", parse_count)?,
        max_currencies: src.required("metrics.max-currencies", parse_count)?,
    };
    let state_file = src.path("state.file")?.map(|(p, _)| p);
    let web = WebConfig {
        listen_address: src.required("web.listen-address", parse_listen_address)?,
        telemetry_path: src.required("web.telemetry-path", parse_telemetry_path)?,
        config_file: src.path("web.config.file")?.map(|(p, _)| p),
    };
    let log = LogConfig {
        level: src.required("log.level", parse_log_level)?,
        format: src.required("log.format", parse_log_format)?,
    };
    // Credentials last: a bad value elsewhere is named even when the login is missing too.
    let credentials = if demo {
        // main swaps in the in-process simulator's URL and credentials.
        Credentials::Password {
            username: "demo".to_string(),
            password: Secret::new("demo"),
        }
    } else {
        credentials(&src)?
    };
    let mut client = ClientConfig::new(url, credentials);
    client.platform_sd = platform_sd;
    client.query = query;
    client.project_ids = project_ids;
    client.max_requests_per_second = max_requests_per_second;
    client.timeout = timeout;

    Ok(Config {
        client,
        demo,
        poll,
        metrics,
        state_file,
        web,
        log,
    })
}

/// Rank of a place in the precedence order, to weigh `IADVIZE_PASSWORD` against
/// `--iadvize.password-file` from wherever that came.
fn rank(place: &Place) -> u8 {
    match place {
        Place::Flag(_) => 3,
        Place::Env { .. } => 2,
        Place::File { .. } => 1,
        Place::Default(_) => 0,
    }
}

fn credentials(src: &Sources) -> Result<Credentials, ConfigError> {
    let token_file = src.path("iadvize.token-file")?;
    let username = src.optional("iadvize.username", parse_non_empty)?;
    let password_file = src.path("iadvize.password-file")?;
    let password_env = src.env_value(PASSWORD_ENV);
    let password_env_place = Place::Env {
        var: PASSWORD_ENV.to_string(),
        flag: "iadvize.password-file",
    };

    if let Some((token_file, token_place)) = token_file {
        let other = match (&username, &password_file, &password_env) {
            (Some((_, place)), _, _) | (None, Some((_, place)), _) => Some(place.clone()),
            (None, None, Some(_)) => Some(password_env_place),
            (None, None, None) => None,
        };
        return match other {
            Some(other) => Err(ConfigError::TokenAndLogin {
                token: token_place,
                other,
            }),
            None => Ok(Credentials::TokenFile(token_file)),
        };
    }

    let password = match (password_file, password_env) {
        (Some((_, place)), Some(_)) if rank(&place) == rank(&password_env_place) => {
            return Err(ConfigError::TwoPasswords { place });
        }
        (Some((path, place)), Some(password)) => {
            if rank(&place) > rank(&password_env_place) {
                Some((read_password_file(&path, &place)?, place))
            } else {
                Some((Secret::new(password), password_env_place))
            }
        }
        (Some((path, place)), None) => Some((read_password_file(&path, &place)?, place)),
        (None, Some(password)) => Some((Secret::new(password), password_env_place)),
        (None, None) => None,
    };

    match (username, password) {
        (Some((username, _)), Some((password, _))) => {
            Ok(Credentials::Password { username, password })
        }
        (Some((_, place)), None) => Err(ConfigError::MissingPassword { place }),
        (None, Some((_, place))) => Err(ConfigError::MissingUsername { place }),
        (None, None) => Err(ConfigError::MissingCredentials),
    }
}

fn read_password_file(path: &std::path::Path, place: &Place) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::PasswordFile {
        path: path.to_path_buf(),
        place: place.clone(),
        source,
    })?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(ConfigError::EmptyPasswordFile {
            path: path.to_path_buf(),
            place: place.clone(),
        });
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file under the temp dir, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> TempFile {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "iadvize-config-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Command, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |key: &str| env.get(key).cloned();
        parse(
            std::iter::once("iadvize-exporter").chain(args.iter().copied()),
            &lookup,
        )
    }

    fn run_config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match parse_with(args, env) {
            Ok(Command::Run(config)) => *config,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> ConfigError {
        match parse_with(args, env) {
            Err(e) => e,
            Ok(command) => panic!("expected an error, got {command:?}"),
        }
    }

    const TOKEN: &[&str] = &["--iadvize.token-file", "/run/secrets/token"];

    fn with_token<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all: Vec<&str> = TOKEN.to_vec();
        all.extend_from_slice(args);
        all
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_match_the_cli_table() {
        let c = run_config(TOKEN, &[]);
        assert_eq!(c.client.base_url.as_str(), "https://api.iadvize.com/");
        assert!(!c.client.platform_sd);
        assert_eq!(c.client.query, QueryChoice::Auto);
        assert_eq!(c.client.project_ids, None);
        assert_eq!(c.client.max_requests_per_second, 5.0);
        assert_eq!(c.client.timeout, secs(30));
        assert!(matches!(
            &c.client.credentials,
            Credentials::TokenFile(p) if p == &PathBuf::from("/run/secrets/token")
        ));
        assert_eq!(
            c.poll,
            PollConfig {
                interval: secs(60),
                overlap: secs(300),
                revisit_interval: secs(3600),
                revisit_horizon: secs(172_800),
            }
        );
        assert_eq!(c.metrics.window, secs(3600));
        assert_eq!(
            c.metrics.duration_buckets,
            vec![
                30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                86400.0
            ]
        );
        assert_eq!(
            c.metrics.amount_buckets,
            vec![
                10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0
            ]
        );
        assert_eq!(c.metrics.max_channels, 32);
        assert_eq!(c.metrics.max_currencies, 16);
        assert_eq!(c.state_file, None);
        assert_eq!(
            c.web,
            WebConfig {
                listen_address: "0.0.0.0:9834".parse().unwrap(),
                telemetry_path: "/metrics".to_string(),
                config_file: None,
            }
        );
        assert_eq!(
            c.log,
            LogConfig {
                level: LogLevel::Info,
                format: LogFormat::Logfmt,
            }
        );
        assert!(!c.demo);
    }

    #[test]
    fn every_flag_is_parsed() {
        let pw = TempFile::new("pw\n");
        let c = run_config(
            &[
                "--iadvize.url",
                "http://localhost:8080/base/",
                "--iadvize.platform",
                "sd",
                "--iadvize.username",
                "ops@example.com",
                "--iadvize.password-file",
                pw.path(),
                "--iadvize.project-ids",
                "12, 34,56",
                "--iadvize.query",
                "closedConversations",
                "--iadvize.max-requests-per-second",
                "2.5",
                "--iadvize.timeout",
                "1m30s",
                "--poll.interval",
                "500ms",
                "--poll.overlap",
                "0s",
                "--poll.revisit-interval",
                "2h",
                "--poll.revisit-horizon",
                "0s",
                "--metrics.window",
                "15m",
                "--metrics.duration-buckets",
                "1,2.5,10",
                // A value starting with `-` needs the `=` form, as with any clap flag.
                "--metrics.amount-buckets=-5,0,5",
                "--metrics.max-channels",
                "3",
                "--metrics.max-currencies",
                "4",
                "--state.file",
                "/var/lib/x/state.json",
                "--web.listen-address",
                "127.0.0.1:9100",
                "--web.telemetry-path",
                "/prom",
                "--web.config.file",
                "/etc/web.yml",
                "--log.level",
                "debug",
                "--log.format",
                "json",
            ],
            &[],
        );
        assert_eq!(c.client.base_url.as_str(), "http://localhost:8080/base");
        assert!(c.client.platform_sd);
        assert_eq!(
            c.client.query,
            QueryChoice::Fixed(QueryShape::ClosedConversations)
        );
        assert_eq!(c.client.project_ids, Some(vec![12, 34, 56]));
        assert_eq!(c.client.max_requests_per_second, 2.5);
        assert_eq!(c.client.timeout, secs(90));
        match &c.client.credentials {
            Credentials::Password { username, password } => {
                assert_eq!(username, "ops@example.com");
                assert_eq!(password.expose(), "pw");
            }
            other => panic!("expected a password login, got {other:?}"),
        }
        assert_eq!(
            c.poll,
            PollConfig {
                interval: Duration::from_millis(500),
                overlap: Duration::ZERO,
                revisit_interval: secs(7200),
                revisit_horizon: Duration::ZERO,
            }
        );
        assert_eq!(
            c.metrics,
            MetricsConfig {
                window: secs(900),
                duration_buckets: vec![1.0, 2.5, 10.0],
                amount_buckets: vec![-5.0, 0.0, 5.0],
                max_channels: 3,
                max_currencies: 4,
            }
        );
        assert_eq!(c.state_file, Some(PathBuf::from("/var/lib/x/state.json")));
        assert_eq!(
            c.web,
            WebConfig {
                listen_address: "127.0.0.1:9100".parse().unwrap(),
                telemetry_path: "/prom".to_string(),
                config_file: Some(PathBuf::from("/etc/web.yml")),
            }
        );
        assert_eq!(
            c.log,
            LogConfig {
                level: LogLevel::Debug,
                format: LogFormat::Json,
            }
        );
    }

    #[test]
    fn query_and_platform_values() {
        let c = run_config(
            &with_token(&["--iadvize.query", "searchClosedConversations"]),
            &[],
        );
        assert_eq!(
            c.client.query,
            QueryChoice::Fixed(QueryShape::SearchClosedConversations)
        );
        let c = run_config(&with_token(&["--iadvize.platform", "ha"]), &[]);
        assert!(!c.client.platform_sd);
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = TempFile::new(
            "poll.interval: 10s\n\
             iadvize.url: https://file.example\n\
             metrics.duration-buckets: [1, 2]\n\
             metrics.max-channels: 7\n\
             log.level: warn\n\
             demo: true\n",
        );
        let with_file = |args: &[&str], env: &[(&str, &str)]| {
            let mut all = vec!["--config.file", file.path()];
            all.extend_from_slice(args);
            run_config(&all, env)
        };
        let env = [
            ("IADVIZE_POLL_INTERVAL", "20s"),
            ("IADVIZE_IADVIZE_URL", "https://env.example"),
            ("IADVIZE_METRICS_DURATION_BUCKETS", "3,4"),
            ("IADVIZE_METRICS_MAX_CHANNELS", "8"),
            ("IADVIZE_LOG_LEVEL", "error"),
            ("IADVIZE_DEMO", "false"),
            ("IADVIZE_IADVIZE_TOKEN_FILE", "/t"),
        ];
        let flags = [
            "--poll.interval",
            "30s",
            "--iadvize.url",
            "https://flag.example",
            "--metrics.duration-buckets",
            "5,6",
            "--metrics.max-channels",
            "9",
            "--log.level",
            "trace",
            "--demo",
        ];

        let c = with_file(&flags, &env);
        assert_eq!(c.poll.interval, secs(30));
        assert_eq!(c.client.base_url.as_str(), "https://flag.example/");
        assert_eq!(c.metrics.duration_buckets, vec![5.0, 6.0]);
        assert_eq!(c.metrics.max_channels, 9);
        assert_eq!(c.log.level, LogLevel::Trace);
        assert!(c.demo);

        let c = with_file(&[], &env);
        assert_eq!(c.poll.interval, secs(20));
        assert_eq!(c.client.base_url.as_str(), "https://env.example/");
        assert_eq!(c.metrics.duration_buckets, vec![3.0, 4.0]);
        assert_eq!(c.metrics.max_channels, 8);
        assert_eq!(c.log.level, LogLevel::Error);
        assert!(!c.demo);

        let c = with_file(&[], &[]);
        assert_eq!(c.poll.interval, secs(10));
        assert_eq!(c.client.base_url.as_str(), "https://file.example/");
        assert_eq!(c.metrics.duration_buckets, vec![1.0, 2.0]);
        assert_eq!(c.metrics.max_channels, 7);
        assert_eq!(c.log.level, LogLevel::Warn);
        assert!(c.demo);

        let c = run_config(&["--demo"], &[]);
        assert_eq!(c.poll.interval, secs(60));
        assert_eq!(c.client.base_url.as_str(), "https://api.iadvize.com/");
        assert_eq!(c.metrics.max_channels, 32);
        assert_eq!(c.log.level, LogLevel::Info);
    }

    #[test]
    fn config_file_from_the_environment() {
        let file = TempFile::new("poll:\n  interval: 42s\n");
        let c = run_config(TOKEN, &[("IADVIZE_CONFIG_FILE", file.path())]);
        assert_eq!(c.poll.interval, secs(42));
    }

    #[test]
    fn empty_environment_variable_counts_as_unset() {
        let c = run_config(TOKEN, &[("IADVIZE_POLL_INTERVAL", "")]);
        assert_eq!(c.poll.interval, secs(60));
    }

    #[test]
    fn nested_and_dotted_yaml_mix() {
        let file = TempFile::new(
            "# comment\n\
             iadvize:\n  \
               url: http://127.0.0.1:9835\n  \
               project-ids: [7, 8]\n  \
               token-file: /tok\n\
             iadvize.platform: sd\n\
             poll.revisit-horizon: 0s\n\
             web:\n  \
               config:\n    \
                 file: /w.yml\n  \
               listen-address: ':9999'\n\
             web.telemetry-path: /m\n\
             metrics:\n  \
               amount-buckets: 1.5,3\n\
             state:\n\
             log: {format: json}\n",
        );
        let c = run_config(&["--config.file", file.path()], &[]);
        assert_eq!(c.client.base_url.as_str(), "http://127.0.0.1:9835/");
        assert_eq!(c.client.project_ids, Some(vec![7, 8]));
        assert!(c.client.platform_sd);
        assert!(matches!(
            &c.client.credentials,
            Credentials::TokenFile(p) if p == &PathBuf::from("/tok")
        ));
        assert_eq!(c.poll.revisit_horizon, Duration::ZERO);
        assert_eq!(c.web.config_file, Some(PathBuf::from("/w.yml")));
        assert_eq!(
            c.web.listen_address,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9999)
        );
        assert_eq!(c.web.telemetry_path, "/m");
        assert_eq!(c.metrics.amount_buckets, vec![1.5, 3.0]);
        assert_eq!(c.state_file, None);
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn empty_config_file_sets_nothing() {
        let file = TempFile::new("# nothing here\n");
        let c = run_config(&with_token(&["--config.file", file.path()]), &[]);
        assert_eq!(c.poll.interval, secs(60));
    }

    fn file_error(yaml: &str) -> (ConfigError, TempFile) {
        let file = TempFile::new(yaml);
        let err = error(&with_token(&["--config.file", file.path()]), &[]);
        (err, file)
    }

    #[test]
    fn unknown_yaml_key_names_file_key_and_line() {
        let (err, file) = file_error("poll.interval: 10s\n\npoll.intervall: 20s\n");
        assert_eq!(err.exit_code(), 2);
        match &err {
            ConfigError::FileKey {
                file: f, key, line, ..
            } => {
                assert_eq!(f, &file.0);
                assert_eq!(key, "poll.intervall");
                assert_eq!(*line, Some(3));
            }
            other => panic!("expected FileKey, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(file.path()), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("poll.intervall"), "{message}");
    }

    #[test]
    fn unknown_nested_yaml_key_names_full_key_and_line() {
        let (err, _file) = file_error("iadvize:\n  url: https://x.example\n  urls: y\n");
        match err {
            ConfigError::FileKey { key, line, .. } => {
                assert_eq!(key, "iadvize.urls");
                assert_eq!(line, Some(3));
            }
            other => panic!("expected FileKey, got {other:?}"),
        }
    }

    #[test]
    fn bad_yaml_value_names_key_and_line() {
        let (err, _file) = file_error("log:\n  level: warn\npoll:\n  interval: soon\n");
        match &err {
            ConfigError::FileKey {
                key, line, problem, ..
            } => {
                assert_eq!(key, "poll.interval");
                assert_eq!(*line, Some(4));
                assert!(problem.contains("\"soon\""), "{problem}");
                assert!(problem.contains("30s"), "{problem}");
            }
            other => panic!("expected FileKey, got {other:?}"),
        }
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn yaml_list_refused_where_one_value_is_expected() {
        let (err, _file) = file_error("poll.interval: [10s]\n");
        assert!(
            matches!(&err, ConfigError::FileKey { key, line: Some(1), .. } if key == "poll.interval"),
            "{err:?}"
        );
    }

    #[test]
    fn password_in_yaml_is_refused() {
        let (err, _file) = file_error("iadvize:\n  username: a@b.c\n  password: hunter2\n");
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::FileKey { key, line: Some(3), .. } if key == "iadvize.password"),
            "{err:?}"
        );
        assert!(message.contains("iadvize.password-file"), "{message}");
        assert!(message.contains("IADVIZE_PASSWORD"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn same_setting_twice_in_yaml_is_refused() {
        let (err, _file) = file_error("poll.interval: 10s\npoll:\n  interval: 20s\n");
        assert!(
            matches!(&err, ConfigError::FileKey { key, line: Some(3), .. } if key == "poll.interval"),
            "{err:?}"
        );
    }

    #[test]
    fn config_file_inside_config_file_is_refused() {
        let (err, _file) = file_error("config.file: /other.yml\n");
        assert!(
            matches!(&err, ConfigError::FileKey { key, .. } if key == "config.file"),
            "{err:?}"
        );
    }

    #[test]
    fn unreadable_or_broken_file_names_the_file() {
        let err = error(
            &with_token(&["--config.file", "/nonexistent/iadvize.yml"]),
            &[],
        );
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/iadvize.yml"));
        assert_eq!(err.exit_code(), 2);

        let (err, file) = file_error("poll:\n  interval: \"10s\n");
        assert!(matches!(err, ConfigError::ParseFile { .. }), "{err:?}");
        assert!(err.to_string().contains(file.path()));

        let (err, file) = file_error("- just\n- a list\n");
        assert!(matches!(err, ConfigError::ParseFile { .. }), "{err:?}");
        assert!(err.to_string().contains(file.path()));
    }

    fn assert_flag_error(args: &[&str], flag: &'static str) {
        let err = error(&with_token(args), &[]);
        assert_eq!(err.exit_code(), 2, "{err}");
        match &err {
            ConfigError::Invalid { place, .. } => assert_eq!(place, &Place::Flag(flag)),
            other => panic!("expected Invalid for --{flag}, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(&format!("--{flag}")), "{message}");
        assert!(message.contains("expected"), "{message}");
    }

    #[test]
    fn bad_values_name_the_flag() {
        assert_flag_error(&["--poll.interval", "5"], "poll.interval");
        assert_flag_error(&["--poll.interval", "fast"], "poll.interval");
        assert_flag_error(&["--poll.interval", "0s"], "poll.interval");
        assert_flag_error(&["--metrics.window", "0s"], "metrics.window");
        assert_flag_error(&["--iadvize.timeout", "0s"], "iadvize.timeout");
        assert_flag_error(&["--poll.revisit-interval", "0m"], "poll.revisit-interval");
        assert_flag_error(&["--iadvize.url", "ftp://x.example"], "iadvize.url");
        assert_flag_error(&["--iadvize.url", "not a url"], "iadvize.url");
        assert_flag_error(&["--iadvize.url", "https://u:p@x.example"], "iadvize.url");
        assert_flag_error(&["--iadvize.platform", "eu"], "iadvize.platform");
        assert_flag_error(&["--iadvize.query", "closed"], "iadvize.query");
        assert_flag_error(&["--iadvize.project-ids", "1,x"], "iadvize.project-ids");
        assert_flag_error(&["--iadvize.project-ids", "0"], "iadvize.project-ids");
        assert_flag_error(&["--iadvize.project-ids=-3"], "iadvize.project-ids");
        assert_flag_error(&["--iadvize.project-ids", "1,,2"], "iadvize.project-ids");
        assert_flag_error(
            &["--iadvize.max-requests-per-second", "0"],
            "iadvize.max-requests-per-second",
        );
        assert_flag_error(
            &["--iadvize.max-requests-per-second", "inf"],
            "iadvize.max-requests-per-second",
        );
        assert_flag_error(
            &["--metrics.duration-buckets", "30,60,60"],
            "metrics.duration-buckets",
        );
        assert_flag_error(
            &["--metrics.duration-buckets", "60,30"],
            "metrics.duration-buckets",
        );
        assert_flag_error(
            &["--metrics.duration-buckets", ""],
            "metrics.duration-buckets",
        );
        assert_flag_error(
            &["--metrics.amount-buckets", "1,inf"],
            "metrics.amount-buckets",
        );
        assert_flag_error(
            &["--metrics.amount-buckets", "1,NaN"],
            "metrics.amount-buckets",
        );
        assert_flag_error(&["--metrics.max-channels", "0"], "metrics.max-channels");
        assert_flag_error(&["--metrics.max-currencies=-1"], "metrics.max-currencies");
        assert_flag_error(&["--web.listen-address", "9834"], "web.listen-address");
        assert_flag_error(&["--web.listen-address", ":99999"], "web.listen-address");
        assert_flag_error(&["--web.listen-address", "::1:80"], "web.listen-address");
        assert_flag_error(&["--web.telemetry-path", "metrics"], "web.telemetry-path");
        assert_flag_error(&["--web.telemetry-path", "/"], "web.telemetry-path");
        assert_flag_error(
            &["--web.telemetry-path", "/-/healthy"],
            "web.telemetry-path",
        );
        assert_flag_error(&["--web.telemetry-path", "/-/ready"], "web.telemetry-path");
        assert_flag_error(&["--log.level", "verbose"], "log.level");
        assert_flag_error(&["--log.format", "text"], "log.format");
        assert_flag_error(&["--state.file", ""], "state.file");
    }

    #[test]
    fn bad_environment_value_names_the_variable_and_the_flag() {
        let err = error(TOKEN, &[("IADVIZE_POLL_OVERLAP", "a bit")]);
        let message = err.to_string();
        assert!(message.contains("IADVIZE_POLL_OVERLAP"), "{message}");
        assert!(message.contains("--poll.overlap"), "{message}");
        assert_eq!(err.exit_code(), 2);
        let err = error(&[], &[("IADVIZE_DEMO", "maybe")]);
        assert!(err.to_string().contains("IADVIZE_DEMO"), "{err}");
    }

    #[test]
    fn listen_addresses() {
        let listen = |addr: &str| {
            run_config(&with_token(&["--web.listen-address", addr]), &[])
                .web
                .listen_address
        };
        assert_eq!(
            listen(":9834"),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9834)
        );
        assert_eq!(
            listen("localhost:9100"),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9100)
        );
        assert_eq!(
            listen("[::1]:9000"),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9000)
        );
        assert_eq!(
            listen("0.0.0.0:0"),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        );
    }

    #[test]
    fn url_trailing_slash_is_stripped() {
        let url = |u: &str| {
            run_config(&with_token(&["--iadvize.url", u]), &[])
                .client
                .base_url
                .to_string()
        };
        assert_eq!(url("https://x.example/api/"), "https://x.example/api");
        assert_eq!(url("https://x.example/api//"), "https://x.example/api");
        assert_eq!(url("https://x.example/"), "https://x.example/");
        assert_eq!(url("http://10.0.0.1:8080"), "http://10.0.0.1:8080/");
    }

    #[test]
    fn project_ids_all_reads_every_project() {
        let c = run_config(&with_token(&["--iadvize.project-ids", "all"]), &[]);
        assert_eq!(c.client.project_ids, None);
        let c = run_config(&with_token(&["--iadvize.project-ids", "5,3,5"]), &[]);
        assert_eq!(c.client.project_ids, Some(vec![5, 3]));
    }

    #[test]
    fn check_takes_flags_before_or_after() {
        let before = parse_with(&["--poll.interval", "5s", "check", "--demo"], &[]);
        match before {
            Ok(Command::Check(c)) => {
                assert_eq!(c.poll.interval, secs(5));
                assert!(c.demo);
            }
            other => panic!("expected Check, got {other:?}"),
        }
        let after = parse_with(
            &[
                "--poll.interval",
                "5s",
                "check",
                "--poll.interval",
                "7s",
                "--demo",
            ],
            &[],
        );
        match after {
            Ok(Command::Check(c)) => assert_eq!(c.poll.interval, secs(7)),
            other => panic!("expected Check, got {other:?}"),
        }
        let err = error(&["check"], &[]);
        assert!(matches!(err, ConfigError::MissingCredentials), "{err:?}");
    }

    #[test]
    fn simulate_takes_its_own_args() {
        match parse_with(&["simulate", "--listen", "127.0.0.1:1234"], &[]) {
            Ok(Command::Simulate(sim)) => {
                assert_eq!(sim.listen, "127.0.0.1:1234".parse::<SocketAddr>().unwrap())
            }
            other => panic!("expected Simulate, got {other:?}"),
        }
        // Environment settings of the exporter do not get in the way.
        match parse_with(&["simulate"], &[("IADVIZE_POLL_INTERVAL", "nonsense")]) {
            Ok(Command::Simulate(sim)) => {
                assert_eq!(sim.listen, "127.0.0.1:9835".parse::<SocketAddr>().unwrap())
            }
            other => panic!("expected Simulate, got {other:?}"),
        }
        let err = error(&["--log.level", "debug", "simulate"], &[]);
        assert!(
            matches!(&err, ConfigError::NotForSimulate { place } if *place == Place::Flag("log.level")),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
        let err = error(&["simulate", "--poll.interval", "5s"], &[]);
        assert!(matches!(err, ConfigError::Clap(_)), "{err:?}");
        assert_eq!(err.exit_code(), 2);
    }

    fn password_of(config: &Config) -> (String, String) {
        match &config.client.credentials {
            Credentials::Password { username, password } => {
                (username.clone(), password.expose().to_string())
            }
            other => panic!("expected a password login, got {other:?}"),
        }
    }

    #[test]
    fn password_from_file_drops_trailing_newline_only() {
        let file = TempFile::new(" s3 cret \r\n");
        let c = run_config(
            &[
                "--iadvize.username",
                "u@x.example",
                "--iadvize.password-file",
                file.path(),
            ],
            &[],
        );
        assert_eq!(
            password_of(&c),
            ("u@x.example".to_string(), " s3 cret ".to_string())
        );
    }

    #[test]
    fn password_from_environment() {
        let c = run_config(
            &[],
            &[
                ("IADVIZE_IADVIZE_USERNAME", "u@x.example"),
                ("IADVIZE_PASSWORD", "from-env"),
            ],
        );
        assert_eq!(
            password_of(&c),
            ("u@x.example".to_string(), "from-env".to_string())
        );
    }

    #[test]
    fn password_file_flag_beats_password_env_which_beats_file_setting() {
        let pw = TempFile::new("from-file\n");
        let yaml = TempFile::new(&format!(
            "iadvize:\n  username: u@x.example\n  password-file: {}\n",
            pw.path()
        ));
        let env = [("IADVIZE_PASSWORD", "from-env")];
        let c = run_config(&["--config.file", yaml.path()], &env);
        assert_eq!(password_of(&c).1, "from-env");
        let c = run_config(&["--config.file", yaml.path()], &[]);
        assert_eq!(password_of(&c).1, "from-file");
        let c = run_config(
            &[
                "--config.file",
                yaml.path(),
                "--iadvize.password-file",
                pw.path(),
            ],
            &env,
        );
        assert_eq!(password_of(&c).1, "from-file");
        let err = error(
            &["--iadvize.username", "u"],
            &[
                ("IADVIZE_PASSWORD", "from-env"),
                ("IADVIZE_IADVIZE_PASSWORD_FILE", pw.path()),
            ],
        );
        assert!(matches!(err, ConfigError::TwoPasswords { .. }), "{err:?}");
    }

    #[test]
    fn missing_or_unusable_credentials() {
        let err = error(&[], &[]);
        assert!(matches!(err, ConfigError::MissingCredentials), "{err:?}");
        assert!(err.to_string().contains("--iadvize.username"));
        assert!(err.to_string().contains("--iadvize.password-file"));
        assert_eq!(err.exit_code(), 2);

        let err = error(&["--iadvize.username", "u"], &[]);
        assert!(
            matches!(err, ConfigError::MissingPassword { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("--iadvize.password-file"));

        let err = error(&[], &[("IADVIZE_PASSWORD", "pw")]);
        assert!(
            matches!(err, ConfigError::MissingUsername { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("--iadvize.username"));

        let err = error(
            &[
                "--iadvize.username",
                "u",
                "--iadvize.password-file",
                "/nonexistent/pw",
            ],
            &[],
        );
        assert!(matches!(err, ConfigError::PasswordFile { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/pw"));

        let empty = TempFile::new("\n");
        let err = error(
            &[
                "--iadvize.username",
                "u",
                "--iadvize.password-file",
                empty.path(),
            ],
            &[],
        );
        assert!(
            matches!(err, ConfigError::EmptyPasswordFile { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn token_file_and_login_together_are_refused() {
        let err = error(&with_token(&["--iadvize.username", "u"]), &[]);
        match &err {
            ConfigError::TokenAndLogin { other, .. } => {
                assert_eq!(other, &Place::Flag("iadvize.username"))
            }
            other => panic!("expected TokenAndLogin, got {other:?}"),
        }
        assert!(err.to_string().contains("drop --iadvize.username"), "{err}");
        let err = error(TOKEN, &[("IADVIZE_PASSWORD", "pw")]);
        assert!(err.to_string().contains("drop IADVIZE_PASSWORD"), "{err}");
    }

    #[test]
    fn demo_needs_no_credentials() {
        let c = run_config(&["--demo"], &[]);
        assert!(c.demo);
        assert!(matches!(c.client.credentials, Credentials::Password { .. }));
        let c = run_config(&[], &[("IADVIZE_DEMO", "true")]);
        assert!(c.demo);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let file = TempFile::new("hunter2-file\n");
        let c = run_config(
            &[
                "--iadvize.username",
                "u",
                "--iadvize.password-file",
                file.path(),
            ],
            &[],
        );
        assert_eq!(password_of(&c).1, "hunter2-file");
        assert!(!format!("{c:?}").contains("hunter2"));
        let command = parse_with(
            &["check", "--iadvize.username", "u"],
            &[("IADVIZE_PASSWORD", "hunter2-env")],
        )
        .unwrap();
        assert!(!format!("{command:?}").contains("hunter2"));
        assert!(!format!("{command:#?}").contains("hunter2"));
    }

    #[test]
    fn help_and_version_exit_zero() {
        let err = error(&["--help"], &[]);
        assert_eq!(err.exit_code(), 0);
        let help = err.to_string();
        assert!(
            help.contains("[default: 60s] [env: IADVIZE_POLL_INTERVAL]"),
            "{help}"
        );
        assert!(help.contains("--iadvize.url"), "{help}");
        assert!(help.contains("[env: IADVIZE_CONFIG_FILE]"), "{help}");
        assert!(help.contains("IADVIZE_PASSWORD"), "{help}");
        assert!(help.contains("check"), "{help}");
        assert!(help.contains("simulate"), "{help}");
        assert_eq!(help.matches("Options:").count(), 1, "{help}");

        let err = error(&["--version"], &[]);
        assert_eq!(err.exit_code(), 0);
        assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")));

        let err = error(&["check", "--help"], &[]);
        assert_eq!(err.exit_code(), 0);
        assert!(err.to_string().contains("--web.listen-address"));

        let err = error(&["--no-such-flag"], &[]);
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--no-such-flag"));
    }

    #[test]
    fn every_flag_is_documented_with_its_env_var() {
        let help = error(&["--help"], &[]).to_string();
        for flag in FLAGS {
            assert!(help.contains(&format!("--{}", flag.name)), "{}", flag.name);
            assert!(help.contains(&env_var_name(flag.name)), "{}", flag.name);
        }
        assert_eq!(env_var_name("iadvize.url"), "IADVIZE_IADVIZE_URL");
        assert_eq!(
            env_var_name("iadvize.max-requests-per-second"),
            "IADVIZE_IADVIZE_MAX_REQUESTS_PER_SECOND"
        );
        assert_eq!(env_var_name("demo"), "IADVIZE_DEMO");
        assert_eq!(env_var_name("web.config.file"), "IADVIZE_WEB_CONFIG_FILE");
    }
}
