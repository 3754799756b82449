//! Bad state the pipeline must survive without losing or duplicating anything: the table's
//! schema changed by another engine, a wall clock that jumps, a damaged buffer file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iceberg::spec::{PrimitiveType, Type};
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use pcmetrics_core::buffer::{BufferError, SqliteBuffer};
use pcmetrics_core::config::Settings;
use pcmetrics_core::encode::day_of;
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::{MetricSample, SyntheticSource};
use pcmetrics_core::sync::Syncer;

const T0: i64 = 1_700_000_000_000_000;

fn setup(dir: &std::path::Path) -> (Syncer, Arc<Mutex<SqliteBuffer>>, HostIdentity) {
    let settings = Settings::embedded(dir);
    let host = HostIdentity::load_or_create(dir).unwrap();
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(&settings).unwrap()));
    (
        Syncer::new(settings, host.clone(), buffer.clone()),
        buffer,
        host,
    )
}

fn samples(start: i64, n: usize) -> Vec<MetricSample> {
    SyntheticSource::new(start, 1_000_000).take(n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_added_by_another_engine_does_not_stop_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (syncer, buffer, _) = setup(dir.path());
    buffer.lock().unwrap().append(&samples(T0, 100)).unwrap();
    syncer.sync().await.unwrap();

    let table = syncer.table().await.unwrap();
    let t = table.load().await.unwrap().unwrap();
    let tx = Transaction::new(&t);
    let tx = tx
        .update_schema()
        .add_column(AddColumn::optional(
            "annotation",
            Type::Primitive(PrimitiveType::String),
        ))
        .apply(tx)
        .unwrap();
    tx.commit(table.catalog().as_ref()).await.unwrap();

    buffer
        .lock()
        .unwrap()
        .append(&samples(T0 + 100_000_000, 100))
        .unwrap();
    let report = syncer.sync().await.unwrap();
    assert_eq!(report.rows, 100);
    let rows = table.scan_rows().await.unwrap();
    let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_dropped_by_another_engine_stops_sync_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (syncer, buffer, _) = setup(dir.path());
    buffer.lock().unwrap().append(&samples(T0, 50)).unwrap();
    syncer.sync().await.unwrap();

    let table = syncer.table().await.unwrap();
    let t = table.load().await.unwrap().unwrap();
    let tx = Transaction::new(&t);
    let tx = tx
        .update_schema()
        .delete_column("uptime_s")
        .apply(tx)
        .unwrap();
    tx.commit(table.catalog().as_ref()).await.unwrap();

    buffer
        .lock()
        .unwrap()
        .append(&samples(T0 + 50_000_000, 50))
        .unwrap();
    let err = syncer.sync().await.unwrap_err().to_string();
    assert!(
        err.contains("\"uptime_s\"") && err.contains("missing"),
        "{err}"
    );
    assert!(err.contains("point sync.table at a new table"), "{err}");
    assert_eq!(
        buffer.lock().unwrap().status().unwrap().pending,
        50,
        "nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_clock_jumps_keep_order_history_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (syncer, buffer, host) = setup(dir.path());
    let day = 86_400_000_000;
    // Normal, then the clock jumps back two days, then forward three.
    let mut all = samples(T0, 300);
    all.extend(samples(T0 - 2 * day, 300));
    all.extend(samples(T0 + 3 * day, 300));
    buffer.lock().unwrap().append(&all).unwrap();
    let report = syncer.sync().await.unwrap();
    assert_eq!(report.rows, 900);

    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    let by_seq: HashMap<i64, MetricSample> = rows
        .into_iter()
        .filter(|r| r.host_id == host.host_id)
        .map(|r| (r.seq, r.sample))
        .collect();
    assert_eq!(by_seq.len(), 900);
    for (i, s) in all.iter().enumerate() {
        assert_eq!(
            &by_seq[&(i as i64 + 1)],
            s,
            "seq follows arrival, not the clock"
        );
    }

    // Each data file holds one UTC day, the day of its rows' own timestamps.
    let t = syncer.table().await.unwrap().load().await.unwrap().unwrap();
    let files: Vec<String> = std::fs::read_dir(
        dir.path()
            .join("lakehouse/warehouse/bronze/pc_metrics/data"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().into_string().unwrap())
    .collect();
    let mut days: Vec<String> = all
        .iter()
        .map(|s| {
            format!(
                "ts_day={}",
                pcmetrics_core::encode::day_string(day_of(s.ts_us))
            )
        })
        .collect();
    days.sort();
    days.dedup();
    let mut files = files;
    files.sort();
    assert_eq!(files, days);
    assert!(t.metadata().current_snapshot().is_some());

    // History by time still answers for each stretch.
    let cpu = pcmetrics_core::buffer::history::metric("cpu").unwrap();
    for start in [T0 - 2 * day, T0, T0 + 3 * day] {
        let s = buffer
            .lock()
            .unwrap()
            .history(cpu, start, start + 300_000_000, 10)
            .unwrap();
        assert_eq!(s.points.len(), 10, "history at {start}");
    }
}

#[test]
fn a_truncated_buffer_file_gives_a_clear_error_and_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.db");
    {
        let mut b = SqliteBuffer::open(&path, 1_000_000).unwrap();
        b.append(&samples(T0, 20_000)).unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len * 2 / 5).unwrap();
    drop(f);
    let damaged = std::fs::read(&path).unwrap();

    let outcome = SqliteBuffer::open(&path, 1_000_000).and_then(|b| {
        b.status()?;
        b.read_range(1, 20_000).map(|_| ())
    });
    let err = outcome.expect_err("a truncated file cannot be read whole");
    assert!(matches!(err, BufferError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("move the file aside"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged,
        "the file is left for recovery"
    );
}

/// The sync log is history, not delivery: when its row cannot be written (here a trigger
/// makes every insert fail), a sync that delivered still succeeds and the batch is acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_log_write_does_not_fail_a_delivered_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (syncer, buffer, _host) = setup(dir.path());
    buffer.lock().unwrap().append(&samples(T0, 100)).unwrap();
    let db = buffer.lock().unwrap().path().to_owned();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER broken_log BEFORE INSERT ON sync_runs
             BEGIN SELECT RAISE(ABORT, 'the sync log cannot be written'); END;",
        )
        .unwrap();
    let report = syncer.sync().await.expect("delivered, so not a failure");
    assert_eq!(report.rows, 100);
    assert_eq!(buffer.lock().unwrap().status().unwrap().pending, 0);
    assert_eq!(
        syncer
            .table()
            .await
            .unwrap()
            .scan_rows()
            .await
            .unwrap()
            .len(),
        100
    );
}

/// A sample whose stored form cannot be decoded (a flipped bit on disk) is set aside in the
/// buffer's quarantine with the reason, and every other sample is delivered; before, the
/// batch failed on every sync until the buffer bound dropped it weeks later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_sample_is_quarantined_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (syncer, buffer, host) = setup(dir.path());
    buffer.lock().unwrap().append(&samples(T0, 300)).unwrap();
    let db = buffer.lock().unwrap().path().to_owned();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE samples SET detail = x'0105' WHERE seq = 150", [])
        .unwrap();
    let original_ts: i64 = conn
        .query_row("SELECT ts_us FROM samples WHERE seq = 150", [], |r| {
            r.get(0)
        })
        .unwrap();

    let report = syncer
        .sync()
        .await
        .expect("the other samples are delivered");
    assert_eq!((report.rows, report.quarantined), (299, 1));
    let st = buffer.lock().unwrap().status().unwrap();
    assert_eq!((st.pending, st.quarantined), (0, 1));
    let q = buffer.lock().unwrap().quarantined(10).unwrap();
    assert_eq!((q[0].seq, q[0].ts_us), (150, original_ts));
    assert!(q[0].reason.contains("cannot be decoded"), "{q:?}");
    // The row is kept whole, the damaged bytes included.
    let detail: Vec<u8> = conn
        .query_row("SELECT detail FROM quarantine WHERE seq = 150", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(detail, [0x01, 0x05]);

    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    let mut seqs: Vec<i64> = rows
        .iter()
        .filter(|r| r.host_id == host.host_id)
        .map(|r| r.seq)
        .collect();
    seqs.sort();
    let expected: Vec<i64> = (1..=300).filter(|&s| s != 150).collect();
    assert_eq!(seqs, expected);
    // The next samples flow as usual.
    buffer
        .lock()
        .unwrap()
        .append(&samples(T0 + 300_000_000, 10))
        .unwrap();
    assert_eq!(syncer.sync().await.unwrap().rows, 10);
}
