//! The energy history through the binary: `history`, `history --total`, `report daily` and
//! the plants listing's today and yesterday, on a real SQLite file seeded through the
//! store's own writes (live rows by plant syncs, portal figures by the backfill, noted
//! gaps), with CSV snapshots compared byte for byte and totals computed here from the
//! seeded values.

use crate::support::{Sandbox, sqlite3};
use chrono::{Duration, NaiveDate};
use plantsync::domain::{PlantId, PlantZone, Timestamp, VendorId, VendorPlant};
use plantsync::store::Store;
use plantsync::vendors::history::VendorDay;
use std::collections::BTreeMap;
use std::path::Path;

/// The seeded month (long past wherever the tests run, so every day has begun).
const MONTH: &str = "2025-02";

/// The seeded plants: (vendor plant id, name, zone), of vendor 1 (organization Alpha Solar).
const ALPHA: [(&str, &str, Option<&str>); 3] = [
    ("a", "Farm A", Some("Europe/Berlin")),
    ("b", "Farm B", Some("Asia/Kolkata")),
    ("c", "Farm C", None),
];

/// Vendor 2's plant (organization Beta Energy): never in Alpha's totals.
const BETA: (&str, &str, Option<&str>) = ("d", "Beta Barn", Some("Europe/Lisbon"));

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 2, d).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// 10:00 UTC of `day`: the same local day in Berlin, Kolkata and Lisbon.
fn reading_time(day: NaiveDate) -> Timestamp {
    at(&format!("{day}T10:00:00Z"))
}

/// The live reading of plant `index` (0-based) on day `d`: decimals that add up unevenly.
fn live_energy(index: usize, d: u32) -> f64 {
    10.0 * (index as f64 + 1.0) + f64::from(d) * 0.35 + 0.01
}

/// The days of each Alpha plant without a live reading: Farm A on the 5th (a plain gap)
/// and the 11th (backfilled), Farm B on the 7th (the portal's "no data"), Farm C on the
/// 8th and 9th (cannot be filled), and nobody on the 14th.
fn has_live(index: usize, d: u32) -> bool {
    !matches!((index, d), (0, 5) | (0, 11) | (1, 7) | (2, 8) | (2, 9) | (_, 14))
}

/// Farm A's 10th: live, then the portal's figure (a revision), then a corrected one.
const REVISED_1: f64 = 17.75;
const REVISED_2: f64 = 18.4;
/// Farm A's 11th: no live row, filled by the portal.
const BACKFILLED: f64 = 9.5;
const UNFILLABLE: &str = "the portal keeps no daily history for this account";

/// What each (plant index, day) of Alpha holds after the seeding: the truth the tests
/// compare with, built from the same rules as the seeding, not from any output.
fn truth() -> BTreeMap<(usize, u32), f64> {
    let mut truth = BTreeMap::new();
    for index in 0..ALPHA.len() {
        for d in 1..=28 {
            if has_live(index, d) {
                truth.insert((index, d), live_energy(index, d));
            }
        }
    }
    truth.insert((0, 10), REVISED_2);
    truth.insert((0, 11), BACKFILLED);
    truth
}

fn vendor_plant(
    (id, name, zone): (&str, &str, Option<&str>),
    energy: Option<f64>,
    at: Timestamp,
) -> VendorPlant {
    VendorPlant {
        vendor_plant_id: id.into(),
        name: Some(name.into()),
        capacity_kw: Some(50.0),
        timezone: zone.map(Into::into),
        current_power_kw: energy.map(|e| e / 4.0),
        daily_energy_kwh: energy,
        vendor_updated_at: Some(at),
        ..Default::default()
    }
}

/// Two organizations, a SolarEdge vendor in each (no secret other than the key).
fn add_orgs_and_vendors(sandbox: &Sandbox) {
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    sandbox.ok(&["org", "add", "Beta Energy"]);
    for (name, org) in [("Alpha Edge", "Alpha Solar"), ("Beta Edge", "Beta Energy")] {
        sandbox
            .cmd()
            .args(["vendor", "add", "--name", name, "--kind", "solaredge", "--org", org])
            .args(["--base-url", "http://127.0.0.1:9/"])
            .write_stdin("edge-api-key\n")
            .assert()
            .success();
    }
}

