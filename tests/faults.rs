//! The exporter against a misbehaving simulated iAdvize account, over real HTTP: expiring
//! and revoked tokens, rate limits, server errors, cut bodies, slow answers, an outage.
//! Whatever happens on the way, every case ends with counts exactly equal to the
//! simulator's ground truth.

mod common;

use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, Exposition, agrees, business_view, conversations_closed, diff,
    eventually, expected_from_truth, fast_poll_flags, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{Faults, SimConfig, SimHandle};

/// Traffic closing over `seconds` real seconds at `per_second` conversations a second,
/// transactions up to `transaction_delay` real seconds after the close. At 60 simulated
/// minutes per real second, a rate per simulated hour is a rate per real second.
fn account(seed: u64, per_second: f64, seconds: u64, transaction_delay: f64) -> SimConfig {
    SimConfig {
        seed,
        speed: 60.0,
        rate_per_hour: per_second,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(seconds)),
        max_transaction_delay_hours: transaction_delay,
        ..SimConfig::default()
    }
}

/// The exporter on `sim` with the flags of `tests/exact_counts.rs`, plus `extra`.
async fn start(sim: &SimHandle, extra: &[&str]) -> Exporter {
    Exporter::start(&fast_poll_flags(&sim.base_url(), extra), &DEMO_PASSWORD).await
}

/// Waits until the simulator has handed out `n` tokens.
async fn until_logins(sim: &SimHandle, n: u64, limit: Duration, what: &str) {
    eventually(limit, what, || async {
        let logins = sim.stats().logins;
        if logins >= n {
            Ok(())
        } else {
            Err(format!("{logins} logins"))
        }
    })
    .await;
}

