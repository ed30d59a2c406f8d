//! The agent's schedule: cron ticks in the configured zone, the restricted window, per
//! organization due times, single flight, pause and resume.
//!
//! # Design
//!
//! `window` and `due` are pure. The loop here only decides: at each tick of a kind's cron
//! expression it skips (disabled, paused, inside the window, nothing due, a run of the kind
//! still going) or starts a run of exactly the due vendors through the [`Coordinator`],
//! which is also what the API and the CLI trigger through, so every trigger shares one
//! single-flight rule per kind. Every decision is logged with the cron context and kept in
//! [`Status`]. The loop sleeps in chunks of at most 30 s and re-reads the wall clock, so a
//! machine waking from sleep catches up at once (tokio's timers do not count suspended
//! time); missed slots coalesce into one run because due times derive from the last success.

pub mod clock;
pub mod due;
mod flight;
pub mod window;

pub use clock::{Clock, SystemClock, TokioClock};
pub use flight::{Joined, Shared};
pub use window::RestrictedWindow;

use crate::domain::{RunId, RunKind, RunSource, RunStatus, Timestamp};
use crate::store::{ScheduleCandidate, Store, SyncSelection};
use crate::sync::{Engine, RunReport, RunRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{Instrument, info, info_span, warn};

/// Longest single sleep of the loop before it re-reads the wall clock.
const MAX_NAP: Duration = Duration::from_secs(30);

/// Runs a sync: the engine in production, a recorder in tests.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    /// Runs and records one sync.
    async fn run(&self, request: RunRequest) -> Result<RunReport, String>;
}

#[async_trait::async_trait]
impl Runner for Arc<Engine> {
    async fn run(&self, request: RunRequest) -> Result<RunReport, String> {
        Engine::run(self, request, None).await.map_err(|e| e.to_string())
    }
}

/// Where the schedule reads which vendors it may sync: the store in production, a table in
/// tests (so the loop can be tested under paused time without real I/O).
#[async_trait::async_trait]
pub trait Candidates: Send + Sync {
    /// Active vendors of organizations with auto-sync on.
    async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>, String>;
}

#[async_trait::async_trait]
impl Candidates for Store {
    async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>, String> {
        Store::schedule_candidates(self).await.map_err(|e| e.to_string())
    }
}

/// What the schedule does.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// Scheduled plant syncs on (`ENABLE_PLANT_SYNC_CRON`).
    pub plants_enabled: bool,
    /// Cron expression of plant ticks.
    pub plants_cron: String,
    /// Scheduled alert syncs on.
    pub alerts_enabled: bool,
    /// Cron expression of alert ticks.
    pub alerts_cron: String,
    /// Whether alert syncs also stay out of the window.
    pub alerts_respect_window: bool,
    /// The restricted window and the zone of everything.
    pub window: RestrictedWindow,
    /// A scheduled run starts up to this long after its tick, so agents spread out.
    pub jitter: Duration,
}

/// One decision of the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// A run started.
    Ran {
        /// Its id, once recorded.
        run_id: Option<RunId>,
    },
    /// Inside the restricted window.
    SkippedWindow,
    /// No vendor was due.
    NotDue,
    /// A run of this kind was still going; the tick is covered by it.
    Coalesced,
    /// Automatic syncs are paused.
    Paused,
    /// Scheduled syncs of this kind are off.
    Disabled,
}

/// What is known about one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStatus {
    /// Whether a run is going.
    pub running: bool,
    /// The last finished run.
    pub last_run_id: Option<RunId>,
    /// Its outcome.
    pub last_run_status: Option<RunStatus>,
    /// When it finished.
    pub last_run_finished_at: Option<Timestamp>,
    /// The next cron tick.
    pub next_tick_at: Option<Timestamp>,
    /// The last decision and when it was taken.
    pub last_decision: Option<Decision>,
    /// When.
    pub last_decision_at: Option<Timestamp>,
}

/// The schedule's state, for `GET /api/status` and the tray.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Automatic syncs paused.
    pub paused: bool,
    /// Plant syncs.
    pub plants: KindStatus,
    /// Alert syncs.
    pub alerts: KindStatus,
}

/// The one way to start a run: single flight per kind, pause state, status.
pub struct Coordinator {
    runner: Arc<dyn Runner>,
    plants: flight::Flight,
    alerts: flight::Flight,
    paused: AtomicBool,
    stopping: AtomicBool,
    status: Mutex<Status>,
}

impl Coordinator {
    /// A coordinator running syncs through `runner`.
    pub fn new(runner: Arc<dyn Runner>) -> Arc<Self> {
        Arc::new(Self {
            runner,
            plants: flight::Flight::default(),
            alerts: flight::Flight::default(),
            paused: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            status: Mutex::new(Status::default()),
        })
    }

