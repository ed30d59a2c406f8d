//! One syncing process per data dir: an exclusive lock on `agent.lock`, held by the agent
//! for its whole life and by a CLI sync for the length of its run, and the files that say
//! who holds it (`agent.json` for an agent, with its API address; `sync.json` for a CLI
//! sync).
//!
//! # Who holds the lock
//!
//! While the lock is held, `sync.json` exists exactly when a CLI sync holds it: a CLI sync
//! writes it right after taking the lock and removes it when done; an agent removes a stale
//! one (left by a killed CLI sync) right after taking the lock. `agent.json` may be stale
//! (left by a killed agent) while a CLI sync holds the lock, so `sync.json` is looked at
//! first. Both files are written after the lock is taken, so for an instant a holder may be
//! unknown; callers poll, they never conclude from one look.
//!
//! Waiting is polling `try_lock` every 100 ms on tokio's timer: a blocking `lock()` could
//! not notice that the holder changed from a CLI sync (worth waiting for) to an agent
//! (which the CLI talks to instead).

use crate::domain::{RunKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file.
pub const LOCK_FILE: &str = "agent.lock";
/// What the running agent publishes.
pub const INFO_FILE: &str = "agent.json";
/// What a CLI sync holding the lock publishes.
pub const SYNC_FILE: &str = "sync.json";

/// How often a waiting process looks at the lock again.
const POLL: Duration = Duration::from_millis(100);
/// How long an agent keeps looking before it concludes that another agent holds the lock:
/// a holder writes its file right after taking the lock, and a process that only checks
/// who holds it (`plantsync status`) holds it for an instant, so one look proves nothing.
const HOLDER_GRACE: Duration = Duration::from_millis(500);
/// How long a CLI sync waits for a lock whose holder never says who it is.
const UNKNOWN_HOLDER_WAIT: Duration = Duration::from_secs(30);

/// What a running agent publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Its process id.
    pub pid: u32,
    /// Where its API listens; `None` while it is starting (recovering, binding).
    pub api: Option<String>,
    /// When it started.
    pub started_at: String,
}

/// What a CLI process holding the lock does: a sync of one kind, or an upstream push (one
/// push per data dir at a time, like one sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// `sync plants`.
    Plants,
    /// `sync alerts`.
    Alerts,
    /// `push`.
    Push,
}

impl From<RunKind> for Work {
    fn from(kind: RunKind) -> Self {
        match kind {
            RunKind::Plants => Self::Plants,
            RunKind::Alerts => Self::Alerts,
        }
    }
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plants => "plants sync",
            Self::Alerts => "alerts sync",
            Self::Push => "upstream push",
        })
    }
}

/// What a CLI sync holding the lock publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// Its process id.
    pub pid: u32,
    /// What it does.
    pub kind: Work,
    /// When it took the lock.
    pub started_at: String,
}

/// Who holds the data dir's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Nobody.
    Free,
    /// A running agent.
    Agent(AgentInfo),
    /// A CLI sync.
    Sync(SyncInfo),
    /// Someone who has not said yet (an instant after taking it).
    Unknown,
}

impl Holder {
    /// Who holds the lock, for a "waiting for ..." line.
    pub fn describe(&self) -> String {
        match self {
            Self::Free => "nobody".to_owned(),
            Self::Agent(agent) if agent.api.is_none() => {
                format!("the agent (pid {}) that is starting on this data dir", agent.pid)
            }
            Self::Agent(agent) => format!("the agent (pid {}) on this data dir", agent.pid),
            Self::Sync(sync) => format!(
                "the {} of another plantsync (pid {}) on this data dir",
                sync.kind, sync.pid
            ),
            Self::Unknown => "a process holding this data dir's lock".to_owned(),
        }
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent holds it.
    #[error("another plantsync agent{} is already running on {dir}; stop it first", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AgentRunning {
        /// The data dir.
        dir: String,
        /// The other agent's pid, when known.
        pid: Option<u32>,
    },
    /// Another process holds the lock and never said who it is.
    #[error(
        "another process holds the lock of {dir} (agent.lock) and does not say who it is; if none should, check for a stuck plantsync"
    )]
    Unknown {
        /// The data dir.
        dir: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot use the lock of {dir}: {}", super::dir::in_words(.source))]
    Io {
        /// The data dir.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The held lock. An agent's is released with [`DataDirLock::release`] at a clean stop (so
/// `agent.json` goes); a CLI sync's removes `sync.json` when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    dir: PathBuf,
    role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Agent,
    Sync,
}

/// Who holds the lock of `data_dir` now.
pub fn holder(data_dir: &Path) -> Holder {
    let Ok(file) = File::options().read(true).write(true).open(data_dir.join(LOCK_FILE)) else {
        return Holder::Free;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            return Holder::Free;
        }
        Err(std::fs::TryLockError::WouldBlock) => {}
        // Locks unsupported here (some network filesystems): nobody can be told apart.
        Err(std::fs::TryLockError::Error(_)) => return Holder::Unknown,
    }
    if let Some(sync) = read_json::<SyncInfo>(&data_dir.join(SYNC_FILE)) {
        return Holder::Sync(sync);
    }
    match read_json::<AgentInfo>(&data_dir.join(INFO_FILE)) {
        Some(agent) => Holder::Agent(agent),
        None => Holder::Unknown,
    }
}

