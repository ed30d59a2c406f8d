//! SolarEdge, FusionSolar and Growatt through the sync engine, against the simulator over
//! real HTTP with a real SQLite file: paging, units and times, alerts (or "unsupported"),
//! rate limits and budgets, sessions, and every fault case of vendor-apis.md §7.

use crate::sync::{Harness, fast_settings, no_backfill, with_concurrency};
use plantsync::domain::{AlertStatus, PlantStatus, RunKind, RunStatus, VendorKind};
use plantsync::simulator::{AccountSpec, Endpoint, Faults, Trigger};
use plantsync::store::{AlertFilter, PlantFilter, StatusFilter, Store};
use plantsync::sync::Engine;
use std::time::Duration;

const NEW_KINDS: [VendorKind; 3] = [VendorKind::SolarEdge, VendorKind::Huawei, VendorKind::Growatt];

fn account(kind: VendorKind, plants: usize) -> AccountSpec {
    AccountSpec::new(kind, plants, 1)
}

fn faulty(kind: VendorKind, plants: usize, faults: Faults) -> AccountSpec {
    AccountSpec { faults, ..account(kind, plants) }
}

fn raw_of(plant: &plantsync::domain::Plant, raw: Option<String>) -> serde_json::Value {
    serde_json::from_str(&raw.unwrap_or_else(|| panic!("plant {} has no raw record", plant.id)))
        .unwrap()
}

/// Every page is fetched with the portal's own paging keys, every plant stored once, with
/// units and times converted as each portal spells them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_portals_page_fully_and_convert_units_and_times() {
    let h = Harness::new(NEW_KINDS.iter().map(|&kind| account(kind, 230)).collect()).await;
    h.sync_once_a_day().await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(report.summary.total_synced, 690);
    for (index, kind) in NEW_KINDS.iter().enumerate() {
        assert_eq!(h.sim.requests(index, Endpoint::PlantList), 3, "230 plants at 100 a page");
        let mut stored: Vec<String> =
            h.plants_of(index).await.into_iter().map(|p| p.vendor_plant_id).collect();
        let mut expected = h.sim.plant_ids(index);
        stored.sort();
        expected.sort();
        assert_eq!(stored, expected, "{kind}: exactly the vendor's plants");
    }

    // SolarEdge: bulk overviews (100 sites a call), Wh to kWh, site-local times to UTC: the
    // overview's time to the second; the list's `lastUpdateTime` is only its local day.
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 3, "3 bulk overview calls for 230 sites");
    let reported: std::collections::HashMap<String, i64> =
        h.sim.last_updates(0).into_iter().collect();
    let mut zoned = 0;
    for plant in h.plants_of(0).await {
        let raw = raw_of(&plant, h.store.get_plant(plant.id).await.unwrap().1);
        assert_eq!(plant.capacity_kw, raw["peakPower"].as_f64());
        assert!(plant.total_energy_kwh.is_some(), "overview read for {}", plant.name);
        if let (Some(zone), Some(day)) =
            (raw["location"]["timeZone"].as_str(), raw["lastUpdateTime"].as_str())
        {
            let updated = plant.vendor_updated_at.unwrap().as_datetime();
            assert_eq!(updated.timestamp(), reported[&plant.vendor_plant_id], "{}", plant.name);
            let tz: chrono_tz::Tz = zone.parse().unwrap();
            assert_eq!(updated.with_timezone(&tz).format("%Y-%m-%d").to_string(), day, "{zone}");
            assert_eq!(plant.timezone.as_deref(), Some(zone));
            zoned += 1;
        }
    }
    assert!(zoned > 100, "site-local times converted: {zoned}");

    // FusionSolar: capacity in kWp, KPIs batched 100 stations a call, zone from the offset.
    assert_eq!(h.sim.requests(1, Endpoint::Realtime), 3);
    for plant in h.plants_of(1).await {
        let raw = raw_of(&plant, h.store.get_plant(plant.id).await.unwrap().1);
        assert_eq!(plant.capacity_kw, raw["capacity"].as_f64(), "kWp kept as kW");
        assert!(plant.total_energy_kwh.is_some(), "KPIs read for {}", plant.name);
        assert!(plant.network_status.is_some());
        let date = raw["gridConnectionDate"].as_str().unwrap();
        let offset = chrono::DateTime::parse_from_rfc3339(date).unwrap().offset().local_minus_utc();
        if offset % 3600 == 0 {
            assert!(plant.timezone.as_deref().unwrap().starts_with("Etc/GMT"), "{date}");
        } else {
            // No Etc zone for +05:30: the offset itself, in its canonical spelling.
            let minutes = offset.abs() / 60;
            let sign = if offset < 0 { '-' } else { '+' };
            let canonical = format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60);
            assert_eq!(plant.timezone.as_deref(), Some(canonical.as_str()), "{date}");
        }
    }

    // Growatt: numbers as text, "" as no reading, today's energy from plant/data, the zone
    // from the details call, once.
    assert_eq!(h.sim.requests(2, Endpoint::Realtime), 230, "one plant/data call per plant");
    assert_eq!(h.sim.requests(2, Endpoint::Devices), 230, "one details call per new plant");
    let mut zoned = 0;
    for plant in h.plants_of(2).await {
        let raw = raw_of(&plant, h.store.get_plant(plant.id).await.unwrap().1);
        assert_eq!(plant.capacity_kw, raw["peak_power"].as_f64());
        assert!(plant.daily_energy_kwh.is_some(), "plant/data read for {}", plant.name);
        // Every zone (whole hours as Etc/GMT-8, India's GMT+5:30 as +05:30) gives a UTC
        // update time.
        assert!(plant.timezone.is_some() && plant.vendor_updated_at.is_some(), "{plant:?}");
        zoned += usize::from(plant.timezone.is_some());
    }
    assert_eq!(zoned, 230, "every Growatt plant has a zone");
    // Growatt alone: FusionSolar's station list may not be asked again this soon.
    let only = plantsync::store::Selection { vendor: Some("acct-2".into()), ..Default::default() };
    let growatt_only = h.request(RunKind::Plants, only).await;
    let again = Harness::run_on(&h.engine, &growatt_only).await;
    assert_eq!(again.status, RunStatus::Ok, "{:?}", again.summary);
    assert_eq!(h.sim.requests(2, Endpoint::Devices), 230, "zones are read once");
}

