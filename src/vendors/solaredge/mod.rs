//! SolarEdge Monitoring API (vendor-apis.md §3): a static API key, sites from `/sites/list`
//! (`startIndex` is a record offset, `size` at most 100), power and energy from the bulk
//! overview (`/sites/{ids}/overview`, 100 sites a call, Wh and W converted), alerts from the
//! v2 alert list where the key has v2 access.
//!
//! # The daily quota
//!
//! SolarEdge allows 300 requests a day per key and per site, and 3 concurrent calls per
//! source IP. Every call (retries included) takes one request of a persisted per-key count
//! ([`crate::vendors::DailyQuota`]) before it is sent, so the budget holds across runs and
//! restarts; at zero no call is made until the portal's day ends (the sites' local
//! midnight, see `store::QuotaDay`). A 429 is the portal saying the quota is spent (its
//! count is the one that matters: another client may share the key): it is not retried,
//! and the count is set to the limit until that day ends. Every call counts against the key,
//! and a site's calls are a subset of the key's, so keeping the key's count under 300
//! keeps every site's too. Listing pages are always made; overview and alert calls are
//! optional and follow the `plan` module, which keeps enough for the listings of the rest
//! of the day. An account's planned overview calls fan out, at most three at once, and the
//! process's places per source address (`Http::source_permit`) keep every account of the
//! process to three together.
//!
//! # Daily history
//!
//! Past days come from the bulk `GET /sites/{ids}/energy?timeUnit=DAY` (100 sites and a
//! year a call; the single-site `/site/{id}/energy` for one site), Wh converted to kWh, a
//! `null` value "no data". These calls are optional like the overviews, and never take
//! what the day's syncs need: before they start, the `plan` module is asked again with the
//! quota left after this sync's own calls, and the backfill makes at most the calls it
//! allows one sync's optional work (where the spare is thin, one call per the plan's
//! interval, paced across runs). The listings and alert calls of every sync still to come
//! before the quota resets, and the plan's unplanned slack, are kept back: the backfill
//! stops where it would reach into them, says so in the reply, and the rest is asked after
//! a later sync, oldest days first. A 429 (the portal says the quota is spent) stops it
//! too. One sync's cost is counted from this adapter's last listing (its site count).

mod client;
mod convert;
#[cfg(test)]
mod fuzz_tests;
mod plan;
mod wire;

use super::history::{AfterFailure, HistoryReply, HistoryRequest, VendorDay};
use super::paging::{PlantPages, RawPage, decode_row};
use super::{
    AccountFact, AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, Stopped,
    VendorClient, VendorError, Work,
};
use crate::domain::{Credentials, Timestamp, Token, VendorKind};
use chrono::NaiveDate;
use client::Client;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sites per list page and per bulk overview call (both SolarEdge's maximum).
const PAGE_SIZE: usize = 100;
/// Requests of the run's own budget kept back for listing pages.
const RESERVED_REQUESTS: u32 = 10;
/// The most days of one daily energy call (SolarEdge allows a year; 365 stays inside it in
/// leap years too).
const HISTORY_DAYS: u32 = 365;

/// The alert list this key cannot have.
fn unsupported() -> VendorError {
    VendorError::Unsupported(
        "this SolarEdge API key has no access to the v2 alert list, and v1 has none".into(),
    )
}

/// What one plant listing knows while it reads: the stored plants, the time it reads at,
/// and the day each site last reported where the list gives only a day.
struct ListRead<'a> {
    known: &'a KnownPlants,
    now: Timestamp,
    /// Vendor site id to its listed day (a `Mutex`: the listing's converter is shared).
    days: Mutex<HashMap<String, NaiveDate>>,
}

/// The SolarEdge adapter.
pub struct SolarEdge {
    client: Client,
    /// Sites of the last listing, for what one sync costs (0: not listed yet).
    listed_sites: AtomicUsize,
}

impl SolarEdge {
    /// An adapter for one API key; `base_url` overrides the global host.
    pub fn new(base_url: Option<&str>, credentials: Credentials, http: Http) -> Self {
        let base = super::base_url_or(base_url, client::DEFAULT_BASE_URL);
        Self { client: Client { base, credentials, http }, listed_sites: AtomicUsize::new(0) }
    }

