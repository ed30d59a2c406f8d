//! One vendor account's token and pacing, and one run's request budget.
//!
//! The token lives in an [`AccountTokens`] shared by every run of the process for that
//! account (the engine keeps one per [`SessionKey`]), so its mutex is the per-account lock:
//! two runs never log in to one account at the same time, and a renewal done by one is seen
//! by the other. The same shared state remembers when each paced call was last made
//! ([`Session::pace`]), so minimum intervals hold across runs. The budget, the portal's
//! daily quota and the retry loop belong to the run's [`Session`].

use super::{Http, VendorClient, VendorError};
use crate::domain::{Timestamp, Token, VendorId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tracing::{debug, warn};

/// Where tokens persist between runs (the store, through the sync engine).
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The cached token, if any.
    async fn load(&self) -> Option<Token>;
    /// Caches a new token.
    async fn save(&self, token: &Token);
    /// Forgets the cached token (it was rejected).
    async fn clear(&self);
}

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
}

/// Identifies an account's token state: the vendor and a fingerprint of its credentials and
/// base URL, so changed credentials never reuse the old account's token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The vendor.
    pub vendor_id: VendorId,
    /// Hash of credentials and base URL.
    pub fingerprint: u64,
}

/// The token of one account, behind the per-account lock.
pub struct AccountTokens {
    current: tokio::sync::Mutex<Option<Token>>,
    store: Arc<dyn TokenStore>,
    logins: AtomicU64,
    /// Set when the vendor rejected these credentials: no task logs in with them again
    /// (a plant and an alert run of the same account must not both try).
    rejected: std::sync::Mutex<Option<String>>,
    /// When each paced call (by key) is next allowed. Entries whose time has passed are
    /// dropped on the next call, so keys that never repeat (alarm windows) do not pile up.
    paced: std::sync::Mutex<HashMap<String, tokio::time::Instant>>,
}

impl AccountTokens {
    /// Token state persisted through `store`.
    pub fn new(store: Arc<dyn TokenStore>) -> Arc<Self> {
        Arc::new(Self {
            current: tokio::sync::Mutex::new(None),
            store,
            logins: AtomicU64::new(0),
            rejected: std::sync::Mutex::new(None),
            paced: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Logins performed through this state (for tests and metrics).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }
}

/// One run's view of an account: its token state, request budget and retry policy.
pub struct Session {
    tokens: Arc<AccountTokens>,
    http: Http,
    budget: u32,
    spent: AtomicU32,
    soft_deadline: Option<tokio::time::Instant>,
    quota: Option<Arc<dyn DailyQuota>>,
    sync_interval: Option<Duration>,
}

/// Which failures a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Transient errors and rate limits.
    All,
    /// Transient errors only: a rate limit ends the (optional) work.
    NotRateLimits,
}

/// Why [`Session::pace`] refused a call: the wait would exceed what the caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSoon {
    /// How long until the call is allowed.
    pub wait: Duration,
}

impl Session {
    /// A session that may make at most `budget` requests (logins and retries included).
    pub fn new(tokens: Arc<AccountTokens>, http: Http, budget: u32) -> Self {
        Self {
            tokens,
            http,
            budget,
            spent: AtomicU32::new(0),
            soft_deadline: None,
            quota: None,
            sync_interval: None,
        }
    }

