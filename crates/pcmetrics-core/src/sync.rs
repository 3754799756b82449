//! # Sync: buffer → encode → land → commit → ack, three batches at a time
//!
//! [`Syncer::sync`] drains the pending samples in batches of up to `sync.batch_rows`
//! (a new batch ends with the UTC day of its first sample, so a backlog of days lands as
//! one file per day). Each batch goes through the states of [`crate::deliver`]: encode
//! (one Parquet file per UTC day), put the files in the landing zone, append them to the
//! table (exactly once), and only then ack the batch in the buffer. The stages overlap
//! across batches: while one batch lands, commits and is acked, the next is encoded and
//! the one after it is read from the buffer; landing, committing and acking stay in
//! batch order. A failure at any step leaves its batch (and any read ahead) open; the
//! next sync retries them, oldest first, and the table check makes the retry harmless.
//! Every sync is logged in the buffer's `sync_runs`, failures included. Only one sync
//! per data dir runs at a time (`sync.lock`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::buffer::{BufferError, SqliteBuffer, SyncRun};
use crate::clock::Clock;
use crate::commit::{BatchKey, BronzeTable, CommitError};
use crate::config::Settings;
use crate::deliver::{Delivered, Delivery, Env, Progress};
use crate::encode::{BatchColumns, ParquetEncoder};
use crate::error::{Error, Result};
use crate::host::{DirLock, HostIdentity};
use crate::land::{LandingZone, ObjectStores};
use crate::maintain::{Maintainer, MaintenanceReport};
use crate::sample::now_us;

/// Points in a sync where a test can stop the process (see [`Syncer::with_fail_point`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The batch is recorded in the buffer, nothing written yet.
    BatchOpened,
    /// Parquet bytes exist in memory.
    Encoded,
    /// The files are in the landing zone.
    Landed,
    /// The files are written under the table location, not committed yet.
    TableFilesWritten,
    /// The table has the batch; the buffer has not recorded the ack.
    Committed,
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "batch-opened" => Ok(Step::BatchOpened),
            "encoded" => Ok(Step::Encoded),
            "landed" => Ok(Step::Landed),
            "table-files-written" => Ok(Step::TableFilesWritten),
            "committed" => Ok(Step::Committed),
            _ => Err(format!(
                "unknown step {s:?}; use batch-opened, encoded, landed, table-files-written or committed"
            )),
        }
    }
}

/// What one sync delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub batches: u64,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Batches found already in the table (a retry after an interrupted sync).
    pub already_committed: u64,
    pub snapshot_id: Option<i64>,
    pub metadata_location: Option<String>,
    pub landed: Vec<String>,
    pub duration_ms: u64,
    /// New buffer ids this sync moved to because the table had another timeline of the
    /// buffer (a restored or copied data dir); the samples of both are kept.
    pub rekeyed: Vec<String>,
    /// Samples set aside because they can never be delivered (undecodable in the buffer).
    pub quarantined: u64,
    /// Where the time went, summed over the batches. Reading and encoding the next batch
    /// overlap landing and committing the previous one, so the sum exceeds `duration_ms`.
    pub stages: StageTimes,
}

/// Milliseconds spent in each stage of a sync, summed over its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageTimes {
    /// Opening batches and reading their samples from the buffer.
    pub read_ms: u64,
    /// Encoding Parquet.
    pub encode_ms: u64,
    /// Writing the landing zone.
    pub land_ms: u64,
    /// Checking the table for the batch and writing its data files there.
    pub stage_ms: u64,
    /// Committing snapshots.
    pub commit_ms: u64,
    /// Acking batches in the buffer, including the wait for it while the batch two ahead
    /// is being read (so on a backlog it mirrors `read_ms`).
    pub ack_ms: u64,
}

impl StageTimes {
    fn add(&mut self, other: &StageTimes) {
        self.read_ms += other.read_ms;
        self.encode_ms += other.encode_ms;
        self.land_ms += other.land_ms;
        self.stage_ms += other.stage_ms;
        self.commit_ms += other.commit_ms;
        self.ack_ms += other.ack_ms;
    }

    /// The stage a delivery in state `step` is about to run.
    fn slot(&mut self, step: Step) -> &mut u64 {
        match step {
            Step::BatchOpened => &mut self.encode_ms,
            Step::Encoded => &mut self.land_ms,
            Step::Landed => &mut self.stage_ms,
            Step::TableFilesWritten => &mut self.commit_ms,
            Step::Committed => &mut self.ack_ms,
        }
    }
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// How far a sync is, after each delivered batch. `rows_total` is what was delivered so
/// far plus what is still pending, so it grows when samples arrive during the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub rows_done: u64,
    pub rows_total: u64,
}

