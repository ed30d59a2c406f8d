//! When each paced endpoint of a portal account was last called (`endpoint_calls`), so a
//! minimum interval between calls holds across processes: two CLI syncs a few seconds
//! apart, or a CLI sync right after the agent's, must not both call an endpoint that
//! FusionSolar allows once every five minutes (it answers `407` otherwise).

use super::{Result, Store};
use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

/// Rows older than this are dropped on the way: no portal's minimum interval is longer
/// than ten minutes (vendor-apis.md §4.5), and keys that never repeat (alarm windows) must
/// not pile up.
const KEEP_FOR_HOURS: i64 = 24;

/// What an account's calls are recorded under: a SHA-256 prefix of its host (`""` for the
/// portal's default) and login, enough to tell accounts apart and useless to an attacker.
/// Vendors sharing one login on one host share its pace, as the portal does; the same
/// login on another regional host (or another simulator) is another account.
pub fn account_hash(host: &str, login: &str) -> String {
    let text = format!("{host}\n{login}");
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// When `endpoint` of the account was last called, if it was recorded.
    pub async fn endpoint_last_called(
        &self,
        account_hash: String,
        endpoint: String,
    ) -> Result<Option<Timestamp>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT last_called_at FROM endpoint_calls
                     WHERE account_hash = ?1 AND endpoint = ?2",
                    params![account_hash, endpoint],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// Records a call of `endpoint` of the account at `at`.
    pub async fn record_endpoint_call(
        &self,
        account_hash: String,
        endpoint: String,
        at: Timestamp,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO endpoint_calls (account_hash, endpoint, last_called_at)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_hash, endpoint) DO UPDATE
                    SET last_called_at = max(last_called_at, excluded.last_called_at)",
                params![account_hash, endpoint, at],
            )?;
            let oldest = Timestamp::from_datetime(
                &(at.as_datetime() - chrono::Duration::hours(KEEP_FOR_HOURS)),
            );
            tx.execute(
                "DELETE FROM endpoint_calls WHERE account_hash = ?1 AND last_called_at < ?2",
                params![account_hash, oldest],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Takes back the call of `endpoint` recorded `at`, which never left: its record is
    /// `previous` again (none: removed), unless a later call was recorded meanwhile.
    pub async fn restore_endpoint_call(
        &self,
        account_hash: String,
        endpoint: String,
        at: Timestamp,
        previous: Option<Timestamp>,
    ) -> Result<()> {
        self.write(move |conn| {
            let matching = "account_hash = ?1 AND endpoint = ?2 AND last_called_at = ?3";
            match previous {
                Some(previous) => conn.execute(
                    &format!("UPDATE endpoint_calls SET last_called_at = ?4 WHERE {matching}"),
                    params![account_hash, endpoint, at, previous],
                )?,
                None => conn.execute(
                    &format!("DELETE FROM endpoint_calls WHERE {matching}"),
                    params![account_hash, endpoint, at],
                )?,
            };
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn calls_are_kept_per_account_and_endpoint_and_old_ones_dropped() {
        let (_dir, store) = temp_store();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let (a, b) = (account_hash("", "api-user"), account_hash("", "other"));
        assert_ne!(a, account_hash("https://eu5.fusionsolar.huawei.com", "api-user"));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("api"));
        store
            .record_endpoint_call(a.clone(), "stations".into(), at("2026-11-29T10:00:00Z"))
            .await
            .unwrap();
        store
            .record_endpoint_call(b.clone(), "stations".into(), at("2026-11-29T10:01:00Z"))
            .await
            .unwrap();
        let last = |h: &String, e: &str| store.endpoint_last_called(h.clone(), e.into());
        assert_eq!(last(&a, "stations").await.unwrap(), Some(at("2026-11-29T10:00:00Z")));
        assert_eq!(last(&a, "kpi").await.unwrap(), None);
        // An earlier time never moves it back.
        store
            .record_endpoint_call(a.clone(), "stations".into(), at("2026-11-29T09:00:00Z"))
            .await
            .unwrap();
        assert_eq!(last(&a, "stations").await.unwrap(), Some(at("2026-11-29T10:00:00Z")));
        // A day later the old rows of the account go.
        store
            .record_endpoint_call(a.clone(), "kpi".into(), at("2026-11-30T10:00:01Z"))
            .await
            .unwrap();
        assert_eq!(last(&a, "stations").await.unwrap(), None);
        assert_eq!(last(&b, "stations").await.unwrap(), Some(at("2026-11-29T10:01:00Z")));
    }
}
