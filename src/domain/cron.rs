//! A cron expression, parsed once where it is configured, so the schedule never meets text
//! it could fail to read.
//!
//! Parsing also refuses what croner would accept but the agent could not use: a seconds
//! field (a schedule finer than a minute; the due-time rule works in minutes, and a tick a
//! second would start a run decision every second), a step as large as its field's range
//! (`*/61` fires only at minute 0, which is never what was meant), and an expression that
//! never fires (`0 0 31 2 *`: the loop would sleep forever without a word). Each is an
//! error naming why, so the config key it came from is reported with the reason.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use std::fmt;
use std::str::FromStr;

/// A validated cron expression (five fields, `*/15 * * * *`), with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

/// The five fields in order: name, and how many values the field has (its span), which a
/// step must stay below to mean more than one value.
const FIELDS: [(&str, u16); 5] =
    [("minute", 60), ("hour", 24), ("day-of-month", 31), ("month", 12), ("day-of-week", 7)];

const FIVE_FIELDS: &str = "5 fields: minute hour day-of-month month day-of-week";

impl CronSchedule {
    /// The first tick strictly after `after`, reading the fields in `zone`; `None` when the
    /// expression has no future tick (a date that never comes).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Checks the number of fields before croner sees them, so a six-field expression is
/// refused for what it is (seconds) rather than read as something else.
fn check_fields(text: &str) -> Result<Vec<&str>, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.len() {
        5 => Ok(fields),
        6 | 7 => Err(format!(
            "{} fields: plantsync schedules to the minute and takes no seconds (or year) \
             field; use {FIVE_FIELDS}",
            fields.len()
        )),
        n => {
            Err(format!("not a cron expression: {n} field(s), where a schedule has {FIVE_FIELDS}"))
        }
    }
}

/// Refuses a step that leaves one value of its field (`*/61`, `*/24`, `*/7`).
fn check_steps(fields: &[&str]) -> Result<(), String> {
    for (field, (name, span)) in fields.iter().zip(FIELDS) {
        for part in field.split(',') {
            let Some((_, step)) = part.split_once('/') else { continue };
            // A malformed step is croner's to report.
            let Ok(step) = step.trim_end_matches(|c: char| !c.is_ascii_digit()).parse::<u16>()
            else {
                continue;
            };
            if step >= span {
                return Err(format!(
                    "step {step} in the {name} field is not smaller than the field's {span} \
                     values, so '{part}' would fire at one {name} only; write that value, or a \
                     step below {span}"
                ));
            }
        }
    }
    Ok(())
}

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if !text.starts_with('@') {
            check_steps(&check_fields(text)?)?;
        }
        let parser =
            CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let cron = parser.parse(text).map_err(|e| format!("not a cron expression: {e}"))?;
        // Without a year field the ticks repeat every 400 years, so a search from any fixed
        // instant finds one if there is any; a fixed instant keeps the answer the same on
        // every day the config is read.
        let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or_default();
        if cron.find_next_occurrence(&reference, true).is_err() {
            return Err("it never fires: no date matches its day and month fields (e.g. 31 in \
                        a month of 30 days, or February 30)"
                .to_owned());
        }
        Ok(Self { text: text.to_owned(), cron })
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_and_finds_ticks_in_the_zone() {
        let every_quarter: CronSchedule = " */15 * * * * ".parse().unwrap();
        assert_eq!(every_quarter.to_string(), "*/15 * * * *");
        let at = "2026-11-29T04:31:00Z".parse::<DateTime<Utc>>().unwrap(); // 10:01 IST
        let next = every_quarter.next_after(at, chrono_tz::Asia::Kolkata).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-29T04:45:00+00:00"); // 10:15 IST
        let daily: CronSchedule = "0 6 * * *".parse().unwrap();
        let next = daily.next_after(at, chrono_tz::Asia::Kolkata).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-30T00:30:00+00:00");
        assert!("every minute".parse::<CronSchedule>().unwrap_err().contains("field"));
    }

    #[test]
    fn refuses_what_never_fires_and_anything_finer_than_a_minute() {
        let refused = |text: &str, why: &str| {
            let error = text.parse::<CronSchedule>().unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        };
        refused("0 0 31 2 *", "never fires");
        refused("0 0 30 2 *", "never fires");
        refused("0 0 31 4,6,9,11 *", "never fires");
        refused("* * * * * *", "6 fields: plantsync schedules to the minute");
        refused("*/10 * * * * *", "takes no seconds");
        refused("0 0 * * * * 2030", "7 fields");
        refused("*/61 * * * *", "step 61 in the minute field");
        refused("*/60 * * * *", "step 60 in the minute field");
        refused("0 */24 * * *", "step 24 in the hour field");
        refused("0 0 1-31/31 * *", "step 31 in the day-of-month field");
        refused("0 0 1 */12 *", "step 12 in the month field");
        refused("0 0 * * */7", "step 7 in the day-of-week field");
        refused("*/15 * * *", "4 field(s)");
        refused("61 * * * *", "not a cron expression");
    }

    #[test]
    fn accepts_rare_but_real_dates_and_nicknames() {
        for text in ["0 0 29 2 *", "0 0 L 2 *", "* * * * *", "*/59 * * * *", "@hourly", "0 0 1 1 *"]
        {
            assert!(text.parse::<CronSchedule>().is_ok(), "{text}");
        }
        let leap: CronSchedule = "0 0 29 2 *".parse().unwrap();
        let at = "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            leap.next_after(at, chrono_tz::UTC).unwrap().to_rfc3339(),
            "2028-02-29T00:00:00+00:00"
        );
    }
}
