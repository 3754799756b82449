//! Garbage collection, driven by the table's own metadata.
//!
//! - [`expired_files`]: what the expired snapshots referenced (manifest lists, manifests,
//!   data files) and no retained snapshot does. Safe on any table, shared or not: a file
//!   this catalog's expired snapshots named is one no other commit can name again (files
//!   are never reused, and a new snapshot only carries the current one's manifests).
//! - [`old_metadata`]: metadata files that left the metadata log, found by walking the log
//!   back from its oldest entry (each metadata file lists the ones before it).
//! - [`orphans`] (`full` role): files under the table's `data/` and `metadata/` that no
//!   retained snapshot or log entry references and that are older than
//!   `maintenance.orphan_age`: leftovers of interrupted syncs and commits. Younger ones
//!   may belong to a commit still in flight on another PC or engine, and stay.
//! - [`landing`]: landing zone files that landed more than
//!   `maintenance.landing_retention` ago (the landing zone is a raw drop the table does
//!   not reference).
//!
//! Manifest lists and manifests are immutable, so what each references is cached across
//! runs ([`RefCache`]): a run reads only files that are new since the last one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use iceberg::spec::{ManifestFile, SnapshotRef, TableMetadata};
use iceberg::table::Table;
use object_store::path::Path as ObjPath;

use super::MaintenanceReport;
use super::expire::Expired;
use crate::commit::snapshot::load_manifest_list;
use crate::commit::{BronzeTable, CommitError};
use crate::land::LandingZone;

/// What each manifest list and manifest references (they are immutable, so this never
/// goes stale; entries of deleted files are dropped).
#[derive(Debug, Default)]
pub struct RefCache {
    lists: HashMap<String, Arc<Vec<ManifestFile>>>,
    /// Manifest path → (data file path, size) of every entry, deleted ones included.
    manifests: HashMap<String, Arc<Vec<(String, u64)>>>,
}

/// Every file a set of snapshots references, by kind, with sizes where known.
#[derive(Debug, Default)]
pub struct Referenced {
    pub lists: HashSet<String>,
    pub manifests: HashMap<String, u64>,
    pub data: HashMap<String, u64>,
}

impl Referenced {
    fn contains(&self, path: &str) -> bool {
        self.lists.contains(path)
            || self.manifests.contains_key(path)
            || self.data.contains_key(path)
    }
}

impl RefCache {
    /// Everything `snapshots` reference.
    pub async fn referenced<'a>(
        &mut self,
        table: &Table,
        snapshots: impl IntoIterator<Item = &'a SnapshotRef>,
    ) -> Result<Referenced, iceberg::Error> {
        let mut out = Referenced::default();
        for s in snapshots {
            let list = match self.lists.get(s.manifest_list()) {
                Some(l) => l.clone(),
                None => {
                    let l = Arc::new(load_manifest_list(table, s).await?.entries().to_vec());
                    self.lists.insert(s.manifest_list().to_owned(), l.clone());
                    l
                }
            };
            out.lists.insert(s.manifest_list().to_owned());
            for mf in list.iter() {
                if out.manifests.contains_key(&mf.manifest_path) {
                    continue;
                }
                out.manifests
                    .insert(mf.manifest_path.clone(), mf.manifest_length.max(0) as u64);
                let files = match self.manifests.get(&mf.manifest_path) {
                    Some(f) => f.clone(),
                    None => {
                        let m = mf.load_manifest(table.file_io()).await?;
                        let f: Arc<Vec<(String, u64)>> = Arc::new(
                            m.entries()
                                .iter()
                                .map(|e| (e.file_path().to_owned(), e.file_size_in_bytes()))
                                .collect(),
                        );
                        self.manifests.insert(mf.manifest_path.clone(), f.clone());
                        f
                    }
                };
                out.data.extend(files.iter().cloned());
            }
        }
        Ok(out)
    }

    /// Forgets files that are gone.
    fn forget(&mut self, paths: &HashSet<String>) {
        self.lists.retain(|p, _| !paths.contains(p));
        self.manifests.retain(|p, _| !paths.contains(p));
    }
}

/// Deletes a file by its location; a file already gone is fine.
async fn delete(table: &BronzeTable, location: &str) -> Result<(), CommitError> {
    let io_err = |message: String| CommitError::Write {
        location: location.to_owned(),
        message,
    };
    let (store, key) = table.stores().resolve(location).map_err(io_err)?;
    match store.delete(&key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(io_err(crate::error::describe_store_error(&e))),
    }
}

