//! The simulator over real HTTP on loopback: logins, listings, every fault signal, the
//! counters. Each test starts its own server on a free port.

use super::*;
use crate::domain::VendorKind::{Solarman, Sungrow};
use serde_json::{Value, json};
use std::time::Instant;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

fn config(accounts: Vec<AccountSpec>) -> SimulatorConfig {
    SimulatorConfig { seed: 42, accounts }
}

fn with_faults(kind: VendorKind, plants: usize, faults: Faults) -> AccountSpec {
    AccountSpec { faults, ..AccountSpec::new(kind, plants, 2) }
}

/// A Solarman session: logs in and posts with the Bearer token.
struct Sm {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Sm {
    async fn login(sim: &Simulator, index: usize) -> Sm {
        let http = client();
        let base = sim.base_url(Solarman);
        let (status, body) = sm_token(&http, sim, index).await;
        assert_eq!(status, 200);
        assert_eq!(body["success"], true, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        Sm { http, base, token }
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, body: Value) -> Value {
        let response = self.post(path, body).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

async fn sm_token(http: &reqwest::Client, sim: &Simulator, index: usize) -> (u16, Value) {
    let creds = sim.credentials(index);
    let response = http
        .post(format!("{}/account/v1.0/token?appId={}", sim.base_url(Solarman), creds.app_id))
        .json(&json!({
            "appSecret": creds.app_secret,
            "username": creds.username,
            "password": state::sha256_hex(&creds.password),
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A Sungrow session: logs in and posts with appkey, x-access-key and the body token.
struct Sg {
    http: reqwest::Client,
    base: String,
    creds: SimCredentials,
    token: String,
}

impl Sg {
    fn new(sim: &Simulator, index: usize) -> Sg {
        Sg {
            http: client(),
            base: sim.base_url(Sungrow),
            creds: sim.credentials(index),
            token: String::new(),
        }
    }

    async fn login(sim: &Simulator, index: usize) -> Sg {
        let mut sg = Sg::new(sim, index);
        let password = sg.creds.password.clone();
        let body = sg.login_with(&password).await;
        assert_eq!(body["result_data"]["login_state"], "1", "{body}");
        sg.token = body["result_data"]["token"].as_str().unwrap().to_owned();
        sg
    }

    async fn login_with(&self, password: &str) -> Value {
        self.raw(
            "/openapi/login",
            &self.creds.app_secret,
            json!({
                "user_account": self.creds.username,
                "user_password": password,
                "login_type": "1",
            }),
        )
        .await
        .json()
        .await
        .unwrap()
    }

    async fn raw(&self, path: &str, access_key: &str, mut body: Value) -> reqwest::Response {
        body["appkey"] = json!(self.creds.app_id);
        body["lang"] = json!("_en_US");
        if !self.token.is_empty() {
            body["token"] = json!(self.token);
        }
        self.http
            .post(format!("{}{path}", self.base))
            .header("x-access-key", access_key)
            .header("sys_code", "901")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, body: Value) -> Value {
        let response = self.raw(path, &self.creds.app_secret, body).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Every plant id of a Solarman account, paging with `size`.
async fn sm_all_ids(sm: &Sm, size: u64) -> (Vec<Value>, u64) {
    let mut ids = Vec::new();
    let mut total = 0;
    for page in 1..=10 {
        let body =
            sm.json("/station/v1.0/list?language=en", json!({"page": page, "size": size})).await;
        total = body["total"].as_u64().unwrap();
        let list = body["stationList"].as_array().unwrap();
        ids.extend(list.iter().map(|s| s["id"].clone()));
        if list.len() < size as usize {
            break;
        }
    }
    (ids, total)
}

#[tokio::test]
async fn solarman_login_and_paged_station_list() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Solarman, 25, 2)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;

    // The token is JWT-shaped and its payload carries `exp` about 60 days ahead.
    let payload = sm.token.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE.decode(payload).unwrap()).unwrap();
    let in_60_days = chrono::Utc::now().timestamp() + 5_183_999;
    assert!((payload["exp"].as_i64().unwrap() - in_60_days).abs() < 5);

    let first = sm.json("/station/v1.0/list", json!({"page": 1, "size": 10})).await;
    assert_eq!(first["success"], true);
    assert_eq!(first["code"], Value::Null);
    assert_eq!(first["total"], 25);
    let station = &first["stationList"][0];
    for key in [
        "id",
        "name",
        "type",
        "installedCapacity",
        "locationLat",
        "locationLng",
        "locationAddress",
        "regionNationId",
        "regionTimezone",
        "gridInterconnectionType",
        "networkStatus",
        "generationPower",
        "batterySoc",
        "lastUpdateTime",
        "createdDate",
        "startOperatingTime",
        "stationImage",
    ] {
        assert!(station.get(key).is_some(), "missing {key} in {station}");
    }
    assert!(station["id"].is_u64() && station["installedCapacity"].is_f64());
    assert!(station["lastUpdateTime"].is_f64());
    let list = first["stationList"].as_array().unwrap();
    assert!(list.iter().any(|s| s["networkStatus"] == " ALL_OFFLINE"));
    assert!(list.iter().any(|s| s["generationPower"] == 0.0));
    let zones: Vec<&str> = list.iter().map(|s| s["regionTimezone"].as_str().unwrap()).collect();
    assert!(zones.contains(&"Asia/Kolkata") && zones.contains(&"Europe/Berlin"));

    let (ids, total) = sm_all_ids(&sm, 10).await;
    let expected: Vec<Value> =
        sim.plant_ids(0).iter().map(|id| json!(id.parse::<u64>().unwrap())).collect();
    assert_eq!((ids, total), (expected, 25));
    // No body means page 1 of 20; sizes above 100 are capped.
    let default = sm.json("/station/v1.0/list", Value::Null).await;
    assert_eq!(default["stationList"].as_array().unwrap().len(), 20);

    assert_eq!(sim.requests(0, Endpoint::Login), 1);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 5);
    assert_eq!(sim.tokens_issued(0), 1);
    sim.shutdown().await;
}

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as URL_SAFE;

#[tokio::test]
async fn solarman_realtime_devices_and_alert_window() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Solarman, 6, 3)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;
    let station_id: u64 = sim.plant_ids(0)[0].parse().unwrap();

    let realtime = sm.json("/station/v1.0/realTime", json!({"stationId": station_id})).await;
    assert_eq!(realtime["success"], true);
    assert!(realtime["generationTotal"].is_f64() && realtime["lastUpdateTime"].is_f64());
    let missing = sm.json("/station/v1.0/realTime", json!({"stationId": 1})).await;
    assert_eq!(
        (missing["success"].clone(), missing["code"].clone()),
        (json!(false), json!("2101030"))
    );

    let devices = sm
        .json("/station/v1.0/device", json!({"stationId": station_id, "page": 1, "size": 20}))
        .await;
    let first = &devices["deviceListItems"][0];
    assert_eq!(first["deviceType"], "INVERTER");
    let sn = first["deviceSn"].as_str().unwrap().to_owned();

    let now = chrono::Utc::now().timestamp();
    let window = |from: i64| json!({"deviceSn": sn, "startTimestamp": from, "endTimestamp": now, "page": 1, "size": 100});
    let all = sm.json("/device/v1.0/alertList", window(now - 4 * 86_400)).await;
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["deviceSn"], sn.as_str());
    let times: Vec<i64> = all["alertList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alertTime"].as_i64().unwrap())
        .collect();
    assert!(times.iter().all(|&t| t > now - 3 * 86_400 && t < now));
    // A window starting after the oldest alert leaves it out.
    let oldest = *times.iter().min().unwrap();
    let recent = sm.json("/device/v1.0/alertList", window(oldest + 1)).await;
    assert_eq!(
        recent["total"].as_u64().unwrap() as usize,
        times.iter().filter(|&&t| t > oldest).count()
    );
    // Without a window the call is refused.
    let refused = sm.json("/device/v1.0/alertList", json!({"deviceSn": sn})).await;
    assert_eq!(refused["success"], false);

    // Ended alerts are no longer listed (Solarman has no end time).
    assert_eq!(sim.resolve_alerts(0), 18);
    let after = sm.json("/device/v1.0/alertList", window(now - 4 * 86_400)).await;
    assert_eq!(after["total"], 0);
    assert_eq!(sim.requests(0, Endpoint::Alerts), 4);
    assert_eq!(sim.requests(0, Endpoint::Devices), 1);
    assert_eq!(sim.requests(0, Endpoint::Realtime), 2);
}

#[tokio::test]
async fn solarman_rejects_bad_credentials_and_tokens() {
    let faults = Faults { reject_login: true, ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Solarman, 3, faults)])).await.unwrap();
    let http = client();
    let (status, body) = sm_token(&http, &sim, 0).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "2101006");
    assert_eq!(sim.tokens_issued(0), 0);

    // A plain (unhashed) password is wrong too.
    sim.set_faults(0, Faults::none());
    let creds = sim.credentials(0);
    let plain: Value = http
        .post(format!("{}/account/v1.0/token?appId={}", sim.base_url(Solarman), creds.app_id))
        .json(&json!({"appSecret": creds.app_secret, "username": creds.username, "password": creds.password}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(plain["success"], false);

    let mut sm = Sm::login(&sim, 0).await;
    assert_eq!(sim.tokens_issued(0), 1);
    assert_eq!(sim.requests(0, Endpoint::Login), 3);
    sm.token = "not-a-token".to_owned();
    let response = sm.post("/station/v1.0/list", json!({})).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"code": "2101019", "msg": "auth invalid token", "success": false}));
    // An unknown token cannot be attributed to the account.
    assert_eq!(sim.requests(0, Endpoint::PlantList), 0);
}

