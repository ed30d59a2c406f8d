//! Single flight of one kind that respects the selection: at most one run of a kind at a
//! time; a request whose vendors are all in the running run joins it, any other waits for
//! it to end and then runs its own. Either way every request is answered about its own
//! vendors, never with someone else's run.
//!
//! # Design
//!
//! The state is a plain mutex held for a few instructions, never across an await, so the
//! guard that ends a flight can clear it even while a panic unwinds. The end of a run is
//! broadcast to everyone who subscribed while it ran; a request that had to wait loops and
//! looks again, so when several wait, one starts and the others join it or wait again.

use super::RunError;
use crate::domain::{ProgressSnapshot, RunReport, RunRequest, RunSource, Timestamp};
use crate::sync::Progress;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// The result every request served by one run receives (before narrowing to its vendors).
pub type Shared = Arc<Result<RunReport, RunError>>;

/// How a request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// Nothing was running: this request's run.
    Started,
    /// A run covering every vendor of the request was going: it joined that one.
    Joined,
    /// A run of other vendors was going: it waited for it, then ran its own.
    Queued,
}

/// The run going on, as status displays see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentRun {
    /// Who asked for it.
    pub source: RunSource,
    /// How many vendors it syncs.
    pub vendors: u64,
    /// When it started.
    pub started_at: Timestamp,
    /// How far it has got.
    pub progress: ProgressSnapshot,
}

struct InFlight {
    request: RunRequest,
    progress: Arc<Progress>,
    started_at: Timestamp,
    done: broadcast::Sender<Shared>,
}

/// One kind's flight.
pub struct Flight {
    running: Mutex<Option<InFlight>>,
    busy: watch::Sender<bool>,
    /// Requests waiting for the running run (to join it, or to run after it).
    waiting: AtomicU64,
}

impl Default for Flight {
    fn default() -> Self {
        Self {
            running: Mutex::new(None),
            busy: watch::channel(false).0,
            waiting: AtomicU64::new(0),
        }
    }
}

/// Counts a request as waiting while it lives.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ends the flight when the run ends, however it ends (a panic included): joiners then get
/// an error instead of waiting forever, and the next request can start.
struct EndOfFlight<'a>(&'a Flight);

impl Drop for EndOfFlight<'_> {
    fn drop(&mut self) {
        // Slot and signal change together, under the lock `look` holds when it fills the
        // slot, so `idle` can never see "not busy" while a run is starting.
        let mut running = self.0.lock();
        running.take();
        self.0.busy.send_replace(false);
    }
}

/// What a request found when it looked.
enum Found {
    /// Nothing running: it is now ours.
    Free(broadcast::Sender<Shared>, Arc<Progress>),
    /// Nothing running, and no new run may start (the agent is stopping).
    Refused,
    /// Covered by the running run: wait for its result.
    Covered(broadcast::Receiver<Shared>),
    /// Another run: wait for its end, then look again.
    Other(broadcast::Receiver<Shared>),
}

impl Flight {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<InFlight>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a run is going.
    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// The vendors of the running run, sorted.
    pub fn running_vendors(&self) -> Option<Vec<crate::domain::VendorId>> {
        self.lock().as_ref().map(|r| r.request.vendors().to_vec())
    }

    /// The running run, for status.
    pub fn current(&self) -> Option<CurrentRun> {
        self.lock().as_ref().map(|r| CurrentRun {
            source: r.request.source,
            vendors: r.request.vendors().len() as u64,
            started_at: r.started_at,
            progress: r.progress.snapshot(),
        })
    }

    /// Requests waiting for the running run: to join it, or to run their own after it.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Resolves once no run is going.
    pub async fn idle(&self) {
        let mut busy = self.busy.subscribe();
        loop {
            // Looked at under the lock: a run is either already in the slot, or it will
            // see `stopping` there and never start.
            if self.lock().is_none() {
                return;
            }
            if busy.changed().await.is_err() {
                return;
            }
        }
    }

    /// Looks at the slot; `stopping` is asked under the lock, so a run either starts before
    /// a stop is decided (and `idle` waits for it) or not at all. An empty request never
    /// joins: there is nothing to answer it with but someone else's run.
    fn look(&self, request: &RunRequest, stopping: &impl Fn() -> bool) -> Found {
        let mut running = self.lock();
        match running.as_ref() {
            Some(current) if !request.vendors().is_empty() && current.request.covers(request) => {
                Found::Covered(current.done.subscribe())
            }
            // Stopping: a request the running run covers still gets its answer; any other
            // is refused at once rather than kept waiting for a run it will never get.
            _ if stopping() => Found::Refused,
            Some(current) => Found::Other(current.done.subscribe()),
            None => {
                let (done, _) = broadcast::channel(1);
                let progress = Arc::new(Progress::default());
                *running = Some(InFlight {
                    request: request.clone(),
                    progress: Arc::clone(&progress),
                    started_at: Timestamp::now(),
                    done: done.clone(),
                });
                self.busy.send_replace(true);
                Found::Free(done, progress)
            }
        }
    }

