//! `plantsync alerts list|show`.

use super::{Ctx, UsageError, usage_if_invalid};
use crate::cli::AlertsCommand;
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, text_cell, time_cell, write_csv, write_json,
};
use crate::cli::time_arg::parse_since;
use crate::domain::{Alert, AlertId, PlantId, Timestamp};
use crate::store::AlertFilter;
use serde::Serialize;

/// Runs an `alerts` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: AlertsCommand) -> anyhow::Result<()> {
    match command {
        AlertsCommand::List { org, vendor, plant, severity, status, since, limit, format } => {
            let since = since
                .map(|text| parse_since(&text, ctx.tz(), Timestamp::now()).map_err(UsageError))
                .transpose()?;
            let filter = AlertFilter {
                org,
                vendor,
                plant: plant.map(PlantId),
                severity,
                status,
                since,
                limit,
            };
            let alerts = ctx.store.list_alerts(filter).await.map_err(usage_if_invalid)?;
            print_list(ctx, &alerts, format.format)
        }
        AlertsCommand::Show { id, format } => {
            let (alert, raw) = ctx.store.get_alert(AlertId(id)).await?;
            show(ctx, &alert, raw, format.format)
        }
    }
}

#[derive(Serialize)]
struct AlertDetails<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
    raw: Option<serde_json::Value>,
}

fn show(
    ctx: &mut Ctx<'_>,
    alert: &Alert,
    raw: Option<String>,
    format: Format,
) -> anyhow::Result<()> {
    let raw =
        raw.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
    match format {
        Format::Json => write_json(ctx.out, &AlertDetails { alert, raw }),
        Format::Csv => write_csv(ctx.out, std::slice::from_ref(alert)),
        Format::Table => {
            let tz = ctx.tz();
            let text = key_values(&[
                ("id", alert.id.to_string()),
                ("title", alert.title.clone()),
                ("severity", alert.severity.to_string()),
                ("status", alert.status.to_string()),
                ("vendor id", alert.vendor_id.to_string()),
                ("occurrence key", alert.vendor_alert_key.clone()),
                ("plant", plant_cell(alert)),
                ("device", text_cell(alert.device_sn.as_deref())),
                ("code", text_cell(alert.code.as_deref())),
                ("description", text_cell(alert.description.as_deref())),
                ("started", time_cell(alert.started_at.as_ref(), tz)),
                ("ended", time_cell(alert.ended_at.as_ref(), tz)),
            ]);
            write!(ctx.out, "{text}")?;
            if let Some(raw) = raw {
                writeln!(ctx.out, "raw vendor record:\n{}", serde_json::to_string_pretty(&raw)?)?;
            }
            Ok(())
        }
    }
}

fn plant_cell(alert: &Alert) -> String {
    match (alert.plant_id, &alert.plant_name) {
        (Some(id), Some(name)) => format!("{name} (id {id})"),
        (Some(id), None) => id.to_string(),
        _ => "-".to_owned(),
    }
}

fn print_list(ctx: &mut Ctx<'_>, alerts: &[Alert], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(ctx.out, alerts),
        Format::Csv => write_csv(ctx.out, alerts),
        Format::Table => {
            let mut text = table(alerts, ctx.tz()).render(TABLE_WIDTH);
            text.push_str(&format!("{} alert(s)\n", alerts.len()));
            ctx.out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

/// The alerts as a table, times in `tz`.
fn table(alerts: &[Alert], tz: chrono_tz::Tz) -> Table {
    let mut table = Table::default()
        .number("ID")
        .whole("STARTED")
        .whole("SEV")
        .whole("STATUS")
        .text("PLANT", 6)
        .text("TITLE", 10);
    for a in alerts {
        table.row(vec![
            a.id.to_string(),
            time_cell(a.started_at.as_ref(), tz),
            a.severity.to_string(),
            a.status.to_string(),
            text_cell(a.plant_name.as_deref()),
            a.title.clone(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::Width;
    use crate::domain::{AlertStatus, Severity, VendorId};

    fn alert(id: i64, title: &str) -> Alert {
        let now = Timestamp::now();
        Alert {
            id: AlertId(id),
            vendor_id: VendorId(1),
            vendor_alert_key: format!("k{id}"),
            plant_id: Some(PlantId(3)),
            plant_name: Some("Farm on the ridge".into()),
            device_sn: None,
            severity: Severity::Critical,
            status: AlertStatus::Acknowledged,
            code: None,
            title: title.into(),
            description: None,
            started_at: Some("2026-04-06T02:00:00Z".parse().unwrap()),
            ended_at: None,
            change_seq: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// At 50 columns the id, the time, the severity and the status stay whole; the plant
    /// name and the title wrap.
    #[test]
    fn a_narrow_table_keeps_ids_times_and_enum_words_whole() {
        let title = "Grid power outage on the feeder of inverter 2";
        let text = table(&[alert(200, title)], chrono_tz::UTC).render(Width::Columns(50));
        for whole in ["200", "2026-04-06 02:00", "CRITICAL", "ACKNOWLEDGED"] {
            assert!(text.contains(whole), "{whole:?} split:\n{text}");
        }
        for word in title.split(' ') {
            assert!(text.contains(word), "{word:?} lost:\n{text}");
        }
        assert!(text.lines().nth(1).unwrap().starts_with("200  "), "{text}");
    }

    #[test]
    fn control_characters_in_an_alert_title_never_reach_the_table() {
        let text = table(&[alert(1, "Fan\r\nfault \u{7}\u{9b}2J")], chrono_tz::UTC)
            .render(Width::Unlimited);
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(text.contains("Fan  fault \u{fffd}\u{fffd}2J"), "{text:?}");
    }
}
