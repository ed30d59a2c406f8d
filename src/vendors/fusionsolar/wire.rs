//! FusionSolar Northbound ("thirdData") JSON, as the vendor spells it (vendor-apis.md §4).

use crate::vendors::lenient;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope every response carries.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub fail_code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub message: Option<String>,
}

/// `data` of a response, with the reply's `params`.
#[derive(Debug, Deserialize)]
pub(super) struct Data<T> {
    #[serde(default = "Option::default")]
    pub data: Option<T>,
    #[serde(default)]
    pub params: Option<Params>,
}

/// `params` of a response: the server's time of the reply.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Params {
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub current_time: Option<i64>,
}

/// `POST /thirdData/stations`: rows stay raw so one bad row fails alone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StationPage {
    #[serde(default)]
    pub list: Option<Vec<Box<RawValue>>>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub page_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total: Option<i64>,
}

/// Just the id of a row, to report a row that does not decode (either list's spelling).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub plant_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub station_code: Option<String>,
}

/// One `/thirdData/stations` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Station {
    /// A DN such as `NE=33554875`.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub plant_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub plant_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub plant_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub longitude: Option<f64>,
    /// kWp.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub capacity: Option<f64>,
    /// ISO with the plant's offset.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub grid_connection_date: Option<String>,
}

/// One legacy `/thirdData/getStationList` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LegacyStation {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub station_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub station_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub station_addr: Option<String>,
    /// **MW** in the legacy list.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub capacity: Option<f64>,
}

/// One `/thirdData/getStationRealKpi` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KpiRow {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub station_code: Option<String>,
    #[serde(default)]
    pub data_item_map: Option<KpiMap>,
}

/// A station's real-time KPIs: energy in kWh.
#[derive(Debug, Default, Deserialize)]
pub(super) struct KpiMap {
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub day_power: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub total_power: Option<f64>,
    /// 1 disconnected, 2 faulty, 3 healthy.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub real_health_state: Option<i64>,
}

/// One `/thirdData/getAlarmList` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Alarm {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub station_code: Option<String>,
    /// The alarm *type*.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub alarm_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub alarm_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub alarm_cause: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub repair_suggestion: Option<String>,
    /// The device serial number.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub esn_code: Option<String>,
    /// 1 critical, 2 major, 3 minor, 4 warning.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub lev: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub raise_time: Option<i64>,
    /// Epoch milliseconds, once the alarm ended.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub recovery_time: Option<i64>,
}

/// One `/thirdData/getKpiStationDay` row (vendor-history-apis.md §4): a station's day,
/// stamped with the station-local midnight in epoch ms.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KpiDayRow {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub station_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub collect_time: Option<i64>,
    /// Empty (`{}`) or `null` on a day without data.
    #[serde(default)]
    pub data_item_map: Option<KpiDayMap>,
}

/// A day's KPIs, kWh: `PVYield` is the day's PV yield, `inverter_power` its legacy,
/// ambiguous name (equal to it in every sample).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct KpiDayMap {
    #[serde(default, rename = "PVYield", deserialize_with = "lenient::opt_f64")]
    pub pv_yield: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub inverter_power: Option<f64>,
}
