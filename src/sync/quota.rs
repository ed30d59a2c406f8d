//! The daily request quota of portals that count calls per key, backed by the store.

use crate::domain::{Credentials, Secret, VendorId};
use crate::store::{Store, quota_day};
use crate::vendors::{DailyQuota, VendorError};
use sha2::{Digest, Sha256};
use tracing::warn;

/// A vendor's quota in `request_quotas`, counted per API key.
pub struct StoreQuota {
    store: Store,
    vendor_id: VendorId,
    key_hash: String,
    limit: u32,
}

impl StoreQuota {
    /// The quota of `vendor_id`, whose portal allows `limit` requests a day per key.
    pub fn new(store: Store, vendor_id: VendorId, credentials: &Credentials, limit: u32) -> Self {
        Self { store, vendor_id, key_hash: key_hash(credentials), limit }
    }
}

/// A SHA-256 prefix of the API key: enough to tell keys apart, useless to an attacker.
pub fn key_hash(credentials: &Credentials) -> String {
    let key = credentials.api_key.as_ref().map_or("", Secret::expose);
    Sha256::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[async_trait::async_trait]
impl DailyQuota for StoreQuota {
    async fn take(&self) -> Result<(), VendorError> {
        match self
            .store
            .take_quota_request(self.vendor_id, self.key_hash.clone(), self.limit, quota_day())
            .await
        {
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
        match self.store.quota_use(self.key_hash.clone(), self.limit, quota_day()).await {
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
