//! The Sungrow iSolarCloud OpenAPI ("login" flavour) as the simulator serves it under
//! `/sungrow` (`vendor-apis.md` §2).
//!
//! Owns the wire format only: the `{req_serial_num, result_code, result_msg, result_data}`
//! envelope that is HTTP 200 even for errors, the `appkey` body field and `x-access-key`
//! header on every call, the login whose rejection still says `result_code "1"` (only
//! `login_state` tells), the body `token`, the plant list with `{unit, value}` strings and
//! both paging spellings, the fault list with `+08:00` local times, the plant-level daily
//! history (`p83022` in Wh as text, never today), and `E999` for rate
//! limiting. Accounts, counting and faults are shared with the other vendors.

use super::data::{self, Alert, NetStatus, Plant, in_zone, number_text};
use super::faults::{Reply, list_page, mangle_plant, paging, plant_page, plant_total, text_field};
use super::history;
use super::state::{Account, SimState};
use super::{Endpoint, Faults};
use crate::domain::VendorKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use chrono_tz::Asia::Shanghai;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Default and maximum `size` of the list calls.
const LIST_SIZE: (u64, u64) = (20, 100);

/// `process_status` of open faults.
const STATUS_OPEN: &str = "8";
/// `process_status` of closed faults.
const STATUS_CLOSED: &str = "9";

/// The routes, relative to the `/sungrow` prefix.
pub(super) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/openapi/login", post(login))
        .route("/openapi/getPowerStationList", post(station_list))
        .route("/openapi/platform/getFaultAlarmInfo", post(fault_list))
        .route("/openapi/platform/getPowerStationPointDayMonthYearDataList", post(history))
}

/// The most plants of one history call (as the device call's 50 ps_keys,
/// vendor-history-apis.md §2).
const HISTORY_PLANTS: usize = 50;
/// The most days one day-resolution history call may span.
const HISTORY_DAYS: i64 = 100;

/// `POST /openapi/platform/getPowerStationPointDayMonthYearDataList {ps_id_list,
/// data_point: "p83022", query_type: "1", data_type: "2", start_time, end_time}`
/// (`yyyyMMdd`, inclusive): `result_data["<ps_id>"].p83022 = [{"2": "<Wh>", "time_stamp":
/// "yyyyMMdd"}]`, the plant's daily yield in Wh as text with four decimals. Days without
/// data and the plant's today have no row; unknown plants no key. More than 50 plants or
/// 100 days, another point or resolution, are refused (`result_code "009"`).
async fn history(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&state, &headers, Endpoint::History, &body, |call| {
        let refuse = |what: &str| envelope(call.state, "009", what, Value::Null);
        let ids: Vec<u64> = match call.body.get("ps_id_list").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
                .collect(),
            None => return refuse("ps_id_list is required"),
        };
        if ids.is_empty() || ids.len() > HISTORY_PLANTS {
            return refuse("ps_id_list must name 1 to 50 plants");
        }
        let point = text_field(call.body, "data_point").unwrap_or_default();
        let (query, kind) = (text_field(call.body, "query_type"), text_field(call.body, "data_type"));
        if point != "p83022" || query.as_deref() != Some("1") || kind.as_deref() != Some("2") {
            return refuse("unsupported data_point, query_type or data_type");
        }
        let day = |key: &str| text_field(call.body, key).as_deref().and_then(history::parse_compact);
        let (Some(start), Some(end)) = (day("start_time"), day("end_time")) else {
            return refuse("start_time and end_time must be yyyyMMdd");
        };
        if end < start || (end - start).num_days() >= HISTORY_DAYS {
            return refuse("the time span exceeds 100 days");
        }
        let now = call.account.now();
        let data = call.account.with_data(|data| {
            let mut map = Map::new();
            for id in ids {
                let Some(plant) = data.plant_by_id(id) else { continue };
                let today = history::today_of(plant, now);
                let rows: Vec<Value> = history::days(start, end, HISTORY_DAYS as usize)
                    .into_iter()
                    .filter(|day| *day < today)
                    .filter_map(|day| {
                        let wh = (data.history.kwh(plant, day, now)? * 1000.0).round();
                        Some(json!({"2": format!("{wh:.4}"), "time_stamp": day.format("%Y%m%d").to_string()}))
                    })
                    .collect();
                map.insert(id.to_string(), json!({ "p83022": rows }));
            }
            Value::Object(map)
        });
        success(call.state, data)
    })
    .await
}

/// A request body as JSON; a missing or malformed body reads as `{}`.
fn parse(body: &Bytes) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The envelope (always HTTP 200).
fn envelope(state: &SimState, code: &str, msg: &str, data: Value) -> Reply {
    let mut body = json!({
        "req_serial_num": state.request_id(32),
        "result_code": code,
        "result_msg": msg,
    });
    body["result_data"] = data;
    Reply::ok(body)
}

