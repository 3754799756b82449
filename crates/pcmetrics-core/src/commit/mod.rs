//! # Commit: the Iceberg table `bronze.pc_metrics`, appended exactly once per batch
//!
//! [`BronzeTable`] wires an Iceberg catalog (the SQL catalog on SQLite for the embedded
//! default, or a REST catalog) to the pipeline's object stores, creates the namespace and
//! table on first use, and appends one snapshot per buffer batch.
//!
//! ## Exactly once
//! Every snapshot pcmetrics commits carries the batch's identity in its summary
//! (`pcmetrics.buffer-id`, `pcmetrics.batch-id`, plus host, seq range and row count). An
//! append is therefore idempotent:
//! 1. before writing anything, the table's `main` history is searched for the batch: if it
//!    is there (a previous attempt committed but its response was lost, or the process died
//!    before the buffer recorded the ack), the append reports it as already committed;
//! 2. data files get names derived from the batch, so a retry overwrites its own orphan
//!    from an interrupted attempt instead of adding another;
//! 3. the commit goes through `BatchGuard`, a catalog wrapper that repeats the search
//!    every time iceberg-rust reloads the table to (re)apply the append, including its own
//!    retries after a 409 conflict, so a commit that landed concurrently is never re-applied;
//! 4. when the commit call fails (5xx, timeout, cut connection: "commit state unknown"),
//!    the table is reloaded and searched once more before the failure is reported.
//!
//! The buffer forgets a batch only after this stage returns success.

mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Literal, Struct, Transform};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, CatalogBuilder, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation,
    TableIdent,
};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};

pub use storage::{ObjectStoreStorage, ObjectStoreStorageFactory};

use crate::config::{CatalogSettings, Settings};
use crate::encode::schema::{TABLE_SCHEMA, TS_FIELD_ID, partition_spec};
use crate::encode::{EncodedFile, day_string};
use crate::error::one_line;
use crate::land::ObjectStores;

pub const PROP_HOST_ID: &str = "pcmetrics.host-id";
pub const PROP_HOSTNAME: &str = "pcmetrics.hostname";
pub const PROP_BUFFER_ID: &str = "pcmetrics.buffer-id";
pub const PROP_BATCH_ID: &str = "pcmetrics.batch-id";
pub const PROP_FIRST_SEQ: &str = "pcmetrics.first-seq";
pub const PROP_LAST_SEQ: &str = "pcmetrics.last-seq";
pub const PROP_ROWS: &str = "pcmetrics.rows";
/// Table property prefix: `pcmetrics.watermark.<buffer id>` = last seq delivered.
pub const PROP_WATERMARK_PREFIX: &str = "pcmetrics.watermark.";

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{catalog}: {message}")]
    Catalog {
        catalog: String,
        message: String,
        retryable: bool,
    },
    #[error(
        "table {table}: column {column:?} (field id {id}) is {found} but pcmetrics writes {expected}; another engine changed the column, restore it or point sync.table at a new table"
    )]
    SchemaMismatch {
        table: String,
        column: String,
        id: i32,
        found: String,
        expected: String,
    },
    #[error(
        "table {table} is partitioned by [{found}], pcmetrics writes day(ts) partitions; restore the partition spec or point sync.table at a new table"
    )]
    PartitionMismatch { table: String, found: String },
    #[error("table files: {message}; while writing {location}")]
    Write { location: String, message: String },
}

impl CommitError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CommitError::Catalog { retryable, .. } => *retryable,
            CommitError::Write { .. } => true,
            _ => false,
        }
    }
}

/// The identity of one buffer batch, as recorded in the snapshot summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchKey {
    pub host_id: String,
    pub buffer_id: String,
    pub batch_id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
}

impl BatchKey {
    /// File names of this batch (before the day suffix): unique per batch, the same on
    /// every retry.
    pub fn file_stem(&self) -> String {
        let buf: String = self
            .buffer_id
            .chars()
            .filter(|c| *c != '-')
            .take(8)
            .collect();
        format!(
            "{}-{buf}-b{:08}-s{}-{}",
            self.host_id, self.batch_id, self.first_seq, self.last_seq
        )
    }

    fn summary(&self, hostname: &str, rows: usize) -> HashMap<String, String> {
        HashMap::from([
            (PROP_HOST_ID.into(), self.host_id.clone()),
            (PROP_HOSTNAME.into(), hostname.into()),
            (PROP_BUFFER_ID.into(), self.buffer_id.clone()),
            (PROP_BATCH_ID.into(), self.batch_id.to_string()),
            (PROP_FIRST_SEQ.into(), self.first_seq.to_string()),
            (PROP_LAST_SEQ.into(), self.last_seq.to_string()),
            (PROP_ROWS.into(), rows.to_string()),
        ])
    }

