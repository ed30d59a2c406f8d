//! Minimum intervals between calls of one account, across the runs of this process.
//!
//! FusionSolar refuses an identical call made sooner than its minimum interval (`failCode
//! 407`, vendor-apis.md §4.5) and SolarEdge's daily quota is spread over the day; both need
//! to know when a call of a kind was last made on the account, whichever run made it. The
//! [`Pacer`] lives in the account's shared state and keeps, per call key, when it is next
//! allowed. Keys whose time has passed are dropped on the next call, so keys that never
//! repeat (alarm windows) do not pile up. It only paces calls: facts learnt about the
//! account (no v2 access, legacy-only) are the memo's (`memo.rs`), not string keys here.

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
    pub(super) async fn pace(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<(), TooSoon> {
        loop {
            let wait = {
                let now = Instant::now();
                let mut due = self.current(now);
                match due.get(key) {
                    Some(at) => *at - now,
                    None => {
                        due.insert(key.to_owned(), now + interval);
                        return Ok(());
                    }
                }
            };
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

    #[tokio::test(start_paused = true)]
    async fn pace_waits_refuses_and_forgets_old_keys() {
        let pacer = Pacer::default();
        let minute = Duration::from_secs(60);
        let started = Instant::now();
        pacer.pace("a", minute, minute).await.unwrap();
        // Due within the accepted wait: waits for it.
        pacer.pace("a", minute, minute).await.unwrap();
        assert_eq!(started.elapsed(), minute);
        // Due later than the caller accepts: refused with the time left, nothing recorded.
        let refused = pacer.pace("a", minute, Duration::from_secs(10)).await.unwrap_err();
        assert_eq!(refused.wait, minute);
        // Other keys are independent; passed ones are forgotten.
        pacer.pace("b", minute, Duration::ZERO).await.unwrap();
        assert_eq!(pacer.keys(), 2);
        tokio::time::sleep(minute).await;
        pacer.pace("c", minute, Duration::ZERO).await.unwrap();
        assert_eq!(pacer.keys(), 1, "a and b are past their interval");
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
