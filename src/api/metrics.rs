//! Counters for `GET /metrics`, in the Prometheus text format.

use crate::domain::{RunKind, RunStatus, Timestamp};
use crate::store::StoreStatus;
use crate::sync::RunReport;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Data {
    runs: BTreeMap<(String, String), u64>,
    vendor_failures: BTreeMap<String, u64>,
    synced: BTreeMap<String, u64>,
    duration_sum: BTreeMap<String, f64>,
    duration_count: BTreeMap<String, u64>,
    last_success: BTreeMap<String, i64>,
}

/// What the agent counts while it runs.
#[derive(Debug, Default)]
pub struct Metrics {
    data: Mutex<Data>,
}

impl Metrics {
    /// Counts a finished run.
    pub fn record(&self, report: &RunReport) {
        let Ok(mut data) = self.data.lock() else { return };
        let kind = report.summary.kind.as_str().to_owned();
        *data.runs.entry((kind.clone(), report.status.as_str().to_owned())).or_default() += 1;
        *data.synced.entry(kind.clone()).or_default() += report.summary.total_synced;
        *data.duration_sum.entry(kind.clone()).or_default() +=
            report.summary.duration as f64 / 1000.0;
        *data.duration_count.entry(kind.clone()).or_default() += 1;
        for result in report.summary.results.iter().filter(|r| !r.success) {
            *data.vendor_failures.entry(result.vendor_id.to_string()).or_default() += 1;
        }
        if matches!(report.status, RunStatus::Ok | RunStatus::Partial) {
            data.last_success.insert(kind, Timestamp::now().as_datetime().timestamp());
        }
    }

    /// The exposition text; per-vendor gauges come from the store's status.
    pub fn render(&self, status: &StoreStatus) -> String {
        let data = self.data.lock().map(|d| Data {
            runs: d.runs.clone(),
            vendor_failures: d.vendor_failures.clone(),
            synced: d.synced.clone(),
            duration_sum: d.duration_sum.clone(),
            duration_count: d.duration_count.clone(),
            last_success: d.last_success.clone(),
        });
        let data = data.unwrap_or_default();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            name.to_owned()
        };
        let runs = family("plantsync_runs_total", "counter", "Sync runs by kind and outcome.");
        let mut lines = String::new();
        for ((kind, outcome), n) in &data.runs {
            let _ = writeln!(lines, "{runs}{{kind=\"{kind}\",status=\"{outcome}\"}} {n}");
        }
        out.push_str(&lines);
        lines.clear();
        let push = |out: &mut String, text: String| out.push_str(&text);
        let _ = writeln!(
            out,
            "# HELP plantsync_synced_total Plants or alerts stored by sync runs.\n# TYPE plantsync_synced_total counter"
        );
        for kind in [RunKind::Plants, RunKind::Alerts] {
            let n = data.synced.get(kind.as_str()).copied().unwrap_or(0);
            push(&mut out, format!("plantsync_synced_total{{kind=\"{kind}\"}} {n}\n"));
        }
        let _ = writeln!(
            out,
            "# HELP plantsync_run_duration_seconds Wall time of sync runs.\n# TYPE plantsync_run_duration_seconds summary"
        );
        for (kind, sum) in &data.duration_sum {
            let count = data.duration_count.get(kind).copied().unwrap_or(0);
            push(
                &mut out,
                format!(
                    "plantsync_run_duration_seconds_sum{{kind=\"{kind}\"}} {sum:.3}\nplantsync_run_duration_seconds_count{{kind=\"{kind}\"}} {count}\n"
                ),
            );
        }
        let _ = writeln!(
            out,
            "# HELP plantsync_last_success_timestamp_seconds Unix time of the last run that synced at least one vendor.\n# TYPE plantsync_last_success_timestamp_seconds gauge"
        );
        for (kind, at) in &data.last_success {
            push(
                &mut out,
                format!("plantsync_last_success_timestamp_seconds{{kind=\"{kind}\"}} {at}\n"),
            );
        }
        let _ = writeln!(
            out,
            "# HELP plantsync_vendor_failures_total Failed vendor syncs since the agent started.\n# TYPE plantsync_vendor_failures_total counter"
        );
        for (vendor, n) in &data.vendor_failures {
            push(&mut out, format!("plantsync_vendor_failures_total{{vendor=\"{vendor}\"}} {n}\n"));
        }
        let _ = writeln!(
            out,
            "# HELP plantsync_vendor_consecutive_failures Failed syncs in a row, per vendor.\n# TYPE plantsync_vendor_consecutive_failures gauge"
        );
        for v in &status.vendor_health {
            push(
                &mut out,
                format!(
                    "plantsync_vendor_consecutive_failures{{vendor=\"{}\",kind=\"{}\"}} {}\n",
                    v.id, v.kind, v.consecutive_failures
                ),
            );
        }
        let _ = writeln!(
            out,
            "# HELP plantsync_plants Plants in the local store.\n# TYPE plantsync_plants gauge"
        );
        push(
            &mut out,
            format!(
                "plantsync_plants{{active=\"true\"}} {}\nplantsync_plants{{active=\"false\"}} {}\n",
                status.active_plants,
                status.plants - status.active_plants
            ),
        );
        let _ = writeln!(
            out,
            "# HELP plantsync_alerts_active Alerts still active.\n# TYPE plantsync_alerts_active gauge"
        );
        push(&mut out, format!("plantsync_alerts_active {}\n", status.active_alerts));
        out
    }
}
