//! The page parser with each JSON parser under the same tolerant structs: serde_json
//! (what the exporter uses), sonic-rs and simd-json. Real pages of the simulator, 100
//! conversations each; the throughput line reads as conversations per second.
//!
//! `cargo bench --bench parse --features parser-bench`

mod support;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use iadvize_exporter::iadvize::QueryShape;
use iadvize_exporter::iadvize::parse::alternatives::{parse_page_simd_json, parse_page_sonic};
use iadvize_exporter::iadvize::parse::parse_page;
use std::hint::black_box;

use support::fixture;

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(100));
    for (name, shape) in [
        ("search", QueryShape::SearchClosedConversations),
        ("closed", QueryShape::ClosedConversations),
    ] {
        let body = fixture(shape);
        let expected = parse_page(body, shape).expect("fixture parses");
        assert_eq!(expected.records, 100, "the fixture is a full page");
        // The same page from each, or the comparison means nothing.
        assert_eq!(parse_page_sonic(body, shape).expect("sonic-rs"), expected);
        assert_eq!(
            parse_page_simd_json(&mut body.to_vec(), shape).expect("simd-json"),
            expected
        );

        group.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| parse_page(black_box(body), shape))
        });
        group.bench_function(format!("sonic-rs/{name}"), |b| {
            b.iter(|| parse_page_sonic(black_box(body), shape))
        });
        // simd-json parses in place: the copy it needs is made outside the measurement
        // (the transport could hand over its own buffer).
        group.bench_function(format!("simd-json/{name}"), |b| {
            b.iter_batched_ref(
                || body.to_vec(),
                |copy| parse_page_simd_json(black_box(copy), shape),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
