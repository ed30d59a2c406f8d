//! The Solarman OpenAPI as the simulator serves it under `/solarman` (`vendor-apis.md` §1).
//!
//! The station list's shape is the real recorded one
//! (`tests/fixtures/solarman/recorded/`, which wins over `vendor-apis.md` where they differ);
//! realtime follows the PDF example quoted there; token, device and alert calls follow the
//! documentation, no real body of them being known.
//!
//! Owns the wire format only: the token call (app id in the query, SHA-256 password in the
//! body, a JWT-shaped token whose payload carries `exp`), Bearer authentication with HTTP
//! 401 on a bad token, the station list, realtime, device, alert and daily-history
//! (`station/v1.0/history`, `timeType 2`, at most 30 days) calls, and Solarman's
//! rate-limit signal (HTTP 429 with `Retry-After`). Accounts, counting and faults are shared
//! with the other vendors.

use super::data::{self, NetStatus, Plant};
use super::faults::{
    Reply, list_page, mangle_plant, number_field, paging, plant_page, plant_total, signed_field,
    text_field,
};
use super::history;
use super::state::{Account, SimState, sha256_hex};
use super::{Endpoint, Faults};
use crate::domain::VendorKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Datelike;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// `expires_in` of issued tokens, seconds (about 60 days, as the real portal).
const TOKEN_LIFETIME: i64 = 5_183_999;
/// Default and maximum `size` of the station list.
const LIST_SIZE: (u64, u64) = (20, 100);
/// Default and maximum `size` of the device list.
const DEVICE_SIZE: (u64, u64) = (20, 200);
/// Default and maximum `size` of the alert list.
const ALERT_SIZE: (u64, u64) = (20, 100);

/// The routes, relative to the `/solarman` prefix.
pub(super) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/account/v1.0/token", post(token))
        .route("/station/v1.0/list", post(station_list))
        .route("/station/v1.0/realTime", post(realtime))
        .route("/station/v1.0/device", post(devices))
        .route("/device/v1.0/alertList", post(alert_list))
        .route("/station/v1.0/history", post(history))
}

/// The most days one `timeType 2` history call may span (the portal answers `2101012`
/// beyond it, vendor-history-apis.md §1).
const HISTORY_DAYS: i64 = 30;

