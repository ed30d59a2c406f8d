//! The loopback control API (axum): the original's cron endpoints, status, pause and
//! resume, the upstream push, health and metrics; and the local dashboard's pages
//! ([`dashboard`]: HTML, with its own login and the page's own `Origin` accepted).
//!
//! # Security
//!
//! It listens on 127.0.0.1 unless the config names another address (logged as a warning).
//! Every request must carry exactly one `Host` header, naming a loopback address (or the
//! configured one), an origin-form target (`/api/status`, not `http://evil.example/...`)
//! and no `Origin` header (the dashboard's pages: none or their own), which shuts out DNS
//! rebinding and browser cross-site requests. Everything but `/healthz` and the
//! dashboard's pages (which take their session cookie instead) needs
//! `Authorization: Bearer <token>`, compared in constant time: the admin token from the
//! data dir, or for `GET /api/cron/*` the `CRON_SECRET` when one is set. Handlers are thin:
//! they send work to the [`Coordinator`] and read the store.
//!
//! Every answer that is not a success is JSON (`{"error": ...}`, or the run answer's
//! `{"success": false, "error": ...}`), the dashboard's pages aside (HTML): unknown
//! routes, wrong methods and malformed query strings too, which axum would otherwise answer
//! in plain text. [`serve()`] adds what
//! `axum::serve` lacks: a header-read (and idle) timeout and a connection cap.

pub mod dashboard;
pub mod metrics;
pub mod serve;
pub mod upstream_words;
pub mod wire;

pub use serve::{ServeLimits, serve};

use crate::domain::{RunKind, RunRequest, RunSource, Secret};
use crate::schedule::{Candidates, Clock, Coordinator, ScheduleSettings, ScheduledBy, Verdict};
use crate::store::{Selection, Store};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::Instrument;
use wire::{ErrorBody, PauseResponse, RunResponse, SkipCause, StatusResponse, WindowStatus};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Runs syncs.
    pub coordinator: Arc<Coordinator>,
    /// Reads the store.
    pub store: Store,
    /// The data dir (the admin token is read from it on each request, so a rotation
    /// applies at once).
    pub data_dir: PathBuf,
    /// `CRON_SECRET`.
    pub cron_secret: Option<Secret>,
    /// The schedule's settings: the cron endpoints apply the loop's rule with them.
    pub schedule: Arc<ScheduleSettings>,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<metrics::Metrics>,
    /// The address the API listens on (accepted as a `Host` besides the loopback names).
    pub bind: IpAddr,
    /// The agent's upstream push (`None`: no `upstream.url`): `POST /api/push` goes
    /// through it, so it never runs beside the agent's own push.
    pub pusher: Option<Arc<crate::upstream::Pusher>>,
    /// Asks the agent to stop as a first SIGTERM would (`POST /api/stop`: the tray's
    /// "Stop agent", `plantsync stop`).
    pub stop: Arc<tokio::sync::Notify>,
}

/// A JSON error with its status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: message.into() })).into_response()
}

/// The router with its guards.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/api/cron/sync-plants", get(cron_plants).post(manual_plants))
        .route("/api/cron/sync-alerts", get(cron_alerts).post(manual_alerts))
        .route("/api/status", get(status))
        .route("/api/pause", post(pause))
        .route("/api/resume", post(resume))
        .route("/api/push", post(push))
        .route("/api/stop", post(stop))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method")
        })
        .with_state(state.clone())
        .merge(dashboard::router(state.clone()))
        .layer(middleware::from_fn_with_state(state, loopback_only))
}

