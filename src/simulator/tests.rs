//! The simulator over real HTTP on loopback: logins, listings, every fault signal, the
//! counters. Each test starts its own server on a free port.

use super::*;
use crate::domain::VendorKind::{Growatt, Huawei, SolarEdge, Solarman, Sungrow};
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
    let list = first["stationList"].as_array().unwrap();
    // The shapes themselves are held to the real recording in
    // `solarman_station_rows_have_the_recorded_shape`.
    assert!(list.iter().any(|s| s["networkStatus"] == "ALL_OFFLINE"), "unpadded, as recorded");
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

/// The JSON kind of a value, telling integers from floats (`54.45` and
/// `1730387897.000000000` are floats, ids integers).
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of the rows of a station list, with the kinds seen for it.
fn station_shape(
    rows: &[Value],
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<&'static str>> {
    let mut shape = std::collections::BTreeMap::<_, std::collections::BTreeSet<_>>::new();
    for row in rows {
        for (key, value) in row.as_object().unwrap() {
            shape.entry(key.clone()).or_default().insert(json_kind(value));
        }
    }
    shape
}

#[tokio::test]
async fn solarman_station_rows_have_the_recorded_shape() {
    // The real list (UNHCR Nigeria, tests/fixtures/solarman/SOURCES.md) is the model: the
    // simulator sends the same keys (no more, none left out) with the same kinds.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/solarman/recorded/station_list__unhcr.json"
    );
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut want = station_shape(recorded["stationList"].as_array().unwrap());
    // The recorded stations all have a battery; a station without one says null.
    want.get_mut("batterySoc").unwrap().insert("null");

    let sim = Simulator::start(config(vec![AccountSpec::new(Solarman, 30, 1)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;
    let page = sm.json("/station/v1.0/list", json!({"page": 1, "size": 30})).await;
    let got = station_shape(page["stationList"].as_array().unwrap());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the recorded keys, no more, none left out"
    );
    for (key, kinds) in &got {
        assert!(kinds.is_subset(&want[key]), "{key}: sent {kinds:?}, recorded {:?}", want[key]);
    }
    // The envelope as documented (the recording's list envelope is reconstructed).
    for key in ["code", "msg", "success", "requestId", "total", "stationList"] {
        assert!(page.get(key).is_some(), "envelope key {key} in {page}");
    }
    assert_eq!((page["code"].clone(), page["msg"].clone()), (Value::Null, Value::Null));
    sim.shutdown().await;
}

#[tokio::test]
async fn solarman_realtime_devices_and_alert_window() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Solarman, 6, 3)])).await.unwrap();
    let sm = Sm::login(&sim, 0).await;
    let station_id: u64 = sim.plant_ids(0)[0].parse().unwrap();

    let realtime = sm.json("/station/v1.0/realTime", json!({"stationId": station_id})).await;
    assert_eq!(realtime["success"], true);
    assert!(realtime["generationTotal"].is_f64() && realtime["lastUpdateTime"].is_f64());
    // Every key of the PDF's realtime example, of its kind or null (no meter, no battery).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/solarman/recorded/realtime__pdfsample_partial.json"
    );
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (key, value) in sample.as_object().unwrap() {
        let sent = realtime.get(key).unwrap_or_else(|| panic!("{key} missing in {realtime}"));
        assert!(
            sent.is_null() || json_kind(sent) == json_kind(value),
            "{key}: sent {sent}, the example has {value}"
        );
    }
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
    // As recorded: energies in `度` for some plants, each reading with its own update time.
    assert!(list.iter().any(|p| p["today_energy"]["unit"] == "度"));
    for p in list {
        assert_eq!(p["today_energy_update_time"], p["curr_power_update_time"]);
        assert_eq!(p["today_income"], json!({"unit": "", "value": "--"}));
        assert!(p["equivalent_hour"]["value"].is_string());
        let chinese = p["today_energy"]["unit"] == "度";
        assert_eq!(p["co2_reduce_total"]["unit"], if chinese { "千克" } else { "kg" });
    }
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
    // As documented: a numeric ps_id, an occurrence id beside the type's code.
    assert!(item["ps_id"].is_u64());
    assert!(item["ps_key"].as_str().unwrap().ends_with("_1_1_1"));
    assert_eq!(item["create_time"].as_str().unwrap().len(), 19);
    let type_code = item["fault_type_code"].as_str().unwrap();
    assert!(item["fault_code"].as_str().unwrap().starts_with(&format!("{type_code}.")));
    let open = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "8")).await;
    assert_eq!(open["result_data"]["rowCount"], 4);
    let closed = sg.json("/openapi/platform/getFaultAlarmInfo", faults("", "9")).await;
    assert!(
        closed["result_data"]["pageList"].as_array().unwrap().iter().all(|f| f["over_time"]
            .as_str()
            .unwrap()
            .len()
            == 19)
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

/// `Faults::mutate` spoils every finished reply of the account, each request its own way
/// and the same way on another server with the same seed; a clean account is untouched.
#[tokio::test]
async fn mutated_replies_vary_per_request_and_repeat_per_seed() {
    let cfg = || config(vec![AccountSpec::new(Solarman, 4, 1)]);
    let (a, b) = (Simulator::start(cfg()).await.unwrap(), Simulator::start(cfg()).await.unwrap());
    let (sa, sb) = (Sm::login(&a, 0).await, Sm::login(&b, 0).await);
    async fn body(sm: &Sm) -> Vec<u8> {
        sm.post("/station/v1.0/list", json!({})).await.bytes().await.unwrap().to_vec()
    }
    let clean = body(&sa).await;
    assert!(clean == body(&sb).await, "two servers of one seed answer alike");
    for sim in [&a, &b] {
        sim.set_faults(0, Faults { mutate: Some(5), ..Faults::none() });
    }
    let mut replies = Vec::new();
    for _ in 0..4 {
        let (ra, rb) = (body(&sa).await, body(&sb).await);
        assert!(ra == rb, "the same seed and request number, the same bytes");
        assert!(ra != clean, "spoiled");
        replies.push(ra);
    }
    replies.dedup();
    assert!(replies.len() > 1, "each request its own mutations");
    a.set_faults(0, Faults::none());
    // The portal's `requestId` counts requests; the rest is the clean reply again.
    let without_id = |bytes: &[u8]| {
        let mut value: Value = serde_json::from_slice(bytes).unwrap();
        value.as_object_mut().unwrap().remove("requestId");
        value
    };
    let again = body(&sa).await;
    assert!(without_id(&again) == without_id(&clean), "switched off, the portal behaves");
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
    assert_eq!((sim.rate_limited(0), sim.rate_limited(1)), (1, 1));
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
async fn demo_config_serves_every_kind() {
    let demo = demo_config(7);
    let kinds: Vec<VendorKind> = demo.accounts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Solarman, Sungrow, SolarEdge, Huawei, Growatt]);
    assert!(
        demo.accounts
            .iter()
            .all(|a| a.plants == 25 && a.alerts_per_plant == 2 && a.faults == Faults::none())
    );
    let sim = Simulator::start(demo).await.unwrap();
    for kind in VendorKind::ALL {
        assert!(sim.base_url(*kind).ends_with(&format!("/{kind}")));
    }
    assert!(sim.base_url(Solarman).starts_with(&format!("http://{}", sim.addr())));
    assert_eq!(sim.plant_ids(0).len(), 25);
    let all: Vec<String> = (0..5).flat_map(|i| sim.plant_ids(i)).collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 125);
    assert!(sim.plant_ids(3).iter().all(|id| id.starts_with("NE=")));
    let keys: Vec<String> = (0..5).map(|i| sim.credentials(i).api_key).collect();
    let mut unique_keys = keys.clone();
    unique_keys.sort();
    unique_keys.dedup();
    assert_eq!(unique_keys.len(), 5);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// SolarEdge

/// `GET {base}{path}` with `api_key=key` added to the query.
async fn se_get_with(sim: &Simulator, path: &str, key: &str) -> reqwest::Response {
    // v2 takes the key in a header, v1 in the query.
    if path.starts_with("/v2/") {
        let url = format!("{}{path}", sim.base_url(SolarEdge));
        return client().get(url).header("X-API-Key", key).send().await.unwrap();
    }
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}api_key={key}", sim.base_url(SolarEdge));
    client().get(url).send().await.unwrap()
}

/// `GET {base}{path}` with account `index`'s key.
async fn se_get(sim: &Simulator, index: usize, path: &str) -> reqwest::Response {
    se_get_with(sim, path, &sim.credentials(index).api_key).await
}

