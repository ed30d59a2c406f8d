//! SolarEdge wire records to domain records. Pure: no I/O, tested on recorded payloads.

use super::wire::{Overview, Site, V2Alert};
use crate::domain::{AlertStatus, Severity, Timestamp, VendorAlert, VendorPlant};
use crate::vendors::lenient;
use crate::vendors::zones::{checked_zone, local_time};

/// Wh (or W) to kWh (or kW).
fn kilo(value: Option<f64>) -> Option<f64> {
    value.map(|v| v / 1000.0)
}

/// One site of the list. Its `lastUpdateTime` is site-local and becomes UTC through the
/// site's zone; without a zone, or unreadable, it is not kept (a wrong instant is worse
/// than none, and a bad optional field never costs the plant).
pub(super) fn plant(site: Site, raw: &str) -> Result<VendorPlant, String> {
    let id = site.id.ok_or("site without an id")?;
    let location = site.location.unwrap_or_default();
    let timezone = location.time_zone.as_deref().and_then(checked_zone);
    let vendor_updated_at = match (&site.last_update_time, &timezone) {
        (Some(text), Some(zone)) => local_time(text, zone),
        _ => None,
    };
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
        network_status: site.status.map(|s| s.to_ascii_uppercase()),
        // `Active` / `Pending` / `Disabled` is the site's administrative state, not whether
        // it reports: the list says nothing about connectivity, so the status stays `unknown`.
        status: None,
        current_power_kw: None,
        daily_energy_kwh: None,
        total_energy_kwh: None,
        vendor_updated_at,
        raw_json: Some(raw.to_owned()),
    })
}

/// Adds a site's overview readings (Wh and W converted to kWh and kW).
pub(super) fn apply_overview(plant: &mut VendorPlant, overview: &Overview) {
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

#[cfg(test)]
mod tests {
    use super::super::wire::{BulkOverview, OverviewEntry, SitesEnvelope};
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/solaredge/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn decode_sites(name: &str) -> Vec<Result<VendorPlant, String>> {
        let envelope: SitesEnvelope = serde_json::from_str(&fixture(name)).unwrap();
        let page = envelope.sites.unwrap();
        page.site
            .or(page.list)
            .unwrap()
            .iter()
            .map(|row| {
                serde_json::from_str::<Site>(row.get())
                    .map_err(|e| e.to_string())
                    .and_then(|site| plant(site, row.get()))
            })
            .collect()
    }

    #[test]
    fn recorded_site_list_converts_with_zones_and_local_times() {
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
    fn recorded_bulk_overview_converts_wh_to_kwh() {
        let bulk: BulkOverview = serde_json::from_str(&fixture("overview_bulk.json")).unwrap();
        let entries = bulk.sites_overviews.unwrap().site_energy_list.unwrap();
        let first: OverviewEntry = serde_json::from_str(entries[0].get()).unwrap();
        assert_eq!(first.site_id.as_deref(), Some("62137"));
        let mut home = VendorPlant { vendor_plant_id: "62137".into(), ..Default::default() };
        apply_overview(&mut home, first.site_overview.as_ref().unwrap());
        assert_eq!(home.total_energy_kwh, Some(30_432.5));
        assert_eq!(home.daily_energy_kwh, Some(21.25));
        assert_eq!(home.current_power_kw, Some(2.5));
        let night: OverviewEntry = serde_json::from_str(entries[1].get()).unwrap();
        let mut dark = VendorPlant::default();
        apply_overview(&mut dark, night.site_overview.as_ref().unwrap());
        assert_eq!(dark.current_power_kw, Some(0.0), "a zero reading stays zero");
        assert_eq!(dark.daily_energy_kwh, None, "a missing reading is not a zero");
    }

    #[test]
    fn recorded_v2_alerts_get_occurrence_keys_and_severities() {
        let text = fixture("alerts_v2.json");
        let rows: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text).unwrap();
        let alerts: Vec<Result<VendorAlert, String>> = rows
            .iter()
            .map(|row| {
                serde_json::from_str::<V2Alert>(row.get())
                    .map_err(|e| e.to_string())
                    .and_then(|a| alert(a, row.get()))
            })
            .collect();
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
