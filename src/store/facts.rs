//! Facts learnt about a vendor's portal account (`account_facts`), kept so that another
//! process, or the next CLI sync, does not ask the portal again what one already learnt
//! (see `vendors::AccountFact`). The store knows a fact only by its stable text key and the
//! UTC time it is believed until; which facts exist is the vendors' business.

use super::{Result, Store};
use crate::domain::{Timestamp, VendorId};
use rusqlite::{TransactionBehavior, params};

impl Store {
    /// The vendor's facts still believed at `now`, as (key, until).
    pub async fn account_facts(
        &self,
        vendor_id: VendorId,
        now: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT fact, until FROM account_facts WHERE vendor_id = ?1 AND until > ?2
                 ORDER BY fact",
            )?;
            let facts = stmt
                .query_map(params![vendor_id, now], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(facts)
        })
        .await
    }

    /// Records facts learnt about the vendor's account, each believed until its time (a
    /// fact already stored takes the new time), and drops the vendor's expired ones.
    pub async fn save_account_facts(
        &self,
        vendor_id: VendorId,
        facts: Vec<(String, Timestamp)>,
    ) -> Result<()> {
        if facts.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM account_facts WHERE vendor_id = ?1 AND until <= ?2",
                params![vendor_id, Timestamp::now()],
            )?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO account_facts (vendor_id, fact, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (vendor_id, fact) DO UPDATE SET until = excluded.until",
                )?;
                for (fact, until) in &facts {
                    upsert.execute(params![vendor_id, fact, until])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{Credentials, NewVendor, Timestamp, VendorKind};
    use crate::store::test_support::temp_store;

    fn at(offset_hours: i64) -> Timestamp {
        Timestamp::from_datetime(
            &(Timestamp::now().as_datetime() + chrono::Duration::hours(offset_hours)),
        )
    }

    #[tokio::test]
    async fn facts_are_kept_per_vendor_until_their_time() {
        let (_dir, store) = temp_store();
        let mut ids = Vec::new();
        for name in ["a", "b"] {
            let vendor = NewVendor {
                name: name.into(),
                kind: VendorKind::Growatt,
                org_id: None,
                base_url: None,
                is_active: true,
            };
            ids.push(store.add_vendor(vendor, Credentials::default()).await.unwrap().id);
        }
        let (a, b) = (ids[0], ids[1]);
        let facts = vec![
            ("growatt_plant_without_zone:7".to_owned(), at(24)),
            ("growatt_no_data_access".to_owned(), at(-1)),
        ];
        store.save_account_facts(a, facts).await.unwrap();
        let now = Timestamp::now();
        let kept = store.account_facts(a, now).await.unwrap();
        assert_eq!(kept.len(), 1, "the expired one is not believed: {kept:?}");
        assert_eq!(kept[0].0, "growatt_plant_without_zone:7");
        assert!(store.account_facts(b, now).await.unwrap().is_empty(), "another vendor's");
        // Learnt again: the new time holds; the expired row is dropped on the way.
        let later = at(30);
        let again = vec![("growatt_plant_without_zone:7".to_owned(), later)];
        store.save_account_facts(a, again).await.unwrap();
        assert_eq!(store.account_facts(a, now).await.unwrap(), [(kept[0].0.clone(), later)]);
        let rows: i64 = store
            .read(
                |conn| Ok(conn.query_row("SELECT count(*) FROM account_facts", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(rows, 1);
        // A removed vendor's facts go with it.
        store.remove_vendor(&a.to_string(), true).await.unwrap();
        assert!(store.account_facts(a, now).await.unwrap().is_empty());
    }
}
