//! The flag table: each setting's name, environment variable, default, help and kind.

use clap::{Arg, ArgAction};

use super::values::{
    parse_bool, parse_buckets, parse_count, parse_duration, parse_duration_or_zero,
    parse_listen_address, parse_log_format, parse_log_level, parse_non_empty, parse_platform,
    parse_project_ids, parse_query, parse_rate, parse_tags, parse_telemetry_path, parse_url,
};

/// How a flag's value is checked; also decides whether the config file may give a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
    /// `--metrics.tags`: names or `all`; may be empty.
    Tags,
    ListenAddress,
    TelemetryPath,
    LogLevel,
    LogFormat,
}

impl Kind {
    pub(super) fn takes_list(self) -> bool {
        matches!(self, Kind::ProjectIds | Kind::Buckets | Kind::Tags)
    }

    /// Checks a value without keeping it, so config file values can be refused with the
    /// file's line before any merging happens.
    pub(super) fn check(self, value: &str) -> Result<(), String> {
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
            Kind::Tags => parse_tags(value).map(drop),
            Kind::ListenAddress => parse_listen_address(value).map(drop),
            Kind::TelemetryPath => parse_telemetry_path(value).map(drop),
            Kind::LogLevel => parse_log_level(value).map(drop),
            Kind::LogFormat => parse_log_format(value).map(drop),
        }
    }
}

pub(super) struct Flag {
    /// The flag without `--`, also the config file key.
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) value_name: &'static str,
    pub(super) default: Option<&'static str>,
    /// `None` keeps the flag among the general options.
    pub(super) heading: Option<&'static str>,
    pub(super) help: &'static str,
}

pub(super) const CONFIG_FILE: &str = "config.file";
/// The password itself may only come from the environment, never a flag or the file.
pub(super) const PASSWORD_ENV: &str = "IADVIZE_PASSWORD";

const DEFAULT_URL: &str = "https://api.iadvize.com";
// The benches need the default bucket lists too: they take them through
// `MetricsConfig::default`, which reads them from this table.
const DEFAULT_DURATION_BUCKETS: &str =
    "30,60,120,300,600,900,1800,3600,7200,14400,28800,86400,259200,604800,1209600";
const DEFAULT_AMOUNT_BUCKETS: &str = "10,25,50,100,250,500,1000,2500,5000,10000";

const IADVIZE: &str = "iAdvize";
const POLL: &str = "Polling";
const METRICS: &str = "Metrics";
const SERVING: &str = "State and web";
const LOGGING: &str = "Logging";

pub(super) const FLAGS: &[Flag] = &[
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
        name: "iadvize.max-retry-after",
        kind: Kind::Duration,
        value_name: "DURATION",
        default: Some("5m"),
        heading: Some(IADVIZE),
        help: "The longest Retry-After honoured; a longer one waits this long",
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
        name: "metrics.tags",
        kind: Kind::Tags,
        value_name: "NAME,...|all",
        default: None,
        heading: Some(METRICS),
        help: "Tags to count, matched without regard to case, or all; empty turns tag metrics \
               off. With --demo and no value, all",
    },
    Flag {
        name: "metrics.max-tags",
        kind: Kind::Count,
        value_name: "N",
        default: Some("50"),
        heading: Some(METRICS),
        help: "With --metrics.tags all, most distinct tag label values; the rest are counted \
               as other",
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

pub(super) fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The default of flag `name`, parsed, for code that has no command line to read: it
/// keeps the table the one place where a default is written.
///
/// Panics if `name` has no default or its default does not parse, a mistake in the table
/// that `MetricsConfig::default`'s test catches.
pub(super) fn default_of<T>(name: &str, parse: fn(&str) -> Result<T, String>) -> T {
    let default = find_flag(name)
        .and_then(|flag| flag.default)
        .unwrap_or_else(|| panic!("--{name} has no default in the flag table"));
    parse(default).unwrap_or_else(|e| panic!("the default of --{name} is refused: {e}"))
}

/// `--poll.interval` <- `IADVIZE_POLL_INTERVAL`.
pub(super) fn env_var_name(flag: &str) -> String {
    format!("IADVIZE_{}", flag.to_uppercase().replace(['.', '-'], "_"))
}

pub(super) fn flag_args() -> Vec<Arg> {
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
