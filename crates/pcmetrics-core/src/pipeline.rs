//! # Pipeline: the stages on their schedules
//!
//! [`run`] samples every `sampling.interval` on a dedicated thread (sysinfo is blocking;
//! the buffer append happens on the same thread, before the sample is published), syncs
//! every `sync.interval` on the async runtime, and folds rollups and prunes old history
//! once a minute. Failing syncs back off exponentially (10 s doubling up to
//! `sync.interval`) so an outage causes neither a hot loop nor a log flood. When
//! `shutdown` resolves, a sync in progress is abandoned (as safe as a crash, by design),
//! sampling stops after its current sample and one last sync is tried (bounded in time);
//! anything it cannot deliver stays pending in the buffer.
//!
//! A [`Controller`] steers a running pipeline from outside (the tray app): "sync now"
//! runs a sync at once and returns its result, and sampling can be paused and resumed
//! (syncing goes on while paused, so pending samples still reach the table).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc as async_mpsc, oneshot};

use crate::buffer::SqliteBuffer;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::host::{DirLock, HostIdentity};
use crate::sample::{MetricSample, Source};
use crate::sync::{SyncProgress, SyncReport, Syncer};

/// What the pipeline tells its listeners (the CLI's log, the tray window).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Sample {
        seq: i64,
        sample: Arc<MetricSample>,
    },
    SamplesDropped {
        count: u64,
    },
    SyncStarted,
    /// After each delivered batch of a sync.
    SyncProgress(SyncProgress),
    SyncFinished {
        report: SyncReport,
    },
    SyncFailed {
        message: String,
        consecutive_failures: u32,
        retry_in_s: u64,
    },
    BufferError {
        message: String,
    },
}

/// Totals of one `run`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub samples: u64,
    pub syncs_ok: u64,
    pub syncs_failed: u64,
    pub rows_synced: u64,
    pub pending_at_exit: u64,
}

type SyncReply = oneshot::Sender<Result<SyncReport>>;

/// Steers a running [`run`]: "sync now" and pause/resume. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Controller {
    paused: Arc<AtomicBool>,
    requests: async_mpsc::UnboundedSender<SyncReply>,
}

/// The receiving end of a [`Controller`], handed to [`run`].
#[derive(Debug)]
pub struct ControlInbox {
    paused: Arc<AtomicBool>,
    requests: async_mpsc::UnboundedReceiver<SyncReply>,
}

impl Controller {
    /// A controller and the inbox to pass to [`run`].
    pub fn new() -> (Controller, ControlInbox) {
        let paused = Arc::new(AtomicBool::new(false));
        let (tx, rx) = async_mpsc::unbounded_channel();
        (
            Controller {
                paused: paused.clone(),
                requests: tx,
            },
            ControlInbox {
                paused,
                requests: rx,
            },
        )
    }

    /// Runs a sync now (after the one in progress, if any, so samples taken since are
    /// included) and returns its result. [`Error::Stopped`] if the pipeline is not running.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(reply).map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Pauses or resumes sampling (takes effect at the next tick).
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
}

/// Opens the data dir's buffer with the configured bound.
pub fn open_buffer(settings: &Settings) -> Result<SqliteBuffer> {
    Ok(SqliteBuffer::open(
        &settings.data_dir.join("buffer.db"),
        settings.buffer.max_pending,
    )?)
}

/// Runs until `shutdown` resolves. `source` is the sampler (it may be built on this
/// thread already warm). Fails at once if another process samples this data dir.
pub async fn run(
    settings: Settings,
    source: Box<dyn Source>,
    shutdown: impl Future<Output = ()>,
    events: Option<broadcast::Sender<Event>>,
) -> Result<RunReport> {
    let (_controller, inbox) = Controller::new();
    run_controlled(settings, source, shutdown, events, inbox).await
}

