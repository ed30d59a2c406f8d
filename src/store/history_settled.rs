//! When a vendor's history gap search next has anything to find (`history_settled`,
//! migration step 10).
//!
//! The gap search ([`Store::history_gaps_to_fill`]) reads the last N days of every active
//! plant of a vendor: run at every 15-minute sync, it would cost more than all the history a
//! sync writes. Its answer changes only at times it can name itself
//! ([`GapSearch::unchanged_until`]) or when what it read changes: the vendor's active plants
//! (one created, removed, reactivated; compared by their number and the sum of their ids),
//! the settings (the number of days, the configured zone). A search that found nothing to ask is noted with those inputs, and the syncs
//! before its time skip the search. What the note cannot see (a plant's own zone changed,
//! rows edited with `sqlite3`) waits at most until the note's time, which is never later
//! than the next midnight of one of the vendor's plants.

use super::history::GapSearch;
use super::{Result, Store};
use crate::domain::{PlantZone, Timestamp, VendorId};
use rusqlite::{OptionalExtension, params};

/// Drops `vendor_id`'s note inside the caller's transaction (the plants upsert, when it
/// creates a plant: the note's count and sum would tell that too, but not every time).
pub(super) fn forget(conn: &rusqlite::Connection, vendor_id: VendorId) -> Result<()> {
    conn.prepare_cached("DELETE FROM history_settled WHERE vendor_id = ?1")?
        .execute([vendor_id])?;
    Ok(())
}

impl Store {
    /// Whether an earlier search of `vendor_id`'s gaps, with these settings, found nothing
    /// to ask and nothing it depended on has changed since: its time has not come, the clock
    /// is not before the search, and the vendor's active plants are the ones it saw (as
    /// many, with the same sum of ids).
    pub async fn history_settled(
        &self,
        vendor_id: VendorId,
        days: u32,
        fallback: PlantZone,
        now: Timestamp,
    ) -> Result<bool> {
        let zone = fallback.to_string();
        self.read(move |conn| {
            let settled = conn
                .prepare_cached(
                    "SELECT 1 FROM history_settled s
                     WHERE s.vendor_id = ?1 AND s.backfill_days = ?2 AND s.zone = ?3
                       AND s.searched_at <= ?4 AND ?4 < s.until
                       AND (s.active_plants, s.active_ids_sum) =
                           (SELECT count(*), coalesce(sum(id), 0) FROM plants
                            WHERE vendor_id = ?1 AND is_active = 1)",
                )?
                .query_row(params![vendor_id, days, zone, now], |_| Ok(()))
                .optional()?;
            Ok(settled.is_some())
        })
        .await
    }

