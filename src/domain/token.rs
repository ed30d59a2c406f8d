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

/// The longest access token believed, in bytes. Real ones are a few hundred (a Solarman
/// JWT, a Sungrow or FusionSolar session id); a token travels in a header or a body of
/// every call, and a megabyte one (a spoiled login reply) made every later call fail with
/// HTTP 431 until it expired, found by issue 14's fuzz harness.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl Token {
    /// Why this token cannot be a real one (empty, longer than [`MAX_TOKEN_BYTES`], or
    /// holding a character no HTTP header carries), or `None`. A login answering such a
    /// token is a malformed reply: it is not kept, and the next run logs in again.
    pub fn implausible(&self) -> Option<String> {
        let access = self.access.expose();
        if access.is_empty() {
            Some("the token is empty".into())
        } else if access.len() > MAX_TOKEN_BYTES {
            Some(format!("the token is {} bytes long (at most {MAX_TOKEN_BYTES})", access.len()))
        } else if access.chars().any(|c| !c.is_ascii() || c.is_ascii_control()) {
            Some("the token holds characters no HTTP header carries".into())
        } else {
            None
        }
    }

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
    fn a_token_no_header_can_carry_is_not_believed() {
        let with =
            |access: String| Token { access: Secret::new(access), ..token(None, Timestamp::now()) };
        assert_eq!(with("eyJhbGciOiJSUzI1NiJ9.e30.c2ln".into()).implausible(), None);
        assert!(with("5".repeat(1 << 20)).implausible().unwrap().contains("bytes long"));
        assert!(with("a\u{0}b".into()).implausible().is_some());
        assert!(with("\u{202e}evil".into()).implausible().is_some());
        assert!(with(String::new()).implausible().is_some());
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
