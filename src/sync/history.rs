//! The energy history's part of a plant sync: the settings, the gap backfill after the
//! listing was stored, and the pruning of old power samples after a run.
//!
//! Live values need no call of their own: each batch of a plant sync merges today's values
//! into each plant's live slot and writes a power sample in the transaction that stores the
//! plants (`store/history.rs`). The
//! backfill then asks the portal's daily history for the past days of the last
//! `backfill_days` that have no portal figure yet (missing, or seen only by the syncs),
//! through the sync's own session, so the run's request budget, SolarEdge's daily quota,
//! FusionSolar's pacing and the vendor deadline hold for it as for every other call. It is
//! optional work: whatever it does, the plant sync's result stays what the listing made it.

use super::Engine;
use crate::domain::{PlantZone, Timestamp, plausible};
use crate::store::{BackfillCounts, PlantGaps, SyncTarget};
use crate::vendors::history::{Answered, HistoryPlant, HistoryRequest, VendorDay};
use crate::vendors::{Session, VendorClient, VendorError};
use chrono::NaiveDate;
use std::collections::HashSet;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Power samples deleted per transaction when pruning.
const PRUNE_BATCH: u32 = 500;

/// What the engine does with the history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySettings {
    /// Whether plant syncs write the history at all (`history.enabled`).
    pub enabled: bool,
    /// The zone of plants without their own (the configured `timezone`).
    pub zone: PlantZone,
    /// Past days the backfill looks at; 0 turns it off (`history.backfill_days`).
    pub backfill_days: u32,
    /// Days power samples are kept (`history.sample_retention_days`).
    pub sample_retention_days: u32,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            zone: PlantZone::Named(chrono_tz::Asia::Kolkata),
            backfill_days: 30,
            sample_retention_days: 90,
        }
    }
}

/// What one vendor's backfill did, for the log and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct BackfillOutcome {
    /// Plants with gaps, and days asked in all.
    pub plants: usize,
    /// Plant-days asked.
    pub days_asked: usize,
    /// What the store made of the answer.
    pub counts: BackfillCounts,
    /// Why not everything asked was read, or why nothing could be.
    pub incomplete: Option<String>,
}

/// After a stored listing: asks the portal's history for `target`'s gaps and stores the
/// answer. `None` when there was nothing to ask.
pub(super) async fn backfill(
    engine: &Engine,
    target: &SyncTarget,
    client: &dyn VendorClient,
    session: &Session,
) -> Option<BackfillOutcome> {
    let settings = &engine.settings.history;
    if !settings.enabled || settings.backfill_days == 0 || target.key_probe {
        return None;
    }
    let now = (engine.clock)();
    let vendor_id = target.vendor.id;
    let (days, zone) = (settings.backfill_days, settings.zone);
    // The search reads every active plant's window; an earlier one that found nothing
    // still holds until its time unless the plants or the settings changed.
    match engine.store.history_settled(vendor_id, days, zone, now).await {
        Ok(true) => return None,
        Ok(false) => {}
        Err(e) => debug!("could not read when the history was last complete ({e}); searching"),
    }
    let search = match engine.store.history_gaps_to_fill(vendor_id, days, now, zone).await {
        Ok(search) => search,
        Err(e) => {
            warn!("could not read the history's gaps ({e}); no backfill this run");
            return None;
        }
    };
    // Without the note the next sync searches again: dearer, never wrong.
    if let Err(e) = engine.store.settle_history(vendor_id, days, zone, &search, now).await {
        debug!("could not note the history's gap search ({e})");
    }
    if search.gaps.is_empty() {
        return None;
    }
    let gaps = search.gaps;
    let request = request_for(&gaps, now);
    let mut outcome = BackfillOutcome {
        plants: gaps.len(),
        days_asked: gaps.iter().map(|g| g.days.len()).sum(),
        ..BackfillOutcome::default()
    };
    debug!(plants = outcome.plants, days = outcome.days_asked, "asking the portal's history");
    match client.daily_history(session, &request).await {
        Ok(reply) => {
            let (mut days, dropped) = keep_asked(reply.days, &gaps);
            days.extend(left_out(&days, &gaps, &reply.answered));
            if dropped > 0 {
                info!(
                    rows = dropped,
                    "history rows outside the days asked or implausible were not stored"
                );
            }
            for warning in reply.warnings.iter().take(3) {
                info!("history: {warning}");
            }
            match engine.store.record_backfill(vendor_id, days, now, settings.zone).await {
                Ok(counts) => outcome.counts = counts,
                Err(e) => {
                    warn!("could not store the portal's history: {e}");
                    outcome.incomplete = Some(format!("not stored: {e}"));
                    return Some(outcome);
                }
            }
            outcome.incomplete = reply.incomplete_reason;
        }
        Err(VendorError::Unsupported(reason) | VendorError::NoPermission(reason)) => {
            let days =
                gaps.iter().flat_map(|g| g.days.iter().map(|day| (g.plant_id, *day))).collect();
            if let Err(e) = engine.store.record_unfillable(days, reason.clone(), now).await {
                warn!("could not note the days the portal cannot fill: {e}");
            }
            outcome.incomplete = Some(format!("the portal cannot fill past days: {reason}"));
        }
        Err(error) => outcome.incomplete = Some(error.to_string()),
    }
    let counts = &outcome.counts;
    info!(
        filled = counts.filled,
        revised = counts.revised,
        confirmed = counts.confirmed,
        no_data = counts.no_data,
        "history backfill of {} day(s) of {} plant(s){}",
        outcome.days_asked,
        outcome.plants,
        outcome.incomplete.as_deref().map(|r| format!(" (incomplete: {r})")).unwrap_or_default()
    );
    Some(outcome)
}

