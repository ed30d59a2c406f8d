//! The adaptive limit of one account's concurrent per-plant calls.
//!
//! Portals do not publish how many concurrent calls they take, and the price of guessing
//! high is their rate limit (or, on Growatt, an IP block). So the limit in force starts at
//! the configured value and halves (down to one) at the account's first rate-limit signal,
//! for the rest of the run and the later runs of the process (it lives in the account's
//! shared state, next to the token, and the engine hands one vendor's limit to each of its
//! credential sets, so a changed key does not start over). It recovers slowly: one more
//! call after
//! [`RECOVER_AFTER_CALLS`] successful calls without a signal, and no sooner than
//! [`RECOVER_AFTER`] since the last change, up to the configured value.
//!
//! Several calls already in flight when the portal starts refusing all get the signal; they
//! are one signal, not several. And one call is one signal however often it is retried:
//! each call notes the limit's *generation* once, when it starts ([`AdaptiveLimit::call`]),
//! and only a signal from a call of the current generation halves the limit (and starts
//! the next), so a call waiting out a 429 and refused again does not halve it twice.
//!
//! It is also the semaphore of the account's fan-out calls ([`crate::vendors::Session::
//! fan_out`]): [`AdaptiveLimit::acquire`] waits while as many of them as the current limit
//! are in flight, across every run of the account (a plant and an alert run share it), so
//! lowering the limit takes effect as calls finish. Calls made outside a fan-out (logins,
//! listing pages, an account-wide alert list) take no place: each run makes those one at a
//! time, so an account has at most its limit, plus one such call per run, in flight.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{info, warn};

/// Successful calls without a rate-limit signal before the limit grows by one.
pub(crate) const RECOVER_AFTER_CALLS: u32 = 50;
/// The least time between two changes of the limit, before it grows again.
pub(crate) const RECOVER_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    /// The configured value: the most the limit recovers to.
    ceiling: usize,
    /// The limit in force.
    limit: usize,
    /// Calls holding a permit.
    in_flight: usize,
    /// Bumped at each halving.
    generation: u64,
    /// Successful calls since the last change.
    successes: u32,
    /// When the limit last changed (or was configured).
    changed_at: Instant,
    /// Whether [`AdaptiveLimit::configure`] was called.
    configured: bool,
}

/// One vendor account's limit of concurrent calls, adapted to its rate limits. Shared
/// (behind an `Arc`) by every [`crate::vendors::AccountTokens`] of the vendor.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    freed: Notify,
}

impl Default for AdaptiveLimit {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                ceiling: 1,
                limit: 1,
                in_flight: 0,
                generation: 0,
                successes: 0,
                changed_at: Instant::now(),
                configured: false,
            }),
            freed: Notify::new(),
        }
    }
}

/// What one call (all its attempts) reports to the limit, tied to the generation it
/// started in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSignals<'a> {
    limit: &'a AdaptiveLimit,
    generation: u64,
}

impl CallSignals<'_> {
    /// An attempt of the call was refused for a rate limit: halves the limit unless a
    /// signal of the call's generation (this call's earlier attempt, or another call in
    /// flight with it) already did.
    pub(crate) fn rate_limited(&self) {
        self.limit.on_rate_limited(self.generation);
    }

    /// An attempt of the call succeeded.
    pub(crate) fn succeeded(&self) {
        self.limit.on_success();
    }
}

/// One call's place under the limit; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Permit<'a>(&'a AdaptiveLimit);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.freed.notify_waiters();
    }
}

impl AdaptiveLimit {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the configured value (the portal's setting). The first call starts the limit
    /// there; later ones keep what was learnt, only lowering the limit to a lowered
    /// setting (a raised one is reached by recovery).
    pub(crate) fn configure(&self, ceiling: usize) {
        let ceiling = ceiling.max(1);
        let mut state = self.lock();
        if !state.configured {
            state.configured = true;
            state.limit = ceiling;
            state.changed_at = Instant::now();
        }
        state.ceiling = ceiling;
        state.limit = state.limit.min(ceiling);
    }

    /// The limit in force.
    pub(crate) fn current(&self) -> usize {
        self.lock().limit
    }

    /// The generation a call starting now belongs to.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// A call starting now: its signals, however many attempts it makes, count as the
    /// signals of one call of the current generation.
    pub(crate) fn call(&self) -> CallSignals<'_> {
        CallSignals { limit: self, generation: self.generation() }
    }

