//! Alerts: the upsert on the occurrence key and the listings.

use super::{Result, Store, StoreError, UpsertCounts, orgs, seq, vendors};
use crate::domain::{
    Alert, AlertId, AlertStatus, PlantId, Severity, Timestamp, VendorAlert, VendorId,
};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

/// The upsert. A person's `ACKNOWLEDGED` survives the vendor reporting the alert as still
/// active; an end time from the vendor resolves it whatever its state.
const UPSERT_SQL: &str = "
INSERT INTO alerts (vendor_id, vendor_alert_key, plant_id, device_sn, severity, status, code,
    title, description, started_at, ended_at, raw_json, change_seq, created_at, updated_at)
VALUES (?1, ?2, (SELECT id FROM plants WHERE vendor_id = ?1 AND vendor_plant_id = ?3),
    ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)
ON CONFLICT (vendor_id, vendor_alert_key) DO UPDATE SET
    plant_id = coalesce(excluded.plant_id, alerts.plant_id),
    device_sn = coalesce(excluded.device_sn, alerts.device_sn),
    severity = excluded.severity,
    status = CASE WHEN alerts.status = 'ACKNOWLEDGED' AND excluded.status = 'ACTIVE'
                  THEN alerts.status ELSE excluded.status END,
    code = coalesce(excluded.code, alerts.code),
    title = excluded.title,
    description = coalesce(excluded.description, alerts.description),
    started_at = coalesce(excluded.started_at, alerts.started_at),
    ended_at = coalesce(excluded.ended_at, alerts.ended_at),
    raw_json = coalesce(excluded.raw_json, alerts.raw_json),
    change_seq = CASE WHEN {changed} THEN excluded.change_seq ELSE alerts.change_seq END,
    updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE alerts.updated_at END
RETURNING id, change_seq";

const CHANGED: &str = "(excluded.plant_id IS NOT NULL AND alerts.plant_id IS NOT excluded.plant_id)
    OR (excluded.device_sn IS NOT NULL AND alerts.device_sn IS NOT excluded.device_sn)
    OR alerts.severity IS NOT excluded.severity
    OR (alerts.status IS NOT excluded.status
        AND NOT (alerts.status = 'ACKNOWLEDGED' AND excluded.status = 'ACTIVE'))
    OR (excluded.code IS NOT NULL AND alerts.code IS NOT excluded.code)
    OR alerts.title IS NOT excluded.title
    OR (excluded.description IS NOT NULL AND alerts.description IS NOT excluded.description)
    OR (excluded.started_at IS NOT NULL AND alerts.started_at IS NOT excluded.started_at)
    OR (excluded.ended_at IS NOT NULL AND alerts.ended_at IS NOT excluded.ended_at)";

/// Filters for [`Store::list_alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Organization id or name (through the plant's organization).
    pub org: Option<String>,
    /// Vendor id or unique name.
    pub vendor: Option<String>,
    /// plantsync plant id.
    pub plant: Option<PlantId>,
    /// Severity.
    pub severity: Option<Severity>,
    /// Status.
    pub status: Option<AlertStatus>,
    /// Started at or after.
    pub since: Option<Timestamp>,
    /// At most this many rows (newest first).
    pub limit: Option<u64>,
}

const COLUMNS: &str = "a.id, a.vendor_id, a.vendor_alert_key, a.plant_id, p.name, a.device_sn,
    a.severity, a.status, a.code, a.title, a.description, a.started_at, a.ended_at,
    a.change_seq, a.created_at, a.updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: row.get(0)?,
        vendor_id: row.get(1)?,
        vendor_alert_key: row.get(2)?,
        plant_id: row.get(3)?,
        plant_name: row.get(4)?,
        device_sn: row.get(5)?,
        severity: row.get(6)?,
        status: row.get(7)?,
        code: row.get(8)?,
        title: row.get(9)?,
        description: row.get(10)?,
        started_at: row.get(11)?,
        ended_at: row.get(12)?,
        change_seq: row.get(13)?,
        created_at: row.get(14)?,
        updated_at: row.get(15)?,
    })
}

