//! UTC timestamps in the one text shape plantsync stores and prints.
//!
//! `2026-11-29T13:05:00.123Z`: ISO-8601, always UTC, always millisecond precision, so the
//! text sorts in time order inside SQLite and matches `strftime('%Y-%m-%dT%H:%M:%fZ','now')`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A point in time, stored and printed as UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Text that is not an RFC 3339 / ISO-8601 time with an offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp '{0}' (expected ISO-8601 with an offset, e.g. 2026-11-29T13:05:00Z)")]
pub struct ParseTimestampError(String);

impl Timestamp {
    /// The current time, truncated to milliseconds so that a value survives a round trip
    /// through its text form unchanged.
    pub fn now() -> Self {
        Self::from_datetime(&Utc::now())
    }

    /// Wraps a `DateTime`, truncated to milliseconds.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Self {
        let utc = dt.with_timezone(&Utc);
        let millis = utc.timestamp_millis();
        Self(Utc.timestamp_millis_opt(millis).single().unwrap_or(utc))
    }

    /// From unix milliseconds; `None` when out of chrono's range.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(millis).single().map(Self)
    }

    /// The wrapped `DateTime<Utc>`.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// The canonical text form.
    pub fn to_canonical(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|dt| Self::from_datetime(&dt))
            .map_err(|_| ParseTimestampError(s.to_owned()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_canonical())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_round_trips_and_is_utc() {
        let ts: Timestamp = "2026-11-29T18:35:00.5+05:30".parse().unwrap();
        assert_eq!(ts.to_canonical(), "2026-11-29T13:05:00.500Z");
        assert_eq!(ts.to_canonical().parse::<Timestamp>().unwrap(), ts);
    }

    #[test]
    fn now_survives_its_text_form() {
        let now = Timestamp::now();
        assert_eq!(now.to_canonical().parse::<Timestamp>().unwrap(), now);
    }

    #[test]
    fn garbage_is_an_error_naming_the_input() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().contains("'yesterday'"));
    }
}

/// A wall-clock time of day (`HH:MM`, 24-hour), as in `SYNC_WINDOW_START=19:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    /// From hour (0..=23) and minute (0..=59).
    pub const fn new(hour: u16, minute: u16) -> Option<Self> {
        if hour < 24 && minute < 60 { Some(Self { minutes: hour * 60 + minute }) } else { None }
    }

    /// Minutes since midnight (0..1440).
    pub const fn minutes_since_midnight(self) -> u16 {
        self.minutes
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (hour, minute) = text
            .split_once(':')
            .ok_or_else(|| "expected a 24-hour time HH:MM, e.g. 19:00".to_owned())?;
        let number = |part: &str, what: &str| -> Result<u16, String> {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("the {what} '{part}' is not a number (expected HH:MM)"));
            }
            part.parse().map_err(|_| format!("the {what} '{part}' is not a number"))
        };
        let (hour, minute) = (number(hour, "hour")?, number(minute, "minute")?);
        if hour > 23 {
            return Err(format!("hour {hour} is out of range (00-23)"));
        }
        if minute > 59 {
            return Err(format!("minute {minute} is out of range (00-59)"));
        }
        Self::new(hour, minute).ok_or_else(|| format!("{text} is not a time of day"))
    }
}

#[cfg(test)]
mod time_of_day_tests {
    use super::TimeOfDay;

    #[test]
    fn parses_and_prints_hh_mm() {
        assert_eq!("06:00".parse::<TimeOfDay>().unwrap().minutes_since_midnight(), 360);
        assert_eq!("7:05".parse::<TimeOfDay>().unwrap().to_string(), "07:05");
        assert!("25:00".parse::<TimeOfDay>().unwrap_err().contains("hour 25"));
        assert!("19:60".parse::<TimeOfDay>().is_err());
        assert!("1900".parse::<TimeOfDay>().is_err());
        assert!("-1:00".parse::<TimeOfDay>().is_err());
    }
}
