//! Flags + environment + YAML file -> one validated [`Config`].
//!
//! Precedence: a flag beats the environment (`IADVIZE_` + flag name), which beats the
//! `--config.file`, which beats the built-in default.

mod backfill;
mod credentials;
mod error;
mod file;
mod flags;
mod simulate;
mod sources;
#[cfg(test)]
mod tests;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, FromArgMatches};

use crate::iadvize::{ClientConfig, Credentials};
use crate::labels::TagFilter;
use crate::secret::Secret;

pub use backfill::{Backfill, BackfillFlags, DEFAULT_STEP, Output};
pub use error::{ConfigError, Place};
pub use simulate::{DEMO_PASSWORD, DEMO_USERNAME, Offer, SimArgs};
pub use values::{LogFormat, LogLevel};

use flags::{CONFIG_FILE, FLAGS, default_of, flag_args};
use sources::{Sources, given_on_command_line};
use values::{
    parse_bool, parse_buckets, parse_count, parse_duration, parse_duration_or_zero,
    parse_listen_address, parse_log_format, parse_log_level, parse_platform, parse_project_ids,
    parse_query, parse_rate, parse_tags, parse_telemetry_path, parse_url,
};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the exporter.
    Run(Box<Config>),
    /// `check`: log in, check the schema, read one page, report.
    Check(Box<Config>),
    /// `simulate --listen ADDR`: serve the simulated API alone.
    Simulate(Box<SimArgs>),
    /// `backfill --from TIME ...`: write past months as history.
    Backfill(Box<Config>, Box<Backfill>),
}

/// The validated configuration of the exporter.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the iAdvize client needs. With `--demo`, the URL only becomes known
    /// once the simulated account listens: see [`Config::use_demo_account`].
    pub client: ClientConfig,
    /// `--demo`: run against the built-in simulated account.
    pub demo: bool,
    /// With `--demo`, the real-account settings that were given and that the demo sets
    /// aside: said at start-up, so that nobody believes their account is being read.
    pub demo_ignores: Vec<&'static str>,
    pub poll: PollConfig,
    pub metrics: MetricsConfig,
    /// `--state.file`.
    pub state_file: Option<PathBuf>,
    pub web: WebConfig,
    pub log: LogConfig,
    /// Found while reading the configuration, before logging was set up: see
    /// [`Config::log_warnings`].
    pub warnings: Vec<String>,
}

impl Config {
    /// Logs the warnings found while reading the configuration; call once logging is set up.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }

    /// `--demo`, once the simulated account listens at `base_url`: everything `--demo`
    /// changes besides the login, which [`parse`] already set to the demo account's.
    pub fn use_demo_account(&mut self, base_url: url::Url) {
        self.client.base_url = base_url;
        // The pace protects iAdvize; the simulated account is local and reads its first
        // window faster this way.
        self.client.max_requests_per_second = self.client.max_requests_per_second.max(50.0);
        // Simulated time runs 60 times faster: poll often enough to watch it move.
        self.poll.interval = self.poll.interval.min(Duration::from_secs(5));
        self.poll.revisit_interval = self.poll.revisit_interval.min(Duration::from_secs(60));
    }
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
    /// `--metrics.tags`.
    pub tags: TagFilter,
    /// `--metrics.max-tags`.
    pub max_tags: usize,
}

/// The defaults of the flag table, for code without a command line (benches, tests).
impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window: default_of("metrics.window", parse_duration),
            duration_buckets: default_of("metrics.duration-buckets", parse_buckets),
            amount_buckets: default_of("metrics.amount-buckets", parse_buckets),
            max_channels: default_of("metrics.max-channels", parse_count),
            max_currencies: default_of("metrics.max-currencies", parse_count),
            tags: TagFilter::Off,
            max_tags: default_of("metrics.max-tags", parse_count),
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
        .subcommand(
            <BackfillFlags as clap::Args>::augment_args(clap::Command::new("backfill"))
                .about(
                    "Write the account's past closed conversations as OpenMetrics history for \
                     promtool tsdb create-blocks-from openmetrics, and a state file the \
                     exporter goes on from",
                )
                .args(flag_args()),
        )
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
        Some(("backfill", sub)) => {
            let config = build(&[sub, &matches], env)?;
            let backfill = BackfillFlags::from_arg_matches(sub)?
                .validate(chrono::Utc::now().timestamp_millis())?;
            Ok(Command::Backfill(Box::new(config), Box::new(backfill)))
        }
        _ => Ok(Command::Run(Box::new(build(&[&matches], env)?))),
    }
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

/// What `--demo` replaces by the simulated account's own.
const REAL_ACCOUNT_FLAGS: [&str; 6] = [
    "iadvize.url",
    "iadvize.platform",
    "iadvize.username",
    "iadvize.password-file",
    "iadvize.token-file",
    "iadvize.project-ids",
];

fn build(cli: &[&ArgMatches], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let src = Sources::new(cli, env)?;

    let demo = src.required("demo", parse_bool)?;
    let url = src.required("iadvize.url", parse_url)?;
    let platform_sd = src.required("iadvize.platform", parse_platform)?;
    let query = src.required("iadvize.query", parse_query)?;
    let project_ids = src.required("iadvize.project-ids", parse_project_ids)?;
    let max_requests_per_second = src.required("iadvize.max-requests-per-second", parse_rate)?;
    let timeout = src.required("iadvize.timeout", parse_duration)?;
    let max_retry_after = src.required("iadvize.max-retry-after", parse_duration)?;
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
        // Unset with --demo: every tag, so the demo shows them; set but empty: off.
        tags: match src.optional("metrics.tags", parse_tags)? {
            Some((tags, _)) => tags,
            None if demo => TagFilter::All,
            None => TagFilter::Off,
        },
        max_tags: src.required("metrics.max-tags", parse_count)?,
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
    let demo_ignores = if demo {
        let mut ignored: Vec<&'static str> = REAL_ACCOUNT_FLAGS
            .iter()
            .copied()
            .filter(|name| src.is_set(name))
            .collect();
        if src.env_value("IADVIZE_PASSWORD").is_some() {
            ignored.push("IADVIZE_PASSWORD");
        }
        ignored
    } else {
        Vec::new()
    };
    let mut warnings = Vec::new();
    // Credentials last: a bad value elsewhere is named even when the login is missing too.
    let credentials = if demo {
        Credentials::Password {
            username: DEMO_USERNAME.to_string(),
            password: Secret::new(DEMO_PASSWORD),
        }
    } else {
        credentials::credentials(&src, &mut warnings)?
    };
    let mut client = ClientConfig::new(url, credentials);
    client.platform_sd = platform_sd;
    client.query = query;
    client.project_ids = project_ids;
    client.tags = metrics.tags.is_on();
    client.max_requests_per_second = max_requests_per_second;
    client.timeout = timeout;
    client.max_retry_after = max_retry_after;
    // A poll that would sit out a Retry-After past its own interval fails instead, so
    // `iadvize_up` and the failure count say the exporter is held back. Never under one
    // request timeout: a poll already tolerates an answer that slow, and a short
    // Retry-After with a sub-second interval must not fail every poll it touches.
    client.max_wait = Some(poll.interval.max(timeout));

    Ok(Config {
        client,
        demo,
        demo_ignores,
        poll,
        metrics,
        state_file,
        web,
        log,
        warnings,
    })
}
