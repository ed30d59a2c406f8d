//! The PostgREST transport (Supabase's `/rest/v1`, or any PostgREST in front of the central
//! PostgreSQL): the same [`Central`] over HTTP.
//!
//! # Design
//!
//! * **The rules stay central.** PostgREST's upsert is `INSERT ... ON CONFLICT DO UPDATE`
//!   over the columns sent; the stale-replay rule is the central trigger `keep_newer`, the
//!   receipt and the deletions the functions `rpc/receipt` and `rpc/forget`, the very ones
//!   the direct transport calls ([`super::schema`]). PostgREST runs no DDL: the schema is
//!   applied once in the SQL editor, and `plantsync` must be one of its exposed schemas
//!   (selected per request with `Content-Profile` / `Accept-Profile`).
//! * **Uniform, typed objects.** Every object of a request has the same keys (PostgREST
//!   refuses mixed keys, PGRST102): the agent id, the version, every column of the table
//!   and `deleted: false` (a row the site has again is live again), each value typed as
//!   its column is (numbers, booleans, ISO times as text, NULL as null), [`typed`].
//! * **Requests bounded by rows and bytes**: a batch of the push is sent in requests of at
//!   most [`MAX_ROWS`] rows and [`MAX_BODY_BYTES`] bytes, so each ends well inside
//!   Supabase's statement timeout (users report timeouts at 600 rows of 20 columns). A
//!   request cut short is harmless: what arrived is sent again and changes nothing.
//! * **A failure says whose fault it is** ([`classify`]): a bad key, a table not exposed,
//!   a rate limit, a server error or a broken link are retried as they are; only a
//!   refusal of the values themselves (SQLSTATE class 22, 23, 54; a body too large) lets
//!   the push isolate and set aside the rows. A `PGRST` code is a request-shape problem
//!   (this program or a schema mismatch), never the rows' fault.
//! * **The key is a secret**: it travels only in the `apikey` and `Authorization` headers
//!   (marked sensitive), never in a URL, a message or a log line; redirects are not
//!   followed (they would carry it elsewhere).

use super::central::{Central, Refusal, RowKey, SendError, TableReceipt, Tombstone};
use super::postgres::STATEMENT_TIMEOUT;
use super::{UpstreamError, schema::SCHEMA};
use crate::config::upstream::UpstreamUrl;
use crate::domain::Secret;
use crate::domain::text::{ERROR_PART_CHARS, excerpt};
use crate::store::{ColumnKind, OutboxRow, UpstreamTable};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use std::time::Duration;

/// The most rows one request carries (Supabase's statement timeout: about 100 advised).
pub const MAX_ROWS: usize = 100;
/// The most bytes one request's body carries (one row larger than this goes alone).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Rows per page of the read-back of versions.
const PAGE_ROWS: usize = 10_000;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An error answer of PostgREST ([`UpstreamError::Http`]): never the key, the body's
/// message excerpted.
#[derive(Debug, thiserror::Error)]
#[error("the upstream {target} refused {what}: HTTP {status}{}: {message}{hint}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
pub struct HttpRefusal {
    /// The URL.
    pub target: String,
    /// What was sent.
    pub what: String,
    /// The HTTP status.
    pub status: u16,
    /// PostgREST's `code` (a SQLSTATE or `PGRST...`), when it sent one.
    pub code: Option<String>,
    /// Its message and details, excerpted.
    pub message: String,
    /// What to do, when known.
    pub hint: String,
}

/// A PostgREST upstream.
pub struct RestCentral {
    client: reqwest::Client,
    /// `<base>/rest/v1`.
    api: String,
    /// For scrubbing it from a message the server might echo.
    key: Secret,
    /// `apikey` and `Authorization`, marked sensitive (never in a `Debug` of a request).
    credentials: [HeaderValue; 2],
    target: String,
}

/// The JSON value of one local value (text, `None` for NULL) in a column of `kind`: what
/// PostgREST's `json_populate_recordset` reads into the column's type. A value that does
/// not read as its kind travels as text, for the central side to refuse (the row's fault).
pub fn typed(kind: ColumnKind, text: Option<&str>) -> Value {
    let Some(text) = text else { return Value::Null };
    let as_text = || Value::String(text.to_owned());
    match kind {
        ColumnKind::Int => text.parse::<i64>().map_or_else(|_| as_text(), Value::from),
        ColumnKind::Real => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(as_text, Value::Number),
        ColumnKind::Bool => match text {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => as_text(),
        },
        ColumnKind::Text | ColumnKind::Time | ColumnKind::Date => as_text(),
    }
}

