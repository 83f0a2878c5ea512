//! The command lines the tests start the exporter with, and the configuration they give.

use iadvize_exporter::config::{self, Command, ConfigError};

/// How often the exporter polls and revisits, and how far back: far faster than in
/// production, so that a test sees many passes within seconds. `None` keeps the
/// exporter's default.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub interval: &'static str,
    pub overlap: Option<&'static str>,
    pub revisit_interval: &'static str,
    pub revisit_horizon: Option<&'static str>,
}

impl Polling {
    /// A fresh pass every 250 ms, a revisit every second over the last hour.
    pub const FAST: Polling = Polling {
        interval: "250ms",
        overlap: Some("2s"),
        revisit_interval: "1s",
        revisit_horizon: Some("1h"),
    };

    /// The simulated account at `url` with the demo user, a request budget the simulator
    /// never makes the exporter wait for, this polling, then `extra`.
    pub fn flags(&self, url: &str, extra: &[&str]) -> Vec<String> {
        let mut flags = vec![
            "--iadvize.url",
            url,
            "--iadvize.username",
            "demo@example.com",
            "--iadvize.max-requests-per-second",
            "500",
            "--poll.interval",
            self.interval,
        ];
        if let Some(overlap) = self.overlap {
            flags.extend(["--poll.overlap", overlap]);
        }
        flags.extend(["--poll.revisit-interval", self.revisit_interval]);
        if let Some(horizon) = self.revisit_horizon {
            flags.extend(["--poll.revisit-horizon", horizon]);
        }
        flags.extend_from_slice(extra);
        flags.into_iter().map(str::to_owned).collect()
    }
}

/// [`Polling::FAST`] flags for the account at `url`, then `extra`.
pub fn fast_poll_flags(url: &str, extra: &[&str]) -> Vec<String> {
    Polling::FAST.flags(url, extra)
}

/// The password of the simulator's demo user, as the exporter reads it.
pub const DEMO_PASSWORD: [(&str, &str); 1] = [("IADVIZE_PASSWORD", "demo")];

/// What the exporter makes of these flags (argv without the program name) and this
/// environment, which stands in for the process's own.
pub fn parse_flags<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
) -> Result<Command, ConfigError> {
    let mut argv = vec!["iadvize-exporter".to_owned()];
    argv.extend(args.iter().map(|a| a.as_ref().to_owned()));
    let env: std::collections::BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config::parse(argv, &|name| env.get(name).cloned())
}
