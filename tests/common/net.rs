//! Waiting over the network and the clock: polling until a state is reached, loopback
//! ports, sleeping until a Unix time.

use std::time::Duration;

/// Polls `f` every 200 ms until it returns `Ok`, or panics after `limit` with the last
/// state it gave.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    eventually_every(Duration::from_millis(200), limit, what, f).await
}

/// [`eventually`], polling every `every`.
pub async fn eventually_every<T, F, Fut>(
    every: Duration,
    limit: Duration,
    what: &str,
    mut f: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) => {
                if tokio::time::Instant::now() > deadline {
                    panic!("{what}: not reached within {limit:?}; last state:\n{last}");
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Sleeps until the Unix time `t` (seconds) has passed.
pub async fn sleep_until_unix(t: f64) {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    if t > now {
        tokio::time::sleep(Duration::from_secs_f64(t - now)).await;
    }
}

/// A free loopback port: bound, read, released for a child process to take (a child
/// cannot report a port it picked itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `GET url` with `client` until it answers 200, for at most `limit`.
pub async fn until_ok(client: &reqwest::Client, url: &str, limit: Duration, what: &str) {
    eventually(limit, what, || async {
        let response = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("HTTP {status}: {body}"))
        }
    })
    .await;
}

/// Waits for `/-/ready` at `base` (`http://host:port`): the start-up read succeeded.
pub async fn wait_ready(base: &str, limit: Duration) {
    let url = format!("{base}/-/ready");
    until_ok(&reqwest::Client::new(), &url, limit, "ready").await;
}
