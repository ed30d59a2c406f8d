//! The agent's push: one [`Pusher`] per agent, shared by its push component (after each
//! sync, and on the retry schedule while the upstream fails) and `POST /api/push`.
//!
//! # Design
//!
//! * **One push at a time.** Every push of the agent goes through [`Pusher::push`], which
//!   holds one gate for the push's length: an API push asked while the loop pushes waits
//!   for it and then runs (sending what is left), never beside it. A CLI `plantsync push`
//!   on a data dir whose agent runs goes through the API, so it takes the same gate.
//! * **Never in the engine's way.** The component only wakes the loop's own task when a run
//!   finished ([`Pusher::sync_finished`] returns at once); the push reads the store through
//!   its read connections and writes its watermarks and, first, today's live values into
//!   the days (`Store::copy_live_days`: one transaction on the writer, a day row for each
//!   plant whose day changed since the last copy, so at most what the syncs used to write).
//! * **A dead link costs one attempt per step.** After a failure the loop waits for the
//!   backoff's next step ([`super::backoff::Backoff`]) and nothing else: a sync finishing
//!   meanwhile does not bring the attempt forward (its rows wait for it), only a person
//!   does (`plantsync push`, `POST /api/push`). A success resets the schedule.
//! * **Visible.** Every outcome is recorded in the store (the last push, failures in a
//!   row, the last error, the next attempt), so `status`, `/api/status` and `/metrics`
//!   show a stall from the first failed attempt on.

use super::backoff::{self, Backoff};
use super::{PushOptions, PushReport, UpstreamError};
use crate::config::Settings;
use crate::config::upstream::UpstreamUrl;
use crate::domain::Timestamp;
use crate::store::Store;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

/// Why an agent's push did not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The agent is stopping: no new push starts.
    #[error("the agent is stopping; no new push starts")]
    Stopping,
    /// The push ran and failed.
    #[error(transparent)]
    Failed(#[from] UpstreamError),
}

/// The retry plan: failures in a row and when the loop tries again.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    failures: u32,
    next: Option<tokio::time::Instant>,
}

/// One push's outcome as the agent's notifications see it (the hook of
/// [`Pusher::on_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// Failures in a row after this push (0: it succeeded).
    pub failures: u32,
    /// Why it failed, in words (no secret: the upstream's errors are redacted).
    pub error: Option<String>,
    /// The upstream, password redacted.
    pub target: String,
}

/// What [`Pusher::on_outcome`] is given.
type OutcomeHook = Box<dyn Fn(PushOutcome) + Send + Sync>;

/// The agent's pusher (see the module's documentation).
pub struct Pusher {
    store: Store,
    url: UpstreamUrl,
    batch_rows: usize,
    raw_json: bool,
    backoff: Backoff,
    gate: tokio::sync::Mutex<()>,
    plan: Mutex<Plan>,
    /// Counts finished runs: the loop pushes when it moved since its last push started
    /// (a run that finished before a push started is covered by it; one that finished
    /// during a push gets another), unless backing off.
    synced: watch::Sender<u64>,
    /// The plan changed (a push's outcome): the loop looks at it again.
    replanned: Notify,
    stopping: AtomicBool,
    /// Told every push's outcome (the agent's notifications: a stalled upstream).
    outcome_hook: std::sync::OnceLock<OutcomeHook>,
}

impl Pusher {
    /// The agent's pusher, or `None` when no `upstream.url` is configured.
    pub fn from_settings(settings: &Settings, store: Store) -> Option<Arc<Self>> {
        let url = settings.upstream_url.value.clone()?;
        let backoff = Backoff::new(
            Duration::from_secs(settings.upstream_retry_min_seconds.value.into()),
            Duration::from_secs(settings.upstream_retry_max_seconds.value.into()),
        );
        Some(Arc::new(Self {
            store,
            url,
            batch_rows: settings.upstream_batch_rows.value as usize,
            raw_json: settings.upstream_push_raw_json.value,
            backoff,
            gate: tokio::sync::Mutex::new(()),
            plan: Mutex::new(Plan::default()),
            synced: watch::Sender::new(0),
            replanned: Notify::new(),
            stopping: AtomicBool::new(false),
            outcome_hook: std::sync::OnceLock::new(),
        }))
    }

    /// Calls `hook` with every push's outcome from now on (set once; a second hook is
    /// ignored). It must return at once: it runs inside the push.
    pub fn on_outcome(&self, hook: impl Fn(PushOutcome) + Send + Sync + 'static) {
        let _ = self.outcome_hook.set(Box::new(hook));
    }

