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
//!
//! ## Where things are
//! This file: [`BronzeTable`], its errors and loading. `table.rs`: creating, checking and
//! evolving the table's schema, and its [`Layout`]. `append.rs`: staging, the exactly-once
//! commit and the conflict loop. [`snapshot`]: the snapshot producer. [`catalog`]: the
//! catalogs and the committers behind them. [`batch`]: the batch identity.

mod append;
pub mod batch;
pub mod catalog;
pub mod netfs;
pub mod snapshot;
mod storage;
mod table;

use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableIdent};

pub use batch::{BatchKey, BatchState, batch_state, committed_snapshot};
pub use catalog::{CommitFailure, Committer};
pub use snapshot::Change;
pub use storage::{ObjectStoreStorage, ObjectStoreStorageFactory};

use crate::clock::Clock;
use crate::config::Settings;
use crate::encode::schema::Layout;
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

    /// Loads a table that must exist.
    pub async fn load_existing(&self) -> Result<Table, CommitError> {
        self.catalog
            .load_table(&self.ident)
            .await
            .map_err(|e| self.err(e))
    }
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
