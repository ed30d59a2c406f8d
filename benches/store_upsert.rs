//! Benchmark: the store's plant upsert against the engine-only limit, in the same run.
//!
//! For each of [`REPEATS`] fresh pairs of databases, two rounds of [`PLANTS`] plants: round 1
//! inserts every plant, round 2 changes every plant's readings (updates). Each round measures
//!
//! * **store**: [`Store::upsert_plants`] in batches of [`BATCH_SIZE`], the sync engine's path
//!   (a job sent to the writer thread, one `BEGIN IMMEDIATE` transaction per batch, one
//!   statement execution per row, the created/updated/unchanged counts);
//! * **engine-only**: the same rows loaded into a `TEMP` table first (not timed), then one
//!   `INSERT INTO plants ... SELECT ... FROM temp.src ... ON CONFLICT DO UPDATE` in one
//!   transaction (timed), with the same counts. It runs through `rusqlite` in this process:
//!   the same bundled SQLite as the store, without the `sqlite3` CLI's process start-up and
//!   SQL text parsing, so it is the fastest this engine applies these rows to this schema.
//!
//! Both databases are created by [`Store::open`] (the same migrations, hence the same schema,
//! indexes and constraints); the engine-only connection sets the store's pragmas (WAL,
//! `synchronous=NORMAL`, `foreign_keys=ON`, `cache_size=-16384`, `wal_autocheckpoint=8192`,
//! `journal_size_limit`), copied from `store::open_writer` and read back before the run.
//!
//! The engine-only statement does what the store's upsert promises, written in SQL as fast as
//! this engine allows (see [`engine_sql`]): the same columns; a missing field (`NULL`) keeps
//! the stored value, a `0` is stored; `change_seq` and `updated_at` move only for a row that
//! really changed (reactivation included) and take a number above every earlier change;
//! `last_refreshed_at` is always recorded; the counter is advanced; created/updated/unchanged
//! are counted (from the rows holding the new change number, not from `RETURNING`, which
//! SQLite runs as a per-row trigger). It leaves out two things:
//!
//! * the store's batching: one transaction instead of 1,000 (each with its commit, its vendor
//!   lookup and its counter read and write), which is the point of the comparison;
//! * one corner of the name rule: a plant listed *without* a name keeps its stored name in the
//!   store, but here takes the fallback `Plant <id>` (`DO UPDATE` sees only `excluded.*`,
//!   where the fallback is already applied). Every plant of this bench has a name, so both do
//!   the same work (the self-check below compares every column). Expressing the rule exactly
//!   needs a lookup of the stored name in the `SELECT`, which makes SQLite materialize the
//!   whole `SELECT` first (the statement then reads the table it writes): measured 5-10%
//!   slower, so the exact form would flatter the store.
//!
//! (The earlier baseline, the `sqlite3` CLI upserting from a temporary table, ran with foreign
//! keys off and plain `excluded.*` assignments, without change numbers or counts: less work
//! than the store promises.)
//!
//! Each side runs on connections opened for its round and closed after it (see
//! [`one_repeat`]), and which side runs first alternates between repeats.
//!
//! Self-checks: after each round both databases hold [`PLANTS`] rows, the counts are exactly
//! "all created" then "all updated", the counter is at least every stored `change_seq`, and the
//! two databases hold the same rows, column by column (`change_seq` compared as "above the
//! counter before the round", so that the check does not depend on how the store numbers
//! its batches).
//!
//! Run: `cargo bench --bench store_upsert`. Prints rows per second and the ratio
//! store/engine-only for each round and repeat, then the range over the repeats, and the CPU
//! time per row of each side (all threads of the process; Linux only), which a shared
//! machine disturbs far less than the wall clock. Goal: at least 0.3x of the engine-only
//! limit in rows per second, for inserts and for updates.