impl Store {
    /// Upserts a vendor's alert occurrences in one transaction, keyed on
    /// `(vendor_id, vendor_alert_key)`.
    pub async fn upsert_alerts(
        &self,
        vendor_id: VendorId,
        alerts: impl Into<std::sync::Arc<[VendorAlert]>>,
        now: Timestamp,
    ) -> Result<UpsertCounts> {
        let alerts = alerts.into();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let max_id_before: i64 =
                tx.query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| r.get(0))?;
            let mut last_seq = seq::current(&tx)?;
            let mut outcome = UpsertCounts::default();
            {
                let sql = UPSERT_SQL.replace("{changed}", CHANGED);
                let mut stmt = tx.prepare_cached(&sql)?;
                let mut seen = std::collections::HashSet::new();
                for alert in alerts.iter() {
                    let candidate = last_seq + 1;
                    let (id, change_seq): (i64, i64) = stmt.query_row(
                        params![
                            vendor_id,
                            alert.vendor_alert_key,
                            alert.vendor_plant_id,
                            alert.device_sn,
                            alert.severity,
                            alert.status,
                            alert.code,
                            alert.title,
                            alert.description,
                            alert.started_at,
                            alert.ended_at,
                            alert.raw_json,
                            candidate,
                            now,
                        ],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )?;
                    let took_number = change_seq == candidate;
                    if took_number {
                        last_seq = candidate;
                    }
                    if !seen.insert(id) {
                        continue;
                    }
                    if id > max_id_before {
                        outcome.created += 1;
                    } else if took_number {
                        outcome.updated += 1;
                    } else {
                        outcome.unchanged += 1;
                    }
                }
            }
            seq::set(&tx, last_seq)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// Alerts matching `filter`, newest first.
    pub async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>> {
        self.read(move |conn| {
            let mut sql = format!(
                "SELECT {COLUMNS} FROM alerts a LEFT JOIN plants p ON p.id = a.plant_id WHERE 1 = 1"
            );
            let mut args: Vec<Value> = Vec::new();
            // The organization first: among vendors sharing a name, it picks the vendor.
            let org = filter.org.as_deref().map(|o| orgs::resolve(conn, o)).transpose()?;
            if let Some(org) = &org {
                args.push(Value::Integer(org.id.0));
                sql.push_str(&format!(" AND p.org_id = ?{}", args.len()));
            }
            if let Some(vendor) = &filter.vendor {
                let vendor = vendors::resolve_in(conn, vendor, org.map(|o| o.id))?;
                args.push(Value::Integer(vendor.id.0));
                sql.push_str(&format!(" AND a.vendor_id = ?{}", args.len()));
            }
            if let Some(plant) = filter.plant {
                args.push(Value::Integer(plant.0));
                sql.push_str(&format!(" AND a.plant_id = ?{}", args.len()));
            }
            if let Some(severity) = filter.severity {
                args.push(Value::Text(severity.as_str().to_owned()));
                sql.push_str(&format!(" AND a.severity = ?{}", args.len()));
            }
            if let Some(status) = filter.status {
                args.push(Value::Text(status.as_str().to_owned()));
                sql.push_str(&format!(" AND a.status = ?{}", args.len()));
            }
            if let Some(since) = filter.since {
                args.push(Value::Text(since.to_canonical()));
                sql.push_str(&format!(" AND a.started_at >= ?{}", args.len()));
            }
            sql.push_str(" ORDER BY a.started_at DESC, a.id DESC");
            if let Some(limit) = filter.limit {
                args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
                sql.push_str(&format!(" LIMIT ?{}", args.len()));
            }
            let mut stmt = conn.prepare(&sql)?;
            let rows =
                stmt.query_map(params_from_iter(args), from_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One alert by id, with the vendor's raw record.
    pub async fn get_alert(&self, id: AlertId) -> Result<(Alert, Option<String>)> {
        self.read(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {COLUMNS}, a.raw_json FROM alerts a LEFT JOIN plants p ON p.id = a.plant_id
                     WHERE a.id = ?1"
                ),
                [id],
                |row| Ok((from_row(row)?, row.get(16)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound { what: "alert", id: id.to_string() })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Credentials, NewOrganization, NewVendor, VendorKind, VendorPlant};
    use crate::store::test_support::temp_store;

    fn alert(key: &str, ended: Option<Timestamp>) -> VendorAlert {
        VendorAlert {
            vendor_alert_key: key.into(),
            vendor_plant_id: Some("P1".into()),
            device_sn: Some("SN1".into()),
            severity: Severity::High,
            status: if ended.is_some() { AlertStatus::Resolved } else { AlertStatus::Active },
            code: Some("10".into()),
            title: "Grid power outage".into(),
            description: None,
            started_at: Some("2026-04-06T02:00:00Z".parse().unwrap()),
            ended_at: ended,
            raw_json: None,
        }
    }

    #[tokio::test]
    async fn occurrence_key_upsert_resolves_and_links_plant() {
        let (_dir, store) = temp_store();
        let org = store
            .add_org(NewOrganization {
                name: "O".into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 15,
            })
            .await
            .unwrap();
        let v = store
            .add_vendor(
                NewVendor {
                    name: "V".into(),
                    kind: VendorKind::Sungrow,
                    org_id: Some(org.id),
                    base_url: None,
                    is_active: true,
                },
                Credentials::default(),
            )
            .await
            .unwrap()
            .id;
        store
            .upsert_plants(
                v,
                vec![VendorPlant {
                    vendor_plant_id: "P1".into(),
                    name: Some("P".into()),
                    ..Default::default()
                }],
                Timestamp::now(),
            )
            .await
            .unwrap();
        let first =
            store.upsert_alerts(v, vec![alert("k1", None)], Timestamp::now()).await.unwrap();
        assert_eq!(first.created, 1);
        let again =
            store.upsert_alerts(v, vec![alert("k1", None)], Timestamp::now()).await.unwrap();
        assert_eq!(again.unchanged, 1);
        let end: Timestamp = "2026-04-06T03:00:00Z".parse().unwrap();
        let resolved =
            store.upsert_alerts(v, vec![alert("k1", Some(end))], Timestamp::now()).await.unwrap();
        assert_eq!(resolved.updated, 1);
        let listed = store
            .list_alerts(AlertFilter { org: Some("O".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, AlertStatus::Resolved);
        assert_eq!(listed[0].plant_name.as_deref(), Some("P"));
        assert_eq!(listed[0].ended_at, Some(end));
    }
}
