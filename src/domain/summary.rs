//! The run summary in the original system's JSON shape, which callers of
//! `/api/cron/sync-plants` already parse: keys and nesting must not change. An alert run
//! has the same shape with `totalAlertsSynced`, `totalAlertsCreated`, `totalAlertsUpdated`.

use super::{OrgId, RunKind, RunStatus, VendorId};
use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Result of one vendor within a run (`summary.results[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorResult {
    /// The vendor's id.
    pub vendor_id: VendorId,
    /// The vendor's name.
    pub vendor_name: String,
    /// Its organization's id.
    pub org_id: Option<OrgId>,
    /// Its organization's name.
    pub org_name: Option<String>,
    /// Whether the vendor's sync succeeded (see the sync engine's success rule).
    pub success: bool,
    /// Rows stored in this run: `created + updated` plus the rows listed again unchanged
    /// (the original system counted every row it upserted, and an unchanged plant was still
    /// listed and confirmed; `created` and `updated` say which rows changed).
    pub synced: u64,
    /// Rows created.
    pub created: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows the vendor listed; for alerts, plus the stored alerts its complete open list
    /// resolved by leaving them out (they are `updated` too, so `synced <= total`).
    pub total: u64,
    /// What went wrong, or `null`.
    pub error: Option<String>,
    /// Rows the vendor listed that did not decode, so they were not stored (plantsync's
    /// addition, after the original's keys). A plant listing with one is not a complete
    /// list of the vendor's plants: nothing is marked inactive, and the run is `partial`.
    #[serde(default)]
    pub skipped_rows: u64,
    /// Rows the vendor listed twice (a row repeated across a page boundary), stored once.
    /// Not a failure.
    #[serde(default)]
    pub duplicate_rows: u64,
}

/// A whole run (`summary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    /// Plants or alerts: picks the names of the three totals.
    pub kind: RunKind,
    /// Vendors that ran.
    pub total_vendors: u64,
    /// Vendors that succeeded.
    pub successful: u64,
    /// Vendors that failed.
    pub failed: u64,
    /// Sum of `synced`: rows stored (`totalPlantsSynced` / `totalAlertsSynced`).
    pub total_synced: u64,
    /// Sum of `created`.
    pub total_created: u64,
    /// Sum of `updated`.
    pub total_updated: u64,
    /// Wall time of the run, milliseconds.
    pub duration: u64,
    /// One entry per vendor.
    pub results: Vec<VendorResult>,
}

impl SyncSummary {
    /// Builds the totals from the per-vendor results.
    pub fn from_results(kind: RunKind, results: Vec<VendorResult>, duration_ms: u64) -> Self {
        let successful = results.iter().filter(|r| r.success).count() as u64;
        Self {
            kind,
            total_vendors: results.len() as u64,
            successful,
            failed: results.len() as u64 - successful,
            total_synced: results.iter().map(|r| r.synced).sum(),
            total_created: results.iter().map(|r| r.created).sum(),
            total_updated: results.iter().map(|r| r.updated).sum(),
            duration: duration_ms,
            results,
        }
    }
}

impl SyncSummary {
    /// The run's outcome (with `lost` more vendors whose sync ended without a result): as
    /// [`RunStatus::of_vendors`], except that a run whose vendors all succeeded but some
    /// listed rows that could not be read is `partial`, not `ok`: it did not store
    /// everything the vendors listed. The one rule for the engine and for
    /// [`crate::domain::RunReport::only`].
    pub fn status(&self, lost: u64) -> RunStatus {
        match RunStatus::of_vendors(self.successful, self.failed + lost) {
            RunStatus::Ok if self.results.iter().any(|r| r.skipped_rows > 0) => RunStatus::Partial,
            other => other,
        }
    }
}

/// The names of the three totals of `kind`: synced, created, updated.
const fn total_keys(kind: RunKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        RunKind::Plants => ("totalPlantsSynced", "totalPlantsCreated", "totalPlantsUpdated"),
        RunKind::Alerts => ("totalAlertsSynced", "totalAlertsCreated", "totalAlertsUpdated"),
    }
}

impl Serialize for SyncSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (synced, created, updated) = total_keys(self.kind);
        let mut out = serializer.serialize_struct("SyncSummary", 8)?;
        out.serialize_field("totalVendors", &self.total_vendors)?;
        out.serialize_field("successful", &self.successful)?;
        out.serialize_field("failed", &self.failed)?;
        out.serialize_field(synced, &self.total_synced)?;
        out.serialize_field(created, &self.total_created)?;
        out.serialize_field(updated, &self.total_updated)?;
        out.serialize_field("duration", &self.duration)?;
        out.serialize_field("results", &self.results)?;
        out.end()
    }
}

