//! What plantsync learnt about an account and keeps believing for a while.
//!
//! Some answers are facts about the account, not about one call: a SolarEdge key without v2
//! access, a FusionSolar API account that only has the legacy station list (or may not read
//! KPIs or alarms), a Sungrow account without the fault list, a Growatt token refused the
//! details or data call, a Growatt plant whose zone has no IANA name. Asking again every
//! sync only spends quota to learn the same thing, but access can be granted later, so each
//! fact is believed for its own time and then forgotten. The facts are an enum (not string
//! keys shared with the pacing map), so a typo cannot silently miss a memory and each
//! fact's lifetime is defined in one place.
//!
//! # Kept in the store
//!
//! A fact learnt by one process holds for the others: a CLI sync beside the agent, or the
//! next CLI sync, must not ask the portal again (every `plantsync sync` used to re-ask
//! Growatt's `plant/details` of every zone-less plant). So each fact has a stable text key
//! ([`AccountFact::key`]), the engine loads the vendor's facts from the store's
//! `account_facts` table when it opens the vendor's session, and writes the facts learnt
//! ([`Memo::take_learnt`]) when the vendor's sync ends. In memory a fact's expiry is a
//! tokio instant (so tests can move time); in the store it is a UTC time.

use crate::domain::Timestamp;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A fact about a portal account, remembered across the runs of this process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountFact {
    /// The SolarEdge key has no access to the v2 alert list (HTTP 403 or 404 there); v1 has
    /// no alert list at all, so alerts are unsupported for it.
    SolarEdgeNoV2Access,
    /// The FusionSolar API account lacks `/thirdData/stations` (`failCode 401`) and is
    /// listed with the legacy `getStationList`.
    FusionSolarLegacyOnly,
    /// The FusionSolar API account may not call `getStationRealKpi` (`failCode 401`):
    /// stations are listed without their energy readings.
    FusionSolarNoKpiAccess,
    /// The FusionSolar API account may not call `getAlarmList` (`failCode 401`): alerts are
    /// unsupported for it.
    FusionSolarNoAlarmAccess,
    /// The Sungrow account may not call the fault list (`E994`/`E996`, or HTTP 404/405 from
    /// it): alerts are unsupported for it.
    SungrowNoFaultListAccess,
    /// The Growatt token may not call `/v1/plant/details` (`error_code 101`), for any plant.
    GrowattNoDetailsAccess,
    /// The Growatt token may not call `/v1/plant/data` (`error_code 101`), for any plant:
    /// plants are listed without today's energy.
    GrowattNoDataAccess,
    /// The Growatt plant with this vendor id reported no zone in its details (or text that
    /// is no zone), so its details need not be asked again soon.
    GrowattPlantWithoutZone(String),
}

impl AccountFact {
    /// How long the fact is believed before the portal is asked again.
    pub const fn lifetime(&self) -> Duration {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        match self {
            // Access is granted by people (a v2 key, an interface permission, a plant's
            // settings): once a day is soon enough to notice and cheap on every quota.
            AccountFact::SolarEdgeNoV2Access
            | AccountFact::FusionSolarLegacyOnly
            | AccountFact::FusionSolarNoKpiAccess
            | AccountFact::FusionSolarNoAlarmAccess
            | AccountFact::SungrowNoFaultListAccess
            | AccountFact::GrowattNoDetailsAccess
            | AccountFact::GrowattNoDataAccess
            | AccountFact::GrowattPlantWithoutZone(_) => DAY,
        }
    }

    /// The fact's stable key in the store (`account_facts.fact`): never change one, or a
    /// stored fact is forgotten (which only costs one call to learn it again).
    pub fn key(&self) -> String {
        match self {
            AccountFact::SolarEdgeNoV2Access => "solaredge_no_v2_access".into(),
            AccountFact::FusionSolarLegacyOnly => "fusionsolar_legacy_only".into(),
            AccountFact::FusionSolarNoKpiAccess => "fusionsolar_no_kpi_access".into(),
            AccountFact::FusionSolarNoAlarmAccess => "fusionsolar_no_alarm_access".into(),
            AccountFact::SungrowNoFaultListAccess => "sungrow_no_fault_list_access".into(),
            AccountFact::GrowattNoDetailsAccess => "growatt_no_details_access".into(),
            AccountFact::GrowattNoDataAccess => "growatt_no_data_access".into(),
            AccountFact::GrowattPlantWithoutZone(plant) => {
                format!("{GROWATT_PLANT_WITHOUT_ZONE}:{plant}")
            }
        }
    }

    /// The fact of a stored key; `None` for a key this build does not know (written by a
    /// newer plantsync, or hand-edited): it is ignored.
    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(plant) = key
            .strip_prefix(GROWATT_PLANT_WITHOUT_ZONE)
            .and_then(|rest| rest.strip_prefix(':').filter(|plant| !plant.is_empty()))
        {
            return Some(AccountFact::GrowattPlantWithoutZone(plant.to_owned()));
        }
        [
            AccountFact::SolarEdgeNoV2Access,
            AccountFact::FusionSolarLegacyOnly,
            AccountFact::FusionSolarNoKpiAccess,
            AccountFact::FusionSolarNoAlarmAccess,
            AccountFact::SungrowNoFaultListAccess,
            AccountFact::GrowattNoDetailsAccess,
            AccountFact::GrowattNoDataAccess,
        ]
        .into_iter()
        .find(|fact| fact.key() == key)
    }
}

/// The key prefix of [`AccountFact::GrowattPlantWithoutZone`]; the plant's id follows a `:`.
const GROWATT_PLANT_WITHOUT_ZONE: &str = "growatt_plant_without_zone";

