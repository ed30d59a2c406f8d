//! Rendering: tables for people, stable JSON, CSV.
//!
//! JSON is the documented machine interface (README, "JSON output"): field names are the
//! struct fields, times are UTC text, absent values are `null`. Tables are for people and
//! show times in the configured zone.
//!
//! Tables are laid out by comfy-table. On a terminal they fit its width by wrapping the
//! free-text cells (a name, a title, an error, an address) onto more lines; nothing is ever
//! cut short, since a cut error is the one a person needed to read. Ids, numbers, enum
//! words and times never wrap: `20` over ` 0` reads as two ids, `offlin`/`e` as nothing, so
//! such a column is always as wide as its widest value (when those alone are wider than
//! the terminal, the table is wider than the terminal rather than split). When stdout is not
//! a terminal (a pipe, a file, a test) a table has no width limit, so the output is the same
//! wherever it runs and every row stays on one line for `grep`.
//!
//! Every cell of a table (and every value of [`key_values`]) is made printable first: plant
//! names and alert titles come from the portals, so a newline would split a row in two and
//! an escape sequence would reach the terminal. JSON and CSV keep the text as stored, since
//! they escape it themselves.

use crate::domain::Timestamp;
use chrono_tz::Tz;
use clap::ValueEnum;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, presets};
use serde::Serialize;
use std::borrow::Cow;
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

/// How a column's cells may be laid out within the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Never wrapped: the column is as wide as its widest cell (ids, numbers, enum words,
    /// times, yes/no).
    Whole,
    /// Free text, wrapped at spaces when the table is too wide, down to this many characters.
    Wrap(usize),
}

/// Words of free text up to this long are never split when a column wraps: every word of a
/// plant, vendor or organization name fits (`iSolarCloud` is 11), while a rare long token
/// (`getStationRealKpi);` in an error) cannot force the table wider than the terminal.
const WHOLE_WORDS_UP_TO: usize = 16;

/// A table under construction.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    fits: Vec<Fit>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A column of values that are read as one token (an id, an enum word, a time): never
    /// wrapped, left-aligned.
    pub fn whole(self, header: &'static str) -> Self {
        self.push(header, Fit::Whole, false)
    }

    /// A column of numbers (ids, counts, kW): never wrapped, right-aligned.
    pub fn number(self, header: &'static str) -> Self {
        self.push(header, Fit::Whole, true)
    }

    /// A column of free text (a name, a title, an error): wrapped onto more lines when the
    /// table is too wide, but not below `min` characters.
    pub fn text(self, header: &'static str, min: usize) -> Self {
        self.push(header, Fit::Wrap(min.max(1)), false)
    }

    fn push(mut self, header: &'static str, fit: Fit, right: bool) -> Self {
        self.headers.push(header);
        self.fits.push(fit);
        self.right_aligned.push(right);
        self
    }

    /// Adds a row (one cell per column), each cell made [`printable`].
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        let cells = cells.into_iter().map(|cell| match printable(&cell) {
            Cow::Borrowed(_) => cell,
            Cow::Owned(clean) => clean,
        });
        self.rows.push(cells.collect());
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
        let longest_words = self.longest_words();
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, if i == last { 0 } else { 2 }));
            if self.right_aligned[i] {
                column.set_cell_alignment(CellAlignment::Right);
            }
            let constraint = match self.fits[i] {
                Fit::Whole => ColumnConstraint::ContentWidth,
                Fit::Wrap(min) => {
                    // Wrapped at spaces: never narrower than its longest word (up to
                    // `WHOLE_WORDS_UP_TO`), so a name is not split inside a word
                    // (`Growat`/`t`); only a longer token, such as an endpoint in an
                    // error, may be split to keep the table within the width.
                    let floor = min.max(longest_words[i].min(WHOLE_WORDS_UP_TO)).min(natural[i])
                        + if i == last { 0 } else { 2 };
                    let floor = u16::try_from(floor).unwrap_or(u16::MAX);
                    ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(floor))
                }
            };
            column.set_constraint(constraint);
        }
        table.lines().map(|line| line.trim_end().to_owned() + "\n").collect()
    }

    /// The longest word (run of non-spaces) of each column's cells and header, in characters.
    fn longest_words(&self) -> Vec<usize> {
        let longest = |text: &str| text.split_whitespace().map(|w| w.chars().count()).max();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| longest(h).unwrap_or(0)).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(longest(cell).unwrap_or(0));
            }
        }
        widths
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

/// Renders `key: value` lines for one record, each value made [`printable`].
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$}  {}\n", printable(v))).collect()
}

