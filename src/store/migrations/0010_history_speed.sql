-- Step 10: what a sync that writes history costs, measured with `benches/history.sh` (see
-- docs/architecture.md, "Energy history").
--
-- 1. `power_samples` is keyed by time first (the table is rebuilt by `migrate::step_10`
--    before this batch when it still has step 9's shape). Step 9 kept a row id, a unique
--    (plant_id, at) index and an index on `at`: every sync added an entry at the end of each
--    plant's range, one page per plant once a plant had a day of samples, and with 10,000
--    plants that made the history cost 3x the plants' own upsert. Keyed (at, plant_id), a
--    sync's samples go to the end of one B-tree, and pruning deletes from its start. The
--    index on `at` is no longer needed, nor the foreign key: with no index led by
--    `plant_id` its cascade would scan the table once per deleted plant, so
--    `Store::remove_vendor` deletes a vendor's samples itself, in one pass.
DROP INDEX IF EXISTS idx_power_samples_at;

-- 2. When a vendor's history gap search next has anything to find. The search reads every
--    active plant's last N days (`store/history.rs`, `gaps_to_fill`): at a 15-minute sync
--    cadence that is the dearest part of a sync that writes history, and its answer changes
--    only at a few known times. A search that found nothing to ask notes here until when its
--    answer cannot change by time alone (the earliest next local midnight of the vendor's
--    plants, a portal figure turning final, a resting gap due again), and what the answer
--    depended on: the settings and the vendor's active plants. Syncs before that time skip
--    the search (`Store::history_settled`); a new plant (which drops the note), a plant
--    removed or reactivated (told by the number of active plants and the sum of their ids),
--    another setting, or a clock set back before the search make the next sync search
--    again. Local only: never pushed upstream.
CREATE TABLE IF NOT EXISTS history_settled (
    vendor_id      INTEGER PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    backfill_days  INTEGER NOT NULL,
    zone           TEXT    NOT NULL,   -- the configured zone of plants without their own
    active_plants  INTEGER NOT NULL,
    active_ids_sum INTEGER NOT NULL,   -- with the count, tells a swapped plant apart
    searched_at    TEXT    NOT NULL,
    until          TEXT    NOT NULL
);
