//! The energy history through the engine, over several simulated days: the engine's clock
//! and the simulator's clock move together ([`TestClock`], `Simulator::set_now`), so a day
//! the agent was off really passes. Syncs write today's rows from their own readings, the
//! backfill fills the missed days from the portal's history and marks them `backfill`, a
//! revised portal figure replaces the stored one, a second sync the same day asks the
//! history nothing, SolarEdge's backfill stays inside the day's 300 requests, and a portal
//! that refuses its history leaves days visibly unfillable.

use crate::sync::{Harness, TestClock, fast_settings};
use chrono::{Days, NaiveDate, Utc};
use plantsync::domain::{
    DaySource, GapState, PlantZone, RunKind, RunReport, RunStatus, Timestamp, VendorId, VendorKind,
};
use plantsync::simulator::{AccountSpec, Endpoint, Faults};
use plantsync::store::{DayRow, HistoryPlant, HistoryScope};
use plantsync::sync::Engine;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The zone of plants without their own (the default `timezone`).
const FALLBACK: PlantZone = PlantZone::Named(chrono_tz::Asia::Kolkata);

/// 20:00 UTC on the day after tomorrow: the plants' own days differ then (Kolkata, Shanghai
/// and Sydney are already on the next day, the Americas and Europe not), and every plant the
/// simulator made is older than the 30 days looked back.
fn first_evening() -> Timestamp {
    let day = Utc::now().date_naive() + Days::new(2);
    Timestamp::from_datetime(&day.and_hms_opt(20, 0, 0).unwrap().and_utc())
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn unix(at: Timestamp) -> i64 {
    at.as_datetime().timestamp()
}

/// A data dir, the simulator and an engine on one clock.
struct Days3 {
    h: Harness,
    clock: TestClock,
    engine: Arc<Engine>,
}

impl Days3 {
    async fn new(accounts: Vec<AccountSpec>, start: Timestamp) -> Self {
        let h = Harness::new(accounts).await;
        let clock = TestClock::at(start);
        h.sim.set_now(Some(unix(start)));
        let engine = clock.engine_with(&h, fast_settings());
        Self { h, clock, engine }
    }

    /// Moves both clocks on by `minutes`.
    fn advance(&self, minutes: i64) {
        self.clock.advance(minutes);
        self.h.sim.set_now(Some(unix(self.clock.now())));
    }

    /// Plant `plant` of account `account` reports `kwh` today, a minute ago.
    fn reading(&self, account: usize, plant: usize, kwh: f64) {
        let at = unix(self.clock.now()) - 60;
        self.h.sim.set_readings(account, plant, kwh, 1_500.0, at);
    }

    /// A plant sync of every vendor, settled (its pruning done), as the CLI runs it.
    async fn sync(&self) -> RunReport {
        let request = self.h.request(RunKind::Plants, Default::default()).await;
        let report = Harness::run_on(&self.engine, &request).await;
        self.engine.settle().await;
        report
    }

    /// Account `account`'s plants as history reads name them, by the simulator's index.
    async fn plants(&self, account: usize) -> Vec<(usize, HistoryPlant)> {
        let ids = self.h.sim.plant_ids(account);
        let vendor = HistoryScope::Vendor(VendorId(account as i64 + 1));
        let mut plants: Vec<(usize, HistoryPlant)> = self
            .h
            .store
            .history_plants(vendor, FALLBACK)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (ids.iter().position(|id| *id == p.vendor_plant_id).unwrap(), p))
            .collect();
        plants.sort_by_key(|(index, _)| *index);
        plants
    }

    /// Every stored day of account `account`'s plants, by plant id and day.
    async fn days(&self, account: usize) -> HashMap<(i64, NaiveDate), DayRow> {
        let vendor = HistoryScope::Vendor(VendorId(account as i64 + 1));
        let (from, to) = (day("2000-01-01"), day("2100-01-01"));
        let rows = self.h.store.history_days(vendor, from, to).await.unwrap();
        rows.into_iter().map(|row| ((row.plant_id.0, row.day), row)).collect()
    }

    fn history_calls(&self, account: usize) -> u64 {
        self.h.sim.requests(account, Endpoint::History)
    }
}

/// The plant-local day of `at` in `plant`'s zone.
fn local_day(plant: &HistoryPlant, at: Timestamp) -> NaiveDate {
    plant.zone.local_date(&at)
}

fn ok(report: &RunReport) {
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.summary);
}