/// Alerts: SolarEdge's v2 list of open alerts (those that leave it are resolved),
/// FusionSolar's alarm windows (resolved by recoveryTime), Growatt unsupported but visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_open_resolve_or_are_visibly_unsupported() {
    let no_v2 = Faults { solaredge_no_v2_alerts: true, ..Faults::none() };
    let h = Harness::new(vec![
        account(VendorKind::SolarEdge, 20),
        account(VendorKind::Huawei, 20),
        account(VendorKind::Growatt, 20),
        faulty(VendorKind::SolarEdge, 5, no_v2),
    ])
    .await;
    h.run(RunKind::Plants).await;
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(report.status, RunStatus::Ok, "unsupported is not a failure: {:?}", report.summary);
    let results = &report.summary.results;
    assert_eq!(results[0].synced, 20, "one open alert per site");
    assert!(results[1].synced > 0, "FusionSolar alarms in the window");
    for index in [2, 3] {
        assert_eq!(results[index].synced, 0);
        let error = Harness::error_of(&report, index);
        assert!(error.starts_with("alerts not supported:"), "{index}: {error}");
    }
    assert!(Harness::error_of(&report, 2).contains("Growatt"));
    assert!(Harness::error_of(&report, 3).contains("v2"));
    assert_eq!(h.sim.requests(3, Endpoint::Alerts), 1);
    let active = |vendor: &str| {
        h.store.list_alerts(AlertFilter {
            vendor: Some(vendor.into()),
            status: Some(AlertStatus::Active),
            ..AlertFilter::default()
        })
    };
    assert_eq!(active("acct-0").await.unwrap().len(), 20);
    let fusion_active = active("acct-1").await.unwrap();
    assert!(!fusion_active.is_empty());
    for alert in &fusion_active {
        let parts: Vec<&str> = alert.vendor_alert_key.split('|').collect();
        assert_eq!(parts.len(), 4, "stationCode|esnCode|alarmId|raiseTime: {alert:?}");
    }

    assert!(h.sim.resolve_alerts(0) > 0);
    assert!(h.sim.resolve_alerts(1) > 0);
    let again = h.run(RunKind::Alerts).await;
    assert_eq!(again.status, RunStatus::Ok, "{:?}", again.summary);
    assert!(active("acct-0").await.unwrap().is_empty(), "left the open list: resolved");
    assert!(active("acct-1").await.unwrap().is_empty(), "recoveryTime given: resolved");
    // Resolved by their absence: 20 updated, and the total counts them, so synced <= total.
    let solaredge = &again.summary.results[0];
    assert_eq!((solaredge.updated, solaredge.synced, solaredge.total), (20, 20, 20));
    for result in &again.summary.results {
        assert!(result.synced <= result.total, "{result:?}");
    }
    let resolved = h
        .store
        .list_alerts(AlertFilter {
            vendor: Some("acct-1".into()),
            status: Some(AlertStatus::Resolved),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert!(resolved.iter().all(|a| a.ended_at.is_some()), "FusionSolar gives the end time");
    assert_eq!(h.sim.requests(3, Endpoint::Alerts), 1, "no v2 access is remembered");
}

/// A FusionSolar alarm that stays open longer than the lookback is still resolved when it
/// recovers: the engine asks about it in a narrow window around its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_alarms_older_than_the_lookback_are_still_resolved() {
    let h = Harness::new(vec![account(VendorKind::Huawei, 12)]).await;
    h.run(RunKind::Plants).await;
    assert_eq!(h.run(RunKind::Alerts).await.status, RunStatus::Ok);
    let open = AlertFilter {
        vendor: Some("acct-0".into()),
        status: Some(AlertStatus::Active),
        ..AlertFilter::default()
    };
    let before = h.store.list_alerts(open.clone()).await.unwrap();
    assert!(!before.is_empty());
    // An engine that looks back one hour only: every stored open alarm is older than that.
    let short = plantsync::sync::EngineSettings {
        alert_lookback: Duration::from_secs(3600),
        ..fast_settings()
    };
    let engine = Engine::new(h.store.clone(), short).unwrap();
    assert!(h.sim.resolve_alerts(0) > 0);
    let calls = h.sim.requests(0, Endpoint::Alerts);
    let request = h.request(RunKind::Alerts, Default::default()).await;
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert!(h.store.list_alerts(open).await.unwrap().is_empty(), "all recovered alarms resolved");
    // One call for the window, one narrow call per older open alarm's start.
    let starts: std::collections::HashSet<_> =
        before.iter().map(|a| (a.plant_id, a.started_at)).collect();
    assert_eq!(h.sim.requests(0, Endpoint::Alerts) - calls, 1 + starts.len() as u64);
}

