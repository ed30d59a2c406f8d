//! Deterministic generated portal content: credentials, plants, devices and alerts.
//!
//! Everything here is a pure function of the seed, the account index, the plant index and
//! the server's start time, drawn from a splitmix64 generator seeded per plant. A plant's
//! values therefore do not change when another plant or account is added, and two servers
//! started with the same seed serve the same portal. The generator is deliberately not
//! `rand`: the numbers only need to look varied, and the sequence must never change with a
//! dependency update.
//!
//! The data is vendor-neutral; each vendor file renders it in its wire format. Only the
//! regions, id ranges and alert history differ per kind, where the portals' real customers
//! differ. A few patterns are fixed by plant index rather than drawn, so every account of a
//! few plants is guaranteed to contain the awkward cases (offline plants, zero power, unit
//! changes, placeholders).

use super::SimCredentials;
use crate::domain::VendorKind;
use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A splitmix64 generator: tiny, fast, and stable forever.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one (seed, account, item) triple; `salt` separates independent
    /// streams of the same item (plant fields, alerts).
    pub(crate) fn new(seed: u64, salt: u64, account: usize, item: usize) -> Self {
        let mut state = mix(seed ^ salt);
        state = mix(state ^ account as u64);
        state = mix(state ^ item as u64);
        Rng(state)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        items.get(self.below(items.len() as u64) as usize).copied().unwrap_or(fallback)
    }
}

/// The splitmix64 finaliser.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Salt of the plant-field stream.
const PLANT_SALT: u64 = 0x0050_4C41_4E54;
/// Salt of the alert stream.
const ALERT_SALT: u64 = 0x0041_4C45_5254;
/// Salt of the credential secrets.
const SECRET_SALT: u64 = 0x5345_4352_4554;
/// Salt of the API keys.
const API_KEY_SALT: u64 = 0x4150_494B_4559;

/// The credentials of account `index`: unique per account, deterministic from the seed.
///
/// `api_key` is 32 characters spelled like the vendor's keys: upper-case for SolarEdge,
/// lower-case hex for Growatt (and the kinds that do not use it).
pub(crate) fn credentials(kind: VendorKind, seed: u64, index: usize) -> SimCredentials {
    let (user, app, secret) = match kind {
        VendorKind::Sungrow => ("sungrow-user", "sg-app", "sg-secret"),
        VendorKind::Solarman => ("solarman-user", "sm-app", "sm-secret"),
        VendorKind::Huawei => ("fusion-api", "fs-app", "fs-secret"),
        VendorKind::SolarEdge => ("solaredge-user", "se-app", "se-secret"),
        VendorKind::Growatt => ("growatt-user", "gw-app", "gw-secret"),
    };
    let secret_bits = mix(mix(seed ^ SECRET_SALT) ^ index as u64);
    let key_bits = mix(mix(seed ^ API_KEY_SALT) ^ index as u64);
    let api_key = format!("{key_bits:016x}{:016x}", mix(key_bits));
    SimCredentials {
        kind,
        username: format!("{user}-{index}"),
        password: format!("sim-pass-{index}-{seed}"),
        app_id: format!("{app}-{index}"),
        app_secret: format!("{secret}-{index}-{secret_bits:016x}"),
        api_key: if kind == VendorKind::SolarEdge { api_key.to_uppercase() } else { api_key },
    }
}

/// A country the generated plants are placed in.
#[derive(Debug)]
pub(crate) struct Region {
    /// IANA time zone of the plants.
    pub timezone: Tz,
    /// Solarman `regionNationId`.
    pub nation_id: u32,
    /// Country name (SolarEdge `location.country`, Growatt `country`).
    pub country: &'static str,
    /// ISO 3166 country code (SolarEdge `location.countryCode`).
    pub country_code: &'static str,
    /// ISO 4217 currency of revenues (SolarEdge `currency`).
    pub currency: &'static str,
    /// Latitude range.
    lat: (f64, f64),
    /// Longitude range.
    lng: (f64, f64),
    /// Town names for addresses.
    towns: &'static [&'static str],
    /// Post code prefix for addresses.
    post_code: &'static str,
}

