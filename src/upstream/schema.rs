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
        ColumnKind::Date => "date",
    }
}

/// The SQL of a key column's value as the text the store holds for it: `YYYY-MM-DD` for a
/// day whatever the session's `DateStyle` (a `date::text` would follow it).
pub fn key_text(name: &str, kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Text => name.to_owned(),
        ColumnKind::Date => format!("to_char({name}, 'YYYY-MM-DD')"),
        _ => format!("{name}::text"),
    }
}

fn key_columns(table: UpstreamTable) -> Vec<&'static str> {
    let mut key = vec!["agent_id"];
    key.extend(table.columns().iter().filter(|c| c.key).map(|c| c.name));
    key
}

/// The SQL of one row's checksum: the first 8 bytes of the SHA-256 of its key columns'
/// text and its version joined by U+001F, as a signed big-endian integer. The receipt
/// combines them with `bit_xor` (order-free); [`super::verify::checksum`] computes the
/// same locally.
fn row_checksum(table: UpstreamTable) -> String {
    let mut parts: Vec<String> =
        table.columns().iter().filter(|c| c.key).map(|c| key_text(c.name, c.kind)).collect();
    parts.push("source_version::text".to_owned());
    format!(
        "('x' || encode(substr(sha256(convert_to(concat_ws(E'\\x1f', {}), 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint",
        parts.join(", ")
    )
}

/// The SQL of the central schema, idempotent (`IF NOT EXISTS`, `CREATE OR REPLACE`): what
/// `plantsync upstream schema` prints and `plantsync upstream init` applies. Needs
/// PostgreSQL 14 or newer (`bit_xor`, `CREATE OR REPLACE TRIGGER`).
pub fn central_schema() -> String {
    let mut sql = format!(
        "-- plantsync central schema: every agent pushes its rows here under its agent id.\n\
         -- A row changes only when it carries a newer source_version (the agent's local\n\
         -- change_seq) than the row has (trigger keep_newer), so a replayed old batch changes\n\
         -- nothing, whichever transport (PostgreSQL or PostgREST) sent it.\n\
         -- PostgreSQL 14 or newer.\n\
         CREATE SCHEMA IF NOT EXISTS {SCHEMA};\n\
         \n\
         CREATE OR REPLACE FUNCTION {SCHEMA}.keep_newer() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN\n\
         \x20   IF NEW.source_version <= OLD.source_version THEN\n\
         \x20       RETURN NULL;\n\
         \x20   END IF;\n\
         \x20   NEW.pushed_at := now();\n\
         \x20   RETURN NEW;\n\
         END $$;\n"
    );
    for table in UpstreamTable::ALL {
        sql.push_str(&format!("\nCREATE TABLE IF NOT EXISTS {SCHEMA}.{table} (\n"));
        sql.push_str("    agent_id uuid NOT NULL,\n");
        for column in table.columns() {
            let null = if column.not_null { " NOT NULL" } else { "" };
            sql.push_str(&format!("    {} {}{null},\n", column.name, pg_type(column.kind)));
        }
        sql.push_str("    source_version bigint NOT NULL,\n");
        sql.push_str("    deleted boolean NOT NULL DEFAULT false,\n");
        sql.push_str("    pushed_at timestamptz NOT NULL DEFAULT now(),\n");
        sql.push_str(&format!("    PRIMARY KEY ({})\n);\n", key_columns(table).join(", ")));
        // A row deleted at the site stays centrally, marked (the receipt leaves it out).
        sql.push_str(&format!(
            "ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false;\n"
        ));
        // The receipt read (rows of one agent above its watermark).
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {table}_agent_version ON {SCHEMA}.{table} (agent_id, source_version);\n"
        ));
        if table.columns().iter().any(|c| c.name == "org_id" && !c.key) {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_agent_org ON {SCHEMA}.{table} (agent_id, org_id);\n"
            ));
        }
        // Reports over a range of days across an agent's plants (the key serves one plant's).
        for day in table.columns().iter().filter(|c| c.kind == ColumnKind::Date) {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_agent_{0} ON {SCHEMA}.{table} (agent_id, {0});\n",
                day.name
            ));
        }
        sql.push_str(&format!(
            "CREATE OR REPLACE TRIGGER keep_newer BEFORE UPDATE ON {SCHEMA}.{table}\n    \
             FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.keep_newer();\n"
        ));
    }
    sql.push_str(&receipt_function());
    sql.push_str(&forget_function());
    sql.push_str(&device_role_comment());
    sql
}

