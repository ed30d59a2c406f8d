//! Time zones as the portals spell them, and local times read in a plant's zone.
//!
//! Portals give a plant's zone as an IANA name (SolarEdge `Europe/Amsterdam`, Solarman),
//! as `GMT+2` or `GMT+5:30` (Sungrow, Growatt), or only as the offset of a timestamp
//! (FusionSolar). plantsync keeps what [`PlantZone`] stores: an IANA name (whole-hour offsets
//! become the `Etc/GMT∓N` zones), or for an offset without one (`+05:30`, `+05:45`) the
//! fixed offset in its canonical spelling. The parsing itself lives in [`PlantZone`].

use crate::domain::{PlantZone, Timestamp};
use chrono::{NaiveDate, NaiveDateTime};

/// `"GMT+2"` (or `"UTC+2"`) to the IANA `Etc/GMT-2` (POSIX signs are inverted);
/// `"GMT+5:30"`, `"GMT+05:30"`, `"UTC+5:45"` to the fixed offsets `+05:30`, `+05:45`.
pub fn zone_from_gmt(text: &str) -> Option<String> {
    PlantZone::from_gmt(text).map(|zone| zone.name())
}

/// The zone of a fixed UTC offset in seconds: `Etc/GMT∓N` for whole hours, else the
/// offset itself (`+05:30`).
pub fn zone_from_offset(offset_seconds: i32) -> Option<String> {
    PlantZone::from_offset_seconds(offset_seconds).map(|zone| zone.name())
}

/// An IANA zone name as the portal sent it, checked; `GMT`/`UTC`, `GMT+N` and `GMT+H:MM`
/// spellings (and an already canonical `+05:30`) are accepted too.
pub fn checked_zone(text: &str) -> Option<String> {
    let text = text.trim();
    if text.parse::<chrono_tz::Tz>().is_ok() {
        return Some(text.to_owned());
    }
    zone_from_gmt(text).or_else(|| text.parse::<PlantZone>().ok().map(|zone| zone.name()))
}

/// A local `YYYY-MM-DD hh:mm:ss` time in `zone` (an IANA name or a stored `±HH:MM`
/// offset) that has passed by `now` (a portal's last update, `now` the answer's arrival),
/// to UTC. In a DST fold the later instant unless it is after `now`
/// ([`PlantZone::to_utc_by`]); a time in a DST gap is `None`. A bare date is `None` too: it
/// names a day, not an instant, and reading it as midnight would put the time up to a day
/// off (see [`local_reading`]).
pub fn past_local_time(text: &str, zone: &str, now: &Timestamp) -> Option<Timestamp> {
    match past_local_reading(text, zone, now)? {
        LocalReading::At(time) => Some(time),
        LocalReading::Day(_) => None,
    }
}

/// What a plant-local time text says: an instant, or only a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalReading {
    /// `YYYY-MM-DD hh:mm:ss` (or with a `T`), converted to UTC.
    At(Timestamp),
    /// A bare `YYYY-MM-DD`: some time on that plant-local day (SolarEdge's real site list
    /// sends its `lastUpdateTime` so).
    Day(NaiveDate),
}

/// Reads a plant-local time text in `zone`: an instant, or a bare date as a day; `None`
/// when unreadable, in a DST gap, or the zone is unknown.
pub fn local_reading(text: &str, zone: &str) -> Option<LocalReading> {
    read_local(text, zone, |zone, naive| zone.to_utc(naive))
}

/// [`local_reading`] of a time that has passed by `now` (a last update): in a DST fold the
/// later instant unless it is after `now` ([`PlantZone::to_utc_by`]).
pub fn past_local_reading(text: &str, zone: &str, now: &Timestamp) -> Option<LocalReading> {
    read_local(text, zone, |zone, naive| zone.to_utc_by(naive, now))
}

fn read_local(
    text: &str,
    zone: &str,
    to_utc: impl FnOnce(PlantZone, NaiveDateTime) -> Option<Timestamp>,
) -> Option<LocalReading> {
    let zone: PlantZone = zone.parse().ok()?;
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(LocalReading::Day(day));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    to_utc(zone, naive).map(LocalReading::At)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt_spellings_and_offsets() {
        assert_eq!(zone_from_gmt("GMT+2").as_deref(), Some("Etc/GMT-2"));
        assert_eq!(zone_from_gmt("UTC-5").as_deref(), Some("Etc/GMT+5"));
        assert_eq!(zone_from_gmt("GMT").as_deref(), Some("Etc/GMT"));
        assert_eq!(zone_from_gmt("GMT+5:30").as_deref(), Some("+05:30"));
        assert_eq!(zone_from_gmt("GMT+05:30").as_deref(), Some("+05:30"));
        assert_eq!(zone_from_gmt("UTC+5:45").as_deref(), Some("+05:45"));
        assert_eq!(zone_from_gmt("Europe/Berlin"), None);
        assert_eq!(zone_from_gmt("GMT\u{2212}8"), None, "a Unicode minus is no zone, no panic");
        assert_eq!(zone_from_gmt("GMTé"), None);
        assert_eq!(zone_from_offset(3600).as_deref(), Some("Etc/GMT-1"));
        assert_eq!(zone_from_offset(-4 * 3600).as_deref(), Some("Etc/GMT+4"));
        assert_eq!(zone_from_offset(0).as_deref(), Some("Etc/GMT"));
        assert_eq!(zone_from_offset(19_800).as_deref(), Some("+05:30"), "no Etc zone: itself");
        assert_eq!(checked_zone("GMT+5:30").as_deref(), Some("+05:30"));
        assert_eq!(checked_zone("+05:30").as_deref(), Some("+05:30"));
        assert_eq!(checked_zone("Europe/Amsterdam").as_deref(), Some("Europe/Amsterdam"));
        assert_eq!(checked_zone("GMT").as_deref(), Some("GMT"));
        assert_eq!(checked_zone("Mars/Olympus"), None);
    }

    fn local_time(text: &str, zone: &str) -> Option<Timestamp> {
        past_local_time(text, zone, &Timestamp::now())
    }

    #[test]
    fn local_times_go_to_utc_across_dst() {
        let summer = local_time("2024-06-10 13:05:00", "Europe/Amsterdam").unwrap();
        assert_eq!(summer.to_canonical(), "2024-06-10T11:05:00.000Z");
        let winter = local_time("2024-01-10 13:05:00", "Europe/Amsterdam").unwrap();
        assert_eq!(winter.to_canonical(), "2024-01-10T12:05:00.000Z");
        // A bare date is a day, not midnight.
        assert_eq!(local_time("2024-01-10", "GMT"), None);
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 10).unwrap();
        assert_eq!(local_reading("2024-01-10", "Europe/Amsterdam"), Some(LocalReading::Day(day)));
        assert_eq!(local_reading("2024-01-10", "Nowhere/City"), None, "no zone, nothing");
        assert_eq!(local_time("2024-03-31 02:30:00", "Europe/Amsterdam"), None, "DST gap");
        assert_eq!(local_time("garbage", "GMT"), None);
        let india = local_time("2024-06-10 13:05:00", "+05:30").unwrap();
        assert_eq!(india.to_canonical(), "2024-06-10T07:35:00.000Z", "a stored fixed offset");
    }
}
