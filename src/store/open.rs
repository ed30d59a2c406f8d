//! What the store checks before it opens a file, and how it reads one it may not write.
//!
//! # Never replace a file
//!
//! SQLite treats a zero-byte file as an empty database and writes a fresh schema into it;
//! it writes into a file with a damaged page until it trips over the damage. A zero-byte
//! or foreign `plantsync.db` is a lost database (a failed copy, a full disk, the wrong
//! file), so the store tells a file it created itself from one it found: it builds a new
//! database under a temporary name (mode 0600) and moves it into place, never over a file,
//! only once it is complete ([`create_fresh`]: two first runs at once never see each
//! other's half-made file; a file system that cannot move without replacing, such as a
//! vfat stick, gets it built in place), and any file it did not create must start with
//! SQLite's header. Temporary databases a killed first run left are removed after a
//! minute. A missing database whose `-wal` or `-journal` is still there is not created
//! afresh (SQLite would play the old log over it): that is refused with what to do. The
//! processes that are about to write
//! a lot (the agent at start, syncs) also run `PRAGMA quick_check` first; inspection
//! commands do not, since it reads every page (about 70 ms for 100,000 plants, 0.7 s for
//! a million: more than a listing takes). A refused file is left exactly as it was.
//!
//! # Reading a read-only copy
//!
//! A WAL database needs its `-shm` file even to be read, and a read-only connection in a
//! directory it may write creates `-shm` and `-wal` beside the file (with the file's
//! mode: a 0400 `-shm` that later breaks every writer). So the reader's target is chosen
//! from the files that exist, never by trying ([`read_only_target`]): with `-shm` and
//! `-wal`, the path; without a `-wal` holding commits, `immutable=1` (exact, creates
//! nothing; used only on a file or directory this process may not write, where no writer
//! has it open); a `-wal` with commits but no `-shm`, or a hot rollback journal, cannot be
//! read without writing (`immutable` would ignore them), so it is refused with what to do.
//!
//! # Checking before writing
//!
//! The writer's first pragma (`journal_mode=WAL`) rewrites the header of a rollback-journal
//! file, so the checks of a file it found run before. First those that need no change: the
//! header, and a database of another application (schema version 0 with tables) is
//! refused, never migrated, on an `immutable=1` read-only connection ([`refuse_foreign`]),
//! so its mode, bytes and journal stay as they were. Only then are the file and its
//! `-wal`/`-shm` made owner-only, and a read-write connection that creates nothing and
//! sets no pragma ([`pre_write_check`]; it may roll back a hot journal, SQLite's ordinary
//! recovery) checks again and runs `quick_check` when asked.

use super::{Result, StoreError};
use crate::datadir::dir;
use rusqlite::Connection;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How much checking an open does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// The header of an existing file (every open).
    Header,
    /// The header, then `PRAGMA quick_check` (before syncing).
    Quick,
}

/// Why an existing file is not opened. Each says what to do; the file is left untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// There is no such file (reading only: nothing to create).
    #[error("does not exist")]
    Missing,
    /// A directory where the file should be.
    #[error("is a directory, not a database file")]
    IsDirectory,
    /// Zero bytes: not something plantsync leaves behind.
    #[error(
        "is empty (0 bytes); plantsync left it as it is: restore it from a backup, or delete it to start a fresh database"
    )]
    Empty,
    /// Not SQLite's header.
    #[error(
        "is not a SQLite database; plantsync left it as it is: restore it from a backup, or move it away to start a fresh database"
    )]
    NotSqlite,
    /// `PRAGMA quick_check` found a problem (its first line).
    #[error(
        "is damaged (SQLite's quick check: {0}); plantsync left it as it is: stop every plantsync using it and restore it from a backup (sqlite3's .recover may salvage rows)"
    )]
    Damaged(String),
    /// It cannot be read at all.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// A write-ahead log that cannot be read without writing beside it (see the module docs).
    #[error(
        "cannot be read without changing it: its write-ahead log (-wal) has commits but there is no -shm file; copy the database and its -wal file to a directory you may write and inspect the copy"
    )]
    WalWithoutShm,
    /// A rollback journal of a transaction that was cut off: only a connection that may
    /// write can roll it back.
    #[error(
        "cannot be read without changing it: a transaction was cut off and its rollback journal (-journal) must be played back first; open it once where it can be written (plantsync rolls the journal back), or copy the database and its -journal file to a directory you may write and inspect the copy"
    )]
    HotJournal,
    /// The database file is missing but the write-ahead log (`-wal`) of a database that was
    /// there is not: SQLite would replay that log over a fresh database.
    #[error(
        "is missing but its write-ahead log (-wal) is still there; plantsync created nothing: restore the database file beside it, or move the -wal and -shm files away to start a fresh database"
    )]
    MissingWithWal,
    /// The database file is missing but the rollback journal (`-journal`) of a database that
    /// was there is not: SQLite would play it back over a fresh database.
    #[error(
        "is missing but its rollback journal (-journal) is still there; plantsync created nothing: restore the database file beside it, or move the -journal file away to start a fresh database"
    )]
    MissingWithJournal,
    /// A SQLite database plantsync did not create (schema version 0 with tables in it).
    #[error(
        "is a SQLite database of another application, not a plantsync database; plantsync left it as it is: point --data-dir at another directory, or move the file away to start a fresh database"
    )]
    Foreign,
}

