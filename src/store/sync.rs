//! What the sync engine needs from the store: which vendors to sync, their tokens, and
//! recording each vendor's outcome.

use super::{Result, Store, StoreError, orgs, seq, vendors};
use crate::domain::{
    Credentials, OrgId, RunKind, RunRequest, RunSource, Secret, Timestamp, Token, Vendor, VendorId,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The one rule of which vendors a run may take: active, with an organization, with
/// auto-sync on unless forced; optionally only those of `org` or among `only`. Returns each
/// with its organization's interval, by id.
fn eligible(
    conn: &Connection,
    force: bool,
    org: Option<OrgId>,
    only: Option<&[VendorId]>,
) -> Result<Vec<(VendorId, u32)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT v.id, o.sync_interval_minutes FROM vendors v
         JOIN organizations o ON o.id = v.org_id
         WHERE v.is_active = 1 AND (?1 OR o.auto_sync_enabled = 1)
           AND (?2 IS NULL OR v.org_id = ?2)
         ORDER BY v.id",
    )?;
    let rows = stmt
        .query_map(params![force, org], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(VendorId, u32)>>>()?;
    Ok(match only {
        Some(only) => rows.into_iter().filter(|(id, _)| only.binary_search(id).is_ok()).collect(),
        None => rows,
    })
}

/// Whether `org` has auto-sync on.
fn org_auto_sync(conn: &Connection, org: Option<OrgId>) -> Result<bool> {
    let on: Option<bool> = conn
        .query_row("SELECT auto_sync_enabled FROM organizations WHERE id = ?1", [org], |r| r.get(0))
        .optional()?;
    Ok(on.unwrap_or(false))
}

/// Splits a lookup by reference: not found or ambiguous is the selection's fault (the inner
/// error), anything else the store's (the outer one).
fn lookup<T>(found: Result<T>) -> Result<Result<T, SelectionError>> {
    match found {
        Ok(value) => Ok(Ok(value)),
        Err(error @ (StoreError::NotFound { .. } | StoreError::Invalid(_))) => {
            Ok(Err(SelectionError::Unknown(error)))
        }
        Err(other) => Err(other),
    }
}

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

/// Which vendors a person (CLI, tray) or an API client asked for, as given: names or ids.
/// [`Store::resolve_request`] turns it into a [`RunRequest`] of ids, or says what is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only this vendor (id or unique name).
    pub vendor: Option<String>,
    /// Only this organization (id or name).
    pub org: Option<String>,
    /// Include vendors of organizations with auto-sync off.
    pub force: bool,
}

/// Why a named vendor cannot be synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// It is disabled.
    Disabled,
    /// It has no organization.
    NoOrganization,
    /// Its organization has auto-sync off and the request was not forced.
    AutoSyncOff,
    /// It is not in the organization the request also named.
    OtherOrganization,
}

/// What is wrong with a [`Selection`]: a usage error (the CLI exits 2, the API answers 400),
/// found before anything is recorded.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// No vendor or organization has that id or name, or a name is ambiguous.
    #[error("{0}")]
    Unknown(StoreError),
    /// The vendor exists but a run would not take it.
    #[error("{}", ineligible_message(.vendor, .reason))]
    Ineligible {
        /// The vendor.
        vendor: Box<Vendor>,
        /// Why.
        reason: Ineligible,
    },
    /// Nothing to sync: no vendor a run would take (in the organization, if one was named).
    #[error("{}", nothing_message(.org.as_deref(), *.auto_sync_off))]
    NothingToSync {
        /// The organization named, if any.
        org: Option<String>,
        /// Its auto-sync is off and the request was not forced.
        auto_sync_off: bool,
    },
    /// The store failed while resolving.
    #[error(transparent)]
    Store(StoreError),
}

/// Where a request for a vendor that is left out only for the auto-sync switch is told
/// how to force it, for the CLI and the API alike.
const FORCE_HINT: &str = "pass --force (through the API, force=true) to sync it anyway";

