//! The HTTP face of the simulated account: the token and GraphQL endpoints with their
//! auth rules and injected faults, and the `/_sim/` admin endpoints.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::auth::LoginRefusal;
use super::faults::Fault;
use super::graphql::{Answer, FieldGate, SimSchema, answer};
use super::record::ServedConversation;

#[derive(Clone)]
pub(crate) struct AppState {
    pub shared: Arc<Shared>,
    pub schema: SimSchema,
    pub gate: Arc<FieldGate>,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/_authenticated", get(authenticated))
        .route("/graphql", post(graphql))
        .route("/_sim/truth", get(truth))
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/revoke", post(revoke))
        .route("/_sim/conversations", post(add_conversations))
        .layer(axum::middleware::map_response_with_state(
            state.shared.clone(),
            dated,
        ))
        .with_state(state)
}

/// Every answer carries the account's own time in `Date`, as a real server's clock
/// would: the tests steer that clock, and the exporter must follow it, not ours.
async fn dated(State(shared): State<Arc<Shared>>, mut response: Response) -> Response {
    let date = chrono::DateTime::from_timestamp_millis(shared.now_ms())
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    if let Some(value) = date.and_then(|d| HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn invalid_token() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "access token not valid",
    )
}

fn graphql_errors(status: StatusCode, messages: &[String]) -> Response {
    let errors: Vec<_> = messages.iter().map(|m| json!({"message": m})).collect();
    json_response(status, json!({"errors": errors}))
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Whether the content type's media type (before any `;` parameter) is `expected`.
fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn token(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let now_ms = shared.now_ms();
    let ip = peer.ip();
    shared.check_wait(None, Some(ip), now_ms);
    if !has_content_type(&headers, "application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let mut username = None;
    let mut password = None;
    let mut grant_type = None;
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "username" => username = Some(value.into_owned()),
            "password" => password = Some(value.into_owned()),
            "grant_type" => grant_type = Some(value.into_owned()),
            _ => {}
        }
    }
    if grant_type.as_deref() != Some("password") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password",
        );
    }
    let (Some(username), Some(password)) = (username, password) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    match shared.login(&username, &password, ip, now_ms) {
        Ok(issued) => json_response(
            StatusCode::OK,
            json!({
                "access_token": issued.token,
                "expires_in": issued.expires_in_s,
                "token_type": "bearer",
                "refresh_token": "none",
            }),
        ),
        Err(LoginRefusal::BadCredentials) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Invalid username and password combination",
        ),
        Err(LoginRefusal::RateLimited { retry_after_s }) => with_retry_after(
            oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many logins: token generation is blocked for a while",
            ),
            retry_after_s,
        ),
    }
}

async fn authenticated(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let now_ms = app.shared.now_ms();
    if bearer(&headers).is_some_and(|t| app.shared.token_is_valid(t, now_ms)) {
        json_response(StatusCode::OK, json!({"authenticated": true}))
    } else {
        app.shared.with_stats(|s| s.unauthorized += 1);
        invalid_token()
    }
}

async fn graphql(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &app.shared;
    let now_ms = shared.now_ms();
    let ip: IpAddr = peer.ip();
    let request_number = shared.with_stats(|s| {
        s.graphql_requests += 1;
        s.graphql_requests
    });
    let token = bearer(&headers);
    shared.check_wait(token, Some(ip), now_ms);

    let response = graphql_inner(&app, token, ip, &headers, &body, now_ms).await;

    let revoke_every = shared.faults().revoke_every;
    if revoke_every > 0 && request_number % revoke_every == 0 {
        shared.revoke_all();
        shared.with_stats(|s| s.count_fault("revoked"));
    }
    response
}