/// [`run`], steered by the [`Controller`] that made `inbox`.
pub async fn run_controlled(
    settings: Settings,
    source: Box<dyn Source>,
    shutdown: impl Future<Output = ()>,
    events: Option<broadcast::Sender<Event>>,
    inbox: ControlInbox,
) -> Result<RunReport> {
    let ControlInbox {
        paused,
        requests: mut sync_requests,
    } = inbox;
    let _sampler_lock = DirLock::try_acquire(&settings.data_dir, "sampler", "sampling")?;
    let host = HostIdentity::load_or_create(&settings.data_dir)?;
    let mut buffer = open_buffer(&settings)?;
    buffer.claim_source(settings.sampling.source)?;
    let sync_buffer = Arc::new(Mutex::new(open_buffer(&settings)?));
    let syncer = Syncer::new(settings.clone(), host, sync_buffer.clone());
    let publish = move |e: Event| {
        if let Some(tx) = &events {
            let _ = tx.send(e);
        }
    };

    let (stop, stopped) = mpsc::channel::<()>();
    let sampler = {
        let settings = settings.clone();
        let publish = publish.clone();
        std::thread::Builder::new()
            .name("pcmetrics-sampler".into())
            .spawn(move || sample_loop(settings, source, buffer, stopped, paused, publish))
            .expect("spawn the sampler thread")
    };

    let progress = |p| publish(Event::SyncProgress(p));

    let mut report = RunReport::default();
    let mut failures: u32 = 0;
    let mut next_sync = tokio::time::Instant::now();
    let mut requests_open = true;
    tokio::pin!(shutdown);
    loop {
        // Who asked for this sync and waits for its result: nobody (the schedule) or
        // "sync now" callers (all requests queued so far share one sync).
        let mut waiting: Vec<SyncReply> = Vec::new();
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(next_sync) => {}
            r = sync_requests.recv(), if requests_open => match r {
                Some(reply) => waiting.push(reply),
                None => {
                    requests_open = false;
                    continue;
                }
            },
        }
        while let Ok(reply) = sync_requests.try_recv() {
            waiting.push(reply);
        }
        if sampler.is_finished() {
            break;
        }
        publish(Event::SyncStarted);
        // Shutdown does not wait for a sync stuck on a slow server: dropping it mid-way is
        // safe (the batch stays open and the final sync below, or the next run, resumes it).
        let outcome = tokio::select! {
            _ = &mut shutdown => break,
            r = syncer.sync_with_progress(&progress) => r,
        };
        // Callers of "sync now" hear after the event listeners do, so a window that
        // refreshes on the answer sees the event's effects.
        let answer = |outcome: &Result<SyncReport>| match outcome {
            Ok(r) => Ok(r.clone()),
            Err(e) => Err(Error::Relayed {
                message: e.to_string(),
                retryable: e.is_retryable(),
            }),
        };
        let replies: Vec<_> = waiting.drain(..).map(|w| (w, answer(&outcome))).collect();
        match outcome {
            Ok(r) => {
                failures = 0;
                report.syncs_ok += 1;
                report.rows_synced += r.rows;
                if r.rows > 0 {
                    tracing::info!(rows = r.rows, files = r.files, snapshot = ?r.snapshot_id, "synced");
                }
                publish(Event::SyncFinished { report: r });
                next_sync = tokio::time::Instant::now() + settings.sync.interval;
            }
            Err(Error::Busy { .. }) => {
                // A manual `pcmetrics sync` is running; try again shortly.
                next_sync = tokio::time::Instant::now() + Duration::from_secs(5);
            }
            Err(e) => {
                failures += 1;
                report.syncs_failed += 1;
                let wait = backoff(failures, settings.sync.interval);
                // Warn on the first failure and then only as the wait grows, not per retry.
                if failures.is_power_of_two() {
                    tracing::warn!(failures, retry_in_s = wait.as_secs(), "sync failed: {e}");
                }
                publish(Event::SyncFailed {
                    message: e.to_string(),
                    consecutive_failures: failures,
                    retry_in_s: wait.as_secs(),
                });
                next_sync = tokio::time::Instant::now() + wait;
            }
        }
        for (reply, answer) in replies {
            let _ = reply.send(answer);
        }
    }

    drop(stop);
    report.samples = tokio::task::spawn_blocking(move || sampler.join())
        .await
        .expect("join the sampler thread")
        .expect("the sampler thread does not panic")?;

    // One last sync, bounded: a down server must not hold up shutdown for long.
    match tokio::time::timeout(Duration::from_secs(30), syncer.sync()).await {
        Ok(Ok(r)) => {
            report.syncs_ok += 1;
            report.rows_synced += r.rows;
        }
        Ok(Err(e)) => {
            report.syncs_failed += 1;
            tracing::warn!("final sync failed, samples stay pending: {e}");
        }
        Err(_) => {
            report.syncs_failed += 1;
            tracing::warn!("final sync timed out after 30s, samples stay pending");
        }
    }
    report.pending_at_exit = sync_buffer.lock().expect("buffer lock").status()?.pending;
    Ok(report)
}