    fn matches(&self, summary: &HashMap<String, String>) -> bool {
        summary.get(PROP_BUFFER_ID) == Some(&self.buffer_id)
            && summary.get(PROP_BATCH_ID).map(String::as_str) == Some(&self.batch_id.to_string())
    }

    /// Table property holding the last seq of this buffer that the table has.
    pub fn watermark_property(&self) -> String {
        format!("{PROP_WATERMARK_PREFIX}{}", self.buffer_id)
    }

    fn commit_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("pcmetrics/{}/{}", self.buffer_id, self.batch_id).as_bytes(),
        )
    }
}

/// Whether the table holds `key`'s batch: the buffer's watermark property (set in the
/// same commit as every append, so it survives snapshot expiry) has reached the batch's
/// last seq, or a snapshot on `main` carries the batch. Returns the snapshot that carries
/// it while it is still in the history, else the current snapshot.
pub fn committed_snapshot(table: &Table, key: &BatchKey) -> Option<i64> {
    let watermark = table
        .metadata()
        .properties()
        .get(&key.watermark_property())
        .and_then(|v| v.parse::<i64>().ok());
    match snapshot_carrying(table, key) {
        Some(id) => Some(id),
        None if watermark.is_some_and(|w| w >= key.last_seq) => {
            Some(table.metadata().current_snapshot_id().unwrap_or_default())
        }
        None => None,
    }
}

/// The snapshot on `main` whose summary names `key`'s batch.
fn snapshot_carrying(table: &Table, key: &BatchKey) -> Option<i64> {
    let meta = table.metadata();
    let mut snapshot = meta.current_snapshot().cloned();
    while let Some(s) = snapshot {
        if key.matches(&s.summary().additional_properties) {
            return Some(s.snapshot_id());
        }
        snapshot = s
            .parent_snapshot_id()
            .and_then(|p| meta.snapshot_by_id(p).cloned());
    }
    None
}

/// The outcome of [`BronzeTable::stage`].
#[derive(Debug)]
pub enum Staging {
    AlreadyCommitted(Committed),
    Staged(Staged),
}

/// Data files written under the table location, not yet in any snapshot.
#[derive(Debug)]
pub struct Staged {
    table: Table,
    data_files: Vec<iceberg::spec::DataFile>,
    rows: usize,
}

/// What one append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub snapshot_id: i64,
    /// The batch was already in the table (an earlier attempt's commit had landed).
    pub already: bool,
    pub metadata_location: Option<String>,
}

/// The bronze table behind a catalog.
#[derive(Debug, Clone)]
pub struct BronzeTable {
    catalog: Arc<dyn Catalog>,
    ident: TableIdent,
    catalog_name: String,
    stores: Arc<ObjectStores>,
}

