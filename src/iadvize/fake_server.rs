//! A scripted iAdvize HTTP server (token and GraphQL endpoints) for the client's tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::model::QueryShape;
use super::{ClientConfig, Credentials, QueryChoice};
use crate::secret::Secret;

/// One request the fake server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) at: Instant,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Option<String>,
    pub(crate) body: Bytes,
}

impl Recorded {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    pub(crate) fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) chunks: Vec<Bytes>,
    /// Stream the chunks without a Content-Length.
    pub(crate) chunked: bool,
    pub(crate) delay: Option<Duration>,
}

impl Reply {
    pub(crate) fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            chunks: vec![Bytes::from(body.into())],
            chunked: false,
            delay: None,
        }
    }

    pub(crate) fn json(value: Value) -> Reply {
        Reply::new(200, value.to_string())
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

pub(crate) type Handler = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;
type Log = Arc<Mutex<Vec<Recorded>>>;

/// A scripted iAdvize: each endpoint answers with its handler, given the request and
/// its index among that endpoint's requests.
pub(crate) struct Fake {
    url: url::Url,
    token_log: Log,
    graphql_log: Log,
}

impl Fake {
    pub(crate) async fn start(token: Handler, graphql: Handler) -> Fake {
        let token_log = Log::default();
        let graphql_log = Log::default();
        let app = Router::new()
            .route(
                "/oauth2/token",
                post(serve).with_state((token_log.clone(), token)),
            )
            .route(
                "/graphql",
                post(serve).with_state((graphql_log.clone(), graphql)),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake {
            url: format!("http://{addr}").parse().unwrap(),
            token_log,
            graphql_log,
        }
    }

    pub(crate) async fn with_graphql(
        graphql: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Fake {
        Fake::start(Arc::new(token_ok), Arc::new(graphql)).await
    }

    pub(crate) fn tokens(&self) -> Vec<Recorded> {
        self.token_log.lock().unwrap().clone()
    }

    pub(crate) fn graphqls(&self) -> Vec<Recorded> {
        self.graphql_log.lock().unwrap().clone()
    }

    pub(crate) fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(
            self.url.clone(),
            Credentials::Password {
                username: "ops@example.com".to_owned(),
                password: Secret::new("pa ss&word=1"),
            },
        );
        config.query = QueryChoice::Fixed(QueryShape::SearchClosedConversations);
        config.max_requests_per_second = 1000.0;
        config.timeout = Duration::from_secs(5);
        config.max_attempts = 3;
        config.initial_backoff = Duration::from_millis(1);
        config.max_backoff = Duration::from_millis(4);
        config
    }
}

async fn serve(
    State((log, handler)): State<(Log, Handler)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        at: Instant::now(),
        headers,
        query: uri.query().map(str::to_owned),
        body,
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(recorded.clone());
        log.len() - 1
    };
    let reply = handler(&recorded, index);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let body = if reply.chunked {
        let chunks = reply
            .chunks
            .into_iter()
            .map(Ok::<_, std::convert::Infallible>);
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(reply.chunks.concat())
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

pub(crate) fn token_json(n: usize, expires_in: u64) -> Value {
    json!({"access_token": format!("tok-{n}"), "expires_in": expires_in,
           "token_type": "bearer", "refresh_token": "none"})
}

/// Logins succeed with `tok-1`, `tok-2`, ... valid 24 h.
pub(crate) fn token_ok(_: &Recorded, index: usize) -> Reply {
    Reply::json(token_json(index + 1, 86_400))
}

pub(crate) fn page_json(ids: &[&str], next: Option<&str>) -> Value {
    let edges: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"node": {
            "conversation": {"id": id, "createdAt": "2024-05-01T09:59:00Z",
                "closedAt": "2024-05-01T10:00:00Z", "channel": "CHAT",
                "duration": "PT60S", "project": {"id": 42}},
            "satisfactionSurvey": null, "conversions": null}})
        })
        .collect();
    json!({"data": {"searchClosedConversations": {"edges": edges,
        "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}}}})
}

pub(crate) fn ok_page(_: &Recorded, _: usize) -> Reply {
    Reply::json(page_json(&["c-1"], None))
}
