//! `backfill` end to end, on real tools: the simulated account holds three days of
//! history and goes on closing conversations; `backfill` writes the history and a state
//! file; real `promtool tsdb create-blocks-from openmetrics` turns it into blocks; a real
//! Prometheus on those blocks scrapes the exporter started from the state file. Then
//!
//! - at every step-aligned time, the history's counters are the truth of what closed in
//!   `[from, t)`,
//! - once the exporter has counted what closed since, its live values are the truth of
//!   everything closed since `from`,
//! - `resets()` over the whole range is 0 for every series.
//!
//! And the command's bad input: exit code 2, with the flag named.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{
    DEMO_PASSWORD, ExporterProcess, Process, diff, eventually, expected_from_truth, free_port, key,
    run, start_prometheus, start_sim, until_ok,
};
use iadvize_exporter::simulator::{SimConfig, SimHandle};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
const JOB: &str = "backfill";

/// The business series the truth pins down, as `business_view` keeps them.
const COMPARED: &str = "iadvize_(conversations_closed_total|conversation_duration_seconds_(count|sum)|csat_score_(count|sum|bucket)|nps_score_(count|sum|bucket)|conversions_total|transaction_amount_(count|sum))";

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `le` as the truth writes it: `1`, not Prometheus's `1.0`.
fn bound(le: &str) -> String {
    match le.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v.is_finite() => format!("{}", v as i64),
        _ => le.to_owned(),
    }
}

/// Whether a sample is one the truth speaks of (see `common::business_view`).
fn compared(name: &str, labels: &BTreeMap<String, String>, value: f64) -> bool {
    let le = labels.get("le").map(String::as_str).unwrap_or("");
    match name {
        "iadvize_conversions_total" => value != 0.0,
        "iadvize_csat_score_bucket" => le != "+Inf",
        "iadvize_nps_score_bucket" => ["6", "8", "10"].contains(&le),
        _ => true,
    }
}

/// A Prometheus series as the truth's key, without the target labels.
fn series_key(metric: &Value) -> (String, BTreeMap<String, String>) {
    let mut labels: BTreeMap<String, String> = metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let name = labels.remove("__name__").unwrap();
    labels.remove("job");
    labels.remove("instance");
    if let Some(le) = labels.get_mut("le") {
        *le = bound(le);
    }
    (name, labels)
}

