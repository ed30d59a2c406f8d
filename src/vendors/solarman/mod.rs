//! Solarman OpenAPI (vendor-apis.md §1): token with appId in the query and the password as
//! SHA-256 hex; `station/v1.0/list` paged by `page`/`size`; daily and total energy from
//! `station/v1.0/realTime`; alerts from `station/v1.0/device` then `device/v1.0/alertList`
//! per device, with the lookback window sent as `startTimestamp`/`endTimestamp`.
//!
//! The realtime calls (one per station whose readings moved) and the alert lookups (one
//! station at a time per place) fan out under the account's concurrency limit
//! ([`crate::vendors::PortalConcurrency`]: 8 by default); the device and alert lists under
//! a station are paged with the same stop rules as the station list. Both fan-outs make
//! optional calls: a rate limit is never waited out and retried per place (eight places
//! each retrying a 429 multiply the refusals; retries count against the portal, §6.5), it
//! stops the fan-out. Readings not read keep their stored values. The alerts of the
//! stations read are kept, with a warning naming how many stations were left out, and the
//! listing is partial: the engine then keeps the alert window where the last complete run
//! left it, so the next run asks the stations left out (and any list not read to its end)
//! over the same span again. Each run starts at another station, so a portal that
//! throttles at the same point every run does not starve the same ones. Solarman's alert
//! list has no end times and sets no `open_keys`, so a partial listing resolves nothing.
//!
//! # Daily history
//!
//! Past days come from `station/v1.0/history` with `timeType 2` (days, `yyyy-MM-dd`), one
//! station and at most 30 days a call, oldest windows first; the reply is flat
//! (`stationDataItems` beside `success`), one row per day keyed by integer `year`/`month`/
//! `day`, `generationValue` in kWh (vendor-history-apis.md §1). A day the portal leaves
//! out stays a gap; a row without a value is "no data". The calls are optional (a rate
//! limit stops the backfill with what was read, never retried) and stop with the run's
//! budget; the portal's 300 calls per 10 s are far above what one sync's backfill makes.

mod client;
mod convert;
#[cfg(test)]
mod fuzz_tests;
mod wire;

use super::history::{AfterFailure, HistoryReply, HistoryRequest};
use super::http::Response;
use super::paging::{AlertRows, End, Page, PlantPages, RawPage, decode_row, read_pages};
use super::{
    AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, Stopped, VendorClient,
    VendorError, Work,
};
use crate::domain::{Credentials, Timestamp, Token, VendorKind};
use chrono::NaiveDate;
use client::Client;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Plants per page of the station list.
const PAGE_SIZE: usize = 100;
/// Requests kept back from the budget for the calls that must happen (listing pages).
const RESERVED_REQUESTS: u32 = 20;
/// The most days one `timeType 2` history call may span (vendor-history-apis.md §1).
const HISTORY_DAYS: u32 = 30;
/// Rows per page of the device and alert lists.
const SUB_PAGE_SIZE: usize = 100;

/// The Solarman adapter.
pub struct Solarman {
    client: Client,
}

impl Solarman {
    /// An adapter for one account; `base_url` overrides the international host.
    pub fn new(base_url: Option<&str>, credentials: Credentials, http: Http) -> Self {
        let base = super::base_url_or(base_url, client::DEFAULT_BASE_URL);
        Self { client: Client { base, credentials, http } }
    }

    async fn post(
        &self,
        session: &Session,
        path: &'static str,
        body: Value,
    ) -> Result<Response, VendorError> {
        self.post_as(session, path, body, false).await
    }

    /// [`Solarman::post`] for optional calls (a station's device and alert lists): a rate
    /// limit is returned at once, never waited out and retried.
    async fn post_optional(
        &self,
        session: &Session,
        path: &'static str,
        body: Value,
    ) -> Result<Response, VendorError> {
        self.post_as(session, path, body, true).await
    }

    /// An authenticated POST of `body` to `path`, as a required or an optional call.
    async fn post_as(
        &self,
        session: &Session,
        path: &'static str,
        body: Value,
        optional: bool,
    ) -> Result<Response, VendorError> {
        let call = |token: Token| {
            let body = body.clone();
            async move { self.client.post(&token, path, body).await }
        };
        if optional {
            session.call_returning_rate_limits(self, Work::Optional, call).await
        } else {
            session.call(self, call).await
        }
    }

