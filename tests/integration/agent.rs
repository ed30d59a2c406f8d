//! `plantsync run` as a real process: one agent per data dir, kill -9 in the middle of a
//! sync, recovery on restart, a graceful stop on SIGTERM.

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Faults, Simulator, SimulatorConfig};
use std::time::{Duration, Instant};

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The running agent's `agent.json`, once its API listens (while it starts, `api` is null).
fn agent_info(sandbox: &Sandbox) -> Option<serde_json::Value> {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox.data_dir().join("agent.json")).ok()?)
            .ok()?;
    info["api"].is_string().then_some(info)
}

fn runs(sandbox: &Sandbox) -> String {
    sqlite3(&sandbox.db(), "SELECT id || ':' || status FROM sync_runs ORDER BY id")
}

async fn post_sync(api: &str, token: &str) -> reqwest::Result<serde_json::Value> {
    let client = plantsync::vendors::http::plain_client(Duration::from_secs(120)).unwrap();
    client
        .post(format!("http://{api}/api/cron/sync-plants"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await
}

/// A simulator with one Sungrow account of 12 plants and a started agent on a fresh sandbox
/// that syncs only when asked: (simulator, sandbox, agent process, API address, token).
async fn quiet_agent(seed: u64) -> (Simulator, Sandbox, std::process::Child, String, String) {
    let sim = Simulator::start(SimulatorConfig {
        seed,
        accounts: vec![AccountSpec::new(VendorKind::Sungrow, 12, 0)],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    crate::sync_cli::add_vendors(&sandbox, &sim, 1);
    let agent = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    wait_for("the agent to publish agent.json", || agent_info(&sandbox).is_some()).await;
    let api = agent_info(&sandbox).unwrap()["api"].as_str().unwrap().to_owned();
    let token = sandbox.ok(&["token", "show"]).trim().to_owned();
    (sim, sandbox, agent, api, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_sync_then_restart_recovers() {
    // Slow vendor: every response waits 150 ms, so a sync of 60 plants takes ~10 s.
    let slow = Faults { latency: Duration::from_millis(150), ..Faults::none() };
    let sim = Simulator::start(SimulatorConfig {
        seed: 9,
        accounts: vec![AccountSpec {
            faults: slow,
            ..AccountSpec::new(VendorKind::Solarman, 60, 0)
        }],
    })
    .await
    .unwrap();
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Office"]);
    let c = sim.credentials(0);
    sandbox
        .cmd()
        .args(["vendor", "add", "--name", "slow", "--kind", "solarman", "--org", "Office"])
        .args([
            "--base-url",
            &sim.base_url(VendorKind::Solarman),
            "--app-id",
            &c.app_id,
            "--username",
            &c.username,
        ])
        .write_stdin(format!("{}\n{}\n", c.app_secret, c.password))
        .assert()
        .success();

    let mut first = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    wait_for("the agent to publish agent.json", || agent_info(&sandbox).is_some()).await;
    let info = agent_info(&sandbox).unwrap();
    assert_eq!(info["pid"].as_u64().unwrap(), u64::from(first.id()));

    // A second agent on the same data dir is refused, naming the first.
    let second = sandbox.cmd().arg("run").envs(QUIET_AGENT).output().unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains(&format!("(pid {})", first.id())));

    let api = info["api"].as_str().unwrap().to_owned();
    let token = sandbox.ok(&["token", "show"]).trim().to_owned();
    let (api2, token2) = (api.clone(), token.clone());
    // The simulator holds the plant list, so the kill lands mid-sync whatever the speed.
    sim.hold(0);
    let pending = tokio::spawn(async move { post_sync(&api2, &token2).await });
    sim.wait_until_held(0).await;
    assert_eq!(runs(&sandbox), "1:running\n");
    first.kill().unwrap(); // SIGKILL: no cleanup at all
    first.wait().unwrap();
    assert!(pending.await.unwrap().is_err(), "the killed agent never answered");
    assert_eq!(runs(&sandbox), "1:running\n");
    let stored = sqlite3(&sandbox.db(), "SELECT count(*) FROM plants");
    assert!(stored.trim().parse::<u32>().unwrap() < 60);

    // Restart: the unclean stop is noticed, the database checked, the run interrupted.
    sim.release(0);
    sim.set_faults(0, Faults::none());
    let mut again = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    wait_for("the restarted agent", || {
        agent_info(&sandbox).is_some_and(|i| i["pid"].as_u64() == Some(u64::from(again.id())))
    })
    .await;
    let logs = sandbox.logs();
    assert!(logs.contains("the previous agent did not stop cleanly"), "{logs}");
    assert!(logs.contains("database integrity check: ok"), "{logs}");
    assert!(runs(&sandbox).starts_with("1:interrupted\n"), "{}", runs(&sandbox));

    let api = agent_info(&sandbox).unwrap()["api"].as_str().unwrap().to_owned();
    let body = post_sync(&api, &token).await.unwrap();
    assert_eq!(body["summary"]["successful"], 1, "{body}");
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM plants"), "60\n");
    assert_eq!(runs(&sandbox), "1:interrupted\n2:ok\n");

    let status: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    assert_eq!(status["agent"]["pid"].as_u64(), Some(u64::from(again.id())));

    // The CLI's sync goes through the running agent instead of syncing beside it.
    let via_agent = sandbox.ok(&["sync", "plants", "--format", "json"]);
    assert!(via_agent.contains("\"totalPlantsSynced\": 60"), "{via_agent}");
    assert_eq!(runs(&sandbox), "1:interrupted\n2:ok\n3:ok\n");

    // SIGTERM: a graceful stop that removes agent.json.
    std::process::Command::new("kill").arg("-TERM").arg(again.id().to_string()).status().unwrap();
    let status = again.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!sandbox.data_dir().join("agent.json").exists());
    let status: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    assert!(status["agent"].is_null());
    assert!(sandbox.logs().contains("plantsync agent stopped"));
    sim.shutdown().await;
}

/// SIGTERM during a sync: no new run starts, the running one finishes within the grace
/// period, the request waiting for it still gets its answer (the API closes last), and
/// the agent stops cleanly. The simulator's latch holds the run until the stop is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_the_running_sync_and_answers_its_request() {
    let (sim, sandbox, mut agent, api, token) = quiet_agent(11).await;

    sim.hold(0);
    let (api2, token2) = (api.clone(), token.clone());
    let pending = tokio::spawn(async move { post_sync(&api, &token).await });
    sim.wait_until_held(0).await;
    std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status().unwrap();
    wait_for("the stop to begin", || sandbox.logs().contains("stopping: no new runs")).await;
    // A new request while it stops is refused at once (503), not kept waiting.
    let client = plantsync::vendors::http::plain_client(Duration::from_secs(10)).unwrap();
    let refused = client
        .post(format!("http://{api2}/api/cron/sync-alerts"))
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("stopping"), "{body}");
    sim.release(0);

    let body = pending.await.unwrap().expect("the waiting request is answered");
    assert_eq!(body["summary"]["totalPlantsSynced"], 12, "{body}");
    let status = tokio::task::spawn_blocking(move || agent.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(runs(&sandbox), "1:ok\n", "finished within the grace, not interrupted");
    assert!(!sandbox.data_dir().join("agent.json").exists(), "a clean stop removes agent.json");
    sim.shutdown().await;
}

/// SIGTERM while a sync the simulator holds cannot finish: a second SIGTERM ends the grace
/// at once, the run is recorded as interrupted, and the client that waited on it gets a
/// JSON answer naming that run as interrupted, not a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_ends_a_sync_answers_its_request_with_the_interrupted_run() {
    let (sim, sandbox, mut agent, api, token) = quiet_agent(12).await;

    sim.hold(0);
    let pending = tokio::spawn(async move {
        let client = plantsync::vendors::http::plain_client(Duration::from_secs(120)).unwrap();
        let response = client
            .post(format!("http://{api}/api/cron/sync-plants"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.json::<serde_json::Value>().await?))
    });
    sim.wait_until_held(0).await;
    let term =
        || std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status();
    term().unwrap();
    wait_for("the stop to begin", || sandbox.logs().contains("stopping: no new runs")).await;
    term().unwrap();

    let (status, body) = pending.await.unwrap().expect("the waiting request is answered");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (&body["success"], &body["status"], &body["runId"]),
        (&false.into(), &"interrupted".into(), &1.into()),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("run 1 was recorded as interrupted"),
        "{body}"
    );
    let exit = tokio::task::spawn_blocking(move || agent.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(runs(&sandbox), "1:interrupted\n");
    assert!(sandbox.logs().contains("a second stop signal: ending the running sync now"));
    sim.release(0);
    sim.shutdown().await;
}

/// `status` and the agent's start-up line say what happens next: without vendors, that
/// there is nothing to sync (the agent says it once); without an agent, that nothing syncs
/// on schedule; with a paused agent, that it is paused (from the agent's own answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_the_start_up_line_say_what_happens_next() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["org", "add", "Office"]);
    let offline = sandbox.ok(&["status"]);
    assert!(offline.contains("no agent runs: nothing syncs on schedule"), "{offline}");
    // Pausing is the running agent's: with none, there is nothing to pause (a usage error).
    let nothing = sandbox.cmd().arg("pause").output().unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    let said = String::from_utf8_lossy(&nothing.stderr);
    assert!(said.contains("no agent runs on") && said.contains("nothing to pause"), "{said}");
    assert!(offline.contains("next plant sync    none: no vendor to sync"), "{offline}");
    assert!(offline.contains("restricted window  19:00-06:00 Asia/Kolkata: "), "{offline}");
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    let schedule = &json["schedule"];
    assert_eq!(
        (&schedule["from_agent"], &schedule["paused"]),
        (&false.into(), &serde_json::Value::Null)
    );
    assert_eq!(schedule["next"]["plants"], serde_json::json!({"next": "no_vendors"}), "{json}");

    // An agent with no vendor says so once, in its start-up line, in words.
    // No window, so the line does not depend on the hour the test runs at (the window's
    // words at a fixed clock are the schedule's unit tests).
    let env = [
        ("PLANTSYNC_API_PORT", "0"),
        ("PLANTSYNC_SYNC_WINDOW_START", "00:00"),
        ("PLANTSYNC_SYNC_WINDOW_END", "00:00"),
    ];
    let mut agent = sandbox.spawnable(&["run"]).envs(env).spawn().unwrap();
    wait_for("the agent to publish agent.json", || agent_info(&sandbox).is_some()).await;
    wait_for("the schedule's start-up line", || sandbox.logs().contains("schedule started")).await;
    let logs = sandbox.logs();
    let started = logs.lines().find(|l| l.contains("schedule started")).unwrap();
    assert!(started.contains("no restricted window; no vendor to sync yet"), "{started}");
    assert_eq!(logs.matches("no vendor to sync").count(), 1, "{logs}");
    for name in ["SkippedWindow", "NotDue", "NoVendors"] {
        assert!(!logs.contains(name), "{name} in the log: {logs}");
    }

    // Paused (`plantsync pause`, the tray's Pause from the CLI): the agent's answer says
    // so, and no run is coming.
    let paused = sandbox.ok(&["pause"]);
    assert!(paused.contains("automatic syncs are paused"), "{paused}");
    let shown = sandbox.ok(&["status"]);
    assert!(shown.contains("automatic syncs    paused"), "{shown}");
    assert!(shown.contains("restricted window  none"), "{shown}");
    assert!(shown.contains("next plant sync    none while automatic syncs are paused"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    assert_eq!(
        (&json["schedule"]["from_agent"], &json["schedule"]["paused"]),
        (&true.into(), &true.into())
    );
    let resumed = sandbox.ok(&["resume"]);
    assert!(resumed.contains("run on their schedule again"), "{resumed}");
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.ok(&["status", "--format", "json"])).unwrap();
    assert_eq!(json["schedule"]["paused"], false, "{json}");
    // `plantsync stop` (the tray's "Stop agent"): the agent stops as on SIGTERM, cleanly,
    // and the command returns once it is gone.
    let stopped = sandbox.ok(&["stop"]);
    assert!(stopped.contains("is stopping") && stopped.contains("the agent stopped"), "{stopped}");
    let exit = tokio::task::spawn_blocking(move || agent.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(sandbox.logs().contains("a stop asked over the API"));
    let nothing = sandbox.cmd().arg("stop").output().unwrap();
    assert_eq!(nothing.status.code(), Some(2), "no agent runs any more");
}
