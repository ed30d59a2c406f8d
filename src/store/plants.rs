//! Plants: the idempotent upsert from vendor listings, deactivation of vanished plants and
//! the listings.
//!
//! The upsert keeps two promises the original system broke: a field the vendor did not send
//! (`None`) never overwrites a stored value with NULL, while a real `0` is stored as `0`; and
//! an upsert that changes nothing leaves `updated_at` and `change_seq` alone (it still records
//! `last_refreshed_at`, which says when the vendor last listed the plant).

use super::{Result, Store, StoreError, codec::like_contains, history, orgs, seq, vendors};
use crate::domain::{OrgId, Plant, PlantId, PlantStatus, Timestamp, VendorId, VendorPlant};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Columns a vendor may leave out: merged with `coalesce` so absence keeps the stored value.
/// Public so the store benchmark builds its engine-only statement from the same list.
pub const OPTIONAL_COLUMNS: &[&str] = &[
    "capacity_kw",
    "address",
    "latitude",
    "longitude",
    "timezone",
    "network_status",
    "current_power_kw",
    "daily_energy_kwh",
    "total_energy_kwh",
    "vendor_updated_at",
    "status",
];

/// The optional columns that are `NOT NULL` in the schema, with the value an inserted row
/// takes when the listing leaves them out. Beside [`OPTIONAL_COLUMNS`], so the insert's
/// `VALUES` is built from both and no column's place is written down twice: reordering
/// or adding a column cannot give one column's default to another.
pub const NOT_NULL_DEFAULTS: &[(&str, &str)] = &[("status", "'unknown'")];

/// The parameters of the upsert after the four fixed ones (`vendor_id`, `org_id`,
/// `vendor_plant_id`, `name`) and the optional columns (`?5` on): the refresh time, the raw
/// row and the change number offered.
/// Then the reading's live slot (`store/history.rs`, [`history::slot_assignments`]): its
/// day, energy, power and time, all NULL when the history is off or the listing has no
/// reading.
struct TrailingParams {
    now: String,
    raw_json: String,
    offered: String,
    slot: [String; 4],
}

fn trailing_params() -> TrailingParams {
    let first = 5 + OPTIONAL_COLUMNS.len();
    let at = |i: usize| format!("?{}", first + i);
    TrailingParams {
        now: at(0),
        raw_json: at(1),
        offered: at(2),
        slot: [at(3), at(4), at(5), at(6)],
    }
}

/// The value `plant` offers for the optional column `column`, bound in the order of
/// [`OPTIONAL_COLUMNS`]. A column without a field here would bind NULL (keeping the
/// stored value): the test `every_optional_column_is_bound_from_its_field` catches it.
fn optional_value<'a>(plant: &'a VendorPlant, column: &str) -> &'a dyn rusqlite::ToSql {
    match column {
        "capacity_kw" => &plant.capacity_kw,
        "address" => &plant.address,
        "latitude" => &plant.latitude,
        "longitude" => &plant.longitude,
        "timezone" => &plant.timezone,
        "network_status" => &plant.network_status,
        "current_power_kw" => &plant.current_power_kw,
        "daily_energy_kwh" => &plant.daily_energy_kwh,
        "total_energy_kwh" => &plant.total_energy_kwh,
        "vendor_updated_at" => &plant.vendor_updated_at,
        "status" => &plant.status,
        _ => &rusqlite::types::Null,
    }
}

