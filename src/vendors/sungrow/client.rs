//! Sungrow requests: app key in the body, secret key in `x-access-key`, the token in the
//! body, and the envelope's `result_code` read on every answer.

use super::convert;
use super::wire::{Data, LoginData, Status};
use crate::domain::{Credentials, Secret, Timestamp, Token};
use crate::vendors::http::Response;
use crate::vendors::{Http, VendorError};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The international gateway (vendor-apis.md §2.1).
pub(super) const DEFAULT_BASE_URL: &str = "https://gateway.isolarcloud.com.hk";

/// Classifies a `result_code` other than `"1"`.
pub(super) fn classify(code: &str, message: &str) -> VendorError {
    // The portal's words, quoted bounded and escaped (a spoiled reply may put a megabyte or
    // an escape sequence in them).
    let text = format!(
        "Sungrow {}: {}",
        crate::domain::text::excerpt(code, 64),
        crate::domain::text::excerpt(message, crate::domain::text::ERROR_PART_CHARS)
    );
    match code {
        "E00003" => VendorError::TokenExpired(text),
        "E998" | "E999" => VendorError::RateLimited { message: text, retry_after: None },
        "E900" | "E912" | "E914" | "E919" | "er_invalid_appkey" => {
            VendorError::CredentialsRejected(format!(
                "{text}; check the vendor's app key and secret key"
            ))
        }
        "E994" | "E996" => VendorError::NoPermission(format!(
            "{text}: the call is not available for this account or region; check the base URL"
        )),
        _ if message.contains("er_token_login_invalid") => VendorError::TokenExpired(text),
        _ if message.contains("invalid_appkey") => VendorError::CredentialsRejected(text),
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
    /// POSTs `body` (plus `appkey` and `lang`) to `path`; returns the response after
    /// checking the HTTP status. With a token (every call after the login), HTTP 404 and
    /// 405 are [`VendorError::NoPermission`]; on the login they stay a wrong base URL.
    async fn send(
        &self,
        path: &str,
        mut body: Value,
        token: Option<&Token>,
    ) -> Result<Response, VendorError> {
        let c = &self.credentials;
        body["appkey"] = Value::String(c.app_id.clone().unwrap_or_default());
        body["lang"] = Value::String("_en_US".into());
        let mut request = self
            .http
            .client()
            .post(format!("{}{path}", self.base))
            .header("x-access-key", c.app_secret.as_ref().map_or("", Secret::expose))
            .header("sys_code", "901");
        if let Some(token) = token {
            body["token"] = Value::String(token.access.expose().to_owned());
            request = request.header("token", token.access.expose());
        }
        let response = self.http.send(request.json(&body)).await?;
        if token.is_some() && matches!(response.status, 404 | 405) {
            // The login went through on this base URL, so it is the right host: a 404 or
            // 405 here is the call not available for this account or region (§2.6).
            return Err(VendorError::NoPermission(format!(
                "Sungrow answered HTTP {} to {path}: the call is not available for this \
                 account or region",
                response.status
            )));
        }
        if let Some(error) = response.classify_status() {
            return Err(error);
        }
        Ok(response)
    }

    /// Checks the envelope's `result_code`.
    fn check(response: &Response) -> Result<(), VendorError> {
        let status: Status = response.parse("Sungrow response")?;
        match status.result_code.as_deref() {
            Some("1") => Ok(()),
            Some(code) => Err(classify(code, status.result_msg.as_deref().unwrap_or(""))),
            None => Err(VendorError::Malformed("Sungrow response without result_code".into())),
        }
    }

    /// An authenticated call; returns its `result_data` as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        token: &Token,
    ) -> Result<Option<T>, VendorError> {
        let response = self.send(path, body, Some(token)).await?;
        Self::check(&response)?;
        let data: Data<T> = response.parse(&format!("Sungrow {path}"))?;
        Ok(data.result_data)
    }

    /// `POST /openapi/login`. A `"1"` result code is not enough: `login_state` must be `"1"`.
    /// A gateway that answers in the OAuth shape (`access_token` at the top level or in
    /// `result_data`) is accepted too.
    pub async fn login(&self, now: Timestamp) -> Result<Token, VendorError> {
        let c = &self.credentials;
        let body = serde_json::json!({
            "user_account": c.username.as_deref().unwrap_or_default(),
            "user_password": c.password.as_ref().map_or("", Secret::expose),
            "login_type": "1",
        });
        let response = self.send("/openapi/login", body, None).await?;
        let value = response.json()?;
        if value.get("access_token").is_some() {
            return convert::oauth_token(&value, None, now).map_err(VendorError::Malformed);
        }
        // Bad keys (E912, er_invalid_appkey ...) are classified as rejected credentials
        // already; other codes (E994/E996: no permission in this region, unknown codes) are
        // not a verdict on the credentials and stay what they are.
        let data = match Self::check(&response) {
            Err(VendorError::TokenExpired(reason)) => {
                return Err(VendorError::Permanent(format!("Sungrow login answered {reason}")));
            }
            Err(other) => return Err(other),
            Ok(()) => value.get("result_data").cloned().unwrap_or(Value::Null),
        };
        if data.get("access_token").is_some() {
            let wrapped = serde_json::json!({ "result_data": data });
            return convert::oauth_token(&wrapped, None, now).map_err(VendorError::Malformed);
        }
        let login = login_verdict(data)?;
        convert::login_token(login, now).map_err(VendorError::Malformed)
    }
}

