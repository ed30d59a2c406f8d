//! The shared HTTP client: timeouts, user agent, status classification, the retry policy.

use super::VendorError;
use super::concurrency::PortalConcurrency;
use std::sync::{Arc, Once};
use std::time::Duration;

/// Timeouts and retries of vendor calls.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// Whole-request timeout (reference clients use 20-30 s).
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Retries of transient errors and rate limits.
    pub retry: RetryPolicy,
    /// Multiplies the portals' minimum intervals between calls (FusionSolar's 15 s between
    /// logins, 300 s between station listings...). 1.0 in production; tests shrink it.
    pub min_interval_scale: f64,
    /// Per-plant calls of one account in flight at once, per portal.
    pub concurrency: PortalConcurrency,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            min_interval_scale: 1.0,
            concurrency: PortalConcurrency::default(),
        }
    }
}

/// Capped exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry (doubled each time).
    pub base_delay: Duration,
    /// Cap of the computed delay.
    pub max_delay: Duration,
    /// Cap of a vendor's `Retry-After` (a vendor asking for an hour fails the call instead).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based) after `error`, or `None` when the
    /// vendor asked for longer than [`RetryPolicy::max_retry_after`].
    pub fn delay(&self, retry: u32, error: &VendorError) -> Option<Duration> {
        if let VendorError::RateLimited { retry_after: Some(wait), .. } = error {
            return (*wait <= self.max_retry_after).then_some(*wait);
        }
        let exponential = self.base_delay.saturating_mul(1 << retry.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        // Full jitter: anywhere in [capped/2, capped], so agents do not retry in lockstep.
        Some(capped / 2 + jitter(capped / 2))
    }
}

/// A pseudo-random duration in `[0, max]`; quality is irrelevant, spread is the point.
pub fn jitter(max: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let max_nanos = max.as_nanos() as u64;
    if max_nanos == 0 { Duration::ZERO } else { Duration::from_nanos(x % (max_nanos + 1)) }
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, when sent.
    pub retry_after: Option<Duration>,
    /// Selected headers (lower-case names) adapters need, e.g. `xsrf-token`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Parses the body as JSON. The error describes where parsing failed and never quotes
    /// the body (it may hold a token).
    pub fn json(&self) -> Result<serde_json::Value, VendorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            VendorError::Malformed(format!(
                "{} body of {} bytes is not valid JSON ({})",
                content_hint(&self.body),
                self.body.len(),
                crate::domain::text::json_error(&e)
            ))
        })
    }

    /// Parses the body into `T`; `what` names the call in the error, which never quotes the
    /// body beyond the decoder's bounded, escaped excerpt ([`crate::domain::text::json_error`]):
    /// a value of the wrong type may be a megabyte with a NUL in it.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, VendorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            VendorError::Malformed(format!(
                "{}: {} body of {} bytes could not be read ({})",
                crate::domain::text::excerpt(what, crate::domain::text::ERROR_PART_CHARS),
                content_hint(&self.body),
                self.body.len(),
                crate::domain::text::json_error(&e)
            ))
        })
    }

    /// The common meaning of the status before the envelope is read: 429 is a rate limit,
    /// 5xx transient, 401 an expired token, other 4xx permanent. `None` means "read the
    /// envelope".
    pub fn classify_status(&self) -> Option<VendorError> {
        match self.status {
            200..=299 => None,
            429 => Some(VendorError::RateLimited {
                message: "HTTP 429 Too Many Requests".into(),
                retry_after: self.retry_after,
            }),
            401 => Some(VendorError::TokenExpired("HTTP 401".into())),
            300..=399 => Some(VendorError::Permanent(format!(
                "HTTP {} redirect: the portal has moved; set the vendor's base URL to its new \
                 host with `plantsync vendor set <vendor> --base-url <URL>`",
                self.status
            ))),
            500..=599 => Some(VendorError::Transient(format!(
                "HTTP {} from the vendor ({} body)",
                self.status,
                content_hint(&self.body)
            ))),
            403 => Some(VendorError::Permanent(
                "HTTP 403 Forbidden: the account lacks permission for this call".into(),
            )),
            404 => Some(VendorError::Permanent(
                "HTTP 404 Not Found: check the vendor's base URL".into(),
            )),
            other => Some(VendorError::Permanent(format!("unexpected HTTP {other}"))),
        }
    }
}

fn content_hint(body: &[u8]) -> &'static str {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &body[i..]);
    if start.is_empty() {
        "an empty"
    } else if start.starts_with(b"<") {
        "an HTML"
    } else if start.starts_with(b"{") || start.starts_with(b"[") {
        "a JSON"
    } else {
        "a non-JSON"
    }
}

/// The HTTP client every adapter uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    settings: HttpSettings,
    per_source: Arc<PerSource>,
}

/// Calls in flight from this machine, for portals that limit them per source address: held
/// by the one `Http` of a process (the engine's, shared by all its clones), so every
/// account's calls count together; a test's engine has its own.
#[derive(Debug)]
struct PerSource {
    /// SolarEdge refuses a fourth concurrent call from one source IP with HTTP 429 (§3.2).
    solaredge: tokio::sync::Semaphore,
    /// Hammering Growatt has led to IP blocks lasting days (§5.4).
    growatt: tokio::sync::Semaphore,
}

static CRYPTO_PROVIDER: Once = Once::new();

