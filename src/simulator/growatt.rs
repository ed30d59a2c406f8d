//! The Growatt OpenAPI v1 as the simulator serves it under `/growatt` (`vendor-apis.md` §5),
//! in the shapes of Growatt's own documented replies
//! (`tests/fixtures/growatt/recorded/`), which win over our reading of the documentation.
//!
//! Owns the wire format only: `GET` calls authenticated by the static API token in the
//! `token` header (no login), the `{data, error_code, error_msg}` envelope that is HTTP 200
//! even for errors (`10011` for a bad token, `10012` for rate limiting, `-1` from a retired
//! domain), the plant list paged by `page`/`perpage` with some numbers as strings, and the
//! per-plant details, data and daily energy (`plant/energy`, 7 days at most, kWh as text)
//! calls. Growatt has no plant-level alert list, so neither has the simulator.
//! Accounts, counting and faults are shared with the other vendors.

use super::data::{NetStatus, Plant, gmt_label, in_zone, number_text, round};
use super::faults::{Reply, mangle_plant, plant_page, plant_total};
use super::history;
use super::state::{Account, SimState};
use super::{Endpoint, Faults};
use crate::domain::VendorKind;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use chrono::Offset;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A January instant: the details call shows a plant's standard (winter) offset, as a
/// configured portal setting would, not one that changes with daylight saving.
const STANDARD_TIME: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// Default and maximum `perpage` of the plant list.
const PER_PAGE: (u64, u64) = (20, 100);

/// The routes, relative to the `/growatt` prefix.
pub(super) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1/plant/list", get(plant_list))
        .route("/v1/plant/data", get(plant_data))
        .route("/v1/plant/details", get(plant_details))
        .route("/v1/plant/energy", get(plant_energy))
}

/// An error envelope (HTTP 200).
fn error(code: i32, message: &str) -> Reply {
    Reply::ok(json!({"error_code": code, "error_msg": message, "data": null}))
}

/// The success envelope around `data`.
fn success(data: Value) -> Reply {
    let mut body = json!({"data": null, "error_code": 0, "error_msg": ""});
    body["data"] = data;
    Reply::ok(body)
}

/// The answer to a missing, unknown or rejected token.
fn permission_denied() -> Reply {
    error(10011, "error_permission_denied")
}

/// The rate-limit signal.
fn frequently_access() -> Reply {
    error(10012, "error_frequently_access")
}

/// What a handler gets.
struct Call<'a> {
    account: &'a Account,
    faults: &'a Faults,
    query: &'a HashMap<String, String>,
}

/// The shared path of every call: attribute by token, count, faults, retired domain, token
/// check, the account's concurrency limit, its refused calls (`no_permission`), then
/// `handle`. A token that matches no account cannot be attributed, so a retired
/// domain still answers it with `10011`.
async fn serve(
    state: &SimState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    endpoint: Endpoint,
    handle: fn(Call<'_>) -> Reply,
) -> Response {
    let _flight = state.enter(VendorKind::Growatt);
    let token = headers.get("token").and_then(|v| v.to_str().ok()).map_or("", str::trim);
    let account = (!token.is_empty())
        .then(|| state.find(VendorKind::Growatt, |c| c.api_key == token))
        .flatten();
    let Some(account) = account else {
        return permission_denied().into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(endpoint);
    if let Some(response) = plan.preflight(frequently_access).await {
        return response;
    }
    if plan.faults.growatt_retired_domain {
        return plan.finish(error(-1, "Please use the new domain"));
    }
    if plan.faults.reject_login {
        return plan.finish(permission_denied());
    }
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return frequently_access().into_response(false);
    }
    if plan.faults.no_permission.contains(&endpoint) {
        return plan.finish(error(101, "no permission"));
    }
    plan.finish(handle(Call { account, faults: &plan.faults, query }))
}

/// A positive integer query parameter; missing, malformed or zero reads as `None`.
fn query_number(query: &HashMap<String, String>, name: &str) -> Option<u64> {
    query.get(name).and_then(|v| v.trim().parse().ok()).filter(|&n| n > 0)
}

/// `GET /v1/plant/list?page=&perpage=`.
async fn plant_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, &headers, &query, Endpoint::PlantList, |call| {
        let page = query_number(call.query, "page").unwrap_or(1);
        let per_page = query_number(call.query, "perpage").unwrap_or(PER_PAGE.0);
        if per_page > PER_PAGE.1 {
            return error(10002, "perpage must be at most 100");
        }
        let per_page = usize::try_from(per_page).unwrap_or(usize::MAX);
        let user_id = 30 + call.account.index;
        let (count, plants) = call.account.with_data(|data| {
            let listed: Vec<&Plant> = data.listed().collect();
            let shown = plant_page(call.faults, listed.len(), page, per_page);
            let plants: Vec<Value> = listed[shown]
                .iter()
                .map(|plant| {
                    let mut item = plant_row(plant, user_id);
                    mangle_plant(
                        call.faults,
                        plant.index,
                        &mut item,
                        ("plant_id", "name", "peak_power"),
                    );
                    Value::Object(item)
                })
                .collect();
            (plant_total(call.faults, listed.len(), page), plants)
        });
        success(json!({"count": count, "plants": plants}))
    })
    .await
}