#[tokio::test]
async fn token_expires_after_n_requests_and_relogin_renews_it() {
    let faults = Faults { token_expires_after: Some(2), ..Faults::none() };
    let sim = Simulator::start(config(vec![
        with_faults(Solarman, 3, faults.clone()),
        with_faults(Sungrow, 3, faults),
    ]))
    .await
    .unwrap();

    let sm = Sm::login(&sim, 0).await;
    for _ in 0..2 {
        assert_eq!(sm.post("/station/v1.0/list", json!({})).await.status(), 200);
    }
    let expired = sm.post("/station/v1.0/list", json!({})).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 3);
    let sm = Sm::login(&sim, 0).await;
    assert_eq!(sm.post("/station/v1.0/list", json!({})).await.status(), 200);
    assert_eq!(sim.tokens_issued(0), 2);

    let sg = Sg::login(&sim, 1).await;
    for _ in 0..2 {
        let ok = sg.json("/openapi/getPowerStationList", json!({"curPage": 1, "size": 10})).await;
        assert_eq!(ok["result_code"], "1");
    }
    let expired = sg.json("/openapi/getPowerStationList", json!({"curPage": 1, "size": 10})).await;
    assert_eq!(expired["result_code"], "E00003");
    assert_eq!(expired["result_msg"], "er_token_login_invalid");
    assert_eq!(expired["result_data"], Value::Null);
    let sg = Sg::login(&sim, 1).await;
    let ok = sg.json("/openapi/getPowerStationList", json!({"curPage": 1, "size": 10})).await;
    assert_eq!(ok["result_code"], "1");
    assert_eq!(sim.tokens_issued(1), 2);
    assert_eq!(sim.requests(1, Endpoint::PlantList), 4);
}

