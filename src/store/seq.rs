//! The change sequence: one counter for every table the upstream push reads.
//!
//! The invariant every writer keeps: the counter is at least every `change_seq` stored, so
//! any number above [`current`] is above every earlier change. A transaction that changes
//! several rows may stamp them with numbers above it without taking each through [`next`],
//! then [`set`] the counter to the highest it used (the plant upsert offers one number per
//! listing; deactivation stamps all its rows with one); the rows commit together, so a reader
//! asking for "`change_seq` > N" sees all of them or none.
//!
//! The statements are prepared once per connection (`prepare_cached`): a plant sync reads and
//! sets the counter once per batch of 100.

use super::Result;
use rusqlite::Connection;

/// Takes the next change number (call inside the transaction that makes the change).
pub(super) fn next(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value")?
        .query_row([], |row| row.get(0))?)
}

/// The last number handed out.
pub(super) fn current(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM change_counter WHERE id = 1")?
        .query_row([], |row| row.get(0))?)
}

/// Records that numbers up to `value` have been handed out (after a batch that took
/// several numbers without calling [`next`] for each, or one number for several rows).
pub(super) fn set(conn: &Connection, value: i64) -> Result<()> {
    conn.prepare_cached("UPDATE change_counter SET value = ?1 WHERE id = 1")?.execute([value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../schema.sql")).unwrap();
        conn
    }

    #[test]
    fn next_takes_one_more_and_set_records_a_batch() {
        let conn = counter();
        assert_eq!(current(&conn).unwrap(), 0);
        assert_eq!(next(&conn).unwrap(), 1);
        assert_eq!(next(&conn).unwrap(), 2);
        set(&conn, 7).unwrap();
        assert_eq!(current(&conn).unwrap(), 7);
        assert_eq!(next(&conn).unwrap(), 8, "the cached statements see the new value");
    }
}