/// A rate-limit signal in the middle of a sync: a bounded retry counted against the
/// budget, then an error of that vendor only; never a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_mid_sync_is_bounded_and_vendor_scoped() {
    let second_page =
        Faults { rate_limit: Some(Trigger::from(Some(Endpoint::PlantList), 2)), ..Faults::none() };
    let mut accounts: Vec<AccountSpec> =
        NEW_KINDS.iter().map(|&kind| faulty(kind, 150, second_page.clone())).collect();
    accounts.push(account(VendorKind::Solarman, 10));
    let h = Harness::new(accounts).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Partial, "{:?}", report.summary);
    // SolarEdge's 429 is its daily quota spent (plantsync never exceeds its three calls
    // per IP): not retried, the key's day is over.
    let expected = [
        "daily request quota spent: SolarEdge answered HTTP 429",
        "rate limited: FusionSolar allows /thirdData/stations once every 300s per account (it \
         answers 407 otherwise); it answered 407: try again in",
        "rate limited: Growatt error_code 10012",
    ];
    for (index, text) in expected.iter().enumerate() {
        let kind = NEW_KINDS[index];
        let error = Harness::error_of(&report, index);
        assert!(error.contains("listing incomplete: page 2 failed: "), "{kind}: {error}");
        assert!(error.contains(text), "{kind}: {error}");
        // Page 1, then page 2: Growatt's as often as the retry policy allows (3 attempts:
        // its 10012 asks for 60 s, 0.6 s here, within the policy's longest wait of 2 s);
        // SolarEdge's once (a spent day), FusionSolar's once (its 407's wait, 300 s, is
        // too long to wait out in a sync).
        let calls = h.sim.requests(index, Endpoint::PlantList);
        let expected = if kind == VendorKind::Growatt { 4 } else { 2 };
        assert_eq!(calls, expected, "{kind}: list calls");
        // What page 1 listed is kept; an incomplete listing deactivates nothing.
        let kept = h.plants_of(index).await;
        assert_eq!(kept.len(), 100, "{kind}: page 1 kept");
        // A throttling portal gets no per-plant calls, and readings not read keep their
        // (here: no) update time, so the next sync reads them.
        assert_eq!(h.sim.requests(index, Endpoint::Realtime), 0, "{kind}");
        assert!(kept.iter().all(|p| p.vendor_updated_at.is_none()), "{kind}");
    }
    assert!(report.summary.results[3].success, "other vendors go on");
    // The portal's word spent SolarEdge's quota for the rest of its day.
    let status = h.store.status().await.unwrap();
    let used = status.vendor_health.iter().find(|v| v.name == "acct-0").unwrap().quota_used_today;
    assert_eq!(used, Some(300));
}

/// A rate limit on optional per-plant calls ends them at once (never waited out and
/// retried: hammering a throttled portal has led to IP blocks); the listing is kept. The
/// calls already in flight when the signal came finish; no call is launched after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_readings_stop_at_once_and_keep_the_listing() {
    // Every readings call is refused, so the first answer the adapter sees is the signal.
    let first_readings =
        Faults { rate_limit: Some(Trigger::from(Some(Endpoint::Realtime), 1)), ..Faults::none() };
    let h = Harness::new(
        NEW_KINDS.iter().map(|&kind| faulty(kind, 150, first_readings.clone())).collect(),
    )
    .await;
    h.sync_once_a_day().await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    // In flight together before the first answer: SolarEdge's 2 bulk calls (150 sites, up
    // to 3 at once), FusionSolar's 1 (sequential), Growatt's first 4 of 150 (its limit).
    let launched = [2, 1, 4];
    // SolarEdge's 429 is its daily quota spent; the others' signals are rate limits.
    let said = ["daily request quota spent", "rate limited", "rate limited"];
    for (index, kind) in NEW_KINDS.iter().enumerate() {
        let made = h.sim.requests(index, Endpoint::Realtime);
        assert_eq!(made, launched[index], "{kind}: the first wave only, no retry");
        assert_eq!(h.plants_of(index).await.len(), 150, "{kind}: the listing is stored");
        let error = Harness::error_of(&report, index);
        assert!(error.contains("not refreshed") && error.contains(said[index]), "{error}");
    }
}

