//! What the upstream queue keeps beside the rows (step 8): rows the central database
//! refused, set aside so the queue goes on; deletions waiting to be confirmed; and the
//! local half of the verification (every row's key and version, and the re-queue of rows
//! the central database lacks).
//!
//! # Design
//!
//! * **Setting a row aside and moving the watermark past it are one transaction**
//!   ([`Store::acknowledge_upstream_batch`]), so a row is either pending, confirmed or
//!   listed as rejected: never silently skipped.
//! * **An entry names one version** (`seq`): a later change of the row is pushed as any
//!   change is; the entry goes once that later version is confirmed, or is replaced if the
//!   later version is refused too. `--retry-rejected` sends only rows still at the refused
//!   version.
//! * **A deletion is a row of its own** with its own change number, written in the
//!   transaction that deletes ([`tombstone`]), removed only once the central database
//!   confirmed it.
//! * **A re-queue stamps rows with new change numbers** above every number the central
//!   database holds for this agent, so the rows are pending again (a store restored from
//!   an older copy, whose counter went back, catches up with the central versions too).

use super::upstream::{UpstreamTable, outbox_row};
use super::{Result, Store, seq};
use crate::domain::Timestamp;
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// The last receipt as recorded (its per-table checks are the upstream module's, kept as
/// JSON: the store only keeps them for `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReceipt {
    /// When it was read.
    pub checked_at: Timestamp,
    /// Whether no table differed.
    pub ok: bool,
    /// Rows re-queued because they differed.
    pub requeued: u64,
    /// Rows found differing key by key.
    #[serde(default)]
    pub differences: u64,
    /// The per-table checks.
    pub tables: serde_json::Value,
}

/// A row's natural key as text, in column order.
pub type LocalKey = Vec<Option<String>>;

/// A row the central database refused, to set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Its local id.
    pub id: i64,
    /// The change number of the version refused.
    pub seq: i64,
    /// Its natural key.
    pub key: LocalKey,
    /// Why, in words (no secret).
    pub error: String,
}

/// An entry of `plantsync upstream rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEntry {
    /// The table.
    pub table: UpstreamTable,
    /// The row's local id.
    pub row_id: i64,
    /// Its natural key.
    pub key: LocalKey,
    /// The change number of the version refused.
    pub seq: i64,
    /// Why.
    pub error: String,
    /// When it was last refused.
    pub rejected_at: Timestamp,
    /// Times it was sent and refused.
    pub attempts: u32,
    /// Whether the row changed since (its newer version travels as any change does).
    pub changed_since: bool,
}

/// A deletion waiting for the central database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRow {
    /// The deletion's change number.
    pub seq: i64,
    /// The table the row was in.
    pub table: UpstreamTable,
    /// Its natural key.
    pub key: LocalKey,
}

/// One local row's key, version and id, for the verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedVersion {
    /// Its natural key.
    pub key: LocalKey,
    /// Its change number.
    pub seq: i64,
    /// Its local id.
    pub id: i64,
}

fn key_text(key: &LocalKey) -> String {
    serde_json::to_string(key).unwrap_or_else(|_| "[]".to_owned())
}

fn key_of(text: &str) -> LocalKey {
    serde_json::from_str(text).unwrap_or_default()
}

