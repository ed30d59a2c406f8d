//! The five adapters' daily history against the simulator over loopback: the simulator's
//! values for the days asked, in each portal's unit and shape; requests cut oldest days
//! first; SolarEdge's backfill inside the daily quota the syncs need; Growatt's pacing;
//! rate limits, outages, expired tokens and spoiled replies leave an incomplete reply or an
//! error, never a panic or an invented value.

use crate::sync::credentials_of;
use chrono::{Datelike, Days, NaiveDate, Utc};
use plantsync::domain::{PlantZone, Token, VendorKind};
use plantsync::simulator::{AccountSpec, Endpoint, Faults, Simulator, SimulatorConfig, Trigger};
use plantsync::vendors::history::{HistoryPlant, HistoryReply, HistoryRequest};
use plantsync::vendors::{
    self, AccountTokens, DailyQuota, Http, HttpSettings, KnownPlants, RetryPolicy, Session,
    TokenStore, VendorClient, VendorError,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KINDS: [VendorKind; 5] = [
    VendorKind::Solarman,
    VendorKind::Sungrow,
    VendorKind::SolarEdge,
    VendorKind::Huawei,
    VendorKind::Growatt,
];

/// Tokens kept in memory.
#[derive(Default)]
struct MemoryTokens(Mutex<Option<Token>>);

#[async_trait::async_trait]
impl TokenStore for MemoryTokens {
    async fn load(&self) -> Option<Token> {
        self.0.lock().unwrap().clone()
    }
    async fn save(&self, token: &Token) {
        *self.0.lock().unwrap() = Some(token.clone());
    }
    async fn clear(&self) {
        *self.0.lock().unwrap() = None;
    }
}

/// A daily quota of 300 with `left` requests left and the portal's day ending in
/// `until_reset`; counts what was taken.
struct TestQuota {
    left: AtomicU32,
    until_reset: Duration,
}

#[async_trait::async_trait]
impl DailyQuota for TestQuota {
    async fn take(&self) -> Result<(), VendorError> {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| VendorError::QuotaSpent("all 300 requests used".into()))
    }
    async fn remaining(&self) -> u32 {
        self.left.load(Ordering::SeqCst)
    }
    fn limit(&self) -> u32 {
        300
    }
    async fn until_reset(&self) -> Duration {
        self.until_reset
    }
    async fn spent_by_portal(&self, said: String) -> VendorError {
        self.left.store(0, Ordering::SeqCst);
        VendorError::QuotaSpent(said)
    }
}

fn http(min_interval_scale: f64) -> Http {
    Http::new(HttpSettings {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(50),
        },
        min_interval_scale,
        ..HttpSettings::default()
    })
    .unwrap()
}

/// One simulated account's adapter and the account state its sessions share.
struct Account {
    client: Box<dyn VendorClient>,
    tokens: Arc<AccountTokens>,
    http: Http,
}

impl Account {
    fn new(sim: &Simulator, index: usize, http: Http) -> Self {
        let kind = sim.credentials(index).kind;
        let client = vendors::build(
            kind,
            Some(&sim.base_url(kind)),
            credentials_of(sim, index),
            http.clone(),
        )
        .unwrap();
        let tokens = AccountTokens::new(Arc::new(MemoryTokens::default()), Arc::default());
        Self { client, tokens, http }
    }

    /// A run's session that may make `budget` requests.
    fn session(&self, budget: u32) -> Session {
        Session::new(Arc::clone(&self.tokens), self.http.clone(), budget)
    }

    /// The plants' zones as a sync stores them (Growatt's from the details).
    async fn zones(&self) -> HashMap<String, PlantZone> {
        let listing = self.client.list_plants(&self.session(100), &KnownPlants::default()).await;
        listing
            .unwrap()
            .plants
            .into_iter()
            .map(|p| {
                let zone = p
                    .timezone
                    .and_then(|z| z.parse().ok())
                    .unwrap_or(PlantZone::Named(chrono_tz::UTC));
                (p.vendor_plant_id, zone)
            })
            .collect()
    }
}

async fn start(accounts: Vec<AccountSpec>) -> Simulator {
    Simulator::start(SimulatorConfig { seed: 11, accounts }).await.unwrap()
}