/// SolarEdge: an account of 150 sites syncs inside the daily budget; the count survives a
/// restart and, once spent, no call is made until the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_budget_holds_across_syncs_and_restarts() {
    let h = Harness::new(vec![account(VendorKind::SolarEdge, 150)]).await;
    let sent = |h: &Harness| {
        [Endpoint::PlantList, Endpoint::Realtime, Endpoint::Alerts, Endpoint::History]
            .iter()
            .map(|&e| h.sim.requests(0, e))
            .sum::<u64>()
    };
    let used = |store: Store| async move {
        let status = store.status().await.unwrap();
        let health = &status.vendor_health[0];
        assert_eq!(health.quota_daily_limit, Some(300));
        u64::from(health.quota_used_today.unwrap())
    };
    for _ in 0..3 {
        assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
        h.run(RunKind::Alerts).await;
    }
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 6, "two list pages a sync");
    assert!(h.sim.requests(0, Endpoint::Realtime) <= 6, "at most two bulk overviews a sync");
    assert_eq!(h.sim.rate_limited(0), 0, "the portal never had to refuse a call");
    assert_eq!(used(h.store.clone()).await, sent(&h), "every request counted");

    // A restart: a new store handle and engine over the same file keep the count.
    let path = h.store.path().to_path_buf();
    let reopened = Store::open(&path).unwrap();
    assert_eq!(used(reopened.clone()).await, sent(&h));
    let engine = Engine::new(reopened.clone(), fast_settings()).unwrap();

    // Spend the day down to one request: page 1 goes out, page 2 is not sent.
    crate::support::sqlite3(&path, "UPDATE request_quotas SET used = 299");
    let before = sent(&h);
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.summary.results[0].error.clone().unwrap_or_default();
    let again = "plantsync calls again after 00:00 ";
    assert!(error.contains("daily request quota spent") && error.contains(again), "{error}");
    assert_eq!(sent(&h), before + 1);
    assert_eq!(used(reopened.clone()).await, 300);
    // Spent: the next sync makes no call at all, and the stored plants stay.
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(sent(&h), before + 1);
    assert_eq!(h.plants_of(0).await.len(), 150);
    assert_eq!(h.sim.rate_limited(0), 0);
}

/// When the quota leaves no overview call, the listing is stored without readings and
/// without the listing's update time, so the next sync with quota reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_readings_left_out_for_the_quota_are_read_later() {
    let h = Harness::new(vec![account(VendorKind::SolarEdge, 150)]).await;
    h.sync_once_a_day().await;
    // One request so the quota row exists, then leave exactly the two listing pages.
    h.run(RunKind::Alerts).await;
    let path = h.store.path().to_path_buf();
    crate::support::sqlite3(&path, "UPDATE request_quotas SET used = 298");
    let first = h.run(RunKind::Plants).await;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.summary);
    let error = Harness::error_of(&first, 0);
    let expected = "readings of 150 site(s) not refreshed this run, to keep within SolarEdge's \
                    daily quota";
    assert!(error.contains(expected), "{error}");
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 0);
    let stored = h.plants_of(0).await;
    assert_eq!(stored.len(), 150);
    assert!(stored.iter().all(|p| p.vendor_updated_at.is_none() && p.total_energy_kwh.is_none()));

    crate::support::sqlite3(&path, "UPDATE request_quotas SET used = 0");
    let second = h.run(RunKind::Plants).await;
    assert_eq!(second.status, RunStatus::Ok, "{:?}", second.summary);
    assert!(h.sim.requests(0, Endpoint::Realtime) >= 1, "overviews read once quota allows");
    let refreshed = h.plants_of(0).await;
    let read = refreshed.iter().filter(|p| p.total_energy_kwh.is_some()).count();
    assert!(read >= 100, "at least one bulk call of 100 sites: {read}");
    let with_time = refreshed.iter().filter(|p| p.vendor_updated_at.is_some()).count();
    assert_eq!(read, with_time, "an update time only with its readings");
}

/// SolarEdge allows three concurrent calls per source IP: five accounts synced at once
/// never have more than three in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_never_exceeds_three_concurrent_calls() {
    let slow = Faults { latency: Duration::from_millis(150), ..Faults::none() };
    let h =
        Harness::new((0..5).map(|_| faulty(VendorKind::SolarEdge, 120, slow.clone())).collect())
            .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert!(h.sim.peak_in_flight(VendorKind::SolarEdge) <= 3);
    assert_eq!(h.sim.peak_in_flight(VendorKind::SolarEdge), 3, "the three permits were used");
    assert!((0..5).all(|i| h.sim.rate_limited(i) == 0));
}

/// SolarEdge's overview calls of several big accounts fan out at once, and the process
/// still never has more than three SolarEdge calls in flight: the per-IP limit is shared by
/// every account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_overview_fan_outs_of_several_accounts_share_three_calls() {
    let slow = Faults { latency: Duration::from_millis(60), ..Faults::none() };
    // 350 sites: 4 list pages, then 4 bulk overviews that each account fans out 3 at once.
    let h =
        Harness::new((0..4).map(|_| faulty(VendorKind::SolarEdge, 350, slow.clone())).collect())
            .await;
    h.sync_once_a_day().await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.peak_in_flight(VendorKind::SolarEdge), 3, "three, never more");
    for index in 0..4 {
        assert_eq!(Harness::error_of(&report, index), "");
        assert_eq!(h.sim.rate_limited(index), 0);
        assert_eq!(h.sim.requests(index, Endpoint::Realtime), 4);
        assert!(h.plants_of(index).await.iter().all(|p| p.total_energy_kwh.is_some()));
    }
}

