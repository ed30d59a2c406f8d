//! `plantsync plants list|show`.

use super::Ctx;
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, number_cell, text_cell, time_cell, write_csv,
    write_json, yes_no,
};
use crate::cli::{PlantSortArg, PlantsCommand};
use crate::domain::{Plant, PlantId, VendorId};
use crate::store::{PlantFilter, PlantSort, VendorFilter};
use serde::Serialize;
use std::collections::HashMap;

/// Runs a `plants` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: PlantsCommand) -> anyhow::Result<()> {
    match command {
        PlantsCommand::List { org, vendor, status, active, search, sort, desc, limit, format } => {
            let filter = PlantFilter {
                org,
                vendor,
                status,
                active,
                search,
                sort: match sort {
                    PlantSortArg::Name => PlantSort::Name,
                    PlantSortArg::Capacity => PlantSort::Capacity,
                    PlantSortArg::Power => PlantSort::Power,
                    PlantSortArg::Energy => PlantSort::Energy,
                    PlantSortArg::Updated => PlantSort::Updated,
                    PlantSortArg::Id => PlantSort::Id,
                },
                descending: desc,
                limit,
            };
            let plants = ctx.store.list_plants(filter).await?;
            // Tables name each plant's vendor; JSON and CSV keep the documented vendor_id.
            let vendor_names: HashMap<VendorId, String> = match format.format {
                Format::Table => ctx
                    .store
                    .list_vendors(VendorFilter::default())
                    .await?
                    .into_iter()
                    .map(|v| (v.id, v.name))
                    .collect(),
                Format::Json | Format::Csv => HashMap::new(),
            };
            print_list(ctx, &plants, &vendor_names, format.format)
        }
        PlantsCommand::Show { id, format } => {
            let (plant, raw) = ctx.store.get_plant(PlantId(id)).await?;
            show(ctx, &plant, raw, format.format)
        }
    }
}

#[derive(Serialize)]
struct PlantDetails<'a> {
    #[serde(flatten)]
    plant: &'a Plant,
    raw: Option<serde_json::Value>,
}

fn show(
    ctx: &mut Ctx<'_>,
    plant: &Plant,
    raw: Option<String>,
    format: Format,
) -> anyhow::Result<()> {
    // Raw text that is not JSON (a hand-edited row) is shown as a string rather than lost.
    let raw =
        raw.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
    match format {
        Format::Json => write_json(ctx.out, &PlantDetails { plant, raw }),
        Format::Csv => write_csv(ctx.out, std::slice::from_ref(plant)),
        Format::Table => {
            let tz = ctx.tz();
            let text = key_values(&[
                ("id", plant.id.to_string()),
                ("name", plant.name.clone()),
                ("vendor id", plant.vendor_id.to_string()),
                ("vendor plant id", plant.vendor_plant_id.clone()),
                ("organization id", plant.org_id.map_or("-".into(), |o| o.to_string())),
                ("active", yes_no(plant.is_active)),
                ("capacity kW", number_cell(plant.capacity_kw)),
                ("current power kW", number_cell(plant.current_power_kw)),
                ("energy today kWh", number_cell(plant.daily_energy_kwh)),
                ("energy total kWh", number_cell(plant.total_energy_kwh)),
                ("status", plant.status.to_string()),
                ("vendor's status", text_cell(plant.network_status.as_deref())),
                ("address", text_cell(plant.address.as_deref())),
                ("latitude", number_cell(plant.latitude)),
                ("longitude", number_cell(plant.longitude)),
                ("time zone", text_cell(plant.timezone.as_deref())),
                ("vendor updated", time_cell(plant.vendor_updated_at.as_ref(), tz)),
                ("last refreshed", time_cell(plant.last_refreshed_at.as_ref(), tz)),
                ("created", time_cell(Some(&plant.created_at), tz)),
                ("updated", time_cell(Some(&plant.updated_at), tz)),
            ]);
            write!(ctx.out, "{text}")?;
            if let Some(raw) = raw {
                writeln!(ctx.out, "raw vendor record:\n{}", serde_json::to_string_pretty(&raw)?)?;
            }
            Ok(())
        }
    }
}

fn print_list(
    ctx: &mut Ctx<'_>,
    plants: &[Plant],
    vendor_names: &HashMap<VendorId, String>,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(ctx.out, plants),
        Format::Csv => write_csv(ctx.out, plants),
        Format::Table => {
            let mut table = Table::default()
                .column("ID", 2, true)
                .column("NAME", 10, false)
                .column("VENDOR", 6, false)
                .column("KWP", 6, true)
                .column("KW NOW", 6, true)
                .column("KWH TODAY", 9, true)
                .column("STATUS", 6, false)
                .column("ON", 3, false);
            for p in plants {
                table.row(vec![
                    p.id.to_string(),
                    p.name.clone(),
                    vendor_names
                        .get(&p.vendor_id)
                        .cloned()
                        .unwrap_or_else(|| p.vendor_id.to_string()),
                    number_cell(p.capacity_kw),
                    number_cell(p.current_power_kw),
                    number_cell(p.daily_energy_kwh),
                    p.status.to_string(),
                    yes_no(p.is_active),
                ]);
            }
            let mut text = table.render(TABLE_WIDTH);
            text.push_str(&format!("{} plant(s)\n", plants.len()));
            ctx.out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}
