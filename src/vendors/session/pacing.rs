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
//! A granted call is a [`PaceGrant`], recorded as made when it is granted: in this
//! process's map (so two runs of the process do not both send it) and, before the grant is
//! returned, in the log. A call cut off in flight (the vendor deadline, the agent's stop, a
//! timeout after the request was written) may have reached the portal, which counts it;
//! not recorded, the next process would send it again and get a `407`. Only a call that
//! provably never left gives its place back ([`PaceGrant::give_back`]): the connection
//! could not be made, or the login was refused before the call was sent. The previous
//! record is then restored, here and in the log, so a call the portal never received does
//! not hold back the next sync (FusionSolar's station list would otherwise refuse the sync
//! right after the credentials were fixed for five minutes, in every process).

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
    /// Takes back the call of `key` recorded `at`, which provably never left: the record
    /// is `previous` again (none: removed), unless a later call was recorded meanwhile.
    async fn restore(&self, key: &str, at: Timestamp, previous: Option<Timestamp>);
}

/// What `log` says of `key`: when it was last called, and how long until a call is
/// allowed, `interval` apart.
async fn logged_wait(
    log: &dyn CallLog,
    key: &str,
    interval: Duration,
) -> (Option<Timestamp>, Duration) {
    let Some(last) = log.last_called(key).await else { return (None, Duration::ZERO) };
    let elapsed = (log.now().as_datetime() - last.as_datetime()).to_std().unwrap_or_default();
    (Some(last), interval.saturating_sub(elapsed))
}

/// A call the pacer granted (`Pacer::pace`), already recorded as made. Dropped, it stays
/// recorded: the call may have reached the portal. [`PaceGrant::give_back`] only for a
/// call that provably never left.
#[must_use = "a granted call is recorded as made; give its place back if it was never sent"]
pub struct PaceGrant<'a> {
    pacer: &'a Pacer,
    key: String,
    /// When this grant's call makes the next one allowed, as put in the map.
    due: Instant,
    /// The log, when this call was recorded in it, and the record it replaced.
    logged: Option<(&'a dyn CallLog, Timestamp, Option<Timestamp>)>,
}

impl std::fmt::Debug for PaceGrant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaceGrant").field("key", &self.key).finish_non_exhaustive()
    }
}

