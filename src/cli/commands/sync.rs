//! `plantsync sync plants|alerts`: a manual run, with progress on a terminal.
//!
//! The vendor and organization names are resolved first (a typo exits 2 with nothing
//! recorded). Then the data dir decides who syncs: when an agent runs on it the request
//! goes through its API (so two processes never sync one database at once) and the
//! agent's progress is shown while it runs; otherwise this process takes the data dir's
//! lock (waiting for another CLI sync to finish), recovers the runs a killed process left
//! `running`, and syncs itself.

use super::{Ctx, UsageError};
use crate::api::wire::{RunResponse, StatusResponse};
use crate::cli::SyncArgs;
use crate::cli::output::{Format, TABLE_WIDTH, Table, text_cell, write_json};
use crate::datadir::lock::{AgentInfo, DataDirLock, SyncAccess};
use crate::domain::{RunKind, RunReport, RunRequest, RunSource};
use crate::store::Selection;
use crate::sync::{Engine, EngineSettings, Progress, VendorFinished};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// Some vendors failed: the run is recorded and printed, and the exit code is 1.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} vendor(s) failed; details: plantsync runs show {run}")]
pub struct VendorsFailed {
    failed: u64,
    total: u64,
    run: crate::domain::RunId,
}

/// How long the CLI keeps looking when the agent it asked is stopping or gone (an agent
/// stops within its 20 s grace and a few seconds more).
const AGENT_GONE_WAIT: Duration = Duration::from_secs(45);

/// How often the CLI asks a running agent how its sync is going.
const AGENT_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The selection of `args`.
fn selection(args: &SyncArgs) -> Selection {
    Selection { vendor: args.vendor.clone(), org: args.org.clone(), force: args.force }
}

/// Resolves the selection into a request, or a usage error (exit 2) saying what is wrong.
pub async fn resolve(
    ctx: &Ctx<'_>,
    kind: RunKind,
    selection: Selection,
) -> anyhow::Result<RunRequest> {
    ctx.store.resolve_request(kind, RunSource::User, selection).await.map_err(|e| {
        if e.is_usage() { anyhow::Error::new(UsageError(e.to_string())) } else { e.into() }
    })
}

/// What asking the agent gave.
enum AgentAnswer {
    /// The run's report.
    Report(RunReport),
    /// The agent is gone or stopping (connection refused or reset, HTTP 503): the data
    /// dir's lock will be free soon.
    Gone,
}

/// Runs a sync of `kind` and prints its summary.
pub async fn run(ctx: &mut Ctx<'_>, kind: RunKind, args: SyncArgs) -> anyhow::Result<()> {
    let request = resolve(ctx, kind, selection(&args)).await?;
    let dir = ctx.settings.data_dir.value.clone();
    // Counted from the first time the agent is found gone, not from the start: a run
    // through the agent may rightly take many minutes before it stops or dies.
    let mut gone_since: Option<tokio::time::Instant> = None;
    let report = loop {
        let access = DataDirLock::acquire_for_sync(&dir, kind, |holder| {
            eprintln!("waiting for {} to finish", holder.describe());
        })
        .await?;
        match access {
            SyncAccess::Agent(agent) => match through_agent(ctx, &agent, &request, &args).await? {
                AgentAnswer::Report(report) => break report,
                // A stopping or vanished agent releases the lock soon: look again, and sync
                // here once it is free.
                AgentAnswer::Gone
                    if gone_since.get_or_insert_with(tokio::time::Instant::now).elapsed()
                        < AGENT_GONE_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                AgentAnswer::Gone => anyhow::bail!(
                    "the agent (pid {}) holds this data dir but does not answer; is it stuck?",
                    agent.pid
                ),
            },
            SyncAccess::Locked(lock) => {
                crate::sync::recover_unfinished_runs(ctx.store).await?;
                let engine =
                    Engine::new(ctx.store.clone(), EngineSettings::from_settings(ctx.settings))?;
                let report = run_with_progress(&engine, &request).await?;
                drop(lock);
                break report;
            }
        }
    };
    print(ctx, &report, args.format)?;
    fail_if_vendors_failed(&report)
}

