//! The operating system's keyring through the `keyring` crate, where plantsync supports one
//! (Linux Secret Service, macOS Keychain, Windows Credential Manager).

use super::{Backend, CALL_TIMEOUT, SERVICE, SecretsError, with_timeout};
use crate::domain::Secret;

/// The OS keyring. Holds nothing: every call opens its own entry (the crate connects to the
/// Secret Service per call), so a keyring that comes back after being locked just works.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsKeyring;

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
mod platform {
    use super::*;

    fn entry(account: &str) -> Result<keyring::Entry, SecretsError> {
        keyring::Entry::new(SERVICE, account).map_err(|e| in_words(account, e))
    }

    /// The crate's error in our words. `BadEncoding` carries the entry's bytes and
    /// `Ambiguous` the matching items: neither is quoted.
    fn in_words(account: &str, error: keyring::Error) -> SecretsError {
        let bounded = |text: String| -> String {
            let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
            text
        };
        match error {
            keyring::Error::PlatformFailure(e) | keyring::Error::NoStorageAccess(e) => {
                SecretsError::Unreachable { reason: bounded(e.to_string()) }
            }
            keyring::Error::BadEncoding(_) => SecretsError::Refused {
                account: account.to_owned(),
                reason: "the entry's value is not UTF-8 text".to_owned(),
            },
            keyring::Error::Ambiguous(items) => SecretsError::Refused {
                account: account.to_owned(),
                reason: format!("{} entries match it; remove all but one", items.len()),
            },
            keyring::Error::TooLong(attribute, limit) => SecretsError::Refused {
                account: account.to_owned(),
                reason: format!("{attribute} is longer than the platform's {limit} characters"),
            },
            keyring::Error::Invalid(attribute, why) => SecretsError::Refused {
                account: account.to_owned(),
                reason: bounded(format!("{attribute} is invalid: {why}")),
            },
            keyring::Error::NoEntry => SecretsError::Refused {
                account: account.to_owned(),
                reason: "no such entry".to_owned(),
            },
            other => SecretsError::Unreachable { reason: bounded(other.to_string()) },
        }
    }

    pub(super) fn get(account: String) -> Result<Option<Secret>, SecretsError> {
        with_timeout(CALL_TIMEOUT, move || match entry(&account)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(in_words(&account, e)),
        })
    }

    pub(super) fn set(account: String, value: Secret) -> Result<(), SecretsError> {
        with_timeout(CALL_TIMEOUT, move || {
            entry(&account)?.set_password(value.expose()).map_err(|e| in_words(&account, e))
        })
    }

    pub(super) fn delete(account: String) -> Result<(), SecretsError> {
        with_timeout(CALL_TIMEOUT, move || match entry(&account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(in_words(&account, e)),
        })
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod platform {
    use super::*;

    fn none() -> SecretsError {
        SecretsError::Unreachable {
            reason: "plantsync supports no keyring on this operating system".to_owned(),
        }
    }

    pub(super) fn get(_: String) -> Result<Option<Secret>, SecretsError> {
        Err(none())
    }

    pub(super) fn set(_: String, _: Secret) -> Result<(), SecretsError> {
        Err(none())
    }

    pub(super) fn delete(_: String) -> Result<(), SecretsError> {
        Err(none())
    }
}

impl Backend for OsKeyring {
    fn get(&self, account: &str) -> Result<Option<Secret>, SecretsError> {
        platform::get(account.to_owned())
    }

    fn set(&self, account: &str, value: &Secret) -> Result<(), SecretsError> {
        platform::set(account.to_owned(), value.clone())
    }

    fn delete(&self, account: &str) -> Result<(), SecretsError> {
        platform::delete(account.to_owned())
    }
}
