//! # Sample: what one observation of the PC holds
//!
//! A [`MetricSample`] is one observation taken at one instant. Two sources produce them:
//! [`SystemSampler`] reads the real machine through `sysinfo`, and [`SyntheticSource`]
//! produces deterministic samples at any rate for tests, demos and benchmarks.
//!
//! Sources are synchronous (`sysinfo` is); the pipeline calls them from `spawn_blocking`.
//! Rates (disk and network bytes per second) are computed by the source from the
//! difference of cumulative counters over the measured elapsed time, so a late tick
//! does not inflate them.

mod filter;
mod interfaces;
pub mod sink;
mod synthetic;
mod system;

use serde::{Deserialize, Serialize};

pub use filter::{
    Collectors, DEFAULT_INTERFACE_EXCLUDES, DEFAULT_MOUNT_EXCLUDES, NameFilter, PatternError,
    SamplerOptions,
};
pub use synthetic::SyntheticSource;
pub use system::{SystemSampler, system_host_name};

/// One observation of the PC. Per-entity values (cores, disks, interfaces, sensors) are
/// lists; everything else is a scalar. Byte counts are bytes, rates bytes per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricSample {
    /// Wall-clock time of the observation, microseconds since the Unix epoch, UTC.
    pub ts_us: i64,
    /// CPU use over the last interval, all cores, 0–100.
    pub cpu_total_pct: f32,
    /// CPU use per logical core, 0–100, in the OS's core order.
    pub cpu_core_pct: Vec<f32>,
    /// Load average over 1, 5 and 15 minutes (0 where the OS has none, e.g. Windows).
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub mem_total_bytes: u64,
    pub mem_used_bytes: u64,
    pub mem_available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    /// Per mounted file system: space and I/O of its device.
    pub disks: Vec<DiskSample>,
    /// Bytes read/written per second over all block devices (each device counted once).
    pub disk_read_bps: f64,
    pub disk_write_bps: f64,
    /// Per network interface.
    pub networks: Vec<NetworkSample>,
    /// Bytes received/sent per second over all interfaces.
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
    /// Temperature sensors the OS exposes (often none in VMs).
    pub temperatures: Vec<TemperatureSample>,
    pub process_count: u32,
    pub uptime_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DiskSample {
    pub mount: String,
    pub device: String,
    pub fs: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub read_bps: f64,
    pub write_bps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkSample {
    pub name: String,
    pub rx_bps: f64,
    pub tx_bps: f64,
    pub rx_bytes_total: u64,
    pub tx_bytes_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TemperatureSample {
    pub label: String,
    pub celsius: f32,
}

impl MetricSample {
    /// The hottest sensor, if the OS exposes any.
    pub fn max_temperature(&self) -> Option<f32> {
        self.temperatures
            .iter()
            .map(|t| t.celsius)
            .fold(None, |acc, c| Some(acc.map_or(c, |a: f32| a.max(c))))
    }
}

/// Something that produces samples on demand. `next_sample` is called once per
/// `sampling.interval`; it may block briefly (it reads `/proc` and friends).
pub trait Source: Send {
    fn next_sample(&mut self) -> MetricSample;
}

/// Which source `run` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    System,
    Synthetic,
}

impl SourceKind {
    /// The source of this kind. A system sampler's first reading (a baseline for CPU and
    /// rates) blocks, so it is taken on a blocking thread; a synthetic source starts now
    /// and steps by `interval`.
    pub async fn open(
        self,
        interval: std::time::Duration,
        options: SamplerOptions,
    ) -> Box<dyn Source> {
        match self {
            Self::System => Box::new(
                tokio::task::spawn_blocking(move || SystemSampler::with_options(options))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
            ),
            Self::Synthetic => {
                Box::new(SyntheticSource::new(now_us(), interval.as_micros() as i64))
            }
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Self::System),
            "synthetic" => Ok(Self::Synthetic),
            other => Err(format!(
                "{other:?} is not a source; use \"system\" or \"synthetic\""
            )),
        }
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
