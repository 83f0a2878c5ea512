//! Value parsers, one per kind of setting: each says, on failure, what it expected.

use std::net::SocketAddr;
use std::time::Duration;

use crate::iadvize::{QueryChoice, QueryShape};
use crate::labels::TagFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

pub(super) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".to_string()),
    }
}

pub(super) fn parse_non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("expected a non-empty value".to_string())
    } else {
        Ok(value.to_string())
    }
}

pub(super) fn parse_url(value: &str) -> Result<url::Url, String> {
    const EXPECTED: &str =
        "expected an http:// or https:// URL with a host, such as https://api.iadvize.com";
    let mut url = url::Url::parse(value.trim()).map_err(|e| format!("{EXPECTED} ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(EXPECTED.to_string());
    }
    // A password in the URL would show up in every Debug of the client config.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "expected a URL without user:password@; use --iadvize.username and \
             --iadvize.password-file"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("expected a base URL without ?query or #fragment".to_string());
    }
    // The client appends `/oauth2/token` and `/graphql`; a trailing slash would double it.
    if url.path().len() > 1 && url.path().ends_with('/') {
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(if trimmed.is_empty() { "/" } else { &trimmed });
    }
    Ok(url)
}

pub(super) fn parse_platform(value: &str) -> Result<bool, String> {
    match value.trim() {
        "ha" => Ok(false),
        "sd" => Ok(true),
        _ => Err("expected ha or sd".to_string()),
    }
}

pub(super) fn parse_query(value: &str) -> Result<QueryChoice, String> {
    match value.trim() {
        "auto" => Ok(QueryChoice::Auto),
        "searchClosedConversations" => {
            Ok(QueryChoice::Fixed(QueryShape::SearchClosedConversations))
        }
        "closedConversations" => Ok(QueryChoice::Fixed(QueryShape::ClosedConversations)),
        _ => Err("expected auto, searchClosedConversations or closedConversations".to_string()),
    }
}

pub(super) fn parse_project_ids(value: &str) -> Result<Option<Vec<i64>>, String> {
    const EXPECTED: &str = "expected comma-separated positive integers such as 1234,5678, or all";
    if value.trim() == "all" {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for item in value.split(',') {
        match item.trim().parse::<i64>() {
            Ok(id) if id > 0 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => return Err(EXPECTED.to_string()),
        }
    }
    Ok(Some(ids))
}

pub(super) fn parse_rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("expected a positive number such as 5 or 0.5".to_string()),
    }
}

pub(super) fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(value)?;
    if duration.is_zero() {
        return Err("expected a duration greater than 0s".to_string());
    }
    Ok(duration)
}

pub(super) fn parse_duration_or_zero(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|_| "expected a duration such as 30s, 5m, 1h or 1h30m".to_string())
}

pub(super) fn parse_buckets(value: &str) -> Result<Vec<f64>, String> {
    const EXPECTED: &str =
        "expected comma-separated finite numbers in strictly increasing order, such as 30,60,120";
    let mut bounds: Vec<f64> = Vec::new();
    for item in value.split(',') {
        let bound = match item.trim().parse::<f64>() {
            Ok(b) if b.is_finite() => b,
            _ => return Err(EXPECTED.to_string()),
        };
        if bounds.last().is_some_and(|&last| bound <= last) {
            return Err(EXPECTED.to_string());
        }
        bounds.push(bound);
    }
    Ok(bounds)
}

pub(super) fn parse_count(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive integer".to_string()),
    }
}

/// `--metrics.tags`: `all`, or comma-separated names; empty (or only commas) is off.
/// `all` among names is refused rather than guessed at: a tag may be called "all".
pub(super) fn parse_tags(value: &str) -> Result<TagFilter, String> {
    if value.trim() == "all" {
        return Ok(TagFilter::All);
    }
    let names: Vec<&str> = value.split(',').collect();
    if names.len() > 1 && names.iter().any(|n| n.trim() == "all") {
        return Err(
            "expected all alone, or comma-separated tag names such as Livraison,VIP".to_string(),
        );
    }
    Ok(TagFilter::list(&names))
}

pub(super) fn parse_listen_address(value: &str) -> Result<SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
    const EXPECTED: &str =
        "expected HOST:PORT or :PORT, such as :9834, 127.0.0.1:9834 or [::]:9834";
    let value = value.trim();
    let (host, port) = value.rsplit_once(':').ok_or_else(|| EXPECTED.to_string())?;
    let port: u16 = port.parse().map_err(|_| EXPECTED.to_string())?;
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(EXPECTED.to_string());
    }
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{EXPECTED} (host {host} has no address)")),
        Err(e) => Err(format!("{EXPECTED} (cannot resolve {host}: {e})")),
    }
}

pub(super) fn parse_telemetry_path(value: &str) -> Result<String, String> {
    let path = value.trim();
    if !path.starts_with('/') || matches!(path, "/" | "/-/healthy" | "/-/ready") {
        return Err(
            "expected a path starting with /, other than /, /-/healthy and /-/ready".to_string(),
        );
    }
    Ok(path.to_string())
}

pub(super) fn parse_log_level(value: &str) -> Result<LogLevel, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        _ => Err("expected error, warn, info, debug or trace".to_string()),
    }
}

pub(super) fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim() {
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected logfmt or json".to_string()),
    }
}
