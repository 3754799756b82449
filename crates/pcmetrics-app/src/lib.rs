//! # pcmetrics-app: the tray app's logic, without the tray
//!
//! Everything the desktop app does that can be tested headless lives here; the Tauri
//! shell (`src-tauri/`) only turns window commands, tray clicks and notifications into
//! calls on [`service::AppService`].
//!
//! - [`service`]: the supervised pipeline (start, "sync now", pause, restart on new
//!   settings, stop), the live state behind the tray's status line, and every query the
//!   window makes (overview with the live backfill, history, sync panel).
//! - [`form`]: the settings form mapped onto the config file, validated exactly as the
//!   config file is, secrets never sent back; typed secrets go to the OS keyring and the
//!   file keeps references (the file itself when no keyring runs, and the save says so).
//! - [`notices`]: when to notify (sync failing once, recovered, buffer filling, CPU
//!   alert), as a pure policy.
//! - [`autostart`]: launch at login (an XDG autostart entry).

pub mod autostart;
pub mod form;
pub mod notices;
pub mod service;

pub use service::{AppError, AppOptions, AppService, UiEvent};