fn request(
    ids: &[String],
    zones: &HashMap<String, PlantZone>,
    from: NaiveDate,
    to: NaiveDate,
) -> HistoryRequest {
    HistoryRequest {
        plants: ids
            .iter()
            .map(|id| HistoryPlant {
                vendor_plant_id: id.clone(),
                zone: zones.get(id).copied().unwrap_or(PlantZone::Named(chrono_tz::UTC)),
            })
            .collect(),
        from,
        to,
        asked_at: plantsync::domain::Timestamp::now(),
    }
}

/// What a reply says of each (plant, day): `None` for a day not answered or answered
/// "no data" (both leave it unfilled), else the kWh.
fn answered(reply: &HistoryReply) -> HashMap<(String, NaiveDate), Option<f64>> {
    let mut out = HashMap::new();
    for day in &reply.days {
        let before = out.insert((day.vendor_plant_id.clone(), day.day), day.energy_kwh);
        assert!(before.is_none(), "{} {} answered twice", day.vendor_plant_id, day.day);
    }
    out
}

/// Equal kWh (to a µWh: portals send Wh or tenths of a kWh), or both no data.
fn assert_same(got: Option<f64>, portal: Option<f64>, kind: &VendorKind) {
    match (got, portal) {
        (Some(g), Some(p)) => assert!((g - p).abs() < 1e-6, "{kind}: {g} kWh, the portal has {p}"),
        (g, p) => assert_eq!(g, p, "{kind}"),
    }
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// A finished day in every zone: two days before today in UTC.
fn two_days_ago() -> NaiveDate {
    Utc::now().date_naive() - Days::new(2)
}

/// Every portal answers the days asked with the simulator's values, in kWh, and "no data"
/// (no row, `null`, an empty `dataItemMap`) where the simulator has none; each cut into
/// its portal's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_returns_the_simulators_values_for_the_days_asked() {
    let sim = start(KINDS.iter().map(|&kind| AccountSpec::new(kind, 3, 0)).collect()).await;
    let to = two_days_ago();
    let from = to - Days::new(39); // 40 days
    for (index, kind) in KINDS.iter().enumerate() {
        // One plant-day revised to "no data", one account-wide day without data.
        sim.set_history(index, 1, to - Days::new(3), None);
        sim.set_no_data(index, to - Days::new(5));
        let account = Account::new(&sim, index, http(0.0));
        let zones = account.zones().await;
        let ids = sim.plant_ids(index);
        let asked = request(&ids, &zones, from, to);
        let reply = account.client.daily_history(&account.session(200), &asked).await.unwrap();
        assert_eq!(reply.incomplete_reason, None, "{kind}");
        assert!(reply.warnings.is_empty(), "{kind}: {:?}", reply.warnings);
        let got = answered(&reply);
        let mut filled = 0;
        for (plant_index, id) in ids.iter().enumerate() {
            for day in days(from, to) {
                let expected = sim.history_kwh(index, plant_index, day);
                let value = got.get(&(id.clone(), day)).copied().flatten();
                match (expected, value) {
                    (Some(e), Some(v)) => {
                        assert!((e - v).abs() < 1e-6, "{kind} {id} {day}: {v} kWh, portal has {e}");
                        filled += 1;
                    }
                    (e, v) => assert_eq!(e, v, "{kind} {id} {day}"),
                }
            }
            assert_eq!(got.get(&(id.clone(), to - Days::new(5))).copied().flatten(), None);
        }
        assert!(filled >= 3 * 20, "{kind}: {filled} days filled");
        assert_eq!(got.get(&(ids[1].clone(), to - Days::new(3))).copied().flatten(), None);
        assert!(got.get(&(ids[0].clone(), to - Days::new(3))).copied().flatten().is_some());
        let calls = sim.requests(index, Endpoint::History);
        let expected_calls = match kind {
            VendorKind::Solarman => 3 * 2, // a call per plant and 30 days
            VendorKind::Growatt => 3 * 6,  // a call per plant and 7 days
            VendorKind::Sungrow | VendorKind::SolarEdge => 1, // 100 days / a year of 50 / 100
            VendorKind::Huawei => plantsync::vendors::history::months(from, to).len() as u64,
        };
        assert_eq!(calls, expected_calls, "{kind}: history calls");
    }
}

