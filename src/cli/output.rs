//! Rendering: tables that fit an 80-column terminal, stable JSON, CSV.
//!
//! JSON is the documented machine interface (README, "JSON output"): field names are the
//! struct fields, times are UTC text, absent values are `null`. Tables are for people and
//! show times in the configured zone.

use crate::domain::Timestamp;
use chrono_tz::Tz;
use clap::ValueEnum;
use serde::Serialize;
use std::io::Write;

/// Terminal width tables are fitted to.
pub const TABLE_WIDTH: usize = 80;

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
    /// A column that never shrinks below `min` characters; numbers are right-aligned.
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

    /// Renders with columns shrunk (widest first) until the table fits `max_width`.
    pub fn render(&self, max_width: usize) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let gaps = 2 * self.headers.len().saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > max_width {
            let widest = widths
                .iter()
                .enumerate()
                .filter(|(i, w)| **w > self.min_widths[*i])
                .max_by_key(|(_, w)| **w)
                .map(|(i, _)| i);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let text = truncate(cell, widths[i]);
                let pad = widths[i] - text.chars().count();
                if self.right_aligned[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(&text);
                } else {
                    line.push_str(&text);
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
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

    #[test]
    fn wide_tables_shrink_to_fit_and_truncate() {
        let mut table = Table::default()
            .column("ID", 2, true)
            .column("NAME", 8, false)
            .column("NOTE", 6, false);
        table.row(vec!["1".into(), "x".repeat(60), "y".repeat(40)]);
        table.row(vec!["22".into(), "short".into(), "z".into()]);
        let text = table.render(TABLE_WIDTH);
        for line in text.lines() {
            assert!(line.chars().count() <= TABLE_WIDTH, "{line}");
        }
        assert!(text.contains('…'));
        assert!(text.lines().nth(2).unwrap().starts_with("22  short"));
    }

    #[test]
    fn narrow_tables_are_left_alone() {
        let mut table = Table::default().column("A", 1, false).column("B", 1, true);
        table.row(vec!["x".into(), "1.00".into()]);
        assert_eq!(table.render(TABLE_WIDTH), "A     B\nx  1.00\n");
    }
}
