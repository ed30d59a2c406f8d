//! `plantsync plants list|show`.

use super::{Ctx, usage_if_invalid};
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, number_cell, printable, text_cell, time_cell,
    write_csv, write_json, yes_no,
};
use crate::cli::{PlantSortArg, PlantsCommand};
use crate::domain::PlantStatus;
use crate::domain::{Plant, PlantId, PlantZone, Timestamp, VendorId};
use crate::store::{HistoryScope, PlantFilter, PlantSort, StatusFilter, VendorFilter};
use serde::Serialize;
use std::collections::HashMap;

/// Runs a `plants` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: PlantsCommand) -> anyhow::Result<()> {
    match command {
        PlantsCommand::List { org, vendor, status, active, search, sort, desc, limit, format } => {
            let filter = PlantFilter {
                org,
                vendor,
                status: status.clone(),
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
            let plants = ctx.store.list_plants(filter).await.map_err(usage_if_invalid)?;
            if let (true, Some(StatusFilter::VendorWord(word))) = (plants.is_empty(), &status) {
                let stored = ctx.store.stored_network_statuses().await?;
                if let Some(hint) = unknown_status_hint(word, &stored) {
                    eprintln!("plantsync: {hint}");
                }
            }
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
            let days = ctx
                .store
                .today_and_yesterday(
                    HistoryScope::All,
                    Timestamp::now(),
                    PlantZone::Named(ctx.tz()),
                )
                .await?;
            let history = History { days, enabled: ctx.settings.history_enabled.value };
            print_list(ctx, &plants, &vendor_names, &history, format.format)
        }
        PlantsCommand::Show { id, format } => {
            let (plant, raw) = ctx.store.get_plant(PlantId(id)).await?;
            show(ctx, &plant, raw, format.format)
        }
    }
}

/// The stored words a status hint names at most.
const MAX_HINT_WORDS: usize = 20;

/// What to say when `--status` was a portal's word that no stored plant has (a typo, or a
/// word of another portal): the words that would match. `None` when some plant has the
/// word, so the other filters, not the word, left the listing empty. Still exit 0: an
/// empty listing is an answer.
fn unknown_status_hint(word: &str, stored: &[String]) -> Option<String> {
    if stored.iter().any(|s| s.eq_ignore_ascii_case(word)) {
        return None;
    }
    let ours: Vec<&str> = PlantStatus::ALL.iter().map(|s| s.as_str()).collect();
    // Portals' words go to the terminal: control characters neutralised like a table
    // cell's, and a long list cut (a portal may report any number of words).
    let theirs = match stored {
        [] => "none is stored yet".to_owned(),
        words => {
            let shown: Vec<String> =
                words.iter().take(MAX_HINT_WORDS).map(|w| printable(w).into_owned()).collect();
            let more = if words.len() > MAX_HINT_WORDS { ", …" } else { "" };
            format!("stored here: {}{more}", shown.join(", "))
        }
    };
    Some(format!(
        "no plant has the status '{}'; --status takes one of {} (every portal) or a \
         portal's own word ({theirs})",
        printable(word),
        ours.join(", ")
    ))
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

/// Each plant's energy on its own today and yesterday (plant-local days, from the energy
/// history), and whether plant syncs write the history.
struct History {
    days: HashMap<PlantId, (Option<f64>, Option<f64>)>,
    enabled: bool,
}

impl History {
    fn of(&self, plant: PlantId) -> HistoryDays {
        let (today, yesterday) = self.days.get(&plant).copied().unwrap_or_default();
        HistoryDays { energy_today_kwh: today, energy_yesterday_kwh: yesterday }
    }

    /// The table's today: the history's; with the history off, the last reading as before.
    fn table_today(&self, plant: &Plant) -> Option<f64> {
        if self.enabled { self.of(plant.id).energy_today_kwh } else { plant.daily_energy_kwh }
    }
}

/// The listing's history fields, after the plant's own (JSON and CSV).
#[derive(Debug, Clone, Copy, Serialize)]
struct HistoryDays {
    /// The energy history's value for the plant's local today, kWh.
    energy_today_kwh: Option<f64>,
    /// The energy history's value for the plant's local yesterday, kWh.
    energy_yesterday_kwh: Option<f64>,
}

/// A plant of the JSON listing: its fields, then the history's days.
#[derive(Serialize)]
struct ListedPlant<'a> {
    #[serde(flatten)]
    plant: &'a Plant,
    #[serde(flatten)]
    days: HistoryDays,
}