const INDIA: Region = Region {
    timezone: chrono_tz::Asia::Kolkata,
    nation_id: 105,
    country: "India",
    country_code: "IN",
    currency: "INR",
    lat: (12.0, 28.5),
    lng: (73.0, 86.0),
    towns: &["Pune", "Jaipur", "Nagpur", "Indore", "Mysuru"],
    post_code: "4",
};

const CHINA: Region = Region {
    timezone: chrono_tz::Asia::Shanghai,
    nation_id: 44,
    country: "China",
    country_code: "CN",
    currency: "CNY",
    lat: (23.0, 39.5),
    lng: (104.0, 121.0),
    towns: &["Changsha", "Hefei", "Wuxi", "Jinan", "Nanchang"],
    post_code: "41",
};

const GERMANY: Region = Region {
    timezone: chrono_tz::Europe::Berlin,
    nation_id: 82,
    country: "Germany",
    country_code: "DE",
    currency: "EUR",
    lat: (47.5, 54.5),
    lng: (6.5, 14.5),
    towns: &["Petersberg", "Freiburg", "Kassel", "Erfurt", "Ulm"],
    post_code: "36",
};

const NETHERLANDS: Region = Region {
    timezone: chrono_tz::Europe::Amsterdam,
    nation_id: 31,
    country: "Netherlands",
    country_code: "NL",
    currency: "EUR",
    lat: (51.5, 53.2),
    lng: (4.5, 6.8),
    towns: &["Hoevelaken", "Utrecht", "Zwolle", "Almere", "Amersfoort"],
    post_code: "38",
};

const AUSTRALIA: Region = Region {
    timezone: chrono_tz::Australia::Sydney,
    nation_id: 61,
    country: "Australia",
    country_code: "AU",
    currency: "AUD",
    lat: (-34.5, -32.0),
    lng: (150.0, 151.5),
    towns: &["Parramatta", "Penrith", "Wollongong", "Gosford", "Liverpool"],
    post_code: "2",
};

const UNITED_STATES: Region = Region {
    timezone: chrono_tz::America::New_York,
    nation_id: 1,
    country: "United States",
    country_code: "US",
    currency: "USD",
    lat: (40.5, 43.0),
    lng: (-79.0, -73.5),
    towns: &["Albany", "Buffalo", "Ithaca", "Syracuse", "Yonkers"],
    post_code: "12",
};

const PORTUGAL: Region = Region {
    timezone: chrono_tz::Europe::Lisbon,
    nation_id: 351,
    country: "Portugal",
    country_code: "PT",
    currency: "EUR",
    lat: (37.0, 42.0),
    lng: (-9.5, -7.0),
    towns: &["Lisboa", "Porto", "Braga", "Faro", "Coimbra"],
    post_code: "1",
};

const SPAIN: Region = Region {
    timezone: chrono_tz::Europe::Madrid,
    nation_id: 34,
    country: "Spain",
    country_code: "ES",
    currency: "EUR",
    lat: (36.5, 43.0),
    lng: (-8.0, 2.0),
    towns: &["Madrid", "Sevilla", "Valencia", "Zaragoza", "Murcia"],
    post_code: "28",
};

/// The regions plants cycle through (by plant index), so every account has all time zones:
/// Solarman, Sungrow and Growatt.
static REGIONS: [Region; 3] = [INDIA, CHINA, GERMANY];

/// SolarEdge's regions: its sites carry IANA zones of Europe, Australia and the Americas.
static SOLAREDGE_REGIONS: [Region; 4] = [NETHERLANDS, GERMANY, AUSTRALIA, UNITED_STATES];

/// FusionSolar's regions: Iberia and Asia, so the grid-connection offsets vary (+00:00 or
/// +01:00 with daylight saving, +05:30, +08:00).
static FUSION_REGIONS: [Region; 4] = [PORTUGAL, SPAIN, INDIA, CHINA];

/// The regions the plants of `kind` cycle through.
fn regions(kind: VendorKind) -> &'static [Region] {
    match kind {
        VendorKind::SolarEdge => &SOLAREDGE_REGIONS,
        VendorKind::Huawei => &FUSION_REGIONS,
        VendorKind::Solarman | VendorKind::Sungrow | VendorKind::Growatt => &REGIONS,
    }
}