/// A run's budget spent after the first call leaves the newest days asked for the next
/// run: the call made covered the oldest window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_budget_fills_the_oldest_days_first() {
    let sim = start(vec![AccountSpec::new(VendorKind::Solarman, 2, 0)]).await;
    let account = Account::new(&sim, 0, http(0.0));
    let to = two_days_ago();
    let from = to - Days::new(89); // three 30-day windows
    let ids = sim.plant_ids(0);
    let asked = request(&ids, &HashMap::new(), from, to);
    // The login and one call fit before the 20 requests Solarman keeps for its listing.
    let reply = account.client.daily_history(&account.session(22), &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1);
    let reason = reply.incomplete_reason.as_deref().unwrap();
    assert!(reason.contains("5 of 6 history call(s) not made"), "{reason}");
    let window_end = from + Days::new(29);
    assert!(!reply.days.is_empty());
    for day in &reply.days {
        assert_eq!(day.vendor_plant_id, ids[0], "the first plant of the oldest window");
        assert!(
            day.day >= from && day.day <= window_end,
            "{} is not in the oldest window",
            day.day
        );
    }
}

/// Growatt's plant/energy: once per 5 minutes per account, so a run makes one call (the
/// oldest window) and the next run, right after, none; the reply says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growatt_is_paced_to_one_energy_call_per_five_minutes() {
    let sim = start(vec![AccountSpec::new(VendorKind::Growatt, 1, 0)]).await;
    let account = Account::new(&sim, 0, http(1.0));
    let to = two_days_ago();
    let from = to - Days::new(13); // two 7-day windows
    let ids = sim.plant_ids(0);
    let asked = request(&ids, &HashMap::new(), from, to);
    let reply = account.client.daily_history(&account.session(50), &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1);
    let reason = reply.incomplete_reason.as_deref().unwrap();
    assert!(reason.contains("once every 5 minutes"), "{reason}");
    assert!(reply.days.iter().all(|d| d.day <= from + Days::new(6)), "oldest window first");
    assert_eq!(reply.days.len(), 7);
    let again = account.client.daily_history(&account.session(50), &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1, "paced across runs of the account");
    assert!(again.days.is_empty() && again.incomplete_reason.is_some());
}

/// SolarEdge's backfill spends only what the day's syncs can spare: with the quota nearly
/// spent it makes no call; with a fresh day's quota one call (the sync's share), oldest
/// year first; late in the day, with the syncs' needs covered, all it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_backfill_stays_within_the_daily_quota() {
    let sim = start(vec![AccountSpec::new(VendorKind::SolarEdge, 3, 0)]).await;
    let account = Account::new(&sim, 0, http(0.0));
    let to = two_days_ago();
    let from = to - Days::new(400); // two 365-day windows
    let ids = sim.plant_ids(0);
    let asked = request(&ids, &HashMap::new(), from, to);
    let run = |left: u32, until_reset: Duration| {
        let quota = Arc::new(TestQuota { left: AtomicU32::new(left), until_reset });
        let session = account
            .session(100)
            .with_daily_quota(quota.clone())
            .with_sync_interval(Duration::from_secs(15 * 60));
        (session, quota)
    };

    // 12 hours to go at a sync every 15 minutes: 48 listings and alert calls need 96.
    let (session, quota) = run(60, Duration::from_secs(12 * 3600));
    let reply = account.client.daily_history(&session, &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 0, "no call into the syncs' reserve");
    assert_eq!(quota.left.load(Ordering::SeqCst), 60);
    assert!(reply.days.is_empty());
    let reason = reply.incomplete_reason.as_deref().unwrap();
    assert!(
        reason.contains("2 of 2 history call(s)") && reason.contains("daily quota"),
        "{reason}"
    );

    // A fresh day: (300 - 96 listings and 97 alert calls - 6 slack) / 97 syncs = 1 call.
    let (session, quota) = run(300, Duration::from_secs(24 * 3600));
    let reply = account.client.daily_history(&session, &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1);
    assert_eq!(quota.left.load(Ordering::SeqCst), 299);
    assert!(reply.incomplete_reason.as_deref().unwrap().contains("1 of 2 history call(s)"));
    let oldest_end = from + Days::new(364);
    assert!(reply.days.iter().all(|d| d.day <= oldest_end), "the oldest year first");
    assert!(reply.days.iter().any(|d| d.energy_kwh.is_some()));

    // Ten minutes before the reset: every sync still to come is covered, the rest is spare.
    let (session, quota) = run(40, Duration::from_secs(10 * 60));
    let reply = account.client.daily_history(&session, &asked).await.unwrap();
    assert_eq!(reply.incomplete_reason, None);
    assert_eq!(sim.requests(0, Endpoint::History), 3);
    assert_eq!(quota.left.load(Ordering::SeqCst), 38);
}

