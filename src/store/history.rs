//! The energy history: one row per plant and plant-local day (`plant_days`), power samples
//! per reading (`power_samples`), and the past days the portal could not fill
//! (`history_gaps`). Migration step 9; today's live values in the plants' rows, step 11.
//!
//! # The rules, in one place
//!
//! * **Day boundaries** are the plant's own zone (`plants.timezone` through
//!   [`PlantZone`]), else the configured `timezone` the caller passes as the fallback. A
//!   reading belongs to the local day of its time: the portal's last-update time, or the
//!   sync's time when the portal gave none.
//! * **Live rows never go down**: a day keeps the highest cumulative energy a sync saw
//!   (inverters report 0 or nothing after dark), and the highest power.
//! * **A portal's daily figure wins** ([`Store::record_backfill`]): it replaces a live value
//!   (which stops at the last sync of the day) and an earlier portal figure; a replacement
//!   that differs is counted in `revisions`. Live readings never change a backfilled day's
//!   energy (only its peak power).
//! * **Gaps stay gaps**: a day without a row is no data, never 0. A portal's "no data" for a
//!   day, and a portal that cannot fill days at all, are kept in `history_gaps` with the
//!   portal's words, so reports say why and the backfill does not ask again at every sync.
//!
//! # The live slot (step 11)
//!
//! A sync does not write today's day row. Each plant's row carries a **live slot**
//! (`plants.live_day`, `live_energy_kwh`, `live_peak_kw`, `live_reading_at`) that the
//! plant's own upsert merges its reading into ([`slot_assignments`]): the row is rewritten
//! anyway, so today's values cost a few more columns in it, not a second B-tree write of a
//! day row and its change-number index at every sync (the day row's upsert was 21,800 CPU
//! instructions a plant, more than half of the history's cost: `benches/history.sh`).
//! The day rows take the slot by one rule, [`LiveMerge`]:
//!
//! * **a reading of another day** moves the slot to `prev_*` in the same upsert; before
//!   the batch's transaction ends, [`copy_replaced`] merges the moved slots into
//!   `plant_days` and clears them (a partial index finds them; it costs nothing when no
//!   slot moved, as at every sync but a plant's first of a day);
//! * **what reads `plant_days` alone** first copies the slots in ([`Store::copy_live_days`]:
//!   the upstream push and the offline bundle; the backfill, which compares the portal's
//!   figure with the stored day, for its vendor). The slot stays; copying it again changes
//!   nothing, so a day takes a change number only when its values change;
//! * **every reader** merges the slot into the day it holds ([`DAYS_WITH_SLOTS`],
//!   [`SLOTS_WITHOUT_DAY`], [`VALUED`]), and `status` counts a slot that would change its
//!   day as pending upstream ([`SLOTS_PENDING_SQL`]).

use super::{Result, Store, seq};
use crate::domain::{
    DaySource, GapState, OrgId, PlantId, PlantZone, Timestamp, VendorId, VendorPlant,
};
use crate::vendors::history::VendorDay;
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

/// Two energies closer than this (kWh) are the same value (portals round to 0.1 or 0.01).
const SAME_ENERGY_KWH: f64 = 0.0005;

/// A portal's figure is final once fetched this long after its day ended ([`is_final`]).
const FINAL_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// A portal's "no data" for a day is asked again after this long...
const NO_DATA_RETRY: chrono::Duration = chrono::Duration::hours(20);
/// ...at most this many times in all.
const NO_DATA_ATTEMPTS: u32 = 3;
/// A portal that could not fill days at all is asked again after this long (its plan or
/// permissions may change).
const UNFILLABLE_RETRY: chrono::Duration = chrono::Duration::days(7);

/// Which plants a history read covers; names are resolved to ids at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryScope {
    /// Every plant.
    All,
    /// The plants of one organization.
    Org(OrgId),
    /// The plants of one vendor (portal account).
    Vendor(VendorId),
    /// One plant.
    Plant(PlantId),
}

impl HistoryScope {
    /// The `WHERE` condition on `plants p` and its one parameter (0 for `All`).
    fn condition(self) -> (&'static str, i64) {
        match self {
            Self::All => ("?1 = 0", 0),
            Self::Org(id) => ("p.org_id = ?1", id.0),
            Self::Vendor(id) => ("p.vendor_id = ?1", id.0),
            Self::Plant(id) => ("p.id = ?1", id.0),
        }
    }
}

/// A plant as history reads name it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPlant {
    /// Its id.
    pub id: PlantId,
    /// Its name.
    pub name: String,
    /// The vendor's id for it.
    pub vendor_plant_id: String,
    /// Its vendor (portal account).
    pub vendor_id: VendorId,
    /// The vendor's name.
    pub vendor_name: String,
    /// Its organization, if any.
    pub org_id: Option<OrgId>,
    /// The organization's name.
    pub org_name: Option<String>,
    /// Installed capacity, kW.
    pub capacity_kw: Option<f64>,
    /// The zone its days are counted in (its own, else the fallback passed in).
    pub zone: PlantZone,
    /// Whether the vendor still lists it.
    pub is_active: bool,
}

/// One stored day of one plant.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    /// The plant.
    pub plant_id: PlantId,
    /// The plant-local day.
    pub day: NaiveDate,
    /// The day's energy, kWh; `None` when only power was read that day.
    pub energy_kwh: Option<f64>,
    /// The highest power a sync saw that day, kW.
    pub peak_power_kw: Option<f64>,
    /// The latest reading that fed a live row, or when the portal's figure was fetched.
    pub last_reading_at: Timestamp,
    /// Where the value came from.
    pub source: DaySource,
    /// How often a later portal value replaced a different stored one.
    pub revisions: u32,
}

/// A past day the portal's history did not fill, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    /// The plant.
    pub plant_id: PlantId,
    /// The plant-local day.
    pub day: NaiveDate,
    /// No data for the day, or no way to fill it.
    pub state: GapState,
    /// The portal's words, or plantsync's.
    pub reason: String,
    /// How often the day was asked.
    pub attempts: u32,
    /// When it was last asked.
    pub last_tried_at: Timestamp,
}

/// One power sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSample {
    /// The reading's time.
    pub at: Timestamp,
    /// Power, kW.
    pub power_kw: f64,
}

/// The past days of one plant the backfill should ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantGaps {
    /// The plant.
    pub plant_id: PlantId,
    /// The vendor's id for it.
    pub vendor_plant_id: String,
    /// The zone its days are counted in.
    pub zone: PlantZone,
    /// Missing days (no row) or days only the syncs saw (live), oldest first.
    pub days: Vec<NaiveDate>,
}

/// What one gap search of a vendor's history found ([`Store::history_gaps_to_fill`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GapSearch {
    /// The plants with days to ask, the plant with the oldest gap first.
    pub gaps: Vec<PlantGaps>,
    /// How many active plants of the vendor the search looked at...
    pub active_plants: u64,
    /// ...and the sum of their ids, so that one plant leaving while another arrives is
    /// told apart from no change ([`Store::history_settled`]).
    pub active_ids_sum: i64,
    /// The earliest time the answer can change by time alone: a plant's next local midnight
    /// (its window moves on), a portal figure becoming final enough to ask again, a resting
    /// gap due again. Until then, only a change to the plants (one added, removed,
    /// reactivated, or its own zone changed) or the settings can give another answer
    /// ([`Store::settle_history`]).
    pub unchanged_until: Timestamp,
}

/// The history at a glance, for `plantsync status`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HistorySummary {
    /// Plant-days with a row or a live slot (today's, not yet copied into `plant_days`).
    pub days: u64,
    /// Of them, days holding the portal's own figure.
    pub backfilled: u64,
    /// The earliest day with a row or a live slot.
    pub first_day: Option<NaiveDate>,
    /// Past days the portal said it has no value for (asked again later).
    pub no_data_days: u64,
    /// Past days the portal cannot fill (no usable history endpoint).
    pub unfillable_days: u64,
    /// Stored power samples.
    pub power_samples: u64,
}

/// What one [`Store::record_backfill`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillCounts {
    /// Days that had no row and now have the portal's value.
    pub filled: u64,
    /// Days whose stored value (live or an earlier portal figure) differed and was replaced.
    pub revised: u64,
    /// Days whose stored value the portal confirmed (now `backfill`).
    pub confirmed: u64,
    /// Days the portal answered without a value (kept as gaps).
    pub no_data: u64,
    /// Rows naming a plant this vendor does not have (dropped).
    pub unknown_plants: u64,
}

/// The samples one statement of [`record_live`] carries. With a statement per reading, and
/// a query for each plant's id before it, the history cost 37,100 CPU instructions a plant
/// (callgrind, `benches/history.sh`): more than the plant's own upsert (33,000). 50 samples
/// to a statement share SQLite's per-statement work (opening and closing the cursors of the
/// tables and indexes, resetting), and the plant's id comes from its unique index inside the
/// statement (no table read). A sync's batch of 100 plants takes two statements.
const ROWS_PER_STATEMENT: usize = 50;

/// A day's values as SQL expressions over some row: the stored day row, the `excluded` row
/// of an upsert, or a plant's live slot.
struct DayCols<'a> {
    energy: &'a str,
    peak: &'a str,
    last: &'a str,
}

/// The highest of two values either of which may be NULL (SQLite's `max` of a NULL is NULL).
fn max_of(a: &str, b: &str) -> String {
    format!("max(coalesce({a}, {b}), coalesce({b}, {a}))")
}

/// The merge of live values `new` into the stored day `row` (whose source is `source`): the
/// one rule the syncs' readings follow, wherever they meet a day. A live row keeps the
/// highest energy, power and reading time; a backfilled row keeps the portal's energy and
/// fetch time and takes only a higher power. `changes` says, in words simpler than the
/// merge's own, when the merge changes a value: a higher or first energy on a live row, a
/// higher or first peak, a later reading on a live row.
struct LiveMerge {
    energy: String,
    peak: String,
    last: String,
    changes: String,
}

impl LiveMerge {
    fn of(row: &DayCols<'_>, source: &str, new: &DayCols<'_>) -> Self {
        let (re, rp, rl) = (row.energy, row.peak, row.last);
        let (ne, np, nl) = (new.energy, new.peak, new.last);
        Self {
            energy: format!(
                "CASE WHEN {source} = 'backfill' THEN {re} ELSE {} END",
                max_of(re, ne)
            ),
            peak: max_of(rp, np),
            last: format!("CASE WHEN {source} = 'backfill' THEN {rl} ELSE {} END", max_of(rl, nl)),
            changes: format!(
                "({source} = 'live'
                  AND ({ne} > {re} OR ({re} IS NULL AND {ne} IS NOT NULL) OR {nl} > {rl}))
                 OR {np} > {rp} OR ({rp} IS NULL AND {np} IS NOT NULL)"
            ),
        }
    }
}

