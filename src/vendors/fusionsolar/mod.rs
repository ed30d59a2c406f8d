//! Huawei FusionSolar Northbound API (vendor-apis.md §4): login with `userName` and
//! `systemCode` for an XSRF token sent back on every call; stations from
//! `/thirdData/stations` (`pageNo`/`pageCount`, capacity in kWp; the legacy
//! `/thirdData/getStationList`, capacity in MW, where the account lacks the new one);
//! energy and health from `/thirdData/getStationRealKpi` in batches of 100 stations;
//! alarms from `/thirdData/getAlarmList` in windows of at most 24 hours.
//!
//! # Sessions and rate limits
//!
//! FusionSolar allows one session per account: a new login ends the previous one. The
//! session's per-account lock makes sure one process never logs in twice at once for one
//! account, the token is cached across runs, and a `305` gets exactly one re-login. `407`
//! is a rate limit; the portal does not publish its limits, so the adapter honours the
//! minimum intervals one production client uses (§4.5) between identical calls, and a
//! second's spacing between any two calls of one endpoint, through [`Session::pace`]: a
//! call due within `MAX_WAIT` (70 s) waits; a station list asked for sooner is not sent and
//! the sync fails with the time left. KPIs are optional: a rate limit ends them with a
//! warning and the listing is kept. An alarm call that fails fails the alert sync, whose
//! next run asks for the whole window again.
//!
//! `failCode 401` is a missing interface permission, configuration at the portal (§4.5):
//! on `stations` the legacy list is used instead, on `getStationRealKpi` the stations are
//! listed without readings, and on `getAlarmList` alerts are unsupported (visible, not a
//! failure). Each is remembered for a day ([`AccountFact`]), so the refused call is not
//! repeated every sync.
//!
//! # Daily history
//!
//! Past days come from `/thirdData/getKpiStationDay {stationCodes, collectTime}`, which
//! answers one row per day of the calendar month holding `collectTime`, for up to 100
//! stations: one call per month and 100 stations, oldest month first. `collectTime` is
//! sent as the 15th of the month at noon UTC, inside that month in every zone; each row's
//! own `collectTime` is the station-local midnight, read in the station's zone. The energy
//! is `PVYield`, else `inverter_power`; an empty `dataItemMap` is "no data". The calls go
//! through the same pacing as the adapter's others (a second between calls of the
//! endpoint, 60 s between identical ones, a `407` ends the backfill with what was read),
//! and within Huawei's daily allowance for the KPI calls of Roundup(plants / 100) + 24 a
//! day per user (§4.5; plantsync's syncs make none of them): each call takes one of that
//! many places, each held for 24 hours (a rolling day, through [`Session::pace`], so it
//! is shared with other processes through the call log and scaled like the intervals in
//! tests), counted from the stations asked about (at most the account's, so never more
//! than the portal allows). With every place taken the backfill stops and says when one
//! frees up.
//!
//! The token is counted from the login (the portal extends it on each call, which is not
//! tracked), so an account logs in again about every 25 minutes of use.

mod client;
mod convert;
#[cfg(test)]
mod fuzz_tests;
mod wire;