/// A rate limit part way keeps what was read and stops; an outage from the first call
/// stops with nothing read; neither invents a value or panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_or_an_outage_leaves_an_incomplete_reply() {
    let history = Some(Endpoint::History);
    let limited = Faults { rate_limit: Some(Trigger::from(history, 2)), ..Faults::none() };
    let outage = Faults { http_error: Some((503, Trigger::always(history))), ..Faults::none() };
    let accounts: Vec<AccountSpec> = KINDS
        .iter()
        .flat_map(|&kind| {
            [
                AccountSpec { faults: limited.clone(), ..AccountSpec::new(kind, 2, 0) },
                AccountSpec { faults: outage.clone(), ..AccountSpec::new(kind, 2, 0) },
            ]
        })
        .collect();
    let sim = start(accounts).await;
    let to = two_days_ago();
    for (n, kind) in KINDS.iter().enumerate() {
        // Spans of at least two calls, the first of them recent enough to hold data where
        // the portal sends rows only for days with data.
        let span = match kind {
            VendorKind::Solarman | VendorKind::Growatt => 20,
            VendorKind::Sungrow => 150,
            VendorKind::SolarEdge => 400,
            VendorKind::Huawei => 60,
        };
        for (index, fault) in [(2 * n, "rate limit"), (2 * n + 1, "outage")] {
            let account = Account::new(&sim, index, http(0.0));
            let ids = sim.plant_ids(index);
            let asked = request(&ids, &HashMap::new(), to - Days::new(span), to);
            let reply = account.client.daily_history(&account.session(500), &asked).await;
            let reply = reply.unwrap_or_else(|e| panic!("{kind} {fault}: {e}"));
            let reason = reply.incomplete_reason.clone().unwrap_or_default();
            assert!(reason.contains("history calls stopped"), "{kind} {fault}: {reason}");
            let calls = sim.requests(index, Endpoint::History);
            if fault == "outage" {
                assert_eq!(calls, 3, "{kind}: the first call's three attempts, then no more");
                assert!(reply.days.is_empty(), "{kind}: nothing read");
            } else {
                assert_eq!(calls, 2, "{kind}: the rate limit is not retried, nothing after it");
                if matches!(
                    kind,
                    VendorKind::Solarman | VendorKind::Growatt | VendorKind::SolarEdge
                ) {
                    assert!(!reply.days.is_empty(), "{kind}: the first call's days are kept");
                }
            }
            for day in &reply.days {
                let plant = ids.iter().position(|id| *id == day.vendor_plant_id).unwrap();
                assert_eq!(
                    day.energy_kwh,
                    sim.history_kwh(index, plant, day.day),
                    "{kind} {fault}"
                );
            }
        }
    }
}

/// A token that expires during the backfill is renewed once and the days still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once() {
    let faults = Faults { token_expires_after: Some(1), ..Faults::none() };
    let kinds = [VendorKind::Solarman, VendorKind::Sungrow, VendorKind::Huawei];
    let sim = start(
        kinds
            .iter()
            .map(|&kind| AccountSpec { faults: faults.clone(), ..AccountSpec::new(kind, 1, 0) })
            .collect(),
    )
    .await;
    // FusionSolar answers a month per call: the four days stay in one month, so one call
    // meets the expired token and one login renews it (across a month's end two calls each
    // meet an expired token, and two logins are right).
    let mut to = two_days_ago();
    if to.day() < 4 {
        to = to.with_day(1).unwrap() - Days::new(1);
    }
    for (index, kind) in kinds.iter().enumerate() {
        let account = Account::new(&sim, index, http(0.0));
        let zones = account.zones().await; // spends the token's one request
        let asked = request(&sim.plant_ids(index), &zones, to - Days::new(3), to);
        let before = sim.tokens_issued(index);
        let reply = account.client.daily_history(&account.session(50), &asked).await.unwrap();
        assert_eq!(reply.incomplete_reason, None, "{kind}");
        assert_eq!(sim.tokens_issued(index), before + 1, "{kind}: one login more");
        let got = answered(&reply);
        for day in days(to - Days::new(3), to) {
            let key = (sim.plant_ids(index)[0].clone(), day);
            assert_same(got.get(&key).copied().flatten(), sim.history_kwh(index, 0, day), kind);
        }
    }
}

