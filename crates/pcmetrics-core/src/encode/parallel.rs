//! One Parquet file from one `RecordBatch`, its column chunks encoded on every core.
//!
//! Encoding (levels, dictionaries, zstd) is most of a sync's CPU time, and a column
//! chunk's bytes depend only on that column: the parquet crate's own
//! [`ArrowColumnWriter`] encodes one leaf column by itself, and the chunks are then
//! written in schema order. The file is byte for byte what a one-thread [`ArrowWriter`]
//! writes (a test holds it to that), so readers, statistics and file sizes do not change.

use std::sync::Mutex;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, compute_leaves,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;

/// Below this many rows a file is encoded on the calling thread: the threads would cost
/// more than they save (a sync at the default cadence is 300 rows).
const PARALLEL_FROM_ROWS: usize = 8_192;

/// Writes `batch` as one Parquet file into `out` with `props`, on up to `threads` threads.
pub fn write(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    props: &WriterProperties,
    threads: usize,
) -> Result<ParquetMetaData, ParquetError> {
    let writer = ArrowWriter::try_new(&mut *out, batch.schema(), Some(props.clone()))?;
    if threads < 2 || batch.num_rows() < PARALLEL_FROM_ROWS {
        let mut writer = writer;
        writer.write(batch)?;
        return writer.close();
    }
    // The file writer keeps what `ArrowWriter` set up (the Arrow schema in the footer).
    let (mut file, factory) = writer.into_serialized_writer()?;
    let per_group = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let mut offset = 0;
    for group in 0.. {
        if offset >= batch.num_rows() {
            break;
        }
        let rows = per_group.min(batch.num_rows() - offset);
        let part = batch.slice(offset, rows);
        let chunks = encode_columns(factory.create_column_writers(group)?, &part, threads)?;
        let mut row_group = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        offset += rows;
    }
    file.close()
}

/// The column chunks of `batch`, in schema order, encoded by `threads` threads that take
/// the largest remaining column first.
fn encode_columns(
    writers: Vec<ArrowColumnWriter>,
    batch: &RecordBatch,
    threads: usize,
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    let mut work: Vec<(usize, usize, ArrowColumnWriter, ArrowLeafColumn)> =
        Vec::with_capacity(writers.len());
    let mut writers = writers.into_iter();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let leaves = compute_leaves(field, column)?;
        // A leaf's share of its column's memory: the order to take them in.
        let weight = column.get_array_memory_size() / leaves.len().max(1);
        for leaf in leaves {
            let writer = writers.next().ok_or_else(|| {
                ParquetError::General("fewer column writers than leaf columns".into())
            })?;
            work.push((work.len(), weight, writer, leaf));
        }
    }
    // Popped from the end: heaviest last in the vector.
    work.sort_by_key(|w| w.1);
    let count = work.len();
    let queue = Mutex::new(work);
    let done = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(count).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = queue.lock().expect("column queue").pop();
                        let Some((index, _, mut writer, leaf)) = next else {
                            return Ok::<_, ParquetError>(done);
                        };
                        writer.write(&leaf)?;
                        done.push((index, writer.close()?));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("column encoder panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut chunks: Vec<Option<ArrowColumnChunk>> = (0..count).map(|_| None).collect();
    for (index, chunk) in done.into_iter().flatten() {
        chunks[index] = Some(chunk);
    }
    Ok(chunks
        .into_iter()
        .map(|c| c.expect("every column encoded"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::ParquetEncoder;
    use crate::sample::SyntheticSource;

    #[test]
    fn the_file_is_the_one_thread_file() {
        let rows: Vec<_> = SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
            .take(20_000)
            .enumerate()
            .map(|(i, s)| (i as i64 + 1, s))
            .collect();
        let refs: Vec<_> = rows.iter().collect();
        let batch = crate::encode::to_record_batch("h", "host", "b", &refs).unwrap();
        let encoder = ParquetEncoder::new();
        let batch = encoder.layout().project(&batch).unwrap();
        // Two row groups, to cover the loop over groups too.
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(12_000))
            .build();
        let (mut one, mut many) = (Vec::new(), Vec::new());
        let a = write(&mut one, &batch, &props, 1).unwrap();
        let b = write(&mut many, &batch, &props, 3).unwrap();
        assert_eq!(a.num_row_groups(), 2);
        assert_eq!(one, many, "the same bytes whatever the thread count");
        assert_eq!(b.file_metadata().num_rows(), 20_000);
    }
}
