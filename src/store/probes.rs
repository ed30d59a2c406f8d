//! Refused credentials, and when a refused static key is tried again (`key_probes`).
//!
//! A rejected password is never tried again by plantsync: Sungrow locks accounts after
//! bad passwords, and lockouts are reported for the others (vendor-apis.md §6.4). A static
//! API key (SolarEdge `api_key`, Growatt `token`) cannot lock anything, and real portals
//! have refused valid keys during outages (SolarEdge 403, Growatt `10011`, which has also
//! been seen to depend on the egress IP). So a refused key keeps the vendor "needs your
//! action", but is probed again with one call at a backoff of an hour, doubling with every
//! refusal up to a day, and the vendor is cleared when the key works. [`Parked::decide`] is
//! the one rule of what a run does with a vendor parked for refused credentials.

use super::{Result, Store, seq};
use crate::domain::{CredentialField, Timestamp, VendorId, VendorKind};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::time::Duration;

/// The first wait before a refused key is probed again.
const FIRST_BACKOFF: Duration = Duration::from_secs(3600);
/// The longest wait: once a day is often enough for a key that stays refused, and soon
/// enough that a portal's outage does not cost more than a day of data.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// What kind of credential a portal refused, which decides whether it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedCredential {
    /// A static API key: trying it again cannot lock the account.
    StaticKey,
    /// A password (with an app key or secret): trying it again may lock the account.
    Password,
}

impl RefusedCredential {
    /// The credential a vendor of `kind` signs in with: portals whose only credential is an
    /// API key have no password to lock.
    pub fn of(kind: VendorKind) -> Self {
        if kind.required_credentials() == [CredentialField::ApiKey] {
            Self::StaticKey
        } else {
            Self::Password
        }
    }
}

/// A refused static key waiting to be probed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProbe {
    /// Refusals in a row (1 after the first).
    pub refusals: u32,
    /// When the next probe may be made.
    pub next_probe_at: Timestamp,
}

/// The wait after the `refusals`-th refusal in a row: 1 h, 2 h, 4 h ... at most 24 h.
pub fn key_probe_backoff(refusals: u32) -> Duration {
    let doublings = refusals.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// What a run does with a vendor whose credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// A password: nothing until the user enters new credentials.
    ForTheUser,
    /// A static key whose probe is not due: nothing before `next_probe_at`.
    WaitUntil(Timestamp),
    /// A static key whose probe is due: one call may be made now.
    Probe,
    /// A static key whose probe is due, in a run that does not probe (an alert sync, which
    /// may make no call that could answer it): the next plant sync makes it.
    ProbeByPlantSync,
}

impl Parked {
    /// The rule: passwords wait for the user; a static key is probed when its time has
    /// come (at once when no probe was scheduled, e.g. a key refused before probes existed).
    pub fn decide(kind: VendorKind, probe: Option<&KeyProbe>, now: Timestamp) -> Self {
        match (RefusedCredential::of(kind), probe) {
            (RefusedCredential::Password, _) => Self::ForTheUser,
            (RefusedCredential::StaticKey, Some(p)) if p.next_probe_at > now => {
                Self::WaitUntil(p.next_probe_at)
            }
            (RefusedCredential::StaticKey, _) => Self::Probe,
        }
    }
}

fn later(now: Timestamp, by: Duration) -> Timestamp {
    let millis = now.as_datetime().timestamp_millis() + by.as_millis() as i64;
    Timestamp::from_unix_millis(millis).unwrap_or(now)
}

/// The vendor's probe, if one is scheduled.
pub(super) fn get(conn: &Connection, vendor_id: VendorId) -> Result<Option<KeyProbe>> {
    Ok(conn
        .query_row(
            "SELECT refusals, next_probe_at FROM key_probes WHERE vendor_id = ?1",
            [vendor_id],
            |r| Ok(KeyProbe { refusals: r.get(0)?, next_probe_at: r.get(1)? }),
        )
        .optional()?)
}

fn put(conn: &Connection, vendor_id: VendorId, probe: KeyProbe) -> Result<()> {
    conn.execute(
        "INSERT INTO key_probes (vendor_id, refusals, next_probe_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (vendor_id) DO UPDATE SET refusals = excluded.refusals,
            next_probe_at = excluded.next_probe_at",
        params![vendor_id, probe.refusals, probe.next_probe_at],
    )?;
    Ok(())
}

impl Store {
    /// The vendor's scheduled key probe, if any.
    pub async fn key_probe(&self, vendor_id: VendorId) -> Result<Option<KeyProbe>> {
        self.read(move |conn| get(conn, vendor_id)).await
    }

