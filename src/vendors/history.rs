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

use crate::domain::PlantZone;
use chrono::NaiveDate;

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
}
