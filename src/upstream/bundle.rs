//! The offline bundle: `plantsync upstream export FILE` on a site without a link, carried
//! to a connected machine, `plantsync upstream import FILE` there.
//!
//! # Design
//!
//! * **The rows are the push's rows.** Export reads the store with the push's own batch
//!   reader ([`Store::upstream_batch`]) and column lists ([`UpstreamTable::columns`]),
//!   de-duplicated per batch as the push does, and import sends them through the push's own
//!   upsert ([`schema::upsert`]). So a bundle carries exactly what a push would (never a
//!   credential, a token or, unless configured, raw JSON), and the stale-replay rule makes a
//!   second import, or an import after the site pushed newer rows itself, change nothing.
//! * **A SQLite file** (one `rows_<table>` table per upstream table, every value as the
//!   push's text) with a manifest: the agent id, when and how it was made, and per table
//!   the row count, the change-number range and two SHA-256 checksums, one over (key,
//!   source version) in order (what a central receipt can be compared with) and one over
//!   every value. Import checks all of it before it connects: a damaged, truncated or
//!   edited bundle is refused whole, with one message, and nothing is pushed. A bundle of
//!   an earlier build lacks the tables pushed since (`plant_days`: neither their manifest
//!   entry nor their rows table) and imports without them; the site still holds those rows
//!   as pending.
//! * **Export moves no watermark.** The site learns what arrived from the central database
//!   itself ([`super::receipt`], at its next online push), so a bundle lost on the way
//!   loses nothing: the rows are still pending, and the next bundle or push carries them.
//! * **Written privately and whole**: a 0600 file under a temporary name beside `FILE`,
//!   renamed over it only once complete, so a half-written bundle never has the name.

use super::{UpstreamError, dedup};
use crate::config::upstream::UpstreamUrl;
use crate::domain::Timestamp;
use crate::store::{Cursor, DeletedRow, OutboxRow, Store, StoreError, UpstreamTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The bundle format this build writes and reads.
pub const FORMAT: &str = "plantsync-bundle-1";

/// Tables pushed since the format's first release: a bundle made by an earlier build has
/// neither their manifest entry nor their rows table, and is read as carrying none of
/// their rows (the site still holds them as pending: its next bundle or push sends them).
const ADDED_LATER: [UpstreamTable; 1] = [UpstreamTable::PlantDays];

/// Errors of an export or an import.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle could not be written.
    #[error("cannot write the bundle {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why, in words.
        reason: String,
    },
    /// The bundle could not be opened (missing, unreadable).
    #[error("cannot read the bundle {path}: {reason}")]
    Open {
        /// The file.
        path: String,
        /// Why, in words.
        reason: String,
    },
    /// The bundle does not match its manifest (damaged, truncated, edited) or is no bundle.
    #[error("the bundle {path} is refused, nothing was pushed: {reason}")]
    Damaged {
        /// The file.
        path: String,
        /// What does not match.
        reason: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upstream failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// One table of a bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    /// The table.
    pub table: UpstreamTable,
    /// Rows in the bundle.
    pub rows: u64,
    /// The lowest change number (source version) among them.
    pub min_seq: Option<i64>,
    /// The highest.
    pub max_seq: Option<i64>,
    /// SHA-256 over (key, source version) of every row, in order.
    pub checksum: String,
    /// SHA-256 over every value of every row, in order.
    pub content_checksum: String,
}

/// A bundle's manifest (also what `upstream export --format json` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The agent the rows belong to.
    pub agent_id: String,
    /// When the bundle was made.
    pub created_at: String,
    /// Every row (`--full`), or only those not yet confirmed centrally.
    pub full: bool,
    /// Whether the vendors' raw JSON is in it.
    pub raw_json: bool,
    /// Per table, in push order.
    pub tables: Vec<TableManifest>,
    /// The deletions waiting at the site when the bundle was made.
    #[serde(default)]
    pub deletions: DeletionsManifest,
}

/// The deletions of a bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeletionsManifest {
    /// Deletions in the bundle.
    pub rows: u64,
    /// SHA-256 over every deletion (its number, table and key), in order.
    pub checksum: String,
}

/// The checksum of a bundle's deletions, in change order.
fn deletions_checksum(deletions: &[DeletedRow]) -> String {
    let mut hash = Sha256::new();
    for d in deletions {
        hash.update(d.seq.to_le_bytes());
        feed(&mut hash, Some(d.table.as_str()));
        for part in &d.key {
            feed(&mut hash, part.as_deref());
        }
    }
    hex(&hash.finalize())
}

