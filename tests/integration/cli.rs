//! Managing and inspecting through the binary; the same rows through `sqlite3`.

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, assert_snapshot, normalize, sqlite3};
use plantsync::domain::{
    AlertStatus, PlantStatus, Severity, Timestamp, VendorAlert, VendorId, VendorPlant,
};
use plantsync::store::Store;

fn add_org_and_vendor(sandbox: &Sandbox) {
    sandbox.ok(&["org", "add", "Alpha Solar", "--interval", "30"]);
    sandbox.ok(&["org", "add", "Beta Energy", "--auto-sync", "off"]);
    let mut cmd = sandbox.cmd();
    cmd.args(["vendor", "add", "--name", "Roof One", "--kind", "sungrow", "--org", "Alpha Solar"])
        .args([
            "--app-id",
            "APPKEY1",
            "--username",
            "ops@example.com",
            "--base-url",
            "http://127.0.0.1:9/",
        ])
        .write_stdin("secret-key-xyz\npassword-abc\n")
        .assert()
        .success();
    let mut cmd = sandbox.cmd();
    cmd.args(["vendor", "add", "--name", "Edge", "--kind", "solaredge"])
        .write_stdin("edge-api-key-123\n")
        .assert()
        .success();
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn orgs_and_vendors_in_every_format_match_sqlite3() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);

    let mut orgs = json(&sandbox.ok(&["org", "list", "--format", "json"]));
    normalize(&mut orgs);
    assert_snapshot("org_list", &orgs);
    let mut vendors = json(&sandbox.ok(&["vendor", "list", "--format", "json"]));
    normalize(&mut vendors);
    assert_snapshot("vendor_list", &vendors);

    let table = sandbox.ok(&["vendor", "list"]);
    assert!(table.lines().next().unwrap().starts_with("ID  NAME"), "{table}");
    assert!(table.contains("Roof One") && table.contains("sungrow"), "{table}");
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
    let csv = sandbox.ok(&["org", "list", "--format", "csv"]);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,name,auto_sync_enabled,sync_interval_minutes"));
    assert!(lines.next().unwrap().starts_with("1,Alpha Solar,true,30,1,0,"));

    // The same rows, read by the sqlite3 CLI from the same file.
    let rows = sqlite3(
        &sandbox.db(),
        "SELECT id, name, auto_sync_enabled, sync_interval_minutes FROM organizations ORDER BY id",
    );
    assert_eq!(rows, "1|Alpha Solar|1|30\n2|Beta Energy|0|15\n");
    let rows =
        sqlite3(&sandbox.db(), "SELECT id, name, kind, org_id, base_url FROM vendors ORDER BY id");
    assert_eq!(rows, "1|Roof One|sungrow|1|http://127.0.0.1:9\n2|Edge|solaredge||\n");
}

#[test]
fn org_set_and_remove_with_vendors() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    let shown =
        sandbox.ok(&["org", "set", "Alpha Solar", "--interval", "60", "--auto-sync", "off"]);
    assert!(shown.contains("60 min") && shown.contains("auto sync  no"), "{shown}");
    let refused = sandbox.cmd().args(["org", "remove", "1"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("still has 1 vendor(s)"));
    sandbox.ok(&["org", "remove", "1", "--force"]);
    let vendor = json(&sandbox.ok(&["vendor", "show", "Roof One", "--format", "json"]));
    assert_eq!(vendor["org_id"], serde_json::Value::Null);
}

