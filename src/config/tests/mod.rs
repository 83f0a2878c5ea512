//! Tests of the whole path, argv + environment + file -> [`Command`], one file per
//! module whose behaviour they pin; the helpers here are shared.

mod credentials;
mod file;
mod flags;
mod sources;
mod values;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::flags::{FLAGS, env_var_name};
use super::*;
use crate::iadvize::{QueryChoice, QueryShape};

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
            "--iadvize.max-retry-after",
            "2m",
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
            "--metrics.tags",
            " Livraison , VIP ",
            "--metrics.max-tags",
            "5",
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
    assert_eq!(c.client.max_retry_after, secs(120));
    // The 500 ms interval is under the 90 s timeout, which wins.
    assert_eq!(c.client.max_wait, Some(secs(90)));
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
            tags: TagFilter::List(vec!["livraison".into(), "vip".into()]),
            max_tags: 5,
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

#[test]
fn demo_needs_no_credentials() {
    let c = run_config(&["--demo"], &[]);
    assert!(c.demo);
    assert!(matches!(c.client.credentials, Credentials::Password { .. }));
    let c = run_config(&[], &[("IADVIZE_DEMO", "true")]);
    assert!(c.demo);
}

#[test]
fn demo_counts_every_tag_unless_told_otherwise() {
    assert_eq!(run_config(&["--demo"], &[]).metrics.tags, TagFilter::All);
    let listed = run_config(&["--demo", "--metrics.tags", "VIP"], &[]);
    assert_eq!(listed.metrics.tags, TagFilter::List(vec!["vip".into()]));
    // Set but empty: off, with --demo too.
    let off = run_config(&["--demo", "--metrics.tags", ""], &[]);
    assert_eq!(off.metrics.tags, TagFilter::Off);
    // Without --demo, tags are off by default.
    assert_eq!(run_config(TOKEN, &[]).metrics.tags, TagFilter::Off);
}

#[test]
fn demo_names_the_real_account_settings_it_sets_aside() {
    let c = run_config(&["--demo"], &[]);
    assert!(c.demo_ignores.is_empty());
    let c = run_config(
        &[
            "--demo",
            "--iadvize.username",
            "ops@example.com",
            "--iadvize.url",
            "https://api.example.com",
        ],
        &[("IADVIZE_PASSWORD", "s3cret")],
    );
    assert_eq!(
        c.demo_ignores,
        ["iadvize.url", "iadvize.username", "IADVIZE_PASSWORD"]
    );
    // Without --demo nothing is set aside.
    let c = run_config(
        &["--iadvize.username", "ops@example.com"],
        &[("IADVIZE_PASSWORD", "s3cret")],
    );
    assert!(c.demo_ignores.is_empty());
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
