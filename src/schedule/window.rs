//! The restricted window: the hours of the day, in a named zone, in which scheduled syncs
//! never run (default 19:00 to 06:00 Asia/Kolkata).
//!
//! Pure functions of an instant. A window with `start > end` spans midnight; `start == end`
//! means no window at all. The test is made on the local wall-clock time of the instant, so
//! DST zones behave as a person reading a clock would expect: on a spring-forward night the
//! missing hour simply never occurs.

use crate::domain::TimeOfDay;
use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;

/// The restricted window in its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestrictedWindow {
    /// First restricted minute.
    pub start: TimeOfDay,
    /// First minute after the window.
    pub end: TimeOfDay,
    /// Zone the times are read in.
    pub zone: Tz,
}

impl RestrictedWindow {
    /// Whether there is a window at all (`start == end` means none).
    pub fn is_enabled(&self) -> bool {
        self.start != self.end
    }

    /// Whether `instant` falls inside the window.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        if !self.is_enabled() {
            return false;
        }
        let local = instant.with_timezone(&self.zone);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let (start, end) = (self.start.minutes_since_midnight(), self.end.minutes_since_midnight());
        if start < end { minute >= start && minute < end } else { minute >= start || minute < end }
    }

    /// The first whole minute at or after `instant` outside the window (`instant` itself
    /// when it is outside).
    pub fn next_open(&self, instant: DateTime<Utc>) -> DateTime<Utc> {
        if !self.contains(instant) {
            return instant;
        }
        let mut probe = instant
            - Duration::seconds(i64::from(instant.second()))
            - Duration::nanoseconds(i64::from(instant.nanosecond()));
        // A window lasts less than a day; two days of minutes covers any DST oddity.
        for _ in 0..(2 * 24 * 60) {
            probe += Duration::minutes(1);
            if !self.contains(probe) {
                return probe;
            }
        }
        probe
    }

    /// A human description, e.g. `19:00-06:00 Asia/Kolkata`.
    pub fn describe(&self) -> String {
        if self.is_enabled() {
            format!("{}-{} {}", self.start, self.end, self.zone.name())
        } else {
            "none".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(start: &str, end: &str, zone: Tz) -> RestrictedWindow {
        RestrictedWindow { start: start.parse().unwrap(), end: end.parse().unwrap(), zone }
    }

    /// The reference: minute-of-day arithmetic as the original system did it, but on a
    /// correct 0-23 hour.
    fn expected(start: u16, end: u16, minute: u16) -> bool {
        match start.cmp(&end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => minute >= start && minute < end,
            std::cmp::Ordering::Greater => minute >= start || minute < end,
        }
    }

    /// Every minute of a day, for a table of windows and zones (DST zones on DST-free days
    /// and on their transition days).
    #[test]
    fn every_minute_of_the_day_for_a_table_of_windows_and_zones() {
        let windows = [
            ("19:00", "06:00"),
            ("06:00", "19:00"),
            ("00:00", "00:00"),
            ("23:59", "00:01"),
            ("00:00", "12:00"),
            ("12:30", "12:31"),
        ];
        let zones: [Tz; 4] = [
            chrono_tz::Asia::Kolkata,
            chrono_tz::UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
        ];
        for (start, end) in windows {
            for zone in zones {
                let w = window(start, end, zone);
                for day in
                    [(2026, 1, 15), (2026, 3, 29), (2026, 3, 8), (2026, 10, 25), (2026, 11, 1)]
                {
                    let midnight =
                        zone.with_ymd_and_hms(day.0, day.1, day.2, 0, 0, 0).earliest().unwrap();
                    let mut instant = midnight.with_timezone(&Utc);
                    let next_midnight = (midnight + Duration::days(1)).with_timezone(&Utc);
                    while instant < next_midnight {
                        let local = instant.with_timezone(&zone);
                        let minute = (local.hour() * 60 + local.minute()) as u16;
                        let want = expected(
                            w.start.minutes_since_midnight(),
                            w.end.minutes_since_midnight(),
                            minute,
                        );
                        assert_eq!(w.contains(instant), want, "{start}-{end} {zone} at {local}");
                        instant += Duration::minutes(1);
                    }
                }
            }
        }
    }

    #[test]
    fn midnight_is_hour_zero_not_24() {
        // The original rendered IST midnight as "24:05" and broke non-wrapping windows.
        let w = window("00:00", "01:00", chrono_tz::Asia::Kolkata);
        let ist_0005 = Utc.with_ymd_and_hms(2026, 11, 28, 18, 35, 0).unwrap();
        assert!(w.contains(ist_0005));
    }

    #[test]
    fn next_open_is_the_window_end() {
        let w = window("19:00", "06:00", chrono_tz::Asia::Kolkata);
        let ist_2300 = Utc.with_ymd_and_hms(2026, 11, 29, 17, 30, 0).unwrap();
        assert_eq!(w.next_open(ist_2300), Utc.with_ymd_and_hms(2026, 11, 30, 0, 30, 0).unwrap());
        let ist_1200 = Utc.with_ymd_and_hms(2026, 11, 29, 6, 30, 0).unwrap();
        assert_eq!(w.next_open(ist_1200), ist_1200);
    }

    #[test]
    fn a_window_in_a_spring_forward_gap_still_opens() {
        // 02:00-03:00 does not exist in Berlin on 2026-03-29; the window is simply empty then.
        let w = window("02:00", "02:30", chrono_tz::Europe::Berlin);
        let before = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap(); // 03:00 CEST
        assert!(!w.contains(before) && !w.contains(after));
    }
}
