//! Growatt wire records to domain records. Pure: no I/O, tested on recorded payloads.

use super::wire::{EnergyRow, Plant, PlantData, PlantDetails};
use crate::domain::{PlantStatus, Timestamp, VendorPlant};
use crate::vendors::codes;
use crate::vendors::history::VendorDay;
use crate::vendors::zones::{checked_zone, past_local_time};

/// Growatt's plant `status` as its word and plantsync's status: 0 offline, 1 normal, 2
/// fault, 3 standby (the inverters report but wait for sun or grid, so the plant is
/// reachable: `online`). The codes are not documented; these are the ones integrators
/// report. Another code is `unknown`, or nothing for garbage ([`codes::unknown_code`]).
fn status(code: i64) -> Option<(String, PlantStatus)> {
    let (word, status) = match code {
        0 => ("OFFLINE", PlantStatus::Offline),
        1 => ("NORMAL", PlantStatus::Online),
        2 => ("FAULT", PlantStatus::Fault),
        3 => ("STANDBY", PlantStatus::Online),
        _ => return codes::unknown_code(code),
    };
    Some((word.to_owned(), status))
}

/// A text field as entered: Growatt fills a field never entered with `"0"` (its documented
/// list example has `city`, `installer` and `operator` all `"0"`), which is no place name.
fn entered(text: Option<&str>) -> Option<&str> {
    text.filter(|text| *text != "0")
}

/// One plant of the list (power in kW, energy in kWh, capacity in kWp). A `peak_power` of 0
/// is a size never entered (no plant has 0 kWp; Growatt's example plant, otherwise blank,
/// has it), so the capacity is unknown rather than zero.
pub(super) fn plant(row: Plant, raw: &str) -> Result<VendorPlant, String> {
    let id = row.plant_id.ok_or("plant without a plant_id")?;
    let address = [entered(row.city.as_deref()), entered(row.country.as_deref())]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    Ok(VendorPlant {
        vendor_plant_id: id,
        name: row.name,
        capacity_kw: row.peak_power.filter(|kw| *kw > 0.0),
        address: (!address.is_empty()).then_some(address),
        latitude: row.latitude,
        longitude: row.longitude,
        timezone: row.timezone.as_deref().and_then(checked_zone),
        network_status: row.status.and_then(status).map(|(word, _)| word),
        status: row.status.and_then(status).map(|(_, status)| status),
        current_power_kw: row.current_power,
        daily_energy_kwh: None,
        total_energy_kwh: row.total_energy,
        vendor_updated_at: None,
        raw_json: Some(raw.to_owned()),
    })
}

/// Takes the coordinates of `plant/details` where the list gave none (it often sends `""`).
/// Both or neither: half a position is no position.
pub(super) fn apply_coordinates(plant: &mut VendorPlant, details: &PlantDetails) {
    if plant.latitude.is_none()
        && plant.longitude.is_none()
        && let (Some(latitude), Some(longitude)) = (details.latitude, details.longitude)
    {
        plant.latitude = Some(latitude);
        plant.longitude = Some(longitude);
    }
}

/// Adds `plant/data` readings. Its update time is local to the reply's own `timezone`
/// (`GMT+8`, as Growatt's documented reply carries it), else to the plant's known zone; it
/// becomes UTC only when one of them is known. A plant without a zone yet (its details
/// refused, or without one) takes the reply's. `arrived` is when the reply arrived: in the
/// hour a DST change repeats, the update time is the later instant unless that is still to
/// come ([`past_local_time`]).
pub(super) fn apply_data(plant: &mut VendorPlant, data: &PlantData, arrived: &Timestamp) {
    let own_zone = data.timezone.as_deref().and_then(checked_zone);
    if plant.timezone.is_none() {
        plant.timezone.clone_from(&own_zone);
    }
    let zone = own_zone.as_ref().or(plant.timezone.as_ref());
    if data.current_power.is_some() {
        plant.current_power_kw = data.current_power;
    }
    if data.today_energy.is_some() {
        plant.daily_energy_kwh = data.today_energy;
    }
    if data.total_energy.is_some() {
        plant.total_energy_kwh = data.total_energy;
    }
    if let (Some(text), Some(zone)) = (&data.last_update_time, zone) {
        plant.vendor_updated_at = past_local_time(text, zone, arrived);
    }
}

