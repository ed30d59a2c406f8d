//! The local dashboard: server-rendered HTML pages on the agent's API, for a person at the
//! agent's machine. `GET /` shows every organization (today's and yesterday's energy, 30
//! days of bars, the plants, the open alerts), the schedule and the upstream;
//! `GET /plants/{id}` one plant's 30 days and today's power. No JavaScript and no external
//! asset: the CSS and the charts (inline SVG, [`svg`]) are in the page, so it works offline.
//!
//! # Access
//!
//! The API's guards stay in force: one loopback `Host`, an origin-form target. A browser
//! logs in without ever seeing the admin token ([`auth`]): `plantsync dashboard` or the
//! tray asks `POST /api/dashboard/login-code` with the token and opens
//! `/login?code=...`, which trades the single-use code for a session cookie and redirects
//! to `/`. Pages without a valid session answer 401 with what to run. The "Sync now"
//! buttons are POST forms carrying the session's CSRF token; they run the same manual sync
//! as `POST /api/cron/sync-plants` (then alerts) through the [`Coordinator`], recorded
//! with source `api` (the store's run sources are fixed by the schema).
//!
//! The JSON API refuses any `Origin`; the pages accept only their own
//! (`http://<Host>`), which a browser sends with a form's POST.
//!
//! [`Coordinator`]: crate::schedule::Coordinator

pub mod auth;
pub mod client;
pub mod model;
pub mod pages;
pub mod svg;

use super::ApiState;
use crate::domain::{PlantId, RunKind, RunSource};
use crate::store::Selection;
use auth::{CodeRefused, Logins};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use maud::Markup;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The session cookie's name.
pub const COOKIE: &str = "plantsync_session";

/// The answer to `POST /api/dashboard/login-code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCode {
    /// The single-use code for `GET /login?code=`.
    pub code: String,
    /// How long it is valid.
    pub expires_in_seconds: u64,
}

/// The pages' state: the API's, and the logins of this run of the agent.
#[derive(Clone)]
struct Dashboard {
    api: ApiState,
    logins: Arc<Logins>,
}

/// Whether `path` is one of the dashboard's pages (which accept their own `Origin`).
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/login" | "/sync" | "/logout") || path.starts_with("/plants/")
}

/// Whether `origin` is the page's own: `http://` and exactly the request's `Host`.
pub fn is_own_origin(origin: &HeaderValue, host: &str) -> bool {
    origin.to_str().ok().and_then(|o| o.strip_prefix("http://")).is_some_and(|o| o == host)
}

/// The pages and the login-code endpoint (which needs the admin token), with their state.
pub fn router(api: ApiState) -> Router {
    let state = Dashboard { api: api.clone(), logins: Arc::new(Logins::default()) };
    let code = Router::new()
        .route("/api/dashboard/login-code", post(login_code))
        .route_layer(middleware::from_fn_with_state(api, super::require_token));
    Router::new()
        .route("/", get(overview))
        .route("/plants/{id}", get(plant))
        .route("/login", get(login))
        .route("/sync", post(sync))
        .route("/logout", post(logout))
        .method_not_allowed_fallback(wrong_method)
        .merge(code)
        .with_state(state)
}

/// A page asked with a method it does not take (`GET /sync`).
async fn wrong_method(State(d): State<Dashboard>) -> Response {
    let words = "This address does not take that kind of request. Go back to the dashboard.";
    html(StatusCode::METHOD_NOT_ALLOWED, pages::message(&d.frame(None, None), "Not here", words))
}

/// An HTML answer with the headers every page carries: no caching (a page shows the
/// state of one moment and its CSRF token), no framing, a referrer only to itself, and a
/// content policy that allows nothing but the page's own inline style and forms to itself.
///
/// The referrer policy is `same-origin`, not `no-referrer`: under `no-referrer` a browser
/// sends `Origin: null` with a form's POST (the Fetch standard's rule), which the Origin
/// check refuses, so the "Sync now" buttons would never work.
fn html(status: StatusCode, markup: Markup) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    (status, headers, markup.into_string()).into_response()
}

/// A 303 to `location` (a path of this dashboard).
fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_owned())]).into_response()
}

