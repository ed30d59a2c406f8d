//! `plantsync stop`: the tray's "Stop agent" from the command line. The running agent is
//! asked over its loopback API (`POST /api/stop`) and stops as on SIGTERM (no new runs; a
//! sync under way gets the shutdown grace); the command waits until it is gone.

use super::UsageError;
use crate::config::Settings;
use std::io::Write;
use std::time::{Duration, Instant};

/// How long `stop` waits for the agent to be gone: its shutdown grace and a margin.
const GONE_WAIT: Duration = Duration::from_secs(60);

/// Asks the agent on the data dir to stop and waits until it has.
pub fn run(settings: &Settings, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &settings.data_dir.value;
    let Some(agent) = crate::datadir::lock::running_agent(dir) else {
        return Err(
            UsageError(format!("no agent runs on {}: nothing to stop", dir.display())).into()
        );
    };
    let Some(api) = agent.api.as_deref() else {
        anyhow::bail!("the agent (pid {}) runs without its API: stop it with SIGTERM", agent.pid);
    };
    let token = crate::datadir::token::read(dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::vendors::http::plain_client(Duration::from_secs(10))?;
        let response = client
            .post(format!("http://{api}/api/stop"))
            .bearer_auth(token.expose())
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the agent refused to stop (HTTP {status})");
        writeln!(out, "the agent (pid {}) is stopping", agent.pid)?;
        let started = Instant::now();
        while crate::datadir::lock::running_agent(dir).is_some_and(|a| a.pid == agent.pid) {
            anyhow::ensure!(
                started.elapsed() < GONE_WAIT,
                "the agent (pid {}) is still stopping after {} s",
                agent.pid,
                GONE_WAIT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    })?;
    writeln!(out, "the agent stopped")?;
    Ok(())
}
