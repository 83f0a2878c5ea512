//! The exporter against the simulated iAdvize account over real HTTP: its counters must
//! equal the simulator's ground truth exactly, for each query shape, with late survey
//! answers and late transactions spread over many pages.

mod common;

use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, agrees, business_view, conversations_closed, diff, eventually,
    expected_from_truth, fast_poll_flags, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{Offer, SimConfig};

/// About 1,500 conversations closing over 6 s (15+ pages a pass), transactions up to 3 s
/// (three simulated hours) after the close. At 60 simulated minutes per real second, a
/// rate per simulated hour is a rate per real second.
fn busy_account(offer: Offer, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        speed: 60.0,
        rate_per_hour: 250.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(6)),
        max_transaction_delay_hours: 3.0,
        offer,
        ..SimConfig::default()
    }
}

async fn counts_match_the_truth(offer: Offer, query: &str, seed: u64) {
    let sim = start_sim(busy_account(offer, seed)).await;
    let url = sim.base_url();
    let flags = fast_poll_flags(&url, &["--iadvize.query", query]);
    let exporter = Exporter::start(&flags, &DEMO_PASSWORD).await;
    let complete_at = sim.complete_at().expect("finite traffic");
    sleep_until_unix(complete_at).await;

    let since = exporter.counting_start_seconds();
    let expected = expected_from_truth(&sim.truth(since, None));
    let conversations = conversations_closed(&expected);
    assert!(
        conversations > 1000.0,
        "the dataset spans many pages: {conversations}"
    );
    let late_transactions = expected
        .keys()
        .any(|k| k.starts_with("iadvize_transaction_amount_count"));
    assert!(late_transactions, "the dataset has transactions");

    eventually(
        Duration::from_secs(30),
        "the exporter shows the truth",
        || async { agrees(&exporter.scrape().await, &expected) },
    )
    .await;

    // Later polls and revisits re-read the same conversations: nothing moves.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        diff(&business_view(&scrape), &expected),
        "",
        "counts moved after convergence"
    );
    // The window also holds what closed before the start (read, never counted).
    let window_truth = sim.truth(since - 3600.0, None);
    let in_window: u64 = window_truth.conversations.iter().map(|r| r.count).sum();
    assert!(in_window as f64 >= conversations);
    assert_eq!(scrape.sum("iadvize_window_conversations"), in_window as f64);
    // iAdvize's two indicators, from their parts: answers of 4 or 5, and transactions.
    let satisfied: u64 = window_truth
        .csat
        .iter()
        .map(|r| r.buckets["4"] + r.buckets["5"])
        .sum();
    assert!(satisfied > 0);
    assert_eq!(
        scrape.sum("iadvize_window_csat_satisfied"),
        satisfied as f64
    );
    // One name per project, one the account served ("" for a null name).
    let info = scrape.family("iadvize_project_info");
    for (project, names) in &window_truth.project_names {
        let series: Vec<&String> = info
            .keys()
            .filter(|k| k.contains(&format!("project_id=\"{project}\"")))
            .collect();
        assert_eq!(series.len(), 1, "project {project}: {series:?}");
        assert!(
            names.iter().any(
                |name| series[0].contains(&format!("project_name=\"{name}\""))
                    || series[0]
                        .contains(&format!("project_name=\"{}\"", name.replace('"', "\\\"")))
            ),
            "project {project}: {series:?} not among {names:?}"
        );
    }
    // The account has a project with a null name and one with a quote in it.
    assert!(
        window_truth
            .project_names
            .values()
            .any(|names| names.contains(""))
    );
    assert!(
        window_truth
            .project_names
            .values()
            .any(|names| names.iter().any(|n| n.contains('"')))
    );
    let transactions: u64 = window_truth.transactions.iter().map(|r| r.count).sum();
    assert!(transactions > 0);
    assert_eq!(
        scrape.sum("iadvize_window_transactions"),
        transactions as f64
    );
    assert!(
        scrape
            .get("iadvize_conversations_fetched_total", &[])
            .unwrap()
            >= conversations
    );
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));
    let stats = sim.stats();
    assert_eq!(stats.retry_after_violations, 0);
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_closed_conversations_shape_counts_exactly() {
    counts_match_the_truth(Offer::Both, "searchClosedConversations", 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_conversations_shape_counts_exactly() {
    counts_match_the_truth(Offer::Both, "closedConversations", 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_finds_the_search_shape() {
    counts_match_the_truth(Offer::Search, "auto", 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_finds_the_closed_shape() {
    counts_match_the_truth(Offer::Closed, "auto", 14).await;
}

/// Conversations that closed before the start fill the window gauges at once, and are
/// not counted, nor are their answers that arrive later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_reads_the_window_without_counting_it() {
    let sim = start_sim(SimConfig {
        seed: 21,
        speed: 60.0,
        rate_per_hour: 5.0,
        history: Duration::from_secs(10 * 60),
        traffic_duration: Some(Duration::ZERO),
        max_transaction_delay_hours: 2.0,
        ..SimConfig::default()
    })
    .await;
    let url = sim.base_url();
    let flags = fast_poll_flags(&url, &["--iadvize.query", "auto", "--metrics.window", "1h"]);
    let exporter = Exporter::start(&flags, &DEMO_PASSWORD).await;
    exporter.wait_ready(Duration::from_secs(10)).await;
    let start = exporter.counting_start_seconds();

    let truth = sim.truth(start - 3600.0, Some(start));
    let in_window: u64 = truth.conversations.iter().map(|r| r.count).sum();
    assert!(
        in_window > 100,
        "history gives the window something: {in_window}"
    );
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.sum("iadvize_window_conversations"), in_window as f64);
    assert_eq!(scrape.sum("iadvize_conversations_closed_total"), 0.0);

    // Let late answers and transactions of those old conversations arrive.
    sleep_until_unix(sim.complete_at().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.sum("iadvize_conversations_closed_total"), 0.0);
    assert_eq!(scrape.sum("iadvize_csat_score_count"), 0.0);
    assert_eq!(scrape.sum("iadvize_transaction_amount_count"), 0.0);
    let truth = sim.truth(start - 3600.0, None);
    let csat: u64 = truth.csat.iter().map(|r| r.count).sum();
    eventually(
        Duration::from_secs(10),
        "late answers reach the window",
        || async {
            let got = exporter.scrape().await.sum("iadvize_window_csat_responses");
            if got == csat as f64 {
                Ok(())
            } else {
                Err(format!("{got} != {csat}"))
            }
        },
    )
    .await;
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}
