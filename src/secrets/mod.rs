//! Where an install keeps its vendor secrets: the operating system's keyring or the
//! database file.
//!
//! # Design
//!
//! * **One choice per install** ([`SecretsStore`]), recorded in the database (table
//!   `install`), so every process of a data dir (the agent, the CLI) reads and writes the
//!   same place, and a copied database says where its secrets are (nowhere in the copy,
//!   when they are in the keyring). The store (`src/store/vendors.rs`) is the only caller:
//!   it reads and writes secrets through [`Backend`] inside its own transactions.
//! * **The keyring** is the `keyring` crate: the Secret Service on Linux (pure Rust, zbus),
//!   the Keychain on macOS, the Credential Manager on Windows. An entry is named by
//!   [`account`]: the install id, the vendor id and the field, never the value.
//! * **Blocking calls, bounded.** The crate's calls block (on Linux it drives its own tokio
//!   runtime, so it must never run on a runtime thread: the store calls it on its writer
//!   thread or a blocking thread). A keyring that never answers (a prompt nobody sees, a
//!   hung daemon) would stop the store, so every call runs on its own thread and is given
//!   up after [`CALL_TIMEOUT`].
//! * **Errors in words, never a value.** The crate's errors can carry a secret's bytes
//!   (`BadEncoding`) or the attributes of matching items (`Ambiguous`); they are turned into
//!   [`SecretsError`] here, which holds only our words and the platform's reason.

#[cfg(test)]
pub(crate) mod memory;
mod os;

pub use os::OsKeyring;

use crate::domain::{Secret, VendorId};
use std::fmt;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

/// The keyring service name of every plantsync entry.
pub const SERVICE: &str = "plantsync";

/// How long one keyring call may take before it is given up (an unlock prompt nobody
/// answers, a daemon that hangs): long enough for a person to type a keyring password.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the reachability probe waits: it decides a new install's store and fills
/// `status`, where a slow answer is as good as none.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an install keeps the values of its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretsStore {
    /// The operating system's keyring; the database holds no secret values.
    Keyring,
    /// The database file itself (mode 0600): the headless fallback.
    File,
}

impl SecretsStore {
    /// The stored and printed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }

    /// The store in words, for tables and messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Keyring => "the OS keyring",
            Self::File => "the database file (mode 0600)",
        }
    }
}

impl fmt::Display for SecretsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecretsStore {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "keyring" => Ok(Self::Keyring),
            "file" => Ok(Self::File),
            _ => Err("expected keyring or file".to_owned()),
        }
    }
}

/// What the configuration asks for (`secrets.store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// The keyring when one is reachable when the install is created, else the file.
    Auto,
    /// This store, whatever is reachable.
    Forced(SecretsStore),
}

impl Preference {
    /// The configured text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Forced(store) => store.as_str(),
        }
    }
}

impl FromStr for Preference {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        text.parse().map(Self::Forced).map_err(|_| "expected auto, keyring or file".to_owned())
    }
}

/// How an install's store was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chosen {
    /// By the reachability probe when the install was created (`secrets.store = auto`).
    Auto,
    /// By `secrets.store` when the install was created.
    Config,
    /// By `plantsync secrets move`.
    Moved,
    /// The database predates the choice and held its secrets in the file.
    Upgrade,
}

impl Chosen {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Config => "config",
            Self::Moved => "moved",
            Self::Upgrade => "upgrade",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Auto, Self::Config, Self::Moved, Self::Upgrade]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

/// Whether the OS keyring answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// It answered.
    Reachable,
    /// It did not; why, in words.
    Unreachable(String),
}

/// A secret field the keyring holds, one entry each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    /// Password or system code.
    Password,
    /// Application secret.
    AppSecret,
    /// API key or token.
    ApiKey,
    /// The cached session token (access and refresh, as one JSON value).
    Token,
}

impl SecretField {
    /// The credential fields, in the order they are written.
    pub const CREDENTIALS: [Self; 3] = [Self::Password, Self::AppSecret, Self::ApiKey];