/// The agent running on `data_dir`, if one holds the lock.
pub fn running_agent(data_dir: &Path) -> Option<AgentInfo> {
    match holder(data_dir) {
        Holder::Agent(agent) => Some(agent),
        _ => None,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn open_lock_file(data_dir: &Path) -> Result<File, LockError> {
    let io = |source| LockError::Io { dir: data_dir.display().to_string(), source };
    super::dir::create_private_dir(data_dir).map_err(io)?;
    super::dir::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))
        .map_err(io)
}

/// What a process waiting for the lock learns on each look.
enum Look {
    Taken(File),
    HeldBy(Holder),
}

fn look(file: File, data_dir: &Path) -> Result<Look, LockError> {
    match file.try_lock() {
        Ok(()) => return Ok(Look::Taken(file)),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(LockError::Io { dir: data_dir.display().to_string(), source });
        }
    }
    Ok(Look::HeldBy(match holder(data_dir) {
        // Released between our try and the holder check: try again at once next time.
        Holder::Free => Holder::Unknown,
        other => other,
    }))
}

/// The temporary files of `agent.json` and `sync.json` a process killed mid-write left
/// (see [`super::dir::write_private`]): with the lock held, nobody else writes them.
fn remove_stale_temps(data_dir: &Path) {
    for name in [INFO_FILE, SYNC_FILE] {
        super::dir::remove_stale_temps(data_dir, name);
    }
}

/// How a CLI sync gets to sync.
#[derive(Debug)]
pub enum SyncAccess {
    /// It holds the lock and syncs itself.
    Locked(DataDirLock),
    /// An agent runs on the data dir: the sync goes through its API.
    Agent(AgentInfo),
}

