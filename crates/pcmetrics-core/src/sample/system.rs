//! The real machine, through one long-lived `sysinfo` state.

use std::collections::HashMap;
use std::time::Instant;

use sysinfo::{
    Components, CpuRefreshKind, DiskRefreshKind, Disks, MINIMUM_CPU_UPDATE_INTERVAL,
    MemoryRefreshKind, Networks, System,
};

use super::interfaces::Interfaces;
use super::{
    DiskSample, MetricSample, NetworkSample, SamplerOptions, Source, TemperatureSample, now_us,
};

/// Samples the machine. Keeps one `sysinfo` state alive because CPU use and I/O rates are
/// differences between two refreshes.
pub struct SystemSampler {
    sys: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
    components: Option<Components>,
    /// Cumulative (read, written) bytes per block device at the previous sample.
    last_disk_io: HashMap<String, (u64, u64)>,
    /// Cumulative (received, transmitted) bytes per interface at the previous sample.
    last_net_io: HashMap<String, (u64, u64)>,
    /// Which interfaces count in the network totals.
    interfaces: Interfaces,
    options: SamplerOptions,
    last_at: Instant,
}

impl SystemSampler {
    /// Creates the sampler and takes the warm-up refresh, so that the first sample carries
    /// a real CPU figure instead of sysinfo's initial 0 %. Blocks for
    /// `sysinfo::MINIMUM_CPU_UPDATE_INTERVAL` (about 200 ms on Linux).
    pub fn new() -> Self {
        Self::with_options(SamplerOptions::default())
    }

    /// [`Self::new`], collecting what `options` say. A collector that is off is not
    /// even opened: its lists stay empty and its totals 0.
    pub fn with_options(options: SamplerOptions) -> Self {
        let c = options.collect;
        let mut sys = System::new().ok();
        if let Some(sys) = sys.as_mut() {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        }
        let mut sampler = Self {
            sys,
            disks: c
                .disks
                .then(|| {
                    Disks::new_with_refreshed_list_specifics(
                        DiskRefreshKind::nothing().with_storage().with_io_usage(),
                    )
                    .ok()
                })
                .flatten(),
            networks: c
                .networks
                .then(|| Networks::new_with_refreshed_list().ok())
                .flatten(),
            components: c
                .temperatures
                .then(|| Components::new_with_refreshed_list().ok())
                .flatten(),
            last_disk_io: HashMap::new(),
            last_net_io: HashMap::new(),
            interfaces: Interfaces::default(),
            options,
            last_at: Instant::now(),
        };
        // Prime the I/O counters so the first sample's rates cover the warm-up window.
        sampler.disk_io(0.0);
        sampler.network_io(0.0);
        std::thread::sleep(MINIMUM_CPU_UPDATE_INTERVAL);
        sampler
    }

    fn disk_io(&mut self, elapsed_s: f64) -> (Vec<DiskSample>, f64, f64) {
        let Some(disks) = self.disks.as_mut() else {
            return (Vec::new(), 0.0, 0.0);
        };
        disks.refresh_specifics(
            true,
            DiskRefreshKind::nothing().with_storage().with_io_usage(),
        );
        let mut out = Vec::with_capacity(disks.iter().len());
        let mut next = HashMap::with_capacity(disks.iter().len());
        let (mut total_read, mut total_write) = (0.0, 0.0);
        for disk in disks.iter() {
            let mount = disk.mount_point().to_string_lossy();
            if !self.options.mounts.keeps(&mount) {
                continue;
            }
            let mount = mount.into_owned();
            let device = disk.name().to_string_lossy().into_owned();
            let usage = disk.usage();
            let now = (usage.total_read_bytes, usage.total_written_bytes);
            let prev = self.last_disk_io.get(&device).copied();
            let (read_bps, write_bps) = rate_pair(prev, now, elapsed_s);
            // Several mounts can share one device (bind mounts, btrfs subvolumes): count
            // its I/O once in the totals.
            if next.insert(device.clone(), now).is_none() {
                total_read += read_bps;
                total_write += write_bps;
            }
            out.push(DiskSample {
                mount,
                device,
                fs: disk.file_system().to_string_lossy().into_owned(),
                total_bytes: disk.total_space(),
                available_bytes: disk.available_space(),
                read_bps,
                write_bps,
            });
        }
        self.last_disk_io = next;
        (out, total_read, total_write)
    }