#[test]
fn vendor_set_enable_disable_and_credentials_missing() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    sandbox.ok(&["vendor", "disable", "Edge"]);
    let inactive = json(&sandbox.ok(&["vendor", "list", "--active", "false", "--format", "json"]));
    assert_eq!(inactive.as_array().unwrap().len(), 1);
    sandbox.ok(&["vendor", "enable", "2"]);
    sandbox.ok(&["vendor", "set", "Edge", "--org", "Beta Energy", "--name", "Edge Fleet"]);
    let shown = json(&sandbox.ok(&["vendor", "show", "Edge Fleet", "--format", "json"]));
    assert_eq!(shown["org_name"], "Beta Energy");
    assert_eq!(shown["credentials_set"], serde_json::json!(["api_key"]));
    assert_eq!(shown["credentials_missing"], serde_json::json!([]));

    // A missing non-secret credential is a usage error, and nothing is created.
    let output = sandbox
        .cmd()
        .args(["vendor", "add", "--name", "X", "--kind", "solarman", "--username", "u"])
        .write_stdin("a\nb\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs --app-id (Solarman appId)"));
    // A secret missing or empty on stdin is a usage error too.
    refused(
        &sandbox,
        &["vendor", "add", "--name", "Y", "--kind", "growatt"],
        "",
        2,
        "expected the Growatt API token on standard input (one secret per line), found end of \
         input",
    );
    let solarman =
        ["vendor", "add", "--name", "Z", "--kind", "solarman", "--app-id", "a", "--username", "u"];
    refused(&sandbox, &solarman, "app-secret\n", 2, "expected the password on standard input");
    refused(&sandbox, &solarman, "\n", 2, "the Solarman appSecret is empty");
    refused(
        &sandbox,
        &["vendor", "set", "Edge Fleet", "--api-key"],
        "",
        2,
        "new SolarEdge API key",
    );
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM vendors"), "2\n");
}

/// Fills the sandbox's database through the library, as the sync engine will.
fn seed_plants(sandbox: &Sandbox) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(sandbox.db()).unwrap();
        let plants: Vec<VendorPlant> = (1..=5)
            .map(|i| VendorPlant {
                vendor_plant_id: format!("ps-{i}"),
                name: Some(format!("Farm {i}")),
                capacity_kw: Some(10.0 * f64::from(i)),
                current_power_kw: Some(f64::from(i)),
                network_status: Some(if i == 3 { "ALL_OFFLINE" } else { "NORMAL" }.into()),
                status: Some(if i == 3 { PlantStatus::Offline } else { PlantStatus::Online }),
                raw_json: Some(format!("{{\"ps_id\":{i}}}")),
                ..Default::default()
            })
            .collect();
        store.upsert_plants(VendorId(1), plants, Timestamp::now()).await.unwrap();
        let alert = VendorAlert {
            vendor_alert_key: "ps-2|key|10|20260406100000".into(),
            vendor_plant_id: Some("ps-2".into()),
            device_sn: Some("A235".into()),
            severity: Severity::High,
            status: AlertStatus::Active,
            code: Some("10".into()),
            title: "Grid power outage".into(),
            description: None,
            started_at: Some("2026-04-06T02:00:00Z".parse().unwrap()),
            ended_at: None,
            raw_json: None,
        };
        store.upsert_alerts(VendorId(1), vec![alert], Timestamp::now()).await.unwrap();
        store.close();
    });
}

