//! A long life with a steered clock: the exporter's clock and the simulated account's
//! move forward together, many revisit horizons in a few seconds. The ledger (and so
//! memory and the state file) must hold what the horizon holds, not every conversation
//! ever seen, while every counter stays exact.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, Polling, agrees, business_view, diff, eventually, expected_from_truth,
    start_sim,
};
use iadvize_exporter::simulator::{SimConfig, SimHandle};
use iadvize_exporter::state_file as state;

/// Moves both clocks forward by `by`.
fn step(sim: &SimHandle, offset: &AtomicI64, by: Duration) {
    sim.advance_clock(by);
    offset.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
}

fn sim_now(offset: &AtomicI64) -> f64 {
    (chrono::Utc::now().timestamp_millis() + offset.load(Ordering::Relaxed)) as f64 / 1000.0
}

fn conversations_closed(sim: &SimHandle, since: f64, until: f64) -> f64 {
    sim.truth(since, Some(until))
        .conversations
        .iter()
        .map(|r| r.count as f64)
        .sum()
}

/// Waits for a poll that ended after the clock read `after` (Unix seconds).
async fn a_poll_after(exporter: &Exporter, after: f64) -> common::Exposition {
    eventually(Duration::from_secs(20), "a poll after the step", || async {
        let scrape = exporter.scrape().await;
        match scrape.get("iadvize_last_successful_poll_timestamp_seconds", &[]) {
            Some(t) if t >= after => Ok(scrape),
            other => Err(format!(
                "last successful poll {other:?}, waiting for {after}"
            )),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_holds_one_horizon_over_many_horizons() {
    // 20 conversations a second of the account's clock, late answers and transactions
    // within a second of the close (well inside the 5 s horizon).
    let sim = start_sim(SimConfig {
        seed: 7,
        speed: 60.0,
        rate_per_hour: 20.0,
        history: Duration::ZERO,
        max_transaction_delay_hours: 1.0,
        ..SimConfig::default()
    })
    .await;
    let url = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    let state_arg = state_file.to_str().unwrap().to_owned();
    let offset = Arc::new(AtomicI64::new(0));
    let horizon = 5.0;
    let interval = 0.2;
    let polling = Polling {
        interval: "200ms",
        overlap: Some("1s"),
        revisit_interval: "200ms",
        revisit_horizon: Some("5s"),
    };
    let flags = polling.flags(
        &url,
        &["--metrics.window", "5s", "--state.file", &state_arg],
    );
    let exporter = Exporter::start_with_clock_offset(&flags, &DEMO_PASSWORD, offset.clone()).await;

    // Sixty steps of 1 s, each a quarter of a second apart: 75 s of the account's life,
    // fifteen horizons, about 1,500 conversations.
    let step_size = Duration::from_secs(1);
    let mut peak_tracked = 0.0_f64;
    for i in 0..60 {
        step(&sim, &offset, step_size);
        tokio::time::sleep(Duration::from_millis(250)).await;
        if i % 10 == 9 {
            let now = sim_now(&offset);
            let scrape = a_poll_after(&exporter, now - 0.1).await;
            let tracked = scrape.get("iadvize_tracked_conversations", &[]).unwrap();
            // What no later read can reach is gone: the ledger holds the horizon, one
            // step the clock may have moved since the last prune, two poll intervals of
            // margin, and one second for timing.
            let reach = horizon + 1.0 + 2.0 * interval + 1.0;
            let bound = conversations_closed(&sim, now - reach, now + 1.0);
            assert!(
                tracked <= bound,
                "step {i}: {tracked} tracked, but only {bound} closed in the last {reach} s"
            );
            peak_tracked = peak_tracked.max(tracked);
        }
    }
    let start = exporter.counting_start_seconds();
    let now = sim_now(&offset);
    let lifetime = conversations_closed(&sim, start, now);
    assert!(lifetime > 1000.0, "a long life: {lifetime} conversations");
    assert!(
        peak_tracked < lifetime / 5.0,
        "the ledger stays far below the lifetime: {peak_tracked} of {lifetime}"
    );

    // Pruning forgot nothing it still needed: every counter equals the truth.
    eventually(Duration::from_secs(20), "exact counts", || async {
        let expected = expected_from_truth(&sim.truth(start, None));
        agrees(&exporter.scrape().await, &expected)
    })
    .await;

    exporter.stop().await.unwrap();
    // The state file holds the same bounded ledger.
    let saved = state::load(&state_file).unwrap().unwrap();
    let now = sim_now(&offset);
    let bound = conversations_closed(&sim, now - (horizon + 2.0 * interval + 2.0), now + 1.0);
    assert!(
        (saved.ledger.tracked() as f64) <= bound,
        "the state file keeps {} conversations, the horizon holds {bound}",
        saved.ledger.tracked()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_moved_past_the_horizon_forgets_everything_before_it() {
    // Default horizon (48 h), window and overlap; traffic that stops after 4 s.
    let sim = start_sim(SimConfig {
        seed: 8,
        speed: 60.0,
        rate_per_hour: 30.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(4)),
        max_transaction_delay_hours: 1.0,
        ..SimConfig::default()
    })
    .await;
    let url = sim.base_url();
    let offset = Arc::new(AtomicI64::new(0));
    let polling = Polling {
        interval: "200ms",
        overlap: None,
        revisit_interval: "200ms",
        revisit_horizon: None,
    };
    let exporter = Exporter::start_with_clock_offset(
        &polling.flags(&url, &[]),
        &DEMO_PASSWORD,
        offset.clone(),
    )
    .await;
    let complete_at = sim.complete_at().unwrap();
    common::sleep_until_unix(complete_at + 0.5).await;
    let start = exporter.counting_start_seconds();
    let expected = expected_from_truth(&sim.truth(start, None));
    let tracked = eventually(
        Duration::from_secs(20),
        "every conversation read",
        || async {
            let scrape = exporter.scrape().await;
            let d = diff(&business_view(&scrape), &expected);
            if d.is_empty() {
                Ok(scrape.get("iadvize_tracked_conversations", &[]).unwrap())
            } else {
                Err(d)
            }
        },
    )
    .await;
    assert!(tracked >= 100.0, "{tracked} tracked before the step");

    // 72 h later, past the 48 h horizon: nothing can be read again, nothing is kept.
    step(&sim, &offset, Duration::from_secs(72 * 3600));
    let after = sim_now(&offset);
    let scrape = a_poll_after(&exporter, after).await;
    eventually(Duration::from_secs(10), "the ledger empties", || async {
        let scrape = exporter.scrape().await;
        match scrape.get("iadvize_tracked_conversations", &[]) {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?} tracked")),
        }
    })
    .await;
    // And the counters keep what was counted.
    assert_eq!(diff(&business_view(&scrape), &expected), "");
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}
