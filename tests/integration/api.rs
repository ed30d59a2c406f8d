//! The control API over real HTTP on loopback, with the real engine and the simulator.

use crate::sync::Harness;
use plantsync::api::wire::{RunResponse, StatusResponse};
use plantsync::api::{ApiState, ServeLimits, metrics::Metrics, router, serve};
use plantsync::domain::{Secret, VendorKind};
use plantsync::schedule::{
    Coordinator, Decision, RestrictedWindow, Runner, ScheduleSettings, Served, TokioClock,
};
use plantsync::simulator::AccountSpec;
use std::sync::Arc;
use std::time::Duration;

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    harness: Harness,
}

const CRON_SECRET: &str = "cron-secret-for-tests";

/// The API over a harness with two vendors, its clock fixed at `ist` (wall time).
async fn api(ist: &str) -> Api {
    api_with(
        ist,
        vec![
            AccountSpec::new(VendorKind::Solarman, 20, 1),
            AccountSpec::new(VendorKind::Sungrow, 20, 1),
        ],
        true,
    )
    .await
}

/// `loop_enabled` is `sync.enabled` (`ENABLE_PLANT_SYNC_CRON`): the agent's own loop.
async fn api_with(ist: &str, accounts: Vec<AccountSpec>, loop_enabled: bool) -> Api {
    api_limited(ist, accounts, loop_enabled, ServeLimits::default()).await
}

/// [`api_with`], served within `limits`.
async fn api_limited(
    ist: &str,
    accounts: Vec<AccountSpec>,
    loop_enabled: bool,
    limits: ServeLimits,
) -> Api {
    let harness = Harness::new(accounts).await;
    let data_dir = harness.store.path().parent().unwrap().to_path_buf();
    let token = plantsync::datadir::token::rotate(&data_dir).unwrap();
    let runner: Arc<dyn Runner> = Arc::new(Arc::clone(&harness.engine));
    let start = chrono::DateTime::parse_from_rfc3339(ist).unwrap().with_timezone(&chrono::Utc);
    let schedule = ScheduleSettings {
        plants_enabled: loop_enabled,
        plants_cron: "*/15 * * * *".parse().unwrap(),
        alerts_enabled: loop_enabled,
        alerts_cron: "*/30 * * * *".parse().unwrap(),
        alerts_respect_window: true,
        window: RestrictedWindow {
            start: "19:00".parse().unwrap(),
            end: "06:00".parse().unwrap(),
            zone: chrono_tz::Asia::Kolkata,
        },
        jitter: Duration::ZERO,
    };
    let state = ApiState {
        coordinator: Coordinator::new(runner),
        store: harness.store.clone(),
        data_dir,
        cron_secret: Some(Secret::new(CRON_SECRET)),
        schedule: Arc::new(schedule),
        clock: Arc::new(TokioClock::starting_at(start)),
        metrics: Arc::new(Metrics::default()),
        bind: "127.0.0.1".parse().unwrap(),
        pusher: None,
        stop: std::sync::Arc::new(tokio::sync::Notify::new()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router(state), limits, std::future::pending()));
    let client = plantsync::vendors::http::plain_client(Duration::from_secs(30)).unwrap();
    Api { base, token: token.expose().to_owned(), client, harness }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let mut request =
            if method == "POST" { self.client.post(url) } else { self.client.get(url) };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }
}

