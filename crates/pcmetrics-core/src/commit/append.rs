//! Appends, exactly once: a batch's files are staged under names of their own attempt and
//! committed as one snapshot carrying the batch identity (see the module docs of
//! [`crate::commit`] and [`crate::deliver`]); every commit goes through the conflict and
//! unknown-outcome loop of [`BronzeTable::commit_change`].

use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct};
use iceberg::table::Table;

use super::snapshot;
use super::{
    BatchKey, BatchState, BronzeTable, CONFLICT_ROUNDS, Change, CommitError, CommitFailure,
    Committed, Outcome, Staged, Staging, batch_state, committed_snapshot, jitter,
};
use crate::encode::{EncodedFile, FileStats, day_string};
use crate::error::one_line;

impl BronzeTable {
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