impl PaceGrant<'_> {
    /// The call went out, or may have: it stays recorded (what dropping does too; this
    /// says so where it matters).
    pub fn keep(self) {}

    /// The call provably never left (no connection; a login refused before it): its
    /// place is free again, unless a later grant took it meanwhile, and the log's record
    /// is the one before. Memory first: cut off between the two, the log still says
    /// "called", the safe way round (a call held back, never one sent twice).
    pub async fn give_back(self) {
        {
            let mut due = self.pacer.due.lock().unwrap_or_else(PoisonError::into_inner);
            if due.get(&self.key) == Some(&self.due) {
                due.remove(&self.key);
            }
        }
        if let Some((log, at, previous)) = self.logged {
            log.restore(&self.key, at, previous).await;
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
    /// written to `log` before the grant is returned (the call may go out from then on).
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
        let (previous, mut logged) = match log {
            Some(log) => logged_wait(log, key, interval).await,
            None => (None, Duration::ZERO),
        };
        let due = loop {
            let wait = {
                let now = Instant::now();
                let mut due = self.current(now);
                match due.get(key) {
                    Some(at) => (*at - now).max(logged),
                    None if logged.is_zero() => {
                        let next = now + interval;
                        due.insert(key.to_owned(), next);
                        break next;
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
        };
        // In the map first (above), then in the log, and only then may the call go out:
        // cut off here, the call was never sent and is only held back.
        let logged = match log {
            Some(log) => {
                let at = log.now();
                log.record(key, at).await;
                Some((log, at, previous))
            }
            None => None,
        };
        Ok(PaceGrant { pacer: self, key: key.to_owned(), due, logged })
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
        pacer.pace("a", minute, minute, None).await.unwrap().keep();
        // Due within the accepted wait: waits for it.
        pacer.pace("a", minute, minute, None).await.unwrap().keep();
        assert_eq!(started.elapsed(), minute);
        // Due later than the caller accepts: refused with the time left, nothing recorded.
        let refused = pacer.pace("a", minute, Duration::from_secs(10), None).await.unwrap_err();
        assert_eq!(refused.wait, minute);
        // Other keys are independent; passed ones are forgotten.
        pacer.pace("b", minute, Duration::ZERO, None).await.unwrap().keep();
        assert_eq!(pacer.keys(), 2);
        tokio::time::sleep(minute).await;
        pacer.pace("c", minute, Duration::ZERO, None).await.unwrap().keep();
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
        async fn restore(&self, key: &str, at: Timestamp, previous: Option<Timestamp>) {
            let mut calls = self.calls.lock().unwrap();
            if calls.get(key) == Some(&at) {
                match previous {
                    Some(previous) => calls.insert(key.to_owned(), previous),
                    None => calls.remove(key),
                };
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn another_processes_calls_count_through_the_log() {
        let log = SharedLog::default();
        let (first, second) = (Pacer::default(), Pacer::default());
        let minute = Duration::from_secs(60);
        first.pace("stations", minute * 5, minute, Some(&log)).await.unwrap().keep();
        // A fresh process: its own map is empty, the log says five minutes are not up.
        let refused = second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap_err();
        assert_eq!(refused.wait, minute * 5);
        // Four minutes and a half later the rest is short enough to wait for.
        tokio::time::advance(Duration::from_secs(270)).await;
        let started = Instant::now();
        second.pace("stations", minute * 5, minute, Some(&log)).await.unwrap().keep();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        // The granted call was written to the log for the next process.
        let third = Pacer::default();
        assert!(third.pace("stations", minute * 5, Duration::ZERO, Some(&log)).await.is_err());
    }

    /// A granted call is recorded at once, here and in the log: dropped (cut off in
    /// flight, it may have reached the portal) it stays recorded; only one that provably
    /// never left gives its place back, and the log's record is the one before again.
    #[tokio::test(start_paused = true)]
    async fn a_grant_is_recorded_and_only_given_back_when_never_sent() {
        let log = SharedLog::default();
        let pacer = Pacer::default();
        let five = Duration::from_secs(300);
        let cut_off = pacer.pace("stations", five, Duration::ZERO, Some(&log)).await.unwrap();
        let at = log.last_called("stations").await;
        assert!(at.is_some(), "recorded when granted, before the call goes out");
        drop(cut_off);
        assert_eq!(log.last_called("stations").await, at, "a dropped grant stays recorded");
        assert!(pacer.pace("stations", five, Duration::ZERO, Some(&log)).await.is_err());
        assert!(Pacer::default().pace("stations", five, Duration::ZERO, Some(&log)).await.is_err());

        // Five minutes on: a call that never left is given back, to the record before it.
        tokio::time::advance(five).await;
        let unsent = pacer.pace("stations", five, Duration::ZERO, Some(&log)).await.unwrap();
        assert_ne!(log.last_called("stations").await, at);
        unsent.give_back().await;
        assert_eq!(log.last_called("stations").await, at, "the record before it");
        let again = pacer.pace("stations", five, Duration::ZERO, Some(&log)).await.unwrap();
        again.keep();
        let other = Pacer::default();
        assert!(other.pace("stations", five, Duration::ZERO, Some(&log)).await.is_err());
        // Without an earlier record, giving back removes it.
        let first = pacer.pace("alarms", five, Duration::ZERO, Some(&log)).await.unwrap();
        first.give_back().await;
        assert_eq!(log.last_called("alarms").await, None);
        assert!(pacer.pace("alarms", five, Duration::ZERO, Some(&log)).await.is_ok());
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
