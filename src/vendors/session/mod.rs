//! One vendor account's shared state, and one run's view of it: the [`Session`] adapters
//! make every call through.
//!
//! # Design
//!
//! A session does four jobs, each in its own file, so each can be read and tested alone:
//!
//! * `tokens.rs`: the token cache and the login guard (reuse, renew once, never retry a
//!   rejected login).
//! * `pacing.rs`: minimum intervals between calls of one kind on the account.
//! * `budget.rs`: the run's request budget, its soft deadline and the portal's daily quota.
//! * `retry.rs`: the retry loop every attempt goes through.
//!
//! What outlives a run lives in [`AccountTokens`], which the engine keeps one of per
//! [`SessionKey`] for the life of the process: the token cache (whose mutex is the
//! per-account lock), the pacing map, the memo of facts learnt about the account
//! (`memo.rs`, [`AccountFact`]) and the adaptive limit of its concurrent calls
//! (`limit.rs`, [`AdaptiveLimit`]; one per vendor, kept when its credentials change),
//! which every call reports its rate limits and successes to (one signal per call, however
//! often it is retried). What belongs to one run (budget, deadline, quota
//! handle) lives in the [`Session`], which is the only thing adapters see; its fan-out
//! (`fanout.rs`, [`Session::fan_out`]) runs an adapter's per-plant calls under that limit.

mod budget;
mod fanout;
mod limit;
mod memo;
mod pacing;
mod retry;
mod tokens;

pub use budget::DailyQuota;
pub use fanout::{FanOut, Stopped};
pub use limit::AdaptiveLimit;
pub use memo::AccountFact;
pub use pacing::{CallLog, PaceGrant, TooSoon};
pub use tokens::TokenStore;

use super::{Http, VendorClient, VendorError};
use crate::domain::VendorKind;
use crate::domain::{Timestamp, Token, VendorId};
use budget::Budget;
use limit::CallSignals;
use memo::Memo;
use pacing::Pacer;
use retry::Retry;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokens::TokenCache;
use tracing::debug;

/// What a call that returns rate limits at once is
/// ([`Session::call_returning_rate_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Optional work (per-plant readings, per-device alerts): a rate limit ends it, and a
    /// fan-out that has stopped sends no more of it.
    Optional,
    /// A call the adapter needs and whose rate limit it handles itself (FusionSolar's
    /// listing waits a short `407` out once).
    HandlesRateLimits,
}

