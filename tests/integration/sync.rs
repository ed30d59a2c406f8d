//! The sync engine against the built-in simulator over real HTTP on loopback, with a real
//! SQLite file: paging, units, tokens, every fault switch, isolation, alerts.

use plantsync::domain::{
    AlertStatus, CredentialField, Credentials, NewOrganization, NewVendor, RunKind, RunSource,
    RunStatus, VendorKind,
};
use plantsync::domain::{RunReport, RunRequest, Timestamp};
use plantsync::simulator::{AccountSpec, Endpoint, Faults, Simulator, SimulatorConfig, Trigger};
use plantsync::store::{AlertFilter, PlantFilter, Selection, Store, VendorPatch};
use plantsync::sync::{Engine, EngineSettings, Progress};
use plantsync::vendors::{HttpSettings, RetryPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A data dir, a simulator and an engine wired together: one vendor per account, named
/// `acct-<index>`, all in organization "Org" with auto-sync on.
pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub sim: Simulator,
    pub engine: Arc<Engine>,
}

/// Short timeouts and retries so fault tests stay fast.
pub fn fast_settings() -> EngineSettings {
    EngineSettings {
        concurrency: 4,
        vendor_deadline: Duration::from_secs(30),
        http: HttpSettings {
            request_timeout: Duration::from_millis(800),
            connect_timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(40),
                max_retry_after: Duration::from_secs(2),
            },
            // FusionSolar's 15 s between logins become 150 ms, its 300 s between station
            // listings 3 s.
            min_interval_scale: 0.01,
            ..HttpSettings::default()
        },
        ..EngineSettings::default()
    }
}

/// [`fast_settings`] without the history backfill, for tests that count a sync's own calls.
pub fn no_backfill() -> EngineSettings {
    let history = plantsync::sync::HistorySettings { backfill_days: 0, ..Default::default() };
    EngineSettings { history, ..fast_settings() }
}

/// A wall clock the test moves: an hour passes without sleeping an hour.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<Timestamp>>);

impl TestClock {
    /// A clock at the real now.
    pub fn new() -> Self {
        Self::at(Timestamp::now())
    }
    /// A clock at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }
    /// The clock's time.
    pub fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
    pub fn advance(&self, minutes: i64) {
        let mut now = self.0.lock().unwrap();
        let moved = now.as_datetime() + chrono::Duration::minutes(minutes);
        *now = Timestamp::from_datetime(&moved);
    }
    /// An engine on `h`'s store with [`fast_settings`] that takes this clock as its wall
    /// clock.
    pub fn engine(&self, h: &Harness) -> Arc<Engine> {
        self.engine_with(h, fast_settings())
    }
    /// An engine on `h`'s store with `settings` that takes this clock as its wall clock.
    pub fn engine_with(&self, h: &Harness, settings: EngineSettings) -> Arc<Engine> {
        let clock = self.0.clone();
        Engine::with_clock(h.store.clone(), settings, Arc::new(move || *clock.lock().unwrap()))
            .unwrap()
    }
}

pub fn credentials_of(sim: &Simulator, index: usize) -> Credentials {
    let c = sim.credentials(index);
    let mut creds = Credentials::default();
    creds.set(CredentialField::Username, c.username);
    creds.set(CredentialField::Password, c.password);
    creds.set(CredentialField::AppId, c.app_id);
    creds.set(CredentialField::AppSecret, c.app_secret);
    creds.set(CredentialField::ApiKey, c.api_key);
    creds
}

impl Harness {
    pub async fn new(accounts: Vec<AccountSpec>) -> Self {
        Self::with_settings(accounts, fast_settings()).await
    }

    pub async fn with_settings(accounts: Vec<AccountSpec>, settings: EngineSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("plantsync.db")).unwrap();
        let count = accounts.len();
        let sim = Simulator::start(SimulatorConfig { seed: 7, accounts }).await.unwrap();
        let org = store
            .add_org(NewOrganization {
                name: "Org".into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 15,
            })
            .await
            .unwrap();
        for index in 0..count {
            let kind = sim.credentials(index).kind;
            let vendor = NewVendor {
                name: format!("acct-{index}"),
                kind,
                org_id: Some(org.id),
                base_url: Some(sim.base_url(kind)),
                is_active: true,
            };
            store.add_vendor(vendor, credentials_of(&sim, index)).await.unwrap();
        }
        let engine = Engine::new(store.clone(), settings).unwrap();
        Self { _dir: dir, store, sim, engine }
    }

    /// A request as `plantsync sync <kind>` makes it, with `selection`.
    pub async fn request(&self, kind: RunKind, selection: Selection) -> RunRequest {
        self.store.resolve_request(kind, RunSource::User, selection).await.unwrap()
    }

    /// Runs `request` on `engine`, recorded.
    pub async fn run_on(engine: &Arc<Engine>, request: &RunRequest) -> RunReport {
        engine.run(request, Arc::new(Progress::default())).await.unwrap()
    }

    /// A sync of every vendor, as `plantsync sync <kind>` runs it.
    pub async fn run(&self, kind: RunKind) -> RunReport {
        let request = self.request(kind, Selection::default()).await;
        Self::run_on(&self.engine, &request).await
    }

    /// Makes the organization sync once a day: SolarEdge's quota plan then has no later
    /// syncs to reserve for, so how many calls it allows does not depend on the hour the test
    /// runs at (the plan itself is unit-tested in `solaredge::plan`).
    pub async fn sync_once_a_day(&self) {
        let daily = plantsync::store::OrgPatch {
            sync_interval_minutes: Some(1440),
            ..plantsync::store::OrgPatch::default()
        };
        self.store.update_org("Org", daily).await.unwrap();
    }

    pub async fn plants_of(&self, index: usize) -> Vec<plantsync::domain::Plant> {
        let filter =
            PlantFilter { vendor: Some(format!("acct-{index}")), ..PlantFilter::default() };
        self.store.list_plants(filter).await.unwrap()
    }

    pub fn error_of(report: &RunReport, index: usize) -> String {
        report.summary.results[index].error.clone().unwrap_or_default()
    }
}

