//! Time zones as the portals spell them, and local times read in a plant's zone.
//!
//! Portals give a plant's zone as an IANA name (SolarEdge `Europe/Amsterdam`, Solarman),
//! as `GMT+2` (Sungrow, Growatt), or only as the offset of a timestamp (FusionSolar). plantsync
//! keeps an IANA name: whole-hour offsets become the `Etc/GMT∓N` zones, other offsets have
//! no IANA name and are not kept.

use crate::domain::Timestamp;
use chrono::{NaiveDateTime, TimeZone};

/// `"GMT+2"` (or `"UTC+2"`) to the IANA `Etc/GMT-2` (POSIX signs are inverted). Offsets that
/// are not whole hours have no IANA name and give `None`.
pub fn zone_from_gmt(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("GMT").or_else(|| text.trim().strip_prefix("UTC"))?;
    if rest.is_empty() || rest == "+0" || rest == "-0" {
        return Some("Etc/GMT".to_owned());
    }
    // POSIX names invert the sign. Anything but an ASCII sign and whole hours is no zone.
    let (posix_sign, hours) = match (rest.strip_prefix('+'), rest.strip_prefix('-')) {
        (Some(hours), _) => ('-', hours),
        (_, Some(hours)) => ('+', hours),
        _ => return None,
    };
    let hours: u8 = hours.parse().ok().filter(|h| *h <= 14)?;
    let name = format!("Etc/GMT{posix_sign}{hours}");
    name.parse::<chrono_tz::Tz>().is_ok().then_some(name)
}

/// The IANA zone of a fixed UTC offset in seconds, when it is a whole number of hours.
pub fn zone_from_offset(offset_seconds: i32) -> Option<String> {
    if offset_seconds % 3600 != 0 {
        return None;
    }
    let hours = offset_seconds / 3600;
    zone_from_gmt(&format!("GMT{}{}", if hours < 0 { '-' } else { '+' }, hours.abs()))
}

/// An IANA zone name as the portal sent it, checked; `GMT`/`UTC` and `GMT+N` spellings
/// are accepted too.
pub fn checked_zone(text: &str) -> Option<String> {
    let text = text.trim();
    if text.parse::<chrono_tz::Tz>().is_ok() {
        return Some(text.to_owned());
    }
    zone_from_gmt(text)
}

/// A local `YYYY-MM-DD hh:mm:ss` time (or a bare date, read as midnight) in `zone`, to UTC.
/// In a DST fold the earlier instant is taken; a time in a DST gap is `None`.
pub fn local_time(text: &str, zone: &str) -> Option<Timestamp> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .ok()?;
    tz.from_local_datetime(&naive).earliest().map(|t| Timestamp::from_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt_spellings_and_offsets() {
        assert_eq!(zone_from_gmt("GMT+2").as_deref(), Some("Etc/GMT-2"));
        assert_eq!(zone_from_gmt("UTC-5").as_deref(), Some("Etc/GMT+5"));
        assert_eq!(zone_from_gmt("GMT").as_deref(), Some("Etc/GMT"));
        assert_eq!(zone_from_gmt("GMT+5:30"), None);
        assert_eq!(zone_from_gmt("Europe/Berlin"), None);
        assert_eq!(zone_from_gmt("GMT\u{2212}8"), None, "a Unicode minus is no zone, no panic");
        assert_eq!(zone_from_gmt("GMTé"), None);
        assert_eq!(zone_from_offset(3600).as_deref(), Some("Etc/GMT-1"));
        assert_eq!(zone_from_offset(-4 * 3600).as_deref(), Some("Etc/GMT+4"));
        assert_eq!(zone_from_offset(0).as_deref(), Some("Etc/GMT"));
        assert_eq!(zone_from_offset(19_800), None, "India's +05:30 has no Etc zone");
        assert_eq!(checked_zone("Europe/Amsterdam").as_deref(), Some("Europe/Amsterdam"));
        assert_eq!(checked_zone("GMT").as_deref(), Some("GMT"));
        assert_eq!(checked_zone("Mars/Olympus"), None);
    }

    #[test]
    fn local_times_go_to_utc_across_dst() {
        let summer = local_time("2024-06-10 13:05:00", "Europe/Amsterdam").unwrap();
        assert_eq!(summer.to_canonical(), "2024-06-10T11:05:00.000Z");
        let winter = local_time("2024-01-10 13:05:00", "Europe/Amsterdam").unwrap();
        assert_eq!(winter.to_canonical(), "2024-01-10T12:05:00.000Z");
        let date = local_time("2024-01-10", "GMT").unwrap();
        assert_eq!(date.to_canonical(), "2024-01-10T00:00:00.000Z");
        assert_eq!(local_time("2024-03-31 02:30:00", "Europe/Amsterdam"), None, "DST gap");
        assert_eq!(local_time("garbage", "GMT"), None);
    }
}
