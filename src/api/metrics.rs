//! Counters for `GET /metrics`, in the Prometheus text format.

use super::wire::UpstreamStatus;
use crate::domain::{PlantStatus, RunKind, RunReport, RunStatus, Timestamp};
use crate::store::{StoreStatus, VendorHealth};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// What the agent has counted since it started.
#[derive(Debug, Default, Clone)]
struct Counts {
    /// (kind, status) to runs.
    runs: BTreeMap<(RunKind, RunStatus), u64>,
    /// Vendor id to failed syncs.
    vendor_failures: BTreeMap<String, u64>,
    /// Kind to rows synced.
    synced: BTreeMap<RunKind, u64>,
    /// Kind to (total seconds, runs).
    durations: BTreeMap<RunKind, (f64, u64)>,
    /// Kind to the unix time of the last run that synced at least one vendor.
    last_success: BTreeMap<RunKind, i64>,
}

/// The agent's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

/// A per-vendor gauge: its name, its help text and how to read it from a vendor's health.
type VendorGauge = (&'static str, &'static str, fn(&VendorHealth) -> u32);

/// Writes one metric family's header.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl Metrics {
    /// Counts a finished run.
    pub fn record(&self, report: &RunReport) {
        let Ok(mut counts) = self.counts.lock() else { return };
        let kind = report.summary.kind;
        *counts.runs.entry((kind, report.status)).or_default() += 1;
        *counts.synced.entry(kind).or_default() += report.summary.total_synced;
        let duration = counts.durations.entry(kind).or_default();
        duration.0 += report.summary.duration as f64 / 1000.0;
        duration.1 += 1;
        for result in report.summary.results.iter().filter(|r| !r.success) {
            *counts.vendor_failures.entry(result.vendor_id.to_string()).or_default() += 1;
        }
        if matches!(report.status, RunStatus::Ok | RunStatus::Partial) {
            counts.last_success.insert(kind, Timestamp::now().as_datetime().timestamp());
        }
    }

    /// The exposition text; the per-vendor and store gauges come from `status`, the
    /// upstream ones from `upstream` (read at `now`).
    pub fn render(
        &self,
        status: &StoreStatus,
        upstream: Option<&UpstreamStatus>,
        now: DateTime<Utc>,
    ) -> String {
        let counts = self.counts.lock().map(|c| c.clone()).unwrap_or_default();
        let mut out = String::new();
        family(&mut out, "plantsync_runs_total", "counter", "Sync runs by kind and outcome.");
        for ((kind, outcome), n) in &counts.runs {
            let _ =
                writeln!(out, "plantsync_runs_total{{kind=\"{kind}\",status=\"{outcome}\"}} {n}");
        }
        family(
            &mut out,
            "plantsync_synced_total",
            "counter",
            "Plants or alerts stored by sync runs.",
        );
        for kind in RunKind::ALL {
            let n = counts.synced.get(kind).copied().unwrap_or(0);
            let _ = writeln!(out, "plantsync_synced_total{{kind=\"{kind}\"}} {n}");
        }
        family(&mut out, "plantsync_run_duration_seconds", "summary", "Wall time of sync runs.");
        for (kind, (seconds, runs)) in &counts.durations {
            let _ =
                writeln!(out, "plantsync_run_duration_seconds_sum{{kind=\"{kind}\"}} {seconds:.3}");
            let _ = writeln!(out, "plantsync_run_duration_seconds_count{{kind=\"{kind}\"}} {runs}");
        }
        family(
            &mut out,
            "plantsync_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last run that synced at least one vendor.",
        );
        for (kind, at) in &counts.last_success {
            let _ =
                writeln!(out, "plantsync_last_success_timestamp_seconds{{kind=\"{kind}\"}} {at}");
        }
        family(
            &mut out,
            "plantsync_vendor_failures_total",
            "counter",
            "Failed vendor syncs since the agent started.",
        );
        for (vendor, n) in &counts.vendor_failures {
            let _ = writeln!(out, "plantsync_vendor_failures_total{{vendor=\"{vendor}\"}} {n}");
        }
        let gauges: [VendorGauge; 2] = [
            (
                "plantsync_vendor_consecutive_failures",
                "Failed plant syncs in a row, per vendor.",
                |v| v.consecutive_failures,
            ),
            (
                "plantsync_vendor_alert_consecutive_failures",
                "Failed alert syncs in a row, per vendor.",
                |v| v.alerts_consecutive_failures,
            ),
        ];
        for (name, help, value) in gauges {
            family(&mut out, name, "gauge", help);
            for v in &status.vendor_health {
                let _ =
                    writeln!(out, "{name}{{vendor=\"{}\",kind=\"{}\"}} {}", v.id, v.kind, value(v));
            }
        }
        family(
            &mut out,
            "plantsync_vendor_quota_remaining",
            "gauge",
            "Requests left today (UTC) of the portal's daily quota, for portals with one.",
        );
        for v in &status.vendor_health {
            if let (Some(used), Some(limit)) = (v.quota_used_today, v.quota_daily_limit) {
                let left = limit.saturating_sub(used);
                let _ = writeln!(
                    out,
                    "plantsync_vendor_quota_remaining{{vendor=\"{}\",kind=\"{}\"}} {left}",
                    v.id, v.kind
                );
            }
        }
        family(&mut out, "plantsync_plants", "gauge", "Plants in the local store.");
        let _ = writeln!(out, "plantsync_plants{{active=\"true\"}} {}", status.active_plants);
        let _ = writeln!(
            out,
            "plantsync_plants{{active=\"false\"}} {}",
            status.plants - status.active_plants
        );
        family(
            &mut out,
            "plantsync_plants_by_status",
            "gauge",
            "Active plants by normalized status (online, partial, offline, fault, unknown).",
        );
        for status_word in PlantStatus::ALL {
            let n = status.plants_by_status.get(status_word).copied().unwrap_or(0);
            let _ = writeln!(out, "plantsync_plants_by_status{{status=\"{status_word}\"}} {n}");
        }
        family(&mut out, "plantsync_alerts_active", "gauge", "Alerts still active.");
        let _ = writeln!(out, "plantsync_alerts_active {}", status.active_alerts);
        if let Some(upstream) = upstream {
            upstream_gauges(&mut out, upstream, now);
        }
        out
    }
}

