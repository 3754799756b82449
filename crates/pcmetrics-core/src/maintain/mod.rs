//! # Maintain: the table's lifecycle
//!
//! A table that every PC appends to every few minutes must stay small and fast for
//! years. Appends keep the manifest count bounded themselves (merge-append, see
//! [`crate::commit::snapshot`]); maintenance does the rest, in this order:
//!
//! 1. **compact** ([`compact`]): the files of a closed UTC day are rewritten into one file
//!    per PC, and those of each closed hour of the open day into one file per PC, sorted
//!    by time, in a `replace` snapshot (rows and values unchanged);
//! 2. **expire** ([`expire`]): snapshots older than `sync.snapshot_retention` leave the
//!    table's metadata (the newest ten, and whatever a branch or tag names, stay);
//! 3. **collect** ([`collect`]): every manifest list, manifest and data file that only
//!    the expired snapshots referenced is deleted, and so are metadata files that left the
//!    metadata log. With the `full` role, files under the table location that no retained
//!    snapshot references and that are older than `maintenance.orphan_age` (the leftovers
//!    of interrupted syncs) go too. Landing files go `maintenance.landing_retention` after
//!    they landed (only this PC's with the `own` role).
//!
//! Every deletion is driven by the table's own metadata: what the retained snapshots and
//! the metadata log reference stays. A process killed at any point leaves a table every
//! reader opens: compaction's output is invisible until its snapshot commits, and a file
//! is deleted only once no retained snapshot names it. The next run finishes the work.
//!
//! [`Maintainer::run`] does all of it (or, with `dry_run`, says what it would do);
//! [`health`] measures the table for `status`.

pub mod collect;
pub mod compact;
pub mod expire;
pub mod health;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::commit::{BronzeTable, CommitError};
use crate::config::{MaintenanceRole, MaintenanceSettings, Settings};
use crate::land::LandingZone;

pub use collect::RefCache;
pub use health::TableHealth;

/// Points in a maintenance run where a test can stop the process (like `kill -9`), see
/// [`Maintainer::with_fail_point`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Compacted files are written, the replace snapshot is not committed.
    Compacted,
    /// The replace snapshot is committed; expiry has not started.
    CompactCommitted,
    /// Expiry is committed; nothing is deleted yet.
    Expired,
    /// Half of the files the expired snapshots alone referenced are deleted.
    Collecting,
    /// Half of the orphan files are deleted.
    Orphans,
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!(
                "unknown step {s:?}; use compacted, compact-committed, expired, collecting or orphans"
            )
        })
    }
}

/// Aborts the process at `step` when `fail_point` names it (crash tests only).
pub(crate) fn reached(fail_point: Option<Step>, step: Step) {
    if fail_point == Some(step) {
        eprintln!("pcmetrics: maintenance fail point {step:?} reached, aborting");
        std::process::abort();
    }
}

/// Snapshots always kept by expiry, however old.
pub const MIN_SNAPSHOTS_KEPT: usize = 10;

/// What one maintenance run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceReport {
    pub dry_run: bool,
    /// (PC, closed day) groups rewritten into one file each.
    pub days_compacted: u64,
    /// (PC, closed hour of the open day) groups rewritten into one file each.
    #[serde(default)]
    pub hours_compacted: u64,
    pub files_compacted: u64,
    pub rows_compacted: u64,
    pub snapshots_expired: u64,
    pub manifest_lists_deleted: u64,
    pub manifests_deleted: u64,
    pub data_files_deleted: u64,
    pub metadata_files_deleted: u64,
    /// Unreferenced files older than `maintenance.orphan_age` (`full` role).
    pub orphans_deleted: u64,
    pub landing_files_deleted: u64,
    pub bytes_deleted: u64,
    /// What did not work this time (the rest of the run went on).
    pub warnings: Vec<String>,
    pub duration_ms: u64,
}

impl MaintenanceReport {
    /// Whether the run changed or would change anything.
    pub fn did_something(&self) -> bool {
        self.days_compacted
            + self.hours_compacted
            + self.snapshots_expired
            + self.manifest_lists_deleted
            + self.manifests_deleted
            + self.data_files_deleted
            + self.metadata_files_deleted
            + self.orphans_deleted
            + self.landing_files_deleted
            > 0
    }

    fn count_group(&mut self, group: &compact::Group) {
        match group.hour {
            Some(_) => self.hours_compacted += 1,
            None => self.days_compacted += 1,
        }
    }

