//! `plantsync history`: the daily energy of each plant, or with `--total` of each
//! organization, over a range of plant-local days.
//!
//! Every day of the range appears for every plant, so a missing day is seen rather than
//! skipped: a day without a value has an empty energy and the source `gap`, with the
//! portal's word when the backfill noted one (no data, cannot be filled). A gap is never
//! 0, and a total over a day where some plant has a gap says how many plants it sums.
//! Days that have not begun in a plant's own zone (a plant west of the configured zone on
//! the configured zone's today) are not days yet, and are left out.
//!
//! The grid of what is known per plant and day ([`Grid`]) is shared with `report daily`.

use super::{Ctx, UsageError};
use crate::cli::HistoryArgs;
use crate::cli::output::{Format, TABLE_WIDTH, Table, number_cell, spreadsheet_text, write_json};
use crate::domain::{DaySource, GapState, OrgId, PlantId, PlantZone, Timestamp, VendorId};
use crate::store::{DayRow, GapRow, HistoryPlant, HistoryScope, Store, StoreError};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;

/// The longest range one `history` reads, in days (ten years and change).
pub const MAX_DAYS: i64 = 3660;

/// The default range: `--from` is this many days before `--to`.
const DEFAULT_SPAN_DAYS: i64 = 30;

/// Runs `plantsync history`.
pub async fn run(ctx: &mut Ctx<'_>, args: HistoryArgs) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let to = args.to.unwrap_or_else(|| now.as_datetime().with_timezone(&ctx.tz()).date_naive());
    let from = args.from.unwrap_or_else(|| to - chrono::Duration::days(DEFAULT_SPAN_DAYS));
    check_range(from, to)?;
    let scope =
        resolve_scope(ctx.store, args.plant, args.vendor.as_deref(), args.org.as_deref()).await?;
    let fallback = PlantZone::Named(ctx.tz());
    let plants = ctx.store.history_plants(scope, fallback).await?;
    if let (HistoryScope::Plant(id), true) = (scope, plants.is_empty()) {
        return Err(UsageError(format!("plant {id} not found")).into());
    }
    let grid = Grid::load(ctx.store, scope, from, to).await?;
    if args.total {
        let totals = org_totals(&plants, &grid, from, to, now);
        print_totals(ctx.out, &totals, args.format)
    } else {
        let rows = plant_days(&plants, &grid, from, to, now);
        print_days(ctx.out, &rows, args.format)
    }
}

/// Refuses a range that ends before it starts or is longer than [`MAX_DAYS`].
fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), UsageError> {
    if from > to {
        return Err(UsageError(format!("--from {from} is after --to {to}")));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_DAYS {
        return Err(UsageError(format!(
            "--from {from} to --to {to} is {days} days; at most {MAX_DAYS} are read at once"
        )));
    }
    Ok(())
}

/// A store error about a name or id the user gave (not found, ambiguous, invalid) is a
/// usage error (exit 2); any other stays what it is.
pub(super) fn usage_if_unknown(error: StoreError) -> anyhow::Error {
    match error {
        StoreError::NotFound { .. } | StoreError::Invalid(_) => {
            UsageError(error.to_string()).into()
        }
        other => other.into(),
    }
}

/// Resolves at most one of plant, vendor and organization (clap keeps them exclusive) to a
/// scope; none is every plant.
pub(super) async fn resolve_scope(
    store: &Store,
    plant: Option<i64>,
    vendor: Option<&str>,
    org: Option<&str>,
) -> anyhow::Result<HistoryScope> {
    Ok(match (plant, vendor, org) {
        (Some(id), _, _) => HistoryScope::Plant(PlantId(id)),
        (None, Some(vendor), _) => {
            HistoryScope::Vendor(store.find_vendor(vendor).await.map_err(usage_if_unknown)?.id)
        }
        (None, None, Some(org)) => {
            HistoryScope::Org(store.find_org(org).await.map_err(usage_if_unknown)?.id)
        }
        (None, None, None) => HistoryScope::All,
    })
}

/// The stored days and noted gaps of a scope and range, by plant and day.
pub(super) struct Grid {
    days: HashMap<(PlantId, NaiveDate), DayRow>,
    gaps: HashMap<(PlantId, NaiveDate), GapRow>,
}

/// What is known of one plant's day.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell<'a> {
    /// The stored row, if any.
    pub row: Option<&'a DayRow>,
    /// The backfill's note, if the day has no energy and one was noted.
    pub gap: Option<&'a GapRow>,
}

impl Cell<'_> {
    /// The day's energy, kWh; `None` is a gap.
    pub fn energy(&self) -> Option<f64> {
        self.row.and_then(|r| r.energy_kwh)
    }
}

