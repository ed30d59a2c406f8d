//! The tray's worker thread: a small current-thread tokio runtime that looks at the agent
//! every few seconds and sends the menu's requests, so the GTK thread never waits on the
//! network. It finds the agent like the CLI does (the data dir's `agent.json`) and reads
//! the admin token on every request, so a rotated token or a restarted agent (a new port)
//! is picked up at once.

use super::view::Look;
use crate::api::wire::{ErrorBody, PauseResponse, RunResponse, StatusResponse};
use crate::domain::{RunKind, RunSource};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the tray looks at the agent (and so how old a status line can be).
pub const LOOK_EVERY: Duration = Duration::from_secs(3);

/// What a menu item asks of the agent: the same requests the CLI sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `POST /api/cron/sync-plants|alerts?source=tray` (`plantsync sync plants|alerts`).
    Sync(RunKind),
    /// `POST /api/push` (`plantsync push`).
    Push,
    /// `POST /api/pause`.
    Pause,
    /// `POST /api/resume`.
    Resume,
    /// `POST /api/stop` (`plantsync stop`).
    Stop,
    /// A one-time login code, then the browser at the dashboard (`plantsync dashboard`).
    OpenDashboard,
}

impl Request {
    /// The menu item's words, for the "Last request" line and the log.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Sync(RunKind::Plants) => "Sync plants",
            Self::Sync(RunKind::Alerts) => "Sync alerts",
            Self::Push => "Push",
            Self::Pause => "Pause",
            Self::Resume => "Resume",
            Self::Stop => "Stop agent",
            Self::OpenDashboard => "Open dashboard",
        }
    }
}

/// What the worker tells the GUI.
#[derive(Debug)]
pub enum Event {
    /// A look at the agent.
    Looked(Look),
    /// A request's outcome, in words.
    Answered(String),
}

/// Starts the worker; the GUI sends requests with the returned sender and receives
/// [`Event`]s on `events`. The worker ends when the GUI drops its receiver.
pub fn spawn(
    data_dir: PathBuf,
    events: std::sync::mpsc::Sender<Event>,
    start: Option<super::AgentStart>,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedSender<Request>> {
    let mut starter = start.map(Starter::new);
    let (requests, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Request>();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // No timeout of its own on sync requests (the agent answers when its run is done, the
    // vendor deadline bounds that); looks have theirs.
    let client = crate::vendors::http::plain_client(Duration::from_secs(24 * 3600))?;
    std::thread::Builder::new().name("tray-worker".into()).spawn(move || {
        runtime.block_on(async move {
            let mut ticker = tokio::time::interval(LOOK_EVERY);
            let mut said = Said::Nothing;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let look = look(&client, &data_dir).await;
                        said.log_change(&look, &data_dir);
                        if let Some(starter) = starter.as_mut() {
                            starter.looked(&look);
                        }
                        if events.send(Event::Looked(look)).is_err() {
                            break;
                        }
                    }
                    request = incoming.recv() => {
                        let Some(request) = request else { break };
                        let (client, dir, events) = (client.clone(), data_dir.clone(), events.clone());
                        // Its own task: a sync's answer takes as long as the run, and the
                        // status lines keep refreshing meanwhile.
                        tokio::spawn(async move {
                            tracing::info!("tray: {} requested", request.label());
                            let outcome = send(&client, &dir, request).await;
                            tracing::info!("tray: {outcome}");
                            let _ = events.send(Event::Answered(outcome));
                            let _ = events.send(Event::Looked(look(&client, &dir).await));
                        });
                    }
                }
            }
        });
    })?;
    Ok(requests)
}

/// Starts an agent when none runs (`--start-agent`): only until an agent has been seen
/// (once one ran, a stop is a person's decision: "Stop agent", `plantsync stop`, the
/// service), never while anything holds the data dir (an agent still starting, a CLI
/// sync), at most once a minute. The agent is a process of its own (its own process
/// group), so a signal to the tray's group does not reach it and it keeps running when
/// the tray ends.
struct Starter {
    start: super::AgentStart,
    child: Option<std::process::Child>,
    tried: Option<std::time::Instant>,
    seen_agent: bool,
}