impl BronzeTable {
    /// Builds the catalog client; does not contact a REST catalog yet.
    pub async fn connect(
        settings: &Settings,
        stores: Arc<ObjectStores>,
    ) -> Result<Self, CommitError> {
        let factory = Arc::new(ObjectStoreStorageFactory::new(stores.clone()));
        let (catalog, catalog_name): (Arc<dyn Catalog>, String) = match &settings.catalog {
            CatalogSettings::Sql { path, warehouse } => {
                let name = format!("SQL catalog {}", path.display());
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| CommitError::Catalog {
                        catalog: name.clone(),
                        message: format!("cannot create {}: {e}", dir.display()),
                        retryable: false,
                    })?;
                }
                let catalog = SqlCatalogBuilder::default()
                    .uri(format!("sqlite:{}?mode=rwc", path.display()))
                    .warehouse_location(warehouse.clone())
                    .sql_bind_style(SqlBindStyle::QMark)
                    .with_storage_factory(factory)
                    .load("pcmetrics", HashMap::new())
                    .await
                    .map_err(|e| catalog_error(&name, e))?;
                (Arc::new(catalog), name)
            }
            CatalogSettings::Rest {
                uri,
                warehouse,
                token,
            } => {
                let name = format!("REST catalog {uri}");
                let mut props = HashMap::from([("uri".to_owned(), uri.clone())]);
                if let Some(w) = warehouse {
                    props.insert("warehouse".into(), w.clone());
                }
                if let Some(t) = token {
                    props.insert("token".into(), t.expose().to_owned());
                }
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| CommitError::Catalog {
                        catalog: name.clone(),
                        message: format!("cannot build the HTTP client: {e}"),
                        retryable: false,
                    })?;
                let catalog = RestCatalogBuilder::default()
                    .with_client(client)
                    .with_storage_factory(factory)
                    .load("pcmetrics", props)
                    .await
                    .map_err(|e| catalog_error(&name, e))?;
                (Arc::new(catalog), name)
            }
        };
        Ok(Self {
            catalog,
            ident: TableIdent::new(
                NamespaceIdent::new(settings.sync.namespace.clone()),
                settings.sync.table.clone(),
            ),
            catalog_name,
            stores,
        })
    }

    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    fn err(&self, e: iceberg::Error) -> CommitError {
        catalog_error(&self.catalog_name, e)
    }

    /// Every row of the table (all hosts), read through the catalog and the table's
    /// manifests exactly as another engine would. For verification and tests: it holds the
    /// whole table in memory.
    pub async fn scan_rows(&self) -> Result<Vec<crate::encode::decode::TableRow>, CommitError> {
        use futures::TryStreamExt;
        let Some(table) = self.load().await? else {
            return Ok(Vec::new());
        };
        let stream = table
            .scan()
            .select_all()
            .build()
            .map_err(|e| self.err(e))?
            .to_arrow()
            .await
            .map_err(|e| self.err(e))?;
        let batches: Vec<_> = stream.try_collect().await.map_err(|e| self.err(e))?;
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(
                crate::encode::decode::from_record_batch(b).map_err(|message| {
                    CommitError::Catalog {
                        catalog: self.catalog_name.clone(),
                        message,
                        retryable: false,
                    }
                })?,
            );
        }
        Ok(rows)
    }

    /// Loads the table if it exists, without creating anything.
    pub async fn load(&self) -> Result<Option<Table>, CommitError> {
        let e = match self.catalog.load_table(&self.ident).await {
            Ok(t) => return Ok(Some(t)),
            Err(e) => e,
        };
        // Not every catalog reports a missing table as TableNotFound: ask directly.
        let missing = matches!(
            e.kind(),
            ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound
        ) || matches!(self.catalog.table_exists(&self.ident).await, Ok(false));
        if missing { Ok(None) } else { Err(self.err(e)) }
    }

    /// Loads the table, creating the namespace and the table on first use (racing
    /// creators on other PCs are fine: "already exists" means load it).
    pub async fn load_or_create(&self) -> Result<Table, CommitError> {
        if let Some(table) = self.load().await? {
            self.check_layout(&table)?;
            return Ok(table);
        }
        let ns = self.ident.namespace();
        let exists = self
            .catalog
            .namespace_exists(ns)
            .await
            .map_err(|e| self.err(e))?;
        if !exists
            && let Err(e) = self.catalog.create_namespace(ns, HashMap::new()).await
            // Created by another PC in the meantime is fine (see create_table below).
            && !self.catalog.namespace_exists(ns).await.unwrap_or(false)
        {
            return Err(self.err(e));
        }
        let creation = TableCreation::builder()
            .name(self.ident.name().to_owned())
            .schema(TABLE_SCHEMA.clone())
            .partition_spec(partition_spec())
            .properties(HashMap::from([
                ("write.format.default".to_owned(), "parquet".to_owned()),
                (
                    "write.parquet.compression-codec".to_owned(),
                    "zstd".to_owned(),
                ),
                (
                    "comment".to_owned(),
                    "PC metrics, one row per sample, written by pcmetrics".to_owned(),
                ),
                // `maintain` deletes metadata files older than the versions in the log.
                (
                    "write.metadata.previous-versions-max".to_owned(),
                    METADATA_VERSIONS_KEPT.to_string(),
                ),
            ]))
            .build();
        let table = match self.catalog.create_table(ns, creation).await {
            Ok(t) => {
                tracing::info!(table = %self.ident, "created the Iceberg table");
                t
            }
            // Another PC created it first. Catalogs say so differently (the SQL catalog
            // reports a UNIQUE constraint), so look rather than parse the error.
            Err(e) => match self.load().await {
                Ok(Some(t)) => t,
                _ => return Err(self.err(e)),
            },
        };
        self.check_layout(&table)?;
        Ok(table)
    }

    /// The columns pcmetrics writes must still exist with the same types (other engines may
    /// add columns: those read as null in our files), and the partitioning must be day(ts).
    fn check_layout(&self, table: &Table) -> Result<(), CommitError> {
        let current = table.metadata().current_schema();
        for field in TABLE_SCHEMA.as_struct().fields() {
            match current.field_by_id(field.id) {
                Some(f) if same_type(&f.field_type, &field.field_type) => {}
                found => {
                    return Err(CommitError::SchemaMismatch {
                        table: self.ident.to_string(),
                        column: field.name.clone(),
                        id: field.id,
                        found: found.map_or("missing".to_owned(), |f| format!("{}", f.field_type)),
                        expected: format!("{}", field.field_type),
                    });
                }
            }
        }
        let spec = table.metadata().default_partition_spec();
        let ok = spec.fields().len() == 1
            && spec.fields()[0].source_id == TS_FIELD_ID
            && spec.fields()[0].transform == Transform::Day;
        if !ok {
            let found: Vec<String> = spec
                .fields()
                .iter()
                .map(|f| format!("{}({})", f.transform, f.source_id))
                .collect();
            return Err(CommitError::PartitionMismatch {
                table: self.ident.to_string(),
                found: found.join(", "),
            });
        }
        Ok(())
    }

    /// Appends the files of one batch as one snapshot, exactly once (see the module docs):
    /// [`Self::stage`] then [`Self::commit`].
    pub async fn append(
        &self,
        key: &BatchKey,
        hostname: &str,
        files: &[EncodedFile],
    ) -> Result<Committed, CommitError> {
        match self.stage(key, files).await? {
            Staging::AlreadyCommitted(c) => Ok(c),
            Staging::Staged(staged) => self.commit(key, hostname, staged).await,
        }
    }

    /// Writes the batch's files under the table location, unless the table already holds
    /// the batch.
    pub async fn stage(
        &self,
        key: &BatchKey,
        files: &[EncodedFile],
    ) -> Result<Staging, CommitError> {
        let table = self.load_or_create().await?;
        if let Some(snapshot_id) = committed_snapshot(&table, key) {
            return Ok(Staging::AlreadyCommitted(Committed {
                snapshot_id,
                already: true,
                metadata_location: table.metadata_location().map(str::to_owned),
            }));
        }

        let stem = key.file_stem();
        let spec_id = table.metadata().default_partition_spec_id();
        let mut data_files = Vec::with_capacity(files.len());
        for f in files {
            let day = day_string(f.day);
            let location = format!(
                "{}/data/ts_day={day}/{stem}-{day}.parquet",
                table.metadata().location().trim_end_matches('/')
            );
            let write_err = |e: iceberg::Error| CommitError::Write {
                location: location.clone(),
                message: one_line(&e.to_string()),
            };
            table
                .file_io()
                .new_output(&location)
                .map_err(write_err)?
                .write(f.bytes.clone())
                .await
                .map_err(write_err)?;
            let stats = f.stats.clone();
            let data_file = DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(location.clone())
                .file_format(DataFileFormat::Parquet)
                .partition(Struct::from_iter([Some(Literal::date(f.day))]))
                .partition_spec_id(spec_id)
                .record_count(f.rows as u64)
                .file_size_in_bytes(f.bytes.len() as u64)
                .column_sizes(stats.column_sizes)
                .value_counts(stats.value_counts)
                .null_value_counts(stats.null_value_counts)
                .lower_bounds(stats.lower_bounds)
                .upper_bounds(stats.upper_bounds)
                .split_offsets(Some(stats.split_offsets))
                .build()
                .map_err(|e| CommitError::Write {
                    location: location.clone(),
                    message: format!("cannot describe the data file: {e}"),
                })?;
            data_files.push(data_file);
        }

        Ok(Staging::Staged(Staged {
            table,
            data_files,
            rows: files.iter().map(|f| f.rows).sum(),
        }))
    }

    /// Commits staged files as one snapshot carrying `key`, exactly once.
    pub async fn commit(
        &self,
        key: &BatchKey,
        hostname: &str,
        staged: Staged,
    ) -> Result<Committed, CommitError> {
        let Staged {
            table,
            data_files,
            rows,
        } = staged;
        let guard = BatchGuard {
            inner: self.catalog.as_ref(),
            key,
        };
        // iceberg-rust retries a conflict (409) a few times itself; with many PCs
        // committing at once that can run out, so conflicts get more rounds here. Each
        // round starts from a fresh table, and the guard makes every round check first.
        let mut table = table;
        let mut round = 0;
        loop {
            round += 1;
            let tx = Transaction::new(&table);
            let append = tx
                .fast_append()
                // Reading every manifest of the table on each commit to look for duplicate
                // paths costs O(table history); the batch-id search covers it.
                .with_check_duplicate(false)
                .set_commit_uuid(key.commit_uuid())
                .set_snapshot_properties(key.summary(hostname, rows))
                .add_data_files(data_files.clone());
            let tx = append.apply(tx).map_err(|e| self.err(e))?;
            // The watermark goes in the same commit: it is how a retry recognises the batch
            // after its snapshot has been expired.
            let tx = tx
                .update_table_properties()
                .set(key.watermark_property(), key.last_seq.to_string())
                .apply(tx)
                .map_err(|e| self.err(e))?;
            let err = match tx.commit(&guard).await {
                Ok(table) => {
                    return Ok(Committed {
                        snapshot_id: committed_snapshot(&table, key)
                            .or_else(|| table.metadata().current_snapshot_id())
                            .unwrap_or_default(),
                        already: false,
                        metadata_location: table.metadata_location().map(str::to_owned),
                    });
                }
                Err(e) => e,
            };
            // Commit state unknown: the catalog may have applied it before failing.
            let reloaded = self.catalog.load_table(&self.ident).await;
            if let Ok(t) = &reloaded
                && let Some(snapshot_id) = committed_snapshot(t, key)
            {
                tracing::info!(
                    batch = key.batch_id,
                    "commit reported an error but had landed"
                );
                return Ok(Committed {
                    snapshot_id,
                    already: true,
                    metadata_location: t.metadata_location().map(str::to_owned),
                });
            }
            match reloaded {
                Ok(t)
                    if err.kind() == ErrorKind::CatalogCommitConflicts
                        && round < CONFLICT_ROUNDS =>
                {
                    tracing::debug!(batch = key.batch_id, round, "commit conflict, trying again");
                    tokio::time::sleep(jitter(round)).await;
                    table = t;
                }
                _ => return Err(self.err(err)),
            }
        }
    }
}

