//! Receipts: what the central database holds of this agent's rows, compared with the
//! store, and the re-queue of what differs.
//!
//! # Design
//!
//! * **Cheap after every push, thorough on demand.** After each push the central
//!   `receipt` function answers one count and one checksum per table ([`check`]); a table
//!   with nothing pending and nothing set aside must match the store exactly. `plantsync
//!   push --verify` compares key by key ([`differences`]) and lists what differs.
//! * **The checksum is order-free**: per row the first 8 bytes of the SHA-256 of its key
//!   columns' text and its version joined by U+001F, combined with XOR; the central schema
//!   computes the same ([`super::schema`]), so neither side has to sort or send its keys.
//! * **A difference the store is right about is repaired by the queue**: a row missing
//!   centrally, or held there in an older version, is stamped with a new change number
//!   above every central version ([`Store::requeue_upstream`]) and the next push sends it.
//! * **A difference the store may be wrong about is only reported**: a newer central
//!   version, or a central row the store lacks, is what a store restored from an older
//!   copy sees; pushing over them would overwrite newer data and mark later history
//!   deleted. Nothing local is ever deleted to match, nothing central either.

use super::UpstreamError;
use super::central::{Central, RowKey};
use crate::domain::Timestamp;
use crate::store::{Store, UpstreamTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// One row's checksum, as the central `receipt` function computes it.
pub fn checksum(key: &RowKey, version: i64) -> i64 {
    let mut text = String::new();
    for part in key.iter().flatten() {
        text.push_str(part);
        text.push('\u{1f}');
    }
    text.push_str(&version.to_string());
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// How a table compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The central rows are exactly the store's.
    Matches,
    /// They differ: see the counts; the differing rows were re-queued.
    Differs,
    /// Not comparable now: rows or deletions are pending (the central database rightly
    /// holds older versions of them, or none).
    Pending,
}

/// One table's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCheck {
    /// The table.
    pub table: UpstreamTable,
    /// Rows in the store.
    pub local_rows: u64,
    /// Live rows of this agent centrally.
    pub central_rows: u64,
    /// The store's checksum (over every row).
    pub local_checksum: i64,
    /// The central checksum.
    pub central_checksum: i64,
    /// The highest version of this agent's central rows (deleted ones included).
    #[serde(default)]
    pub central_max_version: i64,
    /// The outcome.
    pub verdict: Verdict,
}

/// What one row's difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // each says where the row stands centrally
pub enum DifferenceKind {
    /// Confirmed once, absent centrally now (deleted there).
    MissingCentrally,
    /// Centrally in an older version than the store confirmed.
    OlderCentrally,
    /// Centrally in a newer version than the store has (a store restored from a copy).
    NewerCentrally,
    /// Centrally, but no longer in the store (deleted before deletions travelled).
    OnlyCentrally,
}

impl DifferenceKind {
    /// In words, for the table output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingCentrally => "missing centrally",
            Self::OlderCentrally => "older centrally",
            Self::NewerCentrally => "newer centrally",
            Self::OnlyCentrally => "only centrally",
        }
    }
}

/// One row that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// The table.
    pub table: UpstreamTable,
    /// The row's natural key.
    pub key: RowKey,
    /// Its local change number (`None`: not in the store).
    pub local_version: Option<i64>,
    /// Its central version (`None`: not central).
    pub central_version: Option<i64>,
    /// What differs.
    pub kind: DifferenceKind,
}

/// The last receipt, as recorded for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// When it was read.
    pub checked_at: Timestamp,
    /// Per table.
    pub tables: Vec<TableCheck>,
    /// Rows re-queued because they differed.
    pub requeued: u64,
    /// The rows that differed, found key by key.
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// The store's change counter when it was found below the central versions (a store
    /// restored from an older copy), and the number it moved to.
    #[serde(default)]
    pub counter_raised: Option<(i64, i64)>,
}

impl Receipt {
    /// Whether no table differs.
    pub fn ok(&self) -> bool {
        self.tables.iter().all(|t| t.verdict != Verdict::Differs)
    }
}

/// The cheap receipt: the central count and checksum per table against the store's.
pub async fn check(
    store: &Store,
    central: &dyn Central,
    agent_id: &str,
) -> Result<Vec<TableCheck>, UpstreamError> {
    // The central side and the store's side are computed at once.
    let local = async {
        let mut sums = HashMap::new();
        for table in UpstreamTable::ALL {
            let (rows, _) = store.upstream_versions(table).await?;
            let sum = rows.iter().fold(0, |sum, row| sum ^ checksum(&row.key, row.seq));
            sums.insert(table, (rows.len(), sum));
        }
        Ok::<_, UpstreamError>(sums)
    };
    let (held, local) = tokio::join!(central.receipt(agent_id), local);
    let (held, local) = (held?, local?);
    let state = store.upstream_state().await?;
    let mut checks = Vec::new();
    for receipt in held {
        let table = receipt.table;
        let (local_rows, local_checksum) = local.get(&table).copied().unwrap_or((0, 0));
        let pending = state.tables.iter().find(|t| t.table == table).is_some_and(|t| t.pending > 0);
        let matches = receipt.rows == local_rows as i64 && receipt.checksum == local_checksum;
        let verdict = if matches {
            Verdict::Matches
        } else if pending || state.deletions_pending > 0 {
            Verdict::Pending
        } else {
            Verdict::Differs
        };
        checks.push(TableCheck {
            table,
            local_rows: local_rows as u64,
            central_rows: receipt.rows.max(0) as u64,
            local_checksum,
            central_checksum: receipt.checksum,
            central_max_version: receipt.max_version,
            verdict,
        });
    }
    Ok(checks)
}