/// The seeded month, written as a plant sync and the backfill write it.
fn seed_month(sandbox: &Sandbox) {
    add_orgs_and_vendors(sandbox);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(sandbox.db()).unwrap();
        let fallback: PlantZone = "Asia/Kolkata".parse().unwrap();
        for d in 1..=28 {
            let when = reading_time(day(d));
            let plants: Vec<VendorPlant> = ALPHA
                .iter()
                .enumerate()
                .map(|(index, plant)| {
                    vendor_plant(*plant, has_live(index, d).then(|| live_energy(index, d)), when)
                })
                .collect();
            store.upsert_plants_recording(VendorId(1), plants, when, Some(fallback)).await.unwrap();
            let beta = vec![vendor_plant(BETA, Some(1000.0), when)];
            store.upsert_plants_recording(VendorId(2), beta, when, Some(fallback)).await.unwrap();
        }
        let backfill = |d: u32, energy: Option<f64>, plant: &str| VendorDay {
            vendor_plant_id: plant.into(),
            day: day(d),
            energy_kwh: energy,
        };
        let fetched = at("2025-03-01T06:00:00Z");
        let first = store
            .record_backfill(
                VendorId(1),
                vec![
                    backfill(10, Some(REVISED_1), "a"),
                    backfill(11, Some(BACKFILLED), "a"),
                    backfill(7, None, "b"),
                ],
                fetched,
                plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata),
            )
            .await
            .unwrap();
        assert_eq!((first.revised, first.filled, first.no_data), (1, 1, 1), "{first:?}");
        let again = store
            .record_backfill(
                VendorId(1),
                vec![backfill(10, Some(REVISED_2), "a")],
                fetched,
                plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata),
            )
            .await
            .unwrap();
        assert_eq!(again.revised, 1, "{again:?}");
        store
            .record_unfillable(
                vec![(PlantId(3), day(8)), (PlantId(3), day(9))],
                UNFILLABLE.into(),
                fetched,
            )
            .await
            .unwrap();
        store.close();
    });
    // The plants are 1-3 (Alpha, in order) and 4 (Beta), as `plants list` shows them.
    assert_eq!(
        sqlite3(&sandbox.db(), "SELECT id || ' ' || name FROM plants ORDER BY id"),
        "1 Farm A\n2 Farm B\n3 Farm C\n4 Beta Barn\n"
    );
}

/// Compares `actual` with `tests/snapshots/<name>` byte for byte; `UPDATE_SNAPSHOTS=1`
/// rewrites it.
fn assert_text_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1", path.display())
    });
    assert_eq!(actual, expected, "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)");
}

/// The records of a CSV text, header first.
fn records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn two_decimals(value: f64) -> String {
    format!("{value:.2}")
}

