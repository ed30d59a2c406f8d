//! Desktop notifications: the freedesktop `org.freedesktop.Notifications.Notify` call on
//! the session bus, which every Linux desktop's notification server answers (GNOME, KDE,
//! XFCE, dunst, mako).
//!
//! # Design
//!
//! * **Linux only.** The call goes through the zbus the keyring already builds (same major
//!   version, on tokio), so no second D-Bus stack is compiled. On other systems the sink is
//!   absent: [`Sink::for_mode`] returns `None` (and says so once when `notify.desktop = on`).
//! * **`auto` means "a desktop session".** A site box's system service has no session bus:
//!   there the sink is off, logged once at start, and nothing ever tries to connect.
//! * **Never in the way.** Each notification is its own task with a bounded wait
//!   ([`SHOW_TIMEOUT`]), tried once: a missing server or a hung bus costs that task only. The
//!   first failure is a warning, the later ones are debug lines, so a desktop without a
//!   notification server does not fill the log.

use super::notify::{DesktopMode, DesktopText};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{debug, info, warn};

/// How long one notification may take (connect and call) before it is given up.
pub const SHOW_TIMEOUT: Duration = Duration::from_secs(10);

/// The application name notification servers show (and group by).
pub const APP_NAME: &str = "plantsync";

/// Whether the sink runs, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Notifications are shown.
    On,
    /// `notify.desktop = off`.
    OffByConfig,
    /// `auto` without a session bus (a service, an SSH login, a container).
    OffNoBus,
    /// This platform has no sink.
    Unsupported,
}

/// What `mode` means here, given whether a session bus is there.
pub fn resolve(mode: DesktopMode, session_bus: bool) -> Resolved {
    if !cfg!(target_os = "linux") {
        return match mode {
            DesktopMode::Off => Resolved::OffByConfig,
            DesktopMode::Auto | DesktopMode::On => Resolved::Unsupported,
        };
    }
    match (mode, session_bus) {
        (DesktopMode::Off, _) => Resolved::OffByConfig,
        (DesktopMode::On, _) | (DesktopMode::Auto, true) => Resolved::On,
        (DesktopMode::Auto, false) => Resolved::OffNoBus,
    }
}

/// Whether this process has a session bus to try: `DBUS_SESSION_BUS_ADDRESS` is set, or
/// `$XDG_RUNTIME_DIR/bus` exists (where systemd's user session puts it).
fn session_bus_present() -> bool {
    let address = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty());
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists());
    address || runtime
}

/// The desktop sink: shows each notification in the background.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Whether a failure was logged as a warning already.
    warned: Arc<AtomicBool>,
}

impl Sink {
    /// The sink `mode` asks for in this process, or `None` (logged once, here).
    pub fn for_mode(mode: DesktopMode) -> Option<Self> {
        match resolve(mode, session_bus_present()) {
            Resolved::On => {
                debug!("desktop notifications are on (notify.desktop = {})", mode.as_str());
                Some(Self { warned: Arc::new(AtomicBool::new(false)) })
            }
            Resolved::OffByConfig => {
                info!("desktop notifications are off (notify.desktop = off)");
                None
            }
            Resolved::OffNoBus => {
                info!(
                    "desktop notifications are off: no session bus (DBUS_SESSION_BUS_ADDRESS is \
                     not set); set notify.desktop = on to try anyway"
                );
                None
            }
            Resolved::Unsupported => {
                if mode == DesktopMode::On {
                    warn!("desktop notifications are off: not available on this platform");
                } else {
                    info!("desktop notifications are off: not available on this platform");
                }
                None
            }
        }
    }

    /// Shows `text` in the background: tried once, for at most [`SHOW_TIMEOUT`].
    pub fn show(&self, text: DesktopText) {
        let warned = Arc::clone(&self.warned);
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(SHOW_TIMEOUT, notify(&text)).await {
                Ok(Ok(_id)) => return,
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {} s", SHOW_TIMEOUT.as_secs()),
            };
            if warned.swap(true, Ordering::SeqCst) {
                debug!("desktop notification not shown: {outcome}");
            } else {
                warn!(
                    "desktop notification not shown: {outcome}; later failures are logged at \
                     debug level (notify.desktop = off turns them off)"
                );
            }
        });
    }
}

/// One `Notify` call on a fresh session-bus connection: the id the server gave it.
#[cfg(target_os = "linux")]
async fn notify(text: &DesktopText) -> Result<u32, String> {
    use std::collections::HashMap;
    use zbus::zvariant::Value;
    let connection = zbus::Connection::session()
        .await
        .map_err(|e| format!("cannot reach the session bus: {e}"))?;
    // A server that reads the body as markup would take a `<` or `&` of an error's text as
    // a tag or an entity: there the body is escaped.
    const SERVICE: &str = "org.freedesktop.Notifications";
    let capabilities: Vec<String> = connection
        .call_method(
            Some(SERVICE),
            "/org/freedesktop/Notifications",
            Some(SERVICE),
            "GetCapabilities",
            &(),
        )
        .await
        .ok()
        .and_then(|reply| reply.body().deserialize().ok())
        .unwrap_or_default();
    let body = if capabilities.iter().any(|c| c == "body-markup") {
        escape_markup(&text.body)
    } else {
        text.body.clone()
    };
    let hints: HashMap<&str, Value<'_>> = HashMap::new();
    let actions: Vec<&str> = Vec::new();
    let reply = connection
        .call_method(
            Some(SERVICE),
            "/org/freedesktop/Notifications",
            Some(SERVICE),
            "Notify",
            &(APP_NAME, 0u32, "", text.summary.as_str(), body.as_str(), actions, hints, -1i32),
        )
        .await
        .map_err(|e| format!("the notification server did not take it: {e}"))?;
    reply.body().deserialize::<u32>().map_err(|e| format!("unexpected answer: {e}"))
}

/// `text` as literal text in the notification spec's body markup.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// No sink off Linux ([`resolve`] never turns it on there).
#[cfg(not(target_os = "linux"))]
async fn notify(_text: &DesktopText) -> Result<u32, String> {
    Err("desktop notifications are not available on this platform".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_for_servers_that_read_it() {
        assert_eq!(escape_markup("HTTP 502 <html> & more"), "HTTP 502 &lt;html&gt; &amp; more");
    }

    #[test]
    fn auto_follows_the_session_bus_and_off_wins() {
        if cfg!(target_os = "linux") {
            assert_eq!(resolve(DesktopMode::Auto, true), Resolved::On);
            assert_eq!(resolve(DesktopMode::Auto, false), Resolved::OffNoBus);
            assert_eq!(resolve(DesktopMode::On, false), Resolved::On);
        } else {
            assert_eq!(resolve(DesktopMode::On, true), Resolved::Unsupported);
        }
        assert_eq!(resolve(DesktopMode::Off, true), Resolved::OffByConfig);
        for mode in [DesktopMode::Auto, DesktopMode::On, DesktopMode::Off] {
            assert_eq!(mode.as_str().parse::<DesktopMode>(), Ok(mode));
        }
        assert_eq!("sometimes".parse::<DesktopMode>(), Err("expected auto, on or off".to_owned()));
    }
}
