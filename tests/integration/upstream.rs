//! `plantsync upstream init` and `plantsync push` through the real binary, against the
//! simulator and a real PostgreSQL (`postgres.rs`: one cluster for this binary, one
//! database per test).

use crate::postgres::{Cluster, PASSWORD, connect, number};
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};
use serde_json::Value;

const TABLES: [&str; 5] = ["organizations", "vendors", "plants", "alerts", "sync_runs"];

async fn simulator() -> Simulator {
    Simulator::start(SimulatorConfig {
        seed: 11,
        accounts: vec![
            AccountSpec::new(VendorKind::Solarman, 20, 1),
            AccountSpec::new(VendorKind::Growatt, 10, 0),
        ],
    })
    .await
    .unwrap()
}

/// A sandbox with the simulator's two accounts as vendors, plants and alerts synced.
fn synced(sim: &Simulator) -> Sandbox {
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, sim, 2);
    sandbox.ok(&["sync", "plants"]);
    sandbox.ok(&["sync", "alerts"]);
    sandbox
}

fn local_count(sandbox: &Sandbox, table: &str) -> i64 {
    sqlite3(&sandbox.db(), &format!("SELECT count(*) FROM {table}")).trim().parse().unwrap()
}

/// `push --format json` to `url`: its report.
fn push(sandbox: &Sandbox, url: &str, extra: &[&str]) -> Value {
    let output = sandbox
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", url)
        .args(["push", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "push failed: {stderr}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn sent(report: &Value, table: &str) -> i64 {
    let entry = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table);
    entry.unwrap()["sent"].as_i64().unwrap()
}

fn init(sandbox: &Sandbox, url: &str) {
    let output =
        sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", url).args(["upstream", "init"]).output();
    let output = output.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_push_sends_every_row_in_bounded_batches_and_no_credential() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let url = Cluster::get().database().await;
    init(&sandbox, &url);
    init(&sandbox, &url); // idempotent

    let output = sandbox
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &url)
        .env("PLANTSYNC_UPSTREAM_BATCH_ROWS", "7")
        .args(["push", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let central = connect(&url).await;
    for table in TABLES {
        let local = local_count(&sandbox, table);
        assert!(local > 0, "{table} is empty locally");
        assert_eq!(sent(&report, table), local, "{table}: {report}");
        let batches = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table);
        assert_eq!(batches.unwrap()["batches"].as_i64().unwrap(), (local + 6) / 7, "{table}");
        let there = number(&central, &format!("SELECT count(*) FROM plantsync.{table}")).await;
        assert_eq!(there, local, "{table} centrally");
    }
    assert_eq!(report["rows_sent"], TABLES.iter().map(|t| local_count(&sandbox, t)).sum::<i64>());
    // No credential column anywhere centrally, and no raw vendor JSON unless configured.
    let columns: Vec<String> = central
        .query(
            "SELECT table_name || '.' || column_name FROM information_schema.columns
             WHERE table_schema = 'plantsync'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(columns.iter().any(|c| c == "plants.vendor_plant_id"), "{columns:?}");
    for word in ["password", "secret", "api_key", "token", "credential"] {
        assert!(!columns.iter().any(|c| c.contains(word)), "{word} in {columns:?}");
    }
    let raw = number(&central, "SELECT count(raw_json) FROM plantsync.plants").await;
    assert_eq!(raw, 0);
    // The central rows are the local ones: a plant's energy and its source version.
    let local: String = sqlite3(
        &sandbox.db(),
        "SELECT vendor_plant_id || ' ' || total_energy_kwh || ' ' || change_seq FROM plants ORDER BY id LIMIT 1",
    );
    let parts: Vec<&str> = local.split_whitespace().collect();
    let row = central
        .query_one(
            "SELECT total_energy_kwh, source_version FROM plantsync.plants WHERE vendor_plant_id = $1",
            &[&parts[0]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), parts[1].parse::<f64>().unwrap());
    assert_eq!(row.get::<_, i64>(1), parts[2].parse::<i64>().unwrap());

    // Nothing changed: the next push sends nothing; status says nothing is pending.
    let again = push(&sandbox, &url, &[]);
    assert_eq!(again["rows_sent"], 0, "{again}");
    let status = sandbox
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &url)
        .args(["status", "--format", "json"])
        .output();
    let status: Value = serde_json::from_slice(&status.unwrap().stdout).unwrap();
    let upstream = &status["upstream"];
    assert!(upstream["tables"].as_array().unwrap().iter().all(|t| t["pending"] == 0), "{upstream}");
    assert_eq!(upstream["last_push"]["ok"], true);
    assert!(!upstream.to_string().contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_push_sends_only_the_changed_plants() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let url = Cluster::get().database().await;
    init(&sandbox, &url);
    push(&sandbox, &url, &[]);

    for plant in [2, 5, 11] {
        sim.touch_plant(0, plant);
    }
    sandbox.ok(&["sync", "plants", "--vendor", "v0"]);
    let pending = sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", &url).args(["status"]).output();
    let pending = String::from_utf8(pending.unwrap().stdout).unwrap();
    assert!(pending.contains("3 plants"), "{pending}");

    let report = push(&sandbox, &url, &[]);
    assert_eq!(sent(&report, "plants"), 3, "{report}");
    assert_eq!(sent(&report, "organizations"), 0, "{report}");
    assert_eq!(sent(&report, "sync_runs"), 1, "the new run: {report}");
    let central = connect(&url).await;
    let newest = number(&central, "SELECT max(source_version) FROM plantsync.plants").await;
    let local: i64 =
        sqlite3(&sandbox.db(), "SELECT max(change_seq) FROM plants").trim().parse().unwrap();
    assert_eq!(newest, local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_old_batch_does_not_overwrite_newer_central_data() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let url = Cluster::get().database().await;
    init(&sandbox, &url);
    // An old copy of the database (the same agent), as a restored backup would be.
    let old = Sandbox::new();
    std::fs::create_dir_all(old.data_dir()).unwrap();
    sqlite3(&sandbox.db(), &format!("VACUUM INTO '{}'", old.db().display()));

    sim.touch_plant(0, 4);
    sandbox.ok(&["sync", "plants", "--vendor", "v0"]);
    push(&sandbox, &url, &[]);
    let central = connect(&url).await;
    let newer = "SELECT total_energy_kwh, source_version FROM plantsync.plants
                 WHERE source_version = (SELECT max(source_version) FROM plantsync.plants)";
    let before = central.query_one(newer, &[]).await.unwrap();

    // The old copy pushes everything it has, older versions of every row.
    let replay = push(&old, &url, &["--full"]);
    assert_eq!(sent(&replay, "plants"), local_count(&old, "plants"), "{replay}");
    let applied = replay["tables"].as_array().unwrap().iter().find(|t| t["table"] == "plants");
    assert_eq!(applied.unwrap()["applied"], 0, "a replay changes nothing: {replay}");
    let after = central.query_one(newer, &[]).await.unwrap();
    assert_eq!(after.get::<_, i64>(1), before.get::<_, i64>(1));
    assert_eq!(after.get::<_, Option<f64>>(0), before.get::<_, Option<f64>>(0));
    let plants = number(&central, "SELECT count(*) FROM plantsync.plants").await;
    assert_eq!(plants, local_count(&sandbox, "plants"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_pushing_into_one_database_do_not_collide() {
    let sim = simulator().await;
    // Two installs of the same accounts: the same vendor ids and the vendors' own ids.
    let first = synced(&sim);
    let second = synced(&sim);
    let url = Cluster::get().database().await;
    init(&first, &url);
    let a = push(&first, &url, &[]);
    let b = push(&second, &url, &[]);
    assert_ne!(a["agent_id"], b["agent_id"]);
    let central = connect(&url).await;
    for table in TABLES {
        let per_agent = central
            .query(
                &format!("SELECT agent_id::text, count(*) FROM plantsync.{table} GROUP BY 1"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(per_agent.len(), 2, "{table}");
        for row in per_agent {
            let agent: String = row.get(0);
            let sandbox = if a["agent_id"] == agent.as_str() { &first } else { &second };
            assert_eq!(row.get::<_, i64>(1), local_count(sandbox, table), "{table} of {agent}");
        }
    }
}

/// A loopback port that forwards to the cluster while it is up, and refuses connections
/// while it is down (nothing listens): the central server as an agent sees it.
struct Link {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Link {
    fn down() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self { port, task: None }
    }

    async fn up(&mut self, target: u16) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut outbound =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await?;
                    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await?;
                    Ok::<_, std::io::Error>(())
                });
            }
        }));
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_while_the_server_is_down_loses_nothing_and_the_next_delivers_once() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    let mut link = Link::down();
    let name = url.rsplit('/').next().unwrap();
    let via_link = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}", link.port);

    let failed =
        sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", &via_link).arg("push").output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one error: {stderr}");
    assert!(
        stderr.contains("cannot reach the upstream postgres://postgres:**REDACTED**@127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("connection refused") && stderr.contains("nothing is lost"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let status = sandbox
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &via_link)
        .args(["status", "--format", "json"])
        .output();
    let status: Value = serde_json::from_slice(&status.unwrap().stdout).unwrap();
    let upstream = &status["upstream"];
    assert_eq!(upstream["last_push"]["ok"], false, "{upstream}");
    assert!(
        upstream["last_push"]["error"].as_str().unwrap().contains("connection refused"),
        "{upstream}"
    );
    for table in upstream["tables"].as_array().unwrap() {
        let name = table["table"].as_str().unwrap();
        assert_eq!(table["pending"].as_i64().unwrap(), local_count(&sandbox, name), "{name}");
    }

    link.up(cluster.port).await;
    let report = push(&sandbox, &via_link, &[]);
    let central = connect(&url).await;
    for table in TABLES {
        let local = local_count(&sandbox, table);
        assert_eq!(sent(&report, table), local, "every row once: {report}");
        let there = number(&central, &format!("SELECT count(*) FROM plantsync.{table}")).await;
        assert_eq!(there, local, "{table}");
    }
    assert_eq!(push(&sandbox, &via_link, &[])["rows_sent"], 0);
}
