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
//! restarts; at zero no call is made until 00:00 UTC. Every call counts against the key,
//! and a site's calls are a subset of the key's, so keeping the key's count under 300
//! keeps every site's too. Listing pages are always made; overview and alert calls are
//! optional and follow the `plan` module, which keeps enough for the listings of the rest of the day.

mod client;
mod convert;
mod plan;
mod wire;

use super::paging::{Next, PlantPages, decode_row};
use super::{
    AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, VendorClient, VendorError,
};
use crate::domain::{Credentials, Token, VendorKind};
use client::Client;
use std::time::Duration;

/// Sites per list page and per bulk overview call (both SolarEdge's maximum).
const PAGE_SIZE: usize = 100;
/// Requests of the run's own budget kept back for listing pages.
const RESERVED_REQUESTS: u32 = 10;

/// The SolarEdge adapter.
pub struct SolarEdge {
    client: Client,
}

impl SolarEdge {
    /// An adapter for one API key; `base_url` overrides the global host.
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

    /// How many optional calls this sync may make of the daily quota; `per_sync_cost` is
    /// what one sync's listing and alert calls need.
    async fn optional_allowance(&self, session: &Session, per_sync_cost: u32) -> u32 {
        let Some(remaining) = session.daily_remaining().await else { return u32::MAX };
        let until_reset = plan::until_reset(chrono::Utc::now());
        let plan = plan::optional_calls(remaining, per_sync_cost, until_reset);
        match plan.one_call_every {
            // Paced per account across runs: the spare quota is spread over the day.
            Some(every) => match session.pace("solaredge-optional", every, Duration::ZERO).await {
                Ok(()) => 1,
                Err(_) => 0,
            },
            None => plan.calls,
        }
    }

    /// Fetches overviews of `sites` (indexes into the listing) in bulk calls of 100.
    async fn add_overviews(&self, session: &Session, pages: &mut PlantPages, sites: Vec<usize>) {
        let listing_pages = pages.plants_mut().len().div_ceil(PAGE_SIZE).max(1) as u32;
        let calls_needed = sites.len().div_ceil(PAGE_SIZE);
        let allowance = self.optional_allowance(session, listing_pages + 1).await as usize;
        let chunks: Vec<&[usize]> = sites.chunks(PAGE_SIZE).collect();
        for (done, chunk) in chunks.iter().enumerate() {
            if done >= allowance || session.should_stop_optional_work(RESERVED_REQUESTS) {
                let left: usize = chunks[done..].iter().map(|c| c.len()).sum();
                pages.warn(format!(
                    "readings of {left} site(s) not refreshed this run: kept within SolarEdge's \
                     daily quota ({calls_needed} overview call(s) needed, {allowance} planned)"
                ));
                return;
            }
            let ids: Vec<String> =
                chunk.iter().map(|&i| pages.plants_mut()[i].vendor_plant_id.clone()).collect();
            let path = format!("/sites/{}/overview", ids.join(","));
            let response = match self.get(session, &path, &[]).await {
                Ok(response) => response,
                Err(error) => {
                    pages.warn(format!("readings of {} site(s) not refreshed: {error}", ids.len()));
                    if matches!(error, VendorError::Malformed(_) | VendorError::Permanent(_)) {
                        continue;
                    }
                    return;
                }
            };
            let entries = match response.parse::<wire::BulkOverview>("SolarEdge site overview") {
                Ok(bulk) => {
                    bulk.sites_overviews.and_then(|o| o.site_energy_list).unwrap_or_default()
                }
                Err(error) => {
                    pages.warn(format!("readings of {} site(s) unreadable: {error}", ids.len()));
                    continue;
                }
            };
            for entry in entries {
                let parsed = serde_json::from_str::<wire::OverviewEntry>(entry.get());
                let Ok(wire::OverviewEntry { site_id: Some(id), site_overview: Some(overview) }) =
                    parsed
                else {
                    pages.warn("an unreadable site overview was skipped".into());
                    continue;
                };
                if let Some(&index) =
                    chunk.iter().find(|&&i| pages.plants_mut()[i].vendor_plant_id == id)
                {
                    convert::apply_overview(&mut pages.plants_mut()[index], &overview);
                }
            }
        }
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

    async fn login(&self) -> Result<Token, VendorError> {
        Err(VendorError::Permanent(
            "SolarEdge has no login; the API key is sent on every call".into(),
        ))
    }

    async fn list_plants(
        &self,
        session: &Session,
        known: &KnownPlants,
    ) -> Result<PlantListing, VendorError> {
        let mut pages = PlantPages::default();
        let mut page = 1;
        let mut start_index = 0usize;
        loop {
            let query = [
                ("size", PAGE_SIZE.to_string()),
                // A record offset, not a page number (a known client bug, §6.6).
                ("startIndex", start_index.to_string()),
                ("sortProperty", "Name".to_owned()),
                ("sortOrder", "ASC".to_owned()),
            ];
            let parsed: wire::SitesEnvelope = self
                .get(session, "/sites/list", &query)
                .await?
                .parse(&format!("SolarEdge site list page {page}"))?;
            let Some(sites) = parsed.sites else {
                return Err(VendorError::Malformed(format!(
                    "SolarEdge site list page {page} has no 'sites'"
                )));
            };
            let Some(rows) = sites.site.or(sites.list) else {
                return Err(VendorError::Malformed(format!(
                    "SolarEdge site list page {page} has neither sites.site nor sites.list"
                )));
            };
            let count = rows.len();
            for row in rows {
                pages.push_raw(row.get(), convert::plant, |text| {
                    serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.id)
                });
            }
            let total = sites.count.map(|t| t.max(0) as u64);
            if pages.after_page(page, count, PAGE_SIZE, total) == Next::Stop {
                break;
            }
            start_index += count;
            page += 1;
        }

        // Overviews only for sites whose lastUpdateTime moved since the stored readings.
        let stale: Vec<usize> = pages
            .plants_mut()
            .iter()
            .enumerate()
            .filter(|(_, plant)| !known.is_current(plant))
            .map(|(index, _)| index)
            .collect();
        if !stale.is_empty() {
            self.add_overviews(session, &mut pages, stale).await;
        }
        Ok(pages.finish())
    }

    async fn list_alerts(
        &self,
        session: &Session,
        _window: AlertWindow,
        plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        let listing_pages = plant_ids.len().div_ceil(PAGE_SIZE).max(1) as u32;
        if self.optional_allowance(session, listing_pages + 1).await == 0 {
            return Ok(AlertListing {
                skipped: vec![
                    "alerts not fetched this run: SolarEdge's daily quota is kept for plant \
                     listings"
                        .into(),
                ],
                ..AlertListing::default()
            });
        }
        let response = match session.call(self, |_: Token| self.client.get_v2("/alerts")).await {
            Ok(response) => response,
            // No v2 access for this key: the v1 API has no alert list (§3.4).
            Err(VendorError::CredentialsRejected(_)) | Err(VendorError::Permanent(_)) => {
                return Err(VendorError::Unsupported(
                    "this SolarEdge API key has no access to the v2 alert list; v1 has none".into(),
                ));
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
        // The v2 list is the account's open alerts, whole: those missing from it ended.
        if listing.skipped.is_empty() {
            listing.open_keys = Some(open_keys);
        }
        Ok(listing)
    }
}
