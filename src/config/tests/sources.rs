//! Precedence: flag > environment > file > default.

use super::*;

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
fn bad_environment_value_names_the_variable_and_the_flag() {
    let err = error(TOKEN, &[("IADVIZE_POLL_OVERLAP", "a bit")]);
    let message = err.to_string();
    assert!(message.contains("IADVIZE_POLL_OVERLAP"), "{message}");
    assert!(message.contains("--poll.overlap"), "{message}");
    assert_eq!(err.exit_code(), 2);
    let err = error(&[], &[("IADVIZE_DEMO", "maybe")]);
    assert!(err.to_string().contains("IADVIZE_DEMO"), "{err}");
}
