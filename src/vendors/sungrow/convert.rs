//! Sungrow wire records to domain records. Pure: no I/O, tested on recorded payloads.

use super::wire::{Fault, LoginData, OAuthToken, PointRow, Station, UnitValue};
use crate::domain::{
    AlertStatus, PlantStatus, Secret, Severity, Timestamp, Token, VendorAlert, VendorPlant,
};
use crate::vendors::codes;
use crate::vendors::history::VendorDay;
use crate::vendors::zones::zone_from_gmt;
use chrono::{DateTime, NaiveDateTime, TimeZone};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// The zone of times Sungrow sends without an offset (its servers' time).
pub(super) const SERVER_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Lifetime assumed for a login-flow token: Sungrow does not publish one, OAuth defaults to
/// 7200 s (vendor-apis.md §2.3); an earlier expiry is caught by `E00003` and one re-login.
const DEFAULT_TOKEN_SECONDS: i64 = 7200;

fn expires_after(now: Timestamp, seconds: i64) -> Option<Timestamp> {
    Timestamp::from_unix_millis(now.as_datetime().timestamp_millis() + seconds * 1000)
}

/// A token from the login call's `result_data` (login flow).
pub(super) fn login_token(data: LoginData, now: Timestamp) -> Result<Token, String> {
    let access = data.token.filter(|t| !t.is_empty()).ok_or("login succeeded without a token")?;
    Ok(Token {
        access: Secret::new(access),
        refresh: None,
        expires_at: expires_after(now, DEFAULT_TOKEN_SECONDS),
        metadata: serde_json::json!({"user_id": data.user_id, "stored_at": now.to_canonical()}),
    })
}

/// A token from an OAuth response, whichever shape it came in: fields at the top level
/// (pysolarcloud) or inside `result_data` (other clients). A refresh response without a new
/// refresh token keeps `previous_refresh` (pysolarcloud #62).
pub(super) fn oauth_token(
    response: &Value,
    previous_refresh: Option<&Secret>,
    now: Timestamp,
) -> Result<Token, String> {
    let read = |value: &Value| serde_json::from_value::<OAuthToken>(value.clone()).ok();
    let top = read(response).filter(|t| t.access_token.is_some());
    let nested = response.get("result_data").and_then(read).filter(|t| t.access_token.is_some());
    let parsed = top.or(nested).ok_or("no access_token at the top level or in result_data")?;
    let access = parsed.access_token.unwrap_or_default();
    let expires_in = parsed.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS);
    Ok(Token {
        access: Secret::new(access),
        refresh: parsed.refresh_token.map(Secret::new).or_else(|| previous_refresh.cloned()),
        expires_at: expires_after(now, expires_in),
        metadata: serde_json::json!({"expires_in": expires_in, "stored_at": now.to_canonical()}),
    })
}

/// How a unit becomes plantsync's: a value is divided (`W` to kW: dividing rather than
/// multiplying by 0.001 keeps `4310 W` at exactly `4.31 kW`) or multiplied.
#[derive(Debug, Clone, Copy)]
enum Scale {
    Divide(f64),
    Multiply(f64),
}

/// Power units to kW. The portal localizes units to the account's language: the Chinese
/// spellings are those of the portal's own documentation (`千瓦` kW, `瓦` W, `兆瓦` MW).
const POWER_UNITS: &[(&str, Scale)] = &[
    ("W", Scale::Divide(1000.0)),
    ("瓦", Scale::Divide(1000.0)),
    ("kW", Scale::Multiply(1.0)),
    ("千瓦", Scale::Multiply(1.0)),
    ("MW", Scale::Multiply(1000.0)),
    ("兆瓦", Scale::Multiply(1000.0)),
];

/// Energy units to kWh. `度` (one "degree" of electricity) is the kWh of Chinese usage and
/// the unit of Sungrow's own `getPowerStationList` example; `万度` is 10,000 of them.
const ENERGY_UNITS: &[(&str, Scale)] = &[
    ("Wh", Scale::Divide(1000.0)),
    ("瓦时", Scale::Divide(1000.0)),
    ("kWh", Scale::Multiply(1.0)),
    ("千瓦时", Scale::Multiply(1.0)),
    ("度", Scale::Multiply(1.0)),
    ("万度", Scale::Multiply(10_000.0)),
    ("MWh", Scale::Multiply(1000.0)),
    ("兆瓦时", Scale::Multiply(1000.0)),
    ("GWh", Scale::Multiply(1_000_000.0)),
];