/// Queues the deletion of the row of `table` with natural key `key` (call inside the
/// transaction that deletes it). Takes its own change number.
pub(super) fn tombstone(
    conn: &rusqlite::Connection,
    table: UpstreamTable,
    key: &[&str],
) -> Result<()> {
    let seq = seq::next(conn)?;
    let key: LocalKey = key.iter().map(|k| Some((*k).to_owned())).collect();
    conn.prepare_cached(
        "INSERT INTO upstream_deletions (change_seq, table_name, key_json, deleted_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![seq, table.as_str(), key_text(&key), Timestamp::now()])?;
    Ok(())
}

impl Store {
    /// Raises the change counter to at least `value`: the central database holds versions
    /// up to it, so a store restored from an older copy must not stamp its next changes with
    /// numbers central rows already carry (the central rule would take them for old ones).
    /// Returns the counter before, when it moved.
    pub async fn raise_counter(&self, value: i64) -> Result<Option<i64>> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let current = seq::current(&tx)?;
            if current >= value {
                return Ok(None);
            }
            seq::set(&tx, value)?;
            tx.commit()?;
            Ok(Some(current))
        })
        .await
    }

    /// Records that every change committed before `at` is central.
    pub async fn record_caught_up(&self, at: Timestamp) -> Result<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO upstream_caught_up (id, at) VALUES (1, ?1)",
                [at],
            )?;
            Ok(())
        })
        .await
    }

    /// Records the receipt of the last push.
    pub async fn record_receipt(&self, receipt: StoredReceipt) -> Result<()> {
        self.write(move |conn| {
            let tables = serde_json::json!({
                "requeued": receipt.requeued,
                "differences": receipt.differences,
                "tables": receipt.tables,
            });
            conn.execute(
                "INSERT OR REPLACE INTO upstream_last_receipt (id, checked_at, ok, tables_json)
                 VALUES (1, ?1, ?2, ?3)",
                params![receipt.checked_at, receipt.ok, tables.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    /// Records that the central database confirmed `table` up to `seq`, setting aside the
    /// rows of the batch it refused, in one transaction; entries whose row has since been
    /// confirmed in a newer version (or deleted) go.
    pub async fn acknowledge_upstream_batch(
        &self,
        table: UpstreamTable,
        seq: i64,
        rejected: Vec<RejectedRow>,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let now = Timestamp::now();
            for row in &rejected {
                tx.prepare_cached(
                    "INSERT INTO upstream_rejected
                         (table_name, row_id, seq, key_json, error, rejected_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (table_name, row_id) DO UPDATE SET
                         attempts = CASE WHEN seq = excluded.seq THEN attempts + 1 ELSE 1 END,
                         seq = excluded.seq, key_json = excluded.key_json,
                         error = excluded.error, rejected_at = excluded.rejected_at",
                )?
                .execute(params![
                    table.as_str(),
                    row.id,
                    row.seq,
                    key_text(&row.key),
                    row.error,
                    now
                ])?;
            }
            tx.prepare_cached(
                "UPDATE upstream_watermarks
                 SET acknowledged_seq = ?2, acknowledged_at = ?3
                 WHERE table_name = ?1 AND acknowledged_seq < ?2",
            )?
            .execute(params![table.as_str(), seq, now])?;
            tx.execute(
                &format!(
                    "DELETE FROM upstream_rejected WHERE table_name = ?1 AND NOT EXISTS (
                         SELECT 1 FROM {table} t WHERE t.id = upstream_rejected.row_id
                         AND (t.change_seq = upstream_rejected.seq OR t.change_seq > ?2))"
                ),
                params![table.as_str(), seq],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every row set aside, oldest first.
    pub async fn upstream_rejected(&self) -> Result<Vec<RejectedEntry>> {
        self.read(|conn| {
            let mut entries = Vec::new();
            for table in UpstreamTable::ALL {
                let mut stmt = conn.prepare(&format!(
                    "SELECT r.row_id, r.key_json, r.seq, r.error, r.rejected_at, r.attempts,
                            coalesce(t.change_seq <> r.seq, 1)
                     FROM upstream_rejected r LEFT JOIN {table} t ON t.id = r.row_id
                     WHERE r.table_name = ?1"
                ))?;
                let rows = stmt.query_map([table.as_str()], |r| {
                    Ok(RejectedEntry {
                        table,
                        row_id: r.get(0)?,
                        key: key_of(&r.get::<_, String>(1)?),
                        seq: r.get(2)?,
                        error: r.get(3)?,
                        rejected_at: r.get(4)?,
                        attempts: r.get(5)?,
                        changed_since: r.get(6)?,
                    })
                })?;
                for row in rows {
                    entries.push(row?);
                }
            }
            entries.sort_by_key(|e| e.rejected_at);
            Ok(entries)
        })
        .await
    }

    /// The rows of `table` set aside and still at the refused version, for
    /// `--retry-rejected`.
    pub async fn rejected_rows(
        &self,
        table: UpstreamTable,
        with_raw: bool,
    ) -> Result<Vec<super::OutboxRow>> {
        self.read(move |conn| {
            let sql = format!(
                "{} WHERE id IN (SELECT row_id FROM upstream_rejected
                                 WHERE table_name = ?1 AND seq = {table}.change_seq)
                 ORDER BY change_seq, id",
                table.select_rows(with_raw)
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map([table.as_str()], |row| outbox_row(table, row))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    /// Drops the entries of rows of `table` the central database has now taken.
    pub async fn clear_rejected(&self, table: UpstreamTable, ids: Vec<i64>) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            for id in ids {
                tx.prepare_cached(
                    "DELETE FROM upstream_rejected WHERE table_name = ?1 AND row_id = ?2",
                )?
                .execute(params![table.as_str(), id])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Deletions waiting for the central database, oldest first, at most `limit`.
    pub async fn upstream_deletions(&self, limit: usize) -> Result<Vec<DeletedRow>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT change_seq, table_name, key_json FROM upstream_deletions
                 ORDER BY change_seq LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit.max(1) as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?;
            let mut deletions = Vec::new();
            for row in rows {
                let (seq, table, key) = row?;
                // The CHECK constraint admits only the pushed tables.
                if let Some(table) = UpstreamTable::parse(&table) {
                    deletions.push(DeletedRow { seq, table, key: key_of(&key) });
                }
            }
            Ok(deletions)
        })
        .await
    }

    /// Removes the deletions up to `seq`: the central database confirmed them.
    pub async fn confirm_deletions(&self, seq: i64) -> Result<()> {
        self.write(move |conn| {
            conn.execute("DELETE FROM upstream_deletions WHERE change_seq <= ?1", [seq])?;
            Ok(())
        })
        .await
    }

    /// Every row of `table` with its key and change number, and the table's watermark,
    /// read together.
    pub async fn upstream_versions(
        &self,
        table: UpstreamTable,
    ) -> Result<(Vec<KeyedVersion>, i64)> {
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let watermark: i64 = tx
                .query_row(
                    "SELECT acknowledged_seq FROM upstream_watermarks WHERE table_name = ?1",
                    [table.as_str()],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            let width = table.columns().iter().filter(|c| c.key).count();
            let mut stmt =
                tx.prepare(&format!("SELECT change_seq, id, {} FROM {table}", table.key_select()))?;
            let rows = stmt
                .query_map([], |r| {
                    let mut key = Vec::with_capacity(width);
                    for i in 0..width {
                        key.push(super::upstream::text_of(r.get_ref(i + 2)?));
                    }
                    Ok(KeyedVersion { key, seq: r.get(0)?, id: r.get(1)? })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            Ok((rows, watermark))
        })
        .await
    }

    /// Makes the rows `ids` of `table` pending again: each takes a new change number above
    /// both the counter and `above` (the highest version the central database holds for
    /// this agent), so the next push sends them and the central rule takes them. Returns
    /// the rows stamped.
    pub async fn requeue_upstream(
        &self,
        table: UpstreamTable,
        ids: Vec<i64>,
        above: i64,
    ) -> Result<usize> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let number = seq::current(&tx)?.max(above) + 1;
            let mut stamped = 0;
            for id in &ids {
                stamped += tx
                    .prepare_cached(&format!("UPDATE {table} SET change_seq = ?1 WHERE id = ?2"))?
                    .execute(params![number, id])?;
            }
            if stamped > 0 {
                seq::set(&tx, number)?;
            }
            tx.commit()?;
            Ok(stamped)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CentralUpTo;
    use crate::store::test_support::temp_store;

    async fn seeded() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .write(|conn| {
                conn.execute_batch(
                    "INSERT INTO vendors (id, name, kind, change_seq) VALUES (1, 'v', 'growatt', 1);
                     INSERT INTO plants (id, vendor_id, vendor_plant_id, name, change_seq)
                     VALUES (1, 1, 'a', 'A', 2), (2, 1, 'b', 'B', 3), (3, 1, 'c', 'C', 4);
                     UPDATE change_counter SET value = 4;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        (dir, store)
    }

    fn refused(id: i64, seq: i64) -> RejectedRow {
        RejectedRow { id, seq, key: vec![Some("1".into()), None], error: "no".into() }
    }

    /// Setting aside and moving the watermark are one write; an entry names one version:
    /// only a row still at it is sent again, and the entry goes once a newer version of
    /// the row is confirmed (not while that version is still pending).
    #[tokio::test]
    async fn a_set_aside_row_is_retried_only_at_its_version_and_leaves_once_a_newer_is_confirmed() {
        let (_dir, store) = seeded().await;
        let plants = UpstreamTable::Plants;
        store.acknowledge_upstream_batch(plants, 4, vec![refused(2, 3)]).await.unwrap();
        assert_eq!(store.upstream_watermark(plants).await.unwrap(), 4);
        let entries = store.upstream_rejected().await.unwrap();
        assert_eq!((entries.len(), entries[0].changed_since), (1, false));
        let retry = store.rejected_rows(plants, false).await.unwrap();
        assert_eq!(retry.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);

        // The row changes (version 5, pending): no longer retried as it was, still listed.
        store
            .write(|conn| {
                conn.execute_batch(
                    "UPDATE plants SET change_seq = 5 WHERE id = 2;
                     UPDATE change_counter SET value = 5;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(store.rejected_rows(plants, false).await.unwrap().is_empty());
        store.acknowledge_upstream_batch(plants, 4, Vec::new()).await.unwrap();
        let entries = store.upstream_rejected().await.unwrap();
        assert_eq!((entries.len(), entries[0].changed_since), (1, true));
        // Version 5 confirmed: the entry goes.
        store.acknowledge_upstream_batch(plants, 5, Vec::new()).await.unwrap();
        assert!(store.upstream_rejected().await.unwrap().is_empty());
        // Refused twice at one version counts the attempts.
        store.acknowledge_upstream_batch(plants, 5, vec![refused(3, 4)]).await.unwrap();
        store.acknowledge_upstream_batch(plants, 5, vec![refused(3, 4)]).await.unwrap();
        assert_eq!(store.upstream_rejected().await.unwrap()[0].attempts, 2);
    }

    /// A re-queue stamps the rows above both the counter and the highest central version,
    /// so they are pending again and newer than what the central database holds.
    #[tokio::test]
    async fn a_requeue_lifts_rows_above_every_central_version() {
        let (_dir, store) = seeded().await;
        let plants = UpstreamTable::Plants;
        store.acknowledge_upstream(plants, 4).await.unwrap();
        assert_eq!(store.requeue_upstream(plants, vec![1, 3], 40).await.unwrap(), 2);
        let (rows, watermark) = store.upstream_versions(plants).await.unwrap();
        let seqs: Vec<(i64, i64)> = rows.iter().map(|r| (r.id, r.seq)).collect();
        assert!(seqs.contains(&(1, 41)) && seqs.contains(&(3, 41)) && seqs.contains(&(2, 3)));
        assert_eq!(watermark, 4);
        let state = store.upstream_state().await.unwrap();
        assert_eq!(state.tables.iter().find(|t| t.table == plants).unwrap().pending, 2);
        // The counter moved too: the next change is above them.
        let next = store.write(|conn| seq::next(conn)).await.unwrap();
        assert_eq!(next, 42);
    }

    /// A deletion takes its own number, waits, holds back the central line (to the start of
    /// the last completed push, not to when the deletion was made: a row changed twice
    /// while waiting shows only its later change), and goes once confirmed.
    #[tokio::test]
    async fn a_deletion_waits_until_confirmed_and_holds_back_the_central_line() {
        let (_dir, store) = seeded().await;
        for table in UpstreamTable::ALL {
            store.acknowledge_upstream(table, 4).await.unwrap();
        }
        assert_eq!(store.upstream_state().await.unwrap().central_up_to, CentralUpTo::Everything);
        store
            .write(|conn| {
                tombstone(conn, UpstreamTable::Vendors, &["1"])?;
                Ok(())
            })
            .await
            .unwrap();
        let queued = store.upstream_deletions(10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!((queued[0].seq, queued[0].table), (5, UpstreamTable::Vendors));
        assert_eq!(queued[0].key, vec![Some("1".to_owned())]);
        let state = store.upstream_state().await.unwrap();
        assert_eq!(state.deletions_pending, 1);
        assert_eq!(state.central_up_to, CentralUpTo::Nothing, "no push completed yet");
        let at = Timestamp::now();
        store.record_caught_up(at).await.unwrap();
        let state = store.upstream_state().await.unwrap();
        assert_eq!(state.central_up_to, CentralUpTo::Until { at }, "the last completed push");
        store.confirm_deletions(5).await.unwrap();
        assert!(store.upstream_deletions(10).await.unwrap().is_empty());
        assert_eq!(store.upstream_state().await.unwrap().central_up_to, CentralUpTo::Everything);
    }

    /// Before anything is confirmed, waiting rows mean nothing is central yet.
    #[tokio::test]
    async fn before_the_first_confirmed_push_nothing_is_central() {
        let (_dir, store) = seeded().await;
        assert_eq!(store.upstream_state().await.unwrap().central_up_to, CentralUpTo::Nothing);
    }
}