/// One table's part of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTable {
    /// The table.
    pub table: UpstreamTable,
    /// Rows in the bundle.
    pub rows: u64,
    /// Rows the central database inserted or changed (0 for a bundle imported before).
    pub applied: Option<u64>,
    /// Batches sent.
    pub batches: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The agent the rows went under (the bundle's, not this machine's).
    pub agent_id: String,
    /// The target, password redacted.
    pub target: String,
    /// When the bundle was made.
    pub created_at: String,
    /// Per table, in push order.
    pub tables: Vec<ImportTable>,
    /// Deletions sent (marking the central rows deleted, unless newer).
    #[serde(default)]
    pub deletions: u64,
}

/// The running checksums of one table.
struct Digests {
    rows: u64,
    min_seq: Option<i64>,
    max_seq: Option<i64>,
    keys: Sha256,
    content: Sha256,
}

/// One value, unambiguously: NULL and every text (with its length) differ.
fn feed(hash: &mut Sha256, value: Option<&str>) {
    match value {
        None => hash.update([0u8]),
        Some(text) => {
            hash.update([1u8]);
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Digests {
    fn new() -> Self {
        Self { rows: 0, min_seq: None, max_seq: None, keys: Sha256::new(), content: Sha256::new() }
    }

    fn add(&mut self, table: UpstreamTable, row: &OutboxRow) {
        self.rows += 1;
        self.min_seq = Some(self.min_seq.map_or(row.seq, |m| m.min(row.seq)));
        self.max_seq = Some(self.max_seq.map_or(row.seq, |m| m.max(row.seq)));
        self.keys.update(row.seq.to_le_bytes());
        self.content.update(row.seq.to_le_bytes());
        for (column, value) in table.columns().iter().zip(&row.values) {
            if column.key {
                feed(&mut self.keys, value.as_deref());
            }
            feed(&mut self.content, value.as_deref());
        }
    }

    fn finish(self, table: UpstreamTable) -> TableManifest {
        TableManifest {
            table,
            rows: self.rows,
            min_seq: self.min_seq,
            max_seq: self.max_seq,
            checksum: hex(&self.keys.finalize()),
            content_checksum: hex(&self.content.finalize()),
        }
    }
}

/// The bundle's table of `table`'s rows.
fn rows_table(table: UpstreamTable) -> String {
    format!("rows_{table}")
}

fn create_sql() -> String {
    let mut sql = String::from(
        "CREATE TABLE manifest (format TEXT NOT NULL, agent_id TEXT NOT NULL,
             created_at TEXT NOT NULL, full INTEGER NOT NULL, raw_json INTEGER NOT NULL);
         CREATE TABLE manifest_tables (table_name TEXT PRIMARY KEY, row_count INTEGER NOT NULL,
             min_seq INTEGER, max_seq INTEGER, checksum TEXT NOT NULL,
             content_checksum TEXT NOT NULL);
         CREATE TABLE deletions (change_seq INTEGER PRIMARY KEY, table_name TEXT NOT NULL,
             key_json TEXT NOT NULL);
         CREATE TABLE manifest_deletions (row_count INTEGER NOT NULL, checksum TEXT NOT NULL);\n",
    );
    for table in UpstreamTable::ALL {
        let columns: Vec<String> =
            table.columns().iter().map(|c| format!("\"{}\" TEXT", c.name)).collect();
        sql.push_str(&format!(
            "CREATE TABLE {} (ord INTEGER PRIMARY KEY, source_version INTEGER NOT NULL, {});\n",
            rows_table(table),
            columns.join(", ")
        ));
    }
    sql
}

fn insert_sql(table: UpstreamTable) -> String {
    let width = table.columns().len();
    let marks: Vec<String> = (0..width + 2).map(|i| format!("?{}", i + 1)).collect();
    format!("INSERT INTO {} VALUES ({})", rows_table(table), marks.join(", "))
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Rows read (and de-duplicated) at a time, as the push's batches.
    pub batch_rows: usize,
    /// Include the vendors' raw JSON (`upstream.push_raw_json`).
    pub raw_json: bool,
    /// Every row, not only those after the watermarks.
    pub full: bool,
    /// What may stand at the bundle's path already.
    pub replace: Replace,
}

/// Whether an export may take the place of a file already at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Never (`upstream export`: the user names a new file; the live store named by
    /// mistake stays whole).
    Never,
    /// Only an earlier bundle of this same agent (a `file://` upstream: each push writes
    /// the whole queue again, so the newer bundle supersedes the older). Anything else at
    /// the path is left alone and the export fails.
    OwnBundle,
}

fn write_error(path: &Path, reason: impl std::fmt::Display) -> BundleError {
    BundleError::Write { path: path.display().to_string(), reason: reason.to_string() }
}

/// `plantsync upstream export FILE`: writes every row not yet confirmed centrally (every
/// row with `full`) into a new bundle at `path`, atomically; the watermarks stay.
pub async fn export(
    store: &Store,
    path: &Path,
    options: &ExportOptions,
) -> Result<Manifest, BundleError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(".new");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let temp = builder
        .tempfile_in(dir)
        .map_err(|e| write_error(path, crate::datadir::dir::in_words(&e)))?;
    // The bundle is a file of its own, not the store: none of the store's pragmas apply.
    #[allow(clippy::disallowed_methods)]
    let conn = rusqlite::Connection::open(temp.path()).map_err(|e| write_error(path, e))?;
    // One transaction into a new file: no journal file beside it (its mode would be the
    // umask's), and a failure leaves only the temporary file, removed on drop.
    conn.execute_batch("PRAGMA journal_mode = MEMORY; BEGIN;")
        .and_then(|()| conn.execute_batch(&create_sql()))
        .map_err(|e| write_error(path, e))?;
    // Today's live values wait in the plants' rows: into `plant_days`, which is read below.
    // A store opened read-only (a copy on a read-only mount) cannot take them: its bundle
    // carries the days as stored, and says so.
    if store.is_read_only() {
        tracing::warn!(
            "the store is read-only: today's live values, kept in the plants' rows until a \
             push or an export from a writable store copies them, are not in this bundle"
        );
    } else {
        store.copy_live_days(Timestamp::now()).await?;
    }
    let mut manifest = Manifest {
        format: FORMAT.to_owned(),
        agent_id: store.agent_id().await?,
        created_at: Timestamp::now().to_string(),
        full: options.full,
        raw_json: options.raw_json,
        tables: Vec::new(),
        deletions: DeletionsManifest::default(),
    };
    for table in UpstreamTable::ALL {
        let mut cursor = if options.full {
            Cursor::default()
        } else {
            Cursor::after_watermark(store.upstream_watermark(table).await?)
        };
        let mut digests = Digests::new();
        let mut ord: i64 = 0;
        loop {
            let batch =
                store.upstream_batch(table, cursor, options.batch_rows, options.raw_json).await?;
            if batch.rows.is_empty() {
                break;
            }
            let rows = dedup(table, batch.rows);
            let mut insert =
                conn.prepare_cached(&insert_sql(table)).map_err(|e| write_error(path, e))?;
            for row in &rows {
                ord += 1;
                let mut values: Vec<rusqlite::types::Value> = vec![ord.into(), row.seq.into()];
                values.extend(row.values.iter().map(|v| match v {
                    Some(text) => rusqlite::types::Value::Text(text.clone()),
                    None => rusqlite::types::Value::Null,
                }));
                insert
                    .execute(rusqlite::params_from_iter(values))
                    .map_err(|e| write_error(path, e))?;
                digests.add(table, row);
            }
            drop(insert);
            cursor = batch.next;
            if !batch.more {
                break;
            }
        }
        manifest.tables.push(digests.finish(table));
    }
    conn.execute(
        "INSERT INTO manifest VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            manifest.format,
            manifest.agent_id,
            manifest.created_at,
            manifest.full,
            manifest.raw_json
        ],
    )
    .map_err(|e| write_error(path, e))?;
    for t in &manifest.tables {
        conn.execute(
            "INSERT INTO manifest_tables VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                t.table.as_str(),
                t.rows as i64,
                t.min_seq,
                t.max_seq,
                t.checksum,
                t.content_checksum
            ],
        )
        .map_err(|e| write_error(path, e))?;
    }
    // The deletions still waiting travel too (a site that stays cut off removes vendors as
    // well); the site drops them from its queue only once it sees them confirmed itself.
    let deletions = store.upstream_deletions(usize::MAX >> 1).await?;
    for d in &deletions {
        conn.execute(
            "INSERT INTO deletions VALUES (?1, ?2, ?3)",
            rusqlite::params![d.seq, d.table.as_str(), key_json(&d.key)],
        )
        .map_err(|e| write_error(path, e))?;
    }
    manifest.deletions = DeletionsManifest {
        rows: deletions.len() as u64,
        checksum: deletions_checksum(&deletions),
    };
    conn.execute(
        "INSERT INTO manifest_deletions VALUES (?1, ?2)",
        rusqlite::params![manifest.deletions.rows as i64, manifest.deletions.checksum],
    )
    .map_err(|e| write_error(path, e))?;
    conn.execute_batch("COMMIT").map_err(|e| write_error(path, e))?;
    conn.close().map_err(|(_, e)| write_error(path, e))?;
    temp.as_file().sync_all().map_err(|e| write_error(path, crate::datadir::dir::in_words(&e)))?;
    if options.replace == Replace::OwnBundle && path.exists() {
        replaceable(path, &manifest.agent_id)?;
        return temp
            .persist(path)
            .map(|_| manifest)
            .map_err(|e| write_error(path, crate::datadir::dir::in_words(&e.error)));
    }
    // Never over an existing file (the live store given by mistake, an earlier bundle):
    // the user names a new file or removes the old one.
    temp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            write_error(path, "a file of that name exists already; name a new one")
        } else {
            write_error(path, crate::datadir::dir::in_words(&e.error))
        }
    })?;
    Ok(manifest)
}