/// Capacity units to kW(p).
const CAPACITY_UNITS: &[(&str, Scale)] = &[
    ("Wp", Scale::Divide(1000.0)),
    ("W", Scale::Divide(1000.0)),
    ("瓦", Scale::Divide(1000.0)),
    ("kWp", Scale::Multiply(1.0)),
    ("kW", Scale::Multiply(1.0)),
    ("千瓦", Scale::Multiply(1.0)),
    ("MWp", Scale::Multiply(1000.0)),
    ("MW", Scale::Multiply(1000.0)),
    ("兆瓦", Scale::Multiply(1000.0)),
];

/// A reading in a unit plantsync does not know: the reading is left unset (the plant is
/// kept) and the unit is reported once per listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnknownUnit(pub String);

/// A `{unit, value}` power reading in kW.
pub(super) fn power_kw(reading: &UnitValue) -> Result<Option<f64>, UnknownUnit> {
    scaled(reading, POWER_UNITS)
}

/// A `{unit, value}` energy reading in kWh.
pub(super) fn energy_kwh(reading: &UnitValue) -> Result<Option<f64>, UnknownUnit> {
    scaled(reading, ENERGY_UNITS)
}

/// A `{unit, value}` capacity in kW(p).
pub(super) fn capacity_kw(reading: &UnitValue) -> Result<Option<f64>, UnknownUnit> {
    scaled(reading, CAPACITY_UNITS)
}

fn scaled(reading: &UnitValue, units: &[(&str, Scale)]) -> Result<Option<f64>, UnknownUnit> {
    let Some(value) = reading.value else { return Ok(None) };
    let unit = reading.unit.as_deref().unwrap_or("").trim();
    let (_, scale) =
        units.iter().find(|(name, _)| *name == unit).ok_or_else(|| UnknownUnit(unit.to_owned()))?;
    Ok(Some(match scale {
        Scale::Divide(by) => value / by,
        Scale::Multiply(by) => value * by,
    }))
}

/// The units a listing met that plantsync does not know, each once, for one warning.
#[derive(Debug, Default)]
pub(super) struct UnknownUnits(Mutex<BTreeSet<String>>);

impl UnknownUnits {
    /// The reading, or `None` (and the unit noted) when its unit is unknown.
    fn keep(&self, field: &str, reading: Result<Option<f64>, UnknownUnit>) -> Option<f64> {
        match reading {
            Ok(value) => value,
            Err(UnknownUnit(unit)) => {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    // Bounded and escaped: a unit is the portal's text, of any length.
                    .insert(format!("'{}' ({field})", crate::domain::text::excerpt(&unit, 32)));
                None
            }
        }
    }