fn account(kind: VendorKind, plants: usize) -> AccountSpec {
    AccountSpec::new(kind, plants, 1)
}

fn faulty(kind: VendorKind, plants: usize, faults: Faults) -> AccountSpec {
    AccountSpec { faults, ..account(kind, plants) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_vendors_page_fully_and_convert_units() {
    let h =
        Harness::new(vec![account(VendorKind::Solarman, 250), account(VendorKind::Sungrow, 230)])
            .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(report.summary.total_synced, 480);
    assert_eq!(report.summary.total_created, 480);
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 3, "250 plants at 100 a page");
    assert_eq!(h.sim.requests(1, Endpoint::PlantList), 3);

    for index in 0..2 {
        let stored = h.plants_of(index).await;
        let mut ids: Vec<String> = stored.iter().map(|p| p.vendor_plant_id.clone()).collect();
        let mut expected = h.sim.plant_ids(index);
        ids.sort();
        expected.sort();
        assert_eq!(ids, expected, "account {index} stored exactly the vendor's plants");
    }
    // Sungrow: every power reading converted by its own unit.
    let mut degrees = 0;
    for plant in h.plants_of(1).await {
        let (row, _) = h.store.get_plant(plant.id).await.unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&h.store.get_plant(row.id).await.unwrap().1.unwrap()).unwrap();
        let value: f64 = raw["curr_power"]["value"].as_str().unwrap().parse().unwrap();
        let expected = match raw["curr_power"]["unit"].as_str().unwrap() {
            "W" => value / 1000.0,
            "kW" => value,
            other => panic!("unexpected unit {other}"),
        };
        assert!(
            (plant.current_power_kw.unwrap() - expected).abs() < 1e-9,
            "{} vs {expected}",
            plant.current_power_kw.unwrap()
        );
        assert!(plant.vendor_updated_at.is_some());
        // Energies by their unit too, `度` (a kWh, as Sungrow's documentation example) and
        // MWh; the placeholder `--` is no reading.
        let energy = |reading: &serde_json::Value| -> Option<f64> {
            let value: f64 = reading["value"].as_str()?.parse().ok()?;
            match reading["unit"].as_str().unwrap() {
                "kWh" | "度" => Some(value),
                "MWh" => Some(value * 1000.0),
                other => panic!("unexpected unit {other}"),
            }
        };
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            (a, b) => a == b,
        };
        assert!(close(plant.daily_energy_kwh, energy(&raw["today_energy"])), "{}", plant.name);
        assert!(close(plant.total_energy_kwh, energy(&raw["total_energy"])), "{}", plant.name);
        degrees += usize::from(raw["total_energy"]["unit"] == "度");
    }
    assert!(degrees > 0, "plants with energies in 度 are stored with them");
    // Solarman: W to kW, energies from the realtime call, IANA zone kept, status trimmed.
    let solarman = h.plants_of(0).await;
    assert!(solarman.iter().all(|p| p.daily_energy_kwh.is_some() && p.total_energy_kwh.is_some()));
    assert!(solarman.iter().any(|p| p.timezone.as_deref() == Some("Asia/Kolkata")));
    assert!(solarman.iter().any(|p| p.network_status.as_deref() == Some("ALL_OFFLINE")));
    assert!(solarman.iter().all(|p| p.network_status.as_deref().is_none_or(|s| s == s.trim())));
    assert!(solarman.iter().any(|p| p.current_power_kw == Some(0.0)), "a zero reading stays zero");

    // A second run changes nothing: every plant is unchanged.
    let again = h.run(RunKind::Plants).await;
    assert_eq!(again.summary.total_created, 0);
    assert_eq!(again.summary.total_synced, 480);
    // Solarman's per-plant realtime calls are skipped when lastUpdateTime has not moved.
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 250);
    assert!(h.plants_of(0).await.iter().all(|p| p.daily_energy_kwh.is_some()), "kept, not erased");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_reused_across_runs_and_engines() {
    let h =
        Harness::new(vec![account(VendorKind::Solarman, 5), account(VendorKind::Sungrow, 5)]).await;
    h.run(RunKind::Plants).await;
    h.run(RunKind::Plants).await;
    h.run(RunKind::Alerts).await;
    // A new engine (a restarted process) reads the cached token from the store.
    let restarted = Engine::new(h.store.clone(), fast_settings()).unwrap();
    let request = h.request(RunKind::Plants, Selection::default()).await;
    assert_eq!(Harness::run_on(&restarted, &request).await.status, RunStatus::Ok);
    assert_eq!(h.sim.tokens_issued(0), 1);
    assert_eq!(h.sim.tokens_issued(1), 1);
    assert_eq!(h.sim.requests(0, Endpoint::Login), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_mid_run_gives_exactly_one_relogin() {
    let expiring = Faults { token_expires_after: Some(2), ..Faults::none() };
    // The listing's logins alone: the history backfill after it would spend tokens too.
    let h = Harness::with_settings(vec![faulty(VendorKind::Sungrow, 250, expiring)], no_backfill())
        .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(report.summary.total_synced, 250);
    assert_eq!(
        h.sim.tokens_issued(0),
        2,
        "pages 1-2 on the first token, page 3 after one re-login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_login_is_tried_once_until_credentials_change() {
    let rejecting = Faults { reject_login: true, ..Faults::none() };
    let h = Harness::new(vec![
        faulty(VendorKind::Sungrow, 5, rejecting.clone()),
        faulty(VendorKind::Solarman, 5, rejecting),
    ])
    .await;
    let first = h.run(RunKind::Plants).await;
    assert_eq!(first.status, RunStatus::Failed);
    assert!(
        Harness::error_of(&first, 0).contains("wrong password"),
        "{}",
        Harness::error_of(&first, 0)
    );
    assert!(Harness::error_of(&first, 1).contains("Solarman refused the login"));
    h.run(RunKind::Plants).await;
    h.run(RunKind::Alerts).await;
    assert_eq!(h.sim.requests(0, Endpoint::Login), 1, "never retried automatically");
    assert_eq!(h.sim.requests(1, Endpoint::Login), 1);
    let vendor = h.store.find_vendor("acct-0").await.unwrap();
    assert!(vendor.needs_user_action);
    assert_eq!((vendor.consecutive_failures, vendor.alerts_consecutive_failures), (2, 1));

    // The user fixes the password: the next run logs in and succeeds.
    h.sim.set_faults(0, Faults::none());
    let mut creds = Credentials::default();
    creds.set(CredentialField::Password, h.sim.credentials(0).password);
    h.store
        .update_vendor("acct-0", VendorPatch { credentials: Some(creds), ..VendorPatch::default() })
        .await
        .unwrap();
    let fixed = h.run(RunKind::Plants).await;
    assert!(fixed.summary.results[0].success, "{:?}", fixed.summary.results[0]);
    assert_eq!(h.sim.requests(0, Endpoint::Login), 2);
    assert!(!h.store.find_vendor("acct-0").await.unwrap().needs_user_action);
}

/// A login reply that does not say whether it succeeded (Sungrow: `result_code "1"` with
/// `result_data` null; FusionSolar: `success:false` with failCode 0) fails the run as
/// malformed, never parks the vendor: the next run logs in again, and succeeds once the
/// portal answers properly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_login_reply_never_parks_the_vendor() {
    let malformed = Faults { malformed_login: true, ..Faults::none() };
    let h = Harness::new(vec![
        faulty(VendorKind::Sungrow, 5, malformed.clone()),
        faulty(VendorKind::Huawei, 5, malformed.clone()),
        faulty(VendorKind::Solarman, 5, malformed),
    ])
    .await;
    let said = [
        "Sungrow's login reply has no result_data",
        "neither a success nor a failCode",
        "success:false without a code or a message",
    ];
    for attempt in 1..=2 {
        let report = h.run(RunKind::Plants).await;
        assert_eq!(report.status, RunStatus::Failed);
        for (index, said) in said.iter().enumerate() {
            let error = Harness::error_of(&report, index);
            assert!(error.contains(said), "{error}");
            assert_eq!(h.sim.requests(index, Endpoint::Login), attempt, "tried again every run");
            let vendor = h.store.find_vendor(&format!("acct-{index}")).await.unwrap();
            assert!(!vendor.needs_user_action, "not a verdict on the credentials");
        }
    }
    for index in 0..said.len() {
        h.sim.set_faults(index, Faults::none());
    }
    let fixed = h.run(RunKind::Plants).await;
    assert_eq!(fixed.status, RunStatus::Ok, "{:?}", fixed.summary);
    assert_eq!(fixed.summary.total_synced, 15);
}

/// Each fault switch fails only its vendor, with a readable message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_vendor_scoped_and_readable() {
    let list = Some(Endpoint::PlantList);
    let cases: Vec<(VendorKind, Faults, &str)> = vec![
        (
            VendorKind::Solarman,
            Faults { http_error: Some((502, Trigger::always(list))), ..Faults::none() },
            "HTTP 502 from the vendor (an HTML body)",
        ),
        (
            VendorKind::Sungrow,
            Faults { http_error: Some((503, Trigger::always(list))), ..Faults::none() },
            "HTTP 503",
        ),
        (
            VendorKind::Solarman,
            Faults { rate_limit: Some(Trigger::always(list)), ..Faults::none() },
            "rate limited: HTTP 429",
        ),
        (
            VendorKind::Sungrow,
            Faults { rate_limit: Some(Trigger::always(list)), ..Faults::none() },
            "rate limited: Sungrow E999",
        ),
        (
            VendorKind::Solarman,
            Faults { truncated_json: Some(Trigger::always(list)), ..Faults::none() },
            "malformed response",
        ),
        (
            VendorKind::Sungrow,
            Faults { truncated_json: Some(Trigger::always(list)), ..Faults::none() },
            "malformed response: Sungrow",
        ),
        (
            VendorKind::Sungrow,
            Faults {
                slow_body: Some((Duration::from_secs(3), Trigger::always(list))),
                ..Faults::none()
            },
            "request",
        ),
        (
            VendorKind::Solarman,
            Faults { empty_pages_from: Some(2), ..Faults::none() },
            "listing incomplete",
        ),
    ];
    let healthy = cases.len();
    let mut accounts: Vec<AccountSpec> =
        cases.iter().map(|(kind, faults, _)| faulty(*kind, 150, faults.clone())).collect();
    accounts.push(account(VendorKind::Sungrow, 150));
    let h = Harness::new(accounts).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Partial);
    for (index, (_, _, expected)) in cases.iter().enumerate() {
        let result = &report.summary.results[index];
        assert!(!result.success, "case {index} should fail: {result:?}");
        let error = result.error.clone().unwrap_or_default();
        assert!(error.contains(expected), "case {index}: {error:?} lacks {expected:?}");
    }
    assert!(report.summary.results[healthy].success, "the healthy vendor is unaffected");
    // Transient faults were retried within the policy (3 attempts), never in a loop.
    assert_eq!(h.sim.requests(0, Endpoint::PlantList), 3);
    assert_eq!(h.sim.requests(2, Endpoint::PlantList), 3);
    // A listing that ended early keeps what it read and deactivates nothing.
    assert_eq!(h.plants_of(7).await.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_skipped_and_duplicates_dropped() {
    let bad_rows =
        Faults { wrong_type_plant: Some(3), missing_field_plant: Some(120), ..Faults::none() };
    let duplicates = Faults { duplicate_ids_across_pages: true, ..Faults::none() };
    let slow = Faults { latency: Duration::from_millis(20), ..Faults::none() };
    let h = Harness::new(vec![
        faulty(VendorKind::Solarman, 150, bad_rows.clone()),
        faulty(VendorKind::Sungrow, 150, bad_rows),
        faulty(VendorKind::Sungrow, 250, duplicates),
        faulty(VendorKind::Solarman, 10, slow),
    ])
    .await;
    let report = h.run(RunKind::Plants).await;
    for index in 0..2 {
        let result = &report.summary.results[index];
        assert!(result.success, "one bad plant never fails the page: {result:?}");
        assert_eq!(result.synced, 148);
        assert!(
            result.error.as_deref().unwrap_or("").contains("2 unreadable plant(s) skipped"),
            "{result:?}"
        );
        assert_eq!(h.plants_of(index).await.len(), 148);
    }
    let dup = &report.summary.results[2];
    assert!(dup.success, "{dup:?}");
    assert_eq!((dup.total, dup.created), (250, 250), "duplicates across pages are stored once");
    assert!(report.summary.results[3].success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_vendors_one_failing_gives_three_and_one() {
    let broken = Faults { http_error: Some((500, Trigger::always(None))), ..Faults::none() };
    let h = Harness::new(vec![
        account(VendorKind::Solarman, 20),
        faulty(VendorKind::Solarman, 20, broken),
        account(VendorKind::Sungrow, 20),
        account(VendorKind::Sungrow, 20),
    ])
    .await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!((report.summary.successful, report.summary.failed), (3, 1));
    assert_eq!(report.status, RunStatus::Partial);
    let json = serde_json::to_value(&report.summary).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "totalVendors",
        "successful",
        "failed",
        "totalPlantsSynced",
        "totalPlantsCreated",
        "totalPlantsUpdated",
        "duration",
        "results",
    ] {
        assert!(keys.contains(&key), "summary lacks {key}: {keys:?}");
    }
    let result_keys: Vec<String> =
        json["results"][0].as_object().unwrap().keys().cloned().collect();
    // The original's ten keys, then plantsync's counts of unreadable and repeated rows.
    assert_eq!(result_keys.len(), 12, "{result_keys:?}");
    for key in ["skippedRows", "duplicateRows"] {
        assert!(result_keys.iter().any(|k| k == key), "{result_keys:?}");
    }
    let failed = h.store.find_vendor("acct-1").await.unwrap();
    assert_eq!(failed.consecutive_failures, 1);
    assert!(failed.last_synced_at.is_none());
    assert!(h.store.find_vendor("acct-0").await.unwrap().last_synced_at.is_some());
    let recorded = h.store.get_run(report.run_id).await.unwrap();
    assert_eq!(recorded.run.failed, 1);
    assert_eq!(recorded.summary.unwrap()["failed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batch_falls_back_to_rows_and_keeps_the_good_ones() {
    let h = Harness::new(vec![account(VendorKind::Sungrow, 150)]).await;
    let poisoned = h.sim.plant_ids(0)[42].clone();
    // A row the database refuses: the batch of 100 around it fails, its 99 neighbours must not.
    {
        #[allow(clippy::disallowed_methods)]
        let conn = rusqlite::Connection::open(h.store.path()).unwrap();
        conn.execute_batch(&format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON plants WHEN NEW.vendor_plant_id = '{poisoned}'
             BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END;"
        ))
        .unwrap();
    }
    let report = h.run(RunKind::Plants).await;
    let result = &report.summary.results[0];
    assert!(!result.success);
    assert_eq!(result.synced, 149);
    assert!(result.error.as_deref().unwrap().contains(&format!("plant {poisoned}")), "{result:?}");
    assert_eq!(h.plants_of(0).await.len(), 149);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_plants_become_inactive() {
    let h = Harness::new(vec![account(VendorKind::Solarman, 12), account(VendorKind::Sungrow, 12)])
        .await;
    h.run(RunKind::Plants).await;
    let gone_solarman = h.sim.plant_ids(0)[3].clone();
    let gone_sungrow = h.sim.plant_ids(1)[7].clone();
    h.sim.remove_plant(0, 3);
    h.sim.remove_plant(1, 7);
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok);
    for (index, gone) in [(0, gone_solarman), (1, gone_sungrow)] {
        let plants = h.plants_of(index).await;
        assert_eq!(plants.len(), 12, "kept, not deleted");
        for plant in plants {
            assert_eq!(plant.is_active, plant.vendor_plant_id != gone, "{}", plant.vendor_plant_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_open_and_resolve() {
    let h = Harness::new(vec![
        AccountSpec::new(VendorKind::Sungrow, 10, 2),
        AccountSpec::new(VendorKind::Solarman, 10, 2),
    ])
    .await;
    h.run(RunKind::Plants).await;
    let first = h.run(RunKind::Alerts).await;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.summary);
    assert_eq!(
        serde_json::to_value(&first.summary).unwrap()["totalAlertsSynced"],
        first.summary.total_synced
    );
    let sungrow = AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() };
    let alerts = h.store.list_alerts(sungrow.clone()).await.unwrap();
    assert_eq!(alerts.len(), 20);
    assert!(alerts.iter().all(|a| a.plant_id.is_some()), "alerts are linked to their plants");
    assert!(alerts.iter().all(|a| (a.status == AlertStatus::Resolved) == a.ended_at.is_some()));
    let open_before = alerts.iter().filter(|a| a.status == AlertStatus::Active).count();
    assert!(open_before > 0);

    assert!(h.sim.resolve_alerts(0) > 0);
    let second = h.run(RunKind::Alerts).await;
    assert_eq!(second.summary.results[0].updated, open_before as u64);
    let after = h.store.list_alerts(sungrow).await.unwrap();
    assert!(after.iter().all(|a| a.status == AlertStatus::Resolved && a.ended_at.is_some()));

    // Solarman: the window is sent, so only alerts inside it come back, once per occurrence.
    let solarman = h
        .store
        .list_alerts(AlertFilter { vendor: Some("acct-1".into()), ..AlertFilter::default() })
        .await
        .unwrap();
    assert_eq!(solarman.len(), 20);
    let again = h.run(RunKind::Alerts).await;
    assert_eq!(again.summary.results[1].created, 0, "the same occurrences are not duplicated");
    assert!(h.sim.requests(1, Endpoint::Alerts) >= 10);
    assert!(h.store.find_vendor("acct-1").await.unwrap().last_alerts_synced_at.is_some());
}

/// Alert and device lists follow the paging rules of plant listings: a portal that ignores
/// the paging parameter ends the list at its first repeated page, as incomplete, and a
/// Sungrow fault list read short resolves nothing (an alert missing from it may be open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_lists_ignoring_paging_end_incomplete_and_resolve_nothing() {
    let ignoring = Faults { ignore_paging: true, ..Faults::none() };
    let h = Harness::new(vec![
        // 120 faults: more than one page of 100.
        AccountSpec::new(VendorKind::Sungrow, 60, 2),
        // 150 alerts on the plant's first device, in a portal ignoring the page number.
        AccountSpec { faults: ignoring.clone(), ..AccountSpec::new(VendorKind::Solarman, 1, 150) },
    ])
    .await;
    h.run(RunKind::Plants).await;
    let first = h.run(RunKind::Alerts).await;
    assert_eq!(Harness::error_of(&first, 0), "", "{:?}", first.summary);
    let solarman_error = Harness::error_of(&first, 1);
    assert!(
        solarman_error.contains("alert list incomplete") && solarman_error.contains("repeated"),
        "{solarman_error}"
    );
    let solarman = AlertFilter { vendor: Some("acct-1".into()), ..AlertFilter::default() };
    assert_eq!(h.store.list_alerts(solarman).await.unwrap().len(), 100, "the first page is kept");

    let open = AlertFilter {
        vendor: Some("acct-0".into()),
        status: Some(AlertStatus::Active),
        ..AlertFilter::default()
    };
    let open_before = h.store.list_alerts(open.clone()).await.unwrap().len();
    assert_eq!(open_before, 60, "every plant's first fault is open");
    h.sim.set_faults(0, ignoring);
    let fault_pages = h.sim.requests(0, Endpoint::Alerts);
    let second = h.run(RunKind::Alerts).await;
    let sungrow_error = Harness::error_of(&second, 0);
    assert!(
        sungrow_error.contains("fault list incomplete") && sungrow_error.contains("repeated"),
        "{sungrow_error}"
    );
    assert_eq!(h.sim.requests(0, Endpoint::Alerts) - fault_pages, 2, "stopped at page 2");
    assert_eq!(second.summary.results[0].updated, 0, "nothing resolved");
    assert_eq!(h.store.list_alerts(open).await.unwrap().len(), open_before);
}

/// `fast_settings` with `kind`'s per-plant calls limited to `limit` in flight.
pub fn with_concurrency(kind: VendorKind, limit: usize) -> EngineSettings {
    let settings = fast_settings();
    let concurrency = settings.http.concurrency.with(kind, limit);
    EngineSettings { http: HttpSettings { concurrency, ..settings.http }, ..settings }
}

/// Solarman's per-plant realtime calls and its alert fan-out run concurrently: with a limit
/// of 5 a big account reaches 5 calls in flight and never more, and every reading and
/// alert arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solarman_fan_out_reaches_its_limit_and_never_exceeds_it() {
    let slow = Faults { latency: Duration::from_millis(30), ..Faults::none() };
    let spec = AccountSpec { faults: slow, ..AccountSpec::new(VendorKind::Solarman, 250, 1) };
    let h = Harness::with_settings(vec![spec], with_concurrency(VendorKind::Solarman, 5)).await;
    let report = h.run(RunKind::Plants).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    assert_eq!(Harness::error_of(&report, 0), "");
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 250);
    assert_eq!(h.sim.account_peak_in_flight(0), 5);
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 250);
    assert!(plants.iter().all(|p| p.total_energy_kwh.is_some() && p.vendor_updated_at.is_some()));

    h.sim.reset_account_peak(0);
    let alerts = h.run(RunKind::Alerts).await;
    assert_eq!(alerts.status, RunStatus::Ok, "{:?}", alerts.summary);
    assert_eq!(Harness::error_of(&alerts, 0), "");
    assert_eq!(h.sim.account_peak_in_flight(0), 5, "one station per place");
    let stored = h
        .store
        .list_alerts(AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() })
        .await
        .unwrap();
    assert_eq!(stored.len(), 250, "every station's alert");
    assert_eq!(h.sim.rate_limited(0), 0);
}

/// A Solarman account of 250 plants whose 40th realtime reading is refused for a rate
/// limit (once), with 20 ms of latency so the fan-out has calls in flight.
async fn solarman_rate_limited_at_the_40th_reading() -> Harness {
    let faults = Faults {
        latency: Duration::from_millis(20),
        rate_limit: Some(Trigger::once(Some(Endpoint::Realtime), 40)),
        ..Faults::none()
    };
    let spec = AccountSpec { faults, ..AccountSpec::new(VendorKind::Solarman, 250, 0) };
    Harness::new(vec![spec]).await
}

/// A rate limit in the middle of the readings fan-out: the listing is kept, the readings
/// not read keep their stored time, and the account's limit halves (8 to 4) for the next
/// sync of the process, which reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_mid_fan_out_halves_the_accounts_limit_and_keeps_the_listing() {
    let h = solarman_rate_limited_at_the_40th_reading().await;
    let first = h.run(RunKind::Plants).await;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.summary);
    let error = Harness::error_of(&first, 0);
    assert!(error.contains("not refreshed this run: rate limited"), "{error}");
    assert_eq!(h.sim.account_peak_in_flight(0), 8, "the default limit before the signal");
    let plants = h.plants_of(0).await;
    assert_eq!(plants.len(), 250, "the listing is kept");
    let read = plants.iter().filter(|p| p.total_energy_kwh.is_some()).count();
    // The 39 calls before the refused 40th, and at most the 7 others in flight with it.
    assert!((39..=46).contains(&read), "{read} plants read before the signal stopped the rest");
    assert!(plants.iter().all(|p| p.total_energy_kwh.is_some() == p.vendor_updated_at.is_some()));

    h.sim.reset_account_peak(0);
    let second = h.run(RunKind::Plants).await;
    assert_eq!(second.status, RunStatus::Ok, "{:?}", second.summary);
    assert_eq!(Harness::error_of(&second, 0), "");
    assert_eq!(h.sim.account_peak_in_flight(0), 4, "halved for the later run");
    // Every plant read once, plus the one refused call: nothing read twice, nothing retried.
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 251);
    assert!(h.plants_of(0).await.iter().all(|p| p.total_energy_kwh.is_some()));
    assert_eq!(h.sim.rate_limited(0), 1);
}

