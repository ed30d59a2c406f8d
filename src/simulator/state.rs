//! The server's shared state: accounts, their counters and fault switches, issued tokens.
//!
//! Handlers only ever hold a lock for a synchronous step (look up, count, render) and never
//! across an `.await`, so plain `std::sync::Mutex` is enough. A poisoned lock is recovered,
//! not propagated: the data behind it stays consistent because no step can panic halfway
//! through an update that matters to a test.

use super::data::{self, AccountData};
use super::faults::{FaultState, Plan};
use super::history::SimClock;
use super::{Endpoint, Faults, SimCredentials, SimulatorConfig};
use crate::domain::VendorKind;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Locks `mutex`, recovering from poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of `text` (Solarman's password encoding).
pub(crate) fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// One simulated account.
#[derive(Debug)]
pub(crate) struct Account {
    /// Index into the configuration's accounts.
    pub index: usize,
    /// Portal.
    pub kind: VendorKind,
    /// Its credentials.
    pub creds: SimCredentials,
    /// Generated content, mutated by `remove_plant` and `resolve_alerts`.
    data: Mutex<AccountData>,
    /// Fault switches and the trigger counts since they were installed.
    faults: Mutex<FaultState>,
    /// Requests per endpoint since start (never reset).
    requests: [AtomicU64; 6],
    /// Successful logins.
    tokens_issued: AtomicU64,
    /// Rate-limit answers sent, whatever the cause.
    rate_limited: AtomicU64,
    /// Requests counted against the vendor's daily budget (SolarEdge).
    daily: Mutex<DailyCount>,
    /// Recent requests, for the vendor's minimum intervals (FusionSolar).
    recent: Mutex<Vec<RecentCall>>,
    /// The plant-list latch of [`super::Simulator::hold`].
    latch: Arc<Latch>,
    /// Requests of this account in flight now, and the most at once.
    flights: Mutex<FlightCount>,
    /// When the readings last moved (`Faults::readings_move_every`).
    readings_moved: Mutex<Instant>,
    /// The simulator's clock, shared by every account.
    clock: Arc<SimClock>,
}

/// A gate in front of an account's plant-list answers, so a test can keep a sync run in
/// flight on one vendor for as long as it needs (`Simulator::hold` / `release`) and know
/// when a request is waiting at it (`Simulator::wait_until_held`), without sleeping.
///
/// Both halves are `watch` channels: `held` says whether the gate is closed, `waiting`
/// how many requests stand at it; waiters and watchers await a change of value, so nothing
/// polls and no wake-up can be missed.
#[derive(Debug)]
pub(crate) struct Latch {
    /// Whether plant-list requests wait.
    held: watch::Sender<bool>,
    /// Requests waiting at the gate now.
    waiting: watch::Sender<usize>,
}

impl Default for Latch {
    fn default() -> Self {
        Self { held: watch::Sender::new(false), waiting: watch::Sender::new(0) }
    }
}

/// One request standing at the latch; leaving (drop, also when the client hangs up and
/// the handler is dropped) takes it off the count.
struct Waiter<'a>(&'a Latch);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.waiting.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Latch {
    /// Closes (`true`) or opens (`false`) the gate.
    pub(crate) fn set_held(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// Waits while the gate is closed; returns at once when it is open.
    pub(crate) async fn pass(&self) {
        let mut held = self.held.subscribe();
        if !*held.borrow_and_update() {
            return;
        }
        self.waiting.send_modify(|n| *n += 1);
        let _waiter = Waiter(self);
        // The sender lives as long as `self`, so this only ends by the gate opening.
        let _ = held.wait_for(|held| !*held).await;
    }

    /// Resolves once at least `count` requests wait at the gate.
    pub(crate) async fn wait_until_waiting(&self, count: usize) {
        let mut waiting = self.waiting.subscribe();
        let _ = waiting.wait_for(|n| *n >= count).await;
    }
}

/// Requests of one portal day.
#[derive(Debug, Default)]
struct DailyCount {
    /// The day, as days since the common era ([`AccountData::portal_day`]).
    day: i64,
    /// Requests counted on that day.
    count: u32,
}

/// One request remembered for a minimum-interval check.
#[derive(Debug)]
struct RecentCall {
    /// Which call (the route).
    route: &'static str,
    /// Its JSON body; `Value` equality ignores key order, so this is the canonical form.
    body: Value,
    /// When it arrived.
    at: Instant,
    /// How long an identical request is refused after it.
    window: Duration,
}

impl Account {
    /// Requests received on `endpoint`.
    pub(crate) fn requests(&self, endpoint: Endpoint) -> u64 {
        self.requests[endpoint.slot()].load(Ordering::SeqCst)
    }

