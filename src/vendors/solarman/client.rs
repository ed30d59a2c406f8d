//! Solarman requests: the token call, authenticated POSTs, envelope classification.

use super::wire::{Envelope, TokenResponse};
use crate::domain::{Credentials, Secret, Token};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The international data center (vendor-apis.md §1.1).
pub(super) const DEFAULT_BASE_URL: &str = "https://globalapi.solarmanpv.com";

/// Solarman's "token invalid" code.
const TOKEN_INVALID: &str = "2101019";
/// "Service Currently Unavailable" during migrations and maintenance.
const SERVICE_UNAVAILABLE: &str = "3201001";

/// Classifies a `success:false` envelope.
pub(super) fn classify(envelope: &Envelope) -> VendorError {
    // The portal's words, quoted bounded and escaped (see `domain::text`).
    let code = crate::domain::text::excerpt(envelope.code.as_deref().unwrap_or(""), 64);
    let code = code.as_str();
    let msg = crate::domain::text::excerpt(envelope.msg.as_deref().unwrap_or("no message"), 300);
    let lower = msg.to_ascii_lowercase();
    if code == TOKEN_INVALID || lower.contains("token") {
        VendorError::TokenExpired(format!("Solarman {code}: {msg}"))
    } else if code == SERVICE_UNAVAILABLE || lower.contains("unavailable") {
        VendorError::Transient(format!("Solarman {code}: {msg}"))
    } else if code == "429" || lower.contains("too many") || lower.contains("frequen") {
        VendorError::RateLimited { message: format!("Solarman {code}: {msg}"), retry_after: None }
    } else {
        VendorError::Permanent(format!("Solarman error {code}: {msg}"))
    }
}

/// A `success:false` token reply that says nothing about the credentials: no code and no
/// message (a proxy's or a gateway's stub: malformed), or a server-side failure (a 5xx
/// code, "system error", "internal", "busy": transient). Such a reply is tried again on
/// the next run; only a reply that names a reason refuses the credentials and parks the
/// vendor.
fn not_a_refusal(envelope: &Envelope) -> Option<VendorError> {
    let code = envelope.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let msg = envelope.msg.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let (code, msg) = match (code, msg) {
        (None, None) => {
            return Some(VendorError::Malformed(
                "Solarman's token reply says success:false without a code or a message: not \
                 read as a refusal"
                    .into(),
            ));
        }
        (code, msg) => (code.unwrap_or(""), msg.unwrap_or("")),
    };
    let lower = msg.to_ascii_lowercase();
    let server_side = code.starts_with('5') && code.len() == 3
        || ["system error", "internal", "busy", "unavailable", "timeout"]
            .iter()
            .any(|w| lower.contains(w));
    server_side.then(|| VendorError::Transient(format!("Solarman {code}: {msg}")))
}

/// Checks a response: status first, then the envelope; the caller parses the body.
fn check(response: Response) -> Result<Response, VendorError> {
    if let Some(error) = response.classify_status() {
        return Err(error);
    }
    let envelope: Envelope = response.parse("Solarman response")?;
    if envelope.success == Some(false) {
        return Err(classify(&envelope));
    }
    Ok(response)
}

/// The HTTP side of the adapter.
pub(super) struct Client {
    pub base: String,
    pub credentials: Credentials,
    pub http: Http,
}