/// At the simulator's defaults (it refuses an account's eleventh concurrent request) the
/// default settings never get a rate-limit answer, even with a plant and an alert run of
/// the same accounts at once and readings that move (at every request, and for every plant
/// between the runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_settings_get_no_rate_limit_answers_at_the_simulators_defaults() {
    let moving = Faults {
        latency: Duration::from_millis(10),
        readings_move_every: Some(Duration::ZERO),
        ..Faults::none()
    };
    let kinds = [VendorKind::Solarman, VendorKind::Sungrow, VendorKind::Growatt];
    let h = Harness::new(
        kinds
            .iter()
            .map(|&kind| AccountSpec { faults: moving.clone(), ..AccountSpec::new(kind, 250, 1) })
            .collect(),
    )
    .await;
    let first = h.run(RunKind::Plants).await;
    assert_eq!(first.status, RunStatus::Ok, "{:?}", first.summary);
    // Readings move at most once a second (never ahead of the clock): new readings for
    // every plant, so the next plant run reads them all whatever the clock says.
    for index in [0, 2] {
        for plant in 0..250 {
            h.sim.touch_plant(index, plant);
        }
    }
    let (plants, alerts) = tokio::join!(h.run(RunKind::Plants), h.run(RunKind::Alerts));
    assert_eq!(plants.status, RunStatus::Ok, "{:?}", plants.summary);
    assert_eq!(alerts.status, RunStatus::Ok, "{:?}", alerts.summary);
    for (index, kind) in kinds.iter().enumerate() {
        assert_eq!(h.sim.rate_limited(index), 0, "{kind}");
    }
    // The readings moved, so both plant runs read every plant (Sungrow's list carries them).
    assert_eq!(h.sim.requests(0, Endpoint::Realtime), 500);
    assert_eq!(h.sim.requests(2, Endpoint::Realtime), 500);
    assert!(h.sim.account_peak_in_flight(0) <= 9, "8 per-plant calls and a listing page");
}