/// One row as the object PostgREST upserts.
fn object(agent_id: &str, table: UpstreamTable, row: &OutboxRow) -> Value {
    let mut object = Map::new();
    object.insert("agent_id".into(), Value::from(agent_id));
    object.insert("source_version".into(), Value::from(row.seq));
    for (column, value) in table.columns().iter().zip(&row.values) {
        object.insert(column.name.into(), typed(column.kind, value.as_deref()));
    }
    object.insert("deleted".into(), Value::Bool(false));
    Value::Object(object)
}

/// The columns of every object, for `columns=` (PostgREST then ignores any other key).
fn columns(table: UpstreamTable) -> String {
    let mut names = vec!["agent_id", "source_version"];
    names.extend(table.columns().iter().map(|c| c.name));
    names.push("deleted");
    names.join(",")
}

/// The conflict target, for `on_conflict=`: the agent id and the natural key.
fn on_conflict(table: UpstreamTable) -> String {
    let mut names = vec!["agent_id"];
    names.extend(table.columns().iter().filter(|c| c.key).map(|c| c.name));
    names.join(",")
}

/// The rows' JSON bodies, each at most [`MAX_ROWS`] objects and [`MAX_BODY_BYTES`] bytes
/// (one larger object alone), with how many rows each holds.
fn bodies(agent_id: &str, table: UpstreamTable, rows: &[OutboxRow]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut body, mut count) = (vec![b'['], 0);
    for row in rows {
        let encoded = object(agent_id, table, row).to_string();
        if count > 0 && (count == MAX_ROWS || body.len() + 1 + encoded.len() + 1 > MAX_BODY_BYTES) {
            body.push(b']');
            out.push((count, std::mem::replace(&mut body, vec![b'['])));
            count = 0;
        }
        if count > 0 {
            body.push(b',');
        }
        body.extend_from_slice(encoded.as_bytes());
        count += 1;
    }
    if count > 0 {
        body.push(b']');
        out.push((count, body));
    }
    out
}

/// What a missing table, function or schema means to do.
const NOT_EXPOSED: &str = " (run the SQL of `plantsync upstream schema` in the central database \
                           and expose the schema plantsync: Supabase's API settings, Exposed schemas)";

/// PostgREST's error body.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    details: Option<String>,
}

/// What a failed answer means: whether it is the rows' fault, PostgREST's code, its
/// message (excerpted) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Whose fault.
    pub refusal: Refusal,
    /// PostgREST's `code`.
    pub code: Option<String>,
    /// Its message and details.
    pub message: String,
    /// What to do (may be empty).
    pub hint: String,
}

/// Classifies an error answer: `status`, its `Retry-After` (seconds) and its body.
pub fn classify(status: u16, retry_after: Option<u64>, body: &[u8]) -> Classified {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = match (&parsed.message, &parsed.details) {
        (Some(m), Some(d)) if !d.is_empty() => format!("{m} ({d})"),
        (Some(m), _) => m.clone(),
        (None, _) if body.is_empty() => "no body".to_owned(),
        (None, _) => String::from_utf8_lossy(body).into_owned(),
    };
    let sqlstate_of_rows =
        parsed.code.as_deref().is_some_and(|c| matches!(c.get(..2), Some("22" | "23" | "54")));
    let (refusal, hint) = match status {
        401 | 403 => (
            Refusal::Retry,
            " (check upstream.api_key: a per-device key with rights on the plantsync tables \
             and functions)"
                .to_owned(),
        ),
        404 => (Refusal::Retry, NOT_EXPOSED.to_owned()),
        406 if parsed.code.as_deref() == Some("PGRST106") => {
            (Refusal::Retry, NOT_EXPOSED.to_owned())
        }
        429 => (
            Refusal::Retry,
            retry_after
                .map(|s| format!(" (the server asks to wait {s} s before the next request)"))
                .unwrap_or_default(),
        ),
        // PostgREST answers a row over a limit (SQLSTATE class 54) with 500: still the
        // row's fault, as over the direct transport.
        500 if parsed.code.as_deref().is_some_and(|c| c.starts_with("54")) => {
            (Refusal::Permanent, String::new())
        }
        408 | 500..=599 => (Refusal::Retry, String::new()),
        413 => (Refusal::Permanent, " (a row larger than the server takes)".to_owned()),
        400..=499 if sqlstate_of_rows => (Refusal::Permanent, String::new()),
        _ => (Refusal::Retry, String::new()),
    };
    Classified { refusal, code: parsed.code, message: excerpt(&message, ERROR_PART_CHARS), hint }
}

