//! The agent's notifications: once when a vendor has failed N runs in a row, once when a
//! vendor's portal rejected its credentials, once when the upstream push has failed N times
//! in a row (again only after a push succeeded), and after each sync a person started from
//! the tray. Each is a log line; the vendor and upstream ones are also a JSON POST to a
//! webhook (retried three times with backoff) when one is configured; every one is a
//! desktop notification where the session bus has a notification server
//! (`notify.desktop`, Linux: [`super::desktop`]).
//!
//! # Design
//!
//! Deciding is pure ([`Notifier::decide`], [`Notifier::decide_finished`],
//! [`Notifier::decide_stall`]): each takes what happened and returns [`Notice`]s, so the
//! rule "once at the threshold" is tested without a bus. Sending never waits: the webhook
//! and the desktop each get a task of their own, so a slow or absent receiver never holds up
//! the agent's event loop, hence never a sync. The texts ([`Notice::desktop_text`]) say what
//! happened and what to do, and carry no secret: they are built from vendor names, counts and
//! the same error words the log shows.

use crate::domain::VendorKind;
use crate::domain::{CredentialField, RunKind, RunReport, RunSource, RunStatus, VendorId};
use serde::Serialize;
use std::str::FromStr;
use std::time::Duration;
use tracing::{info, warn};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A vendor failed `notify.failure_threshold` runs in a row.
    VendorFailing,
    /// A vendor's portal rejected its credentials: a person must enter them again.
    VendorNeedsAction,
    /// A sync a person started from the tray finished (desktop only: it answers the person
    /// who clicked, not the operators a webhook reaches).
    SyncFinished,
    /// The upstream push failed `notify.failure_threshold` times in a row.
    UpstreamStalled,
}

impl Event {
    /// Its name in the webhook's JSON and the log line's `event` field.
    const fn key(self) -> &'static str {
        match self {
            Self::VendorFailing => "vendor_failing",
            Self::VendorNeedsAction => "vendor_needs_action",
            Self::SyncFinished => "sync_finished",
            Self::UpstreamStalled => "upstream_stalled",
        }
    }

    /// How the log line says it.
    const fn describe(self) -> &'static str {
        match self {
            Self::VendorFailing => "keeps failing",
            Self::VendorNeedsAction => "needs your action",
            Self::SyncFinished => "finished",
            Self::UpstreamStalled => "is stalled",
        }
    }
}

/// `notify.desktop`: whether the agent shows desktop notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesktopMode {
    /// When a session bus is there (`DBUS_SESSION_BUS_ADDRESS` is set, or
    /// `$XDG_RUNTIME_DIR/bus` exists): a desktop session, not a site box's service.
    Auto,
    /// Always tried (a failure is logged once).
    On,
    /// Never.
    Off,
}

impl DesktopMode {
    /// The configured text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

impl FromStr for DesktopMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "on" | "true" => Ok(Self::On),
            "off" | "false" => Ok(Self::Off),
            _ => Err("expected auto, on or off".to_owned()),
        }
    }
}

/// One vendor notification (the webhook's JSON keeps this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// What it is about (`vendor_failing`, `vendor_needs_action` in the JSON).
    pub event: Event,
    /// The vendor.
    pub vendor_id: VendorId,
    /// Its name.
    pub vendor_name: String,
    /// Its portal.
    #[serde(skip)]
    pub vendor_kind: Option<VendorKind>,
    /// Plants or alerts.
    pub kind: RunKind,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// What went wrong.
    pub error: String,
    /// What the user should do.
    pub action: String,
}

/// A sync a person started from the tray, finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFinished {
    /// Plants or alerts.
    pub kind: RunKind,
    /// Its outcome.
    pub status: RunStatus,
    /// Vendors in the run.
    pub vendors: u64,
    /// Vendors that failed, with their errors.
    pub failed: Vec<(String, String)>,
    /// Rows stored.
    pub synced: u64,
    /// Of which new.
    pub created: u64,
    /// Of which changed.
    pub updated: u64,
}

