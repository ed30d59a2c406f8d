//! One vendor's alert sync: the window sent to the vendor, upserts on occurrence keys,
//! resolving alerts that left the vendor's open list.

use super::{Engine, Progress, VendorRun, error_of, first_few, store_in_batches};
use crate::domain::plausible::AlertTimes;
use crate::domain::{AlertStatus, Timestamp, VendorAlert, text};
use crate::store::SyncTarget;
use crate::vendors::{self, AlertWindow, VendorError};
use tracing::{info, warn};

/// Syncs the alerts of `target`.
pub(super) async fn sync(
    engine: &Engine,
    target: &SyncTarget,
    started_at: Timestamp,
    progress: &Progress,
) -> VendorRun {
    let vendor = &target.vendor;
    let client = match engine.client(target) {
        Ok(client) => client,
        Err(error) => return VendorRun::failed(&error),
    };
    // For portals that report an alarm's end only in a window holding its start, the
    // window reaches back to the oldest alarm still open (within the lookback; older ones
    // are asked about one by one, see `probe_older_open_alerts`).
    let oldest_open = if client.alert_end_needs_start_in_window() {
        match engine.store.open_alerts_started_before(vendor.id, started_at, 1).await {
            Ok(oldest) => oldest.first().map(|(_, started)| *started),
            Err(e) => {
                warn!("could not read the oldest open alert ({e}); using the usual window");
                None
            }
        }
    } else {
        None
    };
    let window = window(engine, vendor.last_alerts_synced_at, oldest_open, started_at);
    let plant_ids = match engine.store.active_plant_ids(vendor.id).await {
        Ok(ids) => ids,
        Err(e) => {
            return VendorRun::failed(&VendorError::Permanent(format!(
                "could not read plants: {e}"
            )));
        }
    };
    let session = engine.session(target);
    let mut listing = match client.list_alerts(&session, window, &plant_ids).await {
        Ok(listing) => listing,
        Err(VendorError::Unsupported(what)) => {
            // Visible, but not a failure: the portal has no alert list for this account.
            return VendorRun {
                success: true,
                error: Some(format!("alerts not supported: {what}")),
                ..VendorRun::default()
            };
        }
        Err(error) => return VendorRun::failed(&error),
    };
    if client.alert_end_needs_start_in_window() {
        probe_older_open_alerts(engine, target, client.as_ref(), &session, window, &mut listing)
            .await;
    }

    // Bounded before anything reads them: a listing's open keys cut as the rows' keys are.
    let cut: Vec<&str> = listing.alerts.iter_mut().flat_map(VendorAlert::bound_texts).collect();
    listing.warnings.extend(text::cut_fields_note(&cut));
    for key in listing.open_keys.iter_mut().flatten() {
        text::bound_alert_key(key);
    }
    // Impossible times: an impossible end is not stored (the stored one stays), an
    // occurrence with an impossible start is not stored at all. Neither blocks resolution
    // by absence: the adapter built the open keys from the rows it read, this one's too.
    let now = (engine.clock)();
    let (mut unbelievable, mut ends_dropped) = (Vec::new(), Vec::new());
    let mut status_unknown = std::collections::HashSet::new();
    listing.alerts.retain_mut(|alert| match alert.check_times(now) {
        AlertTimes::Plausible => true,
        AlertTimes::EndDropped(why) => {
            ends_dropped.push(format!("{}: {why}", alert.vendor_alert_key));
            status_unknown.insert(alert.vendor_alert_key.clone());
            true
        }
        AlertTimes::Unbelievable(why) => {
            unbelievable.push(format!("{}: {why}", alert.vendor_alert_key));
            false
        }
    });
    // An end that cannot be believed cannot make the occurrence resolved either: it keeps
    // its stored status (a new one is active), and no listing resolves it by its absence
    // from the open keys the adapter built from its word.
    if let Some(open) = listing.open_keys.as_mut() {
        open.extend(status_unknown.iter().cloned());
    }
    if !status_unknown.is_empty() {
        let keys: Vec<String> = status_unknown.iter().cloned().collect();
        match engine.store.stored_alert_statuses(vendor.id, keys).await {
            Ok(stored) => {
                for alert in listing.alerts.iter_mut() {
                    if status_unknown.contains(&alert.vendor_alert_key) {
                        let kept = stored.get(&alert.vendor_alert_key).copied();
                        alert.status = kept.unwrap_or(AlertStatus::Active);
                    }
                }
            }
            // Without the stored status nothing may be said of them: not stored this run.
            Err(e) => {
                listing.warnings.push(format!("could not read stored alert statuses: {e}"));
                listing.alerts.retain(|a| !status_unknown.contains(&a.vendor_alert_key));
            }
        }
    }
    let mut run = VendorRun {
        total: listing.alerts.len() as u64,
        in_part: listing.partial,
        skipped_rows: (listing.skipped.len() + unbelievable.len()) as u64,
        ..VendorRun::default()
    };
    let mut not_stored = Vec::new();
    let vendor_id = vendor.id;
    let upsert = |rows| engine.store.upsert_alerts(vendor_id, rows, Timestamp::now());
    store_in_batches(
        std::mem::take(&mut listing.alerts),
        |a: &VendorAlert| format!("alert {}", a.vendor_alert_key),
        upsert,
        &mut run,
        &mut not_stored,
        progress,
    )
    .await;
    let mut problems: Vec<String> = Vec::new();
    problems.extend(first_few("alert(s) not stored", &not_stored));
    problems.extend(first_few("unreadable alert(s) skipped", &listing.skipped));
    problems.extend(first_few("alert(s) with an impossible start skipped", &unbelievable));
    problems.extend(first_few("impossible alert end(s) not stored", &ends_dropped));
    if listing.open_keys.is_some() && !listing.skipped.is_empty() {
        listing.warnings.push(format!(
            "{} alert row(s) could not be read; alerts missing from the list are not \
             resolved this run",
            listing.skipped.len()
        ));
    }
    problems.extend(first_few("warning(s)", &listing.warnings));
    run.success = not_stored.is_empty();
    // The one rule of resolution by absence: only a listing that is the whole open list,
    // with every row read, says an alert missing from it ended. A skipped row may be the
    // very alert that would look missing.
    if run.success
        && listing.skipped.is_empty()
        && let Some(open) = listing.open_keys
    {
        match engine.store.resolve_alerts_not_open(vendor.id, open).await {
            Ok(0) => {}
            Ok(n) => {
                info!(alerts = n, "alerts no longer open at the vendor were resolved");
                // Rows the listing covered by their absence: counted in the total too, so
                // `synced` never exceeds `total`.
                run.updated += n;
                run.total += n;
            }
            Err(e) => {
                run.success = false;
                problems.push(format!("could not resolve closed alerts: {e}"));
            }
        }
    }
    run.error = error_of(&problems);
    run
}

