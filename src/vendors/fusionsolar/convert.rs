//! FusionSolar wire records to domain records. Pure: no I/O, tested on recorded payloads.

use super::wire::{Alarm, KpiDayRow, KpiMap, LegacyStation, Station};
use crate::domain::PlantZone;
use crate::domain::{AlertStatus, PlantStatus, Severity, Timestamp, VendorAlert, VendorPlant};
use crate::vendors::codes;
use crate::vendors::history::VendorDay;
use crate::vendors::zones::zone_from_offset;

/// One `/thirdData/stations` row (capacity in kWp). The list has no zone: the offset of
/// `gridConnectionDate` gives one (`Etc/GMT∓N` for whole hours, else the offset itself,
/// `+05:30`). That offset is the one of that date, so a zone with daylight saving is kept
/// as its offset then (Lisbon in summer becomes `Etc/GMT-1`); an unreadable date only costs
/// the zone, never the plant.
pub(super) fn plant(station: Station, raw: &str) -> Result<VendorPlant, String> {
    let id = station.plant_code.ok_or("station without a plantCode")?;
    let timezone = station
        .grid_connection_date
        .as_deref()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .and_then(|date| zone_from_offset(date.offset().local_minus_utc()));
    Ok(VendorPlant {
        vendor_plant_id: id,
        name: station.plant_name,
        capacity_kw: station.capacity,
        address: station.plant_address,
        latitude: station.latitude,
        longitude: station.longitude,
        timezone,
        raw_json: Some(raw.to_owned()),
        ..VendorPlant::default()
    })
}

/// One legacy `/thirdData/getStationList` row: its capacity is in **MW**.
pub(super) fn legacy_plant(station: LegacyStation, raw: &str) -> Result<VendorPlant, String> {
    let id = station.station_code.ok_or("station without a stationCode")?;
    Ok(VendorPlant {
        vendor_plant_id: id,
        name: station.station_name,
        capacity_kw: station.capacity.map(|mw| mw * 1000.0),
        address: station.station_addr,
        raw_json: Some(raw.to_owned()),
        ..VendorPlant::default()
    })
}

/// Adds a station's real-time KPIs (energy is already in kWh).
pub(super) fn apply_kpi(plant: &mut VendorPlant, kpi: &KpiMap) {
    if kpi.day_power.is_some() {
        plant.daily_energy_kwh = kpi.day_power;
    }
    if kpi.total_power.is_some() {
        plant.total_energy_kwh = kpi.total_power;
    }
    if let Some((word, status)) = kpi.real_health_state.and_then(health) {
        plant.network_status = Some(word);
        plant.status = Some(status);
    }
}

/// `real_health_state` 1/2/3 as its word and plantsync's status. Another code is `unknown`
/// under its digits, or nothing for garbage ([`codes::unknown_code`]).
fn health(state: i64) -> Option<(String, PlantStatus)> {
    let (word, status) = match state {
        1 => ("DISCONNECTED", PlantStatus::Offline),
        2 => ("FAULTY", PlantStatus::Fault),
        3 => ("HEALTHY", PlantStatus::Online),
        _ => return codes::unknown_code(state),
    };
    Some((word.to_owned(), status))
}

/// `lev` as a severity.
pub(super) fn severity(level: Option<i64>) -> Severity {
    match level {
        Some(1) => Severity::Critical,
        Some(2) => Severity::High,
        Some(3) => Severity::Medium,
        _ => Severity::Low,
    }
}

/// A reply's `params.currentTime` (epoch milliseconds) as a time; `None` for zero, negative
/// or out-of-range values, which no reply means as a time.
pub(super) fn epoch_ms(millis: i64) -> Option<Timestamp> {
    Timestamp::from_epoch_seconds_or_millis(millis as f64)
}

