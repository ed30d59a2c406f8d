//! The Huawei FusionSolar Northbound API ("thirdData") as the simulator serves it under
//! `/huawei` (`vendor-apis.md` §4). Where a real recorded reply exists
//! (`tests/fixtures/fusionsolar/recorded/`: the `stations`, legacy list and KPI replies),
//! the shapes are the recording's, which wins over the documentation; the login and the
//! alarm list have none and follow `vendor-apis.md`.
//!
//! Owns the wire format only: `POST` calls with JSON bodies answered with HTTP 200 and the
//! `{success, failCode, message, data, params}` envelope (`stations` sends no `params`, as
//! recorded); the login whose token comes back
//! in the `xsrf-token` header and the `XSRF-TOKEN` cookie, and is accepted from either on
//! later calls; one session per account (a new login ends every earlier token, `failCode
//! 305`); the `stations` list paged by `pageNo`/`pageCount`; the KPI and alarm calls keyed by
//! comma-separated `NE=` codes (the daily KPIs one row per day of `collectTime`'s month,
//! stamped with the station-local midnight); and `failCode 407` for rate limiting, which the
//! `fusion_min_interval_scale` fault also sends for requests repeated too soon. Accounts,
//! counting and faults are shared with the other vendors.

use super::data::{self, Alert, NetStatus, Plant, in_zone, number_text, round};
use super::faults::{
    Reply, mangle_plant, number_field, page_count, plant_page, plant_total, signed_field,
    text_field,
};
use super::history;
use super::state::{Account, SimState};
use super::{Endpoint, Faults};
use crate::domain::VendorKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A session ends after this long without a call (seconds); each call extends it.
const SESSION_IDLE: i64 = 30 * 60;
/// Default and maximum `pageSize` of `stations`.
const PAGE_SIZE: (u64, u64) = (100, 100);
/// Most station codes `getStationRealKpi` accepts.
const MAX_KPI_STATIONS: usize = 100;
/// Widest `getAlarmList` window, milliseconds.
const MAX_ALARM_WINDOW_MS: i64 = 7 * 86_400 * 1000;
/// Revenue per kWh, in the plant's currency.
const TARIFF: f64 = 0.1;

/// One call: its route (the key of the minimum intervals), counter and minimum interval.
#[derive(Debug, Clone, Copy)]
struct Route {
    path: &'static str,
    endpoint: Endpoint,
    min_interval_secs: f64,
}

const LOGIN: Route =
    Route { path: "/thirdData/login", endpoint: Endpoint::Login, min_interval_secs: 15.0 };
const STATIONS: Route =
    Route { path: "/thirdData/stations", endpoint: Endpoint::PlantList, min_interval_secs: 300.0 };
const REAL_KPI: Route = Route {
    path: "/thirdData/getStationRealKpi",
    endpoint: Endpoint::Realtime,
    min_interval_secs: 65.0,
};
const LEGACY_STATIONS: Route = Route {
    path: "/thirdData/getStationList",
    endpoint: Endpoint::PlantList,
    min_interval_secs: 300.0,
};
const KPI_DAY: Route = Route {
    path: "/thirdData/getKpiStationDay",
    endpoint: Endpoint::History,
    min_interval_secs: 60.0,
};
const ALARMS: Route =
    Route { path: "/thirdData/getAlarmList", endpoint: Endpoint::Alerts, min_interval_secs: 60.0 };

/// The routes, relative to the `/huawei` prefix.
pub(super) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(LOGIN.path, post(login))
        .route(STATIONS.path, post(stations))
        .route(LEGACY_STATIONS.path, post(legacy_stations))
        .route(REAL_KPI.path, post(real_kpi))
        .route(ALARMS.path, post(alarm_list))
        .route(KPI_DAY.path, post(kpi_day))
}

