//! The client side of a dashboard login, shared by `plantsync dashboard` and the tray's
//! "Open dashboard": ask the running agent for a one-time code with the admin token, make
//! the login URL, open the system's browser at it.

use crate::domain::Secret;
use std::net::SocketAddr;

/// Why no login URL could be made.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The agent did not answer.
    #[error("the agent at {api} did not answer: {reason}")]
    Unreachable {
        /// Its address.
        api: String,
        /// Why, in words (without the URL's query).
        reason: String,
    },
    /// The agent refused (an old agent without the dashboard, a rotated token).
    #[error("the agent refused a login code (HTTP {status}): {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its words.
        error: String,
    },
}

/// The address a browser on this machine reaches the API at: the published address, with
/// an unspecified bind address (`0.0.0.0`, `::`) replaced by 127.0.0.1 (a loopback `Host`
/// the API accepts).
pub fn browser_address(api: &str) -> String {
    match api.parse::<SocketAddr>() {
        Ok(address) if address.ip().is_unspecified() => format!("127.0.0.1:{}", address.port()),
        _ => api.to_owned(),
    }
}

/// Asks the agent at `api` for a login code and returns the login URL
/// (`http://127.0.0.1:PORT/login?code=...`).
pub async fn login_url(
    client: &reqwest::Client,
    api: &str,
    token: &Secret,
) -> Result<String, LoginError> {
    let unreachable = |e: reqwest::Error| LoginError::Unreachable {
        api: api.to_owned(),
        reason: e.without_url().to_string(),
    };
    let response = client
        .post(format!("http://{api}/api/dashboard/login-code"))
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if !status.is_success() {
        let error = serde_json::from_str::<crate::api::wire::ErrorBody>(&text)
            .map_or_else(|_| "no reason given".to_owned(), |b| b.error);
        return Err(LoginError::Refused { status: status.as_u16(), error });
    }
    let code: super::LoginCode = serde_json::from_str(&text).map_err(|e| LoginError::Refused {
        status: status.as_u16(),
        error: format!("an answer that is not a login code: {e}"),
    })?;
    Ok(format!("http://{}/login?code={}", browser_address(api), code.code))
}

/// Opens the system's browser at `url`: `xdg-open` on Linux and the BSDs, `open` on macOS,
/// `cmd /c start` on Windows. An error when the opener cannot start or says it failed.
pub fn open_browser(url: &str) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("open");
        c.arg(url);
        c
    } else if cfg!(windows) {
        // `start`'s first quoted argument is the window title: an empty one, then the URL.
        let mut c = std::process::Command::new("cmd");
        c.args(["/c", "start", "", url]);
        c
    } else {
        let mut c = std::process::Command::new("xdg-open");
        c.arg(url);
        c
    };
    let status = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("the browser opener exited with {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_address_is_reached_on_loopback() {
        assert_eq!(browser_address("0.0.0.0:8787"), "127.0.0.1:8787");
        assert_eq!(browser_address("[::]:8787"), "127.0.0.1:8787");
        assert_eq!(browser_address("127.0.0.1:8787"), "127.0.0.1:8787");
        assert_eq!(browser_address("[::1]:9"), "[::1]:9");
    }
}
