//! How many optional calls (site overviews, the alert list) a sync may spend of SolarEdge's
//! daily quota of 300 requests per key.
//!
//! The plant listing is what must keep working all day, so the plan first reserves one
//! listing (and one alert call) for every sync still to come before the quota resets (at
//! the end of the portal's day, which the quota says), at the organization's interval, and spreads what is left evenly over those
//! syncs. A sync whose share rounds down to nothing gets one call when it is its turn (see
//! [`Plan::one_call_every`]).

use std::time::Duration;

/// The interval assumed when the organization's is not known (plantsync's default).
pub(super) const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// The alert call of the sync being planned, which comes after its overviews.
const THIS_SYNCS_ALERT_CALL: u32 = 1;
/// Requests never planned, for what no plan sees: a retried listing page, a manual
/// `plantsync sync`, a restart's second look. Every sync reads overviews now (the real
/// list's bare date says nothing of the readings), so without it the plan would spend the
/// whole spare quota and leave nothing for those.
const UNPLANNED_SLACK: u32 = 6;

/// What a sync may spend on optional calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Calls this sync may make now.
    pub calls: u32,
    /// When `calls` is 0 but some quota is spare: one call may be made once per this
    /// interval (so the spare is spread over the day, not spent by the first syncs).
    pub one_call_every: Option<Duration>,
    /// The listings still to come today need more than is left: syncs will fail with a
    /// spent quota before the reset unless the interval grows.
    pub listings_short: bool,
}

/// The syncs still to come before the reset at one every `interval`.
fn future_syncs(until_reset: Duration, interval: Duration) -> u32 {
    (until_reset.as_secs() / interval.as_secs().max(1)) as u32
}

/// The plan for a sync, given the requests left today, what one sync needs for its listing
/// and alerts (`per_sync_cost`), the time left until the reset and the sync interval.
pub(super) fn optional_calls(
    remaining: u32,
    per_sync_cost: u32,
    until_reset: Duration,
    interval: Duration,
) -> Plan {
    let future = future_syncs(until_reset, interval);
    // Every later sync's listing and alert call, and this sync's own alert call.
    let reserve = per_sync_cost.saturating_mul(future).saturating_add(THIS_SYNCS_ALERT_CALL);
    let spare = remaining.saturating_sub(reserve).saturating_sub(UNPLANNED_SLACK);
    let calls = spare / (future + 1);
    let one_call_every = (calls == 0 && spare > 0).then(|| until_reset / spare);
    Plan { calls, one_call_every, listings_short: reserve > remaining }
}

/// The shortest interval at which `per_sync_cost` a sync fits in `limit` a day.
pub(super) fn shortest_interval(per_sync_cost: u32, limit: u32) -> Duration {
    let syncs_a_day = (limit / per_sync_cost.max(1)).max(1);
    Duration::from_secs((24 * 3600u64).div_ceil(u64::from(syncs_a_day)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn a_fresh_day_spreads_the_spare_quota() {
        // 00:00, 300 left, 2 listing pages + 1 alert call per sync: 96 syncs to come and
        // this sync's alert call need 289, 6 are never planned, so 5 are spare, fewer
        // than one per sync: one call every 24/5 hours.
        let plan = optional_calls(300, 3, DAY, DEFAULT_INTERVAL);
        assert_eq!(plan.calls, 0);
        assert_eq!(plan.one_call_every, Some(DAY / 5));
        assert!(!plan.listings_short);
        // A small account (1 page, 96 listings and 97 alert calls) has one a sync.
        let plan = optional_calls(300, 2, DAY, DEFAULT_INTERVAL);
        assert_eq!((plan.calls, plan.one_call_every), (1, None), "(300 - 193 - 6) / 97");
        // An hourly organization has plenty too.
        let plan = optional_calls(300, 3, DAY, Duration::from_secs(3600));
        assert_eq!(plan.calls, 8, "(300 - 3 * 24 - 1 - 6) / 25");
    }

    #[test]
    fn late_in_the_day_what_is_left_may_be_spent() {
        let plan = optional_calls(40, 3, Duration::from_secs(10 * 60), DEFAULT_INTERVAL);
        assert_eq!(plan.calls, 33, "all but this sync's alert call and the unplanned slack");
    }

    #[test]
    fn a_spent_quota_allows_nothing_and_short_listings_are_flagged() {
        let spent = optional_calls(0, 1, Duration::from_secs(3600), DEFAULT_INTERVAL);
        assert_eq!(spent, Plan { calls: 0, one_call_every: None, listings_short: true });
        // Every 5 minutes, 2 pages: 576 listing calls a day for a quota of 300.
        let fast = optional_calls(300, 3, DAY, Duration::from_secs(300));
        assert_eq!((fast.calls, fast.listings_short), (0, true));
        assert_eq!(shortest_interval(3, 300), Duration::from_secs(864), "100 syncs a day");
    }

    proptest! {
        /// Following the plan, listings never lack quota: the optional calls of this sync
        /// plus the reserve of every sync to come fit in what is left.
        #[test]
        fn plan_never_eats_the_listing_reserve(
            remaining in 0u32..400,
            cost in 1u32..6,
            secs in 1u64..86_400,
            minutes in 1u64..1440,
        ) {
            let (until, interval) = (Duration::from_secs(secs), Duration::from_secs(minutes * 60));
            let plan = optional_calls(remaining, cost, until, interval);
            let reserve = cost * future_syncs(until, interval) + THIS_SYNCS_ALERT_CALL;
            prop_assert_eq!(plan.listings_short, reserve > remaining);
            if remaining >= reserve {
                prop_assert!(plan.calls + reserve + UNPLANNED_SLACK.min(remaining - reserve) <= remaining);
                if plan.one_call_every.is_some() {
                    prop_assert!(reserve < remaining);
                }
            } else {
                prop_assert_eq!((plan.calls, plan.one_call_every), (0, None));
            }
        }
    }
}