/// The upsert statement in one of its two forms, built from [`OPTIONAL_COLUMNS`] so the
/// "changed" test and the assignments cannot drift apart (and the `VALUES` with
/// [`NOT_NULL_DEFAULTS`]). The last parameter is the change number offered to the row
/// ([`trailing_params`]): a new row takes it, an existing row takes it only if something
/// really changed.
///
/// * [`UPSERT_KEEPING_NAME_SQL`], the one almost every row takes, assigns neither `name` nor
///   `org_id` and applies only if both are as stored (a listing without a name counts as the
///   stored name); otherwise it writes nothing. SQLite plans an `UPDATE` from the columns it
///   assigns, whatever their values: assigning these two makes it rewrite the three indexes
///   on `name` and `org_id` (a delete and an insert each) on every upsert of an existing
///   plant, and, `org_id` being a foreign key, open a statement journal on every execution,
///   inserts included, which copies each page the row touches. Measured with
///   `benches/store_upsert.rs`: 4.4 -> 3.4 µs of CPU a row for inserts, 5.5 -> 3.0 for
///   updates.
/// * [`UPSERT_SQL`] assigns both too; it runs for a listing the first form left alone: a
///   renamed plant, or one whose stored organization is not its vendor's.
///
/// Where the first form applies, both store the same row.
///
/// No `RETURNING`: SQLite runs a `RETURNING` clause as a per-row trigger filling a temporary
/// table (0.9 µs of CPU a row); the batch's outcome is counted from the change numbers
/// instead (see [`upsert`]).
fn upsert_sql(assigns_name_and_org: bool) -> String {
    let name_and_org: &[&str] = if assigns_name_and_org {
        &["plants.org_id IS NOT excluded.org_id", "(?4 IS NOT NULL AND plants.name IS NOT ?4)"]
    } else {
        &[]
    };
    let changed = name_and_org
        .iter()
        .map(|c| (*c).to_owned())
        .chain(std::iter::once("plants.is_active = 0".to_owned()))
        .chain(
            optional_sources().map(|(c, p)| format!("({p} IS NOT NULL AND plants.{c} IS NOT {p})")),
        )
        .collect::<Vec<_>>()
        .join(" OR ");
    let merges = optional_sources()
        .map(|(c, p)| format!("{c} = coalesce({p}, plants.{c})"))
        .collect::<Vec<_>>()
        .join(",\n    ");
    let inserted = optional_sources()
        .map(|(c, p)| match NOT_NULL_DEFAULTS.iter().find(|(column, _)| *column == c) {
            Some((_, default)) => format!("coalesce({p}, {default})"),
            None => p,
        })
        .collect::<Vec<_>>()
        .join(", ");
    let TrailingParams { now, raw_json, offered, slot } = trailing_params();
    let [day, energy, power, at] = &slot;
    let slot_assignments = history::slot_assignments(day, energy, power, at);
    let (assign, only_if) = if assigns_name_and_org {
        ("org_id = excluded.org_id,\n            name = coalesce(?4, plants.name),", "")
    } else {
        ("", "WHERE plants.org_id IS excluded.org_id AND (?4 IS NULL OR plants.name IS ?4)")
    };
    format!(
        "INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, {optional},
            last_refreshed_at, is_active, raw_json, change_seq, created_at, updated_at,
            {slot_columns})
         VALUES (?1, ?2, ?3, coalesce(?4, 'Plant ' || ?3), {inserted},
            {now}, 1, {raw_json}, {offered}, {now}, {now}, {day}, {energy}, {power}, {at})
         ON CONFLICT (vendor_id, vendor_plant_id) DO UPDATE SET
            {assign}
            {merges},
            {slot_assignments},
            last_refreshed_at = excluded.last_refreshed_at,
            is_active = 1,
            raw_json = coalesce(excluded.raw_json, plants.raw_json),
            change_seq = CASE WHEN {changed} THEN excluded.change_seq ELSE plants.change_seq END,
            updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE plants.updated_at END
         {only_if}",
        optional = OPTIONAL_COLUMNS.join(", "),
        slot_columns = history::SLOT_COLUMNS,
    )
}

/// Each optional column with the parameter that carries the listing's value (`?5` on). The
/// merge reads the parameter, not `excluded.<column>`: a NOT NULL column (`status`) gets its
/// default in the inserted row, so `excluded` would never show that the listing left it out.
fn optional_sources() -> impl Iterator<Item = (&'static str, String)> {
    OPTIONAL_COLUMNS.iter().zip(5..).map(|(c, i)| (*c, format!("?{i}")))
}

/// The upsert that keeps the stored name and organization; see [`upsert_sql`].
static UPSERT_KEEPING_NAME_SQL: LazyLock<String> = LazyLock::new(|| upsert_sql(false));

/// The upsert that may also rename a plant or move it; see [`upsert_sql`].
static UPSERT_SQL: LazyLock<String> = LazyLock::new(|| upsert_sql(true));

/// What an upsert did, row by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New rows.
    pub created: u64,
    /// Existing rows with a real change.
    pub updated: u64,
    /// Existing rows the vendor reported exactly as stored.
    pub unchanged: u64,
}

/// Sort orders for [`Store::list_plants`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PlantSort {
    /// By name.
    #[default]
    Name,
    /// By installed capacity.
    Capacity,
    /// By current power.
    Power,
    /// By today's energy.
    Energy,
    /// By last change.
    Updated,
    /// By id.
    Id,
}

impl PlantSort {
    fn column(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Capacity => "capacity_kw",
            Self::Power => "current_power_kw",
            Self::Energy => "daily_energy_kwh",
            Self::Updated => "updated_at",
            Self::Id => "id",
        }
    }
}

/// Filters for [`Store::list_plants`].
#[derive(Debug, Clone, Default)]
pub struct PlantFilter {
    /// Organization id or name.
    pub org: Option<String>,
    /// Vendor id or unique name.
    pub vendor: Option<String>,
    /// Only plants in this status.
    pub status: Option<StatusFilter>,
    /// Only active (`true`) or inactive (`false`) plants.
    pub active: Option<bool>,
    /// Substring of the name (case-insensitive for ASCII).
    pub search: Option<String>,
    /// Sort order.
    pub sort: PlantSort,
    /// Reverse the order.
    pub descending: bool,
    /// At most this many rows.
    pub limit: Option<u64>,
}

/// A plant status to filter on: plantsync's own word (`offline`), which covers every portal,
/// or a vendor's own word (`ALL_OFFLINE`), matched case-insensitively against
/// `network_status`. Parsed once at the edge by [`StatusFilter::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusFilter {
    /// The normalized status.
    Normalized(PlantStatus),
    /// A portal's own word, trimmed.
    VendorWord(String),
}

impl StatusFilter {
    /// A normalized status when `text` is one, else the vendor's word; `None` when blank.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.parse::<PlantStatus>() {
            Ok(status) => Self::Normalized(status),
            Err(_) => Self::VendorWord(text.to_owned()),
        })
    }
}