/// Epoch milliseconds as FusionSolar documents them; a value in seconds, which it sends at
/// times, is read as such ([`Timestamp::from_epoch_seconds_or_millis`]).
fn from_millis(millis: i64, what: &str) -> Result<Timestamp, String> {
    Timestamp::from_epoch_seconds_or_millis(millis as f64)
        .ok_or_else(|| format!("{what} {millis} is not a time"))
}

/// One alarm. `alarmId` names the alarm type: the occurrence is
/// `stationCode|esnCode|alarmId|raiseTime`; it is resolved once `recoveryTime` is given.
pub(super) fn alert(alarm: Alarm, raw: &str) -> Result<VendorAlert, String> {
    let station = alarm.station_code.ok_or("alarm without a stationCode")?;
    let alarm_id = alarm.alarm_id.ok_or("alarm without an alarmId")?;
    let raised = alarm.raise_time.ok_or("alarm without a raiseTime")?;
    let started_at = from_millis(raised, "raiseTime")?;
    let ended_at = match alarm.recovery_time.filter(|t| *t > 0) {
        Some(millis) => Some(from_millis(millis, "recoveryTime")?),
        None => None,
    };
    let description = [alarm.alarm_cause.as_deref(), alarm.repair_suggestion.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    Ok(VendorAlert {
        // The start in milliseconds, as the portal documents it: a start sent in seconds
        // names the same occurrence.
        vendor_alert_key: format!(
            "{station}|{}|{alarm_id}|{}",
            alarm.esn_code.as_deref().unwrap_or(""),
            started_at.as_datetime().timestamp_millis()
        ),
        vendor_plant_id: Some(station),
        device_sn: alarm.esn_code,
        severity: severity(alarm.lev),
        status: if ended_at.is_some() { AlertStatus::Resolved } else { AlertStatus::Active },
        title: alarm.alarm_name.unwrap_or_else(|| format!("Alarm {alarm_id}")),
        code: Some(alarm_id),
        description: (!description.is_empty()).then_some(description),
        started_at: Some(started_at),
        ended_at,
        raw_json: Some(raw.to_owned()),
    })
}

/// The local day whose midnight in `zone` is nearest to `at`.
fn nearest_midnight(zone: &PlantZone, at: &Timestamp) -> chrono::NaiveDate {
    let half_day = chrono::TimeDelta::hours(12);
    let shifted =
        at.as_datetime().checked_add_signed(half_day).map(|t| Timestamp::from_datetime(&t));
    zone.local_date(shifted.as_ref().unwrap_or(at))
}

/// One `getKpiStationDay` row: the day is the station-local date of its `collectTime`,
/// the station's local midnight, read in the station's zone (`zone_of` its code: read as a
/// UTC date, a day of a zone east of UTC comes out a day early) and taken to the nearest
/// local midnight, so a stored zone that is a fixed offset (FusionSolar's zones come from
/// an offset) still names the right day across the station's DST change. The energy is
/// `PVYield`, else `inverter_power`; an empty map is "no data".
pub(super) fn kpi_day(
    row: KpiDayRow,
    zone_of: impl Fn(&str) -> Option<PlantZone>,
) -> Result<VendorDay, String> {
    let code = row.station_code.ok_or("a daily KPI row without stationCode")?;
    let zone = zone_of(&code).ok_or("a daily KPI row of a station not asked about")?;
    let at =
        from_millis(row.collect_time.ok_or("a daily KPI row without collectTime")?, "collectTime")?;
    let map = row.data_item_map.unwrap_or_default();
    Ok(VendorDay {
        vendor_plant_id: code,
        day: nearest_midnight(&zone, &at),
        energy_kwh: map.pv_yield.or(map.inverter_power),
    })
}

#[cfg(test)]
mod tests {
    use super::super::wire::{Data, KpiMap, KpiRow, StationPage};
    use super::*;
    use serde_json::value::RawValue;

    /// A live reply: its `params.currentTime` is the readings' time (FusionSolar gives none
    /// per station).
    #[test]
    fn a_recorded_kpi_reply_gives_its_time() {
        let reply: Data<Vec<KpiRow>> =
            serde_json::from_str(&fixture("recorded/getStationRealKpi__kornsw.json")).unwrap();
        let at = reply.params.and_then(|p| p.current_time).and_then(epoch_ms).unwrap();
        assert_eq!(at.to_canonical(), "2022-09-22T15:40:20.278Z");
        let row = &reply.data.unwrap()[0];
        assert_eq!(row.station_code.as_deref(), Some("NE=35436844"));
        assert_eq!(epoch_ms(0), None);
        assert_eq!(epoch_ms(-5), None);
    }

    /// A recorded `stations` body's rows, each decoded and converted on its own.
    fn recorded_stations(name: &str) -> Vec<Result<VendorPlant, String>> {
        let page: Data<StationPage> = serde_json::from_str(&fixture(name)).unwrap();
        let page = page.data.unwrap();
        assert_eq!((page.page_count, page.total), (Some(1), Some(1)), "{name}");
        page.list
            .unwrap()
            .iter()
            .map(|row| crate::vendors::paging::decode_row(row.get(), plant))
            .collect()
    }

    /// A recorded legacy body's rows, converted, with the reply's `params.currentTime`.
    fn recorded_legacy(name: &str) -> (Vec<VendorPlant>, Option<i64>) {
        let reply: Data<Vec<Box<RawValue>>> = serde_json::from_str(&fixture(name)).unwrap();
        let rows = reply.data.unwrap();
        let plants = rows
            .iter()
            .map(|row| {
                let station: LegacyStation = serde_json::from_str(row.get()).unwrap();
                legacy_plant(station, row.get()).unwrap()
            })
            .collect();
        (plants, reply.params.and_then(|p| p.current_time))
    }

    /// The real gen-2 row, anonymised by its author: a blank `plantCode` is no id, so the
    /// row cannot become a plant (the listing reports it, see the adapter's tests).
    #[test]
    fn the_recorded_gen2_row_without_a_code_is_unreadable() {
        let rows = recorded_stations("recorded/stations__kornsw_gen2.json");
        assert_eq!(rows, [Err("station without a plantCode".to_owned())]);
    }

    /// The same row with its code filled, field by field: capacity in kWp, the zone from
    /// `gridConnectionDate`'s `+01:00`, blank name, address and coordinates read as absent
    /// (never as `""` or zero), no readings (the list has none) and no update time.
    #[test]
    fn the_recorded_gen2_row_converts_field_by_field() {
        let rows = recorded_stations("recorded/stations__kornsw_gen2__plantCode_filled.json");
        let plant = rows[0].as_ref().unwrap();
        let raw = plant.raw_json.clone();
        assert!(raw.as_deref().is_some_and(|r| r.contains("\"plantCode\": \"NE=00000001\"")));
        assert_eq!(
            plant,
            &VendorPlant {
                vendor_plant_id: "NE=00000001".into(),
                name: None,
                capacity_kw: Some(18.0),
                address: None,
                latitude: None,
                longitude: None,
                timezone: Some("Etc/GMT-1".into()),
                network_status: None,
                status: None,
                current_power_kw: None,
                daily_energy_kwh: None,
                total_energy_kwh: None,
                vendor_updated_at: None,
                raw_json: raw,
            }
        );
    }

    /// The real legacy lists, field by field. Their `capacity` is in MW: the kornsw capture
    /// says 0.009 for the station whose inverter, in the same session's `getDevList`, is a
    /// SUN2000-10KTL-M1 (10 kW), so 9 kWp; read as kWp it would be 9 W. Anonymised values
    /// (`x`s, placeholders) are kept as sent: they are the station's text.
    #[test]
    fn recorded_legacy_lists_convert_field_by_field() {
        for (name, id, station, address, kilowatts, replied) in [
            (
                "recorded/getStationList__kornsw_legacy.json",
                "xxxxxxxxxxxx",
                "xx xxxx",
                "xxxxxxxxxx, 00000 xxxxxxxxxxxxx",
                9.0,
                "2022-09-22T15:38:41.280Z",
            ),
            (
                "recorded/getStationList__kornsw_legacy__stationCode_restored.json",
                "NE=35436844",
                "xx xxxx",
                "xxxxxxxxxx, 00000 xxxxxxxxxxxxx",
                9.0,
                "2022-09-22T15:38:41.280Z",
            ),
            (
                "recorded/getStationList__otwieracz.json",
                "StationCode",
                "StationName",
                "StationAddr",
                5.0,
                "2021-12-28T21:48:39.199Z",
            ),
        ] {
            let (plants, current_time) = recorded_legacy(name);
            assert_eq!(plants.len(), 1, "{name}");
            let plant = &plants[0];
            assert_eq!(plant.vendor_plant_id, id, "{name}");
            assert_eq!(plant.name.as_deref(), Some(station), "{name}");
            assert_eq!(plant.address.as_deref(), Some(address), "{name}");
            assert_eq!(plant.capacity_kw, Some(kilowatts), "{name}: MW × 1000");
            assert_eq!((plant.latitude, plant.longitude, &plant.timezone), (None, None, &None));
            assert_eq!((plant.status, plant.vendor_updated_at), (None, None), "{name}");
            assert_eq!(
                current_time.and_then(epoch_ms).map(|t| t.to_canonical()).as_deref(),
                Some(replied),
                "{name}"
            );
        }
    }

    /// The real KPI reply, every field the adapter reads: energy in kWh, health 3 is online
    /// (`HEALTHY`); month and income are not stored, and there is no plant power.
    #[test]
    fn the_recorded_kpi_reply_converts_field_by_field() {
        let reply: Data<Vec<KpiRow>> =
            serde_json::from_str(&fixture("recorded/getStationRealKpi__kornsw.json")).unwrap();
        let rows = reply.data.unwrap();
        assert_eq!(rows.len(), 1);
        let mut plant = VendorPlant::default();
        apply_kpi(&mut plant, rows[0].data_item_map.as_ref().unwrap());
        assert_eq!(plant.daily_energy_kwh, Some(31.81));
        assert_eq!(plant.total_energy_kwh, Some(1007.27));
        assert_eq!(plant.status, Some(PlantStatus::Online));
        assert_eq!(plant.network_status.as_deref(), Some("HEALTHY"));
        assert_eq!(plant.current_power_kw, None, "the KPI call has no plant power");
        assert_eq!(plant.capacity_kw, None);
    }

    #[test]
    fn health_states_map_to_one_status_beside_the_word() {
        use PlantStatus::{Fault, Offline, Online};
        for (state, normalized, word) in
            [(1, Offline, "DISCONNECTED"), (2, Fault, "FAULTY"), (3, Online, "HEALTHY")]
        {
            let mut plant = VendorPlant::default();
            apply_kpi(&mut plant, &KpiMap { real_health_state: Some(state), ..KpiMap::default() });
            assert_eq!(plant.status, Some(normalized), "{state}");
            assert_eq!(plant.network_status.as_deref(), Some(word), "{state}");
        }
        // An unknown state is `unknown` under its digits, never a made-up word.
        let mut seven = VendorPlant::default();
        apply_kpi(&mut seven, &KpiMap { real_health_state: Some(7), ..KpiMap::default() });
        assert_eq!(
            (seven.status, seven.network_status.as_deref()),
            (Some(PlantStatus::Unknown), Some("7"))
        );
        // Garbage (-1e308 read as an integer) never overwrites a known status.
        for state in [-1, 5000, i64::MIN] {
            let mut known = VendorPlant {
                status: Some(Fault),
                network_status: Some("FAULTY".into()),
                ..VendorPlant::default()
            };
            apply_kpi(&mut known, &KpiMap { real_health_state: Some(state), ..KpiMap::default() });
            assert_eq!(known.status, Some(Fault), "{state}");
            assert_eq!(known.network_status.as_deref(), Some("FAULTY"), "{state}");
        }
        let mut untouched = VendorPlant { status: Some(Fault), ..VendorPlant::default() };
        apply_kpi(&mut untouched, &KpiMap::default());
        assert_eq!(untouched.status, Some(Fault), "a KPI without a state keeps the status");
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/fusionsolar/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn documented_stations_convert_with_zone_from_the_offset() {
        let page: Data<StationPage> = serde_json::from_str(&fixture("stations.json")).unwrap();
        let page = page.data.unwrap();
        assert_eq!(page.page_count, Some(1));
        let rows: Vec<Result<VendorPlant, String>> = page
            .list
            .unwrap()
            .iter()
            .map(|row| crate::vendors::paging::decode_row(row.get(), plant))
            .collect();
        let demo = rows[0].as_ref().unwrap();
        assert_eq!(demo.vendor_plant_id, "NE=33554875");
        assert_eq!(demo.capacity_kw, Some(10.2));
        assert_eq!(demo.latitude, Some(38.72));
        assert_eq!(demo.longitude, Some(-9.14));
        assert_eq!(demo.timezone.as_deref(), Some("Etc/GMT-1"));
        let india = rows[1].as_ref().unwrap();
        assert_eq!(india.timezone.as_deref(), Some("+05:30"), "no Etc zone: the offset itself");
        assert_eq!(india.latitude, None, "an empty coordinate is not a zero");
        let undated = rows[2].as_ref().unwrap();
        assert_eq!(undated.timezone, None, "an unreadable date costs the zone, not the plant");
    }

    #[test]
    fn legacy_capacity_is_in_megawatts() {
        let rows: Data<Vec<Box<RawValue>>> =
            serde_json::from_str(&fixture("station_list_legacy.json")).unwrap();
        let row = &rows.data.unwrap()[0];
        let station: LegacyStation = serde_json::from_str(row.get()).unwrap();
        let plant = legacy_plant(station, row.get()).unwrap();
        assert_eq!(plant.vendor_plant_id, "NE=33554875");
        assert_eq!(plant.capacity_kw, Some(5.0));
    }

    #[test]
    fn documented_kpis_add_energy_and_health() {
        let rows: Data<Vec<KpiRow>> = serde_json::from_str(&fixture("real_kpi.json")).unwrap();
        let rows = rows.data.unwrap();
        let mut plant = VendorPlant::default();
        apply_kpi(&mut plant, rows[0].data_item_map.as_ref().unwrap());
        assert_eq!(plant.daily_energy_kwh, Some(31.5));
        assert_eq!(plant.total_energy_kwh, Some(24_811.2));
        assert_eq!(plant.network_status.as_deref(), Some("HEALTHY"));
        let mut dark = VendorPlant::default();
        apply_kpi(&mut dark, rows[1].data_item_map.as_ref().unwrap());
        assert_eq!(dark.daily_energy_kwh, None, "'--' is no reading, not zero");
        assert_eq!(dark.total_energy_kwh, Some(0.0));
        assert_eq!(dark.network_status.as_deref(), Some("DISCONNECTED"));
    }

    /// A live `getAlarmList` reply (identifiers replaced by its recorder), field by field:
    /// alarms without `recoveryTime` stay open whatever their `status` (1 and 2 here).
    #[test]
    fn a_live_alarm_list_converts_field_by_field() {
        let rows: Data<Vec<Box<RawValue>>> =
            serde_json::from_str(&fixture("recorded/getAlarmList__argia_sanitized.json")).unwrap();
        let alerts: Vec<VendorAlert> = rows
            .data
            .unwrap()
            .iter()
            .map(|row| alert(serde_json::from_str::<Alarm>(row.get()).unwrap(), row.get()).unwrap())
            .collect();
        assert_eq!(alerts.len(), 3);
        let logger = &alerts[0];
        assert_eq!(logger.vendor_alert_key, "NE=00000001|0000A0000000|999999999|1789651007006");
        assert_eq!(logger.vendor_plant_id.as_deref(), Some("NE=00000001"));
        assert_eq!(logger.device_sn.as_deref(), Some("0000A0000000"));
        assert_eq!(logger.title, "Network Connection Error");
        assert_eq!(logger.code.as_deref(), Some("999999999"));
        assert_eq!(logger.severity, Severity::High, "lev 2");
        assert_eq!(logger.status, AlertStatus::Active);
        assert_eq!(logger.started_at.unwrap().to_canonical(), "2026-09-17T13:16:47.006Z");
        assert_eq!(logger.ended_at, None);
        let description = logger.description.as_deref().unwrap();
        assert!(description.starts_with("The server has not received"), "{description}");
        assert!(description.contains("; 1. Check whether the device is powered on"));
        let string = &alerts[2];
        assert_eq!(string.vendor_plant_id.as_deref(), Some("NE=00000002"));
        assert_eq!(string.severity, Severity::Medium, "lev 3");
        assert_eq!(string.status, AlertStatus::Active, "status 2 without recoveryTime");
        assert_eq!(string.started_at.unwrap().to_canonical(), "2026-09-16T12:00:00.000Z");
    }

    /// FusionSolar documents milliseconds and sends seconds at times: read as
    /// milliseconds, a start in seconds was January 1970. Both name the same occurrence.
    #[test]
    fn alarm_times_in_seconds_read_as_the_same_instant() {
        let alarm = |raise: &str, recovery: &str| {
            let row = format!(
                r#"{{"stationCode": "NE=1", "alarmId": 2064, "esnCode": "E", "raiseTime": {raise}, "recoveryTime": {recovery}}}"#
            );
            alert(serde_json::from_str(&row).unwrap(), &row).unwrap()
        };
        let millis = alarm("1718000000000", "1718003600000");
        let seconds = alarm("1718000000", "1718003600");
        assert_eq!(millis.started_at.unwrap().to_canonical(), "2024-06-10T06:13:20.000Z");
        assert_eq!(seconds.started_at, millis.started_at);
        assert_eq!(seconds.ended_at, millis.ended_at);
        assert_eq!(seconds.vendor_alert_key, "NE=1|E|2064|1718000000000");
        assert_eq!(seconds.vendor_alert_key, millis.vendor_alert_key);
    }

    #[test]
    fn documented_alarms_get_occurrence_keys_and_recovery() {
        let rows: Data<Vec<Box<RawValue>>> =
            serde_json::from_str(&fixture("alarm_list.json")).unwrap();
        let alerts: Vec<Result<VendorAlert, String>> = rows
            .data
            .unwrap()
            .iter()
            .map(|row| crate::vendors::paging::decode_row(row.get(), alert))
            .collect();
        let open = alerts[0].as_ref().unwrap();
        assert_eq!(open.vendor_alert_key, "NE=33554875|102XXXXXXX|2064|1718000000000");
        assert_eq!(open.severity, Severity::High);
        assert_eq!(open.status, AlertStatus::Active);
        assert_eq!(open.started_at.unwrap().to_canonical(), "2024-06-10T06:13:20.000Z");
        assert_eq!(
            open.description.as_deref(),
            Some("Grid voltage above threshold; Check grid voltage")
        );
        let closed = alerts[1].as_ref().unwrap();
        assert_eq!(closed.status, AlertStatus::Resolved);
        assert_eq!(closed.ended_at.unwrap().to_canonical(), "2024-06-10T07:13:20.000Z");
        assert_eq!(closed.severity, Severity::Critical);
        assert!(alerts[2].as_ref().unwrap_err().contains("raiseTime"));
    }
}

#[cfg(test)]
mod history_tests {
    use super::super::wire::{Data, KpiDayRow};
    use super::*;
    use crate::vendors::paging::decode_row;
    use chrono::NaiveDate;
    use serde_json::value::RawValue;

    fn read(body: &str, zone: &str) -> Vec<Result<VendorDay, String>> {
        let zone: PlantZone = zone.parse().unwrap();
        let reply: Data<Vec<Box<RawValue>>> = serde_json::from_str(body).unwrap();
        reply
            .data
            .unwrap()
            .iter()
            .map(|row| {
                decode_row(row.get(), |row: KpiDayRow, _| {
                    kpi_day(row, |code| (code != "NE=9").then_some(zone))
                })
            })
            .collect()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// The real reply of vendor-history-apis.md §4 (issue #271): `1761951600000` is
    /// 2025-10-31T23:00Z, 1 November 00:00 CET; read as a UTC date it would be 31 October.
    #[test]
    fn collect_time_is_the_station_local_midnight_in_cet() {
        let body = r#"{"success":true,"failCode":0,"data":[{"collectTime":1761951600000,
          "stationCode":"NE=123456789","dataItemMap":{"PVYield":17.98,"inverter_power":17.98,
          "inverterYield":14.59,"use_power":13.88,"ongrid_power":5.9,"buyPower":5.19,
          "installed_capacity":10.0,"power_profit":-5.99}},
          {"collectTime":1762038000000,"stationCode":"NE=123456789","dataItemMap":{}},
          {"collectTime":"1762124400000","stationCode":"NE=123456789","dataItemMap":{"PVYield":null,"inverter_power":"4.77"}},
          {"collectTime":1762210800000,"stationCode":"NE=9","dataItemMap":{"PVYield":1}},
          {"collectTime":1762297200000,"stationCode":"NE=123456789","dataItemMap":{"PVYield":true}}]}"#;
        for zone in ["Europe/Berlin", "Etc/GMT-1"] {
            let rows = read(body, zone);
            let ok = |d: &str, kwh: Option<f64>| {
                Ok(VendorDay {
                    vendor_plant_id: "NE=123456789".into(),
                    day: day(d),
                    energy_kwh: kwh,
                })
            };
            assert_eq!(rows[0], ok("2025-11-01", Some(17.98)), "{zone}: PVYield, local day");
            assert_eq!(rows[1], ok("2025-11-02", None), "an empty dataItemMap is no data");
            assert_eq!(
                rows[2],
                ok("2025-11-03", Some(4.77)),
                "inverter_power when PVYield is null"
            );
            assert!(rows[3].as_ref().unwrap_err().contains("not asked"));
            assert!(rows[4].is_err(), "a boolean fails that row alone");
        }
    }

    /// The doc sample `1501776000000` is 00:00 on 4 August 2017 in UTC+8 (16:00Z on the
    /// 3rd); a summer midnight of Berlin (22:00Z) read in a stored fixed `Etc/GMT-1` is
    /// still its own day.
    #[test]
    fn collect_time_in_utc_plus_8_and_across_dst() {
        let body = r#"{"success":true,"failCode":0,"data":[
          {"collectTime":1501776000000,"stationCode":"NE=1","dataItemMap":{"inverter_power":"30.5"}}]}"#;
        let rows = read(body, "Asia/Shanghai");
        assert_eq!(rows[0].as_ref().unwrap().day, day("2017-08-04"));
        assert_eq!(rows[0].as_ref().unwrap().energy_kwh, Some(30.5));
        // 2024-07-01 00:00 CEST = 2024-06-30T22:00Z.
        let summer = r#"{"success":true,"failCode":0,"data":[
          {"collectTime":1719784800000,"stationCode":"NE=1","dataItemMap":{"PVYield":3}}]}"#;
        for zone in ["Europe/Berlin", "Etc/GMT-1"] {
            assert_eq!(read(summer, zone)[0].as_ref().unwrap().day, day("2024-07-01"), "{zone}");
        }
    }
}
