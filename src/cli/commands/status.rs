//! `plantsync status`: what the local database holds and how each vendor is doing.

use super::Ctx;
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, text_cell, time_cell, write_csv, write_json, yes_no,
};

/// `status --format json`: the store's report and the running agent, if any.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    store: &'a crate::store::StoreStatus,
    agent: Option<crate::datadir::lock::AgentInfo>,
}

/// Runs `status`.
pub async fn run(ctx: &mut Ctx<'_>, format: Format) -> anyhow::Result<()> {
    let status = ctx.store.status().await?;
    let agent = crate::datadir::lock::running_agent(&ctx.settings.data_dir.value);
    match format {
        Format::Json => write_json(ctx.out, &Report { store: &status, agent }),
        Format::Csv => write_csv(ctx.out, &status.vendor_health),
        Format::Table => {
            let tz = ctx.tz();
            write!(
                ctx.out,
                "{}",
                key_values(&[
                    (
                        "agent",
                        agent.map_or_else(
                            || "not running".to_owned(),
                            |a| match &a.api {
                                Some(api) => format!("running (pid {}, API http://{api})", a.pid),
                                None => format!("starting (pid {})", a.pid),
                            },
                        ),
                    ),
                    ("database", status.database_path.clone()),
                    ("size", human_bytes(status.database_bytes)),
                    ("schema version", status.schema_version.to_string()),
                    ("organizations", status.organizations.to_string()),
                    ("vendors", format!("{} ({} active)", status.vendors, status.active_vendors)),
                    ("plants", format!("{} ({} active)", status.plants, status.active_plants)),
                    ("alerts", format!("{} ({} active)", status.alerts, status.active_alerts)),
                    ("last plant sync run", time_cell(status.last_plant_run_at.as_ref(), tz)),
                    ("last alert sync run", time_cell(status.last_alert_run_at.as_ref(), tz)),
                ])
            )?;
            if !status.vendor_health.is_empty() {
                let mut table = Table::default()
                    .column("ID", 2, true)
                    .column("VENDOR", 8, false)
                    .column("KIND", 8, false)
                    .column("ON", 3, false)
                    .column("LAST SYNC", 16, false)
                    .column("FAILS", 5, true)
                    .column("LAST ERROR", 10, false);
                for v in &status.vendor_health {
                    let error = if v.needs_user_action {
                        format!("NEEDS ACTION: {}", text_cell(v.last_error.as_deref()))
                    } else {
                        text_cell(v.last_error.as_deref())
                    };
                    table.row(vec![
                        v.id.to_string(),
                        v.name.clone(),
                        v.kind.to_string(),
                        yes_no(v.is_active),
                        time_cell(v.last_synced_at.as_ref(), tz),
                        v.consecutive_failures.to_string(),
                        error,
                    ]);
                }
                write!(ctx.out, "\n{}", table.render(TABLE_WIDTH))?;
                let quotas: Vec<(String, String)> = status
                    .vendor_health
                    .iter()
                    .filter_map(|v| {
                        let (used, limit) = (v.quota_used_today?, v.quota_daily_limit?);
                        let left = limit.saturating_sub(used);
                        let mut text = format!("{left} of {limit} requests left today");
                        if let Some(at) = &v.quota_resets_at {
                            text.push_str(&format!(" (resets {})", time_cell(Some(at), tz)));
                        }
                        if let Some(said) = &v.quota_portal_said {
                            text.push_str(&format!("; the portal refused a call: {said}"));
                        }
                        Some((v.name.clone(), text))
                    })
                    .collect();
                if !quotas.is_empty() {
                    writeln!(ctx.out, "\ndaily request quotas (the portal's day):")?;
                    let rows: Vec<(&str, String)> =
                        quotas.iter().map(|(name, text)| (name.as_str(), text.clone())).collect();
                    write!(ctx.out, "{}", key_values(&rows))?;
                }
                let probes: Vec<(&str, String)> = status
                    .vendor_health
                    .iter()
                    .filter_map(|v| {
                        let at = v.next_key_probe_at.as_ref()?;
                        Some((
                            v.name.as_str(),
                            format!("tried again after {}", time_cell(Some(at), tz)),
                        ))
                    })
                    .collect();
                if !probes.is_empty() {
                    writeln!(ctx.out, "\nrefused API keys (one call each, until they work):")?;
                    write!(ctx.out, "{}", key_values(&probes))?;
                }
            }
            Ok(())
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
