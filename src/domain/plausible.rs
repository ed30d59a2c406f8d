//! What a real plant can report: the plausibility rules every portal's values pass before
//! they are stored.
//!
//! A portal's reply is untrusted (a proxy, a bug, a unit mix-up): a capacity of 1e308, a
//! latitude of 123.5, a negative daily energy, a time in the year 58887. Stored, such a
//! value overwrites a good one and every report built on it is wrong. So each numeric
//! field and each time has one rule here, applied to every portal's records in the one
//! place where vendors meet the store (the sync): a value outside its rule is treated as
//! not sent (the stored value stays), and the run names the field once.
//!
//! The bounds are generous on purpose: they reject what no plant can be, not what is
//! merely unusual. The largest solar parks are a few GW, so 10 GW bounds capacity; a
//! plant cannot produce more in a day than its bound at full power for 24 hours.

use super::{Timestamp, VendorAlert, VendorPlant};
use chrono::TimeDelta;

/// The largest capacity (and power) any plant can have, kW: 10 GW.
pub const MAX_CAPACITY_KW: f64 = 10_000_000.0;
/// The most a plant can produce in a day, kWh: its bound at full power for 24 hours.
pub const MAX_DAILY_ENERGY_KWH: f64 = MAX_CAPACITY_KW * 24.0;
/// The most a plant can have produced in its life, kWh: its bound for 50 years.
pub const MAX_TOTAL_ENERGY_KWH: f64 = MAX_CAPACITY_KW * 24.0 * 366.0 * 50.0;
/// The standby draw a portal may report as negative power, as a share of the capacity
/// (inverters and trackers draw a little at night), and at least 1 kW.
pub const STANDBY_SHARE: f64 = 0.02;
/// The earliest time a portal's reading or alert can carry: no portal of these predates
/// it, and a zero or a seconds-for-milliseconds mix lands before it.
pub const EARLIEST: &str = "2000-01-01T00:00:00Z";
/// How far past now a time may lie (a portal's clock ahead, a zone read wrong by a day).
pub const FUTURE_SLACK: TimeDelta = TimeDelta::days(2);

/// The window of plausible times at `now`.
#[derive(Debug, Clone, Copy)]
pub struct TimeWindow {
    earliest: Timestamp,
    latest: Timestamp,
}

impl TimeWindow {
    /// `[EARLIEST, now + FUTURE_SLACK]`.
    pub fn at(now: Timestamp) -> Self {
        let earliest = EARLIEST.parse().unwrap_or(now);
        let latest = Timestamp::from_datetime(&(now.as_datetime() + FUTURE_SLACK));
        Self { earliest, latest }
    }

    /// Whether `time` lies in the window.
    pub fn holds(&self, time: &Timestamp) -> bool {
        (self.earliest..=self.latest).contains(time)
    }
}

/// Keeps `value` when `rule` holds for it; `None` (and the field noted) when not, or when
/// it is not finite.
fn keep(
    value: &mut Option<f64>,
    rule: impl Fn(f64) -> bool,
    name: &'static str,
) -> Option<&'static str> {
    let bad = value.is_some_and(|v| !v.is_finite() || !rule(v));
    if bad {
        *value = None;
    }
    bad.then_some(name)
}

impl VendorPlant {
    /// Unsets every value no real plant can report (see the module's rules), at `now`; the
    /// names of the fields unset. The stored values of those fields stay.
    pub fn drop_implausible(&mut self, now: Timestamp) -> Vec<&'static str> {
        let mut dropped = Vec::new();
        dropped.extend(keep(&mut self.latitude, |v| (-90.0..=90.0).contains(&v), "latitude"));
        dropped.extend(keep(&mut self.longitude, |v| (-180.0..=180.0).contains(&v), "longitude"));
        let capacity_ok = |v: f64| (0.0..=MAX_CAPACITY_KW).contains(&v);
        dropped.extend(keep(&mut self.capacity_kw, capacity_ok, "capacity"));
        let standby = self.capacity_kw.map_or(1.0, |c| (c * STANDBY_SHARE).max(1.0));
        let power_ok = |v: f64| (-standby..=MAX_CAPACITY_KW).contains(&v);
        dropped.extend(keep(&mut self.current_power_kw, power_ok, "current power"));
        let daily_ok = |v: f64| (0.0..=MAX_DAILY_ENERGY_KWH).contains(&v);
        dropped.extend(keep(&mut self.daily_energy_kwh, daily_ok, "daily energy"));
        let total_ok = |v: f64| (0.0..=MAX_TOTAL_ENERGY_KWH).contains(&v);
        dropped.extend(keep(&mut self.total_energy_kwh, total_ok, "total energy"));
        let readings_dropped = dropped
            .iter()
            .any(|field| matches!(*field, "current power" | "daily energy" | "total energy"));
        if self.vendor_updated_at.is_some_and(|t| !TimeWindow::at(now).holds(&t)) {
            // Readings of an unknown time are no readings of today: they go too.
            self.vendor_updated_at = None;
            self.current_power_kw = None;
            self.daily_energy_kwh = None;
            self.total_energy_kwh = None;
            dropped.push("update time");
        } else if readings_dropped {
            // A fresh update time beside a stored (older) reading would date that reading
            // today, and tell the next sync the readings are current: the time goes too.
            self.vendor_updated_at = None;
        }
        dropped
    }
}

