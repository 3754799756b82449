//! # Buffer: every sample, durably, before anything else happens to it
//!
//! [`SqliteBuffer`] is one SQLite file (`<data-dir>/buffer.db`, WAL, `synchronous=FULL`)
//! holding the samples, the open sync batch, the sync log and per-minute rollups.
//!
//! ## Invariants
//! - `seq` is assigned by SQLite `AUTOINCREMENT`: strictly increasing, never reused, and
//!   dense for rows that were not dropped (an insert that fails rolls its `seq` back).
//! - A sample is *pending* while `seq > floor`, where `floor = max(acked_seq,
//!   dropped_through)`. Pending samples form the dense range `floor+1 ..= max(seq)`, so
//!   counting them is O(1).
//! - Samples are only deleted in two ways: the oldest pending ones when there are more than
//!   `max_pending` (counted in `dropped_total`, logged as a warning), and synced ones older
//!   than the retention, after they were rolled up. "Older" is judged by the wall clock and
//!   by count ([`Retention`]), so a clock that jumps cannot make all history look old.
//! - A sync works on a *batch*: a seq range recorded in `batches` before anything leaves
//!   this file. The batch stays the same across retries (same files, same snapshot
//!   properties) until [`SqliteBuffer::ack`] forgets it, which happens only after the table
//!   has it. There is at most one open batch.
//! - `buffer_id` (random, made with the file) tells this file's seqs from those of any other
//!   buffer of the same host, e.g. after the file was deleted and recreated.
//!
//! Every write transaction is `BEGIN IMMEDIATE`: the sampler and a sync write through two
//! connections, and a deferred transaction that reads before it writes would fail at once
//! with "database is locked" instead of waiting for the other writer.
//!
//! The rows of a batch are re-read from the samples on every attempt; if some were dropped
//! in the meantime the batch is smaller, never different in identity.

mod codec;
pub mod history;
pub mod migrate;
mod retention;

pub use retention::Retention;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::sample::MetricSample;
use crate::sample::sink::{SampleBuilder, SampleSink};

/// Buffer file layout version, in `PRAGMA user_version`: the number of [`migrate`] steps
/// the file has had. An older pcmetrics refuses a newer file with a clear message instead
/// of failing on what it cannot read (2: `detail` may be a binary BLOB).
pub const SCHEMA_VERSION: i64 = migrate::LATEST;

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error(
        "buffer {path} is not a readable SQLite database ({detail}); stop pcmetrics, move the file aside (it is kept for recovery) and start again to begin a new buffer"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "buffer {path} was written by a newer pcmetrics (layout {found}, this one reads up to {SCHEMA_VERSION}); upgrade pcmetrics, or use another --data-dir"
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error(
        "buffer {path}: the disk is full; free some space (the buffer needs a few MB to go on)"
    )]
    DiskFull { path: PathBuf },
    #[error(
        "buffer {path} cannot be written ({detail}); check the data dir's permissions or pass another --data-dir"
    )]
    ReadOnly { path: PathBuf, detail: String },
    #[error("buffer {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("buffer {path}: sample {seq} cannot be decoded: {detail}")]
    Decode {
        path: PathBuf,
        seq: i64,
        detail: String,
    },
    #[error(
        "buffer {path} holds {holds} samples and this would add {adding} ones; they are kept in separate data dirs so that synthetic samples never mix with a PC's real history: pass another --data-dir (a new folder)"
    )]
    MixedSource {
        path: PathBuf,
        holds: &'static str,
        adding: &'static str,
    },
    #[error(
        "history range {from_us}..{to_us} (µs since 1970) is not a range of time: it must start before it ends and span at most {} years; ask for e.g. the last 30 days",
        history::MAX_SPAN_US / history::YEAR_US
    )]
    BadRange { from_us: i64, to_us: i64 },
}

impl BufferError {
    fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        let path = path.to_owned();
        if let rusqlite::Error::FromSqlConversionFailure(_, _, why) = &e {
            // The buffer's own bookkeeping does not read back as it was written.
            return Self::Corrupt {
                path,
                detail: why.to_string(),
            };
        }
        match e.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => Self::Corrupt {
                path,
                detail: e.to_string(),
            },
            Some(DiskFull) => Self::DiskFull { path },
            Some(ReadOnly | CannotOpen | PermissionDenied) => Self::ReadOnly {
                path,
                detail: e.to_string(),
            },
            _ => Self::Sqlite { path, source: e },
        }
    }
}

type Result<T> = std::result::Result<T, BufferError>;

/// A seq range that one sync delivers as one snapshot. Its rows are read with
/// [`SqliteBuffer::read_into`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// When the batch was opened (µs since the epoch); part of its identity in the table.
    pub created_us: i64,
}

/// What one append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first_seq: i64,
    pub last_seq: i64,
    /// Oldest pending samples dropped to stay within `max_pending`.
    pub dropped: u64,
}

/// The buffer's state, for `status` and the tray.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BufferStatus {
    pub buffer_id: String,
    pub pending: u64,
    pub oldest_pending_us: Option<i64>,
    pub newest_sample_us: Option<i64>,
    pub last_seq: i64,
    pub acked_seq: i64,
    pub dropped_total: u64,
    pub open_batch: Option<(i64, i64, i64)>,
    pub samples_kept: u64,
    /// Samples set aside because they cannot be delivered (see [`SqliteBuffer::quarantine`]).
    pub quarantined: u64,
}

/// A sample set aside: its seq, time and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantined {
    pub seq: i64,
    pub ts_us: i64,
    pub reason: String,
    pub quarantined_us: i64,
}

/// One row of the sync log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncRun {
    pub started_us: i64,
    pub finished_us: i64,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub snapshot_id: Option<i64>,
    pub error: Option<String>,
}

