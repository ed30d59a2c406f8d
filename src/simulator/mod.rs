//! Wire-compatible fake vendor servers for the demo and the tests.
//!
//! The simulator owns everything a vendor portal would own: the accounts and their
//! credentials, the tokens it issued, the plants, devices and alerts it serves, and the fault
//! switches that make it misbehave the way the real portals do (see `vendor-apis.md` §6 and
//! §7). It speaks real HTTP on loopback, so the adapters are tested through the same
//! `reqwest` client, timeouts and JSON decoding they use in production.
//!
//! # Design
//!
//! * One axum server serves every account of every vendor; each vendor lives under its own
//!   path prefix (`/solarman`, `/sungrow`, `/solaredge`, `/huawei`, `/growatt`), which the
//!   adapters take as their base URL. Adding a vendor kind means one more file with a
//!   `router()`, one line in [`Simulator::start_on`]'s router merge and one in `IMPLEMENTED`.
//! * Accounts are identified the way the vendor does it (app id, user name, token, API key),
//!   never by a test-only header, so a client that sends the wrong credentials fails as it
//!   would in production.
//! * Besides the switchable faults, the portals enforce the limits the real ones document,
//!   because those are what a client must be built around: SolarEdge's daily budget per key
//!   and three concurrent requests per source address (HTTP 429), FusionSolar's single
//!   session per account (a new login ends the previous token) and, when switched on, its
//!   minimum intervals (`failCode 407`), and a limit of concurrent requests per account
//!   ([`AccountConcurrency`], ten by default on Solarman, Sungrow and Growatt, answered
//!   with each portal's own rate-limit signal). [`Simulator::rate_limited`],
//!   [`Simulator::peak_in_flight`] and [`Simulator::account_peak_in_flight`] let tests check
//!   that a client stays inside them.
//! * Generated data (`data.rs`) is a pure function of the seed, the account index and the
//!   server's start time, using a tiny splitmix64 generator (no `rand` dependency). The
//!   daily history of past days (`history.rs`) is one of the seed, the plant and the day,
//!   which tests read ([`Simulator::history_kwh`]) and revise ([`Simulator::set_history`]);
//!   each portal serves it in its own wire format ([`Endpoint::History`]), with the same
//!   fault switches as every other call. The simulator's clock ([`Simulator::set_now`])
//!   decides each plant's "today" there, SolarEdge's daily count and the readings' times.
//! * Faults (`faults.rs`) are evaluated per request in a fixed order: the plant-list latch
//!   ([`Simulator::hold`]), latency, HTTP error, rate limit, auth and token checks, normal
//!   handling, plant-list body transformations, truncation, slow body. Triggers count from
//!   the moment the faults were installed. The vendor limits above come right after the
//!   auth check (SolarEdge budget, concurrency; FusionSolar intervals, which its login
//!   checks before the credentials), and Growatt's retired domain right before it; the
//!   account's concurrency limit comes right before the token is checked, so a request it
//!   refuses does not use up `token_expires_after` (Growatt and SolarEdge use no token). A
//!   request is in flight for the concurrency figures from its attribution to its answer,
//!   so one waiting at the latch counts.
//! * A slow body must reach the client *after* the status line and headers. Without a
//!   `Stream` trait in our dependencies, the connection wrapper in `transport.rs` holds the
//!   body bytes back on the socket instead; the client sees the same thing on the wire.

mod data;
mod faults;
mod fusionsolar;
mod growatt;
mod history;
pub mod mutate;
mod solaredge;
mod solarman;
mod state;
mod sungrow;
#[cfg(test)]
mod tests;
mod transport;

