//! The sync engine: the one place where vendors and the store meet.
//!
//! A run (plants or alerts) picks its vendors from the store, syncs them in parallel under
//! a concurrency limit, each in its own context span so a vendor's failure stays its own,
//! records every vendor's result and the run's summary in `sync_runs`, and returns the
//! summary in the original system's shape.
//!
//! # A vendor's success rule
//!
//! * Plants: the listing was complete (every page fetched) and every plant that decoded was
//!   stored. Unreadable rows are skipped, counted (`skippedRows`) and reported in `error`
//!   without failing the vendor, but they make the run `partial` (see
//!   [`SyncSummary::status`]). Plants missing from the listing are marked inactive only
//!   after a complete listing in which every row decoded (`plants.rs`).
//! * Alerts: the listing finished and every alert that decoded was stored.
//!
//! Success moves `last_synced_at` (or `last_alerts_synced_at`) and clears the error;
//! failure keeps the error and counts consecutive failures. A rejected login marks the
//! vendor as needing the user's action, and no run logs in to it again until its
//! credentials change. A refused static key (SolarEdge, Growatt) also needs the user's
//! action, but cannot lock the account: plant syncs probe it again with one call at a
//! growing backoff, and clear the vendor when it answers (`store::Parked`).

mod alerts;
mod facts;
mod history;
mod pacing;
mod plants;
mod progress;
mod quota;
mod tokens;

pub use history::HistorySettings;
pub use progress::{Progress, VendorFinished};

use crate::config::Settings;
use crate::domain::{
    RunKind, RunReport, RunRequest, RunStatus, SkipReason, SyncSummary, Timestamp, VendorId,
    VendorKind, VendorResult, text,
};
use crate::store::{
    NewRunVendor, Parked, RefusedCredential, Store, StoreError, SyncTarget, UpsertCounts,
    VendorOutcome,
};
use crate::vendors::{
    AccountTokens, Http, HttpSettings, PortalConcurrency, RetryPolicy, Session, SessionKey,
    VendorError,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{Instrument, info, info_span, warn};

/// Rows per upsert transaction (the original system's batch size).
pub const BATCH_SIZE: usize = 100;

/// Requests the probe of a refused static key may make: its first call answers whether
/// the key works; nothing more is spent on a key that may still be refused.
const KEY_PROBE_REQUESTS: u32 = 1;

/// The wall clock the engine decides by (key probes, quota days, call times); tests
/// inject one ([`Engine::with_clock`]) instead of sleeping for an hour.
pub type WallClock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Tuning of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// Vendors synced at once.
    pub concurrency: usize,
    /// A vendor's whole sync must finish within this.
    pub vendor_deadline: Duration,
    /// Requests one vendor may make in one run (logins and retries included). Per-plant
    /// calls stop short of it, so the listing is always stored.
    pub request_budget: u32,
    /// How far back the first alert sync of a vendor looks.
    pub alert_lookback: Duration,
    /// Overlap of consecutive alert windows, so late-arriving alerts are not missed.
    pub alert_overlap: Duration,
    /// HTTP timeouts and retries.
    pub http: HttpSettings,
    /// Whether the agent schedules plant syncs (`sync.enabled`): an alert sync that leaves
    /// a due key probe to the next plant sync says how that comes, when none is scheduled.
    pub scheduled_plant_syncs: bool,
    /// The energy history: whether syncs write it, the zone of plants without one, the
    /// backfill's reach and the samples' retention.
    pub history: HistorySettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            vendor_deadline: Duration::from_secs(600),
            request_budget: 20_000,
            alert_lookback: Duration::from_secs(72 * 3600),
            alert_overlap: Duration::from_secs(3600),
            http: HttpSettings::default(),
            scheduled_plant_syncs: true,
            history: HistorySettings::default(),
        }
    }
}

