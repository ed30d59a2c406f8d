//! The `[upstream]` section's URL: a secret (it may hold the database password), checked
//! when the config is read and shown only with its password redacted.
//!
//! The check and the redaction live here, beside the key, so `config show`, every error and
//! every log line of the push use the one redacted form.
//!
//! The TLS parameters `sslmode` and `sslrootcert` are read here too, into [`UpstreamTls`],
//! and taken out of what tokio-postgres sees: it knows only `disable`, `prefer` and
//! `require` and no root certificate file, while plantsync honours libpq's five modes with
//! its own connector (`upstream::tls`).

use super::upstream_target::{ApiKey, Transport};
use crate::domain::{REDACTED, Secret};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How the push protects its connection: libpq's `sslmode` values, with one rule of
/// plantsync's own for `require` (see [`TlsMode::Require`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP; TLS is never asked for.
    Disable,
    /// libpq's default: TLS when the server offers it, plain TCP when it refuses. When TLS
    /// is used the certificate chain is checked as under [`TlsMode::Require`]: a certificate
    /// that fails is an error, never a reason to fall back to plain TCP.
    Prefer,
    /// TLS or no connection, the certificate chain checked against the trusted roots (not
    /// the host name). Stricter than libpq, which checks nothing here: the connection
    /// carries the database password, so an unchecked server could take it. A server with
    /// a self-signed or private-CA certificate needs `sslrootcert=`.
    Require,
    /// TLS, the chain checked, not the host name (the same check as `require`).
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

impl TlsMode {
    /// The `sslmode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether the certificate must name the host connected to.
    pub fn checks_host_name(self) -> bool {
        self == Self::VerifyFull
    }

    /// What tokio-postgres is told: whether to ask for TLS and whether a refusal ends the
    /// connection (the checks themselves are the connector's).
    pub fn postgres_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode;
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // libpq's `allow` (plain first, TLS only when plain is refused) is left out: it
            // tries the password over plain TCP first.
            _ => {
                return Err("sslmode must be one of disable, prefer, require, verify-ca, \
                            verify-full"
                    .to_owned());
            }
        })
    }
}

/// The URL's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `sslmode` (default [`TlsMode::Prefer`], as libpq's).
    pub mode: TlsMode,
    /// `sslrootcert`: a PEM file of CA certificates trusted besides the system's.
    pub root_cert: Option<PathBuf>,
}

/// A checked `upstream.url`: a `postgres://` or `postgresql://` URL, a PostgREST base URL
/// (`super::upstream_target`) with its key, or a `file://` path for offline bundles.
#[derive(Clone)]
pub struct UpstreamUrl {
    url: Secret,
    shown: String,
    tls: UpstreamTls,
    /// The URL without `sslmode` and `sslrootcert`, parsed (it holds the password).
    config: tokio_postgres::Config,
    transport: Transport,
    api_key: ApiKey,
    /// The bundle's path of a `file://` URL.
    file: Option<PathBuf>,
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
                tls: UpstreamTls { mode: TlsMode::Prefer, root_cert: None },
                config: tokio_postgres::Config::new(),
                file: None,
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            let path = file_path(path)?;
            return Ok(Self {
                url: Secret::new(text),
                shown: text.to_owned(),
                transport: Transport::File,
                api_key: ApiKey::default(),
                tls: UpstreamTls { mode: TlsMode::Disable, root_cert: None },
                config: tokio_postgres::Config::new(),
                file: Some(path),
            });
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err("expected a postgres:// or postgresql:// URL, or a PostgREST https:// URL"
                .to_owned());
        }
        let (rest, tls) = split_tls(text)?;
        let config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| format!("not a PostgreSQL URL plantsync can use: {e}"))?;
        if let Some(path) = &tls.root_cert {
            check_root_cert(path)?;
        }
        let (shown, transport) = (shown_url(text), Transport::Postgres);
        Ok(Self {
            url: Secret::new(text),
            shown,
            transport,
            api_key: ApiKey::default(),
            tls,
            config,
            file: None,
        })
    }

    /// The bundle's path, for a `file://` URL.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
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

    /// The URL itself, as configured.
    pub fn secret(&self) -> &Secret {
        &self.url
    }

    /// The URL with its password redacted: the only form for messages and logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// How the connection is protected.
    pub fn tls(&self) -> &UpstreamTls {
        &self.tls
    }

    /// What tokio-postgres connects with: the URL without the TLS parameters, its
    /// `ssl_mode` set from [`TlsMode::postgres_mode`].
    pub fn postgres_config(&self) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        config.ssl_mode(self.tls.mode.postgres_mode());
        config
    }
}

