//! Criterion benches of the hot paths: one sample through the buffer codec, batched
//! appends, Parquet encoding of a batch, and a 30-day history query.
//!
//!     cargo bench -p pcmetrics-core --bench hot_paths

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pcmetrics_core::buffer::{Retention, SqliteBuffer, history};
use pcmetrics_core::encode::ParquetEncoder;
use pcmetrics_core::sample::{MetricSample, SyntheticSource};

const T0: i64 = 1_700_000_000_000_000;

fn samples(n: usize) -> Vec<MetricSample> {
    SyntheticSource::new(T0, 1_000_000).take(n).collect()
}

fn buffer_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer");
    let batch = samples(10_000);
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("append 10k (one transaction)", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let buf = SqliteBuffer::open(&dir.path().join("b.db"), 100_000_000).unwrap();
                (dir, buf)
            },
            |(dir, mut buf)| {
                buf.append(&batch).unwrap();
                (dir, buf)
            },
            BatchSize::PerIteration,
        )
    });
    {
        // Not timed: the buffer's size per sample on disk (after the checkpoint on close).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        SqliteBuffer::open(&path, 100_000_000)
            .unwrap()
            .append(&batch)
            .unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        println!(
            "buffer: {:.0} bytes per sample on disk ({bytes} bytes for {} samples)",
            bytes as f64 / batch.len() as f64,
            batch.len()
        );
    }
    let one = samples(1);
    let dir = tempfile::tempdir().unwrap();
    let mut buf = SqliteBuffer::open(&dir.path().join("b.db"), 100_000_000).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("append 1 (fsync'd, as the sampler does)", |b| {
        b.iter(|| buf.append(&one).unwrap())
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let rows: Vec<(i64, MetricSample)> = samples(100_000)
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i as i64, s))
        .collect();
    let encoder = ParquetEncoder::new();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10);
    g.bench_function("100k rows to Parquet (zstd)", |b| {
        b.iter(|| encoder.encode("h", "pc", "b", &rows).unwrap())
    });
    g.finish();
}

fn history_query(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut buf = SqliteBuffer::open(&dir.path().join("b.db"), 100_000_000).unwrap();
    let month = 30 * 86_400;
    let mut src = SyntheticSource::new(T0, 1_000_000);
    for _ in 0..(month / 50_000 + 1) {
        let chunk: Vec<_> = src.by_ref().take(50_000).collect();
        buf.append(&chunk).unwrap();
    }
    let end = T0 + month * 1_000_000;
    buf.maintain(
        end,
        &Retention {
            samples: Duration::from_secs(400 * 86_400),
            rollups: Duration::from_secs(400 * 86_400),
            sampling_interval: Duration::from_secs(1),
        },
    )
    .unwrap();
    let cpu = history::metric("cpu").unwrap();
    let mut g = c.benchmark_group("history");
    g.sample_size(20);
    g.bench_function("30 days of 1 s samples -> 1000 points", |b| {
        b.iter(|| buf.history(cpu, T0, end, 1000).unwrap())
    });
    g.bench_function("1 hour of 1 s samples -> 1000 points", |b| {
        b.iter(|| buf.history(cpu, end - 3_600_000_000, end, 1000).unwrap())
    });
    g.finish();
}

criterion_group!(benches, buffer_append, encode, history_query);
criterion_main!(benches);