/// Whether the request behind a call's `result` may have reached the portal: anything
/// but a connection that could not be made ([`VendorError::Unreachable`]). A paced call
/// whose every attempt never left gives its place back ([`PaceGrant::give_back`]).
pub fn may_have_left<T>(result: &Result<T, VendorError>) -> bool {
    !matches!(result, Err(VendorError::Unreachable(_)))
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

/// Everything about one account that outlives a run: its token (behind the per-account
/// lock), when paced calls are next allowed, the facts remembered about it, and how many
/// of its calls may be in flight at once.
pub struct AccountTokens {
    tokens: TokenCache,
    pacing: Pacer,
    memo: Memo,
    limit: Arc<AdaptiveLimit>,
    /// Calls the portal answered without an error, over every run: a refused static key
    /// that answers again is accepted (the engine compares it before and after a probe).
    answered: AtomicU64,
}

impl AccountTokens {
    /// Account state whose token is persisted through `store`, its calls under `limit`:
    /// the vendor's limit, which new credentials of the vendor keep (a fresh one for a new
    /// vendor), so a changed key does not reset what was learnt about the portal.
    pub fn new(store: Arc<dyn TokenStore>, limit: Arc<AdaptiveLimit>) -> Arc<Self> {
        Arc::new(Self {
            tokens: TokenCache::new(store),
            pacing: Pacer::default(),
            memo: Memo::default(),
            limit,
            answered: AtomicU64::new(0),
        })
    }

    /// Calls of this account the portal answered without an error so far.
    pub fn calls_answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// The limit of this account's concurrent calls, for new credentials of the vendor.
    pub fn limit(&self) -> Arc<AdaptiveLimit> {
        Arc::clone(&self.limit)
    }

    /// Believes facts about this account read from the store, each until its UTC time
    /// (`memo.rs`: what another process learnt holds here too).
    pub fn believe_facts(&self, facts: impl IntoIterator<Item = (AccountFact, Timestamp)>) {
        for (fact, until) in facts {
            self.memo.believe(fact, until);
        }
    }

    /// The facts learnt about this account since the last call, with the UTC time each is
    /// believed until, for the store.
    pub fn take_learnt_facts(&self) -> Vec<(AccountFact, Timestamp)> {
        self.memo.take_learnt()
    }

    /// Logins performed through this state.
    #[cfg(test)]
    fn logins(&self) -> u64 {
        self.tokens.logins()
    }
}

/// One run's view of an account: its shared state, request budget and retry policy.
pub struct Session {
    account: Arc<AccountTokens>,
    http: Http,
    budget: Budget,
    sync_interval: Option<Duration>,
    /// Calls made by other processes, for [`Session::pace`].
    call_log: Option<Arc<dyn CallLog>>,
    /// Whether the fan-out running now has stopped, and why.
    halt: fanout::Halt,
}

impl Session {
    /// A session that may make at most `budget` requests (logins and retries included).
    pub fn new(tokens: Arc<AccountTokens>, http: Http, budget: u32) -> Self {
        Self {
            account: tokens,
            http,
            budget: Budget::new(budget),
            sync_interval: None,
            call_log: None,
            halt: fanout::Halt::default(),
        }
    }

    /// Paced calls also honour the calls other processes made on this account, as `log`
    /// recorded them (and are recorded there).
    pub fn with_call_log(mut self, log: Arc<dyn CallLog>) -> Self {
        self.call_log = Some(log);
        self
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
        self.budget.set_daily_quota(quota);
        self
    }

    /// Requests left of the portal's daily quota, when the portal has one.
    pub async fn daily_remaining(&self) -> Option<u32> {
        self.budget.daily_remaining().await
    }

    /// The portal's daily limit, when it has one.
    pub fn daily_limit(&self) -> Option<u32> {
        self.budget.daily_limit()
    }

    /// How long until the portal's daily quota is whole again, when it has one.
    pub async fn daily_until_reset(&self) -> Option<Duration> {
        self.budget.daily_until_reset().await
    }

    /// After `at`, optional work (per-plant readings, per-device alerts) should stop so the
    /// listing itself can still be stored within the vendor's deadline.
    pub fn with_soft_deadline(mut self, at: tokio::time::Instant) -> Self {
        self.budget.set_soft_deadline(at);
        self
    }

    /// When optional work should stop ([`Session::with_soft_deadline`]), if ever.
    pub fn soft_deadline(&self) -> Option<tokio::time::Instant> {
        self.budget.soft_deadline()
    }

    /// Whether optional work should stop now: past the soft deadline, or fewer than
    /// `reserve` requests left in the budget.
    pub fn should_stop_optional_work(&self, reserve: u32) -> bool {
        self.budget.should_stop_optional_work(reserve)
    }

    /// Requests made so far in this run.
    pub fn requests_made(&self) -> u32 {
        self.budget.spent()
    }

    /// The account's concurrency limit, configured from the settings of portal `kind`.
    fn limit(&self, kind: VendorKind) -> &AdaptiveLimit {
        let limit = &self.account.limit;
        limit.configure(self.http.concurrency().get(kind));
        limit
    }

    /// Honours a minimum interval between calls of one kind (`key`: the endpoint and what
    /// makes the request distinct) on this account, across runs of this process and, with
    /// a call log ([`Session::with_call_log`]), of other processes. Waits when
    /// the call is due within `max_wait`, else refuses with the time left; either way a
    /// granted call is recorded as made now. Intervals are multiplied by the HTTP settings'
    /// `min_interval_scale` (tests shrink them). The grant is recorded at once (a call cut
    /// off in flight may have reached the portal); [`PaceGrant::give_back`] only when the
    /// call provably never left ([`VendorError::Unreachable`], a login refused before
    /// it), so it holds back no later call, here or in another process.
    pub async fn pace(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<PaceGrant<'_>, TooSoon> {
        let scale = self.http.min_interval_scale();
        let (interval, max_wait) = (interval.mul_f64(scale), max_wait.mul_f64(scale));
        self.account.pacing.pace(key, interval, max_wait, self.call_log.as_deref()).await
    }

    /// Whether a call of `key` may be made now, at most once per `interval` (not scaled:
    /// for plantsync's own spreading of a quota, not a portal's minimum interval). A granted
    /// call is recorded as made now.
    pub fn pace_exact(&self, key: &str, interval: Duration) -> bool {
        self.account.pacing.pace_exact(key, interval)
    }

    /// Remembers `fact` about this account for its lifetime (across runs of this process),
    /// so an answer known to be useless is not asked for again.
    pub fn remember(&self, fact: AccountFact) {
        self.account.memo.remember(fact);
    }

    /// Whether `fact` is remembered about this account (and not expired).
    pub fn knows(&self, fact: &AccountFact) -> bool {
        self.account.memo.knows(fact)
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
        self.account.tokens.get(|| self.login(client)).await
    }

    /// One login through the retry loop, spaced on portals with one session per account. A
    /// rejected login is returned at once (never retried: it could lock the account);
    /// transient failures of the login call are retried like any other call.
    async fn login(&self, client: &dyn VendorClient) -> Result<Token, VendorError> {
        let paced = match client.login_min_interval() {
            Some(interval) => self.pace("login", interval, interval).await.ok(),
            None => None,
        };
        let signals = self.limit(client.kind()).call();
        let left = AtomicBool::new(false);
        let result = self
            .attempts(signals, Retry::All, || async {
                let result = client.login().await;
                left.fetch_or(may_have_left(&result), Ordering::Relaxed);
                result
            })
            .await;
        if let Some(paced) = paced.filter(|_| !left.load(Ordering::Relaxed)) {
            paced.give_back().await;
        }
        result
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

    /// Like [`Session::call`], but a rate limit is returned at once instead of waited out
    /// and retried (transient failures are still retried), for two kinds of call ([`Work`]):
    ///
    /// * [`Work::Optional`] (per-plant readings): the adapter stops its optional work and
    ///   keeps what it has ("serve cached data while throttled", vendor-apis.md §6.5;
    ///   hammering a throttled portal has led to IP blocks lasting days). Made by an item
    ///   of a fan-out that has stopped, it is not sent at all: it returns the error that
    ///   stopped the fan-out.
    /// * [`Work::HandlesRateLimits`]: the adapter handles the rate limit itself
    ///   (FusionSolar's `407` means the endpoint's known minimum interval: the adapter
    ///   waits it out once, or says how long is left); always sent.
    pub async fn call_returning_rate_limits<T, F, Fut>(
        &self,
        client: &dyn VendorClient,
        work: Work,
        call: F,
    ) -> Result<T, VendorError>
    where
        F: Fn(Token) -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        if work == Work::Optional
            && let Some(stopped) = self.halt.error()
        {
            return Err(stopped);
        }
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
        // One call is one signal to the account's limit, however often it is retried and
        // whether or not it needs a fresh login on the way.
        let signals = self.limit(client.kind()).call();
        let result = match self.attempts(signals, retry, || call(token.clone())).await {
            Err(VendorError::TokenExpired(reason)) if !client.needs_login() => {
                // A static key cannot be renewed: the portal refused the key itself.
                Err(VendorError::CredentialsRejected(reason))
            }
            Err(VendorError::TokenExpired(reason)) => {
                debug!(%reason, "token refused; logging in again");
                let fresh = self.account.tokens.renew(&token, || self.login(client)).await?;
                let again = self.attempts(signals, retry, || call(fresh.clone())).await;
                again.map_err(|error| match error {
                    VendorError::TokenExpired(reason) => VendorError::TokenExpired(format!(
                        "refused again right after a fresh login ({reason})"
                    )),
                    other => other,
                })
            }
            other => other,
        };
        if result.is_ok() {
            self.account.answered.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The retry loop for one call, its signals going to the account's limit.
    async fn attempts<T, F, Fut>(
        &self,
        signals: CallSignals<'_>,
        retry: Retry,
        attempt: F,
    ) -> Result<T, VendorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        retry::attempts(&self.budget, self.http.retry(), retry, signals, attempt).await
    }
}

#[cfg(test)]
mod tests {
    use super::tokens::tests::{MemoryTokens, token};
    use super::*;
    use crate::domain::VendorKind;
    use crate::vendors::{
        AlertListing, AlertWindow, HttpSettings, KnownPlants, PlantListing, RetryPolicy,
    };
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A Solarman-kind vendor that logs in (or is rejected) and lists nothing.
    pub(super) struct FakeVendor {
        logins: AtomicU32,
        reject: bool,
    }

    impl FakeVendor {
        pub(super) fn new(reject: bool) -> Self {
            Self { logins: AtomicU32::new(0), reject }
        }
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
            Ok(token(&format!("token-{n}")))
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

    /// A session of a fresh account that may make `budget` requests.
    pub(super) fn session(budget: u32) -> Session {
        let http = Http::new(HttpSettings {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_secs(2),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        let account = AccountTokens::new(Arc::new(MemoryTokens::default()), Arc::default());
        Session::new(account, http, budget)
    }

    #[tokio::test]
    async fn expired_token_gives_exactly_one_relogin_then_an_error() {
        let vendor = FakeVendor::new(false);
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
        let vendor = FakeVendor::new(false);
        let session = session(100);
        for _ in 0..3 {
            session.call(&vendor, |_| async { Ok(()) }).await.unwrap();
        }
        assert_eq!(vendor.logins.load(Ordering::SeqCst), 1);
        assert_eq!(session.account.logins(), 1);
    }

    #[tokio::test]
    async fn rejected_login_is_tried_once_even_by_a_second_session() {
        let vendor = FakeVendor::new(true);
        let session = session(100);
        let result = session.call(&vendor, |_| async { Ok(()) }).await;
        assert!(matches!(result, Err(VendorError::CredentialsRejected(_))));
        assert_eq!(session.requests_made(), 1);
        // Another run of the same account (sharing its token state) does not try again.
        let other = Session::new(Arc::clone(&session.account), session.http.clone(), 100);
        let again = other.call(&vendor, |_| async { Ok(()) }).await;
        assert!(matches!(again, Err(VendorError::CredentialsRejected(_))));
        assert_eq!(other.requests_made(), 0);
    }

    #[tokio::test]
    async fn a_static_key_refused_is_a_rejection_not_a_relogin() {
        struct Keyed;
        #[async_trait::async_trait]
        impl VendorClient for Keyed {
            fn kind(&self) -> VendorKind {
                VendorKind::Growatt
            }
            fn needs_login(&self) -> bool {
                false
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
        let session = session(100);
        let result: Result<(), _> = session
            .call(&Keyed, |_| async { Err(VendorError::TokenExpired("10011".into())) })
            .await;
        assert_eq!(result, Err(VendorError::CredentialsRejected("10011".into())));
        assert_eq!((session.requests_made(), session.account.logins()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_budget_caps_attempts() {
        let vendor = FakeVendor::new(false);
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

    #[tokio::test(start_paused = true)]
    async fn pacing_and_memory_are_shared_by_the_runs_of_an_account() {
        let first = session(100);
        let second = Session::new(Arc::clone(&first.account), first.http.clone(), 100);
        let hour = Duration::from_secs(3600);
        assert!(first.pace_exact("overviews", hour));
        assert!(!second.pace_exact("overviews", hour), "the other run's call counts");
        first.remember(AccountFact::SolarEdgeNoV2Access);
        assert!(second.knows(&AccountFact::SolarEdgeNoV2Access));
        // Another account's state knows nothing of it.
        let other = session(100);
        assert!(!other.knows(&AccountFact::SolarEdgeNoV2Access));
        assert!(other.pace_exact("overviews", hour));
    }
}
