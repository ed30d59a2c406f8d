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
}

/// The facts remembered about one account, each with its own expiry.
#[derive(Debug, Default)]
pub(super) struct Memo {
    until: Mutex<HashMap<AccountFact, Instant>>,
}

impl Memo {
    /// Remembers `fact` for its [`AccountFact::lifetime`] from now.
    pub(super) fn remember(&self, fact: AccountFact) {
        let until = Instant::now() + fact.lifetime();
        let mut facts = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        facts.insert(fact, until);
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
}
