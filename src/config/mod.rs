//! Settings, resolved once: built-in defaults < TOML file < environment < CLI flags.
//!
//! # Design
//!
//! Every layer yields text for a key (TOML scalars are turned into text), the highest layer
//! that has the key wins, and one parser per key turns the text into a typed value. A value
//! that does not parse stops start-up with a message naming the value, the key and the layer
//! it came from (exit code 2), before anything is written. Later code only sees
//! [`Settings`], never raw text.

pub mod example;
pub mod keys;
mod source;
pub mod upstream;
pub mod upstream_target;

pub use keys::Settings;
pub use source::{Setting, Source};

use crate::domain::Secret;
use chrono_tz::Tz;
use keys::Key;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File name of the database inside the data dir.
pub const DATABASE_FILE: &str = "plantsync.db";
/// Directory of the log files inside the data dir.
pub const LOG_DIR: &str = "logs";

/// A configuration problem. All of them exit with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid value '{value}' for {key} (from {origin}): {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// The offending value (redacted for secrets).
        value: String,
        /// Where it came from.
        origin: Source,
        /// What is wrong with it.
        reason: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key the file should not have (most often a typo).
    #[error("unknown key '{key}' in config file {path} (known keys: {known})")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// The keys plantsync knows.
        known: String,
    },
    /// No data dir was given and the platform has no home directory.
    #[error(
        "cannot determine a data directory: no home directory; pass --data-dir or set PLANTSYNC_DATA_DIR"
    )]
    NoDataDir,
}

/// Values given on the command line, by key.
#[derive(Debug, Clone, Default)]
pub struct FlagValues {
    values: HashMap<&'static str, String>,
}

impl FlagValues {
    /// Sets `key` (one of [`keys::ALL`] with a flag) to `value` when `value` is `Some`.
    pub fn set(&mut self, key: &Key, value: Option<String>) {
        if let Some(value) = value {
            self.values.insert(key.name, value);
        }
    }
}

/// Everything resolution reads, so tests can supply it without touching the process.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--config`, if given.
    pub config_flag: Option<PathBuf>,
    /// The environment.
    pub env: HashMap<String, String>,
    /// CLI flag values.
    pub flags: FlagValues,
    /// Where the config file is looked for when neither `--config` nor `PLANTSYNC_CONFIG`
    /// names one (`None` when the platform has no home directory).
    pub default_config_path: Option<PathBuf>,
    /// The default data dir (`None` when the platform has no home directory).
    pub default_data_dir: Option<PathBuf>,
}

impl Inputs {
    /// The real process environment and platform directories.
    pub fn from_process(config_flag: Option<PathBuf>, flags: FlagValues) -> Self {
        let dirs = project_dirs();
        Self {
            config_flag,
            env: std::env::vars().collect(),
            flags,
            default_config_path: dirs.as_ref().map(|d| d.config_dir().join("config.toml")),
            default_data_dir: dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        }
    }
}

/// The platform directories of plantsync (`~/.config/plantsync`, `~/.local/share/plantsync`
/// on Linux; see the README for macOS and Windows).
pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("org", "plantsync", "plantsync")
}

impl Settings {
    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.value.join(DATABASE_FILE)
    }

    /// The log directory.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.value.join(LOG_DIR)
    }

    /// Resolves and validates every key from `inputs`.
    pub fn resolve(inputs: &Inputs) -> Result<Self, ConfigError> {
        let file = FileLayer::load(inputs)?;
        let layers = Layers { file: &file, inputs };
        let data_dir = match layers.pick(&keys::DATA_DIR) {
            Some((text, source)) => Setting { value: PathBuf::from(text), source },
            None => Setting::default_value(
                inputs.default_data_dir.clone().ok_or(ConfigError::NoDataDir)?,
            ),
        };
        let mut settings = Self::from_layers(&layers, file.path.clone(), data_dir)?;
        let key = settings.upstream_api_key.value.clone();
        if let Some(url) = settings.upstream_url.value.as_mut() {
            url.set_api_key(key);
        }
        Ok(settings)
    }
}

/// The config file's keys, flattened to dotted names with text values.
#[derive(Debug, Default)]
struct FileLayer {
    path: Option<PathBuf>,
    values: HashMap<String, String>,
}

