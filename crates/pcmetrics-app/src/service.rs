//! [`AppService`]: the tray app's one long-lived object, with no Tauri in it.
//!
//! It runs the core pipeline ([`pcmetrics_core::pipeline::run_controlled`]) as a
//! supervised task, restarting it when settings are saved; pumps the pipeline's events
//! into the live state (tray tooltip), the notification policy and the window's event
//! stream; and answers every command the window sends (overview, history, sync panel,
//! settings). Queries use their own read connection to the buffer, so a 30-day history
//! query never waits for a sample being written, and the other way round.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pcmetrics_core::buffer::history::{self, Series};
use pcmetrics_core::buffer::{SqliteBuffer, SyncRun};
use pcmetrics_core::config::{ConfigError, MaintenanceRole, SecretStore, Settings};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline::{self, ControlInbox, Controller, Event};
use pcmetrics_core::sample::{MetricSample, now_us};
use pcmetrics_core::sync::{
    ConnectionReport, LastMaintenance, SyncProgress, SyncReport, check_connection,
};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use crate::autostart::Autostart;
use crate::form::{ConfigFile, Prepared, SaveError, SettingsForm, error_key};
use crate::notices::{Notice, NoticePolicy};

/// How much recent history the live charts get when the window opens.
pub const LIVE_BACKFILL: Duration = Duration::from_secs(600);
/// Most points a history series may ask for.
pub const MAX_POINTS: usize = 2000;
/// How long quitting or a settings restart waits for the pipeline's last sync.
pub const STOP_WAIT: Duration = Duration::from_secs(10);

/// What a command failing tells the window: the config key it is about, if any, and
/// what to do. Never holds a secret (core errors do not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub key: Option<String>,
    pub message: String,
}

impl AppError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        Self {
            key: error_key(&e),
            message: e.to_string(),
        }
    }
}

impl From<pcmetrics_core::Error> for AppError {
    fn from(e: pcmetrics_core::Error) -> Self {
        match e {
            pcmetrics_core::Error::Config(c) => c.into(),
            e => Self::new(e.to_string()),
        }
    }
}

impl From<SaveError> for AppError {
    fn from(e: SaveError) -> Self {
        match e {
            SaveError::Keyring { key, message } => Self {
                key: Some(key),
                message,
            },
            e @ SaveError::Write { .. } => Self::new(e.to_string()),
        }
    }
}

impl From<pcmetrics_core::buffer::BufferError> for AppError {
    fn from(e: pcmetrics_core::buffer::BufferError) -> Self {
        Self::new(e.to_string())
    }
}

/// Events of the app itself, beside the pipeline's.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppEvent {
    Paused {
        paused: bool,
    },
    SettingsApplied,
    /// The pipeline stopped on its own (e.g. another process samples this data dir).
    AppError {
        message: String,
    },
}

/// What the window's event stream carries: `{"kind": ...}` objects either way.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum UiEvent {
    Pipeline(Event),
    App(AppEvent),
}

/// Where desktop notifications go (notify-rust in the shell, a list in tests).
pub trait Notifier: Send + Sync + 'static {
    fn notify(&self, notice: &Notice);
}

/// The state behind the tray's status line and icon.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub last: Option<Arc<MetricSample>>,
    pub pending: u64,
    pub syncing: bool,
    /// How far the sync in progress is, once its first batch is in.
    pub sync_progress: Option<SyncProgress>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub next_sync_us: Option<i64>,
    pub paused: bool,
    /// Why the pipeline is not running, when it is not.
    pub stopped: Option<String>,
}

