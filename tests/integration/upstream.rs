//! `plantsync upstream init` and `plantsync push` through the real binary, against the
//! simulator and a real PostgreSQL (`postgres.rs`: one cluster for this binary, one
//! database per test).

use crate::postgres::{Cluster, Forwarder, PASSWORD, connect, number};
use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};
use serde_json::Value;

const TABLES: [&str; 6] =
    ["organizations", "vendors", "plants", "alerts", "sync_runs", "plant_days"];

pub(crate) async fn simulator() -> Simulator {
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
pub(crate) fn synced(sim: &Simulator) -> Sandbox {
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, sim, 2);
    sandbox.ok(&["sync", "plants"]);
    sandbox.ok(&["sync", "alerts"]);
    sandbox
}

/// [`synced`], and a central database of its own with the schema applied: the site and the
/// database's URL.
pub(crate) async fn site_with_central(sim: &Simulator) -> (Sandbox, String) {
    let site = synced(sim);
    let url = Cluster::get().database().await;
    init(&site, &url);
    (site, url)
}

pub(crate) fn local_count(sandbox: &Sandbox, table: &str) -> i64 {
    sqlite3(&sandbox.db(), &format!("SELECT count(*) FROM {table}")).trim().parse().unwrap()
}

/// `push --format json` to `url`: its report.
pub(crate) fn push(sandbox: &Sandbox, url: &str, extra: &[&str]) -> Value {
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

pub(crate) fn sent(report: &Value, table: &str) -> i64 {
    let entry = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table);
    entry.unwrap()["sent"].as_i64().unwrap()
}

