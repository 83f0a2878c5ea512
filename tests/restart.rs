//! The real binary with a state file, killed with SIGKILL at random moments (mid-poll
//! included) while traffic flows, and restarted: the final counts must equal the truth.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    DEMO_PASSWORD, ExporterProcess, agrees, conversations_closed, eventually, expected_from_truth,
    fast_poll_flags, free_port, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{Faults, SimConfig};
use iadvize_exporter::state_file as state;
use rand::{Rng, SeedableRng};

fn spawn(sim_url: &str, port: u16, state_file: &Path) -> ExporterProcess {
    let state_file = state_file.to_str().unwrap();
    let flags = fast_poll_flags(
        sim_url,
        &["--log.level", "warn", "--state.file", state_file],
    );
    ExporterProcess::spawn_on(port, &flags, &DEMO_PASSWORD)
}

async fn counting_start(state_file: &Path) -> f64 {
    eventually(Duration::from_secs(15), "a first state file", || async {
        match state::load(state_file) {
            Ok(Some(saved)) => Ok(saved.ledger.counting_start() as f64 / 1000.0),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_keeps_counts_exact() {
    let sim = start_sim(SimConfig {
        seed: 31,
        speed: 60.0,
        rate_per_hour: 120.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(12)),
        max_transaction_delay_hours: 3.0,
        // Slow answers stretch the passes, so kills land mid-poll too.
        faults: Faults {
            slow: 0.3,
            slow_delay_ms: 150,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let url = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    let port = free_port();
    let mut child = spawn(&url, port, &state_file);
    let since = counting_start(&state_file).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..4 {
        let pause = rng.random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill(); // SIGKILL
        child = spawn(&url, port, &state_file);
    }

    sleep_until_unix(sim.complete_at().unwrap()).await;
    let expected = expected_from_truth(&sim.truth(since, None));
    let total = conversations_closed(&expected);
    assert!(total > 1000.0, "enough traffic: {total}");
    eventually(
        Duration::from_secs(40),
        "exact counts after restarts",
        || async { agrees(&child.scrape().await?, &expected) },
    )
    .await;

    // SIGTERM: the state is written and the process exits 0 within 5 s.
    let before = std::fs::metadata(&state_file).unwrap().modified().unwrap();
    child.terminate();
    let status = child.wait(Duration::from_secs(5)).await.status;
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    let after = std::fs::metadata(&state_file).unwrap().modified().unwrap();
    assert!(after >= before);
    let saved = state::load(&state_file).unwrap().unwrap();
    assert!(saved.ledger.tracked() as f64 >= total);

    // And a restart from that file shows the same counts at once, before any poll.
    let mut child = spawn(&url, port, &state_file);
    eventually(Duration::from_secs(10), "restored counts", || async {
        agrees(&child.scrape().await?, &expected)
    })
    .await;
    child.kill();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_file_is_moved_aside_and_counted() {
    let sim = start_sim(SimConfig {
        seed: 32,
        speed: 60.0,
        rate_per_hour: 20.0,
        history: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    std::fs::write(&state_file, b"{\"not\": \"a state file\"}").unwrap();
    let port = free_port();
    let mut child = spawn(&sim.base_url(), port, &state_file);
    let scrape = eventually(Duration::from_secs(15), "up", || async {
        let s = child.scrape().await?;
        if s.get("iadvize_up", &[]) == Some(1.0) {
            Ok(s)
        } else {
            Err("not up".into())
        }
    })
    .await;
    assert_eq!(
        scrape.get("iadvize_state_file_corrupt_total", &[]),
        Some(1.0)
    );
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.bin.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = std::fs::read(dir.path().join(&aside[0])).unwrap();
    assert_eq!(
        kept, b"{\"not\": \"a state file\"}",
        "the damaged file is kept for examination"
    );
    eventually(Duration::from_secs(10), "a fresh state file", || async {
        match state::load(&state_file) {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    child.kill();
    sim.shutdown().await;
}

/// Two exporters saving into one file would overwrite each other's counts: the second
/// stops at once, naming the file and the first one's pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_exporter_on_the_same_state_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    let path = state_file.to_str().unwrap();
    let first = ExporterProcess::spawn(&["--demo", "--state.file", path], &[]);
    first.wait_ready(Duration::from_secs(15)).await;

    let second = ExporterProcess::spawn(&["--demo", "--state.file", path], &[]);
    let finished = second.wait(Duration::from_secs(10)).await;
    assert_eq!(finished.code(), Some(1), "{finished}");
    assert!(finished.stderr.contains(path), "{finished}");
    assert!(
        finished.stderr.contains(&format!("pid {}", first.id())),
        "{finished}"
    );

    // The first one goes on, and saves at the end.
    assert!(first.scrape().await.is_ok());
    first.terminate();
    let finished = first.wait(Duration::from_secs(10)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    assert!(state::load(&state_file).unwrap().is_some());
}

/// The last save at shutdown has no next poll to try again: when it fails, the exit
/// status says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_final_save_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let state_file = state_dir.join("state.bin");
    let path = state_file.to_str().unwrap();
    let process = ExporterProcess::spawn(&["--demo", "--state.file", path], &[]);
    process.wait_ready(Duration::from_secs(15)).await;
    // Gone after the start-up checks: every save fails from now on.
    std::fs::remove_dir_all(&state_dir).unwrap();
    process.terminate();
    let finished = process.wait(Duration::from_secs(10)).await;
    assert_eq!(finished.code(), Some(1), "{finished}");
    assert!(
        finished
            .stderr
            .contains("final save of the state at shutdown failed"),
        "{finished}"
    );
    assert!(finished.stderr.contains(path), "{finished}");
}

/// A file the demo account saved is not restored into a real account's counters: it is
/// moved aside and counted like a damaged one, and the log says which setting differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_of_another_account_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    let path = state_file.to_str().unwrap();
    let demo = ExporterProcess::spawn(&["--demo", "--state.file", path], &[]);
    demo.wait_ready(Duration::from_secs(15)).await;
    demo.terminate();
    let finished = demo.wait(Duration::from_secs(10)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    let saved = state::load(&state_file).unwrap().unwrap();
    assert!(saved.identity.as_ref().is_some_and(|i| i.demo), "{saved:?}");

    let sim = start_sim(SimConfig {
        seed: 33,
        speed: 60.0,
        rate_per_hour: 20.0,
        history: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let mut child = spawn(&sim.base_url(), free_port(), &state_file);
    let scrape = eventually(Duration::from_secs(15), "up", || async {
        let s = child.scrape().await?;
        if s.get("iadvize_up", &[]) == Some(1.0) {
            Ok(s)
        } else {
            Err("not up".into())
        }
    })
    .await;
    assert_eq!(
        scrape.get("iadvize_state_file_corrupt_total", &[]),
        Some(1.0)
    );
    let stderr = child.stderr_so_far();
    assert!(stderr.contains("STATE FILE OF ANOTHER ACCOUNT"), "{stderr}");
    assert!(stderr.contains("--demo differs"), "{stderr}");
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.bin.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
    eventually(
        Duration::from_secs(10),
        "a state file of this account",
        || async {
            match state::load(&state_file) {
                Ok(Some(saved)) if saved.identity.as_ref().is_some_and(|i| !i.demo) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    child.kill();
    sim.shutdown().await;
}