    /// Successful logins.
    pub(crate) fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::SeqCst)
    }

    /// Replaces the faults; trigger counts restart.
    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = FaultState::new(faults);
    }

    /// Runs `f` on the account's content.
    pub(crate) fn with_data<R>(&self, f: impl FnOnce(&mut AccountData) -> R) -> R {
        f(&mut lock(&self.data))
    }

    /// The account's plant-list latch.
    pub(crate) fn latch(&self) -> &Latch {
        &self.latch
    }

    /// Starts handling a request of this account (from its attribution); the request ends
    /// when the returned guard drops.
    pub(crate) fn enter(&self) -> AccountFlight<'_> {
        let mut flights = lock(&self.flights);
        flights.now = flights.now.saturating_add(1);
        flights.peak = flights.peak.max(flights.now);
        AccountFlight { account: self, concurrent: flights.now }
    }

    /// The most requests of this account handled at once.
    pub(crate) fn peak_in_flight(&self) -> u32 {
        lock(&self.flights).peak
    }

    /// Starts the peak over from the requests in flight now.
    pub(crate) fn reset_peak(&self) {
        let mut flights = lock(&self.flights);
        flights.peak = flights.now;
    }

    /// Whether `flight` arrived with more of the account's requests in flight than its
    /// portal handles at once (`Faults::account_concurrency`); if so it is counted as a
    /// rate-limit answer, which the caller sends in the portal's spelling.
    pub(crate) fn refuses_concurrency(&self, flight: &AccountFlight<'_>, faults: &Faults) -> bool {
        let refused =
            faults.account_concurrency.limit(self.kind).is_some_and(|max| flight.concurrent > max);
        if refused {
            self.note_rate_limited();
        }
        refused
    }

    /// Counts a request attributed to this account and decides which faults it gets. A
    /// rate-limit fault that will be answered is counted here too. Plant-list requests
    /// carry the account's latch, which [`Plan::preflight`] passes first. When the
    /// readings are due to move (`Faults::readings_move_every`), they move first.
    pub(crate) fn begin(&self, endpoint: Endpoint) -> Plan {
        self.requests[endpoint.slot()].fetch_add(1, Ordering::SeqCst);
        let mut plan = lock(&self.faults).plan(endpoint);
        if let Some(every) = plan.faults.readings_move_every {
            self.move_readings_if_due(every);
        }
        if endpoint == Endpoint::PlantList {
            plan.latch = Some(Arc::clone(&self.latch));
        }
        if plan.sends_rate_limit() {
            self.note_rate_limited();
        }
        plan
    }

    /// Moves the readings of every plant behind the clock when at least `every` passed
    /// since they last moved.
    fn move_readings_if_due(&self, every: Duration) {
        let now = Instant::now();
        {
            let mut moved = lock(&self.readings_moved);
            if now.duration_since(*moved) < every {
                return;
            }
            *moved = now;
        }
        let unix = self.clock.now();
        self.with_data(|data| data.advance_readings(unix));
    }

    /// Unix seconds now by the simulator's clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Rate-limit answers sent to this account.
    pub(crate) fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::SeqCst)
    }

    /// Counts one rate-limit answer that a vendor file decided on (budgets, concurrency,
    /// minimum intervals); fault-driven ones are counted by [`Account::begin`].
    pub(crate) fn note_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts one request against the budget of the portal's day of `unix` and returns the
    /// day's count so far, this request included. The count survives `set_faults`: it is
    /// the vendor's bookkeeping, not a fault trigger.
    ///
    /// SolarEdge does not document when its day ends; the simulator reads it as plantsync
    /// does (`store/quotas.rs`): the local day of the account's westernmost site zone (UTC
    /// for an account without sites). A simulator counting some other day would make a
    /// test prove plantsync's guess rather than its plan.
    pub(crate) fn count_daily(&self, unix: i64) -> u32 {
        let day = self.with_data(|data| data.portal_day(unix));
        let mut daily = lock(&self.daily);
        if daily.day != day {
            *daily = DailyCount { day, count: 0 };
        }
        daily.count = daily.count.saturating_add(1);
        daily.count
    }

    /// Records a request to `route` with `body` and says whether an identical one (same
    /// route, equal JSON) arrived less than its window ago. Every request is recorded,
    /// refused or not, so retrying too early pushes the next allowed time further out.
    pub(crate) fn repeated_within(
        &self,
        route: &'static str,
        body: &Value,
        window: Duration,
    ) -> bool {
        let now = Instant::now();
        let mut recent = lock(&self.recent);
        recent.retain(|call| now.duration_since(call.at) < call.window);
        let repeated = recent.iter().any(|call| call.route == route && call.body == *body);
        recent.retain(|call| call.route != route || call.body != *body);
        recent.push(RecentCall { route, body: body.clone(), at: now, window });
        repeated
    }
}

