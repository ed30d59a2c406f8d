//! What the tray shows, from one look at the agent: the menu's status lines, the tooltip
//! and the icon state. Pure (no GTK), so the rule is tested without a display.
//!
//! The icon changes only for states a person acts on or should see: something needs
//! attention (no agent answers, a vendor needs new credentials, the last sync failed, the
//! upstream push fails) or automatic syncs are paused. A sync going on is said in the
//! tooltip and the menu, never by the icon, so it does not flicker through states nobody
//! acts on.

use crate::api::wire::StatusResponse;
use crate::domain::{RunStatus, Timestamp};
use crate::schedule::rule::local_when;
use crate::schedule::{CurrentRun, KindStatus};
use crate::store::CentralUpTo;
use chrono::{DateTime, Utc};

/// One look at the agent of the data dir.
#[derive(Debug, Clone)]
pub enum Look {
    /// No agent holds the data dir (or one is still starting).
    NoAgent,
    /// An agent holds it but did not answer.
    Unreachable {
        /// Its process id.
        pid: u32,
        /// Why, in words.
        error: String,
    },
    /// Its answer to `GET /api/status`.
    Answered {
        /// Its process id.
        pid: u32,
        /// The answer.
        status: Box<StatusResponse>,
    },
}

/// The icon: which of the three images the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    /// The agent answers and nothing needs a person.
    Idle,
    /// Something needs a person (the tooltip says what).
    Attention,
    /// Automatic syncs are paused.
    Paused,
}

impl IconState {
    /// The one rule: attention wins over a pause (a paused agent with a failing vendor
    /// still needs the person), a pause over idle.
    pub fn decide(attention: bool, paused: bool) -> Self {
        match (attention, paused) {
            (true, _) => Self::Attention,
            (false, true) => Self::Paused,
            (false, false) => Self::Idle,
        }
    }

    /// The name of its images under `assets/icons/` (`plantsync-<name>-<px>.png`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Attention => "attention",
            Self::Paused => "paused",
        }
    }
}

/// How many status lines the menu has (always the same items; their text changes).
pub const LINES: usize = 10;

/// Everything the GUI shows.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The icon.
    pub icon: IconState,
    /// The tooltip: the state in one line, and why it needs attention.
    pub tooltip: String,
    /// The menu's status lines.
    pub lines: [String; LINES],
    /// Whether automatic syncs are paused (`None`: no agent answered), for the
    /// Pause/Resume item.
    pub paused: Option<bool>,
    /// Whether the agent pushes upstream (the Push item is enabled only then).
    pub can_push: bool,
    /// Whether the agent answered (the sync items are enabled only then).
    pub answered: bool,
}

