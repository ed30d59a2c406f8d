//! One run's request budget and the portal's daily quota.
//!
//! Every attempt of every call (logins and retries included) takes one request of the run's
//! budget, and on portals with a daily quota (SolarEdge: 300 a key) one of the persisted
//! quota as well, because that is how the portal counts. The budget also knows the run's
//! soft deadline, so optional per-plant work stops in time for the listing to be stored.
//!
//! The portal has the last word on its quota: when it refuses a call for a spent quota
//! before our count reaches the limit (another client on the key, a smaller allowance),
//! the quota is spent for the rest of the portal's day ([`DailyQuota::spent_by_portal`])
//! and the call is not retried.

use crate::vendors::VendorError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::time::Instant;

/// A portal's daily request quota for one key, persisted so it survives restarts (the
/// store, through the sync engine). Every attempt of a call takes one request.
#[async_trait::async_trait]
pub trait DailyQuota: Send + Sync {
    /// Takes one request of today's quota; [`VendorError::QuotaSpent`] when none is left.
    async fn take(&self) -> Result<(), VendorError>;
    /// Requests left today.
    async fn remaining(&self) -> u32;
    /// The daily limit.
    fn limit(&self) -> u32;
    /// How long until the portal's day ends and the quota is whole again.
    async fn until_reset(&self) -> std::time::Duration;
    /// The portal refused a call for a spent quota, saying `said`: nothing is left until
    /// its day ends. Returns the error the call ends with.
    async fn spent_by_portal(&self, said: String) -> VendorError;
}

/// What one run may still spend on one account.
pub(super) struct Budget {
    limit: u32,
    spent: AtomicU32,
    soft_deadline: Option<Instant>,
    quota: Option<Arc<dyn DailyQuota>>,
}

impl Budget {
    /// At most `limit` requests, no deadline, no daily quota.
    pub(super) fn new(limit: u32) -> Self {
        Self { limit, spent: AtomicU32::new(0), soft_deadline: None, quota: None }
    }

    /// Optional work stops after `at`.
    pub(super) fn set_soft_deadline(&mut self, at: Instant) {
        self.soft_deadline = Some(at);
    }

    /// Every request is counted against `quota` too.
    pub(super) fn set_daily_quota(&mut self, quota: Arc<dyn DailyQuota>) {
        self.quota = Some(quota);
    }

    /// Takes one request for an attempt: [`VendorError::BudgetExhausted`] when the run's
    /// budget is spent, [`VendorError::QuotaSpent`] when the day's quota is.
    pub(super) async fn take(&self) -> Result<(), VendorError> {
        if self.spent.fetch_add(1, Ordering::Relaxed) >= self.limit {
            return Err(VendorError::BudgetExhausted(self.limit));
        }
        if let Some(quota) = &self.quota {
            quota.take().await?;
        }
        Ok(())
    }

    /// When optional work should stop, if the run has such a time.
    pub(super) fn soft_deadline(&self) -> Option<Instant> {
        self.soft_deadline
    }

    /// Past the soft deadline, or fewer than `reserve` requests left.
    pub(super) fn should_stop_optional_work(&self, reserve: u32) -> bool {
        self.soft_deadline.is_some_and(|at| Instant::now() >= at)
            || self.spent.load(Ordering::Relaxed).saturating_add(reserve) >= self.limit
    }

    /// Requests taken so far (refused ones included: they were asked for).
    pub(super) fn spent(&self) -> u32 {
        self.spent.load(Ordering::Relaxed)
    }

    /// Requests left of the daily quota, when the portal has one.
    pub(super) async fn daily_remaining(&self) -> Option<u32> {
        match &self.quota {
            Some(quota) => Some(quota.remaining().await),
            None => None,
        }
    }

    /// The portal's daily limit, when it has one.
    pub(super) fn daily_limit(&self) -> Option<u32> {
        self.quota.as_ref().map(|q| q.limit())
    }

    /// Time until the daily quota is whole again, when the portal has one.
    pub(super) async fn daily_until_reset(&self) -> Option<std::time::Duration> {
        match &self.quota {
            Some(quota) => Some(quota.until_reset().await),
            None => None,
        }
    }

    /// An attempt was refused by the portal for a spent quota (`said`): the daily quota,
    /// if counted, is spent until the portal's day ends. The error the call ends with.
    pub(super) async fn spent_by_portal(&self, said: String) -> VendorError {
        match &self.quota {
            Some(quota) => quota.spent_by_portal(said).await,
            None => VendorError::QuotaSpent(said),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Quota(AtomicU32);

    #[async_trait::async_trait]
    impl DailyQuota for Quota {
        async fn take(&self) -> Result<(), VendorError> {
            let left = self.0.load(Ordering::SeqCst);
            if left == 0 {
                return Err(VendorError::QuotaSpent("none left".into()));
            }
            self.0.store(left - 1, Ordering::SeqCst);
            Ok(())
        }
        async fn remaining(&self) -> u32 {
            self.0.load(Ordering::SeqCst)
        }
        fn limit(&self) -> u32 {
            300
        }
        async fn until_reset(&self) -> Duration {
            Duration::from_secs(3600)
        }
        async fn spent_by_portal(&self, said: String) -> VendorError {
            self.0.store(0, Ordering::SeqCst);
            VendorError::QuotaSpent(format!("{said}; no call until the day ends"))
        }
    }

    #[tokio::test]
    async fn budget_then_quota_each_take_one_request() {
        let mut budget = Budget::new(3);
        budget.set_daily_quota(Arc::new(Quota(AtomicU32::new(2))));
        assert_eq!(budget.take().await, Ok(()));
        assert_eq!(budget.take().await, Ok(()));
        assert_eq!(budget.daily_remaining().await, Some(0));
        assert!(matches!(budget.take().await, Err(VendorError::QuotaSpent(_))));
        assert_eq!(budget.take().await, Err(VendorError::BudgetExhausted(3)));
        assert_eq!((budget.spent(), budget.daily_limit()), (4, Some(300)));
    }

    #[tokio::test]
    async fn the_portal_saying_spent_empties_the_quota() {
        let mut budget = Budget::new(10);
        budget.set_daily_quota(Arc::new(Quota(AtomicU32::new(200))));
        let error = budget.spent_by_portal("HTTP 429".into()).await;
        assert_eq!(error, VendorError::QuotaSpent("HTTP 429; no call until the day ends".into()));
        assert_eq!(budget.daily_remaining().await, Some(0));
        assert!(matches!(budget.take().await, Err(VendorError::QuotaSpent(_))));
        assert_eq!(budget.daily_until_reset().await, Some(Duration::from_secs(3600)));
        // Without a counted quota the portal's word is the error itself.
        let uncounted = Budget::new(10).spent_by_portal("HTTP 429".into()).await;
        assert_eq!(uncounted, VendorError::QuotaSpent("HTTP 429".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn optional_work_stops_at_the_reserve_or_the_soft_deadline() {
        let mut budget = Budget::new(10);
        budget.set_soft_deadline(Instant::now() + Duration::from_secs(60));
        for _ in 0..7 {
            budget.take().await.unwrap();
        }
        assert!(!budget.should_stop_optional_work(2), "7 + 2 < 10");
        assert!(budget.should_stop_optional_work(3), "7 + 3 reaches the limit");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(budget.should_stop_optional_work(0), "past the soft deadline");
        assert_eq!(Budget::new(5).daily_remaining().await, None);
    }
}