fn print_list(
    ctx: &mut Ctx<'_>,
    plants: &[Plant],
    vendor_names: &HashMap<VendorId, String>,
    history: &History,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let listed: Vec<ListedPlant<'_>> = plants
                .iter()
                .map(|plant| ListedPlant { plant, days: history.of(plant.id) })
                .collect();
            write_json(ctx.out, &listed)
        }
        // csv cannot flatten; a tuple of structs is one record with both structs' fields.
        Format::Csv => {
            let rows: Vec<(&Plant, HistoryDays)> =
                plants.iter().map(|plant| (plant, history.of(plant.id))).collect();
            write_csv(ctx.out, &rows)
        }
        Format::Table => {
            let mut text = table(plants, vendor_names, history).render(TABLE_WIDTH);
            text.push_str(&format!("{} plant(s)\n", plants.len()));
            ctx.out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

/// The plants as a table: the vendor as `Name (id)`, since vendor names may be shared
/// across organizations, like the sync tables show it; today and yesterday are the
/// plant's own local days, from the energy history.
fn table(plants: &[Plant], vendor_names: &HashMap<VendorId, String>, history: &History) -> Table {
    let mut table = Table::default()
        .number("ID")
        .text("NAME", 10)
        .text("VENDOR", 6)
        .number("KWP")
        .number("KW NOW")
        .number("KWH TODAY")
        .number("KWH YESTERDAY")
        .whole("STATUS")
        .whole("ON");
    for p in plants {
        table.row(vec![
            p.id.to_string(),
            p.name.clone(),
            match vendor_names.get(&p.vendor_id) {
                Some(name) => format!("{name} ({})", p.vendor_id),
                None => p.vendor_id.to_string(),
            },
            number_cell(p.capacity_kw),
            number_cell(p.current_power_kw),
            number_cell(history.table_today(p)),
            number_cell(history.of(p.id).energy_yesterday_kwh),
            p.status.to_string(),
            yes_no(p.is_active),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::Width;
    use crate::domain::{PlantStatus, Timestamp};

    fn plant(id: i64, name: &str, status: PlantStatus) -> Plant {
        let now = Timestamp::now();
        Plant {
            id: PlantId(id),
            vendor_id: VendorId(7),
            org_id: None,
            vendor_plant_id: format!("ps-{id}"),
            name: name.into(),
            capacity_kw: Some(1234.5),
            address: None,
            latitude: None,
            longitude: None,
            timezone: None,
            network_status: None,
            status,
            current_power_kw: Some(12.25),
            daily_energy_kwh: Some(86.5),
            total_energy_kwh: None,
            vendor_updated_at: None,
            last_refreshed_at: None,
            is_active: true,
            change_seq: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// At 50 columns ids, numbers and statuses stay whole; only the names wrap.
    #[test]
    fn a_narrow_table_keeps_ids_numbers_and_statuses_whole() {
        let name = "Rooftop array on the east warehouse";
        let plants =
            [plant(200, name, PlantStatus::Offline), plant(7, "Barn", PlantStatus::Online)];
        let names = HashMap::from([(VendorId(7), "Roof".to_owned())]);
        let off = History { days: HashMap::new(), enabled: false };
        let text = table(&plants, &names, &off).render(Width::Columns(50));
        for whole in ["200", "offline", "1234.50", "12.25", "86.50", "online"] {
            assert!(text.contains(whole), "{whole:?} split:\n{text}");
        }
        // Every word of the long name is there; its row starts with the whole id.
        for word in name.split(' ') {
            assert!(text.contains(word), "{word:?} lost:\n{text}");
        }
        assert!(text.lines().nth(1).unwrap().starts_with("200  "), "{text}");
    }

    /// A portal's name with a newline or an escape sequence stays on its row, harmless.
    #[test]
    fn control_characters_in_a_plant_name_never_reach_the_table() {
        let plants = [plant(1, "North\nSouth\t\u{1b}[31mRED\u{1b}[0m", PlantStatus::Online)];
        let off = History { days: HashMap::new(), enabled: false };
        let text = table(&plants, &HashMap::new(), &off).render(Width::Unlimited);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("North South \u{fffd}[31mRED\u{fffd}[0m"), "{text:?}");
    }

    /// With the history on, today and yesterday are the history's (the last reading may be
    /// from before the plant's midnight); unknown is `-`, never 0.
    #[test]
    fn today_and_yesterday_come_from_the_history() {
        let plants = [plant(1, "East", PlantStatus::Online), plant(2, "West", PlantStatus::Online)];
        let history = History {
            days: HashMap::from([(PlantId(1), (Some(3.5), Some(41.25)))]),
            enabled: true,
        };
        let text = table(&plants, &HashMap::new(), &history).render(Width::Unlimited);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0][6..10], ["KWH", "TODAY", "KWH", "YESTERDAY"], "{text}");
        assert_eq!(lines[1][5..7], ["3.50", "41.25"], "{text}");
        assert_eq!(lines[2][5..7], ["-", "-"], "{text}");
        assert!(!text.contains("86.50"), "the last reading is not today's value:\n{text}");
    }

    #[test]
    fn the_status_hint_neutralises_and_caps_the_stored_words() {
        let mut stored: Vec<String> = (0..25).map(|i| format!("WORD{i:02}")).collect();
        stored[0] = "EVIL\u{1b}]0;owned\u{7}".to_owned();
        let hint = unknown_status_hint("nope\u{1b}[2J", &stored).unwrap();
        assert!(!hint.chars().any(char::is_control), "{hint:?}");
        assert!(hint.contains("'nope\u{fffd}[2J'"), "{hint}");
        assert!(hint.contains("stored here: EVIL\u{fffd}]0;owned\u{fffd}, WORD01"), "{hint}");
        assert!(hint.contains("WORD19, …)"), "{hint}");
        assert!(!hint.contains("WORD20"), "{hint}");
        let few = unknown_status_hint("x", &stored[1..3]).unwrap();
        assert!(few.ends_with("(stored here: WORD01, WORD02)"), "{few}");
    }
}
