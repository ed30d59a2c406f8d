//! Growatt OpenAPI v1 (vendor-apis.md §5): a static API token in the `token` header;
//! plants from `/v1/plant/list` (`page`, `perpage` at most 100; current power and lifetime
//! energy included); a new plant's zone (and its position, where the list sends `""`) from
//! `/v1/plant/details` once; today's energy and the update time from `/v1/plant/data`, one
//! call per plant. That time is local to the zone the data reply carries beside it
//! (`GMT+8` or `GMT+5:30`, as Growatt's documented reply does), else to the plant's known
//! zone, and so becomes UTC even where the details gave none.
//!
//! Growatt has no plant-level alarm list (only per-device-type ones), so alerts are
//! reported as unsupported: visible in the run, not a failure. `10012` is a rate limit,
//! and hammering has led to IP blocks lasting days: the per-plant calls are never retried
//! after one, they stop there and the listing is kept (the listing itself waits a minute
//! and retries within the policy). A rate limit (or a spent quota) in the listing or in
//! the details step skips every later per-plant step of the run. The per-plant calls run a
//! few at a time ([`crate::vendors::PortalConcurrency`]: 4 by default, halved at the first
//! `10012`), and every Growatt call of the process shares
//! [`crate::vendors::concurrency::GROWATT_MAX_CONCURRENT`] places, since the portal's
//! blocks are per IP. A token refused the details or the data call (`101`) is not asked
//! again for a day ([`AccountFact`]). The retired `server*.growatt.com` hosts answer "use
//! the new domain", which becomes an error naming the base-URL setting to change.
//!
//! # Daily history
//!
//! Past days come from `GET /v1/plant/energy?time_unit=day` (kWh, often as text), at most
//! 7 days a call and one plant a call, oldest days first. Growatt's documentation allows
//! this call "once every 5 minutes" and "only 10 calls a day" (vendor-history-apis.md §5),
//! so every call is paced through [`Session::pace`]: at most one per 5 minutes per
//! account (never waited for: a run makes one and leaves the rest to later syncs) and at
//! most 10 per rolling day (each call holds one of 10 places for 24 hours), both shared
//! with other processes through the call log. That is 70 plant-days a day at most: a long
//! backfill takes days, and each reply says what is left and when. `10012` stops it too.
//! `time_unit=month` is not used: its rows are monthly totals, not days.

mod client;
mod convert;
#[cfg(test)]
mod fuzz_tests;
mod wire;

use super::history::{self, AfterFailure, HistoryReply, HistoryRequest};
use super::paging::{PlantPages, RawPage, decode_row};
use super::{
    AccountFact, AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, Stopped,
    VendorClient, VendorError, Work,
};
use crate::domain::{Credentials, Timestamp, Token, VendorKind};
use chrono::NaiveDate;
use client::Client;
use std::time::Duration;

/// Plants per page (the portal's maximum).
const PAGE_SIZE: usize = 100;
/// Requests of the run's budget kept back for the listing.
const RESERVED_REQUESTS: u32 = 10;
/// The daily energy call.
const ENERGY_PATH: &str = "/v1/plant/energy";
/// The most days of one `time_unit=day` call.
const ENERGY_DAYS: u32 = 7;
/// Least time between two energy calls of one account.
const ENERGY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Energy calls Growatt allows a day.
const ENERGY_CALLS_A_DAY: usize = 10;

/// Whether a per-plant step was refused for a rate limit or a spent quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Throttled {
    Yes,
    No,
}

/// The Growatt adapter.
pub struct Growatt {
    client: Client,
}

impl Growatt {
    /// An adapter for one API token; `base_url` picks the regional host.
    pub fn new(base_url: Option<&str>, credentials: Credentials, http: Http) -> Self {
        let base = super::base_url_or(base_url, client::DEFAULT_BASE_URL);
        Self { client: Client { base, credentials, http } }
    }

