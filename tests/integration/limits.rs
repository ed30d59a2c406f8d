//! The portals' limits as the portals keep them, through the engine against the simulator:
//! SolarEdge's quota spent by the portal's word, refused static keys probed again at a
//! backoff (passwords never), FusionSolar's minimum intervals across processes.

use crate::sync::{Harness, TestClock, fast_settings};
use plantsync::domain::{RunKind, RunStatus, VendorKind};
use plantsync::simulator::{AccountSpec, Endpoint, Faults};
use plantsync::sync::Engine;
use std::sync::Arc;

fn faulty(kind: VendorKind, plants: usize, faults: Faults) -> AccountSpec {
    AccountSpec { faults, ..AccountSpec::new(kind, plants, 1) }
}

/// Every call the simulator counted for account `index`.
fn calls(h: &Harness, index: usize) -> u64 {
    Endpoint::ALL.iter().map(|&e| h.sim.requests(index, e)).sum()
}

/// SolarEdge answers 429 for a spent day before our count reaches 300 (another client on
/// the key, a smaller allowance): the key's day is spent at once, the call is not retried,
/// no later sync calls the portal that day, and `status` says what the portal said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_429_spends_the_keys_day_at_once() {
    // The portal allows this key one request today: page 1 of 2 goes through.
    let small = Faults { solaredge_daily_limit: Some(1), ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::SolarEdge, 150, small)]).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = Harness::error_of(&report, 0);
    assert!(
        error.contains("page 2 failed: daily request quota spent: SolarEdge answered HTTP 429"),
        "{error}"
    );
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 2, "page 2 asked once, never retried");
    let health = h.store.status().await.unwrap().vendor_health.remove(0);
    assert_eq!((health.quota_used_today, health.quota_daily_limit), (Some(300), Some(300)));
    let said = health.quota_portal_said.clone().unwrap_or_default();
    assert_eq!(said, "SolarEdge answered HTTP 429 Too Many Requests (an empty body)");
    assert!(health.quota_resets_at.is_some());

    // The rest of the portal's day: no sync calls the portal.
    let before = calls(&h, 0);
    let plants = h.run(RunKind::Plants).await;
    let alerts = h.run(RunKind::Alerts).await;
    assert_eq!(calls(&h, 0), before, "nothing sent after the portal said the day is spent");
    let error = Harness::error_of(&plants, 0);
    assert!(error.contains("daily request quota spent: SolarEdge answered HTTP 429"), "{error}");
    assert!(error.contains("before plantsync's count reached 300"), "{error}");
    assert!(error.contains("plantsync calls again after 00:00 "), "{error}");
    let error = Harness::error_of(&alerts, 0);
    assert!(error.contains("alerts not fetched this run: SolarEdge's daily quota"), "{error}");
    assert_eq!(h.plants_of(0).await.len(), 100, "page 1 kept");

    // `plantsync status` shows it, from the same database.
    let output = assert_cmd::Command::cargo_bin("plantsync")
        .unwrap()
        .env_clear()
        .env("HOME", h._dir.path())
        .envs(crate::support::no_keyring_env(h._dir.path()))
        .arg("--data-dir")
        .arg(h._dir.path())
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("0 of 300 requests left today"), "{text}");
    assert!(
        text.contains("SolarEdge answered HTTP 429 Too Many Requests (an empty body)"),
        "{text}"
    );
}

