//! Hand-made conversations served verbatim by the simulated account: every duration and
//! date spelling the API uses, records with bad fields, odd channels, and transactions
//! that repeat or come late. The expected figures are worked out by hand in each test.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use common::{
    DEMO_PASSWORD, Exporter, Exposition, agrees, business_view, diff, eventually, fast_poll_flags,
    key, sleep_until_unix,
};
use iadvize_exporter::simulator::SimConfig;
use serde_json::{Value, json};

/// An account with no generated conversation at all: only the fixtures are served.
fn empty_account() -> SimConfig {
    SimConfig {
        seed: 41,
        speed: 60.0,
        rate_per_hour: 0.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::ZERO),
        ..SimConfig::default()
    }
}

/// `ms` in UTC with milliseconds: `2024-05-01T12:00:00.250Z`.
fn utc_millis(ms: i64) -> String {
    let at: DateTime<Utc> = DateTime::from_timestamp_millis(ms).unwrap();
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `ms` at a fixed offset (minutes east of UTC), with `fraction` digits of a second
/// (0, 3 or 6): `2024-05-01T14:00:00.250000+02:00`.
fn at_offset(ms: i64, minutes: i32, fraction: usize) -> String {
    let offset = FixedOffset::east_opt(minutes * 60).unwrap();
    let at = DateTime::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&offset);
    let pattern = match fraction {
        0 => {
            assert_eq!(ms % 1000, 0, "a date without fraction needs whole seconds");
            "%Y-%m-%dT%H:%M:%S%:z"
        }
        3 => "%Y-%m-%dT%H:%M:%S%.3f%:z",
        6 => "%Y-%m-%dT%H:%M:%S%.6f%:z",
        other => panic!("no pattern for {other} digits"),
    };
    at.format(pattern).to_string()
}

struct Fixture {
    id: String,
    created_at: String,
    closed_at: Option<String>,
    close_ms: i64,
    channel: String,
    duration: Option<String>,
    project: Option<i64>,
    csat: Option<i64>,
    nps: Option<i64>,
    transactions: Vec<Value>,
}

impl Fixture {
    /// A conversation of `project` on `CHAT` closing at `close_ms`, written in UTC with
    /// milliseconds, created `seconds` before its close and saying so in `PT<seconds>S`.
    fn new(id: &str, project: i64, close_ms: i64, seconds: i64) -> Fixture {
        Fixture {
            id: id.to_owned(),
            created_at: utc_millis(close_ms - seconds * 1000),
            closed_at: Some(utc_millis(close_ms)),
            close_ms,
            channel: "CHAT".to_owned(),
            duration: Some(format!("PT{seconds}S")),
            project: Some(project),
            csat: None,
            nps: None,
            transactions: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "createdAt": self.created_at,
            "closedAt": self.closed_at,
            "closeTime": self.close_ms as f64 / 1000.0,
            "channel": self.channel,
            "duration": self.duration,
            "project": self.project.map(|id| json!({"id": id, "name": "Shop"})),
            "satisfactionSurvey": {
                "customerSatisfaction": self.csat,
                "netPromoterScore": self.nps,
            },
            "conversions": {"transactions": self.transactions},
        })
    }
}

fn transaction(id: Option<&str>, external: &str, amount: f64, currency: &str) -> Value {
    json!({
        "id": id,
        "amount": amount,
        "currency": currency,
        "externalConversionId": external,
        "receivedAt": "2024-05-01T12:10:00Z",
        "visitorDate": "2024-05-01T12:10:00Z",
    })
}

