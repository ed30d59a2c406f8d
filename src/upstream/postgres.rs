//! The direct transport: tokio-postgres to the central PostgreSQL. Each batch is one
//! transaction: `COPY` of its rows (text format) into a temporary staging table of the
//! central table's types, then one `INSERT ... SELECT ... ON CONFLICT DO UPDATE`
//! ([`super::schema::upsert`]), never a statement per row. COPY is PostgreSQL's cheapest
//! way in (no per-value casts or array decoding), so the push costs little more than
//! `psql \copy` of the same rows (`benches/upstream_push.sh`).
//!
//! Every request answers within [`STATEMENT_TIMEOUT`] or fails as a timeout, and the
//! connection keeps TCP keepalive on: a link that drops mid-batch is a recorded, retried
//! failure, not a push that hangs for TCP's retries.

use super::central::{Central, Refusal, RowKey, SendError, TableReceipt, Tombstone};
use super::{UpstreamError, schema, schema::SCHEMA};
use crate::config::upstream::UpstreamUrl;
use crate::store::{OutboxRow, UpstreamTable};
use async_trait::async_trait;
use std::time::Duration;

/// How long a connection attempt may take before the push gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one statement (a batch, a prepare) may take before the push gives up on it:
/// a link that drops mid-batch would otherwise hold the push, and every request waiting
/// for it, for TCP's retries (minutes) or its keepalive (hours), unseen and unretried.
pub(super) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive on the connection, so a dead link is noticed while waiting for an answer.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// A connection to the central PostgreSQL.
pub struct PgCentral {
    client: tokio_postgres::Client,
    target: String,
}

/// Whether PostgreSQL refused a batch for its rows (SQLSTATE class 22: a value out of
/// range or unreadable; 23: a constraint; 54: a row over a limit) or for anything else.
fn refusal(error: &tokio_postgres::Error) -> Refusal {
    match error.code().map(|code| &code.code()[..2]) {
        Some("22" | "23" | "54") => Refusal::Permanent,
        _ => Refusal::Retry,
    }
}

impl PgCentral {
    /// Connects, over TLS as the URL's `sslmode` says ([`super::tls`]); the connection's
    /// own task ends with the client.
    pub async fn connect(url: &UpstreamUrl) -> Result<Self, UpstreamError> {
        let target = url.shown().to_owned();
        let mut config = url.postgres_config();
        config
            .application_name("plantsync")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE);
        let (client, connection) = config
            .connect(super::tls::MakeRustlsConnect::new(url.tls()))
            .await
            .map_err(|source| UpstreamError::Connect { target: target.clone(), source })?;
        let shown = target.clone();
        // Only a debug line: a connection that ends under a statement fails that statement,
        // whose error the caller reports (said once, there).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("the upstream connection to {shown} ended: {e}");
            }
        });
        Ok(Self { client, target })
    }

    /// `work`'s answer, or [`UpstreamError::Timeout`] after [`STATEMENT_TIMEOUT`]; a
    /// refusal is named by `what` and classified by [`refusal`].
    async fn answered<T>(
        &self,
        what: impl Fn() -> String,
        work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, SendError> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, work).await {
            Err(_) => Err(SendError::retry(UpstreamError::Timeout {
                target: self.target.clone(),
                what: what(),
            })),
            Ok(Err(e)) => Err(SendError {
                refusal: refusal(&e),
                error: UpstreamError::statement(&self.target, what(), e),
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// Applies [`schema::central_schema`] (idempotent).
    pub async fn init(&self) -> Result<(), UpstreamError> {
        let sql = schema::central_schema();
        self.answered(|| "the schema".into(), self.client.batch_execute(&sql))
            .await
            .map_err(|e| e.error)
    }

    /// One staged batch in one transaction; returns the rows inserted or changed.
    ///
    /// Everything happens inside the batch's transaction, with no prepared statement: the
    /// staging table is created there when the session lacks it (`IF NOT EXISTS`, emptied
    /// at every commit), so a transaction-mode pooler (PgBouncer, Supabase's pooler), which
    /// may give each transaction another server session, works as a direct connection
    /// does. The server's own time limits end a transaction whose answer was given up on
    /// (it then never commits, and holds no lock for long).
    async fn staged(
        &self,
        table: UpstreamTable,
        data: bytes::Bytes,
    ) -> Result<u64, tokio_postgres::Error> {
        use futures_util::SinkExt;
        let limit = STATEMENT_TIMEOUT.as_secs();
        self.client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL statement_timeout = '{limit}s';
                 SET LOCAL idle_in_transaction_session_timeout = '{limit}s'; {}",
                schema::create_stage(table)
            ))
            .await?;
        let sink = self.client.copy_in::<_, bytes::Bytes>(&schema::copy_in(table)).await?;
        let mut sink = std::pin::pin!(sink);
        sink.send(data).await?;
        sink.as_mut().finish().await?;
        let answers =
            self.client.simple_query(&format!("{}; COMMIT", schema::upsert(table))).await?;
        // The first completion is the INSERT's (the COMMIT's follows).
        Ok(answers
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
                _ => None,
            })
            .unwrap_or(0))
    }
}