#[tokio::test]
async fn sungrow_login_list_and_both_key_spellings() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(Sungrow, 25, 2),
        AccountSpec::new(Sungrow, 12, 2),
    ]))
    .await
    .unwrap();
    let even = Sg::login(&sim, 0).await;
    let body = even.json("/openapi/getPowerStationList", json!({"curPage": 1, "size": 100})).await;
    assert_eq!(body["result_code"], "1");
    assert!(body["req_serial_num"].as_str().unwrap().len() == 32);
    let data = &body["result_data"];
    assert_eq!(data["rowCount"], 25);
    let list = data["pageList"].as_array().unwrap();
    assert_eq!(list.len(), 25);
    let plant = &list[0];
    assert!(plant["ps_id"].is_u64());
    assert_eq!(plant["total_capcity"]["unit"], "kWp");
    assert!(plant["total_capcity"]["value"].is_string());
    assert!(plant["curr_power_update_time"].as_str().unwrap().ends_with("+08:00"));
    assert!(list.iter().any(|p| p["curr_power"]["unit"] == "kW"));
    assert!(list.iter().any(|p| p["curr_power"]["value"] == "0"));
    assert!(list.iter().any(|p| p["today_energy"]["value"] == "--"));
    assert!(list.iter().any(|p| p["total_energy"]["unit"] == "MWh"));
    assert!(list.iter().any(|p| p["ps_status"] == 0));
    let zones: Vec<&str> =
        list.iter().map(|p| p["ps_current_time_zone"].as_str().unwrap()).collect();
    assert!(zones.contains(&"GMT+8") && zones.contains(&"GMT+5:30"));

    let odd = Sg::login(&sim, 1).await;
    let body = odd.json("/openapi/getPowerStationList", json!({"curPage": "2", "size": "5"})).await;
    let data = &body["result_data"];
    assert_eq!(data["row_count"], 12);
    let ids: Vec<String> =
        data["page_list"].as_array().unwrap().iter().map(|p| p["ps_id"].to_string()).collect();
    assert_eq!(ids, sim.plant_ids(1)[5..10]);
    assert!(data.get("rowCount").is_none());

    // Accounts do not see each other's data, even with a valid token of another account.
    let mut stolen = Sg::new(&sim, 1);
    stolen.token = even.token.clone();
    let body = stolen.json("/openapi/getPowerStationList", json!({})).await;
    assert_eq!(body["result_code"], "E00003");
}