    /// One warning naming every unknown unit met, or none.
    pub(super) fn warning(&self) -> Option<String> {
        let units = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!units.is_empty()).then(|| {
            format!(
                "readings in units plantsync does not know were left unset: {}",
                units.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// An ISO time with an offset, or `yyyy-MM-dd HH:mm:ss` / `yyyyMMddHHmmss` in server time.
pub(super) fn time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(Timestamp::from_datetime(&with_offset));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S"].iter().find_map(|format| {
        let naive = NaiveDateTime::parse_from_str(text, format).ok()?;
        SERVER_ZONE.from_local_datetime(&naive).earliest().map(|t| Timestamp::from_datetime(&t))
    })
}

/// One station row to a plant. A reading in a unit plantsync does not know is left unset
/// and noted in `units`: the plant, its name and its other readings are kept.
pub(super) fn plant(
    station: Station,
    raw: &str,
    units: &UnknownUnits,
) -> Result<VendorPlant, String> {
    let id = station.ps_id.ok_or("plant without a ps_id")?;
    let capacity = match &station.total_capcity {
        Some(reading) => units.keep("total_capcity", capacity_kw(reading)),
        None => station.installed_power,
    };
    let power = station.curr_power.as_ref().and_then(|r| units.keep("curr_power", power_kw(r)));
    let today =
        station.today_energy.as_ref().and_then(|r| units.keep("today_energy", energy_kwh(r)));
    let total =
        station.total_energy.as_ref().and_then(|r| units.keep("total_energy", energy_kwh(r)));
    let state = plant_state(station.ps_status, station.ps_fault_status);
    Ok(VendorPlant {
        name: station.ps_name,
        capacity_kw: capacity,
        address: station.ps_location,
        latitude: station.latitude,
        longitude: station.longitude,
        timezone: station.ps_current_time_zone.as_deref().and_then(zone_from_gmt),
        status: state.as_ref().map(|(_, status)| *status),
        network_status: state.map(|(word, _)| word),
        current_power_kw: power,
        daily_energy_kwh: today,
        total_energy_kwh: total,
        vendor_updated_at: station.curr_power_update_time.as_deref().and_then(time),
        raw_json: Some(raw.to_owned()),
        vendor_plant_id: id,
    })
}

/// Sungrow sends codes, not words: `ps_status` (1 online, 0 offline) with
/// `ps_fault_status` (1 fault, 2 alarm, 3 normal) as one word built from both, so it never
/// contradicts the normalized status (a faulted plant is not `NORMAL`), and plantsync's
/// status: an online plant with a fault is `fault`; an alarm is a warning, still `online`.
/// Another `ps_status` is `unknown` under its digits, or nothing for garbage
/// ([`codes::unknown_code`]).
fn plant_state(online: Option<i64>, fault: Option<i64>) -> Option<(String, PlantStatus)> {
    let (word, status) = match (online?, fault) {
        (0, _) => ("ALL_OFFLINE", PlantStatus::Offline),
        (1, Some(1)) => ("FAULT", PlantStatus::Fault),
        (1, Some(2)) => ("ALARM", PlantStatus::Online),
        (1, _) => ("NORMAL", PlantStatus::Online),
        (other, _) => return codes::unknown_code(other),
    };
    Some((word.to_owned(), status))
}

/// Sungrow `fault_level` (1 most severe .. 4 least) to a severity. The level names are not
/// published in English; this order follows the portal's colour coding [U].
pub(super) fn severity(level: Option<i64>) -> Severity {
    match level {
        Some(1) => Severity::Critical,
        Some(2) => Severity::High,
        Some(4) => Severity::Low,
        _ => Severity::Medium,
    }
}

/// One fault row to an occurrence keyed `ps_id|ps_key|fault_code|create_time` (§2.5);
/// resolved only when the vendor gives `over_time` (its `"--"` and empty placeholders are
/// "still open"). A row without `ps_key` takes its `device_sn` in that place: without
/// either, the faults of two devices of a plant with one code and start time would share a
/// key, and one of them would be lost.
pub(super) fn alert(fault: Fault, raw: &str) -> Result<VendorAlert, String> {
    let ps_id = fault.ps_id.ok_or("fault without ps_id")?;
    let created = fault.create_time.ok_or("fault without create_time")?;
    let started_at =
        time(&created).ok_or_else(|| format!("create_time '{created}' is not a time"))?;
    let ended_at = match fault.over_time.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => Some(time(text).ok_or_else(|| format!("over_time '{text}' is not a time"))?),
        None => None,
    };
    let occurrence = fault.fault_code.unwrap_or_default();
    let device = fault.ps_key.as_deref().or(fault.device_sn.as_deref()).unwrap_or("");
    // The type's code names the alert where the portal sends one beside an occurrence id.
    let code = fault.fault_type_code.unwrap_or_else(|| occurrence.clone());
    Ok(VendorAlert {
        vendor_alert_key: format!("{ps_id}|{device}|{occurrence}|{created}"),
        vendor_plant_id: Some(ps_id),
        device_sn: fault.device_sn,
        severity: severity(fault.fault_level),
        status: if ended_at.is_some() { AlertStatus::Resolved } else { AlertStatus::Active },
        title: fault.fault_name.unwrap_or_else(|| format!("Fault {code}")),
        code: (!code.is_empty()).then_some(code),
        description: fault.fault_desc,
        started_at: Some(started_at),
        ended_at,
        raw_json: Some(raw.to_owned()),
    })
}

