//! The web config end to end: TLS with certificates made here, mTLS accepted and refused,
//! basic auth, certificate rotation while serving, the hardened HTTP server, bad web
//! configs refused at start-up, the bcrypt hash and the password kept out of the logs,
//! and a real Prometheus scraping the exporter over HTTPS with basic auth.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use common::{
    BIN, Ca, ExporterProcess, Leaf, Process, WebServer as Server, WriteFiles, eventually,
    eventually_every, free_port, https_client, prometheus_binary,
};
use iadvize_exporter::web::{Reload, ServerLimits, WebSecurity};
use reqwest::StatusCode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Handshakes and reloads are quick: poll them more often than the toolbox's default.
const EVERY: Duration = Duration::from_millis(100);

/// The scraper's password, and its bcrypt hashes made by another implementation
/// (libxcrypt, through Python's `crypt.crypt`): cost 4 keeps the debug-build tests fast,
/// cost 10 is what operators use.
const PASSWORD: &str = "scrape-secret";
const HASH_COST_4: &str = "$2b$04$jK1c7EDDPcGrBugUEDVgiecTadciXXGw/fpKkeHsxJ2p2YBHDdzma";
const HASH_COST_10: &str = "$2b$10$BQIAJ.okv4m4DKhwiBrwVebbBQuZSIvrSvrdzYuoKwrYnJRx/2pGi";
const USER: &str = "prometheus";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A web config with TLS from `server.crt` and `server.key` in `dir`, and `extra` YAML.
fn tls_config(dir: &TempDir, server: &Leaf, tls_extra: &str, extra: &str) -> PathBuf {
    dir.write("server.crt", &server.cert_pem);
    dir.write("server.key", &server.key_pem);
    dir.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls_extra}{extra}"
        ),
    )
}