/// Snapshots always kept by `maintain`, however old.
pub const MIN_SNAPSHOTS_KEPT: usize = 10;
/// Metadata versions kept in the log of tables pcmetrics creates.
pub const METADATA_VERSIONS_KEPT: usize = 20;

/// What one [`BronzeTable::maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    pub snapshots_expired: usize,
    pub metadata_files_deleted: usize,
}

impl BronzeTable {
    /// Keeps the table's metadata from growing without bound: expires snapshots older than
    /// `retention` (always keeping the newest [`MIN_SNAPSHOTS_KEPT`]) and deletes metadata
    /// JSON files older than every version still in the metadata log. Every sync adds a
    /// snapshot and a metadata file holding all snapshots, so without this the metadata
    /// grows quadratically. Data files are never touched (the table is append-only: every
    /// data file stays referenced). Exactly-once does not depend on the expired snapshots:
    /// the per-buffer watermark property carries it.
    pub async fn maintain(&self, retention: Duration) -> Result<Maintenance, CommitError> {
        let Some(table) = self.load().await? else {
            return Ok(Maintenance::default());
        };
        let mut done = Maintenance::default();
        let meta = table.metadata();
        let cutoff_ms = chrono::Utc::now().timestamp_millis() - retention.as_millis() as i64;
        let total = meta.snapshots().count();
        let old = meta
            .snapshots()
            .filter(|s| s.timestamp_ms() < cutoff_ms)
            .count();
        let expirable = old.min(total.saturating_sub(MIN_SNAPSHOTS_KEPT));
        let table = if expirable > 0 {
            let tx = Transaction::new(&table);
            let tx = tx
                .expire_snapshots()
                .expire_older_than_ms(cutoff_ms)
                .retain_last(MIN_SNAPSHOTS_KEPT)
                .apply(tx)
                .map_err(|e| self.err(e))?;
            let after = tx
                .commit(self.catalog.as_ref())
                .await
                .map_err(|e| self.err(e))?;
            done.snapshots_expired = total - after.metadata().snapshots().count();
            after
        } else {
            table
        };
        done.metadata_files_deleted = self.delete_old_metadata_files(&table).await?;
        Ok(done)
    }

