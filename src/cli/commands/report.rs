//! `plantsync report daily`: one organization's month as a plant x day matrix of energy,
//! for a spreadsheet (`--format csv`) or a person.
//!
//! A gap is an empty cell, never 0. Every total is the sum of the known values only, so
//! next to it stands how many values it sums: a `days_with_data` column per plant and a
//! `plants with data` row per day. A total with no known value at all is empty too.

use super::Ctx;
use super::history::{Grid, csv_number, csv_writer, has_begun, tidy, usage_if_unknown};
use crate::cli::ReportCommand;
use crate::cli::output::{Format, TABLE_WIDTH, Table, number_cell, spreadsheet_text, write_json};
use crate::domain::{OrgId, PlantId, PlantZone, Timestamp, VendorId};
use crate::store::{HistoryPlant, HistoryScope};
use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};
use std::fmt;
use std::io::Write;
use std::str::FromStr;

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// Its first day.
    pub fn first(self) -> NaiveDate {
        self.first
    }

    /// Its last day.
    pub fn last(self) -> NaiveDate {
        let (year, month) = match self.first.month() {
            12 => (self.first.year() + 1, 1),
            m => (self.first.year(), m + 1),
        };
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|next| next.pred_opt())
            .unwrap_or(self.first)
    }

    /// Its days, in order.
    pub fn days(self) -> Vec<NaiveDate> {
        let last = self.last();
        self.first.iter_days().take_while(|d| *d <= last).collect()
    }
}

impl FromStr for Month {
    type Err = String;

    /// `2026-11`: a four-digit year, a dash and a two-digit month 01-12.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || format!("'{text}' is not a month YYYY-MM (such as 2026-11)");
        let trimmed = text.trim();
        let (year, month) = trimmed.split_once('-').ok_or_else(refuse)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return Err(refuse());
        }
        let year: i32 = year.parse().map_err(|_| refuse())?;
        let month: u32 = month.parse().map_err(|_| refuse())?;
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(refuse)?;
        Ok(Self { first })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Runs a `report` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Daily { org, month, format } => {
            let org = ctx.store.find_org(&org).await.map_err(usage_if_unknown)?;
            let scope = HistoryScope::Org(org.id);
            let plants = ctx.store.history_plants(scope, PlantZone::Named(ctx.tz())).await?;
            let grid = Grid::load(ctx.store, scope, month.first(), month.last()).await?;
            let report = Report::build(org.id, &org.name, month, &plants, &grid, Timestamp::now());
            match format {
                Format::Json => write_json(ctx.out, &report),
                Format::Csv => write_csv(ctx.out, &report),
                Format::Table => write_table(ctx.out, &report),
            }
        }
    }
}

/// The organization a report is of.
#[derive(Debug, Serialize)]
struct OrgRef<'a> {
    id: OrgId,
    name: &'a str,
}

/// One plant's line of the matrix.
#[derive(Debug, Serialize)]
struct PlantLine<'a> {
    plant_id: PlantId,
    plant: &'a str,
    vendor_id: VendorId,
    vendor: &'a str,
    /// One value per day of the month; `null` is a gap.
    energy_kwh: Vec<Option<f64>>,
    /// The sum of the known values; `null` when there is none.
    total_kwh: Option<f64>,
    /// How many days have a value.
    days_with_data: usize,
}

/// The totals per day.
#[derive(Debug, Serialize)]
struct Totals {
    /// The sum of the plants' known values per day; `null` when no plant has one.
    energy_kwh: Vec<Option<f64>>,
    /// How many plants have a value, per day.
    plants_with_data: Vec<usize>,
    /// The sum of every known value.
    total_kwh: Option<f64>,
    /// How many plants the report has.
    plants: usize,
}

/// A month's report (the JSON fields).
#[derive(Debug, Serialize)]
struct Report<'a> {
    organization: OrgRef<'a>,
    month: Month,
    days: Vec<NaiveDate>,
    plants: Vec<PlantLine<'a>>,
    totals: Totals,
}

/// The sum of the known values, or `None` when there is none.
fn known_sum(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, usize) {
    let known: Vec<f64> = values.flatten().collect();
    ((!known.is_empty()).then(|| tidy(known.iter().sum())), known.len())
}

