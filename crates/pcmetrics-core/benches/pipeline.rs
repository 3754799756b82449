//! Throughput and cost of each stage, printed as a table:
//!
//!     cargo bench -p pcmetrics-core --bench pipeline [-- --rows N]
//!
//! - sampler: CPU time per sample of the real `SystemSampler` (thread CPU time from
//!   /proc/thread-self/schedstat, so sleeping and other threads do not count);
//! - buffer: samples appended per second, in transactions of 10 000;
//! - encode: rows per second to zstd Parquet, and bytes per row;
//! - sync: rows per second from the buffer to a committed snapshot on the embedded default,
//!   and on S3 + REST when `scripts/test-stack env` variables are set;
//! - history: a 30-day range of 1 s samples downsampled to 1 000 points.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcmetrics_core::buffer::{Retention, history};
use pcmetrics_core::config::{CatalogSettings, S3Settings, Secret, Settings, StorageSettings};
use pcmetrics_core::encode::ParquetEncoder;
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::{MetricSample, Source, SyntheticSource, SystemSampler};
use pcmetrics_core::sync::Syncer;

/// Syncs every pending sample of `settings`' buffer; returns rows/s, seconds and the report.
fn sync_rows(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    rows: usize,
) -> (f64, f64, pcmetrics_core::sync::SyncReport) {
    let host = HostIdentity::load_or_create(&settings.data_dir).expect("host");
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(settings).expect("buffer")));
    let syncer = Syncer::new(settings.clone(), host, buffer);
    let t = Instant::now();
    let report = runtime.block_on(syncer.sync()).expect("sync");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.rows as usize, rows);
    (rows as f64 / secs, secs, report)
}

