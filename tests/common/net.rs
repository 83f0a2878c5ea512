//! Waiting over the network and the clock: polling until a state is reached, loopback
//! ports, sleeping until a Unix time.

use std::time::Duration;

/// Polls `f` every 200 ms until it returns `Some`, or panics after `limit` with the
/// last state `describe` gives.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sleeps until the Unix time `t` (seconds) has passed.
pub async fn sleep_until_unix(t: f64) {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    if t > now {
        tokio::time::sleep(Duration::from_secs_f64(t - now)).await;
    }
}