/// `POST /station/v1.0/history {stationId, timeType: 2, startTime, endTime}` (`yyyy-MM-dd`,
/// both inclusive): the flat `stationDataItems`, one per day with data (a day without is
/// left out), keyed by integer `year`/`month`/`day`, energies in kWh. Other time types are
/// refused (`2101006`), as is a span over 30 days (`2101012`).
async fn history(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    authed(&state, &headers, Endpoint::History, &body, |state, account, _, body| {
        if number_field(body, "timeType") != Some(2) {
            return failure(state, "2101006", "invalid param: timeType");
        }
        let start = text_field(body, "startTime").as_deref().and_then(history::parse_dashed);
        let end = text_field(body, "endTime").as_deref().and_then(history::parse_dashed);
        let (Some(start), Some(end)) = (start, end.or(start)) else {
            return failure(state, "2101015", "time format error");
        };
        if end < start || (end - start).num_days() >= HISTORY_DAYS {
            return failure(state, "2101012", "time range exceeded");
        }
        let id = number_field(body, "stationId");
        let now = account.now();
        let items = account.with_data(|data| {
            let plant = id.and_then(|id| data.plant_by_id(id))?;
            let items: Vec<Value> = history::days(start, end, HISTORY_DAYS as usize)
                .into_iter()
                .filter_map(|day| {
                    let kwh = data.history.kwh(plant, day, now)?;
                    Some(json!({
                        "year": day.year(), "month": day.month(), "day": day.day(),
                        "generationValue": kwh, "useValue": null, "gridValue": null,
                        "buyValue": null, "chargeValue": null, "dischargeValue": null,
                        "fullPowerHours": data::round(kwh / plant.capacity_kw, 2),
                    }))
                })
                .collect();
            Some(items)
        });
        match items {
            Some(items) => {
                Reply::ok(success(state, json!({"total": items.len(), "stationDataItems": items})))
            }
            None => failure(state, "2101030", "station not found"),
        }
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

/// The success envelope with `fields` added.
fn success(state: &SimState, fields: Value) -> Value {
    let mut body = json!({"code": null, "msg": null, "success": true,
        "requestId": state.request_id(16)});
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    body
}

/// A `success:false` answer (HTTP 200, as Solarman reports most errors).
fn failure(state: &SimState, code: &str, msg: &str) -> Reply {
    Reply::ok(json!({"code": code, "msg": msg, "success": false,
        "requestId": state.request_id(16)}))
}

/// The rate-limit signal.
fn rate_limited() -> Reply {
    Reply::with_status(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"success": false, "code": "429", "msg": "Too many requests"}),
    )
    .retry_after(1)
}

/// The answer to a missing, unknown or expired token.
fn invalid_token() -> Reply {
    Reply::with_status(
        StatusCode::UNAUTHORIZED,
        json!({"code": "2101019", "msg": "auth invalid token", "success": false}),
    )
}

/// `POST /account/v1.0/token?appId=`: checks the app and the user, issues a token.
async fn token(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let _flight = state.enter(VendorKind::Solarman);
    let body = parse(&body);
    let app_id = query.get("appId").map(String::as_str).unwrap_or_default();
    let user = text_field(&body, "username").or_else(|| text_field(&body, "email"));
    // Attribute by app id, else by user name, as far as the request allows.
    let account = state.find(VendorKind::Solarman, |c| c.app_id == app_id).or_else(|| {
        user.as_deref().and_then(|u| state.find(VendorKind::Solarman, |c| c.username == u))
    });
    let Some(account) = account else {
        return failure(&state, "2101006", "invalid username or password").into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(Endpoint::Login);
    if let Some(response) = plan.preflight(rate_limited).await {
        return response;
    }
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return rate_limited().into_response(false);
    }
    let creds = &account.creds;
    let valid = app_id == creds.app_id
        && text_field(&body, "appSecret").as_deref() == Some(creds.app_secret.as_str())
        && user.as_deref() == Some(creds.username.as_str())
        && text_field(&body, "password").as_deref() == Some(sha256_hex(&creds.password).as_str());
    if !valid || plan.faults.reject_login {
        return plan.finish(failure(&state, "2101006", "invalid username or password"));
    }
    if plan.faults.malformed_login {
        // A stub that says neither why nor what: no code, no message.
        return plan.finish(Reply::ok(serde_json::json!({"success": false})));
    }
    let expires_at = chrono::Utc::now().timestamp() + TOKEN_LIFETIME;
    let access_token = jwt(&state, account, expires_at);
    let refresh_token = state.token_material(account);
    state.issue_token(account, access_token.clone(), expires_at);
    plan.finish(Reply::ok(success(
        &state,
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "expires_in": TOKEN_LIFETIME.to_string(),
            "scope": "all",
            "uid": 1000 + account.index,
        }),
    )))
}

/// A JWT-shaped token `header.payload.signature` whose payload is `{"exp": expires_at}`.
fn jwt(state: &SimState, account: &Account, expires_at: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(json!({"exp": expires_at}).to_string());
    let signature = URL_SAFE_NO_PAD.encode(state.token_material(account));
    format!("{header}.{payload}.{signature}")
}

