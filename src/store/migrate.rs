//! Versioned migrations keyed on `PRAGMA user_version`.
//!
//! Step 1 is `schema.sql`. A schema change is a new entry appended to [`STEPS`]; a shipped
//! step is never edited, so every database walks the same path to the same schema.

use super::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// The migration steps, in order; step `i` moves `user_version` from `i` to `i + 1`.
/// Step 1 is the whole of `schema.sql`, which also carries (with `IF NOT EXISTS`) what
/// later steps create, so a fresh database runs them as no-ops.
const STEPS: &[&str] =
    &[include_str!("../../schema.sql"), include_str!("migrations/0002_request_quotas.sql")];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = STEPS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; a no-op when it is already there.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    if user_version(conn)? == SCHEMA_VERSION {
        return Ok(());
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
    for (index, step) in STEPS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64> {
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

    fn schema_of(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT sql FROM sqlite_master ORDER BY name").unwrap();
        stmt.query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .map(|s| s.unwrap().unwrap_or_default())
            .collect()
    }

    #[test]
    fn version_1_database_upgrades_to_the_fresh_schema_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        drop(Store::open(&fresh).unwrap());
        // A database as version 1 left it: step 1 without what step 2 added.
        let old = dir.path().join("old.db");
        {
            let conn = Connection::open(&old).unwrap();
            conn.execute_batch(STEPS[0]).unwrap();
            conn.execute_batch("DROP TABLE request_quotas; PRAGMA user_version = 1;").unwrap();
            conn.execute("INSERT INTO organizations (name) VALUES ('Kept')", []).unwrap();
        }
        drop(Store::open(&old).unwrap());
        assert_eq!(schema_of(&old), schema_of(&fresh));
        let conn = Connection::open(&old).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let kept: String =
            conn.query_row("SELECT name FROM organizations", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "Kept");
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
