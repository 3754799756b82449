//! # Our snapshot producer: merge-append and replace
//!
//! iceberg-rust 0.10 offers only a fast append, which carries every earlier manifest into
//! each new manifest list and never merges them: manifest list *i* names *i* manifests,
//! so metadata grows with the square of the number of syncs. Its snapshot producer is
//! crate-private, so pcmetrics writes its own snapshots with the public manifest and
//! manifest-list writers, the way Java Iceberg's `MergingSnapshotProducer` does:
//!
//! - **append** adds one manifest for the new data files, carries the parent's manifests
//!   forward and, once at least `commit.manifest.min-count-to-merge` manifests pile up,
//!   merges the small ones (under `commit.manifest.target-size-bytes`) into one, so the
//!   current snapshot names a bounded number of manifests however long the table lives;
//! - **replace** (compaction) marks files deleted in the manifests that hold them and adds
//!   their replacement, without changing the table's rows.
//!
//! Every file this module writes has a fresh random name, so a retry or a rebase never
//! overwrites a manifest or manifest list that another (late or concurrent) commit may
//! reference. What it produces is a list of [`TableUpdate`]s guarded by
//! [`TableRequirement`]s (the table's uuid and the parent snapshot on `main`), which a
//! [`super::catalog::Committer`] sends through the catalog's public commit path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{
    DataFile, FormatVersion, Manifest, ManifestContentType, ManifestFile, ManifestList,
    ManifestListWriter, ManifestStatus, ManifestWriterBuilder, Operation, Snapshot,
    SnapshotReference, SnapshotRetention, Summary,
};
use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};

/// Java Iceberg's table properties for merge-append, honoured when a table sets them.
pub const PROP_MERGE_ENABLED: &str = "commit.manifest-merge.enabled";
pub const PROP_MIN_COUNT_TO_MERGE: &str = "commit.manifest.min-count-to-merge";
pub const PROP_TARGET_SIZE: &str = "commit.manifest.target-size-bytes";

/// Merge once this many manifests pile up (Java's default is 100; a personal table syncs
/// every few minutes, so a lower count keeps every scan's planning short).
pub const DEFAULT_MIN_COUNT_TO_MERGE: usize = 16;
/// Manifests at least this large are left alone (Java's default, 8 MiB).
pub const DEFAULT_TARGET_SIZE: i64 = 8 * 1024 * 1024;

/// How manifests are merged, from the table's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    pub enabled: bool,
    pub min_count: usize,
    pub target_size: i64,
}

impl MergePolicy {
    pub fn of(table: &Table) -> Self {
        let props = table.metadata().properties();
        let get = |k: &str| props.get(k).map(String::as_str);
        Self {
            enabled: get(PROP_MERGE_ENABLED) != Some("false"),
            min_count: get(PROP_MIN_COUNT_TO_MERGE)
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n >= 2)
                .unwrap_or(DEFAULT_MIN_COUNT_TO_MERGE),
            target_size: get(PROP_TARGET_SIZE)
                .and_then(|v| v.parse().ok())
                .filter(|&n: &i64| n > 0)
                .unwrap_or(DEFAULT_TARGET_SIZE),
        }
    }
}

/// What a new snapshot changes.
#[derive(Debug, Clone)]
pub struct Change {
    pub operation: Operation,
    pub added: Vec<DataFile>,
    /// Paths of live data files the snapshot deletes (replace only).
    pub removed: HashSet<String>,
    /// Extra snapshot summary properties (the batch identity).
    pub summary: HashMap<String, String>,
    /// Table properties set in the same commit (the buffer's watermark).
    pub properties: HashMap<String, String>,
    /// Snapshots removed in the same commit (expiry).
    pub expire: Vec<i64>,
    /// Merge every small manifest now, however few there are (rewrite manifests).
    pub merge_all: bool,
}

impl Change {
    pub fn append(added: Vec<DataFile>) -> Self {
        Self {
            operation: Operation::Append,
            added,
            removed: HashSet::new(),
            summary: HashMap::new(),
            properties: HashMap::new(),
            expire: Vec::new(),
            merge_all: false,
        }
    }

