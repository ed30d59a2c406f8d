//! The control API's wire types, shared by the server, the CLI client, the tests, and the
//! tray and upstream code: one `serde` struct per answer, so both sides agree by
//! construction.
//!
//! The run answers keep the original system's shape and key order (`success`, `message`,
//! `skipped`, `summary`; `{success: false, error}` on failure) and add plantsync's fields
//! after them (`runId`, `status`, `served`, `reason`), absent when they do not apply.

use crate::domain::{RunId, RunReport, RunStatus, SyncSummary};
use crate::schedule::{Served, Status};
use crate::store::StoreStatus;
use serde::{Deserialize, Serialize};

/// Why a scheduled request ran nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCause {
    /// Automatic syncs are paused.
    Paused,
    /// Inside the restricted window.
    RestrictedWindow,
    /// No vendor was due.
    NotDue,
}

/// The answer to `GET`/`POST /api/cron/sync-plants` (and `-alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResponse {
    /// The run completed (whatever its vendors' outcomes); `false` when it was skipped for
    /// the window or a pause, or could not run.
    pub success: bool,
    /// What happened, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Nothing ran (see `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<bool>,
    /// The run's summary in the original shape: about the vendors this request asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SyncSummary>,
    /// Why the run could not run, or what was wrong with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The recorded run that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// Its outcome for the vendors asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Whether this request started the run, joined one going on, or waited for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<Served>,
    /// Why nothing ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipCause>,
}

impl RunResponse {
    fn empty(success: bool) -> Self {
        Self {
            success,
            message: None,
            skipped: None,
            summary: None,
            error: None,
            run_id: None,
            status: None,
            served: None,
            reason: None,
        }
    }

    /// A run that completed.
    pub fn completed(report: &RunReport, served: Served) -> Self {
        Self {
            message: Some(completed_message(report.summary.kind).to_owned()),
            summary: Some(report.summary.clone()),
            run_id: Some(report.run_id),
            status: Some(report.status),
            served: Some(served),
            ..Self::empty(true)
        }
    }

    /// The original system's response object alone (`success`, `message`, `summary`), as
    /// `plantsync sync --format json` prints it.
    pub fn original(report: &RunReport) -> Self {
        Self {
            message: Some(completed_message(report.summary.kind).to_owned()),
            summary: Some(report.summary.clone()),
            ..Self::empty(true)
        }
    }

    /// A scheduled request skipped for a pause or the window: `success: false` and
    /// `skipped: true`, as the original answered inside the window.
    pub fn skipped(reason: SkipCause, message: String) -> Self {
        Self {
            message: Some(message),
            skipped: Some(true),
            reason: Some(reason),
            ..Self::empty(false)
        }
    }

    /// A scheduled request with no vendor due: the original's answer when nothing was
    /// eligible (`success: true`, "Plant sync completed", a summary with no results), with
    /// `reason: not_due` added. The original counted the vendors that did not run in
    /// `totalVendors`; here it is 0, the vendors that ran.
    pub fn not_due(kind: crate::domain::RunKind) -> Self {
        Self {
            message: Some(completed_message(kind).to_owned()),
            summary: Some(SyncSummary::from_results(kind, vec![], 0)),
            reason: Some(SkipCause::NotDue),
            ..Self::empty(true)
        }
    }

    /// A run the agent's stop ended: `success: false`, the error in words, and the run
    /// recorded as `interrupted` (its id when the store could say).
    pub fn interrupted(error: impl Into<String>, run_id: Option<RunId>) -> Self {
        Self {
            error: Some(error.into()),
            run_id,
            status: Some(RunStatus::Interrupted),
            ..Self::empty(false)
        }
    }

    /// A request that could not run.
    pub fn failed(error: impl Into<String>) -> Self {
        Self { error: Some(error.into()), ..Self::empty(false) }
    }

    /// The run's report, when a run answered (the CLI prints it).
    pub fn report(&self) -> Option<RunReport> {
        Some(RunReport {
            run_id: self.run_id?,
            status: self.status?,
            summary: self.summary.clone()?,
            skipped: vec![],
        })
    }
}

/// The original's message of a finished run of `kind`.
const fn completed_message(kind: crate::domain::RunKind) -> &'static str {
    match kind {
        crate::domain::RunKind::Plants => "Plant sync completed",
        crate::domain::RunKind::Alerts => "Alert sync completed",
    }
}

