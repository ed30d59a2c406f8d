//! The upstream push: the store's rows to a central PostgreSQL that many agents share.
//!
//! # Design
//!
//! * **At least once, idempotent.** Rows travel per table in change order after the
//!   table's watermark, in bounded batches, each one `INSERT ... SELECT FROM UNNEST(...)
//!   ON CONFLICT DO UPDATE ... WHERE central.source_version < excluded.source_version`
//!   ([`schema::upsert`]). The watermark moves only after PostgreSQL confirmed the batch,
//!   so a push that fails anywhere loses nothing and sends the rest (and at worst the
//!   unconfirmed batch again) next time; a replayed batch changes nothing, and a stale one
//!   can never overwrite newer central data. Keys are unique inside a batch (PostgreSQL
//!   refuses a key twice in one `ON CONFLICT` statement with SQLSTATE 21000).
//! * **What never travels** is decided by the store's column lists
//!   ([`crate::store::UpstreamTable::columns`]): no credential, token or admin token; the
//!   vendors' raw JSON only with `upstream.push_raw_json`.
//! * **The URL is a secret** (`config::upstream::UpstreamUrl`): only its redacted form
//!   reaches messages, and every error here names the target that way.
//! * **Plain TCP only for now**: a URL asking for TLS (`sslmode=require`) is refused when
//!   the config is read, never downgraded silently.

pub mod backoff;
pub mod bundle;
pub mod pusher;
pub mod receipt;
pub mod schema;

pub use pusher::{PushError, Pusher};

use crate::config::upstream::UpstreamUrl;
use crate::domain::Timestamp;
use crate::store::{Cursor, LastPush, OutboxRow, Store, StoreError, UpstreamTable};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How long a connection attempt may take before the push gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one statement (a batch, a prepare) may take before the push gives up on it:
/// a link that drops mid-batch would otherwise hold the push, and every request waiting
/// for it, for TCP's retries (minutes) or its keepalive (hours), unseen and unretried.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive on the connection, so a dead link is noticed while waiting for an answer.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Errors of a push or `upstream init`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No `upstream.url` is configured.
    #[error(
        "no upstream is configured: set upstream.url (or PLANTSYNC_UPSTREAM_URL) to a postgres:// URL"
    )]
    NotConfigured,
    /// The server could not be reached or refused the login.
    #[error("cannot reach the upstream {target}: {source}")]
    Connect {
        /// The URL, password redacted.
        target: String,
        /// Why.
        source: tokio_postgres::Error,
    },
    /// A statement got no answer in [`STATEMENT_TIMEOUT`] (the link dropped mid-push).
    #[error("the upstream {target} did not answer {what} within {} s; nothing unconfirmed is marked as delivered", STATEMENT_TIMEOUT.as_secs())]
    Timeout {
        /// The URL, password redacted.
        target: String,
        /// What was sent.
        what: String,
    },
    /// The connection broke while a statement was under way (a link cut mid-batch, the
    /// server shutting down): nothing was refused, the batch is simply sent again. A type
    /// of its own so nothing mistakes it for a rejection of the rows.
    #[error(
        "the connection to the upstream {target} broke during {what}{}",
        reason.as_ref().map(|r| format!(" (the server said: {r})")).unwrap_or_default()
    )]
    Lost {
        /// The URL, password redacted.
        target: String,
        /// What was under way.
        what: String,
        /// The server's words when it ended the connection itself (a restart), else none
        /// (tokio-postgres says only "connection closed").
        reason: Option<String>,
    },
    /// A statement failed.
    #[error("the upstream {target} refused {what}: {source}{hint}")]
    Statement {
        /// The URL, password redacted.
        target: String,
        /// What was sent ("a batch of 1000 plants", "the schema").
        what: String,
        /// Why.
        source: tokio_postgres::Error,
        /// What to do, when known.
        hint: &'static str,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UpstreamError {
    fn statement(target: &str, what: String, source: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let shutdown = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN];
        let ended = source.code().is_some_and(|code| shutdown.contains(code));
        if source.is_closed() || ended {
            let reason = source.as_db_error().filter(|_| ended).map(|db| db.message().to_owned());
            return Self::Lost { target: target.to_owned(), what, reason };
        }
        let hint = match source.code() {
            Some(code)
                if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME =>
            {
                " (run `plantsync upstream init` to create the central tables)"
            }
            _ => "",
        };
        Self::Statement { target: target.to_owned(), what, source, hint }
    }
}

