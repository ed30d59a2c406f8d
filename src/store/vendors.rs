//! Vendors (monitoring-portal accounts) and their credentials.
//!
//! Credentials sit in `vendor_credentials` and only `read_credentials` reads them (for
//! the sync's targets and [`Store::vendor_credentials`]); every listing selects from
//! `vendors` alone, so a secret cannot leak into one by a careless `SELECT *`. The secret
//! values are in that table or in the OS keyring, as the install keeps them
//! (`super::secrets`); `write_credentials` and `read_credentials` are the only places
//! that decide which.

use super::{Result, Store, StoreError, codec::count, orgs, quotas, secrets, seq};
use crate::domain::{Credentials, NewVendor, OrgId, Secret, Vendor, VendorId, VendorKind};
use crate::secrets::Backend;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

const SELECT: &str = "SELECT v.id, v.name, v.kind, v.org_id, o.name, v.base_url, v.is_active,
        v.last_synced_at, v.last_alerts_synced_at, v.last_error, v.consecutive_failures,
        v.needs_user_action, (SELECT count(*) FROM plants p WHERE p.vendor_id = v.id),
        v.change_seq, v.created_at, v.updated_at, v.last_alerts_error, v.alerts_consecutive_failures
    FROM vendors v LEFT JOIN organizations o ON o.id = v.org_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Vendor> {
    Ok(Vendor {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        org_id: row.get(3)?,
        org_name: row.get(4)?,
        base_url: row.get(5)?,
        is_active: row.get(6)?,
        last_synced_at: row.get(7)?,
        last_alerts_synced_at: row.get(8)?,
        last_error: row.get(9)?,
        consecutive_failures: row.get(10)?,
        last_alerts_error: row.get(16)?,
        alerts_consecutive_failures: row.get(17)?,
        needs_user_action: row.get(11)?,
        plant_count: count(row, 12)?,
        change_seq: row.get(13)?,
        created_at: row.get(14)?,
        updated_at: row.get(15)?,
    })
}

/// A partial change of a vendor; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct VendorPatch {
    /// New name.
    pub name: Option<String>,
    /// New organization (`Some(None)` detaches it).
    pub org: Option<Option<String>>,
    /// New base URL (`Some(None)` returns to the kind's default).
    pub base_url: Option<Option<String>>,
    /// Enable or disable.
    pub is_active: Option<bool>,
    /// Credential fields to replace; the others are kept.
    pub credentials: Option<Credentials>,
}

/// Filters for [`Store::list_vendors`].
#[derive(Debug, Clone, Default)]
pub struct VendorFilter {
    /// Only this organization (id or name).
    pub org: Option<String>,
    /// Only this kind.
    pub kind: Option<VendorKind>,
    /// Only active (`true`) or inactive (`false`) vendors.
    pub active: Option<bool>,
}

