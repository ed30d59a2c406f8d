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
        match classify(api, &response) {
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

/// The error a response is, if any. v1 answers an invalid or unauthorised key with 403
/// (the key is static: the user must enter it again); the v2 API answers a key without v2
/// access with 403 (or 404 where the account has no v2 at all), which says nothing about
/// the key's v1 use.
fn classify(api: Api, response: &Response) -> Option<VendorError> {
    match (api, response.status) {
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
        assert!(matches!(classify(Api::V2, &response(429)), Some(VendorError::RateLimited { .. })));
        assert_eq!(classify(Api::V2, &response(200)), None);
    }
}