/// One `p83022` row of plant `ps_id`: the day from `time_stamp` (`yyyyMMdd`, the plant's
/// local day), the value from Wh text to kWh; a row without a value is "no data".
pub(super) fn history_day(ps_id: &str, row: PointRow) -> Result<VendorDay, String> {
    let stamp = row.time_stamp.ok_or("a p83022 row without time_stamp")?;
    let day = chrono::NaiveDate::parse_from_str(stamp.get(..8).unwrap_or(&stamp), "%Y%m%d")
        .map_err(|_| format!("a p83022 row stamped '{stamp}', not yyyyMMdd"))?;
    Ok(VendorDay {
        vendor_plant_id: ps_id.to_owned(),
        day,
        energy_kwh: row.peak.map(|wh| wh / 1000.0),
    })
}

#[cfg(test)]
mod tests {
    use super::super::wire::Page;
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/sungrow/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn rows(name: &str) -> Vec<Box<serde_json::value::RawValue>> {
        let page: Page = serde_json::from_str(&fixture(name)["result_data"].to_string()).unwrap();
        page.page_list.unwrap()
    }

    fn decode(row: &serde_json::value::RawValue) -> Result<VendorPlant, String> {
        serde_json::from_str::<Station>(row.get())
            .map_err(|e| e.to_string())
            .and_then(|s| plant(s, row.get(), &UnknownUnits::default()))
    }

    /// A live reply (PV_Siegel, Germany, `GMT+2`), closed where the stored copy was cut:
    /// every field the plant takes. Its readings are stamped `2026-04-06T05:01:52+08:00`,
    /// server time, which is 23:01 on 2026-04-05 at the plant: the day's 64.8 kWh belong to
    /// the 5th, the plant's day, not to the server's date.
    #[test]
    fn a_live_reply_converts_field_by_field_and_its_readings_keep_the_plants_day() {
        let units = UnknownUnits::default();
        let rows = rows("recorded/getPowerStationList__siegel_truncated.json");
        assert_eq!(rows.len(), 1);
        let station: Station = serde_json::from_str(rows[0].get()).unwrap();
        let plant = plant(station, rows[0].get(), &units).unwrap();
        assert_eq!(plant.vendor_plant_id, "5425899");
        assert_eq!(plant.name.as_deref(), Some("PV_Siegel"));
        assert_eq!(plant.capacity_kw, Some(21.93));
        assert_eq!(plant.address.as_deref(), Some("Geisaer Weg 13, 36100 Petersberg, Deutschland"));
        assert_eq!(plant.latitude, Some(50.56129590941345));
        assert_eq!(plant.longitude, Some(9.72615326343812));
        assert_eq!(plant.timezone.as_deref(), Some("Etc/GMT-2"));
        assert_eq!(plant.network_status.as_deref(), Some("NORMAL"));
        assert_eq!(plant.status, Some(PlantStatus::Online));
        assert_eq!(plant.current_power_kw, Some(0.0), "a real zero at night");
        assert_eq!(plant.daily_energy_kwh, Some(64.8));
        assert_eq!(plant.total_energy_kwh, Some(43_130.0), "MWh to kWh");
        let updated = plant.vendor_updated_at.unwrap();
        assert_eq!(updated.to_canonical(), "2026-04-05T21:01:52.000Z");
        assert_eq!(plant.readings_day(), chrono::NaiveDate::from_ymd_opt(2026, 4, 5));
        assert_eq!(units.warning(), None, "every unit known");
    }

