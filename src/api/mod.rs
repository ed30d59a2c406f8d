//! The loopback control API (axum): the original's cron endpoints, status, pause and
//! resume, health and metrics.
//!
//! # Security
//!
//! It listens on 127.0.0.1 unless the config names another address (logged as a warning).
//! Every request must carry a loopback `Host` (or the configured address) and no `Origin`
//! header, which shuts out DNS rebinding and browser cross-site requests. Everything but
//! `/healthz` needs `Authorization: Bearer <token>`, compared in constant time: the admin
//! token from the data dir, or for `GET /api/cron/*` the `CRON_SECRET` when one is set.
//! Handlers are thin: they send work to the [`Coordinator`] and read the store.

pub mod metrics;

use crate::domain::{RunKind, RunSource, Secret};
use crate::schedule::{self, Candidates, Clock, Coordinator, RestrictedWindow};
use crate::store::{Store, SyncSelection};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::Instrument;

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
    /// The restricted window.
    pub window: RestrictedWindow,
    /// Whether the alerts cron endpoint stays out of the window too.
    pub alerts_respect_window: bool,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<metrics::Metrics>,
    /// The address the API listens on (accepted as a `Host` besides the loopback names).
    pub bind: IpAddr,
}

/// A JSON error with its status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The router with its guards.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/api/cron/sync-plants", get(cron_plants).post(manual_plants))
        .route("/api/cron/sync-alerts", get(cron_alerts).post(manual_alerts))
        .route("/api/status", get(status))
        .route("/api/pause", post(pause))
        .route("/api/resume", post(resume))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), loopback_only))
        .with_state(state)
}

/// Rejects a non-loopback `Host` and any `Origin`.
async fn loopback_only(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::ORIGIN) {
        return error(
            StatusCode::FORBIDDEN,
            "requests from web pages (with an Origin header) are refused",
        );
    }
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !is_allowed_host(host, state.bind) {
        return error(
            StatusCode::FORBIDDEN,
            format!("host '{host}' is not this machine's loopback address"),
        );
    }
    next.run(request).await
}

/// `127.0.0.1`, `localhost`, `[::1]` (with any port), or the configured bind address.
fn is_allowed_host(host: &str, bind: IpAddr) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) { name } else { host }
        })
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
    let admin = crate::agent::token::read(&state.data_dir).ok();
    let accepted = admin.as_ref().is_some_and(|t| same(presented, t.expose()))
        || (cron_get && state.cron_secret.as_ref().is_some_and(|s| same(presented, s.expose())));
    if !accepted {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    next.run(request).await
}

/// Narrowing of a manual run: `?vendor=&org=&force=`.
#[derive(Debug, Deserialize, Default)]
struct ManualQuery {
    vendor: Option<String>,
    org: Option<String>,
    force: Option<bool>,
}

async fn cron_plants(State(state): State<ApiState>) -> Response {
    scheduled(state, RunKind::Plants).await
}

async fn cron_alerts(State(state): State<ApiState>) -> Response {
    scheduled(state, RunKind::Alerts).await
}

async fn manual_plants(
    State(state): State<ApiState>,
    Query(query): Query<ManualQuery>,
) -> Response {
    manual(state, RunKind::Plants, query).await
}

async fn manual_alerts(
    State(state): State<ApiState>,
    Query(query): Query<ManualQuery>,
) -> Response {
    manual(state, RunKind::Alerts, query).await
}

/// The original cron GET: skipped inside the window or while paused (HTTP 200,
/// `skipped: true`), else a run of the vendors that are due.
async fn scheduled(state: ApiState, kind: RunKind) -> Response {
    let now = state.clock.now();
    if state.coordinator.is_paused() {
        return Json(json!({
            "success": false,
            "skipped": true,
            "message": "Sync skipped - automatic syncs are paused",
        }))
        .into_response();
    }
    let respects_window = kind == RunKind::Plants || state.alerts_respect_window;
    if respects_window && state.window.contains(now) {
        return Json(json!({
            "success": false,
            "skipped": true,
            "message": format!("Sync skipped - in restricted time window ({} - {} {})",
                state.window.start, state.window.end, state.window.zone.name()),
        }))
        .into_response();
    }
    let candidates = match Candidates::schedule_candidates(&state.store).await {
        Ok(candidates) => candidates,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let due = schedule::due_vendors(kind, &candidates, &state.window, now);
    let selection = SyncSelection { vendor_ids: Some(due), ..SyncSelection::default() };
    respond(&state, kind, RunSource::Cron, selection).await
}

/// The manual trigger (the original's SUPERADMIN button): bypasses the window and the due
/// times, not single flight.
async fn manual(state: ApiState, kind: RunKind, query: ManualQuery) -> Response {
    let selection = SyncSelection {
        force: query.force.unwrap_or(true),
        vendor: query.vendor,
        org: query.org,
        vendor_ids: None,
    };
    respond(&state, kind, RunSource::Api, selection).await
}

async fn respond(
    state: &ApiState,
    kind: RunKind,
    source: RunSource,
    selection: SyncSelection,
) -> Response {
    let span =
        tracing::info_span!("api", source = source.as_str(), operation = format!("sync-{kind}"));
    let (_, result) = state.coordinator.trigger(kind, source, selection).instrument(span).await;
    match result.as_ref() {
        Ok(report) => {
            let message = match kind {
                RunKind::Plants => "Plant sync completed",
                RunKind::Alerts => "Alert sync completed",
            };
            Json(json!({ "success": true, "message": message, "runId": report.run_id, "summary": report.summary }))
                .into_response()
        }
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "success": false, "error": e })))
                .into_response()
        }
    }
}

async fn status(State(state): State<ApiState>) -> Response {
    let store_status = match state.store.status().await {
        Ok(status) => status,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let now = state.clock.now();
    Json(json!({
        "schedule": state.coordinator.status(),
        "window": {
            "start": state.window.start.to_string(),
            "end": state.window.end.to_string(),
            "timezone": state.window.zone.name(),
            "active": state.window.contains(now),
        },
        "store": store_status,
    }))
    .into_response()
}

async fn pause(State(state): State<ApiState>) -> Response {
    state.coordinator.pause();
    Json(json!({ "paused": true })).into_response()
}

async fn resume(State(state): State<ApiState>) -> Response {
    state.coordinator.resume();
    Json(json!({ "paused": false })).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    match state.store.status().await {
        Ok(status) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&status))
                .into_response()
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
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }
}
