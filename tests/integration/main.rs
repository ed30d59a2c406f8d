//! End-to-end tests through the real `plantsync` binary on temporary data dirs.

// Test helpers may panic on setup failures: that is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod api;
mod cli;
mod config;
mod dashboard;
mod files;
mod fuzz;
mod history;
mod history_vendors;
mod hostile;
mod installers;
mod keyring;
mod limits;
mod listing;
mod lock;
mod notifications;
mod plant_status;
mod portals;
mod postgres;
mod postgrest;
mod reports;
mod secrets;
mod support;
mod sync;
mod sync_cli;
#[cfg(feature = "tray")]
mod tray;
mod upstream;
mod upstream_faults;
mod upstream_history;
mod upstream_queue;
mod upstream_tls;