/// Words of generated plant names and streets.
const NAME_FIRST: &[&str] =
    &["Sunny", "Golden", "Green", "Silver", "Eastern", "Blue", "Bright", "Cedar", "Maple"];
const NAME_SECOND: &[&str] =
    &["Roof", "Farm", "Barn", "Depot", "School", "Warehouse", "Carport", "Field", "Mill"];
const STREETS: &[&str] = &["Main St", "Station Rd", "Mill Lane", "Church St", "Park Ave"];
const STATION_TYPES: &[&str] = &["HOUSE_ROOF", "COMMERCIAL_ROOF", "GROUND"];
const GRID_TYPES: &[&str] = &["DISTRIBUTED_FULLY", "DISTRIBUTED_SELF_USE", "ALL_ON_GRID"];

/// What a plant's connectivity looks like (Solarman `networkStatus`, Sungrow `ps_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetStatus {
    /// Everything reports.
    Normal,
    /// Some devices are offline.
    PartialOffline,
    /// The plant is offline.
    AllOffline,
}

/// One inverter of a plant.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// Vendor device id.
    pub id: u64,
    /// Serial number.
    pub sn: String,
}

/// One generated plant.
#[derive(Debug, Clone)]
pub(crate) struct Plant {
    /// 0-based index in the account, as generated (stable after removals).
    pub index: usize,
    /// Vendor plant id, unique across all accounts.
    pub id: u64,
    /// Display name, unique in the account.
    pub name: String,
    /// Solarman `type`.
    pub station_type: &'static str,
    /// Sungrow `ps_type`.
    pub ps_type: u8,
    /// Capacity in kW (kWp).
    pub capacity_kw: f64,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Street address: `"{street}, {zip} {town}"`.
    pub address: String,
    /// Street and house number.
    pub street: String,
    /// Post code.
    pub zip: String,
    /// Town.
    pub town: &'static str,
    /// Region of the plant.
    pub region: &'static Region,
    /// Solarman `gridInterconnectionType`.
    pub grid_type: &'static str,
    /// Connectivity.
    pub status: NetStatus,
    /// Current power in W (exactly 0.0 for some plants).
    pub power_w: f64,
    /// Energy today in kWh.
    pub today_kwh: f64,
    /// Lifetime energy in kWh.
    pub total_kwh: f64,
    /// Last data time, unix seconds.
    pub last_update: i64,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Inverters (one or two).
    pub devices: Vec<Device>,
    /// Sungrow reports the current power in kW instead of W.
    pub power_in_kw: bool,
    /// Sungrow reports the lifetime energy in kWh instead of MWh.
    pub total_in_kwh: bool,
    /// Sungrow reports today's energy as the placeholder `"--"`.
    pub today_placeholder: bool,
}

/// The entries alerts are drawn from: (name, code), shared by both vendors' renderings.
pub(crate) const ALERT_TYPES: &[(&str, &str)] = &[
    ("Grid voltage high", "1"),
    ("Grid power outage", "10"),
    ("Grid frequency low", "4"),
    ("Low system insulation resistance", "39"),
    ("Ambient temperature too high", "37"),
    ("DC overvoltage", "8"),
    ("Fan failure", "33"),
    ("String reverse connection", "532"),
];

/// One alert occurrence on a plant's first device.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    /// Vendor alert id (Solarman `alertId`), unique in the account.
    pub id: u64,
    /// Index of the plant (as generated).
    pub plant: usize,
    /// Alert type name.
    pub name: &'static str,
    /// Alert type code (identifies the type, not the occurrence).
    pub code: &'static str,
    /// Solarman level: 0 info, 1 warning, 2 error.
    pub level: u8,
    /// Solarman influence: 0 none, 1 production, 2 safety, 3 both.
    pub influence: u8,
    /// Sungrow `fault_level`, 1..=4.
    pub fault_level: u8,
    /// Start, unix seconds (within the 3 days before the server started).
    pub time: i64,
    /// End, unix seconds, once the occurrence is over.
    pub ended: Option<i64>,
}