fn unusable(path: &Path, problem: Unusable) -> StoreError {
    StoreError::Unusable { path: path.to_path_buf(), problem }
}

/// Creates the database when there is none ([`create_fresh`]; refused when a log of a
/// database that was there is left, [`refuse_orphan_log`]); otherwise checks the file found
/// without changing it ([`check_existing`], [`refuse_foreign`]), then makes it and its
/// `-wal`/`-shm` owner-only (an older plantsync created them 0644) before any read-write
/// connection opens them, then runs the checks that need one ([`pre_write_check`]).
/// First it removes what a killed first run left ([`remove_stale_builds`]).
pub(super) fn create_or_check(path: &Path, check: Check) -> Result<()> {
    remove_stale_builds(path, STALE_BUILD_AGE);
    let missing = matches!(
        std::fs::symlink_metadata(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    if missing {
        refuse_orphan_log(path)?;
        // `false`: another process created it first; it is theirs, checked like any file found.
        if create_fresh(path, Links::Try)? {
            return Ok(());
        }
    }
    check_existing(path)?;
    refuse_foreign(path)?;
    // Best effort: a file of another owner that we may still write stays as it is.
    for file in [path.to_path_buf(), sibling(path, "-wal"), sibling(path, "-shm")] {
        if file.exists() {
            let _ = dir::restrict(&file);
        }
    }
    pre_write_check(path, check)
}

/// Refuses to create a database where the log of one that was there is left: a non-empty
/// `-wal` or `-journal` would be played back over the fresh file (garbage, or old rows
/// mixed with new). A `-shm` alone (or beside an empty `-wal`) is ignored: it is only an
/// index of the `-wal`, which the first connection resets, and it holds no data.
fn refuse_orphan_log(path: &Path) -> Result<()> {
    let holds = |suffix| std::fs::metadata(sibling(path, suffix)).is_ok_and(|m| m.len() > 0);
    if holds("-wal") {
        return Err(unusable(path, Unusable::MissingWithWal));
    }
    if holds("-journal") {
        return Err(unusable(path, Unusable::MissingWithJournal));
    }
    Ok(())
}

/// How old a temporary database of [`create_fresh`] must be to count as left by a killed
/// process: a first run builds its own in milliseconds, so a minute never removes the
/// file of a first run still under way.
const STALE_BUILD_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the temporary databases (`.plantsync.db.XXXXXX.new`, with their `-wal`, `-shm`
/// and `-journal`) beside `path` last changed more than `age` ago: what a first run
/// killed while building left, which nothing else would ever remove. Best effort.
fn remove_stale_builds(path: &Path, age: std::time::Duration) {
    let (parent, name) = parent_and_name(path);
    let prefix = build_prefix(&name);
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let ours = ["", "-wal", "-shm", "-journal"]
            .iter()
            .any(|log| rest.strip_suffix(log).is_some_and(|r| r.ends_with(BUILD_SUFFIX)));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|changed| changed.elapsed().ok())
            .is_some_and(|elapsed| elapsed > age);
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The end of [`create_fresh`]'s temporary names.
const BUILD_SUFFIX: &str = ".new";

/// The start of [`create_fresh`]'s temporary names for the database `name`.
fn build_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// The directory of `path` (`.` for a bare name) and its file name.
fn parent_and_name(path: &Path) -> (&Path, String) {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (parent, name)
}

/// Whether [`create_fresh`] may put its database into place by name (the seam its tests
/// use to take the branch of a file system that has no way to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Rename without replacing, or hard-link (every ordinary file system).
    Try,
    /// Act as a file system that supports neither (vfat, exFAT, some FUSE and SMB mounts).
    #[cfg(test)]
    Unsupported,
}

/// Builds a new database under a temporary name beside `path` (0600), migrates it, closes
/// it, then moves it to `path` without ever replacing a file there (tempfile's
/// `persist_noclobber`: `renameat2(RENAME_NOREPLACE)` on Linux, a hard link where that is
/// missing; on Windows it also clears the temporary-file attribute): `path` never exists
/// half made, so a process that starts at the same time finds either nothing or a whole
/// database (never the zero-byte file it would refuse). Returns `false` when another
/// process put its own there first (the temporary one is removed, theirs is used).
///
/// A file system that can do neither (vfat and exFAT sticks, rclone/s3fs mounts, some SMB
/// shares: "operation not permitted", "not supported") gets the database built in place
/// ([`create_in_place`]).
fn create_fresh(path: &Path, links: Links) -> Result<bool> {
    let create_err =
        |e: &std::io::Error| StoreError::Create { path: path.to_path_buf(), why: dir::in_words(e) };
    let (parent, name) = parent_and_name(path);
    let prefix = build_prefix(&name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(BUILD_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let temp = builder.tempfile_in(parent).map_err(|e| create_err(&e))?;
    {
        let mut conn = super::open_writer(temp.path())?;
        super::migrate::migrate(&mut conn, temp.path())?;
        // Closing checkpoints the log into the file and removes its -wal and -shm.
        conn.close()
            .map_err(|(_, source)| StoreError::Open { path: path.to_path_buf(), source })?;
    }
    let placed = match links {
        Links::Try => temp.persist_noclobber(path).map(drop).map_err(|e| {
            // The temporary name goes (dropping the file given back removes it).
            drop(e.file);
            e.error
        }),
        #[cfg(test)]
        Links::Unsupported => {
            drop(temp);
            Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
        }
    };
    match placed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if cannot_place(&e) => create_in_place(path, &e),
        Err(e) => Err(create_err(&e)),
    }
}

/// Whether moving a file into place failed because the file system has no way to do it
/// without replacing (rather than for a cause creating the file would meet as well).
fn cannot_place(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        error.kind(),
        K::Unsupported
            | K::CrossesDevices
            | K::InvalidInput
            | K::PermissionDenied
            | K::TooManyLinks
    )
}

/// The database built where it goes, for a file system that cannot move one into place
/// ([`create_fresh`]): the file is made with `create_new` (0600; `false` when another
/// process made it first), then migrated. Unlike a moved file it exists half made for the
/// milliseconds of the migration (a first run at that very moment refuses it as empty),
/// and a failed migration removes it again. `placing` is why the move failed, said when
/// this fails too.
fn create_in_place(path: &Path, placing: &std::io::Error) -> Result<bool> {
    let created = dir::private_file_options().write(true).create_new(true).open(path);
    match created {
        Ok(file) => drop(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => {
            let why = format!(
                "this file system cannot move a new file into place ({}), and creating it in place failed: {}",
                dir::in_words(placing),
                dir::in_words(&e)
            );
            return Err(StoreError::Create { path: path.to_path_buf(), why });
        }
    }
    let built = super::open_writer(path).and_then(|mut conn| {
        super::migrate::migrate(&mut conn, path)?;
        conn.close().map_err(|(_, source)| StoreError::Open { path: path.to_path_buf(), source })
    });
    if built.is_err() {
        for file in [path.to_path_buf(), sibling(path, "-wal"), sibling(path, "-shm")] {
            let _ = std::fs::remove_file(file);
        }
    }
    built.map(|()| true)
}

/// SQLite's 16-byte magic at the start of every database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The database header's size: a shorter file is not a database.
const HEADER_LEN: u64 = 100;

/// Refuses a file that is not a SQLite database (missing, empty, another format).
pub(super) fn check_existing(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(unusable(path, Unusable::Missing));
        }
        Err(e) => return Err(unusable(path, Unusable::Unreadable(dir::in_words(&e)))),
    };
    if meta.is_dir() {
        return Err(unusable(path, Unusable::IsDirectory));
    }
    if meta.len() == 0 {
        return Err(unusable(path, Unusable::Empty));
    }
    let mut magic = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut magic));
    match read {
        Ok(()) if &magic == SQLITE_MAGIC && meta.len() >= HEADER_LEN => Ok(()),
        Ok(()) => Err(unusable(path, Unusable::NotSqlite)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(unusable(path, Unusable::NotSqlite))
        }
        Err(e) => Err(unusable(path, Unusable::Unreadable(dir::in_words(&e)))),
    }
}