/// A rate limit in Solarman's alert fan-out (per station: its device list, then each
/// device's alert list) stops it at once: no place waits out the 429 and retries, the
/// calls in flight with it are one signal (the account's limit halves once, 8 to 4, not
/// down to 1), and the alerts of the stations read are kept, with a warning naming how
/// many stations were left out, instead of failing the alert run as a whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_in_the_alert_fan_out_keeps_the_alerts_read_and_halves_once() {
    let slow = Faults { latency: Duration::from_millis(20), ..Faults::none() };
    let throttled =
        Faults { rate_limit: Some(Trigger::from(Some(Endpoint::Alerts), 10)), ..slow.clone() };
    let spec =
        AccountSpec { faults: slow.clone(), ..AccountSpec::new(VendorKind::Solarman, 40, 1) };
    let h = Harness::new(vec![spec]).await;
    assert_eq!(h.run(RunKind::Plants).await.status, RunStatus::Ok);
    h.sim.set_faults(0, throttled);
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
    let filter = AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() };
    let stored = h.store.list_alerts(filter).await.unwrap().len();
    assert!((1..40).contains(&stored), "the stations read before the refusal: {stored}");
    let error = Harness::error_of(&report, 0);
    let left_out =
        format!("alerts of {} station(s) not fetched this run: rate limited", 40 - stored);
    assert!(error.contains(&left_out), "{error}");
    assert!(h.sim.rate_limited(0) <= 8, "only calls in flight with the first refusal, once each");
    // Stations were left out: the window does not move, so the next run asks the whole
    // lookback again for them (the first sync's 72 hours here).
    let vendor = h.store.find_vendor("acct-0").await.unwrap();
    assert_eq!(vendor.last_alerts_synced_at, None, "the window stays for the next run");
    assert_eq!(vendor.last_alerts_error, None, "yet the run is no failure");

    // The portal answers again: the next run reads every station (in its own window),
    // four at a time.
    h.sim.set_faults(0, slow);
    h.sim.reset_account_peak(0);
    let devices = h.sim.requests(0, Endpoint::Devices);
    let again = h.run(RunKind::Alerts).await;
    assert_eq!(Harness::error_of(&again, 0), "", "{:?}", again.summary);
    assert_eq!(h.sim.requests(0, Endpoint::Devices) - devices, 40, "every station");
    assert_eq!(h.sim.account_peak_in_flight(0), 4, "halved once by the one episode");
    let vendor = h.store.find_vendor("acct-0").await.unwrap();
    assert!(vendor.last_alerts_synced_at.is_some(), "a complete run moves the window");
    assert_eq!(h.store.list_alerts(AlertFilter::default()).await.unwrap().len(), 40);
}