/// A static key refused once (SolarEdge 403, Growatt 10011) parks the vendor, is probed
/// again with one call after an hour, and clears the vendor when it works; before its time
/// no sync calls the portal. A password refusal is never tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_static_keys_are_probed_with_one_call_passwords_never() {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let kinds = [
        VendorKind::SolarEdge,
        VendorKind::Growatt,
        VendorKind::Solarman,
        VendorKind::Sungrow,
        VendorKind::Huawei,
    ];
    let h = Harness::new(kinds.iter().map(|&k| faulty(k, 10, refused.clone())).collect()).await;
    let clock = TestClock::new();
    let engine = clock.engine(&h);
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&engine, &request).await;
    for (index, kind) in kinds.iter().enumerate() {
        assert!(Harness::error_of(&report, index).contains("credentials rejected"));
        let vendor = h.store.find_vendor(&format!("acct-{index}")).await.unwrap();
        assert!(vendor.needs_user_action, "{kind}");
    }
    let first: Vec<u64> = (0..kinds.len()).map(|i| calls(&h, i)).collect();
    assert_eq!(first, [1, 1, 1, 1, 1], "one call each");
    let status = h.store.status().await.unwrap();
    let probe_of = |name: &str| {
        status.vendor_health.iter().find(|v| v.name == name).unwrap().next_key_probe_at
    };
    assert!(probe_of("acct-0").is_some() && probe_of("acct-1").is_some());
    assert_eq!((probe_of("acct-2"), probe_of("acct-4")), (None, None), "passwords: no probe");

    // The portals would accept every credential now.
    for index in 0..kinds.len() {
        h.sim.set_faults(index, Faults::none());
    }
    // Half an hour later: no sync calls any portal.
    clock.advance(30);
    let report = Harness::run_on(&engine, &request).await;
    Harness::run_on(&engine, &h.request(RunKind::Alerts, Default::default()).await).await;
    assert_eq!((0..kinds.len()).map(|i| calls(&h, i)).collect::<Vec<_>>(), first);
    let waiting = Harness::error_of(&report, 0);
    assert!(waiting.contains("plantsync tries it again with one call after"), "{waiting}");

    // After the hour: one call each for the keys, which clears them; passwords stay.
    clock.advance(31);
    let report = Harness::run_on(&engine, &request).await;
    let probed: Vec<u64> = (0..kinds.len()).map(|i| calls(&h, i)).collect();
    assert_eq!(probed, [2, 2, 1, 1, 1], "{:?}", report.summary);
    for (index, parked) in [(0, false), (1, false), (2, true), (3, true), (4, true)] {
        let vendor = h.store.find_vendor(&format!("acct-{index}")).await.unwrap();
        assert_eq!(vendor.needs_user_action, parked, "{}", kinds[index]);
    }
    assert_eq!(h.store.status().await.unwrap().vendor_health[0].next_key_probe_at, None);
    // A day later the passwords are still not tried.
    clock.advance(25 * 60);
    Harness::run_on(&engine, &request).await;
    assert_eq!((2..5).map(|i| calls(&h, i)).collect::<Vec<_>>(), [1, 1, 1]);
}

/// A key refused again at its probe waits twice as long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refused_at_its_probe_waits_twice_as_long() {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::SolarEdge, 10, refused)]).await;
    let clock = TestClock::new();
    let engine = clock.engine(&h);
    let request = h.request(RunKind::Plants, Default::default()).await;
    Harness::run_on(&engine, &request).await;
    clock.advance(61);
    Harness::run_on(&engine, &request).await;
    assert_eq!(calls(&h, 0), 2, "the probe");
    // An hour and a half later: still inside the doubled wait of two hours.
    clock.advance(90);
    Harness::run_on(&engine, &request).await;
    assert_eq!(calls(&h, 0), 2);
    clock.advance(31);
    Harness::run_on(&engine, &request).await;
    assert_eq!(calls(&h, 0), 3, "the second probe");
    assert!(h.store.find_vendor("acct-0").await.unwrap().needs_user_action);
}

/// Engine settings whose FusionSolar intervals are a tenth of the portal's: the station
/// list's 300 s are 30 s, far beyond any delay between two steps of a test on a slow
/// machine, while the longest wait (70 s, 7 s here) still refuses it; a login waits 1.5 s.
fn tenth_intervals() -> plantsync::sync::EngineSettings {
    let fast = fast_settings();
    let http = plantsync::vendors::HttpSettings { min_interval_scale: 0.1, ..fast.http };
    plantsync::sync::EngineSettings { http, ..fast }
}

