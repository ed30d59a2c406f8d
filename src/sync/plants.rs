//! One vendor's plant sync: list, upsert in batches, deactivate the vanished (only after a
//! listing that named every plant: [`Vanished::rule`]).

use super::{Engine, Progress, VendorRun, error_of, first_few, store_in_batches};
use crate::domain::{Timestamp, VendorPlant, plausible, text};
use crate::store::SyncTarget;
use crate::vendors::{KnownPlants, PlantListing};
use tracing::{debug, info, warn};

/// Past the session's soft deadline (three quarters of the vendor deadline), the share of
/// the deadline a running backfill may still take: it ends at 0.9 of the deadline.
const BACKFILL_GRACE: f64 = 0.15;

/// Syncs the plants of `target`.
pub(super) async fn sync(engine: &Engine, target: &SyncTarget, progress: &Progress) -> VendorRun {
    let vendor = &target.vendor;
    let client = match engine.client(target) {
        Ok(client) => client,
        Err(error) => return VendorRun::failed(&error),
    };
    let known = match engine.store.stored_plant_state(vendor.id).await {
        Ok(stored) => KnownPlants {
            updated_with_energy: stored.updated_with_energy,
            timezones: stored.timezones,
            positioned: stored.positioned,
        },
        Err(e) => {
            warn!("could not read stored readings ({e}); fetching every plant's readings");
            KnownPlants::default()
        }
    };
    let session = engine.session(target);
    let mut listing = match client.list_plants(&session, &known).await {
        Ok(listing) => listing,
        Err(error) => return VendorRun::failed(&error),
    };
    debug!(plants = listing.plants.len(), requests = session.requests_made(), "listing fetched");
    // Bounded before anything reads them, ids included (the vanished rule compares them).
    let cut: Vec<&str> = listing.plants.iter_mut().flat_map(VendorPlant::bound_texts).collect();
    listing.warnings.extend(text::cut_fields_note(&cut));
    // Values no plant can report are not stored: the stored ones stay.
    let now = (engine.clock)();
    let dropped: Vec<&str> =
        listing.plants.iter_mut().flat_map(|plant| plant.drop_implausible(now)).collect();
    listing.warnings.extend(plausible::dropped_note(&dropped));
    for id in listing.skipped.iter_mut().filter_map(|(id, _)| id.as_mut()) {
        text::bound_plant_id(id);
    }

    let mut run = VendorRun {
        total: (listing.plants.len() + listing.skipped.len()) as u64,
        skipped_rows: listing.skipped.len() as u64,
        duplicate_rows: listing.duplicates as u64,
        ..VendorRun::default()
    };
    if listing.duplicates > 0 {
        info!(rows = listing.duplicates, "the vendor listed rows twice; each was stored once");
    }
    let vanished = Vanished::rule(&listing);
    let mut not_stored = Vec::new();
    let vendor_id = vendor.id;
    let listed_ids: Vec<String> =
        listing.plants.iter().map(|p| p.vendor_plant_id.clone()).collect();
    // Each batch writes its readings into the history in the same transaction.
    let history = engine.settings.history.enabled.then_some(engine.settings.history.zone);
    let upsert = |rows| engine.store.upsert_plants_recording(vendor_id, rows, now, history);
    store_in_batches(
        std::mem::take(&mut listing.plants),
        |p: &VendorPlant| format!("plant {}", p.vendor_plant_id),
        upsert,
        &mut run,
        &mut not_stored,
        progress,
    )
    .await;

    let skipped: Vec<String> = listing
        .skipped
        .iter()
        .map(|(id, reason)| format!("{}: {reason}", id.as_deref().unwrap_or("(no id)")))
        .collect();
    let mut problems: Vec<String> = Vec::new();
    problems.extend(listing.incomplete_reason.clone().map(|r| format!("listing incomplete: {r}")));
    problems.extend(first_few("plant(s) not stored", &not_stored));
    problems.extend(first_few("unreadable plant(s) skipped", &skipped));
    problems.extend(first_few("warning(s)", &listing.warnings));

    // Listed but unreadable: the plants still exist at the vendor, so they were seen now.
    let unreadable: Vec<String> = listing.skipped.iter().filter_map(|(id, _)| id.clone()).collect();
    if !unreadable.is_empty()
        && let Err(e) = engine.store.mark_plants_seen(vendor.id, unreadable, Timestamp::now()).await
    {
        warn!("could not record the unreadable plants as seen: {e}");
    }
    run.success = listing.complete && not_stored.is_empty();
    run.left_to_budget = !run.success && listing.stopped_by_budget && not_stored.is_empty();
    if run.success {
        match vanished {
            Vanished::Deactivate => match engine
                .store
                .deactivate_plants_not_listed(vendor.id, listed_ids)
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    warn!(plants = n, "plants no longer listed by the vendor were marked inactive")
                }
                Err(e) => {
                    run.success = false;
                    problems.push(format!("could not mark vanished plants inactive: {e}"));
                }
            },
            Vanished::Kept(reason) => debug!("no plant marked inactive: {reason}"),
        }
    }
    run.error = error_of(&problems);
    // Optional work after a stored listing: the days the history lacks. A history call
    // started just before the soft deadline may take long (retries); the backfill is cut
    // well before the vendor's deadline, which would fail the vendor whose plants are
    // stored. What it stored before stays; the rest is asked after a later sync.
    if run.success {
        let backfill = super::history::backfill(engine, target, client.as_ref(), &session);
        match session.soft_deadline() {
            Some(soft) => {
                let cut = soft + engine.settings.vendor_deadline.mul_f64(BACKFILL_GRACE);
                if tokio::time::timeout_at(cut, backfill).await.is_err() {
                    info!("history backfill cut short by the vendor deadline; asked again later");
                }
            }
            None => {
                backfill.await;
            }
        }
    }
    run
}

