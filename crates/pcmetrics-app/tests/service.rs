//! The app service end to end, headless: real SQLite buffer, real embedded lakehouse,
//! the real pipeline on a synthetic source at 250 ms. What the window and the tray do,
//! without the window and the tray.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcmetrics_app::autostart::Autostart;
use pcmetrics_app::form::ConfigFile;
use pcmetrics_app::notices::Notice;
use pcmetrics_app::service::{AppEvent, Notifier};
use pcmetrics_app::{AppOptions, AppService, UiEvent};
use pcmetrics_core::config::MemoryKeyring;
use pcmetrics_core::pipeline::Event;
use pcmetrics_core::sample::now_us;
use tokio::sync::broadcast;

#[derive(Default)]
struct Recorded(Mutex<Vec<Notice>>);

impl Notifier for Recorded {
    fn notify(&self, notice: &Notice) {
        self.0.lock().unwrap().push(notice.clone());
    }
}

const CONFIG: &str = r#"
[sampling]
interval = "250ms"
source = "synthetic"
[sync]
interval = "1h"
"#;

fn options(dir: &Path, config: &str) -> AppOptions {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    AppOptions {
        config: ConfigFile { path },
        data_dir: Some(dir.join("data")),
        env: Vec::new(),
        autostart: Autostart::new(&dir.join("xdg"), Path::new("/usr/bin/pcmetrics-tray")),
        keyring: Arc::new(MemoryKeyring::default()),
    }
}

async fn start(dir: &Path, config: &str) -> (Arc<AppService>, Arc<Recorded>) {
    let notes = Arc::new(Recorded::default());
    let app = AppService::start(options(dir, config), notes.clone())
        .await
        .expect("the app starts");
    (app, notes)
}

