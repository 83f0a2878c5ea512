//! Bad configuration never panics: every bad duration, URL, bucket list or YAML key is
//! refused with a message that names the flag (or the file and key) and exit code 2.

mod common;

use std::collections::BTreeMap;

use iadvize_exporter::config::{self, Command};
use proptest::prelude::*;

fn parse(args: &[String], env: &BTreeMap<String, String>) -> Result<Command, config::ConfigError> {
    let mut argv = vec!["--demo".to_owned()];
    argv.extend(args.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    common::parse_flags(&argv, &env)
}

/// The flag's value is refused with exit code 2 and a message naming the flag, or it is
/// accepted: never a panic, never another exit code.
fn refused_or_accepted(flag: &str, value: &str) -> Result<(), TestCaseError> {
    let args = vec![format!("{flag}={value}")];
    match parse(&args, &BTreeMap::new()) {
        Ok(_) => Ok(()),
        Err(e) => {
            prop_assert_eq!(e.exit_code(), 2, "{}", e);
            let message = e.to_string();
            prop_assert!(
                message.contains(flag),
                "the message names {}: {}",
                flag,
                message
            );
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn durations(value in prop_oneof![
        "[0-9]{0,4}[a-z]{0,3}",
        "[ -~]{0,12}",
        Just("-5s".to_owned()),
        Just("99999999999999999999h".to_owned()),
        Just("0s".to_owned()),
    ]) {
        for flag in ["--poll.interval", "--poll.overlap", "--iadvize.timeout", "--metrics.window"] {
            refused_or_accepted(flag, &value)?;
        }
        // Zero is refused where it makes no sense.
        let zero = parse(&["--poll.interval=0s".to_owned()], &BTreeMap::new());
        prop_assert!(zero.is_err());
    }

    #[test]
    fn urls(value in prop_oneof![
        "[ -~]{0,24}",
        "(http|https|ftp)://[a-z.]{0,10}(:[0-9]{1,6})?(/[a-z]{0,5})?",
    ]) {
        refused_or_accepted("--iadvize.url", &value)?;
        if let Ok(Command::Run(c)) = parse(&[format!("--iadvize.url={value}")], &BTreeMap::new()) {
            let scheme = c.client.base_url.scheme();
            prop_assert!(scheme == "http" || scheme == "https");
        }
    }

    #[test]
    fn bucket_lists(values in prop::collection::vec(prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        "[ -~]{0,5}",
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
    ], 0..6)) {
        let list = values.join(",");
        for flag in ["--metrics.duration-buckets", "--metrics.amount-buckets"] {
            refused_or_accepted(flag, &list)?;
            if let Ok(Command::Run(c)) = parse(&[format!("{flag}={list}")], &BTreeMap::new()) {
                let b = if flag.contains("duration") { c.metrics.duration_buckets } else { c.metrics.amount_buckets };
                prop_assert!(!b.is_empty());
                prop_assert!(b.iter().all(|x| x.is_finite()));
                prop_assert!(b.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {:?}", b);
            }
        }
    }

    #[test]
    fn unknown_yaml_keys(key in "[a-z]{1,8}(\\.[a-z]{1,8})?", value in "[a-z0-9]{1,6}") {
        let known = [
            "demo", "iadvize", "poll", "metrics", "state", "web", "log", "config",
        ];
        prop_assume!(!known.contains(&key.split('.').next().unwrap_or("")));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, format!("poll:\n  interval: 30s\n{key}: {value}\n")).unwrap();
        let args = vec![format!("--config.file={}", file.display())];
        let err = parse(&args, &BTreeMap::new()).expect_err("an unknown key is refused");
        prop_assert_eq!(err.exit_code(), 2);
        let message = err.to_string();
        prop_assert!(message.contains(&key), "names the key {}: {}", key, message);
        prop_assert!(message.contains("config.yml"), "names the file: {}", message);
    }
}