#[tokio::test]
async fn sungrow_login_rejection_and_key_checks() {
    let faults = Faults { reject_login: true, ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Sungrow, 2, faults)])).await.unwrap();
    let sg = Sg::new(&sim, 0);
    let rejected = sg.login_with(&sg.creds.password).await;
    // The trap: result_code says success, login_state says no.
    assert_eq!(rejected["result_code"], "1");
    assert_eq!(rejected["result_data"]["login_state"], "0");
    assert_eq!(rejected["result_data"]["token"], Value::Null);
    sim.set_faults(0, Faults::none());
    let wrong = sg.login_with("wrong").await;
    assert_eq!(wrong["result_data"]["login_state"], "0");
    assert_eq!(sim.tokens_issued(0), 0);

    let bad_key: Value =
        sg.raw("/openapi/login", "wrong-key", json!({})).await.json().await.unwrap();
    assert_eq!(bad_key["result_code"], "E912");
    let mut other = Sg::new(&sim, 0);
    other.creds.app_id = "unknown-app".to_owned();
    let bad_app: Value =
        other.raw("/openapi/login", &sg.creds.app_secret, json!({})).await.json().await.unwrap();
    assert_eq!(bad_app["result_code"], "er_invalid_appkey");
    // Both were attributed to the account (by appkey, then by x-access-key).
    assert_eq!(sim.requests(0, Endpoint::Login), 4);
    let no_token = sg.json("/openapi/getPowerStationList", json!({})).await;
    assert_eq!(no_token["result_code"], "E00003");
}

#[tokio::test]
async fn sungrow_fault_list_filters_and_resolve() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Sungrow, 4, 2)])).await.unwrap();
    let sg = Sg::login(&sim, 0).await;
    let faults = |ps_id: &str, status: &str| json!({"ps_id": ps_id, "process_status": status, "page": 1, "size": 100});
    let all = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "999")).await;
    let data = &all["result_data"];
    assert_eq!(data["rowCount"], 8);
    let item = &data["pageList"][0];
    assert!(item["ps_id"].is_string());
    assert!(item["ps_key"].as_str().unwrap().ends_with("_1_1_1"));
    assert_eq!(item["create_time"].as_str().unwrap().len(), 14);
    let open = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "8")).await;
    assert_eq!(open["result_data"]["rowCount"], 4);
    let closed = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "9")).await;
    assert!(
        closed["result_data"]["pageList"].as_array().unwrap().iter().all(|f| f["over_time"]
            .as_str()
            .unwrap()
            .len()
            == 14)
    );
    let one =
        sg.json("/openapi/platform/getFaultAlarmInfo", faults(&sim.plant_ids(0)[1], "999")).await;
    assert_eq!(one["result_data"]["rowCount"], 2);

    sim.remove_plant(0, 1);
    assert_eq!(sim.plant_ids(0).len(), 3);
    assert_eq!(sim.resolve_alerts(0), 3);
    let open = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "8")).await;
    assert_eq!(open["result_data"]["rowCount"], 0);
    let all = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "999")).await;
    assert_eq!(all["result_data"]["rowCount"], 6);
    let list = sg.json("/openapi/getPowerStationList", json!({})).await;
    assert_eq!(list["result_data"]["rowCount"], 3);
    assert_eq!(sim.requests(0, Endpoint::Alerts), 6);
}

