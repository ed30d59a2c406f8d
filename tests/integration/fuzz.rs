//! The end-to-end fuzz harness (issue 14): hundreds of seeded syncs through the real engine
//! against the simulator over loopback, every JSON reply spoiled by the simulator's
//! mutation switch (`Faults::mutate`, `plantsync::simulator::mutate`), with a real SQLite
//! file checked after each run: the file is whole, every stored value passes the
//! plausibility rules and the text bounds, nothing stored was erased, no plant was
//! deactivated and no alert resolved (the simulator changes nothing, and the mutations
//! never turn an identity into another valid one), each stored error is short and
//! printable, and a clean run afterwards succeeds.
//!
//! Timing decides nothing: a run that does not return within a generous bound fails as a
//! hang, and that is all the clock is used for.

use crate::support::sqlite3;
use crate::sync::{Harness, fast_settings};
use plantsync::domain::plausible::{
    MAX_CAPACITY_KW, MAX_DAILY_ENERGY_KWH, MAX_TOTAL_ENERGY_KWH, STANDBY_SHARE, TimeWindow,
};
use plantsync::domain::text::{ERROR_CHARS, TextBounds};
use plantsync::domain::{Alert, AlertStatus, Plant, RunKind, RunReport, Timestamp, VendorKind};
use plantsync::simulator::{AccountSpec, Faults};
use plantsync::store::AlertFilter;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const KINDS: [VendorKind; 5] = [
    VendorKind::Solarman,
    VendorKind::Sungrow,
    VendorKind::SolarEdge,
    VendorKind::Huawei,
    VendorKind::Growatt,
];

/// Engine runs with mutated replies; each syncs all five portals, each with its own seed,
/// alternating plant and alert syncs: `RUNS * 5` seeded vendor syncs.
const RUNS: u64 = 200;
/// Runs per data dir: each starts from a fresh store and simulator, so SolarEdge's daily
/// quota of 300 requests per key (which plantsync keeps in the store) is never reached.
const RUNS_PER_DIR: u64 = 40;
/// Plants per account (one page everywhere) and alerts per plant.
const PLANTS: usize = 3;
const ALERTS: usize = 1;
/// Far longer than any run takes: only a hang reaches it.
const HANG: Duration = Duration::from_secs(120);

/// The faults every account gets: the mutation switch, tokens that expire after a few
/// calls (so login replies are mutated too, not only the first), and no daily quota in the
/// way (SolarEdge's 300 a day would end the harness, not find anything).
fn faults(mutate: Option<u64>) -> Faults {
    Faults {
        mutate,
        token_expires_after: Some(2),
        solaredge_daily_limit: Some(u32::MAX),
        ..Faults::none()
    }
}

/// The seed of account `index` in mutated run `run`.
fn seed(run: u64, index: usize) -> u64 {
    run * 16 + index as u64
}

/// One account of every portal, small, no minimum intervals, one call at a time per
/// portal (so each seed meets the same requests in the same order).
async fn harness() -> Harness {
    let fast = fast_settings();
    let concurrency = KINDS.iter().fold(fast.http.concurrency, |c, kind| c.with(*kind, 1));
    let http =
        plantsync::vendors::HttpSettings { min_interval_scale: 0.0, concurrency, ..fast.http };
    let settings = plantsync::sync::EngineSettings { http, ..fast };
    let accounts = KINDS
        .iter()
        .map(|k| AccountSpec { faults: faults(None), ..AccountSpec::new(*k, PLANTS, ALERTS) })
        .collect();
    let h = Harness::with_settings(accounts, settings).await;
    h.sync_once_a_day().await;
    h
}

/// What the store held for one vendor after the clean baseline.
struct Baseline {
    plants: BTreeMap<String, Plant>,
    alerts: BTreeMap<String, Alert>,
}

async fn alerts_of(h: &Harness, index: usize) -> Vec<Alert> {
    let filter = AlertFilter { vendor: Some(format!("acct-{index}")), ..AlertFilter::default() };
    h.store.list_alerts(filter).await.unwrap()
}

async fn baseline(h: &Harness) -> Vec<Baseline> {
    let mut out = Vec::new();
    for index in 0..KINDS.len() {
        let plants = h.plants_of(index).await;
        let alerts = alerts_of(h, index).await;
        out.push(Baseline {
            plants: plants.into_iter().map(|p| (p.vendor_plant_id.clone(), p)).collect(),
            alerts: alerts.into_iter().map(|a| (a.vendor_alert_key.clone(), a)).collect(),
        });
    }
    out
}

async fn run(h: &Harness, kind: RunKind, what: &str) -> RunReport {
    tokio::time::timeout(HANG, h.run(kind)).await.unwrap_or_else(|_| panic!("{what}: hung"))
}