/// One request of an account being handled, for the per-account concurrency figures and
/// limit; leaving it (drop) ends the request.
#[derive(Debug)]
pub(crate) struct AccountFlight<'a> {
    account: &'a Account,
    /// Requests of the account in flight when this one arrived, itself included.
    pub concurrent: u32,
}

impl Drop for AccountFlight<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.account.flights);
        flights.now = flights.now.saturating_sub(1);
    }
}

/// In-flight requests of one vendor kind or one account.
#[derive(Debug, Default, Clone, Copy)]
struct FlightCount {
    /// Requests being handled now.
    now: u32,
    /// The most ever handled at once.
    peak: u32,
}

/// One request being handled, for the per-kind concurrency figures; leaving it (drop)
/// ends the request.
#[derive(Debug)]
pub(crate) struct Flight<'a> {
    state: &'a SimState,
    kind: VendorKind,
    /// Requests of the kind in flight when this one arrived, itself included.
    pub concurrent: u32,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.state.flights).get_mut(&self.kind) {
            count.now = count.now.saturating_sub(1);
        }
    }
}

/// What the server knows about one issued token.
#[derive(Debug)]
struct TokenEntry {
    /// Owner account.
    account: usize,
    /// Authenticated requests made with it.
    uses: u32,
    /// Used up by `token_expires_after`; kept so later requests are still attributed.
    expired: bool,
    /// Unix seconds after which it is no longer accepted.
    expires_at: i64,
    /// Sliding lifetime: each accepted use moves `expires_at` this far ahead (FusionSolar).
    idle_lifetime: Option<i64>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct SimState {
    /// The accounts, by configuration index.
    pub accounts: Vec<Account>,
    /// Server start, unix seconds: the reference of all generated times.
    pub started_at: i64,
    /// Issued tokens.
    tokens: Mutex<HashMap<String, TokenEntry>>,
    /// Source of request ids and token uniqueness.
    serial: AtomicU64,
    /// Seed of the configuration (mixed into ids so two servers differ).
    seed: u64,
    /// In-flight requests per vendor kind.
    flights: Mutex<HashMap<VendorKind, FlightCount>>,
    /// The simulator's clock ([`SimClock`]): what the history calls, SolarEdge's daily
    /// budget and the readings take as now.
    pub clock: Arc<SimClock>,
}

impl SimState {
    /// Generates every account of `config`, `started_at` being now.
    pub(crate) fn new(config: &SimulatorConfig, started_at: i64) -> Self {
        let clock = Arc::new(SimClock::default());
        let accounts = config
            .accounts
            .iter()
            .enumerate()
            .map(|(index, spec)| Account {
                index,
                kind: spec.kind,
                creds: data::credentials(spec.kind, config.seed, index),
                data: Mutex::new(AccountData::generate(
                    config.seed,
                    index,
                    spec.kind,
                    spec.plants,
                    spec.alerts_per_plant,
                    started_at,
                )),
                faults: Mutex::new(FaultState::new(spec.faults.clone())),
                requests: Default::default(),
                tokens_issued: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                daily: Mutex::new(DailyCount::default()),
                recent: Mutex::new(Vec::new()),
                latch: Arc::default(),
                flights: Mutex::new(FlightCount::default()),
                readings_moved: Mutex::new(Instant::now()),
                clock: Arc::clone(&clock),
            })
            .collect();
        Self {
            accounts,
            started_at,
            tokens: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(1),
            seed: config.seed,
            flights: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Starts handling a request of `kind`; the request ends when the returned guard drops.
    /// Every request under a vendor's prefix enters, attributed to an account or not, so
    /// the figures are what the vendor would see from this client's address.
    pub(crate) fn enter(&self, kind: VendorKind) -> Flight<'_> {
        let mut flights = lock(&self.flights);
        let count = flights.entry(kind).or_default();
        count.now = count.now.saturating_add(1);
        count.peak = count.peak.max(count.now);
        Flight { state: self, kind, concurrent: count.now }
    }

    /// The most requests of `kind` ever handled at once.
    pub(crate) fn peak_in_flight(&self, kind: VendorKind) -> u32 {
        lock(&self.flights).get(&kind).map_or(0, |count| count.peak)
    }

    /// Account `index`.
    ///
    /// # Panics
    ///
    /// When there is no such account: a test asked about an account it did not configure.
    pub(crate) fn account(&self, index: usize) -> &Account {
        self.accounts.get(index).unwrap_or_else(|| {
            panic!("simulator has {} accounts, no account {index}", self.accounts.len())
        })
    }

    /// The first account of `kind` matching `pred`.
    pub(crate) fn find(
        &self,
        kind: VendorKind,
        pred: impl Fn(&SimCredentials) -> bool,
    ) -> Option<&Account> {
        self.accounts.iter().find(|a| a.kind == kind && pred(&a.creds))
    }

    /// A fresh value for ids and tokens (never repeats within a server).
    pub(crate) fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::SeqCst)
    }

