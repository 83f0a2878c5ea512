//! End to end on a real Prometheus: the exporter binary in `--demo`, a real `prometheus`
//! server scraping it every second with `prometheus/iadvize.rules.yml` loaded, then
//!
//! - every query of every dashboard panel (variables substituted) returns data,
//! - every dashboard variable finds values,
//! - every recording rule has a value,
//! - with the simulator's CSAT sunk, `IadvizeCsatDrop` reaches at least pending (its `for`
//!   is 30 minutes: the rule unit tests in `prometheus/tests/` cover firing).
//!
//! Needs `prometheus` on the PATH (Debian package `prometheus`, which `.ci/run` installs);
//! without it the test fails, saying so.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{BIN, Process, eventually, free_port, prometheus_binary, repo, wait_ready};
use serde_json::Value;

/// How long Prometheus gets to show everything; it usually takes under 30 s.
const DEADLINE: Duration = Duration::from_secs(90);

/// The value of `key=` in a logfmt line.
fn logfmt_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    Some(
        rest.split_whitespace()
            .next()
            .unwrap_or(rest)
            .trim_matches('"'),
    )
}

/// Starts the exporter in `--demo`; returns it with the addresses of its metrics page
/// and of the simulated iAdvize account, read from its log.
async fn start_exporter() -> (Process, String, String) {
    let exporter = Process::spawn(
        BIN,
        &[
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--poll.interval",
            "1s",
            // Late survey answers and transactions are counted by the revisit pass: run
            // it often, over a short horizon that holds every conversation closed since
            // the start.
            "--poll.revisit-interval",
            "5s",
            "--poll.revisit-horizon",
            "10m",
            "--log.format",
            "logfmt",
        ],
        &[],
    );
    let (metrics, sim) = eventually(
        Duration::from_secs(20),
        "the exporter logs its addresses",
        || async {
            let (mut metrics, mut sim) = (None, None);
            let log = exporter.stderr_so_far();
            for line in log.lines() {
                if line.contains("msg=\"serving metrics\"") {
                    metrics = logfmt_value(line, "address").map(|a| format!("http://{a}"));
                }
                if line.contains("msg=\"demo: serving a simulated iAdvize account\"") {
                    sim = logfmt_value(line, "url").map(str::to_owned);
                }
            }
            match (metrics, sim) {
                (Some(metrics), Some(sim)) => Ok((metrics, sim)),
                _ => Err(log),
            }
        },
    )
    .await;
    (exporter, metrics, sim)
}

fn start_prometheus(dir: &Path, exporter: &str, port: u16) -> Process {
    let target = exporter.trim_start_matches("http://");
    let rules = repo().join("prometheus/iadvize.rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: iadvize\n    static_configs:\n      - targets: ['{target}']\n",
        rules.display()
    );
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    Process::spawn(
        prometheus_binary(),
        &[
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_owned(),
        ],
        &[],
    )
}

/// Grafana's variables as a dashboard set to "All" would send them, and its interval
/// macros as values that suit a 1 s scrape.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("$job", ".*")
        .replace("$instance", ".*")
        .replace("$project_id", ".*")
        .replace("$channel", ".*")
}

/// Every panel query of a dashboard, with the panel's title; rows' nested panels too.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.to_owned(), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `label_values(selector, label)` of each query variable, as a query that returns one
/// series per value.
fn variable_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap();
        let definition = variable["definition"].as_str().unwrap();
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: not a label_values query"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        out.push((
            format!("variable {name}"),
            format!("count by ({}) ({})", label.trim(), selector.trim()),
        ));
    }
    out
}

fn recording_rules() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("prometheus/iadvize.rules.yml")).unwrap();
    let rules: Value = serde_norway::from_str(&text).unwrap();
    let mut names = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(name) = rule["record"].as_str() {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// What a query gave: `Ok(n)` with the number of series holding a number (NaN is no
/// data), or the error.
async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<usize, String> {
    let response = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    let result = &body["data"]["result"];
    let values: Vec<&Value> = match body["data"]["resultType"].as_str() {
        Some("vector") => result
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| &s["value"][1])
            .collect(),
        Some("scalar") => vec![&result[1]],
        other => return Err(format!("unexpected result type {other:?}")),
    };
    Ok(values
        .iter()
        .filter(|v| v.as_str().is_some_and(|v| v != "NaN"))
        .count())
}

