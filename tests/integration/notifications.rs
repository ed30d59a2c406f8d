//! Desktop notifications end to end: the real agent (`plantsync run`) on a private session
//! bus with a real notification server on it (dunst, on its own Xvfb display), against the
//! simulator; what dunst received (`dunst -print` writes each notification to a file) is
//! what the test reads. And the agent without any session bus: it syncs, and says once that
//! desktop notifications are off.
//!
//! Xvfb, dbus and dunst must be installed (`tests/run.sh` installs them): a missing one
//! fails the test, it is never skipped.

use crate::support::QUIET_AGENT;
use crate::support::Sandbox;
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Faults, Simulator, SimulatorConfig};
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn required(program: &str, package: &str) {
    let found = Command::new(program)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok(); // started at all: some of them exit non-zero for -version
    assert!(found, "{program} is missing: install {package} (tests/run.sh installs it)");
}

/// A display, a session bus and dunst on both; all stopped on drop.
struct Desktop {
    children: Vec<Child>,
    address: String,
    /// What `dunst -print` wrote: one `{ ... }` block per notification.
    printed: PathBuf,
}

impl Desktop {
    fn start(sandbox: &Sandbox) -> Self {
        required("Xvfb", "xvfb");
        required("dbus-daemon", "dbus");
        required("dbus-send", "dbus");
        required("dunst", "dunst");
        let mut children = Vec::new();
        // `-displayfd 1`: Xvfb picks a free display and prints its number once it serves.
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "800x600x24"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut display = String::new();
        std::io::BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut display).unwrap();
        children.push(xvfb);
        let display = format!(":{}", display.trim());
        assert!(display.len() > 1, "Xvfb printed no display");
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .arg(format!("--address=unix:path={}", sandbox.dir.path().join("bus").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
        children.push(bus);
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon printed {address:?}");
        let home = sandbox.dir.path().join("desktop-home");
        std::fs::create_dir_all(&home).unwrap();
        let printed = sandbox.dir.path().join("dunst.out");
        let dunst = Command::new("dunst")
            .arg("-print")
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .stdout(std::fs::File::create(&printed).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dunst");
        children.push(dunst);
        let desktop = Self { children, address, printed };
        desktop.wait_for_server();
        desktop
    }

    /// Polls the bus until dunst owns `org.freedesktop.Notifications` (a readiness wait:
    /// the test fails only if it never does).
    #[allow(clippy::disallowed_methods)] // a blocking poll on the test's own thread
    fn wait_for_server(&self) {
        for _ in 0..600 {
            let reply = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.Notifications",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&reply.stdout).contains("boolean true") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("dunst never took org.freedesktop.Notifications on the test bus");
    }

    /// Every notification dunst printed: (appname, summary, body).
    fn received(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(&self.printed).unwrap_or_default();
        let field = |block: &str, name: &str, next: &str| -> Option<String> {
            let start = block.find(&format!("\t{name}: '"))? + name.len() + 4;
            let end = start + block[start..].find(&format!("'\n\t{next}:"))?;
            Some(block[start..end].to_owned())
        };
        text.split("\n}")
            .filter_map(|block| {
                Some((
                    field(block, "appname", "summary")?,
                    field(block, "summary", "body")?,
                    field(block, "body", "icon")?,
                ))
            })
            .collect()
    }

    /// Waits until a notification whose summary is `summary` arrived: its body.
    async fn wait_for(&self, summary: &str) -> String {
        let mut body = String::new();
        wait_until(&format!("the notification {summary:?}"), async || {
            let found = self.received().into_iter().find(|(_, s, _)| s == summary);
            match found {
                Some((app, _, text)) => {
                    assert_eq!(app, "plantsync");
                    body = text;
                    true
                }
                None => false,
            }
        })
        .await;
        body
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `ready` (a state, never a time, decides the test): the deadline only keeps a
/// broken build from hanging.
async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The running agent, killed on drop when a failed assertion ends the test before [`stop`].
struct Agent(Option<Child>);

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The agent on this sandbox, syncing only when asked, with `bus` as its session bus (none
/// at all when `None`): (process, API address, token).
async fn agent(sandbox: &Sandbox, bus: Option<&str>) -> (Agent, String, String) {
    agent_with(sandbox, bus, &[]).await
}

/// [`agent`] with more settings.
async fn agent_with(
    sandbox: &Sandbox,
    bus: Option<&str>,
    settings: &[(&str, &str)],
) -> (Agent, String, String) {
    let mut command = sandbox.spawnable(&["run"]);
    command.envs(settings.iter().copied());
    command.envs(QUIET_AGENT);
    // The secrets stay in the file the setup chose; only the agent sees the test's bus.
    match bus {
        Some(address) => _ = command.env("DBUS_SESSION_BUS_ADDRESS", address),
        None => _ = command.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    }
    let child = Agent(Some(command.spawn().unwrap()));
    let pid = child.0.as_ref().map_or(0, Child::id);
    let (api, token) = crate::upstream::published_api(sandbox, pid).await;
    (child, api, token)
}

/// Asks the agent for a plants sync `?source=...` and returns its answer.
async fn sync_plants(api: &str, token: &str, query: &str) -> Value {
    let client = plantsync::vendors::http::plain_client(std::time::Duration::from_secs(120));
    client
        .unwrap()
        .post(format!("http://{api}/api/cron/sync-plants{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// SIGTERM, then the agent's exit.
fn stop(mut agent: Agent) {
    let mut child = agent.0.take().unwrap();
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

async fn simulator(kind: VendorKind, faults: Faults) -> Simulator {
    Simulator::start(SimulatorConfig {
        seed: 12,
        accounts: vec![AccountSpec { faults, ..AccountSpec::new(kind, 5, 0) }],
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_login_reaches_the_desktop_naming_the_vendor_and_what_to_do() {
    let sim = simulator(VendorKind::Huawei, Faults { reject_login: true, ..Faults::none() }).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let desktop = Desktop::start(&sandbox);
    let (child, api, token) = agent(&sandbox, Some(&desktop.address)).await;

    let answer = sync_plants(&api, &token, "").await;
    assert_eq!(answer["summary"]["failed"], 1, "{answer}");
    let body = desktop.wait_for("plantsync: vendor v0 needs new credentials").await;
    assert!(body.starts_with("Huawei FusionSolar rejected the login of vendor v0: "), "{body}");
    assert!(
        body.ends_with(
            "Run `plantsync vendor set 1 --password` to enter the new FusionSolar systemCode."
        ),
        "{body}"
    );
    let password = &sim.credentials(0).password;
    assert!(!body.contains(password.as_str()), "no secret in the text: {body}");
    // An API sync is not a tray click: no "sync finished" beside it.
    assert_eq!(desktop.received().len(), 1, "{:?}", desktop.received());
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_started_from_the_tray_ends_with_a_notification_of_what_synced() {
    let sim = simulator(VendorKind::Solarman, Faults::none()).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let desktop = Desktop::start(&sandbox);
    let (child, api, token) = agent(&sandbox, Some(&desktop.address)).await;

    let answer = sync_plants(&api, &token, "?source=tray").await;
    assert_eq!(answer["success"], true, "{answer}");
    let body = desktop.wait_for("plantsync: plant sync finished").await;
    assert_eq!(body, "1 of 1 vendor(s) synced: 5 plants stored (5 new, 0 updated).");
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_bus_the_agent_syncs_and_says_once_that_desktop_notifications_are_off() {
    let sim = simulator(VendorKind::Huawei, Faults { reject_login: true, ..Faults::none() }).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let (child, api, token) = agent(&sandbox, None).await;

    let answer = sync_plants(&api, &token, "?source=tray").await;
    assert_eq!(answer["summary"]["failed"], 1, "{answer}");
    // The vendor's notification is still raised (the log line), and nothing tried a bus.
    wait_until("the vendor's notification in the log", async || {
        sandbox.logs().contains("vendor 'v0' needs your action")
    })
    .await;
    stop(child);
    let logs = sandbox.logs();
    let off = "desktop notifications are off: no session bus";
    assert_eq!(logs.matches(off).count(), 1, "{logs}");
    assert!(!logs.contains("desktop notification not shown"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_push_reaches_the_desktop_once_without_its_password() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Field Office"]);
    // A port nothing listens on: every push is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://site:s3cret-upstream@127.0.0.1:{port}/central?sslmode=disable");
    let desktop = Desktop::start(&sandbox);
    let settings = [
        ("PLANTSYNC_UPSTREAM_URL", url.as_str()),
        ("PLANTSYNC_UPSTREAM_RETRY_MIN_SECONDS", "1"),
        ("PLANTSYNC_UPSTREAM_RETRY_MAX_SECONDS", "1"),
        ("PLANTSYNC_NOTIFY_FAILURE_THRESHOLD", "2"),
    ];
    let (child, api, token) = agent_with(&sandbox, Some(&desktop.address), &settings).await;
    let body = desktop.wait_for("plantsync: the upstream push is stalled").await;
    assert!(body.starts_with("2 pushes in a row to postgres://site:"), "{body}");
    assert!(
        body.ends_with(
            "Check the network and `upstream.url`, then run `plantsync push` to try now."
        ),
        "{body}"
    );
    assert!(!body.contains("s3cret-upstream"), "no password in the text: {body}");
    // The pushes go on failing past the threshold: the status counts them, the desktop
    // hears of the stall once.
    wait_until("more failed pushes", async || {
        let status: Value =
            plantsync::vendors::http::plain_client(std::time::Duration::from_secs(30))
                .unwrap()
                .get(format!("http://{api}/api/status"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        status["upstream"]["retry"]["failures"].as_u64().unwrap_or(0) >= 4
    })
    .await;
    stop(child);
    let stalls = desktop.received().into_iter().filter(|(_, s, _)| s.contains("stalled")).count();
    assert_eq!(stalls, 1, "{:?}", desktop.received());
}
