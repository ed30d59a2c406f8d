//! The agent's components, each one job: recovery, notifications and metrics, the control
//! API, the run drain, the schedule loop, the upstream push.

use super::{Component, Deadline, Event, notify};
use crate::api::{self, ApiState, metrics::Metrics};
use crate::config::Settings;
use crate::datadir::lock::{AgentInfo, AgentPublisher, DataDirLock};
use crate::domain::{RunId, RunKind, RunStatus};
use crate::schedule::{Coordinator, RestrictedWindow, ScheduleSettings, SystemClock};
use crate::store::{RunFilter, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// The schedule's settings from the validated settings (the agent's, and `status`'s when
/// no agent runs).
pub(crate) fn schedule_settings(settings: &Settings) -> ScheduleSettings {
    ScheduleSettings {
        plants_enabled: settings.sync_enabled.value,
        plants_cron: settings.sync_schedule.value.clone(),
        alerts_enabled: settings.alerts_enabled.value,
        alerts_cron: settings.alerts_schedule.value.clone(),
        alerts_respect_window: settings.alerts_respect_window.value,
        window: RestrictedWindow {
            start: settings.window_start.value,
            end: settings.window_end.value,
            zone: settings.timezone.value,
        },
        jitter: Duration::from_secs(settings.jitter_seconds.value.into()),
    }
}

/// Waits for `task` until `deadline`; a task still running then is aborted and named.
async fn join_by(task: JoinHandle<()>, deadline: &Deadline, what: &str) {
    let abort = task.abort_handle();
    if deadline.within(task).await.is_none() {
        warn!("the {what} did not stop in time; ending it");
        abort.abort();
    }
}

/// After an unclean stop: checks the database; always: records runs a dead process left
/// `running` as interrupted (nothing else syncs on this data dir while the lock is held).
pub(super) struct Recovery {
    store: Store,
    unclean: bool,
}

impl Recovery {
    pub(super) fn new(store: Store, unclean: bool) -> Self {
        Self { store, unclean }
    }
}

#[async_trait::async_trait]
impl Component for Recovery {
    fn name(&self) -> &'static str {
        "recovery"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        if self.unclean {
            warn!("the previous agent did not stop cleanly; checking the database");
            match self.store.integrity_check().await {
                Ok(report) if report == "ok" => info!("database integrity check: ok"),
                Ok(report) => error!("database integrity check found problems: {report}"),
                Err(e) => error!("database integrity check could not run: {e}"),
            }
        }
        crate::sync::recover_unfinished_runs(&self.store).await?;
        Ok(())
    }

    async fn stop(&mut self, _deadline: &Deadline) {}
}

/// Counts every finished run and raises the notifications it calls for.
pub(super) struct Notifications {
    notifier: notify::Notifier,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Notifications {
    pub(super) fn new(settings: &Settings, store: Store, metrics: Arc<Metrics>) -> Self {
        let notifier = notify::Notifier::new(
            settings.notify_threshold.value,
            settings.notify_webhook.value.clone(),
            settings.notify_desktop.value,
        );
        Self { notifier, store, metrics }
    }
}

#[async_trait::async_trait]
impl Component for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn handle(&mut self, event: &Event) {
        let (report, source) = match event {
            Event::RunFinished { report, source } => (report, *source),
            Event::PushEnded(outcome) => {
                self.notifier.send(self.notifier.decide_stall(outcome).into_iter().collect());
                return;
            }
        };
        self.metrics.record(report);
        let mut notices = Vec::new();
        if report.summary.failed > 0 {
            match self.store.list_vendors(Default::default()).await {
                Ok(vendors) => {
                    let health: Vec<_> = vendors
                        .iter()
                        .map(|v| notify::Health {
                            id: v.id,
                            kind: v.kind,
                            failures: v.consecutive_failures,
                            needs_action: v.needs_user_action,
                        })
                        .collect();
                    notices = self.notifier.decide(report, &health);
                }
                Err(e) => warn!("cannot read vendor health for notifications: {e}"),
            }
        }
        notices.extend(self.notifier.decide_finished(report, source));
        self.notifier.send(notices);
    }

    async fn stop(&mut self, _deadline: &Deadline) {}
}