    /// A station's devices (paged), and whether the list was read to its end.
    async fn devices(
        &self,
        session: &Session,
        station_id: &str,
    ) -> Result<(Devices, End), VendorError> {
        let fetch = |page: u32| async move {
            let body =
                json!({"stationId": numeric(station_id), "page": page, "size": SUB_PAGE_SIZE});
            let parsed: wire::DevicePage = self
                .post_optional(session, "/station/v1.0/device", body)
                .await?
                .parse("Solarman device list")?;
            Ok(Page::new(parsed.device_list_items.unwrap_or_default(), parsed.total))
        };
        let mut devices = Devices::default();
        let take = |rows: Vec<wire::Device>| devices.take(rows);
        let end = read_pages("devices", SUB_PAGE_SIZE, fetch, take).await.map_err(|f| f.error)?;
        Ok((devices, end))
    }

    /// The alerts of one device that started in `window` (paged).
    async fn device_alerts(
        &self,
        session: &Session,
        station_id: &str,
        serial: &str,
        window: AlertWindow,
    ) -> Result<(AlertRows, End), VendorError> {
        let (start, end) =
            (window.start.as_datetime().timestamp(), window.end.as_datetime().timestamp());
        let fetch = |page: u32| async move {
            let body = json!({
                "deviceSn": serial, "startTimestamp": start, "endTimestamp": end,
                "page": page, "size": SUB_PAGE_SIZE,
            });
            let parsed: wire::AlertPage = self
                .post_optional(session, "/device/v1.0/alertList", body)
                .await?
                .parse(&format!("Solarman alert list of {serial}"))?;
            Ok(Page::new(parsed.alert_list.unwrap_or_default(), parsed.total))
        };
        let mut rows = AlertRows::default();
        let take = |page: Vec<_>| {
            rows.take(page, |parsed: wire::AlertRow, text: &str| {
                convert::alert(station_id, serial, parsed, text)
            })
        };
        let ended = read_pages("alerts", SUB_PAGE_SIZE, fetch, take).await.map_err(|f| f.error)?;
        Ok((rows, ended))
    }

    /// Every alert of one station in `window`: its devices, then each device's alerts.
    /// Lists that did not read to their end are kept and named in the warnings.
    async fn station_alerts(
        &self,
        session: &Session,
        station_id: &str,
        window: AlertWindow,
    ) -> Result<AlertListing, VendorError> {
        // A list not read to its end leaves alerts unasked: the listing is partial, so the
        // window stays and the next run asks them again.
        let mut listing = AlertListing::default();
        let devices = match self.devices(session, station_id).await {
            Ok((devices, End::Complete)) => devices,
            Ok((devices, End::Incomplete(reason))) => {
                listing.partial = true;
                listing
                    .warnings
                    .push(format!("station {station_id}: device list incomplete ({reason})"));
                devices
            }
            Err(VendorError::Permanent(reason) | VendorError::Malformed(reason)) => {
                listing.partial = true;
                listing
                    .warnings
                    .push(format!("station {station_id}: device list unavailable ({reason})"));
                return Ok(listing);
            }
            Err(other) => return Err(other),
        };
        if devices.without_serial > 0 {
            listing.warnings.push(format!(
                "station {station_id}: {} device(s) listed without a serial number; their \
                 alerts cannot be asked for",
                devices.without_serial
            ));
        }
        for serial in devices.serials {
            let (rows, end) = self.device_alerts(session, station_id, &serial, window).await?;
            if let End::Incomplete(reason) = end {
                listing.partial = true;
                listing.warnings.push(format!("device {serial}: alert list incomplete ({reason})"));
            }
            listing.alerts.extend(rows.alerts);
            listing
                .skipped
                .extend(rows.skipped.into_iter().map(|r| format!("device {serial}: {r}")));
        }
        Ok(listing)
    }
}

/// The order in which an alert run asks `count` stations: all of them, starting at one
/// that moves with the minute of `now`.
fn rotation(count: usize, now: Timestamp) -> Vec<usize> {
    let start = usize::try_from(now.as_datetime().timestamp() / 60).unwrap_or(0) % count.max(1);
    (0..count).map(|n| (start + n) % count.max(1)).collect()
}

/// The devices of one station's device list, as its pages are read.
#[derive(Debug, Default)]
struct Devices {
    seen: HashSet<String>,
    /// Serial numbers (or device ids where the serial is missing), in listing order.
    serials: Vec<String>,
    /// Rows with neither a serial number nor a device id.
    without_serial: usize,
}

impl Devices {
    /// Takes one page's rows; answers how many were new to the list, for the page rules. A
    /// row without a serial still counts as listed (the vendor's total counts it, and a
    /// page of them is not a repeated page) but cannot be asked for alerts.
    fn take(&mut self, rows: Vec<wire::Device>) -> usize {
        let mut added = 0;
        for device in rows {
            match device.device_sn.or(device.device_id) {
                Some(serial) => {
                    if self.seen.insert(serial.clone()) {
                        self.serials.push(serial);
                        added += 1;
                    }
                }
                None => {
                    self.without_serial += 1;
                    added += 1;
                }
            }
        }
        added
    }
}

