//! # Commit: the Iceberg table `bronze.pc_metrics`, appended exactly once per batch
//!
//! [`BronzeTable`] wires an Iceberg catalog (the SQL catalog on SQLite for the embedded
//! default, or a REST catalog; [`catalog`]) to the pipeline's object stores, creates the
//! namespace and table on first use, and appends one snapshot per buffer batch. The
//! snapshots are written by pcmetrics' own producer ([`snapshot`]: merge-append, and the
//! replace snapshots of compaction) and committed through the catalog's public protocol.
//!
//! ## Exactly once
//! Every snapshot pcmetrics appends carries the batch's identity ([`batch`]). An append
//! is therefore idempotent:
//! 1. before writing anything, the table is searched for the batch: if it is there (a
//!    previous attempt committed but its response was lost, or the process died before
//!    the buffer recorded the ack), the append reports it as already committed;
//! 2. every commit requires `main` to still be at the snapshot it was built on, so a
//!    commit whose response was lost can never land after another one; after a conflict
//!    the table is reloaded and searched again before the snapshot is rebuilt;
//! 3. when the commit's outcome is unknown (5xx, timeout, cut connection) the table is
//!    reloaded and searched once more before the failure is reported.
//!
//! ## Files are immutable
//! Data files, manifests, manifest lists and metadata files get a fresh name on every
//! attempt, so nothing a late or concurrent commit may name is ever overwritten. An
//! attempt that never commits leaves orphans, which maintenance collects.
//!
//! The buffer forgets a batch only after this stage returns success.

pub mod batch;
pub mod catalog;
pub mod netfs;
pub mod snapshot;
mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct, Transform,
};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};

pub use batch::{BatchKey, BatchState, batch_state, committed_snapshot};
pub use catalog::{CommitFailure, Committer};
pub use snapshot::Change;
pub use storage::{ObjectStoreStorage, ObjectStoreStorageFactory};

use crate::clock::Clock;
use crate::config::Settings;
use crate::encode::schema::{EVOLVED_COLUMNS, Layout, TABLE_SCHEMA, TS_FIELD_ID, partition_spec};
use crate::encode::{EncodedFile, FileStats, day_string};
use crate::error::one_line;
use crate::land::ObjectStores;

/// Metadata versions kept in the log of tables pcmetrics creates.
pub const METADATA_VERSIONS_KEPT: usize = 20;

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
    #[error("table {table}: {message}; point sync.table at a new table")]
    Layout { table: String, message: String },
    #[error("table files: {message}; while writing {location}")]
    Write { location: String, message: String },
    /// A replace whose input another writer rewrote first; planning again resolves it.
    #[error("table changed underneath: {message}")]
    Stale { message: String },
    /// The table has seqs of this buffer that this buffer did not deliver (see
    /// [`batch::BatchState::Diverged`]); the sync moves the buffer to a new identity.
    #[error(
        "the table already has seqs up to {watermark} of buffer {buffer_id}, but not batch {batch_id} (seqs {first_seq}..={last_seq}): this data dir was restored from a backup or copied from another PC"
    )]
    Diverged {
        buffer_id: String,
        batch_id: i64,
        first_seq: i64,
        last_seq: i64,
        watermark: i64,
    },
}

impl CommitError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CommitError::Catalog { retryable, .. } => *retryable,
            CommitError::Write { .. } | CommitError::Stale { .. } => true,
            _ => false,
        }
    }
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
    data_files: Vec<DataFile>,
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

/// What [`BronzeTable::commit_change`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The change is in the table, as `snapshot_id`.
    Committed { table: Table, snapshot_id: i64 },
    /// The change was not needed: `change_for` returned `None` on this state of the table.
    Skipped { table: Table },
}