    /// How often this account is synced (its organization's interval), for adapters that
    /// plan a daily quota.
    pub fn with_sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = Some(interval);
        self
    }

    /// How often this account is synced, when known.
    pub fn sync_interval(&self) -> Option<Duration> {
        self.sync_interval
    }

    /// Counts every attempt against the portal's daily `quota` as well.
    pub fn with_daily_quota(mut self, quota: Arc<dyn DailyQuota>) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Requests left of the portal's daily quota, when the portal has one.
    pub async fn daily_remaining(&self) -> Option<u32> {
        match &self.quota {
            Some(quota) => Some(quota.remaining().await),
            None => None,
        }
    }

    /// The portal's daily limit, when it has one.
    pub fn daily_limit(&self) -> Option<u32> {
        self.quota.as_ref().map(|q| q.limit())
    }

    /// Honours a minimum interval between calls of one kind (`key`: the endpoint and what
    /// makes the request distinct) on this account, across runs of this process. Waits when
    /// the call is due within `max_wait`, else refuses with the time left; either way a
    /// granted call is recorded as made now. Intervals are multiplied by the HTTP settings'
    /// `min_interval_scale` (tests shrink them).
    pub async fn pace(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<(), TooSoon> {
        let scale = self.http.min_interval_scale();
        self.pace_by(key, interval.mul_f64(scale), max_wait.mul_f64(scale)).await
    }

    /// Whether a call of `key` may be made now, at most once per `interval` (not scaled:
    /// for plantsync's own spreading of a quota, not a portal's minimum interval). A granted
    /// call is recorded as made now.
    pub fn pace_exact(&self, key: &str, interval: Duration) -> bool {
        let mut paced = self.tokens.paced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = tokio::time::Instant::now();
        paced.retain(|_, due| *due > now);
        if paced.contains_key(key) {
            return false;
        }
        paced.insert(key.to_owned(), now + interval);
        true
    }

    async fn pace_by(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<(), TooSoon> {
        loop {
            let wait = {
                let mut paced =
                    self.tokens.paced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = tokio::time::Instant::now();
                paced.retain(|_, due| *due > now);
                match paced.get(key) {
                    Some(due) => *due - now,
                    None => {
                        paced.insert(key.to_owned(), now + interval);
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

    /// Remembers `key` on this account for `duration` (across runs of this process), e.g.
    /// "this key has no v2 access", so an answer known to be useless is not asked again.
    pub fn hold(&self, key: &str, duration: Duration) {
        let mut paced = self.tokens.paced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        paced.insert(key.to_owned(), tokio::time::Instant::now() + duration);
    }

    /// Whether `key` is held (by [`Session::hold`] or a recent [`Session::pace`]).
    pub fn is_held(&self, key: &str) -> bool {
        let paced = self.tokens.paced.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        paced.get(key).is_some_and(|due| *due > tokio::time::Instant::now())
    }

    /// Keys currently remembered by [`Session::pace`] (for tests).
    #[cfg(test)]
    fn paced_keys(&self) -> usize {
        self.tokens.paced.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// After `at`, optional work (per-plant readings, per-device alerts) should stop so the
    /// listing itself can still be stored within the vendor's deadline.
    pub fn with_soft_deadline(mut self, at: tokio::time::Instant) -> Self {
        self.soft_deadline = Some(at);
        self
    }

    /// Whether optional work should stop now: past the soft deadline, or fewer than
    /// `reserve` requests left in the budget.
    pub fn should_stop_optional_work(&self, reserve: u32) -> bool {
        self.soft_deadline.is_some_and(|at| tokio::time::Instant::now() >= at)
            || self.spent.load(Ordering::Relaxed).saturating_add(reserve) >= self.budget
    }

    /// Requests made so far in this run.
    pub fn requests_made(&self) -> u32 {
        self.spent.load(Ordering::Relaxed)
    }

    /// The HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// A usable token: the cached one while more than five minutes remain, else a new login.
    /// Portals without a login get an empty placeholder (their adapters send the API key).
    pub async fn token(&self, client: &dyn VendorClient) -> Result<Token, VendorError> {
        if !client.needs_login() {
            return Ok(Token {
                access: crate::domain::Secret::new(String::new()),
                refresh: None,
                expires_at: None,
                metadata: serde_json::Value::Null,
            });
        }
        let mut current = self.tokens.current.lock().await;
        let now = Timestamp::now();
        if let Some(token) = current.as_ref().filter(|t| t.is_reusable_at(now)) {
            return Ok(token.clone());
        }
        if let Some(stored) = self.tokens.store.load().await.filter(|t| t.is_reusable_at(now)) {
            debug!("reusing the stored token");
            *current = Some(stored.clone());
            return Ok(stored);
        }
        let fresh = self.login(client).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Replaces `stale`, which the vendor refused, with a new login; if another task already
    /// replaced it, returns that one instead of logging in again.
    async fn renew(&self, client: &dyn VendorClient, stale: &Token) -> Result<Token, VendorError> {
        let mut current = self.tokens.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| t.access != stale.access) {
            return Ok(token.clone());
        }
        // Another process (a CLI sync beside the agent) may have logged in already: on
        // portals with one session per account, a second login would end its session.
        let now = Timestamp::now();
        if let Some(stored) = self
            .tokens
            .store
            .load()
            .await
            .filter(|t| t.access != stale.access && t.is_reusable_at(now))
        {
            *current = Some(stored.clone());
            return Ok(stored);
        }
        *current = None;
        self.tokens.store.clear().await;
        let fresh = self.login(client).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    async fn login(&self, client: &dyn VendorClient) -> Result<Token, VendorError> {
        // Called with the account's token lock held, so the check and the login are one step.
        if let Some(reason) = self.tokens.rejected.lock().ok().and_then(|r| r.clone()) {
            return Err(VendorError::CredentialsRejected(reason));
        }
        // One session per account on some portals: logins are spaced, never bunched.
        if let Some(interval) = client.login_min_interval() {
            let _ = self.pace("login", interval, interval).await;
        }
        // A rejected login is returned at once (never retried: it could lock the account);
        // transient failures of the login call are retried like any other call.
        let token = match self.with_retries(|| client.login()).await {
            Err(VendorError::CredentialsRejected(reason)) => {
                if let Ok(mut rejected) = self.tokens.rejected.lock() {
                    *rejected = Some(reason.clone());
                }
                return Err(VendorError::CredentialsRejected(reason));
            }
            other => other?,
        };
        self.tokens.logins.fetch_add(1, Ordering::Relaxed);
        self.tokens.store.save(&token).await;
        debug!("logged in");
        Ok(token)
    }

    /// Runs an authenticated call: with a valid token, retrying transient failures and rate
    /// limits, and after a "token expired" answer logging in once more and retrying once.
    pub async fn call<T, F, Fut>(
        &self,
        client: &dyn VendorClient,
        call: F,
    ) -> Result<T, VendorError>
    where
        F: Fn(Token) -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        self.call_with(client, Retry::All, call).await
    }

    /// Like [`Session::call`] for optional calls (per-plant readings): a rate limit is
    /// returned at once instead of waited out and retried, so the adapter stops its optional
    /// work and keeps what it has ("serve cached data while throttled", vendor-apis.md §6.5;
    /// hammering a throttled portal has led to IP blocks lasting days).
    pub async fn call_optional<T, F, Fut>(
        &self,
        client: &dyn VendorClient,
        call: F,
    ) -> Result<T, VendorError>
    where
        F: Fn(Token) -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        self.call_with(client, Retry::NotRateLimits, call).await
    }

    async fn call_with<T, F, Fut>(
        &self,
        client: &dyn VendorClient,
        retry: Retry,
        call: F,
    ) -> Result<T, VendorError>
    where
        F: Fn(Token) -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        let token = self.token(client).await?;
        match self.attempts(retry, || call(token.clone())).await {
            Err(VendorError::TokenExpired(reason)) if !client.needs_login() => {
                // A static key cannot be renewed: the portal refused the key itself.
                Err(VendorError::CredentialsRejected(reason))
            }
            Err(VendorError::TokenExpired(reason)) => {
                debug!(%reason, "token refused; logging in again");
                let fresh = self.renew(client, &token).await?;
                self.attempts(retry, || call(fresh.clone())).await.map_err(|error| match error {
                    VendorError::TokenExpired(reason) => VendorError::TokenExpired(format!(
                        "refused again right after a fresh login ({reason})"
                    )),
                    other => other,
                })
            }
            other => other,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy or budget is spent.
    pub async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, VendorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        self.attempts(Retry::All, attempt).await
    }

    async fn attempts<T, F, Fut>(&self, retry: Retry, attempt: F) -> Result<T, VendorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        let policy = self.http.retry();
        let mut tries = 0;
        loop {
            if self.spent.fetch_add(1, Ordering::Relaxed) >= self.budget {
                return Err(VendorError::BudgetExhausted(self.budget));
            }
            // Retries count against the portal's quota too: that is how the portal counts.
            if let Some(quota) = &self.quota {
                quota.take().await?;
            }
            tries += 1;
            let error = match attempt().await {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Secret, VendorKind};
    use crate::vendors::{
        AlertListing, AlertWindow, HttpSettings, KnownPlants, PlantListing, RetryPolicy,
    };
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct MemoryTokens(Mutex<Option<Token>>);

    #[async_trait::async_trait]
    impl TokenStore for MemoryTokens {
        async fn load(&self) -> Option<Token> {
            self.0.lock().unwrap().clone()
        }
        async fn save(&self, token: &Token) {
            *self.0.lock().unwrap() = Some(token.clone());
        }
        async fn clear(&self) {
            *self.0.lock().unwrap() = None;
        }
    }

    struct FakeVendor {
        logins: AtomicU32,
        reject: bool,
    }

    #[async_trait::async_trait]
    impl VendorClient for FakeVendor {
        fn kind(&self) -> VendorKind {
            VendorKind::Solarman
        }
        async fn login(&self) -> Result<Token, VendorError> {
            if self.reject {
                return Err(VendorError::CredentialsRejected("wrong password".into()));
            }
            let n = self.logins.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Token {
                access: Secret::new(format!("token-{n}")),
                refresh: None,
                expires_at: Timestamp::from_unix_millis(
                    Timestamp::now().as_datetime().timestamp_millis() + 3_600_000,
                ),
                metadata: serde_json::Value::Null,
            })
        }
        async fn list_plants(
            &self,
            _: &Session,
            _: &KnownPlants,
        ) -> Result<PlantListing, VendorError> {
            Ok(PlantListing::default())
        }
        async fn list_alerts(
            &self,
            _: &Session,
            _: AlertWindow,
            _: &[String],
        ) -> Result<AlertListing, VendorError> {
            Ok(AlertListing::default())
        }
    }

    fn session(budget: u32) -> Session {
        let http = Http::new(HttpSettings {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_secs(2),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        Session::new(AccountTokens::new(Arc::new(MemoryTokens::default())), http, budget)
    }

    #[tokio::test]
    async fn expired_token_gives_exactly_one_relogin_then_an_error() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: false };
        let session = session(100);
        let seen = Mutex::new(Vec::new());
        let result: Result<(), _> = session
            .call(&vendor, |token| {
                seen.lock().unwrap().push(token.access.expose().to_owned());
                async { Err(VendorError::TokenExpired("E00003".into())) }
            })
            .await;
        assert!(matches!(result, Err(VendorError::TokenExpired(m)) if m.contains("refused again")));
        assert_eq!(*seen.lock().unwrap(), ["token-1", "token-2"]);
        assert_eq!(vendor.logins.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn valid_token_is_reused_without_login() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: false };
        let session = session(100);
        for _ in 0..3 {
            session.call(&vendor, |_| async { Ok(()) }).await.unwrap();
        }
        assert_eq!(vendor.logins.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn rejected_login_is_tried_once_even_by_a_second_session() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: true };
        let session = session(100);
        let result = session.call(&vendor, |_| async { Ok(()) }).await;
        assert!(matches!(result, Err(VendorError::CredentialsRejected(_))));
        assert_eq!(session.requests_made(), 1);
        // Another run of the same account (sharing its token state) does not try again.
        let other = Session::new(Arc::clone(&session.tokens), session.http.clone(), 100);
        let again = other.call(&vendor, |_| async { Ok(()) }).await;
        assert!(matches!(again, Err(VendorError::CredentialsRejected(_))));
        assert_eq!(other.requests_made(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_back_off_then_give_up_within_budget() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: false };
        let session = session(100);
        let started = tokio::time::Instant::now();
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = session
            .call(&vendor, |_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(VendorError::Transient("HTTP 503".into())) }
            })
            .await;
        assert!(matches!(result, Err(VendorError::Transient(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        // Two waits: [1, 2] s and [2, 4] s of virtual time.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(3) && waited <= Duration::from_secs(6), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn optional_calls_do_not_wait_out_rate_limits() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: false };
        let session = session(100);
        let attempts = AtomicU32::new(0);
        let limited = || VendorError::RateLimited { message: "10012".into(), retry_after: None };
        let result: Result<(), _> = session
            .call_optional(&vendor, |_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(limited()) }
            })
            .await;
        assert_eq!(result, Err(limited()));
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "no retry of a rate limit");
        // Transient errors are still retried.
        let transient = AtomicU32::new(0);
        let _: Result<(), _> = session
            .call_optional(&vendor, |_| {
                transient.fetch_add(1, Ordering::SeqCst);
                async { Err(VendorError::Transient("503".into())) }
            })
            .await;
        assert_eq!(transient.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn pace_waits_refuses_and_forgets_old_keys() {
        let session = session(100);
        let minute = Duration::from_secs(60);
        let started = tokio::time::Instant::now();
        session.pace("a", minute, minute).await.unwrap();
        // Due within the accepted wait: waits for it.
        session.pace("a", minute, minute).await.unwrap();
        assert_eq!(started.elapsed(), minute);
        // Due later than the caller accepts: refused with the time left, nothing recorded.
        let refused = session.pace("a", minute, Duration::from_secs(10)).await.unwrap_err();
        assert_eq!(refused.wait, minute);
        // Other keys are independent; passed ones are forgotten.
        session.pace("b", minute, Duration::ZERO).await.unwrap();
        assert_eq!(session.paced_keys(), 2);
        tokio::time::sleep(minute).await;
        session.pace("c", minute, Duration::ZERO).await.unwrap();
        assert_eq!(session.paced_keys(), 1, "a and b are past their interval");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_budget_caps_attempts() {
        let vendor = FakeVendor { logins: AtomicU32::new(0), reject: false };
        let session = session(3); // one login + two calls
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = session
            .call(&vendor, |_| async {
                Err(VendorError::RateLimited {
                    message: "429".into(),
                    retry_after: Some(Duration::from_secs(7)),
                })
            })
            .await;
        assert_eq!(result, Err(VendorError::BudgetExhausted(3)));
        assert_eq!(started.elapsed(), Duration::from_secs(14));
    }
}
