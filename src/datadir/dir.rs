//! The data dir itself, and the one way plantsync creates anything in it.
//!
//! # Modes
//!
//! The database holds the vendors' credentials, so every directory plantsync creates is
//! `0700` and every file it creates or rewrites is `0600`, set when the file is created
//! (`O_CREAT` with the mode), never chmod-ed afterwards, so there is no instant in which
//! another user could open it. The helpers here are the only place that decides a mode;
//! the lock, the token, the log files, the store and `init` use them.
//!
//! A directory that already exists is left as it is: it may be the user's own (a data dir
//! they made group-readable for a backup user), and the files inside it are owner-only
//! whatever the directory's mode. plantsync never loosens a mode.
//!
//! # Preparing
//!
//! [`prepare`] runs before logging and the store, so a bad `--data-dir` is reported once,
//! in words, before anything else tried to create files in it: "is a file, not a
//! directory", "permission denied". It also says whether the process may write there, so
//! inspection commands can read a read-only copy instead of failing on it.

use std::io;
use std::path::{Path, PathBuf};

/// Whether the process may create files in the data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAccess {
    /// It may: everything works.
    Writable,
    /// It may not (a read-only copy, another user's dir): only reading is possible.
    ReadOnly,
}

/// A data dir that exists and is a directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
    access: DirAccess,
}

impl DataDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether files can be created in it.
    pub fn access(&self) -> DirAccess {
        self.access
    }
}

/// Why the data dir cannot be used. Each says one cause, in words; all are usage errors
/// (the user named, or configured, a path plantsync cannot use).
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The path exists and is not a directory.
    #[error("data dir {} is a file, not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// It could not be created.
    #[error("cannot create data dir {}: {}", .path.display(), .why)]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why, in words.
        why: String,
    },
    /// It exists but the process may not write there, and the command must.
    #[error("cannot write to data dir {}: permission denied", .0.display())]
    NotWritable(PathBuf),
    /// A read-only data dir without a database: nothing to read, and none can be made.
    #[error("data dir {} has no database and is read-only, so none can be created there: permission denied", .0.display())]
    NoDatabase(PathBuf),
    /// The database exists but the process may not write it, and the command must.
    #[error("cannot write to database {}: permission denied", .0.display())]
    DatabaseReadOnly(PathBuf),
    /// It could not be looked at.
    #[error("cannot use data dir {}: {}", .path.display(), .why)]
    Inaccessible {
        /// The directory.
        path: PathBuf,
        /// Why, in words.
        why: String,
    },
}

/// Makes sure `path` is a usable data dir: creates it (and its missing parents) with mode
/// 0700 when it does not exist, refuses a path that is a file, and finds out whether files
/// can be created in it (by creating and removing a probe file: the only test that holds
/// for every user, root included, and every filesystem, read-only mounts included).
pub fn prepare(path: &Path) -> Result<DataDir, DataDirError> {
    let owned = || path.to_path_buf();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(DataDirError::NotADirectory(owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(path).map_err(|e| DataDirError::Create {
                path: owned(),
                why: create_failure(path, &e),
            })?;
            return Ok(DataDir { path: owned(), access: DirAccess::Writable });
        }
        // A parent is a file: it cannot be created, say which parent.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(DataDirError::Create { path: owned(), why: create_failure(path, &e) });
        }
        Err(e) => return Err(DataDirError::Inaccessible { path: owned(), why: in_words(&e) }),
    }
    let access = probe(path)
        .map_err(|e| DataDirError::Inaccessible { path: owned(), why: probe_failure(&e) })?;
    Ok(DataDir { path: owned(), access })
}

/// Creates and removes a probe file under a fresh random name (`create_new`, retried on a
/// name that exists), so a probe left by a killed process, even one of the same pid (1 in
/// every container), never decides anything.
fn probe(dir: &Path) -> io::Result<DirAccess> {
    let created = tempfile::Builder::new().prefix(".plantsync-probe-").tempfile_in(dir);
    access_from(created.map(drop))
}

/// What creating the probe says about the directory: only "permission denied" and a
/// read-only file system mean read-only; anything else (a full disk, too many open files)
/// is a problem to report, not a read-only directory.
fn access_from(created: io::Result<()>) -> io::Result<DirAccess> {
    match created {
        Ok(()) => Ok(DirAccess::Writable),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Ok(DirAccess::ReadOnly)
        }
        Err(e) => Err(e),
    }
}

/// Why the probe could not be created, in words.
fn probe_failure(error: &io::Error) -> String {
    format!("cannot create a file in it: {}", in_words(error))
}

