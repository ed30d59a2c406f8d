//! Due times: when an organization's next scheduled sync should happen.
//!
//! The original ran a sync only when the request landed on the exact interval minute, so a
//! late tick, an odd interval or a manual press synced nothing. Here slots are aligned to
//! interval boundaries of the local day (15 min: :00, :15, :30, :45; 60: on the hour; 7:
//! :00, :07 ... restarting at midnight) and a vendor is due as soon as now is at or past the
//! first slot after its last successful sync. Any number of missed slots (agent stopped,
//! machine asleep, window closed overnight, link down) therefore gives exactly one catch-up
//! run. A daily interval (1440) is anchored at the restricted window's end (or midnight
//! when there is no window).

use super::window::RestrictedWindow;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

/// Minutes in a day.
const DAY: u32 = 1440;

/// The first slot strictly after `last` for an organization syncing every
/// `interval_minutes` (1..=1440), in the window's zone.
pub fn next_slot_after(
    last: DateTime<Utc>,
    interval_minutes: u32,
    window: &RestrictedWindow,
) -> DateTime<Utc> {
    let zone = window.zone;
    let local = last.with_timezone(&zone);
    let date = local.date_naive();
    let minute = local.hour() * 60 + local.minute();
    let interval = interval_minutes.clamp(1, DAY);
    let (slot_date, slot_minute) = if interval >= DAY {
        let anchor =
            if window.is_enabled() { u32::from(window.end.minutes_since_midnight()) } else { 0 };
        if minute < anchor { (date, anchor) } else { (next_day(date), anchor) }
    } else {
        let next = (minute / interval + 1) * interval;
        if next < DAY { (date, next) } else { (next_day(date), 0) }
    };
    local_to_utc(zone, slot_date, slot_minute, last)
}

/// Whether a vendor last synced successfully at `last` (never: `None`) is due at `now`.
pub fn is_due(
    last: Option<DateTime<Utc>>,
    interval_minutes: u32,
    window: &RestrictedWindow,
    now: DateTime<Utc>,
) -> bool {
    last.is_none_or(|last| now >= next_slot_after(last, interval_minutes, window))
}

fn next_day(date: NaiveDate) -> NaiveDate {
    date.succ_opt().unwrap_or(date)
}

