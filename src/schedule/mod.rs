//! The agent's schedule: cron ticks in the configured zone, the restricted window, per
//! organization due times, single flight, pause and resume.
//!
//! # Design
//!
//! `window`, `due` and `rule` are pure. At each tick of a kind's cron expression the loop
//! applies [`rule::decide`] (the same rule `GET /api/cron/*` applies): it skips (disabled,
//! paused, inside the window, nothing due, covered by the run going on) or starts a run of
//! exactly the due vendors through the [`Coordinator`], which every trigger goes through,
//! so they all share one selection-aware single flight per kind. Every decision is logged
//! in words with the cron context (when it changes from the kind's last one) and kept in
//! [`Status`]. What will happen next ([`ScheduleSettings::next_runs`], for `status` and the
//! start-up line) is [`rule::next_run`]: the coming ticks walked through the same rule. The loop sleeps in chunks of at most 30 s and re-reads the wall clock, so a
//! machine waking from sleep catches up at once (tokio's timers do not count suspended
//! time); missed slots coalesce into one run because due times derive from the last success.

pub mod clock;
pub mod due;
mod flight;
pub mod rule;
pub mod window;

pub use clock::{Clock, SystemClock, TokioClock};
pub use flight::{CurrentRun, Served, Shared};
pub use rule::{NextRun, ScheduledBy, Verdict};
pub use window::RestrictedWindow;

use crate::domain::{CronSchedule, RunId, RunKind, RunReport, RunRequest, RunStatus, Timestamp};
use crate::store::{ScheduleCandidate, Store, StoreError};
use crate::sync::{Engine, Progress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{Instrument, debug, info, info_span, warn};

/// Longest single sleep of the loop before it re-reads the wall clock.
const MAX_NAP: Duration = Duration::from_secs(30);

/// Why a requested run produced no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The agent is stopping and starts nothing new.
    #[error("the agent is stopping; no new sync starts")]
    Stopping,
    /// The run could not be recorded or set up (the store or the HTTP client failed).
    #[error("the sync could not run: {0}")]
    Failed(String),
    /// The run's task ended abnormally (a bug: it is logged).
    #[error("the sync ended abnormally: {0}")]
    Aborted(String),
    /// The agent stopped before the run finished (its grace was over, or a second stop
    /// signal asked to end it now): the run was ended, and recorded as interrupted when
    /// `recorded` says so.
    #[error("{}", interrupted_message(*run_id, *recorded))]
    Interrupted {
        /// The run's row (unknown when the store could not say, or the run had none yet).
        run_id: Option<RunId>,
        /// Whether its row now says `interrupted` (false when marking it failed).
        recorded: bool,
    },
}

/// Says only what is true: a run is named as recorded only when marking it succeeded.
fn interrupted_message(run_id: Option<RunId>, recorded: bool) -> String {
    let stopped = "the agent was stopped before the sync finished";
    match (run_id, recorded) {
        (Some(id), true) => format!("{stopped}; sync run {id} was recorded as interrupted"),
        (Some(id), false) => format!(
            "{stopped}; sync run {id} could not be recorded as interrupted (the agent's log says why)"
        ),
        (None, _) => stopped.to_owned(),
    }
}

/// Where a stop stands with the runs still going when its grace is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Interrupt {
    /// Runs go on.
    #[default]
    None,
    /// Runs must end now: their work is dropped, they wait to hear how they were recorded.
    Cut,
    /// What the stop did with the runs that were going (at most one per kind): `marked`
    /// when their rows now say interrupted.
    Recorded { runs: Vec<(RunKind, RunId)>, marked: bool },
}

/// Runs a sync: the engine in production, a recorder in tests.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    /// Runs and records one sync of the request's vendors; `progress` follows it.
    async fn run(
        &self,
        request: RunRequest,
        progress: Arc<Progress>,
    ) -> Result<RunReport, RunError>;
}

#[async_trait::async_trait]
impl Runner for Arc<Engine> {
    async fn run(
        &self,
        request: RunRequest,
        progress: Arc<Progress>,
    ) -> Result<RunReport, RunError> {
        Engine::run(self, &request, progress).await.map_err(|e| RunError::Failed(e.to_string()))
    }
}

/// Where the schedule reads which vendors it may sync: the store in production, a table in
/// tests (so the loop can be tested under paused time without real I/O).
#[async_trait::async_trait]
pub trait Candidates: Send + Sync {
    /// Active vendors of organizations with auto-sync on.
    async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>, StoreError>;
}

