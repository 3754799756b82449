//! # Batch identity: how the table knows it already holds a buffer batch
//!
//! Every snapshot pcmetrics appends carries its batch's full identity in the snapshot
//! summary: host, buffer, batch id, seq range, rows, and the moment the buffer opened the
//! batch (µs). The same commit sets two table properties, so the record survives snapshot
//! expiry and compaction (a replace snapshot changes files, never properties):
//! `pcmetrics.watermark.<buffer id>` = the batch's last seq, and
//! `pcmetrics.last-batch.<buffer id>` = `<batch id>@<opened µs>`.
//!
//! A batch is in the table when a snapshot carries exactly its identity, or the properties
//! name it. A batch whose seqs the watermark already covers but that the table does not
//! know is a **diverged timeline**: the data dir was restored from a backup, reverted with
//! a VM snapshot, or copied to a second PC, and its buffer is numbering new samples with
//! seqs the table has from the other timeline. Acking it would silently drop them;
//! [`BatchState::Diverged`] makes the sync move the buffer to a new identity instead
//! (`crate::sync`), after which both timelines are in the table.
//!
//! Snapshots written before the opened moment was recorded are matched on buffer, batch
//! and seq range.

use std::collections::HashMap;

use iceberg::table::Table;

pub const PROP_HOST_ID: &str = "pcmetrics.host-id";
pub const PROP_HOSTNAME: &str = "pcmetrics.hostname";
pub const PROP_BUFFER_ID: &str = "pcmetrics.buffer-id";
pub const PROP_BATCH_ID: &str = "pcmetrics.batch-id";
pub const PROP_FIRST_SEQ: &str = "pcmetrics.first-seq";
pub const PROP_LAST_SEQ: &str = "pcmetrics.last-seq";
pub const PROP_ROWS: &str = "pcmetrics.rows";
pub const PROP_OPENED_US: &str = "pcmetrics.batch-opened-us";
/// Table property prefix: `pcmetrics.watermark.<buffer id>` = last seq delivered.
pub const PROP_WATERMARK_PREFIX: &str = "pcmetrics.watermark.";
/// Table property prefix: `pcmetrics.last-batch.<buffer id>` = `<batch id>@<opened µs>`.
pub const PROP_LAST_BATCH_PREFIX: &str = "pcmetrics.last-batch.";

/// The identity of one buffer batch, as recorded in the snapshot summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchKey {
    pub host_id: String,
    pub buffer_id: String,
    pub batch_id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// When the buffer opened the batch (µs since the epoch): two timelines of one buffer
    /// (a restored or copied data dir) never open a batch at the same microsecond.
    pub opened_us: i64,
}

/// Whether the table holds a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    /// Not in the table: append it.
    New,
    /// In the table: the snapshot that carries it while it is in the history, else the
    /// current snapshot.
    Committed(i64),
    /// The table has this buffer's seqs up to `watermark`, covering the batch, but not the
    /// batch: another timeline of the same buffer delivered them.
    Diverged { watermark: i64 },
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
            (PROP_OPENED_US.into(), self.opened_us.to_string()),
        ])
    }

    /// Whether a snapshot summary carries this batch: the same buffer, batch and seq
    /// range, opened at the same moment (when the summary records it).
    fn matches(&self, summary: &HashMap<String, String>) -> bool {
        let is = |k: &str, v: String| summary.get(k) == Some(&v);
        is(PROP_BUFFER_ID, self.buffer_id.clone())
            && is(PROP_BATCH_ID, self.batch_id.to_string())
            && is(PROP_FIRST_SEQ, self.first_seq.to_string())
            && is(PROP_LAST_SEQ, self.last_seq.to_string())
            && summary
                .get(PROP_OPENED_US)
                .is_none_or(|v| *v == self.opened_us.to_string())
    }

    /// Table property holding the last seq of this buffer that the table has.
    pub fn watermark_property(&self) -> String {
        format!("{PROP_WATERMARK_PREFIX}{}", self.buffer_id)
    }

    /// Table property naming the last batch of this buffer that the table has.
    pub fn last_batch_property(&self) -> String {
        format!("{PROP_LAST_BATCH_PREFIX}{}", self.buffer_id)
    }

    /// The value of [`Self::last_batch_property`] for this batch.
    pub fn last_batch_value(&self) -> String {
        format!("{}@{}", self.batch_id, self.opened_us)
    }

    /// The table properties an append of this batch sets, in the same commit.
    pub fn properties(&self) -> HashMap<String, String> {
        HashMap::from([
            (self.watermark_property(), self.last_seq.to_string()),
            (self.last_batch_property(), self.last_batch_value()),
        ])
    }
}

/// Whether the table holds `key`'s batch (see the module docs).
pub fn batch_state(table: &Table, key: &BatchKey) -> BatchState {
    if let Some(id) = snapshot_carrying(table, key) {
        return BatchState::Committed(id);
    }
    let props = table.metadata().properties();
    let Some(watermark) = props
        .get(&key.watermark_property())
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return BatchState::New;
    };
    if watermark < key.first_seq {
        return BatchState::New;
    }
    let current = table.metadata().current_snapshot_id().unwrap_or_default();
    match props.get(&key.last_batch_property()) {
        // The last batch of this buffer, its snapshot expired since.
        Some(v) if *v == key.last_batch_value() && watermark == key.last_seq => {
            BatchState::Committed(current)
        }
        Some(_) => BatchState::Diverged { watermark },
        // Written before batches were named in the properties: the seq range decides.
        None if watermark >= key.last_seq => BatchState::Committed(current),
        None => BatchState::Diverged { watermark },
    }
}

/// The snapshot carrying `key`'s batch, if the table holds it.
pub fn committed_snapshot(table: &Table, key: &BatchKey) -> Option<i64> {
    match batch_state(table, key) {
        BatchState::Committed(id) => Some(id),
        BatchState::New | BatchState::Diverged { .. } => None,
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
