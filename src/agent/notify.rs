//! Failure notifications: once when a vendor has failed N runs in a row, and once when a
//! vendor rejected its credentials. Always a WARN log line; optionally a JSON POST to a
//! webhook, retried three times with backoff.

use crate::domain::{RunKind, VendorId};
use crate::sync::RunReport;
use serde::Serialize;
use std::time::Duration;
use tracing::warn;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `vendor_failing` or `vendor_needs_action`.
    pub event: &'static str,
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
            let error = result.error.clone().unwrap_or_default();
            // A rejection is raised by the run that met it, not by the later runs that skip
            // the vendor ("not attempted").
            if *needs_action && !error.starts_with("not attempted") {
                out.push(Notification {
                    event: "vendor_needs_action",
                    vendor_id: result.vendor_id,
                    vendor_name: result.vendor_name.clone(),
                    kind: report.summary.kind,
                    consecutive_failures: *count,
                    action: format!(
                        "update the credentials: plantsync vendor set {} --password",
                        result.vendor_id
                    ),
                    error,
                });
            } else if *count == self.threshold {
                out.push(Notification {
                    event: "vendor_failing",
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
                event = n.event,
                "vendor '{}' {}: {} ({} failure(s) in a row); {}",
                n.vendor_name,
                if n.event == "vendor_needs_action" { "needs your action" } else { "keeps failing" },
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