/// `text` as it may reach a terminal in a table: a newline, carriage return or tab becomes
/// a space (one row stays one line), and any other control character (ESC, BEL, DEL, the C1
/// set) becomes U+FFFD, so no escape sequence from a portal's plant name or alert title
/// is ever sent to the terminal. Text without control characters is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' | '\r' | '\t' => ' ',
                c if c.is_control() => char::REPLACEMENT_CHARACTER,
                c => c,
            })
            .collect(),
    )
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Writes `items` as CSV with a header row of their field names, every field made
/// [`spreadsheet_text`]: a listing's CSV is opened in spreadsheets, and its names and
/// titles come from the portals. Serialized once, then read back field by field: serde's
/// CSV writer gives no hook per string, and a field that parses as a number is one.
pub fn write_csv<T: Serialize>(out: &mut dyn Write, items: &[T]) -> anyhow::Result<()> {
    let mut plain = csv::Writer::from_writer(Vec::new());
    for item in items {
        plain.serialize(item)?;
    }
    let plain = plain.into_inner().map_err(|e| anyhow::anyhow!("CSV: {}", e.error()))?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&plain[..]);
    let mut writer = csv::Writer::from_writer(out);
    for record in reader.records() {
        writer.write_record(record?.iter().map(spreadsheet_text).map(|f| f.into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

/// A text field as spreadsheets must read it: one that begins like a formula (`=`, `+`,
/// `-`, `@`, a tab or a carriage return) is written behind a `'`, which spreadsheets show
/// as text and never evaluate (OWASP's advice against CSV injection), unless it is a plain
/// number (`-3.5`), which a spreadsheet reads as the number it is. The one rule for every
/// CSV plantsync writes.
pub fn spreadsheet_text(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err() {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
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
        let mut table =
            Table::default().number("ID").text("NAME", 8).whole("LAST SYNC").text("ERROR", 5);
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
    fn texts_that_begin_like_a_formula_are_written_as_text() {
        for formula in
            ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
        {
            assert_eq!(spreadsheet_text(formula), format!("'{formula}"));
        }
        for plain in ["Pune Roof", "", "1 = 1", "Plant-7", "'quoted", "-3.5", "+1"] {
            assert_eq!(spreadsheet_text(plain), plain);
        }
    }

    #[test]
    fn listing_csv_writes_a_formula_as_text_and_numbers_as_numbers() {
        #[derive(Serialize)]
        struct Row {
            name: &'static str,
            power_kw: f64,
            code: Option<&'static str>,
        }
        let rows = [
            Row { name: "=HYPERLINK(\"http://x\",\"y\")", power_kw: -3.5, code: Some("@SUM(A1)") },
            Row { name: "Pune, \"Roof\"", power_kw: 2.0, code: None },
        ];
        let mut out = Vec::new();
        write_csv(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "name,power_kw,code\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-3.5,'@SUM(A1)\n\
             \"Pune, \"\"Roof\"\"\",2.0,\n"
        );
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

    /// Text wraps at spaces, never inside a word: `Sungrow iSolarCloud (2)` may take three
    /// lines at 30 columns, but `Sungro`/`w` never appears.
    #[test]
    fn text_wraps_between_words_never_inside_one() {
        let mut table = Table::default().number("ID").text("VENDOR", 6).text("ERROR", 6);
        let error = "could not connect to the portal (connection refused)";
        table.row(vec!["2".into(), "Demo Sungrow iSolarCloud (2)".into(), error.into()]);
        for width in [20, 30, 50] {
            let text = table.render(Width::Columns(width));
            let words: Vec<&str> = text.lines().skip(1).flat_map(str::split_whitespace).collect();
            let expected: Vec<&str> = std::iter::once("2")
                .chain("Demo Sungrow iSolarCloud (2)".split(' '))
                .chain(error.split(' '))
                .collect();
            let mut sorted_words = words.clone();
            let mut sorted_expected = expected.clone();
            sorted_words.sort_unstable();
            sorted_expected.sort_unstable();
            assert_eq!(sorted_words, sorted_expected, "at {width}: every word whole\n{text}");
        }
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

    /// Whole columns are never split, not even when they alone are wider than the limit:
    /// the table is wider instead, and only the free text wraps.
    #[test]
    fn ids_enum_words_and_times_never_wrap() {
        let mut table =
            Table::default().number("ID").whole("STATUS").whole("STARTED").text("TITLE", 4);
        table.row(vec!["200".into(), "offline".into(), "2026-11-29 10:15".into(), ERROR.into()]);
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        for width in [20, 30, 50] {
            let text = table.render(Width::Columns(width));
            let mut rows = text.lines().skip_while(|l| !l.starts_with("200"));
            let first = rows.next().unwrap_or_else(|| panic!("{width}: id split:\n{text}"));
            assert!(first.starts_with("200  offline  2026-11-29 10:15  "), "{width}:\n{text}");
            // The title wraps in its own column, and all of it is there.
            let at = "200  offline  2026-11-29 10:15  ".len();
            let title: String = std::iter::once(first).chain(rows).map(|l| &l[at..]).collect();
            assert_eq!(squeeze(&title), squeeze(ERROR), "{width}:\n{text}");
        }
        // Where everything fits, the table keeps within the width.
        let text = table.render(Width::Columns(50));
        assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
    }

    #[test]
    fn control_characters_become_spaces_or_replacement_characters() {
        assert_eq!(printable("plain text é"), "plain text é");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("North\nSouth\tEast\r"), "North South East ");
        assert_eq!(
            printable("\u{1b}[31mRED\u{1b}[0m\u{7}\u{7f}\u{9b}"),
            "\u{fffd}[31mRED\u{fffd}[0m\u{fffd}\u{fffd}\u{fffd}"
        );
        let mut table = Table::default().number("ID").text("NAME", 4);
        table.row(vec!["1".into(), "North\nSouth \u{1b}[2J".into()]);
        assert_eq!(table.render(Width::Unlimited), "ID  NAME\n 1  North South \u{fffd}[2J\n");
        assert_eq!(key_values(&[("name", "a\nb".into())]), "name  a b\n");
    }

    #[test]
    fn narrow_tables_are_left_alone() {
        let mut table = Table::default().whole("A").number("B");
        table.row(vec!["x".into(), "1.00".into()]);
        assert_eq!(table.render(Width::Columns(80)), "A     B\nx  1.00\n");
        assert_eq!(table.render(Width::Unlimited), "A     B\nx  1.00\n");
    }
}