#[async_trait::async_trait]
impl Candidates for Store {
    async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>, StoreError> {
        Store::schedule_candidates(self).await
    }
}

/// What the schedule does.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// Scheduled plant syncs on (`ENABLE_PLANT_SYNC_CRON`; the agent's loop only).
    pub plants_enabled: bool,
    /// Plant ticks.
    pub plants_cron: CronSchedule,
    /// Scheduled alert syncs on (the agent's loop only).
    pub alerts_enabled: bool,
    /// Alert ticks.
    pub alerts_cron: CronSchedule,
    /// Whether alert syncs also stay out of the window.
    pub alerts_respect_window: bool,
    /// The restricted window and the zone of everything.
    pub window: RestrictedWindow,
    /// A scheduled run starts up to this long after its tick, so agents spread out.
    pub jitter: Duration,
}

impl ScheduleSettings {
    fn enabled(&self, kind: RunKind) -> bool {
        match kind {
            RunKind::Plants => self.plants_enabled,
            RunKind::Alerts => self.alerts_enabled,
        }
    }

    fn respects_window(&self, kind: RunKind) -> bool {
        kind == RunKind::Plants || self.alerts_respect_window
    }

    fn cron(&self, kind: RunKind) -> &CronSchedule {
        match kind {
            RunKind::Plants => &self.plants_cron,
            RunKind::Alerts => &self.alerts_cron,
        }
    }

    /// The next scheduled run of each kind after `now` that will really happen, by the
    /// loop's own rule ([`rule::next_run`]), for vendors `candidates`.
    pub fn next_runs(
        &self,
        paused: bool,
        candidates: &[ScheduleCandidate],
        now: DateTime<Utc>,
    ) -> NextRuns {
        let next = |kind| {
            let tick = rule::Tick {
                kind,
                by: ScheduledBy::Loop,
                enabled: self.enabled(kind),
                respects_window: self.respects_window(kind),
                paused,
                window: &self.window,
                now,
                candidates,
                running: None,
            };
            rule::next_run(&tick, self.cron(kind))
        };
        NextRuns { plants: next(RunKind::Plants), alerts: next(RunKind::Alerts) }
    }
}

/// The next scheduled run of each kind that will really happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRuns {
    /// Plant syncs.
    pub plants: NextRun,
    /// Alert syncs.
    pub alerts: NextRun,
}

/// One decision about a scheduled tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// No vendor to sync at all: none is active in an organization with auto-sync on.
    NoVendors,
    /// Every due vendor was in the run going on; the tick is covered by it.
    Coalesced,
    /// Automatic syncs are paused.
    Paused,
    /// Scheduled syncs of this kind are off (the agent's loop only).
    Disabled,
    /// The vendors to schedule could not be read.
    Unreadable,
}

impl std::fmt::Display for Decision {
    /// The decision in words, as logs and people read it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ran { .. } => "a run started",
            Self::SkippedWindow => "inside the restricted window",
            Self::NotDue => "no vendor is due yet",
            Self::NoVendors => {
                "no vendor to sync (none is active in an organization with auto-sync on)"
            }
            Self::Coalesced => "the run going on covers the due vendors",
            Self::Paused => "automatic syncs are paused",
            Self::Disabled => "scheduled syncs of this kind are off",
            Self::Unreadable => "the vendors to schedule could not be read",
        })
    }
}

/// What is known about one kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindStatus {
    /// Whether a run is going.
    pub running: bool,
    /// The run going on, with its progress.
    pub current: Option<CurrentRun>,
    /// Requests waiting for it (to join it, or to run their own vendors after it).
    pub waiting: u64,
    /// The last finished run.
    pub last_run_id: Option<RunId>,
    /// Its outcome.
    pub last_run_status: Option<RunStatus>,
    /// When it finished.
    pub last_run_finished_at: Option<Timestamp>,
    /// The next cron tick of the agent's loop.
    pub next_tick_at: Option<Timestamp>,
    /// The last scheduled decision (the loop's or the cron endpoint's).
    pub last_decision: Option<Decision>,
    /// When it was taken.
    pub last_decision_at: Option<Timestamp>,
}

/// The schedule's state, for `GET /api/status` and the tray.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Automatic syncs paused.
    pub paused: bool,
    /// Plant syncs.
    pub plants: KindStatus,
    /// Alert syncs.
    pub alerts: KindStatus,
}

