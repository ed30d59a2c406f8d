//! The daily request quota of portals that count calls per key, backed by the store.

use crate::domain::Credentials;
use crate::store::{Store, quota_day, quota_key};
use crate::vendors::{DailyQuota, VendorError};
use tracing::warn;

/// A vendor's quota in `request_quotas`, counted per API key.
pub struct StoreQuota {
    store: Store,
    key: String,
    limit: u32,
}

impl StoreQuota {
    /// The quota of the key in `credentials`, whose portal allows `limit` requests a day.
    pub fn new(store: Store, credentials: &Credentials, limit: u32) -> Self {
        Self { store, key: quota_key(credentials), limit }
    }
}

#[async_trait::async_trait]
impl DailyQuota for StoreQuota {
    async fn take(&self) -> Result<(), VendorError> {
        match self.store.take_quota_request(self.key.clone(), self.limit, quota_day()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(VendorError::QuotaSpent(format!(
                "all {} requests this API key may make today are used; plantsync calls again \
                 after 00:00 UTC",
                self.limit
            ))),
            // Without the count the call cannot be proven to fit: do not make it.
            Err(e) => Err(VendorError::Transient(format!("could not count the request: {e}"))),
        }
    }

    async fn remaining(&self) -> u32 {
        match self.store.quota_use(self.key.clone(), self.limit, quota_day()).await {
            Ok(today) => today.remaining(),
            Err(e) => {
                warn!("could not read the daily request count: {e}");
                0
            }
        }
    }

    fn limit(&self) -> u32 {
        self.limit
    }
}
