-- Step 9: energy history. Daily rows are kept forever and pushed upstream like plants;
-- power samples are kept for a retention (`history.sample_retention_days`), pruned in small
-- batches after syncs, and stay local. (The step's code first lets the upstream tables name
-- `plant_days`: `store/migrate.rs`, `step_9`.)

-- One row per plant and plant-local day (the plant's zone, else the configured
-- `timezone`). `energy_kwh` is the day's energy: live rows keep the highest cumulative
-- value a sync saw that day (a late zero at night never lowers it), a backfilled row holds
-- the portal's own figure for the day. NULL means no value (a day with power readings only).
-- `source` says which (`domain::DaySource`); `revisions` counts how often a later portal
-- value differed from the stored one and replaced it. `last_reading_at` is the UTC time of
-- the latest reading that fed a live row, or when the portal's figure was fetched.
CREATE TABLE IF NOT EXISTS plant_days (
    id              INTEGER PRIMARY KEY,
    plant_id        INTEGER NOT NULL REFERENCES plants (id) ON DELETE CASCADE,
    day             TEXT    NOT NULL,   -- YYYY-MM-DD, plant-local
    energy_kwh      REAL,
    peak_power_kw   REAL,
    last_reading_at TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('live', 'backfill')),
    revisions       INTEGER NOT NULL DEFAULT 0 CHECK (revisions >= 0),
    -- Like every pushed table's: the change number of the row's last real change.
    change_seq      INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT    NOT NULL,
    UNIQUE (plant_id, day)
);
CREATE INDEX IF NOT EXISTS idx_plant_days_change_seq ON plant_days (change_seq);
CREATE INDEX IF NOT EXISTS idx_plant_days_day ON plant_days (day);

-- One row per plant and reading (the reading's time, UTC), for intraday curves.
CREATE TABLE IF NOT EXISTS power_samples (
    id        INTEGER PRIMARY KEY,
    plant_id  INTEGER NOT NULL REFERENCES plants (id) ON DELETE CASCADE,
    at        TEXT    NOT NULL,
    power_kw  REAL    NOT NULL,
    UNIQUE (plant_id, at)
);
CREATE INDEX IF NOT EXISTS idx_power_samples_at ON power_samples (at);

-- Past days the portal's history could not fill (`domain::GapState`), with the portal's
-- reason, so reports show why a gap stays a gap and the backfill does not ask again at
-- every sync. An entry is dropped once the day has a portal value.
CREATE TABLE IF NOT EXISTS history_gaps (
    plant_id       INTEGER NOT NULL REFERENCES plants (id) ON DELETE CASCADE,
    day            TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('no_data', 'unfillable')),
    reason         TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    last_tried_at  TEXT    NOT NULL,
    PRIMARY KEY (plant_id, day)
) WITHOUT ROWID;

-- The daily rows are pushed upstream from change 0.
INSERT OR IGNORE INTO upstream_watermarks (table_name) VALUES ('plant_days');
