//! `plantsync pause` and `plantsync resume`: the tray's Pause and Resume from the command
//! line. Pausing is the running agent's state (its scheduled syncs wait; a person's sync
//! still runs), so both ask the agent over its loopback API; with no agent running there
//! is nothing to pause, and the command says so (exit 2).

use super::UsageError;
use crate::config::Settings;
use std::io::Write;
use std::time::Duration;

/// Pauses (`pause = true`) or resumes the agent's automatic syncs and prints the state.
pub fn run(settings: &Settings, pause: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &settings.data_dir.value;
    let Some(agent) = crate::datadir::lock::running_agent(dir) else {
        return Err(UsageError(format!(
            "no agent runs on {}: nothing to {} (start one with `plantsync run`)",
            dir.display(),
            if pause { "pause" } else { "resume" }
        ))
        .into());
    };
    let Some(api) = agent.api.as_deref() else {
        anyhow::bail!("the agent (pid {}) runs without its API: restart it", agent.pid);
    };
    let token = crate::datadir::token::read(dir)?;
    let path = if pause { "pause" } else { "resume" };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer = runtime.block_on(async {
        let client = crate::vendors::http::plain_client(Duration::from_secs(10))?;
        let response = client
            .post(format!("http://{api}/api/{path}"))
            .bearer_auth(token.expose())
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the agent refused to {path} (HTTP {status})");
        Ok(response.json::<crate::api::wire::PauseResponse>().await?)
    })?;
    if answer.paused {
        writeln!(out, "automatic syncs are paused (syncs you start still run)")?;
    } else {
        writeln!(out, "automatic syncs run on their schedule again")?;
    }
    Ok(())
}
