//! The SolarEdge Monitoring API as the simulator serves it under `/solaredge`
//! (`vendor-apis.md` §3).
//!
//! Owns the wire format only: `GET` calls authenticated by the `api_key` query parameter
//! (v2: the `X-API-Key` header), HTTP 403 for a bad key, the site list paged by a 0-based
//! record offset (`startIndex`) under `sites.site` with each site's `lastUpdateTime` a bare
//! site-local date (as the recorded real lists have it), the bulk and single overviews with
//! energies in Wh and times in the site's local zone without an offset, the bulk and
//! single daily energy (`timeUnit=DAY`, a year at most, Wh, `null` for no data), and the v2
//! alert list as a bare array. SolarEdge's limits are enforced as documented because clients must
//! be built around them: a daily budget per key and three concurrent requests per source
//! address, both answered with HTTP 429 and an empty body (which is also the `rate_limit`
//! fault's signal). Accounts, counting and faults are shared with the other vendors.

use super::data::{ALERT_TYPES, Alert, Plant, in_zone, round};
use super::faults::{Reply, mangle_plant, offset_page, offset_total};
use super::history;
use super::state::{Account, SimState};
use super::{Endpoint, Faults};
use crate::domain::VendorKind;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Requests per API key and portal day (`Account::count_daily`) when the fault does not
/// say otherwise.
const DAILY_BUDGET: u32 = 300;
/// Concurrent requests per source address (all accounts: the simulator has one client).
const MAX_CONCURRENT: u32 = 3;
/// Default and maximum `size` of the site list.
const LIST_SIZE: (usize, usize) = (100, 100);
/// Most site ids a bulk call accepts.
const MAX_BULK_IDS: usize = 100;
/// The v2 alert types, chosen by the alert's generated type.
const ALERT_KINDS: [&str; 4] = [
    "SITE_COMMUNICATION_FAULT",
    "INVERTER_BELOW_THRESHOLD_LIMIT",
    "PANEL_COMMUNICATION_FAULT",
    "SNOW_ON_SITE",
];
/// Panels the sites are built from: (manufacturer, model, watts).
const MODULES: [(&str, &str, f64); 3] = [
    ("SunPower", "X21.345", 345.0),
    ("LG Electronics", "LG370Q1C-A5", 370.0),
    ("Jinko Solar", "JKM410M-54HL4", 410.0),
];
/// Revenue per kWh, in the site's currency.
const TARIFF: f64 = 0.12;

/// The routes, relative to the `/solaredge` prefix.
pub(super) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/sites/list", get(site_list))
        .route("/sites/{ids}/overview", get(sites_overview))
        .route("/site/{id}/overview", get(site_overview))
        .route("/v2/alerts", get(alerts))
        .route("/sites/{ids}/energy", get(sites_energy))
        .route("/site/{id}/energy", get(site_energy))
}

/// The answer to a missing, unknown or rejected key: HTTP 403, no data.
fn invalid_key() -> Reply {
    Reply::with_status(StatusCode::FORBIDDEN, json!({"String": "Invalid token"}))
}

/// The rate-limit signal: HTTP 429 with an empty body.
fn rate_limited() -> Reply {
    Reply::empty(StatusCode::TOO_MANY_REQUESTS)
}

/// A request SolarEdge refuses as malformed (HTTP 400, plain text).
fn bad_request(message: &str) -> Reply {
    Reply::text(StatusCode::BAD_REQUEST, message)
}

/// A site id outside the key's account: the whole call is refused (HTTP 403, plain text).
fn not_permitted() -> Reply {
    Reply::text(StatusCode::FORBIDDEN, "Forbidden: a requested site is not permitted")
}

/// What a handler gets.
struct Call<'a> {
    account: &'a Account,
    faults: &'a Faults,
    query: &'a HashMap<String, String>,
}

