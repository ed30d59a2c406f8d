//! The upstream push: the store's rows to a central PostgreSQL that many agents share.
//!
//! # Design
//!
//! * **At least once, idempotent.** Rows travel per table in change order after the
//!   table's watermark, in bounded batches, each one upsert ([`schema::upsert`] directly,
//!   PostgREST's merge-duplicates over HTTP) that the central trigger `keep_newer` lets
//!   change a row only for a newer `source_version`. The watermark moves only after the
//!   upstream confirmed the batch,
//!   so a push that fails anywhere loses nothing and sends the rest (and at worst the
//!   unconfirmed batch again) next time; a replayed batch changes nothing, and a stale one
//!   can never overwrite newer central data. Keys are unique inside a batch (PostgreSQL
//!   refuses a key twice in one `ON CONFLICT` statement with SQLSTATE 21000).
//! * **What never travels** is decided by the store's column lists
//!   ([`crate::store::UpstreamTable::columns`]): no credential, token or admin token; the
//!   vendors' raw JSON only with `upstream.push_raw_json`.
//! * **The URL is a secret** (`config::upstream::UpstreamUrl`): only its redacted form
//!   reaches messages, and every error here names the target that way.
//! * **Two transports, one push**: `postgres://` goes straight to PostgreSQL
//!   ([`postgres`]), `https://` through PostgREST / Supabase ([`postgrest`], its key
//!   `upstream.api_key` as secret as the URL); [`open`] picks one by the URL. A
//!   `file://` URL has no database: each push writes the queue as this agent's offline
//!   bundle there ([`bundle`]) and confirms nothing.
//! * **A refused row never stops the queue**: a batch the central side refuses for what it
//!   holds ([`central::Refusal::Permanent`]) is split until its bad rows are found; they
//!   are set aside with their error (`plantsync upstream rejected`) in the transaction that
//!   moves the watermark past them, and the rest goes through.
//! * **Deletions travel** as queued tombstones, marked deleted centrally once confirmed.
//! * **Every push ends with a receipt** ([`verify`]): the central count and checksum per
//!   table against the store's; a table that differs has its differing rows re-queued.
//! * **TLS by the URL's `sslmode`** ([`tls`]): libpq's five modes, rustls with the ring
//!   provider, the system's roots plus `sslrootcert=`. Every mode that uses TLS checks the
//!   certificate chain (`require` too: the connection carries the password), `verify-full`
//!   the host name as well; a certificate that fails is an error, never a fallback to
//!   plain TCP.

pub mod backoff;
pub mod bundle;
pub mod central;
pub mod postgres;
pub mod postgrest;
pub mod pusher;
pub mod receipt;
pub mod schema;
pub mod tls;
pub mod verify;

pub use pusher::{PushError, Pusher};

use crate::config::upstream::UpstreamUrl;
use crate::config::upstream_target::Transport;
use crate::domain::Timestamp;
use crate::store::{Cursor, LastPush, OutboxRow, RejectedRow, Store, StoreError, UpstreamTable};
use central::{Central, Refusal, SendError, Tombstone};
use postgres::STATEMENT_TIMEOUT;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

/// Deletions sent per request.
const DELETIONS_PER_BATCH: usize = 500;
/// A central version above this is no number a store made (2^52: a store changing a
/// million rows a second would need 140 years): a typing error in a hand-made central
/// update, not a reason to move the store's counter there.
const MAX_BELIEVABLE_VERSION: i64 = 1 << 52;

/// Errors of a push or `upstream init`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No `upstream.url` is configured.
    #[error(
        "no upstream is configured: set upstream.url (or PLANTSYNC_UPSTREAM_URL) to a postgres:// URL or a PostgREST https:// URL"
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
    /// A PostgREST `upstream.url` without `upstream.api_key`.
    #[error(
        "the upstream {target} is a PostgREST URL but upstream.api_key (PLANTSYNC_UPSTREAM_API_KEY) is not set: give it a per-device key with rights on the plantsync tables only, never the service-role key"
    )]
    NoApiKey {
        /// The URL.
        target: String,
    },
    /// `upstream init` over PostgREST, which runs no DDL.
    #[error(
        "PostgREST cannot create tables: run the SQL that `plantsync upstream schema` prints in the SQL editor of {target}'s database (Supabase: SQL Editor), then expose the schema plantsync (Supabase: API settings, Exposed schemas)"
    )]
    NoDdl {
        /// The URL.
        target: String,
    },
    /// A `file://` upstream has no database to create tables in or import into.
    #[error(
        "the upstream {target} is a file for offline bundles, not a database: `upstream init` \
         and `upstream import` need a postgres:// or PostgREST https:// upstream.url"
    )]
    NoDatabase {
        /// The URL.
        target: String,
    },
    /// An HTTP request to PostgREST got no answer (the link, DNS, TLS).
    #[error("cannot reach the upstream {target} ({what}): {reason}")]
    Request {
        /// The URL.
        target: String,
        /// What was sent.
        what: String,
        /// Why, without the URL or the key.
        reason: String,
    },
    /// PostgREST answered with an error status.
    #[error(transparent)]
    Http(Box<postgrest::HttpRefusal>),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A `file://` upstream's bundle could not be written.
    #[error("{0}")]
    Bundle(String),
}