/// Wait before retry `n` (1-based) of a failing sync.
fn backoff(n: u32, interval: Duration) -> Duration {
    let base = Duration::from_secs(10).saturating_mul(1 << (n - 1).min(16));
    base.min(interval.max(Duration::from_secs(10)))
}

fn sample_loop(
    settings: Settings,
    mut source: Box<dyn Source>,
    mut buffer: SqliteBuffer,
    stop: mpsc::Receiver<()>,
    paused: Arc<AtomicBool>,
    publish: impl Fn(Event),
) -> Result<u64> {
    let interval = settings.sampling.interval;
    let mut taken = 0u64;
    let mut next = Instant::now();
    let mut next_maintenance = Instant::now() + Duration::from_secs(60);
    let mut logs = SampleLogs::default();
    loop {
        // Paused: no sample is taken; maintenance and the stop signal still run.
        if !paused.load(Ordering::Relaxed)
            && append_one(&mut buffer, source.next_sample(), &publish, &mut logs)
        {
            taken += 1;
        }
        if Instant::now() >= next_maintenance {
            next_maintenance = Instant::now() + Duration::from_secs(60);
            if let Err(e) = buffer.maintain(
                crate::sample::now_us(),
                &crate::buffer::Retention::from_settings(&settings),
            ) {
                tracing::warn!("history maintenance failed: {e}");
            }
        }
        // Fixed cadence on the monotonic clock: wall-clock jumps do not stretch or squeeze
        // the interval; a late sample does not cause a burst.
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now + interval;
        }
        // Sleeps until the next tick, waking at once when the sender side is dropped.
        let left = next.saturating_duration_since(Instant::now());
        if !matches!(
            stop.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            return Ok(taken);
        }
    }
}

/// Buffers one sample and publishes it; false if it could not be buffered. A failed
/// append (full disk, locked file) is reported and sampling goes on: the next may work.
/// At most one log line a minute per kind of trouble in the sample loop: a full disk or a
/// full buffer repeats every sample, and the first line says it all.
#[derive(Debug, Default)]
struct SampleLogs {
    buffer_error: RateLimit,
    dropped: RateLimit,
}

/// Lets one event through per `EVERY`, counting the ones it holds back.
#[derive(Debug, Default)]
struct RateLimit {
    last: Option<Instant>,
    held: u64,
}

impl RateLimit {
    const EVERY: Duration = Duration::from_secs(60);

    /// `Some(held back since the last one)` when this event should be logged.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Self::EVERY)
        {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

fn append_one(
    buffer: &mut SqliteBuffer,
    sample: MetricSample,
    publish: &impl Fn(Event),
    logs: &mut SampleLogs,
) -> bool {
    match buffer.append(std::slice::from_ref(&sample)) {
        Ok(a) => {
            if a.dropped > 0 {
                if let Some(held) = logs.dropped.allow(Instant::now()) {
                    tracing::warn!(
                        dropped = a.dropped,
                        "buffer full: dropped the oldest unsynced samples; sync is failing or too slow{}",
                        repeated(held)
                    );
                }
                publish(Event::SamplesDropped { count: a.dropped });
            }
            publish(Event::Sample {
                seq: a.last_seq,
                sample: Arc::new(sample),
            });
            true
        }
        Err(e) => {
            if let Some(held) = logs.buffer_error.allow(Instant::now()) {
                tracing::error!("cannot buffer a sample: {e}{}", repeated(held));
            }
            publish(Event::BufferError {
                message: e.to_string(),
            });
            false
        }
    }
}

fn repeated(held: u64) -> String {
    if held == 0 {
        String::new()
    } else {
        format!(" (and {held} more times in the last minute)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_trouble_is_logged_once_a_minute_with_a_count() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.allow(t0), Some(0));
        for s in 1..60 {
            assert_eq!(limit.allow(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(limit.allow(t0 + Duration::from_secs(60)), Some(59));
        assert_eq!(limit.allow(t0 + Duration::from_secs(61)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let five = Duration::from_secs(300);
        assert_eq!(backoff(1, five), Duration::from_secs(10));
        assert_eq!(backoff(2, five), Duration::from_secs(20));
        assert_eq!(backoff(6, five), five);
        assert_eq!(backoff(40, five), five);
        assert_eq!(backoff(3, Duration::from_secs(1)), Duration::from_secs(10));
    }
}
