//! `plantsync run`: the long-running agent, a composition of components.
//!
//! # Design
//!
//! Each long-running part is a [`Component`] with `start`, `handle` and `stop` (the shape
//! of atuin's daemon components): recovery from an unclean stop, the control API, the run
//! drain (through which every sync goes), the schedule loop, metrics and notifications;
//! the upstream push (when configured) is one more. [`run`] starts them in order, hands every agent-wide
//! [`Event`] (a finished run) to each, and on SIGINT/SIGTERM stops them in reverse order:
//! the schedule stops ticking, the drain waits for a running sync (up to
//! [`SHUTDOWN_GRACE`], or until a second stop signal asks to end it now, then ends it and
//! records it as interrupted), and only then the API closes, so a request waiting for that
//! sync gets its answer (HTTP 503 naming the interrupted run). Shutdown waits on the
//! components' own completion signals, never on a poll.

mod components;
pub mod desktop;
pub mod notify;

use crate::config::Settings;
use crate::datadir::lock::DataDirLock;
use crate::domain::RunReport;
use crate::schedule::{Coordinator, RunError, Runner};
use crate::store::Store;
use crate::sync::{Engine, EngineSettings, Progress};
pub(crate) use components::schedule_settings;
use components::{ApiComponent, Drain, Notifications, PushComponent, Recovery, ScheduleComponent};
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
    RunFinished {
        /// What it did.
        report: Arc<RunReport>,
        /// Who asked for it (the notifications tell a person who clicked the tray).
        source: crate::domain::RunSource,
    },
    /// An upstream push ended (the notifications watch for a stall).
    PushEnded(crate::upstream::pusher::PushOutcome),
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
    async fn stop(&mut self, deadline: &Deadline);
}

/// When a stop's grace is over: at its end, or sooner when a second stop signal asks to
/// end now (a person pressing Ctrl-C again, `systemctl kill` after `stop`).
#[derive(Debug, Clone)]
pub struct Deadline {
    at: tokio::time::Instant,
    now: tokio::sync::watch::Receiver<bool>,
}

impl Deadline {
    /// A grace of `grace` from now, cut short when `now` turns true.
    fn new(grace: Duration, now: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { at: tokio::time::Instant::now() + grace, now }
    }

    /// Resolves once the grace is over.
    pub async fn reached(&self) {
        let mut now = self.now.clone();
        tokio::select! {
            () = tokio::time::sleep_until(self.at) => {}
            asked = async { now.wait_for(|now| *now).await.is_ok() } => if !asked {
                // No second signal can come any more: only the time ends the grace.
                tokio::time::sleep_until(self.at).await;
            },
        }
    }

    /// `work`'s output, or `None` when the grace is over first.
    pub async fn within<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            output = work => Some(output),
            () = self.reached() => None,
        }
    }
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
        let finished =
            Event::RunFinished { report: Arc::new(report.clone()), source: request.source };
        let _ = self.events.send(finished);
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
    // The stop signals are listened to before anything starts: a SIGTERM that arrives
    // while the components start (after `agent.json` is published, say) is kept and ends
    // the agent cleanly once they are up, instead of killing it by the signal's default.
    let mut signals = StopSignals::new();
    let (events, mut incoming) = mpsc::unbounded_channel();
    let engine = Engine::new(store.clone(), EngineSettings::from_settings(&settings))?;
    let pushes = events.clone();
    let coordinator = Coordinator::new(Arc::new(EngineRunner { engine, events }));
    let metrics = Arc::new(crate::api::metrics::Metrics::default());
    let schedule = Arc::new(components::schedule_settings(&settings));
    let pusher = crate::upstream::Pusher::from_settings(&settings, store.clone());
    if let Some(pusher) = &pusher {
        pusher.on_outcome(move |outcome| drop(pushes.send(Event::PushEnded(outcome))));
    }
    // A stop asked over the API (`POST /api/stop`) counts as a first stop signal.
    let asked_to_stop = Arc::new(tokio::sync::Notify::new());
    let api = ApiComponent::new(
        &settings,
        &store,
        &coordinator,
        &schedule,
        Arc::clone(&metrics),
        lock,
        Arc::clone(&asked_to_stop),
    )
    .with_pusher(pusher.clone());
    let mut parts: Vec<Box<dyn Component>> = vec![
        Box::new(Recovery::new(store.clone(), unclean)),
        Box::new(Notifications::new(&settings, store.clone(), metrics)),
        Box::new(api),
        Box::new(Drain::new(Arc::clone(&coordinator), store.clone())),
        Box::new(ScheduleComponent::new(coordinator, store, schedule)),
    ];
    // Last, so it stops first: a push under way gets the grace, and the API still answers
    // a `POST /api/push` waiting for it.
    if let Some(pusher) = pusher {
        parts.push(Box::new(PushComponent::new(pusher)));
    }
    for (started, part) in parts.iter_mut().enumerate() {
        if let Err(error) = part.start().await {
            warn!("the {} did not start: {error:#}", part.name());
            let (_never, now) = tokio::sync::watch::channel(false);
            stop_all(&mut parts[..started], &Deadline::new(SHUTDOWN_GRACE, now)).await;
            return Err(error);
        }
    }
    info!(pid = std::process::id(), "plantsync agent running; stop with Ctrl-C or SIGTERM");
    loop {
        tokio::select! {
            () = signals.next() => break,
            () = asked_to_stop.notified() => break,
            Some(event) = incoming.recv() => {
                for part in &mut parts {
                    part.handle(&event).await;
                }
            }
        }
    }
    info!(
        "stopping: no new runs; waiting up to {}s for a running sync (stop again to end it now)",
        SHUTDOWN_GRACE.as_secs()
    );
    let (hurry, now) = tokio::sync::watch::channel(false);
    let second = tokio::spawn(async move {
        signals.next().await;
        info!("a second stop signal: ending the running sync now");
        let _ = hurry.send(true);
        // Kept until the stop is over, so the grace is only cut by the signal.
        hurry.closed().await;
    });
    stop_all(&mut parts, &Deadline::new(SHUTDOWN_GRACE, now)).await;
    second.abort();
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
async fn stop_all(parts: &mut [Box<dyn Component>], deadline: &Deadline) {
    for part in parts.iter_mut().rev() {
        part.stop(deadline).await;
    }
}

/// The stop signals, SIGINT or SIGTERM on Unix (Ctrl-C elsewhere), listened to for the
/// agent's whole life: the first stops the agent, a second ends the grace. Each is one
/// stream registered once, so a signal that arrives while nothing awaits it (between the
/// first stop and the wait for a second) is kept for the next `next`, not lost as it would
/// be by a fresh `ctrl_c()` future, which only sees signals after its first poll.
struct StopSignals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    ctrl_c: Option<tokio::signal::windows::CtrlC>,
}

impl StopSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(windows)]
        {
            Self { ctrl_c: tokio::signal::windows::ctrl_c().ok() }
        }
        #[cfg(not(any(unix, windows)))]
        {
            Self {}
        }
    }

    /// Resolves at the next stop signal (never, when none could be registered).
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let int = async {
                match self.int.as_mut() {
                    Some(int) => drop(int.recv().await),
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match self.term.as_mut() {
                    Some(term) => drop(term.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = int => {}
                () = term => {}
            }
        }
        #[cfg(windows)]
        match self.ctrl_c.as_mut() {
            Some(ctrl_c) => drop(ctrl_c.recv().await),
            None => std::future::pending().await,
        }
        #[cfg(not(any(unix, windows)))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