/// The shared path of every Bearer-authenticated call: attribute by token, count, faults,
/// the account's concurrency limit, token check, then `handle`.
async fn authed(
    state: &SimState,
    headers: &HeaderMap,
    endpoint: Endpoint,
    body: &Bytes,
    handle: fn(&SimState, &Account, &Faults, &Value) -> Reply,
) -> Response {
    let _flight = state.enter(VendorKind::Solarman);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or_default();
    let Some(account) = state.token_owner(token).filter(|a| a.kind == VendorKind::Solarman) else {
        return invalid_token().into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(endpoint);
    if let Some(response) = plan.preflight(rate_limited).await {
        return response;
    }
    // Before the token check: a refused request does not use up `token_expires_after`.
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return rate_limited().into_response(false);
    }
    if !state.use_token(account, token, plan.faults.token_expires_after) {
        return plan.finish(invalid_token());
    }
    plan.finish(handle(state, account, &plan.faults, &parse(body)))
}

/// `POST /station/v1.0/list`.
async fn station_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed(&state, &headers, Endpoint::PlantList, &body, |state, account, faults, body| {
        let (page, size) = paging(body, "page", LIST_SIZE.0, LIST_SIZE.1);
        let (total, stations) = account.with_data(|data| {
            let listed: Vec<&Plant> = data.listed().collect();
            let shown = plant_page(faults, listed.len(), page, size);
            let stations: Vec<Value> = listed[shown]
                .iter()
                .map(|plant| {
                    let mut item = station(plant);
                    mangle_plant(
                        faults,
                        plant.index,
                        &mut item,
                        ("id", "name", "installedCapacity"),
                    );
                    Value::Object(item)
                })
                .collect();
            (plant_total(faults, listed.len(), page), stations)
        });
        Reply::ok(success(state, json!({"total": total, "stationList": stations})))
    })
    .await
}