/// Deletes what only the expired snapshots referenced.
pub async fn expired_files(
    table: &BronzeTable,
    expired: &Expired,
    refs: &mut RefCache,
    dry_run: bool,
    fail_point: Option<super::Step>,
    report: &mut MaintenanceReport,
) -> Result<(), CommitError> {
    if expired.expired.is_empty() {
        return Ok(());
    }
    let gone_ids: HashSet<i64> = expired.expired.iter().map(|s| s.snapshot_id()).collect();
    let retained: Vec<SnapshotRef> = expired
        .after
        .metadata()
        .snapshots()
        .filter(|s| !gone_ids.contains(&s.snapshot_id()))
        .cloned()
        .collect();
    let kept = refs
        .referenced(&expired.after, &retained)
        .await
        .map_err(|e| table.err(e))?;
    let gone = refs
        .referenced(&expired.before, &expired.expired)
        .await
        .map_err(|e| table.err(e))?;
    let mut deleted = HashSet::new();
    for list in gone.lists.iter().filter(|p| !kept.contains(p)) {
        report.manifest_lists_deleted += 1;
        deleted.insert(list.clone());
    }
    for (m, size) in gone.manifests.iter().filter(|(p, _)| !kept.contains(p)) {
        report.manifests_deleted += 1;
        report.bytes_deleted += size;
        deleted.insert(m.clone());
    }
    for (d, size) in gone.data.iter().filter(|(p, _)| !kept.contains(p)) {
        report.data_files_deleted += 1;
        report.bytes_deleted += size;
        deleted.insert(d.clone());
    }
    if !dry_run {
        // Data files first, then manifests, then lists: a crash half-way leaves only
        // files nothing retained names, which the next orphan scan finds.
        let order = gone
            .data
            .keys()
            .chain(gone.manifests.keys())
            .chain(gone.lists.iter());
        for (i, p) in order.filter(|p| deleted.contains(*p)).enumerate() {
            if i == deleted.len() / 2 {
                super::reached(fail_point, super::Step::Collecting);
            }
            delete(table, p).await?;
        }
        refs.forget(&deleted);
    }
    Ok(())
}

/// Most metadata files one run walks back through.
const MAX_METADATA_WALK: usize = 2000;

/// Deletes metadata files that left the metadata log: the oldest entry of the log names,
/// in its own log, the files before it; those are walked back until one is gone. Returns
/// the locations it deleted (or, in a dry run, would delete).
pub async fn old_metadata(
    table: &BronzeTable,
    dry_run: bool,
    report: &mut MaintenanceReport,
) -> Result<Vec<String>, CommitError> {
    let t = table.load_existing().await?;
    let keep: HashSet<&str> = t
        .metadata()
        .metadata_log()
        .iter()
        .map(|l| l.metadata_file.as_str())
        .chain(t.metadata_location())
        .collect();
    let oldest = |log: &[iceberg::spec::MetadataLog]| {
        log.iter()
            .min_by_key(|l| l.timestamp_ms)
            .map(|l| l.metadata_file.clone())
    };
    let mut doomed: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut frontier = oldest(t.metadata().metadata_log());
    while let Some(file) = frontier.take() {
        if doomed.len() >= MAX_METADATA_WALK {
            break;
        }
        let Ok(m) = TableMetadata::read_from(t.file_io(), &file).await else {
            break; // gone: the walk reached what an earlier run deleted
        };
        let older: Vec<_> = m
            .metadata_log()
            .iter()
            .filter(|l| {
                !keep.contains(l.metadata_file.as_str()) && !seen.contains(&l.metadata_file)
            })
            .cloned()
            .collect();
        frontier = oldest(&older);
        for l in older {
            seen.insert(l.metadata_file.clone());
            doomed.push(l.metadata_file);
        }
    }
    // Oldest first: a crash half-way leaves a chain the next run can still walk.
    doomed.reverse();
    let mut done = Vec::new();
    for f in &doomed {
        // The log still names files an earlier run deleted: count only what is there.
        let (store, key) = table
            .stores()
            .resolve(f)
            .map_err(|message| CommitError::Write {
                location: f.clone(),
                message,
            })?;
        match store.head(&key).await {
            Ok(meta) => {
                report.metadata_files_deleted += 1;
                report.bytes_deleted += meta.size;
            }
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => {
                return Err(CommitError::Write {
                    location: f.clone(),
                    message: crate::error::describe_store_error(&e),
                });
            }
        }
        if !dry_run {
            delete(table, f).await?;
        }
        done.push(f.clone());
    }
    Ok(done)
}

