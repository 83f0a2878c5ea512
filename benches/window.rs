//! Recomputing the rolling window (and the snapshot the metrics read) over 100,000
//! tracked conversations. The poller does this once per pass.
//!
//! `cargo bench --bench window`.

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use support::{NOW_MS, ledger_with};

fn window(c: &mut Criterion) {
    let mut group = c.benchmark_group("window");
    group.sample_size(30);
    // The default horizon and window: 48 h tracked, the last hour in the window.
    let ledger = ledger_with(100_000, 48 * 3_600_000, 11);
    group.bench_function("snapshot/100k tracked, 1h of 48h in window", |b| {
        b.iter(|| ledger.snapshot(black_box(NOW_MS)))
    });
    // Worst case: every tracked conversation is in the window.
    let ledger = ledger_with(100_000, 3_000_000, 13);
    group.bench_function("snapshot/100k tracked, all in window", |b| {
        b.iter(|| ledger.snapshot(black_box(NOW_MS)))
    });
    group.finish();
}

criterion_group!(benches, window);
criterion_main!(benches);