/// Growatt's per-plant details and data calls run concurrently: with a limit of 3 a big
/// account reaches 3 in flight and never more, and every plant's readings arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_fan_out_reaches_its_limit_and_never_exceeds_it() {
    let slow = Faults { latency: Duration::from_millis(20), ..Faults::none() };
    let h = Harness::with_settings(
        vec![faulty(VendorKind::Growatt, 250, slow)],
        with_concurrency(VendorKind::Growatt, 3),
    )
    .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(Harness::error_of(&report, 0), "");
    assert_eq!(h.sim.account_peak_in_flight(0), 3);
    assert_eq!(h.sim.requests(0, Endpoint::Devices), 250, "details once per plant");
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 250, "data once per plant");
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 250);
    assert!(plants.iter().all(|p| p.daily_energy_kwh.is_some()));
    assert_eq!(h.sim.rate_limited(0), 0);
}

/// FusionSolar: a token that expires mid-run costs exactly one re-login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_expiry_mid_run_gives_exactly_one_relogin() {
    // 250 stations: 3 list pages and 3 KPI calls; the token dies after the fourth.
    let expiring = Faults { token_expires_after: Some(4), ..Faults::none() };
    // The listing's logins alone: the history backfill after it would spend tokens too.
    let h = Harness::with_settings(vec![faulty(VendorKind::Huawei, 250, expiring)], no_backfill())
        .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.tokens_issued(0), 2, "one login, one re-login after the 305");
    assert_eq!(h.plants_of(0).await.len(), 250);
}

/// FusionSolar allows one session per account: a plant and an alert sync at the same time
/// share one login (a second would end the first session with a 305).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_parallel_syncs_share_one_session() {
    let h = Harness::new(vec![account(VendorKind::Huawei, 120)]).await;
    let (plants, alerts) = tokio::join!(h.run(RunKind::Plants), h.run(RunKind::Alerts));
    assert_eq!(plants.status, RunStatus::Ok, "{:?}", plants.summary);
    assert_eq!(alerts.status, RunStatus::Ok, "{:?}", alerts.summary);
    assert_eq!(h.sim.tokens_issued(0), 1, "never two logins for one account");
    // The cached session is reused by the next runs.
    h.run(RunKind::Plants).await;
    assert_eq!(h.sim.tokens_issued(0), 1);
}

/// FusionSolar's minimum intervals (scaled by 0.01 here, in both the portal and plantsync):
/// a second listing too soon is not sent at all, so the portal never answers 407.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_minimum_intervals_are_honoured() {
    let strict = Faults { fusion_min_interval_scale: Some(0.01), ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Huawei, 150, strict)]).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    let listed = h.sim.requests(0, Endpoint::PlantList);
    let too_soon = h.run(RunKind::Plants).await;
    assert_eq!(too_soon.status, RunStatus::Failed);
    let error = Harness::error_of(&too_soon, 0);
    assert!(error.contains("once every 300s"), "{error}");
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), listed, "nothing sent too soon");
    // 300 s scaled is 3 s: after it the listing goes out again.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    assert_eq!(h.sim.rate_limited(0), 0, "the portal never had to say 407");
}

/// Rejected credentials: FusionSolar's login, SolarEdge's key (403) and Growatt's token
/// (10011) need the user; each is tried once and no run tries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_need_the_user_and_are_not_retried() {
    let reject = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(NEW_KINDS.iter().map(|&k| faulty(k, 10, reject.clone())).collect()).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Failed);
    for (index, text) in
        ["SolarEdge answered HTTP 403", "FusionSolar refused the login", "Growatt error_code 10011"]
            .iter()
            .enumerate()
    {
        let error = Harness::error_of(&report, index);
        assert!(error.contains("credentials rejected") && error.contains(text), "{error}");
        let vendor = h.store.find_vendor(&format!("acct-{index}")).await.unwrap();
        assert!(vendor.needs_user_action, "{}", NEW_KINDS[index]);
    }
    let calls = |h: &Harness| {
        (0..3)
            .map(|i| h.sim.requests(i, Endpoint::Login) + h.sim.requests(i, Endpoint::PlantList))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(&h), [1, 1, 1], "one attempt each, never retried");
    h.run(RunKind::Plants).await;
    h.run(RunKind::Alerts).await;
    assert_eq!(calls(&h), [1, 1, 1], "later runs do not try the rejected credentials");
}

/// Every other fault of the checklist, each failing (or degrading) only its vendor with a
/// readable message, no panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_vendor_scoped_and_readable() {
    let list = Some(Endpoint::PlantList);
    let truncated = Faults { truncated_json: Some(Trigger::always(list)), ..Faults::none() };
    let html = Faults { http_error: Some((503, Trigger::always(list))), ..Faults::none() };
    let slow = Faults {
        slow_body: Some((Duration::from_secs(3), Trigger::always(list))),
        ..Faults::none()
    };
    let retired = Faults { growatt_retired_domain: true, ..Faults::none() };
    let empty_pages = Faults { empty_pages_from: Some(2), ..Faults::none() };
    let mut cases: Vec<(VendorKind, Faults, &str)> = Vec::new();
    for kind in NEW_KINDS {
        cases.push((kind, truncated.clone(), "malformed response"));
        cases.push((kind, html.clone(), "HTTP 503 from the vendor (an HTML body)"));
        cases.push((kind, slow.clone(), "timed out"));
        cases.push((kind, empty_pages.clone(), "listing incomplete"));
    }
    cases.push((VendorKind::Growatt, retired, "--base-url"));
    let healthy = cases.len();
    let mut accounts: Vec<AccountSpec> =
        cases.iter().map(|(kind, faults, _)| faulty(*kind, 150, faults.clone())).collect();
    accounts.push(account(VendorKind::SolarEdge, 10));
    let h = Harness::new(accounts).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Partial);
    for (index, (kind, _, expected)) in cases.iter().enumerate() {
        let result = &report.summary.results[index];
        assert!(!result.success, "case {index} ({kind}) should fail: {result:?}");
        let error = result.error.clone().unwrap_or_default();
        assert!(error.contains(expected), "case {index} ({kind}): {error:?} lacks {expected:?}");
    }
    assert!(report.summary.results[healthy].success, "the healthy vendor is unaffected");
    // The retired host is a permanent error: asked once, not retried.
    assert_eq!(h.sim.requests(healthy - 1, Endpoint::PlantList), 1);
}

