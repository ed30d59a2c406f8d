//! SolarEdge requests: GET with the `api_key` query parameter (v1) or the `X-API-Key`
//! header (v2), at most three in flight per process.

use crate::domain::{Credentials, Secret};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};
use tokio::sync::Semaphore;

/// The one global host (vendor-apis.md §3.1).
pub(super) const DEFAULT_BASE_URL: &str = "https://monitoringapi.solaredge.com";

/// SolarEdge refuses a fourth concurrent call from one source IP with HTTP 429 (§3.2), so
/// every SolarEdge call of this process, over all accounts, takes one of three permits.
static IN_FLIGHT: Semaphore = Semaphore::const_new(3);

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
        self.send(request).await
    }

    /// `GET {base}/v2{path}` with the key in `X-API-Key`.
    pub async fn get_v2(&self, path: &str) -> Result<Response, VendorError> {
        let request = self
            .http
            .client()
            .get(format!("{}/v2{path}", self.base))
            .header("X-API-Key", self.key());
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, VendorError> {
        let _permit = IN_FLIGHT
            .acquire()
            .await
            .map_err(|_| VendorError::Transient("the SolarEdge call limiter is closed".into()))?;
        let response = self.http.send(request).await?;
        match response.status {
            // v1 answers an invalid or unauthorised key with 403; the key is static.
            403 => Err(VendorError::CredentialsRejected(
                "SolarEdge answered HTTP 403: the API key is invalid or lacks access; enter it \
                 again with `plantsync vendor set <vendor> --api-key`"
                    .into(),
            )),
            400 => Err(VendorError::Permanent("SolarEdge answered HTTP 400 (bad request)".into())),
            _ => match response.classify_status() {
                Some(error) => Err(error),
                None => Ok(response),
            },
        }
    }
}