/// Method, path, bearer token, extra headers, expected status.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)], u16);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix() {
    let api = api("2026-11-29T11:00:00+05:30").await;
    let token = api.token.clone();
    let cases: Vec<Case<'_>> = vec![
        ("GET", "/healthz", None, &[], 200),
        ("GET", "/api/status", None, &[], 401),
        ("GET", "/api/status", Some("wrong-token"), &[], 401),
        ("GET", "/api/status", Some(&token), &[], 200),
        ("GET", "/api/status", Some(CRON_SECRET), &[], 401),
        ("GET", "/metrics", None, &[], 401),
        ("GET", "/metrics", Some(&token), &[], 200),
        ("POST", "/api/cron/sync-plants", Some(CRON_SECRET), &[], 401),
        ("POST", "/api/pause", Some("wrong"), &[], 401),
        // Stopping the agent takes the admin token, never the cron secret.
        ("POST", "/api/stop", None, &[], 401),
        ("POST", "/api/stop", Some(CRON_SECRET), &[], 401),
        ("POST", "/api/stop", Some(&token), &[("Origin", "http://evil.example")], 403),
        ("GET", "/api/status", Some(&token), &[("Host", "evil.example:80")], 403),
        ("GET", "/api/status", Some(&token), &[("Host", "192.168.0.10")], 403),
        ("GET", "/healthz", None, &[("Host", "attacker.test")], 403),
        ("GET", "/api/status", Some(&token), &[("Origin", "http://localhost:3000")], 403),
        ("GET", "/api/nothing", Some(&token), &[], 404),
    ];
    for (method, path, bearer, headers, expected) in cases {
        let (status, body) = api.call(method, path, bearer, headers).await;
        assert_eq!(status, expected, "{method} {path} {bearer:?} {headers:?}: {body}");
        if status >= 400 {
            assert!(body["error"].is_string(), "errors are JSON {{\"error\": ...}}: {body}");
        }
    }
    // The cron GET accepts the CRON_SECRET (and the admin token); outside the window it runs.
    let (status, body) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Plant sync completed");
    assert_eq!(body["summary"]["totalVendors"], 2);
    assert_eq!(body["served"], "started");
    let (status, _) = api.call("GET", "/api/cron/sync-alerts", Some(&token), &[]).await;
    assert_eq!(status, 200);
    // Nothing is due a second later: a decision, recorded as such, and no empty run.
    let runs_before = api.harness.store.list_runs(Default::default()).await.unwrap().len();
    let (_, again) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!((&again["success"], &again["reason"]), (&true.into(), &"not_due".into()), "{again}");
    assert!(again.get("skipped").is_none(), "the original sent skipped only with success false");
    assert_eq!(again["message"], "Plant sync completed", "the original's shape: {again}");
    assert_eq!(again["summary"]["totalVendors"], 0, "the original's shape: {again}");
    assert!(again.get("runId").is_none(), "{again}");
    assert_eq!(api.harness.store.list_runs(Default::default()).await.unwrap().len(), runs_before);
    let (_, status) = api.call("GET", "/api/status", Some(&token), &[]).await;
    assert_eq!(status["schedule"]["plants"]["last_decision"]["decision"], "not_due", "{status}");

    // Unknown names are the caller's mistake: HTTP 400, nothing recorded.
    for query in ["vendor=nope", "org=Nowhere"] {
        let path = format!("/api/cron/sync-plants?{query}");
        let (status, body) = api.call("POST", &path, Some(&token), &[]).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["success"], false);
        assert!(body["error"].as_str().unwrap().contains("not found"), "{body}");
    }
    assert_eq!(api.harness.store.list_runs(Default::default()).await.unwrap().len(), runs_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_skips_the_cron_get_but_not_the_manual_trigger() {
    let api = api("2026-11-29T20:00:00+05:30").await;
    let (status, body) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], false);
    assert_eq!(body["skipped"], true);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Sync skipped - in restricted time window (19:00 - 06:00"),
        "{body}"
    );
    // The next run that will happen is the first tick at or after 06:00 IST (the ticks
    // until then are skipped), not the next tick at 20:15; both vendors are due then.
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    let next = serde_json::json!({"next": "at", "at": "2026-11-30T00:30:00.000Z", "vendors": 2});
    assert_eq!((&status["next"]["plants"], &status["next"]["alerts"]), (&next, &next), "{status}");
    let (status, body) = api.call("POST", "/api/cron/sync-plants", Some(&api.token), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["successful"], 2);
    assert_eq!(body["summary"]["totalPlantsSynced"], 40);
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["window"]["active"], true);
    // 20:00 IST: scheduled syncs may run again at 06:00 IST, 00:30 UTC.
    assert_eq!(status["window"]["opens_at"], "2026-11-30T00:30:00.000Z", "{status}");

    assert_eq!(status["store"]["plants"], 40);
    assert_eq!(status["schedule"]["plants"]["last_run_status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_endpoint_syncs_with_the_loop_switched_off() {
    // ENABLE_PLANT_SYNC_CRON=false stops the agent's own loop, not an external cron.
    let accounts = vec![AccountSpec::new(VendorKind::Sungrow, 5, 0)];
    let api = api_with("2026-11-29T11:00:00+05:30", accounts, false).await;
    let (status, body) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["totalPlantsSynced"], 5, "{body}");
}

