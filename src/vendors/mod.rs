//! Vendor adapters: one trait, one folder per portal, one factory.
//!
//! # Design
//!
//! Each folder holds `client.rs` (requests and envelope classification), `wire.rs` (the
//! vendor's JSON, private to the folder) and `convert.rs` (wire to domain, pure, tested on
//! recorded payloads in `tests/fixtures/<vendor>/`). What every adapter shares lives here:
//!
//! * [`VendorError`] classifies every failure as auth, rate-limited, transient, no
//!   permission or permanent from the response envelope, not the HTTP status alone (vendors
//!   answer HTTP 200 with an error code in the body). Adapters decide on these variants,
//!   never on an error's text.
//! * [`Session`] owns the token of one vendor account: reused while more than five minutes
//!   remain, renewed at most once under a per-account lock when the vendor says it expired,
//!   and persisted through [`TokenStore`] so a token survives restarts. The account's
//!   shared state also paces calls ([`Session::pace`]) and remembers facts learnt about
//!   the account ([`AccountFact`]: no v2 access, legacy-only...) for a while.
//! * [`http::Http`] is the one HTTP client (timeouts, user agent) with the retry policy:
//!   capped exponential backoff with jitter for transient errors and rate limits, honouring
//!   `Retry-After`, never for auth or malformed data, every attempt counted against the
//!   run's request budget.
//!
//! * Portal limits live in the adapters: SolarEdge's daily quota goes through
//!   [`DailyQuota`] (persisted, so it survives restarts) and a process-wide limit of three
//!   concurrent calls; Growatt, whose blocks are per IP, has a process-wide limit of eight
//!   ([`concurrency::GROWATT_MAX_CONCURRENT`]); FusionSolar's minimum intervals go through
//!   [`Session::pace`].
//! * Per-plant calls (readings, details, per-station alerts, bulk overviews) run through
//!   [`Session::fan_out`]: concurrently, up to the portal's [`PortalConcurrency`] for one
//!   account, halved for that account at its first rate limit and recovering slowly.
//!
//! Adding a portal is one folder plus one arm in [`build`].

mod codes;
pub mod concurrency;
pub mod fusionsolar;
pub mod growatt;
pub mod history;
pub mod http;
pub mod lenient;
pub mod paging;
mod session;
pub mod solaredge;
pub mod solarman;
pub mod sungrow;
pub mod zones;

pub use concurrency::PortalConcurrency;
pub use http::{Http, HttpSettings, RetryPolicy};
pub use session::{
    AccountFact, AccountTokens, AdaptiveLimit, CallLog, DailyQuota, FanOut, PaceGrant, Session,
    SessionKey, Stopped, TokenStore, TooSoon, Work, may_have_left,
};

use crate::domain::{Credentials, Timestamp, VendorAlert, VendorKind, VendorPlant};
use std::time::Duration;

/// A portal's words as a vendor error quotes them: at most
/// [`crate::domain::text::ERROR_CHARS`] characters and
/// escaped ([`crate::domain::text::excerpt`]), so no error, log line or stored result carries a megabyte
/// or a raw control character from a reply, however it was built.
fn bounded(words: &str) -> String {
    crate::domain::text::excerpt(words, crate::domain::text::ERROR_CHARS)
}

/// Why a vendor call failed, classified for retries and for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VendorError {
    /// The vendor rejected the credentials (wrong password, locked account, bad app key).
    /// Never retried automatically: the user must change the credentials.
    #[error("credentials rejected: {}", bounded(.0))]
    CredentialsRejected(String),
    /// The token is invalid or expired: log in again once and retry.
    #[error("token expired or invalid: {}", bounded(.0))]
    TokenExpired(String),
    /// Too many requests; wait before the next.
    #[error("rate limited: {}", bounded(message))]
    RateLimited {
        /// What the vendor said.
        message: String,
        /// How long the vendor asked us to wait.
        retry_after: Option<Duration>,
    },
    /// A failure that may pass: HTTP 5xx, timeouts, connection errors, maintenance.
    #[error("temporary failure: {}", bounded(.0))]
    Transient(String),
    /// The connection to the portal could not be made (refused, no route, a failed TLS
    /// handshake): transient like [`VendorError::Transient`], and the request provably
    /// never left, so it holds back no minimum interval (a timeout or a cancelled call
    /// may have reached the portal, and is [`VendorError::Transient`]).
    #[error("temporary failure: {}", bounded(.0))]
    Unreachable(String),
    /// A failure that will not pass by retrying: configuration, bad request, an unknown
    /// error code.
    #[error("{}", bounded(.0))]
    Permanent(String),
    /// The portal says this account may not call this interface (FusionSolar `failCode
    /// 401`, Growatt `error_code 101`, Sungrow `E994`/`E996` or HTTP 404/405 after the
    /// login, SolarEdge's v2 API refused to a v1 key): configuration at the portal, not
    /// transient and not a verdict on the credentials, so adapters fall back to what the
    /// account may call, leave the optional work out, or report an alert list as
    /// [`VendorError::Unsupported`], and remember it ([`AccountFact`]) rather than ask
    /// again.
    #[error("no permission: {}", bounded(.0))]
    NoPermission(String),
    /// The response could not be understood (truncated or wrongly shaped JSON).
    #[error("malformed response: {}", bounded(.0))]
    Malformed(String),
    /// The run's request budget for this vendor is spent.
    #[error("request budget of {0} calls for this run is spent")]
    BudgetExhausted(u32),
    /// The portal's daily request quota for this account is spent (SolarEdge: 300 a day);
    /// no call is made until it resets.
    #[error("daily request quota spent: {}", bounded(.0))]
    QuotaSpent(String),
    /// The portal has no such capability for this account (e.g. no alert list).
    #[error("not supported by this portal: {}", bounded(.0))]
    Unsupported(String),
}