/// A usage error: exit 2 and one line on stderr that says `expected`.
fn refused(sandbox: &Sandbox, args: &[&str], expected: &str) {
    let output = sandbox.cmd().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert_eq!(stderr.matches("error").count(), 1, "{args:?}: one message: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn history_csv_shows_every_day_of_every_plant_and_gaps_as_gaps() {
    let sandbox = Sandbox::new();
    seed_month(&sandbox);
    let range = ["--from", "2025-02-04", "--to", "2025-02-14"];
    let args = [&["history", "--org", "Alpha Solar", "--format", "csv"][..], &range].concat();
    let csv = sandbox.ok(&args);
    assert_text_snapshot("history_days.csv", &csv);

    let rows = records(&csv);
    assert_eq!(
        rows[0],
        [
            "date",
            "plant_id",
            "plant",
            "org",
            "vendor",
            "energy_kwh",
            "peak_power_kw",
            "source",
            "revisions",
            "gap_state",
            "gap_reason"
        ]
    );
    // Every day (4th to 14th) of every Alpha plant, Beta's plant not among them.
    assert_eq!(rows.len(), 1 + 3 * 11, "{csv}");
    let truth = truth();
    for row in &rows[1..] {
        let d: NaiveDate = row[0].parse().unwrap();
        let index = ALPHA.iter().position(|p| p.1 == row[2]).unwrap_or_else(|| panic!("{row:?}"));
        let key = (index, chrono::Datelike::day(&d));
        match truth.get(&key) {
            Some(value) => assert_eq!(row[5], two_decimals(*value), "{row:?}"),
            None => {
                assert_eq!(row[5], "", "a gap is empty, not 0: {row:?}");
                assert_eq!(row[7], "gap", "{row:?}");
            }
        }
    }
    let find = |plant: &str, date: &str| {
        rows.iter()
            .find(|r| r[2] == plant && r[0] == date)
            .unwrap_or_else(|| panic!("{plant} {date}"))
    };
    // The plain gap, the portal's no-data day and the days it cannot fill.
    assert_eq!(find("Farm A", "2025-02-05")[5..], ["", "", "gap", "0", "", ""]);
    assert_eq!(find("Farm B", "2025-02-07")[7..10], ["gap", "0", "no_data"]);
    assert_eq!(find("Farm C", "2025-02-08")[7..], ["gap", "0", "unfillable", UNFILLABLE]);
    // Revised twice by the portal; filled by it.
    assert_eq!(find("Farm A", "2025-02-10")[5], "18.40");
    assert_eq!(find("Farm A", "2025-02-10")[7..9], ["backfill", "2"]);
    assert_eq!(find("Farm A", "2025-02-11")[7..9], ["backfill", "0"]);
    assert_eq!(find("Farm A", "2025-02-12")[7..9], ["live", "0"]);
}

#[test]
fn history_totals_sum_the_known_values_and_say_how_many_plants() {
    let sandbox = Sandbox::new();
    seed_month(&sandbox);
    let csv = sandbox.ok(&[
        "history",
        "--total",
        "--from",
        "2025-02-04",
        "--to",
        "2025-02-14",
        "--format",
        "csv",
    ]);
    assert_text_snapshot("history_total.csv", &csv);
    let rows = records(&csv);
    assert_eq!(rows[0], ["date", "org_id", "org", "energy_kwh", "plants_with_data", "plants"]);
    let truth = truth();
    let alpha: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "Alpha Solar").collect();
    assert_eq!(alpha.len(), 11, "{csv}");
    for row in alpha {
        let d = chrono::Datelike::day(&row[0].parse::<NaiveDate>().unwrap());
        let known: Vec<f64> = (0..3).filter_map(|i| truth.get(&(i, d)).copied()).collect();
        let expected =
            if known.is_empty() { String::new() } else { two_decimals(known.iter().sum()) };
        assert_eq!(row[3], expected, "{row:?}");
        assert_eq!(row[4], known.len().to_string(), "{row:?}");
        assert_eq!(row[5], "3", "{row:?}");
    }
    let day14 = rows.iter().find(|r| r[0] == "2025-02-14" && r[2] == "Alpha Solar").unwrap();
    assert_eq!(day14[3..], ["", "0", "3"], "no plant's value is no total, not 0");
    let beta = rows.iter().find(|r| r[0] == "2025-02-14" && r[2] == "Beta Energy").unwrap();
    assert_eq!(beta[3..], ["1000.00", "1", "1"]);
}

