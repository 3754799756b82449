//! Row identity and upgrading a table in place, on both backends.
//!
//! A table made by an older pcmetrics has the base columns and declares `(host_id, seq)`
//! as its identifier. But a PC that starts a new buffer (a deleted `buffer.db`, or the
//! documented recovery from a corrupt one) numbers its samples from 1 again under the
//! same host id, so that declared key repeats for different samples. This version's first
//! sync adds `buffer_id` (optional, the table's next field id) and drops the false key;
//! `(host_id, buffer_id, seq)` is then unique. Rows written before read `buffer_id` as
//! null, a PC still on the older version keeps appending, and compacting a day that
//! mixes both shapes keeps every row.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::stack::{Stack, unique_table};
use iceberg::spec::{PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableCreation};
use pcmetrics_core::commit::{BronzeTable, Change};
use pcmetrics_core::config::Settings;
use pcmetrics_core::encode::ParquetEncoder;
use pcmetrics_core::encode::decode::TableRow;
use pcmetrics_core::encode::schema::{Layout, TABLE_SCHEMA, partition_spec};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::land::ObjectStores;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::SyntheticSource;
use pcmetrics_core::sync::Syncer;

/// 2023-11-14T22:13:20Z: samples from here cross midnight, and both days are closed.
const T0: i64 = 1_700_000_000_000_000;

#[derive(Debug, Clone)]
enum Backend {
    Embedded,
    S3Rest(Stack),
}

fn settings(backend: &Backend, data_dir: &Path, lakehouse: &Path, table: &str) -> Settings {
    let mut s = Settings::embedded(data_dir);
    s.sync.batch_rows = 1000;
    match backend {
        // Two data dirs (two PCs) share one local lakehouse and SQL catalog.
        Backend::Embedded => {
            s.storage = pcmetrics_core::config::StorageSettings::Local {
                root: lakehouse.to_owned(),
            };
            s.catalog = pcmetrics_core::config::CatalogSettings::Sql {
                path: lakehouse.join("catalog.db"),
                warehouse: format!("file://{}/warehouse", lakehouse.display()),
            };
        }
        Backend::S3Rest(stack) => stack.apply(&mut s, table),
    }
    s
}

async fn connect(settings: &Settings) -> BronzeTable {
    let stores = Arc::new(ObjectStores::new(&settings.storage).unwrap());
    BronzeTable::connect(settings, stores).await.unwrap()
}

/// What an older pcmetrics created: the base columns, `(host_id, seq)` as identifier.
async fn create_old_table(table: &BronzeTable, settings: &Settings) {
    let catalog = table.catalog();
    let ns = NamespaceIdent::new(settings.sync.namespace.clone());
    if !catalog.namespace_exists(&ns).await.unwrap() {
        catalog.create_namespace(&ns, HashMap::new()).await.unwrap();
    }
    let old_schema = Schema::builder()
        .with_schema_id(0)
        .with_identifier_field_ids([1, 3])
        .with_fields(TABLE_SCHEMA.as_struct().fields().to_vec())
        .build()
        .unwrap();
    let creation = TableCreation::builder()
        .name(settings.sync.table.clone())
        .schema(old_schema)
        .partition_spec(partition_spec())
        .build();
    catalog.create_table(&ns, creation).await.unwrap();
}

/// What a PC on an older pcmetrics appends: files with the base columns only.
async fn old_version_appends(table: &BronzeTable, host_id: &str, first_seq: i64, n: usize) {
    let base = table.load_existing().await.unwrap();
    let rows: Vec<_> = SyntheticSource::new(T0 + first_seq * 60_000_000, 60_000_000)
        .take(n)
        .enumerate()
        .map(|(i, s)| (first_seq + i as i64, s))
        .collect();
    let files = ParquetEncoder::new()
        .with_layout(Layout::base().clone())
        .encode(host_id, "old-pc", "unused", &rows)
        .unwrap();
    let mut added = Vec::new();
    for f in &files {
        let name = format!("{host_id}-old-{}", uuid::Uuid::new_v4().simple());
        added.push(
            table
                .write_data_file(&base, f.day, &name, f.bytes.clone(), f.rows, &f.stats)
                .await
                .unwrap(),
        );
    }
    table
        .commit_change(base, |_| Some(Change::append(added.clone())))
        .await
        .unwrap();
}

fn new_pc(settings: &Settings) -> (Syncer, Arc<Mutex<pcmetrics_core::buffer::SqliteBuffer>>) {
    let host = HostIdentity::load_or_create(&settings.data_dir).unwrap();
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(settings).unwrap()));
    (Syncer::new(settings.clone(), host, buffer.clone()), buffer)
}

