//! `--since` values: an RFC 3339 time, a date in the configured zone, or an age.

use crate::domain::Timestamp;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Parses `text` relative to `now`: `2026-11-29T10:00:00Z`, `2026-11-29` (midnight in
/// `tz`), or an age such as `30m`, `24h`, `7d`.
pub fn parse_since(text: &str, tz: Tz, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(|| format!("invalid date '{text}'"))?;
        let local = tz
            .from_local_datetime(&midnight)
            .earliest()
            .ok_or_else(|| format!("'{text}' has no midnight in {tz}"))?;
        return Ok(Timestamp::from_datetime(&local));
    }
    // The unit is the last character (not byte: `7д` must be an error, not a panic).
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if n >= 0 && seconds_per_unit > 0 => {
            let millis = now.as_datetime().timestamp_millis() - n * seconds_per_unit * 1000;
            Timestamp::from_unix_millis(millis).ok_or_else(|| format!("'{text}' is too far back"))
        }
        _ => Err(format!(
            "invalid --since '{text}': expected an RFC 3339 time, a date YYYY-MM-DD or an age like 30m, 24h, 7d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_since() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let tz = chrono_tz::Asia::Kolkata;
        assert_eq!(parse_since("24h", tz, now).unwrap().to_canonical(), "2026-11-28T12:00:00.000Z");
        assert_eq!(
            parse_since("2026-11-29", tz, now).unwrap().to_canonical(),
            "2026-11-28T18:30:00.000Z"
        );
        assert_eq!(
            parse_since("2026-11-01T00:00:00+00:00", tz, now).unwrap().to_canonical(),
            "2026-11-01T00:00:00.000Z"
        );
        assert!(parse_since("soon", tz, now).unwrap_err().contains("invalid --since 'soon'"));
        assert!(parse_since("7д", tz, now).is_err());
        assert!(parse_since("", tz, now).is_err());
    }
}