/// Deletes files under the table location that nothing retained references and that are
/// older than `orphan_age` (by the store's own modification time). `counted` are
/// locations an earlier step of this run already deleted or (dry run) counted.
pub async fn orphans(
    table: &BronzeTable,
    orphan_age: Duration,
    counted: &[String],
    refs: &mut RefCache,
    dry_run: bool,
    fail_point: Option<super::Step>,
    report: &mut MaintenanceReport,
) -> Result<(), CommitError> {
    let t = table.load_existing().await?;
    let snapshots: Vec<SnapshotRef> = t.metadata().snapshots().cloned().collect();
    let referenced = refs
        .referenced(&t, &snapshots)
        .await
        .map_err(|e| table.err(e))?;
    let stores = table.stores();
    let key_of = |location: &str| stores.resolve(location).ok().map(|(_, k)| k.to_string());
    let mut keep: HashSet<String> = referenced
        .lists
        .iter()
        .chain(referenced.manifests.keys())
        .chain(referenced.data.keys())
        .filter_map(|p| key_of(p))
        .collect();
    keep.extend(
        t.metadata()
            .metadata_log()
            .iter()
            .filter_map(|l| key_of(&l.metadata_file)),
    );
    keep.extend(t.metadata_location().and_then(key_of));
    keep.extend(counted.iter().filter_map(|p| key_of(p)));
    let location = t.metadata().location().trim_end_matches('/');
    let cutoff = chrono::Utc::now() - orphan_age;
    for sub in ["data", "metadata"] {
        let root = format!("{location}/{sub}/");
        let (store, prefix) = stores
            .resolve(&root)
            .map_err(|message| CommitError::Write {
                location: root.clone(),
                message,
            })?;
        let listed: Vec<_> = match store.list(Some(&prefix)).try_collect().await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => {
                return Err(CommitError::Write {
                    location: root,
                    message: crate::error::describe_store_error(&e),
                });
            }
        };
        for meta in listed {
            if keep.contains(meta.location.as_ref()) || meta.last_modified > cutoff {
                continue;
            }
            if !dry_run {
                if report.orphans_deleted == 1 {
                    super::reached(fail_point, super::Step::Orphans);
                }
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        return Err(CommitError::Write {
                            location: meta.location.to_string(),
                            message: crate::error::describe_store_error(&e),
                        });
                    }
                }
            }
            report.orphans_deleted += 1;
            report.bytes_deleted += meta.size;
        }
    }
    Ok(())
}

/// Deletes landing zone files that landed more than `retention` ago (by the store's
/// modification time; only `only_host`'s with the `own` role). By landing time, not by
/// the samples' date: a backlog delivered after weeks offline stays its full term.
pub async fn landing(
    landing: &LandingZone,
    now_ms: i64,
    retention: Duration,
    only_host: Option<&str>,
    dry_run: bool,
    report: &mut MaintenanceReport,
) -> Result<(), CommitError> {
    let err = |e: object_store::Error| CommitError::Write {
        location: landing.location(&ObjPath::from(landing.prefix())),
        message: crate::error::describe_store_error(&e),
    };
    let cutoff = chrono::DateTime::from_timestamp_millis(now_ms - retention.as_millis() as i64)
        .unwrap_or_default();
    let prefix = match only_host {
        Some(h) => ObjPath::from(format!("{}/host_id={h}", landing.prefix())),
        None => ObjPath::from(landing.prefix()),
    };
    let store = landing.store();
    let listed: Vec<_> = match store.list(Some(&prefix)).try_collect().await {
        Ok(l) => l,
        Err(object_store::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    for f in listed.into_iter().filter(|f| f.last_modified < cutoff) {
        if !dry_run {
            match store.delete(&f.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(err(e)),
            }
        }
        report.landing_files_deleted += 1;
        report.bytes_deleted += f.size;
    }
    Ok(())
}