/// A trailing comment block (applied as nothing): the rights a per-device role needs to
/// push through PostgREST (Supabase), and no more, so an operator never has to hand a
/// device the service-role key.
fn device_role_comment() -> String {
    let tables: Vec<String> = UpstreamTable::ALL.iter().map(|t| format!("{SCHEMA}.{t}")).collect();
    format!(
        "\n-- PostgREST / Supabase: run the statements above in the SQL editor (PostgREST runs\n\
         -- no DDL), add {SCHEMA} to the exposed schemas (Supabase: API settings, Exposed\n\
         -- schemas; PostgREST: db-schemas), and give each device a key of its own whose role\n\
         -- holds only these rights, never the service-role key:\n\
         --   CREATE ROLE plantsync_device NOLOGIN;\n\
         --   GRANT plantsync_device TO authenticator;\n\
         --   GRANT USAGE ON SCHEMA {SCHEMA} TO plantsync_device;\n\
         --   GRANT SELECT, INSERT, UPDATE ON {} TO plantsync_device;\n\
         --   GRANT EXECUTE ON FUNCTION {SCHEMA}.receipt(uuid), {SCHEMA}.forget(uuid, jsonb)\n\
         --     TO plantsync_device;\n\
         -- Those rights reach every agent's rows. To bind a key to its own agent, put the\n\
         -- agent id (`plantsync status`) in its JWT as the claim agent_id and, per table:\n\
         --   ALTER TABLE {SCHEMA}.plants ENABLE ROW LEVEL SECURITY;\n\
         --   CREATE POLICY own_agent ON {SCHEMA}.plants TO plantsync_device\n\
         --     USING (agent_id = (current_setting('request.jwt.claims', true)::json\n\
         --            ->> 'agent_id')::uuid) WITH CHECK (agent_id = (current_setting(\n\
         --            'request.jwt.claims', true)::json ->> 'agent_id')::uuid);\n\
         -- (receipt and forget run with the caller's rights, so the policies hold there too.)\n",
        tables.join(", ")
    )
}

/// `receipt(p_agent)`: per table, the count and combined checksum of the agent's live rows
/// (what a push compares with the store), and the highest version the agent's rows carry,
/// deleted ones too (a store whose counter is below it was restored from an older copy).
/// PostgREST calls it as `rpc/receipt`.
fn receipt_function() -> String {
    let parts: Vec<String> = UpstreamTable::ALL
        .iter()
        .map(|&table| {
            format!(
                "    SELECT '{table}'::text, count(*) FILTER (WHERE NOT deleted),\n    \
                 coalesce(bit_xor({}) FILTER (WHERE NOT deleted), 0), coalesce(max(source_version), 0)\n    \
                 FROM {SCHEMA}.{table} WHERE agent_id = p_agent",
                row_checksum(table)
            )
        })
        .collect();
    format!(
        "\nCREATE OR REPLACE FUNCTION {SCHEMA}.receipt(p_agent uuid)\n\
         RETURNS TABLE (table_name text, row_count bigint, checksum bigint, max_version bigint)\n\
         LANGUAGE sql STABLE AS $$\n{}\n$$;\n",
        parts.join("\n    UNION ALL\n")
    )
}

