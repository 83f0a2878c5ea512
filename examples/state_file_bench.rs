//! How long saving and restoring the state file takes with many tracked conversations.
//!
//! `cargo run --release --example state_file_bench -- 1000000`

mod support;

use std::time::Instant;

use iadvize_exporter::iadvize::{Conversation, Page};
use iadvize_exporter::ledger::Ledger;
use iadvize_exporter::state_file::{self, SavedStateRef};

fn main() {
    let identity = support::identity();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = support::ledger_config();
    let channels = support::CHANNELS;
    let start = 1_700_000_000_000_i64;
    let mut ledger = Ledger::new(config.clone(), start);
    let conversations: Vec<Conversation> = (0..n)
        .map(|i| support::conversation(i as u64, start + i as i64))
        .collect();
    for chunk in conversations.chunks(100) {
        ledger.apply(
            &[Page {
                conversations: chunk.to_vec(),
                records: chunk.len(),
                channels: channels.iter().map(|c| c.to_string()).collect(),
                ..Page::default()
            }],
            start + n as i64,
        );
    }
    let path = std::env::temp_dir().join("iadvize-state-bench.bin");

    let t = Instant::now();
    let saved = SavedStateRef {
        identity: &identity,
        written_at: start,
        watermark: Some(start + n as i64),
        last_revisit: None,
        ledger: ledger.state(),
    };
    let copy = t.elapsed();
    let t = Instant::now();
    let bytes = state_file::encode(&saved).expect("encode");
    let encode = t.elapsed();
    let t = Instant::now();
    state_file::write_atomic(&path, &bytes).expect("write");
    let write = t.elapsed();
    let t = Instant::now();
    let loaded = state_file::load(&path).expect("load").expect("present");
    let load = t.elapsed();
    let t = Instant::now();
    let restored = Ledger::from_state(config, loaded.ledger);
    let rebuild = t.elapsed();
    assert_eq!(restored.tracked(), n);
    println!(
        "tracked={n} bytes={} bytes_per_conversation={:.1} copy={:?} encode={:?} write+fsync={:?} save_total={:?} load+decode={:?} rebuild={:?}",
        bytes.len(),
        bytes.len() as f64 / n as f64,
        copy,
        encode,
        write,
        copy + encode + write,
        load,
        rebuild
    );
    let _ = std::fs::remove_file(&path);
}
