//! Organizations: the unit of sync settings.

use super::{Result, Store, StoreError, codec::count, conflict_on_unique, seq};
use crate::domain::{NewOrganization, OrgId, Organization};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

const SELECT: &str = "SELECT o.id, o.name, o.auto_sync_enabled, o.sync_interval_minutes,
        (SELECT count(*) FROM vendors v WHERE v.org_id = o.id),
        (SELECT count(*) FROM plants p WHERE p.org_id = o.id),
        o.change_seq, o.created_at, o.updated_at
    FROM organizations o";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: row.get(0)?,
        name: row.get(1)?,
        auto_sync_enabled: row.get(2)?,
        sync_interval_minutes: row.get(3)?,
        vendor_count: count(row, 4)?,
        plant_count: count(row, 5)?,
        change_seq: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// A partial change of an organization; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgPatch {
    /// New name.
    pub name: Option<String>,
    /// New auto-sync switch.
    pub auto_sync_enabled: Option<bool>,
    /// New interval, minutes (1..=1440).
    pub sync_interval_minutes: Option<u32>,
}

/// The one rule for the name of an organization or a vendor: trimmed, not blank (an
/// empty or whitespace-only name cannot be told apart in a listing, nor typed as a
/// reference), and free of control characters (a newline would split a listing's row, an
/// escape sequence would reach the terminal of whoever lists it). `what` is the thing with
/// its article ("an organization").
pub(super) fn checked_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid(format!("{what}'s name cannot be blank")));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(StoreError::Invalid(format!(
            "{what}'s name contains a control character ('{}'); use a name of one line of \
             printable text",
            c.escape_default()
        )));
    }
    Ok(name.to_owned())
}

