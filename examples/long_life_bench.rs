//! A long life of the ledger: 30 days of an account closing 100,000 conversations a day,
//! read as the poller reads it (a fresh pass a minute, a revisit of the horizon every
//! hour, pruned after each pass by the poller's own cutoff), with the default flags. It
//! prints how many conversations the ledger tracks, the process's memory and the state
//! file's size at the end of each simulated day: they must level off once the 48 h
//! horizon is full, not grow with the days.
//!
//! `cargo run --release --example long_life_bench [-- DAYS PER_DAY]`

mod support;

use std::time::{Duration, Instant};

use iadvize_exporter::config::PollConfig;
use iadvize_exporter::iadvize::Page;
use iadvize_exporter::ledger::Ledger;
use iadvize_exporter::poller::prune_cutoff;
use iadvize_exporter::state_file::{self, SavedStateRef};

const MINUTE: i64 = 60_000;

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn main() {
    let identity = support::identity();
    let mut args = std::env::args().skip(1);
    let days: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let per_day: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // The defaults of the flags.
    let poll = PollConfig {
        interval: Duration::from_secs(60),
        overlap: Duration::from_secs(300),
        revisit_interval: Duration::from_secs(3600),
        revisit_horizon: Duration::from_secs(48 * 3600),
    };
    let config = support::ledger_config();
    let window_ms = config.window_ms;
    let start = 1_795_996_800_000_i64;
    let mut ledger = Ledger::new(config, start);
    let spacing = (86_400_000 / per_day as i64).max(1);
    let page = |from: u64, to: u64| Page {
        conversations: (from..to)
            .map(|i| support::conversation(i, start + i as i64 * spacing))
            .collect(),
        records: (to - from) as usize,
        channels: support::CHANNELS.iter().map(|c| c.to_string()).collect(),
        ..Page::default()
    };
    let begun = Instant::now();
    let mut closed = 0_u64;
    let mut last_revisit = start;
    println!("| day | conversations so far | tracked | RSS MB | peak RSS MB | state file MB |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for minute in 1..=days * 24 * 60 {
        let now = start + minute * MINUTE;
        let watermark = now;
        // The fresh pass: what closed since the last one, a page per 100.
        let upto = ((now - start) / spacing) as u64;
        let mut at = closed;
        while at < upto {
            let end = (at + 100).min(upto);
            ledger.apply_page(&page(at, end), now);
            at = end;
        }
        closed = upto;
        ledger.commit();
        // The revisit pass: the whole horizon again, every hour.
        if now - last_revisit >= 3_600_000 {
            let horizon_start = ((now - start - 48 * 3_600_000).max(0) / spacing) as u64;
            let mut at = horizon_start;
            while at < closed {
                let end = (at + 100).min(closed);
                ledger.apply_page(&page(at, end), now);
                at = end;
            }
            ledger.commit();
            last_revisit = now;
        }
        ledger.prune(prune_cutoff(now, Some(watermark), &poll, window_ms));
        if minute % (24 * 60) == 0 {
            let _ = ledger.snapshot(now);
            let saved = SavedStateRef {
                identity: &identity,
                written_at: now,
                watermark: Some(watermark),
                last_revisit: Some(last_revisit),
                ledger: ledger.state(),
            };
            let bytes = state_file::encode(&saved).map(|b| b.len()).unwrap_or(0);
            println!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.2} |",
                minute / (24 * 60),
                closed,
                ledger.tracked(),
                status_kb("VmRSS:") as f64 / 1024.0,
                status_kb("VmHWM:") as f64 / 1024.0,
                bytes as f64 / 1e6
            );
        }
    }
    println!(
        "\n{days} days of {per_day} conversations a day in {:.1} s",
        begun.elapsed().as_secs_f64()
    );
}