/// Every check of one vendor's stored state after a mutated run; the problems found.
fn check_vendor(
    base: &Baseline,
    plants: &[Plant],
    alerts: &[Alert],
    now: Timestamp,
) -> Vec<String> {
    let mut problems = Vec::new();
    let window = TimeWindow::at(now);
    let ids: Vec<&String> = plants.iter().map(|p| &p.vendor_plant_id).collect();
    let before: Vec<&String> = base.plants.keys().collect();
    if ids.len() != before.len() || !ids.iter().all(|id| base.plants.contains_key(*id)) {
        problems.push(format!("plants changed: {ids:?} were {before:?}"));
    }
    for plant in plants {
        let id = &plant.vendor_plant_id;
        if !plant.is_active {
            problems.push(format!("plant {id} deactivated"));
        }
        let within = |value: Option<f64>, lo: f64, hi: f64| {
            value.is_none_or(|v| v.is_finite() && (lo..=hi).contains(&v))
        };
        let standby = plant.capacity_kw.map_or(1.0, |c| (c * STANDBY_SHARE).max(1.0));
        let rules = [
            ("latitude", within(plant.latitude, -90.0, 90.0)),
            ("longitude", within(plant.longitude, -180.0, 180.0)),
            ("capacity", within(plant.capacity_kw, 0.0, MAX_CAPACITY_KW)),
            ("power", within(plant.current_power_kw, -standby, MAX_CAPACITY_KW)),
            ("daily energy", within(plant.daily_energy_kwh, 0.0, MAX_DAILY_ENERGY_KWH)),
            ("total energy", within(plant.total_energy_kwh, 0.0, MAX_TOTAL_ENERGY_KWH)),
            ("update time", plant.vendor_updated_at.is_none_or(|t| window.holds(&t))),
            ("name bound", plant.name.chars().count() <= TextBounds::NAME),
            ("id bound", id.chars().count() <= TextBounds::PLANT_ID),
            ("address bound", bounded(&plant.address, TextBounds::ADDRESS)),
            ("zone bound", bounded(&plant.timezone, TextBounds::WORD)),
            ("status bound", bounded(&plant.network_status, TextBounds::WORD)),
        ];
        for (rule, holds) in rules {
            if !holds {
                problems.push(format!("plant {id}: {rule} broken: {plant:?}"));
            }
        }
        if let Some(old) = base.plants.get(id) {
            let kept = [
                ("capacity", old.capacity_kw.is_none() || plant.capacity_kw.is_some()),
                ("address", old.address.is_none() || plant.address.is_some()),
                ("latitude", old.latitude.is_none() || plant.latitude.is_some()),
                ("longitude", old.longitude.is_none() || plant.longitude.is_some()),
                ("timezone", old.timezone.is_none() || plant.timezone.is_some()),
                ("network status", old.network_status.is_none() || plant.network_status.is_some()),
                ("power", old.current_power_kw.is_none() || plant.current_power_kw.is_some()),
                (
                    "daily energy",
                    old.daily_energy_kwh.is_none() || plant.daily_energy_kwh.is_some(),
                ),
                (
                    "total energy",
                    old.total_energy_kwh.is_none() || plant.total_energy_kwh.is_some(),
                ),
                (
                    "update time",
                    old.vendor_updated_at.is_none() || plant.vendor_updated_at.is_some(),
                ),
            ];
            for (field, holds) in kept {
                if !holds {
                    problems.push(format!("plant {id}: {field} erased"));
                }
            }
        }
    }
    let keys: Vec<&String> = alerts.iter().map(|a| &a.vendor_alert_key).collect();
    if keys.len() != base.alerts.len() || !keys.iter().all(|k| base.alerts.contains_key(*k)) {
        problems.push(format!("alerts changed: {keys:?} were {:?}", base.alerts.keys()));
    }
    for alert in alerts {
        let key = &alert.vendor_alert_key;
        let was = base.alerts.get(key);
        if alert.status == AlertStatus::Resolved
            && was.is_some_and(|a| a.status != AlertStatus::Resolved)
        {
            problems.push(format!("alert {key} resolved"));
        }
        if was.is_some_and(|a| a.ended_at != alert.ended_at || a.started_at != alert.started_at) {
            problems.push(format!("alert {key}: times changed: {alert:?}"));
        }
        let rules = [
            ("start", alert.started_at.is_none_or(|t| window.holds(&t))),
            ("end", alert.ended_at.is_none_or(|t| window.holds(&t))),
            ("key bound", key.chars().count() <= TextBounds::ALERT_KEY),
            ("title bound", alert.title.chars().count() <= TextBounds::TITLE),
            ("code bound", bounded(&alert.code, TextBounds::CODE)),
            ("device bound", bounded(&alert.device_sn, TextBounds::CODE)),
            ("description bound", bounded(&alert.description, TextBounds::DESCRIPTION)),
        ];
        for (rule, holds) in rules {
            if !holds {
                problems.push(format!("alert {key}: {rule} broken"));
            }
        }
    }
    problems
}

fn bounded(text: &Option<String>, max: usize) -> bool {
    text.as_ref().is_none_or(|t| t.chars().count() <= max)
}

/// Hex to text (the stored errors are read as hex, so newlines survive the CLI).
fn unhex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).expect("stored errors are UTF-8")
}

