//! How long saving and restoring the state file takes with many tracked conversations.
//!
//! `cargo run --release --example state_file_bench -- 1000000`

use std::time::Instant;

use iadvize_exporter::iadvize::{Conversation, Currency, Id128, Page, Transaction};
use iadvize_exporter::ledger::{Ledger, LedgerConfig};
use iadvize_exporter::state_file::{self, SavedStateRef};

fn main() {
    // What a save records of the account; the benches read none.
    let identity = state_file::Identity {
        demo: true,
        url: String::new(),
        platform_sd: false,
        login: state_file::Login::Username("bench".to_owned()),
        project_ids: None,
    };
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = LedgerConfig {
        window_ms: 3_600_000,
        duration_bounds: vec![30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0],
        amount_bounds: vec![10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0],
        max_channels: 32,
        max_currencies: 16,
    };
    let channels = ["CHAT", "CALL", "VIDEO", "WHATSAPP", "SMS", "INSTAGRAM"];
    let start = 1_700_000_000_000_i64;
    let mut ledger = Ledger::new(config.clone(), start);
    let conversations: Vec<Conversation> = (0..n)
        .map(|i| Conversation {
            id: Id128::of(&format!(
                "{:08x}-{:04x}-4eed-bb44-{:012x}",
                i,
                i % 65536,
                i * 7919
            )),
            project_id: 1001 + (i % 3) as i64,
            channel: (i % channels.len()) as u16,
            closed_at: start + i as i64,
            duration_seconds: Some((i % 3600) as f64),
            csat: (i % 3 == 0).then_some((i % 5 + 1) as u8),
            nps: (i % 4 == 0).then_some((i % 11) as u8),
            transactions: if i % 10 == 0 {
                vec![Transaction {
                    key: Id128::of(&format!("order-{i}")),
                    amount: (i % 500) as f64 + 0.99,
                    currency: Currency(*b"EUR"),
                }]
            } else {
                Vec::new()
            },
        })
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