/// The states `IadvizeCsatDrop` alerts are in.
async fn csat_drop_states(client: &reqwest::Client, prometheus: &str) -> BTreeSet<String> {
    let Ok(response) = client
        .get(format!("{prometheus}/api/v1/alerts"))
        .send()
        .await
    else {
        return BTreeSet::new();
    };
    let Ok(body) = response.json::<Value>().await else {
        return BTreeSet::new();
    };
    body["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "IadvizeCsatDrop")
        .filter_map(|a| a["state"].as_str().map(str::to_owned))
        .collect()
}

/// Prometheus's configuration and data, under cargo's target directory as they have
/// always been, rather than the system's temporary one.
fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("prometheus-e2e-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_rules_work_on_a_real_prometheus() {
    let work = work_dir();
    let dir = work.path();
    let (_exporter, metrics, sim) = start_exporter().await;
    let client = reqwest::Client::new();

    // The first poll reads the whole window: let it finish before the faults slow it.
    wait_ready(&metrics, Duration::from_secs(30)).await;
    // Sink CSAT by 3 points from now on, and make some requests fail so that the retry
    // panel has something to show.
    let faults = client
        .post(format!("{sim}/_sim/faults"))
        .json(&serde_json::json!({"csat_bias": 3, "http_503": 0.05, "http_429": 0.02}))
        .send()
        .await
        .unwrap();
    assert!(
        faults.status().is_success(),
        "{}",
        faults.text().await.unwrap()
    );

    let port = free_port();
    let prometheus = format!("http://127.0.0.1:{port}");
    let prometheus_process = start_prometheus(dir, &metrics, port);

    let mut checks: Vec<(String, String)> = Vec::new();
    for (name, _, dashboard) in dashboards() {
        let panels = panel_queries(&dashboard);
        assert!(panels.len() >= 15, "{name}: only {} queries", panels.len());
        for (title, expr) in panels.into_iter().chain(variable_queries(&dashboard)) {
            checks.push((format!("{name}: {title}"), substitute(&expr)));
        }
    }
    let records = recording_rules();
    assert!(records.len() >= 30, "{records:?}");
    for record in records {
        checks.push((format!("recording rule {record}"), record));
    }

    let started = Instant::now();
    let mut failing: Vec<String>;
    let mut states;
    loop {
        failing = Vec::new();
        for (what, expr) in &checks {
            match query(&client, &prometheus, expr).await {
                Ok(0) => failing.push(format!("{what}: no data from {expr}")),
                Ok(_) => {}
                Err(e) => failing.push(format!("{what}: {e} from {expr}")),
            }
        }
        states = csat_drop_states(&client, &prometheus).await;
        let csat_drop = states.contains("pending") || states.contains("firing");
        eprintln!(
            "{:>5.1?}: {} queries without data, IadvizeCsatDrop {states:?}{}",
            started.elapsed(),
            failing.len(),
            failing
                .first()
                .map(|f| format!(", e.g. {f}"))
                .unwrap_or_default()
        );
        if (failing.is_empty() && csat_drop) || started.elapsed() > DEADLINE {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let log = prometheus_process.stderr_so_far();
    assert!(
        failing.is_empty(),
        "after {:?}, {} of {} queries still fail:\n{}\nprometheus log:\n{log}",
        started.elapsed(),
        failing.len(),
        checks.len(),
        failing.join("\n")
    );
    assert!(
        states.contains("pending") || states.contains("firing"),
        "IadvizeCsatDrop did not reach pending with CSAT sunk (states: {states:?})"
    );
    eprintln!(
        "{} queries return data and IadvizeCsatDrop is {states:?} after {:?}",
        checks.len(),
        started.elapsed()
    );
}

fn dashboards() -> Vec<(String, String, Value)> {
    ["iadvize-overview.json", "iadvize-exporter.json"]
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(repo().join("dashboards").join(name)).unwrap();
            let dashboard = serde_json::from_str(&text).unwrap();
            (name.to_owned(), text, dashboard)
        })
        .collect()
}

/// The per-instance business series: two replicas export the same values.
const BUSINESS_METRICS: [&str; 7] = [
    "iadvize_window_",
    "iadvize_conversations_closed_total",
    "iadvize_csat_score",
    "iadvize_nps_score",
    "iadvize_conversions_total",
    "iadvize_transaction_amount",
    "iadvize_conversation_duration_seconds",
];

/// Whether `at` lies within the parentheses of a `max without (instance, pod...) (...)`.
fn inside_dedup(expr: &str, at: usize) -> bool {
    let bytes = expr.as_bytes();
    expr[..at]
        .match_indices("max without (instance, pod")
        .any(|(start, _)| {
            // The group opens at the first "(" after the label list closes.
            let Some(list_end) = expr[start..].find(')').map(|i| start + i) else {
                return false;
            };
            let Some(open) = expr[list_end..].find('(').map(|i| list_end + i) else {
                return false;
            };
            if open >= at {
                return false;
            }
            let mut depth = 0i32;
            for &b in &bytes[open..at] {
                match b {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    return false;
                }
            }
            true
        })
}

/// Without Prometheus: the current Grafana model, file-provisioning friendly, one data
/// source variable, no hard-coded job, and replica-safe business queries.
#[test]
fn dashboards_follow_the_grafana_model() {
    for (name, text, dashboard) in dashboards() {
        let uid = name.trim_end_matches(".json");
        assert_eq!(dashboard["uid"], uid, "{name}: a fixed uid");
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39, "{name}");
        // __inputs and ${DS_...} belong to exported dashboards and break provisioning.
        assert!(dashboard.get("__inputs").is_none(), "{name}");
        assert!(!text.contains("${DS_"), "{name}");

        let variables: Vec<&Value> = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let names: Vec<&str> = variables
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if uid == "iadvize-overview" {
            &["datasource", "job", "instance", "project_id", "channel"]
        } else {
            &["datasource", "job", "instance"]
        };
        assert_eq!(names, expected, "{name}");
        assert_eq!(variables[0]["type"], "datasource");
        assert_eq!(variables[0]["query"], "prometheus");
        for variable in &variables[1..] {
            assert_eq!(variable["type"], "query", "{name}");
            assert_eq!(
                variable["datasource"],
                serde_json::json!({"type": "prometheus", "uid": "${datasource}"})
            );
        }

        let mut ids = BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{name}: id twice"
            );
            let grid = &panel["gridPos"];
            assert!(
                grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
                "{name}"
            );
            if panel["type"] == "row" {
                continue;
            }
            let title = panel["title"].as_str().unwrap();
            let datasource = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
            assert_eq!(panel["datasource"], datasource, "{name}: {title}");
            let description = panel["description"].as_str().unwrap_or_default();
            assert!(
                !description.is_empty(),
                "{name}: {title} has no description"
            );
            for target in panel["targets"].as_array().unwrap() {
                assert_eq!(target["datasource"], datasource, "{name}: {title}");
                let expr = target["expr"].as_str().unwrap();
                let no_job = expr.replace("job=~\"$job\"", "");
                assert!(!no_job.contains("job="), "{name}: {title}: a fixed job");
                for range in expr.split('[').skip(1) {
                    let range = range.split(']').next().unwrap();
                    assert!(
                        ["$__rate_interval", "$__range"].contains(&range),
                        "{name}: {title}: range [{range}]"
                    );
                }
                // A business series summed straight over two replicas doubles: each one
                // sits inside a `max without (instance, pod...)`.
                let mut deduplicated = false;
                for metric in BUSINESS_METRICS {
                    for (at, _) in expr.match_indices(metric) {
                        assert!(
                            inside_dedup(expr, at),
                            "{name}: {title}: {metric} not de-duplicated across replicas: {expr}"
                        );
                        deduplicated = true;
                    }
                }
                if deduplicated {
                    assert!(
                        description.contains("max without (instance, pod)"),
                        "{name}: {title}: the description does not say why"
                    );
                }
            }
        }

        // Helm reads files inside the chart only: its copies must not drift.
        let copy = repo()
            .join("helm/iadvize-exporter/files/dashboards")
            .join(&name);
        assert!(
            std::fs::read_to_string(&copy).unwrap() == text,
            "{} differs from dashboards/{name}: run python3 scripts/dashboards.py",
            copy.display()
        );
    }
}
