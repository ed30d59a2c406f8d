//! The offline status report: counts, per-vendor health, the database file.

use super::{Result, SCHEMA_VERSION, Store, codec::count};
use crate::domain::{PlantStatus, Timestamp, VendorId, VendorKind};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One vendor's sync health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorHealth {
    /// Id.
    pub id: VendorId,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: VendorKind,
    /// Whether syncs include it.
    pub is_active: bool,
    /// Last successful plant sync.
    pub last_synced_at: Option<Timestamp>,
    /// Last successful alert sync.
    pub last_alerts_synced_at: Option<Timestamp>,
    /// Last error.
    pub last_error: Option<String>,
    /// Plant sync failures in a row.
    pub consecutive_failures: u32,
    /// Last alert sync error.
    pub last_alerts_error: Option<String>,
    /// Alert sync failures in a row.
    pub alerts_consecutive_failures: u32,
    /// Credentials were rejected; waiting for the user.
    pub needs_user_action: bool,
    /// Requests made in the portal's current day against its daily quota, for portals with
    /// one (SolarEdge: the day of the key's sites, UTC until they are known; see
    /// `store::QuotaDay`); counted over every vendor that uses the same key.
    pub quota_used_today: Option<u32>,
    /// The portal's daily request limit, for portals with one.
    pub quota_daily_limit: Option<u32>,
    /// When the portal's day ends and the count starts again, for portals with a quota.
    #[serde(default)]
    pub quota_resets_at: Option<Timestamp>,
    /// What the portal said when it refused a call for a spent quota today (HTTP 429 before
    /// our count reached the limit), for portals with a quota.
    #[serde(default)]
    pub quota_portal_said: Option<String>,
    /// A refused static key (SolarEdge, Growatt) is tried again with one call at this
    /// time; `None` when the vendor's key is not waiting for a probe.
    #[serde(default)]
    pub next_key_probe_at: Option<Timestamp>,
}

/// What `plantsync status` reports without a running agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// The database file.
    pub database_path: String,
    /// Its size with the WAL, bytes.
    pub database_bytes: u64,
    /// Its schema version.
    pub schema_version: i64,
    /// Organizations.
    pub organizations: u64,
    /// Vendors.
    pub vendors: u64,
    /// Active vendors.
    pub active_vendors: u64,
    /// Plants.
    pub plants: u64,
    /// Active plants.
    pub active_plants: u64,
    /// Active plants by normalized status; a status no plant has is absent.
    #[serde(default)]
    pub plants_by_status: BTreeMap<PlantStatus, u64>,
    /// Alerts.
    pub alerts: u64,
    /// Alerts still active.
    pub active_alerts: u64,
    /// Start of the last plant sync run.
    pub last_plant_run_at: Option<Timestamp>,
    /// Start of the last alert sync run.
    pub last_alert_run_at: Option<Timestamp>,
    /// Per-vendor health.
    pub vendor_health: Vec<VendorHealth>,
}

impl Store {
    /// `PRAGMA integrity_check`: `"ok"` or the problems found.
    pub async fn integrity_check(&self) -> Result<String> {
        self.read(|conn| {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(lines.join("; "))
        })
        .await
    }