/// The least time between two starts.
const START_EVERY: Duration = Duration::from_secs(60);

impl Starter {
    fn new(start: super::AgentStart) -> Self {
        Self { start, child: None, tried: None, seen_agent: false }
    }

    /// After each look: reaps the agent it started once that ended, and starts one when
    /// none runs and none ever answered.
    fn looked(&mut self, look: &Look) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            if !self.seen_agent {
                tracing::warn!("tray: the agent it started ended ({status}); see its log");
            }
            self.child = None;
        }
        match look {
            Look::Answered { .. } | Look::Unreachable { .. } => self.seen_agent = true,
            Look::NoAgent if !self.seen_agent => self.start_if_due(),
            Look::NoAgent => {}
        }
    }

    fn start_if_due(&mut self) {
        // Anything holding the data dir (an agent still recovering or binding, a CLI sync)
        // is not "no agent".
        if !matches!(
            crate::datadir::lock::holder(&self.start.data_dir),
            crate::datadir::lock::Holder::Free
        ) {
            return;
        }
        if self.child.is_some() {
            return; // still starting
        }
        if self.tried.is_some_and(|at| at.elapsed() < START_EVERY) {
            return;
        }
        self.tried = Some(std::time::Instant::now());
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                tracing::warn!("tray: cannot start an agent: {e}");
                return;
            }
        };
        let mut command = std::process::Command::new(exe);
        if let Some(config) = &self.start.config {
            command.arg("--config").arg(config);
        }
        command
            .arg("--data-dir")
            .arg(&self.start.data_dir)
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        #[cfg(unix)]
        {
            // Its own session: a signal to the tray's process group (Ctrl-C in a terminal,
            // the desktop session ending the tray) does not reach it.
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        match command.spawn() {
            Ok(child) => {
                tracing::info!(
                    "tray: no agent ran on {}: started one (pid {}); its log is in the log folder",
                    self.start.data_dir.display(),
                    child.id()
                );
                self.child = Some(child);
            }
            Err(e) => tracing::warn!("tray: cannot start an agent: {e}"),
        }
    }
}

/// What the log has said about the agent, so each change is logged once (not every look).
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Nothing,
    NoAgent,
    Unreachable(u32),
    Answers(u32),
}

impl Said {
    fn log_change(&mut self, look: &Look, data_dir: &Path) {
        let now = match look {
            Look::NoAgent => Self::NoAgent,
            Look::Unreachable { pid, .. } => Self::Unreachable(*pid),
            Look::Answered { pid, .. } => Self::Answers(*pid),
        };
        if now == *self {
            return;
        }
        match look {
            Look::NoAgent => tracing::warn!(
                "tray: no agent runs on {} (start it with `plantsync run`); asking again every {} s",
                data_dir.display(),
                LOOK_EVERY.as_secs()
            ),
            Look::Unreachable { pid, error } => tracing::warn!(
                "tray: the agent (pid {pid}) does not answer: {error}; asking again every {} s",
                LOOK_EVERY.as_secs()
            ),
            Look::Answered { pid, .. } => tracing::info!("tray: the agent (pid {pid}) answers"),
        }
        *self = now;
    }
}

/// The agent's address and the admin token, or the look that says why there is none.
fn agent(data_dir: &Path) -> Result<(u32, String, crate::domain::Secret), Look> {
    let Some(agent) = crate::datadir::lock::running_agent(data_dir) else {
        return Err(Look::NoAgent);
    };
    // Still starting (recovering, binding): not there yet.
    let Some(api) = agent.api else { return Err(Look::NoAgent) };
    match crate::datadir::token::read(data_dir) {
        Ok(token) => Ok((agent.pid, api, token)),
        Err(e) => Err(Look::Unreachable {
            pid: agent.pid,
            error: format!("cannot read the admin token: {}", crate::datadir::dir::in_words(&e)),
        }),
    }
}