async fn add(base_url: &str, fixtures: &[&Fixture]) {
    let body: Vec<Value> = fixtures.iter().map(|f| f.to_json()).collect();
    let response = reqwest::Client::new()
        .post(format!("{base_url}/_sim/conversations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
}

/// Waits for `/-/ready`, and returns a whole second (Unix ms) after the counting start
/// that is one second ago: a close time that is still counted, and that the next fresh
/// pass reads.
async fn ready_and_past_the_start(exporter: &Exporter) -> i64 {
    exporter.wait_ready(Duration::from_secs(10)).await;
    let start_ms = (exporter.counting_start_seconds() * 1000.0).round() as i64;
    let close_ms = (start_ms / 1000 + 1) * 1000;
    sleep_until_unix(close_ms as f64 / 1000.0 + 1.0).await;
    close_ms
}

/// Waits until the business samples equal `expected` exactly.
async fn shows(exporter: &Exporter, expected: &BTreeMap<String, f64>) -> Exposition {
    eventually(Duration::from_secs(15), "the expected figures", || async {
        let scrape = exporter.scrape().await;
        agrees(&scrape, expected).map(|()| scrape)
    })
    .await
}

/// Waits until at least `passes` more polls (fresh and revisit passes) have run.
async fn more_polls(exporter: &Exporter, passes: f64) {
    let before = exporter
        .scrape()
        .await
        .get("iadvize_polls_total", &[])
        .unwrap();
    eventually(Duration::from_secs(20), "more polls", || async {
        let now = exporter
            .scrape()
            .await
            .get("iadvize_polls_total", &[])
            .unwrap();
        if now >= before + passes {
            Ok(())
        } else {
            Err(format!("{before} -> {now}"))
        }
    })
    .await;
}

/// Expected business samples, keyed like [`business_view`].
#[derive(Default)]
struct Expected(BTreeMap<String, f64>);

impl Expected {
    fn put(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.insert(key(name, labels), value);
    }

    fn conversations(&mut self, project: &str, channel: &str, count: f64) {
        let l = [("project_id", project), ("channel", channel)];
        self.put("iadvize_conversations_closed_total", &l, count);
    }

    fn durations(&mut self, project: &str, channel: &str, count: f64, sum: f64) {
        let l = [("project_id", project), ("channel", channel)];
        self.put("iadvize_conversation_duration_seconds_count", &l, count);
        self.put("iadvize_conversation_duration_seconds_sum", &l, sum);
    }

    fn transactions(&mut self, project: &str, channel: &str, currency: &str, n: f64, sum: f64) {
        let l = [
            ("project_id", project),
            ("channel", channel),
            ("currency", currency),
        ];
        self.put("iadvize_transaction_amount_count", &l, n);
        self.put("iadvize_transaction_amount_sum", &l, sum);
    }

    fn conversions(&mut self, project: &str, channel: &str, count: f64) {
        let l = [("project_id", project), ("channel", channel)];
        self.put("iadvize_conversions_total", &l, count);
    }
}

/// Every duration spelling, and dates with offsets and fractions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_in_every_format() {
    let sim = common::start_sim(empty_account()).await;
    let url = sim.base_url();
    let exporter = Exporter::start(&fast_poll_flags(&url, &[]), &DEMO_PASSWORD).await;
    // A whole second, for the date written without a fraction.
    let t = ready_and_past_the_start(&exporter).await;

    let mut iso_seconds = Fixture::new("d-iso-seconds", 3001, t + 10, 754);
    iso_seconds.duration = Some("PT754S".to_owned());
    let mut iso_minutes = Fixture::new("d-iso-minutes", 3001, t + 20, 754);
    iso_minutes.duration = Some("PT12M34S".to_owned());
    iso_minutes.closed_at = Some(at_offset(t + 20, 120, 3));
    let mut iso_hours = Fixture::new("d-iso-hours", 3001, t, 3724);
    iso_hours.duration = Some("PT1H2M3.5S".to_owned());
    iso_hours.closed_at = Some(at_offset(t, -300, 0));
    iso_hours.created_at = utc_millis(t - 3_723_500);
    let mut bare = Fixture::new("d-bare", 3001, t + 40, 754);
    bare.duration = Some("754".to_owned());
    bare.closed_at = Some(at_offset(t + 40, 120, 6));
    // No duration: closedAt - createdAt = 90.25 s, only when `...:SS.250000+02:00` and
    // `...:SS.000Z` are both read with their offset and fraction.
    let mut null = Fixture::new("d-null", 3001, t + 250, 0);
    null.duration = None;
    null.closed_at = Some(at_offset(t + 250, 120, 6));
    null.created_at = utc_millis(t + 250 - 90_250);
    add(
        &url,
        &[&iso_seconds, &iso_minutes, &iso_hours, &bare, &null],
    )
    .await;

    let mut expected = Expected::default();
    expected.conversations("3001", "chat", 5.0);
    // 754 + 754 + 3723.5 + 754 + 90.25
    expected.durations("3001", "chat", 5.0, 6075.75);
    let scrape = shows(&exporter, &expected.0).await;

    // Cumulative buckets: 90.25 <= 120; the three 754 <= 900; 3723.5 <= 7200.
    let l = |le: &'static str| [("project_id", "3001"), ("channel", "chat"), ("le", le)];
    let bucket = |le| scrape.get("iadvize_conversation_duration_seconds_bucket", &l(le));
    for (le, want) in [
        ("60", 0.0),
        ("120", 1.0),
        ("600", 1.0),
        ("900", 4.0),
        ("3600", 4.0),
        ("7200", 5.0),
        ("+Inf", 5.0),
    ] {
        assert_eq!(bucket(le), Some(want), "le={le}");
    }
    assert_eq!(scrape.sum("iadvize_invalid_records_total"), 0.0);
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// Records with a bad field keep their good ones; records without a project or a close
/// time are skipped; each rejection is counted once, however often it is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_and_odd_channels() {
    let sim = common::start_sim(empty_account()).await;
    let url = sim.base_url();
    let exporter = Exporter::start(&fast_poll_flags(&url, &[]), &DEMO_PASSWORD).await;
    let t = ready_and_past_the_start(&exporter).await;

    let mut csat_zero = Fixture::new("b-csat-0", 3002, t, 60);
    csat_zero.csat = Some(0);
    csat_zero.nps = Some(8);
    let mut csat_seven = Fixture::new("b-csat-7", 3002, t + 1, 120);
    csat_seven.csat = Some(7);
    csat_seven.nps = Some(9);
    let mut nps_eleven = Fixture::new("b-nps-11", 3002, t + 2, 30);
    nps_eleven.csat = Some(4);
    nps_eleven.nps = Some(11);
    let mut no_close = Fixture::new("b-closed-yesterday", 3002, t + 3, 40);
    no_close.closed_at = Some("yesterday".to_owned());
    let mut no_project = Fixture::new("b-no-project", 3002, t + 4, 40);
    no_project.project = None;
    let mut no_created = Fixture::new("b-created-bad", 3002, t + 5, 40);
    no_created.created_at = "not a date".to_owned();
    no_created.duration = None;
    let mut negative = Fixture::new("b-negative-amount", 3002, t + 6, 45);
    negative.transactions = vec![
        transaction(Some("neg-1"), "o-neg-1", -3.5, "EUR"),
        transaction(Some("pos-1"), "o-pos-1", 40.0, "EUR"),
    ];
    let mut euro = Fixture::new("b-currency-euro", 3002, t + 7, 50);
    euro.transactions = vec![transaction(Some("euro-1"), "o-euro-1", 10.0, "EURO")];
    // createdAt is 300 s before the close: the fallback for the unreadable duration.
    let mut abc = Fixture::new("b-duration-abc", 3002, t + 8, 300);
    abc.duration = Some("abc".to_owned());
    let mut new_channel = Fixture::new("c-new-channel", 3003, t + 9, 10);
    new_channel.channel = "NEW-CHANNEL x".to_owned();
    let mut empty_channel = Fixture::new("c-empty-channel", 3003, t + 10, 10);
    empty_channel.channel = String::new();
    add(
        &url,
        &[
            &csat_zero,
            &csat_seven,
            &nps_eleven,
            &no_close,
            &no_project,
            &no_created,
            &negative,
            &euro,
            &abc,
            &new_channel,
            &empty_channel,
        ],
    )
    .await;

    let mut expected = Expected::default();
    // All but the two skipped records (no close time, no project).
    expected.conversations("3002", "chat", 7.0);
    // 60 + 120 + 30 + 45 + 50 + 300; the record with a bad createdAt and no duration
    // has none.
    expected.durations("3002", "chat", 6.0, 605.0);
    let csat = [("project_id", "3002"), ("channel", "chat")];
    expected.put("iadvize_csat_score_count", &csat, 1.0);
    expected.put("iadvize_csat_score_sum", &csat, 4.0);
    for (le, n) in [("1", 0.0), ("2", 0.0), ("3", 0.0), ("4", 1.0), ("5", 1.0)] {
        let l = [("project_id", "3002"), ("channel", "chat"), ("le", le)];
        expected.put("iadvize_csat_score_bucket", &l, n);
    }
    // NPS 8 (next to CSAT 0) and 9 (next to CSAT 7).
    expected.put("iadvize_nps_score_count", &csat, 2.0);
    expected.put("iadvize_nps_score_sum", &csat, 17.0);
    for (le, n) in [("6", 0.0), ("8", 1.0), ("10", 2.0)] {
        let l = [("project_id", "3002"), ("channel", "chat"), ("le", le)];
        expected.put("iadvize_nps_score_bucket", &l, n);
    }
    // The 40 EUR next to the negative amount; nothing of the EURO one.
    expected.transactions("3002", "chat", "EUR", 1.0, 40.0);
    expected.conversions("3002", "chat", 1.0);
    expected.conversations("3003", "new_channel_x", 1.0);
    expected.durations("3003", "new_channel_x", 1.0, 10.0);
    expected.conversations("3003", "unknown", 1.0);
    expected.durations("3003", "unknown", 1.0, 10.0);
    let scrape = shows(&exporter, &expected.0).await;

    let invalid = |scrape: &Exposition| -> BTreeMap<String, f64> {
        scrape.family("iadvize_invalid_records_total")
    };
    let mut want = BTreeMap::new();
    for (reason, n) in [
        ("bad_closed_at", 1.0),
        ("bad_created_at", 1.0),
        ("bad_csat", 2.0),
        ("bad_duration", 1.0),
        ("bad_nps", 1.0),
        ("bad_transaction", 2.0),
        ("malformed", 0.0),
        ("missing_id", 0.0),
        ("missing_project", 1.0),
    ] {
        want.insert(
            key("iadvize_invalid_records_total", &[("reason", reason)]),
            n,
        );
    }
    assert_eq!(invalid(&scrape), want);
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));

    // Two revisit cycles at least (a revisit every fourth or fifth pass) read every
    // record again: no count moves.
    more_polls(&exporter, 12.0).await;
    let again = exporter.scrape().await;
    assert_eq!(invalid(&again), want, "a rejection was counted again");
    assert_eq!(diff(&business_view(&again), &expected.0), "");
    assert_eq!(again.get("iadvize_up", &[]), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// Values a hostile or broken API could send, each bounded or counted once: amounts that
/// would overflow a sum, a 10 KB channel name, records without an id read again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_are_bounded_and_counted_once() {
    let sim = common::start_sim(empty_account()).await;
    let url = sim.base_url();
    let exporter = Exporter::start(&fast_poll_flags(&url, &[]), &DEMO_PASSWORD).await;
    let t = ready_and_past_the_start(&exporter).await;

    // Two amounts of 1e308 would make the EUR sum +Inf, in the state file too.
    let mut huge = Fixture::new("h-huge-amounts", 3004, t, 60);
    huge.transactions = vec![
        transaction(Some("huge-1"), "o-huge-1", 1e308, "EUR"),
        transaction(Some("huge-2"), "o-huge-2", 1e308, "EUR"),
        transaction(Some("fine-1"), "o-fine-1", 40.0, "EUR"),
    ];
    let mut long_channel = Fixture::new("h-long-channel", 3004, t + 1, 30);
    long_channel.channel = "W".repeat(10_000);
    let no_id_a = Fixture::new("", 3004, t + 2, 20);
    let no_id_b = Fixture::new("", 3004, t + 3, 25);
    add(&url, &[&huge, &long_channel, &no_id_a, &no_id_b]).await;

    let mut expected = Expected::default();
    expected.conversations("3004", "chat", 1.0);
    expected.durations("3004", "chat", 1.0, 60.0);
    expected.transactions("3004", "chat", "EUR", 1.0, 40.0);
    expected.conversions("3004", "chat", 1.0);
    let channel = "w".repeat(64);
    expected.conversations("3004", &channel, 1.0);
    expected.durations("3004", &channel, 1.0, 30.0);
    let scrape = shows(&exporter, &expected.0).await;
    let invalid = |scrape: &Exposition, reason: &str| {
        scrape.get("iadvize_invalid_records_total", &[("reason", reason)])
    };
    assert_eq!(invalid(&scrape, "bad_transaction"), Some(1.0));
    assert_eq!(invalid(&scrape, "missing_id"), Some(2.0));
    assert!(
        scrape.samples.keys().all(|k| k.len() < 1_000),
        "a label value was not bounded"
    );

    // Fresh passes and revisits read the two id-less records again: still 2.
    more_polls(&exporter, 12.0).await;
    let again = exporter.scrape().await;
    assert_eq!(invalid(&again, "missing_id"), Some(2.0), "counted per read");
    assert_eq!(invalid(&again, "bad_transaction"), Some(1.0));
    assert_eq!(diff(&business_view(&again), &expected.0), "");
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

/// A transaction identified only by its externalConversionId is counted once however
/// often it is read; one that arrives later on a counted conversation is counted once,
/// under the labels the conversation was first counted with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_late_transactions() {
    let sim = common::start_sim(empty_account()).await;
    let url = sim.base_url();
    let exporter = Exporter::start(&fast_poll_flags(&url, &[]), &DEMO_PASSWORD).await;
    let t = ready_and_past_the_start(&exporter).await;

    let mut first = Fixture::new("t-late", 3004, t, 200);
    first.transactions = vec![transaction(None, "order-1", 120.5, "EUR")];
    add(&url, &[&first]).await;
    let mut expected = Expected::default();
    expected.conversations("3004", "chat", 1.0);
    expected.durations("3004", "chat", 1.0, 200.0);
    expected.transactions("3004", "chat", "EUR", 1.0, 120.5);
    expected.conversions("3004", "chat", 1.0);
    shows(&exporter, &expected.0).await;
    // Fresh passes and revisits read it again and again.
    more_polls(&exporter, 12.0).await;
    assert_eq!(
        diff(&business_view(&exporter.scrape().await), &expected.0),
        ""
    );

    // The simulator keeps both versions of the conversation and serves them side by side
    // (fixtures are added, never replaced): the second one, seen only by revisits since
    // it closed seconds ago, brings one more transaction, and a channel the exporter must
    // not switch to.
    let mut second = Fixture::new("t-late", 3004, t, 200);
    second.channel = "SMS".to_owned();
    second.transactions = vec![
        transaction(None, "order-1", 120.5, "EUR"),
        transaction(Some("tx-2"), "order-2", 30.0, "USD"),
    ];
    add(&url, &[&second]).await;
    expected.transactions("3004", "chat", "USD", 1.0, 30.0);
    shows(&exporter, &expected.0).await;
    more_polls(&exporter, 12.0).await;
    let scrape = exporter.scrape().await;
    assert_eq!(diff(&business_view(&scrape), &expected.0), "");
    assert_eq!(scrape.sum("iadvize_invalid_records_total"), 0.0);
    assert_eq!(scrape.get("iadvize_up", &[]), Some(1.0));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}
