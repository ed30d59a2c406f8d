//! The records plantsync keeps, as read from the store, and the observations vendors report.

use super::{
    AlertId, AlertStatus, OrgId, PlantId, PlantStatus, RunId, RunKind, RunSource, RunStatus,
    Severity, Timestamp, VendorId, VendorKind,
};
use serde::Serialize;

/// An organization: the unit of sync settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    /// Row id.
    pub id: OrgId,
    /// Unique name.
    pub name: String,
    /// Whether the schedule syncs this organization's vendors.
    pub auto_sync_enabled: bool,
    /// Minutes between scheduled syncs (1..=1440).
    pub sync_interval_minutes: u32,
    /// Number of vendors assigned to it.
    pub vendor_count: u64,
    /// Number of plants (active or not) of its vendors.
    pub plant_count: u64,
    /// Monotonic change number for upstream.
    pub change_seq: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its settings last changed.
    pub updated_at: Timestamp,
}

/// What `org add` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    /// Unique name.
    pub name: String,
    /// Whether the schedule syncs it.
    pub auto_sync_enabled: bool,
    /// Minutes between scheduled syncs (1..=1440).
    pub sync_interval_minutes: u32,
}

/// A vendor: one monitoring-portal account. Never carries credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vendor {
    /// Row id.
    pub id: VendorId,
    /// Display name.
    pub name: String,
    /// Which portal.
    pub kind: VendorKind,
    /// Owning organization; `None` means never synced automatically.
    pub org_id: Option<OrgId>,
    /// Name of the owning organization.
    pub org_name: Option<String>,
    /// Base URL override (regional host, test server); `None` means the kind's default.
    pub base_url: Option<String>,
    /// Whether syncs include it.
    pub is_active: bool,
    /// Last fully successful plant sync.
    pub last_synced_at: Option<Timestamp>,
    /// Last fully successful alert sync.
    pub last_alerts_synced_at: Option<Timestamp>,
    /// Error of the last failed sync, cleared on success.
    pub last_error: Option<String>,
    /// Failed plant syncs in a row.
    pub consecutive_failures: u32,
    /// Error of the last failed alert sync, cleared on success.
    pub last_alerts_error: Option<String>,
    /// Failed alert syncs in a row.
    pub alerts_consecutive_failures: u32,
    /// The vendor rejected the credentials; nothing logs in until they change.
    pub needs_user_action: bool,
    /// Number of plants (active or not).
    pub plant_count: u64,
    /// Monotonic change number for upstream.
    pub change_seq: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its settings last changed.
    pub updated_at: Timestamp,
}

/// What `vendor add` needs (credentials travel separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVendor {
    /// Display name.
    pub name: String,
    /// Which portal.
    pub kind: VendorKind,
    /// Owning organization.
    pub org_id: Option<OrgId>,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Whether syncs include it.
    pub is_active: bool,
}

/// A plant as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plant {
    /// plantsync's id.
    pub id: PlantId,
    /// The vendor account it comes from.
    pub vendor_id: VendorId,
    /// The organization of that vendor.
    pub org_id: Option<OrgId>,
    /// The vendor's id for it.
    pub vendor_plant_id: String,
    /// Name.
    pub name: String,
    /// Installed capacity, kW (kWp).
    pub capacity_kw: Option<f64>,
    /// Address text.
    pub address: Option<String>,
    /// Latitude, degrees.
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    pub longitude: Option<f64>,
    /// IANA time zone, when the vendor gives one.
    pub timezone: Option<String>,
    /// The vendor's network status (trimmed), e.g. `NORMAL`, `ALL_OFFLINE`.
    pub network_status: Option<String>,
    /// The same state in plantsync's vocabulary; `unknown` until the vendor sends one.
    pub status: PlantStatus,
    /// Current output, kW.
    pub current_power_kw: Option<f64>,
    /// Energy today, kWh.
    pub daily_energy_kwh: Option<f64>,
    /// Lifetime energy, kWh.
    pub total_energy_kwh: Option<f64>,
    /// The vendor's own last-update time.
    pub vendor_updated_at: Option<Timestamp>,
    /// When plantsync last saw it in the vendor's listing.
    pub last_refreshed_at: Option<Timestamp>,
    /// `false` once the plant disappeared from its vendor.
    pub is_active: bool,
    /// Monotonic change number for upstream.
    pub change_seq: i64,
    /// When it was first stored.
    pub created_at: Timestamp,
    /// When a value last really changed.
    pub updated_at: Timestamp,
}