/// One `energys` row of plant `plant_id`: the plant-local day from `date`, `energy` in kWh
/// (text or number); a row without a value is "no data", never 0.
pub(super) fn energy_day(plant_id: &str, row: EnergyRow) -> Result<VendorDay, String> {
    let date = row.date.ok_or("an energy row without a date")?;
    let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .map_err(|_| format!("an energy row dated '{date}', not YYYY-MM-DD"))?;
    Ok(VendorDay { vendor_plant_id: plant_id.to_owned(), day, energy_kwh: row.energy })
}

#[cfg(test)]
mod tests {
    use super::super::wire::{Data, PlantPage};
    use super::*;

    #[test]
    fn status_codes_map_to_one_status_beside_the_word() {
        use PlantStatus::{Fault, Offline, Online};
        for (code, normalized, word) in [
            (0, Offline, "OFFLINE"),
            (1, Online, "NORMAL"),
            (2, Fault, "FAULT"),
            (3, Online, "STANDBY"),
        ] {
            assert_eq!(status(code), Some((word.to_owned(), normalized)), "{code}");
        }
        // An unknown code is `unknown` under its own digits, never a made-up word; garbage
        // says nothing, so the stored status stays.
        assert_eq!(status(9), Some(("9".to_owned(), PlantStatus::Unknown)));
        for code in [-1, i64::MIN, i64::MAX] {
            assert_eq!(status(code), None, "{code}");
        }
    }

    /// Growatt's documented examples: the list sends `""` coordinates, the details have
    /// them; a plant takes them from the details, and never half a position.
    #[test]
    fn coordinates_come_from_the_details_where_the_list_has_none() {
        let page: Data<PlantPage> =
            serde_json::from_str(&fixture("recorded/plant_list__apidoc.json")).unwrap();
        let row = page.data.unwrap().plants.unwrap().remove(0);
        let raw = row.get().to_owned();
        let mut listed = plant(serde_json::from_str(&raw).unwrap(), &raw).unwrap();
        assert_eq!((listed.latitude, listed.longitude), (None, None), "the list's \"\"");
        let details: Data<PlantDetails> =
            serde_json::from_str(&fixture("recorded/plant_details__apidoc.json")).unwrap();
        let details = details.data.unwrap();
        apply_coordinates(&mut listed, &details);
        assert_eq!((listed.latitude, listed.longitude), (Some(22.6), Some(113.9)));
        // A position the list gave is kept; half of one is not taken.
        let mut placed = VendorPlant { latitude: Some(1.0), ..VendorPlant::default() };
        apply_coordinates(&mut placed, &details);
        assert_eq!((placed.latitude, placed.longitude), (Some(1.0), None));
        let half = PlantDetails { longitude: None, ..details };
        let mut bare = VendorPlant::default();
        apply_coordinates(&mut bare, &half);
        assert_eq!((bare.latitude, bare.longitude), (None, None));
    }

    /// Growatt's documented list example, field by field. Its plant was never filled in:
    /// `city`, `installer` and `operator` are `"0"` and `peak_power` is `0`, Growatt's
    /// defaults for a field never entered, so the address is the country alone and the
    /// capacity unknown (not 0 kWp); `total_energy` is a number here (0 kWh is a reading),
    /// `current_power` `""` none; the list has no zone and no update time.
    #[test]
    fn the_documented_list_row_converts_field_by_field() {
        let page: Data<PlantPage> =
            serde_json::from_str(&fixture("recorded/plant_list__apidoc.json")).unwrap();
        let page = page.data.unwrap();
        assert_eq!(page.count, Some(1));
        let row = page.plants.unwrap().remove(0);
        let converted = plant(serde_json::from_str(row.get()).unwrap(), row.get()).unwrap();
        assert_eq!(
            converted,
            VendorPlant {
                vendor_plant_id: "1185".into(),
                name: Some("9".into()),
                capacity_kw: None,
                address: Some("China".into()),
                latitude: None,
                longitude: None,
                timezone: None,
                network_status: Some("NORMAL".into()),
                status: Some(PlantStatus::Online),
                current_power_kw: None,
                daily_energy_kwh: None,
                total_energy_kwh: Some(0.0),
                vendor_updated_at: None,
                raw_json: Some(row.get().to_owned()),
            }
        );
    }

