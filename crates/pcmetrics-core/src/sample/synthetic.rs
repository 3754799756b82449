//! Deterministic samples for tests, demos and benchmarks.

use super::{DiskSample, MetricSample, NetworkSample, Source, TemperatureSample};

/// Produces the same sequence of samples for the same `(start_us, step_us)`: sample `i`
/// is a pure function of `i`, so a test can recompute what it expects to read back.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    start_us: i64,
    step_us: i64,
    next: u64,
}

const CORES: usize = 4;
const GIB: u64 = 1 << 30;

impl SyntheticSource {
    pub fn new(start_us: i64, step_us: i64) -> Self {
        Self {
            start_us,
            step_us,
            next: 0,
        }
    }

    /// Sample number `i` of this source.
    pub fn sample_at(&self, i: u64) -> MetricSample {
        let ts_us = self.start_us + i as i64 * self.step_us;
        // Slow waves with distinct periods, so every metric moves and differs from the others.
        let wave = |period: u64, phase: u64| -> f64 {
            let x = ((i + phase) % period) as f64 / period as f64;
            0.5 + 0.5 * (x * std::f64::consts::TAU).sin()
        };
        let cpu_core_pct: Vec<f32> = (0..CORES as u64)
            .map(|c| (100.0 * wave(60 + 7 * c, c * 11)) as f32)
            .collect();
        let cpu_total_pct = cpu_core_pct.iter().sum::<f32>() / CORES as f32;
        let mem_total_bytes = 16 * GIB;
        let mem_used_bytes = (4.0 * GIB as f64 + 8.0 * GIB as f64 * wave(3600, 0)) as u64;
        let disk_read_bps = (50e6 * wave(120, 3)).round();
        let disk_write_bps = (20e6 * wave(90, 5)).round();
        let rx = (1e6 * wave(300, 1)).round();
        let tx = (2.5e5 * wave(240, 2)).round();
        MetricSample {
            ts_us,
            cpu_total_pct,
            cpu_core_pct,
            load_1: 4.0 * wave(60, 0),
            load_5: 4.0 * wave(300, 0),
            load_15: 4.0 * wave(900, 0),
            mem_total_bytes,
            mem_used_bytes,
            mem_available_bytes: mem_total_bytes - mem_used_bytes,
            swap_total_bytes: 2 * GIB,
            swap_used_bytes: (GIB as f64 * wave(7200, 0)) as u64 / 4,
            disks: vec![
                DiskSample {
                    mount: "/".into(),
                    device: "/dev/nvme0n1p2".into(),
                    fs: "ext4".into(),
                    total_bytes: 512 * GIB,
                    available_bytes: 200 * GIB - (i % 1000) * 4096,
                    read_bps: disk_read_bps,
                    write_bps: disk_write_bps,
                },
                DiskSample {
                    mount: "/boot/efi".into(),
                    device: "/dev/nvme0n1p1".into(),
                    fs: "vfat".into(),
                    total_bytes: GIB / 2,
                    available_bytes: GIB / 4,
                    read_bps: 0.0,
                    write_bps: 0.0,
                },
            ],
            disk_read_bps,
            disk_write_bps,
            networks: vec![
                NetworkSample {
                    name: "eth0".into(),
                    rx_bps: rx,
                    tx_bps: tx,
                    rx_bytes_total: i * 1_000_000,
                    tx_bytes_total: i * 250_000,
                },
                NetworkSample {
                    name: "lo".into(),
                    rx_bps: 1000.0,
                    tx_bps: 1000.0,
                    rx_bytes_total: i * 1000,
                    tx_bytes_total: i * 1000,
                },
            ],
            net_rx_bps: rx + 1000.0,
            net_tx_bps: tx + 1000.0,
            temperatures: vec![
                TemperatureSample {
                    label: "cpu".into(),
                    celsius: (40.0 + 40.0 * wave(600, 0)) as f32,
                },
                TemperatureSample {
                    label: "nvme".into(),
                    celsius: (35.0 + 10.0 * wave(1800, 0)) as f32,
                },
            ],
            process_count: 300 + (i % 50) as u32,
            uptime_s: 86_400 + i * (self.step_us.max(0) as u64 / 1_000_000),
        }
    }
}

impl Iterator for SyntheticSource {
    type Item = MetricSample;
    fn next(&mut self) -> Option<MetricSample> {
        let s = self.sample_at(self.next);
        self.next += 1;
        Some(s)
    }
}

impl Source for SyntheticSource {
    fn next_sample(&mut self) -> MetricSample {
        // `run --source synthetic` stamps samples with the wall clock like the real sampler.
        let mut s = self.sample_at(self.next);
        self.next += 1;
        s.ts_us = super::now_us();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_plausible() {
        let a: Vec<_> = SyntheticSource::new(0, 1_000_000).take(500).collect();
        let b: Vec<_> = SyntheticSource::new(0, 1_000_000).take(500).collect();
        assert_eq!(a, b);
        for (i, s) in a.iter().enumerate() {
            assert_eq!(s.ts_us, i as i64 * 1_000_000);
            assert!((0.0..=100.0).contains(&s.cpu_total_pct));
            assert!(s.mem_used_bytes + s.mem_available_bytes == s.mem_total_bytes);
        }
        assert_ne!(a[0].cpu_total_pct, a[10].cpu_total_pct, "values move");
    }
}