impl<'a> Report<'a> {
    /// The matrix of `plants` over `month`; a day that has not begun in a plant's zone is
    /// as empty as a gap.
    fn build(
        org_id: OrgId,
        org_name: &'a str,
        month: Month,
        plants: &'a [HistoryPlant],
        grid: &Grid,
        now: Timestamp,
    ) -> Self {
        let days = month.days();
        let lines: Vec<PlantLine<'a>> = plants
            .iter()
            .map(|plant| {
                let energy_kwh: Vec<Option<f64>> = days
                    .iter()
                    .map(|day| {
                        has_begun(plant, *day, now)
                            .then(|| grid.cell(plant.id, *day).energy())
                            .flatten()
                    })
                    .collect();
                let (total_kwh, days_with_data) = known_sum(energy_kwh.iter().copied());
                PlantLine {
                    plant_id: plant.id,
                    plant: &plant.name,
                    vendor_id: plant.vendor_id,
                    vendor: &plant.vendor_name,
                    energy_kwh,
                    total_kwh,
                    days_with_data,
                }
            })
            .collect();
        let per_day: Vec<(Option<f64>, usize)> = (0..days.len())
            .map(|i| known_sum(lines.iter().map(|line| line.energy_kwh[i])))
            .collect();
        let (total_kwh, _) = known_sum(lines.iter().map(|line| line.total_kwh));
        let totals = Totals {
            energy_kwh: per_day.iter().map(|(sum, _)| *sum).collect(),
            plants_with_data: per_day.iter().map(|(_, n)| *n).collect(),
            total_kwh,
            plants: lines.len(),
        };
        Self {
            organization: OrgRef { id: org_id, name: org_name },
            month,
            days,
            plants: lines,
            totals,
        }
    }
}

/// RFC 4180 CSV: a header row (`plant_id,plant,vendor`, one ISO date per day,
/// `total_kwh,days_with_data`), one row per plant, a `total` row and a `plants with data
/// (of N)` row. Numbers have two decimals and a `.`; gaps are empty; records end with CRLF.
fn write_csv(out: &mut dyn Write, report: &Report<'_>) -> anyhow::Result<()> {
    let mut csv = csv_writer(out);
    let mut header: Vec<String> = vec!["plant_id".into(), "plant".into(), "vendor".into()];
    header.extend(report.days.iter().map(NaiveDate::to_string));
    header.extend(["total_kwh".into(), "days_with_data".into()]);
    csv.write_record(&header)?;
    for line in &report.plants {
        let mut record = vec![
            line.plant_id.to_string(),
            spreadsheet_text(line.plant).into_owned(),
            spreadsheet_text(line.vendor).into_owned(),
        ];
        record.extend(line.energy_kwh.iter().map(|v| csv_number(*v)));
        record.extend([csv_number(line.total_kwh), line.days_with_data.to_string()]);
        csv.write_record(&record)?;
    }
    let totals = &report.totals;
    let mut record = vec![String::new(), "total".to_owned(), String::new()];
    record.extend(totals.energy_kwh.iter().map(|v| csv_number(*v)));
    record.extend([csv_number(totals.total_kwh), String::new()]);
    csv.write_record(&record)?;
    let mut record =
        vec![String::new(), format!("plants with data (of {})", totals.plants), String::new()];
    record.extend(totals.plants_with_data.iter().map(usize::to_string));
    record.extend([String::new(), String::new()]);
    csv.write_record(&record)?;
    csv.flush()?;
    Ok(())
}

/// Day-of-month headers of the table.
const DAY_HEADERS: [&str; 31] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17",
    "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
];

fn write_table(out: &mut dyn Write, report: &Report<'_>) -> anyhow::Result<()> {
    let mut table = Table::default().text("PLANT", 10).text("VENDOR", 6);
    for header in DAY_HEADERS.iter().take(report.days.len()) {
        table = table.number(header);
    }
    table = table.number("TOTAL").number("DAYS");
    for line in &report.plants {
        let mut row = vec![line.plant.to_owned(), line.vendor.to_owned()];
        row.extend(line.energy_kwh.iter().map(|v| number_cell(*v)));
        row.extend([number_cell(line.total_kwh), line.days_with_data.to_string()]);
        table.row(row);
    }
    let totals = &report.totals;
    let mut row = vec!["total".to_owned(), String::new()];
    row.extend(totals.energy_kwh.iter().map(|v| number_cell(*v)));
    row.extend([number_cell(totals.total_kwh), String::new()]);
    table.row(row);
    let mut row = vec!["plants with data".to_owned(), format!("of {}", totals.plants)];
    row.extend(totals.plants_with_data.iter().map(usize::to_string));
    row.extend([String::new(), String::new()]);
    table.row(row);
    write!(
        out,
        "{} {}, kWh per plant-local day ('-': no value; totals sum the known values)\n{}",
        report.organization.name,
        report.month,
        table.render(TABLE_WIDTH)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_know_their_days() {
        let nov: Month = "2026-11".parse().unwrap();
        assert_eq!(nov.to_string(), "2026-11");
        assert_eq!(nov.days().len(), 30);
        assert_eq!(nov.last().to_string(), "2026-11-30");
        assert_eq!("2028-02".parse::<Month>().unwrap().days().len(), 29);
        assert_eq!("2026-12".parse::<Month>().unwrap().last().to_string(), "2026-12-31");
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "2026-11-01", "", "２０２６-11"] {
            let err = bad.parse::<Month>().unwrap_err();
            assert!(err.contains("is not a month YYYY-MM"), "{bad}: {err}");
        }
    }

    #[test]
    fn known_sums_never_turn_gaps_into_zeros() {
        assert_eq!(known_sum([Some(1.25), None, Some(2.5)].into_iter()), (Some(3.75), 2));
        assert_eq!(known_sum([None, None].into_iter()), (None, 0));
        assert_eq!(known_sum([Some(0.0)].into_iter()), (Some(0.0), 1));
    }
}
