//! The energy history upstream (issue 13): the daily rows (`plant_days`) travel under
//! their plant's natural key and their day, a changed day alone goes next, a vendor
//! removed locally takes its days with it centrally, the offline bundle carries them, and
//! the power samples stay local. Through the real binary against a real PostgreSQL.

use crate::postgres::{Cluster, connect, number};
use crate::support::{Sandbox, sqlite3};
use crate::upstream::{
    central_counts, import, init, local_count, local_counts, push, sent, simulator,
    site_with_central, table_entry,
};
use chrono::NaiveDate;
use plantsync::domain::{Timestamp, VendorId};
use plantsync::store::Store;
use plantsync::vendors::history::VendorDay;
use serde_json::Value;

/// The vendor plant ids of vendor `vendor`, in id order.
fn plant_ids(site: &Sandbox, vendor: i64) -> Vec<String> {
    sqlite3(
        &site.db(),
        &format!("SELECT vendor_plant_id FROM plants WHERE vendor_id = {vendor} ORDER BY id"),
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// Stores the portal's figures for `days` of the first `plants` plants of `vendor`, each
/// plant's energy `base` + its index (what a backfill stores).
async fn backfill(site: &Sandbox, vendor: i64, plants: usize, days: &[&str], base: f64) {
    let store = Store::open(site.db()).unwrap();
    let rows: Vec<VendorDay> = plant_ids(site, vendor)
        .into_iter()
        .take(plants)
        .enumerate()
        .flat_map(|(i, id)| {
            days.iter().map(move |d| VendorDay {
                vendor_plant_id: id.clone(),
                day: day(d),
                energy_kwh: Some(base + i as f64),
            })
        })
        .collect();
    store
        .record_backfill(
            VendorId(vendor),
            rows,
            Timestamp::now(),
            plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata),
        )
        .await
        .unwrap();
    closed(store);
}

/// Closes `store` (its writer holds the file until then), so the binary and `sqlite3`
/// can take it.
fn closed(store: Store) {
    tokio::task::block_in_place(|| store.close());
    drop(store);
}

fn verdicts_match(report: &Value) -> bool {
    let tables = report["receipt"]["tables"].as_array().unwrap();
    tables.len() == 6 && tables.iter().all(|t| t["verdict"] == "matches")
}

/// A first push carries every day row, typed (the day a `date`), under the plant's natural
/// key and with no local id; the receipt matches even when the central database spells
/// dates its own way (DateStyle); a portal figure revising one day sends that day alone;
/// pushes after that send nothing (no re-queue loop); no power sample leaves the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_rows_travel_and_a_revised_day_alone_goes_next() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let today = local_count(&site, "plant_days");
    assert!(today > 0, "the sync wrote today's live rows");
    assert!(local_count(&site, "power_samples") > 0, "and power samples");
    backfill(&site, 1, 3, &["2025-11-20", "2025-11-21"], 10.5).await;
    let days = local_count(&site, "plant_days");
    assert_eq!(days, today + 6);
    // A central database whose sessions spell dates day-first.
    let central = connect(&url).await;
    let name = url.rsplit('/').next().unwrap();
    central
        .batch_execute(&format!("ALTER DATABASE {name} SET DateStyle = 'SQL, DMY'"))
        .await
        .unwrap();

    let report = push(&site, &url, &["--verify"]);
    assert_eq!(sent(&report, "plant_days"), days, "{report}");
    assert!(verdicts_match(&report), "{report}");
    assert_eq!(report["receipt"]["requeued"], 0, "{report}");
    let central = connect(&url).await;
    assert_eq!(number(&central, "SELECT count(*) FROM plantsync.plant_days").await, days);
    let columns: Vec<String> = central
        .query(
            "SELECT column_name || ' ' || data_type FROM information_schema.columns
             WHERE table_schema = 'plantsync' AND table_name = 'plant_days' ORDER BY column_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(columns.contains(&"day date".to_owned()), "{columns:?}");
    assert!(columns.contains(&"vendor_plant_id text".to_owned()), "{columns:?}");
    assert!(!columns.iter().any(|c| c.starts_with("plant_id ")), "no local id: {columns:?}");
    let first = &plant_ids(&site, 1)[1];
    let row = central
        .query_one(
            "SELECT to_char(day, 'YYYY-MM-DD'), energy_kwh, source, revisions, is_active,
                    source_version
             FROM plantsync.plant_days WHERE vendor_id = 1 AND vendor_plant_id = $1
             AND day = DATE '2025-11-21'",
            &[first],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2025-11-21");
    assert_eq!(row.get::<_, f64>(1), 11.5);
    assert_eq!(row.get::<_, String>(2), "backfill");
    assert_eq!(row.get::<_, i64>(3), 0);
    assert!(row.get::<_, bool>(4));
    let local_seq: i64 = sqlite3(
        &site.db(),
        &format!(
            "SELECT d.change_seq FROM plant_days d JOIN plants p ON p.id = d.plant_id
             WHERE p.vendor_id = 1 AND p.vendor_plant_id = '{first}' AND d.day = '2025-11-21'"
        ),
    )
    .trim()
    .parse()
    .unwrap();
    assert_eq!(row.get::<_, i64>(5), local_seq);
    // The power samples have no central table.
    let samples = number(
        &central,
        "SELECT count(*) FROM information_schema.tables
         WHERE table_schema = 'plantsync' AND table_name LIKE '%sample%'",
    )
    .await;
    assert_eq!(samples, 0);

    // The portal revises one day of one plant: that day alone travels.
    let revised = |energy: f64| VendorDay {
        vendor_plant_id: first.clone(),
        day: day("2025-11-21"),
        energy_kwh: Some(energy),
    };
    let record = async |energy: f64| {
        let store = Store::open(site.db()).unwrap();
        let counts = store.record_backfill(
            VendorId(1),
            vec![revised(energy)],
            Timestamp::now(),
            plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata),
        );
        let counts = counts.await.unwrap();
        closed(store);
        counts
    };
    assert_eq!(record(12.75).await.revised, 1);
    let report = push(&site, &url, &[]);
    assert_eq!(sent(&report, "plant_days"), 1, "{report}");
    assert_eq!(sent(&report, "plants"), 0, "{report}");
    assert_eq!(report["rows_sent"], 1, "{report}");
    assert!(verdicts_match(&report), "{report}");
    let row = central
        .query_one(
            "SELECT energy_kwh, revisions FROM plantsync.plant_days
             WHERE vendor_id = 1 AND vendor_plant_id = $1 AND day = DATE '2025-11-21'",
            &[first],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, f64>(0), row.get::<_, i64>(1)), (12.75, 1));
    // The same figure again changes nothing, and nothing is sent again.
    assert_eq!(record(12.75).await, Default::default());
    for _ in 0..2 {
        let again = push(&site, &url, &[]);
        assert_eq!(again["rows_sent"], 0, "{again}");
        assert_eq!(again["receipt"]["requeued"], 0, "{again}");
        assert!(verdicts_match(&again), "{again}");
    }
}

