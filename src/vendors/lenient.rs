//! Lenient decoding of vendor JSON: numbers sent as strings, padded enums, `""`/`"--"`
//! placeholders, missing optional fields.
//!
//! Used through `#[serde(default, deserialize_with = "...")]` in the adapters' `wire.rs`.
//! A *placeholder* decodes to `None` (the store keeps its value); a value of the wrong kind
//! (an object or a boolean where a number belongs) is an error, which skips that one row.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

/// Whether a string means "no value".
pub fn is_placeholder(text: &str) -> bool {
    matches!(text.trim(), "" | "-" | "--" | "---" | "null" | "NULL" | "N/A" | "n/a" | "NaN")
}

/// A number from a JSON number or a numeric string; placeholders and `null` are `None`.
pub fn number_from_value(value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_f64().map(Some).ok_or_else(|| format!("number {n} out of range")),
        Value::String(s) if is_placeholder(s) => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| format!("'{s}' is not a number")),
        other => Err(format!("expected a number, found {}", kind_of(other))),
    }
}

/// Text from a string or a number, trimmed; empty and placeholders are `None`.
pub fn text_from_value(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if is_placeholder(s) => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("expected text, found {}", kind_of(other))),
    }
}

/// An identifier from a string or an integer (never a float or a placeholder).
pub fn id_from_value(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Value::String(s) if !is_placeholder(s) => Ok(Some(s.trim().to_owned())),
        Value::String(_) => Ok(None),
        other => Err(format!("expected an id, found {}", kind_of(other))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde adapter: optional number, lenient.
pub fn opt_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    number_from_value(&Value::deserialize(deserializer)?).map_err(de::Error::custom)
}

/// serde adapter: optional trimmed text, lenient.
pub fn opt_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    text_from_value(&Value::deserialize(deserializer)?).map_err(de::Error::custom)
}

/// serde adapter: optional id (string or integer).
pub fn opt_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    id_from_value(&Value::deserialize(deserializer)?).map_err(de::Error::custom)
}

/// serde adapter: optional integer (number or numeric string; floats are truncated). A
/// number no integer can hold (1e308, 1.8e19) is an error, not `i64::MAX`: saturated, a
/// spoiled code would read as a real one (a FusionSolar login's `failCode` of 1e308 as a
/// refusal that parks the vendor, found by the fuzz tests).
pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match opt_f64(deserializer)? {
        // i64::MAX as f64 is 2^63, itself out of range.
        Some(f) if !(-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f) => {
            Err(de::Error::custom(format!("number {f:e} is out of range for an integer")))
        }
        other => Ok(other.map(|f| f as i64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_strings_placeholders_and_wrong_types() {
        assert_eq!(number_from_value(&json!(12.5)), Ok(Some(12.5)));
        assert_eq!(number_from_value(&json!(" 21.93 ")), Ok(Some(21.93)));
        assert_eq!(number_from_value(&json!("0")), Ok(Some(0.0)));
        assert_eq!(number_from_value(&json!("--")), Ok(None));
        assert_eq!(number_from_value(&json!("")), Ok(None));
        assert_eq!(number_from_value(&json!(null)), Ok(None));
        assert!(number_from_value(&json!(true)).unwrap_err().contains("a boolean"));
        assert!(number_from_value(&json!("abc")).is_err());
        assert_eq!(text_from_value(&json!(" ALL_OFFLINE")), Ok(Some("ALL_OFFLINE".into())));
        assert_eq!(id_from_value(&json!(895)), Ok(Some("895".into())));
        assert_eq!(id_from_value(&json!("NE=33554875")), Ok(Some("NE=33554875".into())));
        assert!(id_from_value(&json!(1.5)).is_err());
    }

    #[test]
    fn an_integer_out_of_range_is_an_error_not_a_saturated_value() {
        #[derive(serde::Deserialize, Debug)]
        struct Code {
            #[serde(default, deserialize_with = "opt_i64")]
            #[allow(dead_code)]
            code: Option<i64>,
        }
        let read = |text: &str| serde_json::from_str::<Code>(text).map(|c| c.code);
        for spoiled in [r#"{"code": 1e308}"#, r#"{"code": -1e308}"#, r#"{"code": 1.8e19}"#] {
            let error = read(spoiled).unwrap_err().to_string();
            assert!(error.contains("out of range"), "{spoiled}: {error}");
        }
        assert_eq!(read(r#"{"code": 407}"#).unwrap(), Some(407));
        assert_eq!(read(r#"{"code": "12.9"}"#).unwrap(), Some(12));
        assert_eq!(read(r#"{"code": -0.0}"#).unwrap(), Some(0));
        assert_eq!(read(r#"{"code": 1718000000000}"#).unwrap(), Some(1_718_000_000_000));
    }
}