use crate::domain::VendorKind;
use chrono::NaiveDate;
use state::SimState;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which endpoint family a request belongs to (for counters and fault triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// Login / token call.
    Login,
    /// Plant (station) list page.
    PlantList,
    /// Per-plant realtime data (Solarman `station/v1.0/realTime`).
    Realtime,
    /// Device list (Solarman `station/v1.0/device`).
    Devices,
    /// Alert / fault list.
    Alerts,
    /// Daily energy history (Solarman `station/v1.0/history`, Sungrow
    /// `getPowerStationPointDayMonthYearDataList`, SolarEdge `energy`, FusionSolar
    /// `getKpiStationDay`, Growatt `plant/energy`).
    History,
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Login,
        Endpoint::PlantList,
        Endpoint::Realtime,
        Endpoint::Devices,
        Endpoint::Alerts,
        Endpoint::History,
    ];

    /// The endpoint's name in [`SimStats`]'s text: `login`, `plant-list`, `realtime`,
    /// `devices`, `alerts`, `history`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::PlantList => "plant-list",
            Endpoint::Realtime => "realtime",
            Endpoint::Devices => "devices",
            Endpoint::Alerts => "alerts",
            Endpoint::History => "history",
        }
    }

    /// Position in [`Endpoint::ALL`], used to index per-endpoint counters.
    const fn slot(self) -> usize {
        match self {
            Endpoint::Login => 0,
            Endpoint::PlantList => 1,
            Endpoint::Realtime => 2,
            Endpoint::Devices => 3,
            Endpoint::Alerts => 4,
            Endpoint::History => 5,
        }
    }
}

/// When a fault fires: on the `nth` (1-based) request to `endpoint` (any endpoint when
/// `None`) of one account, and on the `times - 1` requests after it. `times = u32::MAX`
/// means "from then on".
///
/// Requests are counted from the moment the faults were installed, at start or by
/// [`Simulator::set_faults`], so a test can arm a fault in the middle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Endpoint the trigger counts, or every endpoint.
    pub endpoint: Option<Endpoint>,
    /// First request (1-based, counted per account and endpoint) that fails.
    pub nth: u32,
    /// How many consecutive requests fail.
    pub times: u32,
}

impl Trigger {
    /// Fires on every request to `endpoint` (every endpoint when `None`).
    pub const fn always(endpoint: Option<Endpoint>) -> Self {
        Self { endpoint, nth: 1, times: u32::MAX }
    }

    /// Fires on the `nth` (1-based) request to `endpoint` only.
    pub const fn once(endpoint: Option<Endpoint>, nth: u32) -> Self {
        Self { endpoint, nth, times: 1 }
    }

    /// Fires on the `nth` (1-based) request to `endpoint` and on every one after it.
    pub const fn from(endpoint: Option<Endpoint>, nth: u32) -> Self {
        Self { endpoint, nth, times: u32::MAX }
    }
}

