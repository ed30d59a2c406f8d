//! What was learnt about a vendor's portal account, between the session and the store: the
//! facts are read when a vendor's sync starts and written when it ends (after its
//! deadline too), so a second process (a CLI sync, the agent after a restart) asks the
//! portal nothing one of them already learnt.
//!
//! A fact is about the credentials it was learnt with (a key without v2 access, a token
//! without the details call): each is stored under its fact's key and a fingerprint of
//! those credentials ([`fact_key`]), and only the facts of the credentials a sync uses are
//! believed, so new credentials are asked afresh. The fingerprint, not the time a fact was
//! learnt, decides: a sync still running on the old key that learns a fact after the user
//! entered a new one would otherwise hand the fact to the new key.
//!
//! The fingerprint is a short SHA-256 prefix of the portal kind, base URL, the credentials'
//! identifiers that are not secret (username, app id, company id) and the time they were
//! entered, which changes on every entry (entering the same key again also means "ask
//! again"). No secret is an input: a short unsalted hash over a password or key would let
//! anyone holding a copy of the database try a dictionary of weak secrets against it
//! offline. It lives in the fact's text, so `account_facts (vendor_id, fact, until)` keeps
//! its shape. Rows of other credentials expire with their day like any other.

use super::Engine;
use crate::domain::Timestamp;
use crate::store::SyncTarget;
use crate::vendors::AccountFact;
use sha2::{Digest, Sha256};
use tracing::warn;

/// Separates a fact's key from the fingerprint of its credentials in `account_facts.fact`
/// (a fingerprint is hex, so the last one separates).
const FINGERPRINT_SEPARATOR: char = '@';

