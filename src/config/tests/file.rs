//! The YAML config file: keys, values, lines.

use super::*;

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
    assert!(message.contains("did you mean poll.interval?"), "{message}");
}

#[test]
fn a_mistyped_key_gets_the_setting_it_most_likely_meant() {
    for (yaml, meant) in [
        ("metrics:\n  windw: 2h\n", "metrics.window"),
        ("iadvize.usrname: someone\n", "iadvize.username"),
        ("pol.revisit-horizon: 24h\n", "poll.revisit-horizon"),
        ("state.fille: /tmp/x\n", "state.file"),
    ] {
        let (err, _file) = file_error(yaml);
        let message = err.to_string();
        assert!(
            message.contains(&format!("did you mean {meant}?")),
            "{yaml:?}: {message}"
        );
    }
    // Nothing close: no guess, the general rule.
    let (err, _file) = file_error("colour: blue\n");
    let message = err.to_string();
    assert!(!message.contains("did you mean"), "{message}");
    assert!(message.contains("such as poll.interval"), "{message}");
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