    /// The stored copy of that reply really ended inside `co2_reduce`: a body cut there is
    /// a malformed reply, never a page of fewer plants.
    #[test]
    fn a_body_cut_where_the_recording_was_cut_is_malformed() {
        let closed = std::fs::read_to_string(format!(
            "{}/tests/fixtures/sungrow/recorded/getPowerStationList__siegel_truncated.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let cut_at = closed.find("\"co2_reduce_total\"").unwrap();
        let cut = format!("{}\"co2_reduce\":{{\"unit\":\"kg\",\"value\"", &closed[..cut_at]);
        let error = serde_json::from_str::<super::super::wire::Data<Page>>(&cut).unwrap_err();
        assert!(error.is_eof(), "{error}");
    }

    /// Sungrow's documented `getFaultAlarmInfo` example, as far as the stored copy goes (it
    /// stops inside the first row): cut there it is malformed; closed at the cut, the row
    /// gives its occurrence, the type's code (`60064`, not the occurrence id) and its start
    /// in server time.
    #[test]
    fn the_documented_fault_example_gives_its_occurrence() {
        let path = format!(
            "{}/tests/fixtures/sungrow/recorded/getFaultAlarmInfo__cn_openapi_doc_partial.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let cut = std::fs::read_to_string(path).unwrap();
        let error = serde_json::from_str::<super::super::wire::Data<Page>>(&cut).unwrap_err();
        assert!(error.is_eof(), "{error}");
        let closed = format!("{}}}]}}}}", cut.trim_end().trim_end_matches(','));
        let page: super::super::wire::Data<Page> = serde_json::from_str(&closed).unwrap();
        let rows = page.result_data.unwrap().page_list.unwrap();
        let fault: Fault = serde_json::from_str(rows[0].get()).unwrap();
        let alert = alert(fault, rows[0].get()).unwrap();
        assert_eq!(
            alert.vendor_alert_key,
            "1307933|1307933_1_1_1|60064.202411.47b8b34242077|2024-11-27 07:42:39"
        );
        assert_eq!(alert.vendor_plant_id.as_deref(), Some("1307933"));
        assert_eq!(alert.code.as_deref(), Some("60064"));
        assert_eq!(alert.title, "Fault 60064", "the example carries no fault_name");
        assert_eq!(alert.description, None, "an empty fault_desc is no description");
        assert_eq!(alert.severity, Severity::Critical, "fault_level 1");
        assert_eq!(alert.status, AlertStatus::Active, "no over_time");
        assert_eq!(alert.started_at.unwrap().to_canonical(), "2024-11-26T23:42:39.000Z");
    }

    /// The documentation's reply to an expired token (the same for every endpoint) is the
    /// expired-token error, which costs one re-login, not the credentials.
    #[test]
    fn the_documented_expired_token_reply_is_classified_so() {
        let reply = fixture("recorded/error_E00003__cn_openapi_doc.json");
        let code = reply["result_code"].as_str().unwrap();
        let message = reply["result_msg"].as_str().unwrap();
        assert!(matches!(
            super::super::client::classify(code, message),
            crate::vendors::VendorError::TokenExpired(_)
        ));
        assert!(reply["result_data"].is_null());
    }

    /// The documentation's login example: its token and user id are taken.
    #[test]
    fn the_documented_login_reply_gives_its_token() {
        let reply = fixture("recorded/login__devdoc_example.json");
        let data: LoginData = serde_json::from_value(reply["result_data"].clone()).unwrap();
        assert_eq!(data.login_state.as_deref(), Some("1"));
        let now = Timestamp::now();
        let token = login_token(data, now).unwrap();
        assert_eq!(token.access.expose(), "505120_2a62bd4e737e4e8fabc9caaa97f032c6");
        assert_eq!(token.metadata["user_id"], "5051201");
        assert!(token.expires_at.is_some());
    }

    /// The documentation example with `度` replaced by `kWh` (and nothing else) converts
    /// to the same plant: `度` is a kWh.
    #[test]
    fn degrees_and_kwh_give_the_same_plant() {
        let degrees = rows("recorded/getPowerStationList__devdoc_example.json");
        let kwh = rows("recorded/getPowerStationList__devdoc_example__unit_kWh.json");
        let (degrees, kwh) = (decode(&degrees[0]).unwrap(), decode(&kwh[0]).unwrap());
        let without_raw = |plant: VendorPlant| VendorPlant { raw_json: None, ..plant };
        assert_eq!(without_raw(degrees), without_raw(kwh));
    }

    /// Sungrow's own documentation example: energy in `度`. Before, the unknown unit dropped
    /// the whole plant (name, 4.025 kWp, 358 W) and the vendor reported 0 synced.
    #[test]
    fn the_documentation_example_in_degrees_converts_every_reading() {
        let units = UnknownUnits::default();
        let rows = rows("recorded/getPowerStationList__devdoc_example.json");
        let station: Station = serde_json::from_str(rows[0].get()).unwrap();
        let plant = plant(station, rows[0].get(), &units).unwrap();
        assert_eq!(plant.vendor_plant_id, "700669565");
        assert_eq!(plant.name.as_deref(), Some("ad优化器572"));
        assert_eq!(plant.capacity_kw, Some(4.025));
        assert_eq!(plant.current_power_kw, Some(0.358));
        assert_eq!(plant.daily_energy_kwh, Some(95.0));
        assert_eq!(plant.total_energy_kwh, Some(381.6));
        assert_eq!(units.warning(), None);
    }

    /// A unit still unknown leaves only that reading unset, keeps the plant, and is named
    /// once however many plants use it.
    #[test]
    fn an_unknown_unit_leaves_its_reading_unset_and_is_reported_once() {
        let units = UnknownUnits::default();
        for id in ["1", "2"] {
            let raw = format!(
                r#"{{"ps_id":{id},"ps_name":"P{id}","curr_power":{{"unit":"hp","value":"3"}},
                   "today_energy":{{"unit":"kWh","value":"12.5"}}}}"#
            );
            let station: Station = serde_json::from_str(&raw).unwrap();
            let plant = plant(station, &raw, &units).unwrap();
            assert_eq!(plant.current_power_kw, None, "the unknown reading is unset");
            assert_eq!(plant.daily_energy_kwh, Some(12.5), "the others are kept");
            assert_eq!(plant.name.as_deref(), Some(format!("P{id}").as_str()));
        }
        assert_eq!(
            units.warning().as_deref(),
            Some("readings in units plantsync does not know were left unset: 'hp' (curr_power)")
        );
    }

