//! Token persistence for the vendors' sessions, backed by the store.

use crate::domain::{Token, VendorId};
use crate::store::Store;
use crate::vendors::TokenStore;
use tracing::warn;

/// A vendor's token in `vendor_tokens`. A failure to read or write the cache costs at most
/// one extra login, so it is logged and the sync goes on.
pub struct StoreTokens {
    store: Store,
    vendor_id: VendorId,
}

impl StoreTokens {
    /// The token cache of `vendor_id`.
    pub fn new(store: Store, vendor_id: VendorId) -> Self {
        Self { store, vendor_id }
    }
}

#[async_trait::async_trait]
impl TokenStore for StoreTokens {
    async fn load(&self) -> Option<Token> {
        self.store.load_token(self.vendor_id).await.unwrap_or_else(|e| {
            warn!("could not read the cached token: {e}");
            None
        })
    }

    async fn save(&self, token: &Token) {
        if let Err(e) = self.store.save_token(self.vendor_id, token.clone()).await {
            warn!("could not cache the token: {e}");
        }
    }

    async fn clear(&self) {
        if let Err(e) = self.store.clear_token(self.vendor_id).await {
            warn!("could not clear the cached token: {e}");
        }
    }
}
