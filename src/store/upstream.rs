//! The local side of the upstream push: which rows of which tables travel, read in
//! change order after a cursor, and the watermark of what the central database confirmed.
//!
//! # Design
//!
//! * **One column list per table** ([`UpstreamTable::columns`]) names each central column,
//!   the local SQL that reads it and its kind; the upstream module builds the central DDL
//!   and the upsert from the same list, so the two sides cannot drift. Tables and columns
//!   that hold secrets (`vendor_credentials`, `vendor_tokens`, `install`) are in no list,
//!   and a vendor's raw JSON is read only when the caller asks for it.
//! * **Values travel as text** (`None` for NULL): integers and reals in Rust's exact
//!   round-trip spelling, booleans as `0`/`1`, times in the store's ISO-8601 UTC text; the
//!   central upsert casts each to its column's type. One code path for every table.
//! * **The cursor is `(change_seq, id)`, the watermark only `change_seq`.** One change
//!   number may stamp many rows (a deactivation stamps all its rows with one), so a batch
//!   bound may fall inside a group of equal numbers: the cursor goes on after the last row
//!   sent, while the watermark stored is the highest number whose rows were *all* confirmed
//!   ([`OutboxBatch::safe_watermark`]). A push cut inside such a group sends the group's
//!   first rows again next time, which the central stale-replay rule makes harmless.

use super::{Result, Store};
use crate::domain::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A table the upstream push sends, in the order a push sends them (organizations before
/// the vendors that name them, vendors before their plants, plants before their days and
/// alerts). The power samples (`power_samples`) are in none: they stay local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamTable {
    /// `organizations`.
    Organizations,
    /// `vendors` (never their credentials or tokens).
    Vendors,
    /// `plants`.
    Plants,
    /// `plant_days`: one row per plant and plant-local day (the energy history).
    PlantDays,
    /// `alerts`.
    Alerts,
    /// `sync_runs` with their summary.
    SyncRuns,
}

/// What a column holds, for the central type and cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A 64-bit integer.
    Int,
    /// A double.
    Real,
    /// 0/1 locally, a boolean centrally.
    Bool,
    /// Text.
    Text,
    /// A UTC time (ISO-8601 text locally).
    Time,
    /// A calendar day (`YYYY-MM-DD` text locally), a `date` centrally.
    Date,
}

/// One column the push sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamColumn {
    /// The central column's name.
    pub name: &'static str,
    /// The local SQL expression that reads it (over the table's own columns).
    pub(super) local: &'static str,
    /// Its kind.
    pub kind: ColumnKind,
    /// Part of the central natural key (with the agent id).
    pub key: bool,
    /// Never NULL.
    pub not_null: bool,
    /// The vendor's raw JSON: read only when the config asks for it, else sent as NULL.
    pub raw: bool,
}

const fn col(name: &'static str, local: &'static str, kind: ColumnKind) -> UpstreamColumn {
    UpstreamColumn { name, local, kind, key: false, not_null: false, raw: false }
}
const fn key(name: &'static str, local: &'static str, kind: ColumnKind) -> UpstreamColumn {
    UpstreamColumn { name, local, kind, key: true, not_null: true, raw: false }
}
const fn required(name: &'static str, local: &'static str, kind: ColumnKind) -> UpstreamColumn {
    UpstreamColumn { name, local, kind, key: false, not_null: true, raw: false }
}
const fn raw(name: &'static str, local: &'static str) -> UpstreamColumn {
    UpstreamColumn { name, local, kind: ColumnKind::Text, key: false, not_null: false, raw: true }
}

use ColumnKind::{Bool, Date, Int, Real, Text, Time};

const ORGANIZATIONS: &[UpstreamColumn] = &[
    key("org_id", "id", Int),
    required("name", "name", Text),
    required("auto_sync_enabled", "auto_sync_enabled", Bool),
    required("sync_interval_minutes", "sync_interval_minutes", Int),
    // Organizations are deleted, never deactivated, locally: active while they exist.
    required("is_active", "1", Bool),
    required("created_at", "created_at", Time),
    required("updated_at", "updated_at", Time),
];