    /// Deletes `NNNNN-*.metadata.json` files whose version is older than the oldest one the
    /// metadata log still names. Newer files (including one a concurrent writer may be
    /// about to commit) are never touched.
    async fn delete_old_metadata_files(&self, table: &Table) -> Result<usize, CommitError> {
        use futures::TryStreamExt;
        let Some(current) = table.metadata_location() else {
            return Ok(0);
        };
        let version = |location: &str| -> Option<u64> {
            let name = location.rsplit('/').next()?;
            name.strip_suffix(".metadata.json")?
                .split('-')
                .next()?
                .parse()
                .ok()
        };
        let oldest_kept = table
            .metadata()
            .metadata_log()
            .iter()
            .filter_map(|l| version(&l.metadata_file))
            .chain(version(current))
            .min();
        let (Some(oldest_kept), Some((dir, _))) = (oldest_kept, current.rsplit_once('/')) else {
            return Ok(0);
        };
        let io_err = |message: String| CommitError::Write {
            location: dir.to_owned(),
            message,
        };
        let (store, prefix) = self.stores.resolve(dir).map_err(io_err)?;
        let listed: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| io_err(crate::error::describe_store_error(&e)))?;
        let mut deleted = 0;
        for meta in listed {
            if version(meta.location.as_ref()).is_some_and(|v| v < oldest_kept) {
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(e) => return Err(io_err(crate::error::describe_store_error(&e))),
                }
            }
        }
        Ok(deleted)
    }
}