/// Rejects a second `Host`, an absolute-form target, a non-loopback `Host` and any
/// `Origin` (the dashboard's pages accept their own, `http://<Host>`, which a browser
/// sends with a form's POST; never another, nor `null`). A proxy or a second header must
/// not let another name through: only the one `Host` is read, and a target that names a host of its own is refused outright (HTTP
/// says the target's authority wins over `Host`, so checking `Host` alone is not enough).
async fn loopback_only(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let page = dashboard::is_page(request.uri().path());
    if !page && request.headers().contains_key(header::ORIGIN) {
        return error(
            StatusCode::FORBIDDEN,
            "requests from web pages (with an Origin header) are refused",
        );
    }
    if request.uri().scheme().is_some() || request.uri().authority().is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "absolute-form request targets are refused; send the path only (GET /api/status)",
        );
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return error(StatusCode::BAD_REQUEST, "a request must carry one Host header, not several");
    }
    let host = first.and_then(|h| h.to_str().ok()).unwrap_or("");
    if !is_allowed_host(host, state.bind) {
        return error(
            StatusCode::FORBIDDEN,
            format!("host '{host}' is not this machine's loopback address"),
        );
    }
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !dashboard::is_own_origin(origin, host)
    {
        return error(StatusCode::FORBIDDEN, "requests from another site's page are refused");
    }
    next.run(request).await
}

/// `127.0.0.1`, `localhost`, `[::1]` (with any port), or the configured bind address.
/// The whole value must be a host and an optional `:port` of digits: `[::1]evil`,
/// `[::1].evil.com:80`, `[::1` and `localhost:` are not this machine.
fn is_allowed_host(host: &str, bind: IpAddr) -> bool {
    let is_port = |port: &str| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    let name = if let Some(rest) = host.strip_prefix('[') {
        let Some((name, after)) = rest.split_once(']') else { return false };
        match after.strip_prefix(':') {
            None if after.is_empty() => name,
            Some(port) if is_port(port) => name,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            None => host,
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
        }
    };
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip == bind)
}

/// Constant-time comparison: the time does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The admin token, or for the original cron GETs the `CRON_SECRET` when one is set. An
/// unset `CRON_SECRET` never opens the endpoint (the original's mistake).
async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(presented) = bearer(request.headers()) else {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let cron_get = request.method() == axum::http::Method::GET
        && request.uri().path().starts_with("/api/cron/");
    let admin = crate::datadir::token::read(&state.data_dir).ok();
    let accepted = admin.as_ref().is_some_and(|t| same(presented, t.expose()))
        || (cron_get && state.cron_secret.as_ref().is_some_and(|s| same(presented, s.expose())));
    if !accepted {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    next.run(request).await
}

/// Narrowing of a manual run: `?vendor=&org=&force=&source=` (vendor and organization by
/// id or name; `force` defaults to true: a person pressed the button; `source` says who,
/// `user` for the CLI, `tray` for the tray, `api` by default).
#[derive(Debug, Deserialize, Default)]
struct ManualQuery {
    vendor: Option<String>,
    org: Option<String>,
    force: Option<bool>,
    source: Option<String>,
}

/// `Query`, whose rejection (a malformed query string, `force=maybe`) is the run answer's
/// JSON `{"success": false, "error": ...}` with HTTP 400 instead of axum's plain text.
struct RunQuery<T>(T);

impl<T, S> FromRequestParts<S> for RunQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(query)) => Ok(Self(query)),
            Err(rejection) => {
                let message = format!("bad query string: {}", rejection.body_text());
                Err((rejection.status(), Json(RunResponse::failed(message))).into_response())
            }
        }
    }
}

async fn cron_plants(State(state): State<ApiState>) -> Response {
    scheduled(state, RunKind::Plants).await
}

async fn cron_alerts(State(state): State<ApiState>) -> Response {
    scheduled(state, RunKind::Alerts).await
}

async fn manual_plants(
    State(state): State<ApiState>,
    RunQuery(query): RunQuery<ManualQuery>,
) -> Response {
    manual(state, RunKind::Plants, query).await
}

async fn manual_alerts(
    State(state): State<ApiState>,
    RunQuery(query): RunQuery<ManualQuery>,
) -> Response {
    manual(state, RunKind::Alerts, query).await
}

