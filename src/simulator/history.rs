//! The daily energy the simulated portals keep for past days, and the simulator's clock.
//!
//! A day's energy is a pure function of the seed, the account, the plant and the day
//! (`capacity × a per-day factor`), so two servers with one seed serve the same history and
//! a test reads what a portal will answer with [`super::Simulator::history_kwh`]. Tests
//! may revise a day or take its value away ([`super::Simulator::set_history`]), or make the
//! whole account answer "no data" for a day ([`super::Simulator::set_no_data`]); each
//! portal then says "no data" its own way (no row, `null`, an empty `dataItemMap`). Days
//! before the plant's creation have no data; days after its today none either; today
//! itself is the live reading (`today_kwh`), partial as on a real portal (Sungrow leaves
//! today's row out altogether).
//!
//! "Today" is the plant-local day of the simulator's clock ([`SimClock`]), which a test can
//! freeze ([`super::Simulator::set_now`]) to play days forward.

use super::data::{Plant, Rng, in_zone, round};
use chrono::{Datelike, NaiveDate};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Salt of the history stream.
const HISTORY_SALT: u64 = 0x0048_4953_5459;

/// The simulator's notion of now: the real clock unless a test froze it.
#[derive(Debug, Default)]
pub(crate) struct SimClock(Mutex<Option<i64>>);

impl SimClock {
    /// Unix seconds now: the frozen time, else the real clock.
    pub(crate) fn now(&self) -> i64 {
        let frozen = *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        frozen.unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// Freezes the clock at `unix` seconds, or lets it run with the real one (`None`).
    pub(crate) fn set(&self, unix: Option<i64>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = unix;
    }
}

/// One account's history: the generator's inputs and the tests' revisions.
#[derive(Debug, Clone)]
pub(crate) struct HistoryBook {
    seed: u64,
    account: usize,
    /// Plant index and day to the value served instead of the generated one (`None`: no
    /// data for that plant and day).
    revised: HashMap<(usize, NaiveDate), Option<f64>>,
    /// Days the whole account has no data for.
    no_data: HashSet<NaiveDate>,
}

impl HistoryBook {
    /// The history of account `account` of a configuration seeded `seed`.
    pub(crate) fn new(seed: u64, account: usize) -> Self {
        Self { seed, account, revised: HashMap::new(), no_data: HashSet::new() }
    }

    /// Serves `value` for plant `plant` on `day` from now on (`None`: no data).
    pub(crate) fn revise(&mut self, plant: usize, day: NaiveDate, value: Option<f64>) {
        self.revised.insert((plant, day), value);
    }

    /// The account has no data for `day`, whatever its plants made.
    pub(crate) fn set_no_data(&mut self, day: NaiveDate) {
        self.no_data.insert(day);
    }

    /// The energy (kWh) the portal keeps for `plant` on its local `day`, when `now` (unix
    /// seconds) is the simulator's time: `None` for no data (before the plant's creation
    /// day, after its today, a day taken away), today's live reading for its today.
    pub(crate) fn kwh(&self, plant: &Plant, day: NaiveDate, now: i64) -> Option<f64> {
        let zone = &plant.region.timezone;
        let today = in_zone(now, zone).date_naive();
        if day > today || self.no_data.contains(&day) {
            return None;
        }
        if let Some(value) = self.revised.get(&(plant.index, day)) {
            return *value;
        }
        if day < in_zone(plant.created, zone).date_naive() {
            return None;
        }
        if day == today {
            return Some(plant.today_kwh);
        }
        let day_salt = u64::try_from(day.num_days_from_ce()).unwrap_or_default();
        let mut rng =
            Rng::new(self.seed ^ day_salt.rotate_left(17), HISTORY_SALT, self.account, plant.index);
        // 0.3 to 5.3 full-load hours a day, in tenths of a kWh (whole Wh on every wire).
        Some(round(plant.capacity_kw * rng.range(0.3, 5.3), 1))
    }
}

/// The plant-local day of `plant` at `now` (unix seconds).
pub(crate) fn today_of(plant: &Plant, now: i64) -> NaiveDate {
    in_zone(now, &plant.region.timezone).date_naive()
}

/// Every day from `from` to `to` (inclusive), at most `limit` of them (a guard against a
/// request spanning centuries).
pub(crate) fn days(from: NaiveDate, to: NaiveDate, limit: usize) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).take(limit).collect()
}

/// Parses `yyyy-MM-dd`.
pub(crate) fn parse_dashed(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// Parses `yyyyMMdd`.
pub(crate) fn parse_compact(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y%m%d").ok()
}

/// The first and last day of the month holding `day`.
pub(crate) fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap_or(first);
    (first, next.pred_opt().unwrap_or(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VendorKind;
    use crate::simulator::data::AccountData;

    fn day(text: &str) -> NaiveDate {
        parse_dashed(text).unwrap()
    }

    #[test]
    fn values_are_a_function_of_seed_plant_and_day() {
        let start = 1_764_000_000; // 2025-11-24
        let data = AccountData::generate(7, 0, VendorKind::Solarman, 3, 0, start);
        let book = HistoryBook::new(7, 0);
        let plant = &data.plants[0];
        let yesterday = today_of(plant, start).pred_opt().unwrap();
        let value = book.kwh(plant, yesterday, start).unwrap();
        assert_eq!(Some(value), HistoryBook::new(7, 0).kwh(plant, yesterday, start));
        assert!(value >= plant.capacity_kw * 0.3 - 0.1 && value <= plant.capacity_kw * 5.3 + 0.1);
        let before = yesterday.pred_opt().unwrap();
        assert_ne!(book.kwh(plant, before, start), Some(value), "another day, another value");
        assert_ne!(HistoryBook::new(8, 0).kwh(plant, yesterday, start), Some(value));
        // Before the plant existed, and after today: no data. Today: the live reading.
        let created = in_zone(plant.created, &plant.region.timezone).date_naive();
        assert_eq!(book.kwh(plant, created.pred_opt().unwrap(), start), None);
        assert!(book.kwh(plant, created, start).is_some());
        let today = today_of(plant, start);
        assert_eq!(book.kwh(plant, today, start), Some(plant.today_kwh));
        assert_eq!(book.kwh(plant, today.succ_opt().unwrap(), start), None);
    }

    #[test]
    fn revisions_and_no_data_days_win() {
        let start = 1_764_000_000;
        let data = AccountData::generate(7, 0, VendorKind::Huawei, 2, 0, start);
        let mut book = HistoryBook::new(7, 0);
        let plant = &data.plants[1];
        let d = today_of(plant, start) - chrono::Days::new(3);
        book.revise(1, d, Some(12.5));
        assert_eq!(book.kwh(plant, d, start), Some(12.5));
        book.revise(1, d, None);
        assert_eq!(book.kwh(plant, d, start), None);
        let other = d - chrono::Days::new(1);
        assert!(book.kwh(plant, other, start).is_some());
        book.set_no_data(other);
        assert_eq!(book.kwh(&data.plants[0], other, start), None);
        assert_eq!(month_of(day("2024-02-10")), (day("2024-02-01"), day("2024-02-29")));
        assert_eq!(days(day("2024-02-27"), day("2024-03-01"), 10).len(), 4);
        assert_eq!(days(day("2024-02-27"), day("2024-03-01"), 2).len(), 2);
    }
}
