//! The upstream push's fault cases (issue 11): a connection cut in the middle of a batch,
//! the central server restarted during a push, and `kill -9` of the agent during a push.
//! Each holds the push at a point the test chose ([`FaultyLink`]: inside the third batch of
//! plants, after two were confirmed), so no timer decides where the fault falls; then
//! checks that the watermarks moved exactly over the confirmed batches and that the next
//! push delivers every row exactly once (central keys are primary keys, and every central
//! row carries the local change number of its row as `source_version`).

use crate::postgres::{Cluster, Fault, FaultyLink, PASSWORD, connect, number};
use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::upstream::{init, published_api, simulator, stop, synced, wait_until};
use serde_json::Value;

/// The pushed tables, in push order, with the SQL of a row's natural key locally and
/// centrally (the central key of the upserts, without the agent id: one agent per database
/// here).
const TABLES: [(&str, &str, &str); 6] = [
    ("organizations", "id", "org_id::text"),
    ("vendors", "id", "vendor_id::text"),
    ("plants", "vendor_id || '/' || vendor_plant_id", "vendor_id || '/' || vendor_plant_id"),
    ("alerts", "vendor_id || '/' || vendor_alert_key", "vendor_id || '/' || vendor_alert_key"),
    ("sync_runs", "id", "run_id::text"),
    (
        "plant_days",
        "(SELECT p.vendor_id || '/' || p.vendor_plant_id FROM plants p WHERE p.id = plant_id)
         || '/' || day",
        "vendor_id || '/' || vendor_plant_id || '/' || to_char(day, 'YYYY-MM-DD')",
    ),
];

/// Rows per batch: small, so the plants take several batches.
const BATCH_ROWS: usize = 4;
/// The batch of plants the fault falls in (1-based); the ones before it are confirmed.
const FAULTY_BATCH: usize = 3;

/// What `plantsync push` says on failure (src/cli/commands/push.rs).
const NOTHING_LOST: &str =
    "push failed; nothing is lost: every row not confirmed stays queued for the next push";

/// `(key, change_seq)` of every local row of `table`, in push order (the push's cursor).
fn local_rows(sandbox: &Sandbox, table: &str) -> Vec<(String, i64)> {
    let key = TABLES.iter().find(|t| t.0 == table).unwrap().1;
    let sql = format!("SELECT {key}, change_seq FROM {table} ORDER BY change_seq, id");
    sqlite3(&sandbox.db(), &sql)
        .lines()
        .map(|line| {
            let (key, seq) = line.rsplit_once('|').unwrap();
            (key.to_owned(), seq.parse().unwrap())
        })
        .collect()
}