async fn graphql_inner(
    app: &AppState,
    token: Option<&str>,
    ip: IpAddr,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Response {
    let shared = &app.shared;
    if !token.is_some_and(|t| shared.token_is_valid(t, now_ms)) {
        shared.with_stats(|s| s.unauthorized += 1);
        return invalid_token();
    }
    if !has_content_type(headers, "application/json") {
        return graphql_errors(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &["Content-Type must be application/json".to_string()],
        );
    }

    let faults = shared.faults();
    let (slow, fault) = faults.draw(&mut rand::rng());
    if slow {
        shared.with_stats(|s| s.count_fault("slow"));
        tokio::time::sleep(Duration::from_millis(faults.slow_delay_ms)).await;
    }
    if let Some(fault) = fault {
        shared.with_stats(|s| s.count_fault(fault.label()));
    }
    match fault {
        Some(Fault::Http500) => {
            return graphql_errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &["Internal Server Error".to_string()],
            );
        }
        Some(Fault::Http503) => {
            return graphql_errors(
                StatusCode::SERVICE_UNAVAILABLE,
                &["Service Unavailable".to_string()],
            );
        }
        Some(Fault::Http429) => {
            let seconds = faults.retry_after_seconds;
            let until_ms = shared
                .now_ms()
                .saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX / 2000) * 1000);
            shared.asked_to_wait(token, Some(ip), until_ms);
            return with_retry_after(
                graphql_errors(
                    StatusCode::TOO_MANY_REQUESTS,
                    &["Too Many Requests".to_string()],
                ),
                seconds,
            );
        }
        Some(Fault::GraphqlError) => {
            return json_response(
                StatusCode::OK,
                json!({"data": null, "errors": [{
                    "message": "An internal error occurred",
                    "extensions": {"name": "INTERNAL_ERROR", "retryPolicy": "RETRY"},
                }]}),
            );
        }
        Some(Fault::GraphqlErrorNoRetry) => {
            return json_response(
                StatusCode::OK,
                json!({"data": null, "errors": [{
                    "message": "You are not allowed to access this resource",
                    "extensions": {"name": "PERMISSION_DENIED", "retryPolicy": "NO_RETRY"},
                }]}),
            );
        }
        Some(Fault::Truncated) | None => {}
    }

    let request = match parse_request(body) {
        Ok(request) => request,
        Err(message) => {
            shared.with_stats(|s| s.validation_errors += 1);
            return graphql_errors(StatusCode::BAD_REQUEST, &[message]);
        }
    };
    match answer(&app.schema, &app.gate, request).await {
        Answer::Refused(messages) => {
            shared.with_stats(|s| s.validation_errors += 1);
            graphql_errors(StatusCode::BAD_REQUEST, &messages)
        }
        Answer::Executed(response) => {
            let Ok(mut bytes) = serde_json::to_vec(&response) else {
                return graphql_errors(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &["response could not be encoded".to_string()],
                );
            };
            if fault == Some(Fault::Truncated) {
                bytes.truncate(bytes.len() / 2);
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response()
        }
    }
}

/// The JSON body `{"query", "variables", "operationName"}`; `variables: null` is allowed.
fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON body: {e}"))?;
    let Some(object) = value.as_object_mut() else {
        return Err("The body must be a JSON object".to_string());
    };
    for key in ["variables", "operationName", "extensions"] {
        if object.get(key).is_some_and(serde_json::Value::is_null) {
            object.remove(key);
        }
    }
    if !object
        .get("query")
        .is_some_and(serde_json::Value::is_string)
    {
        return Err("The body must have a \"query\" string".to_string());
    }
    serde_json::from_value(value).map_err(|e| format!("Invalid request: {e}"))
}

#[derive(Deserialize)]
struct TruthParams {
    since: f64,
    until: Option<f64>,
}

async fn truth(State(app): State<AppState>, Query(params): Query<TruthParams>) -> Response {
    if !params.since.is_finite() || params.until.is_some_and(|u| !u.is_finite()) {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "since and until must be finite Unix seconds"}),
        );
    }
    let truth = app.shared.truth(params.since, params.until);
    (StatusCode::OK, axum::Json(truth)).into_response()
}

async fn stats(State(app): State<AppState>) -> Response {
    (StatusCode::OK, axum::Json(app.shared.stats())).into_response()
}

async fn get_faults(State(app): State<AppState>) -> Response {
    (StatusCode::OK, axum::Json(app.shared.faults())).into_response()
}

async fn set_faults(State(app): State<AppState>, body: Bytes) -> Response {
    let patch: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    match app.shared.faults().patched(&patch) {
        Ok(faults) => {
            app.shared.set_faults(faults.clone());
            (StatusCode::OK, axum::Json(faults)).into_response()
        }
        Err(e) => json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    }
}

async fn revoke(State(app): State<AppState>) -> Response {
    app.shared.revoke_all();
    json_response(StatusCode::OK, json!({"revoked": true}))
}

