//! The daily request quota of portals that count calls per key, backed by the store.

use super::WallClock;
use crate::domain::{Credentials, VendorId};
use crate::store::{QuotaUse, Store, quota_key};
use crate::vendors::{DailyQuota, VendorError};
use std::time::Duration;
use tracing::warn;

/// A vendor's quota in `request_quotas`, counted per API key, in the portal's day of the
/// vendor's sites (`store::QuotaDay`).
pub struct StoreQuota {
    store: Store,
    key: String,
    vendor_id: VendorId,
    limit: u32,
    clock: WallClock,
}

impl StoreQuota {
    /// The quota of the key in `credentials` of `vendor_id`, whose portal allows `limit`
    /// requests a day.
    pub fn new(
        store: Store,
        vendor_id: VendorId,
        credentials: &Credentials,
        limit: u32,
        clock: WallClock,
    ) -> Self {
        Self { store, key: quota_key(credentials), vendor_id, limit, clock }
    }

    /// The error of a call the spent quota `today` does not allow.
    fn spent(&self, today: &QuotaUse) -> VendorError {
        let why = match &today.portal_said {
            Some(said) => format!("{said} before plantsync's count reached {}", self.limit),
            None => format!("all {} requests this API key may make today are used", self.limit),
        };
        VendorError::QuotaSpent(format!(
            "{why}; plantsync calls again after {} {} ({})",
            today.resets_local, today.zone, today.resets_at
        ))
    }

    async fn today(&self) -> Option<QuotaUse> {
        let now = (self.clock)().as_datetime();
        match self.store.quota_use(self.key.clone(), self.vendor_id, self.limit, now).await {
            Ok(today) => Some(today),
            Err(e) => {
                warn!("could not read the daily request count: {e}");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl DailyQuota for StoreQuota {
    async fn take(&self) -> Result<(), VendorError> {
        let now = (self.clock)().as_datetime();
        match self.store.take_quota_request(self.key.clone(), self.vendor_id, self.limit, now).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(spent)) => Err(self.spent(&spent)),
            // Without the count the call cannot be proven to fit: do not make it.
            Err(e) => Err(VendorError::Transient(format!("could not count the request: {e}"))),
        }
    }

    async fn remaining(&self) -> u32 {
        self.today().await.map_or(0, |today| today.remaining())
    }

    fn limit(&self) -> u32 {
        self.limit
    }

    async fn until_reset(&self) -> Duration {
        let now = (self.clock)().as_datetime();
        match self.today().await {
            Some(today) => (today.resets_at.as_datetime() - now).to_std().unwrap_or_default(),
            None => Duration::from_secs(3600),
        }
    }

    async fn spent_by_portal(&self, said: String) -> VendorError {
        let now = (self.clock)().as_datetime();
        match self
            .store
            .quota_spent_by_portal(self.key.clone(), self.vendor_id, self.limit, said.clone(), now)
            .await
        {
            Ok(today) => self.spent(&today),
            Err(e) => {
                warn!("could not record the spent daily quota: {e}");
                VendorError::QuotaSpent(said)
            }
        }
    }
}
