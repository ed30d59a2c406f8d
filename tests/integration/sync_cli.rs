//! `plantsync sync` and `plantsync demo` through the real binary, against the simulator.

use crate::support::{Sandbox, sqlite3};
use plantsync::domain::{CredentialField, VendorKind};
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};

/// Adds every simulated account as a vendor the way a user would: the fields its kind
/// needs, non-secrets as flags and secrets on stdin in prompt order.
pub fn add_vendors(sandbox: &Sandbox, sim: &Simulator, count: usize) {
    sandbox.ok(&["org", "add", "Field Office"]);
    for index in 0..count {
        let c = sim.credentials(index);
        let base = sim.base_url(c.kind);
        let name = format!("v{index}");
        let mut cmd = sandbox.cmd();
        cmd.args([
            "vendor",
            "add",
            "--name",
            &name,
            "--kind",
            c.kind.as_str(),
            "--org",
            "Field Office",
            "--base-url",
            &base,
        ]);
        let mut stdin = String::new();
        for field in c.kind.required_credentials() {
            match field {
                CredentialField::AppId => _ = cmd.args(["--app-id", &c.app_id]),
                CredentialField::Username => _ = cmd.args(["--username", &c.username]),
                CredentialField::AppSecret => stdin.push_str(&format!("{}\n", c.app_secret)),
                CredentialField::Password => stdin.push_str(&format!("{}\n", c.password)),
                CredentialField::ApiKey => stdin.push_str(&format!("{}\n", c.api_key)),
                CredentialField::CompanyId => {}
            }
        }
        cmd.write_stdin(stdin).assert().success();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_with_trace_logging_leaks_no_secret() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 3,
        accounts: VendorKind::ALL.iter().map(|&kind| AccountSpec::new(kind, 30, 1)).collect(),
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, VendorKind::ALL.len());

    let mut seen = String::new();
    for kind in ["plants", "alerts"] {
        let output = tokio::task::spawn_blocking({
            let mut cmd = sandbox.cmd();
            cmd.args(["--log-level", "trace", "sync", kind, "--format", "json"])
                .env("CRON_SECRET", "cron-secret-xyz");
            move || cmd.output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let response: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(response["success"], true);
        let summary = &response["summary"];
        assert_eq!(summary["totalVendors"], 5);
        assert_eq!(summary["failed"], 0);
        if kind == "plants" {
            assert_eq!(response["message"], "Plant sync completed");
            assert_eq!(summary["totalPlantsSynced"], 150);
            let result = &summary["results"][0];
            for key in [
                "vendorId",
                "vendorName",
                "orgId",
                "orgName",
                "success",
                "synced",
                "created",
                "updated",
                "total",
                "error",
            ] {
                assert!(result.get(key).is_some(), "result lacks {key}: {result}");
            }
        } else {
            // Growatt has no alert list; the other four have one alert per plant (FusionSolar
            // only those raised inside the lookback window).
            let synced = summary["totalAlertsSynced"].as_u64().unwrap();
            assert!((90..=120).contains(&synced), "{summary}");
        }
        seen.push_str(&stdout);
        seen.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    // SolarEdge's quota is visible offline: its requests were counted.
    let status = sandbox.cmd().args(["status"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.contains("daily request quotas (the portal's day):"), "{status}");
    let line = status.lines().find(|l| l.starts_with("v2 ")).unwrap_or_default();
    assert!(line.contains(" of 300 requests left today") && !line.contains(" 300 of"), "{status}");
    seen.push_str(&status);
    let logs = sandbox.logs();
    assert!(
        logs.contains("[USER] [sync-plants-vendor-1] [DEBUG] [Vendor:1] [Org:1] logged in"),
        "{logs}"
    );
    assert!(
        logs.contains("[USER] [sync-alerts-vendor-2] [INFO] [Vendor:2] [Org:1] vendor v1: "),
        "{logs}"
    );
    seen.push_str(&logs);

    let tokens =
        sqlite3(&sandbox.db(), "SELECT access_token FROM vendor_tokens ORDER BY vendor_id");
    let mut secrets: Vec<String> = tokens.lines().map(str::to_owned).collect();
    assert_eq!(secrets.len(), 3, "the tokens of the three portals with a login are cached");
    for index in 0..VendorKind::ALL.len() {
        let c = sim.credentials(index);
        let hash: String = {
            use sha2::Digest;
            sha2::Sha256::digest(c.password.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        secrets.extend([c.password, c.app_secret, c.api_key, hash]);
    }
    secrets.push("cron-secret-xyz".into());
    for secret in &secrets {
        assert!(!seen.contains(secret.as_str()), "a secret leaked into output or logs: {secret}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_vendor_exits_1_after_printing_the_summary() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 4,
        accounts: vec![AccountSpec::new(VendorKind::Sungrow, 5, 0)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    sandbox.ok(&["vendor", "set", "v0", "--base-url", "http://127.0.0.1:9"]);
    let output = tokio::task::spawn_blocking({
        let mut cmd = sandbox.cmd();
        cmd.args(["sync", "plants"]).env("PLANTSYNC_SYNC_REQUEST_TIMEOUT_SECONDS", "2");
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("0/1 vendors successful"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 of 1 vendor(s) failed"));
    let vendor = sandbox.ok(&["vendor", "show", "v0", "--format", "json"]);
    let vendor: serde_json::Value = serde_json::from_str(&vendor).unwrap();
    assert!(vendor["last_error"].as_str().unwrap().contains("could not connect"), "{vendor}");
    let runs = sandbox.ok(&["runs", "list", "--format", "json"]);
    assert!(runs.contains("\"status\": \"failed\""), "{runs}");
    sim.shutdown().await;
}

#[test]
fn demo_runs_on_an_embedded_default() {
    let sandbox = Sandbox::new();
    let output = sandbox.cmd().args(["demo"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("using the data dir"), "--data-dir is honoured: {stdout}");
    assert_eq!(stdout.matches("5/5 vendors successful").count(), 2, "{stdout}");
    for kind in VendorKind::ALL {
        assert!(stdout.contains(&format!("Demo {}", kind.display_name())), "{kind}: {stdout}");
    }
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM plants"), "125\n");
    // Two alerts a plant, except Growatt, whose portal has no alert list.
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM alerts"), "200\n");
    // Running it again refreshes the demo vendors instead of duplicating them.
    let again = sandbox.cmd().args(["demo"]).output().unwrap();
    assert!(again.status.success());
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM vendors"), "5\n");
}

/// Without `--data-dir` the demo works in a fresh temporary dir, keeps it, says so, and every
/// command it suggests runs as printed (the binary's real path, the dir quoted).
#[test]
fn demo_in_a_temporary_dir_keeps_it_and_every_hint_runs() {
    let sandbox = Sandbox::new();
    let tmp = sandbox.data_dir().with_file_name("tmp dir");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut demo = std::process::Command::new(assert_cmd::cargo::cargo_bin!("plantsync"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("PLANTSYNC_")) {
        demo.env_remove(key);
    }
    let home = sandbox.data_dir().with_file_name("home");
    demo.env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .envs(crate::support::no_keyring_env(&home))
        .env("TMPDIR", &tmp);
    let output = demo.arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let kept: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1, "one demo dir, kept: {kept:?}");
    assert!(kept[0].join("plantsync.db").is_file());
    assert!(stdout.contains("the demo's data dir is kept"), "{stdout}");
    assert!(!home.join(".local/share/plantsync").exists(), "the default data dir is untouched");

    let hints: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "inspect the data:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(hints.len(), 5, "{stdout}");
    let bin = assert_cmd::cargo::cargo_bin!("plantsync").display().to_string();
    for hint in &hints[..4] {
        assert!(hint.starts_with(&bin), "names this binary: {hint}");
    }
    for hint in &hints {
        let ran = std::process::Command::new("sh")
            .args(["-c", hint])
            .env("HOME", &home)
            .envs(crate::support::no_keyring_env(&home))
            .env_remove("PLANTSYNC_DATA_DIR")
            .output()
            .unwrap();
        assert!(ran.status.success(), "{hint}: {}", String::from_utf8_lossy(&ran.stderr));
        assert!(!ran.stdout.is_empty(), "{hint} printed nothing");
    }
    let remove = stdout.lines().find(|l| l.trim_start().starts_with("rm -rf ")).unwrap();
    assert!(remove.contains("'") && remove.contains("tmp dir"), "quoted: {remove}");
    assert!(stdout.contains("vendor add --help"), "says how to go on: {stdout}");
}
