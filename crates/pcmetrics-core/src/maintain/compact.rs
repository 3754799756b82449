//! Compaction: every closed UTC day ends up as one data file per PC.
//!
//! A day at the default cadence is 288 syncs, so 288 small files per PC; a scan of one
//! hour would open all of them, and every manifest would carry an entry for each. Two
//! kinds of group are rewritten:
//!
//! - **closed days**: once a day has ended `maintenance.compact_after` ago, the live
//!   files of each (PC, day) become one file;
//! - **closed hours of the open day**: until then, the files of each (PC, hour) become one
//!   file once the hour has ended [`HOUR_SETTLE`] ago, so the open day holds about one
//!   file per hour per PC instead of one per sync. With 20 PCs on one table this is what
//!   keeps the manifests (and so every sync and every read) small.
//!
//! A group's files are read, concatenated, sorted by `(ts, seq)`, written as one file
//! through the same encoder the sync uses, and swapped in by one `replace` snapshot for
//! every group of the run. Rows, values and statistics are those of the inputs (the row
//! count is checked before anything is committed). Samples that arrive later (a PC
//! offline for days) make a second file, merged in by the next run. Each sample is
//! rewritten at most twice (hour, then day). Files of another shape (written by another
//! engine) are left alone.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::Array;
use arrow_ord::sort::{SortColumn, lexsort_to_indices};
use iceberg::spec::{DataFile, Literal, PrimitiveLiteral};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::MaintenanceReport;
use crate::commit::snapshot::live_files;
use crate::commit::{BronzeTable, Change, CommitError, Outcome};
use crate::encode::ParquetEncoder;
use crate::encode::schema::TS_FIELD_ID;

/// Most groups one run rewrites, so a run stays short even on a table that predates
/// compaction; the next runs go on where it stopped.
pub const MAX_GROUPS_PER_RUN: usize = 64;

/// How long after an hour ends its files are rolled up (the sync that holds the hour's
/// last samples has usually landed by then; a later one is merged by the next run).
pub const HOUR_SETTLE: Duration = Duration::from_secs(15 * 60);

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The live files of one PC on one closed day, or in one closed hour of a day that is
/// still open.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub day: i32,
    /// The hour of the day (0..24) for a roll-up of the open day; `None` for a whole day.
    pub hour: Option<u8>,
    pub host_id: String,
    pub files: Vec<Arc<DataFile>>,
}

/// The PC a data file belongs to: its `host_id` bounds, when they name one PC.
fn host_of(f: &DataFile) -> Option<String> {
    let lo = f.lower_bounds().get(&1)?;
    let hi = f.upper_bounds().get(&1)?;
    match (lo.literal(), hi.literal()) {
        (PrimitiveLiteral::String(a), PrimitiveLiteral::String(b)) if a == b => Some(a.clone()),
        _ => None,
    }
}

/// The `ts_day` partition of a data file.
fn day_of(f: &DataFile) -> Option<i32> {
    match f.partition().fields().first()? {
        Some(Literal::Primitive(PrimitiveLiteral::Int(d))) => Some(*d),
        _ => None,
    }
}

/// The hour of the day (0..24) of a data file's first sample, from its `ts` lower bound.
fn hour_of(f: &DataFile, day: i32) -> Option<u8> {
    match f.lower_bounds().get(&TS_FIELD_ID)?.literal() {
        PrimitiveLiteral::Long(us) => {
            let into_day_ms = us / 1000 - i64::from(day) * DAY_MS;
            (0..DAY_MS)
                .contains(&into_day_ms)
                .then_some((into_day_ms / HOUR_MS) as u8)
        }
        _ => None,
    }
}

/// The groups worth compacting: closed days, and closed hours of days not yet closed,
/// with more than one file of a PC (only `only_host`'s with the `own` role); whole days
/// first, oldest first, at most [`MAX_GROUPS_PER_RUN`].
pub fn plan(
    files: &[Arc<DataFile>],
    now_ms: i64,
    compact_after: Duration,
    only_host: Option<&str>,
) -> Vec<Group> {
    // Keyed (open day?, day, hour, host): whole days sort first.
    type Key = (bool, i32, Option<u8>, String);
    let mut groups: BTreeMap<Key, Vec<Arc<DataFile>>> = BTreeMap::new();
    for f in files {
        let (Some(day), Some(host)) = (day_of(f), host_of(f)) else {
            continue;
        };
        if only_host.is_some_and(|h| h != host) {
            continue;
        }
        let day_closed_at = (i64::from(day) + 1) * DAY_MS + compact_after.as_millis() as i64;
        let key = if day_closed_at <= now_ms {
            (false, day, None, host)
        } else {
            let Some(hour) = hour_of(f, day) else {
                continue;
            };
            let hour_closed_at = i64::from(day) * DAY_MS
                + (i64::from(hour) + 1) * HOUR_MS
                + HOUR_SETTLE.as_millis() as i64;
            if hour_closed_at > now_ms {
                continue;
            }
            (true, day, Some(hour), host)
        };
        groups.entry(key).or_default().push(f.clone());
    }
    groups
        .into_iter()
        .filter(|(_, files)| files.len() > 1)
        .take(MAX_GROUPS_PER_RUN)
        .map(|((_, day, hour, host_id), files)| Group {
            day,
            hour,
            host_id,
            files,
        })
        .collect()
}

