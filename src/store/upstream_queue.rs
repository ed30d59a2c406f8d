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
    /// Records the receipt of the last push.
    pub async fn record_receipt(&self, receipt: StoredReceipt) -> Result<()> {
        self.write(move |conn| {
            let tables =
                serde_json::json!({ "requeued": receipt.requeued, "tables": receipt.tables });
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

    /// Queues deletions of rows the central database holds for this agent that the store
    /// does not have (deleted before deletions were queued), each with its own number
    /// above `above`.
    pub async fn queue_deletions(
        &self,
        table: UpstreamTable,
        keys: Vec<LocalKey>,
        above: i64,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let mut next = seq::current(&tx)?.max(above);
            for key in &keys {
                next += 1;
                tx.prepare_cached(
                    "INSERT INTO upstream_deletions (change_seq, table_name, key_json, deleted_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    next,
                    table.as_str(),
                    key_text(key),
                    Timestamp::now()
                ])?;
            }
            seq::set(&tx, next)?;
            tx.commit()?;
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
