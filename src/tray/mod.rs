//! `plantsync tray`: the tray icon and its menu, as a process of its own.
//!
//! The tray is one more client of the running agent's loopback API (the admin token from
//! the data dir, like the CLI): it never syncs by itself and holds no lock, so a GUI
//! failure never takes the sync engine down. That matters on Linux, where GTK ends the
//! whole process when the X server goes away. Without an agent it says so in its menu and
//! tooltip and keeps asking; without a display it logs that once and keeps trying, and a
//! tray host that appears later picks the icon up (libappindicator re-registers).
//!
//! * `view` turns one look at the agent into the menu's lines, the tooltip and the icon
//!   state (pure, tested without a display);
//! * `client` is the worker thread: it polls `GET /api/status` and sends the menu's
//!   requests (with `source=tray`, so runs record who asked);
//! * `gui` owns GTK on the main thread.
//!
//! Everything but [`run`]'s refusal is behind the cargo feature `tray`, on Linux only for
//! now (the main loop is GTK's): a build without it has no GTK at all.

#[cfg(all(feature = "tray", target_os = "linux"))]
mod client;
#[cfg(all(feature = "tray", target_os = "linux"))]
mod gui;
#[cfg(all(feature = "tray", target_os = "linux"))]
mod view;

use crate::config::Settings;
use std::path::PathBuf;

/// How `plantsync tray --start-agent` starts an agent when none runs: the same binary,
/// `run`, on the tray's data dir and config.
#[derive(Debug, Clone)]
// Read only by the tray itself (a build without it takes and drops the flag).
#[cfg_attr(not(all(feature = "tray", target_os = "linux")), allow(dead_code))]
pub struct AgentStart {
    /// The data dir.
    pub data_dir: PathBuf,
    /// The `--config` given to the tray, if any.
    pub config: Option<PathBuf>,
}

/// Runs the tray until the user quits it (exit 0), or fails to start (a build without the
/// feature: a usage error, exit 2).
#[cfg(all(feature = "tray", target_os = "linux"))]
pub fn run(settings: &Settings, start: Option<AgentStart>) -> anyhow::Result<()> {
    gui::run(settings, start)
}

/// This build has no tray: said in words, exit 2.
#[cfg(not(feature = "tray"))]
pub fn run(_settings: &Settings, _start: Option<AgentStart>) -> anyhow::Result<()> {
    Err(crate::cli::commands::UsageError(
        "this build of plantsync has no tray; build it with `cargo build --release --features tray`"
            .to_owned(),
    )
    .into())
}

/// The tray is Linux's only for now: said in words, exit 2.
#[cfg(all(feature = "tray", not(target_os = "linux")))]
pub fn run(_settings: &Settings, _start: Option<AgentStart>) -> anyhow::Result<()> {
    Err(crate::cli::commands::UsageError(
        "the tray runs on Linux only in this version; run the agent (`plantsync run`) and use \
         the CLI (`plantsync status`, `sync`, `pause`, `push`)"
            .to_owned(),
    )
    .into())
}

#[cfg(all(test, not(feature = "tray")))]
mod tests {
    #[test]
    fn a_build_without_the_feature_refuses_as_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = crate::config::Inputs {
            default_data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let settings = crate::config::Settings::resolve(&inputs).unwrap();
        let error = super::run(&settings, None).unwrap_err();
        assert!(error.is::<crate::cli::commands::UsageError>(), "{error}");
        assert!(error.to_string().contains("--features tray"), "{error}");
    }
}