impl FileLayer {
    fn load(inputs: &Inputs) -> Result<Self, ConfigError> {
        let (path, must_exist) = if let Some(path) = &inputs.config_flag {
            (path.clone(), true)
        } else if let Some(path) = inputs.env.get(keys::CONFIG_ENV).filter(|p| !p.is_empty()) {
            (PathBuf::from(path), true)
        } else if let Some(path) = &inputs.default_config_path {
            (path.clone(), false)
        } else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Self::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut values = HashMap::new();
        flatten(&path, "", &table, &mut values)?;
        Ok(Self { path: Some(path), values })
    }
}

fn flatten(
    path: &Path,
    prefix: &str,
    table: &toml::Table,
    out: &mut HashMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(path, &key, inner, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::Array(_) => String::from("[array]"),
        };
        if !keys::ALL.iter().any(|k| k.name == key) {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key,
                known: keys::ALL.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
            });
        }
        out.insert(key, text);
    }
    Ok(())
}

struct Layers<'a> {
    file: &'a FileLayer,
    inputs: &'a Inputs,
}

impl Layers<'_> {
    /// The text of `key` from the highest layer that has it.
    fn pick(&self, key: &Key) -> Option<(String, Source)> {
        if let (Some(flag), Some(value)) = (key.flag, self.inputs.flags.values.get(key.name)) {
            return Some((value.clone(), Source::Flag { flag }));
        }
        for var in key.env {
            // An empty variable counts as unset, so `PLANTSYNC_CRON_SECRET=` cannot hide
            // `CRON_SECRET` and an empty `PLANTSYNC_DATA_DIR` is not the current directory.
            if let Some(value) = self.inputs.env.get(*var).filter(|v| !v.trim().is_empty()) {
                return Some((value.clone(), Source::Env { var }));
            }
        }
        let path = self.file.path.as_ref()?;
        let value = self.file.values.get(key.name)?;
        Some((value.clone(), Source::File { path: path.clone(), key: key.name }))
    }

    /// The typed value of `key`: the highest layer's text parsed, or the parsed default.
    fn typed<T>(
        &self,
        key: &'static Key,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Setting<T>, ConfigError> {
        let (text, source) = match self.pick(key) {
            Some(found) => found,
            None => {
                let default = key.default.unwrap_or("").trim_matches('"').to_owned();
                (default, Source::Default)
            }
        };
        match parse(&text) {
            Ok(value) => Ok(Setting { value, source }),
            Err(reason) => Err(ConfigError::Invalid {
                key: key.name,
                value: if key.secret { crate::domain::REDACTED.to_owned() } else { text },
                origin: source,
                reason,
            }),
        }
    }
}

fn parse_zone(text: &str) -> Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| {
        "not an IANA time zone name (e.g. Asia/Kolkata, Europe/Berlin, UTC)".to_owned()
    })
}

fn parse_log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text.trim())
        .map(|_| text.trim().to_owned())
        .map_err(|e| format!("not a log level or filter: {e}"))
}

fn parse_ip(text: &str) -> Result<std::net::IpAddr, String> {
    text.trim()
        .parse::<std::net::IpAddr>()
        .map_err(|_| "expected an IP address such as 127.0.0.1".to_owned())
}

fn parse_secret(text: &str) -> Result<Option<Secret>, String> {
    Ok(if text.is_empty() { None } else { Some(Secret::new(text)) })
}

fn parse_url(text: &str) -> Result<Option<String>, String> {
    let t = text.trim();
    if t.is_empty() {
        Ok(None)
    } else if (t.starts_with("http://") || t.starts_with("https://")) && t.len() > 8 {
        Ok(Some(t.to_owned()))
    } else {
        Err("expected an http:// or https:// URL".to_owned())
    }
}

fn show_secret(value: &Option<Secret>) -> String {
    value.as_ref().map_or_else(|| "(not set)".to_owned(), ToString::to_string)
}

fn optional_int_in(text: &str, min: u32, max: u32) -> Result<Option<u32>, String> {
    if text.trim().is_empty() { Ok(None) } else { int_in(text, min, max).map(Some) }
}

fn show_portal_limit(value: &Option<u32>) -> String {
    value.map_or_else(|| "(the portal's default)".to_owned(), |n| n.to_string())
}

fn show_optional(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "(not set)".to_owned())
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn int_in(text: &str, min: u32, max: u32) -> Result<u32, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (i64::from(min)..=i64::from(max)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| format!("expected a whole number from {min} to {max}"))
}

#[cfg(test)]
mod tests;