/// The shared path of every call: enter the in-flight count, attribute by key, count
/// (request and daily budget), faults, key check, budget and concurrency, then `handle`.
async fn serve(
    state: &SimState,
    key: &str,
    query: &HashMap<String, String>,
    endpoint: Endpoint,
    handle: impl FnOnce(Call<'_>) -> Reply,
) -> Response {
    let flight = state.enter(VendorKind::SolarEdge);
    let account = (!key.is_empty())
        .then(|| state.find(VendorKind::SolarEdge, |c| c.api_key == key))
        .flatten();
    let Some(account) = account else {
        return invalid_key().into_response(false);
    };
    let account_flight = account.enter();
    let plan = account.begin(endpoint);
    // A rejected key is not a valid key: its requests do not use the budget.
    let today = if plan.faults.reject_login { 0 } else { account.count_daily(account.now()) };
    if let Some(response) = plan.preflight(rate_limited).await {
        return response;
    }
    if plan.faults.reject_login {
        return plan.finish(invalid_key());
    }
    let budget = plan.faults.solaredge_daily_limit.unwrap_or(DAILY_BUDGET);
    if today > budget || flight.concurrent > MAX_CONCURRENT {
        account.note_rate_limited();
        return plan.finish(rate_limited());
    }
    if account.refuses_concurrency(&account_flight, &plan.faults) {
        return plan.finish(rate_limited());
    }
    plan.finish(handle(Call { account, faults: &plan.faults, query }))
}

/// The `api_key` query parameter.
fn query_key(query: &HashMap<String, String>) -> &str {
    query.get("api_key").map_or("", |key| key.trim())
}

/// An optional non-negative integer query parameter; `Err` when present but not one.
fn query_number(query: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ()> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| ()),
    }
}

/// `GET /sites/list?size=&startIndex=`: `startIndex` is a record offset, not a page.
/// `sortProperty`, `sortOrder`, `status` and `searchText` are accepted and ignored: the
/// sites come in id order.
async fn site_list(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, query_key(&query), &query, Endpoint::PlantList, |call| {
        let size = match query_number(call.query, "size") {
            Ok(None) => LIST_SIZE.0,
            Ok(Some(size)) if (1..=LIST_SIZE.1).contains(&size) => size,
            _ => return bad_request("size must be an integer from 1 to 100"),
        };
        let Ok(start) = query_number(call.query, "startIndex") else {
            return bad_request("startIndex must be a non-negative integer");
        };
        let (count, sites) = call.account.with_data(|data| {
            let listed: Vec<&Plant> = data.listed().collect();
            let shown = offset_page(call.faults, listed.len(), start.unwrap_or(0), size);
            let sites: Vec<Value> = listed[shown]
                .iter()
                .map(|plant| {
                    let open: Vec<&Alert> = data.open_alerts_of(plant.index).collect();
                    let mut item = site(plant, call.account.index, &open);
                    mangle_plant(call.faults, plant.index, &mut item, ("id", "name", "peakPower"));
                    Value::Object(item)
                })
                .collect();
            (offset_total(call.faults, listed.len(), start.unwrap_or(0), size), sites)
        });
        if call.faults.solaredge_documented_list_key {
            Reply::ok(json!({"Sites": {"count": count, "list": sites}}))
        } else {
            Reply::ok(json!({"sites": {"count": count, "site": sites}}))
        }
    })
    .await
}

/// Whether a site reports its zone as plain `"GMT"` (one in ten, as some real ones do);
/// its times are then UTC.
fn gmt_site(plant: &Plant) -> bool {
    plant.index % 10 == 9
}

/// The site's `location.timeZone`.
fn time_zone(plant: &Plant) -> &'static str {
    if gmt_site(plant) { "GMT" } else { plant.region.timezone.name() }
}

/// `YYYY-MM-DD hh:mm:ss` in the site's zone, without an offset (as every SolarEdge time).
fn site_time(plant: &Plant, unix: i64) -> String {
    const FORMAT: &str = "%Y-%m-%d %H:%M:%S";
    if gmt_site(plant) {
        in_zone(unix, &Utc).format(FORMAT).to_string()
    } else {
        in_zone(unix, &plant.region.timezone).format(FORMAT).to_string()
    }
}

/// `YYYY-MM-DD`, the site-local day of `unix`: the site list's `lastUpdateTime`.
fn site_day(plant: &Plant, unix: i64) -> String {
    site_time(plant, unix)[..10].to_owned()
}

/// The v2 `impact` of an alert, 1..=9, from its generated levels.
fn impact(alert: &Alert) -> u8 {
    1 + ((alert.fault_level.saturating_sub(1)) * 3 + alert.level) % 9
}

/// The v1 `alertSeverity` of a site: the worst open alert's impact in words.
fn severity(open: &[&Alert]) -> &'static str {
    match open.iter().map(|a| impact(a)).max() {
        None => "NONE",
        Some(0..=3) => "LOW",
        Some(4..=6) => "MEDIUM",
        Some(_) => "HIGH",
    }
}