impl Grid {
    /// Reads the days and gaps of `scope` from `from` to `to`.
    pub async fn load(
        store: &Store,
        scope: HistoryScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> anyhow::Result<Self> {
        let days = store.history_days(scope, from, to).await?;
        let gaps = store.history_gaps(scope, from, to).await?;
        Ok(Self {
            days: days.into_iter().map(|d| ((d.plant_id, d.day), d)).collect(),
            gaps: gaps.into_iter().map(|g| ((g.plant_id, g.day), g)).collect(),
        })
    }

    /// What is known of `plant` on `day`.
    pub fn cell(&self, plant: PlantId, day: NaiveDate) -> Cell<'_> {
        let row = self.days.get(&(plant, day));
        let gap = match row.and_then(|r| r.energy_kwh) {
            Some(_) => None,
            None => self.gaps.get(&(plant, day)),
        };
        Cell { row, gap }
    }
}

/// Whether `day` has begun in `plant`'s zone at `now`.
pub(super) fn has_begun(plant: &HistoryPlant, day: NaiveDate, now: Timestamp) -> bool {
    day <= plant.zone.local_date(&now)
}

/// A sum of known values without the float noise of adding decimals (`0.1 + 0.2`).
pub(super) fn tidy(sum: f64) -> f64 {
    (sum * 1e6).round() / 1e6
}

/// A kWh or kW value for CSV: two decimals with a `.`, no thousands separator; empty when
/// unknown (never 0).
pub(super) fn csv_number(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}")).unwrap_or_default()
}

/// A CSV writer for spreadsheets: RFC 4180, so records end with CRLF.
pub(super) fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out)
}

/// Where a day's row came from, or that it is a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The syncs' readings.
    Live,
    /// The portal's daily history.
    Backfill,
    /// No value.
    Gap,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Backfill => "backfill",
            Self::Gap => "gap",
        }
    }
}

/// One plant's day, as `history` prints it (the JSON fields).
#[derive(Debug, Serialize)]
struct PlantDay<'a> {
    date: NaiveDate,
    plant_id: PlantId,
    plant: &'a str,
    org_id: Option<OrgId>,
    org: Option<&'a str>,
    vendor_id: VendorId,
    vendor: &'a str,
    energy_kwh: Option<f64>,
    peak_power_kw: Option<f64>,
    source: Source,
    revisions: u32,
    gap_state: Option<GapState>,
    gap_reason: Option<&'a str>,
}

/// Every begun day of every plant, by plant (in the store's order) then day.
fn plant_days<'a>(
    plants: &'a [HistoryPlant],
    grid: &'a Grid,
    from: NaiveDate,
    to: NaiveDate,
    now: Timestamp,
) -> Vec<PlantDay<'a>> {
    let mut out = Vec::new();
    for plant in plants {
        for day in from.iter_days().take_while(|d| *d <= to) {
            if !has_begun(plant, day, now) {
                break;
            }
            let cell = grid.cell(plant.id, day);
            let energy = cell.energy();
            out.push(PlantDay {
                date: day,
                plant_id: plant.id,
                plant: &plant.name,
                org_id: plant.org_id,
                org: plant.org_name.as_deref(),
                vendor_id: plant.vendor_id,
                vendor: &plant.vendor_name,
                energy_kwh: energy,
                peak_power_kw: cell.row.and_then(|r| r.peak_power_kw),
                source: match (energy, cell.row.map(|r| r.source)) {
                    (None, _) | (_, None) => Source::Gap,
                    (Some(_), Some(DaySource::Live)) => Source::Live,
                    (Some(_), Some(DaySource::Backfill)) => Source::Backfill,
                },
                revisions: cell.row.map_or(0, |r| r.revisions),
                gap_state: cell.gap.map(|g| g.state),
                gap_reason: cell.gap.map(|g| g.reason.as_str()),
            });
        }
    }
    out
}

/// One organization's day (the JSON fields of `--total`).
#[derive(Debug, Serialize)]
struct OrgDay<'a> {
    date: NaiveDate,
    org_id: Option<OrgId>,
    org: Option<&'a str>,
    /// The sum of the plants with a value; `None` when none has one.
    energy_kwh: Option<f64>,
    /// How many plants have a value.
    plants_with_data: usize,
    /// How many plants the organization has (whose day has begun).
    plants: usize,
}

/// Per organization (plants without one together) and day: the sum of the known values
/// and how many plants they are.
fn org_totals<'a>(
    plants: &'a [HistoryPlant],
    grid: &Grid,
    from: NaiveDate,
    to: NaiveDate,
    now: Timestamp,
) -> Vec<OrgDay<'a>> {
    let mut groups: Vec<(Option<OrgId>, Option<&'a str>, Vec<&'a HistoryPlant>)> = Vec::new();
    for plant in plants {
        match groups.iter_mut().find(|(id, _, _)| *id == plant.org_id) {
            Some((_, _, members)) => members.push(plant),
            None => groups.push((plant.org_id, plant.org_name.as_deref(), vec![plant])),
        }
    }
    let mut out = Vec::new();
    for (org_id, org, members) in groups {
        for day in from.iter_days().take_while(|d| *d <= to) {
            let begun: Vec<&HistoryPlant> =
                members.iter().copied().filter(|p| has_begun(p, day, now)).collect();
            if begun.is_empty() {
                continue;
            }
            let known: Vec<f64> =
                begun.iter().filter_map(|p| grid.cell(p.id, day).energy()).collect();
            out.push(OrgDay {
                date: day,
                org_id,
                org,
                energy_kwh: (!known.is_empty()).then(|| tidy(known.iter().sum())),
                plants_with_data: known.len(),
                plants: begun.len(),
            });
        }
    }
    out
}

