//! The change sequence: one counter for every table the upstream push reads.

use super::Result;
use rusqlite::Connection;

/// Takes the next change number (call inside the transaction that makes the change).
pub(super) fn next(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value",
        [],
        |row| row.get(0),
    )?)
}

/// The last number handed out.
pub(super) fn current(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT value FROM change_counter WHERE id = 1", [], |row| row.get(0))?)
}

/// Records that numbers up to `value` have been handed out (after a batch that took
/// several numbers without calling [`next`] for each).
pub(super) fn set(conn: &Connection, value: i64) -> Result<()> {
    conn.execute("UPDATE change_counter SET value = ?1 WHERE id = 1", [value])?;
    Ok(())
}