    async fn get(
        &self,
        session: &Session,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<super::http::Response, VendorError> {
        session.call(self, |_: Token| self.client.get(path, query)).await
    }

    /// The zone of plants whose zone is not stored yet, from `/v1/plant/details` (the list
    /// has none): one call per plant in its lifetime, so `plant/data`'s local times become
    /// UTC (`GMT+8` becomes `Etc/GMT-8`, India's `GMT+5:30` the fixed offset `+05:30`). A
    /// plant whose details give no zone is asked again a day later, not every run, and that
    /// fact is kept in the store, so another process does not ask either.
    /// Answers [`Throttled::Yes`] when the portal refused them for a rate limit or a spent
    /// quota: the data step must not follow.
    async fn add_zones(
        &self,
        session: &Session,
        pages: &mut PlantPages,
        known: &KnownPlants,
    ) -> Throttled {
        let mut need: Vec<(usize, String)> = Vec::new();
        for (index, plant) in pages.plants_mut().iter_mut().enumerate() {
            if plant.timezone.is_none()
                && let Some(zone) = known.timezones.get(&plant.vendor_plant_id)
            {
                plant.timezone = Some(zone.clone());
            }
            // The details hold the zone and, where the list has none, the coordinates: a
            // plant whose zone came from elsewhere (`plant/data`) still needs them for
            // its position.
            let positioned =
                plant.latitude.is_some() || known.positioned.contains(&plant.vendor_plant_id);
            if plant.timezone.is_some() && positioned {
                continue;
            }
            let id = plant.vendor_plant_id.clone();
            if !session.knows(&AccountFact::GrowattPlantWithoutZone(id.clone())) {
                need.push((index, id));
            }
        }
        if need.is_empty() || session.knows(&AccountFact::GrowattNoDetailsAccess) {
            return Throttled::No;
        }
        let details = |n: usize| {
            let query = [("plant_id", need[n].1.clone())];
            async move {
                session
                    .call_returning_rate_limits(self, Work::Optional, |_: Token| {
                        self.client.get("/v1/plant/details", &query)
                    })
                    .await?
                    .parse::<wire::Data<wire::PlantDetails>>("Growatt details")
            }
        };
        let fan = session.fan_out(self, need.len(), RESERVED_REQUESTS, details).await;
        for (n, result) in &fan.results {
            let (index, id) = &need[*n];
            let zone = match result {
                Ok(wire::Data { data: Some(details) }) => {
                    convert::apply_coordinates(&mut pages.plants_mut()[*index], details);
                    details.timezone.as_deref().and_then(crate::vendors::zones::checked_zone)
                }
                Ok(_) => None,
                Err(error @ (VendorError::Permanent(_) | VendorError::Malformed(_))) => {
                    pages.warn(format!("plant {id}: details unavailable ({error})"));
                    None
                }
                // The error that stopped the fan-out, handled below: asked again next run.
                Err(_) => continue,
            };
            let plant = &mut pages.plants_mut()[*index];
            let found_zone = zone.is_some();
            if let Some(zone) = zone {
                plant.timezone = Some(zone);
            }
            // Details that lack what they were asked for (a zone, a position) are asked
            // again a day later, not every run.
            if !found_zone || plant.latitude.is_none() {
                session.remember(AccountFact::GrowattPlantWithoutZone(id.clone()));
            }
        }
        let missed = fan.missed();
        match fan.stopped {
            None => {}
            Some(Stopped::Budget) => pages.warn(format!(
                "zones of {missed} plant(s) not read this run (time or request budget)"
            )),
            // No permission for the call, for any plant: not asked again for any plant of
            // the account for a day.
            Some(Stopped::Error(VendorError::NoPermission(reason))) => {
                pages.warn(format!("plant zones not read: {reason}"));
                session.remember(AccountFact::GrowattNoDetailsAccess);
            }
            Some(Stopped::Error(
                error @ (VendorError::RateLimited { .. } | VendorError::QuotaSpent(_)),
            )) => {
                pages.warn(format!("zones of {missed} plant(s) not read this run: {error}"));
                return Throttled::Yes;
            }
            Some(Stopped::Error(error)) => {
                pages.warn(format!("zones of {missed} plant(s) not read this run: {error}"));
            }
        }
        Throttled::No
    }

    /// Today's energy and the freshest power, one call per plant, plants never read or read
    /// longest ago first (so a rate limit that stops the run does not starve the same plants
    /// every time); stops at a rate limit.
    async fn add_plant_data(&self, session: &Session, pages: &mut PlantPages, known: &KnownPlants) {
        if session.knows(&AccountFact::GrowattNoDataAccess) {
            pages.warn(
                "plant readings not read: this API token may not call /v1/plant/data (asked \
                 again a day after the refusal)"
                    .into(),
            );
            return;
        }
        let mut order: Vec<(usize, String)> = pages
            .plants()
            .iter()
            .enumerate()
            .map(|(index, plant)| (index, plant.vendor_plant_id.clone()))
            .collect();
        order.sort_by_key(|(_, id)| known.updated_with_energy.get(id));
        let data = |n: usize| {
            let query = [("plant_id", order[n].1.clone())];
            async move {
                session
                    .call_returning_rate_limits(self, Work::Optional, |_: Token| {
                        self.client.get("/v1/plant/data", &query)
                    })
                    .await?
                    .parse::<wire::Data<wire::PlantData>>("Growatt plant data")
                    .map(|data| (data, Timestamp::now()))
            }
        };
        let fan = session.fan_out(self, order.len(), RESERVED_REQUESTS, data).await;
        for (n, result) in &fan.results {
            let (index, id) = &order[*n];
            match result {
                Ok((wire::Data { data: Some(data) }, arrived)) => {
                    convert::apply_data(&mut pages.plants_mut()[*index], data, arrived);
                }
                Ok(_) => pages.warn(format!("plant {id}: plant data without data")),
                Err(error @ (VendorError::Permanent(_) | VendorError::Malformed(_))) => {
                    pages.warn(format!("plant {id}: readings unavailable ({error})"));
                }
                // The error that stopped the fan-out, reported below.
                Err(_) => {}
            }
        }
        let missed = fan.missed();
        match fan.stopped {
            None => {}
            Some(Stopped::Budget) => pages.warn(format!(
                "readings of {missed} plant(s) not refreshed this run (time or request budget)"
            )),
            // No permission for the call, for any plant: not asked again for a day.
            Some(Stopped::Error(VendorError::NoPermission(reason))) => {
                pages.warn(format!("plant readings not read: {reason}"));
                session.remember(AccountFact::GrowattNoDataAccess);
            }
            Some(Stopped::Error(error)) => {
                pages.warn(format!("readings of {missed} plant(s) not refreshed this run: {error}"))
            }
        }
    }
}

#[async_trait::async_trait]
impl VendorClient for Growatt {
    fn kind(&self) -> VendorKind {
        VendorKind::Growatt
    }

