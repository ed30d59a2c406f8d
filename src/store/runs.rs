//! Sync runs and their per-vendor results: the history behind `runs list|show`.

use super::{Result, Store, StoreError, codec::count, seq};
use crate::domain::{
    OrgId, RunId, RunKind, RunRequest, RunStatus, SyncRun, SyncRunVendor, Timestamp, VendorId,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

const SELECT: &str = "SELECT r.id, r.kind, r.source, r.status, r.started_at, r.finished_at,
        r.message,
        (SELECT count(*) FROM sync_run_vendors x WHERE x.run_id = r.id),
        (SELECT count(*) FROM sync_run_vendors x WHERE x.run_id = r.id AND x.success = 1),
        (SELECT count(*) FROM sync_run_vendors x WHERE x.run_id = r.id AND x.success = 0),
        (SELECT coalesce(sum(synced), 0) FROM sync_run_vendors x WHERE x.run_id = r.id)
    FROM sync_runs r";

fn from_row(row: &Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        id: row.get(0)?,
        kind: row.get(1)?,
        source: row.get(2)?,
        status: row.get(3)?,
        started_at: row.get(4)?,
        finished_at: row.get(5)?,
        message: row.get(6)?,
        vendors: count(row, 7)?,
        successful: count(row, 8)?,
        failed: count(row, 9)?,
        synced: count(row, 10)?,
    })
}

/// One vendor's result, as the sync engine records it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRunVendor {
    /// The vendor.
    pub vendor_id: VendorId,
    /// Its name now.
    pub vendor_name: String,
    /// Its organization now.
    pub org_id: Option<OrgId>,
    /// That organization's name.
    pub org_name: Option<String>,
    /// Whether it succeeded.
    pub success: bool,
    /// Rows created.
    pub created: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows unchanged.
    pub unchanged: u64,
    /// Rows listed by the vendor.
    pub total: u64,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// A run with everything recorded about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetails {
    /// The run.
    #[serde(flatten)]
    pub run: SyncRun,
    /// Per-vendor results.
    pub results: Vec<SyncRunVendor>,
    /// The summary JSON in the original system's shape, when the run finished.
    pub summary: Option<serde_json::Value>,
}

/// Filters for [`Store::list_runs`].
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this kind.
    pub kind: Option<RunKind>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// At most this many (newest first).
    pub limit: Option<u64>,
}