/// The content of one account.
#[derive(Debug, Clone)]
pub(crate) struct AccountData {
    /// Every plant as generated, by index.
    pub plants: Vec<Plant>,
    /// Plants removed with `Simulator::remove_plant`, by index.
    removed: Vec<bool>,
    /// Every alert, ordered by plant then occurrence.
    pub alerts: Vec<Alert>,
    /// The daily energy of past days (`history.rs`).
    pub history: super::history::HistoryBook,
}

/// Alerts start at least this long before the server started.
const ALERT_MIN_AGE: i64 = 10 * 60;
/// Alerts start at most this long before the server started.
const ALERT_MAX_AGE: i64 = 3 * 86_400 - 10 * 60;
/// FusionSolar alarms are raised within this long before the server started, half of them
/// in each of the two days, so a 24 h window never sees them all.
const FUSION_ALERT_SPAN: i64 = 2 * 86_400;

impl AccountData {
    /// The portal's day at `unix` for a daily request budget (days since the common era):
    /// the local date in the westernmost zone of the account's plants, whose days start and
    /// end last; the UTC date for an account without plants (see `Account::count_daily`).
    pub(crate) fn portal_day(&self, unix: i64) -> i64 {
        let westernmost = self
            .plants
            .iter()
            .map(|plant| in_zone(unix, &plant.region.timezone).fixed_offset())
            .min_by_key(|local| local.offset().local_minus_utc());
        let date = westernmost.map_or_else(|| in_zone(unix, &Utc).date_naive(), |l| l.date_naive());
        i64::from(chrono::Datelike::num_days_from_ce(&date))
    }

    /// Generates account `account` of the configuration, `start` being the server start.
    pub(crate) fn generate(
        seed: u64,
        account: usize,
        kind: VendorKind,
        plants: usize,
        alerts_per_plant: usize,
        start: i64,
    ) -> Self {
        let plants: Vec<Plant> =
            (0..plants).map(|i| generate_plant(seed, account, kind, i, start)).collect();
        // Growatt has no plant-level alert list: its accounts have no alerts to serve.
        let alerts_per_plant = if kind == VendorKind::Growatt { 0 } else { alerts_per_plant };
        let mut alerts = Vec::with_capacity(plants.len() * alerts_per_plant);
        for plant in &plants {
            let mut rng = Rng::new(seed, ALERT_SALT, account, plant.index);
            for j in 0..alerts_per_plant {
                let age = alert_age(kind, &mut rng, plant.index + j);
                let time = start - age;
                let (name, code) = rng.pick(ALERT_TYPES, ("Grid voltage high", "1"));
                // Solarman and SolarEdge report open alerts only; Sungrow and FusionSolar
                // also report ended ones, about half of them.
                let reports_ended = matches!(kind, VendorKind::Sungrow | VendorKind::Huawei);
                let ended = (reports_ended && j % 2 == 1).then(|| {
                    let lasted = 300 + rng.below(6 * 3600) as i64;
                    time + lasted.min(age - 60)
                });
                alerts.push(Alert {
                    id: alert_id(account, alerts.len()),
                    plant: plant.index,
                    name,
                    code,
                    level: ((j as u64 + rng.below(3)) % 3) as u8,
                    influence: rng.below(4) as u8,
                    fault_level: 1 + rng.below(4) as u8,
                    time,
                    ended,
                });
            }
        }
        let history = super::history::HistoryBook::new(seed, account);
        Self { removed: vec![false; plants.len()], plants, alerts, history }
    }

    /// The plants still listed, in index order.
    pub(crate) fn listed(&self) -> impl Iterator<Item = &Plant> {
        self.plants.iter().filter(|p| !self.is_removed(p.index))
    }

    /// Whether plant `index` was removed.
    pub(crate) fn is_removed(&self, index: usize) -> bool {
        self.removed.get(index).copied().unwrap_or(true)
    }

    /// Removes plant `index` from the listing; unknown indexes are ignored.
    pub(crate) fn remove(&mut self, index: usize) {
        if let Some(flag) = self.removed.get_mut(index) {
            *flag = true;
        }
    }

