//! # pcmetrics-core: a personal metrics lakehouse pipeline
//!
//! Samples a PC's metrics, buffers them durably, and delivers them exactly once as
//! Parquet to a landing zone and an Apache Iceberg table. No Tauri, no WebKit: this crate
//! builds and tests headless; the CLI and the tray app are thin shells over it.
//!
//! ## Layout — one module per stage
//!
//! **[`sample`]**: a [`sample::Source`] produces [`sample::MetricSample`]s: the real
//! machine through `sysinfo` ([`sample::SystemSampler`], warmed up so the first CPU figure
//! is real), or deterministic synthetic data ([`sample::SyntheticSource`]).
//!
//! **[`buffer`]**: [`buffer::SqliteBuffer`], one SQLite file in WAL mode. Every sample is
//! appended with a monotonic `seq` before anything else happens to it. Sync takes a
//! durable *batch* (a seq range) and the buffer forgets it only on ack. Bounded by
//! `buffer.max_pending` (oldest pending dropped, counted). Keeps synced samples for the
//! local history and folds them into per-minute rollups ([`buffer::history`]).
//!
//! **[`encode`]**: [`encode::ParquetEncoder`], pure: rows in, one zstd Parquet file per UTC
//! day plus Iceberg column statistics out. The table schema, with its field ids, lives
//! in [`encode::schema`] and nowhere else.
//!
//! **[`land`]**: [`land::LandingZone`] puts each file under `landing/pc_metrics/` in the
//! object store (object_store: a local folder or S3), at a key derived from the batch.
//!
//! **[`commit`]**: [`commit::BronzeTable`] appends the same files to `bronze.pc_metrics`
//! through an Iceberg catalog (SQL on SQLite embedded, or REST), exactly once per batch,
//! with snapshots of its own producer (merge-append keeps the manifest count bounded).
//!
//! **[`maintain`]** keeps the table small and fast for years: compacts closed days into
//! one file per PC, expires old snapshots and deletes what no retained snapshot
//! references (the table's own metadata decides), and ages out the landing zone.
//!
//! **[`sync`]** drives one sync through those stages; **[`pipeline`]** runs sampling and
//! syncing on their schedules until a shutdown future resolves, publishing [`pipeline::Event`]s.
//!
//! **[`config`]** parses and validates the TOML config into [`config::Settings`].
//!
//! **[`version`]**: this build's version and the buffer and table layouts it writes.

pub mod buffer;
pub mod clock;
pub mod commit;
pub mod config;
pub mod deliver;
pub mod encode;
pub mod error;
pub mod host;
pub mod land;
pub mod maintain;
pub mod pipeline;
pub mod read;
pub mod redact;
pub mod sample;
pub mod sync;
pub mod version;

pub use error::{Error, Result};
