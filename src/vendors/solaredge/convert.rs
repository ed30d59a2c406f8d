//! SolarEdge wire records to domain records. Pure: no I/O, tested on recorded payloads.
//!
//! # Update times and status
//!
//! The real site list sends `lastUpdateTime` as a bare date (`"2016-06-15"`, both recorded
//! lists), the bulk overview as a site-local time (`"2021-11-01 12:21:07"`). The plant's
//! update time is the overview's; a list date says only on which day the site last
//! reported. SolarEdge's `status` (`Active`, `Pending`, `Disabled`) is administrative, so
//! whether a site reports comes from the age of its last report ([`SILENT_OFFLINE_AFTER`]).

use super::wire::{EnergyValue, Overview, Site, V2Alert};
use crate::domain::{
    AlertStatus, PlantStatus, PlantZone, Severity, Timestamp, VendorAlert, VendorPlant,
};
use crate::vendors::history::VendorDay;
use crate::vendors::lenient;
use crate::vendors::zones::{LocalReading, checked_zone, local_reading, past_local_reading};
use chrono::NaiveDate;

/// A site whose last report is older than this is offline. Inverters stop reporting after
/// dark (a winter night at a high latitude goes some 17 hours without a report), so a
/// shorter threshold would call every site offline every night; a site silent for a whole
/// day has missed a day's daylight.
pub(crate) const SILENT_OFFLINE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Wh (or W) to kWh (or kW).
fn kilo(value: Option<f64>) -> Option<f64> {
    value.map(|v| v / 1000.0)
}

/// Whether a site reports, from its last report's time: `Offline` past
/// [`SILENT_OFFLINE_AFTER`], else `Online`.
fn status_by_age(last_report: &Timestamp, now: &Timestamp) -> PlantStatus {
    if now.as_datetime() - last_report.as_datetime() > SILENT_OFFLINE_AFTER {
        PlantStatus::Offline
    } else {
        PlantStatus::Online
    }
}

/// What a site's `lastUpdateTime` in the list says, read in its zone at `now`.
fn list_reading(site: &Site, zone: Option<&str>, now: &Timestamp) -> Option<LocalReading> {
    past_local_reading(site.last_update_time.as_deref()?, zone?, now)
}

/// The plant-local day of a site's last report, when the list gives only a day.
pub(super) fn listed_day(site: &Site) -> Option<NaiveDate> {
    let zone = site.location.as_ref()?.time_zone.as_deref().and_then(checked_zone)?;
    match local_reading(site.last_update_time.as_deref()?, &zone)? {
        LocalReading::Day(day) => Some(day),
        LocalReading::At(_) => None,
    }
}

