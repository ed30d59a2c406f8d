//! The local SQLite store: every SQL statement of plantsync lives under this module.
//!
//! # Design
//!
//! * **One writer.** A dedicated OS thread owns the only read-write connection and runs the
//!   closures sent to it one at a time (the shape of tokio-rusqlite), so no `rusqlite` call
//!   ever blocks a tokio worker and writers never contend for SQLite's lock inside one
//!   process. Every multi-statement change runs in one transaction on that thread.
//! * **Many readers.** Listings run on read-only connections (WAL lets them read while a sync
//!   writes) from a small pool, on tokio's blocking threads.
//! * **Schema** comes from `schema.sql` at the repository root, applied by `migrate` as
//!   numbered steps keyed on `PRAGMA user_version`.
//! * **Change sequence.** Every insert or real change of an organization, vendor, plant, alert
//!   or run takes the next value of `change_counter` into its `change_seq`, so the upstream
//!   push can ask for "what changed after N". An upsert that changes nothing takes no value.
//!
//! Times are stored as UTC text, see [`crate::domain::Timestamp`].

mod alerts;
mod cleanup;
mod codec;
mod facts;
mod history;
mod history_settled;
mod migrate;
mod open;
mod orgs;
mod pacing;
mod plants;
mod probes;
mod quotas;
mod runs;
mod secrets;
mod seq;
mod status;
mod sync;
mod upstream;
mod upstream_queue;
mod vendors;

pub use alerts::AlertFilter;
pub use history::{
    BackfillCounts, DayRow, GapRow, GapSearch, HistoryPlant, HistoryScope, HistorySummary,
    PlantGaps, PowerSample,
};
pub use migrate::SCHEMA_VERSION;
pub use open::Unusable;
pub use orgs::OrgPatch;
pub use pacing::account_hash;
pub use plants::{
    OPTIONAL_COLUMNS as OPTIONAL_PLANT_COLUMNS, PlantFilter, PlantSort, StatusFilter, UpsertCounts,
};
pub use probes::{KeyProbe, Parked, RefusedCredential, key_probe_backoff};
pub use quotas::{QuotaDay, QuotaUse, quota_key};
pub use runs::{NewRunVendor, RunDetails, RunFilter};
pub use secrets::{MoveReport, NotMoved, SecretsState, Settled};
pub use status::{StoreStatus, VendorHealth};
pub use sync::{
    Ineligible, ScheduleCandidate, Selection, SelectionError, StoredPlantState, SyncTarget,
    VendorOutcome,
};
pub use upstream::{
    CentralUpTo, ColumnKind, Cursor, LastPush, OutboxBatch, OutboxRow, RetryState, UpstreamColumn,
    UpstreamState, UpstreamTable, UpstreamTableState,
};
pub use upstream_queue::{
    DeletedRow, KeyedVersion, LocalKey, RejectedEntry, RejectedRow, StoredReceipt,
};
pub use vendors::{VendorFilter, VendorPatch};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long a connection waits for another process's write lock before giving up. A sync
/// batch holds the lock for milliseconds; five seconds covers a CLI write during a sync.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections kept open for reuse.
const MAX_IDLE_READERS: usize = 4;