const VENDORS: &[UpstreamColumn] = &[
    key("vendor_id", "id", Int),
    col("org_id", "org_id", Int),
    required("name", "name", Text),
    required("kind", "kind", Text),
    col("base_url", "base_url", Text),
    required("is_active", "is_active", Bool),
    col("last_synced_at", "last_synced_at", Time),
    col("last_alerts_synced_at", "last_alerts_synced_at", Time),
    col("last_error", "last_error", Text),
    required("consecutive_failures", "consecutive_failures", Int),
    col("last_alerts_error", "last_alerts_error", Text),
    required("alerts_consecutive_failures", "alerts_consecutive_failures", Int),
    required("needs_user_action", "needs_user_action", Bool),
    required("created_at", "created_at", Time),
    required("updated_at", "updated_at", Time),
];

const PLANTS: &[UpstreamColumn] = &[
    key("vendor_id", "vendor_id", Int),
    key("vendor_plant_id", "vendor_plant_id", Text),
    col("org_id", "org_id", Int),
    required("name", "name", Text),
    col("capacity_kw", "capacity_kw", Real),
    col("address", "address", Text),
    col("latitude", "latitude", Real),
    col("longitude", "longitude", Real),
    col("timezone", "timezone", Text),
    col("network_status", "network_status", Text),
    required("status", "status", Text),
    col("current_power_kw", "current_power_kw", Real),
    col("daily_energy_kwh", "daily_energy_kwh", Real),
    col("total_energy_kwh", "total_energy_kwh", Real),
    col("vendor_updated_at", "vendor_updated_at", Time),
    col("last_refreshed_at", "last_refreshed_at", Time),
    required("is_active", "is_active", Bool),
    raw("raw_json", "raw_json"),
    required("created_at", "created_at", Time),
    required("updated_at", "updated_at", Time),
];

const ALERTS: &[UpstreamColumn] = &[
    key("vendor_id", "vendor_id", Int),
    key("vendor_alert_key", "vendor_alert_key", Text),
    // The plant by its natural key: the local plant id means nothing centrally.
    col(
        "vendor_plant_id",
        "(SELECT p.vendor_plant_id FROM plants p WHERE p.id = alerts.plant_id)",
        Text,
    ),
    col("device_sn", "device_sn", Text),
    required("severity", "severity", Text),
    required("status", "status", Text),
    col("code", "code", Text),
    required("title", "title", Text),
    col("description", "description", Text),
    col("started_at", "started_at", Time),
    col("ended_at", "ended_at", Time),
    // Alerts are resolved (their status), never deleted one by one, locally.
    required("is_active", "1", Bool),
    raw("raw_json", "raw_json"),
    required("created_at", "created_at", Time),
    required("updated_at", "updated_at", Time),
];

/// The plant by its natural key (the local plant id means nothing centrally), then the
/// plant-local day. No `org_id`: a day's row never changes once the day is over, so an
/// organization copied into it would go stale when its plant moves; central reports join
/// `plantsync.plants` on (agent_id, vendor_id, vendor_plant_id) for it.
const PLANT_DAYS: &[UpstreamColumn] = &[
    key("vendor_id", "(SELECT p.vendor_id FROM plants p WHERE p.id = plant_days.plant_id)", Int),
    key(
        "vendor_plant_id",
        "(SELECT p.vendor_plant_id FROM plants p WHERE p.id = plant_days.plant_id)",
        Text,
    ),
    key("day", "day", Date),
    col("energy_kwh", "energy_kwh", Real),
    col("peak_power_kw", "peak_power_kw", Real),
    required("last_reading_at", "last_reading_at", Time),
    required("source", "source", Text),
    required("revisions", "revisions", Int),
    // Days are deleted only with their plant, never one by one, locally.
    required("is_active", "1", Bool),
    required("updated_at", "updated_at", Time),
];

