//! Where this install's secret values are, and the only code that reads or writes them.
//!
//! # Design
//!
//! The install's choice ([`SecretsStore`]) is the one row of table `install`, so every
//! process of a data dir agrees and a copied database says where its secrets are. Each
//! credentials row also records where its own values are (`keyring_fields`: NULL for the
//! columns, else the fields the keyring holds), so a reader never depends on the global
//! choice and a row is always readable, whatever state a move was interrupted in.
//!
//! A move ([`Store::move_secrets`]) runs in one write transaction on the writer thread:
//! every secret is written to the target and read back before the source is cleared, and
//! the database's side changes only at commit. A failure before the commit leaves the
//! database as it was (entries already written to the keyring are removed again); keyring
//! entries are deleted only after the commit that stopped pointing at them.

use super::{Result, Store, StoreError};
use crate::domain::{Credentials, Secret, Timestamp, Token, VendorId};
use crate::secrets::{
    self, Backend, Chosen, Preference, Reachability, SecretField, SecretsError, SecretsStore,
    account,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;

/// The install's secrets store as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretsState {
    /// The id that names this install's keyring entries.
    pub install_id: String,
    /// The recorded store; `None` until the first read-write open chooses one.
    pub store: Option<SecretsStore>,
    /// How it was chosen.
    pub chosen: Option<Chosen>,
    /// When.
    pub chosen_at: Option<Timestamp>,
    /// Why the probe chose the file, in words.
    pub note: Option<String>,
}

impl SecretsState {
    /// Where new secrets go: the recorded store, the file until one is recorded.
    pub fn effective(&self) -> SecretsStore {
        self.store.unwrap_or(SecretsStore::File)
    }

    /// The state in words: "the OS keyring (chosen automatically: a keyring answered)".
    pub fn describe(&self) -> String {
        let how = match (self.chosen, self.effective(), &self.note) {
            (None, _, _) => "not chosen yet: chosen at the first command that writes".to_owned(),
            (Some(Chosen::Auto), SecretsStore::Keyring, _) => {
                "chosen automatically: the keyring answered".to_owned()
            }
            (Some(Chosen::Auto), SecretsStore::File, Some(note)) => {
                format!("chosen automatically: no OS keyring was reachable ({note})")
            }
            (Some(Chosen::Auto), SecretsStore::File, None) => {
                "chosen automatically: no OS keyring was reachable".to_owned()
            }
            (Some(Chosen::Config), _, _) => "chosen by secrets.store".to_owned(),
            (Some(Chosen::Moved), _, _) => "moved with `plantsync secrets move`".to_owned(),
            (Some(Chosen::Upgrade), _, _) => {
                "kept from before plantsync knew keyrings; `plantsync secrets move --to keyring` \
                 moves them"
                    .to_owned()
            }
        };
        format!("{} ({how})", self.effective().describe())
    }
}

/// What [`Store::settle_secrets`] found or chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The state after settling.
    pub state: SecretsState,
    /// Whether the choice was made now (the install is new).
    pub chosen_now: bool,
}

/// What [`Store::move_secrets`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MoveReport {
    /// Where the secrets were kept before.
    pub from: SecretsStore,
    /// Where they are kept now.
    pub to: SecretsStore,
    /// Vendors whose secrets moved.
    pub vendors: usize,
    /// Secret values moved.
    pub secrets: usize,
    /// Cached session tokens dropped (a cache: the next sync logs in once).
    pub tokens_dropped: usize,
    /// Keyring entries that could not be deleted after a move to the file (by account).
    pub left_in_keyring: Vec<String>,
    /// Secrets a move to the file could not read from the keyring (an entry deleted, or
    /// refused): the others moved, these fields are unset until entered again.
    pub not_moved: Vec<NotMoved>,
}

/// A secret a move could not read, by vendor and field, with why (never a value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotMoved {
    /// The vendor.
    pub vendor_id: VendorId,
    /// The field (`password`, `app_secret`, `api_key`).
    pub field: &'static str,
    /// The `vendor set` flag that enters it again.
    pub flag: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// The install row.
