//! What the portals' daily-history endpoints are asked and answer: the energy of past
//! plant-local days, for the days the syncs missed (`sync::history` plans the gaps).
//!
//! One request names plants and a span of days; each adapter cuts it into its portal's
//! calls (Solarman: 30 days per plant and call; Sungrow: 100 days and 50 plants; SolarEdge:
//! a year of 100 sites; FusionSolar: a month of 100 stations; Growatt: 7 days per plant),
//! **oldest days first**, so a budget spent part way leaves the newest gaps for the next run
//! rather than a hole in the middle. Units are converted here (kWh); a portal's "no data"
//! for a day is `None`, never 0. Day boundaries are the plant's own (`HistoryPlant::zone`):
//! a portal that stamps days as instants (FusionSolar's local midnight in epoch ms) is read
//! in that zone.

use crate::domain::{PlantZone, Timestamp};
use chrono::{Datelike, NaiveDate};

/// One plant whose past days are asked.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPlant {
    /// The vendor's id for it.
    pub vendor_plant_id: String,
    /// Its zone: the stored one, else the configured `timezone`.
    pub zone: PlantZone,
}

/// Past days of some plants, asked of a portal's daily-history endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    /// The plants, in the order gaps were found (oldest gap first).
    pub plants: Vec<HistoryPlant>,
    /// First day asked (inclusive).
    pub from: NaiveDate,
    /// Last day asked (inclusive); never today (the engine asks only finished days).
    pub to: NaiveDate,
    /// When the engine asked, by its clock: a day is finished when it lies before its
    /// plant's local day at this time. The adapters judge the rows by it, not by their own
    /// clock, so the engine and the adapter agree on which days are finished.
    pub asked_at: Timestamp,
}

/// One day's energy as a portal's history gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorDay {
    /// The vendor's plant id.
    pub vendor_plant_id: String,
    /// The plant-local day.
    pub day: NaiveDate,
    /// The day's energy in kWh; `None` when the portal has no value for the day (SolarEdge's
    /// `null`, FusionSolar's empty `dataItemMap`).
    pub energy_kwh: Option<f64>,
}

/// What a history request returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryReply {
    /// The days read, in any order; days outside the request are dropped by the engine.
    pub days: Vec<VendorDay>,
    /// Why not every plant and day asked was read (the run's budget, the daily quota kept
    /// for the syncs, a rate limit, a call that failed): the days not read stay gaps and are
    /// asked again after a later sync. `None` when every call was made.
    pub incomplete_reason: Option<String>,
    /// Rows that did not decode, in words (their days stay gaps).
    pub warnings: Vec<String>,
    /// The calls the portal answered: a day of a plant inside one that came back without a
    /// row is the portal's "no data" (most portals leave such days out rather than send
    /// `null`), so the engine notes it and does not ask it at every sync.
    pub answered: Vec<Answered>,
}

/// One history call the portal answered: these plants, from `from` to `to` (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// The vendor plant ids the call asked about.
    pub plants: Vec<String>,
    /// First day the call covered.
    pub from: NaiveDate,
    /// Last day the call covered.
    pub to: NaiveDate,
}

impl Answered {
    /// Whether the call covered `plant` on `day`.
    pub fn covers(&self, plant: &str, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day) && self.plants.iter().any(|p| p == plant)
    }
}

impl HistoryRequest {
    /// The span cut into windows of at most `max_days` days, oldest first.
    pub fn windows(&self, max_days: u32) -> Vec<(NaiveDate, NaiveDate)> {
        windows(self.from, self.to, max_days)
    }

    /// The zone of a plant asked about, by vendor id.
    pub fn zone_of(&self, vendor_plant_id: &str) -> Option<PlantZone> {
        self.plants.iter().find(|p| p.vendor_plant_id == vendor_plant_id).map(|p| p.zone)
    }
}