/// FusionSolar's station list may be called once every 300 s (30 s here, in the portal
/// and in plantsync): a second engine over the same database (another process: a CLI sync
/// after the agent's) does not send it, and fails that vendor alone with the time left, in
/// words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_intervals_hold_across_processes() {
    let strict = Faults { fusion_min_interval_scale: Some(0.1), ..Faults::none() };
    let accounts =
        vec![faulty(VendorKind::Huawei, 150, strict), AccountSpec::new(VendorKind::Solarman, 5, 1)];
    let h = Harness::with_settings(accounts, tenth_intervals()).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    let listed = h.sim.requests(0, Endpoint::PlantList);
    let other_process = Engine::new(h.store.clone(), tenth_intervals()).unwrap();
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&other_process, &request).await;
    assert_eq!(report.status, RunStatus::Partial, "{:?}", report.summary);
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("once every 300s per account"), "{error}");
    assert!(error.contains("try again in ") && error.contains(" second"), "{error}");
    assert!(report.summary.results[1].success, "the other vendor syncs");
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), listed, "nothing sent too soon");
    assert_eq!(h.sim.rate_limited(0), 0, "the portal never had to say 407");
}

/// A FusionSolar account whose portal holds its station list (the latch) under `settings`:
/// the first sync's station list is cut off in flight, then another process syncs.
/// Returns that sync's error and how many station lists the portal received in all.
async fn station_list_cut_off(settings: plantsync::sync::EngineSettings) -> (String, u64) {
    let strict = Faults { fusion_min_interval_scale: Some(0.1), ..Faults::none() };
    let h = Harness::with_settings(vec![faulty(VendorKind::Huawei, 20, strict)], settings).await;
    h.sim.hold(0);
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Failed, "{:?}", report.summary);
    let sent = h.sim.requests(0, Endpoint::PlantList);
    assert!(sent >= 1, "the station list reached the portal");
    h.sim.release(0);
    let other_process = Engine::new(h.store.clone(), tenth_intervals()).unwrap();
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&other_process, &request).await;
    assert_eq!(h.sim.rate_limited(0), 0, "the portal never had to say 407");
    (Harness::error_of(&report, 0), h.sim.requests(0, Endpoint::PlantList) - sent)
}

/// A station list cut off in flight by the vendor deadline (the portal holds its answer)
/// may have reached the portal, which counts it: it is recorded, so another process does
/// not send it again within the interval (the portal would answer 407).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_in_flight_still_counts_toward_its_interval() {
    let fast = tenth_intervals();
    let http = plantsync::vendors::HttpSettings {
        request_timeout: std::time::Duration::from_secs(60),
        ..fast.http
    };
    let settings = plantsync::sync::EngineSettings {
        vendor_deadline: std::time::Duration::from_secs(2),
        http,
        ..fast
    };
    let (error, sent_again) = station_list_cut_off(settings).await;
    assert!(error.contains("once every 300s per account"), "{error}");
    assert_eq!(sent_again, 0, "not sent again too soon");
}

/// The same for a station list that timed out after it was sent (every attempt: the
/// request timeout is shorter than the portal's hold): it counts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_timed_out_still_counts_toward_its_interval() {
    let (error, sent_again) = station_list_cut_off(tenth_intervals()).await;
    assert!(error.contains("once every 300s per account"), "{error}");
    assert_eq!(sent_again, 0, "not sent again too soon");
}

/// A call that never reached the portal does not count toward its interval: a FusionSolar
/// sync whose login is refused sends no station list, so the sync right after the
/// credentials were fixed (in another process too) lists the stations at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_counts_as_no_station_list_call() {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let h =
        Harness::with_settings(vec![faulty(VendorKind::Huawei, 20, refused)], tenth_intervals())
            .await;
    let report = h.run(RunKind::Plants).await;
    assert!(Harness::error_of(&report, 0).contains("credentials rejected"), "{report:?}");
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 0);
    // The user fixes the credentials (the portal accepts them now) and syncs again, from
    // the same process and from another one.
    h.sim.set_faults(0, Faults::none());
    let entered = plantsync::store::VendorPatch {
        credentials: Some(crate::sync::credentials_of(&h.sim, 0)),
        ..Default::default()
    };
    h.store.update_vendor("acct-0", entered).await.unwrap();
    let other_process = Engine::new(h.store.clone(), tenth_intervals()).unwrap();
    let request = h.request(RunKind::Plants, Default::default()).await;
    let report = Harness::run_on(&other_process, &request).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 1);
    assert_eq!(h.plants_of(0).await.len(), 20);
}