const SYNC_RUNS: &[UpstreamColumn] = &[
    key("run_id", "id", Int),
    required("kind", "kind", Text),
    required("source", "source", Text),
    required("status", "status", Text),
    required("started_at", "started_at", Time),
    col("finished_at", "finished_at", Time),
    col("message", "message", Text),
    // The original system's summary object (vendor names, counts, errors: no secret).
    col("summary_json", "summary_json", Text),
    required("is_active", "1", Bool),
];

impl UpstreamTable {
    /// Every table, in push order. The days go last: a central schema made before they
    /// travelled (no `plantsync.plant_days` until `upstream init` runs again) still takes
    /// every other table, and the push then fails at the days saying what to run.
    pub const ALL: [Self; 6] = [
        Self::Organizations,
        Self::Vendors,
        Self::Plants,
        Self::Alerts,
        Self::SyncRuns,
        Self::PlantDays,
    ];

    /// The table's name, locally and centrally.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organizations => "organizations",
            Self::Vendors => "vendors",
            Self::Plants => "plants",
            Self::PlantDays => "plant_days",
            Self::Alerts => "alerts",
            Self::SyncRuns => "sync_runs",
        }
    }

    /// The table named `name` (as [`Self::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The local SQL of a row's natural key columns, comma-separated.
    pub(super) fn key_select(self) -> String {
        self.columns().iter().filter(|c| c.key).map(|c| c.local).collect::<Vec<_>>().join(", ")
    }

    /// The local SQL of a row's last change time (runs have no `updated_at`: their end,
    /// else their start).
    fn changed_at(self) -> &'static str {
        match self {
            Self::SyncRuns => "coalesce(finished_at, started_at)",
            _ => "updated_at",
        }
    }

    /// The columns sent, in the order of [`OutboxRow::values`].
    pub fn columns(self) -> &'static [UpstreamColumn] {
        match self {
            Self::Organizations => ORGANIZATIONS,
            Self::Vendors => VENDORS,
            Self::Plants => PLANTS,
            Self::PlantDays => PLANT_DAYS,
            Self::Alerts => ALERTS,
            Self::SyncRuns => SYNC_RUNS,
        }
    }

    /// The local query of one batch: `?1`, `?2` the cursor, `?3` the limit.
    fn select(self, with_raw: bool) -> String {
        format!(
            "{} WHERE (change_seq, id) > (?1, ?2) ORDER BY change_seq, id LIMIT ?3",
            self.select_rows(with_raw)
        )
    }

    /// `SELECT change_seq, id, <the columns> FROM <table>`, for a `WHERE` to follow.
    pub(super) fn select_rows(self, with_raw: bool) -> String {
        let columns = self
            .columns()
            .iter()
            .map(|c| if c.raw && !with_raw { "NULL" } else { c.local })
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT change_seq, id, {columns} FROM {}", self.as_str())
    }
}

