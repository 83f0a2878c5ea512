//! The real binary with a state file, killed with SIGKILL at random moments (mid-poll
//! included) while traffic flows, and restarted: the final counts must equal the truth.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    Exposition, business_view, diff, eventually, expected_from_truth, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{Faults, SimConfig};
use iadvize_exporter::state_file as state;
use rand::{Rng, SeedableRng};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iadvize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn(sim_url: &str, port: u16, state_file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_iadvize-exporter"))
        .args([
            "--iadvize.url",
            sim_url,
            "--iadvize.username",
            "demo@example.com",
            "--iadvize.max-requests-per-second",
            "500",
            "--poll.interval",
            "250ms",
            "--poll.overlap",
            "2s",
            "--poll.revisit-interval",
            "1s",
            "--poll.revisit-horizon",
            "1h",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--log.level",
            "warn",
        ])
        .arg("--state.file")
        .arg(state_file)
        .env("IADVIZE_PASSWORD", "demo")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

async fn scrape(port: u16) -> Result<Exposition, String> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Exposition::parse(&body))
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

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let dir = temp_dir("restart");
    let state_file = dir.join("state.bin");
    let port = free_port();
    let mut child = spawn(&url, port, &state_file);
    let since = counting_start(&state_file).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..4 {
        let pause = rng.random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = spawn(&url, port, &state_file);
    }

    sleep_until_unix(sim.complete_at().unwrap()).await;
    let expected = expected_from_truth(&sim.truth(since, None));
    let total: f64 = expected
        .iter()
        .filter(|(k, _)| k.starts_with("iadvize_conversations_closed_total"))
        .map(|(_, v)| v)
        .sum();
    assert!(total > 1000.0, "enough traffic: {total}");
    eventually(
        Duration::from_secs(40),
        "exact counts after restarts",
        || async {
            let d = diff(&business_view(&scrape(port).await?), &expected);
            if d.is_empty() { Ok(()) } else { Err(d) }
        },
    )
    .await;

    // SIGTERM: the state is written and the process exits 0 within 5 s.
    let before = std::fs::metadata(&state_file).unwrap().modified().unwrap();
    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    let after = std::fs::metadata(&state_file).unwrap().modified().unwrap();
    assert!(after >= before);
    let saved = state::load(&state_file).unwrap().unwrap();
    assert!(saved.ledger.tracked() as f64 >= total);

    // And a restart from that file shows the same counts at once, before any poll.
    let mut child = spawn(&url, port, &state_file);
    eventually(Duration::from_secs(10), "restored counts", || async {
        let d = diff(&business_view(&scrape(port).await?), &expected);
        if d.is_empty() { Ok(()) } else { Err(d) }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
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
    let dir = temp_dir("corrupt");
    let state_file = dir.join("state.bin");
    std::fs::write(&state_file, b"{\"not\": \"a state file\"}").unwrap();
    let port = free_port();
    let mut child = spawn(&sim.base_url(), port, &state_file);
    let scrape = eventually(Duration::from_secs(15), "up", || async {
        let s = scrape(port).await?;
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
    let aside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.bin.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = std::fs::read(dir.join(&aside[0])).unwrap();
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
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}
