//! Exemplars end to end: a real Prometheus with exemplar storage scrapes the exporter
//! (OpenMetrics) while it counts a simulated account, and every exemplar it returns must
//! lead to a real conversation of the account that belongs in that series and bucket.

mod common;

use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, eventually, fast_poll_flags, free_port, sleep_until_unix,
    start_prometheus, start_sim, until_ok,
};
use iadvize_exporter::config::MetricsConfig;
use iadvize_exporter::simulator::{SimConfig, SimHandle};
use serde_json::Value;

/// `(series labels, conversation_id, value)` of every exemplar Prometheus holds for
/// `metric` over the last ten minutes.
async fn exemplars(prometheus: &str, metric: &str) -> Vec<(Value, String, f64)> {
    let now = chrono::Utc::now().timestamp();
    let body: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query_exemplars"))
        .query(&[
            ("query", metric.to_owned()),
            ("start", (now - 600).to_string()),
            ("end", (now + 60).to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let mut out = Vec::new();
    for series in body["data"].as_array().into_iter().flatten() {
        for e in series["exemplars"].as_array().into_iter().flatten() {
            let id = e["labels"]["conversation_id"].as_str().unwrap().to_owned();
            let value: f64 = e["value"].as_str().unwrap().parse().unwrap();
            out.push((series["seriesLabels"].clone(), id, value));
        }
    }
    out
}

/// The bucket `(lower, upper]` a series' `le` names, among `bounds`.
fn bucket(labels: &Value, bounds: &[f64]) -> (f64, f64) {
    let le = labels["le"].as_str().unwrap();
    let upper: f64 = if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().unwrap()
    };
    let lower = bounds
        .iter()
        .copied()
        .filter(|b| *b < upper)
        .fold(f64::NEG_INFINITY, f64::max);
    (lower, upper)
}

fn check(sim: &SimHandle, exemplars: &[(Value, String, f64)], bounds: &[f64], what: &str) {
    for (labels, id, value) in exemplars {
        let facts = sim
            .conversation(id)
            .unwrap_or_else(|| panic!("{what}: {id} is no conversation of the account"));
        assert_eq!(
            labels["project_id"],
            facts.project_id.as_str(),
            "{what}: {id}"
        );
        assert_eq!(labels["channel"], facts.channel.as_str(), "{what}: {id}");
        let observed = match what {
            "duration" => facts.duration_seconds.unwrap(),
            _ => f64::from(facts.csat.unwrap()),
        };
        assert!(
            (observed - value).abs() < 1e-6,
            "{what}: {id} has {observed}, its exemplar says {value}"
        );
        let (lower, upper) = bucket(labels, bounds);
        assert!(
            lower < *value && *value <= upper,
            "{what}: {value} outside the bucket ({lower}, {upper}] of {labels}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_exemplars_lead_to_the_conversations_in_their_buckets() {
    let sim = start_sim(SimConfig {
        seed: 41,
        speed: 60.0,
        rate_per_hour: 100.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(8)),
        max_transaction_delay_hours: 1.0,
        ..SimConfig::default()
    })
    .await;
    let exporter = Exporter::start(&fast_poll_flags(&sim.base_url(), &[]), &DEMO_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let target = exporter
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let _prometheus = start_prometheus(dir.path(), "iadvize", &target, port, &[]);
    let prometheus = format!("http://127.0.0.1:{port}");
    until_ok(
        &reqwest::Client::new(),
        &format!("{prometheus}/-/ready"),
        Duration::from_secs(30),
        "Prometheus is ready",
    )
    .await;
    sleep_until_unix(sim.complete_at().expect("finite traffic")).await;

    let durations = eventually(
        Duration::from_secs(30),
        "Prometheus holds duration and CSAT exemplars",
        || async {
            let d = exemplars(&prometheus, "iadvize_conversation_duration_seconds_bucket").await;
            let c = exemplars(&prometheus, "iadvize_csat_score_bucket").await;
            if d.len() >= 10 && c.len() >= 5 {
                Ok((d, c))
            } else {
                Err(format!(
                    "{} duration and {} CSAT exemplars",
                    d.len(),
                    c.len()
                ))
            }
        },
    )
    .await;
    let (duration, csat) = durations;
    check(
        &sim,
        &duration,
        &MetricsConfig::default().duration_buckets,
        "duration",
    );
    check(&sim, &csat, &[1.0, 2.0, 3.0, 4.0, 5.0], "csat");

    // The Prometheus text format carries none.
    let text = exporter.scrape_text().await;
    assert!(text.contains("iadvize_csat_score_bucket"));
    assert!(!text.contains(" # {"), "exemplars in the text format");
}