use super::history::{self, AfterFailure, HistoryReply, HistoryRequest};
use super::paging::{Page, PlantPages, RawPage, decode_row};
use super::{
    AccountFact, AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, VendorClient,
    VendorError, Work, may_have_left,
};
use crate::domain::{Credentials, Token, VendorKind};
use chrono::{Datelike, NaiveDate};
use client::Client;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Stations per page and per KPI or alarm call (the portal's maximum).
const BATCH: usize = 100;
/// The longest wait for a minimum interval (ours, or the portal's after a `407`) inside a
/// sync; a longer one fails the call with the time left instead. 70 s covers the 60 s and
/// 65 s intervals of the alarm and KPI calls, so a sync's second batch, or a sync right
/// after another, waits a minute rather than fails. The 300 s and 600 s ones are not
/// waited for: a run waits for all its vendors, and every other request of its kind waits
/// for the run (one run of a kind at a time), so five minutes asleep in one vendor would
/// hold back every sync of the agent; the next scheduled sync comes anyway.
const MAX_WAIT: Duration = Duration::from_secs(70);
/// Least time between two logins of one account.
pub(super) const LOGIN_INTERVAL: Duration = Duration::from_secs(15);
/// Least time between two identical station-list calls.
const STATIONS_INTERVAL: Duration = Duration::from_secs(300);
/// Least time between two identical KPI calls.
const KPI_INTERVAL: Duration = Duration::from_secs(65);
/// Least time between two identical alarm calls.
const ALARM_INTERVAL: Duration = Duration::from_secs(60);
/// Longest alarm window per call (the portal accepts 7 days; long windows time out).
const ALARM_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Overlap of consecutive alarm windows, so an alarm on a boundary is not missed.
const ALARM_OVERLAP: Duration = Duration::from_secs(3600);
/// Least time between any two calls of one endpoint on one account, so a sync's pages,
/// batches and alarm windows never go out as a burst.
const SPACING: Duration = Duration::from_secs(1);
/// Requests of the run's budget kept back for the listing.
const RESERVED_REQUESTS: u32 = 10;
/// The daily KPI call.
const KPI_DAY_PATH: &str = "/thirdData/getKpiStationDay";
/// Least time between two identical daily KPI calls ("one-minute access frequency").
const KPI_DAY_INTERVAL: Duration = Duration::from_secs(60);
/// The daily KPI calls Huawei allows beyond one per 100 plants.
const ALLOWANCE_BASE: usize = 24;

/// The alarm list this API account cannot have.
fn no_alarm_list() -> VendorError {
    VendorError::Unsupported(
        "this FusionSolar API account may not call getAlarmList (failCode 401); ask the \
         company administrator to grant it (asked again a day after the refusal)"
            .into(),
    )
}

/// The FusionSolar adapter.
pub struct FusionSolar {
    client: Client,
}

/// The error of a call not made (or refused with `407`) because its minimum interval has
/// not passed: what happened (`what`), the interval and the time left, in words.
fn too_soon(path: &str, interval: Duration, wait: Duration, what: &str) -> VendorError {
    VendorError::RateLimited {
        message: format!(
            "FusionSolar allows {path} once every {}s per account (it answers 407 otherwise); \
             it {what}: try again in {}",
            interval.as_secs(),
            in_words(wait)
        ),
        retry_after: Some(wait),
    }
}

/// A wait as people say it: "40 seconds", "about 5 minutes", "about 2 hours".
fn in_words(wait: Duration) -> String {
    let secs = wait.as_secs_f64().ceil() as u64;
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        0..=89 => plural(secs.max(1), "second"),
        90..=5399 => format!("about {}", plural(secs.div_ceil(60), "minute")),
        _ => format!("about {}", plural((secs + 1800) / 3600, "hour")),
    }
}

/// A paced call's key: the endpoint and its body, as the portal compares requests.
fn pace_key(path: &str, body: &Value) -> String {
    format!("{path}:{body}")
}

impl FusionSolar {
    /// An adapter for one Northbound API account; `base_url` picks the regional host.
    pub fn new(base_url: Option<&str>, credentials: Credentials, http: Http) -> Self {
        let base = super::base_url_or(base_url, client::DEFAULT_BASE_URL);
        Self { client: Client { base, credentials, http } }
    }

