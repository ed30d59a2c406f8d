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
//! "next allowed" times counts.
//!
//! A granted call is a [`PaceGrant`]: it holds the call's place in this process's map (so
//! two runs of the process do not both send it), but is written to the log only when the
//! adapter says the call went out ([`PaceGrant::sent`]). A grant dropped unsent (the login
//! was refused, the portal could not be reached) gives its place back: a call the portal
//! never received does not hold back the next sync (FusionSolar's station list would
//! otherwise refuse a sync right after the credentials were fixed for five minutes, in
//! every process).

use crate::domain::Timestamp;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A call the pacer granted (`Pacer::pace`). Say [`PaceGrant::sent`] once the call went
/// out to the portal; dropped without that, the call was never made and its place is given
/// back.
#[must_use = "a grant dropped unsent gives its place back at once"]
pub struct PaceGrant<'a> {
    pacer: &'a Pacer,
    key: String,
    /// When this grant's call makes the next one allowed, as put in the map.
    due: Instant,
    log: Option<&'a dyn CallLog>,
    sent: AtomicBool,
}

impl std::fmt::Debug for PaceGrant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceGrant")
            .field("key", &self.key)
            .field("sent", &self.sent.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PaceGrant<'_> {
    /// The call went out to the portal (it answered, whatever it said): it counts, here
    /// and, through the log, for other processes. Said again for a retry, the later time
    /// counts.
    pub async fn sent(&self) {
        self.sent.store(true, Ordering::Relaxed);
        if let Some(log) = self.log {
            log.record(&self.key, log.now()).await;
        }
    }
}

impl Drop for PaceGrant<'_> {
    fn drop(&mut self) {
        if self.sent.load(Ordering::Relaxed) {
            return;
        }
        // Never sent: the place is free again, unless a later grant took it meanwhile.
        let mut due = self.pacer.due.lock().unwrap_or_else(PoisonError::into_inner);
        if due.get(&self.key) == Some(&self.due) {
            due.remove(&self.key);
        }
    }
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
    /// call takes its place in this process's map, next allowed `interval` later, and is
    /// written to `log` when its [`PaceGrant`] says it was sent.
    ///
    /// With a `log`, calls other processes made count too: its wait is read once, first,
    /// and waited for (or refused) like this process's own.
    pub(super) async fn pace<'a>(
        &'a self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
        log: Option<&'a dyn CallLog>,
    ) -> Result<PaceGrant<'a>, TooSoon> {
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
                        let next = now + interval;
                        due.insert(key.to_owned(), next);
                        return Ok(PaceGrant {
                            pacer: self,
                            key: key.to_owned(),
                            due: next,
                            log,
                            sent: AtomicBool::new(false),
                        });
                    }
                    None => logged,
                }
            };
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
        pacer.pace("a", minute, minute, None).await.unwrap().sent().await;
        // Due within the accepted wait: waits for it.
        pacer.pace("a", minute, minute, None).await.unwrap().sent().await;
        assert_eq!(started.elapsed(), minute);
        // Due later than the caller accepts: refused with the time left, nothing recorded.
        let refused = pacer.pace("a", minute, Duration::from_secs(10), None).await.unwrap_err();
        assert_eq!(refused.wait, minute);
        // Other keys are independent; passed ones are forgotten.
        pacer.pace("b", minute, Duration::ZERO, None).await.unwrap().sent().await;
        assert_eq!(pacer.keys(), 2);
        tokio::time::sleep(minute).await;
        pacer.pace("c", minute, Duration::ZERO, None).await.unwrap().sent().await;
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
        first.pace("stations", minute * 5, minute, Some(&log)).await.unwrap().sent().await;
        // A fresh process: its own map is empty, the log says five minutes are not up.
        let refused = second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap_err();
        assert_eq!(refused.wait, minute * 5);
        // Four minutes and a half later the rest is short enough to wait for.
        tokio::time::advance(Duration::from_secs(270)).await;
        let started = Instant::now();
        second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap().sent().await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        // The granted call was written to the log for the next process.
        let third = Pacer::default();
        assert!(third.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
    }

    /// A granted call that never went out (the login was refused, the portal could not be
    /// reached) is not recorded, here or in the log: the next call is granted at once.
    #[tokio::test(start_paused = true)]
    async fn a_grant_never_sent_gives_its_place_back() {
        let log = SharedLog::default();
        let pacer = Pacer::default();
        let minute = Duration::from_secs(60);
        let unsent = pacer.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.unwrap();
        // While it is held, a second call of the key waits its turn.
        assert!(pacer.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
        drop(unsent);
        assert_eq!(log.last_called("stations").await, None, "never sent, never logged");
        let again = pacer.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.unwrap();
        again.sent().await;
        assert!(log.last_called("stations").await.is_some());
        drop(again);
        // Sent, it holds, in this process and through the log in another.
        assert!(pacer.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
        let other = Pacer::default();
        assert!(other.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
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
