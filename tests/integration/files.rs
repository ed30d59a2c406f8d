//! The files plantsync creates and the files it is given: modes, read-only copies, empty,
//! foreign and damaged databases, bad paths, the log file's name, the same log line on
//! stderr and in the file. Everything through the real binary on real files.

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Faults, Simulator, SimulatorConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A log line without its timestamp, which differs between the console and the file.
fn without_time(line: &str) -> &str {
    line.split_once("] ").map_or(line, |(_, rest)| rest)
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every directory under `root` (itself included) with its mode, and every file.
#[cfg(unix)]
fn modes(root: &Path) -> Vec<(String, u32)> {
    let mut found = vec![(root.display().to_string(), mode(root))];
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(modes(&path));
        } else {
            found.push((path.display().to_string(), mode(&path)));
        }
    }
    found
}

#[cfg(unix)]
fn assert_owner_only(root: &Path, when: &str) {
    for (path, mode) in modes(root) {
        let expected = if Path::new(&path).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{when}: {path} is {mode:o}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_plantsync_creates_is_owner_only() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 8,
        accounts: vec![AccountSpec::new(VendorKind::Solarman, 10, 1)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    let config = sandbox.dir.path().join("conf/plantsync/config.toml");
    sandbox.ok(&["init", "--config", config.to_str().unwrap()]);
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().unwrap()), 0o700);
    assert_eq!(mode(&sandbox.dir.path().join("conf")), 0o700);

    add_vendors(&sandbox, &sim, 1);
    // A CLI sync, held mid-run by the simulator, so its `sync.json` can be looked at.
    sim.hold(0);
    let mut cmd = sandbox.cmd();
    cmd.args(["sync", "plants"]);
    let sync = tokio::task::spawn_blocking(move || cmd.output().unwrap());
    sim.wait_until_held(0).await;
    assert_owner_only(&sandbox.data_dir(), "during a CLI sync");
    assert!(sandbox.data_dir().join("sync.json").exists());
    sim.release(0);
    let output = sync.await.unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    sandbox.ok(&["token", "show"]);
    assert_owner_only(&sandbox.data_dir(), "after a sync");

    let mut agent = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    let info = sandbox.data_dir().join("agent.json");
    wait_for("the agent's API", || {
        std::fs::read_to_string(&info).is_ok_and(|text| text.contains("\"api\": \"127."))
    })
    .await;
    assert_owner_only(&sandbox.data_dir(), "while the agent runs");
    std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status().unwrap();
    assert!(agent.wait().unwrap().success());
    assert_owner_only(&sandbox.data_dir(), "after the agent stopped");

    // The demo, in a data dir of its own (a fresh one, as without --data-dir).
    let demo = Sandbox::new();
    let output = demo.cmd().args(["demo"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_owner_only(&demo.data_dir(), "after the demo");
    sim.shutdown().await;
}

/// Whether the tests run as root, which ignores file modes.
fn is_root() -> bool {
    let output = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// The binary as a user who may not write `dir`'s files: `nobody` (through util-linux's
/// `setpriv`) when the tests run as root, the current user otherwise. HOME is `home`.
fn as_reader(home: &Path) -> std::process::Command {
    let bin = assert_cmd::cargo::cargo_bin!("plantsync");
    let mut cmd = if is_root() {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(bin);
        cmd
    } else {
        std::process::Command::new(bin)
    };
    for (key, _) in std::env::vars() {
        if key.starts_with("PLANTSYNC_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home).env("XDG_CONFIG_HOME", home.join(".config"));
    cmd.envs(crate::support::no_keyring_env(home));
    cmd
}

/// A directory every user may enter (tempdirs are private to their owner).
#[cfg(unix)]
fn public_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    dir
}

/// Copies `files` of the sandbox's data dir into `into/name`, readable by everyone,
/// writable by nobody but root.
#[cfg(unix)]
fn read_only_copy(sandbox: &Sandbox, into: &Path, name: &str, files: &[&str]) -> PathBuf {
    let copy = into.join(name);
    std::fs::create_dir(&copy).unwrap();
    for file in files {
        let to = copy.join(file);
        std::fs::copy(sandbox.data_dir().join(file), &to).unwrap();
        chmod(&to, 0o444);
    }
    chmod(&copy, 0o555);
    copy
}

#[cfg(unix)]
fn inspect(home: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    as_reader(home).arg("--data-dir").arg(dir).args(args).output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_read_only_copy_is_inspected_without_writing() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    // The main file holds everything before it is copied alone.
    sqlite3(&sandbox.db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    let expected = sandbox.ok(&["org", "list", "--format", "json"]);
    let public = public_tempdir();

    // A copy taken after a clean stop: the database alone, in a read-only directory.
    let plain = read_only_copy(&sandbox, public.path(), "plain", &["plantsync.db"]);
    for args in [&["org", "list", "--format", "json"][..], &["status", "--format", "json"]] {
        let output = inspect(public.path(), &plain, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let lines: Vec<&str> = std::str::from_utf8(&output.stderr).unwrap().lines().collect();
        let operation = if args[0] == "org" { "org-list" } else { "status" };
        let said = format!(
            "[USER] [{operation}] [WARN] [Vendor:-] [Org:-] data dir {} is read-only: reading {}/plantsync.db without changing it, and logging to the console only",
            plain.display(),
            plain.display()
        );
        assert_eq!(lines.iter().map(|l| without_time(l)).collect::<Vec<_>>(), [said.as_str()]);
    }
    let listed = inspect(public.path(), &plain, &["org", "list", "--format", "json"]);
    assert_eq!(String::from_utf8(listed.stdout).unwrap(), expected);
    let mut names: Vec<String> = std::fs::read_dir(&plain)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["plantsync.db"], "nothing was created beside the copy");

    // A writing command on it: refused, one line, exit 2.
    let output = inspect(public.path(), &plain, &["org", "add", "Beta"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "plantsync: error: cannot write to data dir {}: permission denied\n",
            plain.display()
        )
    );

    // A read-only file in a directory the reader may write.
    let writable = public.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    std::fs::copy(sandbox.db(), writable.join("plantsync.db")).unwrap();
    chmod(&writable.join("plantsync.db"), 0o444);
    chmod(&writable, 0o777);
    let output = inspect(public.path(), &writable, &["org", "list", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    let said: Vec<String> = stderr(&output).lines().map(|l| without_time(l).to_owned()).collect();
    assert_eq!(
        said,
        [format!(
            "[USER] [org-list] [WARN] [Vendor:-] [Org:-] database {}/plantsync.db is read-only: reading it without changing it",
            writable.display()
        )]
    );
    let output = inspect(public.path(), &writable, &["status"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The directory may be written (its log file is there), the database's own never.
    let beside: Vec<String> = std::fs::read_dir(&writable)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("plantsync.db"))
        .collect();
    assert_eq!(beside, ["plantsync.db"], "nothing was created beside the read-only file");
    let output = inspect(public.path(), &writable, &["org", "add", "Beta"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "plantsync: error: cannot write to database {}/plantsync.db: permission denied\n",
            writable.display()
        )
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_copy_that_cannot_be_read_correctly_says_what_to_do() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    let public = public_tempdir();

    // A live database's files: its write-ahead log has commits the main file lacks.
    let live = plantsync::store::Store::open(sandbox.db()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let beta = plantsync::domain::NewOrganization {
            name: "Beta Energy".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        };
        live.add_org(beta).await.unwrap();
    });
    let wal = read_only_copy(&sandbox, public.path(), "wal", &["plantsync.db", "plantsync.db-wal"]);
    // With its -shm too, the copy reads like the original, log included.
    let full = read_only_copy(
        &sandbox,
        public.path(),
        "full",
        &["plantsync.db", "plantsync.db-wal", "plantsync.db-shm"],
    );
    live.close();
    let output = inspect(public.path(), &full, &["org", "list", "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8(output.stdout).unwrap().contains("Beta Energy"));

    let output = inspect(public.path(), &wal, &["org", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).lines().last().unwrap(),
        format!(
            "plantsync: error: database {}/plantsync.db cannot be read without changing it: its write-ahead log (-wal) has commits but there is no -shm file; copy the database and its -wal file to a directory you may write and inspect the copy",
            wal.display()
        )
    );

    // An older schema: reading it would need the migration a read-only file cannot get.
    let old = public.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::copy(sandbox.db(), old.join("plantsync.db")).unwrap();
    sqlite3(&old.join("plantsync.db"), "PRAGMA user_version = 2");
    chmod(&old.join("plantsync.db"), 0o444);
    chmod(&old, 0o555);
    let output = inspect(public.path(), &old, &["org", "list"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).lines().last().unwrap(),
        format!(
            "plantsync: error: database {}/plantsync.db has schema version 2 and cannot be written; this plantsync reads version {}: copy the file to a writable directory and run plantsync on the copy once (it upgrades the copy), or read it with the plantsync that wrote it",
            old.display(),
            plantsync::store::SCHEMA_VERSION
        )
    );
}

#[test]
fn an_empty_or_foreign_database_is_refused_and_left_as_it_is() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    std::fs::write(sandbox.db(), b"").unwrap();
    let db = sandbox.db().display().to_string();
    let empty = format!(
        "plantsync: error: database {db} is empty (0 bytes); plantsync left it as it is: restore it from a backup, or delete it to start a fresh database"
    );
    let output = sandbox.cmd().arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), format!("{empty}\n"));

    // The agent refuses it too, and leaves no lock or agent file behind.
    let output = sandbox.cmd().arg("run").env("PLANTSYNC_API_PORT", "0").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).lines().last(), Some(empty.as_str()));
    assert!(!sandbox.data_dir().join("agent.lock").exists());
    assert!(!sandbox.data_dir().join("agent.json").exists());
    assert_eq!(std::fs::metadata(sandbox.db()).unwrap().len(), 0, "never overwritten");

    std::fs::write(sandbox.db(), b"id,name\n1,Roof\n").unwrap();
    let output = sandbox.cmd().args(["org", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "plantsync: error: database {db} is not a SQLite database; plantsync left it as it is: restore it from a backup, or move it away to start a fresh database\n"
        )
    );
    assert_eq!(std::fs::read(sandbox.db()).unwrap(), b"id,name\n1,Roof\n");

    // A database that did not exist is created, as always.
    std::fs::remove_file(sandbox.db()).unwrap();
    sandbox.ok(&["status"]);
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn a_database_of_another_application_is_refused_and_left_as_it_is() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    sqlite3(&sandbox.db(), "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
    let before = sha256(&sandbox.db());
    let said = format!(
        "plantsync: error: database {} is a SQLite database of another application, not a plantsync database; plantsync left it as it is: point --data-dir at another directory, or move the file away to start a fresh database\n",
        sandbox.db().display()
    );
    for args in [&["org", "add", "Alpha"][..], &["status"], &["sync", "plants"]] {
        let output = sandbox.cmd().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&output), said, "{args:?}");
        assert_eq!(sha256(&sandbox.db()), before, "{args:?} left the file as it was");
    }
    assert_eq!(sqlite3(&sandbox.db(), "SELECT name FROM sqlite_master").trim(), "invoices");
    assert_eq!(sqlite3(&sandbox.db(), "PRAGMA journal_mode").trim(), "delete");
}

#[cfg(unix)]
#[test]
fn a_database_of_another_application_is_refused_read_only_too() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    sqlite3(&sandbox.db(), "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
    let public = public_tempdir();
    let copy = read_only_copy(&sandbox, public.path(), "copy", &["plantsync.db"]);
    let output = inspect(public.path(), &copy, &["status"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).ends_with(&format!(
            "plantsync: error: database {}/plantsync.db is a SQLite database of another application, not a plantsync database; plantsync left it as it is: point --data-dir at another directory, or move the file away to start a fresh database\n",
            copy.display()
        )),
        "{}",
        stderr(&output)
    );
}

/// Overwrites the start of the alerts table's root page (a page a plant sync never reads)
/// and returns its number.
fn damage_the_alerts_root_page(db: &std::path::Path) -> u64 {
    let root: u64 = sqlite3(db, "SELECT rootpage FROM sqlite_master WHERE name = 'alerts'")
        .trim()
        .parse()
        .unwrap();
    let page_size: u64 = sqlite3(db, "PRAGMA page_size").trim().parse().unwrap();
    let mut bytes = std::fs::read(db).unwrap();
    let start = ((root - 1) * page_size) as usize;
    bytes[start..start + 64].fill(0xEE);
    std::fs::write(db, &bytes).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_rollback_journal_database_is_refused_before_anything_changes_it() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 6,
        accounts: vec![AccountSpec::new(VendorKind::Sungrow, 10, 1)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    sandbox.ok(&["sync", "alerts"]);
    // A copy converted to a rollback journal (sqlite3's default), then damaged.
    assert_eq!(sqlite3(&sandbox.db(), "PRAGMA journal_mode = DELETE").trim(), "delete");
    damage_the_alerts_root_page(&sandbox.db());
    let before = sha256(&sandbox.db());

    let output = tokio::task::spawn_blocking({
        let mut cmd = sandbox.cmd();
        cmd.args(["sync", "plants"]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains(" is damaged (SQLite's quick check: "), "{}", stderr(&output));
    assert_eq!(sha256(&sandbox.db()), before, "the header still says rollback journal");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_stops_a_sync_before_it_writes() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 5,
        accounts: vec![AccountSpec::new(VendorKind::Sungrow, 10, 1)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    sandbox.ok(&["sync", "alerts"]);
    // Damage a page a plant sync never reads: the alerts table's root.
    let root = damage_the_alerts_root_page(&sandbox.db());
    let bytes = std::fs::read(sandbox.db()).unwrap();

    let output = tokio::task::spawn_blocking({
        let mut cmd = sandbox.cmd();
        cmd.args(["sync", "plants"]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    let prefix = format!(
        "plantsync: error: database {} is damaged (SQLite's quick check: Tree {root} page {root}",
        sandbox.db().display()
    );
    assert!(said.starts_with(&prefix), "{said}");
    assert!(
        said.ends_with("); plantsync left it as it is: stop every plantsync using it and restore it from a backup (sqlite3's .recover may salvage rows)\n"),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(std::fs::read(sandbox.db()).unwrap(), bytes, "the file is left as it was");
    sim.shutdown().await;
}

#[cfg(unix)]
#[test]
fn bad_paths_are_said_once_in_words_with_exit_2() {
    let sandbox = Sandbox::new();
    let file = sandbox.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let home = sandbox.dir.path().join("home");
    let run = |args: &[&str], dir: &Path| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("plantsync"));
        cmd.env("HOME", &home).env("XDG_CONFIG_HOME", home.join(".config"));
        cmd.envs(crate::support::no_keyring_env(&home));
        cmd.arg("--data-dir").arg(dir).args(args).output().unwrap()
    };
    let cases = [
        (
            run(&["status"], &file),
            format!("data dir {} is a file, not a directory", file.display()),
        ),
        (
            run(&["org", "add", "X"], &file.join("sub")),
            format!(
                "cannot create data dir {}: {} is a file, not a directory",
                file.join("sub").display(),
                file.display()
            ),
        ),
        (
            sandbox
                .cmd()
                .args(["--config", "/nonexistent/plantsync.toml", "status"])
                .output()
                .unwrap(),
            "cannot read config file /nonexistent/plantsync.toml: no such file or directory"
                .to_owned(),
        ),
    ];
    for (output, message) in cases {
        assert_eq!(stderr(&output), format!("plantsync: error: {message}\n"));
        assert_eq!(output.status.code(), Some(2), "{message}");
    }

    // Directories the user may not write (as `nobody` when the tests run as root).
    let public = public_tempdir();
    let locked = public.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    chmod(&locked, 0o555);
    let cases = [
        (
            &["org", "add", "X"][..],
            &locked,
            format!("cannot write to data dir {}: permission denied", locked.display()),
        ),
        (
            &["status"][..],
            &locked,
            format!(
                "data dir {} has no database and is read-only, so none can be created there: permission denied",
                locked.display()
            ),
        ),
        (
            &["status"][..],
            &locked.join("data"),
            format!("cannot create data dir {}: permission denied", locked.join("data").display()),
        ),
    ];
    for (args, dir, message) in cases {
        let output = inspect(public.path(), dir, args);
        assert_eq!(stderr(&output), format!("plantsync: error: {message}\n"), "{args:?}");
        assert_eq!(output.status.code(), Some(2), "{message}");
    }
}

#[test]
fn the_log_file_is_named_by_the_date_of_its_lines() {
    // A zone whose date differs from UTC's now (with an hour to spare either side): 14
    // hours ahead from 11:00 UTC on, 12 hours behind before.
    let now = chrono::Utc::now();
    let zone = if chrono::Timelike::hour(&now) >= 11 { "Pacific/Kiritimati" } else { "Etc/GMT+12" };
    let sandbox = Sandbox::new();
    sandbox.ok(&["--timezone", zone, "org", "add", "Night Shift"]);
    let logs = sandbox.data_dir().join("logs");
    let files: Vec<PathBuf> =
        std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let line = text.lines().find(|l| l.contains("organization 'Night Shift' created")).unwrap();
    let stamp = &line[1..line.find(']').unwrap()];
    let local = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    assert_eq!(name, format!("plantsync.{}.log", local.format("%Y-%m-%d")));
    assert_ne!(
        local.with_timezone(&chrono::Utc).date_naive(),
        local.date_naive(),
        "the zone was chosen so that the UTC date differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_failure_reads_the_same_on_stderr_and_in_the_file() {
    let sim = Simulator::start(SimulatorConfig {
        seed: 6,
        accounts: vec![AccountSpec {
            faults: Faults { reject_login: true, ..Faults::none() },
            ..AccountSpec::new(VendorKind::Sungrow, 3, 0)
        }],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let output = tokio::task::spawn_blocking({
        let mut cmd = sandbox.cmd();
        cmd.args(["sync", "plants"]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = stderr(&output);
    let failed = said.lines().find(|l| l.contains("vendor v0 failed")).expect("a failure line");
    assert!(
        failed.contains("] [USER] [sync-plants-vendor-1] [WARN] [Vendor:1] [Org:1] "),
        "{failed}"
    );
    let logs = sandbox.logs();
    let logged = logs.lines().find(|l| l.contains("vendor v0 failed")).expect("in the file");
    assert_eq!(without_time(failed), without_time(logged));
    sim.shutdown().await;
}

#[test]
fn the_error_a_command_ends_with_is_in_the_log_file() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "A"]);
    let output = sandbox.cmd().args(["org", "add", "A"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    let cause = said.trim_end().strip_prefix("plantsync: error: ").unwrap();
    let logged: Vec<String> = sandbox
        .logs()
        .lines()
        .filter(|line| line.contains("command failed"))
        .map(|line| without_time(line).to_owned())
        .collect();
    assert_eq!(logged.len(), 1, "{}", sandbox.logs());
    assert_eq!(
        logged[0],
        format!("[USER] [org-add] [ERROR] [Vendor:-] [Org:-] command failed: {cause}")
    );
}

/// The demo writes only into a dir given with `--data-dir`: a configured one holds real
/// vendors. Its own dir has a random name, created exclusively, owner-only.
#[cfg(unix)]
#[test]
fn the_demo_uses_a_fresh_private_dir_unless_given_data_dir_on_the_command_line() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Real Org"]);
    let before = sha256(&sandbox.db());
    let tmp = sandbox.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let home = sandbox.dir.path().join("home");
    let mut demo = std::process::Command::new(assert_cmd::cargo::cargo_bin!("plantsync"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("PLANTSYNC_")) {
        demo.env_remove(key);
    }
    demo.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .envs(crate::support::no_keyring_env(&home))
        .env("TMPDIR", &tmp)
        .env("PLANTSYNC_DATA_DIR", sandbox.data_dir());
    let output = demo.arg("demo").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sha256(&sandbox.db()), before, "the configured data dir is untouched");
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM vendors"), "0\n");
    let kept: Vec<PathBuf> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let name = kept[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("plantsync-demo-"), "{name}");
    assert_eq!(mode(&kept[0]), 0o700);
    assert!(kept[0].join("plantsync.db").is_file());
}

/// Leaves `db` (journal_mode=DELETE) with a hot rollback journal: a transaction that had
/// already spilled pages into the file, copied mid-transaction with its journal into `into`.
fn hot_journal_copy(db: &Path, into: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .unwrap();
    conn.execute_batch(
        "PRAGMA cache_size = 2;
         BEGIN;
         CREATE TABLE scratch(x);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
           INSERT INTO scratch SELECT randomblob(900) FROM n;
         UPDATE organizations SET name = 'Changed';",
    )
    .unwrap();
    let journal = PathBuf::from(format!("{}-journal", db.display()));
    assert!(std::fs::metadata(&journal).unwrap().len() > 0, "the transaction spilled");
    std::fs::copy(db, into.join("plantsync.db")).unwrap();
    std::fs::copy(&journal, into.join("plantsync.db-journal")).unwrap();
    drop(conn); // rolls the original back; the copy keeps its hot journal
}

#[cfg(unix)]
#[test]
fn a_hot_rollback_journal_is_rolled_back_by_a_writer_and_refused_read_only() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    assert_eq!(sqlite3(&sandbox.db(), "PRAGMA journal_mode = DELETE").trim(), "delete");
    let public = public_tempdir();

    // A writable copy: every command works, and the cut-off transaction is rolled back.
    let writable = Sandbox::new();
    std::fs::create_dir(writable.data_dir()).unwrap();
    hot_journal_copy(&sandbox.db(), &writable.data_dir());
    let listed = writable.ok(&["org", "list", "--format", "csv"]);
    assert!(listed.contains("Alpha Solar"), "{listed}");
    assert!(!listed.contains("Changed"), "{listed}");
    writable.ok(&["org", "add", "Beta Energy"]);
    let listed = writable.ok(&["org", "list", "--format", "csv"]);
    assert!(listed.contains("Alpha Solar") && listed.contains("Beta Energy"), "{listed}");
    assert_eq!(
        sqlite3(&writable.db(), "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'").trim(),
        "0",
        "the journal was played back"
    );
    let journal = writable.data_dir().join("plantsync.db-journal");
    assert!(std::fs::metadata(&journal).map_or(true, |m| m.len() == 0));

    // A read-only copy: refused in words, nothing changed.
    let copy = public.path().join("hot");
    std::fs::create_dir(&copy).unwrap();
    hot_journal_copy(&sandbox.db(), &copy);
    for file in ["plantsync.db", "plantsync.db-journal"] {
        chmod(&copy.join(file), 0o444);
    }
    chmod(&copy, 0o555);
    let before = sha256(&copy.join("plantsync.db"));
    let output = inspect(public.path(), &copy, &["org", "list"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).lines().last().unwrap(),
        format!(
            "plantsync: error: database {}/plantsync.db cannot be read without changing it: a transaction was cut off and its rollback journal (-journal) must be played back first; open it once where it can be written (plantsync rolls the journal back), or copy the database and its -journal file to a directory you may write and inspect the copy",
            copy.display()
        )
    );
    assert_eq!(sha256(&copy.join("plantsync.db")), before);
}

#[test]
fn first_runs_at_once_on_a_fresh_data_dir_all_succeed() {
    for round in 0..10 {
        let sandbox = Sandbox::new();
        let commands: Vec<Vec<String>> = (0..6)
            .map(|i| match i % 3 {
                2 => vec!["status".to_owned()],
                _ => vec!["org".into(), "add".into(), format!("Org {round}-{i}")],
            })
            .collect();
        let children: Vec<_> = commands
            .iter()
            .map(|args| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                sandbox.spawnable(&args).stderr(std::process::Stdio::piped()).spawn().unwrap()
            })
            .collect();
        for (child, args) in children.into_iter().zip(&commands) {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "round {round}, {args:?}: {}", stderr(&output));
        }
        let listed = sandbox.ok(&["org", "list", "--format", "csv"]);
        assert_eq!(listed.lines().count(), 1 + 4, "round {round}: {listed}");
        let leftovers: Vec<String> = std::fs::read_dir(sandbox.data_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".new"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: {leftovers:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_file_with_a_shm_alone_is_read_without_creating_anything() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    // Everything in the main file before it is copied alone (a process that ended with
    // its log not yet checkpointed leaves the row in the -wal).
    crate::support::sqlite3(&sandbox.db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    let public = public_tempdir();
    let writable = public.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    std::fs::copy(sandbox.db(), writable.join("plantsync.db")).unwrap();
    // A -shm left without its -wal (the last writer removed the log first).
    std::fs::write(writable.join("plantsync.db-shm"), vec![0u8; 32 * 1024]).unwrap();
    chmod(&writable.join("plantsync.db"), 0o444);
    chmod(&writable.join("plantsync.db-shm"), 0o444);
    chmod(&writable, 0o777);
    let output = inspect(public.path(), &writable, &["org", "list", "--format", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Alpha Solar"));
    let mut beside: Vec<String> = std::fs::read_dir(&writable)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("plantsync.db"))
        .collect();
    beside.sort();
    assert_eq!(beside, ["plantsync.db", "plantsync.db-shm"], "no -wal was created");
}

#[cfg(unix)]
#[test]
fn an_older_world_readable_database_and_log_become_owner_only() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    // An older plantsync's files: a 0644 database with a 0644 -wal holding commits.
    let live = plantsync::store::Store::open(sandbox.db()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let beta = plantsync::domain::NewOrganization {
            name: "Beta Energy".into(),
            auto_sync_enabled: true,
            sync_interval_minutes: 15,
        };
        live.add_org(beta).await.unwrap();
    });
    let wal = sandbox.data_dir().join("plantsync.db-wal");
    let copy = Sandbox::new();
    std::fs::create_dir(copy.data_dir()).unwrap();
    std::fs::copy(sandbox.db(), copy.db()).unwrap();
    std::fs::copy(&wal, copy.data_dir().join("plantsync.db-wal")).unwrap();
    live.close();
    chmod(&copy.db(), 0o644);
    chmod(&copy.data_dir().join("plantsync.db-wal"), 0o644);

    // That plantsync still has the database open, so its -wal and -shm (created with the
    // file's mode) stay after each command.
    let older = rusqlite::Connection::open_with_flags(
        copy.db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )
    .unwrap();
    let orgs: i64 =
        older.query_row("SELECT count(*) FROM organizations", [], |row| row.get(0)).unwrap();
    assert_eq!(orgs, 2);
    assert_eq!(mode(&copy.data_dir().join("plantsync.db-shm")), 0o644);

    for args in [&["status"][..], &["org", "list", "--format", "csv"]] {
        let output = copy.cmd().args(args).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let mut seen = Vec::new();
        for (path, mode) in modes(&copy.data_dir()) {
            if Path::new(&path).is_file() && path.contains("plantsync.db") {
                seen.push(path.rsplit('/').next().unwrap().to_owned());
                assert_eq!(mode, 0o600, "after {args:?}: {path} is {mode:o}");
            }
        }
        seen.sort();
        assert_eq!(seen, ["plantsync.db", "plantsync.db-shm", "plantsync.db-wal"]);
    }
    drop(older);
}

#[cfg(unix)]
#[test]
fn init_force_on_a_symlinked_config_file_writes_its_target() {
    let sandbox = Sandbox::new();
    let dotfiles = sandbox.dir.path().join("dotfiles");
    std::fs::create_dir(&dotfiles).unwrap();
    let target = dotfiles.join("plantsync.toml");
    std::fs::write(&target, "# mine\n").unwrap();
    let link = sandbox.dir.path().join("config.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    sandbox.ok(&["init", "--config", link.to_str().unwrap(), "--force"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "still a link");
    let written = std::fs::read_to_string(&target).unwrap();
    assert_ne!(written, "# mine\n");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), written);
    assert_eq!(mode(&target), 0o600);
    let mut beside: Vec<String> = std::fs::read_dir(&dotfiles)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["plantsync.toml"], "no temporary file is left");
}

#[test]
fn a_missing_database_whose_wal_is_left_is_refused_and_nothing_is_created() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Alpha Solar"]);
    // What a lost database leaves: its log, with commits, beside where it was.
    let wal = sandbox.data_dir().join("plantsync.db-wal");
    std::fs::write(&wal, vec![0x37u8; 4096]).unwrap();
    std::fs::remove_file(sandbox.db()).unwrap();
    let before = sha256(&wal);
    let output = sandbox.cmd().arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "plantsync: error: database {} is missing but its write-ahead log (-wal) is still there; plantsync created nothing: restore the database file beside it, or move the -wal and -shm files away to start a fresh database\n",
            sandbox.db().display()
        )
    );
    assert!(!sandbox.db().exists(), "no database was created");
    assert_eq!(sha256(&wal), before, "the log is left as it was");
    // Moved away: a fresh database.
    std::fs::remove_file(&wal).unwrap();
    sandbox.ok(&["status"]);
}

#[cfg(unix)]
#[test]
fn a_world_readable_database_of_another_application_keeps_its_mode() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    sqlite3(&sandbox.db(), "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
    chmod(&sandbox.db(), 0o644);
    let before = sha256(&sandbox.db());
    for args in [&["status"][..], &["sync", "plants"]] {
        let output = sandbox.cmd().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(mode(&sandbox.db()), 0o644, "{args:?} left the mode as it was");
        assert_eq!(sha256(&sandbox.db()), before, "{args:?}");
    }
}