    /// A paced, authenticated call returning `data` as `T`. An `optional` call (KPIs) ends
    /// at a rate limit instead of waiting it out.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        session: &Session,
        path: &'static str,
        body: Value,
        interval: Duration,
        optional: bool,
    ) -> Result<wire::Data<T>, VendorError> {
        // Spacing first: it is short and always waited for.
        let spaced = session.pace(path, SPACING, SPACING).await.ok();
        let paced = match session.pace(&pace_key(path, &body), interval, MAX_WAIT).await {
            Ok(paced) => paced,
            Err(early) => {
                if let Some(spaced) = spaced {
                    spaced.give_back().await;
                }
                return Err(too_soon(path, interval, early.wait, "was not asked yet"));
            }
        };
        // Both grants are recorded already: a call cut off in flight (the vendor deadline,
        // the agent's stop) or timed out may have reached the portal, which counts it.
        // Given back only when no attempt may have left: a login refused on the way, or no
        // connection (must not hold back the sync right after the credentials were fixed).
        let left = AtomicBool::new(false);
        let outcome = self.paced_call(session, path, &body, interval, optional, &left).await;
        if !left.load(Ordering::Relaxed) {
            paced.give_back().await;
            if let Some(spaced) = spaced {
                spaced.give_back().await;
            }
        }
        outcome
    }

    /// The attempts of [`FusionSolar::call`] once paced; `left` is set when one of them
    /// may have reached the portal.
    async fn paced_call<T: serde::de::DeserializeOwned>(
        &self,
        session: &Session,
        path: &'static str,
        body: &Value,
        interval: Duration,
        optional: bool,
        left: &AtomicBool,
    ) -> Result<wire::Data<T>, VendorError> {
        let attempt = |token: Token| {
            let body = body.clone();
            async move {
                let result = self.client.post(path, &body, &token, interval).await;
                left.fetch_or(may_have_left(&result), Ordering::Relaxed);
                result
            }
        };
        let work = if optional { Work::Optional } else { Work::HandlesRateLimits };
        let response = match session.call_returning_rate_limits(self, work, attempt).await {
            // Optional calls (KPIs) end at a rate limit.
            Err(error @ VendorError::RateLimited { .. }) if optional => return Err(error),
            // A 407 is the portal's minimum interval: waited out once when short, else the
            // vendor fails with the time left. Never retried more: every retry is counted
            // by the portal too (vendor-apis.md §6.5).
            Err(VendorError::RateLimited { retry_after, .. }) => {
                let wait = retry_after.unwrap_or(interval);
                if wait > MAX_WAIT.mul_f64(self.client.http.min_interval_scale()) {
                    return Err(too_soon(path, interval, wait, "answered 407"));
                }
                tokio::time::sleep(wait).await;
                match session.call_returning_rate_limits(self, work, attempt).await {
                    Err(VendorError::RateLimited { retry_after, .. }) => {
                        let wait = retry_after.unwrap_or(interval);
                        return Err(too_soon(path, interval, wait, "answered 407 again"));
                    }
                    other => other?,
                }
            }
            other => other?,
        };
        response.parse(&format!("FusionSolar {path}"))
    }

    /// The current station list, page by page.
    async fn stations(&self, session: &Session) -> Result<PlantPages, VendorError> {
        let fetch = |page_no: u32| async move {
            let body = json!({ "pageNo": page_no, "pageSize": BATCH });
            let page: wire::StationPage = self
                .call(session, "/thirdData/stations", body, STATIONS_INTERVAL, false)
                .await?
                .data
                .ok_or_else(|| {
                    VendorError::Malformed(format!("FusionSolar stations page {page_no}: no data"))
                })?;
            station_page(page_no, page)
        };
        PlantPages::collect(BATCH, fetch, convert::plant, plant_code_of).await
    }

    /// The legacy station list: one call, capacity in MW (see `legacy_page`).
    async fn legacy_stations(&self, session: &Session) -> Result<PlantPages, VendorError> {
        let fetch = |_: u32| async move {
            let rows: Vec<Box<serde_json::value::RawValue>> = self
                .call(session, "/thirdData/getStationList", json!({}), STATIONS_INTERVAL, false)
                .await?
                .data
                .ok_or_else(|| {
                    VendorError::Malformed("FusionSolar getStationList: no data".into())
                })?;
            Ok(legacy_page(rows))
        };
        PlantPages::collect(BATCH, fetch, convert::legacy_plant, station_code_of).await
    }

    /// Adds energy and health from the real-time KPIs, 100 stations a call.
    async fn add_kpis(&self, session: &Session, pages: &mut PlantPages) {
        if session.knows(&AccountFact::FusionSolarNoKpiAccess) {
            pages.warn(
                "station readings not read: this API account may not call getStationRealKpi \
                 (asked again a day after the refusal)"
                    .into(),
            );
            return;
        }
        let index_of: HashMap<String, usize> = pages
            .plants()
            .iter()
            .enumerate()
            .map(|(index, plant)| (plant.vendor_plant_id.clone(), index))
            .collect();
        let codes: Vec<&str> = pages.plants().iter().map(|p| p.vendor_plant_id.as_str()).collect();
        let bodies: Vec<(usize, Value)> = codes
            .chunks(BATCH)
            .map(|chunk| (chunk.len(), json!({ "stationCodes": chunk.join(",") })))
            .collect();
        for (done, (count, body)) in bodies.into_iter().enumerate() {
            let left = pages.plants().len() - done * BATCH;
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                pages.warn(format!(
                    "readings of {left} station(s) not refreshed this run (time or request budget)"
                ));
                return;
            }
            let reply: wire::Data<Vec<Box<serde_json::value::RawValue>>> = match self
                .call(session, "/thirdData/getStationRealKpi", body, KPI_INTERVAL, true)
                .await
            {
                Ok(reply) => reply,
                Err(error @ (VendorError::Permanent(_) | VendorError::Malformed(_))) => {
                    pages.warn(format!("readings of {count} station(s) unavailable: {error}"));
                    continue;
                }
                Err(VendorError::NoPermission(reason)) => {
                    pages.warn(format!("station readings not read: {reason}"));
                    session.remember(AccountFact::FusionSolarNoKpiAccess);
                    return;
                }
                Err(error) => {
                    pages.warn(format!("readings of {left} station(s) not refreshed: {error}"));
                    return;
                }
            };
            // FusionSolar gives no per-station time: the readings are as of the reply.
            let replied_at = reply.params.and_then(|p| p.current_time).and_then(convert::epoch_ms);
            for row in reply.data.unwrap_or_default() {
                match serde_json::from_str::<wire::KpiRow>(row.get()) {
                    Ok(wire::KpiRow { station_code: Some(code), data_item_map: Some(kpi) }) => {
                        if let Some(&index) = index_of.get(&code) {
                            let plant = &mut pages.plants_mut()[index];
                            convert::apply_kpi(plant, &kpi);
                            if let Some(at) = replied_at {
                                plant.vendor_updated_at = Some(at);
                            }
                        }
                    }
                    Ok(_) => pages.warn("a KPI entry without station or data was skipped".into()),
                    Err(e) => pages.warn(format!("an unreadable KPI entry was skipped ({e})")),
                }
            }
        }
    }
}