/// Checks that the file at `path` is a bundle of `agent_id` (read-only, manifest only), so
/// a `file://` push never replaces anything else.
fn replaceable(path: &Path, agent_id: &str) -> Result<(), BundleError> {
    let refuse = || {
        write_error(
            path,
            "a file of that name exists and is not an earlier bundle of this agent; \
             move it away or point upstream.url elsewhere",
        )
    };
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|_| refuse())?;
    let found: Option<(String, String)> = conn
        .query_row("SELECT format, agent_id FROM manifest", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .ok();
    match found {
        Some((format, agent)) if format == FORMAT && agent == agent_id => Ok(()),
        _ => Err(refuse()),
    }
}

/// A bundle opened for import, its manifest checked against its rows.
struct Bundle {
    conn: rusqlite::Connection,
    manifest: Manifest,
    path: String,
    /// The tables it carries, in push order (every one, but for [`ADDED_LATER`] ones in a
    /// bundle made before them).
    carried: Vec<UpstreamTable>,
}

impl Bundle {
    fn damaged(&self, reason: impl std::fmt::Display) -> BundleError {
        BundleError::Damaged { path: self.path.clone(), reason: reason.to_string() }
    }

    /// Opens `path` read-only and verifies it whole.
    fn open(path: &Path) -> Result<Self, BundleError> {
        let shown = path.display().to_string();
        if let Err(e) = std::fs::metadata(path) {
            return Err(BundleError::Open {
                path: shown,
                reason: crate::datadir::dir::in_words(&e),
            });
        }
        let damaged = |reason: String| BundleError::Damaged { path: shown.clone(), reason };
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| BundleError::Open { path: shown.clone(), reason: e.to_string() })?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| damaged(format!("it is not a readable SQLite file ({e})")))?;
        if check != "ok" {
            return Err(damaged(format!("the SQLite file is damaged ({check})")));
        }
        let manifest = read_manifest(&conn)
            .map_err(|e| damaged(format!("it has no readable plantsync manifest ({e})")))?;
        if manifest.format != FORMAT {
            return Err(damaged(format!(
                "its format is {}, this plantsync reads {FORMAT}",
                manifest.format
            )));
        }
        let mut bundle = Self { conn, manifest, path: shown, carried: Vec::new() };
        bundle.carried = bundle.verify()?;
        Ok(bundle)
    }

    /// The bundle's deletions, in change order (none in a bundle made before they travelled).
    fn deletions(&self) -> rusqlite::Result<Vec<DeletedRow>> {
        if !carries_deletions(&self.conn)? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT change_seq, table_name, key_json FROM deletions ORDER BY change_seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?;
        let mut deletions = Vec::new();
        for row in rows {
            let (seq, table, key) = row?;
            let Some(table) = UpstreamTable::parse(&table) else {
                return Err(rusqlite::Error::InvalidColumnType(
                    1,
                    format!("table {table}"),
                    rusqlite::types::Type::Text,
                ));
            };
            let key = serde_json::from_str(&key).map_err(|_| {
                rusqlite::Error::InvalidColumnType(
                    2,
                    "key_json".into(),
                    rusqlite::types::Type::Text,
                )
            })?;
            deletions.push(DeletedRow { seq, table, key });
        }
        Ok(deletions)
    }

    /// Whether the bundle has a rows table for `table`.
    fn has_rows_table(&self, table: UpstreamTable) -> rusqlite::Result<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [rows_table(table)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
    }

    /// Every table's rows against the manifest: count, range, both checksums. Returns the
    /// tables the bundle carries.
    fn verify(&self) -> Result<Vec<UpstreamTable>, BundleError> {
        let deletions = self.deletions().map_err(|e| self.damaged(e))?;
        if deletions.len() as u64 != self.manifest.deletions.rows
            || deletions_checksum(&deletions) != self.manifest.deletions.checksum
        {
            return Err(self.damaged("its deletions do not match its manifest"));
        }
        let mut carried = Vec::new();
        for table in UpstreamTable::ALL {
            let Some(expected) = self.manifest.tables.iter().find(|t| t.table == table) else {
                // Made before the table travelled: no entry and no rows table, nothing else.
                let older = ADDED_LATER.contains(&table)
                    && !self.has_rows_table(table).map_err(|e| self.damaged(e))?;
                if older {
                    continue;
                }
                return Err(self.damaged(format!("its manifest has no entry for {table}")));
            };
            let names: Vec<String> = self
                .conn
                .prepare(&format!("PRAGMA table_info({})", rows_table(table)))
                .and_then(|mut s| s.query_map([], |r| r.get(1))?.collect())
                .map_err(|e| self.damaged(e))?;
            let wanted: Vec<String> = ["ord", "source_version"]
                .into_iter()
                .chain(table.columns().iter().map(|c| c.name))
                .map(str::to_owned)
                .collect();
            if names != wanted {
                return Err(self.damaged(format!(
                    "its {table} rows do not have the columns this plantsync pushes"
                )));
            }
            let mut digests = Digests::new();
            let mut after = 0;
            loop {
                let rows = self.chunk(table, after, 10_000).map_err(|e| self.damaged(e))?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in &rows {
                    digests.add(table, row);
                }
            }
            let found = digests.finish(table);
            if found.rows != expected.rows {
                return Err(self.damaged(format!(
                    "it has {} {table} rows, its manifest says {}",
                    found.rows, expected.rows
                )));
            }
            if (found.min_seq, found.max_seq) != (expected.min_seq, expected.max_seq) {
                return Err(self.damaged(format!(
                    "its {table} rows' change numbers do not match its manifest"
                )));
            }
            if found.checksum != expected.checksum
                || found.content_checksum != expected.content_checksum
            {
                return Err(
                    self.damaged(format!("its {table} rows do not match its manifest's checksum"))
                );
            }
            carried.push(table);
        }
        Ok(carried)
    }

    /// Rows of `table` after the position `after`, at most `limit`, in order; each row's
    /// `id` is its position in the bundle.
    fn chunk(
        &self,
        table: UpstreamTable,
        after: i64,
        limit: usize,
    ) -> rusqlite::Result<Vec<OutboxRow>> {
        let width = table.columns().len();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT * FROM {} WHERE ord > ?1 ORDER BY ord LIMIT ?2",
            rows_table(table)
        ))?;
        stmt.query_map(rusqlite::params![after, limit as i64], |r| {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(r.get::<_, Option<String>>(i + 2)?);
            }
            Ok(OutboxRow { id: r.get(0)?, seq: r.get(1)?, values })
        })?
        .collect()
    }
}