    /// Plant `index` reports new readings: its last update moves to `now` (at least a
    /// minute later than before) and today's and lifetime energy grow by one kWh.
    pub(crate) fn touch(&mut self, index: usize, now: i64) {
        if let Some(plant) = self.plants.get_mut(index) {
            plant.last_update = now.max(plant.last_update + 60);
            plant.today_kwh = round(plant.today_kwh + 1.0, 1);
            plant.total_kwh = round(plant.total_kwh + 1.0, 1);
        }
    }

    /// Plant `index` reports exactly these readings (unknown indexes are ignored): what a
    /// test plays a day with.
    pub(crate) fn set_readings(&mut self, index: usize, today_kwh: f64, power_w: f64, at: i64) {
        if let Some(plant) = self.plants.get_mut(index) {
            plant.total_kwh = round(plant.total_kwh + (today_kwh - plant.today_kwh).max(0.0), 1);
            plant.today_kwh = today_kwh;
            plant.power_w = power_w;
            plant.last_update = at;
        }
    }

    /// Every plant whose readings are older than `now` reports new ones at `now`: its last
    /// update moves to `now`, today's and lifetime energy grow by half a kWh, and a
    /// producing plant's power changes by a few percent (up and down in turn, within its
    /// capacity). Plants producing nothing stay at zero. A plant already at `now` (or,
    /// touched, later) does not move: readings never run ahead of the clock, however often
    /// this is called within one second.
    pub(crate) fn advance_readings(&mut self, now: i64) {
        for plant in self.plants.iter_mut().filter(|plant| plant.last_update < now) {
            plant.last_update = now;
            plant.today_kwh = round(plant.today_kwh + 0.5, 1);
            plant.total_kwh = round(plant.total_kwh + 0.5, 1);
            if plant.power_w > 0.0 {
                let factor = if plant.last_update % 2 == 0 { 1.03 } else { 0.97 };
                plant.power_w =
                    (plant.power_w * factor).round().clamp(1.0, plant.capacity_kw * 1000.0);
            }
        }
    }

    /// A listed plant by vendor id.
    pub(crate) fn plant_by_id(&self, id: u64) -> Option<&Plant> {
        self.listed().find(|p| p.id == id)
    }

    /// The alerts of listed plants.
    pub(crate) fn live_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| !self.is_removed(a.plant))
    }

    /// Open alerts of plant `index`.
    pub(crate) fn open_alerts_of(&self, index: usize) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| a.plant == index && a.ended.is_none())
    }

    /// Ends every open alert of a listed plant at `now`; returns how many were open.
    pub(crate) fn resolve_alerts(&mut self, now: i64) -> usize {
        let removed = &self.removed;
        let mut resolved = 0;
        for alert in &mut self.alerts {
            let listed = !removed.get(alert.plant).copied().unwrap_or(true);
            if listed && alert.ended.is_none() {
                alert.ended = Some(now.max(alert.time));
                resolved += 1;
            }
        }
        resolved
    }
}

/// How long before the server start alert number `n` of a plant (counted with the plant
/// index, so neighbouring plants alternate) was raised. FusionSolar's fall alternately in
/// the last and the second-to-last day; the other vendors' anywhere in the last three.
fn alert_age(kind: VendorKind, rng: &mut Rng, n: usize) -> i64 {
    if kind == VendorKind::Huawei {
        let day = FUSION_ALERT_SPAN / 2;
        let older = if n % 2 == 1 { day } else { 0 };
        older + ALERT_MIN_AGE + rng.below((day - 2 * ALERT_MIN_AGE) as u64) as i64
    } else {
        ALERT_MIN_AGE + rng.below((ALERT_MAX_AGE - ALERT_MIN_AGE) as u64) as i64
    }
}