/// The view of `look`, with the outcome of the last menu request (`last_request`), times
/// in `zone` relative to `now`.
pub fn view(
    look: &Look,
    last_request: Option<&str>,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> View {
    let request = format!("Last request: {}", last_request.unwrap_or("none from this tray"));
    match look {
        Look::Answered { pid, status } => status_view(*pid, status, request, zone, now),
        Look::NoAgent | Look::Unreachable { .. } => {
            let why = match look {
                Look::Unreachable { pid, error } => {
                    format!("the agent (pid {pid}) does not answer: {error}")
                }
                _ => "no agent runs on this data dir (start it with `plantsync run`)".to_owned(),
            };
            let unknown = |what: &str| format!("{what}: unknown (no agent answers)");
            View {
                icon: IconState::Attention,
                tooltip: format!("plantsync: {why}; retrying"),
                lines: [
                    format!("Agent: {why}; retrying"),
                    unknown("Last plant sync"),
                    unknown("Last alert sync"),
                    unknown("Next plant sync"),
                    unknown("Next alert sync"),
                    unknown("Window"),
                    unknown("Needs action"),
                    unknown("Syncing"),
                    unknown("Upstream"),
                    request,
                ],
                paused: None,
                can_push: false,
                answered: false,
            }
        }
    }
}

fn status_view(
    pid: u32,
    status: &StatusResponse,
    request: String,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> View {
    let when = |at: &Timestamp| local_when(at.as_datetime(), zone, now);
    let paused = status.schedule.paused;
    let mut attention: Vec<String> = Vec::new();

    let last = |noun: &str, kind: &KindStatus, stored: Option<&Timestamp>| match (
        &kind.last_run_finished_at,
        kind.last_run_status,
    ) {
        (Some(at), Some(outcome)) => format!("Last {noun} sync: {}: {outcome}", when(at)),
        _ => match stored {
            Some(at) => format!("Last {noun} sync: started {}", when(at)),
            None => format!("Last {noun} sync: never"),
        },
    };
    for (noun, kind) in [("plant", &status.schedule.plants), ("alert", &status.schedule.alerts)] {
        if let Some(outcome @ (RunStatus::Failed | RunStatus::Partial)) = kind.last_run_status {
            attention.push(format!("the last {noun} sync {}", in_words(outcome)));
        }
    }

    let needing: Vec<&str> = status
        .store
        .vendor_health
        .iter()
        .filter(|v| v.is_active && v.needs_user_action)
        .map(|v| v.name.as_str())
        .collect();
    let needs_action = if needing.is_empty() {
        "Needs action: nothing".to_owned()
    } else {
        attention.push(format!("new credentials needed for {}", needing.join(", ")));
        format!("Needs action: new credentials for {} (plantsync vendor set)", needing.join(", "))
    };

    let progress = |noun: &str, current: &CurrentRun| {
        let p = &current.progress;
        format!(
            "{noun} {} of {} vendors, {} rows stored",
            p.vendors_done, p.vendors_total, p.rows_stored
        )
    };
    let going: Vec<String> =
        [("plants", &status.schedule.plants), ("alerts", &status.schedule.alerts)]
            .into_iter()
            .filter_map(|(noun, kind)| kind.current.as_ref().map(|c| progress(noun, c)))
            .collect();
    let syncing = if going.is_empty() {
        "Syncing: nothing now".to_owned()
    } else {
        format!("Syncing: {}", going.join("; "))
    };

    let upstream = match &status.upstream {
        Some(up) if up.target.is_some() => {
            let central = match up.state.central_up_to {
                CentralUpTo::Nothing => "nothing is central yet".to_owned(),
                CentralUpTo::Everything => "everything is central".to_owned(),
                CentralUpTo::Until { at } => format!("everything up to {} is central", when(&at)),
            };
            if up.state.retry.failures > 0 {
                attention.push(format!(
                    "the upstream push failed {} times in a row",
                    up.state.retry.failures
                ));
            }
            format!("Upstream: {} rows pending; {central}", up.state.pending())
        }
        _ => "Upstream: not configured".to_owned(),
    };
    let can_push = status.upstream.as_ref().is_some_and(|u| u.target.is_some());

    let icon = IconState::decide(!attention.is_empty(), paused);
    let mut tooltip = match icon {
        IconState::Attention => format!("plantsync: needs attention: {}", attention.join("; ")),
        IconState::Paused => "plantsync: automatic syncs are paused".to_owned(),
        IconState::Idle => "plantsync: up to date".to_owned(),
    };
    if !going.is_empty() {
        tooltip.push_str(&format!(" (syncing {})", going.join("; ")));
    }
    View {
        icon,
        tooltip,
        lines: [
            format!(
                "Agent: running (pid {pid}){}",
                if paused { ", automatic syncs paused" } else { "" }
            ),
            last("plant", &status.schedule.plants, status.store.last_plant_run_at.as_ref()),
            last("alert", &status.schedule.alerts, status.store.last_alert_run_at.as_ref()),
            format!("Next plant sync: {}", status.next.plants.describe(zone, now)),
            format!("Next alert sync: {}", status.next.alerts.describe(zone, now)),
            format!("Window: {}", status.window.describe(now)),
            needs_action,
            syncing,
            upstream,
            request,
        ],
        paused: Some(paused),
        can_push,
        answered: true,
    }
}

/// A run's bad outcome in words.
fn in_words(outcome: RunStatus) -> &'static str {
    match outcome {
        RunStatus::Failed => "failed",
        _ => "partly failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_wins_over_a_pause_and_a_pause_over_idle() {
        assert_eq!(IconState::decide(true, true), IconState::Attention);
        assert_eq!(IconState::decide(true, false), IconState::Attention);
        assert_eq!(IconState::decide(false, true), IconState::Paused);
        assert_eq!(IconState::decide(false, false), IconState::Idle);
    }

    #[test]
    fn without_an_agent_the_tray_says_so_and_offers_no_sync() {
        let now = Utc::now();
        let v = view(&Look::NoAgent, None, chrono_tz::UTC, now);
        assert_eq!(v.icon, IconState::Attention);
        assert!(v.tooltip.contains("no agent runs on this data dir"), "{}", v.tooltip);
        assert!(v.tooltip.ends_with("retrying"), "{}", v.tooltip);
        assert!(v.lines[0].starts_with("Agent: no agent runs"), "{}", v.lines[0]);
        assert_eq!((v.answered, v.can_push, v.paused), (false, false, None));

        let v = view(
            &Look::Unreachable { pid: 7, error: "connection refused".into() },
            Some("Sync plants: ok"),
            chrono_tz::UTC,
            now,
        );
        assert_eq!(
            v.lines[0],
            "Agent: the agent (pid 7) does not answer: connection refused; retrying"
        );
        assert_eq!(v.lines[LINES - 1], "Last request: Sync plants: ok");
    }

    /// An answer with nothing to report, `paused` or not.
    fn answer(paused: bool) -> StatusResponse {
        let store = serde_json::from_value(serde_json::json!({
            "database_path": "/data/plantsync.db", "database_bytes": 0, "schema_version": 3,
            "organizations": 1, "vendors": 2, "active_vendors": 2, "plants": 0,
            "active_plants": 0, "alerts": 0, "active_alerts": 0, "vendor_health": []
        }))
        .unwrap();
        StatusResponse {
            schedule: crate::schedule::Status { paused, ..Default::default() },
            window: crate::api::wire::WindowStatus {
                start: "19:00".into(),
                end: "06:00".into(),
                timezone: "Asia/Kolkata".into(),
                active: false,
                opens_at: None,
            },
            next: crate::schedule::NextRuns {
                plants: crate::schedule::NextRun::Paused,
                alerts: crate::schedule::NextRun::Disabled,
            },
            store,
            upstream: None,
        }
    }

    fn vendor(name: &str, active: bool, needs_action: bool) -> crate::store::VendorHealth {
        serde_json::from_value(serde_json::json!({
            "id": 1, "name": name, "kind": "solarman", "is_active": active,
            "consecutive_failures": 0, "alerts_consecutive_failures": 0,
            "needs_user_action": needs_action
        }))
        .unwrap()
    }

    fn answered(status: StatusResponse) -> View {
        view(&Look::Answered { pid: 9, status: Box::new(status) }, None, chrono_tz::UTC, Utc::now())
    }

    #[test]
    fn a_pause_shows_as_the_paused_icon_and_offers_resume() {
        let v = answered(answer(true));
        assert_eq!(v.icon, IconState::Paused);
        assert_eq!(v.lines[0], "Agent: running (pid 9), automatic syncs paused");
        assert_eq!((v.paused, v.answered, v.can_push), (Some(true), true, false));
        assert_eq!(v.lines[8], "Upstream: not configured");
        assert_eq!(answered(answer(false)).icon, IconState::Idle);
    }

    #[test]
    fn a_vendor_needing_new_credentials_wins_over_a_pause_and_is_named() {
        let mut status = answer(true);
        status.store.vendor_health =
            vec![vendor("roof", true, true), vendor("old", false, true), vendor("ok", true, false)];
        let v = answered(status);
        assert_eq!(v.icon, IconState::Attention);
        assert_eq!(v.lines[6], "Needs action: new credentials for roof (plantsync vendor set)");
        assert!(v.tooltip.contains("new credentials needed for roof"), "{}", v.tooltip);
        assert!(!v.tooltip.contains("old"), "an inactive vendor is not asked about");
    }

    #[test]
    fn a_sync_going_on_is_said_in_words_and_does_not_change_the_icon() {
        let mut status = answer(false);
        status.schedule.plants.current = Some(CurrentRun {
            source: crate::domain::RunSource::Tray,
            vendors: 2,
            started_at: Timestamp::now(),
            progress: crate::domain::ProgressSnapshot {
                vendors_done: 1,
                vendors_total: 2,
                rows_stored: 20,
            },
        });
        let v = answered(status);
        assert_eq!(v.icon, IconState::Idle);
        assert_eq!(v.lines[7], "Syncing: plants 1 of 2 vendors, 20 rows stored");
        assert!(v.tooltip.ends_with("(syncing plants 1 of 2 vendors, 20 rows stored)"));
    }

    #[test]
    fn a_failed_run_and_a_failing_push_need_attention() {
        let mut status = answer(false);
        status.schedule.alerts.last_run_status = Some(RunStatus::Failed);
        status.schedule.alerts.last_run_finished_at = Some(Timestamp::now());
        status.upstream = Some(
            serde_json::from_value(serde_json::json!({
                "target": "postgres://central/db", "agent_id": "a1", "tables": [],
                "last_push": null, "retry": {"failures": 3}
            }))
            .unwrap(),
        );
        let v = answered(status);
        assert_eq!(v.icon, IconState::Attention);
        assert!(v.lines[2].ends_with(": failed"), "{}", v.lines[2]);
        assert_eq!(v.lines[8], "Upstream: 0 rows pending; nothing is central yet");
        assert!(v.can_push);
        assert!(v.tooltip.contains("the last alert sync failed"), "{}", v.tooltip);
        assert!(v.tooltip.contains("the upstream push failed 3 times in a row"), "{}", v.tooltip);
    }
}