fn nothing_message(org: Option<&str>, auto_sync_off: bool) -> String {
    match (org, auto_sync_off) {
        (Some(org), true) => format!("organization '{org}' has auto-sync off; {FORCE_HINT}"),
        (Some(org), false) => format!(
            "organization '{org}' has no active vendor to sync; add one with `plantsync vendor \
             add --org '{org}'` or enable one with `plantsync vendor enable`"
        ),
        (None, _) => "no vendor to sync: a vendor needs to be active and in an organization \
                      with auto-sync on (or pass --force to include organizations with \
                      auto-sync off)"
            .to_owned(),
    }
}

impl SelectionError {
    /// Whether the selection itself is wrong (as opposed to the store failing).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

fn ineligible_message(vendor: &Vendor, reason: &Ineligible) -> String {
    let (name, id) = (&vendor.name, vendor.id);
    match reason {
        Ineligible::Disabled => format!(
            "vendor '{name}' (id {id}) is disabled; enable it with `plantsync vendor enable {id}`"
        ),
        Ineligible::NoOrganization => format!(
            "vendor '{name}' (id {id}) has no organization; give it one with `plantsync vendor \
             set {id} --org <ORG>`"
        ),
        Ineligible::AutoSyncOff => format!(
            "vendor '{name}' (id {id}) belongs to '{}', whose auto-sync is off; {FORCE_HINT}",
            vendor.org_name.as_deref().unwrap_or_default()
        ),
        Ineligible::OtherOrganization => format!(
            "vendor '{name}' (id {id}) is not in that organization (it is in '{}')",
            vendor.org_name.as_deref().unwrap_or("none")
        ),
    }
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
    /// This run is the one-call probe of the vendor's refused static key (see
    /// `store::Parked`): set by the engine, never by the store.
    pub key_probe: bool,
    /// Secrets the OS keyring could not give for this vendor (an entry missing or refused),
    /// each said in words with how to enter it again: the vendor is not tried, and fails
    /// with them, without being taken for refused credentials.
    pub unreadable_secrets: Vec<String>,
}

/// What the store holds of a vendor's plants that lets an adapter skip calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredPlantState {
    /// Vendor plant id to the vendor's update time, for plants whose energy is stored.
    pub updated_with_energy: std::collections::HashMap<String, Timestamp>,
    /// Vendor plant id to the stored time zone, for plants that have one.
    pub timezones: std::collections::HashMap<String, String>,
    /// Vendor plant ids of plants whose coordinates are stored.
    pub positioned: std::collections::HashSet<String>,
}

/// How a vendor's sync ended.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorOutcome {
    /// Complete: `last_synced_at` (or `last_alerts_synced_at`) moves to `at`.
    Succeeded {
        /// When the run started.
        at: Timestamp,
    },
    /// Succeeded with part of the vendor's plants left for the next run (an alert fan-out
    /// the portal throttled): the error clears, but the last sync time stays, so the next
    /// run asks the same window again.
    SucceededInPart,
    /// Failed: the error is kept and the failure count grows.
    Failed {
        /// What went wrong.
        error: String,
        /// The credentials were rejected: no login until they change.
        needs_user_action: bool,
    },
    /// Not attempted: the credentials were rejected earlier. The failure count grows (the
    /// vendor is still not syncing); the error stays the rejection that caused it.
    NotAttempted,
}

/// A target's credentials, and the secrets the keyring could not give. An unreachable
/// keyring fails the whole run (every vendor would fail the same way, and nothing is the
/// vendors' fault); one vendor's missing or refused entry is that vendor's alone: the log
/// and the vendor's result say which entry and how to set it, the engine does not try that
/// vendor (no call can work without it) and does not park it, and the other vendors sync.
fn target_credentials(
    conn: &Connection,
    keyring: &dyn crate::secrets::Backend,
    id: VendorId,
) -> Result<(Credentials, Vec<String>)> {
    let (credentials, unread) = vendors::read_credentials_except(conn, keyring, id, &[])?;
    let unread: Vec<String> = unread.into_iter().map(|problem| problem.to_string()).collect();
    for problem in &unread {
        tracing::warn!(vendor = %id, "{problem}");
    }
    Ok((credentials, unread))
}