/// One `sites.site` item (`vendor-apis.md` §3.3, §3.5).
fn site(plant: &Plant, account: usize, open: &[&Alert]) -> Map<String, Value> {
    let (maker, model, watts) = MODULES[plant.index % MODULES.len()];
    let installed = in_zone(plant.created, &plant.region.timezone);
    let item = json!({
        "id": plant.id,
        "name": plant.name,
        "accountId": 2800 + account,
        "status": if plant.index % 10 == 4 { "Pending" } else { "Active" },
        "peakPower": plant.capacity_kw,
        // A bare date, as in every recorded real list (the documentation shows a time).
        "lastUpdateTime": site_day(plant, plant.last_update),
        "installationDate": installed.format("%Y-%m-%d").to_string(),
        "ptoDate": null,
        "notes": "",
        "type": "Optimizers & Inverters",
        "currency": plant.region.currency,
        "location": {
            "country": plant.region.country,
            "city": plant.town,
            "address": plant.street,
            "address2": "",
            "zip": plant.zip,
            "countryCode": plant.region.country_code,
            "timeZone": time_zone(plant),
        },
        "alertQuantity": open.len(),
        "alertSeverity": severity(open),
        "primaryModule": {"manufacturerName": maker, "modelName": model, "maximumPower": watts},
        "uris": {
            "DETAILS": format!("/site/{}/details", plant.id),
            "OVERVIEW": format!("/site/{}/overview", plant.id),
            "DATA_PERIOD": format!("/site/{}/dataPeriod", plant.id),
        },
        "publicSettings": {"isPublic": false},
    });
    match item {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One site's overview object: energies in Wh, power in W.
fn overview(plant: &Plant) -> Value {
    let month_kwh = (plant.today_kwh * 14.0).min(plant.total_kwh);
    let year_kwh = (plant.today_kwh * 160.0).min(plant.total_kwh);
    json!({
        "lastUpdateTime": site_time(plant, plant.last_update),
        "lifeTimeData": {
            "energy": round(plant.total_kwh * 1000.0, 1),
            "revenue": round(plant.total_kwh * TARIFF, 2),
        },
        "lastYearData": {"energy": round(year_kwh * 1000.0, 1)},
        "lastMonthData": {"energy": round(month_kwh * 1000.0, 1)},
        "lastDayData": {"energy": round(plant.today_kwh * 1000.0, 1)},
        "currentPower": {"power": plant.power_w},
        "measuredBy": "INVERTER",
    })
}

/// The overviews of the comma-separated `ids`, in request order; `Err` with the answer
/// when there are too many or one is not a listed site of the account.
fn overviews(account: &Account, ids: &str) -> Result<Vec<(u64, Value)>, Reply> {
    let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
    if ids.len() > MAX_BULK_IDS {
        return Err(bad_request("at most 100 site ids per call"));
    }
    account.with_data(|data| {
        ids.iter()
            .map(|id| {
                let plant = id.parse().ok().and_then(|id| data.plant_by_id(id));
                plant.map(|p| (p.id, overview(p))).ok_or_else(not_permitted)
            })
            .collect()
    })
}

/// The most days of one `timeUnit=DAY` energy call (a year; HTTP 403 beyond it,
/// vendor-history-apis.md §3).
const ENERGY_DAYS: i64 = 366;

/// The daily energy values of the sites `ids` (comma-separated) for the query's
/// `startDate`..`endDate` (inclusive, `YYYY-MM-DD`, the sites' local days): per site, one
/// `{"date": "YYYY-MM-DD 00:00:00", "value": Wh | null}` a day of the span, `null` where the
/// portal has no data (days before the site existed, after its today, taken away). Refused
/// as SolarEdge does: HTTP 400 for a missing date or another time unit, 403 for a span over
/// a year or a site outside the key's account.
fn energies(
    account: &Account,
    ids: &str,
    query: &HashMap<String, String>,
) -> Result<Vec<(u64, Value)>, Reply> {
    let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
    if ids.len() > MAX_BULK_IDS {
        return Err(bad_request("at most 100 site ids per call"));
    }
    if query.get("timeUnit").map(|unit| unit.trim()) != Some("DAY") {
        return Err(bad_request("timeUnit must be DAY here"));
    }
    let date = |key: &str| query.get(key).and_then(|text| history::parse_dashed(text));
    let (Some(start), Some(end)) = (date("startDate"), date("endDate")) else {
        return Err(bad_request("startDate and endDate are required (YYYY-MM-DD)"));
    };
    if end < start || (end - start).num_days() >= ENERGY_DAYS {
        return Err(Reply::text(
            StatusCode::FORBIDDEN,
            "Forbidden: the requested time frame exceeds one year for timeUnit DAY",
        ));
    }
    let now = account.now();
    account.with_data(|data| {
        ids.iter()
            .map(|id| {
                let plant = id
                    .parse()
                    .ok()
                    .and_then(|id| data.plant_by_id(id))
                    .ok_or_else(not_permitted)?;
                let values: Vec<Value> = history::days(start, end, ENERGY_DAYS as usize)
                    .into_iter()
                    .map(|day| {
                        let wh =
                            data.history.kwh(plant, day, now).map(|kwh| (kwh * 1000.0).round());
                        json!({"date": format!("{day} 00:00:00"), "value": wh})
                    })
                    .collect();
                Ok((plant.id, Value::Array(values)))
            })
            .collect()
    })
}

/// `GET /sites/{id1,id2,...}/energy?timeUnit=DAY&startDate&endDate`: the bulk form.
async fn sites_energy(
    State(state): State<Arc<SimState>>,
    Path(ids): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, query_key(&query), &query, Endpoint::History, |call| {
        match energies(call.account, &ids, call.query) {
            Ok(list) => {
                let list: Vec<Value> = list
                    .into_iter()
                    .map(|(id, values)| {
                        json!({"siteId": id, "energyValues": {"measuredBy": "INVERTER", "values": values}})
                    })
                    .collect();
                Reply::ok(json!({"sitesEnergy": {
                    "timeUnit": "DAY", "unit": "Wh", "count": list.len(), "siteEnergyList": list,
                }}))
            }
            Err(reply) => reply,
        }
    })
    .await
}

/// `GET /site/{id}/energy?timeUnit=DAY&startDate&endDate`: one site.
async fn site_energy(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, query_key(&query), &query, Endpoint::History, |call| {
        if id.contains(',') {
            return not_permitted();
        }
        match energies(call.account, &id, call.query) {
            Ok(list) => match list.into_iter().next() {
                Some((_, values)) => Reply::ok(json!({"energy": {
                    "timeUnit": "DAY", "unit": "Wh", "measuredBy": "INVERTER", "values": values,
                }})),
                None => not_permitted(),
            },
            Err(reply) => reply,
        }
    })
    .await
}