    fn needs_login(&self) -> bool {
        false
    }

    async fn list_plants(
        &self,
        session: &Session,
        known: &KnownPlants,
    ) -> Result<PlantListing, VendorError> {
        let fetch = |page: u32| async move {
            let query = [("page", page.to_string()), ("perpage", PAGE_SIZE.to_string())];
            let parsed: wire::Data<wire::PlantPage> = self
                .get(session, "/v1/plant/list", &query)
                .await?
                .parse(&format!("Growatt plant list page {page}"))?;
            match parsed.data {
                Some(wire::PlantPage { count, plants: Some(rows) }) => {
                    Ok(RawPage::new(rows, count))
                }
                _ => Err(VendorError::Malformed(format!(
                    "Growatt plant list page {page} has no data.plants"
                ))),
            }
        };
        let id_of =
            |text: &str| serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.plant_id);
        let mut pages = PlantPages::collect(PAGE_SIZE, fetch, convert::plant, id_of).await?;
        // A portal that refused the listing or the details for a rate limit gets no more
        // per-plant calls this run: more would only make it worse (IP blocks, §5.4).
        let throttled =
            pages.throttled() || self.add_zones(session, &mut pages, known).await == Throttled::Yes;
        if throttled {
            pages.warn("plant readings not refreshed this run: the portal is throttling".into());
        } else {
            self.add_plant_data(session, &mut pages, known).await;
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
            .windows(ENERGY_DAYS)
            .into_iter()
            .flat_map(|w| request.plants.iter().map(move |p| (w, p.vendor_plant_id.as_str())))
            .collect();
        let mut answered = 0;
        for (n, &((from, to), id)) in calls.iter().enumerate() {
            let left = calls.len() - n;
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                reply.stop(format!(
                    "{left} of {} history call(s) not made this run (time or request budget)",
                    calls.len()
                ));
                break;
            }
            let paced = match session.pace(ENERGY_PATH, ENERGY_INTERVAL, Duration::ZERO).await {
                Ok(paced) => paced,
                Err(early) => {
                    reply.stop(format!(
                        "{left} of {} history call(s) left for later: Growatt allows \
                         plant/energy once every 5 minutes (the next in {}s)",
                        calls.len(),
                        early.wait.as_secs()
                    ));
                    break;
                }
            };
            if let Err(wait) =
                history::take_daily_place(session, ENERGY_PATH, ENERGY_CALLS_A_DAY).await
            {
                paced.give_back().await;
                reply.stop(format!(
                    "{left} of {} history call(s) left for later: Growatt allows plant/energy \
                     {ENERGY_CALLS_A_DAY} times a day, all made (a place frees up in {} min)",
                    calls.len(),
                    wait.as_secs().div_ceil(60)
                ));
                break;
            }
            let query = [
                ("plant_id", id.to_owned()),
                ("start_date", from.format("%Y-%m-%d").to_string()),
                ("end_date", to.format("%Y-%m-%d").to_string()),
                ("time_unit", "day".to_owned()),
                ("page", "1".to_owned()),
                ("perpage", PAGE_SIZE.to_string()),
            ];
            let what = format!("plant {id}, {from} to {to}");
            let result = session
                .call_returning_rate_limits(self, Work::Optional, |_: Token| {
                    self.client.get(ENERGY_PATH, &query)
                })
                .await
                .and_then(|r| r.parse::<wire::Data<wire::Energies>>("Growatt plant energy"));
            let rows = match result {
                Ok(wire::Data { data }) => data.and_then(|d| d.energys).unwrap_or_default(),
                Err(error) => {
                    if reply.failed(error, answered, &what)? == AfterFailure::Stop {
                        break;
                    }
                    continue;
                }
            };
            answered += 1;
            reply.answered(&[id], from, to);
            for row in rows {
                match decode_row(row.get(), |row, _| convert::energy_day(id, row)) {
                    Ok(day) => reply.keep(request, day),
                    Err(reason) => reply.warnings.push(format!("{what}: {reason}")),
                }
            }
        }
        Ok(reply)
    }

    async fn list_alerts(
        &self,
        _session: &Session,
        _window: AlertWindow,
        _plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        Err(VendorError::Unsupported(
            "Growatt's OpenAPI has no plant-level alarm list (only per device type)".into(),
        ))
    }
}