impl EngineSettings {
    /// The engine's tuning from the validated settings.
    pub fn from_settings(settings: &Settings) -> Self {
        // Unset portal limits keep the portals' defaults, which live in `vendors`.
        let mut portals = PortalConcurrency::default();
        for (kind, limit) in [
            (VendorKind::Solarman, settings.solarman_concurrency.value),
            (VendorKind::SolarEdge, settings.solaredge_concurrency.value),
            (VendorKind::Growatt, settings.growatt_concurrency.value),
        ] {
            if let Some(limit) = limit {
                portals = portals.with(kind, limit as usize);
            }
        }
        Self {
            concurrency: settings.sync_concurrency.value as usize,
            http: HttpSettings {
                request_timeout: Duration::from_secs(settings.request_timeout_seconds.value.into()),
                retry: RetryPolicy::default(),
                concurrency: portals,
                ..HttpSettings::default()
            },
            vendor_deadline: Duration::from_secs(settings.vendor_deadline_seconds.value.into()),
            alert_lookback: Duration::from_secs(
                u64::from(settings.alert_lookback_hours.value) * 3600,
            ),
            scheduled_plant_syncs: settings.sync_enabled.value,
            history: HistorySettings {
                enabled: settings.history_enabled.value,
                zone: crate::domain::PlantZone::Named(settings.timezone.value),
                backfill_days: settings.history_backfill_days.value,
                sample_retention_days: settings.history_sample_retention_days.value,
            },
            ..Self::default()
        }
    }
}

/// Why a run could not run at all (a vendor's failure is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Setup(String),
}

/// The outcome of one vendor inside a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct VendorRun {
    pub success: bool,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub total: u64,
    pub error: Option<String>,
    pub needs_user_action: bool,
    /// Not attempted at all, and why.
    pub skipped: Option<SkipReason>,
    /// Succeeded, but some plants were left for the next run: the last sync time stays.
    pub in_part: bool,
    /// Listed rows that did not decode (not stored; the run is `partial`).
    pub skipped_rows: u64,
    /// Listed rows that repeated one already listed (stored once).
    pub duplicate_rows: u64,
    /// Failed only because the request budget stopped the listing before a later page
    /// ([`crate::vendors::PlantListing::stopped_by_budget`]), and every decoded row was
    /// stored: what a key probe's one request leaves undone, not a failure of the key.
    pub left_to_budget: bool,
}

impl VendorRun {
    fn failed(error: &VendorError) -> Self {
        Self {
            error: Some(text::excerpt(&error.to_string(), text::ERROR_CHARS)),
            needs_user_action: error.needs_user_action(),
            ..Self::default()
        }
    }
}

