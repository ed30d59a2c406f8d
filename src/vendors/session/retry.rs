//! The retry loop every vendor call goes through.
//!
//! Transient failures and rate limits are retried with the [`RetryPolicy`]'s capped,
//! jittered backoff (honouring `Retry-After`); auth errors and malformed answers never are.
//! Each attempt first takes a request of the run's [`Budget`] (and of the daily quota), so
//! retries count as the portal counts them: auto-retry made FusionSolar's 407 worse
//! (vendor-apis.md §6.5). Optional calls ([`Retry::NotRateLimits`]) return a rate limit at
//! once instead of waiting it out, so the adapter stops its optional work and keeps what it
//! has. Every attempt tells the account's limit how it went ([`CallSignals`]): a rate limit
//! halves the account's concurrency, successes let it recover. The signals of one call are
//! tied to the limit's generation when the call started, so a call retried after rate
//! limits halves the limit once, not once per refused attempt: every retry used to count
//! as a new signal, and one throttling episode took a limit of 8 down to 1. An attempt the
//! portal refuses for a spent daily quota ([`VendorError::QuotaSpent`]) spends the counted
//! quota for the rest of the portal's day and ends the call.

use super::budget::Budget;
use super::limit::CallSignals;
use crate::vendors::{RetryPolicy, VendorError};
use std::future::Future;
use tracing::warn;

/// Which failures a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Transient errors and rate limits.
    All,
    /// Transient errors only: a rate limit ends the (optional) work.
    NotRateLimits,
}

/// Runs `attempt` until it succeeds, fails for good, or the policy or budget is spent,
/// reporting each attempt's rate limit or success through `signals` (one call's).
pub(super) async fn attempts<T, F, Fut>(
    budget: &Budget,
    policy: RetryPolicy,
    retry: Retry,
    signals: CallSignals<'_>,
    attempt: F,
) -> Result<T, VendorError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, VendorError>>,
{
    let mut tries = 0;
    loop {
        budget.take().await?;
        tries += 1;
        let outcome = match attempt().await {
            // The portal says the day's quota is spent: it is, until its day ends; never
            // retried (every retry would be refused, and counted).
            Err(VendorError::QuotaSpent(said)) => Err(budget.spent_by_portal(said).await),
            other => other,
        };
        match &outcome {
            Ok(_) => signals.succeeded(),
            Err(VendorError::RateLimited { .. }) => signals.rate_limited(),
            Err(_) => {}
        }
        let error = match outcome {
            Err(error @ VendorError::RateLimited { .. }) if retry == Retry::NotRateLimits => {
                return Err(error);
            }
            Err(error) if error.is_retryable() && tries < policy.max_attempts => error,
            other => return other,
        };
        let Some(delay) = policy.delay(tries, &error) else {
            return Err(error);
        };
        warn!(attempt = tries, delay_ms = delay.as_millis() as u64, %error, "retrying vendor call");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::limit::AdaptiveLimit;
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn limit() -> AdaptiveLimit {
        let limit = AdaptiveLimit::default();
        limit.configure(8);
        limit
    }

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(2), ..Default::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_back_off_then_give_up() {
        let started = tokio::time::Instant::now();
        let tries = AtomicU32::new(0);
        let result: Result<(), _> =
            attempts(&Budget::new(100), policy(), Retry::All, limit().call(), || {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err(VendorError::Transient("HTTP 503".into())) }
            })
            .await;
        assert!(matches!(result, Err(VendorError::Transient(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        // Two waits: [1, 2] s and [2, 4] s of virtual time.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(3) && waited <= Duration::from_secs(6), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn optional_calls_do_not_wait_out_rate_limits() {
        let budget = Budget::new(100);
        let limit = limit();
        let tries = AtomicU32::new(0);
        let limited = || VendorError::RateLimited { message: "10012".into(), retry_after: None };
        let result: Result<(), _> =
            attempts(&budget, policy(), Retry::NotRateLimits, limit.call(), || {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err(limited()) }
            })
            .await;
        assert_eq!(result, Err(limited()));
        assert_eq!(tries.load(Ordering::SeqCst), 1, "no retry of a rate limit");
        assert_eq!(limit.current(), 4, "the signal halved the account's concurrency");
        // Transient errors are still retried.
        let transient = AtomicU32::new(0);
        let _: Result<(), _> =
            attempts(&budget, policy(), Retry::NotRateLimits, limit.call(), || {
                transient.fetch_add(1, Ordering::SeqCst);
                async { Err(VendorError::Transient("503".into())) }
            })
            .await;
        assert_eq!(transient.load(Ordering::SeqCst), 3);
        assert_eq!(limit.current(), 4, "other errors are no signal");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_retried_after_rate_limits_is_one_signal() {
        let limit = limit();
        let tries = AtomicU32::new(0);
        let result = attempts(&Budget::new(100), policy(), Retry::All, limit.call(), || {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 | 1 => {
                        Err(VendorError::RateLimited { message: "E999".into(), retry_after: None })
                    }
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
        assert_eq!(limit.current(), 4, "two refused attempts of one call: one halving");
        // The next call is a new signal.
        let _: Result<(), _> =
            attempts(&Budget::new(100), policy(), Retry::NotRateLimits, limit.call(), || async {
                Err(VendorError::RateLimited { message: "E999".into(), retry_after: None })
            })
            .await;
        assert_eq!(limit.current(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn auth_and_malformed_answers_are_not_retried() {
        for error in [VendorError::TokenExpired("401".into()), VendorError::Malformed("{".into())] {
            let tries = AtomicU32::new(0);
            let result: Result<(), _> =
                attempts(&Budget::new(100), policy(), Retry::All, limit().call(), || {
                    tries.fetch_add(1, Ordering::SeqCst);
                    let error = error.clone();
                    async move { Err(error) }
                })
                .await;
            assert_eq!(result, Err(error));
            assert_eq!(tries.load(Ordering::SeqCst), 1);
        }
    }
}
