//! The tray icon and its menu. The first (disabled) item is the live status line — CPU,
//! memory, pending samples — because Linux trays show no tooltips; the tooltip carries
//! the same text where the platform has one. The icon turns red while syncing keeps
//! failing or sampling has stopped.

use std::sync::Arc;

use pcmetrics_app::AppService;
use pcmetrics_app::service::{AppEvent, UiEvent};
use pcmetrics_core::pipeline::Event;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Wry};

const ICON: &[u8] = include_bytes!("../../icons/tray.png");
const ICON_ALERT: &[u8] = include_bytes!("../../icons/tray-alert.png");

pub const STATUS: &str = "status";
pub const LAST_SYNC: &str = "last-sync";
pub const OPEN: &str = "open";
pub const SYNC: &str = "sync";
pub const PAUSE: &str = "pause";
pub const AUTOSTART: &str = "autostart";
pub const QUIT: &str = "quit";

struct Items {
    status: MenuItem<Wry>,
    last_sync: MenuItem<Wry>,
    pause: MenuItem<Wry>,
}

pub fn create(app: &AppHandle, service: Arc<AppService>) -> tauri::Result<()> {
    let icons = (Image::from_bytes(ICON)?, Image::from_bytes(ICON_ALERT)?);
    let live = service.live();
    let items = Items {
        status: MenuItem::with_id(app, STATUS, live.status_line(), false, None::<&str>)?,
        last_sync: MenuItem::with_id(app, LAST_SYNC, "Last sync: none yet", false, None::<&str>)?,
        pause: MenuItem::with_id(app, PAUSE, pause_label(live.paused), true, None::<&str>)?,
    };
    let autostart = CheckMenuItem::with_id(
        app,
        AUTOSTART,
        "Launch at login",
        true,
        service.autostart_enabled(),
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &items.status,
            &items.last_sync,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, OPEN, "Open dashboard", true, None::<&str>)?,
            &MenuItem::with_id(app, SYNC, "Sync now", true, None::<&str>)?,
            &items.pause,
            &autostart,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
        ],
    )?;
    let tray = TrayIconBuilder::with_id("pcmetrics")
        .icon(icons.0.clone())
        .tooltip(format!("pcmetrics · {}", live.status_line()))
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event({
            let service = service.clone();
            let autostart = autostart.clone();
            move |app, event| on_menu(app, &service, &autostart, event.id().as_ref())
        })
        .build(app)?;
    spawn_updater(tray, items, icons, service);
    Ok(())
}

fn pause_label(paused: bool) -> &'static str {
    if paused {
        "Resume sampling"
    } else {
        "Pause sampling"
    }
}

fn on_menu(app: &AppHandle, service: &Arc<AppService>, autostart: &CheckMenuItem<Wry>, id: &str) {
    match id {
        OPEN => crate::show_dashboard(app),
        SYNC => {
            let service = service.clone();
            tauri::async_runtime::spawn(async move {
                // The result reaches the menu, the window and the log through the
                // pipeline's sync events; a failure is also worth a notification.
                if let Err(e) = service.sync_now().await {
                    tracing::warn!("sync now failed: {e}");
                    crate::notify::show("pcmetrics: sync failed", &e.message);
                }
            });
        }
        PAUSE => {
            let service = service.clone();
            tauri::async_runtime::spawn(async move {
                let paused = !service.live().paused;
                service.set_paused(paused).await;
            });
        }
        AUTOSTART => {
            let on = autostart.is_checked().unwrap_or(false);
            if let Err(e) = service.set_autostart(on) {
                tracing::warn!("{e}");
                let _ = autostart.set_checked(!on);
                crate::notify::show("pcmetrics: launch at login", &e.message);
            }
        }
        QUIT => {
            let (app, service) = (app.clone(), service.clone());
            tauri::async_runtime::spawn(async move {
                service.stop(pcmetrics_app::service::STOP_WAIT).await;
                app.exit(0);
            });
        }
        _ => {}
    }
}

/// Keeps the status line, tooltip, pause label and icon in step with the app.
fn spawn_updater(
    tray: TrayIcon,
    items: Items,
    (normal, alert): (Image<'static>, Image<'static>),
    service: Arc<AppService>,
) {
    let mut rx = service.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut alerting = false;
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let live = service.live();
            let line = live.status_line();
            let _ = items.status.set_text(&line);
            let _ = tray.set_tooltip(Some(format!("pcmetrics · {line}")));
            match &event {
                UiEvent::App(AppEvent::Paused { paused }) => {
                    let _ = items.pause.set_text(pause_label(*paused));
                }
                UiEvent::Pipeline(Event::SyncFinished { report }) => {
                    let _ = items.last_sync.set_text(format!(
                        "Last sync: {} rows in {:.1} s",
                        report.rows,
                        report.duration_ms as f64 / 1000.0
                    ));
                }
                UiEvent::Pipeline(Event::SyncFailed { message, .. }) => {
                    let short: String = message.chars().take(80).collect();
                    let _ = items
                        .last_sync
                        .set_text(format!("Last sync failed: {short}"));
                }
                _ => {}
            }
            if live.alert() != alerting {
                alerting = live.alert();
                let _ = tray.set_icon(Some(if alerting {
                    alert.clone()
                } else {
                    normal.clone()
                }));
            }
        }
    });
}