/// The file is whole, and run `report`'s stored vendor results are bounded and consistent.
fn check_file(h: &Harness, report: &RunReport) -> Vec<String> {
    let path = h.store.path();
    let mut problems = Vec::new();
    let check = sqlite3(path, "PRAGMA quick_check");
    if check.trim() != "ok" {
        problems.push(format!("quick_check: {check}"));
    }
    let raw = sqlite3(
        path,
        "SELECT coalesce(max(length(raw_json)), 0) FROM plants UNION ALL \
         SELECT coalesce(max(length(raw_json)), 0) FROM alerts",
    );
    for size in raw.lines() {
        if size.trim().parse::<usize>().unwrap() > TextBounds::RAW_BYTES {
            problems.push(format!("a raw record of {size} bytes was kept"));
        }
    }
    let sql = format!(
        "SELECT vendor_name, synced, total, hex(coalesce(error, '')) FROM sync_run_vendors \
         WHERE run_id = {}",
        report.run_id
    );
    for row in sqlite3(path, &sql).lines() {
        let fields: Vec<&str> = row.split('|').collect();
        let [vendor, synced, total, error] = fields[..] else { panic!("row {row}") };
        let (synced, total): (u64, u64) = (synced.parse().unwrap(), total.parse().unwrap());
        if synced > total {
            problems.push(format!("{vendor}: synced {synced} > total {total}"));
        }
        let error = unhex(error);
        if error.chars().count() > ERROR_CHARS {
            problems.push(format!("{vendor}: an error of {} chars", error.chars().count()));
        }
        if error.chars().any(char::is_control) {
            problems.push(format!("{vendor}: a raw control character in {error:?}"));
        }
    }
    problems
}

/// 1000 seeded syncs over the five portals, plant and alert syncs, every reply mutated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_replies_never_corrupt_erase_deactivate_or_resolve() {
    let started = Instant::now();
    let mut failures = Vec::new();
    // Vendor syncs whose result carries an error: the mutations reached the engine.
    let mut spoiled = 0;
    for first in (0..RUNS).step_by(RUNS_PER_DIR as usize) {
        let h = harness().await;
        for kind in [RunKind::Plants, RunKind::Alerts] {
            let report = run(&h, kind, "baseline").await;
            assert!(
                report.summary.results.iter().all(|r| r.success),
                "baseline: {:?}",
                report.summary
            );
        }
        let base = baseline(&h).await;
        assert!(base.iter().all(|b| b.plants.len() == PLANTS), "every portal listed its plants");
        assert!(base.iter().filter(|b| !b.alerts.is_empty()).count() >= 3, "alerts to keep open");
        for n in first..(first + RUNS_PER_DIR).min(RUNS) {
            spoiled += mutated_run(&h, &base, n, &mut failures).await;
        }
    }
    let syncs = RUNS as usize * KINDS.len();
    eprintln!(
        "fuzz: {syncs} seeded vendor syncs (and as many clean ones) in {:.1} s, {spoiled} \
         with an error",
        started.elapsed().as_secs_f64()
    );
    assert!(spoiled * 2 > syncs, "the mutations reach the engine: {spoiled} of {syncs}");
    assert!(failures.is_empty(), "{} run(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// Mutated run `n`, its checks, and a clean run after it; the vendor syncs with an error.
async fn mutated_run(h: &Harness, base: &[Baseline], n: u64, failures: &mut Vec<String>) -> usize {
    let kind = if n.is_multiple_of(2) { RunKind::Plants } else { RunKind::Alerts };
    for index in 0..KINDS.len() {
        h.sim.set_faults(index, faults(Some(seed(n, index))));
    }
    let report = run(h, kind, &format!("run {n}")).await;
    let spoiled = report.summary.results.iter().filter(|r| r.error.is_some()).count();
    let now = Timestamp::now();
    let mut problems = check_file(h, &report);
    for (index, result) in report.summary.results.iter().enumerate() {
        // The engine's word for a vendor task that panicked.
        if result.error.as_deref().is_some_and(|e| e.contains("ended abnormally")) {
            problems.push(format!("{} (seed {}): panicked", KINDS[index], seed(n, index)));
        }
    }
    for (index, base) in base.iter().enumerate() {
        let plants = h.plants_of(index).await;
        let alerts = alerts_of(h, index).await;
        for problem in check_vendor(base, &plants, &alerts, now) {
            problems.push(format!("{} (seed {}): {problem}", KINDS[index], seed(n, index)));
        }
    }
    // A clean run afterwards recovers: nothing was parked or left broken.
    for index in 0..KINDS.len() {
        h.sim.set_faults(index, faults(None));
    }
    let clean = run(h, kind, &format!("clean run after run {n}")).await;
    for (index, result) in clean.summary.results.iter().enumerate() {
        if !result.success {
            problems.push(format!(
                "{} (seed {}): the clean {kind:?} run after it failed: {:?}",
                KINDS[index],
                seed(n, index),
                result.error
            ));
        }
    }
    if !problems.is_empty() {
        failures.push(format!("run {n} ({kind:?}):\n  {}", problems.join("\n  ")));
    }
    spoiled
}
