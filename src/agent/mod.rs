//! `plantsync run`: the long-running agent. Takes the data dir's lock, recovers from an
//! unclean stop, starts the schedule and the loopback API, and stops gracefully on
//! SIGINT/SIGTERM (Ctrl-C on Windows).

pub mod lock;
pub mod notify;
pub mod token;

use crate::api::{self, ApiState, metrics::Metrics};
use crate::config::Settings;
use crate::schedule::{
    self, Clock, Coordinator, RestrictedWindow, Runner, ScheduleSettings, SystemClock,
};
use crate::store::Store;
use crate::sync::{Engine, EngineSettings, RunReport, RunRequest};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// How long a stop waits for a running sync before recording it as interrupted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Runs the engine, then counts the run and raises notifications.
struct AgentRunner {
    engine: Arc<Engine>,
    store: Store,
    metrics: Arc<Metrics>,
    notifier: notify::Notifier,
}

#[async_trait::async_trait]
impl Runner for AgentRunner {
    async fn run(&self, request: RunRequest) -> Result<RunReport, String> {
        let report = Engine::run(&self.engine, request, None).await.map_err(|e| e.to_string())?;
        self.metrics.record(&report);
        if report.summary.failed > 0 {
            let failures: Vec<_> = match self.store.list_vendors(Default::default()).await {
                Ok(vendors) => vendors
                    .iter()
                    .map(|v| (v.id, v.consecutive_failures, v.needs_user_action))
                    .collect(),
                Err(e) => {
                    warn!("cannot read vendor health for notifications: {e}");
                    vec![]
                }
            };
            self.notifier.send(self.notifier.decide(&report, &failures));
        }
        Ok(report)
    }
}

/// The restricted window of `settings`.
pub fn window_of(settings: &Settings) -> RestrictedWindow {
    RestrictedWindow {
        start: settings.window_start.value,
        end: settings.window_end.value,
        zone: settings.timezone.value,
    }
}

/// Runs the agent until a stop signal.
pub async fn run(
    settings: Settings,
    store: Store,
    lock: lock::AgentLock,
    unclean: bool,
) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.value.clone();
    if unclean {
        warn!("the previous agent did not stop cleanly; checking the database");
        match store.integrity_check().await {
            Ok(report) if report == "ok" => info!("database integrity check: ok"),
            Ok(report) => error!("database integrity check found problems: {report}"),
            Err(e) => error!("database integrity check could not run: {e}"),
        }
    }
    let interrupted =
        store.mark_running_runs_interrupted("the agent stopped before the run finished").await?;
    if interrupted > 0 {
        warn!(
            runs = interrupted,
            "runs left unfinished by the previous agent were marked interrupted"
        );
    }
    token::load_or_create(&data_dir)?;

    let engine = Engine::new(store.clone(), EngineSettings::from_settings(&settings))?;
    let metrics = Arc::new(Metrics::default());
    let runner = AgentRunner {
        engine,
        store: store.clone(),
        metrics: Arc::clone(&metrics),
        notifier: notify::Notifier::new(
            settings.notify_threshold.value,
            settings.notify_webhook.value.clone(),
        ),
    };
    let coordinator = Coordinator::new(Arc::new(runner));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let window = window_of(&settings);

    let bind = settings.api_bind.value;
    if !bind.is_loopback() {
        warn!(
            "the control API listens on {bind}, not only on this machine: the config asked for it"
        );
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(bind, settings.api_port.value))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}:{}: {e}", settings.api_port.value))?;
    let address = listener.local_addr()?;
    lock.publish(&lock::AgentInfo {
        pid: std::process::id(),
        api: address.to_string(),
        started_at: crate::domain::Timestamp::now().to_canonical(),
    })?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let state = ApiState {
        coordinator: Arc::clone(&coordinator),
        store: store.clone(),
        data_dir: data_dir.clone(),
        cron_secret: settings.cron_secret.value.clone(),
        window,
        alerts_respect_window: settings.alerts_respect_window.value,
        clock: Arc::clone(&clock),
        metrics,
        bind,
    };
    let mut api_shutdown = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        let app = api::router(state);
        let stop = async move {
            let _ = api_shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            error!("the control API stopped: {e}");
        }
    });
    let schedule_settings = ScheduleSettings {
        plants_enabled: settings.sync_enabled.value,
        plants_cron: settings.sync_schedule.value.clone(),
        alerts_enabled: settings.alerts_enabled.value,
        alerts_cron: settings.alerts_schedule.value.clone(),
        alerts_respect_window: settings.alerts_respect_window.value,
        window,
        jitter: Duration::from_secs(settings.jitter_seconds.value.into()),
    };
    let schedule = tokio::spawn(schedule::run_schedule(
        Arc::clone(&coordinator),
        Arc::new(store.clone()),
        schedule_settings,
        clock,
        shutdown_rx,
    ));
    info!(api = %address, pid = std::process::id(), "plantsync agent running; stop with Ctrl-C or SIGTERM");

    wait_for_stop_signal().await;
    info!("stopping: no new runs; waiting up to {}s for a running sync", SHUTDOWN_GRACE.as_secs());
    coordinator.stop_accepting();
    let _ = shutdown_tx.send(true);
    let _ = schedule.await;
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while (coordinator.is_running(crate::domain::RunKind::Plants)
        || coordinator.is_running(crate::domain::RunKind::Alerts))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unfinished = store
        .mark_running_runs_interrupted("the agent was stopped during the run")
        .await
        .unwrap_or(0);
    if unfinished > 0 {
        warn!(
            runs = unfinished,
            "a sync did not finish within the grace period and was recorded as interrupted"
        );
    }
    // An API request still waiting for a run must not hold the stop beyond the grace.
    if tokio::time::timeout(Duration::from_secs(2), server).await.is_err() {
        warn!("the control API still had open requests; closing them");
    }
    info!("plantsync agent stopped");
    lock.release();
    Ok(())
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
