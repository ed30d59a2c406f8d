//! Sungrow iSolarCloud (vendor-apis.md §2), developer-portal login flow: `/openapi/login`
//! with the app key in the body and the secret key in `x-access-key`; plants from
//! `/openapi/getPowerStationList` (`{unit, value}` readings converted by their unit, both
//! spellings of the paging keys); faults from `/openapi/platform/getFaultAlarmInfo`.
//!
//! The fault list takes no time filter, so the lookback window is applied here to closed
//! faults; open faults are always kept, and their complete list lets the engine resolve
//! stored alerts that are no longer open.

mod client;
mod convert;
mod wire;

use super::paging::{Next, PlantPages, RawPage, decode_row};
use super::{
    AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, VendorClient, VendorError,
};
use crate::domain::{AlertStatus, Credentials, Timestamp, Token, VendorKind};
use client::Client;
use serde_json::{Value, json};

/// Rows per page.
const PAGE_SIZE: usize = 100;

/// The Sungrow adapter.
pub struct Sungrow {
    client: Client,
}

impl Sungrow {
    /// An adapter for one account; `base_url` picks the regional gateway.
    pub fn new(base_url: Option<&str>, credentials: Credentials, http: Http) -> Self {
        let base = super::base_url_or(base_url, client::DEFAULT_BASE_URL);
        Self { client: Client { base, credentials, http } }
    }

    async fn page(
        &self,
        session: &Session,
        path: &'static str,
        body: Value,
    ) -> Result<wire::Page, VendorError> {
        let data = session
            .call(self, |token: Token| {
                let body = body.clone();
                async move { self.client.post::<wire::Page>(path, body, &token).await }
            })
            .await?;
        // A success without data, or without a list, is not "no plants": refuse it rather
        // than let an empty listing mark every plant inactive.
        match data {
            Some(page) if page.page_list.is_some() => Ok(page),
            _ => {
                Err(VendorError::Malformed(format!("Sungrow {path}: result_data has no page list")))
            }
        }
    }
}

#[async_trait::async_trait]
impl VendorClient for Sungrow {
    fn kind(&self) -> VendorKind {
        VendorKind::Sungrow
    }

    async fn login(&self) -> Result<Token, VendorError> {
        self.client.login(Timestamp::now()).await
    }

    async fn list_plants(
        &self,
        session: &Session,
        _known: &KnownPlants,
    ) -> Result<PlantListing, VendorError> {
        let mut pages = PlantPages::default();
        for page in 1.. {
            let body = json!({"curPage": page, "size": PAGE_SIZE});
            let fetched =
                self.page(session, "/openapi/getPowerStationList", body).await.map(|parsed| {
                    RawPage {
                        rows: parsed.page_list.unwrap_or_default(),
                        total: parsed.row_count,
                        page_count: None,
                    }
                });
            let id_of =
                |text: &str| serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.ps_id);
            if pages.take_page(page, fetched, PAGE_SIZE, convert::plant, id_of)? == Next::Stop {
                break;
            }
        }
        Ok(pages.finish())
    }

    async fn list_alerts(
        &self,
        session: &Session,
        window: AlertWindow,
        _plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        let mut listing = AlertListing::default();
        let mut open_keys = Vec::new();
        let mut fetched = 0usize;
        for page in 1..=super::paging::MAX_PAGES {
            // ps_id "" asks for every plant of the account; 999 = open and closed.
            let body =
                json!({"ps_id": "", "process_status": "999", "page": page, "size": PAGE_SIZE});
            let parsed = self.page(session, "/openapi/platform/getFaultAlarmInfo", body).await?;
            let rows = parsed.page_list.unwrap_or_default();
            let count = rows.len();
            fetched += count;
            for row in rows {
                let decoded = decode_row(row.get(), convert::alert);
                match decoded {
                    Ok(alert) if alert.status == AlertStatus::Active => {
                        open_keys.push(alert.vendor_alert_key.clone());
                        listing.alerts.push(alert);
                    }
                    Ok(alert) => {
                        let recent = |t: Option<Timestamp>| t.is_some_and(|t| t >= window.start);
                        if recent(alert.started_at) || recent(alert.ended_at) {
                            listing.alerts.push(alert);
                        }
                    }
                    Err(reason) => listing.skipped.push(reason),
                }
            }
            let total = parsed.row_count.map_or(usize::MAX, |t| t.max(0) as usize);
            if count < PAGE_SIZE || fetched >= total {
                // Only a list read to its end can say which alerts are no longer open.
                listing.open_keys = Some(open_keys);
                return Ok(listing);
            }
        }
        Ok(listing)
    }
}