/// Everything a sync needs; cheap to keep for the life of the process.
pub struct Syncer {
    settings: Settings,
    host: HostIdentity,
    buffer: Arc<Mutex<SqliteBuffer>>,
    /// The encoder in the table's layout, made on first use (its writer settings are
    /// derived from the layout once, not per batch).
    encoder: tokio::sync::OnceCell<ParquetEncoder>,
    lakehouse: tokio::sync::OnceCell<(LandingZone, BronzeTable)>,
    fail_point: Option<Step>,
    clock: Arc<dyn Clock>,
    maintainer: Maintainer,
    /// When this process last ran table maintenance (by `clock`, in ms).
    maintained_at: Mutex<Option<i64>>,
}

/// The last maintenance run of a data dir, kept in `<data dir>/maintenance.json` for
/// `status` and the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LastMaintenance {
    /// When it finished, ms since the epoch.
    pub at_ms: i64,
    pub report: Option<MaintenanceReport>,
    pub error: Option<String>,
    /// The table measured right after the run (absent when it could not be measured).
    #[serde(default)]
    pub health: Option<crate::maintain::health::TableHealth>,
}

impl LastMaintenance {
    fn path(data_dir: &std::path::Path) -> std::path::PathBuf {
        data_dir.join("maintenance.json")
    }

    /// The record of `data_dir`, if maintenance ever ran there.
    pub fn read(data_dir: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, data_dir: &std::path::Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}

impl Syncer {
    pub fn new(settings: Settings, host: HostIdentity, buffer: Arc<Mutex<SqliteBuffer>>) -> Self {
        Self {
            encoder: tokio::sync::OnceCell::new(),
            lakehouse: tokio::sync::OnceCell::new(),
            fail_point: None,
            clock: crate::clock::system(),
            maintainer: Maintainer::new(&settings, host.host_id.clone()),
            // Across processes too: a `pcmetrics sync` every few minutes must not maintain
            // the table every time.
            maintained_at: Mutex::new(LastMaintenance::read(&settings.data_dir).map(|m| m.at_ms)),
            settings,
            host,
            buffer,
        }
    }

    /// Makes the process exit abruptly when maintenance reaches `step` (crash tests).
    pub fn with_maintenance_fail_point(mut self, step: Option<crate::maintain::Step>) -> Self {
        self.maintainer = self.maintainer.with_fail_point(step);
        self
    }

    /// Reads the table's time from `clock` (benchmarks run a year in compressed time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Makes the process exit abruptly (no destructors, like `kill -9`) when a sync reaches
    /// `step`. For crash tests only.
    pub fn with_fail_point(mut self, step: Option<Step>) -> Self {
        self.fail_point = step;
        self
    }

    fn reached(&self, step: Step) {
        if self.fail_point == Some(step) {
            eprintln!("pcmetrics: fail point {step:?} reached, aborting");
            std::process::abort();
        }
    }

    async fn lakehouse(&self) -> Result<&(LandingZone, BronzeTable)> {
        self.lakehouse
            .get_or_try_init(|| async {
                let stores = Arc::new(ObjectStores::new(&self.settings.storage).map_err(|e| {
                    crate::land::LandError {
                        location: "storage".into(),
                        message: crate::error::describe_store_error(&e),
                    }
                })?);
                let landing =
                    LandingZone::from_stores(&stores, &self.settings.sync.landing_prefix)?;
                let table = BronzeTable::connect(&self.settings, stores)
                    .await?
                    .with_clock(self.clock.clone());
                Ok::<_, Error>((landing, table))
            })
            .await
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub async fn table(&self) -> Result<&BronzeTable> {
        Ok(&self.lakehouse().await?.1)
    }

    async fn with_buffer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteBuffer) -> Result<T, crate::buffer::BufferError> + Send + 'static,
    ) -> Result<T> {
        let buffer = self.buffer.clone();
        tokio::task::spawn_blocking(move || f(&mut buffer.lock().expect("buffer lock")))
            .await
            .expect("buffer task panicked")
            .map_err(Error::from)
    }