/// Day 1: the sync stores each plant's today (its own zone's day) from its reading and
/// backfills the 30 days before it; a late zero at night does not lower the day, and a
/// second sync that day asks the history nothing. Day 2: the agent is off. Day 3: the
/// missed day is backfilled and marked `backfill`, day 1's live value gives way to the
/// portal's (a revision where it differs), and again a second sync asks nothing. Day 4: the
/// portal revised day 2 after its end: the figure is asked once more and replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_the_agent_was_off_is_backfilled_and_revised_figures_replace_stored_ones() {
    let t0 = first_evening();
    let run = Days3::new(vec![AccountSpec::new(VendorKind::Solarman, 8, 1)], t0).await;
    for plant in 0..8 {
        run.reading(0, plant, 5.0 + plant as f64);
    }
    ok(&run.sync().await);
    let plants = run.plants(0).await;
    assert_eq!(plants.len(), 8);

    // Each plant's today is its own zone's day: the plants do not all share one.
    let todays: BTreeMap<NaiveDate, usize> =
        plants.iter().fold(BTreeMap::new(), |mut days, (_, plant)| {
            *days.entry(local_day(plant, t0)).or_default() += 1;
            days
        });
    assert_eq!(todays.len(), 2, "two local days at 20:00 UTC: {todays:?}");
    let days = run.days(0).await;
    for (index, plant) in &plants {
        let today = local_day(plant, t0);
        let row = &days[&(plant.id.0, today)];
        assert_eq!(row.energy_kwh, Some(5.0 + *index as f64), "{}", plant.name);
        assert_eq!(row.source, DaySource::Live, "{}", plant.name);
        assert_eq!(row.last_reading_at.as_datetime().timestamp(), unix(t0) - 60);
        for back in 1..=30 {
            let day = today - Days::new(back);
            let row = &days[&(plant.id.0, day)];
            assert_eq!(row.energy_kwh, run.h.sim.history_kwh(0, *index, day), "{day}");
            assert_eq!((row.source, row.revisions), (DaySource::Backfill, 0), "{day}");
        }
    }
    // One request spans every plant's 30 days (their todays differ): nothing older.
    let span_start = plants.iter().map(|(_, p)| local_day(p, t0)).min().unwrap() - Days::new(30);
    assert!(days.keys().all(|(_, day)| *day >= span_start), "only the 30 days back");
    let asked = run.history_calls(0);
    assert!(asked > 0);

    // An hour later (21:00 UTC), still the same local day everywhere: the inverters say 0.
    // (Not two: at 22:00 UTC a summer day ends in Berlin, whose plants' day 1 then comes
    // due for the backfill, and their day 0's figure fetched at 20:00 is final enough to
    // be asked once more.)
    run.advance(60);
    for plant in 0..8 {
        run.reading(0, plant, 0.0);
    }
    ok(&run.sync().await);
    let later = run.days(0).await;
    for (index, plant) in &plants {
        let row = &later[&(plant.id.0, local_day(plant, t0))];
        assert_eq!(row.energy_kwh, Some(5.0 + *index as f64), "a night zero never lowers a day");
    }
    assert_eq!(run.history_calls(0), asked, "the second sync of the day asks no history");
    // It found no gap and noted so: the syncs until the first plant's midnight skip the
    // search (day 3 below shows the midnight ending the note).
    let store = &run.h.store;
    assert!(store.history_settled(VendorId(1), 30, FALLBACK, run.clock.now()).await.unwrap());

    // Day 2 passes without the agent; on day 3 the portal has revised plant 0's day 1.
    let day1 = |plant: &HistoryPlant| local_day(plant, t0);
    let day2 = |plant: &HistoryPlant| day1(plant) + Days::new(1);
    run.advance(48 * 60 - 60);
    let t3 = run.clock.now();
    run.h.sim.set_history(0, 0, day1(&plants[0].1), Some(42.0));
    for plant in 0..8 {
        run.reading(0, plant, 7.0 + plant as f64);
    }
    ok(&run.sync().await);
    let days = run.days(0).await;
    for (index, plant) in &plants {
        let missed = &days[&(plant.id.0, day2(plant))];
        assert_eq!(missed.source, DaySource::Backfill, "the missed day is the portal's");
        assert_eq!(missed.energy_kwh, run.h.sim.history_kwh(0, *index, day2(plant)));
        assert!(missed.energy_kwh.is_some());
        let first = &days[&(plant.id.0, day1(plant))];
        let portal = run.h.sim.history_kwh(0, *index, day1(plant));
        assert_eq!(first.energy_kwh, portal, "the portal's figure replaces the live one");
        assert_eq!(first.source, DaySource::Backfill);
        let differed = portal != Some(5.0 + *index as f64);
        assert_eq!(first.revisions, u32::from(differed), "{}", plant.name);
        let today = &days[&(plant.id.0, local_day(plant, t3))];
        assert_eq!((today.energy_kwh, today.source), (Some(7.0 + *index as f64), DaySource::Live));
    }
    assert_eq!(days[&(plants[0].1.id.0, day1(&plants[0].1))].energy_kwh, Some(42.0));
    assert_eq!(days[&(plants[0].1.id.0, day1(&plants[0].1))].revisions, 1);
    let asked = run.history_calls(0);
    run.advance(15);
    ok(&run.sync().await);
    assert_eq!(run.history_calls(0), asked, "nothing to ask until a day's figure is final");

    // Day 4: the portal revised plant 3's day 2 after the day had ended.
    run.advance(24 * 60 - 15);
    let (index, plant) = &plants[3];
    run.h.sim.set_history(0, *index, day2(plant), Some(33.3));
    ok(&run.sync().await);
    assert!(run.history_calls(0) > asked, "day 2's figure asked once more");
    let days = run.days(0).await;
    let revised = &days[&(plant.id.0, day2(plant))];
    assert_eq!((revised.energy_kwh, revised.source), (Some(33.3), DaySource::Backfill));
    assert_eq!(revised.revisions, 1);
    for (other, plant) in plants.iter().filter(|(i, _)| i != index) {
        let row = &days[&(plant.id.0, day2(plant))];
        assert_eq!(row.energy_kwh, run.h.sim.history_kwh(0, *other, day2(plant)));
        assert_eq!(row.revisions, 0, "a confirmed figure is no revision");
    }
}