/// The sync engine. Cheap to share behind an `Arc`.
pub struct Engine {
    store: Store,
    http: Http,
    settings: EngineSettings,
    /// Token state per account, shared by every run of this process: its lock keeps two
    /// runs from logging in to one account at once. The entries of one vendor (its old and
    /// new credentials) share one concurrency limit.
    accounts: Mutex<HashMap<SessionKey, Arc<AccountTokens>>>,
    clock: WallClock,
    /// The pruning of old power samples a plant run started, while it runs.
    pruning: Mutex<Option<tokio::task::JoinHandle<u64>>>,
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Store, settings: EngineSettings) -> Result<Arc<Self>, SyncError> {
        Self::with_clock(store, settings, Arc::new(Timestamp::now))
    }

    /// An engine over `store` that reads the time from `clock`.
    pub fn with_clock(
        store: Store,
        settings: EngineSettings,
        clock: WallClock,
    ) -> Result<Arc<Self>, SyncError> {
        let http = Http::new(settings.http.clone()).map_err(|e| SyncError::Setup(e.to_string()))?;
        let accounts = Mutex::new(HashMap::new());
        Ok(Arc::new(Self { store, http, settings, accounts, clock, pruning: Mutex::new(None) }))
    }

    fn account_tokens(&self, target: &SyncTarget) -> Arc<AccountTokens> {
        let vendor_id = target.vendor.id;
        let key = SessionKey { vendor_id, fingerprint: fingerprint(target) };
        let mut accounts = self.accounts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(account) = accounts.get(&key) {
            return Arc::clone(account);
        }
        // New credentials get a fresh token state but keep the vendor's concurrency limit:
        // what was learnt about the portal still holds, and a run with the old key may
        // still be in flight, so the two must not reach twice the limit between them.
        let limit = accounts
            .iter()
            .find(|(known, _)| known.vendor_id == vendor_id)
            .map_or_else(Arc::default, |(_, account)| account.limit());
        let store = Arc::new(tokens::StoreTokens::new(self.store.clone(), vendor_id));
        let account = AccountTokens::new(store, limit);
        accounts.insert(key, Arc::clone(&account));
        account
    }

    /// The adapter of the target's portal, with its credentials and base URL.
    fn client(
        &self,
        target: &SyncTarget,
    ) -> Result<Box<dyn crate::vendors::VendorClient>, VendorError> {
        let vendor = &target.vendor;
        crate::vendors::build(
            vendor.kind,
            vendor.base_url.as_deref(),
            target.credentials.clone(),
            self.http.clone(),
        )
    }

    fn session(&self, target: &SyncTarget) -> Session {
        // Optional per-plant work stops at three quarters of the deadline, leaving time to
        // store what was listed.
        let soft = tokio::time::Instant::now() + self.settings.vendor_deadline.mul_f64(0.75);
        let budget =
            if target.key_probe { KEY_PROBE_REQUESTS } else { self.settings.request_budget };
        let mut session = Session::new(self.account_tokens(target), self.http.clone(), budget)
            .with_soft_deadline(soft)
            .with_sync_interval(Duration::from_secs(u64::from(target.interval_minutes) * 60));
        // Minimum intervals are per account (host and login): calls of other processes
        // count too.
        if let Some(login) = target.credentials.username.as_deref() {
            let host = target.vendor.base_url.as_deref().unwrap_or_default();
            let log =
                pacing::StoreCallLog::new(self.store.clone(), host, login, self.clock.clone());
            session = session.with_call_log(Arc::new(log));
        }
        match crate::vendors::daily_request_limit(target.vendor.kind) {
            Some(limit) => session.with_daily_quota(Arc::new(quota::StoreQuota::new(
                self.store.clone(),
                target.vendor.id,
                &target.credentials,
                limit,
                self.clock.clone(),
            ))),
            None => session,
        }
    }

    /// Runs the requested sync and records it; `progress` follows it as it goes.
    ///
    /// The request's vendors were resolved when it was made; they are read again here, so a
    /// vendor disabled or moved out of auto-sync in between is reported as not synced (its
    /// result says so) rather than synced against the user's last word.
    pub async fn run(
        self: &Arc<Self>,
        request: &RunRequest,
        progress: Arc<Progress>,
    ) -> Result<RunReport, SyncError> {
        let started = Instant::now();
        let kind = request.kind;
        let run_id = self.store.start_run(request).await?;
        let (targets, gone) = match self.store.sync_targets(request).await {
            Ok(found) => found,
            Err(error) => {
                let message = format!("could not read the vendors to sync: {error}");
                self.store
                    .finish_run(run_id, RunStatus::Failed, Some(message), vec![], None)
                    .await?;
                return Err(error.into());
            }
        };
        info!(run = %run_id, vendors = targets.len(), "starting {kind} sync");
        progress.start(targets.len() + gone.len());

        let semaphore = Arc::new(tokio::sync::Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut spawned: HashMap<tokio::task::Id, (usize, SyncTarget)> = HashMap::new();
        let total = targets.len();
        for (index, target) in targets.into_iter().enumerate() {
            let kept = target.clone();
            let engine = Arc::clone(self);
            let semaphore = Arc::clone(&semaphore);
            let progress = Arc::clone(&progress);
            let span = info_span!(
                "vendor",
                vendor = %target.vendor.id,
                org = target.vendor.org_id.map(|o| o.to_string()).unwrap_or_default(),
                operation = format!("sync-{kind}-vendor-{}", target.vendor.id),
            );
            let task = tasks.spawn(
                async move {
                    let _permit = semaphore.acquire_owned().await;
                    let started = Instant::now();
                    let run = engine.sync_vendor(kind, &target, &progress).await;
                    (index, target, run, started.elapsed())
                }
                .instrument(span),
            );
            spawned.insert(task.id(), (index, kept));
        }

        let mut finished: Vec<(usize, NewRunVendor, VendorResult)> = Vec::with_capacity(total);
        let mut skipped: Vec<(VendorId, SkipReason)> = Vec::new();
        while let Some(joined) = tasks.join_next_with_id().await {
            let (index, target, run, elapsed) = match joined {
                Ok((_, done)) => done,
                Err(error) => {
                    // A panic inside one vendor's task (a bug): the others go on, and the
                    // vendor is reported failed so every request hears about it.
                    warn!("a vendor task ended abnormally: {error}");
                    let Some((index, target)) = spawned.remove(&error.id()) else { continue };
                    let run = VendorRun::failed(&VendorError::Permanent(
                        "its sync ended abnormally (a bug; the log has the details)".into(),
                    ));
                    let outcome = VendorOutcome::Failed {
                        error: run.error.clone().unwrap_or_default(),
                        needs_user_action: false,
                    };
                    if let Err(e) =
                        self.store.record_vendor_outcome(target.vendor.id, kind, outcome).await
                    {
                        warn!("could not record the vendor's outcome: {e}");
                    }
                    (index, target, run, Duration::ZERO)
                }
            };
            let (row, result) = to_results(&target, &run, elapsed);
            progress.finished(&result);
            skipped.extend(run.skipped.map(|reason| (target.vendor.id, reason)));
            finished.push((index, row, result));
        }
        finished.sort_by_key(|(index, _, _)| *index);
        let lost = total - finished.len();
        let (mut rows, mut results): (Vec<_>, Vec<_>) =
            finished.into_iter().map(|(_, row, result)| (row, result)).unzip();
        for (id, vendor) in gone {
            let (row, result) = no_longer_eligible(id, vendor.as_ref());
            progress.finished(&result);
            skipped.push((id, SkipReason::NoLongerEligible));
            rows.push(row);
            results.push(result);
        }

        let summary =
            SyncSummary::from_results(kind, results, started.elapsed().as_millis() as u64);
        let status = summary.status(lost as u64);
        let summary_json = serde_json::to_value(&summary).ok();
        self.store.finish_run(run_id, status, None, rows, summary_json).await?;
        info!(
            run = %run_id,
            "{kind} sync complete: {}/{} vendors successful, {} synced in {}ms",
            summary.successful, summary.total_vendors, summary.total_synced, summary.duration
        );
        if kind == RunKind::Plants && self.settings.history.enabled {
            self.start_pruning();
        }
        Ok(RunReport { run_id, status, summary, skipped })
    }

    /// Starts pruning old power samples in the background, unless a pruning still runs: the
    /// run that wrote them has already been recorded, and never waits on it.
    fn start_pruning(self: &Arc<Self>) {
        let mut pruning = self.pruning.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pruning.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let engine = Arc::clone(self);
        *pruning = Some(tokio::spawn(async move { engine.prune_power_samples().await }));
    }

    /// Waits for background work a run started (the pruning of old power samples), so a
    /// process about to exit leaves none cut short. Returns the samples it deleted.
    pub async fn settle(&self) -> u64 {
        let task = self.pruning.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match task {
            Some(task) => task.await.unwrap_or(0),
            None => 0,
        }
    }

    /// One vendor: skips vendors waiting for new credentials, enforces the deadline, records
    /// the outcome on the vendor.
    async fn sync_vendor(
        &self,
        kind: RunKind,
        target: &SyncTarget,
        progress: &Progress,
    ) -> VendorRun {
        let vendor = &target.vendor;
        let started_at = Timestamp::now();
        let parked = match vendor.needs_user_action {
            true => Some(self.parked(kind, vendor).await),
            false => None,
        };
        let mut run = match parked {
            // A secret the keyring could not give: no call can work without it, and the
            // portal never refused it, so the vendor fails with what to do, not parked. (A
            // vendor parked for a refusal stays parked: its refusal is what to fix.)
            None | Some(Parked::Probe) if !target.unreadable_secrets.is_empty() => VendorRun {
                error: Some(target.unreadable_secrets.join("; ")),
                ..VendorRun::default()
            },
            None => self.attempt(kind, target, started_at, progress).await,
            Some(Parked::Probe) => self.probe_key(target, started_at, progress).await,
            Some(waiting) => not_attempted(vendor, waiting, self.settings.scheduled_plant_syncs),
        };
        if run.needs_user_action
            && run.skipped.is_none()
            && RefusedCredential::of(vendor.kind) == RefusedCredential::StaticKey
        {
            // A refused key is probed again later; a refused password never is.
            let first = !vendor.needs_user_action;
            match self.store.record_key_refusal(vendor.id, first, (self.clock)()).await {
                Ok(probe) => info!(
                    refusals = probe.refusals,
                    "the API key was refused; probed again after {}", probe.next_probe_at
                ),
                Err(e) => {
                    warn!("could not schedule the key's probe: {e}");
                    run.error = run.error.map(|e| format!("{e} (and its probe was not scheduled)"));
                }
            }
        }
        if run.needs_user_action
            && run.skipped.is_none()
            && let Err(e) = self.store.clear_token(vendor.id).await
        {
            warn!("could not clear the rejected token: {e}");
        }
        let outcome = if run.skipped.is_some() {
            VendorOutcome::NotAttempted
        } else if run.success && run.in_part {
            VendorOutcome::SucceededInPart
        } else if run.success {
            VendorOutcome::Succeeded { at: started_at }
        } else {
            VendorOutcome::Failed {
                error: text::excerpt(run.error.as_deref().unwrap_or("failed"), text::ERROR_CHARS),
                needs_user_action: run.needs_user_action,
            }
        };
        if let Err(e) = self.store.record_vendor_outcome(vendor.id, kind, outcome).await {
            warn!("could not record the vendor's outcome: {e}");
        }
        if run.success {
            info!(
                "vendor {}: {}/{} {kind} synced ({} created, {} updated, {} unchanged)",
                vendor.name,
                run.created + run.updated + run.unchanged,
                run.total,
                run.created,
                run.updated,
                run.unchanged
            );
        } else {
            warn!(
                "vendor {} failed: {}",
                vendor.name,
                run.error.as_deref().unwrap_or("unknown error")
            );
        }
        run
    }
}