use plantsync::domain::{
    Credentials, NewOrganization, NewVendor, PlantStatus, Timestamp, VendorId, VendorKind,
    VendorPlant,
};
use plantsync::store::{Store, UpsertCounts};
use plantsync::sync::BATCH_SIZE;
use rusqlite::{Connection, params};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PLANTS: usize = 100_000;
const REPEATS: usize = 3;
const GOAL: f64 = 0.3;

/// The optional columns, the store's own list.
const OPTIONAL: &[&str] = plantsync::store::OPTIONAL_PLANT_COLUMNS;

/// Every plant, with readings that differ between rounds so round 2 updates every row.
fn plants(round: u32) -> Vec<VendorPlant> {
    (0..PLANTS)
        .map(|i| VendorPlant {
            vendor_plant_id: format!("st-{i}"),
            name: Some(format!("Plant {i:06}")),
            capacity_kw: Some(5.0 + (i % 500) as f64 / 10.0),
            address: Some(format!("Street {}, Pune", i % 997)),
            latitude: Some(18.5 + (i % 100) as f64 / 1000.0),
            longitude: Some(73.8 + (i % 100) as f64 / 1000.0),
            timezone: Some("Asia/Kolkata".into()),
            network_status: Some("NORMAL".into()),
            status: Some(PlantStatus::Online),
            current_power_kw: Some((i % 900) as f64 / 100.0 + f64::from(round)),
            daily_energy_kwh: Some((i % 600) as f64 / 10.0 + f64::from(round)),
            total_energy_kwh: Some(i as f64 / 3.0),
            vendor_updated_at: Timestamp::from_unix_millis(
                1_764_400_000_000 + i64::from(round) * 1000,
            ),
            raw_json: Some(format!("{{\"id\":{i},\"round\":{round}}}")),
        })
        .collect()
}

/// A fixed "now" per round, so every run stores the same values.
fn round_time(round: u32) -> Timestamp {
    Timestamp::from_unix_millis(1_764_500_000_000 + i64::from(round) * 60_000).expect("time")
}

/// A store at `path` with one organization and one vendor to upsert into.
async fn bench_store(path: &Path) -> (Store, VendorId) {
    let store = Store::open(path).expect("store");
    let org = store
        .add_org(NewOrganization {
            name: "Bench".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        })
        .await
        .expect("org");
    let new = NewVendor {
        name: "Bench".into(),
        kind: VendorKind::Sungrow,
        org_id: Some(org.id),
        base_url: None,
        is_active: true,
    };
    let vendor = store.add_vendor(new, Credentials::default()).await.expect("vendor").id;
    (store, vendor)
}

/// A connection with the store's writer pragmas (see `store::open_writer`).
#[allow(clippy::disallowed_methods)] // the engine-only side deliberately bypasses the store
fn engine_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open engine-only database");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy_timeout");
    conn.pragma_update(None, "journal_mode", "WAL").expect("journal_mode");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
    conn.pragma_update(None, "foreign_keys", "ON").expect("foreign_keys");
    conn.pragma_update(None, "cache_size", -16_384).expect("cache_size");
    conn.pragma_update(None, "wal_autocheckpoint", 8192).expect("wal_autocheckpoint");
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).expect("journal_size_limit");
    let pragma = |name: &str| -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0).map(|v| format!("{v:?}"))
        })
        .expect("pragma")
    };
    assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    assert_eq!(pragma("synchronous"), "Integer(1)");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("cache_size"), "Integer(-16384)");
    assert_eq!(pragma("wal_autocheckpoint"), "Integer(8192)");
    conn
}

/// A read-only look at a database file for the self-checks.
#[allow(clippy::disallowed_methods)] // reads the store's file behind its back, untimed
fn inspect(path: &Path) -> Connection {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open for inspection")
}