async fn prometheus_api(client: &reqwest::Client, url: String, query: &[(&str, String)]) -> Value {
    let body: Value = client
        .get(url)
        .query(query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

/// The compared series at every step of `[start, end]`: time (ms) -> key -> value.
async fn history(
    client: &reqwest::Client,
    prometheus: &str,
    start: i64,
    end: i64,
    step_ms: i64,
) -> BTreeMap<i64, BTreeMap<String, f64>> {
    let result = prometheus_api(
        client,
        format!("{prometheus}/api/v1/query_range"),
        &[
            (
                "query",
                format!("{{__name__=~\"{COMPARED}\",job=\"{JOB}\"}}"),
            ),
            ("start", format!("{}", start as f64 / 1000.0)),
            ("end", format!("{}", end as f64 / 1000.0)),
            ("step", format!("{}s", step_ms / 1000)),
        ],
    )
    .await;
    let mut out: BTreeMap<i64, BTreeMap<String, f64>> = BTreeMap::new();
    for series in result["result"].as_array().unwrap() {
        let (name, labels) = series_key(&series["metric"]);
        for point in series["values"].as_array().unwrap() {
            let t = (point[0].as_f64().unwrap() * 1000.0).round() as i64;
            let value: f64 = point[1].as_str().unwrap().parse().unwrap();
            if compared(&name, &labels, value) {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                out.entry(t).or_default().insert(key(&name, &labels), value);
            }
        }
    }
    out
}

/// Three days of history in real time, two conversations a minute, still closing; late
/// answers and transactions come within a minute or so of the close.
async fn account() -> SimHandle {
    start_sim(SimConfig {
        rate_per_hour: 2.0,
        history: Duration::from_secs(3 * 24 * 3600),
        max_transaction_delay_hours: 1.0,
        ..SimConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_then_live_counting_are_one_series_with_the_truth() {
    let sim = account().await;
    let url = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let instance = format!("127.0.0.1:{exporter_port}");
    let now = chrono::Utc::now().timestamp_millis();
    let from = now - 3 * 24 * HOUR_MS + 10 * 60_000;
    let to = now - 1000;
    let step_ms = HOUR_MS;
    let output = dir.path().join("history.om");
    let state = dir.path().join("state.bin");

    let done = run(
        &[
            "backfill",
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
            "--iadvize.max-requests-per-second",
            "500",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--step",
            "1h",
            "--output",
            output.to_str().unwrap(),
            "--label",
            &format!("job={JOB}"),
            "--label",
            &format!("instance={instance}"),
            "--state.file",
            state.to_str().unwrap(),
        ],
        &DEMO_PASSWORD,
    )
    .await;
    assert_eq!(done.code(), Some(0), "{done}");
    assert!(done.stderr.contains("backfill done"), "{done}");
    // The truth now, while the history's answers are those the backfill read: what closed
    // over a few minutes before `to` may still gain some, so only its count is compared.
    let settled = chrono::Utc::now().timestamp_millis() - 3 * 60_000;
    let expected_at = |t: i64| {
        let truth = sim.truth(from as f64 / 1000.0, Some(t as f64 / 1000.0));
        let mut expected = expected_from_truth(&truth);
        if t > settled {
            expected.retain(|k, _| k.starts_with("iadvize_conversations_closed_total"));
        }
        expected
    };
    let sample_times: Vec<i64> = ((from / step_ms + 1)..)
        .map(|k| k * step_ms)
        .take_while(|t| *t < to)
        .collect();
    assert_eq!(sample_times.len(), 72);
    let expected: Vec<(i64, BTreeMap<String, f64>)> =
        sample_times.iter().map(|t| (*t, expected_at(*t))).collect();

    let blocks = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&output)
        .arg(dir.path().join("data"))
        .output()
        .expect("promtool is installed");
    assert!(
        blocks.status.success(),
        "promtool refused the history: {}",
        String::from_utf8_lossy(&blocks.stderr)
    );

    let exporter = ExporterProcess::spawn_on(
        exporter_port,
        &common::fast_poll_flags(&url, &["--state.file", state.to_str().unwrap()]),
        &DEMO_PASSWORD,
    );
    exporter.wait_ready(Duration::from_secs(30)).await;
    let prometheus_port = free_port();
    let _prometheus = start_prometheus(dir.path(), JOB, &instance, prometheus_port, &[]);
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");
    let client = reqwest::Client::new();
    until_ok(
        &client,
        &format!("{prometheus}/-/ready"),
        Duration::from_secs(60),
        "Prometheus is ready",
    )
    .await;

    // The history, at every step.
    let (first, last, steps) = (
        sample_times[0],
        *sample_times.last().unwrap(),
        sample_times.len(),
    );
    let got = eventually(
        Duration::from_secs(60),
        "Prometheus serves the history",
        || {
            let client = client.clone();
            let prometheus = prometheus.clone();
            async move {
                let got = history(&client, &prometheus, first, last, step_ms).await;
                if got.len() == steps {
                    Ok(got)
                } else {
                    Err(format!("{} of {steps} steps", got.len()))
                }
            }
        },
    )
    .await;
    for (t, want) in &expected {
        let have = got.get(t).cloned().unwrap_or_default();
        let have: BTreeMap<String, f64> = if *t > settled {
            have.into_iter()
                .filter(|(k, _)| k.starts_with("iadvize_conversations_closed_total"))
                .collect()
        } else {
            have
        };
        let d = diff(&have, want);
        assert!(d.is_empty(), "at {}:\n{d}", rfc3339(*t));
    }

    // Live: the exporter goes on from the history, and counts what closed since.
    let live = eventually(
        Duration::from_secs(60),
        "the live series equal the truth since --from",
        || {
            let client = client.clone();
            let prometheus = prometheus.clone();
            let sim = &sim;
            async move {
                let result = prometheus_api(
                    &client,
                    format!("{prometheus}/api/v1/query"),
                    &[(
                        "query",
                        format!("{{__name__=~\"{COMPARED}\",job=\"{JOB}\"}}[5s]"),
                    )],
                )
                .await;
                let mut have = BTreeMap::new();
                for series in result["result"].as_array().unwrap() {
                    let (name, labels) = series_key(&series["metric"]);
                    let Some(last) = series["values"].as_array().unwrap().last() else {
                        continue;
                    };
                    let value: f64 = last[1].as_str().unwrap().parse().unwrap();
                    if compared(&name, &labels, value) {
                        let labels: Vec<(&str, &str)> = labels
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        have.insert(key(&name, &labels), value);
                    }
                }
                let want = expected_from_truth(&sim.truth(from as f64 / 1000.0, None));
                let d = diff(&have, &want);
                if d.is_empty() { Ok(want) } else { Err(d) }
            }
        },
    )
    .await;
    let closed_live: f64 = live
        .iter()
        .filter(|(k, _)| k.starts_with("iadvize_conversations_closed_total"))
        .map(|(_, v)| v)
        .sum();
    let closed_history: f64 = expected
        .last()
        .unwrap()
        .1
        .iter()
        .filter(|(k, _)| k.starts_with("iadvize_conversations_closed_total"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        closed_live > closed_history,
        "the exporter counted nothing after the history: {closed_live} vs {closed_history}"
    );

    // One series each, history and live: no counter ever went back.
    let range_s = (chrono::Utc::now().timestamp_millis() - from) / 1000 + 60;
    let scalar = |expr: String| {
        let client = client.clone();
        let prometheus = prometheus.clone();
        async move {
            let result = prometheus_api(
                &client,
                format!("{prometheus}/api/v1/query"),
                &[("query", expr)],
            )
            .await;
            // An empty vector: no series of that name in the job.
            result["result"][0]["value"][1]
                .as_str()
                .map_or(0.0, |v| v.parse::<f64>().unwrap())
        }
    };
    let names = prometheus_api(
        &client,
        format!("{prometheus}/api/v1/label/__name__/values"),
        &[],
    )
    .await;
    let counters: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| {
            // The window's summary has a _count and a _sum, over the window: not counters.
            n.starts_with("iadvize_")
                && !n.starts_with("iadvize_window_")
                && ["_total", "_bucket", "_count", "_sum"]
                    .iter()
                    .any(|s| n.ends_with(s))
        })
        .collect();
    let mut series = 0.0;
    for name in counters {
        let selector = format!("{name}{{job=\"{JOB}\"}}[{range_s}s]");
        // resets() drops the name: one query per family, summed.
        series += scalar(format!("count(resets({selector}))")).await;
        let resets = scalar(format!("sum(resets({selector}))")).await;
        assert_eq!(resets, 0.0, "{name} reset");
    }
    assert!(series > 100.0, "resets() saw {series} series");
    drop(exporter);
}

/// `backfill` with these flags after the demo account's: how it ended.
async fn refused(flags: &[&str]) -> common::Finished {
    let mut args = vec!["backfill", "--demo"];
    args.extend_from_slice(flags);
    run(&args, &[]).await
}

#[tokio::test]
async fn bad_input_exits_2_and_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("h.om");
    let out = out.to_str().unwrap();
    let future = rfc3339(chrono::Utc::now().timestamp_millis() + 3_600_000);
    let missing_dir = dir.path().join("no/such/dir/h.om");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--from",
                "2026-11-02T00:00:00Z",
                "--to",
                "2026-11-01T00:00:00Z",
                "--output",
                out,
            ],
            "--from",
        ),
        (vec!["--from", &future, "--output", out], "--from"),
        (vec!["--from", "yesterday", "--output", out], "--from"),
        (
            vec!["--from", "1h", "--step", "0s", "--output", out],
            "--step",
        ),
        (
            vec!["--from", "1h", "--output", missing_dir.to_str().unwrap()],
            "--output",
        ),
        (
            vec!["--from", "1h", "--label", "__name__=x", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "le=1", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "quantile=1", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "channel=x", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "project_id=1", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "1job=x", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "job-name=x", "--output", out],
            "--label",
        ),
        (
            vec!["--from", "1h", "--label", "job", "--output", out],
            "--label",
        ),
        (
            vec![
                "--from", "1h", "--label", "job=a", "--label", "job=b", "--output", out,
            ],
            "--label",
        ),
    ];
    for (flags, named) in cases {
        let done = refused(&flags).await;
        assert_eq!(done.code(), Some(2), "{flags:?}: {done}");
        assert!(
            done.stderr.contains(named),
            "{flags:?} does not name {named}: {done}"
        );
        assert!(!Path::new(out).exists(), "{flags:?} wrote {out}");
    }
    // Nothing but the refused runs' absence of output is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_existing_state_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.bin");
    std::fs::write(&state, b"an exporter's state").unwrap();
    let out = dir.path().join("h.om");
    let done = refused(&[
        "--from",
        "1h",
        "--output",
        out.to_str().unwrap(),
        "--state.file",
        state.to_str().unwrap(),
    ])
    .await;
    assert_eq!(done.code(), Some(2), "{done}");
    assert!(done.stderr.contains("--state.file"), "{done}");
    assert_eq!(std::fs::read(&state).unwrap(), b"an exporter's state");
    assert!(!out.exists());
}