/// The bronze table behind a catalog.
#[derive(Debug, Clone)]
pub struct BronzeTable {
    catalog: Arc<dyn Catalog>,
    committer: Committer,
    ident: TableIdent,
    catalog_name: String,
    stores: Arc<ObjectStores>,
    clock: Arc<dyn Clock>,
    /// The table's layout, known once the table has been loaded (or created) and evolved.
    layout: Arc<tokio::sync::OnceCell<Layout>>,
}

impl BronzeTable {
    /// Builds the catalog client; does not contact a REST catalog yet.
    pub async fn connect(
        settings: &Settings,
        stores: Arc<ObjectStores>,
    ) -> Result<Self, CommitError> {
        let connected = catalog::connect(settings, stores.clone()).await?;
        Ok(Self {
            catalog: connected.catalog,
            committer: connected.committer,
            ident: TableIdent::new(
                NamespaceIdent::new(settings.sync.namespace.clone()),
                settings.sync.table.clone(),
            ),
            catalog_name: connected.name,
            stores,
            clock: crate::clock::system(),
            layout: Default::default(),
        })
    }

    /// Reads time from `clock` (snapshot timestamps, expiry, closed days).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    pub fn stores(&self) -> &Arc<ObjectStores> {
        &self.stores
    }

    pub(crate) fn err(&self, e: iceberg::Error) -> CommitError {
        catalog::catalog_error(&self.catalog_name, e)
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
            return self.evolve(table).await;
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
                // Metadata files that leave this log are deleted by maintenance.
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
        self.evolve(table).await
    }

    /// The table's [`Layout`] (the field ids our files carry), loading, creating and
    /// evolving the table on first use. Cached: a table's ids never change.
    pub async fn layout(&self) -> Result<Layout, CommitError> {
        self.layout
            .get_or_try_init(|| async {
                let table = self.load_or_create().await?;
                self.layout_of(&table)
            })
            .await
            .cloned()
    }

    fn layout_of(&self, table: &Table) -> Result<Layout, CommitError> {
        Layout::of_table(table.metadata().current_schema()).map_err(|message| CommitError::Layout {
            table: self.ident.to_string(),
            message,
        })
    }

    /// Adds the [`EVOLVED_COLUMNS`] the table lacks (a table created by an older version,
    /// or just created from the base schema): one schema change, optional columns with the
    /// table's next ids, no identifier fields (see [`TABLE_SCHEMA`]). Rows already written
    /// read as null; other engines see the columns. Racing PCs are fine: after a conflict
    /// the reloaded table usually has them already.
    async fn evolve(&self, mut table: Table) -> Result<Table, CommitError> {
        use iceberg::spec::{NestedField, Schema, Type};
        use iceberg::{TableRequirement, TableUpdate};
        for round in 1.. {
            let current = table.metadata().current_schema().clone();
            let missing: Vec<_> = EVOLVED_COLUMNS
                .iter()
                .filter(|c| current.field_by_name(c.name).is_none())
                .collect();
            if missing.is_empty() {
                return Ok(table);
            }
            let last = table.metadata().last_column_id();
            let mut fields = current.as_struct().fields().to_vec();
            for (i, c) in missing.iter().enumerate() {
                fields.push(Arc::new(
                    NestedField::optional(
                        last + 1 + i as i32,
                        c.name,
                        Type::Primitive(c.ty.clone()),
                    )
                    .with_doc(c.doc),
                ));
            }
            let schema = Schema::builder()
                .with_schema_id(current.schema_id() + 1)
                .with_fields(fields)
                .build()
                .map_err(|e| self.err(e))?;
            let requirements = vec![
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: current.schema_id(),
                },
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: last,
                },
            ];
            let updates = vec![
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ];
            let names: Vec<&str> = missing.iter().map(|c| c.name).collect();
            match self
                .committer
                .commit(&self.ident, &table, requirements, updates)
                .await
            {
                Ok(t) => {
                    tracing::info!(table = %self.ident, columns = ?names, "added columns to the table");
                    table = t;
                }
                Err(CommitFailure::Conflict | CommitFailure::Unknown(_))
                    if round < CONFLICT_ROUNDS =>
                {
                    table = self.load_existing().await?;
                }
                Err(failure) => {
                    return Err(CommitError::Catalog {
                        catalog: self.catalog_name.clone(),
                        message: format!("adding columns {names:?}: {failure}"),
                        retryable: failure.is_retryable(),
                    });
                }
            }
        }
        unreachable!("the loop returns")
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
        for c in EVOLVED_COLUMNS.iter() {
            match current.field_by_name(c.name) {
                Some(f) if *f.field_type != iceberg::spec::Type::Primitive(c.ty.clone()) => {
                    return Err(CommitError::SchemaMismatch {
                        table: self.ident.to_string(),
                        column: c.name.to_owned(),
                        id: f.id,
                        found: format!("{}", f.field_type),
                        expected: format!("{}", c.ty),
                    });
                }
                // Missing: added by `evolve`.
                _ => {}
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
    /// the batch. Each attempt writes files of its own name.
    pub async fn stage(
        &self,
        key: &BatchKey,
        files: &[EncodedFile],
    ) -> Result<Staging, CommitError> {
        let table = self.load_or_create().await?;
        match batch_state(&table, key) {
            BatchState::New => {}
            BatchState::Committed(snapshot_id) => {
                return Ok(Staging::AlreadyCommitted(Committed {
                    snapshot_id,
                    already: true,
                    metadata_location: table.metadata_location().map(str::to_owned),
                }));
            }
            BatchState::Diverged { watermark } => return Err(diverged(key, watermark)),
        }
        let stem = format!("{}-{}", key.file_stem(), attempt_id());
        let mut data_files = Vec::with_capacity(files.len());
        for f in files {
            let name = format!("{stem}-{}", day_string(f.day));
            data_files.push(
                self.write_data_file(&table, f.day, &name, f.bytes.clone(), f.rows, &f.stats)
                    .await?,
            );
        }
        Ok(Staging::Staged(Staged {
            table,
            data_files,
            rows: files.iter().map(|f| f.rows).sum(),
        }))
    }

    /// Writes one Parquet file of day `day` under the table's data folder and describes it
    /// for a manifest.
    pub async fn write_data_file(
        &self,
        table: &Table,
        day: i32,
        name: &str,
        bytes: bytes::Bytes,
        rows: usize,
        stats: &FileStats,
    ) -> Result<DataFile, CommitError> {
        let location = format!(
            "{}/data/ts_day={}/{name}.parquet",
            table.metadata().location().trim_end_matches('/'),
            day_string(day)
        );
        let write_err = |e: iceberg::Error| CommitError::Write {
            location: location.clone(),
            message: one_line(&e.to_string()),
        };
        let size = bytes.len() as u64;
        table
            .file_io()
            .new_output(&location)
            .map_err(write_err)?
            .write(bytes)
            .await
            .map_err(write_err)?;
        let stats = stats.clone();
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(location.clone())
            .file_format(DataFileFormat::Parquet)
            .partition(Struct::from_iter([Some(Literal::date(day))]))
            .partition_spec_id(table.metadata().default_partition_spec_id())
            .record_count(rows as u64)
            .file_size_in_bytes(size)
            .column_sizes(stats.column_sizes)
            .value_counts(stats.value_counts)
            .null_value_counts(stats.null_value_counts)
            .lower_bounds(stats.lower_bounds)
            .upper_bounds(stats.upper_bounds)
            .split_offsets(Some(stats.split_offsets))
            .build()
            .map_err(|e| CommitError::Write {
                location,
                message: format!("cannot describe the data file: {e}"),
            })
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
        let mut change = Change::append(data_files);
        change.summary = key.summary(hostname, rows);
        // The watermark and the batch's name go in the same commit: they are how a retry
        // recognises the batch after its snapshot has been expired.
        change.properties = key.properties();
        let outcome = self
            .commit_change(table, |t| {
                (batch_state(t, key) == BatchState::New).then(|| change.clone())
            })
            .await?;
        Ok(match outcome {
            Outcome::Committed { table, snapshot_id } => Committed {
                snapshot_id,
                already: false,
                metadata_location: table.metadata_location().map(str::to_owned),
            },
            Outcome::Skipped { table } => {
                if let BatchState::Diverged { watermark } = batch_state(&table, key) {
                    return Err(diverged(key, watermark));
                }
                tracing::info!(batch = key.batch_id, "the batch was already in the table");
                Committed {
                    snapshot_id: committed_snapshot(&table, key).unwrap_or_default(),
                    already: true,
                    metadata_location: table.metadata_location().map(str::to_owned),
                }
            }
        })
    }

    /// Commits the change `change_for` asks for on the current state of the table, as one
    /// snapshot: rebuilt on the newest table after every conflict (more rounds than
    /// iceberg-rust's own retries: many PCs may commit at once), and looked for again when
    /// the outcome is unknown. `change_for` returns `None` when the table no longer needs
    /// the change (it is already there).
    pub async fn commit_change(
        &self,
        mut base: Table,
        change_for: impl Fn(&Table) -> Option<Change>,
    ) -> Result<Outcome, CommitError> {
        let mut round = 0;
        loop {
            round += 1;
            let Some(change) = change_for(&base) else {
                return Ok(Outcome::Skipped { table: base });
            };
            let produced = snapshot::produce(&base, &change, self.clock.now_ms())
                .await
                .map_err(|e| match e {
                    snapshot::ProduceError::Stale { .. } => CommitError::Stale {
                        message: e.to_string(),
                    },
                    snapshot::ProduceError::Iceberg(e) => CommitError::Write {
                        location: base.metadata().location().to_owned(),
                        message: one_line(&e.to_string()),
                    },
                })?;
            let failure = match self
                .committer
                .commit(&self.ident, &base, produced.requirements, produced.updates)
                .await
            {
                Ok(table) => {
                    return Ok(Outcome::Committed {
                        table,
                        snapshot_id: produced.snapshot_id,
                    });
                }
                Err(f) => f,
            };
            let reloaded = self.load_existing().await;
            match (&failure, reloaded) {
                (CommitFailure::Conflict, Ok(t)) if round < CONFLICT_ROUNDS => {
                    tracing::debug!(round, "commit conflict, rebuilding on the newest table");
                    tokio::time::sleep(jitter(round)).await;
                    base = t;
                }
                (CommitFailure::Unknown(_), Ok(t)) if change_for(&t).is_none() => {
                    tracing::info!("commit reported an error but had landed");
                    return Ok(Outcome::Skipped { table: t });
                }
                _ => {
                    return Err(CommitError::Catalog {
                        catalog: self.catalog_name.clone(),
                        message: failure.to_string(),
                        retryable: failure.is_retryable(),
                    });
                }
            }
        }
    }

    /// Loads a table that must exist.
    pub async fn load_existing(&self) -> Result<Table, CommitError> {
        self.catalog
            .load_table(&self.ident)
            .await
            .map_err(|e| self.err(e))
    }
}

fn diverged(key: &BatchKey, watermark: i64) -> CommitError {
    CommitError::Diverged {
        buffer_id: key.buffer_id.clone(),
        batch_id: key.batch_id,
        first_seq: key.first_seq,
        last_seq: key.last_seq,
        watermark,
    }
}

/// A short random id that makes every attempt's file names its own.
fn attempt_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Rounds of commit attempts when other writers keep winning the race.
/// (iceberg-rust's own retries are not in play: every round here is one attempt, so there
/// are as many as its four retries times the ten rounds pcmetrics gave them before.)
const CONFLICT_ROUNDS: u32 = 40;

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