    /// The name in the entry's account and in `vendor_credentials.keyring_fields`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::AppSecret => "app_secret",
            Self::ApiKey => "api_key",
            Self::Token => "token",
        }
    }

    /// The `plantsync vendor set` flag that enters it (prompted for, never a value on the
    /// command line); none for the token, which is a cache.
    pub const fn flag(self) -> &'static str {
        match self {
            Self::Password => "--password",
            Self::AppSecret => "--app-secret",
            Self::ApiKey => "--api-key",
            Self::Token => "",
        }
    }

    /// Parses [`SecretField::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Password, Self::AppSecret, Self::ApiKey, Self::Token]
            .into_iter()
            .find(|f| f.as_str() == text)
    }
}

/// The keyring account of one secret of one vendor of one install: names, never a value.
/// The install id keeps two data dirs of one user apart.
pub fn account(install_id: &str, vendor: VendorId, field: SecretField) -> String {
    format!("{install_id}/vendor-{vendor}/{}", field.as_str())
}

/// An account for one reachability probe: unique per call (process id and a random
/// number), so two processes probing at once never delete each other's entry.
pub fn probe_account(install_id: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per instance: a nonce without a dependency.
    let nonce = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{install_id}/probe-{}-{nonce:016x}", std::process::id())
}

/// A keyring failure, in words. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// The keyring did not answer or refused access (no session bus, no Secret Service,
    /// locked, timed out). Nothing was changed by the call. Moving the secrets to the file
    /// reads them from the keyring, so the advice names where to run it.
    #[error(
        "the OS keyring is not reachable: {reason}; unlock it (or start the session's keyring); \
         the move to the database file reads the secrets from this keyring, so run `plantsync \
         secrets move --to file` where it is reachable"
    )]
    Unreachable {
        /// Why, in the platform's words.
        reason: String,
    },
    /// An entry the database says exists is not in the keyring (deleted by hand, or the
    /// database was copied from another machine or user).
    #[error(
        "the OS keyring has no {} of vendor {vendor} (entry '{account}' of service \
         '{SERVICE}'): it was deleted, or this database was copied from another install; set it \
         again with `plantsync vendor set {vendor} {}`",
        .field.as_str(),
        .field.flag()
    )]
    Missing {
        /// The vendor.
        vendor: VendorId,
        /// The field.
        field: SecretField,
        /// The entry's account.
        account: String,
    },
    /// The keyring answered but refused the entry (too long, ambiguous, not text).
    #[error("the OS keyring refused entry '{account}': {reason}")]
    Refused {
        /// The entry's account.
        account: String,
        /// Why, in words.
        reason: String,
    },
}

impl SecretsError {
    /// The field of the entry that failed, when the error is about one entry of a vendor.
    pub fn field(&self) -> Option<SecretField> {
        match self {
            Self::Missing { field, .. } => Some(*field),
            Self::Refused { account, .. } => {
                account.rsplit('/').next().and_then(SecretField::parse)
            }
            Self::Unreachable { .. } => None,
        }
    }
}

/// A keyring: get, set and delete one text entry by account, under [`SERVICE`].
/// Implementations block; the store calls them on its own threads.
pub trait Backend: Send + Sync {
    /// The entry's value, `None` when there is none.
    fn get(&self, account: &str) -> Result<Option<Secret>, SecretsError>;
    /// Creates or replaces the entry.
    fn set(&self, account: &str, value: &Secret) -> Result<(), SecretsError>;
    /// Removes the entry; no entry is not an error.
    fn delete(&self, account: &str) -> Result<(), SecretsError>;
}

