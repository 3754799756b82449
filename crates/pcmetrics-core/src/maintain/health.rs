//! Table health: the few figures that say whether the table stays small and fast.

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::commit::snapshot::load_manifest_list;
use crate::commit::{BronzeTable, CommitError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableHealth {
    /// Live data files in the current snapshot.
    pub data_files: u64,
    /// Manifests the current snapshot names (what every scan plans over).
    pub manifests: u64,
    /// Snapshots in the metadata.
    pub snapshots: u64,
    /// When the oldest snapshot was committed (ms since the epoch).
    pub oldest_snapshot_ms: Option<i64>,
    /// Rows in the current snapshot.
    pub rows: u64,
    /// Everything under the table's `metadata/`: files and bytes.
    pub metadata_files: u64,
    pub metadata_bytes: u64,
    /// Everything under the table's `data/` (live files and any not collected yet).
    pub stored_data_files: u64,
    pub data_bytes: u64,
}

/// Measures the table (lists its folders and reads the current manifest list); `None`
/// when the table does not exist yet.
pub async fn measure(table: &BronzeTable) -> Result<Option<TableHealth>, CommitError> {
    let Some(t) = table.load().await? else {
        return Ok(None);
    };
    let meta = t.metadata();
    let mut h = TableHealth {
        snapshots: meta.snapshots().count() as u64,
        oldest_snapshot_ms: meta.snapshots().map(|s| s.timestamp_ms()).min(),
        ..Default::default()
    };
    if let Some(current) = meta.current_snapshot() {
        let list = load_manifest_list(&t, current)
            .await
            .map_err(|e| table.err(e))?;
        h.manifests = list.entries().len() as u64;
        for m in list.entries() {
            h.data_files +=
                u64::from(m.added_files_count.unwrap_or(0) + m.existing_files_count.unwrap_or(0));
            h.rows += m.added_rows_count.unwrap_or(0) + m.existing_rows_count.unwrap_or(0);
        }
    }
    let location = meta.location().trim_end_matches('/');
    for (sub, files, bytes) in [
        ("metadata", &mut h.metadata_files, &mut h.metadata_bytes),
        ("data", &mut h.stored_data_files, &mut h.data_bytes),
    ] {
        let root = format!("{location}/{sub}/");
        let (store, prefix) =
            table
                .stores()
                .resolve(&root)
                .map_err(|message| CommitError::Write {
                    location: root.clone(),
                    message,
                })?;
        let mut listed = store.list(Some(&prefix));
        loop {
            match listed.try_next().await {
                Ok(Some(m)) => {
                    *files += 1;
                    *bytes += m.size;
                }
                Ok(None) | Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => {
                    return Err(CommitError::Write {
                        location: root,
                        message: crate::error::describe_store_error(&e),
                    });
                }
            }
        }
    }
    Ok(Some(h))
}