    /// The upstream, password redacted.
    pub fn target(&self) -> &str {
        self.url.shown()
    }

    /// Pushes now (waiting for a push already running, never beside it) and replans the
    /// retries from its outcome.
    pub async fn push(&self, mode: super::PushMode) -> Result<PushReport, PushError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(PushError::Stopping);
        }
        let _held = self.gate.lock().await;
        if self.stopping.load(Ordering::SeqCst) {
            return Err(PushError::Stopping);
        }
        let options = PushOptions {
            batch_rows: self.batch_rows,
            raw_json: self.raw_json,
            full: mode.full,
            retry_rejected: mode.retry_rejected,
            verify: mode.verify,
        };
        let outcome = super::push(&self.store, &self.url, &options).await;
        let plan = {
            let Ok(mut plan) = self.plan.lock() else { return outcome.map_err(Into::into) };
            *plan = match &outcome {
                Ok(_) => Plan::default(),
                Err(_) => {
                    let failures = plan.failures.saturating_add(1);
                    let wait = self.backoff.delay(failures, backoff::jitter());
                    Plan { failures, next: Some(tokio::time::Instant::now() + wait) }
                }
            };
            *plan
        };
        let next_at = plan.next.map(|at| {
            let wait = at.saturating_duration_since(tokio::time::Instant::now());
            let millis = Timestamp::now().as_datetime().timestamp_millis();
            Timestamp::from_unix_millis(millis + wait.as_millis() as i64)
                .unwrap_or_else(Timestamp::now)
        });
        if let Err(e) = self.store.set_next_push_attempt(next_at).await {
            warn!("cannot record the next push attempt: {e}");
        }
        self.replanned.notify_one();
        if let Some(hook) = self.outcome_hook.get() {
            hook(PushOutcome {
                failures: plan.failures,
                error: outcome.as_ref().err().map(ToString::to_string),
                target: self.url.shown().to_owned(),
            });
        }
        Ok(outcome?)
    }

    /// A run finished: the loop pushes, unless it is backing off (the rows then wait for
    /// its next attempt). Returns at once.
    pub fn sync_finished(&self) {
        self.synced.send_modify(|runs| *runs = runs.wrapping_add(1));
    }

    /// The loop of the agent's push component: one push at start (what an earlier run
    /// left), then one after each finished run and, while pushes fail, one per backoff
    /// step; ends when `stop` turns true (a push under way is finished or, past the
    /// component's deadline, dropped: its unconfirmed batch is simply sent again later).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut synced = self.synced.subscribe();
        let mut due = true;
        loop {
            if !due {
                let next = self.plan.lock().map(|p| p.next).unwrap_or(None);
                enum Woke {
                    Stop,
                    Replan,
                    Due,
                }
                let woke = tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => Woke::Stop,
                    () = self.replanned.notified() => Woke::Replan,
                    _ = synced.changed(), if next.is_none() => Woke::Due,
                    () = sleep_until(next) => Woke::Due,
                };
                match woke {
                    Woke::Stop => break,
                    Woke::Replan => continue,
                    Woke::Due => {}
                }
            }
            due = false;
            if *stop.borrow() {
                break;
            }
            // The runs finished so far are covered by this push.
            synced.mark_unchanged();
            // A stop ends a push under way at once: its unconfirmed batch is sent again
            // later, and the agent's grace is left to the sync it drains.
            let pushed = tokio::select! {
                result = self.push(super::PushMode::default()) => result,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            match pushed {
                Ok(report) if report.rows_sent > 0 => info!(
                    rows = report.rows_sent,
                    target = %report.target,
                    "Pushed {} rows upstream in {} ms.",
                    report.rows_sent,
                    report.duration_ms
                ),
                Ok(_) => {}
                Err(PushError::Stopping) => break,
                Err(e) => {
                    let plan = self.plan.lock().map(|p| *p).unwrap_or_default();
                    let wait = plan
                        .next
                        .map(|at| at.saturating_duration_since(tokio::time::Instant::now()));
                    warn!(
                        failures = plan.failures,
                        "push failed ({e}); nothing is lost; next attempt in {} s",
                        wait.unwrap_or_default().as_secs()
                    );
                }
            }
        }
    }

    /// No new push starts from now on (at once, whatever the caller waits for next).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// No new push starts from now on; waits for one under way (an API push) and clears
    /// the planned attempt from the store.
    pub async fn stop(&self) {
        self.begin_stop();
        let _held = self.gate.lock().await;
        if let Err(e) = self.store.set_next_push_attempt(None).await {
            warn!("cannot clear the next push attempt: {e}");
        }
    }
}

/// Sleeps until `at`, forever when there is none.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