impl Engine {
    /// The vendor's sync, bounded by the vendor deadline.
    async fn attempt(
        &self,
        kind: RunKind,
        target: &SyncTarget,
        started_at: Timestamp,
        progress: &Progress,
    ) -> VendorRun {
        self.load_facts(target).await;
        let work = async {
            match kind {
                RunKind::Plants => plants::sync(self, target, progress).await,
                RunKind::Alerts => alerts::sync(self, target, started_at, progress).await,
            }
        };
        let run = match tokio::time::timeout(self.settings.vendor_deadline, work).await {
            Ok(run) => run,
            Err(_) => VendorRun::failed(&VendorError::Transient(format!(
                "did not finish within the vendor deadline of {}s",
                self.settings.vendor_deadline.as_secs()
            ))),
        };
        // Also after the deadline: what was learnt before it still holds.
        self.save_facts(target).await;
        run
    }

    /// What a run does with a vendor parked for refused credentials ([`Parked::decide`]).
    /// Plant syncs claim a due probe; alert syncs leave it to them (a Growatt alert sync
    /// makes no call that could answer it), so they wait either way: for the probe's time,
    /// or, when it is due, for the next plant sync ([`Parked::ProbeByPlantSync`]).
    async fn parked(&self, kind: RunKind, vendor: &crate::domain::Vendor) -> Parked {
        let now = (self.clock)();
        let decided = match kind {
            RunKind::Plants => self.store.claim_key_probe(vendor.id, vendor.kind, now).await,
            RunKind::Alerts => self.store.key_probe(vendor.id).await.map(|probe| {
                match Parked::decide(vendor.kind, probe.as_ref(), now) {
                    Parked::Probe => Parked::ProbeByPlantSync,
                    other => other,
                }
            }),
        };
        decided.unwrap_or_else(|e| {
            warn!("could not read the key's probe ({e}); not trying the vendor");
            Parked::ForTheUser
        })
    }