    /// A request id: `hex_len` hex digits, unique within the server.
    pub(crate) fn request_id(&self, hex_len: usize) -> String {
        let n = self.next_serial();
        let text = format!("{:016x}{:016x}", data::mix(self.seed ^ n), n);
        text[text.len().saturating_sub(hex_len)..].to_owned()
    }

    /// 64 hex digits derived from the account secret and a fresh serial: token material.
    pub(crate) fn token_material(&self, account: &Account) -> String {
        let n = self.next_serial();
        sha256_hex(&format!("{}:{}:{n}", account.creds.app_secret, self.started_at))
    }

    /// Records a token issued to `account` by a successful login.
    pub(crate) fn issue_token(&self, account: &Account, token: String, expires_at: i64) {
        account.tokens_issued.fetch_add(1, Ordering::SeqCst);
        lock(&self.tokens).insert(
            token,
            TokenEntry {
                account: account.index,
                uses: 0,
                expired: false,
                expires_at,
                idle_lifetime: None,
            },
        );
    }

    /// Records the token of a new session of `account` that stays valid for
    /// `idle_lifetime` seconds after its last use. The vendor allows one session per
    /// account, so every earlier token of the account stops working (it stays known, so
    /// requests made with it are still attributed).
    pub(crate) fn issue_session_token(&self, account: &Account, token: String, idle_lifetime: i64) {
        account.tokens_issued.fetch_add(1, Ordering::SeqCst);
        let now = chrono::Utc::now().timestamp();
        let mut tokens = lock(&self.tokens);
        for entry in tokens.values_mut().filter(|entry| entry.account == account.index) {
            entry.expired = true;
        }
        tokens.insert(
            token,
            TokenEntry {
                account: account.index,
                uses: 0,
                expired: false,
                expires_at: now + idle_lifetime,
                idle_lifetime: Some(idle_lifetime),
            },
        );
    }

    /// The account a token was issued to, expired or not.
    pub(crate) fn token_owner(&self, token: &str) -> Option<&Account> {
        let owner = lock(&self.tokens).get(token).map(|entry| entry.account);
        owner.and_then(|index| self.accounts.get(index))
    }

    /// Authenticates one request of `account` with `token`: true if the token is valid, in
    /// which case the request counts as one use. After `limit` uses it expires for good.
    pub(crate) fn use_token(&self, account: &Account, token: &str, limit: Option<u32>) -> bool {
        let now = chrono::Utc::now().timestamp();
        let mut tokens = lock(&self.tokens);
        let Some(entry) = tokens.get_mut(token) else { return false };
        if entry.account != account.index || entry.expired || now >= entry.expires_at {
            return false;
        }
        if limit.is_some_and(|limit| entry.uses >= limit) {
            entry.expired = true;
            return false;
        }
        entry.uses += 1;
        if let Some(idle) = entry.idle_lifetime {
            entry.expires_at = now + idle;
        }
        true
    }
}
