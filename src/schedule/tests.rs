//! The loop under tokio's paused time, with a recording runner and an in-memory vendor table.

use super::*;
use crate::domain::{RunSource, SyncSummary, VendorId};
use chrono::{TimeZone, Timelike};
use std::sync::Mutex as StdMutex;

/// A vendor table whose last-success times the fake runner updates.
struct Table {
    rows: StdMutex<Vec<ScheduleCandidate>>,
}

#[async_trait::async_trait]
impl Candidates for Table {
    async fn schedule_candidates(&self) -> Result<Vec<ScheduleCandidate>, StoreError> {
        Ok(self.rows.lock().unwrap().clone())
    }
}

/// Records each run's start (wall clock), lasts `duration`, then marks its vendors synced
/// at the start time, as the engine does.
struct Recorder {
    clock: TokioClock,
    table: Arc<Table>,
    duration: Duration,
    starts: StdMutex<Vec<(RunKind, RunSource, DateTime<Utc>)>>,
    /// The vendors of each run, in start order.
    vendors: StdMutex<Vec<Vec<i64>>>,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Runner for Recorder {
    async fn run(&self, request: RunRequest, _: Arc<Progress>) -> Result<RunReport, RunError> {
        let started = self.clock.now();
        self.starts.lock().unwrap().push((request.kind, request.source, started));
        self.vendors.lock().unwrap().push(request.vendors().iter().map(|v| v.0).collect());
        let now_running = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now_running, Ordering::SeqCst);
        tokio::time::sleep(self.duration).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if request.kind == RunKind::Plants {
            for row in self.table.rows.lock().unwrap().iter_mut() {
                if request.vendors().contains(&row.vendor_id) {
                    row.last_synced_at = Some(Timestamp::from_datetime(&started));
                }
            }
        }
        let count = self.starts.lock().unwrap().len() as i64;
        Ok(RunReport {
            run_id: RunId(count),
            status: RunStatus::Ok,
            summary: SyncSummary::from_results(request.kind, vec![], 0),
            skipped: vec![],
        })
    }
}

struct Rig {
    clock: TokioClock,
    table: Arc<Table>,
    recorder: Arc<Recorder>,
    coordinator: Arc<Coordinator>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

fn settings(jitter: Duration) -> ScheduleSettings {
    ScheduleSettings {
        plants_enabled: true,
        plants_cron: "*/15 * * * *".parse().unwrap(),
        alerts_enabled: false,
        alerts_cron: "*/30 * * * *".parse().unwrap(),
        alerts_respect_window: true,
        window: RestrictedWindow {
            start: "19:00".parse().unwrap(),
            end: "06:00".parse().unwrap(),
            zone: chrono_tz::Asia::Kolkata,
        },
        jitter,
    }
}

/// Starts the loop at `start` (IST wall clock) with one vendor last synced at `last`.
fn rig(
    start: &str,
    last: Option<&str>,
    interval: u32,
    duration: Duration,
    settings: ScheduleSettings,
) -> Rig {
    let ist = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    let clock = TokioClock::starting_at(ist(start));
    let table = Arc::new(Table {
        rows: StdMutex::new(vec![ScheduleCandidate {
            vendor_id: VendorId(1),
            interval_minutes: interval,
            last_synced_at: last.map(|l| Timestamp::from_datetime(&ist(l))),
        }]),
    });
    let recorder = Arc::new(Recorder {
        clock: clock.clone(),
        table: Arc::clone(&table),
        duration,
        starts: StdMutex::new(vec![]),
        vendors: StdMutex::new(vec![]),
        in_flight: 0.into(),
        max_in_flight: 0.into(),
    });
    let coordinator = Coordinator::new(Arc::clone(&recorder) as Arc<dyn Runner>);
    let (shutdown, receiver) = tokio::sync::watch::channel(false);
    tokio::spawn(run_schedule(
        Arc::clone(&coordinator),
        Arc::clone(&table) as Arc<dyn Candidates>,
        Arc::new(settings),
        Arc::new(clock.clone()),
        receiver,
    ));
    Rig { clock, table, recorder, coordinator, shutdown }
}

impl Rig {
    fn starts_ist(&self) -> Vec<String> {
        self.recorder
            .starts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, t)| {
                t.with_timezone(&chrono_tz::Asia::Kolkata).format("%d %H:%M").to_string()
            })
            .collect()
    }
}

