//! One suite, two backends: the embedded default (local folder + SQL catalog on SQLite) and
//! S3 + Iceberg REST (the loopback stack of `scripts/test-stack`). Buffer → sync → the
//! table read back through the catalog, value by value; the landing zone; two hosts in one
//! table; the run loop.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::stack::{Stack, unique_table};
use futures::TryStreamExt;
use pcmetrics_core::buffer::SqliteBuffer;
use pcmetrics_core::commit::batch::{PROP_BATCH_ID, PROP_HOST_ID};
use pcmetrics_core::config::{CatalogSettings, Settings, StorageSettings};
use pcmetrics_core::encode::decode::{TableRow, from_record_batch};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::land::{LandingZone, ObjectStores};
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::{MetricSample, SyntheticSource};
use pcmetrics_core::sync::Syncer;

/// 2023-11-14T22:13:20Z: a batch of minute samples from here crosses midnight.
const T0: i64 = 1_700_000_000_000_000;

#[derive(Debug, Clone)]
enum Backend {
    Embedded,
    S3Rest(Stack),
}

impl Backend {
    /// Settings for one host. `table` names the table (the S3 + REST cases share one
    /// catalog, so each test uses its own table).
    fn settings(&self, data_dir: &Path, table: &str, batch_rows: usize) -> Settings {
        let mut s = Settings::embedded(data_dir);
        s.sync.batch_rows = batch_rows;
        if let Backend::S3Rest(stack) = self {
            stack.apply(&mut s, table);
        }
        s
    }
}

/// Runs each named scenario once per backend: `embedded::name` and `s3_rest::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Embedded).await
                }
            )*
        }
        mod s3_rest {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(stack) = super::Stack::from_env() {
                        super::$name(super::Backend::S3Rest(stack)).await
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    every_buffered_value_reads_back_from_the_table_once,
    landing_zone_holds_each_synced_row_once_under_its_layout,
    two_hosts_share_one_table,
    run_samples_syncs_and_flushes_on_shutdown,
    maintenance_bounds_metadata_and_keeps_exactly_once,
);

fn syncer(settings: &Settings) -> (Syncer, Arc<Mutex<SqliteBuffer>>, HostIdentity) {
    let host = HostIdentity::load_or_create(&settings.data_dir).unwrap();
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(settings).unwrap()));
    (
        Syncer::new(settings.clone(), host.clone(), buffer.clone()),
        buffer,
        host,
    )
}

fn append(buffer: &Mutex<SqliteBuffer>, start: i64, step: i64, n: usize) -> Vec<MetricSample> {
    let samples: Vec<_> = SyntheticSource::new(start, step).take(n).collect();
    buffer.lock().unwrap().append(&samples).unwrap();
    samples
}

/// Table rows of one host by seq; fails on a duplicate.
fn by_seq(rows: &[TableRow], host_id: &str) -> HashMap<i64, TableRow> {
    let mut out = HashMap::new();
    for r in rows.iter().filter(|r| r.host_id == host_id) {
        assert!(
            out.insert(r.seq, r.clone()).is_none(),
            "seq {} is in the table twice",
            r.seq
        );
    }
    out
}

async fn every_buffered_value_reads_back_from_the_table_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let settings = backend.settings(dir.path(), &unique_table("values"), 2000);
    let (syncer, buffer, host) = syncer(&settings);
    append(&buffer, T0, 60_000_000, 5000); // ~3.5 days of minute samples

    let progress = Mutex::new(Vec::new());
    let report = syncer
        .sync_with_progress(&|p| progress.lock().unwrap().push((p.rows_done, p.rows_total)))
        .await
        .unwrap();
    // From 22:13:20 UTC: 107 samples to midnight, then 1 440 a day. A batch ends with
    // the UTC day of its first sample, so each is one day and one file.
    assert_eq!((report.rows, report.batches), (5000, 5));
    assert_eq!(
        progress.into_inner().unwrap(),
        [
            (107, 5000),
            (1547, 5000),
            (2987, 5000),
            (4427, 5000),
            (5000, 5000)
        ],
        "one progress report per delivered batch"
    );
    assert_eq!(report.files, 5, "one file per day");
    assert_eq!(report.already_committed, 0);
    assert_eq!(buffer.lock().unwrap().status().unwrap().pending, 0);

    let table = syncer.table().await.unwrap();
    let rows = table.scan_rows().await.unwrap();
    assert_eq!(rows.len(), 5000);
    let got = by_seq(&rows, &host.host_id);
    let want = buffer.lock().unwrap().read_range(1, 5000).unwrap();
    for (seq, sample) in &want {
        let row = &got[seq];
        assert_eq!(&row.sample, sample, "seq {seq}");
        assert_eq!(row.hostname, host.hostname);
    }

    // One append snapshot per batch, each naming its batch and host (the closed days of
    // 2023 were also compacted, in a replace snapshot).
    let t = table.load().await.unwrap().unwrap();
    let mut batch_ids: Vec<String> = t
        .metadata()
        .snapshots()
        .filter(|s| s.summary().operation == iceberg::spec::Operation::Append)
        .map(|s| {
            let p = &s.summary().additional_properties;
            assert_eq!(p[PROP_HOST_ID], host.host_id);
            p[PROP_BATCH_ID].clone()
        })
        .collect();
    batch_ids.sort();
    assert_eq!(batch_ids, ["1", "2", "3", "4", "5"]);

    // Nothing left: a second sync changes nothing.
    let again = syncer.sync().await.unwrap();
    assert_eq!(again.rows, 0);
    assert_eq!(table.scan_rows().await.unwrap().len(), 5000);
}