    /// One line for logs and the CLI.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run { "would " } else { "" };
        format!(
            "{verb}compact {} day(s) and {} hour(s) ({} files, {} rows), {verb}expire {} snapshot(s), {verb}delete {} manifest list(s), {} manifest(s), {} data file(s), {} metadata file(s), {} orphan(s), {} landing file(s) ({} bytes)",
            self.days_compacted,
            self.hours_compacted,
            self.files_compacted,
            self.rows_compacted,
            self.snapshots_expired,
            self.manifest_lists_deleted,
            self.manifests_deleted,
            self.data_files_deleted,
            self.metadata_files_deleted,
            self.orphans_deleted,
            self.landing_files_deleted,
            self.bytes_deleted
        )
    }
}

/// Runs maintenance for one PC. Keeps a cache of what each (immutable) manifest list and
/// manifest references, so repeated runs read only the files that are new since the last.
#[derive(Debug)]
pub struct Maintainer {
    settings: MaintenanceSettings,
    snapshot_retention: Duration,
    host_id: String,
    refs: tokio::sync::Mutex<RefCache>,
    fail_point: Option<Step>,
}

impl Maintainer {
    /// Maintenance as `settings` say, for the PC `host_id`.
    pub fn new(settings: &Settings, host_id: impl Into<String>) -> Self {
        Self {
            settings: settings.maintenance.clone(),
            snapshot_retention: settings.sync.snapshot_retention,
            host_id: host_id.into(),
            refs: tokio::sync::Mutex::new(RefCache::default()),
            fail_point: None,
        }
    }

    /// Makes the process exit abruptly when a run reaches `step`. For crash tests only.
    pub fn with_fail_point(mut self, step: Option<Step>) -> Self {
        self.fail_point = step;
        self
    }

    pub fn settings(&self) -> &MaintenanceSettings {
        &self.settings
    }

    /// One maintenance run. A step that fails is reported in `warnings` and the run goes
    /// on with the next; only a table that cannot be loaded fails the run.
    pub async fn run(
        &self,
        table: &BronzeTable,
        landing: &LandingZone,
        dry_run: bool,
    ) -> Result<MaintenanceReport, CommitError> {
        let started = Instant::now();
        let mut report = MaintenanceReport {
            dry_run,
            ..Default::default()
        };
        let role = self.settings.role;
        if role == MaintenanceRole::Off {
            return Ok(report);
        }
        if table.load().await?.is_none() {
            return Ok(report);
        }
        let now_ms = table.clock().now_ms();
        let only_host = (role == MaintenanceRole::Own).then_some(self.host_id.as_str());

        if let Err(e) = compact::run(
            table,
            now_ms,
            self.settings.compact_after,
            only_host,
            dry_run,
            self.fail_point,
            &mut report,
        )
        .await
        {
            report.warnings.push(format!("compaction: {e}"));
        }
        reached(self.fail_point, Step::CompactCommitted);

        let mut refs = self.refs.lock().await;
        match expire::run(table, now_ms, self.snapshot_retention, dry_run).await {
            Ok(expired) => {
                report.snapshots_expired = expired.expired.len() as u64;
                reached(self.fail_point, Step::Expired);
                if let Err(e) = collect::expired_files(
                    table,
                    &expired,
                    &mut refs,
                    dry_run,
                    self.fail_point,
                    &mut report,
                )
                .await
                {
                    report.warnings.push(format!("deleting expired files: {e}"));
                }
            }
            Err(e) => report.warnings.push(format!("snapshot expiry: {e}")),
        }
        let old_metadata = match collect::old_metadata(table, dry_run, &mut report).await {
            Ok(done) => done,
            Err(e) => {
                report.warnings.push(format!("deleting old metadata: {e}"));
                Vec::new()
            }
        };
        if role == MaintenanceRole::Full
            && let Err(e) = collect::orphans(
                table,
                self.settings.orphan_age,
                &old_metadata,
                &mut refs,
                dry_run,
                self.fail_point,
                &mut report,
            )
            .await
        {
            report.warnings.push(format!("orphan files: {e}"));
        }
        if let Some(retention) = self.settings.landing_retention
            && let Err(e) =
                collect::landing(landing, now_ms, retention, only_host, dry_run, &mut report).await
        {
            report.warnings.push(format!("landing zone: {e}"));
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}