/// The summary as JSON carries it: the kind is told by which family of totals is present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryWire {
    total_vendors: u64,
    successful: u64,
    failed: u64,
    total_plants_synced: Option<u64>,
    total_plants_created: Option<u64>,
    total_plants_updated: Option<u64>,
    total_alerts_synced: Option<u64>,
    total_alerts_created: Option<u64>,
    total_alerts_updated: Option<u64>,
    duration: u64,
    results: Vec<VendorResult>,
}

impl<'de> Deserialize<'de> for SyncSummary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = SummaryWire::deserialize(deserializer)?;
        let (kind, synced, created, updated) = match (w.total_plants_synced, w.total_alerts_synced)
        {
            (Some(synced), None) => {
                (RunKind::Plants, synced, w.total_plants_created, w.total_plants_updated)
            }
            (None, Some(synced)) => {
                (RunKind::Alerts, synced, w.total_alerts_created, w.total_alerts_updated)
            }
            _ => {
                return Err(D::Error::custom(
                    "a summary has either totalPlantsSynced or totalAlertsSynced",
                ));
            }
        };
        let (created_key, updated_key) = (total_keys(kind).1, total_keys(kind).2);
        Ok(Self {
            kind,
            total_vendors: w.total_vendors,
            successful: w.successful,
            failed: w.failed,
            total_synced: synced,
            total_created: created.ok_or_else(|| D::Error::missing_field(created_key))?,
            total_updated: updated.ok_or_else(|| D::Error::missing_field(updated_key))?,
            duration: w.duration,
            results: w.results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_original_system() {
        let summary = SyncSummary::from_results(
            RunKind::Plants,
            vec![VendorResult {
                vendor_id: VendorId(1),
                vendor_name: "Solarman Vendor 1".into(),
                org_id: Some(OrgId(3)),
                org_name: Some("Organization A".into()),
                success: true,
                synced: 250,
                created: 10,
                updated: 240,
                total: 250,
                error: None,
                skipped_rows: 0,
                duplicate_rows: 1,
            }],
            45230,
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "totalVendors": 1, "successful": 1, "failed": 0,
                "totalPlantsSynced": 250, "totalPlantsCreated": 10, "totalPlantsUpdated": 240,
                "duration": 45230,
                "results": [{"vendorId": 1, "vendorName": "Solarman Vendor 1", "orgId": 3,
                    "orgName": "Organization A", "success": true, "synced": 250, "created": 10,
                    "updated": 240, "total": 250, "error": null, "skippedRows": 0,
                    "duplicateRows": 1}]
            })
        );
        assert_eq!(serde_json::from_value::<SyncSummary>(json).unwrap(), summary);
        let alerts = SyncSummary::from_results(RunKind::Alerts, vec![], 5);
        let json = serde_json::to_value(&alerts).unwrap();
        assert_eq!(json["totalAlertsSynced"], 0);
        assert!(json.get("totalPlantsSynced").is_none());
        assert_eq!(serde_json::from_value::<SyncSummary>(json).unwrap(), alerts);
        let neither = serde_json::json!({"totalVendors": 0, "successful": 0, "failed": 0,
            "duration": 0, "results": []});
        assert!(serde_json::from_value::<SyncSummary>(neither).is_err());
    }

    #[test]
    fn skipped_rows_make_a_successful_run_partial_and_older_summaries_still_read() {
        let result = |success: bool, skipped_rows: u64| VendorResult {
            vendor_id: VendorId(1),
            vendor_name: "v".into(),
            org_id: None,
            org_name: None,
            success,
            synced: 10,
            created: 0,
            updated: 0,
            total: 10 + skipped_rows,
            error: None,
            skipped_rows,
            duplicate_rows: 0,
        };
        let summary = |results| SyncSummary::from_results(RunKind::Plants, results, 1);
        assert_eq!(summary(vec![result(true, 0)]).status(0), RunStatus::Ok);
        assert_eq!(summary(vec![result(true, 2)]).status(0), RunStatus::Partial);
        assert_eq!(summary(vec![result(true, 0)]).status(1), RunStatus::Partial, "one lost");
        assert_eq!(summary(vec![result(false, 2)]).status(0), RunStatus::Failed);
        assert_eq!(summary(vec![]).status(0), RunStatus::Ok);
        // A summary stored before the counts existed reads with zeros.
        let old = serde_json::json!({"totalVendors": 1, "successful": 1, "failed": 0,
            "totalPlantsSynced": 1, "totalPlantsCreated": 1, "totalPlantsUpdated": 0,
            "duration": 5, "results": [{"vendorId": 1, "vendorName": "v", "orgId": null,
            "orgName": null, "success": true, "synced": 1, "created": 1, "updated": 0,
            "total": 1, "error": null}]});
        let read: SyncSummary = serde_json::from_value(old).unwrap();
        assert_eq!((read.results[0].skipped_rows, read.results[0].duplicate_rows), (0, 0));
    }
}
