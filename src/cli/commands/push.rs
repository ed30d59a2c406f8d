//! `plantsync push` and `plantsync upstream schema|init`: the CLI of the upstream push.

use super::{Ctx, UsageError};
use crate::cli::UpstreamCommand;
use crate::cli::output::{Format, TABLE_WIDTH, Table, write_json};
use crate::config::Settings;
use crate::config::upstream::UpstreamUrl;
use crate::upstream::{self, PushOptions};
use std::io::Write;

/// The configured URL, or the usage error that says how to set one.
fn url(settings: &Settings) -> Result<&UpstreamUrl, UsageError> {
    settings
        .upstream_url
        .value
        .as_ref()
        .ok_or_else(|| UsageError(upstream::UpstreamError::NotConfigured.to_string()))
}

/// `upstream schema` prints the central SQL; `upstream init` applies it.
pub fn upstream(
    settings: &Settings,
    command: &UpstreamCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Schema => {
            out.write_all(upstream::schema::central_schema().as_bytes())?;
            Ok(())
        }
        UpstreamCommand::Init => {
            let url = url(settings)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(upstream::init(url))?;
            writeln!(out, "the central tables are ready in schema plantsync of {url}")?;
            Ok(())
        }
    }
}

/// `push [--full]`: sends what changed (everything with `--full`) and prints what went.
pub async fn run(ctx: &mut Ctx<'_>, args: &crate::cli::PushArgs) -> anyhow::Result<()> {
    let url = url(ctx.settings)?;
    let options = PushOptions {
        batch_rows: ctx.settings.upstream_batch_rows.value as usize,
        raw_json: ctx.settings.upstream_push_raw_json.value,
        full: args.full,
    };
    let report = match upstream::push(ctx.store, url, &options).await {
        Ok(report) => report,
        Err(e) => {
            let e = anyhow::Error::new(e);
            return Err(e.context(
                "push failed; nothing is lost: every row not confirmed stays queued for the next push",
            ));
        }
    };
    tracing::info!(
        rows = report.rows_sent,
        target = %report.target,
        "Push completed: {} rows in {} ms.",
        report.rows_sent,
        report.duration_ms
    );
    match args.format {
        Format::Json => write_json(ctx.out, &report),
        Format::Table | Format::Csv => {
            let mut table = Table::default()
                .whole("TABLE")
                .number("SENT")
                .number("APPLIED")
                .number("BATCHES")
                .number("WATERMARK");
            for t in &report.tables {
                table.row(vec![
                    t.table.to_string(),
                    t.sent.to_string(),
                    t.applied.to_string(),
                    t.batches.to_string(),
                    t.acknowledged_seq.to_string(),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            writeln!(
                ctx.out,
                "pushed {} rows as agent {} to {} in {} ms",
                report.rows_sent, report.agent_id, report.target, report.duration_ms
            )?;
            Ok(())
        }
    }
}
