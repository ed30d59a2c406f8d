//! The upstream push over TLS, through the real binary, against the simulator and a real
//! PostgreSQL that speaks TLS only (`postgres.rs`'s [`TlsCluster`]: a private CA, a
//! certificate for `localhost` only, `hostssl` logins only, SCRAM), and the plain cluster
//! for `prefer` and a refused `require`.

use crate::postgres::{Cluster, PASSWORD, TlsCluster, number};
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};

const TABLES: [&str; 6] =
    ["organizations", "vendors", "plants", "alerts", "sync_runs", "plant_days"];

async fn simulator() -> Simulator {
    Simulator::start(SimulatorConfig {
        seed: 11,
        accounts: vec![AccountSpec::new(VendorKind::Solarman, 12, 1)],
    })
    .await
    .unwrap()
}

/// A sandbox with the simulator's account as a vendor, plants and alerts synced.
fn synced(sim: &Simulator) -> Sandbox {
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, sim, 1);
    sandbox.ok(&["sync", "plants"]);
    sandbox.ok(&["sync", "alerts"]);
    sandbox
}

fn local_count(sandbox: &Sandbox, table: &str) -> i64 {
    sqlite3(&sandbox.db(), &format!("SELECT count(*) FROM {table}")).trim().parse().unwrap()
}