/// One request covering every gap: the plants in the order found (oldest gap first) and the
/// span from the oldest gap to the newest. Days inside the span that are no gap of a plant
/// come back too and only confirm what is stored.
fn request_for(gaps: &[PlantGaps], asked_at: Timestamp) -> HistoryRequest {
    let days = gaps.iter().flat_map(|g| g.days.iter().copied());
    let (from, to) =
        days.fold((NaiveDate::MAX, NaiveDate::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
    HistoryRequest {
        plants: gaps
            .iter()
            .map(|g| HistoryPlant { vendor_plant_id: g.vendor_plant_id.clone(), zone: g.zone })
            .collect(),
        from,
        to,
        asked_at,
    }
}

/// The rows of a reply that answer what was asked: a gap of a plant asked about (gaps are
/// finished days of the plant's own zone, never its today, whose figure is partial; the
/// span covers other plants' gaps too, whose already-final days are not written again, nor
/// a resting "no data" day counted as asked), once, with an energy a plant can make in a
/// day. Returns them and how many others were dropped.
fn keep_asked(days: Vec<VendorDay>, gaps: &[PlantGaps]) -> (Vec<VendorDay>, usize) {
    let asked: HashSet<(&str, NaiveDate)> = gaps
        .iter()
        .flat_map(|g| g.days.iter().map(move |d| (g.vendor_plant_id.as_str(), *d)))
        .collect();
    let mut seen = HashSet::new();
    let total = days.len();
    let kept: Vec<VendorDay> = days
        .into_iter()
        .filter(|d| {
            asked.contains(&(d.vendor_plant_id.as_str(), d.day))
                && d.energy_kwh.is_none_or(|e| {
                    e.is_finite() && (0.0..=plausible::MAX_DAILY_ENERGY_KWH).contains(&e)
                })
                && seen.insert((d.vendor_plant_id.clone(), d.day))
        })
        .collect();
    let dropped = total - kept.len();
    (kept, dropped)
}

/// The gap days a call the portal answered covered but returned no row for: the portal's
/// "no data" (Solarman, Sungrow and Growatt leave such days out, FusionSolar's rows start at
/// the grid connection), noted as such so they rest instead of being asked at every sync.
fn left_out(kept: &[VendorDay], gaps: &[PlantGaps], answered: &[Answered]) -> Vec<VendorDay> {
    let returned: HashSet<(&str, NaiveDate)> =
        kept.iter().map(|d| (d.vendor_plant_id.as_str(), d.day)).collect();
    gaps.iter()
        .flat_map(|g| g.days.iter().map(move |day| (g.vendor_plant_id.as_str(), *day)))
        .filter(|(plant, day)| !returned.contains(&(*plant, *day)))
        .filter(|(plant, day)| answered.iter().any(|call| call.covers(plant, *day)))
        .map(|(plant, day)| VendorDay { vendor_plant_id: plant.to_owned(), day, energy_kwh: None })
        .collect()
}

impl Engine {
    /// Deletes the power samples older than the retention, in batches of a few hundred rows
    /// (each its own short transaction, yielding between), so syncs writing at the same
    /// time wait at most one batch. Returns how many were deleted.
    pub async fn prune_power_samples(&self) -> u64 {
        let days = i64::from(self.settings.history.sample_retention_days);
        let Some(before) = (self.clock)()
            .as_datetime()
            .checked_sub_signed(chrono::Duration::days(days))
            .map(|t| Timestamp::from_datetime(&t))
        else {
            return 0;
        };
        let mut deleted = 0;
        loop {
            match self.store.prune_power_samples(before, PRUNE_BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < u64::from(PRUNE_BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    warn!("could not prune old power samples: {e}");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if deleted > 0 {
            info!(samples = deleted, "pruned power samples older than {days} days");
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlantId;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn gaps(id: &str, zone: PlantZone, days: &[&str]) -> PlantGaps {
        PlantGaps {
            plant_id: PlantId(1),
            vendor_plant_id: id.into(),
            zone,
            days: days.iter().map(|d| day(d)).collect(),
        }
    }

    #[test]
    fn one_request_spans_every_gap_and_keeps_the_plants_order() {
        let utc = PlantZone::Named(chrono_tz::UTC);
        let found =
            [gaps("a", utc, &["2026-11-03", "2026-11-04"]), gaps("b", utc, &["2026-11-20"])];
        let request = request_for(&found, Timestamp::now());
        assert_eq!((request.from, request.to), (day("2026-11-03"), day("2026-11-20")));
        let ids: Vec<&str> = request.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn only_finished_days_asked_about_with_plausible_values_are_kept() {
        // The gaps as `history_gaps_to_fill` finds them at 2026-12-01 20:00 UTC: already
        // 2 December in Kolkata (the 1st is finished), still 1 December in UTC.
        let kolkata = PlantZone::Named(chrono_tz::Asia::Kolkata);
        let utc = PlantZone::Named(chrono_tz::UTC);
        let found = [
            gaps("in", kolkata, &["2026-11-30", "2026-12-01"]),
            gaps("utc", utc, &["2026-11-30"]),
            gaps("x", kolkata, &["2026-11-30"]),
        ];
        let row = |id: &str, d: &str, e: Option<f64>| VendorDay {
            vendor_plant_id: id.into(),
            day: day(d),
            energy_kwh: e,
        };
        let (kept, dropped) = keep_asked(
            vec![
                row("in", "2026-12-01", Some(4.0)),   // finished in Kolkata
                row("utc", "2026-12-01", Some(4.0)),  // today in UTC: partial
                row("utc", "2026-11-30", Some(-1.0)), // impossible
                row("utc", "2026-11-30", None),       // no data: kept as such
                row("utc", "2026-11-30", Some(2.0)),  // a repeat of the day
                row("stranger", "2026-11-30", Some(1.0)),
                row("in", "2026-10-01", Some(1.0)), // outside the span
                row("x", "2026-12-01", Some(1.0)),  // in the span, but no gap of x's
            ],
            &found,
        );
        assert_eq!(kept, vec![row("in", "2026-12-01", Some(4.0)), row("utc", "2026-11-30", None)]);
        assert_eq!(dropped, 6);
    }

    #[test]
    fn gap_days_an_answered_call_left_out_are_no_data() {
        let utc = PlantZone::Named(chrono_tz::UTC);
        let found = [
            gaps("a", utc, &["2026-11-01", "2026-11-02", "2026-11-20"]),
            gaps("b", utc, &["2026-11-02"]),
        ];
        let kept = [VendorDay {
            vendor_plant_id: "a".into(),
            day: day("2026-11-01"),
            energy_kwh: Some(3.0),
        }];
        // One call answered for a (1st to 10th); b's call was never made.
        let answered =
            [Answered { plants: vec!["a".into()], from: day("2026-11-01"), to: day("2026-11-10") }];
        let none =
            |d: &str| VendorDay { vendor_plant_id: "a".into(), day: day(d), energy_kwh: None };
        assert_eq!(left_out(&kept, &found, &answered), [none("2026-11-02")]);
    }
}