    async fn get(
        &self,
        session: &Session,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<super::http::Response, VendorError> {
        session.call(self, |_: Token| self.client.get(path, query)).await
    }

    /// The quota plan of this sync (`None`: no quota is counted, e.g. in unit tests);
    /// `per_sync_cost` is what one sync's listing and alert calls need.
    async fn plan(&self, session: &Session, per_sync_cost: u32) -> Option<plan::Plan> {
        let remaining = session.daily_remaining().await?;
        let until_reset = session.daily_until_reset().await?;
        let interval = session.sync_interval().unwrap_or(plan::DEFAULT_INTERVAL);
        Some(plan::optional_calls(remaining, per_sync_cost, until_reset, interval))
    }

    /// How many overview calls this sync may make; paced per account across runs when the
    /// spare quota is thin, so it is spread over the day.
    fn overview_allowance(&self, session: &Session, plan: Option<plan::Plan>) -> usize {
        match plan {
            None => usize::MAX,
            Some(plan::Plan { one_call_every: Some(every), .. }) => {
                usize::from(session.pace_exact("solaredge-overviews", every))
            }
            Some(plan) => plan.calls as usize,
        }
    }

    /// Says so when the listings still to come today cannot fit in the quota, and which
    /// interval would fit.
    fn warn_if_listings_short(
        &self,
        session: &Session,
        pages: &mut PlantPages,
        plan: Option<plan::Plan>,
        per_sync_cost: u32,
    ) {
        if plan.is_some_and(|p| p.listings_short) {
            let limit = session.daily_limit().unwrap_or_default();
            let shortest = plan::shortest_interval(per_sync_cost, limit);
            pages.warn(format!(
                "synced around the clock at this organization's interval, the day's listings \
                 need more than the {limit} requests SolarEdge allows per key; syncs may fail \
                 before SolarEdge's day ends unless the interval is at least {} minutes",
                shortest.as_secs().div_ceil(60)
            ));
        }
    }

    /// Adds overview readings to the stale sites (indexes into the listing), 100 sites a
    /// call: first the sites that may have news, never-read ones before the oldest stored
    /// readings; then the sites whose listed day is over and covered by their stored
    /// readings. (A site that never gets stored readings with a time, one without a zone,
    /// counts as never read each time: it takes a place of every first call.) A stale site
    /// whose overview is not read this run loses the listing's update time, so the stored
    /// one stays and the next sync still sees it as stale.
    async fn add_overviews(
        &self,
        session: &Session,
        pages: &mut PlantPages,
        read: &ListRead<'_>,
        plan: Option<plan::Plan>,
        mut stale: Vec<usize>,
    ) {
        // A thin quota rotates over all; sites that cannot have reported since their
        // stored readings go last, so silent sites never crowd out live ones.
        {
            let days = read.days.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            stale.sort_by_cached_key(|&i| {
                let plant = &pages.plants()[i];
                let stored = read.known.updated_with_energy.get(&plant.vendor_plant_id);
                let day = days.get(&plant.vendor_plant_id).copied();
                let zone = plant.timezone.as_deref();
                (convert::no_news_since(day, stored, zone, &read.now), stored.copied())
            });
        }
        let allowance = self.overview_allowance(session, plan);
        let chunks: Vec<&[usize]> = stale.chunks(PAGE_SIZE).collect();
        let planned = allowance.min(chunks.len());
        let paths: Vec<String> = chunks[..planned]
            .iter()
            .map(|chunk| {
                let ids: Vec<&str> =
                    chunk.iter().map(|&i| pages.plants()[i].vendor_plant_id.as_str()).collect();
                format!("/sites/{}/overview", ids.join(","))
            })
            .collect();
        // Bounded by the account's limit (at most 3) and, inside the client, by the 3
        // calls in flight that every SolarEdge account of the process shares.
        let overview = |n: usize| {
            let path = &paths[n];
            async move {
                let response = session
                    .call_returning_rate_limits(self, Work::Optional, |_: Token| {
                        self.client.get(path, &[])
                    })
                    .await
                    .map_err(|error| match error {
                        // The listing went through with this key: a 403 here means one of
                        // these sites may not be read with it, which fails the whole bulk
                        // call (§3.2). That chunk's failure alone.
                        VendorError::CredentialsRejected(_) => VendorError::Permanent(
                            "SolarEdge refused the overview: one of these sites is not \
                             readable with this API key"
                                .into(),
                        ),
                        other => other,
                    })?;
                let bulk = response.parse::<wire::BulkOverview>("SolarEdge site overview")?;
                Ok(bulk.sites_overviews.and_then(|o| o.site_energy_list).unwrap_or_default())
            }
        };
        let fan = session.fan_out(self, planned, RESERVED_REQUESTS, overview).await;
        let mut refreshed: HashSet<usize> = HashSet::new();
        let mut stopped_sites = 0;
        for (n, result) in fan.results {
            let chunk = chunks[n];
            let entries = match result {
                Ok(entries) => entries,
                Err(error @ (VendorError::Permanent(_) | VendorError::Malformed(_))) => {
                    pages.warn(format!("readings of {} site(s) unavailable: {error}", chunk.len()));
                    continue;
                }
                // The error that stopped the fan-out, reported below.
                Err(_) => {
                    stopped_sites += chunk.len();
                    continue;
                }
            };
            let by_id: HashMap<String, usize> =
                chunk.iter().map(|&i| (pages.plants()[i].vendor_plant_id.clone(), i)).collect();
            // The answer's own time: no site's update can be later (the DST fold rule).
            let arrived = Timestamp::now();
            for entry in entries {
                let parsed = serde_json::from_str::<wire::OverviewEntry>(entry.get());
                let Ok(wire::OverviewEntry { site_id: Some(id), site_overview: Some(overview) }) =
                    parsed
                else {
                    pages.warn("an unreadable site overview was skipped".into());
                    continue;
                };
                if let Some(&index) = by_id.get(&id) {
                    convert::apply_overview(&mut pages.plants_mut()[index], &overview, &arrived);
                    refreshed.insert(index);
                }
            }
        }
        // Sites left out of the plan (the quota) and sites of planned calls not made (why
        // the fan-out stopped) are told apart: only the first is about the quota.
        let unplanned: usize = chunks[planned..].iter().map(|c| c.len()).sum();
        let not_made: usize = fan.not_attempted.iter().map(|&n| chunks[n].len()).sum();
        match fan.stopped {
            Some(Stopped::Error(error)) => {
                let missed = stopped_sites + not_made;
                pages.warn(format!("readings of {missed} site(s) not refreshed: {error}"));
            }
            Some(Stopped::Budget) => pages.warn(format!(
                "readings of {not_made} site(s) not refreshed this run (time or request budget)"
            )),
            None => {}
        }
        if unplanned > 0 {
            pages.warn(format!(
                "readings of {unplanned} site(s) not refreshed this run, to keep within \
                 SolarEdge's daily quota ({} overview call(s) needed, {planned} planned)",
                chunks.len(),
            ));
        }
        for index in stale.into_iter().filter(|i| !refreshed.contains(i)) {
            pages.plants_mut()[index].vendor_updated_at = None;
        }
    }
}

impl SolarEdge {
    /// The daily energy of `sites` from `from` to `to` (one call: the single-site form for
    /// one site), and the rows that did not decode, in words.
    async fn energy(
        &self,
        session: &Session,
        sites: &[&str],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<VendorDay>, Vec<String>), VendorError> {
        let query = [
            ("timeUnit", "DAY".to_owned()),
            ("startDate", from.format("%Y-%m-%d").to_string()),
            ("endDate", to.format("%Y-%m-%d").to_string()),
        ];
        let path = match sites {
            [one] => format!("/site/{one}/energy"),
            many => format!("/sites/{}/energy", many.join(",")),
        };
        let response = session
            .call_returning_rate_limits(self, Work::Optional, |_: Token| {
                self.client.get(&path, &query)
            })
            .await
            .map_err(|error| match error {
                // The listing went through with this key: a 403 here is this call refused
                // (a site not readable with the key, a span the portal will not serve).
                VendorError::CredentialsRejected(_) => VendorError::Permanent(
                    "SolarEdge refused the energy call (HTTP 403): a site is not readable \
                     with this API key, or the span is too long"
                        .into(),
                ),
                other => other,
            })?;
        let mut warnings = Vec::new();
        // (site, unit, values) of every site in the reply.
        let mut series_of: Vec<(String, Option<String>, Vec<Box<RawValue>>)> = Vec::new();
        if let [one] = sites {
            let reply: wire::SiteEnergy = response.parse("SolarEdge site energy")?;
            let series = reply.energy.ok_or_else(|| {
                VendorError::Malformed("SolarEdge site energy has no 'energy'".into())
            })?;
            series_of.push(((*one).to_owned(), series.unit, series.values.unwrap_or_default()));
        } else {
            let reply: wire::BulkEnergy = response.parse("SolarEdge sites energy")?;
            let series = reply.sites_energy.ok_or_else(|| {
                VendorError::Malformed("SolarEdge sites energy has no 'sitesEnergy'".into())
            })?;
            for entry in series.site_energy_list.unwrap_or_default() {
                match serde_json::from_str::<wire::SiteEnergyEntry>(entry.get()) {
                    Ok(wire::SiteEnergyEntry { site_id: Some(id), energy_values }) => {
                        let values = energy_values.and_then(|v| v.values).unwrap_or_default();
                        series_of.push((id, series.unit.clone(), values));
                    }
                    _ => warnings.push("an unreadable site energy entry was skipped".into()),
                }
            }
        }
        let mut days = Vec::new();
        for (site, unit, values) in series_of {
            // The portal's id, bounded for the warnings (a spoiled reply may send a
            // megabyte there); the day keeps it whole, and the engine drops ids not asked.
            let named = crate::domain::text::excerpt(&site, 64);
            let Some(factor) = convert::units_per_kwh(unit.as_deref()) else {
                warnings.push(format!("site {named}: energy in an unknown unit, not read"));
                continue;
            };
            for value in values {
                match decode_row(value.get(), |v, _| convert::energy_day(&site, v, factor)) {
                    Ok(day) => days.push(day),
                    Err(reason) => warnings.push(format!("site {named}: {reason}")),
                }
            }
        }
        Ok((days, warnings))
    }
}

#[async_trait::async_trait]
impl VendorClient for SolarEdge {
    fn kind(&self) -> VendorKind {
        VendorKind::SolarEdge
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
            // A listing goes on only after a full page, so page N starts at record
            // (N - 1) * 100: a record offset, not a page number (a known client bug, §6.6).
            let start_index = (page as usize - 1) * PAGE_SIZE;
            let query = [
                ("size", PAGE_SIZE.to_string()),
                ("startIndex", start_index.to_string()),
                ("sortProperty", "Name".to_owned()),
                ("sortOrder", "ASC".to_owned()),
            ];
            let parsed: wire::SitesEnvelope = self
                .get(session, "/sites/list", &query)
                .await?
                .parse(&format!("SolarEdge site list page {page}"))?;
            let sites = parsed.sites.ok_or_else(|| {
                VendorError::Malformed(format!("SolarEdge site list page {page} has no 'sites'"))
            })?;
            match sites.site.or(sites.list) {
                Some(rows) => Ok(RawPage::new(rows, sites.count)),
                None => Err(VendorError::Malformed(format!(
                    "SolarEdge site list page {page} has neither sites.site nor sites.list"
                ))),
            }
        };
        let id_of =
            |text: &str| serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.id);
        let read = ListRead { known, now: Timestamp::now(), days: Mutex::default() };
        let convert = |site: wire::Site, raw: &str| {
            let day = convert::listed_day(&site);
            let plant = convert::plant(site, raw, &read.now)?;
            if let Some(day) = day {
                let mut days = read.days.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                days.insert(plant.vendor_plant_id.clone(), day);
            }
            Ok(plant)
        };
        let mut pages = PlantPages::collect(PAGE_SIZE, fetch, convert, id_of).await?;
        self.listed_sites.store(pages.plants().len(), Ordering::Relaxed);

