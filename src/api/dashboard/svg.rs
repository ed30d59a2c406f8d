//! The dashboard's charts, drawn on the server as inline SVG (no JavaScript, no assets):
//! a bar per day of energy and a line of today's power. Pure: data in, markup out, so the
//! drawing rules are unit-tested without a server.
//!
//! # Rules
//!
//! * A day without a value is a **gap**: no bar, a thin dashed mark at the baseline titled
//!   "no data", never a bar of height 0 (a real 0 kWh day is a 0-height bar with its own
//!   title, and its value in the table).
//! * Bar heights are proportional to the value, against the largest value of the chart.
//! * Every bar has a `<title>` (its day, its value with units, its source), the chart has
//!   an `aria-label`, and a visually hidden table repeats the numbers for screen readers.
//! * A chart with no value at all is a sentence ("No energy data ..."), not an empty frame.

use crate::domain::DaySource;
use chrono::NaiveDate;
use maud::{Markup, html};

/// The drawing area of the bar chart, in SVG user units (the SVG scales to its box).
const WIDTH: f64 = 800.0;
/// Height of the bars' area.
const HEIGHT: f64 = 180.0;
/// Space under the bars for the day labels.
const LABELS: f64 = 22.0;
/// Space left of the bars for the scale.
const LEFT: f64 = 76.0;

/// One day of a bar chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayBar {
    /// The day.
    pub day: NaiveDate,
    /// Its energy, kWh; `None` is a gap.
    pub energy_kwh: Option<f64>,
    /// Where the value came from, when the chart tells (a plant's own history).
    pub source: Option<DaySource>,
}

/// A number of kWh as the dashboard shows it: `12.3 kWh`, `1,234 kWh` past a thousand.
pub fn kwh(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{} kWh", thousands(value.round()))
    } else {
        format!("{value:.1} kWh")
    }
}

/// A number of kW: `3.42 kW`.
pub fn kw(value: f64) -> String {
    format!("{value:.2} kW")
}

/// `1234567` as `1,234,567`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// The words of one bar's title: `2026-12-01: 12.3 kWh (backfill)` or `... no data`.
fn bar_title(bar: &DayBar) -> String {
    match (bar.energy_kwh, bar.source) {
        (None, _) => format!("{}: no data", bar.day),
        (Some(v), Some(source)) => format!("{}: {} ({})", bar.day, kwh(v), source_words(source)),
        (Some(v), None) => format!("{}: {}", bar.day, kwh(v)),
    }
}

/// A source in words, as the legend says it.
pub const fn source_words(source: DaySource) -> &'static str {
    match source {
        DaySource::Live => "live reading",
        DaySource::Backfill => "portal history",
    }
}

