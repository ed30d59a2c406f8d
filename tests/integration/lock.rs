//! One syncing process per data dir, with real processes: CLI syncs hold the data dir's
//! lock, an agent started meanwhile waits instead of calling the live run interrupted, a
//! killed CLI sync is recovered by the next one, and names are checked before anything is
//! recorded. The simulator's latch holds a run in flight for as long as a test needs.

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::sync_cli::add_vendors;
use plantsync::domain::VendorKind;
use plantsync::simulator::{AccountSpec, Simulator, SimulatorConfig};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

async fn simulator(plants: usize) -> Simulator {
    let accounts = vec![AccountSpec::new(VendorKind::Solarman, plants, 0)];
    Simulator::start(SimulatorConfig { seed: 5, accounts }).await.unwrap()
}

fn runs(sandbox: &Sandbox) -> String {
    sqlite3(&sandbox.db(), "SELECT id || ':' || status FROM sync_runs ORDER BY id")
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `plantsync <args>` in the background, its stderr in `<name>.err` in the sandbox.
fn spawn(sandbox: &Sandbox, name: &str, args: &[&str]) -> (Child, std::path::PathBuf) {
    let err = sandbox.dir.path().join(format!("{name}.err"));
    let child = sandbox
        .spawnable(args)
        .envs(QUIET_AGENT)
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    (child, err)
}

fn text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn exit_of(mut child: Child) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_sync_holds_the_data_dir_against_a_second_sync_and_an_agent() {
    let sim = simulator(20).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);

    sim.hold(0);
    let (first, _) = spawn(&sandbox, "first", &["sync", "plants", "--force"]);
    sim.wait_until_held(0).await;
    assert_eq!(runs(&sandbox), "1:running\n");
    let sync_file: serde_json::Value =
        serde_json::from_str(&text(&sandbox.data_dir().join("sync.json"))).unwrap();
    assert_eq!(sync_file["pid"].as_u64(), Some(u64::from(first.id())));

    // A second sync waits for the first instead of syncing beside it.
    let (second, second_err) = spawn(&sandbox, "second", &["sync", "plants", "--force"]);
    let waiting = format!("of another plantsync (pid {}) on this data dir to finish", first.id());
    wait_for("the second sync to wait", || text(&second_err).contains(&waiting)).await;
    // An agent started now waits too, and leaves the live run alone.
    let (agent, _) = spawn(&sandbox, "agent", &["run"]);
    let agent_waits = format!("a CLI plants sync (pid {}) holds the data dir", first.id());
    wait_for("the agent to wait", || sandbox.logs().contains(&agent_waits)).await;
    assert!(!sandbox.data_dir().join("agent.json").exists(), "the agent has not started");
    assert_eq!(runs(&sandbox), "1:running\n", "nothing else ran, nothing was interrupted");

    sim.release(0);
    assert!(exit_of(first).await.success());
    // The second sync runs next, by itself or through the agent if that started first:
    // either way one more run, of its own.
    assert!(exit_of(second).await.success(), "{}", text(&second_err));
    wait_for("the agent to start", || sandbox.data_dir().join("agent.json").exists()).await;
    assert_eq!(runs(&sandbox), "1:ok\n2:ok\n");
    std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status().unwrap();
    assert!(exit_of(agent).await.success());
    assert_eq!(runs(&sandbox), "1:ok\n2:ok\n", "the agent found nothing to recover");
    assert!(!sandbox.logs().contains("marked interrupted"), "{}", sandbox.logs());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cli_sync_is_recovered_by_the_next_one() {
    let sim = simulator(10).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    sim.hold(0);
    let (mut killed, _) = spawn(&sandbox, "killed", &["sync", "plants", "--force"]);
    sim.wait_until_held(0).await;
    killed.kill().unwrap(); // SIGKILL: no cleanup at all
    killed.wait().unwrap();
    assert_eq!(runs(&sandbox), "1:running\n");
    sim.release(0);

    let output = sandbox.cmd().args(["sync", "plants", "--force"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(runs(&sandbox), "1:interrupted\n2:ok\n");
    let shown = sandbox.ok(&["runs", "show", "1", "--format", "json"]);
    assert!(shown.contains("the process running it stopped before it finished"), "{shown}");
    assert!(!sandbox.data_dir().join("sync.json").exists());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_exit_2_and_record_nothing_with_or_without_an_agent() {
    let sim = simulator(3).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let refused = |args: &[&str], wanted: &str| {
        let output = sandbox.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    };
    refused(&["sync", "plants", "--vendor", "nope"], "vendor 'nope' not found");
    refused(&["sync", "alerts", "--org", "Nowhere"], "organization 'Nowhere' not found");
    sandbox.ok(&["org", "add", "Empty"]);
    refused(&["sync", "plants", "--org", "Empty"], "organization 'Empty' has no active vendor");
    sandbox.ok(&["vendor", "disable", "v0"]);
    refused(&["sync", "plants", "--vendor", "v0"], "is disabled; enable it with");
    sandbox.ok(&["vendor", "enable", "v0"]);
    assert_eq!(runs(&sandbox), "", "nothing was recorded");

    let (agent, _) = spawn(&sandbox, "agent", &["run"]);
    wait_for("the agent", || sandbox.data_dir().join("agent.json").exists()).await;
    refused(&["sync", "plants", "--vendor", "nope"], "vendor 'nope' not found");
    assert_eq!(runs(&sandbox), "");
    let through = sandbox.ok(&["sync", "plants", "--vendor", "v0", "--format", "json"]);
    assert!(through.contains("\"totalPlantsSynced\": 3"), "{through}");
    std::process::Command::new("kill").arg("-TERM").arg(agent.id().to_string()).status().unwrap();
    assert!(exit_of(agent).await.success());
    assert_eq!(runs(&sandbox), "1:ok\n");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_sync_through_an_agent_that_dies_syncs_by_itself() {
    let sim = simulator(8).await;
    let sandbox = Sandbox::new();
    add_vendors(&sandbox, &sim, 1);
    let (mut agent, _) = spawn(&sandbox, "agent", &["run"]);
    wait_for("the agent", || {
        text(&sandbox.data_dir().join("agent.json")).contains("\"api\": \"127.0.0.1")
    })
    .await;
    sim.hold(0);
    let (cli, cli_err) = spawn(&sandbox, "cli", &["sync", "plants"]);
    sim.wait_until_held(0).await; // the agent's run, asked for by the CLI, is in flight
    agent.kill().unwrap(); // SIGKILL: the CLI's request is cut off
    agent.wait().unwrap();
    sim.release(0);
    // The lock is free now: the CLI recovers the dead agent's run and syncs by itself.
    assert!(exit_of(cli).await.success(), "{}", text(&cli_err));
    assert_eq!(runs(&sandbox), "1:interrupted\n2:ok\n");
    assert_eq!(sqlite3(&sandbox.db(), "SELECT count(*) FROM plants"), "8\n");
    sim.shutdown().await;
}