/// A local date and minute as UTC, the first such instant after `after`; a minute that does
/// not exist (a spring-forward gap) becomes the first one after the gap. A minute that
/// occurs twice (the hour repeated when clocks go back) is its earlier instant, unless that
/// is not after `after`: within the repeated hour, the next slot is in its second pass
/// (found by the schedule's property test: 02:00 CET on 29 October 2028 in Berlin gave a
/// next slot of 02:01 CEST, an hour in the past).
fn local_to_utc(
    zone: chrono_tz::Tz,
    date: NaiveDate,
    minute: u32,
    after: DateTime<Utc>,
) -> DateTime<Utc> {
    let midnight = NaiveDateTime::new(date, chrono::NaiveTime::MIN);
    let mut naive = midnight + Duration::minutes(i64::from(minute));
    for _ in 0..180 {
        let found = zone.from_local_datetime(&naive);
        let instant = match (found.earliest(), found.latest()) {
            (Some(early), _) if early.with_timezone(&Utc) > after => Some(early),
            (_, late) => late,
        };
        if let Some(instant) = instant {
            return instant.with_timezone(&Utc);
        }
        naive += Duration::minutes(1);
    }
    // Unreachable for real zones (gaps are at most an hour); fall back to reading as UTC.
    Utc.from_utc_datetime(&naive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ist(start: &str, end: &str) -> RestrictedWindow {
        RestrictedWindow {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            zone: chrono_tz::Asia::Kolkata,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn slots_align_to_interval_boundaries() {
        let w = ist("19:00", "06:00");
        let cases = [
            ("2026-11-29T10:15:02+05:30", 15, "2026-11-29T10:30:00+05:30"),
            ("2026-11-29T10:16:00+05:30", 15, "2026-11-29T10:30:00+05:30"),
            ("2026-11-29T10:59:59+05:30", 60, "2026-11-29T11:00:00+05:30"),
            ("2026-11-29T10:00:00+05:30", 7, "2026-11-29T10:02:00+05:30"),
            ("2026-11-29T23:58:00+05:30", 7, "2026-11-30T00:00:00+05:30"),
            ("2026-11-29T06:03:00+05:30", 1440, "2026-11-30T06:00:00+05:30"),
            ("2026-11-29T05:00:00+05:30", 1440, "2026-11-29T06:00:00+05:30"),
            ("2026-11-29T23:50:00+05:30", 20, "2026-11-30T00:00:00+05:30"),
        ];
        for (last, interval, want) in cases {
            assert_eq!(
                next_slot_after(at(last), interval, &w),
                at(want),
                "{last} every {interval}"
            );
        }
    }

    #[test]
    fn missed_slots_coalesce_into_one_due() {
        let w = ist("19:00", "06:00");
        let last = at("2026-11-28T18:45:00+05:30");
        // Twelve hours later many slots were missed; it is simply due, once.
        assert!(is_due(Some(last), 15, &w, at("2026-11-29T06:00:00+05:30")));
        assert!(!is_due(
            Some(at("2026-11-29T06:00:01+05:30")),
            15,
            &w,
            at("2026-11-29T06:14:59+05:30")
        ));
        assert!(is_due(None, 15, &w, at("2026-11-29T06:00:00+05:30")), "never synced is due");
    }

    #[test]
    fn daily_without_window_is_at_midnight_and_dst_gaps_move_forward() {
        let none = RestrictedWindow {
            start: "00:00".parse().unwrap(),
            end: "00:00".parse().unwrap(),
            zone: chrono_tz::Europe::Berlin,
        };
        assert_eq!(
            next_slot_after(at("2026-03-28T12:00:00+01:00"), 1440, &none),
            at("2026-03-29T00:00:00+01:00")
        );
        // 02:00 does not exist in Berlin on 2026-03-29: the slot moves to 03:00 CEST.
        assert_eq!(
            next_slot_after(at("2026-03-29T01:30:00+01:00"), 30, &none),
            at("2026-03-29T03:00:00+02:00")
        );
        // 02:00-03:00 happens twice in Berlin on 2028-10-29: in the second pass (CET) the
        // next slot is a minute later in that pass, not the same wall time an hour ago.
        assert_eq!(
            next_slot_after(at("2028-10-29T02:00:00+01:00"), 1, &none),
            at("2028-10-29T02:01:00+01:00")
        );
        assert_eq!(
            next_slot_after(at("2028-10-29T02:00:00+02:00"), 15, &none),
            at("2028-10-29T02:15:00+02:00")
        );
    }

    proptest! {
        /// The next slot is after `last`, at most one interval (plus a DST hour) later, and
        /// on an interval boundary of the local day.
        #[test]
        fn next_slot_is_the_following_boundary(
            secs in 1_700_000_000i64..1_900_000_000i64,
            interval in prop::sample::select(vec![1u32, 2, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 360, 720, 1440]),
            zone_index in 0usize..4,
        ) {
            let zone = [chrono_tz::Asia::Kolkata, chrono_tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::America::New_York][zone_index];
            let w = RestrictedWindow { start: "19:00".parse().unwrap(), end: "06:00".parse().unwrap(), zone };
            let last = Utc.timestamp_opt(secs, 0).unwrap();
            let next = next_slot_after(last, interval, &w);
            prop_assert!(next > last);
            prop_assert!(next - last <= Duration::minutes(i64::from(interval)) + Duration::hours(1) + Duration::minutes(1));
            let local = next.with_timezone(&zone);
            let minute = local.hour() * 60 + local.minute();
            if interval < DAY {
                // On a boundary, unless pushed forward out of a DST gap.
                let gap_shifted = zone.from_local_datetime(&(local.naive_local() - Duration::minutes(60))).single().is_none();
                prop_assert!(minute.is_multiple_of(interval) || gap_shifted, "{local} every {interval}");
            } else {
                prop_assert_eq!(minute, 360);
            }
            prop_assert_eq!(local.second(), 0);
            // Due exactly from the slot on.
            prop_assert!(!is_due(Some(last), interval, &w, next - Duration::seconds(1)));
            prop_assert!(is_due(Some(last), interval, &w, next));
        }

        /// The window test agrees with minute arithmetic on the local clock.
        #[test]
        fn window_matches_local_minute_arithmetic(
            secs in 1_700_000_000i64..1_900_000_000i64,
            start in 0u16..1440,
            end in 0u16..1440,
        ) {
            let w = RestrictedWindow {
                start: crate::domain::TimeOfDay::new(start / 60, start % 60).unwrap(),
                end: crate::domain::TimeOfDay::new(end / 60, end % 60).unwrap(),
                zone: chrono_tz::Europe::Berlin,
            };
            let instant = Utc.timestamp_opt(secs, 0).unwrap();
            let local = instant.with_timezone(&w.zone);
            let m = (local.hour() * 60 + local.minute()) as u16;
            let want = if start == end { false } else if start < end { m >= start && m < end } else { m >= start || m < end };
            prop_assert_eq!(w.contains(instant), want);
            let open = w.next_open(instant);
            prop_assert!(!w.contains(open));
            prop_assert!(open >= instant && open - instant <= Duration::hours(25));
        }
    }
}