/// `PRAGMA quick_check`: every page's structure, without the slower index cross-checks of
/// `integrity_check` (which the agent runs after an unclean stop).
pub(super) fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let first: std::result::Result<String, rusqlite::Error> =
        conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0));
    match first {
        Ok(line) if line == "ok" => Ok(()),
        Ok(report) => Err(unusable(path, Unusable::Damaged(one_line(&report)))),
        Err(e) if is_damage(&e) => Err(unusable(path, Unusable::Damaged(e.to_string()))),
        Err(e) => Err(StoreError::Open { path: path.to_path_buf(), source: e }),
    }
}

/// SQLite's report on one line, without its `*** in database main ***` heading.
fn one_line(report: &str) -> String {
    let lines: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("*** in database"))
        .collect();
    lines.join("; ")
}

fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// What read-only connections to `path` open, chosen from the files beside it (never by
/// trying: a read-only connection SQLite may write beside creates `-shm` and `-wal`):
///
/// * a hot rollback journal: refused ([`Unusable::HotJournal`]): only a connection that
///   may write can roll it back, and reading without that would read a half-written file;
/// * a `-shm` and a `-wal`: the path itself, read through the shared memory the writer
///   keeps (a live writer always has both);
/// * no `-shm` and a `-wal` with commits: refused, whatever the directory's mode (reading
///   it would create the `-shm` beside it, and `immutable` would ignore the log);
/// * otherwise (no `-wal`, or an empty one without `-shm`; a `-shm` without `-wal` holds
///   nothing): an `immutable=1` URI, exact for that file and creating nothing.
///
/// `immutable=1` tells SQLite nobody changes the file while it is read. That holds here:
/// this path is taken only for a data dir or a database file this process may not write
/// (`open_store` in `app.rs`), and no writer has the database open (a WAL writer always
/// keeps a `-wal`). The writer and its checks never open `immutable`.
pub(super) fn read_only_target(path: &Path) -> Result<String> {
    match Beside::look(path) {
        Beside::HotJournal => Err(unusable(path, Unusable::HotJournal)),
        Beside::Live => Ok(path.display().to_string()),
        Beside::WalWithoutShm => Err(unusable(path, Unusable::WalWithoutShm)),
        Beside::Nothing => Ok(immutable_uri(path)),
    }
}

