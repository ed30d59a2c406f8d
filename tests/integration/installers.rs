//! The installers (installer/): the Linux script into a temporary HOME and a temporary
//! root, the `.deb` built with cargo-deb and installed with dpkg, and the macOS and
//! Windows files, which cannot run here, checked with the parsers that can.
//!
//! These run the real script with the test's binary and the real systemd-analyze,
//! shellcheck, python3, cargo-deb and dpkg (tests/run.sh installs them); none of them
//! touches the machine's own systemd or HOME, except the `.deb` test, which installs the
//! package for real (as root, as CI runs) and purges it again.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_plantsync"))
}

fn script() -> PathBuf {
    repo().join("installer/linux/install.sh")
}

/// A tool the tests need: its absence fails the test with what to install.
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .expect("sh")
        .status
        .success();
    assert!(
        found,
        "{tool} is needed by this test: install the {package} package (tests/run.sh does)"
    );
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary HOME with its own (empty) runtime dir and no session bus, so neither the
/// script's systemctl nor plantsync reach the desktop the tests run on.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::create_dir(dir.path().join("run")).unwrap();
        std::fs::set_permissions(dir.path().join("run"), PermissionsExt::from_mode(0o700)).unwrap();
        Self { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/plantsync-test-bus")
            .env("PLANTSYNC_SECRETS_STORE", "file");
        cmd
    }

    fn install(&self, args: &[&str]) -> Output {
        run_ok(self.cmd("sh").arg(script()).args(args))
    }
}

/// Every entry under `root` (not following links): relative path -> (mode, content).
/// Directories have no content.
type Tree = BTreeMap<String, (u32, Option<Vec<u8>>, Option<SystemTime>)>;

fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, None, None));
                walk(root, &path, out);
            } else {
                let content = std::fs::read(&path).unwrap();
                out.insert(rel, (mode, Some(content), meta.modified().ok()));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// The listing of a tree as "mode path" lines, for exact comparisons with readable diffs.
fn listing(tree: &Tree) -> Vec<String> {
    let mut lines: Vec<String> =
        tree.iter().map(|(path, (mode, _, _))| format!("{mode:04o} {path}")).collect();
    lines.sort();
    lines
}

fn lines(expected: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    lines.sort();
    lines
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.as_ref().display()))
}

/// `systemd-analyze verify` accepts the unit with no warning at all (an unknown or
/// misspelt option is only a warning to it).
fn assert_verifies(cmd: &mut Command) {
    let out = cmd.output().expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify refused the unit ({}): {stderr}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

const USER_FILES: &[&str] = &[
    "0700 .config",
    "0700 .config/autostart",
    "0644 .config/autostart/plantsync-tray.desktop",
    "0700 .config/systemd",
    "0700 .config/systemd/user",
    "0644 .config/systemd/user/plantsync.service",
    "0700 .local",
    "0700 .local/bin",
    "0755 .local/bin/plantsync",
    "0700 .local/state",
    "0700 .local/state/plantsync-installer",
    "0644 .local/state/plantsync-installer/manifest",
];

#[test]
fn linux_user_install_creates_exactly_its_files_and_a_second_run_changes_nothing() {
    require("systemd-analyze", "systemd");
    let home = Home::new();
    let out = home.install(&["--binary", binary().to_str().unwrap(), "--tray"]);

    let first = tree(&home.home());
    assert_eq!(listing(&first), lines(USER_FILES));
    assert_eq!(
        std::fs::read(home.home().join(".local/bin/plantsync")).unwrap(),
        std::fs::read(binary()).unwrap(),
        "the installed binary is the one given"
    );

    let unit = read(home.home().join(".config/systemd/user/plantsync.service"));
    for line in [
        "ExecStart=%h/.local/bin/plantsync run",
        "Restart=on-failure",
        "Environment=PLANTSYNC_DATA_DIR=%h/.local/share/plantsync",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "ReadWritePaths=%h/.local/share/plantsync",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "the user unit lacks {line:?}:\n{unit}");
    }
    let desktop = read(home.home().join(".config/autostart/plantsync-tray.desktop"));
    let installed = home.home().join(".local/bin/plantsync");
    assert!(desktop.starts_with("[Desktop Entry]\n"), "{desktop}");
    assert!(
        desktop.lines().any(|l| l == format!("Exec=\"{}\" tray", installed.display())),
        "the autostart entry runs the installed binary's tray:\n{desktop}"
    );

    // Both the entry as shipped (the .deb's) and as installed follow the Desktop Entry spec.
    require("desktop-file-validate", "desktop-file-utils");
    run_ok(
        Command::new("desktop-file-validate")
            .arg(repo().join("assets/plantsync-tray.desktop"))
            .arg(home.home().join(".config/autostart/plantsync-tray.desktop")),
    );

    // No user manager answers in this sandbox: the script says what to run instead.
    assert!(
        stdout(&out).contains(
            "systemctl --user daemon-reload && systemctl --user enable --now plantsync.service"
        ),
        "{}",
        stdout(&out)
    );

    // The unit as systemd reads it (%h is the sandbox's HOME, ExecStart must exist).
    assert_verifies(
        home.cmd("systemd-analyze")
            .args(["--user", "verify"])
            .arg(home.home().join(".config/systemd/user/plantsync.service")),
    );

    // Again: the same files, the same contents and modes, nothing rewritten.
    home.install(&["--binary", binary().to_str().unwrap(), "--tray"]);
    assert_eq!(tree(&home.home()), first, "a second install changed the tree");
}

