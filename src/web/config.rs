//! `--web.config.file`, in the Prometheus exporter-toolkit format: read, checked, and
//! re-read when it or a file it names changes.
//!
//! Keys: `tls_server_config`, `basic_auth_users`, `http_server_config` and `rate_limit`,
//! as the toolkit spells them. Relative paths are relative to the web config file's
//! directory, as in the toolkit.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rustls::ServerConfig;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::RateLimiter;
use super::auth::{BasicAuth, User};
use super::tls::{self, ClientAuth, TlsSource};
use crate::secret::Secret;

/// How often the web config file and the files it names are checked for changes.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Why a web config was refused. The message names the file and, where one is at fault,
/// the key; it never quotes a hash, a private key or any other value of the file.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config {}: cannot read it: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, an unknown key, or a value of the wrong type.
    #[error("web config {}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    /// A key whose value cannot be used.
    #[error("web config {}: {key}: {message}", file.display())]
    Key {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A reload that would serve with less protection than is in force: refused, since an
    /// empty or half-written file (an editor's save, a ConfigMap update) must never turn
    /// the protection off. Turning it off takes a restart.
    #[error(
        "web config {}: the new version turns {what} off; the previous one stays in force (restart the exporter to serve without {what})",
        file.display()
    )]
    Weakened { file: PathBuf, what: &'static str },
    /// An empty file on reload: most likely one being written.
    #[error(
        "web config {}: the file is empty (perhaps being written); the previous version stays in force",
        file.display()
    )]
    EmptyOnReload { file: PathBuf },
}

// ---------------------------------------------------------------------------------------
// The file, as written
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileModel {
    tls_server_config: Option<TlsModel>,
    http_server_config: Option<HttpModel>,
    basic_auth_users: Option<BTreeMap<String, SecretText>>,
    rate_limit: Option<RateLimitModel>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TlsModel {
    cert: Option<String>,
    key: Option<SecretText>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// Accepted for compatibility; Go ignores it too.
    #[allow(dead_code)]
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpModel {
    /// Accepted for compatibility: the exporter serves HTTP/1.1 only.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RateLimitModel {
    burst: Option<u32>,
    interval: Option<String>,
}

/// A string value that is a secret (a hash, a private key): never printed.
struct SecretText(Secret);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| SecretText(Secret::new(s)))
    }
}

/// The toolkit treats an empty string as "not set".
fn set<T: AsRef<str>>(value: &Option<T>) -> Option<&T> {
    value.as_ref().filter(|v| !v.as_ref().is_empty())
}

fn set_path(value: &Option<PathBuf>) -> Option<&PathBuf> {
    value.as_ref().filter(|p| !p.as_os_str().is_empty())
}

impl TlsModel {
    /// TLS is on when any certificate, key or client-certificate setting is present, as in
    /// the toolkit.
    fn enabled(&self) -> bool {
        set(&self.cert).is_some()
            || self.key.as_ref().is_some_and(|k| !k.0.is_empty())
            || set(&self.client_ca).is_some()
            || set_path(&self.cert_file).is_some()
            || set_path(&self.key_file).is_some()
            || set_path(&self.client_ca_file).is_some()
            || set(&self.client_auth_type).is_some()
    }