    /// One sync now: drains every pending batch. Fails fast with [`Error::Busy`] when
    /// another process syncs this data dir.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.sync_with_progress(&|_| {}).await
    }

    /// [`Self::sync`], calling `progress` after each delivered batch.
    pub async fn sync_with_progress(
        &self,
        progress: &(dyn Fn(SyncProgress) + Send + Sync),
    ) -> Result<SyncReport> {
        let _lock = DirLock::try_acquire(&self.settings.data_dir, "sync", "syncing")?;
        let started = now_us();
        let clock = Instant::now();
        let mut report = SyncReport::default();
        let mut result = self.drain(&mut report, progress).await;
        if result.is_ok() && report.batches > 0 {
            result = self.maintain_if_due().await;
        }
        report.duration_ms = clock.elapsed().as_millis() as u64;
        let run = SyncRun {
            started_us: started,
            finished_us: now_us(),
            rows: report.rows,
            files: report.files,
            bytes: report.bytes,
            snapshot_id: report.snapshot_id,
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        // A sync that moved nothing and failed nothing is not worth a log row. The log is
        // history, not delivery: failing to write it does not fail a delivered sync.
        if (run.error.is_some() || report.batches > 0)
            && let Err(e) = self.with_buffer(move |b| b.record_sync_run(&run)).await
        {
            tracing::warn!("cannot record this sync in the buffer's sync log: {e}");
        }
        result.map(|()| report)
    }

    /// Table maintenance (see [`crate::maintain`]) after a sync that committed, at most
    /// once per `maintenance.interval`. A failure is logged and recorded, not reported:
    /// the batches are delivered, and the next run tries again.
    async fn maintain_if_due(&self) -> Result<()> {
        let now = self.clock.now_ms();
        let interval = self.settings.maintenance.interval.as_millis() as i64;
        let due = self
            .maintained_at
            .lock()
            .expect("maintenance clock lock")
            .is_none_or(|t| now - t >= interval);
        if due {
            *self.maintained_at.lock().expect("maintenance clock lock") = Some(now);
            match self.maintain(false).await {
                Ok(r) if r.did_something() => tracing::info!("table maintenance: {}", r.summary()),
                Ok(_) => {}
                Err(e) => tracing::warn!("table maintenance failed, will retry: {e}"),
            }
        }
        Ok(())
    }

    /// One maintenance run now (`pcmetrics maintain`), recorded for `status`.
    pub async fn maintain(&self, dry_run: bool) -> Result<MaintenanceReport> {
        let (landing, table) = self.lakehouse().await?;
        let result = self.maintainer.run(table, landing, dry_run).await;
        if !dry_run {
            // Best effort: the figures are for `status` and the tray, not for the run.
            let health = match crate::maintain::health::measure(table).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!("cannot measure the table after maintenance: {e}");
                    None
                }
            };
            let record = LastMaintenance {
                at_ms: self.clock.now_ms(),
                report: result.as_ref().ok().cloned(),
                error: result.as_ref().err().map(|e| e.to_string()),
                health,
            };
            if let Err(e) = record.write(&self.settings.data_dir) {
                tracing::warn!("cannot record the maintenance run: {e}");
            }
            if let Ok(r) = &result {
                for w in &r.warnings {
                    tracing::warn!("table maintenance: {w}");
                }
            }
        }
        Ok(result?)
    }

    /// Delivers every pending batch, as a pipeline of three stages that run at once on
    /// consecutive batches: while batch N lands, commits and is acked, batch N+1 is
    /// encoded and batch N+2 is read from the buffer. Reading and encoding are CPU work
    /// on blocking threads, landing and committing mostly wait on storage and the
    /// catalog, so the stages keep both cores of a small PC busy. Batches still land,
    /// commit and ack strictly in order, one at a time.
    async fn drain(
        &self,
        report: &mut SyncReport,
        progress: &(dyn Fn(SyncProgress) + Send + Sync),
    ) -> Result<()> {
        let mut opened = self.open(None, &mut report.quarantined).await?;
        let mut encoded: Option<InFlight> = None;
        loop {
            let (current, to_encode) = (encoded.take(), opened.take());
            if current.is_none() && to_encode.is_none() {
                return Ok(());
            }
            let after = to_encode.as_ref().or(current.as_ref()).map(|r| r.last_seq);
            let mut quarantined = 0;
            let (delivered, next_encoded, next_opened) = tokio::join!(
                async {
                    match current {
                        Some(c) => self.deliver(c).await.map(Some),
                        None => Ok(None),
                    }
                },
                async {
                    match to_encode {
                        Some(r) => self.encode(r).await.map(Some),
                        None => Ok(None),
                    }
                },
                self.open(after, &mut quarantined),
            );
            report.quarantined += quarantined;
            match delivered {
                Ok(None) => {}
                Ok(Some((delivered, stages))) => {
                    report.stages.add(&stages);
                    if let Some(d) = delivered {
                        report.add(d);
                    }
                    // Best effort: the batch is delivered; a failed count only skips one report.
                    if let Ok(pending) = self.with_buffer(|b| b.pending()).await {
                        progress(SyncProgress {
                            rows_done: report.rows,
                            rows_total: report.rows + pending,
                        });
                    }
                }
                // Another timeline of this buffer (a restored or copied data dir) delivered
                // these seqs: continue as a new buffer, so both timelines are kept. The
                // batches read ahead were opened under the old identity; rekeying closes
                // them, and they are read again under the new one.
                Err(Error::Commit(e @ CommitError::Diverged { .. })) => {
                    let new_id = self.with_buffer(|b| b.rekey()).await?;
                    tracing::warn!(
                        "{e}; continuing as buffer {new_id} so that the samples of both timelines are kept"
                    );
                    report.rekeyed.push(new_id);
                    opened = self.open(None, &mut report.quarantined).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            encoded = next_encoded?;
            opened = next_opened?;
        }
    }

    /// Opens the batch after the one ending at `after` (or the oldest open batch) and
    /// reads its samples, counting in `quarantined` the samples set aside on the way.
    async fn open(&self, after: Option<i64>, quarantined: &mut u64) -> Result<Option<InFlight>> {
        let batch_rows = self.settings.sync.batch_rows;
        let started = Instant::now();
        let (batch, rows) = loop {
            match self
                .with_buffer(move |b| {
                    let Some(batch) = b.open_batch_after(after, batch_rows)? else {
                        return Ok(None);
                    };
                    let span = (batch.last_seq - batch.first_seq + 1).clamp(0, 1 << 20);
                    let mut rows = BatchColumns::with_capacity(span as usize);
                    b.read_into(batch.first_seq, batch.last_seq, &mut rows)?;
                    Ok(Some((batch, rows)))
                })
                .await
            {
                Ok(Some(opened)) => break opened,
                Ok(None) => return Ok(None),
                // A sample that can never be delivered must not hold back the others: it
                // is set aside (kept in the buffer file) and the batch is read again.
                Err(Error::Buffer(BufferError::Decode { seq, detail, .. })) => {
                    let reason = format!("cannot be decoded: {detail}");
                    tracing::error!(
                        "buffer sample {seq} {reason}; set aside in the buffer's quarantine so the other samples go on (see `pcmetrics status`)"
                    );
                    self.with_buffer(move |b| b.quarantine(seq, &reason))
                        .await?;
                    *quarantined += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let buffer_id = self
            .buffer
            .lock()
            .expect("buffer lock")
            .buffer_id()
            .to_owned();
        let key = BatchKey {
            host_id: self.host.host_id.clone(),
            buffer_id,
            batch_id: batch.id,
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            opened_us: batch.created_us,
        };
        let ready = InFlight {
            batch_id: batch.id,
            last_seq: batch.last_seq,
            first_delivered: rows.first_seq(),
            // Every sample of the batch may have been dropped while it waited: nothing
            // to deliver, but its ack still waits its turn.
            delivery: (!rows.is_empty()).then(|| Delivery::open(key, rows)),
            stages: StageTimes {
                read_ms: ms_since(started),
                ..StageTimes::default()
            },
        };
        if let Some(d) = &ready.delivery {
            self.reached(d.step());
        }
        Ok(Some(ready))
    }

    /// Encodes an opened batch.
    async fn encode(&self, mut ready: InFlight) -> Result<InFlight> {
        if let Some(delivery) = ready.delivery.take() {
            let env = self.env().await?;
            let started = Instant::now();
            ready.delivery = Some(delivery.encode(&env).await?);
            ready.stages.encode_ms += ms_since(started);
        }
        Ok(ready)
    }

    async fn env(&self) -> Result<Env<'_>> {
        let (landing, table) = self.lakehouse().await?;
        // The table's field ids (and the columns a table from an older version gains).
        let encoder = self
            .encoder
            .get_or_try_init(|| async {
                Ok::<_, Error>(ParquetEncoder::new().with_layout(table.layout().await?))
            })
            .await?;
        Ok(Env {
            host: &self.host,
            encoder: encoder.clone(),
            landing,
            table,
        })
    }

    /// Lands, commits and acks an encoded batch; `None` for a batch that had nothing left
    /// to deliver (acked all the same).
    async fn deliver(&self, ready: InFlight) -> Result<(Option<Delivered>, StageTimes)> {
        let InFlight {
            batch_id,
            first_delivered,
            delivery,
            mut stages,
            ..
        } = ready;
        let Some(mut delivery) = delivery else {
            self.with_buffer(move |b| b.ack(batch_id)).await?;
            return Ok((None, stages));
        };
        let env = self.env().await?;
        let delivered = loop {
            let step = delivery.step();
            self.reached(step);
            let started = Instant::now();
            let progress = delivery.advance(&env).await?;
            *stages.slot(step) += ms_since(started);
            match progress {
                Progress::Next(next) => delivery = next,
                Progress::Delivered(d) => break d,
            }
        };
        let started = Instant::now();
        self.with_buffer(move |b| b.ack_delivered(batch_id, first_delivered))
            .await?;
        stages.ack_ms += ms_since(started);
        tracing::info!(
            batch = batch_id,
            rows = delivered.rows,
            files = delivered.files,
            snapshot = delivered.committed.snapshot_id,
            already = delivered.committed.already,
            "batch delivered"
        );
        Ok((Some(delivered), stages))
    }
}

/// A batch opened in the buffer, on its way through encoding to landing and committing.
struct InFlight {
    batch_id: i64,
    last_seq: i64,
    first_delivered: Option<i64>,
    /// `None` when every sample of the batch was dropped while it waited.
    delivery: Option<Delivery>,
    /// Reading and encoding it.
    stages: StageTimes,
}

impl SyncReport {
    fn add(&mut self, d: Delivered) {
        self.batches += 1;
        self.rows += d.rows as u64;
        self.files += d.files as u64;
        self.bytes += d.bytes;
        self.already_committed += d.committed.already as u64;
        self.snapshot_id = Some(d.committed.snapshot_id);
        self.metadata_location = d.committed.metadata_location.clone();
        self.landed.extend(d.landed);
    }
}

/// One half of [`check_connection`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
}

/// Whether the object store and the catalog of `settings` work, each on its own so a
/// user sees which half to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionReport {
    pub storage: ConnectionCheck,
    pub catalog: ConnectionCheck,
}

/// "Test connection": writes and deletes a small object under the landing prefix, and
/// asks the catalog for the table. Each half gives up after `timeout`. Writes nothing to
/// the table and creates nothing in the catalog.
pub async fn check_connection(settings: &Settings, timeout: Duration) -> ConnectionReport {
    let slow = |what: &str| {
        format!(
            "{what}: no answer within {}s; is it running and reachable?",
            timeout.as_secs()
        )
    };
    let stores = match ObjectStores::new(&settings.storage) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let message = crate::error::describe_store_error(&e);
            return ConnectionReport {
                storage: ConnectionCheck {
                    ok: false,
                    message: message.clone(),
                },
                catalog: ConnectionCheck {
                    ok: false,
                    message: format!("not tried: the storage settings do not work ({message})"),
                },
            };
        }
    };
    let storage = async {
        let landing = LandingZone::from_stores(&stores, &settings.sync.landing_prefix)?;
        let key = object_store::path::Path::from(format!(
            "{}/_connection_check/{}",
            landing.prefix(),
            uuid::Uuid::new_v4()
        ));
        landing
            .put(
                &key,
                bytes::Bytes::from_static(b"pcmetrics connection check"),
            )
            .await?;
        let _ = landing.store().delete(&key).await;
        Ok::<_, Error>(format!(
            "wrote and deleted a test object under {}",
            landing.location(&object_store::path::Path::from(landing.prefix()))
        ))
    };
    let catalog = async {
        let table = BronzeTable::connect(settings, stores.clone()).await?;
        Ok::<_, Error>(match table.load().await? {
            Some(t) => format!(
                "table {} found ({} snapshots)",
                settings.table_ident(),
                t.metadata().snapshots().count()
            ),
            None => format!(
                "catalog answered; the first sync creates table {}",
                settings.table_ident()
            ),
        })
    };
    let check = |r: std::result::Result<Result<String>, tokio::time::error::Elapsed>,
                 what: &str| match r {
        Ok(Ok(message)) => ConnectionCheck { ok: true, message },
        Ok(Err(e)) => ConnectionCheck {
            ok: false,
            message: e.to_string(),
        },
        Err(_) => ConnectionCheck {
            ok: false,
            message: slow(what),
        },
    };
    let (s, c) = tokio::join!(
        tokio::time::timeout(timeout, storage),
        tokio::time::timeout(timeout, catalog)
    );
    ConnectionReport {
        storage: check(s, "the object store"),
        catalog: check(c, "the catalog"),
    }
}
