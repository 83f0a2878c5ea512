//! What the examples' benches share: the same synthetic conversations, ledger settings and
//! account identity, so that their figures describe the same data.

#![allow(dead_code)]

use iadvize_exporter::iadvize::{Conversation, Currency, Id128, Transaction};
use iadvize_exporter::ledger::LedgerConfig;
use iadvize_exporter::state_file;

pub const CHANNELS: [&str; 6] = ["CHAT", "CALL", "VIDEO", "WHATSAPP", "SMS", "INSTAGRAM"];

pub fn ledger_config() -> LedgerConfig {
    LedgerConfig {
        window_ms: 3_600_000,
        duration_bounds: vec![30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0],
        amount_bounds: vec![10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0],
        max_channels: 32,
        max_currencies: 16,
    }
}

/// What a save records of the account; the benches read none.
pub fn identity() -> state_file::Identity {
    state_file::Identity {
        demo: true,
        url: String::new(),
        platform_sd: false,
        login: state_file::Login::Username("bench".to_owned()),
        project_ids: None,
    }
}

/// Conversation number `i`: a third with CSAT, a quarter with NPS, a tenth with a
/// transaction.
pub fn conversation(i: u64, closed_at: i64) -> Conversation {
    Conversation {
        id: Id128::of(&format!(
            "{:08x}-{:04x}-4eed-bb44-{:012x}",
            i,
            i % 65536,
            i * 7919
        )),
        id_text: None,
        project_id: 1001 + (i % 3) as i64,
        channel: (i % CHANNELS.len() as u64) as u16,
        closed_at,
        duration_seconds: Some((i % 3600) as f64),
        csat: i.is_multiple_of(3).then_some((i % 5 + 1) as u8),
        nps: i.is_multiple_of(4).then_some((i % 11) as u8),
        transactions: if i.is_multiple_of(10) {
            vec![Transaction {
                key: Id128::of(&format!("order-{i}")),
                amount: (i % 500) as f64 + 0.99,
                currency: Currency(*b"EUR"),
            }]
        } else {
            Vec::new()
        },
    }
}
