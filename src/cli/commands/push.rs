//! `plantsync push` and `plantsync upstream schema|init`: the CLI of the upstream push.
//!
//! One push per data dir at a time, decided as for `sync`: when an agent runs on the data
//! dir the push goes through its API (`POST /api/push`, which waits for the agent's own
//! push under way and uses the agent's `upstream.url`); otherwise this process takes the
//! data dir's lock (waiting for a CLI sync or push holding it) and pushes itself.

use super::{Ctx, UsageError};
use crate::cli::UpstreamCommand;
use crate::cli::output::{Format, TABLE_WIDTH, Table, write_json};
use crate::config::Settings;
use crate::config::upstream::UpstreamUrl;
use crate::datadir::lock::{AgentInfo, DataDirLock, SyncAccess, Work};
use crate::upstream::{self, PushOptions, PushReport};
use std::io::Write;
use std::time::Duration;

/// What `push` says when it fails: the rows stay queued.
const NOTHING_LOST: &str =
    "push failed; nothing is lost: every row not confirmed stays queued for the next push";

/// How long the CLI keeps looking when the agent it asked is stopping or gone (as `sync`).
const AGENT_GONE_WAIT: Duration = Duration::from_secs(45);

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
        UpstreamCommand::Import { file, format } => {
            let url = url(settings)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let batch_rows = settings.upstream_batch_rows.value as usize;
            let report = runtime.block_on(upstream::bundle::import(url, file, batch_rows))?;
            super::bundle::print_import(&report, *format, out)
        }
        UpstreamCommand::Export { .. } => {
            unreachable!("an export reads the store: dispatched with it")
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
    let dir = ctx.settings.data_dir.value.clone();
    let mut gone_since: Option<tokio::time::Instant> = None;
    let report = loop {
        let access = DataDirLock::acquire_for_sync(&dir, Work::Push, |holder| {
            eprintln!("waiting for {} to finish", holder.describe());
        })
        .await?;
        match access {
            SyncAccess::Agent(agent) => match through_agent(ctx, &agent, args.full).await? {
                Some(report) => break report,
                None if gone_since.get_or_insert_with(tokio::time::Instant::now).elapsed()
                    < AGENT_GONE_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => anyhow::bail!(
                    "the agent (pid {}) holds this data dir but does not answer; is it stuck?",
                    agent.pid
                ),
            },
            SyncAccess::Locked(lock) => {
                let pushed = upstream::push(ctx.store, url, &options).await;
                drop(lock);
                match pushed {
                    Ok(report) => break report,
                    Err(e) => return Err(anyhow::Error::new(e).context(NOTHING_LOST)),
                }
            }
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

/// Asks the running agent to push and waits for its report; `None` when the agent is gone
/// or stopping (its lock is free soon).
async fn through_agent(
    ctx: &Ctx<'_>,
    agent: &AgentInfo,
    full: bool,
) -> anyhow::Result<Option<PushReport>> {
    let Some(api) = agent.api.as_deref() else { return Ok(None) };
    let token = crate::datadir::token::read(&ctx.settings.data_dir.value)?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("an agent (pid {}) runs on this data dir: asking it to push", agent.pid);
    }
    // No timeout of our own: a push ends when its batches are confirmed or refused.
    let client = crate::vendors::http::plain_client(Duration::from_secs(24 * 3600))?;
    let sent = client
        .post(format!("http://{api}/api/push"))
        .query(&[("full", full.to_string())])
        .bearer_auth(token.expose())
        .send()
        .await;
    let Ok(response) = sent else { return Ok(None) };
    let status = response.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Ok(None);
    }
    if status.is_success() {
        return match response.json::<PushReport>().await {
            Ok(report) => Ok(Some(report)),
            Err(e) => anyhow::bail!("the running agent's push answer is unreadable: {e}"),
        };
    }
    let error = response
        .json::<crate::api::wire::ErrorBody>()
        .await
        .map_or_else(|_| format!("HTTP {status}"), |body| body.error);
    match status {
        reqwest::StatusCode::BAD_GATEWAY => Err(anyhow::anyhow!("{error}").context(NOTHING_LOST)),
        reqwest::StatusCode::CONFLICT | reqwest::StatusCode::BAD_REQUEST => {
            Err(UsageError(format!("the agent running on this data dir refused: {error}")).into())
        }
        _ => anyhow::bail!("the running agent refused the push (HTTP {status}): {error}"),
    }
}