/// The `ON CONFLICT` merge of live values into the stored day row ([`LiveMerge`]). The row
/// takes its change number only when a value really changes, so an unchanged slot queues
/// nothing upstream.
static LIVE_DAY_MERGE: LazyLock<String> = LazyLock::new(|| {
    let merge = LiveMerge::of(
        &DayCols {
            energy: "plant_days.energy_kwh",
            peak: "plant_days.peak_power_kw",
            last: "plant_days.last_reading_at",
        },
        "plant_days.source",
        &DayCols {
            energy: "excluded.energy_kwh",
            peak: "excluded.peak_power_kw",
            last: "excluded.last_reading_at",
        },
    );
    format!(
        "ON CONFLICT (plant_id, day) DO UPDATE SET
             energy_kwh = {}, peak_power_kw = {}, last_reading_at = {},
             updated_at = excluded.updated_at, change_seq = excluded.change_seq
         WHERE {}",
        merge.energy, merge.peak, merge.last, merge.changes
    )
});

/// One of a plant's two slots on its row: `live` (today's values) or `prev` (a slot a
/// reading of another day replaced, copied and cleared before the transaction ends).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Live,
    Prev,
}

impl Slot {
    fn prefix(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Prev => "prev",
        }
    }
}

/// Copies the slots `slot` of the plants `filter` selects (SQL on `plants`) into
/// `plant_days` by [`LIVE_DAY_MERGE`]: `?1` the time, `?2` the change counter, above which
/// the rows take numbers in the order read (a row the slot leaves as it is leaves its number
/// unused). No `ORDER BY` in the window: with one, SQLite reads the plants in id order, a
/// scan of the whole table, instead of the replaced slots through their partial index.
fn copy_slots_sql(slot: Slot, filter: &str) -> String {
    let s = slot.prefix();
    format!(
        "INSERT INTO plant_days (plant_id, day, energy_kwh, peak_power_kw, last_reading_at,
                                 source, updated_at, change_seq)
         SELECT id, {s}_day, {s}_energy_kwh, {s}_peak_kw, {s}_reading_at, 'live', ?1,
                ?2 + row_number() OVER ()
         FROM plants WHERE {s}_day IS NOT NULL AND {filter}
         {}",
        *LIVE_DAY_MERGE
    )
}

static COPY_REPLACED_SQL: LazyLock<String> = LazyLock::new(|| copy_slots_sql(Slot::Prev, "true"));
/// Every plant's live slot; one vendor's (`?3`, through its `(vendor_id, ...)` indexes).
static COPY_LIVE_SQL: LazyLock<String> = LazyLock::new(|| copy_slots_sql(Slot::Live, "true"));
static COPY_VENDOR_LIVE_SQL: LazyLock<String> =
    LazyLock::new(|| copy_slots_sql(Slot::Live, "vendor_id = ?3"));

/// The plant upsert's assignments of the live slot (`store/plants.rs`), from the reading's
/// day, energy, power and time in the parameters `day`, `energy`, `power`, `at` (all NULL:
/// no reading, the slot stays). A reading of the slot's day merges into it by [`max_of`]
/// (live values only go up: [`LiveMerge`] for two live rows); a reading of another day
/// moves the slot to `prev_*` (for [`copy_replaced`] to copy into `plant_days`) and starts
/// a new one. SQLite's `SET` reads the row as it was before the statement.
pub(super) fn slot_assignments(day: &str, energy: &str, power: &str, at: &str) -> String {
    let moves = format!(
        "({day} IS NOT NULL AND plants.live_day IS NOT NULL AND plants.live_day IS NOT {day})"
    );
    let same = format!("plants.live_day IS {day}");
    let live = |column: &str, value: &str| {
        format!(
            "live_{column} = CASE WHEN {day} IS NULL THEN plants.live_{column}
                 WHEN {same} THEN {} ELSE {value} END",
            max_of(&format!("plants.live_{column}"), value)
        )
    };
    let prev = |column: &str| {
        format!(
            "prev_{column} = CASE WHEN {moves} THEN plants.live_{column} ELSE plants.prev_{column} END"
        )
    };
    [
        prev("day"),
        prev("energy_kwh"),
        prev("peak_kw"),
        prev("reading_at"),
        format!("live_day = coalesce({day}, plants.live_day)"),
        live("energy_kwh", energy),
        live("peak_kw", power),
        live("reading_at", at),
    ]
    .join(",\n            ")
}

/// The live slot columns a new plant's row is inserted with, in the order of
/// [`slot_assignments`]'s parameters.
pub(super) const SLOT_COLUMNS: &str = "live_day, live_energy_kwh, live_peak_kw, live_reading_at";

/// What a plant's upsert writes into its live slot: the reading's plant-local day, energy,
/// power and time.
#[derive(Debug, Clone)]
pub(super) struct LiveSlot<'a> {
    pub(super) day: Cow<'a, str>,
    pub(super) energy_kwh: Option<f64>,
    pub(super) power_kw: Option<f64>,
    pub(super) at_text: &'a str,
}

/// Moves the change counter past the numbers rows of `plant_days` took above `counter`.
fn settle_counter(conn: &Connection, counter: i64) -> Result<()> {
    let highest: Option<i64> = conn
        .prepare_cached("SELECT max(change_seq) FROM plant_days WHERE change_seq > ?1")?
        .query_row([counter], |r| r.get(0))?;
    if let Some(highest) = highest {
        seq::set(conn, highest)?;
    }
    Ok(())
}

/// A plant's reading as the history records it, prepared before the batch's write job
/// (off the one writer thread, which serves every vendor in turn).
#[derive(Debug, Clone)]
pub(super) struct LiveReading {
    /// The reading's time: the portal's, never later than the sync that read it.
    at: Timestamp,
    /// `at` as stored.
    at_text: String,
    /// The reading's plant-local day, when the batch names the plant's zone: else the zone
    /// stored before the batch decides, read in the write.
    day: Option<String>,
    energy_kwh: Option<f64>,
    power_kw: Option<f64>,
    /// Whether an earlier listing of the batch names the same plant: its upsert may have
    /// moved the slot, which must be copied first ([`copy_replaced`]).
    repeats: bool,
}

impl LiveReading {
    /// The readings of a batch, in its order; `None` for a listing without energy and power,
    /// which records nothing. A plant's day follows the zone text its row holds after the
    /// batch, as the upsert merges it (the last zone the batch names for the plant), the
    /// configured `fallback` where that text is no zone; left to the write when the batch
    /// names none.
    pub(super) fn of_batch(
        plants: &[VendorPlant],
        now: Timestamp,
        fallback: PlantZone,
    ) -> Vec<Option<Self>> {
        let mut named: HashMap<&str, &str> = HashMap::new();
        for plant in plants {
            if let Some(zone) = plant.timezone.as_deref() {
                named.insert(plant.vendor_plant_id.as_str(), zone);
            }
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(plants.len());
        plants
            .iter()
            .map(|plant| {
                let repeats = !seen.insert(plant.vendor_plant_id.as_str());
                if plant.daily_energy_kwh.is_none() && plant.current_power_kw.is_none() {
                    return None;
                }
                // A reading is never later than the sync that read it.
                let at = plant.vendor_updated_at.map_or(now, |at| at.min(now));
                let zone = named
                    .get(plant.vendor_plant_id.as_str())
                    .map(|text| zone_or(Some(text), fallback));
                Some(Self {
                    at,
                    at_text: at.to_canonical(),
                    day: zone.map(|zone| zone.local_date(&at).to_string()),
                    energy_kwh: plant.daily_energy_kwh,
                    power_kw: plant.current_power_kw,
                    repeats,
                })
            })
            .collect()
    }

    /// Whether an earlier listing of the batch names the same plant.
    pub(super) fn repeats(&self) -> bool {
        self.repeats
    }
}

/// The live slots the upsert of a batch writes, in its order ([`LiveReading::of_batch`]). A
/// reading the batch did not date (it names no zone for the plant) is dated by the plant's
/// stored zone, else `fallback` (a new plant without a zone stores none).
pub(super) fn live_slots<'a>(
    conn: &Connection,
    vendor_id: VendorId,
    plants: &[VendorPlant],
    readings: &'a [Option<LiveReading>],
    fallback: PlantZone,
) -> Result<Vec<Option<LiveSlot<'a>>>> {
    let mut stored_zone = conn.prepare_cached(
        "SELECT timezone FROM plants WHERE vendor_id = ?1 AND vendor_plant_id = ?2",
    )?;
    let mut slots = Vec::with_capacity(readings.len());
    for (plant, reading) in plants.iter().zip(readings) {
        let Some(reading) = reading else {
            slots.push(None);
            continue;
        };
        let day = match &reading.day {
            Some(day) => Cow::Borrowed(day.as_str()),
            None => {
                let timezone: Option<String> = stored_zone
                    .query_row(params![vendor_id, plant.vendor_plant_id], |r| r.get(0))
                    .optional()?
                    .flatten();
                let zone = zone_or(timezone.as_deref(), fallback);
                Cow::Owned(zone.local_date(&reading.at).to_string())
            }
        };
        slots.push(Some(LiveSlot {
            day,
            energy_kwh: reading.energy_kwh,
            power_kw: reading.power_kw,
            at_text: &reading.at_text,
        }));
    }
    Ok(slots)
}

/// Copies the slots the batch's upserts replaced (a reading of a new day arrived) into
/// `plant_days` and clears them, with numbers above the change counter; the partial index
/// on `prev_day` makes both statements free when no slot moved, as at every sync but a
/// plant's first of a day. Call inside the transaction of the upserts.
pub(super) fn copy_replaced(conn: &Connection, now_text: &str) -> Result<()> {
    let counter = seq::current(conn)?;
    conn.prepare_cached(&COPY_REPLACED_SQL)?.execute(params![now_text, counter])?;
    // Cleared whether or not the copy changed a row: a moved slot whose values the day
    // already holds (copied by a push before its day ended) changes nothing, and a slot
    // left in `prev_*` would be copied again by every later batch.
    conn.prepare_cached(
        "UPDATE plants SET prev_day = NULL, prev_energy_kwh = NULL, prev_peak_kw = NULL,
             prev_reading_at = NULL
         WHERE prev_day IS NOT NULL",
    )?
    .execute([])?;
    settle_counter(conn, counter)
}

/// Copies the live slots of `vendor_id`'s plants (every plant's with `None`) into
/// `plant_days` by [`LIVE_DAY_MERGE`], so that what reads the table alone (the upstream
/// push, the offline bundle, the backfill's comparison with the stored value) sees every
/// day. The slots stay: merging them again changes nothing.
pub(super) fn copy_live(
    conn: &Connection,
    vendor_id: Option<VendorId>,
    now: Timestamp,
) -> Result<()> {
    let counter = seq::current(conn)?;
    let now = now.to_canonical();
    match vendor_id {
        Some(vendor_id) => {
            conn.prepare_cached(&COPY_VENDOR_LIVE_SQL)?.execute(params![now, counter, vendor_id])?
        }
        None => conn.prepare_cached(&COPY_LIVE_SQL)?.execute(params![now, counter])?,
    };
    settle_counter(conn, counter)
}

