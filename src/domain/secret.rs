//! A string that must never reach a log, an error message or `--json` output.
//!
//! `Debug` and `Display` print `**REDACTED**`; the value is reachable only through
//! [`Secret::expose`], so every place that uses a password, an app secret, a token or the
//! `CRON_SECRET` is greppable. It deliberately does not implement `Serialize`.

use std::fmt;

/// What a redacted secret prints as.
pub const REDACTED: &str = "**REDACTED**";

/// A secret string (password, app secret, API key, token, `CRON_SECRET`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value. Call it only where the secret leaves for its one legitimate use
    /// (an HTTP request to the vendor, the store's credentials table, a constant-time compare).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            password: Secret,
        }
        let nested = format!("{:?}", Holder { password: secret.clone() });
        assert!(!nested.contains("hunter2"), "{nested}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }
}
