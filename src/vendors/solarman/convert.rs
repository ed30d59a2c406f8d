//! Solarman wire records to domain records. Pure: no I/O, tested on the real recorded
//! station lists in `tests/fixtures/solarman/recorded/` and, where no recording exists
//! (token, realtime, alerts), on fixtures written from the documentation.

use super::wire::{AlertRow, HistoryItem, RealTime, Station, TokenResponse};
use crate::domain::{
    AlertStatus, PlantStatus, Secret, Severity, Timestamp, Token, VendorAlert, VendorPlant,
};
use crate::vendors::codes;
use crate::vendors::history::VendorDay;
use base64::Engine;
use serde_json::Value;

/// Default token life when neither the JWT nor `expires_in` says (the original's default).
const DEFAULT_EXPIRES_IN: i64 = 3600;
/// The longest token life believed, seconds (ten years): a larger or negative `expires_in`
/// is a spoiled reply, and `now + expires_in` must not overflow (issue 14's fuzz tests).
const MAX_EXPIRES_IN: i64 = 10 * 366 * 86_400;

/// A token from the token call: expiry from the JWT's `exp` when readable, else
/// `now + expires_in`.
pub(super) fn token(response: TokenResponse, now: Timestamp) -> Result<Token, String> {
    let access = response
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token response has no access_token".to_owned())?;
    let expires_in = response
        .expires_in
        .filter(|s| (0..=MAX_EXPIRES_IN).contains(s))
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let expires_at = jwt_expiry(&access).or_else(|| {
        Timestamp::from_unix_millis(now.as_datetime().timestamp_millis() + expires_in * 1000)
    });
    Ok(Token {
        access: Secret::new(access),
        refresh: response.refresh_token.map(Secret::new),
        expires_at,
        metadata: serde_json::json!({
            "expires_in": expires_in,
            "stored_at": now.to_canonical(),
            "uid": response.uid,
        }),
    })
}

/// The `exp` claim of a JWT, without verifying it (we only need to know when to renew).
pub(super) fn jwt_expiry(token: &str) -> Option<Timestamp> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    Timestamp::from_unix_millis((exp * 1000.0) as i64)
}

/// Unix seconds (possibly fractional, floored to the second) to a timestamp; a value in
/// milliseconds, which Solarman sends at times, is read as such
/// ([`Timestamp::from_epoch_seconds_or_millis`]).
fn from_unix_seconds(seconds: f64) -> Option<Timestamp> {
    Timestamp::from_epoch_seconds_or_millis(seconds).map(|t| {
        let whole = t.as_datetime().timestamp() * 1000;
        Timestamp::from_unix_millis(whole).unwrap_or(t)
    })
}

/// `networkStatus` (`NORMAL`, `PARTIAL_OFFLINE`, `ALL_OFFLINE`, padded at times) as the
/// word and plantsync's status. Another word is `unknown` under the word as sent, or
/// nothing for text that is no state word ([`codes::unknown_word`]).
fn plant_state(word: &str) -> Option<(String, PlantStatus)> {
    let (word, status) = match word.trim().to_ascii_uppercase().as_str() {
        "NORMAL" => ("NORMAL", PlantStatus::Online),
        "PARTIAL_OFFLINE" => ("PARTIAL_OFFLINE", PlantStatus::Partial),
        "ALL_OFFLINE" => ("ALL_OFFLINE", PlantStatus::Offline),
        _ => return codes::unknown_word(word),
    };
    Some((word.to_owned(), status))
}

/// One station row to a plant. `raw` is the row as received.
pub(super) fn plant(station: Station, raw: &str) -> Result<VendorPlant, String> {
    let id = station.id.ok_or_else(|| "station without an id".to_owned())?;
    let state = station.network_status.as_deref().and_then(plant_state);
    Ok(VendorPlant {
        name: station.name,
        // installedCapacity is already kW (vendor-apis.md §1.3).
        capacity_kw: station.installed_capacity,
        address: station.location_address,
        latitude: station.location_lat,
        longitude: station.location_lng,
        timezone: station.region_timezone.filter(|zone| zone.parse::<chrono_tz::Tz>().is_ok()),
        status: state.as_ref().map(|(_, status)| *status),
        network_status: state.map(|(word, _)| word),
        current_power_kw: station.generation_power.map(|w| w / 1000.0),
        daily_energy_kwh: None,
        total_energy_kwh: None,
        vendor_updated_at: station.last_update_time.and_then(from_unix_seconds),
        raw_json: Some(raw.to_owned()),
        vendor_plant_id: id,
    })
}

