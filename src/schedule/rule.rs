//! The one rule for scheduled runs, pure: whether a scheduled tick of a kind may run now,
//! and for which vendors. The schedule loop and `GET /api/cron/*` both call it, so they
//! cannot drift apart and both record the same decision.
//!
//! `ENABLE_PLANT_SYNC_CRON` (`sync.enabled`, and `alerts.enabled`) governs only the
//! agent's own loop, as in the original system, where it only decided whether the
//! in-process job was started: an external cron calling the GET endpoint still syncs. The
//! pause, the restricted window and the due times hold for both.

use super::{Decision, RestrictedWindow};
use crate::domain::{CronSchedule, RunKind, RunRequest, RunSource, Timestamp, VendorId};
use crate::store::ScheduleCandidate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who asks for a scheduled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledBy {
    /// The agent's own cron loop.
    Loop,
    /// An external scheduler calling `GET /api/cron/sync-plants` (or `-alerts`).
    CronEndpoint,
}

/// Everything the rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// Plants or alerts.
    pub kind: RunKind,
    /// Who asks.
    pub by: ScheduledBy,
    /// Whether scheduled runs of the kind are on (`sync.enabled` / `alerts.enabled`).
    pub enabled: bool,
    /// Whether the kind stays out of the restricted window.
    pub respects_window: bool,
    /// Whether automatic syncs are paused.
    pub paused: bool,
    /// The restricted window.
    pub window: &'a RestrictedWindow,
    /// Now.
    pub now: DateTime<Utc>,
    /// Active vendors of organizations with auto-sync on, with their due-time inputs.
    pub candidates: &'a [ScheduleCandidate],
    /// The vendors of the run of this kind going on, if any (sorted).
    pub running: Option<&'a [VendorId]>,
}

/// What a tick does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No run; the decision says why.
    Skip(Decision),
    /// Every due vendor is in the running run: the tick is covered by it (`request` is what
    /// a caller that wants the answer joins).
    Covered(RunRequest),
    /// A run of these vendors (those due and not in a running run).
    Run(RunRequest),
}

impl Verdict {
    /// The decision to record.
    pub fn decision(&self) -> Decision {
        match self {
            Self::Skip(decision) => decision.clone(),
            Self::Covered(_) => Decision::Coalesced,
            Self::Run(_) => Decision::Ran { run_id: None },
        }
    }
}

/// The vendors a scheduled run of `kind` takes at `now`: for plants those whose next slot
/// has come; alerts follow their own cron cadence for every auto-sync vendor.
pub fn due_vendors(
    kind: RunKind,
    candidates: &[ScheduleCandidate],
    window: &RestrictedWindow,
    now: DateTime<Utc>,
) -> Vec<VendorId> {
    candidates
        .iter()
        .filter(|c| {
            kind == RunKind::Alerts
                || super::due::is_due(
                    c.last_synced_at.map(|t| t.as_datetime()),
                    c.interval_minutes,
                    window,
                    now,
                )
        })
        .map(|c| c.vendor_id)
        .collect()
}

/// The rule.
pub fn decide(tick: &Tick<'_>) -> Verdict {
    if tick.by == ScheduledBy::Loop && !tick.enabled {
        return Verdict::Skip(Decision::Disabled);
    }
    if tick.paused {
        return Verdict::Skip(Decision::Paused);
    }
    if tick.respects_window && tick.window.contains(tick.now) {
        return Verdict::Skip(Decision::SkippedWindow);
    }
    if tick.candidates.is_empty() {
        return Verdict::Skip(Decision::NoVendors);
    }
    let due = RunRequest::new(
        tick.kind,
        RunSource::Cron,
        false,
        due_vendors(tick.kind, tick.candidates, tick.window, tick.now),
    );
    if due.vendors().is_empty() {
        return Verdict::Skip(Decision::NotDue);
    }
    match tick.running {
        None => Verdict::Run(due),
        Some(running) => {
            // Due vendors in the running run are synced by it; only the rest need a run.
            let rest = due.without(running);
            if rest.is_empty() {
                Verdict::Covered(due)
            } else {
                Verdict::Run(RunRequest::new(tick.kind, RunSource::Cron, false, rest))
            }
        }
    }
}

/// How far ahead [`next_run`] looks: a week and a day covers any daily interval, window
/// and DST change.
const HORIZON: chrono::TimeDelta = chrono::TimeDelta::days(8);

/// At most this many ticks are walked. Schedules are five-field crons, at most one tick a
/// minute, so the horizon holds at most 11,520 of them: the cap only bounds the walk.
const MAX_TICKS: usize = 20_000;