/// What the plausibility check did to an alert occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertTimes {
    /// Both times are plausible (or absent).
    Plausible,
    /// The end was impossible (outside the window, or before the start): it is not stored,
    /// so it overwrites no stored end; the occurrence is kept.
    EndDropped(String),
    /// The start is impossible: the occurrence cannot be believed (its start may be part
    /// of its key) and is not stored.
    Unbelievable(String),
}

impl VendorAlert {
    /// Checks the occurrence's times at `now` ([`AlertTimes`]): an impossible end is
    /// unset here, an impossible start is reported for the caller to skip the row.
    pub fn check_times(&mut self, now: Timestamp) -> AlertTimes {
        let window = TimeWindow::at(now);
        if let Some(start) = self.started_at.filter(|t| !window.holds(t)) {
            return AlertTimes::Unbelievable(format!(
                "start {} is not a plausible time",
                start.to_canonical()
            ));
        }
        let Some(end) = self.ended_at else { return AlertTimes::Plausible };
        let why = if !window.holds(&end) {
            format!("end {} is not a plausible time", end.to_canonical())
        } else if self.started_at.is_some_and(|start| end < start) {
            format!("end {} is before its start", end.to_canonical())
        } else {
            return AlertTimes::Plausible;
        };
        self.ended_at = None;
        AlertTimes::EndDropped(why)
    }
}

