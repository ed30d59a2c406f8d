//! Credentials at rest: the OS keyring against a real Secret Service (gnome-keyring-daemon
//! on a private session bus, with HOME and the XDG dirs inside the sandbox, so the
//! desktop's keyring is never touched), and the file when there is no session bus.
//!
//! gnome-keyring, dbus and sqlite3 must be installed (`tests/run.sh` installs them): a
//! missing one fails the test, it is never skipped.

use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A session bus and a gnome-keyring-daemon on it, unlocked; both stopped on drop.
struct SecretService {
    bus: Child,
    daemon: Child,
    address: String,
}

fn required(program: &str, package: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok(); // started at all: some of them exit non-zero for --version
    assert!(found, "{program} is missing: install {package} (tests/run.sh installs it)");
}

impl SecretService {
    fn start(sandbox: &Sandbox) -> Self {
        required("dbus-daemon", "dbus");
        required("dbus-send", "dbus");
        required("gnome-keyring-daemon", "gnome-keyring");
        let home = sandbox.dir.path().join("home");
        let runtime = sandbox.dir.path().join("run");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&runtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .arg(format!("--address=unix:path={}", sandbox.dir.path().join("bus").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        // The address is printed once the bus listens.
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon printed {address:?}");
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        // The login keyring's password on stdin: the keyring is created unlocked.
        let mut stdin = daemon.stdin.take().unwrap();
        stdin.write_all(b"test-keyring-password").unwrap();
        drop(stdin);
        let service = Self { bus, daemon, address };
        service.wait_for_secrets_name();
        service
    }

    /// Polls the bus until the daemon owns `org.freedesktop.secrets` (a readiness wait, not
    /// a measurement: the test fails only if it never does).
    #[allow(clippy::disallowed_methods)] // a blocking poll on the test's own thread
    fn wait_for_secrets_name(&self) {
        for _ in 0..400 {
            let reply = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&reply.stdout).contains("boolean true") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("gnome-keyring-daemon never took org.freedesktop.secrets on the test bus");
    }

    /// Every plantsync entry as `secret-tool` prints it (attributes and values).
    fn entries(&self, sandbox: &Sandbox) -> String {
        let output = Command::new("secret-tool")
            .args(["search", "--all", "--unlock", "service", "plantsync"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", sandbox.dir.path().join("home"))
            .output()
            .expect("secret-tool must be installed (libsecret-tools; tests/run.sh installs it)");
        // No match is a success with no output; a failure (no bus, no service) must not
        // read as "no entries".
        assert!(
            output.status.success(),
            "secret-tool search failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // secret-tool prints the attributes on stderr and the values on stdout.
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// The database file and its WAL as text, to look for secret values in the raw bytes.
fn raw_database(sandbox: &Sandbox) -> String {
    let mut text = String::new();
    for suffix in ["", "-wal"] {
        let mut path = sandbox.db().into_os_string();
        path.push(suffix);
        if let Ok(bytes) = std::fs::read(Path::new(&path)) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

fn run(sandbox: &Sandbox, args: &[&str], seen: &mut String) -> Output {
    let output = sandbox.cmd().args(args).output().unwrap();
    seen.push_str(&String::from_utf8_lossy(&output.stdout));
    seen.push_str(&String::from_utf8_lossy(&output.stderr));
    output
}

fn ok(sandbox: &Sandbox, args: &[&str], seen: &mut String) -> String {
    let output = run(sandbox, args, seen);
    assert!(
        output.status.success(),
        "plantsync {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

const SECRET_COLUMNS_SET: &str = "SELECT count(*) FROM vendor_credentials
     WHERE password IS NOT NULL OR app_secret IS NOT NULL OR api_key IS NOT NULL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_secrets_live_in_a_real_secret_service_and_move_to_the_file_and_back() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 14,
        accounts: vec![
            AccountSpec::new(VendorKind::Solarman, 3, 1),
            AccountSpec::new(VendorKind::SolarEdge, 2, 1),
        ],
    })
    .await
    .unwrap();
    let (solarman, solaredge) = (sim.credentials(0), sim.credentials(1));
    let secrets = [&solarman.password, &solarman.app_secret, &solaredge.api_key];
    let mut sandbox = Sandbox::new();
    sandbox.secrets_store = None; // auto: the keyring that answers
    let service = SecretService::start(&sandbox);
    sandbox.session_bus = Some(service.address.clone());
    let mut seen = String::new();

    tokio::task::block_in_place(|| {
        // A new install with a keyring that answers keeps its secrets there.
        add_vendors(&sandbox, &sim, 2);
        assert_eq!(
            sqlite3(&sandbox.db(), "SELECT secrets_store, secrets_chosen FROM install").trim(),
            "keyring|auto"
        );
        assert_eq!(sqlite3(&sandbox.db(), SECRET_COLUMNS_SET).trim(), "0");
        assert_eq!(
            sqlite3(
                &sandbox.db(),
                "SELECT keyring_fields FROM vendor_credentials ORDER BY vendor_id"
            )
            .trim(),
            "password,app_secret\napi_key"
        );
        let raw = raw_database(&sandbox);
        for secret in secrets {
            assert!(!raw.contains(secret.as_str()), "the database file holds a secret");
        }
        // The keyring holds each value, under accounts that name no secret.
        let install = sqlite3(&sandbox.db(), "SELECT install_id FROM install").trim().to_owned();
        let entries = service.entries(&sandbox);
        for secret in secrets {
            assert!(entries.contains(&format!("secret = {secret}")), "{entries}");
        }
        assert!(entries.contains(&format!("attribute.username = {install}/vendor-1/password")));
        assert!(entries.contains(&format!("attribute.username = {install}/vendor-2/api_key")));

        // A sync reads them from the keyring, and caches Solarman's token there.
        ok(&sandbox, &["sync", "plants", "--format", "json"], &mut seen);
        assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM plants").trim(), "5");
        assert_eq!(
            sqlite3(&sandbox.db(), "SELECT access_token || '|' || in_keyring FROM vendor_tokens")
                .trim(),
            "|1"
        );
        assert!(service.entries(&sandbox).contains(&format!("{install}/vendor-1/token")));

        let status = json(&ok(&sandbox, &["status", "--format", "json"], &mut seen));
        assert_eq!(status["secrets"]["store"], "keyring", "{status}");
        assert_eq!(status["secrets"]["keyring_reachable"], true, "{status}");
        let table = ok(&sandbox, &["status"], &mut seen);
        assert!(table.contains("the OS keyring (chosen automatically"), "{table}");
        let config = json(&ok(&sandbox, &["config", "show", "--format", "json"], &mut seen));
        let in_use = config.as_array().unwrap().iter().find(|e| e["key"] == "secrets.in_use");
        assert_eq!(in_use.unwrap()["value"], "keyring", "{config}");

        // To the file: every value in the database, nothing left in the keyring.
        let moved = ok(&sandbox, &["secrets", "move", "--to", "file"], &mut seen);
        assert!(moved.contains("3 secret(s) of 2 vendor(s) moved"), "{moved}");
        assert_eq!(sqlite3(&sandbox.db(), SECRET_COLUMNS_SET).trim(), "2");
        assert_eq!(
            sqlite3(&sandbox.db(), "SELECT secrets_store, secrets_chosen FROM install").trim(),
            "file|moved"
        );
        assert!(!service.entries(&sandbox).contains("attribute.username"), "entries left");
        ok(&sandbox, &["sync", "plants"], &mut seen);
        let again = ok(&sandbox, &["secrets", "move", "--to", "file"], &mut seen);
        assert!(again.contains("nothing to move"), "{again}");

        // And back to the keyring.
        let back =
            ok(&sandbox, &["secrets", "move", "--to", "keyring", "--format", "json"], &mut seen);
        let back = json(&back);
        assert_eq!((back["vendors"].as_u64(), back["secrets"].as_u64()), (Some(2), Some(3)));
        assert_eq!(sqlite3(&sandbox.db(), SECRET_COLUMNS_SET).trim(), "0");
        // The values the file held are gone from its bytes too (free pages, the -wal).
        let raw = raw_database(&sandbox);
        for secret in secrets {
            assert!(!raw.contains(secret.as_str()), "the moved database's bytes hold a secret");
        }
        ok(&sandbox, &["sync", "plants"], &mut seen);
        seen.push_str(&sandbox.logs());
    });

    // Without the session bus the keyring is unreachable: said once, nothing parked or lost.
    sandbox.session_bus = None;
    let gone = &sandbox;
    tokio::task::block_in_place(|| {
        let output = run(gone, &["sync", "plants"], &mut seen);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.matches("the OS keyring is not reachable").count(), 1, "{stderr}");
        assert!(
            stderr.contains("run `plantsync secrets move --to file` where it is reachable"),
            "{stderr}"
        );
        assert_eq!(
            sqlite3(&gone.db(), "SELECT count(*) FROM vendors WHERE needs_user_action = 1").trim(),
            "0"
        );
        let status = json(&ok(gone, &["status", "--format", "json"], &mut seen));
        assert_eq!(status["secrets"]["keyring_reachable"], false, "{status}");
    });
    // The bus again: everything is still there.
    sandbox.session_bus = Some(service.address.clone());
    tokio::task::block_in_place(|| {
        ok(&sandbox, &["sync", "plants"], &mut seen);
        seen.push_str(&sandbox.logs());
    });
    for secret in secrets {
        assert!(!seen.contains(secret.as_str()), "a secret reached output or logs:\n{seen}");
    }
}

#[test]
fn without_a_session_bus_a_new_install_keeps_secrets_in_the_file_and_says_so() {
    let mut sandbox = Sandbox::new();
    sandbox.secrets_store = None; // what auto chooses without a keyring
    let mut seen = String::new();
    let first = run(&sandbox, &["org", "add", "Alpha"], &mut seen);
    assert!(first.status.success());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("no OS keyring is reachable")
            && stderr.contains("keeps vendor secrets in the database file (mode 0600)"),
        "{stderr}"
    );
    assert_eq!(
        sqlite3(&sandbox.db(), "SELECT secrets_store, secrets_chosen FROM install").trim(),
        "file|auto"
    );
    let second = sandbox
        .cmd()
        .args(["vendor", "add", "--name", "Edge", "--kind", "solaredge"])
        .write_stdin("edge-key-file-1\n")
        .output()
        .unwrap();
    assert!(second.status.success());
    assert!(!String::from_utf8_lossy(&second.stderr).contains("keyring"), "said once");
    assert_eq!(
        sqlite3(&sandbox.db(), "SELECT api_key FROM vendor_credentials").trim(),
        "edge-key-file-1"
    );
    let status = json(&ok(&sandbox, &["status", "--format", "json"], &mut seen));
    assert_eq!(status["secrets"]["store"], "file", "{status}");
    assert_eq!(status["secrets"]["keyring_reachable"], serde_json::Value::Null);
    assert!(status["secrets"]["note"].as_str().is_some_and(|n| !n.is_empty()), "{status}");
    // Moving to a keyring that is not there changes nothing.
    let refused = run(&sandbox, &["secrets", "move", "--to", "keyring"], &mut seen);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the OS keyring is not reachable"));
    assert_eq!(
        sqlite3(&sandbox.db(), "SELECT api_key FROM vendor_credentials").trim(),
        "edge-key-file-1"
    );

    // A new install told to use the keyring, without one, is refused (a usage error).
    let mut forced = Sandbox::new();
    forced.secrets_store = None;
    let output = forced
        .cmd()
        .env("PLANTSYNC_SECRETS_STORE", "keyring")
        .args(["org", "add", "A"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("secrets.store is keyring, but the OS keyring is not reachable"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_entry_fails_only_its_vendor_and_vendor_set_repairs_it() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 15,
        accounts: vec![
            AccountSpec::new(VendorKind::Solarman, 2, 0),
            AccountSpec::new(VendorKind::SolarEdge, 3, 0),
        ],
    })
    .await
    .unwrap();
    let edge_key = sim.credentials(1).api_key;
    let mut sandbox = Sandbox::new();
    sandbox.secrets_store = None;
    let service = SecretService::start(&sandbox);
    sandbox.session_bus = Some(service.address.clone());
    let mut seen = String::new();
    tokio::task::block_in_place(|| {
        add_vendors(&sandbox, &sim, 2);
        let install = sqlite3(&sandbox.db(), "SELECT install_id FROM install").trim().to_owned();
        let cleared = Command::new("secret-tool")
            .args(["clear", "service", "plantsync", "username"])
            .arg(format!("{install}/vendor-2/api_key"))
            .env("DBUS_SESSION_BUS_ADDRESS", &service.address)
            .env("HOME", sandbox.dir.path().join("home"))
            .output()
            .unwrap();
        assert!(cleared.status.success(), "{}", String::from_utf8_lossy(&cleared.stderr));
        assert!(!service.entries(&sandbox).contains("vendor-2/api_key"));

        // The run goes on: vendor 1 syncs, vendor 2 fails, saying which field and how.
        let output = run(&sandbox, &["sync", "plants", "--format", "json"], &mut seen);
        assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(
            sqlite3(&sandbox.db(), "SELECT vendor_id, count(*) FROM plants GROUP BY vendor_id")
                .trim(),
            "1|2"
        );
        // Not tried, and not taken for refused credentials: the run's error says which
        // entry and how to enter it again.
        let error = sqlite3(
            &sandbox.db(),
            "SELECT last_error, needs_user_action FROM vendors WHERE id = 2",
        );
        assert!(error.contains("the OS keyring has no api_key of vendor 2"), "{error}");
        assert!(error.trim_end().ends_with("|0"), "not parked: {error}");
        assert!(!error.contains("credentials rejected"), "{error}");
        let logs = sandbox.logs();
        assert!(
            logs.contains("the OS keyring has no api_key of vendor 2")
                && logs.contains("`plantsync vendor set 2 --api-key`"),
            "{logs}"
        );

        // Entering the very field that is missing repairs it, and the vendor syncs.
        let set = sandbox
            .cmd()
            .args(["vendor", "set", "2", "--api-key"])
            .write_stdin(format!("{edge_key}\n"))
            .output()
            .unwrap();
        assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
        ok(&sandbox, &["sync", "plants"], &mut seen);
        assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM plants").trim(), "5");
        assert!(!raw_database(&sandbox).contains(edge_key.as_str()));
        seen.push_str(&sandbox.logs());
    });
    assert!(!seen.contains(edge_key.as_str()), "a secret reached output or logs");
}
