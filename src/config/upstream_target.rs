//! Which transport an `upstream.url` names, and the checks of a PostgREST (Supabase) URL.
//!
//! Kept apart from the PostgreSQL URL's checks (`super::upstream`): a PostgREST URL has no
//! password in it (its credential is `upstream.api_key`, a secret of its own) and is
//! accepted over plain HTTP only on a loopback address, where no key crosses a network.

use crate::domain::Secret;

/// How the push reaches the central database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `postgres://`: the wire protocol, straight to PostgreSQL.
    Postgres,
    /// `https://` (or `http://` on loopback): PostgREST, e.g. Supabase's `/rest/v1`.
    PostgRest,
    /// `file:///PATH`: no link at all; each push writes the queue as an offline bundle
    /// there, to be carried to a connected machine (`upstream import`).
    File,
}

/// The PostgREST credential that travels with a PostgREST URL: `upstream.api_key`.
#[derive(Clone, Default)]
pub struct ApiKey(pub(super) Option<Secret>);

impl ApiKey {
    /// The key, for the request headers only.
    pub fn secret(&self) -> Option<&Secret> {
        self.0.as_ref()
    }
}

/// `Some` when `text` is an HTTP URL: its checked base (no trailing `/`, no `/rest/v1`),
/// or why it cannot be used (never quoting it).
pub(super) fn rest_base(text: &str) -> Option<Result<String, String>> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    Some(check(text))
}

fn check(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL plantsync can use: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a PostgREST URL carries no user or password: put the key in \
                    upstream.api_key (PLANTSYNC_UPSTREAM_API_KEY)"
            .to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a PostgREST URL is its base only (https://<project>.supabase.co), \
                    without a query"
            .to_owned());
    }
    let Some(host) = url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']')) else {
        return Err("the URL names no host".to_owned());
    };
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map_or_else(|_| host.eq_ignore_ascii_case("localhost"), |ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err("http:// sends the key in clear: use https:// (plain http:// only for a \
                    PostgREST on this machine, 127.0.0.1 or localhost)"
            .to_owned());
    }
    let base = url.as_str().trim_end_matches('/');
    Ok(base.strip_suffix("/rest/v1").unwrap_or(base).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgrest_url_is_its_base_over_https_or_loopback_http() {
        assert!(rest_base("postgres://db/c").is_none());
        let ok = |t: &str| rest_base(t).unwrap().unwrap();
        assert_eq!(ok("https://abc.supabase.co"), "https://abc.supabase.co");
        assert_eq!(ok("https://abc.supabase.co/rest/v1/"), "https://abc.supabase.co");
        assert_eq!(ok("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(ok("http://[::1]:3000/"), "http://[::1]:3000");
        assert_eq!(ok("HTTP://localhost:3000"), "http://localhost:3000");
        let refused = |t: &str| rest_base(t).unwrap().unwrap_err();
        assert!(refused("http://db.example:3000").contains("https://"));
        let with_key = refused("https://anon:k3y-zz@abc.supabase.co");
        assert!(with_key.contains("upstream.api_key") && !with_key.contains("k3y-zz"));
        assert!(refused("https://abc.supabase.co/?apikey=k3y-zz").contains("without a query"));
    }
}
