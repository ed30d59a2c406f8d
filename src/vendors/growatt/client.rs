//! Growatt requests: GET with the static API token in the `token` header, at most
//! [`GROWATT_MAX_CONCURRENT`] in flight per process, and the `error_code` envelope read on
//! every answer.

use super::wire::Envelope;
use crate::domain::{Credentials, Secret};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};
use std::time::Duration;

/// The international host (vendor-apis.md §5.1); `openapi-cn` and `openapi-us` are the
/// regional ones.
pub(super) const DEFAULT_BASE_URL: &str = "https://openapi.growatt.com";

/// Integrators report about a minute between detail calls before `10012` clears (§5.4).
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Classifies a non-zero `error_code`; `wait` is how long a rate limit asks to wait.
pub(super) fn classify(code: i64, message: &str, wait: Duration) -> VendorError {
    // The portal's words, quoted bounded and escaped (see `domain::text`).
    let text = format!(
        "Growatt error_code {code}: {}",
        crate::domain::text::excerpt(message, crate::domain::text::ERROR_PART_CHARS)
    );
    match code {
        10011 => VendorError::CredentialsRejected(format!(
            "{text}: the API token is invalid or not allowed from this network; check it with \
             `plantsync vendor set`"
        )),
        // 100 and 102 are the "New API"'s interval and frequency limits (§5.4).
        10012 | 100 | 102 => VendorError::RateLimited { message: text, retry_after: Some(wait) },
        // The "New API"'s "no permission" (§5.4); v1 tokens have been seen to answer it too.
        101 => VendorError::NoPermission(format!(
            "{text}: the API token has no permission for this call"
        )),
        _ if code == -1 || message.to_ascii_lowercase().contains("new domain") => {
            VendorError::Permanent(format!(
                "{text}: this Growatt host is retired; set the vendor's base URL to \
                 https://openapi.growatt.com (or https://openapi-cn.growatt.com, \
                 https://openapi-us.growatt.com) with `plantsync vendor set <vendor> --base-url \
                 <URL>`"
            ))
        }
        _ => VendorError::Permanent(text),
    }
}

/// The HTTP side of the adapter.
pub(super) struct Client {
    pub base: String,
    pub credentials: Credentials,
    pub http: Http,
}

impl Client {
    /// `GET {base}{path}?{query}` with the token header, holding one of the process's
    /// Growatt permits while it is in flight; status and envelope checked.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response, VendorError> {
        let token = self.credentials.api_key.as_ref().map_or("", Secret::expose);
        let request = self
            .http
            .client()
            .get(format!("{}{path}", self.base))
            .query(query)
            .header("token", token);
        let response = {
            // Every Growatt call of the process, over all accounts, holds one of
            // `GROWATT_MAX_CONCURRENT` places (IP blocks lasting days, §5.4).
            let _permit = self.http.source_permit(crate::domain::VendorKind::Growatt).await?;
            self.http.send(request).await?
        };
        if let Some(error) = response.classify_status() {
            return Err(match error {
                VendorError::TokenExpired(_) => classify(10011, "HTTP 401", RATE_LIMIT_WAIT),
                other => other,
            });
        }
        let envelope: Envelope = response.parse("Growatt response")?;
        match envelope.error_code {
            Some(0) => Ok(response),
            Some(code) => Err(classify(
                code,
                envelope.error_msg.as_deref().unwrap_or("no message"),
                RATE_LIMIT_WAIT.mul_f64(self.http.min_interval_scale()),
            )),
            None => Err(VendorError::Malformed("Growatt response without error_code".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_classified() {
        let wait = Duration::from_secs(60);
        assert!(matches!(
            classify(10011, "error_permission_denied", wait),
            VendorError::CredentialsRejected(_)
        ));
        assert_eq!(
            classify(10012, "error_frequently_access", wait),
            VendorError::RateLimited {
                message: "Growatt error_code 10012: error_frequently_access".into(),
                retry_after: Some(wait),
            }
        );
        let fixture = std::fs::read_to_string(format!(
            "{}/tests/fixtures/growatt/error_retired_domain.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let envelope: Envelope = serde_json::from_str(&fixture).unwrap();
        let retired =
            classify(envelope.error_code.unwrap(), envelope.error_msg.as_deref().unwrap(), wait)
                .to_string();
        assert!(
            retired.contains("--base-url") && retired.contains("openapi.growatt.com"),
            "{retired}"
        );
        assert!(matches!(classify(10002, "perpage", wait), VendorError::Permanent(_)));
        assert!(matches!(classify(101, "no permission", wait), VendorError::NoPermission(_)));
        assert!(matches!(classify(102, "frequency", wait), VendorError::RateLimited { .. }));
    }
}