/// Fixtures: one conversation or an array, in the GraphQL JSON shape plus `closeTime`
/// (Unix seconds, used by the interval filter; defaults to `closedAt`).
async fn add_conversations(State(app): State<AppState>, body: Bytes) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        single => vec![single],
    };
    let mut fixtures = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match parse_fixture(item) {
            Ok(fixture) => fixtures.push(fixture),
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("conversation {i}: {e}")}),
                );
            }
        }
    }
    let added = fixtures.len();
    app.shared.add_fixtures(fixtures);
    json_response(StatusCode::OK, json!({"added": added}))
}

fn parse_fixture(mut item: serde_json::Value) -> Result<(i64, ServedConversation), String> {
    let Some(object) = item.as_object_mut() else {
        return Err("not a JSON object".to_string());
    };
    let close_time = object.remove("closeTime");
    let conversation: ServedConversation =
        serde_json::from_value(item).map_err(|e| e.to_string())?;
    let close_seconds = match close_time {
        Some(value) => value
            .as_f64()
            .filter(|s| s.is_finite())
            .ok_or("closeTime must be a number of Unix seconds")?,
        None => conversation
            .closed_at
            .as_deref()
            .and_then(super::truth::parse_date)
            .ok_or("closeTime is required when closedAt is not a date")?,
    };
    Ok(((close_seconds * 1000.0).round() as i64, conversation))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use crate::simulator::{Faults, SimConfig, SimHandle, start};

    async fn started(config: SimConfig) -> SimHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        start(config, listener).await.unwrap()
    }

    fn small() -> SimConfig {
        SimConfig {
            history: Duration::from_secs(120),
            ..SimConfig::default()
        }
    }

    async fn login_response(sim: &SimHandle, password: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/oauth2/token", sim.base_url()))
            .form(&[
                ("username", "demo@example.com"),
                ("password", password),
                ("grant_type", "password"),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn login(sim: &SimHandle) -> String {
        let response = login_response(sim, "demo").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    const QUERY: &str = "{ closedConversations(filters: {interval: {from: \"2000-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\"}}, first: 5) { edges { node { id } } } }";

    async fn graphql(sim: &SimHandle, token: &str, query: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": null}))
            .send()
            .await
            .unwrap()
    }

    async fn set_faults(sim: &SimHandle, patch: Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/faults", sim.base_url()))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn login_and_the_token_rules() {
        let sim = started(small()).await;
        let client = reqwest::Client::new();

        let wrong = login_response(&sim, "wrong").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");

        let as_json = client
            .post(format!("{}/oauth2/token", sim.base_url()))
            .json(&json!({"username": "demo@example.com", "password": "demo", "grant_type": "password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(as_json.status(), StatusCode::BAD_REQUEST);

        let response = login_response(&sim, "demo").await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 86_400);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["refresh_token"], "none");
        let token = body["access_token"].as_str().unwrap();

        let check = client
            .get(format!("{}/_authenticated", sim.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(check.status(), StatusCode::OK);
        assert_eq!(
            check.json::<Value>().await.unwrap(),
            json!({"authenticated": true})
        );
        let bad_check = client
            .get(format!("{}/_authenticated", sim.base_url()))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(bad_check.status(), StatusCode::UNAUTHORIZED);

        let no_token = client
            .post(format!("{}/graphql", sim.base_url()))
            .json(&json!({"query": QUERY}))
            .send()
            .await
            .unwrap();
        assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            no_token.json::<Value>().await.unwrap(),
            json!({"error": "invalid_token", "error_description": "access token not valid"})
        );

        let as_text = client
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body(json!({"query": QUERY}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(as_text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let ok = graphql(&sim, token, QUERY).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let body: Value = ok.json().await.unwrap();
        assert_eq!(
            body["data"]["closedConversations"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        let sd = client
            .post(format!("{}/graphql?platform=sd", sim.base_url()))
            .bearer_auth(token)
            .json(&json!({"query": QUERY}))
            .send()
            .await
            .unwrap();
        assert_eq!(sd.status(), StatusCode::OK);

        let stats = sim.stats();
        assert_eq!(stats.logins, 1);
        assert_eq!(stats.logins_refused_credentials, 1);
        assert_eq!(stats.unauthorized, 2);
        assert_eq!(stats.graphql_requests, 4);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn an_expired_token_gets_401() {
        let sim = started(SimConfig {
            token_lifetime: Duration::from_secs(10),
            ..small()
        })
        .await;
        let response = login_response(&sim, "demo").await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 10);
        let token = body["access_token"].as_str().unwrap().to_string();
        assert_eq!(graphql(&sim, &token, QUERY).await.status(), StatusCode::OK);
        sim.shared().clock.advance(Duration::from_secs(11));
        assert_eq!(
            graphql(&sim, &token, QUERY).await.status(),
            StatusCode::UNAUTHORIZED
        );
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn revoked_tokens_get_401() {
        let sim = started(small()).await;
        let token = login(&sim).await;
        let revoke = reqwest::Client::new()
            .post(format!("{}/_sim/revoke", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), StatusCode::OK);
        assert_eq!(
            graphql(&sim, &token, QUERY).await.status(),
            StatusCode::UNAUTHORIZED
        );

        // The first request above was number 1; revoke after every 3rd.
        set_faults(&sim, json!({"revoke_every": 3})).await;
        let token = login(&sim).await;
        assert_eq!(graphql(&sim, &token, QUERY).await.status(), StatusCode::OK);
        assert_eq!(graphql(&sim, &token, QUERY).await.status(), StatusCode::OK);
        assert_eq!(
            graphql(&sim, &token, QUERY).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(sim.stats().faults.get("revoked"), Some(&1));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn the_eleventh_login_in_a_minute_gets_429() {
        let sim = started(small()).await;
        for _ in 0..10 {
            login(&sim).await;
        }
        let refused = login_response(&sim, "demo").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after));
        // Asking again at once ignores the Retry-After just given.
        assert_eq!(
            login_response(&sim, "demo").await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let stats = sim.stats();
        assert_eq!(stats.logins, 10);
        assert_eq!(stats.login_times.len(), 10);
        assert_eq!(stats.logins_refused_rate_limit, 2);
        assert_eq!(stats.retry_after_violations, 1);
        sim.shared().clock.advance(Duration::from_secs(61));
        login(&sim).await;
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn injected_faults() {
        let sim = started(small()).await;
        let token = login(&sim).await;

        set_faults(&sim, json!({"http_500": 1.0})).await;
        assert_eq!(
            graphql(&sim, &token, QUERY).await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        set_faults(&sim, json!({"http_500": 0.0, "http_503": 1.0})).await;
        assert_eq!(
            graphql(&sim, &token, QUERY).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );

        set_faults(&sim, json!({"http_503": 0.0, "graphql_error": 1.0})).await;
        let response = graphql(&sim, &token, QUERY).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"], Value::Null);
        assert_eq!(body["errors"][0]["extensions"]["retryPolicy"], "RETRY");
        set_faults(
            &sim,
            json!({"graphql_error": 0.0, "graphql_error_no_retry": 1.0}),
        )
        .await;
        let body: Value = graphql(&sim, &token, QUERY).await.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["retryPolicy"], "NO_RETRY");

        set_faults(
            &sim,
            json!({"graphql_error_no_retry": 0.0, "truncated": 1.0, "slow": 1.0, "slow_delay_ms": 20}),
        )
        .await;
        let response = graphql(&sim, &token, QUERY).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
        assert!(text.starts_with("{\"data\""));

        set_faults(
            &sim,
            json!({"truncated": 0.0, "slow": 0.0, "http_429": 1.0, "retry_after_seconds": 30}),
        )
        .await;
        let response = graphql(&sim, &token, QUERY).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "30");
        set_faults(&sim, json!({"http_429": 0.0})).await;
        // Too early: counted as a violation, but answered.
        assert_eq!(graphql(&sim, &token, QUERY).await.status(), StatusCode::OK);
        sim.shared().clock.advance(Duration::from_secs(31));
        assert_eq!(graphql(&sim, &token, QUERY).await.status(), StatusCode::OK);

        let stats = sim.stats();
        assert_eq!(stats.retry_after_violations, 1);
        for kind in [
            "500",
            "503",
            "429",
            "graphql_error",
            "graphql_error_no_retry",
            "truncated",
            "slow",
        ] {
            assert_eq!(stats.faults.get(kind), Some(&1), "{kind}");
        }
        assert_eq!(
            sim.faults(),
            Faults {
                retry_after_seconds: 30,
                slow_delay_ms: 20,
                ..Faults::default()
            }
        );
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn a_query_with_an_unknown_field_gets_400() {
        let sim = started(small()).await;
        let token = login(&sim).await;
        let query = QUERY.replace("node { id }", "node { conversation { foo } }");
        let response = graphql(&sim, &token, &query).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("conversation")
        );
        let query = QUERY.replace("node { id }", "node { foo }");
        let body: Value = graphql(&sim, &token, &query).await.json().await.unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("foo")
        );
        let not_json = reqwest::Client::new()
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
        assert_eq!(sim.stats().validation_errors, 3);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn fixtures_are_served_verbatim_and_kept_out_of_the_truth() {
        let sim = started(SimConfig {
            rate_per_hour: 0.0,
            ..small()
        })
        .await;
        let fixture = json!({
            "id": "d42d8291-6542-4eed-bb44-988e5264fc2d",
            "createdAt": "2024-05-01T13:00:00+02:00",
            "closedAt": "2024-05-01T14:02:03.5+02:00",
            "closeTime": 1_714_564_923.5,
            "channel": "NEW_CHANNEL",
            "duration": "PT1H2M3.5S",
            "project": {"id": 1001, "name": "Shop"},
            "satisfactionSurvey": {"customerSatisfaction": 7},
            "conversions": {"transactions": [{
                "id": null, "amount": -3.5, "currency": "EURO", "externalConversionId": "o-1",
                "receivedAt": "2024-05-01T12:10:00Z", "visitorDate": "2024-05-01T12:10:00Z"
            }]}
        });
        let added = reqwest::Client::new()
            .post(format!("{}/_sim/conversations", sim.base_url()))
            .json(&json!([fixture]))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), StatusCode::OK);
        let token = login(&sim).await;
        let query = "{ closedConversations(filters: {interval: {from: \"2024-05-01T12:02:03.5Z\", to: \"2024-05-01T12:02:03.501Z\"}}) {
            edges { node { id createdAt closedAt channel duration project { id name }
              satisfactionSurvey { customerSatisfaction netPromoterScore }
              conversions { transactions { id amount currency externalConversionId } } } } } }";
        let body: Value = graphql(&sim, &token, query).await.json().await.unwrap();
        let node = &body["data"]["closedConversations"]["edges"][0]["node"];
        assert_eq!(node["id"], fixture["id"]);
        assert_eq!(node["closedAt"], "2024-05-01T14:02:03.5+02:00");
        assert_eq!(node["duration"], "PT1H2M3.5S");
        assert_eq!(node["satisfactionSurvey"]["customerSatisfaction"], 7);
        assert_eq!(node["satisfactionSurvey"]["netPromoterScore"], Value::Null);
        assert_eq!(node["conversions"]["transactions"][0]["amount"], -3.5);
        assert_eq!(node["conversions"]["transactions"][0]["currency"], "EURO");

        let truth: Value = reqwest::Client::new()
            .get(format!("{}/_sim/truth?since=0", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(truth["conversations"], json!([]));
        assert_eq!(truth["invalid"]["bad_csat"], 0);
        assert_eq!(truth["complete_at"], Value::Null);
        for key in [
            "as_of",
            "duration",
            "csat",
            "nps",
            "conversions",
            "transactions",
        ] {
            assert!(truth.get(key).is_some(), "{key}");
        }
        let bad = reqwest::Client::new()
            .post(format!("{}/_sim/conversations", sim.base_url()))
            .json(&json!({"id": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn the_truth_endpoint_reports_finite_traffic() {
        let sim = started(SimConfig {
            traffic_duration: Some(Duration::from_secs(1)),
            bad_record_rate: 0.5,
            ..small()
        })
        .await;
        let complete_at = sim.complete_at().unwrap();
        let truth: Value = reqwest::Client::new()
            .get(format!("{}/_sim/truth?since=0", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(truth["complete_at"].as_f64(), Some(complete_at));
        let counted: u64 = truth["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        // ~240 conversations over 120 s of history; about a quarter of the half that are
        // bad are skipped (no project, bad closedAt).
        assert!(counted > 100, "{counted}");
        let invalid: u64 = truth["invalid"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(invalid > 20, "{invalid}");
        let stats: Value = reqwest::Client::new()
            .get(format!("{}/_sim/stats", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["graphql_requests"], 0);
        sim.shutdown().await;
    }
}
