//! Where a setting's value came from, so errors and `config show` can say so.

use std::fmt;
use std::path::PathBuf;

/// The layer a value came from, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built into plantsync.
    Default,
    /// A key of the TOML config file.
    File {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `sync.window_start`.
        key: &'static str,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: &'static str,
    },
    /// A command-line flag.
    Flag {
        /// The flag, e.g. `--data-dir`.
        flag: &'static str,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::File { path, key } => write!(f, "config file {}, key {key}", path.display()),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Flag { flag } => write!(f, "command-line flag {flag}"),
        }
    }
}

/// A resolved value with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Setting<T> {
    /// A built-in default.
    pub fn default_value(value: T) -> Self {
        Self { value, source: Source::Default }
    }
}