/// Once the traffic is complete, waits until the exporter shows the truth exactly, checks
/// that later polls do not move it, and returns the last scrape.
async fn converges_to_the_truth(
    sim: &SimHandle,
    exporter: &Exporter,
    limit: Duration,
    min_conversations: f64,
) -> Exposition {
    sleep_until_unix(sim.complete_at().expect("finite traffic")).await;
    let since = exporter.counting_start_seconds();
    let expected = expected_from_truth(&sim.truth(since, None));
    let conversations = conversations_closed(&expected);
    assert!(
        conversations >= min_conversations,
        "the dataset is big enough: {conversations}"
    );
    eventually(limit, "the exporter shows the truth", || async {
        agrees(&exporter.scrape().await, &expected)
    })
    .await;
    // Re-reads of the same conversations (overlap, revisits, retried pages) move nothing.
    // Six passes hold a revisit at least: one is due every fourth or fifth fresh pass.
    // Under faults a pass can take seconds, hence the long limit.
    let before = exporter.scrape().await.get("iadvize_polls_total", &[]);
    eventually(Duration::from_secs(60), "more polls ran", || async {
        let now = exporter.scrape().await.get("iadvize_polls_total", &[]);
        match (before, now) {
            (Some(b), Some(n)) if n >= b + 6.0 => Ok(()),
            _ => Err(format!("{before:?} -> {now:?}")),
        }
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        diff(&business_view(&scrape), &expected),
        "",
        "counts moved after convergence"
    );
    scrape
}

/// The most logins that fall in any 60 s window.
fn most_logins_in_a_minute(times: &[f64]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|&&t| t - sorted[i] < 60.0)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn most_logins_in_a_minute_counts_a_sliding_window() {
    assert_eq!(most_logins_in_a_minute(&[]), 0);
    // [5, 65) holds 5, 59.9, 60 and 61; [0, 60) only 0, 5 and 59.9.
    assert_eq!(most_logins_in_a_minute(&[5.0, 0.0, 59.9, 60.0, 61.0]), 4);
    assert_eq!(most_logins_in_a_minute(&[0.0, 100.0, 200.0]), 1);
}

/// Tokens live 2 s and every 13th GraphQL request revokes them all, while about 1,000
/// conversations close: the exporter renews ahead of expiry and logs in again after a
/// 401. That needs far more logins than iAdvize's 10 a minute, so the exporter spends its
/// login budget within seconds and must wait for it (about a minute) without ever asking
/// for an 11th token; iAdvize would block it for longer. Once it has spent the budget and
/// the traffic is complete, the fault stops, and the test ends with the exporter up again,
/// counting exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_and_revoked_tokens() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            token_lifetime_seconds: Some(2.0),
            revoke_every: 13,
            ..Faults::default()
        },
        ..account(31, 200.0, 5, 2.0)
    })
    .await;
    let exporter = start(&sim, &[]).await;
    sleep_until_unix(sim.complete_at().expect("finite traffic")).await;
    // Renewals alone (every 1.6 s) spend the budget within 16 s.
    until_logins(&sim, 10, Duration::from_secs(30), "ten logins").await;
    // Tokens issued from now on live the default 24 h.
    sim.set_faults(Faults::default());
    eventually(
        Duration::from_secs(90),
        "a long-lived token, once the budget allows a login",
        || async {
            let scrape = exporter.scrape().await;
            let expiry = scrape.get("iadvize_token_expiry_timestamp_seconds", &[]);
            let in_an_hour = chrono::Utc::now().timestamp() as f64 + 3600.0;
            if expiry.is_some_and(|e| e > in_an_hour) && up(&scrape) == Some(1.0) {
                Ok(())
            } else {
                Err(format!("token expiry {expiry:?}, up {:?}", up(&scrape)))
            }
        },
    )
    .await;
    let scrape = converges_to_the_truth(&sim, &exporter, Duration::from_secs(30), 800.0).await;

    let renewals = scrape.get("iadvize_token_renewals_total", &[]).unwrap();
    let stats = sim.stats();
    assert_eq!(stats.logins as f64, renewals, "every login is counted");
    assert!(stats.unauthorized > 0, "no 401 was answered: {stats:?}");
    assert!(stats.faults.get("revoked").is_some_and(|n| *n > 0));
    assert_eq!(
        stats.logins_refused_rate_limit, 0,
        "the simulator refused logins: {stats:?}"
    );
    // Ten logins came within the first 16 s, and not one more before the minute was over.
    assert_eq!(
        most_logins_in_a_minute(&stats.login_times),
        10,
        "{:?}",
        stats.login_times
    );
    // While it waited for its budget, its polls failed.
    assert!(scrape.get("iadvize_poll_failures_total", &[]).unwrap() > 0.0);
    assert_eq!(stats.retry_after_violations, 0);
    assert_eq!(up(&scrape), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// 15 % of GraphQL requests get a 429 asking to wait 1 s: the exporter waits as told,
/// retries, and counts exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_with_retry_after() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            http_429: 0.15,
            retry_after_seconds: 1,
            ..Faults::default()
        },
        ..account(32, 120.0, 5, 2.0)
    })
    .await;
    let exporter = start(&sim, &[]).await;
    let scrape = converges_to_the_truth(&sim, &exporter, Duration::from_secs(40), 450.0).await;

    let stats = sim.stats();
    assert!(stats.faults.get("429").is_some_and(|n| *n > 0), "{stats:?}");
    assert_eq!(stats.retry_after_violations, 0, "{stats:?}");
    let graphql = |name: &str, label: &str, value: &str| {
        scrape
            .get(name, &[("endpoint", "graphql"), (label, value)])
            .unwrap_or(0.0)
    };
    assert!(graphql("iadvize_api_retries_total", "reason", "rate_limited") > 0.0);
    assert!(graphql("iadvize_api_requests_total", "code", "429") > 0.0);
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// About a third of GraphQL requests fail, in every way the simulator knows, all through
/// the run: 500, 503, 429, a body cut in half, a retryable GraphQL error, and answers
/// slower than `--iadvize.timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_of_failures() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            http_500: 0.07,
            http_503: 0.07,
            http_429: 0.05,
            retry_after_seconds: 1,
            truncated: 0.07,
            graphql_error: 0.07,
            slow: 0.05,
            slow_delay_ms: 1500,
            ..Faults::default()
        },
        ..account(33, 100.0, 6, 2.0)
    })
    .await;
    let exporter = start(&sim, &["--iadvize.timeout", "1s"]).await;
    // Faults are drawn at random: run until each kind has struck at least once, so that
    // the checks below do not depend on luck.
    const KINDS: [&str; 6] = ["500", "503", "429", "truncated", "graphql_error", "slow"];
    eventually(
        Duration::from_secs(40),
        "every kind of fault struck",
        || async {
            let stats = sim.stats();
            let missing: Vec<&str> = KINDS
                .into_iter()
                .filter(|kind| stats.faults.get(*kind).is_none_or(|n| *n == 0))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("not yet: {missing:?}"))
            }
        },
    )
    .await;
    let scrape = converges_to_the_truth(&sim, &exporter, Duration::from_secs(40), 500.0).await;

    let stats = sim.stats();
    // A slow answer is cut off by the client's timeout before its fault (if any) is
    // counted, so the five kinds below replace 0.95 x (1 - 0.93^4 x 0.95) = 27.5 % of the
    // answers. Under 12 % over the 70 or more requests of a run would be 3 standard
    // deviations off: the mix did not run as configured.
    let replaced: u64 = KINDS[..5]
        .iter()
        .map(|kind| stats.faults.get(*kind).copied().unwrap_or(0))
        .sum();
    assert!(
        replaced as f64 >= 0.12 * stats.graphql_requests as f64,
        "too few faults to be a test: {stats:?}"
    );
    assert_eq!(stats.retry_after_violations, 0, "{stats:?}");
    let retries = |reason: &str| {
        scrape
            .get(
                "iadvize_api_retries_total",
                &[("endpoint", "graphql"), ("reason", reason)],
            )
            .unwrap_or(0.0)
    };
    for reason in [
        "server_error",
        "rate_limited",
        "invalid_response",
        "timeout",
    ] {
        assert!(retries(reason) > 0.0, "no retry for {reason}");
    }
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