    /// Growatt's documented details example: the zone `GMT+8` is `Etc/GMT-8`, the
    /// coordinates are text.
    #[test]
    fn the_documented_details_give_the_zone_and_the_position() {
        let details: Data<PlantDetails> =
            serde_json::from_str(&fixture("recorded/plant_details__apidoc.json")).unwrap();
        let details = details.data.unwrap();
        assert_eq!(
            details.timezone.as_deref().and_then(checked_zone).as_deref(),
            Some("Etc/GMT-8")
        );
        assert_eq!((details.latitude, details.longitude), (Some(22.6), Some(113.9)));
    }

    /// Growatt's documented `plant/data` example, field by field: a current power of `0`
    /// (a number, kW) is a reading; the energies are text in kWh; `last_update_time` is
    /// local to the reply's own `timezone` (`GMT+8`), so it becomes UTC even for a plant
    /// whose zone is not known yet (details refused, or without one), which takes that zone.
    #[test]
    fn the_documented_plant_data_converts_in_its_own_zone() {
        let data: Data<PlantData> =
            serde_json::from_str(&fixture("recorded/plant_data__apidoc.json")).unwrap();
        let data = data.data.unwrap();
        let mut unzoned = VendorPlant::default();
        apply_data(&mut unzoned, &data, &Timestamp::now());
        assert_eq!(unzoned.current_power_kw, Some(0.0), "0 kW is a reading");
        assert_eq!(unzoned.daily_energy_kwh, Some(0.0));
        assert_eq!(unzoned.total_energy_kwh, Some(15.7));
        assert_eq!(unzoned.timezone.as_deref(), Some("Etc/GMT-8"), "the reply's own zone");
        assert_eq!(
            unzoned.vendor_updated_at.map(|t| t.to_canonical()).as_deref(),
            Some("2018-12-13T03:06:34.000Z")
        );
        // A known zone is kept; the time is read in the reply's own.
        let mut zoned =
            VendorPlant { timezone: Some("Etc/GMT-8".into()), ..VendorPlant::default() };
        apply_data(&mut zoned, &data, &Timestamp::now());
        assert_eq!(zoned.timezone.as_deref(), Some("Etc/GMT-8"));
        assert_eq!(zoned.vendor_updated_at, unzoned.vendor_updated_at);
    }

