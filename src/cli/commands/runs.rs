//! `plantsync runs list|show`.

use super::Ctx;
use crate::cli::RunsCommand;
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, text_cell, time_cell, write_csv, write_json, yes_no,
};
use crate::domain::{RunId, SyncRun};
use crate::store::RunFilter;

/// Runs a `runs` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: RunsCommand) -> anyhow::Result<()> {
    match command {
        RunsCommand::List { kind, status, limit, format } => {
            let runs = ctx.store.list_runs(RunFilter { kind, status, limit: Some(limit) }).await?;
            match format.format {
                Format::Json => write_json(ctx.out, &runs),
                Format::Csv => write_csv(ctx.out, &runs),
                Format::Table => {
                    let mut table = Table::default()
                        .number("ID")
                        .whole("KIND")
                        .whole("SOURCE")
                        .whole("STATUS")
                        .whole("STARTED")
                        .number("SECS")
                        .number("OK/FAIL")
                        .number("SYNCED");
                    for r in &runs {
                        table.row(vec![
                            r.id.to_string(),
                            r.kind.to_string(),
                            r.source.to_string(),
                            r.status.to_string(),
                            time_cell(Some(&r.started_at), ctx.tz()),
                            seconds(r),
                            format!("{}/{}", r.successful, r.failed),
                            r.synced.to_string(),
                        ]);
                    }
                    write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
                    Ok(())
                }
            }
        }
        RunsCommand::Show { id, format } => {
            let details = ctx.store.get_run(RunId(id)).await?;
            match format.format {
                Format::Json => write_json(ctx.out, &details),
                Format::Csv => write_csv(ctx.out, &details.results),
                Format::Table => {
                    let run = &details.run;
                    let tz = ctx.tz();
                    write!(
                        ctx.out,
                        "{}",
                        key_values(&[
                            ("id", run.id.to_string()),
                            ("kind", run.kind.to_string()),
                            ("source", run.source.to_string()),
                            ("status", run.status.to_string()),
                            ("started", time_cell(Some(&run.started_at), tz)),
                            ("finished", time_cell(run.finished_at.as_ref(), tz)),
                            ("seconds", seconds(run)),
                            ("message", text_cell(run.message.as_deref())),
                        ])
                    )?;
                    let mut table = Table::default()
                        .text("VENDOR", 8)
                        .whole("OK")
                        .number("TOTAL")
                        .number("NEW")
                        .number("UPD")
                        .number("SAME")
                        .text("ERROR", 10);
                    for r in &details.results {
                        table.row(vec![
                            format!("{} ({})", r.vendor_name, r.vendor_id),
                            yes_no(r.success),
                            r.total.to_string(),
                            r.created.to_string(),
                            r.updated.to_string(),
                            r.unchanged.to_string(),
                            text_cell(r.error.as_deref()),
                        ]);
                    }
                    write!(ctx.out, "\n{}", table.render(TABLE_WIDTH))?;
                    Ok(())
                }
            }
        }
    }
}

fn seconds(run: &SyncRun) -> String {
    run.finished_at.map_or_else(
        || "-".to_owned(),
        |end| {
            let ms = end.as_datetime().timestamp_millis()
                - run.started_at.as_datetime().timestamp_millis();
            format!("{:.1}", ms as f64 / 1000.0)
        },
    )
}