/// Installs the ring TLS provider once per process; every reqwest client needs it first.
pub fn install_crypto_provider() {
    CRYPTO_PROVIDER.call_once(|| {
        // Fails only when another provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A plain client for plantsync's own calls (the agent's API, notification webhooks).
pub fn plain_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    #[allow(clippy::disallowed_methods)] // built here, with a timeout
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("plantsync/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Http {
    /// A client with `settings`. Installs the ring TLS provider on first use.
    pub fn new(settings: HttpSettings) -> Result<Self, VendorError> {
        install_crypto_provider();
        #[allow(clippy::disallowed_methods)] // the one place a client is built
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("plantsync/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(8)
            // A redirect would carry the API key (a query parameter or a custom header,
            // which reqwest does not strip) to another host: a moved portal is an error that
            // names the setting to change instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| VendorError::Permanent(format!("cannot build the HTTP client: {e}")))?;
        let per_source = Arc::new(PerSource {
            solaredge: tokio::sync::Semaphore::new(super::concurrency::SOLAREDGE_MAX_CONCURRENT),
            growatt: tokio::sync::Semaphore::new(super::concurrency::GROWATT_MAX_CONCURRENT),
        });
        Ok(Self { client, settings, per_source })
    }

    /// A place among the calls this machine may have in flight to `kind`, for portals that
    /// limit them per source address (SolarEdge, Growatt); `None` for the others. Hold it
    /// for the length of the request.
    pub async fn source_permit(
        &self,
        kind: crate::domain::VendorKind,
    ) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, VendorError> {
        let semaphore = match kind {
            crate::domain::VendorKind::SolarEdge => &self.per_source.solaredge,
            crate::domain::VendorKind::Growatt => &self.per_source.growatt,
            _ => return Ok(None),
        };
        semaphore.acquire().await.map(Some).map_err(|_| {
            VendorError::Transient(format!("the {} call limiter is closed", kind.display_name()))
        })
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The retry policy.
    pub fn retry(&self) -> RetryPolicy {
        self.settings.retry
    }

    /// The factor applied to portals' minimum intervals.
    pub fn min_interval_scale(&self) -> f64 {
        self.settings.min_interval_scale
    }

    /// Per-plant calls of one account in flight at once, per portal.
    pub fn concurrency(&self) -> PortalConcurrency {
        self.settings.concurrency
    }

    /// Sends `request` and reads the whole body. Network failures and timeouts are
    /// transient; error texts never include the URL (it may carry an API key).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, VendorError> {
        let response = request.send().await.map_err(network_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let headers = ["xsrf-token", "set-cookie"]
            .iter()
            .flat_map(|name| {
                response.headers().get_all(*name).iter().filter_map(|v| {
                    v.to_str().ok().map(|text| ((*name).to_owned(), text.to_owned()))
                })
            })
            .collect();
        let body = response.bytes().await.map_err(network_error)?.to_vec();
        Ok(Response { status, retry_after, headers, body })
    }
}

fn network_error(error: reqwest::Error) -> VendorError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "failed while reading the body"
    } else {
        "failed"
    };
    // A connection that could not be made never sent the request. Any timeout stays a
    // timeout: whether the request left is not known, so it counts as sent.
    let unreachable = error.is_connect() && !error.is_timeout();
    let detail = error.without_url();
    let said = format!("request {kind}: {detail}");
    if unreachable { VendorError::Unreachable(said) } else { VendorError::Transient(said) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A megabyte where a number belongs (found by the Solarman fuzz tests, seed
    /// 6653364133260691265, a realtime reply): the error is short and escaped.
    #[test]
    fn a_decoder_error_is_bounded_and_escaped() {
        let body = format!("{{\"n\": \"{}\\u001b[2J\"}}", "9".repeat(1 << 20)).into_bytes();
        let response = Response { status: 200, retry_after: None, headers: Vec::new(), body };
        #[derive(Debug, serde::Deserialize)]
        struct Reading {
            #[allow(dead_code)]
            n: f64,
        }
        for error in [
            response.parse::<Reading>("Solarman realtime").unwrap_err().to_string(),
            Response { body: b"{\"a\": \"\\u0000".to_vec(), ..response.clone() }
                .json()
                .unwrap_err()
                .to_string(),
        ] {
            assert!(error.chars().count() <= 500, "{} chars", error.chars().count());
            assert!(!error.chars().any(char::is_control), "{error}");
        }
        let error = response.parse::<Reading>("Solarman realtime").unwrap_err().to_string();
        assert!(error.contains("expected f64"), "{error}");
    }

    #[test]
    fn backoff_is_capped_jittered_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(60),
        };
        let transient = VendorError::Transient("x".into());
        for retry in 1..=6 {
            let delay = policy.delay(retry, &transient).unwrap();
            let expected = Duration::from_secs(1 << (retry - 1)).min(Duration::from_secs(4));
            assert!(delay >= expected / 2 && delay <= expected, "retry {retry}: {delay:?}");
        }
        let limited = |secs| VendorError::RateLimited {
            message: "x".into(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(policy.delay(1, &limited(7)), Some(Duration::from_secs(7)));
        assert_eq!(policy.delay(1, &limited(3600)), None);
    }

    #[test]
    fn status_classification() {
        let response = |status, body: &str| Response {
            status,
            retry_after: None,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        assert!(response(200, "{}").classify_status().is_none());
        let html = response(502, "<html><body>Bad Gateway</body></html>").classify_status();
        assert_eq!(
            html,
            Some(VendorError::Transient("HTTP 502 from the vendor (an HTML body)".into()))
        );
        assert!(matches!(
            response(429, "").classify_status(),
            Some(VendorError::RateLimited { .. })
        ));
        assert!(matches!(response(401, "").classify_status(), Some(VendorError::TokenExpired(_))));
        let moved = response(301, "").classify_status().unwrap().to_string();
        assert!(moved.contains("--base-url"), "{moved}");
        let err = response(200, "{\"access_token\":\"SECRET").json().unwrap_err().to_string();
        assert!(!err.contains("SECRET") && err.contains("not valid JSON"), "{err}");
    }
}