/// The upstream push failing `notify.failure_threshold` times in a row (webhook JSON:
/// `{"event": "upstream_stalled", "target", "consecutiveFailures", "error", "action"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStall {
    /// Always [`Event::UpstreamStalled`].
    pub event: Event,
    /// The upstream, password redacted.
    pub target: String,
    /// Failed pushes in a row.
    pub consecutive_failures: u32,
    /// The last push's error.
    pub error: String,
    /// What the user should do.
    pub action: String,
}

/// Anything the agent notifies about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// About one vendor.
    Vendor(Notification),
    /// A tray sync finished.
    SyncFinished(SyncFinished),
    /// The upstream push is stalled.
    UpstreamStalled(UpstreamStall),
}

/// What a desktop notification shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopText {
    /// Its title line.
    pub summary: String,
    /// What happened and what to do.
    pub body: String,
}

impl Notice {
    /// What it is about.
    pub fn event(&self) -> Event {
        match self {
            Self::Vendor(n) => n.event,
            Self::SyncFinished(_) => Event::SyncFinished,
            Self::UpstreamStalled(_) => Event::UpstreamStalled,
        }
    }

    /// The desktop notification's text: what happened, and what to do about it.
    pub fn desktop_text(&self) -> DesktopText {
        match self {
            Self::Vendor(n) if n.event == Event::VendorNeedsAction => {
                let (flag, what) = secret_of(n.vendor_kind);
                let portal = n.vendor_kind.map_or("The portal", VendorKind::display_name);
                DesktopText {
                    summary: format!("plantsync: vendor {} needs new credentials", n.vendor_name),
                    body: format!(
                        "{portal} rejected the login of vendor {}: {}. plantsync will not try \
                         it again until the credentials change. Run `plantsync vendor set {} \
                         {flag}` to enter the new {what}.",
                        n.vendor_name, n.error, n.vendor_id
                    ),
                }
            }
            Self::Vendor(n) => DesktopText {
                summary: format!("plantsync: vendor {} keeps failing", n.vendor_name),
                body: format!(
                    "The {} sync of vendor {} failed {} times in a row: {}. Run `plantsync \
                     vendor show {}` and check the vendor's portal.",
                    singular(n.kind),
                    n.vendor_name,
                    n.consecutive_failures,
                    n.error,
                    n.vendor_id
                ),
            },
            Self::SyncFinished(f) => finished_text(f),
            Self::UpstreamStalled(s) => DesktopText {
                summary: "plantsync: the upstream push is stalled".to_owned(),
                body: format!(
                    "{} pushes in a row to {} failed: {}. Nothing is lost: the rows wait here \
                     and the agent keeps trying. {}.",
                    s.consecutive_failures, s.target, s.error, s.action
                ),
            },
        }
    }

    /// Whether the webhook gets it: the events for operators (a tray sync's end is for the
    /// person who clicked).
    fn for_webhook(&self) -> bool {
        !matches!(self, Self::SyncFinished(_))
    }
}

/// "plant" or "alert".
const fn singular(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Plants => "plant",
        RunKind::Alerts => "alert",
    }
}

/// The `vendor set` flag that replaces the secret a portal judges, and what it is called.
fn secret_of(kind: Option<VendorKind>) -> (&'static str, &'static str) {
    match kind {
        Some(kind) if kind.secret_flag() == "--api-key" => {
            ("--api-key", CredentialField::ApiKey.label(kind))
        }
        Some(kind) => ("--password", CredentialField::Password.label(kind)),
        None => ("--password", "password (or --api-key for SolarEdge and Growatt)"),
    }
}