/// Sungrow refusing the plant-level call (`E994`) before any day was read is the whole
/// answer: no permission, which the engine records as "cannot be filled".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_history_call_is_no_permission() {
    let faults = Faults { no_permission: vec![Endpoint::History], ..Faults::none() };
    let kinds = [VendorKind::Sungrow, VendorKind::Huawei, VendorKind::Growatt];
    let sim = start(
        kinds
            .iter()
            .map(|&kind| AccountSpec { faults: faults.clone(), ..AccountSpec::new(kind, 1, 0) })
            .collect(),
    )
    .await;
    let to = two_days_ago();
    for (index, kind) in kinds.iter().enumerate() {
        let account = Account::new(&sim, index, http(0.0));
        let asked = request(&sim.plant_ids(index), &HashMap::new(), to - Days::new(3), to);
        let result = account.client.daily_history(&account.session(50), &asked).await;
        assert!(matches!(result, Err(VendorError::NoPermission(_))), "{kind}: {result:?}");
    }
}

/// Spoiled replies (the simulator's mutations) give a reply or an error, never a panic,
/// with bounded warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_history_replies_never_panic() {
    let to = two_days_ago();
    for seed in 0..8u64 {
        let faults = Faults { mutate: Some(seed), ..Faults::none() };
        let sim = start(
            KINDS
                .iter()
                .map(|&kind| AccountSpec { faults: faults.clone(), ..AccountSpec::new(kind, 2, 0) })
                .collect(),
        )
        .await;
        for (index, kind) in KINDS.iter().enumerate() {
            let account = Account::new(&sim, index, http(0.0));
            let asked = request(&sim.plant_ids(index), &HashMap::new(), to - Days::new(20), to);
            match account.client.daily_history(&account.session(60), &asked).await {
                Ok(reply) => {
                    for warning in &reply.warnings {
                        assert!(
                            warning.chars().count() < 2000,
                            "{kind} seed {seed}: a long warning"
                        );
                        assert!(!warning.contains('\0'), "{kind} seed {seed}");
                    }
                    let reason = reply.incomplete_reason.unwrap_or_default();
                    assert!(reason.chars().count() < 2000, "{kind} seed {seed}");
                }
                Err(error) => {
                    assert!(error.to_string().chars().count() < 2000, "{kind} seed {seed}")
                }
            }
        }
        sim.shutdown().await;
    }
}

/// Where the spare quota is thinner than a call a sync (an account of 150 sites: 96 syncs
/// of two pages and an alert call leave 5 spare a day), the backfill makes one call per
/// share of the day (24 h / 5), across runs: the next run right after makes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solaredge_spreads_a_thin_spare_over_the_day() {
    let sim = start(vec![AccountSpec::new(VendorKind::SolarEdge, 150, 0)]).await;
    let account = Account::new(&sim, 0, http(0.0));
    // The listing tells the adapter what a sync costs.
    account.client.list_plants(&account.session(100), &KnownPlants::default()).await.unwrap();
    let to = two_days_ago();
    let asked = request(&sim.plant_ids(0), &HashMap::new(), to - Days::new(29), to);
    let fresh_day = || {
        let quota = Arc::new(TestQuota {
            left: AtomicU32::new(300),
            until_reset: Duration::from_secs(86_400),
        });
        account.session(100).with_daily_quota(quota).with_sync_interval(Duration::from_secs(900))
    };
    let first = account.client.daily_history(&fresh_day(), &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1, "one of the two 100-site calls");
    assert!(first.incomplete_reason.unwrap().contains("1 of 2 history call(s)"));
    let second = account.client.daily_history(&fresh_day(), &asked).await.unwrap();
    assert_eq!(sim.requests(0, Endpoint::History), 1, "its share of the day is taken");
    assert!(second.incomplete_reason.unwrap().contains("2 of 2 history call(s)"));
}
