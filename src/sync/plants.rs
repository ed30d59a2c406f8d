//! One vendor's plant sync: list, upsert in batches, deactivate the vanished.

use super::{Engine, Progress, VendorRun, first_few, store_in_batches};
use crate::domain::{Timestamp, VendorPlant};
use crate::store::SyncTarget;
use crate::vendors::KnownPlants;
use tracing::{debug, warn};

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

    let mut run = VendorRun {
        total: (listing.plants.len() + listing.skipped.len()) as u64,
        ..VendorRun::default()
    };
    let mut not_stored = Vec::new();
    let vendor_id = vendor.id;
    let listed_ids: Vec<String> =
        listing.plants.iter().map(|p| p.vendor_plant_id.clone()).collect();
    let upsert = |rows| engine.store.upsert_plants(vendor_id, rows, Timestamp::now());
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

    run.success = listing.complete && not_stored.is_empty();
    if run.success {
        let unreadable = listing.skipped.iter().filter_map(|(id, _)| id.clone()).collect();
        match engine
            .store
            .deactivate_plants_not_listed(vendor.id, listed_ids, unreadable, Timestamp::now())
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
        }
    }
    run.error = (!problems.is_empty()).then(|| problems.join("; "));
    run
}