/// What a listing allows of the stored plants it did not name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Vanished {
    /// Every row the vendor listed was read: a stored plant not among them is gone and
    /// is marked inactive.
    Deactivate,
    /// The listing does not name every plant the vendor has, so none is marked inactive.
    Kept(&'static str),
}

impl Vanished {
    /// The one rule. An incomplete listing names only part of the vendor's plants; so does
    /// one with a row that did not decode, whose id may be unreadable too (a missing or
    /// wrongly typed id field) or may not be the one the decoded row would have given:
    /// the stored plant behind it would be marked inactive while it is still listed.
    fn rule(listing: &PlantListing) -> Self {
        if !listing.complete {
            Vanished::Kept("the listing is incomplete")
        } else if listing.total_moved {
            Vanished::Kept("the vendor's total changed while the listing was read")
        } else if !listing.skipped.is_empty() {
            Vanished::Kept("a listed row did not decode, so the listing names not every plant")
        } else {
            Vanished::Deactivate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_listing_of_readable_rows_deactivates() {
        let complete = PlantListing { complete: true, ..PlantListing::default() };
        assert_eq!(Vanished::rule(&complete), Vanished::Deactivate);
        let repeated = PlantListing { duplicates: 3, ..complete.clone() };
        assert_eq!(Vanished::rule(&repeated), Vanished::Deactivate, "repeats hide nothing");
        for id in [Some("7".to_owned()), None] {
            let skipped = PlantListing {
                skipped: vec![(id.clone(), "invalid type".into())],
                ..complete.clone()
            };
            assert!(matches!(Vanished::rule(&skipped), Vanished::Kept(_)), "{id:?}");
        }
        assert!(matches!(Vanished::rule(&PlantListing::default()), Vanished::Kept(_)));
        let moved = PlantListing { total_moved: true, ..complete };
        assert!(matches!(Vanished::rule(&moved), Vanished::Kept(_)), "the total moved");
    }
}