/// The key-by-key comparison of `table`: rows the store has confirmed (at or below its
/// watermark, not set aside) must be central in exactly their version; pending rows may be
/// central in an older version or not at all; a central row the store lacks differs unless
/// its deletion is queued.
pub async fn differences(
    store: &Store,
    central: &dyn Central,
    agent_id: &str,
    table: UpstreamTable,
) -> Result<Vec<Difference>, UpstreamError> {
    let held: HashMap<RowKey, i64> =
        central.versions_above(agent_id, table, 0).await?.into_iter().collect();
    let (rows, watermark) = store.upstream_versions(table).await?;
    let set_aside: HashSet<i64> = store
        .upstream_rejected()
        .await?
        .into_iter()
        // Only entries still naming the row's current version: a row changed since travels
        // as any change does, and its central copy is compared like any other.
        .filter(|r| r.table == table && !r.changed_since)
        .map(|r| r.row_id)
        .collect();
    let deleting: HashSet<RowKey> = store
        .upstream_deletions(usize::MAX >> 1)
        .await?
        .into_iter()
        .filter(|d| d.table == table)
        .map(|d| d.key)
        .collect();
    let mut found = Vec::new();
    let mut local: HashSet<&RowKey> = HashSet::with_capacity(rows.len());
    for row in &rows {
        local.insert(&row.key);
        let confirmed = row.seq <= watermark && !set_aside.contains(&row.id);
        let central_version = held.get(&row.key).copied();
        let kind = match central_version {
            None if confirmed => Some(DifferenceKind::MissingCentrally),
            Some(v) if v > row.seq => Some(DifferenceKind::NewerCentrally),
            Some(v) if v < row.seq && confirmed => Some(DifferenceKind::OlderCentrally),
            _ => None,
        };
        if let Some(kind) = kind {
            found.push(Difference {
                table,
                key: row.key.clone(),
                local_version: Some(row.seq),
                central_version,
                kind,
            });
        }
    }
    for (key, &version) in &held {
        if !local.contains(key) && !deleting.contains(key) {
            found.push(Difference {
                table,
                key: key.clone(),
                local_version: None,
                central_version: Some(version),
                kind: DifferenceKind::OnlyCentrally,
            });
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

impl DifferenceKind {
    /// Whether the store is right and sending the row again repairs it: the central
    /// database lacks what the store confirmed, or holds an older version of it. A newer
    /// central version, or a central row the store lacks, is what a store restored from an
    /// older copy (or a second copy pushing as the same agent) would see: sending the
    /// store's rows over them would overwrite newer data and delete later history, so those
    /// are only reported.
    pub fn repairable(self) -> bool {
        matches!(self, Self::MissingCentrally | Self::OlderCentrally)
    }
}

/// Re-queues the repairable rows `found` (of one table) lists, with new change numbers
/// above `above` (the highest version the central database holds for this agent's table,
/// deleted rows included, so the central rule takes them). Returns the rows queued.
pub async fn requeue(
    store: &Store,
    table: UpstreamTable,
    found: &[Difference],
    above: i64,
) -> Result<u64, UpstreamError> {
    let repair: Vec<&Difference> = found.iter().filter(|d| d.kind.repairable()).collect();
    if repair.is_empty() {
        return Ok(0);
    }
    let above = repair.iter().filter_map(|d| d.central_version).fold(above, i64::max);
    let (rows, _) = store.upstream_versions(table).await?;
    let ids: HashMap<&RowKey, i64> = rows.iter().map(|r| (&r.key, r.id)).collect();
    let send: Vec<i64> = repair.iter().filter_map(|d| ids.get(&d.key).copied()).collect();
    Ok(store.requeue_upstream(table, send, above).await? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same rows in any order give one checksum; a version or a key apart gives another.
    #[test]
    fn the_checksum_is_order_free_and_sees_key_and_version() {
        let a = vec![Some("1".to_owned()), Some("P-1".to_owned())];
        let b = vec![Some("1".to_owned()), Some("P-2".to_owned())];
        let forward = checksum(&a, 5) ^ checksum(&b, 6);
        let backward = checksum(&b, 6) ^ checksum(&a, 5);
        assert_eq!(forward, backward);
        assert_ne!(forward, checksum(&a, 5) ^ checksum(&b, 7));
        // The separator keeps "1" + "1P" apart from "11" + "P".
        let shifted = vec![Some("11".to_owned()), Some("P-1".to_owned())];
        assert_ne!(checksum(&a, 5), checksum(&shifted, 5));
    }
}