/// The text of a tray sync's end: what synced and the result.
fn finished_text(f: &SyncFinished) -> DesktopText {
    let what = singular(f.kind);
    let ok = f.vendors.saturating_sub(f.failed.len() as u64);
    let summary = match f.status {
        RunStatus::Ok => format!("plantsync: {what} sync finished"),
        RunStatus::Partial if f.failed.is_empty() => {
            format!("plantsync: {what} sync finished, some rows were not read")
        }
        RunStatus::Partial => format!(
            "plantsync: {what} sync finished, {} of {} vendors failed",
            f.failed.len(),
            f.vendors
        ),
        RunStatus::Interrupted => format!("plantsync: {what} sync interrupted"),
        RunStatus::Skipped => format!("plantsync: {what} sync skipped"),
        RunStatus::Failed | RunStatus::Running => format!("plantsync: {what} sync failed"),
    };
    let mut body = format!(
        "{ok} of {} vendor(s) synced: {} {}s stored ({} new, {} updated).",
        f.vendors, f.synced, what, f.created, f.updated
    );
    if !f.failed.is_empty() {
        let shown: Vec<String> =
            f.failed.iter().take(3).map(|(name, error)| format!("{name} ({error})")).collect();
        let more = f.failed.len().saturating_sub(3);
        body.push_str(&format!(" Failed: {}", shown.join(", ")));
        if more > 0 {
            body.push_str(&format!(" and {more} more"));
        }
        body.push_str(". Run `plantsync status` for what to do.");
    }
    DesktopText { summary, body }
}

/// A vendor's health after a run, as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The vendor.
    pub id: VendorId,
    /// Its portal.
    pub kind: VendorKind,
    /// Failed runs in a row.
    pub failures: u32,
    /// Its credentials were rejected.
    pub needs_action: bool,
}

/// Decides and sends notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    threshold: u32,
    webhook: Option<String>,
    http: reqwest::Client,
    desktop: Option<super::desktop::Sink>,
}

impl Notifier {
    /// Notifies at `threshold` failures in a row; posts to `webhook` when set; shows
    /// desktop notifications as `desktop` says (logging once when they are off).
    pub fn new(threshold: u32, webhook: Option<String>, desktop: DesktopMode) -> Self {
        let http = crate::vendors::http::plain_client(Duration::from_secs(10)).unwrap_or_default();
        let desktop = super::desktop::Sink::for_mode(desktop);
        Self { threshold, webhook, http, desktop }
    }

    /// The notifications a finished run raises. `health` gives each vendor's state after
    /// the run.
    pub fn decide(&self, report: &RunReport, health: &[Health]) -> Vec<Notice> {
        let mut out = Vec::new();
        for result in report.summary.results.iter().filter(|r| !r.success) {
            let Some(vendor) = health.iter().find(|h| h.id == result.vendor_id) else {
                continue;
            };
            // A vendor that was not attempted (its credentials were rejected earlier) raised
            // its notification in the run that met the rejection; the later runs are silent.
            if report.skipped_for_credentials(result.vendor_id) {
                continue;
            }
            let error = result.error.clone().unwrap_or_default();
            let note = |event, action| Notification {
                event,
                vendor_id: result.vendor_id,
                vendor_name: result.vendor_name.clone(),
                vendor_kind: Some(vendor.kind),
                kind: report.summary.kind,
                consecutive_failures: vendor.failures,
                action,
                error: error.clone(),
            };
            if vendor.needs_action {
                let (flag, _) = secret_of(Some(vendor.kind));
                out.push(Notice::Vendor(note(
                    Event::VendorNeedsAction,
                    format!(
                        "update the credentials: plantsync vendor set {} {flag}",
                        result.vendor_id
                    ),
                )));
            } else if vendor.failures == self.threshold {
                out.push(Notice::Vendor(note(
                    Event::VendorFailing,
                    format!(
                        "check `plantsync vendor show {}` and the vendor's portal",
                        result.vendor_id
                    ),
                )));
            }
        }
        out
    }