/// The original cron GET: the schedule's own rule ([`Coordinator::decide_scheduled`]),
/// except that `sync.enabled` governs only the agent's loop, so an external cron still
/// syncs. Skips answer HTTP 200 with `skipped: true`; otherwise the due vendors run (or the
/// run going on, when it covers them, is joined) and the answer is their summary.
async fn scheduled(state: ApiState, kind: RunKind) -> Response {
    let now = state.clock.now();
    let verdict = state
        .coordinator
        .decide_scheduled(
            &state.store as &dyn Candidates,
            &state.schedule,
            kind,
            ScheduledBy::CronEndpoint,
            now,
        )
        .await;
    let request = match verdict {
        Ok(Verdict::Run(request) | Verdict::Covered(request)) => request,
        Ok(Verdict::Skip(decision)) => {
            let window = &state.schedule.window;
            let body = match decision {
                crate::schedule::Decision::Paused => RunResponse::skipped(
                    SkipCause::Paused,
                    "Sync skipped - automatic syncs are paused".to_owned(),
                ),
                crate::schedule::Decision::SkippedWindow => RunResponse::skipped(
                    SkipCause::RestrictedWindow,
                    format!(
                        "Sync skipped - in restricted time window ({} - {} {})",
                        window.start,
                        window.end,
                        window.zone.name()
                    ),
                ),
                _ => RunResponse::not_due(kind),
            };
            return Json(body).into_response();
        }
        Err(e) => {
            let body = RunResponse::failed(format!("cannot read the vendors to schedule: {e}"));
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
    };
    let span = tracing::info_span!("api", source = "cron", operation = format!("sync-{kind}"));
    let served = state.coordinator.trigger(request).instrument(span).await;
    state.coordinator.record_served(kind, &served, now);
    respond(&served)
}

/// The manual trigger (the original's SUPERADMIN button): bypasses the window and the due
/// times, not single flight. Names are resolved here: an unknown vendor or organization is
/// HTTP 400 and nothing is recorded.
async fn manual(state: ApiState, kind: RunKind, query: ManualQuery) -> Response {
    let source = match query.source.as_deref().map(str::parse::<RunSource>) {
        None => RunSource::Api,
        Some(Ok(source @ (RunSource::User | RunSource::Tray | RunSource::Api))) => source,
        Some(_) => {
            let message = "source must be user, tray or api".to_owned();
            return (StatusCode::BAD_REQUEST, Json(RunResponse::failed(message))).into_response();
        }
    };
    let selection =
        Selection { vendor: query.vendor, org: query.org, force: query.force.unwrap_or(true) };
    let request: RunRequest = match state.store.resolve_request(kind, source, selection).await {
        Ok(request) => request,
        Err(e) if e.is_usage() => {
            return (StatusCode::BAD_REQUEST, Json(RunResponse::failed(e.to_string())))
                .into_response();
        }
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(RunResponse::failed(e.to_string())))
                .into_response();
        }
    };
    let span = tracing::info_span!("api", source = "api", operation = format!("sync-{kind}"));
    let served = state.coordinator.trigger(request).instrument(span).await;
    respond(&served)
}

fn respond(served: &(crate::schedule::Served, crate::schedule::Shared)) -> Response {
    match served.1.as_ref() {
        Ok(report) => Json(RunResponse::completed(report, served.0)).into_response(),
        // A stopping agent: try again shortly (the CLI then syncs by itself).
        Err(e @ crate::schedule::RunError::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(RunResponse::failed(e.to_string())))
                .into_response()
        }
        // Ended by the stop: said so, with the run recorded as interrupted; still 503, the
        // agent is going away and a client may sync again without it.
        Err(e @ crate::schedule::RunError::Interrupted { run_id, .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(RunResponse::interrupted(e.to_string(), *run_id)),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(RunResponse::failed(e.to_string())))
            .into_response(),
    }
}

/// `?full=true` of `POST /api/push`.
#[derive(Debug, Deserialize, Default)]
struct PushQuery {
    full: Option<bool>,
    /// Send the rows set aside again first.
    retry_rejected: Option<bool>,
    /// Compare every table key by key after the push.
    verify: Option<bool>,
}