/// The run's one line about values not stored for being implausible (`latitude (2)`).
pub fn dropped_note(dropped: &[&'static str]) -> Option<String> {
    let counted = super::text::count_names(dropped)?;
    Some(format!("implausible values were not stored: {counted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn good() -> VendorPlant {
        VendorPlant {
            vendor_plant_id: "1".into(),
            capacity_kw: Some(100.0),
            latitude: Some(-33.9),
            longitude: Some(151.2),
            current_power_kw: Some(-0.5),
            daily_energy_kwh: Some(0.0),
            total_energy_kwh: Some(1e6),
            vendor_updated_at: Some("2026-12-01T11:55:00Z".parse().unwrap()),
            ..VendorPlant::default()
        }
    }

    #[test]
    fn a_real_plant_keeps_every_value() {
        let mut plant = good();
        assert!(plant.drop_implausible(now()).is_empty());
        assert_eq!(plant, good());
        // Standby draw: up to 2% of the capacity, at least 1 kW.
        let draw = |capacity: Option<f64>| {
            let mut plant =
                VendorPlant { capacity_kw: capacity, current_power_kw: Some(-1.5), ..good() };
            plant.drop_implausible(now())
        };
        assert!(draw(Some(100.0)).is_empty());
        assert_eq!(draw(Some(10.0)), ["current power"]);
        assert_eq!(draw(None), ["current power"]);
    }

    #[test]
    fn what_no_plant_can_report_is_not_stored() {
        type Spoil = fn(&mut VendorPlant);
        let cases: Vec<(Spoil, &str)> = vec![
            (|p| p.capacity_kw = Some(1e308), "capacity"),
            (|p| p.capacity_kw = Some(-5.0), "capacity"),
            (|p| p.latitude = Some(123.5), "latitude"),
            (|p| p.latitude = Some(-91.0), "latitude"),
            (|p| p.longitude = Some(1.8e19), "longitude"),
            (|p| p.current_power_kw = Some(-50.0), "current power"),
            (|p| p.current_power_kw = Some(f64::NAN), "current power"),
            (|p| p.daily_energy_kwh = Some(-0.1), "daily energy"),
            (|p| p.total_energy_kwh = Some(1e308), "total energy"),
            // A Solarman time in milliseconds read as seconds: the year 58887.
            (
                |p| p.vendor_updated_at = Timestamp::from_unix_millis(1_796_000_000_000_000),
                "update time",
            ),
            (|p| p.vendor_updated_at = "1900-01-01T00:00:00Z".parse().ok(), "update time"),
            (|p| p.vendor_updated_at = "2026-12-04T00:00:00Z".parse().ok(), "update time"),
        ];
        for (spoil, field) in cases {
            let mut plant = good();
            spoil(&mut plant);
            assert_ne!(plant, good(), "{field}: the case spoils something");
            assert_eq!(plant.drop_implausible(now()), [field]);
            let mut expected = good();
            match field {
                "capacity" => expected.capacity_kw = None,
                "latitude" => expected.latitude = None,
                "longitude" => expected.longitude = None,
                "current power" => expected.current_power_kw = None,
                "daily energy" => expected.daily_energy_kwh = None,
                "total energy" => expected.total_energy_kwh = None,
                _ => {
                    expected.current_power_kw = None;
                    expected.daily_energy_kwh = None;
                    expected.total_energy_kwh = None;
                }
            }
            // Readings and their time go together (see `readings_and_their_time_go_together`).
            if matches!(field, "current power" | "daily energy" | "total energy" | "update time") {
                expected.vendor_updated_at = None;
            }
            assert_eq!(plant, expected, "{field}");
        }
        assert_eq!(
            dropped_note(&["latitude", "capacity", "latitude"]).as_deref(),
            Some("implausible values were not stored: latitude (2), capacity (1)")
        );
    }

    #[test]
    fn alerts_with_impossible_times_are_not_believed() {
        let alert = |start: &str, end: Option<&str>| VendorAlert {
            vendor_alert_key: "k".into(),
            vendor_plant_id: None,
            device_sn: None,
            severity: crate::domain::Severity::Low,
            status: crate::domain::AlertStatus::Resolved,
            title: "t".into(),
            code: None,
            description: None,
            started_at: start.parse().ok(),
            ended_at: end.and_then(|e| e.parse().ok()),
            raw_json: None,
        };
        let mut fine = alert("2026-11-30T10:00:00Z", Some("2026-11-30T11:00:00Z"));
        assert_eq!(fine.check_times(now()), AlertTimes::Plausible);
        assert!(fine.ended_at.is_some());
        // An end of 9999 overwrites nothing: it is unset, the occurrence kept.
        let mut far = alert("2026-11-30T10:00:00Z", Some("9999-12-31T00:00:00Z"));
        let AlertTimes::EndDropped(why) = far.check_times(now()) else { panic!() };
        assert!(why.starts_with("end 9999-12-31"), "{why}");
        assert_eq!(far.ended_at, None);
        let mut backwards = alert("2026-11-30T10:00:00Z", Some("2026-11-29T10:00:00Z"));
        assert!(
            matches!(backwards.check_times(now()), AlertTimes::EndDropped(w) if w.contains("before its start"))
        );
        // A start in 1970 (milliseconds read as seconds) is not believed at all.
        let mut epoch = alert("1970-01-20T10:00:00Z", None);
        assert!(
            matches!(epoch.check_times(now()), AlertTimes::Unbelievable(w) if w.starts_with("start 1970-01-20"))
        );
    }

    #[test]
    fn readings_and_their_time_go_together() {
        // A reading dropped: the update time goes too, so an older stored reading is not
        // dated today (and the next sync reads the readings again).
        let mut negative = VendorPlant { daily_energy_kwh: Some(-3.0), ..good() };
        assert_eq!(negative.drop_implausible(now()), ["daily energy"]);
        assert_eq!((negative.daily_energy_kwh, negative.vendor_updated_at), (None, None));
        assert_eq!(negative.total_energy_kwh, good().total_energy_kwh, "the others stay");
        // The time dropped: the readings of an unknown time go too.
        let mut undated =
            VendorPlant { vendor_updated_at: "1999-12-31T00:00:00Z".parse().ok(), ..good() };
        assert_eq!(undated.drop_implausible(now()), ["update time"]);
        let readings =
            (undated.current_power_kw, undated.daily_energy_kwh, undated.total_energy_kwh);
        assert_eq!(readings, (None, None, None));
        assert_eq!(undated.capacity_kw, good().capacity_kw, "what is not a reading stays");
    }
}