impl VendorError {
    /// Whether waiting and trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_) | Self::Unreachable(_))
    }

    /// Whether the user must act (change credentials or settings) before the next try.
    pub fn needs_user_action(&self) -> bool {
        matches!(self, Self::CredentialsRejected(_))
    }
}

/// What a plant listing returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlantListing {
    /// Plants that decoded, de-duplicated by vendor id.
    pub plants: Vec<VendorPlant>,
    /// Rows that did not decode: (vendor id if readable, reason). Their plants keep their
    /// stored values and are not marked inactive.
    pub skipped: Vec<(Option<String>, String)>,
    /// Whether every page was fetched (short page or total reached). Only a complete listing
    /// may mark vanished plants inactive.
    pub complete: bool,
    /// Why the listing is incomplete, when it is.
    pub incomplete_reason: Option<String>,
    /// The listing is incomplete only because the run's request budget was spent before a
    /// later page was asked for (a key probe's one request): the portal refused nothing,
    /// the rest was never asked. Set by [`paging::PlantPages`], read by the key probe.
    pub stopped_by_budget: bool,
    /// The vendor's total moved while the pages were read, unexplained by repeats: a row
    /// may have moved across a page boundary unread, so even a complete listing may not name every plant, and it
    /// marks none inactive ([`paging::PageRules::total_moved`]).
    pub total_moved: bool,
    /// Enrichment calls (energy, power) that failed for single plants.
    pub warnings: Vec<String>,
    /// Rows that repeated a plant already listed (a row repeated across a page boundary):
    /// stored once, counted for the run's report.
    pub duplicates: usize,
}

/// What plantsync already holds about an account's plants, so an adapter can skip calls
/// whose answer cannot have changed (rate limits are the main outage cause of these
/// portals; vendor data refreshes about every five minutes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownPlants {
    /// Vendor plant id to the vendor's last update time stored for it, for plants whose
    /// energy readings are stored.
    pub updated_with_energy: std::collections::HashMap<String, Timestamp>,
    /// Vendor plant id to the stored time zone, for portals that need a call per plant to
    /// learn it (Growatt).
    pub timezones: std::collections::HashMap<String, String>,
    /// Vendor plant ids whose coordinates are stored, for portals whose list may lack them
    /// (Growatt's details have them).
    pub positioned: std::collections::HashSet<String>,
}

impl KnownPlants {
    /// Whether the stored readings of `plant` are as fresh as the vendor's listing says.
    pub fn is_current(&self, plant: &VendorPlant) -> bool {
        plant.vendor_updated_at.is_some()
            && self.updated_with_energy.get(&plant.vendor_plant_id)
                == plant.vendor_updated_at.as_ref()
    }
}

/// The time window an alert sync asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertWindow {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (inclusive).
    pub end: Timestamp,
}

/// What an alert listing returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertListing {
    /// Alert occurrences.
    pub alerts: Vec<VendorAlert>,
    /// Rows that did not decode.
    pub skipped: Vec<String>,
    /// When the portal lists open alerts completely, their keys: stored active alerts of
    /// this vendor missing from it are resolved. `None` where the portal has no such list.
    pub open_keys: Option<Vec<String>>,
    /// What the user should know about this listing (calls left out to keep a quota).
    pub warnings: Vec<String>,
    /// Some plants' alerts were not asked this run (a throttled portal, the run's budget):
    /// the next run must ask the same window again for them.
    pub partial: bool,
}

