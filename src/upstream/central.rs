//! The seam between the push and where its rows go: a [`Central`] is one connected
//! upstream, whichever transport reaches it (PostgreSQL directly, [`super::postgres`], or
//! a PostgREST in front of it). The push, the receipt, the verification and the bundle's
//! import speak only to this trait, so every transport gets the same queue, the same
//! watermark rule and the same handling of rejected rows.
//!
//! # Design
//!
//! * **The rules live centrally, once.** The stale-replay rule (a row changes only for a
//!   higher `source_version`) is a trigger, the receipt (count and checksum per table) and
//!   the deletion of rows are SQL functions, all printed by `plantsync upstream schema`
//!   ([`super::schema`]); a transport only calls them, so two transports cannot disagree.
//! * **A failure says whether it is the batch's fault** ([`Refusal`]): a link down, a
//!   timeout, a missing table or a refused login fail the push and are retried as they are;
//!   a batch the central side refuses for what it holds (a constraint, a value out of range)
//!   would be refused forever, so the push isolates its bad rows and sets them aside.

use super::UpstreamError;
use crate::store::{OutboxRow, UpstreamTable};
use async_trait::async_trait;

/// A row's natural key: its key columns' values as text, in [`UpstreamTable::columns`]
/// order (the agent id is implied).
pub type RowKey = Vec<Option<String>>;

/// Whether a failed request is worth sending again as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The link, the server or the setup failed: the same rows may well go through later.
    Retry,
    /// The central side refused these rows for what they hold: sending them again as they
    /// are fails again.
    Permanent,
}

/// A batch or deletion that failed.
#[derive(Debug)]
pub struct SendError {
    /// Whether it is the rows' fault.
    pub refusal: Refusal,
    /// What happened.
    pub error: UpstreamError,
}

impl SendError {
    /// A failure to try again later.
    pub fn retry(error: UpstreamError) -> Self {
        Self { refusal: Refusal::Retry, error }
    }
}

impl From<UpstreamError> for SendError {
    fn from(error: UpstreamError) -> Self {
        Self::retry(error)
    }
}

/// One table's part of the central receipt: what the central database holds of this
/// agent's live (not deleted) rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableReceipt {
    /// The table.
    pub table: UpstreamTable,
    /// Rows.
    pub rows: i64,
    /// [`super::verify::checksum`] over every row's key and version, combined.
    pub checksum: i64,
    /// The highest version of this agent's rows of the table, deleted ones included.
    pub max_version: i64,
}

/// A local row that no longer exists: centrally its row (for a vendor, with its plants
/// and alerts) is marked deleted and inactive, unless it already carries a newer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The change number of the deletion: the version it carries.
    pub seq: i64,
    /// The table the row was in.
    pub table: UpstreamTable,
    /// Its natural key.
    pub key: RowKey,
}

/// One connected upstream.
#[async_trait]
pub trait Central: Send + Sync {
    /// Upserts one batch of `table` under `agent_id` (keys unique within the batch).
    /// Returns the rows the central database inserted or changed, when the transport can
    /// tell (PostgREST's minimal answer cannot).
    async fn upsert(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        rows: &[OutboxRow],
    ) -> Result<Option<u64>, SendError>;

    /// The key and version of every live row of `table` that `agent_id` holds centrally
    /// with a version above `above` (0: all of them).
    async fn versions_above(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        above: i64,
    ) -> Result<Vec<(RowKey, i64)>, UpstreamError>;

    /// Per table, the count and checksum of `agent_id`'s live rows.
    async fn receipt(&self, agent_id: &str) -> Result<Vec<TableReceipt>, UpstreamError>;

    /// Applies deletions; returns the central rows they marked deleted.
    async fn forget(&self, agent_id: &str, tombstones: &[Tombstone]) -> Result<u64, SendError>;
}

/// The deletions as the central `forget` function takes them:
/// `[{"table": .., "key": [..], "version": ..}]` (the same text for every transport).
pub fn deletions_json(tombstones: &[Tombstone]) -> String {
    let list: Vec<serde_json::Value> = tombstones
        .iter()
        .map(|t| serde_json::json!({ "table": t.table.as_str(), "key": t.key, "version": t.seq }))
        .collect();
    serde_json::Value::Array(list).to_string()
}
