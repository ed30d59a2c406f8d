//! Daily request quotas of portals that count calls per API key (SolarEdge: 300 a day per
//! key). The count is persisted, so a restart does not hand the portal a fresh 300, and is
//! kept per key and day, so changing a vendor's key or adding the vendor again never resets
//! what the portal has already counted.
//!
//! # The portal's day
//!
//! SolarEdge does not document when its day ends. Everything else it says about time is in
//! the site's own zone: `lastUpdateTime` and every other timestamp are site-local without
//! an offset (vendor-apis.md §3.1), and `lastDayData` and the energy API's `DAY` rows are
//! the site's local day (vendor-history-apis.md §3, the recorded overviews in
//! `real-payloads/solaredge`). So the quota's day is read as the key's sites' local day:
//! [`QuotaDay`] is the one place that says which day a count belongs to. A key whose sites
//! lie in several zones counts in the westernmost one, whose days end last, so a count is never
//! thought reset while the portal may still be in the old day for one of its sites; a key
//! whose sites are not known yet (its first sync) counts by the UTC day.
//!
//! # When the portal says the quota is spent
//!
//! Another client on the same key, or a smaller allowance than 300, makes the portal
//! refuse calls (HTTP 429) before our count reaches the limit. Then the count is set to
//! the limit for the rest of the portal's day ([`Store::quota_spent_by_portal`]), with what
//! the portal said, so no call is sent until the day ends and `status` shows why.

use super::{Result, Store};
use crate::domain::{Credentials, PlantZone, Secret, Timestamp, VendorId, VendorKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// A key's quota for one day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUse {
    /// Requests made that day with this key (over every vendor that uses it).
    pub used: u32,
    /// The portal's daily limit.
    pub limit: u32,
    /// The day counted, `YYYY-MM-DD`, in [`QuotaDay::zone`].
    pub day: String,
    /// When the portal refused a call for a spent quota that day, what it said (never the
    /// key, see [`Store::quota_spent_by_portal`]).
    pub portal_said: Option<String>,
    /// When the day ends and the count starts again.
    pub resets_at: Timestamp,
    /// The same instant as the zone's wall clock shows it, `HH:MM`: `00:00`, unless a DST
    /// change skips that midnight.
    pub resets_local: String,
    /// The zone of the day, e.g. `Europe/Amsterdam`, `+05:30` or `UTC`.
    pub zone: String,
}

impl QuotaUse {
    /// Requests left that day.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// The portal's day a request made now belongs to: the local date in the zone of the key's
/// sites (see the module docs), and when that day ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaDay {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The zone the date is read in.
    pub zone: PlantZone,
    /// When the day began (its first instant in `zone`).
    pub starts_at: DateTime<Utc>,
    /// When the next day begins in `zone`: local midnight, or where a DST change skips
    /// midnight, the first instant that exists.
    pub resets_at: DateTime<Utc>,
}

impl QuotaDay {
    /// The day at `now` for a key whose sites are in `zones` (as `plants.timezone` holds
    /// them, read by [`PlantZone`]: IANA names and fixed offsets such as `+05:30`;
    /// unreadable ones are ignored): the westernmost zone (whose days start and end last,
    /// so the count is never thought reset while the portal may still be in the old day),
    /// UTC when none is known.
    pub fn of<'a>(zones: impl IntoIterator<Item = &'a str>, now: DateTime<Utc>) -> Self {
        let zone = zones
            .into_iter()
            .filter_map(|name| name.parse::<PlantZone>().ok())
            // The smallest offset from UTC: that zone's days start and end last.
            .min_by_key(|zone| offset_at(*zone, now))
            .unwrap_or(PlantZone::Named(Tz::UTC));
        let today = local_at(zone, now).date();
        let tomorrow = today.succ_opt().unwrap_or(NaiveDate::MAX);
        Self {
            date: today.format("%Y-%m-%d").to_string(),
            zone,
            starts_at: day_start(zone, today).unwrap_or(now - chrono::Duration::days(1)),
            resets_at: day_start(zone, tomorrow).unwrap_or(now + chrono::Duration::days(1)),
        }
    }

    /// The wall-clock time in the day's zone at which the count starts again, `HH:MM`
    /// (`00:00`, or `01:00` where a DST change skips midnight).
    pub fn resets_local(&self) -> String {
        local_at(self.zone, self.resets_at).format("%H:%M").to_string()
    }
}