/// A successful envelope around `data`.
fn success(state: &SimState, data: Value) -> Reply {
    envelope(state, "1", "success", data)
}

/// The wrong-`appkey` answer.
fn invalid_appkey(state: &SimState) -> Reply {
    envelope(state, "er_invalid_appkey", "Invalid appkey", Value::Null)
}

/// The paging object in the account's spelling: `rowCount`/`pageList` for even account
/// indexes, `row_count`/`page_list` for odd ones (both occur in the wild, §2.4).
fn page_data(account: &Account, total: usize, items: Vec<Value>) -> Value {
    let mut map = Map::new();
    let (count_key, list_key) = if account.index.is_multiple_of(2) {
        ("rowCount", "pageList")
    } else {
        ("row_count", "page_list")
    };
    map.insert(count_key.to_owned(), json!(total));
    map.insert(list_key.to_owned(), Value::Array(items));
    Value::Object(map)
}

/// What a handler of an authenticated call gets.
struct Call<'a> {
    state: &'a SimState,
    account: &'a Account,
    faults: &'a Faults,
    body: &'a Value,
}

/// The shared path of every call: attribute by `appkey` (else by `x-access-key`), count,
/// faults, key checks, the account's concurrency limit, token check and refused calls
/// (`no_permission`; neither for the login), then `handle`.
async fn serve(
    state: &SimState,
    headers: &HeaderMap,
    endpoint: Endpoint,
    body: &Bytes,
    handle: fn(Call<'_>) -> Reply,
) -> Response {
    let _flight = state.enter(VendorKind::Sungrow);
    let body = parse(body);
    let appkey = text_field(&body, "appkey").unwrap_or_default();
    let access_key = header_text(headers, "x-access-key");
    let account = state
        .find(VendorKind::Sungrow, |c| c.app_id == appkey)
        .or_else(|| state.find(VendorKind::Sungrow, |c| c.app_secret == access_key));
    let Some(account) = account else {
        return invalid_appkey(state).into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(endpoint);
    let rate_limited =
        || envelope(state, "E999", "The number of visits exceeds the limit", Value::Null);
    if let Some(response) = plan.preflight(rate_limited).await {
        return response;
    }
    if appkey != account.creds.app_id {
        return plan.finish(invalid_appkey(state));
    }
    if access_key != account.creds.app_secret {
        return plan.finish(envelope(state, "E912", "Illegal x-access-key", Value::Null));
    }
    // Before the token check: a refused request does not use up `token_expires_after`.
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return rate_limited().into_response(false);
    }
    if endpoint != Endpoint::Login {
        let token = text_field(&body, "token")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| header_text(headers, "token"));
        if !state.use_token(account, &token, plan.faults.token_expires_after) {
            let reply = envelope(state, "E00003", "er_token_login_invalid", Value::Null);
            return plan.finish(reply);
        }
    }
    if endpoint != Endpoint::Login && plan.faults.no_permission.contains(&endpoint) {
        let reply =
            envelope(state, "E994", "The interface is not open to this account", Value::Null);
        return plan.finish(reply);
    }
    plan.finish(handle(Call { state, account, faults: &plan.faults, body: &body }))
}

/// A header as text (empty when missing or not text).
fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// `POST /openapi/login`. A wrong password is still `result_code "1"`: only `login_state`
/// says it failed. The account never locks.
async fn login(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&state, &headers, Endpoint::Login, &body, |call| {
        let creds = &call.account.creds;
        if call.faults.malformed_login {
            return success(call.state, Value::Null);
        }
        let user = text_field(call.body, "user_account").unwrap_or_default();
        let password = text_field(call.body, "user_password").unwrap_or_default();
        if user != creds.username {
            return success(call.state, json!({"login_state": "-1", "token": null}));
        }
        if password != creds.password || call.faults.reject_login {
            return success(
                call.state,
                json!({"login_state": "0", "remain_times": "4", "token": null}),
            );
        }
        let user_id = 10_000 + call.account.index;
        let material = call.state.token_material(call.account);
        let token = format!("{user_id}_{}", &material[..32.min(material.len())]);
        // The portal does not publish a lifetime; a day is long enough for any run.
        let expires_at = chrono::Utc::now().timestamp() + 86_400;
        call.state.issue_token(call.account, token.clone(), expires_at);
        // The documentation example's fields (`login__devdoc_example.json`).
        success(
            call.state,
            json!({
                "user_master_org_id": (530_000 + call.account.index).to_string(),
                "mobile_tel": null,
                "user_name": null,
                "language": "English",
                "token": token,
                "err_times": "0",
                "user_id": user_id.to_string(),
                "login_state": "1",
                "disable_time": null,
                "country_name": "Germany",
                "user_account": creds.username,
                "country_id": "50",
            }),
        )
    })
    .await
}