/// What one run of the binary with `PLANTSYNC_UPSTREAM_URL=url` did: exit code, stdout,
/// stderr; the password shows in neither.
fn run(sandbox: &Sandbox, url: &str, args: &[&str]) -> (i32, String, String) {
    let output = sandbox.cmd().env("PLANTSYNC_UPSTREAM_URL", url).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "{stdout}{stderr}");
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// `upstream init` and `push --format json` to `url`, both succeeding.
fn init_and_push(sandbox: &Sandbox, url: &str) -> serde_json::Value {
    let (code, _, stderr) = run(sandbox, url, &["upstream", "init"]);
    assert_eq!(code, 0, "init failed: {stderr}");
    let (code, stdout, stderr) = run(sandbox, url, &["push", "--format", "json"]);
    assert_eq!(code, 0, "push failed: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// `push` to `url`, which must fail: its stderr.
fn failed_push(sandbox: &Sandbox, url: &str) -> String {
    let (code, stdout, stderr) = run(sandbox, url, &["push", "--format", "json"]);
    assert_eq!(code, 1, "the push must fail: {stdout}{stderr}");
    stderr
}

/// Every table's rows are central, as many as locally.
async fn assert_all_central(sandbox: &Sandbox, central: &tokio_postgres::Client) {
    for table in TABLES {
        let local = local_count(sandbox, table);
        assert!(local > 0, "{table} is empty locally");
        let there = number(central, &format!("SELECT count(*) FROM plantsync.{table}")).await;
        assert_eq!(there, local, "{table} centrally");
    }
}

/// No table's watermark moved: nothing is marked as delivered.
fn assert_nothing_delivered(sandbox: &Sandbox) {
    let marked = sqlite3(
        &sandbox.db(),
        "SELECT count(*) FROM upstream_watermarks WHERE acknowledged_seq > 0 OR acknowledged_at IS NOT NULL",
    );
    assert_eq!(marked.trim(), "0", "a failed push marked rows as delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_private_ca_pushes_everything_over_tls() {
    let sim = simulator().await;
    let site = synced(&sim);
    let tls = TlsCluster::get();
    let db = tls.database().await;
    // The server takes TCP logins over TLS only, and channel_binding=require makes the
    // SCRAM login bind to the TLS session (the end-point hash of a SHA-384 certificate).
    let ca = tls.ca();
    let url = tls.url_by_name(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}&channel_binding=require", ca.display()),
    );
    let report = init_and_push(&site, &url);
    let rows: i64 = TABLES.iter().map(|t| local_count(&site, t)).sum();
    assert_eq!(report["rows_sent"], rows, "{report}");
    assert!(report["target"].as_str().unwrap().contains("sslmode=verify-full"), "{report}");
    assert_all_central(&site, &tls.local(&db).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_the_push_and_says_to_set_sslrootcert() {
    let sim = simulator().await;
    let site = synced(&sim);
    let tls = TlsCluster::get();
    let db = tls.database().await;
    let good =
        tls.url_by_name(&db, &format!("sslmode=verify-full&sslrootcert={}", tls.ca().display()));
    let (code, _, stderr) = run(&site, &good, &["upstream", "init"]);
    assert_eq!(code, 0, "{stderr}");
    // The private CA is not among the system's roots: verify-full, require (checked by
    // plantsync, unlike libpq) and the default prefer (TLS offered, so TLS, checked) all
    // refuse the certificate; none falls back to plain TCP.
    for params in ["sslmode=verify-full", "sslmode=require", "sslmode=prefer", ""] {
        let stderr = failed_push(&site, &tls.url_by_name(&db, params));
        assert!(
            stderr.contains(
                "the server's certificate is not trusted (its issuer is not a trusted CA)"
            ),
            "{params}: {stderr}"
        );
        assert!(stderr.contains("set sslrootcert=PATH in upstream.url"), "{params}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    assert_nothing_delivered(&site);
    // The record `status` shows says the same cause (`upstream::in_words`).
    let (_, status, _) = run(&site, &tls.url_by_name(&db, ""), &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let recorded = status["upstream"]["last_push"]["error"].as_str().unwrap();
    assert!(
        recorded
            .contains("error performing TLS handshake: the server's certificate is not trusted"),
        "{recorded}"
    );
    assert!(recorded.contains("set sslrootcert=PATH"), "{recorded}");
    let central = tls.local(&db).await;
    assert_eq!(number(&central, "SELECT count(*) FROM plantsync.plants").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_is_refused_by_the_tls_only_server() {
    let sim = simulator().await;
    let site = synced(&sim);
    let tls = TlsCluster::get();
    let db = tls.database().await;
    // Plain TCP really is plain: the server's hostnossl rule turns it away.
    let stderr = failed_push(&site, &tls.url_by_name(&db, "sslmode=disable"));
    assert!(stderr.contains("no encryption"), "{stderr}");
    assert_nothing_delivered(&site);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let sim = simulator().await;
    let site = synced(&sim);
    let tls = TlsCluster::get();
    let db = tls.database().await;
    let ca = format!("sslrootcert={}", tls.ca().display());
    // 127.0.0.1 is not in the certificate (it names localhost only).
    let wrong_name = tls.url_by_address(&db, &format!("sslmode=verify-full&{ca}"));
    let (code, _, stderr) = run(&site, &wrong_name, &["upstream", "init"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the server's certificate is not valid for the host name 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("sslmode=verify-ca"), "{stderr}");
    let cause = stderr.split_once("cannot reach").unwrap().1;
    assert!(failed_push(&site, &wrong_name).ends_with(cause), "push says the same");
    assert_nothing_delivered(&site);
    // verify-ca checks the chain only: the same address works, and so does require.
    let report = init_and_push(&site, &tls.url_by_address(&db, &format!("sslmode=verify-ca&{ca}")));
    assert!(report["rows_sent"].as_i64().unwrap() > 0, "{report}");
    assert_all_central(&site, &tls.local(&db).await).await;
    let (code, _, stderr) =
        run(&site, &tls.url_by_address(&db, &format!("sslmode=require&{ca}")), &["push", "--full"]);
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_against_a_server_without_tls_is_plain_and_require_is_refused() {
    let sim = simulator().await;
    let site = synced(&sim);
    let url = Cluster::get().database().await;
    // The plain cluster says it has no TLS: prefer goes on in plain TCP.
    let report = init_and_push(&site, &format!("{url}?sslmode=prefer"));
    assert!(report["rows_sent"].as_i64().unwrap() > 0, "{report}");
    assert_all_central(&site, &crate::postgres::connect(&url).await).await;
    // require insists: a server that refuses TLS is an error, said in one line.
    let stderr = failed_push(&site, &format!("{url}?sslmode=require"));
    assert!(stderr.contains("server does not support TLS"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
