//! What the sync engine needs from the store: which vendors to sync, their tokens, and
//! recording each vendor's outcome.

use super::{Result, Store, orgs, seq, vendors};
use crate::domain::{Credentials, OrgId, RunKind, Secret, Timestamp, Token, Vendor, VendorId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// A vendor the schedule may sync, with what its due time depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleCandidate {
    /// The vendor.
    pub vendor_id: VendorId,
    /// Its organization's interval, minutes.
    pub interval_minutes: u32,
    /// Its last successful plant sync.
    pub last_synced_at: Option<Timestamp>,
}

/// Which vendors a run takes.
#[derive(Debug, Clone, Default)]
pub struct SyncSelection {
    /// A person asked for it: every active vendor with an organization, auto-sync or not.
    /// Otherwise only vendors of organizations with auto-sync on.
    pub force: bool,
    /// Only this vendor (id or unique name).
    pub vendor: Option<String>,
    /// Only this organization (id or name).
    pub org: Option<String>,
    /// Only these vendors (the schedule's due ones).
    pub vendor_ids: Option<Vec<VendorId>>,
}

/// A vendor to sync, with what the adapter needs.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    /// The vendor.
    pub vendor: Vendor,
    /// Its credentials.
    pub credentials: Credentials,
    /// When the credentials were last entered (a new entry means "try again").
    pub credentials_entered_at: Option<String>,
    /// Its organization's sync interval, minutes (how often the schedule will call again;
    /// portals with a daily quota plan by it).
    pub interval_minutes: u32,
}

/// What the store holds of a vendor's plants that lets an adapter skip calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredPlantState {
    /// Vendor plant id to the vendor's update time, for plants whose energy is stored.
    pub updated_with_energy: std::collections::HashMap<String, Timestamp>,
    /// Vendor plant id to the stored time zone, for plants that have one.
    pub timezones: std::collections::HashMap<String, String>,
}

/// How a vendor's sync ended.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorOutcome {
    /// Complete: `last_synced_at` (or `last_alerts_synced_at`) moves to `at`.
    Succeeded {
        /// When the run started.
        at: Timestamp,
    },
    /// Failed: the error is kept and the failure count grows.
    Failed {
        /// What went wrong.
        error: String,
        /// The credentials were rejected: no login until they change.
        needs_user_action: bool,
    },
}