/// `GET /sites/{id1,id2,...}/overview`: one request for up to 100 sites.
async fn sites_overview(
    State(state): State<Arc<SimState>>,
    Path(ids): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, query_key(&query), &query, Endpoint::Realtime, |call| {
        match overviews(call.account, &ids) {
            Ok(list) => {
                let list: Vec<Value> = list
                    .into_iter()
                    .map(|(id, overview)| json!({"siteId": id, "siteOverview": overview}))
                    .collect();
                Reply::ok(json!({"sitesOverviews": {"count": list.len(), "siteEnergyList": list}}))
            }
            Err(reply) => reply,
        }
    })
    .await
}

/// `GET /site/{id}/overview`.
async fn site_overview(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    serve(&state, query_key(&query), &query, Endpoint::Realtime, |call| {
        if id.contains(',') {
            return not_permitted();
        }
        match overviews(call.account, &id) {
            Ok(list) => match list.into_iter().next() {
                Some((_, overview)) => Reply::ok(json!({"overview": overview})),
                None => not_permitted(),
            },
            Err(reply) => reply,
        }
    })
    .await
}

/// `GET /v2/alerts`: the account's open alerts as a bare array (ended ones are gone). The
/// key comes in the `X-API-Key` header only (v2 does not read the v1 query parameter).
async fn alerts(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map_or("", str::trim);
    serve(&state, key, &query, Endpoint::Alerts, |call| {
        if call.faults.solaredge_no_v2_alerts {
            return Reply::text(StatusCode::FORBIDDEN, "Forbidden: no v2 API access");
        }
        let list: Vec<Value> = call.account.with_data(|data| {
            data.live_alerts()
                .filter(|a| a.ended.is_none())
                .filter_map(|a| Some(v2_alert(a, data.plants.get(a.plant)?)))
                .collect()
        });
        Reply::ok(Value::Array(list))
    })
    .await
}

/// One v2 alert (`vendor-apis.md` §3.1).
fn v2_alert(alert: &Alert, plant: &Plant) -> Value {
    let kind = ALERT_TYPES.iter().position(|(name, _)| *name == alert.name).unwrap_or(0);
    json!({
        "siteId": plant.id,
        "type": ALERT_KINDS[kind % ALERT_KINDS.len()],
        "impact": impact(alert),
        "firstTrigger": in_zone(alert.time, &Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impacts_span_one_to_nine() {
        let mut seen = Vec::new();
        for fault_level in 1..=4 {
            for level in 0..=2 {
                let alert = Alert {
                    id: 1,
                    plant: 0,
                    name: "Fan failure",
                    code: "33",
                    level,
                    influence: 0,
                    fault_level,
                    time: 0,
                    ended: None,
                };
                seen.push(impact(&alert));
            }
        }
        assert!(seen.iter().all(|i| (1..=9).contains(i)));
        assert!(seen.contains(&1) && seen.contains(&9));
    }
}