    /// The notification a finished run started by `source` raises on its own: its end,
    /// when a person started it from the tray.
    pub fn decide_finished(&self, report: &RunReport, source: RunSource) -> Option<Notice> {
        if source != RunSource::Tray {
            return None;
        }
        let summary = &report.summary;
        let failed = summary
            .results
            .iter()
            .filter(|r| !r.success)
            .map(|r| (r.vendor_name.clone(), r.error.clone().unwrap_or_default()))
            .collect();
        Some(Notice::SyncFinished(SyncFinished {
            kind: summary.kind,
            status: report.status,
            vendors: summary.total_vendors,
            failed,
            synced: summary.total_synced,
            created: summary.total_created,
            updated: summary.total_updated,
        }))
    }

    /// The notification a push's outcome raises: one when the failures in a row reach the
    /// threshold. A success resets the count to 0, so the next stall notifies again; the
    /// pushes after the threshold are silent.
    pub fn decide_stall(&self, outcome: &crate::upstream::pusher::PushOutcome) -> Option<Notice> {
        if outcome.failures != self.threshold {
            return None;
        }
        Some(Notice::UpstreamStalled(UpstreamStall {
            event: Event::UpstreamStalled,
            target: outcome.target.clone(),
            consecutive_failures: outcome.failures,
            error: outcome.error.clone().unwrap_or_default(),
            action: "Check the network and `upstream.url`, then run `plantsync push` to try \
                     now"
            .to_owned(),
        }))
    }

    /// Logs each notification, posts it to the webhook and shows it on the desktop, both in
    /// the background.
    pub fn send(&self, notices: Vec<Notice>) {
        for notice in notices {
            self.log(&notice);
            if let Some(sink) = &self.desktop {
                sink.show(notice.desktop_text());
            }
            if let (Some(url), true) = (self.webhook.clone(), notice.for_webhook()) {
                let http = self.http.clone();
                tokio::spawn(async move { post_with_retries(&http, &url, &notice).await });
            }
        }
    }

    fn log(&self, notice: &Notice) {
        let event = notice.event();
        match notice {
            Notice::Vendor(n) => warn!(
                vendor = %n.vendor_id,
                event = event.key(),
                "vendor '{}' {}: {} ({} failure(s) in a row); {}",
                n.vendor_name,
                event.describe(),
                n.error,
                n.consecutive_failures,
                n.action
            ),
            Notice::SyncFinished(_) => {
                let text = notice.desktop_text();
                info!(event = event.key(), "{}: {}", text.summary, text.body);
            }
            Notice::UpstreamStalled(s) => warn!(
                event = event.key(),
                "the upstream push {}: {} ({} failure(s) in a row); {}",
                event.describe(),
                s.error,
                s.consecutive_failures,
                s.action
            ),
        }
    }
}

