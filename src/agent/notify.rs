//! Failure notifications: once when a vendor has failed N runs in a row, and once when a
//! vendor rejected its credentials. Always a WARN log line; optionally a JSON POST to a
//! webhook, retried three times with backoff.

use crate::domain::{RunKind, RunReport, VendorId};
use serde::Serialize;
use std::time::Duration;
use tracing::warn;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A vendor failed `notify.failure_threshold` runs in a row.
    VendorFailing,
    /// A vendor's portal rejected its credentials: a person must enter them again.
    VendorNeedsAction,
}

impl Event {
    /// Its name in the webhook's JSON and the log line's `event` field.
    const fn key(self) -> &'static str {
        match self {
            Self::VendorFailing => "vendor_failing",
            Self::VendorNeedsAction => "vendor_needs_action",
        }
    }

    /// How the log line says it.
    const fn describe(self) -> &'static str {
        match self {
            Self::VendorFailing => "keeps failing",
            Self::VendorNeedsAction => "needs your action",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// What it is about (`vendor_failing`, `vendor_needs_action` in the JSON).
    pub event: Event,
    /// The vendor.
    pub vendor_id: VendorId,
    /// Its name.
    pub vendor_name: String,
    /// Plants or alerts.
    pub kind: RunKind,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// What went wrong.
    pub error: String,
    /// What the user should do.
    pub action: String,
}

/// Decides and sends notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    threshold: u32,
    webhook: Option<String>,
    http: reqwest::Client,
}

impl Notifier {
    /// Notifies at `threshold` failures in a row; posts to `webhook` when set.
    pub fn new(threshold: u32, webhook: Option<String>) -> Self {
        let http = crate::vendors::http::plain_client(Duration::from_secs(10)).unwrap_or_default();
        Self { threshold, webhook, http }
    }

    /// The notifications a finished run raises. `failures` gives each failed vendor's
    /// consecutive-failure count after the run.
    pub fn decide(
        &self,
        report: &RunReport,
        failures: &[(VendorId, u32, bool)],
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for result in report.summary.results.iter().filter(|r| !r.success) {
            let Some((_, count, needs_action)) =
                failures.iter().find(|(id, _, _)| *id == result.vendor_id)
            else {
                continue;
            };
            // A vendor that was not attempted (its credentials were rejected earlier) raised
            // its notification in the run that met the rejection; the later runs are silent.
            if report.skipped_for_credentials(result.vendor_id) {
                continue;
            }
            let error = result.error.clone().unwrap_or_default();
            if *needs_action {
                out.push(Notification {
                    event: Event::VendorNeedsAction,
                    vendor_id: result.vendor_id,
                    vendor_name: result.vendor_name.clone(),
                    kind: report.summary.kind,
                    consecutive_failures: *count,
                    action: format!(
                        "update the credentials: plantsync vendor set {} --password (--api-key \
                         for SolarEdge and Growatt)",
                        result.vendor_id
                    ),
                    error,
                });
            } else if *count == self.threshold {
                out.push(Notification {
                    event: Event::VendorFailing,
                    vendor_id: result.vendor_id,
                    vendor_name: result.vendor_name.clone(),
                    kind: report.summary.kind,
                    consecutive_failures: *count,
                    action: format!(
                        "check `plantsync vendor show {}` and the vendor's portal",
                        result.vendor_id
                    ),
                    error,
                });
            }
        }
        out
    }

    /// Logs each notification and posts it to the webhook in the background.
    pub fn send(&self, notifications: Vec<Notification>) {
        for n in notifications {
            warn!(
                vendor = %n.vendor_id,
                event = n.event.key(),
                "vendor '{}' {}: {} ({} failure(s) in a row); {}",
                n.vendor_name,
                n.event.describe(),
                n.error,
                n.consecutive_failures,
                n.action
            );
            if let Some(url) = self.webhook.clone() {
                let http = self.http.clone();
                tokio::spawn(async move { post_with_retries(&http, &url, &n).await });
            }
        }
    }
}

async fn post_with_retries(http: &reqwest::Client, url: &str, notification: &Notification) {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=3 {
        match http.post(url).json(notification).send().await {
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
    use crate::domain::{RunId, RunStatus, SkipReason, SyncSummary, VendorResult};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn report(errors: &[(i64, &str)]) -> RunReport {
        let results = errors
            .iter()
            .map(|(id, error)| VendorResult {
                vendor_id: VendorId(*id),
                vendor_name: format!("v{id}"),
                org_id: None,
                org_name: None,
                success: false,
                synced: 0,
                created: 0,
                updated: 0,
                total: 0,
                error: Some((*error).into()),
                skipped_rows: 0,
                duplicate_rows: 0,
            })
            .collect();
        RunReport {
            run_id: RunId(1),
            status: RunStatus::Failed,
            summary: SyncSummary::from_results(RunKind::Plants, results, 1),
            skipped: vec![],
        }
    }

    #[test]
    fn raised_once_at_the_threshold_and_once_for_rejected_credentials() {
        let notifier = Notifier::new(3, None);
        let run = report(&[(1, "HTTP 502"), (2, "credentials rejected: wrong password")]);
        let below = notifier.decide(&run, &[(VendorId(1), 2, false), (VendorId(2), 1, true)]);
        assert_eq!(
            below.iter().map(|n| (n.vendor_id, n.event)).collect::<Vec<_>>(),
            [(VendorId(2), Event::VendorNeedsAction)]
        );
        let at = notifier.decide(&run, &[(VendorId(1), 3, false)]);
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].event, Event::VendorFailing);
        assert!(
            notifier.decide(&run, &[(VendorId(1), 4, false)]).is_empty(),
            "not again after the threshold"
        );
        let mut skipped = report(&[(2, "not attempted: Sungrow rejected the credentials earlier")]);
        skipped.skipped = vec![(VendorId(2), SkipReason::CredentialsRejected)];
        assert!(
            notifier.decide(&skipped, &[(VendorId(2), 2, true)]).is_empty(),
            "not again while waiting"
        );
        assert!(
            notifier.decide(&skipped, &[(VendorId(2), 3, true)]).is_empty(),
            "nor as 'failing' when the skips reach the threshold"
        );
        assert_eq!(
            serde_json::to_value(&at[0]).unwrap()["event"],
            "vendor_failing",
            "the webhook's JSON keeps its spelling"
        );
        for event in [Event::VendorFailing, Event::VendorNeedsAction] {
            assert_eq!(serde_json::to_value(event).unwrap(), event.key(), "the log says it so too");
        }
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
        let notifier = Notifier::new(1, Some(url.clone()));
        let notes = notifier.decide(&report(&[(1, "HTTP 502")]), &[(VendorId(1), 1, false)]);
        post_with_retries(&notifier.http, &url, &notes[0]).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