/// The files SQLite keeps beside a database, as far as choosing how to read it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beside {
    /// A rollback journal that starts with SQLite's journal magic: a transaction was cut
    /// off and only a writer can roll it back.
    HotJournal,
    /// A `-shm` and a `-wal` (a live or cleanly copied WAL database).
    Live,
    /// A `-wal` with commits and no `-shm`.
    WalWithoutShm,
    /// Nothing to read beside the file (a `-wal` of zero bytes, or a `-shm` alone, holds
    /// nothing).
    Nothing,
}

/// The first 8 bytes of a rollback journal that still has to be played back (SQLite
/// deletes or truncates the file, or zeroes its header, when a transaction ends).
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

impl Beside {
    fn look(path: &Path) -> Self {
        let mut magic = [0u8; 8];
        let journal = std::fs::File::open(sibling(path, "-journal"))
            .and_then(|mut file| file.read_exact(&mut magic));
        if journal.is_ok() && magic == JOURNAL_MAGIC {
            return Self::HotJournal;
        }
        let shm = sibling(path, "-shm").exists();
        let wal = std::fs::metadata(sibling(path, "-wal")).ok().map(|m| m.len());
        match (shm, wal) {
            (true, Some(_)) => Self::Live,
            (false, Some(len)) if len > 0 => Self::WalWithoutShm,
            _ => Self::Nothing,
        }
    }
}