/// The one way to start a run: selection-aware single flight per kind, pause, status.
pub struct Coordinator {
    runner: Arc<dyn Runner>,
    plants: flight::Flight,
    alerts: flight::Flight,
    paused: AtomicBool,
    stopping: AtomicBool,
    status: Mutex<Status>,
    /// A stop's word to the runs going on (see [`Coordinator::cut_runs`]).
    interrupt: tokio::sync::watch::Sender<Interrupt>,
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
            interrupt: tokio::sync::watch::channel(Interrupt::None).0,
        })
    }

    /// Ends every run still going (the stop's grace is over): each run's work is dropped
    /// at its next await, so nothing more of it is written, and the requests it serves wait
    /// for [`Coordinator::runs_interrupted`] to answer them. Unlike aborting the tasks, the
    /// run's result still travels the flight: the requests that joined it hear it was
    /// interrupted, and those queued behind it are refused (the agent is stopping).
    pub fn cut_runs(&self) {
        self.interrupt.send_replace(Interrupt::Cut);
    }

    /// Says how the runs ended by [`Coordinator::cut_runs`] were recorded (the run of each
    /// kind that had a row, and whether those rows were `marked` interrupted), so their
    /// requests are answered with only what is true.
    pub fn runs_interrupted(&self, runs: Vec<(RunKind, RunId)>, marked: bool) {
        self.interrupt.send_replace(Interrupt::Recorded { runs, marked });
    }

    /// The work of a run: the runner's, unless a stop cuts it (see [`Self::cut_runs`]).
    async fn work(
        &self,
        request: RunRequest,
        progress: Arc<Progress>,
    ) -> Result<RunReport, RunError> {
        let kind = request.kind;
        let (mut cut, mut recorded) = (self.interrupt.subscribe(), self.interrupt.subscribe());
        tokio::select! {
            result = self.runner.run(request, progress) => result,
            // The runner's future is dropped before this arm runs: nothing more of it runs.
            true = async { cut.wait_for(|i| *i != Interrupt::None).await.is_ok() } => {
                let (run_id, recorded) = recorded
                    .wait_for(|i| matches!(i, Interrupt::Recorded { .. }))
                    .await
                    .ok()
                    .and_then(|r| match &*r {
                        Interrupt::Recorded { runs, marked } => runs
                            .iter()
                            .find(|(k, _)| *k == kind)
                            .map(|(_, id)| (Some(*id), *marked)),
                        _ => None,
                    })
                    .unwrap_or((None, false));
                Err(RunError::Interrupted { run_id, recorded })
            }
        }
    }

    fn flight(&self, kind: RunKind) -> &flight::Flight {
        match kind {
            RunKind::Plants => &self.plants,
            RunKind::Alerts => &self.alerts,
        }
    }

    fn with_kind<T>(&self, kind: RunKind, f: impl FnOnce(&mut KindStatus) -> T) -> T {
        let mut status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(match kind {
            RunKind::Plants => &mut status.plants,
            RunKind::Alerts => &mut status.alerts,
        })
    }

    /// A snapshot of the status, with the runs going on and their progress.
    pub fn status(&self) -> Status {
        let mut copy =
            self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        copy.paused = self.is_paused();
        for (kind, status) in
            [(RunKind::Plants, &mut copy.plants), (RunKind::Alerts, &mut copy.alerts)]
        {
            status.current = self.flight(kind).current();
            status.running = status.current.is_some();
            status.waiting = self.flight(kind).waiting();
        }
        copy
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

    /// Resolves once no run of either kind is going.
    pub async fn idle(&self) {
        self.plants.idle().await;
        self.alerts.idle().await;
    }

    fn record(&self, kind: RunKind, decision: Decision, at: DateTime<Utc>) {
        self.with_kind(kind, |k| {
            k.last_decision = Some(decision);
            k.last_decision_at = Some(Timestamp::from_datetime(&at));
        });
    }

    fn set_next_tick(&self, kind: RunKind, at: Option<DateTime<Utc>>) {
        self.with_kind(kind, |k| k.next_tick_at = at.map(|t| Timestamp::from_datetime(&t)));
    }

    /// Serves a request: joins the running run of its kind when that covers every vendor
    /// asked for, else waits for it and runs its own. The answer is always about the
    /// request's own vendors. The run lives in its own task, so a caller that gives up (a
    /// dropped HTTP request) never cancels it nor leaves the flight stuck.
    pub async fn trigger(self: &Arc<Self>, request: RunRequest) -> (Served, Shared) {
        let this = Arc::clone(self);
        let kind = request.kind;
        let task = tokio::spawn(
            async move {
                let stopping = || this.stopping.load(Ordering::SeqCst);
                let work = |request, progress| this.work(request, progress);
                let served = this.flight(kind).run(request, stopping, work).await;
                if served.0 != Served::Joined
                    && let Ok(report) = served.1.as_ref()
                {
                    this.with_kind(kind, |k| {
                        k.last_run_id = Some(report.run_id);
                        k.last_run_status = Some(report.status);
                        k.last_run_finished_at = Some(Timestamp::now());
                    });
                }
                served
            }
            .in_current_span(),
        );
        task.await.unwrap_or_else(|e| {
            // Ended with the runtime: the agent is stopping, which a client handles (the CLI
            // syncs by itself once the lock is free). Anything else is a bug.
            if e.is_cancelled() && self.stopping.load(Ordering::SeqCst) {
                return (Served::Started, Arc::new(Err(RunError::Stopping)));
            }
            warn!("a sync task ended abnormally: {e}");
            (Served::Started, Arc::new(Err(RunError::Aborted(e.to_string()))))
        })
    }

    /// The one rule for scheduled runs, as both the loop and `GET /api/cron/*` apply it:
    /// reads the candidates, decides, and records the decision. A covered tick or a run is
    /// for the caller to trigger (the loop after its jitter, the endpoint at once).
    pub async fn decide_scheduled(
        &self,
        candidates: &dyn Candidates,
        settings: &ScheduleSettings,
        kind: RunKind,
        by: ScheduledBy,
        now: DateTime<Utc>,
    ) -> Result<Verdict, StoreError> {
        let vendors = match candidates.schedule_candidates().await {
            Ok(vendors) => vendors,
            Err(error) => {
                self.record(kind, Decision::Unreadable, now);
                return Err(error);
            }
        };
        let running = self.flight(kind).running_vendors();
        let verdict = rule::decide(&rule::Tick {
            kind,
            by,
            enabled: settings.enabled(kind),
            respects_window: settings.respects_window(kind),
            paused: self.is_paused(),
            window: &settings.window,
            now,
            candidates: &vendors,
            running: running.as_deref(),
        });
        self.record(kind, verdict.decision(), now);
        Ok(verdict)
    }

    /// Records how the scheduled run decided at `decided_at` was served: its id, or that
    /// it joined the run going on. Only that decision is completed: when a later tick has
    /// decided something since (the run took longer than the cron period), the later
    /// decision stays.
    pub fn record_served(
        &self,
        kind: RunKind,
        served: &(Served, Shared),
        decided_at: DateTime<Utc>,
    ) {
        let decision = match (served.0, served.1.as_ref()) {
            (Served::Joined, _) => Decision::Coalesced,
            (_, Ok(report)) => Decision::Ran { run_id: Some(report.run_id) },
            (_, Err(error)) => {
                warn!("scheduled {kind} sync failed: {error}");
                return;
            }
        };
        let decided_at = Timestamp::from_datetime(&decided_at);
        self.with_kind(kind, |k| {
            let still_ours = k.last_decision_at == Some(decided_at)
                && matches!(
                    k.last_decision,
                    Some(Decision::Ran { run_id: None } | Decision::Coalesced)
                );
            if still_ours {
                k.last_decision = Some(decision);
            }
        });
    }
}