/// Asks the running agent for the run and waits for its answer, showing the agent's
/// progress on a terminal. The vendor is sent by its resolved id, and the source says a
/// person asked.
async fn through_agent(
    ctx: &Ctx<'_>,
    agent: &AgentInfo,
    request: &RunRequest,
    args: &SyncArgs,
) -> anyhow::Result<AgentAnswer> {
    let Some(api) = agent.api.as_deref() else { return Ok(AgentAnswer::Gone) };
    let kind = request.kind;
    let token = crate::datadir::token::read(&ctx.settings.data_dir.value)?;
    let mut query: Vec<(&str, String)> =
        vec![("force", args.force.to_string()), ("source", RunSource::User.to_string())];
    if args.vendor.is_some() {
        query.extend(request.vendors().first().map(|id| ("vendor", id.to_string())));
    }
    query.extend(args.org.clone().map(|o| ("org", o)));
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        eprintln!("an agent (pid {}) runs on this data dir: asking it to sync", agent.pid);
    }
    // No timeout of our own: the agent answers when its run is done (the vendor deadline
    // bounds that); a connection error still fails at once.
    let client = crate::vendors::http::plain_client(Duration::from_secs(24 * 3600))?;
    let sent = client
        .post(format!("http://{api}/api/cron/sync-{kind}"))
        .query(&query)
        .bearer_auth(token.expose())
        .send();
    tokio::pin!(sent);
    let mut ticker = tokio::time::interval(AGENT_PROGRESS_EVERY);
    let response = loop {
        tokio::select! {
            response = &mut sent => break response,
            _ = ticker.tick(), if terminal => show_agent_progress(&client, api, &token, kind).await,
        }
    };
    // Refused, reset or cut off: the agent stopped or died; its lock says what next.
    let Ok(response) = response else { return Ok(AgentAnswer::Gone) };
    let status = response.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Ok(AgentAnswer::Gone);
    }
    let body: RunResponse = match response.json().await {
        Ok(body) => body,
        Err(_) if !status.is_success() => {
            anyhow::bail!("the running agent refused the sync (HTTP {status})")
        }
        Err(e) => anyhow::bail!("the running agent's answer is unreadable: {e}"),
    };
    let error = body.error.clone().unwrap_or_else(|| "no detail".to_owned());
    if status == reqwest::StatusCode::BAD_REQUEST {
        return Err(UsageError(error).into());
    }
    if !status.is_success() {
        anyhow::bail!("the running agent refused the sync (HTTP {status}): {error}");
    }
    body.report()
        .map(AgentAnswer::Report)
        .ok_or_else(|| anyhow::anyhow!("the running agent answered without a run: {error}"))
}

/// One progress line about the agent's running sync of `kind`, from `/api/status`.
async fn show_agent_progress(
    client: &reqwest::Client,
    api: &str,
    token: &crate::domain::Secret,
    kind: RunKind,
) {
    let status = client
        .get(format!("http://{api}/api/status"))
        .bearer_auth(token.expose())
        .timeout(AGENT_PROGRESS_EVERY)
        .send()
        .await;
    let Ok(status) = status else { return };
    let Ok(status) = status.json::<StatusResponse>().await else { return };
    let current = match kind {
        RunKind::Plants => status.schedule.plants.current,
        RunKind::Alerts => status.schedule.alerts.current,
    };
    if let Some(current) = current {
        let p = current.progress;
        eprintln!(
            "[agent] {kind} sync: {} of {} vendors done, {} {kind} stored",
            p.vendors_done, p.vendors_total, p.rows_stored
        );
    }
}

/// Runs `request` here, printing one line per finished vendor on stderr when it is a
/// terminal.
pub async fn run_with_progress(
    engine: &Arc<Engine>,
    request: &RunRequest,
) -> anyhow::Result<RunReport> {
    let kind = request.kind;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<VendorFinished>();
    let printer = std::io::stderr().is_terminal().then(|| {
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let outcome = match (p.result.success, p.result.skipped_rows) {
                    (true, 0) => "ok".to_owned(),
                    (true, skipped) => format!("partial: {skipped} unreadable row(s) skipped"),
                    (false, _) => format!("FAILED: {}", text_cell(p.result.error.as_deref())),
                };
                let outcome = match p.result.duplicate_rows {
                    0 => outcome,
                    repeated => format!("{outcome}; {repeated} repeated row(s) stored once"),
                };
                eprintln!(
                    "[{}/{}] {}: {} of {} {kind} ({outcome}); {} {kind} stored so far",
                    p.done,
                    p.total,
                    p.result.vendor_name,
                    p.result.synced,
                    p.result.total,
                    p.rows_stored
                );
            }
        })
    });
    let progress =
        Arc::new(if printer.is_some() { Progress::with_events(tx) } else { Progress::default() });
    let report = engine.run(request, progress).await?;
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    // The process exits next: the pruning the run started finishes first.
    engine.settle().await;
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
    match format {
        Format::Json => write_json(ctx.out, &RunResponse::original(report)),
        Format::Csv => crate::cli::output::write_csv(ctx.out, &summary.results),
        Format::Table => {
            let noun = summary.kind.as_str();
            writeln!(
                ctx.out,
                "{} sync (run {}, {}): {}/{} vendors successful, {} {noun} synced ({} created, {} updated{}) in {} ms",
                match summary.kind {
                    RunKind::Plants => "plant",
                    RunKind::Alerts => "alert",
                },
                report.run_id,
                report.status,
                summary.successful,
                summary.total_vendors,
                summary.total_synced,
                summary.total_created,
                summary.total_updated,
                match summary.results.iter().map(|r| r.skipped_rows).sum::<u64>() {
                    0 => String::new(),
                    skipped => format!(", {skipped} unreadable row(s) skipped"),
                },
                summary.duration
            )?;
            let mut table = Table::default()
                .text("VENDOR", 8)
                .text("ORG", 5)
                .whole("OK")
                .number("TOTAL")
                .number("SYNCED")
                .number("NEW")
                .number("UPD")
                .text("ERROR", 12);
            for r in &summary.results {
                table.row(vec![
                    format!("{} ({})", r.vendor_name, r.vendor_id),
                    text_cell(r.org_name.as_deref()),
                    crate::cli::output::yes_no(r.success),
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
