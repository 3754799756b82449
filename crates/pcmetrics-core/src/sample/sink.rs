//! A sample as a sequence of values handed to a [`SampleSink`], for the paths that
//! move many samples from one form to another without building a [`MetricSample`] for
//! each: the sync reads the buffer's rows straight into Arrow column builders
//! (`encode::BatchColumns`), with names borrowed from the stored row, so a batch of a
//! day's samples costs no allocation per sample.
//!
//! A row is `start_row`, then its cores, disks, interfaces and sensors (each list in
//! order, the lists in that order), then `end_row`. [`feed`] hands over a
//! [`MetricSample`]; [`SampleBuilder`] turns the calls back into one.

use super::{DiskSample, MetricSample, NetworkSample, TemperatureSample};

/// The scalar values of a sample, with the types of [`MetricSample`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scalars {
    pub ts_us: i64,
    pub cpu_total_pct: f32,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub mem_total_bytes: u64,
    pub mem_used_bytes: u64,
    pub mem_available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub disk_read_bps: f64,
    pub disk_write_bps: f64,
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
    pub process_count: u32,
    pub uptime_s: u64,
}

impl Scalars {
    pub fn of(s: &MetricSample) -> Self {
        Scalars {
            ts_us: s.ts_us,
            cpu_total_pct: s.cpu_total_pct,
            load_1: s.load_1,
            load_5: s.load_5,
            load_15: s.load_15,
            mem_total_bytes: s.mem_total_bytes,
            mem_used_bytes: s.mem_used_bytes,
            mem_available_bytes: s.mem_available_bytes,
            swap_total_bytes: s.swap_total_bytes,
            swap_used_bytes: s.swap_used_bytes,
            disk_read_bps: s.disk_read_bps,
            disk_write_bps: s.disk_write_bps,
            net_rx_bps: s.net_rx_bps,
            net_tx_bps: s.net_tx_bps,
            process_count: s.process_count,
            uptime_s: s.uptime_s,
        }
    }
}

/// One disk of a sample, its names borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskRef<'a> {
    pub mount: &'a str,
    pub device: &'a str,
    pub fs: &'a str,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub read_bps: f64,
    pub write_bps: f64,
}

/// One network interface of a sample, its name borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetRef<'a> {
    pub name: &'a str,
    pub rx_bps: f64,
    pub tx_bps: f64,
    pub rx_bytes_total: u64,
    pub tx_bytes_total: u64,
}

