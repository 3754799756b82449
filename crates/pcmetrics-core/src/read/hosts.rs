//! The PCs in the table: host id, host name, first and last sample, rows, files.
//!
//! Answered from the manifests alone: pcmetrics writes one PC per data file, so each
//! file's `host_id` bounds name its PC, its `ts` bounds give its time range, its record
//! count its rows, and its `hostname` bounds the PC's name. A year of a fleet is answered
//! without opening a data file. Files that mix PCs (another engine's) make it fall back
//! to scanning the three columns.

use std::collections::BTreeMap;

use iceberg::spec::{DataFile, PrimitiveLiteral};
use serde::Serialize;

use crate::commit::snapshot::live_files;
use crate::commit::{BronzeTable, CommitError};
use crate::encode::schema::TS_FIELD_ID;

const HOST_ID_FIELD: i32 = 1;
const HOSTNAME_FIELD: i32 = 2;

/// One PC of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSummary {
    pub host_id: String,
    /// Its name in its newest rows (PCs get renamed).
    pub hostname: String,
    pub rows: u64,
    pub files: u64,
    /// First and last sample, µs since the epoch.
    pub first_us: i64,
    pub last_us: i64,
}

fn string_bound(f: &DataFile, id: i32) -> Option<String> {
    let lo = f.lower_bounds().get(&id)?;
    let hi = f.upper_bounds().get(&id)?;
    match (lo.literal(), hi.literal()) {
        (PrimitiveLiteral::String(a), PrimitiveLiteral::String(b)) if a == b => Some(a.clone()),
        _ => None,
    }
}

fn ts_bounds(f: &DataFile) -> Option<(i64, i64)> {
    match (
        f.lower_bounds().get(&TS_FIELD_ID)?.literal(),
        f.upper_bounds().get(&TS_FIELD_ID)?.literal(),
    ) {
        (PrimitiveLiteral::Long(a), PrimitiveLiteral::Long(b)) => Some((*a, *b)),
        _ => None,
    }
}

/// The PCs in the table, by host name then id. Empty when the table does not exist yet.
pub async fn hosts(table: &BronzeTable) -> Result<Vec<HostSummary>, CommitError> {
    let Some(t) = table.load().await? else {
        return Ok(Vec::new());
    };
    let files = live_files(&t).await.map_err(|e| table.err(e))?;
    let mut by_host: BTreeMap<String, (HostSummary, i64)> = BTreeMap::new();
    for live in &files {
        let f = &live.file;
        let (Some(host_id), Some((first, last))) = (string_bound(f, HOST_ID_FIELD), ts_bounds(f))
        else {
            return scan(table, &t).await;
        };
        // A PC renamed within a compacted day has two names in one file: the later
        // files carry the new one.
        let hostname = string_bound(f, HOSTNAME_FIELD).unwrap_or_default();
        let (h, newest) = by_host.entry(host_id.clone()).or_insert_with(|| {
            (
                HostSummary {
                    host_id,
                    hostname: hostname.clone(),
                    rows: 0,
                    files: 0,
                    first_us: first,
                    last_us: last,
                },
                last,
            )
        });
        h.rows += f.record_count();
        h.files += 1;
        h.first_us = h.first_us.min(first);
        h.last_us = h.last_us.max(last);
        if last >= *newest && !hostname.is_empty() {
            *newest = last;
            h.hostname = hostname;
        }
    }
    Ok(sorted(by_host.into_values().map(|(h, _)| h).collect()))
}

fn sorted(mut hosts: Vec<HostSummary>) -> Vec<HostSummary> {
    hosts.sort_by(|a, b| (&a.hostname, &a.host_id).cmp(&(&b.hostname, &b.host_id)));
    hosts
}

/// The slow path: read `host_id`, `hostname` and `ts` of every row.
async fn scan(
    table: &BronzeTable,
    t: &iceberg::table::Table,
) -> Result<Vec<HostSummary>, CommitError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    let batches = super::scan(table, t, &["host_id", "hostname", "ts"], None).await?;
    let mut by_host: BTreeMap<String, (HostSummary, i64)> = BTreeMap::new();
    for b in &batches {
        let ids = b.column(0).as_string::<i32>();
        let names = b.column(1).as_string::<i32>();
        let ts = b.column(2).as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let t = ts.value(i);
            let (h, newest) = by_host.entry(ids.value(i).to_owned()).or_insert_with(|| {
                (
                    HostSummary {
                        host_id: ids.value(i).to_owned(),
                        hostname: names.value(i).to_owned(),
                        rows: 0,
                        files: 0,
                        first_us: t,
                        last_us: t,
                    },
                    t,
                )
            });
            h.rows += 1;
            h.first_us = h.first_us.min(t);
            h.last_us = h.last_us.max(t);
            if t >= *newest {
                *newest = t;
                h.hostname = names.value(i).to_owned();
            }
        }
    }
    Ok(sorted(by_host.into_values().map(|(h, _)| h).collect()))
}
