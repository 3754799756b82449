//! The window's commands: each one is a call on [`AppService`], nothing more. Errors reach
//! the window as `{ key, message }` ([`AppError`]).

use std::sync::Arc;

use pcmetrics_app::form::SettingsForm;
use pcmetrics_app::service::{MetricInfo, Overview, SyncStatus};
use pcmetrics_app::{AppError, AppService, UiEvent};
use pcmetrics_core::buffer::history::Series;
use pcmetrics_core::sync::{ConnectionReport, SyncReport};
use tauri::State;
use tauri::ipc::Channel;

type App<'a> = State<'a, Arc<AppService>>;

/// Every command, for `Builder::invoke_handler`. Keep in step with `COMMANDS` in
/// build.rs, which generates the permissions the capability grants.
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static
{
    tauri::generate_handler![
        get_overview,
        subscribe,
        sync_status,
        sync_now,
        set_paused,
        history_metrics,
        history,
        get_settings,
        save_settings,
        test_connection,
        about,
    ]
}

#[tauri::command]
pub async fn get_overview(app: App<'_>) -> Result<Overview, AppError> {
    app.overview().await
}

/// Streams every pipeline and app event to the window until the window goes away.
#[tauri::command]
pub fn subscribe(app: App<'_>, on_event: Channel<UiEvent>) {
    let mut rx = app.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if on_event.send(event).is_err() {
                        return; // the page was closed or reloaded
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!("window event stream lagged by {n}");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

#[tauri::command]
pub async fn sync_status(app: App<'_>) -> Result<SyncStatus, AppError> {
    app.sync_status().await
}

#[tauri::command]
pub async fn sync_now(app: App<'_>) -> Result<SyncReport, AppError> {
    app.sync_now().await
}

#[tauri::command]
pub async fn set_paused(app: App<'_>, paused: bool) -> Result<bool, AppError> {
    Ok(app.set_paused(paused).await)
}

#[tauri::command]
pub fn history_metrics(app: App<'_>) -> Vec<MetricInfo> {
    app.history_metrics()
}

#[tauri::command]
pub async fn history(
    app: App<'_>,
    metrics: Vec<String>,
    from_us: i64,
    to_us: i64,
    points: usize,
) -> Result<Vec<Series>, AppError> {
    app.history(metrics, from_us, to_us, points).await
}

#[tauri::command]
pub fn get_settings(app: App<'_>) -> Result<SettingsForm, AppError> {
    app.get_settings()
}

#[tauri::command]
pub async fn save_settings(app: App<'_>, form: SettingsForm) -> Result<SettingsForm, AppError> {
    app.inner().save_settings(form).await
}

#[tauri::command]
pub async fn test_connection(
    app: App<'_>,
    form: SettingsForm,
) -> Result<ConnectionReport, AppError> {
    app.test_connection(form).await
}

/// The version and the data layouts, for the About line (as `pcmetrics --version`).
#[tauri::command]
pub fn about() -> String {
    pcmetrics_core::version::About::current().summary()
}