impl UpstreamError {
    pub(crate) fn statement(target: &str, what: String, source: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let shutdown = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN];
        let ended = source.code().is_some_and(|code| shutdown.contains(code));
        if source.is_closed() || ended {
            let reason = source.as_db_error().filter(|_| ended).map(|db| db.message().to_owned());
            return Self::Lost { target: target.to_owned(), what, reason };
        }
        // A central schema missing, or made by an older plantsync (no `deleted` column,
        // no receipt function): `upstream init` creates or completes it, idempotently.
        let outdated = [
            SqlState::UNDEFINED_TABLE,
            SqlState::INVALID_SCHEMA_NAME,
            SqlState::UNDEFINED_COLUMN,
            SqlState::UNDEFINED_FUNCTION,
        ];
        let hint = match source.code() {
            Some(code) if outdated.contains(code) => {
                " (run `plantsync upstream init` to create or update the central tables)"
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

/// What a person asked of a push beyond the changed rows (the CLI's and the API's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushMode {
    /// Every row again (`--full`).
    pub full: bool,
    /// The rows set aside again first (`--retry-rejected`).
    pub retry_rejected: bool,
    /// Compare every table key by key after the push, not only those whose receipt
    /// differs (`--verify`).
    pub verify: bool,
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
    /// Send the rows set aside again first (`push --retry-rejected`).
    pub retry_rejected: bool,
    /// Compare every table key by key after the push (`push --verify`).
    pub verify: bool,
}

/// One table's part of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// The table.
    pub table: UpstreamTable,
    /// Rows sent (after de-duplication inside each batch).
    pub sent: u64,
    /// Rows the central database inserted or changed (a replay of an older or equal
    /// version changes nothing and is not counted); `None` when the transport cannot tell.
    pub applied: Option<u64>,
    /// Rows the central database refused, set aside in this push.
    #[serde(default)]
    pub rejected: u64,
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
    /// Rows set aside in this push (refused by the central database).
    #[serde(default)]
    pub rejected: u64,
    /// Deletions the central database confirmed.
    #[serde(default)]
    pub deletions_sent: u64,
    /// Rows set aside earlier that went through now (`--retry-rejected`).
    #[serde(default)]
    pub retried: u64,
    /// The receipt read after the push (`None` when it could not be read, the push itself
    /// still confirmed batch by batch, or for a `file://` upstream).
    #[serde(default)]
    pub receipt: Option<verify::Receipt>,
    /// The bundle written, for a `file://` upstream (nothing is confirmed then).
    #[serde(default)]
    pub bundle: Option<String>,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
}

/// Connects to the upstream `url` names, by the transport its scheme names.
pub async fn open(url: &UpstreamUrl) -> Result<Box<dyn Central>, UpstreamError> {
    match url.transport() {
        Transport::PostgRest => Ok(Box::new(postgrest::RestCentral::new(url)?)),
        Transport::Postgres => Ok(Box::new(postgres::PgCentral::connect(url).await?)),
        Transport::File => Err(UpstreamError::NoDatabase { target: url.shown().to_owned() }),
    }
}

/// `plantsync upstream init`: applies [`schema::central_schema`] (idempotent); PostgREST
/// runs no DDL, so over it this says where to run the schema instead.
pub async fn init(url: &UpstreamUrl) -> Result<(), UpstreamError> {
    match url.transport() {
        Transport::PostgRest => {
            return Err(UpstreamError::NoDdl { target: url.shown().to_owned() });
        }
        Transport::File => {
            return Err(UpstreamError::NoDatabase { target: url.shown().to_owned() });
        }
        Transport::Postgres => {}
    }
    postgres::PgCentral::connect(url).await?.init().await
}

/// Keeps one row per natural key, the last (highest change number) of each. The keys are
/// compared by reference: a batch of distinct keys (the usual case) is returned as it is,
/// with no value copied.
fn dedup(table: UpstreamTable, rows: Vec<OutboxRow>) -> Vec<OutboxRow> {
    let key: Vec<usize> =
        table.columns().iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
    let keep: std::collections::HashSet<usize> = {
        let mut last: HashMap<Vec<&Option<String>>, usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            last.insert(key.iter().map(|&k| &row.values[k]).collect(), i);
        }
        if last.len() == rows.len() {
            return rows;
        }
        last.into_values().collect()
    };
    rows.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, row)| row).collect()
}