#[test]
fn linux_user_uninstall_keeps_the_data_and_purge_removes_it() {
    let home = Home::new();
    let bin = binary();
    home.install(&["--binary", bin.to_str().unwrap(), "--tray"]);

    // Data and config made by the installed plantsync itself, where it keeps them.
    let installed = home.home().join(".local/bin/plantsync");
    run_ok(home.cmd(&installed).arg("init"));
    run_ok(home.cmd(&installed).args(["org", "add", "Field Office"]));
    let db = home.home().join(".local/share/plantsync/plantsync.db");
    assert!(db.is_file(), "plantsync made its database at {}", db.display());
    let db_before = std::fs::read(&db).unwrap();

    let out = home.install(&["--uninstall"]);
    assert!(stdout(&out).contains("(remove it with --purge)"), "{}", stdout(&out));
    let after: Vec<String> = listing(&tree(&home.home()))
        .into_iter()
        .filter(|l| !l.contains(".local/share/plantsync/"))
        .collect();
    // What is left: the data dir and the config (with the directories plantsync or the
    // install made around them, which are not empty); none of the installed files.
    assert_eq!(
        after,
        lines(&[
            "0700 .config",
            "0700 .config/plantsync",
            "0600 .config/plantsync/config.toml",
            "0700 .local",
            "0700 .local/share",
            "0700 .local/share/plantsync",
        ])
    );
    assert_eq!(std::fs::read(&db).unwrap(), db_before, "the database is kept as it was");

    // Install again, then purge: the data and the config go too, and with them every
    // directory this install made. Left: ~/.config and ~/.local, which were there before
    // it (the first install's uninstall kept them around the data), and ~/.local/share,
    // which plantsync made.
    home.install(&["--binary", bin.to_str().unwrap(), "--tray"]);
    let out = home.install(&["--purge"]);
    assert!(stdout(&out).contains("removed"), "{}", stdout(&out));
    assert_eq!(
        listing(&tree(&home.home())),
        lines(&["0700 .config", "0700 .local", "0700 .local/share"])
    );
}

