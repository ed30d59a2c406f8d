//! Daily request quotas of portals that count calls per key (SolarEdge: 300 a day per API
//! key). The count is persisted so a restart does not hand the portal a fresh 300, and is
//! kept per vendor but summed over every vendor with the same key, as the portal counts.

use super::{Result, Store};
use crate::domain::VendorId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// One vendor's quota for today.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUse {
    /// Requests made today with this key (over every vendor that uses it).
    pub used: u32,
    /// The portal's daily limit.
    pub limit: u32,
    /// The UTC day counted, `YYYY-MM-DD`.
    pub day: String,
}

impl QuotaUse {
    /// Requests left today.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// The UTC date of now, the quota's day.
pub fn quota_day() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl Store {
    /// Takes one request of today's quota of `key_hash` for `vendor_id`. Returns the use
    /// after the take, or `None` (and takes nothing) when the key's quota is spent. A new
    /// day or a new key starts the vendor's count again.
    pub async fn take_quota_request(
        &self,
        vendor_id: VendorId,
        key_hash: String,
        limit: u32,
        day: String,
    ) -> Result<Option<QuotaUse>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let used = used_today(&tx, &key_hash, &day)?;
            if used >= limit {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO request_quotas (vendor_id, key_hash, day, used, daily_limit)
                 VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (vendor_id) DO UPDATE SET
                    used = CASE WHEN key_hash = excluded.key_hash AND day = excluded.day
                                THEN used + 1 ELSE 1 END,
                    key_hash = excluded.key_hash, day = excluded.day,
                    daily_limit = excluded.daily_limit,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![vendor_id, key_hash, day, limit],
            )?;
            tx.commit()?;
            Ok(Some(QuotaUse { used: used + 1, limit, day }))
        })
        .await
    }

    /// Today's use of `key_hash`'s quota.
    pub async fn quota_use(&self, key_hash: String, limit: u32, day: String) -> Result<QuotaUse> {
        self.read(move |conn| Ok(QuotaUse { used: used_today(conn, &key_hash, &day)?, limit, day }))
            .await
    }

    /// Today's quota use of every vendor that has one, by vendor (for `status`).
    pub async fn quota_uses(&self, day: String) -> Result<Vec<(VendorId, QuotaUse)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT q.vendor_id, q.daily_limit,
                        (SELECT coalesce(sum(o.used), 0) FROM request_quotas o
                          WHERE o.key_hash = q.key_hash AND o.day = ?1)
                 FROM request_quotas q ORDER BY q.vendor_id",
            )?;
            let rows = stmt
                .query_map([&day], |row| {
                    Ok((
                        row.get::<_, VendorId>(0)?,
                        QuotaUse { used: row.get(2)?, limit: row.get(1)?, day: day.clone() },
                    ))
                })?
                .collect::<std::result::Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}

fn used_today(conn: &rusqlite::Connection, key_hash: &str, day: &str) -> Result<u32> {
    let used: Option<u32> = conn
        .query_row(
            "SELECT sum(used) FROM request_quotas WHERE key_hash = ?1 AND day = ?2",
            params![key_hash, day],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(used.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use crate::domain::{Credentials, NewVendor, VendorId, VendorKind};
    use crate::store::Store;
    use crate::store::test_support::temp_store;

    async fn vendor(store: &Store, name: &str) -> VendorId {
        let new = NewVendor {
            name: name.into(),
            kind: VendorKind::SolarEdge,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        store.add_vendor(new, Credentials::default()).await.unwrap().id
    }

    #[tokio::test]
    async fn quota_counts_per_key_resets_daily_and_stops_at_the_limit() {
        let (_dir, store) = temp_store();
        let first = vendor(&store, "First").await;
        let second = vendor(&store, "Second").await;
        let take = |v, key: &str, day: &str| {
            store.take_quota_request(v, key.to_owned(), 3, day.to_owned())
        };
        assert_eq!(take(first, "k", "2026-11-29").await.unwrap().unwrap().used, 1);
        // Another vendor with the same key shares the count.
        assert_eq!(take(second, "k", "2026-11-29").await.unwrap().unwrap().used, 2);
        assert_eq!(take(first, "k", "2026-11-29").await.unwrap().unwrap().remaining(), 0);
        assert_eq!(take(first, "k", "2026-11-29").await.unwrap(), None, "spent");
        let today = store.quota_use("k".into(), 3, "2026-11-29".into()).await.unwrap();
        assert_eq!(today.used, 3);
        // A new day starts again.
        assert_eq!(take(first, "k", "2026-11-30").await.unwrap().unwrap().used, 1);
        let uses = store.quota_uses("2026-11-30".into()).await.unwrap();
        assert_eq!(uses.iter().find(|(v, _)| *v == first).unwrap().1.used, 1);
        // A new key is a new quota.
        assert_eq!(take(second, "other", "2026-11-30").await.unwrap().unwrap().used, 1);
    }
}