async fn advance(minutes: u64) {
    for _ in 0..minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn missed_slots_coalesce_into_one_run() {
    // Last success three hours ago: twelve slots missed, one run at the next tick.
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        Some("2026-11-29T07:00:00+05:30"),
        15,
        Duration::from_secs(5),
        settings(Duration::ZERO),
    );
    advance(40).await;
    assert_eq!(r.starts_ist(), ["29 10:15", "29 10:30", "29 10:45"]);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn window_is_respected_and_one_catch_up_runs_at_its_end() {
    let r = rig(
        "2026-11-29T18:40:00+05:30",
        Some("2026-11-29T18:30:00+05:30"),
        15,
        Duration::from_secs(5),
        settings(Duration::ZERO),
    );
    advance(12 * 60).await; // to 06:40 the next morning
    assert_eq!(r.starts_ist(), ["29 18:45", "30 06:00", "30 06:15", "30 06:30"]);
    assert_eq!(
        r.coordinator.status().plants.last_decision,
        Some(Decision::Ran { run_id: Some(RunId(4)) })
    );
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_outlasts_its_interval_is_not_stacked() {
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        None,
        15,
        Duration::from_secs(40 * 60),
        settings(Duration::ZERO),
    );
    advance(90).await;
    assert_eq!(r.recorder.max_in_flight.load(Ordering::SeqCst), 1);
    // 10:15 runs until 10:55; 10:30 and 10:45 are coalesced; 11:00 and 11:15 are not due
    // until the next slot after 10:15's success... 10:30, so 11:00 runs.
    assert_eq!(r.starts_ist(), ["29 10:15", "29 11:00"]);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn jitter_is_bounded() {
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        None,
        15,
        Duration::from_secs(1),
        settings(Duration::from_secs(90)),
    );
    advance(120).await;
    let starts = r.recorder.starts.lock().unwrap().clone();
    assert!(starts.len() >= 6, "{starts:?}");
    for (_, _, at) in starts {
        let local = at.with_timezone(&chrono_tz::Asia::Kolkata);
        let past_slot = (local.minute() % 15) as i64 * 60 + local.second() as i64;
        assert!(past_slot <= 90, "started {past_slot}s after its slot");
    }
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn pause_and_resume() {
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        None,
        15,
        Duration::from_secs(5),
        settings(Duration::ZERO),
    );
    r.coordinator.pause();
    advance(40).await;
    assert!(r.starts_ist().is_empty());
    assert_eq!(r.coordinator.status().plants.last_decision, Some(Decision::Paused));
    assert!(r.coordinator.status().paused);
    r.coordinator.resume();
    advance(15).await;
    assert_eq!(r.starts_ist(), ["29 11:00"]);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn wall_clock_jump_after_suspend_catches_up_once() {
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        None,
        15,
        Duration::from_secs(5),
        settings(Duration::ZERO),
    );
    advance(10).await; // 10:15 ran
    assert_eq!(r.starts_ist(), ["29 10:15"]);
    // The machine sleeps for two hours: tokio time does not move, the wall clock does.
    r.clock.jump(chrono::Duration::hours(2));
    advance(1).await;
    assert_eq!(r.starts_ist(), ["29 10:15", "29 12:17"], "one catch-up right after waking");
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn disabled_schedule_runs_nothing_but_manual_triggers_work() {
    let mut s = settings(Duration::ZERO);
    s.plants_enabled = false;
    let r = rig("2026-11-29T20:07:00+05:30", None, 15, Duration::from_secs(5), s);
    advance(30).await;
    assert!(r.starts_ist().is_empty());
    assert_eq!(r.coordinator.status().plants.last_decision, Some(Decision::Disabled));
    // A person's trigger bypasses the window (20:07 is inside it) and the due times.
    let request = RunRequest::new(RunKind::Plants, RunSource::Api, true, [VendorId(1)]);
    let (served, result) = r.coordinator.trigger(request).await;
    assert_eq!(served, Served::Started);
    assert!(result.is_ok());
    assert_eq!(r.recorder.starts.lock().unwrap()[0].1, RunSource::Api);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn concurrent_triggers_join_one_run() {
    let r = rig(
        "2026-11-29T20:07:00+05:30",
        None,
        15,
        Duration::from_secs(60),
        settings(Duration::ZERO),
    );
    let request = |source| RunRequest::new(RunKind::Plants, source, true, [VendorId(1)]);
    let (a, b) = tokio::join!(
        r.coordinator.trigger(request(RunSource::Api)),
        r.coordinator.trigger(request(RunSource::Tray)),
    );
    let mut served = [a.0, b.0];
    served.sort_by_key(|s| *s == Served::Joined);
    assert_eq!(served, [Served::Started, Served::Joined]);
    assert_eq!(r.recorder.starts.lock().unwrap().len(), 1);
    assert_eq!(a.1.as_ref().as_ref().unwrap().run_id, b.1.as_ref().as_ref().unwrap().run_id);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_tick_during_a_narrower_manual_run_waits_then_syncs_only_the_rest() {
    // 05:50 IST is inside the window: only a person's run goes; at 06:00 the tick
    // finds vendors 1 and 2 due while a manual run of vendor 1 (30 min) is going.
    let r = rig(
        "2026-11-30T05:50:00+05:30",
        None,
        15,
        Duration::from_secs(30 * 60),
        settings(Duration::ZERO),
    );
    r.table.rows.lock().unwrap().push(ScheduleCandidate {
        vendor_id: VendorId(2),
        interval_minutes: 15,
        last_synced_at: None,
    });
    let coordinator = Arc::clone(&r.coordinator);
    let manual = tokio::spawn(async move {
        let request = RunRequest::new(RunKind::Plants, RunSource::User, true, [VendorId(1)]);
        coordinator.trigger(request).await
    });
    advance(11).await; // 06:01: the 06:00 tick has been decided
    assert_eq!(
        r.coordinator.status().plants.last_decision,
        Some(Decision::Ran { run_id: None }),
        "a run of the rest was decided"
    );
    assert_eq!(r.coordinator.status().plants.waiting, 1, "it waits for the manual run");
    advance(30).await;
    assert_eq!(manual.await.unwrap().0, Served::Started);
    assert_eq!(*r.recorder.vendors.lock().unwrap(), [vec![1], vec![2]], "vendor 1 once");
    assert_eq!(r.recorder.max_in_flight.load(Ordering::SeqCst), 1, "never two at once");
    assert_eq!(r.starts_ist(), ["30 05:50", "30 06:20"]);
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_long_run_does_not_overwrite_a_later_decision() {
    // The 10:15 run takes 20 minutes; the 10:30 tick is decided (paused) while it runs.
    let r = rig(
        "2026-11-29T10:07:00+05:30",
        None,
        15,
        Duration::from_secs(20 * 60),
        settings(Duration::ZERO),
    );
    advance(10).await; // 10:17: the 10:15 run is going
    r.coordinator.pause();
    advance(15).await; // 10:32: the 10:30 tick said "paused"
    assert_eq!(r.coordinator.status().plants.last_decision, Some(Decision::Paused));
    advance(5).await; // 10:37: the 10:15 run has ended
    assert_eq!(r.coordinator.status().plants.last_run_id, Some(RunId(1)));
    assert_eq!(
        r.coordinator.status().plants.last_decision,
        Some(Decision::Paused),
        "the older run's end does not replace the newer decision"
    );
    let _ = r.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn jitter_never_reaches_the_next_tick() {
    // Ten minutes of jitter on a five-minute schedule: each run starts within 2.5 minutes
    // of its tick, so no tick sees vendors whose run is still waiting out its jitter.
    let mut s = settings(Duration::from_secs(600));
    s.plants_cron = "*/5 * * * *".parse().unwrap();
    let r = rig("2026-11-29T10:07:00+05:30", None, 5, Duration::from_secs(1), s);
    advance(60).await;
    let starts = r.recorder.starts.lock().unwrap().clone();
    assert!(starts.len() >= 10, "{starts:?}");
    for (_, _, at) in starts {
        let local = at.with_timezone(&chrono_tz::Asia::Kolkata);
        let past_tick = (local.minute() % 5) as i64 * 60 + local.second() as i64;
        assert!(past_tick <= 150, "started {past_tick}s after its tick");
    }
    assert_eq!(r.recorder.max_in_flight.load(Ordering::SeqCst), 1);
    let _ = r.shutdown.send(true);
}

#[test]
fn ist_helper_sanity() {
    let t = chrono_tz::Asia::Kolkata.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap();
    assert_eq!(t.with_timezone(&Utc).to_rfc3339(), "2026-11-29T00:30:00+00:00");
}

/// What `status` and the start-up line call the next run is what the loop then does: at
/// 20:00 IST, inside the window, the first run is the first tick at or after 06:00 IST.
#[tokio::test(start_paused = true)]
async fn the_next_run_said_is_the_run_the_loop_makes() {
    for (start, interval) in [("2026-11-29T20:00:00+05:30", 15), ("2026-11-29T10:07:00+05:30", 60)]
    {
        let settings = settings(Duration::ZERO);
        let r = rig(
            start,
            Some("2026-11-29T10:00:00+05:30"),
            interval,
            Duration::from_secs(5),
            settings.clone(),
        );
        let candidates = r.table.schedule_candidates().await.unwrap();
        let said = settings.next_runs(false, &candidates, r.clock.now());
        let NextRun::At { at, vendors: 1 } = said.plants else {
            panic!("a run of the one vendor is coming: {said:?}");
        };
        advance(11 * 60).await;
        let first = r.recorder.starts.lock().unwrap().first().map(|(_, _, t)| *t);
        assert_eq!(first, Some(at.as_datetime()), "{start} every {interval}: {said:?}");
        let _ = r.shutdown.send(true);
    }
}

#[test]
fn decisions_read_as_words() {
    for decision in [
        Decision::Ran { run_id: None },
        Decision::SkippedWindow,
        Decision::NotDue,
        Decision::NoVendors,
        Decision::Coalesced,
        Decision::Paused,
        Decision::Disabled,
        Decision::Unreadable,
    ] {
        let words = decision.to_string();
        let debug = format!("{decision:?}");
        assert!(!words.contains(debug.split(' ').next().unwrap()), "{words} names {debug}");
        assert!(words.contains(' ') && words.chars().all(|c| !c.is_uppercase()), "{words}");
    }
    assert_eq!(Decision::SkippedWindow.to_string(), "inside the restricted window");
}

/// A runner whose runs never finish on their own.
struct Forever;

#[async_trait::async_trait]
impl Runner for Forever {
    async fn run(&self, _: RunRequest, _: Arc<Progress>) -> Result<RunReport, RunError> {
        std::future::pending().await
    }
}

/// A stop that cuts the running run answers everyone it serves with the interrupted run,
/// and refuses the request queued behind it (its own run never started).
#[tokio::test(start_paused = true)]
async fn a_cut_run_answers_its_requests_with_the_interrupted_run() {
    let coordinator = Coordinator::new(Arc::new(Forever));
    let request = |ids: &[i64]| {
        RunRequest::new(RunKind::Plants, RunSource::Api, true, ids.iter().map(|i| VendorId(*i)))
    };
    let (a, b, c) = (Arc::clone(&coordinator), Arc::clone(&coordinator), Arc::clone(&coordinator));
    let started = tokio::spawn(async move { a.trigger(request(&[1, 2])).await });
    while coordinator.status().plants.current.is_none() {
        tokio::task::yield_now().await;
    }
    let joined = tokio::spawn(async move { b.trigger(request(&[1])).await });
    let queued = tokio::spawn(async move { c.trigger(request(&[3])).await });
    while coordinator.status().plants.waiting < 2 {
        tokio::task::yield_now().await;
    }
    coordinator.stop_accepting();
    coordinator.cut_runs();
    coordinator.runs_interrupted(vec![(RunKind::Plants, RunId(7))], true);
    let interrupted = RunError::Interrupted { run_id: Some(RunId(7)), recorded: true };
    let (started, joined, queued) =
        (started.await.unwrap(), joined.await.unwrap(), queued.await.unwrap());
    assert_eq!(
        (started.0, started.1.as_ref().clone()),
        (Served::Started, Err(interrupted.clone()))
    );
    assert_eq!((joined.0, joined.1.as_ref().clone()), (Served::Joined, Err(interrupted.clone())));
    assert_eq!(queued.1.as_ref().clone(), Err(RunError::Stopping));
    assert_eq!(
        interrupted.to_string(),
        "the agent was stopped before the sync finished; sync run 7 was recorded as interrupted"
    );
    coordinator.idle().await;
}

#[test]
fn an_interrupted_run_is_said_recorded_only_when_it_was() {
    let said = |run_id, recorded| RunError::Interrupted { run_id, recorded }.to_string();
    assert_eq!(
        said(Some(RunId(7)), true),
        "the agent was stopped before the sync finished; sync run 7 was recorded as interrupted"
    );
    assert_eq!(
        said(Some(RunId(7)), false),
        "the agent was stopped before the sync finished; sync run 7 could not be recorded as interrupted (the agent's log says why)"
    );
    // No row yet (or none could be read): nothing is claimed about the record.
    assert_eq!(said(None, true), "the agent was stopped before the sync finished");
    assert_eq!(said(None, false), "the agent was stopped before the sync finished");
}