/// A simulated portal day of SolarEdge syncs every 15 minutes (plants and alerts) with
/// 150 sites: the quota plan reserves a listing and an alert call for every sync still to
/// come, so the backfill gets only the spare requests; the portal never counts more than
/// its 300 requests in its day (it would answer 429), every run succeeds, plantsync's own
/// count is the portal's, and what the backfill stored is the portal's figures. The
/// portal's day is the westernmost site zone's (New York here), as `store/quotas.rs`
/// reads it and the simulator counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_solaredge_syncs_backfills_within_the_daily_quota() {
    // The 96 slots fill a 24-hour day: not the one New York's clocks skip an hour.
    let new_york = |day: NaiveDate| {
        let local = day.and_hms_opt(0, 0, 30).unwrap();
        chrono::TimeZone::from_local_datetime(&chrono_tz::America::New_York, &local)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    };
    let midnight = (2..)
        .map(|ahead| Utc::now().date_naive() + Days::new(ahead))
        .find(|&day| new_york(day + Days::new(1)) - new_york(day) == chrono::Duration::hours(24))
        .unwrap();
    let start = new_york(midnight);
    let start = Timestamp::from_datetime(&start);
    let run = Days3::new(vec![AccountSpec::new(VendorKind::SolarEdge, 150, 1)], start).await;
    let alerts = run.h.request(RunKind::Alerts, Default::default()).await;
    for slot in 0..96 {
        let plants = run.sync().await;
        assert_eq!(plants.status, RunStatus::Ok, "slot {slot}: {:?}", plants.summary);
        let report = Harness::run_on(&run.engine, &alerts).await;
        assert_eq!(report.status, RunStatus::Ok, "slot {slot}: {:?}", report.summary);
        if slot < 95 {
            run.advance(15);
        }
    }
    let last = run.clock.now().as_datetime().with_timezone(&chrono_tz::America::New_York);
    assert_eq!(last.date_naive(), midnight, "one portal day");
    let made: u64 = Endpoint::ALL.iter().map(|&e| run.h.sim.requests(0, e)).sum();
    assert!(made <= 300, "{made} requests in the portal's day");
    let counted = crate::support::sqlite3(
        &run.h._dir.path().join("plantsync.db"),
        &format!("SELECT used FROM request_quotas WHERE day = '{midnight}'"),
    );
    assert_eq!(counted.trim(), made.to_string(), "every request counted");
    assert!(run.history_calls(0) >= 1, "the spare quota went to the backfill");

    let days = run.days(0).await;
    let plants: HashMap<i64, usize> =
        run.plants(0).await.into_iter().map(|(index, plant)| (plant.id.0, index)).collect();
    let backfilled: Vec<&DayRow> =
        days.values().filter(|row| row.source == DaySource::Backfill).collect();
    assert!(backfilled.len() >= 100 * 30, "a history call covers 100 sites' 30 days");
    for row in backfilled {
        let index = plants[&row.plant_id.0];
        assert_eq!(row.energy_kwh, run.h.sim.history_kwh(0, index, row.day), "{row:?}");
    }
}