/// The bar chart of `bars` (oldest first). `id` makes the chart's element ids unique on
/// the page; `label` names the chart for assistive technology.
pub fn day_bars(id: &str, label: &str, bars: &[DayBar]) -> Markup {
    let max = bars
        .iter()
        .filter_map(|b| b.energy_kwh)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(max) = max else {
        return html! { p.nodata { "No energy data for these days yet." } };
    };
    let scale = if max > 0.0 { HEIGHT / max } else { 0.0 };
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let bar_width = (slot * 0.8).max(1.0);
    let hatch = format!("hatch-{id}");
    let shows_source = bars.iter().any(|b| b.source.is_some());
    let total_height = HEIGHT + LABELS;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {total_height}")) role="img"
                aria-label=(format!("{label}: {} days, highest {}", bars.len(), kwh(max)))
                {
                @if shows_source {
                    defs {
                        pattern id=(hatch) width="6" height="6" patternUnits="userSpaceOnUse"
                            patternTransform="rotate(45)" {
                            rect width="6" height="6" class="bar-backfill-bg" {}
                            line x1="0" y1="0" x2="0" y2="6" class="hatch-line" {}
                        }
                    }
                }
                line.axis x1=(LEFT) y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
                text.scale x=(LEFT - 4.0) y="2" dominant-baseline="hanging" text-anchor="end" { (format!("{max:.0}")) }
                text.scale x=(LEFT - 4.0) y=(HEIGHT) text-anchor="end" { "0" }
                text.scale x="2" y=(HEIGHT / 2.0) { "kWh" }
                @for (i, bar) in bars.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + (slot - bar_width) / 2.0;
                    @match bar.energy_kwh {
                        Some(v) => {
                            @let h = v.max(0.0) * scale;
                            @let fill = if bar.source == Some(DaySource::Backfill) {
                                format!("url(#{hatch})")
                            } else {
                                "currentColor".to_owned()
                            };
                            rect.bar x=(fmt(x)) y=(fmt(HEIGHT - h)) width=(fmt(bar_width))
                                height=(fmt(h)) fill=(fill)
                                data-day=(bar.day) data-kwh=(format!("{v:.3}")) {
                                title { (bar_title(bar)) }
                            }
                        }
                        None => {
                            line.gap x1=(fmt(x)) y1=(fmt(HEIGHT - 1.0)) x2=(fmt(x + bar_width))
                                y2=(fmt(HEIGHT - 1.0)) data-day=(bar.day) data-gap="1" {
                                title { (bar_title(bar)) }
                            }
                        }
                    }
                    @if (i % 7 == 0 && i + 4 <= bars.len()) || i + 1 == bars.len() {
                        @let (at, anchor) = if i + 1 == bars.len() {
                            (x + bar_width, "end")
                        } else {
                            (x + bar_width / 2.0, "middle")
                        };
                        text.day x=(fmt(at)) y=(fmt(total_height - 4.0)) text-anchor=(anchor) {
                            (bar.day.format("%d.%m"))
                        }
                    }
                }
            }
            @if shows_source {
                figcaption.legend {
                    span.swatch.live aria-hidden="true" {} " live reading "
                    span.swatch.backfill aria-hidden="true" {} " portal history (backfill) "
                    span.swatch.gap aria-hidden="true" {} " no data"
                }
            } @else {
                figcaption.legend { span.swatch.gap aria-hidden="true" {} " no data" }
            }
            table.sr-only {
                caption { (label) }
                thead { tr { th scope="col" { "Day" } th scope="col" { "Energy" }
                    @if shows_source { th scope="col" { "Source" } } } }
                tbody {
                    @for bar in bars {
                        tr {
                            th scope="row" { (bar.day) }
                            td { (bar.energy_kwh.map_or_else(|| "no data".to_owned(), kwh)) }
                            @if shows_source {
                                td { (bar.source.map_or("", source_words)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A coordinate with two decimals (short markup, stable in tests).
fn fmt(value: f64) -> String {
    format!("{value:.2}")
}

/// One point of a power curve: where in the day (0 = its start, 1 = its end) and kW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerPoint {
    /// Fraction of the day, 0..=1.
    pub at: f64,
    /// Power, kW.
    pub power_kw: f64,
    /// The local time, for the point's words (`14:05`).
    pub label: chrono::NaiveTime,
}

/// Today's power as a line over the local day (00:00 to 24:00); a sentence when there is
/// no sample.
pub fn power_curve(label: &str, points: &[PowerPoint]) -> Markup {
    if points.is_empty() {
        return html! { p.nodata { "No power readings today yet." } };
    }
    let max = points.iter().map(|p| p.power_kw).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { HEIGHT / max } else { 0.0 };
    let span = WIDTH - LEFT;
    let xy =
        |p: &PowerPoint| (LEFT + p.at.clamp(0.0, 1.0) * span, HEIGHT - p.power_kw.max(0.0) * scale);
    let line: Vec<String> =
        points.iter().map(xy).map(|(x, y)| format!("{},{}", fmt(x), fmt(y))).collect();
    let total_height = HEIGHT + LABELS;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {total_height}")) role="img"
                aria-label=(format!("{label}: {} readings, highest {}", points.len(), kw(max)))
                {
                line.axis x1=(LEFT) y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
                text.scale x=(LEFT - 4.0) y="2" dominant-baseline="hanging" text-anchor="end" { (format!("{max:.1}")) }
                text.scale x=(LEFT - 4.0) y=(HEIGHT) text-anchor="end" { "0" }
                text.scale x="2" y=(HEIGHT / 2.0) { "kW" }
                @for hour in [0u32, 6, 12, 18, 24] {
                    text.day x=(fmt(LEFT + f64::from(hour) / 24.0 * span)) y=(fmt(total_height - 4.0))
                        text-anchor="middle" { (format!("{hour:02}:00")) }
                }
                polyline.power points=(line.join(" ")) fill="none" {}
                @for p in points {
                    @let (x, y) = xy(p);
                    circle.point cx=(fmt(x)) cy=(fmt(y)) r="2" {
                        title { (format!("{}: {}", p.label.format("%H:%M"), kw(p.power_kw))) }
                    }
                }
            }
            table.sr-only {
                caption { (label) }
                thead { tr { th scope="col" { "Time" } th scope="col" { "Power" } } }
                tbody {
                    @for p in points {
                        tr { th scope="row" { (p.label.format("%H:%M")) } td { (kw(p.power_kw)) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    /// The `height` of the bar of `day`, from the markup.
    fn height_of(svg: &str, day: NaiveDate) -> Option<f64> {
        let at = svg.find(&format!("data-day=\"{day}\" data-kwh"))?;
        let rect = &svg[svg[..at].rfind("<rect")?..at];
        let h = rect.split("height=\"").nth(1)?.split('"').next()?;
        h.parse().ok()
    }

    #[test]
    fn a_gap_is_drawn_as_a_gap_never_as_a_zero_bar() {
        let bars = [
            DayBar { day: day(1), energy_kwh: Some(10.0), source: None },
            DayBar { day: day(2), energy_kwh: None, source: None },
            DayBar { day: day(3), energy_kwh: Some(0.0), source: None },
        ];
        let svg = day_bars("t", "Energy", &bars).into_string();
        assert_eq!(height_of(&svg, day(2)), None, "no bar for the gap: {svg}");
        assert!(svg.contains("data-day=\"2026-11-02\" data-gap=\"1\""), "{svg}");
        assert!(svg.contains("<title>2026-11-02: no data</title>"), "{svg}");
        // A real zero is a bar (of height 0) with its value.
        assert_eq!(height_of(&svg, day(3)), Some(0.0));
        assert!(svg.contains("<title>2026-11-03: 0.0 kWh</title>"), "{svg}");
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2, "{svg}");
    }

    #[test]
    fn bar_heights_are_proportional_to_the_values() {
        let bars = [
            DayBar { day: day(1), energy_kwh: Some(40.0), source: Some(DaySource::Live) },
            DayBar { day: day(2), energy_kwh: Some(10.0), source: Some(DaySource::Backfill) },
            DayBar { day: day(3), energy_kwh: Some(20.0), source: Some(DaySource::Live) },
        ];
        let svg = day_bars("t", "Energy", &bars).into_string();
        let (a, b, c) = (
            height_of(&svg, day(1)).unwrap(),
            height_of(&svg, day(2)).unwrap(),
            height_of(&svg, day(3)).unwrap(),
        );
        assert!((a - HEIGHT).abs() < 0.01, "the largest fills the chart: {a}");
        assert!((a / b - 4.0).abs() < 0.01 && (c / b - 2.0).abs() < 0.01, "{a} {b} {c}");
        // The backfilled day is hatched, the live ones are not, and the legend says so.
        assert!(svg.contains("fill=\"url(#hatch-t)\" data-day=\"2026-11-02\""), "{svg}");
        assert_eq!(svg.matches("url(#hatch-t)").count(), 1, "{svg}");
        assert!(svg.contains("2026-11-02: 10.0 kWh (portal history)"), "{svg}");
        assert!(svg.contains("portal history (backfill)"), "{svg}");
        // The table alternative carries every number.
        assert!(svg.contains("<td>40.0 kWh</td>") && svg.contains("<td>20.0 kWh</td>"), "{svg}");
        assert!(svg.contains("aria-label=\"Energy: 3 days, highest 40.0 kWh\""), "{svg}");
    }

    #[test]
    fn no_data_at_all_is_a_sentence_not_a_broken_chart() {
        let gaps = [DayBar { day: day(1), energy_kwh: None, source: None }];
        for bars in [&gaps[..], &[]] {
            let html = day_bars("t", "Energy", bars).into_string();
            assert!(!html.contains("<svg"), "{html}");
            assert!(html.contains("No energy data"), "{html}");
        }
        let html = power_curve("Power", &[]).into_string();
        assert!(!html.contains("<svg") && html.contains("No power readings"), "{html}");
    }

    #[test]
    fn the_power_curve_spans_the_local_day() {
        let t = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let points = [
            PowerPoint { at: 0.25, power_kw: 1.0, label: t(6, 0) },
            PowerPoint { at: 0.5, power_kw: 4.0, label: t(12, 0) },
        ];
        let svg = power_curve("Power", &points).into_string();
        let x = |at: f64| LEFT + at * (WIDTH - LEFT);
        let expected =
            format!("{},{} {},{}", fmt(x(0.25)), fmt(HEIGHT - HEIGHT / 4.0), fmt(x(0.5)), fmt(0.0));
        assert!(svg.contains(&format!("points=\"{expected}\"")), "{svg}");
        assert!(svg.contains("<title>12:00: 4.00 kW</title>"), "{svg}");
    }

    #[test]
    fn numbers_carry_their_units() {
        assert_eq!(kwh(12.34), "12.3 kWh");
        assert_eq!(kwh(1234.4), "1,234 kWh");
        assert_eq!(kwh(1_234_567.0), "1,234,567 kWh");
        assert_eq!(kw(3.456), "3.46 kW");
    }
}