/// The COPY text of one batch: a line per row, the agent id, the version, then the
/// columns; `\N` for NULL; backslash, tab, newline and carriage return escaped.
fn copy_text(agent_id: &str, rows: &[OutboxRow]) -> Vec<u8> {
    fn value(out: &mut Vec<u8>, text: &str) {
        for byte in text.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                other => out.push(other),
            }
        }
    }
    let mut out = Vec::with_capacity(rows.len() * 256);
    for row in rows {
        value(&mut out, agent_id);
        out.push(b'\t');
        out.extend_from_slice(row.seq.to_string().as_bytes());
        for column in &row.values {
            out.push(b'\t');
            match column {
                Some(text) => value(&mut out, text),
                None => out.extend_from_slice(b"\\N"),
            }
        }
        out.push(b'\n');
    }
    out
}

#[async_trait]
impl Central for PgCentral {
    async fn upsert(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        rows: &[OutboxRow],
    ) -> Result<Option<u64>, SendError> {
        let data = bytes::Bytes::from(copy_text(agent_id, rows));
        let outcome = self
            .answered(|| format!("a batch of {} {table}", rows.len()), self.staged(table, data))
            .await;
        if let Err(SendError { refusal: Refusal::Permanent, .. }) = &outcome {
            // A refused batch leaves its transaction aborted: end it, so the connection
            // serves the halves of the split. (Any other failure ends the push, and with
            // it the connection.)
            let rollback = self.client.batch_execute("ROLLBACK");
            let _ = tokio::time::timeout(STATEMENT_TIMEOUT, rollback).await;
        }
        let applied = outcome?;
        Ok(Some(applied))
    }

    async fn versions_above(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        above: i64,
    ) -> Result<Vec<(RowKey, i64)>, UpstreamError> {
        let key: Vec<String> = table
            .columns()
            .iter()
            .filter(|c| c.key)
            .map(|c| schema::key_text(c.name, c.kind))
            .collect();
        let sql = format!(
            "SELECT {}, source_version FROM {SCHEMA}.{table}
             WHERE agent_id = $1::text::uuid AND source_version > $2 AND NOT deleted",
            key.join(", ")
        );
        let agent = agent_id.to_owned();
        let rows = self
            .answered(|| format!("the {table} receipt"), self.client.query(&sql, &[&agent, &above]))
            .await
            .map_err(|e| e.error)?;
        Ok(rows
            .iter()
            .map(|r| {
                ((0..key.len()).map(|i| r.get::<_, Option<String>>(i)).collect(), r.get(key.len()))
            })
            .collect())
    }

    async fn receipt(&self, agent_id: &str) -> Result<Vec<TableReceipt>, UpstreamError> {
        let sql = format!(
            "SELECT table_name, row_count, checksum, max_version FROM {SCHEMA}.receipt($1::text::uuid)"
        );
        let agent = agent_id.to_owned();
        let rows = self
            .answered(|| "the receipt".into(), self.client.query(&sql, &[&agent]))
            .await
            .map_err(|e| e.error)?;
        Ok(UpstreamTable::ALL
            .iter()
            .map(|&table| {
                let found = rows.iter().find(|r| r.get::<_, &str>(0) == table.as_str());
                TableReceipt {
                    table,
                    rows: found.map_or(0, |r| r.get(1)),
                    checksum: found.map_or(0, |r| r.get(2)),
                    max_version: found.map_or(0, |r| r.get(3)),
                }
            })
            .collect())
    }

    async fn forget(&self, agent_id: &str, tombstones: &[Tombstone]) -> Result<u64, SendError> {
        let deletions = super::central::deletions_json(tombstones);
        let sql = format!("SELECT {SCHEMA}.forget($1::text::uuid, $2::text::jsonb)");
        let agent = agent_id.to_owned();
        let row = self
            .answered(
                || format!("{} deletions", tombstones.len()),
                self.client.query_one(&sql, &[&agent, &deletions]),
            )
            .await?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }
}