pub(super) fn state(conn: &Connection) -> Result<SecretsState> {
    conn.query_row(
        "SELECT install_id, secrets_store, secrets_chosen, secrets_chosen_at, secrets_note
         FROM install WHERE id = 1",
        [],
        |row| {
            let store: Option<String> = row.get(1)?;
            let chosen: Option<String> = row.get(2)?;
            Ok(SecretsState {
                install_id: row.get(0)?,
                store: store.and_then(|s| s.parse().ok()),
                chosen: chosen.as_deref().and_then(Chosen::parse),
                chosen_at: row.get(3)?,
                note: row.get(4)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| StoreError::Corrupt {
        column: "install".into(),
        detail: "the table has no row".into(),
    })
}

fn record(
    conn: &Connection,
    store: SecretsStore,
    chosen: Chosen,
    note: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE install SET secrets_store = ?1, secrets_chosen = ?2, secrets_note = ?3,
                secrets_chosen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = 1",
        params![store.as_str(), chosen.as_str(), note],
    )?;
    Ok(())
}

/// The secret values of `creds` by field.
fn secret_of(creds: &Credentials, field: SecretField) -> Option<&Secret> {
    match field {
        SecretField::Password => creds.password.as_ref(),
        SecretField::AppSecret => creds.app_secret.as_ref(),
        SecretField::ApiKey => creds.api_key.as_ref(),
        SecretField::Token => None,
    }
}

fn set_secret(creds: &mut Credentials, field: SecretField, value: Secret) {
    match field {
        SecretField::Password => creds.password = Some(value),
        SecretField::AppSecret => creds.app_secret = Some(value),
        SecretField::ApiKey => creds.api_key = Some(value),
        SecretField::Token => {}
    }
}

fn parse_fields(list: &str) -> Vec<SecretField> {
    list.split(',').filter_map(SecretField::parse).collect()
}

fn join_fields(fields: &[SecretField]) -> String {
    fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
}

/// The secret fields `creds` sets, in write order.
fn set_fields(creds: &Credentials) -> Vec<SecretField> {
    SecretField::CREDENTIALS
        .into_iter()
        .filter(|f| secret_of(creds, *f).is_some_and(|s| !s.is_empty()))
        .collect()
}

/// What a credentials row stores of its secrets: the three columns and `keyring_fields`,
/// and the keyring entries the row no longer uses (deleted after the caller's commit).
pub(super) struct StoredSecrets {
    pub password: Option<String>,
    pub app_secret: Option<String>,
    pub api_key: Option<String>,
    pub keyring_fields: Option<String>,
    /// Accounts of entries the old row pointed at and the new one does not (a secret
    /// emptied, or the install keeps secrets in the file now).
    pub stale: Vec<String>,
}

/// Puts the secrets of `creds` where the install keeps them: the keyring entries are
/// written here (before the caller's row, inside its transaction), and what the row holds
/// is returned.
pub(super) fn store_credentials(
    conn: &Connection,
    keyring: &dyn Backend,
    vendor: VendorId,
    creds: &Credentials,
) -> Result<StoredSecrets> {
    let state = state(conn)?;
    let before: Vec<SecretField> = conn
        .query_row(
            "SELECT keyring_fields FROM vendor_credentials WHERE vendor_id = ?1",
            [vendor],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten()
        .as_deref()
        .map(parse_fields)
        .unwrap_or_default();
    let plain = |s: &Option<Secret>| s.as_ref().map(|v| v.expose().to_owned());
    let mut stored = match state.effective() {
        SecretsStore::File => StoredSecrets {
            password: plain(&creds.password),
            app_secret: plain(&creds.app_secret),
            api_key: plain(&creds.api_key),
            keyring_fields: None,
            stale: Vec::new(),
        },
        SecretsStore::Keyring => {
            let fields = set_fields(creds);
            for field in &fields {
                if let Some(value) = secret_of(creds, *field) {
                    keyring.set(&account(&state.install_id, vendor, *field), value)?;
                }
            }
            StoredSecrets {
                password: None,
                app_secret: None,
                api_key: None,
                keyring_fields: Some(join_fields(&fields)),
                stale: Vec::new(),
            }
        }
    };
    let now: Vec<SecretField> =
        stored.keyring_fields.as_deref().map(parse_fields).unwrap_or_default();
    stored.stale = before
        .into_iter()
        .filter(|f| !now.contains(f))
        .map(|f| account(&state.install_id, vendor, f))
        .collect();
    Ok(stored)
}

/// Fills the secret fields of `creds` from the keyring entries `keyring_fields` lists,
/// except the fields in `skip` (the ones a caller is about to replace). An unreachable
/// keyring is the error; an entry that is missing or refused is returned, its field left
/// unset, so each caller decides: a read for use fails on it, a move or a sync goes on
/// with the others.
pub(super) fn fill_from_keyring(
    conn: &Connection,
    keyring: &dyn Backend,
    vendor: VendorId,
    keyring_fields: &str,
    creds: &mut Credentials,
    skip: &[SecretField],
) -> Result<Vec<SecretsError>> {
    let install = state(conn)?.install_id;
    let mut unread = Vec::new();
    for field in parse_fields(keyring_fields).into_iter().filter(|f| !skip.contains(f)) {
        let name = account(&install, vendor, field);
        match keyring.get(&name) {
            Ok(Some(value)) => set_secret(creds, field, value),
            Ok(None) => unread.push(SecretsError::Missing { vendor, field, account: name }),
            Err(refused @ SecretsError::Refused { .. }) => unread.push(refused),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(unread)
}

/// The secret fields `creds` sets at all (an empty value too): what a patch replaces.
pub(super) fn replaced_fields(creds: &Credentials) -> Vec<SecretField> {
    SecretField::CREDENTIALS.into_iter().filter(|f| secret_of(creds, *f).is_some()).collect()
}

/// Every keyring account a vendor may have, for deleting them with the vendor.
pub(super) fn vendor_accounts(conn: &Connection, vendor: VendorId) -> Result<Vec<String>> {
    let install = state(conn)?.install_id;
    Ok([SecretField::Password, SecretField::AppSecret, SecretField::ApiKey, SecretField::Token]
        .into_iter()
        .map(|f| account(&install, vendor, f))
        .collect())
}

/// Whether the vendor has anything in the keyring (its credentials or its token).
pub(super) fn vendor_in_keyring(conn: &Connection, vendor: VendorId) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM vendor_credentials
                        WHERE vendor_id = ?1 AND keyring_fields IS NOT NULL)
             OR EXISTS (SELECT 1 FROM vendor_tokens WHERE vendor_id = ?1 AND in_keyring = 1)",
        [vendor],
        |r| r.get(0),
    )?)
}

/// Deletes `accounts`, saying (in the log, by account) which could not be deleted.
pub(super) fn delete_entries(keyring: &dyn Backend, accounts: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for name in accounts {
        if let Err(e) = keyring.delete(name) {
            tracing::warn!("could not delete the OS keyring entry '{name}': {e}");
            left.push(name.clone());
        }
    }
    left
}

/// Clears the old copies of secrets a committed write left in the `-wal`: a checkpoint
/// that copies the WAL into the database and truncates it to nothing. With
/// `secure_delete` on (see `open_writer`), the database's pages then hold no old value
/// either. Run outside a transaction, after the commit of a write that dropped secrets
/// (a move, new credentials, a removed vendor). A checkpoint another process's open read
/// holds back is only logged: the copies go at the next checkpoint, and the write stands.
pub(super) fn scrub(conn: &Connection) {
    let outcome = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    match outcome {
        Ok(0) => {}
        Ok(_) => tracing::warn!(
            "another process is reading the database: old copies of secrets stay in its -wal \
             file until the next checkpoint"
        ),
        Err(e) => tracing::warn!("could not checkpoint the database after a secrets change: {e}"),
    }
}

/// The token's keyring entry: access and refresh as one JSON value.
fn token_value(token: &Token) -> Secret {
    Secret::new(
        serde_json::json!({
            "access": token.access.expose(),
            "refresh": token.refresh.as_ref().map(Secret::expose),
        })
        .to_string(),
    )
}

/// Where a token's values go: `(access, refresh, in_keyring)` for the row; in keyring
/// mode the entry is written here.
pub(super) fn store_token(
    conn: &Connection,
    keyring: &dyn Backend,
    vendor: VendorId,
    token: &Token,
) -> Result<(String, Option<String>, bool)> {
    let state = state(conn)?;
    Ok(match state.effective() {
        SecretsStore::File => (
            token.access.expose().to_owned(),
            token.refresh.as_ref().map(|r| r.expose().to_owned()),
            false,
        ),
        SecretsStore::Keyring => {
            keyring.set(
                &account(&state.install_id, vendor, SecretField::Token),
                &token_value(token),
            )?;
            (String::new(), None, true)
        }
    })
}

/// A token's values from its keyring entry; `None` when the entry is gone (the session is
/// then simply not reused).
pub(super) fn load_token(
    conn: &Connection,
    keyring: &dyn Backend,
    vendor: VendorId,
) -> Result<Option<(Secret, Option<Secret>)>> {
    let install = state(conn)?.install_id;
    let Some(value) = keyring.get(&account(&install, vendor, SecretField::Token))? else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(value.expose()).unwrap_or_default();
    let Some(access) = json["access"].as_str() else { return Ok(None) };
    Ok(Some((Secret::new(access), json["refresh"].as_str().map(Secret::new))))
}

/// The token account of `vendor`.
pub(super) fn token_account(conn: &Connection, vendor: VendorId) -> Result<String> {
    Ok(account(&state(conn)?.install_id, vendor, SecretField::Token))
}

/// One credentials row as a move reads it.
struct Row {
    vendor: VendorId,
    password: Option<String>,
    app_secret: Option<String>,
    api_key: Option<String>,
    keyring_fields: Option<String>,
}

fn rows(conn: &Connection) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare(
        "SELECT vendor_id, password, app_secret, api_key, keyring_fields
         FROM vendor_credentials ORDER BY vendor_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Row {
                vendor: r.get(0)?,
                password: r.get(1)?,
                app_secret: r.get(2)?,
                api_key: r.get(3)?,
                keyring_fields: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

impl Row {
    fn values(&self) -> Vec<(SecretField, &str)> {
        [
            (SecretField::Password, &self.password),
            (SecretField::AppSecret, &self.app_secret),
            (SecretField::ApiKey, &self.api_key),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (f, v)))
        .collect()
    }
}

/// Moves every file-held secret into the keyring; see the module's design.
fn to_keyring(conn: &Connection, keyring: &dyn Backend, report: &mut MoveReport) -> Result<()> {
    let install = state(conn)?.install_id;
    let mut written: Vec<String> = Vec::new();
    let outcome = (|| -> Result<Vec<(VendorId, String)>> {
        let mut updates = Vec::new();
        for row in rows(conn)?.into_iter().filter(|r| r.keyring_fields.is_none()) {
            let values = row.values();
            for (field, value) in &values {
                let name = account(&install, row.vendor, *field);
                let value = Secret::new(*value);
                keyring.set(&name, &value)?;
                written.push(name.clone());
                // Read back before the file's copy is cleared.
                if keyring.get(&name)?.as_ref() != Some(&value) {
                    return Err(SecretsError::Unreachable {
                        reason: format!("entry '{name}' did not read back as written"),
                    }
                    .into());
                }
                report.secrets += 1;
            }
            let fields: Vec<SecretField> = values.iter().map(|(f, _)| *f).collect();
            updates.push((row.vendor, join_fields(&fields)));
        }
        Ok(updates)
    })();
    let updates = match outcome {
        Ok(updates) => updates,
        Err(e) => {
            // The database is unchanged; the entries written so far point at nothing.
            delete_entries(keyring, &written);
            return Err(e);
        }
    };
    for (vendor, fields) in &updates {
        conn.execute(
            "UPDATE vendor_credentials SET password = NULL, app_secret = NULL, api_key = NULL,
                    keyring_fields = ?1 WHERE vendor_id = ?2",
            params![fields, vendor],
        )?;
    }
    report.vendors = updates.len();
    // Cached tokens in the file are secrets too; they are a cache, so they are dropped
    // rather than moved (the next sync of each vendor logs in once).
    report.tokens_dropped = conn.execute("DELETE FROM vendor_tokens WHERE in_keyring = 0", [])?;
    Ok(())
}

/// Moves every keyring-held secret into the file; returns the entries to delete after the
/// commit.
fn to_file(
    conn: &Connection,
    keyring: &dyn Backend,
    report: &mut MoveReport,
) -> Result<Vec<String>> {
    let install = state(conn)?.install_id;
    let mut delete_after = Vec::new();
    for row in rows(conn)? {
        let Some(fields) = &row.keyring_fields else { continue };
        let mut creds = Credentials::default();
        // What the keyring has moves; a missing or refused entry is named in the report
        // and its field stays unset, so the vendor and its history stay and `vendor set`
        // enters it again (refusing the whole move would leave no way out).
        let unread = fill_from_keyring(conn, keyring, row.vendor, fields, &mut creds, &[])?;
        let mut skipped = Vec::new();
        for problem in unread {
            let field = problem.field();
            skipped.extend(field);
            report.not_moved.push(NotMoved {
                vendor_id: row.vendor,
                field: field.map_or("?", SecretField::as_str),
                flag: field.map_or("", SecretField::flag),
                reason: match &problem {
                    SecretsError::Missing { .. } => problem.to_string(),
                    _ => format!(
                        "{problem}; or enter it again with `plantsync vendor set {} {}`",
                        row.vendor,
                        field.map_or("", SecretField::flag)
                    ),
                },
            });
        }
        let moved: Vec<SecretField> =
            parse_fields(fields).into_iter().filter(|f| !skipped.contains(f)).collect();
        let expose = |s: &Option<Secret>| s.as_ref().map(|v| v.expose().to_owned());
        conn.execute(
            "UPDATE vendor_credentials SET password = ?1, app_secret = ?2, api_key = ?3,
                    keyring_fields = NULL WHERE vendor_id = ?4",
            params![
                expose(&creds.password),
                expose(&creds.app_secret),
                expose(&creds.api_key),
                row.vendor
            ],
        )?;
        // Verify what the file now holds before anything leaves the keyring.
        let stored = rows(conn)?.into_iter().find(|r| r.vendor == row.vendor);
        let matches = stored.is_some_and(|r| {
            r.keyring_fields.is_none()
                && r.password == expose(&creds.password)
                && r.app_secret == expose(&creds.app_secret)
                && r.api_key == expose(&creds.api_key)
        });
        if !matches {
            return Err(StoreError::Corrupt {
                column: "vendor_credentials".into(),
                detail: format!("vendor {}'s secrets did not read back as written", row.vendor),
            });
        }
        report.secrets += moved.len();
        report.vendors += 1;
        delete_after.extend(moved.into_iter().map(|f| account(&install, row.vendor, f)));
    }
    let mut stmt = conn.prepare("SELECT vendor_id FROM vendor_tokens WHERE in_keyring = 1")?;
    let token_vendors: Vec<VendorId> =
        stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for vendor in &token_vendors {
        delete_after.push(account(&install, *vendor, SecretField::Token));
    }
    report.tokens_dropped = conn.execute("DELETE FROM vendor_tokens WHERE in_keyring = 1", [])?;
    Ok(delete_after)
}

impl Store {
    /// The install's secrets store as recorded.
    pub async fn secrets_state(&self) -> Result<SecretsState> {
        self.read(state).await
    }

    /// Whether the OS keyring answers this install now, writing nothing (for `status`,
    /// which may run often and on a read-only copy): one of the install's own entries is
    /// read when it has any (so a keyring locked to it says so), else an account that does
    /// not exist. On a blocking thread.
    pub async fn keyring_reachability(&self) -> Result<Reachability> {
        let keyring = self.keyring();
        let name = self
            .read(|conn| {
                let install = state(conn)?.install_id;
                let first: Option<(VendorId, String)> = conn
                    .query_row(
                        "SELECT vendor_id, keyring_fields FROM vendor_credentials
                         WHERE keyring_fields IS NOT NULL AND keyring_fields <> ''
                         ORDER BY vendor_id LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let entry = first.and_then(|(vendor, fields)| {
                    parse_fields(&fields).first().map(|f| account(&install, vendor, *f))
                });
                Ok(entry.unwrap_or_else(|| secrets::probe_account(&install)))
            })
            .await?;
        tokio::task::spawn_blocking(move || secrets::check_read(&keyring, name))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Records the install's secrets store if none is recorded yet: `preference` decides,
    /// `auto` by whether the OS keyring works now. An install that has one keeps it (moving
    /// is [`Store::move_secrets`]). A forced keyring that does not work is refused, and
    /// nothing is recorded.
    pub async fn settle_secrets(&self, preference: Preference) -> Result<Settled> {
        let current = self.secrets_state().await?;
        if current.store.is_some() {
            return Ok(Settled { state: current, chosen_now: false });
        }
        let keyring = self.keyring();
        let install = current.install_id.clone();
        let probe = move || secrets::probe(&keyring, &install);
        let (store, chosen, note) = match preference {
            Preference::Forced(SecretsStore::File) => (SecretsStore::File, Chosen::Config, None),
            Preference::Forced(SecretsStore::Keyring) => {
                match tokio::task::spawn_blocking(probe).await.map_err(|_| StoreError::Closed)? {
                    Reachability::Reachable => (SecretsStore::Keyring, Chosen::Config, None),
                    Reachability::Unreachable(reason) => {
                        return Err(StoreError::Invalid(format!(
                            "secrets.store is keyring, but the OS keyring is not reachable: \
                             {reason}; unlock it, or set secrets.store to auto or file"
                        )));
                    }
                }
            }
            Preference::Auto => {
                match tokio::task::spawn_blocking(probe).await.map_err(|_| StoreError::Closed)? {
                    Reachability::Reachable => (SecretsStore::Keyring, Chosen::Auto, None),
                    Reachability::Unreachable(reason) => {
                        (SecretsStore::File, Chosen::Auto, Some(reason))
                    }
                }
            }
        };
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = state(&tx)?;
            // Another process may have chosen meanwhile: its choice stands.
            if now.store.is_some() {
                return Ok(Settled { state: now, chosen_now: false });
            }
            record(&tx, store, chosen, note.as_deref())?;
            let state = state(&tx)?;
            tx.commit()?;
            Ok(Settled { state, chosen_now: true })
        })
        .await
    }

    /// Moves every secret (credentials; cached tokens are dropped) to `to` and records it
    /// as the install's store. Idempotent: what is already there stays. A failure leaves
    /// every secret readable where it was.
    pub async fn move_secrets(&self, to: SecretsStore) -> Result<MoveReport> {
        let keyring = self.keyring();
        if to == SecretsStore::Keyring {
            let install = self.secrets_state().await?.install_id;
            let probe_with = Arc::clone(&keyring);
            let reach = tokio::task::spawn_blocking(move || secrets::probe(&probe_with, &install))
                .await
                .map_err(|_| StoreError::Closed)?;
            if let Reachability::Unreachable(reason) = reach {
                return Err(SecretsError::Unreachable { reason }.into());
            }
        }
        let (mut report, delete_after) = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let before = state(&tx)?;
                let mut report = MoveReport {
                    from: before.effective(),
                    to,
                    vendors: 0,
                    secrets: 0,
                    tokens_dropped: 0,
                    left_in_keyring: Vec::new(),
                    not_moved: Vec::new(),
                };
                let delete_after = match to {
                    SecretsStore::Keyring => {
                        to_keyring(&tx, keyring.as_ref(), &mut report)?;
                        Vec::new()
                    }
                    SecretsStore::File => to_file(&tx, keyring.as_ref(), &mut report)?,
                };
                if before.store != Some(to) {
                    record(&tx, to, Chosen::Moved, None)?;
                }
                tx.commit()?;
                scrub(conn);
                Ok((report, delete_after))
            })
            .await?;
        if !delete_after.is_empty() {
            let keyring = self.keyring();
            report.left_in_keyring = tokio::task::spawn_blocking(move || {
                delete_entries(keyring.as_ref(), &delete_after)
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CredentialField, NewVendor, VendorKind};
    use crate::secrets::memory::MemoryKeyring;
    use crate::store::test_support::temp_store;

    #[allow(clippy::disallowed_methods)] // reads the file behind the store's back
    fn sql_row(store: &Store, sql: &str) -> String {
        let conn = Connection::open(store.path()).unwrap();
        conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .unwrap_or_else(|| "NULL".into())
    }

    fn keyring_store() -> (tempfile::TempDir, Store, Arc<MemoryKeyring>) {
        let (dir, store) = temp_store();
        let memory = Arc::new(MemoryKeyring::default());
        let store = store.with_keyring(Arc::clone(&memory) as Arc<dyn Backend>);
        (dir, store, memory)
    }

    async fn add(store: &Store, name: &str, password: &str) -> VendorId {
        let mut creds = Credentials::default();
        creds.set(CredentialField::Username, format!("{name}@example.com"));
        creds.set(CredentialField::Password, password.into());
        creds.set(CredentialField::AppId, "app".into());
        creds.set(CredentialField::AppSecret, format!("{password}-app"));
        let new = NewVendor {
            name: name.into(),
            kind: VendorKind::Solarman,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        store.add_vendor(new, creds).await.unwrap().id
    }

    #[tokio::test]
    async fn auto_chooses_the_keyring_that_works_and_keeps_no_secret_in_the_file() {
        let (_dir, store, memory) = keyring_store();
        let settled = store.settle_secrets(Preference::Auto).await.unwrap();
        assert!(settled.chosen_now);
        assert_eq!(settled.state.store, Some(SecretsStore::Keyring));
        let id = add(&store, "Roof", "pw-1").await;
        assert_eq!(sql_row(&store, "SELECT password FROM vendor_credentials"), "NULL");
        assert_eq!(
            sql_row(&store, "SELECT keyring_fields FROM vendor_credentials"),
            "password,app_secret"
        );
        assert_eq!(memory.entries().len(), 2, "{:?}", memory.entries().keys());
        let creds = store.vendor_credentials(id).await.unwrap();
        assert_eq!(creds.password.unwrap().expose(), "pw-1");
        assert_eq!(creds.username.as_deref(), Some("Roof@example.com"));
        // Settling again keeps the choice.
        let again = store.settle_secrets(Preference::Forced(SecretsStore::File)).await.unwrap();
        assert!(!again.chosen_now);
        assert_eq!(again.state.store, Some(SecretsStore::Keyring));
    }

    #[tokio::test]
    async fn a_keyring_that_fails_mid_move_leaves_every_secret_in_the_file() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::File)).await.unwrap();
        let a = add(&store, "A", "pw-a").await;
        let b = add(&store, "B", "pw-b").await;
        // Two vendors, four values: the third write fails.
        memory.fail_after_writes(Some(3)); // the probe's write, then two entries
        let err = store.move_secrets(SecretsStore::Keyring).await.unwrap_err();
        assert!(matches!(err, StoreError::Secrets(SecretsError::Unreachable { .. })), "{err}");
        memory.fail_after_writes(None);
        assert!(memory.entries().is_empty(), "written entries are removed again");
        assert_eq!(store.secrets_state().await.unwrap().store, Some(SecretsStore::File));
        for (id, pw) in [(a, "pw-a"), (b, "pw-b")] {
            let creds = store.vendor_credentials(id).await.unwrap();
            assert_eq!(creds.password.unwrap().expose(), pw);
        }
        // Then a move that works, twice (idempotent), and back.
        let moved = store.move_secrets(SecretsStore::Keyring).await.unwrap();
        assert_eq!((moved.vendors, moved.secrets), (2, 4));
        let again = store.move_secrets(SecretsStore::Keyring).await.unwrap();
        assert_eq!((again.vendors, again.secrets), (0, 0));
        assert_eq!(
            sql_row(
                &store,
                "SELECT CAST(count(*) AS TEXT) FROM vendor_credentials WHERE password IS NOT NULL OR app_secret IS NOT NULL"
            ),
            "0"
        );
        assert_eq!(store.vendor_credentials(b).await.unwrap().password.unwrap().expose(), "pw-b");
        // A keyring that fails on the way back changes nothing either.
        memory.switch_off(true);
        store.move_secrets(SecretsStore::File).await.unwrap_err();
        memory.switch_off(false);
        assert_eq!(memory.entries().len(), 4);
        assert_eq!(store.secrets_state().await.unwrap().store, Some(SecretsStore::Keyring));
        let back = store.move_secrets(SecretsStore::File).await.unwrap();
        assert_eq!((back.vendors, back.secrets), (2, 4));
        assert!(back.left_in_keyring.is_empty());
        assert!(memory.entries().is_empty());
        assert_eq!(
            store.vendor_credentials(a).await.unwrap().app_secret.unwrap().expose(),
            "pw-a-app"
        );
    }

    /// The database file and its WAL, as text, to look for secret values in the raw bytes.
    fn raw_files(store: &Store) -> String {
        let mut text = String::new();
        for suffix in ["", "-wal"] {
            let mut path = store.path().as_os_str().to_owned();
            path.push(suffix);
            if let Ok(bytes) = std::fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }

    #[tokio::test]
    async fn a_move_to_the_keyring_leaves_no_secret_in_the_files_bytes() {
        let (_dir, store, _memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::File)).await.unwrap();
        let mut secrets = Vec::new();
        for n in 0..6 {
            let password = format!("pw-secret-{n}-0123456789");
            let id = add(&store, &format!("Roof {n}"), &password).await;
            // A password changed in the file, and a cached token there: old bytes too.
            let mut newer = Credentials::default();
            let changed = format!("pw-changed-{n}-0123456789");
            newer.set(CredentialField::Password, changed.clone());
            let patch =
                crate::store::VendorPatch { credentials: Some(newer), ..Default::default() };
            store.update_vendor(&id.to_string(), patch).await.unwrap();
            let token = Token {
                access: Secret::new(format!("access-secret-{n}-0123456789")),
                refresh: None,
                expires_at: None,
                metadata: serde_json::json!({}),
            };
            store.save_token(id, token).await.unwrap();
            secrets.extend([
                password.clone(),
                format!("{password}-app"),
                changed,
                format!("access-secret-{n}-0123456789"),
            ]);
        }
        let before = raw_files(&store);
        assert!(secrets.iter().skip(2).step_by(4).all(|s| before.contains(s.as_str())));
        store.move_secrets(SecretsStore::Keyring).await.unwrap();
        let raw = raw_files(&store);
        for secret in &secrets {
            assert!(!raw.contains(secret.as_str()), "the database's bytes hold {secret}");
        }
    }

    #[tokio::test]
    async fn tokens_go_to_the_keyring_and_a_move_drops_them() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let id = add(&store, "Roof", "pw").await;
        let token = Token {
            access: Secret::new("access-123"),
            refresh: Some(Secret::new("refresh-456")),
            expires_at: None,
            metadata: serde_json::json!({"user": 7}),
        };
        store.save_token(id, token.clone()).await.unwrap();
        assert_eq!(sql_row(&store, "SELECT access_token FROM vendor_tokens"), "");
        assert_eq!(store.load_token(id).await.unwrap(), Some(token));
        let report = store.move_secrets(SecretsStore::File).await.unwrap();
        assert_eq!(report.tokens_dropped, 1);
        assert!(memory.entries().is_empty());
        assert_eq!(store.load_token(id).await.unwrap(), None);
    }

    /// Another process's store on the same file (its own writer thread and connection),
    /// with the same keyring.
    fn second_process(store: &Store, memory: &Arc<MemoryKeyring>) -> Store {
        Store::open(store.path()).unwrap().with_keyring(Arc::clone(memory) as Arc<dyn Backend>)
    }

    /// Whether another connection could take the write lock now (no waiting).
    #[allow(clippy::disallowed_methods)] // a connection of its own, as another process has
    fn write_lock_free(store: &Store) -> bool {
        let conn = Connection::open(store.path()).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_saved_while_a_move_runs_lands_where_the_move_leaves_secrets() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let id = add(&store, "Roof", "pw").await;
        let token = Token {
            access: Secret::new("access-while-moving"),
            refresh: None,
            expires_at: None,
            metadata: serde_json::json!({}),
        };
        // The agent is writing the token's keyring entry...
        let (entered, release) = memory.hold_write("/token");
        let agent = second_process(&store, &memory);
        let saving = tokio::spawn(async move { agent.save_token(id, token).await });
        tokio::task::spawn_blocking(move || entered.recv()).await.unwrap().unwrap();
        // ... and holds the write lock while it does, so a move cannot run in between.
        assert!(!write_lock_free(&store), "the token's write does not hold the lock");
        release.send(()).unwrap();
        saving.await.unwrap().unwrap();
        // The move that follows sees the token and drops it with its entry.
        let report = store.move_secrets(SecretsStore::File).await.unwrap();
        assert_eq!(report.tokens_dropped, 1);
        assert!(memory.entries().is_empty(), "{:?}", memory.entries().keys());
        assert_eq!(store.load_token(id).await.unwrap(), None);
        // A token saved after the move is in the file.
        let token = Token { access: Secret::new("access-after"), ..plain_token() };
        store.save_token(id, token.clone()).await.unwrap();
        assert_eq!(sql_row(&store, "SELECT access_token FROM vendor_tokens"), "access-after");
        assert!(memory.entries().is_empty());
        assert_eq!(store.load_token(id).await.unwrap(), Some(token));
    }

    fn plain_token() -> Token {
        Token {
            access: Secret::new("x"),
            refresh: None,
            expires_at: None,
            metadata: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn the_status_check_writes_nothing() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        assert_eq!(store.keyring_reachability().await.unwrap(), Reachability::Reachable);
        add(&store, "Roof", "pw").await;
        let before = memory.entries();
        memory.fail_after_writes(Some(0));
        assert_eq!(store.keyring_reachability().await.unwrap(), Reachability::Reachable);
        assert_eq!(memory.entries(), before);
        memory.switch_off(true);
        let gone = store.keyring_reachability().await.unwrap();
        assert!(matches!(gone, Reachability::Unreachable(_)), "{gone:?}");
    }

    #[tokio::test]
    async fn removing_a_vendor_removes_its_entries() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let keep = add(&store, "Keep", "pw-k").await;
        add(&store, "Gone", "pw-g").await;
        assert_eq!(memory.entries().len(), 4);
        store.remove_vendor("Gone", false).await.unwrap();
        assert_eq!(memory.entries().len(), 2);
        assert!(memory.entries().keys().all(|k| k.contains(&format!("vendor-{keep}/"))));
    }

    /// Deletes the vendor's keyring entry of `field` behind the store's back.
    fn delete_entry(memory: &MemoryKeyring, vendor: VendorId, field: &str) {
        let suffix = format!("/vendor-{vendor}/{field}");
        let name = memory.entries().keys().find(|k| k.ends_with(&suffix)).cloned().unwrap();
        memory.delete(&name).unwrap();
    }

    #[tokio::test]
    async fn entering_the_missing_field_repairs_the_vendor() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let id = add(&store, "Roof", "pw-old").await;
        delete_entry(&memory, id, "password");
        let mut newer = Credentials::default();
        newer.set(CredentialField::Password, "pw-new".into());
        let patch = crate::store::VendorPatch { credentials: Some(newer), ..Default::default() };
        store.update_vendor("Roof", patch).await.unwrap();
        let creds = store.vendor_credentials(id).await.unwrap();
        assert_eq!(creds.password.unwrap().expose(), "pw-new");
        assert_eq!(creds.app_secret.unwrap().expose(), "pw-old-app", "the kept field is read");
        // A field the patch keeps must still be there: said, with the flag that sets it.
        delete_entry(&memory, id, "app_secret");
        let mut newer = Credentials::default();
        newer.set(CredentialField::Password, "pw-newer".into());
        let patch = crate::store::VendorPatch { credentials: Some(newer), ..Default::default() };
        let err = store.update_vendor("Roof", patch).await.unwrap_err().to_string();
        assert!(err.contains(&format!("`plantsync vendor set {id} --app-secret`")), "{err}");
        assert_eq!(store.vendor_credentials(id).await.unwrap_err().to_string(), err);
    }

    #[tokio::test]
    async fn an_emptied_secret_leaves_no_entry_behind() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let id = add(&store, "Roof", "pw").await;
        let mut newer = Credentials::default();
        newer.set(CredentialField::AppSecret, String::new());
        let patch = crate::store::VendorPatch { credentials: Some(newer), ..Default::default() };
        store.update_vendor("Roof", patch).await.unwrap();
        let names: Vec<String> = memory.entries().into_keys().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(&format!("vendor-{id}/password")), "{names:?}");
        assert_eq!(store.vendor_credentials(id).await.unwrap().app_secret, None);
    }

    #[tokio::test]
    async fn a_move_to_the_file_moves_what_the_keyring_has_and_names_the_rest() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let a = add(&store, "A", "pw-a").await;
        let b = add(&store, "B", "pw-b").await;
        delete_entry(&memory, a, "app_secret");
        let report = store.move_secrets(SecretsStore::File).await.unwrap();
        assert_eq!((report.vendors, report.secrets), (2, 3));
        assert_eq!(report.not_moved.len(), 1, "{:?}", report.not_moved);
        let missing = &report.not_moved[0];
        assert_eq!(
            (missing.vendor_id, missing.field, missing.flag),
            (a, "app_secret", "--app-secret")
        );
        assert!(missing.reason.contains("has no app_secret of vendor"), "{}", missing.reason);
        assert!(memory.entries().is_empty());
        assert_eq!(store.secrets_state().await.unwrap().store, Some(SecretsStore::File));
        let kept = store.vendor_credentials(a).await.unwrap();
        assert_eq!((kept.password.unwrap().expose(), kept.app_secret), ("pw-a", None));
        assert_eq!(
            store.vendor_credentials(b).await.unwrap().app_secret.unwrap().expose(),
            "pw-b-app"
        );
        // And the way out: the field entered again, in the file now.
        let mut newer = Credentials::default();
        newer.set(CredentialField::AppSecret, "pw-a-app-2".into());
        let patch = crate::store::VendorPatch { credentials: Some(newer), ..Default::default() };
        store.update_vendor("A", patch).await.unwrap();
        assert_eq!(
            sql_row(
                &store,
                &format!("SELECT app_secret FROM vendor_credentials WHERE vendor_id = {a}")
            ),
            "pw-a-app-2"
        );
    }

    #[tokio::test]
    async fn one_vendors_missing_entry_is_its_own_and_an_unreachable_keyring_everyones() {
        use crate::domain::{NewOrganization, RunKind, RunRequest, RunSource};
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let org = NewOrganization {
            name: "O".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        };
        let org = store.add_org(org).await.unwrap().id;
        let a = add(&store, "A", "pw-a").await;
        let b = add(&store, "B", "pw-b").await;
        for name in ["A", "B"] {
            let patch = crate::store::VendorPatch {
                org: Some(Some(org.to_string())),
                ..Default::default()
            };
            store.update_vendor(name, patch).await.unwrap();
        }
        delete_entry(&memory, a, "password");
        let request = RunRequest::new(RunKind::Plants, RunSource::User, false, [a, b]);
        let (targets, gone) = store.sync_targets(&request).await.unwrap();
        assert!(gone.is_empty());
        let by_id = |id| targets.iter().find(|t| t.vendor.id == id).unwrap();
        assert_eq!(by_id(a).credentials.password, None);
        assert_eq!(by_id(a).credentials.app_secret.as_ref().unwrap().expose(), "pw-a-app");
        assert_eq!(by_id(b).credentials.password.as_ref().unwrap().expose(), "pw-b");
        memory.switch_off(true);
        let err = store.sync_targets(&request).await.unwrap_err();
        assert!(matches!(err, StoreError::Secrets(SecretsError::Unreachable { .. })), "{err}");
    }

    #[tokio::test]
    async fn a_missing_entry_is_said_in_words_without_the_secret() {
        let (_dir, store, memory) = keyring_store();
        store.settle_secrets(Preference::Forced(SecretsStore::Keyring)).await.unwrap();
        let id = add(&store, "Roof", "pw-secret-1").await;
        let name = memory.entries().keys().find(|k| k.ends_with("/password")).cloned().unwrap();
        memory.delete(&name).unwrap();
        let err = store.vendor_credentials(id).await.unwrap_err().to_string();
        assert!(err.contains(&format!("has no password of vendor {id}")), "{err}");
        assert!(!err.contains("pw-secret-1"), "{err}");
    }
}