    /// Rewrites the manifests (no data changes) and expires `expire` in the same commit,
    /// as Java's `RewriteManifests` plus `ExpireSnapshots`. Expiry rides on a snapshot on
    /// purpose: a commit that adds a snapshot stamps the metadata with the snapshot's
    /// clock-safe timestamp, while a metadata-only commit is stamped with the catalog's
    /// clock, which Iceberg refuses when a writer with a clock ahead committed last.
    pub fn rewrite_manifests(expire: Vec<i64>) -> Self {
        Self {
            operation: Operation::Replace,
            expire,
            merge_all: true,
            ..Self::append(Vec::new())
        }
    }

    pub fn replace(removed: HashSet<String>, added: Vec<DataFile>) -> Self {
        Self {
            operation: Operation::Replace,
            removed,
            ..Self::append(added)
        }
    }
}

/// Why a snapshot could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// A file the change deletes is no longer live: another writer rewrote it first.
    #[error(
        "{missing} of the files to replace are no longer in the table (rewritten by another writer)"
    )]
    Stale { missing: usize },
    #[error(transparent)]
    Iceberg(#[from] iceberg::Error),
}

/// One snapshot, ready to commit.
#[derive(Debug)]
pub struct Produced {
    pub snapshot_id: i64,
    pub requirements: Vec<TableRequirement>,
    pub updates: Vec<TableUpdate>,
    /// Manifests the new snapshot names.
    pub manifests: usize,
}