/// Older open alerts asked about per run (each is one narrow call), oldest first.
const PROBES_PER_RUN: usize = 20;
/// Half the width of the window around an older alert's start.
const PROBE_MARGIN_MS: i64 = 60_000;

/// Asks a portal that reports an alert's end only in a window holding its start
/// (FusionSolar) about each stored alert still open that started before `window` (which
/// already reaches back to the lookback): one narrow window around its start, for its plant
/// only. So an inverter fault that lasts a week is resolved when its `recoveryTime`
/// appears, without asking for a week of alarms every run. Failures here only leave those
/// alerts open until a later run: a warning.
async fn probe_older_open_alerts(
    engine: &Engine,
    target: &SyncTarget,
    client: &dyn vendors::VendorClient,
    session: &vendors::Session,
    window: AlertWindow,
    listing: &mut vendors::AlertListing,
) {
    let older = match engine
        .store
        .open_alerts_started_before(target.vendor.id, window.start, PROBES_PER_RUN)
        .await
    {
        Ok(older) => older,
        Err(e) => {
            listing.warnings.push(format!("could not read older open alerts: {e}"));
            return;
        }
    };
    let mut known: std::collections::HashSet<String> =
        listing.alerts.iter().map(|a| a.vendor_alert_key.clone()).collect();
    for (done, (plant, started)) in older.iter().enumerate() {
        let at = started.as_datetime().timestamp_millis();
        let around = |offset: i64| Timestamp::from_unix_millis(at + offset).unwrap_or(*started);
        let narrow = AlertWindow { start: around(-PROBE_MARGIN_MS), end: around(PROBE_MARGIN_MS) };
        match client.list_alerts(session, narrow, std::slice::from_ref(plant)).await {
            Ok(found) => {
                for alert in found.alerts {
                    if known.insert(alert.vendor_alert_key.clone()) {
                        listing.alerts.push(alert);
                    }
                }
                listing.skipped.extend(found.skipped);
            }
            Err(error) => {
                listing.warnings.push(format!(
                    "could not check whether {} older open alert(s) ended: {error}",
                    older.len() - done
                ));
                return;
            }
        }
    }
}

/// From the last successful alert sync (minus an overlap, so late alerts are caught) or the
/// configured lookback, whichever is later, to now; stretched back to `oldest_open` (the
/// oldest alert still open, given for portals that need it), within the lookback.
fn window(
    engine: &Engine,
    last: Option<Timestamp>,
    oldest_open: Option<Timestamp>,
    now: Timestamp,
) -> AlertWindow {
    let settings = &engine.settings;
    alert_window(settings.alert_lookback, settings.alert_overlap, last, oldest_open, now)
}

/// [`window`] on its parameters.
fn alert_window(
    lookback: std::time::Duration,
    overlap: std::time::Duration,
    last: Option<Timestamp>,
    oldest_open: Option<Timestamp>,
    now: Timestamp,
) -> AlertWindow {
    let millis = |t: Timestamp| t.as_datetime().timestamp_millis();
    let lookback_start = millis(now) - lookback.as_millis() as i64;
    let since_last = last.map_or(lookback_start, |t| millis(t) - overlap.as_millis() as i64);
    let start_ms = oldest_open.map_or(since_last, |open| since_last.min(millis(open)));
    let start_ms = start_ms.max(lookback_start);
    AlertWindow { start: Timestamp::from_unix_millis(start_ms).unwrap_or(now), end: now }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn window_follows_the_last_sync_the_oldest_open_alert_and_the_lookback() {
        let hour = |h: i64| Timestamp::from_unix_millis(h * 3_600_000).unwrap();
        let (lookback, overlap) = (Duration::from_secs(72 * 3600), Duration::from_secs(3600));
        let window = |last, open| alert_window(lookback, overlap, last, open, hour(100));
        assert_eq!(window(None, None).start, hour(28), "first sync: the whole lookback");
        assert_eq!(window(None, Some(hour(90))).start, hour(28));
        assert_eq!(window(Some(hour(99)), None).start, hour(98), "the last sync minus overlap");
        assert_eq!(window(Some(hour(99)), Some(hour(50))).start, hour(50), "back to the open one");
        assert_eq!(
            window(Some(hour(99)), Some(hour(5))).start,
            hour(28),
            "never past the lookback"
        );
        assert_eq!(window(Some(hour(99)), None).end, hour(100));
    }
}