/// Station ids are integers on the wire; keep strings that are not.
fn numeric(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| Value::String(id.to_owned()), Value::from)
}

#[async_trait::async_trait]
impl VendorClient for Solarman {
    fn kind(&self) -> VendorKind {
        VendorKind::Solarman
    }

    async fn login(&self) -> Result<Token, VendorError> {
        let response = self.client.login().await?;
        convert::token(response, Timestamp::now()).map_err(VendorError::Malformed)
    }

    async fn list_plants(
        &self,
        session: &Session,
        known: &KnownPlants,
    ) -> Result<PlantListing, VendorError> {
        let fetch = |page: u32| async move {
            let parsed: wire::StationPage = self
                .post(session, "/station/v1.0/list", json!({"page": page, "size": PAGE_SIZE}))
                .await?
                .parse(&format!("Solarman station list page {page}"))?;
            match parsed.station_list {
                Some(rows) => Ok(RawPage::new(rows, parsed.total)),
                None => Err(VendorError::Malformed(format!(
                    "Solarman station list page {page} has no stationList"
                ))),
            }
        };
        let id_of =
            |text: &str| serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.id);
        let mut pages = PlantPages::collect(PAGE_SIZE, fetch, convert::plant, id_of).await?;

        // Daily and total energy are not in the list: one realtime call per plant, skipped
        // when the station's lastUpdateTime has not moved since the stored readings.
        let stale: Vec<(usize, String)> = pages
            .plants_mut()
            .iter()
            .enumerate()
            .filter(|(_, plant)| !known.is_current(plant))
            .map(|(index, plant)| (index, plant.vendor_plant_id.clone()))
            .collect();
        let mut refreshed = vec![false; pages.plants().len()];
        if pages.throttled() {
            pages.warn("energy readings not refreshed this run: the portal is throttling".into());
        } else if !stale.is_empty() {
            let realtime = |n: usize| {
                let body = json!({"stationId": numeric(&stale[n].1)});
                async move {
                    let call = |token: Token| {
                        let body = body.clone();
                        async move { self.client.post(&token, "/station/v1.0/realTime", body).await }
                    };
                    session
                        .call_returning_rate_limits(self, Work::Optional, call)
                        .await?
                        .parse::<wire::RealTime>("Solarman realtime")
                }
            };
            let fan = session.fan_out(self, stale.len(), RESERVED_REQUESTS, realtime).await;
            for (n, result) in &fan.results {
                let (index, id) = &stale[*n];
                match result {
                    Ok(realtime) => {
                        convert::apply_realtime(&mut pages.plants_mut()[*index], realtime);
                        refreshed[*index] = true;
                    }
                    Err(VendorError::Permanent(reason) | VendorError::Malformed(reason)) => {
                        pages.warn(format!("station {id}: realtime data unavailable ({reason})"));
                    }
                    // The error that stopped the fan-out, reported below.
                    Err(_) => {}
                }
            }
            let missed = fan.missed();
            match fan.stopped {
                None => {}
                Some(Stopped::Budget) => pages.warn(format!(
                    "energy readings of {missed} plant(s) not refreshed this run (time or request budget)"
                )),
                // Readings are optional: a rate limit or outage here keeps the listing.
                Some(Stopped::Error(
                    error @ (VendorError::RateLimited { .. }
                    | VendorError::Transient(_)
                    | VendorError::Unreachable(_)
                    | VendorError::BudgetExhausted(_)
                    | VendorError::NoPermission(_)),
                )) => pages.warn(format!(
                    "energy readings of {missed} plant(s) not refreshed this run: {error}"
                )),
                Some(Stopped::Error(other)) => return Err(other),
            }
        }
        // A plant whose readings were not read keeps its stored update time, so the next
        // sync still sees its readings as stale.
        for (index, _) in stale.into_iter().filter(|(index, _)| !refreshed[*index]) {
            pages.plants_mut()[index].vendor_updated_at = None;
        }
        Ok(pages.finish())
    }

    async fn daily_history(
        &self,
        session: &Session,
        request: &HistoryRequest,
    ) -> Result<HistoryReply, VendorError> {
        let mut reply = HistoryReply::default();
        let calls: Vec<((NaiveDate, NaiveDate), &str)> = request
            .windows(HISTORY_DAYS)
            .into_iter()
            .flat_map(|window| {
                request.plants.iter().map(move |p| (window, p.vendor_plant_id.as_str()))
            })
            .collect();
        let mut answered = 0;
        for (n, &((from, to), id)) in calls.iter().enumerate() {
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                reply.stop(format!(
                    "{} of {} history call(s) not made this run (time or request budget)",
                    calls.len() - n,
                    calls.len()
                ));
                break;
            }
            let body = json!({
                "stationId": numeric(id), "timeType": 2,
                "startTime": from.format("%Y-%m-%d").to_string(),
                "endTime": to.format("%Y-%m-%d").to_string(),
            });
            let page = match self.post_optional(session, "/station/v1.0/history", body).await {
                Ok(response) => response.parse::<wire::HistoryPage>("Solarman station history"),
                Err(error) => Err(error),
            };
            let rows = match page {
                Ok(page) => page.station_data_items.unwrap_or_default(),
                Err(error) => {
                    if reply.failed(error, answered, &format!("station {id}, {from} to {to}"))?
                        == AfterFailure::Stop
                    {
                        break;
                    }
                    continue;
                }
            };
            answered += 1;
            reply.answered(&[id], from, to);
            for row in rows {
                match decode_row(row.get(), |item, _| convert::history_day(id, item)) {
                    Ok(day) => reply.keep(request, day),
                    Err(reason) => reply.warnings.push(format!("station {id}: {reason}")),
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
        // Each run starts at another station (the minute of the hour picks where), so a
        // portal that throttles every run at about the same point still has every station
        // read within a few runs, well inside the lookback the held window allows.
        let order = rotation(plant_ids.len(), Timestamp::now());
        let stations = |n: usize| self.station_alerts(session, &plant_ids[order[n]], window);
        let fan = session.fan_out(self, plant_ids.len(), RESERVED_REQUESTS, stations).await;
        let mut listing = AlertListing::default();
        let missed = fan.missed();
        for (n, result) in fan.results {
            match result {
                Ok(station) => {
                    listing.alerts.extend(station.alerts);
                    listing.skipped.extend(station.skipped);
                    listing.warnings.extend(station.warnings);
                    listing.partial |= station.partial;
                }
                Err(VendorError::Permanent(reason) | VendorError::Malformed(reason)) => {
                    let station = &plant_ids[order[n]];
                    listing.partial = true;
                    listing
                        .warnings
                        .push(format!("station {station}: alerts unavailable ({reason})"));
                }
                // The error that stopped the fan-out, returned below.
                Err(_) => {}
            }
        }
        match fan.stopped {
            None => {}
            Some(Stopped::Budget) => {
                listing.partial = true;
                listing.warnings.push(format!(
                    "alerts of {missed} station(s) not fetched this run (time or request budget)"
                ));
            }
            // The alerts of the stations read are kept: a throttled or failing portal, or a
            // spent budget, leaves out only the stations not read, which the next run asks
            // again. Nothing is resolved by their absence (no `open_keys`).
            Some(Stopped::Error(
                error @ (VendorError::RateLimited { .. }
                | VendorError::Transient(_)
                | VendorError::Unreachable(_)
                | VendorError::BudgetExhausted(_)
                | VendorError::QuotaSpent(_)),
            )) => {
                listing.partial = true;
                listing
                    .warnings
                    .push(format!("alerts of {missed} station(s) not fetched this run: {error}"));
            }
            Some(Stopped::Error(error)) => return Err(error),
        }
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_station_is_asked_and_the_start_moves_with_the_minute() {
        let at = |minutes: i64| Timestamp::from_unix_millis(minutes * 60_000).unwrap();
        assert_eq!(rotation(4, at(0)), [0, 1, 2, 3]);
        assert_eq!(rotation(4, at(6)), [2, 3, 0, 1]);
        assert!(rotation(0, at(6)).is_empty());
        let mut all = rotation(7, at(123));
        all.sort_unstable();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }
    use crate::vendors::paging::PageRules;

    fn device(sn: Option<&str>, id: Option<&str>) -> wire::Device {
        wire::Device { device_sn: sn.map(str::to_owned), device_id: id.map(str::to_owned) }
    }

    #[test]
    fn devices_without_a_serial_count_as_listed_not_as_repeats() {
        let mut devices = Devices::default();
        let mut rules = PageRules::new("devices");
        // A full page of two devices without a serial or id: listed, not a repeated page.
        let added = devices.take(vec![device(None, None), device(None, None)]);
        assert_eq!(added, 2);
        assert_eq!(rules.after(1, 2, added, 2, Some(3), None), None, "the next page is read");
        // The serial wins over the id; the id stands in for a missing serial; repeats are
        // not new.
        let page = vec![device(Some("SN1"), Some("7")), device(None, Some("8"))];
        assert_eq!(devices.take(page), 2);
        assert_eq!(devices.take(vec![device(Some("SN1"), None)]), 0);
        assert_eq!(devices.serials, ["SN1", "8"]);
        assert_eq!(devices.without_serial, 2);
    }
}