#[test]
fn report_daily_csv_is_a_plant_by_day_matrix_with_visible_gaps() {
    let sandbox = Sandbox::new();
    seed_month(&sandbox);
    let csv = sandbox.ok(&[
        "report",
        "daily",
        "--org",
        "Alpha Solar",
        "--month",
        MONTH,
        "--format",
        "csv",
    ]);
    assert_text_snapshot("report_daily.csv", &csv);
    assert!(csv.ends_with("\r\n") && !csv.replace("\r\n", "").contains('\n'), "CRLF: {csv:?}");
    let rows = records(&csv);
    let header = &rows[0];
    assert_eq!(header.len(), 3 + 28 + 2, "{header:?}");
    assert_eq!(header[..4], ["plant_id", "plant", "vendor", "2025-02-01"]);
    assert_eq!(header[30..], ["2025-02-28", "total_kwh", "days_with_data"]);
    assert_eq!(rows.len(), 1 + 3 + 2, "three plants, a total row and a count row:\n{csv}");
    let truth = truth();
    let mut grand = 0.0;
    for (index, (_, name, _)) in ALPHA.iter().enumerate() {
        let row = &rows[1 + index];
        assert_eq!(row[..3], [(index + 1).to_string(), (*name).to_owned(), "Alpha Edge".into()]);
        let mut total = 0.0;
        let mut days = 0;
        for d in 1..=28 {
            let cell = &row[2 + d as usize];
            match truth.get(&(index, d)) {
                Some(value) => {
                    assert_eq!(*cell, two_decimals(*value), "{name} day {d}");
                    total += value;
                    days += 1;
                }
                None => assert_eq!(cell, "", "{name} day {d}: a gap is an empty cell, not 0"),
            }
        }
        grand += total;
        assert_eq!(row[31], two_decimals(total), "{name}'s total");
        assert_eq!(row[32], days.to_string(), "{name}'s days with data");
    }
    let totals = &rows[4];
    assert_eq!(totals[..3], ["", "total", ""]);
    let counts = &rows[5];
    assert_eq!(counts[..3], ["", "plants with data (of 3)", ""]);
    for d in 1..=28 {
        let known: Vec<f64> = (0..3).filter_map(|i| truth.get(&(i, d)).copied()).collect();
        let expected =
            if known.is_empty() { String::new() } else { two_decimals(known.iter().sum()) };
        assert_eq!(totals[2 + d as usize], expected, "day {d}'s total");
        assert_eq!(counts[2 + d as usize], known.len().to_string(), "day {d}'s count");
    }
    assert_eq!(totals[2 + 14], "", "the 14th has no value at all");
    assert_eq!(counts[2 + 14], "0");
    assert_eq!(totals[31], two_decimals(grand), "the grand total");
    // Numbers for a spreadsheet: a `.`, two decimals, no thousands separator.
    for cell in rows[1..5].iter().flat_map(|r| r[3..32].iter()).filter(|c| !c.is_empty()) {
        let (whole, decimals) = cell.split_once('.').unwrap_or_else(|| panic!("{cell:?}"));
        assert!(whole.bytes().all(|b| b.is_ascii_digit()) && decimals.len() == 2, "{cell:?}");
    }
}

