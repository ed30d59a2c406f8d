//! GTK on the main thread: the icon, the menu, and a short timer that moves the worker's
//! looks and the menu's clicks between the two threads (menu items and the icon are not
//! `Send`, so only this thread touches them).
//!
//! Without a display `gtk::init` fails: the tray logs that once and tries again every few
//! seconds, so a tray autostarted before the session's display is ready still appears.
//! With a display but no tray host, libappindicator waits for one (a StatusNotifier
//! watcher, else an XEmbed tray) and shows the icon when it appears.

use super::client::{self, Event, Request};
use super::view::{IconState, LINES, Look, View, view};
use crate::config::Settings;
use crate::domain::RunKind;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

/// How long the tray waits between tries to reach a display.
const DISPLAY_RETRY: Duration = Duration::from_secs(3);

/// The images of each state, 32 px (panels scale them; the SVG sources and the 22 and
/// 64 px renderings are beside them in `assets/icons/`).
fn png(state: IconState) -> &'static [u8] {
    match state {
        IconState::Idle => include_bytes!("../../assets/icons/plantsync-idle-32.png"),
        IconState::Attention => include_bytes!("../../assets/icons/plantsync-attention-32.png"),
        IconState::Paused => include_bytes!("../../assets/icons/plantsync-paused-32.png"),
    }
}

/// The icon of `state`, decoded with gdk-pixbuf (already loaded with GTK).
fn icon(state: IconState) -> anyhow::Result<Icon> {
    let pixbuf = gtk::gdk_pixbuf::Pixbuf::from_read(std::io::Cursor::new(png(state)))?
        .add_alpha(false, 0, 0, 0)?;
    let (width, height) = (pixbuf.width().max(0) as usize, pixbuf.height().max(0) as usize);
    let stride = pixbuf.rowstride().max(0) as usize;
    let bytes = pixbuf.read_pixel_bytes();
    let mut rgba = Vec::with_capacity(width * height * 4);
    for row in 0..height {
        let start = row * stride;
        rgba.extend_from_slice(bytes.get(start..start + width * 4).unwrap_or_default());
    }
    Ok(Icon::from_rgba(rgba, width as u32, height as u32)?)
}

/// The menu's items, kept to change their text.
struct Items {
    lines: Vec<MenuItem>,
    sync_plants: MenuItem,
    sync_alerts: MenuItem,
    push: MenuItem,
    pause: MenuItem,
}

/// The ids of the menu's action items.
mod id {
    pub const SYNC_PLANTS: &str = "sync-plants";
    pub const SYNC_ALERTS: &str = "sync-alerts";
    pub const PUSH: &str = "push";
    pub const PAUSE: &str = "pause";
    pub const OPEN_DASHBOARD: &str = "open-dashboard";
    pub const OPEN_DATA: &str = "open-data";
    pub const OPEN_LOGS: &str = "open-logs";
    pub const QUIT: &str = "quit";
    pub const STOP: &str = "stop-agent";
}

fn build_menu() -> anyhow::Result<(Menu, Items)> {
    let lines: Vec<MenuItem> =
        (0..LINES).map(|i| MenuItem::with_id(format!("line-{i}"), "…", false, None)).collect();
    let items = Items {
        lines,
        sync_plants: MenuItem::with_id(id::SYNC_PLANTS, "Sync plants now", false, None),
        sync_alerts: MenuItem::with_id(id::SYNC_ALERTS, "Sync alerts now", false, None),
        push: MenuItem::with_id(id::PUSH, "Push now (no upstream configured)", false, None),
        pause: MenuItem::with_id(id::PAUSE, "Pause automatic syncs", false, None),
    };
    let menu = Menu::new();
    for line in &items.lines {
        menu.append(line)?;
    }
    menu.append_items(&[
        &PredefinedMenuItem::separator(),
        &items.sync_plants,
        &items.sync_alerts,
        &items.push,
        &items.pause,
        &PredefinedMenuItem::separator(),
        &MenuItem::with_id(id::OPEN_DASHBOARD, Request::OpenDashboard.label(), true, None),
        &MenuItem::with_id(id::OPEN_DATA, "Open data folder", true, None),
        &MenuItem::with_id(id::OPEN_LOGS, "Open log folder", true, None),
        &PredefinedMenuItem::separator(),
        &MenuItem::with_id(id::QUIT, "Quit tray (the agent keeps running)", true, None),
        &MenuItem::with_id(id::STOP, "Stop agent", true, None),
    ])?;
    Ok((menu, items))
}

/// Shows `view` (the icon only when its state changed).
fn show(tray: &TrayIcon, items: &Items, shown: &mut Option<IconState>, view: &View) {
    for (item, text) in items.lines.iter().zip(&view.lines) {
        item.set_text(text);
    }
    items.sync_plants.set_enabled(view.answered);
    items.sync_alerts.set_enabled(view.answered);
    items.push.set_enabled(view.can_push);
    items.push.set_text(if view.can_push {
        "Push now"
    } else {
        "Push now (no upstream configured)"
    });
    items.pause.set_enabled(view.paused.is_some());
    items.pause.set_text(if view.paused == Some(true) {
        "Resume automatic syncs"
    } else {
        "Pause automatic syncs"
    });
    if *shown != Some(view.icon) {
        match icon(view.icon) {
            Ok(image) => {
                if let Err(e) = tray.set_icon(Some(image)) {
                    tracing::warn!("tray: cannot change the icon: {e}");
                }
                *shown = Some(view.icon);
            }
            Err(e) => tracing::warn!("tray: cannot decode the {} icon: {e}", view.icon.name()),
        }
    }
    if let Err(e) = tray.set_tooltip(Some(&view.tooltip)) {
        tracing::debug!("tray: cannot set the tooltip: {e}");
    }
}