/// A successful SolarEdge call's JSON.
async fn se_json(sim: &Simulator, index: usize, path: &str) -> Value {
    let response = se_get(sim, index, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The ids of a `sites.site` list, as strings.
fn site_ids(body: &Value) -> Vec<String> {
    body["sites"]["site"].as_array().unwrap().iter().map(|s| s["id"].to_string()).collect()
}

/// `n` simultaneous site-list requests of account `index`; their statuses, sorted.
async fn se_concurrent(sim: &Simulator, index: usize, n: usize) -> Vec<u16> {
    let http = client();
    let url = format!(
        "{}/sites/list?api_key={}",
        sim.base_url(SolarEdge),
        sim.credentials(index).api_key
    );
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    statuses
}

/// A plant of account `index` as generated.
fn plant_of(sim: &Simulator, index: usize, plant: usize) -> data::Plant {
    sim.state.account(index).with_data(|d| d.plants[plant].clone())
}

const SE_TIME: &str = "%Y-%m-%d %H:%M:%S";

#[tokio::test]
async fn solaredge_site_list_pages_by_record_offset() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(SolarEdge, 25, 1),
        AccountSpec::new(SolarEdge, 3, 1),
    ]))
    .await
    .unwrap();

    // A wrong or missing key: HTTP 403 and no data, not attributed to any account.
    let bad = se_get_with(&sim, "/sites/list", "WRONGKEY").await;
    assert_eq!(bad.status(), 403);
    assert!(!bad.text().await.unwrap().contains("site"));
    let url = format!("{}/sites/list", sim.base_url(SolarEdge));
    assert_eq!(client().get(url).send().await.unwrap().status(), 403);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 0);

    let first = se_json(
        &sim,
        0,
        "/sites/list?size=10&startIndex=0&sortProperty=Name&sortOrder=ASC&status=Active,Pending",
    )
    .await;
    assert_eq!(first["sites"]["count"], 25);
    let site = &first["sites"]["site"][0];
    for key in [
        "id",
        "name",
        "accountId",
        "status",
        "peakPower",
        "lastUpdateTime",
        "installationDate",
        "ptoDate",
        "notes",
        "type",
        "currency",
        "location",
        "alertQuantity",
        "alertSeverity",
        "primaryModule",
        "uris",
        "publicSettings",
    ] {
        assert!(site.get(key).is_some(), "missing {key} in {site}");
    }
    for key in ["country", "city", "address", "address2", "zip", "countryCode", "timeZone"] {
        assert!(site["location"].get(key).is_some(), "missing location.{key} in {site}");
    }
    assert!(site["id"].is_u64() && site["peakPower"].is_f64());
    assert_eq!(site["ptoDate"], Value::Null);
    assert_eq!(site["installationDate"].as_str().unwrap().len(), 10);
    // Local time of the site, without an offset.
    let plant = plant_of(&sim, 0, 0);
    assert_eq!(site["location"]["timeZone"], "Europe/Amsterdam");
    // The list's time is a bare site-local date, as the real portal sends it.
    let day = data::in_zone(plant.last_update, &plant.region.timezone).format("%Y-%m-%d");
    assert_eq!(site["lastUpdateTime"], day.to_string());

    // startIndex is a record offset.
    let mut ids = Vec::new();
    for start in [0, 10, 20] {
        ids.extend(site_ids(
            &se_json(&sim, 0, &format!("/sites/list?size=10&startIndex={start}")).await,
        ));
    }
    assert_eq!(ids, sim.plant_ids(0));
    let offset = se_json(&sim, 0, "/sites/list?size=10&startIndex=5").await;
    assert_eq!(site_ids(&offset), sim.plant_ids(0)[5..15]);

    // The default size is 100; more than 100 is refused in plain text.
    let all = se_json(&sim, 0, "/sites/list").await;
    let sites = all["sites"]["site"].as_array().unwrap();
    assert_eq!(sites.len(), 25);
    let zones: Vec<&str> =
        sites.iter().map(|s| s["location"]["timeZone"].as_str().unwrap()).collect();
    for zone in ["Europe/Amsterdam", "Europe/Berlin", "Australia/Sydney", "America/New_York", "GMT"]
    {
        assert!(zones.contains(&zone), "{zone} not in {zones:?}");
    }
    assert!(sites.iter().any(|s| s["status"] == "Pending"));
    assert!(sites.iter().filter(|s| s["status"] == "Active").count() >= 20);
    assert!(sites.iter().all(|s| s["alertQuantity"] == 1 && s["alertSeverity"] != "NONE"));
    // A "GMT" site's times are UTC.
    let gmt = plant_of(&sim, 0, 9);
    assert_eq!(sites[9]["location"]["timeZone"], "GMT");
    let utc = data::in_zone(gmt.last_update, &chrono::Utc).format("%Y-%m-%d");
    assert_eq!(sites[9]["lastUpdateTime"], utc.to_string());
    let too_big = se_get(&sim, 0, "/sites/list?size=101").await;
    assert_eq!(too_big.status(), 400);
    assert!(serde_json::from_str::<Value>(&too_big.text().await.unwrap()).is_err());

    // Accounts see their own sites only.
    assert_eq!(se_json(&sim, 1, "/sites/list").await["sites"]["count"], 3);

    // The PDF's spelling, when asked for.
    sim.set_faults(0, Faults { solaredge_documented_list_key: true, ..Faults::none() });
    let documented = se_json(&sim, 0, "/sites/list?size=5").await;
    assert!(documented.get("sites").is_none());
    assert_eq!(documented["Sites"]["count"], 25);
    assert_eq!(documented["Sites"]["list"].as_array().unwrap().len(), 5);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 8);
}

#[tokio::test]
async fn solaredge_overviews_in_bulk_and_alone() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(SolarEdge, 12, 0),
        AccountSpec::new(SolarEdge, 2, 0),
    ]))
    .await
    .unwrap();
    let ids = sim.plant_ids(0);
    let bulk = se_json(&sim, 0, &format!("/sites/{}/overview", ids[..5].join(","))).await;
    assert_eq!(bulk["sitesOverviews"]["count"], 5);
    let list = bulk["sitesOverviews"]["siteEnergyList"].as_array().unwrap();
    let got: Vec<String> = list.iter().map(|e| e["siteId"].to_string()).collect();
    assert_eq!(got, ids[..5]);
    let overview = &list[0]["siteOverview"];
    let plant = plant_of(&sim, 0, 0);
    assert_eq!(overview["lifeTimeData"]["energy"], data::round(plant.total_kwh * 1000.0, 1));
    assert_eq!(overview["lastDayData"]["energy"], data::round(plant.today_kwh * 1000.0, 1));
    assert!(overview["lifeTimeData"]["revenue"].is_f64());
    for key in ["lastYearData", "lastMonthData", "lastDayData"] {
        assert!(overview[key]["energy"].is_f64(), "{key}");
    }
    assert_eq!(overview["measuredBy"], "INVERTER");
    // The overview's time has the clock: the list's day is its first ten characters.
    let listed = se_json(&sim, 0, "/sites/list").await;
    let time = overview["lastUpdateTime"].as_str().unwrap();
    let local = data::in_zone(plant.last_update, &plant.region.timezone).format(SE_TIME);
    assert_eq!(time, local.to_string());
    assert_eq!(listed["sites"]["site"][0]["lastUpdateTime"], time[..10]);
    // Some sites produce nothing (night, offline).
    let powers: Vec<f64> =
        list.iter().map(|e| e["siteOverview"]["currentPower"]["power"].as_f64().unwrap()).collect();
    assert!(powers.contains(&0.0) && powers.iter().any(|&p| p > 0.0));

    let single = se_json(&sim, 0, &format!("/site/{}/overview", ids[2])).await;
    assert_eq!(single["overview"], list[2]["siteOverview"]);

    // A site outside the account refuses the whole call; more than 100 ids are malformed.
    let foreign = &sim.plant_ids(1)[0];
    let mixed = format!("/sites/{},{foreign}/overview", ids[0]);
    assert_eq!(se_get(&sim, 0, &mixed).await.status(), 403);
    assert_eq!(se_get(&sim, 0, &format!("/site/{foreign}/overview")).await.status(), 403);
    let many = vec![ids[0].clone(); 101].join(",");
    assert_eq!(se_get(&sim, 0, &format!("/sites/{many}/overview")).await.status(), 400);
    // A removed site is no longer the account's.
    sim.remove_plant(0, 0);
    assert_eq!(se_get(&sim, 0, &format!("/site/{}/overview", ids[0])).await.status(), 403);
    assert_eq!(sim.requests(0, Endpoint::Realtime), 6);
}