    /// The one-call probe of a refused static key: the vendor's plant sync with a budget
    /// of one request. The key is accepted when the portal answered a call with it (its
    /// parked state is then cleared, whatever else the run did). The run is a success in
    /// part only when what it left undone is what the one request could not do (page 2 of
    /// a longer listing: [`VendorRun::left_to_budget`]), which the full sync of the next
    /// run does; counting that as a failure would bump the count just as the vendor
    /// recovers. Any other failure (a body that did not decode, a store write that
    /// failed) stays the run's failure with its own error: the key works, the sync did
    /// not. Refused again, the caller schedules the next probe; unanswered (an outage), it
    /// stays parked until the probe already claimed for later.
    async fn probe_key(
        &self,
        target: &SyncTarget,
        started_at: Timestamp,
        progress: &Progress,
    ) -> VendorRun {
        let probing = SyncTarget { key_probe: true, ..target.clone() };
        let account = self.account_tokens(&probing);
        let answered_before = account.calls_answered();
        let mut run = self.attempt(RunKind::Plants, &probing, started_at, progress).await;
        if run.needs_user_action {
            return run;
        }
        let vendor = &target.vendor;
        if account.calls_answered() > answered_before {
            match self.store.key_accepted(vendor.id).await {
                Ok(()) => info!("the refused API key works again; the vendor is cleared"),
                Err(e) => warn!("could not clear the vendor after its key worked: {e}"),
            }
            if !run.success {
                let left = run.error.take().unwrap_or_else(|| "not all of it was read".into());
                run.error = Some(if run.left_to_budget {
                    run.success = true;
                    run.in_part = true;
                    format!(
                        "the refused API key works again; its probe made one call, and the full \
                         sync follows at the next run ({left})"
                    )
                } else {
                    format!("the refused API key works again, but its probe's sync failed: {left}")
                });
            }
        } else {
            let why = run.error.take().unwrap_or_else(|| "no answer".into());
            run.success = false;
            run.error = Some(format!(
                "the refused API key was tried again but the portal did not answer ({why}); \
                 it stays waiting for the next probe"
            ));
        }
        run
    }
}