/// The schedule loop: runs until `shutdown` turns true.
pub async fn run_schedule(
    coordinator: Arc<Coordinator>,
    store: Arc<dyn Candidates>,
    settings: Arc<ScheduleSettings>,
    clock: Arc<dyn Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let zone = settings.window.zone;
    let mut last_check = clock.now();
    // The last decision each kind's ticks logged; the start-up line counts as saying "no
    // vendor to sync", so the first tick does not say it again.
    let mut said = announce(&coordinator, &*store, &settings, last_check).await;
    loop {
        let plants_next = settings.cron(RunKind::Plants).next_after(last_check, zone);
        let alerts_next = settings.cron(RunKind::Alerts).next_after(last_check, zone);
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
                // The jitter never reaches the kind's next tick: a run still waiting out its
                // jitter is invisible to that tick, which would sync the same vendors again.
                let next = settings.cron(kind).next_after(now, zone);
                let room =
                    next.and_then(|n| (n - now).to_std().ok()).map_or(settings.jitter, |r| r / 2);
                let said = match kind {
                    RunKind::Plants => &mut said.0,
                    RunKind::Alerts => &mut said.1,
                };
                let jitter = settings.jitter.min(room);
                tick_once(&coordinator, &*store, &settings, kind, now, jitter, said).await;
            }
        }
        last_check = now;
    }
}