/// A Growatt account of `plants` whose token the first plant sync (run here) saw refused:
/// the vendor is parked, and `clock` decides when its probe is due.
async fn growatt_with_a_refused_token(
    plants: usize,
) -> (Harness, TestClock, Arc<Engine>, plantsync::domain::RunRequest) {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Growatt, plants, refused)]).await;
    let clock = TestClock::new();
    let engine = clock.engine(&h);
    let request = h.request(RunKind::Plants, Default::default()).await;
    Harness::run_on(&engine, &request).await;
    (h, clock, engine, request)
}

/// A refused key whose account has more than one page of plants: its probe (one call)
/// reads page 1 and accepts the key; the rest is the next run's. That is a success in
/// part, not a failure: the failure count is not bumped just as the vendor recovers, and
/// the next run syncs everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_reads_part_of_a_long_listing_is_a_success_in_part() {
    let (h, clock, engine, request) = growatt_with_a_refused_token(150).await;
    assert!(h.store.find_vendor("acct-0").await.unwrap().needs_user_action);
    h.sim.set_faults(0, Faults::none());
    clock.advance(61);
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(calls(&h, 0), 2, "the probe made one call");
    let result = &report.summary.results[0];
    assert!(result.success, "{result:?}");
    let said = result.error.clone().unwrap_or_default();
    assert!(said.contains("the refused API key works again"), "{said}");
    assert!(said.contains("the full sync follows at the next run"), "{said}");
    let vendor = h.store.find_vendor("acct-0").await.unwrap();
    assert!(!vendor.needs_user_action);
    let health = h.store.status().await.unwrap().vendor_health.remove(0);
    assert_eq!(health.consecutive_failures, 0, "a recovery, not one more failure");
    assert_eq!(health.last_error, None);
    // The next run is the full sync.
    let full = Harness::run_on(&engine, &request).await;
    assert_eq!(full.status, RunStatus::Ok, "{:?}", full.summary);
    assert_eq!(h.plants_of(0).await.len(), 150);
}

/// A refused key whose probe is answered, but with a listing that fails for its own reason
/// (an empty page 1 that says 150 plants): the key works (the portal answered it), so its
/// parked state is cleared, but the sync failed and says why. It is no success in part:
/// only a listing that the one request stopped is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_whose_listing_fails_otherwise_clears_the_key_but_fails() {
    let (h, clock, engine, request) = growatt_with_a_refused_token(150).await;
    let before = h.store.status().await.unwrap().vendor_health.remove(0);
    h.sim.set_faults(0, Faults { empty_pages_from: Some(1), ..Faults::none() });
    clock.advance(61);
    let report = Harness::run_on(&engine, &request).await;
    assert_eq!(calls(&h, 0), 2, "the probe made one call");
    let result = &report.summary.results[0];
    assert!(!result.success, "{result:?}");
    assert_eq!(report.status, RunStatus::Failed);
    let said = result.error.clone().unwrap_or_default();
    assert!(
        said.contains("the refused API key works again, but its probe's sync failed"),
        "{said}"
    );
    assert!(!said.contains("the full sync follows"), "{said}");
    let vendor = h.store.find_vendor("acct-0").await.unwrap();
    assert!(!vendor.needs_user_action, "the key works: no longer parked");
    assert_eq!(h.store.key_probe(vendor.id).await.unwrap(), None);
    let health = h.store.status().await.unwrap().vendor_health.remove(0);
    assert_eq!(health.consecutive_failures, before.consecutive_failures + 1);
    assert_eq!(health.last_synced_at, before.last_synced_at, "not synced");
    assert!(health.last_error.is_some());
}

