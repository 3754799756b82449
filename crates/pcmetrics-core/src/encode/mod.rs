//! # Encode: rows in, Parquet bytes and statistics out
//!
//! [`ParquetEncoder`] turns a batch of buffered samples into one Parquet file per UTC day
//! the batch spans (the table is partitioned by day), zstd-compressed, with the schema of
//! [`schema::TABLE_SCHEMA`]. It does no I/O. Each [`EncodedFile`] carries the Iceberg
//! column statistics (sizes, counts, bounds) that the commit stage records in the manifest,
//! so the same bytes can go to the landing zone and into the table unchanged.

mod columns;
pub mod decode;
mod parallel;
pub mod schema;

use std::collections::HashMap;

use arrow_array::RecordBatch;
use bytes::Bytes;
use iceberg::spec::Datum;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;

use crate::sample::MetricSample;
use crate::sample::sink::feed;
pub use columns::{BatchColumns, Columns};

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot build the Arrow batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("cannot write Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 (UTC) of a timestamp in microseconds; Iceberg's `day` transform.
pub fn day_of(ts_us: i64) -> i32 {
    ts_us.div_euclid(MICROS_PER_DAY) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i32) -> String {
    chrono::DateTime::from_timestamp(day as i64 * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day{day}"))
}

/// Iceberg column statistics of one Parquet file, keyed by field id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileStats {
    pub column_sizes: HashMap<i32, u64>,
    pub value_counts: HashMap<i32, u64>,
    pub null_value_counts: HashMap<i32, u64>,
    pub lower_bounds: HashMap<i32, Datum>,
    pub upper_bounds: HashMap<i32, Datum>,
    pub split_offsets: Vec<i64>,
}

/// One Parquet file: the rows of a batch that fall on one UTC day.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    /// Days since the epoch (the partition value).
    pub day: i32,
    pub rows: usize,
    pub first_seq: i64,
    pub last_seq: i64,
    pub bytes: Bytes,
    pub stats: FileStats,
}

/// Encodes samples of one host as Parquet, in one table's [`schema::Layout`].
#[derive(Debug, Clone)]
pub struct ParquetEncoder {
    props: WriterProperties,
    layout: schema::Layout,
    /// Threads one file's columns are encoded on (see [`parallel`]).
    threads: usize,
}

impl Default for ParquetEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ParquetEncoder {
    pub fn new() -> Self {
        let layout = schema::Layout::latest().clone();
        Self {
            props: writer_properties(&layout.arrow),
            layout,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Files with the field ids of a table's own layout (`BronzeTable::layout`).
    pub fn with_layout(mut self, layout: schema::Layout) -> Self {
        self.props = writer_properties(&layout.arrow);
        self.layout = layout;
        self
    }

    /// Encodes each file's columns on up to `threads` threads (default: one per core).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn layout(&self) -> &schema::Layout {
        &self.layout
    }

    /// One file per UTC day in `rows`, days ascending, rows in seq order within a file.
    /// `buffer_id` is the buffer the rows come from.
    pub fn encode(
        &self,
        host_id: &str,
        hostname: &str,
        buffer_id: &str,
        rows: &[(i64, MetricSample)],
    ) -> Result<Vec<EncodedFile>, EncodeError> {
        self.encode_columns(
            host_id,
            hostname,
            buffer_id,
            BatchColumns::from_samples(rows),
        )
    }

    /// [`Self::encode`] for rows already in columns (as the sync reads them).
    pub fn encode_columns(
        &self,
        host_id: &str,
        hostname: &str,
        buffer_id: &str,
        rows: BatchColumns,
    ) -> Result<Vec<EncodedFile>, EncodeError> {
        rows.into_days()
            .into_iter()
            .map(|(day, columns)| {
                let (rows, first_seq, last_seq) = (
                    columns.len(),
                    columns.first_seq().unwrap_or(0),
                    columns.last_seq().unwrap_or(0),
                );
                let batch = columns.finish(host_id, hostname, buffer_id)?;
                let batch = self.layout.project(&batch)?;
                let (bytes, stats) = self.encode_batch(&batch)?;
                Ok(EncodedFile {
                    day,
                    rows,
                    first_seq,
                    last_seq,
                    stats,
                    bytes,
                })
            })
            .collect()
    }

    /// One Parquet file of a batch in this encoder's layout, and its statistics.
    /// Compaction writes its files through here too, so they match the synced ones.
    pub fn encode_batch(&self, batch: &RecordBatch) -> Result<(Bytes, FileStats), EncodeError> {
        let mut buf = Vec::with_capacity(batch.num_rows() * 64);
        let metadata = parallel::write(&mut buf, batch, &self.props, self.threads)?;
        Ok((Bytes::from(buf), file_stats(&metadata, &self.layout.schema)))
    }
}

/// zstd level 3, and dictionaries for text columns only. Names (host, disk, interface,
/// sensor) repeat in every row and readers filter on them, so a dictionary serves them;
/// the numbers (percentages, rates, byte counts) rarely repeat exactly, and dictionary
/// pages of them cost time and size for nothing: on synthetic 1 s samples (see
/// `examples/sync_profile.rs`) dictionaries on every column made files of 40.3 B per
/// sample, encoded at 2/3 the speed of this choice's 25.2 B.
fn writer_properties(arrow: &arrow_schema::Schema) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_created_by(format!("pcmetrics {}", env!("CARGO_PKG_VERSION")))
        .set_dictionary_enabled(false);
    // A schema Parquet cannot hold fails here and in the writer; the writer says so.
    if let Ok(descr) = parquet::arrow::ArrowSchemaConverter::new().convert(arrow) {
        for column in descr.columns() {
            if column.physical_type() == parquet::basic::Type::BYTE_ARRAY {
                props = props.set_column_dictionary_enabled(column.path().clone(), true);
            }
        }
    }
    props.build()
}