/// `POST /openapi/getPowerStationList`.
async fn station_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &headers, Endpoint::PlantList, &body, |call| {
        let (page, size) = paging(call.body, "curPage", LIST_SIZE.0, LIST_SIZE.1);
        let started_at = call.state.started_at;
        let (total, items) = call.account.with_data(|data| {
            let listed: Vec<&Plant> = data.listed().collect();
            let shown = plant_page(call.faults, listed.len(), page, size);
            let items: Vec<Value> = listed[shown]
                .iter()
                .map(|plant| {
                    let open: Vec<&Alert> = data.open_alerts_of(plant.index).collect();
                    let mut item = station(plant, &open, started_at);
                    mangle_plant(
                        call.faults,
                        plant.index,
                        &mut item,
                        ("ps_id", "ps_name", "total_capcity"),
                    );
                    Value::Object(item)
                })
                .collect();
            (plant_total(call.faults, listed.len(), page), items)
        });
        success(call.state, page_data(call.account, total, items))
    })
    .await
}

/// A `{unit, value}` object; values are strings.
fn unit_value(unit: &str, value: &str) -> Value {
    json!({"unit": unit, "value": value})
}

/// Whether a plant's energies come in `度` (the Chinese "degree", a kWh), as Sungrow's own
/// documentation example sends them to an account set to Chinese: one plant in eleven.
fn energy_in_degrees(plant: &Plant) -> bool {
    plant.index % 11 == 6
}

