//! Property tests of Growatt's decoders on mutated replies (issue 14's fuzz harness): the
//! recorded and hand-written fixtures, spoiled by the one mutation engine
//! ([`crate::simulator::mutate`]), through the envelope classifier, `wire` and `convert`
//! and the sync's central step: no panic, every value inside its rule, every error bounded.

use super::{client, convert, wire};
use crate::domain::{Timestamp, VendorPlant};
use crate::simulator::mutate::check;
use crate::vendors::http::Response;
use proptest::prelude::*;
use std::time::Duration;

/// The envelope check: an `error_code` is classified, and that error must be bounded too.
/// Whether to go on reading the reply.
fn envelope(response: &Response) -> Result<bool, String> {
    match response.parse::<wire::Envelope>("Growatt response") {
        Ok(envelope) => match envelope.error_code.filter(|code| *code != 0) {
            Some(code) => {
                let message = envelope.error_msg.as_deref().unwrap_or("");
                let error = client::classify(code, message, Duration::from_secs(60));
                check::error(&error.to_string()).map(|()| false)
            }
            None => Ok(true),
        },
        Err(error) => check::error(&error.to_string()).map(|()| false),
    }
}

fn plant_lists(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("growatt", &["plant_list", "error_retired"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            match response.parse::<wire::Data<wire::PlantPage>>("Growatt plant list") {
                Ok(data) => {
                    let rows = data.data.and_then(|page| page.plants).unwrap_or_default();
                    check::rows(&rows, convert::plant, |plant| check::plant(plant, now))
                }
                Err(error) => check::error(&error.to_string()),
            }
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn plant_data(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("growatt", &["plant_data", "plant_details"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            let mut plant = VendorPlant { vendor_plant_id: "1".into(), ..VendorPlant::default() };
            if name.starts_with("plant_data") {
                match response.parse::<wire::Data<wire::PlantData>>("Growatt plant data") {
                    Ok(data) => {
                        data.data.iter().for_each(|d| convert::apply_data(&mut plant, d, &now))
                    }
                    Err(error) => return check::error(&error.to_string()),
                }
            } else {
                match response.parse::<wire::Data<wire::PlantDetails>>("Growatt plant details") {
                    Ok(data) => {
                        data.data.iter().for_each(|d| convert::apply_coordinates(&mut plant, d))
                    }
                    Err(error) => return check::error(&error.to_string()),
                }
            }
            check::plant(plant, now)
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: check::CASES, ..ProptestConfig::default() })]

    #[test]
    fn plant_lists_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(plant_lists(seed), Ok(()));
    }

    #[test]
    fn plant_data_survives_mutation(seed in any::<u64>()) {
        prop_assert_eq!(plant_data(seed), Ok(()));
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
        let fixture = json!({"error_code":0,"error_msg":"","data":{"count":2,"time_unit":"day",
            "energys":[{"date":"2018-12-12","energy":"0"},{"date":"2018-12-13","energy":"7.6"}]}});
        let response = check::reply(&fixture, seed);
        match response.parse::<wire::Data<wire::Energies>>("Growatt plant energy") {
            Ok(data) => {
                let rows = data.data.and_then(|d| d.energys).unwrap_or_default();
                check::rows(&rows, |row, _| convert::energy_day("1", row), day)
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