    #[test]
    fn the_two_codes_give_one_status_and_a_word_that_agrees() {
        use PlantStatus::Unknown;
        use PlantStatus::{Fault, Offline, Online};
        let cases = [
            ((Some(1), Some(3)), Some(("NORMAL", Online))),
            ((Some(1), Some(2)), Some(("ALARM", Online))),
            ((Some(1), Some(1)), Some(("FAULT", Fault))),
            ((Some(1), None), Some(("NORMAL", Online))),
            ((Some(0), Some(1)), Some(("ALL_OFFLINE", Offline))),
            // An unknown code is `unknown` under its digits, never a made-up word.
            ((Some(7), None), Some(("7", Unknown))),
            ((Some(7), Some(1)), Some(("7", Unknown))),
            // Garbage says nothing: the stored status stays.
            ((Some(i64::MIN), Some(3)), None),
            ((None, Some(1)), None),
        ];
        for ((online, fault), expected) in cases {
            let expected = expected.map(|(word, status)| (word.to_owned(), status));
            assert_eq!(plant_state(online, fault), expected, "{online:?} {fault:?}");
        }
    }

    #[test]
    fn documented_station_list_converts_units_zones_and_placeholders() {
        let rows = rows("station_list.json");
        let farm = decode(&rows[0]).unwrap();
        assert_eq!(farm.vendor_plant_id, "5425899");
        assert_eq!(farm.capacity_kw, Some(21.93));
        assert_eq!(farm.current_power_kw, Some(4.31));
        assert_eq!(farm.daily_energy_kwh, Some(64.8));
        assert_eq!(farm.total_energy_kwh, Some(43130.0), "MWh to kWh");
        assert_eq!(farm.timezone.as_deref(), Some("Etc/GMT-2"));
        assert_eq!(farm.vendor_updated_at.unwrap().to_canonical(), "2026-04-06T05:05:00.000Z");
        assert_eq!(farm.network_status.as_deref(), Some("NORMAL"));

        let barn = decode(&rows[1]).unwrap();
        assert_eq!(barn.current_power_kw, Some(0.0), "kW unit, real zero");
        assert_eq!(barn.daily_energy_kwh, None, "\"--\" is a placeholder, not zero");
        assert_eq!(barn.total_energy_kwh, Some(1200.5));
        assert_eq!(barn.timezone.as_deref(), Some("+05:30"), "GMT+5:30 has no Etc zone: itself");
        assert_eq!(barn.network_status.as_deref(), Some("ALL_OFFLINE"));

        // A unit plantsync does not know: the plant is kept, that reading is unset.
        let odd = decode(&rows[2]).unwrap();
        assert_eq!((odd.name.as_deref(), odd.capacity_kw), (Some("Odd Units"), Some(3.0)));
        assert_eq!(odd.current_power_kw, None);
    }

