//! A server that writes each response's headers and body in two `send`s, with Nagle's
//! algorithm on, must not slow the exporter down: a keep-alive client whose kernel
//! delays its acknowledgements waits about 40 ms for every body (issue 13).

mod common;

use std::time::{Duration, Instant};

use common::*;
use iadvize_exporter::simulator::{SimConfig, SimHandle};

/// Conversations the start-up pass reads, in pages of 100.
const CONVERSATIONS: f64 = 15_000.0;
/// Linux never delays an acknowledgement by less than 40 ms (`TCP_DELACK_MIN`): a pass
/// that stalls takes at least this much longer per page than one that does not. Half
/// of it is the margin the test allows, for the proxy's own work and the machine's noise.
const STALL_MARGIN_PER_PAGE: Duration = Duration::from_millis(20);

async fn sim() -> SimHandle {
    let history = Duration::from_secs(3600);
    let speed = 1000.0;
    start_sim(SimConfig {
        seed: 13,
        speed,
        // Closes per real ms are rate * speed / 60 / 1000: this gives CONVERSATIONS
        // over the history.
        rate_per_hour: CONVERSATIONS * 60.0 * 1000.0 / (speed * history.as_secs_f64() * 1000.0),
        history,
        traffic_duration: Some(Duration::ZERO),
        index_lag: Duration::ZERO,
        bad_record_rate: 0.0,
        ..SimConfig::default()
    })
    .await
}

/// How long an exporter reading `url` takes from its start to its first successful
/// poll (the whole history), and how many conversations it then tracks.
async fn startup_pass(url: &str) -> (Duration, Option<f64>) {
    let started = Instant::now();
    let exporter = Exporter::start(
        &Polling {
            // The start-up pass reads the whole history.
            revisit_horizon: Some("3h"),
            ..Polling::FAST
        }
        .flags(
            url,
            &[
                "--iadvize.query",
                "searchClosedConversations",
                "--metrics.window",
                "3h",
            ],
        ),
        &DEMO_PASSWORD,
    )
    .await;
    exporter.wait_ready(Duration::from_secs(120)).await;
    let took = started.elapsed();
    let tracked = exporter
        .scrape()
        .await
        .get("iadvize_tracked_conversations", &[]);
    exporter.stop().await.unwrap();
    (took, tracked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_body_sent_apart_do_not_stall_the_pass() {
    let sim = sim().await;
    let expected: f64 = sim
        .truth(0.0, None)
        .conversations
        .iter()
        .map(|row| row.count as f64)
        .sum();
    assert!(expected >= CONVERSATIONS * 0.9, "{expected} conversations");
    let pages = (expected / 100.0).ceil() as u32;
    let upstream = sim
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = SplitWrites::start(upstream).unwrap();

    // The same pass straight from the simulator is the yardstick: the simulator's own
    // pace (slow in a debug build) is in both.
    let (direct, direct_tracked) = startup_pass(&sim.base_url()).await;
    let (through_proxy, proxy_tracked) = startup_pass(&proxy.url()).await;
    eprintln!(
        "start-up pass of {pages} pages: {direct:?} direct, {through_proxy:?} through the \
         proxy ({} responses, {} connections)",
        proxy.responses(),
        proxy.connections()
    );

    assert_eq!(direct_tracked, Some(expected));
    assert_eq!(proxy_tracked, Some(expected));
    assert!(
        proxy.responses() > u64::from(pages),
        "{} responses through the proxy for {pages} pages",
        proxy.responses()
    );
    assert!(
        through_proxy < direct + STALL_MARGIN_PER_PAGE * pages,
        "the pass through the proxy took {through_proxy:?}, direct {direct:?}: it stalls"
    );
    // Not fixed by a connection per request: a second connection is only made when the
    // pool has not taken the login's back yet.
    assert!(
        proxy.connections() <= 3,
        "{} client connections",
        proxy.connections()
    );
}