/// Sungrow: an account that may not call the fault list (`E994`, or HTTP 404 from it, "not
/// available for this account", §2.6) has its alerts reported as unsupported, visible but
/// not a failure, and is not asked again every sync; a 404 on the login is still a wrong
/// base URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungrow_fault_list_refused_is_unsupported_and_asked_once() {
    let e994 = Faults { no_permission: vec![Endpoint::Alerts], ..Faults::none() };
    let status = |status, endpoint| Faults {
        http_error: Some((status, Trigger::always(Some(endpoint)))),
        ..Faults::none()
    };
    let h = Harness::new(vec![
        faulty(VendorKind::Sungrow, 5, e994),
        faulty(VendorKind::Sungrow, 5, status(404, Endpoint::Alerts)),
        faulty(VendorKind::Sungrow, 5, status(405, Endpoint::Alerts)),
        faulty(VendorKind::Sungrow, 5, status(404, Endpoint::Login)),
    ])
    .await;
    let plants = h.run(RunKind::Plants).await;
    assert!((0..3).all(|index| plants.summary.results[index].success), "{:?}", plants.summary);
    let login = Harness::error_of(&plants, 3);
    assert!(login.contains("HTTP 404") && login.contains("base URL"), "{login}");

    for round in 0..2 {
        let alerts = h.run(RunKind::Alerts).await;
        for index in 0..3 {
            let result = &alerts.summary.results[index];
            assert!(result.success, "round {round}, {index}: {result:?}");
            let error = Harness::error_of(&alerts, index);
            assert!(error.starts_with("alerts not supported:"), "{index}: {error}");
            assert!(error.contains("may not call the fault list"), "{index}: {error}");
            assert_eq!(h.sim.requests(index, Endpoint::Alerts), 1, "round {round}: asked once");
        }
    }
}