/// One row of `manifest_tables`: name, rows, change range, the two checksums.
type ManifestRow = (String, i64, Option<i64>, Option<i64>, String, String);

fn read_manifest(conn: &rusqlite::Connection) -> rusqlite::Result<Manifest> {
    let (format, agent_id, created_at, full, raw_json) =
        conn.query_row("SELECT * FROM manifest", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    let mut stmt = conn.prepare("SELECT * FROM manifest_tables")?;
    let rows: Vec<ManifestRow> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut tables = Vec::new();
    for (name, rows, min_seq, max_seq, checksum, content_checksum) in rows {
        // A table this build does not push is not ours to import: refused by `verify`
        // only if one of ours is missing; an unknown extra is ignored.
        if let Some(table) = UpstreamTable::ALL.into_iter().find(|t| t.as_str() == name) {
            tables.push(TableManifest {
                table,
                rows: u64::try_from(rows).unwrap_or(u64::MAX),
                min_seq,
                max_seq,
                checksum,
                content_checksum,
            });
        }
    }
    // Bundles of plantsync 0.1's first upstream release carry no deletions.
    let deletions = if carries_deletions(conn)? {
        conn.query_row("SELECT row_count, checksum FROM manifest_deletions", [], |r| {
            Ok(DeletionsManifest {
                rows: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(u64::MAX),
                checksum: r.get(1)?,
            })
        })?
    } else {
        DeletionsManifest { rows: 0, checksum: deletions_checksum(&[]) }
    };
    Ok(Manifest { format, agent_id, created_at, full, raw_json, tables, deletions })
}

/// Whether the bundle has the deletions' manifest (and so must have the deletions).
fn carries_deletions(conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'manifest_deletions'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// A deletion's key as the bundle keeps it.
fn key_json(key: &[Option<String>]) -> String {
    serde_json::to_string(key).unwrap_or_else(|_| "[]".to_owned())
}

/// `plantsync upstream import FILE`: verifies the bundle whole, then pushes its rows under
/// its own agent id through the push's upsert, `batch_rows` at a time.
pub async fn import(
    url: &UpstreamUrl,
    path: &Path,
    batch_rows: usize,
) -> Result<ImportReport, BundleError> {
    let bundle = Bundle::open(path)?;
    let target = url.shown().to_owned();
    let central = super::open(url).await?;
    let mut report = ImportReport {
        agent_id: bundle.manifest.agent_id.clone(),
        target: target.clone(),
        created_at: bundle.manifest.created_at.clone(),
        tables: Vec::new(),
        deletions: 0,
    };
    for table in bundle.carried.clone() {
        let mut stats = ImportTable { table, rows: 0, applied: Some(0), batches: 0 };
        let mut after = 0;
        loop {
            let rows =
                bundle.chunk(table, after, batch_rows.max(1)).map_err(|e| bundle.damaged(e))?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            stats.rows += rows.len() as u64;
            let rows = dedup(table, rows);
            // A refused batch fails the import whole: the site still holds every row as
            // pending, so nothing is lost, and the error says which table.
            let applied = central
                .upsert(&report.agent_id, table, &rows)
                .await
                .map_err(|e| BundleError::from(e.error))?;
            stats.applied = match (stats.applied, applied) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            stats.batches += 1;
        }
        report.tables.push(stats);
    }
    let deletions = bundle.deletions().map_err(|e| bundle.damaged(e))?;
    for chunk in deletions.chunks(500) {
        let tombstones: Vec<super::central::Tombstone> = chunk
            .iter()
            .map(|d| super::central::Tombstone { seq: d.seq, table: d.table, key: d.key.clone() })
            .collect();
        central
            .forget(&report.agent_id, &tombstones)
            .await
            .map_err(|e| BundleError::from(e.error))?;
        report.deletions += tombstones.len() as u64;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksums(values: &[Option<&str>]) -> (String, String) {
        let table = UpstreamTable::SyncRuns;
        let mut all: Vec<Option<String>> = vec![Some("1".into()); table.columns().len()];
        for (i, v) in values.iter().enumerate() {
            all[i + 1] = v.map(str::to_owned);
        }
        let mut digests = Digests::new();
        digests.add(table, &OutboxRow { seq: 5, id: 1, values: all });
        let done = digests.finish(table);
        (done.checksum, done.content_checksum)
    }

    /// NULL, an empty text and texts that concatenate alike all differ in the content
    /// checksum, while the key checksum sees only the key and the version.
    #[test]
    fn the_checksums_tell_null_empty_and_shifted_values_apart() {
        let null = checksums(&[None, Some("ab")]);
        let empty = checksums(&[Some(""), Some("ab")]);
        let shifted = checksums(&[Some("a"), Some("b")]);
        assert_ne!(null.1, empty.1);
        assert_ne!(empty.1, shifted.1);
        assert_eq!(null.0, empty.0, "the key (run id) and version are the same");
    }
}