#[test]
fn linux_tray_entry_follows_the_flags_and_the_binary() {
    let bin = binary();
    let entry = ".config/autostart/plantsync-tray.desktop";

    let home = Home::new();
    let out = home.install(&["--binary", bin.to_str().unwrap(), "--no-tray"]);
    assert!(!home.home().join(entry).exists());
    assert!(!home.home().join(".config/autostart").exists(), "no empty autostart dir either");
    assert!(stdout(&out).contains("no tray autostart entry"), "{}", stdout(&out));

    // By default the entry is installed exactly when the binary has a `tray` command.
    let has_tray = Command::new(&bin).args(["tray", "--help"]).output().unwrap().status.success();
    let home = Home::new();
    home.install(&["--binary", bin.to_str().unwrap()]);
    assert_eq!(home.home().join(entry).exists(), has_tray, "tray: {has_tray}");
}

#[test]
fn linux_usage_errors_exit_2_once_and_write_nothing() {
    let home = Home::new();
    for (args, message) in [
        (&["--bogus"][..], "unknown option: --bogus"),
        (&["--binary"][..], "--binary needs a path"),
        (&["--binary", "/nonexistent/plantsync"][..], "is not an executable file"),
        (&["--system", "--prefix", "relative"][..], "--prefix must be an absolute path"),
    ] {
        let out = home.cmd("sh").arg(script()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.matches(message).count(), 1, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: said once: {stderr}");
    }
    assert!(tree(&home.home()).is_empty(), "nothing written");
}

#[test]
fn linux_system_install_into_a_destdir_writes_the_layout_and_creates_no_user() {
    require("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let home = Home::new();
    let out = run_ok(
        home.cmd("sh")
            .arg(script())
            .args(["--system", "--binary", binary().to_str().unwrap()])
            .env("DESTDIR", &root),
    );
    let text = stdout(&out);
    assert!(text.contains("DESTDIR: not creating the system user plantsync"), "{text}");
    assert!(text.contains("systemctl daemon-reload && systemctl enable --now plantsync.service"));

    let staged = tree(&root);
    assert_eq!(
        listing(&staged),
        lines(&[
            "0755 etc",
            "0750 etc/plantsync",
            "0640 etc/plantsync/config.toml",
            "0755 etc/systemd",
            "0755 etc/systemd/system",
            "0644 etc/systemd/system/plantsync.service",
            "0755 usr",
            "0755 usr/local",
            "0755 usr/local/bin",
            "0755 usr/local/bin/plantsync",
            "0755 usr/local/share",
            "0755 usr/local/share/plantsync-installer",
            "0644 usr/local/share/plantsync-installer/manifest",
        ]),
        "no user database, no /var/lib, nothing else under the root"
    );
    let config = read(root.join("etc/plantsync/config.toml"));
    assert!(config.starts_with("# plantsync configuration (TOML)."), "{config}");

    let unit = read(root.join("etc/systemd/system/plantsync.service"));
    for line in [
        "ExecStart=/usr/local/bin/plantsync run",
        "User=plantsync",
        "Environment=PLANTSYNC_DATA_DIR=/var/lib/plantsync",
        "Environment=PLANTSYNC_CONFIG=/etc/plantsync/config.toml",
        "StateDirectory=plantsync",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateDevices=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "the system unit lacks {line:?}:\n{unit}");
    }

    // systemd reads the unit inside a root holding the staged files and systemd's own
    // units (ExecStart is checked there, not on this machine).
    let check = dir.path().join("check");
    run_ok(Command::new("cp").arg("-a").arg(&root).arg(&check));
    std::fs::create_dir_all(check.join("usr/lib/systemd")).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg("/usr/lib/systemd/system")
            .arg(check.join("usr/lib/systemd/")),
    );
    assert_verifies(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", check.display()))
            .arg("/etc/systemd/system/plantsync.service"),
    );

    // Uninstall keeps the config; purge removes it, and the root is empty again.
    let uninstall = |extra: &str| {
        run_ok(home.cmd("sh").arg(script()).args(["--system", extra]).env("DESTDIR", &root))
    };
    uninstall("--uninstall");
    assert_eq!(
        listing(&tree(&root)),
        lines(&["0755 etc", "0750 etc/plantsync", "0640 etc/plantsync/config.toml"])
    );
    uninstall("--purge");
    assert_eq!(listing(&tree(&root)), lines(&["0755 etc"]));
}

