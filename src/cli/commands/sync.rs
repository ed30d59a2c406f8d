//! `plantsync sync plants|alerts`: a manual run, with progress on a terminal.

use super::Ctx;
use crate::cli::SyncArgs;
use crate::cli::output::{Format, TABLE_WIDTH, Table, text_cell, write_json, yes_no};
use crate::domain::{RunKind, RunSource};
use crate::store::SyncSelection;
use crate::sync::{Engine, EngineSettings, Progress, RunReport, RunRequest};
use serde::Serialize;
use std::io::IsTerminal;

/// Some vendors failed: the run is recorded and printed, and the exit code is 1.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} vendor(s) failed; details: plantsync runs show {run}")]
pub struct VendorsFailed {
    failed: u64,
    total: u64,
    run: crate::domain::RunId,
}

/// The original system's response object.
#[derive(Serialize)]
struct Response<'a> {
    success: bool,
    message: &'a str,
    summary: &'a crate::domain::SyncSummary,
}

/// Runs a sync of `kind` and prints its summary. When an agent runs on the same data dir,
/// the run goes through its API, so two processes never sync the same data at once.
pub async fn run(ctx: &mut Ctx<'_>, kind: RunKind, args: SyncArgs) -> anyhow::Result<()> {
    let report = match crate::agent::lock::running_agent(&ctx.settings.data_dir.value) {
        Some(agent) => through_agent(ctx, &agent, kind, &args).await?,
        None => {
            let engine =
                Engine::new(ctx.store.clone(), EngineSettings::from_settings(ctx.settings))?;
            run_with_progress(&engine, kind, RunSource::User, selection(&args)).await?
        }
    };
    print(ctx, &report, args.format)?;
    fail_if_vendors_failed(&report)
}

/// Asks the running agent for the run and waits for its summary.
async fn through_agent(
    ctx: &Ctx<'_>,
    agent: &crate::agent::lock::AgentInfo,
    kind: RunKind,
    args: &SyncArgs,
) -> anyhow::Result<RunReport> {
    let token = crate::agent::token::read(&ctx.settings.data_dir.value)?;
    let mut query: Vec<(&str, String)> = vec![("force", args.force.to_string())];
    query.extend(args.vendor.clone().map(|v| ("vendor", v)));
    query.extend(args.org.clone().map(|o| ("org", o)));
    if std::io::stderr().is_terminal() {
        eprintln!("an agent (pid {}) runs on this data dir: asking it to sync", agent.pid);
    }
    // No timeout of our own: the agent answers when its run is done (the vendor deadline
    // bounds that); a connection error still fails at once.
    let client = crate::vendors::http::plain_client(std::time::Duration::from_secs(24 * 3600))?;
    let response = client
        .post(format!("http://{}/api/cron/sync-{kind}", agent.api))
        .query(&query)
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("the running agent did not answer: {}", e.without_url()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        anyhow::bail!("the running agent refused the sync (HTTP {status}): {}", body["error"]);
    }
    let summary = crate::domain::SyncSummary::from_json(kind, &body["summary"])
        .ok_or_else(|| anyhow::anyhow!("the running agent answered without a summary"))?;
    let run_id = crate::domain::RunId(body["runId"].as_i64().unwrap_or_default());
    let status = if summary.failed == 0 {
        crate::domain::RunStatus::Ok
    } else if summary.successful == 0 {
        crate::domain::RunStatus::Failed
    } else {
        crate::domain::RunStatus::Partial
    };
    Ok(RunReport { run_id, status, summary })
}

/// The vendor selection of `args`.
pub fn selection(args: &SyncArgs) -> SyncSelection {
    SyncSelection {
        force: args.force,
        vendor: args.vendor.clone(),
        org: args.org.clone(),
        vendor_ids: None,
    }
}

/// Runs, printing one line per finished vendor on stderr when it is a terminal.
pub async fn run_with_progress(
    engine: &std::sync::Arc<Engine>,
    kind: RunKind,
    source: RunSource,
    selection: SyncSelection,
) -> anyhow::Result<RunReport> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let printer = std::io::stderr().is_terminal().then(|| {
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let outcome = if p.result.success {
                    "ok".to_owned()
                } else {
                    format!("FAILED: {}", text_cell(p.result.error.as_deref()))
                };
                eprintln!(
                    "[{}/{}] {}: {} of {} {kind} ({outcome})",
                    p.done, p.total, p.result.vendor_name, p.result.synced, p.result.total
                );
            }
        })
    });
    let report =
        engine.run(RunRequest { kind, source, selection }, printer.is_some().then_some(tx)).await?;
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    Ok(report)
}

/// Exit code 1 when any vendor failed (after the summary was printed).
pub fn fail_if_vendors_failed(report: &RunReport) -> anyhow::Result<()> {
    if report.summary.failed > 0 {
        return Err(VendorsFailed {
            failed: report.summary.failed,
            total: report.summary.total_vendors,
            run: report.run_id,
        }
        .into());
    }
    Ok(())
}

/// Prints a run's summary as a table or as the original response object.
pub fn print(ctx: &mut Ctx<'_>, report: &RunReport, format: Format) -> anyhow::Result<()> {
    let summary = &report.summary;
    let message = match summary.kind {
        RunKind::Plants => "Plant sync completed",
        RunKind::Alerts => "Alert sync completed",
    };
    match format {
        Format::Json => write_json(ctx.out, &Response { success: true, message, summary }),
        Format::Csv => crate::cli::output::write_csv(ctx.out, &summary.results),
        Format::Table => {
            let noun = summary.kind.as_str();
            writeln!(
                ctx.out,
                "{} sync (run {}): {}/{} vendors successful, {} {noun} synced ({} created, {} updated) in {} ms",
                match summary.kind {
                    RunKind::Plants => "plant",
                    RunKind::Alerts => "alert",
                },
                report.run_id,
                summary.successful,
                summary.total_vendors,
                summary.total_synced,
                summary.total_created,
                summary.total_updated,
                summary.duration
            )?;
            if summary.total_vendors == 0 {
                writeln!(
                    ctx.out,
                    "no vendors to sync: a vendor needs to be active and in an organization \
                     (with auto-sync on, unless --force is given)"
                )?;
                return Ok(());
            }
            let mut table = Table::default()
                .column("VENDOR", 8, false)
                .column("ORG", 5, false)
                .column("OK", 3, false)
                .column("TOTAL", 5, true)
                .column("SYNCED", 6, true)
                .column("NEW", 4, true)
                .column("UPD", 4, true)
                .column("ERROR", 12, false);
            for r in &summary.results {
                table.row(vec![
                    format!("{} ({})", r.vendor_name, r.vendor_id),
                    text_cell(r.org_name.as_deref()),
                    yes_no(r.success),
                    r.total.to_string(),
                    r.synced.to_string(),
                    r.created.to_string(),
                    r.updated.to_string(),
                    text_cell(r.error.as_deref()),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            Ok(())
        }
    }
}
