//! Schema drift: iAdvize drops a field the exporter asks for and answers HTTP 400. The
//! log names the field, `iadvize_up` is 0, polls are retried, and counting resumes when
//! the field is back. `check` reports the same.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{DEMO_PASSWORD, ExporterProcess, eventually, run, start_sim};
use iadvize_exporter::simulator::SimConfig;

const DROPPED: &str = "externalConversionId";

#[derive(Clone)]
struct Proxy {
    upstream: String,
    drifted: Arc<AtomicBool>,
    http: reqwest::Client,
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if p.drifted.load(Ordering::Relaxed)
        && uri.path() == "/graphql"
        && body.windows(DROPPED.len()).any(|w| w == DROPPED.as_bytes())
    {
        let message = format!("Cannot query field \"{DROPPED}\" on type \"Transaction\".");
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"errors": [{"message": message}]})),
        )
            .into_response();
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map_or("", |q| q.as_str())
    );
    let mut request = p.http.request(method, url).body(body);
    for name in ["authorization", "content-type"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.clone());
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let retry_after = answer.headers().get("retry-after").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(v) = retry_after {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

async fn start_proxy(upstream: String) -> (String, Arc<AtomicBool>) {
    let drifted = Arc::new(AtomicBool::new(false));
    let proxy = Proxy {
        upstream,
        drifted: drifted.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), drifted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_field_is_named_and_polls_recover() {
    let sim = start_sim(SimConfig {
        seed: 41,
        speed: 60.0,
        rate_per_hour: 30.0,
        history: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let (url, drifted) = start_proxy(sim.base_url()).await;
    let mut child = ExporterProcess::spawn(
        &[
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
            "--poll.interval",
            "300ms",
        ],
        &DEMO_PASSWORD,
    );
    eventually(Duration::from_secs(15), "up", || async {
        let s = child.scrape().await?;
        if s.get("iadvize_up", &[]) == Some(1.0) {
            Ok(())
        } else {
            Err("not up".into())
        }
    })
    .await;

    drifted.store(true, Ordering::Relaxed);
    let failures_then = eventually(
        Duration::from_secs(15),
        "polls fail on the dropped field",
        || async {
            let s = child.scrape().await?;
            match (
                s.get("iadvize_up", &[]),
                s.get("iadvize_poll_failures_total", &[]),
            ) {
                (Some(up), Some(f)) if up == 0.0 && f >= 2.0 => Ok(f),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let stderr = child.stderr_so_far();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("level=warn") && l.contains(DROPPED) && l.contains("400")),
        "the log names the field: {stderr}"
    );
    // Retried, not given up: failures keep coming while the field is gone.
    eventually(Duration::from_secs(10), "more failed polls", || async {
        let f = child
            .scrape()
            .await?
            .get("iadvize_poll_failures_total", &[])
            .unwrap_or(0.0);
        if f > failures_then {
            Ok(())
        } else {
            Err(f.to_string())
        }
    })
    .await;

    drifted.store(false, Ordering::Relaxed);
    eventually(Duration::from_secs(15), "up again", || async {
        let s = child.scrape().await?;
        if s.get("iadvize_up", &[]) == Some(1.0) {
            Ok(())
        } else {
            Err("still down".into())
        }
    })
    .await;
    child.kill();

    // `check` reports the same.
    drifted.store(true, Ordering::Relaxed);
    let out = run(
        &[
            "check",
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
        ],
        &DEMO_PASSWORD,
    )
    .await;
    assert_eq!(out.code(), Some(1));
    let text = out.output();
    assert!(
        text.contains(DROPPED) && text.contains("400"),
        "check names the field: {text}"
    );
    sim.shutdown().await;
}