/// One look: `GET /api/status`.
async fn look(client: &reqwest::Client, data_dir: &Path) -> Look {
    let (pid, api, token) = match agent(data_dir) {
        Ok(found) => found,
        Err(look) => return look,
    };
    let answer = async {
        let response = client
            .get(format!("http://{api}/api/status"))
            .bearer_auth(token.expose())
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .error_for_status()?;
        response.json::<StatusResponse>().await
    };
    match answer.await {
        Ok(status) => Look::Answered { pid, status: Box::new(status) },
        Err(e) => Look::Unreachable { pid, error: without_url(e) },
    }
}

/// A reqwest error in words without its URL (the address is said elsewhere).
fn without_url(e: reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "no answer within 5 s".to_owned()
    } else if let Some(status) = e.status() {
        format!("HTTP {status}")
    } else {
        e.without_url().to_string()
    }
}

/// Sends `request` and says how it went.
/// "Open dashboard": what `plantsync dashboard` does, the outcome in words (never the URL:
/// its code is a credential until used).
async fn open_dashboard(
    client: &reqwest::Client,
    api: &str,
    token: &crate::domain::Secret,
) -> String {
    let label = Request::OpenDashboard.label();
    let url = match crate::api::dashboard::client::login_url(client, api, token).await {
        Ok(url) => url,
        Err(e) => return format!("{label}: {e}"),
    };
    let opened =
        tokio::task::spawn_blocking(move || crate::api::dashboard::client::open_browser(&url))
            .await;
    match opened {
        Ok(Ok(())) => format!("{label}: opened in the browser"),
        Ok(Err(e)) => format!(
            "{label}: no browser could be started ({e}); run `plantsync dashboard --print-url`"
        ),
        Err(e) => format!("{label}: {e}"),
    }
}

async fn send(client: &reqwest::Client, data_dir: &Path, request: Request) -> String {
    let label = request.label();
    let Ok((_, api, token)) = agent(data_dir) else {
        return format!("{label}: no agent answers");
    };
    let path = match request {
        Request::OpenDashboard => return open_dashboard(client, &api, &token).await,
        Request::Sync(kind) => format!("/api/cron/sync-{kind}"),
        Request::Push => "/api/push".to_owned(),
        Request::Pause => "/api/pause".to_owned(),
        Request::Resume => "/api/resume".to_owned(),
        Request::Stop => "/api/stop".to_owned(),
    };
    let mut post = client.post(format!("http://{api}{path}")).bearer_auth(token.expose());
    if let Request::Sync(_) = request {
        post = post.query(&[("source", RunSource::Tray.to_string())]);
    }
    let response = match post.send().await {
        Ok(response) => response,
        Err(e) => return format!("{label}: the agent did not answer ({})", without_url(e)),
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if let Request::Sync(_) = request {
        return match serde_json::from_str::<RunResponse>(&text) {
            Ok(body) => match body.report() {
                Some(report) => format!(
                    "{label}: {} (run {}, {} vendors)",
                    report.status, report.run_id, report.summary.total_vendors
                ),
                None => format!(
                    "{label}: {}",
                    body.error.or(body.message).unwrap_or_else(|| format!("HTTP {status}"))
                ),
            },
            Err(_) => format!("{label}: unreadable answer (HTTP {status})"),
        };
    }
    if !status.is_success() {
        let error = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error);
        return format!("{label}: refused: {}", error.unwrap_or_else(|_| format!("HTTP {status}")));
    }
    match request {
        Request::Pause | Request::Resume => match serde_json::from_str::<PauseResponse>(&text) {
            Ok(PauseResponse { paused: true }) => format!("{label}: automatic syncs paused"),
            Ok(PauseResponse { paused: false }) => format!("{label}: automatic syncs resumed"),
            Err(_) => format!("{label}: unreadable answer"),
        },
        Request::Stop => format!("{label}: the agent is stopping"),
        _ => format!("{label}: done"),
    }
}