/// `zone`'s offset from UTC at `at`, in seconds.
fn offset_at(zone: PlantZone, at: DateTime<Utc>) -> i32 {
    match zone {
        PlantZone::Named(tz) => at.with_timezone(&tz).offset().fix().local_minus_utc(),
        PlantZone::Fixed(offset) => offset.local_minus_utc(),
    }
}

/// The wall-clock time in `zone` at `at`.
fn local_at(zone: PlantZone, at: DateTime<Utc>) -> NaiveDateTime {
    match zone {
        PlantZone::Named(tz) => at.with_timezone(&tz).naive_local(),
        PlantZone::Fixed(offset) => at.with_timezone(&offset).naive_local(),
    }
}

/// The first instant of `date` in `zone` (local midnight; where a DST change skips
/// midnight, the first minute that exists).
fn day_start(zone: PlantZone, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    // A gap is at most a few hours long; its first existing minute is the day's start.
    (0..24 * 60).find_map(|minute| {
        let local = midnight + chrono::Duration::minutes(minute);
        zone.to_utc(local).map(|t| t.as_datetime())
    })
}

/// What a quota is counted under: a SHA-256 prefix of the API key, enough to tell keys
/// apart and useless to an attacker.
pub fn quota_key(credentials: &Credentials) -> String {
    key_hash(credentials.api_key.as_ref().map_or("", Secret::expose))
}