/// The loopback control API: binds, publishes `agent.json` for the CLI, serves until
/// stopped, then gives open requests a moment to finish.
pub(super) struct ApiComponent {
    state: Option<ApiState>,
    address: SocketAddr,
    data_dir: std::path::PathBuf,
    publisher: AgentPublisher,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// How long open API requests get after the runs have drained.
const API_CLOSE_WAIT: Duration = Duration::from_secs(2);

impl ApiComponent {
    pub(super) fn new(
        settings: &Settings,
        store: &Store,
        coordinator: &Arc<Coordinator>,
        schedule: &Arc<ScheduleSettings>,
        metrics: Arc<Metrics>,
        lock: &DataDirLock,
        stop: Arc<tokio::sync::Notify>,
    ) -> Self {
        let state = ApiState {
            coordinator: Arc::clone(coordinator),
            store: store.clone(),
            data_dir: settings.data_dir.value.clone(),
            cron_secret: settings.cron_secret.value.clone(),
            schedule: Arc::clone(schedule),
            clock: Arc::new(SystemClock),
            metrics,
            bind: settings.api_bind.value,
            pusher: None,
            stop,
        };
        Self {
            state: Some(state),
            address: SocketAddr::new(settings.api_bind.value, settings.api_port.value),
            data_dir: settings.data_dir.value.clone(),
            publisher: lock.publisher(),
            shutdown: None,
            task: None,
        }
    }
}

impl ApiComponent {
    /// Serves `POST /api/push` and the push's state with `pusher`.
    pub(super) fn with_pusher(mut self, pusher: Option<Arc<crate::upstream::Pusher>>) -> Self {
        if let Some(state) = self.state.as_mut() {
            state.pusher = pusher;
        }
        self
    }
}

#[async_trait::async_trait]
impl Component for ApiComponent {
    fn name(&self) -> &'static str {
        "control API"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let Some(state) = self.state.take() else {
            anyhow::bail!("the control API was started twice");
        };
        crate::datadir::token::load_or_create(&self.data_dir)?;
        let bind = self.address.ip();
        if !bind.is_loopback() {
            warn!(
                "the control API listens on {bind}, not only on this machine: the config asked for it"
            );
        }
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .map_err(|e| anyhow::anyhow!(listen_failure(self.address, &e)))?;
        let address = listener.local_addr()?;
        self.publisher.publish(&AgentInfo {
            pid: std::process::id(),
            api: Some(address.to_string()),
            started_at: crate::domain::Timestamp::now().to_canonical(),
        })?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        self.shutdown = Some(shutdown);
        self.task = Some(tokio::spawn(async move {
            let app = api::router(state);
            let stop = async move {
                let _ = stopped.await;
            };
            api::serve(listener, app, api::ServeLimits::default(), stop).await;
        }));
        info!(api = %address, "control API listening");
        Ok(())
    }

    async fn stop(&mut self, _deadline: &Deadline) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            // The runs have drained (or been ended): the answers to requests waiting for
            // them get a moment to go out, even past the shared deadline (by at most
            // `API_CLOSE_WAIT`).
            let abort = task.abort_handle();
            if tokio::time::timeout(API_CLOSE_WAIT, task).await.is_err() {
                warn!("the control API (open requests) did not stop in time; ending it");
                abort.abort();
            }
        }
    }
}

/// The runs: on stop, no new run starts, a running one gets until the deadline, and one
/// still going then is recorded as interrupted.
pub(super) struct Drain {
    coordinator: Arc<Coordinator>,
    store: Store,
}

impl Drain {
    pub(super) fn new(coordinator: Arc<Coordinator>, store: Store) -> Self {
        Self { coordinator, store }
    }
}

#[async_trait::async_trait]
impl Component for Drain {
    fn name(&self) -> &'static str {
        "run drain"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn stop(&mut self, deadline: &Deadline) {
        self.coordinator.stop_accepting();
        if deadline.within(self.coordinator.idle()).await.is_some() {
            return;
        }
        // Ended first; a run's work stops at its next await, so a write it already queued
        // may still land after the mark below, which is harmless: a finished run never
        // overwrites `interrupted` (see `Store::finish_run`).
        self.coordinator.cut_runs();
        let running = RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() };
        let going: Vec<_> = match self.store.list_runs(running).await {
            Ok(runs) => runs.into_iter().map(|r| (r.kind, r.id)).collect(),
            Err(e) => {
                warn!("could not read which syncs are still running: {e}");
                Vec::new()
            }
        };
        let message = "the agent was stopped during the run";
        let (told, recorded) = match self.store.mark_running_runs_interrupted(message).await {
            Ok(changed) => (recorded_runs(going, &changed), true),
            Err(e) => {
                warn!("could not record the unfinished sync as interrupted: {e}");
                (going, false)
            }
        };
        if recorded && !told.is_empty() {
            warn!(
                runs = told.len(),
                "a sync did not finish within the grace period and was recorded as interrupted"
            );
        }
        // The requests those runs serve are answered with what happened to them; a run
        // that is not among them (no row yet, or its own end committed before the mark) is
        // only said to be stopped. The API closes after this.
        self.coordinator.runs_interrupted(told, recorded);
        if tokio::time::timeout(API_CLOSE_WAIT, self.coordinator.idle()).await.is_err() {
            warn!("a sync did not end when asked to");
        }
    }
}

/// The runs listed as running that the mark really changed: only those are said to be
/// recorded as interrupted (one whose `finish_run` committed between the listing and the
/// mark keeps its own end).
fn recorded_runs(going: Vec<(RunKind, RunId)>, changed: &[RunId]) -> Vec<(RunKind, RunId)> {
    going.into_iter().filter(|(_, id)| changed.contains(id)).collect()
}