#[tokio::test]
async fn solaredge_daily_budget_and_concurrency_limit() {
    let budget = Faults { solaredge_daily_limit: Some(3), ..Faults::none() };
    let slow = Faults { latency: Duration::from_millis(300), ..Faults::none() };
    let sim = Simulator::start(config(vec![
        with_faults(SolarEdge, 2, budget),
        with_faults(SolarEdge, 2, slow),
    ]))
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(se_get(&sim, 0, "/sites/list").await.status(), 200);
    }
    let over = se_get(&sim, 0, "/sites/list").await;
    assert_eq!(over.status(), 429);
    assert!(over.bytes().await.unwrap().is_empty());
    assert_eq!((sim.rate_limited(0), sim.requests(0, Endpoint::PlantList)), (1, 4));
    // The day's count is the portal's, not a fault trigger: it survives new faults, and
    // the refused request used the budget too.
    sim.set_faults(0, Faults { solaredge_daily_limit: Some(5), ..Faults::none() });
    assert_eq!(se_get(&sim, 0, "/v2/alerts").await.status(), 200);
    assert_eq!(se_get(&sim, 0, "/sites/list").await.status(), 429);
    assert_eq!(sim.rate_limited(0), 2);
    // A rejected key answers 403 and does not touch the budget.
    sim.set_faults(0, Faults { reject_login: true, ..Faults::none() });
    assert_eq!(se_get(&sim, 0, "/sites/list").await.status(), 403);

    // Three at once are fine; a fourth and fifth are refused (and counted).
    assert_eq!(se_concurrent(&sim, 1, 3).await, [200, 200, 200]);
    assert_eq!(sim.peak_in_flight(SolarEdge), 3);
    assert_eq!(se_concurrent(&sim, 1, 5).await, [200, 200, 200, 429, 429]);
    assert_eq!(sim.peak_in_flight(SolarEdge), 5);
    assert_eq!((sim.rate_limited(1), sim.requests(1, Endpoint::PlantList)), (2, 8));
    assert_eq!(sim.peak_in_flight(Huawei), 0);
}

#[tokio::test]
async fn solaredge_v2_alerts_are_the_open_ones() {
    let sim = Simulator::start(config(vec![AccountSpec::new(SolarEdge, 4, 2)])).await.unwrap();
    let url = format!("{}/v2/alerts", sim.base_url(SolarEdge));
    let key = sim.credentials(0).api_key;
    let response = client().get(&url).header("X-API-Key", &key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let alerts: Value = response.json().await.unwrap();
    let list = alerts.as_array().unwrap();
    assert_eq!(list.len(), 8);
    let ids = sim.plant_ids(0);
    let now = chrono::Utc::now().timestamp();
    for alert in list {
        assert!(ids.contains(&alert["siteId"].to_string()), "{alert}");
        let kind = alert["type"].as_str().unwrap();
        assert!(
            [
                "SITE_COMMUNICATION_FAULT",
                "INVERTER_BELOW_THRESHOLD_LIMIT",
                "PANEL_COMMUNICATION_FAULT",
                "SNOW_ON_SITE"
            ]
            .contains(&kind)
        );
        assert!((1..=9).contains(&alert["impact"].as_u64().unwrap()));
        let first = alert["firstTrigger"].as_str().unwrap();
        assert!(first.ends_with('Z') && first.contains('T'), "{first}");
        let first = chrono::DateTime::parse_from_rfc3339(first).unwrap().timestamp();
        assert!(first < now && first > now - 3 * 86_400);
    }
    // v2 reads the header only: the v1 query parameter is no key here, nor a wrong key.
    let in_query = client().get(format!("{url}?api_key={key}")).send().await.unwrap();
    assert_eq!(in_query.status(), 403);
    let wrong = client().get(&url).header("X-API-Key", "WRONGKEY").send().await.unwrap();
    assert_eq!(wrong.status(), 403);

    // Ended alerts (and those of removed sites) are gone.
    sim.remove_plant(0, 3);
    assert_eq!(se_json(&sim, 0, "/v2/alerts").await.as_array().unwrap().len(), 6);
    assert_eq!(sim.resolve_alerts(0), 6);
    assert_eq!(se_json(&sim, 0, "/v2/alerts").await, json!([]));
    let sites = se_json(&sim, 0, "/sites/list").await;
    let sites = sites["sites"]["site"].as_array().unwrap();
    assert!(sites.iter().all(|s| s["alertQuantity"] == 0 && s["alertSeverity"] == "NONE"));

    sim.set_faults(0, Faults { solaredge_no_v2_alerts: true, ..Faults::none() });
    assert_eq!(se_get(&sim, 0, "/v2/alerts").await.status(), 403);
    assert_eq!(sim.requests(0, Endpoint::Alerts), 4, "keys in the query are not attributed");
}

// ---------------------------------------------------------------------------------------
// FusionSolar

/// `POST /thirdData/login`.
async fn fs_login(sim: &Simulator, user: &str, code: &str) -> reqwest::Response {
    client()
        .post(format!("{}/thirdData/login", sim.base_url(Huawei)))
        .json(&json!({"userName": user, "systemCode": code}))
        .send()
        .await
        .unwrap()
}

/// A FusionSolar session: logs in and posts with the `XSRF-TOKEN` header.
struct Fs {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Fs {
    async fn login(sim: &Simulator, index: usize) -> Fs {
        let creds = sim.credentials(index);
        let response = fs_login(sim, &creds.username, &creds.password).await;
        assert_eq!(response.status(), 200);
        let token = response.headers()["xsrf-token"].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], true, "{body}");
        Fs { http: client(), base: sim.base_url(Huawei), token }
    }

    async fn json(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("XSRF-TOKEN", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

fn relogin() -> Value {
    json!({"failCode": 305, "message": "USER_MUST_RELOGIN", "immediately": true})
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn fusionsolar_login_token_and_single_session() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(Huawei, 3, 1),
        with_faults(Huawei, 1, Faults { reject_login: true, ..Faults::none() }),
        with_faults(Huawei, 1, Faults { token_expires_after: Some(1), ..Faults::none() }),
    ]))
    .await
    .unwrap();
    let creds = sim.credentials(0);
    // A refusal is HTTP 200 with an empty body, as the live portal answers.
    let wrong = fs_login(&sim, &creds.username, "wrong").await;
    assert!(wrong.headers().get("xsrf-token").is_none());
    assert_eq!(wrong.status(), 200);
    assert_eq!(wrong.text().await.unwrap(), "");
    let unknown = fs_login(&sim, "nobody", &creds.password).await.text().await.unwrap();
    assert_eq!(unknown, "");
    let other = sim.credentials(1);
    let rejected = fs_login(&sim, &other.username, &other.password).await.text().await.unwrap();
    assert_eq!(rejected, "");
    assert_eq!((sim.tokens_issued(0), sim.tokens_issued(1)), (0, 0));
    assert_eq!((sim.requests(0, Endpoint::Login), sim.requests(1, Endpoint::Login)), (1, 1));

    // The token comes as a header and as a cookie.
    let ok = fs_login(&sim, &creds.username, &creds.password).await;
    let token = ok.headers()["xsrf-token"].to_str().unwrap().to_owned();
    assert_eq!(
        ok.headers()["set-cookie"],
        format!("XSRF-TOKEN={token}; Path=/; HttpOnly").as_str()
    );
    let body: Value = ok.json().await.unwrap();
    assert_eq!((&body["success"], &body["failCode"]), (&json!(true), &json!(0)));
    assert_eq!((&body["data"], &body["message"]), (&Value::Null, &Value::Null));
    assert!((body["params"]["currentTime"].as_i64().unwrap() - now_ms()).abs() < 5_000);

    // Accepted from the header in any case, or from the cookie alone.
    let stations = format!("{}/thirdData/stations", sim.base_url(Huawei));
    let http = client();
    for (name, value) in [
        ("XSRF-TOKEN", token.clone()),
        ("xsrf-token", token.clone()),
        ("cookie", format!("lang=en; XSRF-TOKEN={token}")),
    ] {
        let body: Value = http
            .post(&stations)
            .header(name, value)
            .json(&json!({"pageNo": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["success"], true, "{name}: {body}");
    }
    let anonymous: Value = http
        .post(&stations)
        .json(&json!({"pageNo": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous, relogin());

    // One session per account: a new login ends the previous token.
    let first = Fs { http: client(), base: sim.base_url(Huawei), token };
    let second = Fs::login(&sim, 0).await;
    assert_ne!(first.token, second.token);
    assert_eq!(first.json("/thirdData/stations", json!({"pageNo": 1})).await, relogin());
    assert_eq!(second.json("/thirdData/stations", json!({"pageNo": 1})).await["success"], true);
    assert_eq!(sim.tokens_issued(0), 2);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 5);

    // token_expires_after: the session ends after that many calls.
    let short = Fs::login(&sim, 2).await;
    assert_eq!(short.json("/thirdData/stations", json!({})).await["success"], true);
    assert_eq!(short.json("/thirdData/stations", json!({})).await, relogin());
    let renewed = Fs::login(&sim, 2).await;
    assert_eq!(renewed.json("/thirdData/stations", json!({})).await["success"], true);
}

#[tokio::test]
async fn fusionsolar_stations_pages_and_kpis() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Huawei, 25, 0)])).await.unwrap();
    let fs = Fs::login(&sim, 0).await;
    let mut codes = Vec::new();
    let mut page_no = 1;
    loop {
        let body = fs.json("/thirdData/stations", json!({"pageNo": page_no, "pageSize": 10})).await;
        assert_eq!(body["success"], true);
        // As recorded: a message, and no `params`.
        assert_eq!(body["message"], "get plant list success");
        assert!(body.get("params").is_none(), "{body}");
        let data = &body["data"];
        assert_eq!(
            (&data["pageNo"], &data["pageSize"], &data["pageCount"], &data["total"]),
            (&json!(page_no), &json!(10), &json!(3), &json!(25))
        );
        codes.extend(
            data["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["plantCode"].as_str().unwrap().to_owned()),
        );
        if page_no >= data["pageCount"].as_u64().unwrap() {
            break;
        }
        page_no += 1;
    }
    assert_eq!(codes, sim.plant_ids(0));
    assert!(codes[0].starts_with("NE=3310"));

    let all = fs.json("/thirdData/stations", json!({"pageNo": 1})).await;
    let list = all["data"]["list"].as_array().unwrap();
    assert_eq!((list.len(), &all["data"]["pageCount"]), (25, &json!(1)));
    let row = &list[0];
    for key in [
        "plantCode",
        "plantName",
        "plantAddress",
        "latitude",
        "longitude",
        "capacity",
        "contactPerson",
        "contactMethod",
        "gridConnectionDate",
    ] {
        assert!(row.get(key).is_some(), "missing {key} in {row}");
    }
    assert!(row["latitude"].is_string() && row["longitude"].is_string());
    assert!(row["capacity"].is_f64());
    assert!(row["contactPerson"].is_null() && row["contactMethod"].is_null(), "{row}");
    let offsets: Vec<String> = list
        .iter()
        .map(|p| {
            let date =
                chrono::DateTime::parse_from_rfc3339(p["gridConnectionDate"].as_str().unwrap());
            date.unwrap().offset().to_string()
        })
        .collect();
    assert!(offsets.contains(&"+05:30".to_owned()) && offsets.contains(&"+08:00".to_owned()));
    let too_big = fs.json("/thirdData/stations", json!({"pageNo": 1, "pageSize": 101})).await;
    assert_eq!((&too_big["success"], &too_big["failCode"]), (&json!(false), &json!(20400)));
    let beyond = fs.json("/thirdData/stations", json!({"pageNo": 4, "pageSize": 10})).await;
    assert_eq!(beyond["data"]["list"], json!([]));

    // KPIs: unknown codes are left out; at most 100 codes.
    let wanted = format!("{},NE=1", codes[..10].join(","));
    let kpis = fs.json("/thirdData/getStationRealKpi", json!({"stationCodes": wanted})).await;
    assert_eq!(kpis["params"]["stationCodes"], wanted.as_str(), "the codes asked, echoed");
    assert!((kpis["params"]["currentTime"].as_i64().unwrap() - now_ms()).abs() < 5_000);
    let rows = kpis["data"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["stationCode"], codes[0].as_str());
    let plant = plant_of(&sim, 0, 0);
    let map = &rows[0]["dataItemMap"];
    assert_eq!(map["total_power"], data::round(plant.total_kwh, 2));
    for key in ["day_power", "month_power", "total_power", "day_income", "total_income"] {
        assert!(map[key].is_number(), "{key} in {map}");
    }
    assert_eq!(rows[7]["dataItemMap"]["day_power"], Value::Null);
    assert_eq!(rows[1]["dataItemMap"]["real_health_state"], 1);
    assert_eq!(rows[0]["dataItemMap"]["real_health_state"], 3);
    let many = vec![codes[0].clone(); 101].join(",");
    let refused = fs.json("/thirdData/getStationRealKpi", json!({"stationCodes": many})).await;
    assert_eq!((&refused["success"], &refused["failCode"]), (&json!(false), &json!(20006)));
    assert_eq!(sim.requests(0, Endpoint::Realtime), 2);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 6);
}