pub(super) fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The portal's day at `now` for `key` (the key of `vendor_id`), from the zones of the
/// plants of every vendor that uses the key: the count belongs to the key, so every vendor
/// of the key must see the same day (a second vendor with the key and no plants yet would
/// otherwise count by the UTC day, beside the first vendor's local day). Only SolarEdge
/// vendors' keys are read and hashed (the only portal with a daily quota): another
/// portal's token that happens to match is no SolarEdge key, and reading every vendor's
/// secret on every request would widen where they travel for nothing.
pub(super) fn quota_day_of(
    conn: &Connection,
    key: &str,
    vendor_id: VendorId,
    now: DateTime<Utc>,
) -> Result<QuotaDay> {
    let mut vendors = vec![vendor_id];
    {
        // The stored fingerprint, never the key: the key may be in the OS keyring, and a
        // quota lookup has no business reading secrets.
        let mut keys = conn.prepare_cached(
            "SELECT c.vendor_id FROM vendor_credentials c
             JOIN vendors v ON v.id = c.vendor_id
             WHERE v.kind = ?1 AND c.api_key_fingerprint = ?2 AND c.vendor_id != ?3",
        )?;
        let rows = keys
            .query_map(rusqlite::params![VendorKind::SolarEdge.as_str(), key, vendor_id], |r| {
                r.get::<_, VendorId>(0)
            })?;
        for row in rows {
            vendors.push(row?);
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT timezone FROM plants WHERE vendor_id = ?1 AND timezone IS NOT NULL",
    )?;
    let mut zones: Vec<String> = Vec::new();
    for id in vendors {
        for zone in stmt.query_map([id], |r| r.get(0))? {
            zones.push(zone?);
        }
    }
    Ok(QuotaDay::of(zones.iter().map(String::as_str), now))
}

/// A time as the store writes it (`updated_at`), so it compares with them as text.
fn sql_time(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(&at)
}

/// How long a key's rows of other dates are kept: longer than any portal day lasts (25 h
/// with a DST change), so a row another day view (other zones, the UTC day before the
/// sites were known) still counts in is never dropped while its day may be running.
const KEEP_OTHER_DAYS: chrono::Duration = chrono::Duration::hours(26);

/// `key`'s use on `day`: the most any of its rows written during the day counted. Every
/// such row is the same portal day's count, whatever date it was written under (the zone
/// became known, or changed, during the day); a row written before the day began is an
/// earlier day's, even under the day's date (written while the key's day was read in
/// another zone). A count is never lowered by another row's.
pub(super) fn use_on(conn: &Connection, key: &str, limit: u32, day: &QuotaDay) -> Result<QuotaUse> {
    let mut stmt = conn.prepare_cached(
        "SELECT used, portal_said FROM request_quotas
         WHERE key_hash = ?1 AND updated_at >= ?2 AND updated_at < ?3
         ORDER BY used DESC, portal_said IS NULL",
    )?;
    let rows: Vec<(u32, Option<String>)> = stmt
        .query_map(params![key, sql_time(day.starts_at), sql_time(day.resets_at)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let used = rows.first().map_or(0, |(used, _)| *used);
    let portal_said = rows.into_iter().find_map(|(_, said)| said);
    Ok(QuotaUse {
        used,
        limit,
        day: day.date.clone(),
        portal_said,
        resets_at: Timestamp::from_datetime(&day.resets_at),
        resets_local: day.resets_local(),
        zone: day.zone.name(),
    })
}

/// Before a write, so the day's row holds the day's count: a row of the day's date written
/// before the day began (another zone's day of that date) is moved aside under a label of
/// its own, kept as any other row; the key's rows written during the day under another
/// date are merged into the day's row (the larger count and the portal's word win; the
/// rows stay); then the key's rows of other dates older than [`KEEP_OTHER_DAYS`], and any
/// key's rows untouched for three days, are dropped.
fn settle_day(conn: &Connection, key: &str, day: &QuotaDay, now: DateTime<Utc>) -> Result<()> {
    let (starts, resets) = (sql_time(day.starts_at), sql_time(day.resets_at));
    conn.execute(
        "UPDATE OR IGNORE request_quotas SET day = day || ' written ' || updated_at
         WHERE key_hash = ?1 AND day = ?2 AND updated_at < ?3",
        params![key, day.date, starts],
    )?;
    conn.execute(
        "INSERT INTO request_quotas (key_hash, day, used, daily_limit, portal_said, updated_at)
         SELECT key_hash, ?2, used, daily_limit, portal_said, updated_at FROM request_quotas
         WHERE key_hash = ?1 AND day <> ?2 AND updated_at >= ?3 AND updated_at < ?4
         ON CONFLICT (key_hash, day) DO UPDATE SET used = max(used, excluded.used),
            portal_said = coalesce(portal_said, excluded.portal_said),
            updated_at = max(updated_at, excluded.updated_at)",
        params![key, day.date, starts, resets],
    )?;
    conn.execute(
        "DELETE FROM request_quotas WHERE key_hash = ?1 AND day <> ?2 AND updated_at < ?3",
        params![key, day.date, sql_time(now - KEEP_OTHER_DAYS)],
    )?;
    let stale = sql_time(now - chrono::Duration::days(3));
    conn.execute("DELETE FROM request_quotas WHERE updated_at < ?1", params![stale])?;
    Ok(())
}

impl Store {
    /// Takes one request of today's quota of `key` (the key of `vendor_id`, whose plants'
    /// zones decide the day). Returns the use after the take, or the use without taking
    /// when the quota is spent (`Err` side of the inner result).
    pub async fn take_quota_request(
        &self,
        key: String,
        vendor_id: VendorId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<QuotaUse, QuotaUse>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let day = quota_day_of(&tx, &key, vendor_id, now)?;
            settle_day(&tx, &key, &day, now)?;
            let before = use_on(&tx, &key, limit, &day)?;
            if before.used >= limit {
                tx.commit()?;
                return Ok(Err(before));
            }
            // The day's count after this request, however its rows hold it (`use_on`).
            let used = before.used + 1;
            tx.execute(
                "INSERT INTO request_quotas (key_hash, day, used, daily_limit, updated_at)
                 VALUES (?1, ?2, ?5, ?3, ?4)
                 ON CONFLICT (key_hash, day) DO UPDATE SET used = max(used + 1, excluded.used),
                    daily_limit = excluded.daily_limit, updated_at = excluded.updated_at",
                params![key, day.date, limit, sql_time(now), used],
            )?;
            tx.commit()?;
            Ok(Ok(QuotaUse { used, ..before }))
        })
        .await
    }

    /// Records that the portal refused a call of `key` for a spent quota: the count of the
    /// portal's day becomes the limit, so nothing more is sent until the day ends, and
    /// `said` (already free of the key) is kept for `status`.
    pub async fn quota_spent_by_portal(
        &self,
        key: String,
        vendor_id: VendorId,
        limit: u32,
        said: String,
        now: DateTime<Utc>,
    ) -> Result<QuotaUse> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let day = quota_day_of(&tx, &key, vendor_id, now)?;
            settle_day(&tx, &key, &day, now)?;
            tx.execute(
                "INSERT INTO request_quotas (key_hash, day, used, daily_limit, portal_said,
                    updated_at)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5)
                 ON CONFLICT (key_hash, day) DO UPDATE SET used = max(used, excluded.used),
                    daily_limit = excluded.daily_limit, portal_said = excluded.portal_said,
                    updated_at = excluded.updated_at",
                params![key, day.date, limit, said, sql_time(now)],
            )?;
            let after = use_on(&tx, &key, limit, &day)?;
            tx.commit()?;
            Ok(after)
        })
        .await
    }

    /// Today's use of `key`'s quota (the key of `vendor_id`).
    pub async fn quota_use(
        &self,
        key: String,
        vendor_id: VendorId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<QuotaUse> {
        self.read(move |conn| {
            let day = quota_day_of(conn, &key, vendor_id, now)?;
            use_on(conn, &key, limit, &day)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn quota_counts_per_key_and_day_and_stops_at_the_limit() {
        let (_dir, store) = temp_store();
        let v = VendorId(1);
        let take = |key: &str, now: &str| store.take_quota_request(key.to_owned(), v, 3, at(now));
        let day1 = "2026-11-29T10:00:00Z";
        assert_eq!(take("k", day1).await.unwrap().unwrap().used, 1);
        assert_eq!(take("k", day1).await.unwrap().unwrap().used, 2);
        assert_eq!(take("k", day1).await.unwrap().unwrap().remaining(), 0);
        let spent = take("k", day1).await.unwrap().unwrap_err();
        assert_eq!((spent.used, spent.day.as_str(), spent.zone.as_str()), (3, "2026-11-29", "UTC"));
        assert_eq!(spent.resets_at.to_canonical(), "2026-11-30T00:00:00.000Z");
        assert_eq!(store.quota_use("k".into(), v, 3, at(day1)).await.unwrap().used, 3);
        // Another key is another quota.
        assert_eq!(take("other", day1).await.unwrap().unwrap().used, 1);
        // A new day starts again; the old day's counts are dropped once no day can still
        // be running that counts them (26 hours on).
        assert_eq!(take("k", "2026-11-30T00:00:01Z").await.unwrap().unwrap().used, 1);
        assert_eq!(rows(&store).await, 3, "k's two days and the other key's");
        assert_eq!(take("k", "2026-11-30T12:00:01Z").await.unwrap().unwrap().used, 2);
        assert_eq!(rows(&store).await, 2, "k's 29th is older than 26 hours");
    }

    async fn rows(store: &Store) -> i64 {
        store
            .read(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM request_quotas", [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    async fn solaredge(store: &Store, name: &str, key: &str) -> VendorId {
        let vendor = crate::domain::NewVendor {
            name: name.into(),
            kind: crate::domain::VendorKind::SolarEdge,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        let mut credentials = Credentials::default();
        credentials.set(crate::domain::CredentialField::ApiKey, key.into());
        store.add_vendor(vendor, credentials).await.unwrap().id
    }

    async fn plant_in(store: &Store, vendor: VendorId, zone: &str) {
        let plant = crate::domain::VendorPlant {
            vendor_plant_id: zone.into(),
            name: Some("site".into()),
            timezone: Some(zone.into()),
            ..crate::domain::VendorPlant::default()
        };
        store
            .upsert_plants(vendor, std::sync::Arc::from(vec![plant]), Timestamp::now())
            .await
            .unwrap();
    }

    /// A second vendor with the same key and no plants yet counts in the key's day (its
    /// sites are the first vendor's): its first request neither resets nor drops the
    /// first vendor's count, nor the portal's word that the day is spent.
    #[tokio::test]
    async fn a_second_vendor_of_the_key_never_loses_the_keys_count() {
        let (_dir, store) = temp_store();
        let first = solaredge(&store, "first", "EDGE-KEY").await;
        plant_in(&store, first, "America/Los_Angeles").await;
        let key = {
            let mut credentials = Credentials::default();
            credentials.set(crate::domain::CredentialField::ApiKey, "EDGE-KEY".into());
            quota_key(&credentials)
        };
        // 291 requests on the 29th in Los Angeles, the last at 23:00 UTC.
        let evening = at("2026-11-29T23:00:00Z");
        for _ in 0..291 {
            store.take_quota_request(key.clone(), first, 300, evening).await.unwrap().unwrap();
        }
        // 01:00 UTC on the 30th, still the 29th in Los Angeles: the key added again.
        let second = solaredge(&store, "again", "EDGE-KEY").await;
        let night = at("2026-11-30T01:00:00Z");
        let taken = store.take_quota_request(key.clone(), second, 300, night).await.unwrap();
        let taken = taken.unwrap();
        assert_eq!((taken.used, taken.day.as_str()), (292, "2026-11-29"));
        assert_eq!(taken.zone, "America/Los_Angeles");
        let seen = store.quota_use(key.clone(), first, 300, night).await.unwrap();
        assert_eq!(seen.used, 292, "the first vendor's count is whole");
        // The portal says the day is spent: no vendor of the key may call.
        store
            .quota_spent_by_portal(key.clone(), first, 300, "HTTP 429".into(), night)
            .await
            .unwrap();
        let later = at("2026-11-30T02:00:00Z");
        let third = solaredge(&store, "third", "EDGE-KEY").await;
        let refused = store.take_quota_request(key.clone(), third, 300, later).await.unwrap();
        assert_eq!(refused.unwrap_err().portal_said.as_deref(), Some("HTTP 429"));
        let spent = store.quota_use(key.clone(), first, 300, later).await.unwrap();
        assert_eq!((spent.used, spent.portal_said.as_deref()), (300, Some("HTTP 429")));
    }

    /// Another portal's token equal to a SolarEdge key is no vendor of that key: its
    /// plants' zones do not move the key's day.
    #[tokio::test]
    async fn only_solaredge_vendors_share_a_keys_day() {
        let (_dir, store) = temp_store();
        let edge = solaredge(&store, "edge", "SAME-TEXT").await;
        let growatt = crate::domain::NewVendor {
            name: "grow".into(),
            kind: VendorKind::Growatt,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        let mut token = Credentials::default();
        token.set(crate::domain::CredentialField::ApiKey, "SAME-TEXT".into());
        let key = quota_key(&token);
        let growatt = store.add_vendor(growatt, token).await.unwrap().id;
        plant_in(&store, growatt, "America/Los_Angeles").await;
        let night = at("2026-11-30T01:00:00Z");
        let taken = store.take_quota_request(key, edge, 300, night).await.unwrap().unwrap();
        assert_eq!((taken.day.as_str(), taken.zone.as_str()), ("2026-11-30", "UTC"));
    }

    /// Whatever day another view reads (the UTC day, before any site was known), a count
    /// written in the last 26 hours is never deleted, and the larger count wins.
    #[tokio::test]
    async fn a_count_is_never_lost_to_another_day_view() {
        let (_dir, store) = temp_store();
        let la = QuotaDay::of(["America/Los_Angeles"], at("2026-11-29T23:00:00Z"));
        let evening = at("2026-11-29T23:00:00Z");
        let night = at("2026-11-30T01:00:00Z");
        let (used, spent) = store
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO request_quotas (key_hash, day, used, daily_limit, portal_said,
                        updated_at) VALUES ('k', ?1, 291, 300, 'HTTP 429', ?2)",
                    params![la.date, sql_time(evening)],
                )?;
                // Another view: the UTC day, already the 30th.
                let utc = QuotaDay::of([], night);
                settle_day(conn, "k", &utc, night)?;
                let under_utc = use_on(conn, "k", 300, &utc)?;
                let la_now = QuotaDay::of(["America/Los_Angeles"], night);
                settle_day(conn, "k", &la_now, night)?;
                Ok((under_utc.used, use_on(conn, "k", 300, &la_now)?))
            })
            .await
            .unwrap();
        assert_eq!(used, 0, "the UTC view's day began after the row was written");
        assert_eq!((spent.used, spent.portal_said.as_deref()), (291, Some("HTTP 429")));
    }

    /// A row of the day's date and one written during the day under another date (the UTC
    /// date, before the sites' zone was known) merge into the larger count, not the
    /// day's row's stale one.
    #[tokio::test]
    async fn rows_of_one_day_under_two_dates_merge_to_the_larger_count() {
        let (_dir, store) = temp_store();
        let now = at("2026-11-30T02:00:00Z");
        let la = QuotaDay::of(["America/Los_Angeles"], now);
        let merged = store
            .write(move |conn| {
                for (day, used, updated) in [
                    ("2026-11-29", 10, "2026-11-29T09:00:00Z"),
                    ("2026-11-30", 250, "2026-11-30T01:00:00Z"),
                ] {
                    conn.execute(
                        "INSERT INTO request_quotas (key_hash, day, used, daily_limit, updated_at)
                         VALUES ('k', ?1, ?2, 300, ?3)",
                        params![day, used, sql_time(at(updated))],
                    )?;
                }
                settle_day(conn, "k", &la, now)?;
                let day_row: u32 = conn.query_row(
                    "SELECT used FROM request_quotas WHERE key_hash = 'k' AND day = ?1",
                    [&la.date],
                    |r| r.get(0),
                )?;
                Ok((day_row, use_on(conn, "k", 300, &la)?.used))
            })
            .await
            .unwrap();
        assert_eq!(merged, (250, 250));
    }

    #[test]
    fn fixed_offset_zones_decide_the_day_too() {
        // 20:00 UTC on the 29th is 01:30 on the 30th in India (+05:30), 15:00 in Chicago.
        let now = at("2026-11-29T20:00:00Z");
        let india = QuotaDay::of(["+05:30"], now);
        assert_eq!((india.date.as_str(), india.zone.name().as_str()), ("2026-11-30", "+05:30"));
        assert_eq!(india.starts_at, at("2026-11-29T18:30:00Z"));
        assert_eq!(india.resets_at, at("2026-11-30T18:30:00Z"));
        // The westernmost of a fixed offset and a named zone.
        let mixed = QuotaDay::of(["+05:30", "America/Chicago"], now);
        assert_eq!(
            (mixed.date.as_str(), mixed.zone.name().as_str()),
            ("2026-11-29", "America/Chicago")
        );
        let newfoundland = QuotaDay::of(["+05:30", "-03:30"], now);
        assert_eq!(newfoundland.zone.name(), "-03:30");
    }

    #[tokio::test]
    async fn the_portal_saying_spent_spends_the_day_and_is_kept() {
        let (_dir, store) = temp_store();
        let v = VendorId(1);
        let now = at("2026-11-29T10:00:00Z");
        store.take_quota_request("k".into(), v, 300, now).await.unwrap().unwrap();
        let said = "HTTP 429 Too Many Requests (an empty body)".to_owned();
        let after =
            store.quota_spent_by_portal("k".into(), v, 300, said.clone(), now).await.unwrap();
        assert_eq!((after.used, after.remaining()), (300, 0));
        assert_eq!(after.portal_said.as_deref(), Some(said.as_str()));
        let refused = store.take_quota_request("k".into(), v, 300, now).await.unwrap();
        assert_eq!(refused.unwrap_err().portal_said, Some(said));
        // The next day counts afresh.
        let next = at("2026-11-30T00:00:00Z");
        let fresh = store.take_quota_request("k".into(), v, 300, next).await.unwrap().unwrap();
        assert_eq!((fresh.used, fresh.portal_said), (1, None));
    }

    #[test]
    fn the_day_is_the_sites_local_day_ending_last() {
        // 23:30 UTC on the 29th: already the 30th in Amsterdam, still the 29th in LA.
        let now = at("2026-11-29T23:30:00Z");
        let utc = QuotaDay::of([], now);
        assert_eq!((utc.date.as_str(), utc.zone), ("2026-11-29", PlantZone::Named(Tz::UTC)));
        let amsterdam = QuotaDay::of(["Europe/Amsterdam"], now);
        assert_eq!(amsterdam.date, "2026-11-30");
        assert_eq!(amsterdam.resets_at, at("2026-11-30T23:00:00Z"));
        let mixed = QuotaDay::of(["Europe/Amsterdam", "America/Los_Angeles", "nowhere"], now);
        assert_eq!(
            (mixed.date.as_str(), mixed.zone.name().as_str()),
            ("2026-11-29", "America/Los_Angeles")
        );
        assert_eq!(mixed.resets_at, at("2026-11-30T08:00:00Z"));
        // A zone whose midnight is skipped by a DST change (Santiago, 2026-09-06).
        let skipped = QuotaDay::of(["America/Santiago"], at("2026-09-05T12:00:00Z"));
        assert_eq!(skipped.resets_at, at("2026-09-06T04:00:00Z"));
        assert_eq!(skipped.resets_local(), "01:00", "the first instant of the 6th there");
        assert_eq!(amsterdam.resets_local(), "00:00");
    }

    /// The first sync of a key knows no site zone yet and counts by the UTC date; once its
    /// sites' zone is known, that count is the same portal day's, not lost.
    #[tokio::test]
    async fn a_count_made_before_the_zone_was_known_stays_the_days() {
        let (_dir, store) = temp_store();
        let vendor = crate::domain::NewVendor {
            name: "edge".into(),
            kind: crate::domain::VendorKind::SolarEdge,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        let v = store.add_vendor(vendor, Credentials::default()).await.unwrap().id;
        // 02:00 UTC on the 30th: still the 29th in Los Angeles, whose day began at 08:00 UTC.
        let now = at("2026-11-30T02:00:00Z");
        let said = "HTTP 429".to_owned();
        store.quota_spent_by_portal("k".into(), v, 300, said, now).await.unwrap();
        let plant = crate::domain::VendorPlant {
            vendor_plant_id: "1".into(),
            name: Some("site".into()),
            timezone: Some("America/Los_Angeles".into()),
            ..crate::domain::VendorPlant::default()
        };
        store.upsert_plants(v, std::sync::Arc::from(vec![plant]), Timestamp::now()).await.unwrap();
        let later = at("2026-11-30T03:00:00Z");
        let today = store.quota_use("k".into(), v, 300, later).await.unwrap();
        assert_eq!((today.day.as_str(), today.used), ("2026-11-29", 300));
        assert_eq!(today.resets_at.to_canonical(), "2026-11-30T08:00:00.000Z");
        assert!(store.take_quota_request("k".into(), v, 300, later).await.unwrap().is_err());
        // At LA's midnight the count starts again.
        let next = at("2026-11-30T08:00:00Z");
        assert_eq!(
            store.take_quota_request("k".into(), v, 300, next).await.unwrap().unwrap().used,
            1
        );
    }

    #[test]
    fn the_key_is_hashed_never_stored() {
        let mut credentials = Credentials::default();
        credentials.set(crate::domain::CredentialField::ApiKey, "EDGE-KEY-123".into());
        let key = quota_key(&credentials);
        assert_eq!(key.len(), 16);
        assert!(!key.contains("EDGE"));
        let mut other = Credentials::default();
        other.set(crate::domain::CredentialField::ApiKey, "EDGE-KEY-124".into());
        assert_ne!(quota_key(&other), key);
    }
}
