//! Rendering: tables for people, stable JSON, CSV.
//!
//! JSON is the documented machine interface (README, "JSON output"): field names are the
//! struct fields, times are UTC text, absent values are `null`. Tables are for people and
//! show times in the configured zone.
//!
//! Tables are laid out by comfy-table. On a terminal they fit its width by wrapping the
//! widest cells (an error, a name) onto more lines; nothing is ever cut short, since a cut
//! error is the one a person needed to read. When stdout is not a terminal (a pipe, a file,
//! a test) a table has no width limit, so the output is the same wherever it runs and every
//! row stays on one line for `grep`.

use crate::domain::Timestamp;
use chrono_tz::Tz;
use clap::ValueEnum;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, presets};
use serde::Serialize;
use std::io::Write;

/// How wide a table may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// The terminal's width when stdout is a terminal, else no limit.
    Terminal,
    /// At most this many columns; cells wrap (never cut) to fit.
    Columns(u16),
    /// No limit: every row on one line.
    Unlimited,
}

/// The width of every listing: the terminal's, when stdout is one.
pub const TABLE_WIDTH: Width = Width::Terminal;

impl From<usize> for Width {
    fn from(columns: usize) -> Self {
        Self::Columns(u16::try_from(columns).unwrap_or(u16::MAX))
    }
}

impl Width {
    /// The width this means here and now: [`Width::Terminal`] becomes the terminal's
    /// columns, or no limit when stdout is not a terminal.
    fn resolve(self) -> Self {
        match self {
            // comfy-table asks the terminal for its size only when stdout is a terminal.
            Self::Terminal => {
                comfy_table::Table::new().width().map_or(Self::Unlimited, Self::Columns)
            }
            other => other,
        }
    }
}

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Pretty-printed JSON for programs.
    Json,
    /// CSV with a header row.
    Csv,
}

/// A table under construction.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    min_widths: Vec<usize>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A column that is not wrapped below `min` characters (so ids and times stay whole
    /// while a long text wraps); numbers are right-aligned.
    pub fn column(mut self, header: &'static str, min: usize, right: bool) -> Self {
        self.headers.push(header);
        self.min_widths.push(min.max(1));
        self.right_aligned.push(right);
        self
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Renders the header and rows, two spaces between columns, within `width`: wide
    /// cells wrap onto more lines, and no cell is ever cut.
    pub fn render(&self, width: impl Into<Width>) -> String {
        let mut table = comfy_table::Table::new();
        // No borders, and no colours or bold even on a terminal: the plain look of `ls -l`.
        table.load_style(presets::NOTHING).force_no_tty();
        table.set_header(self.headers.clone());
        for row in &self.rows {
            table.add_row(row.clone());
        }
        match width.into().resolve() {
            Width::Columns(columns) => {
                table.set_content_arrangement(ContentArrangement::Dynamic).set_width(columns)
            }
            Width::Terminal | Width::Unlimited => {
                table.set_content_arrangement(ContentArrangement::Disabled)
            }
        };
        let last = self.headers.len().saturating_sub(1);
        let natural = self.natural_widths();
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, if i == last { 0 } else { 2 }));
            if self.right_aligned[i] {
                column.set_cell_alignment(CellAlignment::Right);
            }
            let floor = self.min_widths[i].min(natural[i]) + if i == last { 0 } else { 2 };
            let floor = u16::try_from(floor).unwrap_or(u16::MAX);
            column
                .set_constraint(ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(floor)));
        }
        table.lines().map(|line| line.trim_end().to_owned() + "\n").collect()
    }

    /// The widest cell (or header) of each column, in characters.
    fn natural_widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.lines().map(|l| l.chars().count()).max().unwrap_or(0));
            }
        }
        widths
    }
}

/// Renders `key: value` lines for one record.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Writes `items` as CSV with a header row of their field names.
pub fn write_csv<T: Serialize>(out: &mut dyn Write, items: &[T]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for item in items {
        writer.serialize(item)?;
    }
    writer.flush()?;
    Ok(())
}

/// A time for a table: local to `tz`, to the minute; `-` when absent.
pub fn time_cell(ts: Option<&Timestamp>, tz: Tz) -> String {
    ts.map_or_else(
        || "-".to_owned(),
        |t| t.as_datetime().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// A number for a table: two decimals; `-` when absent.
pub fn number_cell(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// Text for a table; `-` when absent.
pub fn text_cell(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned()
}

/// `yes`/`no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERROR: &str = "rate limited: FusionSolar answered failCode 407 (too many calls of \
                         getStationRealKpi); waited 70 s and gave up for this run";

    fn vendors() -> Table {
        let mut table = Table::default()
            .column("ID", 2, true)
            .column("NAME", 8, false)
            .column("LAST SYNC", 16, false)
            .column("ERROR", 5, false);
        table.row(vec![
            "1".into(),
            "Pune FusionSolar".into(),
            "2026-11-29 10:15".into(),
            ERROR.into(),
        ]);
        table.row(vec!["22".into(), "Roof".into(), "-".into(), "-".into()]);
        table
    }

    #[test]
    fn a_narrow_width_wraps_the_long_cells_and_cuts_nothing() {
        let text = vendors().render(Width::Columns(60));
        for line in text.lines() {
            assert!(line.chars().count() <= 60, "wider than 60: {line:?}\n{text}");
        }
        assert!(!text.contains('…'), "{text}");
        // Every word of the error is there, in order, once the wrapped lines are joined.
        let error_column = text.lines().next().unwrap().find("ERROR").unwrap();
        let joined: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|line| line.len() > error_column)
            .map(|line| line[error_column..].trim())
            .take_while(|part| *part != "-")
            .collect();
        assert_eq!(joined.join(" "), ERROR, "{text}");
        // Short columns keep their values whole.
        assert!(text.contains("2026-11-29 10:15"), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with(" 1  "), "{text}");
    }

    #[test]
    fn without_a_width_every_row_is_one_line_in_full() {
        let text = vendors().render(Width::Unlimited);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID  NAME              LAST SYNC         ERROR"), "{text}");
        assert!(lines[1].ends_with(ERROR), "{text}");
        assert_eq!(lines[2], "22  Roof              -                 -");
    }

    #[test]
    fn narrow_tables_are_left_alone() {
        let mut table = Table::default().column("A", 1, false).column("B", 1, true);
        table.row(vec!["x".into(), "1.00".into()]);
        assert_eq!(table.render(Width::Columns(80)), "A     B\nx  1.00\n");
        assert_eq!(table.render(Width::Unlimited), "A     B\nx  1.00\n");
    }
}