/// Plans and (unless `dry_run`) compacts, committing one replace snapshot.
pub async fn run(
    table: &BronzeTable,
    now_ms: i64,
    compact_after: Duration,
    only_host: Option<&str>,
    dry_run: bool,
    fail_point: Option<super::Step>,
    report: &mut MaintenanceReport,
) -> Result<(), CommitError> {
    let base = table.load_existing().await?;
    let live: Vec<Arc<DataFile>> = live_files(&base)
        .await
        .map_err(|e| table.err(e))?
        .into_iter()
        .map(|f| f.file)
        .collect();
    let groups = plan(&live, now_ms, compact_after, only_host);
    if groups.is_empty() {
        return Ok(());
    }
    if dry_run {
        for g in &groups {
            report.count_group(g);
            report.files_compacted += g.files.len() as u64;
            report.rows_compacted += g.files.iter().map(|f| f.record_count()).sum::<u64>();
        }
        return Ok(());
    }
    let encoder = ParquetEncoder::new().with_layout(table.layout().await?);
    let mut removed = HashSet::new();
    let mut added = Vec::new();
    let mut rows = 0;
    let mut done = Vec::new();
    for g in &groups {
        match rewrite(table, &base, &encoder, g).await {
            Ok(file) => {
                removed.extend(g.files.iter().map(|f| f.file_path().to_owned()));
                rows += file.record_count();
                added.push(file);
                done.push(g);
            }
            Err(e) => report.warnings.push(format!(
                "compaction of {} on day {}{}: {e}",
                g.host_id,
                crate::encode::day_string(g.day),
                g.hour.map_or(String::new(), |h| format!(" {h:02}:00"))
            )),
        }
    }
    if added.is_empty() {
        return Ok(());
    }
    super::reached(fail_point, super::Step::Compacted);
    let change = Change::replace(removed.clone(), added);
    match table.commit_change(base, |_| Some(change.clone())).await? {
        Outcome::Committed { .. } => {
            for g in done {
                report.count_group(g);
            }
            report.files_compacted += removed.len() as u64;
            report.rows_compacted += rows;
        }
        Outcome::Skipped { .. } => {}
    }
    Ok(())
}

