//! Minimum intervals between calls of one account, across the runs of this process.
//!
//! FusionSolar refuses an identical call made sooner than its minimum interval (`failCode
//! 407`, vendor-apis.md §4.5) and SolarEdge's daily quota is spread over the day; both need
//! to know when a call of a kind was last made on the account, whichever run made it. The
//! [`Pacer`] lives in the account's shared state and keeps, per call key, when it is next
//! allowed. Keys whose time has passed are dropped on the next call, so keys that never
//! repeat (alarm windows) do not pile up. It only paces calls: facts learnt about the
//! account (no v2 access, legacy-only) are the memo's (`memo.rs`), not string keys here.
//!
//! The map only knows this process. A [`CallLog`] (the store's `endpoint_calls`, through
//! the sync engine) also knows the calls other processes made: two CLI syncs a few seconds
//! apart, or a CLI sync right after the agent's. Before a call, the later of the two
//! "next allowed" times counts; a granted call is written to both.

use crate::domain::Timestamp;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

/// Why [`crate::vendors::Session::pace`] refused a call: the wait would exceed what the
/// caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSoon {
    /// How long until the call is allowed.
    pub wait: Duration,
}

/// When each paced call of an account was last made, over every process on this machine
/// (persisted by the store through the sync engine).
#[async_trait::async_trait]
pub trait CallLog: Send + Sync {
    /// The wall-clock time now (injectable, as the engine's clock).
    fn now(&self) -> Timestamp;
    /// When a call of `key` was last made, if recorded.
    async fn last_called(&self, key: &str) -> Option<Timestamp>;
    /// Records a call of `key` made `at`.
    async fn record(&self, key: &str, at: Timestamp);
}

/// How long until a call of `key` is allowed by what `log` recorded, `interval` apart.
async fn logged_wait(log: &dyn CallLog, key: &str, interval: Duration) -> Duration {
    let Some(last) = log.last_called(key).await else { return Duration::ZERO };
    let elapsed = (log.now().as_datetime() - last.as_datetime()).to_std().unwrap_or_default();
    interval.saturating_sub(elapsed)
}

/// When each paced call of one account is next allowed.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    due: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// The map with passed entries dropped.
    fn current(&self, now: Instant) -> MutexGuard<'_, HashMap<String, Instant>> {
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        due.retain(|_, at| *at > now);
        due
    }

    /// Grants a call of `key` now if none was made within its interval; otherwise waits
    /// for it when it is due within `max_wait`, else refuses with the time left. A granted
    /// call is recorded as made now, next allowed `interval` later.
    ///
    /// With a `log`, calls other processes made count too: its wait is read once, first,
    /// and waited for (or refused) like this process's own.
    pub(super) async fn pace(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
        log: Option<&dyn CallLog>,
    ) -> Result<(), TooSoon> {
        let mut logged = match log {
            Some(log) => logged_wait(log, key, interval).await,
            None => Duration::ZERO,
        };
        loop {
            let wait = {
                let now = Instant::now();
                let mut due = self.current(now);
                match due.get(key) {
                    Some(at) => (*at - now).max(logged),
                    None if logged.is_zero() => {
                        due.insert(key.to_owned(), now + interval);
                        Duration::ZERO
                    }
                    None => logged,
                }
            };
            if wait.is_zero() {
                if let Some(log) = log {
                    log.record(key, log.now()).await;
                }
                return Ok(());
            }
            // Another process's call is waited for once; this process's are read again.
            logged = Duration::ZERO;
            if wait > max_wait {
                return Err(TooSoon { wait });
            }
            debug!(
                key,
                wait_ms = wait.as_millis() as u64,
                "waiting for the portal's minimum interval"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether a call of `key` may be made now, at most once per `interval`, without
    /// waiting. A granted call is recorded as made now.
    pub(super) fn pace_exact(&self, key: &str, interval: Duration) -> bool {
        let now = Instant::now();
        let mut due = self.current(now);
        if due.contains_key(key) {
            return false;
        }
        due.insert(key.to_owned(), now + interval);
        true
    }

    /// Keys still remembered.
    #[cfg(test)]
    pub(super) fn keys(&self) -> usize {
        self.current(Instant::now()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn pace_waits_refuses_and_forgets_old_keys() {
        let pacer = Pacer::default();
        let minute = Duration::from_secs(60);
        let started = Instant::now();
        pacer.pace("a", minute, minute, None).await.unwrap();
        // Due within the accepted wait: waits for it.
        pacer.pace("a", minute, minute, None).await.unwrap();
        assert_eq!(started.elapsed(), minute);
        // Due later than the caller accepts: refused with the time left, nothing recorded.
        let refused = pacer.pace("a", minute, Duration::from_secs(10), None).await.unwrap_err();
        assert_eq!(refused.wait, minute);
        // Other keys are independent; passed ones are forgotten.
        pacer.pace("b", minute, Duration::ZERO, None).await.unwrap();
        assert_eq!(pacer.keys(), 2);
        tokio::time::sleep(minute).await;
        pacer.pace("c", minute, Duration::ZERO, None).await.unwrap();
        assert_eq!(pacer.keys(), 1, "a and b are past their interval");
    }

    /// A log shared by two "processes" (pacers), on a clock that tokio's paused time moves.
    #[derive(Default)]
    struct SharedLog {
        calls: Mutex<HashMap<String, Timestamp>>,
        start: std::sync::OnceLock<Instant>,
    }

    #[async_trait::async_trait]
    impl CallLog for SharedLog {
        fn now(&self) -> Timestamp {
            let start = *self.start.get_or_init(Instant::now);
            let millis = 1_800_000_000_000 + start.elapsed().as_millis() as i64;
            Timestamp::from_unix_millis(millis).unwrap()
        }
        async fn last_called(&self, key: &str) -> Option<Timestamp> {
            self.calls.lock().unwrap().get(key).copied()
        }
        async fn record(&self, key: &str, at: Timestamp) {
            self.calls.lock().unwrap().insert(key.to_owned(), at);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn another_processes_calls_count_through_the_log() {
        let log = SharedLog::default();
        let (first, second) = (Pacer::default(), Pacer::default());
        let minute = Duration::from_secs(60);
        first.pace("stations", minute * 5, minute, Some(&log)).await.unwrap();
        // A fresh process: its own map is empty, the log says five minutes are not up.
        let refused = second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap_err();
        assert_eq!(refused.wait, minute * 5);
        // Four minutes and a half later the rest is short enough to wait for.
        tokio::time::advance(Duration::from_secs(270)).await;
        let started = Instant::now();
        second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        // The granted call was written to the log for the next process.
        let third = Pacer::default();
        assert!(third.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn pace_exact_grants_once_per_interval_without_waiting() {
        let pacer = Pacer::default();
        let hour = Duration::from_secs(3600);
        assert!(pacer.pace_exact("overviews", hour));
        assert!(!pacer.pace_exact("overviews", hour));
        assert!(pacer.pace_exact("other", hour));
        tokio::time::advance(hour).await;
        assert!(pacer.pace_exact("overviews", hour));
    }
}