/// One `stationList` item, in the shape of the real recorded list
/// (`tests/fixtures/solarman/recorded/station_list__unhcr.json`, which wins over
/// `vendor-apis.md` §1.3 where they differ): every key the portal sends, `null` where it
/// has no value rather than left out; numbers as numbers (ids and region ids integers,
/// capacity, power and seconds floats); `networkStatus` unpadded, as recorded (clients
/// still trim it).
fn station(plant: &Plant) -> Map<String, Value> {
    let status = match plant.status {
        NetStatus::Normal => "NORMAL",
        NetStatus::PartialOffline => "PARTIAL_OFFLINE",
        NetStatus::AllOffline => "ALL_OFFLINE",
    };
    let item = json!({
        "id": plant.id,
        "name": plant.name,
        "locationLat": plant.lat,
        "locationLng": plant.lng,
        "locationAddress": plant.address,
        "regionNationId": plant.region.nation_id,
        "regionLevel1": region_level1(plant),
        "regionLevel2": null,
        "regionLevel3": null,
        "regionLevel4": null,
        "regionLevel5": null,
        "regionTimezone": plant.region.timezone.name(),
        "type": plant.station_type,
        "gridInterconnectionType": plant.grid_type,
        "installedCapacity": plant.capacity_kw,
        "startOperatingTime": plant.created as f64,
        "stationImage": null,
        "createdDate": plant.created as f64,
        // A number only for stations with a battery (the recorded ones are
        // BATTERY_BACKUP); no simulated grid type has one.
        "batterySoc": null,
        "networkStatus": status,
        "generationPower": plant.power_w,
        "lastUpdateTime": plant.last_update as f64,
        "contactPhone": null,
        "ownerName": null,
    });
    match item {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `regionLevel1`, the portal's own id of the state or province (2263 for the FCT in the
/// recording): opaque to clients, so a stable number per town is enough.
fn region_level1(plant: &Plant) -> u32 {
    let town =
        plant.town.bytes().fold(0u32, |sum, b| sum.wrapping_mul(31).wrapping_add(u32::from(b)));
    2000 + town % 1000
}

/// `POST /station/v1.0/realTime`.
async fn realtime(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    authed(&state, &headers, Endpoint::Realtime, &body, |state, account, _, body| {
        let id = number_field(body, "stationId");
        let found = account.with_data(|data| {
            id.and_then(|id| data.plant_by_id(id)).map(|p| {
                // The keys of the PDF's realtime example
                // (`tests/fixtures/solarman/recorded/realtime__pdfsample_partial.json`),
                // null where a simulated plant has no meter or battery, plus the day's
                // and lifetime energy the documentation lists (the quoted example is
                // partial and has neither).
                json!({
                    "generationPower": p.power_w,
                    "usePower": null,
                    "gridPower": null,
                    "purchasePower": null,
                    "wirePower": null,
                    "chargePower": null,
                    "dischargePower": null,
                    "batteryPower": null,
                    "batterySoc": null,
                    "irradiateIntensity": null,
                    "generationValue": p.today_kwh,
                    "generationTotal": p.total_kwh,
                    "lastUpdateTime": p.last_update as f64,
                })
            })
        });
        match found {
            Some(fields) => Reply::ok(success(state, fields)),
            None => station_not_found(state),
        }
    })
    .await
}

fn station_not_found(state: &SimState) -> Reply {
    failure(state, "2101030", "station not found")
}

/// `POST /station/v1.0/device`.
async fn devices(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    authed(&state, &headers, Endpoint::Devices, &body, |state, account, faults, body| {
        let id = number_field(body, "stationId");
        let (page, size) = paging(body, "page", DEVICE_SIZE.0, DEVICE_SIZE.1);
        let found = account.with_data(|data| {
            id.and_then(|id| data.plant_by_id(id)).map(|p| {
                let items: Vec<Value> = p
                    .devices
                    .iter()
                    .map(|d| {
                        json!({
                            "deviceId": d.id,
                            "deviceSn": d.sn,
                            "deviceType": "INVERTER",
                            "connectStatus": 1,
                            "collectionTime": p.last_update,
                        })
                    })
                    .collect();
                (items.len(), list_page(faults, &items, page, size))
            })
        });
        match found {
            Some((total, items)) => {
                Reply::ok(success(state, json!({"total": total, "deviceListItems": items})))
            }
            None => station_not_found(state),
        }
    })
    .await
}

/// `POST /device/v1.0/alertList`: the alerts of one device that started inside the
/// requested window. Only a plant's first device has alerts; ended alerts are no longer
/// listed (Solarman has no end time, clients infer it from absence).
async fn alert_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed(&state, &headers, Endpoint::Alerts, &body, |state, account, faults, body| {
        let sn = text_field(body, "deviceSn");
        let device_id = number_field(body, "deviceId");
        let (Some(from), Some(to)) =
            (signed_field(body, "startTimestamp"), signed_field(body, "endTimestamp"))
        else {
            return failure(state, "2101001", "startTimestamp and endTimestamp are required");
        };
        let (page, size) = paging(body, "page", ALERT_SIZE.0, ALERT_SIZE.1);
        let found = account.with_data(|data| {
            let (plant, device) = data.listed().find_map(|p| {
                let device = p.devices.iter().enumerate().find(|(_, d)| {
                    sn.as_deref() == Some(d.sn.as_str()) || device_id == Some(d.id)
                })?;
                Some((p, device))
            })?;
            let (position, device) = device;
            let alerts: Vec<Value> = data
                .live_alerts()
                .filter(|a| position == 0 && a.plant == plant.index && a.ended.is_none())
                .filter(|a| (from..=to).contains(&a.time))
                .map(|a| {
                    json!({
                        "alertId": a.id,
                        "alertName": a.name,
                        "addr": format!("ERR{}", a.code),
                        "code": a.code,
                        "level": a.level,
                        "influence": a.influence,
                        "alertTime": a.time,
                        "description": "",
                    })
                })
                .collect();
            Some(json!({
                "deviceSn": device.sn,
                "deviceId": device.id,
                "total": alerts.len(),
                "alertList": list_page(faults, &alerts, page, size),
            }))
        });
        match found {
            Some(fields) => Reply::ok(success(state, fields)),
            None => failure(state, "2101031", "device not found"),
        }
    })
    .await
}