    /// A setting that only means something with TLS on.
    fn first_tls_only_setting(&self) -> Option<&'static str> {
        if self.min_version.is_some() {
            Some("min_version")
        } else if self.max_version.is_some() {
            Some("max_version")
        } else if self.cipher_suites.is_some() {
            Some("cipher_suites")
        } else if self.curve_preferences.is_some() {
            Some("curve_preferences")
        } else if self.client_allowed_sans.is_some() {
            Some("client_allowed_sans")
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading: the file and every file it names, fingerprinted
// ---------------------------------------------------------------------------------------

/// The web config file parsed, with the files it names read, and a digest of every byte
/// read so a reload can tell whether anything changed.
struct Sources {
    file: PathBuf,
    /// Whether the file holds nothing but blanks and comments.
    empty: bool,
    model: FileModel,
    cert_file: Option<Vec<u8>>,
    key_file: Option<Vec<u8>>,
    client_ca_file: Option<Vec<u8>>,
    fingerprint: [u8; 32],
}

fn key_error(file: &Path, key: impl Into<String>, message: impl Into<String>) -> WebConfigError {
    WebConfigError::Key {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

fn read_sources(file: &Path) -> Result<Sources, WebConfigError> {
    let bytes = std::fs::read(file).map_err(|source| WebConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let mut digest = Sha256::new();
    digest.update(&bytes);
    let model = parse(file, &bytes)?;
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut read_named = |key: &str, path: Option<&PathBuf>| -> Result<_, WebConfigError> {
        let Some(path) = path else {
            return Ok(None);
        };
        let path = dir.join(path);
        let content = std::fs::read(&path).map_err(|e| {
            key_error(
                file,
                format!("tls_server_config.{key}"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        // Each file's length goes in first, so moving bytes between files changes the
        // fingerprint.
        digest.update((content.len() as u64).to_be_bytes());
        digest.update(&content);
        Ok(Some(content))
    };
    let tls = model.tls_server_config.as_ref();
    let cert_file = read_named("cert_file", tls.and_then(|t| set_path(&t.cert_file)))?;
    let key_file = read_named("key_file", tls.and_then(|t| set_path(&t.key_file)))?;
    let client_ca_file = read_named(
        "client_ca_file",
        tls.and_then(|t| set_path(&t.client_ca_file)),
    )?;
    let empty = std::str::from_utf8(&bytes).is_ok_and(|text| {
        text.lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    });
    Ok(Sources {
        file: file.to_path_buf(),
        empty,
        model,
        cert_file,
        key_file,
        client_ca_file,
        fingerprint: digest.finalize().into(),
    })
}

fn parse(file: &Path, bytes: &[u8]) -> Result<FileModel, WebConfigError> {
    let parse_error = |message: String| WebConfigError::Parse {
        file: file.to_path_buf(),
        message: redact_quoted_strings(&message),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| parse_error("not UTF-8 text".into()))?;
    // First as a plain value, to tell an empty file (no protection, as in the toolkit)
    // from a mapping, and to refuse anything else without quoting it.
    let value: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    match value {
        serde_norway::Value::Null => Ok(FileModel::default()),
        serde_norway::Value::Mapping(_) => {
            serde_norway::from_str(text).map_err(|e| parse_error(e.to_string()))
        }
        _ => Err(parse_error(
            "expected a mapping of tls_server_config, basic_auth_users, http_server_config, rate_limit"
                .into(),
        )),
    }
}

/// serde quotes a string it did not expect (`invalid type: string "…", expected …`); in a
/// web config that string may be a hash or a private key, so it is cut out.
fn redact_quoted_strings(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(MARK) {
        out.push_str(&rest[..start + MARK.len()]);
        rest = &rest[start + MARK.len()..];
        // Skip to the closing quote, stepping over escaped characters.
        let mut end = rest.len();
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            }
        }
        out.push_str("<redacted>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// Building: what the server applies
// ---------------------------------------------------------------------------------------

/// One generation of the web config, as the server applies it.
pub(crate) struct Settings {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// `None`: no basic auth.
    pub auth: Option<BasicAuth>,
    /// `http_server_config.headers`, added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate_limit: Option<RateLimiter>,
}

impl Settings {
    fn unprotected() -> Settings {
        Settings {
            tls: None,
            auth: None,
            headers: Vec::new(),
            rate_limit: None,
        }
    }
}

/// The headers the toolkit lets a web config set, with the values allowed where they are
/// an enumeration.
const CONFIGURABLE_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn build(sources: Sources) -> Result<Settings, WebConfigError> {
    let file = sources.file.as_path();
    let model = &sources.model;
    let mut settings = Settings::unprotected();

    if let Some(t) = &model.tls_server_config {
        if t.enabled() {
            let source = tls_source(file, t, &sources)?;
            let config = tls::server_config(&source).map_err(|refusal| {
                key_error(
                    file,
                    format!("tls_server_config.{}", refusal.key),
                    refusal.message,
                )
            })?;
            settings.tls = Some(config);
        } else if let Some(key) = t.first_tls_only_setting() {
            return Err(key_error(
                file,
                format!("tls_server_config.{key}"),
                "set without a certificate: add cert_file and key_file",
            ));
        }
    }

    if let Some(users) = &model.basic_auth_users
        && !users.is_empty()
    {
        let users = users
            .iter()
            .map(|(name, hash)| User {
                name: name.clone(),
                hash: hash.0.clone(),
            })
            .collect();
        let auth = BasicAuth::new(users)
            .map_err(|e| key_error(file, "basic_auth_users", e.to_string()))?;
        settings.auth = Some(auth);
    }

    if let Some(headers) = model
        .http_server_config
        .as_ref()
        .and_then(|h| h.headers.as_ref())
    {
        for (name, value) in headers {
            settings.headers.push(header(file, name, value)?);
        }
    }

    if let Some(limit) = &model.rate_limit {
        settings.rate_limit = rate_limit(file, limit)?;
    }
    Ok(settings)
}

fn tls_source(file: &Path, t: &TlsModel, sources: &Sources) -> Result<TlsSource, WebConfigError> {
    let both = |a: &str, b: &str| {
        key_error(
            file,
            format!("tls_server_config.{a}"),
            format!("set {a} or {b}, not both"),
        )
    };
    let (cert_pem, cert_key) = match (set(&t.cert), &sources.cert_file) {
        (Some(_), Some(_)) => return Err(both("cert", "cert_file")),
        (Some(text), None) => (text.as_bytes().to_vec(), "cert"),
        (None, Some(bytes)) => (bytes.clone(), "cert_file"),
        (None, None) => {
            return Err(key_error(
                file,
                "tls_server_config.cert_file",
                "missing: set cert_file (or cert)",
            ));
        }
    };
    let inline_key = t.key.as_ref().filter(|k| !k.0.is_empty());
    let (key_pem, key_key) = match (inline_key, &sources.key_file) {
        (Some(_), Some(_)) => return Err(both("key", "key_file")),
        (Some(text), None) => (text.0.expose().as_bytes().to_vec(), "key"),
        (None, Some(bytes)) => (bytes.clone(), "key_file"),
        (None, None) => {
            return Err(key_error(
                file,
                "tls_server_config.key_file",
                "missing: set key_file (or key)",
            ));
        }
    };
    let (client_ca_pem, client_ca_key) = match (set(&t.client_ca), &sources.client_ca_file) {
        (Some(_), Some(_)) => return Err(both("client_ca", "client_ca_file")),
        (Some(text), None) => (Some(text.as_bytes().to_vec()), "client_ca"),
        (None, Some(bytes)) => (Some(bytes.clone()), "client_ca_file"),
        (None, None) => (None, "client_ca_file"),
    };
    let auth_name = t.client_auth_type.as_deref().unwrap_or("");
    let client_auth = ClientAuth::parse(auth_name).ok_or_else(|| {
        key_error(
            file,
            "tls_server_config.client_auth_type",
            format!(
                "unknown value {auth_name:?}; expected NoClientCert, RequestClientCert, \
                 RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ),
        )
    })?;
    Ok(TlsSource {
        cert_pem,
        cert_key,
        key_pem,
        key_key,
        client_auth,
        client_ca_pem,
        client_ca_key,
        client_allowed_sans: t.client_allowed_sans.clone(),
        min_version: set(&t.min_version).cloned(),
        max_version: set(&t.max_version).cloned(),
        cipher_suites: t.cipher_suites.clone(),
        curve_preferences: t.curve_preferences.clone(),
    })
}

fn header(
    file: &Path,
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), WebConfigError> {
    let key = format!("http_server_config.headers.{name}");
    let Some((canonical, allowed)) = CONFIGURABLE_HEADERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = CONFIGURABLE_HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(key_error(
            file,
            key,
            format!("this header cannot be set; allowed: {}", names.join(", ")),
        ));
    };
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return Err(key_error(
            file,
            key,
            format!(
                "invalid value {value:?}; expected one of {}",
                allowed.join(", ")
            ),
        ));
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| key_error(file, key.clone(), "not a valid header value"))?;
    let name = HeaderName::from_bytes(canonical.as_bytes())
        .map_err(|_| key_error(file, key, "not a valid header name"))?;
    Ok((name, value))
}

fn rate_limit(file: &Path, limit: &RateLimitModel) -> Result<Option<RateLimiter>, WebConfigError> {
    let interval = match set(&limit.interval) {
        None => return Ok(None),
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            key_error(
                file,
                "rate_limit.interval",
                format!("not a duration ({e}); e.g. 1s, 100ms"),
            )
        })?,
    };
    if interval.is_zero() {
        return Ok(None);
    }
    let burst = limit.burst.unwrap_or(0);
    if burst == 0 {
        return Err(key_error(
            file,
            "rate_limit.burst",
            "must be at least 1 when rate_limit.interval is set, or every request is refused",
        ));
    }
    Ok(Some(RateLimiter::new(interval, burst)))
}

// ---------------------------------------------------------------------------------------
// The handle the server holds
// ---------------------------------------------------------------------------------------

/// What the server enforces: TLS, basic auth, extra headers and a rate limit, from the web
/// config file, kept current as the file changes. Cheap to clone.
#[derive(Clone)]
pub struct WebSecurity {
    shared: Arc<Shared>,
}

struct Shared {
    file: Option<PathBuf>,
    current: RwLock<Arc<Settings>>,
    /// What the previous check saw, so an unchanged file is not rebuilt and an unchanged
    /// mistake is logged once.
    last_seen: Mutex<Option<Seen>>,
    reload_interval: Duration,
    status: Mutex<ReloadStatus>,
}

/// How the last reload went, for `iadvize_web_config_last_reload_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    /// Whether the last version read (at start-up or on a change) is in force.
    pub last_successful: bool,
    /// Unix seconds of the last version put in force (start-up counts).
    pub last_success_seconds: f64,
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(PartialEq)]
enum Seen {
    Fingerprint([u8; 32]),
    Refused(String),
}

/// The outcome of [`WebSecurity::check_for_changes`].
#[derive(Debug)]
pub enum Reload {
    /// No byte changed since the previous check (or the same mistake is still there).
    Unchanged,
    /// The new version is in force.
    Applied,
    /// The new version is refused; the previous one stays in force.
    Refused(WebConfigError),
}

impl fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSecurity")
            .field("file", &self.shared.file)
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

impl WebSecurity {
    /// No web config: plain HTTP, no auth.
    pub fn none() -> WebSecurity {
        WebSecurity::with(None, Settings::unprotected(), None, DEFAULT_RELOAD_INTERVAL)
    }

    /// Reads and checks `file` and every file it names. An error here should stop
    /// start-up.
    pub fn load(file: &Path) -> Result<WebSecurity, WebConfigError> {
        WebSecurity::load_with_reload_interval(file, DEFAULT_RELOAD_INTERVAL)
    }

    /// [`WebSecurity::load`], checking for changes every `reload_interval` once served.
    pub fn load_with_reload_interval(
        file: &Path,
        reload_interval: Duration,
    ) -> Result<WebSecurity, WebConfigError> {
        let sources = read_sources(file)?;
        let fingerprint = sources.fingerprint;
        let settings = build(sources)?;
        Ok(WebSecurity::with(
            Some(file.to_path_buf()),
            settings,
            Some(Seen::Fingerprint(fingerprint)),
            reload_interval,
        ))
    }

    fn with(
        file: Option<PathBuf>,
        settings: Settings,
        seen: Option<Seen>,
        reload_interval: Duration,
    ) -> WebSecurity {
        WebSecurity {
            shared: Arc::new(Shared {
                file,
                current: RwLock::new(Arc::new(settings)),
                last_seen: Mutex::new(seen),
                reload_interval,
                status: Mutex::new(ReloadStatus {
                    last_successful: true,
                    last_success_seconds: unix_seconds(),
                }),
            }),
        }
    }

    /// Whether new connections are served over TLS.
    pub fn is_tls(&self) -> bool {
        self.current().tls.is_some()
    }

    /// Whether requests need a basic-auth user.
    pub fn has_basic_auth(&self) -> bool {
        self.current().auth.is_some()
    }

    pub(crate) fn current(&self) -> Arc<Settings> {
        match self.shared.current.read() {
            Ok(current) => current.clone(),
            // A panic while swapping cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How the last reload went.
    pub fn reload_status(&self) -> ReloadStatus {
        match self.shared.status.lock() {
            Ok(status) => *status,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn set_reload_status(&self, successful: bool) {
        let mut status = match self.shared.status.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        status.last_successful = successful;
        if successful {
            status.last_success_seconds = unix_seconds();
        }
    }

    /// Re-reads the web config file and the files it names; applies them if any byte
    /// changed, all is valid, and nothing in force is turned off. Blocking file I/O.
    pub fn check_for_changes(&self) -> Reload {
        let Some(file) = &self.shared.file else {
            return Reload::Unchanged;
        };
        let outcome = read_sources(file).and_then(|sources| {
            let fingerprint = sources.fingerprint;
            if self.seen_is(&Seen::Fingerprint(fingerprint)) {
                return Ok(None);
            }
            if sources.empty {
                return Err(WebConfigError::EmptyOnReload { file: file.clone() });
            }
            let settings = build(sources)?;
            self.refuse_weaker(file, &settings)?;
            Ok(Some((settings, fingerprint)))
        });
        match outcome {
            Ok(None) => Reload::Unchanged,
            Ok(Some((settings, fingerprint))) => {
                self.set_seen(Seen::Fingerprint(fingerprint));
                match self.shared.current.write() {
                    Ok(mut current) => *current = Arc::new(settings),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(settings),
                }
                self.set_reload_status(true);
                Reload::Applied
            }
            Err(error) => {
                self.set_reload_status(false);
                let seen = Seen::Refused(error.to_string());
                if self.seen_is(&seen) {
                    return Reload::Unchanged;
                }
                self.set_seen(seen);
                Reload::Refused(error)
            }
        }
    }

    /// A reload may add or change protection, never remove it: TLS and basic auth that
    /// are in force stay on until a restart.
    fn refuse_weaker(&self, file: &Path, new: &Settings) -> Result<(), WebConfigError> {
        let current = self.current();
        let weakened = |what| WebConfigError::Weakened {
            file: file.to_path_buf(),
            what,
        };
        if current.tls.is_some() && new.tls.is_none() {
            return Err(weakened("TLS"));
        }
        if current.auth.is_some() && new.auth.is_none() {
            return Err(weakened("basic auth"));
        }
        Ok(())
    }

    fn seen_is(&self, seen: &Seen) -> bool {
        self.shared
            .last_seen
            .lock()
            .map(|last| last.as_ref() == Some(seen))
            .unwrap_or(false)
    }

    fn set_seen(&self, seen: Seen) {
        if let Ok(mut last) = self.shared.last_seen.lock() {
            *last = Some(seen);
        }
    }

    /// Checks for changes every reload interval, forever; logs what happens and hands
    /// each outcome to `report`. Returns at once when there is no web config file.
    pub(crate) async fn watch(self, report: impl Fn(ReloadStatus) + Send + 'static) {
        report(self.reload_status());
        if self.shared.file.is_none() {
            return;
        }
        let mut ticks = tokio::time::interval(self.shared.reload_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let this = self.clone();
            let outcome = tokio::task::spawn_blocking(move || this.check_for_changes()).await;
            report(self.reload_status());
            match outcome {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Applied) => {
                    tracing::info!(
                        tls = self.is_tls(),
                        basic_auth = self.has_basic_auth(),
                        "web config reloaded"
                    );
                }
                Ok(Reload::Refused(error)) => {
                    tracing::error!(%error, "the changed web config is refused; the previous one stays in force");
                }
                Err(error) => {
                    tracing::error!(%error, "checking the web config for changes failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // "wonderland" at cost 4, made by libxcrypt (Python's `crypt.crypt`).
    const HASH: &str = "$2b$04$5KXYp5Rwayt8Y5c.H76X.u6Tc37OhEk3O8lvYJmTPRthckK2Aa7My";

    /// A directory of its own under the system's temporary directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "iadvize-web-config-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn write(&self, name: &str, content: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn self_signed(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    fn load_err(dir: &Dir, yaml: &str) -> WebConfigError {
        let file = dir.write("web.yml", yaml);
        WebSecurity::load(&file).expect_err("the web config was accepted")
    }

    #[test]
    fn an_empty_file_protects_nothing() {
        let dir = Dir::new();
        for text in ["", "# nothing yet\n", "{}\n"] {
            let file = dir.write("web.yml", text);
            let security = WebSecurity::load(&file).unwrap();
            assert!(!security.is_tls());
            assert!(!security.has_basic_auth());
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = Dir::new();
        let err = load_err(&dir, "basic_auth_user:\n  alice: x\n");
        let message = err.to_string();
        assert!(matches!(err, WebConfigError::Parse { .. }));
        assert!(message.contains("basic_auth_user"), "{message}");
        assert!(message.contains("web.yml"), "{message}");

        let err = load_err(&dir, "tls_server_config:\n  cert_fil: a.pem\n");
        let message = err.to_string();
        assert!(message.contains("cert_fil"), "{message}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = Dir::new();
        let err = WebSecurity::load(&dir.0.join("absent.yml")).unwrap_err();
        assert!(matches!(err, WebConfigError::Read { .. }));
        assert!(err.to_string().contains("absent.yml"));
    }

    #[test]
    fn errors_never_quote_a_hash() {
        let dir = Dir::new();
        for yaml in [
            // The hash file itself given as the web config.
            format!("{HASH}\n"),
            // A hash where a map of users belongs.
            format!("basic_auth_users: \"{HASH}\"\n"),
            format!("tls_server_config: \"{HASH}\"\n"),
            // A hash that is not one: truncated.
            format!("basic_auth_users:\n  alice: \"{}\"\n", &HASH[..40]),
            format!("basic_auth_users:\n  alice: [\"{HASH}\"]\n"),
        ] {
            let message = load_err(&dir, &yaml).to_string();
            assert!(!message.contains(&HASH[7..40]), "{yaml} -> {message}");
        }
        let message = load_err(
            &dir,
            &format!("basic_auth_users:\n  alice: \"{}\"\n", &HASH[..40]),
        )
        .to_string();
        assert!(message.contains("basic_auth_users"), "{message}");
        assert!(message.contains("\"alice\""), "{message}");
    }

    #[test]
    fn redaction_stops_at_the_closing_quote() {
        assert_eq!(
            redact_quoted_strings(r#"invalid type: string "a\"b", expected a map at line 1"#),
            r#"invalid type: string "<redacted>", expected a map at line 1"#
        );
        assert_eq!(redact_quoted_strings("no strings"), "no strings");
    }

    #[test]
    fn basic_auth_users_are_loaded() {
        let dir = Dir::new();
        let file = dir.write("web.yml", &format!("basic_auth_users:\n  alice: {HASH}\n"));
        let security = WebSecurity::load(&file).unwrap();
        assert!(security.has_basic_auth());
        assert!(!security.is_tls());
    }

    #[test]
    fn tls_files_are_read_relative_to_the_web_config() {
        let dir = Dir::new();
        let (cert, key) = self_signed("localhost");
        dir.write("server.crt", &cert);
        dir.write("server.key", &key);
        let file = dir.write(
            "web.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        );
        assert!(WebSecurity::load(&file).unwrap().is_tls());
    }

    #[test]
    fn inline_cert_and_key_work_and_clash_with_files() {
        let dir = Dir::new();
        let (cert, key) = self_signed("localhost");
        let indent = |pem: &str| {
            pem.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        };
        let yaml = format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(&cert),
            indent(&key)
        );
        let file = dir.write("web.yml", &yaml);
        assert!(WebSecurity::load(&file).unwrap().is_tls());

        dir.write("server.crt", &cert);
        let err = load_err(&dir, &format!("{yaml}  cert_file: server.crt\n"));
        assert!(err.to_string().contains("tls_server_config.cert:"), "{err}");
        // The private key is never quoted.
        let secret_line = key.lines().nth(1).unwrap();
        assert!(!err.to_string().contains(secret_line));
    }

    #[test]
    fn unreadable_and_missing_tls_files_are_named() {
        let dir = Dir::new();
        let err = load_err(
            &dir,
            "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n",
        );
        let message = err.to_string();
        assert!(message.contains("tls_server_config.cert_file"), "{message}");
        assert!(message.contains("nowhere.crt"), "{message}");

        let (cert, _) = self_signed("localhost");
        dir.write("server.crt", &cert);
        let err = load_err(&dir, "tls_server_config:\n  cert_file: server.crt\n");
        assert!(
            err.to_string().contains("tls_server_config.key_file"),
            "{err}"
        );

        let err = load_err(&dir, "tls_server_config:\n  min_version: TLS13\n");
        assert!(
            err.to_string().contains("tls_server_config.min_version"),
            "{err}"
        );
    }

    #[test]
    fn bad_client_auth_type_lists_the_good_ones() {
        let dir = Dir::new();
        let (cert, key) = self_signed("localhost");
        dir.write("server.crt", &cert);
        dir.write("server.key", &key);
        let err = load_err(
            &dir,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireCert\n",
        );
        let message = err.to_string();
        assert!(
            message.contains("tls_server_config.client_auth_type"),
            "{message}"
        );
        assert!(message.contains("RequireAndVerifyClientCert"), "{message}");
    }

    #[test]
    fn only_the_toolkit_headers_can_be_set() {
        let dir = Dir::new();
        let file = dir.write(
            "web.yml",
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
        );
        let security = WebSecurity::load(&file).unwrap();
        let settings = security.current();
        let names: Vec<&str> = settings.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["strict-transport-security", "x-frame-options"]);

        let err = load_err(&dir, "http_server_config:\n  headers:\n    Server: nginx\n");
        assert!(
            err.to_string()
                .contains("http_server_config.headers.Server"),
            "{err}"
        );
        let err = load_err(
            &dir,
            "http_server_config:\n  headers:\n    X-Frame-Options: allow-from example.com\n",
        );
        assert!(err.to_string().contains("deny, sameorigin"), "{err}");
    }

    #[test]
    fn rate_limit_needs_a_burst() {
        let dir = Dir::new();
        let file = dir.write("web.yml", "rate_limit:\n  interval: 100ms\n  burst: 5\n");
        assert!(
            WebSecurity::load(&file)
                .unwrap()
                .current()
                .rate_limit
                .is_some()
        );
        let file = dir.write("web.yml", "rate_limit:\n  interval: 0s\n");
        assert!(
            WebSecurity::load(&file)
                .unwrap()
                .current()
                .rate_limit
                .is_none()
        );
        let err = load_err(&dir, "rate_limit:\n  interval: 1s\n");
        assert!(err.to_string().contains("rate_limit.burst"), "{err}");
        let err = load_err(&dir, "rate_limit:\n  interval: soon\n  burst: 1\n");
        assert!(err.to_string().contains("rate_limit.interval"), "{err}");
    }

    #[test]
    fn reload_applies_changes_and_keeps_the_old_version_over_a_bad_one() {
        let dir = Dir::new();
        let (cert_a, key_a) = self_signed("a.example");
        dir.write("server.crt", &cert_a);
        dir.write("server.key", &key_a);
        let file = dir.write(
            "web.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        );
        let security = WebSecurity::load(&file).unwrap();
        let first = security.current();
        assert!(matches!(security.check_for_changes(), Reload::Unchanged));
        assert!(Arc::ptr_eq(&first, &security.current()));

        // A rotated certificate: the YAML is the same, the files it names are not.
        let (cert_b, key_b) = self_signed("b.example");
        dir.write("server.crt", &cert_b);
        dir.write("server.key", &key_b);
        assert!(matches!(security.check_for_changes(), Reload::Applied));
        let second = security.current();
        assert!(!Arc::ptr_eq(&first, &second));

        // Half a rotation (new certificate, old key) is refused once, then quietly kept
        // refused; the previous version stays in force.
        let (cert_c, _) = self_signed("c.example");
        dir.write("server.crt", &cert_c);
        match security.check_for_changes() {
            Reload::Refused(err) => {
                assert!(
                    err.to_string().contains("tls_server_config.key_file"),
                    "{err}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(security.check_for_changes(), Reload::Unchanged));
        assert!(Arc::ptr_eq(&second, &security.current()));

        // Fixed: applied.
        dir.write("server.crt", &cert_b);
        // Same bytes as the version in force, but the mistake in between was seen: the
        // fingerprint differs from the last one seen, so it is rebuilt and applied.
        assert!(matches!(security.check_for_changes(), Reload::Applied));
        assert!(security.is_tls());

        // Basic auth added by a reload.
        std::fs::write(
            &file,
            format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {HASH}\n"),
        )
        .unwrap();
        assert!(matches!(security.check_for_changes(), Reload::Applied));
        assert!(security.has_basic_auth());
    }

    #[test]
    fn a_reload_never_turns_protection_off() {
        let dir = Dir::new();
        let (cert, key) = self_signed("a.example");
        dir.write("server.crt", &cert);
        dir.write("server.key", &key);
        let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
        let both = format!("{tls}basic_auth_users:\n  alice: {HASH}\n");
        let file = dir.write("web.yml", &both);
        let security = WebSecurity::load(&file).unwrap();
        assert!(security.reload_status().last_successful);
        let started = security.reload_status().last_success_seconds;
        assert!(started > 0.0);
        let in_force = security.current();

        // A zero-byte file, as an editor or a ConfigMap update leaves it for a moment, and
        // one with only a comment: refused (the same mistake is reported once), TLS and
        // auth stay on.
        for (i, empty) in ["", "# being written\n", "\n  \n"].into_iter().enumerate() {
            std::fs::write(&file, empty).unwrap();
            match security.check_for_changes() {
                Reload::Refused(err) => assert!(err.to_string().contains("empty"), "{err}"),
                Reload::Unchanged if i > 0 => {}
                other => panic!("{empty:?}: {other:?}"),
            }
            assert!(Arc::ptr_eq(&in_force, &security.current()));
            assert!(!security.reload_status().last_successful);
        }

        // Valid YAML that drops basic auth, then one that drops TLS: refused, named.
        std::fs::write(&file, tls).unwrap();
        match security.check_for_changes() {
            Reload::Refused(err) => {
                assert!(err.to_string().contains("turns basic auth off"), "{err}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&file, format!("basic_auth_users:\n  alice: {HASH}\n")).unwrap();
        match security.check_for_changes() {
            Reload::Refused(err) => assert!(err.to_string().contains("turns TLS off"), "{err}"),
            other => panic!("{other:?}"),
        }
        assert!(security.is_tls() && security.has_basic_auth());
        assert!(!security.reload_status().last_successful);
        assert_eq!(security.reload_status().last_success_seconds, started);

        // Back to a valid version that keeps both: applied, and the status says so.
        std::fs::write(&file, format!("{both}# rotated\n")).unwrap();
        assert!(matches!(security.check_for_changes(), Reload::Applied));
        assert!(security.reload_status().last_successful);
        assert!(security.reload_status().last_success_seconds >= started);
    }

    #[test]
    fn no_file_means_nothing_to_reload() {
        let security = WebSecurity::none();
        assert!(matches!(security.check_for_changes(), Reload::Unchanged));
        assert!(!security.is_tls());
    }
}
