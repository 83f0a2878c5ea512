//! Synthetic iAdvize pages for the benches: deterministic, in the shape and mix the
//! simulator serves (about 300 bytes of JSON a conversation, 60% with a survey, 10% with a
//! transaction), so that a bench of 100,000 conversations needs no server.

#![allow(dead_code)]

use std::fmt::Write;

use iadvize_exporter::config::MetricsConfig;
use iadvize_exporter::iadvize::parse::parse_page;
use iadvize_exporter::iadvize::{Page, QueryShape};
use iadvize_exporter::ledger::{Ledger, LedgerConfig};

pub const CHANNELS: [&str; 12] = [
    "CHAT",
    "CALL",
    "VIDEO",
    "MESSENGER",
    "WHATSAPP",
    "SMS",
    "INSTAGRAM",
    "APPLE_BUSINESS_CHAT",
    "GOOGLE_BUSINESS_MESSAGES",
    "EMAIL",
    "FACEBOOK",
    "TWITTER",
];
pub const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];
pub const PROJECTS: [i64; 5] = [1001, 1002, 1003, 1004, 1005];

/// A fixed "now": 2026-11-30T00:00:00Z.
pub const NOW_MS: i64 = 1_795_996_800_000;

/// A page of the real simulator, as served (see `benches/data`).
pub fn fixture(shape: QueryShape) -> &'static [u8] {
    match shape {
        QueryShape::SearchClosedConversations => include_bytes!("../data/search-page.json"),
        QueryShape::ClosedConversations => include_bytes!("../data/closed-page.json"),
    }
}

/// The ledger configuration of the exporter's defaults.
pub fn ledger_config() -> LedgerConfig {
    let metrics = MetricsConfig::default();
    LedgerConfig {
        window_ms: i64::try_from(metrics.window.as_millis()).unwrap_or(i64::MAX),
        duration_bounds: metrics.duration_buckets,
        amount_bounds: metrics.amount_buckets,
        max_channels: metrics.max_channels,
        max_currencies: metrics.max_currencies,
        tags: metrics.tags,
        max_tags: metrics.max_tags,
    }
}

/// SplitMix64: a fixed sequence, so every run benches the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `count` conversations of the closedConversations shape, closed evenly over
/// `[NOW_MS - span_ms, NOW_MS)`, as one response body per 100.
pub fn bodies(count: usize, span_ms: i64, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut body = String::new();
    for i in 0..count {
        if i % 100 == 0 {
            if !body.is_empty() {
                body.push_str(r#"],"pageInfo":{"hasNextPage":true,"endCursor":"c"}}}}"#);
                out.push(std::mem::take(&mut body).into_bytes());
            }
            body.push_str(r#"{"data":{"closedConversations":{"edges":["#);
        } else {
            body.push(',');
        }
        let closed = NOW_MS - span_ms + (i as i64 * span_ms) / count.max(1) as i64;
        let duration = 20 + rng.below(3000) as i64;
        let id = {
            let (a, b) = (rng.next(), rng.next());
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        };
        let _ = write!(
            body,
            r#"{{"node":{{"id":"{id}","createdAt":"{}","closedAt":"{}","channel":"{}","duration":"PT{}M{}S","project":{{"id":{}}},"#,
            rfc3339(closed - duration * 1000),
            rfc3339(closed),
            CHANNELS[rng.below(12) as usize],
            duration / 60,
            duration % 60,
            PROJECTS[rng.below(5) as usize],
        );
        if rng.below(10) < 6 {
            let nps = if rng.below(10) < 4 {
                rng.below(11).to_string()
            } else {
                "null".to_owned()
            };
            let _ = write!(
                body,
                r#""satisfactionSurvey":{{"customerSatisfaction":{},"netPromoterScore":{nps}}},"#,
                1 + rng.below(5)
            );
        } else {
            body.push_str(r#""satisfactionSurvey":null,"#);
        }
        if rng.below(10) == 0 {
            let _ = write!(
                body,
                r#""conversions":{{"transactions":[{{"id":"t-{i}","amount":{}.{:02},"currency":"{}","externalConversionId":null}}]}}}}}}"#,
                rng.below(500),
                rng.below(100),
                CURRENCIES[rng.below(3) as usize],
            );
        } else {
            body.push_str(r#""conversions":{"transactions":[]}}}"#);
        }
    }
    if !body.is_empty() {
        body.push_str(r#"],"pageInfo":{"hasNextPage":false,"endCursor":"c"}}}}"#);
        out.push(body.into_bytes());
    }
    out
}

pub fn parse_all(bodies: &[Vec<u8>]) -> Vec<Page> {
    bodies
        .iter()
        .map(|b| parse_page(b, QueryShape::ClosedConversations).expect("synthetic page parses"))
        .collect()
}

/// A ledger tracking `count` conversations closed over the last `span_ms`, all counted.
pub fn ledger_with(count: usize, span_ms: i64, seed: u64) -> Ledger {
    let mut ledger = Ledger::new(ledger_config(), NOW_MS - span_ms - 1);
    for body in bodies(count, span_ms, seed) {
        let page =
            parse_page(&body, QueryShape::ClosedConversations).expect("synthetic page parses");
        ledger.apply(&[page], NOW_MS);
    }
    assert_eq!(
        ledger.tracked(),
        count,
        "every synthetic conversation is tracked"
    );
    ledger
}
