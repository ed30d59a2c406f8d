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
    // The portal's words, quoted bounded and escaped (see `domain::text`).
    let text = format!(
        "FusionSolar failCode {code}: {}",
        crate::domain::text::excerpt(message, crate::domain::text::ERROR_PART_CHARS)
    );
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

/// HTTP 403 with Huawei's gateway body `{"errorCode":"49401021002","exceptionInfo":
/// "Request is rejected by api quotaControl. ..."}` (recorded from a live account) is the
/// portal overloaded or the account over its quota: a rate limit, tried again later, never a
/// refusal of the credentials or of the permission.
fn quota_control(response: &Response) -> Option<VendorError> {
    let body = std::str::from_utf8(&response.body).ok()?;
    (response.status == 403 && (body.contains("quotaControl") || body.contains("49401021002")))
        .then(|| VendorError::RateLimited {
            message: "FusionSolar HTTP 403: the request was rejected by its quota control".into(),
            retry_after: None,
        })
}

/// What a login answer says. Only a refusal parks the vendor: a failCode other than the
/// rate limit (`407`) and the session signal (`305`), an HTTP 401, or an empty HTTP 200
/// body (how the portal answers a wrong userName or system code, as recorded from a live
/// account). `success:false` with failCode 0 or none, an unreadable body, or a success
/// without a token says nothing about the credentials: malformed, retried on the next run.
pub(super) fn login_verdict(response: &Response) -> Result<(), VendorError> {
    let rejected = |why: &str| {
        VendorError::CredentialsRejected(format!(
            "FusionSolar refused the login ({why}); check the API account's userName and \
             system code with `plantsync vendor set <vendor> --username <NAME> --password`"
        ))
    };
    if let Some(limited) = quota_control(response) {
        return Err(limited);
    }
    // HTTP-level trouble (a wrong host, a proxy page, an outage) is not a verdict on the
    // credentials: only 401 and the envelope's refusal are.
    if let Some(error) = response.classify_status() {
        return Err(match error {
            VendorError::TokenExpired(why) => rejected(&why),
            other => other,
        });
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(rejected("an empty answer, its reply to a wrong userName or system code"));
    }
    let envelope: Envelope = response.parse("FusionSolar login")?;
    match (envelope.success, envelope.fail_code.unwrap_or(0)) {
        (Some(true), 0) => Ok(()),
        (_, 407) => Err(VendorError::RateLimited {
            message: "FusionSolar failCode 407 on login: ACCESS_FREQUENCY_IS_TOO_HIGH".into(),
            retry_after: None,
        }),
        (_, 0) => Err(VendorError::Malformed(
            "FusionSolar's login answer is neither a success nor a failCode: not read as a \
             refusal"
                .into(),
        )),
        (_, 305) => Err(VendorError::Transient(
            "FusionSolar answered the login with failCode 305 (USER_MUST_RELOGIN)".into(),
        )),
        (_, code) => {
            let message = envelope.message.as_deref().unwrap_or("no message");
            Err(rejected(&format!(
                "failCode {code}: {}",
                crate::domain::text::excerpt(message, 200)
            )))
        }
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
        if let Some(limited) = quota_control(response) {
            return Err(limited);
        }
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

    /// `POST /thirdData/login`. Only an answer that says the credentials are wrong parks
    /// the vendor ([`login_verdict`]); anything else is retried on the next run.
    pub async fn login(&self) -> Result<Token, VendorError> {
        let c = &self.credentials;
        let body = serde_json::json!({
            "userName": c.username.as_deref().unwrap_or_default(),
            "systemCode": c.password.as_ref().map_or("", Secret::expose),
        });
        let request = self.http.client().post(format!("{}/thirdData/login", self.base)).json(&body);
        let response = self.http.send(request).await?;
        login_verdict(&response).map_err(|error| match error {
            VendorError::RateLimited { message, retry_after: None } => VendorError::RateLimited {
                message,
                retry_after: Some(super::LOGIN_INTERVAL.mul_f64(self.http.min_interval_scale())),
            },
            other => other,
        })?;
        let Some(xsrf) = token_from(&response) else {
            return Err(VendorError::Malformed(
                "FusionSolar's login said success but sent no xsrf-token: not read as a refusal"
                    .into(),
            ));
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

    fn reply(status: u16, body: &[u8]) -> Response {
        Response { status, retry_after: None, headers: Vec::new(), body: body.to_vec() }
    }

    fn recorded(name: &str) -> Vec<u8> {
        let path =
            format!("{}/tests/fixtures/fusionsolar/recorded/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The live portal's answers, as recorded: the session signal (without a `success`
    /// key) and the gateway's quota refusal (HTTP 403, not the envelope).
    #[test]
    fn the_recorded_session_and_quota_answers_are_classified() {
        let relogin = Client::check(&reply(200, &recorded("error_305__kornsw.json")));
        assert!(matches!(relogin, Err(VendorError::TokenExpired(_))), "{relogin:?}");
        let quota = reply(403, &recorded("http403_quota_control__kornsw.json"));
        assert!(matches!(Client::check(&quota), Err(VendorError::RateLimited { .. })));
        let login = login_verdict(&quota).unwrap_err();
        assert!(matches!(login, VendorError::RateLimited { .. }), "{login:?}");
        assert!(!login.needs_user_action());
    }

    /// Only an answer that says the credentials are wrong parks the vendor.
    #[test]
    fn only_a_refusal_of_the_login_parks_the_vendor() {
        let refusal = |body: &[u8], status: u16| {
            let verdict = login_verdict(&reply(status, body));
            matches!(verdict, Err(VendorError::CredentialsRejected(_)))
        };
        // How the live portal refuses (an empty 200), a failCode, an HTTP 401.
        assert!(refusal(b"", 200));
        assert!(refusal(b"  \n", 200));
        assert!(refusal(br#"{"success":false,"failCode":20001,"message":"x"}"#, 200));
        assert!(refusal(b"{}", 401));
        // Not a verdict on the credentials.
        for (status, body) in [
            (200, &br#"{"success":false,"failCode":0}"#[..]),
            (200, br#"{"success":false}"#),
            (200, br#"{"failCode":null,"data":null}"#),
            (200, br#"{"success":false,"failCode":305,"message":"USER_MUST_RELOGIN"}"#),
            (200, br#"{"success":false,"failCode":407}"#),
            (200, b"<html>proxy</html>"),
            (200, br#"{"success":"#),
            (502, b"<html>bad gateway</html>"),
            (403, &recorded("http403_quota_control__kornsw.json")),
        ] {
            let verdict = login_verdict(&reply(status, body)).unwrap_err();
            assert!(
                !verdict.needs_user_action(),
                "{status} {:?}: {verdict:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(login_verdict(&reply(200, br#"{"success":true,"failCode":0}"#)).is_ok());
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