    /// Notes that `search`, run at `now` with these settings, found nothing to ask, so the
    /// syncs until its [`GapSearch::unchanged_until`] skip the search; a search that found
    /// gaps drops an earlier note instead.
    pub async fn settle_history(
        &self,
        vendor_id: VendorId,
        days: u32,
        fallback: PlantZone,
        search: &GapSearch,
        now: Timestamp,
    ) -> Result<()> {
        let zone = fallback.to_string();
        let (empty, active, ids, until) = (
            search.gaps.is_empty(),
            search.active_plants as i64,
            search.active_ids_sum,
            search.unchanged_until,
        );
        self.write(move |conn| {
            if empty {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO history_settled
                         (vendor_id, backfill_days, zone, active_plants, active_ids_sum,
                          searched_at, until)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![vendor_id, days, zone, active, ids, now, until])?;
            } else {
                forget(conn, vendor_id)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{PlantZone, Timestamp, VendorId, VendorKind, VendorPlant};
    use crate::store::Store;
    use crate::store::test_support::temp_store;
    use crate::vendors::history::VendorDay;

    const KOLKATA: PlantZone = PlantZone::Named(chrono_tz::Asia::Kolkata);

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    async fn vendor(store: &Store) -> VendorId {
        crate::store::test_support::org_vendor(store, VendorKind::Solarman).await
    }

    fn plant(id: &str) -> VendorPlant {
        VendorPlant { vendor_plant_id: id.into(), ..VendorPlant::default() }
    }

    /// Fills the two days before 1 December (Kolkata) of `ids` with final portal figures.
    async fn fill(store: &Store, v: VendorId, ids: &[&str]) {
        let days = ids.iter().flat_map(|id| {
            ["2026-11-29", "2026-11-30"].map(|d| VendorDay {
                vendor_plant_id: (*id).into(),
                day: d.parse().unwrap(),
                energy_kwh: Some(5.0),
            })
        });
        // Fetched two days after the later day: final.
        store
            .record_backfill(v, days.collect(), ts("2026-12-02T12:00:00Z"), KOLKATA)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_search_that_found_nothing_holds_until_its_time_or_a_change() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let now = ts("2026-12-02T12:00:00Z"); // 17:30 on 2 December in Kolkata
        store.upsert_plants(v, vec![plant("a"), plant("b")], now).await.unwrap();
        fill(&store, v, &["a", "b"]).await;
        let search = store.history_gaps_to_fill(v, 2, now, KOLKATA).await.unwrap();
        // 1 December was synced by nobody: a gap; nothing is settled with a gap to ask.
        assert_eq!(search.gaps.len(), 2, "{search:?}");
        store.settle_history(v, 2, KOLKATA, &search, now).await.unwrap();
        assert!(!store.history_settled(v, 2, KOLKATA, now).await.unwrap());

        // a's figure for 1 December, fetched less than a day after the day ended, is asked
        // again once it can be final (18:30 UTC, also Kolkata's next midnight); b's portal
        // said "no data" at 20:00 UTC yesterday: asked again 20 hours later, 16:00 UTC.
        let one = |id: &str, energy_kwh| VendorDay {
            vendor_plant_id: id.into(),
            day: "2026-12-01".parse().unwrap(),
            energy_kwh,
        };
        store.record_backfill(v, vec![one("a", Some(4.0))], now, KOLKATA).await.unwrap();
        let tried = ts("2026-12-01T20:00:00Z");
        store.record_backfill(v, vec![one("b", None)], tried, KOLKATA).await.unwrap();
        let search = store.history_gaps_to_fill(v, 2, now, KOLKATA).await.unwrap();
        assert!(search.gaps.is_empty(), "{search:?}");
        assert_eq!(search.active_plants, 2);
        assert_eq!(search.unchanged_until, ts("2026-12-02T16:00:00Z"));
        store.settle_history(v, 2, KOLKATA, &search, now).await.unwrap();

        let soon = ts("2026-12-02T15:59:59Z");
        assert!(store.history_settled(v, 2, KOLKATA, soon).await.unwrap());
        let due = ts("2026-12-02T16:00:00Z");
        assert!(!store.history_settled(v, 2, KOLKATA, due).await.unwrap());
        let search = store.history_gaps_to_fill(v, 2, due, KOLKATA).await.unwrap();
        assert_eq!(search.gaps.len(), 1, "b's day is due again: {search:?}");
        assert_eq!(search.unchanged_until, ts("2026-12-02T18:30:00Z"));
        // Other settings, a clock set back before the search: search again.
        assert!(!store.history_settled(v, 3, KOLKATA, soon).await.unwrap());
        let utc = PlantZone::Named(chrono_tz::UTC);
        assert!(!store.history_settled(v, 2, utc, soon).await.unwrap());
        assert!(!store.history_settled(v, 2, KOLKATA, ts("2026-12-02T11:59:59Z")).await.unwrap());
        // A new plant has no history: search again.
        store.upsert_plants(v, vec![plant("c")], soon).await.unwrap();
        assert!(!store.history_settled(v, 2, KOLKATA, soon).await.unwrap());
        let search = store.history_gaps_to_fill(v, 2, soon, KOLKATA).await.unwrap();
        assert_eq!(search.gaps.len(), 1, "the new plant's days: {search:?}");
    }

    #[tokio::test]
    async fn a_plant_gone_or_back_makes_the_next_sync_search() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let now = ts("2026-12-01T12:00:00Z");
        store.upsert_plants(v, vec![plant("a"), plant("b")], now).await.unwrap();
        fill(&store, v, &["a", "b"]).await;
        let search = store.history_gaps_to_fill(v, 2, now, KOLKATA).await.unwrap();
        assert!(search.gaps.is_empty(), "{search:?}");
        store.settle_history(v, 2, KOLKATA, &search, now).await.unwrap();
        assert!(store.history_settled(v, 2, KOLKATA, now).await.unwrap());
        store.deactivate_plants_not_listed(v, vec!["a".into()]).await.unwrap();
        assert!(!store.history_settled(v, 2, KOLKATA, now).await.unwrap());
        // Listed again: the same active plants as the search saw, whose days it found
        // complete.
        store.upsert_plants(v, vec![plant("a"), plant("b")], now).await.unwrap();
        assert!(store.history_settled(v, 2, KOLKATA, now).await.unwrap());
        // One plant gone and a new one in its place: as many plants, not the same ones.
        store.upsert_plants(v, vec![plant("c")], now).await.unwrap();
        store.deactivate_plants_not_listed(v, vec!["a".into(), "c".into()]).await.unwrap();
        assert!(!store.history_settled(v, 2, KOLKATA, now).await.unwrap());
    }
}