impl DataDirLock {
    /// Takes the lock for the agent, waiting while a CLI sync holds it (`waiting` is called
    /// once with it). Another agent is an error. Returns whether the previous agent stopped
    /// uncleanly (its `agent.json` was still there), after replacing that file with this
    /// agent's "starting" entry, so nobody talks to the dead agent's address meanwhile.
    pub async fn acquire_for_agent(
        data_dir: &Path,
        mut waiting: impl FnMut(&SyncInfo),
    ) -> Result<(Self, bool), LockError> {
        let mut told = false;
        let mut other_since: Option<tokio::time::Instant> = None;
        loop {
            match look(open_lock_file(data_dir)?, data_dir)? {
                Look::Taken(file) => {
                    // A CLI sync killed with its lock held left its file behind.
                    let _ = std::fs::remove_file(data_dir.join(SYNC_FILE));
                    remove_stale_temps(data_dir);
                    let unclean = data_dir.join(INFO_FILE).exists();
                    let lock = Self { _file: file, dir: data_dir.to_path_buf(), role: Role::Agent };
                    lock.publisher().publish(&AgentInfo {
                        pid: std::process::id(),
                        api: None,
                        started_at: Timestamp::now().to_canonical(),
                    })?;
                    return Ok((lock, unclean));
                }
                Look::HeldBy(Holder::Sync(sync)) => {
                    other_since = None;
                    if !told {
                        waiting(&sync);
                        told = true;
                    }
                }
                Look::HeldBy(holder) => {
                    let since = *other_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= HOLDER_GRACE {
                        let pid = match holder {
                            Holder::Agent(agent) => Some(agent.pid),
                            _ => None,
                        };
                        let dir = data_dir.display().to_string();
                        return Err(LockError::AgentRunning { dir, pid });
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Gets a CLI sync of `kind` its way to sync: the lock (waiting while another CLI sync
    /// holds it, or an agent is starting; `waiting` is told once what it waits for), or the
    /// running agent to ask instead.
    pub async fn acquire_for_sync(
        data_dir: &Path,
        kind: impl Into<Work>,
        mut waiting: impl FnMut(&Holder),
    ) -> Result<SyncAccess, LockError> {
        let kind = kind.into();
        let mut told = false;
        let mut unknown_since: Option<tokio::time::Instant> = None;
        loop {
            match look(open_lock_file(data_dir)?, data_dir)? {
                Look::Taken(file) => {
                    remove_stale_temps(data_dir);
                    let lock = Self { _file: file, dir: data_dir.to_path_buf(), role: Role::Sync };
                    let info = SyncInfo {
                        pid: std::process::id(),
                        kind,
                        started_at: Timestamp::now().to_canonical(),
                    };
                    lock.write(SYNC_FILE, &info)?;
                    return Ok(SyncAccess::Locked(lock));
                }
                Look::HeldBy(Holder::Agent(agent)) if agent.api.is_some() => {
                    return Ok(SyncAccess::Agent(agent));
                }
                Look::HeldBy(holder @ (Holder::Sync(_) | Holder::Agent(_))) => {
                    unknown_since = None;
                    if !told {
                        waiting(&holder);
                        told = true;
                    }
                }
                Look::HeldBy(holder) => {
                    let since = *unknown_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= UNKNOWN_HOLDER_WAIT {
                        return Err(LockError::Unknown { dir: data_dir.display().to_string() });
                    }
                    if !told && since.elapsed() >= HOLDER_GRACE {
                        waiting(&holder);
                        told = true;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<(), LockError> {
        let io = |source| LockError::Io { dir: self.dir.display().to_string(), source };
        let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other).map_err(io)?;
        super::dir::write_private(&self.dir.join(name), &bytes).map_err(io)
    }

    /// What the agent uses to publish where its API listens, once it knows (only the
    /// holder of the lock can make one).
    pub fn publisher(&self) -> AgentPublisher {
        AgentPublisher { dir: self.dir.clone() }
    }

    /// Marks an agent's clean stop: `agent.json` goes away, the lock is released on drop.
    pub fn release(self) {
        if self.role == Role::Agent {
            let _ = std::fs::remove_file(self.dir.join(INFO_FILE));
        }
    }
}

/// Writes `agent.json` for the agent holding the lock.
#[derive(Debug, Clone)]
pub struct AgentPublisher {
    dir: PathBuf,
}

impl AgentPublisher {
    /// Publishes the agent's `info` for the CLI.
    pub fn publish(&self, info: &AgentInfo) -> Result<(), LockError> {
        let io = |source| LockError::Io { dir: self.dir.display().to_string(), source };
        let bytes = serde_json::to_vec_pretty(info).map_err(std::io::Error::other).map_err(io)?;
        super::dir::write_private(&self.dir.join(INFO_FILE), &bytes).map_err(io)
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Dropped without `release`, an agent's `agent.json` stays: the next agent must see
        // the unclean stop. A CLI sync's file always goes with it.
        if self.role == Role::Sync {
            let _ = std::fs::remove_file(self.dir.join(SYNC_FILE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &SyncInfo) {
        panic!("nobody should wait here");
    }

    fn never_holder(_: &Holder) {
        panic!("nobody should wait here");
    }

    #[tokio::test]
    async fn second_agent_fails_naming_the_pid_and_unclean_stop_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, unclean) = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap();
        assert!(!unclean);
        assert_eq!(running_agent(dir.path()).unwrap().api, None, "starting: no API yet");
        lock.publisher()
            .publish(&AgentInfo {
                pid: 4242,
                api: Some("127.0.0.1:1".into()),
                started_at: "t".into(),
            })
            .unwrap();
        let err = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap_err().to_string();
        assert!(err.contains("(pid 4242)"), "{err}");
        assert_eq!(running_agent(dir.path()).unwrap().pid, 4242);
        // A CLI sync is sent to the agent.
        let access = DataDirLock::acquire_for_sync(dir.path(), RunKind::Plants, never_holder).await;
        assert!(matches!(access, Ok(SyncAccess::Agent(info)) if info.pid == 4242));
        drop(lock); // dropped without release: like a killed process
        assert!(running_agent(dir.path()).is_none());
        assert_eq!(holder(dir.path()), Holder::Free);
        let (lock, unclean) = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap();
        assert!(unclean, "agent.json left behind means the last stop was unclean");
        let starting = running_agent(dir.path()).unwrap();
        assert_eq!(
            (starting.pid, starting.api),
            (std::process::id(), None),
            "the dead one is gone"
        );
        lock.release();
        let (_lock, unclean) = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap();
        assert!(!unclean);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cli_sync_makes_others_wait_and_never_looks_like_an_agent() {
        let dir = tempfile::tempdir().unwrap();
        // A stale agent.json from a crashed agent.
        std::fs::write(
            dir.path().join(INFO_FILE),
            r#"{"pid": 1, "api": "127.0.0.1:9", "started_at": "t"}"#,
        )
        .unwrap();
        let Ok(SyncAccess::Locked(first)) =
            DataDirLock::acquire_for_sync(dir.path(), RunKind::Plants, never_holder).await
        else {
            panic!("the first sync takes the lock");
        };
        assert!(matches!(holder(dir.path()), Holder::Sync(info) if info.pid == std::process::id()));
        assert!(running_agent(dir.path()).is_none(), "a stale agent.json is not an agent");

        let waited = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = std::sync::Arc::clone(&waited);
        let path = dir.path().to_path_buf();
        let agent = tokio::spawn(async move {
            DataDirLock::acquire_for_agent(&path, move |_| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .await
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!agent.is_finished(), "the agent waits for the CLI sync");
        assert_eq!(waited.load(std::sync::atomic::Ordering::SeqCst), 1, "told once");
        drop(first);
        assert!(!dir.path().join(SYNC_FILE).exists());
        let (lock, unclean) = agent.await.unwrap().unwrap();
        assert!(unclean, "the crashed agent's file is still noticed");
        lock.release();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_agent_file_and_a_moment_s_look_do_not_stop_an_agent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(INFO_FILE),
            r#"{"pid": 1, "api": "127.0.0.1:9", "started_at": "t"}"#,
        )
        .unwrap();
        // Someone (`plantsync status`) holds the lock for 50 ms while the agent starts.
        let probe = open_lock_file(dir.path()).unwrap();
        probe.try_lock().unwrap();
        let path = dir.path().to_path_buf();
        let agent = tokio::spawn(async move { DataDirLock::acquire_for_agent(&path, never).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        probe.unlock().unwrap();
        let (lock, unclean) = agent.await.unwrap().expect("a moment's look is not an agent");
        assert!(unclean);
        lock.release();
    }

    #[tokio::test(start_paused = true)]
    async fn a_cli_sync_waits_for_a_starting_agent_then_asks_it() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, _) = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap();
        let path = dir.path().to_path_buf();
        let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&told);
        let sync = tokio::spawn(async move {
            DataDirLock::acquire_for_sync(&path, RunKind::Plants, move |h| {
                seen.lock().unwrap().push(h.clone());
            })
            .await
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!sync.is_finished(), "no address yet: it waits");
        let info = AgentInfo { pid: 7, api: Some("127.0.0.1:5".into()), started_at: "t".into() };
        lock.publisher().publish(&info).unwrap();
        let access = sync.await.unwrap().unwrap();
        assert!(matches!(access, SyncAccess::Agent(a) if a.api.as_deref() == Some("127.0.0.1:5")));
        assert!(matches!(told.lock().unwrap().as_slice(), [Holder::Agent(a)] if a.api.is_none()));
        lock.release();
    }

    #[tokio::test]
    async fn a_killed_cli_sync_leaves_nothing_that_blocks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SYNC_FILE),
            r#"{"pid": 1, "kind": "plants", "started_at": "t"}"#,
        )
        .unwrap();
        // The lock itself is free (the process died), so the stale file means nothing.
        assert_eq!(holder(dir.path()), Holder::Free);
        let (lock, _) = DataDirLock::acquire_for_agent(dir.path(), never).await.unwrap();
        assert!(!dir.path().join(SYNC_FILE).exists(), "the agent removes the stale file");
        lock.release();
    }
}
