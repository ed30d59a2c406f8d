//! SolarEdge Monitoring API JSON, as the vendor spells it (vendor-apis.md §3).

use crate::vendors::lenient;
use serde::Deserialize;
use serde_json::value::RawValue;

/// `GET /sites/list`: `{"sites":{"count":N,"site":[…]}}`; the PDF's example spells it
/// `{"Sites":{"count":N,"list":[…]}}`, accepted too. Rows stay raw so one bad row fails
/// alone.
#[derive(Debug, Deserialize)]
pub(super) struct SitesEnvelope {
    #[serde(default, alias = "Sites")]
    pub sites: Option<SitesPage>,
}

/// The page inside [`SitesEnvelope`].
#[derive(Debug, Deserialize)]
pub(super) struct SitesPage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
    #[serde(default)]
    pub site: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub list: Option<Vec<Box<RawValue>>>,
}

/// Just the id of a row, to report a row that does not decode.
#[derive(Debug, Deserialize)]
pub(super) struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
}

/// One site of the list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Site {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    /// `Active`, `Pending`, `Disabled`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub status: Option<String>,
    /// kWp.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub peak_power: Option<f64>,
    /// Site-local, no offset: a bare `YYYY-MM-DD` in the real lists, `YYYY-MM-DD hh:mm:ss`
    /// in the documentation.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_update_time: Option<String>,
    #[serde(default)]
    pub location: Option<Location>,
}

/// A site's `location` (no coordinates in v1).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Location {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub address: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub address2: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub zip: Option<String>,
    /// IANA (`Europe/Amsterdam`) or `GMT`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub time_zone: Option<String>,
}

/// `GET /sites/{ids}/overview`: entries stay raw so one bad entry fails alone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkOverview {
    #[serde(default)]
    pub sites_overviews: Option<OverviewList>,
}

/// The list inside [`BulkOverview`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OverviewList {
    #[serde(default)]
    pub site_energy_list: Option<Vec<Box<RawValue>>>,
}

/// One site's entry of the bulk overview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OverviewEntry {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(default)]
    pub site_overview: Option<Overview>,
}

/// A site's overview: energy in Wh, power in W.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Overview {
    /// Site-local `YYYY-MM-DD hh:mm:ss`, no offset: the site's last report.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_update_time: Option<String>,
    #[serde(default)]
    pub life_time_data: Option<Energy>,
    #[serde(default)]
    pub last_day_data: Option<Energy>,
    #[serde(default)]
    pub current_power: Option<Power>,
}

/// `{"energy": Wh}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Energy {
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub energy: Option<f64>,
}

/// `{"power": W}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Power {
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub power: Option<f64>,
}

/// One `GET /v2/alerts` entry (the response is a bare array).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct V2Alert {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_text")]
    pub alert_type: Option<String>,
    /// 1-9 (a number or numeric text), or a level name.
    #[serde(default)]
    pub impact: Option<serde_json::Value>,
    /// ISO time with `Z`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub first_trigger: Option<String>,
}

/// `GET /sites/{ids}/energy?timeUnit=DAY` (vendor-history-apis.md §3).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkEnergy {
    #[serde(default)]
    pub sites_energy: Option<EnergySeries>,
}

/// `GET /site/{id}/energy?timeUnit=DAY`.
#[derive(Debug, Deserialize)]
pub(super) struct SiteEnergy {
    #[serde(default)]
    pub energy: Option<EnergySeries>,
}

/// The energy of one site (`values`) or of several (`siteEnergyList`), with its `unit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnergySeries {
    /// `Wh` on every documented reply.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub unit: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub site_energy_list: Option<Vec<Box<RawValue>>>,
}

/// One site of a bulk energy reply.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SiteEnergyEntry {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(default)]
    pub energy_values: Option<EnergyValues>,
}

/// A bulk entry's values.
#[derive(Debug, Deserialize)]
pub(super) struct EnergyValues {
    #[serde(default)]
    pub values: Option<Vec<Box<RawValue>>>,
}

/// One day: `date` as `YYYY-MM-DD 00:00:00` in the site's zone, `value` in the series'
/// unit or `null` (no data).
#[derive(Debug, Deserialize)]
pub(super) struct EnergyValue {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub value: Option<f64>,
}