    fn flight(&self, kind: RunKind) -> &flight::Flight {
        match kind {
            RunKind::Plants => &self.plants,
            RunKind::Alerts => &self.alerts,
        }
    }

    fn with_status<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        let mut status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut status)
    }

    fn kind_status(status: &mut Status, kind: RunKind) -> &mut KindStatus {
        match kind {
            RunKind::Plants => &mut status.plants,
            RunKind::Alerts => &mut status.alerts,
        }
    }

    /// A snapshot of the status.
    pub fn status(&self) -> Status {
        self.with_status(|s| {
            let mut copy = s.clone();
            copy.paused = self.is_paused();
            copy
        })
    }

    /// Pauses automatic syncs (manual triggers still work).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        info!("automatic syncs paused");
    }

    /// Resumes automatic syncs.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        info!("automatic syncs resumed");
    }

    /// Refuses every new run from now on (the agent is stopping); running ones go on.
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether automatic syncs are paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Whether a run of `kind` is going.
    pub fn is_running(&self, kind: RunKind) -> bool {
        self.flight(kind).is_running()
    }

    fn record(&self, kind: RunKind, decision: Decision, at: DateTime<Utc>) {
        self.with_status(|s| {
            let k = Self::kind_status(s, kind);
            k.last_decision = Some(decision);
            k.last_decision_at = Some(Timestamp::from_datetime(&at));
        });
    }

    fn set_next_tick(&self, kind: RunKind, at: Option<DateTime<Utc>>) {
        self.with_status(|s| {
            Self::kind_status(s, kind).next_tick_at = at.map(|t| Timestamp::from_datetime(&t))
        });
    }

    /// Runs a sync, or joins the one of the same kind already going. The run itself lives in
    /// its own task, so a caller that gives up (a dropped HTTP request) never leaves the
    /// flight stuck.
    pub async fn trigger(
        self: &Arc<Self>,
        kind: RunKind,
        source: RunSource,
        selection: SyncSelection,
    ) -> (Joined, Shared) {
        if self.stopping.load(Ordering::SeqCst) {
            return (
                Joined::Started,
                Arc::new(Err("the agent is stopping; no new sync starts".into())),
            );
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(
            async move {
                let runner = Arc::clone(&this.runner);
                let status_owner = Arc::clone(&this);
                this.flight(kind)
                    .run(|| async move {
                        status_owner.with_status(|s| Self::kind_status(s, kind).running = true);
                        let result = runner.run(RunRequest { kind, source, selection }).await;
                        status_owner.with_status(|s| {
                            let k = Self::kind_status(s, kind);
                            k.running = false;
                            if let Ok(report) = &result {
                                k.last_run_id = Some(report.run_id);
                                k.last_run_status = Some(report.status);
                                k.last_run_finished_at = Some(Timestamp::now());
                            }
                        });
                        result
                    })
                    .await
            }
            .in_current_span(),
        );
        task.await.unwrap_or_else(|e| {
            (Joined::Started, Arc::new(Err(format!("the sync task failed: {e}"))))
        })
    }
}

/// The schedule loop: runs until `shutdown` turns true.
pub async fn run_schedule(
    coordinator: Arc<Coordinator>,
    store: Arc<dyn Candidates>,
    settings: ScheduleSettings,
    clock: Arc<dyn Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let zone = settings.window.zone;
    let parse = |text: &str| text.parse::<croner::Cron>().ok();
    let (Some(plants_cron), Some(alerts_cron)) =
        (parse(&settings.plants_cron), parse(&settings.alerts_cron))
    else {
        warn!("invalid cron expression; the schedule is not running");
        return;
    };
    info!(
        "schedule started: plants '{}' ({}), alerts '{}' ({}), window {}",
        settings.plants_cron,
        if settings.plants_enabled { "on" } else { "off" },
        settings.alerts_cron,
        if settings.alerts_enabled { "on" } else { "off" },
        settings.window.describe()
    );
    let next_after = |cron: &croner::Cron, after: DateTime<Utc>| {
        cron.find_next_occurrence(&after.with_timezone(&zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let mut last_check = clock.now();
    loop {
        let plants_next = next_after(&plants_cron, last_check);
        let alerts_next = next_after(&alerts_cron, last_check);
        coordinator.set_next_tick(RunKind::Plants, plants_next);
        coordinator.set_next_tick(RunKind::Alerts, alerts_next);
        let Some(next) = [plants_next, alerts_next].into_iter().flatten().min() else {
            warn!("the cron expressions have no future ticks; the schedule stops");
            return;
        };
        if !sleep_until(&*clock, next, &mut shutdown).await {
            return;
        }
        let now = clock.now();
        for (kind, tick) in [(RunKind::Plants, plants_next), (RunKind::Alerts, alerts_next)] {
            // Ticks missed while asleep count once: the tick that came due, evaluated now.
            if tick.is_some_and(|t| t <= now) {
                tick_once(&coordinator, &*store, &settings, &clock, kind, now).await;
            }
        }
        last_check = now;
    }
}

/// Waits until the wall clock reaches `target`; `false` when asked to shut down.
async fn sleep_until(
    clock: &dyn Clock,
    target: DateTime<Utc>,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        let now = clock.now();
        if now >= target {
            return true;
        }
        let wait = (target - now).to_std().unwrap_or_default().min(MAX_NAP);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return false },
        }
    }
}

