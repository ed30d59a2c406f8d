//! Wall-clock time, injectable so the schedule can be tested under tokio's paused time.

use chrono::{DateTime, Utc};

/// The current wall-clock time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock. After a suspend it jumps forward, which the loop notices because it
/// re-reads it at least every half minute (tokio's timers do not count suspended time).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a chosen instant and advances with tokio's (possibly paused)
/// time: `start + (tokio now - tokio start)`.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start_wall: DateTime<Utc>,
    start_instant: tokio::time::Instant,
    offset: std::sync::Arc<std::sync::Mutex<chrono::Duration>>,
}

impl TokioClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            start_wall: start,
            start_instant: tokio::time::Instant::now(),
            offset: std::sync::Arc::new(std::sync::Mutex::new(chrono::Duration::zero())),
        }
    }

    /// Moves the wall clock forward without tokio time passing (a machine waking from sleep).
    pub fn jump(&self, by: chrono::Duration) {
        if let Ok(mut offset) = self.offset.lock() {
            *offset += by;
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start_instant;
        let offset = self.offset.lock().map(|o| *o).unwrap_or_else(|_| chrono::Duration::zero());
        self.start_wall + chrono::Duration::from_std(elapsed).unwrap_or_default() + offset
    }
}