/// The path of a `file://` URL (`file:///media/usb/site.bundle`): absolute and naming a
/// file, percent-escapes decoded. Whether its directory exists is the push's question (a
/// drive not mounted fails the push, never every command that reads the config).
fn file_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(percent_decoded(text.strip_prefix("localhost").unwrap_or(text)));
    if !path.is_absolute() || path.file_name().is_none() {
        return Err("a file:// upstream names an absolute path to a bundle file, \
                    e.g. file:///media/usb/site.bundle"
            .to_owned());
    }
    Ok(path)
}

/// `url` without its `sslmode` and `sslrootcert` parameters, and what they said (the last
/// one wins, as in libpq). The query is found as tokio-postgres finds it: after the user
/// part (everything before the first `@`), from the first `?`; keys and values are
/// percent-decoded.
fn split_tls(url: &str) -> Result<(String, UpstreamTls), String> {
    let after_user = url.find('@').map_or(0, |at| at + 1);
    let mut tls = UpstreamTls { mode: TlsMode::Prefer, root_cert: None };
    let Some(question) = url[after_user..].find('?').map(|q| after_user + q) else {
        return Ok((url.to_owned(), tls));
    };
    let mut kept = Vec::new();
    for pair in url[question + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decoded(key).as_str() {
            "sslmode" => tls.mode = percent_decoded(value).parse()?,
            "sslrootcert" => {
                let path = percent_decoded(value);
                if path.is_empty() {
                    return Err(
                        "sslrootcert is empty: name a PEM file of CA certificates".to_owned()
                    );
                }
                tls.root_cert = Some(PathBuf::from(path));
            }
            _ => kept.push(pair),
        }
    }
    let base = &url[..question];
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, tls))
}