/// Growatt's plant `status`: 1 online, 2 partly offline, 0 offline. (The real meanings are
/// not documented; clients should only rely on "1 is fine".)
fn status(plant: &Plant) -> u8 {
    match plant.status {
        NetStatus::Normal => 1,
        NetStatus::PartialOffline => 2,
        NetStatus::AllOffline => 0,
    }
}

/// One `plants` item, shaped as Growatt's documented example
/// (`tests/fixtures/growatt/recorded/plant_list__apidoc.json`): coordinates and
/// `current_power` (kW) as text, `current_power` empty for one plant in ten as the portal
/// sends it when it has no value, `total_energy` (kWh) and `peak_power` (kWp) as numbers,
/// `image_url` and the `latitude_d`/`latitude_f` pair `null`; one plant in four has `""`
/// coordinates, as the documented example does (its details have them).
fn plant_row(plant: &Plant, user_id: usize) -> Map<String, Value> {
    let current_power =
        if plant.index % 10 == 6 { String::new() } else { number_text(plant.power_w / 1000.0, 3) };
    let unplaced = plant.index % 4 == 1;
    let coordinate = |value: f64| if unplaced { String::new() } else { number_text(value, 4) };
    let item = json!({
        "plant_id": plant.id,
        "name": plant.name,
        "status": status(plant),
        "city": plant.town,
        "country": plant.region.country,
        "latitude": coordinate(plant.lat),
        "longitude": coordinate(plant.lng),
        "peak_power": plant.capacity_kw,
        "current_power": current_power,
        "total_energy": round(plant.total_kwh, 1),
        "create_date": in_zone(plant.created, &plant.region.timezone).format("%Y-%m-%d").to_string(),
        "image_url": null,
        "installer": "ACME Solar",
        "operator": "ACME Solar",
        "locale": "en-US",
        "user_id": user_id,
        "latitude_d": null,
        "latitude_f": null,
    });
    match item {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `GET /v1/plant/data?plant_id=`, shaped as Growatt's documented reply
/// (`recorded/plant_data__apidoc.json`): current power (kW, a number), the energies (kWh,
/// text), the last data time in the plant's local time and, beside it, that `timezone`
/// (`GMT+8`). A plant whose settings have no zone
/// ([`Faults::growatt_details_without_zone`]) has none here either.
async fn plant_data(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, &headers, &query, Endpoint::Realtime, |call| {
        let id = query_number(call.query, "plant_id");
        let without_zone = call.faults.growatt_details_without_zone;
        let found = call.account.with_data(|data| {
            id.and_then(|id| data.plant_by_id(id)).map(|p| {
                // Local to the zone said beside it: the label's fixed offset all year.
                let offset = in_zone(STANDARD_TIME, &p.region.timezone).offset().fix();
                let updated = in_zone(p.last_update, &offset);
                let month = (p.today_kwh * 14.0).min(p.total_kwh);
                let mut reply = json!({
                    "peak_power_actual": p.capacity_kw,
                    "monthly_energy": number_text(month, 1),
                    "last_update_time": updated.format("%Y-%m-%d %H:%M:%S").to_string(),
                    "current_power": round(p.power_w / 1000.0, 3),
                    "timezone": gmt_label(p.region.timezone, STANDARD_TIME),
                    "yearly_energy": number_text((month * 6.0).min(p.total_kwh), 1),
                    "today_energy": number_text(p.today_kwh, 1),
                    "carbon_offset": number_text(p.total_kwh * 0.6, 1),
                    "efficiency": "",
                    "total_energy": number_text(p.total_kwh, 1),
                });
                if without_zone && let Some(map) = reply.as_object_mut() {
                    map.remove("timezone");
                }
                reply
            })
        });
        match found {
            Some(data) => success(data),
            None => error(10003, "plant not found"),
        }
    })
    .await
}

/// `GET /v1/plant/details?plant_id=`, shaped as Growatt's documented reply
/// (`recorded/plant_details__apidoc.json`: no `plant_id`, the place in `city`/`country`,
/// coordinates as text, the many fields nobody filled in as `""`): the plant's `timezone`
/// as `GMT+8` or, in India, `GMT+5:30` (counted as [`Endpoint::Devices`], the per-plant
/// detail calls); none with [`Faults::growatt_details_without_zone`].
async fn plant_details(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, &headers, &query, Endpoint::Devices, |call| {
        if call.faults.growatt_no_details_access {
            return error(101, "no permission");
        }
        let id = query_number(call.query, "plant_id");
        let without_zone = call.faults.growatt_details_without_zone;
        let found = call.account.with_data(|data| {
            id.and_then(|id| data.plant_by_id(id)).map(|p| {
                let mut details = details(p, call.account);
                if without_zone && let Some(map) = details.as_object_mut() {
                    map.remove("timezone");
                }
                details
            })
        });
        match found {
            Some(data) => success(data),
            None => error(10003, "plant not found"),
        }
    })
    .await
}

