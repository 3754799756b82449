//! The two CPU stages of a sync, each on its own: reading a batch from the buffer
//! (SQLite + decoding the stored rows) and encoding it as Parquet, with the encoder's
//! columns on one thread and on every core. Prints ms per batch and rows per second; the
//! sync overlaps the two (and landing and committing) across batches, so its rate is
//! bounded by the slower one.
//!
//!     cargo run --release -p pcmetrics-core --example sync_profile [rows] [batches]

use std::time::Instant;

use pcmetrics_core::buffer::SqliteBuffer;
use pcmetrics_core::encode::ParquetEncoder;
use pcmetrics_core::sample::SyntheticSource;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map_or(86_400, |a| a.parse().expect("rows per batch"));
    let batches: usize = args.next().map_or(5, |a| a.parse().expect("batches"));
    let dir = tempfile::tempdir().unwrap();
    let mut buf = SqliteBuffer::open(&dir.path().join("buffer.db"), u64::MAX / 2).unwrap();
    // Starting at a midnight, so that a batch of a day's samples is one file.
    let samples: Vec<_> = SyntheticSource::new(1_700_006_400_000_000, 1_000_000)
        .take(rows)
        .collect();
    buf.append(&samples).unwrap();
    drop(samples);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut read = Vec::new();
    let mut encode = vec![Vec::new(); 2];
    let mut bytes = 0;
    for _ in 0..batches {
        let t = Instant::now();
        let batch = buf.read_range(1, rows as i64).unwrap();
        read.push(t.elapsed().as_secs_f64());
        for (slot, threads) in [1, cores].into_iter().enumerate() {
            let encoder = ParquetEncoder::new().with_threads(threads);
            let t = Instant::now();
            let files = encoder.encode("host-id", "host", "buffer", &batch).unwrap();
            encode[slot].push(t.elapsed().as_secs_f64());
            assert_eq!(files.iter().map(|f| f.rows).sum::<usize>(), rows);
            bytes = files.iter().map(|f| f.bytes.len()).sum::<usize>();
        }
    }
    let report = |what: &str, secs: &mut Vec<f64>| {
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        println!(
            "{what:<32} {:>8.1} ms per batch of {rows}  {:>9.0} rows/s",
            median * 1e3,
            rows as f64 / median
        );
    };
    report("read (SQLite + decode)", &mut read);
    report("encode, 1 thread", &mut encode[0]);
    report(&format!("encode, {cores} threads"), &mut encode[1]);
    println!(
        "{:<32} {:>8.1} bytes per sample",
        "Parquet (zstd)",
        bytes as f64 / rows as f64
    );
}