    #[test]
    fn documented_faults_resolve_only_with_an_end_time() {
        let alerts: Vec<VendorAlert> = rows("fault_list.json")
            .iter()
            .map(|row| alert(serde_json::from_str(row.get()).unwrap(), row.get()).unwrap())
            .collect();
        assert_eq!(alerts[0].vendor_alert_key, "5425899|5425899_1_1_1|10|20260406100000");
        assert_eq!(alerts[0].status, AlertStatus::Resolved);
        assert_eq!(alerts[0].ended_at.unwrap().to_canonical(), "2026-04-06T03:00:00.000Z");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[1].status, AlertStatus::Active);
        assert_eq!(alerts[1].ended_at, None);
        assert_eq!(alerts[1].severity, Severity::Critical);
    }

    fn fault(fields: Value) -> Result<VendorAlert, String> {
        let mut row = serde_json::json!({
            "ps_id": 7, "ps_key": "7_1_1_1", "device_sn": "SN-A", "fault_code": "12",
            "fault_level": 2, "create_time": "20260406100000", "over_time": "",
        });
        if let (Some(row), Value::Object(fields)) = (row.as_object_mut(), fields) {
            row.extend(fields);
        }
        let text = row.to_string();
        alert(serde_json::from_str(&text).map_err(|e| e.to_string())?, &text)
    }

    #[test]
    fn an_over_time_placeholder_is_still_open() {
        for placeholder in ["", "--", " -- "] {
            let open = fault(serde_json::json!({"over_time": placeholder})).unwrap();
            assert_eq!(
                (open.status, open.ended_at),
                (AlertStatus::Active, None),
                "{placeholder:?}"
            );
        }
        let missing = fault(serde_json::json!({"over_time": null})).unwrap();
        assert_eq!(missing.status, AlertStatus::Active);
        assert!(fault(serde_json::json!({"over_time": "soon"})).unwrap_err().contains("over_time"));
    }

    #[test]
    fn a_fault_without_ps_key_is_keyed_by_its_device() {
        let keyed = fault(serde_json::json!({})).unwrap();
        assert_eq!(keyed.vendor_alert_key, "7|7_1_1_1|12|20260406100000", "ps_key as before");
        let a = fault(serde_json::json!({"ps_key": null})).unwrap();
        let b = fault(serde_json::json!({"ps_key": null, "device_sn": "SN-B"})).unwrap();
        assert_eq!(a.vendor_alert_key, "7|SN-A|12|20260406100000");
        assert_ne!(a.vendor_alert_key, b.vendor_alert_key, "two devices, two occurrences");
        let neither = fault(serde_json::json!({"ps_key": null, "device_sn": null})).unwrap();
        assert_eq!(neither.vendor_alert_key, "7||12|20260406100000");
    }

    fn reading(unit: &str, value: f64) -> UnitValue {
        UnitValue { unit: Some(unit.into()), value: Some(value) }
    }

    #[test]
    fn units_convert_by_their_unit() {
        assert_eq!(power_kw(&reading("W", 4310.0)), Ok(Some(4.31)));
        assert_eq!(power_kw(&reading("kW", 4.31)), Ok(Some(4.31)));
        assert_eq!(energy_kwh(&reading("MWh", 43.13)), Ok(Some(43130.0)));
        assert_eq!(energy_kwh(&reading("kWh", 0.0)), Ok(Some(0.0)));
        assert_eq!(capacity_kw(&reading("kWp", 21.93)), Ok(Some(21.93)));
        assert_eq!(power_kw(&reading("hp", 1.0)), Err(UnknownUnit("hp".into())));
        assert_eq!(energy_kwh(&reading("度", 381.6)), Ok(Some(381.6)));
        assert_eq!(energy_kwh(&reading("万度", 4.5)), Ok(Some(45_000.0)));
        assert_eq!(energy_kwh(&reading("千瓦时", 2.0)), Ok(Some(2.0)));
        assert_eq!(power_kw(&reading("瓦", 358.0)), Ok(Some(0.358)));
        assert_eq!(power_kw(&reading("兆瓦", 1.5)), Ok(Some(1500.0)));
        assert_eq!(energy_kwh(&UnitValue { unit: Some("kWh".into()), value: None }), Ok(None));
    }

    #[test]
    fn times_with_and_without_offset() {
        assert_eq!(
            time("2026-04-06T13:05:00+08:00").unwrap().to_canonical(),
            "2026-04-06T05:05:00.000Z"
        );
        assert_eq!(time("20260406100000").unwrap().to_canonical(), "2026-04-06T02:00:00.000Z");
        assert_eq!(time("2024-02-07 08:13:34").unwrap().to_canonical(), "2024-02-07T00:13:34.000Z");
        assert_eq!(time("yesterday"), None);
    }

    #[test]
    fn oauth_tokens_in_either_shape() {
        let now = Timestamp::now();
        let top =
            serde_json::json!({"access_token": "a1", "refresh_token": "r1", "expires_in": 3600});
        let nested = serde_json::json!({"result_code": "1", "result_data": {"access_token": "a2", "expires_in": "7200"}});
        let t1 = oauth_token(&top, None, now).unwrap();
        assert_eq!(t1.access.expose(), "a1");
        assert_eq!(t1.refresh.as_ref().map(Secret::expose), Some("r1"));
        let t2 = oauth_token(&nested, t1.refresh.as_ref(), now).unwrap();
        assert_eq!(t2.access.expose(), "a2");
        assert_eq!(t2.refresh.as_ref().map(Secret::expose), Some("r1"), "old refresh token kept");
        assert!(oauth_token(&serde_json::json!({"result_code": "1"}), None, now).is_err());
    }
}