/// What one batch's delivery did.
#[derive(Debug, Default)]
struct Delivered {
    /// Rows inserted or changed centrally, when the transport tells.
    applied: Option<u64>,
    /// Rows the central side refused for what they hold, with why.
    rejected: Vec<RejectedRow>,
}

/// Sends `rows` (keys unique); a batch refused for its rows is split in halves until the
/// refused rows stand alone, so only they are set aside. A failure that is not the rows'
/// fault fails the whole delivery: nothing of it is acknowledged.
async fn deliver(
    central: &dyn Central,
    agent_id: &str,
    table: UpstreamTable,
    rows: &[OutboxRow],
) -> Result<Delivered, UpstreamError> {
    let key: Vec<usize> =
        table.columns().iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
    let mut delivered = Delivered::default();
    let mut work: Vec<&[OutboxRow]> = vec![rows];
    while let Some(part) = work.pop() {
        if part.is_empty() {
            continue;
        }
        match central.upsert(agent_id, table, part).await {
            Ok(applied) => {
                delivered.applied = match (delivered.applied, applied) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                };
            }
            Err(SendError { refusal: Refusal::Retry, error }) => return Err(error),
            Err(SendError { refusal: Refusal::Permanent, error }) if part.len() == 1 => {
                let row = &part[0];
                tracing::warn!(
                    "the upstream refused one of the {table} ({}); set aside, the queue goes on",
                    in_words(&error)
                );
                delivered.rejected.push(RejectedRow {
                    id: row.id,
                    seq: row.seq,
                    key: key.iter().map(|&k| row.values[k].clone()).collect(),
                    error: crate::domain::text::excerpt(&in_words(&error), 500),
                });
            }
            Err(SendError { refusal: Refusal::Permanent, .. }) => {
                let (first, second) = part.split_at(part.len() / 2);
                work.push(second);
                work.push(first);
            }
        }
    }
    Ok(delivered)
}

/// Pushes what changed since the watermarks (every row with `full`), then reads the
/// receipt, and records the outcome for `status` whatever it is.
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
        rejected: 0,
        deletions_sent: 0,
        retried: 0,
        receipt: None,
        bundle: None,
        duration_ms: 0,
    };
    // Today's live values wait in the plants' rows: into `plant_days`, which the push reads.
    let outcome = match store.copy_live_days(started_at).await {
        Err(e) => Err(e.into()),
        Ok(()) => match url.file() {
            Some(path) => push_to_file(store, path, options, &mut report).await,
            None => match open(url).await {
                Ok(central) => push_to(store, &*central, options, &mut report).await,
                Err(e) => Err(e),
            },
        },
    };
    report.duration_ms = started.elapsed().as_millis() as u64;
    // A push that went through (not into a file) and whose receipt found nothing missing
    // leaves every change committed before it started central.
    // (Not when the receipt could not be read, found rows missing, or found the store
    // restored from an older copy: its changes before this push may be behind newer
    // central rows.)
    let caught_up = outcome.is_ok()
        && report.bundle.is_none()
        && report.receipt.as_ref().is_some_and(|r| r.requeued == 0 && r.counter_raised.is_none());
    if caught_up && let Err(e) = store.record_caught_up(started_at).await {
        tracing::warn!("cannot record the push's completion: {e}");
    }
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

