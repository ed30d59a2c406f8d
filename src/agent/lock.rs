//! One agent per data dir: an exclusive lock on `agent.lock`, and `agent.json` saying which
//! process holds it and where its API listens (for the CLI to find it).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The lock file.
pub const LOCK_FILE: &str = "agent.lock";
/// What the running agent publishes.
pub const INFO_FILE: &str = "agent.json";

/// What a running agent publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Its process id.
    pub pid: u32,
    /// Where its API listens.
    pub api: String,
    /// When it started.
    pub started_at: String,
}

/// The held lock; released (and `agent.json` removed) when dropped after a clean stop.
#[derive(Debug)]
pub struct AgentLock {
    _file: File,
    info_path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent holds it.
    #[error("another plantsync agent{} is already running on {dir}; stop it first", .pid.map(|p| format!(" (pid {p})")).unwrap_or_else(|| " or sync".to_owned()))]
    Held {
        /// The data dir.
        dir: String,
        /// The other agent's pid, when known.
        pid: Option<u32>,
    },
    /// The lock file could not be opened.
    #[error("cannot open the agent lock in {dir}: {source}")]
    Io {
        /// The data dir.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The agent currently running on `data_dir`, if any (the lock is held and `agent.json`
/// is readable).
pub fn running_agent(data_dir: &Path) -> Option<AgentInfo> {
    let file = File::options().read(true).write(true).open(data_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => read_info(data_dir),
    }
}

fn read_info(data_dir: &Path) -> Option<AgentInfo> {
    serde_json::from_str(&std::fs::read_to_string(data_dir.join(INFO_FILE)).ok()?).ok()
}

impl AgentLock {
    /// Holds the data dir for a CLI sync, so an agent cannot start (and mark the CLI's run
    /// interrupted) until it is done. Dropped, not released: a stale `agent.json` left by a
    /// crashed agent must stay for the next agent to see the unclean stop.
    pub fn acquire_for_cli_sync(data_dir: &Path) -> Result<Self, LockError> {
        Self::acquire(data_dir).map(|(lock, _)| lock)
    }

    /// Takes the lock of `data_dir`. Returns whether the previous agent stopped uncleanly
    /// (its `agent.json` is still there).
    pub fn acquire(data_dir: &Path) -> Result<(Self, bool), LockError> {
        let dir = data_dir.display().to_string();
        std::fs::create_dir_all(data_dir)
            .map_err(|source| LockError::Io { dir: dir.clone(), source })?;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(data_dir.join(LOCK_FILE))
            .map_err(|source| LockError::Io { dir: dir.clone(), source })?;
        // `running_agent` may hold the lock for an instant while it checks: try a few times.
        let mut attempts = 0;
        while file.try_lock().is_err() {
            attempts += 1;
            if attempts == 10 {
                return Err(LockError::Held { dir, pid: read_info(data_dir).map(|i| i.pid) });
            }
            // At most 200 ms, and only while another process checks the lock.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let info_path = data_dir.join(INFO_FILE);
        let unclean = info_path.exists();
        Ok((Self { _file: file, info_path }, unclean))
    }

    /// Publishes `info` for the CLI.
    pub fn publish(&self, info: &AgentInfo) -> std::io::Result<()> {
        std::fs::write(
            &self.info_path,
            serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?,
        )
    }

    /// Marks a clean stop: `agent.json` goes away, the lock is released on drop.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.info_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_naming_the_pid_and_unclean_stop_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, unclean) = AgentLock::acquire(dir.path()).unwrap();
        assert!(!unclean);
        lock.publish(&AgentInfo { pid: 4242, api: "127.0.0.1:1".into(), started_at: "t".into() })
            .unwrap();
        let err = AgentLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("(pid 4242)"), "{err}");
        assert_eq!(running_agent(dir.path()).unwrap().pid, 4242);
        drop(lock); // dropped without release: like a killed process
        assert!(running_agent(dir.path()).is_none());
        let (lock, unclean) = AgentLock::acquire(dir.path()).unwrap();
        assert!(unclean, "agent.json left behind means the last stop was unclean");
        lock.release();
        let (_lock, unclean) = AgentLock::acquire(dir.path()).unwrap();
        assert!(!unclean);
    }
}
