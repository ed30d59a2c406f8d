//! `plantsync config show` and `plantsync init`.

use crate::cli::output::{Format, Table, write_csv, write_json};
use crate::config::{Settings, example::example_config};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

#[derive(Serialize)]
struct Entry<'a> {
    key: &'a str,
    value: String,
    source: String,
}

/// The key of the line that says where the install keeps its secrets now: not a setting
/// (`secrets.store` is what a new install chooses by), the install's record.
pub const SECRETS_IN_USE: &str = "secrets.in_use";

/// Prints every setting with its source; secrets are already redacted by `entries`.
/// `secrets` is the install's record of its secrets store (`None`: no database yet), shown
/// as the last entry, [`SECRETS_IN_USE`].
pub fn show(
    settings: &Settings,
    secrets: Option<&Result<crate::store::SecretsState, String>>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut entries: Vec<Entry<'_>> = settings
        .entries()
        .into_iter()
        .map(|(key, value, source)| Entry { key, value, source: source.to_string() })
        .collect();
    let database = settings.database_path().display().to_string();
    entries.push(match secrets {
        None => Entry {
            key: SECRETS_IN_USE,
            value: "(no database yet: chosen by secrets.store when it is created)".to_owned(),
            source: format!("database {database}"),
        },
        Some(Ok(state)) => Entry {
            key: SECRETS_IN_USE,
            value: match state.store {
                Some(store) => store.as_str().to_owned(),
                None => "(not chosen yet)".to_owned(),
            },
            source: format!("database {database}: {}", state.describe()),
        },
        Some(Err(why)) => Entry {
            key: SECRETS_IN_USE,
            value: "(unknown)".to_owned(),
            source: format!("database {database}: {why}"),
        },
    });
    match format {
        Format::Json => write_json(out, &entries),
        Format::Csv => write_csv(out, &entries),
        Format::Table => {
            let file = settings.config_file.as_ref().map_or_else(
                || "(none found; built-in defaults)".to_owned(),
                |p| p.display().to_string(),
            );
            writeln!(out, "config file: {file}")?;
            writeln!(out, "database:    {}\n", settings.database_path().display())?;
            let mut table = Table::default().whole("KEY").text("VALUE", 12).text("SOURCE", 20);
            for e in entries {
                table.row(vec![e.key.to_owned(), e.value, e.source]);
            }
            // Sources name file paths: allow a wider table than listings rather than cut them.
            write!(out, "{}", table.render(160))?;
            Ok(())
        }
    }
}

/// Writes the example config to `path`; refuses to overwrite unless `force`.
pub fn init(path: &Path, force: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if path.exists() && !force {
        return Err(super::UsageError(format!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        ))
        .into());
    }
    // The file may come to hold `api.cron_secret`: owner-only, like everything plantsync creates.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::datadir::dir::create_private_dir(dir)?;
    }
    crate::datadir::dir::write_private_following(path, example_config().as_bytes())?;
    writeln!(out, "wrote example configuration to {}", path.display())?;
    Ok(())
}