/// Writes the manifests and manifest list of `change` on top of `base`'s current
/// snapshot and returns the commit that installs it. `now_ms` is the writer's clock; the
/// snapshot's timestamp never goes back before the table's last update, so a writer
/// whose clock is behind another's still commits (Iceberg refuses a snapshot more than a
/// minute older than the table's last update).
pub async fn produce(base: &Table, change: &Change, now_ms: i64) -> Result<Produced, ProduceError> {
    let meta = base.metadata();
    let io = base.file_io();
    let parent = meta.current_snapshot().cloned();
    let sequence_number = meta.next_sequence_number();
    let snapshot_id = unique_snapshot_id(base);
    let timestamp_ms = now_ms
        .max(meta.last_updated_ms())
        .max(parent.as_ref().map_or(0, |p| p.timestamp_ms()));
    let schema = meta.current_schema().clone();
    let spec = meta.default_partition_spec().as_ref().clone();
    let commit_id = uuid::Uuid::new_v4();
    let mut counter = 0;
    let mut next_path = || {
        counter += 1;
        format!(
            "{}/metadata/{commit_id}-m{counter}.avro",
            meta.location().trim_end_matches('/')
        )
    };

    let carried = match &parent {
        Some(p) => load_manifest_list(base, p).await?.entries().to_vec(),
        None => Vec::new(),
    };

    // Replace: rewrite the manifests that hold a removed file.
    let mut rewritten = Vec::new();
    let mut untouched = Vec::new();
    let mut removed_files = 0u64;
    let mut removed_rows = 0u64;
    let mut removed_bytes = 0u64;
    let mut found = 0usize;
    for mf in carried {
        let holds_live = mf.has_added_files() || mf.has_existing_files();
        if !holds_live && mf.content == ManifestContentType::Data {
            continue; // only deletes of an earlier snapshot: nothing to carry (as Java)
        }
        if change.removed.is_empty() || mf.content != ManifestContentType::Data {
            untouched.push(mf);
            continue;
        }
        let manifest = mf.load_manifest(io).await?;
        let hit = manifest
            .entries()
            .iter()
            .any(|e| e.is_alive() && change.removed.contains(e.file_path()));
        if !hit {
            untouched.push(mf);
            continue;
        }
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(next_path())?,
            Some(snapshot_id),
            schema.clone(),
            spec.clone(),
        )
        .build_v2_data();
        for e in manifest.entries() {
            if !e.is_alive() {
                continue; // deletes of earlier snapshots are dropped, as Java does
            }
            let seq = e.sequence_number().unwrap_or(mf.sequence_number);
            let file_seq = e.file_sequence_number.or(Some(seq));
            if change.removed.contains(e.file_path()) {
                found += 1;
                removed_files += 1;
                removed_rows += e.record_count();
                removed_bytes += e.file_size_in_bytes();
                writer.add_delete_file(e.data_file().clone(), seq, file_seq)?;
            } else {
                let added_by = e.snapshot_id().unwrap_or(mf.added_snapshot_id);
                writer.add_existing_file(e.data_file().clone(), added_by, seq, file_seq)?;
            }
        }
        rewritten.push(writer.write_manifest_file().await?);
    }
    if found < change.removed.len() {
        return Err(ProduceError::Stale {
            missing: change.removed.len() - found,
        });
    }

    let mut manifests = Vec::new();
    if !change.added.is_empty() {
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(next_path())?,
            Some(snapshot_id),
            schema.clone(),
            spec.clone(),
        )
        .build_v2_data();
        for f in &change.added {
            writer.add_file(f.clone(), sequence_number)?;
        }
        manifests.push(writer.write_manifest_file().await?);
    }
    manifests.extend(rewritten);

    // Merge the carried manifests once enough pile up. This snapshot's own manifests
    // (added files, this snapshot's deletes) stay as they are.
    let policy = MergePolicy::of(base);
    let total = manifests.len() + untouched.len();
    if change.merge_all || (policy.enabled && total >= policy.min_count) {
        let (small, large): (Vec<_>, Vec<_>) = untouched.into_iter().partition(|m| {
            m.manifest_length < policy.target_size && m.content == ManifestContentType::Data
        });
        for bin in pack(small, policy.target_size) {
            if bin.len() == 1 {
                manifests.extend(bin);
                continue;
            }
            let mut writer = ManifestWriterBuilder::new(
                io.new_output(next_path())?,
                Some(snapshot_id),
                schema.clone(),
                spec.clone(),
            )
            .build_v2_data();
            for mf in &bin {
                let manifest: Manifest = mf.load_manifest(io).await?;
                for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                    let seq = e.sequence_number().unwrap_or(mf.sequence_number);
                    writer.add_existing_file(
                        e.data_file().clone(),
                        e.snapshot_id().unwrap_or(mf.added_snapshot_id),
                        seq,
                        e.file_sequence_number.or(Some(seq)),
                    )?;
                }
            }
            manifests.push(writer.write_manifest_file().await?);
        }
        manifests.extend(large);
    } else {
        manifests.extend(untouched);
    }

    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-1-{commit_id}.avro",
        meta.location().trim_end_matches('/')
    );
    let mut list = ManifestListWriter::v2(
        io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        parent.as_ref().map(|p| p.snapshot_id()),
        sequence_number,
    );
    list.add_manifests(manifests.iter().cloned())?;
    list.close().await?;

    let added_rows: u64 = change.added.iter().map(|f| f.record_count()).sum();
    let added_bytes: u64 = change.added.iter().map(|f| f.file_size_in_bytes()).sum();
    let total_files: u64 = manifests
        .iter()
        .map(|m| u64::from(m.added_files_count.unwrap_or(0) + m.existing_files_count.unwrap_or(0)))
        .sum();
    let total_rows: u64 = manifests
        .iter()
        .map(|m| m.added_rows_count.unwrap_or(0) + m.existing_rows_count.unwrap_or(0))
        .sum();
    let parent_total_bytes = parent
        .as_ref()
        .and_then(|p| p.summary().additional_properties.get("total-files-size"))
        .and_then(|v| v.parse::<u64>().ok());
    let mut props = change.summary.clone();
    let mut put = |k: &str, v: u64| {
        props.insert(k.to_owned(), v.to_string());
    };
    put("added-data-files", change.added.len() as u64);
    put("added-records", added_rows);
    put("added-files-size", added_bytes);
    if removed_files > 0 {
        put("deleted-data-files", removed_files);
        put("deleted-records", removed_rows);
        put("removed-files-size", removed_bytes);
    }
    put("total-data-files", total_files);
    put("total-records", total_rows);
    put("total-delete-files", 0);
    put("total-position-deletes", 0);
    put("total-equality-deletes", 0);
    if parent.is_none() || parent_total_bytes.is_some() {
        put(
            "total-files-size",
            (parent_total_bytes.unwrap_or(0) + added_bytes).saturating_sub(removed_bytes),
        );
    }
    props.insert("manifests-kept".into(), manifests.len().to_string());

    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent.as_ref().map(|p| p.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(timestamp_ms)
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation: change.operation.clone(),
            additional_properties: props,
        })
        .with_schema_id(meta.current_schema_id())
        .build();
    let mut updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN.to_owned(),
            reference: SnapshotReference::new(
                snapshot_id,
                SnapshotRetention::branch(None, None, None),
            ),
        },
    ];
    if !change.properties.is_empty() {
        updates.push(TableUpdate::SetProperties {
            updates: change.properties.clone(),
        });
    }
    if !change.expire.is_empty() {
        updates.push(TableUpdate::RemoveSnapshots {
            snapshot_ids: change.expire.clone(),
        });
    }
    Ok(Produced {
        snapshot_id,
        requirements: vec![
            TableRequirement::UuidMatch { uuid: meta.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN.to_owned(),
                snapshot_id: parent.as_ref().map(|p| p.snapshot_id()),
            },
        ],
        updates,
        manifests: manifests.len(),
    })
}

