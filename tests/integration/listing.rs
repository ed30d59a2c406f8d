//! Plant listings as the portals really send them, through the engine (and the binary)
//! against the simulator over real HTTP with a real SQLite file: zones with minutes
//! (Growatt's India plants), what was learnt about an account surviving the process, rows
//! that do not decode, and rows repeated across pages while the total grows.

use crate::support::{Sandbox, sqlite3};
use crate::sync::{Harness, fast_settings};
use crate::sync_cli::add_vendors;
use plantsync::domain::{RunKind, RunStatus, VendorKind};
use plantsync::simulator::{AccountSpec, Endpoint, Faults, Simulator, SimulatorConfig};
use plantsync::store::Store;
use plantsync::sync::Engine;

fn faulty(kind: VendorKind, plants: usize, faults: Faults) -> AccountSpec {
    AccountSpec { faults, ..AccountSpec::new(kind, plants, 1) }
}

/// What the simulated Growatt portal says of a plant: its details' `timezone` and its
/// data's plant-local `last_update_time`, asked over HTTP as the adapter asks them.
async fn growatt_says(sim: &Simulator, index: usize, plant_id: &str) -> (String, String) {
    let base = sim.base_url(VendorKind::Growatt);
    let token = sim.credentials(index).api_key;
    let client =
        plantsync::vendors::http::plain_client(std::time::Duration::from_secs(10)).unwrap();
    let get = |path: &'static str| {
        client
            .get(format!("{base}{path}"))
            .query(&[("plant_id", plant_id)])
            .header("token", token.clone())
            .send()
    };
    let details: serde_json::Value = get("/v1/plant/details").await.unwrap().json().await.unwrap();
    let data: serde_json::Value = get("/v1/plant/data").await.unwrap().json().await.unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    (text(&details["data"]["timezone"]), text(&data["data"]["last_update_time"]))
}

/// Growatt's India plants say `GMT+5:30`: they get the zone `+05:30` and an update time,
/// the plant-local time of `plant/data` read at that offset, like every other plant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_plants_in_half_hour_zones_get_a_zone_and_an_update_time() {
    let h = Harness::new(vec![AccountSpec::new(VendorKind::Growatt, 30, 1)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 30, "one details call per new plant");
    // The zones are stored: a second sync asks no details.
    h.run(RunKind::Plants).await;
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 30);
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 30);
    let mut india = 0;
    for plant in &plants {
        let (said, local) = growatt_says(&h.sim, 0, &plant.vendor_plant_id).await;
        let zone = plant.timezone.as_deref().unwrap_or_else(|| panic!("no zone: {plant:?}"));
        let updated = plant.vendor_updated_at.unwrap_or_else(|| panic!("no time: {plant:?}"));
        let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%d %H:%M:%S").unwrap();
        let offset = if said == "GMT+5:30" {
            india += 1;
            assert_eq!(zone, "+05:30", "{said}");
            chrono::FixedOffset::east_opt(19_800).unwrap()
        } else {
            // Whole hours: `GMT+8` is Etc/GMT-8.
            let hours: i32 = said.trim_start_matches("GMT").parse().unwrap();
            assert_eq!(zone, format!("Etc/GMT{:+}", -hours), "{said}");
            chrono::FixedOffset::east_opt(hours * 3600).unwrap()
        };
        let expected = naive.and_local_timezone(offset).single().unwrap();
        assert_eq!(updated.as_datetime(), expected, "{} at {local} {said}", plant.name);
    }
    assert_eq!(india, 10, "a third of the simulated Growatt plants are in India");
}

/// What a sync learnt about an account (here: Growatt plants whose details have no zone) is
/// kept in the store, so a second `plantsync sync` process asks the portal nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cli_sync_does_not_ask_what_the_first_learnt() {
    let no_zone = Faults { growatt_details_without_zone: true, ..Faults::none() };
    let sim = Simulator::start(SimulatorConfig {
        seed: 5,
        accounts: vec![faulty(VendorKind::Growatt, 20, no_zone)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let sync = || {
        let mut cmd = sandbox.cmd();
        cmd.args(["sync", "plants", "--format", "json"]);
        async move { tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap() }
    };
    let first = sync().await;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(sim.requests(0, Endpoint::Devices), 20, "each plant's details, once");
    let facts = sqlite3(
        &sandbox.db(),
        "SELECT count(*) FROM account_facts WHERE fact LIKE 'growatt_plant_without_zone:%' \
         AND until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+23 hours')",
    );
    assert_eq!(facts.trim(), "20", "believed for a day");
    let second = sync().await;
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(sim.requests(0, Endpoint::Devices), 20, "the second process asked nothing again");
    assert_eq!(sim.requests(0, Endpoint::Realtime), 40, "the readings are still read");
}

/// The same between two engines (two processes' worth of state) on one database file, and
/// facts about earlier credentials are not believed after new ones are entered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_hold_across_engines_until_the_credentials_change() {
    let no_zone = Faults { growatt_details_without_zone: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Growatt, 12, no_zone)]).await;
    h.run(RunKind::Plants).await;
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 12);
    let other = Store::open(h.store.path()).unwrap();
    let engine = Engine::new(other.clone(), fast_settings()).unwrap();
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 12, "the other engine believed the store");
    // New credentials (the same token entered again): what was learnt is asked afresh.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let token = h.sim.credentials(0).api_key;
    let mut credentials = plantsync::domain::Credentials::default();
    credentials.set(plantsync::domain::CredentialField::ApiKey, token);
    let entered =
        plantsync::store::VendorPatch { credentials: Some(credentials), ..Default::default() };
    other.update_vendor("acct-0", entered).await.unwrap();
    let third = Engine::new(other, fast_settings()).unwrap();
    Harness::run_on(&third, &request).await;
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 24, "asked again for the new credentials");
}

