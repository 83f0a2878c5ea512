//! End to end on a real Prometheus: the exporter binary in `--demo`, a real `prometheus`
//! server scraping it every second with `prometheus/iadvize.rules.yml` loaded, then
//!
//! - every query of every dashboard panel (variables substituted) returns data,
//! - every dashboard variable finds values, and the project variable's regex reads each
//!   project's id and name out of what Grafana makes of its query,
//! - every panel query that asks for exemplars gets some, once the exporter serves them,
//! - every recording rule has a value,
//! - with the simulator's CSAT sunk, `IadvizeCsatDrop` reaches at least pending (its `for`
//!   is 30 minutes: the rule unit tests in `prometheus/tests/` cover firing).
//!
//! Needs `prometheus` on the PATH (Debian package `prometheus`, which `.ci/run` installs);
//! without it the test fails, saying so.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{BIN, Process, eventually, free_port, repo, start_prometheus, until_ok, wait_ready};
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

/// Each query variable as a query that returns one series per value:
/// `label_values(selector, label)`, or the expression of `query_result(expr)`.
fn variable_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap();
        let definition = variable["definition"].as_str().unwrap();
        let query = if let Some(expr) = query_result_expr(definition) {
            expr.to_owned()
        } else {
            let inner = definition
                .strip_prefix("label_values(")
                .and_then(|d| d.strip_suffix(')'))
                .unwrap_or_else(|| panic!("variable {name}: not a label_values query"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            format!("count by ({}) ({})", label.trim(), selector.trim())
        };
        out.push((format!("variable {name}"), query));
    }
    out
}

fn query_result_expr(definition: &str) -> Option<&str> {
    definition
        .strip_prefix("query_result(")
        .and_then(|d| d.strip_suffix(')'))
}

/// What Grafana's Prometheus data source makes of one series of a `query_result`
/// variable (its `queryResultQuery`): the name, the labels in the order the API sends
/// them (Prometheus sorts them), nothing escaped, then the value and the time in ms.
fn grafana_query_result_text(series: &Value) -> String {
    let metric = series["metric"].as_object().unwrap();
    let mut text = metric
        .get("__name__")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let labels: Vec<String> = metric
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
        .collect();
    text += &format!("{{{}}}", labels.join(","));
    let at = series["value"][0].as_f64().unwrap();
    text += &format!(" {} {}", series["value"][1].as_str().unwrap(), at * 1000.0);
    text
}

/// (value, text) of a variable option as Grafana's `metricNamesToVariableValues` takes
/// them from the named groups of the variable's regex: an empty or absent group falls
/// back to the other one.
fn grafana_option(regex: &regex::Regex, text: &str) -> Option<(String, String)> {
    let captures = regex.captures(text)?;
    let group = |name| {
        captures
            .name(name)
            .map(|m| m.as_str().to_owned())
            .filter(|s| !s.is_empty())
    };
    let (value, label) = (group("value"), group("text"));
    Some((
        value.clone().or(label.clone())?,
        label.or(value).unwrap_or_default(),
    ))
}

/// The project variable's options, as Grafana would list them from this Prometheus.
async fn project_options(
    client: &reqwest::Client,
    prometheus: &str,
    variable: &Value,
) -> Result<BTreeSet<(String, String)>, String> {
    let expr = query_result_expr(variable["definition"].as_str().unwrap())
        .ok_or("the project variable is not a query_result")?;
    let expr = substitute(expr);
    let pattern = variable["regex"].as_str().unwrap();
    // Grafana's "/.../" form; the pattern uses only syntax that JavaScript and the regex
    // crate read alike.
    let pattern = pattern
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/'))
        .ok_or("the regex is not /.../")?;
    let regex = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
    let body: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr.as_str())])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let mut options = BTreeSet::new();
    for series in body["data"]["result"].as_array().into_iter().flatten() {
        let text = grafana_query_result_text(series);
        let option = grafana_option(&regex, &text)
            .ok_or_else(|| format!("the regex {pattern} does not match {text}"))?;
        options.insert(option);
    }
    Ok(options)
}