/// Adds what the realtime call knows to a plant from the listing.
pub(super) fn apply_realtime(plant: &mut VendorPlant, realtime: &RealTime) {
    if let Some(watts) = realtime.generation_power {
        plant.current_power_kw = Some(watts / 1000.0);
    }
    plant.daily_energy_kwh = realtime.generation_value.or(plant.daily_energy_kwh);
    plant.total_energy_kwh = realtime.generation_total.or(plant.total_energy_kwh);
    if let Some(updated) = realtime.last_update_time.and_then(from_unix_seconds) {
        plant.vendor_updated_at = Some(updated);
    }
}

/// One `stationDataItems` row of station `station_id`: the day from its integer
/// `year`/`month`/`day` (the plant's local day), `generationValue` in kWh as it is; a row
/// without a value is "no data" (`None`), never 0.
pub(super) fn history_day(station_id: &str, item: HistoryItem) -> Result<VendorDay, String> {
    let part = |value: Option<i64>, name: &str| {
        value
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| format!("a history row without a valid {name}"))
    };
    let (year, month, day) = (item.year, part(item.month, "month")?, part(item.day, "day")?);
    let year =
        year.and_then(|y| i32::try_from(y).ok()).ok_or("a history row without a valid year")?;
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| format!("a history row dated {year}-{month}-{day}, no such day"))?;
    Ok(VendorDay {
        vendor_plant_id: station_id.to_owned(),
        day: date,
        energy_kwh: item.generation_value,
    })
}

/// Solarman `level` (0 info, 1 warning, 2 error) and `influence` (0 none, 1 production,
/// 2 safety, 3 both) to a severity: safety makes it critical, a production impact makes it at
/// least medium (the original system's mapping).
pub(super) fn severity(level: Option<i64>, influence: Option<i64>) -> Severity {
    let base = match level {
        Some(0) => Severity::Low,
        Some(2) => Severity::High,
        _ => Severity::Medium,
    };
    match influence {
        Some(2 | 3) => Severity::Critical,
        Some(1) if base == Severity::Low => Severity::Medium,
        _ => base,
    }
}