async fn landing_zone_holds_each_synced_row_once_under_its_layout(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let settings = backend.settings(dir.path(), &unique_table("landing"), 700);
    let (syncer, buffer, host) = syncer(&settings);
    append(&buffer, T0, 60_000_000, 2000);
    let report = syncer.sync().await.unwrap();

    let stores = ObjectStores::new(&settings.storage).unwrap();
    let landing = LandingZone::from_stores(&stores, &settings.sync.landing_prefix).unwrap();
    let host_prefix =
        object_store::path::Path::from(format!("{}/host_id={}", landing.prefix(), host.host_id));
    let listed: Vec<_> = landing
        .store()
        .list(Some(&host_prefix))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len() as u64, report.files);
    let mut seqs = Vec::new();
    for meta in listed {
        // <prefix>/host_id=<id>/date=<day>/<stem>-<day>.parquet
        let key = meta.location.as_ref().to_owned();
        assert!(key.contains("landing/pc_metrics/host_id="), "{key}");
        let parts: Vec<&str> = key.rsplit('/').take(2).collect();
        let (file, date) = (parts[0], parts[1]);
        let day = date
            .strip_prefix("date=")
            .unwrap_or_else(|| panic!("{key}"));
        assert!(file.ends_with(&format!("-{day}.parquet")), "{key}");
        assert!(file.starts_with(&host.host_id), "{key}");

        let bytes = landing
            .store()
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            for r in from_record_batch(&b.unwrap()).unwrap() {
                assert_eq!(
                    pcmetrics_core::encode::day_string(pcmetrics_core::encode::day_of(
                        r.sample.ts_us
                    )),
                    day
                );
                seqs.push(r.seq);
            }
        }
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=2000).collect::<Vec<i64>>(),
        "every synced row once"
    );
}

async fn two_hosts_share_one_table(backend: Backend) {
    let shared = tempfile::tempdir().unwrap();
    let lakehouse = shared.path().join("lakehouse");
    let table = unique_table("hosts");
    let mut hosts = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut s = backend.settings(dir.path(), &table, 1000);
        if let Backend::Embedded = backend {
            // Two PCs sharing one embedded lakehouse, e.g. on a network drive.
            s.storage = StorageSettings::Local {
                root: lakehouse.clone(),
            };
            s.catalog = CatalogSettings::Sql {
                path: lakehouse.join("catalog.db"),
                warehouse: format!("file://{}/warehouse", lakehouse.display()),
            };
        }
        hosts.push((dir, s));
    }
    let mut ids = Vec::new();
    for (i, (_, s)) in hosts.iter().enumerate() {
        let (syncer, buffer, host) = syncer(s);
        append(&buffer, T0 + i as i64 * 7_000_000, 1_000_000, 1500);
        assert_eq!(syncer.sync().await.unwrap().rows, 1500);
        ids.push(host.host_id);
    }
    assert_ne!(ids[0], ids[1]);
    let (syncer, _, _) = syncer(&hosts[0].1);
    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    assert_eq!(rows.len(), 3000);
    for id in &ids {
        assert_eq!(by_seq(&rows, id).len(), 1500);
    }
}

async fn run_samples_syncs_and_flushes_on_shutdown(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = backend.settings(dir.path(), &unique_table("run"), 100_000);
    settings.sampling.interval = Duration::from_millis(250);
    settings.sync.interval = Duration::from_secs(3600);
    let (tx, mut rx) = tokio::sync::broadcast::channel(1024);
    let source = Box::new(SyntheticSource::new(T0, 250_000));
    let report = pipeline::run(
        settings.clone(),
        source,
        tokio::time::sleep(Duration::from_millis(1600)),
        Some(tx),
    )
    .await
    .unwrap();
    assert!((4..=8).contains(&report.samples), "{report:?}");
    assert_eq!(
        report.pending_at_exit, 0,
        "the final sync delivered everything"
    );
    assert_eq!(report.rows_synced, report.samples);

    let mut seen = 0;
    while let Ok(e) = rx.try_recv() {
        if let pipeline::Event::Sample { .. } = e {
            seen += 1;
        }
    }
    assert_eq!(seen, report.samples);

    let (syncer, _, _) = syncer(&settings);
    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    assert_eq!(rows.len() as u64, report.samples);
}