/// A `stations` page as the page loop reads it. "Loop while pageNo < pageCount" (§4.3):
/// the page count decides, not the length of the page.
fn station_page(page_no: u32, page: wire::StationPage) -> Result<RawPage, VendorError> {
    match page.list {
        Some(rows) => Ok(Page { rows, total: page.total, page_count: page.page_count }),
        None => {
            Err(VendorError::Malformed(format!("FusionSolar stations page {page_no} has no list")))
        }
    }
}

/// The legacy list's one unpaged answer, the whole list: page 1 of 1 (and, as any listing,
/// an empty one without a total proves nothing).
fn legacy_page(rows: Vec<Box<serde_json::value::RawValue>>) -> RawPage {
    Page { rows, total: None, page_count: Some(1) }
}

/// The `plantCode` of a `stations` row that does not decode, to report it by id. A blank
/// one (`""`, as in the anonymised recording) is no id: the row is reported without one and
/// never stored.
fn plant_code_of(text: &str) -> Option<String> {
    serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.plant_code)
}

/// The `stationCode` of a legacy row that does not decode.
fn station_code_of(text: &str) -> Option<String> {
    serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.station_code)
}

/// Splits `window` into spans of at most [`ALARM_WINDOW`] that overlap by
/// [`ALARM_OVERLAP`], as epoch milliseconds.
fn alarm_spans(window: AlertWindow) -> Vec<(i64, i64)> {
    let start = window.start.as_datetime().timestamp_millis();
    let end = window.end.as_datetime().timestamp_millis();
    let length = ALARM_WINDOW.as_millis() as i64;
    let step = length - ALARM_OVERLAP.as_millis() as i64;
    let mut spans = Vec::new();
    let mut from = start;
    loop {
        let to = (from + length).min(end);
        spans.push((from, to));
        if to >= end {
            return spans;
        }
        from += step;
    }
}

#[async_trait::async_trait]
impl VendorClient for FusionSolar {
    fn kind(&self) -> VendorKind {
        VendorKind::Huawei
    }

    fn login_min_interval(&self) -> Option<Duration> {
        Some(LOGIN_INTERVAL)
    }

    fn alert_end_needs_start_in_window(&self) -> bool {
        true
    }

    async fn login(&self) -> Result<Token, VendorError> {
        self.client.login().await
    }

    async fn list_plants(
        &self,
        session: &Session,
        _known: &KnownPlants,
    ) -> Result<PlantListing, VendorError> {
        // Accounts without the newer interface keep the legacy list (capacity in MW); that
        // is remembered for a day, so the refused call is not repeated every sync.
        let mut pages = if session.knows(&AccountFact::FusionSolarLegacyOnly) {
            self.legacy_stations(session).await?
        } else {
            match self.stations(session).await {
                Ok(pages) => pages,
                // failCode 401 on `stations`: the account may only call the legacy list.
                Err(VendorError::NoPermission(_)) => {
                    session.remember(AccountFact::FusionSolarLegacyOnly);
                    self.legacy_stations(session).await?
                }
                Err(other) => return Err(other),
            }
        };
        if pages.throttled() {
            pages.warn("station readings not refreshed this run: the portal is throttling".into());
        } else {
            self.add_kpis(session, &mut pages).await;
        }
        Ok(pages.finish())
    }