/// Vendor plant id: `100000 * (account + 1) + index`, plus a per-vendor offset so the ids
/// look like the vendor's (Sungrow's are 7 digits, FusionSolar's 8 behind `NE=`). Unique
/// across accounts either way.
fn plant_id(kind: VendorKind, account: usize, index: usize) -> u64 {
    let base = match kind {
        VendorKind::Sungrow => 5_000_000,
        VendorKind::Huawei => 33_000_000,
        VendorKind::Solarman | VendorKind::SolarEdge | VendorKind::Growatt => 0,
    };
    base + 100_000 * (account as u64 + 1) + index as u64
}

/// The plant id as the vendor spells it: FusionSolar's are `NE=` DN strings, the others'
/// the decimal number.
pub(crate) fn vendor_plant_id(kind: VendorKind, id: u64) -> String {
    if kind == VendorKind::Huawei { format!("NE={id}") } else { id.to_string() }
}

/// Device id, unique across accounts.
fn device_id(account: usize, plant: usize, device: usize) -> u64 {
    200_000_000 + 1_000_000 * account as u64 + 10 * plant as u64 + device as u64
}

/// Alert id, unique across accounts.
fn alert_id(account: usize, n: usize) -> u64 {
    10_000_000 * (account as u64 + 1) + n as u64 + 1
}

/// Rounds to `decimals` places.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn generate_plant(seed: u64, account: usize, kind: VendorKind, i: usize, start: i64) -> Plant {
    let mut rng = Rng::new(seed, PLANT_SALT, account, i);
    let regions = regions(kind);
    let region = &regions[i % regions.len()];
    // Fixed patterns by index, so small accounts already contain the awkward cases.
    let status = match i % 8 {
        1 => NetStatus::AllOffline,
        5 => NetStatus::PartialOffline,
        _ => NetStatus::Normal,
    };
    let zero_power = status == NetStatus::AllOffline || i % 8 == 3;

    let capacity_kw = round(rng.range(3.0, 250.0), 2);
    let load = rng.range(0.05, 0.85);
    let power_w = if zero_power { 0.0 } else { (capacity_kw * 1000.0 * load).round() };
    let age_days = 30 + rng.below(1200) as i64;
    let created = start - age_days * 86_400 - rng.below(86_400) as i64;
    let today_kwh = round(capacity_kw * rng.range(0.5, 5.0), 1);
    let total_kwh = round(capacity_kw * age_days as f64 * rng.range(2.5, 4.0), 1);
    let last_update = if status == NetStatus::AllOffline {
        start - 3600 * (1 + rng.below(48)) as i64
    } else {
        start - 60 - rng.below(600) as i64
    };
    let devices = (0..1 + rng.below(2) as usize)
        .map(|d| Device {
            id: device_id(account, i, d),
            sn: match kind {
                VendorKind::Sungrow => format!("A2{:03}{:05}{d}", account % 1000, i),
                VendorKind::Huawei => format!("102{:03}{:05}{d}", account % 1000, i),
                _ => format!("21{:03}{:05}{d}", account % 1000, i),
            },
        })
        .collect();
    // Drawn in this order (town, street, number, post code) since the first version.
    let town = rng.pick(region.towns, "Springfield");
    let street = format!("{} {}", rng.pick(STREETS, "Main St"), 1 + rng.below(120));
    let zip = format!("{}{:03}", region.post_code, rng.below(1000));
    let address = format!("{street}, {zip} {town}");
    let name =
        format!("{} {} {}", rng.pick(NAME_FIRST, "Sunny"), rng.pick(NAME_SECOND, "Roof"), i + 1);
    Plant {
        index: i,
        id: plant_id(kind, account, i),
        name,
        station_type: rng.pick(STATION_TYPES, "HOUSE_ROOF"),
        ps_type: if rng.below(2) == 0 { 1 } else { 5 },
        capacity_kw,
        lat: round(rng.range(region.lat.0, region.lat.1), 4),
        lng: round(rng.range(region.lng.0, region.lng.1), 4),
        address,
        street,
        zip,
        town,
        region,
        grid_type: rng.pick(GRID_TYPES, "DISTRIBUTED_FULLY"),
        status,
        power_w,
        today_kwh,
        total_kwh,
        last_update,
        created,
        devices,
        power_in_kw: i % 4 == 2,
        total_in_kwh: i.is_multiple_of(3),
        today_placeholder: i % 10 == 7,
    }
}