impl Api {
    /// Waits until `waiting` requests wait on the running plant sync (or the test times out).
    async fn until_waiting(&self, waiting: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = self.call("GET", "/api/status", Some(&self.token), &[]).await;
            if status["schedule"]["plants"]["waiting"] == waiting {
                assert_eq!(status["schedule"]["plants"]["running"], true, "{status}");
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never {waiting} waiting: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn post(&self, path: &'static str) -> tokio::task::JoinHandle<serde_json::Value> {
        let (client, url, token) =
            (self.client.clone(), format!("{}{path}", self.base), self.token.clone());
        tokio::spawn(async move {
            let response = client.post(url).bearer_auth(token).send().await.unwrap();
            response.json().await.unwrap()
        })
    }

    fn cron_get(&self) -> tokio::task::JoinHandle<serde_json::Value> {
        let (client, url) = (self.client.clone(), format!("{}/api/cron/sync-plants", self.base));
        tokio::spawn(async move {
            let response = client.get(url).bearer_auth(CRON_SECRET).send().await.unwrap();
            response.json().await.unwrap()
        })
    }
}

fn vendors_of(body: &serde_json::Value) -> Vec<String> {
    let results = body["summary"]["results"].as_array().unwrap();
    results.iter().map(|r| r["vendorName"].as_str().unwrap().to_owned()).collect()
}

/// Single flight that respects the selection, made deterministic by holding the Solarman
/// account's plant list in the simulator until every request is waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_a_run_of_its_own_vendors() {
    let api = api("2026-11-29T11:00:00+05:30").await;
    let sim = &api.harness.sim;

    // 1. A manual run of both vendors is going; the cron tick finds both due and covered by
    //    it, so it joins that run instead of stacking a second.
    //    Both accounts are held, so neither can finish (and stop being due) before the
    //    tick is decided.
    sim.hold(0);
    sim.hold(1);
    let all = api.post("/api/cron/sync-plants");
    sim.wait_until_held(0).await;
    sim.wait_until_held(1).await;
    let tick = api.cron_get();
    api.until_waiting(1).await;
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    let current = &status["schedule"]["plants"]["current"];
    assert_eq!((&current["vendors"], &current["source"]), (&2.into(), &"api".into()), "{status}");
    assert_eq!(current["progress"]["vendors_total"], 2, "{status}");
    assert_eq!(current["progress"]["vendors_done"], 0, "both held: {status}");
    sim.release(0);
    sim.release(1);
    let (all, tick) = (all.await.unwrap(), tick.await.unwrap());
    assert_eq!((&all["served"], &tick["served"]), (&"started".into(), &"joined".into()));
    assert_eq!(all["runId"], tick["runId"], "one run served both");
    assert_eq!(vendors_of(&tick), ["acct-0", "acct-1"]);
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["schedule"]["plants"]["last_decision"]["decision"], "coalesced");
    // The answers are the typed wire structs the CLI and the tray read.
    let typed: StatusResponse = serde_json::from_value(status).unwrap();
    assert_eq!(typed.schedule.plants.last_decision, Some(Decision::Coalesced));
    let typed: RunResponse = serde_json::from_value(tick.clone()).unwrap();
    assert_eq!(typed.served, Some(Served::Joined));
    assert_eq!(typed.report().map(|r| r.summary.total_vendors), Some(2));

