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
use crate::domain::{Credentials, Secret, Timestamp, VendorId};
use chrono::{DateTime, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
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
    /// The zone of the day, e.g. `Europe/Amsterdam` or `UTC`.
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
    pub zone: Tz,
    /// When the day began (the last local midnight in `zone`).
    pub starts_at: DateTime<Utc>,
    /// The next local midnight in `zone`.
    pub resets_at: DateTime<Utc>,
}

impl QuotaDay {
    /// The day at `now` for a key whose sites are in `zones` (IANA names; unreadable ones
    /// are ignored): the westernmost zone (whose days start and end last, so the count is
    /// never thought reset while the portal may still be in the old day), UTC when none is
    /// known.
    pub fn of<'a>(zones: impl IntoIterator<Item = &'a str>, now: DateTime<Utc>) -> Self {
        let zone = zones
            .into_iter()
            .filter_map(|name| name.parse::<Tz>().ok())
            // The smallest offset from UTC: that zone's days start and end last.
            .min_by_key(|zone| now.with_timezone(zone).offset().fix().local_minus_utc())
            .unwrap_or(Tz::UTC);
        let today = now.with_timezone(&zone).date_naive();
        let tomorrow = today.succ_opt().unwrap_or(NaiveDate::MAX);
        Self {
            date: today.format("%Y-%m-%d").to_string(),
            zone,
            starts_at: day_start(zone, today).unwrap_or(now - chrono::Duration::days(1)),
            resets_at: day_start(zone, tomorrow).unwrap_or(now + chrono::Duration::days(1)),
        }
    }
}

/// The first instant of `date` in `zone` (local midnight; where a DST change skips
/// midnight, the first hour that exists).
fn day_start(zone: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    (0..24).find_map(|hour| {
        let local = date.and_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
    })
}

/// What a quota is counted under: a SHA-256 prefix of the API key, enough to tell keys
/// apart and useless to an attacker.
pub fn quota_key(credentials: &Credentials) -> String {
    let key = credentials.api_key.as_ref().map_or("", Secret::expose);
    Sha256::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The portal's day at `now` for the key of `vendor_id`, from the zones of its plants.
pub(super) fn quota_day_of(
    conn: &Connection,
    vendor_id: VendorId,
    now: DateTime<Utc>,
) -> Result<QuotaDay> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT timezone FROM plants WHERE vendor_id = ?1 AND timezone IS NOT NULL",
    )?;
    let zones: Vec<String> =
        stmt.query_map([vendor_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(QuotaDay::of(zones.iter().map(String::as_str), now))
}

/// A time as the store writes it (`updated_at`), so it compares with them as text.
fn sql_time(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(&at)
}

/// `key`'s use on `day`. A row of the key written since the day began under another date
/// (the zone became known, or changed, during the day) is the same portal day's count.
pub(super) fn use_on(conn: &Connection, key: &str, limit: u32, day: &QuotaDay) -> Result<QuotaUse> {
    let row: Option<(u32, Option<String>)> = conn
        .query_row(
            "SELECT used, portal_said FROM request_quotas
             WHERE key_hash = ?1 AND (day = ?2 OR (updated_at >= ?3 AND updated_at < ?4))
             ORDER BY day = ?2 DESC, used DESC LIMIT 1",
            params![key, day.date, sql_time(day.starts_at), sql_time(day.resets_at)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (used, portal_said) = row.unwrap_or((0, None));
    Ok(QuotaUse {
        used,
        limit,
        day: day.date.clone(),
        portal_said,
        resets_at: Timestamp::from_datetime(&day.resets_at),
        zone: day.zone.name().to_owned(),
    })
}

/// Before a write: a row of the key written since the day began under another date takes
/// the day's date (unless the day has its own row), then the key's rows of earlier days,
/// and any key's rows untouched for three days, are dropped.
fn settle_day(conn: &Connection, key: &str, day: &QuotaDay, now: DateTime<Utc>) -> Result<()> {
    let started = sql_time(day.starts_at);
    conn.execute(
        "UPDATE OR IGNORE request_quotas SET day = ?2
         WHERE key_hash = ?1 AND day <> ?2 AND updated_at >= ?3 AND updated_at < ?4",
        params![key, day.date, started, sql_time(day.resets_at)],
    )?;
    conn.execute(
        "DELETE FROM request_quotas WHERE key_hash = ?1 AND day <> ?2 AND updated_at < ?3",
        params![key, day.date, started],
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
            let day = quota_day_of(&tx, vendor_id, now)?;
            settle_day(&tx, &key, &day, now)?;
            let before = use_on(&tx, &key, limit, &day)?;
            if before.used >= limit {
                tx.commit()?;
                return Ok(Err(before));
            }
            tx.execute(
                "INSERT INTO request_quotas (key_hash, day, used, daily_limit, updated_at)
                 VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (key_hash, day) DO UPDATE SET used = used + 1,
                    daily_limit = excluded.daily_limit, updated_at = excluded.updated_at",
                params![key, day.date, limit, sql_time(now)],
            )?;
            tx.commit()?;
            Ok(Ok(QuotaUse { used: before.used + 1, ..before }))
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
            let day = quota_day_of(&tx, vendor_id, now)?;
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
            let day = quota_day_of(conn, vendor_id, now)?;
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
        // A new day starts again, and drops the old day's counts.
        assert_eq!(take("k", "2026-11-30T00:00:01Z").await.unwrap().unwrap().used, 1);
        assert_eq!(store.quota_use("k".into(), v, 3, at(day1)).await.unwrap().used, 0);
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
        assert_eq!((utc.date.as_str(), utc.zone), ("2026-11-29", Tz::UTC));
        let amsterdam = QuotaDay::of(["Europe/Amsterdam"], now);
        assert_eq!(amsterdam.date, "2026-11-30");
        assert_eq!(amsterdam.resets_at, at("2026-11-30T23:00:00Z"));
        let mixed = QuotaDay::of(["Europe/Amsterdam", "America/Los_Angeles", "nowhere"], now);
        assert_eq!((mixed.date.as_str(), mixed.zone.name()), ("2026-11-29", "America/Los_Angeles"));
        assert_eq!(mixed.resets_at, at("2026-11-30T08:00:00Z"));
        // A zone whose midnight is skipped by a DST change (Santiago, 2026-09-06).
        let skipped = QuotaDay::of(["America/Santiago"], at("2026-09-05T12:00:00Z"));
        assert_eq!(skipped.resets_at, at("2026-09-06T04:00:00Z"));
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
