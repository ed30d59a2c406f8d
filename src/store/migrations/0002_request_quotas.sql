-- Step 2: daily request quotas of portals that count calls per key (SolarEdge: 300 a day
-- per API key). One row per vendor; rows of vendors that share a key are summed, because
-- the portal counts per key. `key_hash` is a SHA-256 prefix of the key, never the key.
CREATE TABLE IF NOT EXISTS request_quotas (
    vendor_id    INTEGER PRIMARY KEY REFERENCES vendors (id) ON DELETE CASCADE,
    key_hash     TEXT    NOT NULL,
    day          TEXT    NOT NULL,   -- the UTC date the count belongs to, YYYY-MM-DD
    used         INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    daily_limit  INTEGER NOT NULL CHECK (daily_limit > 0),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_request_quotas_key ON request_quotas (key_hash, day);
