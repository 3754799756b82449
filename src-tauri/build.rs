//! Generates an `allow-<command>` permission for each app command; the capability in
//! `capabilities/default.json` grants exactly these to the dashboard window, nothing else.

/// Every command the window may call (`src/commands.rs`).
const COMMANDS: &[&str] = &[
    "get_overview",
    "subscribe",
    "sync_status",
    "sync_now",
    "set_paused",
    "history_metrics",
    "history",
    "get_settings",
    "save_settings",
    "test_connection",
    "about",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build");
}