/// The engine-only statements: the store's upsert statement (in `store::plants`) as
/// `INSERT ... SELECT` from `temp.src`. `?1` vendor, `?2` organization, `?3` now, `?4` the
/// change number offered to the first listing (the next ones are offered the numbers after
/// it, in listing order, as the store offers them).
///
/// The usual form (`keeping`) leaves `name` and `org_id` out of `DO UPDATE` and applies only
/// where both are as stored: SQLite rewrites every index on an assigned column whether or not
/// its value changes, and three of the five indexes of `plants` cover `name` or `org_id`
/// (measured: updates twice as fast). `full` also assigns them; it runs only if `keeping`
/// skipped a row.
///
/// The name is the one difference from the store (see the module docs): `excluded.name`
/// already carries the fallback, where the store's `?4` is the vendor's name or NULL.
struct EngineSql {
    keeping: String,
    full: String,
}

fn engine_sql() -> EngineSql {
    let form = |full: bool| {
        let name_and_org: &[&str] = if full {
            &["plants.org_id IS NOT excluded.org_id", "plants.name IS NOT excluded.name"]
        } else {
            &[]
        };
        let changed =
            name_and_org
                .iter()
                .map(|c| (*c).to_owned())
                .chain(std::iter::once("plants.is_active = 0".to_owned()))
                .chain(OPTIONAL.iter().map(|c| {
                    format!("(excluded.{c} IS NOT NULL AND plants.{c} IS NOT excluded.{c})")
                }))
                .collect::<Vec<_>>()
                .join(" OR ");
        let merges = OPTIONAL
            .iter()
            .map(|c| format!("{c} = coalesce(excluded.{c}, plants.{c})"))
            .collect::<Vec<_>>()
            .join(",\n    ");
        let source = OPTIONAL.iter().map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ");
        let (assign, guard) = if full {
            ("org_id = excluded.org_id, name = coalesce(excluded.name, plants.name),", "")
        } else {
            ("", "WHERE plants.org_id IS excluded.org_id AND plants.name IS excluded.name")
        };
        format!(
            "INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, {optional},
                last_refreshed_at, is_active, raw_json, change_seq, created_at, updated_at)
             SELECT ?1, ?2, s.vendor_plant_id, coalesce(s.name, 'Plant ' || s.vendor_plant_id),
                {source}, ?3, 1, s.raw_json, ?4 + s.ord, ?3, ?3
             FROM temp.src AS s WHERE true ORDER BY s.ord
             ON CONFLICT (vendor_id, vendor_plant_id) DO UPDATE SET
                {assign}
                {merges},
                last_refreshed_at = excluded.last_refreshed_at,
                is_active = 1,
                raw_json = coalesce(excluded.raw_json, plants.raw_json),
                change_seq = CASE WHEN {changed} THEN excluded.change_seq ELSE plants.change_seq END,
                updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE plants.updated_at END
             {guard}",
            optional = OPTIONAL.join(", "),
        )
    };
    EngineSql { keeping: form(false), full: form(true) }
}

/// Loads `rows` into `temp.src` (not timed).
fn load_temp(conn: &Connection, rows: &[VendorPlant]) {
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.src;
         CREATE TEMP TABLE src (ord INTEGER PRIMARY KEY, vendor_plant_id TEXT NOT NULL,
            name TEXT, {}, raw_json TEXT);",
        OPTIONAL.join(", ")
    ))
    .expect("temp table");
    let tx = conn.unchecked_transaction().expect("begin");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO temp.src VALUES
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .expect("prepare");
        for (ord, p) in rows.iter().enumerate() {
            insert
                .execute(params![
                    ord as i64,
                    p.vendor_plant_id,
                    p.name,
                    p.capacity_kw,
                    p.address,
                    p.latitude,
                    p.longitude,
                    p.timezone,
                    p.network_status,
                    p.current_power_kw,
                    p.daily_energy_kwh,
                    p.total_energy_kwh,
                    p.vendor_updated_at.map(|t| t.to_canonical()),
                    p.status.map(|s| s.as_str()),
                    p.raw_json,
                ])
                .expect("load");
        }
    }
    tx.commit().expect("commit");
}

