//! pcmetrics tray app: the Tauri shell. Parses three flags, starts [`AppService`] (which
//! samples from launch), puts the icon in the tray, and shows the dashboard window unless
//! started `--minimized` (as at login). Closing the window destroys it (the web view's
//! memory goes with it) and the app stays in the tray; "Quit" in the tray menu ends it.
//! A second launch focuses the running app instead of starting another sampler.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod notify;
#[cfg(test)]
mod tests;
mod tray;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use pcmetrics_app::autostart::Autostart;
use pcmetrics_app::form::ConfigFile;
use pcmetrics_app::{AppOptions, AppService};
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};

#[derive(Debug, Parser)]
#[command(
    name = "pcmetrics-tray",
    version,
    about = "pcmetrics in the tray: live charts, history and sync of this PC's metrics"
)]
struct Args {
    /// Config file to read and to save settings to [default: ~/.config/pcmetrics/config.toml]
    #[arg(long, env = "PCMETRICS_CONFIG")]
    config: Option<PathBuf>,
    /// Data dir (buffer, host id, embedded lakehouse); wins over the config file
    #[arg(long, env = "PCMETRICS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Start in the tray without opening the dashboard
    #[arg(long)]
    minimized: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PCMETRICS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(|| pcmetrics_core::redact::Writer::new(std::io::stderr()))
        .init();
    let args = Args::parse();
    // Never the shared temp dir: the config may hold keys.
    let Some(config_dir) = dirs::config_dir() else {
        eprintln!(
            "error: this user has no home directory to keep the config in; set HOME (or XDG_CONFIG_HOME)"
        );
        return ExitCode::FAILURE;
    };
    let opts = AppOptions {
        config: ConfigFile {
            path: args
                .config
                .clone()
                .unwrap_or_else(|| config_dir.join("pcmetrics").join("config.toml")),
        },
        data_dir: args.data_dir.clone(),
        env: std::env::vars().collect(),
        autostart: Autostart::new(
            &config_dir,
            &std::env::current_exe().unwrap_or_else(|_| "pcmetrics-tray".into()),
        ),
        keyring: Arc::new(pcmetrics_core::config::OsKeyring::default()),
    };
    let notifier = Arc::new(notify::DesktopNotifier);
    let service = match tauri::async_runtime::block_on(AppService::start(opts, notifier)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            notify::show("pcmetrics cannot start", &e.message);
            // Let the notification go out before the process ends.
            std::thread::sleep(std::time::Duration::from_millis(500));
            return ExitCode::FAILURE;
        }
    };

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_dashboard(app)
        }))
        .manage(service.clone())
        .invoke_handler(commands::handler())
        .setup(move |app| {
            tray::create(app.handle(), service.clone())?;
            if !args.minimized {
                show_dashboard(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: cannot start the tray app: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|_app, event| {
        // The last window closing does not end the app: it lives in the tray.
        if let RunEvent::ExitRequested { api, code, .. } = event
            && code.is_none()
        {
            api.prevent_exit();
        }
    });
    ExitCode::SUCCESS
}

/// Shows and focuses the dashboard, opening it if it is closed.
pub fn show_dashboard(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
        .title("pcmetrics")
        .inner_size(1100.0, 760.0)
        .min_inner_size(800.0, 600.0)
        .build();
    if let Err(e) = built {
        tracing::error!("cannot open the dashboard: {e}");
    }
}