/// Fault switches of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added before every response of this account.
    pub latency: Duration,
    /// Respond with this HTTP status (500, 502, 503) and an HTML body.
    pub http_error: Option<(u16, Trigger)>,
    /// Respond with the vendor's rate-limit signal.
    pub rate_limit: Option<Trigger>,
    /// An issued token stops working after this many authenticated requests.
    pub token_expires_after: Option<u32>,
    /// Every login is rejected (wrong password).
    pub reject_login: bool,
    /// Every login answers without saying whether the credentials are wrong (a malformed
    /// reply, not a refusal): Sungrow's `result_code "1"` with `result_data` null,
    /// FusionSolar's `success:false` with failCode 0, Solarman's bare `success:false`.
    pub malformed_login: bool,
    /// Cut the JSON body in half.
    pub truncated_json: Option<Trigger>,
    /// This plant (0-based index in the account) has a wrongly typed required field.
    pub wrong_type_plant: Option<usize>,
    /// This plant lacks its id field.
    pub missing_field_plant: Option<usize>,
    /// This plant reports a capacity no plant can have (1e308, in the portal's own shape).
    pub implausible_plant: Option<usize>,
    /// Sungrow: this alert (as `wrong_type_alert` counts) ends in the year 9999.
    pub implausible_alert_end: Option<usize>,
    /// This plant's name is a megabyte long, with a NUL and an escape sequence in it.
    pub huge_text_plant: Option<usize>,
    /// This plant's capacity is a megabyte of text (with a NUL): an unreadable row.
    pub huge_value_plant: Option<usize>,
    /// Sungrow: this alert (0-based, in the account's generated order: by plant, then
    /// occurrence) is sent in the fault list with a wrongly typed `create_time`, so its row
    /// does not decode. Other portals ignore it.
    pub wrong_type_alert: Option<usize>,
    /// Sungrow: fault rows carry no `ps_key`, and each fault is listed once per device of
    /// its plant (a plant-wide event every inverter reports), so two rows of one fault
    /// differ only in `device_sn`; `rowCount` counts every row.
    pub sungrow_no_ps_key: bool,
    /// Plant-list pages from this page number on (1-based) are empty although the total
    /// says there are more.
    pub empty_pages_from: Option<u32>,
    /// Each plant-list page after the first repeats the last plant of the previous page.
    pub duplicate_ids_across_pages: bool,
    /// From page 2 on, the plant list is served as if a plant had been added at its top
    /// after page 1 was sent: every later page starts one row back (page 2 repeats page 1's
    /// last plant), the total (and FusionSolar's page count) is one more, and the added
    /// plant itself is never shown, having landed on the page already read.
    pub row_inserted_while_paging: bool,
    /// Growatt: `/v1/plant/details` and `/v1/plant/data` answer without a `timezone` (as
    /// for plants whose settings have none).
    pub growatt_details_without_zone: bool,
    /// Send headers, then hold the body this long.
    pub slow_body: Option<(Duration, Trigger)>,
    /// SolarEdge: requests accepted per API key and portal day (the local day of the
    /// account's westernmost site zone) before HTTP 429 (empty body);
    /// `None` is the real budget of 300. Every request with a valid key counts, refused
    /// ones included, and the day's count is kept when the faults are replaced.
    pub solaredge_daily_limit: Option<u32>,
    /// SolarEdge: the account has no v2 access, so `GET /v2/alerts` answers HTTP 403.
    pub solaredge_no_v2_alerts: bool,
    /// SolarEdge: `/sites/list` answers in the shape of the PDF's example,
    /// `{"Sites":{"count":N,"list":[...]}}`, instead of the real `{"sites":{"count":N,
    /// "site":[...]}}`.
    pub solaredge_documented_list_key: bool,
    /// FusionSolar: enforce the minimum intervals (login 15 s, `stations` 300 s,
    /// `getStationRealKpi` 65 s, `getAlarmList` and `getKpiStationDay` 60 s), each
    /// multiplied by this scale. A
    /// request identical to an earlier one of the account (same call, equal JSON body) that
    /// comes within the scaled interval of it gets `failCode 407`; refused requests count
    /// as the previous one too. `None` leaves the intervals unenforced.
    pub fusion_min_interval_scale: Option<f64>,
    /// Growatt: every request of the account answers `error_code -1` "Please use the new
    /// domain", as the retired `server*.growatt.com` hosts do.
    pub growatt_retired_domain: bool,
    /// Every list request is answered with the first page, whatever its page number or
    /// offset (a portal, or a proxy, that ignores the paging parameter): the plant lists,
    /// and the paged lists under them (Solarman's device and alert lists, Sungrow's fault
    /// list).
    pub ignore_paging: bool,
    /// FusionSolar: the API account lacks the `stations` interface (`failCode 401`) and
    /// has only the legacy `getStationList` (capacity in MW).
    pub fusion_legacy_only: bool,
    /// Growatt: the token may not call `/v1/plant/details` (`error_code 101`, no
    /// permission); the list and `plant/data` still answer.
    pub growatt_no_details_access: bool,
    /// Calls this account may not make (after the login), answered with the portal's own
    /// "no permission" code: Sungrow `E994` (its fault list is [`Endpoint::Alerts`]),
    /// FusionSolar `failCode 401` (`getAlarmList` is [`Endpoint::Alerts`],
    /// `getStationRealKpi` [`Endpoint::Realtime`]), Growatt `error_code 101` (`plant/data`
    /// is [`Endpoint::Realtime`]); on each of the three, [`Endpoint::History`] is its
    /// daily-history call. Solarman and SolarEdge ignore it (SolarEdge's refused v2 alert
    /// list is `solaredge_no_v2_alerts`).
    pub no_permission: Vec<Endpoint>,
    /// How many requests of this account the portal handles at once; a request arriving
    /// while that many are in flight gets the portal's own rate-limit signal (Solarman HTTP
    /// 429, Sungrow `E999`, Growatt `10012`, SolarEdge HTTP 429, FusionSolar `failCode
    /// 407`) and counts in [`Simulator::rate_limited`]. By default Solarman, Sungrow and
    /// Growatt accounts take [`DEFAULT_ACCOUNT_CONCURRENCY`]; see [`AccountConcurrency`].
    pub account_concurrency: AccountConcurrency,
    /// Every plant's readings move on this often, as a real portal's do every few minutes:
    /// at the account's first request at least this long after the last move, every plant
    /// whose last update time is behind now gets now as its update time, its energy grows
    /// and its power changes. `Duration::ZERO` moves them at every request, so (times being
    /// whole seconds) at most once a second: readings never run ahead of the clock. `None`
    /// (the default) never, except through [`Simulator::touch_plant`].
    pub readings_move_every: Option<Duration>,
    /// Every JSON reply of this account that its handler finishes (the answers to the
    /// login, the lists and the per-plant calls; not the signals sent before them: an HTML
    /// error, a rate limit) is spoiled by [`mutate::mutate`], seeded by this seed mixed
    /// with the account's request count ([`mutate::reply_seed`]): each reply differently,
    /// the same way on every run whose requests arrive in the same order.
    pub mutate: Option<u64>,
}