/// Errors of the store. Messages name the thing that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or prepared.
    #[error("cannot open database {}: {source}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {}", .path.display(), crate::datadir::dir::in_words(.source))]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was written by a newer plantsync.
    #[error(
        "database {} has schema version {found}, newer than this plantsync supports ({supported}); upgrade plantsync",
        .path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// What this build knows.
        supported: i64,
    },
    /// A row that was asked for does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of row ("organization", "vendor" ...).
        what: &'static str,
        /// The id or name asked for.
        id: String,
    },
    /// A change conflicts with existing data (a unique name, a row still in use).
    #[error("{0}")]
    Conflict(String),
    /// A value refused before anything is written (a blank name or one with a control
    /// character, a vendor name several vendors share): the caller's mistake,
    /// which the CLI reports as a usage error.
    #[error("{0}")]
    Invalid(String),
    /// A stored value could not be decoded (hand-edited or corrupt row).
    #[error("invalid stored value in {column}: {detail}")]
    Corrupt {
        /// Table and column.
        column: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The file could not be created.
    #[error("cannot create database {}: {why}", .path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// Why, in words.
        why: String,
    },
    /// The file exists but is not a usable database; it was left untouched.
    #[error("database {} {problem}", .path.display())]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it and what to do.
        problem: open::Unusable,
    },
    /// A write on a store opened read-only.
    #[error("database {} is open read-only: this command cannot change it", .path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// A read-only file of an older schema: reading it would need a migration.
    #[error(
        "database {} has schema version {found} and cannot be written; this plantsync reads version {supported}: copy the file to a writable directory and run plantsync on the copy once (it upgrades the copy), or read it with the plantsync that wrote it",
        .path.display()
    )]
    OldSchemaReadOnly {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// What this build reads.
        supported: i64,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread has stopped (the process is shutting down).
    #[error("database writer has stopped")]
    Closed,
    /// The OS keyring that holds this install's secrets failed (unreachable, missing entry).
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the store; cheap to clone, usable from any thread or task.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// What readers open: the path, or a `file:` URI for a read-only copy (see
    /// [`open::read_only_target`]).
    reader_target: String,
    read_only: bool,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    /// The OS keyring, used when the install keeps its secrets there (`src/secrets`).
    keyring: Arc<dyn crate::secrets::Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies pending migrations and
    /// starts the writer thread. An existing file must be a SQLite database (not empty,
    /// SQLite's header); it is never replaced. Blocking: call it before entering
    /// async code or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_read_write(path.as_ref(), open::Check::Header)
    }

    /// [`Store::open`] after `PRAGMA quick_check`, for the processes that are about to
    /// write a lot (the agent at start, a CLI sync, the demo): a damaged page is refused
    /// before a sync writes into it. Inspection commands skip it: it reads every page
    /// (about 70 ms for 100,000 plants), more than a listing takes.
    pub fn open_checked(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_read_write(path.as_ref(), open::Check::Quick)
    }

    fn open_read_write(path: &Path, check: open::Check) -> Result<Self> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::datadir::dir::create_private_dir(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        // Every check runs before the writer's pragmas change the file.
        open::create_or_check(&path, check)?;
        let mut conn = open_writer(&path)?;
        migrate::migrate(&mut conn, &path)?;
        Self::start(path.clone(), path.display().to_string(), Some(conn))
    }

    /// Opens an existing database without ever writing to it or beside it: no migration,
    /// no writer (writes fail with [`StoreError::ReadOnly`]). For inspecting a copy or a
    /// file the process may not write. A file of an older schema is refused with the
    /// version it has and the one this build reads (reading it would need the migration it
    /// cannot run).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        open::check_existing(&path)?;
        let target = open::read_only_target(&path)?;
        let reader = open_reader(&path, &target)?;
        let found = migrate::user_version(&reader)?;
        if found == 0 && open::has_schema(&reader)? {
            return Err(StoreError::Unusable { path, problem: Unusable::Foreign });
        }
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found, supported: SCHEMA_VERSION });
        }
        if found < SCHEMA_VERSION {
            return Err(StoreError::OldSchemaReadOnly { path, found, supported: SCHEMA_VERSION });
        }
        let store = Self::start(path, target, None)?;
        if let Ok(mut pool) = store.inner.readers.lock() {
            pool.push(reader);
        }
        Ok(store)
    }

    fn start(path: PathBuf, reader_target: String, writer: Option<Connection>) -> Result<Self> {
        let (sender, writer_thread) = match writer {
            Some(mut conn) => {
                let (tx, rx) = mpsc::channel::<WriteJob>();
                let thread = std::thread::Builder::new()
                    .name("plantsync-db-writer".into())
                    .spawn(move || {
                        // Jobs run in arrival order; the thread ends when every sender is dropped.
                        for job in rx {
                            job(&mut conn);
                        }
                    })
                    .map_err(|e| {
                        StoreError::Conflict(format!("cannot start database writer: {e}"))
                    })?;
                (Some(tx), Some(thread))
            }
            None => (None, None),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                read_only: sender.is_none(),
                path,
                reader_target,
                writer: Mutex::new(sender),
                writer_thread: Mutex::new(writer_thread),
                readers: Mutex::new(Vec::new()),
                keyring: Arc::new(crate::secrets::OsKeyring),
            }),
        })
    }

    /// The same store with `keyring` in place of the OS keyring (the unit tests' in-memory
    /// one). Only before the handle is cloned.
    #[cfg(test)]
    pub(crate) fn with_keyring(mut self, keyring: Arc<dyn crate::secrets::Backend>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.keyring = keyring;
        }
        self
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The keyring handle, for closures that run on the store's threads.
    fn keyring(&self) -> Arc<dyn crate::secrets::Backend> {
        Arc::clone(&self.inner.keyring)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops accepting writes and waits until the writer thread has finished the queued
    /// jobs and closed its connection (which checkpoints the WAL into the database file).
    /// Blocking; call it outside async code at shutdown.
    pub fn close(&self) {
        if let Ok(mut writer) = self.inner.writer.lock() {
            writer.take();
        }
        if let Ok(mut readers) = self.inner.readers.lock() {
            readers.clear();
        }
        let handle = self.inner.writer_thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Runs `f` on the writer thread and waits for its result without blocking the runtime.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            // The caller may have given up (cancelled task); the result is then dropped.
            let _ = reply_tx.send(f(conn));
        });
        if self.inner.read_only {
            return Err(StoreError::ReadOnly { path: self.inner.path.clone() });
        }
        {
            let writer = self.inner.writer.lock().map_err(|_| StoreError::Closed)?;
            let sender = writer.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers.lock().ok().and_then(|mut pool| pool.pop()) {
                Some(conn) => conn,
                None => open_reader(&inner.path, &inner.reader_target)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = inner.readers.lock()
                && pool.len() < MAX_IDLE_READERS
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

#[allow(clippy::disallowed_methods)] // the one place that opens connections
fn open_writer(path: &Path) -> Result<Connection> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    // WAL: readers (CLI, API) never block the writer and the writer never blocks them.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
    // NORMAL in WAL mode: a commit does not fsync; the WAL is synced at checkpoints. An
    // application crash loses nothing; a power cut may lose the last few commits but never
    // corrupts the file, and a sync simply fetches those rows again on its next run. FULL
    // would cost an fsync per batch of 100 plants for no gain in that trade.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
    // Deleted and overwritten content is zeroed, not left in free space: the file holds
    // vendor secrets (or held them before `secrets move --to keyring`), and the bundled
    // SQLite is not built with SQLITE_SECURE_DELETE. ON rather than FAST: FAST leaves the
    // content of pages that go to the freelist. It costs a write of zeros per freed cell,
    // which the store's workload (upserts, few deletes) barely notices. The old versions
    // of changed pages are also in the -wal until a checkpoint: `secrets::scrub` checkpoints
    // after the writes that drop secrets.
    conn.pragma_update(None, "secure_delete", "ON").map_err(open_err)?;
    // 16 MiB of page cache (default 2 MiB): a sync's upserts touch the table and five
    // indexes; keeping their hot pages cached makes batches of 100 cheap.
    conn.pragma_update(None, "cache_size", -16_384).map_err(open_err)?;
    // Checkpoint every 8192 pages (32 MiB) rather than 1000: each checkpoint fsyncs, and a
    // sync of 100,000 plants rewrites tens of MiB. The file is truncated back to 64 MiB
    // after a checkpoint so the WAL does not stay large.
    conn.pragma_update(None, "wal_autocheckpoint", 8192).map_err(open_err)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(open_err)?;
    // A plant batch's write job alone prepares up to 16 statements (the upserts, the change
    // counter, the history's batched and one-by-one statements), rusqlite's default cache
    // size: one more in a sync and the 50-row history statements would be parsed again
    // batch after batch.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The connection of the checks before writing ([`open::pre_write_check`]): read-write so
/// SQLite may roll back a hot journal, never creating the file, no pragma.
fn open_for_check(path: &Path) -> Result<Connection> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    Ok(conn)
}

/// A read-only connection to `target` (the path, or a `file:` URI) of the database `path`.
fn open_reader(path: &Path, target: &str) -> Result<Connection> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(target, flags).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    Ok(conn)
}

/// Turns a unique-constraint failure into a [`StoreError::Conflict`] with `message`.
fn conflict_on_unique(err: rusqlite::Error, message: impl FnOnce() -> String) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(message()),
        _ => StoreError::Sqlite(err),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;
    use crate::domain::{Credentials, NewOrganization, NewVendor, VendorId, VendorKind};

    /// A store on a real file in a fresh temporary directory.
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("plantsync.db")).expect("open store");
        (dir, store)
    }

    /// Organization `Org` with one active vendor `V` of `kind`, without credentials.
    pub async fn org_vendor(store: &Store, kind: VendorKind) -> VendorId {
        let org = store
            .add_org(NewOrganization {
                name: "Org".into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 15,
            })
            .await
            .expect("org");
        let new = NewVendor {
            name: "V".into(),
            kind,
            org_id: Some(org.id),
            base_url: None,
            is_active: true,
        };
        store.add_vendor(new, Credentials::default()).await.expect("vendor").id
    }
}