#[tokio::test]
async fn the_demo_account_backfills_to_standard_output() {
    let done = refused(&["--from", "2h", "--step", "30m", "--output", "-"]).await;
    assert_eq!(done.code(), Some(0), "{done}");
    assert!(done.stdout.ends_with("# EOF\n"), "{}", done.stdout);
    // 30-minute steps over two hours, and the end: four or five sample times.
    let times: std::collections::BTreeSet<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("iadvize_conversations_closed_total"))
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert!((4..=5).contains(&times.len()), "{times:?}");
    assert!(done.stderr.contains("backfill done"), "{done}");
}

#[tokio::test]
async fn a_stopped_backfill_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("h.om");
    let state = dir.path().join("state.bin");
    let process = Process::spawn(
        common::BIN,
        &[
            "backfill",
            "--demo",
            "--from",
            "30d",
            "--output",
            out.to_str().unwrap(),
            "--state.file",
            state.to_str().unwrap(),
        ],
        &[],
    );
    eventually(Duration::from_secs(60), "the backfill is under way", || {
        let log = process.stderr_so_far();
        async move {
            if log.contains("backfill progress") {
                Ok(())
            } else {
                Err(log)
            }
        }
    })
    .await;
    process.terminate();
    let done = process.wait(Duration::from_secs(30)).await;
    assert_eq!(done.code(), Some(1), "{done}");
    assert!(done.stderr.contains("interrupted"), "{done}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // The state file's lock is the only file (as the exporter leaves it).
    assert_eq!(left, vec!["state.bin.lock".to_owned()], "{done}");
}