pub(crate) fn init(sandbox: &Sandbox, url: &str) {
    let output =
        sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", url).args(["upstream", "init"]).output();
    let output = output.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_push_sends_every_row_in_bounded_batches_and_no_credential() {
    let sim = simulator().await;
    let (sandbox, url) = site_with_central(&sim).await;
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
    let (sandbox, url) = site_with_central(&sim).await;
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
    let (sandbox, url) = site_with_central(&sim).await;
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

    // The old copy goes on pushing as an agent: its receipts see the newer central rows and
    // the site's later run, report them, and touch neither; its counter moves past the
    // central versions, so its own next changes are not taken for old ones.
    let receipt = &replay["receipt"];
    let kinds: Vec<&str> = receipt["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"newer_centrally"), "{receipt}");
    assert_eq!(receipt["requeued"], 0, "nothing the old copy has is sent over newer rows");
    for _ in 0..2 {
        let again = push(&old, &url, &[]);
        assert_eq!(again["rows_sent"], 0, "{again}");
    }
    let after = central.query_one(newer, &[]).await.unwrap();
    assert_eq!(after.get::<_, i64>(1), before.get::<_, i64>(1));
    assert_eq!(after.get::<_, Option<f64>>(0), before.get::<_, Option<f64>>(0));
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM plantsync.{table} WHERE deleted");
        let deleted = number(&central, &sql).await;
        assert_eq!(deleted, 0, "no {table} row marked deleted by the old copy");
    }
    let highest = number(&central, "SELECT max(source_version) FROM plantsync.plants").await;
    let counter: i64 =
        sqlite3(&old.db(), "SELECT value FROM change_counter").trim().parse().unwrap();
    assert!(counter >= highest, "the old copy's counter {counter} is past {highest}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_while_the_server_is_down_loses_nothing_and_the_next_delivers_once() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    // Down: the forwarder keeps its port and closes every connection (a port left free
    // and bound again later could be taken by another test meanwhile).
    let link = Forwarder::start(cluster.port).await;
    let via_link = link.url(&url);

    let failed =
        sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", &via_link).arg("push").output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one error: {stderr}");
    assert!(
        stderr.contains("cannot reach the upstream postgres://postgres:**REDACTED**@127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing is lost"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let status = sandbox
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &via_link)
        .args(["status", "--format", "json"])
        .output();
    let status: Value = serde_json::from_slice(&status.unwrap().stdout).unwrap();
    let upstream = &status["upstream"];
    assert_eq!(upstream["last_push"]["ok"], false, "{upstream}");
    let error = upstream["last_push"]["error"].as_str().unwrap();
    assert!(error.contains("cannot reach the upstream"), "{upstream}");
    for table in upstream["tables"].as_array().unwrap() {
        let name = table["table"].as_str().unwrap();
        assert_eq!(table["pending"].as_i64().unwrap(), local_count(&sandbox, name), "{name}");
    }

    assert!(link.attempts_while_down() >= 1);
    link.set_up(true);
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

/// Polls `ready` (a state, never a time, decides the test): the deadline only keeps a
/// broken build from hanging.
pub(crate) async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until the agent with process id `pid` has published its API in `agent.json` (an
/// agent killed before it left its own leaves an older one): its API address and the admin
/// token.
pub(crate) async fn published_api(sandbox: &Sandbox, pid: u32) -> (String, String) {
    let info = sandbox.data_dir().join("agent.json");
    let mut api = String::new();
    wait_until("the agent's API", async || {
        let read = std::fs::read_to_string(&info).ok();
        let info: Option<Value> = read.and_then(|t| serde_json::from_str(&t).ok());
        let info = info.filter(|i| i["pid"] == pid);
        match info.as_ref().and_then(|i| i["api"].as_str()) {
            Some(address) => {
                api = address.to_owned();
                true
            }
            None => false,
        }
    })
    .await;
    let token = sandbox.ok(&["token", "show"]).trim().to_owned();
    (api, token)
}

/// A running agent that syncs only when asked and pushes to `url`, retrying from 1 s up to
/// 2 s while the upstream fails: (process, API address, token).
async fn agent(sandbox: &Sandbox, url: &str) -> (std::process::Child, String, String) {
    let child = sandbox
        .spawnable(&["run"])
        .envs(QUIET_AGENT)
        .envs([
            ("PLANTSYNC_UPSTREAM_URL", url),
            ("PLANTSYNC_UPSTREAM_RETRY_MIN_SECONDS", "1"),
            ("PLANTSYNC_UPSTREAM_RETRY_MAX_SECONDS", "2"),
        ])
        .spawn()
        .unwrap();
    let (api, token) = published_api(sandbox, child.id()).await;
    (child, api, token)
}

fn client() -> reqwest::Client {
    plantsync::vendors::http::plain_client(std::time::Duration::from_secs(120)).unwrap()
}

async fn api_get(api: &str, token: &str, path: &str) -> reqwest::Response {
    client().get(format!("http://{api}{path}")).bearer_auth(token).send().await.unwrap()
}

async fn api_status(api: &str, token: &str) -> Value {
    api_get(api, token, "/api/status").await.json().await.unwrap()
}

/// Asks the agent for a plants sync and waits for its answer.
async fn agent_sync(api: &str, token: &str) {
    let answer: Value = client()
        .post(format!("http://{api}/api/cron/sync-plants"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
}

/// SIGTERM, then the agent's exit.
pub(crate) fn stop(mut agent: std::process::Child) {
    let pid = agent.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(agent.wait().unwrap().success());
}

pub(crate) async fn central_counts(url: &str) -> Vec<i64> {
    let central = connect(url).await;
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(number(&central, &format!("SELECT count(*) FROM plantsync.{table}")).await);
    }
    counts
}

pub(crate) fn local_counts(sandbox: &Sandbox) -> Vec<i64> {
    TABLES.iter().map(|t| local_count(sandbox, t)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_an_upstream_pushes_after_its_first_sync_without_being_asked() {
    let sim = simulator().await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 2);
    let url = Cluster::get().database().await;
    init(&sandbox, &url);
    let (child, api, token) = agent(&sandbox, &url).await;

    agent_sync(&api, &token).await;
    // Nobody asks for a push: the agent's own, after the run, delivers the plants.
    let plants = local_count(&sandbox, "plants");
    assert!(plants > 0);
    wait_until("the plants centrally", async || {
        central_counts(&url).await == local_counts(&sandbox)
    })
    .await;
    wait_until("the push recorded", async || {
        let status = api_status(&api, &token).await;
        status["upstream"]["tables"].as_array().unwrap().iter().all(|t| t["pending"] == 0)
            && status["upstream"]["last_push"]["ok"] == true
    })
    .await;
    let status = api_status(&api, &token).await;
    let upstream = &status["upstream"];
    assert!(upstream["target"].as_str().unwrap().contains("**REDACTED**"), "{upstream}");
    assert_eq!(upstream["retry"]["failures"], 0, "{upstream}");
    assert!(upstream["retry"]["next_attempt_at"].is_null(), "{upstream}");
    assert!(!status.to_string().contains(PASSWORD));
    let metrics = api_get(&api, &token, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("plantsync_upstream_pending_rows{table=\"plants\"} 0\n"), "{metrics}");
    assert!(metrics.contains("plantsync_upstream_last_push_success 1\n"), "{metrics}");
    assert!(metrics.contains("plantsync_upstream_oldest_pending_seconds 0\n"), "{metrics}");

    // `POST /api/push` needs the admin token and answers with the per-table counts.
    let refused = client().post(format!("http://{api}/api/push")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    sim.touch_plant(0, 3);
    agent_sync(&api, &token).await;
    let pushed: Value = client()
        .post(format!("http://{api}/api/push?full=true"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["full"], true, "{pushed}");
    assert_eq!(sent(&pushed, "plants"), plants, "--full sends every plant: {pushed}");

    // `plantsync push` while the agent runs goes through it (the agent holds the data
    // dir's lock for its whole life: a push of its own could not start).
    let report = push(&sandbox, &url, &[]);
    assert_eq!(report["rows_sent"], 0, "the agent's pushes delivered everything: {report}");
    assert_eq!(report["agent_id"], pushed["agent_id"]);
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_the_agent_retries_on_its_backoff_and_delivers_everything_once_back() {
    let sim = simulator().await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 2);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    let link = Forwarder::start(cluster.port).await;
    let (child, api, token) = agent(&sandbox, &link.url(&url)).await;

    // Its push at start fails; a sync meanwhile does not bring the next attempt forward.
    agent_sync(&api, &token).await;
    wait_until("three failed attempts", async || {
        api_status(&api, &token).await["upstream"]["retry"]["failures"].as_u64().unwrap() >= 3
    })
    .await;
    // The stall is visible while it lasts: pending rows, the error, the next attempt.
    let status = api_status(&api, &token).await;
    let upstream = &status["upstream"];
    assert_eq!(upstream["last_push"]["ok"], false, "{upstream}");
    assert!(
        upstream["retry"]["last_error"].as_str().unwrap().contains("cannot reach"),
        "{upstream}"
    );
    for table in upstream["tables"].as_array().unwrap() {
        let name = table["table"].as_str().unwrap();
        assert_eq!(table["pending"].as_i64().unwrap(), local_count(&sandbox, name), "{name}");
        let waiting = table["pending"] != 0;
        assert_eq!(!table["oldest_pending_at"].is_null(), waiting, "{name}: {upstream}");
    }
    let metrics = api_get(&api, &token, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("plantsync_upstream_last_push_success 0\n"), "{metrics}");
    let plants = format!(
        "plantsync_upstream_pending_rows{{table=\"plants\"}} {}\n",
        local_count(&sandbox, "plants")
    );
    assert!(metrics.contains(&plants), "{metrics}");
    assert!(metrics.contains("plantsync_upstream_next_attempt_timestamp_seconds "), "{metrics}");
    let table = sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", link.url(&url)).arg("status").output();
    let table = String::from_utf8(table.unwrap().stdout).unwrap();
    assert!(table.contains("in a row; next attempt"), "{table}");
    assert!(table.contains("last error"), "{table}");
    assert!(!table.contains(PASSWORD) && !metrics.contains(PASSWORD));

    // Back: the next step of the backoff delivers every row, once, in one connection.
    link.set_up(true);
    wait_until("every row centrally", async || {
        central_counts(&url).await == local_counts(&sandbox)
    })
    .await;
    wait_until("the success recorded", async || {
        api_status(&api, &token).await["upstream"]["last_push"]["ok"] == true
    })
    .await;
    stop(child);
    let failed = sandbox.logs().matches("push failed (").count() as u32;
    assert!(failed >= 3, "{failed}");
    assert_eq!(link.attempts_while_down(), failed, "one connection per failed attempt");
    assert_eq!(link.attempts_while_up(), 1, "one push delivered everything");
    assert_eq!(central_counts(&url).await, local_counts(&sandbox));
    let retry =
        sqlite3(&sandbox.db(), "SELECT failures, next_attempt_at IS NULL FROM upstream_retry");
    assert_eq!(retry.trim(), "0|1", "reset by the success, nothing planned after the stop");
}

/// The watermarks of the site, per table in push order.
fn watermarks(sandbox: &Sandbox) -> Vec<i64> {
    TABLES
        .iter()
        .map(|t| {
            let sql = format!(
                "SELECT coalesce((SELECT acknowledged_seq FROM upstream_watermarks
                                  WHERE table_name = '{t}'), 0)"
            );
            sqlite3(&sandbox.db(), &sql).trim().parse().unwrap()
        })
        .collect()
}

/// `upstream export FILE --format json` on the site, without any upstream configured.
fn export(sandbox: &Sandbox, file: &std::path::Path) -> Value {
    let output =
        sandbox.cmd().args(["upstream", "export", "--format", "json"]).arg(file).output().unwrap();
    assert!(output.status.success(), "export failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `upstream import FILE --format json` on a connected machine with no data dir.
pub(crate) fn import(machine: &Sandbox, url: &str, file: &std::path::Path) -> std::process::Output {
    let output = machine
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", url)
        .env("PLANTSYNC_UPSTREAM_BATCH_ROWS", "9")
        .args(["upstream", "import", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains(PASSWORD), "{text}");
    output
}

pub(crate) fn table_entry<'a>(report: &'a Value, table: &str) -> &'a Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()
}

fn newest_changes(sandbox: &Sandbox) -> Vec<i64> {
    TABLES
        .iter()
        .map(|t| {
            sqlite3(&sandbox.db(), &format!("SELECT coalesce(max(change_seq), 0) FROM {t}"))
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_bundle_imported_twice_delivers_once_and_the_sites_next_push_sends_nothing() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let carried = tempfile::tempdir().unwrap();
    let file = carried.path().join("site.bundle");

    let before = watermarks(&site);
    let manifest = export(&site, &file);
    assert_eq!(watermarks(&site), before, "an export moves no watermark");
    // Never over an existing file: not the live store named by mistake, not this bundle.
    for existing in [site.db(), file.clone()] {
        let size = std::fs::metadata(&existing).unwrap().len();
        let refused = site.cmd().args(["upstream", "export"]).arg(&existing).output().unwrap();
        assert_eq!(refused.status.code(), Some(1), "{}", existing.display());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("exists already"));
        assert_eq!(std::fs::metadata(&existing).unwrap().len(), size, "left as it was");
    }
    for table in TABLES {
        assert_eq!(table_entry(&manifest, table)["rows"], local_count(&site, table), "{table}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let names: Vec<_> = std::fs::read_dir(carried.path()).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(names.len(), 1, "no temporary file is left beside the bundle");
    assert_eq!(sqlite3(&file, "SELECT count(raw_json) FROM rows_plants").trim(), "0");
    let status = site.cmd().args(["status", "--format", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let pending: i64 = status["upstream"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pending"].as_i64().unwrap())
        .sum();
    assert_eq!(pending, local_counts(&site).iter().sum::<i64>(), "still pending at the site");

    // A connected machine with no data dir of its own imports it, twice.
    let machine = Sandbox::new();
    let first = import(&machine, &url, &file);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["agent_id"], manifest["agent_id"]);
    for table in TABLES {
        let entry = table_entry(&first, table);
        assert_eq!(entry["rows"], local_count(&site, table), "{table}: {first}");
        assert_eq!(entry["applied"], local_count(&site, table), "{table}: {first}");
    }
    assert_eq!(central_counts(&url).await, local_counts(&site));
    let second = import(&machine, &url, &file);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    for table in TABLES {
        let entry = table_entry(&second, table);
        assert_eq!(entry["rows"], local_count(&site, table), "{table}: {second}");
        assert_eq!(entry["applied"], 0, "a second import changes nothing: {second}");
    }
    assert_eq!(central_counts(&url).await, local_counts(&site));
    assert!(!machine.data_dir().exists(), "an import needs no data dir and makes none");

    // Back online, the site reads the receipt: nothing more to send.
    let report = push(&site, &url, &[]);
    assert_eq!(report["rows_sent"], 0, "{report}");
    let newest = newest_changes(&site);
    assert_eq!(watermarks(&site), newest, "the receipt moved every watermark to the newest row");

    // A second bundle; the site changes three plants after it: the receipt confirms the
    // bundle's rows only, and the push sends exactly the rows changed since.
    sim.touch_plant(0, 1);
    site.ok(&["sync", "plants", "--vendor", "v0"]);
    let file = carried.path().join("site-2.bundle");
    let manifest = export(&site, &file);
    for plant in [3, 6, 9] {
        sim.touch_plant(0, plant);
    }
    site.ok(&["sync", "plants", "--vendor", "v0"]);
    let imported = import(&machine, &url, &file);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let report = push(&site, &url, &[]);
    for (table, confirmed) in TABLES.into_iter().zip(newest) {
        // Central now: up to the bundle's newest row, else what the last push confirmed.
        let after = table_entry(&manifest, table)["max_seq"].as_i64().unwrap_or(confirmed);
        let changed_since: i64 = sqlite3(
            &site.db(),
            &format!("SELECT count(*) FROM {table} WHERE change_seq > {after}"),
        )
        .trim()
        .parse()
        .unwrap();
        assert_eq!(sent(&report, table), changed_since, "{table}: {report}");
    }
    assert_eq!(sent(&report, "plants"), 3, "{report}");
    assert_eq!(central_counts(&url).await, local_counts(&site));
    assert_eq!(watermarks(&site), newest_changes(&site));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_edited_bundle_is_refused_whole_and_nothing_is_pushed() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let carried = tempfile::tempdir().unwrap();
    let good = carried.path().join("good.bundle");
    export(&site, &good);

    let variant = |name: &str, edit: &str| {
        let path = carried.path().join(name);
        std::fs::copy(&good, &path).unwrap();
        sqlite3(&path, edit);
        path
    };
    let truncated = carried.path().join("truncated.bundle");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cases = [
        (variant("row-removed.bundle", "DELETE FROM rows_plants WHERE ord = 3"), "plants rows"),
        (
            variant(
                "count-edited.bundle",
                "UPDATE manifest_tables SET row_count = row_count - 1 WHERE table_name = 'alerts'",
            ),
            "alerts rows, its manifest says",
        ),
        (
            variant("value-edited.bundle", "UPDATE rows_vendors SET name = 'x' WHERE ord = 1"),
            "vendors rows do not match",
        ),
        (truncated, "not a readable SQLite file"),
    ];
    let machine = Sandbox::new();
    for (path, says) in cases {
        let output = import(&machine, &url, &path);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", path.display());
        assert!(stderr.contains(says), "{}: {stderr}", path.display());
        assert_eq!(stderr.matches("nothing was pushed").count(), 1, "said once: {stderr}");
        assert_eq!(central_counts(&url).await, vec![0; TABLES.len()], "{}", path.display());
    }
    // The good one goes through.
    let output = import(&machine, &url, &good);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(central_counts(&url).await, local_counts(&site));
}

/// The receipt moves the watermark only over rows all present centrally: one plant missing
/// centrally (deleted there after the import) stops it below that plant, which is sent
/// again with every plant after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_stops_at_the_first_row_missing_centrally() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let carried = tempfile::tempdir().unwrap();
    let file = carried.path().join("site.bundle");
    export(&site, &file);
    let machine = Sandbox::new();
    assert!(import(&machine, &url, &file).status.success());

    let middle: String = sqlite3(
        &site.db(),
        "SELECT vendor_plant_id || ' ' || change_seq FROM plants ORDER BY change_seq, id
         LIMIT 1 OFFSET 12",
    );
    let parts: Vec<&str> = middle.split_whitespace().collect();
    let central = connect(&url).await;
    let gone = central
        .execute("DELETE FROM plantsync.plants WHERE vendor_plant_id = $1", &[&parts[0]])
        .await
        .unwrap();
    assert_eq!(gone, 1);
    let from: i64 = parts[1].parse().unwrap();
    let expected: i64 =
        sqlite3(&site.db(), &format!("SELECT count(*) FROM plants WHERE change_seq >= {from}"))
            .trim()
            .parse()
            .unwrap();

    let report = push(&site, &url, &[]);
    assert_eq!(sent(&report, "plants"), expected, "{report}");
    let applied = table_entry(&report, "plants")["applied"].as_i64().unwrap();
    assert_eq!(applied, 1, "only the missing plant changes centrally: {report}");
    assert_eq!(sent(&report, "alerts"), 0, "{report}");
    assert_eq!(central_counts(&url).await, local_counts(&site));
}