/// `(key, source_version)` of every central row of `table`, sorted.
async fn central_rows(url: &str, table: &str) -> Vec<(String, i64)> {
    let key = TABLES.iter().find(|t| t.0 == table).unwrap().2;
    let central = connect(url).await;
    let sql = format!("SELECT {key}, source_version FROM plantsync.{table} ORDER BY 1, 2");
    central.query(&sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Whether every local row is central exactly once with its own change number (the keys
/// are central primary keys, so a row twice would show as a missing or extra pair).
async fn all_central_once(sandbox: &Sandbox, url: &str) -> bool {
    for (table, _, _) in TABLES {
        let mut local = local_rows(sandbox, table);
        local.sort();
        if central_rows(url, table).await != local {
            return false;
        }
    }
    true
}

/// Asserts [`all_central_once`], naming the first table that differs.
async fn assert_all_central_once(sandbox: &Sandbox, url: &str) {
    for (table, _, _) in TABLES {
        let mut local = local_rows(sandbox, table);
        local.sort();
        assert!(!local.is_empty(), "{table} is empty locally");
        assert_eq!(central_rows(url, table).await, local, "{table}: central vs local");
    }
}

/// The watermark of `table` in the store.
fn watermark(sandbox: &Sandbox, table: &str) -> i64 {
    let sql = format!(
        "SELECT coalesce((SELECT acknowledged_seq FROM upstream_watermarks
                          WHERE table_name = '{table}'), 0)"
    );
    sqlite3(&sandbox.db(), &sql).trim().parse().unwrap()
}

/// The watermark a push stops at after its first `confirmed` rows of `rows` (in push
/// order): the last one's number, or one less when the next row shares it (the rule of
/// `OutboxBatch::safe_watermark`: a watermark never covers part of a group).
fn safe_after(rows: &[(String, i64)], confirmed: usize) -> i64 {
    if confirmed == 0 {
        return 0;
    }
    let last = rows[confirmed - 1].1;
    if rows.get(confirmed).is_some_and(|next| next.1 == last) { last - 1 } else { last }
}

/// A plant name sent in the [`FAULTY_BATCH`]th batch of plants and in no other row the
/// push sends before it (not part of another name, address or id): the link's marker.
fn marker_in_faulty_batch(sandbox: &Sandbox) -> String {
    let offset = (FAULTY_BATCH - 1) * BATCH_ROWS;
    let names = sqlite3(
        &sandbox.db(),
        &format!(
            "SELECT name FROM plants ORDER BY change_seq, id LIMIT {BATCH_ROWS} OFFSET {offset}"
        ),
    );
    let unique = |name: &str| {
        let n = name.replace('\'', "''");
        let sql = format!(
            "SELECT (SELECT count(*) FROM plants WHERE instr(name, '{n}') OR
                     instr(coalesce(address, ''), '{n}') OR instr(vendor_plant_id, '{n}'))
                  + (SELECT count(*) FROM vendors WHERE instr(name, '{n}') OR
                     instr(coalesce(base_url, ''), '{n}'))
                  + (SELECT count(*) FROM organizations WHERE instr(name, '{n}'))"
        );
        sqlite3(&sandbox.db(), &sql).trim() == "1"
    };
    let marker = names.lines().find(|name| name.len() >= 4 && unique(name));
    marker.unwrap_or_else(|| panic!("no unique plant name in batch {FAULTY_BATCH}: {names}")).into()
}

/// Checks, after a push that failed inside the [`FAULTY_BATCH`]th batch of plants, that
/// the central database holds exactly the confirmed batches and that each watermark
/// covers exactly them: the tables before the plants whole, the plants up to the last
/// confirmed batch, nothing of the tables after.
async fn assert_only_the_confirmed_batches_acknowledged(sandbox: &Sandbox, url: &str) {
    assert_acknowledged_up_to(sandbox, url, (FAULTY_BATCH - 1) * BATCH_ROWS).await;
}

/// Checks, after a push that failed among the plants with their first `confirmed` rows
/// confirmed, that exactly those and the tables before are central, and that each
/// watermark covers exactly them.
async fn assert_acknowledged_up_to(sandbox: &Sandbox, url: &str, confirmed: usize) {
    let plants = local_rows(sandbox, "plants");
    assert!(plants.len() > confirmed + BATCH_ROWS, "the fault falls inside the plants");
    for (table, _, _) in TABLES {
        let local = local_rows(sandbox, table);
        let mut expected: Vec<(String, i64)> = match table {
            "organizations" | "vendors" => local.clone(),
            "plants" => local[..confirmed].to_vec(),
            _ => Vec::new(),
        };
        expected.sort();
        assert_eq!(central_rows(url, table).await, expected, "{table}: what is central");
        let acknowledged = match table {
            "organizations" | "vendors" => local.last().unwrap().1,
            "plants" => safe_after(&local, confirmed),
            _ => 0,
        };
        assert_eq!(watermark(sandbox, table), acknowledged, "{table}: the watermark");
    }
}

