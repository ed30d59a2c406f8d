//! Sungrow iSolarCloud (vendor-apis.md §2), developer-portal login flow: `/openapi/login`
//! with the app key in the body and the secret key in `x-access-key`; plants from
//! `/openapi/getPowerStationList` (`{unit, value}` readings converted by their unit, both
//! spellings of the paging keys); faults from `/openapi/platform/getFaultAlarmInfo`.
//!
//! The fault list takes no time filter, so the lookback window is applied here to closed
//! faults; open faults are always kept, and their list, when read to its end with every row
//! understood, lets the engine resolve stored alerts that are no longer open. An account that may not call the fault list
//! (`E994`/`E996`, or HTTP 404/405 from it: "not available for this account", §2.6) has
//! alerts reported as unsupported, visible but not a failure, and is not asked again for a
//! day ([`AccountFact::SungrowNoFaultListAccess`]).

mod client;
mod convert;
#[cfg(test)]
mod fuzz_tests;
mod wire;

use super::history::{AfterFailure, HistoryReply, HistoryRequest};
use super::paging::{AlertRows, End, PlantPages, RawPage, decode_row, read_pages};
use super::{
    AccountFact, AlertListing, AlertWindow, Http, KnownPlants, PlantListing, Session, VendorClient,
    VendorError, Work,
};
use crate::domain::{AlertStatus, Credentials, Timestamp, Token, VendorKind};
use chrono::NaiveDate;
use client::Client;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Rows per page.
const PAGE_SIZE: usize = 100;
/// The plant-level daily-history call.
const HISTORY_PATH: &str = "/openapi/platform/getPowerStationPointDayMonthYearDataList";
/// The most days of one day-resolution history call.
const HISTORY_DAYS: u32 = 100;
/// The most plants of one history call.
const HISTORY_PLANTS: usize = 50;
/// Requests of the run's budget kept back from the history calls.
const RESERVED_REQUESTS: u32 = 5;

/// Plant ids are integers on the wire; keep strings that are not.
fn numeric(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| Value::String(id.to_owned()), Value::from)
}

/// A vendor-given key, bounded and escaped for a warning.
fn excerpt(text: &str) -> String {
    crate::domain::text::excerpt(text, 64)
}

