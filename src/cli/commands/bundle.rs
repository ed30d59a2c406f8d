//! `plantsync upstream export FILE` and `plantsync upstream import FILE`: the offline
//! bundle's CLI (the bundle itself is `upstream::bundle`).
//!
//! Export reads the store (it takes no lock: the watermarks do not move, and rows changed
//! meanwhile are read in change order as by a push) after copying today's live values into
//! the days (`Store::copy_live_days`), which a read-only store skips with a warning; import
//! needs no data dir at all, only `upstream.url`.

use super::Ctx;
use crate::cli::output::{Format, TABLE_WIDTH, Table, write_json};
use crate::upstream::bundle::{self, ExportOptions, ImportReport};
use std::io::Write;
use std::path::Path;

/// `upstream export FILE [--full]`: writes the bundle and prints its manifest.
pub async fn export(
    ctx: &mut Ctx<'_>,
    file: &Path,
    full: bool,
    format: Format,
) -> anyhow::Result<()> {
    let options = ExportOptions {
        batch_rows: ctx.settings.upstream_batch_rows.value as usize,
        raw_json: ctx.settings.upstream_push_raw_json.value,
        full,
        replace: bundle::Replace::Never,
    };
    let manifest = bundle::export(ctx.store, file, &options).await?;
    match format {
        Format::Json => write_json(ctx.out, &manifest),
        Format::Table | Format::Csv => {
            let mut table =
                Table::default().whole("TABLE").number("ROWS").number("FROM").number("TO");
            for t in &manifest.tables {
                let seq = |s: Option<i64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
                table.row(vec![
                    t.table.to_string(),
                    t.rows.to_string(),
                    seq(t.min_seq),
                    seq(t.max_seq),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            writeln!(
                ctx.out,
                "wrote {rows} rows of agent {} to {}; they stay pending here until a push sees them central",
                manifest.agent_id,
                file.display()
            )?;
            Ok(())
        }
    }
}

/// Prints what `upstream import` did.
pub fn print_import(
    report: &ImportReport,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(out, report),
        Format::Table | Format::Csv => {
            let mut table =
                Table::default().whole("TABLE").number("ROWS").number("APPLIED").number("BATCHES");
            for t in &report.tables {
                table.row(vec![
                    t.table.to_string(),
                    t.rows.to_string(),
                    t.applied.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                    t.batches.to_string(),
                ]);
            }
            write!(out, "{}", table.render(TABLE_WIDTH))?;
            let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
            let applied: Option<u64> = report.tables.iter().map(|t| t.applied).sum();
            let applied = applied.map_or_else(|| "all sent".to_owned(), |a| format!("{a} applied"));
            writeln!(
                out,
                "imported {rows} rows of agent {} (made {}) to {}: {applied}",
                report.agent_id, report.created_at, report.target
            )?;
            Ok(())
        }
    }
}