/// Rounds of commit attempts when other writers keep winning the race.
const CONFLICT_ROUNDS: u32 = 10;

/// A random wait that grows with `round`, so competing writers spread out.
fn jitter(round: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos() as u64;
    let ceiling_ms = 100 * u64::from(round.min(10));
    Duration::from_millis(50 + nanos % ceiling_ms.max(1))
}

/// Type equality by field ids, types and nullability, ignoring names and docs (which other
/// engines may change without breaking our files).
fn same_type(a: &iceberg::spec::Type, b: &iceberg::spec::Type) -> bool {
    use iceberg::spec::Type;
    let same_field = |x: &iceberg::spec::NestedField, y: &iceberg::spec::NestedField| {
        x.id == y.id && x.required == y.required && same_type(&x.field_type, &y.field_type)
    };
    match (a, b) {
        (Type::Primitive(x), Type::Primitive(y)) => x == y,
        (Type::List(x), Type::List(y)) => same_field(&x.element_field, &y.element_field),
        (Type::Struct(x), Type::Struct(y)) => {
            x.fields().len() == y.fields().len()
                && x.fields()
                    .iter()
                    .zip(y.fields())
                    .all(|(f, g)| same_field(f, g))
        }
        (Type::Map(x), Type::Map(y)) => {
            same_field(&x.key_field, &y.key_field) && same_field(&x.value_field, &y.value_field)
        }
        _ => false,
    }
}

fn catalog_error(catalog: &str, e: iceberg::Error) -> CommitError {
    let retryable = e.retryable()
        || matches!(
            e.kind(),
            ErrorKind::Unexpected | ErrorKind::CatalogCommitConflicts
        );
    let message = one_line(&e.to_string());
    let hint = if message.contains("error sending request") || message.contains("onnection refused")
    {
        "; is the catalog running at catalog.uri?"
    } else if message.contains("unable to open database file") {
        "; check that the data dir is writable"
    } else {
        ""
    };
    CommitError::Catalog {
        catalog: catalog.to_owned(),
        message: format!("{message}{hint}"),
        retryable,
    }
}

/// A catalog that refuses to hand out the table once it already holds `key`: iceberg-rust
/// reloads the table before every (re)application of a transaction, so this check runs on
/// each attempt, including its own conflict retries.
#[derive(Debug)]
struct BatchGuard<'a> {
    inner: &'a dyn Catalog,
    key: &'a BatchKey,
}

#[async_trait]
impl Catalog for BatchGuard<'_> {
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        let t = self.inner.load_table(table).await?;
        if committed_snapshot(&t, self.key).is_some() {
            return Err(iceberg::Error::new(
                ErrorKind::PreconditionFailed,
                format!("batch {} is already in the table", self.key.batch_id),
            ));
        }
        Ok(t)
    }
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await
    }
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        ns: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(ns, props).await
    }
    async fn get_namespace(&self, ns: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(ns).await
    }
    async fn namespace_exists(&self, ns: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(ns).await
    }
    async fn update_namespace(
        &self,
        ns: &NamespaceIdent,
        props: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(ns, props).await
    }
    async fn drop_namespace(&self, ns: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(ns).await
    }
    async fn list_tables(&self, ns: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(ns).await
    }
    async fn create_table(
        &self,
        ns: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        self.inner.create_table(ns, creation).await
    }
    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
}
