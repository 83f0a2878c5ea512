//! What tags cost the ledger: live heap bytes per tracked conversation, and state-file
//! bytes, with `--metrics.tags` off and `all`. Conversations are tagged as the simulator
//! tags them (four in ten none, four one, two two, of eight names). The heap is counted
//! by a counting allocator, so the figures are exact and repeatable, unlike RSS.
//!
//! `cargo run --release --example tag_memory_bench [-- CONVERSATIONS]`

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use iadvize_exporter::iadvize::Page;
use iadvize_exporter::labels::TagFilter;
use iadvize_exporter::ledger::Ledger;
use iadvize_exporter::state_file::{self, SavedStateRef};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const TAGS: [&str; 8] = [
    "Livraison",
    "livraison",
    "Réclamation",
    "Retour produit",
    "VIP",
    "sales",
    "support",
    "Demande de remboursement",
];

/// The tags of conversation `i`: none, one or two, spread like the simulator's.
fn tags_of(i: u64) -> Vec<u16> {
    let pick = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 10;
    let a = (i % 8) as u16;
    match pick {
        0..=3 => Vec::new(),
        4..=7 => vec![a],
        _ => vec![a, (a + 3) % 8],
    }
}

/// Live heap and state-file bytes of a ledger of `n` conversations.
fn measure(n: u64, tags: TagFilter) -> (isize, usize) {
    let identity = support::identity();
    let start = 1_700_000_000_000_i64;
    let before = LIVE.load(Ordering::Relaxed);
    let mut config = support::ledger_config();
    // A window longer than the data, so every conversation is in it.
    config.window_ms = i64::MAX / 4;
    let on = tags.is_on();
    config.tags = tags;
    let mut ledger = Ledger::new(config, start);
    let mut at = 0;
    while at < n {
        let end = (at + 100).min(n);
        let page = Page {
            conversations: (at..end)
                .map(|i| {
                    let mut c = support::conversation(i, start + i as i64);
                    // Off, the query does not ask for tags: the page has none.
                    if on {
                        c.tags = tags_of(i);
                    }
                    c
                })
                .collect(),
            records: (end - at) as usize,
            channels: support::CHANNELS.iter().map(|c| c.to_string()).collect(),
            tags: if on {
                TAGS.iter().map(|t| t.to_string()).collect()
            } else {
                Vec::new()
            },
            ..Page::default()
        };
        ledger.apply(&[page], start + n as i64);
        at = end;
    }
    let heap = LIVE.load(Ordering::Relaxed) - before;
    let bytes = state_file::encode(&SavedStateRef {
        identity: &identity,
        written_at: start,
        watermark: None,
        last_revisit: None,
        ledger: ledger.state(),
    })
    .map(|b| b.len())
    .unwrap_or(0);
    let snapshot = ledger.snapshot(start + n as i64);
    if let Some(figures) = &snapshot.tags {
        let pairs: u64 = figures.window.values().sum();
        println!("  {pairs} (conversation, tag) pairs in the window");
    }
    drop(ledger);
    (heap, bytes)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let tagged = (0..n).filter(|&i| !tags_of(i).is_empty()).count();
    println!("{n} conversations, {tagged} of them tagged");
    let (heap_off, file_off) = measure(n, TagFilter::Off);
    let (heap_on, file_on) = measure(n, TagFilter::All);
    let per = |bytes: isize| bytes as f64 / n as f64;
    println!("| --metrics.tags | heap B/conversation | state file B/conversation |");
    println!("| --- | --- | --- |");
    println!(
        "| off | {:.1} | {:.1} |",
        per(heap_off),
        per(file_off as isize)
    );
    println!(
        "| all | {:.1} | {:.1} |",
        per(heap_on),
        per(file_on as isize)
    );
    println!(
        "tags add {:.1} B of heap per tracked conversation ({:.1} B per tagged one), {:.1} B of state file",
        per(heap_on - heap_off),
        (heap_on - heap_off) as f64 / tagged.max(1) as f64,
        per(file_on as isize - file_off as isize)
    );
}