/// Records the rest of one batch's readings, inside the transaction that upserted them
/// (`store/plants.rs`), whose upserts wrote the live slots ([`live_slots`]): a power sample
/// for each reading with a power, [`ROWS_PER_STATEMENT`] to a statement, and the slots the
/// upserts replaced copied into `plant_days`. A plant the batch did not store records
/// nothing.
pub(super) fn record_live(
    conn: &Connection,
    vendor_id: VendorId,
    plants: &[VendorPlant],
    readings: &[Option<LiveReading>],
    now: Timestamp,
) -> Result<()> {
    let with_power: Vec<(&str, &str, f64)> = plants
        .iter()
        .zip(readings)
        .filter_map(|(plant, reading)| {
            let reading = reading.as_ref()?;
            Some((plant.vendor_plant_id.as_str(), reading.at_text.as_str(), reading.power_kw?))
        })
        .collect();
    write_samples(conn, vendor_id, &with_power)?;
    copy_replaced(conn, &now.to_canonical())
}

/// The power samples of `rows` readings: `?1` the vendor, then per reading its plant's
/// vendor id, reading time and power; a plant the vendor does not have joins nothing.
fn samples_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| format!("(?{}, ?{}, ?{})", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT OR IGNORE INTO power_samples (plant_id, at, power_kw)
         SELECT p.id, v.column2, v.column3
         FROM (VALUES {values}) AS v CROSS JOIN plants AS p
         WHERE p.vendor_id = ?1 AND p.vendor_plant_id = v.column1"
    )
}

/// The statement of [`ROWS_PER_STATEMENT`] samples, built once.
static SAMPLES_SQL: LazyLock<String> = LazyLock::new(|| samples_sql(ROWS_PER_STATEMENT));