#[test]
fn plants_and_alerts_listings_filter_and_show() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    seed_plants(&sandbox);

    let all = json(&sandbox.ok(&["plants", "list", "--org", "Alpha Solar", "--format", "json"]));
    assert_eq!(all.as_array().unwrap().len(), 5);
    let offline =
        json(&sandbox.ok(&["plants", "list", "--status", "all_offline", "--format", "json"]));
    assert_eq!(offline[0]["name"], "Farm 3");
    let normalized =
        json(&sandbox.ok(&["plants", "list", "--status", "offline", "--format", "json"]));
    assert_eq!(normalized, offline, "plantsync's word and the vendor's find the same plant");
    assert_eq!(normalized[0]["status"], "offline");
    let top = json(&sandbox.ok(&[
        "plants", "list", "--sort", "capacity", "--desc", "--limit", "2", "--format", "json",
    ]));
    assert_eq!(
        top.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Farm 5", "Farm 4"]
    );
    let search = json(&sandbox.ok(&["plants", "list", "--search", "farm 4", "--format", "json"]));
    assert_eq!(search.as_array().unwrap().len(), 1);
    let none = json(&sandbox.ok(&["plants", "list", "--org", "Beta Energy", "--format", "json"]));
    assert_eq!(none, serde_json::json!([]));
    let mut one = json(&sandbox.ok(&["plants", "show", "2", "--format", "json"]));
    normalize(&mut one);
    assert_snapshot("plant_show", &one);
    let table = sandbox.ok(&["plants", "list"]);
    assert!(table.ends_with("5 plant(s)\n"), "{table}");
    // The vendor by name and id (names may be shared across organizations), and the
    // normalized status.
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains("  Farm 1  Roof One (1)  "), "{table}");
    assert_eq!(row.split_whitespace().rev().nth(1), Some("online"), "{table}");

    let alerts = json(&sandbox.ok(&[
        "alerts",
        "list",
        "--severity",
        "high",
        "--since",
        "2026-04-01",
        "--format",
        "json",
    ]));
    assert_eq!(alerts[0]["plant_name"], "Farm 2");
    let later = json(&sandbox.ok(&[
        "alerts",
        "list",
        "--since",
        "2026-05-01T00:00:00Z",
        "--format",
        "json",
    ]));
    assert_eq!(later, serde_json::json!([]));
    let table = sandbox.ok(&["alerts", "list"]);
    assert!(table.contains("Grid power outage") && table.ends_with("\n1 alert(s)\n"), "{table}");
    let shown = sandbox.ok(&["alerts", "show", "1"]);
    assert!(shown.contains("Grid power outage") && shown.contains("A235"), "{shown}");

    let bad_since = sandbox.cmd().args(["alerts", "list", "--since", "whenever"]).output().unwrap();
    assert_eq!(bad_since.status.code(), Some(2));
    let missing = sandbox.cmd().args(["plants", "show", "99"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("plant 99 not found"));

    let status = json(&sandbox.ok(&["status", "--format", "json"]));
    assert_eq!(status["plants"], 5);
    assert_eq!(status["active_alerts"], 1);
    assert!(status["database_bytes"].as_u64().unwrap() > 0);
    let runs = json(&sandbox.ok(&["runs", "list", "--format", "json"]));
    assert_eq!(runs, serde_json::json!([]));
}

#[test]
fn log_lines_carry_the_user_source_and_operation() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    let logs = sandbox.logs();
    assert!(
        logs.contains(
            "] [USER] [org-add] [INFO] [Vendor:-] [Org:1] organization 'Alpha Solar' created"
        ),
        "{logs}"
    );
    assert!(
        logs.contains("] [USER] [vendor-add] [INFO] [Vendor:1] [Org:-] vendor 'Roof One' created"),
        "{logs}"
    );
}

fn refused(sandbox: &Sandbox, args: &[&str], stdin: &str, code: i32, wanted: &str) {
    let output = sandbox.cmd().args(args).write_stdin(stdin).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(wanted), "{args:?}: {stderr:?} lacks {wanted:?}");
}

#[test]
fn blank_names_are_usage_errors_and_vendor_names_are_unique_per_organization() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    let blank_org = "an organization's name cannot be blank";
    refused(&sandbox, &["org", "add", ""], "", 2, blank_org);
    refused(&sandbox, &["org", "add", "   "], "", 2, blank_org);
    refused(&sandbox, &["org", "set", "Alpha Solar", "--name", " \t"], "", 2, blank_org);
    // Refused before the secret is asked for: stdin is empty, and the error is the name.
    let blank_vendor = "a vendor's name cannot be blank";
    let add = ["vendor", "add", "--kind", "growatt", "--org", "Alpha Solar", "--name"];
    refused(&sandbox, &[&add[..], &["  "]].concat(), "", 2, blank_vendor);
    refused(&sandbox, &["vendor", "set", "Edge", "--name", ""], "", 2, blank_vendor);

    let taken = "a vendor named 'Roof One' already exists in organization 'Alpha Solar' \
                 (vendor id 1); choose another name";
    refused(&sandbox, &[&add[..], &["Roof One"]].concat(), "", 1, taken);
    // Another organization may have the name; moving it next to the first is refused.
    let mut cmd = sandbox.cmd();
    cmd.args(["vendor", "add", "--kind", "growatt", "--org", "Beta Energy", "--name", "Roof One"])
        .write_stdin("growatt-token\n")
        .assert()
        .success();
    refused(&sandbox, &["vendor", "set", "3", "--org", "Alpha Solar"], "", 1, taken);
    refused(&sandbox, &["vendor", "set", "Edge", "--org", "1", "--name", "Roof One"], "", 1, taken);

    // `--vendor` with a shared name says how to pick one; `--org` picks it.
    refused(
        &sandbox,
        &["sync", "plants", "--vendor", "Roof One"],
        "",
        2,
        "2 vendors are named 'Roof One' (id 1 in organization 'Alpha Solar', id 3 in \
         organization 'Beta Energy'); name the vendor by its id or, where the command takes \
         one, --org",
    );
    refused(
        &sandbox,
        &["sync", "plants", "--vendor", "Roof One", "--org", "Beta Energy"],
        "",
        2,
        "vendor 'Roof One' (id 3) belongs to 'Beta Energy', whose auto-sync is off",
    );
    let rows = sqlite3(&sandbox.db(), "SELECT id, name, org_id FROM vendors ORDER BY id");
    assert_eq!(rows, "1|Roof One|1\n2|Edge|\n3|Roof One|2\n");
    assert_eq!(
        sqlite3(&sandbox.db(), "SELECT name FROM organizations ORDER BY id"),
        "Alpha Solar\nBeta Energy\n"
    );
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM sync_runs"), "0\n");
}