impl HistoryReply {
    /// Keeps `day` when it is a finished day of its plant when the request was made
    /// ([`HistoryRequest::asked_at`]: before the plant's local today, whose figure is
    /// partial; later days cannot be known). A plant not asked about is kept too (the
    /// engine drops it).
    pub fn keep(&mut self, request: &HistoryRequest, day: VendorDay) {
        let now = &request.asked_at;
        let finished =
            request.zone_of(&day.vendor_plant_id).is_none_or(|zone| day.day < zone.local_date(now));
        if finished {
            self.days.push(day);
        }
    }

    /// Notes that the portal answered the call for `plants` from `from` to `to`.
    pub fn answered(&mut self, plants: &[&str], from: NaiveDate, to: NaiveDate) {
        let plants = plants.iter().map(|p| (*p).to_owned()).collect();
        self.answered.push(Answered { plants, from, to });
    }

    /// The reply stops here for `reason` (the first reason given is kept: it is the one
    /// that stopped the calls).
    pub fn stop(&mut self, reason: String) {
        self.incomplete_reason.get_or_insert(reason);
    }

    /// Takes in a history call that failed with `error` (`what`: the call, in words, e.g.
    /// "station 12, 2024-05-01 to 2024-05-30"), `answered` calls having succeeded before it,
    /// and says whether the other calls go on:
    ///
    /// * a call the portal could not answer (`Permanent`, `Malformed`) is a warning, and
    ///   the reply is incomplete (its days stay gaps, asked again later), but the other
    ///   calls go on;
    /// * a refusal of the account before any call was answered (no permission, unsupported,
    ///   rejected credentials) is the whole request's answer, returned as the error (the
    ///   engine records "cannot be filled" for the first two);
    /// * anything else (a rate limit, an outage, the budget, a spent quota, a refusal after
    ///   some answers) stops the reply, which keeps what was read.
    pub fn failed(
        &mut self,
        error: super::VendorError,
        answered: usize,
        what: &str,
    ) -> Result<AfterFailure, super::VendorError> {
        use super::VendorError as E;
        match error {
            E::Permanent(_) | E::Malformed(_) => {
                self.warnings.push(format!("{what}: history unavailable ({error})"));
                self.incomplete_reason
                    .get_or_insert_with(|| format!("a history call failed ({what}: {error})"));
                Ok(AfterFailure::GoOn)
            }
            E::NoPermission(_) | E::Unsupported(_) | E::CredentialsRejected(_) if answered == 0 => {
                Err(error)
            }
            other => {
                self.stop(format!("history calls stopped at {what}: {other}"));
                Ok(AfterFailure::Stop)
            }
        }
    }
}

/// What follows a failed history call ([`HistoryReply::failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// The other calls go on.
    GoOn,
    /// No more calls: the reply ends with what was read.
    Stop,
}

/// How long one place of a daily allowance is held ([`take_daily_place`]).
pub const ALLOWANCE_DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Takes one of `places` places of a portal's daily allowance of calls of `key` on the
/// session's account (FusionSolar's daily KPI calls, Growatt's ten `plant/energy` calls):
/// each place is held for 24 hours from the call, a rolling day, through
/// [`super::Session::pace`], so other processes' calls count (the call log) and tests
/// shrink it with the pacing scale. Held whatever the call's fate: the portals count
/// attempts. `Err` is how long until a place frees up.
pub async fn take_daily_place(
    session: &super::Session,
    key: &str,
    places: usize,
) -> Result<(), std::time::Duration> {
    let mut soonest = ALLOWANCE_DAY;
    for place in 0..places {
        let key = format!("{key}:daily-place:{place}");
        match session.pace(&key, ALLOWANCE_DAY, std::time::Duration::ZERO).await {
            Ok(_held) => return Ok(()),
            Err(early) => soonest = soonest.min(early.wait),
        }
    }
    Err(soonest)
}