/// Whether the process may write the existing file `path` (a file that cannot be
/// opened for another reason counts as writable: opening it says why).
pub fn is_writable_file(path: &Path) -> bool {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => true,
        Err(e) => {
            !matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem)
        }
    }
}

/// Why creating `path` failed: names the ancestor that is a file, when one is.
fn create_failure(path: &Path, error: &io::Error) -> String {
    let file_ancestor = path.ancestors().skip(1).find(|a| a.is_file());
    match file_ancestor {
        Some(file) => format!("{} is a file, not a directory", file.display()),
        None => in_words(error),
    }
}

/// Creates `dir` and its missing parents, each with mode 0700. An existing directory is
/// left as it is (see the module docs).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Open options whose `create` makes the file with mode 0600.
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)] // `mut` is needed on unix only
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Replaces `path` with `bytes`, atomically: they are written to a new file beside it
/// (created 0600 with `create_new` under a random name `.NAME.XXXXXX.new`) that is then
/// renamed over it. A reader sees the old content or the new, never a truncated file, and
/// the new file is owner-only from its first byte whatever mode the old one had. A symlink
/// at `path` is replaced itself (the rename replaces the link, its target is untouched):
/// the files of the data dir (`agent.json`, `sync.json`) are written by an agent into a
/// directory its group may share, and following a link a group member planted there
/// (`agent.json -> ~agent/.ssh/authorized_keys`) would overwrite any file of the agent's
/// user. A process killed between the two steps leaves its temporary file;
/// [`remove_stale_temps`] clears those.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_private(path, bytes)
}

/// [`write_private`] for a file the user names themselves (the config file of
/// `init --force`): a symlink at `path` is followed first (the new file is made beside its
/// target, which it replaces), so a linked file (a config file kept with the user's
/// dotfiles) stays linked. Never for a file in the data dir (see [`write_private`]).
pub fn write_private_following(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_private(&follow_links(path)?, bytes)
}

/// Writes `bytes` to a new 0600 file beside `path` and renames it over `path`.
fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    let prefix = temp_prefix(&name);
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir)?;
    io::Write::write_all(&mut temp, bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The end of [`write_private`]'s temporary names.
const TEMP_SUFFIX: &str = ".new";

/// The start of [`write_private`]'s temporary names for the file `name`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// How many links [`follow_links`] follows before it gives up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// `path` with every symlink at its end followed (a link to a link, a dangling link: the
/// file it names); a path that is not a symlink is returned as it is.
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other(format!("{}: too many levels of symbolic links", path.display())))
}