fn identity(r: &TableRow) -> (String, Option<String>, i64) {
    (r.host_id.clone(), r.buffer_id.clone(), r.seq)
}

async fn old_table_upgrades_in_place_and_rows_stay_unique(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let lakehouse = dir.path().join("lakehouse");
    let name = unique_table("evolve");
    let s = settings(&backend, &dir.path().join("pc"), &lakehouse, &name);
    let table = connect(&s).await;
    create_old_table(&table, &s).await;
    old_version_appends(&table, "old-host", 1, 120).await;

    // This version's first sync upgrades the table.
    let (syncer, buffer) = new_pc(&s);
    let samples: Vec<_> = SyntheticSource::new(T0, 60_000_000).take(100).collect();
    buffer.lock().unwrap().append(&samples).unwrap();
    let first_buffer = buffer.lock().unwrap().buffer_id().to_owned();
    syncer.sync().await.unwrap();

    let t = table.load_existing().await.unwrap();
    let schema = t.metadata().current_schema();
    let field = schema
        .field_by_name("buffer_id")
        .expect("the table gained buffer_id");
    assert!(!field.required, "optional: older writers do not fill it");
    assert_eq!(*field.field_type, Type::Primitive(PrimitiveType::String));
    assert_eq!(field.id, 42, "the next free id after the base columns");
    assert_eq!(
        schema.identifier_field_ids().count(),
        0,
        "(host_id, seq) is no longer declared a key"
    );
    assert_eq!(t.metadata().schemas_iter().count(), 2, "one schema change");

    // The same PC starts over with a new buffer: seqs restart at 1.
    drop(syncer);
    drop(buffer);
    for f in ["buffer.db", "buffer.db-wal", "buffer.db-shm"] {
        let _ = std::fs::remove_file(s.data_dir.join(f));
    }
    let (syncer, buffer) = new_pc(&s);
    let second_buffer = buffer.lock().unwrap().buffer_id().to_owned();
    assert_ne!(first_buffer, second_buffer);
    let more: Vec<_> = SyntheticSource::new(T0 + 100 * 60_000_000, 60_000_000)
        .take(50)
        .collect();
    buffer.lock().unwrap().append(&more).unwrap();
    syncer.sync().await.unwrap();

    // A PC still on the older version keeps appending to the upgraded table.
    old_version_appends(&table, "old-host", 121, 30).await;

    let check = |rows: &[TableRow]| {
        let host = syncer_host(&s);
        let mine: Vec<_> = rows.iter().filter(|r| r.host_id == host).collect();
        assert_eq!(mine.len(), 150);
        let seqs: HashSet<i64> = mine.iter().map(|r| r.seq).collect();
        assert_eq!(seqs.len(), 100, "(host_id, seq) repeats for seqs 1..=50");
        let ids: HashSet<_> = rows.iter().map(identity).collect();
        assert_eq!(ids.len(), rows.len(), "(host_id, buffer_id, seq) is unique");
        let per_buffer = |b: &str| {
            mine.iter()
                .filter(|r| r.buffer_id.as_deref() == Some(b))
                .count()
        };
        assert_eq!(
            (per_buffer(&first_buffer), per_buffer(&second_buffer)),
            (100, 50)
        );
        let old: Vec<_> = rows.iter().filter(|r| r.host_id == "old-host").collect();
        assert_eq!(old.len(), 150);
        assert!(
            old.iter().all(|r| r.buffer_id.is_none()),
            "old rows read as null"
        );
    };
    let before = table.scan_rows().await.unwrap();
    check(&before);

    // Compacting the closed days rewrites files of both shapes into one per PC and day.
    let report = syncer.maintain(false).await.unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(report.days_compacted >= 2, "{report:?}");
    let after = table.scan_rows().await.unwrap();
    check(&after);
    let key = |r: &TableRow| (identity(r), r.sample.ts_us);
    let mut a: Vec<_> = before.iter().map(key).collect();
    let mut b: Vec<_> = after.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "compaction kept every row as it was");
}

fn syncer_host(s: &Settings) -> String {
    HostIdentity::load_or_create(&s.data_dir).unwrap().host_id
}

mod embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_table_upgrades_in_place_and_rows_stay_unique() {
        super::old_table_upgrades_in_place_and_rows_stay_unique(super::Backend::Embedded).await
    }
}

mod s3_rest {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_table_upgrades_in_place_and_rows_stay_unique() {
        if let Some(stack) = super::Stack::from_env() {
            super::old_table_upgrades_in_place_and_rows_stay_unique(super::Backend::S3Rest(stack))
                .await
        }
    }
}