/// A TLS server that asks for client certificates of `ca`, as the `client_auth` lines
/// (under `tls_server_config`) say.
async fn client_auth_server(dir: &TempDir, ca: &Ca, client_auth: &str) -> Server {
    dir.write("clients.crt", &ca.pem());
    let client_auth = format!("{client_auth}  client_ca_file: clients.crt\n");
    let web_config = tls_config(dir, &ca.server(), &client_auth, "");
    Server::start(&web_config, ServerLimits::default()).await
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A response, or the transport error as text.
async fn get(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> Result<reqwest::Response, String> {
    let mut request = client.get(url);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.map_err(|e| format!("{e:?}"))
}

async fn status(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> StatusCode {
    match get(client, url, credentials).await {
        Ok(response) => response.status(),
        Err(e) => panic!("GET {url} failed: {e}"),
    }
}

/// The certificate the server at `addr` presents, through a handshake trusting `ca`.
async fn served_certificate(addr: SocketAddr, ca: &Ca) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?;
    Ok(certs.first().ok_or("empty chain")?.to_vec())
}

// ---------------------------------------------------------------------------------------
// TLS and mTLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_serves_the_metrics_to_clients_that_trust_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = Server::start(
        &tls_config(&dir, &ca.server(), "", ""),
        ServerLimits::default(),
    )
    .await;

    let response = get(&https_client(&ca, None), &server.https("/metrics"), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("iadvize_exporter_build_info"), "{body}");

    // A client that trusts another CA refuses the server.
    let stranger = Ca::new("another CA");
    assert!(
        get(
            &https_client(&stranger, None),
            &server.https("/metrics"),
            None
        )
        .await
        .is_err()
    );
    // Plain HTTP gets no answer from the TLS port.
    assert!(
        get(&plain_client(), &server.http("/metrics"), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn mtls_accepts_clients_of_the_ca_and_refuses_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = client_auth_server(
        &dir,
        &ca,
        "  client_auth_type: RequireAndVerifyClientCert\n",
    )
    .await;
    let url = server.https("/metrics");

    let prometheus = ca.client("prometheus.example");
    assert_eq!(
        status(&https_client(&ca, Some(&prometheus)), &url, None).await,
        StatusCode::OK
    );

    let without = get(&https_client(&ca, None), &url, None).await;
    assert!(without.is_err(), "no client certificate: {without:?}");

    let stranger = Ca::new("another CA").client("prometheus.example");
    let foreign = get(&https_client(&ca, Some(&stranger)), &url, None).await;
    assert!(foreign.is_err(), "a certificate of another CA: {foreign:?}");
}

#[tokio::test]
async fn mtls_with_allowed_sans_refuses_other_names_from_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = client_auth_server(
        &dir,
        &ca,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [prometheus.example]\n",
    ).await;
    let url = server.https("/metrics");

    let allowed = ca.client("prometheus.example");
    assert_eq!(
        status(&https_client(&ca, Some(&allowed)), &url, None).await,
        StatusCode::OK
    );
    let other = ca.client("intruder.example");
    let refused = get(&https_client(&ca, Some(&other)), &url, None).await;
    assert!(refused.is_err(), "a SAN not in the list: {refused:?}");
}

#[tokio::test]
async fn verify_client_cert_if_given_lets_certificate_less_clients_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server =
        client_auth_server(&dir, &ca, "  client_auth_type: VerifyClientCertIfGiven\n").await;
    let url = server.https("/metrics");

    assert_eq!(
        status(&https_client(&ca, None), &url, None).await,
        StatusCode::OK
    );
    let good = ca.client("prometheus.example");
    assert_eq!(
        status(&https_client(&ca, Some(&good)), &url, None).await,
        StatusCode::OK
    );
    let stranger = Ca::new("another CA").client("prometheus.example");
    assert!(
        get(&https_client(&ca, Some(&stranger)), &url, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_certificate_is_rotated_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let first = ca.server();
    let server = Server::start(&tls_config(&dir, &first, "", ""), ServerLimits::default()).await;
    assert_eq!(
        served_certificate(server.addr, &ca).await.unwrap(),
        first.der()
    );

    // The rotation a certificate manager does: new key, new certificate, same paths.
    let second = ca.server();
    dir.write("server.key", &second.key_pem);
    dir.write("server.crt", &second.cert_pem);
    eventually_every(
        EVERY,
        Duration::from_secs(30),
        "the new certificate is served",
        || async {
            let served = served_certificate(server.addr, &ca).await?;
            if served == second.der() {
                Ok(())
            } else if served == first.der() {
                Err("still the first certificate".to_owned())
            } else {
                Err("an unknown certificate".to_owned())
            }
        },
    )
    .await;

    // A broken certificate file is refused; the second certificate stays in force.
    dir.write(
        "server.crt",
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
    );
    // The background reload may have seen it first; either way it is not applied.
    match server.security.check_for_changes() {
        Reload::Refused(_) | Reload::Unchanged => {}
        Reload::Applied => panic!("a broken certificate was applied"),
    }
    assert_eq!(
        served_certificate(server.addr, &ca).await.unwrap(),
        second.der()
    );
    let response = get(&https_client(&ca, None), &server.https("/metrics"), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Basic auth and headers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_right_wrong_missing_and_unknown_user() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let web_config = tls_config(
        &dir,
        &ca.server(),
        "",
        &format!(
            "basic_auth_users:\n  {USER}: {HASH_COST_4}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n"
        ),
    );
    let server = Server::start(&web_config, ServerLimits::default()).await;
    let client = https_client(&ca, None);
    let url = server.https("/metrics");

    let right = get(&client, &url, Some((USER, PASSWORD))).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.headers()["x-frame-options"], "deny");
    assert!(right.text().await.unwrap().contains("iadvize_up"));
    // Served from the cache the second time; still right.
    assert_eq!(
        status(&client, &url, Some((USER, PASSWORD))).await,
        StatusCode::OK
    );

    for (what, credentials) in [
        ("wrong password", Some((USER, "scrape-secreT"))),
        ("missing credentials", None),
        ("unknown user", Some(("grafana", PASSWORD))),
        ("empty password", Some((USER, ""))),
    ] {
        let response = get(&client, &url, credentials).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Basic", "{what}");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{what}"
        );
    }

    // Every page but the probes needs the password.
    assert_eq!(
        status(&client, &server.https("/"), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&client, &server.https("/nowhere"), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&client, &server.https("/-/healthy"), None).await,
        StatusCode::OK
    );
    let ready = status(&client, &server.https("/-/ready"), None).await;
    assert_eq!(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "no poll has run: not ready, but answered"
    );
}

/// The reload every ConfigMap update risks: the file is empty for a moment. TLS and basic
/// auth stay on, and the reload metrics say the version was refused.
#[tokio::test]
async fn an_emptied_web_config_keeps_tls_and_auth_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let web_config = tls_config(
        &dir,
        &ca.server(),
        "",
        &format!("basic_auth_users:\n  {USER}: {HASH_COST_4}\n"),
    );
    let server = Server::start(&web_config, ServerLimits::default()).await;
    let client = https_client(&ca, None);
    let url = server.https("/metrics");
    let reload_successful = || async {
        let body = get(&client, &url, Some((USER, PASSWORD)))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let line = body
            .lines()
            .find(|l| l.starts_with("iadvize_web_config_last_reload_successful "))
            .ok_or("no reload metric")?
            .to_owned();
        Ok::<String, String>(line)
    };
    assert_eq!(
        reload_successful().await.unwrap(),
        "iadvize_web_config_last_reload_successful 1"
    );

    std::fs::write(&web_config, "").unwrap();
    eventually(Duration::from_secs(10), "the refusal is shown", || async {
        match reload_successful().await {
            Ok(line) if line.ends_with(" 0") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Still TLS (the HTTPS client got through above), still basic auth; no plain HTTP.
    assert_eq!(status(&client, &url, None).await, StatusCode::UNAUTHORIZED);
    assert!(
        plain_client()
            .get(server.http("/metrics"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_malformed_authorization_header_gets_401() {
    let dir = tempfile::tempdir().unwrap();
    let web_config = dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  {USER}: {HASH_COST_4}\n"),
    );
    let server = Server::start(&web_config, ServerLimits::default()).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}{PASSWORD}"));
    for value in [
        format!("Basic {encoded}"),
        format!("Bearer {PASSWORD}"),
        "Basic %%%".to_owned(),
    ] {
        let response = plain_client()
            .get(server.http("/metrics"))
            .header("authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

// ---------------------------------------------------------------------------------------
// The hardened server
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn only_get_and_head_no_bodies_404_elsewhere_and_no_banner() {
    let server = Server::start_with(WebSecurity::none(), ServerLimits::default()).await;
    let client = plain_client();
    let url = server.http("/metrics");

    let ok = client.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("server").is_none(), "{:?}", ok.headers());

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());

    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = client.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }
    let with_body = client.get(&url).body("x".repeat(100)).send().await.unwrap();
    assert_eq!(with_body.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let missing = client.get(server.http("/metric")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get("server").is_none());
}

#[tokio::test]
async fn huge_headers_are_refused() {
    let server = Server::start_with(WebSecurity::none(), ServerLimits::default()).await;
    // 20 KiB: over the 16 KiB limit, and small enough to be sent whole before the answer.
    let response = plain_client()
        .get(server.http("/metrics"))
        .header("x-padding", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[tokio::test]
async fn headers_sent_too_slowly_get_the_connection_closed() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(500),
        ..ServerLimits::default()
    };
    let server = Server::start_with(WebSecurity::none(), limits).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The request line and one header, and then nothing: the end of the headers never comes.
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the server kept the slow connection open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
}

// ---------------------------------------------------------------------------------------
// The binary: start-up refusals, logs, and a real Prometheus
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_web_configs_stop_start_up_with_exit_2_naming_the_key_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server();
    dir.write("server.crt", &server.cert_pem);
    dir.write("server.key", &server.key_pem);
    dir.write("ca.crt", &ca.pem());
    let truncated_hash = &HASH_COST_10[..30];
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown key",
            "basic_auth_user:\n  prometheus: x\n".to_owned(),
            vec!["basic_auth_user"],
        ),
        (
            "unknown nested key",
            "tls_server_config:\n  certfile: server.crt\n".to_owned(),
            vec!["tls_server_config", "certfile"],
        ),
        (
            "bad hash",
            format!("basic_auth_users:\n  {USER}: \"{truncated_hash}\"\n"),
            vec!["basic_auth_users", USER],
        ),
        (
            "unreadable certificate",
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".to_owned(),
            vec!["tls_server_config.cert_file", "missing.crt"],
        ),
        (
            "client CA without a client auth type",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n"
                .to_owned(),
            vec!["tls_server_config.client_auth_type"],
        ),
        (
            "a header the toolkit does not allow",
            "http_server_config:\n  headers:\n    Server: hidden\n".to_owned(),
            vec!["http_server_config.headers.Server"],
        ),
    ];
    for (what, yaml, named) in cases {
        let file = dir.write("web.yml", &yaml);
        let file = file.to_str().unwrap();
        let process = Process::spawn(
            BIN,
            &[
                "--demo",
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                file,
            ],
            &[],
        );
        let finished = process.wait(Duration::from_secs(30)).await;
        let code = finished.code();
        let output = finished.output();
        assert_eq!(code, Some(2), "{what}: {output}");
        assert!(
            output.contains(file),
            "{what}: the file is not named: {output}"
        );
        for name in named {
            assert!(
                output.contains(name),
                "{what}: {name} is not named: {output}"
            );
        }
        assert!(
            !output.contains(truncated_hash),
            "{what}: the hash is shown: {output}"
        );
    }
    let process = Process::spawn(
        BIN,
        &[
            "--demo",
            "--web.config.file",
            dir.path().join("absent.yml").to_str().unwrap(),
        ],
        &[],
    );
    let finished = process.wait(Duration::from_secs(30)).await;
    assert_eq!(finished.code(), Some(2));
    assert!(
        finished.output().contains("absent.yml"),
        "{}",
        finished.output()
    );
}

#[tokio::test]
async fn trace_logs_never_show_the_hash_the_password_or_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server();
    let yaml = format!("basic_auth_users:\n  {USER}: {HASH_COST_4}\n");
    let web_config = tls_config(&dir, &server, "", &yaml);
    let process = ExporterProcess::spawn(
        &[
            "--demo",
            "--log.level",
            "trace",
            "--web.config.file",
            web_config.to_str().unwrap(),
        ],
        &[],
    );
    let address = process.address.clone();
    let client = https_client(&ca, None);
    let url = format!("https://{address}/metrics");
    eventually_every(
        EVERY,
        Duration::from_secs(60),
        "the exporter answers over TLS",
        || async {
            match get(&client, &format!("https://{address}/-/healthy"), None).await {
                Ok(r) if r.status() == StatusCode::OK => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(
        status(&client, &url, Some((USER, PASSWORD))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&client, &url, Some((USER, PASSWORD))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&client, &url, Some((USER, "wrong-secret"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&client, &url, Some(("intruder", PASSWORD))).await,
        StatusCode::UNAUTHORIZED
    );
    // A failed handshake, logged.
    assert!(
        get(&https_client(&Ca::new("another CA"), None), &url, None)
            .await
            .is_err()
    );

    // A broken hash arrives by reload: refused and logged; the old one stays in force.
    let broken = &HASH_COST_4[..40];
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  {USER}: \"{broken}\"\n"
        ),
    )
    .unwrap();
    eventually_every(
        EVERY,
        Duration::from_secs(30),
        "the broken reload is logged",
        || async {
            let output = process.output_so_far();
            if output.contains("previous one stays in force") {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        },
    )
    .await;
    assert_eq!(
        status(&client, &url, Some((USER, PASSWORD))).await,
        StatusCode::OK
    );

    process.terminate();
    let finished = process.wait(Duration::from_secs(30)).await;
    assert_eq!(finished.code(), Some(0));
    let output = finished.output();
    assert!(
        output.contains("level=trace"),
        "not at trace level:\n{output}"
    );
    assert!(
        output.contains("basic_auth_users"),
        "the refused reload is not named:\n{output}"
    );
    let header_value =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let key_body = server.key_pem.lines().nth(1).unwrap().to_owned();
    for (what, secret) in [
        ("the bcrypt hash", HASH_COST_4),
        ("the bcrypt hash's digest part", &HASH_COST_4[29..]),
        ("the broken hash", broken),
        ("the password", PASSWORD),
        ("the wrong password", "wrong-secret"),
        ("the Authorization header", header_value.as_str()),
        ("the TLS private key", key_body.as_str()),
    ] {
        assert!(!output.contains(secret), "{what} is in the output");
    }
}

#[tokio::test]
async fn prometheus_scrapes_over_https_with_basic_auth() {
    let prometheus_bin = prometheus_binary();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let yaml = format!("basic_auth_users:\n  {USER}: {HASH_COST_10}\n");
    let web_config = tls_config(&dir, &ca.server(), "", &yaml);
    let exporter = ExporterProcess::spawn(
        &["--demo", "--web.config.file", web_config.to_str().unwrap()],
        &[],
    );
    let exporter_address = exporter.address.clone();

    dir.write("ca.crt", &ca.pem());
    dir.write("password", PASSWORD);
    let prometheus_config = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: iadvize\n\
             \x20   scheme: https\n\
             \x20   basic_auth:\n\
             \x20     username: {USER}\n\
             \x20     password_file: {password}\n\
             \x20   tls_config:\n\
             \x20     ca_file: {ca}\n\
             \x20   static_configs:\n\
             \x20     - targets: ['{exporter_address}']\n",
            password = dir.path().join("password").display(),
            ca = dir.path().join("ca.crt").display(),
        ),
    );
    let prometheus_address = format!("127.0.0.1:{}", free_port());
    let prometheus = Process::spawn(
        prometheus_bin,
        &[
            &format!("--config.file={}", prometheus_config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address={prometheus_address}"),
        ],
        &[],
    );

    let api = plain_client();
    let query = format!("http://{prometheus_address}/api/v1/query");
    let up = eventually_every(
        EVERY,
        Duration::from_secs(50),
        "Prometheus sees up == 1",
        || async {
            let response = api
                .get(&query)
                .query(&[("query", "up{job=\"iadvize\"}")])
                .send()
                .await
                .map_err(|e| format!("{e}"))?;
            let body: serde_json::Value = response.json().await.map_err(|e| format!("{e}"))?;
            let value = body["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned);
            match value.as_deref() {
                Some("1") => Ok(body),
                _ => Err(format!(
                    "{body}\n--- exporter ---\n{}\n--- prometheus ---\n{}",
                    exporter.output_so_far(),
                    prometheus.output_so_far()
                )),
            }
        },
    )
    .await;
    assert_eq!(up["status"], "success");

    // And it read the exporter's series, not only its own.
    let response = api
        .get(&query)
        .query(&[("query", "iadvize_exporter_build_info")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "1", "{body}");
}

// ---------------------------------------------------------------------------------------
// Measurement (run by hand): what TLS and basic auth add to a scrape
// ---------------------------------------------------------------------------------------

/// `cargo test --release --test web_security -- --ignored --nocapture added_latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand in release mode"]
async fn added_latency_of_an_authenticated_tls_scrape() {
    const SCRAPES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let yaml = format!("basic_auth_users:\n  {USER}: {HASH_COST_10}\n");
    let protected = Server::start(
        &tls_config(&dir, &ca.server(), "", &yaml),
        ServerLimits::default(),
    )
    .await;
    let plain = Server::start_with(WebSecurity::none(), ServerLimits::default()).await;

    async fn timings(
        client: &reqwest::Client,
        url: &str,
        credentials: Option<(&str, &str)>,
    ) -> Vec<f64> {
        let mut ms = Vec::with_capacity(SCRAPES);
        for _ in 0..SCRAPES {
            let start = Instant::now();
            let response = get(client, url, credentials).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap();
            ms.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        ms
    }
    let summary = |ms: &[f64]| {
        format!(
            "median {:.3} ms, p90 {:.3} ms",
            ms[ms.len() / 2],
            ms[ms.len() * 9 / 10]
        )
    };

    let first = Instant::now();
    let kept_alive = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = get(
        &kept_alive,
        &protected.https("/metrics"),
        Some((USER, PASSWORD)),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    println!(
        "first authenticated TLS scrape (bcrypt cost 10): {:.1} ms",
        first.elapsed().as_secs_f64() * 1000.0
    );

    let plain_alive = reqwest::Client::new();
    let base = timings(&plain_alive, &plain.http("/metrics"), None).await;
    let secured = timings(
        &kept_alive,
        &protected.https("/metrics"),
        Some((USER, PASSWORD)),
    )
    .await;
    println!("keep-alive, plain HTTP, no auth:      {}", summary(&base));
    println!(
        "keep-alive, TLS + basic auth:         {}",
        summary(&secured)
    );
    println!(
        "added (median): {:.3} ms",
        secured[SCRAPES / 2] - base[SCRAPES / 2]
    );

    let base = timings(&plain_client(), &plain.http("/metrics"), None).await;
    let secured = timings(
        &https_client(&ca, None),
        &protected.https("/metrics"),
        Some((USER, PASSWORD)),
    )
    .await;
    println!("new connection, plain HTTP, no auth:  {}", summary(&base));
    println!(
        "new connection, TLS + basic auth:     {}",
        summary(&secured)
    );
    println!(
        "added (median): {:.3} ms",
        secured[SCRAPES / 2] - base[SCRAPES / 2]
    );
}