pub const MAIN: &str = "main";

/// The manifest list of `snapshot`.
pub async fn load_manifest_list(
    table: &Table,
    snapshot: &Snapshot,
) -> Result<ManifestList, iceberg::Error> {
    let bytes = table
        .file_io()
        .new_input(snapshot.manifest_list())?
        .read()
        .await?;
    ManifestList::parse_with_version(
        &bytes,
        FormatVersion::V2.max(table.metadata().format_version()),
    )
}

/// Packs manifests, in order, into bins of at most `target` bytes (a manifest larger
/// than the target gets a bin of its own).
fn pack(manifests: Vec<ManifestFile>, target: i64) -> Vec<Vec<ManifestFile>> {
    let mut bins: Vec<Vec<ManifestFile>> = Vec::new();
    let mut size = 0;
    for m in manifests {
        match bins.last_mut() {
            Some(bin) if size + m.manifest_length <= target => {
                size += m.manifest_length;
                bin.push(m);
            }
            _ => {
                size = m.manifest_length;
                bins.push(vec![m]);
            }
        }
    }
    bins
}

/// A positive snapshot id no snapshot of the table has (as iceberg-rust makes them).
fn unique_snapshot_id(table: &Table) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) & (i64::MAX as u64)) as i64;
        if id != 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// Every live data file of the table's current snapshot, with its manifest's data.
pub async fn live_files(table: &Table) -> Result<Vec<LiveFile>, iceberg::Error> {
    let Some(current) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = load_manifest_list(table, current).await?;
    let mut files = Vec::new();
    for mf in list.entries() {
        if mf.content != ManifestContentType::Data {
            continue;
        }
        let manifest = mf.load_manifest(table.file_io()).await?;
        for e in manifest.entries() {
            if e.is_alive() {
                files.push(LiveFile {
                    file: Arc::new(e.data_file().clone()),
                    status: e.status(),
                });
            }
        }
    }
    Ok(files)
}

/// A live data file of the current snapshot.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub file: Arc<DataFile>,
    pub status: ManifestStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mf(len: i64) -> ManifestFile {
        ManifestFile {
            manifest_path: format!("m{len}"),
            manifest_length: len,
            partition_spec_id: 0,
            content: ManifestContentType::Data,
            sequence_number: 1,
            min_sequence_number: 1,
            added_snapshot_id: 1,
            added_files_count: Some(1),
            existing_files_count: Some(0),
            deleted_files_count: Some(0),
            added_rows_count: Some(1),
            existing_rows_count: Some(0),
            deleted_rows_count: Some(0),
            partitions: None,
            key_metadata: None,
            first_row_id: None,
        }
    }

    #[test]
    fn pack_fills_bins_up_to_the_target() {
        let bins = pack(vec![mf(3), mf(4), mf(5), mf(20), mf(1)], 10);
        let sizes: Vec<Vec<i64>> = bins
            .iter()
            .map(|b| b.iter().map(|m| m.manifest_length).collect())
            .collect();
        assert_eq!(sizes, vec![vec![3, 4], vec![5], vec![20], vec![1]]);
    }
}
