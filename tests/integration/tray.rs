//! `plantsync tray` end to end, headless: a real X server (Xvfb), a real XEmbed tray host
//! (trayer), the real tray binary against a real agent syncing from the simulator; the
//! menu is driven with xdotool by keyboard (more robust than clicking at coordinates) and
//! the outcome is read from the store and the agent's API, never from timing.
//!
//! Needs `xvfb xauth xdotool trayer x11-utils imagemagick libayatana-appindicator3-1`
//! (tests/run.sh installs them). Set `PLANTSYNC_TRAY_SCREENSHOT=FILE` to save a screenshot
//! of the open menu (docs/tray-menu.png is one).

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use crate::upstream::simulator;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one thing may take before the test fails (generous: a 2-core CI machine).
const DEADLINE: Duration = Duration::from_secs(60);

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM first, so Xvfb removes its lock file and socket (SIGKILL would leave them
    /// in /tmp), then SIGKILL for what did not end within 5 s.
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let pid = self.0.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                pause(Duration::from_millis(20));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `ready` on the test's own thread (the simulator runs on a runtime of its own).
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        pause(Duration::from_millis(100));
    }
}

/// Runs an X client on `display` and returns its stdout ("" when it fails).
fn x(display: &str, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (tests/run.sh installs it): {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Xvfb on a display it picks itself (`-displayfd`): the process and `:N`, once a client
/// can connect to it. A server that says a display and then does not answer on it (seen
/// with several started at once) is replaced by a new one.
fn xvfb() -> (Proc, String) {
    for _ in 0..5 {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb must be installed (package xvfb; tests/run.sh installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let (mut server, display) = (Proc(child), format!(":{}", line.trim()));
        if line.trim().is_empty() {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && server.0.try_wait().unwrap().is_none() {
            if !x(&display, "xdpyinfo", &[]).is_empty() {
                return (server, display);
            }
            pause(Duration::from_millis(100));
        }
    }
    panic!("no Xvfb answered on the display it said, five times");
}

/// Sleeps on the test's own thread.
#[allow(clippy::disallowed_methods)]
fn pause(duration: Duration) {
    std::thread::sleep(duration);
}

/// Xvfb on `display` (a number no server uses).
fn xvfb_on(display: &str) -> Proc {
    let child = Command::new("Xvfb")
        .args([display, "-screen", "0", "800x600x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb must be installed");
    let mut server = Proc(child);
    wait_until("Xvfb", || {
        let exited = server.0.try_wait().unwrap();
        assert!(exited.is_none(), "Xvfb {display} exited ({exited:?}): another server took it?");
        !x(display, "xdpyinfo", &[]).is_empty()
    });
    server
}

/// A display number no X server uses now (no lock file, no socket), claimed for this test
/// by a file of its own created exclusively, so two test processes running at once never
/// pick the same one between choosing it and starting Xvfb on it.
struct ClaimedDisplay {
    display: String,
    claim: PathBuf,
}

impl ClaimedDisplay {
    fn new() -> Self {
        let start = 200 + std::process::id() % 500;
        for n in (start..700).chain(200..start) {
            let claim = PathBuf::from(format!("/tmp/.plantsync-tray-test-display-{n}"));
            let free = !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists();
            if free && std::fs::File::create_new(&claim).is_ok() {
                return Self { display: format!(":{n}"), claim };
            }
        }
        panic!("no free X display number between 200 and 700");
    }
}

impl Drop for ClaimedDisplay {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.claim);
    }
}

/// trayer, the XEmbed tray host, once its panel is up (started again if it exits before).
fn trayer(display: &str) -> Proc {
    let start = || {
        Command::new("trayer")
            .args(["--edge", "top", "--align", "right", "--widthtype", "request"])
            .args(["--height", "32", "--SetDockType", "true", "--transparent", "false"])
            .args(["--tint", "0xffffff"])
            .env("DISPLAY", display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("trayer must be installed (package trayer; tests/run.sh installs it)")
    };
    let mut host = Proc(start());
    wait_until("trayer's panel", || {
        if host.0.try_wait().unwrap().is_some() {
            host = Proc(start());
        }
        panel(display).is_some()
    });
    host
}

/// The id of trayer's panel window.
fn panel(display: &str) -> Option<String> {
    let tree = x(display, "xwininfo", &["-root", "-tree"]);
    let line = tree.lines().find(|l| l.contains(r#""panel": ("panel" "trayer")"#))?;
    line.split_whitespace().next().map(str::to_owned)
}

/// The middle of the tray's icon (absolute), once it is embedded in trayer's panel: a
/// child of the panel whose WM_CLASS is tray-icon's for the id `plantsync`.
fn embedded_icon(display: &str) -> Option<(i64, i64)> {
    let panel = panel(display)?;
    let tree = x(display, "xwininfo", &["-tree", "-id", &panel]);
    let line = tree.lines().find(|l| l.contains(r#""tray-icon tray app plantsync""#))?;
    // `32x30+0+0  +767+1`: size, position in the parent, absolute position.
    let mut words = line.split_whitespace().rev();
    let absolute = words.next()?;
    let size = words.next()?;
    let (w, h) = size.split('+').next()?.split_once('x')?;
    let mut at = absolute.trim_start_matches('+').split('+');
    let (ax, ay): (i64, i64) = (at.next()?.parse().ok()?, at.next()?.parse().ok()?);
    Some((ax + w.parse::<i64>().ok()? / 2, ay + h.parse::<i64>().ok()? / 2))
}

/// Whether the tray's menu is on screen: a viewable top-level window of the `plantsync`
/// program larger than GTK's 10x10 helper windows.
fn menu_open(display: &str) -> bool {
    let tree = x(display, "xwininfo", &["-root", "-tree"]);
    tree.lines().filter(|l| l.contains(r#"("plantsync" "Plantsync")"#)).any(|l| {
        let mut words = l.split_whitespace();
        let id = words.next().unwrap_or_default();
        let big = words
            .find(|w| w.contains('x') && w.contains('+'))
            .and_then(|w| w.split('x').next()?.parse::<u32>().ok())
            .is_some_and(|width| width > 100);
        big && x(display, "xwininfo", &["-id", id]).contains("IsViewable")
    })
}

/// Opens the menu with a right click on the icon and waits until it is on screen. A click
/// the icon was not ready for yet is lost, so it clicks again each few looks until the
/// menu shows (or the deadline fails the test).
fn open_menu(display: &str) {
    let (cx, cy) = embedded_icon(display).expect("the icon is embedded");
    let (cx, cy) = (cx.to_string(), cy.to_string());
    let mut looks = 0;
    wait_until("the tray's menu", || {
        if looks % 30 == 0 {
            x(display, "xdotool", &["mousemove", &cx, &cy, "click", "3"]);
        }
        looks += 1;
        menu_open(display)
    });
}

/// Presses `keys` in the open menu and waits until it has closed.
fn choose(display: &str, keys: &[&str]) {
    let mut args = vec!["key"];
    args.extend_from_slice(keys);
    x(display, "xdotool", &args);
    wait_until("the menu to close", || !menu_open(display));
}

/// A running agent on the sandbox that syncs only when asked: the process, its API
/// address and the admin token.
fn agent(sandbox: &Sandbox) -> (Proc, String, String) {
    let child = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    let child = Proc(child);
    let info = sandbox.data_dir().join("agent.json");
    let mut api = String::new();
    wait_until("the agent's API", || {
        let read = std::fs::read_to_string(&info).ok();
        let info: Option<Value> = read.and_then(|t| serde_json::from_str(&t).ok());
        match info.as_ref().and_then(|i| i["api"].as_str()) {
            Some(address) => {
                api = address.to_owned();
                true
            }
            None => false,
        }
    });
    let token = sandbox.ok(&["token", "show"]).trim().to_owned();
    (child, api, token)
}

/// The simulator, on a runtime of its own that serves it while the test's thread waits.
fn simulator_runtime() -> (tokio::runtime::Runtime, plantsync::simulator::Simulator) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = runtime.block_on(simulator());
    (runtime, sim)
}

/// `GET /api/status` of the agent (`None`: it does not answer).
fn api_status(runtime: &tokio::runtime::Runtime, api: &str, token: &str) -> Option<Value> {
    runtime.block_on(async {
        let client = plantsync::vendors::http::plain_client(Duration::from_secs(10)).unwrap();
        let response =
            client.get(format!("http://{api}/api/status")).bearer_auth(token).send().await.ok()?;
        response.error_for_status().ok()?.json().await.ok()
    })
}

/// `plantsync tray` on `display` for the sandbox; its stderr (the log) goes to the file
/// returned.
fn tray(sandbox: &Sandbox, display: &str) -> (Proc, PathBuf) {
    let log = sandbox.dir.path().join(format!("tray-{}.log", display.trim_start_matches(':')));
    let child = sandbox
        .spawnable(&["tray"])
        .env("DISPLAY", display)
        .env("TMPDIR", sandbox.dir.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (Proc(child), log)
}

fn log_of(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits for the process to exit and returns its exit code.
fn exit_code(proc: &mut Proc) -> Option<i32> {
    let mut status = None;
    wait_until("the tray to exit", || {
        status = proc.0.try_wait().unwrap();
        status.is_some()
    });
    status.and_then(|s| s.code())
}

fn tray_runs(sandbox: &Sandbox) -> String {
    sqlite3(
        &sandbox.db(),
        "SELECT kind || ' ' || status FROM sync_runs WHERE source = 'tray' ORDER BY id",
    )
}

#[test]
fn the_menu_syncs_pauses_and_quits_while_the_agent_runs_on() {
    let (runtime, sim) = simulator_runtime();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 2);
    let (_agent, api, token) = agent(&sandbox);
    let (_xvfb, display) = xvfb();
    let _trayer = trayer(&display);
    let (mut tray, log) = tray(&sandbox, &display);
    wait_until("the icon in trayer", || embedded_icon(&display).is_some());
    // The sync items are enabled once the agent has answered.
    wait_until("the tray to reach the agent", || log_of(&log).contains(") answers"));

    // The first enabled item: "Sync plants now".
    open_menu(&display);
    choose(&display, &["Down", "Return"]);
    wait_until("a finished plant run from the tray", || tray_runs(&sandbox).trim() == "plants ok");
    let logged = log_of(&log);
    assert!(logged.contains("tray: Sync plants: ok (run"), "{logged}");

    // Sync plants, Sync alerts, (Push is disabled: no upstream), Pause.
    open_menu(&display);
    if let Some(file) = std::env::var_os("PLANTSYNC_TRAY_SCREENSHOT") {
        // Once the menu shows the run's outcome (the lines refresh every few seconds).
        pause(Duration::from_secs(4));
        x(&display, "import", &["-window", "root", &file.to_string_lossy()]);
    }
    choose(&display, &["Down", "Down", "Down", "Return"]);
    wait_until("the agent to say paused", || {
        api_status(&runtime, &api, &token).is_some_and(|s| s["schedule"]["paused"] == true)
    });
    assert!(log_of(&log).contains("tray: Pause: automatic syncs paused"));

    // Up from the top is the last item, "Stop agent"; one more up is "Quit tray".
    open_menu(&display);
    choose(&display, &["Up", "Up", "Return"]);
    assert_eq!(exit_code(&mut tray), Some(0), "{}", log_of(&log));
    let status = api_status(&runtime, &api, &token).expect("the agent still answers");
    assert_eq!(status["schedule"]["paused"], true);
    // Only the tray's one request ran from it.
    assert_eq!(tray_runs(&sandbox).trim(), "plants ok");
}

#[test]
fn a_tray_started_before_the_display_and_the_tray_host_appears_once_they_do() {
    let sandbox = Sandbox::new();
    let claimed = ClaimedDisplay::new();
    let display = claimed.display.clone();
    let (_tray, log) = tray(&sandbox, &display);
    wait_until("the tray to say there is no display", || log_of(&log).contains("no display"));
    let _xvfb = xvfb_on(&display);
    wait_until("the tray to reach the display", || {
        log_of(&log).contains("the display answers now")
    });
    wait_until("the tray to start", || log_of(&log).contains("tray: started"));
    // No tray host yet: nothing is embedded anywhere.
    assert!(embedded_icon(&display).is_none());
    let _trayer = trayer(&display);
    let deadline = Instant::now() + DEADLINE;
    while embedded_icon(&display).is_none() {
        assert!(
            Instant::now() < deadline,
            "no icon in the tray host that started later; the tray said:\n{}\nthe windows:\n{}",
            log_of(&log),
            x(&display, "xwininfo", &["-root", "-tree"])
        );
        pause(Duration::from_millis(100));
    }
    let logged = log_of(&log);
    assert_eq!(logged.matches("no display").count(), 1, "said once: {logged}");
    assert_eq!(logged.matches("no agent runs").count(), 1, "said once: {logged}");
}

#[test]
fn killing_the_x_server_under_the_tray_leaves_the_agent_running() {
    let (runtime, sim) = simulator_runtime();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let (_agent, api, token) = agent(&sandbox);
    let (xvfb, display) = xvfb();
    let _trayer = trayer(&display);
    let (mut tray, log) = tray(&sandbox, &display);
    wait_until("the icon in trayer", || embedded_icon(&display).is_some());
    wait_until("the tray to reach the agent", || log_of(&log).contains(") answers"));
    drop(xvfb);
    // GTK ends the tray's process when its display goes away; the agent is another one.
    let code = exit_code(&mut tray);
    assert_ne!(code, Some(0), "{}", log_of(&log));
    assert!(api_status(&runtime, &api, &token).is_some(), "the agent answers");
    // And it still syncs: `plantsync sync plants` goes through it.
    sandbox.ok(&["sync", "plants"]);
    let runs = sqlite3(&sandbox.db(), "SELECT source || ' ' || status FROM sync_runs");
    assert_eq!(runs.trim(), "user ok");
}

/// `plantsync tray --start-agent` with no agent running starts one (saying so, once), which
/// the tray then reaches; the agent is a process of its own and keeps running when the
/// tray ends; `plantsync stop` ends it.
#[test]
fn a_tray_asked_to_start_the_agent_starts_one_that_outlives_it() {
    let (runtime, sim) = simulator_runtime();
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 2);
    let (_xvfb, display) = xvfb();
    let log = sandbox.dir.path().join("tray-start.log");
    let child = sandbox
        .spawnable(&["tray", "--start-agent"])
        .env("DISPLAY", &display)
        .env("TMPDIR", sandbox.dir.path())
        // What the agent it starts inherits: an API on a free port, no scheduled syncs.
        .envs(QUIET_AGENT)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let tray = Proc(child);
    wait_until("the tray to start an agent", || log_of(&log).contains("started one (pid"));
    wait_until("the tray to reach it", || log_of(&log).contains(") answers"));
    assert_eq!(log_of(&log).matches("started one").count(), 1, "{}", log_of(&log));
    let token = sandbox.ok(&["token", "show"]).trim().to_owned();

    // A stop is a person's decision: the tray, still running, does not start another.
    let stopped = sandbox.ok(&["stop"]);
    assert!(stopped.contains("the agent stopped"), "{stopped}");
    wait_until("the tray to see no agent", || log_of(&log).contains("no agent runs on"));
    // Two more looks (every 3 s): time enough for a wrong restart to show, not a pass
    // condition of its own.
    pause(Duration::from_secs(7));
    assert_eq!(log_of(&log).matches("started one").count(), 1, "{}", log_of(&log));
    let status: Value = serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    assert_eq!(status["agent"], Value::Null, "no agent was started again");

    // Started again with the flag, the tray starts one; the agent outlives the tray.
    drop(tray); // SIGTERM, then waited for
    let child = sandbox
        .spawnable(&["tray", "--start-agent"])
        .env("DISPLAY", &display)
        .env("TMPDIR", sandbox.dir.path())
        .envs(QUIET_AGENT)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let tray = Proc(child);
    wait_until("the tray to reach a new agent", || log_of(&log).contains(") answers"));
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.data_dir().join("agent.json")).unwrap(),
    )
    .unwrap();
    let api = info["api"].as_str().unwrap().to_owned();
    drop(tray);
    assert!(api_status(&runtime, &api, &token).is_some(), "the agent outlives the tray");
    let stopped = sandbox.ok(&["stop"]);
    assert!(stopped.contains("the agent stopped"), "{stopped}");
}