    fn network_io(&mut self, elapsed_s: f64) -> (Vec<NetworkSample>, f64, f64) {
        let Some(networks) = self.networks.as_mut() else {
            return (Vec::new(), 0.0, 0.0);
        };
        networks.refresh(true);
        let mut out = Vec::with_capacity(networks.len());
        let mut next = HashMap::with_capacity(networks.len());
        for (name, data) in networks.iter() {
            let name = name.to_string_lossy().into_owned();
            if !self.options.interfaces.keeps(&name) {
                continue;
            }
            let now = (data.total_received(), data.total_transmitted());
            let (rx_bps, tx_bps) = rate_pair(self.last_net_io.get(&name).copied(), now, elapsed_s);
            next.insert(name.clone(), now);
            out.push(NetworkSample {
                name: name.clone(),
                rx_bps,
                tx_bps,
                rx_bytes_total: now.0,
                tx_bytes_total: now.1,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        self.last_net_io = next;
        // Totals: physical interfaces only, so bytes crossing a bridge, a veth and the
        // loopback count once.
        let counted = self.interfaces.counted(out.iter().map(|n| n.name.as_str()));
        let (mut total_rx, mut total_tx) = (0.0, 0.0);
        for (n, _) in out.iter().zip(counted).filter(|(_, c)| *c) {
            total_rx += n.rx_bps;
            total_tx += n.tx_bps;
        }
        (out, total_rx, total_tx)
    }

    fn temperatures(&mut self) -> Vec<TemperatureSample> {
        let Some(components) = self.components.as_mut() else {
            return Vec::new();
        };
        components.refresh(false);
        components
            .iter()
            .filter_map(|c| {
                let celsius = c.temperature()?;
                celsius.is_finite().then(|| TemperatureSample {
                    label: c.label().to_owned(),
                    celsius,
                })
            })
            .collect()
    }
}

impl Default for SystemSampler {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes per second between two cumulative counter readings. A counter that went
/// backwards (interface reset, device re-plugged) or a first reading gives 0, not a spike.
fn rate_pair(prev: Option<(u64, u64)>, now: (u64, u64), elapsed_s: f64) -> (f64, f64) {
    match prev {
        Some((a, b)) if elapsed_s > 0.0 => (
            now.0.saturating_sub(a) as f64 / elapsed_s,
            now.1.saturating_sub(b) as f64 / elapsed_s,
        ),
        _ => (0.0, 0.0),
    }
}

/// Counts processes without building sysinfo's per-process table, which reads every
/// `/proc/<pid>/stat` and would dominate the sampler's cost.
fn process_count(sys: Option<&mut System>) -> u32 {
    #[cfg(target_os = "linux")]
    {
        let _ = sys;
        std::fs::read_dir("/proc")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .as_encoded_bytes()
                            .iter()
                            .all(u8::is_ascii_digit)
                    })
                    .count() as u32
            })
            .unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let Some(sys) = sys else { return 0 };
        sys.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::All,
            true,
            sysinfo::ProcessRefreshKind::nothing(),
        );
        sys.processes().len() as u32
    }
}

impl Source for SystemSampler {
    fn next_sample(&mut self) -> MetricSample {
        let now = Instant::now();
        let elapsed_s = now.duration_since(self.last_at).as_secs_f64();
        self.last_at = now;

        let mut sample = MetricSample {
            ts_us: now_us(),
            ..MetricSample::default()
        };
        if let Some(sys) = self.sys.as_mut() {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
            sys.refresh_memory_specifics(MemoryRefreshKind::everything());
            sample.cpu_total_pct = sys.global_cpu_usage();
            sample.cpu_core_pct = sys.cpus().iter().map(|c| c.usage()).collect();
            sample.mem_total_bytes = sys.total_memory();
            sample.mem_used_bytes = sys.used_memory();
            sample.mem_available_bytes = sys.available_memory();
            sample.swap_total_bytes = sys.total_swap();
            sample.swap_used_bytes = sys.used_swap();
        }
        if let Ok(load) = System::load_average() {
            (sample.load_1, sample.load_5, sample.load_15) = (load.one, load.five, load.fifteen);
        }
        sample.uptime_s = System::uptime().unwrap_or(0);
        (sample.disks, sample.disk_read_bps, sample.disk_write_bps) = self.disk_io(elapsed_s);
        (sample.networks, sample.net_rx_bps, sample.net_tx_bps) = self.network_io(elapsed_s);
        sample.temperatures = self.temperatures();
        if self.options.collect.processes {
            sample.process_count = process_count(self.sys.as_mut());
        }
        sample
    }
}