/// One site of the list, read at `now`. A list time with a clock is the site's update time
/// (through the site's zone) and dates its status; a bare date is no update time (the
/// overview gives it) and marks the site offline only when even that day's end is past
/// [`SILENT_OFFLINE_AFTER`]. Without a zone, or unreadable, nothing is kept (a wrong
/// instant is worse than none, and a bad optional field never costs the plant).
pub(super) fn plant(site: Site, raw: &str, now: &Timestamp) -> Result<VendorPlant, String> {
    let location = site.location.as_ref();
    let timezone = location.and_then(|l| l.time_zone.as_deref()).and_then(checked_zone);
    let (vendor_updated_at, status) = match list_reading(&site, timezone.as_deref(), now) {
        Some(LocalReading::At(time)) => (Some(time), Some(status_by_age(&time, now))),
        Some(LocalReading::Day(day)) => {
            let zone = timezone.as_deref().and_then(|z| z.parse::<PlantZone>().ok());
            let silent = zone
                .and_then(|zone| zone.end_of_day(day))
                .is_some_and(|end| status_by_age(&end, now) == PlantStatus::Offline);
            (None, silent.then_some(PlantStatus::Offline))
        }
        None => (None, None),
    };
    let id = site.id.ok_or("site without an id")?;
    let location = site.location.unwrap_or_default();
    let city_line = [location.zip.as_deref(), location.city.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let address = [
        location.address.as_deref(),
        location.address2.as_deref(),
        (!city_line.is_empty()).then_some(city_line.as_str()),
        location.state.as_deref(),
        location.country.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    Ok(VendorPlant {
        vendor_plant_id: id,
        name: site.name,
        capacity_kw: site.peak_power,
        address: (!address.is_empty()).then_some(address),
        latitude: None,
        longitude: None,
        timezone,
        // The administrative word (`ACTIVE`, `PENDING`) stays the vendor's own.
        network_status: site.status.map(|s| s.to_ascii_uppercase()),
        status,
        current_power_kw: None,
        daily_energy_kwh: None,
        total_energy_kwh: None,
        vendor_updated_at,
        raw_json: Some(raw.to_owned()),
    })
}

/// Adds a site's overview readings (Wh and W converted to kWh and kW), read at `now`: its
/// `lastUpdateTime`, site-local, is the plant's update time and dates its status.
pub(super) fn apply_overview(plant: &mut VendorPlant, overview: &Overview, now: &Timestamp) {
    let energy = |e: &Option<super::wire::Energy>| e.as_ref().and_then(|e| e.energy);
    if let Some(power) = overview.current_power.as_ref().and_then(|p| p.power) {
        plant.current_power_kw = kilo(Some(power));
    }
    if let Some(today) = kilo(energy(&overview.last_day_data)) {
        plant.daily_energy_kwh = Some(today);
    }
    if let Some(total) = kilo(energy(&overview.life_time_data)) {
        plant.total_energy_kwh = Some(total);
    }
    let reading = match (&overview.last_update_time, &plant.timezone) {
        (Some(text), Some(zone)) => past_local_reading(text, zone, now),
        _ => None,
    };
    if let Some(LocalReading::At(time)) = reading {
        plant.vendor_updated_at = Some(time);
        plant.status = Some(status_by_age(&time, now));
    }
}

/// Whether a site's overview can wait behind the others: the list says its last report was
/// on a day already over (`listed_day`, plant-local) and the stored readings are from that
/// day or later, so it has not reported since they were read, as far as the list can tell.
/// Such sites are read after every other (not never: a report later on that day than the
/// stored one is possible).
pub(super) fn no_news_since(
    listed_day: Option<NaiveDate>,
    stored: Option<&Timestamp>,
    zone: Option<&str>,
    now: &Timestamp,
) -> bool {
    let (Some(day), Some(stored), Some(zone)) =
        (listed_day, stored, zone.and_then(|z| z.parse::<PlantZone>().ok()))
    else {
        return false;
    };
    day < zone.local_date(now) && day <= zone.local_date(stored)
}

/// A v2 alert's impact (1-9, or a level name) as a severity.
pub(super) fn severity(impact: Option<&serde_json::Value>) -> Severity {
    let Some(impact) = impact else { return Severity::Medium };
    if let Ok(Some(level)) = lenient::number_from_value(impact) {
        return match level as i64 {
            ..=2 => Severity::Low,
            3..=4 => Severity::Medium,
            5..=6 => Severity::High,
            _ => Severity::Critical,
        };
    }
    match impact.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("LOW") => Severity::Low,
        Some("HIGH") => Severity::High,
        Some("CRITICAL") => Severity::Critical,
        _ => Severity::Medium,
    }
}

/// `SITE_COMMUNICATION_FAULT` as `Site communication fault`.
fn title(alert_type: &str) -> String {
    let words = alert_type.to_ascii_lowercase().replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// One open v2 alert. SolarEdge names alert types, not occurrences: the occurrence is the
/// site, the type and the first trigger time.
pub(super) fn alert(row: V2Alert, raw: &str) -> Result<VendorAlert, String> {
    let site = row.site_id.ok_or("alert without a siteId")?;
    let alert_type = row.alert_type.ok_or("alert without a type")?;
    let trigger = row.first_trigger.ok_or("alert without a firstTrigger")?;
    let started_at = chrono::DateTime::parse_from_rfc3339(&trigger)
        .map(|t| Timestamp::from_datetime(&t))
        .map_err(|e| format!("firstTrigger '{trigger}': {e}"))?;
    Ok(VendorAlert {
        vendor_alert_key: format!("{site}|{alert_type}|{}", started_at.to_canonical()),
        vendor_plant_id: Some(site),
        device_sn: None,
        severity: severity(row.impact.as_ref()),
        status: AlertStatus::Active,
        title: title(&alert_type),
        code: Some(alert_type),
        description: None,
        started_at: Some(started_at),
        ended_at: None,
        raw_json: Some(raw.to_owned()),
    })
}

/// Units of an energy series' `unit` in one kWh (`Wh` when it says none: 1000); `None`
/// for a unit that is no energy unit. A divisor, so 294900 Wh is 294.9 kWh exactly as
/// written, not 294.90000000000003.
pub(super) fn units_per_kwh(unit: Option<&str>) -> Option<f64> {
    match unit.map(str::trim) {
        None | Some("Wh") => Some(1000.0),
        Some("kWh") => Some(1.0),
        Some("MWh") => Some(0.001),
        Some(_) => None,
    }
}

/// One `values` entry of site `site_id`: the site-local day from `date`
/// (`YYYY-MM-DD 00:00:00`), the value divided by `units_per_kwh`; `null` is "no data"
/// (`None`).
pub(super) fn energy_day(
    site_id: &str,
    value: EnergyValue,
    units_per_kwh: f64,
) -> Result<VendorDay, String> {
    let date = value.date.ok_or("an energy value without a date")?;
    let day = NaiveDate::parse_from_str(date.get(..10).unwrap_or(&date), "%Y-%m-%d")
        .map_err(|_| format!("an energy value dated '{date}', not YYYY-MM-DD"))?;
    let energy_kwh = value.value.map(|v| v / units_per_kwh);
    if energy_kwh.is_some_and(|kwh| !kwh.is_finite()) {
        return Err(format!("an energy value on {day} beyond any number"));
    }
    Ok(VendorDay { vendor_plant_id: site_id.to_owned(), day, energy_kwh })
}

#[cfg(test)]
mod tests {
    use super::super::wire::{BulkOverview, OverviewEntry, SitesEnvelope};
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/solaredge/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A time well after every fixture's readings and one just after a given one.
    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn decode_sites_at(name: &str, now: &Timestamp) -> Vec<Result<VendorPlant, String>> {
        let envelope: SitesEnvelope = serde_json::from_str(&fixture(name)).unwrap();
        let page = envelope.sites.unwrap();
        page.site
            .or(page.list)
            .unwrap()
            .iter()
            .map(|row| {
                serde_json::from_str::<Site>(row.get())
                    .map_err(|e| e.to_string())
                    .and_then(|site| plant(site, row.get(), now))
            })
            .collect()
    }

    fn decode_sites(name: &str) -> Vec<Result<VendorPlant, String>> {
        decode_sites_at(name, &at("2024-06-10T12:00:00Z"))
    }

    /// The first site of a list fixture, as the wire record.
    fn first_site(name: &str) -> Site {
        let envelope: SitesEnvelope = serde_json::from_str(&fixture(name)).unwrap();
        let rows = envelope.sites.unwrap().site.unwrap();
        serde_json::from_str(rows[0].get()).unwrap()
    }

    /// A recorded single-site overview (`{"overview": {...}}`).
    fn single_overview(name: &str) -> Overview {
        #[derive(serde::Deserialize)]
        struct Single {
            overview: Overview,
        }
        serde_json::from_str::<Single>(&fixture(name)).unwrap().overview
    }

    #[test]
    fn the_recorded_site_lists_give_a_day_not_an_instant() {
        // Both real lists send `lastUpdateTime` as a bare date: read as midnight it would
        // be up to a day off, so it is no update time, only the day of the last report.
        let now = at("2016-06-15T20:00:00Z");
        let walnut = decode_sites_at("recorded/sites_list__rogaha_pirtle.json", &now);
        let walnut = walnut[0].as_ref().unwrap();
        assert_eq!(walnut.vendor_plant_id, "237846");
        assert_eq!(walnut.name.as_deref(), Some("Pirtle, Brad"));
        assert_eq!(walnut.capacity_kw, Some(9.62));
        assert_eq!(walnut.timezone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(walnut.network_status.as_deref(), Some("ACTIVE"));
        assert_eq!(
            walnut.address.as_deref(),
            Some("Venado Camino 2616, 94598 Walnut Creek, California, United States")
        );
        assert_eq!(walnut.vendor_updated_at, None, "a date is not an instant");
        assert_eq!(walnut.status, None, "reported today, as far as the list says: not known");
        let day = NaiveDate::from_ymd_opt(2016, 6, 15).unwrap();
        assert_eq!(listed_day(&first_site("recorded/sites_list__rogaha_pirtle.json")), Some(day));

        let idan = decode_sites_at("recorded/sites_list__js_idan.json", &now);
        let idan = idan[0].as_ref().unwrap();
        assert_eq!(idan.vendor_plant_id, "714303");
        assert_eq!(idan.name.as_deref(), Some("Idan Cohen Gvaot"));
        assert_eq!(idan.capacity_kw, Some(7.47));
        assert_eq!(idan.timezone.as_deref(), Some("Asia/Jerusalem"));
        assert_eq!(
            idan.address.as_deref(),
            Some("Yakinton Street, Yakinton Street, 123456 Giv'ot Bar, Israel")
        );
        assert_eq!(idan.vendor_updated_at, None);
        // Its last report was on 2018-11-14: read on a day before, that day is ahead and
        // says nothing; read on 2018-11-16, more than a day after that day ended, offline.
        assert_eq!(idan.status, None);
        let later =
            decode_sites_at("recorded/sites_list__js_idan.json", &at("2018-11-16T12:00:00Z"));
        assert_eq!(later[0].as_ref().unwrap().status, Some(PlantStatus::Offline));
        // A day after the day's end, not yet: the day may have ended with a report.
        let next =
            decode_sites_at("recorded/sites_list__js_idan.json", &at("2018-11-15T12:00:00Z"));
        assert_eq!(next[0].as_ref().unwrap().status, None);
    }

    #[test]
    fn a_recorded_overview_gives_the_update_time_and_the_status() {
        // The PHP script's live reply, read as if for the Walnut Creek site's zone: on
        // 2021-11-01 Los Angeles is on daylight time (UTC-7).
        let overview = single_overview("recorded/site_overview__php_2021-11-01.json");
        let mut site = VendorPlant {
            vendor_plant_id: "237846".into(),
            timezone: Some("America/Los_Angeles".into()),
            ..Default::default()
        };
        apply_overview(&mut site, &overview, &at("2021-11-01T19:30:00Z"));
        assert_eq!(site.vendor_updated_at.unwrap().to_canonical(), "2021-11-01T19:21:07.000Z");
        assert_eq!(site.status, Some(PlantStatus::Online));
        assert_eq!(site.total_energy_kwh, Some(70_125.52));
        assert_eq!(site.daily_energy_kwh, Some(19.681));
        assert_eq!(site.current_power_kw, Some(9.418498));
        // Read more than a day after its last report, the same reply says offline.
        apply_overview(&mut site, &overview, &at("2021-11-02T19:22:00Z"));
        assert_eq!(site.status, Some(PlantStatus::Offline));
        // Without the site's zone there is no instant, and no status from it.
        let mut zoneless = VendorPlant::default();
        apply_overview(&mut zoneless, &overview, &at("2021-11-01T19:30:00Z"));
        assert_eq!((zoneless.vendor_updated_at, zoneless.status), (None, None));
        assert_eq!(zoneless.daily_energy_kwh, Some(19.681), "the readings still count");
    }

    #[test]
    fn every_recorded_overview_decodes_field_by_field() {
        let zone = |name: &str| VendorPlant { timezone: Some(name.into()), ..Default::default() };
        for (name, zone_name, time, total, today, power) in [
            (
                "recorded/site_overview__fibaro_2021-08-12.json",
                "Europe/Warsaw",
                "2021-08-12T11:46:04.000Z",
                7_827.878,
                7.373,
                0.13473499,
            ),
            (
                "recorded/site_overview__mmm_2019-03-10.json",
                "Europe/Amsterdam",
                "2019-03-10T15:54:51.000Z",
                38.513,
                18.138,
                0.83386755,
            ),
        ] {
            let mut site = zone(zone_name);
            apply_overview(&mut site, &single_overview(name), &at(time));
            assert_eq!(site.vendor_updated_at.unwrap().to_canonical(), time, "{name}");
            assert_eq!(site.total_energy_kwh, Some(total), "{name}");
            assert_eq!(site.daily_energy_kwh, Some(today), "{name}");
            assert_eq!(site.current_power_kw, Some(power), "{name}");
            assert_eq!(site.status, Some(PlantStatus::Online), "{name}");
        }
        // The bulk shape (its author's dummy values, the real field names).
        let bulk: BulkOverview =
            serde_json::from_str(&fixture("recorded/sites_overview_bulk__tronbyt_dummy.json"))
                .unwrap();
        let entries = bulk.sites_overviews.unwrap().site_energy_list.unwrap();
        let entry: OverviewEntry = serde_json::from_str(entries[0].get()).unwrap();
        assert_eq!(entry.site_id.as_deref(), Some("93082"));
        let mut site = zone("GMT");
        apply_overview(
            &mut site,
            entry.site_overview.as_ref().unwrap(),
            &at("2024-10-16T20:05:00Z"),
        );
        assert_eq!(site.vendor_updated_at.unwrap().to_canonical(), "2024-10-16T20:00:41.000Z");
        assert_eq!(site.total_energy_kwh, Some(86_302.544));
        assert_eq!(site.daily_energy_kwh, Some(4.973));
        assert_eq!(site.current_power_kw, Some(0.0025));
    }

    #[test]
    fn sites_silent_since_their_stored_readings_wait_behind_the_others() {
        let zone = Some("Europe/Amsterdam");
        let now = at("2024-06-12T10:00:00Z");
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 6, d);
        let stored = at("2024-06-10T17:00:00Z");
        // Last reported on the 10th, readings stored from the 10th: nothing new.
        assert!(no_news_since(day(10), Some(&stored), zone, &now));
        // Reported today (the 12th), or on the 11th after the stored readings: news.
        assert!(!no_news_since(day(12), Some(&stored), zone, &now));
        assert!(!no_news_since(day(11), Some(&stored), zone, &now));
        // Never read, no day, or no zone: never deferred.
        assert!(!no_news_since(day(10), None, zone, &now));
        assert!(!no_news_since(None, Some(&stored), zone, &now));
        assert!(!no_news_since(day(10), Some(&stored), None, &now));
    }

    #[test]
    fn documented_site_list_converts_with_zones_and_local_times() {
        let rows = decode_sites("sites_list.json");
        assert_eq!(rows.len(), 4);
        let home = rows[0].as_ref().unwrap();
        assert_eq!(home.vendor_plant_id, "62137");
        assert_eq!(home.name.as_deref(), Some("Demo Home"));
        assert_eq!(home.capacity_kw, Some(6.13));
        assert_eq!(home.timezone.as_deref(), Some("Europe/Amsterdam"));
        assert_eq!(home.network_status.as_deref(), Some("ACTIVE"));
        // 13:05 in Amsterdam in June is 11:05 UTC.
        assert_eq!(home.vendor_updated_at.unwrap().to_canonical(), "2024-06-10T11:05:00.000Z");
        assert_eq!(home.address.as_deref(), Some("Main St 13, 3871 TP Hoevelaken, Netherlands"));
        let gmt = rows[1].as_ref().unwrap();
        assert_eq!(gmt.timezone.as_deref(), Some("GMT"));
        assert_eq!(gmt.vendor_updated_at.unwrap().to_canonical(), "2024-01-02T08:00:00.000Z");
        assert_eq!(gmt.capacity_kw, Some(12.0), "numbers as text are read");
        let no_zone = rows[2].as_ref().unwrap();
        assert_eq!(no_zone.vendor_updated_at, None, "no zone, no instant");
        assert!(rows[3].as_ref().unwrap_err().contains("expected a number"), "{:?}", rows[3]);
    }

    #[test]
    fn documented_list_key_is_accepted() {
        let rows = decode_sites("sites_list_documented.json");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].as_ref().unwrap().vendor_plant_id, "1");
    }

    #[test]
    fn documented_bulk_overview_converts_wh_to_kwh() {
        let bulk: BulkOverview = serde_json::from_str(&fixture("overview_bulk.json")).unwrap();
        let entries = bulk.sites_overviews.unwrap().site_energy_list.unwrap();
        let first: OverviewEntry = serde_json::from_str(entries[0].get()).unwrap();
        assert_eq!(first.site_id.as_deref(), Some("62137"));
        let mut home = VendorPlant { vendor_plant_id: "62137".into(), ..Default::default() };
        apply_overview(&mut home, first.site_overview.as_ref().unwrap(), &Timestamp::now());
        assert_eq!(home.total_energy_kwh, Some(30_432.5));
        assert_eq!(home.daily_energy_kwh, Some(21.25));
        assert_eq!(home.current_power_kw, Some(2.5));
        let night: OverviewEntry = serde_json::from_str(entries[1].get()).unwrap();
        let mut dark = VendorPlant::default();
        apply_overview(&mut dark, night.site_overview.as_ref().unwrap(), &Timestamp::now());
        assert_eq!(dark.current_power_kw, Some(0.0), "a zero reading stays zero");
        assert_eq!(dark.daily_energy_kwh, None, "a missing reading is not a zero");
    }

    #[test]
    fn documented_v2_alerts_get_occurrence_keys_and_severities() {
        let text = fixture("alerts_v2.json");
        let rows: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text).unwrap();
        let alerts: Vec<Result<VendorAlert, String>> =
            rows.iter().map(|row| crate::vendors::paging::decode_row(row.get(), alert)).collect();
        let first = alerts[0].as_ref().unwrap();
        assert_eq!(
            first.vendor_alert_key,
            "62137|SITE_COMMUNICATION_FAULT|2024-06-10T11:05:00.000Z"
        );
        assert_eq!(first.title, "Site communication fault");
        assert_eq!(first.severity, Severity::Critical);
        assert_eq!(first.vendor_plant_id.as_deref(), Some("62137"));
        assert_eq!(alerts[1].as_ref().unwrap().severity, Severity::Low);
        assert!(alerts[2].as_ref().unwrap_err().contains("firstTrigger"));
    }
}

