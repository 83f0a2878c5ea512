//! The HTTP server: the telemetry path, a landing page, `/-/healthy` and `/-/ready`, behind
//! the TLS, basic auth and headers of the web config, on a hardened HTTP/1.1 server.
//!
//! A scrape renders the live metrics from atomics and joins the business families the
//! latest published snapshot was encoded to: it never calls iAdvize and never waits on
//! the poller.

mod auth;
mod config;
mod connections;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use connections::{Admitted, Connections, HEADER_DEADLINE_UNDER_PRESSURE};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

pub use config::{DEFAULT_RELOAD_INTERVAL, Reload, ReloadStatus, WebConfigError, WebSecurity};

use crate::metrics::{Exposition, Format, Metrics, ScrapeError};

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub metrics: Arc<Metrics>,
    pub telemetry_path: String,
}

/// The server's limits against slow, many or oversized clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's headers must arrive within this time; it is also how long an idle
    /// keep-alive connection stays open (slowloris).
    pub header_read_timeout: Duration,
    /// A TLS handshake must finish within this time.
    pub tls_handshake_timeout: Duration,
    /// A response must be answered within this time (503 otherwise), bcrypt included.
    pub request_time_limit: Duration,
    /// A write to a client that stops reading fails after this time, closing the
    /// connection.
    pub write_timeout: Duration,
    /// Connections open at once. At the cap a new connection closes the longest idle one
    /// (of the address holding the most); when none is idle it waits for a slot.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            request_time_limit: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 128,
        }
    }
}

/// Request headers bigger than this are refused (431) before any handler runs.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The routes, ready to serve, without the web config's protection (see [`app`]).
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(landing))
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .fallback(not_found)
        .with_state(state)
}

/// The routes behind the web config's rate limit, basic auth and headers, and the
/// method, body and time limits.
pub fn app(state: WebState, security: WebSecurity, request_time_limit: Duration) -> Router {
    let telemetry_path = state.telemetry_path.clone();
    protect(router(state), security, request_time_limit, telemetry_path)
}

fn protect(
    routes: Router,
    security: WebSecurity,
    request_time_limit: Duration,
    telemetry_path: String,
) -> Router {
    routes.layer(middleware::from_fn_with_state(
        Guard {
            security,
            request_time_limit,
            telemetry_path: Arc::from(telemetry_path),
        },
        guard,
    ))
}

/// Serve until `shutdown` completes, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    security: WebSecurity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, state, security, ServerLimits::default(), shutdown).await
}

/// [`serve`] with limits other than the defaults.
pub async fn serve_with_limits(
    listener: TcpListener,
    state: WebState,
    security: WebSecurity,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = state.metrics.clone();
    let app = app(state, security.clone(), limits.request_time_limit);
    let connections = Connections::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let reload = {
        AbortOnDrop(tokio::spawn(security.clone().watch(move |status| {
            metrics.web_config_reloaded(status.last_successful, status.last_success_seconds);
        })))
    };
    tokio::pin!(shutdown);
    loop {
        // Accept first, then find room: a new client is never left in the backlog behind
        // connections that send nothing.
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = tokio::select! {
            admitted = connections.admit(peer.ip()) => admitted,
            () = &mut shutdown => break,
        };
        let connection = Connection {
            app: app.clone(),
            settings: security.current(),
            limits: limits.clone(),
            peer,
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            tokio::select! {
                () = connection.serve(stream, watcher, &admitted) => {}
                // Dropping the connection's future closes its socket.
                () = admitted.closed() => {
                    tracing::debug!(%peer, "idle connection closed to make room for a new one");
                }
            }
            drop(admitted);
        });
    }
    drop(listener);
    drop(reload);
    // Requests in flight finish; idle keep-alive connections close now.
    let _ = tokio::time::timeout(Duration::from_secs(4), graceful.shutdown()).await;
    Ok(())
}

