//! `plantsync run`: the long-running agent, a composition of components.
//!
//! # Design
//!
//! Each long-running part is a [`Component`] with `start`, `handle` and `stop` (the shape
//! of atuin's daemon components): recovery from an unclean stop, the control API, the run
//! drain (through which every sync goes), the schedule loop, metrics and notifications;
//! the upstream push will be one more. [`run`] starts them in order, hands every agent-wide
//! [`Event`] (a finished run) to each, and on SIGINT/SIGTERM stops them in reverse order:
//! the schedule stops ticking, the drain waits for a running sync (up to
//! [`SHUTDOWN_GRACE`], then records it as interrupted), and only then the API closes, so a
//! request waiting for that sync gets its answer. Shutdown waits on the components'
//! own completion signals, never on a poll.

mod components;
pub mod notify;

use crate::config::Settings;
use crate::datadir::lock::DataDirLock;
use crate::domain::RunReport;
use crate::schedule::{Coordinator, RunError, Runner};
use crate::store::Store;
use crate::sync::{Engine, EngineSettings, Progress};
use components::{ApiComponent, Drain, Notifications, Recovery, ScheduleComponent};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How long a stop waits for a running sync before recording it as interrupted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Something every component may react to.
#[derive(Debug, Clone)]
pub enum Event {
    /// A sync run finished and was recorded.
    RunFinished(Arc<RunReport>),
}

/// A long-running part of the agent.
#[async_trait::async_trait]
pub trait Component: Send {
    /// Its name, for logs.
    fn name(&self) -> &'static str;

    /// Starts it (binds, spawns its tasks); an error stops the agent before it serves.
    async fn start(&mut self) -> anyhow::Result<()>;

    /// Reacts to an agent-wide event (most components ignore most events).
    async fn handle(&mut self, event: &Event) {
        let _ = event;
    }

    /// Stops it: its tasks end, waiting for their work at most until `deadline`.
    async fn stop(&mut self, deadline: tokio::time::Instant);
}

/// The engine as the coordinator's runner: every finished run becomes an [`Event`].
struct EngineRunner {
    engine: Arc<Engine>,
    events: mpsc::UnboundedSender<Event>,
}

#[async_trait::async_trait]
impl Runner for EngineRunner {
    async fn run(
        &self,
        request: crate::domain::RunRequest,
        progress: Arc<Progress>,
    ) -> Result<RunReport, RunError> {
        let report = Engine::run(&self.engine, &request, progress)
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let _ = self.events.send(Event::RunFinished(Arc::new(report.clone())));
        Ok(report)
    }
}

/// Runs the agent until a stop signal. `lock` is the data dir's, taken by the caller, who
/// releases it once the runtime and the store are closed; `unclean` says the previous
/// agent did not stop cleanly.
pub async fn run(
    settings: Settings,
    store: Store,
    lock: &DataDirLock,
    unclean: bool,
) -> anyhow::Result<()> {
    let (events, mut incoming) = mpsc::unbounded_channel();
    let engine = Engine::new(store.clone(), EngineSettings::from_settings(&settings))?;
    let coordinator = Coordinator::new(Arc::new(EngineRunner { engine, events }));
    let metrics = Arc::new(crate::api::metrics::Metrics::default());
    let schedule = Arc::new(components::schedule_settings(&settings));
    let mut parts: Vec<Box<dyn Component>> = vec![
        Box::new(Recovery::new(store.clone(), unclean)),
        Box::new(Notifications::new(&settings, store.clone(), Arc::clone(&metrics))),
        Box::new(ApiComponent::new(&settings, &store, &coordinator, &schedule, metrics, lock)),
        Box::new(Drain::new(Arc::clone(&coordinator), store.clone())),
        Box::new(ScheduleComponent::new(coordinator, store, schedule)),
    ];
    for (started, part) in parts.iter_mut().enumerate() {
        if let Err(error) = part.start().await {
            warn!("the {} did not start: {error:#}", part.name());
            stop_all(&mut parts[..started]).await;
            return Err(error);
        }
    }
    info!(pid = std::process::id(), "plantsync agent running; stop with Ctrl-C or SIGTERM");
    let stop = wait_for_stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(event) = incoming.recv() => {
                for part in &mut parts {
                    part.handle(&event).await;
                }
            }
        }
    }
    info!("stopping: no new runs; waiting up to {}s for a running sync", SHUTDOWN_GRACE.as_secs());
    stop_all(&mut parts).await;
    // Runs that ended during the stop still count and notify.
    while let Ok(event) = incoming.try_recv() {
        for part in &mut parts {
            part.handle(&event).await;
        }
    }
    info!("plantsync agent stopped");
    Ok(())
}

/// Stops `parts` in reverse order of their start, with one deadline for all.
async fn stop_all(parts: &mut [Box<dyn Component>]) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    for part in parts.iter_mut().rev() {
        part.stop(deadline).await;
    }
}

/// SIGINT or SIGTERM on Unix; Ctrl-C elsewhere.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
