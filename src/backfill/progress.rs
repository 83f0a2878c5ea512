//! Progress on standard error: one line redrawn in place on a terminal, a log line every
//! few seconds otherwise (a CI log or `kubectl logs` would fill with redraws).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::iadvize::UnixMillis;

const REDRAW: Duration = Duration::from_millis(250);
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    terminal: bool,
    started: Instant,
    last: Option<Instant>,
    from: UnixMillis,
    to: UnixMillis,
    pub pages: u64,
    pub conversations: u64,
}

impl Progress {
    pub fn new(from: UnixMillis, to: UnixMillis) -> Self {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            from,
            to,
            pages: 0,
            conversations: 0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything closed before `done` has been read.
    pub fn show(&mut self, done: UnixMillis) {
        let every = if self.terminal { REDRAW } else { LOG_EVERY };
        if self.last.is_some_and(|last| last.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let fraction =
            ((done - self.from) as f64 / (self.to - self.from).max(1) as f64).clamp(0.0, 1.0);
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if fraction > 0.0 {
            Duration::from_secs_f64(elapsed * (1.0 - fraction) / fraction)
        } else {
            Duration::ZERO
        };
        let day = chrono::DateTime::from_timestamp_millis(done)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let eta = humantime::format_duration(Duration::from_secs(eta.as_secs()));
        if self.terminal {
            let width = 30;
            let filled = (fraction * width as f64).round() as usize;
            let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K[{bar}] {:>3.0}%  {day}  {} pages  {} conversations  ETA {eta}",
                fraction * 100.0,
                self.pages,
                self.conversations
            );
            let _ = err.flush();
        } else {
            tracing::info!(
                done_percent = format!("{:.1}", fraction * 100.0),
                reading = %day,
                pages = self.pages,
                conversations = self.conversations,
                eta = %eta,
                "backfill progress"
            );
        }
    }

    /// Ends the line being redrawn.
    pub fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