/// An account without plants is a complete, empty listing (the portals say "0 in total"),
/// not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_accounts_sync_to_nothing() {
    let h = Harness::new(NEW_KINDS.iter().map(|&kind| account(kind, 0)).collect()).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(report.summary.total_synced, 0);
    let alerts = h.run(RunKind::Alerts).await;
    assert_eq!(alerts.status, RunStatus::Ok, "{:?}", alerts.summary);
}

/// A portal (or proxy) that ignores the paging parameter answers page 1 again: the
/// listing ends at once, incomplete (nothing is deactivated), without walking hundreds of
/// pages into a daily quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_ignoring_paging_ends_the_listing_at_once() {
    let ignoring = Faults { ignore_paging: true, ..Faults::none() };
    let h =
        Harness::new(NEW_KINDS.iter().map(|&k| faulty(k, 250, ignoring.clone())).collect()).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.summary);
    for (index, kind) in NEW_KINDS.iter().enumerate() {
        let error = Harness::error_of(&report, index);
        assert!(error.contains("listing incomplete") && error.contains("repeated"), "{error}");
        assert_eq!(h.sim.requests(index, Endpoint::PlantList), 2, "{kind}: stopped at page 2");
        assert_eq!(h.plants_of(index).await.len(), 100, "{kind}: the first page is kept");
    }
}

/// FusionSolar accounts without the `stations` interface (failCode 401) are listed from
/// the legacy `getStationList`, whose capacity is in MW.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_legacy_list_capacity_is_read_in_megawatts() {
    let legacy = Faults { fusion_legacy_only: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Huawei, 130, legacy)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 2, "stations refused, then the legacy list");
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 130);
    for plant in plants {
        let raw = raw_of(&plant, h.store.get_plant(plant.id).await.unwrap().1);
        let megawatts = raw["capacity"].as_f64().unwrap();
        assert!(megawatts < 1.0, "the legacy list is in MW: {raw}");
        let kilowatts = plant.capacity_kw.unwrap();
        assert!((kilowatts - megawatts * 1000.0).abs() < 1e-6, "{kilowatts} vs {megawatts} MW");
    }
    // The refusal is remembered: later syncs (once the list's interval has passed) go to
    // the legacy list directly.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 3, "no second refused stations call");
}

/// A Growatt token refused the details call (`error_code 101`, no permission) is asked once:
/// the readings still are, in the zone `plant/data` carries beside its time (so each plant
/// gets its zone and a UTC update time all the same), and later syncs do not ask again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_details_refused_is_asked_once_and_readings_still_read() {
    let refused = Faults { growatt_no_details_access: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Growatt, 30, refused)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("plant zones not read: Growatt error_code 101"), "{error}");
    // At most the first wave of the fan-out (Growatt's limit of 4, fewer while other
    // accounts of the process hold places) was in flight; none after it.
    let refused = h.sim.requests(0, Endpoint::Devices);
    assert!((1..=4).contains(&refused), "{refused} refused details calls, not 30");
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 30, "plant/data for every plant");
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 30);
    let reported: std::collections::HashMap<String, i64> =
        h.sim.last_updates(0).into_iter().collect();
    for plant in &plants {
        assert!(plant.timezone.is_some(), "{}: the zone of plant/data", plant.name);
        let stored = plant.vendor_updated_at.as_ref().map(|t| t.as_datetime().timestamp());
        assert_eq!(stored, Some(reported[&plant.vendor_plant_id]), "{}", plant.name);
        assert!(plant.daily_energy_kwh.is_some());
    }
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    assert_eq!(h.sim.requests(0, Endpoint::Devices), refused, "the refusal is remembered");

    // Access granted later (the refusal's day over): the plants whose list row has no
    // coordinates are asked their details although their zone is known, and only they.
    let unplaced = plants.iter().filter(|p| p.latitude.is_none()).count();
    assert_eq!(unplaced, 8, "one plant in four lists \"\" coordinates");
    h.sim.set_faults(0, Faults::none());
    crate::support::sqlite3(h.store.path(), "DELETE FROM account_facts");
    let engine = Engine::new(h.store.clone(), fast_settings()).unwrap();
    let request = h.request(RunKind::Plants, Default::default()).await;
    assert_eq!(Harness::run_on(&engine, &request).await.status, RunStatus::Ok);
    let asked = h.sim.requests(0, Endpoint::Devices) - refused;
    assert_eq!(asked, 8, "details for the unplaced only");
    let placed = h.plants_of(0).await;
    assert!(placed.iter().all(|p| p.latitude.is_some() && p.longitude.is_some()));
}