/// A `file://` upstream: the whole queue (every row not yet confirmed centrally) written
/// as an offline bundle at `path`, replacing this agent's earlier bundle there and nothing
/// else. Nothing is confirmed: the site learns what arrived from the central database
/// itself, at its next online push, so the bundle always carries everything still open.
async fn push_to_file(
    store: &Store,
    path: &std::path::Path,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    let export = bundle::ExportOptions {
        batch_rows: options.batch_rows,
        raw_json: options.raw_json,
        full: options.full,
        replace: bundle::Replace::OwnBundle,
    };
    let manifest = bundle::export(store, path, &export)
        .await
        .map_err(|e| UpstreamError::Bundle(e.to_string()))?;
    for table in &manifest.tables {
        report.tables.push(TableStats {
            table: table.table,
            sent: table.rows,
            applied: None,
            rejected: 0,
            batches: 1,
            acknowledged_seq: store.upstream_watermark(table.table).await?,
        });
        report.rows_sent += table.rows;
    }
    report.bundle = Some(path.display().to_string());
    Ok(())
}

/// The push over an open connection: rows set aside (when asked), every table, the
/// deletions, then the receipt.
async fn push_to(
    store: &Store,
    central: &dyn Central,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    if options.retry_rejected {
        retry_rejected(store, central, options, report).await?;
    }
    push_tables(store, central, options, report).await?;
    push_deletions(store, central, report).await?;
    match receipt(store, central, &report.agent_id, options.verify).await {
        Ok(receipt) => report.receipt = Some(receipt),
        Err(e) => tracing::warn!(
            "could not read the receipt of the push ({}); every batch was confirmed as sent",
            in_words(&e)
        ),
    }
    Ok(())
}

/// Reads the receipt, compares key by key every table that differs (every table when
/// `thorough`), re-queues what differs, and records it.
async fn receipt(
    store: &Store,
    central: &dyn Central,
    agent_id: &str,
    thorough: bool,
) -> Result<verify::Receipt, UpstreamError> {
    let mut tables = verify::check(store, central, agent_id).await?;
    // A store restored from an older copy has a counter below versions its agent's central
    // rows carry: its next changes would be taken for old ones. Move it past them.
    let highest = tables.iter().map(|t| t.central_max_version).max().unwrap_or(0);
    let mut counter_raised = None;
    if highest > MAX_BELIEVABLE_VERSION {
        tracing::warn!(
            "the central database holds a version {highest} of this agent's rows, beyond any \
             this store could have made: the store's counter is left as it is"
        );
    } else if let Some(before) = store.raise_counter(highest).await? {
        tracing::warn!(
            "the central database holds changes of this agent up to number {highest}, beyond \
             this store's {before} (a store restored from an older copy?): new changes now \
             number above them; `plantsync push --verify` lists the rows newer centrally"
        );
        counter_raised = Some((before, highest));
    }
    let mut requeued = 0;
    let mut differences = Vec::new();
    for check in tables.iter_mut().filter(|t| thorough || t.verdict == verify::Verdict::Differs) {
        let found = verify::differences(store, central, agent_id, check.table).await?;
        if found.is_empty() {
            // Rows set aside explain the counts (the key-by-key comparison leaves them out).
            if check.verdict == verify::Verdict::Differs {
                check.verdict = verify::Verdict::Matches;
            }
            continue;
        }
        let queued = verify::requeue(store, check.table, &found, check.central_max_version).await?;
        let reported = found.len() as u64 - queued.min(found.len() as u64);
        tracing::warn!(
            "the central {} differ from the store ({} rows centrally, {} here): {queued} rows \
             re-queued for the next push{}",
            check.table,
            check.central_rows,
            check.local_rows,
            if reported > 0 {
                format!(
                    "; {reported} newer centrally or only there, left alone (see `plantsync \
                     push --verify`)"
                )
            } else {
                String::new()
            }
        );
        check.verdict = verify::Verdict::Differs;
        requeued += queued;
        differences.extend(found);
    }
    let receipt = verify::Receipt {
        checked_at: Timestamp::now(),
        tables,
        requeued,
        differences,
        counter_raised,
    };
    store
        .record_receipt(crate::store::StoredReceipt {
            checked_at: receipt.checked_at,
            ok: receipt.ok(),
            requeued: receipt.requeued,
            tables: serde_json::to_value(&receipt.tables).unwrap_or_default(),
            differences: receipt.differences.len() as u64,
        })
        .await?;
    Ok(receipt)
}