/// What a vendor reported about one plant. `None` means "not sent": the store keeps the
/// value it has rather than erasing it; `Some(0.0)` is a real zero and is stored as such.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VendorPlant {
    /// The vendor's id for it.
    pub vendor_plant_id: String,
    /// Name; a new plant without one is stored as `Plant <id>`, a stored name is kept.
    pub name: Option<String>,
    /// Installed capacity, kW.
    pub capacity_kw: Option<f64>,
    /// Address text.
    pub address: Option<String>,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Network status, trimmed.
    pub network_status: Option<String>,
    /// The normalized status the adapter mapped from the portal's codes; `None` keeps the
    /// stored one (the portal did not say).
    pub status: Option<PlantStatus>,
    /// Current output, kW.
    pub current_power_kw: Option<f64>,
    /// Energy today, kWh.
    pub daily_energy_kwh: Option<f64>,
    /// Lifetime energy, kWh.
    pub total_energy_kwh: Option<f64>,
    /// The vendor's last-update time.
    pub vendor_updated_at: Option<Timestamp>,
    /// The vendor's record as received.
    pub raw_json: Option<String>,
}

impl VendorPlant {
    /// The plant-local day its energy readings (`daily_energy_kwh`) belong to: the day of
    /// `vendor_updated_at` in the plant's zone. Never a portal's own date: Sungrow stamps
    /// readings in its servers' time (+08:00), so a European plant's late-evening reading
    /// carries the next day's date there. `None` without an update time or a known zone.
    pub fn readings_day(&self) -> Option<chrono::NaiveDate> {
        let zone: super::PlantZone = self.timezone.as_deref()?.parse().ok()?;
        Some(zone.local_date(self.vendor_updated_at.as_ref()?))
    }
}

/// One alert occurrence as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Row id.
    pub id: AlertId,
    /// The vendor account it comes from.
    pub vendor_id: VendorId,
    /// Stable occurrence key, unique per vendor.
    pub vendor_alert_key: String,
    /// The plant, when known.
    pub plant_id: Option<PlantId>,
    /// Name of that plant.
    pub plant_name: Option<String>,
    /// Device serial number.
    pub device_sn: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Status.
    pub status: AlertStatus,
    /// The vendor's code for the alert type.
    pub code: Option<String>,
    /// Title.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When the vendor said it ended.
    pub ended_at: Option<Timestamp>,
    /// Monotonic change number for upstream.
    pub change_seq: i64,
    /// When it was first stored.
    pub created_at: Timestamp,
    /// When a value last really changed.
    pub updated_at: Timestamp,
}

/// What a vendor reported about one alert occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorAlert {
    /// Stable occurrence key built by the adapter.
    pub vendor_alert_key: String,
    /// The vendor's plant id, resolved to a stored plant by the store.
    pub vendor_plant_id: Option<String>,
    /// Device serial number.
    pub device_sn: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Status (`RESOLVED` only when the vendor gave an end time).
    pub status: AlertStatus,
    /// The vendor's alert-type code.
    pub code: Option<String>,
    /// Title.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// Start time.
    pub started_at: Option<Timestamp>,
    /// End time.
    pub ended_at: Option<Timestamp>,
    /// The vendor's record as received.
    pub raw_json: Option<String>,
}

/// One sync run, with its per-vendor counts rolled up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncRun {
    /// Row id.
    pub id: RunId,
    /// Plants or alerts.
    pub kind: RunKind,
    /// Who started it.
    pub source: RunSource,
    /// Outcome.
    pub status: RunStatus,
    /// Start.
    pub started_at: Timestamp,
    /// End, once finished.
    pub finished_at: Option<Timestamp>,
    /// A note (why it was skipped, what interrupted it).
    pub message: Option<String>,
    /// Vendors that ran.
    pub vendors: u64,
    /// Vendors that succeeded.
    pub successful: u64,
    /// Vendors that failed.
    pub failed: u64,
    /// Rows synced over all vendors.
    pub synced: u64,
}

/// One vendor's result within a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncRunVendor {
    /// The vendor.
    pub vendor_id: VendorId,
    /// Its name at the time.
    pub vendor_name: String,
    /// Its organization at the time.
    pub org_id: Option<OrgId>,
    /// That organization's name.
    pub org_name: Option<String>,
    /// Whether it succeeded.
    pub success: bool,
    /// Rows stored: created, updated or unchanged (as `synced` in the summary).
    pub synced: u64,
    /// Rows created.
    pub created: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows seen but unchanged.
    pub unchanged: u64,
    /// Rows the vendor listed.
    pub total: u64,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}