    /// Gathers the status report in one read transaction.
    pub async fn status(&self) -> Result<StoreStatus> {
        let path = self.path().to_path_buf();
        self.read(move |conn| {
            let counts = conn.query_row(
                "SELECT (SELECT count(*) FROM organizations),
                        (SELECT count(*) FROM vendors),
                        (SELECT count(*) FROM vendors WHERE is_active = 1),
                        (SELECT count(*) FROM plants),
                        (SELECT count(*) FROM plants WHERE is_active = 1),
                        (SELECT count(*) FROM alerts),
                        (SELECT count(*) FROM alerts WHERE status = 'ACTIVE'),
                        (SELECT max(started_at) FROM sync_runs WHERE kind = 'plants'),
                        (SELECT max(started_at) FROM sync_runs WHERE kind = 'alerts')",
                [],
                |row| {
                    Ok((
                        [
                            count(row, 0)?,
                            count(row, 1)?,
                            count(row, 2)?,
                            count(row, 3)?,
                            count(row, 4)?,
                            count(row, 5)?,
                            count(row, 6)?,
                        ],
                        row.get::<_, Option<Timestamp>>(7)?,
                        row.get::<_, Option<Timestamp>>(8)?,
                    ))
                },
            )?;
            let mut stmt = conn.prepare(
                "SELECT id, name, kind, is_active, last_synced_at, last_alerts_synced_at,
                        last_error, consecutive_failures, needs_user_action,
                        last_alerts_error, alerts_consecutive_failures
                 FROM vendors ORDER BY name, id",
            )?;
            let mut vendor_health: Vec<VendorHealth> = stmt
                .query_map([], |row| {
                    Ok(VendorHealth {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        kind: row.get(2)?,
                        is_active: row.get(3)?,
                        last_synced_at: row.get(4)?,
                        last_alerts_synced_at: row.get(5)?,
                        last_error: row.get(6)?,
                        consecutive_failures: row.get(7)?,
                        needs_user_action: row.get(8)?,
                        last_alerts_error: row.get(9)?,
                        alerts_consecutive_failures: row.get(10)?,
                        quota_used_today: None,
                        quota_daily_limit: None,
                        quota_resets_at: None,
                        quota_portal_said: None,
                        next_key_probe_at: None,
                    })
                })?
                .collect::<Result<_, _>>()?;
            // Quotas are counted per API key: each vendor's is looked up by its key's hash, in
            // the portal's day of its sites.
            let now = chrono::Utc::now();
            for health in &mut vendor_health {
                if let Some(limit) = crate::vendors::daily_request_limit(health.kind) {
                    // The key's stored fingerprint: status reads no secret (nor the keyring).
                    let key = conn
                        .query_row(
                            "SELECT api_key_fingerprint FROM vendor_credentials
                             WHERE vendor_id = ?1",
                            [health.id],
                            |r| r.get::<_, Option<String>>(0),
                        )
                        .optional()?
                        .flatten()
                        .unwrap_or_else(
                            || super::quota_key(&crate::domain::Credentials::default()),
                        );
                    let day = super::quotas::quota_day_of(conn, &key, health.id, now)?;
                    let today = super::quotas::use_on(conn, &key, limit, &day)?;
                    health.quota_used_today = Some(today.used);
                    health.quota_daily_limit = Some(limit);
                    health.quota_resets_at = Some(today.resets_at);
                    health.quota_portal_said = today.portal_said;
                }
                if health.needs_user_action {
                    health.next_key_probe_at =
                        super::probes::get(conn, health.id)?.map(|p| p.next_probe_at);
                }
            }
            let mut stmt = conn.prepare(
                "SELECT status, count(*) FROM plants WHERE is_active = 1 GROUP BY status",
            )?;
            let plants_by_status = stmt
                .query_map([], |row| Ok((row.get::<_, PlantStatus>(0)?, count(row, 1)?)))?
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            let database_bytes = ["", "-wal"]
                .iter()
                .filter_map(|suffix| {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    std::fs::metadata(file).ok().map(|m| m.len())
                })
                .sum();
            let [
                organizations,
                vendors,
                active_vendors,
                plants,
                active_plants,
                alerts,
                active_alerts,
            ] = counts.0;
            Ok(StoreStatus {
                database_path: path.display().to_string(),
                database_bytes,
                schema_version: SCHEMA_VERSION,
                organizations,
                vendors,
                active_vendors,
                plants,
                active_plants,
                plants_by_status,
                alerts,
                active_alerts,
                last_plant_run_at: counts.1,
                last_alert_run_at: counts.2,
                vendor_health,
            })
        })
        .await
    }
}