#[test]
fn history_and_report_json_have_a_stable_shape() {
    let sandbox = Sandbox::new();
    seed_month(&sandbox);
    let json =
        |args: &[&str]| -> serde_json::Value { serde_json::from_str(&sandbox.ok(args)).unwrap() };
    let days = json(&[
        "history",
        "--plant",
        "2",
        "--from",
        "2025-02-06",
        "--to",
        "2025-02-08",
        "--format",
        "json",
    ]);
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), 3);
    let keys: Vec<&str> = days[1].as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "date",
        "plant_id",
        "plant",
        "org_id",
        "org",
        "vendor_id",
        "vendor",
        "energy_kwh",
        "peak_power_kw",
        "source",
        "revisions",
        "gap_state",
        "gap_reason",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(days[1]["date"], "2025-02-07");
    assert_eq!(days[1]["energy_kwh"], serde_json::Value::Null, "a gap is null, not 0");
    assert_eq!(days[1]["source"], "gap");
    assert_eq!(days[1]["gap_state"], "no_data");
    assert!(days[1]["gap_reason"].is_string());
    assert_eq!(days[0]["source"], "live");
    assert_eq!(days[0]["energy_kwh"], live_energy(1, 6));
    assert_eq!(days[0]["org"], "Alpha Solar");

    let totals = json(&[
        "history",
        "--total",
        "--vendor",
        "Alpha Edge",
        "--from",
        "2025-02-14",
        "--to",
        "2025-02-14",
        "--format",
        "json",
    ]);
    assert_eq!(
        totals,
        serde_json::json!([{"date": "2025-02-14", "org_id": 1, "org": "Alpha Solar",
            "energy_kwh": null, "plants_with_data": 0, "plants": 3}])
    );

    let report = json(&["report", "daily", "--org", "1", "--month", MONTH, "--format", "json"]);
    assert_eq!(report["organization"], serde_json::json!({"id": 1, "name": "Alpha Solar"}));
    assert_eq!(report["month"], MONTH);
    assert_eq!(report["days"].as_array().unwrap().len(), 28);
    assert_eq!(report["days"][0], "2025-02-01");
    let plants = report["plants"].as_array().unwrap();
    assert_eq!(plants.len(), 3);
    assert_eq!(plants[0]["energy_kwh"].as_array().unwrap().len(), 28);
    assert_eq!(plants[0]["energy_kwh"][4], serde_json::Value::Null, "Farm A's 5th");
    assert_eq!(plants[0]["energy_kwh"][9], REVISED_2);
    assert_eq!(plants[0]["days_with_data"], 26);
    assert_eq!(report["totals"]["plants"], 3);
    assert_eq!(report["totals"]["energy_kwh"][13], serde_json::Value::Null, "the 14th");
    assert_eq!(report["totals"]["plants_with_data"][13], 0);
    assert_eq!(report["totals"]["plants_with_data"][0], 3);

    // The table says the same, with `-` for the gaps.
    let table = sandbox.ok(&["report", "daily", "--org", "Alpha Solar", "--month", MONTH]);
    let farm_a = table.lines().find(|l| l.starts_with("Farm A")).unwrap();
    let cells: Vec<&str> = farm_a.split_whitespace().collect();
    assert_eq!(cells[..5], ["Farm", "A", "Alpha", "Edge", "10.36"], "{table}");
    assert_eq!(cells[8], "-", "the 5th:\n{table}");
}

#[test]
fn history_and_report_usage_errors_exit_2_with_one_message() {
    let sandbox = Sandbox::new();
    seed_month(&sandbox);
    refused(&sandbox, &["history", "--org", "Nope"], "organization 'Nope' not found");
    refused(&sandbox, &["history", "--vendor", "Nope"], "vendor 'Nope' not found");
    refused(&sandbox, &["history", "--plant", "99"], "plant 99 not found");
    refused(
        &sandbox,
        &["history", "--from", "2025-02-10", "--to", "2025-02-01"],
        "--from 2025-02-10 is after --to 2025-02-01",
    );
    refused(
        &sandbox,
        &["history", "--from", "2000-01-01", "--to", "2025-02-01"],
        "at most 3660 are read at once",
    );
    refused(
        &sandbox,
        &["history", "--from", "2025-02-30"],
        "'2025-02-30' is not a date YYYY-MM-DD",
    );
    refused(&sandbox, &["history", "--plant", "1", "--org", "Alpha Solar"], "cannot be used with");
    refused(
        &sandbox,
        &["report", "daily", "--org", "Nope", "--month", MONTH],
        "organization 'Nope' not found",
    );
    refused(
        &sandbox,
        &["report", "daily", "--org", "Alpha Solar", "--month", "2025-13"],
        "'2025-13' is not a month YYYY-MM",
    );
    refused(
        &sandbox,
        &["report", "daily", "--org", "Alpha Solar", "--month", "Feb 2025"],
        "is not a month YYYY-MM",
    );
}

