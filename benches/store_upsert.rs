//! Benchmark: upsert 100,000 plants through the store in transactions of 100 (the sync
//! engine's path), against the `sqlite3` CLI upserting the same rows in one transaction from
//! a prepared SQL file, on the same machine in the same run. Goal: at least 0.5x the CLI's
//! rate.
//!
//! Run: `cargo bench --bench store_upsert` (needs the `sqlite3` CLI). Prints rows per second
//! for both, for a first run (inserts) and a second run (updates of every row).

use plantsync::domain::{
    Credentials, NewOrganization, NewVendor, Timestamp, VendorId, VendorKind, VendorPlant,
};
use plantsync::store::Store;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

const PLANTS: usize = 100_000;
const BATCH: usize = 100;

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

fn sql_text(value: &Option<String>) -> String {
    value.as_ref().map_or("NULL".into(), |v| format!("'{}'", v.replace('\'', "''")))
}

fn sql_real(value: Option<f64>) -> String {
    value.map_or("NULL".into(), |v| v.to_string())
}

/// The same rows as one SQL script of upserts in one transaction, as a person would feed
/// them to `sqlite3`.
fn sql_script(rows: &[VendorPlant], vendor: i64, now: &str) -> String {
    let mut sql = String::from("BEGIN;\n");
    for p in rows {
        let _ = writeln!(
            sql,
            "INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, capacity_kw, address, latitude, longitude, \
             timezone, network_status, current_power_kw, daily_energy_kwh, total_energy_kwh, vendor_updated_at, \
             last_refreshed_at, raw_json, created_at, updated_at) VALUES ({vendor}, 1, '{}', '{}', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '{now}', {}, '{now}', '{now}') \
             ON CONFLICT (vendor_id, vendor_plant_id) DO UPDATE SET name = excluded.name, capacity_kw = excluded.capacity_kw, \
             address = excluded.address, latitude = excluded.latitude, longitude = excluded.longitude, timezone = excluded.timezone, \
             network_status = excluded.network_status, current_power_kw = excluded.current_power_kw, \
             daily_energy_kwh = excluded.daily_energy_kwh, total_energy_kwh = excluded.total_energy_kwh, \
             vendor_updated_at = excluded.vendor_updated_at, last_refreshed_at = excluded.last_refreshed_at, \
             raw_json = excluded.raw_json, updated_at = excluded.updated_at;",
            p.vendor_plant_id,
            p.name.as_deref().unwrap_or_default(),
            sql_real(p.capacity_kw),
            sql_text(&p.address),
            sql_real(p.latitude),
            sql_real(p.longitude),
            sql_text(&p.timezone),
            sql_text(&p.network_status),
            sql_real(p.current_power_kw),
            sql_real(p.daily_energy_kwh),
            sql_real(p.total_energy_kwh),
            sql_text(&p.vendor_updated_at.map(|t| t.to_canonical())),
            sql_text(&p.raw_json),
        );
    }
    sql.push_str("COMMIT;\n");
    sql
}

/// A store at `path` with one organization and one vendor to upsert into.
async fn bench_store(path: &std::path::Path) -> (Store, VendorId) {
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

async fn store_run(store: &Store, vendor: VendorId, rows: Vec<VendorPlant>) -> Duration {
    let started = Instant::now();
    for batch in rows.chunks(BATCH) {
        store.upsert_plants(vendor, batch.to_vec(), Timestamp::now()).await.expect("upsert");
    }
    started.elapsed()
}

fn sqlite3_run(db: &std::path::Path, script: &std::path::Path) -> Duration {
    let started = Instant::now();
    let status = Command::new("sqlite3")
        .arg(db)
        .arg(format!(".read {}", script.display()))
        .status()
        .expect("the sqlite3 CLI is needed for the baseline");
    assert!(status.success());
    started.elapsed()
}

fn rate(rows: usize, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64()
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, vendor) = bench_store(&dir.path().join("ours.db")).await;
        // The baseline database: same schema, same pragmas (WAL, synchronous=NORMAL).
        let (baseline, baseline_vendor) = bench_store(&dir.path().join("cli.db")).await;
        baseline.close();

        println!("upsert of {PLANTS} plants: plantsync store (transactions of {BATCH}) vs sqlite3 CLI (one transaction)");
        for round in 1..=2 {
            let rows = plants(round);
            let now = Timestamp::now().to_canonical();
            let script = dir.path().join(format!("round{round}.sql"));
            std::fs::write(&script, sql_script(&rows, baseline_vendor.0, &now)).expect("script");
            let cli_db = dir.path().join("cli.db");
            let ours = store_run(&store, vendor, rows).await;
            let theirs = sqlite3_run(&cli_db, &script);
            let (ours_rate, theirs_rate) = (rate(PLANTS, ours), rate(PLANTS, theirs));
            println!(
                "round {round} ({}): plantsync {:>9.0} rows/s ({:.2} s), sqlite3 {:>9.0} rows/s ({:.2} s), ratio {:.2}x (goal >= 0.5x)",
                if round == 1 { "inserts" } else { "updates" },
                ours_rate,
                ours.as_secs_f64(),
                theirs_rate,
                theirs.as_secs_f64(),
                ours_rate / theirs_rate
            );
        }
        store.close();
    });
}