/// Refuses a database of another application ([`Unusable::Foreign`]: schema version 0
/// with tables) before anything may change it: on an `immutable=1` read-only connection,
/// which creates nothing beside the file, rolls back no journal and changes no mode. Only
/// a clear "foreign" refuses here; a file this connection cannot read (a half-written
/// page under a hot journal) is left to [`pre_write_check`], which rolls the journal back
/// first. `immutable` ignores a `-wal`, but a plantsync database never shows version 0
/// with tables in its main file (the first step sets both in one transaction).
fn refuse_foreign(path: &Path) -> Result<()> {
    let Ok(conn) = super::open_reader(path, &immutable_uri(path)) else { return Ok(()) };
    let version: Option<i64> = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).ok();
    if version == Some(0) && has_schema(&conn).unwrap_or(false) {
        return Err(unusable(path, Unusable::Foreign));
    }
    Ok(())
}

/// The checks of an existing file before the writer opens it, so a refused file is left
/// exactly as it was (the writer's `journal_mode=WAL` rewrites the header): a file of
/// another application is refused ([`Unusable::Foreign`]), and with [`Check::Quick`] a
/// damaged one. They run on a read-write connection that creates nothing and sets no
/// pragma: it rolls back a hot journal (SQLite's ordinary recovery, which a read-only
/// connection cannot do) and leaves the journal mode alone. Never `immutable`: another
/// process may be writing.
pub(super) fn pre_write_check(path: &Path, check: Check) -> Result<()> {
    let conn = super::open_for_check(path)?;
    let read = |e: rusqlite::Error| {
        if is_damage(&e) {
            unusable(path, Unusable::Damaged(e.to_string()))
        } else {
            StoreError::Open { path: path.to_path_buf(), source: e }
        }
    };
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(read)?;
    if version == 0
        && has_schema(&conn).map_err(|e| match e {
            StoreError::Sqlite(e) => read(e),
            other => other,
        })?
    {
        return Err(unusable(path, Unusable::Foreign));
    }
    if check == Check::Quick {
        quick_check(&conn, path)?;
    }
    Ok(())
}

/// Whether the database has any table, index, view or trigger: at schema version 0 that
/// means another application made it (plantsync's first step sets the version in the same
/// transaction that creates its tables).
pub(super) fn has_schema(conn: &Connection) -> Result<bool> {
    let entries: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    Ok(entries > 0)
}

/// `plantsync.db` to `plantsync.db-wal`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `file:` URI of `path` for a file nobody changes while it is read.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.display().to_string().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            '\\' if cfg!(windows) => uri.push('/'),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests look at the files behind the store's back
mod tests {
    use super::*;
    use crate::store::Store;

    fn refused(path: &Path) -> Unusable {
        match Store::open(path) {
            Err(StoreError::Unusable { problem, .. }) => problem,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_file_plantsync_creates_becomes_a_database_one_it_finds_empty_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        Store::open(&path).unwrap().close();
        assert!(std::fs::metadata(&path).unwrap().len() > 0);

        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(refused(&empty), Unusable::Empty);
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "left as it was");

        let text = dir.path().join("text.db");
        std::fs::write(&text, b"name,kw\nroof,5\n").unwrap();
        assert_eq!(refused(&text), Unusable::NotSqlite);
        assert_eq!(std::fs::read(&text).unwrap(), b"name,kw\nroof,5\n");
    }

    #[cfg(unix)]
    #[test]
    fn the_database_is_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        let store = Store::open(&path).unwrap();
        for file in [path.clone(), sibling(&path, "-wal"), sibling(&path, "-shm")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        store.close();
    }

