//! The upstream queue beyond the rows themselves, through the real binary against a real
//! PostgreSQL: rows the central database refuses are set aside while the rest goes on,
//! the receipt after every push and `push --verify` find what differs centrally and the
//! next push repairs it, and local deletions travel.

use crate::postgres::connect;
use crate::support::Sandbox;
use crate::support::sqlite3;
use crate::upstream::{
    central_counts, import, local_counts, push, sent, simulator, site_with_central, table_entry,
};
use serde_json::Value;

/// The plant `offset` places into the store's change order, by vendor plant id.
fn plant_at(site: &crate::support::Sandbox, offset: usize) -> String {
    sqlite3(
        &site.db(),
        &format!(
            "SELECT vendor_plant_id FROM plants ORDER BY change_seq, id LIMIT 1 OFFSET {offset}"
        ),
    )
    .trim()
    .to_owned()
}

fn json(site: &crate::support::Sandbox, args: &[&str]) -> Value {
    serde_json::from_str(&site.ok(args)).unwrap()
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["receipt"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["table"].as_str().unwrap().to_owned(), t["verdict"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn all_match(report: &Value) -> bool {
    verdicts(report).iter().all(|(_, v)| v == "matches")
}

/// A central CHECK constraint refuses one plant: with batches of 7, that plant's batch is
/// split until the plant stands alone; it is set aside with PostgreSQL's reason, every
/// other plant arrives, the watermark passes it (the next push sends nothing), and once the
/// constraint is gone `--retry-rejected` delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_upstream_refuses_is_set_aside_and_the_queue_goes_on() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let (refused, second) = (plant_at(&site, 11), plant_at(&site, 12));
    let central = connect(&url).await;
    let constraint = |ids: &[&str]| {
        let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
        format!(
            "ALTER TABLE plantsync.plants DROP CONSTRAINT IF EXISTS no_such_plant;
             ALTER TABLE plantsync.plants ADD CONSTRAINT no_such_plant
             CHECK (vendor_plant_id NOT IN ({}))",
            list.join(", ")
        )
    };
    central.batch_execute(&constraint(&[&refused, &second])).await.unwrap();

    let plants = local_counts(&site)[2];
    let report = site_push(&site, &url, &[], "7");
    assert_eq!(report["rejected"], 2, "{report}");
    assert_eq!(sent(&report, "plants"), plants - 2, "{report}");
    assert_eq!(table_entry(&report, "plants")["rejected"], 2, "{report}");
    let counts = central_counts(&url).await;
    assert_eq!(counts[2], plants - 2);
    assert_eq!(counts[3], local_counts(&site)[3], "the alerts after the plants went through");

    let rejected = json(&site, &["upstream", "rejected", "--format", "json"]);
    let entries = rejected.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{rejected}");
    assert_eq!(entries[0]["table"], "plants");
    let keys: Vec<&str> = entries.iter().map(|e| e["key"][1].as_str().unwrap()).collect();
    assert!(keys.contains(&refused.as_str()) && keys.contains(&second.as_str()), "{rejected}");
    let why = entries[0]["error"].as_str().unwrap();
    assert!(why.contains("no_such_plant"), "the constraint is named: {why}");
    let status = site.ok(&["status"]);
    assert!(status.contains("except 2 rows the upstream refused"), "{status}");

    // With rows set aside the receipt still compares the table key by key: a plant deleted
    // centrally meanwhile is found and sent again.
    let gone = plant_at(&site, 20);
    let deleted = central
        .execute("DELETE FROM plantsync.plants WHERE vendor_plant_id = $1", &[&gone])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let again = site_push(&site, &url, &[], "7");
    assert_eq!(again["rows_sent"], 0, "the refused plants are not sent on every push: {again}");
    assert_eq!(again["receipt"]["requeued"], 1, "{again}");
    let again = site_push(&site, &url, &[], "7");
    assert_eq!(sent(&again, "plants"), 1, "the plant deleted centrally: {again}");

    // One of the two is accepted now: --retry-rejected takes it, the other stays listed.
    central.batch_execute(&constraint(&[&second])).await.unwrap();
    let retried = site_push(&site, &url, &["--retry-rejected"], "7");
    assert_eq!(retried["retried"], 1, "{retried}");
    let rejected = json(&site, &["upstream", "rejected", "--format", "json"]);
    assert_eq!(rejected.as_array().unwrap().len(), 1, "{rejected}");
    assert_eq!(rejected[0]["key"][1], second.as_str());
    assert_eq!(rejected[0]["attempts"], 2, "refused twice at one version: {rejected}");

    // A full push that gets the last one through clears its entry too.
    central
        .batch_execute("ALTER TABLE plantsync.plants DROP CONSTRAINT no_such_plant")
        .await
        .unwrap();
    let full = site_push(&site, &url, &["--full"], "7");
    assert_eq!(full["retried"], 1, "{full}");
    assert_eq!(central_counts(&url).await, local_counts(&site));
    assert!(all_match(&full), "{full}");
    let rejected = json(&site, &["upstream", "rejected", "--format", "json"]);
    assert_eq!(rejected, serde_json::json!([]));
    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["central_up_to"]["state"], "everything", "{status}");
}

/// `push` with `upstream.batch_rows` set.
fn site_push(site: &crate::support::Sandbox, url: &str, extra: &[&str], batch: &str) -> Value {
    let output = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", url)
        .env("PLANTSYNC_UPSTREAM_BATCH_ROWS", batch)
        .args(["push", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Three things go wrong centrally after a push: a plant is deleted there, another is set
/// back to an older version, and a row this agent never had appears. `push --verify` lists
/// each (and the cheap receipt already sees the plants differ); the next push sends the
/// two plants again. The stranger is only reported: a central row the store lacks is what a
/// store restored from an older copy sees, and deleting it could delete later history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_what_differs_centrally_and_the_next_push_repairs_it() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let first = push(&site, &url, &[]);
    assert!(all_match(&first), "a first push leaves every table matching: {first}");

    let (gone, older) = (plant_at(&site, 3), plant_at(&site, 20));
    let central = connect(&url).await;
    let deleted = central
        .execute("DELETE FROM plantsync.plants WHERE vendor_plant_id = $1", &[&gone])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    // Set back past the trigger (a restore of an old dump would do this).
    central
        .batch_execute(&format!(
            "ALTER TABLE plantsync.plants DISABLE TRIGGER keep_newer;
             UPDATE plantsync.plants SET source_version = 1, name = 'stale'
             WHERE vendor_plant_id = '{older}';
             ALTER TABLE plantsync.plants ENABLE TRIGGER keep_newer;
             INSERT INTO plantsync.plants (agent_id, vendor_id, vendor_plant_id, name, status,
                 is_active, created_at, updated_at, source_version)
             SELECT agent_id, vendor_id, 'stranger', 'Stranger', 'unknown', true, now(), now(), 2
             FROM plantsync.plants LIMIT 1;"
        ))
        .await
        .unwrap();

    let before_verify = plantsync::domain::Timestamp::now().to_string();
    let verified = push(&site, &url, &["--verify"]);
    let differences = verified["receipt"]["differences"].as_array().unwrap();
    let mut found: Vec<(String, String)> = differences
        .iter()
        .map(|d| (d["key"][1].as_str().unwrap().to_owned(), d["kind"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    let mut expected = vec![
        (gone.clone(), "missing_centrally".to_owned()),
        (older.clone(), "older_centrally".to_owned()),
        ("stranger".to_owned(), "only_centrally".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected, "{verified}");
    assert_eq!(verified["receipt"]["requeued"], 2, "{verified}");
    let plants = verdicts(&verified).into_iter().find(|(t, _)| t == "plants").unwrap();
    assert_eq!(plants.1, "differs", "the cheap receipt saw it too: {verified}");
    let table = site.cmd().env("PLANTSYNC_UPSTREAM_URL", &url).args(["status"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("2 rows re-queued"), "{table}");

    // The re-queued plants wait: the central line holds at the last completed push, which
    // the verifying push (it found rows missing) was not.
    let status = json(&site, &["status", "--format", "json"]);
    let line = &status["upstream"]["central_up_to"];
    assert_eq!(line["state"], "until", "{status}");
    let at = line["at"].as_str().unwrap().to_owned();
    assert!(at < before_verify, "the verifying push is no completed push: {at} {before_verify}");
    let repaired = push(&site, &url, &[]);
    assert_eq!(sent(&repaired, "plants"), 2, "only the two plants travel: {repaired}");
    assert_eq!(repaired["deletions_sent"], 0, "{repaired}");
    let name: String = central
        .query_one("SELECT name FROM plantsync.plants WHERE vendor_plant_id = $1", &[&older])
        .await
        .unwrap()
        .get(0);
    assert_ne!(name, "stale");
    let stranger: bool = central
        .query_one("SELECT deleted FROM plantsync.plants WHERE vendor_plant_id = 'stranger'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!stranger, "a central row the store lacks is left alone");
    let clean = push(&site, &url, &["--verify"]);
    let left = clean["receipt"]["differences"].as_array().unwrap();
    assert_eq!(left.len(), 1, "only the stranger is still reported: {clean}");
    assert_eq!(left[0]["kind"], "only_centrally");
    assert_eq!(clean["receipt"]["requeued"], 0);
}

/// A vendor removed locally (with its plants and alerts) is marked deleted centrally with
/// them, once, and the receipt, which counts only live rows, matches afterwards. Status
/// shows the deletion pending until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_removed_locally_is_marked_deleted_centrally_with_its_plants() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    push(&site, &url, &[]);
    let vendor: i64 = sqlite3(&site.db(), "SELECT min(id) FROM vendors").trim().parse().unwrap();
    let plants: i64 =
        sqlite3(&site.db(), &format!("SELECT count(*) FROM plants WHERE vendor_id = {vendor}"))
            .trim()
            .parse()
            .unwrap();
    assert!(plants > 0);
    site.ok(&["vendor", "remove", &vendor.to_string(), "--force"]);
    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["deletions_pending"], 1, "{status}");
    assert_eq!(status["upstream"]["central_up_to"]["state"], "until", "{status}");

    let report = push(&site, &url, &[]);
    assert_eq!(report["deletions_sent"], 1, "{report}");
    assert!(all_match(&report), "{report}");
    let central = connect(&url).await;
    let marked: i64 = central
        .query_one(
            "SELECT count(*) FROM plantsync.plants WHERE vendor_id = $1 AND deleted AND NOT is_active",
            &[&vendor],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(marked, plants);
    let vendor_gone: bool = central
        .query_one("SELECT deleted FROM plantsync.vendors WHERE vendor_id = $1", &[&vendor])
        .await
        .unwrap()
        .get(0);
    assert!(vendor_gone);
    let again = push(&site, &url, &[]);
    assert_eq!(again["deletions_sent"], 0, "a confirmed deletion is not sent again: {again}");
    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["central_up_to"]["state"], "everything", "{status}");
}

/// A `file://` upstream: each push writes the whole queue as this agent's bundle at the
/// path (0600), confirms nothing, and replaces only its own earlier bundle; anything else
/// at the path is left alone and the push fails saying so. The bundle imports centrally
/// from another machine, and `upstream init` over a file says it is no database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_upstream_writes_the_queue_as_the_agents_own_bundle() {
    let sim = simulator().await;
    let (site, central_url) = site_with_central(&sim).await;
    let stick = tempfile::tempdir().unwrap();
    let bundle = stick.path().join("site.bundle");
    let file_url = format!("file://{}", bundle.display());

    let first = push(&site, &file_url, &[]);
    let local: i64 = local_counts(&site).iter().sum();
    assert_eq!(first["rows_sent"], local, "{first}");
    assert_eq!(first["bundle"], bundle.display().to_string(), "{first}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["central_up_to"]["state"], "nothing", "nothing confirmed");

    // The next push replaces the agent's own bundle, with everything still open.
    site.ok(&["sync", "plants"]);
    let second = push(&site, &file_url, &[]);
    assert_eq!(second["rows_sent"].as_i64().unwrap(), local_counts(&site).iter().sum::<i64>());

    let machine = Sandbox::new();
    let imported = import(&machine, &central_url, &bundle);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert_eq!(central_counts(&central_url).await, local_counts(&site));

    // Anything else at the path stays as it is.
    let other = stick.path().join("notes.txt");
    std::fs::write(&other, "field notes").unwrap();
    let output = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", format!("file://{}", other.display()))
        .args(["push"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not an earlier bundle of this agent"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "field notes");
    // Another agent's bundle is not this agent's either.
    let stranger = crate::upstream::synced(&sim);
    let output =
        stranger.cmd().env("PLANTSYNC_UPSTREAM_URL", &file_url).args(["push"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));

    let init = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &file_url)
        .args(["upstream", "init"])
        .output()
        .unwrap();
    assert!(!init.status.success());
    let said = String::from_utf8_lossy(&init.stderr);
    assert!(said.contains("is a file for offline bundles, not a database"), "{said}");
}

/// A site that stays cut off removes a vendor: the bundle carries the deletion, the import
/// marks the vendor and its plants deleted centrally, the site keeps the deletion queued
/// until it sees the central database itself, and an edited deletion is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_travels_in_the_offline_bundle() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    push(&site, &url, &[]);
    let vendor: i64 = sqlite3(&site.db(), "SELECT min(id) FROM vendors").trim().parse().unwrap();
    site.ok(&["vendor", "remove", &vendor.to_string(), "--force"]);
    let stick = tempfile::tempdir().unwrap();
    let bundle = stick.path().join("site.bundle");
    let exported: Value = serde_json::from_str(&site.ok(&[
        "upstream",
        "export",
        "--format",
        "json",
        bundle.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(exported["deletions"]["rows"], 1, "{exported}");

    // Edited on the way: refused whole, nothing sent.
    let edited = stick.path().join("edited.bundle");
    std::fs::copy(&bundle, &edited).unwrap();
    sqlite3(&edited, "UPDATE deletions SET key_json = '[\"999\"]'");
    let machine = Sandbox::new();
    let refused = import(&machine, &url, &edited);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("its deletions do not match its manifest"), "{said}");

    let imported = import(&machine, &url, &bundle);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let report: Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(report["deletions"], 1, "{report}");
    let central = connect(&url).await;
    let live: i64 = central
        .query_one(
            "SELECT count(*) FROM plantsync.plants WHERE vendor_id = $1 AND NOT deleted",
            &[&vendor],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "the vendor's plants are marked deleted centrally");

    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["deletions_pending"], 1, "kept until the site sees it");
    let online = push(&site, &url, &[]);
    assert_eq!(online["deletions_sent"], 1, "{online}");
    assert!(all_match(&online), "{online}");
    let status = json(&site, &["status", "--format", "json"]);
    assert_eq!(status["upstream"]["deletions_pending"], 0);
}

/// The direct transport's COPY text escapes what COPY reads specially: a tab, a newline, a
/// carriage return, a backslash, and a value spelled `\N` (not NULL) arrive as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_copy_treats_specially_arrive_unchanged() {
    let sim = simulator().await;
    let (site, url) = site_with_central(&sim).await;
    let plant = plant_at(&site, 5);
    sqlite3(
        &site.db(),
        &format!(
            "UPDATE plants SET name = 'a' || char(9) || 'b' || char(10) || 'c' || char(13) || 'd\\e',
                 address = '\\N', change_seq = (SELECT value + 1 FROM change_counter)
             WHERE vendor_plant_id = '{plant}';
             UPDATE change_counter SET value = value + 1;"
        ),
    );
    push(&site, &url, &[]);
    let central = connect(&url).await;
    let row = central
        .query_one(
            "SELECT name, address FROM plantsync.plants WHERE vendor_plant_id = $1",
            &[&plant],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "a\tb\nc\rd\\e");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("\\N"));
}