    async fn daily_history(
        &self,
        session: &Session,
        request: &HistoryRequest,
    ) -> Result<HistoryReply, VendorError> {
        let mut reply = HistoryReply::default();
        let codes: Vec<&str> = request.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        let calls: Vec<(NaiveDate, &[&str])> = history::months(request.from, request.to)
            .into_iter()
            .flat_map(|month| codes.chunks(BATCH).map(move |chunk| (month, chunk)))
            .collect();
        let places = codes.len().div_ceil(BATCH) + ALLOWANCE_BASE;
        let mut answered = 0;
        for (n, &(month, chunk)) in calls.iter().enumerate() {
            let left = calls.len() - n;
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                reply.stop(format!(
                    "{left} of {} history call(s) not made this run (time or request budget)",
                    calls.len()
                ));
                break;
            }
            if let Err(wait) = history::take_daily_place(session, KPI_DAY_PATH, places).await {
                reply.stop(format!(
                    "{left} of {} history call(s) left for later: FusionSolar allows {places} \
                     daily KPI calls a day for these stations, all made; the next in {}",
                    calls.len(),
                    in_words(wait)
                ));
                break;
            }
            let collect = month
                .with_day(15)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map_or(0, |t| t.and_utc().timestamp_millis());
            let body = json!({ "stationCodes": chunk.join(","), "collectTime": collect });
            let what = format!("{} station(s), {}", chunk.len(), month.format("%Y-%m"));
            let rows = match self
                .call::<Vec<Box<serde_json::value::RawValue>>>(
                    session,
                    KPI_DAY_PATH,
                    body,
                    KPI_DAY_INTERVAL,
                    true,
                )
                .await
            {
                Ok(reply) => reply.data.unwrap_or_default(),
                Err(error) => {
                    if reply.failed(error, answered, &what)? == AfterFailure::Stop {
                        break;
                    }
                    continue;
                }
            };
            answered += 1;
            let last = month.checked_add_months(chrono::Months::new(1)).and_then(|m| m.pred_opt());
            reply.answered(chunk, month, last.unwrap_or(month));
            for row in rows {
                match decode_row(row.get(), |row, _| convert::kpi_day(row, |c| request.zone_of(c)))
                {
                    Ok(day) => reply.keep(request, day),
                    Err(reason) => reply.warnings.push(format!("{what}: {reason}")),
                }
            }
        }
        Ok(reply)
    }

    async fn list_alerts(
        &self,
        session: &Session,
        window: AlertWindow,
        plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        if session.knows(&AccountFact::FusionSolarNoAlarmAccess) {
            return Err(no_alarm_list());
        }
        let mut listing = AlertListing::default();
        let mut seen = HashSet::new();
        for chunk in plant_ids.chunks(BATCH) {
            for (begin, end) in alarm_spans(window) {
                let body = json!({
                    "stationCodes": chunk.join(","),
                    "beginTime": begin,
                    "endTime": end,
                    "language": "en_US",
                });
                let rows: Vec<Box<serde_json::value::RawValue>> = match self
                    .call(session, "/thirdData/getAlarmList", body, ALARM_INTERVAL, false)
                    .await
                {
                    Ok(reply) => reply.data.unwrap_or_default(),
                    Err(VendorError::NoPermission(_)) => {
                        session.remember(AccountFact::FusionSolarNoAlarmAccess);
                        return Err(no_alarm_list());
                    }
                    Err(other) => return Err(other),
                };
                for row in rows {
                    match decode_row(row.get(), convert::alert) {
                        // Overlapping windows list an alarm twice: keep one.
                        Ok(alert) => {
                            if seen.insert(alert.vendor_alert_key.clone()) {
                                listing.alerts.push(alert);
                            }
                        }
                        Err(reason) => listing.skipped.push(reason),
                    }
                }
            }
        }
        // Alarms raised before the window are not listed, so the list cannot say which
        // stored alarms ended: only `recoveryTime` resolves them (`open_keys` stays None).
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn recorded(name: &str) -> String {
        let path =
            format!("{}/tests/fixtures/fusionsolar/recorded/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A recorded `stations` body through the listing's own page and row decoding.
    async fn listed(name: &str) -> PlantListing {
        let body = recorded(name);
        let fetch = |page_no: u32| {
            let reply: wire::Data<wire::StationPage> = serde_json::from_str(&body).unwrap();
            std::future::ready(station_page(page_no, reply.data.unwrap()))
        };
        PlantPages::collect(BATCH, fetch, convert::plant, plant_code_of).await.unwrap().finish()
    }

    /// The real gen-2 reply, anonymised by its author down to a blank `plantCode`: the row is
    /// listed but has no id, so it is reported as unreadable (without an id) and never
    /// stored under `""`; the page itself is read to its end by its page count.
    #[tokio::test]
    async fn a_recorded_station_without_a_code_is_skipped_not_stored() {
        let listing = listed("stations__kornsw_gen2.json").await;
        assert!(listing.plants.is_empty(), "{:?}", listing.plants);
        assert_eq!(listing.skipped, [(None, "station without a plantCode".to_owned())]);
        assert!(listing.complete, "one page of one, by its pageCount");
        assert_eq!(listing.duplicates, 0);
    }

    /// The same reply with only its `plantCode` filled: one plant, listed completely.
    #[tokio::test]
    async fn a_recorded_station_with_its_code_is_listed() {
        let listing = listed("stations__kornsw_gen2__plantCode_filled.json").await;
        assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
        assert!(listing.complete);
        let ids: Vec<&str> = listing.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        assert_eq!(ids, ["NE=00000001"]);
        assert_eq!(listing.plants[0].capacity_kw, Some(18.0));
    }

    /// The real legacy replies through the listing's decoding: capacity in MW, one page.
    #[tokio::test]
    async fn recorded_legacy_lists_are_listed_in_kilowatts() {
        for (name, id, kilowatts) in [
            ("getStationList__kornsw_legacy.json", "xxxxxxxxxxxx", 9.0),
            ("getStationList__kornsw_legacy__stationCode_restored.json", "NE=35436844", 9.0),
            ("getStationList__otwieracz.json", "StationCode", 5.0),
        ] {
            let body = recorded(name);
            let fetch = |_: u32| {
                let reply: wire::Data<Vec<Box<serde_json::value::RawValue>>> =
                    serde_json::from_str(&body).unwrap();
                std::future::ready(Ok(legacy_page(reply.data.unwrap())))
            };
            let listing = PlantPages::collect(BATCH, fetch, convert::legacy_plant, station_code_of)
                .await
                .unwrap()
                .finish();
            assert!(listing.complete && listing.skipped.is_empty(), "{name}: {listing:?}");
            assert_eq!(listing.plants.len(), 1, "{name}");
            assert_eq!(listing.plants[0].vendor_plant_id, id, "{name}");
            assert_eq!(listing.plants[0].capacity_kw, Some(kilowatts), "{name}");
        }
    }

    #[test]
    fn waits_are_said_in_words() {
        let words = |secs| in_words(Duration::from_secs(secs));
        assert_eq!(words(0), "1 second");
        assert_eq!(words(40), "40 seconds");
        assert_eq!(words(240), "about 4 minutes");
        assert_eq!(words(300), "about 5 minutes");
        assert_eq!(words(7200), "about 2 hours");
        let error = too_soon(
            "/thirdData/stations",
            Duration::from_secs(300),
            Duration::from_secs(290),
            "answered 407",
        );
        assert_eq!(
            error.to_string(),
            "rate limited: FusionSolar allows /thirdData/stations once every 300s per account \
             (it answers 407 otherwise); it answered 407: try again in about 5 minutes"
        );
    }

    #[test]
    fn alarm_windows_are_at_most_a_day_and_overlap() {
        let at = |hours: i64| Timestamp::from_unix_millis(hours * 3_600_000).unwrap();
        let spans = alarm_spans(AlertWindow { start: at(0), end: at(72) });
        let hours: Vec<(i64, i64)> =
            spans.iter().map(|(a, b)| (a / 3_600_000, b / 3_600_000)).collect();
        assert_eq!(hours, [(0, 24), (23, 47), (46, 70), (69, 72)]);
        let short = alarm_spans(AlertWindow { start: at(5), end: at(6) });
        assert_eq!(short.len(), 1);
    }
}
