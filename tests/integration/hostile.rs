//! Hostile replies through the engine, against the simulator over real HTTP with a real
//! SQLite file: values no plant can report are not stored (the stored ones stay), and
//! megabyte texts are cut on their way in and never quoted whole in an error.

use crate::support::sqlite3;
use crate::sync::{Harness, fast_settings};
use plantsync::domain::{AlertStatus, RunKind, RunStatus, VendorKind};
use plantsync::simulator::{AccountSpec, Faults};
use plantsync::store::AlertFilter;

const KINDS: [VendorKind; 5] = [
    VendorKind::Solarman,
    VendorKind::Sungrow,
    VendorKind::SolarEdge,
    VendorKind::Huawei,
    VendorKind::Growatt,
];

/// An account of every portal; no minimum intervals, so runs can follow one another.
async fn every_portal(plants: usize) -> Harness {
    let fast = fast_settings();
    let http = plantsync::vendors::HttpSettings { min_interval_scale: 0.0, ..fast.http };
    let settings = plantsync::sync::EngineSettings { http, ..fast };
    let accounts = KINDS.iter().map(|k| AccountSpec::new(*k, plants, 0)).collect();
    let h = Harness::with_settings(accounts, settings).await;
    h.sync_once_a_day().await;
    h
}

/// A capacity of 1e308 (each portal in its own shape) overwrites nothing: the stored
/// capacity stays, and the run names the field once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_capacity_is_not_stored_and_is_named() {
    let h = every_portal(4).await;
    let first = h.run(RunKind::Plants).await;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.summary);
    let mut before = Vec::new();
    for index in 0..KINDS.len() {
        let plants = h.plants_of(index).await;
        let id = &h.sim.plant_ids(index)[1];
        let plant = plants.iter().find(|p| &p.vendor_plant_id == id).unwrap();
        before.push((id.clone(), plant.capacity_kw.unwrap()));
        h.sim.set_faults(index, Faults { implausible_plant: Some(1), ..Faults::none() });
    }
    let second = h.run(RunKind::Plants).await;
    for (index, (id, capacity)) in before.iter().enumerate() {
        let result = &second.summary.results[index];
        assert!(result.success, "{}: {result:?}", KINDS[index]);
        let error = Harness::error_of(&second, index);
        assert!(
            error.contains("implausible values were not stored: capacity (1)"),
            "{}: {error}",
            KINDS[index]
        );
        let plants = h.plants_of(index).await;
        let plant = plants.iter().find(|p| &p.vendor_plant_id == id).unwrap();
        assert_eq!(
            plant.capacity_kw,
            Some(*capacity),
            "{}: the stored capacity stays",
            KINDS[index]
        );
        assert_eq!(plants.len(), 4, "no plant lost");
    }
}

/// A megabyte of name (with a NUL and an escape sequence) is stored cut to its bound, and
/// a megabyte of text where a number belongs makes that row unreadable with a short,
/// escaped reason: the run's stored error stays small and the database does not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_texts_are_cut_and_never_quoted_whole() {
    let h = every_portal(4).await;
    for index in 0..KINDS.len() {
        let faults =
            Faults { huge_text_plant: Some(1), huge_value_plant: Some(2), ..Faults::none() };
        h.sim.set_faults(index, faults);
    }
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Partial, "{:?}", report.summary);
    for (index, kind) in KINDS.iter().enumerate() {
        let result = &report.summary.results[index];
        assert_eq!(result.skipped_rows, 1, "{kind}: the row with a megabyte capacity");
        let error = Harness::error_of(&report, index);
        assert!(error.chars().count() <= 2000, "{kind}: {} chars", error.chars().count());
        assert!(!error.chars().any(|c| c.is_control()), "{kind}: no raw control character");
        assert!(
            error.contains("text longer than plantsync keeps was cut: name (1)"),
            "{kind}: {error}"
        );
        let plants = h.plants_of(index).await;
        assert_eq!(plants.len(), 3, "{kind}");
        let id = &h.sim.plant_ids(index)[1];
        let long = plants.iter().find(|p| &p.vendor_plant_id == id).unwrap();
        let name = long.name.as_str();
        assert_eq!(name.chars().count(), 200, "{kind}");
        assert!(name.chars().all(|c| c == 'N'), "{kind}: cut before the NUL");
    }
    let path = h.store.path().to_path_buf();
    let longest = sqlite3(&path, "SELECT max(length(error)) FROM sync_run_vendors");
    assert!(longest.trim().parse::<usize>().unwrap() <= 2000, "{longest}");
    let raw = sqlite3(&path, "SELECT max(length(raw_json)) FROM plants");
    assert!(raw.trim().parse::<usize>().unwrap() <= 64 * 1024, "{raw}");
    let size = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    assert!(size < 4 << 20, "the database holds no megabyte: {size} bytes");
}

/// An alert's end in the year 9999 (Sungrow's `over_time`) overwrites no stored end: the
/// stored end stays, the run says so, and it blocks nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_alert_end_overwrites_no_stored_end() {
    let h = Harness::new(vec![AccountSpec::new(VendorKind::Sungrow, 3, 1)]).await;
    h.run(RunKind::Plants).await;
    let all = AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() };
    assert_eq!(h.run(RunKind::Alerts).await.status, RunStatus::Ok);
    assert!(h.sim.resolve_alerts(0) > 0);
    assert_eq!(h.run(RunKind::Alerts).await.status, RunStatus::Ok);
    let ended: Vec<(String, Option<plantsync::domain::Timestamp>)> = h
        .store
        .list_alerts(all.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.vendor_alert_key, a.ended_at))
        .collect();
    assert!(ended.iter().all(|(_, end)| end.is_some()), "{ended:?}");

    h.sim.set_faults(0, Faults { implausible_alert_end: Some(0), ..Faults::none() });
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("1 impossible alert end(s) not stored"), "{error}");
    assert!(error.contains("9999-12-31"), "{error}");
    let after: Vec<(String, Option<plantsync::domain::Timestamp>)> = h
        .store
        .list_alerts(all)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.vendor_alert_key, a.ended_at))
        .collect();
    assert_eq!(after, ended, "every stored end stays");
}

/// An open alert whose end comes back in the year 9999 stays open: an end that cannot be
/// believed cannot resolve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_end_resolves_no_open_alert() {
    let h = Harness::new(vec![AccountSpec::new(VendorKind::Sungrow, 3, 1)]).await;
    h.run(RunKind::Plants).await;
    let all = AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() };
    assert_eq!(h.run(RunKind::Alerts).await.status, RunStatus::Ok);
    let statuses = |alerts: Vec<plantsync::domain::Alert>| -> Vec<(String, AlertStatus)> {
        alerts.into_iter().map(|a| (a.vendor_alert_key, a.status)).collect()
    };
    let before = statuses(h.store.list_alerts(all.clone()).await.unwrap());
    assert!(before.iter().any(|(_, status)| *status == AlertStatus::Active), "{before:?}");

    h.sim.set_faults(0, Faults { implausible_alert_end: Some(0), ..Faults::none() });
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert!(Harness::error_of(&report, 0).contains("impossible alert end(s) not stored"));
    let after = statuses(h.store.list_alerts(all).await.unwrap());
    assert_eq!(after, before, "no alert changed its status");
}