    /// In the hour clocks go back (Berlin, 2026-10-25: 02:00-03:00 local twice), an update
    /// time is the later instant once the reply arrived after it, else the earlier one: read
    /// always as the earlier, a plant that reported at 02:30 after the change looked an hour
    /// older than it was.
    #[test]
    fn an_update_time_in_the_repeated_hour_is_read_by_the_replys_arrival() {
        let data: PlantData = serde_json::from_str(
            r#"{"current_power": 1.5, "last_update_time": "2026-10-25 02:30:00"}"#,
        )
        .unwrap();
        let read = |arrived: &str| {
            let mut plant =
                VendorPlant { timezone: Some("Europe/Berlin".into()), ..VendorPlant::default() };
            apply_data(&mut plant, &data, &arrived.parse().unwrap());
            plant.vendor_updated_at.map(|t| t.to_canonical())
        };
        // 02:30 CEST is 00:30Z; 02:30 CET, an hour later, is 01:30Z.
        assert_eq!(read("2026-10-25T01:31:00Z").as_deref(), Some("2026-10-25T01:30:00.000Z"));
        assert_eq!(read("2026-10-25T01:00:00Z").as_deref(), Some("2026-10-25T00:30:00.000Z"));
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/growatt/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn documented_plant_list_converts_with_text_numbers_and_placeholders() {
        let page: Data<PlantPage> = serde_json::from_str(&fixture("plant_list.json")).unwrap();
        let page = page.data.unwrap();
        assert_eq!(page.count, Some(3));
        let rows: Vec<Result<VendorPlant, String>> = page
            .plants
            .unwrap()
            .iter()
            .map(|row| crate::vendors::paging::decode_row(row.get(), plant))
            .collect();
        let demo = rows[0].as_ref().unwrap();
        assert_eq!(demo.vendor_plant_id, "24765");
        assert_eq!(demo.capacity_kw, Some(20.0));
        assert_eq!(demo.current_power_kw, Some(3.2));
        assert_eq!(demo.total_energy_kwh, Some(15.7));
        assert_eq!(demo.latitude, Some(22.6));
        assert_eq!(demo.address.as_deref(), Some("Shenzhen, China"));
        assert_eq!(demo.network_status.as_deref(), Some("NORMAL"));
        let dark = rows[1].as_ref().unwrap();
        assert_eq!(dark.current_power_kw, None, "\"\" is no reading, not zero");
        assert_eq!(dark.timezone.as_deref(), Some("Etc/GMT-8"));
        assert!(rows[2].is_err(), "{:?}", rows[2]);
    }

    #[test]
    fn plant_data_adds_energy_and_a_utc_time_when_the_zone_is_known() {
        let data: Data<PlantData> = serde_json::from_str(&fixture("plant_data.json")).unwrap();
        let data = data.data.unwrap();
        let mut zoned =
            VendorPlant { timezone: Some("Etc/GMT-8".into()), ..VendorPlant::default() };
        apply_data(&mut zoned, &data, &Timestamp::now());
        assert_eq!(zoned.daily_energy_kwh, Some(12.4));
        assert_eq!(zoned.total_energy_kwh, Some(15_730.9));
        assert_eq!(zoned.current_power_kw, Some(3.25));
        assert_eq!(zoned.vendor_updated_at.unwrap().to_canonical(), "2024-06-10T05:05:00.000Z");
        // India's plants: `plant/details` says `GMT+5:30`, stored as `+05:30`.
        let zone = checked_zone("GMT+5:30");
        assert_eq!(zone.as_deref(), Some("+05:30"));
        let mut india = VendorPlant { timezone: zone, ..VendorPlant::default() };
        apply_data(&mut india, &data, &Timestamp::now());
        assert_eq!(india.vendor_updated_at.unwrap().to_canonical(), "2024-06-10T07:35:00.000Z");
        let mut unzoned = VendorPlant::default();
        apply_data(&mut unzoned, &data, &Timestamp::now());
        assert_eq!(unzoned.vendor_updated_at, None);
    }
}

#[cfg(test)]
mod history_tests {
    use super::super::wire::{Data, Energies};
    use super::*;
    use crate::vendors::paging::decode_row;
    use chrono::NaiveDate;

    /// The documented reply of vendor-history-apis.md §5: kWh as text, `"0"` a real zero.
    #[test]
    fn energy_strings_in_kwh_become_days() {
        let body = r#"{"error_code":0,"error_msg":"","data":{"count":4,"time_unit":"day",
          "energys":[{"date":"2018-12-12","energy":"0"},{"date":"2018-12-13","energy":"7.6"},
                     {"date":"2018-12-14","energy":""},{"date":"2018-12","energy":"1"}]}}"#;
        let reply: Data<Energies> = serde_json::from_str(body).unwrap();
        let read: Vec<Result<VendorDay, String>> = reply
            .data
            .unwrap()
            .energys
            .unwrap()
            .iter()
            .map(|row| decode_row(row.get(), |row, _| energy_day("9", row)))
            .collect();
        let ok = |d: u32, kwh: Option<f64>| {
            Ok(VendorDay {
                vendor_plant_id: "9".into(),
                day: NaiveDate::from_ymd_opt(2018, 12, d).unwrap(),
                energy_kwh: kwh,
            })
        };
        assert_eq!(read[0], ok(12, Some(0.0)), "the portal's own zero stays a zero");
        assert_eq!(read[1], ok(13, Some(7.6)));
        assert_eq!(read[2], ok(14, None), "an empty value is no data");
        assert!(read[3].is_err(), "a month row is no day");
    }
}
