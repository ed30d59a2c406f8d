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