    #[tokio::test]
    async fn a_read_only_store_reads_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        Store::open(&path).unwrap().close();
        let store = Store::open_read_only(&path).unwrap();
        assert!(store.list_orgs().await.unwrap().is_empty());
        let new = crate::domain::NewOrganization {
            name: "x".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        };
        assert!(matches!(store.add_org(new).await, Err(StoreError::ReadOnly { .. })));
        let missing = Store::open_read_only(dir.path().join("none.db")).unwrap_err();
        assert!(matches!(missing, StoreError::Unusable { problem: Unusable::Missing, .. }));
    }

    #[test]
    fn a_file_system_without_links_gets_the_database_built_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        assert!(create_fresh(&path, Links::Unsupported).unwrap(), "created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["plantsync.db".to_owned()], "no temporary file is left");
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, crate::store::SCHEMA_VERSION);
        drop(conn);
        // Another process that comes second uses the first one's database.
        assert!(!create_fresh(&path, Links::Unsupported).unwrap(), "the other one won");
        assert!(!create_fresh(&path, Links::Try).unwrap(), "the other one won");
        Store::open(&path).unwrap().close();
    }

    #[test]
    fn a_missing_database_with_its_log_left_is_refused_and_nothing_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        for (log, problem) in
            [("-wal", Unusable::MissingWithWal), ("-journal", Unusable::MissingWithJournal)]
        {
            std::fs::write(sibling(&path, log), b"old log bytes").unwrap();
            assert_eq!(refused(&path), problem, "{log}");
            assert!(!path.exists(), "{log}: nothing created");
            assert_eq!(std::fs::read(sibling(&path, log)).unwrap(), b"old log bytes");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
            assert_eq!(left.len(), 1, "{log}: only the log is there");
            std::fs::remove_file(sibling(&path, log)).unwrap();
        }
        // Closed, not dropped: the writer thread must not remove files after the test
        // wrote the next ones.
        Store::open(&path).unwrap().close();
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_file(sibling(&path, "-wal"));
        let _ = std::fs::remove_file(sibling(&path, "-shm"));
        // A -shm alone (and an empty -wal) holds nothing: the database is created.
        std::fs::write(sibling(&path, "-shm"), vec![7u8; 32768]).unwrap();
        std::fs::write(sibling(&path, "-wal"), b"").unwrap();
        let store = Store::open(&path).unwrap();
        store.close();
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, crate::store::SCHEMA_VERSION);
    }

    #[test]
    fn the_message_of_a_missing_database_with_its_wal_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        std::fs::write(sibling(&path, "-wal"), b"x").unwrap();
        assert_eq!(
            Store::open(&path).unwrap_err().to_string(),
            format!(
                "database {} is missing but its write-ahead log (-wal) is still there; plantsync created nothing: restore the database file beside it, or move the -wal and -shm files away to start a fresh database",
                path.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_database_of_another_application_keeps_its_mode_and_bytes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)").unwrap();
        drop(conn);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert_eq!(refused(&path), Unusable::Foreign);
        assert!(matches!(
            Store::open_checked(&path),
            Err(StoreError::Unusable { problem: Unusable::Foreign, .. })
        ));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "the mode is left as it was");
        assert_eq!(std::fs::read(&path).unwrap(), before, "the bytes are left as they were");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "nothing was created beside it");
    }

    #[test]
    fn temporary_databases_a_killed_first_run_left_are_removed_after_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantsync.db");
        let stale = [
            ".plantsync.db.Ab12Cd.new",
            ".plantsync.db.Ab12Cd.new-wal",
            ".plantsync.db.Ab12Cd.new-shm",
        ];
        let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for name in stale {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            file.set_modified(two_minutes_ago).unwrap();
        }
        // A first run under way right now, and files that are not a temporary database.
        let fresh = [".plantsync.db.Zz99Yy.new", ".plantsync.db.Zz99Yy.new-wal"];
        let others = [".agent.json.Qq11Ww.new", ".plantsync.db.notes"];
        for name in fresh.iter().chain(&others) {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            if others.contains(name) {
                file.set_modified(two_minutes_ago).unwrap();
            }
        }
        Store::open(&path).unwrap().close();
        for name in stale {
            assert!(!dir.path().join(name).exists(), "{name} was removed");
        }
        for name in fresh.iter().chain(&others) {
            assert!(dir.path().join(name).exists(), "{name} was kept");
        }
        // And on every later open too.
        let file = std::fs::File::create(dir.path().join(stale[0])).unwrap();
        file.set_modified(two_minutes_ago).unwrap();
        Store::open(&path).unwrap().close();
        assert!(!dir.path().join(stale[0]).exists());
    }

    #[test]
    fn uris_escape_what_sqlite_would_parse() {
        assert_eq!(
            immutable_uri(Path::new("/a b/50%?#/x.db")),
            "file:/a b/50%25%3f%23/x.db?mode=ro&immutable=1"
        );
    }
}
