//! The two CPU stages of a sync, each on its own: reading a batch from the buffer
//! (SQLite + decoding the stored rows into Arrow columns; and, for comparison, into one
//! `MetricSample` per row as the sync did before) and encoding it as Parquet, with the
//! encoder's columns on one thread and on every core. Prints ms per batch and rows per second; the
//! sync overlaps the two (and landing and committing) across batches, so its rate is
//! bounded by the slower one.
//!
//!     cargo run --release -p pcmetrics-core --example sync_profile [rows] [batches]

use std::time::Instant;

use pcmetrics_core::buffer::SqliteBuffer;
use pcmetrics_core::encode::{BatchColumns, ParquetEncoder};
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
    let read_columns = || {
        let mut columns = BatchColumns::with_capacity(rows);
        buf.read_into(1, rows as i64, &mut columns).unwrap();
        columns
    };
    // SQLite alone: step through the batch's rows and touch every column, decoding
    // nothing; the floor under any reading of this buffer layout.
    let conn = rusqlite::Connection::open(dir.path().join("buffer.db")).unwrap();
    let mut sqlite = Vec::new();
    let sqlite_only = || {
        let t = Instant::now();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, ts_us, cpu, load1, load5, load15, mem_total, mem_used, \
                 mem_available, swap_total, swap_used, disk_read, disk_write, net_rx, net_tx, \
                 procs, uptime, detail FROM samples WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
            )
            .unwrap();
        let mut q = stmt.query([1, rows as i64]).unwrap();
        let mut touched = 0usize;
        while let Some(r) = q.next().unwrap() {
            for i in 0..17 {
                touched += usize::from(matches!(
                    r.get_ref(i).unwrap(),
                    rusqlite::types::ValueRef::Null
                ));
            }
            touched += r.get_ref(17).unwrap().as_blob().map_or(0, <[u8]>::len);
        }
        std::hint::black_box(touched);
        t.elapsed().as_secs_f64()
    };
    let mut read_samples = Vec::new();
    let mut read = Vec::new();
    let mut encode = vec![Vec::new(); 2];
    let mut bytes = 0;
    for _ in 0..batches {
        sqlite.push(sqlite_only());
        // What a sync did before it read into columns: one MetricSample per row.
        let t = Instant::now();
        let samples = buf.read_range(1, rows as i64).unwrap();
        read_samples.push(t.elapsed().as_secs_f64());
        drop(samples);
        for (slot, threads) in [1, cores].into_iter().enumerate() {
            let t = Instant::now();
            let columns = read_columns();
            if slot == 0 {
                read.push(t.elapsed().as_secs_f64());
            }
            let encoder = ParquetEncoder::new().with_threads(threads);
            let t = Instant::now();
            let files = encoder
                .encode_columns("host-id", "host", "buffer", columns)
                .unwrap();
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
    report("SQLite alone (step, no decoding)", &mut sqlite);
    report("read into samples (before)", &mut read_samples);
    report("read into columns (sync)", &mut read);
    report("encode, 1 thread", &mut encode[0]);
    report(&format!("encode, {cores} threads"), &mut encode[1]);
    println!(
        "{:<32} {:>8.1} bytes per sample",
        "Parquet (zstd)",
        bytes as f64 / rows as f64
    );
}