impl Store {
    /// Resolves what a person or API client asked for into a request of vendor ids: the
    /// active vendors with an organization (with auto-sync on unless forced), narrowed to the
    /// named vendor and organization. A name that matches nothing, or a named vendor a run
    /// would not take, is an error that says why; nothing is recorded either way.
    pub async fn resolve_request(
        &self,
        kind: RunKind,
        source: RunSource,
        selection: Selection,
    ) -> Result<RunRequest, SelectionError> {
        let resolved = self.read(move |conn| {
            let org = match selection.org.as_deref().map(|r| lookup(orgs::resolve(conn, r))) {
                Some(found) => match found? {
                    Ok(org) => Some(org),
                    Err(unknown) => return Ok(Err(unknown)),
                },
                None => None,
            };
            if let Some(reference) = selection.vendor.as_deref() {
                let in_org = org.as_ref().map(|o| o.id);
                let vendor = match lookup(vendors::resolve_in(conn, reference, in_org))? {
                    Ok(vendor) => vendor,
                    Err(unknown) => return Ok(Err(unknown)),
                };
                let reason = if !vendor.is_active {
                    Some(Ineligible::Disabled)
                } else if vendor.org_id.is_none() {
                    Some(Ineligible::NoOrganization)
                } else if org.as_ref().is_some_and(|o| Some(o.id) != vendor.org_id) {
                    Some(Ineligible::OtherOrganization)
                } else if !selection.force && !org_auto_sync(conn, vendor.org_id)? {
                    Some(Ineligible::AutoSyncOff)
                } else {
                    None
                };
                return Ok(match reason {
                    Some(reason) => {
                        Err(SelectionError::Ineligible { vendor: Box::new(vendor), reason })
                    }
                    None => Ok(RunRequest::new(kind, source, selection.force, [vendor.id])),
                });
            }
            let ids = eligible(conn, selection.force, org.as_ref().map(|o| o.id), None)?;
            if ids.is_empty() {
                // An empty run would record nothing useful, and an empty request would be
                // answered by whatever else runs: say what is missing instead.
                return Ok(Err(SelectionError::NothingToSync {
                    auto_sync_off: org.as_ref().is_some_and(|o| !o.auto_sync_enabled)
                        && !selection.force,
                    org: org.map(|o| o.name),
                }));
            }
            Ok(Ok(RunRequest::new(
                kind,
                source,
                selection.force,
                ids.into_iter().map(|(id, _)| id),
            )))
        });
        resolved.await.map_err(SelectionError::Store)?
    }