    // 2. A run of acct-0 alone is going. Another request for acct-0 joins it and hears
    //    about acct-0 only; a request for both waits for it, then runs its own.
    sim.hold(0);
    let first = api.post("/api/cron/sync-plants?vendor=acct-0");
    sim.wait_until_held(0).await;
    let same = api.post("/api/cron/sync-plants?vendor=acct-0");
    let wider = api.post("/api/cron/sync-plants");
    api.until_waiting(2).await;
    sim.release(0);
    let (first, same, wider) = (first.await.unwrap(), same.await.unwrap(), wider.await.unwrap());
    assert_eq!(vendors_of(&first), ["acct-0"]);
    assert_eq!((&same["served"], &same["runId"]), (&"joined".into(), &first["runId"]));
    assert_eq!(vendors_of(&same), ["acct-0"]);
    assert_eq!(same["summary"]["totalPlantsSynced"], 20);
    assert_eq!(wider["served"], "queued");
    assert_ne!(wider["runId"], first["runId"], "its own run, after the narrow one");
    assert_eq!(vendors_of(&wider), ["acct-0", "acct-1"]);
    assert_eq!(wider["summary"]["totalPlantsSynced"], 40);
    let runs = api.harness.store.list_runs(Default::default()).await.unwrap();
    assert_eq!(runs.len(), 3, "the first run, the narrow one, the wider one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_metrics() {
    // Today, 11:00 in Kolkata: the sync below runs on the real clock, and the next slot
    // after it must lie within the schedule's look-ahead from the API's clock.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Kolkata).date_naive();
    let api = api(&format!("{today}T11:00:00+05:30")).await;
    let (status, body) = api.call("POST", "/api/cron/sync-plants", Some(&api.token), &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.call("POST", "/api/pause", Some(&api.token), &[]).await;
    assert_eq!((status, body["paused"].as_bool()), (200, Some(true)));
    let (_, skipped) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(skipped["skipped"], true, "the cron endpoint respects a pause: {skipped}");
    assert_eq!(skipped["reason"], "paused");
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["schedule"]["paused"], true);
    assert_eq!(status["next"]["plants"], serde_json::json!({"next": "paused"}), "{status}");
    api.call("POST", "/api/resume", Some(&api.token), &[]).await;
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["schedule"]["paused"], false);
    assert_eq!(status["next"]["plants"]["next"], "at", "{status}");
    let (_, metrics) = api.call("GET", "/metrics", Some(&api.token), &[]).await;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("plantsync_plants{active=\"true\"} 40"), "{text}");
    assert!(text.contains("# TYPE plantsync_runs_total counter"), "{text}");
}

/// Sends `request` as raw bytes on a fresh connection and reads until the server closes it:
/// the status line's code and the body (for requests reqwest cannot or will not send).
async fn raw(base: &str, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

/// The `error` of a JSON error body, or a panic naming what came instead.
fn json_error(code: u16, body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("HTTP {code}: the body is not JSON: {body:?}"));
    value["error"].as_str().unwrap_or_else(|| panic!("HTTP {code}: no error: {value}")).to_owned()
}

/// The Host check reads every `Host` header and the request target: a second Host, or an
/// absolute-form target naming another host, is refused with a JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_or_an_absolute_target_is_refused() {
    let api = api("2026-11-29T11:00:00+05:30").await;
    let auth = format!("Authorization: Bearer {}\r\n", api.token);
    let ok =
        format!("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    assert_eq!(raw(&api.base, &ok).await.0, 200, "the well-formed request passes");
    let requests = [
        format!(
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n{auth}Connection: close\r\n\r\n"
        ),
        "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            .to_owned(),
        format!(
            "GET http://evil.example/api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
        ),
        "GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            .to_owned(),
    ];
    for request in requests {
        let (code, body) = raw(&api.base, &request).await;
        assert_eq!(code, 400, "{request:?}: {body}");
        json_error(code, &body);
    }
}