/// The facts remembered about one account, each with its own expiry, and those learnt in
/// this process that the store does not hold yet.
#[derive(Debug, Default)]
pub(super) struct Memo {
    until: Mutex<HashMap<AccountFact, Instant>>,
    learnt: Mutex<Vec<(AccountFact, Timestamp)>>,
}

impl Memo {
    /// Remembers `fact` for its [`AccountFact::lifetime`] from now, and keeps it to be
    /// written to the store ([`Memo::take_learnt`]).
    pub(super) fn remember(&self, fact: AccountFact) {
        let lifetime = fact.lifetime();
        let wall_until = Timestamp::from_datetime(
            &(Timestamp::now().as_datetime()
                + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::zero())),
        );
        self.learnt.lock().unwrap_or_else(PoisonError::into_inner).push((fact.clone(), wall_until));
        let mut facts = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        facts.insert(fact, Instant::now() + lifetime);
    }

    /// Believes `fact`, read from the store, until the UTC time `until` (at most its
    /// lifetime from now, should the store's clock have been ahead). A later expiry already
    /// known in memory is kept. Not written back: the store has it.
    pub(super) fn believe(&self, fact: AccountFact, until: Timestamp) {
        let left = (until.as_datetime() - Timestamp::now().as_datetime())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(fact.lifetime());
        if left.is_zero() {
            return;
        }
        let until = Instant::now() + left;
        let mut facts = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let known = facts.entry(fact).or_insert(until);
        *known = (*known).max(until);
    }

    /// The facts learnt since the last call, with the UTC time each is believed until, for
    /// the store.
    pub(super) fn take_learnt(&self) -> Vec<(AccountFact, Timestamp)> {
        std::mem::take(&mut *self.learnt.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether `fact` is remembered and not expired. Expired facts are dropped.
    pub(super) fn knows(&self, fact: &AccountFact) -> bool {
        let now = Instant::now();
        let mut facts = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        facts.retain(|_, until| *until > now);
        facts.contains_key(fact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn facts_expire_each_on_its_own() {
        let memo = Memo::default();
        let zone = |id: &str| AccountFact::GrowattPlantWithoutZone(id.into());
        memo.remember(AccountFact::FusionSolarLegacyOnly);
        assert!(memo.knows(&AccountFact::FusionSolarLegacyOnly));
        assert!(!memo.knows(&AccountFact::SolarEdgeNoV2Access), "facts are distinct");
        tokio::time::advance(Duration::from_secs(12 * 3600)).await;
        memo.remember(zone("7"));
        assert!(memo.knows(&zone("7")) && !memo.knows(&zone("8")), "plants are distinct");
        // A day after the first, it is forgotten; the later one is still believed.
        tokio::time::advance(Duration::from_secs(12 * 3600)).await;
        assert!(!memo.knows(&AccountFact::FusionSolarLegacyOnly));
        assert!(memo.knows(&zone("7")));
        tokio::time::advance(Duration::from_secs(12 * 3600)).await;
        assert!(!memo.knows(&zone("7")));
        // Remembering again starts a new lifetime.
        memo.remember(zone("7"));
        assert!(memo.knows(&zone("7")));
    }

    #[test]
    fn every_fact_has_a_stable_key_that_reads_back() {
        let facts = [
            AccountFact::SolarEdgeNoV2Access,
            AccountFact::FusionSolarLegacyOnly,
            AccountFact::FusionSolarNoKpiAccess,
            AccountFact::FusionSolarNoAlarmAccess,
            AccountFact::SungrowNoFaultListAccess,
            AccountFact::GrowattNoDetailsAccess,
            AccountFact::GrowattNoDataAccess,
            AccountFact::GrowattPlantWithoutZone("24765".into()),
        ];
        let keys: std::collections::HashSet<String> = facts.iter().map(AccountFact::key).collect();
        assert_eq!(keys.len(), facts.len(), "keys are distinct");
        for fact in facts {
            assert_eq!(AccountFact::from_key(&fact.key()), Some(fact.clone()), "{}", fact.key());
        }
        // The stored spelling the schema's comment names.
        assert_eq!(
            AccountFact::GrowattPlantWithoutZone("42".into()).key(),
            "growatt_plant_without_zone:42"
        );
        assert_eq!(AccountFact::from_key("growatt_plant_without_zone:"), None);
        assert_eq!(AccountFact::from_key("a_fact_of_a_newer_plantsync"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn learnt_facts_are_handed_over_once_and_stored_ones_are_believed() {
        let memo = Memo::default();
        memo.remember(AccountFact::GrowattNoDataAccess);
        let learnt = memo.take_learnt();
        assert_eq!(learnt.len(), 1);
        let (fact, until) = &learnt[0];
        assert_eq!(fact, &AccountFact::GrowattNoDataAccess);
        let ahead = until.as_datetime() - Timestamp::now().as_datetime();
        assert!((ahead - chrono::Duration::hours(24)).num_seconds().abs() <= 5, "{ahead}");
        assert!(memo.take_learnt().is_empty(), "handed over once");

        // A fact read from the store is believed until its time, and not handed back.
        let other = Memo::default();
        let in_an_hour = Timestamp::from_datetime(
            &(Timestamp::now().as_datetime() + chrono::Duration::hours(1)),
        );
        other.believe(AccountFact::SolarEdgeNoV2Access, in_an_hour);
        other.believe(AccountFact::FusionSolarLegacyOnly, Timestamp::now());
        assert!(other.knows(&AccountFact::SolarEdgeNoV2Access));
        assert!(!other.knows(&AccountFact::FusionSolarLegacyOnly), "already expired");
        assert!(other.take_learnt().is_empty());
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(!other.knows(&AccountFact::SolarEdgeNoV2Access));
    }
}
