//! SolarEdge requests: GET with the `api_key` query parameter (v1) or the `X-API-Key`
//! header (v2), at most three in flight per process.

use crate::domain::{Credentials, Secret};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};

/// The one global host (vendor-apis.md §3.1).
pub(super) const DEFAULT_BASE_URL: &str = "https://monitoringapi.solaredge.com";

/// The HTTP side of the adapter.
pub(super) struct Client {
    pub base: String,
    pub credentials: Credentials,
    pub http: Http,
}

impl Client {
    fn key(&self) -> &str {
        self.credentials.api_key.as_ref().map_or("", Secret::expose)
    }

    /// `GET {base}{path}?{query}&api_key=…`, status checked. Errors never carry the URL,
    /// which holds the key.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response, VendorError> {
        let request = self
            .http
            .client()
            .get(format!("{}{path}", self.base))
            .query(query)
            .query(&[("api_key", self.key())]);
        self.send(request, Api::V1).await
    }

    /// `GET {base}/v2{path}` with the key in `X-API-Key`.
    pub async fn get_v2(&self, path: &str) -> Result<Response, VendorError> {
        let request = self
            .http
            .client()
            .get(format!("{}/v2{path}", self.base))
            .header("X-API-Key", self.key());
        self.send(request, Api::V2).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        api: Api,
    ) -> Result<Response, VendorError> {
        // SolarEdge refuses a fourth concurrent call from one source IP (§3.2): every
        // SolarEdge call of the process, over all accounts, holds one of three places.
        let _permit = self.http.source_permit(crate::domain::VendorKind::SolarEdge).await?;
        let response = self.http.send(request).await?;
        match classify(api, &response, self.key()) {
            Some(error) => Err(error),
            None => Ok(response),
        }
    }
}

/// Which of SolarEdge's APIs a call went to: their refusals mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// The v1 Monitoring API (`api_key` query parameter).
    V1,
    /// The v2 API (`X-API-Key` header), which v1 keys may lack.
    V2,
}

/// The longest body text kept of what the portal said with a 429.
const SAID_MAX_CHARS: usize = 200;

/// What SolarEdge said with a 429, for `status`: the status line and, when the body is
/// short plain text, the text with the key taken out (a portal or proxy may echo the
/// request URL, whose query holds the key); an HTML page or an empty body is named, not
/// quoted.
fn portal_said(response: &Response, key: &str) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let text = text.trim();
    let body = if text.is_empty() {
        "an empty body".to_owned()
    } else if text.starts_with('<') {
        "an HTML page".to_owned()
    } else if text.chars().count() > SAID_MAX_CHARS || text.chars().any(char::is_control) {
        format!("a body of {} bytes", response.body.len())
    } else {
        let mut said = text.to_owned();
        if !key.is_empty() {
            let encoded = percent_encoded(key);
            for form in [key, encoded.as_str(), encoded.to_ascii_lowercase().as_str()] {
                said = said.replace(form, "**REDACTED**");
            }
        }
        format!("\"{said}\"")
    };
    format!("SolarEdge answered HTTP 429 Too Many Requests ({body})")
}

/// `text` as a query string carries it (every byte but the unreserved ones as `%XX`).
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The error a response is, if any. v1 answers an invalid or unauthorised key with 403
/// (the key is static: the user must enter it again); the v2 API answers a key without v2
/// access with 403 (or 404 where the account has no v2 at all), which says nothing about
/// the key's v1 use. A 429 is the daily quota spent (plantsync keeps SolarEdge's calls
/// within its three per IP, so the portal refusing one means the key's day is used up,
/// by us or by another client of the key): [`VendorError::QuotaSpent`], never retried.
fn classify(api: Api, response: &Response, key: &str) -> Option<VendorError> {
    match (api, response.status) {
        (_, 429) => Some(VendorError::QuotaSpent(portal_said(response, key))),
        (Api::V1, 403) => Some(VendorError::CredentialsRejected(
            "SolarEdge answered HTTP 403: the API key is invalid or lacks access; enter it \
             again with `plantsync vendor set <vendor> --api-key`"
                .into(),
        )),
        (Api::V2, status @ (403 | 404)) => Some(VendorError::NoPermission(format!(
            "SolarEdge answered HTTP {status} to the v2 API: this API key has no v2 access"
        ))),
        (_, 400) => {
            Some(VendorError::Permanent("SolarEdge answered HTTP 400 (bad request)".into()))
        }
        _ => response.classify_status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_mean_what_the_api_means() {
        let response =
            |status| Response { status, retry_after: None, headers: vec![], body: vec![] };
        let classify = |api, response: &Response| classify(api, response, "KEY");
        assert!(matches!(
            classify(Api::V1, &response(403)),
            Some(VendorError::CredentialsRejected(_))
        ));
        for status in [403, 404] {
            assert!(matches!(
                classify(Api::V2, &response(status)),
                Some(VendorError::NoPermission(_))
            ));
        }
        assert!(matches!(classify(Api::V1, &response(404)), Some(VendorError::Permanent(_))));
        assert!(matches!(classify(Api::V2, &response(400)), Some(VendorError::Permanent(_))));
        for api in [Api::V1, Api::V2] {
            assert_eq!(
                classify(api, &response(429)),
                Some(VendorError::QuotaSpent(
                    "SolarEdge answered HTTP 429 Too Many Requests (an empty body)".into()
                ))
            );
        }
        assert_eq!(classify(Api::V2, &response(200)), None);
    }

    #[test]
    fn what_the_portal_said_never_carries_the_key() {
        let key = "ABC+DEF/123";
        let said = |body: &str| {
            let response =
                Response { status: 429, retry_after: None, headers: vec![], body: body.into() };
            portal_said(&response, key)
        };
        let echoed =
            said("Too many requests for /sites/list?api_key=ABC%2BDEF%2F123 (ABC+DEF/123)");
        assert_eq!(
            echoed,
            "SolarEdge answered HTTP 429 Too Many Requests (\"Too many requests for \
             /sites/list?api_key=**REDACTED** (**REDACTED**)\")"
        );
        assert!(said("<html><body>429 ABC+DEF/123</body></html>").ends_with("(an HTML page)"));
        let long = format!("{} {key}", "x".repeat(300));
        assert!(!said(&long).contains(key), "a long body is not quoted");
        assert!(said("Daily limit\nexceeded").ends_with("(a body of 20 bytes)"));
    }
}