/// The cron loop.
pub(super) struct ScheduleComponent {
    coordinator: Arc<Coordinator>,
    store: Store,
    settings: Arc<ScheduleSettings>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl ScheduleComponent {
    pub(super) fn new(
        coordinator: Arc<Coordinator>,
        store: Store,
        settings: Arc<ScheduleSettings>,
    ) -> Self {
        Self { coordinator, store, settings, shutdown: None, task: None }
    }
}

#[async_trait::async_trait]
impl Component for ScheduleComponent {
    fn name(&self) -> &'static str {
        "schedule"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let (shutdown, stopping) = tokio::sync::watch::channel(false);
        self.shutdown = Some(shutdown);
        self.task = Some(tokio::spawn(crate::schedule::run_schedule(
            Arc::clone(&self.coordinator),
            Arc::new(self.store.clone()),
            Arc::clone(&self.settings),
            Arc::new(SystemClock),
            stopping,
        )));
        Ok(())
    }

    async fn stop(&mut self, deadline: &Deadline) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(task) = self.task.take() {
            join_by(task, deadline, "schedule").await;
        }
    }
}

/// The upstream push (when `upstream.url` is set): its own task pushes at start, after
/// every run that synced a vendor, and on the backoff while the upstream fails
/// ([`crate::upstream::Pusher`]). It never holds up the engine: a finished run only wakes
/// the task.
pub(super) struct PushComponent {
    pusher: Arc<crate::upstream::Pusher>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl PushComponent {
    pub(super) fn new(pusher: Arc<crate::upstream::Pusher>) -> Self {
        Self { pusher, shutdown: None, task: None }
    }
}

#[async_trait::async_trait]
impl Component for PushComponent {
    fn name(&self) -> &'static str {
        "upstream push"
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let (shutdown, stopping) = tokio::sync::watch::channel(false);
        self.shutdown = Some(shutdown);
        self.task = Some(tokio::spawn(Arc::clone(&self.pusher).run(stopping)));
        info!(target = self.pusher.target(), "pushing upstream after each sync");
        Ok(())
    }

    async fn handle(&mut self, event: &Event) {
        let Event::RunFinished { report, .. } = event else { return };
        // A run that synced nothing changed nothing worth a connection.
        if matches!(report.status, RunStatus::Ok | RunStatus::Partial) {
            self.pusher.sync_finished();
        }
    }

    async fn stop(&mut self, deadline: &Deadline) {
        // Before any wait: no API push starts once the agent stops, even if the grace is
        // spent by the time `stop` below is polled.
        self.pusher.begin_stop();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        if let Some(task) = self.task.take() {
            join_by(task, deadline, "upstream push").await;
        }
        if deadline.within(self.pusher.stop()).await.is_none() {
            warn!("an upstream push asked through the API did not end in time");
        }
    }
}

/// Why the API cannot listen, in words ("address already in use", not the OS's number).
fn listen_failure(address: SocketAddr, error: &std::io::Error) -> String {
    format!("cannot listen on {address}: {}", crate::datadir::dir::in_words(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose own end commits between the drain's listing and its mark is not said to
    /// be recorded as interrupted; the one the mark changed is.
    #[tokio::test]
    async fn only_the_runs_the_mark_changed_are_said_recorded() {
        use crate::domain::{RunRequest, RunSource, VendorId};
        let (_dir, store) = crate::store::test_support::temp_store();
        let plants = RunRequest::new(RunKind::Plants, RunSource::Cron, false, [VendorId(1)]);
        let alerts = RunRequest::new(RunKind::Alerts, RunSource::Cron, false, [VendorId(1)]);
        let finished = store.start_run(&plants).await.unwrap();
        let cut = store.start_run(&alerts).await.unwrap();
        let running = RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() };
        let going: Vec<_> =
            store.list_runs(running).await.unwrap().into_iter().map(|r| (r.kind, r.id)).collect();
        assert_eq!(going.len(), 2);
        // The plants run's end lands after the listing, before the mark.
        store.finish_run(finished, RunStatus::Ok, None, Vec::new(), None).await.unwrap();
        let changed = store.mark_running_runs_interrupted("stopped").await.unwrap();
        assert_eq!(changed, [cut]);
        assert_eq!(recorded_runs(going, &changed), [(RunKind::Alerts, cut)]);
        let kept = store.get_run(finished).await.unwrap();
        assert_eq!(kept.run.status, RunStatus::Ok);
    }

    #[test]
    fn a_taken_port_is_said_in_words() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = std::net::TcpListener::bind(address).unwrap_err();
        assert_eq!(
            listen_failure(address, &error),
            format!("cannot listen on {address}: address already in use")
        );
    }
}