/// The decisions the ticks of each kind last logged (plants, alerts).
type Said = (Option<Decision>, Option<Decision>);

/// The start-up line: what the schedule is and what it will do next (the window now, the
/// pause, the next run of each kind that will really happen, or that there is no vendor to
/// sync). Returns what it said, so the ticks say only what changes.
async fn announce(
    coordinator: &Coordinator,
    store: &dyn Candidates,
    settings: &ScheduleSettings,
    now: DateTime<Utc>,
) -> Said {
    let zone = settings.window.zone;
    let switch = |on: bool| if on { "on" } else { "off" };
    let mut said = (None, None);
    let next = match store.schedule_candidates().await {
        Ok(candidates) if candidates.is_empty() => {
            said = (Some(Decision::NoVendors), Some(Decision::NoVendors));
            "no vendor to sync yet: nothing syncs on schedule until one is active in an \
             organization with auto-sync on (`plantsync vendor add --org ORG ...`)"
                .to_owned()
        }
        Ok(candidates) => {
            let next = settings.next_runs(coordinator.is_paused(), &candidates, now);
            format!(
                "next plant sync {}, next alert sync {}",
                next.plants.describe(zone, now),
                next.alerts.describe(zone, now)
            )
        }
        Err(error) => format!("the vendors to schedule could not be read: {error}"),
    };
    let window = if settings.window.is_enabled() {
        format!("window {} ({})", settings.window.describe(), window_now(&settings.window, now))
    } else {
        "no restricted window".to_owned()
    };
    info!(
        "schedule started: plants '{}' ({}), alerts '{}' ({}), {window}; {next}",
        settings.plants_cron,
        switch(settings.plants_enabled),
        settings.alerts_cron,
        switch(settings.alerts_enabled),
    );
    said
}

/// Whether the window holds scheduled syncs back at `now`, in words: `scheduled syncs wait
/// until 06:00`, `scheduled syncs run until 19:00`, or `no window`.
pub fn window_now(window: &RestrictedWindow, now: DateTime<Utc>) -> String {
    let closed_until = window.contains(now).then(|| window.next_open(now));
    describe_window(window.is_enabled(), closed_until, &window.start.to_string(), window.zone, now)
}

/// [`window_now`] from what was decided about the window (as `/api/status` reports it):
/// whether there is one, until when it holds syncs back if it does now, and its start.
pub fn describe_window(
    enabled: bool,
    closed_until: Option<DateTime<Utc>>,
    start: &str,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> String {
    match closed_until {
        _ if !enabled => "no window".to_owned(),
        Some(until) => format!("scheduled syncs wait until {}", rule::local_when(until, zone, now)),
        None => format!("scheduled syncs run until {start}"),
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

/// Decides one tick of `kind` and starts its run in the background, after a random delay
/// of at most `jitter`.
async fn tick_once(
    coordinator: &Arc<Coordinator>,
    store: &dyn Candidates,
    settings: &ScheduleSettings,
    kind: RunKind,
    now: DateTime<Utc>,
    jitter: Duration,
    said: &mut Option<Decision>,
) {
    let span = info_span!("tick", source = "cron", operation = format!("sync-{kind}"));
    async {
        let request =
            match coordinator.decide_scheduled(store, settings, kind, ScheduledBy::Loop, now).await
            {
                Ok(Verdict::Run(request)) => request,
                Ok(verdict) => {
                    // A covered tick needs no waiting: the run going on syncs its vendors.
                    // Said when it changes: a quiet night or an empty table is not news at
                    // every tick.
                    let decision = verdict.decision();
                    if said.as_ref() == Some(&decision) {
                        debug!("{kind} tick: no run: {decision}");
                    } else {
                        info!("{kind} tick: no run: {decision}");
                        *said = Some(decision);
                    }
                    return;
                }
                Err(error) => {
                    warn!("cannot read the vendors to schedule: {error}");
                    return;
                }
            };
        *said = None;
        let delay = crate::vendors::http::jitter(jitter);
        info!(
            vendors = request.vendors().len(),
            jitter_ms = delay.as_millis() as u64,
            "{kind} tick: starting a run"
        );
        let coordinator = Arc::clone(coordinator);
        tokio::spawn(
            async move {
                tokio::time::sleep(delay).await;
                let served = coordinator.trigger(request).await;
                coordinator.record_served(kind, &served, now);
            }
            .in_current_span(),
        );
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests;