/// `from..=to` cut into windows of at most `max_days` days (at least one), oldest first;
/// empty when `to` is before `from`.
pub fn windows(from: NaiveDate, to: NaiveDate, max_days: u32) -> Vec<(NaiveDate, NaiveDate)> {
    let step = chrono::Days::new(u64::from(max_days.max(1)) - 1);
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = start.checked_add_days(step).map_or(to, |end| end.min(to));
        out.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

/// The first days of the calendar months `from..=to` touches, oldest first.
pub fn months(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let Some(mut first) = from.with_day(1) else { return out };
    while first <= to {
        out.push(first);
        match first.checked_add_months(chrono::Months::new(1)) {
            Some(next) => first = next,
            None => break,
        }
    }
    out
}

/// How many days `from..=to` holds (0 when `to` is before `from`).
pub fn span_days(from: NaiveDate, to: NaiveDate) -> u64 {
    u64::try_from((to - from).num_days() + 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn windows_cover_the_span_oldest_first_without_overlap() {
        let cut = windows(day("2024-01-01"), day("2024-03-05"), 30);
        assert_eq!(
            cut,
            [
                (day("2024-01-01"), day("2024-01-30")),
                (day("2024-01-31"), day("2024-02-29")),
                (day("2024-03-01"), day("2024-03-05")),
            ]
        );
        assert_eq!(windows(day("2024-01-01"), day("2024-01-01"), 7).len(), 1);
        assert!(windows(day("2024-01-02"), day("2024-01-01"), 7).is_empty());
        assert_eq!(windows(day("2024-01-01"), day("2024-01-03"), 0).len(), 3, "0 reads as 1");
        assert_eq!(span_days(day("2024-01-01"), day("2024-12-31")), 366);
    }

    #[test]
    fn months_are_the_calendar_months_touched() {
        assert_eq!(
            months(day("2024-01-31"), day("2024-03-01")),
            [day("2024-01-01"), day("2024-02-01"), day("2024-03-01")]
        );
        assert_eq!(months(day("2024-05-10"), day("2024-05-12")), [day("2024-05-01")]);
    }

    #[test]
    fn only_finished_days_are_kept() {
        let zone: PlantZone = "Asia/Shanghai".parse().unwrap();
        // 2024-05-10 17:00 UTC is already 05-11 01:00 in Shanghai: the 10th is finished.
        let request = HistoryRequest {
            plants: vec![HistoryPlant { vendor_plant_id: "1".into(), zone }],
            from: day("2024-05-01"),
            to: day("2024-05-10"),
            asked_at: "2024-05-10T17:00:00Z".parse().unwrap(),
        };
        let mut reply = HistoryReply::default();
        for d in ["2024-05-10", "2024-05-11", "2024-05-12"] {
            let row = VendorDay { vendor_plant_id: "1".into(), day: day(d), energy_kwh: Some(1.0) };
            reply.keep(&request, row);
        }
        assert_eq!(reply.days.len(), 1);
        assert_eq!(reply.days[0].day, day("2024-05-10"));
        reply.stop("first".into());
        reply.stop("second".into());
        assert_eq!(reply.incomplete_reason.as_deref(), Some("first"));
    }

    #[test]
    fn a_failed_call_goes_on_stops_or_answers_for_the_request() {
        use crate::vendors::VendorError as E;
        let mut reply = HistoryReply::default();
        let bad = E::Permanent("HTTP 404".into());
        assert_eq!(reply.failed(bad, 0, "station 1"), Ok(AfterFailure::GoOn));
        assert_eq!(reply.warnings.len(), 1);
        assert!(
            reply.incomplete_reason.as_deref().unwrap().contains("station 1"),
            "its days stay gaps"
        );
        let limited = E::RateLimited { message: "429".into(), retry_after: None };
        assert_eq!(reply.failed(limited, 0, "station 2"), Ok(AfterFailure::Stop));
        let refused = E::NoPermission("E994".into());
        assert_eq!(HistoryReply::default().failed(refused.clone(), 0, "x"), Err(refused.clone()));
        let mut later = HistoryReply::default();
        assert_eq!(
            later.failed(refused, 2, "x"),
            Ok(AfterFailure::Stop),
            "after answers: keep them"
        );
        assert!(later.incomplete_reason.is_some());
    }
}