/// Sungrow: a fault row that does not decode may be an open fault, so that run's list sets
/// no open keys and resolves nothing: an open alert whose row was unreadable stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungrow_an_unreadable_fault_row_resolves_nothing() {
    let h = Harness::new(vec![AccountSpec::new(VendorKind::Sungrow, 10, 2)]).await;
    h.run(RunKind::Plants).await;
    assert_eq!(Harness::error_of(&h.run(RunKind::Alerts).await, 0), "");
    let open = AlertFilter {
        vendor: Some("acct-0".into()),
        status: Some(AlertStatus::Active),
        ..AlertFilter::default()
    };
    let open_before = h.store.list_alerts(open.clone()).await.unwrap().len();
    assert_eq!(open_before, 10, "every plant's first fault is open");
    // Plant 0's first fault, open, comes with a create_time that does not decode.
    h.sim.set_faults(0, Faults { wrong_type_alert: Some(0), ..Faults::none() });
    let report = h.run(RunKind::Alerts).await;
    let error = Harness::error_of(&report, 0);
    assert!(error.contains("1 unreadable alert(s) skipped"), "{error}");
    assert!(error.contains("not resolved this run"), "{error}");
    assert_eq!(report.summary.results[0].updated, 0, "nothing resolved");
    assert_eq!(h.store.list_alerts(open).await.unwrap().len(), open_before);
}

