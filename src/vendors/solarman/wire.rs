//! Solarman OpenAPI JSON, as the vendor spells it (vendor-apis.md §1). The station row is
//! checked against a real recorded list (`tests/fixtures/solarman/recorded/`); the token,
//! realtime, device and alert shapes follow the documentation, no real body being known.
//! Fields the real row carries that plantsync does not use (`type`, `regionLevel1..5`,
//! `batterySoc`, `startOperatingTime`, `createdDate`, `contactPhone`, `ownerName`, ...)
//! are ignored.

use crate::vendors::lenient;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope every response carries.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub msg: Option<String>,
}

/// `POST /account/v1.0/token`.
#[derive(Debug, Deserialize)]
pub(super) struct TokenResponse {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A number or a string (`"5183999"`).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub expires_in: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub uid: Option<String>,
}

/// `POST /station/v1.0/list`: rows stay raw so one bad row fails alone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StationPage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total: Option<i64>,
    #[serde(default)]
    pub station_list: Option<Vec<Box<RawValue>>>,
}

/// Just the id of a row, to report a row that does not decode.
#[derive(Debug, Deserialize)]
pub(super) struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
}

/// One `stationList` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Station {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    /// kWp: the real list sends `54.45` for a station delivering 12 kW.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub installed_capacity: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub location_lat: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub location_lng: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub location_address: Option<String>,
    /// An IANA name, backward links included (`Africa/Bangui`, `PRC`).
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub region_timezone: Option<String>,
    /// `NORMAL`, `PARTIAL_OFFLINE`, `ALL_OFFLINE`, sometimes padded.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub network_status: Option<String>,
    /// W.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub generation_power: Option<f64>,
    /// Unix seconds as a float (`1730387897.000000000` in the real list).
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub last_update_time: Option<f64>,
}

/// `POST /station/v1.0/realTime`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RealTime {
    /// W.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub generation_power: Option<f64>,
    /// kWh today.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub generation_value: Option<f64>,
    /// kWh lifetime.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub generation_total: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub last_update_time: Option<f64>,
}

/// `POST /station/v1.0/device`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DevicePage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total: Option<i64>,
    #[serde(default)]
    pub device_list_items: Option<Vec<Device>>,
}

/// One device.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Device {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub device_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub device_sn: Option<String>,
}

/// `POST /device/v1.0/alertList`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlertPage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total: Option<i64>,
    #[serde(default)]
    pub alert_list: Option<Vec<Box<RawValue>>>,
}

/// One alert row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlertRow {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub alert_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub alert_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub code: Option<String>,
    /// 0 info, 1 warning, 2 error.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub level: Option<i64>,
    /// 0 none, 1 production, 2 safety, 3 both.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub influence: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub alert_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub description: Option<String>,
}

/// `POST /station/v1.0/history` with `timeType 2`: flat, the rows beside `success`
/// (vendor-history-apis.md §1); rows stay raw so one bad row fails alone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HistoryPage {
    #[serde(default)]
    pub station_data_items: Option<Vec<Box<RawValue>>>,
}

/// One day of the history (the other energies, `useValue`, `gridValue`..., are not used).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HistoryItem {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub year: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub month: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub day: Option<i64>,
    /// kWh of the day.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub generation_value: Option<f64>,
}