/// One `pageList` item, shaped as the recorded replies (a live German plant and Sungrow's
/// documentation example; `vendor-apis.md` §2.4, §2.7): every reading a `{unit, value}`
/// pair of strings with its own `*_update_time` in server time, incomes without a unit
/// and `"--"` where the account has no tariff.
fn station(plant: &Plant, open_alerts: &[&Alert], started_at: i64) -> Map<String, Value> {
    let power = if plant.power_in_kw {
        unit_value("kW", &number_text(plant.power_w / 1000.0, 3))
    } else {
        unit_value("W", &number_text(plant.power_w, 0))
    };
    let kwh_unit = if energy_in_degrees(plant) { "度" } else { "kWh" };
    let today = if plant.today_placeholder {
        // The portal's placeholder for "no value" (vendor-apis.md §6.7).
        unit_value(kwh_unit, "--")
    } else {
        unit_value(kwh_unit, &number_text(plant.today_kwh, 1))
    };
    let total = if plant.total_in_kwh || energy_in_degrees(plant) {
        unit_value(kwh_unit, &number_text(plant.total_kwh, 1))
    } else {
        unit_value("MWh", &number_text(plant.total_kwh / 1000.0, 2))
    };
    let fault_status = if open_alerts.iter().any(|a| a.fault_level <= 2) {
        1
    } else if open_alerts.is_empty() {
        3
    } else {
        2
    };
    let server_time =
        |unix: i64| in_zone(unix, &Shanghai).format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let updated = server_time(plant.last_update);
    let hours = if plant.capacity_kw > 0.0 { plant.today_kwh / plant.capacity_kw } else { 0.0 };
    let co2_kg = |kwh: f64| number_text(kwh * 0.997, 3);
    // An account in Chinese gets every unit in Chinese, as the documentation example.
    let (kg, hour) = if energy_in_degrees(plant) { ("千克", "小时") } else { ("kg", "Hour") };
    let item = json!({
        "ps_id": plant.id,
        "ps_name": plant.name,
        "ps_type": plant.ps_type,
        "ps_status": if plant.status == NetStatus::AllOffline { 0 } else { 1 },
        "ps_fault_status": fault_status,
        "alarm_count": open_alerts.len(),
        "fault_count": open_alerts.iter().filter(|a| a.fault_level <= 2).count(),
        "valid_flag": 1,
        "build_status": 2,
        "connect_type": 1 + plant.index % 2,
        "grid_connection_status": 0,
        "grid_connection_time": null,
        "share_type": "0",
        "description": null,
        "latitude": plant.lat,
        "longitude": plant.lng,
        "ps_location": plant.address,
        "ps_current_time_zone": data::gmt_label(plant.region.timezone, started_at),
        "install_date": in_zone(plant.created, &Shanghai).format("%Y-%m-%d %H:%M:%S").to_string(),
        "total_capcity": unit_value("kWp", &number_text(plant.capacity_kw, 2)),
        "total_capcity_update_time": server_time(plant.created),
        "curr_power": power,
        "curr_power_update_time": updated,
        "today_energy": today,
        "today_energy_update_time": updated,
        "total_energy": total,
        "total_energy_update_time": updated,
        "equivalent_hour": unit_value(hour, &number_text(hours, 2)),
        "equivalent_hour_update_time": updated,
        "co2_reduce": unit_value(kg, &co2_kg(plant.today_kwh)),
        "co2_reduce_update_time": null,
        "co2_reduce_total": unit_value(kg, &co2_kg(plant.total_kwh)),
        "co2_reduce_total_update_time": null,
        "today_income": unit_value("", "--"),
        "today_income_update_time": null,
        "total_income": unit_value("", "--"),
        "total_income_update_time": null,
    });
    match item {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in server time (Asia/Shanghai), as the fault list's times.
fn server_time(unix: i64) -> String {
    in_zone(unix, &Shanghai).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `yyyyMM` in server time: the middle part of a fault occurrence's id.
fn month(unix: i64) -> String {
    in_zone(unix, &Shanghai).format("%Y%m").to_string()
}

/// `POST /openapi/platform/getFaultAlarmInfo`: fault occurrences, newest first, filtered by
/// plant (`ps_id`, empty for all) and `process_status` (8 open, 9 closed, 999 or absent
/// both). There is no time filter, as in the real API.
async fn fault_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &headers, Endpoint::Alerts, &body, |call| {
        let ps_id = text_field(call.body, "ps_id").unwrap_or_default();
        let status = text_field(call.body, "process_status").unwrap_or_default();
        let (page, size) = paging(call.body, "page", LIST_SIZE.0, LIST_SIZE.1);
        let items = call.account.with_data(|data| {
            let mut alerts: Vec<(usize, &Alert, &Plant)> = data
                .alerts
                .iter()
                .enumerate()
                .filter(|(_, a)| !data.is_removed(a.plant))
                .filter_map(|(index, a)| Some((index, a, data.plants.get(a.plant)?)))
                .filter(|(_, _, p)| ps_id.trim().is_empty() || p.id.to_string() == ps_id.trim())
                .filter(|(_, a, _)| match status.trim() {
                    STATUS_OPEN => a.ended.is_none(),
                    STATUS_CLOSED => a.ended.is_some(),
                    _ => true,
                })
                .collect();
            alerts.sort_by_key(|(_, a, _)| (std::cmp::Reverse(a.time), a.id));
            alerts
                .iter()
                .flat_map(|&(index, a, p)| fault_rows(call.faults, index, a, p))
                .collect::<Vec<Value>>()
        });
        let total = items.len();
        let shown = list_page(call.faults, &items, page, size);
        success(call.state, page_data(call.account, total, shown))
    })
    .await
}

/// The fault-list items of one fault (`vendor-apis.md` §2.5, §2.7), alert `index` of the
/// account: one row, for the plant's first device; with `sungrow_no_ps_key`, one row per
/// device of the plant and none with a `ps_key`; with `wrong_type_alert` at `index`, a
/// `create_time` that is an object, so the row does not decode.
fn fault_rows(faults: &Faults, index: usize, alert: &Alert, plant: &Plant) -> Vec<Value> {
    let devices: Vec<&str> = match plant.devices.first() {
        Some(first) if !faults.sungrow_no_ps_key => vec![first.sn.as_str()],
        Some(_) => plant.devices.iter().map(|d| d.sn.as_str()).collect(),
        None => vec![""],
    };
    devices
        .iter()
        .enumerate()
        .map(|(position, device_sn)| {
            // Shaped as Sungrow's documented example: `ps_id` a number, `fault_code` an id
            // of the occurrence beside the type's `fault_type_code`, times as
            // `yyyy-MM-dd HH:mm:ss` in server time.
            let mut row = json!({
                "ps_id": plant.id,
                "ps_key": format!("{}_1_1_1", plant.id),
                "ps_name": plant.name,
                "device_sn": device_sn,
                "device_name": format!("INV-{}", position + 1),
                "device_model": "SG30T-CN",
                "device_type": 1,
                "fault_type_code": alert.code,
                "fault_code": format!("{}.{}.{:x}", alert.code, month(alert.time), 0xa000_0000_u64 + alert.id),
                "fault_name": alert.name,
                "fault_desc": "",
                "fault_level": alert.fault_level,
                "fault_type": 1,
                "create_time": server_time(alert.time),
                "over_time": alert.ended.map(server_time).unwrap_or_default(),
                "uuid": 12_000_000 + alert.id,
            });
            if faults.sungrow_no_ps_key
                && let Some(fields) = row.as_object_mut()
            {
                fields.remove("ps_key");
            }
            if faults.wrong_type_alert == Some(index) {
                row["create_time"] = json!({"unexpected": "object"});
            }
            if faults.implausible_alert_end == Some(index) {
                row["over_time"] = json!("9999-12-31 23:59:59");
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_times_are_shanghai_local() {
        // 2026-04-06T02:00:00Z is 10:00 in Shanghai.
        assert_eq!(server_time(1_775_440_800), "2026-04-06 10:00:00");
        assert_eq!(month(1_775_440_800), "202604");
    }
}
