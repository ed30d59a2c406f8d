-- plantsync local store: the single source of the schema.
--
-- Applied by `store::migrate` as migration step 1 (`PRAGMA user_version = 1`).
-- A later change is a new numbered step in `src/store/migrate.rs`; this file is never edited
-- once shipped, except to append what the new steps create, so a fresh database and an
-- upgraded one end up identical.
--
-- Conventions
-- * Times are UTC text in ISO-8601 with milliseconds and a `Z` suffix, for example
--   `2026-11-29T13:05:00.000Z`. They sort lexicographically, `sqlite3` shows them readably,
--   and `strftime('%Y-%m-%dT%H:%M:%fZ','now')` produces the same shape inside SQL.
-- * Booleans are INTEGER 0/1 with a CHECK.
-- * `change_seq` is stamped by the store (never by triggers) from `change_counter` on every
--   insert or real change of a row, so the upstream push can ask "what changed after N".
--   An upsert that changes nothing leaves `change_seq` and `updated_at` alone.

CREATE TABLE IF NOT EXISTS change_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO change_counter (id, value) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS organizations (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    auto_sync_enabled     INTEGER NOT NULL DEFAULT 1 CHECK (auto_sync_enabled IN (0, 1)),
    sync_interval_minutes INTEGER NOT NULL DEFAULT 15
                          CHECK (sync_interval_minutes BETWEEN 1 AND 1440),
    change_seq            INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One monitoring-portal account. A vendor without an organization is never synced
-- automatically (the original system's rule) but can be synced by hand once it has one.
CREATE TABLE IF NOT EXISTS vendors (
    id                     INTEGER PRIMARY KEY,
    name                   TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    kind                   TEXT    NOT NULL
                           CHECK (kind IN ('solarman', 'sungrow', 'solaredge', 'huawei', 'growatt')),
    org_id                 INTEGER REFERENCES organizations (id) ON DELETE SET NULL,
    base_url               TEXT,
    is_active              INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_synced_at         TEXT,
    last_alerts_synced_at  TEXT,
    last_error             TEXT,      -- of the last failed plant sync, cleared on success
    consecutive_failures   INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_alerts_error      TEXT,      -- the same two for alert syncs, kept apart so one kind's
    alerts_consecutive_failures INTEGER NOT NULL DEFAULT 0   -- success never hides the other's failures
                           CHECK (alerts_consecutive_failures >= 0),
    -- Set when the vendor rejected the credentials: nothing logs in again until they change,
    -- so plantsync can never lock an account out.
    needs_user_action      INTEGER NOT NULL DEFAULT 0 CHECK (needs_user_action IN (0, 1)),
    change_seq             INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_vendors_org ON vendors (org_id);

-- Credentials live apart from `vendors` so that no listing query can read them by accident:
-- only `store::vendors::credentials` selects from this table.
CREATE TABLE IF NOT EXISTS vendor_credentials (
    vendor_id   INTEGER PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    username    TEXT,   -- Solarman username/email, Sungrow account, FusionSolar userName
    password    TEXT,   -- Solarman/Sungrow password, FusionSolar systemCode
    app_id      TEXT,   -- Solarman appId, Sungrow appkey
    app_secret  TEXT,   -- Solarman appSecret, Sungrow secret key (x-access-key)
    api_key     TEXT,   -- SolarEdge api_key, Growatt token
    company_id  TEXT,   -- Solarman business orgId (optional)
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Step 4: NULL when the secret fields (password, app_secret, api_key) are the columns
    -- above; else they are NULL and this lists, comma-separated, the fields the OS keyring
    -- holds for the vendor ('' when none is set). See `src/secrets`.
    keyring_fields       TEXT,
    -- Step 4: the SHA-256 prefix of api_key (`quotas::key_hash`), never the key, so quota
    -- lookups need no secret wherever the key is kept.
    api_key_fingerprint  TEXT
);

CREATE TABLE IF NOT EXISTS vendor_tokens (
    vendor_id      INTEGER PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    access_token   TEXT NOT NULL,
    refresh_token  TEXT,
    expires_at     TEXT,
    metadata       TEXT NOT NULL DEFAULT '{}',   -- JSON, e.g. {"expires_in":..., "stored_at":...}
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Step 4: 1 when the token's values are an OS keyring entry (access_token is then '' and
    -- refresh_token NULL here).
    in_keyring     INTEGER NOT NULL DEFAULT 0 CHECK (in_keyring IN (0, 1))
);

CREATE TABLE IF NOT EXISTS plants (
    id                INTEGER PRIMARY KEY,
    vendor_id         INTEGER NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    org_id            INTEGER REFERENCES organizations (id) ON DELETE SET NULL,
    vendor_plant_id   TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    capacity_kw       REAL,
    address           TEXT,
    latitude          REAL,
    longitude         REAL,
    timezone          TEXT,   -- IANA zone when the vendor gives one
    network_status    TEXT,
    current_power_kw  REAL,
    daily_energy_kwh  REAL,
    total_energy_kwh  REAL,
    vendor_updated_at TEXT,   -- the vendor's own "last update" time, in UTC
    last_refreshed_at TEXT,   -- when plantsync last saw this plant in the vendor's listing
    is_active         INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    raw_json          TEXT,   -- the vendor's record as received, for re-parsing
    change_seq        INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Step 3: the normalized status beside the vendor's own word (`network_status`), one of
    -- online, partial, offline, fault, unknown (`domain::PlantStatus`, mapped by each
    -- adapter). No CHECK here: on this table, the hottest of every sync, one more CHECK made
    -- each upsert cost 1.5 µs (inserts) to 2.7 µs (updates) more CPU, about half again
    -- (`benches/store_upsert.rs`); the store only writes the enum's own spellings and
    -- refuses any other on reading. No index either: `--status` scans, like `--search`.
    status            TEXT    NOT NULL DEFAULT 'unknown',
    -- Step 11: today's live values of the energy history (`store/history.rs`, "The live
    -- slot"): the plant-local day of the latest reading, the day's highest energy and power
    -- and its latest reading time, merged by the plant's own upsert at every sync. Readers
    -- fold the slot into `plant_days`; it is copied into `plant_days` (by the same merge)
    -- before a push, a bundle or a backfill reads the days. `prev_*` holds the slot a reading
    -- of another day replaced, until the same transaction copies it into `plant_days` and
    -- clears it: outside a transaction it is always NULL.
    live_day          TEXT,
    live_energy_kwh   REAL,
    live_peak_kw      REAL,
    live_reading_at   TEXT,
    prev_day          TEXT,
    prev_energy_kwh   REAL,
    prev_peak_kw      REAL,
    prev_reading_at   TEXT,
    UNIQUE (vendor_id, vendor_plant_id)
);
CREATE INDEX IF NOT EXISTS idx_plants_org_name ON plants (org_id, name);
CREATE INDEX IF NOT EXISTS idx_plants_vendor_name ON plants (vendor_id, name);
CREATE INDEX IF NOT EXISTS idx_plants_name ON plants (name);
CREATE INDEX IF NOT EXISTS idx_plants_change_seq ON plants (change_seq);
-- Step 11: the replaced slots a batch must still copy (partial: an upsert that leaves
-- `prev_day` NULL, every one but a plant's first of a day, does no work on it).
CREATE INDEX IF NOT EXISTS idx_plants_prev_day ON plants (prev_day) WHERE prev_day IS NOT NULL;

CREATE TABLE IF NOT EXISTS alerts (
    id                INTEGER PRIMARY KEY,
    vendor_id         INTEGER NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    -- Vendors identify alert types, not occurrences; the sync builds a stable occurrence key
    -- (for example `ps_id|ps_key|fault_code|create_time` for Sungrow).
    vendor_alert_key  TEXT    NOT NULL,
    plant_id          INTEGER REFERENCES plants (id) ON DELETE CASCADE,
    device_sn         TEXT,
    severity          TEXT    NOT NULL DEFAULT 'MEDIUM'
                      CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    status            TEXT    NOT NULL DEFAULT 'ACTIVE'
                      CHECK (status IN ('ACTIVE', 'RESOLVED', 'ACKNOWLEDGED')),
    code              TEXT,
    title             TEXT    NOT NULL,
    description       TEXT,
    started_at        TEXT,
    ended_at          TEXT,
    raw_json          TEXT,
    change_seq        INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (vendor_id, vendor_alert_key)
);
CREATE INDEX IF NOT EXISTS idx_alerts_plant_started ON alerts (plant_id, started_at);
CREATE INDEX IF NOT EXISTS idx_alerts_started ON alerts (started_at);
CREATE INDEX IF NOT EXISTS idx_alerts_status ON alerts (status, severity);
CREATE INDEX IF NOT EXISTS idx_alerts_change_seq ON alerts (change_seq);

-- One row per sync run, whatever started it. `summary_json` keeps the original system's
-- summary shape (totalVendors, successful, failed, ..., results[]).
CREATE TABLE IF NOT EXISTS sync_runs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('plants', 'alerts')),
    source        TEXT NOT NULL CHECK (source IN ('user', 'cron', 'system', 'api', 'tray')),
    status        TEXT NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'ok', 'partial', 'failed', 'skipped', 'interrupted')),
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at   TEXT,
    message       TEXT,
    summary_json  TEXT,
    change_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_sync_runs_kind_started ON sync_runs (kind, started_at);

