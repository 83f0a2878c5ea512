//! `promtool check metrics` (the Prometheus project's own linter) on a live `/metrics` with
//! varied traffic and on the golden file, plus the OpenMetrics and gzip variants of a scrape.
//!
//! promtool comes with the Debian package `prometheus`; without it these tests fail, on
//! purpose, rather than pass having checked nothing.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{DEMO_PASSWORD, Exporter, Exposition, Polling, eventually, start_sim};
use iadvize_exporter::simulator::SimConfig;

/// Runs `promtool check metrics` on `exposition`; returns whether it succeeded, and all
/// it printed.
fn promtool_check_metrics(exposition: &[u8]) -> (bool, String) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not on the PATH: install it (Debian: apt-get install prometheus) \
             to run these tests"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = exposition.to_vec();
    // Written from another thread: promtool may print before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// Three projects, the whole channel mix, three currencies, and one conversation in
/// twenty with a defect. At 60 simulated minutes per real second, transactions (at most
/// one simulated hour after the close) come within a second.
fn varied_account() -> SimConfig {
    SimConfig {
        seed: 31,
        speed: 60.0,
        rate_per_hour: 60.0,
        history: Duration::from_secs(20),
        max_transaction_delay_hours: 1.0,
        bad_record_rate: 0.05,
        ..SimConfig::default()
    }
}

/// The `currency` values of the counted transactions.
fn currencies(exposition: &Exposition) -> BTreeSet<String> {
    exposition
        .family("iadvize_transaction_amount_count")
        .keys()
        .filter_map(|k| k.split("currency=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Families that must be present before the exposition is varied enough to be worth
/// checking: counters, histograms, a summary, gauges with and without labels.
const WANTED: [&str; 7] = [
    "iadvize_window_conversations{",
    "iadvize_window_conversation_duration_seconds{",
    "iadvize_transaction_amount_count{",
    "iadvize_csat_score_count{",
    "iadvize_nps_score_count{",
    "iadvize_invalid_records_total{",
    "iadvize_up 1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_pass_promtool_in_every_encoding() {
    let sim = start_sim(varied_account()).await;
    let url = sim.base_url();
    let polling = Polling {
        revisit_horizon: None,
        ..Polling::FAST
    };
    let exporter = Exporter::start(&polling.flags(&url, &[]), &DEMO_PASSWORD).await;

    let (text, exposition) = eventually(
        Duration::from_secs(30),
        "the exposition is varied enough",
        || async {
            let body = exporter.scrape_text().await;
            let missing: Vec<&str> = WANTED
                .iter()
                .copied()
                .filter(|w| !body.lines().any(|l| l.starts_with(w)))
                .collect();
            let exposition = Exposition::parse(&body);
            // Several label values, so that label handling is exercised.
            let currencies = currencies(&exposition);
            let window_series = exposition.family("iadvize_window_conversations").len();
            if missing.is_empty() && currencies.len() >= 2 && window_series >= 6 {
                Ok((body, exposition))
            } else {
                Err(format!(
                    "missing {missing:?}, currencies {currencies:?}, {window_series} window series"
                ))
            }
        },
    )
    .await;

    let (ok, printed) = promtool_check_metrics(text.as_bytes());
    assert!(
        ok,
        "promtool check metrics failed:\n{printed}\n--- input ---\n{text}"
    );
    assert_eq!(printed, "", "promtool check metrics complained");

    let client = reqwest::Client::new();
    let response = client
        .get(exporter.url("/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let openmetrics = response.text().await.unwrap();
    assert!(
        openmetrics.trim_end_matches('\n').ends_with("\n# EOF"),
        "{openmetrics}"
    );
    assert!(
        openmetrics.contains("# TYPE iadvize_up gauge"),
        "{openmetrics}"
    );

    // No gzip feature in reqwest here: the body arrives as the exporter sent it.
    let response = client
        .get(exporter.url("/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let compressed = response.bytes().await.unwrap();
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip magic bytes");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut decoded)
        .unwrap();
    let unzipped = Exposition::parse(&decoded);
    // Values move between scrapes; the series do not go away.
    for key in exposition.samples.keys() {
        if key.starts_with("iadvize_conversations_closed_total")
            || key.starts_with("iadvize_transaction_amount_count")
        {
            assert!(
                unzipped.samples.contains_key(key),
                "{key} missing after gzip"
            );
        }
    }
    let (ok, printed) = promtool_check_metrics(decoded.as_bytes());
    assert!(
        ok && printed.is_empty(),
        "promtool on the gunzipped body:\n{printed}"
    );

    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

#[test]
fn golden_exposition_passes_promtool() {
    let golden = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/exposition.txt"
    ))
    .unwrap();
    assert!(!golden.is_empty());
    let (ok, printed) = promtool_check_metrics(&golden);
    assert!(ok, "promtool check metrics failed:\n{printed}");
    assert_eq!(printed, "", "promtool check metrics complained");
}

/// The check itself can fail: a counter without `_total` is reported. Guards against a
/// promtool that accepts anything, or a helper that loses what it prints.
#[test]
fn promtool_does_complain_about_a_bad_exposition() {
    let bad = b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n";
    let (ok, printed) = promtool_check_metrics(bad);
    assert!(!ok);
    assert!(printed.contains("_total"), "{printed}");
}
