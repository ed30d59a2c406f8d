//! `plantsync dashboard`: opens the running agent's dashboard in the browser, logged in.
//! Like `plantsync pause` it finds the agent through the data dir (`agent.json`) and reads
//! the admin token there; it trades the token for a one-time login code, so the URL the
//! browser keeps in its history is spent and the token never reaches the browser.

use super::UsageError;
use crate::config::Settings;
use std::io::Write;
use std::time::Duration;

/// Opens (or with `print_url`, prints) a one-time login URL of the running agent's
/// dashboard. When no browser starts, prints the URL to open by hand.
pub fn run(settings: &Settings, print_url: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &settings.data_dir.value;
    let Some(agent) = crate::datadir::lock::running_agent(dir) else {
        return Err(UsageError(format!(
            "no agent runs on {}: the dashboard is the agent's (start one with `plantsync run`)",
            dir.display()
        ))
        .into());
    };
    let Some(api) = agent.api.as_deref() else {
        anyhow::bail!("the agent (pid {}) runs without its API: restart it", agent.pid);
    };
    let token = crate::datadir::token::read(dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let url = runtime.block_on(async {
        let client = crate::vendors::http::plain_client(Duration::from_secs(10))?;
        anyhow::Ok(crate::api::dashboard::client::login_url(&client, api, &token).await?)
    })?;
    if print_url {
        writeln!(out, "{url}")?;
        return Ok(());
    }
    match crate::api::dashboard::client::open_browser(&url) {
        Ok(()) => writeln!(
            out,
            "opened the dashboard in the browser (the login link works once, for 60 s)"
        )?,
        Err(e) => {
            writeln!(out, "no browser could be started ({e}); open this link within 60 s:")?;
            writeln!(out, "{url}")?;
        }
    }
    Ok(())
}