/// Waits for the first event `pick` accepts.
async fn wait_for<T>(
    rx: &mut broadcast::Receiver<UiEvent>,
    what: &str,
    mut pick: impl FnMut(&UiEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended waiting for {what}: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within 20 s"))
}

async fn next_sample_seq(rx: &mut broadcast::Receiver<UiEvent>) -> i64 {
    wait_for(rx, "a sample", |e| match e {
        UiEvent::Pipeline(Event::Sample { seq, .. }) => Some(*seq),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_stream_sync_now_delivers_and_history_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = start(dir.path(), CONFIG).await;
    let mut rx = app.subscribe();
    for _ in 0..6 {
        next_sample_seq(&mut rx).await;
    }
    let overview = app.overview().await.unwrap();
    assert!(
        overview.recent.len() >= 6,
        "backfill has the samples so far"
    );
    assert!(
        overview.recent.windows(2).all(|w| w[0].ts_us < w[1].ts_us),
        "oldest first"
    );
    assert_eq!(overview.table, "bronze.pc_metrics");
    assert_eq!(overview.sampling_interval_ms, 250);
    assert!(
        app.live().status_line().contains("pending"),
        "{}",
        app.live().status_line()
    );

    let before = app.sync_status().await.unwrap();
    // The pipeline's first sync at startup may have taken the very first sample.
    assert!(before.pending >= 5, "{before:?}");
    let report = app.sync_now().await.expect("sync now");
    assert!(report.rows >= before.pending, "{report:?} vs {before:?}");
    let after = app.sync_status().await.unwrap();
    let last = after.last_success.clone().expect("the sync is recorded");
    assert_eq!(last.rows, report.rows);
    assert_eq!(after.recent_runs.first().map(|r| r.rows), Some(report.rows));
    assert_eq!(after.recent_runs.len(), before.recent_runs.len() + 1);
    assert!(
        after.pending < 4,
        "only samples taken since remain: {}",
        after.pending
    );
    // The first sync that committed ran table maintenance and measured the table.
    let maintenance = after.last_maintenance.as_ref().expect("maintenance ran");
    assert_eq!(maintenance.error, None);
    let health = maintenance.health.as_ref().expect("the table was measured");
    assert!(
        health.rows >= 1 && health.data_files >= 1 && health.snapshots >= 1,
        "{health:?}"
    );
    let json = serde_json::to_value(&after).unwrap();
    assert_eq!(json["maintenance_role"], "full");
    assert!(
        json["last_maintenance"]["health"]["manifests"].as_u64() >= Some(1),
        "{json}"
    );

    let now = now_us();
    let series = app
        .history(
            vec!["cpu".into(), "mem.used".into()],
            now - 3_600_000_000,
            now + 1,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(series.len(), 2);
    assert!(!series[0].points.is_empty() && series[0].points.len() <= 1000);
    let e = app
        .history(vec!["gpu".into()], now - 1, now, 10)
        .await
        .unwrap_err();
    assert!(e.message.contains("unknown metric \"gpu\""), "{e}");
    app.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_sampling_and_resume_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = start(dir.path(), CONFIG).await;
    let mut rx = app.subscribe();
    next_sample_seq(&mut rx).await;
    assert!(app.set_paused(true).await);
    wait_for(&mut rx, "the paused event", |e| {
        matches!(e, UiEvent::App(AppEvent::Paused { paused: true })).then_some(())
    })
    .await;
    // At most one sample already being taken when the flag flipped.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let held = app.sync_status().await.unwrap().newest_sample_us;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        app.sync_status().await.unwrap().newest_sample_us,
        held,
        "no samples while paused"
    );
    assert!(app.live().status_line().contains("paused"));

    app.set_paused(false).await;
    next_sample_seq(&mut rx).await;
    assert!(app.sync_status().await.unwrap().newest_sample_us > held);
    app.stop(Duration::from_secs(10)).await;
}

/// A paused app stays paused across a restart (a reboot must not resume recording the
/// user asked to stop), and resumes only when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = start(dir.path(), CONFIG).await;
    app.set_paused(true).await;
    app.stop(Duration::from_secs(10)).await;
    drop(app);

    let (app, _) = start(dir.path(), CONFIG).await;
    assert!(app.live().paused, "still paused after a restart");
    let held = app.sync_status().await.unwrap().newest_sample_us;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.sync_status().await.unwrap().newest_sample_us, held);
    app.set_paused(false).await;
    app.stop(Duration::from_secs(10)).await;
    drop(app);

    let (app, _) = start(dir.path(), CONFIG).await;
    assert!(!app.live().paused, "resumed for good");
    app.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_settings_are_validated_written_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = start(dir.path(), CONFIG).await;
    let config_path = dir.path().join("config.toml");
    let mut rx = app.subscribe();

    let mut form = app.get_settings().unwrap();
    assert_eq!(form.sampling_interval, "250ms");
    form.sync_interval = "soon".into();
    let e = app.save_settings(form.clone()).await.unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sync.interval"));
    assert!(e.message.contains("is not a duration"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        CONFIG,
        "nothing written"
    );

    form.sync_interval = "30m".into();
    form.launch_at_login = true;
    let saved = app.save_settings(form).await.expect("valid settings save");
    assert_eq!(saved.sync_interval, "30m");
    assert!(saved.launch_at_login && dir.path().join("xdg/autostart/pcmetrics.desktop").is_file());
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.contains("interval = \"30m\""), "{text}");
    wait_for(&mut rx, "settings_applied", |e| {
        matches!(e, UiEvent::App(AppEvent::SettingsApplied)).then_some(())
    })
    .await;
    // The restarted pipeline samples and syncs.
    next_sample_seq(&mut rx).await;
    // (Stopping synced everything, and so does the new pipeline's first sync: the rows
    // this one finds depend on timing; what matters is that it works and drains.)
    app.sync_now().await.expect("sync after the restart");
    assert!(app.sync_status().await.unwrap().pending <= 1);
    assert_eq!(app.settings().sync.interval, Duration::from_secs(1800));
    app.stop(Duration::from_secs(10)).await;
}

/// Typed secrets go to the keyring; with none running the window is told they went into
/// the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_says_when_typed_secrets_could_not_go_to_the_keyring() {
    for reachable in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(if reachable {
            MemoryKeyring::default()
        } else {
            MemoryKeyring::unavailable()
        });
        let mut opts = options(dir.path(), CONFIG);
        opts.keyring = keyring.clone();
        let app = AppService::start(opts, Arc::new(Recorded::default()))
            .await
            .expect("the app starts");
        let mut form = app.get_settings().unwrap();
        form.storage_kind = pcmetrics_core::config::StorageKind::S3;
        form.endpoint = "http://127.0.0.1:9".into();
        form.allow_http = true;
        form.bucket = "warehouse".into();
        form.access_key_id = "AKPLANTED".into();
        form.secret_access_key = "planted-app-secret".into();
        let saved = app.save_settings(form).await.expect("saved");
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(saved.secret_key_set && saved.secret_access_key.is_empty());
        if reachable {
            assert_eq!(saved.notice, None);
            assert!(!text.contains("planted-app-secret"), "{text}");
            assert_eq!(keyring.entries().len(), 2);
        } else {
            let notice = saved.notice.expect("the window is told");
            assert!(notice.contains("written into the config file"), "{notice}");
            assert!(text.contains("planted-app-secret"));
        }
        assert_eq!(
            app.get_settings().unwrap().notice,
            None,
            "only the save's answer"
        );
        app.stop(Duration::from_secs(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_app_on_the_same_data_dir_reports_why_it_does_not_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = start(dir.path(), CONFIG).await;
    let mut rx1 = first.subscribe();
    next_sample_seq(&mut rx1).await;

    let (second, _) = start(dir.path(), CONFIG).await;
    let mut rx2 = second.subscribe();
    let message = match second.live().stopped {
        Some(m) => m,
        None => {
            wait_for(&mut rx2, "app_error", |e| match e {
                UiEvent::App(AppEvent::AppError { message }) => Some(message.clone()),
                _ => None,
            })
            .await
        }
    };
    assert!(
        message.contains("another pcmetrics process is sampling"),
        "{message}"
    );
    assert!(second.live().status_line().contains("not sampling"));
    let e = second.sync_now().await.unwrap_err();
    assert!(e.message.contains("not running"), "{e}");
    first.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_syncs_notify_once_and_test_connection_names_the_broken_half() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: every sync fails at the object store.
    let broken = format!(
        "{CONFIG}
[storage]
kind = \"s3\"
endpoint = \"http://127.0.0.1:9\"
allow_http = true
bucket = \"warehouse\"
access_key_id = \"AKIDTEST\"
secret_access_key = \"do-not-print-me\"
"
    );
    let (app, notes) = start(dir.path(), &broken).await;
    let mut rx = app.subscribe();
    next_sample_seq(&mut rx).await;
    // The pipeline's own first sync at startup may have failed already.
    let mut last = 0;
    for _ in 0..4 {
        let e = app.sync_now().await.unwrap_err();
        assert!(
            e.message
                .contains("is the server running at storage.endpoint"),
            "{e}"
        );
        assert!(!e.message.contains("do-not-print-me"));
        // The event reaches the live state through the pump, just after the answer.
        let mut failures = app.live().consecutive_failures;
        for _ in 0..50 {
            if failures > last {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            failures = app.live().consecutive_failures;
        }
        assert!(failures > last, "{failures} after {last}");
        last = failures;
    }
    // Let the pump fold the last event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = notes.0.lock().unwrap().clone();
    let failing: Vec<_> = got
        .iter()
        .filter(|n| matches!(n, Notice::SyncFailing { .. }))
        .collect();
    assert_eq!(failing.len(), 1, "one notice for {last} failures: {got:?}");
    assert!(app.live().alert());
    let status = app.sync_status().await.unwrap();
    assert!(status.last_error.is_some() && status.pending > 0);

    let form = app.get_settings().unwrap();
    assert!(form.secret_key_set && form.secret_access_key.is_empty());
    let report = app.test_connection(form).await.unwrap();
    assert!(!report.storage.ok, "{report:?}");
    assert!(!report.storage.message.contains("do-not-print-me"));
    app.stop(Duration::from_secs(10)).await;
}