/// SolarEdge's real site list gives only the day of each site's last report (the
/// simulator sends it so), so the overviews refresh the readings on every sync the quota
/// plan allows, and a site's update time is its overview's, to the second. Whether a site
/// reports comes from that time's age: silent for more than a day is offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_overviews_give_the_update_times_and_the_status() {
    let h = Harness::new(vec![account(VendorKind::SolarEdge, 150)]).await;
    h.sync_once_a_day().await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 2, "150 sites: two bulk calls");
    let reported = |h: &Harness| -> std::collections::HashMap<String, i64> {
        h.sim.last_updates(0).into_iter().collect()
    };
    let check = |plants: &[plantsync::domain::Plant],
                 last: &std::collections::HashMap<String, i64>| {
        let now = chrono::Utc::now().timestamp();
        for plant in plants {
            let unix = last[&plant.vendor_plant_id];
            let stored = plant.vendor_updated_at.as_ref().map(|t| t.as_datetime().timestamp());
            assert_eq!(
                stored,
                Some(unix),
                "{}: the overview's time, not the list's day",
                plant.name
            );
            // A site within two minutes of the threshold may have crossed it between the
            // sync and this check: its status is not judged here.
            if (now - unix - 24 * 3600).abs() > 120 {
                let expected =
                    if now - unix > 24 * 3600 { PlantStatus::Offline } else { PlantStatus::Online };
                let age = now - unix;
                assert_eq!(plant.status, expected, "{} last reported {age}s ago", plant.name);
            }
            assert!(matches!(plant.network_status.as_deref(), Some("ACTIVE" | "PENDING")));
        }
    };
    let before = h.plants_of(0).await;
    check(&before, &reported(&h));
    let offline = before.iter().filter(|p| p.status == PlantStatus::Offline).count();
    assert!(offline > 0 && offline < 150, "{offline} silent sites");

    // Two sites report: the list still says only "today", the overviews say what moved.
    h.sim.touch_plant(0, 3);
    h.sim.touch_plant(0, 140);
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 4, "the list's day gates nothing");
    let after = h.plants_of(0).await;
    check(&after, &reported(&h));
    let energy = |plants: &[plantsync::domain::Plant], id: &str| {
        plants.iter().find(|p| p.vendor_plant_id == id).and_then(|p| p.total_energy_kwh).unwrap()
    };
    let ids = h.sim.plant_ids(0);
    for id in [&ids[3], &ids[140]] {
        assert!((energy(&after, id) - energy(&before, id) - 1.0).abs() < 1e-6, "site {id}");
    }
    assert_eq!(energy(&after, &ids[4]), energy(&before, &ids[4]), "an unmoved site is kept");
    // The normalized filter finds SolarEdge's silent sites.
    let filter = PlantFilter { status: StatusFilter::parse("offline"), ..PlantFilter::default() };
    assert_eq!(h.store.list_plants(filter).await.unwrap().len(), offline);
}

/// One bad row is skipped and reported, never the page; the PDF's `list` spelling of
/// SolarEdge's site list is read too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_skipped_and_documented_spellings_read() {
    let bad_rows =
        Faults { wrong_type_plant: Some(3), missing_field_plant: Some(120), ..Faults::none() };
    let documented = Faults { solaredge_documented_list_key: true, ..Faults::none() };
    let mut accounts: Vec<AccountSpec> =
        NEW_KINDS.iter().map(|&kind| faulty(kind, 150, bad_rows.clone())).collect();
    accounts.push(faulty(VendorKind::SolarEdge, 120, documented));
    let h = Harness::new(accounts).await;
    let report = h.run(RunKind::Plants).await;
    for (index, kind) in NEW_KINDS.iter().enumerate() {
        let result = &report.summary.results[index];
        assert!(result.success, "{kind}: {result:?}");
        assert_eq!(result.synced, 148, "{kind}");
        let error = result.error.as_deref().unwrap_or("");
        assert!(error.contains("2 unreadable plant(s) skipped"), "{error}");
    }
    let documented = &report.summary.results[3];
    assert!(documented.success, "{documented:?}");
    assert_eq!(documented.synced, 120);
}

/// Growatt: a rate limit in the details step (`10012`) ends the run's per-plant calls
/// there, as a throttled listing does: no `plant/data` call follows, the listing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_rate_limited_details_skip_the_data_calls() {
    // Every details call is refused, so no call of the first wave succeeds and frees a
    // place before the refusal is seen: the count below does not depend on timing.
    let limited =
        Faults { rate_limit: Some(Trigger::always(Some(Endpoint::Devices))), ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Growatt, 30, limited)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("not read this run: rate limited: Growatt error_code 10012"), "{error}");
    assert!(error.contains("plant readings not refreshed this run: the portal is throttling"));
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 0, "no plant/data call after the 10012");
    assert!(h.sim.requests(0, Endpoint::Devices) <= 4, "the first wave of details, no more");
    assert_eq!(h.plants_of(0).await.len(), 30, "the listing is kept");
    // The portal answers again: the next run reads them.
    h.sim.set_faults(0, Faults::none());
    let next = h.run(RunKind::Plants).await;
    assert_eq!(Harness::error_of(&next, 0), "", "{:?}", next.summary);
    assert!(h.plants_of(0).await.iter().all(|p| p.daily_energy_kwh.is_some()));
}