/// Bad queries and unknown names are the caller's mistake, answered 400 (404 for a path or
/// id that does not exist) with a JSON body; so are unknown routes and wrong methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_the_right_status() {
    let api = api("2026-11-29T11:00:00+05:30").await;
    let runs_before = api.harness.store.list_runs(Default::default()).await.unwrap().len();
    let cases: [(&str, &str, u16); 9] = [
        ("POST", "/api/cron/sync-plants?vendor=abc", 400),
        ("POST", "/api/cron/sync-plants?vendor=999", 400),
        ("POST", "/api/cron/sync-alerts?org=999", 400),
        ("POST", "/api/cron/sync-plants?org=Nowhere", 400),
        ("POST", "/api/cron/sync-plants?force=maybe", 400),
        ("POST", "/api/cron/sync-plants?vendor=%FF%FE", 400),
        ("GET", "/api/nothing", 404),
        ("DELETE", "/api/status", 405),
        ("PUT", "/api/pause", 405),
    ];
    for (method, path, expected) in cases {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            api.token
        );
        let (code, body) = raw(&api.base, &request).await;
        assert_eq!(code, expected, "{method} {path}: {body}");
        let error = json_error(code, &body);
        assert!(!error.is_empty(), "{method} {path}: {body}");
    }
    assert_eq!(
        api.harness.store.list_runs(Default::default()).await.unwrap().len(),
        runs_before,
        "nothing was recorded"
    );
}

/// Reads until the server closes the connection; the guard only turns a server that never
/// closes into a failure instead of a hang (no threshold: the close is what is asserted).
async fn closed_by_server(stream: &mut tokio::net::TcpStream, what: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "{what}: the server never closed the connection");
    String::from_utf8_lossy(&seen).into_owned()
}

/// A connection that never delivers a whole request head (a slowloris trickle, half a head,
/// nothing at all, or nothing more after an answer) is closed by the server once the
/// header-read timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_whole_request_head_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits =
        ServeLimits { header_read_timeout: Duration::from_millis(300), max_connections: 16 };
    let accounts = vec![AccountSpec::new(VendorKind::Sungrow, 1, 0)];
    let api = api_limited("2026-11-29T11:00:00+05:30", accounts, true, limits).await;
    let address = api.base.trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(address.clone());

    let mut silent = connect().await.unwrap();
    assert_eq!(closed_by_server(&mut silent, "a silent connection").await, "");

    let mut half = connect().await.unwrap();
    half.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    closed_by_server(&mut half, "half a request head").await;

    // One header value, a byte every 50 ms, for ever: the head is never whole, and it
    // stays far below every size limit of hyper's (a trickle of whole header lines would
    // be cut by its 100-header limit with a 431, timeout or not).
    let trickle = connect().await.unwrap();
    let (mut reader, mut writer) = trickle.into_split();
    let writing = tokio::spawn(async move {
        let head = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        if writer.write_all(head).await.is_ok() {
            // Until the server's close makes a write fail.
            while writer.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "a slowloris trickle: the server never closed the connection");
    let seen = String::from_utf8_lossy(&seen);
    assert!(!seen.contains(" 431 "), "closed by the timeout, not a size limit: {seen}");
    writing.abort();

    // A kept-alive connection that asks nothing more after its answer.
    let mut idle = connect().await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let answer = closed_by_server(&mut idle, "an idle kept-alive connection").await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer:?}");
}

/// With `max_connections` open, one more connection is answered 503 (JSON) and closed, while
/// the open ones keep working; once one closes, a new connection is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = ServeLimits { header_read_timeout: Duration::from_secs(300), max_connections: 4 };
    let accounts = vec![AccountSpec::new(VendorKind::Sungrow, 1, 0)];
    let api = api_limited("2026-11-29T11:00:00+05:30", accounts, true, limits).await;
    let address = api.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // Accepted in order: this one comes after the four have their places.
    let mut surplus = tokio::net::TcpStream::connect(&address).await.unwrap();
    let answer = closed_by_server(&mut surplus, "a connection over the cap").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    assert!(json_error(503, body).contains("too many open connections"), "{body}");

    // The held connections are served as usual.
    let mut first = held.remove(0);
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // Its place comes back once the server has closed it (a moment after the client saw the
    // close): a new connection is served then.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let (code, _) = raw(&api.base, request).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 503, "only the cap may refuse it");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(held);
}