        // Overviews for every site whose list time is not the stored one: a bare date (the
        // real list's shape) says nothing of the readings, so the quota plan alone bounds
        // them; a time with a clock that did not move skips the site.
        let stale: Vec<usize> = pages
            .plants_mut()
            .iter()
            .enumerate()
            .filter(|(_, plant)| !known.is_current(plant))
            .map(|(index, _)| index)
            .collect();
        // One sync costs its listing pages and the alert call.
        let per_sync_cost = pages.plants().len().div_ceil(PAGE_SIZE).max(1) as u32 + 1;
        let plan = self.plan(session, per_sync_cost).await;
        if pages.throttled() {
            pages.warn("site readings not refreshed this run: the portal is throttling".into());
            // Not read: the stored update time stays, so the next sync reads them.
            for index in stale {
                pages.plants_mut()[index].vendor_updated_at = None;
            }
        } else {
            // Not after a refused page: a quota the portal spent is no sign of the interval.
            self.warn_if_listings_short(session, &mut pages, plan, per_sync_cost);
            if !stale.is_empty() {
                self.add_overviews(session, &mut pages, &read, plan, stale).await;
            }
        }
        Ok(pages.finish())
    }

    async fn daily_history(
        &self,
        session: &Session,
        request: &HistoryRequest,
    ) -> Result<HistoryReply, VendorError> {
        let mut reply = HistoryReply::default();
        let ids: Vec<&str> = request.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        let calls: Vec<((NaiveDate, NaiveDate), &[&str])> = request
            .windows(HISTORY_DAYS)
            .into_iter()
            .flat_map(|window| ids.chunks(PAGE_SIZE).map(move |chunk| (window, chunk)))
            .collect();
        // What one sync costs: its listing pages (the account has at least the sites asked
        // about) and its alert call.
        let sites = self.listed_sites.load(Ordering::Relaxed).max(ids.len());
        let per_sync_cost = sites.div_ceil(PAGE_SIZE).max(1) as u32 + 1;
        let allowance = match self.plan(session, per_sync_cost).await {
            None => usize::MAX,
            Some(plan::Plan { one_call_every: Some(every), .. }) if !calls.is_empty() => {
                usize::from(session.pace_exact("solaredge-history", every))
            }
            Some(plan) => plan.calls as usize,
        };
        let mut answered = 0;
        for (n, &((from, to), chunk)) in calls.iter().enumerate() {
            if n >= allowance {
                let left = session.daily_remaining().await.unwrap_or_default();
                reply.stop(format!(
                    "{} of {} history call(s) left for a later sync: SolarEdge's daily quota \
                     is kept for the syncs still to come today ({left} request(s) left)",
                    calls.len() - n,
                    calls.len()
                ));
                break;
            }
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                reply.stop(format!(
                    "{} of {} history call(s) not made this run (time or request budget)",
                    calls.len() - n,
                    calls.len()
                ));
                break;
            }
            let what = format!("{} site(s), {from} to {to}", chunk.len());
            let result = self.energy(session, chunk, from, to).await;
            let (series, warnings) = match result {
                Ok(read) => read,
                Err(error) => {
                    if reply.failed(error, answered, &what)? == AfterFailure::Stop {
                        break;
                    }
                    continue;
                }
            };
            answered += 1;
            reply.answered(chunk, from, to);
            reply.warnings.extend(warnings);
            for day in series {
                reply.keep(request, day);
            }
        }
        Ok(reply)
    }

    async fn list_alerts(
        &self,
        session: &Session,
        _window: AlertWindow,
        plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        if session.knows(&AccountFact::SolarEdgeNoV2Access) {
            return Err(unsupported());
        }
        // The plan reserves one alert call for every sync: it is made unless even the
        // listings no longer fit.
        let listing_pages = plant_ids.len().div_ceil(PAGE_SIZE).max(1) as u32;
        let plan = self.plan(session, listing_pages + 1).await;
        if plan.is_some_and(|p| p.listings_short) {
            return Ok(AlertListing {
                warnings: vec![
                    "alerts not fetched this run: SolarEdge's daily quota is kept for plant \
                     listings"
                        .into(),
                ],
                ..AlertListing::default()
            });
        }
        let response = match session.call(self, |_: Token| self.client.get_v2("/alerts")).await {
            Ok(response) => response,
            // No v2 access for this key (403/404): v1 has no alert list (§3.4). Remembered
            // for a day, so the quota is not spent asking again every run.
            Err(VendorError::NoPermission(_)) => {
                session.remember(AccountFact::SolarEdgeNoV2Access);
                return Err(unsupported());
            }
            Err(other) => return Err(other),
        };
        let rows: Vec<Box<serde_json::value::RawValue>> =
            response.parse("SolarEdge v2 alert list")?;
        let mut listing = AlertListing::default();
        let mut open_keys = Vec::new();
        for row in rows {
            match decode_row(row.get(), convert::alert) {
                Ok(alert) => {
                    open_keys.push(alert.vendor_alert_key.clone());
                    listing.alerts.push(alert);
                }
                Err(reason) => listing.skipped.push(reason),
            }
        }
        // The v2 list is the account's open alerts, whole: those missing from it ended
        // (when every row of it was read: the sync's rule, `sync::alerts`).
        listing.open_keys = Some(open_keys);
        Ok(listing)
    }
}