/// A portal that refuses its history (Sungrow's `E994` for the history call) leaves the
/// past days unfillable with its words, shown by `plantsync history`, while the other
/// vendor's days are filled; the refused portal is not asked again the same day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_that_refuses_its_history_leaves_days_visibly_unfillable() {
    let refused = Faults { no_permission: vec![Endpoint::History], ..Faults::none() };
    let accounts = vec![
        AccountSpec::new(VendorKind::Solarman, 2, 1),
        AccountSpec { faults: refused, ..AccountSpec::new(VendorKind::Sungrow, 2, 1) },
    ];
    let t0 = first_evening();
    let run = Days3::new(accounts, t0).await;
    for (account, plant) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        run.reading(account, plant, 3.0);
    }
    ok(&run.sync().await);
    assert_eq!(run.history_calls(1), 1, "asked once, refused");
    assert_eq!(run.days(0).await.len(), 2 * 31, "the other vendor's days are filled");
    let sungrow = run.plants(1).await;
    let gaps = run
        .h
        .store
        .history_gaps(HistoryScope::Vendor(VendorId(2)), day("2000-01-01"), day("2100-01-01"))
        .await
        .unwrap();
    assert_eq!(gaps.len(), 2 * 30, "every past day of both plants: {gaps:?}");
    assert!(gaps.iter().all(|g| g.state == GapState::Unfillable));
    run.advance(15);
    ok(&run.sync().await);
    assert_eq!(run.history_calls(1), 1, "an unfillable portal rests");

    let (_, plant) = &sungrow[0];
    // A day before the real today (the CLI shows no day after it).
    let past = local_day(plant, t0) - Days::new(5);
    let output = assert_cmd::Command::cargo_bin("plantsync")
        .unwrap()
        .env_clear()
        .env("HOME", run.h._dir.path())
        .envs(crate::support::no_keyring_env(run.h._dir.path()))
        .arg("--data-dir")
        .arg(run.h._dir.path())
        .args(["history", "--plant", &plant.id.0.to_string(), "--format", "csv"])
        .args(["--from", &past.to_string(), "--to", &past.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(&format!("{past},{},", plant.id.0)), "{text}");
    assert!(row.contains(",,,gap,0,unfillable,"), "a gap, not 0: {text}");
    assert!(row.contains("E994"), "the portal's words: {text}");
}

/// Days the portal leaves out of its answer (Solarman sends no row for a day without data)
/// are its "no data": noted as such, shown as gaps, and not asked at the next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_the_portal_leaves_out_are_noted_no_data_and_rest() {
    let t0 = first_evening();
    let run = Days3::new(vec![AccountSpec::new(VendorKind::Solarman, 3, 1)], t0).await;
    // Ten days back: the simulator's offline plant reports a reading up to 48 hours older
    // than the real time, whose live row would fill a day nearer to it.
    let outage = FALLBACK.local_date(&t0) - Days::new(10);
    run.h.sim.set_no_data(0, outage);
    ok(&run.sync().await);
    let plants = run.plants(0).await;
    let vendor = HistoryScope::Vendor(VendorId(1));
    let gaps = run.h.store.history_gaps(vendor, day("2000-01-01"), day("2100-01-01")).await;
    let gaps: Vec<(i64, NaiveDate, GapState)> =
        gaps.unwrap().into_iter().map(|g| (g.plant_id.0, g.day, g.state)).collect();
    let expected: Vec<(i64, NaiveDate, GapState)> =
        plants.iter().map(|(_, p)| (p.id.0, outage, GapState::NoData)).collect();
    assert_eq!(gaps, expected, "the left-out day of every plant, noted");
    let days = run.days(0).await;
    assert!(plants.iter().all(|(_, p)| !days.contains_key(&(p.id.0, outage))), "a gap, not 0");
    let asked = run.history_calls(0);
    run.advance(15);
    ok(&run.sync().await);
    assert_eq!(run.history_calls(0), asked, "a no-data day rests");
}