/// Off a terminal (here a pipe) tables have no width limit: a long error and a long name
/// are printed whole, each row on one line.
#[test]
fn piped_tables_never_cut_an_error_or_a_name() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    let error = "alerts not supported: iSolarCloud refused getFaultAlarmInfo (E994, no \
                 permission for this app key); asked again after 2026-11-30 10:15";
    let name = "Roof One of the very long named rooftop portfolio in Pune";
    sqlite3(
        &sandbox.db(),
        &format!("UPDATE vendors SET last_error = '{error}', name = '{name}' WHERE id = 1"),
    );
    let table = sandbox.ok(&["vendor", "list"]);
    let row = table.lines().find(|line| line.contains(name)).unwrap_or_else(|| panic!("{table}"));
    assert!(row.ends_with(error), "{table}");
    assert!(!table.contains('…'), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[test]
fn vendor_add_help_names_every_kind_and_vendor_show_the_portals_names() {
    let sandbox = Sandbox::new();
    let help = sandbox.ok(&["vendor", "add", "--help"]);
    for kind in ["solarman", "sungrow", "solaredge", "huawei", "growatt"] {
        assert!(help.contains(&format!("\n  {kind:<10} ")), "{kind}:\n{help}");
    }
    assert!(
        help.contains("[possible values: solarman, sungrow, solaredge, huawei, growatt]"),
        "{help}"
    );
    assert!(
        help.contains("secrets:  iSolarCloud x-access-key secret (--app-secret), password\n"),
        "{help}"
    );
    assert!(!help.contains(") ("), "doubled parentheses:\n{help}");
    refused(&sandbox, &["vendor", "add", "--name", "X", "--kind", "solarmen"], "", 2, "'solarman'");
    assert!(help.contains("flags:    --app-id (Solarman appId), --username\n"), "{help}");
    assert!(help.contains("secrets:  FusionSolar systemCode (--password)\n"), "{help}");
    assert!(help.contains("secrets:  Growatt API token (--api-key)\n"), "{help}");

    let mut cmd = sandbox.cmd();
    cmd.args(["vendor", "add", "--name", "Fusion", "--kind", "huawei", "--username", "api-user"])
        .write_stdin("system-code-1\n")
        .assert()
        .success();
    let shown = sandbox.ok(&["vendor", "show", "Fusion"]);
    assert!(
        shown.contains(
            "credentials set      FusionSolar API account userName (--username), FusionSolar \
             systemCode (--password)\n"
        ),
        "{shown}"
    );
    let shown = json(&sandbox.ok(&["vendor", "show", "Fusion", "--format", "json"]));
    assert_eq!(shown["credentials_set"], serde_json::json!(["username", "password"]));
}

/// One rule for a sync that selects no vendor: it is no run. The CLI and the manual API
/// trigger refuse it (exit 2, HTTP 400), the scheduled path (the cron GET, which decides by
/// the same rule as the agent's loop) answers `not_due`; no path records a run of 0/0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_selects_no_vendor_is_never_recorded_as_a_run() {
    let sandbox = Sandbox::new();
    // An office whose only vendor is disabled, and a vendor without an organization: none
    // is eligible, forced or not.
    sandbox.ok(&["org", "add", "Office"]);
    for (name, org) in [("Off", &["--org", "Office"][..]), ("Idle", &[])] {
        let mut cmd = sandbox.cmd();
        cmd.args(["vendor", "add", "--kind", "growatt", "--name", name])
            .args(org)
            .args(["--base-url", "http://127.0.0.1:9"])
            .write_stdin("growatt-token\n")
            .assert()
            .success();
    }
    sandbox.ok(&["vendor", "disable", "Off"]);
    let nothing = "no vendor to sync: a vendor needs to be active and in an organization";
    for kind in ["plants", "alerts"] {
        refused(&sandbox, &["sync", kind], "", 2, nothing);
        refused(&sandbox, &["sync", kind, "--force"], "", 2, nothing);
    }

    let token = sandbox.ok(&["token", "show"]).trim().to_owned();
    let quiet = [
        // No restricted window, so the answer does not depend on the time of day.
        ("PLANTSYNC_SYNC_WINDOW_START", "00:00"),
        ("PLANTSYNC_SYNC_WINDOW_END", "00:00"),
    ];
    let mut agent = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).envs(quiet).spawn().unwrap();
    let info_path = sandbox.data_dir().join("agent.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let api = loop {
        let info: Option<serde_json::Value> =
            std::fs::read_to_string(&info_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        if let Some(api) = info.and_then(|i| i["api"].as_str().map(str::to_owned)) {
            break api;
        }
        assert!(std::time::Instant::now() < deadline, "the agent did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let client =
        plantsync::vendors::http::plain_client(std::time::Duration::from_secs(30)).unwrap();
    for kind in ["plants", "alerts"] {
        let url = format!("http://{api}/api/cron/sync-{kind}");
        let answer = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(
            (&body["success"], &body["reason"]),
            (&true.into(), &"not_due".into()),
            "{body}"
        );
        assert_eq!(body["summary"]["totalVendors"], 0, "{body}");
        assert!(body.get("runId").is_none(), "{body}");
        let answer = client.post(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(answer.status(), 400);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(nothing), "{body}");
    }
    // Through the running agent, the CLI refuses it the same way.
    refused(&sandbox, &["sync", "plants"], "", 2, nothing);
    std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status().unwrap();
    assert!(agent.wait().unwrap().success());
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM sync_runs"), "0\n");
}

fn store_of(sandbox: &Sandbox, fill: impl AsyncFnOnce(&Store)) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(sandbox.db()).unwrap();
        fill(&store).await;
        store.close();
    });
}