/// Sungrow fault rows without `ps_key`, one per device of the plant: keyed by their
/// device, every occurrence is kept and the list, reaching its `rowCount`, is complete, so
/// its open keys resolve what ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungrow_faults_without_ps_key_are_kept_per_device_and_complete() {
    let no_ps_key = Faults { sungrow_no_ps_key: true, ..Faults::none() };
    let h = Harness::new(vec![faulty(VendorKind::Sungrow, 60, no_ps_key)]).await;
    h.run(RunKind::Plants).await;
    let report = h.run(RunKind::Alerts).await;
    assert_eq!(Harness::error_of(&report, 0), "", "{:?}", report.summary);
    let all = AlertFilter { vendor: Some("acct-0".into()), ..AlertFilter::default() };
    let stored = h.store.list_alerts(all.clone()).await.unwrap();
    // ps_id|device|code|create_time: faults of plants with two devices are kept twice.
    let faults: std::collections::HashSet<(String, String, String)> = stored
        .iter()
        .map(|a| {
            let parts: Vec<&str> = a.vendor_alert_key.split('|').collect();
            assert!(parts.len() == 4 && !parts[1].is_empty(), "{}", a.vendor_alert_key);
            (parts[0].to_owned(), parts[2].to_owned(), parts[3].to_owned())
        })
        .collect();
    assert!(stored.len() > faults.len(), "{} rows of {} faults", stored.len(), faults.len());
    // The alert's code is the fault type's, not the occurrence id the key carries.
    for alert in &stored {
        let code = alert.code.as_deref().unwrap();
        assert!(!code.contains('.'), "{code}");
        assert!(
            alert.vendor_alert_key.contains(&format!("|{code}.")),
            "{}",
            alert.vendor_alert_key
        );
    }
    assert!(h.sim.resolve_alerts(0) > 0);
    let again = h.run(RunKind::Alerts).await;
    assert_eq!(Harness::error_of(&again, 0), "", "{:?}", again.summary);
    let stored = h.store.list_alerts(all).await.unwrap();
    assert!(stored.iter().all(|a| a.status == AlertStatus::Resolved), "over_time resolved them");
}

/// The concurrency limit learnt for a vendor outlives its credentials: entering them again
/// (or a new key) gives a fresh token state, but its runs keep the halved limit, so a run
/// with the old key and one with the new never reach twice the limit between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_credentials_keep_the_learnt_limit() {
    let h = solarman_rate_limited_at_the_40th_reading().await;
    let first = h.run(RunKind::Plants).await;
    assert!(Harness::error_of(&first, 0).contains("rate limited"), "{:?}", first.summary);
    assert_eq!(h.sim.account_peak_in_flight(0), 8, "the default limit before the signal");

    let mut creds = Credentials::default();
    creds.set(CredentialField::Password, h.sim.credentials(0).password);
    h.store
        .update_vendor("acct-0", VendorPatch { credentials: Some(creds), ..VendorPatch::default() })
        .await
        .unwrap();
    h.sim.reset_account_peak(0);
    let second = h.run(RunKind::Plants).await;
    assert_eq!(Harness::error_of(&second, 0), "", "{:?}", second.summary);
    assert_eq!(h.sim.tokens_issued(0), 2, "the new credentials logged in afresh");
    assert_eq!(h.sim.account_peak_in_flight(0), 4, "the halved limit is the vendor's");
}
