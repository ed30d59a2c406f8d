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
        UpstreamCommand::Export { .. } | UpstreamCommand::Rejected { .. } => {
            unreachable!("reads the store: dispatched with it")
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
        retry_rejected: args.retry_rejected,
        verify: args.verify,
    };
    let mode = upstream::PushMode {
        full: args.full,
        retry_rejected: args.retry_rejected,
        verify: args.verify,
    };
    let dir = ctx.settings.data_dir.value.clone();
    let mut gone_since: Option<tokio::time::Instant> = None;
    let report = loop {
        let access = DataDirLock::acquire_for_sync(&dir, Work::Push, |holder| {
            eprintln!("waiting for {} to finish", holder.describe());
        })
        .await?;
        match access {
            SyncAccess::Agent(agent) => match through_agent(ctx, &agent, mode).await? {
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
        Format::Table | Format::Csv => print_report(&report, args.verify, ctx.out),
    }
}

fn print_report(report: &PushReport, verify: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut table = Table::default()
        .whole("TABLE")
        .number("SENT")
        .number("APPLIED")
        .number("REJECTED")
        .number("BATCHES")
        .number("WATERMARK")
        .whole("RECEIPT");
    for t in &report.tables {
        let check =
            report.receipt.as_ref().and_then(|r| r.tables.iter().find(|c| c.table == t.table));
        table.row(vec![
            t.table.to_string(),
            t.sent.to_string(),
            t.applied.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            t.rejected.to_string(),
            t.batches.to_string(),
            t.acknowledged_seq.to_string(),
            check.map_or_else(|| "-".to_owned(), receipt_words),
        ]);
    }
    write!(out, "{}", table.render(TABLE_WIDTH))?;
    writeln!(
        out,
        "pushed {} rows as agent {} to {} in {} ms",
        report.rows_sent, report.agent_id, report.target, report.duration_ms
    )?;
    if report.deletions_sent > 0 {
        writeln!(out, "{} deletions confirmed centrally", report.deletions_sent)?;
    }
    if report.retried > 0 {
        writeln!(out, "{} rows set aside earlier went through", report.retried)?;
    }
    if report.rejected > 0 {
        writeln!(
            out,
            "{} rows refused by the upstream were set aside (see `plantsync upstream rejected`)",
            report.rejected
        )?;
    }
    if let Some(bundle) = &report.bundle {
        writeln!(
            out,
            "wrote {} rows into the bundle {bundle}: carry it to a connected machine and run \
             `plantsync upstream import` there; nothing is marked delivered until the central \
             database has them",
            report.rows_sent
        )?;
        return Ok(());
    }
    match &report.receipt {
        Some(receipt) if !receipt.differences.is_empty() => {
            print_differences(receipt, out)?;
            writeln!(
                out,
                "{} rows differ from the store; {} re-queued: the next push repairs them",
                receipt.differences.len(),
                receipt.requeued
            )?;
        }
        Some(_) if verify => {
            writeln!(out, "verified: every central row of this agent matches the store")?;
        }
        Some(_) => {}
        None => writeln!(out, "the receipt could not be read (see the log)")?,
    }
    Ok(())
}

/// One table's receipt in words.
fn receipt_words(check: &upstream::verify::TableCheck) -> String {
    use upstream::verify::Verdict;
    match check.verdict {
        Verdict::Matches => format!("{} rows match", check.central_rows),
        Verdict::Differs => {
            format!("differs: {} central, {} here", check.central_rows, check.local_rows)
        }
        Verdict::Pending => "not compared (rows pending)".to_owned(),
    }
}

/// The rows the receipt found differing, key by key.
fn print_differences(
    receipt: &upstream::verify::Receipt,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut table = Table::default()
        .whole("TABLE")
        .whole("KEY")
        .number("HERE")
        .number("CENTRAL")
        .whole("DIFFERENCE");
    for d in &receipt.differences {
        let key: Vec<&str> = d.key.iter().map(|k| k.as_deref().unwrap_or("")).collect();
        table.row(vec![
            d.table.to_string(),
            key.join("/"),
            d.local_version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            d.central_version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            d.kind.as_str().to_owned(),
        ]);
    }
    write!(out, "{}", table.render(TABLE_WIDTH))?;
    Ok(())
}

/// `upstream rejected`: the rows set aside, with why.
pub async fn rejected(ctx: &mut Ctx<'_>, format: Format) -> anyhow::Result<()> {
    let entries = ctx.store.upstream_rejected().await?;
    match format {
        Format::Json => write_json(ctx.out, &entries),
        Format::Table | Format::Csv => {
            if entries.is_empty() {
                writeln!(ctx.out, "no row is set aside: the upstream took every row sent")?;
                return Ok(());
            }
            let mut table = Table::default()
                .whole("TABLE")
                .whole("KEY")
                .number("VERSION")
                .whole("REFUSED AT")
                .number("TRIES")
                .text("WHY", 20);
            for e in &entries {
                let key: Vec<&str> = e.key.iter().map(|k| k.as_deref().unwrap_or("")).collect();
                let version = if e.changed_since {
                    format!("{} (changed since)", e.seq)
                } else {
                    e.seq.to_string()
                };
                table.row(vec![
                    e.table.to_string(),
                    key.join("/"),
                    version,
                    e.rejected_at.to_string(),
                    e.attempts.to_string(),
                    e.error.clone(),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            writeln!(
                ctx.out,
                "{} rows set aside; `plantsync push --retry-rejected` sends them again",
                entries.len()
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
    mode: upstream::PushMode,
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
        .query(&[
            ("full", mode.full.to_string()),
            ("retry_rejected", mode.retry_rejected.to_string()),
            ("verify", mode.verify.to_string()),
        ])
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