/// How a gap reads in a table.
fn gap_words(state: Option<GapState>) -> &'static str {
    match state {
        None => "gap",
        Some(GapState::NoData) => "gap: no data",
        Some(GapState::Unfillable) => "gap: cannot be filled",
    }
}

fn print_days(out: &mut dyn Write, rows: &[PlantDay<'_>], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(out, rows),
        Format::Csv => {
            let mut csv = csv_writer(out);
            csv.write_record([
                "date",
                "plant_id",
                "plant",
                "org",
                "vendor",
                "energy_kwh",
                "peak_power_kw",
                "source",
                "revisions",
                "gap_state",
                "gap_reason",
            ])?;
            for r in rows {
                csv.write_record([
                    r.date.to_string(),
                    r.plant_id.to_string(),
                    spreadsheet_text(r.plant).into_owned(),
                    spreadsheet_text(r.org.unwrap_or_default()).into_owned(),
                    spreadsheet_text(r.vendor).into_owned(),
                    csv_number(r.energy_kwh),
                    csv_number(r.peak_power_kw),
                    r.source.as_str().to_owned(),
                    r.revisions.to_string(),
                    r.gap_state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    spreadsheet_text(r.gap_reason.unwrap_or_default()).into_owned(),
                ])?;
            }
            csv.flush()?;
            Ok(())
        }
        Format::Table => {
            let mut table = Table::default()
                .whole("DATE")
                .number("ID")
                .text("PLANT", 10)
                .text("ORG", 6)
                .text("VENDOR", 6)
                .number("KWH")
                .number("PEAK KW")
                .whole("SOURCE")
                .number("REV")
                .text("NOTE", 10);
            for r in rows {
                let source = match r.source {
                    Source::Gap => gap_words(r.gap_state),
                    other => other.as_str(),
                };
                table.row(vec![
                    r.date.to_string(),
                    r.plant_id.to_string(),
                    r.plant.to_owned(),
                    r.org.unwrap_or("-").to_owned(),
                    r.vendor.to_owned(),
                    number_cell(r.energy_kwh),
                    number_cell(r.peak_power_kw),
                    source.to_owned(),
                    r.revisions.to_string(),
                    r.gap_reason.unwrap_or("").to_owned(),
                ]);
            }
            let gaps = rows.iter().filter(|r| r.source == Source::Gap).count();
            let mut text = table.render(TABLE_WIDTH);
            text.push_str(&format!("{} day(s), {gaps} without a value\n", rows.len()));
            out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn print_totals(out: &mut dyn Write, rows: &[OrgDay<'_>], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(out, rows),
        Format::Csv => {
            let mut csv = csv_writer(out);
            csv.write_record([
                "date",
                "org_id",
                "org",
                "energy_kwh",
                "plants_with_data",
                "plants",
            ])?;
            for r in rows {
                csv.write_record([
                    r.date.to_string(),
                    r.org_id.map(|id| id.to_string()).unwrap_or_default(),
                    spreadsheet_text(r.org.unwrap_or_default()).into_owned(),
                    csv_number(r.energy_kwh),
                    r.plants_with_data.to_string(),
                    r.plants.to_string(),
                ])?;
            }
            csv.flush()?;
            Ok(())
        }
        Format::Table => {
            let mut table = Table::default()
                .whole("DATE")
                .text("ORG", 6)
                .number("KWH")
                .number("PLANTS WITH DATA")
                .whole("NOTE");
            for r in rows {
                let note = match (r.plants_with_data, r.plants) {
                    (0, _) => "no plant has a value",
                    (with, all) if with < all => "gaps not counted",
                    _ => "",
                };
                table.row(vec![
                    r.date.to_string(),
                    r.org.unwrap_or("(no organization)").to_owned(),
                    number_cell(r.energy_kwh),
                    format!("{}/{}", r.plants_with_data, r.plants),
                    note.to_owned(),
                ]);
            }
            write!(out, "{}", table.render(TABLE_WIDTH))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(check_range(day("2026-11-01"), day("2026-11-01")).is_ok());
        let reversed = check_range(day("2026-11-30"), day("2026-11-01")).unwrap_err();
        assert_eq!(reversed.0, "--from 2026-11-30 is after --to 2026-11-01");
        assert!(check_range(day("2016-11-01"), day("2026-11-01")).is_ok(), "3653 days");
        let long = check_range(day("2016-01-01"), day("2026-11-01")).unwrap_err();
        assert!(long.0.contains("at most 3660"), "{}", long.0);
    }

    #[test]
    fn sums_lose_the_float_noise_and_csv_numbers_have_two_decimals() {
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(csv_number(Some(1234.5)), "1234.50");
        assert_eq!(csv_number(Some(0.0)), "0.00");
        assert_eq!(csv_number(None), "");
    }
}