CREATE TABLE IF NOT EXISTS sync_run_vendors (
    run_id       INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    vendor_id    INTEGER NOT NULL,   -- no FK: a run's history outlives a removed vendor
    vendor_name  TEXT    NOT NULL,
    org_id       INTEGER,
    org_name     TEXT,
    success      INTEGER NOT NULL CHECK (success IN (0, 1)),
    synced       INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL DEFAULT 0,
    updated      INTEGER NOT NULL DEFAULT 0,
    unchanged    INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, vendor_id)
);
CREATE INDEX IF NOT EXISTS idx_sync_run_vendors_vendor ON sync_run_vendors (vendor_id);

-- Step 2: daily request quotas of portals that count calls per API key (SolarEdge: 300 a
-- day). Keyed by the key, not the vendor: changing a vendor's key, or removing and adding
-- the vendor again, never hands the portal's own count a fresh start, and vendors that
-- share a key share its count. `key_hash` is a SHA-256 prefix of the key, never the key.
CREATE TABLE IF NOT EXISTS request_quotas (
    key_hash     TEXT    NOT NULL,
    day          TEXT    NOT NULL,   -- the UTC date the count belongs to, YYYY-MM-DD
    used         INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    daily_limit  INTEGER NOT NULL CHECK (daily_limit > 0),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Step 3: what the portal said when it refused the key for the day (HTTP 429); set
    -- together with `used = daily_limit`, so nothing is asked again before the day ends.
    portal_said  TEXT,
    PRIMARY KEY (key_hash, day)
);

