//! Property tests of SolarEdge's decoders on mutated replies (issue 14's fuzz harness): the
//! recorded and hand-written fixtures, spoiled by the one mutation engine
//! ([`crate::simulator::mutate`]), through `wire` and `convert` and the sync's central
//! step: no panic, every value inside its rule, every error bounded. (SolarEdge has no
//! envelope: its errors are HTTP statuses.)

use super::{convert, wire};
use crate::domain::{Timestamp, VendorPlant};
use crate::simulator::mutate::check;
use proptest::prelude::*;

fn site_lists(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solaredge", &["sites_list"]) {
        let response = check::reply(&fixture, seed);
        let outcome = match response.parse::<wire::SitesEnvelope>("SolarEdge site list") {
            Ok(envelope) => {
                let page = envelope.sites;
                let rows = page.and_then(|p| p.site.or(p.list)).unwrap_or_default();
                check::rows(
                    &rows,
                    |site, raw: &str| convert::plant(site, raw, &now),
                    |plant| check::plant(plant, now),
                )
            }
            Err(error) => check::error(&error.to_string()),
        };
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn overviews(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solaredge", &["overview_bulk", "sites_overview_bulk"]) {
        let response = check::reply(&fixture, seed);
        let outcome = match response.parse::<wire::BulkOverview>("SolarEdge site overview") {
            Ok(bulk) => {
                let entries =
                    bulk.sites_overviews.and_then(|l| l.site_energy_list).unwrap_or_default();
                entries.iter().try_for_each(|entry| {
                    match serde_json::from_str::<wire::OverviewEntry>(entry.get()) {
                        Ok(wire::OverviewEntry { site_overview: Some(overview), .. }) => {
                            let mut plant = VendorPlant {
                                vendor_plant_id: "1".into(),
                                capacity_kw: Some(10.0),
                                ..VendorPlant::default()
                            };
                            convert::apply_overview(&mut plant, &overview, &now);
                            check::plant(plant, now)
                        }
                        _ => Ok(()),
                    }
                })
            }
            Err(error) => check::error(&error.to_string()),
        };
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn alert_lists(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solaredge", &["alerts_v2"]) {
        let response = check::reply(&fixture, seed);
        let outcome = match response
            .parse::<Vec<Box<serde_json::value::RawValue>>>("SolarEdge v2 alert list")
        {
            Ok(rows) => check::rows(&rows, convert::alert, |alert| check::alert(alert, now)),
            Err(error) => check::error(&error.to_string()),
        };
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: check::CASES, ..ProptestConfig::default() })]

    #[test]
    fn site_lists_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(site_lists(seed), Ok(()));
    }

    #[test]
    fn overviews_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(overviews(seed), Ok(()));
    }

    #[test]
    fn alert_lists_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(alert_lists(seed), Ok(()));
    }
}

/// The daily-history decoder on mutated replies of the documented shape
/// (vendor-history-apis.md): no panic, finite values, bounded row errors.
mod history {
    use super::super::{convert, wire};
    use crate::simulator::mutate::check;
    use proptest::prelude::*;
    use serde_json::json;

    /// A decoded day: a value, when there is one, is a finite number (the engine's
    /// plausibility rule drops the rest).
    #[allow(clippy::needless_pass_by_value)] // `check::rows` hands each row over by value
    fn day(day: crate::vendors::history::VendorDay) -> Result<(), String> {
        match day.energy_kwh {
            Some(kwh) if !kwh.is_finite() => Err(format!("a day of {kwh} kWh")),
            _ => Ok(()),
        }
    }

    fn history(seed: u64) -> Result<(), String> {
        let fixture = json!({"sitesEnergy":{"timeUnit":"DAY","unit":"Wh","count":1,"siteEnergyList":[
            {"siteId":1,"energyValues":{"measuredBy":"INVERTER","values":[
                {"date":"2019-05-27 00:00:00","value":14679.0},{"date":"2019-05-28 00:00:00","value":null}]}}]}});
        let response = check::reply(&fixture, seed);
        match response.parse::<wire::BulkEnergy>("SolarEdge sites energy") {
            Ok(bulk) => {
                let Some(series) = bulk.sites_energy else { return Ok(()) };
                let Some(factor) = convert::units_per_kwh(series.unit.as_deref()) else {
                    return Ok(());
                };
                for entry in series.site_energy_list.unwrap_or_default() {
                    let Ok(entry) = serde_json::from_str::<wire::SiteEnergyEntry>(entry.get())
                    else {
                        continue;
                    };
                    let id = entry.site_id.unwrap_or_default();
                    let rows = entry.energy_values.and_then(|v| v.values).unwrap_or_default();
                    check::rows(&rows, |v, _| convert::energy_day(&id, v, factor), day)?;
                }
                Ok(())
            }
            Err(error) => check::error(&error.to_string()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: check::CASES, ..ProptestConfig::default() })]

        #[test]
        fn history_survives_mutation(seed in any::<u64>()) {
            prop_assert_eq!(history(seed), Ok(()));
        }
    }
}