impl Store {
    /// The vendors a run takes: active, with an organization (with auto-sync on unless
    /// forced), narrowed by the selection's vendor and organization.
    pub async fn vendors_for_sync(&self, selection: SyncSelection) -> Result<Vec<SyncTarget>> {
        self.read(move |conn| {
            let org: Option<OrgId> =
                selection.org.as_deref().map(|r| orgs::resolve(conn, r)).transpose()?.map(|o| o.id);
            let only: Option<VendorId> = selection
                .vendor
                .as_deref()
                .map(|r| vendors::resolve(conn, r))
                .transpose()?
                .map(|v| v.id);
            let mut stmt = conn.prepare(
                "SELECT v.id, o.sync_interval_minutes FROM vendors v
                 JOIN organizations o ON o.id = v.org_id
                 WHERE v.is_active = 1 AND (?1 OR o.auto_sync_enabled = 1)
                   AND (?2 IS NULL OR v.org_id = ?2) AND (?3 IS NULL OR v.id = ?3)
                 ORDER BY v.id",
            )?;
            let ids: Vec<(VendorId, u32)> = stmt
                .query_map(params![selection.force, org, only], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let wanted = selection.vendor_ids;
            ids.into_iter()
                .filter(|(id, _)| wanted.as_ref().is_none_or(|w| w.contains(id)))
                .map(|(id, interval_minutes)| {
                    Ok(SyncTarget {
                        interval_minutes,
                        vendor: vendors::get(conn, id)?,
                        credentials: vendors::read_credentials(conn, id)?,
                        credentials_entered_at: conn
                            .query_row(
                                "SELECT updated_at FROM vendor_credentials WHERE vendor_id = ?1",
                                [id],
                                |r| r.get(0),
                            )
                            .optional()?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Active vendors of organizations with auto-sync on, with their organization's interval
    /// and last success: what the schedule computes due times from.
    pub async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT v.id, o.sync_interval_minutes, v.last_synced_at
                 FROM vendors v JOIN organizations o ON o.id = v.org_id
                 WHERE v.is_active = 1 AND o.auto_sync_enabled = 1 ORDER BY v.id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ScheduleCandidate {
                        vendor_id: r.get(0)?,
                        interval_minutes: r.get(1)?,
                        last_synced_at: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Records how a vendor's plant or alert sync ended.
    pub async fn record_vendor_outcome(
        &self,
        vendor_id: VendorId,
        kind: RunKind,
        outcome: VendorOutcome,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = seq::next(&tx)?;
            let (synced_column, error_column, failures_column) = match kind {
                RunKind::Plants => ("last_synced_at", "last_error", "consecutive_failures"),
                RunKind::Alerts => {
                    ("last_alerts_synced_at", "last_alerts_error", "alerts_consecutive_failures")
                }
            };
            match outcome {
                VendorOutcome::Succeeded { at } => {
                    tx.execute(
                        &format!(
                            "UPDATE vendors SET {synced_column} = ?1, {error_column} = NULL,
                                {failures_column} = 0, needs_user_action = 0, change_seq = ?2,
                                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?3"
                        ),
                        params![at, change, vendor_id],
                    )?;
                }
                VendorOutcome::Failed { error, needs_user_action } => {
                    tx.execute(
                        &format!(
                            "UPDATE vendors SET {error_column} = ?1, {failures_column} = {failures_column} + 1,
                                needs_user_action = max(needs_user_action, ?2), change_seq = ?3,
                                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?4"
                        ),
                        params![error, needs_user_action, change, vendor_id],
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The cached token of a vendor.
    pub async fn load_token(&self, vendor_id: VendorId) -> Result<Option<Token>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT access_token, refresh_token, expires_at, metadata FROM vendor_tokens
                     WHERE vendor_id = ?1",
                    [vendor_id],
                    |row| {
                        let metadata: String = row.get(3)?;
                        Ok(Token {
                            access: Secret::new(row.get::<_, String>(0)?),
                            refresh: row.get::<_, Option<String>>(1)?.map(Secret::new),
                            expires_at: row.get(2)?,
                            metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Caches a vendor's token.
    pub async fn save_token(&self, vendor_id: VendorId, token: Token) -> Result<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO vendor_tokens (vendor_id, access_token, refresh_token, expires_at, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (vendor_id) DO UPDATE SET access_token = excluded.access_token,
                    refresh_token = excluded.refresh_token, expires_at = excluded.expires_at,
                    metadata = excluded.metadata,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![
                    vendor_id,
                    token.access.expose(),
                    token.refresh.as_ref().map(Secret::expose),
                    token.expires_at,
                    token.metadata.to_string()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets a vendor's token.
    pub async fn clear_token(&self, vendor_id: VendorId) -> Result<()> {
        self.write(move |conn| {
            conn.execute("DELETE FROM vendor_tokens WHERE vendor_id = ?1", [vendor_id])?;
            Ok(())
        })
        .await
    }

    /// What the store holds of the vendor's plants that lets an adapter skip calls: in one
    /// read, each plant's vendor update time where its energy readings are stored, and each
    /// plant's time zone where it has one.
    pub async fn stored_plant_state(&self, vendor_id: VendorId) -> Result<StoredPlantState> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor_plant_id, vendor_updated_at,
                        daily_energy_kwh IS NOT NULL AND total_energy_kwh IS NOT NULL, timezone
                 FROM plants WHERE vendor_id = ?1",
            )?;
            let mut state = StoredPlantState::default();
            let mut rows = stmt.query([vendor_id])?;
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                if let (Some(updated), true) = (row.get::<_, Option<Timestamp>>(1)?, row.get(2)?) {
                    state.updated_with_energy.insert(id.clone(), updated);
                }
                if let Some(zone) = row.get::<_, Option<String>>(3)? {
                    state.timezones.insert(id, zone);
                }
            }
            Ok(state)
        })
        .await
    }

    /// The vendor's alerts still open that started before `before`, as (vendor plant id,
    /// start), oldest first, at most `limit`: portals that report an alert's end only in a
    /// window holding its start (FusionSolar) are asked about each of them.
    pub async fn open_alerts_started_before(
        &self,
        vendor_id: VendorId,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT DISTINCT p.vendor_plant_id, a.started_at FROM alerts a
                 JOIN plants p ON p.id = a.plant_id
                 WHERE a.vendor_id = ?1 AND a.status IN ('ACTIVE', 'ACKNOWLEDGED')
                   AND a.started_at IS NOT NULL AND a.started_at < ?2
                 ORDER BY a.started_at LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![vendor_id, before, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Vendor ids of the vendor's active plants (what an alert sync asks about).
    pub async fn active_plant_ids(&self, vendor_id: VendorId) -> Result<Vec<String>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor_plant_id FROM plants WHERE vendor_id = ?1 AND is_active = 1 ORDER BY id",
            )?;
            let ids = stmt.query_map([vendor_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    /// Resolves the vendor's open (`ACTIVE` or `ACKNOWLEDGED`) alerts whose keys are not in
    /// `open_keys` (the vendor's complete list of open alerts); returns how many. The vendor
    /// gave no end time, so `ended_at` stays empty.
    pub async fn resolve_alerts_not_open(
        &self,
        vendor_id: VendorId,
        open_keys: Vec<String>,
    ) -> Result<u64> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS open_alert_keys (key TEXT PRIMARY KEY)",
                [],
            )?;
            tx.execute("DELETE FROM open_alert_keys", [])?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT OR IGNORE INTO open_alert_keys (key) VALUES (?1)")?;
                for key in &open_keys {
                    insert.execute([key])?;
                }
            }
            let change = seq::current(&tx)? + 1;
            let resolved = tx.execute(
                "UPDATE alerts SET status = 'RESOLVED', change_seq = ?1,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE vendor_id = ?2 AND status IN ('ACTIVE', 'ACKNOWLEDGED')
                   AND vendor_alert_key NOT IN (SELECT key FROM open_alert_keys)",
                params![change, vendor_id],
            )?;
            if resolved > 0 {
                seq::set(&tx, change)?;
            }
            tx.execute("DELETE FROM open_alert_keys", [])?;
            tx.commit()?;
            Ok(resolved as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewOrganization, NewVendor, VendorKind};
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn selection_respects_auto_sync_force_and_org() {
        let (_dir, store) = temp_store();
        let on = store
            .add_org(NewOrganization {
                name: "On".into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 15,
            })
            .await
            .unwrap();
        let off = store
            .add_org(NewOrganization {
                name: "Off".into(),
                auto_sync_enabled: false,
                sync_interval_minutes: 15,
            })
            .await
            .unwrap();
        for (name, org, active) in [
            ("a", Some(on.id), true),
            ("b", Some(off.id), true),
            ("c", None, true),
            ("d", Some(on.id), false),
        ] {
            store
                .add_vendor(
                    NewVendor {
                        name: name.into(),
                        kind: VendorKind::Sungrow,
                        org_id: org,
                        base_url: None,
                        is_active: active,
                    },
                    Credentials::default(),
                )
                .await
                .unwrap();
        }
        let names = |targets: Vec<SyncTarget>| {
            targets.into_iter().map(|t| t.vendor.name).collect::<Vec<_>>()
        };
        assert_eq!(names(store.vendors_for_sync(SyncSelection::default()).await.unwrap()), ["a"]);
        let forced = SyncSelection { force: true, ..Default::default() };
        assert_eq!(names(store.vendors_for_sync(forced).await.unwrap()), ["a", "b"]);
        let only_off = SyncSelection { force: true, org: Some("Off".into()), ..Default::default() };
        assert_eq!(names(store.vendors_for_sync(only_off).await.unwrap()), ["b"]);
    }

    #[tokio::test]
    async fn outcomes_update_health() {
        let (_dir, store) = temp_store();
        let v = store
            .add_vendor(
                NewVendor {
                    name: "v".into(),
                    kind: VendorKind::Solarman,
                    org_id: None,
                    base_url: None,
                    is_active: true,
                },
                Credentials::default(),
            )
            .await
            .unwrap();
        let failed = VendorOutcome::Failed { error: "boom".into(), needs_user_action: true };
        store.record_vendor_outcome(v.id, RunKind::Plants, failed.clone()).await.unwrap();
        store.record_vendor_outcome(v.id, RunKind::Plants, failed).await.unwrap();
        let vendor = store.find_vendor("v").await.unwrap();
        assert_eq!((vendor.consecutive_failures, vendor.needs_user_action), (2, true));
        assert_eq!(vendor.last_error.as_deref(), Some("boom"));
        let at = Timestamp::now();
        store
            .record_vendor_outcome(v.id, RunKind::Plants, VendorOutcome::Succeeded { at })
            .await
            .unwrap();
        let vendor = store.find_vendor("v").await.unwrap();
        assert_eq!(
            (vendor.consecutive_failures, vendor.last_error, vendor.last_synced_at),
            (0, None, Some(at))
        );
    }
}