/// The run of a parked vendor that is not tried: its stored error stays the refusal that
/// parked it (see `VendorOutcome::NotAttempted`), the run's says why and what to do. A
/// probe left to the next plant sync says how that comes when the agent schedules none
/// (`scheduled_plant_syncs` false): by `plantsync sync plants`.
fn not_attempted(
    vendor: &crate::domain::Vendor,
    parked: Parked,
    scheduled_plant_syncs: bool,
) -> VendorRun {
    let cause = text::excerpt(vendor.last_error.as_deref().unwrap_or("no detail"), 500);
    let (name, flag, id) = (vendor.kind.display_name(), vendor.kind.secret_flag(), vendor.id);
    let message = match parked {
        Parked::WaitUntil(at) => format!(
            "not attempted: {name} refused the API key earlier ({cause}); plantsync tries it \
             again with one call after {at}, or update it with `plantsync vendor set {id} {flag}`"
        ),
        Parked::ProbeByPlantSync if scheduled_plant_syncs => format!(
            "not attempted: {name} refused the API key earlier ({cause}); the next plant sync \
             tries it again with one call, or update it with `plantsync vendor set {id} {flag}`"
        ),
        Parked::ProbeByPlantSync => format!(
            "not attempted: {name} refused the API key earlier ({cause}); a plant sync tries \
             it again with one call, and none is scheduled (`sync.enabled` is off): run \
             `plantsync sync plants`, or update the key with `plantsync vendor set {id} {flag}`"
        ),
        _ => format!(
            "not attempted: {name} rejected the credentials earlier ({cause}); update them with \
             `plantsync vendor set {id} {flag}`"
        ),
    };
    VendorRun {
        error: Some(message),
        needs_user_action: true,
        skipped: Some(SkipReason::CredentialsRejected),
        ..VendorRun::default()
    }
}