/// Per-connection errors (the client went away) are routine; others, such as running out
/// of file descriptors, are retried after a pause rather than spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionAborted
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionRefused => {
            tracing::debug!(%error, "accepting a connection failed");
        }
        _ => {
            tracing::error!(%error, "accepting connections failed; retrying in 1s");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One accepted connection, with the web config in force when it was accepted.
struct Connection {
    app: Router,
    settings: Arc<config::Settings>,
    limits: ServerLimits,
    peer: SocketAddr,
}

impl Connection {
    async fn serve(
        self,
        stream: TcpStream,
        watcher: hyper_util::server::graceful::Watcher,
        admitted: &Admitted,
    ) {
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(self.limits.write_timeout));
        let stream = Box::pin(stream);
        let header_read_timeout = if admitted.under_pressure {
            self.limits
                .header_read_timeout
                .min(HEADER_DEADLINE_UNDER_PRESSURE)
        } else {
            self.limits.header_read_timeout
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES);
        let service = TrackedService {
            inner: TowerToHyperService::new(self.app),
            tracker: admitted.tracker(),
        };
        let result = match &self.settings.tls {
            None => {
                watcher
                    .watch(http.serve_connection(TokioIo::new(stream), service))
                    .await
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                let handshake = tokio::time::timeout(
                    self.limits.tls_handshake_timeout,
                    acceptor.accept(stream),
                )
                .await;
                let stream = match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(peer = %self.peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                        return;
                    }
                };
                watcher
                    .watch(http.serve_connection(TokioIo::new(stream), service))
                    .await
            }
        };
        if let Err(error) = result {
            tracing::debug!(peer = %self.peer, %error, "connection closed with an error");
        }
    }
}

/// The router, with each request marking its connection busy until it is answered: a
/// busy connection is never closed to make room.
#[derive(Clone)]
struct TrackedService {
    inner: TowerToHyperService<Router>,
    tracker: connections::Tracker,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for TrackedService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let busy = self.tracker.busy();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(busy);
            response
        })
    }
}

#[derive(Clone)]
struct Guard {
    security: WebSecurity,
    request_time_limit: Duration,
    /// Never open, even if `--web.telemetry-path` names a probe's path.
    telemetry_path: Arc<str>,
}

/// The health endpoints answer without basic auth: they tell nothing about the business,
/// and probes (Kubernetes, load balancers) cannot be given a password without putting it
/// in their own configuration.
fn is_probe(path: &str, telemetry_path: &str) -> bool {
    (path == "/-/healthy" || path == "/-/ready") && path != telemetry_path
}

