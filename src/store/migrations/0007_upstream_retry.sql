
-- Step 7: the upstream push's retry state, so a stall is visible to `plantsync status`
-- whether or not the agent runs. One row: failed pushes in a row (0 after a success), the
-- last failure's message and time (kept after a later success, for "last error"), and the
-- agent's next automatic attempt while it backs off (NULL when none is planned).
CREATE TABLE IF NOT EXISTS upstream_retry (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    failures         INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_error       TEXT,
    last_error_at    TEXT,
    next_attempt_at  TEXT
);
INSERT OR IGNORE INTO upstream_retry (id) VALUES (1);