    /// Serves `request`: joins the running run if it covers the request, else waits for it
    /// and runs `work` (given the request and its progress counters). `stopping` is asked
    /// before each start, so a stopping agent starts nothing new. The result is about the
    /// request's vendors only.
    pub async fn run<F, Fut>(
        &self,
        request: RunRequest,
        stopping: impl Fn() -> bool,
        work: F,
    ) -> (Served, Shared)
    where
        F: FnOnce(RunRequest, Arc<Progress>) -> Fut,
        Fut: Future<Output = Result<RunReport, RunError>>,
    {
        let mut waited = false;
        let (done, progress) = loop {
            match self.look(&request, &stopping) {
                Found::Free(done, progress) => break (done, progress),
                Found::Refused => return (Served::Started, Arc::new(Err(RunError::Stopping))),
                Found::Covered(mut receiver) => {
                    let waiting = Waiting::new(&self.waiting);
                    let shared = receiver.recv().await.unwrap_or_else(|_| {
                        Arc::new(Err(RunError::Aborted(
                            "the running sync ended without a result".into(),
                        )))
                    });
                    drop(waiting);
                    let mine = match shared.as_ref() {
                        Ok(report) => Ok(report.only(request.vendors())),
                        Err(error) => Err(error.clone()),
                    };
                    return (Served::Joined, Arc::new(mine));
                }
                Found::Other(mut receiver) => {
                    waited = true;
                    let _waiting = Waiting::new(&self.waiting);
                    // Its end (or its sender dropped by a panic): look again either way.
                    let _ = receiver.recv().await;
                }
            }
        };
        let end = EndOfFlight(self);
        let result: Shared = Arc::new(work(request, progress).await);
        drop(end);
        let _ = done.send(Arc::clone(&result));
        (if waited { Served::Queued } else { Served::Started }, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RunId, RunKind, RunStatus, SyncSummary, VendorId, VendorResult};
    use std::time::Duration;

    fn request(vendors: &[i64]) -> RunRequest {
        RunRequest::new(RunKind::Plants, RunSource::Api, true, vendors.iter().map(|v| VendorId(*v)))
    }

    /// A run that lasts `secs` and reports every vendor of its request as synced.
    async fn fake_run(request: RunRequest, secs: u64, id: i64) -> Result<RunReport, RunError> {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let results = request
            .vendors()
            .iter()
            .map(|v| VendorResult {
                vendor_id: *v,
                vendor_name: format!("v{v}"),
                org_id: None,
                org_name: None,
                success: true,
                synced: 1,
                created: 1,
                updated: 0,
                total: 1,
                error: None,
                skipped_rows: 0,
                duplicate_rows: 0,
            })
            .collect();
        Ok(RunReport {
            run_id: RunId(id),
            status: RunStatus::Ok,
            summary: SyncSummary::from_results(RunKind::Plants, results, 0),
            skipped: vec![],
        })
    }

    fn vendors_of(shared: &Shared) -> Vec<VendorId> {
        let report = shared.as_ref().as_ref().unwrap();
        report.summary.results.iter().map(|r| r.vendor_id).collect()
    }

    #[tokio::test]
    async fn a_panicking_run_does_not_leave_the_flight_stuck() {
        let flight = Arc::new(Flight::default());
        let panicking = Arc::clone(&flight);
        let task = tokio::spawn(async move {
            panicking.run(request(&[1]), || false, |_, _| async { panic!("boom") }).await;
        });
        assert!(task.await.is_err());
        assert!(!flight.is_running());
        let (served, result) = flight
            .run(request(&[1]), || false, |_, _| async { Err(RunError::Failed("second".into())) })
            .await;
        assert_eq!(served, Served::Started);
        assert_eq!(result.as_ref().as_ref().unwrap_err(), &RunError::Failed("second".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_covered_request_joins_and_gets_only_its_own_vendors() {
        let flight = Arc::new(Flight::default());
        let wide = Arc::clone(&flight);
        let first = tokio::spawn(async move {
            wide.run(request(&[1, 2, 3]), || false, |r, _| fake_run(r, 60, 1)).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(flight.current().map(|c| c.vendors), Some(3));
        let (served, narrow) = flight
            .run(request(&[2]), || false, |_, _| async { panic!("must not start a run") })
            .await;
        assert_eq!(served, Served::Joined);
        assert_eq!(narrow.as_ref().as_ref().unwrap().run_id, RunId(1));
        assert_eq!(vendors_of(&narrow), [VendorId(2)], "only the vendor it asked about");
        let (served, all) = first.await.unwrap();
        assert_eq!(served, Served::Started);
        assert_eq!(vendors_of(&all), [VendorId(1), VendorId(2), VendorId(3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_for_other_vendors_waits_and_runs_its_own() {
        let flight = Arc::new(Flight::default());
        let narrow = Arc::clone(&flight);
        let first = tokio::spawn(async move {
            narrow.run(request(&[1]), || false, |r, _| fake_run(r, 60, 1)).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = tokio::time::Instant::now();
        let (served, mine) =
            flight.run(request(&[1, 2]), || false, |r, _| fake_run(r, 10, 2)).await;
        assert_eq!(served, Served::Queued);
        assert_eq!(mine.as_ref().as_ref().unwrap().run_id, RunId(2), "its own run");
        assert_eq!(vendors_of(&mine), [VendorId(1), VendorId(2)]);
        assert_eq!(started.elapsed(), Duration::from_secs(59 + 10), "after the first ended");
        assert_eq!(vendors_of(&first.await.unwrap().1), [VendorId(1)]);
        assert!(!flight.is_running());
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_starts_once_stopping_and_idle_resolves_after_the_run() {
        let flight = Arc::new(Flight::default());
        let running = Arc::clone(&flight);
        let first = tokio::spawn(async move {
            running.run(request(&[1]), || false, |r, _| fake_run(r, 30, 1)).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, refused) = flight.run(request(&[5]), || true, |r, _| fake_run(r, 1, 2)).await;
        assert_eq!(refused.as_ref().as_ref().unwrap_err(), &RunError::Stopping);
        let started = tokio::time::Instant::now();
        flight.idle().await;
        assert_eq!(started.elapsed(), Duration::from_secs(29));
        assert!(first.await.unwrap().1.is_ok());
    }
}