/// Growatt: a token refused `plant/data` (`error_code 101`) is remembered for a day, like a
/// refused details call: the plants are still listed, and later syncs do not ask again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_data_refused_is_asked_once() {
    let refused = Faults { no_permission: vec![Endpoint::Realtime], ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Growatt, 30, refused)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("plant readings not read: Growatt error_code 101"), "{error}");
    let asked = h.sim.requests(0, Endpoint::Realtime);
    assert!((1..=4).contains(&asked), "the first wave was refused, no more: {asked}");
    assert_eq!(h.plants_of(0).await.len(), 30);
    let again = h.run(RunKind::Plants).await;
    assert_eq!(again.status, RunStatus::Ok, "{:?}", again.summary);
    assert!(Harness::error_of(&again, 0).contains("may not call /v1/plant/data"));
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), asked, "the refusal is remembered");
}

/// Growatt blocks by IP (§5.4): however many Growatt accounts sync at once (12 here, each
/// allowed 4 per-plant calls), the process never has more than
/// `GROWATT_MAX_CONCURRENT` (8) Growatt calls in flight, and every plant is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_calls_of_every_account_share_the_process_cap() {
    let slow = Faults { latency: Duration::from_millis(20), ..Faults::none() };
    let settings = plantsync::sync::EngineSettings { concurrency: 16, ..fast_settings() };
    let accounts = (0..12).map(|_| faulty(VendorKind::Growatt, 30, slow.clone())).collect();
    let h = Harness::with_settings(accounts, settings).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let cap = plantsync::vendors::concurrency::GROWATT_MAX_CONCURRENT as u32;
    let peak = h.sim.peak_in_flight(VendorKind::Growatt);
    assert!(peak <= cap, "{peak} Growatt calls in flight at once");
    for index in 0..12 {
        assert_eq!(Harness::error_of(&report, index), "");
        assert!(h.sim.account_peak_in_flight(index) <= 4);
        assert_eq!(h.sim.requests(index, Endpoint::Realtime), 30);
        assert_eq!(h.sim.rate_limited(index), 0);
    }
}

/// FusionSolar `failCode 401` is a missing interface permission (§4.5): on `getAlarmList`
/// alerts are unsupported (visible, not a failure), on `getStationRealKpi` the stations are
/// listed without readings. Both are remembered, so neither refused call is repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_alarm_and_kpi_refusals_are_remembered() {
    let fast = fast_settings();
    // No minimum intervals, so the runs can follow one another at once.
    let http = plantsync::vendors::HttpSettings { min_interval_scale: 0.0, ..fast.http };
    let settings = plantsync::sync::EngineSettings { http, ..fast };
    let refused = |endpoint| Faults { no_permission: vec![endpoint], ..Faults::none() };
    let h = Harness::with_settings(
        vec![
            faulty(VendorKind::Huawei, 20, refused(Endpoint::Alerts)),
            faulty(VendorKind::Huawei, 20, refused(Endpoint::Realtime)),
        ],
        settings,
    )
    .await;
    for round in 0..2 {
        let plants = h.run(RunKind::Plants).await;
        assert_eq!(plants.status, RunStatus::Ok, "{:?}", plants.summary);
        let error = Harness::error_of(&plants, 1);
        let expected = if round == 0 {
            "station readings not read: FusionSolar failCode 401"
        } else {
            "may not call getStationRealKpi"
        };
        assert!(error.contains(expected), "round {round}: {error}");
        assert_eq!(h.sim.requests(1, Endpoint::Realtime), 1, "round {round}: asked once");
        assert!(h.plants_of(1).await.iter().all(|p| p.total_energy_kwh.is_none()));
        assert_eq!(Harness::error_of(&plants, 0), "");

        let alerts = h.run(RunKind::Alerts).await;
        assert!(alerts.summary.results[0].success, "{:?}", alerts.summary);
        let error = Harness::error_of(&alerts, 0);
        assert!(error.starts_with("alerts not supported:"), "{error}");
        assert!(error.contains("getAlarmList (failCode 401)"), "{error}");
        assert_eq!(h.sim.requests(0, Endpoint::Alerts), 1, "round {round}: asked once");
        assert!(alerts.summary.results[1].success, "{:?}", alerts.summary);
    }
}

/// SolarEdge overviews left out because the run's request budget (or soft deadline) ran
/// short say so, not that they were left out for the daily quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_overviews_stopped_by_the_run_budget_say_so() {
    // 350 sites: 4 listing pages, then 4 bulk overviews planned; the budget of 14 keeps
    // its reserve of 10 for listings, so none is made.
    let settings = plantsync::sync::EngineSettings { request_budget: 14, ..fast_settings() };
    let h = Harness::with_settings(vec![account(VendorKind::SolarEdge, 350)], settings).await;
    h.sync_once_a_day().await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(
        error.contains("readings of 350 site(s) not refreshed this run (time or request budget)"),
        "{error}"
    );
    assert!(!error.contains("daily quota"), "{error}");
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 0);
}