/// Requests of one account a portal handles at once by default ([`Faults::
/// account_concurrency`]) on Solarman, Sungrow and Growatt. None of them publishes a
/// number; ten is above what a client keeping to its own limits sends (plantsync's
/// defaults are 8 and 4) and below what a client firing every per-plant call at once does,
/// so "no rate-limit answer at the simulator's defaults" means the client kept a limit.
pub const DEFAULT_ACCOUNT_CONCURRENCY: u32 = 10;

/// How many requests of one account the simulated portal handles at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountConcurrency {
    /// The portal's own rule: [`DEFAULT_ACCOUNT_CONCURRENCY`] for Solarman, Sungrow and
    /// Growatt; none per account for SolarEdge (it limits per source address, three, which
    /// the simulator always enforces) and FusionSolar (its minimum intervals are its limit).
    #[default]
    PortalDefault,
    /// At most this many.
    Limit(u32),
    /// As many as arrive.
    Unlimited,
}

impl AccountConcurrency {
    /// The limit for an account of `kind`, if any.
    pub const fn limit(self, kind: VendorKind) -> Option<u32> {
        match self {
            AccountConcurrency::Limit(limit) => Some(limit),
            AccountConcurrency::Unlimited => None,
            AccountConcurrency::PortalDefault => match kind {
                VendorKind::Solarman | VendorKind::Sungrow | VendorKind::Growatt => {
                    Some(DEFAULT_ACCOUNT_CONCURRENCY)
                }
                VendorKind::SolarEdge | VendorKind::Huawei => None,
            },
        }
    }
}

impl Faults {
    /// No faults: the portal behaves.
    pub fn none() -> Self {
        Self::default()
    }
}

/// One simulated portal account.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// Portal.
    pub kind: VendorKind,
    /// Plants in the account.
    pub plants: usize,
    /// Alerts per plant.
    pub alerts_per_plant: usize,
    /// Fault switches.
    pub faults: Faults,
}

