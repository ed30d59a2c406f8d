//! The control API over real HTTP on loopback, with the real engine and the simulator.

use crate::sync::Harness;
use plantsync::api::{ApiState, metrics::Metrics, router};
use plantsync::domain::{Secret, VendorKind};
use plantsync::schedule::{Coordinator, RestrictedWindow, Runner, TokioClock};
use plantsync::simulator::AccountSpec;
use std::sync::Arc;

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    _harness: Harness,
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
    )
    .await
}

async fn api_with(ist: &str, accounts: Vec<AccountSpec>) -> Api {
    let harness = Harness::new(accounts).await;
    let data_dir = harness.store.path().parent().unwrap().to_path_buf();
    let token = plantsync::agent::token::rotate(&data_dir).unwrap();
    let runner: Arc<dyn Runner> = Arc::new(Arc::clone(&harness.engine));
    let start = chrono::DateTime::parse_from_rfc3339(ist).unwrap().with_timezone(&chrono::Utc);
    let state = ApiState {
        coordinator: Coordinator::new(runner),
        store: harness.store.clone(),
        data_dir,
        cron_secret: Some(Secret::new(CRON_SECRET)),
        window: RestrictedWindow {
            start: "19:00".parse().unwrap(),
            end: "06:00".parse().unwrap(),
            zone: chrono_tz::Asia::Kolkata,
        },
        alerts_respect_window: true,
        clock: Arc::new(TokioClock::starting_at(start)),
        metrics: Arc::new(Metrics::default()),
        bind: "127.0.0.1".parse().unwrap(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    let client =
        plantsync::vendors::http::plain_client(std::time::Duration::from_secs(30)).unwrap();
    Api { base, token: token.expose().to_owned(), client, _harness: harness }
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
    let (status, _) = api.call("GET", "/api/cron/sync-alerts", Some(&token), &[]).await;
    assert_eq!(status, 200);
    // Nothing is due a second later: a run with no vendors, in the original shape.
    let (_, again) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(again["summary"]["totalVendors"], 0, "{again}");
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
    let (status, body) = api.call("POST", "/api/cron/sync-plants", Some(&api.token), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["successful"], 2);
    assert_eq!(body["summary"]["totalPlantsSynced"], 40);
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["window"]["active"], true);
    assert_eq!(status["store"]["plants"], 40);
    assert_eq!(status["schedule"]["plants"]["last_run_status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_triggers_share_one_run_and_pause_resume() {
    // Slow responses make the run outlast the arrival of all three triggers.
    let slow = plantsync::simulator::Faults {
        latency: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let accounts = vec![
        AccountSpec { faults: slow.clone(), ..AccountSpec::new(VendorKind::Solarman, 20, 1) },
        AccountSpec { faults: slow, ..AccountSpec::new(VendorKind::Sungrow, 20, 1) },
    ];
    let api = api_with("2026-11-29T11:00:00+05:30", accounts).await;
    let (a, b, c) = tokio::join!(
        api.call("POST", "/api/cron/sync-plants", Some(&api.token), &[]),
        api.call("POST", "/api/cron/sync-plants", Some(&api.token), &[]),
        api.call("POST", "/api/cron/sync-plants?vendor=acct-0", Some(&api.token), &[]),
    );
    let ids: Vec<i64> =
        [&a, &b, &c].iter().map(|(_, body)| body["runId"].as_i64().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one run served every trigger: {ids:?}");
    let runs = api._harness.store.list_runs(Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);

    let (status, body) = api.call("POST", "/api/pause", Some(&api.token), &[]).await;
    assert_eq!((status, body["paused"].as_bool()), (200, Some(true)));
    let (_, skipped) = api.call("GET", "/api/cron/sync-plants", Some(CRON_SECRET), &[]).await;
    assert_eq!(skipped["skipped"], true, "the cron endpoint respects a pause: {skipped}");
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["schedule"]["paused"], true);
    api.call("POST", "/api/resume", Some(&api.token), &[]).await;
    let (_, status) = api.call("GET", "/api/status", Some(&api.token), &[]).await;
    assert_eq!(status["schedule"]["paused"], false);
    let (_, metrics) = api.call("GET", "/metrics", Some(&api.token), &[]).await;
    let text = metrics.as_str().unwrap();
    // Whichever trigger arrived first chose the run's vendors (all, or only acct-0).
    let synced = a.1["summary"]["totalPlantsSynced"].as_u64().unwrap();
    assert!(synced == 40 || synced == 20, "{a:?}");
    assert!(text.contains(&format!("plantsync_plants{{active=\"true\"}} {synced}")), "{text}");
    assert!(text.contains("# TYPE plantsync_runs_total counter"), "{text}");
}
