//! The shell on Tauri's mock runtime with the real context (config, CSP, capabilities):
//! the window may call the app's commands, and nothing else.

use std::path::Path;
use std::sync::Arc;

use pcmetrics_app::autostart::Autostart;
use pcmetrics_app::form::ConfigFile;
use pcmetrics_app::notices::Notice;
use pcmetrics_app::service::Notifier;
use pcmetrics_app::{AppOptions, AppService};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{WebviewUrl, WebviewWindow, WebviewWindowBuilder};

struct Quiet;
impl Notifier for Quiet {
    fn notify(&self, _: &Notice) {}
}

fn app(dir: &Path) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[sampling]\ninterval = \"250ms\"\nsource = \"synthetic\"\n[sync]\ninterval = \"1h\"\n",
    )
    .unwrap();
    let opts = AppOptions {
        config: ConfigFile { path: config },
        data_dir: Some(dir.join("data")),
        env: Vec::new(),
        autostart: Autostart::new(&dir.join("xdg"), Path::new("pcmetrics-tray")),
        keyring: Arc::new(pcmetrics_core::config::MemoryKeyring::default()),
    };
    let service: Arc<AppService> =
        tauri::async_runtime::block_on(AppService::start(opts, Arc::new(Quiet))).unwrap();
    let app = mock_builder()
        .manage(service)
        .invoke_handler(crate::commands::handler())
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    let window = WebviewWindowBuilder::new(&app, "main", WebviewUrl::App("index.html".into()))
        .build()
        .unwrap();
    (app, window)
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, body: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_owned(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

#[test]
fn the_window_may_call_the_apps_commands_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, window) = app(dir.path());

    let metrics = invoke(&window, "history_metrics", json!({})).expect("allowed");
    assert!(
        metrics
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "cpu")
    );
    let about = invoke(&window, "about", json!({})).expect("allowed");
    assert_eq!(
        about,
        json!(pcmetrics_core::version::About::current().summary())
    );
    let settings = invoke(&window, "get_settings", json!({})).expect("allowed");
    assert_eq!(settings["sampling_interval"], "250ms");
    assert_eq!(settings["secret_access_key"], "");

    // A failing command answers {key, message}.
    let err = invoke(
        &window,
        "history",
        json!({"metrics": ["gpu"], "fromUs": 0, "toUs": 1000, "points": 10}),
    )
    .unwrap_err();
    assert_eq!(err["key"], Value::Null);
    assert!(
        err["message"].as_str().unwrap().contains("unknown metric"),
        "{err}"
    );
    let mut bad = settings.clone();
    bad["sync_interval"] = json!("soon");
    let err = invoke(&window, "save_settings", json!({ "form": bad })).unwrap_err();
    assert_eq!(err["key"], "sync.interval", "{err}");

    // Core plugins are not granted: no events, no window control, no paths.
    for (cmd, body) in [
        (
            "plugin:event|listen",
            json!({"event": "x", "target": {"kind": "Any"}, "handler": 0}),
        ),
        ("plugin:window|close", json!({"label": "main"})),
        ("plugin:path|resolve_directory", json!({"directory": 1})),
        ("no_such_command", json!({})),
    ] {
        let err = invoke(&window, cmd, body).expect_err(cmd);
        let text = err.to_string();
        assert!(
            text.contains("not allowed") || text.contains("not found"),
            "{cmd}: {text}"
        );
    }
}
