//! Fault evaluation: trigger counting, the per-request plan, and the vendor-neutral parts of
//! misbehaving (latency, HTML errors, plant-list paging faults, truncation, slow bodies).
//!
//! Each request attributed to an account is counted once, and every trigger is evaluated at
//! that moment into a [`Plan`]. The handler then walks the plan in the documented order:
//! `preflight` (latch, latency, HTTP error, rate limit), its own auth checks and normal handling,
//! the plant-list transformations ([`plant_page`], [`mangle_plant`]), and finally
//! [`Plan::finish`] (truncation, slow body). Vendor files only supply the vendor's spelling
//! of each signal, so a new vendor gets every fault for free.

use super::state::Latch;
use super::transport::SlowBody;
use super::{Endpoint, Faults, Trigger};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Fault switches of an account and the requests counted since they were installed.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    /// Requests per endpoint since the faults were installed.
    per_endpoint: [u64; 6],
    /// Requests to any endpoint since the faults were installed.
    total: u64,
}

impl FaultState {
    /// Fresh counts for `faults`.
    pub(crate) fn new(faults: Faults) -> Self {
        Self { faults, per_endpoint: [0; 6], total: 0 }
    }

    /// Counts one request to `endpoint` and decides which faults it gets.
    pub(crate) fn plan(&mut self, endpoint: Endpoint) -> Plan {
        self.per_endpoint[endpoint.slot()] += 1;
        self.total += 1;
        let fires = |trigger: &Trigger| {
            if trigger.endpoint.is_some_and(|e| e != endpoint) {
                return false;
            }
            let count = if trigger.endpoint.is_some() {
                self.per_endpoint[endpoint.slot()]
            } else {
                self.total
            };
            trigger.fires_at(count)
        };
        let f = &self.faults;
        Plan {
            latency: f.latency,
            http_error: f.http_error.filter(|(_, t)| fires(t)).map(|(status, _)| status),
            rate_limited: f.rate_limit.is_some_and(|t| fires(&t)),
            truncate: f.truncated_json.is_some_and(|t| fires(&t)),
            slow_body: f.slow_body.filter(|(_, t)| fires(t)).map(|(delay, _)| delay),
            mutate: f.mutate.map(|seed| super::mutate::reply_seed(seed, self.total)),
            faults: f.clone(),
            latch: None,
        }
    }
}

impl Trigger {
    /// Whether the request numbered `count` (1-based) is one this trigger fails.
    fn fires_at(&self, count: u64) -> bool {
        let first = u64::from(self.nth.max(1));
        count >= first && (self.times == u32::MAX || count - first < u64::from(self.times))
    }
}

/// The faults one request gets, decided when it was counted.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Sleep before anything else.
    latency: Duration,
    /// Answer with this HTTP status and an HTML page.
    http_error: Option<u16>,
    /// Answer with the vendor's rate-limit signal.
    rate_limited: bool,
    /// Send only the first half of the body.
    truncate: bool,
    /// Hold the body back this long after the headers.
    slow_body: Option<Duration>,
    /// Spoil a JSON body with the mutations of this seed ([`Faults::mutate`]).
    mutate: Option<u64>,
    /// The account's switches at the time (token limit, login rejection, plant faults).
    pub faults: Faults,
    /// The account's plant-list latch, for plant-list requests (set by `Account::begin`).
    pub latch: Option<Arc<Latch>>,
}

impl Plan {
    /// Whether [`Plan::preflight`] will answer with the rate-limit signal (it fired and no
    /// HTTP error comes first), so the account can count it when the request is counted.
    pub(crate) fn sends_rate_limit(&self) -> bool {
        self.rate_limited && self.http_error.is_none()
    }