#[tokio::test]
async fn same_seed_same_portal() {
    let cfg = || config(vec![AccountSpec::new(Solarman, 8, 1), AccountSpec::new(Sungrow, 8, 1)]);
    let a = Simulator::start(cfg()).await.unwrap();
    let b = Simulator::start(cfg()).await.unwrap();
    let other = Simulator::start(SimulatorConfig { seed: 43, ..cfg() }).await.unwrap();
    for index in 0..2 {
        assert_eq!(a.plants(index), b.plants(index));
        assert_ne!(a.plants(index), other.plants(index));
        let (ca, cb) = (a.credentials(index), b.credentials(index));
        assert_eq!(
            (ca.username, ca.password, ca.app_secret),
            (cb.username, cb.password, cb.app_secret)
        );
    }
    // Over the wire: same names, capacities and places.
    let strip = |v: Value| -> Vec<Value> {
        v["stationList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!([s["id"], s["name"], s["installedCapacity"], s["locationLat"]]))
            .collect()
    };
    let la = strip(Sm::login(&a, 0).await.json("/station/v1.0/list", json!({})).await);
    let lb = strip(Sm::login(&b, 0).await.json("/station/v1.0/list", json!({})).await);
    assert_eq!(la, lb);
    assert_ne!(a.credentials(0).app_secret, a.credentials(1).app_secret);
}

#[tokio::test]
async fn http_error_is_an_html_page() {
    let faults = Faults {
        http_error: Some((502, Trigger::once(Some(Endpoint::PlantList), 1))),
        ..Faults::none()
    };
    let sim = Simulator::start(config(vec![with_faults(Solarman, 3, faults)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;
    let response = sm.post("/station/v1.0/list", json!({})).await;
    assert_eq!(response.status(), 502);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(
        response.text().await.unwrap(),
        "<html><body><h1>502 Bad Gateway</h1></body></html>"
    );
    // Only once: the retry succeeds, and both were counted.
    assert_eq!(sm.post("/station/v1.0/list", json!({})).await.status(), 200);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 2);
}

#[tokio::test]
async fn rate_limit_signals() {
    let limit =
        Faults { rate_limit: Some(Trigger::once(Some(Endpoint::PlantList), 1)), ..Faults::none() };
    let sim = Simulator::start(config(vec![
        with_faults(Solarman, 3, limit.clone()),
        with_faults(Sungrow, 3, limit),
    ]))
    .await
    .unwrap();
    let sm = Sm::login(&sim, 0).await;
    let response = sm.post("/station/v1.0/list", json!({})).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"success": false, "code": "429", "msg": "Too many requests"}));
    assert_eq!(sm.post("/station/v1.0/list", json!({})).await.status(), 200);

    let sg = Sg::login(&sim, 1).await;
    let limited = sg.json("/openapi/getPowerStationList", json!({})).await;
    assert_eq!(limited["result_code"], "E999");
    assert_eq!(limited["result_data"], Value::Null);
    let ok = sg.json("/openapi/getPowerStationList", json!({})).await;
    assert_eq!(ok["result_code"], "1");
}

#[tokio::test]
async fn truncated_json_does_not_parse() {
    let faults = Faults {
        truncated_json: Some(Trigger::once(Some(Endpoint::PlantList), 1)),
        ..Faults::none()
    };
    let sim = Simulator::start(config(vec![with_faults(Sungrow, 5, faults)])).await.unwrap();
    let sg = Sg::login(&sim, 0).await;
    let response = sg.raw("/openapi/getPowerStationList", &sg.creds.app_secret, json!({})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.bytes().await.unwrap();
    assert!(!bytes.is_empty());
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    let full = sg.raw("/openapi/getPowerStationList", &sg.creds.app_secret, json!({})).await;
    let full = full.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&full).is_ok());
    // Half of a body of the same length (only the request serial differs).
    assert_eq!(bytes.len(), full.len() / 2);
}

