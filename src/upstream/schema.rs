//! The central schema and the upsert, both generated from the store's column lists
//! ([`UpstreamTable::columns`]), so a column added there reaches the DDL and the upsert at
//! once.
//!
//! Every central table lives in the `plantsync` schema (beside an existing application's
//! tables), is keyed by the agent id plus the row's natural key (the vendor's own ids;
//! the local id where the portal has none: organizations, vendors, runs), carries
//! `source_version` (the local `change_seq`) and `is_active`, and is indexed per agent (the
//! key starts with `agent_id`) and per organization where it has one.

use crate::store::{ColumnKind, UpstreamTable};

/// The central schema's name.
pub const SCHEMA: &str = "plantsync";

fn pg_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Int => "bigint",
        ColumnKind::Real => "double precision",
        ColumnKind::Bool => "boolean",
        ColumnKind::Text => "text",
        ColumnKind::Time => "timestamptz",
    }
}

fn key_columns(table: UpstreamTable) -> Vec<&'static str> {
    let mut key = vec!["agent_id"];
    key.extend(table.columns().iter().filter(|c| c.key).map(|c| c.name));
    key
}

/// The SQL of the central schema, idempotent (`IF NOT EXISTS`): what `plantsync upstream
/// schema` prints and `plantsync upstream init` applies.
pub fn central_schema() -> String {
    let mut sql = format!(
        "-- plantsync central schema: every agent pushes its rows here under its agent id.\n\
         -- An upsert changes a row only when it carries a newer source_version (the agent's\n\
         -- local change_seq) than the row has, so a replayed old batch changes nothing.\n\
         CREATE SCHEMA IF NOT EXISTS {SCHEMA};\n"
    );
    for table in UpstreamTable::ALL {
        sql.push_str(&format!("\nCREATE TABLE IF NOT EXISTS {SCHEMA}.{table} (\n"));
        sql.push_str("    agent_id uuid NOT NULL,\n");
        for column in table.columns() {
            let null = if column.not_null { " NOT NULL" } else { "" };
            sql.push_str(&format!("    {} {}{null},\n", column.name, pg_type(column.kind)));
        }
        sql.push_str("    source_version bigint NOT NULL,\n");
        sql.push_str("    pushed_at timestamptz NOT NULL DEFAULT now(),\n");
        sql.push_str(&format!("    PRIMARY KEY ({})\n);\n", key_columns(table).join(", ")));
        // The receipt read (rows of one agent above its watermark).
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {table}_agent_version ON {SCHEMA}.{table} (agent_id, source_version);\n"
        ));
        if table.columns().iter().any(|c| c.name == "org_id" && !c.key) {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_agent_org ON {SCHEMA}.{table} (agent_id, org_id);\n"
            ));
        }
    }
    sql
}

/// The upsert of one batch of `table`: `$1` the agent id, `$2` the source versions, then
/// one `text[]` per column; `ON CONFLICT` on the natural key updates a row only when the
/// batch's version is newer (the stale-replay rule).
pub fn upsert(table: UpstreamTable) -> String {
    let columns = table.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let casts: Vec<String> =
        columns.iter().map(|c| format!("u.{}::{}", c.name, pg_type(c.kind))).collect();
    let arrays: Vec<String> = (0..=columns.len()).map(|i| format!("${}::text[]", i + 2)).collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !c.key)
        .map(|c| format!("{0} = excluded.{0}", c.name))
        .chain(["source_version = excluded.source_version".to_owned(), "pushed_at = now()".into()])
        .collect();
    format!(
        "INSERT INTO {SCHEMA}.{table} AS central (agent_id, source_version, {names})
         SELECT $1::text::uuid, u.source_version::bigint, {casts}
         FROM UNNEST({arrays}) AS u(source_version, {names})
         ON CONFLICT ({key}) DO UPDATE SET {updates}
         WHERE central.source_version < excluded.source_version",
        names = names.join(", "),
        casts = casts.join(", "),
        arrays = arrays.join(", "),
        key = key_columns(table).join(", "),
        updates = updates.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_keys_every_table_by_agent_and_natural_key() {
        let sql = central_schema();
        assert!(sql.contains("PRIMARY KEY (agent_id, vendor_id, vendor_plant_id)"), "{sql}");
        assert!(sql.contains("PRIMARY KEY (agent_id, vendor_id, vendor_alert_key)"), "{sql}");
        assert!(sql.contains("PRIMARY KEY (agent_id, run_id)"), "{sql}");
        assert!(sql.contains("ON plantsync.plants (agent_id, org_id)"), "{sql}");
        for word in ["password", "secret", "api_key", "token"] {
            assert!(!sql.contains(word), "the central schema has {word}");
        }
    }

    #[test]
    fn the_upsert_keeps_the_stale_replay_rule() {
        let sql = upsert(UpstreamTable::Plants);
        assert!(sql.contains("WHERE central.source_version < excluded.source_version"), "{sql}");
        assert!(sql.contains("ON CONFLICT (agent_id, vendor_id, vendor_plant_id)"), "{sql}");
        let arrays = UpstreamTable::Plants.columns().len() + 1;
        assert!(sql.contains(&format!("${}::text[]", arrays + 1)), "{sql}");
        assert!(!sql.contains(&format!("${}::text[]", arrays + 2)), "{sql}");
    }
}