/// Removes the temporary files [`write_private`] left for `name` in `dir` when a process
/// was killed mid-write. Only for files one process writes at a time (the lock's
/// `agent.json`/`sync.json`, while the lock is held): another writer's temporary file
/// would be removed under it. Best effort.
pub fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = temp_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(TEMP_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes a file plantsync owns readable by its owner only (for files an older plantsync
/// created with the default mode).
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// An I/O error's cause in words, without the OS error number: "permission denied",
/// "no such file or directory", "not a directory". Messages say the cause once and in
/// words; the number adds nothing a field office can act on.
pub fn in_words(error: &io::Error) -> String {
    use io::ErrorKind as K;
    let words = match error.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::AlreadyExists => "it already exists",
        K::NotADirectory => "not a directory",
        K::IsADirectory => "is a directory",
        K::ReadOnlyFilesystem => "read-only file system",
        K::StorageFull => "no space left on the device",
        K::DirectoryNotEmpty => "directory not empty",
        K::InvalidFilename => "invalid file name",
        _ => return strip_os_code(&error.to_string()),
    };
    words.to_owned()
}

/// `"Some text (os error 5)"` to `"some text"`.
fn strip_os_code(text: &str) -> String {
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_dir_is_created_private_with_its_parents() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/data");
        let prepared = prepare(&dir).unwrap();
        assert_eq!(prepared.access(), DirAccess::Writable);
        #[cfg(unix)]
        for created in [root.path().join("a"), root.path().join("a/b"), dir.clone()] {
            assert_eq!(mode(&created), 0o700, "{}", created.display());
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the probe is gone");
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_dir_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        prepare(root.path()).unwrap();
        assert_eq!(mode(root.path()), 0o750);
    }

    #[test]
    fn a_file_is_not_a_data_dir() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = prepare(&file).unwrap_err().to_string();
        assert_eq!(err, format!("data dir {} is a file, not a directory", file.display()));
        let err = prepare(&file.join("sub")).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cannot create data dir {}: {} is a file, not a directory",
                file.join("sub").display(),
                file.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_created_0600_and_old_ones_tightened() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("x.json");
        write_private(&path, b"{}").unwrap();
        assert_eq!(mode(&path), 0o600);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"{}").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_probe_left_by_a_killed_process_of_the_same_pid_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        // What a `kill -9` left behind, under the name this very process would have used.
        let stale = root.path().join(format!(".plantsync-probe-{}", std::process::id()));
        std::fs::write(&stale, "").unwrap();
        assert_eq!(prepare(root.path()).unwrap().access(), DirAccess::Writable);
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "only the stale probe remains, the new one is gone");
    }

    #[cfg(unix)]
    #[test]
    fn only_denied_and_read_only_file_systems_mean_read_only() {
        let from = |code| access_from(Err(io::Error::from_raw_os_error(code)));
        assert_eq!(from(13).unwrap(), DirAccess::ReadOnly, "EACCES");
        assert_eq!(from(30).unwrap(), DirAccess::ReadOnly, "EROFS");
        assert_eq!(
            probe_failure(&from(28).unwrap_err()),
            "cannot create a file in it: no space left on the device"
        );
        assert_eq!(
            probe_failure(&from(24).unwrap_err()),
            "cannot create a file in it: too many open files"
        );
    }

    #[test]
    fn a_private_file_is_replaced_whole_never_rewritten_in_place() {
        use std::io::Read;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("agent.json");
        write_private(&path, b"old content").unwrap();
        // A reader that opened the file before the rewrite keeps reading the old file.
        let mut reader = std::fs::File::open(&path).unwrap();
        write_private(&path, b"new").unwrap();
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old content");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[cfg(unix)]
    #[test]
    fn io_errors_in_words() {
        let denied = io::Error::from_raw_os_error(13);
        assert_eq!(in_words(&denied), "permission denied");
        assert_eq!(strip_os_code("Too many links (os error 31)"), "too many links");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_rewritten_at_its_target_and_stays_linked() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = root.path().join("dotfiles");
        std::fs::create_dir(&elsewhere).unwrap();
        let target = elsewhere.join("config.toml");
        std::fs::write(&target, b"old").unwrap();
        let link = root.path().join("config.toml");
        std::os::unix::fs::symlink("dotfiles/config.toml", &link).unwrap();
        write_private_following(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A dangling link: the file it names is created.
        std::fs::remove_file(&target).unwrap();
        write_private_following(&link, b"fresh").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"fresh");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlinked_agent_json_is_replaced_and_its_target_left_untouched() {
        use crate::datadir::lock::DataDirLock;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // What a member of a shared data dir's group could plant.
        let target = root.path().join("authorized_keys");
        std::fs::write(&target, b"ssh-ed25519 AAAA owner").unwrap();
        let link = data.join("agent.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (lock, _) = DataDirLock::acquire_for_agent(&data, |_| {}).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"ssh-ed25519 AAAA owner", "target untouched");
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_file(), "the link itself was replaced by the agent's file");
        assert_eq!(mode(&link), 0o600);
        lock.release();
        assert_eq!(std::fs::read(&target).unwrap(), b"ssh-ed25519 AAAA owner");
        // The same for a direct write.
        std::os::unix::fs::symlink(&target, data.join("sync.json")).unwrap();
        write_private(&data.join("sync.json"), b"{}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"ssh-ed25519 AAAA owner");
        assert_eq!(std::fs::read(data.join("sync.json")).unwrap(), b"{}");
    }

    #[tokio::test]
    async fn taking_the_lock_removes_what_a_killed_writer_left() {
        use crate::datadir::lock::DataDirLock;
        let root = tempfile::tempdir().unwrap();
        // What `kill -9` between write and rename leaves, for both of the lock's files.
        let stale = [".agent.json.Ab12Cd.new", ".sync.json.Zz99Yy.new"];
        for name in stale {
            std::fs::write(root.path().join(name), b"{").unwrap();
        }
        let other = root.path().join(".plantsync.db.Qq11Ww.new");
        std::fs::write(&other, b"").unwrap();
        let (lock, _) = DataDirLock::acquire_for_agent(root.path(), |_| {}).await.unwrap();
        for name in stale {
            assert!(!root.path().join(name).exists(), "{name} was removed");
        }
        assert!(other.exists(), "only the lock's own temporary files are removed");
        lock.release();
        for name in stale {
            std::fs::write(root.path().join(name), b"{").unwrap();
        }
        let access =
            DataDirLock::acquire_for_sync(root.path(), crate::domain::RunKind::Plants, |_| {})
                .await
                .unwrap();
        for name in stale {
            assert!(!root.path().join(name).exists(), "{name} was removed by a CLI sync");
        }
        drop(access);
    }
}