/// `forget(p_agent, p_deletions)`: marks deleted (and inactive) the rows the site deleted,
/// each `{"table", "key": [texts], "version"}`, unless the central row is newer; a vendor's
/// deletion takes its plants, their days and its alerts with it, a plant's its days, as the
/// site's cascade did. Returns the rows marked.
fn forget_function() -> String {
    let mut branches = String::new();
    for table in UpstreamTable::ALL {
        let key: Vec<String> = table
            .columns()
            .iter()
            .filter(|c| c.key)
            .enumerate()
            .map(|(i, c)| format!("{} = (d->'key'->>{i})::{}", c.name, pg_type(c.kind)))
            .collect();
        let mut statements = vec![format!(
            "UPDATE {SCHEMA}.{table} SET deleted = true, is_active = false, source_version = v\n            \
             WHERE agent_id = p_agent AND {} AND source_version < v;\n            \
             GET DIAGNOSTICS c = ROW_COUNT; n := n + c;",
            key.join(" AND ")
        )];
        // The rows the site's cascade deleted with it, by the parent's key.
        let (children, parent_key): (&[UpstreamTable], &str) = match table {
            UpstreamTable::Vendors => (
                &[UpstreamTable::Plants, UpstreamTable::PlantDays, UpstreamTable::Alerts],
                "vendor_id = (d->'key'->>0)::bigint",
            ),
            UpstreamTable::Plants => (
                &[UpstreamTable::PlantDays],
                "vendor_id = (d->'key'->>0)::bigint AND vendor_plant_id = (d->'key'->>1)::text",
            ),
            _ => (&[], ""),
        };
        for child in children {
            statements.push(format!(
                "UPDATE {SCHEMA}.{child} SET deleted = true, is_active = false, source_version = v\n            \
                 WHERE agent_id = p_agent AND {parent_key} AND source_version < v;\n            \
                 GET DIAGNOSTICS c = ROW_COUNT; n := n + c;"
            ));
        }
        branches.push_str(&format!(
            "        WHEN '{table}' THEN\n            {}\n",
            statements.join("\n            ")
        ));
    }
    format!(
        "\nCREATE OR REPLACE FUNCTION {SCHEMA}.forget(p_agent uuid, p_deletions jsonb)\n\
         RETURNS bigint LANGUAGE plpgsql AS $$\n\
         DECLARE\n    d jsonb;\n    v bigint;\n    c bigint;\n    n bigint := 0;\n\
         BEGIN\n\
         \x20   FOR d IN SELECT * FROM jsonb_array_elements(p_deletions) LOOP\n\
         \x20       v := (d->>'version')::bigint;\n\
         \x20       CASE d->>'table'\n{branches}\
         \x20       ELSE RAISE EXCEPTION 'plantsync.forget: unknown table %', d->>'table';\n\
         \x20       END CASE;\n\
         \x20   END LOOP;\n\
         \x20   RETURN n;\n\
         END $$;\n"
    )
}

/// The staging table of `table` in the server session: a temporary copy of the central
/// table's columns (typed, so COPY parses each value once, with no casts), emptied at
/// every commit; named in `pg_temp` so nothing on the search path can stand in for it.
pub fn stage_table(table: UpstreamTable) -> String {
    format!("pg_temp.plantsync_stage_{table}")
}