/// The listing's today and yesterday are each plant's own local days: a plant at +14
/// (Kiritimati) is a day or two ahead of the configured zone at -11 (Pago Pago), whose
/// plants without a zone count in it.
#[test]
fn plants_listing_shows_today_and_yesterday_in_each_plants_own_zone() {
    const ZONE: &str = "Pacific/Pago_Pago";
    let sandbox = Sandbox::new();
    add_orgs_and_vendors(&sandbox);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(sandbox.db()).unwrap();
        let now = Timestamp::now();
        let plants = vec![
            vendor_plant(("k", "Kiritimati", Some("Pacific/Kiritimati")), None, now),
            vendor_plant(("p", "Pago", None), None, now),
            vendor_plant(("n", "Nothing yet", None), None, now),
        ];
        store.upsert_plants(VendorId(1), plants, now).await.unwrap();
        store.close();
    });
    let local = |zone: &str| {
        let zone: PlantZone = zone.parse().unwrap();
        zone.local_date(&Timestamp::now())
    };
    // A midnight in either zone between seeding and listing changes the answer: try again.
    for _ in 0..3 {
        let (kiritimati, pago) = (local("Pacific/Kiritimati"), local(ZONE));
        assert!(kiritimati > pago, "25 hours apart: {kiritimati} {pago}");
        sqlite3(&sandbox.db(), "DELETE FROM plant_days");
        let mut sql = String::new();
        let mut row = |plant: i64, day: NaiveDate, energy: f64| {
            sql.push_str(&format!(
                "INSERT INTO plant_days (plant_id, day, energy_kwh, last_reading_at, source, \
                 updated_at) VALUES ({plant}, '{day}', {energy}, '{day}T00:00:00.000Z', 'live', \
                 '{day}T00:00:00.000Z');"
            ));
        };
        // Kiritimati's own days, and the days the configured zone would wrongly take.
        for (back, energy) in [(0, 11.0), (1, 22.0), (2, 33.0), (3, 44.0)] {
            row(1, kiritimati - Duration::days(back), energy);
        }
        // Pago's days (the configured zone's), and the day after, which UTC or
        // Kiritimati's zone would take.
        for (offset, energy) in [(0, 5.0), (-1, 6.0), (1, 7.0), (2, 8.0)] {
            row(2, pago + Duration::days(offset), energy);
        }
        sqlite3(&sandbox.db(), &sql);
        let json =
            sandbox.ok(&["--timezone", ZONE, "plants", "list", "--sort", "id", "--format", "json"]);
        let csv =
            sandbox.ok(&["--timezone", ZONE, "plants", "list", "--sort", "id", "--format", "csv"]);
        let table = sandbox.ok(&["--timezone", ZONE, "plants", "list", "--sort", "id"]);
        if (local("Pacific/Kiritimati"), local(ZONE)) != (kiritimati, pago) {
            continue;
        }
        let plants: serde_json::Value = serde_json::from_str(&json).unwrap();
        let pair = |i: usize| {
            (plants[i]["energy_today_kwh"].clone(), plants[i]["energy_yesterday_kwh"].clone())
        };
        assert_eq!(pair(0), (11.0.into(), 22.0.into()), "Kiritimati:\n{json}");
        assert_eq!(pair(1), (5.0.into(), 6.0.into()), "Pago, in the configured zone:\n{json}");
        assert_eq!(pair(2), (serde_json::Value::Null, serde_json::Value::Null), "{json}");
        assert_eq!(plants[0]["name"], "Kiritimati", "the plant's own fields are still there");

        let rows = records(&csv);
        let today = rows[0].iter().position(|h| h == "energy_today_kwh").unwrap();
        let yesterday = rows[0].iter().position(|h| h == "energy_yesterday_kwh").unwrap();
        assert_eq!(yesterday, today + 1);
        assert_eq!(rows[0][0], "id", "the plant's columns come first");
        assert_eq!(rows[1][today..=yesterday], ["11.0", "22.0"], "{csv}");
        assert_eq!(rows[2][today..=yesterday], ["5.0", "6.0"], "{csv}");
        assert_eq!(rows[3][today..=yesterday], ["", ""], "unknown is empty: {csv}");

        let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
        assert!(table.lines().next().unwrap().contains("KWH TODAY  KWH YESTERDAY"), "{table}");
        assert!(lines[1].windows(2).any(|w| w == ["11.00", "22.00"]), "{table}");
        assert!(lines[2].windows(2).any(|w| w == ["5.00", "6.00"]), "{table}");
        assert!(lines[3].windows(2).any(|w| w == ["-", "-"]), "{table}");
        return;
    }
    panic!("the day changed at every attempt");
}
