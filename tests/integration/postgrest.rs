//! The PostgREST transport of `plantsync push` through the real binary, against a local
//! HTTP endpoint that behaves as PostgREST: it checks every request exactly (path, query,
//! headers, uniform keys, rows and bytes per request), answers as PostgREST does when one
//! is wrong, and applies the right ones to the suite's real PostgreSQL with the SQL
//! PostgREST generates, so the duplicate keys, the constraints and the stale-replay trigger
//! are real.

use crate::postgres::{Cluster, connect, number};
use crate::support::{Sandbox, sqlite3};
use crate::upstream::synced;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The most rows the endpoint answers per page (Supabase's "Max Rows" is 1000; the test
/// stores hold a few dozen rows per table, so a small cap makes every read-back page).
const MAX_ROWS: u32 = 7;

const TABLES: [&str; 6] =
    ["organizations", "vendors", "plants", "alerts", "sync_runs", "plant_days"];
/// The per-device key every test configures.
const KEY: &str = "device-key-5b1e9f0c";
/// What PostgREST's upsert must be asked for.
const PREFER: &str = "resolution=merge-duplicates,return=minimal";
/// The body bound the transport promises.
const MAX_BODY: usize = 1 << 20;

/// One request the endpoint saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    rows: usize,
    bytes: usize,
    status: u16,
}

/// The endpoint's state: the central database and what it saw.
struct Fake {
    db: tokio_postgres::Client,
    /// Per table, every central column but `pushed_at` (what `columns=` must name).
    columns: HashMap<String, BTreeSet<String>>,
    /// The most rows a request may carry.
    max_rows: usize,
    seen: Mutex<Vec<Seen>>,
}

/// The conflict target PostgREST must be given per table: the agent id and the natural key.
fn on_conflict(table: &str) -> &'static str {
    match table {
        "organizations" => "agent_id,org_id",
        "vendors" => "agent_id,vendor_id",
        "plants" => "agent_id,vendor_id,vendor_plant_id",
        "plant_days" => "agent_id,vendor_id,vendor_plant_id,day",
        "alerts" => "agent_id,vendor_id,vendor_alert_key",
        "sync_runs" => "agent_id,run_id",
        other => panic!("no table {other}"),
    }
}