fn portal_plant(id: &str, name: &str) -> VendorPlant {
    VendorPlant {
        vendor_plant_id: id.into(),
        name: Some(name.into()),
        network_status: Some("NORMAL".into()),
        status: Some(PlantStatus::Online),
        ..Default::default()
    }
}

fn portal_alert(plant: &str, title: &str) -> VendorAlert {
    VendorAlert {
        vendor_alert_key: format!("{plant}|1"),
        vendor_plant_id: Some(plant.into()),
        device_sn: None,
        severity: Severity::Low,
        status: AlertStatus::Active,
        code: None,
        title: title.into(),
        description: None,
        started_at: Some("2026-04-06T02:00:00Z".parse().unwrap()),
        ended_at: None,
        raw_json: None,
    }
}

fn names(listing: &serde_json::Value, field: &str) -> Vec<String> {
    listing.as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_owned()).collect()
}

/// 'Roof' in Pune and in Mumbai: `--org` picks one in the listings as in `sync`, and a
/// name that stays ambiguous is a usage error (exit 2) in every command that takes it.
#[test]
fn org_picks_a_shared_vendor_name_and_an_ambiguous_one_is_a_usage_error() {
    let sandbox = Sandbox::new();
    for org in ["Pune", "Mumbai"] {
        sandbox.ok(&["org", "add", org]);
        let mut cmd = sandbox.cmd();
        cmd.args(["vendor", "add", "--kind", "growatt", "--org", org, "--name", "Roof"])
            .write_stdin("growatt-token\n")
            .assert()
            .success();
    }
    store_of(&sandbox, async |store| {
        for (vendor, plant, name) in [(1, "p1", "Pune Farm"), (2, "m1", "Mumbai Farm")] {
            let plants = vec![portal_plant(plant, name)];
            store.upsert_plants(VendorId(vendor), plants, Timestamp::now()).await.unwrap();
            let alerts = vec![portal_alert(plant, &format!("{name} fault"))];
            store.upsert_alerts(VendorId(vendor), alerts, Timestamp::now()).await.unwrap();
        }
    });
    let pick = ["--org", "Mumbai", "--vendor", "Roof", "--format", "json"];
    let plants = json(&sandbox.ok(&[&["plants", "list"][..], &pick].concat()));
    assert_eq!(names(&plants, "name"), ["Mumbai Farm"]);
    let alerts = json(&sandbox.ok(&[&["alerts", "list"][..], &pick].concat()));
    assert_eq!(names(&alerts, "title"), ["Mumbai Farm fault"]);
    let pune = json(
        &sandbox.ok(&["plants", "list", "--org", "1", "--vendor", "Roof", "--format", "json"]),
    );
    assert_eq!(names(&pune, "name"), ["Pune Farm"]);

    let ambiguous = "2 vendors are named 'Roof' (id 1 in organization 'Pune', id 2 in \
                     organization 'Mumbai'); name the vendor by its id or, where the command \
                     takes one, --org";
    for args in [
        &["plants", "list", "--vendor", "Roof"][..],
        &["alerts", "list", "--vendor", "Roof"],
        &["vendor", "show", "Roof"],
        &["vendor", "set", "Roof", "--username", "x"],
        &["vendor", "disable", "Roof"],
        &["vendor", "remove", "Roof"],
        &["sync", "plants", "--vendor", "Roof"],
    ] {
        refused(&sandbox, args, "", 2, ambiguous);
    }
    // A name another vendor of the organization has is a conflict with stored data: exit 1.
    let taken = "a vendor named 'Roof' already exists in organization 'Pune'";
    let add = ["vendor", "add", "--kind", "growatt", "--org", "Pune", "--name", "Roof"];
    refused(&sandbox, &add, "t\n", 1, taken);
    refused(
        &sandbox,
        &["org", "add", "Pune"],
        "",
        1,
        "an organization named 'Pune' already exists",
    );
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM vendors WHERE is_active = 1"), "2\n");
}

