//! Daily request quotas of portals that count calls per API key (SolarEdge: 300 a day per
//! key). The count is persisted, so a restart does not hand the portal a fresh 300, and is
//! kept per key and day, so changing a vendor's key or adding the vendor again never resets
//! what the portal has already counted.

use super::{Result, Store};
use crate::domain::{Credentials, Secret};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// A key's quota for one day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUse {
    /// Requests made that day with this key (over every vendor that uses it).
    pub used: u32,
    /// The portal's daily limit.
    pub limit: u32,
    /// The UTC day counted, `YYYY-MM-DD`.
    pub day: String,
}

impl QuotaUse {
    /// Requests left that day.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// The UTC date of now, the quota's day. (SolarEdge does not document when its day ends;
/// the UTC day is the closest guess, and the plan keeps a reserve for the listings.)
pub fn quota_day() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// What a quota is counted under: a SHA-256 prefix of the API key, enough to tell keys
/// apart and useless to an attacker.
pub fn quota_key(credentials: &Credentials) -> String {
    let key = credentials.api_key.as_ref().map_or("", Secret::expose);
    Sha256::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Takes one request of `day`'s quota of `key`. Returns the use after the take, or
    /// `None` (and takes nothing) when the quota is spent. Counts of earlier days are
    /// dropped on the way.
    pub async fn take_quota_request(
        &self,
        key: String,
        limit: u32,
        day: String,
    ) -> Result<Option<QuotaUse>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM request_quotas WHERE day < ?1", [&day])?;
            let used = used_on(&tx, &key, &day)?;
            if used >= limit {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO request_quotas (key_hash, day, used, daily_limit)
                 VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (key_hash, day) DO UPDATE SET used = used + 1,
                    daily_limit = excluded.daily_limit,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![key, day, limit],
            )?;
            tx.commit()?;
            Ok(Some(QuotaUse { used: used + 1, limit, day }))
        })
        .await
    }

    /// `day`'s use of `key`'s quota.
    pub async fn quota_use(&self, key: String, limit: u32, day: String) -> Result<QuotaUse> {
        self.read(move |conn| Ok(QuotaUse { used: used_on(conn, &key, &day)?, limit, day })).await
    }
}

/// Requests counted for `key` on `day`.
pub(super) fn used_on(conn: &rusqlite::Connection, key: &str, day: &str) -> Result<u32> {
    let used: Option<u32> = conn
        .query_row(
            "SELECT used FROM request_quotas WHERE key_hash = ?1 AND day = ?2",
            params![key, day],
            |row| row.get(0),
        )
        .optional()?;
    Ok(used.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn quota_counts_per_key_and_day_and_stops_at_the_limit() {
        let (_dir, store) = temp_store();
        let take =
            |key: &str, day: &str| store.take_quota_request(key.to_owned(), 3, day.to_owned());
        assert_eq!(take("k", "2026-11-29").await.unwrap().unwrap().used, 1);
        assert_eq!(take("k", "2026-11-29").await.unwrap().unwrap().used, 2);
        assert_eq!(take("k", "2026-11-29").await.unwrap().unwrap().remaining(), 0);
        assert_eq!(take("k", "2026-11-29").await.unwrap(), None, "spent");
        assert_eq!(store.quota_use("k".into(), 3, "2026-11-29".into()).await.unwrap().used, 3);
        // Another key is another quota.
        assert_eq!(take("other", "2026-11-29").await.unwrap().unwrap().used, 1);
        // A new day starts again, and drops the old day's counts.
        assert_eq!(take("k", "2026-11-30").await.unwrap().unwrap().used, 1);
        assert_eq!(store.quota_use("k".into(), 3, "2026-11-29".into()).await.unwrap().used, 0);
    }

    #[test]
    fn the_key_is_hashed_never_stored() {
        let mut credentials = Credentials::default();
        credentials.set(crate::domain::CredentialField::ApiKey, "EDGE-KEY-123".into());
        let key = quota_key(&credentials);
        assert_eq!(key.len(), 16);
        assert!(!key.contains("EDGE"));
        let mut other = Credentials::default();
        other.set(crate::domain::CredentialField::ApiKey, "EDGE-KEY-124".into());
        assert_ne!(quota_key(&other), key);
    }
}
