//! The receipt read: what the central database already holds of this agent's rows moves
//! the local watermark forward, so rows delivered another way (an offline bundle imported
//! elsewhere, a push from a copy) are not sent again.
//!
//! # Design
//!
//! * **Confirmed means present centrally with at least the local version**: a row counts
//!   as delivered when the central row of its key, for this agent, has a `source_version`
//!   at or above the row's local `change_seq` (a higher one is a later version of it; the
//!   stale-replay rule would refuse the local one anyway).
//! * **The watermark moves only over complete groups**: to the highest change number such
//!   that every local row after the old watermark up to it is confirmed. One unconfirmed row
//!   stops it there (rows after it stay pending even if central), so the rule of
//!   [`crate::store::OutboxBatch::safe_watermark`] holds: a watermark never passes a row
//!   the central database lacks.
//! * **Only rows above the watermark are read back** (index `(agent_id, source_version)`),
//!   so after ordinary pushes the read returns nothing and costs one index probe per table.

use super::UpstreamError;
use super::central::Central;
use crate::store::{Cursor, Store, UpstreamTable};
use std::collections::HashMap;

/// Local rows examined per read.
const CHUNK: usize = 5_000;

/// Moves `table`'s watermark forward over the rows the central database confirms for
/// `agent_id`; returns the watermark after (`watermark` when nothing is confirmed).
pub(super) async fn advance(
    store: &Store,
    central: &dyn Central,
    agent_id: &str,
    table: UpstreamTable,
    watermark: i64,
) -> Result<i64, UpstreamError> {
    let key: Vec<usize> =
        table.columns().iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
    let rows = central.versions_above(agent_id, table, watermark).await?;
    if rows.is_empty() {
        return Ok(watermark);
    }
    let central: HashMap<Vec<Option<String>>, i64> = rows.into_iter().collect();

    // Walk the local rows after the watermark in change order, group by group.
    let mut confirmed_up_to = watermark;
    let mut group: Option<i64> = None;
    let mut cursor = Cursor::after_watermark(watermark);
    'walk: loop {
        let batch = store.upstream_batch(table, cursor, CHUNK, false).await?;
        for row in &batch.rows {
            if group != Some(row.seq) {
                // The previous group was complete (else we stopped): it is confirmed.
                if let Some(done) = group {
                    confirmed_up_to = done;
                }
                group = Some(row.seq);
            }
            let row_key: Vec<Option<String>> = key.iter().map(|&i| row.values[i].clone()).collect();
            if central.get(&row_key).is_none_or(|&version| version < row.seq) {
                group = None;
                break 'walk;
            }
        }
        cursor = batch.next;
        if !batch.more {
            break;
        }
    }
    if let Some(done) = group {
        confirmed_up_to = done;
    }
    if confirmed_up_to > watermark {
        store.acknowledge_upstream(table, confirmed_up_to).await?;
        tracing::info!(
            "the central database already holds {table} up to change {confirmed_up_to}: not sent again"
        );
    }
    Ok(confirmed_up_to)
}