/// Names the user gives are refused with a control character in them; names that came
/// from a portal (or an older plantsync) are printed harmlessly: one row, one line, no
/// escape sequence reaching the terminal. JSON keeps the text as stored.
#[test]
fn control_characters_are_refused_in_names_and_never_printed_in_tables() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    let control = "name contains a control character";
    refused(&sandbox, &["org", "add", "North\nSouth"], "", 2, control);
    refused(&sandbox, &["org", "add", "\u{1b}[31mRED\u{1b}[0m"], "", 2, control);
    refused(&sandbox, &["org", "set", "Alpha Solar", "--name", "A\u{7}"], "", 2, control);
    let add = ["vendor", "add", "--kind", "growatt", "--org", "Alpha Solar", "--name"];
    refused(&sandbox, &[&add[..], &["Roof\tTwo"]].concat(), "", 2, control);
    refused(&sandbox, &["vendor", "set", "Edge", "--name", "E\u{1b}dge"], "", 2, control);
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM organizations"), "2\n");

    let hostile = "North\nSouth \u{1b}[31mRED\u{1b}[0m\u{7}";
    store_of(&sandbox, async |store| {
        let plants = vec![portal_plant("ps-1", hostile)];
        store.upsert_plants(VendorId(1), plants, Timestamp::now()).await.unwrap();
        let alerts = vec![portal_alert("ps-1", hostile)];
        store.upsert_alerts(VendorId(1), alerts, Timestamp::now()).await.unwrap();
    });
    sqlite3(
        &sandbox.db(),
        "UPDATE organizations SET name = 'Beta' || char(10) || 'Energy' || char(27) || '[2J' WHERE id = 2",
    );
    let shown = "North South \u{fffd}[31mRED\u{fffd}[0m\u{fffd}";
    for (args, rows) in [
        (&["plants", "list"][..], 1),
        (&["alerts", "list"], 1),
        (&["org", "list"], 2),
        (&["plants", "show", "1"], 0),
        (&["alerts", "show", "1"], 0),
    ] {
        let text = sandbox.ok(args);
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: {text:?}");
        if rows > 0 {
            // The header, the rows, and the count line where there is one.
            let count = usize::from(args[0] != "org");
            assert_eq!(text.lines().count(), 1 + rows + count, "{args:?}: {text}");
        }
        if args[0] != "org" {
            assert!(text.contains(shown), "{args:?}: {text:?}");
        }
    }
    assert!(sandbox.ok(&["org", "list"]).contains("Beta Energy\u{fffd}[2J"));
    let raw = json(&sandbox.ok(&["plants", "list", "--format", "json"]));
    assert_eq!(raw[0]["name"], hostile, "JSON keeps the text and escapes it");
}