/// The shape of a JSON value: objects keep their keys, arrays the shape of their first
/// element, every other value its kind (integers and decimals are both numbers).
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(key, value)| (key.clone(), shape(value))).collect())
        }
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("boolean"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("text"),
    }
}

/// A real recorded (or vendor-documented) reply of `tests/fixtures/<vendor>/recorded/`.
fn recorded(vendor: &str, name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{vendor}/recorded/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The simulator answers in the recorded shapes, key for key and type for type (the
/// envelope, `params`, the rows): the `stations` reply without `params`, `null` contacts;
/// the legacy list with `params.currentTime`; the KPI reply echoing its `stationCodes`.
#[tokio::test]
async fn fusionsolar_replies_have_the_recorded_shapes() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Huawei, 3, 0)])).await.unwrap();
    let fs = Fs::login(&sim, 0).await;
    let stations = fs.json("/thirdData/stations", json!({"pageNo": 1, "pageSize": 100})).await;
    assert_eq!(shape(&stations), shape(&recorded("fusionsolar", "stations__kornsw_gen2.json")));
    let legacy = fs.json("/thirdData/getStationList", json!({})).await;
    assert_eq!(
        shape(&legacy),
        shape(&recorded("fusionsolar", "getStationList__kornsw_legacy.json"))
    );
    assert_eq!(legacy["data"][0]["aidType"], 1);
    let code = &sim.plant_ids(0)[0];
    let kpi = fs.json("/thirdData/getStationRealKpi", json!({"stationCodes": code})).await;
    assert_eq!(shape(&kpi), shape(&recorded("fusionsolar", "getStationRealKpi__kornsw.json")));
}

#[tokio::test]
async fn fusionsolar_alarm_window_and_recovery() {
    let sim = Simulator::start(config(vec![AccountSpec::new(Huawei, 4, 2)])).await.unwrap();
    let fs = Fs::login(&sim, 0).await;
    let codes = sim.plant_ids(0).join(",");
    let now = now_ms();
    let window = |begin: i64, codes: &str| json!({"stationCodes": codes, "beginTime": begin, "endTime": now, "language": "en_US"});
    let week = fs.json("/thirdData/getAlarmList", window(now - 7 * 86_400_000, &codes)).await;
    assert_eq!(week["success"], true);
    let alarms = week["data"].as_array().unwrap();
    assert_eq!(alarms.len(), 8);
    let alarm = &alarms[0];
    for key in [
        "stationCode",
        "stationName",
        "alarmId",
        "alarmName",
        "alarmCause",
        "alarmType",
        "causeId",
        "devName",
        "devTypeId",
        "esnCode",
        "lev",
        "raiseTime",
        "repairSuggestion",
        "status",
    ] {
        assert!(alarm.get(key).is_some(), "missing {key} in {alarm}");
    }
    assert!(alarm["alarmId"].is_u64() && alarm["raiseTime"].is_i64());
    let recovered: Vec<&Value> =
        alarms.iter().filter(|a| a.get("recoveryTime").is_some()).collect();
    assert_eq!(recovered.len(), 4);
    assert!(recovered.iter().all(|a| a["status"] == 5
        && a["recoveryTime"].as_i64().unwrap() > a["raiseTime"].as_i64().unwrap()));
    assert!(alarms.iter().filter(|a| a.get("recoveryTime").is_none()).all(|a| a["status"] == 1));
    assert!(alarms.iter().all(|a| (1..=4).contains(&a["lev"].as_u64().unwrap())));
    assert!(alarms.iter().all(|a| a["raiseTime"].as_i64().unwrap() > now - 2 * 86_400_000));

    // A day's window sees the last day's half only; the window is at most 7 days.
    let day = fs.json("/thirdData/getAlarmList", window(now - 86_400_000, &codes)).await;
    assert_eq!(day["data"].as_array().unwrap().len(), 4);
    let wide = fs.json("/thirdData/getAlarmList", window(now - 8 * 86_400_000, &codes)).await;
    assert_eq!((&wide["success"], &wide["failCode"]), (&json!(false), &json!(20010)));
    let one = fs
        .json("/thirdData/getAlarmList", window(now - 7 * 86_400_000, &sim.plant_ids(0)[0]))
        .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 2);

    // Resolved alarms get their recovery time.
    assert_eq!(sim.resolve_alerts(0), 4);
    let after = fs.json("/thirdData/getAlarmList", window(now - 7 * 86_400_000, &codes)).await;
    let after = after["data"].as_array().unwrap();
    assert!(after.iter().all(|a| a["status"] == 5 && a["recoveryTime"].is_i64()));
    let latest = after.iter().map(|a| a["recoveryTime"].as_i64().unwrap()).max().unwrap();
    assert!(latest >= now - 1_000);
    assert_eq!(sim.requests(0, Endpoint::Alerts), 5);
}

