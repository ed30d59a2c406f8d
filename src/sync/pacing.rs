//! The call log of paced endpoints, backed by the store's `endpoint_calls`, so a portal's
//! minimum intervals hold across processes (a CLI sync right after the agent's).

use super::WallClock;
use crate::domain::Timestamp;
use crate::store::{Store, account_hash};
use crate::vendors::CallLog;
use sha2::{Digest, Sha256};
use tracing::warn;

/// Longest endpoint key stored as it is; longer ones (a body listing 100 stations) keep
/// their start and a hash of the whole, so rows stay small and still tell calls apart.
const MAX_KEY_CHARS: usize = 80;

/// The paced calls of one account (its login, hashed) in the store.
pub struct StoreCallLog {
    store: Store,
    account: String,
    clock: WallClock,
}

impl StoreCallLog {
    /// The call log of the account that logs in as `login` on `host` (`""`: the
    /// portal's default).
    pub fn new(store: Store, host: &str, login: &str, clock: WallClock) -> Self {
        Self { store, account: account_hash(host, login), clock }
    }
}

/// The `endpoint` column for a pacing key.
fn endpoint(key: &str) -> String {
    if key.chars().count() <= MAX_KEY_CHARS {
        return key.to_owned();
    }
    let start: String = key.chars().take(40).collect();
    let hash: String =
        Sha256::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{start}…#{hash}")
}

#[async_trait::async_trait]
impl CallLog for StoreCallLog {
    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    async fn last_called(&self, key: &str) -> Option<Timestamp> {
        // Unknown is "not called": the process's own pacing still holds.
        self.store.endpoint_last_called(self.account.clone(), endpoint(key)).await.unwrap_or_else(
            |e| {
                warn!("could not read when the endpoint was last called: {e}");
                None
            },
        )
    }

    async fn record(&self, key: &str, at: Timestamp) {
        if let Err(e) =
            self.store.record_endpoint_call(self.account.clone(), endpoint(key), at).await
        {
            warn!("could not record the endpoint call: {e}");
        }
    }

    async fn restore(&self, key: &str, at: Timestamp, previous: Option<Timestamp>) {
        let (account, endpoint) = (self.account.clone(), endpoint(key));
        if let Err(e) = self.store.restore_endpoint_call(account, endpoint, at, previous).await {
            warn!("could not take back the endpoint call that was never sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_shortened_but_distinct() {
        assert_eq!(endpoint("/thirdData/stations"), "/thirdData/stations");
        let long =
            |codes: &str| format!("/thirdData/getStationRealKpi:{{\"stationCodes\":\"{codes}\"}}");
        let (a, b) = (endpoint(&long(&"NE=1,".repeat(40))), endpoint(&long(&"NE=2,".repeat(40))));
        assert_ne!(a, b);
        assert!(a.chars().count() < 70 && a.starts_with("/thirdData/getStationRealKpi"), "{a}");
    }
}