/// Builds the Arrow batch of `rows` (seq, sample). Column order and types come from
/// [`schema::ARROW_SCHEMA`].
pub fn to_record_batch(
    host_id: &str,
    hostname: &str,
    buffer_id: &str,
    rows: &[&(i64, MetricSample)],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut columns = Columns::with_capacity(rows.len());
    for (seq, s) in rows.iter().copied() {
        feed(&mut columns, *seq, s);
    }
    columns.finish(host_id, hostname, buffer_id)
}

/// Iceberg metrics from the Parquet footer, for top-level primitive columns only: sizes,
/// value and null counts, bounds (the ones engines prune and plan on).
///
/// The 18 leaves inside the per-core, per-disk, per-interface and per-sensor lists get
/// none: no engine prunes on list elements, and their counts were a third of every
/// manifest entry, which with 20 PCs on one table is most of the metadata (Java
/// Iceberg's `write.metadata.metrics.column.<name> = none` does the same for a column).
fn file_stats(metadata: &ParquetMetaData, schema: &iceberg::spec::Schema) -> FileStats {
    let mut stats = FileStats::default();
    for rg in metadata.row_groups() {
        if let Some(offset) = rg.file_offset() {
            stats.split_offsets.push(offset);
        }
        for col in rg.columns() {
            let descr = col.column_descr();
            let info = descr.self_type().get_basic_info();
            // Only top-level columns: their path is just their own name.
            if !info.has_id() || descr.path().parts().len() != 1 {
                continue;
            }
            let id = info.id();
            *stats.column_sizes.entry(id).or_default() += col.compressed_size() as u64;
            *stats.value_counts.entry(id).or_default() += col.num_values() as u64;
            let Some(st) = col.statistics() else { continue };
            if let Some(nulls) = st.null_count_opt() {
                *stats.null_value_counts.entry(id).or_default() += nulls;
            }
            if let Some((lo, hi)) = bounds(schema, id, st) {
                merge_bound(&mut stats.lower_bounds, id, lo, std::cmp::Ordering::Less);
                merge_bound(&mut stats.upper_bounds, id, hi, std::cmp::Ordering::Greater);
            }
        }
    }
    stats
}

fn merge_bound(map: &mut HashMap<i32, Datum>, id: i32, v: Datum, keep_if: std::cmp::Ordering) {
    match map.get(&id) {
        Some(old) if v.partial_cmp(old) != Some(keep_if) => {}
        _ => {
            map.insert(id, v);
        }
    }
}

