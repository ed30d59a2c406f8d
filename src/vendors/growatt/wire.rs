//! Growatt OpenAPI v1 JSON, as the vendor spells it (vendor-apis.md §5).

use crate::vendors::lenient;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope every response carries.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Envelope {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub error_code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub error_msg: Option<String>,
}

/// `data` of a response.
#[derive(Debug, Deserialize)]
pub(super) struct Data<T> {
    #[serde(default = "Option::default")]
    pub data: Option<T>,
}

/// `GET /v1/plant/list`: rows stay raw so one bad row fails alone.
#[derive(Debug, Deserialize)]
pub(super) struct PlantPage {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
    #[serde(default)]
    pub plants: Option<Vec<Box<RawValue>>>,
}

/// Just the id of a row, to report a row that does not decode.
#[derive(Debug, Deserialize)]
pub(super) struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub plant_id: Option<String>,
}

/// One plant of the list.
#[derive(Debug, Deserialize)]
pub(super) struct Plant {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub plant_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub longitude: Option<f64>,
    /// kWp.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub peak_power: Option<f64>,
    /// kW, often text, sometimes `""`.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub current_power: Option<f64>,
    /// kWh.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub total_energy: Option<f64>,
    /// `GMT+8`, when the row carries it (the details call always does).
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub timezone: Option<String>,
}

/// `GET /v1/plant/data`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PlantData {
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub current_power: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub today_energy: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub total_energy: Option<f64>,
    /// `YYYY-MM-DD HH:MM:SS`, local to `timezone`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_update_time: Option<String>,
    /// `GMT+8`: the plant's zone, which Growatt's documented reply carries beside the time.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub timezone: Option<String>,
}

/// `GET /v1/plant/details`: what the list lacks, the plant's zone.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PlantDetails {
    /// `GMT+8`.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub timezone: Option<String>,
    /// Degrees, as text (`"22.6"`); the list often sends `""` where the details have them.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub longitude: Option<f64>,
}

/// `data` of `GET /v1/plant/energy?time_unit=day` (vendor-history-apis.md §5); rows stay
/// raw so one bad row fails alone.
#[derive(Debug, Deserialize)]
pub(super) struct Energies {
    #[serde(default)]
    pub energys: Option<Vec<Box<RawValue>>>,
}

/// One day: `date` `YYYY-MM-DD` (plant-local), `energy` kWh, often as text.
#[derive(Debug, Deserialize)]
pub(super) struct EnergyRow {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub energy: Option<f64>,
}
