//! # Batch identity: how the table knows it already holds a buffer batch
//!
//! Every snapshot pcmetrics appends carries its batch's identity in the snapshot summary,
//! and the same commit sets the table property `pcmetrics.watermark.<buffer id>` to the
//! batch's last seq, so the record survives snapshot expiry and compaction (a replace
//! snapshot changes files, never the watermark).

use std::collections::HashMap;

use iceberg::table::Table;

pub const PROP_HOST_ID: &str = "pcmetrics.host-id";
pub const PROP_HOSTNAME: &str = "pcmetrics.hostname";
pub const PROP_BUFFER_ID: &str = "pcmetrics.buffer-id";
pub const PROP_BATCH_ID: &str = "pcmetrics.batch-id";
pub const PROP_FIRST_SEQ: &str = "pcmetrics.first-seq";
pub const PROP_LAST_SEQ: &str = "pcmetrics.last-seq";
pub const PROP_ROWS: &str = "pcmetrics.rows";
/// Table property prefix: `pcmetrics.watermark.<buffer id>` = last seq delivered.
pub const PROP_WATERMARK_PREFIX: &str = "pcmetrics.watermark.";

/// The identity of one buffer batch, as recorded in the snapshot summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchKey {
    pub host_id: String,
    pub buffer_id: String,
    pub batch_id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
}

impl BatchKey {
    /// The name stem of this batch's files (the landing zone adds the day; the table's
    /// files add the day and an attempt id, so a retry never overwrites a file another
    /// commit may name).
    pub fn file_stem(&self) -> String {
        let buf: String = self
            .buffer_id
            .chars()
            .filter(|c| *c != '-')
            .take(8)
            .collect();
        format!(
            "{}-{buf}-b{:08}-s{}-{}",
            self.host_id, self.batch_id, self.first_seq, self.last_seq
        )
    }

    pub(crate) fn summary(&self, hostname: &str, rows: usize) -> HashMap<String, String> {
        HashMap::from([
            (PROP_HOST_ID.into(), self.host_id.clone()),
            (PROP_HOSTNAME.into(), hostname.into()),
            (PROP_BUFFER_ID.into(), self.buffer_id.clone()),
            (PROP_BATCH_ID.into(), self.batch_id.to_string()),
            (PROP_FIRST_SEQ.into(), self.first_seq.to_string()),
            (PROP_LAST_SEQ.into(), self.last_seq.to_string()),
            (PROP_ROWS.into(), rows.to_string()),
        ])
    }

    fn matches(&self, summary: &HashMap<String, String>) -> bool {
        summary.get(PROP_BUFFER_ID) == Some(&self.buffer_id)
            && summary.get(PROP_BATCH_ID).map(String::as_str) == Some(&self.batch_id.to_string())
    }

    /// Table property holding the last seq of this buffer that the table has.
    pub fn watermark_property(&self) -> String {
        format!("{PROP_WATERMARK_PREFIX}{}", self.buffer_id)
    }
}

/// Whether the table holds `key`'s batch: the buffer's watermark property (set in the
/// same commit as every append, so it survives snapshot expiry) has reached the batch's
/// last seq, or a snapshot on `main` carries the batch. Returns the snapshot that carries
/// it while it is still in the history, else the current snapshot.
pub fn committed_snapshot(table: &Table, key: &BatchKey) -> Option<i64> {
    let watermark = table
        .metadata()
        .properties()
        .get(&key.watermark_property())
        .and_then(|v| v.parse::<i64>().ok());
    match snapshot_carrying(table, key) {
        Some(id) => Some(id),
        None if watermark.is_some_and(|w| w >= key.last_seq) => {
            Some(table.metadata().current_snapshot_id().unwrap_or_default())
        }
        None => None,
    }
}

/// The snapshot on `main` whose summary names `key`'s batch.
fn snapshot_carrying(table: &Table, key: &BatchKey) -> Option<i64> {
    let meta = table.metadata();
    let mut snapshot = meta.current_snapshot().cloned();
    while let Some(s) = snapshot {
        if key.matches(&s.summary().additional_properties) {
            return Some(s.snapshot_id());
        }
        snapshot = s
            .parent_snapshot_id()
            .and_then(|p| meta.snapshot_by_id(p).cloned());
    }
    None
}