#[tokio::test]
async fn fusionsolar_minimum_intervals() {
    let faults = Faults { fusion_min_interval_scale: Some(0.01), ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Huawei, 8, faults)])).await.unwrap();
    let creds = sim.credentials(0);
    let too_frequent = json!({"success": false, "failCode": 407, "message": "ACCESS_FREQUENCY_IS_TOO_HIGH", "data": null});

    // Login: 15 s × 0.01.
    let _ = Fs::login(&sim, 0).await;
    let again: Value = fs_login(&sim, &creds.username, &creds.password).await.json().await.unwrap();
    assert_eq!(again, too_frequent);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fs = Fs::login(&sim, 0).await;
    assert_eq!(sim.tokens_issued(0), 2);

    // stations: 300 s × 0.01. An identical body (in any key order) is refused; another
    // page is a different request.
    let page1 = fs.json("/thirdData/stations", json!({"pageNo": 1, "pageSize": 5})).await;
    assert_eq!(page1["success"], true);
    let repeat: Value = serde_json::from_str(r#"{"pageSize": 5, "pageNo": 1}"#).unwrap();
    assert_eq!(fs.json("/thirdData/stations", repeat).await, too_frequent);
    let page2 = fs.json("/thirdData/stations", json!({"pageNo": 2, "pageSize": 5})).await;
    assert_eq!(page2["success"], true);

    // getStationRealKpi: 65 s × 0.01.
    let kpi = json!({"stationCodes": sim.plant_ids(0).join(",")});
    assert_eq!(fs.json("/thirdData/getStationRealKpi", kpi.clone()).await["success"], true);
    assert_eq!(fs.json("/thirdData/getStationRealKpi", kpi.clone()).await, too_frequent);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(fs.json("/thirdData/getStationRealKpi", kpi).await["success"], true);
    assert_eq!(sim.rate_limited(0), 3);
}

// ---------------------------------------------------------------------------------------
// Growatt

/// `GET {base}{path}` with the `token` header (none when `token` is `None`); the JSON.
async fn gw_json(sim: &Simulator, token: Option<&str>, path: &str) -> Value {
    let mut request = client().get(format!("{}{path}", sim.base_url(Growatt)));
    if let Some(token) = token {
        request = request.header("token", token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn growatt_token_paging_and_plant_data() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(Growatt, 25, 2),
        AccountSpec::new(Growatt, 3, 2),
    ]))
    .await
    .unwrap();
    let denied = json!({"error_code": 10011, "error_msg": "error_permission_denied", "data": null});
    assert_eq!(gw_json(&sim, Some("wrong"), "/v1/plant/list").await, denied);
    assert_eq!(gw_json(&sim, None, "/v1/plant/list").await, denied);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 0);

    let token = sim.credentials(0).api_key;
    let token = Some(token.as_str());
    let first = gw_json(&sim, token, "/v1/plant/list?page=1&perpage=10").await;
    assert_eq!((&first["error_code"], &first["error_msg"]), (&json!(0), &json!("")));
    assert_eq!(first["data"]["count"], 25);
    let plant = &first["data"]["plants"][0];
    for key in [
        "plant_id",
        "name",
        "status",
        "city",
        "country",
        "latitude",
        "longitude",
        "peak_power",
        "current_power",
        "total_energy",
        "create_date",
        "image_url",
        "installer",
        "operator",
        "locale",
        "user_id",
    ] {
        assert!(plant.get(key).is_some(), "missing {key} in {plant}");
    }
    assert!(plant["plant_id"].is_u64() && plant["status"].is_u64() && plant["peak_power"].is_f64());
    for key in ["latitude", "longitude", "current_power"] {
        assert!(plant[key].is_string(), "{key} in {plant}");
    }
    assert!(plant["total_energy"].is_number(), "a number, as documented: {plant}");
    let mut ids = Vec::new();
    for page in 1..=3 {
        let body = gw_json(&sim, token, &format!("/v1/plant/list?page={page}&perpage=10")).await;
        ids.extend(
            body["data"]["plants"].as_array().unwrap().iter().map(|p| p["plant_id"].to_string()),
        );
    }
    assert_eq!(ids, sim.plant_ids(0));
    let default = gw_json(&sim, token, "/v1/plant/list").await;
    assert_eq!(default["data"]["plants"].as_array().unwrap().len(), 20);
    let all = gw_json(&sim, token, "/v1/plant/list?perpage=100").await;
    assert!(all["data"]["plants"].as_array().unwrap().iter().any(|p| p["current_power"] == ""));
    let too_big = gw_json(&sim, token, "/v1/plant/list?page=1&perpage=101").await;
    assert_eq!(too_big["error_code"], 10002);

    let id = &sim.plant_ids(0)[2];
    let data = gw_json(&sim, token, &format!("/v1/plant/data?plant_id={id}")).await;
    assert_eq!(data["error_code"], 0);
    let data = &data["data"];
    assert!(data["current_power"].is_number());
    assert!(data["today_energy"].is_string() && data["total_energy"].is_string());
    let generated = plant_of(&sim, 0, 2);
    // Local to the zone said beside it, whose offset is the standard one all year.
    let january = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let offset = chrono::Offset::fix(
        data::in_zone(january.timestamp(), &generated.region.timezone).offset(),
    );
    let local = data::in_zone(generated.last_update, &offset).format(SE_TIME);
    assert_eq!(data["last_update_time"], local.to_string());
    let details = gw_json(&sim, token, &format!("/v1/plant/details?plant_id={id}")).await;
    assert_eq!(data["timezone"], details["data"]["timezone"], "the zone of that local time");
    let foreign = &sim.plant_ids(1)[0];
    for path in
        ["/v1/plant/data?plant_id=1".to_owned(), format!("/v1/plant/data?plant_id={foreign}")]
    {
        let missing = gw_json(&sim, token, &path).await;
        assert_eq!((&missing["error_code"], &missing["data"]), (&json!(10003), &Value::Null));
    }
    assert_eq!(sim.requests(0, Endpoint::Realtime), 3);
    // Growatt has no alert list.
    assert_eq!(sim.resolve_alerts(0), 0);
}

/// The simulator answers in the shapes of Growatt's documented replies, key for key and
/// type for type; a plant whose settings have no zone has none in the details or the data.
#[tokio::test]
async fn growatt_replies_have_the_documented_shapes() {
    let sim = Simulator::start(config(vec![
        AccountSpec::new(Growatt, 3, 0),
        with_faults(Growatt, 3, Faults { growatt_details_without_zone: true, ..Faults::none() }),
    ]))
    .await
    .unwrap();
    let token = sim.credentials(0).api_key;
    let token = Some(token.as_str());
    let list = gw_json(&sim, token, "/v1/plant/list?page=1&perpage=100").await;
    assert_eq!(shape(&list), shape(&recorded("growatt", "plant_list__apidoc.json")));
    let id = &sim.plant_ids(0)[0];
    let details = gw_json(&sim, token, &format!("/v1/plant/details?plant_id={id}")).await;
    assert_eq!(shape(&details), shape(&recorded("growatt", "plant_details__apidoc.json")));
    let data = gw_json(&sim, token, &format!("/v1/plant/data?plant_id={id}")).await;
    assert_eq!(shape(&data), shape(&recorded("growatt", "plant_data__apidoc.json")));
    assert_eq!(details["data"]["timezone"], data["data"]["timezone"]);

    let token = sim.credentials(1).api_key;
    let id = &sim.plant_ids(1)[0];
    for path in ["/v1/plant/details", "/v1/plant/data"] {
        let reply = gw_json(&sim, Some(&token), &format!("{path}?plant_id={id}")).await;
        assert_eq!(reply["error_code"], 0, "{path}");
        assert!(reply["data"].get("timezone").is_none(), "{path}: {reply}");
    }
}

