-- Step 6: what the upstream push (`src/upstream`) has delivered. The agent id it pushes
-- under is `install.install_id` (step 4): one random identity per install, already kept.

-- One row per pushed table: every row of it with `change_seq <= acknowledged_seq` has been
-- confirmed by the central database. Only raised (never lowered) and only after the
-- upstream confirmed a batch, so a push that fails half-way sends the rest next time.
CREATE TABLE IF NOT EXISTS upstream_watermarks (
    table_name       TEXT    PRIMARY KEY
                     CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs')),
    acknowledged_seq INTEGER NOT NULL DEFAULT 0 CHECK (acknowledged_seq >= 0),
    acknowledged_at  TEXT
);
INSERT OR IGNORE INTO upstream_watermarks (table_name) VALUES
    ('organizations'), ('vendors'), ('plants'), ('alerts'), ('sync_runs');

-- The last push and its result, for `plantsync status`. `error` is plantsync's own message
-- (it never holds the upstream URL's password).
CREATE TABLE IF NOT EXISTS upstream_last_push (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    started_at   TEXT    NOT NULL,
    finished_at  TEXT    NOT NULL,
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    rows_sent    INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);

-- The pending count of a table reads `change_seq > N`; runs grow by one every sync.
CREATE INDEX IF NOT EXISTS idx_sync_runs_change_seq ON sync_runs (change_seq);
