//! Versioned migrations keyed on `PRAGMA user_version`.
//!
//! Step 1 is `schema.sql`. A schema change is a new entry appended to [`STEPS`]; a shipped
//! step is never edited, so every database walks the same path to the same schema.

use super::{Result, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

/// One migration step.
enum Step {
    /// A batch of SQL, idempotent on a fresh database (`IF NOT EXISTS`).
    Sql(&'static str),
    /// Work SQL alone cannot make idempotent (adding a column, renaming rows and saying so),
    /// followed by its batch. Returns what the user should be told.
    Code(fn(&Transaction<'_>) -> Result<Vec<String>>),
}

/// The migration steps, in order; step `i` moves `user_version` from `i` to `i + 1`.
/// Step 1 is the whole of `schema.sql`, which also carries what later steps create (with
/// `IF NOT EXISTS`, or as columns a later step adds only when missing), so a fresh database
/// runs them as no-ops and ends with the same tables, columns and indexes as an upgraded one.
const STEPS: &[Step] = &[
    Step::Sql(include_str!("../../schema.sql")),
    Step::Sql(include_str!("migrations/0002_request_quotas.sql")),
    Step::Code(step_3),
    Step::Code(step_4),
    Step::Code(super::cleanup::step_5),
    Step::Sql(include_str!("migrations/0006_upstream.sql")),
    Step::Sql(include_str!("migrations/0007_upstream_retry.sql")),
    Step::Sql(include_str!("migrations/0008_upstream_queue.sql")),
    Step::Code(step_9),
    Step::Code(step_10),
    Step::Code(step_11),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = STEPS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; a no-op when it is already there.
/// Returns the notices a step left for the user (vendors renamed), already logged.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<Vec<String>> {
    if user_version(conn)? == SCHEMA_VERSION {
        return Ok(Vec::new());
    }
    // IMMEDIATE takes the write lock first, so two processes starting together cannot both
    // apply the same step; the version is read again under the lock.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let mut notices = Vec::new();
    for (index, step) in STEPS.iter().enumerate().skip(found.max(0) as usize) {
        match step {
            Step::Sql(batch) => tx.execute_batch(batch)?,
            Step::Code(run) => notices.extend(run(&tx)?),
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    for notice in &notices {
        tracing::warn!("{notice}");
    }
    Ok(notices)
}

/// Step 3: the normalized plant status, the portal's word on a spent quota, unique vendor
/// names within an organization, and the tables of `0003_hardening.sql`.
fn step_3(tx: &Transaction<'_>) -> Result<Vec<String>> {
    add_column_if_missing(
        tx,
        "plants",
        "status",
        // As `schema.sql` writes it (no CHECK: see there).
        "TEXT NOT NULL DEFAULT 'unknown'",
    )?;
    add_column_if_missing(tx, "request_quotas", "portal_said", "TEXT")?;
    let notices = rename_duplicate_vendor_names(tx)?;
    tx.execute_batch(include_str!("migrations/0003_hardening.sql"))?;
    Ok(notices)
}

/// Step 4: where secrets are kept (`src/secrets`). Existing rows keep their secrets in
/// the file (`keyring_fields` NULL) and get the fingerprint of their API key; a database
/// that already holds credentials records the file as its store, since that is where they
/// are (moving them is `plantsync secrets move --to keyring`).
fn step_4(tx: &Transaction<'_>) -> Result<Vec<String>> {
    add_column_if_missing(tx, "vendor_credentials", "keyring_fields", "TEXT")?;
    add_column_if_missing(tx, "vendor_credentials", "api_key_fingerprint", "TEXT")?;
    add_column_if_missing(
        tx,
        "vendor_tokens",
        "in_keyring",
        "INTEGER NOT NULL DEFAULT 0 CHECK (in_keyring IN (0, 1))",
    )?;
    tx.execute_batch(include_str!("migrations/0004_secrets.sql"))?;
    let keys = {
        let mut stmt = tx.prepare(
            "SELECT vendor_id, api_key FROM vendor_credentials
             WHERE api_key IS NOT NULL AND api_key_fingerprint IS NULL",
        )?;
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?
    };
    for (vendor, key) in keys {
        tx.execute(
            "UPDATE vendor_credentials SET api_key_fingerprint = ?1 WHERE vendor_id = ?2",
            rusqlite::params![super::quotas::key_hash(&key), vendor],
        )?;
    }
    tx.execute(
        "UPDATE install SET secrets_store = 'file', secrets_chosen = 'upgrade',
                secrets_chosen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE secrets_store IS NULL AND EXISTS (SELECT 1 FROM vendor_credentials)",
        [],
    )?;
    Ok(Vec::new())
}

/// `ALTER TABLE .. ADD COLUMN` unless the table has the column already (a fresh database
/// got it from `schema.sql`).
/// The upstream tables that name the pushed tables in a CHECK (steps 6 and 8).
const UPSTREAM_NAMED_TABLES: [&str; 3] =
    ["upstream_watermarks", "upstream_rejected", "upstream_deletions"];

/// Step 9: the energy history (`0009_history.sql`). Its daily rows are pushed upstream, so
/// the upstream tables that list the pushed tables in a CHECK must accept `plant_days`:
/// SQLite cannot change a CHECK, so each such table is rebuilt with the same definition
/// plus that name, its rows copied (a table that already names it, as `schema.sql` makes
/// them, is left alone).
fn step_9(tx: &Transaction<'_>) -> Result<Vec<String>> {
    const LISTED: &str = "'alerts', 'sync_runs')";
    for table in UPSTREAM_NAMED_TABLES {
        let sql: String = tx.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        if sql.contains("'plant_days'") {
            continue;
        }
        if !sql.contains(LISTED) {
            return Err(StoreError::Corrupt {
                column: format!("{table} (schema)"),
                detail: "its CHECK of table names is not the one steps 6 and 8 wrote".into(),
            });
        }
        let rebuilt = sql.replacen(LISTED, "'alerts', 'sync_runs', 'plant_days')", 1).replacen(
            &format!("CREATE TABLE {table}"),
            &format!("CREATE TABLE {table}_step9"),
            1,
        );
        tx.execute_batch(&format!(
            "{rebuilt};
             INSERT INTO {table}_step9 SELECT * FROM {table};
             DROP TABLE {table};
             ALTER TABLE {table}_step9 RENAME TO {table};"
        ))?;
    }
    tx.execute_batch(include_str!("migrations/0009_history.sql"))?;
    Ok(Vec::new())
}

/// Step 10: the power samples keyed by time, without a foreign key (`0010_history_speed.sql`
/// says why). A table still in step 9's shape is rebuilt in time order, its rows copied
/// (said once, with how many); one that has the new key (a fresh database, from
/// `schema.sql`) is left alone. Then the batch.
fn step_10(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let sql: String = tx.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'power_samples'",
        [],
        |r| r.get(0),
    )?;
    let mut notices = Vec::new();
    if !sql.contains("WITHOUT ROWID") {
        let rows: i64 = tx.query_row("SELECT count(*) FROM power_samples", [], |r| r.get(0))?;
        if rows > 0 {
            tracing::info!(
                samples = rows,
                "re-keying the power samples by time (once; a large store takes a while)"
            );
            notices.push(format!(
                "the {rows} power samples are now keyed by time (the file keeps its size: \
                 `sqlite3 FILE VACUUM` returns the freed pages while no plantsync runs)"
            ));
        }
        tx.execute_batch(
            "CREATE TABLE power_samples_step10 (
                 plant_id  INTEGER NOT NULL,
                 at        TEXT    NOT NULL,
                 power_kw  REAL    NOT NULL,
                 PRIMARY KEY (at, plant_id)
             ) WITHOUT ROWID;
             INSERT INTO power_samples_step10 (plant_id, at, power_kw)
                 SELECT plant_id, at, power_kw FROM power_samples ORDER BY at, plant_id;
             DROP TABLE power_samples;
             ALTER TABLE power_samples_step10 RENAME TO power_samples;",
        )?;
    }
    tx.execute_batch(include_str!("migrations/0010_history_speed.sql"))?;
    Ok(notices)
}

/// The columns step 11 adds to `plants`, with their types.
const SLOT_COLUMNS: [(&str, &str); 8] = [
    ("live_day", "TEXT"),
    ("live_energy_kwh", "REAL"),
    ("live_peak_kw", "REAL"),
    ("live_reading_at", "TEXT"),
    ("prev_day", "TEXT"),
    ("prev_energy_kwh", "REAL"),
    ("prev_peak_kw", "REAL"),
    ("prev_reading_at", "TEXT"),
];

/// Step 11: the live slot of the energy history on `plants` (`schema.sql` says what each
/// column holds; `store/history.rs`, "The live slot", why): eight columns added where
/// missing, and the partial index of the replaced slots. The rows' slots start empty: the
/// days synced before stay in `plant_days`, where they already are.
fn step_11(tx: &Transaction<'_>) -> Result<Vec<String>> {
    for (column, definition) in SLOT_COLUMNS {
        add_column_if_missing(tx, "plants", column, definition)?;
    }
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS idx_plants_prev_day ON plants (prev_day) WHERE prev_day IS NOT NULL;",
    )?;
    Ok(Vec::new())
}

fn add_column_if_missing(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<()> {
    let exists: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get(0),
    )?;
    if !exists {
        tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))?;
    }
    Ok(())
}

/// Gives every vendor whose name repeats an earlier vendor's name in the same organization
/// a free name, ` (<id>)` (or ` (<id>-2)`, ... when the organization already has that one),
/// so the unique index can be created; says which were renamed.
fn rename_duplicate_vendor_names(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut stmt = tx.prepare(
        "SELECT v.id, v.org_id, v.name, o.name FROM vendors v JOIN organizations o ON o.id = v.org_id
         WHERE EXISTS (SELECT 1 FROM vendors w
                       WHERE w.org_id = v.org_id AND w.name = v.name AND w.id < v.id)
         ORDER BY v.id",
    )?;
    let duplicates = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
        .collect::<Result<Vec<(i64, i64, String, String)>, _>>()?;
    let mut taken =
        tx.prepare("SELECT count(*) > 0 FROM vendors WHERE org_id = ?1 AND name = ?2")?;
    let mut notices = Vec::new();
    for (id, org_id, name, org) in duplicates {
        // Each rename is written before the next is chosen, so two renames never collide.
        let mut renamed = format!("{name} ({id})");
        for n in 2.. {
            let in_use: bool =
                taken.query_row(rusqlite::params![org_id, renamed], |row| row.get(0))?;
            if !in_use {
                break;
            }
            renamed = format!("{name} ({id}-{n})");
        }
        tx.execute("UPDATE vendors SET name = ?1 WHERE id = ?2", rusqlite::params![renamed, id])?;
        notices.push(format!(
            "vendor {id} was renamed from '{name}' to '{renamed}': vendor names are now unique \
             within an organization, and an earlier vendor of '{org}' is named '{name}'"
        ));
    }
    Ok(notices)
}

/// The schema version a database is at (`PRAGMA user_version`).
pub(super) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // inspects the file behind the store's back
mod tests {
    use super::*;
    use crate::store::Store;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn empty_file_gets_the_whole_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let names = tables(&conn);
        for table in
            ["organizations", "vendors", "vendor_credentials", "vendor_tokens", "plants", "alerts"]
        {
            assert!(names.iter().any(|n| n == table), "{table} missing from {names:?}");
        }
    }

    /// Tables with their columns (name, type, not null, default, key) and the indexes with
    /// their SQL: what a fresh and an upgraded database must agree on. (The tables' own SQL
    /// text differs: `ALTER TABLE` appends a column where `schema.sql` writes it.)
    fn shape_of(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' '
                        || ifnull(c.dflt_value, '-') || ' ' || c.pk
                 FROM sqlite_master m JOIN pragma_table_info(m.name) c
                 WHERE m.type = 'table' ORDER BY m.name, c.cid",
            )
            .unwrap();
        let mut shape: Vec<String> =
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let mut stmt = conn
            .prepare("SELECT name || ': ' || ifnull(sql, '') FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .unwrap();
        shape.extend(stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap));
        shape
    }

    /// A database as version 1 left it: step 1 of that time, without what later steps added.
    fn version_1_database(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(include_str!("migrations/testdata/schema_v2.sql")).unwrap();
        conn.execute_batch("DROP TABLE request_quotas; PRAGMA user_version = 1;").unwrap();
        conn
    }

    #[test]
    fn version_1_database_upgrades_to_the_fresh_schema_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        let old = dir.path().join("old.db");
        {
            let conn = version_1_database(&old);
            conn.execute("INSERT INTO organizations (name) VALUES ('Kept')", []).unwrap();
            conn.execute("INSERT INTO vendors (name, kind) VALUES ('v', 'solarman')", []).unwrap();
            conn.execute(
                "INSERT INTO plants (vendor_id, vendor_plant_id, name) VALUES (1, 'p', 'P')",
                [],
            )
            .unwrap();
        }
        drop(Store::open(&old).unwrap());
        assert_eq!(shape_of(&old), shape_of(&fresh));
        let conn = Connection::open(&old).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let kept: String =
            conn.query_row("SELECT name FROM organizations", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "Kept");
        let status: String = conn.query_row("SELECT status FROM plants", [], |r| r.get(0)).unwrap();
        assert_eq!(status, "unknown", "an old plant has no normalized status until it syncs");
    }

    /// A database as version 3 left it: version 1 walked through steps 2 and 3.
    fn version_3_database(path: &Path) -> Connection {
        let mut conn = version_1_database(path);
        let tx = conn.transaction().unwrap();
        for step in &STEPS[1..3] {
            match step {
                Step::Sql(batch) => tx.execute_batch(batch).unwrap(),
                Step::Code(run) => drop(run(&tx).unwrap()),
            }
        }
        tx.pragma_update(None, "user_version", 3).unwrap();
        tx.commit().unwrap();
        conn
    }

    /// Version 4 left what earlier syncs stored from hostile or misread replies: step 5
    /// clears the impossible values, unmakes made-up words and rekeys misread alerts.
    #[tokio::test]
    async fn version_4_database_is_cleaned_of_what_no_portal_meant() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        {
            let mut conn = version_3_database(&old);
            let tx = conn.transaction().unwrap();
            let Step::Code(run) = &STEPS[3] else { panic!("step 4 is code") };
            drop(run(&tx).unwrap());
            tx.pragma_update(None, "user_version", 4).unwrap();
            tx.commit().unwrap();
            conn.execute_batch(
                "INSERT INTO vendors (id, name, kind) VALUES (1, 'Fusion', 'huawei'),
                     (2, 'Man', 'solarman'), (3, 'Gro', 'growatt'), (4, 'Sun', 'sungrow');
                 INSERT INTO plants (vendor_id, vendor_plant_id, name, capacity_kw, latitude,
                     longitude, current_power_kw, daily_energy_kwh, total_energy_kwh,
                     vendor_updated_at, network_status)
                 VALUES (1, 'NE=1', 'Bad', 1e308, 123.5, 1.8e19, -50.0, -1.0, 1e308,
                         '+58887-01-01T00:00:00.000Z', 'STATE_7'),
                        (2, '895', 'Good', 5.0, 9.05, 7.52, 0.0, 12.5, 1000.0,
                         '2024-10-31T15:18:17.000Z', 'NORMAL'),
                        (3, '24765', 'Zero', 0.0, NULL, NULL, NULL, NULL, NULL, NULL, 'STATUS_9'),
                        (4, '700669565', 'Sun', 4.0, NULL, NULL, NULL, NULL, NULL,
                         '1970-01-01T00:00:01.000Z', 'PS_STATUS_7');
                 INSERT INTO alerts (vendor_id, vendor_alert_key, severity, status, title, started_at, ended_at)
                 VALUES (1, 'NE=1|E|2064|1718000000', 'HIGH', 'ACTIVE', 'a', '1970-01-20T21:13:20.000Z', NULL),
                        (1, 'NE=1|E|2065|1718000000', 'HIGH', 'ACTIVE', 'b', '1970-01-20T21:13:20.000Z', '1970-01-20T22:13:20.000Z'),
                        (1, 'NE=1|E|2065|1718000000000', 'HIGH', 'ACTIVE', 'b', '2024-06-10T06:13:20.000Z', NULL),
                        (2, 'SN|2|1|1718000123000', 'LOW', 'ACTIVE', 'c', '+56412-01-01T00:00:00.000Z', NULL),
                        (2, 'SN|2|1|1718000999', 'LOW', 'ACTIVE', 'd', '2024-06-10T06:29:59.000Z', NULL),
                        (2, 'SN|2|1|1718000999000', 'LOW', 'ACKNOWLEDGED', 'd', '+56412-02-01T00:00:00.000Z', NULL),
                        (4, 'Sun|k|10|2024-06-10 10:00:00', 'LOW', 'RESOLVED', 'e', '2024-06-10T02:00:00.000Z', '9999-12-31T23:59:59.000Z');
                 INSERT INTO plants (vendor_id, vendor_plant_id, name, network_status)
                 VALUES (1, 'NE=2', 'Garbage code', 'STATE_-9223372036854775808');",
            )
            .unwrap();
        }
        let store = Store::open(&old).unwrap();
        drop(store);
        let conn = Connection::open(&old).unwrap();
        type Row = (
            String,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<String>,
            Option<String>,
        );
        let plants: Vec<Row> = {
            let mut stmt = conn
                .prepare(
                    "SELECT name, capacity_kw, latitude, longitude, current_power_kw,
                            daily_energy_kwh, total_energy_kwh, vendor_updated_at, network_status
                     FROM plants ORDER BY id",
                )
                .unwrap();
            stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let bad = &plants[0];
        assert_eq!(
            (bad.1, bad.2, bad.3, bad.4, bad.5, bad.6),
            (None, None, None, None, None, None)
        );
        assert_eq!((bad.7.as_deref(), bad.8.as_deref()), (None, Some("7")));
        let good = &plants[1];
        assert_eq!(
            (good.1, good.2, good.5),
            (Some(5.0), Some(9.05), Some(12.5)),
            "a real plant keeps all"
        );
        assert_eq!(good.7.as_deref(), Some("2024-10-31T15:18:17.000Z"));
        assert_eq!((plants[2].1, plants[2].8.as_deref()), (None, Some("9")), "Growatt's 0 kWp");
        assert_eq!((plants[3].7.as_deref(), plants[3].8.as_deref()), (None, Some("7")));
        let alerts: Vec<(String, String, Option<String>)> = {
            let mut stmt = conn
                .prepare("SELECT vendor_alert_key, started_at, ended_at FROM alerts ORDER BY vendor_alert_key")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            alerts,
            [
                ("NE=1|E|2064|1718000000000".into(), "2024-06-10T06:13:20.000Z".into(), None),
                ("NE=1|E|2065|1718000000000".into(), "2024-06-10T06:13:20.000Z".into(), None),
                ("SN|2|1|1718000123".into(), "2024-06-10T06:15:23.000Z".into(), None),
                ("SN|2|1|1718000999".into(), "2024-06-10T06:29:59.000Z".into(), None),
                ("Sun|k|10|2024-06-10 10:00:00".into(), "2024-06-10T02:00:00.000Z".into(), None),
            ],
            "rekeyed, the duplicate removed, the well-keyed kept, the year-9999 end cleared"
        );
        let acknowledged: String = conn
            .query_row(
                "SELECT status FROM alerts WHERE vendor_alert_key = 'SN|2|1|1718000999'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(acknowledged, "ACKNOWLEDGED", "what a person did under the old key stays");
        let garbage: Option<String> = conn
            .query_row("SELECT network_status FROM plants WHERE name = 'Garbage code'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(garbage, None, "a code no portal sends is no word");
    }

    #[tokio::test]
    async fn version_3_database_keeps_its_secrets_in_the_file_with_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        let old = dir.path().join("old.db");
        {
            let conn = version_3_database(&old);
            conn.execute_batch(
                "INSERT INTO vendors (id, name, kind) VALUES (1, 'Edge', 'solaredge'), (2, 'Roof', 'huawei');
                 INSERT INTO vendor_credentials (vendor_id, api_key) VALUES (1, 'edge-key-1');
                 INSERT INTO vendor_credentials (vendor_id, username, password) VALUES (2, 'ops', 'pw-2');
                 INSERT INTO vendor_tokens (vendor_id, access_token) VALUES (2, 'tok-2');",
            )
            .unwrap();
        }
        let store = Store::open(&old).unwrap();
        assert_eq!(shape_of(&old), shape_of(&fresh));
        let state = store.secrets_state().await.unwrap();
        assert_eq!(state.store, Some(crate::secrets::SecretsStore::File));
        assert_eq!(state.chosen, Some(crate::secrets::Chosen::Upgrade));
        assert_eq!(state.install_id.len(), 32, "{}", state.install_id);
        let creds = store.vendor_credentials(crate::domain::VendorId(2)).await.unwrap();
        assert_eq!(creds.password.unwrap().expose(), "pw-2");
        let token = store.load_token(crate::domain::VendorId(2)).await.unwrap().unwrap();
        assert_eq!(token.access.expose(), "tok-2");
        store.close();
        let conn = Connection::open(&old).unwrap();
        let (fingerprint, fields): (String, Option<String>) = conn
            .query_row(
                "SELECT api_key_fingerprint, keyring_fields FROM vendor_credentials WHERE vendor_id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(fingerprint, crate::store::quotas::key_hash("edge-key-1"));
        assert_eq!(fields, None, "the secrets stay in the columns");

        // A version 3 database without credentials has no store yet: its first read-write
        // open chooses one.
        let empty = dir.path().join("empty.db");
        drop(version_3_database(&empty));
        let store = Store::open(&empty).unwrap();
        assert_eq!(store.secrets_state().await.unwrap().store, None);
    }

    #[test]
    fn duplicate_vendor_names_in_one_organization_are_renamed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = version_1_database(&path);
            conn.execute_batch(
                "INSERT INTO organizations (id, name) VALUES (1, 'North'), (2, 'South');
                 INSERT INTO vendors (id, name, kind, org_id) VALUES
                     (1, 'roof', 'solarman', 1), (2, 'roof', 'growatt', 1),
                     (3, 'roof', 'sungrow', 2), (4, 'roof', 'growatt', NULL),
                     (5, 'roof', 'growatt', NULL), (6, 'roof (2)', 'huawei', 1),
                     (7, 'roof', 'sungrow', 1), (8, 'roof (7)', 'solaredge', 1);",
            )
            .unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        let notices = migrate(&mut conn, &path).unwrap();
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(
            notices[0].contains("vendor 2 was renamed from 'roof' to 'roof (2-2)'"),
            "{notices:?}"
        );
        let mut stmt = conn.prepare("SELECT name FROM vendors ORDER BY id").unwrap();
        let names: Vec<String> =
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            names,
            ["roof", "roof (2-2)", "roof", "roof", "roof", "roof (2)", "roof (7-2)", "roof (7)"]
        );
        let err = conn
            .execute("INSERT INTO vendors (name, kind, org_id) VALUES ('roof', 'huawei', 2)", [])
            .unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
    }

    /// Step 9 from the schema of step 8 with data in it: the history tables arrive empty,
    /// the rows stay, and the result has the fresh shape.
    #[test]
    fn version_8_database_gains_the_history_tables_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        let old = dir.path().join("old.db");
        drop(Store::open(&old).unwrap());
        {
            let conn = Connection::open(&old).unwrap();
            // Step 8's upstream tables, whose CHECKs do not name plant_days yet.
            conn.execute_batch(
                "DROP TABLE upstream_watermarks; DROP TABLE upstream_rejected;
                 DROP TABLE upstream_deletions;",
            )
            .unwrap();
            conn.execute_batch(include_str!("migrations/0006_upstream.sql")).unwrap();
            conn.execute_batch(include_str!("migrations/0008_upstream_queue.sql")).unwrap();
            conn.execute_batch(
                "UPDATE upstream_watermarks SET acknowledged_seq = 7 WHERE table_name = 'plants';
                 INSERT INTO upstream_rejected (table_name, row_id, seq, key_json, error, rejected_at)
                     VALUES ('plants', 1, 3, '[]', 'refused', '2026-11-30T10:00:00Z');
                 INSERT INTO upstream_deletions (change_seq, table_name, key_json, deleted_at)
                     VALUES (9, 'vendors', '[2]', '2026-11-30T10:00:00Z');",
            )
            .unwrap();
            conn.execute_batch(
                "DROP TABLE history_settled;
                 DROP TABLE plant_days; DROP TABLE power_samples; DROP TABLE history_gaps;
                 PRAGMA user_version = 8;
                 INSERT INTO organizations (id, name) VALUES (1, 'North');
                 INSERT INTO vendors (id, name, kind, org_id) VALUES (1, 'v', 'solarman', 1);
                 INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, daily_energy_kwh)
                     VALUES (1, 1, 'p', 'P', 12.5);",
            )
            .unwrap();
        }
        drop(Store::open(&old).unwrap());
        assert_eq!(shape_of(&old), shape_of(&fresh));
        let conn = Connection::open(&old).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let energy: f64 =
            conn.query_row("SELECT daily_energy_kwh FROM plants", [], |r| r.get(0)).unwrap();
        assert_eq!(energy, 12.5);
        let days: i64 =
            conn.query_row("SELECT count(*) FROM plant_days", [], |r| r.get(0)).unwrap();
        assert_eq!(days, 0, "no history is made up for the days before the step");
        conn.execute(
            "INSERT INTO plant_days (plant_id, day, energy_kwh, last_reading_at, source, updated_at)
             VALUES (1, '2026-11-30', 3.0, '2026-11-30T10:00:00Z', 'live', '2026-11-30T10:00:00Z')",
            [],
        )
        .unwrap();
        let refused = conn.execute(
            "INSERT INTO plant_days (plant_id, day, last_reading_at, source, updated_at)
             VALUES (1, '2026-12-01', 'x', 'guess', 'x')",
            [],
        );
        assert!(refused.is_err(), "a source other than live or backfill is refused");
        // The upstream tables kept their rows and now accept the daily rows.
        let (acked, rejected, deletions): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT acknowledged_seq FROM upstream_watermarks WHERE table_name = 'plants'),
                        (SELECT count(*) FROM upstream_rejected WHERE seq = 3),
                        (SELECT count(*) FROM upstream_deletions WHERE change_seq = 9)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((acked, rejected, deletions), (7, 1, 1));
        let watermark: i64 = conn
            .query_row(
                "SELECT acknowledged_seq FROM upstream_watermarks WHERE table_name = 'plant_days'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(watermark, 0);
        conn.execute(
            "INSERT INTO upstream_rejected (table_name, row_id, seq, key_json, error, rejected_at)
             VALUES ('plant_days', 1, 4, '[]', 'refused', '2026-11-30T10:00:00Z')",
            [],
        )
        .unwrap();
    }

    /// Step 11 from the schema of step 10 with history in it: the plants gain their live
    /// slots, empty; the daily rows stay; the result has the fresh shape; and the first sync
    /// after it merges its reading with the day the store already holds.
    #[tokio::test]
    async fn version_10_database_gains_empty_live_slots_and_keeps_its_days() {
        use crate::domain::{PlantZone, Timestamp, VendorId, VendorPlant};
        use crate::store::HistoryScope;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        let old = dir.path().join("old.db");
        drop(Store::open(&old).unwrap());
        {
            let conn = Connection::open(&old).unwrap();
            conn.execute_batch("DROP INDEX idx_plants_prev_day;").unwrap();
            for (column, _) in SLOT_COLUMNS {
                conn.execute_batch(&format!("ALTER TABLE plants DROP COLUMN {column}")).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 10;
                 INSERT INTO organizations (id, name) VALUES (1, 'North');
                 INSERT INTO vendors (id, name, kind, org_id) VALUES (1, 'v', 'solarman', 1);
                 INSERT INTO plants (id, vendor_id, org_id, vendor_plant_id, name, timezone)
                     VALUES (1, 1, 1, 'p', 'P', 'Asia/Kolkata');
                 INSERT INTO plant_days (plant_id, day, energy_kwh, peak_power_kw,
                                         last_reading_at, source, updated_at, change_seq)
                     VALUES (1, '2026-11-30', 3.5, 2.0, '2026-11-30T08:00:00Z', 'live',
                             '2026-11-30T08:00:00Z', 4);
                 UPDATE change_counter SET value = 4;",
            )
            .unwrap();
        }
        let store = Store::open(&old).unwrap();
        assert_eq!(shape_of(&old), shape_of(&fresh));
        {
            let conn = Connection::open(&old).unwrap();
            assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
            let (slots, days): (i64, i64) = conn
                .query_row(
                    "SELECT (SELECT count(*) FROM plants WHERE live_day IS NOT NULL
                                 OR prev_day IS NOT NULL),
                            (SELECT count(*) FROM plant_days WHERE energy_kwh = 3.5)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((slots, days), (0, 1), "empty slots, the day kept");
        }
        // A lower reading of the same day later: the stored day keeps its 3.5 kWh and takes
        // the later reading time and the higher power.
        let reading = VendorPlant {
            vendor_plant_id: "p".into(),
            timezone: Some("Asia/Kolkata".into()),
            vendor_updated_at: Some("2026-11-30T09:00:00Z".parse().unwrap()),
            daily_energy_kwh: Some(2.0),
            current_power_kw: Some(2.5),
            ..VendorPlant::default()
        };
        let now: Timestamp = "2026-11-30T09:01:00Z".parse().unwrap();
        let zone = PlantZone::Named(chrono_tz::Asia::Kolkata);
        store.upsert_plants_recording(VendorId(1), vec![reading], now, Some(zone)).await.unwrap();
        let from = "2026-11-01".parse().unwrap();
        let to = "2026-12-31".parse().unwrap();
        let days = store.history_days(HistoryScope::All, from, to).await.unwrap();
        assert_eq!(days.len(), 1, "{days:?}");
        assert_eq!((days[0].energy_kwh, days[0].peak_power_kw), (Some(3.5), Some(2.5)));
        assert_eq!(days[0].last_reading_at, "2026-11-30T09:00:00Z".parse().unwrap());
    }

    /// Step 10 from the schema of step 9 with history in it: the samples are keyed by time
    /// (their rows kept), the gap-search table arrives empty (every vendor searches at its
    /// next sync), the daily rows stay, and the result has the fresh shape.
    #[test]
    fn version_9_database_gains_the_gap_search_table_and_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        let old = dir.path().join("old.db");
        drop(Store::open(&old).unwrap());
        {
            let conn = Connection::open(&old).unwrap();
            // Step 9's samples: a row id, a (plant_id, at) key, an index on `at`.
            conn.execute_batch("DROP TABLE history_settled; DROP TABLE power_samples;").unwrap();
            conn.execute_batch(include_str!("migrations/0009_history.sql")).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 9;
                 INSERT INTO organizations (id, name) VALUES (1, 'North');
                 INSERT INTO vendors (id, name, kind, org_id) VALUES (1, 'v', 'solarman', 1);
                 INSERT INTO plants (id, vendor_id, org_id, vendor_plant_id, name)
                     VALUES (1, 1, 1, 'p', 'P');
                 INSERT INTO plant_days (plant_id, day, energy_kwh, last_reading_at, source,
                                         updated_at)
                     VALUES (1, '2026-11-30', 3.5, '2026-12-01T10:00:00Z', 'backfill',
                             '2026-12-01T10:00:00Z');
                 INSERT INTO power_samples (plant_id, at, power_kw)
                     VALUES (1, '2026-11-30T10:00:00Z', 1.25), (1, '2026-11-30T09:45:00Z', 1.0);",
            )
            .unwrap();
        }
        drop(Store::open(&old).unwrap());
        assert_eq!(shape_of(&old), shape_of(&fresh));
        let conn = Connection::open(&old).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let (energy, settled): (f64, i64) = conn
            .query_row(
                "SELECT (SELECT energy_kwh FROM plant_days), (SELECT count(*) FROM history_settled)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((energy, settled), (3.5, 0));
        let samples: Vec<(String, f64)> = conn
            .prepare("SELECT at, power_kw FROM power_samples")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let first = ("2026-11-30T09:45:00Z".to_owned(), 1.0);
        assert_eq!(samples, [first, ("2026-11-30T10:00:00Z".to_owned(), 1.25)], "kept, by time");
        // `shape_of` compares columns and indexes; the key and the foreign keys here.
        let sql: String = conn
            .query_row("SELECT sql FROM sqlite_master WHERE name = 'power_samples'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(
            sql.contains("PRIMARY KEY (at, plant_id)") && sql.contains("WITHOUT ROWID"),
            "{sql}"
        );
        let foreign: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_list('power_samples')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(foreign, 0);
        let time_index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'idx_power_samples_at'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(time_index, 0);
    }

    #[test]
    fn second_open_is_a_no_op_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute("INSERT INTO organizations (name) VALUES ('Kept')", []).unwrap();
        }
        let schema_before: Vec<String> = {
            let conn = Connection::open(&path).unwrap();
            let mut stmt = conn.prepare("SELECT sql FROM sqlite_master ORDER BY name").unwrap();
            stmt.query_map([], |r| r.get::<_, Option<String>>(0))
                .unwrap()
                .map(|s| s.unwrap().unwrap_or_default())
                .collect()
        };
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let mut stmt = conn.prepare("SELECT sql FROM sqlite_master ORDER BY name").unwrap();
        let schema_after: Vec<String> = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .map(|s| s.unwrap().unwrap_or_default())
            .collect();
        assert_eq!(schema_before, schema_after);
        let count: i64 =
            conn.query_row("SELECT count(*) FROM organizations", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn newer_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5).unwrap();
        }
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer than this plantsync supports"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert!(tables(&conn).is_empty());
    }
}