/// What a login's `result_data` says. Only a documented `login_state` refusal (`-1`, `0`,
/// `2`, `5`) is a verdict on the credentials, which parks the vendor until the user acts;
/// a reply without one (`result_data` null or missing, no `login_state`, an unknown
/// state) says nothing about them: a malformed reply, tried again on the next run.
pub(super) fn login_verdict(data: Value) -> Result<LoginData, VendorError> {
    let malformed = |what: &str| {
        VendorError::Malformed(format!("Sungrow's login reply {what}: not read as a refusal"))
    };
    if !data.is_object() {
        return Err(malformed("has no result_data"));
    }
    let login: LoginData =
        serde_json::from_value(data).map_err(|_| malformed("has an unreadable result_data"))?;
    let reason = match login.login_state.as_deref() {
        Some("1") => return Ok(login),
        Some("-1") => "no such account",
        Some("0") => "wrong password",
        Some("2") => "account locked after wrong passwords",
        Some("5") => "account locked by the administrator",
        None => return Err(malformed("has no login_state")),
        Some(_) => return Err(malformed("has a login_state Sungrow does not document")),
    };
    // The portal's text, bounded and escaped: a spoiled reply may send a megabyte here.
    let left = login
        .remain_times
        .map(|n| format!(", {} attempt(s) left", crate::domain::text::excerpt(&n, 16)))
        .unwrap_or_default();
    Err(VendorError::CredentialsRejected(format!(
        "Sungrow refused the login: {reason}{left}; fix the credentials with `plantsync vendor set`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_documented_login_state_refuses_the_credentials() {
        use serde_json::json;
        for data in [
            Value::Null,
            json!({}),
            json!({"login_state": null, "token": "t"}),
            json!({"login_state": "7"}),
            json!([1, 2]),
            json!({"login_state": {"nested": 1}}),
        ] {
            let error = login_verdict(data.clone()).unwrap_err();
            assert!(matches!(error, VendorError::Malformed(_)), "{data}: {error:?}");
            assert!(!error.needs_user_action(), "{data}");
        }
        for (state, reason) in [
            ("-1", "no such account"),
            ("0", "wrong password"),
            ("2", "locked"),
            ("5", "administrator"),
        ] {
            let error =
                login_verdict(json!({"login_state": state, "remain_times": "3"})).unwrap_err();
            assert!(
                matches!(&error, VendorError::CredentialsRejected(text) if text.contains(reason)),
                "{state}: {error:?}"
            );
        }
        assert!(login_verdict(json!({"login_state": "1", "token": "t"})).is_ok());
    }

    #[test]
    fn result_codes_are_classified() {
        assert!(matches!(
            classify("E00003", "er_token_login_invalid"),
            VendorError::TokenExpired(_)
        ));
        assert!(matches!(classify("E999", "limit"), VendorError::RateLimited { .. }));
        assert!(matches!(
            classify("E912", "Illegal x-access-key"),
            VendorError::CredentialsRejected(_)
        ));
        assert!(matches!(classify("009", "missing ps_key_list"), VendorError::Permanent(_)));
        assert!(matches!(classify("E994", "not open"), VendorError::NoPermission(_)));
        assert!(matches!(classify("E996", "not open"), VendorError::NoPermission(_)));
    }
}
