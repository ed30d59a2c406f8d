//! Helpers: a temporary data dir, the binary with a clean environment, snapshots.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// A scratch installation: data dir plus an (absent unless written) config file.
/// The settings of an agent a test starts: its API on a free loopback port, no scheduled
/// plant or alert syncs (it syncs only when asked).
pub const QUIET_AGENT: [(&str, &str); 3] = [
    ("PLANTSYNC_API_PORT", "0"),
    ("PLANTSYNC_SYNC_ENABLED", "false"),
    ("PLANTSYNC_ALERTS_ENABLED", "false"),
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// The session bus the commands see: none (an address where no bus listens) unless a
    /// test starts its own, so no test ever reaches the keyring of the desktop it runs on.
    pub session_bus: Option<String>,
    /// `PLANTSYNC_SECRETS_STORE` of the commands while no test bus is set: `file` unless a
    /// test clears it to see what `auto` chooses without a keyring.
    pub secrets_store: Option<&'static str>,
}

/// The environment that keeps a spawned plantsync away from every keyring: secrets in the
/// file, a session bus address where no bus listens, and an `XDG_RUNTIME_DIR` without a
/// bus (zbus falls back to `$XDG_RUNTIME_DIR/bus` when the address does not answer), all
/// under `dir`. For binaries spawned without [`Sandbox::cmd`].
pub fn no_keyring_env(dir: &Path) -> [(&'static str, std::ffi::OsString); 3] {
    [
        ("PLANTSYNC_SECRETS_STORE", "file".into()),
        (
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", dir.join("no-session-bus").display()).into(),
        ),
        ("XDG_RUNTIME_DIR", dir.join("no-runtime-dir").into_os_string()),
    ]
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            session_bus: None,
            secrets_store: Some("file"),
        }
    }

    /// What keeps the commands away from the desktop's keyring: the test's own bus, else
    /// a dead one (and no runtime dir's bus) and, unless cleared, secrets in the file.
    fn keyring_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let dead = self.dir.path();
        let mut env = vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.bus_address().into()),
            ("XDG_RUNTIME_DIR", dead.join("no-runtime-dir").into_os_string()),
        ];
        if let (None, Some(store)) = (&self.session_bus, self.secrets_store) {
            env.push(("PLANTSYNC_SECRETS_STORE", store.into()));
        }
        env
    }

    /// The `DBUS_SESSION_BUS_ADDRESS` of the commands.
    fn bus_address(&self) -> String {
        self.session_bus.clone().unwrap_or_else(|| {
            format!("unix:path={}", self.dir.path().join("no-session-bus").display())
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db(&self) -> PathBuf {
        self.data_dir().join("plantsync.db")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// `plantsync` with only this sandbox's settings: no inherited PLANTSYNC_* or original
    /// variables, HOME inside the sandbox.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("plantsync").expect("binary");
        for (key, _) in std::env::vars() {
            if key.starts_with("PLANTSYNC_")
                || [
                    "ENABLE_PLANT_SYNC_CRON",
                    "CRON_SECRET",
                    "SYNC_WINDOW_START",
                    "SYNC_WINDOW_END",
                    "PLANT_SYNC_CRON_SCHEDULE",
                ]
                .contains(&key.as_str())
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("home/.config"))
            .env("XDG_DATA_HOME", self.dir.path().join("home/.local/share"))
            .envs(self.keyring_env())
            .arg("--data-dir")
            .arg(self.data_dir());
        cmd
    }

    /// The same command as [`Sandbox::cmd`], as a `std` command that can be spawned.
    pub fn spawnable(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("plantsync"));
        for (key, _) in std::env::vars() {
            if key.starts_with("PLANTSYNC_")
                || key == "CRON_SECRET"
                || key.starts_with("SYNC_WINDOW")
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path().join("home"))
            .envs(self.keyring_env())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    }

    /// Runs and returns stdout, asserting success.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run");
        assert!(
            output.status.success(),
            "plantsync {args:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    /// Every log line written so far.
    pub fn logs(&self) -> String {
        let dir = self.data_dir().join("logs");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }
}

/// Runs the `sqlite3` CLI on `db` and returns its output.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    let output = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 CLI must be installed (the README's test command installs it)");
    assert!(output.status.success(), "sqlite3 failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Replaces values that change between runs (times, temp paths) with placeholders.
pub fn normalize(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key.ends_with("_at") && value.is_string() {
                    *value = serde_json::Value::String("<time>".into());
                } else {
                    normalize(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// Compares `actual` with `tests/snapshots/<name>.json`; `UPDATE_SNAPSHOTS=1` rewrites it.
pub fn assert_snapshot(name: &str, actual: &serde_json::Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1", path.display())
    });
    assert_eq!(pretty, expected, "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)");
}