/// Receives the per-entity lists of a sample.
pub trait DetailSink {
    fn core(&mut self, pct: f32);
    fn disk(&mut self, d: DiskRef<'_>);
    fn net(&mut self, n: NetRef<'_>);
    fn temperature(&mut self, label: &str, celsius: f32);
}

/// Receives whole samples: `start_row`, the lists ([`DetailSink`]), `end_row`.
pub trait SampleSink: DetailSink {
    fn start_row(&mut self, seq: i64, s: &Scalars);
    fn end_row(&mut self);
}

/// Hands the lists of `s` to `sink`.
pub fn feed_detail(
    sink: &mut impl DetailSink,
    cores: &[f32],
    disks: &[DiskSample],
    networks: &[NetworkSample],
    temperatures: &[TemperatureSample],
) {
    for &c in cores {
        sink.core(c);
    }
    for d in disks {
        sink.disk(DiskRef {
            mount: &d.mount,
            device: &d.device,
            fs: &d.fs,
            total_bytes: d.total_bytes,
            available_bytes: d.available_bytes,
            read_bps: d.read_bps,
            write_bps: d.write_bps,
        });
    }
    for n in networks {
        sink.net(NetRef {
            name: &n.name,
            rx_bps: n.rx_bps,
            tx_bps: n.tx_bps,
            rx_bytes_total: n.rx_bytes_total,
            tx_bytes_total: n.tx_bytes_total,
        });
    }
    for t in temperatures {
        sink.temperature(&t.label, t.celsius);
    }
}

/// Hands sample `s`, numbered `seq`, to `sink`.
pub fn feed(sink: &mut impl SampleSink, seq: i64, s: &MetricSample) {
    sink.start_row(seq, &Scalars::of(s));
    feed_detail(
        sink,
        &s.cpu_core_pct,
        &s.disks,
        &s.networks,
        &s.temperatures,
    );
    sink.end_row();
}

/// Collects the lists of one sample (the `detail` of a buffer row).
#[derive(Debug, Default, PartialEq)]
pub struct Detail {
    pub cores: Vec<f32>,
    pub disks: Vec<DiskSample>,
    pub networks: Vec<NetworkSample>,
    pub temperatures: Vec<TemperatureSample>,
}

impl DetailSink for Detail {
    fn core(&mut self, pct: f32) {
        self.cores.push(pct);
    }
    fn disk(&mut self, d: DiskRef<'_>) {
        self.disks.push(DiskSample {
            mount: d.mount.to_owned(),
            device: d.device.to_owned(),
            fs: d.fs.to_owned(),
            total_bytes: d.total_bytes,
            available_bytes: d.available_bytes,
            read_bps: d.read_bps,
            write_bps: d.write_bps,
        });
    }
    fn net(&mut self, n: NetRef<'_>) {
        self.networks.push(NetworkSample {
            name: n.name.to_owned(),
            rx_bps: n.rx_bps,
            tx_bps: n.tx_bps,
            rx_bytes_total: n.rx_bytes_total,
            tx_bytes_total: n.tx_bytes_total,
        });
    }
    fn temperature(&mut self, label: &str, celsius: f32) {
        self.temperatures.push(TemperatureSample {
            label: label.to_owned(),
            celsius,
        });
    }
}

/// Builds [`MetricSample`]s from the calls of a [`SampleSink`], with their seqs.
#[derive(Debug, Default)]
pub struct SampleBuilder {
    pub samples: Vec<(i64, MetricSample)>,
    seq: i64,
    scalars: Scalars,
    detail: Detail,
}

impl DetailSink for SampleBuilder {
    fn core(&mut self, pct: f32) {
        self.detail.core(pct);
    }
    fn disk(&mut self, d: DiskRef<'_>) {
        self.detail.disk(d);
    }
    fn net(&mut self, n: NetRef<'_>) {
        self.detail.net(n);
    }
    fn temperature(&mut self, label: &str, celsius: f32) {
        self.detail.temperature(label, celsius);
    }
}

impl SampleSink for SampleBuilder {
    fn start_row(&mut self, seq: i64, s: &Scalars) {
        self.seq = seq;
        self.scalars = *s;
        self.detail = Detail::default();
    }
    fn end_row(&mut self) {
        let s = self.scalars;
        let d = std::mem::take(&mut self.detail);
        self.samples.push((
            self.seq,
            MetricSample {
                ts_us: s.ts_us,
                cpu_total_pct: s.cpu_total_pct,
                cpu_core_pct: d.cores,
                load_1: s.load_1,
                load_5: s.load_5,
                load_15: s.load_15,
                mem_total_bytes: s.mem_total_bytes,
                mem_used_bytes: s.mem_used_bytes,
                mem_available_bytes: s.mem_available_bytes,
                swap_total_bytes: s.swap_total_bytes,
                swap_used_bytes: s.swap_used_bytes,
                disks: d.disks,
                disk_read_bps: s.disk_read_bps,
                disk_write_bps: s.disk_write_bps,
                networks: d.networks,
                net_rx_bps: s.net_rx_bps,
                net_tx_bps: s.net_tx_bps,
                temperatures: d.temperatures,
                process_count: s.process_count,
                uptime_s: s.uptime_s,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SyntheticSource;

    #[test]
    fn feeding_a_builder_gives_the_sample_back() {
        let mut b = SampleBuilder::default();
        let samples: Vec<_> = SyntheticSource::new(0, 1_000_000).take(5).collect();
        for (i, s) in samples.iter().enumerate() {
            feed(&mut b, i as i64 + 7, s);
        }
        let want: Vec<_> = (7..).zip(samples).collect();
        assert_eq!(b.samples, want);
    }
}
