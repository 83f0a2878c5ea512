//! The background loop: a start-up read of the window, then a fresh pass every
//! `--poll.interval` and a revisit pass every `--poll.revisit-interval`. Before it,
//! [`plan_until_ready`] retries login and schema detection until iAdvize answers.
//!
//! Passes run one after another in a single task, so they never overlap. Each page goes
//! into the ledger as soon as it is read, so a pass holds one page in memory, but the
//! ledger commits a pass only when its whole interval has been read: a failed pass is
//! rolled back, changes no count and no watermark, and the next one reads the same ground
//! again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::PollConfig;
use crate::iadvize::{self, Client, Page, QueryPlan, UnixMillis};
use crate::ledger::{ApplyReport, Ledger};
use crate::metrics::Metrics;
use crate::state_file::{self, Resume, SavedStateRef, Target};

pub use crate::clock::{Clock, system_clock};

/// Which of the three reads a pass is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    /// `[start - window, now)` once, so the window gauges are right at once.
    Startup,
    /// `[watermark - overlap, now)`.
    Fresh,
    /// `[now - revisit horizon, now)`, for late survey answers and transactions.
    Revisit,
}

impl PassKind {
    fn as_str(self) -> &'static str {
        match self {
            PassKind::Startup => "startup",
            PassKind::Fresh => "fresh",
            PassKind::Revisit => "revisit",
        }
    }
}