/// Unix seconds as a date-time in `tz` (the epoch if out of range).
pub(crate) fn in_zone<Z: TimeZone>(unix: i64, tz: &Z) -> DateTime<Z> {
    DateTime::from_timestamp(unix, 0).unwrap_or(DateTime::UNIX_EPOCH).with_timezone(tz)
}

/// Sungrow's spelling of the UTC offset of `tz` at `unix`: `GMT+8`, `GMT+5:30`, `GMT-3`.
pub(crate) fn gmt_label(tz: Tz, unix: i64) -> String {
    let offset = in_zone(unix, &Utc).with_timezone(&tz).offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let (hours, minutes) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
    if minutes == 0 {
        format!("GMT{sign}{hours}")
    } else {
        format!("GMT{sign}{hours}:{minutes:02}")
    }
}

/// A number as Sungrow writes it in `{unit, value}` objects: at most `decimals` places, no
/// trailing zeros (`"21.93"`, `"64.8"`, `"4310"`).
pub(crate) fn number_text(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_775_444_700; // 2026-04-06T03:05:00Z

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        let a = AccountData::generate(7, 0, VendorKind::Solarman, 12, 2, START);
        let b = AccountData::generate(7, 0, VendorKind::Solarman, 12, 2, START);
        let c = AccountData::generate(8, 0, VendorKind::Solarman, 12, 2, START);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(format!("{a:?}"), format!("{c:?}"));
        // A plant does not change when the account grows.
        let bigger = AccountData::generate(7, 0, VendorKind::Solarman, 20, 2, START);
        assert_eq!(format!("{:?}", a.plants[5]), format!("{:?}", bigger.plants[5]));
    }

    #[test]
    fn generated_data_has_the_awkward_cases() {
        let data = AccountData::generate(1, 0, VendorKind::Sungrow, 25, 2, START);
        assert!(data.plants.iter().any(|p| p.status == NetStatus::AllOffline));
        assert!(data.plants.iter().any(|p| p.status == NetStatus::PartialOffline));
        assert!(data.plants.iter().any(|p| p.power_w == 0.0));
        assert!(data.plants.iter().any(|p| p.power_in_kw));
        assert!(data.plants.iter().any(|p| p.today_placeholder));
        assert!(data.plants.iter().any(|p| p.devices.len() == 2));
        assert_eq!(data.alerts.len(), 50);
        let ended = data.alerts.iter().filter(|a| a.ended.is_some()).count();
        assert_eq!(ended, 25);
        for alert in &data.alerts {
            assert!(alert.time >= START - 3 * 86_400 && alert.time < START);
            assert!(alert.ended.is_none_or(|end| end > alert.time && end < START));
            assert!((1..=4).contains(&alert.fault_level) && alert.level <= 2);
        }
        let mut names: Vec<_> = data.plants.iter().map(|p| p.name.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), 25);
    }

    #[test]
    fn ids_are_unique_across_accounts() {
        let a = AccountData::generate(1, 0, VendorKind::Solarman, 30, 1, START);
        let b = AccountData::generate(1, 1, VendorKind::Solarman, 30, 1, START);
        let mut ids: Vec<u64> = a.plants.iter().chain(&b.plants).map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 60);
        assert!(a.alerts.iter().all(|x| b.alerts.iter().all(|y| x.id != y.id)));
    }

    #[test]
    fn readings_advance_for_plants_behind_the_clock_only() {
        let mut data = AccountData::generate(1, 0, VendorKind::Solarman, 8, 0, START);
        let before = data.plants.clone();
        assert!(before.iter().all(|p| p.last_update < START), "generated in the past");
        data.advance_readings(START);
        for (old, new) in before.iter().zip(&data.plants) {
            assert_eq!(new.last_update, START, "{new:?}");
            assert_eq!(new.total_kwh, round(old.total_kwh + 0.5, 1));
            assert_eq!(new.power_w == 0.0, old.power_w == 0.0, "offline plants stay at zero");
            assert!(new.power_w <= new.capacity_kw * 1000.0);
        }
        assert!(before.iter().zip(&data.plants).any(|(o, n)| o.power_w != n.power_w));
        // Asked again within the same second: nothing moves, nothing runs ahead of now.
        let moved = data.plants.clone();
        data.advance_readings(START);
        let same = |a: &Plant, b: &Plant| {
            (a.last_update, a.total_kwh, a.power_w) == (b.last_update, b.total_kwh, b.power_w)
        };
        assert!(moved.iter().zip(&data.plants).all(|(a, b)| same(a, b)));
        // A second later they move again; a plant touched ahead of the clock waits for it.
        data.touch(0, START);
        data.advance_readings(START + 1);
        assert_eq!(data.plants[0].last_update, START + 60, "touched: a minute ahead");
        assert!(data.plants[1..].iter().all(|p| p.last_update == START + 1));
    }

    #[test]
    fn remove_and_resolve() {
        let mut data = AccountData::generate(1, 0, VendorKind::Sungrow, 4, 2, START);
        data.remove(2);
        data.remove(99);
        assert_eq!(data.listed().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 3]);
        assert_eq!(data.resolve_alerts(START), 3);
        assert_eq!(data.resolve_alerts(START), 0);
        assert_eq!(data.live_alerts().count(), 6);
    }

    #[test]
    fn alert_history_per_kind() {
        let fusion = AccountData::generate(3, 0, VendorKind::Huawei, 6, 2, START);
        assert_eq!(fusion.alerts.len(), 12);
        assert!(fusion.alerts.iter().all(|a| a.time > START - 2 * 86_400 && a.time < START));
        // Half in the last day, half in the day before, whatever the seed.
        assert_eq!(fusion.alerts.iter().filter(|a| a.time > START - 86_400).count(), 6);
        assert_eq!(fusion.alerts.iter().filter(|a| a.ended.is_some()).count(), 6);
        let solaredge = AccountData::generate(3, 0, VendorKind::SolarEdge, 6, 2, START);
        assert!(solaredge.alerts.len() == 12 && solaredge.alerts.iter().all(|a| a.ended.is_none()));
        assert!(AccountData::generate(3, 0, VendorKind::Growatt, 6, 2, START).alerts.is_empty());
        assert_eq!(vendor_plant_id(VendorKind::Huawei, fusion.plants[0].id), "NE=33100000");
        assert_eq!(vendor_plant_id(VendorKind::Growatt, 100_000), "100000");
    }

    #[test]
    fn sungrow_number_and_offset_spellings() {
        assert_eq!(number_text(21.93, 2), "21.93");
        assert_eq!(number_text(64.80, 2), "64.8");
        assert_eq!(number_text(4310.0, 0), "4310");
        assert_eq!(number_text(0.0, 2), "0");
        assert_eq!(gmt_label(chrono_tz::Asia::Shanghai, START), "GMT+8");
        assert_eq!(gmt_label(chrono_tz::Asia::Kolkata, START), "GMT+5:30");
        assert_eq!(gmt_label(chrono_tz::Europe::Berlin, START), "GMT+2");
        assert_eq!(gmt_label(chrono_tz::America::Sao_Paulo, START), "GMT-3");
    }

    #[test]
    fn credentials_are_unique_and_deterministic() {
        let a = credentials(VendorKind::Solarman, 5, 3);
        assert_eq!(a.username, "solarman-user-3");
        assert_eq!(a.app_id, "sm-app-3");
        assert_eq!(a.password, "sim-pass-3-5");
        assert_eq!(a.app_secret, credentials(VendorKind::Solarman, 5, 3).app_secret);
        assert_ne!(a.app_secret, credentials(VendorKind::Solarman, 5, 4).app_secret);
        assert_ne!(a.app_secret, credentials(VendorKind::Solarman, 6, 3).app_secret);
        assert_ne!(a.api_key, credentials(VendorKind::Solarman, 5, 4).api_key);
        let key = credentials(VendorKind::SolarEdge, 5, 3).api_key;
        assert_eq!(key, a.api_key.to_uppercase());
        assert_eq!(credentials(VendorKind::Huawei, 5, 3).username, "fusion-api-3");
    }
}
