//! How many optional calls (site overviews, the alert list) a sync may spend of SolarEdge's
//! daily quota of 300 requests per key.
//!
//! The plant listing is what must keep working all day, so the plan first reserves one
//! listing (and one alert call) for every sync still to come before the quota resets at
//! 00:00 UTC, assuming a sync every [`ASSUMED_INTERVAL`], and spreads what is left evenly
//! over those syncs. A sync whose share rounds down to nothing gets one call when it is
//! its turn (see [`Plan::one_call_every`]).

use std::time::Duration;

/// The default schedule interval of plantsync; the adapter does not know the
/// organization's own, and a longer one only leaves more to spare.
pub(super) const ASSUMED_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// What a sync may spend on optional calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Calls this sync may make now.
    pub calls: u32,
    /// When `calls` is 0 but some quota is spare: one call may be made once per this
    /// interval (so the spare is spread over the day, not spent by the first syncs).
    pub one_call_every: Option<Duration>,
}

/// The plan for a sync, given the requests left today, what one future sync needs for its
/// listing and alerts (`per_sync_cost`) and the time left until the reset.
pub(super) fn optional_calls(remaining: u32, per_sync_cost: u32, until_reset: Duration) -> Plan {
    let future_syncs = (until_reset.as_secs() / ASSUMED_INTERVAL.as_secs()) as u32;
    let reserve = per_sync_cost.saturating_mul(future_syncs);
    let spare = remaining.saturating_sub(reserve);
    let calls = spare / (future_syncs + 1);
    let one_call_every = (calls == 0 && spare > 0).then(|| until_reset / spare);
    Plan { calls, one_call_every }
}

/// Time left until the quota's day (UTC) ends.
pub(super) fn until_reset(now: chrono::DateTime<chrono::Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
    tomorrow
        .map(|t| (t.and_utc() - now).to_std().unwrap_or_default())
        .unwrap_or(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_fresh_day_spreads_the_spare_quota() {
        // 00:00, 300 left, 2 listing pages + 1 alert call per sync: 96 syncs to come need
        // 288, so 12 are spare, fewer than one per sync: one call every 2 hours.
        let plan = optional_calls(300, 3, Duration::from_secs(24 * 3600));
        assert_eq!(plan.calls, 0);
        assert_eq!(plan.one_call_every, Some(Duration::from_secs(2 * 3600)));
        // A small account (1 page) has plenty.
        let plan = optional_calls(300, 1, Duration::from_secs(24 * 3600));
        assert_eq!(plan, Plan { calls: 2, one_call_every: None });
    }

    #[test]
    fn late_in_the_day_what_is_left_may_be_spent() {
        let plan = optional_calls(40, 3, Duration::from_secs(10 * 60));
        assert_eq!(plan.calls, 40);
    }

    #[test]
    fn a_spent_quota_allows_nothing() {
        assert_eq!(
            optional_calls(0, 1, Duration::from_secs(3600)),
            Plan { calls: 0, one_call_every: None }
        );
        let short = optional_calls(5, 3, Duration::from_secs(3600));
        assert_eq!(short, Plan { calls: 0, one_call_every: None }, "listings come first");
    }

    #[test]
    fn reset_is_at_utc_midnight() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(until_reset(at("2026-11-29T23:00:00Z")), Duration::from_secs(3600));
        assert_eq!(until_reset(at("2026-11-29T00:00:00Z")), Duration::from_secs(24 * 3600));
    }

    proptest! {
        /// Following the plan, listings never lack quota: the optional calls of this sync
        /// plus the reserve of every sync to come fit in what is left.
        #[test]
        fn plan_never_eats_the_listing_reserve(
            remaining in 0u32..400,
            cost in 1u32..6,
            secs in 1u64..86_400,
        ) {
            let until = Duration::from_secs(secs);
            let plan = optional_calls(remaining, cost, until);
            let future = (secs / ASSUMED_INTERVAL.as_secs()) as u32;
            let reserve = cost * future;
            if remaining >= reserve {
                prop_assert!(plan.calls + reserve <= remaining);
                if plan.one_call_every.is_some() {
                    prop_assert!(reserve < remaining);
                }
            } else {
                prop_assert_eq!(plan, Plan { calls: 0, one_call_every: None });
            }
        }
    }
}