/// A vendor removed locally takes its plants' days with it: centrally they are marked
/// deleted and inactive (the other vendor's stay live), the receipt matches, and nothing
/// travels again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_removed_locally_marks_its_days_deleted_centrally() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    backfill(&site, 1, 4, &["2025-11-25"], 3.0).await;
    backfill(&site, 2, 2, &["2025-11-25"], 4.0).await;
    push(&site, &url, &[]);
    let days_of = |vendor: i64| -> i64 {
        sqlite3(
            &site.db(),
            &format!(
                "SELECT count(*) FROM plant_days d JOIN plants p ON p.id = d.plant_id
                 WHERE p.vendor_id = {vendor}"
            ),
        )
        .trim()
        .parse()
        .unwrap()
    };
    let (removed, kept) = (days_of(1), days_of(2));
    assert!(removed > 4 && kept > 2, "{removed} {kept}");

    site.ok(&["vendor", "remove", "1", "--force"]);
    assert_eq!(days_of(1), 0, "the cascade took them locally");
    let report = push(&site, &url, &[]);
    assert_eq!(report["deletions_sent"], 1, "{report}");
    assert!(verdicts_match(&report), "{report}");
    let central = connect(&url).await;
    let marked = number(
        &central,
        "SELECT count(*) FROM plantsync.plant_days WHERE vendor_id = 1 AND deleted AND NOT is_active",
    )
    .await;
    assert_eq!(marked, removed);
    let live = number(
        &central,
        "SELECT count(*) FROM plantsync.plant_days WHERE vendor_id = 2 AND NOT deleted",
    )
    .await;
    assert_eq!(live, kept);
    let again = push(&site, &url, &[]);
    assert_eq!((again["rows_sent"].as_i64(), again["deletions_sent"].as_i64()), (Some(0), Some(0)));
    assert_eq!(again["receipt"]["requeued"], 0, "{again}");
}

