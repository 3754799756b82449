//! Snapshot expiry: snapshots older than `sync.snapshot_retention` leave the metadata.
//!
//! Kept regardless of age: the current snapshot, the newest [`super::MIN_SNAPSHOTS_KEPT`],
//! and every snapshot a branch or tag names. The removal rides on a manifest-rewrite
//! snapshot that requires `main` not to have moved, so a concurrent append makes it plan
//! again rather than act on a stale view. Exactly-once does not depend on the expired snapshots: the
//! per-buffer watermark property carries it.

use std::time::Duration;

use iceberg::spec::SnapshotRef;
use iceberg::table::Table;

use super::MIN_SNAPSHOTS_KEPT;
use crate::commit::{BronzeTable, Change, CommitError, Outcome};

/// What expiry removed: the snapshots, and the table before and after.
#[derive(Debug)]
pub struct Expired {
    pub expired: Vec<SnapshotRef>,
    pub before: Table,
    /// After the commit (in a dry run: `before`, with the expired ones to be ignored).
    pub after: Table,
}

/// The snapshots of `table` to expire at `now_ms`. Nothing when only one is due: the
/// expiry commit adds a snapshot of its own, so expiring a single one would leave the
/// table as it found it, and a run on a table nobody wrote to since must change nothing.
pub fn plan(table: &Table, now_ms: i64, retention: Duration) -> Vec<SnapshotRef> {
    let meta = table.metadata();
    let cutoff = now_ms - retention.as_millis() as i64;
    let mut snapshots: Vec<SnapshotRef> = meta.snapshots().cloned().collect();
    snapshots.sort_by_key(|s| (s.sequence_number(), s.timestamp_ms()));
    let named = named_snapshots(meta);
    let keep_from = snapshots.len().saturating_sub(MIN_SNAPSHOTS_KEPT);
    let expired = snapshots
        .into_iter()
        .enumerate()
        .filter(|(i, s)| {
            *i < keep_from && s.timestamp_ms() < cutoff && !named.contains(&s.snapshot_id())
        })
        .map(|(_, s)| s)
        .collect::<Vec<_>>();
    if expired.len() < 2 {
        Vec::new()
    } else {
        expired
    }
}

/// Snapshots a branch or tag names. iceberg-rust 0.10 has no public accessor for the
/// refs, so they are read from the metadata's own JSON form (once a run).
fn named_snapshots(meta: &iceberg::spec::TableMetadata) -> Vec<i64> {
    let mut named: Vec<i64> = meta.current_snapshot_id().into_iter().collect();
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(meta)
        && let Some(serde_json::Value::Object(refs)) = m.get("refs")
    {
        named.extend(
            refs.values()
                .filter_map(|r| r.get("snapshot-id").and_then(serde_json::Value::as_i64)),
        );
    }
    named
}

/// Expires what [`plan`] says, in one commit that also rewrites the manifests (see
/// [`Change::rewrite_manifests`]); re-planned on the newest table after a conflict.
pub async fn run(
    table: &BronzeTable,
    now_ms: i64,
    retention: Duration,
    dry_run: bool,
) -> Result<Expired, CommitError> {
    let before = table.load_existing().await?;
    if dry_run {
        return Ok(Expired {
            expired: plan(&before, now_ms, retention),
            after: before.clone(),
            before,
        });
    }
    let outcome = table
        .commit_change(before.clone(), |t| {
            let ids: Vec<i64> = plan(t, now_ms, retention)
                .iter()
                .map(|s| s.snapshot_id())
                .collect();
            (!ids.is_empty()).then(|| Change::rewrite_manifests(ids))
        })
        .await?;
    let after = match outcome {
        Outcome::Committed { table, .. } | Outcome::Skipped { table } => table,
    };
    // Everything `before` had that `after` lacks: ours, and any a concurrent maintainer
    // expired meanwhile (files only those named are unreferenced either way).
    let expired = before
        .metadata()
        .snapshots()
        .filter(|s| after.metadata().snapshot_by_id(s.snapshot_id()).is_none())
        .cloned()
        .collect();
    Ok(Expired {
        expired,
        before,
        after,
    })
}