const COLUMNS: &str = "id, vendor_id, org_id, vendor_plant_id, name, capacity_kw, address,
    latitude, longitude, timezone, network_status, current_power_kw, daily_energy_kwh,
    total_energy_kwh, vendor_updated_at, last_refreshed_at, is_active, change_seq, created_at,
    updated_at, status";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Plant> {
    Ok(Plant {
        id: row.get(0)?,
        vendor_id: row.get(1)?,
        org_id: row.get(2)?,
        vendor_plant_id: row.get(3)?,
        name: row.get(4)?,
        capacity_kw: row.get(5)?,
        address: row.get(6)?,
        latitude: row.get(7)?,
        longitude: row.get(8)?,
        timezone: row.get(9)?,
        network_status: row.get(10)?,
        current_power_kw: row.get(11)?,
        daily_energy_kwh: row.get(12)?,
        total_energy_kwh: row.get(13)?,
        vendor_updated_at: row.get(14)?,
        last_refreshed_at: row.get(15)?,
        is_active: row.get(16)?,
        change_seq: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
        status: row.get(20)?,
    })
}

/// Counts the rows stamped with a change number above `?1` (the counter before the batch),
/// those of them created after row id `?2`, and the highest number stamped. `change_seq` is
/// indexed, so this reads only the batch's changed rows.
const CHANGED_IN_BATCH_SQL: &str = "SELECT count(*), coalesce(sum(id > ?2), 0), max(change_seq)
     FROM plants WHERE change_seq > ?1";

