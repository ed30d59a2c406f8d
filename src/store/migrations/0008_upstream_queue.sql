-- Step 8: what the upstream push must not lose beside the rows themselves.

-- Rows the central database refused for what they hold (a constraint, a value out of
-- range): set aside so the queue goes on past them, shown by `plantsync upstream rejected`
-- and sent again by `plantsync push --retry-rejected`. One entry per local row: `seq` is
-- the change number of the version refused; a later version of the row is pushed as any
-- change is, and its entry is dropped once that version is confirmed.
CREATE TABLE IF NOT EXISTS upstream_rejected (
    table_name   TEXT    NOT NULL
                 CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs')),
    row_id       INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    key_json     TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    rejected_at  TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    PRIMARY KEY (table_name, row_id)
);

-- Rows deleted at the site (an organization, a vendor with its plants and alerts), queued
-- for the central database to mark them deleted; an entry is removed once it is confirmed.
-- `change_seq` is the deletion's own change number: the version it carries, so a newer
-- central row (an id the site has since reused) is never marked.
CREATE TABLE IF NOT EXISTS upstream_deletions (
    change_seq  INTEGER PRIMARY KEY,
    table_name  TEXT    NOT NULL
                CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs')),
    key_json    TEXT    NOT NULL,
    deleted_at  TEXT    NOT NULL
);

-- The last receipt: after a push, the central count and checksum of this agent's rows per
-- table, compared with the store's (`tables_json`: one entry per table).
CREATE TABLE IF NOT EXISTS upstream_last_receipt (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  TEXT    NOT NULL,
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    tables_json TEXT    NOT NULL
);

-- When the central database last held every change: the start of the last push that
-- completed (every table read to its end, every batch confirmed or set aside, nothing
-- found missing by its receipt). Every change committed before it is central.
CREATE TABLE IF NOT EXISTS upstream_caught_up (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  TEXT    NOT NULL
);
