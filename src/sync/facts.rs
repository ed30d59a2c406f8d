//! What was learnt about a vendor's portal account, between the session and the store: the
//! facts are read when a vendor's sync starts and written when it ends (after its
//! deadline too), so a second process (a CLI sync, the agent after a restart) asks the
//! portal nothing one of them already learnt.
//!
//! A fact learnt before the vendor's credentials were last entered is about the old
//! credentials (a key without v2 access, a token without the details call), so it is not
//! believed: the new ones are asked afresh.

use super::Engine;
use crate::domain::Timestamp;
use crate::store::SyncTarget;
use crate::vendors::AccountFact;
use tracing::warn;

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
        let entered: Option<Timestamp> =
            target.credentials_entered_at.as_deref().and_then(|text| text.parse().ok());
        let facts = stored.into_iter().filter_map(|(key, until)| {
            let fact = AccountFact::from_key(&key)?;
            let learnt_at = until.as_datetime()
                - chrono::Duration::from_std(fact.lifetime()).unwrap_or(chrono::Duration::zero());
            let about_these_credentials = entered.is_none_or(|e| learnt_at >= e.as_datetime());
            about_these_credentials.then_some((fact, until))
        });
        self.account_tokens(target).believe_facts(facts);
    }

    /// Writes the facts learnt about the account of `target` during its sync.
    pub(super) async fn save_facts(&self, target: &SyncTarget) {
        let learnt: Vec<(String, Timestamp)> = self
            .account_tokens(target)
            .take_learnt_facts()
            .into_iter()
            .map(|(fact, until)| (fact.key(), until))
            .collect();
        if let Err(e) = self.store.save_account_facts(target.vendor.id, learnt).await {
            warn!("could not keep what was learnt about the account: {e}");
        }
    }
}