#[tokio::test]
async fn slow_body_sends_headers_then_waits() {
    let hold = Duration::from_millis(400);
    let twice = Trigger { endpoint: Some(Endpoint::PlantList), nth: 1, times: 2 };
    let faults = Faults { slow_body: Some((hold, twice)), ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Solarman, 3, faults)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;

    let started = Instant::now();
    let response = sm.post("/station/v1.0/list", json!({})).await;
    let headers_after = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let body_after = started.elapsed();
    assert!(headers_after < hold / 2, "headers took {headers_after:?}");
    assert!(body_after >= hold, "body came after {body_after:?}");
    assert_eq!(body["total"], 3);

    // A client whose timeout is shorter than the hold gets the headers, then times out.
    let impatient = reqwest::Client::builder().timeout(hold / 2).build().unwrap();
    let response = impatient
        .post(format!("{}/station/v1.0/list", sm.base))
        .bearer_auth(&sm.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap_err().is_timeout());

    // The trigger has run out: the next call (on a kept-alive connection) is fast again.
    let started = Instant::now();
    sm.json("/station/v1.0/list", json!({})).await;
    assert!(started.elapsed() < hold / 2);
}

#[tokio::test]
async fn latency_delays_every_response() {
    let faults = Faults { latency: Duration::from_millis(150), ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Solarman, 3, faults)])).await.unwrap();
    let started = Instant::now();
    let sm = Sm::login(&sim, 0).await;
    sm.json("/station/v1.0/list", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn plant_list_body_faults() {
    let faults = Faults {
        wrong_type_plant: Some(1),
        missing_field_plant: Some(2),
        duplicate_ids_across_pages: true,
        ..Faults::none()
    };
    let sim = Simulator::start(config(vec![
        with_faults(Solarman, 12, faults.clone()),
        with_faults(Sungrow, 12, Faults { empty_pages_from: Some(2), ..faults }),
    ]))
    .await
    .unwrap();
    let sm = Sm::login(&sim, 0).await;
    let page1 = sm.json("/station/v1.0/list", json!({"page": 1, "size": 5})).await;
    let list = page1["stationList"].as_array().unwrap();
    assert_eq!(list[1]["installedCapacity"], true);
    assert!(list[2].get("id").is_none());
    let page2 = sm.json("/station/v1.0/list", json!({"page": 2, "size": 5})).await;
    assert_eq!(page2["total"], 12);
    assert_eq!(page2["stationList"][0]["id"], list[4]["id"]);

    let sg = Sg::login(&sim, 1).await;
    let page1 = sg.json("/openapi/getPowerStationList", json!({"curPage": 1, "size": 5})).await;
    let list = page1["result_data"]["page_list"].as_array().unwrap();
    assert_eq!(list[1]["total_capcity"], true);
    assert!(list[2].get("ps_id").is_none());
    let page2 = sg.json("/openapi/getPowerStationList", json!({"curPage": 2, "size": 5})).await;
    assert_eq!(page2["result_data"]["row_count"], 12);
    assert_eq!(page2["result_data"]["page_list"], json!([]));
}

#[tokio::test]
async fn unimplemented_kinds_and_demo_config() {
    let error = Simulator::start(config(vec![AccountSpec::new(VendorKind::Huawei, 1, 1)]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("huawei"), "{error}");

    let demo = demo_config(7);
    assert_eq!(demo.accounts.len(), 2);
    assert!(
        demo.accounts
            .iter()
            .all(|a| a.plants == 25 && a.alerts_per_plant == 2 && a.faults == Faults::none())
    );
    let sim = Simulator::start(demo).await.unwrap();
    assert!(sim.base_url(Sungrow).ends_with("/sungrow"));
    assert!(sim.base_url(Solarman).starts_with(&format!("http://{}", sim.addr())));
    assert_eq!(sim.plant_ids(0).len(), 25);
    let all: Vec<String> = sim.plant_ids(0).into_iter().chain(sim.plant_ids(1)).collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    sim.shutdown().await;
}