impl AccountSpec {
    /// A well-behaved account of `kind` with `plants` plants and `alerts_per_plant` alerts
    /// on each.
    pub fn new(kind: VendorKind, plants: usize, alerts_per_plant: usize) -> Self {
        Self { kind, plants, alerts_per_plant, faults: Faults::none() }
    }
}

/// Everything the simulator serves: the seed of the generated data and the accounts.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Seed of all generated data.
    pub seed: u64,
    /// The accounts.
    pub accounts: Vec<AccountSpec>,
}

/// The demo portal: one well-behaved account of each implemented kind, 25 plants each with
/// 2 alerts per plant.
pub fn demo_config(seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        accounts: IMPLEMENTED
            .iter()
            .map(|&kind| AccountSpec::new(kind, DEMO_PLANTS, DEMO_ALERTS_PER_PLANT))
            .collect(),
    }
}

/// Plants per account of [`demo_config`].
const DEMO_PLANTS: usize = 25;
/// Alerts per plant of [`demo_config`].
const DEMO_ALERTS_PER_PLANT: usize = 2;

/// The kinds the simulator serves; one entry per vendor file. [`demo_config`] creates its
/// accounts in this order, so a kind's demo account index is its position here.
const IMPLEMENTED: &[VendorKind] = &[
    VendorKind::Solarman,
    VendorKind::Sungrow,
    VendorKind::SolarEdge,
    VendorKind::Huawei,
    VendorKind::Growatt,
];

/// The login credentials of one simulated account, as a user would type them into the
/// vendor configuration. Every field is filled for every kind; each kind uses only some.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    /// Portal of the account.
    pub kind: VendorKind,
    /// Solarman `username` / Sungrow `user_account` / FusionSolar `userName`.
    pub username: String,
    /// The plain password (Solarman clients send its lowercase hex SHA-256) / FusionSolar
    /// `systemCode`.
    pub password: String,
    /// Solarman `appId` / Sungrow `appkey`.
    pub app_id: String,
    /// Solarman `appSecret` / Sungrow secret key (the `x-access-key` header).
    pub app_secret: String,
    /// SolarEdge API key (`api_key` query parameter, v2 `X-API-Key` header) / Growatt API
    /// token (`token` header). Unique per account.
    pub api_key: String,
}

/// Counters of a simulator over all its accounts ([`Simulator::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStats {
    /// Requests attributed to an account.
    pub requests: u64,
    /// The same requests per endpoint, in [`Endpoint::ALL`] order (so a benchmark can check
    /// that readings were read: [`Endpoint::Realtime`]).
    pub requests_by_endpoint: Vec<(Endpoint, u64)>,
    /// Rate-limit answers sent, whatever the cause ([`Simulator::rate_limited`], summed).
    pub rate_limited: u64,
    /// The most requests of each kind handled at once (kinds that had requests).
    pub peak_in_flight: Vec<(VendorKind, u32)>,
    /// The most requests of any one account handled at once.
    pub account_peak_in_flight: u32,
}

impl fmt::Display for SimStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests (", self.requests)?;
        for (n, (endpoint, count)) in self.requests_by_endpoint.iter().enumerate() {
            let separator = if n == 0 { "" } else { ", " };
            write!(f, "{separator}{} {count}", endpoint.as_str())?;
        }
        write!(
            f,
            "), {} rate-limited answers, peak in flight per account {}",
            self.rate_limited, self.account_peak_in_flight
        )?;
        for (kind, peak) in &self.peak_in_flight {
            write!(f, ", {kind} {peak}")?;
        }
        Ok(())
    }
}

/// A running simulator: one loopback HTTP server serving every configured account.
///
/// Dropping it stops accepting connections; [`Simulator::shutdown`] also waits for the
/// server task to finish.
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("accounts", &self.state.accounts.len())
            .finish_non_exhaustive()
    }
}

