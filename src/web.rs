//! The HTTP server: the telemetry path, a landing page, `/-/healthy` and `/-/ready`.
//!
//! A scrape renders the metrics from atomics and the latest published snapshot: it never
//! calls iAdvize and never waits on the poller.

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::net::TcpListener;

use crate::metrics::{Format, Metrics};

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub metrics: Arc<Metrics>,
    pub telemetry_path: String,
}

/// The routes, ready to serve.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(landing))
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .with_state(state)
}

/// Serve until `shutdown` completes, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// OpenMetrics when the scraper lists it in `Accept`, else the 0.0.4 text format.
pub fn negotiate_format(headers: &HeaderMap) -> Format {
    let accepts_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
    if accepts_openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let format = negotiate_format(&headers);
    let body = match state.metrics.encode(format) {
        Ok(body) => body,
        Err(_) => {
            tracing::error!("encoding the metrics failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
                .into_response();
        }
    };
    let content_type = HeaderValue::from_static(format.content_type());
    if accepts_gzip(&headers) {
        let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
        if gz.write_all(body.as_bytes()).is_ok()
            && let Ok(compressed) = gz.finish()
        {
            return (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    (
                        header::VARY,
                        HeaderValue::from_static("Accept, Accept-Encoding"),
                    ),
                ],
                compressed,
            )
                .into_response();
        }
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::VARY,
                HeaderValue::from_static("Accept, Accept-Encoding"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn landing(State(state): State<WebState>) -> Html<String> {
    let path = html_escape(&state.telemetry_path);
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>iAdvize exporter</title></head>\n\
         <body>\n<h1>iAdvize exporter</h1>\n\
         <p>Prometheus metrics of iAdvize closed conversations: volumes, durations, CSAT, NPS and revenue.</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body>\n</html>\n"
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

async fn ready(State(state): State<WebState>) -> (StatusCode, &'static str) {
    if state.metrics.is_ready() {
        (StatusCode::OK, "Ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: no poll of iAdvize has succeeded yet\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn prometheus_accept_header_gets_openmetrics() {
        let h = headers(&[(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
        )]);
        assert_eq!(negotiate_format(&h), Format::OpenMetrics);
    }

    #[test]
    fn plain_or_missing_accept_gets_text() {
        assert_eq!(negotiate_format(&HeaderMap::new()), Format::Text);
        let h = headers(&[(header::ACCEPT, "text/plain")]);
        assert_eq!(negotiate_format(&h), Format::Text);
        let h = headers(&[(header::ACCEPT, "application/openmetrics-text; q=0")]);
        assert_eq!(negotiate_format(&h), Format::Text);
    }

    #[test]
    fn gzip_only_when_asked() {
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip")])));
        assert!(accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "deflate, gzip;q=0.8"
        )])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "gzip;q=0"
        )])));
        assert!(!accepts_gzip(&headers(&[(
            header::ACCEPT_ENCODING,
            "identity"
        )])));
    }
}
