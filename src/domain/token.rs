//! A vendor API token as cached in the store between runs.

use super::{Secret, Timestamp};

/// How long before its expiry a token stops being reused (the original system's rule).
pub const TOKEN_REUSE_MARGIN_SECONDS: i64 = 5 * 60;

/// An access token with what is known about its lifetime. Secrets are redacted in `Debug`.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The access token (Solarman JWT, Sungrow token, FusionSolar XSRF token).
    pub access: Secret,
    /// A refresh token, where the vendor issues one.
    pub refresh: Option<Secret>,
    /// When it expires, when known.
    pub expires_at: Option<Timestamp>,
    /// Vendor details worth keeping (`expires_in`, `stored_at`, user id), as JSON.
    pub metadata: serde_json::Value,
}

impl Token {
    /// Whether the token may still be used at `now`: more than five minutes of life left.
    /// A token of unknown lifetime is never reused across runs.
    pub fn is_reusable_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|expiry| {
            expiry.as_datetime().timestamp() - now.as_datetime().timestamp()
                > TOKEN_REUSE_MARGIN_SECONDS
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_in_seconds: Option<i64>, now: Timestamp) -> Token {
        Token {
            access: Secret::new("t"),
            refresh: None,
            expires_at: expires_in_seconds.and_then(|s| {
                Timestamp::from_unix_millis(now.as_datetime().timestamp_millis() + s * 1000)
            }),
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn reuse_needs_more_than_five_minutes() {
        let now = Timestamp::now();
        assert!(token(Some(301), now).is_reusable_at(now));
        assert!(!token(Some(300), now).is_reusable_at(now));
        assert!(!token(Some(-10), now).is_reusable_at(now));
        assert!(!token(None, now).is_reusable_at(now));
    }
}