/// The scheduled run that will really happen next, as [`next_run`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum NextRun {
    /// The first tick whose decision is to run, and how many vendors that run takes.
    At {
        /// The tick (a run starts up to `sync.jitter_seconds` after it).
        at: Timestamp,
        /// The vendors due then.
        vendors: u64,
    },
    /// Automatic syncs are paused: nothing runs on schedule until they are resumed.
    Paused,
    /// Scheduled runs of the kind are off (`sync.enabled` / `alerts.enabled`).
    Disabled,
    /// No vendor to sync: none is active in an organization with auto-sync on.
    NoVendors,
    /// No tick within the horizon (eight days) would run.
    NotSoon,
}

impl NextRun {
    /// In words, for the CLI and the log, with times in `zone` relative to `now`
    /// ("06:00 tomorrow, 2 vendors").
    pub fn describe(&self, zone: chrono_tz::Tz, now: DateTime<Utc>) -> String {
        match self {
            Self::At { at, vendors } => {
                let noun = if *vendors == 1 { "vendor" } else { "vendors" };
                format!("{}, {vendors} {noun}", local_when(at.as_datetime(), zone, now))
            }
            Self::Paused => "none while automatic syncs are paused".to_owned(),
            Self::Disabled => "none: scheduled syncs of this kind are off".to_owned(),
            Self::NoVendors => "none: no vendor to sync (add one with `plantsync vendor add`, \
                                in an organization with auto-sync on)"
                .to_owned(),
            Self::NotSoon => "none in the next 8 days".to_owned(),
        }
    }
}