/// A request body as JSON; a missing or malformed body reads as `{}`.
fn parse(body: &Bytes) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The success envelope around `data`, with the server time in `params` (as the recorded
/// legacy list and KPI replies have it).
fn success(data: Value, account: &Account) -> Reply {
    success_with(data, Map::new(), account)
}

/// [`success`] with more `params`: the KPI reply echoes its `stationCodes` beside the time.
fn success_with(data: Value, mut params: Map<String, Value>, account: &Account) -> Reply {
    // The simulator's clock: a frozen day's readings are stamped with that day.
    params.insert("currentTime".into(), json!(account.now().saturating_mul(1000)));
    let mut body = json!({"success": true, "failCode": 0, "message": null, "data": null});
    body["data"] = data;
    body["params"] = Value::Object(params);
    Reply::ok(body)
}

/// A failure envelope (HTTP 200, as every FusionSolar answer).
fn failure(code: u32, message: &str) -> Reply {
    Reply::ok(json!({"success": false, "failCode": code, "message": message, "data": null}))
}

/// Wrong user name or system code, or a rejected login.
fn bad_credentials() -> Reply {
    // As the live portal answers (recorded by a public client): HTTP 200, no body.
    Reply::empty(StatusCode::OK)
}

/// A login answer that says neither success nor a failCode (`success:false`, failCode 0):
/// the `malformed_login` fault.
fn neither_success_nor_failure() -> Reply {
    Reply::ok(json!({"success": false, "failCode": 0, "data": null, "message": null}))
}

/// The answer to a missing, unknown, replaced or expired token.
fn must_relogin() -> Reply {
    // As recorded from a live account: no `success` key.
    Reply::ok(json!({
        "failCode": 305,
        "message": "USER_MUST_RELOGIN",
        "immediately": true,
    }))
}

/// The rate-limit signal.
fn too_frequent() -> Reply {
    failure(407, "ACCESS_FREQUENCY_IS_TOO_HIGH")
}

/// Whether `body` repeats an identical request to `route` too soon, when the account
/// enforces minimum intervals. Only checked requests are remembered.
fn too_soon(account: &Account, faults: &Faults, route: Route, body: &Value) -> bool {
    let Some(scale) = faults.fusion_min_interval_scale else { return false };
    let secs = route.min_interval_secs * scale;
    // NaN, zero or negative scales enforce nothing; huge ones saturate.
    let window = if secs > 0.0 {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    };
    account.repeated_within(route.path, body, window)
}

/// `POST /thirdData/login {userName, systemCode}`: on success the token is in the
/// `xsrf-token` header and the `XSRF-TOKEN` cookie, and every earlier token of the account
/// stops working.
async fn login(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let _flight = state.enter(VendorKind::Huawei);
    let body = parse(&body);
    let user = text_field(&body, "userName").unwrap_or_default();
    let Some(account) = state.find(VendorKind::Huawei, |c| c.username == user) else {
        return bad_credentials().into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(LOGIN.endpoint);
    if let Some(response) = plan.preflight(too_frequent).await {
        return response;
    }
    if too_soon(account, &plan.faults, LOGIN, &body) {
        account.note_rate_limited();
        return plan.finish(too_frequent());
    }
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return too_frequent().into_response(false);
    }
    let code = text_field(&body, "systemCode").unwrap_or_default();
    if code != account.creds.password || plan.faults.reject_login {
        return plan.finish(bad_credentials());
    }
    if plan.faults.malformed_login {
        return plan.finish(neither_success_nor_failure());
    }
    let material = state.token_material(account);
    let token = format!("x-{}", &material[..40.min(material.len())]);
    state.issue_session_token(account, token.clone(), SESSION_IDLE);
    let reply = success(Value::Null, account)
        .header(HeaderName::from_static("xsrf-token"), &token)
        .header(SET_COOKIE, &format!("XSRF-TOKEN={token}; Path=/; HttpOnly"));
    plan.finish(reply)
}

/// The session token of a request: the `XSRF-TOKEN` header (any case), else the
/// `XSRF-TOKEN` cookie.
fn request_token(headers: &HeaderMap) -> Option<String> {
    let header = headers.get("xsrf-token").and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(token) = header.filter(|t| !t.is_empty()) {
        return Some(token.to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("XSRF-TOKEN"))
        .map(|(_, value)| value.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// What a handler of an authenticated call gets.
struct Call<'a> {
    account: &'a Account,
    faults: &'a Faults,
    body: &'a Value,
}

/// The shared path of every call after the login: attribute by token, count, faults, the
/// account's concurrency limit, token check, minimum interval, refused calls
/// (`no_permission`), then `handle`. The interval
/// is checked after the token so that a call refused for an ended session can be retried at
/// once after the new login.
async fn serve(
    state: &SimState,
    headers: &HeaderMap,
    body: &Bytes,
    route: Route,
    handle: fn(Call<'_>) -> Reply,
) -> Response {
    let _flight = state.enter(VendorKind::Huawei);
    let token = request_token(headers).unwrap_or_default();
    let Some(account) = state.token_owner(&token).filter(|a| a.kind == VendorKind::Huawei) else {
        return must_relogin().into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(route.endpoint);
    if let Some(response) = plan.preflight(too_frequent).await {
        return response;
    }
    // Before the token check: a refused request does not use up `token_expires_after`.
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return too_frequent().into_response(false);
    }
    if !state.use_token(account, &token, plan.faults.token_expires_after) {
        return plan.finish(must_relogin());
    }
    let body = parse(body);
    if too_soon(account, &plan.faults, route, &body) {
        account.note_rate_limited();
        return plan.finish(too_frequent());
    }
    if plan.faults.no_permission.contains(&route.endpoint) {
        return plan.finish(failure(401, "Invalid access to current interface!"));
    }
    plan.finish(handle(Call { account, faults: &plan.faults, body: &body }))
}

/// `POST /thirdData/stations {pageNo, pageSize?}`.
async fn stations(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&state, &headers, &body, STATIONS, |call| {
        if call.faults.fusion_legacy_only {
            return failure(401, "Invalid access to current interface!");
        }
        let page = number_field(call.body, "pageNo").unwrap_or(1).max(1);
        let size = number_field(call.body, "pageSize").filter(|&s| s > 0).unwrap_or(PAGE_SIZE.0);
        if size > PAGE_SIZE.1 {
            return failure(20400, "pageSize too large");
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let data = call.account.with_data(|data| {
            let listed: Vec<&Plant> = data.listed().collect();
            let shown = plant_page(call.faults, listed.len(), page, size);
            let list: Vec<Value> = listed[shown]
                .iter()
                .map(|plant| {
                    let mut item = station(plant);
                    mangle_plant(call.faults, plant.index, &mut item, ("plantCode", "plantName", "capacity"));
                    Value::Object(item)
                })
                .collect();
            json!({
                "list": list,
                "pageNo": page,
                "pageSize": size,
                "pageCount": page_count(call.faults, plant_total(call.faults, listed.len(), page), size),
                "total": plant_total(call.faults, listed.len(), page),
            })
        });
        // The recorded reply (KornSW, gen 2): a message, and no `params` at all.
        Reply::ok(json!({
            "data": data,
            "failCode": 0,
            "message": "get plant list success",
            "success": true,
        }))
    })
    .await
}

/// `POST /thirdData/getStationList {}`: the legacy list, every station in one answer, with
/// the capacity in **MW** (`vendor-apis.md` §4.3), shaped as the two recorded replies
/// (`aidType` 1, `null` build and combine types, `params.currentTime`).
async fn legacy_stations(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &headers, &body, LEGACY_STATIONS, |call| {
        let list: Vec<Value> = call.account.with_data(|data| {
            data.listed()
                .map(|plant| {
                    json!({
                        "stationCode": code(plant),
                        "stationName": plant.name,
                        "stationAddr": plant.address,
                        "capacity": plant.capacity_kw / 1000.0,
                        "buildState": null,
                        "combineType": null,
                        "aidType": 1,
                        "stationLinkman": "",
                        "linkmanPho": "",
                    })
                })
                .collect()
        });
        success(Value::Array(list), call.account)
    })
    .await
}

/// The plant's `NE=` code.
fn code(plant: &Plant) -> String {
    data::vendor_plant_id(VendorKind::Huawei, plant.id)
}

/// One `stations` item, shaped as the recorded one: coordinates as text, the contact
/// fields `null`, `gridConnectionDate` with the plant's offset.
fn station(plant: &Plant) -> Map<String, Value> {
    let grid_connected = in_zone(plant.created, &plant.region.timezone);
    let item = json!({
        "plantCode": code(plant),
        "plantName": plant.name,
        "plantAddress": plant.address,
        "latitude": number_text(plant.lat, 4),
        "longitude": number_text(plant.lng, 4),
        "capacity": plant.capacity_kw,
        "contactPerson": null,
        "contactMethod": null,
        "gridConnectionDate": grid_connected.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    });
    match item {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The comma-separated `stationCodes` of a request.
fn station_codes(body: &Value) -> Vec<String> {
    text_field(body, "stationCodes")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /thirdData/getStationRealKpi {stationCodes}`: unknown codes are left out.
async fn real_kpi(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&state, &headers, &body, REAL_KPI, |call| {
        let codes = station_codes(call.body);
        if codes.is_empty() {
            return failure(20400, "stationCodes is required");
        }
        if codes.len() > MAX_KPI_STATIONS {
            return failure(20006, "too many stations");
        }
        let rows: Vec<Value> = call.account.with_data(|data| {
            codes
                .iter()
                .filter_map(|wanted| data.listed().find(|p| code(p) == *wanted))
                .map(kpi)
                .collect()
        });
        // The recorded reply echoes the codes asked for in `params`.
        let mut params = Map::new();
        params.insert("stationCodes".into(), json!(codes.join(",")));
        success_with(Value::Array(rows), params, call.account)
    })
    .await
}

/// `POST /thirdData/getKpiStationDay {stationCodes, collectTime}` (at most 100 codes,
/// `collectTime` epoch ms): for each known station, one row per day of the calendar month
/// holding `collectTime` in the station's own zone, from its grid connection to its today
/// (today partial), each stamped with the station-local midnight in epoch ms, as the real
/// portal does (vendor-history-apis.md §4). A day without data is a row with an empty
/// `dataItemMap`. The values vary in shape by station as the portal's do: numbers, numbers
/// as text, or a `null` `PVYield` beside the legacy `inverter_power`.
async fn kpi_day(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&state, &headers, &body, KPI_DAY, |call| {
        let codes = station_codes(call.body);
        if codes.is_empty() {
            return failure(20400, "stationCodes is required");
        }
        if codes.len() > MAX_KPI_STATIONS {
            return failure(20006, "too many stations");
        }
        let Some(collect) = signed_field(call.body, "collectTime") else {
            return failure(20400, "collectTime is required");
        };
        let now = call.account.now();
        let rows: Vec<Value> = call.account.with_data(|data| {
            let mut rows = Vec::new();
            for wanted in &codes {
                let Some(plant) = data.listed().find(|p| code(p) == *wanted) else { continue };
                let zone = &plant.region.timezone;
                let asked = in_zone(collect.div_euclid(1000), zone).date_naive();
                let (first, last) = history::month_of(asked);
                let created = in_zone(plant.created, zone).date_naive();
                let today = history::today_of(plant, now);
                for day in history::days(first.max(created), last.min(today), 31) {
                    let Some(midnight) = day
                        .and_hms_opt(0, 0, 0)
                        .and_then(|t| t.and_local_timezone(*zone).earliest())
                    else {
                        continue;
                    };
                    let map = match data.history.kwh(plant, day, now) {
                        None => json!({}),
                        Some(kwh) => day_items(plant, kwh),
                    };
                    rows.push(json!({
                        "collectTime": midnight.timestamp_millis(),
                        "stationCode": code(plant),
                        "dataItemMap": map,
                    }));
                }
            }
            rows
        });
        success(Value::Array(rows), call.account)
    })
    .await
}

/// One day's `dataItemMap`, in one of the portal's shapes by station.
fn day_items(plant: &Plant, kwh: f64) -> Value {
    let kwh = round(kwh, 2);
    match plant.index % 3 {
        0 => json!({"PVYield": kwh, "inverter_power": kwh, "installed_capacity": plant.capacity_kw,
            "perpower_ratio": round(kwh / plant.capacity_kw, 3), "use_power": null}),
        1 => json!({"PVYield": kwh.to_string(), "inverter_power": kwh.to_string(),
            "installed_capacity": plant.capacity_kw.to_string()}),
        _ => json!({"PVYield": null, "inverter_power": kwh, "ongrid_power": null}),
    }
}

/// One `getStationRealKpi` row. `day_power` is null for the plants whose today's energy
/// the other vendors show as a placeholder.
fn kpi(plant: &Plant) -> Value {
    let health = match plant.status {
        NetStatus::AllOffline => 1,
        NetStatus::PartialOffline => 2,
        NetStatus::Normal => 3,
    };
    let day_power = (!plant.today_placeholder).then(|| round(plant.today_kwh, 2));
    json!({
        "stationCode": code(plant),
        "dataItemMap": {
            "day_power": day_power,
            "month_power": round((plant.today_kwh * 14.0).min(plant.total_kwh), 2),
            "total_power": round(plant.total_kwh, 2),
            "day_income": round(plant.today_kwh * TARIFF, 3),
            "total_income": round(plant.total_kwh * TARIFF, 2),
            "real_health_state": health,
        },
    })
}

/// `POST /thirdData/getAlarmList {stationCodes, beginTime, endTime, language}`: the alarms
/// of those stations raised inside the window (at most 7 days), active and recovered.
async fn alarm_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &headers, &body, ALARMS, |call| {
        let (Some(begin), Some(end)) =
            (signed_field(call.body, "beginTime"), signed_field(call.body, "endTime"))
        else {
            return failure(20400, "beginTime and endTime are required");
        };
        if end.saturating_sub(begin) > MAX_ALARM_WINDOW_MS {
            return failure(20010, "time range too large");
        }
        let codes = station_codes(call.body);
        if codes.is_empty() {
            return failure(20400, "stationCodes is required");
        }
        let rows: Vec<Value> = call.account.with_data(|data| {
            data.live_alerts()
                .filter(|a| (begin..=end).contains(&a.time.saturating_mul(1000)))
                .filter_map(|a| Some((a, data.plants.get(a.plant)?)))
                .filter(|(_, p)| codes.contains(&code(p)))
                .map(|(a, p)| alarm(a, p))
                .collect()
        });
        success(Value::Array(rows), call.account)
    })
    .await
}

/// One `getAlarmList` row (`vendor-apis.md` §4.4, §4.6). `alarmId` identifies the alarm
/// type; `recoveryTime` appears only once the alarm is over.
fn alarm(alert: &Alert, plant: &Plant) -> Value {
    let type_id: u64 = alert.code.parse().unwrap_or(0);
    let mut row = json!({
        "stationCode": code(plant),
        "stationName": plant.name,
        "alarmId": 2000 + type_id,
        "alarmName": alert.name,
        "alarmCause": format!("{} detected by the inverter", alert.name),
        "alarmType": 2,
        "causeId": 1 + alert.level,
        "devName": "Inverter-1",
        "devTypeId": 1,
        "esnCode": plant.devices.first().map(|d| d.sn.clone()).unwrap_or_default(),
        "lev": alert.fault_level,
        "raiseTime": alert.time.saturating_mul(1000),
        "repairSuggestion": "Check the inverter and its grid connection; contact the installer if the alarm persists.",
        "status": if alert.ended.is_some() { 5 } else { 1 },
    });
    if let Some(ended) = alert.ended {
        row["recoveryTime"] = json!(ended.saturating_mul(1000));
    }
    row
}