/// The session cookie's value, if the request carries one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl Dashboard {
    fn frame<'a>(&self, csrf: Option<&'a str>, flash: Option<&'a str>) -> pages::Frame<'a> {
        pages::Frame { zone: self.api.schedule.window.zone, now: self.api.clock.now(), csrf, flash }
    }

    /// The session of this request: its id and view (`None`: answer [`Self::unauthorized`]).
    fn session(&self, headers: &HeaderMap) -> Option<(String, auth::SessionView)> {
        let now = Instant::now();
        cookie(headers).and_then(|id| self.logins.session(&id, now).map(|view| (id, view)))
    }

    /// The 401 page: what to run to log in.
    fn unauthorized(&self) -> Response {
        html(StatusCode::UNAUTHORIZED, pages::not_logged_in(&self.frame(None, None)))
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) -> Response {
        let text = format!("{what}: {error}");
        tracing::error!("dashboard: {text}");
        html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message(&self.frame(None, None), "Something went wrong", &text),
        )
    }
}

async fn overview(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((_, session)) = d.session(&headers) else { return d.unauthorized() };
    let status = match super::status_response(&d.api).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    let (zone, now) = (d.api.schedule.window.zone, d.api.clock.now());
    let mut orgs = match model::overview(&d.api.store, zone, now).await {
        Ok(orgs) => orgs,
        Err(e) => return d.failed("cannot read the store", &e),
    };
    let sort = model::SortKey::parse(query.get("sort").map(String::as_str));
    let order = model::Order::parse(query.get("order").map(String::as_str));
    for org in &mut orgs {
        model::sort_plants(&mut org.plants, sort, order);
    }
    let frame = d.frame(Some(&session.csrf), session.flash.as_deref());
    html(StatusCode::OK, pages::overview(&frame, &orgs, &status, sort, order))
}

async fn plant(State(d): State<Dashboard>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((_, session)) = d.session(&headers) else { return d.unauthorized() };
    let frame = d.frame(Some(&session.csrf), session.flash.as_deref());
    let not_found = || {
        html(
            StatusCode::NOT_FOUND,
            pages::message(&frame, "No such plant", &format!("There is no plant {id}.")),
        )
    };
    let Ok(number) = id.parse::<i64>() else { return not_found() };
    let (zone, now) = (d.api.schedule.window.zone, d.api.clock.now());
    match model::plant_page(&d.api.store, PlantId(number), zone, now).await {
        Ok(Some(page)) => html(StatusCode::OK, pages::plant(&frame, &page)),
        Ok(None) => not_found(),
        Err(e) => d.failed("cannot read the store", &e),
    }
}

/// `GET /login?code=[&next=/plants/ID]`: a valid code becomes a session cookie and a 303
/// to `/` (or the plant page `next` names), so the spent URL is what the history keeps.
async fn login(
    State(d): State<Dashboard>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let code = query.get("code").map_or("", String::as_str);
    let refused = |words: &str| {
        html(
            StatusCode::FORBIDDEN,
            pages::message(&d.frame(None, None), "Login link refused", words),
        )
    };
    match d.logins.redeem(code, Instant::now()) {
        Ok(Ok(id)) => {
            tracing::info!("dashboard: a browser logged in");
            // No `Domain`: the cookie is host-only, sent back to this API's host alone; no
            // `Max-Age`: it ends with the browser (the agent ends idle sessions itself).
            // `Secure` is impossible: the API speaks plain HTTP on loopback, and a browser
            // would not send a Secure cookie there. Cookies are not tied to a port: another
            // server on this loopback name would receive it too (it opens only these pages).
            let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
            let mut response = see_other(back_to(query.get("next").map(String::as_str)));
            match HeaderValue::from_str(&cookie) {
                Ok(value) => _ = response.headers_mut().insert(header::SET_COOKIE, value),
                Err(e) => return d.failed("cannot set the session cookie", &e),
            }
            response
        }
        Ok(Err(CodeRefused::Unknown)) => refused(
            "This login link was already used, or was never valid. Links work once: run \
             `plantsync dashboard` again for a new one.",
        ),
        Ok(Err(CodeRefused::Expired)) => refused(
            "This login link has expired (links are valid for 60 seconds). Run \
             `plantsync dashboard` again for a new one.",
        ),
        Err(e) => d.failed("cannot make a session id", &e),
    }
}

/// A form's fields: the CSRF token, and for "Sync now" the organization and the page to
/// go back to.
#[derive(Debug, Deserialize)]
struct PageForm {
    csrf: Option<String>,
    org: Option<i64>,
    back: Option<String>,
}

impl Dashboard {
    /// The session id, if the request has a live session and the form its CSRF token
    /// (`None`: answer [`Self::forbidden`]).
    fn checked(&self, headers: &HeaderMap, form: &PageForm) -> Option<String> {
        let now = Instant::now();
        let (id, csrf) = (cookie(headers)?, form.csrf.as_deref()?);
        self.logins.check_csrf(&id, csrf, now).then_some(id)
    }