-- Step 3: what plantsync learns about an account, call pacing that outlives one process,
-- the re-probe of refused static keys and unique vendor names within an organization.
-- The two new columns (`plants.status`, `request_quotas.portal_said`) and the renaming of
-- duplicate vendor names are done by `migrate::step_3` before this batch runs.

-- Facts about a portal account believed for a while (`vendors::AccountFact`): a key without
-- v2 access, a Growatt plant whose zone was already asked. Kept in the store so a CLI sync
-- does not ask the portal again what the agent learnt an hour ago.
CREATE TABLE IF NOT EXISTS account_facts (
    vendor_id  INTEGER NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    fact       TEXT    NOT NULL,   -- the fact's stable key, e.g. 'growatt_plant_without_zone:42'
    until      TEXT    NOT NULL,   -- UTC time after which the portal is asked again
    PRIMARY KEY (vendor_id, fact)
);

-- When an endpoint of a portal account was last called, for portals that enforce a minimum
-- interval per account and endpoint (FusionSolar `407`). `account_hash` is a SHA-256 prefix
-- of the account's login (never the login), so vendors sharing an account share the pace.
CREATE TABLE IF NOT EXISTS endpoint_calls (
    account_hash    TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    last_called_at  TEXT NOT NULL,
    PRIMARY KEY (account_hash, endpoint)
);