/// How long [`Simulator::shutdown`] waits for open connections before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl Simulator {
    /// Binds `127.0.0.1:0` (a free port) and serves all accounts in the background.
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] when an account's kind is not
    /// simulated yet.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Simulator> {
        Self::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Binds `addr` and serves all accounts in the background.
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] when an account's kind is not
    /// simulated yet, or with the bind error.
    pub async fn start_on(config: SimulatorConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        if let Some(spec) = config.accounts.iter().find(|a| !IMPLEMENTED.contains(&a.kind)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the simulator does not implement vendor kind '{}' yet", spec.kind),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(&config, chrono::Utc::now().timestamp()));

        let app = axum::Router::new()
            .nest("/solarman", solarman::router())
            .nest("/sungrow", sungrow::router())
            .nest("/solaredge", solaredge::router())
            .nest("/huawei", fusionsolar::router())
            .nest("/growatt", growatt::router())
            .layer(axum::middleware::from_fn(transport::apply_body_hold))
            .with_state(Arc::clone(&state))
            .into_make_service_with_connect_info::<transport::BodyHold>();

        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(transport::SimListener::new(listener), app)
            .with_graceful_shutdown(async move {
                // A dropped sender stops the server as well as an explicit signal.
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "vendor simulator stopped with an error");
            }
        });
        tracing::debug!(%addr, accounts = config.accounts.len(), "vendor simulator started");
        Ok(Simulator { state, addr, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:PORT/{kind}` (`.../solarman`, `.../sungrow`, `.../solaredge`,
    /// `.../huawei`, `.../growatt`): the vendor base URL; every vendor path is appended to
    /// it (e.g. `{base}/station/v1.0/list`).
    pub fn base_url(&self, kind: VendorKind) -> String {
        format!("http://{}/{}", self.addr, kind.as_str())
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Credentials of account `index` (index into `config.accounts`).
    ///
    /// # Panics
    ///
    /// When `index` is not an account of the configuration (as every per-account method).
    pub fn credentials(&self, index: usize) -> SimCredentials {
        self.state.account(index).creds.clone()
    }

    /// Requests received so far for account `index` on `endpoint`: every HTTP request that
    /// reached a handler and was attributed to the account, including failed and faulted
    /// ones.
    pub fn requests(&self, index: usize, endpoint: Endpoint) -> u64 {
        self.state.account(index).requests(endpoint)
    }

    /// Total logins that succeeded (tokens issued) for account `index`.
    pub fn tokens_issued(&self, index: usize) -> u64 {
        self.state.account(index).tokens_issued()
    }

    /// Rate-limit answers account `index` received, whatever the cause: the `rate_limit`
    /// fault, SolarEdge's daily budget and concurrency limit, FusionSolar's minimum
    /// intervals. Requests that cannot be attributed (unknown key or token) are not counted.
    pub fn rate_limited(&self, index: usize) -> u64 {
        self.state.account(index).rate_limited()
    }

    /// The most requests of `kind` (all its accounts, attributed or not) the server was
    /// handling at the same time since it started, from arrival until the handler answered
    /// (a `slow_body` hold is not included). SolarEdge refuses the fourth concurrent request
    /// but still counts it here, so a client that keeps to the limit sees at most 3.
    pub fn peak_in_flight(&self, kind: VendorKind) -> u32 {
        self.state.peak_in_flight(kind)
    }

    /// From now on, plant-list requests of account `index` (every portal's plant or site
    /// list, FusionSolar's legacy list included) wait after being counted and before being
    /// answered, until [`Simulator::release`]. A test uses it to keep a sync of that vendor
    /// in flight deterministically (with [`Simulator::wait_until_held`] to know it is).
    pub fn hold(&self, index: usize) {
        self.state.account(index).latch().set_held(true);
    }

    /// Lets the plant-list requests of account `index` through again: those waiting are
    /// answered at once, later ones do not wait. Releasing an account not held does nothing.
    pub fn release(&self, index: usize) {
        self.state.account(index).latch().set_held(false);
    }

    /// Resolves once at least one plant-list request of account `index` is waiting at the
    /// latch of [`Simulator::hold`] (at once if one already is), so a test knows a run is
    /// in flight on that vendor. Never resolves while nothing arrives: bound it with a
    /// timeout in tests.
    pub async fn wait_until_held(&self, index: usize) {
        self.state.account(index).latch().wait_until_waiting(1).await;
    }

    /// The most requests of account `index` the server was handling at the same time
    /// (from attribution until the handler answered), since it started or since
    /// [`Simulator::reset_account_peak`]. Requests refused for the account's concurrency
    /// limit are counted here too, so a client that keeps to a limit of N sees at most N.
    pub fn account_peak_in_flight(&self, index: usize) -> u32 {
        self.state.account(index).peak_in_flight()
    }

    /// Starts [`Simulator::account_peak_in_flight`] of account `index` over from the
    /// requests in flight now.
    pub fn reset_account_peak(&self, index: usize) {
        self.state.account(index).reset_peak();
    }

    /// The server's counters over every account: what `plantsync simulate` prints when it
    /// stops.
    pub fn stats(&self) -> SimStats {
        let accounts = &self.state.accounts;
        SimStats {
            requests: accounts
                .iter()
                .map(|a| Endpoint::ALL.iter().map(|&e| a.requests(e)).sum::<u64>())
                .sum(),
            requests_by_endpoint: Endpoint::ALL
                .iter()
                .map(|&e| (e, accounts.iter().map(|a| a.requests(e)).sum()))
                .collect(),
            rate_limited: accounts.iter().map(|a| a.rate_limited()).sum(),
            peak_in_flight: IMPLEMENTED
                .iter()
                .map(|&kind| (kind, self.state.peak_in_flight(kind)))
                .filter(|(_, peak)| *peak > 0)
                .collect(),
            account_peak_in_flight: accounts.iter().map(|a| a.peak_in_flight()).max().unwrap_or(0),
        }
    }

    /// Replaces the faults of account `index` at run time (e.g. a test fixes the password).
    /// Trigger counts restart from zero.
    pub fn set_faults(&self, index: usize, faults: Faults) {
        self.state.account(index).set_faults(faults);
    }

    /// The vendor plant ids (as strings, as the vendor spells them: FusionSolar's are
    /// `NE=...`) the account currently serves, in listing order.
    pub fn plant_ids(&self, index: usize) -> Vec<String> {
        self.plants(index).into_iter().map(|(id, _)| id).collect()
    }

    /// The plants the account currently serves, in listing order: (vendor plant id as
    /// string, name).
    pub fn plants(&self, index: usize) -> Vec<(String, String)> {
        let account = self.state.account(index);
        account.with_data(|data| {
            data.listed()
                .map(|p| (data::vendor_plant_id(account.kind, p.id), p.name.clone()))
                .collect()
        })
    }

    /// When each plant the account serves last reported (unix seconds), by vendor plant id
    /// as string, in listing order: what a test compares stored update times with.
    pub fn last_updates(&self, index: usize) -> Vec<(String, i64)> {
        let account = self.state.account(index);
        account.with_data(|data| {
            data.listed()
                .map(|p| (data::vendor_plant_id(account.kind, p.id), p.last_update))
                .collect()
        })
    }

    /// Removes plant `plant_index` (0-based, as generated) from the account's listing, as
    /// when a plant vanishes at the vendor. Its devices and alerts vanish with it. Unknown
    /// indexes are ignored.
    pub fn remove_plant(&self, index: usize, plant_index: usize) {
        self.state.account(index).with_data(|data| data.remove(plant_index));
    }

    /// Plant `plant_index` (0-based, as generated) of account `index` reports new readings:
    /// its last update time moves on and its energy grows, as a real plant's do every few
    /// minutes.
    pub fn touch_plant(&self, index: usize, plant_index: usize) {
        let now = self.state.clock.now();
        self.state.account(index).with_data(|data| data.touch(plant_index, now));
    }

    /// Marks the account's open alert occurrences as ended and returns how many there were.
    ///
    /// Sungrow reports them with `over_time` set to now, FusionSolar with `recoveryTime`
    /// set to now (and `status` 5); Solarman has no end time, so its ended alerts stop
    /// appearing in `alertList`, and SolarEdge's stop appearing in `/v2/alerts` (which is how
    /// a client infers the end). Growatt accounts have no alerts.
    pub fn resolve_alerts(&self, index: usize) -> usize {
        let now = self.state.clock.now();
        self.state.account(index).with_data(|data| data.resolve_alerts(now))
    }

    /// Freezes the simulator's clock at `unix` seconds (`None`: the real clock again). It
    /// is what the history calls take as now (each plant's local today: today and later
    /// days have no history row, Sungrow leaves today out), what SolarEdge counts its daily
    /// budget by (its portal day), and the time [`Simulator::touch_plant`],
    /// [`Simulator::resolve_alerts`] and `Faults::readings_move_every` stamp. Token
    /// lifetimes stay on the real clock: a client judges a token's expiry by its own clock,
    /// and a frozen past would make every fresh token look expired to it.
    pub fn set_now(&self, unix: Option<i64>) {
        self.state.clock.set(unix);
    }

    /// The energy (kWh) the portal's history keeps for plant `plant_index` (0-based, as
    /// generated) of account `index` on the plant-local `day`, by the simulator's clock:
    /// `None` when the portal has no data for it (before the plant's creation, after its
    /// today, a day taken away with [`Simulator::set_history`] or
    /// [`Simulator::set_no_data`], an unknown plant); for its today, the live reading. Each
    /// portal serves this value in its own unit and shape.
    pub fn history_kwh(&self, index: usize, plant_index: usize, day: NaiveDate) -> Option<f64> {
        let account = self.state.account(index);
        let now = account.now();
        account.with_data(|data| {
            let plant = data.plants.get(plant_index)?;
            data.history.kwh(plant, day, now)
        })
    }

    /// Revises what the history of plant `plant_index` of account `index` says for `day`:
    /// `Some(kWh)` from now on, `None` for "no data" (each portal's own way: no row,
    /// `null`, an empty `dataItemMap`).
    pub fn set_history(&self, index: usize, plant_index: usize, day: NaiveDate, kwh: Option<f64>) {
        self.state.account(index).with_data(|data| data.history.revise(plant_index, day, kwh));
    }

    /// Account `index`'s portal answers "no data" for `day` for every plant (as after an
    /// outage of the portal's data collection).
    pub fn set_no_data(&self, index: usize, day: NaiveDate) {
        self.state.account(index).with_data(|data| data.history.set_no_data(day));
    }

    /// Plant `plant_index` of account `index` reports exactly these readings: today's
    /// energy (kWh), the current power (W) and its last update (unix seconds); its lifetime
    /// energy grows by what today's grew. Unlike [`Simulator::touch_plant`], which moves
    /// them on by a step, this lets a test feed the readings of a simulated day. Today's
    /// history row (partial) follows `today_kwh`.
    pub fn set_readings(
        &self,
        index: usize,
        plant_index: usize,
        today_kwh: f64,
        power_w: f64,
        last_update_unix: i64,
    ) {
        self.state
            .account(index)
            .with_data(|data| data.set_readings(plant_index, today_kwh, power_w, last_update_unix));
    }

    /// Stops serving: no new connections, open ones are closed once idle (or abandoned after
    /// a short grace period).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
        tracing::debug!(addr = %self.addr, "vendor simulator stopped");
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