pub struct SqliteBuffer {
    conn: Connection,
    path: PathBuf,
    max_pending: u64,
    buffer_id: String,
}

impl std::fmt::Debug for SqliteBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBuffer")
            .field("path", &self.path)
            .finish()
    }
}

const SYNC_RUN_COLUMNS: &str = "started_us, finished_us, rows, files, bytes, snapshot_id, error";

fn sync_run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        started_us: r.get(0)?,
        finished_us: r.get(1)?,
        rows: r.get::<_, i64>(2)? as u64,
        files: r.get::<_, i64>(3)? as u64,
        bytes: r.get::<_, i64>(4)? as u64,
        snapshot_id: r.get(5)?,
        error: r.get(6)?,
    })
}

impl SqliteBuffer {
    /// Opens (creating if needed) the buffer file. Fails with a clear error on a corrupt
    /// file, a file from a newer pcmetrics, or a directory that cannot be written; it never
    /// deletes or rewrites an existing file it cannot read.
    pub fn open(path: &Path, max_pending: u64) -> Result<Self> {
        let err = |e| BufferError::from_sqlite(path, e);
        if let Some(dir) = path.parent() {
            crate::host::create_private_dir(dir).map_err(|e| BufferError::ReadOnly {
                path: path.to_owned(),
                detail: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        // Reading the header is the first thing that fails on a file that is not SQLite.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(BufferError::NewerSchema {
                path: path.to_owned(),
                found: version,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        migrate::run(&mut conn, version).map_err(err)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('buffer_id', ?1)",
            [uuid::Uuid::new_v4().to_string()],
        )
        .map_err(err)?;
        let buffer_id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'buffer_id'", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        if uuid::Uuid::parse_str(&buffer_id).is_err() {
            return Err(BufferError::Corrupt {
                path: path.to_owned(),
                detail: format!("its buffer id {buffer_id:?} is not a UUID"),
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            max_pending,
            buffer_id,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Random id of this buffer file; part of every batch's identity in the table.
    pub fn buffer_id(&self) -> &str {
        &self.buffer_id
    }

    fn err(&self, e: rusqlite::Error) -> BufferError {
        BufferError::from_sqlite(&self.path, e)
    }

    /// A counter of `meta` (0 when never set). A value that is not a number means the
    /// file was damaged or edited: an error, never a silent 0 (a reset `acked_seq` would
    /// deliver everything again).
    fn meta_i64(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
        let Some(text) = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        else {
            return Ok(0);
        };
        text.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("meta {key} = {text:?} is not a number").into(),
            )
        })
    }

    fn set_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value.to_string()],
        )?;
        Ok(())
    }

    fn max_seq(conn: &Connection) -> rusqlite::Result<i64> {
        // sqlite_sequence holds the AUTOINCREMENT high-water mark even after deletes.
        Ok(conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'samples'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    fn floor(conn: &Connection) -> rusqlite::Result<i64> {
        Ok(Self::meta_i64(conn, "acked_seq")?.max(Self::meta_i64(conn, "dropped_through")?))
    }

    /// Appends samples in one transaction and returns their seq range. Non-finite numbers
    /// are stored as 0. Past `max_pending`, drops the oldest pending samples (warns and
    /// counts them).
    pub fn append(&mut self, samples: &[MetricSample]) -> Result<Appended> {
        if samples.is_empty() {
            let last = Self::max_seq(&self.conn).map_err(|e| self.err(e))?;
            return Ok(Appended {
                first_seq: last + 1,
                last_seq: last,
                dropped: 0,
            });
        }
        let max_pending = self.max_pending as i64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        let run = || -> rusqlite::Result<Appended> {
            // Multi-row INSERTs of ROWS_PER_INSERT samples, the rest one by one. We hold
            // the write lock, so the seqs of the whole append are consecutive.
            let mut detail = Vec::with_capacity(512);
            let k = codec::ROWS_PER_INSERT;
            let (many, rest) = samples.split_at(samples.len() / k * k);
            let mut first_seq = None;
            for (sql, per_insert, part) in [
                (&*codec::INSERT_MANY_SQL, k, many),
                (&*codec::INSERT_ONE_SQL, 1, rest),
            ] {
                if part.is_empty() {
                    continue;
                }
                let mut stmt = tx.prepare_cached(sql)?;
                for rows in part.chunks(per_insert) {
                    codec::insert(&mut stmt, rows, &mut detail)?;
                    first_seq.get_or_insert(tx.last_insert_rowid() - rows.len() as i64 + 1);
                }
            }
            let last_seq = tx.last_insert_rowid();
            let first_seq = first_seq.expect("samples is not empty");
            debug_assert_eq!(last_seq - first_seq + 1, samples.len() as i64);
            let floor = Self::floor(&tx)?;
            let excess = (last_seq - floor) - max_pending;
            let mut dropped = 0;
            if excess > 0 {
                let through = floor + excess;
                tx.execute(
                    "DELETE FROM samples WHERE seq > ?1 AND seq <= ?2",
                    params![floor, through],
                )?;
                Self::set_meta(&tx, "dropped_through", through)?;
                let total = Self::meta_i64(&tx, "dropped_total")? + excess;
                Self::set_meta(&tx, "dropped_total", total)?;
                dropped = excess as u64;
            }
            Ok(Appended {
                first_seq,
                last_seq,
                dropped,
            })
        };
        let out = run().map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        // The caller logs drops (the sample loop at most once a minute).
        Ok(out)
    }

    /// The open batch if there is one (a retry), else a new batch of up to `max_rows`
    /// pending samples, or `None` when nothing is pending.
    pub fn open_batch(&mut self, max_rows: usize) -> Result<Option<Batch>> {
        self.open_batch_after(None, max_rows)
    }

    /// Like [`Self::open_batch`], for the batch that follows the one ending at `after_seq`
    /// while that one is still on its way (a sync reads and encodes the next batch while
    /// it commits the previous): the oldest open batch starting after it, else a new one.
    /// Batches are acked in order, so several may be open at once; a later run reopens
    /// them oldest first, each with the range it had.
    pub fn open_batch_after(
        &mut self,
        after_seq: Option<i64>,
        max_rows: usize,
    ) -> Result<Option<Batch>> {
        let after = after_seq.unwrap_or(i64::MIN);
        let existing: Option<(i64, i64, i64, i64)> = self
            .conn
            .query_row(
                "SELECT id, first_seq, last_seq, created_us FROM batches
                 WHERE first_seq > ?1 ORDER BY id LIMIT 1",
                [after],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let (id, first_seq, last_seq, created_us) = match existing {
            Some(b) => b,
            None => {
                // After everything acked, dropped, or in an open batch.
                let open_through: i64 = self
                    .conn
                    .query_row("SELECT coalesce(max(last_seq), 0) FROM batches", [], |r| {
                        r.get(0)
                    })
                    .map_err(|e| self.err(e))?;
                let floor = Self::floor(&self.conn)
                    .map_err(|e| self.err(e))?
                    .max(open_through)
                    .max(after);
                let max = Self::max_seq(&self.conn).map_err(|e| self.err(e))?;
                if max <= floor {
                    return Ok(None);
                }
                let first = floor + 1;
                let last = self
                    .day_end(first, max.min(floor + max_rows as i64))
                    .map_err(|e| self.err(e))?;
                let created = crate::sample::now_us();
                self.conn
                    .execute(
                        "INSERT INTO batches (first_seq, last_seq, created_us) VALUES (?1, ?2, ?3)",
                        params![first, last, created],
                    )
                    .map_err(|e| self.err(e))?;
                return Ok(Some(Batch {
                    id: self.conn.last_insert_rowid(),
                    first_seq: first,
                    last_seq: last,
                    created_us: created,
                }));
            }
        };
        Ok(Some(Batch {
            id,
            first_seq,
            last_seq,
            created_us,
        }))
    }

    /// Where a new batch of seqs `first..=last` should end so that it stays within the
    /// UTC day of its first sample: before the first sample on a later day, if one is
    /// not the first. A backlog of several days (a PC offline) then lands as one file per
    /// day, which compaction has no reason to rewrite. Only forward crossings cut (a
    /// clock that went back does not), so each cut starts the next batch on a later day,
    /// and a batch is short at most once per day the samples span.
    fn day_end(&self, first: i64, last: i64) -> rusqlite::Result<i64> {
        const DAY_US: i64 = 86_400_000_000;
        let first_ts: Option<i64> = self
            .conn
            .query_row(
                "SELECT ts_us FROM samples WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq LIMIT 1",
                [first, last],
                |r| r.get(0),
            )
            .optional()?;
        let Some(first_ts) = first_ts else {
            return Ok(last);
        };
        let next_day_us = (first_ts.div_euclid(DAY_US) + 1).saturating_mul(DAY_US);
        let cut: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM samples WHERE seq BETWEEN ?1 AND ?2 AND ts_us >= ?3
                 ORDER BY seq LIMIT 1",
                params![first, last, next_day_us],
                |r| r.get(0),
            )
            .optional()?;
        Ok(cut.map_or(last, |seq| seq - 1))
    }

    /// Sets sample `seq` aside: moves its row, every column as stored, into the
    /// `quarantine` table with `reason`, so the batches around it can be delivered. For a
    /// sample that can never be delivered (its stored form cannot be decoded); nothing is
    /// deleted from the file. Returns whether the sample was there.
    pub fn quarantine(&mut self, seq: i64, reason: &str) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        let moved = tx
            .execute(
                "INSERT INTO quarantine SELECT *, ?2, ?3 FROM samples WHERE seq = ?1",
                params![seq, reason, crate::sample::now_us()],
            )
            .and_then(|n| {
                tx.execute("DELETE FROM samples WHERE seq = ?1", [seq])?;
                Ok(n > 0)
            })
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        Ok(moved)
    }

    /// The newest `limit` quarantined samples, newest first.
    pub fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, ts_us, reason, quarantined_us FROM quarantine ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(Quarantined {
                    seq: r.get(0)?,
                    ts_us: r.get(1)?,
                    reason: r.get(2)?,
                    quarantined_us: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Records which kind of source writes this buffer, and refuses the other kind: real
    /// samples and synthetic ones (`simulate`, `run --source synthetic`) never share a
    /// buffer, so they never share a host id in the table. A buffer from before this was
    /// recorded that already holds samples counts as a real one.
    pub fn claim_source(&mut self, kind: crate::sample::SourceKind) -> Result<()> {
        use crate::sample::SourceKind;
        let name = |k: SourceKind| match k {
            SourceKind::System => "system",
            SourceKind::Synthetic => "synthetic",
        };
        let run = || -> rusqlite::Result<Option<&'static str>> {
            let recorded: Option<String> = self
                .conn
                .query_row("SELECT value FROM meta WHERE key = 'source'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            let holds = match recorded.as_deref() {
                Some("synthetic") => SourceKind::Synthetic,
                Some(_) => SourceKind::System,
                None if Self::max_seq(&self.conn)? > 0 => SourceKind::System,
                None => kind,
            };
            if recorded.is_none() {
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('source', ?1)",
                    [name(holds)],
                )?;
            }
            Ok((holds != kind).then(|| name(holds)))
        };
        match run().map_err(|e| self.err(e))? {
            None => Ok(()),
            Some(holds) => Err(BufferError::MixedSource {
                path: self.path.clone(),
                holds,
                adding: name(kind),
            }),
        }
    }

    /// Gives this buffer a new identity: a new buffer id, and the open batch forgotten so
    /// the next one is opened (and named) afresh. For a diverged timeline (a restored or
    /// copied data dir, see `commit::batch`): nothing is lost, the pending samples stay and
    /// are delivered under the new id. Returns the new id.
    pub fn rekey(&mut self) -> Result<String> {
        let new_id = uuid::Uuid::new_v4().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        let run = || -> rusqlite::Result<()> {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'buffer_id'",
                [&new_id],
            )?;
            tx.execute("DELETE FROM batches", [])?;
            Ok(())
        };
        run().map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        self.buffer_id = new_id.clone();
        Ok(new_id)
    }

    /// The samples with `first <= seq <= last`, in seq order.
    pub fn read_range(&self, first: i64, last: i64) -> Result<Vec<(i64, MetricSample)>> {
        let mut out = SampleBuilder::default();
        self.read_into(first, last, &mut out)?;
        Ok(out.samples)
    }

    /// Hands the samples with `first <= seq <= last` to `sink`, in seq order, without
    /// building a [`MetricSample`] for each: the sync reads a batch straight into its
    /// Arrow columns this way. On an error the sink may hold part of a row; drop it.
    pub fn read_into(&self, first: i64, last: i64, sink: &mut impl SampleSink) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(codec::SELECT_RANGE_SQL)
            .map_err(|e| self.err(e))?;
        self.read_rows(&mut stmt, params![first, last], sink)
    }

    fn read_rows(
        &self,
        stmt: &mut rusqlite::CachedStatement<'_>,
        params: impl rusqlite::Params,
        sink: &mut impl SampleSink,
    ) -> Result<()> {
        let mut rows = stmt.query(params).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let (seq, decoded) = codec::read_row(row, sink).map_err(|e| self.err(e))?;
            decoded.map_err(|detail| BufferError::Decode {
                path: self.path.clone(),
                seq,
                detail,
            })?;
        }
        Ok(())
    }

    /// The newest samples taken at or after `since_us` (at most `limit`), oldest first:
    /// the backfill of a live chart.
    pub fn recent(&self, since_us: i64, limit: usize) -> Result<Vec<MetricSample>> {
        let mut stmt = self
            .conn
            .prepare_cached(codec::SELECT_RECENT_SQL)
            .map_err(|e| self.err(e))?;
        let mut out = SampleBuilder::default();
        self.read_rows(&mut stmt, params![since_us, limit as i64], &mut out)?;
        Ok(out.samples.into_iter().rev().map(|(_, s)| s).collect())
    }

    /// The table has batch `id`: forget it and count its samples as synced.
    pub fn ack(&mut self, batch_id: i64) -> Result<()> {
        self.ack_delivered(batch_id, None)
    }

    /// Forgets the batch whose rows from `first_delivered` on are now in the table. Rows
    /// that the buffer bound dropped after the sync had read them were delivered after
    /// all: they come off `dropped_total` (drops take the oldest pending seqs first, so
    /// they are exactly the seqs from `first_delivered` to `dropped_through`).
    pub fn ack_delivered(&mut self, batch_id: i64, first_delivered: Option<i64>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        let run = || -> rusqlite::Result<()> {
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_seq FROM batches WHERE id = ?1",
                    [batch_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(last) = last {
                let acked = Self::meta_i64(&tx, "acked_seq")?.max(last);
                Self::set_meta(&tx, "acked_seq", acked)?;
                tx.execute("DELETE FROM batches WHERE id = ?1", [batch_id])?;
                if let Some(first) = first_delivered {
                    let dropped_through = Self::meta_i64(&tx, "dropped_through")?;
                    let delivered_anyway = (dropped_through.min(last) - first + 1).max(0);
                    if delivered_anyway > 0 {
                        let total = Self::meta_i64(&tx, "dropped_total")?;
                        Self::set_meta(&tx, "dropped_total", (total - delivered_anyway).max(0))?;
                    }
                }
            }
            Ok(())
        };
        run().map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        tx.commit()
            .map_err(|e| BufferError::from_sqlite(&self.path, e))
    }

    /// Appends a run to the log. Its error text is stored with URL credentials redacted
    /// (the log outlives a config that had them).
    pub fn record_sync_run(&self, run: &SyncRun) -> Result<()> {
        let error = run.error.as_deref().map(crate::redact::text);
        self.conn
            .execute(
                "INSERT INTO sync_runs (started_us, finished_us, rows, files, bytes, snapshot_id, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run.started_us,
                    run.finished_us,
                    run.rows as i64,
                    run.files as i64,
                    run.bytes as i64,
                    run.snapshot_id,
                    error
                ],
            )
            .map_err(|e| self.err(e))?;
        // The log is for humans: keep the last thousand runs.
        self.conn
            .execute(
                "DELETE FROM sync_runs WHERE id <= (SELECT max(id) FROM sync_runs) - 1000",
                [],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The most recent sync runs, newest first.
    pub fn recent_sync_runs(&self, n: usize) -> Result<Vec<SyncRun>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([n as i64], sync_run_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The newest successful sync run.
    pub fn last_successful_sync(&self) -> Result<Option<SyncRun>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {SYNC_RUN_COLUMNS} FROM sync_runs
                     WHERE error IS NULL ORDER BY id DESC LIMIT 1"
                ),
                [],
                sync_run_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Samples not yet acked by a sync: O(1), unlike [`Self::status`] (which counts rows).
    pub fn pending(&self) -> Result<u64> {
        let run = || {
            Ok::<_, rusqlite::Error>(
                (Self::max_seq(&self.conn)? - Self::floor(&self.conn)?).max(0) as u64,
            )
        };
        run().map_err(|e| self.err(e))
    }

    pub fn status(&self) -> Result<BufferStatus> {
        let c = &self.conn;
        let run = || -> rusqlite::Result<BufferStatus> {
            let last_seq = Self::max_seq(c)?;
            let floor = Self::floor(c)?;
            let oldest_pending_us = c
                .query_row(
                    "SELECT ts_us FROM samples WHERE seq > ?1 ORDER BY seq LIMIT 1",
                    [floor],
                    |r| r.get(0),
                )
                .optional()?;
            let newest_sample_us = c
                .query_row(
                    "SELECT ts_us FROM samples ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let open_batch = c
                .query_row(
                    "SELECT id, first_seq, last_seq FROM batches ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let samples_kept: i64 =
                c.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?;
            let quarantined: i64 =
                c.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))?;
            Ok(BufferStatus {
                buffer_id: self.buffer_id.clone(),
                pending: (last_seq - floor).max(0) as u64,
                oldest_pending_us,
                newest_sample_us,
                last_seq,
                acked_seq: Self::meta_i64(c, "acked_seq")?,
                dropped_total: Self::meta_i64(c, "dropped_total")? as u64,
                open_batch,
                samples_kept: samples_kept as u64,
                quarantined: quarantined as u64,
            })
        };
        run().map_err(|e| self.err(e))
    }

    /// Folds new samples into the per-minute rollups, then deletes synced samples and
    /// rollups past `retention`. Pending samples are never pruned. Returns the number of
    /// samples deleted.
    pub fn maintain(&mut self, now_us: i64, retention: &Retention) -> Result<u64> {
        history::roll_up(&mut self.conn).map_err(|e| BufferError::from_sqlite(&self.path, e))?;
        let acked = Self::meta_i64(&self.conn, "acked_seq").map_err(|e| self.err(e))?;
        let rolled =
            Self::meta_i64(&self.conn, history::ROLLED_SEQ_KEY).map_err(|e| self.err(e))?;
        let cutoff = now_us.saturating_sub(retention.samples.as_micros() as i64);
        // Old by the clock, and with at least `samples_kept_min` samples taken after it.
        let deleted = self
            .conn
            .execute(
                "DELETE FROM samples WHERE seq <= ?1 AND ts_us < ?2
                   AND seq <= (SELECT max(seq) FROM samples) - ?3",
                params![acked.min(rolled), cutoff, retention.samples_kept_min()],
            )
            .map_err(|e| self.err(e))?;
        let rollup_cutoff =
            now_us.saturating_sub(retention.rollups.as_micros() as i64) / 60_000_000;
        // Old by the clock, and not among the newest `rollups_kept_min` minutes (the
        // subquery is NULL, so nothing goes, while there are fewer). Counting from the
        // newest walks the index, so it runs once an hour of rollups is due, not every
        // minute.
        let oldest: Option<i64> = self
            .conn
            .query_row("SELECT min(minute) FROM rollup_1m", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if oldest.is_some_and(|m| m < rollup_cutoff - 60) {
            self.conn
                .execute(
                    "DELETE FROM rollup_1m WHERE minute < ?1
                       AND minute < (SELECT minute FROM rollup_1m ORDER BY minute DESC LIMIT 1 OFFSET ?2)",
                    params![rollup_cutoff, retention.rollups_kept_min()],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(deleted as u64)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SyntheticSource;

    fn samples(n: usize) -> Vec<MetricSample> {
        SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
            .take(n)
            .collect()
    }

    fn open(dir: &tempfile::TempDir, max_pending: u64) -> SqliteBuffer {
        SqliteBuffer::open(&dir.path().join("buffer.db"), max_pending).unwrap()
    }

    #[test]
    fn append_read_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        let input = samples(100);
        let a = b.append(&input).unwrap();
        assert_eq!((a.first_seq, a.last_seq, a.dropped), (1, 100, 0));
        let back = b.read_range(1, 100).unwrap();
        assert_eq!(back.len(), 100);
        for ((seq, got), (i, want)) in back.iter().zip(input.iter().enumerate()) {
            assert_eq!(*seq, i as i64 + 1);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn arbitrary_floats_round_trip_bit_for_bit() {
        // Real rates are arbitrary doubles (e.g. 14533.157626627619); serde_json's default
        // float parser is off by an ulp on some of them, so `float_roundtrip` is on.
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 1e7
        };
        let mut input = samples(200);
        for s in &mut input {
            for d in &mut s.disks {
                (d.read_bps, d.write_bps) = (next(), next());
            }
            for n in &mut s.networks {
                (n.rx_bps, n.tx_bps) = (next(), next());
            }
            s.cpu_core_pct = vec![next() as f32 / 1e5, next() as f32 / 1e5];
        }
        b.append(&input).unwrap();
        let back = b.read_range(1, 200).unwrap();
        for ((_, got), want) in back.iter().zip(&input) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn seqs_are_dense_whatever_the_batch_size() {
        // Sizes around the multi-row INSERT's row count, so both statements and the
        // switch between them are exercised.
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        let k = codec::ROWS_PER_INSERT;
        let mut src = SyntheticSource::new(1_700_000_000_000_000, 1_000_000);
        let mut all = Vec::new();
        for n in [1, k - 1, k, k + 1, 2 * k, 3 * k + 5, 7] {
            let chunk: Vec<_> = src.by_ref().take(n).collect();
            let a = b.append(&chunk).unwrap();
            let first = all.len() as i64 + 1;
            assert_eq!(
                (a.first_seq, a.last_seq),
                (first, first + n as i64 - 1),
                "n={n}"
            );
            all.extend(chunk);
        }
        let back = b.read_range(1, all.len() as i64).unwrap();
        assert_eq!(back.len(), all.len());
        for ((seq, got), (i, want)) in back.iter().zip(all.iter().enumerate()) {
            assert_eq!((*seq, got), (i as i64 + 1, want));
        }
    }

    #[test]
    fn a_failed_append_leaves_nothing_behind() {
        // A row that fails in the middle of a multi-row INSERT: the whole append is
        // rolled back (the rows before it in the same statement and in earlier ones).
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        let input = samples(200);
        b.append(&input[..10]).unwrap();
        let bad_ts = input[10 + codec::ROWS_PER_INSERT + 3].ts_us;
        b.conn
            .execute_batch(&format!(
                "CREATE TRIGGER boom BEFORE INSERT ON samples WHEN NEW.ts_us = {bad_ts} \
                 BEGIN SELECT RAISE(FAIL, 'boom'); END"
            ))
            .unwrap();
        let err = b.append(&input[10..]).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let st = b.status().unwrap();
        assert_eq!((st.last_seq, st.samples_kept), (10, 10));
        b.conn.execute_batch("DROP TRIGGER boom").unwrap();
        let a = b.append(&input[10..]).unwrap();
        assert_eq!((a.first_seq, a.last_seq), (11, 200));
        assert_eq!(b.read_range(1, 200).unwrap().len(), 200);
    }

    /// Inserts `s` as the JSON-only codec did (detail as TEXT), with raw SQL.
    fn insert_legacy_row(conn: &Connection, s: &MetricSample) {
        conn.execute(
            "INSERT INTO samples (ts_us, cpu, load1, load5, load15, mem_total, mem_used, \
             mem_available, swap_total, swap_used, disk_read, disk_write, net_rx, net_tx, \
             temp_max, procs, uptime, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                s.ts_us,
                s.cpu_total_pct,
                s.load_1,
                s.load_5,
                s.load_15,
                s.mem_total_bytes as i64,
                s.mem_used_bytes as i64,
                s.mem_available_bytes as i64,
                s.swap_total_bytes as i64,
                s.swap_used_bytes as i64,
                s.disk_read_bps,
                s.disk_write_bps,
                s.net_rx_bps,
                s.net_tx_bps,
                s.max_temperature(),
                s.process_count,
                s.uptime_s as i64,
                codec::tests::legacy_json(s),
            ],
        )
        .unwrap();
    }

    #[test]
    fn rows_written_as_json_are_still_read() {
        // A buffer from before the BLOB layout: 30 JSON rows (some with arbitrary doubles),
        // then this version appends 20 more. Both kinds read back exactly, in one range.
        let dir = tempfile::tempdir().unwrap();
        let mut input = samples(50);
        for (i, s) in input.iter_mut().enumerate().step_by(3) {
            s.disks[0].read_bps = 14533.157626627619 * i as f64;
            s.networks[1].tx_bps = 0.1 + i as f64 / 7.0;
            s.cpu_core_pct[2] = 1.0 / (i as f32 + 3.0);
        }
        {
            let b = open(&dir, 1_000_000);
            for s in &input[..30] {
                insert_legacy_row(&b.conn, s);
            }
        }
        let mut b = open(&dir, 1_000_000);
        assert_eq!(b.append(&input[30..]).unwrap().first_seq, 31);
        let kinds: Vec<(String, i64)> = b
            .conn
            .prepare("SELECT typeof(detail), count(*) FROM samples GROUP BY 1 ORDER BY 1")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kinds, [("blob".to_owned(), 20), ("text".to_owned(), 30)]);

        let back = b.read_range(1, 50).unwrap();
        assert_eq!(back.len(), 50);
        for ((seq, got), (i, want)) in back.iter().zip(input.iter().enumerate()) {
            assert_eq!(*seq, i as i64 + 1);
            assert_eq!(got, want, "seq {seq}");
        }
        let batch = b.open_batch(40).unwrap().unwrap();
        assert_eq!((batch.first_seq, batch.last_seq), (1, 40));
        let rows = b.read_range(batch.first_seq, batch.last_seq).unwrap();
        assert_eq!(rows[..], back[..40]);
    }

    #[test]
    fn a_batch_read_into_columns_encodes_as_its_samples_do() {
        // JSON and BLOB rows, and a sample whose clock went back a day: the sync's path
        // (rows straight into Arrow columns, names borrowed from the row) writes the
        // bytes that encoding the decoded samples writes, file by file.
        let dir = tempfile::tempdir().unwrap();
        let mut input = samples(50);
        input[40].ts_us -= 86_400_000_000;
        {
            let b = open(&dir, 1_000_000);
            for s in &input[..20] {
                insert_legacy_row(&b.conn, s);
            }
        }
        let mut b = open(&dir, 1_000_000);
        b.append(&input[20..]).unwrap();
        let encoder = crate::encode::ParquetEncoder::new();
        let want = encoder
            .encode("h", "pc", "b", &b.read_range(1, 50).unwrap())
            .unwrap();
        let mut columns = crate::encode::BatchColumns::with_capacity(50);
        b.read_into(1, 50, &mut columns).unwrap();
        assert_eq!((columns.rows(), columns.first_seq()), (50, Some(1)));
        let got = encoder.encode_columns("h", "pc", "b", columns).unwrap();
        assert_eq!(got.iter().map(|f| f.rows).collect::<Vec<_>>(), [1, 49]);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (g.day, g.rows, g.first_seq, g.last_seq),
                (w.day, w.rows, w.first_seq, w.last_seq)
            );
            assert_eq!(g.bytes, w.bytes, "day {}", g.day);
        }
    }

    #[test]
    fn undecodable_detail_names_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        b.append(&samples(3)).unwrap();
        b.conn
            .execute("UPDATE samples SET detail = x'0105' WHERE seq = 2", [])
            .unwrap();
        let err = b.read_range(1, 3).unwrap_err();
        assert!(matches!(err, BufferError::Decode { seq: 2, .. }), "{err}");
        b.conn
            .execute("UPDATE samples SET detail = '[[1.0]' WHERE seq = 2", [])
            .unwrap();
        let err = b.read_range(1, 3).unwrap_err();
        assert!(matches!(err, BufferError::Decode { seq: 2, .. }), "{err}");
    }

    #[test]
    fn batch_is_stable_until_acked() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        b.append(&samples(250)).unwrap();
        let first = b.open_batch(100).unwrap().unwrap();
        assert_eq!((first.first_seq, first.last_seq), (1, 100));
        // More samples arrive; a retry still gets the same batch.
        b.append(&samples(10)).unwrap();
        let retry = b.open_batch(1000).unwrap().unwrap();
        assert_eq!(retry, first);
        b.ack(first.id).unwrap();
        let next = b.open_batch(1000).unwrap().unwrap();
        assert_eq!((next.first_seq, next.last_seq), (101, 260));
        assert_ne!(next.id, first.id);
        b.ack(next.id).unwrap();
        assert!(b.open_batch(1000).unwrap().is_none());
        assert_eq!(b.status().unwrap().pending, 0);
    }

    #[test]
    fn next_batch_opens_while_one_is_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        b.append(&samples(250)).unwrap();
        let first = b.open_batch(100).unwrap().unwrap();
        let second = b
            .open_batch_after(Some(first.last_seq), 100)
            .unwrap()
            .unwrap();
        assert_eq!((second.first_seq, second.last_seq), (101, 200));
        // Asked again (a retry of the prefetch), the same batch.
        assert_eq!(
            b.open_batch_after(Some(first.last_seq), 1000)
                .unwrap()
                .unwrap(),
            second
        );
        // A later run that died with both open: oldest first, each with its range.
        drop(b);
        let mut b = open(&dir, 1_000_000);
        assert_eq!(b.open_batch(1000).unwrap().unwrap(), first);
        b.ack(first.id).unwrap();
        assert_eq!(b.status().unwrap().pending, 150);
        assert_eq!(b.open_batch(1000).unwrap().unwrap(), second);
        let third = b
            .open_batch_after(Some(second.last_seq), 1000)
            .unwrap()
            .unwrap();
        assert_eq!((third.first_seq, third.last_seq), (201, 250));
        b.ack(second.id).unwrap();
        b.ack(third.id).unwrap();
        assert!(b.open_batch(1000).unwrap().is_none());
        assert_eq!(b.status().unwrap().pending, 0);
    }

    #[test]
    fn a_new_batch_ends_with_the_utc_day_of_its_first_sample() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        // From 22:13:20 UTC at 1 s: seq 6 401 is the next midnight.
        let mut input = samples(20_000);
        // A clock that went back for a moment does not cut a batch.
        input[99].ts_us -= 3 * 86_400_000_000;
        b.append(&input).unwrap();
        let first = b.open_batch(100_000).unwrap().unwrap();
        assert_eq!((first.first_seq, first.last_seq), (1, 6_400));
        let second = b.open_batch_after(Some(6_400), 100_000).unwrap().unwrap();
        assert_eq!((second.first_seq, second.last_seq), (6_401, 20_000));
        // A retry reads the range it was opened with.
        drop(b);
        let mut b = open(&dir, 1_000_000);
        assert_eq!(b.open_batch(100_000).unwrap().unwrap(), first);
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (id, batch) = {
            let mut b = open(&dir, 1_000_000);
            b.append(&samples(50)).unwrap();
            let batch = b.open_batch(20).unwrap().unwrap();
            (b.buffer_id().to_owned(), batch)
        };
        let mut b = open(&dir, 1_000_000);
        assert_eq!(b.buffer_id(), id);
        assert_eq!(b.open_batch(1000).unwrap().unwrap(), batch);
        assert_eq!(b.status().unwrap().pending, 50);
    }

    #[test]
    fn overflow_drops_oldest_pending_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1000);
        b.append(&samples(900)).unwrap();
        let a = b.append(&samples(300)).unwrap();
        assert_eq!(a.dropped, 200);
        let st = b.status().unwrap();
        assert_eq!(
            (st.pending, st.dropped_total, st.last_seq),
            (1000, 200, 1200)
        );
        let batch = b.open_batch(10).unwrap().unwrap();
        assert_eq!(batch.first_seq, 201, "the oldest were dropped");
    }

    #[test]
    fn its_own_bookkeeping_is_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.db");
        {
            let mut b = open(&dir, 1000);
            b.append(&samples(5)).unwrap();
            let batch = b.open_batch(10).unwrap().unwrap();
            b.ack(batch.id).unwrap();
            // Damaged: the delivered mark no longer reads as a number.
            b.conn
                .execute("UPDATE meta SET value = '4x' WHERE key = 'acked_seq'", [])
                .unwrap();
        }
        let b = SqliteBuffer::open(&path, 1000).unwrap();
        let err = b.pending().unwrap_err();
        assert!(matches!(err, BufferError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("acked_seq"), "{err}");

        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE meta SET value = 'nope' WHERE key = 'buffer_id'", [])
            .unwrap();
        let err = SqliteBuffer::open(&path, 1000).unwrap_err();
        assert!(matches!(err, BufferError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.db");
        {
            let mut b = open(&dir, 1000);
            b.append(&samples(5)).unwrap();
            b.conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = SqliteBuffer::open(&path, 1000).unwrap_err();
        assert!(
            matches!(err, BufferError::NewerSchema { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade pcmetrics"));
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 5, "nothing destroyed");
    }

    #[test]
    fn a_version_1_buffer_is_read_and_marked_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.db");
        let written = samples(3);
        {
            let mut b = open(&dir, 1000);
            b.append(&written).unwrap();
            b.conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let b = SqliteBuffer::open(&path, 1000).unwrap();
        let version: i64 = b
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let read: Vec<_> = b
            .read_range(1, 3)
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(read, written);
    }

    #[test]
    fn garbage_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.db");
        let garbage = vec![0xABu8; 8192];
        std::fs::write(&path, &garbage).unwrap();
        let err = SqliteBuffer::open(&path, 1000).unwrap_err();
        assert!(matches!(err, BufferError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move the file aside"));
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[test]
    fn maintain_prunes_only_synced_and_rolled_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        b.append(&samples(600)).unwrap();
        let batch = b.open_batch(300).unwrap().unwrap();
        b.ack(batch.id).unwrap();
        // "now" is far in the future: everything is past retention by the clock, and
        // more than the 100 samples the retention holds at 1 s came after the first 300.
        let now = 1_800_000_000_000_000;
        let retention = Retention {
            samples: Duration::from_secs(100),
            rollups: Duration::from_secs(86_400 * 10_000),
            sampling_interval: Duration::from_secs(1),
        };
        let deleted = b.maintain(now, &retention).unwrap();
        assert_eq!(deleted, 300);
        let st = b.status().unwrap();
        assert_eq!((st.pending, st.samples_kept), (300, 300));
        let minutes: i64 = b
            .conn
            .query_row("SELECT sum(cpu_n) FROM rollup_1m", [], |r| r.get(0))
            .unwrap();
        assert_eq!(minutes, 600, "all samples rolled up before pruning");
    }

    /// Samples the buffer bound drops after a sync read them are delivered with the batch:
    /// they are not also counted as dropped.
    #[test]
    fn samples_dropped_from_a_batch_being_delivered_are_not_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000);
        b.append(&samples(1_000)).unwrap();
        let batch = b.open_batch(500).unwrap().unwrap(); // seqs 1..=500
        let read = b.read_range(batch.first_seq, batch.last_seq).unwrap();
        // 300 more: the bound drops the 300 oldest pending, seqs 1..=300 of the batch.
        assert_eq!(b.append(&samples(300)).unwrap().dropped, 300);
        assert_eq!(b.status().unwrap().dropped_total, 300);
        // The sync delivers the rows it read (1..=500) and acks.
        b.ack_delivered(batch.id, read.first().map(|r| r.0))
            .unwrap();
        let st = b.status().unwrap();
        assert_eq!(st.dropped_total, 0, "every dropped sample was delivered");
        assert_eq!(st.pending, 800);

        // Rows dropped before the sync read them are lost, and stay counted.
        b.append(&samples(300)).unwrap(); // drops 100 (pending 1100 > 1000)
        let batch = b.open_batch(500).unwrap().unwrap();
        let read = b.read_range(batch.first_seq, batch.last_seq).unwrap();
        assert_eq!(read.first().map(|r| r.0), Some(601));
        b.ack_delivered(batch.id, read.first().map(|r| r.0))
            .unwrap();
        assert_eq!(b.status().unwrap().dropped_total, 100);
    }

    #[test]
    fn real_and_synthetic_samples_never_share_a_buffer() {
        use crate::sample::SourceKind::{Synthetic, System};
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000);
        b.claim_source(Synthetic).unwrap();
        b.append(&samples(10)).unwrap();
        b.claim_source(Synthetic).unwrap();
        let err = b.claim_source(System).unwrap_err();
        assert!(matches!(err, BufferError::MixedSource { .. }), "{err}");
        assert!(err.to_string().contains("--data-dir"), "{err}");
        // A buffer from before sources were recorded that holds samples is a real one.
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000);
        b.append(&samples(10)).unwrap();
        assert!(b.claim_source(Synthetic).is_err());
        b.claim_source(System).unwrap();
    }

    /// One minute with the clock in 2030, or in 2020, deletes nothing the retention keeps.
    #[test]
    fn a_clock_jump_either_way_keeps_local_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = open(&dir, 1_000_000);
        let t0 = 1_700_000_000_000_000i64;
        b.append(&samples(3_000)).unwrap(); // 50 minutes at 1 s from t0
        while let Some(batch) = b.open_batch(1_000).unwrap() {
            b.ack(batch.id).unwrap();
        }
        let retention = Retention {
            samples: Duration::from_secs(3_600),
            rollups: Duration::from_secs(6 * 3_600),
            sampling_interval: Duration::from_secs(1),
        };
        let year = 365 * 86_400 * 1_000_000i64;
        for now in [t0 + 4 * year, t0 - 4 * year, t0 + 3_000_000_000] {
            assert_eq!(b.maintain(now, &retention).unwrap(), 0, "now = {now}");
        }
        assert_eq!(b.status().unwrap().samples_kept, 3_000);
        let minutes: i64 = b
            .conn
            .query_row("SELECT count(*) FROM rollup_1m", [], |r| r.get(0))
            .unwrap();
        let spanned = (t0 + 2_999_000_000) / 60_000_000 - t0 / 60_000_000 + 1;
        assert_eq!(minutes, spanned, "every rollup minute kept");

        // At the right time and with more history than the retention holds, the old part
        // goes: 2 hours later, 7 200 samples, an hour kept.
        b.append(
            &SyntheticSource::new(t0 + 3_000_000_000, 1_000_000)
                .take(4_200)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        while let Some(batch) = b.open_batch(5_000).unwrap() {
            b.ack(batch.id).unwrap();
        }
        let now = t0 + 7_200_000_000;
        assert_eq!(b.maintain(now, &retention).unwrap(), 3_600);
        assert_eq!(b.status().unwrap().samples_kept, 3_600);
    }
}