/// A portal account's adapter.
#[async_trait::async_trait]
pub trait VendorClient: Send + Sync {
    /// Which portal.
    fn kind(&self) -> VendorKind;

    /// Whether the portal has a login call. Portals with a static API key (SolarEdge,
    /// Growatt) answer `false`: their sessions never log in and never cache a token, and an
    /// auth error from them is a rejection of the key itself.
    fn needs_login(&self) -> bool {
        true
    }

    /// The least time between two logins of one account (FusionSolar: 15 s), honoured by
    /// the session before every login.
    fn login_min_interval(&self) -> Option<Duration> {
        None
    }

    /// Whether the portal lists alerts by start time and reports an alert's end only in a
    /// window that holds its start (FusionSolar): then the engine stretches the run's window
    /// back to the oldest alert still open (within the lookback), and asks about older ones
    /// in a narrow window around each one's start, so an end is seen however long ago the
    /// alert started.
    fn alert_end_needs_start_in_window(&self) -> bool {
        false
    }

    /// Logs in with the credentials. A rejection is [`VendorError::CredentialsRejected`].
    /// Portals without a login ([`VendorClient::needs_login`] is `false`) keep this default,
    /// which the session never calls.
    async fn login(&self) -> Result<crate::domain::Token, VendorError> {
        Err(VendorError::Permanent(format!(
            "{} has no login; its API key is sent on every call",
            self.kind().display_name()
        )))
    }

    /// Every plant of the account, page by page. `known` tells which stored readings are
    /// already current, for portals that need a call per plant to read them.
    async fn list_plants(
        &self,
        session: &Session,
        known: &KnownPlants,
    ) -> Result<PlantListing, VendorError>;

    /// Alert occurrences in `window` for the account's plants (`plant_ids`: vendor ids of the
    /// plants plantsync knows, for portals that list alerts per plant or device).
    async fn list_alerts(
        &self,
        session: &Session,
        window: AlertWindow,
        plant_ids: &[String],
    ) -> Result<AlertListing, VendorError>;

    /// The energy of past plant-local days from the portal's daily-history endpoint, for the
    /// gap backfill ([`history`] says how requests are cut and what a reply means). Calls go
    /// through `session` like every other (budget, daily quota, pacing). A portal without a
    /// usable endpoint keeps this default: [`VendorError::Unsupported`] saying why, which the
    /// engine records on the days as "cannot be filled".
    async fn daily_history(
        &self,
        session: &Session,
        request: &history::HistoryRequest,
    ) -> Result<history::HistoryReply, VendorError> {
        let _ = (session, request);
        Err(VendorError::Unsupported(format!(
            "{} offers plantsync no daily-history endpoint",
            self.kind().display_name()
        )))
    }
}

/// The vendor's base URL (a regional host, the simulator) or the portal's default, without
/// a trailing slash so paths can be appended.
fn base_url_or(base_url: Option<&str>, default: &str) -> String {
    base_url.unwrap_or(default).trim_end_matches('/').to_owned()
}

/// The daily request quota per key of portals that have one (SolarEdge: 300 a day,
/// vendor-apis.md §3.2). Every call counts, retries included.
pub const fn daily_request_limit(kind: VendorKind) -> Option<u32> {
    match kind {
        VendorKind::SolarEdge => Some(300),
        _ => None,
    }
}

/// Builds the adapter of `kind`. `base_url` overrides the portal's default host (regional
/// hosts, the simulator).
pub fn build(
    kind: VendorKind,
    base_url: Option<&str>,
    credentials: Credentials,
    http: Http,
) -> Result<Box<dyn VendorClient>, VendorError> {
    let missing = credentials.missing_for(kind);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|f| f.label(kind)).collect();
        return Err(VendorError::CredentialsRejected(format!(
            "missing {}; set them with `plantsync vendor set`",
            names.join(", ")
        )));
    }
    match kind {
        VendorKind::Solarman => Ok(Box::new(solarman::Solarman::new(base_url, credentials, http))),
        VendorKind::Sungrow => Ok(Box::new(sungrow::Sungrow::new(base_url, credentials, http))),
        VendorKind::SolarEdge => {
            Ok(Box::new(solaredge::SolarEdge::new(base_url, credentials, http)))
        }
        VendorKind::Huawei => {
            Ok(Box::new(fusionsolar::FusionSolar::new(base_url, credentials, http)))
        }
        VendorKind::Growatt => Ok(Box::new(growatt::Growatt::new(base_url, credentials, http))),
    }
}