#[test]
fn installer_scripts_pass_shellcheck() {
    require("shellcheck", "shellcheck");
    run_ok(
        Command::new("shellcheck").args(["-s", "sh"]).args(
            [
                "installer/linux/install.sh",
                "installer/macos/install.sh",
                "installer/linux/debian/postinst",
                "installer/linux/debian/prerm",
                "installer/linux/debian/postrm",
            ]
            .map(|p| repo().join(p)),
        ),
    );
}

#[test]
fn macos_launchd_plists_parse_as_property_lists() {
    require("python3", "python3");
    let parse = |name: &str| -> serde_json::Value {
        let path = repo().join("installer/macos").join(name);
        let out = run_ok(
            Command::new("python3")
                .arg("-c")
                .arg(
                    "import json, plistlib, sys\n\
             print(json.dumps(plistlib.loads(open(sys.argv[1], 'rb').read())))",
                )
                .arg(&path),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let agent = parse("com.plantsync.agent.plist");
    assert_eq!(agent["Label"], "com.plantsync.agent");
    assert_eq!(
        agent["ProgramArguments"],
        serde_json::json!(["@HOME@/.local/bin/plantsync", "run"])
    );
    assert_eq!(agent["RunAtLoad"], true);
    assert_eq!(agent["KeepAlive"], serde_json::json!({ "SuccessfulExit": false }));
    for key in ["StandardOutPath", "StandardErrorPath"] {
        assert!(
            agent[key].as_str().unwrap().starts_with("@HOME@/Library/Logs/plantsync/"),
            "{key}: {}",
            agent[key]
        );
    }
    let tray = parse("com.plantsync.tray.plist");
    assert_eq!(
        tray["ProgramArguments"],
        serde_json::json!(["@HOME@/.local/bin/plantsync", "tray"])
    );
    assert_eq!(tray["LimitLoadToSessionType"], "Aqua");
    // The placeholder install.sh replaces is the only one.
    let script = read(repo().join("installer/macos/install.sh"));
    assert!(script.contains("s|@HOME@|$HOME|g"));
}

/// The Inno Setup script: known sections, `Key=Value` in [Setup], `Name: value; ...`
/// entries elsewhere with balanced quotes, every [Files] source present in the repository
/// (the binary is the release build's path), every task and preprocessor name defined.
#[test]
fn windows_inno_setup_script_names_only_what_exists() {
    let iss_dir = repo().join("installer/windows");
    let text = read(iss_dir.join("plantsync.iss"));
    let known = ["Setup", "Tasks", "Files", "Icons", "Run", "UninstallRun", "UninstallDelete"];
    let mut defines = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut entries: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut setup = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("plantsync.iss:{}: {raw}", n + 1);
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#define ") {
            let (name, value) = rest.split_once(' ').expect(&at);
            defines.insert(name.to_owned(), value.trim().trim_matches('"').to_owned());
            continue;
        }
        if line.starts_with("#ifndef ") || line == "#endif" {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(known.contains(&name), "unknown section: {at}");
            section = Some(name.to_owned());
            continue;
        }
        let section = section.clone().expect(&at);
        if section == "Setup" {
            let (key, value) = line.split_once('=').expect(&at);
            setup.insert(key.trim().to_owned(), value.trim().to_owned());
            continue;
        }
        // Parameters: `Name: "value"; Name: value`, "" escaping a quote inside a value.
        let mut params = BTreeMap::new();
        let mut rest = line;
        while !rest.is_empty() {
            let (name, after) = rest.split_once(':').expect(&at);
            let after = after.trim_start();
            let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                let mut end = None;
                let bytes = quoted.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'"' {
                        if bytes.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        end = Some(i);
                        break;
                    }
                    i += 1;
                }
                let end = end.unwrap_or_else(|| panic!("unbalanced quotes: {at}"));
                (quoted[..end].replace("\"\"", "\""), &quoted[end + 1..])
            } else {
                let (v, t) = after.split_once(';').unwrap_or((after, ""));
                (v.trim().to_owned(), t)
            };
            let tail = tail.trim_start();
            let tail = tail.strip_prefix(';').unwrap_or(tail).trim_start();
            assert!(params.insert(name.trim().to_owned(), value).is_none(), "repeated: {at}");
            rest = tail;
        }
        assert!(
            params.contains_key("Name")
                || params.contains_key("Source")
                || params.contains_key("Filename"),
            "{at}"
        );
        entries.push((section, params));
    }

    assert_eq!(
        defines.get("BinaryPath").map(String::as_str),
        Some(r"..\..\target\release\plantsync.exe")
    );
    for key in
        ["AppId", "AppName", "AppVersion", "DefaultDirName", "OutputDir", "PrivilegesRequired"]
    {
        assert!(setup.contains_key(key), "[Setup] lacks {key}");
    }
    let expand = |value: &str| -> String {
        let mut out = value.to_owned();
        for (name, v) in &defines {
            out = out.replace(&format!("{{#{name}}}"), v);
        }
        assert!(!out.contains("{#"), "undefined preprocessor name in {value}");
        out
    };

    let tasks: Vec<&str> =
        entries.iter().filter(|(s, _)| s == "Tasks").map(|(_, p)| p["Name"].as_str()).collect();
    let mut sources = 0;
    for (section, params) in &entries {
        if let Some(task) = params.get("Tasks") {
            assert!(tasks.contains(&task.as_str()), "[{section}] names the undefined task {task}");
        }
        for value in params.values() {
            expand(value);
        }
        if section == "Files" {
            let source = expand(&params["Source"]);
            if source == r"..\..\target\release\plantsync.exe" {
                sources += 1;
                continue;
            }
            let path = iss_dir.join(source.replace('\\', "/"));
            assert!(path.is_file(), "[Files] Source {source} does not exist ({})", path.display());
            sources += 1;
        }
    }
    assert!(sources >= 2, "the binary and the docs are packaged");
    assert!(text.contains("{commonstartup}\\plantsync tray"), "a startup entry for the tray");
    assert!(
        text.contains("schtasks.exe") && text.contains("/SC ONLOGON"),
        "the agent's logon task"
    );
}

