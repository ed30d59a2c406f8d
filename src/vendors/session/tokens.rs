//! An account's token cache and its login guard.
//!
//! The cache's mutex is the per-account lock: two runs never log in to one account at the
//! same time, and a renewal done by one is seen by the other. The token is reused while
//! more than five minutes remain, read back from the [`TokenStore`] so it survives
//! restarts, and renewed at most once when the vendor refuses it. The guard remembers a
//! rejected login: no task logs in with those credentials again (a plant and an alert run
//! of the same account must not both try; Sungrow locks accounts after bad passwords).
//!
//! How a login is made (pacing, retries) is the session's business: the cache only decides
//! *whether* one is needed and takes the new token's login as a closure.

use crate::domain::{Timestamp, Token};
use crate::vendors::VendorError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tracing::debug;

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

/// The token of one account, behind the per-account lock, and the rejected-login guard.
pub(super) struct TokenCache {
    current: tokio::sync::Mutex<Option<Token>>,
    store: Arc<dyn TokenStore>,
    logins: AtomicU64,
    /// Set when the vendor rejected these credentials.
    rejected: Mutex<Option<String>>,
}

impl TokenCache {
    /// A cache persisted through `store`.
    pub(super) fn new(store: Arc<dyn TokenStore>) -> Self {
        Self {
            current: tokio::sync::Mutex::new(None),
            store,
            logins: AtomicU64::new(0),
            rejected: Mutex::new(None),
        }
    }

    /// Logins performed through this cache.
    #[cfg(test)]
    pub(super) fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// A reusable token: the cached one, else the stored one, else a new one from `login`
    /// (made under the lock, so concurrent callers wait for it instead of logging in too).
    pub(super) async fn get<F, Fut>(&self, login: F) -> Result<Token, VendorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, VendorError>>,
    {
        let mut current = self.current.lock().await;
        let now = Timestamp::now();
        if let Some(token) = current.as_ref().filter(|t| t.is_reusable_at(now)) {
            return Ok(token.clone());
        }
        if let Some(stored) = self.store.load().await.filter(|t| t.is_reusable_at(now)) {
            debug!("reusing the stored token");
            *current = Some(stored.clone());
            return Ok(stored);
        }
        let fresh = self.guarded(login).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Replaces `stale`, which the vendor refused, with a token from `login`; if another
    /// task (or process) already replaced it, returns that one instead of logging in again.
    pub(super) async fn renew<F, Fut>(&self, stale: &Token, login: F) -> Result<Token, VendorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, VendorError>>,
    {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| t.access != stale.access) {
            return Ok(token.clone());
        }
        // Another process (a CLI sync beside the agent) may have logged in already: on
        // portals with one session per account, a second login would end its session.
        let now = Timestamp::now();
        if let Some(stored) =
            self.store.load().await.filter(|t| t.access != stale.access && t.is_reusable_at(now))
        {
            *current = Some(stored.clone());
            return Ok(stored);
        }
        *current = None;
        self.store.clear().await;
        let fresh = self.guarded(login).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Runs `login` unless these credentials were rejected before; remembers a rejection,
    /// counts and persists a success. Called with the lock held, so the check and the login
    /// are one step.
    async fn guarded<F, Fut>(&self, login: F) -> Result<Token, VendorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, VendorError>>,
    {
        if let Some(reason) = self.rejected.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Err(VendorError::CredentialsRejected(reason));
        }
        let token = match login().await {
            Err(VendorError::CredentialsRejected(reason)) => {
                *self.rejected.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(reason.clone());
                return Err(VendorError::CredentialsRejected(reason));
            }
            other => other?,
        };
        // One rule for every portal: a token no call can carry is a malformed reply, never
        // kept (a megabyte one failed every later call with HTTP 431 until it expired).
        if let Some(why) = token.implausible() {
            return Err(VendorError::Malformed(format!(
                "the login answered no usable token: {why}"
            )));
        }
        self.logins.fetch_add(1, Ordering::Relaxed);
        self.store.save(&token).await;
        debug!("logged in");
        Ok(token)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::Secret;
    use std::sync::atomic::AtomicU32;

    /// A token store in memory.
    #[derive(Default)]
    pub(crate) struct MemoryTokens(pub Mutex<Option<Token>>);

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

    /// A token valid for an hour.
    pub(crate) fn token(access: &str) -> Token {
        Token {
            access: Secret::new(access.to_owned()),
            refresh: None,
            expires_at: Timestamp::from_unix_millis(
                Timestamp::now().as_datetime().timestamp_millis() + 3_600_000,
            ),
            metadata: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn stored_token_is_reused_and_a_renewal_by_another_is_taken() {
        let store = Arc::new(MemoryTokens::default());
        *store.0.lock().unwrap() = Some(token("stored"));
        let cache = TokenCache::new(store.clone());
        let logins = AtomicU32::new(0);
        let login = || async {
            logins.fetch_add(1, Ordering::SeqCst);
            Ok(token("fresh"))
        };
        assert_eq!(cache.get(login).await.unwrap().access.expose(), "stored");
        assert_eq!(logins.load(Ordering::SeqCst), 0);
        // Another process replaced the refused token in the store: taken, no login.
        *store.0.lock().unwrap() = Some(token("theirs"));
        let renewed = cache.renew(&token("stored"), login).await.unwrap();
        assert_eq!(renewed.access.expose(), "theirs");
        // Refused again: now a login, persisted.
        let renewed = cache.renew(&token("theirs"), login).await.unwrap();
        assert_eq!(renewed.access.expose(), "fresh");
        assert_eq!((logins.load(Ordering::SeqCst), cache.logins()), (1, 1));
        assert_eq!(store.0.lock().unwrap().as_ref().unwrap().access.expose(), "fresh");
    }

    /// A login answering a megabyte token (a spoiled reply, found by the end-to-end fuzz
    /// harness: every later Solarman call failed with HTTP 431) is malformed: the token is
    /// not kept, and the next call logs in again.
    #[tokio::test]
    async fn a_token_no_call_can_carry_is_never_kept() {
        let store = Arc::new(MemoryTokens::default());
        let cache = TokenCache::new(store.clone());
        let huge = "5".repeat(1 << 20);
        let spoiled = || async { Ok(token(&huge)) };
        let error = cache.get(spoiled).await.unwrap_err();
        assert!(
            matches!(&error, VendorError::Malformed(why) if why.contains("bytes long")),
            "{error}"
        );
        assert!(store.0.lock().unwrap().is_none(), "not persisted");
        let fine = || async { Ok(token("fine")) };
        assert_eq!(cache.get(fine).await.unwrap().access.expose(), "fine");
    }

    #[tokio::test]
    async fn a_rejection_is_remembered_and_never_tried_again() {
        let cache = TokenCache::new(Arc::new(MemoryTokens::default()));
        let tries = AtomicU32::new(0);
        let login = || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(VendorError::CredentialsRejected("wrong password".into()))
        };
        assert!(matches!(cache.get(login).await, Err(VendorError::CredentialsRejected(_))));
        assert!(
            matches!(cache.get(login).await, Err(VendorError::CredentialsRejected(r)) if r == "wrong password")
        );
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        assert_eq!(cache.logins(), 0);
    }
}
