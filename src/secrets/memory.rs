//! A keyring in memory for the store's unit tests, with switches that make writes fail
//! after the n-th, or every call fail (what a keyring that locks or goes away mid-move
//! does). The real
//! Secret Service is exercised by `tests/integration/keyring.rs`.

use super::{Backend, SecretsError};
use crate::domain::Secret;
use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};

/// Entries by account, and the failure switch.
#[derive(Debug, Default)]
pub(crate) struct MemoryKeyring {
    entries: Mutex<BTreeMap<String, String>>,
    /// Writes still allowed before writes fail (`None`: no limit).
    writes_left: Mutex<Option<usize>>,
    /// Every call fails.
    off: std::sync::atomic::AtomicBool,
    /// A write to an account ending in this suffix says so on the first channel and waits
    /// on the second (a latch: the test decides when it returns).
    hold: Mutex<Option<Hold>>,
}

/// A held write: the account suffix, where to say it started, what releases it.
type Hold = (String, mpsc::Sender<()>, mpsc::Receiver<()>);

impl MemoryKeyring {
    /// Every entry, for assertions.
    pub(crate) fn entries(&self) -> BTreeMap<String, String> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// From now on, `n` more writes succeed, then writes fail as unreachable (reads and
    /// deletes still work); `None` lifts the limit.
    pub(crate) fn fail_after_writes(&self, n: Option<usize>) {
        if let Ok(mut left) = self.writes_left.lock() {
            *left = n;
        }
    }

    /// The next write to an account ending in `suffix` sends on the returned receiver's
    /// sender when it starts, then waits until the returned sender is sent to (or dropped).
    pub(crate) fn hold_write(&self, suffix: &str) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        if let Ok(mut hold) = self.hold.lock() {
            *hold = Some((suffix.to_owned(), entered_tx, release_rx));
        }
        (entered_rx, release_tx)
    }

    /// Every call fails as unreachable (`true`) or works again (`false`).
    pub(crate) fn switch_off(&self, off: bool) {
        self.off.store(off, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self, write: bool) -> Result<(), SecretsError> {
        if self.off.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(gone());
        }
        let mut left = self.writes_left.lock().map_err(|_| gone())?;
        match left.as_mut() {
            Some(0) if write => Err(gone()),
            Some(n) if write => {
                *n -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn gone() -> SecretsError {
    SecretsError::Unreachable { reason: "the test keyring was switched off".to_owned() }
}

impl Backend for MemoryKeyring {
    fn get(&self, account: &str) -> Result<Option<Secret>, SecretsError> {
        self.check(false)?;
        Ok(self.entries.lock().map_err(|_| gone())?.get(account).map(Secret::new))
    }

    fn set(&self, account: &str, value: &Secret) -> Result<(), SecretsError> {
        let held =
            self.hold.lock().ok().and_then(|mut hold| {
                hold.take_if(|(suffix, _, _)| account.ends_with(suffix.as_str()))
            });
        if let Some((_, entered, release)) = held {
            let _ = entered.send(());
            let _ = release.recv();
        }
        self.check(true)?;
        self.entries.lock().map_err(|_| gone())?.insert(account.to_owned(), value.expose().into());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), SecretsError> {
        self.check(false)?;
        self.entries.lock().map_err(|_| gone())?.remove(account);
        Ok(())
    }
}
