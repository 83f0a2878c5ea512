//! The proxies of the environment: the exporter reaches iAdvize through the `CONNECT`
//! proxy that `HTTP_PROXY`/`HTTPS_PROXY` name (as behind a corporate egress proxy), and
//! straight when `NO_PROXY` names the host.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ExporterProcess, eventually, start_sim};
use iadvize_exporter::simulator::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A `CONNECT` proxy on loopback that records the destination of each tunnel.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let tunnels = Arc::new(Mutex::new(Vec::new()));
    let seen = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                else {
                    let _ = client.write_all(b"HTTP/1.1 405 CONNECT only\r\n\r\n").await;
                    return;
                };
                seen.lock().unwrap().push(target.to_owned());
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (address, tunnels)
}

async fn counts_through(env: &[(&str, &str)], sim_url: &str) -> ExporterProcess {
    let mut all = vec![("IADVIZE_PASSWORD", "demo")];
    all.extend_from_slice(env);
    let exporter = ExporterProcess::spawn(
        &[
            "--iadvize.url",
            sim_url,
            "--iadvize.username",
            "demo@example.com",
            "--poll.interval",
            "250ms",
        ],
        &all,
    );
    eventually(
        Duration::from_secs(30),
        "the exporter reads the account",
        || async {
            let scrape = exporter.scrape().await?;
            match scrape.get("iadvize_up", &[]) {
                Some(up) if up == 1.0 && scrape.sum("iadvize_window_conversations") > 0.0 => Ok(()),
                other => Err(format!("iadvize_up {other:?}")),
            }
        },
    )
    .await;
    exporter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_goes_through_the_proxy_of_the_environment() {
    let sim = start_sim(SimConfig {
        history: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let url = sim.base_url();
    let sim_host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (proxy, tunnels) = connect_proxy().await;
    let proxy_url = format!("http://{proxy}");

    let exporter = counts_through(&[("HTTP_PROXY", &proxy_url)], &url).await;
    let seen = tunnels.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no tunnel through the proxy");
    assert!(
        seen.iter().all(|t| t == &sim_host),
        "{seen:?} vs {sim_host}"
    );
    drop(exporter);

    // NO_PROXY names the host: straight to it.
    tunnels.lock().unwrap().clear();
    let exporter = counts_through(
        &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "127.0.0.1")],
        &url,
    )
    .await;
    assert_eq!(tunnels.lock().unwrap().len(), 0);
    drop(exporter);
}