pub(super) fn get(conn: &Connection, id: VendorId) -> Result<Vendor> {
    conn.query_row(&format!("{SELECT} WHERE v.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "vendor", id: id.to_string() })
}

/// Finds a vendor by id, or by exact name when `reference` is not a number and the name is
/// unique. Names are unique within an organization only, so an ambiguous name is an error
/// that lists the vendors and says to use the id: [`StoreError::Invalid`], since the
/// reference is the caller's to fix (the CLI exits 2 for it, as for any usage error).
pub(super) fn resolve(conn: &Connection, reference: &str) -> Result<Vendor> {
    resolve_in(conn, reference, None)
}

/// As [`resolve`], for a command that also takes `--org`: among vendors sharing the name,
/// the one in `org` is taken. With no vendor of that name in `org`, a single vendor of that
/// name elsewhere is still returned (the caller says it is in another organization).
pub(super) fn resolve_in(conn: &Connection, reference: &str, org: Option<OrgId>) -> Result<Vendor> {
    if let Ok(id) = reference.parse::<VendorId>() {
        return get(conn, id);
    }
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE v.name = ?1 ORDER BY v.id"))?;
    let mut found: Vec<Vendor> =
        stmt.query_map([reference.trim()], from_row)?.collect::<Result<_, _>>()?;
    if org.is_some() && found.iter().filter(|v| v.org_id == org).count() == 1 {
        found.retain(|v| v.org_id == org);
    }
    match found.len() {
        0 => Err(StoreError::NotFound { what: "vendor", id: format!("'{reference}'") }),
        1 => Ok(found.remove(0)),
        n => {
            let which: Vec<String> = found
                .iter()
                .map(|v| match &v.org_name {
                    Some(org) => format!("id {} in organization '{org}'", v.id),
                    None => format!("id {} without an organization", v.id),
                })
                .collect();
            let hint = if org.is_none() && found.iter().any(|v| v.org_id.is_some()) {
                " or, where the command takes one, --org"
            } else {
                ""
            };
            Err(StoreError::Invalid(format!(
                "{n} vendors are named '{}' ({}); name the vendor by its id{hint}",
                reference.trim(),
                which.join(", ")
            )))
        }
    }
}

/// Refuses a name another vendor of `org` already has (vendor names are unique within an
/// organization), before the unique index would, so the message names both.
fn check_unique_in_org(
    conn: &Connection,
    name: &str,
    org: Option<OrgId>,
    except: Option<VendorId>,
) -> Result<()> {
    let Some(org) = org else { return Ok(()) };
    let taken: Option<VendorId> = conn
        .query_row(
            "SELECT id FROM vendors WHERE org_id = ?1 AND name = ?2 AND id IS NOT ?3",
            params![org, name, except],
            |r| r.get(0),
        )
        .optional()?;
    match taken {
        Some(other) => Err(StoreError::Conflict(format!(
            "a vendor named '{name}' already exists in organization '{}' (vendor id {other}); \
             choose another name",
            orgs::get(conn, org)?.name
        ))),
        None => Ok(()),
    }
}

/// Writes a vendor's credentials: the secret values where the install keeps them (the
/// keyring entries first, so a keyring failure writes nothing), the fingerprint of the API
/// key for quota lookups, the rest in the row.
/// Returns the keyring entries the row no longer uses, for the caller to delete after its
/// commit.
fn write_credentials(
    conn: &Connection,
    keyring: &dyn Backend,
    id: VendorId,
    creds: &Credentials,
) -> Result<Vec<String>> {
    let stored = secrets::store_credentials(conn, keyring, id, creds)?;
    let fingerprint = creds.api_key.as_ref().map(|k| quotas::key_hash(k.expose()));
    conn.execute(
        "INSERT INTO vendor_credentials (vendor_id, username, password, app_id, app_secret, api_key,
                company_id, keyring_fields, api_key_fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (vendor_id) DO UPDATE SET username = excluded.username,
            password = excluded.password, app_id = excluded.app_id,
            app_secret = excluded.app_secret, api_key = excluded.api_key,
            company_id = excluded.company_id, keyring_fields = excluded.keyring_fields,
            api_key_fingerprint = excluded.api_key_fingerprint,
            updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        params![
            id,
            creds.username,
            stored.password,
            creds.app_id,
            stored.app_secret,
            stored.api_key,
            creds.company_id,
            stored.keyring_fields,
            fingerprint,
        ],
    )?;
    Ok(stored.stale)
}

/// The credentials row without the keyring: the secret columns as stored and the fields
/// the keyring holds (`None`: the columns are the values).
fn read_row(conn: &Connection, id: VendorId) -> Result<(Credentials, Option<String>)> {
    let row = conn
        .query_row(
            "SELECT username, password, app_id, app_secret, api_key, company_id, keyring_fields
             FROM vendor_credentials WHERE vendor_id = ?1",
            [id],
            |row| {
                let secret = |i| row.get::<_, Option<String>>(i).map(|v| v.map(Secret::new));
                Ok((
                    Credentials {
                        username: row.get(0)?,
                        password: secret(1)?,
                        app_id: row.get(2)?,
                        app_secret: secret(3)?,
                        api_key: secret(4)?,
                        company_id: row.get(5)?,
                    },
                    row.get(6)?,
                ))
            },
        )
        .optional()?;
    Ok(row.unwrap_or_default())
}

/// A vendor's credentials with their secret values, from the file or the keyring (as the
/// row says): the one reader every use of a secret goes through.
pub(super) fn read_credentials(
    conn: &Connection,
    keyring: &dyn Backend,
    id: VendorId,
) -> Result<Credentials> {
    let (creds, unread) = read_credentials_except(conn, keyring, id, &[])?;
    match unread.into_iter().next() {
        Some(problem) => Err(problem.into()),
        None => Ok(creds),
    }
}

/// As [`read_credentials`], without the keyring fields in `skip` (about to be replaced),
/// and with the entries that are missing or refused returned beside what could be read
/// (an unreachable keyring is the error): for the callers that go on without them.
pub(super) fn read_credentials_except(
    conn: &Connection,
    keyring: &dyn Backend,
    id: VendorId,
    skip: &[crate::secrets::SecretField],
) -> Result<(Credentials, Vec<crate::secrets::SecretsError>)> {
    let (mut creds, keyring_fields) = read_row(conn, id)?;
    let unread = match keyring_fields {
        Some(fields) => secrets::fill_from_keyring(conn, keyring, id, &fields, &mut creds, skip)?,
        None => Vec::new(),
    };
    Ok((creds, unread))
}

/// What marks a secret field as set where the keyring holds it, in
/// [`Store::vendor_credential_fields`]: never a value.
const SET_ELSEWHERE: &str = "(set)";

impl Store {
    /// Creates a vendor with its credentials, in one transaction.
    pub async fn add_vendor(&self, new: NewVendor, credentials: Credentials) -> Result<Vendor> {
        let name = orgs::checked_name("a vendor", &new.name)?;
        let keyring = self.keyring();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(org) = new.org_id {
                orgs::get(&tx, org)?;
            }
            check_unique_in_org(&tx, &name, new.org_id, None)?;
            let change = seq::next(&tx)?;
            tx.execute(
                "INSERT INTO vendors (name, kind, org_id, base_url, is_active, change_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, new.kind, new.org_id, new.base_url, new.is_active, change],
            )?;
            let id = VendorId(tx.last_insert_rowid());
            // A new vendor's row pointed at no entry before: nothing is stale.
            write_credentials(&tx, keyring.as_ref(), id, &credentials)?;
            let vendor = get(&tx, id)?;
            tx.commit()?;
            Ok(vendor)
        })
        .await
    }

    /// Whether a vendor (a new one, or `except` renamed or moved) may have this name in this
    /// organization: not blank, not another vendor's there. Asked before secrets are prompted
    /// for, so nobody types them for nothing; the writes check again in their transaction.
    pub async fn check_vendor_name(
        &self,
        name: &str,
        org: Option<OrgId>,
        except: Option<VendorId>,
    ) -> Result<()> {
        let name = orgs::checked_name("a vendor", name)?;
        self.read(move |conn| check_unique_in_org(conn, &name, org, except)).await
    }

    /// Vendors matching `filter`, by name.
    pub async fn list_vendors(&self, filter: VendorFilter) -> Result<Vec<Vendor>> {
        self.read(move |conn| {
            let org = filter.org.as_deref().map(|r| orgs::resolve(conn, r)).transpose()?;
            let mut stmt = conn.prepare(&format!(
                "{SELECT} WHERE (?1 IS NULL OR v.org_id = ?1) AND (?2 IS NULL OR v.kind = ?2)
                   AND (?3 IS NULL OR v.is_active = ?3)
                 ORDER BY v.name, v.id"
            ))?;
            let rows = stmt
                .query_map(params![org.map(|o| o.id), filter.kind, filter.active], from_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One vendor by id or unique name.
    pub async fn find_vendor(&self, reference: &str) -> Result<Vendor> {
        let reference = reference.to_owned();
        self.read(move |conn| resolve(conn, &reference)).await
    }

    /// Which credential fields of a vendor are set: the non-secret values, and each set
    /// secret as a placeholder, never its value. Reads no keyring, so it works when the
    /// keyring is locked.
    pub async fn vendor_credential_fields(&self, id: VendorId) -> Result<Credentials> {
        self.read(move |conn| {
            let (mut creds, keyring_fields) = read_row(conn, id)?;
            let mark = |s: &mut Option<Secret>| {
                if s.as_ref().is_some_and(|v| !v.is_empty()) {
                    *s = Some(Secret::new(SET_ELSEWHERE));
                }
            };
            mark(&mut creds.password);
            mark(&mut creds.app_secret);
            mark(&mut creds.api_key);
            for field in keyring_fields.as_deref().unwrap_or("").split(',') {
                match crate::secrets::SecretField::parse(field) {
                    Some(crate::secrets::SecretField::Password) => {
                        creds.password = Some(Secret::new(SET_ELSEWHERE));
                    }
                    Some(crate::secrets::SecretField::AppSecret) => {
                        creds.app_secret = Some(Secret::new(SET_ELSEWHERE));
                    }
                    Some(crate::secrets::SecretField::ApiKey) => {
                        creds.api_key = Some(Secret::new(SET_ELSEWHERE));
                    }
                    Some(crate::secrets::SecretField::Token) | None => {}
                }
            }
            Ok(creds)
        })
        .await
    }

    /// A vendor's credentials with their secret values (from the file or the keyring).
    pub async fn vendor_credentials(&self, id: VendorId) -> Result<Credentials> {
        let keyring = self.keyring();
        self.read(move |conn| read_credentials(conn, keyring.as_ref(), id)).await
    }

    /// Applies `patch` in one transaction. Moving a vendor to another organization moves
    /// its plants too. New credentials clear the "needs the user's action" flag and the
    /// cached token, since both belonged to the old ones.
    pub async fn update_vendor(&self, reference: &str, patch: VendorPatch) -> Result<Vendor> {
        let reference = reference.to_owned();
        let new_name =
            patch.name.as_deref().map(|n| orgs::checked_name("a vendor", n)).transpose()?;
        let keyring = self.keyring();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let vendor = resolve(&tx, &reference)?;
            let name = new_name.unwrap_or_else(|| vendor.name.clone());
            let org_id: Option<OrgId> = match &patch.org {
                Some(Some(org)) => Some(orgs::resolve(&tx, org)?.id),
                Some(None) => None,
                None => vendor.org_id,
            };
            if name != vendor.name || org_id != vendor.org_id {
                check_unique_in_org(&tx, &name, org_id, Some(vendor.id))?;
            }
            let base_url = patch.base_url.clone().unwrap_or_else(|| vendor.base_url.clone());
            let is_active = patch.is_active.unwrap_or(vendor.is_active);

            // Entering credentials (even the same ones, after the account was unlocked at
            // the vendor) is the user's action: it clears the flag and the cached token.
            let credentials_entered = patch.credentials.is_some();
            let mut stale = Vec::new();
            if let Some(newer) = patch.credentials {
                // Only the fields the patch keeps are read: a missing keyring entry is
                // repaired by entering that very field (the others must still be there).
                let replaced = secrets::replaced_fields(&newer);
                let (mut creds, unread) =
                    read_credentials_except(&tx, keyring.as_ref(), vendor.id, &replaced)?;
                if let Some(problem) = unread.into_iter().next() {
                    return Err(problem.into());
                }
                creds.merge(newer);
                // Written even when unchanged: `updated_at` records the new entry.
                stale = write_credentials(&tx, keyring.as_ref(), vendor.id, &creds)?;
                let token_in_keyring = tx
                    .query_row(
                        "SELECT in_keyring FROM vendor_tokens WHERE vendor_id = ?1",
                        [vendor.id],
                        |r| r.get::<_, bool>(0),
                    )
                    .optional()?
                    .unwrap_or(false);
                tx.execute("DELETE FROM vendor_tokens WHERE vendor_id = ?1", [vendor.id])?;
                if token_in_keyring {
                    // The old session belonged to the old credentials; a failure to delete
                    // it is only logged (the row that pointed at it is gone).
                    secrets::delete_entries(
                        keyring.as_ref(),
                        &[secrets::token_account(&tx, vendor.id)?],
                    );
                }
            }
            let settings_changed = name != vendor.name
                || org_id != vendor.org_id
                || base_url != vendor.base_url
                || is_active != vendor.is_active;
            let needs_user_action = vendor.needs_user_action && !credentials_entered;
            if !settings_changed && needs_user_action == vendor.needs_user_action {
                tx.commit()?;
                if credentials_entered {
                    secrets::delete_entries(keyring.as_ref(), &stale);
                    secrets::scrub(conn);
                }
                return Ok(vendor);
            }
            let change = seq::next(&tx)?;
            tx.execute(
                "UPDATE vendors SET name = ?1, org_id = ?2, base_url = ?3, is_active = ?4,
                        needs_user_action = ?5, change_seq = ?6,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?7",
                params![name, org_id, base_url, is_active, needs_user_action, change, vendor.id],
            )?;
            if org_id != vendor.org_id {
                tx.execute(
                    "UPDATE plants SET org_id = ?1, change_seq = ?2,
                            updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                     WHERE vendor_id = ?3",
                    params![org_id, change, vendor.id],
                )?;
            }
            let updated = get(&tx, vendor.id)?;
            tx.commit()?;
            if credentials_entered {
                // After the commit: an entry is deleted only once nothing points at it.
                secrets::delete_entries(keyring.as_ref(), &stale);
                secrets::scrub(conn);
            }
            Ok(updated)
        })
        .await
    }

    /// Deletes a vendor with its credentials, token, plants and alerts. Refuses when it
    /// still has plants unless `with_data` is set.
    pub async fn remove_vendor(&self, reference: &str, with_data: bool) -> Result<Vendor> {
        let reference = reference.to_owned();
        let keyring = self.keyring();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let vendor = resolve(&tx, &reference)?;
            if vendor.plant_count > 0 && !with_data {
                return Err(StoreError::Conflict(format!(
                    "vendor '{}' (id {}) has {} plant(s); pass --force to delete them with it, \
                     or `plantsync vendor disable {}` to keep them",
                    vendor.name, vendor.id, vendor.plant_count, vendor.id
                )));
            }
            let entries = if secrets::vendor_in_keyring(&tx, vendor.id)? {
                secrets::vendor_accounts(&tx, vendor.id)?
            } else {
                Vec::new()
            };
            // The central database marks the vendor, its plants and its alerts deleted.
            super::upstream_queue::tombstone(
                &tx,
                super::UpstreamTable::Vendors,
                &[&vendor.id.to_string()],
            )?;
            // The power samples have no foreign key (a cascade would scan them once per
            // plant): one pass for all of the vendor's plants.
            tx.execute(
                "DELETE FROM power_samples
                 WHERE plant_id IN (SELECT id FROM plants WHERE vendor_id = ?1)",
                [vendor.id],
            )?;
            tx.execute("DELETE FROM vendors WHERE id = ?1", [vendor.id])?;
            tx.commit()?;
            secrets::scrub(conn);
            // After the commit: an entry is deleted only once nothing points at it.
            secrets::delete_entries(keyring.as_ref(), &entries);
            Ok(vendor)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CredentialField, NewOrganization};
    use crate::store::test_support::temp_store;

    async fn org(store: &Store, name: &str) -> OrgId {
        store
            .add_org(NewOrganization {
                name: name.into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 15,
            })
            .await
            .unwrap()
            .id
    }

    fn solarman(org: Option<OrgId>) -> NewVendor {
        NewVendor {
            name: "Roof".into(),
            kind: VendorKind::Solarman,
            org_id: org,
            base_url: None,
            is_active: true,
        }
    }

    #[tokio::test]
    async fn credentials_round_trip_apart_from_listings() {
        let (_dir, store) = temp_store();
        let org = org(&store, "Alpha").await;
        let mut creds = Credentials::default();
        creds.set(CredentialField::Username, "ops@example.com".into());
        creds.set(CredentialField::Password, "s3cret-pw".into());
        let vendor = store.add_vendor(solarman(Some(org)), creds).await.unwrap();
        let listed = store.list_vendors(VendorFilter::default()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!format!("{listed:?}").contains("s3cret-pw"));
        let full = store.vendor_credentials(vendor.id).await.unwrap();
        assert_eq!(full.password.unwrap().expose(), "s3cret-pw");
        let fields = store.vendor_credential_fields(vendor.id).await.unwrap();
        assert!(fields.has(CredentialField::Password));
        assert!(
            !format!("{:?}", fields.password.map(|p| p.expose().to_owned())).contains("s3cret")
        );
    }

    fn named(name: &str, org: Option<OrgId>) -> NewVendor {
        NewVendor { name: name.into(), ..solarman(org) }
    }

    #[tokio::test]
    async fn names_are_unique_within_an_organization_on_add_rename_and_move() {
        let (_dir, store) = temp_store();
        let (a, b) = (org(&store, "A").await, org(&store, "B").await);
        let first = store.add_vendor(named("Roof", Some(a)), Credentials::default()).await.unwrap();
        let err =
            store.add_vendor(named(" Roof ", Some(a)), Credentials::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let wanted = format!(
            "a vendor named 'Roof' already exists in organization 'A' (vendor id {}); choose \
             another name",
            first.id
        );
        assert_eq!(err.to_string(), wanted);
        assert_eq!(
            store.check_vendor_name("Roof", Some(a), None).await.unwrap_err().to_string(),
            wanted
        );
        // Another organization, or none, may have the name.
        let other = store.add_vendor(named("Roof", Some(b)), Credentials::default()).await.unwrap();
        store.add_vendor(named("Roof", None), Credentials::default()).await.unwrap();
        // Moving B's "Roof" into A, or renaming A's "Shed" to "Roof", is refused the same way.
        let moved = VendorPatch { org: Some(Some("A".into())), ..Default::default() };
        let err = store.update_vendor(&other.id.to_string(), moved).await.unwrap_err();
        assert_eq!(err.to_string(), wanted);
        let shed = store.add_vendor(named("Shed", Some(a)), Credentials::default()).await.unwrap();
        let renamed = VendorPatch { name: Some("Roof".into()), ..Default::default() };
        let err = store.update_vendor(&shed.id.to_string(), renamed).await.unwrap_err();
        assert_eq!(err.to_string(), wanted);
        // Renaming a vendor to its own name is no conflict with itself.
        let same = VendorPatch { name: Some("Roof".into()), ..Default::default() };
        store.update_vendor(&first.id.to_string(), same).await.unwrap();
        store.check_vendor_name("Roof", Some(a), Some(first.id)).await.unwrap();
    }

    #[tokio::test]
    async fn blank_vendor_names_are_refused_as_blank() {
        let (_dir, store) = temp_store();
        let err = store.add_vendor(named(" \t", None), Credentials::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        assert_eq!(err.to_string(), "a vendor's name cannot be blank");
        let vendor = store.add_vendor(named("Roof", None), Credentials::default()).await.unwrap();
        let blank = VendorPatch { name: Some(String::new()), ..Default::default() };
        let err = store.update_vendor(&vendor.id.to_string(), blank).await.unwrap_err();
        assert_eq!(err.to_string(), "a vendor's name cannot be blank");
    }

    #[tokio::test]
    async fn a_shared_name_resolves_by_organization_or_says_to_use_the_id() {
        let (_dir, store) = temp_store();
        let (a, b) = (org(&store, "A").await, org(&store, "B").await);
        let in_a = store.add_vendor(named("Roof", Some(a)), Credentials::default()).await.unwrap();
        let in_b = store.add_vendor(named("Roof", Some(b)), Credentials::default()).await.unwrap();
        let err = store.find_vendor("Roof").await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "the caller's to fix: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "2 vendors are named 'Roof' (id {} in organization 'A', id {} in organization \
                 'B'); name the vendor by its id or, where the command takes one, --org",
                in_a.id, in_b.id
            )
        );
        let found = store.read(move |c| resolve_in(c, "Roof", Some(b))).await.unwrap();
        assert_eq!(found.id, in_b.id);
        // Org-less vendors may share a name too: --org cannot tell them apart.
        let (_dir, store) = temp_store();
        let x = store.add_vendor(named("Roof", None), Credentials::default()).await.unwrap();
        let y = store.add_vendor(named("Roof", None), Credentials::default()).await.unwrap();
        let err = store.find_vendor("Roof").await.unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "2 vendors are named 'Roof' (id {} without an organization, id {} without an \
                 organization); name the vendor by its id",
                x.id, y.id
            )
        );
    }

    #[tokio::test]
    async fn unknown_org_is_a_readable_error() {
        let (_dir, store) = temp_store();
        let err =
            store.add_vendor(solarman(Some(OrgId(9))), Credentials::default()).await.unwrap_err();
        assert_eq!(err.to_string(), "organization 9 not found");
    }

    #[tokio::test]
    async fn foreign_keys_are_enforced() {
        let (_dir, store) = temp_store();
        let result = store
            .write(|conn| {
                conn.execute(
                    "INSERT INTO plants (vendor_id, vendor_plant_id, name) VALUES (999, 'x', 'x')",
                    [],
                )?;
                Ok(())
            })
            .await;
        let err = result.unwrap_err().to_string();
        assert!(err.contains("FOREIGN KEY"), "{err}");
    }

    #[tokio::test]
    async fn new_credentials_clear_needs_user_action_and_token() {
        let (_dir, store) = temp_store();
        let vendor = store.add_vendor(solarman(None), Credentials::default()).await.unwrap();
        store
            .write(move |conn| {
                conn.execute(
                    "UPDATE vendors SET needs_user_action = 1 WHERE id = ?1",
                    [vendor.id],
                )?;
                conn.execute(
                    "INSERT INTO vendor_tokens (vendor_id, access_token) VALUES (?1, 'tok')",
                    [vendor.id],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let mut creds = Credentials::default();
        creds.set(CredentialField::Password, "new".into());
        let updated = store
            .update_vendor("Roof", VendorPatch { credentials: Some(creds), ..Default::default() })
            .await
            .unwrap();
        assert!(!updated.needs_user_action);
        let tokens: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM vendor_tokens", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(tokens, 0);
    }

    #[tokio::test]
    async fn moving_a_vendor_moves_its_plants() {
        let (_dir, store) = temp_store();
        let a = org(&store, "A").await;
        let b = org(&store, "B").await;
        let vendor = store.add_vendor(solarman(Some(a)), Credentials::default()).await.unwrap();
        store
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name) VALUES (?1, ?2, '1', 'P')",
                    params![vendor.id, a],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        store
            .update_vendor(
                "Roof",
                VendorPatch { org: Some(Some("B".into())), ..Default::default() },
            )
            .await
            .unwrap();
        let org_of_plant: OrgId = store
            .read(|c| Ok(c.query_row("SELECT org_id FROM plants", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(org_of_plant, b);
        let err = store.remove_vendor("Roof", false).await.unwrap_err().to_string();
        assert!(err.contains("has 1 plant(s)"), "{err}");
        store.remove_vendor("Roof", true).await.unwrap();
    }
}