#[cfg(test)]
mod history_tests {
    use super::super::wire::{BulkEnergy, EnergyValue, SiteEnergy, SiteEnergyEntry};
    use super::*;
    use crate::vendors::paging::decode_row;

    fn days_of(
        values: &[Box<serde_json::value::RawValue>],
        site: &str,
        unit: Option<&str>,
    ) -> Vec<Result<VendorDay, String>> {
        let factor = units_per_kwh(unit).unwrap();
        values
            .iter()
            .map(|v| decode_row(v.get(), |v: EnergyValue, _| energy_day(site, v, factor)))
            .collect()
    }

    /// The single-site reply of vendor-history-apis.md §3: Wh, `null` for no data.
    #[test]
    fn site_energy_in_wh_with_null_for_no_data() {
        let body = r#"{"energy":{"timeUnit":"DAY","unit":"Wh","measuredBy":"INVERTER",
          "values":[{"date":"2019-05-27 00:00:00","value":14679.0},
                    {"date":"2013-06-01 00:00:00","value":null},
                    {"date":"27/05/2019","value":1.0}]}}"#;
        let reply: SiteEnergy = serde_json::from_str(body).unwrap();
        let series = reply.energy.unwrap();
        let read = days_of(&series.values.unwrap(), "1", series.unit.as_deref());
        let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        assert_eq!(
            read[0],
            Ok(VendorDay {
                vendor_plant_id: "1".into(),
                day: day("2019-05-27"),
                energy_kwh: Some(14.679)
            })
        );
        assert_eq!(
            read[1],
            Ok(VendorDay { vendor_plant_id: "1".into(), day: day("2013-06-01"), energy_kwh: None }),
            "null is no data, not 0"
        );
        assert!(read[2].is_err());
    }

    /// The bulk reply: one entry per site, the unit on the whole.
    #[test]
    fn bulk_energy_names_each_site() {
        let body = r#"{"sitesEnergy":{"timeUnit":"DAY","unit":"Wh","count":2,"siteEnergyList":[
          {"siteId":1,"energyValues":{"measuredBy":"INVERTER","values":[{"date":"2024-05-01 00:00:00","value":"2500"}]}},
          {"siteId":"2","energyValues":{"measuredBy":"METER","values":[{"date":"2024-05-01 00:00:00","value":null}]}}]}}"#;
        let reply: BulkEnergy = serde_json::from_str(body).unwrap();
        let series = reply.sites_energy.unwrap();
        let mut found = Vec::new();
        for entry in series.site_energy_list.unwrap() {
            let entry: SiteEnergyEntry = serde_json::from_str(entry.get()).unwrap();
            let id = entry.site_id.unwrap();
            for day in
                days_of(&entry.energy_values.unwrap().values.unwrap(), &id, series.unit.as_deref())
            {
                let day = day.unwrap();
                found.push((day.vendor_plant_id, day.energy_kwh));
            }
        }
        assert_eq!(found, [("1".to_owned(), Some(2.5)), ("2".to_owned(), None)]);
        assert_eq!(units_per_kwh(Some("kWh")), Some(1.0));
        assert_eq!(units_per_kwh(Some("W")), None, "no energy unit: not read");
    }
}