fn get(conn: &Connection, id: RunId) -> Result<SyncRun> {
    conn.query_row(&format!("{SELECT} WHERE r.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "run", id: id.to_string() })
}

impl Store {
    /// Records the start of a run of `request`. A request of no vendor is refused and
    /// nothing is recorded: the one rule for a sync that selects nothing is that it is no
    /// run (the CLI and the API refuse it at the edge, the schedule records `not_due`), so
    /// the history never shows runs of 0/0 (docs/architecture.md, "A run").
    pub async fn start_run(&self, request: &RunRequest) -> Result<RunId> {
        if request.vendors().is_empty() {
            return Err(StoreError::Invalid(format!(
                "a {} run needs at least one vendor; nothing was recorded",
                request.kind
            )));
        }
        let (kind, source) = (request.kind, request.source);
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = seq::next(&tx)?;
            tx.execute(
                "INSERT INTO sync_runs (kind, source, status, started_at, change_seq)
                 VALUES (?1, ?2, 'running', ?3, ?4)",
                params![kind, source, Timestamp::now(), change],
            )?;
            let id = RunId(tx.last_insert_rowid());
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// Records the end of a run with its per-vendor results and summary, in one transaction.
    /// A run already recorded as interrupted (a stop's grace ran out) keeps that status;
    /// its results are still kept.
    pub async fn finish_run(
        &self,
        id: RunId,
        status: RunStatus,
        message: Option<String>,
        results: Vec<NewRunVendor>,
        summary: Option<serde_json::Value>,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            get(&tx, id)?;
            let change = seq::next(&tx)?;
            tx.execute(
                "UPDATE sync_runs SET status = ?1, finished_at = ?2, message = ?3,
                        summary_json = ?4, change_seq = ?5
                 WHERE id = ?6 AND status = 'running'",
                params![
                    status,
                    Timestamp::now(),
                    message,
                    summary.map(|s| s.to_string()),
                    change,
                    id
                ],
            )?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO sync_run_vendors (run_id, vendor_id, vendor_name,
                        org_id, org_name, success, synced, created, updated, unchanged, total,
                        error, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                for r in &results {
                    stmt.execute(params![
                        id,
                        r.vendor_id,
                        r.vendor_name,
                        r.org_id,
                        r.org_name,
                        r.success,
                        (r.created + r.updated + r.unchanged) as i64,
                        r.created as i64,
                        r.updated as i64,
                        r.unchanged as i64,
                        r.total as i64,
                        r.error,
                        r.duration_ms as i64,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Marks the runs still `running` as `interrupted`; returns the ids it changed, in id
    /// order. Only those were recorded as interrupted: a run whose `finish_run` committed
    /// first is not among them (callers say "recorded" only for these ids).
    pub async fn mark_running_runs_interrupted(&self, message: &str) -> Result<Vec<RunId>> {
        let message = message.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids: Vec<RunId> = {
                let mut stmt =
                    tx.prepare("SELECT id FROM sync_runs WHERE status = 'running' ORDER BY id")?;
                stmt.query_map([], |row| row.get(0).map(RunId))?.collect::<rusqlite::Result<_>>()?
            };
            if !ids.is_empty() {
                let change = seq::current(&tx)? + 1;
                tx.execute(
                    "UPDATE sync_runs SET status = 'interrupted', finished_at = ?1, message = ?2,
                            change_seq = ?3
                     WHERE status = 'running'",
                    params![Timestamp::now(), message, change],
                )?;
                seq::set(&tx, change)?;
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    /// Runs matching `filter`, newest first.
    pub async fn list_runs(&self, filter: RunFilter) -> Result<Vec<SyncRun>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "{SELECT} WHERE (?1 IS NULL OR r.kind = ?1) AND (?2 IS NULL OR r.status = ?2)
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?3"
            ))?;
            let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let rows = stmt
                .query_map(params![filter.kind, filter.status, limit], from_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One run with its per-vendor results and summary.
    pub async fn get_run(&self, id: RunId) -> Result<RunDetails> {
        self.read(move |conn| {
            let run = get(conn, id)?;
            let summary: Option<String> =
                conn.query_row("SELECT summary_json FROM sync_runs WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            let summary =
                summary.map(|text| serde_json::from_str(&text)).transpose().map_err(|e| {
                    StoreError::Corrupt {
                        column: "sync_runs.summary_json".into(),
                        detail: e.to_string(),
                    }
                })?;
            let mut stmt = conn.prepare(
                "SELECT vendor_id, vendor_name, org_id, org_name, success, synced, created, updated,
                        unchanged, total, error, duration_ms
                 FROM sync_run_vendors WHERE run_id = ?1 ORDER BY vendor_name, vendor_id",
            )?;
            let results = stmt
                .query_map([id], |row| {
                    Ok(SyncRunVendor {
                        vendor_id: row.get(0)?,
                        vendor_name: row.get(1)?,
                        org_id: row.get(2)?,
                        org_name: row.get(3)?,
                        success: row.get(4)?,
                        synced: count(row, 5)?,
                        created: count(row, 6)?,
                        updated: count(row, 7)?,
                        unchanged: count(row, 8)?,
                        total: count(row, 9)?,
                        error: row.get(10)?,
                        duration_ms: count(row, 11)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(RunDetails { run, results, summary })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunSource;
    use crate::store::test_support::temp_store;

    fn request(kind: RunKind, source: RunSource) -> RunRequest {
        RunRequest::new(kind, source, false, [VendorId(7)])
    }

    #[tokio::test]
    async fn a_request_of_no_vendor_is_no_run() {
        let (_dir, store) = temp_store();
        for source in [RunSource::User, RunSource::Cron, RunSource::Api] {
            let empty = RunRequest::new(RunKind::Plants, source, true, []);
            let err = store.start_run(&empty).await.unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{err}");
            assert_eq!(
                err.to_string(),
                "a plants run needs at least one vendor; nothing was recorded"
            );
        }
        assert!(store.list_runs(RunFilter::default()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn run_lifecycle_and_interruption() {
        let (_dir, store) = temp_store();
        let run = store.start_run(&request(RunKind::Plants, RunSource::User)).await.unwrap();
        let result = NewRunVendor {
            vendor_id: VendorId(7),
            vendor_name: "Roof".into(),
            org_id: None,
            org_name: None,
            success: false,
            created: 1,
            updated: 2,
            unchanged: 3,
            total: 6,
            error: Some("vendor said no".into()),
            duration_ms: 12,
        };
        store
            .finish_run(
                run,
                RunStatus::Failed,
                None,
                vec![result],
                Some(serde_json::json!({"totalVendors": 1})),
            )
            .await
            .unwrap();
        let details = store.get_run(run).await.unwrap();
        assert_eq!(details.run.status, RunStatus::Failed);
        assert_eq!(details.run.failed, 1);
        assert_eq!(
            details.results[0].synced, 6,
            "created + updated + unchanged, as in the summary"
        );
        assert_eq!(details.summary, Some(serde_json::json!({"totalVendors": 1})));

        let stuck = store.start_run(&request(RunKind::Alerts, RunSource::Cron)).await.unwrap();
        assert_eq!(store.mark_running_runs_interrupted("agent stopped").await.unwrap(), [stuck]);
        let runs = store.list_runs(RunFilter::default()).await.unwrap();
        assert_eq!(runs.len(), 2);
        let stuck_run = runs.iter().find(|r| r.id == stuck).unwrap();
        assert_eq!(stuck_run.status, RunStatus::Interrupted);
        let only_alerts = store
            .list_runs(RunFilter { kind: Some(RunKind::Alerts), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(only_alerts.len(), 1);
    }
}
