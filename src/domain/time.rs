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

    /// From a count since the Unix epoch that a portal sends in seconds or milliseconds,
    /// told apart by size: below 1e11 it is seconds (1e11 seconds is the year 5138, 1e11
    /// milliseconds 1973, both outside any plausible reading), else milliseconds; a
    /// fraction of a second is dropped. `None` for zero, negatives, non-finite values and
    /// what is out of range. Solarman and FusionSolar are known to mix the two.
    pub fn from_epoch_seconds_or_millis(value: f64) -> Option<Self> {
        if !value.is_finite() || value <= 0.0 {
            return None;
        }
        let millis = if value < 1e11 { value.floor() * 1000.0 } else { value.floor() };
        (millis < 9.2e18).then(|| Self::from_unix_millis(millis as i64)).flatten()
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

/// A plant's time zone, as `plants.timezone` holds it: an IANA name (`Europe/Berlin`, and
/// `Etc/GMT-8` for a whole-hour offset), or, for an offset that has no IANA name of its own
/// (India's `+05:30`, Nepal's `+05:45`, Newfoundland's standard `-03:30`), the fixed offset in
/// one canonical spelling, `±HH:MM`.
///
/// # Why a fixed offset and not a guessed city
///
/// Portals give such zones as `GMT+5:30` (Growatt's `plant/details`, Sungrow's
/// `ps_current_time_zone`) or only as the offset of a timestamp (FusionSolar). `+05:30` is
/// Asia/Kolkata and Asia/Colombo alike; picking one would be a guess, while the offset is
/// exactly what the portal said and converts the plant's local times correctly. Whole hours
/// keep their `Etc/GMT∓N` names, as stored before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantZone {
    /// An IANA zone.
    Named(chrono_tz::Tz),
    /// A fixed offset from UTC without an IANA name.
    Fixed(chrono::FixedOffset),
}

/// Offsets beyond this many hours from UTC are no zone on Earth (Kiribati is +14).
const MAX_OFFSET_HOURS: i32 = 14;

impl PlantZone {
    /// The zone of a fixed UTC offset in seconds: whole hours as `Etc/GMT∓N` (POSIX signs
    /// are inverted), other offsets (whole minutes) as themselves. `None` past ±14 hours or
    /// for an offset with seconds.
    pub fn from_offset_seconds(offset: i32) -> Option<Self> {
        if offset.abs() > MAX_OFFSET_HOURS * 3600 || offset % 60 != 0 {
            return None;
        }
        if offset % 3600 == 0 {
            let hours = offset / 3600;
            let name = match hours {
                0 => "Etc/GMT".to_owned(),
                h if h > 0 => format!("Etc/GMT-{h}"),
                h => format!("Etc/GMT+{}", -h),
            };
            if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
                return Some(Self::Named(tz));
            }
        }
        chrono::FixedOffset::east_opt(offset).map(Self::Fixed)
    }

    /// A zone spelled as an offset from GMT or UTC: `GMT+8`, `UTC-5`, `GMT`, `GMT+5:30`,
    /// `GMT+05:30`, `UTC+5:45`, `GMT+0530`. Anything else (an IANA name, a Unicode minus,
    /// minutes of 60 or more) is `None`.
    pub fn from_gmt(text: &str) -> Option<Self> {
        let text = text.trim();
        let rest = text.strip_prefix("GMT").or_else(|| text.strip_prefix("UTC"))?.trim_start();
        if rest.is_empty() {
            return Self::from_offset_seconds(0);
        }
        parse_offset(rest, false).and_then(Self::from_offset_seconds)
    }

    /// The stored spelling: the IANA name, or `±HH:MM`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The plant-local calendar day of an instant.
    pub fn local_date(&self, time: &Timestamp) -> chrono::NaiveDate {
        match self {
            Self::Named(tz) => time.as_datetime().with_timezone(tz).date_naive(),
            Self::Fixed(offset) => time.as_datetime().with_timezone(offset).date_naive(),
        }
    }

    /// The first instant after the plant-local day `day` (its next midnight, or the first
    /// valid time after it where a DST change skips midnight); `None` only past the
    /// calendar's end.
    pub fn end_of_day(&self, day: chrono::NaiveDate) -> Option<Timestamp> {
        let next = day.succ_opt()?;
        // A midnight skipped by DST (some zones switch at 00:00): the next hour is valid.
        (0..3).find_map(|hour| self.to_utc(next.and_hms_opt(hour, 0, 0)?))
    }

    /// [`Self::to_utc`] for a time that has passed by `now`, such as a portal's last update:
    /// in a DST fold the later instant, unless it is after `now`. (The hour after clocks go
    /// back is read an hour early otherwise: a site that reported at 01:30 after the change
    /// looks an hour older than it is.)
    pub fn to_utc_by(&self, local: chrono::NaiveDateTime, now: &Timestamp) -> Option<Timestamp> {
        match self {
            Self::Named(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Ambiguous(earlier, later) => {
                    let later = Timestamp::from_datetime(&later);
                    Some(if later <= *now { later } else { Timestamp::from_datetime(&earlier) })
                }
                other => other.single().map(|t| Timestamp::from_datetime(&t)),
            },
            Self::Fixed(_) => self.to_utc(local),
        }
    }

    /// A plant-local wall-clock time to UTC. In a DST fold the earlier instant is taken; a
    /// time in a DST gap is `None`.
    pub fn to_utc(&self, local: chrono::NaiveDateTime) -> Option<Timestamp> {
        match self {
            Self::Named(tz) => {
                tz.from_local_datetime(&local).earliest().map(|t| Timestamp::from_datetime(&t))
            }
            Self::Fixed(offset) => {
                offset.from_local_datetime(&local).single().map(|t| Timestamp::from_datetime(&t))
            }
        }
    }
}