/// A portal's word no stored plant has is answered with the words there are, once, on
/// stderr; the listing is still an (empty) answer, exit 0.
#[test]
fn an_unknown_status_word_lists_the_words_there_are() {
    let sandbox = Sandbox::new();
    add_org_and_vendor(&sandbox);
    seed_plants(&sandbox);
    let output = sandbox.cmd().args(["plants", "list", "--status", "bogus"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ID  NAME  VENDOR  KWP  KW NOW  KWH TODAY  KWH YESTERDAY  STATUS  ON\n0 plant(s)\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "plantsync: no plant has the status 'bogus'; --status takes one of online, partial, \
         offline, fault, unknown (every portal) or a portal's own word (stored here: \
         ALL_OFFLINE, NORMAL)\n"
    );
    let output = sandbox
        .cmd()
        .args(["plants", "list", "--status", "bogus", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        (output.status.code(), json(&String::from_utf8_lossy(&output.stdout))),
        (Some(0), serde_json::json!([]))
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), stderr);
    // A word some plant has, left out by another filter, needs no hint.
    let output = sandbox
        .cmd()
        .args(["plants", "list", "--status", "all_offline", "--org", "Beta Energy"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// The demo's "go on" lines, run as printed in a shell (in a data dir of their own): the
/// organization and then a vendor in it are created, so `sync plants` has a vendor to take.
#[test]
fn the_demo_go_on_lines_add_a_vendor_the_sync_can_take() {
    let sandbox = Sandbox::new();
    let output = sandbox.cmd().args(["demo"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("go on with your own portal accounts"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let bin = assert_cmd::cargo::cargo_bin!("plantsync").display().to_string();
    let wanted = ["org add", "vendor add --org", "vendor add --help", "sync plants", "run"];
    assert_eq!(lines.len(), wanted.len(), "{stdout}");
    for (line, what) in lines.iter().zip(wanted) {
        assert!(line.starts_with(&format!("{bin} {what}")), "{line}\n{stdout}");
    }
    let own = sandbox.dir.path().join("own");
    for (line, stdin) in
        [(lines[0], ""), (lines[1], "the-app-secret\nthe-password\n"), (lines[2], "")]
    {
        let ran = std::process::Command::new("sh")
            .args(["-c", line])
            .env("HOME", &own)
            .env("XDG_DATA_HOME", own.join(".local/share"))
            .env("XDG_CONFIG_HOME", own.join(".config"))
            .envs(crate::support::no_keyring_env(&own))
            .env_remove("PLANTSYNC_DATA_DIR")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(stdin.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(ran.status.success(), "{line}: {}", String::from_utf8_lossy(&ran.stderr));
    }
    let db = std::fs::read_dir(own.join(".local/share")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(
        sqlite3(
            &db.join("plantsync.db"),
            "SELECT v.name, v.kind, o.name FROM vendors v JOIN organizations o ON o.id = v.org_id"
        ),
        "Roof A|solarman|My Office\n"
    );
}