#[cfg(test)]
mod history_tests {
    use super::super::wire::{Data, PlantPoints};
    use super::*;
    use crate::vendors::paging::decode_row;
    use chrono::NaiveDate;
    use serde_json::value::RawValue;
    use std::collections::HashMap;

    /// The plant-level reply of vendor-history-apis.md §2: Wh as text with four decimals
    /// under the data type's number, `yyyyMMdd` stamps; placeholders and a bad stamp.
    #[test]
    fn p83022_strings_in_wh_become_days_in_kwh() {
        let body = r#"{"req_serial_num":"a1","result_code":"1","result_msg":"success",
          "result_data":{"1598299":{"p83022":[
            {"2":"371600.0000","time_stamp":"20240823"},
            {"2":"--","time_stamp":"20240824"},
            {"2":"12","time_stamp":"2024-08-25"},
            {"2":"2500.5","time_stamp":"20240826000000"}]}}}"#;
        let data: Data<HashMap<String, Box<RawValue>>> = serde_json::from_str(body).unwrap();
        let plants = data.result_data.unwrap();
        let points: PlantPoints = serde_json::from_str(plants["1598299"].get()).unwrap();
        let read: Vec<Result<VendorDay, String>> = points
            .p83022
            .unwrap()
            .iter()
            .map(|row| decode_row(row.get(), |row, _| history_day("1598299", row)))
            .collect();
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 8, d).unwrap();
        let ok = |d: u32, kwh: Option<f64>| {
            Ok(VendorDay { vendor_plant_id: "1598299".into(), day: day(d), energy_kwh: kwh })
        };
        assert_eq!(read[0], ok(23, Some(371.6)), "Wh to kWh");
        assert_eq!(read[1], ok(24, None), "a placeholder is no data, not 0");
        assert!(read[2].as_ref().unwrap_err().contains("not yyyyMMdd"), "{:?}", read[2]);
        assert_eq!(read[3], ok(26, Some(2.5005)), "a stamp with a time keeps its day");
    }
}