/// One `plant/details` body, with every key of the documented reply: the fields a plant's
/// owner never filled in are `""`, as there.
fn details(plant: &Plant, account: &Account) -> Value {
    let mut details = json!({
        "name": plant.name,
        "city": plant.town,
        "country": plant.region.country,
        "timezone": gmt_label(plant.region.timezone, STANDARD_TIME),
        "latitude": number_text(plant.lat, 4),
        "longitude": number_text(plant.lng, 4),
        "peak_power": plant.capacity_kw,
        "create_date": in_zone(plant.created, &plant.region.timezone).format("%Y-%m-%d").to_string(),
        "image_url": format!("{}.png", 1 + plant.index % 5),
        "locale": "en_US",
        "user_id": 30 + account.index,
        "currency": "rmb",
        "ownerorganization": "ACME Solar",
        "ownercontact": "ACME Solar",
        "inverters": [{"inverter_md": "", "inverter_num": plant.devices.len(), "inverter_man": "Growatt"}],
        "dataloggers": [{"datalogger_num": 1, "datalogger_man": "Growatt", "datalogger_md": ""}],
        "arrays": [{"num_modules": 0, "module_md": "", "module_man": "Growatt"}],
    });
    if let Some(map) = details.as_object_mut() {
        for blank in UNFILLED_DETAILS {
            map.insert((*blank).to_owned(), json!(""));
        }
    }
    details
}

/// The keys of the documented details reply that are `""` there.
const UNFILLED_DETAILS: &[&str] = &[
    "address1",
    "address2",
    "jurisdictionorganization",
    "jurisdictioncontact",
    "installed_dc_capacity",
    "installed_ac_capacity",
    "installed_panel_area",
    "designerorganization",
    "designercontact",
    "installerorganization",
    "installercontact",
    "operatororganization",
    "operatorcontact",
    "offtakerorganization",
    "offtakercontact",
    "financierorganization",
    "financiercontact",
    "description",
    "fixed_azimuth",
    "fixed_tilt",
    "status",
    "postal",
    "state",
    "plant_type",
    "grid_type",
    "elevation",
    "weather_type",
    "weathersensor_num",
    "weathersensor_man",
    "weathersensor_md",
    "irradiationsensor_type",
    "tracker_type",
    "notes",
];

/// The most days one `time_unit=day` energy call may span (vendor-history-apis.md §5).
const ENERGY_DAYS: i64 = 7;

/// `GET /v1/plant/energy?plant_id&start_date&end_date&time_unit=day&page&perpage`
/// (`YYYY-MM-DD`, inclusive, plant-local): `data.energys = [{"date", "energy"}]`, the
/// day's energy in kWh as text, one row a day with data up to the plant's today (partial),
/// paged by `page`/`perpage`. A day without data has no row. Other time units and spans
/// over 7 days are refused (`error_code 10002`), as is an unknown plant (`10003`).
async fn plant_energy(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, &headers, &query, Endpoint::History, |call| {
        if call.query.get("time_unit").map(|unit| unit.trim()) != Some("day") {
            return error(10002, "time_unit must be day, month or year");
        }
        let date = |key: &str| call.query.get(key).and_then(|text| history::parse_dashed(text));
        let (Some(start), Some(end)) = (date("start_date"), date("end_date")) else {
            return error(10002, "start_date and end_date are required");
        };
        if end < start || (end - start).num_days() >= ENERGY_DAYS {
            return error(10002, "the interval cannot exceed 7 days");
        }
        let page = query_number(call.query, "page").unwrap_or(1);
        let per_page = query_number(call.query, "perpage").unwrap_or(PER_PAGE.0).min(PER_PAGE.1);
        let id = query_number(call.query, "plant_id");
        let now = call.account.now();
        let rows = call.account.with_data(|data| {
            let plant = id.and_then(|id| data.plant_by_id(id))?;
            let rows: Vec<Value> = history::days(start, end, ENERGY_DAYS as usize)
                .into_iter()
                .filter_map(|day| {
                    let kwh = data.history.kwh(plant, day, now)?;
                    Some(json!({"date": day.to_string(), "energy": number_text(kwh, 1)}))
                })
                .collect();
            Some(rows)
        });
        let Some(rows) = rows else { return error(10003, "plant not found") };
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let shown: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(usize::try_from(per_page).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        success(json!({"count": rows.len(), "time_unit": "day", "energys": shown}))
    })
    .await
}