/// `+5:30`, `-03:30`, `+0530`, `+8` (hours alone only when `strict` is off) to seconds east.
fn parse_offset(text: &str, strict: bool) -> Option<i32> {
    let (sign, digits) = match (text.strip_prefix('+'), text.strip_prefix('-')) {
        (Some(rest), _) => (1, rest),
        (_, Some(rest)) => (-1, rest),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) if !h.is_empty() && h.len() <= 2 && m.len() == 2 => (h, m),
        Some(_) => return None,
        None if digits.len() == 4 => digits.split_at(2),
        None if digits.len() <= 2 && !strict => (digits, "0"),
        None => return None,
    };
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if minutes >= 60 || hours > MAX_OFFSET_HOURS {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

impl fmt::Display for PlantZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(tz) => f.write_str(tz.name()),
            Self::Fixed(offset) => {
                let seconds = offset.local_minus_utc();
                let sign = if seconds < 0 { '-' } else { '+' };
                let minutes = seconds.abs() / 60;
                write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
        }
    }
}

/// Text that is neither an IANA zone nor a `±HH:MM` offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time zone '{0}' (expected an IANA name such as Asia/Kolkata, or an offset such as +05:30)"
)]
pub struct ParseZoneError(String);

impl FromStr for PlantZone {
    type Err = ParseZoneError;
    /// What `plants.timezone` holds: an IANA name or the canonical `±HH:MM` (also `±HHMM`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if let Ok(tz) = text.parse::<chrono_tz::Tz>() {
            return Ok(Self::Named(tz));
        }
        parse_offset(text, true)
            .and_then(|seconds| chrono::FixedOffset::east_opt(seconds).map(Self::Fixed))
            .ok_or_else(|| ParseZoneError(s.to_owned()))
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn a_past_time_in_the_hour_clocks_go_back_is_the_later_instant_unless_still_to_come() {
        let london = PlantZone::Named(chrono_tz::Europe::London);
        let local = |text: &str| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S");
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        // 2027-10-31: 02:00 BST becomes 01:00 GMT, so 01:30 is 00:30Z and 01:30Z.
        let fold = local("2027-10-31 01:30:00").unwrap();
        assert_eq!(london.to_utc(fold), Some(at("2027-10-31T00:30:00Z")), "the earlier");
        assert_eq!(
            london.to_utc_by(fold, &at("2027-10-31T05:00:00Z")),
            Some(at("2027-10-31T01:30:00Z"))
        );
        assert_eq!(
            london.to_utc_by(fold, &at("2027-10-31T01:00:00Z")),
            Some(at("2027-10-31T00:30:00Z"))
        );
        let plain = local("2027-10-31 12:00:00").unwrap();
        assert_eq!(london.to_utc_by(plain, &at("2027-10-31T05:00:00Z")), london.to_utc(plain));
        let gap = local("2027-03-28 01:30:00").unwrap();
        assert_eq!(london.to_utc_by(gap, &at("2027-03-28T05:00:00Z")), None, "a skipped time");
    }

    #[test]
    fn epoch_counts_in_seconds_or_milliseconds() {
        let at = |v: f64| Timestamp::from_epoch_seconds_or_millis(v).map(|t| t.to_canonical());
        let expected = Some("2024-10-31T15:18:17.000Z".to_owned());
        assert_eq!(at(1_730_387_897.0), expected, "seconds");
        assert_eq!(at(1_730_387_897.9), expected, "a fraction is dropped");
        assert_eq!(at(1_730_387_897_000.0), expected, "milliseconds");
        assert_eq!(at(1_730_387_897_123.0).unwrap(), "2024-10-31T15:18:17.123Z");
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e308] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_days_and_their_ends() {
        let kolkata: PlantZone = "+05:30".parse().unwrap();
        let late: Timestamp = "2026-11-30T20:00:00Z".parse().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(kolkata.local_date(&late), day, "20:00 UTC is 01:30 the next day there");
        assert_eq!(kolkata.end_of_day(day).unwrap().to_canonical(), "2026-12-01T18:30:00.000Z");
        // Santiago skips midnight into DST on 2024-09-08: the day ends at 01:00 local.
        let santiago: PlantZone = "America/Santiago".parse().unwrap();
        let before = chrono::NaiveDate::from_ymd_opt(2024, 9, 7).unwrap();
        assert_eq!(santiago.end_of_day(before).unwrap().to_canonical(), "2024-09-08T04:00:00.000Z");
    }

    fn gmt(text: &str) -> Option<String> {
        PlantZone::from_gmt(text).map(|z| z.name())
    }

    #[test]
    fn offsets_with_minutes_become_a_canonical_fixed_offset() {
        for text in ["GMT+5:30", "GMT+05:30", "UTC+5:30", "GMT +05:30", "GMT+0530", " UTC+05:30 "] {
            assert_eq!(gmt(text).as_deref(), Some("+05:30"), "{text}");
        }
        assert_eq!(gmt("UTC+5:45").as_deref(), Some("+05:45"));
        assert_eq!(gmt("GMT-3:30").as_deref(), Some("-03:30"));
        assert_eq!(gmt("GMT+12:45").as_deref(), Some("+12:45"));
        assert_eq!(PlantZone::from_offset_seconds(19_800).unwrap().name(), "+05:30");
        assert_eq!(PlantZone::from_offset_seconds(-12_600).unwrap().name(), "-03:30");
    }

    #[test]
    fn whole_hours_keep_their_etc_names() {
        assert_eq!(gmt("GMT+8").as_deref(), Some("Etc/GMT-8"));
        assert_eq!(gmt("GMT+08:00").as_deref(), Some("Etc/GMT-8"));
        assert_eq!(gmt("UTC-5").as_deref(), Some("Etc/GMT+5"));
        assert_eq!(gmt("GMT").as_deref(), Some("Etc/GMT"));
        assert_eq!(gmt("GMT+0").as_deref(), Some("Etc/GMT"));
        assert_eq!(gmt("GMT-0").as_deref(), Some("Etc/GMT"));
        assert_eq!(PlantZone::from_offset_seconds(3600).unwrap().name(), "Etc/GMT-1");
        // Etc/GMT+13 does not exist: the offset is kept as itself.
        assert_eq!(gmt("GMT-13").as_deref(), Some("-13:00"));
    }

    #[test]
    fn what_is_no_zone() {
        for text in [
            "GMT+5:60",
            "GMT+15",
            "GMT+5:3",
            "GMT+:30",
            "GMT5:30",
            "GMT\u{2212}8",
            "GMTé",
            "GMT+5:30:00",
            "Europe/Berlin",
            "",
        ] {
            assert_eq!(gmt(text), None, "{text}");
        }
        assert_eq!(PlantZone::from_offset_seconds(19_830), None, "seconds");
        assert_eq!(PlantZone::from_offset_seconds(15 * 3600), None);
    }

    #[test]
    fn the_stored_spellings_parse_back() {
        for name in ["Asia/Kolkata", "Etc/GMT-8", "GMT", "+05:30", "-03:30", "+05:45"] {
            let zone: PlantZone = name.parse().unwrap();
            assert_eq!(zone.name(), name);
        }
        assert_eq!("+0530".parse::<PlantZone>().unwrap().name(), "+05:30");
        let err = "+5".parse::<PlantZone>().unwrap_err();
        assert!(err.to_string().contains("'+5'"), "{err}");
        assert!("Mars/Olympus".parse::<PlantZone>().is_err());
        assert!("GMT+5:30".parse::<PlantZone>().is_err(), "portal spellings are not stored");
    }

    #[test]
    fn local_times_convert_in_both_forms() {
        let local = chrono::NaiveDate::from_ymd_opt(2024, 6, 10)
            .and_then(|d| d.and_hms_opt(13, 5, 0))
            .unwrap();
        let india: PlantZone = "+05:30".parse().unwrap();
        assert_eq!(india.to_utc(local).unwrap().to_canonical(), "2024-06-10T07:35:00.000Z");
        let nepal = PlantZone::from_gmt("UTC+5:45").unwrap();
        assert_eq!(nepal.to_utc(local).unwrap().to_canonical(), "2024-06-10T07:20:00.000Z");
        let kolkata: PlantZone = "Asia/Kolkata".parse().unwrap();
        assert_eq!(kolkata.to_utc(local), india.to_utc(local), "the same instant");
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