/// Decides one tick of `kind` and starts its run in the background.
async fn tick_once(
    coordinator: &Arc<Coordinator>,
    store: &dyn Candidates,
    settings: &ScheduleSettings,
    clock: &Arc<dyn Clock>,
    kind: RunKind,
    now: DateTime<Utc>,
) {
    let span = info_span!("tick", source = "cron", operation = format!("sync-{kind}"));
    async {
        let decision = decide(coordinator, store, settings, kind, now).await;
        let selection = match decision {
            Ok(selection) => selection,
            Err(decision) => {
                info!(decision = ?decision, "{kind} tick: no run");
                coordinator.record(kind, decision, now);
                return;
            }
        };
        coordinator.record(kind, Decision::Ran { run_id: None }, now);
        let delay = crate::vendors::http::jitter(settings.jitter);
        info!(
            vendors = selection.vendor_ids.as_ref().map(Vec::len),
            jitter_ms = delay.as_millis() as u64,
            "{kind} tick: starting a run"
        );
        let coordinator = Arc::clone(coordinator);
        let clock = Arc::clone(clock);
        tokio::spawn(
            async move {
                tokio::time::sleep(delay).await;
                let (joined, result) = coordinator.trigger(kind, RunSource::Cron, selection).await;
                let run_id = result.as_ref().as_ref().ok().map(|r| r.run_id);
                match (joined, result.as_ref()) {
                    (Joined::Coalesced, _) => {
                        coordinator.record(kind, Decision::Coalesced, clock.now())
                    }
                    (Joined::Started, Ok(_)) => {
                        coordinator.record(kind, Decision::Ran { run_id }, now)
                    }
                    (Joined::Started, Err(e)) => warn!("scheduled {kind} sync failed: {e}"),
                }
            }
            .in_current_span(),
        );
    }
    .instrument(span)
    .await;
}

/// The vendors a scheduled run of `kind` takes at `now`: for plants those whose next slot
/// has come; alerts follow their own cron cadence for every auto-sync vendor.
pub fn due_vendors(
    kind: RunKind,
    candidates: &[ScheduleCandidate],
    window: &RestrictedWindow,
    now: DateTime<Utc>,
) -> Vec<crate::domain::VendorId> {
    candidates
        .iter()
        .filter(|c| {
            kind == RunKind::Alerts
                || due::is_due(
                    c.last_synced_at.map(|t| t.as_datetime()),
                    c.interval_minutes,
                    window,
                    now,
                )
        })
        .map(|c| c.vendor_id)
        .collect()
}

/// The run a tick should start, or why none.
async fn decide(
    coordinator: &Coordinator,
    store: &dyn Candidates,
    settings: &ScheduleSettings,
    kind: RunKind,
    now: DateTime<Utc>,
) -> Result<SyncSelection, Decision> {
    let (enabled, respects_window) = match kind {
        RunKind::Plants => (settings.plants_enabled, true),
        RunKind::Alerts => (settings.alerts_enabled, settings.alerts_respect_window),
    };
    if !enabled {
        return Err(Decision::Disabled);
    }
    if coordinator.is_paused() {
        return Err(Decision::Paused);
    }
    if respects_window && settings.window.contains(now) {
        return Err(Decision::SkippedWindow);
    }
    if coordinator.is_running(kind) {
        return Err(Decision::Coalesced);
    }
    let candidates = store.schedule_candidates().await.map_err(|e| {
        warn!("cannot read the vendors to schedule: {e}");
        Decision::NotDue
    })?;
    let due = due_vendors(kind, &candidates, &settings.window, now);
    if due.is_empty() {
        return Err(Decision::NotDue);
    }
    Ok(SyncSelection { vendor_ids: Some(due), ..SyncSelection::default() })
}

#[cfg(test)]
mod tests;