/// Counts the rows stamped above the old counter `?1`, those of them created after row `?2`,
/// and the highest number stamped: the store's `CHANGED_IN_BATCH_SQL`.
const CHANGED_SQL: &str = "SELECT count(*), coalesce(sum(id > ?2), 0), max(change_seq)
     FROM plants WHERE change_seq > ?1";

/// The engine-only round: one transaction, one statement, counted as the store counts.
fn engine_run(
    conn: &mut Connection,
    sql: &EngineSql,
    rows: &[VendorPlant],
    vendor: VendorId,
    now: Timestamp,
) -> (Took, UpsertCounts) {
    let (started, cpu) = (Instant::now(), process_cpu());
    let tx =
        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
    let org: Option<i64> = tx
        .query_row("SELECT org_id FROM vendors WHERE id = ?1", [vendor.0], |r| r.get(0))
        .expect("vendor");
    let max_id_before: i64 =
        tx.query_row("SELECT coalesce(max(id), 0) FROM plants", [], |r| r.get(0)).expect("max");
    let counter: i64 = tx
        .query_row("SELECT value FROM change_counter WHERE id = 1", [], |r| r.get(0))
        .expect("counter");
    let args = params![vendor.0, org, now.to_canonical(), counter + 1];
    let applied = tx.execute(&sql.keeping, args).expect("engine-only upsert");
    if applied < rows.len() {
        // Some listing renames a plant or moves it: apply every listing again with the form
        // that may. A listing applied above is applied again unchanged; the last one still
        // wins. (Never runs in this bench: no plant is renamed.)
        tx.execute(&sql.full, args).expect("engine-only upsert, renaming form");
    }
    let (changed, created, highest): (i64, i64, Option<i64>) = tx
        .query_row(CHANGED_SQL, [counter, max_id_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("count");
    if let Some(highest) = highest {
        tx.execute("UPDATE change_counter SET value = ?1 WHERE id = 1", [highest])
            .expect("counter");
    }
    tx.commit().expect("commit");
    let listed = rows.iter().map(|p| p.vendor_plant_id.as_str()).collect::<HashSet<_>>().len();
    let (changed, created, listed) = (changed as u64, created as u64, listed as u64);
    let counts = UpsertCounts { created, updated: changed - created, unchanged: listed - changed };
    (Took::since(started, cpu), counts)
}

async fn store_run(
    store: &Store,
    vendor: VendorId,
    batches: Vec<Arc<[VendorPlant]>>,
    now: Timestamp,
) -> (Took, UpsertCounts) {
    let mut counts = UpsertCounts::default();
    let (started, cpu) = (Instant::now(), process_cpu());
    for batch in batches {
        let batch = store.upsert_plants(vendor, batch, now).await.expect("upsert");
        counts.created += batch.created;
        counts.updated += batch.updated;
        counts.unchanged += batch.unchanged;
    }
    (Took::since(started, cpu), counts)
}

/// Every stored column of every plant, in key order; `change_seq` as "above `floor`".
fn snapshot(path: &Path, floor: i64) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = inspect(path);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id, vendor_plant_id, org_id, name, {}, last_refreshed_at, is_active, raw_json,
                    change_seq > ?1, created_at, updated_at
             FROM plants ORDER BY vendor_id, vendor_plant_id",
            OPTIONAL.join(", ")
        ))
        .expect("snapshot");
    let width = stmt.column_count();
    stmt.query_map([floor], |row| (0..width).map(|i| row.get(i)).collect())
        .expect("snapshot")
        .collect::<Result<_, _>>()
        .expect("snapshot rows")
}