/// The answer to a refused request (`401`, `403`, `404`): `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What is wrong.
    pub error: String,
}

/// The restricted window, as `/api/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStatus {
    /// First restricted minute, `HH:MM`.
    pub start: String,
    /// First minute after it.
    pub end: String,
    /// Its zone.
    pub timezone: String,
    /// Whether it is in force now.
    pub active: bool,
    /// When it is in force: when scheduled syncs may run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<crate::domain::Timestamp>,
}

impl WindowStatus {
    /// The window and whether it holds scheduled syncs back at `now`.
    pub fn of(
        window: &crate::schedule::RestrictedWindow,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let active = window.contains(now);
        Self {
            start: window.start.to_string(),
            end: window.end.to_string(),
            timezone: window.zone.name().to_owned(),
            active,
            opens_at: active
                .then(|| crate::domain::Timestamp::from_datetime(&window.next_open(now))),
        }
    }

    /// In words: `19:00-06:00 Asia/Kolkata: scheduled syncs wait until 06:00 tomorrow`.
    pub fn describe(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        if self.start == self.end {
            return "none".to_owned();
        }
        let zone = self.timezone.parse().unwrap_or(chrono_tz::UTC);
        let until = self.opens_at.map(|t| t.as_datetime());
        let words = crate::schedule::describe_window(true, until, &self.start, zone, now);
        format!("{}-{} {}: {words}", self.start, self.end, self.timezone)
    }
}

/// The answer to `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The schedule, the runs going on and their progress.
    pub schedule: Status,
    /// The restricted window.
    pub window: WindowStatus,
    /// The next scheduled run of each kind that will really happen (the loop's own rule
    /// applied to the coming cron ticks, with the pause and the vendors as they are now).
    pub next: crate::schedule::NextRuns,
    /// What the database holds.
    pub store: StoreStatus,
    /// The upstream push: pending rows, the last push, the retry state.
    #[serde(default)]
    pub upstream: Option<UpstreamStatus>,
}

/// The upstream push's state, as `/api/status` and `status --format json` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// `upstream.url`, password redacted (`null`: not configured).
    pub target: Option<String>,
    /// The store's side: agent id, pending rows, oldest pending change and watermark per
    /// table, the last push, failures in a row, the last error, the next attempt.
    #[serde(flatten)]
    pub state: crate::store::UpstreamState,
}

/// The answer to `POST /api/stop`: the agent stops once it has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopResponse {
    /// Always true: the stop is under way.
    pub stopping: bool,
}

/// The answer to `POST /api/pause` and `/api/resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseResponse {
    /// Whether automatic syncs are paused now.
    pub paused: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunKind;

    #[test]
    fn run_answers_keep_the_original_key_order() {
        let report = RunReport {
            run_id: RunId(4),
            status: RunStatus::Ok,
            summary: SyncSummary::from_results(RunKind::Plants, vec![], 12),
            skipped: vec![],
        };
        let text =
            serde_json::to_string(&RunResponse::completed(&report, Served::Started)).unwrap();
        assert!(
            text.starts_with(
                r#"{"success":true,"message":"Plant sync completed","summary":{"totalVendors":0,"#
            ),
            "{text}"
        );
        assert!(text.ends_with(r#""runId":4,"status":"ok","served":"started"}"#), "{text}");
        let back: RunResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(back.report(), Some(report));

        let window = RunResponse::skipped(
            SkipCause::RestrictedWindow,
            "Sync skipped - in restricted time window (19:00 - 06:00 Asia/Kolkata)".into(),
        );
        assert_eq!(
            serde_json::to_string(&window).unwrap(),
            r#"{"success":false,"message":"Sync skipped - in restricted time window (19:00 - 06:00 Asia/Kolkata)","skipped":true,"reason":"restricted_window"}"#
        );
        let not_due = serde_json::to_string(&RunResponse::not_due(RunKind::Plants)).unwrap();
        assert!(
            not_due.starts_with(
                r#"{"success":true,"message":"Plant sync completed","summary":{"totalVendors":0,"#
            ),
            "{not_due}"
        );
        assert!(not_due.ends_with(r#""results":[]},"reason":"not_due"}"#), "{not_due}");
        assert_eq!(
            serde_json::to_string(&RunResponse::failed("boom")).unwrap(),
            r#"{"success":false,"error":"boom"}"#
        );
    }
}