/// `plantsync push --format json` to `url` with small batches, as a process of its own.
fn push_command(sandbox: &Sandbox, url: &str) -> std::process::Command {
    let mut cmd = sandbox.spawnable(&["push", "--format", "json"]);
    cmd.env("PLANTSYNC_UPSTREAM_URL", url)
        .env("PLANTSYNC_UPSTREAM_BATCH_ROWS", BATCH_ROWS.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Checks a failed push's output: exit code 1, one line that says why once, what it means
/// for the data, and the target without its password.
fn assert_failed_once_in_words(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one error: {stderr}");
    assert_eq!(stderr.matches(NOTHING_LOST).count(), 1, "{stderr}");
    assert!(stderr.contains("postgres://postgres:**REDACTED**@127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD), "{stdout}{stderr}");
    stderr
}

/// A push that succeeds: its report.
fn push_ok(sandbox: &Sandbox, url: &str) -> Value {
    let output = push_command(sandbox, url).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "push failed: {stderr}");
    assert!(!stderr.contains(PASSWORD));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn sent(report: &Value, table: &str) -> i64 {
    let entry = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table);
    entry.unwrap()["sent"].as_i64().unwrap()
}

/// Rows of `table` above its watermark: what the next push has to send.
fn pending(sandbox: &Sandbox, table: &str) -> i64 {
    let after = watermark(sandbox, table);
    local_rows(sandbox, table).iter().filter(|row| row.1 > after).count() as i64
}

/// The push after a failed one delivers the rest: exactly the rows above each watermark,
/// every row central once with its version, then nothing more to send.
async fn assert_the_next_push_delivers_the_rest(sandbox: &Sandbox, url: &str) {
    let expected: Vec<i64> = TABLES.iter().map(|t| pending(sandbox, t.0)).collect();
    let report = push_ok(sandbox, url);
    for ((table, _, _), expected) in TABLES.iter().zip(expected) {
        assert_eq!(sent(&report, table), expected, "{table}: {report}");
    }
    assert_all_central_once(sandbox, url).await;
    for (table, _, _) in TABLES {
        let newest = local_rows(sandbox, table).last().unwrap().1;
        assert_eq!(watermark(sandbox, table), newest, "{table}");
    }
    assert_eq!(push_ok(sandbox, url)["rows_sent"], 0, "nothing more to send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_inside_a_batch_acknowledges_only_the_confirmed_batches() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    let link = FaultyLink::start(cluster.port, Fault::Cut, &marker_in_faulty_batch(&sandbox)).await;

    let output = push_command(&sandbox, &link.url(&url)).output().unwrap();
    assert!(link.has_fired(), "the cut fell inside the push");
    let stderr = assert_failed_once_in_words(&output);
    let broke = "the connection to the upstream postgres://postgres:**REDACTED**@127.0.0.1:";
    assert!(stderr.contains(broke), "{stderr}");
    assert!(stderr.ends_with(" broke during a batch of 4 plants\n"), "what was cut: {stderr}");
    assert_only_the_confirmed_batches_acknowledged(&sandbox, &url).await;
    let status = sandbox.ok(&["status", "--format", "json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["upstream"]["last_push"]["ok"], false, "{status}");
    assert!(!status.to_string().contains(PASSWORD));

    // An intact path: the rest arrives, every row once.
    assert_the_next_push_delivers_the_rest(&sandbox, &url).await;
}

/// The receipt read (what the central database already holds) is the first statement of a
/// table: a link cut under it fails the push there, said once, and moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_during_the_receipt_read_fails_the_push_there_once() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    // The plants' receipt query, and no other statement, reads their versions back.
    let link =
        FaultyLink::start(cluster.port, Fault::Cut, "source_version FROM plantsync.plants").await;

    let output = push_command(&sandbox, &link.url(&url)).output().unwrap();
    assert!(link.has_fired(), "the cut fell inside the push");
    let stderr = assert_failed_once_in_words(&output);
    assert!(stderr.ends_with(" broke during the plants receipt\n"), "what was cut: {stderr}");
    assert_acknowledged_up_to(&sandbox, &url, 0).await;
    assert_the_next_push_delivers_the_rest(&sandbox, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_restart_during_a_push_fails_it_and_the_next_push_delivers_everything_once() {
    let sim = simulator().await;
    let sandbox = synced(&sim);
    // Its own cluster: a restart of the shared one would cut the tests running beside.
    let cluster = Cluster::private();
    let url = cluster.database().await;
    init(&sandbox, &url);
    let link =
        FaultyLink::start(cluster.port, Fault::Stall, &marker_in_faulty_batch(&sandbox)).await;

    let pushing = push_command(&sandbox, &link.url(&url)).spawn().unwrap();
    // Held inside the third batch of plants: the server restarts under it.
    link.fired().await;
    tokio::task::block_in_place(|| cluster.restart());
    let output = tokio::task::spawn_blocking(move || pushing.wait_with_output().unwrap());
    let output = output.await.unwrap();
    link.release();
    let stderr = assert_failed_once_in_words(&output);
    let said = " broke during a batch of 4 plants \
                (the server said: terminating connection due to administrator command)\n";
    assert!(stderr.ends_with(said), "what was lost, in the server's words: {stderr}");
    assert_only_the_confirmed_batches_acknowledged(&sandbox, &url).await;

    // Back (the same port): the next push delivers the rest, once.
    assert_the_next_push_delivers_the_rest(&sandbox, &link.url(&url)).await;
}

/// A running agent that syncs only when asked and pushes to `url` in small batches,
/// retrying from 1 s up to 2 s while the upstream fails: (process, API address, token).
/// Waits for the `agent.json` of this process (an agent killed before it left its own).
async fn agent(sandbox: &Sandbox, url: &str) -> (std::process::Child, String, String) {
    let child = sandbox
        .spawnable(&["run"])
        .envs(QUIET_AGENT)
        .envs([
            ("PLANTSYNC_UPSTREAM_URL", url),
            ("PLANTSYNC_UPSTREAM_BATCH_ROWS", &BATCH_ROWS.to_string()),
            ("PLANTSYNC_UPSTREAM_RETRY_MIN_SECONDS", "1"),
            ("PLANTSYNC_UPSTREAM_RETRY_MAX_SECONDS", "2"),
        ])
        .spawn()
        .unwrap();
    let (api, token) = published_api(sandbox, child.id()).await;
    (child, api, token)
}

async fn api_status(api: &str, token: &str) -> Value {
    let client = plantsync::vendors::http::plain_client(std::time::Duration::from_secs(120));
    let answer = client.unwrap().get(format!("http://{api}/api/status")).bearer_auth(token);
    answer.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_a_push_leaves_a_sound_store_and_delivers_everything_once_restarted()
{
    let sim = simulator().await;
    let sandbox = synced(&sim);
    let cluster = Cluster::get();
    let url = cluster.database().await;
    init(&sandbox, &url);
    let link =
        FaultyLink::start(cluster.port, Fault::Stall, &marker_in_faulty_batch(&sandbox)).await;

    // The agent's push at start is held inside the third batch of plants: kill -9 there.
    let (mut child, _, _) = agent(&sandbox, &link.url(&url)).await;
    link.fired().await;
    child.kill().unwrap();
    child.wait().unwrap();

    // The store is sound and says what is confirmed: exactly the batches before.
    assert_eq!(sqlite3(&sandbox.db(), "PRAGMA integrity_check").trim(), "ok");
    assert_only_the_confirmed_batches_acknowledged(&sandbox, &url).await;
    let status = sandbox.cmd().args(["status", "--format", "json"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    for table in status["upstream"]["tables"].as_array().unwrap() {
        let name = table["table"].as_str().unwrap();
        assert_eq!(table["pending"], pending(&sandbox, name), "{name}: {status}");
    }

    // Restarted, with the link released: every row central once, nothing pending.
    link.release();
    let (child, api, token) = agent(&sandbox, &link.url(&url)).await;
    wait_until("every row central once", async || all_central_once(&sandbox, &url).await).await;
    wait_until("nothing pending", async || {
        let status = api_status(&api, &token).await;
        status["upstream"]["tables"].as_array().unwrap().iter().all(|t| t["pending"] == 0)
            && status["upstream"]["last_push"]["ok"] == true
    })
    .await;
    stop(child);
    assert_all_central_once(&sandbox, &url).await;
    assert_eq!(sqlite3(&sandbox.db(), "PRAGMA integrity_check").trim(), "ok");
    let plants = number(&connect(&url).await, "SELECT count(*) FROM plantsync.plants").await;
    assert_eq!(plants, local_rows(&sandbox, "plants").len() as i64);
}