/// The change counter, checked to be the highest `change_seq` stored.
fn counter(path: &Path) -> i64 {
    let (value, highest): (i64, i64) = inspect(path)
        .query_row(
            "SELECT value, (SELECT coalesce(max(change_seq), 0) FROM plants)
             FROM change_counter WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counter");
    assert!(value >= highest, "counter {value} below a stored change_seq {highest}");
    value
}

/// CPU time of this process so far, every thread included, from `/proc/self/stat` (Linux;
/// `None` elsewhere). On a shared machine it varies far less than wall-clock time does.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of the line, in ticks of USER_HZ (100 on Linux).
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Wall-clock and CPU time of one side's round.
struct Took {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Took {
    fn since(wall: Instant, cpu: Option<Duration>) -> Self {
        let cpu = cpu.zip(process_cpu()).map(|(before, after)| after.saturating_sub(before));
        Self { wall: wall.elapsed(), cpu }
    }

    /// CPU microseconds per row, as text.
    fn cpu_per_row(&self) -> String {
        self.cpu.map_or("n/a".into(), |c| format!("{:.1}", c.as_secs_f64() * 1e6 / PLANTS as f64))
    }
}

fn rate(rows: usize, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64()
}

#[derive(Default)]
struct Range {
    store: Vec<f64>,
    engine: Vec<f64>,
    ratio: Vec<f64>,
    /// CPU microseconds per row, store then engine-only (empty where unknown).
    cpu: Vec<(f64, f64)>,
}

fn span(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
}

/// The store's side of one round, on a freshly opened store (closed again before returning).
async fn store_round(
    path: &Path,
    vendor: VendorId,
    rows: &[VendorPlant],
    now: Timestamp,
) -> (Took, UpsertCounts) {
    let store = Store::open(path).expect("store");
    // Batches are built before the clock starts, as the sync engine builds them (moved, not
    // copied, out of the listing) before it calls the store.
    let batches: Vec<Arc<[VendorPlant]>> = rows.chunks(BATCH_SIZE).map(Arc::from).collect();
    let result = store_run(&store, vendor, batches, now).await;
    store.close();
    result
}

/// The engine-only side of one round, on a fresh connection (closed again before returning).
fn engine_round(
    path: &Path,
    sql: &EngineSql,
    rows: &[VendorPlant],
    vendor: VendorId,
    now: Timestamp,
) -> (Took, UpsertCounts) {
    let mut conn = engine_connection(path);
    load_temp(&conn, rows);
    engine_run(&mut conn, sql, rows, vendor, now)
}

/// One fresh pair of databases, both rounds; pushes the rates into `ranges`.
///
/// Each side runs on connections opened for its round and closed after it, so that nothing of
/// the other side is open while it is timed: the bundled SQLite is built with
/// `SQLITE_ENABLE_MEMORY_MANAGEMENT`, so all connections of a process share one page-cache
/// pool, and a side timed while the other's connection still held its 16 MiB of cached pages
/// ran up to 1.8x slower in CPU time (whichever ran second). Both sides therefore start each
/// round with a cold cache and a checkpointed file.
async fn one_repeat(repeat: usize, engine_sql: &EngineSql, ranges: &mut [Range; 2]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours_path = dir.path().join("store.db");
    let engine_path = dir.path().join("engine.db");
    let (store, vendor) = bench_store(&ours_path).await;
    store.close();
    let (engine_store, engine_vendor) = bench_store(&engine_path).await;
    engine_store.close();
    for round in 1..=2u32 {
        let rows = plants(round);
        let now = round_time(round);
        let (ours_floor, engine_floor) = (counter(&ours_path), counter(&engine_path));
        let ((ours, ours_counts), (theirs, engine_counts)) = if repeat % 2 == 1 {
            let ours = store_round(&ours_path, vendor, &rows, now).await;
            (ours, engine_round(&engine_path, engine_sql, &rows, engine_vendor, now))
        } else {
            let theirs = engine_round(&engine_path, engine_sql, &rows, engine_vendor, now);
            (store_round(&ours_path, vendor, &rows, now).await, theirs)
        };
        let n = PLANTS as u64;
        let expected = if round == 1 {
            UpsertCounts { created: n, updated: 0, unchanged: 0 }
        } else {
            UpsertCounts { created: 0, updated: n, unchanged: 0 }
        };
        assert_eq!(ours_counts, expected, "store counts, round {round}");
        assert_eq!(engine_counts, expected, "engine-only counts, round {round}");
        let ours_rows = snapshot(&ours_path, ours_floor);
        let engine_rows = snapshot(&engine_path, engine_floor);
        assert_eq!(ours_rows.len(), PLANTS, "store rows after round {round}");
        assert_eq!(engine_rows.len(), PLANTS, "engine-only rows after round {round}");
        assert!(ours_rows == engine_rows, "the two databases differ after round {round}");
        assert!(counter(&ours_path) > ours_floor, "store counter, round {round}");
        assert!(counter(&engine_path) > engine_floor, "engine-only counter, round {round}");

        let (ours_rate, theirs_rate) = (rate(PLANTS, ours.wall), rate(PLANTS, theirs.wall));
        let ratio = ours_rate / theirs_rate;
        let range = &mut ranges[round as usize - 1];
        range.store.push(ours_rate);
        range.engine.push(theirs_rate);
        range.ratio.push(ratio);
        if let (Some(a), Some(b)) = (ours.cpu, theirs.cpu) {
            let per_row = |d: Duration| d.as_secs_f64() * 1e6 / PLANTS as f64;
            range.cpu.push((per_row(a), per_row(b)));
        }
        println!(
            "run {repeat} round {round} ({}): store {ours_rate:>7.0} rows/s ({:.2} s, cpu {} us/row), \
             engine-only {theirs_rate:>7.0} rows/s ({:.2} s, cpu {} us/row), ratio {ratio:.2}x",
            ROUND_NAMES[round as usize - 1],
            ours.wall.as_secs_f64(),
            ours.cpu_per_row(),
            theirs.wall.as_secs_f64(),
            theirs.cpu_per_row(),
        );
    }
}

const ROUND_NAMES: [&str; 2] = ["inserts", "updates"];

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let engine_sql = engine_sql();
    let mut ranges = [Range::default(), Range::default()];
    println!(
        "upsert of {PLANTS} plants: store (transactions of {BATCH_SIZE}) vs engine-only \
         (one INSERT ... SELECT from a TEMP table, one transaction)"
    );
    for repeat in 1..=REPEATS {
        runtime.block_on(one_repeat(repeat, &engine_sql, &mut ranges));
    }
    for (name, range) in ROUND_NAMES.iter().zip(&ranges) {
        let (s, e, r) = (span(&range.store), span(&range.engine), span(&range.ratio));
        let verdict = if r.0 >= GOAL {
            "met"
        } else if r.1 >= GOAL {
            "met in some runs"
        } else {
            "not met"
        };
        println!(
            "{name} over {REPEATS} runs: store {:.0}-{:.0} rows/s, engine-only {:.0}-{:.0} rows/s, \
             ratio {:.2}-{:.2}x (goal >= {GOAL}x: {verdict})",
            s.0, s.1, e.0, e.1, r.0, r.1,
        );
        if !range.cpu.is_empty() {
            let store_cpu: Vec<f64> = range.cpu.iter().map(|c| c.0).collect();
            let engine_cpu: Vec<f64> = range.cpu.iter().map(|c| c.1).collect();
            let cpu_ratio: Vec<f64> = range.cpu.iter().map(|c| c.1 / c.0).collect();
            let (s, e, r) = (span(&store_cpu), span(&engine_cpu), span(&cpu_ratio));
            println!(
                "{name} CPU time: store {:.1}-{:.1} us/row, engine-only {:.1}-{:.1} us/row, \
                 ratio {:.2}-{:.2}x",
                s.0, s.1, e.0, e.1, r.0, r.1,
            );
        }
    }
}