/// Reads a group's files, sorts their rows by `(ts, seq)` and writes them as one file.
async fn rewrite(
    table: &BronzeTable,
    base: &iceberg::table::Table,
    encoder: &ParquetEncoder,
    group: &Group,
) -> Result<DataFile, CommitError> {
    let fail = |message: String| CommitError::Write {
        location: group.files[0].file_path().to_owned(),
        message,
    };
    let mut batches = Vec::new();
    for f in &group.files {
        let bytes = base
            .file_io()
            .new_input(f.file_path())
            .map_err(|e| table.err(e))?
            .read()
            .await
            .map_err(|e| table.err(e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| fail(format!("{}: {e}", f.file_path())))?;
        for b in reader {
            let b = b.map_err(|e| fail(format!("{}: {e}", f.file_path())))?;
            // Files from before a column was added get it as nulls.
            let b = encoder
                .layout()
                .conform(&b)
                .map_err(|why| fail(format!("{}: {why}; left as it is", f.file_path())))?;
            batches.push(b);
        }
    }
    let all = arrow_select::concat::concat_batches(&encoder.layout().arrow, &batches)
        .map_err(|e| fail(e.to_string()))?;
    let expected: u64 = group.files.iter().map(|f| f.record_count()).sum();
    if all.num_rows() as u64 != expected {
        return Err(fail(format!(
            "read {} rows where the manifests say {expected}; left as it is",
            all.num_rows()
        )));
    }
    let column = |name: &str| all.column_by_name(name).expect("table column").clone();
    let order = lexsort_to_indices(
        &[
            SortColumn {
                values: column("ts"),
                options: None,
            },
            SortColumn {
                values: column("seq"),
                options: None,
            },
        ],
        None,
    )
    .map_err(|e| fail(e.to_string()))?;
    let sorted =
        arrow_select::take::take_record_batch(&all, &order).map_err(|e| fail(e.to_string()))?;
    debug_assert_eq!(sorted.column(0).null_count(), 0);
    let (bytes, stats) = encoder
        .encode_batch(&sorted)
        .map_err(|e| fail(e.to_string()))?;
    let name = format!(
        "{}-compact-{}",
        group.host_id,
        uuid::Uuid::new_v4().simple()
    );
    table
        .write_data_file(base, group.day, &name, bytes, sorted.num_rows(), &stats)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Datum, Struct};
    use std::collections::HashMap;

    /// A file of `host` whose first sample is at `minute` of `day`.
    fn file_at(path: &str, host: &str, day: i32, minute: i64) -> Arc<DataFile> {
        let ts_us = (i64::from(day) * DAY_MS + minute * 60_000) * 1000;
        Arc::new(
            DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(path.to_owned())
                .file_format(DataFileFormat::Parquet)
                .partition(Struct::from_iter([Some(Literal::date(day))]))
                .record_count(1)
                .file_size_in_bytes(1)
                .lower_bounds(HashMap::from([
                    (1, Datum::string(host)),
                    (TS_FIELD_ID, Datum::timestamptz_micros(ts_us)),
                ]))
                .upper_bounds(HashMap::from([(1, Datum::string(host))]))
                .build()
                .unwrap(),
        )
    }

    fn file(path: &str, host: &str, day: i32) -> Arc<DataFile> {
        file_at(path, host, day, 0)
    }

    fn keys(groups: &[Group]) -> Vec<(i32, Option<u8>, &str, usize)> {
        groups
            .iter()
            .map(|g| (g.day, g.hour, g.host_id.as_str(), g.files.len()))
            .collect()
    }

    #[test]
    fn plans_closed_days_per_host() {
        let files = vec![
            file("a1", "a", 10),
            file("a2", "a", 10),
            file("b1", "b", 10),
            file("b2", "b", 10),
            file_at("a3", "a", 11, 30), // open: day 11 has not ended + 2 h
            file_at("a4", "a", 11, 90),
            file("c1", "c", 9), // a single file: nothing to do
        ];
        let now = 12 * DAY_MS + 3_600_000; // day 12, 01:00
        let groups = plan(&files, now, Duration::from_secs(7200), None);
        assert_eq!(keys(&groups), vec![(10, None, "a", 2), (10, None, "b", 2)]);
        let own = plan(&files, now, Duration::from_secs(7200), Some("b"));
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].host_id, "b");
        // Day 11 closes at day 12 02:00.
        let later = plan(
            &files,
            12 * DAY_MS + 7_200_000,
            Duration::from_secs(7200),
            None,
        );
        assert_eq!(
            keys(&later),
            vec![(10, None, "a", 2), (10, None, "b", 2), (11, None, "a", 2)]
        );
    }

    #[test]
    fn rolls_up_closed_hours_of_the_open_day() {
        let day = 20;
        let files = vec![
            file_at("a0", "a", day, 0),
            file_at("a1", "a", day, 5),
            file_at("a2", "a", day, 55), // starts in hour 0, ends in hour 1
            file_at("b0", "b", day, 10),
            file_at("b1", "b", day, 15),
            file_at("a3", "a", day, 65), // hour 1: closes at 02:15
            file_at("a4", "a", day, 70),
            file_at("a5", "a", day, 125), // hour 2: alone and open
        ];
        let at = |minute: i64| i64::from(day) * DAY_MS + minute * 60_000;
        let after = Duration::from_secs(7200);
        // 01:10: hour 0 is not settled yet.
        assert!(plan(&files, at(70), after, None).is_empty());
        // 01:15: hour 0 of both PCs.
        assert_eq!(
            keys(&plan(&files, at(75), after, None)),
            vec![(day, Some(0), "a", 3), (day, Some(0), "b", 2)]
        );
        // 02:15: and hour 1 of a.
        assert_eq!(
            keys(&plan(&files, at(135), after, Some("a"))),
            vec![(day, Some(0), "a", 3), (day, Some(1), "a", 2)]
        );
        // Once the day has closed, the whole day is one group, before open-day hours.
        let mut more = files.clone();
        more.push(file_at("n0", "a", day + 1, 0));
        more.push(file_at("n1", "a", day + 1, 1));
        assert_eq!(
            keys(&plan(
                &more,
                i64::from(day + 1) * DAY_MS + 7_200_000,
                after,
                None
            )),
            vec![
                (day, None, "a", 6),
                (day, None, "b", 2),
                (day + 1, Some(0), "a", 2)
            ]
        );
    }
}
