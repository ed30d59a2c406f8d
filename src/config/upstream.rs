//! The `[upstream]` section's URL: a secret (it may hold the database password), checked
//! when the config is read and shown only with its password redacted.
//!
//! The check and the redaction live here, beside the key, so `config show`, every error and
//! every log line of the push use the one redacted form.

use super::upstream_target::{ApiKey, Transport};
use crate::domain::{REDACTED, Secret};
use std::str::FromStr;

/// A checked `upstream.url`: a `postgres://` or `postgresql://` URL, not asking for TLS,
/// or a PostgREST base URL (`super::upstream_target`) with its key.
#[derive(Clone)]
pub struct UpstreamUrl {
    url: Secret,
    shown: String,
    transport: Transport,
    api_key: ApiKey,
}

impl UpstreamUrl {
    /// Checks `text`; the reason never quotes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(base) = super::upstream_target::rest_base(text) {
            let base = base?;
            let (shown, transport) = (shown_url(&base), Transport::PostgRest);
            return Ok(Self {
                url: Secret::new(base),
                shown,
                transport,
                api_key: ApiKey::default(),
            });
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err("expected a postgres:// or postgresql:// URL, or a PostgREST https:// URL"
                .to_owned());
        }
        let config = tokio_postgres::Config::from_str(text)
            .map_err(|e| format!("not a PostgreSQL URL plantsync can use: {e}"))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err("sslmode=require is not supported yet: plantsync connects to \
                        PostgreSQL over plain TCP (use a private network or a tunnel)"
                .to_owned());
        }
        let (shown, transport) = (shown_url(text), Transport::Postgres);
        Ok(Self { url: Secret::new(text), shown, transport, api_key: ApiKey::default() })
    }

    /// Which transport the URL names.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `upstream.api_key`, the credential of a PostgREST URL.
    pub fn api_key(&self) -> &ApiKey {
        &self.api_key
    }

    /// Joins `upstream.api_key` to the URL once every key is resolved.
    pub(super) fn set_api_key(&mut self, key: Option<Secret>) {
        self.api_key = ApiKey(key);
    }

    /// The URL itself, for the connection only.
    pub fn secret(&self) -> &Secret {
        &self.url
    }

    /// The URL with its password redacted: the only form for messages and logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for UpstreamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `url` with its password (in the user part or a `password=` parameter) redacted. The
/// user part is read as tokio-postgres reads it: everything before the first `@`, whatever
/// it holds (an unescaped `/` or `?` in a password included), the password after its
/// first `:`. A query key is compared after percent-decoding (`pass%77ord`).
fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (user, rest) = match rest.split_once('@') {
        Some((credentials, after)) => match credentials.split_once(':') {
            Some((name, _)) => (format!("{name}:{REDACTED}@"), after),
            None => (format!("{credentials}@"), after),
        },
        None => (String::new(), rest),
    };
    let shown_rest = match rest.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if percent_decoded(k).eq_ignore_ascii_case("password") => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => rest.to_owned(),
    };
    format!("{scheme}://{user}{shown_rest}")
}

/// `%XX` escapes decoded (bytes that are not UTF-8 become U+FFFD); other text as it is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the key's text (empty: unset).
pub(super) fn parse_upstream_url(text: &str) -> Result<Option<UpstreamUrl>, String> {
    if text.trim().is_empty() { Ok(None) } else { UpstreamUrl::parse(text).map(Some) }
}

/// What `config show` prints.
pub(super) fn show_upstream_url(value: &Option<UpstreamUrl>) -> String {
    value.as_ref().map_or_else(|| "(not set)".to_owned(), |u| u.shown.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url = UpstreamUrl::parse("postgres://ops:s3cret@db.example:5433/central").unwrap();
        assert_eq!(url.shown(), format!("postgres://ops:{REDACTED}@db.example:5433/central"));
        assert_eq!(format!("{url:?} {url}").matches("s3cret").count(), 0);
        assert_eq!(url.secret().expose(), "postgres://ops:s3cret@db.example:5433/central");
        assert_eq!(
            shown_url("postgresql://db/central?user=ops&password=s3cret"),
            format!("postgresql://db/central?user=ops&password={REDACTED}")
        );
        assert_eq!(shown_url("postgres://ops@db/c"), "postgres://ops@db/c");
        // A password with an unescaped `/` or `?` is still the password, as tokio-postgres
        // reads it; a percent-encoded key is still `password`.
        for url in ["postgres://ops:ab/cd@db/central", "postgres://ops:ab?cd@db/central"] {
            assert_eq!(shown_url(url), format!("postgres://ops:{REDACTED}@db/central"), "{url}");
        }
        let encoded = shown_url("postgres://db/c?pass%77ord=s3cret&user=ops");
        assert_eq!(encoded, format!("postgres://db/c?pass%77ord={REDACTED}&user=ops"));
    }

    #[test]
    fn urls_are_checked_without_quoting_them() {
        let refused = UpstreamUrl::parse("postgres://ops:pw@db/c?sslmode=require").unwrap_err();
        assert!(refused.contains("sslmode=require is not supported"), "{refused}");
        let wrong = UpstreamUrl::parse("mysql://x.example/c").unwrap_err();
        assert!(wrong.contains("postgres://"), "{wrong}");
        let bad = UpstreamUrl::parse("postgres://ops:pw-zz@db:notaport/c").unwrap_err();
        assert!(!bad.contains("pw-zz"), "{bad}");
    }
}