-- A static key (SolarEdge api_key, Growatt token) the portal refused. It cannot lock an
-- account, so it is probed again with one call at a growing backoff; the row is removed when
-- the key works again or is changed.
CREATE TABLE IF NOT EXISTS key_probes (
    vendor_id      INTEGER PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    refusals       INTEGER NOT NULL DEFAULT 1 CHECK (refusals >= 1),
    next_probe_at  TEXT    NOT NULL
);

-- Vendor names are unique within an organization, as organization names are unique.
-- Vendors without an organization are not constrained here (deleting an organization sets
-- their `org_id` to NULL and must not fail); the store checks names when they are assigned.
CREATE UNIQUE INDEX IF NOT EXISTS idx_vendors_org_name ON vendors (org_id, name)
    WHERE org_id IS NOT NULL;

-- Step 4: the install's identity and where it keeps vendor secrets (`src/secrets`). The
-- columns `vendor_credentials.keyring_fields`, `vendor_credentials.api_key_fingerprint` and
-- `vendor_tokens.in_keyring` are added by `migrate::step_4` before this batch runs.

-- One row. `install_id` names this install's OS keyring entries (a copy of the database
-- keeps it). `secrets_store` is NULL until the first read-write open chooses it (or the
-- upgrade of a database whose secrets were already in the file sets 'file').
CREATE TABLE IF NOT EXISTS install (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    install_id         TEXT    NOT NULL,
    secrets_store      TEXT    CHECK (secrets_store IN ('keyring', 'file')),
    secrets_chosen     TEXT    CHECK (secrets_chosen IN ('auto', 'config', 'moved', 'upgrade')),
    secrets_chosen_at  TEXT,
    secrets_note       TEXT    -- why the probe chose the file, in words
);
INSERT OR IGNORE INTO install (id, install_id) VALUES (1, lower(hex(randomblob(16))));

-- Step 6: what the upstream push (`src/upstream`) has delivered. The agent id it pushes
-- under is `install.install_id` (step 4): one random identity per install, already kept.

-- One row per pushed table: every row of it with `change_seq <= acknowledged_seq` has been
-- confirmed by the central database. Only raised (never lowered) and only after the
-- upstream confirmed a batch, so a push that fails half-way sends the rest next time.
CREATE TABLE IF NOT EXISTS upstream_watermarks (
    table_name       TEXT    PRIMARY KEY
                     CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs', 'plant_days')),
    acknowledged_seq INTEGER NOT NULL DEFAULT 0 CHECK (acknowledged_seq >= 0),
    acknowledged_at  TEXT
);
INSERT OR IGNORE INTO upstream_watermarks (table_name) VALUES
    ('organizations'), ('vendors'), ('plants'), ('alerts'), ('sync_runs'), ('plant_days');

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

-- Step 8: what the upstream push must not lose beside the rows themselves.

-- Rows the central database refused for what they hold (a constraint, a value out of
-- range): set aside so the queue goes on past them, shown by `plantsync upstream rejected`
-- and sent again by `plantsync push --retry-rejected`. One entry per local row: `seq` is
-- the change number of the version refused; a later version of the row is pushed as any
-- change is, and its entry is dropped once that version is confirmed.
CREATE TABLE IF NOT EXISTS upstream_rejected (
    table_name   TEXT    NOT NULL
                 CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs', 'plant_days')),
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
                CHECK (table_name IN ('organizations', 'vendors', 'plants', 'alerts', 'sync_runs', 'plant_days')),
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

-- One row per plant and reading (the reading's time, UTC), for intraday curves. Keyed by
-- time first (step 10; step 9 had a row id, a (plant_id, at) key and an index on `at`): a
-- sync's samples then go to the end of one B-tree instead of one page per plant, and old
-- ones are pruned from its start. A plant's curve reads the day's rows of every plant. No
-- foreign key: with no index led by `plant_id`, a cascade would scan the table once per
-- deleted plant; `Store::remove_vendor` deletes its plants' samples in one pass.
CREATE TABLE IF NOT EXISTS power_samples (
    plant_id  INTEGER NOT NULL,
    at        TEXT    NOT NULL,
    power_kw  REAL    NOT NULL,
    PRIMARY KEY (at, plant_id)
) WITHOUT ROWID;

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