/// The error with its causes, each said once (tokio-postgres keeps the reason a connection
/// failed in its source), for the record `status` shows.
pub fn in_words(error: &UpstreamError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        let part = match next.downcast_ref::<std::io::Error>() {
            Some(io) => crate::datadir::dir::in_words(io),
            None => next.to_string(),
        };
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Rows per batch.
    pub batch_rows: usize,
    /// Send the vendors' raw JSON too.
    pub raw_json: bool,
    /// Send every row again, whatever the watermarks say (`push --full`).
    pub full: bool,
}

/// One table's part of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// The table.
    pub table: UpstreamTable,
    /// Rows sent (after de-duplication inside each batch).
    pub sent: u64,
    /// Rows the central database inserted or changed (a replay of an older or equal
    /// version changes nothing and is not counted).
    pub applied: u64,
    /// Batches sent.
    pub batches: u64,
    /// The watermark after the push.
    pub acknowledged_seq: i64,
}

/// What a push did (also the answer of `POST /api/push`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushReport {
    /// The agent id the rows went under.
    pub agent_id: String,
    /// The target, password redacted.
    pub target: String,
    /// Whether every row was sent (`--full`) or only the changed ones.
    pub full: bool,
    /// Per table, in push order.
    pub tables: Vec<TableStats>,
    /// Rows sent in all.
    pub rows_sent: u64,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
}

/// Connects to the central PostgreSQL; the connection's own task ends with the client.
async fn connect(url: &UpstreamUrl) -> Result<tokio_postgres::Client, UpstreamError> {
    let target = url.shown().to_owned();
    let mut config = tokio_postgres::Config::from_str(url.secret().expose())
        .map_err(|source| UpstreamError::Connect { target: target.clone(), source })?;
    config
        .application_name("plantsync")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE);
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|source| UpstreamError::Connect { target: target.clone(), source })?;
    // Only a debug line: a connection that ends under a statement fails that statement,
    // whose error the caller reports (said once, there).
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("the upstream connection to {target} ended: {e}");
        }
    });
    Ok(client)
}

/// `work`, or [`UpstreamError::Timeout`] after [`STATEMENT_TIMEOUT`].
async fn answered<T>(
    target: &str,
    what: impl FnOnce() -> String,
    work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Result<T, tokio_postgres::Error>, UpstreamError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .map_err(|_| UpstreamError::Timeout { target: target.to_owned(), what: what() })
}

/// `plantsync upstream init`: applies [`schema::central_schema`] (idempotent).
pub async fn init(url: &UpstreamUrl) -> Result<(), UpstreamError> {
    let client = connect(url).await?;
    let schema = schema::central_schema();
    answered(url.shown(), || "the schema".into(), client.batch_execute(&schema))
        .await?
        .map_err(|e| UpstreamError::statement(url.shown(), "the schema".into(), e))
}

/// Keeps one row per natural key, the last (highest change number) of each.
fn dedup(table: UpstreamTable, rows: Vec<OutboxRow>) -> Vec<OutboxRow> {
    let key: Vec<usize> =
        table.columns().iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
    let mut last: HashMap<Vec<Option<String>>, usize> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        last.insert(key.iter().map(|&k| row.values[k].clone()).collect(), i);
    }
    if last.len() == rows.len() {
        return rows;
    }
    rows.into_iter()
        .enumerate()
        .filter(|(i, row)| {
            last.get(&key.iter().map(|&k| row.values[k].clone()).collect::<Vec<_>>()) == Some(i)
        })
        .map(|(_, row)| row)
        .collect()
}

/// Sends one batch; returns the rows the central database inserted or changed.
async fn send(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    agent_id: &str,
    table: UpstreamTable,
    rows: &[OutboxRow],
) -> Result<u64, tokio_postgres::Error> {
    let width = table.columns().len();
    let mut arrays: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); width + 1];
    for row in rows {
        arrays[0].push(Some(row.seq.to_string()));
        for (i, value) in row.values.iter().enumerate() {
            arrays[i + 1].push(value.clone());
        }
    }
    let agent = agent_id.to_owned();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&agent];
    params.extend(arrays.iter().map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)));
    client.execute(statement, &params).await
}