async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let settings = guard.security.current();
    let mut response = match tokio::time::timeout(
        guard.request_time_limit,
        checked(&guard, &settings, request, next),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long\n",
        )
            .into_response(),
    };
    for (name, value) in &settings.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn checked(
    guard: &Guard,
    settings: &config::Settings,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limit) = &settings.rate_limit
        && !limit.allow()
    {
        return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
    }
    if let Some(auth) = &settings.auth
        && !is_probe(request.uri().path(), &guard.telemetry_path)
        && !auth
            .allows(request.headers().get(header::AUTHORIZATION))
            .await
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
            "Unauthorized\n",
        )
            .into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
            "Method Not Allowed\n",
        )
            .into_response();
    }
    if has_body(request.headers()) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// A request announces a body with a non-zero `Content-Length` or any `Transfer-Encoding`.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// `rate_limit` of the web config: a token bucket shared by all requests, as the toolkit's.
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: u32,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// One request per `interval` on average, up to `burst` at once.
    pub fn new(interval: Duration, burst: u32) -> RateLimiter {
        RateLimiter {
            interval,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                updated: Instant::now(),
            }),
        }
    }

    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let Ok(mut bucket) = self.bucket.lock() else {
            return true;
        };
        let elapsed = now.saturating_duration_since(bucket.updated);
        let refill = elapsed.as_secs_f64() / self.interval.as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(f64::from(self.burst));
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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
    let gzip = accepts_gzip(&headers);
    let scraped = match state.metrics.scrape(format, gzip) {
        Err(error @ ScrapeError::Compress) => {
            // Identity is always acceptable, and a body is worth more than the saving.
            tracing::warn!(%error, "serving the metrics uncompressed");
            state.metrics.scrape(format, false)
        }
        other => other,
    };
    let exposition = match scraped {
        Ok(exposition) => exposition,
        Err(error) => {
            tracing::error!(%error, "encoding the metrics failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
                .into_response();
        }
    };
    let gzipped = exposition.is_gzip();
    let mut response = Response::new(Body::new(ExpositionBody::from(exposition)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    response
}

/// An [`Exposition`] sent chunk by chunk: the business bytes shared by every scrape of a
/// snapshot go to the socket as they are, without being copied into one buffer first.
struct ExpositionBody {
    chunks: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl From<Exposition> for ExpositionBody {
    fn from(exposition: Exposition) -> Self {
        ExpositionBody {
            remaining: exposition.len() as u64,
            chunks: exposition.into_chunks().into_iter(),
        }
    }
}

impl hyper::body::Body for ExpositionBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.next().map(|chunk| {
            this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    /// Exact, so that hyper sends a `Content-Length` rather than chunks.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
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

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "404 page not found\n")
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
    use axum::body::Body;
    use hyper::service::Service as _;

    use super::*;

    async fn call(routes: Router, request: axum::http::Request<Body>) -> Response {
        match TowerToHyperService::new(routes).call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    fn request(method: Method, path: &str) -> axum::http::request::Builder {
        axum::http::Request::builder().method(method).uri(path)
    }

    fn routes() -> Router {
        Router::new()
            .route("/fast", get(|| async { "fast\n" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "slow\n"
                }),
            )
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_over_the_time_limit_gets_503() {
        let app = protect(
            routes(),
            WebSecurity::none(),
            Duration::from_secs(10),
            "/metrics".into(),
        );
        let response = call(
            app.clone(),
            request(Method::GET, "/slow").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = call(
            app,
            request(Method::GET, "/fast").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn only_get_and_head_without_a_body() {
        let app = protect(
            routes(),
            WebSecurity::none(),
            Duration::from_secs(10),
            "/metrics".into(),
        );
        for method in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ] {
            let response = call(
                app.clone(),
                request(method.clone(), "/fast")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method}"
            );
            assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        }
        let response = call(
            app.clone(),
            request(Method::GET, "/fast")
                .header(header::CONTENT_LENGTH, "5")
                .body(Body::from("hello"))
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let response = call(
            app.clone(),
            request(Method::GET, "/fast")
                .header(header::TRANSFER_ENCODING, "chunked")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let response = call(
            app.clone(),
            request(Method::GET, "/fast")
                .header(header::CONTENT_LENGTH, "0")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = call(
            app,
            request(Method::HEAD, "/fast").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn probes_are_open_unless_they_serve_the_metrics() {
        assert!(is_probe("/-/healthy", "/metrics"));
        assert!(is_probe("/-/ready", "/metrics"));
        assert!(!is_probe("/", "/metrics"));
        assert!(!is_probe("/metrics", "/metrics"));
        assert!(!is_probe("/-/healthy/", "/metrics"));
        assert!(!is_probe("/-/ready", "/-/ready"));
    }

    #[test]
    fn the_rate_limiter_refills_one_token_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 2);
        let start = Instant::now();
        assert!(limiter.allow_at(start));
        assert!(limiter.allow_at(start));
        assert!(!limiter.allow_at(start), "the burst of 2 is spent");
        assert!(!limiter.allow_at(start + Duration::from_millis(900)));
        assert!(limiter.allow_at(start + Duration::from_millis(1000)));
        assert!(!limiter.allow_at(start + Duration::from_millis(1000)));
        // A long pause refills up to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert!(limiter.allow_at(later));
        assert!(limiter.allow_at(later));
        assert!(!limiter.allow_at(later));
    }

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

    #[tokio::test]
    async fn metrics_are_gzipped_when_asked_and_sent_with_their_length() {
        use axum::body::HttpBody as _;
        use std::io::Read as _;
        let app = router(WebState {
            metrics: Arc::new(Metrics::new()),
            telemetry_path: "/metrics".into(),
        });
        for (accept_encoding, gzip) in [(None, false), (Some("gzip"), true), (Some("br"), false)] {
            let mut builder = request(Method::GET, "/metrics");
            if let Some(value) = accept_encoding {
                builder = builder.header(header::ACCEPT_ENCODING, value);
            }
            let response = call(app.clone(), builder.body(Body::empty()).unwrap()).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers().get(header::CONTENT_ENCODING).is_some(),
                gzip
            );
            assert_eq!(response.headers()[header::VARY], "Accept, Accept-Encoding");
            let length = response.body().size_hint().exact();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(length, Some(body.len() as u64));
            let mut text = String::new();
            if gzip {
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_string(&mut text)
                    .unwrap();
            } else {
                text = String::from_utf8(body.to_vec()).unwrap();
            }
            assert!(
                text.contains("\n# TYPE iadvize_polls_total counter\n"),
                "{text}"
            );
        }
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