pub(super) fn get(conn: &Connection, id: OrgId) -> Result<Organization> {
    conn.query_row(&format!("{SELECT} WHERE o.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "organization", id: id.to_string() })
}

/// Finds an organization by id, or by exact name when `reference` is not a number.
pub(super) fn resolve(conn: &Connection, reference: &str) -> Result<Organization> {
    if let Ok(id) = reference.parse::<OrgId>() {
        return get(conn, id);
    }
    conn.query_row(&format!("{SELECT} WHERE o.name = ?1"), [reference.trim()], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "organization", id: format!("'{reference}'") })
}

impl Store {
    /// Creates an organization.
    pub async fn add_org(&self, new: NewOrganization) -> Result<Organization> {
        let name = checked_name("an organization", &new.name)?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = seq::next(&tx)?;
            tx.execute(
                "INSERT INTO organizations (name, auto_sync_enabled, sync_interval_minutes, change_seq)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, new.auto_sync_enabled, new.sync_interval_minutes, change],
            )
            .map_err(|e| {
                conflict_on_unique(e, || format!("an organization named '{name}' already exists"))
            })?;
            let org = get(&tx, OrgId(tx.last_insert_rowid()))?;
            tx.commit()?;
            Ok(org)
        })
        .await
    }

    /// All organizations, by name.
    pub async fn list_orgs(&self) -> Result<Vec<Organization>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY o.name, o.id"))?;
            let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One organization by id or name.
    pub async fn find_org(&self, reference: &str) -> Result<Organization> {
        let reference = reference.to_owned();
        self.read(move |conn| resolve(conn, &reference)).await
    }

    /// Applies `patch`; bumps `updated_at` and `change_seq` only if something changed.
    pub async fn update_org(&self, reference: &str, patch: OrgPatch) -> Result<Organization> {
        let reference = reference.to_owned();
        let new_name =
            patch.name.as_deref().map(|n| checked_name("an organization", n)).transpose()?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let org = resolve(&tx, &reference)?;
            let name = new_name.unwrap_or_else(|| org.name.clone());
            let auto = patch.auto_sync_enabled.unwrap_or(org.auto_sync_enabled);
            let interval = patch.sync_interval_minutes.unwrap_or(org.sync_interval_minutes);
            if name == org.name && auto == org.auto_sync_enabled && interval == org.sync_interval_minutes {
                return Ok(org);
            }
            let change = seq::next(&tx)?;
            tx.execute(
                "UPDATE organizations SET name = ?1, auto_sync_enabled = ?2, sync_interval_minutes = ?3,
                        change_seq = ?4, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?5",
                params![name, auto, interval, change, org.id],
            )
            .map_err(|e| conflict_on_unique(e, || format!("an organization named '{name}' already exists")))?;
            let updated = get(&tx, org.id)?;
            tx.commit()?;
            Ok(updated)
        })
        .await
    }

    /// Deletes an organization. With vendors still assigned it refuses unless `detach` is
    /// set, in which case those vendors (and their plants) lose their organization and with
    /// it their automatic sync.
    pub async fn remove_org(&self, reference: &str, detach: bool) -> Result<Organization> {
        let reference = reference.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let org = resolve(&tx, &reference)?;
            if org.vendor_count > 0 && !detach {
                return Err(StoreError::Conflict(format!(
                    "organization '{}' (id {}) still has {} vendor(s); move them with \
                     `plantsync vendor set <id> --org <other>` or pass --force to detach them",
                    org.name, org.id, org.vendor_count
                )));
            }
            // Detach explicitly (rather than through ON DELETE SET NULL) so each detached
            // row takes a change number and upstream learns about it.
            let first = seq::current(&tx)? + 1;
            let vendors = tx.execute(
                "UPDATE vendors SET org_id = NULL, change_seq = ?1,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE org_id = ?2",
                params![first, org.id],
            )?;
            let plants = tx.execute(
                "UPDATE plants SET org_id = NULL, change_seq = ?1,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE org_id = ?2",
                params![first, org.id],
            )?;
            if vendors + plants > 0 {
                seq::set(&tx, first)?;
            }
            super::upstream_queue::tombstone(
                &tx,
                super::UpstreamTable::Organizations,
                &[&org.id.to_string()],
            )?;
            tx.execute("DELETE FROM organizations WHERE id = ?1", [org.id])?;
            tx.commit()?;
            Ok(org)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    fn new_org(name: &str) -> NewOrganization {
        NewOrganization { name: name.into(), auto_sync_enabled: true, sync_interval_minutes: 15 }
    }

    #[tokio::test]
    async fn add_list_find_and_duplicate_name() {
        let (_dir, store) = temp_store();
        let a = store.add_org(new_org("Alpha")).await.unwrap();
        store.add_org(new_org("Beta")).await.unwrap();
        assert_eq!(store.list_orgs().await.unwrap().len(), 2);
        assert_eq!(store.find_org("Alpha").await.unwrap().id, a.id);
        assert_eq!(store.find_org(&a.id.to_string()).await.unwrap().name, "Alpha");
        let err = store.add_org(new_org("Alpha")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(err.to_string().contains("'Alpha' already exists"));
    }

    #[tokio::test]
    async fn blank_names_are_refused_as_blank_on_add_and_rename() {
        let (_dir, store) = temp_store();
        for blank in ["", "   ", "\t\n"] {
            let err = store.add_org(new_org(blank)).await.unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{blank:?}: {err}");
            assert_eq!(err.to_string(), "an organization's name cannot be blank");
        }
        store.add_org(new_org("Alpha")).await.unwrap();
        let rename = OrgPatch { name: Some("  ".into()), ..Default::default() };
        let err = store.update_org("Alpha", rename).await.unwrap_err();
        assert_eq!(err.to_string(), "an organization's name cannot be blank");
        assert_eq!(store.find_org("Alpha").await.unwrap().name, "Alpha");
        assert_eq!(store.list_orgs().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_op_update_keeps_updated_at_and_change_seq() {
        let (_dir, store) = temp_store();
        let org = store.add_org(new_org("Alpha")).await.unwrap();
        let same = store
            .update_org("Alpha", OrgPatch { sync_interval_minutes: Some(15), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(same, org);
        let changed = store
            .update_org("Alpha", OrgPatch { sync_interval_minutes: Some(30), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(changed.sync_interval_minutes, 30);
        assert!(changed.updated_at >= org.updated_at);
        assert!(changed.change_seq > org.change_seq);
    }

    #[tokio::test]
    async fn interval_outside_range_is_refused_by_the_schema() {
        let (_dir, store) = temp_store();
        let mut org = new_org("Alpha");
        org.sync_interval_minutes = 1441;
        assert!(store.add_org(org).await.is_err());
    }

    #[tokio::test]
    async fn missing_org_is_not_found() {
        let (_dir, store) = temp_store();
        let err = store.find_org("42").await.unwrap_err();
        assert_eq!(err.to_string(), "organization 42 not found");
    }
}
