//! The Prometheus rules under `prometheus/`: `promtool check rules` is clean and the unit
//! tests in `prometheus/tests/` pass (each alert fires on the series it targets and stays
//! silent on normal traffic and on low volume).
//!
//! promtool comes with the Debian package `prometheus`; without it these tests fail, on
//! purpose, with a message saying so.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::repo;

/// Runs promtool with these arguments in `prometheus/`; returns whether it succeeded,
/// and everything it printed.
fn promtool(args: &[&str]) -> (bool, String) {
    let output = match Command::new("promtool")
        .args(args)
        .current_dir(repo().join("prometheus"))
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not on the PATH: install it (Debian: apt-get install prometheus) \
             to check the alerting rules"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn rule_tests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("prometheus/tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn rules_pass_promtool_check() {
    let (ok, printed) = promtool(&["check", "rules", "iadvize.rules.yml"]);
    assert!(ok, "promtool check rules failed:\n{printed}");
    assert!(printed.contains("SUCCESS"), "{printed}");
}

#[test]
fn rule_unit_tests_pass() {
    let files = rule_tests();
    // The exporter-health and the business alerts each have their file.
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["business.test.yml", "exporter.test.yml"] {
        assert!(names.iter().any(|n| n == expected), "{expected} is missing");
    }

    let mut args = vec!["test".to_owned(), "rules".to_owned()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, printed) = promtool(&args);
    assert!(ok, "promtool test rules failed:\n{printed}");
    assert_eq!(printed.matches("SUCCESS").count(), files.len(), "{printed}");
}

/// Every alert has a severity, a summary, a description and a runbook URL pointing at a
/// runbook section that the README has.
#[test]
fn every_alert_has_its_annotations_and_a_runbook_in_the_readme() {
    let rules: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("prometheus/iadvize.rules.yml")).unwrap(),
    )
    .unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            alerts.push(name.to_owned());
            let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
            assert!(
                ["critical", "warning"].contains(&severity),
                "{name}: severity {severity:?}"
            );
            for key in ["summary", "description", "runbook_url"] {
                assert!(
                    rule["annotations"][key]
                        .as_str()
                        .is_some_and(|v| !v.is_empty()),
                    "{name} has no {key}"
                );
            }
            let url = rule["annotations"]["runbook_url"].as_str().unwrap();
            let anchor = format!("#runbook-{}", name.to_lowercase());
            assert_eq!(
                url,
                format!("https://github.com/iadvize-exporter/iadvize-exporter{anchor}"),
                "{name}"
            );
            // GitHub makes `#runbook-iadvizecsatdrop` of `### Runbook: IadvizeCsatDrop`.
            assert!(
                readme.contains(&format!("\n### Runbook: {name}\n")),
                "README.md has no `### Runbook: {name}` section"
            );
        }
    }
    alerts.dedup();
    assert_eq!(
        alerts,
        [
            "IadvizeExporterDown",
            "IadvizePollsFailing",
            "IadvizeDataStale",
            "IadvizeAuthFailing",
            "IadvizeRateLimited",
            "IadvizeStateFileNotSaved",
            "IadvizeWebConfigReloadFailed",
            "IadvizeCsatDrop",
            "IadvizeNpsDrop",
            "IadvizeNoConversations",
        ]
    );
}

/// Helm reads files inside the chart only: the chart's copy must not drift from the
/// canonical file.
#[test]
fn the_chart_ships_the_rules_file_unchanged() {
    let canonical = std::fs::read(repo().join("prometheus/iadvize.rules.yml")).unwrap();
    let copy = std::fs::read(repo().join("helm/iadvize-exporter/files/iadvize.rules.yml")).unwrap();
    assert!(
        canonical == copy,
        "helm/iadvize-exporter/files/iadvize.rules.yml differs: \
         cp prometheus/iadvize.rules.yml helm/iadvize-exporter/files/iadvize.rules.yml"
    );
}