/// The result of a requested vendor that the run no longer takes (`vendor`: as it is now,
/// unless it was removed).
fn no_longer_eligible(
    id: VendorId,
    vendor: Option<&crate::domain::Vendor>,
) -> (NewRunVendor, VendorResult) {
    let error = match vendor {
        Some(_) => {
            "not synced: since the request it was disabled, detached from its \
                    organization, or its organization's auto-sync was turned off"
        }
        None => "not synced: it was removed after the request",
    }
    .to_owned();
    let row = NewRunVendor {
        vendor_id: id,
        vendor_name: vendor.map_or_else(|| format!("vendor {id}"), |v| v.name.clone()),
        org_id: vendor.and_then(|v| v.org_id),
        org_name: vendor.and_then(|v| v.org_name.clone()),
        success: false,
        created: 0,
        updated: 0,
        unchanged: 0,
        total: 0,
        error: Some(error.clone()),
        duration_ms: 0,
    };
    let result = VendorResult {
        vendor_id: id,
        vendor_name: row.vendor_name.clone(),
        org_id: row.org_id,
        org_name: row.org_name.clone(),
        success: false,
        synced: 0,
        created: 0,
        updated: 0,
        total: 0,
        error: Some(error),
        skipped_rows: 0,
        duplicate_rows: 0,
    };
    (row, result)
}

/// A hash of what identifies the account, so changed credentials get a fresh token state.
fn fingerprint(target: &SyncTarget) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let c = &target.credentials;
    target.vendor.kind.hash(&mut hasher);
    target.vendor.base_url.hash(&mut hasher);
    c.username.hash(&mut hasher);
    c.app_id.hash(&mut hasher);
    c.company_id.hash(&mut hasher);
    target.credentials_entered_at.hash(&mut hasher);
    for secret in [&c.password, &c.app_secret, &c.api_key] {
        secret.as_ref().map(|s| s.expose()).hash(&mut hasher);
    }
    hasher.finish()
}

fn to_results(
    target: &SyncTarget,
    run: &VendorRun,
    elapsed: Duration,
) -> (NewRunVendor, VendorResult) {
    let vendor = &target.vendor;
    let synced = run.created + run.updated + run.unchanged;
    // The one bound every vendor error passes on its way to the record and the answer,
    // whatever was added to it after the vendor's own sync (probe notes, causes).
    let error = run.error.as_deref().map(|e| text::excerpt(e, text::ERROR_CHARS));
    let row = NewRunVendor {
        vendor_id: vendor.id,
        vendor_name: vendor.name.clone(),
        org_id: vendor.org_id,
        org_name: vendor.org_name.clone(),
        success: run.success,
        created: run.created,
        updated: run.updated,
        unchanged: run.unchanged,
        total: run.total,
        error: error.clone(),
        duration_ms: elapsed.as_millis() as u64,
    };
    let result = VendorResult {
        vendor_id: vendor.id,
        vendor_name: vendor.name.clone(),
        org_id: vendor.org_id,
        org_name: vendor.org_name.clone(),
        success: run.success,
        synced,
        created: run.created,
        updated: run.updated,
        total: run.total,
        error,
        skipped_rows: run.skipped_rows,
        duplicate_rows: run.duplicate_rows,
    };
    (row, result)
}

/// Stores `rows` in transactions of [`BATCH_SIZE`] through `upsert`; a batch that fails is
/// retried row by row, so one bad row never loses its neighbours. Counts go to `run`, rows
/// that could not be stored (named by `key`) to `not_stored`.
pub(crate) async fn store_in_batches<T, F, Fut>(
    rows: Vec<T>,
    key: impl Fn(&T) -> String,
    upsert: F,
    run: &mut VendorRun,
    not_stored: &mut Vec<String>,
    progress: &Progress,
) where
    T: Clone,
    F: Fn(Arc<[T]>) -> Fut,
    Fut: std::future::Future<Output = Result<UpsertCounts, StoreError>>,
{
    let mut add = |counts: UpsertCounts| {
        run.created += counts.created;
        run.updated += counts.updated;
        run.unchanged += counts.unchanged;
        progress.stored(counts.created + counts.updated + counts.unchanged);
    };
    // Batches are shared, not copied: the fallback below reads the same rows again.
    let mut rows = rows.into_iter();
    loop {
        let batch: Arc<[T]> = rows.by_ref().take(BATCH_SIZE).collect();
        if batch.is_empty() {
            break;
        }
        match upsert(Arc::clone(&batch)).await {
            Ok(counts) => add(counts),
            Err(batch_error) => {
                warn!(rows = batch.len(), "batch failed ({batch_error}); retrying row by row");
                for row in batch.iter() {
                    match upsert(Arc::from(vec![row.clone()])).await {
                        Ok(counts) => add(counts),
                        Err(error) => not_stored.push(format!("{}: {error}", key(row))),
                    }
                }
            }
        }
    }
}