/// Creates [`stage_table`] when the session lacks it (run inside each batch's
/// transaction). The role needs the database's `TEMP` right (PostgreSQL grants it to
/// every role by default).
pub fn create_stage(table: UpstreamTable) -> String {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS plantsync_stage_{table}
         (LIKE {SCHEMA}.{table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
}

/// The columns a batch carries, in COPY order: the agent id, the source version, then
/// [`UpstreamTable::columns`].
pub fn batch_columns(table: UpstreamTable) -> Vec<&'static str> {
    let mut names = vec!["agent_id", "source_version"];
    names.extend(table.columns().iter().map(|c| c.name));
    names
}

/// `COPY` of one batch into [`stage_table`] (text format).
pub fn copy_in(table: UpstreamTable) -> String {
    format!("COPY {} ({}) FROM STDIN", stage_table(table), batch_columns(table).join(", "))
}

/// The upsert of a staged batch: `ON CONFLICT` on the natural key updates the row, which
/// the central trigger `keep_newer` lets through only for a newer version (the
/// stale-replay rule). A row the site deleted and has again is live again.
pub fn upsert(table: UpstreamTable) -> String {
    let names = batch_columns(table).join(", ");
    let updates: Vec<String> = table
        .columns()
        .iter()
        .filter(|c| !c.key)
        .map(|c| format!("{0} = excluded.{0}", c.name))
        .chain([
            "source_version = excluded.source_version".to_owned(),
            "deleted = false".into(),
            "pushed_at = now()".into(),
        ])
        .collect();
    format!(
        "INSERT INTO {SCHEMA}.{table} AS central ({names})
         SELECT {names} FROM {stage}
         ON CONFLICT ({key}) DO UPDATE SET {updates}",
        stage = stage_table(table),
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
        assert!(sql.contains("PRIMARY KEY (agent_id, vendor_id, vendor_plant_id, day)"), "{sql}");
        assert!(sql.contains("    day date NOT NULL,\n"), "{sql}");
        assert!(sql.contains("ON plantsync.plant_days (agent_id, day)"), "{sql}");
        for word in ["password", "secret", "api_key", "token"] {
            assert!(!sql.contains(word), "the central schema has {word}");
        }
    }

    #[test]
    fn the_upsert_keeps_the_stale_replay_rule() {
        let schema = central_schema();
        assert!(schema.contains("IF NEW.source_version <= OLD.source_version THEN"), "{schema}");
        // Every transport's update stamps the push time (PostgREST sends no `now()`).
        assert!(schema.contains("NEW.pushed_at := now();"), "{schema}");
        // The per-device role's rights, as comments only: nothing of them is applied.
        let grants: Vec<&str> = schema.lines().filter(|l| l.contains("GRANT")).collect();
        assert!(grants.len() >= 4 && grants.iter().all(|l| l.starts_with("--")), "{grants:?}");
        for table in UpstreamTable::ALL {
            let trigger = format!("BEFORE UPDATE ON plantsync.{table}");
            assert!(schema.contains(&trigger), "{table} has no keep_newer trigger");
        }
        let sql = upsert(UpstreamTable::Plants);
        assert!(sql.contains("ON CONFLICT (agent_id, vendor_id, vendor_plant_id)"), "{sql}");
        assert!(sql.contains("FROM pg_temp.plantsync_stage_plants"), "{sql}");
        assert!(sql.contains("deleted = false"), "{sql}");
        let copy = copy_in(UpstreamTable::Plants);
        assert!(copy.starts_with("COPY pg_temp.plantsync_stage_plants (agent_id, source_version,"));
        let days = upsert(UpstreamTable::PlantDays);
        assert!(days.contains("ON CONFLICT (agent_id, vendor_id, vendor_plant_id, day)"), "{days}");
    }

    /// A day's key reads back as the store's `YYYY-MM-DD` whatever the session's DateStyle,
    /// in the receipt's checksum too; a vendor's or a plant's deletion takes its days.
    #[test]
    fn days_compare_as_the_store_spells_them_and_go_with_their_plant() {
        assert_eq!(key_text("day", ColumnKind::Date), "to_char(day, 'YYYY-MM-DD')");
        assert_eq!(key_text("vendor_id", ColumnKind::Int), "vendor_id::text");
        let receipt = receipt_function();
        assert!(receipt.contains("'plant_days'::text"), "{receipt}");
        assert!(
            receipt.contains("vendor_plant_id, to_char(day, 'YYYY-MM-DD'), source_version::text")
        );
        let forget = forget_function();
        let vendors = forget.split("WHEN 'vendors'").nth(1).unwrap();
        let vendors = vendors.split("WHEN 'plants'").next().unwrap();
        for child in ["plants", "plant_days", "alerts"] {
            assert!(
                vendors.contains(&format!("UPDATE plantsync.{child} SET deleted")),
                "{vendors}"
            );
        }
        let plants = forget.split("WHEN 'plants'").nth(1).unwrap();
        let plants = plants.split("WHEN 'plant_days'").next().unwrap();
        assert!(plants.contains("UPDATE plantsync.plant_days SET deleted"), "{plants}");
        assert!(forget.contains("day = (d->'key'->>2)::date"), "{forget}");
    }
}