/// PostgREST's error answer.
fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "code": code, "message": message, "details": null, "hint": null });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// A PostgreSQL error as PostgREST answers it (its status table: 409 for a unique or
/// foreign key violation, 404 for a missing relation, 403 for missing rights, 400 else).
fn db_error(e: &tokio_postgres::Error) -> Response {
    let Some(db) = e.as_db_error() else { return error(503, "PGRST000", &e.to_string()) };
    let code = db.code().code();
    let status = match code {
        "23503" | "23505" => 409,
        "42P01" | "42883" => 404,
        "42501" => 403,
        _ => 400,
    };
    let body = json!({
        "code": code, "message": db.message(), "details": db.detail(), "hint": db.hint()
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn json_answer(text: String) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
}

impl Fake {
    /// Starts the endpoint in front of the database `url` (its schema applied): its base URL.
    async fn start(url: &str, max_rows: usize) -> (String, Arc<Fake>) {
        let db = connect(url).await;
        let mut columns: HashMap<String, BTreeSet<String>> = HashMap::new();
        for row in db
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'plantsync' AND column_name <> 'pushed_at'",
                &[],
            )
            .await
            .unwrap()
        {
            columns.entry(row.get(0)).or_default().insert(row.get(1));
        }
        assert_eq!(columns.len(), TABLES.len(), "the schema is applied: {columns:?}");
        let fake = Arc::new(Fake { db, columns, max_rows, seen: Mutex::new(Vec::new()) });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = fake.clone();
        let router = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.handle(method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://127.0.0.1:{port}"), fake)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The upserts of `table` seen, with what they answered.
    fn upserts(&self, table: &str) -> Vec<Seen> {
        let path = format!("/rest/v1/{table}");
        self.seen().into_iter().filter(|s| s.method == Method::POST && s.path == path).collect()
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let path = uri.path().to_owned();
        let rows = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        let answer = self.answer(&method, &uri, &headers, &body).await;
        let status = answer.status().as_u16();
        self.seen.lock().unwrap().push(Seen { method, path, rows, bytes: body.len(), status });
        answer
    }

    async fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let header = |name: &str| header(headers, name);
        if header("apikey") != Some(KEY)
            || header("authorization") != Some(&format!("Bearer {KEY}"))
        {
            return error(401, "PGRST301", "Invalid API key");
        }
        let query: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{uri}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let Some(resource) = uri.path().strip_prefix("/rest/v1/") else {
            return error(404, "PGRST125", "Invalid path specified in request URL");
        };
        let profile = if *method == Method::GET { "accept-profile" } else { "content-profile" };
        if header(profile) != Some("plantsync") {
            return error(406, "PGRST106", "The schema must be one of the following: public");
        }
        if let Some(function) = resource.strip_prefix("rpc/") {
            return self.rpc(function, body).await;
        }
        let Some(columns) = self.columns.get(resource) else {
            return error(404, "PGRST205", "Could not find the table in the schema cache");
        };
        match *method {
            Method::POST => self.upsert(resource, columns, &query, headers, body).await,
            Method::GET => self.select(resource, columns, &query).await,
            _ => error(405, "PGRST117", "Unsupported HTTP method"),
        }
    }

    async fn upsert(
        &self,
        table: &str,
        columns: &BTreeSet<String>,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let header = |name: &str| header(headers, name);
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if header("prefer") != Some(PREFER) {
            return error(400, "TEST01", "Prefer must ask for merge-duplicates, minimal");
        }
        if header("content-type") != Some("application/json") {
            return error(415, "PGRST107", "Content-Type not acceptable");
        }
        if param("on_conflict") != Some(on_conflict(table)) {
            return error(400, "42P10", "on_conflict is not the table's key");
        }
        let named: BTreeSet<String> =
            param("columns").unwrap_or_default().split(',').map(str::to_owned).collect();
        if &named != columns {
            return error(400, "PGRST204", "columns= does not name the table's columns");
        }
        if body.len() > MAX_BODY {
            return error(413, "PGRST413", "Payload Too Large");
        }
        let Ok(Value::Array(objects)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "PGRST102", "Empty or invalid json");
        };
        if objects.is_empty() || objects.len() > self.max_rows {
            return error(400, "TEST02", &format!("{} rows in one request", objects.len()));
        }
        for object in &objects {
            let keys: BTreeSet<String> =
                object.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            if &keys != columns {
                return error(400, "PGRST102", "All object keys must match");
            }
        }
        // What PostgREST generates for merge-duplicates.
        let list = columns.iter().cloned().collect::<Vec<_>>().join(", ");
        let set: Vec<String> = columns.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let sql = format!(
            "INSERT INTO plantsync.{table} ({list}) SELECT {list}
             FROM json_populate_recordset(NULL::plantsync.{table}, $1::text::json) _
             ON CONFLICT ({}) DO UPDATE SET {}",
            on_conflict(table),
            set.join(", ")
        );
        let text = String::from_utf8_lossy(body).into_owned();
        match self.db.execute(&sql, &[&text]).await {
            Ok(_) => StatusCode::CREATED.into_response(),
            Err(e) => db_error(&e),
        }
    }

    async fn select(
        &self,
        table: &str,
        columns: &BTreeSet<String>,
        query: &[(String, String)],
    ) -> Response {
        let known = |c: &str| columns.contains(c);
        let (mut filters, mut select, mut order, mut limit, mut offset) =
            (Vec::new(), String::new(), String::new(), String::new(), "0".to_owned());
        for (name, value) in query {
            match name.as_str() {
                "select" if value.split(',').all(known) => select.clone_from(value),
                "order" => {
                    let mut parts = Vec::new();
                    for part in value.split(',') {
                        match part.split_once('.') {
                            Some((c, "asc")) if known(c) => parts.push(format!("{c} ASC")),
                            _ => return error(400, "PGRST100", "bad order"),
                        }
                    }
                    order = parts.join(", ");
                }
                "limit" if value.parse::<u32>().is_ok() => limit.clone_from(value),
                "offset" if value.parse::<u32>().is_ok() => offset.clone_from(value),
                "agent_id" => match value.strip_prefix("eq.") {
                    Some(id)
                        if id.len() == 36
                            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') =>
                    {
                        filters.push(format!("agent_id = '{id}'"));
                    }
                    _ => return error(400, "PGRST100", "bad agent filter"),
                },
                "source_version" => match value.strip_prefix("gt.").map(str::parse::<i64>) {
                    Some(Ok(n)) => filters.push(format!("source_version > {n}")),
                    _ => return error(400, "PGRST100", "bad version filter"),
                },
                "deleted" if value == "is.false" => filters.push("deleted IS false".to_owned()),
                _ => return error(400, "PGRST100", &format!("unexpected {name}={value}")),
            }
        }
        if select.is_empty() || order.is_empty() || limit.is_empty() || filters.len() != 3 {
            return error(400, "TEST03", "the read-back must select, filter, order and page");
        }
        // A page holds at most MAX_ROWS whatever was asked, as Supabase's "Max Rows" (1000
        // by default) caps it without saying so: the client must page until a page is empty.
        let limit = limit.parse::<u32>().unwrap_or(0).min(MAX_ROWS);
        let sql = format!(
            "SELECT coalesce(json_agg(r), '[]'::json)::text FROM (SELECT {select}
             FROM plantsync.{table} WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}) r",
            filters.join(" AND ")
        );
        match self.db.query_one(&sql, &[]).await {
            Ok(row) => json_answer(row.get(0)),
            Err(e) => db_error(&e),
        }
    }

    async fn rpc(&self, function: &str, body: &[u8]) -> Response {
        let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "PGRST102", "Empty or invalid json");
        };
        let mut names: Vec<&str> = args.keys().map(String::as_str).collect();
        names.sort_unstable();
        let agent = args.get("p_agent").and_then(Value::as_str).unwrap_or_default().to_owned();
        let answer = match (function, names.as_slice()) {
            ("receipt", ["p_agent"]) => {
                self.db
                    .query_one(
                        "SELECT coalesce(json_agg(r), '[]'::json)::text
                         FROM plantsync.receipt($1::text::uuid) r",
                        &[&agent],
                    )
                    .await
            }
            ("forget", ["p_agent", "p_deletions"]) => {
                let deletions = args["p_deletions"].to_string();
                self.db
                    .query_one(
                        "SELECT to_json(plantsync.forget($1::text::uuid, $2::text::jsonb))::text",
                        &[&agent, &deletions],
                    )
                    .await
            }
            _ => return error(404, "PGRST202", "Could not find the function"),
        };
        match answer {
            Ok(row) => json_answer(row.get(0)),
            Err(e) => db_error(&e),
        }
    }
}