impl std::fmt::Display for UpstreamTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a push goes on in a table: after the row `(seq, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// The change number of the last row sent.
    pub seq: i64,
    /// Its local id.
    pub id: i64,
}

impl Cursor {
    /// After every row up to the watermark `seq`.
    pub fn after_watermark(seq: i64) -> Self {
        Self { seq, id: i64::MAX }
    }
}

/// One local row to push.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Its `change_seq`: the central `source_version`.
    pub seq: i64,
    /// Its local id (for the cursor).
    pub id: i64,
    /// The values of [`UpstreamTable::columns`], as text.
    pub values: Vec<Option<String>>,
}

/// One batch read for the push.
#[derive(Debug, Clone)]
pub struct OutboxBatch {
    /// The rows, in `(change_seq, id)` order.
    pub rows: Vec<OutboxRow>,
    /// Whether more rows follow.
    pub more: bool,
    /// Where the next batch starts.
    pub next: Cursor,
    /// What the watermark may become once this batch (and every one before it) is
    /// confirmed: the last row's number, or one less when more rows of that number follow.
    pub safe_watermark: i64,
}

/// One table's state for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTableState {
    /// The table.
    pub table: UpstreamTable,
    /// Rows changed after the watermark: what the next push sends.
    pub pending: u64,
    /// The watermark: every change up to it is confirmed centrally.
    pub acknowledged_seq: i64,
    /// When it last moved.
    pub acknowledged_at: Option<Timestamp>,
    /// The last change of the oldest row still pending (`None`: nothing pending): how long
    /// the queue has waited at least. A row changed twice while pending shows its later
    /// change, so this never overstates the wait.
    pub oldest_pending_at: Option<Timestamp>,
}

/// The last push, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPush {
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Whether every pending row was confirmed.
    pub ok: bool,
    /// Rows the upstream confirmed in it.
    pub rows_sent: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The retry state of the push (step 7): what a stalled queue looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RetryState {
    /// Failed pushes in a row (0 after a success).
    pub failures: u32,
    /// The last failure's message, kept after later successes.
    pub last_error: Option<String>,
    /// When it failed.
    pub last_error_at: Option<Timestamp>,
    /// The agent's next automatic attempt while it backs off (`None`: none planned).
    pub next_attempt_at: Option<Timestamp>,
}

/// How far the central database is known to hold the store's changes: the
/// "safe to shut down" line of `status` and the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CentralUpTo {
    /// Changes wait, and no push has completed yet.
    #[default]
    Nothing,
    /// Every change is central (as of when the state was read).
    Everything,
    /// Changes wait; every change made before `at` is central.
    Until {
        /// The start of the last push that completed.
        at: Timestamp,
    },
}

impl CentralUpTo {
    /// From whether anything waits and when the central database last held everything
    /// (a row's `updated_at` is its latest change, so the oldest waiting row's time would
    /// overstate what is central when a row changed twice while waiting).
    fn from_queue(waiting: bool, caught_up_at: Option<Timestamp>) -> Self {
        match (waiting, caught_up_at) {
            (false, _) => Self::Everything,
            (true, None) => Self::Nothing,
            (true, Some(at)) => Self::Until { at },
        }
    }
}

/// The upstream state of the store for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamState {
    /// The agent id rows are pushed under.
    pub agent_id: String,
    /// Per table.
    pub tables: Vec<UpstreamTableState>,
    /// The last push, if any.
    pub last_push: Option<LastPush>,
    /// Failures in a row, the last error, the next attempt.
    #[serde(default)]
    pub retry: RetryState,
    /// Rows set aside because the central database refused them
    /// (`plantsync upstream rejected`).
    #[serde(default)]
    pub rejected: u64,
    /// Deletions waiting for the central database.
    #[serde(default)]
    pub deletions_pending: u64,
    /// The receipt of the last push that read one.
    #[serde(default)]
    pub last_receipt: Option<super::upstream_queue::StoredReceipt>,
    /// How far the central database holds the store's changes (rows set aside are
    /// counted in `rejected`, not here).
    #[serde(default)]
    pub central_up_to: CentralUpTo,
}

impl UpstreamState {
    /// Rows waiting in all tables.
    pub fn pending(&self) -> u64 {
        self.tables.iter().map(|t| t.pending).sum()
    }

    /// The oldest pending row's last change over all tables.
    pub fn oldest_pending_at(&self) -> Option<Timestamp> {
        self.tables.iter().filter_map(|t| t.oldest_pending_at).min()
    }
}

/// The agent id as a UUID's text: the install id (32 hex digits of 128 random bits) in the
/// 8-4-4-4-12 grouping; another grouping is returned as it is.
fn as_uuid(install_id: &str) -> String {
    if install_id.len() == 32 && install_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let s = install_id.to_ascii_lowercase();
        format!("{}-{}-{}-{}-{}", &s[..8], &s[8..12], &s[12..16], &s[16..20], &s[20..])
    } else {
        install_id.to_owned()
    }
}

pub(super) fn text_of(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        // Rust's `Display` of a float is the shortest text that reads back as the same value.
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

/// Reads one [`OutboxRow`] (`change_seq`, `id`, then the columns) of `table`.
pub(super) fn outbox_row(
    table: UpstreamTable,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<OutboxRow> {
    let width = table.columns().len();
    let mut values = Vec::with_capacity(width);
    for i in 0..width {
        values.push(text_of(row.get_ref(i + 2)?));
    }
    Ok(OutboxRow { seq: row.get(0)?, id: row.get(1)?, values })
}

/// Reads one batch of `table` after `after`, at most `limit` rows (at least one).
fn batch(
    conn: &rusqlite::Connection,
    table: UpstreamTable,
    after: Cursor,
    limit: usize,
    with_raw: bool,
) -> Result<OutboxBatch> {
    let limit = limit.max(1);
    let mut stmt = conn.prepare_cached(&table.select(with_raw))?;
    // One row more than asked tells whether more follow and whether they share the last
    // row's number.
    let mut rows: Vec<OutboxRow> = stmt
        .query_map(params![after.seq, after.id, limit as i64 + 1], |row| outbox_row(table, row))?
        .collect::<Result<_, _>>()?;
    let peek = (rows.len() > limit).then(|| rows.pop()).flatten();
    let next = rows.last().map_or(after, |r| Cursor { seq: r.seq, id: r.id });
    let safe_watermark = match (&peek, rows.last()) {
        (Some(peek), Some(last)) if peek.seq == last.seq => last.seq - 1,
        (_, Some(last)) => last.seq,
        (_, None) => after.seq,
    };
    Ok(OutboxBatch { rows, more: peek.is_some(), next, safe_watermark })
}

impl Store {
    /// The agent id this install pushes under: the install id of step 4, as a UUID.
    pub async fn agent_id(&self) -> Result<String> {
        self.read(|conn| {
            let id: String =
                conn.query_row("SELECT install_id FROM install WHERE id = 1", [], |r| r.get(0))?;
            Ok(as_uuid(&id))
        })
        .await
    }

    /// The watermark of `table`: every change up to it is confirmed centrally.
    pub async fn upstream_watermark(&self, table: UpstreamTable) -> Result<i64> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT acknowledged_seq FROM upstream_watermarks WHERE table_name = ?1",
                    [table.as_str()],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    /// The rows of `table` after `after`, at most `limit`, in change order; raw vendor JSON
    /// only when `with_raw`.
    pub async fn upstream_batch(
        &self,
        table: UpstreamTable,
        after: Cursor,
        limit: usize,
        with_raw: bool,
    ) -> Result<OutboxBatch> {
        self.read(move |conn| batch(conn, table, after, limit, with_raw)).await
    }

    /// Records that the central database confirmed every change of `table` up to `seq`.
    /// The watermark only rises: a late or repeated acknowledgement never lowers it.
    pub async fn acknowledge_upstream(&self, table: UpstreamTable, seq: i64) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE upstream_watermarks
                 SET acknowledged_seq = ?2, acknowledged_at = ?3
                 WHERE table_name = ?1 AND acknowledged_seq < ?2",
            )?
            .execute(params![table.as_str(), seq, Timestamp::now()])?;
            Ok(())
        })
        .await
    }

    /// Records the outcome of a push for `status`, and with it the retry state: a success
    /// resets the failures in a row, a failure counts one and keeps its message.
    pub async fn record_push(&self, push: LastPush) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            match &push.error {
                None if push.ok => tx.execute("UPDATE upstream_retry SET failures = 0", [])?,
                error => tx.execute(
                    "UPDATE upstream_retry
                     SET failures = failures + 1, last_error = ?1, last_error_at = ?2",
                    params![error.as_deref().unwrap_or("unknown"), push.finished_at],
                )?,
            };
            tx.execute(
                "INSERT OR REPLACE INTO upstream_last_push
                     (id, started_at, finished_at, ok, rows_sent, error)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                params![
                    push.started_at,
                    push.finished_at,
                    push.ok,
                    push.rows_sent as i64,
                    push.error
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Records the agent's next automatic push attempt (`None`: none planned, the agent
    /// stopped or the queue is not backing off).
    pub async fn set_next_push_attempt(&self, at: Option<Timestamp>) -> Result<()> {
        self.write(move |conn| {
            conn.execute("UPDATE upstream_retry SET next_attempt_at = ?1", [at])?;
            Ok(())
        })
        .await
    }

    /// Pending rows per table, the watermarks and the last push, in one read.
    pub async fn upstream_state(&self) -> Result<UpstreamState> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction()?;
            let id: String =
                tx.query_row("SELECT install_id FROM install WHERE id = 1", [], |r| r.get(0))?;
            let mut tables = Vec::new();
            for table in UpstreamTable::ALL {
                let (acknowledged_seq, acknowledged_at): (i64, Option<Timestamp>) = tx
                    .query_row(
                        "SELECT acknowledged_seq, acknowledged_at FROM upstream_watermarks
                         WHERE table_name = ?1",
                        [table.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                    .unwrap_or((0, None));
                let (pending, oldest_pending_at) = tx.query_row(
                    &format!(
                        "SELECT count(*), min({}) FROM {table} WHERE change_seq > ?1",
                        table.changed_at()
                    ),
                    [acknowledged_seq],
                    |r| Ok((super::codec::count(r, 0)?, r.get::<_, Option<Timestamp>>(1)?)),
                )?;
                // Today's live values wait on the plants' rows until the push copies them.
                let (pending, oldest_pending_at) = if table == UpstreamTable::PlantDays {
                    let (slots, slots_oldest): (u64, Option<Timestamp>) = tx.query_row(
                        &super::history::SLOTS_PENDING_SQL,
                        [acknowledged_seq],
                        |r| Ok((super::codec::count(r, 0)?, r.get(1)?)),
                    )?;
                    let oldest = match (oldest_pending_at, slots_oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    (pending + slots, oldest)
                } else {
                    (pending, oldest_pending_at)
                };
                tables.push(UpstreamTableState {
                    table,
                    pending,
                    acknowledged_seq,
                    acknowledged_at,
                    oldest_pending_at,
                });
            }
            let last_push = tx
                .query_row(
                    "SELECT started_at, finished_at, ok, rows_sent, error
                     FROM upstream_last_push WHERE id = 1",
                    [],
                    |r| {
                        Ok(LastPush {
                            started_at: r.get(0)?,
                            finished_at: r.get(1)?,
                            ok: r.get(2)?,
                            rows_sent: super::codec::count(r, 3)?,
                            error: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            let retry = tx
                .query_row(
                    "SELECT failures, last_error, last_error_at, next_attempt_at
                     FROM upstream_retry WHERE id = 1",
                    [],
                    |r| {
                        Ok(RetryState {
                            failures: r.get(0)?,
                            last_error: r.get(1)?,
                            last_error_at: r.get(2)?,
                            next_attempt_at: r.get(3)?,
                        })
                    },
                )
                .optional()?
                .unwrap_or_default();
            let rejected = tx.query_row("SELECT count(*) FROM upstream_rejected", [], |r| {
                super::codec::count(r, 0)
            })?;
            let deletions_pending =
                tx.query_row("SELECT count(*) FROM upstream_deletions", [], |r| {
                    super::codec::count(r, 0)
                })?;
            let caught_up_at: Option<Timestamp> = tx
                .query_row("SELECT at FROM upstream_caught_up WHERE id = 1", [], |r| r.get(0))
                .optional()?;
            let waiting = deletions_pending > 0 || tables.iter().any(|t| t.pending > 0);
            let central_up_to = CentralUpTo::from_queue(waiting, caught_up_at);
            let last_receipt = tx
                .query_row(
                    "SELECT checked_at, ok, tables_json FROM upstream_last_receipt WHERE id = 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, Timestamp>(0)?,
                            r.get::<_, bool>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()?
                .map(|(checked_at, ok, json)| {
                    let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                    super::upstream_queue::StoredReceipt {
                        checked_at,
                        ok,
                        requeued: value["requeued"].as_u64().unwrap_or(0),
                        differences: value["differences"].as_u64().unwrap_or(0),
                        tables: value["tables"].clone(),
                    }
                });
            Ok(UpstreamState {
                agent_id: as_uuid(&id),
                tables,
                last_push,
                retry,
                rejected,
                deletions_pending,
                last_receipt,
                central_up_to,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    #[test]
    fn the_install_id_reads_as_a_uuid() {
        assert_eq!(
            as_uuid("0123456789abcdef0123456789ABCDEF"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
    }

    /// A day travels under its plant's natural key and its day, never the local plant id,
    /// and counts as pending until confirmed.
    #[tokio::test]
    async fn a_day_row_reads_under_its_plant_s_natural_key() {
        let (_dir, store) = temp_store();
        store
            .write(|conn| {
                conn.execute_batch(
                    "INSERT INTO vendors (id, name, kind, change_seq) VALUES (3, 'v', 'growatt', 1);
                     INSERT INTO plants (id, vendor_id, vendor_plant_id, name, change_seq)
                     VALUES (9, 3, 'P-9', 'A', 2);
                     INSERT INTO plant_days (plant_id, day, energy_kwh, peak_power_kw,
                                             last_reading_at, source, revisions, change_seq,
                                             updated_at)
                     VALUES (9, '2026-11-30', 12.5, NULL, '2026-11-30T16:00:00.000Z', 'backfill',
                             1, 3, '2026-12-01T08:00:00.000Z'),
                            (9, '2026-12-01', NULL, 2.25, '2026-12-01T09:00:00.000Z', 'live',
                             0, 4, '2026-12-01T09:00:00.000Z');
                     UPDATE change_counter SET value = 4;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let days = UpstreamTable::PlantDays;
        assert_eq!(UpstreamTable::parse("plant_days"), Some(days));
        let plants_at = UpstreamTable::ALL.iter().position(|&t| t == UpstreamTable::Plants);
        let days_at = UpstreamTable::ALL.iter().position(|&t| t == days);
        assert!(plants_at < days_at, "days are pushed after their plants");
        let batch = store.upstream_batch(days, Cursor::default(), 10, false).await.unwrap();
        let names: Vec<&str> = days.columns().iter().map(|c| c.name).collect();
        let row = |i: usize| -> Vec<(&str, Option<&str>)> {
            names.iter().copied().zip(batch.rows[i].values.iter().map(|v| v.as_deref())).collect()
        };
        assert_eq!(
            row(0),
            [
                ("vendor_id", Some("3")),
                ("vendor_plant_id", Some("P-9")),
                ("day", Some("2026-11-30")),
                ("energy_kwh", Some("12.5")),
                ("peak_power_kw", None),
                ("last_reading_at", Some("2026-11-30T16:00:00.000Z")),
                ("source", Some("backfill")),
                ("revisions", Some("1")),
                ("is_active", Some("1")),
                ("updated_at", Some("2026-12-01T08:00:00.000Z")),
            ]
        );
        assert_eq!(row(1)[2], ("day", Some("2026-12-01")));
        let (keys, watermark) = store.upstream_versions(days).await.unwrap();
        let keys: Vec<LocalKeyed> = keys.into_iter().map(|k| (k.key, k.seq)).collect();
        let key = |day: &str| vec![Some("3".to_owned()), Some("P-9".to_owned()), Some(day.into())];
        assert_eq!(keys, [(key("2026-11-30"), 3), (key("2026-12-01"), 4)]);
        assert_eq!(watermark, 0);
        store.acknowledge_upstream(days, 3).await.unwrap();
        let state = store.upstream_state().await.unwrap();
        let pending = state.tables.iter().find(|t| t.table == days).unwrap();
        assert_eq!((pending.pending, pending.acknowledged_seq), (1, 3));
    }

    type LocalKeyed = (Vec<Option<String>>, i64);

    #[test]
    fn no_list_reads_a_secret_column() {
        for table in UpstreamTable::ALL {
            for column in table.columns() {
                for word in ["password", "secret", "api_key", "token", "credential"] {
                    assert!(!column.local.contains(word), "{table}.{} reads {word}", column.name);
                }
            }
            assert!(table.columns().iter().any(|c| c.key), "{table} has no key");
        }
    }

    /// A group of rows sharing one change number, cut by the batch bound: the cursor goes
    /// on inside the group, the safe watermark stays below it until the group is done.
    #[tokio::test]
    async fn a_batch_bound_inside_one_change_number_keeps_the_watermark_below_it() {
        let (_dir, store) = temp_store();
        store
            .write(|conn| {
                conn.execute_batch(
                    "INSERT INTO vendors (id, name, kind, change_seq) VALUES (1, 'v', 'growatt', 1);
                     INSERT INTO plants (vendor_id, vendor_plant_id, name, change_seq, raw_json)
                     VALUES (1, 'a', 'A', 2, '{\"k\":1}'), (1, 'b', 'B', 3, NULL),
                            (1, 'c', 'C', 3, NULL), (1, 'd', 'D', 3, NULL), (1, 'e', 'E', 4, NULL);
                     UPDATE change_counter SET value = 4;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let first = store.upstream_batch(UpstreamTable::Plants, Cursor::default(), 2, false).await;
        let first = first.unwrap();
        assert_eq!(first.rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert!(first.more);
        assert_eq!(first.safe_watermark, 2, "more rows of number 3 follow");
        let raw_index = PLANTS.iter().position(|c| c.raw).unwrap();
        assert_eq!(first.rows[0].values[raw_index], None, "raw JSON only when asked");
        let second =
            store.upstream_batch(UpstreamTable::Plants, first.next, 2, false).await.unwrap();
        assert_eq!(second.rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 3]);
        assert_eq!(second.safe_watermark, 3, "the next row has number 4");
        let third =
            store.upstream_batch(UpstreamTable::Plants, second.next, 2, true).await.unwrap();
        assert_eq!(third.rows.len(), 1);
        assert!(!third.more);
        assert_eq!(third.safe_watermark, 4);
        let with_raw = store
            .upstream_batch(UpstreamTable::Plants, Cursor::after_watermark(1), 1, true)
            .await
            .unwrap();
        assert_eq!(with_raw.rows[0].values[raw_index].as_deref(), Some("{\"k\":1}"));

        store.acknowledge_upstream(UpstreamTable::Plants, 3).await.unwrap();
        store.acknowledge_upstream(UpstreamTable::Plants, 2).await.unwrap();
        assert_eq!(store.upstream_watermark(UpstreamTable::Plants).await.unwrap(), 3);
        let state = store.upstream_state().await.unwrap();
        let plants = state.tables.iter().find(|t| t.table == UpstreamTable::Plants).unwrap();
        assert_eq!((plants.pending, plants.acknowledged_seq), (1, 3));
        assert_eq!(state.agent_id.len(), 36);
        assert_eq!(state.last_push, None);
    }
}