/// The `.deb`: built once with cargo-deb (release, default features) into target/debian/,
/// installed with dpkg, its binary and units checked, removed and purged.
#[test]
fn deb_package_builds_installs_runs_and_removes_cleanly() {
    let root = run_ok(Command::new("id").arg("-u"));
    assert_eq!(
        stdout(&root).trim(),
        "0",
        "the .deb test installs the package with dpkg: run it as root (CI does)"
    );
    require("dpkg", "dpkg");
    require("systemd-analyze", "systemd");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let have_deb = Command::new(&cargo).args(["deb", "--version"]).output();
    assert!(
        have_deb.is_ok_and(|o| o.status.success()),
        "cargo-deb is needed: cargo install cargo-deb --locked --version '~3.8' (tests/run.sh does)"
    );

    // A leftover of an earlier, interrupted run of this test.
    let _ = Command::new("dpkg").args(["--purge", "plantsync"]).output();
    let user_existed =
        Command::new("getent").args(["passwd", "plantsync"]).output().unwrap().status.success();

    let out = run_ok(
        Command::new(&cargo)
            .current_dir(repo())
            .args(["deb", "--output"])
            .arg(repo().join("target/debian/")),
    );
    let built = stdout(&out);
    let deb = PathBuf::from(built.lines().last().unwrap_or_default().trim());
    assert!(deb.is_file() && deb.starts_with(repo().join("target/debian")), "built: {built}");

    // What the package holds, by dpkg's own word.
    let contents = stdout(&run_ok(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    let control = stdout(&run_ok(Command::new("dpkg-deb").arg("--field").arg(&deb)));
    // The tray loads its AppIndicator library with dlopen: declared by hand, beside what
    // cargo-deb reads from the linked libraries (GTK among them: the tray build).
    let depends = control.lines().find(|l| l.starts_with("Depends: ")).unwrap_or_default();
    for needed in ["adduser", "libayatana-appindicator3-1", "libgtk-3-0"] {
        assert!(depends.contains(needed), "Depends lacks {needed}: {control}");
    }

    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    let files: Vec<String> = stdout(&run_ok(Command::new("dpkg").args(["-L", "plantsync"])))
        .lines()
        .map(str::to_owned)
        .filter(|p| Path::new(p).is_file())
        .collect();
    let conffiles = read("/var/lib/dpkg/info/plantsync.conffiles");
    for path in [
        "/usr/bin/plantsync",
        "/usr/lib/systemd/user/plantsync.service",
        "/lib/systemd/system/plantsync.service",
        "/etc/xdg/autostart/plantsync-tray.desktop",
        "/usr/share/icons/hicolor/scalable/apps/plantsync.svg",
        "/usr/share/doc/plantsync/README.md",
    ] {
        assert!(files.iter().any(|f| f == path), "dpkg -L lacks {path}: {files:?}\n{contents}");
    }

    let home = Home::new();
    let version = stdout(&run_ok(home.cmd("/usr/bin/plantsync").arg("--version")));
    assert_eq!(version.trim(), format!("plantsync {}", env!("CARGO_PKG_VERSION")));
    let demo = stdout(&run_ok(home.cmd("plantsync").arg("demo")));
    assert!(demo.contains("Demo Solar Co"), "{demo}");
    // The packaged binary is the tray build its autostart entry needs.
    let tray = stdout(&run_ok(home.cmd("/usr/bin/plantsync").args(["tray", "--help"])));
    assert!(tray.to_lowercase().contains("tray"), "{tray}");

    // The postinst made the system service's user and config; the units are valid as
    // installed (ExecStart=/usr/bin/plantsync exists now).
    assert!(
        Command::new("getent").args(["passwd", "plantsync"]).output().unwrap().status.success()
    );
    let config = std::fs::metadata("/etc/plantsync/config.toml").unwrap();
    assert_eq!(config.mode() & 0o777, 0o640);
    assert_verifies(
        Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/plantsync.service"]),
    );
    assert_verifies(home.cmd("systemd-analyze").args([
        "--user",
        "verify",
        "/usr/lib/systemd/user/plantsync.service",
    ]));

    // Remove: every file goes but the conffiles (dpkg keeps those until a purge).
    run_ok(Command::new("dpkg").args(["-r", "plantsync"]));
    for file in &files {
        let kept = conffiles.lines().any(|c| c == file);
        assert_eq!(Path::new(file).exists(), kept, "{file} after dpkg -r (conffile: {kept})");
    }
    assert!(conffiles.lines().all(|c| c.starts_with("/etc/")), "{conffiles}");
    run_ok(Command::new("dpkg").args(["-P", "plantsync"]));
    for file in &files {
        assert!(!Path::new(file).exists(), "{file} after dpkg -P");
    }
    assert!(!Path::new("/etc/plantsync").exists(), "purge removes the service's config");
    let status = Command::new("dpkg").args(["-s", "plantsync"]).output().unwrap();
    assert!(!status.status.success(), "the package is gone");
    if !user_existed {
        run_ok(Command::new("userdel").arg("plantsync"));
    }
}

/// A file the installer did not write (an earlier manual copy of the binary) is neither
/// overwritten nor, later, removed: the install stops and says so, and writes nothing.
#[test]
fn linux_install_never_overwrites_a_file_it_did_not_write() {
    let home = Home::new();
    let bin = home.home().join(".local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("plantsync"), "#!/bin/sh\necho mine\n").unwrap();
    let out = home
        .cmd("sh")
        .arg(script())
        .args(["--binary", env!("CARGO_BIN_EXE_plantsync"), "--no-start"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was not written by this installer"), "{stderr}");
    assert_eq!(std::fs::read_to_string(bin.join("plantsync")).unwrap(), "#!/bin/sh\necho mine\n");
    assert!(!home.home().join(".config/systemd").exists(), "nothing else written");
}