/// The machine's host name, or "unknown" where the OS will not say.
pub fn system_host_name() -> String {
    System::host_name().unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_warm_and_complete() {
        let mut sampler = SystemSampler::new();
        let s = sampler.next_sample();
        assert!(
            s.ts_us > 1_600_000_000_000_000,
            "timestamp is in microseconds"
        );
        assert!(s.mem_total_bytes > 0);
        assert!(s.mem_used_bytes <= s.mem_total_bytes);
        assert!(!s.cpu_core_pct.is_empty());
        assert!((0.0..=100.0).contains(&s.cpu_total_pct));
        assert!(s.process_count > 0);
        assert!(s.uptime_s > 0);
    }

    /// 64 MiB through the loopback between two samples: the `lo` row shows it, the
    /// totals (physical interfaces) do not count it.
    #[cfg(target_os = "linux")]
    #[test]
    fn loopback_traffic_is_not_in_the_totals() {
        use std::io::{Read, Write};
        let mut sampler = SystemSampler::new();
        sampler.next_sample();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            while c.read(&mut buf).unwrap() > 0 {}
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let block = vec![7u8; 1 << 20];
        for _ in 0..64 {
            c.write_all(&block).unwrap();
        }
        drop(c);
        reader.join().unwrap();
        let s = sampler.next_sample();
        let lo = s
            .networks
            .iter()
            .find(|n| n.name == "lo")
            .expect("a loopback row");
        assert!(lo.rx_bps > 1e6, "the loopback carried the 64 MiB: {lo:?}");
        assert!(
            s.net_rx_bps < lo.rx_bps / 2.0,
            "total {} B/s includes the loopback's {} B/s",
            s.net_rx_bps,
            lo.rx_bps
        );
    }

    /// What the config turns off or filters out is not in the sample.
    #[test]
    fn options_choose_what_is_collected() {
        use crate::sample::{Collectors, NameFilter};
        let all = SystemSampler::with_options(SamplerOptions {
            collect: Collectors::default(),
            mounts: NameFilter::default(),
            interfaces: NameFilter::default(),
        })
        .next_sample();
        assert!(
            all.networks.iter().any(|n| n.name == "lo"),
            "{:?}",
            all.networks
        );
        let root_only = NameFilter::new(vec!["/".into()], vec![]).unwrap();
        let no_lo = NameFilter::new(vec![], vec!["lo".into()]).unwrap();
        let s = SystemSampler::with_options(SamplerOptions {
            collect: Collectors::default(),
            mounts: root_only,
            interfaces: no_lo,
        })
        .next_sample();
        assert!(s.disks.iter().all(|d| d.mount == "/"), "{:?}", s.disks);
        assert!(
            s.networks.iter().all(|n| n.name != "lo"),
            "{:?}",
            s.networks
        );
        assert_eq!(s.networks.len(), all.networks.len() - 1);
        let off = SystemSampler::with_options(SamplerOptions {
            collect: Collectors {
                disks: false,
                networks: false,
                temperatures: false,
                processes: false,
            },
            ..SamplerOptions::default()
        })
        .next_sample();
        assert!(off.disks.is_empty() && off.networks.is_empty() && off.temperatures.is_empty());
        assert_eq!(
            (off.process_count, off.net_rx_bps, off.disk_read_bps),
            (0, 0.0, 0.0)
        );
        assert!(off.mem_total_bytes > 0 && !off.cpu_core_pct.is_empty());
    }

    #[test]
    fn first_sample_cpu_is_not_the_cold_zero() {
        // Keep a core busy so a cold sysinfo (which reports exactly 0.0) would be caught.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spin = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(31).wrapping_add(7);
                    std::hint::black_box(x);
                }
            })
        };
        let mut sampler = SystemSampler::new();
        let s = sampler.next_sample();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spin.join().unwrap();
        assert!(s.cpu_total_pct > 0.0, "got {}", s.cpu_total_pct);
    }

    #[test]
    fn rates_never_spike_on_counter_reset() {
        assert_eq!(rate_pair(None, (100, 100), 1.0), (0.0, 0.0));
        assert_eq!(rate_pair(Some((200, 50)), (100, 150), 2.0), (0.0, 50.0));
        assert_eq!(rate_pair(Some((0, 0)), (10, 10), 0.0), (0.0, 0.0));
    }
}
