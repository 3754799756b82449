//! # Deliver: one buffered batch into the table, exactly once
//!
//! The protocol of one batch, as the states it moves through. Each state owns what the
//! next step needs; a step consumes its state and returns the next, so the order cannot
//! be broken, and each state is a place where the process may die:
//!
//! ```text
//! Opened ─encode─▶ Encoded ─land─▶ Landed ─stage─▶ Staged ─commit─▶ Committed ─ack─▶ done
//!                                     └─(the table already has the batch)─▶ Committed
//! ```
//!
//! - **Opened**: the buffer has recorded the batch (seq range, when it was opened). Its
//!   identity [`BatchKey`] — host, buffer, batch id, seq range, opening time — is fixed
//!   from here on and is written into the snapshot that carries it.
//! - **Encoded**: the Parquet bytes, one file per UTC day, in the table's layout.
//! - **Landed**: the same bytes in the landing zone, named after the batch identity (a
//!   retry rewrites identical bytes there; no table metadata points at landing files).
//! - **Staged**: the data files under the table location, under names of this attempt
//!   (never a name another attempt or timeline used). If the table already holds the
//!   batch (an earlier attempt committed and then the process died), there is nothing to
//!   stage: straight to Committed. If the table holds *other* batches of this buffer
//!   beyond this one, the buffer is a diverged timeline ([`crate::commit::CommitError::Diverged`]).
//! - **Committed**: the table holds the batch. A commit whose outcome is unknown (a lost
//!   response, a 5xx) is settled inside [`BronzeTable::commit`] by reloading the table
//!   and looking for the batch identity; a conflict rebuilds the snapshot on the newest
//!   table.
//! - **done**: the buffer forgets the batch (acks it), only now.
//!
//! A failure or a crash in any state leaves the batch open in the buffer; the next sync
//! starts again at Opened with the same identity, and the table check makes every step
//! after it harmless to repeat. Fail points ([`Step`]) stop the process on entering a
//! state, for the crash tests.

use crate::commit::{BatchKey, BronzeTable, Committed, Staged, Staging};
use crate::encode::{BatchColumns, EncodedFile, ParquetEncoder};
use crate::error::Result;
use crate::host::HostIdentity;
use crate::land::LandingZone;
use crate::sync::Step;

/// One batch on its way into the table.
pub enum Delivery {
    Opened {
        key: BatchKey,
        rows: BatchColumns,
    },
    Encoded {
        key: BatchKey,
        files: Vec<EncodedFile>,
    },
    Landed {
        key: BatchKey,
        files: Vec<EncodedFile>,
        landed: Vec<String>,
    },
    Staged {
        key: BatchKey,
        files: Vec<EncodedFile>,
        landed: Vec<String>,
        staged: Staged,
    },
    Committed {
        key: BatchKey,
        files: Vec<EncodedFile>,
        landed: Vec<String>,
        committed: Committed,
    },
}

/// What a delivered batch was, for the sync report. The caller acks it.
#[derive(Debug)]
pub struct Delivered {
    pub key: BatchKey,
    pub rows: usize,
    pub files: usize,
    pub bytes: u64,
    pub committed: Committed,
    pub landed: Vec<String>,
}

/// Where a step left the batch.
pub enum Progress {
    /// In the next state.
    Next(Delivery),
    /// In the table; the caller acks it.
    Delivered(Delivered),
}

/// What the steps need from the sync.
pub struct Env<'a> {
    pub host: &'a HostIdentity,
    pub encoder: ParquetEncoder,
    pub landing: &'a LandingZone,
    pub table: &'a BronzeTable,
}

impl Delivery {
    pub fn open(key: BatchKey, rows: BatchColumns) -> Self {
        Delivery::Opened { key, rows }
    }

    /// The fail point of this state.
    pub fn step(&self) -> Step {
        match self {
            Delivery::Opened { .. } => Step::BatchOpened,
            Delivery::Encoded { .. } => Step::Encoded,
            Delivery::Landed { .. } => Step::Landed,
            Delivery::Staged { .. } => Step::TableFilesWritten,
            Delivery::Committed { .. } => Step::Committed,
        }
    }

    /// Encodes an opened batch (on a blocking thread: it is the CPU-heavy step, and a
    /// sync runs it for the next batch while the previous one lands and commits). Any
    /// other state is returned as it is.
    pub async fn encode(self, env: &Env<'_>) -> Result<Self> {
        let Delivery::Opened { key, rows } = self else {
            return Ok(self);
        };
        let encoder = env.encoder.clone();
        let (host_id, hostname) = (env.host.host_id.clone(), env.host.hostname.clone());
        let buffer_id = key.buffer_id.clone();
        let files = tokio::task::spawn_blocking(move || {
            encoder.encode_columns(&host_id, &hostname, &buffer_id, rows)
        })
        .await
        .expect("encoder task panicked")?;
        Ok(Delivery::Encoded { key, files })
    }

    /// Moves the batch one state on.
    pub async fn advance(self, env: &Env<'_>) -> Result<Progress> {
        Ok(Progress::Next(match self {
            opened @ Delivery::Opened { .. } => opened.encode(env).await?,
            Delivery::Encoded { key, files } => {
                let stem = key.file_stem();
                let mut landed = Vec::with_capacity(files.len());
                for f in &files {
                    let k = env.landing.key(&env.host.host_id, &stem, f);
                    env.landing.put(&k, f.bytes.clone()).await?;
                    landed.push(env.landing.location(&k));
                }
                Delivery::Landed { key, files, landed }
            }
            Delivery::Landed { key, files, landed } => match env.table.stage(&key, &files).await? {
                Staging::AlreadyCommitted(committed) => Delivery::Committed {
                    key,
                    files,
                    landed,
                    committed,
                },
                Staging::Staged(staged) => Delivery::Staged {
                    key,
                    files,
                    landed,
                    staged,
                },
            },
            Delivery::Staged {
                key,
                files,
                landed,
                staged,
            } => {
                let committed = env.table.commit(&key, &env.host.hostname, staged).await?;
                Delivery::Committed {
                    key,
                    files,
                    landed,
                    committed,
                }
            }
            Delivery::Committed {
                key,
                files,
                landed,
                committed,
            } => {
                return Ok(Progress::Delivered(Delivered {
                    rows: files.iter().map(|f| f.rows).sum(),
                    files: files.len(),
                    bytes: files.iter().map(|f| f.bytes.len() as u64).sum(),
                    key,
                    committed,
                    landed,
                }));
            }
        }))
    }
}