/// Upserts `plants` of one vendor inside the caller's transaction.
///
/// # Change numbers
///
/// The listing at position `i` of the batch offers number `counter + 1 + i`; the row takes it
/// if the listing creates or really changes it, and the counter then moves to the highest
/// number taken. The counter is at least every `change_seq` stored, so every changed row gets
/// a number above every earlier change, rows of one batch get distinct numbers in listing
/// order, and the next transaction that changes anything takes higher ones. Numbers offered
/// to unchanged listings are skipped: "what changed after N" needs numbers that only grow,
/// not numbers without gaps. (One number for the whole batch would serve that reading as
/// well, since a batch commits as one transaction; but it would save nothing, the number
/// being a bound parameter either way, and it would renumber rows in recorded CLI output,
/// `tests/snapshots/plant_show.json`.)
///
/// The numbers also yield the counts without reading anything back per row (`RETURNING` costs
/// a per-row trigger): after the batch, exactly the rows it created or changed hold a number
/// above the old counter, the new ones above the largest id before it; every other key it
/// listed is unchanged. A plant listed twice is one key, counted once: created if the batch
/// created it, else updated if either listing changed it, else unchanged.
///
/// `history`, when the energy history is on, holds the readings of the batch
/// ([`history::LiveReading::of_batch`]) and the zone of plants without one: each upsert then
/// also merges its reading into the plant's live slot. A plant listed again after its slot
/// may have moved to another day has the moved slot copied into `plant_days` first (with
/// numbers above every number the batch offers), so no second move overwrites it.
fn upsert(
    conn: &Connection,
    vendor_id: VendorId,
    org_id: Option<OrgId>,
    plants: &[VendorPlant],
    now: Timestamp,
    history: Option<(&[Option<history::LiveReading>], crate::domain::PlantZone)>,
) -> Result<UpsertCounts> {
    let max_id_before: i64 = conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM plants")?
        .query_row([], |r| r.get(0))?;
    let counter = seq::current(conn)?;
    // Formatted once for the batch, not once per row.
    let now = now.to_canonical();
    let slots = match history {
        Some((readings, fallback)) => {
            history::live_slots(conn, vendor_id, plants, readings, fallback)?
        }
        None => Vec::new(),
    };
    let mut copied_between = false;
    let mut keeping = conn.prepare_cached(&UPSERT_KEEPING_NAME_SQL)?;
    let mut full = None;
    for (i, (offered, plant)) in (counter + 1..).zip(plants).enumerate() {
        let slot = slots.get(i).and_then(Option::as_ref);
        if let Some((readings, _)) = history
            && readings.get(i).and_then(Option::as_ref).is_some_and(history::LiveReading::repeats)
        {
            if !copied_between {
                seq::set(conn, counter + plants.len() as i64)?;
                copied_between = true;
            }
            history::copy_replaced(conn, &now)?;
        }
        let null = &rusqlite::types::Null as &dyn rusqlite::ToSql;
        let slot_args: [&dyn rusqlite::ToSql; 4] = match slot {
            Some(slot) => [&slot.day, &slot.energy_kwh, &slot.power_kw, &slot.at_text],
            None => [null; 4],
        };
        // In the order of the statement's parameters (see `upsert_sql`).
        let fixed: [&dyn rusqlite::ToSql; 4] =
            [&vendor_id, &org_id, &plant.vendor_plant_id, &plant.name];
        let trailing: [&dyn rusqlite::ToSql; 3] = [&now, &plant.raw_json, &offered];
        let args: Vec<&dyn rusqlite::ToSql> = fixed
            .into_iter()
            .chain(OPTIONAL_COLUMNS.iter().map(|column| optional_value(plant, column)))
            .chain(trailing)
            .chain(slot_args)
            .collect();
        // Nothing written: the plant exists with another name or organization.
        if keeping.execute(params_from_iter(&args))? == 0 {
            let full = match &mut full {
                Some(full) => full,
                None => full.insert(conn.prepare_cached(&UPSERT_SQL)?),
            };
            full.execute(params_from_iter(&args))?;
        }
    }
    let (changed, created, highest): (i64, i64, Option<i64>) = conn
        .prepare_cached(CHANGED_IN_BATCH_SQL)?
        .query_row(params![counter, max_id_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    // A copy between the upserts took numbers above every offered one.
    let floor = if copied_between { seq::current(conn)? } else { counter };
    if let Some(highest) = highest
        && highest > floor
    {
        seq::set(conn, highest)?;
    }
    let listed = plants.iter().map(|p| p.vendor_plant_id.as_str()).collect::<HashSet<_>>().len();
    let (changed, created) = (changed.max(0) as u64, created.max(0) as u64);
    Ok(UpsertCounts {
        created,
        updated: changed - created,
        unchanged: (listed as u64).saturating_sub(changed),
    })
}

impl Store {
    /// Upserts one batch of a vendor's plants in one transaction, keyed on
    /// `(vendor_id, vendor_plant_id)`. The plants take the vendor's organization. Either the
    /// whole batch is stored or none of it (the caller may then retry row by row).
    pub async fn upsert_plants(
        &self,
        vendor_id: VendorId,
        plants: impl Into<std::sync::Arc<[VendorPlant]>>,
        now: Timestamp,
    ) -> Result<UpsertCounts> {
        self.upsert_plants_recording(vendor_id, plants, now, None).await
    }

    /// [`Store::upsert_plants`], and with `history` (the configured zone, for plants without
    /// their own) the batch's readings go into the energy history in the same transaction:
    /// each plant's live slot (today's values, in its own row) and a power sample
    /// (`store/history.rs` has the rules).
    pub async fn upsert_plants_recording(
        &self,
        vendor_id: VendorId,
        plants: impl Into<std::sync::Arc<[VendorPlant]>>,
        now: Timestamp,
        history: Option<crate::domain::PlantZone>,
    ) -> Result<UpsertCounts> {
        let plants = plants.into();
        // Prepared here, on the caller's task: the writer serves every vendor in turn.
        let readings = history
            .map(|fallback| (history::LiveReading::of_batch(&plants, now, fallback), fallback));
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only the organization is needed: not `vendors::get`, whose plant count would
            // scan the vendor's plants on every batch.
            let org_id: Option<OrgId> = tx
                .prepare_cached("SELECT org_id FROM vendors WHERE id = ?1")?
                .query_row([vendor_id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound {
                    what: "vendor",
                    id: vendor_id.to_string(),
                })?;
            let live =
                readings.as_ref().map(|(readings, fallback)| (readings.as_slice(), *fallback));
            let counts = upsert(&tx, vendor_id, org_id, &plants, now, live)?;
            if counts.created > 0 {
                // A new plant has no history: the vendor's next gap search must run.
                super::history_settled::forget(&tx, vendor_id)?;
            }
            if let Some((readings, _)) = &readings {
                history::record_live(&tx, vendor_id, &plants, readings, now)?;
            }
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    /// After a complete listing in which every row decoded: marks the vendor's active
    /// plants whose ids were not in it (`listed`) as inactive, and returns how many. The
    /// ids, not a time, decide, so a plant refreshed in the same millisecond a later run
    /// started is still told apart. A listing with an unreadable row must not come here
    /// (`sync::plants`): its plant may be one whose id could not be read.
    pub async fn deactivate_plants_not_listed(
        &self,
        vendor_id: VendorId,
        listed: Vec<String>,
    ) -> Result<u64> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS listed_plant_ids (id TEXT PRIMARY KEY)",
                [],
            )?;
            tx.execute("DELETE FROM listed_plant_ids", [])?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT OR IGNORE INTO listed_plant_ids (id) VALUES (?1)")?;
                for id in &listed {
                    insert.execute([id])?;
                }
            }
            let change = seq::current(&tx)? + 1;
            let changed = tx.execute(
                "UPDATE plants SET is_active = 0, change_seq = ?1,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE vendor_id = ?2 AND is_active = 1
                   AND vendor_plant_id NOT IN (SELECT id FROM listed_plant_ids)",
                params![change, vendor_id],
            )?;
            if changed > 0 {
                seq::set(&tx, change)?;
            }
            tx.execute("DELETE FROM listed_plant_ids", [])?;
            tx.commit()?;
            Ok(changed as u64)
        })
        .await
    }

    /// Records the vendor's plants `ids` as seen at `seen_at` without changing anything
    /// else: they were listed, but their rows did not decode (they still exist at the
    /// vendor and keep their stored values).
    pub async fn mark_plants_seen(
        &self,
        vendor_id: VendorId,
        ids: Vec<String>,
        seen_at: Timestamp,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut touch = tx.prepare_cached(
                    "UPDATE plants SET last_refreshed_at = ?1 WHERE vendor_id = ?2 AND vendor_plant_id = ?3",
                )?;
                for id in &ids {
                    touch.execute(params![seen_at, vendor_id, id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Plants matching `filter`.
    pub async fn list_plants(&self, filter: PlantFilter) -> Result<Vec<Plant>> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {COLUMNS} FROM plants WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            // The organization first: among vendors sharing a name, it picks the vendor.
            let org = filter.org.as_deref().map(|o| orgs::resolve(conn, o)).transpose()?;
            if let Some(org) = &org {
                args.push(Value::Integer(org.id.0));
                sql.push_str(&format!(" AND org_id = ?{}", args.len()));
            }
            if let Some(vendor) = &filter.vendor {
                let vendor = vendors::resolve_in(conn, vendor, org.map(|o| o.id))?;
                args.push(Value::Integer(vendor.id.0));
                sql.push_str(&format!(" AND vendor_id = ?{}", args.len()));
            }
            match &filter.status {
                Some(StatusFilter::Normalized(status)) => {
                    args.push(Value::Text(status.as_str().to_owned()));
                    sql.push_str(&format!(" AND status = ?{}", args.len()));
                }
                Some(StatusFilter::VendorWord(word)) => {
                    args.push(Value::Text(word.clone()));
                    sql.push_str(&format!(" AND network_status = ?{} COLLATE NOCASE", args.len()));
                }
                None => {}
            }
            if let Some(active) = filter.active {
                args.push(Value::Integer(i64::from(active)));
                sql.push_str(&format!(" AND is_active = ?{}", args.len()));
            }
            if let Some(search) = &filter.search {
                args.push(Value::Text(like_contains(search)));
                sql.push_str(&format!(" AND name LIKE ?{} ESCAPE '\\'", args.len()));
            }
            let direction = if filter.descending { "DESC" } else { "ASC" };
            sql.push_str(&format!(
                " ORDER BY {} {direction}, id {direction}",
                filter.sort.column()
            ));
            if let Some(limit) = filter.limit {
                args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
                sql.push_str(&format!(" LIMIT ?{}", args.len()));
            }
            let mut stmt = conn.prepare(&sql)?;
            let rows =
                stmt.query_map(params_from_iter(args), from_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The portals' own status words stored (`network_status`), each once, sorted: what
    /// `plants list --status` can match besides the five normalized words.
    pub async fn stored_network_statuses(&self) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT DISTINCT network_status FROM plants WHERE network_status IS NOT NULL
                 ORDER BY network_status",
            )?;
            let words = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(words)
        })
        .await
    }

    /// One plant by id, with the vendor's raw record.
    pub async fn get_plant(&self, id: PlantId) -> Result<(Plant, Option<String>)> {
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS}, raw_json FROM plants WHERE id = ?1"),
                [id],
                |row| Ok((from_row(row)?, row.get(21)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound { what: "plant", id: id.to_string() })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VendorKind;
    use crate::store::test_support::temp_store;

    /// Every optional column binds its own field, and its `VALUES` entry names its own
    /// parameter with its own default: nothing depends on where a column sits in the list.
    #[test]
    fn every_optional_column_is_bound_from_its_field() {
        use rusqlite::types::{ToSqlOutput, Value as SqlValue};
        let plant = VendorPlant {
            vendor_plant_id: "1".into(),
            capacity_kw: Some(1.0),
            address: Some("a".into()),
            latitude: Some(1.0),
            longitude: Some(1.0),
            timezone: Some("UTC".into()),
            network_status: Some("ok".into()),
            current_power_kw: Some(1.0),
            daily_energy_kwh: Some(1.0),
            total_energy_kwh: Some(1.0),
            vendor_updated_at: Some(Timestamp::now()),
            status: Some(PlantStatus::Online),
            ..VendorPlant::default()
        };
        for column in OPTIONAL_COLUMNS {
            let bound = optional_value(&plant, column).to_sql().unwrap();
            let null = matches!(bound, ToSqlOutput::Owned(SqlValue::Null))
                || matches!(bound, ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Null));
            assert!(!null, "{column} has no field bound");
        }
        let sql = upsert_sql(false);
        // Each inserted column with the value the VALUES list gives it, by position: not a
        // search of the whole text, where the DO UPDATE's coalesce has the same parameters.
        let columns = parenthesized_list(&sql, "INSERT INTO plants (");
        let values = parenthesized_list(&sql, "VALUES (");
        assert_eq!(columns.len(), values.len(), "{sql}");
        let inserted: std::collections::HashMap<&str, &str> =
            columns.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
        for (column, param) in optional_sources() {
            let expected = match NOT_NULL_DEFAULTS.iter().find(|(c, _)| *c == column) {
                Some((_, default)) => format!("coalesce({param}, {default})"),
                None => param.clone(),
            };
            assert_eq!(inserted.get(column).copied(), Some(expected.as_str()), "{column}: {sql}");
        }
        let TrailingParams { offered, slot, .. } = trailing_params();
        let n = OPTIONAL_COLUMNS.len();
        assert_eq!(offered, format!("?{}", 7 + n));
        // The live slot's columns, inserted from the four parameters after it.
        for (i, column) in history::SLOT_COLUMNS.split(", ").enumerate() {
            assert_eq!(slot[i], format!("?{}", 8 + n + i));
            assert_eq!(inserted.get(column).copied(), Some(slot[i].as_str()), "{column}: {sql}");
        }
        assert!(!sql.contains(&format!("?{}", 12 + n)), "no parameter past them");
        // The one NOT NULL column with a default: a listing without a status inserts it.
        assert_eq!(NOT_NULL_DEFAULTS, [("status", "'unknown'")]);
    }

    /// The items of the parenthesized list that follows `opening` in `sql` (which ends
    /// with the opening parenthesis), split at its top-level commas and trimmed.
    fn parenthesized_list(sql: &str, opening: &str) -> Vec<String> {
        let start = sql.find(opening).unwrap_or_else(|| panic!("no {opening} in {sql}"));
        let (mut depth, mut items, mut item) = (0usize, Vec::new(), String::new());
        for c in sql[start + opening.len()..].chars() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut item).trim().to_owned());
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        items.push(item.trim().to_owned());
        items
    }

    #[test]
    fn a_parenthesized_list_splits_at_top_level_commas() {
        let sql = "INSERT INTO t (a, b) VALUES (?1, coalesce(?2, 'x')) ON CONFLICT (a)";
        assert_eq!(parenthesized_list(sql, "VALUES ("), ["?1", "coalesce(?2, 'x')"]);
        assert_eq!(parenthesized_list(sql, "INSERT INTO t ("), ["a", "b"]);
    }

    async fn vendor(store: &Store) -> VendorId {
        crate::store::test_support::org_vendor(store, VendorKind::Sungrow).await
    }

    fn plant(id: &str, power: Option<f64>) -> VendorPlant {
        VendorPlant {
            vendor_plant_id: id.into(),
            name: Some(format!("Plant {id}")),
            capacity_kw: Some(10.0),
            current_power_kw: power,
            ..Default::default()
        }
    }

    async fn one(store: &Store, vendor: VendorId, id: &str) -> Plant {
        store
            .list_plants(PlantFilter { vendor: Some(vendor.to_string()), ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.vendor_plant_id == id)
            .unwrap()
    }

    #[tokio::test]
    async fn created_then_updated_then_unchanged() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let t1 = Timestamp::now();
        let first = store
            .upsert_plants(v, vec![plant("1", Some(1.0)), plant("2", Some(2.0))], t1)
            .await
            .unwrap();
        assert_eq!(first, UpsertCounts { created: 2, updated: 0, unchanged: 0 });

        let before = one(&store, v, "1").await;
        let t2 = Timestamp::from_unix_millis(t1.as_datetime().timestamp_millis() + 1000).unwrap();
        let second = store
            .upsert_plants(v, vec![plant("1", Some(1.0)), plant("2", Some(5.0))], t2)
            .await
            .unwrap();
        assert_eq!(second, UpsertCounts { created: 0, updated: 1, unchanged: 1 });

        let after = one(&store, v, "1").await;
        assert_eq!(after.updated_at, before.updated_at, "no-op must not bump updated_at");
        assert_eq!(after.change_seq, before.change_seq, "no-op must not bump change_seq");
        assert_eq!(after.last_refreshed_at, Some(t2), "a listing still records when it was seen");
        let changed = one(&store, v, "2").await;
        assert!(changed.change_seq > before.change_seq);
        assert_eq!(changed.updated_at, t2);
    }

    #[tokio::test]
    async fn missing_value_keeps_stored_one_and_zero_stays_zero() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        store.upsert_plants(v, vec![plant("1", Some(4.5))], Timestamp::now()).await.unwrap();
        let counts =
            store.upsert_plants(v, vec![plant("1", None)], Timestamp::now()).await.unwrap();
        assert_eq!(counts.unchanged, 1);
        assert_eq!(one(&store, v, "1").await.current_power_kw, Some(4.5));
        store.upsert_plants(v, vec![plant("1", Some(0.0))], Timestamp::now()).await.unwrap();
        assert_eq!(one(&store, v, "1").await.current_power_kw, Some(0.0));
    }

    #[tokio::test]
    async fn a_missing_name_never_replaces_a_stored_one() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let nameless = VendorPlant { vendor_plant_id: "9".into(), ..Default::default() };
        store.upsert_plants(v, vec![nameless.clone()], Timestamp::now()).await.unwrap();
        assert_eq!(one(&store, v, "9").await.name, "Plant 9", "a new plant gets a fallback");
        let named = VendorPlant { name: Some("Barn".into()), ..nameless.clone() };
        store.upsert_plants(v, vec![named], Timestamp::now()).await.unwrap();
        let counts = store.upsert_plants(v, vec![nameless], Timestamp::now()).await.unwrap();
        assert_eq!(counts.unchanged, 1);
        assert_eq!(one(&store, v, "9").await.name, "Barn");
    }

    #[tokio::test]
    async fn duplicate_in_one_batch_is_counted_once() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let counts = store
            .upsert_plants(v, vec![plant("1", Some(1.0)), plant("1", Some(2.0))], Timestamp::now())
            .await
            .unwrap();
        assert_eq!(counts, UpsertCounts { created: 1, updated: 0, unchanged: 0 });
        assert_eq!(one(&store, v, "1").await.current_power_kw, Some(2.0));
    }

    async fn counter(store: &Store) -> i64 {
        store.read(seq::current).await.unwrap()
    }

    async fn seqs(store: &Store, vendor: VendorId) -> Vec<(String, i64)> {
        let mut plants = store
            .list_plants(PlantFilter { vendor: Some(vendor.to_string()), ..Default::default() })
            .await
            .unwrap();
        plants.sort_by(|a, b| a.vendor_plant_id.cmp(&b.vendor_plant_id));
        plants.into_iter().map(|p| (p.vendor_plant_id, p.change_seq)).collect()
    }

    #[tokio::test]
    async fn change_numbers_rise_within_a_batch_and_across_batches() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let c0 = counter(&store).await;
        let batch = vec![plant("1", Some(1.0)), plant("2", Some(2.0)), plant("3", Some(3.0))];
        store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        // New rows take distinct numbers in listing order, above every earlier change.
        assert_eq!(
            seqs(&store, v).await,
            [("1".into(), c0 + 1), ("2".into(), c0 + 2), ("3".into(), c0 + 3)]
        );
        let c1 = counter(&store).await;
        assert_eq!(c1, c0 + 3);

        // The next batch changes the middle plant only: it alone moves, above the first batch.
        let batch = vec![plant("1", Some(1.0)), plant("2", Some(9.0)), plant("3", Some(3.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 2 });
        let c2 = counter(&store).await;
        assert!(c2 > c1);
        assert_eq!(
            seqs(&store, v).await,
            [("1".into(), c0 + 1), ("2".into(), c2), ("3".into(), c0 + 3)]
        );
        // "What changed after the first batch" is exactly what the second one changed.
        let after_first: Vec<_> =
            seqs(&store, v).await.into_iter().filter(|(_, s)| *s > c1).collect();
        assert_eq!(after_first, [("2".into(), c2)]);

        // A batch that changes nothing takes no number.
        let batch = vec![plant("1", Some(1.0)), plant("2", Some(9.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 0, unchanged: 2 });
        assert_eq!(counter(&store).await, c2);

        // A change and a new plant in one batch: both above c2, in listing order, and later
        // changes of another kind go on from the highest.
        let batch = vec![plant("1", Some(1.0)), plant("3", Some(4.0)), plant("4", None)];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 1, updated: 1, unchanged: 1 });
        let all = seqs(&store, v).await;
        let (three, four) = (all[2].1, all[3].1);
        assert!(c2 < three && three < four, "{all:?}");
        assert_eq!(counter(&store).await, four);
        let none_listed = store.deactivate_plants_not_listed(v, vec![]);
        assert_eq!(none_listed.await.unwrap(), 4);
        assert!(seqs(&store, v).await.iter().all(|(_, s)| *s == four + 1));
        assert_eq!(counter(&store).await, four + 1);
    }

    #[tokio::test]
    async fn a_plant_listed_twice_counts_once_as_changed_if_either_listing_changed_it() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        store.upsert_plants(v, vec![plant("1", Some(1.0))], Timestamp::now()).await.unwrap();
        // The same as stored, then a change.
        let batch = vec![plant("1", Some(1.0)), plant("1", Some(2.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 0 });
        assert_eq!(one(&store, v, "1").await.current_power_kw, Some(2.0));
        // A change, then the stored value again: the last listing wins and it was a change.
        let batch = vec![plant("1", Some(3.0)), plant("1", Some(2.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 0 });
        assert_eq!(one(&store, v, "1").await.current_power_kw, Some(2.0));
        // Twice the same as stored.
        let batch = vec![plant("1", Some(2.0)), plant("1", Some(2.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 0, unchanged: 1 });
    }

    #[tokio::test]
    async fn a_rename_is_a_change_and_the_new_name_is_kept() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let t1 = Timestamp::now();
        store.upsert_plants(v, vec![plant("1", Some(1.0))], t1).await.unwrap();
        let before = one(&store, v, "1").await;
        let t2 = Timestamp::from_unix_millis(t1.as_datetime().timestamp_millis() + 1000).unwrap();
        let renamed = VendorPlant { name: Some("Barn".into()), ..plant("1", Some(1.0)) };
        let counts = store.upsert_plants(v, vec![renamed.clone()], t2).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 0 });
        let after = one(&store, v, "1").await;
        assert_eq!(after.name, "Barn");
        assert!(after.change_seq > before.change_seq);
        assert_eq!(after.updated_at, t2);
        let counts = store.upsert_plants(v, vec![renamed], Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 0, unchanged: 1 });
        assert_eq!(one(&store, v, "1").await.change_seq, after.change_seq);
    }

    #[tokio::test]
    async fn a_plant_takes_its_vendors_organization_again_as_a_change() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        store.upsert_plants(v, vec![plant("1", Some(1.0))], Timestamp::now()).await.unwrap();
        let before = one(&store, v, "1").await;
        let org = before.org_id.expect("the vendor's organization");
        store.write(|conn| Ok(conn.execute("UPDATE plants SET org_id = NULL", [])?)).await.unwrap();
        let counts =
            store.upsert_plants(v, vec![plant("1", Some(1.0))], Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 0 });
        let after = one(&store, v, "1").await;
        assert_eq!(after.org_id, Some(org));
        assert!(after.change_seq > before.change_seq);
    }

    #[tokio::test]
    async fn a_rename_and_its_undoing_in_one_batch_leave_the_last_listing() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        store.upsert_plants(v, vec![plant("1", Some(1.0))], Timestamp::now()).await.unwrap();
        let renamed = VendorPlant { name: Some("Barn".into()), ..plant("1", None) };
        let batch = vec![renamed, plant("1", Some(2.0))];
        let counts = store.upsert_plants(v, batch, Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts { created: 0, updated: 1, unchanged: 0 });
        let after = one(&store, v, "1").await;
        assert_eq!(after.name, "Plant 1");
        assert_eq!(after.current_power_kw, Some(2.0));
    }

    #[tokio::test]
    async fn an_empty_batch_counts_nothing_and_takes_no_number() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let before = counter(&store).await;
        let counts = store.upsert_plants(v, Vec::new(), Timestamp::now()).await.unwrap();
        assert_eq!(counts, UpsertCounts::default());
        assert_eq!(counter(&store).await, before);
    }

    #[tokio::test]
    async fn vanished_plants_become_inactive_and_come_back() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let t1 = Timestamp::now();
        store.upsert_plants(v, vec![plant("1", None), plant("2", None)], t1).await.unwrap();
        let t2 = Timestamp::from_unix_millis(t1.as_datetime().timestamp_millis() + 1000).unwrap();
        store.upsert_plants(v, vec![plant("1", None)], t2).await.unwrap();
        let listed = vec!["1".to_owned()];
        let gone = store.deactivate_plants_not_listed(v, listed).await.unwrap();
        assert_eq!(gone, 1);
        assert!(!one(&store, v, "2").await.is_active);
        assert!(one(&store, v, "1").await.is_active);
        let back = store.upsert_plants(v, vec![plant("2", None)], Timestamp::now()).await.unwrap();
        assert_eq!(back.updated, 1, "reactivation is a real change");
        assert!(one(&store, v, "2").await.is_active);
    }

    #[tokio::test]
    async fn the_listed_ids_decide_not_the_clock() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // All in one millisecond: the listing, and the "next run" that no longer lists 3.
        let t = Timestamp::now();
        let rows = vec![plant("1", None), plant("2", None), plant("3", None)];
        store.upsert_plants(v, rows, t).await.unwrap();
        let listed = vec!["1".to_owned(), "2".to_owned()];
        assert_eq!(store.deactivate_plants_not_listed(v, listed).await.unwrap(), 1);
        assert!(one(&store, v, "1").await.is_active);
        assert!(one(&store, v, "2").await.is_active);
        assert!(!one(&store, v, "3").await.is_active);
    }

    #[tokio::test]
    async fn unreadable_plants_are_recorded_as_seen_and_nothing_else() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let t1 = Timestamp::now();
        store.upsert_plants(v, vec![plant("1", Some(2.0)), plant("2", None)], t1).await.unwrap();
        let before = one(&store, v, "1").await;
        let t2 = Timestamp::from_unix_millis(t1.as_datetime().timestamp_millis() + 1000).unwrap();
        store.mark_plants_seen(v, vec!["1".to_owned(), "9".to_owned()], t2).await.unwrap();
        let after = one(&store, v, "1").await;
        assert_eq!(after.last_refreshed_at, Some(t2));
        assert_eq!((after.change_seq, after.current_power_kw), (before.change_seq, Some(2.0)));
        assert_eq!(one(&store, v, "2").await.last_refreshed_at, Some(t1), "not named");
    }

    #[tokio::test]
    async fn filters_sort_and_limit() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let mut plants = vec![plant("1", Some(3.0)), plant("2", Some(1.0)), plant("3", Some(2.0))];
        plants[0].name = Some("Zeta 50%".into());
        plants[1].network_status = Some("ALL_OFFLINE".into());
        plants[1].status = Some(PlantStatus::Offline);
        store.upsert_plants(v, plants.clone(), Timestamp::now()).await.unwrap();
        let by_power = store
            .list_plants(PlantFilter {
                sort: PlantSort::Power,
                descending: true,
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            by_power.iter().map(|p| p.vendor_plant_id.as_str()).collect::<Vec<_>>(),
            ["1", "3"]
        );
        let offline = store
            .list_plants(PlantFilter {
                status: StatusFilter::parse("all_offline"),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(offline.len(), 1);
        let normalized =
            |text: &str| PlantFilter { status: StatusFilter::parse(text), ..Default::default() };
        assert_eq!(store.list_plants(normalized(" Offline ")).await.unwrap().len(), 1);
        assert_eq!(store.list_plants(normalized("unknown")).await.unwrap().len(), 2);
        // A listing that does not say keeps the stored status; a new word replaces it.
        plants[1].status = None;
        store.upsert_plants(v, plants.clone(), Timestamp::now()).await.unwrap();
        assert_eq!(store.list_plants(normalized("offline")).await.unwrap().len(), 1);
        plants[1].status = Some(PlantStatus::Online);
        store.upsert_plants(v, plants, Timestamp::now()).await.unwrap();
        assert!(store.list_plants(normalized("offline")).await.unwrap().is_empty());
        assert_eq!(StatusFilter::parse("  "), None);
        let search = store
            .list_plants(PlantFilter { search: Some("50%".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(search.len(), 1);
        let none = store
            .list_plants(PlantFilter {
                search: Some("%".into()),
                org: Some("Org".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(none.len(), 1, "a literal % only matches names containing it");
    }
}
