//! Property tests of the response parser: whatever bytes iAdvize (or a proxy) sends, the
//! parser returns an error or a page whose records obey the exporter's invariants, and
//! never panics.

use iadvize_exporter::iadvize::parse::parse_page;
use iadvize_exporter::iadvize::{Id128, Page, QueryShape};
use proptest::prelude::*;

const SHAPES: [QueryShape; 2] = [
    QueryShape::SearchClosedConversations,
    QueryShape::ClosedConversations,
];

fn check(page: &Page) {
    let skipped = page
        .rejections
        .iter()
        .filter(|r| r.reason.skips_record())
        .count();
    assert_eq!(page.conversations.len() + skipped, page.records);
    for c in &page.conversations {
        assert!(usize::from(c.channel) < page.channels.len());
        assert!(c.csat.is_none_or(|v| (1..=5).contains(&v)));
        assert!(c.nps.is_none_or(|v| v <= 10));
        assert!(c.duration_seconds.is_none_or(|d| d.is_finite() && d >= 0.0));
        for t in &c.transactions {
            assert!(t.amount.is_finite() && t.amount >= 0.0);
            assert!(t.currency.0.iter().all(|b| b.is_ascii_uppercase()));
        }
    }
}

fn parse_all(body: &[u8]) {
    for shape in SHAPES {
        if let Ok(page) = parse_page(body, shape) {
            check(&page);
        }
    }
}

/// A realistic node of either shape, with the given raw JSON values spliced in.
#[allow(clippy::too_many_arguments)]
fn node(
    shape: QueryShape,
    id: &str,
    closed_at: &str,
    duration: &str,
    csat: &str,
    nps: &str,
    amount: &str,
    currency: &str,
) -> String {
    let conversation = format!(
        r#""id":{id},"createdAt":"2026-11-30T10:00:00Z","closedAt":{closed_at},"channel":"CHAT","duration":{duration},"project":{{"id":1001}}"#
    );
    let survey = format!(r#"{{"customerSatisfaction":{csat},"netPromoterScore":{nps}}}"#);
    let conversions = format!(
        r#"{{"transactions":[{{"id":"t1","amount":{amount},"currency":{currency},"externalConversionId":"o1"}}]}}"#
    );
    match shape {
        QueryShape::SearchClosedConversations => format!(
            r#"{{"node":{{"conversation":{{{conversation}}},"satisfactionSurvey":{survey},"conversions":{conversions}}}}}"#
        ),
        QueryShape::ClosedConversations => format!(
            r#"{{"node":{{{conversation},"satisfactionSurvey":{survey},"conversions":{conversions}}}}}"#
        ),
    }
}

fn body(shape: QueryShape, edges: &[String]) -> String {
    let field = match shape {
        QueryShape::SearchClosedConversations => "searchClosedConversations",
        QueryShape::ClosedConversations => "closedConversations",
    };
    format!(
        r#"{{"data":{{"{field}":{{"edges":[{}],"pageInfo":{{"hasNextPage":false,"endCursor":null}}}}}}}}"#,
        edges.join(",")
    )
}

/// Any JSON value serde_json accepts, as text: wrong types wherever they land.
fn json_value() -> impl Strategy<Value = String> {
    json_value_from(false)
}

/// Also values no JSON parser of ours takes (a number past f64, a lone surrogate): those
/// may fail the page, as an error, never as a panic.
fn extreme_json_value() -> impl Strategy<Value = String> {
    json_value_from(true)
}

fn json_value_from(extreme: bool) -> impl Strategy<Value = String> {
    let extremes = if extreme {
        vec!["1e400", "\"\\ud800\"", "-1e999"]
    } else {
        vec!["0"]
    };
    let leaf = prop_oneof![
        prop::sample::select(extremes).prop_map(str::to_owned),
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        Just("-0".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        "[ -~]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"PT12M34S\"".to_owned()),
        Just("\"2026-11-30T10:00:00.5+02:00\"".to_owned()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,8}", inner), 0..4).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_all(&bytes);
    }

    #[test]
    fn any_value_in_any_field_is_an_error_or_a_valid_page(
        id in json_value(), closed in json_value(), duration in json_value(),
        csat in json_value(), nps in json_value(), amount in json_value(), currency in json_value(),
    ) {
        for shape in SHAPES {
            let edges = vec![
                node(shape, &id, &closed, &duration, &csat, &nps, &amount, &currency),
                node(shape, "\"ok\"", "\"2026-11-30T10:05:00Z\"", "\"PT300S\"", "4", "9", "10.5", "\"EUR\""),
            ];
            let text = body(shape, &edges);
            let page = parse_page(text.as_bytes(), shape);
            // A bad record never fails the page: the good one is always there.
            let page = page.expect("one bad record must not fail the page");
            check(&page);
            prop_assert_eq!(page.records, 2);
            prop_assert!(page.conversations.iter().any(|c| c.id == Id128::of("ok")));
        }
    }

    #[test]
    fn extreme_values_are_an_error_or_a_valid_page(
        id in extreme_json_value(), closed in extreme_json_value(), csat in extreme_json_value(),
        amount in extreme_json_value(),
    ) {
        for shape in SHAPES {
            let edges = vec![node(shape, &id, &closed, "null", &csat, "null", &amount, "\"EUR\"")];
            parse_all(body(shape, &edges).as_bytes());
        }
    }

    #[test]
    fn mutated_real_pages_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        for shape in SHAPES {
            let edges: Vec<String> = (0..3)
                .map(|i| node(shape, &format!("\"c{i}\""), "\"2026-11-30T10:05:00Z\"", "\"PT1H2M3.5S\"", "5", "10", "99.9", "\"GBP\""))
                .collect();
            let mut bytes = body(shape, &edges).into_bytes();
            for (at, byte, op) in &edits {
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = *byte,
                    1 => { bytes.remove(i); }
                    _ => bytes.insert(i, *byte),
                }
            }
            parse_all(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(depth in 100usize..5000) {
        let mut text = String::from(r#"{"data":{"closedConversations":{"edges":[{"node":"#);
        text.push_str(&"[".repeat(depth));
        text.push_str(&"]".repeat(depth));
        text.push_str(r#"}],"pageInfo":{"hasNextPage":false}}}}"#);
        parse_all(text.as_bytes());
    }
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut bytes = body(
        QueryShape::ClosedConversations,
        &[node(
            QueryShape::ClosedConversations,
            "\"a\"",
            "\"2026-11-30T10:05:00Z\"",
            "null",
            "1",
            "0",
            "1",
            "\"EUR\"",
        )],
    )
    .into_bytes();
    let at = bytes.iter().position(|&b| b == b'a').unwrap();
    bytes[at] = 0xff;
    assert!(parse_page(&bytes, QueryShape::ClosedConversations).is_err());
}