/// A missing or unreadable `sslrootcert` file is a config error now rather than a failed
/// push later (its certificates are read at each connection, so a renewed file is used).
fn check_root_cert(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("sslrootcert {} is not a file", path.display())),
        Err(e) => Err(format!(
            "cannot read sslrootcert {}: {}",
            path.display(),
            crate::datadir::dir::in_words(&e)
        )),
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
    fn a_file_url_names_an_absolute_bundle_path() {
        let url = UpstreamUrl::parse("file:///media/usb%20stick/site.bundle").unwrap();
        assert_eq!(url.transport(), Transport::File);
        assert_eq!(url.file(), Some(Path::new("/media/usb stick/site.bundle")));
        let local = UpstreamUrl::parse("file://localhost/srv/site.bundle").unwrap();
        assert_eq!(local.file(), Some(Path::new("/srv/site.bundle")));
        for bad in ["file://site.bundle", "file:///", "file://relative/dir/x"] {
            let refused = UpstreamUrl::parse(bad).unwrap_err();
            assert!(refused.contains("absolute path"), "{bad}: {refused}");
        }
        // A directory that does not exist (a drive not mounted) is the push's error.
        assert!(UpstreamUrl::parse("file:///no/such/drive/site.bundle").is_ok());
        assert_eq!(UpstreamUrl::parse("postgres://db/c").unwrap().file(), None);
    }

    #[test]
    fn urls_are_checked_without_quoting_them() {
        let wrong = UpstreamUrl::parse("mysql://x.example/c").unwrap_err();
        assert!(wrong.contains("postgres://"), "{wrong}");
        let bad = UpstreamUrl::parse("postgres://ops:pw-zz@db:notaport/c").unwrap_err();
        assert!(!bad.contains("pw-zz"), "{bad}");
    }

    #[test]
    fn sslmode_takes_libpq_s_five_values_and_prefer_by_default() {
        use tokio_postgres::config::SslMode;
        let mode = |url: &str| UpstreamUrl::parse(url).map(|u| u.tls().mode);
        assert_eq!(mode("postgres://ops:pw@db/c"), Ok(TlsMode::Prefer));
        for (text, want, postgres) in [
            ("disable", TlsMode::Disable, SslMode::Disable),
            ("prefer", TlsMode::Prefer, SslMode::Prefer),
            ("require", TlsMode::Require, SslMode::Require),
            ("verify-ca", TlsMode::VerifyCa, SslMode::Require),
            ("verify-full", TlsMode::VerifyFull, SslMode::Require),
        ] {
            let url = UpstreamUrl::parse(&format!("postgres://ops:pw@db/c?sslmode={text}"))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.tls().mode, want, "{text}");
            assert_eq!(want.as_str(), text);
            assert_eq!(url.postgres_config().get_ssl_mode(), postgres, "{text}");
        }
        // Percent-encoded, and the last one wins (as in libpq).
        assert_eq!(mode("postgres://db/c?ssl%6Dode=verify%2Dca"), Ok(TlsMode::VerifyCa));
        assert_eq!(mode("postgres://db/c?sslmode=disable&sslmode=require"), Ok(TlsMode::Require));
        let bogus = UpstreamUrl::parse("postgres://ops:pw-zz@db/c?sslmode=bogus").unwrap_err();
        assert!(bogus.contains("sslmode must be one of disable, prefer, require"), "{bogus}");
        assert!(!bogus.contains("pw-zz"), "{bogus}");
    }

    #[test]
    fn the_tls_parameters_are_taken_out_of_what_tokio_postgres_sees() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not read until a connection").unwrap();
        let text = format!(
            "postgres://ops:s3cret@db.example:5433/central?sslmode=verify-full&sslrootcert={}&application_name=x",
            ca.display()
        );
        let url = UpstreamUrl::parse(&text).unwrap();
        assert_eq!(url.tls(), &UpstreamTls { mode: TlsMode::VerifyFull, root_cert: Some(ca) });
        // tokio-postgres would refuse verify-full and an unknown sslrootcert: it got neither,
        // and everything else.
        let config = url.postgres_config();
        assert_eq!(config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(config.get_dbname(), Some("central"));
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_ports(), &[5433]);
        // What the user sees and what `secret()` gives are the URL as written, password
        // redacted in the one and only there.
        assert_eq!(url.secret().expose(), text);
        assert_eq!(url.shown(), text.replace("s3cret", REDACTED));
        assert_eq!(format!("{url:?}").matches("s3cret").count(), 0);
        // Only TLS parameters: the query is gone altogether.
        let (rest, _) = split_tls("postgres://ops:a?b@db/c?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://ops:a?b@db/c");
    }

    #[test]
    fn a_missing_root_certificate_file_is_a_config_error_without_the_password() {
        let missing = UpstreamUrl::parse(
            "postgres://ops:pw-zz@db/c?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err();
        assert_eq!(
            missing,
            "cannot read sslrootcert /nonexistent/ca.pem: no such file or directory"
        );
        let empty = UpstreamUrl::parse("postgres://ops:pw-zz@db/c?sslrootcert=").unwrap_err();
        assert!(empty.contains("sslrootcert is empty"), "{empty}");
        let dir = tempfile::tempdir().unwrap();
        let not_file =
            UpstreamUrl::parse(&format!("postgres://db/c?sslrootcert={}", dir.path().display()))
                .unwrap_err();
        assert!(not_file.contains("is not a file"), "{not_file}");
    }
}