const ALL_KINDS: [VendorKind; 5] = [
    VendorKind::Solarman,
    VendorKind::Sungrow,
    VendorKind::SolarEdge,
    VendorKind::Huawei,
    VendorKind::Growatt,
];

/// A row that does not decode (one with a wrongly typed field, one without its id) is not
/// a complete listing of the vendor's plants: no stored plant is marked inactive, least of
/// all the one whose id could not be read, and the run says how many rows it skipped and
/// is `partial`, for all five portals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_row_marks_no_plant_inactive_and_the_run_is_partial() {
    let bad_rows =
        Faults { wrong_type_plant: Some(3), missing_field_plant: Some(120), ..Faults::none() };
    let h =
        Harness::new(ALL_KINDS.iter().map(|&kind| faulty(kind, 150, bad_rows.clone())).collect())
            .await;
    h.sync_once_a_day().await;
    // Every plant was stored by an earlier sync.
    for index in 0..ALL_KINDS.len() {
        let vendor = h.store.find_vendor(&format!("acct-{index}")).await.unwrap();
        let plants: Vec<plantsync::domain::VendorPlant> = h
            .sim
            .plant_ids(index)
            .into_iter()
            .map(|id| plantsync::domain::VendorPlant { vendor_plant_id: id, ..Default::default() })
            .collect();
        let now = plantsync::domain::Timestamp::now();
        h.store.upsert_plants(vendor.id, plants, now).await.unwrap();
    }
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Partial, "{:?}", report.summary);
    let recorded = h.store.get_run(report.run_id).await.unwrap();
    assert_eq!(recorded.run.status, RunStatus::Partial);
    let summary = recorded.summary.unwrap();
    for (index, kind) in ALL_KINDS.iter().enumerate() {
        let result = &report.summary.results[index];
        assert!(result.success, "{kind}: the readable rows were stored: {result:?}");
        assert_eq!((result.synced, result.skipped_rows), (148, 2), "{kind}");
        assert_eq!(summary["results"][index]["skippedRows"], 2, "{kind}: in the summary JSON");
        let plants = h.plants_of(index).await;
        assert_eq!(plants.len(), 150, "{kind}");
        let inactive: Vec<&str> =
            plants.iter().filter(|p| !p.is_active).map(|p| p.vendor_plant_id.as_str()).collect();
        assert!(inactive.is_empty(), "{kind}: marked inactive although listed: {inactive:?}");
    }
    // A listing read cleanly again marks a plant that really vanished inactive.
    h.sim.set_faults(0, Faults::none());
    h.sim.remove_plant(0, 7);
    let solarman =
        plantsync::store::Selection { vendor: Some("acct-0".into()), ..Default::default() };
    let clean = Harness::run_on(&h.engine, &h.request(RunKind::Plants, solarman).await).await;
    assert_eq!(clean.status, RunStatus::Ok, "{:?}", clean.summary);
    let gone: Vec<_> = h.plants_of(0).await.into_iter().filter(|p| !p.is_active).collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
}

/// A portal that repeats page 1's last row at the top of page 2 while its total grows by
/// one (a plant added at the top while paging) lists every stored plant: the vendor
/// succeeds, every plant is stored once, and the repeat is counted, for all five portals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_repeated_across_pages_while_the_total_grows_is_no_failure() {
    let inserted = Faults { row_inserted_while_paging: true, ..Faults::none() };
    let h =
        Harness::new(ALL_KINDS.iter().map(|&kind| faulty(kind, 250, inserted.clone())).collect())
            .await;
    h.sync_once_a_day().await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let recorded = h.store.get_run(report.run_id).await.unwrap().summary.unwrap();
    for (index, kind) in ALL_KINDS.iter().enumerate() {
        let result = &report.summary.results[index];
        assert!(result.success, "{kind}: {result:?}");
        assert_eq!(result.error, None, "{kind}");
        assert_eq!((result.total, result.created, result.duplicate_rows), (250, 250, 1), "{kind}");
        assert_eq!(recorded["results"][index]["duplicateRows"], 1, "{kind}");
        let mut stored: Vec<String> =
            h.plants_of(index).await.into_iter().map(|p| p.vendor_plant_id).collect();
        let mut expected = h.sim.plant_ids(index);
        stored.sort();
        expected.sort();
        assert_eq!(stored, expected, "{kind}: every plant, once");
        assert_eq!(h.sim.requests(index, Endpoint::PlantList), 3, "{kind}: three pages");
    }
}