/// `POST /api/push[?full=true]`: one push now through the agent's pusher (after the one
/// under way, if any); the answer is the push's report, as `plantsync push --format json`
/// prints it. A failed push is HTTP 502 with the error in words (nothing is lost).
async fn push(State(state): State<ApiState>, RunQuery(query): RunQuery<PushQuery>) -> Response {
    let Some(pusher) = state.pusher.as_ref() else {
        return error(
            StatusCode::CONFLICT,
            "this agent has no upstream configured (upstream.url); restart it with one",
        );
    };
    let span = tracing::info_span!("api", source = "api", operation = "push");
    match pusher
        .push(crate::upstream::PushMode {
            full: query.full.unwrap_or(false),
            retry_rejected: query.retry_rejected.unwrap_or(false),
            verify: query.verify.unwrap_or(false),
        })
        .instrument(span)
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(e @ crate::upstream::PushError::Stopping) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(crate::upstream::PushError::Failed(e)) => {
            error(StatusCode::BAD_GATEWAY, crate::upstream::in_words(&e))
        }
    }
}

/// The upstream part of `/api/status` and `/metrics`: always the store's queue, with the
/// target when the agent pushes.
async fn upstream_status(state: &ApiState) -> Result<wire::UpstreamStatus, Response> {
    match state.store.upstream_state().await {
        Ok(upstream) => Ok(wire::UpstreamStatus {
            target: state.pusher.as_ref().map(|p| p.target().to_owned()),
            state: upstream,
        }),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn status(State(state): State<ApiState>) -> Response {
    match status_response(&state).await {
        Ok(status) => Json(status).into_response(),
        Err(response) => response,
    }
}

/// What `GET /api/status` answers (the dashboard shows the same): the schedule, the
/// window, the next runs that will really happen, the store and the upstream.
async fn status_response(state: &ApiState) -> Result<StatusResponse, Response> {
    let internal =
        |e: crate::store::StoreError| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let store = state.store.status().await.map_err(internal)?;
    let upstream = upstream_status(state).await?;
    let candidates = state.store.schedule_candidates().await.map_err(internal)?;
    let now = state.clock.now();
    Ok(StatusResponse {
        next: state.schedule.next_runs(state.coordinator.is_paused(), &candidates, now),
        schedule: state.coordinator.status(),
        window: WindowStatus::of(&state.schedule.window, now),
        store,
        upstream: Some(upstream),
    })
}

async fn pause(State(state): State<ApiState>) -> Response {
    state.coordinator.pause();
    Json(PauseResponse { paused: true }).into_response()
}

async fn resume(State(state): State<ApiState>) -> Response {
    state.coordinator.resume();
    Json(PauseResponse { paused: false }).into_response()
}

/// `POST /api/stop`: the agent stops as on a first SIGTERM (no new runs; a running sync
/// gets the shutdown grace); answers before it goes.
async fn stop(State(state): State<ApiState>) -> Response {
    tracing::info!("a stop asked over the API");
    state.stop.notify_one();
    (StatusCode::ACCEPTED, Json(wire::StopResponse { stopping: true })).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let upstream = match upstream_status(&state).await {
        Ok(upstream) => upstream,
        Err(response) => return response,
    };
    match state.store.status().await {
        Ok(status) => {
            let text = state.metrics.render(&status, Some(&upstream), state.clock.now());
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for ok in ["127.0.0.1:8787", "localhost:8787", "LOCALHOST", "[::1]:8787", "127.0.0.1"] {
            assert!(is_allowed_host(ok, lo), "{ok}");
        }
        for bad in
            ["evil.example:8787", "192.168.1.5:8787", "", "localhost.evil.com", "127.0.0.1.nip.io"]
        {
            assert!(!is_allowed_host(bad, lo), "{bad}");
        }
        assert!(is_allowed_host("192.168.1.5:8787", "192.168.1.5".parse().unwrap()));
    }

    #[test]
    fn a_bracketed_host_is_followed_by_nothing_or_a_port() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for ok in ["[::1]", "[::1]:80", "[::1]:8787"] {
            assert!(is_allowed_host(ok, lo), "{ok}");
        }
        for bad in ["[::1]evil", "[::1].evil.com:80", "[::1", "[::1]:", "[::1]:80x", "localhost:"] {
            assert!(!is_allowed_host(bad, lo), "{bad}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }
}