    /// The latch (plant-list requests wait here while the test holds the account), then
    /// latency, then the HTTP error or the rate-limit signal (built by `rate_limit`) if they
    /// fire. `None` means: go on with the auth checks and normal handling. Both signals are
    /// final and get no body faults.
    pub(crate) async fn preflight(&self, rate_limit: impl FnOnce() -> Reply) -> Option<Response> {
        if let Some(latch) = &self.latch {
            latch.pass().await;
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if let Some(status) = self.http_error {
            return Some(html_error(status));
        }
        if self.rate_limited {
            return Some(rate_limit().into_response(false));
        }
        None
    }

    /// Renders `reply` with the body faults of this request (mutation, truncation, slow
    /// body).
    pub(crate) fn finish(&self, reply: Reply) -> Response {
        let mut response = reply.render(self.truncate, self.mutate);
        if let Some(delay) = self.slow_body {
            response.extensions_mut().insert(SlowBody(delay));
        }
        response
    }
}

/// What a reply carries: JSON for normal answers; plain text or nothing for the answers
/// some vendors send outside their JSON format (SolarEdge 400/403, an empty 429).
#[derive(Debug, Clone)]
enum Payload {
    /// A JSON document (`application/json`).
    Json(Value),
    /// Plain text (`text/plain`).
    Text(String),
    /// No body and no content type.
    Empty,
}

/// An answer before the body faults are applied.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: StatusCode,
    payload: Payload,
    retry_after: Option<u32>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// HTTP 200 with `body`.
    pub(crate) fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    /// `status` with `body`.
    pub(crate) fn with_status(status: StatusCode, body: Value) -> Self {
        Self { status, payload: Payload::Json(body), retry_after: None, headers: Vec::new() }
    }