/// One alert row of a device to an occurrence. The OpenAPI gives no end time, so alerts
/// stay `ACTIVE` until a person acknowledges them; the key is
/// `deviceSn|alertId|code|alertTime` because `alertId` names the alert type.
pub(super) fn alert(
    station_id: &str,
    device_sn: &str,
    row: AlertRow,
    raw: &str,
) -> Result<VendorAlert, String> {
    let alert_time = row.alert_time.ok_or_else(|| "alert without alertTime".to_owned())?;
    let started_at = from_unix_seconds(alert_time)
        .ok_or_else(|| format!("alertTime {alert_time} is not a valid time"))?;
    let type_id = row.alert_id.clone().or_else(|| row.code.clone()).unwrap_or_default();
    Ok(VendorAlert {
        vendor_alert_key: format!(
            "{device_sn}|{type_id}|{}|{}",
            row.code.as_deref().unwrap_or(""),
            // Seconds, as documented: a time sent in milliseconds names the same alert.
            started_at.as_datetime().timestamp()
        ),
        vendor_plant_id: Some(station_id.to_owned()),
        device_sn: Some(device_sn.to_owned()),
        severity: severity(row.level, row.influence),
        status: AlertStatus::Active,
        code: row.code,
        title: row.alert_name.unwrap_or_else(|| format!("Alert {type_id}")),
        description: row.description,
        started_at: Some(started_at),
        ended_at: None,
        raw_json: Some(raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::wire::{AlertPage, StationPage};
    use super::*;

    #[test]
    fn network_status_words_map_to_one_status() {
        use PlantStatus::{Offline, Online, Partial};
        for (word, expected) in [
            ("NORMAL", ("NORMAL", Online)),
            (" ALL_OFFLINE", ("ALL_OFFLINE", Offline)),
            ("partial_offline ", ("PARTIAL_OFFLINE", Partial)),
        ] {
            assert_eq!(plant_state(word), Some((expected.0.to_owned(), expected.1)), "{word:?}");
        }
        // An undocumented word is `unknown` under that word; garbage says nothing.
        assert_eq!(plant_state(" NO_DEVICE"), Some(("NO_DEVICE".to_owned(), PlantStatus::Unknown)));
        for word in ["", "\u{0}", "two words"] {
            assert_eq!(plant_state(word), None, "{word:?}");
        }
    }

    fn fixture_text(name: &str) -> String {
        let path = format!("{}/tests/fixtures/solarman/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    fn fixture(name: &str) -> Value {
        serde_json::from_str(&fixture_text(name)).unwrap()
    }

    fn decode(row: &serde_json::value::RawValue) -> Result<VendorPlant, String> {
        crate::vendors::paging::decode_row(row.get(), plant)
    }

    #[test]
    fn documented_station_list_converts_with_units_and_times() {
        let page: StationPage = serde_json::from_str(&fixture_text("station_list.json")).unwrap();
        let rows = page.station_list.unwrap();
        let demo = decode(&rows[0]).unwrap();
        assert_eq!(demo.vendor_plant_id, "895");
        assert_eq!(demo.capacity_kw, Some(12.5));
        assert_eq!(demo.current_power_kw, Some(4.51), "generationPower is W");
        assert_eq!(demo.timezone.as_deref(), Some("Asia/Shanghai"));
        assert_eq!(demo.vendor_updated_at.unwrap().to_canonical(), "2024-06-10T06:13:20.000Z");
        assert!(demo.raw_json.unwrap().contains("Nanjie village 8"));

        let shed = decode(&rows[1]).unwrap();
        assert_eq!(shed.capacity_kw, Some(0.6), "a number sent as a string");
        assert_eq!(shed.network_status.as_deref(), Some("ALL_OFFLINE"), "padded enum trimmed");
        assert_eq!(shed.current_power_kw, Some(0.0), "a real zero stays zero");
        assert_eq!(shed.timezone, None, "an unknown zone is not kept");
        assert_eq!(shed.latitude, None);
        assert_eq!(
            shed.vendor_updated_at.unwrap().to_canonical(),
            "2024-06-10T06:13:37.000Z",
            "float seconds floored"
        );

        let wrong_type = decode(&rows[2]).unwrap_err();
        assert!(wrong_type.contains("expected a number, found a boolean"), "{wrong_type}");
        assert!(decode(&rows[3]).unwrap_err().contains("without an id"));
    }

    /// What one recorded station row must decode to, field by field.
    struct Expected {
        id: &'static str,
        name: &'static str,
        capacity_kw: f64,
        address: &'static str,
        coordinates: (f64, f64),
        word: &'static str,
        status: PlantStatus,
        power_kw: f64,
        updated: &'static str,
    }

    /// The rows of a recorded station list page, decoded by the adapter's own wire types
    /// (envelope and `total` included).
    fn recorded_rows(name: &str) -> (Option<i64>, Vec<Box<serde_json::value::RawValue>>) {
        let text = fixture_text(&format!("recorded/{name}"));
        let envelope: super::super::wire::Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(envelope.success, Some(true), "{name}");
        let page: StationPage = serde_json::from_str(&text).unwrap();
        (page.total, page.station_list.unwrap())
    }

    #[test]
    fn the_recorded_unhcr_station_list_decodes_field_by_field() {
        use PlantStatus::{Online, Partial};
        // UNHCR Nigeria, captured 2024-10-31 from a live account (tests/fixtures/solarman/
        // SOURCES.md): kWp capacities, W powers, float seconds, a backward-link zone.
        let expected = [
            Expected {
                id: "63086751",
                name: "UNHCR SOLAR- ABUJA",
                capacity_kw: 54.45,
                address: "Asokoro Abuja",
                coordinates: (9.057373333333334, 7.527456666666666),
                word: "NORMAL",
                status: Online,
                power_kw: 12.0,
                updated: "2024-10-31T15:18:17.000Z",
            },
            Expected {
                id: "63087453",
                name: "LAGOS UNHCR PV",
                capacity_kw: 39.05,
                address: "Lagos",
                coordinates: (6.443986666666666, 3.4104966666666665),
                word: "PARTIAL_OFFLINE",
                status: Partial,
                power_kw: 0.443,
                updated: "2024-10-31T15:18:39.000Z",
            },
            Expected {
                id: "63122873",
                name: "UNHCR SOLAR-OGOJA (OFFICE)",
                capacity_kw: 78.1,
                address: "OGOJA GRA",
                coordinates: (6.64460417569606, 8.794103842595888),
                word: "NORMAL",
                status: Online,
                power_kw: 0.131,
                updated: "2024-10-31T15:19:13.000Z",
            },
            Expected {
                id: "63151411",
                name: "UNHCR SOLAR-OGOJA (GH)",
                capacity_kw: 78.1,
                address: "OGOJA GRA",
                coordinates: (6.6448633333333325, 8.793848333333333),
                word: "NORMAL",
                status: Online,
                power_kw: 13.807,
                updated: "2024-10-31T15:19:25.000Z",
            },
        ];
        let (total, rows) = recorded_rows("station_list__unhcr.json");
        assert_eq!(total, Some(4));
        assert_eq!(rows.len(), expected.len());
        for (row, want) in rows.iter().zip(&expected) {
            let plant = decode(row).unwrap();
            assert_eq!(plant.vendor_plant_id, want.id);
            assert_eq!(plant.name.as_deref(), Some(want.name));
            assert_eq!(
                plant.capacity_kw,
                Some(want.capacity_kw),
                "{}: installedCapacity is kWp",
                want.id
            );
            assert_eq!(plant.address.as_deref(), Some(want.address));
            assert_eq!(
                (plant.latitude, plant.longitude),
                (Some(want.coordinates.0), Some(want.coordinates.1))
            );
            // A tzdata backward link (to Africa/Lagos), kept as the portal spells it.
            assert_eq!(plant.timezone.as_deref(), Some("Africa/Bangui"), "{}", want.id);
            assert_eq!(plant.network_status.as_deref(), Some(want.word));
            assert_eq!(plant.status, Some(want.status), "{}", want.id);
            assert_eq!(
                plant.current_power_kw,
                Some(want.power_kw),
                "{}: generationPower is W",
                want.id
            );
            assert_eq!(
                plant.vendor_updated_at.map(|t| t.to_canonical()).as_deref(),
                Some(want.updated),
                "{}: lastUpdateTime 1730387897.000000000 is UTC seconds",
                want.id
            );
            // Energy is not in the list: the realtime call fills it, never a 0 here.
            assert_eq!((plant.daily_energy_kwh, plant.total_energy_kwh), (None, None));
            assert_eq!(plant.raw_json.as_deref(), Some(row.get()), "the row as received");
        }
    }

    #[test]
    fn the_recorded_pdf_sample_keeps_missing_fields_absent() {
        let (total, rows) = recorded_rows("station_list__pdfsample_partial.json");
        assert_eq!((total, rows.len()), (Some(1), 1));
        let plant = decode(&rows[0]).unwrap();
        assert_eq!(plant.vendor_plant_id, "895");
        assert_eq!(plant.name.as_deref(), Some("001_OPENAPI_报警"));
        // The doc's test station: 6754 is taken as kWp, as the real list's capacities are
        // (54.45 kWp delivering 12 kW there; read as W it could not).
        assert_eq!(plant.capacity_kw, Some(6754.0));
        assert_eq!(plant.network_status.as_deref(), Some("ALL_OFFLINE"));
        assert_eq!(plant.status, Some(PlantStatus::Offline));
        assert_eq!(plant.current_power_kw, Some(0.678));
        assert_eq!(plant.vendor_updated_at.unwrap().to_canonical(), "2020-02-02T05:34:52.000Z");
        // The sample leaves out the address and the coordinates: absent, never 0.
        assert_eq!((plant.address, plant.latitude, plant.longitude), (None, None, None));
        assert_eq!((plant.daily_energy_kwh, plant.total_energy_kwh), (None, None));
    }

    #[test]
    fn prc_is_kept_as_sent_and_reads_as_shanghai() {
        use crate::domain::PlantZone;
        // `PRC` is a tzdata backward link to Asia/Shanghai: a zone, stored as the portal
        // spells it (as Africa/Bangui is), and converting exactly as Asia/Shanghai does.
        let (_, rows) = recorded_rows("station_list__pdfsample_partial.json");
        let zone = decode(&rows[0]).unwrap().timezone.unwrap();
        assert_eq!(zone, "PRC");
        let prc: PlantZone = zone.parse().unwrap();
        let shanghai: PlantZone = "Asia/Shanghai".parse().unwrap();
        // 16:30 UTC on 2 Feb 2020 is already 3 Feb in China.
        let late = Timestamp::from_unix_millis(1_580_661_000_000).unwrap();
        assert_eq!(prc.local_date(&late), shanghai.local_date(&late));
        assert_eq!(prc.local_date(&late).to_string(), "2020-02-03");
    }

    #[test]
    fn the_recorded_pdf_realtime_sample_adds_power_and_time_but_no_energy() {
        // The same doc station (895) as the PDF list sample; the quoted realtime body
        // carries no generationValue or generationTotal: the energies stay absent, never 0.
        let (_, rows) = recorded_rows("station_list__pdfsample_partial.json");
        let mut plant = decode(&rows[0]).unwrap();
        let text = fixture_text("recorded/realtime__pdfsample_partial.json");
        let envelope: super::super::wire::Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!((envelope.success, envelope.code, envelope.msg), (Some(true), None, None));
        let realtime: RealTime = serde_json::from_str(&text).unwrap();
        apply_realtime(&mut plant, &realtime);
        assert_eq!(plant.current_power_kw, Some(0.678), "generationPower is W");
        assert_eq!((plant.daily_energy_kwh, plant.total_energy_kwh), (None, None));
        assert_eq!(plant.vendor_updated_at.unwrap().to_canonical(), "2020-02-02T05:34:52.000Z");
    }

    #[test]
    fn the_recorded_pdf_token_sample_expires_after_expires_in() {
        // The doc's abbreviated token ends in "…": no JWT payload to read, so the expiry is
        // `expires_in` (a string, "5183999") after the call.
        let response: TokenResponse =
            serde_json::from_str(&fixture_text("recorded/token__pdfsample_abbreviated.json"))
                .unwrap();
        let now = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        let token = token(response, now).unwrap();
        let expected = Timestamp::from_unix_millis(1_700_000_000_000 + 5_183_999_000).unwrap();
        assert_eq!(token.expires_at, Some(expected));
        assert_eq!(token.metadata["expires_in"], 5_183_999);
        assert_eq!(token.metadata["uid"], "6681", "a numeric uid kept as text");
        assert!(token.refresh.is_some());
        assert!(!format!("{token:?}").contains("eyJhbGci"), "no token text in Debug");
    }

    #[test]
    fn realtime_adds_energy() {
        let page: StationPage = serde_json::from_str(&fixture_text("station_list.json")).unwrap();
        let mut demo = decode(&page.station_list.unwrap()[0]).unwrap();
        let realtime: RealTime = serde_json::from_value(fixture("realtime.json")).unwrap();
        apply_realtime(&mut demo, &realtime);
        assert_eq!(demo.daily_energy_kwh, Some(18.4));
        assert_eq!(demo.total_energy_kwh, Some(10234.5));
        assert_eq!(demo.current_power_kw, Some(3.2));
    }

    #[test]
    fn documented_alerts_get_occurrence_keys_and_severities() {
        let page: AlertPage = serde_json::from_str(&fixture_text("alert_list.json")).unwrap();
        let rows = page.alert_list.unwrap();
        let alerts: Vec<VendorAlert> = rows
            .iter()
            .map(|row| {
                alert("895", "2106123456", serde_json::from_str(row.get()).unwrap(), row.get())
                    .unwrap()
            })
            .collect();
        assert_eq!(alerts[0].vendor_alert_key, "2106123456|2|1|1718000123");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].status, AlertStatus::Active);
        assert_eq!(alerts[1].severity, Severity::Critical, "safety influence");
        assert_eq!(alerts[1].description.as_deref(), Some("PV insulation low"));
        assert_eq!(alerts[1].started_at.unwrap().to_canonical(), "2024-06-10T06:20:56.000Z");
    }

    /// Solarman sends its times in seconds, at times in milliseconds: read as seconds, the
    /// milliseconds were the year 58887. Both name the same instant and the same alert.
    #[test]
    fn times_in_milliseconds_read_as_the_same_instant() {
        let station = |time: &str| {
            let row = format!(r#"{{"id": 895, "name": "A", "lastUpdateTime": {time}}}"#);
            decode(&serde_json::value::RawValue::from_string(row).unwrap()).unwrap()
        };
        let seconds = station("1730387897.000000000").vendor_updated_at.unwrap();
        assert_eq!(seconds.to_canonical(), "2024-10-31T15:18:17.000Z");
        assert_eq!(station("1730387897000").vendor_updated_at, Some(seconds));
        let alert_at = |time: &str| {
            let row = format!(r#"{{"alertId": 2, "code": "1", "alertTime": {time}}}"#);
            alert("895", "SN", serde_json::from_str(&row).unwrap(), &row).unwrap()
        };
        let (in_seconds, in_millis) = (alert_at("1718000123"), alert_at("1718000123000"));
        assert_eq!(in_seconds.vendor_alert_key, "SN|2|1|1718000123");
        assert_eq!(in_millis.vendor_alert_key, in_seconds.vendor_alert_key);
        assert_eq!(in_millis.started_at, in_seconds.started_at);
    }

    #[test]
    fn documented_token_reads_jwt_expiry() {
        let response: TokenResponse = serde_json::from_value(fixture("token.json")).unwrap();
        let token = token(response, Timestamp::now()).unwrap();
        assert_eq!(token.expires_at.unwrap().to_canonical(), "2027-01-15T08:00:00.000Z");
        assert!(!format!("{token:?}").contains("eyJhbGci"));
    }

    #[test]
    fn severity_follows_level_and_influence() {
        assert_eq!(severity(Some(0), Some(0)), Severity::Low);
        assert_eq!(severity(Some(0), Some(1)), Severity::Medium);
        assert_eq!(severity(Some(1), None), Severity::Medium);
        assert_eq!(severity(Some(2), Some(1)), Severity::High);
        assert_eq!(severity(Some(0), Some(2)), Severity::Critical);
        assert_eq!(severity(None, Some(3)), Severity::Critical);
    }

    #[test]
    fn jwt_exp_is_read_and_garbage_ignored() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1800000000}"#);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_expiry(&token).unwrap().to_canonical(), "2027-01-15T08:00:00.000Z");
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }
}

#[cfg(test)]
mod history_tests {
    use super::super::wire::HistoryPage;
    use super::*;
    use crate::vendors::paging::decode_row;
    use chrono::NaiveDate;

    /// The flat `timeType 2` reply of vendor-history-apis.md §1, with the shapes a lenient
    /// reader must take: a value as text, a value missing, a row of no real day.
    #[test]
    fn flat_station_data_items_become_days_in_kwh() {
        let body = r#"{"code":null,"msg":null,"success":true,"requestId":"4f2a","total":5,
          "stationDataItems":[
            {"year":2024,"month":5,"day":1,"generationValue":31.2,"useValue":18.4,"gridValue":15.0,
             "buyValue":2.2,"chargeValue":4.1,"dischargeValue":3.9,"fullPowerHours":3.1},
            {"year":2024,"month":5,"day":2,"generationValue":"12.5"},
            {"year":"2024","month":"5","day":"3","generationValue":null},
            {"year":2024,"month":13,"day":1,"generationValue":1.0},
            {"year":2024,"month":5,"day":4,"generationValue":{"kWh":1}}]}"#;
        let page: HistoryPage = serde_json::from_str(body).unwrap();
        let rows = page.station_data_items.unwrap();
        let read: Vec<Result<VendorDay, String>> = rows
            .iter()
            .map(|row| decode_row(row.get(), |item, _| history_day("77", item)))
            .collect();
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 5, d).unwrap();
        let ok = |d: u32, kwh: Option<f64>| {
            Ok(VendorDay { vendor_plant_id: "77".into(), day: day(d), energy_kwh: kwh })
        };
        assert_eq!(read[0], ok(1, Some(31.2)));
        assert_eq!(read[1], ok(2, Some(12.5)), "a number as text");
        assert_eq!(read[2], ok(3, None), "no value is no data, not 0");
        assert!(read[3].as_ref().unwrap_err().contains("no such day"), "{:?}", read[3]);
        assert!(read[4].is_err(), "an object where a number belongs fails that row alone");
    }
}