/// Storage and catalog of `scripts/test-stack`, when its variables are set.
fn stack_settings() -> Option<(StorageSettings, CatalogSettings)> {
    let var = |k: &str| std::env::var(k).ok();
    Some((
        StorageSettings::S3(S3Settings {
            endpoint: Some(var("PCMETRICS_TEST_S3_ENDPOINT")?),
            region: var("PCMETRICS_TEST_S3_REGION")?,
            bucket: var("PCMETRICS_TEST_S3_BUCKET")?,
            access_key_id: Secret::new(var("PCMETRICS_TEST_S3_KEY_ID")?),
            secret_access_key: Secret::new(var("PCMETRICS_TEST_S3_SECRET")?),
            session_token: None,
            path_style: true,
            allow_http: true,
            ca: None,
        }),
        CatalogSettings::Rest {
            uri: var("PCMETRICS_TEST_REST_URI")?,
            warehouse: None,
            auth: Default::default(),
            headers: Vec::new(),
            ca: None,
        },
    ))
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn row(name: &str, value: String, note: &str) {
    println!("{name:<34} {value:>18}   {note}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200_000);
    println!("pcmetrics pipeline benchmark ({rows} rows; release build recommended)\n");

    // Sampler: warm up, then time samples back to back.
    let mut sampler = SystemSampler::new();
    sampler.next_sample();
    let n = 200;
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut last = MetricSample::default();
    for _ in 0..n {
        last = sampler.next_sample();
    }
    let cpu = thread_cpu() - cpu0;
    let wall = wall0.elapsed();
    row(
        "sampler CPU time per sample",
        format!("{:.0} us", cpu.as_secs_f64() * 1e6 / n as f64),
        &format!(
            "{} cores, {} disks, {} interfaces, {} sensors; {:.3}% of a core at 1 s",
            last.cpu_core_pct.len(),
            last.disks.len(),
            last.networks.len(),
            last.temperatures.len(),
            cpu.as_secs_f64() / n as f64 * 100.0
        ),
    );
    row(
        "sampler wall time per sample",
        format!("{:.0} us", wall.as_secs_f64() * 1e6 / n as f64),
        "",
    );

    // Buffer append.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::embedded(dir.path());
    settings.sync.batch_rows = 100_000;
    let mut buffer = pipeline::open_buffer(&settings).expect("buffer");
    let samples: Vec<MetricSample> = SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
        .take(rows)
        .collect();
    let t = Instant::now();
    for chunk in samples.chunks(10_000) {
        buffer.append(chunk).expect("append");
    }
    let secs = t.elapsed().as_secs_f64();
    row(
        "buffer append",
        format!("{:.0} rows/s", rows as f64 / secs),
        "transactions of 10 000, WAL, synchronous=FULL",
    );
    let db_bytes = std::fs::metadata(dir.path().join("buffer.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.path().join("buffer.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    row(
        "buffer size per sample",
        format!("{:.0} B", db_bytes as f64 / rows as f64),
        "SQLite file + WAL",
    );

    // Encode alone.
    let batch = buffer.read_range(1, rows as i64).expect("read");
    let t = Instant::now();
    let files = ParquetEncoder::new()
        .encode("bench-host", "bench", "bench-buffer", &batch)
        .expect("encode");
    let secs = t.elapsed().as_secs_f64();
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    row(
        "encode to Parquet (zstd)",
        format!("{:.0} rows/s", rows as f64 / secs),
        &format!("{} files", files.len()),
    );
    row(
        "table bytes per sample",
        format!("{:.1} B", bytes as f64 / rows as f64),
        "Parquet, synthetic data",
    );
    drop(buffer);

    // Sync: buffer → landing zone → committed snapshot, on each backend available.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (rps, secs, report) = sync_rows(&runtime, &settings, rows);
    row(
        "sync, embedded default",
        format!("{rps:.0} rows/s"),
        &format!(
            "{} batches, {} files, {secs:.2}s buffer→snapshot",
            report.batches, report.files
        ),
    );
    match stack_settings() {
        Some(stack) => {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut s3 = Settings::embedded(dir.path());
            s3.sync.batch_rows = settings.sync.batch_rows;
            s3.sync.table = format!("bench_{}", std::process::id());
            (s3.storage, s3.catalog) = stack;
            let mut buffer = pipeline::open_buffer(&s3).expect("buffer");
            for chunk in samples.chunks(10_000) {
                buffer.append(chunk).expect("append");
            }
            drop(buffer);
            let (rps, secs, report) = sync_rows(&runtime, &s3, rows);
            row(
                "sync, S3 + REST (test stack)",
                format!("{rps:.0} rows/s"),
                &format!(
                    "{} batches, {} files, {secs:.2}s buffer→snapshot",
                    report.batches, report.files
                ),
            );
        }
        None => row(
            "sync, S3 + REST (test stack)",
            "-".into(),
            "not measured: run `eval \"$(scripts/test-stack env)\"` first",
        ),
    }

    // History: 30 days at 1 s, downsampled to 1 000 points.
    let hist_dir = tempfile::tempdir().expect("temp dir");
    let mut hb =
        pcmetrics_core::buffer::SqliteBuffer::open(&hist_dir.path().join("b.db"), 10_000_000)
            .expect("buffer");
    let now = pcmetrics_core::sample::now_us();
    let month = 30 * 86_400;
    let mut src = SyntheticSource::new(now - month * 1_000_000, 1_000_000);
    let t = Instant::now();
    let mut left = month as usize;
    while left > 0 {
        let chunk: Vec<_> = src.by_ref().take(left.min(50_000)).collect();
        left -= chunk.len();
        hb.append(&chunk).expect("append");
    }
    hb.maintain(
        now,
        &Retention {
            samples: Duration::from_secs(month as u64 + 86_400),
            rollups: Duration::from_secs(400 * 86_400),
            sampling_interval: Duration::from_secs(1),
        },
    )
    .expect("rollup");
    let fill = t.elapsed().as_secs_f64();
    let metric = history::metric("cpu").expect("metric");
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = hb
            .history(metric, now - month * 1_000_000, now, 1000)
            .expect("history");
        times.push(t.elapsed());
        assert!(s.points.len() >= 999);
    }
    times.sort();
    row(
        "history 30 d of 1 s -> 1000 points",
        format!("{:.1} ms", times[2].as_secs_f64() * 1e3),
        &format!("median of 5; {} samples ({fill:.0}s to load)", month),
    );
}