/// The poller: owns the ledger and the watermark.
pub struct Poller {
    client: Arc<Client>,
    plan: QueryPlan,
    ledger: Ledger,
    metrics: Arc<Metrics>,
    config: PollConfig,
    window_ms: i64,
    /// Close time up to which every conversation has been read; `None` before the
    /// start-up read succeeded.
    watermark: Option<UnixMillis>,
    /// When the last revisit pass succeeded (or the start-up read, which also read it).
    last_revisit: Option<UnixMillis>,
    /// Where the state is saved after each pass that changed something.
    state_file: Option<Target>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Poller {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Arc<Client>,
        plan: QueryPlan,
        ledger: Ledger,
        resume: Option<Resume>,
        config: PollConfig,
        window: Duration,
        metrics: Arc<Metrics>,
        state_file: Option<Target>,
    ) -> Self {
        let mut ledger = ledger;
        if resume.is_none() {
            // Counting started on our clock, before iAdvize had answered: the same instant
            // on iAdvize's clock, which dates the conversations.
            let skew = client.clock().applied_skew_ms();
            ledger.rebase_counting_start(ledger.counting_start().saturating_add(skew));
        }
        let poller = Poller {
            client,
            plan,
            ledger,
            metrics,
            config,
            window_ms: millis(window),
            watermark: resume.and_then(|r| r.watermark),
            last_revisit: resume.and_then(|r| r.last_revisit),
            state_file,
        };
        if let Some(w) = poller.watermark {
            poller.metrics.set_watermark(w as f64 / 1000.0);
        }
        poller.publish(poller.iadvize_now());
        poller
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn watermark(&self) -> Option<UnixMillis> {
        self.watermark
    }

    /// Poll until `shutdown` turns true. A pass in flight is dropped at shutdown and
    /// rolled back, so nothing is half-counted. The state is saved last: its failure is
    /// returned, since no later save will make up for it.
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), state_file::StateError> {
        loop {
            let started = Instant::now();
            tokio::select! {
                _ = self.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.ledger.rollback();
                    break;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(started + self.config.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        self.save().await
    }

    /// Write the state file, if there is one.
    async fn save(&self) -> Result<(), state_file::StateError> {
        let Some(target) = &self.state_file else {
            return Ok(());
        };
        let saved = SavedStateRef {
            identity: &target.identity,
            written_at: self.client.clock().ours(),
            watermark: self.watermark,
            last_revisit: self.last_revisit,
            ledger: self.ledger.state(),
        };
        state_file::save(&target.path, &saved, &self.metrics).await
    }

    /// One scheduled round: the start-up read until it has succeeded, then a fresh pass,
    /// then a revisit pass when one is due.
    pub async fn tick(&mut self) {
        let Some(watermark) = self.watermark else {
            let start = self.ledger.counting_start();
            let now = self.iadvize_now();
            self.pass(PassKind::Startup, start.saturating_sub(self.window_ms), now)
                .await;
            return;
        };
        let now = self.iadvize_now();
        let watermark = self.watermark_within(watermark, now);
        let from = watermark.saturating_sub(millis(self.config.overlap));
        // Never an inverted interval: with no overlap and no time elapsed there is
        // nothing to read yet.
        if from < now && !self.pass(PassKind::Fresh, from, now).await {
            // `iadvize_up` must say the fresh pass failed: no revisit until it succeeds.
            return;
        }
        let horizon = millis(self.config.revisit_horizon);
        let now = self.iadvize_now();
        let due = self
            .last_revisit
            // A last revisit ahead of now: iAdvize's clock stepped back; do not wait it out.
            .is_none_or(|last| last > now || now - last >= millis(self.config.revisit_interval));
        if horizon > 0 && due {
            self.pass(PassKind::Revisit, now - horizon, now).await;
        }
    }

    /// iAdvize's time now, which dates conversations: intervals, the window, pruning.
    fn iadvize_now(&self) -> UnixMillis {
        self.client.clock().now()
    }

    /// The watermark, brought back to iAdvize's `now` if it ran ahead of it (a state
    /// file written with a clock ahead, or our clock read before iAdvize first answered).
    /// What closed between `now` and the watermark was not read: the next revisit pass,
    /// made due at once, reads it.
    fn watermark_within(&mut self, watermark: UnixMillis, now: UnixMillis) -> UnixMillis {
        if watermark <= now {
            return watermark;
        }
        tracing::warn!(
            watermark = %format_time(watermark),
            iadvize_now = %format_time(now),
            "the watermark is ahead of iAdvize's clock; reading on from iAdvize's now and revisiting the horizon"
        );
        self.watermark = Some(now);
        self.metrics.set_watermark(now as f64 / 1000.0);
        self.last_revisit = None;
        now
    }

    /// Read `[from, to)` whole, then fold it into the ledger. Returns whether it succeeded.
    async fn pass(&mut self, kind: PassKind, from: UnixMillis, to: UnixMillis) -> bool {
        self.metrics.poll_started();
        let started = Instant::now();
        let result = self.read(from, to).await;
        let seconds = started.elapsed().as_secs_f64();
        let now = self.iadvize_now();
        let polled_at = self.client.clock().ours() as f64 / 1000.0;
        match result {
            Ok(read) => {
                let report = self.ledger.commit();
                if kind == PassKind::Startup || kind == PassKind::Fresh {
                    // `to` was taken on iAdvize's clock as the pass began; an answer during
                    // the pass may have set that clock back (it was ours until iAdvize
                    // answered, or iAdvize's stepped): never past what iAdvize says now.
                    let watermark = to.min(now);
                    self.watermark = Some(watermark);
                    self.metrics.set_watermark(watermark as f64 / 1000.0);
                }
                if kind == PassKind::Startup || kind == PassKind::Revisit {
                    self.last_revisit = Some(to);
                }
                self.prune(now);
                self.publish(now);
                release_free_memory();
                self.metrics.poll_finished(true, seconds, polled_at);
                log_pass(kind, from, to, seconds, read, &report);
                // Save before the next read, so a kill never loses more than one pass and
                // never keeps a count without the ledger that explains it.
                if let Err(error) = self.save().await {
                    tracing::error!(error = %error, "cannot save the state; counting goes on, the next poll tries again");
                }
                true
            }
            Err(error) => {
                self.ledger.rollback();
                self.metrics.poll_finished(false, seconds, polled_at);
                tracing::warn!(
                    pass = kind.as_str(),
                    from = %format_time(from),
                    to = %format_time(to),
                    seconds,
                    error = %error,
                    "poll failed; the next one reads the same interval again"
                );
                false
            }
        }
    }

    /// Read `[from, to)` page by page into the ledger, uncommitted.
    async fn read(&mut self, from: UnixMillis, to: UnixMillis) -> Result<Read, iadvize::Error> {
        let mut read = Read::default();
        let metrics = &self.metrics;
        let ledger = &mut self.ledger;
        let clock = self.client.clock();
        self.client
            .fetch_interval(&self.plan, from, to, &mut |page: Page| {
                metrics.conversations_fetched(page.records as u64);
                read.pages += 1;
                read.records += page.records;
                ledger.apply_page_at(&page, clock.now(), clock.ours());
            })
            .await?;
        Ok(read)
    }

    fn prune(&mut self, now: UnixMillis) {
        let cutoff = prune_cutoff(now, self.watermark, &self.config, self.window_ms);
        self.ledger.prune(cutoff);
    }

    fn publish(&self, now: UnixMillis) {
        self.metrics.publish(self.ledger.snapshot(now));
    }
}

/// Decide the query, retrying what may heal (network, rate limits, a login refused for a
/// while) and giving up on what will not (the schema lacks a field we need).
pub async fn plan_until_ready(
    client: &Client,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<QueryPlan>, iadvize::Error> {
    let mut delay = Duration::from_secs(1);
    loop {
        // A login or schema request can hang until its timeout, retries included: a stop
        // must not wait for it.
        let attempt = tokio::select! {
            attempt = client.plan() => attempt,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        };
        match attempt {
            Ok(plan) => return Ok(Some(plan)),
            Err(e @ iadvize::Error::Schema(_)) => return Err(e),
            Err(e) => {
                metrics.poll_started();
                metrics.poll_finished(false, 0.0, chrono::Utc::now().timestamp() as f64);
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach iAdvize yet");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// Before what the ledger may forget at `now`: what no later read can reach, behind the
/// revisit horizon, the window and the next fresh pass's start, with one poll interval of
/// margin. Every bound moves with the clock, so the ledger holds one horizon of
/// conversations, not a lifetime.
pub fn prune_cutoff(
    now: UnixMillis,
    watermark: Option<UnixMillis>,
    config: &PollConfig,
    window_ms: i64,
) -> UnixMillis {
    let watermark = watermark.unwrap_or(now);
    [
        now.saturating_sub(millis(config.revisit_horizon)),
        now.saturating_sub(window_ms),
        watermark.saturating_sub(millis(config.overlap)),
    ]
    .into_iter()
    .min()
    .unwrap_or(now)
    .saturating_sub(millis(config.interval))
}

/// Hand memory freed by the pass back to the system. A pass allocates and frees a body
/// and a page for every 100 conversations, on several threads; glibc keeps what they
/// freed in per-thread arenas, which at a million conversations held about 11 MB more
/// than the ledger itself (docs/performance.md).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only returns unused pages of glibc's own heaps to the
        // kernel; it takes no pointer and is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// How much a pass read.
#[derive(Debug, Clone, Copy, Default)]
struct Read {
    pages: usize,
    records: usize,
}

fn log_pass(
    kind: PassKind,
    from: UnixMillis,
    to: UnixMillis,
    seconds: f64,
    read: Read,
    report: &ApplyReport,
) {
    tracing::debug!(
        pass = kind.as_str(),
        from = %format_time(from),
        to = %format_time(to),
        seconds,
        pages = read.pages,
        records = read.records,
        new_conversations = report.new_conversations,
        counted_conversations = report.counted_conversations,
        answers = report.answers,
        transactions = report.transactions,
        invalid = report.invalid,
        "poll done"
    );
}

fn format_time(ms: UnixMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::iadvize::fake_server::{Fake, Recorded, Reply, page_json};
    use crate::iadvize::{QueryShape, schema};
    use crate::ledger::LedgerConfig;
    use crate::metrics::Format;

    fn poller(fake: &Fake, interval: Duration, metrics: Arc<Metrics>) -> Poller {
        let mut config = fake.config();
        config.max_wait = Some(interval);
        let client = Arc::new(Client::new(config, metrics.clone()).unwrap());
        let window = Duration::from_secs(3600);
        let ledger = Ledger::new(
            LedgerConfig {
                window_ms: millis(window),
                duration_bounds: vec![60.0],
                amount_bounds: vec![10.0],
                max_channels: 4,
                max_currencies: 4,
            },
            chrono::Utc::now().timestamp_millis(),
        );
        Poller::new(
            client,
            schema::fixed_plan(QueryShape::SearchClosedConversations),
            ledger,
            None,
            PollConfig {
                interval,
                overlap: Duration::ZERO,
                revisit_interval: Duration::from_secs(3600),
                revisit_horizon: Duration::ZERO,
            },
            window,
            metrics,
            None,
        )
    }

    /// The value of an unlabelled sample in the text exposition.
    fn sample(metrics: &Metrics, name: &str) -> f64 {
        let text = metrics.encode(Format::Text).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    #[tokio::test]
    async fn an_endless_pass_fails_and_says_so() {
        let fake = Fake::with_graphql(|_: &Recorded, index: usize| {
            Reply::json(page_json(&[], Some(&format!("cursor-{index}"))))
        })
        .await;
        let metrics = Arc::new(Metrics::new());
        let mut poller = poller(&fake, Duration::from_secs(60), metrics.clone());
        tokio::time::timeout(Duration::from_secs(60), poller.tick())
            .await
            .expect("a pass that makes no progress must end");
        assert_eq!(sample(&metrics, "iadvize_up"), 0.0);
        assert_eq!(sample(&metrics, "iadvize_polls_total"), 1.0);
        assert_eq!(sample(&metrics, "iadvize_poll_failures_total"), 1.0);
        assert_eq!(poller.watermark(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_interval_fails_the_poll() {
        let fake = Fake::with_graphql(|_: &Recorded, index: usize| match index {
            0 => Reply::new(429, "").header("retry-after", "86400"),
            _ => Reply::json(page_json(&["c-1"], None)),
        })
        .await;
        let metrics = Arc::new(Metrics::new());
        let mut poller = poller(&fake, Duration::from_secs(60), metrics.clone());
        let started = Instant::now();
        poller.tick().await;
        assert!(started.elapsed() < Duration::from_secs(60));
        assert_eq!(sample(&metrics, "iadvize_up"), 0.0);
        assert_eq!(sample(&metrics, "iadvize_poll_failures_total"), 1.0);
        let until = sample(&metrics, "iadvize_api_backoff_until_timestamp_seconds");
        let wall = chrono::Utc::now().timestamp() as f64;
        // The 5 min default cap, not the day asked for.
        assert!(
            until > wall + 200.0 && until <= wall + 301.0,
            "{until} vs {wall}"
        );
        // Once the hold is within an interval, the next poll waits it out and succeeds.
        tokio::time::advance(Duration::from_secs(250)).await;
        poller.tick().await;
        assert_eq!(sample(&metrics, "iadvize_up"), 1.0);
        assert_eq!(sample(&metrics, "iadvize_poll_failures_total"), 1.0);
        assert_eq!(
            sample(&metrics, "iadvize_api_backoff_until_timestamp_seconds"),
            0.0
        );
        assert_eq!(fake.graphqls().len(), 2);
    }
}
