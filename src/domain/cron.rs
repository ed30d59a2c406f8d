//! A cron expression, parsed once where it is configured, so the schedule never meets text
//! it could fail to read.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A validated cron expression (five fields, `*/15 * * * *`), with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

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

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        text.parse::<croner::Cron>()
            .map(|cron| Self { text: text.to_owned(), cron })
            .map_err(|e| format!("not a cron expression: {e}"))
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
        assert!("every minute".parse::<CronSchedule>().unwrap_err().contains("not a cron"));
    }
}