async fn simulator(plants: usize) -> Simulator {
    Simulator::start(SimulatorConfig {
        seed: 11,
        accounts: vec![
            AccountSpec::new(VendorKind::Solarman, plants, 1),
            AccountSpec::new(VendorKind::Growatt, 10, 0),
        ],
    })
    .await
    .unwrap()
}

/// A central database with the schema applied (`upstream init` over PostgreSQL, as an
/// operator runs the printed schema in Supabase's SQL editor), the endpoint in front of
/// it: the database's URL and the endpoint.
async fn central(site: &Sandbox, max_rows: usize) -> (String, String, Arc<Fake>) {
    let url = Cluster::get().database().await;
    let output = site.cmd().env("PLANTSYNC_UPSTREAM_URL", &url).args(["upstream", "init"]).output();
    let output = output.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The endpoint works as the per-device role `upstream schema` describes, with only its
    // rights (PostgREST switches to the key's role the same way).
    let name = url.rsplit('/').next().unwrap();
    let role = format!("device_{name}");
    // The grants only: the optional row-level security block after them binds a key to
    // its agent through a JWT claim this endpoint does not make.
    let grants: Vec<String> = site
        .ok(&["upstream", "schema"])
        .lines()
        .take_while(|line| !line.contains("Those rights reach every agent's rows"))
        .filter_map(|line| line.strip_prefix("--   "))
        .filter(|line| !line.contains("TO authenticator"))
        .map(|line| line.replace("plantsync_device", &role).replace("NOLOGIN", "LOGIN"))
        .collect();
    assert!(grants.len() >= 4, "{grants:?}");
    connect(&url).await.batch_execute(&grants.join("\n")).await.unwrap();
    let as_device = url.replacen("//postgres:", &format!("//{role}:"), 1);
    let (rest, fake) = Fake::start(&as_device, max_rows).await;
    (url, rest, fake)
}