/// The fault list this account cannot have.
fn no_fault_list() -> VendorError {
    VendorError::Unsupported(
        "this Sungrow account may not call the fault list (getFaultAlarmInfo answered E994, \
         E996 or HTTP 404/405: not available for this account or region); asked again a day \
         after the refusal"
            .into(),
    )
}

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
        let fetch = |page: u32| async move {
            let body = json!({"curPage": page, "size": PAGE_SIZE});
            let parsed = self.page(session, "/openapi/getPowerStationList", body).await?;
            Ok(RawPage::new(parsed.page_list.unwrap_or_default(), parsed.row_count))
        };
        let id_of =
            |text: &str| serde_json::from_str::<wire::IdProbe>(text).ok().and_then(|p| p.ps_id);
        let units = convert::UnknownUnits::default();
        let plant = |station, raw: &str| convert::plant(station, raw, &units);
        let mut pages = PlantPages::collect(PAGE_SIZE, fetch, plant, id_of).await?;
        if let Some(warning) = units.warning() {
            pages.warn(warning);
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
            .flat_map(|window| ids.chunks(HISTORY_PLANTS).map(move |chunk| (window, chunk)))
            .collect();
        let mut answered = 0;
        for (n, &((from, to), chunk)) in calls.iter().enumerate() {
            if session.should_stop_optional_work(RESERVED_REQUESTS) {
                reply.stop(format!(
                    "{} of {} history call(s) not made this run (time or request budget)",
                    calls.len() - n,
                    calls.len()
                ));
                break;
            }
            let body = json!({
                "ps_id_list": chunk.iter().map(|id| numeric(id)).collect::<Vec<_>>(),
                "data_point": "p83022", "query_type": "1", "data_type": "2",
                "start_time": from.format("%Y%m%d").to_string(),
                "end_time": to.format("%Y%m%d").to_string(), "order": "0",
            });
            let what = format!("{} plant(s), {from} to {to}", chunk.len());
            let data = session
                .call_returning_rate_limits(self, Work::Optional, |token: Token| {
                    let body = body.clone();
                    async move {
                        self.client
                            .post::<HashMap<String, Box<RawValue>>>(HISTORY_PATH, body, &token)
                            .await
                    }
                })
                .await;
            let plants = match data {
                Ok(data) => data.unwrap_or_default(),
                Err(error) => {
                    if reply.failed(error, answered, &what)? == AfterFailure::Stop {
                        break;
                    }
                    continue;
                }
            };
            answered += 1;
            reply.answered(chunk, from, to);
            for (ps_id, points) in plants {
                let rows = match serde_json::from_str::<wire::PlantPoints>(points.get()) {
                    Ok(points) => points.p83022.unwrap_or_default(),
                    Err(_) => {
                        reply
                            .warnings
                            .push(format!("plant {}: unreadable history", excerpt(&ps_id)));
                        continue;
                    }
                };
                for row in rows {
                    match decode_row(row.get(), |row, _| convert::history_day(&ps_id, row)) {
                        Ok(day) => reply.keep(request, day),
                        Err(reason) => {
                            reply.warnings.push(format!("plant {}: {reason}", excerpt(&ps_id)))
                        }
                    }
                }
            }
        }
        Ok(reply)
    }

    async fn list_alerts(
        &self,
        session: &Session,
        window: AlertWindow,
        _plant_ids: &[String],
    ) -> Result<AlertListing, VendorError> {
        if session.knows(&AccountFact::SungrowNoFaultListAccess) {
            return Err(no_fault_list());
        }
        let fetch = |page: u32| async move {
            // ps_id "" asks for every plant of the account; 999 = open and closed.
            let body =
                json!({"ps_id": "", "process_status": "999", "page": page, "size": PAGE_SIZE});
            let parsed = self.page(session, "/openapi/platform/getFaultAlarmInfo", body).await?;
            Ok(RawPage::new(parsed.page_list.unwrap_or_default(), parsed.row_count))
        };
        let mut rows = AlertRows::default();
        let take = |page: Vec<_>| rows.take(page, convert::alert);
        let end = match read_pages("faults", PAGE_SIZE, fetch, take).await {
            Ok(end) => end,
            // Configuration at the portal, not a failure of this run: remembered for a day,
            // so the refused call is not repeated every sync.
            Err(failure) if matches!(failure.error, VendorError::NoPermission(_)) => {
                session.remember(AccountFact::SungrowNoFaultListAccess);
                return Err(no_fault_list());
            }
            Err(failure) => return Err(failure.error),
        };
        let open_keys: Vec<String> = rows
            .alerts
            .iter()
            .filter(|alert| alert.status == AlertStatus::Active)
            .map(|alert| alert.vendor_alert_key.clone())
            .collect();
        // Open faults are always kept; closed ones when they started or ended in the window
        // (the list takes no time filter).
        let recent = |t: Option<Timestamp>| t.is_some_and(|t| t >= window.start);
        rows.alerts.retain(|alert| {
            alert.status == AlertStatus::Active
                || recent(alert.started_at)
                || recent(alert.ended_at)
        });
        let mut listing =
            AlertListing { alerts: rows.alerts, skipped: rows.skipped, ..AlertListing::default() };
        // Only a list read to its end can say which alerts are no longer open (and only
        // with every row of it understood: the sync's rule, `sync::alerts`).
        match end {
            End::Complete => listing.open_keys = Some(open_keys),
            End::Incomplete(reason) => listing.warnings.push(format!(
                "fault list incomplete ({reason}); alerts missing from it are not resolved this run"
            )),
        }
        Ok(listing)
    }
}
