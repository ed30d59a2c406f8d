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

/// Prints every setting with its source; secrets are already redacted by `entries`.
pub fn show(settings: &Settings, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let entries: Vec<Entry<'_>> = settings
        .entries()
        .into_iter()
        .map(|(key, value, source)| Entry { key, value, source: source.to_string() })
        .collect();
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