/// Pushes what changed since the watermarks (every row with `full`), and records the
/// outcome for `status` whatever it is.
pub async fn push(
    store: &Store,
    url: &UpstreamUrl,
    options: &PushOptions,
) -> Result<PushReport, UpstreamError> {
    let started_at = Timestamp::now();
    let started = Instant::now();
    let mut report = PushReport {
        agent_id: store.agent_id().await?,
        target: url.shown().to_owned(),
        full: options.full,
        tables: Vec::new(),
        rows_sent: 0,
        duration_ms: 0,
    };
    let outcome = push_tables(store, url, options, &mut report).await;
    report.duration_ms = started.elapsed().as_millis() as u64;
    let recorded = store
        .record_push(LastPush {
            started_at,
            finished_at: Timestamp::now(),
            ok: outcome.is_ok(),
            rows_sent: report.rows_sent,
            error: outcome.as_ref().err().map(in_words),
        })
        .await;
    outcome?;
    recorded?;
    Ok(report)
}

async fn push_tables(
    store: &Store,
    url: &UpstreamUrl,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    let client = connect(url).await?;
    for table in UpstreamTable::ALL {
        let mut watermark = store.upstream_watermark(table).await?;
        if !options.full {
            // What arrived another way (an offline bundle) is not sent again. The read
            // only saves work: when it fails, the push goes on from the stored watermark
            // (sending again what is there changes nothing centrally).
            match receipt::advance(
                store,
                &client,
                &report.target,
                &report.agent_id,
                table,
                watermark,
            )
            .await
            {
                Ok(confirmed) => watermark = confirmed,
                // A broken connection cannot push either: fail here, said once.
                Err(e @ UpstreamError::Lost { .. }) => return Err(e),
                Err(e) => tracing::warn!(
                    "could not read back what the upstream holds of the {table} ({}); \
                     pushing from the stored watermark",
                    in_words(&e)
                ),
            }
        }
        let mut stats =
            TableStats { table, sent: 0, applied: 0, batches: 0, acknowledged_seq: watermark };
        let mut cursor =
            if options.full { Cursor::default() } else { Cursor::after_watermark(watermark) };
        let upsert = schema::upsert(table);
        let prepared =
            answered(&report.target, || format!("the {table} upsert"), client.prepare(&upsert))
                .await?;
        let statement = prepared.map_err(|e| {
            UpstreamError::statement(&report.target, format!("the {table} upsert"), e)
        })?;
        loop {
            let batch =
                store.upstream_batch(table, cursor, options.batch_rows, options.raw_json).await?;
            if batch.rows.is_empty() {
                break;
            }
            let rows = dedup(table, batch.rows);
            let what = || format!("a batch of {} {table}", rows.len());
            let sent = answered(
                &report.target,
                what,
                send(&client, &statement, &report.agent_id, table, &rows),
            )
            .await?;
            let applied = sent.map_err(|e| UpstreamError::statement(&report.target, what(), e))?;
            // Confirmed: only now may the watermark move.
            store.acknowledge_upstream(table, batch.safe_watermark).await?;
            stats.acknowledged_seq = stats.acknowledged_seq.max(batch.safe_watermark);
            stats.sent += rows.len() as u64;
            stats.applied += applied;
            stats.batches += 1;
            report.rows_sent += rows.len() as u64;
            cursor = batch.next;
            if !batch.more {
                break;
            }
        }
        report.tables.push(stats);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_in_a_batch_keeps_its_last_version() {
        let row = |seq: i64, id: &str| OutboxRow {
            seq,
            id: seq,
            values: UpstreamTable::SyncRuns
                .columns()
                .iter()
                .enumerate()
                .map(|(i, _)| Some(if i == 0 { id.to_owned() } else { seq.to_string() }))
                .collect(),
        };
        let rows = dedup(UpstreamTable::SyncRuns, vec![row(1, "7"), row(2, "8"), row(3, "7")]);
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    }
}