fn local_count(sandbox: &Sandbox, table: &str) -> i64 {
    sqlite3(&sandbox.db(), &format!("SELECT count(*) FROM {table}")).trim().parse().unwrap()
}

/// `push --format json` through PostgREST at `rest` with `key`: the output.
fn push_with(
    sandbox: &Sandbox,
    rest: &str,
    key: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> std::process::Output {
    let mut cmd = sandbox.cmd();
    cmd.env("PLANTSYNC_UPSTREAM_URL", rest).env("PLANTSYNC_UPSTREAM_API_KEY", key);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.args(["push", "--format", "json"]).args(extra).output().unwrap()
}

/// A successful push's report; the key never shows.
fn push(sandbox: &Sandbox, rest: &str, env: &[(&str, &str)], extra: &[&str]) -> Value {
    let output = push_with(sandbox, rest, KEY, env, extra);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "push failed: {stderr}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY), "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn table_entry<'a>(report: &'a Value, table: &str) -> &'a Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()
}

async fn central_count(url: &str, table: &str) -> i64 {
    number(&connect(url).await, &format!("SELECT count(*) FROM plantsync.{table}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_push_through_postgrest_delivers_every_row_with_exact_requests() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, fake) = central(&site, 7).await;

    let report = push(&site, &rest, &[("PLANTSYNC_UPSTREAM_BATCH_ROWS", "7")], &[]);
    for table in TABLES {
        let local = local_count(&site, table);
        assert!(local > 0, "{table} is empty locally");
        assert_eq!(table_entry(&report, table)["sent"], local, "{table}: {report}");
        assert_eq!(central_count(&url, table).await, local, "{table} centrally");
        let upserts = fake.upserts(table);
        assert_eq!(upserts.iter().map(|s| s.rows as i64).sum::<i64>(), local, "{upserts:?}");
        assert!(upserts.iter().all(|s| s.rows <= 7 && s.status == 201), "{upserts:?}");
    }
    // Every request was one the endpoint took as it is.
    let seen = fake.seen();
    assert!(seen.iter().all(|s| s.status < 300), "{seen:?}");
    // The receipt, read through rpc/receipt, matches every table.
    let receipt = report["receipt"]["tables"].as_array().unwrap();
    assert_eq!(receipt.len(), TABLES.len(), "{report}");
    assert!(receipt.iter().all(|t| t["verdict"] == "matches"), "{report}");
    assert!(seen.iter().any(|s| s.path == "/rest/v1/rpc/receipt"), "{seen:?}");
    // The values arrived typed: a plant's energy, its flag and its source version.
    let local = sqlite3(
        &site.db(),
        "SELECT vendor_plant_id || ' ' || total_energy_kwh || ' ' || change_seq || ' ' || is_active
         FROM plants ORDER BY id LIMIT 1",
    );
    let parts: Vec<&str> = local.split_whitespace().collect();
    let row = connect(&url)
        .await
        .query_one(
            "SELECT total_energy_kwh, source_version, is_active, deleted
             FROM plantsync.plants WHERE vendor_plant_id = $1",
            &[&parts[0]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), parts[1].parse::<f64>().unwrap());
    assert_eq!(row.get::<_, i64>(1), parts[2].parse::<i64>().unwrap());
    assert_eq!(row.get::<_, bool>(2), parts[3] == "1");
    assert!(!row.get::<_, bool>(3));

    // `upstream init` over PostgREST says where to run the schema instead.
    let init = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &rest)
        .env("PLANTSYNC_UPSTREAM_API_KEY", KEY)
        .args(["upstream", "init"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&init.stderr);
    assert!(!init.status.success());
    assert!(said.contains("plantsync upstream schema") && said.contains("SQL editor"), "{said}");
    // The key shows nowhere: not in `config show`, not in the logs.
    let shown = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &rest)
        .env("PLANTSYNC_UPSTREAM_API_KEY", KEY)
        .args(["config", "show"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("upstream.api_key") && !shown.contains(KEY), "{shown}");
    assert!(!site.logs().contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_push_through_postgrest_sends_only_the_changed_rows() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, fake) = central(&site, 100).await;
    push(&site, &rest, &[], &[]);
    let before = fake.upserts("plants").len();
    let days_before = fake.upserts("plant_days").len();
    let confirmed: i64 = sqlite3(
        &site.db(),
        "SELECT acknowledged_seq FROM upstream_watermarks WHERE table_name = 'plant_days'",
    )
    .trim()
    .parse()
    .unwrap();

    for plant in [2, 5, 11] {
        sim.touch_plant(0, plant);
    }
    site.ok(&["sync", "plants", "--vendor", "v0"]);
    // The days the sync changed (today's of the touched plants, at most): in the plants'
    // live slots until the push copies them, and counted as pending by `status`.
    let unchanged_rows: i64 = sqlite3(
        &site.db(),
        &format!("SELECT count(*) FROM plant_days WHERE change_seq > {confirmed}"),
    )
    .trim()
    .parse()
    .unwrap();
    assert_eq!(unchanged_rows, 0, "the sync writes no day row");
    let status = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &rest)
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let changed_days = status["upstream"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "plant_days")
        .and_then(|t| t["pending"].as_i64())
        .unwrap();
    assert!((1..=3).contains(&changed_days), "{changed_days}: {status}");
    let report = push(&site, &rest, &[], &[]);
    assert_eq!(table_entry(&report, "plants")["sent"], 3, "{report}");
    assert_eq!(table_entry(&report, "plant_days")["sent"], changed_days, "{report}");
    let days: usize = fake.upserts("plant_days")[days_before..].iter().map(|s| s.rows).sum();
    assert_eq!(days as i64, changed_days, "only the changed days travelled");
    let plants = fake.upserts("plants");
    let rows: Vec<usize> = plants[before..].iter().map(|s| s.rows).collect();
    assert_eq!(rows, [3], "only the changed plants travelled: {plants:?}");
    assert!(fake.upserts("organizations").len() == 1, "organizations unchanged");
    let newest =
        number(&connect(&url).await, "SELECT max(source_version) FROM plantsync.plants").await;
    let local: i64 =
        sqlite3(&site.db(), "SELECT max(change_seq) FROM plants").trim().parse().unwrap();
    assert_eq!(newest, local);
    let receipt = report["receipt"]["tables"].as_array().unwrap();
    assert!(receipt.iter().all(|t| t["verdict"] == "matches"), "{report}");

    // A vendor deleted at the site travels as a deletion (rpc/forget): its rows are marked
    // deleted centrally, and the receipt still matches.
    site.ok(&["vendor", "remove", "v1", "--force"]);
    let report = push(&site, &rest, &[], &[]);
    assert!(report["deletions_sent"].as_i64().unwrap() >= 1, "{report}");
    assert!(fake.seen().iter().any(|s| s.path == "/rest/v1/rpc/forget" && s.status == 200));
    let central = connect(&url).await;
    let gone = number(&central, "SELECT count(*) FROM plantsync.vendors WHERE deleted").await;
    assert_eq!(gone, 1);
    let live = number(&central, "SELECT count(*) FROM plantsync.plants WHERE NOT deleted").await;
    assert_eq!(live, local_count(&site, "plants"));
    // Its plants' days with them.
    let live = number(&central, "SELECT count(*) FROM plantsync.plant_days WHERE NOT deleted");
    assert_eq!(live.await, local_count(&site, "plant_days"));
    let gone = "SELECT count(*) FROM plantsync.plant_days WHERE deleted AND NOT is_active";
    assert!(number(&central, gone).await > 0);
    let receipt = report["receipt"]["tables"].as_array().unwrap();
    assert!(receipt.iter().all(|t| t["verdict"] == "matches"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_old_batch_through_postgrest_changes_nothing() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, _fake) = central(&site, 100).await;
    let old = Sandbox::new();
    std::fs::create_dir_all(old.data_dir()).unwrap();
    sqlite3(&site.db(), &format!("VACUUM INTO '{}'", old.db().display()));

    sim.touch_plant(0, 4);
    site.ok(&["sync", "plants", "--vendor", "v0"]);
    push(&site, &rest, &[], &[]);
    let newest = "SELECT vendor_plant_id, total_energy_kwh, source_version FROM plantsync.plants
                  WHERE source_version = (SELECT max(source_version) FROM plantsync.plants)";
    let central = connect(&url).await;
    let before = central.query_one(newest, &[]).await.unwrap();
    let snapshot = "SELECT string_agg(vendor_plant_id || ':' || source_version, ',' ORDER BY 1)
                    FROM plantsync.plants";
    let all_before: String = central.query_one(snapshot, &[]).await.unwrap().get(0);

    // The old copy (the same agent, older versions of every row) pushes everything.
    let replay = push(&old, &rest, &[], &["--full"]);
    assert_eq!(table_entry(&replay, "plants")["sent"], local_count(&old, "plants"), "{replay}");
    let after = central.query_one(newest, &[]).await.unwrap();
    assert_eq!(after.get::<_, String>(0), before.get::<_, String>(0));
    assert_eq!(after.get::<_, i64>(2), before.get::<_, i64>(2));
    assert_eq!(after.get::<_, Option<f64>>(1), before.get::<_, Option<f64>>(1));
    let all_after: String = central.query_one(snapshot, &[]).await.unwrap().get(0);
    assert_eq!(all_after, all_before, "no central row went back to an older version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_fails_clearly_acknowledges_nothing_and_never_shows() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, fake) = central(&site, 100).await;
    let wrong = "wrong-key-77c3a1";

    let output = push_with(&site, &rest, wrong, &[], &[]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("HTTP 401") && said.contains("upstream.api_key"), "{said}");
    assert!(said.contains("nothing is lost"), "{said}");
    assert!(!said.contains(wrong) && !said.contains(KEY), "{said}");
    assert!(fake.seen().iter().all(|s| s.status == 401), "{:?}", fake.seen());
    for table in TABLES {
        assert_eq!(central_count(&url, table).await, 0, "{table}");
    }
    let status = site
        .cmd()
        .env("PLANTSYNC_UPSTREAM_URL", &rest)
        .env("PLANTSYNC_UPSTREAM_API_KEY", wrong)
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let upstream = &status["upstream"];
    for table in upstream["tables"].as_array().unwrap() {
        assert_eq!(table["acknowledged_seq"], 0, "nothing acknowledged: {upstream}");
        let name = table["table"].as_str().unwrap();
        assert_eq!(table["pending"], local_count(&site, name), "{upstream}");
    }
    assert_eq!(upstream["last_push"]["ok"], false, "{upstream}");
    assert!(!status.to_string().contains(wrong), "{status}");
    assert!(!site.logs().contains(wrong));

    // No key at all: a clear config error before any request.
    let requests = fake.seen().len();
    let output = site.cmd().env("PLANTSYNC_UPSTREAM_URL", &rest).args(["push"]).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(said.contains("upstream.api_key (PLANTSYNC_UPSTREAM_API_KEY) is not set"), "{said}");
    assert_eq!(fake.seen().len(), requests, "no request without a key");
    // A key no header can carry: said in words, not quoted, nothing sent.
    let output = push_with(&site, &rest, "line\nbreak-key-31", &[], &[]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(said.contains("cannot carry") && !said.contains("break-key-31"), "{said}");
    assert_eq!(fake.seen().len(), requests, "no request with an unusable key");

    // The right key then delivers everything.
    let report = push(&site, &rest, &[], &[]);
    assert_eq!(central_count(&url, "plants").await, local_count(&site, "plants"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgrest_refuses_for_its_values_is_set_aside_and_the_rest_arrives() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, fake) = central(&site, 100).await;
    let refused =
        sqlite3(&site.db(), "SELECT vendor_plant_id FROM plants ORDER BY id LIMIT 1 OFFSET 5");
    let refused = refused.trim().to_owned();
    connect(&url)
        .await
        .batch_execute(&format!(
            "ALTER TABLE plantsync.plants ADD CONSTRAINT not_this_one
             CHECK (vendor_plant_id <> '{refused}')"
        ))
        .await
        .unwrap();

    let report = push(&site, &rest, &[], &[]);
    let plants = local_count(&site, "plants");
    assert_eq!(report["rejected"], 1, "{report}");
    assert_eq!(table_entry(&report, "plants")["sent"], plants - 1, "{report}");
    assert_eq!(central_count(&url, "plants").await, plants - 1);
    assert_eq!(central_count(&url, "alerts").await, local_count(&site, "alerts"), "later tables");
    // PostgREST said 400 with SQLSTATE 23514 for the batches holding the row.
    assert!(
        fake.upserts("plants").iter().any(|s| s.status == 400 && s.rows == 1),
        "{:?}",
        fake.seen()
    );
    let listed = site.ok(&["upstream", "rejected", "--format", "json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["table"], "plants");
    assert_eq!(entries[0]["key"][1], refused.as_str(), "{listed}");
    let why = entries[0]["error"].as_str().unwrap();
    assert!(why.contains("HTTP 400 23514") && why.contains("not_this_one"), "{why}");
    assert!(!why.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgrest_requests_stay_within_100_rows_and_1_mb() {
    let sim = simulator(250).await;
    let site = synced(&sim);
    let (url, rest, fake) = central(&site, 100).await;
    // Two plants with a raw record of 700 000 characters: no two fit in one megabyte.
    let big = 700_000;
    sqlite3(
        &site.db(),
        &format!(
            "UPDATE plants SET raw_json = '{{\"pad\":\"' || replace(hex(zeroblob({})), '0', 'x') || '\"}}'
             WHERE id IN (SELECT id FROM plants ORDER BY change_seq, id LIMIT 2 OFFSET 40)",
            big / 2
        ),
    );
    let report = push(&site, &rest, &[("PLANTSYNC_UPSTREAM_PUSH_RAW_JSON", "true")], &[]);
    let plants = local_count(&site, "plants");
    assert!(plants >= 260, "{plants}");
    assert_eq!(table_entry(&report, "plants")["sent"], plants, "{report}");
    assert_eq!(central_count(&url, "plants").await, plants);
    let upserts = fake.upserts("plants");
    assert!(upserts.iter().all(|s| s.status == 201), "{upserts:?}");
    assert!(upserts.iter().all(|s| s.rows <= 100 && s.bytes <= MAX_BODY), "{upserts:?}");
    assert!(upserts.iter().any(|s| s.bytes > big), "the big rows travelled: {upserts:?}");
    // One batch of the push (1000 rows) went in requests cut by rows and by bytes: a
    // request before the last with fewer than 100 rows was cut by its size.
    assert!(upserts.len() >= 3, "{upserts:?}");
    let (_, before_last) = upserts.split_last().unwrap();
    assert!(before_last.iter().any(|s| s.rows < 100), "{upserts:?}");
    assert!(before_last.iter().any(|s| s.rows == 100), "{upserts:?}");
    let raw =
        number(&connect(&url).await, "SELECT max(length(raw_json))::bigint FROM plantsync.plants")
            .await;
    assert_eq!(raw, big as i64 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_bundle_imported_through_postgrest_twice_delivers_once() {
    let sim = simulator(20).await;
    let site = synced(&sim);
    let (url, rest, _fake) = central(&site, 100).await;
    let carried = tempfile::tempdir().unwrap();
    let file = carried.path().join("site.bundle");
    let output = site.cmd().args(["upstream", "export"]).arg(&file).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A connected machine with no data dir of the site imports it, twice.
    let machine = Sandbox::new();
    for _ in 0..2 {
        let output = machine
            .cmd()
            .env("PLANTSYNC_UPSTREAM_URL", &rest)
            .env("PLANTSYNC_UPSTREAM_API_KEY", KEY)
            .args(["upstream", "import", "--format", "json"])
            .arg(&file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(!said.contains(KEY) && !String::from_utf8_lossy(&output.stdout).contains(KEY));
        for table in TABLES {
            assert_eq!(central_count(&url, table).await, local_count(&site, table), "{table}");
        }
    }
    // The site's next push learns it from the read-back and sends nothing more.
    let report = push(&site, &rest, &[], &[]);
    assert_eq!(report["rows_sent"], 0, "{report}");
    let receipt = report["receipt"]["tables"].as_array().unwrap();
    assert!(receipt.iter().all(|t| t["verdict"] == "matches"), "{report}");
}