/// `at` on the clock of `zone`: `06:00` today, `06:00 tomorrow`, else the date too.
pub fn local_when(at: DateTime<Utc>, zone: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    let (at, today) = (at.with_timezone(&zone), now.with_timezone(&zone).date_naive());
    let time = at.format("%H:%M");
    if at.date_naive() == today {
        time.to_string()
    } else if today.succ_opt() == Some(at.date_naive()) {
        format!("{time} tomorrow")
    } else {
        at.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// The next scheduled run of `tick.kind` after `tick.now` that will really happen: the
/// cron ticks of `cron` are walked through [`decide`] itself (so the window, the pause, the
/// switch and the due times are this rule's and no copy of it), up to eight days. The
/// vendors' last syncs are taken as they are now, and a run going on is taken to be over
/// by then (`tick.running` is not looked at).
pub fn next_run(tick: &Tick<'_>, cron: &CronSchedule) -> NextRun {
    let zone = tick.window.zone;
    let mut after = tick.now;
    for _ in 0..MAX_TICKS {
        let Some(at) = cron.next_after(after, zone).filter(|at| *at - tick.now <= HORIZON) else {
            break;
        };
        match decide(&Tick { now: at, running: None, ..*tick }) {
            Verdict::Run(request) | Verdict::Covered(request) => {
                let vendors = request.vendors().len() as u64;
                return NextRun::At { at: Timestamp::from_datetime(&at), vendors };
            }
            Verdict::Skip(Decision::Disabled) => return NextRun::Disabled,
            Verdict::Skip(Decision::Paused) => return NextRun::Paused,
            Verdict::Skip(Decision::NoVendors) => return NextRun::NoVendors,
            Verdict::Skip(_) => after = at,
        }
    }
    NextRun::NotSoon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> RestrictedWindow {
        RestrictedWindow {
            start: "19:00".parse().unwrap(),
            end: "06:00".parse().unwrap(),
            zone: chrono_tz::Asia::Kolkata,
        }
    }

    fn ist(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn candidate(id: i64, last: Option<&str>) -> ScheduleCandidate {
        ScheduleCandidate {
            vendor_id: VendorId(id),
            interval_minutes: 15,
            last_synced_at: last.map(|t| Timestamp::from_datetime(&ist(t))),
        }
    }

    fn ids(request: &RunRequest) -> Vec<i64> {
        request.vendors().iter().map(|v| v.0).collect()
    }

    #[test]
    fn the_rule_in_order() {
        let w = window();
        // Vendor 1 synced four minutes ago (not due before 10:30), 2 and 3 never.
        let candidates = [
            candidate(1, Some("2026-11-29T10:16:00+05:30")),
            candidate(2, None),
            candidate(3, None),
        ];
        let tick = |by, enabled, paused, now: &str, running: Option<&[VendorId]>| {
            let now = ist(now);
            decide(&Tick {
                kind: RunKind::Plants,
                by,
                enabled,
                respects_window: true,
                paused,
                window: &w,
                now,
                candidates: &candidates,
                running,
            })
        };
        let day = "2026-11-29T10:20:00+05:30";
        assert_eq!(
            tick(ScheduledBy::Loop, false, false, day, None),
            Verdict::Skip(Decision::Disabled)
        );
        // The switch governs the loop only: the endpoint still syncs.
        let Verdict::Run(request) = tick(ScheduledBy::CronEndpoint, false, false, day, None) else {
            panic!("the endpoint runs with the loop switched off");
        };
        assert_eq!((ids(&request), request.source), (vec![2, 3], RunSource::Cron));
        for by in [ScheduledBy::Loop, ScheduledBy::CronEndpoint] {
            assert_eq!(tick(by, true, true, day, None), Verdict::Skip(Decision::Paused));
            let night = "2026-11-29T20:00:00+05:30";
            assert_eq!(tick(by, true, false, night, None), Verdict::Skip(Decision::SkippedWindow));
        }
        let two = [VendorId(2)];
        let Verdict::Run(rest) = tick(ScheduledBy::Loop, true, false, day, Some(&two)) else {
            panic!("vendor 3 is due and not running");
        };
        assert_eq!(ids(&rest), [3], "only the due vendors the running run does not have");
        let both = [VendorId(1), VendorId(2), VendorId(3)];
        let covered = tick(ScheduledBy::CronEndpoint, true, false, day, Some(&both));
        assert!(matches!(&covered, Verdict::Covered(r) if ids(r) == [2, 3]), "{covered:?}");
        assert_eq!(covered.decision(), Decision::Coalesced);
    }

    /// `next_run` at `now` for plants every `*/15` with the 19:00-06:00 IST window.
    fn next_at(now: &str, paused: bool, candidates: &[ScheduleCandidate]) -> NextRun {
        let (w, cron): (_, CronSchedule) = (window(), "*/15 * * * *".parse().unwrap());
        let tick = Tick {
            kind: RunKind::Plants,
            by: ScheduledBy::Loop,
            enabled: true,
            respects_window: true,
            paused,
            window: &w,
            now: ist(now),
            candidates,
            running: None,
        };
        next_run(&tick, &cron)
    }

    fn at(text: &str, vendors: u64) -> NextRun {
        NextRun::At { at: Timestamp::from_datetime(&ist(text)), vendors }
    }

    #[test]
    fn the_next_run_is_the_first_tick_the_rule_would_run() {
        let candidates = [candidate(1, Some("2026-11-29T18:50:00+05:30")), candidate(2, None)];
        // Inside the window at 20:00: every tick until 06:00 is skipped; 06:00 runs.
        let night = next_at("2026-11-29T20:00:00+05:30", false, &candidates);
        assert_eq!(night, at("2026-11-30T06:00:00+05:30", 2));
        assert_eq!(
            night.describe(chrono_tz::Asia::Kolkata, ist("2026-11-29T20:00:00+05:30")),
            "06:00 tomorrow, 2 vendors"
        );
        // By day, the next tick with a vendor due: 1 synced at 10:16, 15 min, due from 10:30.
        let day = [candidate(1, Some("2026-11-29T10:16:00+05:30"))];
        assert_eq!(
            next_at("2026-11-29T10:14:00+05:30", false, &day),
            at("2026-11-29T10:30:00+05:30", 1)
        );
        assert_eq!(next_at("2026-11-29T20:00:00+05:30", true, &candidates), NextRun::Paused);
        assert_eq!(next_at("2026-11-29T10:00:00+05:30", false, &[]), NextRun::NoVendors);
        // A schedule that never fires is refused when parsed; one that fires only on 29
        // February is real but not soon.
        let none: CronSchedule = "0 0 29 2 *".parse().unwrap();
        let w = window();
        let tick = Tick {
            kind: RunKind::Alerts,
            by: ScheduledBy::Loop,
            enabled: true,
            respects_window: false,
            paused: false,
            window: &w,
            now: ist("2026-11-29T10:00:00+05:30"),
            candidates: &candidates,
            running: None,
        };
        assert_eq!(next_run(&tick, &none), NextRun::NotSoon, "29 February is over a year away");
        let every: CronSchedule = "*/30 * * * *".parse().unwrap();
        assert_eq!(next_run(&tick, &every), at("2026-11-29T10:30:00+05:30", 2), "alerts: all");
        assert_eq!(next_run(&Tick { enabled: false, ..tick }, &every), NextRun::Disabled);
    }

    #[test]
    fn nothing_due_is_a_decision_not_an_empty_run() {
        let w = window();
        let candidates = [candidate(1, Some("2026-11-29T10:15:30+05:30"))];
        let verdict = decide(&Tick {
            kind: RunKind::Plants,
            by: ScheduledBy::CronEndpoint,
            enabled: true,
            respects_window: true,
            paused: false,
            window: &w,
            now: ist("2026-11-29T10:16:00+05:30"),
            candidates: &candidates,
            running: None,
        });
        assert_eq!(verdict, Verdict::Skip(Decision::NotDue));
        // Alerts follow their own cron: every candidate, whatever its plant sync time.
        let alerts = decide(&Tick {
            kind: RunKind::Alerts,
            by: ScheduledBy::Loop,
            enabled: true,
            respects_window: false,
            paused: false,
            window: &w,
            now: ist("2026-11-29T20:16:00+05:30"),
            candidates: &candidates,
            running: None,
        });
        assert!(matches!(alerts, Verdict::Run(r) if r.kind == RunKind::Alerts && ids(&r) == [1]));
    }
}
