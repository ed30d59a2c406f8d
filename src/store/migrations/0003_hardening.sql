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
