//! The flag table: defaults and documentation.

use super::*;

#[test]
fn defaults_match_the_cli_table() {
    let c = run_config(TOKEN, &[]);
    assert_eq!(c.client.base_url.as_str(), "https://api.iadvize.com/");
    assert!(!c.client.platform_sd);
    assert_eq!(c.client.query, QueryChoice::Auto);
    assert_eq!(c.client.project_ids, None);
    assert_eq!(c.client.max_requests_per_second, 5.0);
    assert_eq!(c.client.timeout, secs(30));
    assert_eq!(c.client.max_retry_after, secs(300));
    assert_eq!(c.client.max_wait, Some(secs(60)));
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
            86400.0, 259200.0, 604800.0, 1209600.0
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
    assert_eq!(c.metrics.tags, TagFilter::Off);
    assert_eq!(c.metrics.max_tags, 50);
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

#[test]
fn metrics_config_default_is_the_flag_table_default() {
    assert_eq!(MetricsConfig::default(), run_config(TOKEN, &[]).metrics);
}

#[test]
fn max_retry_after_from_env_and_yaml() {
    assert_eq!(
        env_var_name("iadvize.max-retry-after"),
        "IADVIZE_IADVIZE_MAX_RETRY_AFTER"
    );
    let c = run_config(TOKEN, &[("IADVIZE_IADVIZE_MAX_RETRY_AFTER", "90s")]);
    assert_eq!(c.client.max_retry_after, secs(90));
    let file = TempFile::new("iadvize:\n  max-retry-after: 10m\n");
    let mut args = TOKEN.to_vec();
    args.extend(["--config.file", file.path()]);
    let c = run_config(&args, &[]);
    assert_eq!(c.client.max_retry_after, secs(600));
}
