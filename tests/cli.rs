//! The real binary, spawned as a process: the demo serves its pages and stops cleanly on
//! SIGTERM and SIGINT, bad settings exit 2 naming what is wrong, `check` reports, and
//! neither passwords nor access tokens ever reach the output, whatever the log level.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{ExporterProcess, eventually, run, start_sim, until_ok};
use iadvize_exporter::simulator::{Offer, SimConfig, SimHandle};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(StatusCode, String), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------
// --demo: the pages, and a clean stop on a signal
// ---------------------------------------------------------------------------------------

fn start_demo() -> (ExporterProcess, String) {
    let process = ExporterProcess::spawn(&["--demo"], &[]);
    let base = process.url("");
    (process, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_its_pages_and_stops_on_sigterm() {
    let (process, base) = start_demo();
    let client = http();

    let metrics = eventually(
        Duration::from_secs(10),
        "demo /metrics shows business series and iadvize_up 1",
        || async {
            let (status, body) = get(&client, &format!("{base}/metrics")).await?;
            let business = body.lines().any(|l| {
                l.starts_with("iadvize_conversations_closed_total{")
                    || l.starts_with("iadvize_window_conversations{")
            });
            let up = body.lines().any(|l| l == "iadvize_up 1");
            if status == StatusCode::OK && business && up {
                Ok(body)
            } else {
                Err(format!("HTTP {status}\n{body}"))
            }
        },
    )
    .await;
    assert!(metrics.contains("# TYPE iadvize_up gauge"), "{metrics}");

    let (status, landing) = get(&client, &format!("{base}/")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(landing.contains("href=\"/metrics\""), "{landing}");

    let (status, _) = get(&client, &format!("{base}/-/healthy")).await.unwrap();
    assert_eq!(status, StatusCode::OK);

    let ready = format!("{base}/-/ready");
    until_ok(&client, &ready, Duration::from_secs(10), "/-/ready is 200").await;

    let (status, _) = get(&client, &format!("{base}/no-such-page")).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    process.signal("TERM");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
}

/// SIGINT as soon as the server answers, most likely while the first poll reads the
/// window: the stop does not wait for that poll to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stops_on_sigint() {
    let (process, base) = start_demo();
    let client = http();
    let healthy = format!("{base}/-/healthy");
    until_ok(
        &client,
        &healthy,
        Duration::from_secs(10),
        "/-/healthy is 200",
    )
    .await;

    process.signal("INT");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
}

/// SIGTERM while iAdvize accepts connections but never answers, so the first login hangs
/// until its 30 s timeout: the stop does not wait for the login or its retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_sigterm_while_iadvize_hangs() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for stream in silent.incoming().flatten() {
                held.lock().unwrap().push(stream);
            }
        });
    }
    let process = ExporterProcess::spawn(
        &[
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
            "--iadvize.timeout",
            "30s",
        ],
        &[("IADVIZE_PASSWORD", "x")],
    );
    eventually(
        Duration::from_secs(10),
        "the exporter connected to iAdvize",
        || async {
            if held.lock().unwrap().is_empty() {
                Err("no connection yet".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;

    process.signal("TERM");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
}

// ---------------------------------------------------------------------------------------
// Usage errors: exit 2, naming the flag, the variable or the file
// ---------------------------------------------------------------------------------------

async fn assert_usage_error(args: &[&str], env: &[(&str, &str)], named: &[&str]) {
    let finished = run(args, env).await;
    assert_eq!(finished.code(), Some(2), "{args:?} {env:?}\n{finished}");
    for name in named {
        assert!(
            finished.stderr.contains(name),
            "{args:?} {env:?}: stderr does not name {name:?}\n{finished}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_values_exit_2_naming_the_flag() {
    // --demo, so that credentials are not what is missing.
    let cases: [(&[&str], &str); 4] = [
        (&["--poll.interval", "abc"], "--poll.interval"),
        (&["--iadvize.url", "not-a-url"], "--iadvize.url"),
        (
            &["--metrics.duration-buckets", "5,3"],
            "--metrics.duration-buckets",
        ),
        (
            &["--web.listen-address", "nonsense"],
            "--web.listen-address",
        ),
    ];
    for (args, flag) in cases {
        let mut argv = vec!["--demo"];
        argv.extend_from_slice(args);
        assert_usage_error(&argv, &[], &[flag, "expected"]).await;
    }
}

/// A value that can never be right is reported even when the credentials are missing too,
/// so that the user does not fix one problem only to meet the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_value_is_named_even_without_credentials() {
    assert_usage_error(&["--poll.interval", "abc"], &[], &["--poll.interval"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_flag_exits_2_naming_it() {
    assert_usage_error(
        &["--demo", "--poll.intervall", "5s"],
        &[],
        &["--poll.intervall"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_exit_2_naming_the_flags_to_set() {
    assert_usage_error(
        &[],
        &[],
        &[
            "credentials",
            "--iadvize.username",
            "--iadvize.password-file",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_environment_value_exits_2_naming_the_variable() {
    assert_usage_error(
        &["--demo"],
        &[("IADVIZE_POLL_INTERVAL", "abc")],
        &["IADVIZE_POLL_INTERVAL"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_config_file_key_exits_2_naming_file_key_and_line() {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    file.write_all(b"poll:\n  interval: 5s\n  intervall: 10s\nlog.level: debug\n")
        .unwrap();
    let path = file.path().to_str().unwrap();
    assert_usage_error(
        &["--demo", "--config.file", path],
        &[],
        &[path, "poll.intervall", "line 3"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-file.yaml");
    let path = path.to_str().unwrap();
    assert_usage_error(&["--demo", "--config.file", path], &[], &[path]).await;
}

/// A state file that can never be saved is refused at start-up, not at every save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_in_a_missing_directory_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.bin");
    let path = path.to_str().unwrap();
    assert_usage_error(
        &["--demo", "--state.file", path],
        &[],
        &[path, "does not exist"],
    )
    .await;
}

/// Reading a FIFO would wait for a writer forever, `/dev/zero` would fill the memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_that_is_a_fifo_or_a_device_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("state.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let started = std::time::Instant::now();
        assert_usage_error(
            &["--demo", "--state.file", path],
            &[],
            &[path, "not a regular file"],
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(10), "{path}");
    }
}

// ---------------------------------------------------------------------------------------
// --help, --version
// ---------------------------------------------------------------------------------------

/// Every flag of `spec/CLI.md`, copied from there.
const CLI_FLAGS: [&str; 26] = [
    "--config.file",
    "--iadvize.url",
    "--iadvize.platform",
    "--iadvize.username",
    "--iadvize.password-file",
    "--iadvize.token-file",
    "--iadvize.project-ids",
    "--iadvize.query",
    "--iadvize.max-requests-per-second",
    "--iadvize.timeout",
    "--poll.interval",
    "--poll.overlap",
    "--poll.revisit-interval",
    "--poll.revisit-horizon",
    "--metrics.window",
    "--metrics.duration-buckets",
    "--metrics.amount-buckets",
    "--metrics.max-channels",
    "--metrics.max-currencies",
    "--state.file",
    "--web.listen-address",
    "--web.telemetry-path",
    "--web.config.file",
    "--log.level",
    "--log.format",
    "--demo",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_every_flag_and_command() {
    let finished = run(&["--help"], &[]).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    for flag in CLI_FLAGS {
        // A flag followed by a space or its value name, so --web.config.file is not found
        // inside --config.file, nor --iadvize.url inside another.
        let listed = finished.stdout.contains(&format!("{flag} "))
            || finished.stdout.contains(&format!("{flag}\n"));
        assert!(listed, "--help does not list {flag}\n{finished}");
    }
    for command in ["check", "simulate"] {
        assert!(finished.stdout.contains(command), "{command}\n{finished}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_exits_0() {
    let finished = run(&["--version"], &[]).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    assert!(finished.stdout.contains("0.1.0"), "{finished}");
}

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

/// A quiet account: five minutes of history, so the last hour has a page to read.
fn small_account(password: &str) -> SimConfig {
    SimConfig {
        seed: 7,
        history: Duration::from_secs(5 * 60),
        password: password.to_owned(),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_shape_and_the_page() {
    let sim = start_sim(small_account("demo")).await;
    let url = sim.base_url();
    let finished = run(
        &[
            "check",
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
        ],
        &[("IADVIZE_PASSWORD", "demo")],
    )
    .await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    // The field's GraphQL name, as the user's own queries spell it.
    assert!(
        finished
            .stdout
            .contains("query shape:      searchClosedConversations\n"),
        "{finished}"
    );
    assert!(
        finished
            .stdout
            .contains("schema:           every field the exporter reads is there\n"),
        "{finished}"
    );
    assert!(finished.stdout.contains("page 1"), "{finished}");
    assert!(finished.stdout.contains("100 records"), "{finished}");
    assert!(
        finished.stdout.contains("tags:             off\n"),
        "{finished}"
    );
    assert_eq!(sim.stats().logins, 1);
    // With tags on, check says it reads them: the simulator's pages carry some.
    let finished = run(
        &[
            "check",
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
            "--metrics.tags",
            "all",
        ],
        &[("IADVIZE_PASSWORD", "demo")],
    )
    .await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    assert!(
        finished.stdout.contains("tags:             read ("),
        "{finished}"
    );
    assert!(!finished.stdout.contains("read (0 distinct"), "{finished}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_wrong_password_fails_about_the_login_without_showing_it() {
    let sim = start_sim(small_account("demo")).await;
    let url = sim.base_url();
    let password = "Wr0ng-s3cr3t-Pa55";
    let finished = run(
        &[
            "check",
            "--iadvize.url",
            &url,
            "--iadvize.username",
            "demo@example.com",
            "--log.level",
            "trace",
        ],
        &[("IADVIZE_PASSWORD", password)],
    )
    .await;
    assert_eq!(finished.code(), Some(1), "{finished}");
    assert!(finished.stderr.contains("login"), "{finished}");
    assert!(!finished.output().contains(password), "{finished}");
    // The report says how far it got, and which step failed.
    assert!(
        finished.stdout.starts_with(&format!(
            "iAdvize URL:      {}/\nlogin:            failed: ",
            url.trim_end_matches('/')
        )),
        "{finished}"
    );
    assert!(!finished.stdout.contains("query shape"), "{finished}");
    assert!(sim.stats().logins_refused_credentials >= 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_schema_fallbacks() {
    // An account that offers only closedConversations, without Transaction.id.
    let sim = start_sim(SimConfig {
        offer: Offer::Closed,
        transaction_id: false,
        ..small_account("demo")
    })
    .await;
    let url = sim.base_url();
    let args = |query: &'static str| {
        vec![
            "check".to_owned(),
            "--iadvize.url".to_owned(),
            url.clone(),
            "--iadvize.username".to_owned(),
            "demo@example.com".to_owned(),
            "--iadvize.query".to_owned(),
            query.to_owned(),
        ]
    };
    let finished = run(&args("auto"), &[("IADVIZE_PASSWORD", "demo")]).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    let out = &finished.stdout;
    assert!(
        out.contains("query shape:      closedConversations\n"),
        "{finished}"
    );
    assert!(out.contains("schema fallbacks:\n"), "{finished}");
    assert!(
        out.contains("  searchClosedConversations: field Query.searchClosedConversations is missing: reading closedConversations instead\n"),
        "{finished}"
    );
    assert!(
        out.contains("  no Transaction.id: transactions are told apart by externalConversionId\n"),
        "{finished}"
    );
    // The shape named on the command line is missing: the report stops at the schema.
    let finished = run(
        &args("searchClosedConversations"),
        &[("IADVIZE_PASSWORD", "demo")],
    )
    .await;
    assert_ne!(finished.code(), Some(0), "{finished}");
    assert!(
        finished
            .stdout
            .contains("login:            ok\nquery shape:      failed: "),
        "{finished}"
    );
    assert!(!finished.stdout.contains("page 1"), "{finished}");
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Secrets never in the output
// ---------------------------------------------------------------------------------------

/// Forwards every request to the simulator and keeps the access tokens it hands out, so
/// the test knows the exact strings the exporter held.
#[derive(Clone)]
struct TokenSpy {
    upstream: String,
    client: reqwest::Client,
    tokens: Arc<Mutex<Vec<String>>>,
}

async fn forward(State(spy): State<TokenSpy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut upstream = spy
        .client
        .request(parts.method.clone(), format!("{}{path}", spy.upstream));
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.body(body).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers: Vec<(HeaderName, _)> = answer
        .headers()
        .iter()
        .filter(|(name, _)| {
            *name != header::CONTENT_LENGTH
                && *name != header::TRANSFER_ENCODING
                && *name != header::CONNECTION
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let Ok(bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if parts.uri.path() == "/oauth2/token" && status == StatusCode::OK {
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let token = json["access_token"].as_str().unwrap().to_owned();
        spy.tokens.lock().unwrap().push(token);
    }
    let mut response = (status, bytes).into_response();
    response.headers_mut().extend(headers);
    response
}

async fn start_token_spy(sim: &SimHandle) -> (String, Arc<Mutex<Vec<String>>>) {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let spy = TokenSpy {
        upstream: sim.base_url(),
        client: reqwest::Client::new(),
        tokens: tokens.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(spy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, tokens)
}

/// Runs the exporter against `url` with this password and these extra flags.
fn spawn_exporter(url: &str, password: &str, extra: &[&str]) -> ExporterProcess {
    let mut args = vec![
        "--iadvize.url",
        url,
        "--iadvize.username",
        "demo@example.com",
        "--iadvize.max-requests-per-second",
        "100",
        "--poll.interval",
        "300ms",
        "--metrics.window",
        "10m",
    ];
    args.extend_from_slice(extra);
    ExporterProcess::spawn(&args, &[("IADVIZE_PASSWORD", password)])
}

async fn until_stats(
    sim: &SimHandle,
    what: &str,
    done: impl Fn(&iadvize_exporter::simulator::Stats) -> bool,
) {
    eventually(Duration::from_secs(20), what, || async {
        let stats = sim.stats();
        if done(&stats) {
            Ok(())
        } else {
            Err(format!("{stats:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_show_neither_the_password_nor_the_tokens() {
    let password = "s3cr3t-Pa55word";
    let sim = start_sim(small_account(password)).await;
    let (url, tokens) = start_token_spy(&sim).await;
    let process = spawn_exporter(&url, password, &["--log.level", "trace"]);

    until_stats(&sim, "logged in and polled", |s| {
        s.logins == 1 && s.graphql_requests >= 3
    })
    .await;
    sim.revoke_tokens();
    let before = sim.stats();
    until_stats(&sim, "refused, logged in again and polled", |s| {
        s.unauthorized > before.unauthorized
            && s.logins == 2
            && s.graphql_requests >= before.graphql_requests + 3
    })
    .await;

    process.signal("TERM");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    let output = finished.output();
    // The logs really were at trace level, dependencies included.
    assert!(output.contains("level=trace"), "{finished}");
    assert!(!output.contains(password), "the password is in the output");
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2, "one login, one after the revocation");
    for token in &tokens {
        assert_eq!(token.len(), 40);
        assert!(
            !output.contains(token.as_str()),
            "an access token is in the output"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_login_does_not_show_the_password() {
    let sim = start_sim(small_account("the-right-one")).await;
    let url = sim.base_url();
    let password = "Wr0ng-s3cr3t-Pa55word";
    let process = spawn_exporter(&url, password, &["--log.level", "trace"]);
    until_stats(&sim, "a login refused", |s| {
        s.logins_refused_credentials >= 1
    })
    .await;
    process.signal("TERM");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    assert!(finished.stderr.contains("login"), "{finished}");
    assert!(!finished.output().contains(password), "{finished}");
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Log formats
// ---------------------------------------------------------------------------------------

/// Runs the exporter at debug level until it has logged in and polled, stops it, and
/// returns its stderr.
async fn logs_of_a_short_run(format: &str) -> String {
    let sim = start_sim(small_account("demo")).await;
    let url = sim.base_url();
    let process = spawn_exporter(
        &url,
        "demo",
        &["--log.level", "debug", "--log.format", format],
    );
    until_stats(&sim, "logged in and polled", |s| {
        s.logins == 1 && s.graphql_requests >= 3
    })
    .await;
    process.signal("TERM");
    let finished = process.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    assert_eq!(finished.stdout, "", "logs go to stderr");
    sim.shutdown().await;
    finished.stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_lines() {
    let stderr = logs_of_a_short_run("json").await;
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        assert!(object.get("level").is_some_and(|l| l.is_string()), "{line}");
    }
    assert!(stderr.contains("stopping"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_lines_have_level_and_msg() {
    let stderr = logs_of_a_short_run("logfmt").await;
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in lines {
        assert!(line.contains(" level="), "{line}");
        assert!(line.contains(" msg="), "{line}");
        assert!(line.starts_with("ts="), "{line}");
    }
    assert!(stderr.contains("msg=stopping"), "{stderr}");
}

/// A runtime failure is reported once, as a log line, not a log line and then the same
/// message again in plain text.
#[tokio::test]
async fn a_runtime_error_is_reported_once() {
    // A port already taken: the exporter cannot listen, exit 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let finished = run(&["--demo", "--web.listen-address", &address], &[]).await;
    assert_eq!(finished.code(), Some(1), "{}", finished.output());
    let mentions = finished.stderr.matches("cannot listen on").count();
    assert_eq!(mentions, 1, "{}", finished.stderr);
    // And the line is the log's own format.
    assert!(
        finished.stderr.contains("level=error"),
        "{}",
        finished.stderr
    );
}