    /// What the engine needs of the request's vendors, read when the run starts: those
    /// still eligible by the same rule as [`Store::resolve_request`] (it may have changed
    /// since the request was made), and those that no longer are (as they are now, or
    /// `None` when removed).
    pub async fn sync_targets(
        &self,
        request: &RunRequest,
    ) -> Result<(Vec<SyncTarget>, Vec<(VendorId, Option<Vendor>)>)> {
        let (wanted, force) = (request.vendors().to_vec(), request.force);
        let keyring = self.keyring();
        self.read(move |conn| {
            let still: Vec<(VendorId, u32)> = eligible(conn, force, None, Some(&wanted))?;
            let gone = wanted
                .iter()
                .copied()
                .filter(|id| !still.iter().any(|(s, _)| s == id))
                .map(|id| match vendors::get(conn, id) {
                    Ok(vendor) => Ok((id, Some(vendor))),
                    Err(StoreError::NotFound { .. }) => Ok((id, None)),
                    Err(other) => Err(other),
                })
                .collect::<Result<_>>()?;
            let targets = still
                .into_iter()
                .map(|(id, interval_minutes)| {
                    let (credentials, unreadable_secrets) =
                        target_credentials(conn, keyring.as_ref(), id)?;
                    Ok(SyncTarget {
                        interval_minutes,
                        key_probe: false,
                        unreadable_secrets,
                        vendor: vendors::get(conn, id)?,
                        credentials,
                        credentials_entered_at: conn
                            .query_row(
                                "SELECT updated_at FROM vendor_credentials WHERE vendor_id = ?1",
                                [id],
                                |r| r.get(0),
                            )
                            .optional()?,
                    })
                })
                .collect::<Result<_>>()?;
            Ok((targets, gone))
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
                VendorOutcome::SucceededInPart => {
                    tx.execute(
                        &format!(
                            "UPDATE vendors SET {error_column} = NULL, {failures_column} = 0,
                                needs_user_action = 0, change_seq = ?1,
                                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?2"
                        ),
                        params![change, vendor_id],
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
                VendorOutcome::NotAttempted => {
                    tx.execute(
                        &format!(
                            "UPDATE vendors SET {failures_column} = {failures_column} + 1,
                                change_seq = ?1,
                                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?2"
                        ),
                        params![change, vendor_id],
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The cached token of a vendor (its values from the keyring when the row says so; a
    /// keyring entry gone is no token).
    pub async fn load_token(&self, vendor_id: VendorId) -> Result<Option<Token>> {
        let keyring = self.keyring();
        self.read(move |conn| {
            let row = conn
                .query_row(
                    "SELECT access_token, refresh_token, expires_at, metadata, in_keyring
                     FROM vendor_tokens WHERE vendor_id = ?1",
                    [vendor_id],
                    |row| {
                        let metadata: String = row.get(3)?;
                        Ok((
                            Token {
                                access: Secret::new(row.get::<_, String>(0)?),
                                refresh: row.get::<_, Option<String>>(1)?.map(Secret::new),
                                expires_at: row.get(2)?,
                                metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                            },
                            row.get::<_, bool>(4)?,
                        ))
                    },
                )
                .optional()?;
            let Some((mut token, in_keyring)) = row else { return Ok(None) };
            if in_keyring {
                let Some((access, refresh)) =
                    super::secrets::load_token(conn, keyring.as_ref(), vendor_id)?
                else {
                    return Ok(None);
                };
                token.access = access;
                token.refresh = refresh;
            }
            Ok(Some(token))
        })
        .await
    }

    /// Caches a vendor's token (its values in the keyring when the install keeps secrets
    /// there).
    pub async fn save_token(&self, vendor_id: VendorId, token: Token) -> Result<()> {
        let keyring = self.keyring();
        self.write(move |conn| {
            // One write transaction from reading where secrets go to the row: a `secrets
            // move` of another process (the CLI while the agent logs in) waits for it, so
            // the token never lands in the store the move just left.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (access, refresh, in_keyring) =
                super::secrets::store_token(&tx, keyring.as_ref(), vendor_id, &token)?;
            tx.execute(
                "INSERT INTO vendor_tokens (vendor_id, access_token, refresh_token, expires_at, metadata,
                        in_keyring)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (vendor_id) DO UPDATE SET access_token = excluded.access_token,
                    refresh_token = excluded.refresh_token, expires_at = excluded.expires_at,
                    metadata = excluded.metadata, in_keyring = excluded.in_keyring,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![
                    vendor_id,
                    access,
                    refresh,
                    token.expires_at,
                    token.metadata.to_string(),
                    in_keyring
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Forgets a vendor's token (and its keyring entry, once the row is gone).
    pub async fn clear_token(&self, vendor_id: VendorId) -> Result<()> {
        let keyring = self.keyring();
        self.write(move |conn| {
            // As in `save_token`: the row read, the delete and the entry's removal are not
            // split by another process's move.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let in_keyring = tx
                .query_row(
                    "SELECT in_keyring FROM vendor_tokens WHERE vendor_id = ?1",
                    [vendor_id],
                    |r| r.get::<_, bool>(0),
                )
                .optional()?
                .unwrap_or(false);
            tx.execute("DELETE FROM vendor_tokens WHERE vendor_id = ?1", [vendor_id])?;
            let name = super::secrets::token_account(&tx, vendor_id)?;
            tx.commit()?;
            if in_keyring {
                // After the commit: an entry is deleted only once nothing points at it.
                super::secrets::delete_entries(keyring.as_ref(), &[name]);
            }
            Ok(())
        })
        .await
    }

    /// What the store holds of the vendor's plants that lets an adapter skip calls: in one
    /// read, each plant's vendor update time where its energy readings are stored, each
    /// plant's time zone where it has one, and which plants have coordinates.
    pub async fn stored_plant_state(&self, vendor_id: VendorId) -> Result<StoredPlantState> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor_plant_id, vendor_updated_at,
                        daily_energy_kwh IS NOT NULL AND total_energy_kwh IS NOT NULL, timezone,
                        latitude IS NOT NULL AND longitude IS NOT NULL
                 FROM plants WHERE vendor_id = ?1",
            )?;
            let mut state = StoredPlantState::default();
            let mut rows = stmt.query([vendor_id])?;
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                if let (Some(updated), true) = (row.get::<_, Option<Timestamp>>(1)?, row.get(2)?) {
                    state.updated_with_energy.insert(id.clone(), updated);
                }
                if row.get::<_, bool>(4)? {
                    state.positioned.insert(id.clone());
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

    /// The stored statuses of the vendor's alerts among `keys` (keys not stored are left
    /// out): what an occurrence keeps when a listing's word on it cannot be believed.
    pub async fn stored_alert_statuses(
        &self,
        vendor_id: VendorId,
        keys: Vec<String>,
    ) -> Result<std::collections::HashMap<String, crate::domain::AlertStatus>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status FROM alerts WHERE vendor_id = ?1 AND vendor_alert_key = ?2",
            )?;
            let mut found = std::collections::HashMap::new();
            for key in keys {
                let status: Option<crate::domain::AlertStatus> =
                    stmt.query_row(params![vendor_id, key], |r| r.get(0)).optional()?;
                if let Some(status) = status {
                    found.insert(key, status);
                }
            }
            Ok(found)
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
        let resolve = |vendor: Option<&str>, org: Option<&str>, force: bool| {
            let selection =
                Selection { vendor: vendor.map(Into::into), org: org.map(Into::into), force };
            store.resolve_request(RunKind::Plants, RunSource::User, selection)
        };
        let ids = |request: RunRequest| request.vendors().iter().map(|v| v.0).collect::<Vec<_>>();
        let message = |e: SelectionError| (e.is_usage(), e.to_string());
        // a: on, b: auto-sync off, c: no organization, d: disabled.
        assert_eq!(ids(resolve(None, None, false).await.unwrap()), [1]);
        assert_eq!(ids(resolve(None, None, true).await.unwrap()), [1, 2]);
        assert_eq!(ids(resolve(None, Some("Off"), true).await.unwrap()), [2]);
        let (usage, text) = message(resolve(None, Some("Off"), false).await.unwrap_err());
        assert!(usage && text.contains("'Off' has auto-sync off; pass --force"), "{text}");
        assert_eq!(ids(resolve(Some("b"), None, true).await.unwrap()), [2]);
        let (usage, text) = message(resolve(Some("nope"), None, true).await.unwrap_err());
        assert!(usage && text.contains("vendor 'nope' not found"), "{text}");
        let (usage, text) = message(resolve(None, Some("Nowhere"), true).await.unwrap_err());
        assert!(usage && text.contains("organization 'Nowhere' not found"), "{text}");
        let (_, text) = message(resolve(Some("b"), None, false).await.unwrap_err());
        assert!(text.contains("'Off', whose auto-sync is off; pass --force"), "{text}");
        let (_, text) = message(resolve(Some("c"), None, true).await.unwrap_err());
        assert!(text.contains("has no organization"), "{text}");
        let (_, text) = message(resolve(Some("d"), None, true).await.unwrap_err());
        assert!(text.contains("is disabled; enable it with `plantsync vendor enable 4`"), "{text}");
        let (_, text) = message(resolve(Some("a"), Some("Off"), true).await.unwrap_err());
        assert!(text.contains("not in that organization (it is in 'On')"), "{text}");

        // The engine reads the request's vendors again: one disabled since is reported.
        let request = resolve(None, None, true).await.unwrap();
        store
            .update_vendor(
                "b",
                crate::store::VendorPatch { is_active: Some(false), ..Default::default() },
            )
            .await
            .unwrap();
        let (targets, gone) = store.sync_targets(&request).await.unwrap();
        let names: Vec<_> = targets.into_iter().map(|t| t.vendor.name).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(gone.len(), 1);
        assert_eq!(
            (gone[0].0, gone[0].1.as_ref().map(|v| v.name.as_str())),
            (VendorId(2), Some("b"))
        );
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