/// A value of PostgREST's answer as the text the direct transport reads (`::text`).
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl RestCentral {
    /// The client of `url`; fails when no key is configured.
    pub fn new(url: &UpstreamUrl) -> Result<Self, UpstreamError> {
        let target = url.shown().to_owned();
        let Some(key) = url.api_key().secret().filter(|k| !k.is_empty()).cloned() else {
            return Err(UpstreamError::NoApiKey { target });
        };
        let sensitive = |text: &str| {
            let mut value = HeaderValue::from_str(text).map_err(|_| UpstreamError::Request {
                target: target.clone(),
                what: "upstream.api_key".into(),
                reason: "the key holds characters an HTTP header cannot carry (a line break, \
                         a control character)"
                    .into(),
            })?;
            value.set_sensitive(true);
            Ok::<_, UpstreamError>(value)
        };
        let credentials =
            [sensitive(key.expose())?, sensitive(&format!("Bearer {}", key.expose()))?];
        crate::vendors::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(STATEMENT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("plantsync/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the key to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Request {
                target: target.clone(),
                what: "the HTTP client".into(),
                reason: e.without_url().to_string(),
            })?;
        let api = format!("{}/rest/v1", url.secret().expose());
        Ok(Self { client, api, key, credentials, target })
    }

    /// The headers of every request: the key (sensitive), the schema.
    fn headers(&self, profile: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("apikey", self.credentials[0].clone());
        headers.insert(reqwest::header::AUTHORIZATION, self.credentials[1].clone());
        headers.insert(profile, HeaderValue::from_static(SCHEMA));
        headers
    }

    /// Sends `request`; the answer's body, or the failure classified.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, SendError> {
        let failed = |e: reqwest::Error| {
            SendError::retry(if e.is_timeout() {
                UpstreamError::Timeout { target: self.target.clone(), what: what.to_owned() }
            } else {
                UpstreamError::Request {
                    target: self.target.clone(),
                    what: what.to_owned(),
                    reason: excerpt(&e.without_url().to_string(), ERROR_PART_CHARS),
                }
            })
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response.bytes().await.map_err(failed)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let classified = classify(status, retry_after, &body);
        let message = classified.message.replace(self.key.expose(), crate::domain::REDACTED);
        Err(SendError {
            refusal: classified.refusal,
            error: UpstreamError::Http(Box::new(HttpRefusal {
                target: self.target.clone(),
                what: what.to_owned(),
                status,
                code: classified.code,
                message,
                hint: classified.hint,
            })),
        })
    }

    /// The answer's JSON, or a request failure naming `what`.
    fn json(&self, what: &str, body: &[u8]) -> Result<Value, UpstreamError> {
        serde_json::from_slice(body).map_err(|e| UpstreamError::Request {
            target: self.target.clone(),
            what: what.to_owned(),
            reason: format!(
                "the answer is not the JSON expected ({})",
                crate::domain::text::json_error(&e)
            ),
        })
    }

    /// `POST rpc/<function>` with `args`.
    async fn rpc(&self, function: &str, what: &str, args: &Value) -> Result<Value, SendError> {
        let request = self
            .client
            .post(format!("{}/rpc/{function}", self.api))
            .headers(self.headers("content-profile"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(args.to_string());
        let body = self.send(what, request).await?;
        Ok(self.json(what, &body)?)
    }
}

#[async_trait]
impl Central for RestCentral {
    async fn upsert(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        rows: &[OutboxRow],
    ) -> Result<Option<u64>, SendError> {
        let url = format!("{}/{table}", self.api);
        let query = [("on_conflict", on_conflict(table)), ("columns", columns(table))];
        for (count, body) in bodies(agent_id, table, rows) {
            let request = self
                .client
                .post(&url)
                .query(&query)
                .headers(self.headers("content-profile"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("prefer", "resolution=merge-duplicates,return=minimal")
                .body(body);
            self.send(&format!("a batch of {count} {table}"), request).await?;
        }
        // The minimal answer says nothing of what changed.
        Ok(None)
    }

    async fn versions_above(
        &self,
        agent_id: &str,
        table: UpstreamTable,
        above: i64,
    ) -> Result<Vec<(RowKey, i64)>, UpstreamError> {
        let key: Vec<&str> = table.columns().iter().filter(|c| c.key).map(|c| c.name).collect();
        let order: Vec<String> =
            ["source_version"].iter().chain(&key).map(|c| format!("{c}.asc")).collect();
        let what = format!("the {table} receipt");
        let mut found = Vec::new();
        let mut first_of_last_page: Option<Value> = None;
        loop {
            let query = [
                ("select", format!("{},source_version", key.join(","))),
                ("agent_id", format!("eq.{agent_id}")),
                ("source_version", format!("gt.{above}")),
                ("deleted", "is.false".to_owned()),
                ("order", order.join(",")),
                ("limit", PAGE_ROWS.to_string()),
                ("offset", found.len().to_string()),
            ];
            let request = self
                .client
                .get(format!("{}/{table}", self.api))
                .query(&query)
                .headers(self.headers("accept-profile"));
            let body = self.send(&what, request).await.map_err(|e| e.error)?;
            let page = self.json(&what, &body)?;
            let rows = page.as_array().map(Vec::as_slice).unwrap_or_default();
            // A server that ignores `offset` would answer the first page forever.
            if !found.is_empty() && rows.first() == first_of_last_page.as_ref() {
                return Err(UpstreamError::Request {
                    target: self.target.clone(),
                    what: what.clone(),
                    reason: "the server answered the same page twice (does it ignore offset?)"
                        .to_owned(),
                });
            }
            first_of_last_page = rows.first().cloned();
            for row in rows {
                let version = row["source_version"].as_i64().unwrap_or_default();
                found.push((key.iter().map(|k| as_text(&row[*k])).collect(), version));
            }
            // Only an empty page ends the read: a server may cap a page below the limit
            // asked (Supabase's "Max Rows", 1000 by default) without saying so.
            if rows.is_empty() {
                return Ok(found);
            }
        }
    }

    async fn receipt(&self, agent_id: &str) -> Result<Vec<TableReceipt>, UpstreamError> {
        let args = serde_json::json!({ "p_agent": agent_id });
        let rows = self.rpc("receipt", "the receipt", &args).await.map_err(|e| e.error)?;
        let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(UpstreamTable::ALL
            .iter()
            .map(|&table| {
                let found = rows.iter().find(|r| r["table_name"] == table.as_str());
                let number = |name: &str| found.and_then(|r| r[name].as_i64()).unwrap_or(0);
                TableReceipt {
                    table,
                    rows: number("row_count"),
                    checksum: number("checksum"),
                    max_version: number("max_version"),
                }
            })
            .collect())
    }

    async fn forget(&self, agent_id: &str, tombstones: &[Tombstone]) -> Result<u64, SendError> {
        let deletions: Value =
            serde_json::from_str(&super::central::deletions_json(tombstones)).unwrap_or_default();
        let args = serde_json::json!({ "p_agent": agent_id, "p_deletions": deletions });
        let what = format!("{} deletions", tombstones.len());
        let marked = self.rpc("forget", &what, &args).await?;
        Ok(marked.as_i64().unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_travel_typed_as_their_columns() {
        assert_eq!(typed(ColumnKind::Int, Some("42")), Value::from(42));
        assert_eq!(typed(ColumnKind::Int, Some("-9223372036854775808")), Value::from(i64::MIN));
        assert_eq!(typed(ColumnKind::Real, Some("12.5")), serde_json::json!(12.5));
        assert_eq!(typed(ColumnKind::Real, Some("3")), serde_json::json!(3.0));
        assert_eq!(typed(ColumnKind::Bool, Some("1")), Value::Bool(true));
        assert_eq!(typed(ColumnKind::Bool, Some("0")), Value::Bool(false));
        assert_eq!(
            typed(ColumnKind::Time, Some("2026-01-02T03:04:05.678Z")),
            Value::from("2026-01-02T03:04:05.678Z")
        );
        assert_eq!(typed(ColumnKind::Text, Some("007")), Value::from("007"));
        for kind in [ColumnKind::Int, ColumnKind::Real, ColumnKind::Bool, ColumnKind::Text] {
            assert_eq!(typed(kind, None), Value::Null);
        }
        // Not of its kind: text, for the central side to refuse as the row's fault.
        assert_eq!(typed(ColumnKind::Int, Some("12x")), Value::from("12x"));
        assert_eq!(typed(ColumnKind::Real, Some("NaN")), Value::from("NaN"));
        assert_eq!(typed(ColumnKind::Bool, Some("2")), Value::from("2"));
    }

    fn row(seq: i64, name: &str) -> OutboxRow {
        let values = UpstreamTable::Plants
            .columns()
            .iter()
            .map(|c| match c.name {
                "vendor_id" => Some("1".to_owned()),
                "vendor_plant_id" => Some(format!("p{seq}")),
                "name" => Some(name.to_owned()),
                "is_active" => Some("1".to_owned()),
                _ => None,
            })
            .collect();
        OutboxRow { seq, id: seq, values }
    }

    #[test]
    fn requests_are_bounded_by_rows_and_bytes_and_objects_share_their_keys() {
        let rows: Vec<OutboxRow> = (1..=250).map(|i| row(i, "p")).collect();
        let split = bodies("a", UpstreamTable::Plants, &rows);
        assert_eq!(split.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [100, 100, 50]);
        let big = "x".repeat(400_000);
        let rows: Vec<OutboxRow> = (1..=5).map(|i| row(i, &big)).collect();
        let split = bodies("a", UpstreamTable::Plants, &rows);
        assert_eq!(split.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 2, 1]);
        let mut keys = None;
        for (count, body) in &split {
            assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
            let parsed: Vec<Map<String, Value>> = serde_json::from_slice(body).unwrap();
            assert_eq!(parsed.len(), *count);
            for object in parsed {
                let these: Vec<String> = object.keys().cloned().collect();
                assert_eq!(keys.get_or_insert_with(|| these.clone()), &these);
                assert_eq!(object["deleted"], false);
                assert_eq!(object["is_active"], true);
                assert_eq!(object["vendor_id"], 1);
            }
        }
        let all = columns(UpstreamTable::Plants);
        let mut all: Vec<&str> = all.split(',').collect();
        all.sort_unstable();
        assert_eq!(all, keys.unwrap(), "every column named in `columns=` is a key of each");
        assert_eq!(on_conflict(UpstreamTable::Plants), "agent_id,vendor_id,vendor_plant_id");
    }

    #[test]
    fn failures_are_the_rows_fault_only_for_what_they_hold() {
        let body = |code: &str| {
            format!(r#"{{"code":"{code}","message":"m","details":"d","hint":null}}"#).into_bytes()
        };
        for (status, code) in
            [(409, "23505"), (400, "23502"), (400, "23514"), (400, "22P02"), (500, "54000")]
        {
            let c = classify(status, None, &body(code));
            assert_eq!(c.refusal, Refusal::Permanent, "{status} {code}");
            assert_eq!(c.code.as_deref(), Some(code));
            assert_eq!(c.message, "m (d)");
        }
        assert_eq!(classify(413, None, b"").refusal, Refusal::Permanent);
        for (status, code) in [
            (400, "PGRST102"),
            (400, "PGRST204"),
            (401, "PGRST301"),
            (403, "42501"),
            (404, "PGRST205"),
            (406, "PGRST106"),
            (408, "57014"),
            (429, ""),
            (500, "XX000"),
            (503, ""),
            (400, "42703"),
        ] {
            let c = classify(status, None, &body(code));
            assert_eq!(c.refusal, Refusal::Retry, "{status} {code}");
        }
        assert!(classify(401, None, b"").hint.contains("upstream.api_key"));
        assert!(classify(404, None, &body("PGRST205")).hint.contains("expose"));
        assert!(classify(406, None, &body("PGRST106")).hint.contains("expose"));
        assert!(classify(429, Some(30), b"").hint.contains("wait 30 s"));
        let odd = classify(502, None, &[b'<'; 5000]);
        assert!(odd.message.chars().count() <= ERROR_PART_CHARS + 3, "{}", odd.message);
    }
}