/// Opens `dir` in the desktop's file manager, without waiting for it.
fn open_folder(dir: &Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener).arg(dir).spawn() {
        // Reaped on a thread of its own, so no zombie is left.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!(
            "tray: cannot open {} with {opener}: {}",
            dir.display(),
            crate::datadir::dir::in_words(&e)
        ),
    }
}

/// Waits until GTK reaches a display, saying once that there is none.
fn init_gtk() {
    let mut said = false;
    while let Err(e) = gtk::init() {
        if !said {
            tracing::warn!(
                "tray: no display ({e}; DISPLAY={}); trying again every {} s, the agent is not affected",
                std::env::var("DISPLAY").unwrap_or_else(|_| "unset".to_owned()),
                DISPLAY_RETRY.as_secs()
            );
            said = true;
        }
        // The GTK thread before anything else runs (no async runtime here to block).
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(DISPLAY_RETRY);
    }
    if said {
        tracing::info!("tray: the display answers now");
    }
}

/// Runs the tray until "Quit tray".
pub fn run(settings: &Settings, start: Option<super::AgentStart>) -> anyhow::Result<()> {
    let data_dir: PathBuf = settings.data_dir.value.clone();
    let log_dir = settings.log_dir();
    let zone = settings.timezone.value;
    init_gtk();

    let (events_tx, events) = std::sync::mpsc::channel::<Event>();
    let requests = client::spawn(data_dir.clone(), events_tx, start)?;
    let (menu, items) = build_menu()?;
    // The GTK backend writes the icon images to a directory: our own, removed at the end.
    let images = tempfile::Builder::new().prefix("plantsync-tray-").tempdir()?;
    let first = view(&Look::NoAgent, None, zone, chrono::Utc::now());
    let builder = TrayIconBuilder::new()
        .with_id("plantsync")
        .with_title("plantsync")
        .with_tooltip(&first.tooltip)
        .with_icon(icon(first.icon)?)
        .with_temp_dir_path(images.path())
        .with_menu(Box::new(menu));
    // libappindicator-sys panics (rather than failing) when libayatana-appindicator3 is
    // missing: said in words instead.
    let tray = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.build())) {
        Ok(Ok(tray)) => tray,
        Ok(Err(e)) => anyhow::bail!("cannot create the tray icon: {e}"),
        Err(_) => anyhow::bail!(
            "cannot create the tray icon: the AppIndicator library is missing (install libayatana-appindicator3-1)"
        ),
    };
    tracing::info!("tray: started for the data dir {}", data_dir.display());
    let mut shown = Some(first.icon);
    show(&tray, &items, &mut shown, &first);

    let mut look = Look::NoAgent;
    let mut last_request: Option<String> = None;
    gtk::glib::timeout_add_local(Duration::from_millis(100), move || {
        let mut changed = false;
        while let Ok(event) = events.try_recv() {
            match event {
                Event::Looked(new) => look = new,
                Event::Answered(outcome) => last_request = Some(outcome),
            }
            changed = true;
        }
        let current = || view(&look, last_request.as_deref(), zone, chrono::Utc::now());
        while let Ok(event) = MenuEvent::receiver().try_recv() {
            let ask = |request: Request| {
                if requests.send(request).is_err() {
                    tracing::error!("tray: the worker thread is gone");
                }
            };
            match event.id.0.as_str() {
                id::SYNC_PLANTS => ask(Request::Sync(RunKind::Plants)),
                id::SYNC_ALERTS => ask(Request::Sync(RunKind::Alerts)),
                id::PUSH => ask(Request::Push),
                id::PAUSE => match current().paused {
                    Some(true) => ask(Request::Resume),
                    Some(false) => ask(Request::Pause),
                    None => {}
                },
                id::STOP => ask(Request::Stop),
                id::OPEN_DASHBOARD => ask(Request::OpenDashboard),
                id::OPEN_DATA => open_folder(&data_dir),
                id::OPEN_LOGS => open_folder(&log_dir),
                id::QUIT => {
                    tracing::info!("tray: quit from the menu; the agent keeps running");
                    gtk::main_quit();
                    return gtk::glib::ControlFlow::Break;
                }
                _ => {}
            }
        }
        if changed {
            show(&tray, &items, &mut shown, &current());
        }
        gtk::glib::ControlFlow::Continue
    });
    // SIGTERM (a session ending) and Ctrl-C end the tray like Quit, so its icon images
    // are removed rather than left in the temp dir.
    #[cfg(unix)]
    for signal in [15, 2]
    /* SIGTERM, SIGINT */
    {
        gtk::glib::unix_signal_add_local(signal, || {
            gtk::main_quit();
            gtk::glib::ControlFlow::Break
        });
    }
    gtk::main();
    drop(images);
    Ok(())
}
