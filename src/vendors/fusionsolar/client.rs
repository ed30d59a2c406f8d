//! FusionSolar requests: the login that hands out the XSRF token (response header and
//! cookie), authenticated POSTs that send it back, and the `failCode` envelope.

use super::wire::Envelope;
use crate::domain::{Credentials, Secret, Timestamp, Token};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};
use serde_json::Value;
use std::time::Duration;

/// The international host; accounts live on regional hosts (`eu5`, …), set per vendor.
pub(super) const DEFAULT_BASE_URL: &str = "https://intl.fusionsolar.huawei.com";

/// A session lives about 30 minutes, extended by each call (§4.2); counted from the login,
/// so a token is reused for 25 minutes and a `305` before that costs one re-login.
const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Classifies a failed envelope.
pub(super) fn classify(code: i64, message: &str) -> VendorError {
    let text = format!("FusionSolar failCode {code}: {message}");
    match code {
        305 => VendorError::TokenExpired(text),
        407 => VendorError::RateLimited { message: text, retry_after: None },
        401 => VendorError::NoPermission(format!(
            "{text}: the API account has no permission for this interface; ask the company \
             administrator to grant it"
        )),
        _ => VendorError::Permanent(text),
    }
}

/// The token from a login response: the `xsrf-token` header, else the `XSRF-TOKEN` cookie.
pub(super) fn token_from(response: &Response) -> Option<String> {
    let header = response.headers.iter().find(|(name, _)| name == "xsrf-token");
    let cookie = || {
        response.headers.iter().filter(|(name, _)| name == "set-cookie").find_map(|(_, value)| {
            let pair = value.split(';').next()?.trim();
            let (name, token) = pair.split_once('=')?;
            name.trim().eq_ignore_ascii_case("XSRF-TOKEN").then(|| token.trim().to_owned())
        })
    };
    header.map(|(_, value)| value.trim().to_owned()).or_else(cookie).filter(|t| !t.is_empty())
}

/// The HTTP side of the adapter.
pub(super) struct Client {
    pub base: String,
    pub credentials: Credentials,
    pub http: Http,
}

impl Client {
    fn check(response: &Response) -> Result<(), VendorError> {
        if let Some(error) = response.classify_status() {
            return Err(error);
        }
        let envelope: Envelope = response.parse("FusionSolar response")?;
        match (envelope.success, envelope.fail_code.unwrap_or(0)) {
            (Some(true), 0) => Ok(()),
            (_, code) => Err(classify(code, envelope.message.as_deref().unwrap_or("no message"))),
        }
    }

    /// An authenticated POST; `min_interval` is the endpoint's least spacing, which a `407`
    /// asks the retry to wait.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        token: &Token,
        min_interval: Duration,
    ) -> Result<Response, VendorError> {
        let xsrf = token.access.expose();
        let request = self
            .http
            .client()
            .post(format!("{}{path}", self.base))
            .header("XSRF-TOKEN", xsrf)
            .header(reqwest::header::COOKIE, format!("XSRF-TOKEN={xsrf}"))
            .json(body);
        let response = self.http.send(request).await?;
        match Self::check(&response) {
            Ok(()) => Ok(response),
            Err(VendorError::RateLimited { message, .. }) => Err(VendorError::RateLimited {
                message,
                retry_after: Some(min_interval.mul_f64(self.http.min_interval_scale())),
            }),
            Err(other) => Err(other),
        }
    }

    /// `POST /thirdData/login`. Any refusal other than a rate limit or an outage is a
    /// verdict on the credentials (§4.5: a non-zero failCode on login is an auth failure).
    pub async fn login(&self) -> Result<Token, VendorError> {
        let c = &self.credentials;
        let body = serde_json::json!({
            "userName": c.username.as_deref().unwrap_or_default(),
            "systemCode": c.password.as_ref().map_or("", Secret::expose),
        });
        let request = self.http.client().post(format!("{}/thirdData/login", self.base)).json(&body);
        let response = self.http.send(request).await?;
        let rejected = |why: String| {
            VendorError::CredentialsRejected(format!(
                "FusionSolar refused the login ({why}); check the API account's userName and \
                 system code with `plantsync vendor set <vendor> --username <NAME> --password`"
            ))
        };
        // HTTP-level trouble (a wrong host, a proxy page, an outage) is not a verdict on the
        // credentials: only the envelope's refusal is.
        if let Some(error) = response.classify_status() {
            return Err(match error {
                VendorError::TokenExpired(why) => rejected(why),
                other => other,
            });
        }
        let envelope: Envelope = response.parse("FusionSolar login")?;
        match (envelope.success, envelope.fail_code.unwrap_or(0)) {
            (Some(true), 0) => {}
            (_, 407) => {
                return Err(VendorError::RateLimited {
                    message: "FusionSolar failCode 407 on login: ACCESS_FREQUENCY_IS_TOO_HIGH"
                        .into(),
                    retry_after: Some(
                        super::LOGIN_INTERVAL.mul_f64(self.http.min_interval_scale()),
                    ),
                });
            }
            (_, code) => {
                let message = envelope.message.as_deref().unwrap_or("no message");
                return Err(rejected(format!("failCode {code}: {message}")));
            }
        }
        let Some(xsrf) = token_from(&response) else {
            return Err(rejected("no xsrf-token in the answer".into()));
        };
        let now = Timestamp::now();
        let expires = now.as_datetime().timestamp_millis() + SESSION_LIFETIME.as_millis() as i64;
        Ok(Token {
            access: Secret::new(xsrf),
            refresh: None,
            expires_at: Timestamp::from_unix_millis(expires),
            metadata: serde_json::json!({ "stored_at": now.to_canonical() }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_codes_are_classified() {
        assert!(matches!(classify(305, "USER_MUST_RELOGIN"), VendorError::TokenExpired(_)));
        assert!(matches!(
            classify(407, "ACCESS_FREQUENCY_IS_TOO_HIGH"),
            VendorError::RateLimited { .. }
        ));
        let no_permission = classify(401, "Invalid access to current interface!");
        assert!(matches!(&no_permission, VendorError::NoPermission(_)), "{no_permission:?}");
        assert!(no_permission.to_string().contains("administrator"), "{no_permission}");
        assert!(matches!(classify(20006, "wrong devTypeId"), VendorError::Permanent(_)));
    }

    #[test]
    fn token_comes_from_the_header_or_the_cookie() {
        let response = |headers: Vec<(&str, &str)>| Response {
            status: 200,
            retry_after: None,
            headers: headers.into_iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect(),
            body: b"{}".to_vec(),
        };
        assert_eq!(token_from(&response(vec![("xsrf-token", "abc")])).as_deref(), Some("abc"));
        let cookie = response(vec![
            ("set-cookie", "JSESSIONID=1; Path=/"),
            ("set-cookie", "XSRF-TOKEN=def; Path=/; HttpOnly"),
        ]);
        assert_eq!(token_from(&cookie).as_deref(), Some("def"));
        assert_eq!(token_from(&response(vec![])), None);
    }
}