/// Whether `backend` works for this install: an entry written, read back and deleted,
/// within [`PROBE_TIMEOUT`]. A write, not only a read: a keyring that answers searches but
/// has no collection to store in (a daemon started without a login keyring) is no place
/// for secrets.
pub fn probe(backend: &std::sync::Arc<dyn Backend>, install_id: &str) -> Reachability {
    let backend = std::sync::Arc::clone(backend);
    let account = probe_account(install_id);
    let outcome = with_timeout(PROBE_TIMEOUT, move || {
        let value = Secret::new("plantsync keyring probe");
        backend.set(&account, &value)?;
        // Deleted whatever the read did: a probe leaves no entry behind.
        let read = backend.get(&account);
        let deleted = backend.delete(&account);
        match (read?, deleted) {
            (Some(v), Ok(())) if v == value => Ok(()),
            (_, Err(e)) => Err(e),
            _ => Err(SecretsError::Unreachable {
                reason: "an entry written could not be read back".to_owned(),
            }),
        }
    });
    in_reachability(outcome)
}

/// Whether `backend` answers a read of `account` within [`PROBE_TIMEOUT`], writing
/// nothing: what `status` asks of an install that already keeps its secrets there (it
/// reads one of its entries, so a keyring that must be unlocked to read them says so). An
/// entry that is missing or refused is still an answer.
pub fn check_read(backend: &std::sync::Arc<dyn Backend>, account: String) -> Reachability {
    let backend = std::sync::Arc::clone(backend);
    let outcome = with_timeout(PROBE_TIMEOUT, move || match backend.get(&account) {
        Ok(_) | Err(SecretsError::Refused { .. } | SecretsError::Missing { .. }) => Ok(()),
        Err(unreachable) => Err(unreachable),
    });
    in_reachability(outcome)
}

fn in_reachability(outcome: Result<(), SecretsError>) -> Reachability {
    match outcome {
        Ok(()) => Reachability::Reachable,
        Err(SecretsError::Unreachable { reason }) => Reachability::Unreachable(reason),
        Err(other) => Reachability::Unreachable(other.to_string()),
    }
}

/// Runs `call` on its own thread and waits at most `limit` for it. A call that does not
/// return in time is left to finish on its own (it holds nothing of the caller's) and is
/// reported as unreachable.
pub fn with_timeout<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> Result<T, SecretsError> + Send + 'static,
) -> Result<T, SecretsError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("plantsync-keyring".into()).spawn(move || {
        let _ = tx.send(call());
    });
    if let Err(e) = spawned {
        return Err(SecretsError::Unreachable { reason: format!("cannot start a thread: {e}") });
    }
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => Err(SecretsError::Unreachable {
            reason: format!(
                "no answer within {} s (locked, and waiting for a password prompt?)",
                limit.as_secs()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for store in [SecretsStore::Keyring, SecretsStore::File] {
            assert_eq!(store.as_str().parse::<SecretsStore>(), Ok(store));
            assert_eq!(store.as_str().parse::<Preference>(), Ok(Preference::Forced(store)));
        }
        assert_eq!("Auto".parse::<Preference>(), Ok(Preference::Auto));
        assert!("vault".parse::<Preference>().is_err());
        for chosen in [Chosen::Auto, Chosen::Config, Chosen::Moved, Chosen::Upgrade] {
            assert_eq!(Chosen::parse(chosen.as_str()), Some(chosen));
        }
    }

    #[test]
    fn an_account_names_the_install_vendor_and_field() {
        assert_eq!(account("abc", VendorId(4), SecretField::AppSecret), "abc/vendor-4/app_secret");
    }

    #[test]
    fn each_probe_has_its_own_account_and_leaves_no_entry() {
        let (a, b) = (probe_account("abc"), probe_account("abc"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("abc/probe-{}-", std::process::id())), "{a}");
        let memory = std::sync::Arc::new(memory::MemoryKeyring::default());
        let backend: std::sync::Arc<dyn Backend> = memory.clone();
        assert_eq!(probe(&backend, "abc"), Reachability::Reachable);
        assert!(memory.entries().is_empty());
    }

    #[test]
    fn a_call_that_never_answers_is_given_up() {
        let (_hold, wait) = mpsc::channel::<()>();
        let err = with_timeout(Duration::from_millis(50), move || {
            let _ = wait.recv();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, SecretsError::Unreachable { .. }), "{err}");
    }
}