/// The upstream push's gauges: the queue per table, how old its oldest change is, the
/// last push and the retry state, so a stall shows on the first scrape after it begins.
fn upstream_gauges(out: &mut String, upstream: &UpstreamStatus, now: DateTime<Utc>) {
    let state = &upstream.state;
    family(
        out,
        "plantsync_upstream_pending_rows",
        "gauge",
        "Rows changed locally and not yet confirmed by the central database, per table.",
    );
    for table in &state.tables {
        let _ = writeln!(
            out,
            "plantsync_upstream_pending_rows{{table=\"{}\"}} {}",
            table.table, table.pending
        );
    }
    family(
        out,
        "plantsync_upstream_oldest_pending_seconds",
        "gauge",
        "Age of the oldest pending row's last change (0: nothing pending).",
    );
    let oldest =
        state.oldest_pending_at().map_or(0, |at| (now - at.as_datetime()).num_seconds().max(0));
    let _ = writeln!(out, "plantsync_upstream_oldest_pending_seconds {oldest}");
    family(
        out,
        "plantsync_upstream_rejected_rows",
        "gauge",
        "Rows the central database refused, set aside (`plantsync upstream rejected`).",
    );
    let _ = writeln!(out, "plantsync_upstream_rejected_rows {}", state.rejected);
    family(
        out,
        "plantsync_upstream_pending_deletions",
        "gauge",
        "Rows deleted locally whose deletion the central database has not confirmed.",
    );
    let _ = writeln!(out, "plantsync_upstream_pending_deletions {}", state.deletions_pending);
    if let Some(receipt) = &state.last_receipt {
        family(
            out,
            "plantsync_upstream_receipt_ok",
            "gauge",
            "1 when the last receipt found no table differing from the store, 0 when one did.",
        );
        let _ = writeln!(out, "plantsync_upstream_receipt_ok {}", u8::from(receipt.ok));
    }
    family(
        out,
        "plantsync_upstream_configured",
        "gauge",
        "1 when this agent pushes upstream (upstream.url is set).",
    );
    let _ = writeln!(out, "plantsync_upstream_configured {}", u8::from(upstream.target.is_some()));
    if let Some(last) = &state.last_push {
        family(
            out,
            "plantsync_upstream_last_push_success",
            "gauge",
            "1 when the last push confirmed every pending row, 0 when it failed.",
        );
        let _ = writeln!(out, "plantsync_upstream_last_push_success {}", u8::from(last.ok));
        family(
            out,
            "plantsync_upstream_last_push_timestamp_seconds",
            "gauge",
            "Unix time the last push ended.",
        );
        let _ = writeln!(
            out,
            "plantsync_upstream_last_push_timestamp_seconds {}",
            last.finished_at.as_datetime().timestamp()
        );
    }
    family(
        out,
        "plantsync_upstream_consecutive_failures",
        "gauge",
        "Failed pushes in a row (0 after a success).",
    );
    let _ = writeln!(out, "plantsync_upstream_consecutive_failures {}", state.retry.failures);
    if let Some(next) = &state.retry.next_attempt_at {
        family(
            out,
            "plantsync_upstream_next_attempt_timestamp_seconds",
            "gauge",
            "Unix time of the agent's next push attempt while it backs off.",
        );
        let _ = writeln!(
            out,
            "plantsync_upstream_next_attempt_timestamp_seconds {}",
            next.as_datetime().timestamp()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RunId, SyncSummary, VendorId, VendorKind, VendorResult};
    use crate::store::VendorHealth;

    #[test]
    fn counts_runs_failures_and_durations() {
        let metrics = Metrics::default();
        let failed = VendorResult {
            vendor_id: VendorId(7),
            vendor_name: "v".into(),
            org_id: None,
            org_name: None,
            success: false,
            synced: 0,
            created: 0,
            updated: 0,
            total: 0,
            error: Some("x".into()),
            skipped_rows: 0,
            duplicate_rows: 0,
        };
        let report = RunReport {
            run_id: RunId(1),
            status: RunStatus::Failed,
            summary: SyncSummary::from_results(RunKind::Plants, vec![failed], 1500),
            skipped: vec![],
        };
        metrics.record(&report);
        metrics.record(&report);
        let status = StoreStatus {
            database_path: String::new(),
            database_bytes: 0,
            schema_version: 1,
            organizations: 0,
            vendors: 0,
            active_vendors: 0,
            plants: 5,
            active_plants: 4,
            plants_by_status: BTreeMap::from([(PlantStatus::Online, 3), (PlantStatus::Offline, 1)]),
            alerts: 0,
            active_alerts: 0,
            last_plant_run_at: None,
            last_alert_run_at: None,
            vendor_health: vec![VendorHealth {
                id: VendorId(3),
                name: "edge".into(),
                kind: VendorKind::SolarEdge,
                is_active: true,
                last_synced_at: None,
                last_alerts_synced_at: None,
                last_error: None,
                consecutive_failures: 0,
                last_alerts_error: None,
                alerts_consecutive_failures: 0,
                needs_user_action: false,
                quota_used_today: Some(42),
                quota_daily_limit: Some(300),
                quota_resets_at: None,
                quota_portal_said: None,
                next_key_probe_at: None,
            }],
        };
        let text = metrics.render(&status, None, Utc::now());
        assert!(text.contains("plantsync_plants_by_status{status=\"online\"} 3\n"), "{text}");
        assert!(text.contains("plantsync_plants_by_status{status=\"offline\"} 1\n"), "{text}");
        assert!(text.contains("plantsync_plants_by_status{status=\"fault\"} 0\n"), "{text}");
        assert!(
            text.contains("plantsync_vendor_quota_remaining{vendor=\"3\",kind=\"solaredge\"} 258"),
            "{text}"
        );
        assert!(
            text.contains("plantsync_runs_total{kind=\"plants\",status=\"failed\"} 2"),
            "{text}"
        );
        assert!(text.contains("plantsync_vendor_failures_total{vendor=\"7\"} 2"));
        assert!(text.contains("plantsync_run_duration_seconds_sum{kind=\"plants\"} 3.000"));
        assert!(text.contains("plantsync_plants{active=\"false\"} 1"));
        assert!(!text.contains("plantsync_last_success_timestamp_seconds{"), "no success yet");
    }
}