    /// Decides what a plant run does with a parked vendor ([`Parked::decide`]) and, when it
    /// may probe, claims the probe: the next one is moved a backoff step ahead, so a run
    /// beside it (or one after a probe the portal did not answer) does not probe again
    /// before then.
    pub async fn claim_key_probe(
        &self,
        vendor_id: VendorId,
        kind: VendorKind,
        now: Timestamp,
    ) -> Result<Parked> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let probe = get(&tx, vendor_id)?;
            let parked = Parked::decide(kind, probe.as_ref(), now);
            if parked == Parked::Probe {
                let refusals = probe.map_or(1, |p| p.refusals);
                let next_probe_at = later(now, key_probe_backoff(refusals));
                put(&tx, vendor_id, KeyProbe { refusals, next_probe_at })?;
            }
            tx.commit()?;
            Ok(parked)
        })
        .await
    }

    /// Records a refusal of the vendor's static key: the first (`first`: the vendor was
    /// not parked before) schedules a probe an hour later, each further one doubles the
    /// wait (at most a day).
    pub async fn record_key_refusal(
        &self,
        vendor_id: VendorId,
        first: bool,
        now: Timestamp,
    ) -> Result<KeyProbe> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before = if first { None } else { get(&tx, vendor_id)? };
            let refusals = before.map_or(1, |p| p.refusals.saturating_add(1));
            let probe =
                KeyProbe { refusals, next_probe_at: later(now, key_probe_backoff(refusals)) };
            put(&tx, vendor_id, probe)?;
            tx.commit()?;
            Ok(probe)
        })
        .await
    }

    /// The vendor's refused key answered again: the probe is dropped and the vendor no
    /// longer needs the user's action.
    pub async fn key_accepted(&self, vendor_id: VendorId) -> Result<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM key_probes WHERE vendor_id = ?1", [vendor_id])?;
            let change = seq::next(&tx)?;
            tx.execute(
                "UPDATE vendors SET needs_user_action = 0, change_seq = ?1,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?2 AND needs_user_action = 1",
                params![change, vendor_id],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Credentials, NewVendor};
    use crate::store::test_support::temp_store;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn backoff_doubles_from_an_hour_to_a_day() {
        let hours: Vec<u64> = (1..=7).map(|n| key_probe_backoff(n).as_secs() / 3600).collect();
        assert_eq!(hours, [1, 2, 4, 8, 16, 24, 24]);
        assert_eq!(key_probe_backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn only_static_keys_are_probed_and_only_when_due() {
        let now = at("2026-11-29T10:00:00Z");
        let waiting = KeyProbe { refusals: 1, next_probe_at: at("2026-11-29T11:00:00Z") };
        let due = KeyProbe { refusals: 1, next_probe_at: now };
        for kind in [VendorKind::SolarEdge, VendorKind::Growatt] {
            assert_eq!(RefusedCredential::of(kind), RefusedCredential::StaticKey);
            assert_eq!(
                Parked::decide(kind, Some(&waiting), now),
                Parked::WaitUntil(waiting.next_probe_at)
            );
            assert_eq!(Parked::decide(kind, Some(&due), now), Parked::Probe);
            assert_eq!(Parked::decide(kind, None, now), Parked::Probe);
        }
        for kind in [VendorKind::Solarman, VendorKind::Sungrow, VendorKind::Huawei] {
            assert_eq!(RefusedCredential::of(kind), RefusedCredential::Password);
            for probe in [None, Some(&due), Some(&waiting)] {
                assert_eq!(Parked::decide(kind, probe, now), Parked::ForTheUser, "{kind}");
            }
        }
    }

    #[tokio::test]
    async fn refusals_schedule_claims_move_and_acceptance_clears() {
        let (_dir, store) = temp_store();
        let vendor = NewVendor {
            name: "edge".into(),
            kind: VendorKind::SolarEdge,
            org_id: None,
            base_url: None,
            is_active: true,
        };
        let v = store.add_vendor(vendor, Credentials::default()).await.unwrap().id;
        let now = at("2026-11-29T10:00:00Z");
        let first = store.record_key_refusal(v, true, now).await.unwrap();
        assert_eq!(first, KeyProbe { refusals: 1, next_probe_at: at("2026-11-29T11:00:00Z") });
        let kind = VendorKind::SolarEdge;
        assert_eq!(
            store.claim_key_probe(v, kind, at("2026-11-29T10:30:00Z")).await.unwrap(),
            Parked::WaitUntil(first.next_probe_at)
        );
        let probe_at = at("2026-11-29T11:00:00Z");
        assert_eq!(store.claim_key_probe(v, kind, probe_at).await.unwrap(), Parked::Probe);
        // Claimed: a second run at the same moment waits.
        assert!(matches!(
            store.claim_key_probe(v, kind, probe_at).await.unwrap(),
            Parked::WaitUntil(_)
        ));
        let second = store.record_key_refusal(v, false, probe_at).await.unwrap();
        assert_eq!(second, KeyProbe { refusals: 2, next_probe_at: at("2026-11-29T13:00:00Z") });
        store.key_accepted(v).await.unwrap();
        assert_eq!(store.key_probe(v).await.unwrap(), None);
        // A refusal after that starts from an hour again.
        let again = store.record_key_refusal(v, true, probe_at).await.unwrap();
        assert_eq!(again.refusals, 1);
    }
}
