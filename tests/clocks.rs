//! Clocks that disagree: iAdvize's hours ahead of ours or behind, and our own clock
//! stepping back or jumping ahead while the exporter runs. The simulated account dates
//! its answers (`Date`) and its conversations on its own clock; the exporter's clock is
//! steered apart from it. Counting must stay exact, no interval may be inverted, and the
//! watermark must never run ahead of the account's clock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, agrees, conversations_closed, eventually, expected_from_truth,
    fast_poll_flags, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{SimConfig, SimHandle};

const HOUR_MS: i64 = 3_600_000;

/// About 250 conversations a second for `seconds`, transactions within a second or two.
fn busy_account(seed: u64, seconds: u64) -> SimConfig {
    SimConfig {
        seed,
        speed: 60.0,
        rate_per_hour: 250.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(seconds)),
        max_transaction_delay_hours: 2.0,
        ..SimConfig::default()
    }
}

fn now_seconds() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// The exporter's counters must be the truth from one instant on: its counting start,
/// taken on our clock and carried to iAdvize's by a `Date` estimate good to about a
/// second. That instant is searched within `[around - 2 s, around + 2 s]` (the
/// conversations closed from it on are the counters' total; the count falls as the
/// instant moves later), then every business series must equal the truth from it.
async fn counts_are_exact_from_one_instant_near(
    exporter: &Exporter,
    sim: &SimHandle,
    around: f64,
) -> f64 {
    eventually(
        Duration::from_secs(30),
        "the counters are the truth from one instant near the start",
        || async {
            let scrape = exporter.scrape().await;
            let counted = scrape.sum("iadvize_conversations_closed_total");
            let total = |since_ms: i64| {
                sim.truth(since_ms as f64 / 1000.0, None)
                    .conversations
                    .iter()
                    .map(|r| r.count as f64)
                    .sum::<f64>()
            };
            let (mut lo, mut hi) = (
                (around * 1000.0) as i64 - 2000,
                (around * 1000.0) as i64 + 2000,
            );
            if !(total(hi) <= counted && counted <= total(lo)) {
                return Err(format!(
                    "{counted} counted; the truth from {lo} ms is {}, from {hi} ms {}",
                    total(lo),
                    total(hi)
                ));
            }
            // The earliest instant whose total is no more than what was counted.
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if total(mid) <= counted {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let since = lo as f64 / 1000.0;
            agrees(&scrape, &expected_from_truth(&sim.truth(since, None)))?;
            Ok(since)
        },
    )
    .await
}

async fn iadvize_apart_from_us_by(offset_ms: i64, seed: u64) {
    let sim = start_sim(busy_account(seed, 6)).await;
    let url = sim.base_url();
    let flags = fast_poll_flags(&url, &[]);
    let offset = Arc::new(AtomicI64::new(offset_ms));
    let exporter = Exporter::start_with_clock_offset(&flags, &DEMO_PASSWORD, offset).await;
    let complete_at = sim.complete_at().expect("finite traffic");
    sleep_until_unix(complete_at).await;

    // Counting started when the exporter did, on the account's clock.
    let start = exporter.counting_start_seconds() - offset_ms as f64 / 1000.0;
    counts_are_exact_from_one_instant_near(&exporter, &sim, start).await;
    let scrape = exporter.scrape().await;
    assert!(
        conversations_closed(&business(&scrape)) > 1000.0,
        "the exporter counted what closed"
    );
    // The window holds everything the account has (all of it within the hour).
    let everything = sim.truth(start - 3600.0, None);
    let in_window: u64 = everything.conversations.iter().map(|r| r.count).sum();
    assert_eq!(scrape.sum("iadvize_window_conversations"), in_window as f64);
    let skew = scrape.get("iadvize_clock_skew_seconds", &[]).unwrap();
    let expected = -offset_ms as f64 / 1000.0;
    assert!(
        (skew - expected).abs() <= 2.0,
        "skew {skew}, expected about {expected}"
    );
    let watermark = scrape
        .get("iadvize_data_watermark_timestamp_seconds", &[])
        .unwrap();
    assert!(
        watermark <= now_seconds() + 1.0 && watermark > complete_at - 60.0,
        "watermark {watermark} on the account's clock"
    );
    assert_eq!(sim.stats().inverted_intervals, 0);
}

fn business(scrape: &common::Exposition) -> std::collections::BTreeMap<String, f64> {
    common::business_view(scrape)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iadvize_three_hours_ahead_of_us() {
    iadvize_apart_from_us_by(-3 * HOUR_MS, 31).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iadvize_three_hours_behind_us() {
    iadvize_apart_from_us_by(3 * HOUR_MS, 32).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iadvize_minutes_ahead_of_us() {
    iadvize_apart_from_us_by(-4 * 60_000, 33).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_clock_steps_back_an_hour_then_jumps_ahead_for_three_seconds() {
    let sim = start_sim(busy_account(34, 10)).await;
    let url = sim.base_url();
    let flags = fast_poll_flags(&url, &[]);
    let offset = Arc::new(AtomicI64::new(0));
    let exporter = Exporter::start_with_clock_offset(&flags, &DEMO_PASSWORD, offset.clone()).await;
    let start = exporter.counting_start_seconds();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // NTP steps our clock back an hour.
    offset.store(-HOUR_MS, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Then it jumps an hour ahead of the truth for three seconds, and is corrected.
    offset.store(HOUR_MS, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    offset.store(0, Ordering::Relaxed);
    let complete_at = sim.complete_at().expect("finite traffic");
    sleep_until_unix(complete_at).await;

    counts_are_exact_from_one_instant_near(&exporter, &sim, start).await;
    let scrape = exporter.scrape().await;
    assert!(conversations_closed(&business(&scrape)) > 2000.0);
    let watermark = scrape
        .get("iadvize_data_watermark_timestamp_seconds", &[])
        .unwrap();
    assert!(
        watermark <= now_seconds() + 1.0,
        "the watermark {watermark} ran ahead of the account's clock ({})",
        now_seconds()
    );
    assert!(
        watermark > complete_at - 5.0,
        "the watermark {watermark} went on after the steps"
    );
    assert_eq!(sim.stats().inverted_intervals, 0);
    let skew = scrape.get("iadvize_clock_skew_seconds", &[]).unwrap();
    assert!(skew.abs() <= 2.0, "skew {skew} once our clock is right");
}