impl Client {
    /// `POST /account/v1.0/token?appId=`; the password travels as lowercase SHA-256 hex.
    pub async fn login(&self) -> Result<TokenResponse, VendorError> {
        let c = &self.credentials;
        let username = c.username.as_deref().unwrap_or_default();
        let password_hash = hex_sha256(c.password.as_ref().map_or("", Secret::expose));
        let mut body = serde_json::json!({
            "appSecret": c.app_secret.as_ref().map_or("", Secret::expose),
            "password": password_hash,
        });
        // The token call takes exactly one of username or email.
        let login_field = if username.contains('@') { "email" } else { "username" };
        body[login_field] = Value::String(username.to_owned());
        if let Some(company) = c.company_id.as_deref().filter(|v| !v.is_empty()) {
            body["orgId"] = Value::String(company.to_owned());
        }
        let request = self
            .http
            .client()
            .post(format!("{}/account/v1.0/token", self.base))
            .query(&[("appId", c.app_id.as_deref().unwrap_or_default())])
            .json(&body);
        let response = self.http.send(request).await?;
        // HTTP-level trouble (a wrong host, a proxy page, an outage) is not a verdict on the
        // credentials; only 401 and a `success:false` envelope are.
        match response.classify_status() {
            Some(VendorError::TokenExpired(_)) => {
                return Err(rejected("HTTP 401"));
            }
            Some(other) => return Err(other),
            None => {}
        }
        let envelope: Envelope = response.parse("Solarman token response")?;
        if envelope.success == Some(false) {
            if let Some(error) = not_a_refusal(&envelope) {
                return Err(error);
            }
            return Err(match classify(&envelope) {
                retryable @ (VendorError::Transient(_) | VendorError::RateLimited { .. }) => {
                    retryable
                }
                VendorError::TokenExpired(reason) | VendorError::Permanent(reason) => {
                    rejected(&reason)
                }
                other => other,
            });
        }
        let token: TokenResponse = response.parse("Solarman token response")?;
        if token.access_token.as_deref().is_none_or(str::is_empty) {
            // Seen during Solarman outages (vendor-apis.md §6.9): transient, not a rejection.
            return Err(VendorError::Transient(
                "Solarman token response without access_token".into(),
            ));
        }
        Ok(token)
    }

    /// An authenticated `POST {base}{path}?language=en` with a JSON body.
    pub async fn post(
        &self,
        token: &Token,
        path: &str,
        body: Value,
    ) -> Result<Response, VendorError> {
        let request = self
            .http
            .client()
            .post(format!("{}{path}", self.base))
            .query(&[("language", "en")])
            .bearer_auth(token.access.expose())
            .json(&body);
        check(self.http.send(request).await?)
    }
}

fn rejected(reason: &str) -> VendorError {
    VendorError::CredentialsRejected(format!(
        "Solarman refused the login ({reason}); check the appId, appSecret, username and password"
    ))
}

/// Lowercase hex SHA-256, as the token call wants the password.
pub(super) fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reply_that_names_no_reason_is_no_refusal() {
        let envelope = |code: Option<&str>, msg: Option<&str>| Envelope {
            success: Some(false),
            code: code.map(str::to_owned),
            msg: msg.map(str::to_owned),
        };
        let malformed = not_a_refusal(&envelope(None, None));
        assert!(matches!(malformed, Some(VendorError::Malformed(_))), "{malformed:?}");
        assert!(matches!(
            not_a_refusal(&envelope(Some(" "), Some(""))),
            Some(VendorError::Malformed(_))
        ));
        for (code, msg) in
            [("500", "system error"), ("2101000", "System busy"), ("", "internal error")]
        {
            let error = not_a_refusal(&envelope(Some(code), Some(msg)));
            assert!(matches!(error, Some(VendorError::Transient(_))), "{code} {msg}: {error:?}");
        }
        // A reply that names a reason is the portal's refusal.
        assert_eq!(not_a_refusal(&envelope(Some("2101019"), Some("the password is wrong"))), None);
        assert_eq!(not_a_refusal(&envelope(None, Some("appSecret invalid"))), None);
    }

    #[test]
    fn password_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            hex_sha256("password"),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
    }

    #[test]
    fn envelope_codes_are_classified() {
        let env = |code: &str, msg: &str| Envelope {
            success: Some(false),
            code: Some(code.into()),
            msg: Some(msg.into()),
        };
        assert!(matches!(
            classify(&env("2101019", "auth invalid token")),
            VendorError::TokenExpired(_)
        ));
        assert!(matches!(
            classify(&env("3201001", "Service Currently Unavailable")),
            VendorError::Transient(_)
        ));
        assert!(matches!(
            classify(&env("429", "Too many requests")),
            VendorError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(&env("2101030", "station not found")),
            VendorError::Permanent(_)
        ));
    }
}
