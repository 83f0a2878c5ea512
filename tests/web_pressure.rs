//! The endpoint under a flood of slow and idle connections: Prometheus must always get
//! through. A thousand hostile connections are opened against the server with its default
//! limits (128 connections, 10 s header deadline), then a normal scrape must be answered at
//! once, not after the hostile ones time out.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::WebServer;
use iadvize_exporter::web::{ServerLimits, WebSecurity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one response whose headers end the message (`/-/healthy` has a short body with a
/// Content-Length): enough to know the request was served on a kept-alive connection.
async fn read_response_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// A scrape on a new connection: the status line and how long it took.
async fn scrape(addr: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the scrape was never answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, started.elapsed())
}

/// Five scrapes on new connections, each answered 200 within a second.
async fn prometheus_gets_through(addr: SocketAddr, what: &str) {
    for attempt in 0..5 {
        let (status, took) = scrape(addr).await;
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{what}, attempt {attempt}: {status}"
        );
        assert!(
            took < Duration::from_secs(1),
            "{what}, attempt {attempt}: the scrape waited {took:?} behind the hostile connections"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_gets_through_a_thousand_slowloris_connections() {
    let server = WebServer::start_with(WebSecurity::none(), ServerLimits::default()).await;
    let addr = server.addr;
    let opened = Instant::now();
    let mut hostile = Vec::new();
    // A request line and one header, then nothing: each would hold a slot for the whole
    // 10 s header deadline.
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        hostile.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    prometheus_gets_through(addr, "behind 1,000 slowloris").await;
    // All of it well inside the header deadline: the scrapes did not get through because
    // the hostile connections had timed out.
    assert!(
        opened.elapsed() < Duration::from_secs(8),
        "{:?}",
        opened.elapsed()
    );
    drop(hostile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_client_gets_through_a_thousand_idle_keep_alive_connections() {
    let server = WebServer::start_with(WebSecurity::none(), ServerLimits::default()).await;
    let addr = server.addr;
    let mut hostile = Vec::new();
    // Each makes one request and then sits on its kept-alive connection; each must be
    // answered at once, not after older idle ones time out.
    for i in 0..1000 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let head = tokio::time::timeout(Duration::from_secs(1), read_response_head(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("idle client {i} waited over 1 s for a slot"));
        assert!(head.starts_with("HTTP/1.1 200"), "client {i}: {head}");
        hostile.push(stream);
    }
    prometheus_gets_through(addr, "behind 1,000 idle keep-alive connections").await;
    drop(hostile);
}

#[tokio::test]
async fn at_the_cap_an_idle_connection_gives_way_to_a_new_one() {
    // A cap of one, taken by a connection that sends nothing.
    let limits = ServerLimits {
        max_connections: 1,
        ..ServerLimits::default()
    };
    let server = WebServer::start_with(WebSecurity::none(), limits).await;
    let addr = server.addr;
    // An idle first connection gives way to the second at once.
    let mut first = TcpStream::connect(addr).await.unwrap();
    let (status, took) = scrape(addr).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // Not after the idle one's 10 s header deadline.
    assert!(
        took < Duration::from_secs(5),
        "the new connection waited {took:?}"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the idle connection was kept open at the cap"
    );
}
