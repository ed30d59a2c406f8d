//! What starts a run and what a finished run reports, shared by every trigger (the
//! schedule, the CLI, the API, the tray) and every reader of results.
//!
//! A [`RunRequest`] is made at the edge, after names were resolved to ids and before
//! anything is recorded, so later code never sees text it would have to resolve (and a typo
//! is found before a run exists). The vendor list is kept sorted and free of duplicates, so
//! "does the running run cover this request" is a cheap subset test.

use super::{RunId, RunKind, RunSource, RunStatus, SyncSummary, VendorId};
use serde::{Deserialize, Serialize};

/// One request for a run: which kind, which vendors (resolved ids), who asked, and whether
/// a person forced it past the organizations' auto-sync switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Plants or alerts.
    pub kind: RunKind,
    /// The vendors to sync, sorted and unique.
    vendors: Vec<VendorId>,
    /// Who asked.
    pub source: RunSource,
    /// A person asked for these vendors even where their organization has auto-sync off;
    /// the engine checks eligibility again when the run starts, with the same rule.
    pub force: bool,
}

impl RunRequest {
    /// A request for `vendors` (order and repeats do not matter).
    pub fn new(
        kind: RunKind,
        source: RunSource,
        force: bool,
        vendors: impl IntoIterator<Item = VendorId>,
    ) -> Self {
        let mut vendors: Vec<VendorId> = vendors.into_iter().collect();
        vendors.sort_unstable();
        vendors.dedup();
        Self { kind, vendors, source, force }
    }

    /// The vendors, sorted and unique.
    pub fn vendors(&self) -> &[VendorId] {
        &self.vendors
    }

    /// Whether a run of `self` answers `other` completely: the same kind, every vendor of
    /// `other` among ours, and not less forced (a forced request must not be answered by a
    /// run that read its vendors without force and so may have left some out).
    pub fn covers(&self, other: &RunRequest) -> bool {
        self.kind == other.kind
            && (self.force || !other.force)
            && other.vendors.iter().all(|v| self.vendors.binary_search(v).is_ok())
    }

    /// Our vendors that are not in `running` (sorted and unique, as `running` is).
    pub fn without(&self, running: &[VendorId]) -> Vec<VendorId> {
        self.vendors.iter().copied().filter(|v| running.binary_search(v).is_err()).collect()
    }
}

/// How far a running sync has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressSnapshot {
    /// Vendors finished.
    pub vendors_done: u64,
    /// Vendors in the run.
    pub vendors_total: u64,
    /// Rows (plants or alerts) stored so far.
    pub rows_stored: u64,
}

/// Why a requested vendor was not synced at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The portal rejected its credentials in an earlier run; nothing logs in with them
    /// again until they change.
    CredentialsRejected,
    /// Between the request and the start of the run it was disabled, removed, detached from
    /// its organization, or its organization's auto-sync was turned off.
    NoLongerEligible,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The recorded run.
    pub run_id: RunId,
    /// Its outcome.
    pub status: RunStatus,
    /// The summary in the original system's shape.
    pub summary: SyncSummary,
    /// Vendors of the run that were not attempted, and why (they also appear in the
    /// summary's results, failed, with the reason in words).
    #[serde(default)]
    pub skipped: Vec<(VendorId, SkipReason)>,
}

impl RunReport {
    /// The same run as seen by a request for `vendors` only: its results and totals for
    /// those vendors, and the status they give. A request that joined a wider run gets the
    /// answer to its own question.
    pub fn only(&self, vendors: &[VendorId]) -> Self {
        let results = self
            .summary
            .results
            .iter()
            .filter(|r| vendors.contains(&r.vendor_id))
            .cloned()
            .collect();
        let summary = SyncSummary::from_results(self.summary.kind, results, self.summary.duration);
        Self {
            run_id: self.run_id,
            status: summary.status(0),
            skipped: self.skipped.iter().filter(|(v, _)| vendors.contains(v)).copied().collect(),
            summary,
        }
    }

    /// Whether `vendor` was skipped for rejected credentials (the run that met the
    /// rejection raised it; the later ones only repeat it).
    pub fn skipped_for_credentials(&self, vendor: VendorId) -> bool {
        self.skipped.contains(&(vendor, SkipReason::CredentialsRejected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VendorResult;

    fn request(vendors: &[i64]) -> RunRequest {
        RunRequest::new(
            RunKind::Plants,
            RunSource::User,
            false,
            vendors.iter().map(|v| VendorId(*v)),
        )
    }

    #[test]
    fn vendors_are_sorted_unique_and_covering_is_a_subset_test() {
        let wide = request(&[3, 1, 2, 3]);
        assert_eq!(wide.vendors(), [VendorId(1), VendorId(2), VendorId(3)]);
        assert!(wide.covers(&request(&[2])));
        assert!(wide.covers(&request(&[])));
        assert!(!wide.covers(&request(&[2, 4])));
        assert!(!request(&[2]).covers(&wide));
        let alerts = RunRequest::new(RunKind::Alerts, RunSource::Cron, false, [VendorId(1)]);
        assert!(!wide.covers(&alerts), "another kind is never covered");
        assert_eq!(request(&[1, 4, 5]).without(wide.vendors()), [VendorId(4), VendorId(5)]);
        let forced = RunRequest::new(RunKind::Plants, RunSource::User, true, [VendorId(2)]);
        assert!(!wide.covers(&forced), "a run without force does not answer a forced request");
        assert!(forced.covers(&request(&[2])));
    }

    #[test]
    fn a_narrower_view_keeps_only_its_vendors_and_their_status() {
        let result = |id: i64, success: bool| VendorResult {
            vendor_id: VendorId(id),
            vendor_name: format!("v{id}"),
            org_id: None,
            org_name: None,
            success,
            synced: 10,
            created: 10,
            updated: 0,
            total: 10,
            error: (!success).then(|| "boom".to_owned()),
            skipped_rows: 0,
            duplicate_rows: 0,
        };
        let report = RunReport {
            run_id: RunId(7),
            status: RunStatus::Partial,
            summary: SyncSummary::from_results(
                RunKind::Plants,
                vec![result(1, true), result(2, false)],
                100,
            ),
            skipped: vec![(VendorId(2), SkipReason::CredentialsRejected)],
        };
        let mine = report.only(&[VendorId(1)]);
        assert_eq!((mine.run_id, mine.status), (RunId(7), RunStatus::Ok));
        assert_eq!(mine.summary.total_vendors, 1);
        assert_eq!(mine.summary.total_synced, 10);
        assert!(mine.skipped.is_empty());
        let theirs = report.only(&[VendorId(2)]);
        assert_eq!(theirs.status, RunStatus::Failed);
        assert!(theirs.skipped_for_credentials(VendorId(2)));
    }
}