fn bounds(schema: &iceberg::spec::Schema, id: i32, st: &Statistics) -> Option<(Datum, Datum)> {
    let field = schema.field_by_id(id)?;
    let iceberg::spec::Type::Primitive(ty) = field.field_type.as_ref() else {
        return None;
    };
    use iceberg::spec::PrimitiveType as P;
    match (ty, st) {
        (P::Int, Statistics::Int32(s)) => {
            Some((Datum::int(*s.min_opt()?), Datum::int(*s.max_opt()?)))
        }
        (P::Long, Statistics::Int64(s)) => {
            Some((Datum::long(*s.min_opt()?), Datum::long(*s.max_opt()?)))
        }
        (P::Timestamptz, Statistics::Int64(s)) => Some((
            Datum::timestamptz_micros(*s.min_opt()?),
            Datum::timestamptz_micros(*s.max_opt()?),
        )),
        (P::Float, Statistics::Float(s)) => {
            Some((Datum::float(*s.min_opt()?), Datum::float(*s.max_opt()?)))
        }
        (P::Double, Statistics::Double(s)) => {
            Some((Datum::double(*s.min_opt()?), Datum::double(*s.max_opt()?)))
        }
        (P::String, Statistics::ByteArray(s)) => Some((
            Datum::string(std::str::from_utf8(s.min_opt()?.data()).ok()?),
            Datum::string(std::str::from_utf8(s.max_opt()?.data()).ok()?),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SyntheticSource;
    use arrow_array::Float32Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use schema::ARROW_SCHEMA;

    fn rows(start_us: i64, n: usize) -> Vec<(i64, MetricSample)> {
        SyntheticSource::new(start_us, 60_000_000)
            .take(n)
            .enumerate()
            .map(|(i, s)| (i as i64 + 1, s))
            .collect()
    }

    #[test]
    fn splits_by_utc_day_and_round_trips() {
        // 2023-11-14 22:00 UTC, one sample a minute for 4 hours: crosses midnight.
        let start =
            1_700_000_000_000_000 - (1_700_000_000_000_000 % MICROS_PER_DAY) + 22 * 3_600_000_000;
        let input = rows(start, 240);
        let files = ParquetEncoder::new()
            .encode("h-1", "pc", "b-1", &input)
            .unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].rows, 120);
        assert_eq!(files[1].day, files[0].day + 1);
        assert_eq!((files[0].first_seq, files[1].last_seq), (1, 240));

        let reader = ParquetRecordBatchReaderBuilder::try_new(files[1].bytes.clone())
            .unwrap()
            .build()
            .unwrap();
        let batch = reader.map(Result::unwrap).next().unwrap();
        assert_eq!(batch.num_rows(), 120);
        assert_eq!(batch.schema().fields().len(), ARROW_SCHEMA.fields().len());
        let cpu = batch
            .column_by_name("cpu_total_pct")
            .unwrap()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        assert_eq!(cpu.value(0), input[120].1.cpu_total_pct);
    }

    #[test]
    fn stats_bound_seq_and_ts() {
        let input = rows(1_700_000_000_000_000, 50);
        let f = &ParquetEncoder::new()
            .encode("h", "pc", "b", &input)
            .unwrap()[0];
        assert_eq!(f.stats.lower_bounds[&3], Datum::long(1));
        assert_eq!(f.stats.upper_bounds[&3], Datum::long(50));
        assert_eq!(
            f.stats.lower_bounds[&4],
            Datum::timestamptz_micros(input[0].1.ts_us)
        );
        assert_eq!(f.stats.value_counts[&1], 50);
        assert_eq!(f.stats.null_value_counts[&5], 0);
        assert!(f.stats.column_sizes.values().all(|&s| s > 0));
        // List elements (cores, disks, networks, sensors) carry no metrics.
        let top_level: Vec<i32> = schema::Layout::latest()
            .schema
            .as_struct()
            .fields()
            .iter()
            .filter(|f| f.field_type.is_primitive())
            .map(|f| f.id)
            .collect();
        let mut ids: Vec<i32> = f.stats.column_sizes.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, top_level);
    }

    #[test]
    fn days_before_1970_floor_correctly() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(0), 0);
        assert_eq!(day_string(19_675), "2023-11-14");
    }
}