/// The offline bundle carries the days (its manifest counts them, an import applies them);
/// a bundle made before the days travelled (no manifest entry, no rows table) still
/// imports, without them, and the site's next push then sends exactly the days; a bundle
/// that lost only the manifest entry is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_bundle_carries_the_days_and_an_older_one_still_imports() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    backfill(&site, 1, 2, &["2025-11-28", "2025-11-29"], 7.0).await;
    let days = local_count(&site, "plant_days");
    let carried = tempfile::tempdir().unwrap();
    let file = carried.path().join("site.bundle");
    let exported: Value = serde_json::from_str(&site.ok(&[
        "upstream",
        "export",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(table_entry(&exported, "plant_days")["rows"], days, "{exported}");
    let machine = Sandbox::new();

    // Only the manifest entry gone, the rows still there: edited, refused whole.
    let edited = carried.path().join("edited.bundle");
    std::fs::copy(&file, &edited).unwrap();
    sqlite3(&edited, "DELETE FROM manifest_tables WHERE table_name = 'plant_days'");
    let refused = import(&machine, &url, &edited);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("its manifest has no entry for plant_days"), "{said}");
    assert_eq!(central_counts(&url).await, vec![0; 6]);

    // As an earlier build wrote it: no days at all.
    let older = carried.path().join("older.bundle");
    std::fs::copy(&file, &older).unwrap();
    sqlite3(
        &older,
        "DROP TABLE rows_plant_days; DELETE FROM manifest_tables WHERE table_name = 'plant_days'",
    );
    let imported = import(&machine, &url, &older);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let report: Value = serde_json::from_slice(&imported.stdout).unwrap();
    let tables: Vec<&str> =
        report["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert!(!tables.contains(&"plant_days") && tables.contains(&"plants"), "{report}");
    let central = connect(&url).await;
    assert_eq!(number(&central, "SELECT count(*) FROM plantsync.plant_days").await, 0);
    assert_eq!(
        number(&central, "SELECT count(*) FROM plantsync.plants").await,
        local_count(&site, "plants")
    );
    // The site learns what arrived and sends exactly the days.
    let online = push(&site, &url, &[]);
    assert_eq!(sent(&online, "plant_days"), days, "{online}");
    assert_eq!(online["rows_sent"], days, "{online}");
    assert!(verdicts_match(&online), "{online}");

    // The full bundle, imported into another central database, delivers the days too.
    let elsewhere = Cluster::get().database().await;
    init(&site, &elsewhere);
    let imported = import(&machine, &elsewhere, &file);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let report: Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(table_entry(&report, "plant_days")["applied"], days, "{report}");
    assert_eq!(central_counts(&elsewhere).await, local_counts(&site));
}

/// A central schema made before the days travelled (no `plantsync.plant_days`): the push
/// delivers every other table (the days go last), then fails saying to run `upstream
/// init`, with nothing lost; after `init` the next push delivers the days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_schema_from_before_the_days_is_completed_by_init() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    connect(&url).await.batch_execute("DROP TABLE plantsync.plant_days").await.unwrap();

    let output = site.cmd().env("PLANTSYNC_UPSTREAM_URL", &url).arg("push").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plant_days") && stderr.contains("plantsync upstream init"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing is lost"), "{stderr}");
    let central = connect(&url).await;
    let plants = number(&central, "SELECT count(*) FROM plantsync.plants").await;
    assert_eq!(plants, local_count(&site, "plants"), "the tables before the days went");
    let alerts = number(&central, "SELECT count(*) FROM plantsync.alerts").await;
    assert_eq!(alerts, local_count(&site, "alerts"), "alerts do not wait for the days");
    let runs = number(&central, "SELECT count(*) FROM plantsync.sync_runs").await;
    assert_eq!(runs, local_count(&site, "sync_runs"), "nor do the runs");

    init(&site, &url);
    let report = push(&site, &url, &[]);
    assert_eq!(sent(&report, "plants"), 0, "{report}");
    assert_eq!(sent(&report, "plant_days"), local_count(&site, "plant_days"), "{report}");
    assert_eq!(sent(&report, "alerts"), 0, "{report}");
    assert!(verdicts_match(&report), "{report}");
    assert_eq!(central_counts(&url).await, local_counts(&site));
}
