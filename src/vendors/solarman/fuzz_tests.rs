//! Property tests of Solarman's decoders on mutated replies (issue 14's fuzz harness): the
//! recorded and hand-written fixtures, spoiled by the one mutation engine
//! ([`crate::simulator::mutate`]), through the envelope classifier, `wire` and `convert`
//! and the sync's central step: no panic, every value inside its rule, every error bounded.

use super::{client, convert, wire};
use crate::domain::{Timestamp, VendorPlant};
use crate::simulator::mutate::check;
use proptest::prelude::*;

/// What the adapter does with any reply first: a `success:false` envelope is classified,
/// and that error must be bounded too. Whether to go on reading the reply.
fn envelope(response: &crate::vendors::http::Response) -> Result<bool, String> {
    match response.parse::<wire::Envelope>("Solarman response") {
        Ok(envelope) if envelope.success == Some(false) => {
            check::error(&client::classify(&envelope).to_string())?;
            Ok(false)
        }
        Ok(_) => Ok(true),
        Err(error) => check::error(&error.to_string()).map(|()| false),
    }
}

fn station_lists(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solarman", &["station_list"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            match response.parse::<wire::StationPage>("Solarman station list") {
                Ok(page) => {
                    check::rows(&page.station_list.unwrap_or_default(), convert::plant, |plant| {
                        check::plant(plant, now)
                    })
                }
                Err(error) => check::error(&error.to_string()),
            }
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn realtime(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solarman", &["realtime"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            match response.parse::<wire::RealTime>("Solarman realtime") {
                Ok(realtime) => {
                    let mut plant =
                        VendorPlant { vendor_plant_id: "895".into(), ..VendorPlant::default() };
                    convert::apply_realtime(&mut plant, &realtime);
                    check::plant(plant, now)
                }
                Err(error) => check::error(&error.to_string()),
            }
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn alert_lists(seed: u64) -> Result<(), String> {
    let now = Timestamp::now();
    for (name, fixture) in check::fixtures("solarman", &["alert_list"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            match response.parse::<wire::AlertPage>("Solarman alert list") {
                Ok(page) => check::rows(
                    &page.alert_list.unwrap_or_default(),
                    |row, raw: &str| convert::alert("895", "2106123456", row, raw),
                    |alert| check::alert(alert, now),
                ),
                Err(error) => check::error(&error.to_string()),
            }
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

fn tokens(seed: u64) -> Result<(), String> {
    for (name, fixture) in check::fixtures("solarman", &["token"]) {
        let response = check::reply(&fixture, seed);
        let outcome = (|| {
            if !envelope(&response)? {
                return Ok(());
            }
            match response.parse::<wire::TokenResponse>("Solarman token response") {
                Ok(token) => match convert::token(token, Timestamp::now()) {
                    Ok(_) => Ok(()),
                    Err(error) => check::error(&error),
                },
                Err(error) => check::error(&error.to_string()),
            }
        })();
        outcome.map_err(|e| format!("{name}, seed {seed}: {e}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: check::CASES, ..ProptestConfig::default() })]

    #[test]
    fn station_lists_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(station_lists(seed), Ok(()));
    }

    #[test]
    fn realtime_survives_mutation(seed in any::<u64>()) {
        prop_assert_eq!(realtime(seed), Ok(()));
    }

    #[test]
    fn alert_lists_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(alert_lists(seed), Ok(()));
    }

    #[test]
    fn token_replies_survive_mutation(seed in any::<u64>()) {
        prop_assert_eq!(tokens(seed), Ok(()));
    }
}

/// Seeds that found defects, kept as regression cases.
#[test]
fn regression_seeds() {
    for seed in 0..200 {
        assert_eq!(station_lists(seed), Ok(()));
        assert_eq!(realtime(seed), Ok(()));
        assert_eq!(alert_lists(seed), Ok(()));
        assert_eq!(tokens(seed), Ok(()));
    }
}