    /// The 400 page of a form body that is not one of the dashboard's forms.
    fn unreadable_form(&self) -> Response {
        let words = "This form could not be read. Go back, reload the page and try again.";
        html(StatusCode::BAD_REQUEST, pages::message(&self.frame(None, None), "Bad form", words))
    }

    /// The 403 page of a form without its session's CSRF token.
    fn forbidden(&self) -> Response {
        html(
            StatusCode::FORBIDDEN,
            pages::message(
                &self.frame(None, None),
                "Request refused",
                "This form did not come from a current dashboard page (its security token \
                 is missing or wrong). Go back, reload the page and try again.",
            ),
        )
    }
}

/// Where a form may send the browser back: the overview or a plant page, nothing else.
fn back_to(back: Option<&str>) -> &str {
    match back {
        Some(path)
            if path.strip_prefix("/plants/").is_some_and(|id| {
                !id.is_empty() && id.len() <= 19 && id.chars().all(|c| c.is_ascii_digit())
            }) =>
        {
            path
        }
        _ => "/",
    }
}

/// `POST /sync`: the manual sync of plants, then alerts, of one organization (`org`) or
/// all, as `POST /api/cron/sync-plants` runs it; then back with what happened.
async fn sync(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    form: Result<Form<PageForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return d.unreadable_form() };
    let Some(id) = d.checked(&headers, &form) else { return d.forbidden() };
    let mut said = Vec::new();
    for kind in [RunKind::Plants, RunKind::Alerts] {
        let selection =
            Selection { vendor: None, org: form.org.map(|o| o.to_string()), force: true };
        let request = match d.api.store.resolve_request(kind, RunSource::Api, selection).await {
            Ok(request) => request,
            Err(e) => {
                said.push(format!("{kind} sync not started: {e}"));
                break;
            }
        };
        let span =
            tracing::info_span!("api", source = "dashboard", operation = format!("sync-{kind}"));
        let (_, shared) = d.api.coordinator.trigger(request).instrument(span).await;
        said.push(match shared.as_ref() {
            Ok(report) => format!(
                "{kind} sync: {} (run {}, {} vendors)",
                report.status, report.run_id, report.summary.total_vendors
            ),
            Err(e) => format!("{kind} sync failed: {e}"),
        });
    }
    d.logins.flash(&id, pages::capitalized(&said.join("; ")));
    see_other(back_to(form.back.as_deref()))
}

/// `POST /logout`: ends the session and clears the cookie.
async fn logout(
    State(d): State<Dashboard>,
    headers: HeaderMap,
    form: Result<Form<PageForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return d.unreadable_form() };
    let Some(id) = d.checked(&headers, &form) else { return d.forbidden() };
    d.logins.end(&id);
    let mut response = see_other("/");
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /api/dashboard/login-code` (admin token): a single-use login code.
async fn login_code(State(d): State<Dashboard>) -> Response {
    match d.logins.issue_code(Instant::now()) {
        Ok(code) => Json(LoginCode { code, expires_in_seconds: auth::CODE_LIFETIME.as_secs() })
            .into_response(),
        Err(e) => {
            super::error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot make a code: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; plantsync_session=abc"));
        assert_eq!(cookie(&headers).as_deref(), Some("abc"));
        let mut other = HeaderMap::new();
        other.append(header::COOKIE, HeaderValue::from_static("xplantsync_session=abc"));
        assert_eq!(cookie(&other), None);
    }

    #[test]
    fn forms_send_back_only_to_dashboard_pages() {
        assert_eq!(back_to(Some("/plants/12")), "/plants/12");
        for bad in
            ["//evil.example", "https://evil.example/", "/plants/", "/plants/1/../x", "/api/stop"]
        {
            assert_eq!(back_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(back_to(None), "/");
    }

    #[test]
    fn only_the_pages_own_origin_is_accepted() {
        let own = HeaderValue::from_static("http://127.0.0.1:8787");
        assert!(is_own_origin(&own, "127.0.0.1:8787"));
        assert!(!is_own_origin(&own, "127.0.0.1:8788"));
        assert!(!is_own_origin(&HeaderValue::from_static("null"), "127.0.0.1:8787"));
        assert!(!is_own_origin(
            &HeaderValue::from_static("https://127.0.0.1:8787"),
            "127.0.0.1:8787"
        ));
        assert!(
            is_page("/") && is_page("/plants/3") && !is_page("/api/status") && !is_page("/metrics")
        );
    }
}