async fn post_with_retries(http: &reqwest::Client, url: &str, notice: &Notice) {
    let body = match notice {
        Notice::Vendor(n) => serde_json::to_value(n),
        Notice::UpstreamStalled(s) => serde_json::to_value(s),
        Notice::SyncFinished(_) => return,
    };
    let Ok(body) = body else { return };
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=3 {
        match http.post(url).json(&body).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                warn!(attempt, "notification webhook answered HTTP {}", response.status())
            }
            Err(e) => warn!(attempt, "notification webhook failed: {}", e.without_url()),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RunId, SkipReason, SyncSummary, VendorResult};
    use crate::upstream::pusher::PushOutcome;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn result(id: i64, error: Option<&str>) -> VendorResult {
        VendorResult {
            vendor_id: VendorId(id),
            vendor_name: format!("v{id}"),
            org_id: None,
            org_name: None,
            success: error.is_none(),
            synced: if error.is_none() { 4 } else { 0 },
            created: if error.is_none() { 3 } else { 0 },
            updated: if error.is_none() { 1 } else { 0 },
            total: 0,
            error: error.map(Into::into),
            skipped_rows: 0,
            duplicate_rows: 0,
        }
    }

    fn report(errors: &[(i64, &str)]) -> RunReport {
        let results = errors.iter().map(|(id, error)| result(*id, Some(error))).collect();
        RunReport {
            run_id: RunId(1),
            status: RunStatus::Failed,
            summary: SyncSummary::from_results(RunKind::Plants, results, 1),
            skipped: vec![],
        }
    }

    fn health(id: i64, kind: VendorKind, failures: u32, needs_action: bool) -> Health {
        Health { id: VendorId(id), kind, failures, needs_action }
    }

    fn notifier(threshold: u32, webhook: Option<String>) -> Notifier {
        Notifier::new(threshold, webhook, DesktopMode::Off)
    }

    fn events(notices: &[Notice]) -> Vec<Event> {
        notices.iter().map(Notice::event).collect()
    }

    #[test]
    fn raised_once_at_the_threshold_and_once_for_rejected_credentials() {
        let notifier = notifier(3, None);
        let run = report(&[(1, "HTTP 502"), (2, "credentials rejected: wrong password")]);
        let below = notifier.decide(
            &run,
            &[health(1, VendorKind::Solarman, 2, false), health(2, VendorKind::Huawei, 1, true)],
        );
        assert_eq!(events(&below), [Event::VendorNeedsAction]);
        let at = notifier.decide(&run, &[health(1, VendorKind::Solarman, 3, false)]);
        assert_eq!(events(&at), [Event::VendorFailing]);
        assert!(
            notifier.decide(&run, &[health(1, VendorKind::Solarman, 4, false)]).is_empty(),
            "not again after the threshold"
        );
        let mut skipped = report(&[(2, "not attempted: Sungrow rejected the credentials earlier")]);
        skipped.skipped = vec![(VendorId(2), SkipReason::CredentialsRejected)];
        assert!(
            notifier.decide(&skipped, &[health(2, VendorKind::Sungrow, 2, true)]).is_empty(),
            "not again while waiting"
        );
        assert!(
            notifier.decide(&skipped, &[health(2, VendorKind::Sungrow, 3, true)]).is_empty(),
            "nor as 'failing' when the skips reach the threshold"
        );
        let Notice::Vendor(failing) = &at[0] else { panic!("{at:?}") };
        let json = serde_json::to_value(failing).unwrap();
        assert_eq!(json["event"], "vendor_failing", "the webhook's JSON keeps its spelling");
        assert!(json.get("vendorKind").is_none(), "nor gains fields: {json}");
        for event in [
            Event::VendorFailing,
            Event::VendorNeedsAction,
            Event::SyncFinished,
            Event::UpstreamStalled,
        ] {
            assert_eq!(serde_json::to_value(event).unwrap(), event.key(), "the log says it so too");
        }
    }

    #[test]
    fn the_desktop_texts_name_the_vendor_and_say_what_to_do() {
        let notifier = notifier(3, None);
        let run = report(&[(7, "credentials rejected: the portal refused the password")]);
        let needs = notifier.decide(&run, &[health(7, VendorKind::Huawei, 1, true)]);
        let text = needs[0].desktop_text();
        assert_eq!(text.summary, "plantsync: vendor v7 needs new credentials");
        assert_eq!(
            text.body,
            "Huawei FusionSolar rejected the login of vendor v7: credentials rejected: the \
             portal refused the password. plantsync will not try it again until the \
             credentials change. Run `plantsync vendor set 7 --password` to enter the new \
             FusionSolar systemCode."
        );
        // A static-key portal: the API key, by its portal's name.
        let key = notifier.decide(&run, &[health(7, VendorKind::SolarEdge, 1, true)]);
        let body = key[0].desktop_text().body;
        assert!(
            body.ends_with(
                "Run `plantsync vendor set 7 --api-key` to enter the new SolarEdge API key."
            ),
            "{body}"
        );
        let failing = notifier
            .decide(&report(&[(4, "HTTP 502")]), &[health(4, VendorKind::Growatt, 3, false)]);
        assert_eq!(
            failing[0].desktop_text(),
            DesktopText {
                summary: "plantsync: vendor v4 keeps failing".to_owned(),
                body: "The plant sync of vendor v4 failed 3 times in a row: HTTP 502. Run \
                       `plantsync vendor show 4` and check the vendor's portal."
                    .to_owned(),
            }
        );
    }

    #[test]
    fn a_tray_sync_says_what_synced_and_the_result_other_sources_say_nothing() {
        let notifier = notifier(3, None);
        let results = vec![result(1, None), result(2, Some("HTTP 502"))];
        let run = RunReport {
            run_id: RunId(9),
            status: RunStatus::Partial,
            summary: SyncSummary::from_results(RunKind::Plants, results, 1),
            skipped: vec![],
        };
        for source in [RunSource::Cron, RunSource::User, RunSource::Api, RunSource::System] {
            assert_eq!(notifier.decide_finished(&run, source), None, "{source}");
        }
        let notice = notifier.decide_finished(&run, RunSource::Tray).unwrap();
        assert_eq!(
            notice.desktop_text(),
            DesktopText {
                summary: "plantsync: plant sync finished, 1 of 2 vendors failed".to_owned(),
                body: "1 of 2 vendor(s) synced: 4 plants stored (3 new, 1 updated). Failed: v2 \
                       (HTTP 502). Run `plantsync status` for what to do."
                    .to_owned(),
            }
        );
        assert!(!notice.for_webhook(), "the click's answer is for the desktop only");
        let clean = RunReport {
            status: RunStatus::Ok,
            summary: SyncSummary::from_results(RunKind::Alerts, vec![result(1, None)], 1),
            ..run
        };
        let text = notifier.decide_finished(&clean, RunSource::Tray).unwrap().desktop_text();
        assert_eq!(text.summary, "plantsync: alert sync finished");
        assert_eq!(text.body, "1 of 1 vendor(s) synced: 4 alerts stored (3 new, 1 updated).");
    }

    #[test]
    fn a_stall_is_told_once_per_streak_of_failed_pushes() {
        let notifier = notifier(3, None);
        let outcome = |failures: u32| PushOutcome {
            failures,
            error: (failures > 0).then(|| "cannot connect: connection refused".to_owned()),
            target: "postgres://site:**REDACTED**@central/plants".to_owned(),
        };
        let told: Vec<u32> = [1, 2, 3, 4, 5, 0, 1, 2, 3, 4]
            .into_iter()
            .filter(|&n| notifier.decide_stall(&outcome(n)).is_some())
            .collect();
        assert_eq!(told, [3, 3], "at the threshold, and again only after a success");
        let notice = notifier.decide_stall(&outcome(3)).unwrap();
        assert!(notice.for_webhook());
        assert_eq!(
            notice.desktop_text(),
            DesktopText {
                summary: "plantsync: the upstream push is stalled".to_owned(),
                body: "3 pushes in a row to postgres://site:**REDACTED**@central/plants failed: \
                       cannot connect: connection refused. Nothing is lost: the rows wait here \
                       and the agent keeps trying. Check the network and `upstream.url`, then \
                       run `plantsync push` to try now."
                    .to_owned(),
            }
        );
        let Notice::UpstreamStalled(stall) = &notice else { panic!("{notice:?}") };
        let json = serde_json::to_value(stall).unwrap();
        assert_eq!(json["event"], "upstream_stalled");
        assert_eq!(json["consecutiveFailures"], 3);
    }

    #[tokio::test]
    async fn webhook_is_retried_until_accepted() {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                let seen = Arc::clone(&seen);
                async move {
                    assert_eq!(body["event"], "vendor_failing");
                    if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let notifier = notifier(1, Some(url.clone()));
        let notes = notifier
            .decide(&report(&[(1, "HTTP 502")]), &[health(1, VendorKind::Solarman, 1, false)]);
        post_with_retries(&notifier.http, &url, &notes[0]).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
