//! Sungrow iSolarCloud JSON, as the vendor spells it (vendor-apis.md §2), including its
//! misspellings (`total_capcity`) and its two spellings of the paging keys.

use crate::vendors::lenient;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope's status alone, read before the data so an error answer whose
/// `result_data` has an unexpected shape is still classified by its code.
#[derive(Debug, Deserialize, Default)]
pub(super) struct Status {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub result_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub result_msg: Option<String>,
}

/// A successful response's data, typed.
#[derive(Debug, Deserialize)]
pub(super) struct Data<T> {
    #[serde(default = "Option::default")]
    pub result_data: Option<T>,
}

/// `result_data` of the login call.
#[derive(Debug, Deserialize, Default)]
pub(super) struct LoginData {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub user_id: Option<String>,
    /// `"1"` is success even when `result_code` is also `"1"` for a rejected login.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub login_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub remain_times: Option<String>,
}

/// An OAuth token response, found at the top level or inside `result_data`.
#[derive(Debug, Deserialize, Default)]
pub(super) struct OAuthToken {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub expires_in: Option<i64>,
}

/// A paged `result_data`, under either spelling.
#[derive(Debug, Deserialize, Default)]
pub(super) struct Page {
    #[serde(
        default,
        alias = "rowCount",
        alias = "row_count",
        deserialize_with = "lenient::opt_i64"
    )]
    pub row_count: Option<i64>,
    #[serde(default, alias = "pageList", alias = "page_list", alias = "page_data")]
    pub page_list: Option<Vec<Box<RawValue>>>,
}

/// A `{unit, value}` reading; the value is usually a string.
#[derive(Debug, Deserialize, Clone)]
pub(super) struct UnitValue {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub value: Option<f64>,
}

/// Just the id of a row, to report a row that does not decode.
#[derive(Debug, Deserialize)]
pub(super) struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub ps_id: Option<String>,
}

/// One plant of `getPowerStationList`.
#[derive(Debug, Deserialize)]
pub(super) struct Station {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub ps_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub ps_name: Option<String>,
    #[serde(default)]
    pub total_capcity: Option<UnitValue>,
    /// kW, in the platform variant.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub installed_power: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub longitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub ps_location: Option<String>,
    /// `"GMT+2"`, not IANA.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub ps_current_time_zone: Option<String>,
    /// 1 online, 0 offline.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub ps_status: Option<i64>,
    /// 1 fault, 2 alarm, 3 normal.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub ps_fault_status: Option<i64>,
    #[serde(default)]
    pub curr_power: Option<UnitValue>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub curr_power_update_time: Option<String>,
    #[serde(default)]
    pub today_energy: Option<UnitValue>,
    #[serde(default)]
    pub total_energy: Option<UnitValue>,
}

/// One row of `getFaultAlarmInfo`.
#[derive(Debug, Deserialize)]
pub(super) struct Fault {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub ps_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub ps_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub device_sn: Option<String>,
    /// The occurrence's code: in Sungrow's documentation example an id of the occurrence
    /// (`"60064.202411.47b8b34242077"`), elsewhere the type's code (`"10"`).
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub fault_code: Option<String>,
    /// The fault type's code (`60064`), where sent beside an occurrence id.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub fault_type_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub fault_name: Option<String>,
    /// A description, often empty.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub fault_desc: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub fault_level: Option<i64>,
    /// Server time: `yyyy-MM-dd HH:mm:ss` in the documentation, `yyyyMMddHHmmss` in
    /// other clients' replies.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub create_time: Option<String>,
    /// End time in the same format; empty while open.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub over_time: Option<String>,
}

/// One plant's entry in the `result_data` of
/// `getPowerStationPointDayMonthYearDataList` (vendor-history-apis.md §2): the point's
/// rows, kept raw so one bad row fails alone.
#[derive(Debug, Deserialize, Default)]
pub(super) struct PlantPoints {
    #[serde(default)]
    pub p83022: Option<Vec<Box<RawValue>>>,
}

/// One day of a point: the value under the data type's number (`"2"`, the day's peak of
/// the daily counter) as text in Wh, and the day as `yyyyMMdd`.
#[derive(Debug, Deserialize)]
pub(super) struct PointRow {
    #[serde(default, rename = "2", deserialize_with = "lenient::opt_f64")]
    pub peak: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub time_stamp: Option<String>,
}