/// An alert sync of a refused key whose probe is due leaves it to the plant sync, and says
/// so (not "after" a time that has already come).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_sync_says_the_next_plant_sync_probes_a_due_key() {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::SolarEdge, 10, refused)]).await;
    let clock = TestClock::new();
    let engine = clock.engine(&h);
    Harness::run_on(&engine, &h.request(RunKind::Plants, Default::default()).await).await;
    clock.advance(61);
    let report =
        Harness::run_on(&engine, &h.request(RunKind::Alerts, Default::default()).await).await;
    let said = Harness::error_of(&report, 0);
    assert!(said.contains("the next plant sync tries it again with one call"), "{said}");
    assert!(!said.contains(" after "), "{said}");
    assert_eq!(calls(&h, 0), 1, "the alert sync made no call");
}

/// With no plant syncs scheduled (`sync.enabled` off, alerts on), no plant sync comes by
/// itself: the alert sync says to run one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_sync_says_to_run_a_plant_sync_when_none_is_scheduled() {
    let refused = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::SolarEdge, 10, refused)]).await;
    let clock = TestClock::new();
    let settings =
        plantsync::sync::EngineSettings { scheduled_plant_syncs: false, ..fast_settings() };
    let time = clock.0.clone();
    let engine =
        Engine::with_clock(h.store.clone(), settings, Arc::new(move || *time.lock().unwrap()))
            .unwrap();
    Harness::run_on(&engine, &h.request(RunKind::Plants, Default::default()).await).await;
    clock.advance(61);
    let report =
        Harness::run_on(&engine, &h.request(RunKind::Alerts, Default::default()).await).await;
    let said = Harness::error_of(&report, 0);
    assert!(said.contains("none is scheduled (`sync.enabled` is off)"), "{said}");
    assert!(said.contains("run `plantsync sync plants`"), "{said}");
    assert!(!said.contains("the next plant sync"), "{said}");
    assert_eq!(calls(&h, 0), 1, "the alert sync made no call");
}

/// A 407 from the portal itself (another client of the account) on a call whose interval
/// is short (alarms, 60 s, 0.6 s here) is waited out once, and the call then succeeds:
/// two calls, no failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_407_on_a_short_interval_is_waited_out_once_and_succeeds() {
    // The portal refuses the first alarm call with 407, then answers.
    let once = Faults {
        rate_limit: Some(plantsync::simulator::Trigger {
            endpoint: Some(Endpoint::Alerts),
            nth: 1,
            times: 1,
        }),
        ..Faults::none()
    };
    // An hour's look-back: one alarm window, one call.
    let settings = plantsync::sync::EngineSettings {
        alert_lookback: std::time::Duration::from_secs(3600),
        ..fast_settings()
    };
    let h = Harness::with_settings(vec![faulty(VendorKind::Huawei, 5, once)], settings).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(Harness::error_of(&report, 0), "");
    assert_eq!(h.sim.requests(0, Endpoint::Alerts), 2, "the refused call, then once more");
}

/// A 407 from the portal itself (another client of the account) is waited out once when
/// the wait is short (above); a long one fails the vendor with the time left, after one
/// call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusionsolar_407_is_waited_out_once_or_fails_with_the_time_left() {
    // The portal enforces the intervals at full length; plantsync's are scaled down, so
    // its own pacing lets the second listing out and the portal answers 407.
    let strict = Faults { fusion_min_interval_scale: Some(1.0), ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Huawei, 50, strict)]).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let listed = h.sim.requests(0, Endpoint::PlantList);
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = Harness::error_of(&report, 0);
    // 300 s scaled by 0.01: in production the same text says "about 5 minutes".
    assert!(error.contains("it answered 407: try again in 3 seconds"), "{error}");
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), listed + 1, "one call, no retry");
}