impl LiveState {
    /// One line: CPU, memory, pending samples and anything unusual.
    pub fn status_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.last {
            parts.push(format!("CPU {:.0} %", s.cpu_total_pct));
            if s.mem_total_bytes > 0 {
                parts.push(format!(
                    "memory {:.0} %",
                    s.mem_used_bytes as f64 * 100.0 / s.mem_total_bytes as f64
                ));
            }
        }
        parts.push(format!("{} pending", self.pending));
        if self.stopped.is_some() {
            parts.push("not sampling".into());
        } else if self.paused {
            parts.push("paused".into());
        }
        if self.syncing {
            match self.sync_progress {
                // A one-batch sync is over before anyone reads a percentage.
                Some(p) if p.rows_total > p.rows_done => parts.push(format!(
                    "syncing {:.0} %",
                    p.rows_done as f64 * 100.0 / p.rows_total as f64
                )),
                _ => parts.push("syncing".into()),
            }
        } else if self.consecutive_failures > 0 {
            parts.push(format!("sync failing ({}×)", self.consecutive_failures));
        }
        parts.join(" · ")
    }

    /// Whether the tray icon should show trouble.
    pub fn alert(&self) -> bool {
        self.stopped.is_some()
            || self.consecutive_failures >= crate::notices::FAILURES_BEFORE_NOTICE
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub host_name: String,
    pub host_id: String,
    pub lakehouse: String,
    pub table: String,
    pub paused: bool,
    pub sampling_interval_ms: u64,
    pub sync_interval_ms: u64,
    pub recent: Vec<MetricSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub pending: u64,
    pub max_pending: u64,
    pub oldest_pending_us: Option<i64>,
    pub newest_sample_us: Option<i64>,
    pub dropped_total: u64,
    /// Samples set aside because they can never be delivered (kept in the buffer file).
    pub quarantined: u64,
    pub last_success: Option<SyncRun>,
    pub recent_runs: Vec<SyncRun>,
    pub syncing: bool,
    pub consecutive_failures: u32,
    pub next_sync_us: Option<i64>,
    pub last_error: Option<String>,
    /// Table maintenance: this PC's role ("full", "own", "off"), why `auto` chose it when
    /// the user should know, and the last run with the table measured after it (from
    /// `<data dir>/maintenance.json`, so polling never touches the lakehouse).
    pub maintenance_role: MaintenanceRole,
    pub maintenance_warning: Option<String>,
    pub last_maintenance: Option<LastMaintenance>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricInfo {
    pub name: &'static str,
    pub unit: &'static str,
    pub help: &'static str,
}

/// How the app was started.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub config: ConfigFile,
    /// `--data-dir`: wins over the config file.
    pub data_dir: Option<PathBuf>,
    /// The environment (`PCMETRICS_*`, `AWS_*`) overlaid on the config file.
    pub env: Vec<(String, String)>,
    pub autostart: Autostart,
    /// Where keyring references are read and Settings puts typed secrets:
    /// [`pcmetrics_core::config::OsKeyring`], or a memory one in tests.
    pub keyring: Arc<dyn SecretStore>,
}

struct Running {
    controller: Controller,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

pub struct AppService {
    opts: AppOptions,
    runtime: tokio::runtime::Handle,
    host: HostIdentity,
    settings: Mutex<Settings>,
    pipeline_events: broadcast::Sender<Event>,
    ui_events: broadcast::Sender<UiEvent>,
    live: Mutex<LiveState>,
    policy: Mutex<NoticePolicy>,
    notifier: Arc<dyn Notifier>,
    reader: Arc<Mutex<SqliteBuffer>>,
    running: tokio::sync::Mutex<Option<Running>>,
    /// Tells a pipeline's end from a stop we asked for.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService").finish_non_exhaustive()
    }
}

impl AppService {
    /// Loads and validates the config, opens the buffer and starts the pipeline on
    /// `runtime`. Fails with the config's own message when the config is invalid.
    pub async fn start(
        opts: AppOptions,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Arc<Self>, AppError> {
        let config = opts.config.load(opts.env.clone())?;
        let settings = config.validate_with(opts.data_dir.as_deref(), &*opts.keyring)?;
        let host = HostIdentity::load_or_create(&settings.data_dir)?;
        let reader = pipeline::open_buffer(&settings)?;
        let (pipeline_events, _) = broadcast::channel(1024);
        let (ui_events, _) = broadcast::channel(1024);
        let app = Arc::new(Self {
            runtime: tokio::runtime::Handle::current(),
            host,
            policy: Mutex::new(NoticePolicy::new(
                settings.notify.clone(),
                settings.buffer.max_pending,
            )),
            settings: Mutex::new(settings.clone()),
            pipeline_events,
            ui_events,
            live: Mutex::new(LiveState::default()),
            notifier,
            reader: Arc::new(Mutex::new(reader)),
            running: tokio::sync::Mutex::new(None),
            generation: Default::default(),
            opts,
        });
        app.live.lock().unwrap().pending = app.reader.lock().unwrap().pending()?;
        // Paused before the last exit: stay paused (the user asked to stop recording).
        app.live.lock().unwrap().paused = paused_marker(&app.settings().data_dir).exists();
        app.spawn_pump();
        let mut running = app.running.lock().await;
        *running = Some(app.launch(settings));
        drop(running);
        Ok(app)
    }

    /// The window's and the tray's event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<UiEvent> {
        self.ui_events.subscribe()
    }