#[tokio::test]
async fn growatt_retired_domain_and_rejected_token() {
    let sim = Simulator::start(config(vec![
        with_faults(Growatt, 3, Faults { growatt_retired_domain: true, ..Faults::none() }),
        with_faults(Growatt, 3, Faults { reject_login: true, ..Faults::none() }),
    ]))
    .await
    .unwrap();
    let retired = json!({"error_code": -1, "error_msg": "Please use the new domain", "data": null});
    let token = sim.credentials(0).api_key;
    assert_eq!(gw_json(&sim, Some(&token), "/v1/plant/list").await, retired);
    assert_eq!(gw_json(&sim, Some(&token), "/v1/plant/data?plant_id=1").await, retired);
    assert_eq!(sim.requests(0, Endpoint::PlantList) + sim.requests(0, Endpoint::Realtime), 2);

    let token = sim.credentials(1).api_key;
    let denied = gw_json(&sim, Some(&token), "/v1/plant/list").await;
    assert_eq!(denied["error_code"], 10011);
    sim.set_faults(1, Faults::none());
    assert_eq!(gw_json(&sim, Some(&token), "/v1/plant/list").await["error_code"], 0);
    assert_eq!(sim.peak_in_flight(Growatt), 1);
}

#[tokio::test]
async fn growatt_details_refused_without_permission() {
    let refused = Faults { growatt_no_details_access: true, ..Faults::none() };
    let sim = Simulator::start(config(vec![with_faults(Growatt, 3, refused)])).await.unwrap();
    let token = sim.credentials(0).api_key;
    let id = &sim.plant_ids(0)[0];
    let details = gw_json(&sim, Some(&token), &format!("/v1/plant/details?plant_id={id}")).await;
    assert_eq!(details["error_code"], 101);
    let data = gw_json(&sim, Some(&token), &format!("/v1/plant/data?plant_id={id}")).await;
    assert_eq!(data["error_code"], 0, "only the details call is refused");
    assert_eq!(gw_json(&sim, Some(&token), "/v1/plant/list").await["data"]["count"], 3);
}

// ---------------------------------------------------------------------------------------
// All three

#[tokio::test]
async fn new_kinds_rate_limit_signals() {
    let limit =
        Faults { rate_limit: Some(Trigger::once(Some(Endpoint::PlantList), 1)), ..Faults::none() };
    let sim = Simulator::start(config(vec![
        with_faults(SolarEdge, 3, limit.clone()),
        with_faults(Huawei, 3, limit.clone()),
        with_faults(Growatt, 3, limit),
    ]))
    .await
    .unwrap();
    let limited = se_get(&sim, 0, "/sites/list").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.bytes().await.unwrap().is_empty());
    assert_eq!(se_get(&sim, 0, "/sites/list").await.status(), 200);

    let fs = Fs::login(&sim, 1).await;
    let limited = fs.json("/thirdData/stations", json!({"pageNo": 1})).await;
    assert_eq!(
        limited,
        json!({"success": false, "failCode": 407, "message": "ACCESS_FREQUENCY_IS_TOO_HIGH", "data": null})
    );
    assert_eq!(fs.json("/thirdData/stations", json!({"pageNo": 1})).await["success"], true);

    let token = sim.credentials(2).api_key;
    let limited = gw_json(&sim, Some(&token), "/v1/plant/list").await;
    assert_eq!(
        limited,
        json!({"error_code": 10012, "error_msg": "error_frequently_access", "data": null})
    );
    assert_eq!(gw_json(&sim, Some(&token), "/v1/plant/list").await["error_code"], 0);
    for index in 0..3 {
        assert_eq!(sim.rate_limited(index), 1, "account {index}");
    }
}

#[tokio::test]
async fn new_kinds_http_error_and_truncation() {
    let list = Some(Endpoint::PlantList);
    let faults = Faults {
        http_error: Some((503, Trigger::once(list, 1))),
        truncated_json: Some(Trigger::once(list, 2)),
        ..Faults::none()
    };
    let sim = Simulator::start(config(vec![
        with_faults(SolarEdge, 3, faults.clone()),
        with_faults(Huawei, 3, faults.clone()),
        with_faults(Growatt, 3, faults),
    ]))
    .await
    .unwrap();
    let fs = Fs::login(&sim, 1).await;
    let http = client();
    let requests = [
        http.get(format!(
            "{}/sites/list?api_key={}",
            sim.base_url(SolarEdge),
            sim.credentials(0).api_key
        )),
        http.post(format!("{}/thirdData/stations", sim.base_url(Huawei)))
            .header("XSRF-TOKEN", &fs.token)
            .json(&json!({"pageNo": 1})),
        http.get(format!("{}/v1/plant/list", sim.base_url(Growatt)))
            .header("token", sim.credentials(2).api_key),
    ];
    for request in requests {
        let request = request.build().unwrap();
        let error = http.execute(request.try_clone().unwrap()).await.unwrap();
        assert_eq!(error.status(), 503);
        assert!(error.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let truncated = http.execute(request.try_clone().unwrap()).await.unwrap();
        assert_eq!(truncated.status(), 200);
        let bytes = truncated.bytes().await.unwrap();
        assert!(!bytes.is_empty() && serde_json::from_slice::<Value>(&bytes).is_err());
        let full = http.execute(request).await.unwrap().bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&full).is_ok());
    }
}

#[tokio::test]
async fn new_kinds_plant_list_body_faults() {
    let faults = Faults {
        wrong_type_plant: Some(1),
        missing_field_plant: Some(2),
        duplicate_ids_across_pages: true,
        ..Faults::none()
    };
    let sim = Simulator::start(config(vec![
        with_faults(SolarEdge, 12, faults.clone()),
        with_faults(Huawei, 12, faults.clone()),
        with_faults(Growatt, 12, Faults { empty_pages_from: Some(2), ..faults }),
    ]))
    .await
    .unwrap();
    let page1 = se_json(&sim, 0, "/sites/list?size=5&startIndex=0").await;
    let sites = page1["sites"]["site"].as_array().unwrap();
    assert_eq!(sites[1]["peakPower"], true);
    assert!(sites[2].get("id").is_none());
    let page2 = se_json(&sim, 0, "/sites/list?size=5&startIndex=5").await;
    assert_eq!(page2["sites"]["site"][0]["id"], sites[4]["id"]);
    assert_eq!(page2["sites"]["count"], 12);

    let fs = Fs::login(&sim, 1).await;
    let page1 = fs.json("/thirdData/stations", json!({"pageNo": 1, "pageSize": 5})).await;
    let list = page1["data"]["list"].as_array().unwrap();
    assert_eq!(list[1]["capacity"], true);
    assert!(list[2].get("plantCode").is_none());
    // With the duplicates, pageCount still covers every plant: 5 + 4 + 3.
    assert_eq!(page1["data"]["pageCount"], 3);
    let page2 = fs.json("/thirdData/stations", json!({"pageNo": 2, "pageSize": 5})).await;
    assert_eq!(page2["data"]["list"][0]["plantCode"], list[4]["plantCode"]);

    let token = sim.credentials(2).api_key;
    let page1 = gw_json(&sim, Some(&token), "/v1/plant/list?page=1&perpage=5").await;
    let plants = page1["data"]["plants"].as_array().unwrap();
    assert_eq!(plants[1]["peak_power"], true);
    assert!(plants[2].get("plant_id").is_none());
    let page2 = gw_json(&sim, Some(&token), "/v1/plant/list?page=2&perpage=5").await;
    assert_eq!((&page2["data"]["count"], &page2["data"]["plants"]), (&json!(12), &json!([])));
}

#[tokio::test]
async fn new_kinds_same_seed_same_portal() {
    let cfg = || {
        config(vec![
            AccountSpec::new(SolarEdge, 8, 1),
            AccountSpec::new(Huawei, 8, 1),
            AccountSpec::new(Growatt, 8, 1),
        ])
    };
    let a = Simulator::start(cfg()).await.unwrap();
    let b = Simulator::start(cfg()).await.unwrap();
    let other = Simulator::start(SimulatorConfig { seed: 43, ..cfg() }).await.unwrap();
    for index in 0..3 {
        assert_eq!(a.plants(index), b.plants(index));
        assert_ne!(a.plants(index), other.plants(index));
        let (ca, cb, co) = (a.credentials(index), b.credentials(index), other.credentials(index));
        assert_eq!(
            (&ca.username, &ca.password, &ca.api_key),
            (&cb.username, &cb.password, &cb.api_key)
        );
        assert_ne!(ca.api_key, co.api_key);
    }
    let key = a.credentials(0).api_key;
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert_ne!(a.credentials(0).api_key, a.credentials(2).api_key);

    // Over the wire: same sites, stations and plants.
    let pick = |list: &Value, keys: &[&str]| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|item| Value::Array(keys.iter().map(|k| item[*k].clone()).collect()))
            .collect()
    };
    let mut wire = Vec::new();
    for sim in [&a, &b] {
        let sites = se_json(sim, 0, "/sites/list").await;
        let stations =
            Fs::login(sim, 1).await.json("/thirdData/stations", json!({"pageNo": 1})).await;
        let token = sim.credentials(2).api_key;
        let plants = gw_json(sim, Some(&token), "/v1/plant/list").await;
        wire.push((
            pick(
                &sites["sites"]["site"],
                &["id", "name", "peakPower", "location", "installationDate"],
            ),
            pick(&stations["data"]["list"], &["plantCode", "plantName", "capacity", "latitude"]),
            pick(&plants["data"]["plants"], &["plant_id", "name", "peak_power", "latitude"]),
        ));
    }
    assert_eq!(wire[0], wire[1]);
}

