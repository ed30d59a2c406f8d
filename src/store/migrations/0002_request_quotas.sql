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
    PRIMARY KEY (key_hash, day)
);
