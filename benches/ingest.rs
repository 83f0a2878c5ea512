//! Parse and ingest of one 100-conversation page: bytes in, ledger and histograms updated.
//!
//! `cargo bench --bench ingest`. Throughput is per conversation, so criterion's
//! "thrpt" line reads directly as conversations per second.

mod support;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use iadvize_exporter::iadvize::QueryShape;
use iadvize_exporter::iadvize::parse::parse_page;
use iadvize_exporter::ledger::Ledger;
use std::hint::black_box;

use support::{NOW_MS, fixture, ledger_config, ledger_with};

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(100));
    for (name, shape) in [
        ("search", QueryShape::SearchClosedConversations),
        ("closed", QueryShape::ClosedConversations),
    ] {
        let body = fixture(shape);
        let records = parse_page(body, shape).expect("fixture parses").records;
        assert_eq!(records, 100, "the fixture is a full page");

        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| parse_page(black_box(body), shape))
        });

        // First sighting: every conversation is new and counted.
        group.bench_function(format!("parse+apply new/{name}"), |b| {
            b.iter_batched(
                || Ledger::new(ledger_config(), 0),
                |mut ledger| {
                    let page = parse_page(black_box(body), shape).expect("fixture parses");
                    ledger.apply(&[page], NOW_MS);
                    ledger
                },
                BatchSize::SmallInput,
            )
        });

        // Revisit: the page is known, among 100,000 other tracked conversations.
        let mut ledger = ledger_with(100_000, 48 * 3_600_000, 7);
        ledger.apply(&[parse_page(body, shape).expect("fixture parses")], NOW_MS);
        group.bench_function(format!("parse+apply re-read/{name}"), |b| {
            b.iter(|| {
                let page = parse_page(black_box(body), shape).expect("fixture parses");
                ledger.apply(&[page], NOW_MS)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