/// Polls `future` once: whether it is already done, without waiting for anything.
fn ready_now<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut cx).is_ready()
}

#[tokio::test]
async fn hold_keeps_plant_lists_waiting_until_release() {
    let sim = Arc::new(
        Simulator::start(config(vec![
            AccountSpec::new(Solarman, 5, 1),
            AccountSpec::new(Growatt, 3, 0),
        ]))
        .await
        .unwrap(),
    );
    let sm = Arc::new(Sm::login(&sim, 0).await);
    // Nothing waits yet, so the watcher is pending.
    let mut watcher = std::pin::pin!(sim.wait_until_held(0));
    assert!(!ready_now(watcher.as_mut()));

    sim.hold(0);
    let held = tokio::spawn({
        let sm = Arc::clone(&sm);
        async move { sm.json("/station/v1.0/list", json!({"page": 1, "size": 10})).await }
    });
    tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("request reached the latch");
    // Counted before it waits; still waiting, since nothing released it.
    assert_eq!(sim.requests(0, Endpoint::PlantList), 1);
    assert!(!held.is_finished());

    // Only the plant list of the held account waits: its other calls and other accounts
    // are answered.
    let station_id: u64 = sim.plant_ids(0)[0].parse().unwrap();
    let realtime = sm.json("/station/v1.0/realTime", json!({"stationId": station_id})).await;
    assert_eq!(realtime["success"], true);
    let token = sim.credentials(1).api_key;
    let growatt = gw_json(&sim, Some(&token), "/v1/plant/list").await;
    assert_eq!(growatt["data"]["count"], 3);
    assert!(!held.is_finished());

    sim.release(0);
    let body = held.await.unwrap();
    assert_eq!((body["success"].clone(), body["total"].clone()), (json!(true), json!(5)));
    // Released: later requests pass at once, and no one waits any more.
    let again = sm.json("/station/v1.0/list", json!({"page": 1, "size": 10})).await;
    assert_eq!(again["total"], 5);
    assert!(!ready_now(std::pin::pin!(sim.wait_until_held(0))));
    // Holding again catches the next request.
    sim.hold(0);
    let second = tokio::spawn({
        let sm = Arc::clone(&sm);
        async move { sm.json("/station/v1.0/list", json!({"page": 2, "size": 2})).await }
    });
    tokio::time::timeout(Duration::from_secs(10), sim.wait_until_held(0)).await.unwrap();
    assert!(!second.is_finished());
    sim.release(0);
    assert_eq!(second.await.unwrap()["stationList"].as_array().unwrap().len(), 2);
    assert_eq!(sim.requests(0, Endpoint::PlantList), 3);
}

#[tokio::test]
async fn an_account_gets_the_portals_rate_limit_past_its_concurrency() {
    let limited = |kind, faults| AccountSpec { faults, ..AccountSpec::new(kind, 5, 0) };
    let sim = Arc::new(
        Simulator::start(config(vec![
            limited(Solarman, Faults::none()),
            limited(
                Solarman,
                Faults { account_concurrency: AccountConcurrency::Unlimited, ..Faults::none() },
            ),
            limited(
                Sungrow,
                Faults { account_concurrency: AccountConcurrency::Limit(2), ..Faults::none() },
            ),
        ]))
        .await
        .unwrap(),
    );
    // Fill account 0 with ten requests held at the latch: the portal's default limit.
    let sm = Arc::new(Sm::login(&sim, 0).await);
    sim.hold(0);
    let held: Vec<_> = (0..DEFAULT_ACCOUNT_CONCURRENCY)
        .map(|_| {
            let sm = Arc::clone(&sm);
            tokio::spawn(
                async move { sm.post("/station/v1.0/list", json!({"page": 1})).await.status() },
            )
        })
        .collect();
    let latch = sim.state.account(0).latch();
    tokio::time::timeout(Duration::from_secs(10), latch.wait_until_waiting(10)).await.unwrap();
    let station: u64 = sim.plant_ids(0)[0].parse().unwrap();
    let eleventh = sm.post("/station/v1.0/realTime", json!({"stationId": station})).await;
    assert_eq!(eleventh.status(), 429, "Solarman's own signal");
    assert_eq!(sim.rate_limited(0), 1);
    assert_eq!(sim.account_peak_in_flight(0), 11);
    sim.release(0);
    for request in held {
        assert_eq!(request.await.unwrap(), 200);
    }
    // Below the limit again: answered.
    let later = sm.json("/station/v1.0/realTime", json!({"stationId": station})).await;
    assert_eq!(later["success"], true);
    sim.reset_account_peak(0);
    assert_eq!(sim.account_peak_in_flight(0), 0);

    // Unlimited: eleven at once are all answered.
    let sm1 = Arc::new(Sm::login(&sim, 1).await);
    sim.hold(1);
    let held: Vec<_> = (0..11)
        .map(|_| {
            let sm = Arc::clone(&sm1);
            tokio::spawn(
                async move { sm.post("/station/v1.0/list", json!({"page": 1})).await.status() },
            )
        })
        .collect();
    let latch = sim.state.account(1).latch();
    tokio::time::timeout(Duration::from_secs(10), latch.wait_until_waiting(11)).await.unwrap();
    let station: u64 = sim.plant_ids(1)[0].parse().unwrap();
    assert_eq!(
        sm1.post("/station/v1.0/realTime", json!({"stationId": station})).await.status(),
        200
    );
    sim.release(1);
    for request in held {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!((sim.rate_limited(1), sim.account_peak_in_flight(1)), (0, 12));

    // A limit of two on Sungrow: the third gets E999.
    let sg = Arc::new(Sg::login(&sim, 2).await);
    sim.hold(2);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let sg = Arc::clone(&sg);
            tokio::spawn(async move {
                sg.json("/openapi/getPowerStationList", json!({"curPage": 1})).await
            })
        })
        .collect();
    let latch = sim.state.account(2).latch();
    tokio::time::timeout(Duration::from_secs(10), latch.wait_until_waiting(2)).await.unwrap();
    let third = sg.json("/openapi/platform/getFaultAlarmInfo", json!({"page": 1})).await;
    assert_eq!(third["result_code"], "E999");
    sim.release(2);
    for request in held {
        assert_eq!(request.await.unwrap()["result_code"], "1");
    }
    let stats = sim.stats();
    assert_eq!((stats.rate_limited, stats.account_peak_in_flight), (2, 12));
    assert!(stats.to_string().contains("2 rate-limited answers"), "{stats}");
    let realtime = sim.requests(0, Endpoint::Realtime) + sim.requests(1, Endpoint::Realtime);
    assert!(stats.to_string().contains(&format!("realtime {realtime},")), "{stats}");
    let by_endpoint: u64 = stats.requests_by_endpoint.iter().map(|(_, n)| n).sum();
    assert_eq!(by_endpoint, stats.requests);
}

/// A request refused for the account's concurrency limit never reached the token check, so
/// it does not use up `token_expires_after`.
#[tokio::test]
async fn requests_refused_for_concurrency_do_not_use_up_the_token() {
    let faults = Faults {
        account_concurrency: AccountConcurrency::Limit(1),
        token_expires_after: Some(2),
        ..Faults::none()
    };
    let sim =
        Arc::new(Simulator::start(config(vec![with_faults(Solarman, 3, faults)])).await.unwrap());
    let sm = Arc::new(Sm::login(&sim, 0).await);
    sim.hold(0);
    let held = {
        let sm = Arc::clone(&sm);
        tokio::spawn(
            async move { sm.post("/station/v1.0/list", json!({"page": 1})).await.status() },
        )
    };
    let latch = sim.state.account(0).latch();
    tokio::time::timeout(Duration::from_secs(10), latch.wait_until_waiting(1)).await.unwrap();
    let station: u64 = sim.plant_ids(0)[0].parse().unwrap();
    for _ in 0..3 {
        let refused = sm.post("/station/v1.0/realTime", json!({"stationId": station})).await;
        assert_eq!(refused.status(), 429);
    }
    sim.release(0);
    assert_eq!(held.await.unwrap(), 200, "the token's first use");
    let second = sm.post("/station/v1.0/realTime", json!({"stationId": station})).await;
    assert_eq!(second.status(), 200, "its second");
    let third = sm.post("/station/v1.0/realTime", json!({"stationId": station})).await;
    assert_eq!(third.status(), 401, "used up after two");
    assert_eq!(sim.rate_limited(0), 3);
}