fn up(scrape: &Exposition) -> Option<f64> {
    scrape.get("iadvize_up", &[])
}

fn watermark(scrape: &Exposition) -> Option<f64> {
    scrape.get("iadvize_data_watermark_timestamp_seconds", &[])
}

/// Waits until the exporter has counted something with a successful poll.
async fn counting(exporter: &Exporter) -> Exposition {
    eventually(Duration::from_secs(20), "counting", || async {
        let scrape = exporter.scrape().await;
        let counted = scrape.sum("iadvize_conversations_closed_total");
        if up(&scrape) == Some(1.0) && counted > 0.0 {
            Ok(scrape)
        } else {
            Err(format!("up {:?}, counted {counted}", up(&scrape)))
        }
    })
    .await
}

/// Every GraphQL request gets a 503 while conversations keep closing: the exporter reports
/// itself down, its watermark stops, `/metrics` keeps answering, and once iAdvize is back
/// the counts catch up exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage() {
    let sim = start_sim(account(34, 40.0, 20, 1.0)).await;
    let exporter = start(&sim, &[]).await;
    exporter.wait_ready(Duration::from_secs(20)).await;
    counting(&exporter).await;

    sim.set_faults(Faults {
        http_503: 1.0,
        ..Faults::default()
    });
    // A poll fails only once its retries are spent (about 8 to 16 s of backoff).
    let down = eventually(Duration::from_secs(40), "iadvize_up goes to 0", || async {
        let scrape = exporter.scrape().await;
        if up(&scrape) == Some(0.0) {
            Ok(scrape)
        } else {
            Err(format!("up {:?}", up(&scrape)))
        }
    })
    .await;
    let stopped_at = watermark(&down).expect("a watermark after the start-up read");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let scrape = exporter.scrape().await;
        assert_eq!(up(&scrape), Some(0.0));
        assert_eq!(watermark(&scrape), Some(stopped_at), "the watermark moved");
    }
    let failures = down.get("iadvize_poll_failures_total", &[]).unwrap();
    assert!(failures > 0.0);
    assert!(sim.stats().faults.get("503").is_some_and(|n| *n >= 6));

    sim.set_faults(Faults::default());
    let scrape = converges_to_the_truth(&sim, &exporter, Duration::from_secs(40), 600.0).await;
    assert_eq!(up(&scrape), Some(1.0));
    assert!(watermark(&scrape).unwrap() > stopped_at);
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// A GraphQL error the API says not to retry fails the poll at once; polls succeed again
/// once it stops, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_graphql_error() {
    let sim = start_sim(account(35, 60.0, 8, 1.0)).await;
    let exporter = start(&sim, &[]).await;
    exporter.wait_ready(Duration::from_secs(20)).await;
    let before = counting(&exporter).await;
    let failures_before = before.get("iadvize_poll_failures_total", &[]).unwrap();

    sim.set_faults(Faults {
        graphql_error_no_retry: 1.0,
        ..Faults::default()
    });
    let down = eventually(Duration::from_secs(10), "the poll fails", || async {
        let scrape = exporter.scrape().await;
        let failures = scrape.get("iadvize_poll_failures_total", &[]).unwrap();
        if up(&scrape) == Some(0.0) && failures > failures_before {
            Ok(scrape)
        } else {
            Err(format!("up {:?}, failures {failures}", up(&scrape)))
        }
    })
    .await;
    // Not retried: one request per failed poll.
    let retries = down.sum("iadvize_api_retries_total");
    assert_eq!(
        retries,
        before.sum("iadvize_api_retries_total"),
        "a NO_RETRY error was retried"
    );

    sim.set_faults(Faults::default());
    let scrape = converges_to_the_truth(&sim, &exporter, Duration::from_secs(30), 400.0).await;
    assert_eq!(up(&scrape), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// A login held back by a `Retry-After` counts for iAdvize when it arrives, not when the
/// exporter decided to send it. Tokens live 5 s (renewed after 4 s) and every GraphQL
/// request gets a 429 asking to wait 4 s, so renewals are decided during a hold and sent
/// when it ends, up to 4 s later. Once ten logins are spent the 429s stop: later logins go
/// out at once, and must still leave iAdvize's minute of ten logins alone.
///
/// Fails at the time of writing: the exporter dates a login before waiting out the hold
/// (`take_login_slot` before `Transport::exchange` in `src/iadvize/auth.rs`), so its
/// budget window runs ahead of iAdvize's and its 12th login is refused with a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_held_back_by_retry_after_stay_within_the_budget() {
    let sim = start_sim(SimConfig {
        faults: Faults {
            token_lifetime_seconds: Some(5.0),
            http_429: 1.0,
            retry_after_seconds: 4,
            ..Faults::default()
        },
        ..account(36, 0.0, 0, 0.0)
    })
    .await;
    let exporter = start(&sim, &[]).await;
    until_logins(&sim, 10, Duration::from_secs(80), "ten logins").await;
    sim.set_faults(Faults {
        token_lifetime_seconds: Some(5.0),
        ..Faults::default()
    });
    // Short tokens keep the exporter logging in as often as its budget allows.
    eventually(Duration::from_secs(80), "two more logins", || async {
        let stats = sim.stats();
        if stats.logins >= 12 || stats.logins_refused_rate_limit > 0 {
            Ok(())
        } else {
            Err(format!("{stats:?}"))
        }
    })
    .await;
    let stats = sim.stats();
    assert!(
        stats.faults.get("429").is_some_and(|n| *n >= 10),
        "{stats:?}"
    );
    assert_eq!(
        stats.logins_refused_rate_limit, 0,
        "iAdvize refused a login: {stats:?}"
    );
    assert!(
        most_logins_in_a_minute(&stats.login_times) <= 10,
        "more than 10 logins in a minute: {:?}",
        stats.login_times
    );
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}