/// Sends the rows set aside that are still at their refused version; those taken now
/// leave the list, those refused again stay with their new error.
async fn retry_rejected(
    store: &Store,
    central: &dyn Central,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    for table in UpstreamTable::ALL {
        let rows = store.rejected_rows(table, options.raw_json).await?;
        for chunk in rows.chunks(options.batch_rows.max(1)) {
            let chunk = dedup(table, chunk.to_vec());
            let delivered = deliver(central, &report.agent_id, table, &chunk).await?;
            let refused: std::collections::HashSet<i64> =
                delivered.rejected.iter().map(|r| r.id).collect();
            let taken: Vec<i64> =
                chunk.iter().map(|r| r.id).filter(|id| !refused.contains(id)).collect();
            report.retried += taken.len() as u64;
            store.clear_rejected(table, taken).await?;
            if !delivered.rejected.is_empty() {
                let watermark = store.upstream_watermark(table).await?;
                store.acknowledge_upstream_batch(table, watermark, delivered.rejected).await?;
            }
        }
    }
    Ok(())
}

async fn push_tables(
    store: &Store,
    central: &dyn Central,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    // Rows set aside that this push may send again at their refused version (`--full`):
    // taken now, they leave the list. Read once for every table.
    let rejected = store.upstream_rejected().await?;
    for table in UpstreamTable::ALL {
        let mut watermark = store.upstream_watermark(table).await?;
        if !options.full {
            // What arrived another way (an offline bundle) is not sent again. The read
            // only saves work: when it fails, the push goes on from the stored watermark
            // (sending again what is there changes nothing centrally).
            match receipt::advance(store, central, &report.agent_id, table, watermark).await {
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
        let mut stats = TableStats {
            table,
            sent: 0,
            applied: Some(0),
            rejected: 0,
            batches: 0,
            acknowledged_seq: watermark,
        };
        let cursor =
            if options.full { Cursor::default() } else { Cursor::after_watermark(watermark) };
        let set_aside: std::collections::HashSet<i64> = rejected
            .iter()
            .filter(|r| r.table == table && !r.changed_since)
            .map(|r| r.row_id)
            .collect();
        let read = |after: Cursor| {
            store.upstream_batch(table, after, options.batch_rows, options.raw_json)
        };
        let mut next = Some(read(cursor).await?);
        while let Some(batch) = next.take() {
            if batch.rows.is_empty() {
                break;
            }
            let rows = dedup(table, batch.rows);
            // The next batch is read while the upstream applies this one (the store's
            // read connections never wait on the upstream); it is sent only after this
            // one is confirmed, so the watermarks still move strictly in order.
            let following = async {
                match batch.more {
                    true => read(batch.next).await.map(Some),
                    false => Ok(None),
                }
            };
            let (delivered, following) =
                tokio::join!(deliver(central, &report.agent_id, table, &rows), following);
            let delivered = delivered?;
            let rejected = delivered.rejected.len() as u64;
            if !set_aside.is_empty() {
                let refused: std::collections::HashSet<i64> =
                    delivered.rejected.iter().map(|r| r.id).collect();
                let taken: Vec<i64> = rows
                    .iter()
                    .map(|r| r.id)
                    .filter(|id| set_aside.contains(id) && !refused.contains(id))
                    .collect();
                report.retried += taken.len() as u64;
                store.clear_rejected(table, taken).await?;
            }
            // Confirmed (or set aside): only now may the watermark move.
            store
                .acknowledge_upstream_batch(table, batch.safe_watermark, delivered.rejected)
                .await?;
            stats.acknowledged_seq = stats.acknowledged_seq.max(batch.safe_watermark);
            stats.sent += rows.len() as u64 - rejected;
            stats.applied = match (stats.applied, delivered.applied) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            stats.rejected += rejected;
            stats.batches += 1;
            report.rows_sent += rows.len() as u64 - rejected;
            report.rejected += rejected;
            next = following?;
        }
        report.tables.push(stats);
    }
    Ok(())
}

/// Sends the queued deletions, oldest first, removing each group once confirmed.
async fn push_deletions(
    store: &Store,
    central: &dyn Central,
    report: &mut PushReport,
) -> Result<(), UpstreamError> {
    loop {
        let queued = store.upstream_deletions(DELETIONS_PER_BATCH).await?;
        let Some(last) = queued.last().map(|d| d.seq) else { return Ok(()) };
        let tombstones: Vec<Tombstone> = queued
            .into_iter()
            .map(|d| Tombstone { seq: d.seq, table: d.table, key: d.key })
            .collect();
        // A deletion cannot hold a bad value: any refusal is retried as it is.
        central.forget(&report.agent_id, &tombstones).await.map_err(|e| e.error)?;
        store.confirm_deletions(last).await?;
        report.deletions_sent += tombstones.len() as u64;
        if tombstones.len() < DELETIONS_PER_BATCH {
            return Ok(());
        }
    }
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