    /// A call that started in `generation` was refused for a rate limit: the limit halves
    /// (at least 1), once per generation.
    pub(crate) fn on_rate_limited(&self, generation: u64) {
        let mut state = self.lock();
        if generation != state.generation {
            return;
        }
        let before = state.limit;
        state.limit = (before / 2).max(1);
        state.generation += 1;
        state.successes = 0;
        state.changed_at = Instant::now();
        warn!(
            from = before,
            to = state.limit,
            "rate limited: fewer concurrent calls for this account"
        );
    }

    /// A call succeeded: after enough of them, long enough after the last change, the
    /// limit grows by one (up to the configured value).
    pub(crate) fn on_success(&self) {
        let grew = {
            let mut state = self.lock();
            state.successes = state.successes.saturating_add(1);
            let due = state.successes >= RECOVER_AFTER_CALLS
                && state.changed_at.elapsed() >= RECOVER_AFTER
                && state.limit < state.ceiling;
            if due {
                state.limit += 1;
                state.successes = 0;
                state.changed_at = Instant::now();
                info!(
                    to = state.limit,
                    "no rate limits lately: one more concurrent call for this account"
                );
            }
            due
        };
        if grew {
            self.freed.notify_waiters();
        }
    }

    /// A place under the limit, if one is free now.
    pub(crate) fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut state = self.lock();
        (state.in_flight < state.limit).then(|| {
            state.in_flight += 1;
            Permit(self)
        })
    }

    /// A place under the limit, waiting for one to be freed.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the check, so a place freed in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            freed.await;
        }
    }

    /// Calls holding a place now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn limit(ceiling: usize) -> AdaptiveLimit {
        let limit = AdaptiveLimit::default();
        limit.configure(ceiling);
        limit
    }

    #[tokio::test(start_paused = true)]
    async fn halves_once_per_signal_down_to_one() {
        let limit = limit(8);
        assert_eq!(limit.current(), 8);
        let generation = limit.generation();
        // Three calls in flight together are refused: one signal.
        for _ in 0..3 {
            limit.on_rate_limited(generation);
        }
        assert_eq!(limit.current(), 4);
        // A call started after the halving is a new signal.
        limit.on_rate_limited(limit.generation());
        assert_eq!(limit.current(), 2);
        limit.on_rate_limited(limit.generation());
        limit.on_rate_limited(limit.generation());
        assert_eq!(limit.current(), 1, "the floor is one");
        limit.on_rate_limited(limit.generation());
        assert_eq!(limit.current(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn recovers_slowly_and_only_without_signals() {
        let limit = limit(4);
        limit.on_rate_limited(limit.generation());
        assert_eq!(limit.current(), 2);
        // Many successes right after the halving: not yet (too soon).
        for _ in 0..RECOVER_AFTER_CALLS * 3 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 2);
        // Time has passed, and the successes were counted: the next success grows it by one.
        tokio::time::advance(RECOVER_AFTER).await;
        limit.on_success();
        assert_eq!(limit.current(), 3);
        // The next step needs the time again, and as many successes again.
        tokio::time::advance(RECOVER_AFTER).await;
        for _ in 0..RECOVER_AFTER_CALLS - 1 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 3, "the successes restarted at the step");
        limit.on_success();
        assert_eq!(limit.current(), 4);
        // Never above the configured value.
        tokio::time::advance(RECOVER_AFTER * 10).await;
        for _ in 0..RECOVER_AFTER_CALLS * 10 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 4);
        // A signal resets the count of successes.
        limit.on_rate_limited(limit.generation());
        tokio::time::advance(RECOVER_AFTER).await;
        for _ in 0..RECOVER_AFTER_CALLS - 1 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn configuring_again_keeps_what_was_learnt() {
        let limit = limit(8);
        limit.on_rate_limited(limit.generation());
        limit.configure(8);
        assert_eq!(limit.current(), 4, "a later run does not undo the halving");
        limit.configure(2);
        assert_eq!(limit.current(), 2, "a lowered setting applies at once");
        limit.configure(6);
        assert_eq!(limit.current(), 2, "a raised one is reached by recovery");
    }

    #[tokio::test(start_paused = true)]
    async fn permits_wait_for_a_free_place_and_follow_a_lowered_limit() {
        let limit = limit(2);
        let first = limit.acquire().await;
        let second = limit.try_acquire().expect("two places");
        assert!(limit.try_acquire().is_none());
        let mut third = Box::pin(limit.acquire());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        drop(first);
        let third = third.await;
        assert_eq!(limit.in_flight(), 2);
        // Halved to 1 while two are in flight: no new place until both are done.
        limit.on_rate_limited(limit.generation());
        drop(second);
        assert!(limit.try_acquire().is_none(), "one in flight is the new limit");
        drop(third);
        assert!(limit.try_acquire().is_some());
    }
}