    /// `status` with a plain-text body.
    pub(crate) fn text(status: StatusCode, text: &str) -> Self {
        Self {
            status,
            payload: Payload::Text(text.to_owned()),
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// `status` with an empty body (SolarEdge's 429).
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self { status, payload: Payload::Empty, retry_after: None, headers: Vec::new() }
    }

    /// Adds a `Retry-After` header (seconds).
    pub(crate) fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds a response header; a value that is not valid header text is left out (the
    /// simulator only ever passes tokens and fixed text).
    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// The HTTP response; `truncate` keeps only the first half of the body bytes (with the
    /// content type still claimed).
    pub(crate) fn into_response(self, truncate: bool) -> Response {
        self.render(truncate, None)
    }

    /// [`Reply::into_response`], a JSON body first spoiled by the mutations of `mutate`
    /// ([`super::mutate::mutate`]).
    fn render(self, truncate: bool, mutate: Option<u64>) -> Response {
        let (mut bytes, content_type) = match self.payload {
            Payload::Json(body) => {
                let bytes = match mutate {
                    Some(seed) => super::mutate::mutate(&body, seed).bytes,
                    None => serde_json::to_vec(&body).unwrap_or_default(),
                };
                (bytes, Some("application/json"))
            }
            Payload::Text(text) => (text.into_bytes(), Some("text/plain; charset=utf-8")),
            Payload::Empty => (Vec::new(), None),
        };
        if truncate {
            bytes.truncate(bytes.len() / 2);
        }
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// What a gateway in front of the portal sends when it fails: an HTML page, not JSON.
fn html_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_server_error() || s.is_client_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let mut response =
        Response::new(Body::from(format!("<html><body><h1>{title}</h1></body></html>")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// The positions (into the current listing of `len` plants) that plant-list page `page`
/// (1-based) of `size` shows, after the paging faults.
pub(crate) fn plant_page(faults: &Faults, len: usize, page: u64, size: usize) -> Range<usize> {
    let page = if faults.ignore_paging { 1 } else { page.max(1) };
    if faults.empty_pages_from.is_some_and(|from| page >= u64::from(from.max(1))) {
        return 0..0;
    }
    let before = usize::try_from(page - 1).unwrap_or(usize::MAX);
    // With duplicates, each page after the first starts with the previous page's last
    // plant, so pages advance by `size - 1`.
    let stride = if faults.duplicate_ids_across_pages { size.saturating_sub(1) } else { size };
    let mut start = before.saturating_mul(stride);
    if faults.row_inserted_while_paging && page >= 2 {
        // A plant added at the top pushed every row one place down.
        start = start.saturating_sub(1);
    }
    let start = start.min(len);
    start..start.saturating_add(size).min(len)
}

/// The number of plants plant-list page `page` (1-based) reports in the whole list of
/// `len`: one more from page 2 on when a plant was added while paging.
pub(crate) fn plant_total(faults: &Faults, len: usize, page: u64) -> usize {
    if faults.row_inserted_while_paging && page >= 2 { len + 1 } else { len }
}

/// [`plant_total`] for a request from the 0-based record offset `start` (SolarEdge).
pub(crate) fn offset_total(faults: &Faults, len: usize, start: usize, size: usize) -> usize {
    let page = u64::try_from(start / size.max(1)).unwrap_or(u64::MAX).saturating_add(1);
    plant_total(faults, len, page)
}

/// The positions that a plant-list request for `size` records from the 0-based record
/// offset `start` shows (SolarEdge's `startIndex`). The paging faults act on page
/// `start / size + 1`: past `empty_pages_from` the page is empty, and with duplicates the
/// page is the page-numbered one (starting with the previous page's last plant).
pub(crate) fn offset_page(faults: &Faults, len: usize, start: usize, size: usize) -> Range<usize> {
    if faults.ignore_paging {
        return 0..size.min(len);
    }
    let page = u64::try_from(start / size.max(1)).unwrap_or(u64::MAX).saturating_add(1);
    if faults.duplicate_ids_across_pages || faults.empty_pages_from.is_some() {
        let paged = plant_page(faults, len, page, size);
        if faults.duplicate_ids_across_pages || paged.is_empty() {
            return paged;
        }
    }
    // A plant added at the top after the first page pushed every later offset one down.
    let start =
        if faults.row_inserted_while_paging && start >= size.max(1) { start - 1 } else { start };
    let start = start.min(len);
    start..start.saturating_add(size).min(len)
}

/// How many pages of `size` a client must fetch to see all `len` plants, paging faults
/// included: with duplicates each page after the first brings only `size - 1` new plants.
/// (FusionSolar's `pageCount`.)
pub(crate) fn page_count(faults: &Faults, len: usize, size: usize) -> usize {
    let size = size.max(1);
    if len <= size {
        return usize::from(len > 0);
    }
    let stride = if faults.duplicate_ids_across_pages { size - 1 } else { size };
    if stride == 0 {
        // Pages of one plant that never advance: as many pages as plants, for a number.
        return len;
    }
    1 + (len - size).div_ceil(stride)
}

/// Applies the per-plant faults to a rendered plant: `wrong_type_plant` turns the capacity
/// into `true`, `missing_field_plant` drops the id, `implausible_plant` sends a capacity of
/// 1e308 (in a `{unit, value}` reading, its value), `huge_text_plant` a megabyte of name,
/// `huge_value_plant` a megabyte of text as the capacity.
pub(crate) fn mangle_plant(
    faults: &Faults,
    plant_index: usize,
    item: &mut Map<String, Value>,
    (id_key, name_key, capacity_key): (&str, &str, &str),
) {
    if faults.huge_text_plant == Some(plant_index) {
        // A megabyte of name with a NUL and an escape sequence in it.
        let name = format!("{}\u{0}\u{1b}[2J{}", "N".repeat(1 << 19), "M".repeat(1 << 19));
        item.insert(name_key.to_owned(), Value::String(name));
    }
    if faults.huge_value_plant == Some(plant_index) {
        // A megabyte of text where the capacity's number belongs: the row is unreadable,
        // and its reason must not quote it.
        item.insert(
            capacity_key.to_owned(),
            Value::String(format!("{}\u{0}", "9x".repeat(1 << 19))),
        );
    }
    if faults.wrong_type_plant == Some(plant_index) {
        item.insert(capacity_key.to_owned(), Value::Bool(true));
    }
    if faults.missing_field_plant == Some(plant_index) {
        item.remove(id_key);
    }
    if faults.implausible_plant == Some(plant_index) {
        let huge = serde_json::json!(1e308);
        match item.get_mut(capacity_key) {
            Some(Value::Object(reading)) => {
                reading.insert("value".to_owned(), Value::String("1e308".into()));
            }
            Some(Value::String(_)) => {
                item.insert(capacity_key.to_owned(), Value::String("1e308".into()));
            }
            _ => {
                item.insert(capacity_key.to_owned(), huge);
            }
        }
    }
}

/// Reads a paging number that clients send as a number or a numeric string.
pub(crate) fn number_field(body: &Value, key: &str) -> Option<u64> {
    match body.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a signed number (timestamps) sent as a number or a numeric string.
pub(crate) fn signed_field(body: &Value, key: &str) -> Option<i64> {
    match body.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a text field, accepting numbers as their decimal text.
pub(crate) fn text_field(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Page number and size of a request (`page_key`, `size`), with defaults and a cap.
pub(crate) fn paging(body: &Value, page_key: &str, default_size: u64, cap: u64) -> (u64, usize) {
    let page = number_field(body, page_key).unwrap_or(1).max(1);
    let size = number_field(body, "size").filter(|&s| s > 0).unwrap_or(default_size).min(cap);
    (page, usize::try_from(size).unwrap_or(usize::MAX))
}

/// The items of page `page` of a paged sub-list (devices, alerts, faults) after the paging
/// faults: with `ignore_paging` every request gets the first page.
pub(crate) fn list_page<T: Clone>(faults: &Faults, items: &[T], page: u64, size: usize) -> Vec<T> {
    page_of(items, if faults.ignore_paging { 1 } else { page }, size)
}

/// The items of page `page` of `items` with page size `size`.
pub(crate) fn page_of<T: Clone>(items: &[T], page: u64, size: usize) -> Vec<T> {
    let skip = usize::try_from(page.saturating_sub(1)).unwrap_or(usize::MAX).saturating_mul(size);
    items.iter().skip(skip).take(size).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_for(faults: Faults, requests: &[Endpoint]) -> Vec<Plan> {
        let mut state = FaultState::new(faults);
        requests.iter().map(|&e| state.plan(e)).collect()
    }

    #[test]
    fn triggers_count_per_endpoint_or_overall() {
        use Endpoint::*;
        let faults = Faults {
            rate_limit: Some(Trigger::once(Some(PlantList), 2)),
            truncated_json: Some(Trigger::from(None, 3)),
            http_error: Some((502, Trigger::always(Some(Alerts)))),
            ..Faults::none()
        };
        let plans = plan_for(faults, &[PlantList, Login, PlantList, PlantList, Alerts]);
        let limited: Vec<bool> = plans.iter().map(|p| p.rate_limited).collect();
        assert_eq!(limited, [false, false, true, false, false]);
        let truncated: Vec<bool> = plans.iter().map(|p| p.truncate).collect();
        assert_eq!(truncated, [false, false, true, true, true]);
        let errors: Vec<Option<u16>> = plans.iter().map(|p| p.http_error).collect();
        assert_eq!(errors, [None, None, None, None, Some(502)]);
    }

    #[test]
    fn trigger_windows() {
        let t = Trigger { endpoint: None, nth: 2, times: 2 };
        let fired: Vec<bool> = (1..=5).map(|c| t.fires_at(c)).collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert!(Trigger::always(None).fires_at(1) && Trigger::always(None).fires_at(u64::MAX));
        assert!(!Trigger::once(None, 3).fires_at(4));
        assert!(Trigger { endpoint: None, nth: 0, times: 1 }.fires_at(1));
    }

    #[test]
    fn ignored_paging_always_answers_the_first_page() {
        let ignoring = Faults { ignore_paging: true, ..Faults::none() };
        assert_eq!(plant_page(&ignoring, 25, 3, 10), 0..10);
        assert_eq!(offset_page(&ignoring, 25, 20, 10), 0..10);
        assert_eq!(offset_page(&ignoring, 5, 20, 10), 0..5);
    }

    #[test]
    fn paging_faults() {
        let none = Faults::none();
        assert_eq!(plant_page(&none, 25, 1, 10), 0..10);
        assert_eq!(plant_page(&none, 25, 3, 10), 20..25);
        assert_eq!(plant_page(&none, 25, 4, 10), 25..25);
        let dup = Faults { duplicate_ids_across_pages: true, ..Faults::none() };
        assert_eq!(plant_page(&dup, 25, 1, 10), 0..10);
        assert_eq!(plant_page(&dup, 25, 2, 10), 9..19);
        assert_eq!(plant_page(&dup, 25, 3, 10), 18..25);
        let empty = Faults { empty_pages_from: Some(2), ..Faults::none() };
        assert_eq!(plant_page(&empty, 25, 1, 10), 0..10);
        assert_eq!(plant_page(&empty, 25, 2, 10), 0..0);
        // A plant added at the top after page 1: later pages start one row back, and the
        // total they report is one more.
        let inserted = Faults { row_inserted_while_paging: true, ..Faults::none() };
        assert_eq!(plant_page(&inserted, 25, 1, 10), 0..10);
        assert_eq!(plant_page(&inserted, 25, 2, 10), 9..19);
        assert_eq!(plant_page(&inserted, 25, 3, 10), 19..25);
        assert_eq!((plant_total(&inserted, 25, 1), plant_total(&inserted, 25, 2)), (25, 26));
        assert_eq!(offset_page(&inserted, 25, 0, 10), 0..10);
        assert_eq!(offset_page(&inserted, 25, 10, 10), 9..19);
        assert_eq!(
            (offset_total(&inserted, 25, 0, 10), offset_total(&inserted, 25, 10, 10)),
            (25, 26)
        );
    }

    #[test]
    fn offset_paging_and_page_counts() {
        let none = Faults::none();
        assert_eq!(offset_page(&none, 25, 0, 10), 0..10);
        assert_eq!(offset_page(&none, 25, 7, 10), 7..17);
        assert_eq!(offset_page(&none, 25, 20, 10), 20..25);
        assert_eq!(offset_page(&none, 25, 30, 10), 25..25);
        let dup = Faults { duplicate_ids_across_pages: true, ..Faults::none() };
        assert_eq!(offset_page(&dup, 25, 10, 10), 9..19);
        let empty = Faults { empty_pages_from: Some(2), ..Faults::none() };
        assert_eq!(offset_page(&empty, 25, 5, 10), 5..15);
        assert_eq!(offset_page(&empty, 25, 10, 10), 0..0);

        assert_eq!(page_count(&none, 0, 10), 0);
        assert_eq!(page_count(&none, 10, 10), 1);
        assert_eq!(page_count(&none, 25, 10), 3);
        assert_eq!(page_count(&dup, 25, 10), 3);
        assert_eq!(page_count(&dup, 28, 10), 3);
        assert_eq!(page_count(&dup, 29, 10), 4);
        assert_eq!(page_count(&dup, 3, 1), 3);
    }

    #[test]
    fn lenient_request_fields() {
        let body = serde_json::json!({"page": "2", "size": 500, "ts": 1.7e9, "id": 42});
        assert_eq!(paging(&body, "page", 20, 100), (2, 100));
        assert_eq!(paging(&serde_json::json!({}), "page", 20, 100), (1, 20));
        assert_eq!(signed_field(&body, "ts"), Some(1_700_000_000));
        assert_eq!(text_field(&body, "id").as_deref(), Some("42"));
        assert_eq!(page_of(&[1, 2, 3, 4, 5], 2, 2), [3, 4]);
        let ignoring = Faults { ignore_paging: true, ..Faults::none() };
        assert_eq!(list_page(&ignoring, &[1, 2, 3, 4, 5], 2, 2), [1, 2]);
        assert_eq!(list_page(&Faults::none(), &[1, 2, 3, 4, 5], 3, 2), [5]);
    }
}