#[tokio::test]
async fn readings_move_when_due_and_never_ahead_of_the_clock() {
    let moving = |every| Faults { readings_move_every: Some(every), ..Faults::none() };
    let sim = Simulator::start(config(vec![
        with_faults(Solarman, 3, moving(Duration::ZERO)),
        with_faults(Solarman, 3, moving(Duration::from_secs(3600))),
    ]))
    .await
    .unwrap();
    let started = sim.state.started_at;
    let update_times = |body: &Value| -> Vec<i64> {
        body["stationList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["lastUpdateTime"].as_f64().unwrap() as i64)
            .collect()
    };
    // Moving at every request: the first moves the generated (past) readings to now, and
    // however many follow within a second, they never run ahead of the clock.
    let sm = Sm::login(&sim, 0).await;
    for request in 0..6 {
        let times = update_times(&sm.json("/station/v1.0/list", json!({"page": 1})).await);
        let now = chrono::Utc::now().timestamp();
        assert!(times.iter().all(|&t| t >= started && t <= now), "request {request}: {times:?}");
    }
    // Hourly: not due yet, so the generated readings stay.
    let sm = Sm::login(&sim, 1).await;
    let first = update_times(&sm.json("/station/v1.0/list", json!({"page": 1})).await);
    let second = update_times(&sm.json("/station/v1.0/list", json!({"page": 1})).await);
    assert_eq!(first, second);
    assert!(first.iter().all(|&t| t < started), "{first:?}");
}

use chrono::Datelike;

/// Plant 0 of account `index`: its vendor id as the portal spells it, its zone and its
/// local today by the simulator's clock.
fn history_plant(sim: &Simulator, index: usize) -> (String, chrono_tz::Tz, chrono::NaiveDate) {
    let account = sim.state.account(index);
    let now = account.now();
    account.with_data(|data| {
        let plant = &data.plants[0];
        let id = data::vendor_plant_id(account.kind, plant.id);
        (id, plant.region.timezone, history::today_of(plant, now))
    })
}

/// The five daily-history endpoints in their portals' shapes, by a frozen clock: values
/// are the simulator's, today is partial (Sungrow leaves it out), later days have none,
/// and each portal's span and size limits are enforced.
#[tokio::test]
async fn history_endpoints_serve_each_portals_shape_by_the_frozen_clock() {
    let kinds = [Solarman, Sungrow, SolarEdge, Huawei, Growatt];
    let sim = Simulator::start(config(kinds.iter().map(|&k| AccountSpec::new(k, 2, 0)).collect()))
        .await
        .unwrap();
    // Three days ahead: "today" is the clock's, not the machine's.
    sim.set_now(Some(chrono::Utc::now().timestamp() + 3 * 86_400));
    let days = |today: chrono::NaiveDate, back: u64| today - chrono::Days::new(back);
    let kwh = |index: usize, day| sim.history_kwh(index, 0, day);

    // Solarman: flat items, today included (partial), a 31-day span refused.
    let (id, _, today) = history_plant(&sim, 0);
    let sm = Sm::login(&sim, 0).await;
    let body = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        json!({"stationId": id.parse::<u64>().unwrap(), "timeType": 2,
               "startTime": from.to_string(), "endTime": to.to_string()})
    };
    let reply = sm.json("/station/v1.0/history", body(days(today, 5), today)).await;
    let items = reply["stationDataItems"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{reply}");
    let last = &items[5];
    assert_eq!(
        (last["year"].as_i64(), last["day"].as_u64()),
        (Some(i64::from(today.year())), Some(u64::from(today.day())))
    );
    assert_eq!(last["generationValue"].as_f64(), kwh(0, today));
    assert_eq!(items[0]["generationValue"].as_f64(), kwh(0, days(today, 5)));
    let refused = sm.json("/station/v1.0/history", body(days(today, 30), today)).await;
    assert_eq!(refused["code"], "2101012", "{refused}");

    // Sungrow: Wh as text, today left out, more than 50 plants refused.
    let (id, _, today) = history_plant(&sim, 1);
    let sg = Sg::login(&sim, 1).await;
    let path = "/openapi/platform/getPowerStationPointDayMonthYearDataList";
    let request = |ids: Value| {
        json!({"ps_id_list": ids, "data_point": "p83022", "query_type": "1", "data_type": "2",
               "start_time": days(today, 3).format("%Y%m%d").to_string(),
               "end_time": today.format("%Y%m%d").to_string(), "order": "0"})
    };
    let reply = sg.json(path, request(json!([id.parse::<u64>().unwrap()]))).await;
    let rows = reply["result_data"][&id]["p83022"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "today is not returned: {reply}");
    let wh: f64 = rows[0]["2"].as_str().unwrap().parse().unwrap();
    assert!((wh - kwh(1, days(today, 3)).unwrap() * 1000.0).abs() < 1e-6);
    assert_eq!(rows[2]["time_stamp"], days(today, 1).format("%Y%m%d").to_string());
    let too_many = sg.json(path, request(json!((0..51).collect::<Vec<u32>>()))).await;
    assert_eq!(too_many["result_code"], "009");

    // SolarEdge: a value per day, null after today and where the portal has no data; a
    // span over a year is HTTP 403.
    let (id, _, today) = history_plant(&sim, 2);
    sim.set_history(2, 0, days(today, 2), None);
    let range = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        format!("/site/{id}/energy?timeUnit=DAY&startDate={from}&endDate={to}")
    };
    let reply = se_json(&sim, 2, &range(days(today, 3), today + chrono::Days::new(1))).await;
    let values = reply["energy"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 5);
    assert_eq!(values[0]["date"], format!("{} 00:00:00", days(today, 3)));
    assert_eq!(values[0]["value"].as_f64(), kwh(2, days(today, 3)).map(|k| (k * 1000.0).round()));
    assert_eq!(values[1]["value"], Value::Null, "revised to no data");
    assert_eq!(values[4]["value"], Value::Null, "tomorrow");
    let too_long = se_get(&sim, 2, &range(days(today, 400), today)).await;
    assert_eq!(too_long.status(), 403);

    // FusionSolar: the month of collectTime, a row a day up to today, each stamped with the
    // station's local midnight; a day without data has an empty dataItemMap.
    let (code, zone, today) = history_plant(&sim, 3);
    sim.set_history(3, 0, today.with_day(1).unwrap(), None);
    let fs = Fs::login(&sim, 3).await;
    let collect = sim.state.account(3).now() * 1000;
    let reply = fs
        .json("/thirdData/getKpiStationDay", json!({"stationCodes": code, "collectTime": collect}))
        .await;
    let rows = reply["data"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= today.day() as usize, "{reply}");
    for row in rows {
        let local = data::in_zone(row["collectTime"].as_i64().unwrap() / 1000, &zone);
        assert_eq!(local.time(), chrono::NaiveTime::MIN, "local midnight: {row}");
        assert_eq!(local.month(), today.month());
        let value = row["dataItemMap"]["PVYield"].as_f64();
        assert_eq!(value, kwh(3, local.date_naive()).map(|k| data::round(k, 2)), "{row}");
    }
    let first = rows.iter().find(|row| {
        let at = row["collectTime"].as_i64().unwrap() / 1000;
        data::in_zone(at, &zone).day() == 1
    });
    if let Some(first) = first {
        assert_eq!(first["dataItemMap"], json!({}), "the 1st revised to no data");
    }

    // Growatt: kWh as text, 7 days at most.
    let (id, _, today) = history_plant(&sim, 4);
    let token = sim.credentials(4).api_key;
    let energy = |back: u64| {
        format!(
            "/v1/plant/energy?plant_id={id}&start_date={}&end_date={}&time_unit=day&page=1&perpage=100",
            days(today, back),
            today
        )
    };
    let reply = gw_json(&sim, Some(&token), &energy(6)).await;
    let rows = reply["data"]["energys"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{reply}");
    let first: f64 = rows[0]["energy"].as_str().unwrap().parse().unwrap();
    assert_eq!(Some(first), kwh(4, days(today, 6)));
    let refused = gw_json(&sim, Some(&token), &energy(7)).await;
    assert_eq!(refused["error_code"], 10002);

    let counted: Vec<u64> = (0..5).map(|index| sim.requests(index, Endpoint::History)).collect();
    assert_eq!(counted, [2, 2, 2, 1, 2], "refused requests are counted too");
}