/// A fingerprint of the credentials of `target` as entered (and the base URL they sign
/// in at), as 12 hex digits: the time they were entered tells one entry from the next;
/// no secret field is an input (see the module).
fn credentials_fingerprint(target: &SyncTarget) -> String {
    let c = &target.credentials;
    let mut hash = Sha256::new();
    let fields = [
        Some(target.vendor.kind.as_str()),
        target.vendor.base_url.as_deref(),
        c.username.as_deref(),
        c.app_id.as_deref(),
        c.company_id.as_deref(),
        target.credentials_entered_at.as_deref(),
    ];
    for field in fields {
        // Length-prefixed, so no two sets of fields hash alike by shifting text.
        let text = field.unwrap_or_default();
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(field.map_or(0u8, |_| 1u8).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The stored key of `fact` learnt with the credentials of fingerprint `fingerprint`.
fn fact_key(fact: &AccountFact, fingerprint: &str) -> String {
    format!("{}{FINGERPRINT_SEPARATOR}{fingerprint}", fact.key())
}

/// The fact of a stored key, if it was learnt with the credentials of `fingerprint` (keys
/// of other credentials, and those stored before fingerprints, are not believed: that
/// costs one call to learn them again).
fn fact_of(stored: &str, fingerprint: &str) -> Option<AccountFact> {
    let (key, of) = stored.rsplit_once(FINGERPRINT_SEPARATOR)?;
    (of == fingerprint).then(|| AccountFact::from_key(key)).flatten()
}

impl Engine {
    /// Believes the stored facts about the account of `target`. A failure to read them
    /// costs at most the calls that learn them again, so it is logged and the sync goes on.
    pub(super) async fn load_facts(&self, target: &SyncTarget) {
        let stored = match self.store.account_facts(target.vendor.id, Timestamp::now()).await {
            Ok(stored) => stored,
            Err(e) => {
                warn!("could not read what was learnt about the account: {e}");
                return;
            }
        };
        let fingerprint = credentials_fingerprint(target);
        let facts = stored
            .into_iter()
            .filter_map(|(key, until)| Some((fact_of(&key, &fingerprint)?, until)));
        self.account_tokens(target).believe_facts(facts);
    }

    /// Writes the facts learnt about the account of `target` during its sync, under the
    /// fingerprint of the credentials the sync used (`target`'s, read when it started).
    pub(super) async fn save_facts(&self, target: &SyncTarget) {
        let fingerprint = credentials_fingerprint(target);
        let learnt: Vec<(String, Timestamp)> = self
            .account_tokens(target)
            .take_learnt_facts()
            .into_iter()
            .map(|(fact, until)| (fact_key(&fact, &fingerprint), until))
            .collect();
        if let Err(e) = self.store.save_account_facts(target.vendor.id, learnt).await {
            warn!("could not keep what was learnt about the account: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        CredentialField, Credentials, NewOrganization, NewVendor, RunKind, RunRequest, RunSource,
        VendorKind,
    };
    use crate::store::test_support::temp_store;
    use crate::store::{Store, VendorPatch};
    use crate::sync::{Engine, EngineSettings};
    use crate::vendors::{Http, HttpSettings, Session};

    fn token(text: &str) -> Credentials {
        let mut credentials = Credentials::default();
        credentials.set(CredentialField::ApiKey, text.into());
        credentials
    }

    async fn target(store: &Store) -> SyncTarget {
        let request =
            RunRequest::new(RunKind::Plants, RunSource::User, false, [crate::domain::VendorId(1)]);
        store.sync_targets(&request).await.unwrap().0.remove(0)
    }

    /// Whether a fresh engine (another process) believes `fact` for `target`.
    async fn believed(store: &Store, target: &SyncTarget, fact: &AccountFact) -> bool {
        let engine = Engine::new(store.clone(), EngineSettings::default()).unwrap();
        engine.load_facts(target).await;
        let http = Http::new(HttpSettings::default()).unwrap();
        Session::new(engine.account_tokens(target), http, 1).knows(fact)
    }

    /// A vendor named `name` of `kind`, not yet added, in a new organization of `store`.
    async fn new_vendor(store: &Store, name: &str, kind: VendorKind) -> NewVendor {
        let org = NewOrganization {
            name: "Org".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        };
        let org = store.add_org(org).await.unwrap();
        NewVendor { name: name.into(), kind, org_id: Some(org.id), base_url: None, is_active: true }
    }

    /// A sync still running on the old key learns a fact after the user entered a new key:
    /// it is the old key's, and the new key does not inherit it.
    #[tokio::test]
    async fn a_fact_learnt_on_old_credentials_is_not_believed_for_new_ones() {
        let (_dir, store) = temp_store();
        let vendor = new_vendor(&store, "grow", VendorKind::Growatt).await;
        store.add_vendor(vendor, token("OLD-TOKEN")).await.unwrap();
        let engine = Engine::new(store.clone(), EngineSettings::default()).unwrap();
        let old = target(&store).await;
        // The user enters a new token while the old one's sync runs.
        let patch = VendorPatch { credentials: Some(token("NEW-TOKEN")), ..Default::default() };
        store.update_vendor("grow", patch).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Then the old sync learns something and ends.
        let http = Http::new(HttpSettings::default()).unwrap();
        Session::new(engine.account_tokens(&old), http, 1)
            .remember(AccountFact::GrowattNoDetailsAccess);
        engine.save_facts(&old).await;
        let new = target(&store).await;
        assert!(!believed(&store, &new, &AccountFact::GrowattNoDetailsAccess).await);
        assert!(
            believed(&store, &old, &AccountFact::GrowattNoDetailsAccess).await,
            "the old key's"
        );
        // The store holds the fingerprint, never the secret.
        let stored = store.account_facts(old.vendor.id, Timestamp::now()).await.unwrap();
        assert_eq!(stored.len(), 1);
        let (key, _) = &stored[0];
        assert!(key.starts_with("growatt_no_details_access@"), "{key}");
        assert!(!key.contains("TOKEN"), "{key}");
    }

    /// No secret is an input of the fingerprint: two different secrets entered at the same
    /// instant give the same one (what tells entries apart is the time of the entry), so a
    /// stolen `account_facts` row cannot be checked against guessed passwords.
    #[tokio::test]
    async fn the_fingerprint_has_no_secret_as_input() {
        let (_dir, store) = temp_store();
        let vendor = new_vendor(&store, "fusion", VendorKind::Huawei).await;
        let mut entered = Credentials::default();
        entered.set(CredentialField::Username, "api-user".into());
        entered.set(CredentialField::Password, "summer2026".into());
        store.add_vendor(vendor, entered).await.unwrap();
        let first = target(&store).await;
        assert!(first.credentials_entered_at.is_some());
        let fingerprint = credentials_fingerprint(&first);
        for field in
            [CredentialField::Password, CredentialField::AppSecret, CredentialField::ApiKey]
        {
            let mut other = first.clone();
            other.credentials.set(field, "another-secret".into());
            assert_eq!(credentials_fingerprint(&other), fingerprint, "{field:?} is an input");
        }
        // What is not secret still tells credentials apart.
        let mut renamed = first.clone();
        renamed.credentials.set(CredentialField::Username, "other-user".into());
        assert_ne!(credentials_fingerprint(&renamed), fingerprint);
        let mut later = first;
        later.credentials_entered_at = Some("2026-12-01T10:00:00.001Z".into());
        assert_ne!(credentials_fingerprint(&later), fingerprint);
    }

    #[test]
    fn stored_keys_name_their_credentials() {
        let fact = AccountFact::GrowattPlantWithoutZone("7@x".into());
        let key = fact_key(&fact, "0123456789ab");
        assert_eq!(fact_of(&key, "0123456789ab"), Some(fact));
        assert_eq!(fact_of(&key, "ba9876543210"), None, "other credentials");
        assert_eq!(fact_of("growatt_no_data_access", "0123456789ab"), None, "no fingerprint");
    }
}
