//! The command implementations, one module per group. Each writes its result to `out`
//! and returns errors for `app` to turn into an exit code.

pub mod alerts;
pub mod bundle;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod history;
pub mod org;
pub mod pause;
pub mod plants;
pub mod push;
pub mod report;
pub mod runs;
pub mod secrets;
pub mod simulate;
pub mod status;
pub mod stop;
pub mod sync;
pub mod vendor;

use crate::config::Settings;
use crate::store::Store;
use std::io::Write;

/// A usage error found after parsing (a missing credential flag, a bad `--since`): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A store error that is the caller's mistake (a blank name, a name with a control
/// character, a vendor name shared by several vendors) is a usage error (exit 2); any other
/// stays what it is (a duplicate name is a conflict with existing data: exit 1).
pub fn usage_if_invalid(error: crate::store::StoreError) -> anyhow::Error {
    match error {
        crate::store::StoreError::Invalid(message) => UsageError(message).into(),
        other => other.into(),
    }
}

/// What every command gets.
pub struct Ctx<'a> {
    /// The store.
    pub store: &'a Store,
    /// The settings.
    pub settings: &'a Settings,
    /// Standard output (a buffer in tests).
    pub out: &'a mut dyn Write,
}

impl Ctx<'_> {
    /// The configured zone, for table times.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.settings.timezone.value
    }
}