/// Records the runs a dead process left `running` as interrupted. Call it right after
/// taking the data dir's lock (agent or CLI sync): while it is held nothing else syncs this
/// database, so every run still `running` belongs to a process that died.
pub async fn recover_unfinished_runs(store: &Store) -> Result<u64, StoreError> {
    let runs = store
        .mark_running_runs_interrupted("the process running it stopped before it finished")
        .await?
        .len() as u64;
    if runs > 0 {
        warn!(runs, "runs left unfinished by a process that stopped were marked interrupted");
    }
    Ok(runs)
}

/// Joins up to three messages and says how many more there were.
pub(crate) fn first_few(what: &str, items: &[String]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let shown: Vec<String> =
        items.iter().take(3).map(|item| text::excerpt(item, text::ERROR_PART_CHARS)).collect();
    let more = items.len().saturating_sub(3);
    let tail = if more > 0 { format!(" (and {more} more)") } else { String::new() };
    Some(format!("{} {what}: {}{tail}", items.len(), shown.join("; ")))
}

/// A vendor's problems as its one stored error, bounded ([`text::ERROR_CHARS`]): whatever
/// a portal's reply put in them, a run's error stays short and printable.
pub(crate) fn error_of(problems: &[String]) -> Option<String> {
    (!problems.is_empty()).then(|| text::excerpt(&problems.join("; "), text::ERROR_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_reach_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = crate::config::Inputs {
            default_data_dir: Some(dir.path().to_path_buf()),
            env: [
                ("PLANTSYNC_PORTALS_SOLARMAN_CONCURRENCY".to_owned(), "3".to_owned()),
                ("PLANTSYNC_SYNC_CONCURRENCY".to_owned(), "40".to_owned()),
                ("PLANTSYNC_SYNC_ENABLED".to_owned(), "false".to_owned()),
            ]
            .into(),
            ..Default::default()
        };
        let engine =
            EngineSettings::from_settings(&crate::config::Settings::resolve(&inputs).unwrap());
        assert_eq!(engine.concurrency, 40);
        assert!(!engine.scheduled_plant_syncs, "sync.enabled is off");
        assert_eq!(engine.http.concurrency.get(VendorKind::Solarman), 3);
        let defaults = PortalConcurrency::default();
        for kind in [VendorKind::Growatt, VendorKind::SolarEdge, VendorKind::Sungrow] {
            assert_eq!(engine.http.concurrency.get(kind), defaults.get(kind), "{kind}: unset");
        }
    }
    use crate::domain::{Credentials, NewOrganization, NewVendor, VendorKind};
    use crate::store::test_support::temp_store;

    /// The session of a vendor carries what its adapter plans with: the organization's
    /// interval, and a daily quota where the portal has one.
    #[tokio::test]
    async fn sessions_carry_the_interval_and_the_quota() {
        let (_dir, store) = temp_store();
        let org = store
            .add_org(NewOrganization {
                name: "Every 5".into(),
                auto_sync_enabled: true,
                sync_interval_minutes: 5,
            })
            .await
            .unwrap();
        for (name, kind) in [("edge", VendorKind::SolarEdge), ("sun", VendorKind::Sungrow)] {
            let vendor = NewVendor {
                name: name.into(),
                kind,
                org_id: Some(org.id),
                base_url: None,
                is_active: true,
            };
            store.add_vendor(vendor, Credentials::default()).await.unwrap();
        }
        let engine = Engine::new(store.clone(), EngineSettings::default()).unwrap();
        let request = RunRequest::new(
            RunKind::Plants,
            crate::domain::RunSource::User,
            false,
            [VendorId(1), VendorId(2)],
        );
        let (targets, _) = store.sync_targets(&request).await.unwrap();
        let edge = engine.session(&targets[0]);
        assert_eq!(edge.sync_interval(), Some(Duration::from_secs(300)));
        assert_eq!(edge.daily_limit(), Some(300));
        assert_eq!(edge.daily_remaining().await, Some(300));
        let sun = engine.session(&targets[1]);
        assert_eq!(sun.daily_limit(), None, "Sungrow has no daily quota");
    }
}