    pub fn live(&self) -> LiveState {
        self.live.lock().unwrap().clone()
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    fn launch(self: &Arc<Self>, settings: Settings) -> Running {
        let (controller, inbox) = Controller::new();
        controller.set_paused(self.live.lock().unwrap().paused);
        let (stop, stopped) = oneshot::channel::<()>();
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let events = self.pipeline_events.clone();
        let app = Arc::downgrade(self);
        self.live.lock().unwrap().stopped = None;
        let task = self.runtime.spawn(async move {
            let result = run_pipeline(settings, events, inbox, stopped).await;
            if let Some(app) = app.upgrade() {
                app.pipeline_ended(generation, result);
            }
        });
        Running {
            controller,
            stop,
            task,
        }
    }

    fn pipeline_ended(&self, generation: u64, result: pcmetrics_core::Result<pipeline::RunReport>) {
        if generation != self.generation.load(std::sync::atomic::Ordering::SeqCst) {
            return; // a stop we asked for (quit or a settings restart)
        }
        let message = match result {
            Err(e) => e.to_string(),
            Ok(_) => "the pipeline stopped".to_owned(),
        };
        tracing::error!("pipeline stopped: {message}");
        self.live.lock().unwrap().stopped = Some(message.clone());
        let _ = self
            .ui_events
            .send(UiEvent::App(AppEvent::AppError { message }));
    }

    /// Stops the pipeline: it ends its current sample, tries one last sync, and is
    /// abandoned after `wait` (safe: anything undelivered stays pending).
    pub async fn stop(&self, wait: Duration) {
        let running = self.running.lock().await.take();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(r) = running {
            let _ = r.stop.send(());
            let abort = r.task.abort_handle();
            if tokio::time::timeout(wait, r.task).await.is_err() {
                tracing::warn!("pipeline did not stop within {wait:?}; abandoning it");
                abort.abort();
            }
        }
    }

    async fn restart(self: &Arc<Self>, settings: Settings) {
        self.stop(STOP_WAIT).await;
        let mut running = self.running.lock().await;
        *running = Some(self.launch(settings));
        drop(running);
        let _ = self.ui_events.send(UiEvent::App(AppEvent::SettingsApplied));
    }

    fn spawn_pump(self: &Arc<Self>) {
        let mut rx = self.pipeline_events.subscribe();
        let app: Weak<Self> = Arc::downgrade(self);
        self.runtime.spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(app) = app.upgrade() else { return };
                let pending = app.with_reader(|b| Ok(b.pending()?)).await.ok();
                app.on_event(&event, pending);
                let _ = app.ui_events.send(UiEvent::Pipeline(event));
            }
        });
    }

    /// Folds one pipeline event into the live state and the notification policy.
    fn on_event(&self, event: &Event, pending: Option<u64>) {
        {
            let mut live = self.live.lock().unwrap();
            if let Some(p) = pending {
                live.pending = p;
            }
            match event {
                Event::Sample { sample, .. } => live.last = Some(sample.clone()),
                Event::SyncStarted => {
                    live.syncing = true;
                    live.sync_progress = None;
                }
                Event::SyncProgress(p) => live.sync_progress = Some(*p),
                Event::SyncFinished { .. } => {
                    live.syncing = false;
                    live.sync_progress = None;
                    live.consecutive_failures = 0;
                    live.last_error = None;
                    live.next_sync_us = Some(
                        now_us() + self.settings.lock().unwrap().sync.interval.as_micros() as i64,
                    );
                }
                Event::SyncFailed {
                    message,
                    consecutive_failures,
                    retry_in_s,
                } => {
                    live.syncing = false;
                    live.sync_progress = None;
                    live.consecutive_failures = *consecutive_failures;
                    live.last_error = Some(message.clone());
                    live.next_sync_us = Some(now_us() + *retry_in_s as i64 * 1_000_000);
                }
                Event::BufferError { message } => live.last_error = Some(message.clone()),
                Event::SamplesDropped { .. } => {}
            }
        }
        let notices = self.policy.lock().unwrap().on_event(event, pending);
        for n in &notices {
            self.notifier.notify(n);
        }
    }

    // ---- commands -------------------------------------------------------------------

    async fn with_reader<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteBuffer) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || f(&mut reader.lock().unwrap()))
            .await
            .map_err(|e| AppError::new(format!("internal error: {e}")))?
    }

    pub async fn overview(&self) -> Result<Overview, AppError> {
        let settings = self.settings();
        let since = now_us() - LIVE_BACKFILL.as_micros() as i64;
        let limit = (LIVE_BACKFILL.as_millis() / settings.sampling.interval.as_millis().max(1))
            as usize
            + 10;
        let recent = self
            .with_reader(move |b| Ok(b.recent(since, limit)?))
            .await?;
        Ok(Overview {
            host_name: self.host.hostname.clone(),
            host_id: self.host.host_id.clone(),
            lakehouse: settings.describe_lakehouse(),
            table: settings.table_ident(),
            paused: self.live.lock().unwrap().paused,
            sampling_interval_ms: settings.sampling.interval.as_millis() as u64,
            sync_interval_ms: settings.sync.interval.as_millis() as u64,
            recent,
        })
    }

    pub async fn sync_status(&self) -> Result<SyncStatus, AppError> {
        let max_pending = self.settings().buffer.max_pending;
        let (status, last_success, recent_runs) = self
            .with_reader(|b| {
                Ok((
                    b.status()?,
                    b.last_successful_sync()?,
                    b.recent_sync_runs(20)?,
                ))
            })
            .await?;
        let live = self.live();
        let settings = self.settings();
        Ok(SyncStatus {
            pending: status.pending,
            max_pending,
            oldest_pending_us: status.oldest_pending_us,
            newest_sample_us: status.newest_sample_us,
            dropped_total: status.dropped_total,
            quarantined: status.quarantined,
            last_success,
            recent_runs,
            syncing: live.syncing,
            consecutive_failures: live.consecutive_failures,
            next_sync_us: live.next_sync_us,
            last_error: live.last_error.or(live.stopped),
            maintenance_role: settings.maintenance.role,
            maintenance_warning: settings.maintenance.warning.clone(),
            last_maintenance: LastMaintenance::read(&settings.data_dir),
        })
    }

    /// Runs a sync now through the pipeline (so it never races the scheduled one).
    pub async fn sync_now(&self) -> Result<SyncReport, AppError> {
        let controller = self
            .running
            .lock()
            .await
            .as_ref()
            .map(|r| r.controller.clone())
            .ok_or_else(|| AppError::from(pcmetrics_core::Error::Stopped))?;
        Ok(controller.sync_now().await?)
    }

    /// Pauses or resumes sampling. Remembered in the data dir, so a restart (login,
    /// reboot) keeps it.
    pub async fn set_paused(&self, paused: bool) -> bool {
        let marker = paused_marker(&self.settings().data_dir);
        let remembered = if paused {
            std::fs::write(
                &marker,
                b"paused from the tray app; resume there or delete this file\n",
            )
        } else {
            std::fs::remove_file(&marker).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
        };
        if let Err(e) = remembered {
            tracing::warn!("cannot remember the pause in {}: {e}", marker.display());
        }
        self.live.lock().unwrap().paused = paused;
        if let Some(r) = self.running.lock().await.as_ref() {
            r.controller.set_paused(paused);
        }
        let _ = self
            .ui_events
            .send(UiEvent::App(AppEvent::Paused { paused }));
        paused
    }

    pub fn history_metrics(&self) -> Vec<MetricInfo> {
        history::METRICS
            .iter()
            .map(|m| MetricInfo {
                name: m.name,
                unit: m.unit,
                help: m.help,
            })
            .collect()
    }

    /// Each metric over `[from_us, to_us)`, downsampled to at most `points` buckets.
    pub async fn history(
        &self,
        metrics: Vec<String>,
        from_us: i64,
        to_us: i64,
        points: usize,
    ) -> Result<Vec<Series>, AppError> {
        if to_us <= from_us {
            return Err(AppError::new(format!(
                "empty range: to ({to_us}) must be after from ({from_us})"
            )));
        }
        let defs = metrics
            .iter()
            .map(|m| history::metric(m).map_err(AppError::new))
            .collect::<Result<Vec<_>, _>>()?;
        let points = points.clamp(1, MAX_POINTS);
        self.with_reader(move |b| {
            defs.into_iter()
                .map(|d| Ok(b.history(d, from_us, to_us, points)?))
                .collect()
        })
        .await
    }

    pub fn autostart_enabled(&self) -> bool {
        self.opts.autostart.is_enabled()
    }

    /// Turns launch at login on or off (the tray's check item).
    pub fn set_autostart(&self, on: bool) -> Result<(), AppError> {
        self.opts.autostart.set_enabled(on).map_err(|e| {
            AppError::new(format!(
                "launch at login could not be changed ({}): {e}",
                self.opts.autostart.entry().display()
            ))
        })
    }

    pub fn get_settings(&self) -> Result<SettingsForm, AppError> {
        let config = self.opts.config.load(self.opts.env.clone())?;
        Ok(SettingsForm::from_config(
            &config,
            &self.opts.config.path,
            self.opts.autostart.is_enabled(),
        ))
    }

    /// Validates `form` like a config file, writes it (typed secrets into the OS
    /// keyring when one runs), and restarts the pipeline with it (in the background;
    /// `settings_applied` follows). The returned form's `notice` says where typed secrets
    /// went when that was not the keyring.
    pub async fn save_settings(
        self: &Arc<Self>,
        form: SettingsForm,
    ) -> Result<SettingsForm, AppError> {
        let prepared = self.prepare(&form).await?;
        let settings = prepared.settings.clone();
        let config = self.opts.config.clone();
        let keyring = self.opts.keyring.clone();
        // The keyring may wait on an unlock prompt: not on the runtime's threads.
        let report = tokio::task::spawn_blocking(move || config.save(prepared, &*keyring))
            .await
            .map_err(|e| AppError::new(format!("internal error: {e}")))??;
        if let Some(notice) = &report.notice {
            tracing::warn!("settings saved: {notice}");
        }
        if form.launch_at_login != self.opts.autostart.is_enabled() {
            self.opts
                .autostart
                .set_enabled(form.launch_at_login)
                .map_err(|e| {
                    AppError::new(format!(
                        "settings saved, but launch at login could not be changed ({}): {e}",
                        self.opts.autostart.entry().display()
                    ))
                })?;
        }
        *self.settings.lock().unwrap() = settings.clone();
        self.policy
            .lock()
            .unwrap()
            .reconfigure(settings.notify.clone(), settings.buffer.max_pending);
        let app = self.clone();
        self.runtime
            .spawn(async move { app.restart(settings).await });
        let mut saved = self.get_settings()?;
        saved.notice = report.notice;
        Ok(saved)
    }

    /// "Test connection" for a form that need not be saved.
    pub async fn test_connection(&self, form: SettingsForm) -> Result<ConnectionReport, AppError> {
        let settings = self.prepare(&form).await?.settings;
        Ok(check_connection(&settings, Duration::from_secs(15)).await)
    }

    /// Validates `form` (reading keyring references on a blocking thread).
    async fn prepare(&self, form: &SettingsForm) -> Result<Prepared, AppError> {
        let config = self.opts.config.clone();
        let keyring = self.opts.keyring.clone();
        let env = self.opts.env.clone();
        let data_dir = self.opts.data_dir.clone();
        let form = form.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            config.prepare(&form, env, data_dir.as_deref(), &*keyring)
        })
        .await
        .map_err(|e| AppError::new(format!("internal error: {e}")))??;
        if prepared.settings.data_dir != self.settings().data_dir {
            return Err(AppError {
                key: Some("data_dir".into()),
                message: "the data dir cannot change while the app runs; edit data_dir in the config file and restart".into(),
            });
        }
        Ok(prepared)
    }
}

async fn run_pipeline(
    settings: Settings,
    events: broadcast::Sender<Event>,
    inbox: ControlInbox,
    stopped: oneshot::Receiver<()>,
) -> pcmetrics_core::Result<pipeline::RunReport> {
    let source = settings.sampling.open_source().await;
    let shutdown = async {
        let _ = stopped.await;
    };
    pipeline::run_controlled(settings, source, shutdown, Some(events), inbox).await
}

/// `<data dir>/paused`: present while the user has paused sampling.
fn paused_marker(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("paused")
}

#[cfg(test)]
mod tests {
    use super::{LiveState, SyncProgress};

    #[test]
    fn status_line_shows_how_far_a_long_sync_is() {
        let mut live = LiveState {
            pending: 90_000,
            syncing: true,
            ..LiveState::default()
        };
        assert_eq!(live.status_line(), "90000 pending · syncing");
        live.sync_progress = Some(SyncProgress {
            rows_done: 30_000,
            rows_total: 120_000,
        });
        assert_eq!(live.status_line(), "90000 pending · syncing 25 %");
        live.sync_progress = Some(SyncProgress {
            rows_done: 120_000,
            rows_total: 120_000,
        });
        assert_eq!(live.status_line(), "90000 pending · syncing");
    }
}