/// The project options Grafana should list: each project of iadvize_project_info by its
/// name (its id when the name is empty), each other counted project by its id; an error
/// while Prometheus is not answering yet.
async fn expected_project_options(
    client: &reqwest::Client,
    prometheus: &str,
) -> Result<BTreeSet<(String, String)>, String> {
    let mut expected = BTreeMap::new();
    for (metric, named) in [
        ("iadvize_conversations_closed_total", false),
        ("iadvize_window_conversations", false),
        ("iadvize_project_info", true),
    ] {
        let body: Value = client
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", metric)])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| format!("{metric}: {e}"))?;
        for series in body["data"]["result"].as_array().into_iter().flatten() {
            let id = series["metric"]["project_id"].as_str().unwrap().to_owned();
            let name = series["metric"]["project_name"]
                .as_str()
                .unwrap_or_default();
            let text = if named && !name.is_empty() { name } else { &id };
            if named || !expected.contains_key(&id) {
                expected.insert(id.clone(), text.to_owned());
            }
        }
    }
    Ok(expected.into_iter().collect())
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

/// How panels put project names in their legends.
const NAME_JOIN: &str = "group_left (project_name)";

/// Whether every series of a by-name query has a `project_name`, and some series a name
/// that is not just the id its fallback puts there.
async fn names_found(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<(), String> {
    let body: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let series: Vec<&Value> = body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut named = false;
    for s in &series {
        let (id, name) = (&s["metric"]["project_id"], &s["metric"]["project_name"]);
        if !name.is_string() {
            return Err(format!("a series without project_name: {}", s["metric"]));
        }
        named |= name != id;
    }
    if named {
        Ok(())
    } else {
        Err(format!(
            "no project shown by name among {} series",
            series.len()
        ))
    }
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
    let prometheus_process = start_prometheus(
        dir,
        "iadvize",
        metrics.trim_start_matches("http://"),
        port,
        &[repo().join("prometheus/iadvize.rules.yml")],
    );
    // Before it is ready, Prometheus answers queries with a plain-text 503.
    until_ok(
        &client,
        &format!("{prometheus}/-/ready"),
        Duration::from_secs(30),
        "Prometheus is ready",
    )
    .await;

    // Tags are counted only by an exporter that has --metrics.tags (the demo counts them
    // all): until the binary has that flag, their panels may stay empty.
    let tags_built = exporter_has_flag("--metrics.tags");
    let mut checks: Vec<(String, String)> = Vec::new();
    let mut tolerated: Vec<String> = Vec::new();
    let mut exemplar_checks: Vec<(String, String)> = Vec::new();
    let mut project_variable = None;
    for (name, _, dashboard) in dashboards() {
        let panels = panel_queries(&dashboard);
        assert!(panels.len() >= 15, "{name}: only {} queries", panels.len());
        for (title, expr) in panels.into_iter().chain(variable_queries(&dashboard)) {
            let what = format!("{name}: {title}");
            if !tags_built && TAG_METRICS.iter().any(|m| expr.contains(m)) {
                tolerated.push(what.clone());
            }
            checks.push((what, substitute(&expr)));
        }
        for (title, expr) in exemplar_queries(&dashboard) {
            exemplar_checks.push((format!("{name}: {title}"), substitute(&expr)));
        }
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            if variable["name"] == "project_id" {
                project_variable = Some(variable.clone());
            }
        }
    }
    let project_variable = project_variable.expect("the overview has a project_id variable");
    assert!(
        exemplar_checks.len() >= 2,
        "the duration and CSAT panels ask for exemplars: {exemplar_checks:?}"
    );
    let records = recording_rules();
    assert!(records.len() >= 30, "{records:?}");
    for record in records {
        checks.push((format!("recording rule {record}"), record));
    }

    let started = Instant::now();
    let mut failing: Vec<String>;
    let mut states;
    let mut options;
    loop {
        failing = Vec::new();
        for (what, expr) in &checks {
            match query(&client, &prometheus, expr).await {
                Ok(0) if tolerated.contains(what) => {}
                Ok(0) => failing.push(format!("{what}: no data from {expr}")),
                Ok(_) => {}
                Err(e) => failing.push(format!("{what}: {e} from {expr}")),
            }
        }
        // A legend by name: the join must find the names, not only fall back to ids.
        for (what, expr) in checks.iter().filter(|(_, e)| e.contains(NAME_JOIN)) {
            if let Err(e) = names_found(&client, &prometheus, expr).await {
                failing.push(format!("{what}: {e} from {expr}"));
            }
        }
        // Exemplars need an exporter that serves them in OpenMetrics: until it does (they
        // are being added), their queries may find none, but must not fail.
        let served = serves_exemplars(&client, &metrics).await;
        for (what, expr) in &exemplar_checks {
            match exemplars(&client, &prometheus, expr).await {
                Ok(ids) if ids.is_empty() && served => failing.push(format!(
                    "{what}: no exemplar with a conversation_id from {expr}"
                )),
                Ok(_) => {}
                Err(e) => failing.push(format!("{what}: exemplars: {e} from {expr}")),
            }
        }
        options = project_options(&client, &prometheus, &project_variable).await;
        let expected = expected_project_options(&client, &prometheus).await;
        match (&options, &expected) {
            (Ok(options), Ok(expected)) if options == expected => {}
            (Ok(options), Ok(expected)) => failing.push(format!(
                "variable project_id: options {options:?}, expected {expected:?}"
            )),
            (Err(e), _) | (_, Err(e)) => failing.push(format!("variable project_id: {e}")),
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
    // The demo's projects include a name with a quote and a null name: both must come
    // out of the regex whole (the null one as its id).
    let options = options.unwrap();
    assert!(
        options.iter().any(|(_, text)| text.contains('"')),
        "{options:?}"
    );
    assert!(
        options.iter().any(|(value, text)| value == text),
        "{options:?}"
    );
    if !tolerated.is_empty() {
        eprintln!(
            "the exporter has no --metrics.tags yet: these may stay empty until it does: {tolerated:?}"
        );
    }
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

/// The histograms whose exemplars the overview shows.
const EXEMPLAR_HISTOGRAMS: [&str; 2] = [
    "iadvize_conversation_duration_seconds",
    "iadvize_csat_score",
];

/// The metrics that only an exporter with `--metrics.tags` exports.
const TAG_METRICS: [&str; 2] = [
    "iadvize_conversation_tags_total",
    "iadvize_window_conversation_tags",
];

fn exporter_has_flag(flag: &str) -> bool {
    let output = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).contains(flag)
}

/// The panel queries that ask Grafana for exemplars.
fn exemplar_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if target["exemplar"] == true {
                let title = panel["title"].as_str().unwrap().to_owned();
                out.push((title, target["expr"].as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

/// Whether the exporter's OpenMetrics exposition carries exemplars.
async fn serves_exemplars(client: &reqwest::Client, metrics: &str) -> bool {
    let Ok(response) = client
        .get(format!("{metrics}/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
    else {
        return false;
    };
    response
        .text()
        .await
        .is_ok_and(|body| body.contains("# {conversation_id="))
}

/// The conversation ids of the exemplars Prometheus returns for a panel's query over the
/// last ten minutes, as Grafana asks for them.
async fn exemplars(
    client: &reqwest::Client,
    prometheus: &str,
    expr: &str,
) -> Result<Vec<String>, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let body: Value = client
        .get(format!("{prometheus}/api/v1/query_exemplars"))
        .query(&[
            ("query", expr.to_owned()),
            ("start", (now - 600).to_string()),
            ("end", now.to_string()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .filter_map(|e| e["labels"]["conversation_id"].as_str().map(str::to_owned))
        .collect())
}

/// The per-instance business series: two replicas export the same values.
const BUSINESS_METRICS: [&str; 8] = [
    "iadvize_window_",
    "iadvize_conversation_tags_total",
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
            &[
                "datasource",
                "job",
                "instance",
                "project_id",
                "channel",
                "conversation_url",
            ]
        } else {
            &["datasource", "job", "instance"]
        };
        assert_eq!(names, expected, "{name}");
        assert_eq!(variables[0]["type"], "datasource");
        assert_eq!(variables[0]["query"], "prometheus");
        for variable in &variables[1..] {
            if variable["name"] == "conversation_url" {
                // The exemplar link's prefix is the user's to set: empty by default.
                assert_eq!(variable["type"], "textbox", "{name}");
                assert_eq!(variable["query"], "", "{name}");
                continue;
            }
            assert_eq!(variable["type"], "query", "{name}");
            assert_eq!(
                variable["datasource"],
                serde_json::json!({"type": "prometheus", "uid": "${datasource}"})
            );
        }

        let mut ids = BTreeSet::new();
        let mut exemplar_buckets = BTreeSet::new();
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
                // Projects by name: a legend that shows a project takes its name from the
                // join with iadvize_project_info.
                let legend = target["legendFormat"].as_str().unwrap_or_default();
                assert!(
                    !legend.contains("{{project_id}}"),
                    "{name}: {title}: a project shown by id"
                );
                if legend.contains("{{project_name}}") {
                    assert!(expr.contains(NAME_JOIN), "{name}: {title}: no names");
                }
                if target["exemplar"] == true {
                    for histogram in EXEMPLAR_HISTOGRAMS {
                        if expr.contains(&format!("{histogram}_bucket")) {
                            exemplar_buckets.insert(histogram);
                        }
                    }
                }
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

        if uid == "iadvize-overview" {
            assert_eq!(
                exemplar_buckets,
                BTreeSet::from(EXEMPLAR_HISTOGRAMS),
                "{name}: the duration and CSAT panels show exemplars"
            );
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