/// A backlog (a PC that was offline) drains in batches, and listeners hear each one, in
/// the shape the window reads (`{"kind": "sync_progress", ...}`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_reports_progress_while_a_backlog_drains() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Backend::Embedded.settings(dir.path(), "unused", 400);
    settings.sampling.interval = Duration::from_secs(3600);
    append(
        &pipeline::open_buffer(&settings).unwrap().into(),
        T0,
        1_000_000,
        1000,
    );
    let (tx, mut rx) = tokio::sync::broadcast::channel(1024);
    pipeline::run(
        settings,
        Box::new(SyntheticSource::new(T0 + 1_000_000_000, 1_000_000)),
        tokio::time::sleep(Duration::from_millis(1500)),
        Some(tx),
    )
    .await
    .unwrap();
    let mut progress = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let pipeline::Event::SyncProgress(_) = e {
            progress.push(serde_json::to_value(&e).unwrap());
        }
    }
    // The startup sync drains the backlog (plus the sampler's first sample, which may
    // arrive during it) in batches of 400.
    let pairs: Vec<(u64, u64)> = progress
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "sync_progress", "{e}");
            (
                e["rows_done"].as_u64().unwrap(),
                e["rows_total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(pairs.len() >= 3, "{pairs:?}");
    assert_eq!((pairs[0].0, pairs[1].0), (400, 800), "{pairs:?}");
    // The third batch finishes the backlog; the sampler's sample rides with it or, when
    // it arrived after the sync had read that batch ahead, in a fourth.
    assert!(
        pairs[2].0 >= 1000,
        "the third batch finishes the backlog: {pairs:?}"
    );
    let (done, total) = *pairs.last().unwrap();
    assert!(
        (1000..=1001).contains(&total) && done == total,
        "the sync ends with everything delivered: {pairs:?}"
    );
    assert!(
        pairs
            .iter()
            .all(|&(d, t)| d <= t && (1000..=1001).contains(&t))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sampler_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Backend::Embedded.settings(dir.path(), "unused", 1000);
    let first = tokio::spawn(pipeline::run(
        settings.clone(),
        Box::new(SyntheticSource::new(T0, 1_000_000)),
        tokio::time::sleep(Duration::from_millis(1500)),
        None,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = pipeline::run(
        settings,
        Box::new(SyntheticSource::new(T0, 1_000_000)),
        std::future::ready(()),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        second
            .to_string()
            .contains("another pcmetrics process is sampling"),
        "{second}"
    );
    first.await.unwrap().unwrap();
}

async fn maintenance_bounds_metadata_and_keeps_exactly_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = backend.settings(dir.path(), &unique_table("maint"), 100);
    settings.sync.snapshot_retention = Duration::from_millis(1);
    let (syncer, buffer, host) = syncer(&settings);
    append(&buffer, T0, 1_000_000, 3000); // 30 batches, 30 commits

    let report = syncer.sync().await.unwrap();
    assert_eq!((report.rows, report.batches), (3000, 30));
    let table = syncer.table().await.unwrap();
    let t = table.load().await.unwrap().unwrap();
    let snapshots = t.metadata().snapshots().count();
    // The newest ten, plus the expiry commit's own manifest-rewrite snapshot.
    assert_eq!(
        snapshots,
        pcmetrics_core::maintain::MIN_SNAPSHOTS_KEPT + 1,
        "old snapshots expired"
    );

    // Every row is still there once: expiry never touches data.
    let rows = table.scan_rows().await.unwrap();
    assert_eq!(by_seq(&rows, &host.host_id).len(), 3000);

    // A batch 1 the table does not know (its snapshot is gone, and this one was opened at
    // another moment) under the watermark: another timeline of this buffer, refused as
    // such rather than taken for "already delivered".
    let batch1 = pcmetrics_core::commit::BatchKey {
        host_id: host.host_id.clone(),
        buffer_id: buffer.lock().unwrap().buffer_id().to_owned(),
        batch_id: 1,
        first_seq: 1,
        last_seq: 100,
        opened_us: 0,
    };
    let rows1 = buffer.lock().unwrap().read_range(1, 100).unwrap();
    let files = pcmetrics_core::encode::ParquetEncoder::new()
        .encode(&host.host_id, &host.hostname, &batch1.buffer_id, &rows1)
        .unwrap();
    let err = table
        .append(&batch1, &host.hostname, &files)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            pcmetrics_core::commit::CommitError::Diverged {
                watermark: 3000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(table.scan_rows().await.unwrap().len(), 3000);

    if let Backend::Embedded = backend {
        // Metadata files: the log keeps 20 versions, older files are deleted.
        let metadata_dir = dir
            .path()
            .join("lakehouse/warehouse/bronze/pc_metrics/metadata");
        let json = std::fs::read_dir(metadata_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".metadata.json")
            })
            .count();
        assert!(
            json <= pcmetrics_core::commit::METADATA_VERSIONS_KEPT + 2,
            "{json} metadata files left"
        );
    }
}