/// The power samples of readings with a power (vendor plant id, reading time, power), 50 to
/// a statement: the last statement's unused rows get a NULL vendor id, which joins no plant,
/// so one text serves every batch (a vendor's few plants, the readings without power at
/// night) and what an unused row had bound before writes nothing.
fn write_samples(conn: &Connection, vendor_id: VendorId, rows: &[(&str, &str, f64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut statement = conn.prepare_cached(&SAMPLES_SQL)?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        statement.raw_bind_parameter(1, vendor_id)?;
        for i in 0..ROWS_PER_STATEMENT {
            let at = 2 + 3 * i;
            match chunk.get(i) {
                Some((plant, time, power)) => {
                    statement.raw_bind_parameter(at, plant)?;
                    statement.raw_bind_parameter(at + 1, time)?;
                    statement.raw_bind_parameter(at + 2, power)?;
                }
                None => statement.raw_bind_parameter(at, rusqlite::types::Null)?,
            }
        }
        statement.raw_execute()?;
    }
    Ok(())
}

/// A stored zone text, else `fallback` (a zone that no longer parses counts as none).
fn zone_or(stored: Option<&str>, fallback: PlantZone) -> PlantZone {
    stored.and_then(|text| text.parse().ok()).unwrap_or(fallback)
}

fn parse_day(text: &str) -> rusqlite::Result<NaiveDate> {
    match date_prefix(text).filter(|_| text.len() == 10) {
        Some(day) => Ok(day),
        None => text.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

/// The date a stored `YYYY-MM-DD...` text (a day, or a canonical UTC time) begins with,
/// read without chrono's general parser: the gap search reads two per stored day.
fn date_prefix(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)
}

/// A figure fetched on this UTC date or later is final in every zone: a day ends at most
/// 12 h into the UTC date after it (UTC-12), and [`FINAL_AFTER`] is a day.
fn surely_final_from(day: NaiveDate) -> NaiveDate {
    day + chrono::Duration::days(3)
}

impl Store {
    /// Stores what a portal's history answered for `vendor_id`'s plants, each day in one
    /// transaction with the rest: a value fills or replaces the day ([`DaySource::Backfill`];
    /// a different earlier value counts as a revision) and clears its gap entry; `None`
    /// keeps the day a gap, noted `no_data`. The same figure again changes nothing, but for
    /// the fetch time of a figure that was not final yet (in the plant's zone, else
    /// `fallback`): asked once more when it could be final, it is final now.
    pub async fn record_backfill(
        &self,
        vendor_id: VendorId,
        days: Vec<VendorDay>,
        fetched_at: Timestamp,
        fallback: PlantZone,
    ) -> Result<BackfillCounts> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The portal's figure is compared with, and replaces, the stored day: today's
            // live values of the plants go into `plant_days` first.
            copy_live(&tx, Some(vendor_id), fetched_at)?;
            let counts = backfill(&tx, vendor_id, &days, fetched_at, fallback)?;
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    /// Copies every plant's live slot (today's live values, merged into the plant's row by
    /// each sync) into `plant_days`, where what reads the table alone finds it: the upstream
    /// push and the offline bundle call this first. A day the slot changes takes a change
    /// number (`now` its `updated_at`); an unchanged one stays as it is, so calling this
    /// again writes nothing.
    pub async fn copy_live_days(&self, now: Timestamp) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            copy_live(&tx, None, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Notes that `days` of these plants cannot be filled by the portal, and why (a portal
    /// without a usable history endpoint): shown by reports, asked again after a week.
    pub async fn record_unfillable(
        &self,
        days: Vec<(PlantId, NaiveDate)>,
        reason: String,
        now: Timestamp,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut note = tx.prepare_cached(GAP_SQL)?;
                for (plant_id, day) in &days {
                    note.execute(params![plant_id, day.to_string(), "unfillable", reason, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The past days of `vendor_id`'s active plants the backfill should ask for: the `days`
    /// local days before each plant's today (in its zone, else `fallback`) that have no
    /// final portal figure yet (none, or one fetched within a day of the day's end: see
    /// `is_final`), except those the portal recently said it has no data for or cannot
    /// fill. Plants with the oldest gap first; with the time until which this answer holds.
    pub async fn history_gaps_to_fill(
        &self,
        vendor_id: VendorId,
        days: u32,
        now: Timestamp,
        fallback: PlantZone,
    ) -> Result<GapSearch> {
        self.read(move |conn| gaps_to_fill(conn, vendor_id, days, now, fallback)).await
    }

    /// The plants in `scope`, by organization, vendor and name; zones fall back to
    /// `fallback`.
    pub async fn history_plants(
        &self,
        scope: HistoryScope,
        fallback: PlantZone,
    ) -> Result<Vec<HistoryPlant>> {
        self.read(move |conn| plants_in(conn, scope, fallback)).await
    }

    /// The days of the plants in `scope` from `from` to `to` (inclusive), by plant and day:
    /// the stored rows with each plant's live slot merged in (today's values).
    pub async fn history_days(
        &self,
        scope: HistoryScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayRow>> {
        self.read(move |conn| days_in(conn, scope, from, to)).await
    }

    /// The noted gaps of the plants in `scope` from `from` to `to` (inclusive): days without
    /// a value that the portal said it has none for or cannot fill.
    pub async fn history_gaps(
        &self,
        scope: HistoryScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GapRow>> {
        self.read(move |conn| gaps_in(conn, scope, from, to)).await
    }

    /// Each plant's energy on its own today and yesterday (the local days of `now` in its
    /// zone, else `fallback`), for the plants in `scope` that have either.
    pub async fn today_and_yesterday(
        &self,
        scope: HistoryScope,
        now: Timestamp,
        fallback: PlantZone,
    ) -> Result<HashMap<PlantId, (Option<f64>, Option<f64>)>> {
        self.read(move |conn| {
            let plants = plants_in(conn, scope, fallback)?;
            let days: BTreeSet<NaiveDate> = plants
                .iter()
                .flat_map(|p| {
                    let today = p.zone.local_date(&now);
                    [today, today.pred_opt().unwrap_or(today)]
                })
                .collect();
            let (Some(first), Some(last)) = (days.first(), days.last()) else {
                return Ok(HashMap::new());
            };
            let rows = days_in(conn, scope, *first, *last)?;
            let by_key: HashMap<(PlantId, NaiveDate), Option<f64>> =
                rows.into_iter().map(|r| ((r.plant_id, r.day), r.energy_kwh)).collect();
            let mut out = HashMap::new();
            for plant in plants {
                let today = plant.zone.local_date(&now);
                let yesterday = today.pred_opt().unwrap_or(today);
                let t = by_key.get(&(plant.id, today)).copied().flatten();
                let y = by_key.get(&(plant.id, yesterday)).copied().flatten();
                if t.is_some() || y.is_some() {
                    out.insert(plant.id, (t, y));
                }
            }
            Ok(out)
        })
        .await
    }

    /// The history at a glance ([`HistorySummary`]).
    pub async fn history_summary(&self) -> Result<HistorySummary> {
        self.read(|conn| {
            let summary = conn
                .prepare_cached(&format!(
                    "SELECT (SELECT count(*) FROM plant_days)
                                + (SELECT count(*) FROM ({SLOTS_WITHOUT_DAY})),
                            (SELECT count(*) FROM plant_days WHERE source = 'backfill'),
                            (SELECT min(coalesce(a, b), coalesce(b, a)) FROM
                                (SELECT (SELECT min(day) FROM plant_days) AS a,
                                        (SELECT min(live_day) FROM plants) AS b)),
                            (SELECT count(*) FROM history_gaps g
                             WHERE state = 'no_data' AND NOT {VALUED}),
                            (SELECT count(*) FROM history_gaps g
                             WHERE state = 'unfillable' AND NOT {VALUED}),
                            (SELECT count(*) FROM power_samples)"
                ))?
                .query_row([], |r| {
                    Ok(HistorySummary {
                        days: super::codec::count(r, 0)?,
                        backfilled: super::codec::count(r, 1)?,
                        first_day: r
                            .get::<_, Option<String>>(2)?
                            .as_deref()
                            .map(parse_day)
                            .transpose()?,
                        no_data_days: super::codec::count(r, 3)?,
                        unfillable_days: super::codec::count(r, 4)?,
                        power_samples: super::codec::count(r, 5)?,
                    })
                })?;
            Ok(summary)
        })
        .await
    }

    /// The power samples of `plant` from `from` to `to` (inclusive), in time order.
    pub async fn power_samples(
        &self,
        plant: PlantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PowerSample>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, power_kw FROM power_samples
                 WHERE plant_id = ?1 AND at >= ?2 AND at <= ?3 ORDER BY at",
            )?;
            let rows = stmt
                .query_map(params![plant, from, to], |r| {
                    Ok(PowerSample { at: r.get(0)?, power_kw: r.get(1)? })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Deletes at most `limit` power samples older than `before`, oldest first, in one short
    /// transaction; returns how many. The caller repeats it (yielding between) until it
    /// returns less than `limit`, so a sync's writes never wait behind one long delete. The
    /// samples are keyed by time first, so this reads only the rows it deletes.
    pub async fn prune_power_samples(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM power_samples WHERE (at, plant_id) IN
                         (SELECT at, plant_id FROM power_samples WHERE at < ?1
                          ORDER BY at LIMIT ?2)",
                )?
                .execute(params![before, limit])?;
            Ok(deleted as u64)
        })
        .await
    }
}

const GAP_SQL: &str = "
    INSERT INTO history_gaps (plant_id, day, state, reason, attempts, last_tried_at)
    VALUES (?1, ?2, ?3, ?4, 1, ?5)
    ON CONFLICT (plant_id, day) DO UPDATE SET
        attempts = CASE WHEN history_gaps.state = excluded.state
                        THEN history_gaps.attempts + 1 ELSE 1 END,
        state = excluded.state, reason = excluded.reason,
        last_tried_at = excluded.last_tried_at";

fn backfill(
    conn: &Connection,
    vendor_id: VendorId,
    days: &[VendorDay],
    fetched_at: Timestamp,
    fallback: PlantZone,
) -> Result<BackfillCounts> {
    let mut counts = BackfillCounts::default();
    let mut find = conn.prepare_cached(
        "SELECT id, timezone FROM plants WHERE vendor_id = ?1 AND vendor_plant_id = ?2",
    )?;
    let mut stored = conn.prepare_cached(
        "SELECT energy_kwh, source, last_reading_at FROM plant_days
         WHERE plant_id = ?1 AND day = ?2",
    )?;
    let mut refetched = conn.prepare_cached(
        "UPDATE plant_days SET last_reading_at = ?3, updated_at = ?3, change_seq = ?4
         WHERE plant_id = ?1 AND day = ?2",
    )?;
    let mut write = conn.prepare_cached(
        "INSERT INTO plant_days (plant_id, day, energy_kwh, last_reading_at, source, revisions,
                                 updated_at,
                                 change_seq)
         VALUES (?1, ?2, ?3, ?4, 'backfill', ?5, ?4, ?6)
         ON CONFLICT (plant_id, day) DO UPDATE SET
             energy_kwh = excluded.energy_kwh, source = 'backfill',
             revisions = plant_days.revisions + excluded.revisions,
             last_reading_at = excluded.last_reading_at, updated_at = excluded.updated_at,
             change_seq = excluded.change_seq",
    )?;
    let mut clear_gap =
        conn.prepare_cached("DELETE FROM history_gaps WHERE plant_id = ?1 AND day = ?2")?;
    let mut note_gap = conn.prepare_cached(GAP_SQL)?;
    let mut ids: HashMap<&str, Option<(PlantId, PlantZone)>> = HashMap::new();
    let counter = seq::current(conn)?;
    let mut offered = counter;
    for vendor_day in days {
        let id = match ids.get(vendor_day.vendor_plant_id.as_str()) {
            Some(id) => *id,
            None => {
                let id = find
                    .query_row(params![vendor_id, vendor_day.vendor_plant_id], |r| {
                        let zone: Option<String> = r.get(1)?;
                        Ok((r.get(0)?, zone_or(zone.as_deref(), fallback)))
                    })
                    .optional()?;
                ids.insert(&vendor_day.vendor_plant_id, id);
                id
            }
        };
        let Some((plant_id, zone)) = id else {
            counts.unknown_plants += 1;
            continue;
        };
        let day = vendor_day.day.to_string();
        let before: Option<(Option<f64>, DaySource, Timestamp)> = stored
            .query_row(params![plant_id, day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some(energy) = vendor_day.energy_kwh else {
            counts.no_data += 1;
            // A day a sync saw keeps its live value; the portal's "no data" is noted all the
            // same, so the day rests (20 h, three times) instead of being asked at every
            // sync. Readers show a noted gap only for a day without a value (`gaps_in`).
            note_gap.execute(params![
                plant_id,
                day,
                "no_data",
                "the portal has no value for this day",
                fetched_at
            ])?;
            continue;
        };
        let revised = match before {
            None | Some((None, _, _)) => {
                counts.filled += 1;
                false
            }
            Some((Some(old), source, fetched)) if (old - energy).abs() <= SAME_ENERGY_KWH => {
                if source == DaySource::Backfill {
                    // The same figure again: nothing to write (idempotent), unless this
                    // fetch makes a figure that was not final yet final. Then its fetch time
                    // moves on, or the day would be asked again at every sync.
                    let day_of = vendor_day.day;
                    if !is_final(zone, day_of, fetched) && is_final(zone, day_of, fetched_at) {
                        offered += 1;
                        refetched.execute(params![plant_id, day, fetched_at, offered])?;
                    }
                    clear_gap.execute(params![plant_id, day])?;
                    continue;
                }
                counts.confirmed += 1;
                false
            }
            Some((Some(_), _, _)) => {
                counts.revised += 1;
                true
            }
        };
        offered += 1;
        write.execute(params![plant_id, day, energy, fetched_at, i64::from(revised), offered])?;
        clear_gap.execute(params![plant_id, day])?;
    }
    settle_counter(conn, counter)?;
    Ok(counts)
}

/// Whether a portal's figure for `day` fetched at `fetched` is final: fetched a whole day
/// after the day ended. Portals fill and revise a day while late uploads arrive (SolarEdge
/// after an outage), so a figure fetched sooner (yesterday's, fetched today) is asked once
/// more when a final one can be had (from a day after the day's end), and a revision then
/// replaces it; public clients likewise treat only "today and yesterday" as open.
fn is_final(zone: PlantZone, day: NaiveDate, fetched: Timestamp) -> bool {
    zone.end_of_day(day).is_some_and(|end| fetched.as_datetime() - end.as_datetime() >= FINAL_AFTER)
}

/// The earlier of `a` and `b` (either may be missing: past the calendar's end).
fn sooner(a: Timestamp, b: Option<Timestamp>) -> Timestamp {
    b.map_or(a, |b| a.min(b))
}

/// `time` + `by`, if the calendar goes that far.
fn later_by(time: Timestamp, by: chrono::Duration) -> Option<Timestamp> {
    time.as_datetime().checked_add_signed(by).map(|t| Timestamp::from_datetime(&t))
}

fn gaps_to_fill(
    conn: &Connection,
    vendor_id: VendorId,
    days: u32,
    now: Timestamp,
    fallback: PlantZone,
) -> Result<GapSearch> {
    // With no plant, the answer holds until one appears (the plant count) or, at the latest,
    // the configured zone's next midnight.
    let mut unchanged_until = sooner(
        later_by(now, chrono::Duration::days(1)).unwrap_or(now),
        fallback.end_of_day(fallback.local_date(&now)),
    );
    if days == 0 {
        return Ok(GapSearch {
            gaps: Vec::new(),
            active_plants: 0,
            active_ids_sum: 0,
            unchanged_until,
        });
    }
    let plants: Vec<(PlantId, String, PlantZone)> = conn
        .prepare_cached(
            "SELECT id, vendor_plant_id, timezone FROM plants
             WHERE vendor_id = ?1 AND is_active = 1 ORDER BY id",
        )?
        .query_map([vendor_id], |r| {
            Ok((r.get(0)?, r.get(1)?, zone_or(r.get::<_, Option<String>>(2)?.as_deref(), fallback)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // Every plant's window lies within a day of UTC's: read the union once.
    let utc_today = now.as_datetime().date_naive();
    let earliest = utc_today - chrono::Duration::days(i64::from(days) + 1);
    let zones: HashMap<PlantId, PlantZone> = plants.iter().map(|(id, _, z)| (*id, *z)).collect();
    let mut confirmed: HashMap<PlantId, BTreeSet<NaiveDate>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT d.plant_id, d.day, d.last_reading_at FROM plant_days d
             JOIN plants p ON p.id = d.plant_id
             WHERE p.vendor_id = ?1 AND d.day >= ?2 AND d.source = 'backfill'",
        )?;
        let mut rows = stmt.query(params![vendor_id, earliest.to_string()])?;
        while let Some(r) = rows.next()? {
            let plant: PlantId = r.get(0)?;
            let Some(zone) = zones.get(&plant) else { continue };
            let day = parse_day(r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?)?;
            let fetched_text = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            // Most figures were fetched days after their day: final, whatever the zone,
            // without reading the time or the zone's day end.
            if date_prefix(fetched_text).is_some_and(|d| d >= surely_final_from(day)) {
                confirmed.entry(plant).or_default().insert(day);
                continue;
            }
            let fetched: Timestamp = r.get(2)?;
            // A figure that is not final yet is asked once more, when a final one can be
            // had: a day after the day's end, not at every sync before.
            if is_final(*zone, day, fetched) {
                confirmed.entry(plant).or_default().insert(day);
            } else if !is_final(*zone, day, now) {
                confirmed.entry(plant).or_default().insert(day);
                let askable = zone.end_of_day(day).and_then(|end| later_by(end, FINAL_AFTER));
                unchanged_until = sooner(unchanged_until, askable);
            }
        }
    }
    let mut resting: HashMap<PlantId, BTreeSet<NaiveDate>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT g.plant_id, g.day, g.state, g.attempts, g.last_tried_at
             FROM history_gaps g JOIN plants p ON p.id = g.plant_id
             WHERE p.vendor_id = ?1 AND g.day >= ?2",
        )?;
        let rows = stmt.query_map(params![vendor_id, earliest.to_string()], |r| {
            Ok((
                r.get::<_, PlantId>(0)?,
                parse_day(&r.get::<_, String>(1)?)?,
                r.get::<_, GapState>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Timestamp>(4)?,
            ))
        })?;
        for row in rows {
            let (plant, day, state, attempts, tried) = row?;
            let since = now.as_datetime() - tried.as_datetime();
            // Until when the gap rests; `None`: for good (it leaves the window some day).
            let (rests, due) = match state {
                GapState::NoData if attempts >= NO_DATA_ATTEMPTS => (true, None),
                GapState::NoData => (since < NO_DATA_RETRY, later_by(tried, NO_DATA_RETRY)),
                GapState::Unfillable => {
                    (since < UNFILLABLE_RETRY, later_by(tried, UNFILLABLE_RETRY))
                }
            };
            if rests {
                resting.entry(plant).or_default().insert(day);
                unchanged_until = sooner(unchanged_until, due);
            }
        }
    }
    let active_plants = plants.len() as u64;
    let active_ids_sum = plants.iter().map(|(id, _, _)| id.0).fold(0_i64, i64::wrapping_add);
    let mut out: Vec<PlantGaps> = Vec::new();
    for (plant_id, vendor_plant_id, zone) in plants {
        let today = zone.local_date(&now);
        // At the plant's next midnight today becomes a past day of its window.
        unchanged_until = sooner(unchanged_until, zone.end_of_day(today));
        let first = today - chrono::Duration::days(i64::from(days));
        let done = confirmed.get(&plant_id);
        let rests = resting.get(&plant_id);
        let days: Vec<NaiveDate> = first
            .iter_days()
            .take_while(|day| *day < today)
            .filter(|day| !done.is_some_and(|d| d.contains(day)))
            .filter(|day| !rests.is_some_and(|d| d.contains(day)))
            .collect();
        if !days.is_empty() {
            out.push(PlantGaps { plant_id, vendor_plant_id, zone, days });
        }
    }
    out.sort_by_key(|gaps| gaps.days.first().copied());
    Ok(GapSearch { gaps: out, active_plants, active_ids_sum, unchanged_until })
}

const PLANTS_SQL: &str = "
    SELECT p.id, p.name, p.vendor_plant_id, p.vendor_id, v.name, p.org_id, o.name,
           p.capacity_kw, p.timezone, p.is_active
    FROM plants p JOIN vendors v ON v.id = p.vendor_id
    LEFT JOIN organizations o ON o.id = p.org_id";

fn plants_in(
    conn: &Connection,
    scope: HistoryScope,
    fallback: PlantZone,
) -> Result<Vec<HistoryPlant>> {
    let (condition, param) = scope.condition();
    let sql = format!("{PLANTS_SQL} WHERE {condition} ORDER BY o.name, v.name, p.name, p.id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([param], |r| {
            Ok(HistoryPlant {
                id: r.get(0)?,
                name: r.get(1)?,
                vendor_plant_id: r.get(2)?,
                vendor_id: r.get(3)?,
                vendor_name: r.get(4)?,
                org_id: r.get(5)?,
                org_name: r.get(6)?,
                capacity_kw: r.get(7)?,
                zone: zone_or(r.get::<_, Option<String>>(8)?.as_deref(), fallback),
                is_active: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn days_in(
    conn: &Connection,
    scope: HistoryScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayRow>> {
    let (condition, param) = scope.condition();
    let sql = format!(
        "{days}
         WHERE {condition} AND d.day >= ?2 AND d.day <= ?3
         UNION ALL
         {SLOTS_WITHOUT_DAY} AND {condition} AND p.live_day >= ?2 AND p.live_day <= ?3
         ORDER BY 1, 2",
        days = *DAYS_WITH_SLOTS
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![param, from.to_string(), to.to_string()], |r| {
            Ok(DayRow {
                plant_id: r.get(0)?,
                day: parse_day(&r.get::<_, String>(1)?)?,
                energy_kwh: r.get(2)?,
                peak_power_kw: r.get(3)?,
                last_reading_at: r.get(4)?,
                source: r.get(5)?,
                revisions: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The stored days as readers see them, each with its plant's live slot merged in when the
/// slot holds that day ([`LiveMerge`], the rule the copy into `plant_days` follows):
/// `plant_days d JOIN plants p`, for a `WHERE` to follow. The columns of [`DayRow`].
static DAYS_WITH_SLOTS: LazyLock<String> = LazyLock::new(|| {
    let merge = LiveMerge::of(
        &DayCols { energy: "d.energy_kwh", peak: "d.peak_power_kw", last: "d.last_reading_at" },
        "d.source",
        &DayCols { energy: "p.live_energy_kwh", peak: "p.live_peak_kw", last: "p.live_reading_at" },
    );
    let slot = |merged: &str, stored: &str| {
        format!("CASE WHEN p.live_day = d.day THEN {merged} ELSE {stored} END")
    };
    format!(
        "SELECT d.plant_id, d.day, {}, {}, {}, d.source, d.revisions
         FROM plant_days d JOIN plants p ON p.id = d.plant_id",
        slot(&merge.energy, "d.energy_kwh"),
        slot(&merge.peak, "d.peak_power_kw"),
        slot(&merge.last, "d.last_reading_at"),
    )
});

/// The live slots whose day has no row in `plant_days` yet (today's, until a push, a bundle
/// or a backfill copies it), as the rows [`DAYS_WITH_SLOTS`] reads: `plants p`, for more
/// `AND` conditions to follow.
const SLOTS_WITHOUT_DAY: &str = "SELECT p.id, p.live_day, p.live_energy_kwh, p.live_peak_kw,
        p.live_reading_at, 'live', 0
    FROM plants p
    WHERE p.live_day IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM plant_days d WHERE d.plant_id = p.id AND d.day = p.live_day)";

/// The live slots a copy into `plant_days` would still change ([`copy_live`]), counted in
/// `status` as pending upstream beside the rows changed after the watermark (`?1`): a slot
/// whose day has no row, or whose row is not pending already and the slot would change it.
/// The columns: how many, and the earliest time their plants were listed (when the slot
/// last changed at the latest, so the wait is never overstated).
pub(super) static SLOTS_PENDING_SQL: LazyLock<String> = LazyLock::new(|| {
    let merge = LiveMerge::of(
        &DayCols { energy: "d.energy_kwh", peak: "d.peak_power_kw", last: "d.last_reading_at" },
        "d.source",
        &DayCols { energy: "p.live_energy_kwh", peak: "p.live_peak_kw", last: "p.live_reading_at" },
    );
    format!(
        "SELECT count(*), min(p.last_refreshed_at) FROM plants p
         WHERE p.live_day IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM plant_days d
                           WHERE d.plant_id = p.id AND d.day = p.live_day
                             AND (d.change_seq > ?1 OR NOT coalesce(({}), 0)))",
        merge.changes
    )
});

/// Whether the noted gap `g` has a value all the same (a live one the portal's history could
/// not confirm, stored or in the plant's live slot): such a day is no gap to readers.
const VALUED: &str = "(EXISTS (SELECT 1 FROM plant_days d
        WHERE d.plant_id = g.plant_id AND d.day = g.day AND d.energy_kwh IS NOT NULL)
    OR EXISTS (SELECT 1 FROM plants s
        WHERE s.id = g.plant_id AND s.live_day = g.day AND s.live_energy_kwh IS NOT NULL))";

fn gaps_in(
    conn: &Connection,
    scope: HistoryScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<GapRow>> {
    let (condition, param) = scope.condition();
    let sql = format!(
        "SELECT g.plant_id, g.day, g.state, g.reason, g.attempts, g.last_tried_at
         FROM history_gaps g JOIN plants p ON p.id = g.plant_id
         WHERE {condition} AND g.day >= ?2 AND g.day <= ?3 AND NOT {VALUED}
         ORDER BY g.plant_id, g.day"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![param, from.to_string(), to.to_string()], |r| {
            Ok(GapRow {
                plant_id: r.get(0)?,
                day: parse_day(&r.get::<_, String>(1)?)?,
                state: r.get(2)?,
                reason: r.get(3)?,
                attempts: r.get(4)?,
                last_tried_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one test reads change numbers behind the store's back
mod tests {
    use super::*;
    use crate::domain::{Credentials, NewVendor, VendorKind};
    use crate::store::test_support::temp_store;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    const KOLKATA: PlantZone = PlantZone::Named(chrono_tz::Asia::Kolkata);

    async fn vendor(store: &Store) -> VendorId {
        crate::store::test_support::org_vendor(store, VendorKind::Solarman).await
    }

    fn reading(
        id: &str,
        zone: Option<&str>,
        at: &str,
        kwh: Option<f64>,
        kw: Option<f64>,
    ) -> VendorPlant {
        VendorPlant {
            vendor_plant_id: id.into(),
            timezone: zone.map(Into::into),
            vendor_updated_at: Some(ts(at)),
            daily_energy_kwh: kwh,
            current_power_kw: kw,
            ..VendorPlant::default()
        }
    }

    async fn sync(store: &Store, vendor: VendorId, plants: Vec<VendorPlant>, now: &str) {
        store.upsert_plants_recording(vendor, plants, ts(now), Some(KOLKATA)).await.unwrap();
    }

    async fn days(store: &Store) -> Vec<(NaiveDate, Option<f64>, Option<f64>, DaySource, u32)> {
        store
            .history_days(HistoryScope::All, day("2000-01-01"), day("2100-01-01"))
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.day, r.energy_kwh, r.peak_power_kw, r.source, r.revisions))
            .collect()
    }

    /// The history's days as `plant_days` holds them (plant id, day, energy, change number),
    /// beside what readers see.
    async fn stored_days(store: &Store) -> Vec<(String, Option<f64>, i64)> {
        store
            .read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT day, energy_kwh, change_seq FROM plant_days ORDER BY plant_id, day",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
            .unwrap()
    }

    /// A sync writes today's values into the plant's live slot, which readers see as the
    /// day; the first reading of the next day moves the slot into `plant_days` in the same
    /// transaction (here a push had copied it already: the move changes nothing, and the
    /// replaced slot is cleared all the same), and starts a new one.
    #[tokio::test]
    async fn a_reading_of_a_new_day_moves_the_live_slot_into_the_days() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // 11:30 and 13:30 on the 30th in Kolkata; then 06:30 on 1 December.
        let (noon, later, next) =
            ("2026-11-30T06:00:00Z", "2026-11-30T08:00:00Z", "2026-12-01T01:00:00Z");
        sync(&store, v, vec![reading("p", None, noon, Some(4.0), Some(2.0))], noon).await;
        sync(&store, v, vec![reading("p", None, later, Some(9.0), Some(3.5))], later).await;
        assert_eq!(stored_days(&store).await, vec![], "the slot holds the day");
        let live = DaySource::Live;
        assert_eq!(days(&store).await, vec![(day("2026-11-30"), Some(9.0), Some(3.5), live, 0)]);
        assert_eq!(store.history_summary().await.unwrap().days, 1);
        // A push copies the slot before the day ends (its change number, once).
        store.copy_live_days(ts(later)).await.unwrap();
        let copied = stored_days(&store).await;
        assert_eq!(copied.len(), 1, "{copied:?}");
        assert_eq!((copied[0].0.as_str(), copied[0].1), ("2026-11-30", Some(9.0)));
        assert!(copied[0].2 > 0, "the copied day takes a change number: {copied:?}");

        sync(&store, v, vec![reading("p", None, next, Some(0.5), Some(0.2))], next).await;
        let stored = stored_days(&store).await;
        assert_eq!(stored, copied, "the moved slot adds nothing to the copied day");
        assert_eq!(
            days(&store).await,
            vec![
                (day("2026-11-30"), Some(9.0), Some(3.5), live, 0),
                (day("2026-12-01"), Some(0.5), Some(0.2), live, 0),
            ]
        );
        let summary = store.history_summary().await.unwrap();
        assert_eq!((summary.days, summary.first_day), (2, Some(day("2026-11-30"))));
        // Nothing left in the replaced slot once the transaction ended.
        let replaced: i64 = store
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM plants WHERE prev_day IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(replaced, 0);
    }

    /// One batch listing a plant three times, its readings on either side of its midnight:
    /// each move of the slot is copied before the next, so every reading counts.
    #[tokio::test]
    async fn a_plant_listed_across_its_midnight_in_one_batch_keeps_every_reading() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // 23:30 on the 30th, 00:10 on the 1st, 23:50 on the 30th (Kolkata).
        let batch = vec![
            reading("p", None, "2026-11-30T18:00:00Z", Some(5.0), Some(1.0)),
            reading("p", None, "2026-11-30T18:40:00Z", Some(1.0), Some(0.5)),
            reading("p", None, "2026-11-30T18:20:00Z", Some(7.0), Some(0.8)),
        ];
        sync(&store, v, batch, "2026-11-30T18:41:00Z").await;
        let live = DaySource::Live;
        assert_eq!(
            days(&store).await,
            vec![
                (day("2026-11-30"), Some(7.0), Some(1.0), live, 0),
                (day("2026-12-01"), Some(1.0), Some(0.5), live, 0),
            ]
        );
        // Copied, the store holds the same.
        store.copy_live_days(ts("2026-11-30T18:42:00Z")).await.unwrap();
        let stored: Vec<(String, Option<f64>)> =
            stored_days(&store).await.into_iter().map(|(d, e, _)| (d, e)).collect();
        assert_eq!(
            stored,
            vec![("2026-11-30".to_owned(), Some(7.0)), ("2026-12-01".to_owned(), Some(1.0))]
        );
        let numbers: Vec<i64> = stored_days(&store).await.into_iter().map(|r| r.2).collect();
        let counter: i64 = store
            .read(|conn| Ok(conn.query_row("SELECT value FROM change_counter", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert!(numbers.iter().all(|n| *n > 0 && *n <= counter), "{numbers:?} {counter}");
        assert_ne!(numbers[0], numbers[1]);
    }

    /// `status` counts a live slot as pending upstream while the push has not copied and
    /// sent it, once, and not when the copied row was confirmed and the slot adds nothing.
    #[tokio::test]
    async fn a_live_slot_counts_as_pending_until_its_day_is_sent() {
        use crate::store::upstream::UpstreamTable;
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let pending = |store: &Store| {
            let store = store.clone();
            async move {
                let state = store.upstream_state().await.unwrap();
                let days = state.tables.iter().find(|t| t.table == UpstreamTable::PlantDays);
                days.unwrap().pending
            }
        };
        let at = "2026-11-30T06:00:00Z";
        sync(&store, v, vec![reading("p", None, at, Some(4.0), Some(2.0))], at).await;
        assert_eq!(pending(&store).await, 1, "a slot whose day has no row");
        store.copy_live_days(ts(at)).await.unwrap();
        assert_eq!(pending(&store).await, 1, "the copied row, counted once");
        let counter: i64 = store
            .read(|conn| Ok(conn.query_row("SELECT value FROM change_counter", [], |r| r.get(0))?))
            .await
            .unwrap();
        store.acknowledge_upstream(UpstreamTable::PlantDays, counter).await.unwrap();
        assert_eq!(pending(&store).await, 0, "confirmed, and the slot adds nothing");
        let later = "2026-11-30T07:00:00Z";
        sync(&store, v, vec![reading("p", None, later, Some(6.0), Some(1.0))], later).await;
        assert_eq!(pending(&store).await, 1, "the slot would change the confirmed row");
    }

    #[tokio::test]
    async fn a_late_zero_at_night_never_lowers_the_day() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // Kolkata is +05:30: 06:30Z is noon there, 17:00Z is 22:30 the same local day.
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T06:30:00Z", Some(10.0), Some(4.0))],
            "2026-11-30T06:31:00Z",
        )
        .await;
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T12:00:00Z", Some(18.5), Some(1.0))],
            "2026-11-30T12:01:00Z",
        )
        .await;
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T17:00:00Z", Some(0.0), Some(0.0))],
            "2026-11-30T17:01:00Z",
        )
        .await;
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T17:30:00Z", None, None)],
            "2026-11-30T17:31:00Z",
        )
        .await;
        assert_eq!(
            days(&store).await,
            vec![(day("2026-11-30"), Some(18.5), Some(4.0), DaySource::Live, 0)]
        );
        let row = &store
            .history_days(HistoryScope::All, day("2026-11-30"), day("2026-11-30"))
            .await
            .unwrap()[0];
        assert_eq!(row.last_reading_at, ts("2026-11-30T17:00:00Z"), "the zero was still a reading");
        let samples = store
            .power_samples(row.plant_id, ts("2026-11-30T00:00:00Z"), ts("2026-12-01T00:00:00Z"))
            .await
            .unwrap();
        let powers: Vec<f64> = samples.iter().map(|s| s.power_kw).collect();
        assert_eq!(powers, [4.0, 1.0, 0.0], "one sample per reading with power");
    }

    /// A plant listed twice in a batch is dated by the zone its row holds after the batch
    /// (the last one named), both readings alike; a zone text that is no zone dates by the
    /// configured one.
    #[tokio::test]
    async fn a_plant_listed_twice_is_dated_by_the_zone_its_row_keeps() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // 20:00Z: 1 December in Kolkata (the configured zone), 30 November in Berlin.
        let at = "2026-11-30T20:00:00Z";
        let twice = |first: &str, second: &str| {
            vec![
                reading("7", Some(first), at, Some(5.0), None),
                reading("7", Some(second), at, Some(6.0), None),
                reading("7", None, at, Some(4.0), None),
            ]
        };
        sync(&store, v, twice("Asia/Kolkata", "Europe/Berlin"), at).await;
        let rows: Vec<_> = days(&store).await.into_iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(rows, [(day("2026-11-30"), Some(6.0))], "Berlin's day, the highest value");
        // Not the last zone that parses (Berlin's 30 November): the text the row keeps.
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        sync(&store, v, twice("Europe/Berlin", "Mars/Olympus"), at).await;
        let rows: Vec<_> = days(&store).await.into_iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(rows, [(day("2026-12-01"), Some(6.0))], "the configured zone's day");
    }

    #[tokio::test]
    async fn each_plant_counts_days_in_its_own_zone_and_dst_moves_the_boundary() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // 2026-11-30T20:00Z is already 1 December in Kolkata (the fallback), still 30
        // November in New York (-05:00 in winter).
        let at = "2026-11-30T20:00:00Z";
        sync(
            &store,
            v,
            vec![
                reading("in", None, at, Some(1.0), None),
                reading("ny", Some("America/New_York"), at, Some(2.0), None),
            ],
            at,
        )
        .await;
        // Berlin on the night clocks go back (2026-10-25, 03:00 CEST -> 02:00 CET): 22:30Z
        // on the 24th is 00:30 CEST on the 25th; 22:30Z on the 25th is 23:30 CET, still the
        // 25th (a 25-hour day).
        let berlin = Some("Europe/Berlin");
        sync(
            &store,
            v,
            vec![reading("de", berlin, "2026-10-24T22:30:00Z", Some(0.5), None)],
            "2026-10-24T22:31:00Z",
        )
        .await;
        sync(
            &store,
            v,
            vec![reading("de", berlin, "2026-10-25T22:30:00Z", Some(9.0), None)],
            "2026-10-25T22:31:00Z",
        )
        .await;
        let plants = store.history_plants(HistoryScope::All, KOLKATA).await.unwrap();
        let id =
            |vendor_id: &str| plants.iter().find(|p| p.vendor_plant_id == vendor_id).unwrap().id;
        let rows = store
            .history_days(HistoryScope::All, day("2026-10-01"), day("2026-12-31"))
            .await
            .unwrap();
        let of = |plant: PlantId| -> Vec<(String, Option<f64>)> {
            rows.iter()
                .filter(|r| r.plant_id == plant)
                .map(|r| (r.day.to_string(), r.energy_kwh))
                .collect()
        };
        assert_eq!(of(id("in")), [("2026-12-01".to_owned(), Some(1.0))]);
        assert_eq!(of(id("ny")), [("2026-11-30".to_owned(), Some(2.0))]);
        assert_eq!(of(id("de")), [("2026-10-25".to_owned(), Some(9.0))]);
        let recent = store.today_and_yesterday(HistoryScope::All, ts(at), KOLKATA).await.unwrap();
        assert_eq!(recent[&id("in")], (Some(1.0), None));
        assert_eq!(recent[&id("ny")], (Some(2.0), None));
        let next_day = store
            .today_and_yesterday(HistoryScope::All, ts("2026-12-01T20:00:00Z"), KOLKATA)
            .await
            .unwrap();
        assert_eq!(next_day[&id("in")], (None, Some(1.0)));
    }

    #[tokio::test]
    async fn the_portals_figure_replaces_live_values_and_counts_revisions() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-29T10:00:00Z", Some(12.0), Some(3.0))],
            "2026-11-29T10:01:00Z",
        )
        .await;
        let vd = |d: &str, e: Option<f64>| VendorDay {
            vendor_plant_id: "p".into(),
            day: day(d),
            energy_kwh: e,
        };
        let fetched = ts("2026-12-01T08:00:00Z");
        let counts = store
            .record_backfill(
                v,
                vec![
                    vd("2026-11-28", Some(20.0)),
                    vd("2026-11-29", Some(25.0)),
                    vd("2026-11-30", None),
                ],
                fetched,
                KOLKATA,
            )
            .await
            .unwrap();
        assert_eq!(
            counts,
            BackfillCounts { filled: 1, revised: 1, confirmed: 0, no_data: 1, unknown_plants: 0 }
        );
        // The same answer again changes nothing; a changed one is a revision.
        let again = store
            .record_backfill(v, vec![vd("2026-11-28", Some(20.0))], fetched, KOLKATA)
            .await
            .unwrap();
        assert_eq!(again, BackfillCounts::default());
        let changed = store
            .record_backfill(v, vec![vd("2026-11-28", Some(21.0))], fetched, KOLKATA)
            .await
            .unwrap();
        assert_eq!(changed.revised, 1);
        // A late live reading of a backfilled day does not undo the portal's figure.
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-29T11:00:00Z", Some(30.0), Some(5.0))],
            "2026-12-01T09:00:00Z",
        )
        .await;
        assert_eq!(
            days(&store).await,
            vec![
                (day("2026-11-28"), Some(21.0), None, DaySource::Backfill, 1),
                (day("2026-11-29"), Some(25.0), Some(5.0), DaySource::Backfill, 1),
            ]
        );
        let gaps = store
            .history_gaps(HistoryScope::All, day("2026-11-01"), day("2026-12-31"))
            .await
            .unwrap();
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].day, gaps[0].state), (day("2026-11-30"), GapState::NoData));
        // The day filled later clears its gap.
        store
            .record_backfill(v, vec![vd("2026-11-30", Some(7.0))], fetched, KOLKATA)
            .await
            .unwrap();
        assert!(
            store
                .history_gaps(HistoryScope::All, day("2026-11-01"), day("2026-12-31"))
                .await
                .unwrap()
                .is_empty()
        );
        let unknown = store
            .record_backfill(
                v,
                vec![VendorDay {
                    vendor_plant_id: "nobody".into(),
                    day: day("2026-11-30"),
                    energy_kwh: Some(1.0),
                }],
                fetched,
                KOLKATA,
            )
            .await
            .unwrap();
        assert_eq!(unknown.unknown_plants, 1);
        let summary = store.history_summary().await.unwrap();
        assert_eq!(
            summary,
            HistorySummary {
                days: 3,
                backfilled: 3,
                first_day: Some(day("2026-11-28")),
                no_data_days: 0,
                unfillable_days: 0,
                power_samples: 2,
            }
        );
    }

    #[tokio::test]
    async fn the_gaps_to_fill_are_the_unconfirmed_past_days_oldest_first() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        let now = "2026-12-01T08:00:00Z"; // 13:30 on 1 December in Kolkata
        sync(
            &store,
            v,
            vec![
                reading("a", None, now, Some(1.0), None),
                reading("b", None, now, Some(1.0), None),
            ],
            now,
        )
        .await;
        let vd = |id: &str, d: &str, e: Option<f64>| VendorDay {
            vendor_plant_id: id.into(),
            day: day(d),
            energy_kwh: e,
        };
        store
            .record_backfill(
                v,
                vec![
                    vd("a", "2026-11-25", Some(3.0)),
                    vd("b", "2026-11-24", Some(3.0)),
                    vd("b", "2026-11-23", None),
                ],
                ts(now),
                KOLKATA,
            )
            .await
            .unwrap();
        let gaps = store.history_gaps_to_fill(v, 7, ts(now), KOLKATA).await.unwrap().gaps;
        let listed: Vec<(String, Vec<String>)> = gaps
            .iter()
            .map(|g| (g.vendor_plant_id.clone(), g.days.iter().map(ToString::to_string).collect()))
            .collect();
        // Seven days before today (24 Nov .. 30 Nov); today is never a gap. a: 25 Nov is
        // confirmed. b: 24 Nov confirmed, 23 Nov is outside the window anyway.
        assert_eq!(
            listed,
            [
                (
                    "a".to_owned(),
                    [
                        "2026-11-24",
                        "2026-11-26",
                        "2026-11-27",
                        "2026-11-28",
                        "2026-11-29",
                        "2026-11-30"
                    ]
                    .map(String::from)
                    .to_vec()
                ),
                (
                    "b".to_owned(),
                    [
                        "2026-11-25",
                        "2026-11-26",
                        "2026-11-27",
                        "2026-11-28",
                        "2026-11-29",
                        "2026-11-30"
                    ]
                    .map(String::from)
                    .to_vec()
                ),
            ]
        );
        // "No data" rests for a while, then is asked again, at most three times.
        store
            .record_backfill(v, vec![vd("a", "2026-11-24", None)], ts(now), KOLKATA)
            .await
            .unwrap();
        let soon = store
            .history_gaps_to_fill(v, 7, ts("2026-12-01T10:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;

        let a_gaps = |gaps: &[PlantGaps]| {
            gaps.iter().find(|g| g.vendor_plant_id == "a").unwrap().days.clone()
        };
        assert!(!a_gaps(&soon).contains(&day("2026-11-24")));
        let next_day = store
            .history_gaps_to_fill(v, 8, ts("2026-12-02T08:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert!(a_gaps(&next_day).contains(&day("2026-11-24")), "asked again a day later");
        for _ in 0..2 {
            store
                .record_backfill(v, vec![vd("a", "2026-11-24", None)], ts(now), KOLKATA)
                .await
                .unwrap();
        }
        let later = store
            .history_gaps_to_fill(v, 30, ts("2026-12-10T08:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert!(!a_gaps(&later).contains(&day("2026-11-24")), "three times no data: left alone");
        // A portal that cannot fill: the days rest for a week.
        let b = gaps[1].plant_id;
        store
            .record_unfillable(vec![(b, day("2026-11-30"))], "no endpoint".into(), ts(now))
            .await
            .unwrap();
        let b_gaps = |gaps: &[PlantGaps]| {
            gaps.iter().find(|g| g.vendor_plant_id == "b").unwrap().days.clone()
        };
        let tomorrow = store
            .history_gaps_to_fill(v, 7, ts("2026-12-02T08:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert!(!b_gaps(&tomorrow).contains(&day("2026-11-30")));
        let week = store
            .history_gaps_to_fill(v, 14, ts("2026-12-08T09:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert!(b_gaps(&week).contains(&day("2026-11-30")));
        assert!(store.history_gaps_to_fill(v, 0, ts(now), KOLKATA).await.unwrap().gaps.is_empty());
    }

    #[tokio::test]
    async fn pruning_deletes_old_samples_in_batches_and_keeps_days() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        for hour in 0..10 {
            let at = format!("2026-08-01T{hour:02}:00:00Z");
            sync(&store, v, vec![reading("p", None, &at, Some(f64::from(hour)), Some(1.0))], &at)
                .await;
        }
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T10:00:00Z", Some(1.0), Some(2.0))],
            "2026-11-30T10:00:00Z",
        )
        .await;
        let before = ts("2026-09-01T00:00:00Z");
        assert_eq!(store.prune_power_samples(before, 4).await.unwrap(), 4);
        assert_eq!(store.prune_power_samples(before, 4).await.unwrap(), 4);
        assert_eq!(store.prune_power_samples(before, 4).await.unwrap(), 2);
        assert_eq!(store.prune_power_samples(before, 4).await.unwrap(), 0);
        let plant = store.history_plants(HistoryScope::All, KOLKATA).await.unwrap()[0].id;
        let left = store
            .power_samples(plant, ts("2000-01-01T00:00:00Z"), ts("2100-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(days(&store).await.len(), 2, "daily rows are kept forever");
    }

    /// The gap search's short cut agrees with the rule it skips: a figure fetched on the
    /// third UTC date after its day is final in the zones furthest from UTC, and the fast
    /// date reader reads what chrono reads, and nothing else.
    #[test]
    fn a_figure_fetched_three_utc_dates_later_is_final_in_every_zone() {
        let zones = ["Etc/GMT+12", "Pacific/Kiritimati", "America/Santiago", "Asia/Kolkata"];
        for day in [day("2026-03-08"), day("2026-11-01"), day("2026-12-31")] {
            let from = surely_final_from(day).and_hms_opt(0, 0, 0).unwrap().and_utc();
            for zone in zones {
                let zone: PlantZone = zone.parse().unwrap();
                assert!(is_final(zone, day, Timestamp::from_datetime(&from)), "{zone} {day}");
            }
        }
        assert_eq!(date_prefix("2026-12-02T10:00:00.000Z"), Some(day("2026-12-02")));
        assert_eq!(parse_day("2026-02-28").unwrap(), day("2026-02-28"));
        for bad in ["2026-02-30", "2026-1-02", "+202-12-02", "2026-12-0x", "2026-1-2x", ""] {
            assert_eq!(date_prefix(bad), None, "{bad}");
        }
        for bad in ["2026-02-30", "2026-12-0x", "2026-12-02x", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    /// Removing a vendor takes its plants' samples with it (they have no foreign key) and
    /// leaves another vendor's.
    #[tokio::test]
    async fn a_removed_vendor_takes_its_samples_and_leaves_the_others() {
        let (_dir, store) = temp_store();
        let kept = vendor(&store).await;
        let new = NewVendor {
            name: "Gone".into(),
            kind: VendorKind::Solarman,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        let gone = store.add_vendor(new, Credentials::default()).await.unwrap().id;
        let now = "2026-12-01T08:00:00Z";
        for v in [kept, gone] {
            let plants = vec![
                reading("a", None, now, None, Some(1.0)),
                reading("b", None, now, None, Some(2.0)),
            ];
            sync(&store, v, plants, now).await;
        }
        assert_eq!(store.history_summary().await.unwrap().power_samples, 4);
        store.remove_vendor("Gone", true).await.unwrap();
        assert_eq!(store.history_summary().await.unwrap().power_samples, 2);
        let plant = store.history_plants(HistoryScope::Vendor(kept), KOLKATA).await.unwrap()[0].id;
        let (from, to) = (ts("2026-12-01T00:00:00Z"), ts("2026-12-02T00:00:00Z"));
        assert_eq!(store.power_samples(plant, from, to).await.unwrap().len(), 1);
    }

    /// The daily rows are pushed upstream like plants: a real change takes a new change
    /// number, above every earlier one, when the live slot is copied; the same reading again,
    /// or the same slot copied again, takes none.
    #[tokio::test]
    async fn a_day_takes_a_change_number_only_when_it_changes() {
        let (dir, store) = temp_store();
        let v = vendor(&store).await;
        let seq_of = || {
            let conn = Connection::open(dir.path().join("plantsync.db")).unwrap();
            conn.query_row(
                "SELECT d.change_seq, (SELECT value FROM change_counter) FROM plant_days d",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .unwrap()
        };
        let at = "2026-11-30T06:30:00Z";
        // A sync writes the plant's live slot; a push first copies it into `plant_days`.
        let copy = || store.copy_live_days(ts(at));
        sync(&store, v, vec![reading("p", None, at, Some(10.0), Some(4.0))], at).await;
        copy().await.unwrap();
        let (first, counter) = seq_of();
        assert!(first > 0 && counter >= first, "{first} {counter}");
        sync(&store, v, vec![reading("p", None, at, Some(10.0), Some(4.0))], at).await;
        copy().await.unwrap();
        copy().await.unwrap();
        assert_eq!(seq_of().0, first, "the same reading changes nothing, copied twice");
        sync(
            &store,
            v,
            vec![reading("p", None, "2026-11-30T07:00:00Z", Some(11.0), Some(3.0))],
            at,
        )
        .await;
        copy().await.unwrap();
        let (second, counter) = seq_of();
        assert!(second > first && counter >= second, "{second} {counter}");
        let vd = VendorDay {
            vendor_plant_id: "p".into(),
            day: day("2026-11-30"),
            energy_kwh: Some(12.0),
        };
        store
            .record_backfill(v, vec![vd.clone()], ts("2026-12-01T08:00:00Z"), KOLKATA)
            .await
            .unwrap();
        let (third, counter) = seq_of();
        assert!(third > second && counter >= third, "{third} {counter}");
        store.record_backfill(v, vec![vd], ts("2026-12-01T09:00:00Z"), KOLKATA).await.unwrap();
        assert_eq!(seq_of().0, third, "the same figure again changes nothing");
    }

    /// Plant "a" of a new vendor, synced on 1 December 08:00 UTC, and its 30 November
    /// figure (5 kWh) fetched then, before it can be final (the 30th ends at 18:30 UTC in
    /// Kolkata).
    async fn yesterdays_figure_fetched(store: &Store) -> (VendorId, VendorDay) {
        let v = vendor(store).await;
        let now = "2026-12-01T08:00:00Z";
        sync(store, v, vec![reading("a", None, now, Some(1.0), None)], now).await;
        let vd = VendorDay {
            vendor_plant_id: "a".into(),
            day: day("2026-11-30"),
            energy_kwh: Some(5.0),
        };
        store.record_backfill(v, vec![vd.clone()], ts(now), KOLKATA).await.unwrap();
        (v, vd)
    }

    /// The days of `gaps`, in order.
    fn asked(gaps: Vec<PlantGaps>) -> Vec<NaiveDate> {
        gaps.into_iter().flat_map(|g| g.days).collect()
    }

    /// Yesterday's figure, fetched today, is asked once more the next day (portals revise
    /// days while late uploads arrive); fetched then, it is final.
    #[tokio::test]
    async fn a_figure_fetched_within_a_day_of_its_end_is_asked_once_more() {
        let (_dir, store) = temp_store();
        let (v, vd) = yesterdays_figure_fetched(&store).await;
        // Not at every sync before a final figure can be had...
        let soon = store
            .history_gaps_to_fill(v, 2, ts("2026-12-01T12:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert_eq!(asked(soon), [day("2026-11-29")]);
        // ...but once a day has passed since the day's end (18:30Z on 30 November).
        let next = store
            .history_gaps_to_fill(v, 2, ts("2026-12-02T07:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert_eq!(asked(next), [day("2026-11-30"), day("2026-12-01")]);
        let revised = VendorDay { energy_kwh: Some(5.5), ..vd };
        let counts = store
            .record_backfill(v, vec![revised], ts("2026-12-02T07:00:00Z"), KOLKATA)
            .await
            .unwrap();
        assert_eq!(counts.revised, 1);
        let after = store
            .history_gaps_to_fill(v, 2, ts("2026-12-02T08:00:00Z"), KOLKATA)
            .await
            .unwrap()
            .gaps;
        assert_eq!(asked(after), [day("2026-12-01")], "fetched a day after its end: final");
    }

    /// The same figure asked once more (it was fetched before it could be final) is final
    /// now: its fetch time moves on, so the day is not asked at every later sync; a final
    /// figure arriving again writes nothing.
    #[tokio::test]
    async fn the_same_figure_asked_once_more_is_final_and_not_asked_again() {
        let (_dir, store) = temp_store();
        let (v, vd) = yesterdays_figure_fetched(&store).await;
        let later = ts("2026-12-02T07:00:00Z");
        let next = store.history_gaps_to_fill(v, 2, later, KOLKATA).await.unwrap().gaps;
        assert_eq!(asked(next), [day("2026-11-30"), day("2026-12-01")]);
        let counts = store.record_backfill(v, vec![vd.clone()], later, KOLKATA).await.unwrap();
        assert_eq!((counts.revised, counts.filled, counts.confirmed), (0, 0, 0));
        let after = ts("2026-12-02T08:00:00Z");
        let again = store.history_gaps_to_fill(v, 2, after, KOLKATA).await.unwrap().gaps;
        assert_eq!(asked(again), [day("2026-12-01")], "the 30th is final now");

        let stamp = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .read(|conn| {
                        Ok(conn.query_row(
                            "SELECT last_reading_at || ' ' || change_seq FROM plant_days
                             WHERE day = '2026-11-30'",
                            [],
                            |r| r.get::<_, String>(0),
                        )?)
                    })
                    .await
                    .unwrap()
            }
        };
        let before = stamp(&store).await;
        assert!(before.starts_with("2026-12-02T07:00:00.000Z "), "{before}");
        store.record_backfill(v, vec![vd], ts("2026-12-05T07:00:00Z"), KOLKATA).await.unwrap();
        assert_eq!(stamp(&store).await, before, "a final figure again changes nothing");
    }

    /// The batched statements (50 readings to one, the last one's unused rows empty) record
    /// by the same rules as one reading at a time: a first sync of 123 readings whose zones
    /// the batch names (three statements) and a listing without a reading; then 125
    /// readings, two of them a plant's second listing (one in the first statement, one in
    /// the last) and 41 whose zone the batch does not name (the stored one decides):
    /// higher, night-zero and unchanged readings, with and without power.
    #[tokio::test]
    async fn a_large_batch_records_every_reading_by_the_same_rules() {
        let (_dir, store) = temp_store();
        let v = vendor(&store).await;
        // At 16:00Z it is 17:00 on the 30th in Berlin and 01:00 on the 1st in Tokyo.
        let tokyo = |i: usize| i.is_multiple_of(3);
        let power =
            |i: usize, round: usize| (!i.is_multiple_of(5)).then_some((i + round) as f64 / 10.0);
        #[derive(Clone, Copy, PartialEq)]
        enum Second {
            Unchanged,
            Higher,
            NightZero,
        }
        let second = |i: usize| match i {
            _ if i.is_multiple_of(7) => Second::Unchanged,
            _ if i.is_multiple_of(2) => Second::Higher,
            _ => Second::NightZero,
        };
        let zone = |i: usize| Some(if tokyo(i) { "Asia/Tokyo" } else { "Europe/Berlin" });
        let mut first: Vec<VendorPlant> = (0..123)
            .map(|i| {
                reading(
                    &format!("p{i}"),
                    zone(i),
                    "2026-11-30T16:00:00Z",
                    Some(i as f64),
                    power(i, 0),
                )
            })
            .collect();
        first.push(reading("quiet", None, "2026-11-30T16:00:00Z", None, None));
        sync(&store, v, first, "2026-11-30T16:01:00Z").await;
        let copy = |store: &Store, at: &str| {
            let (store, at) = (store.clone(), ts(at));
            async move { store.copy_live_days(at).await.unwrap() }
        };
        let read = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .read(|conn| {
                        let mut rows = conn.prepare(
                            "SELECT p.vendor_plant_id, d.day, d.energy_kwh, d.peak_power_kw,
                                    d.change_seq,
                                    (SELECT count(*) FROM power_samples s WHERE s.plant_id = p.id)
                             FROM plants p LEFT JOIN plant_days d ON d.plant_id = p.id",
                        )?;
                        let rows = rows
                            .query_map([], |r| {
                                Ok((
                                    r.get::<_, String>(0)?,
                                    (
                                        r.get::<_, Option<String>>(1)?,
                                        r.get::<_, Option<f64>>(2)?,
                                        r.get::<_, Option<f64>>(3)?,
                                        r.get::<_, Option<i64>>(4)?,
                                        r.get::<_, i64>(5)?,
                                    ),
                                ))
                            })?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        Ok(rows)
                    })
                    .await
                    .unwrap()
            }
        };
        let day_rows = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .read(|conn| {
                        Ok(conn.query_row("SELECT count(*) FROM plant_days", [], |r| {
                            r.get::<_, i64>(0)
                        })?)
                    })
                    .await
                    .unwrap()
            }
        };
        assert_eq!(day_rows(&store).await, 0, "the sync writes the live slots only");
        copy(&store, "2026-11-30T16:01:00Z").await;
        assert_eq!(day_rows(&store).await, 123, "one day row per reading plant");
        let before: HashMap<String, _> = read(&store).await.into_iter().collect();
        assert_eq!(before.len(), 124);
        assert_eq!(before["quiet"], (None, None, None, None, 0), "no reading, no history");

        // The second sync: the Tokyo plants name no zone (their stored one decides).
        let mut again: Vec<VendorPlant> = (0..123)
            .map(|i| {
                let named = if tokyo(i) { None } else { zone(i) };
                match second(i) {
                    Second::Unchanged => reading(
                        &format!("p{i}"),
                        named,
                        "2026-11-30T16:00:00Z",
                        Some(i as f64),
                        power(i, 0),
                    ),
                    Second::Higher => reading(
                        &format!("p{i}"),
                        named,
                        "2026-11-30T16:30:00Z",
                        Some(i as f64 + 1.0),
                        power(i, 1),
                    ),
                    Second::NightZero => reading(
                        &format!("p{i}"),
                        named,
                        "2026-11-30T16:30:00Z",
                        Some(0.0),
                        power(i, 1),
                    ),
                }
            })
            .collect();
        again.push(reading("quiet", None, "2026-11-30T16:30:00Z", None, None));
        // p2 again among the first statement's rows; p1 again in the last statement.
        again.insert(3, reading("p2", zone(2), "2026-11-30T16:40:00Z", Some(2000.0), Some(6.0)));
        again.push(reading("p1", zone(1), "2026-11-30T16:40:00Z", Some(1000.0), Some(5.0)));
        sync(&store, v, again, "2026-11-30T16:41:00Z").await;
        copy(&store, "2026-11-30T16:41:00Z").await;
        assert_eq!(day_rows(&store).await, 123, "one day row per reading plant");
        let after: HashMap<String, _> = read(&store).await.into_iter().collect();
        assert_eq!(after.len(), 124);
        assert_eq!(after["quiet"], (None, None, None, None, 0), "no reading, no history");
        let first_seq = before.values().filter_map(|row| row.3).max().unwrap();
        for i in 0..123 {
            let id = format!("p{i}");
            let (day, energy, peak, seq, samples) = after[&id].clone();
            let want_day = if tokyo(i) { "2026-12-01" } else { "2026-11-30" };
            assert_eq!(day.as_deref(), Some(want_day), "{id}");
            let (want_energy, want_peak, want_samples) = match (i, second(i)) {
                (1, _) => (1000.0, Some(5.0), 3),
                (2, _) => (2000.0, Some(6.0), 3),
                (_, Second::Unchanged) => (i as f64, power(i, 0), i64::from(power(i, 0).is_some())),
                (_, Second::Higher) => {
                    (i as f64 + 1.0, power(i, 1), 2 * i64::from(power(i, 1).is_some()))
                }
                (_, Second::NightZero) => {
                    (i as f64, power(i, 1), 2 * i64::from(power(i, 1).is_some()))
                }
            };
            assert_eq!(
                (energy, peak, samples),
                (Some(want_energy), want_peak, want_samples),
                "{id}"
            );
            if second(i) == Second::Unchanged {
                assert_eq!(seq, before[&id].3, "{id}: an unchanged reading takes no change number");
            } else {
                assert!(seq > Some(first_seq), "{id}: a changed day takes a new change number");
            }
        }
    }
}
