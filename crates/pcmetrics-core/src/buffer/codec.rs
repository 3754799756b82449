//! How a [`MetricSample`] maps onto a `samples` row: scalars as columns (history queries
//! read them directly), per-entity lists as one compact JSON array of tuples in `detail`.

use rusqlite::{CachedStatement, Row, params};

use crate::sample::{DiskSample, MetricSample, NetworkSample, TemperatureSample};

pub const INSERT_SQL: &str = "INSERT INTO samples (ts_us, cpu, load1, load5, load15, \
    mem_total, mem_used, mem_available, swap_total, swap_used, disk_read, disk_write, \
    net_rx, net_tx, temp_max, procs, uptime, detail) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

pub const SELECT_RANGE_SQL: &str = "SELECT seq, ts_us, cpu, load1, load5, load15, \
    mem_total, mem_used, mem_available, swap_total, swap_used, disk_read, disk_write, \
    net_rx, net_tx, procs, uptime, detail FROM samples WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";

/// The newest rows with `ts_us >= ?1`, newest first, at most `?2` (reversed by the caller).
pub const SELECT_RECENT_SQL: &str = "SELECT seq, ts_us, cpu, load1, load5, load15, \
    mem_total, mem_used, mem_available, swap_total, swap_used, disk_read, disk_write, \
    net_rx, net_tx, procs, uptime, detail FROM samples WHERE ts_us >= ?1 ORDER BY seq DESC LIMIT ?2";

type DiskTuple = (String, String, String, u64, u64, f64, f64);
type NetTuple = (String, f64, f64, u64, u64);

/// Tuples, not objects: field names are not repeated in every row.
#[derive(serde::Serialize, serde::Deserialize)]
struct Detail(Vec<f32>, Vec<DiskTuple>, Vec<NetTuple>, Vec<(String, f32)>);

fn finite64(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}
fn finite32(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}
/// SQLite integers are i64; byte counts above that do not occur in practice.
fn int(x: u64) -> i64 {
    x.min(i64::MAX as u64) as i64
}

/// Inserts one sample, returns its seq.
pub fn insert(stmt: &mut CachedStatement<'_>, s: &MetricSample) -> rusqlite::Result<i64> {
    let detail = Detail(
        s.cpu_core_pct.iter().copied().map(finite32).collect(),
        s.disks
            .iter()
            .map(|d| {
                (
                    d.mount.clone(),
                    d.device.clone(),
                    d.fs.clone(),
                    d.total_bytes.min(i64::MAX as u64),
                    d.available_bytes.min(i64::MAX as u64),
                    finite64(d.read_bps),
                    finite64(d.write_bps),
                )
            })
            .collect(),
        s.networks
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    finite64(n.rx_bps),
                    finite64(n.tx_bps),
                    n.rx_bytes_total.min(i64::MAX as u64),
                    n.tx_bytes_total.min(i64::MAX as u64),
                )
            })
            .collect(),
        s.temperatures
            .iter()
            .map(|t| (t.label.clone(), finite32(t.celsius)))
            .collect(),
    );
    let detail = serde_json::to_string(&detail).expect("plain data always serializes");
    stmt.insert(params![
        s.ts_us,
        finite32(s.cpu_total_pct),
        finite64(s.load_1),
        finite64(s.load_5),
        finite64(s.load_15),
        int(s.mem_total_bytes),
        int(s.mem_used_bytes),
        int(s.mem_available_bytes),
        int(s.swap_total_bytes),
        int(s.swap_used_bytes),
        finite64(s.disk_read_bps),
        finite64(s.disk_write_bps),
        finite64(s.net_rx_bps),
        finite64(s.net_tx_bps),
        s.max_temperature().map(finite32),
        s.process_count,
        int(s.uptime_s),
        detail,
    ])
}

/// Reads a row of [`SELECT_RANGE_SQL`]. The inner error is a decode failure of `detail`.
#[allow(clippy::type_complexity)]
pub fn row_to_sample(r: &Row<'_>) -> rusqlite::Result<(i64, Result<MetricSample, String>)> {
    let seq: i64 = r.get(0)?;
    let detail: String = r.get(17)?;
    let Detail(cores, disks, nets, temps) = match serde_json::from_str(&detail) {
        Ok(d) => d,
        Err(e) => return Ok((seq, Err(e.to_string()))),
    };
    let sample = MetricSample {
        ts_us: r.get(1)?,
        cpu_total_pct: r.get::<_, f64>(2)? as f32,
        cpu_core_pct: cores,
        load_1: r.get(3)?,
        load_5: r.get(4)?,
        load_15: r.get(5)?,
        mem_total_bytes: r.get::<_, i64>(6)? as u64,
        mem_used_bytes: r.get::<_, i64>(7)? as u64,
        mem_available_bytes: r.get::<_, i64>(8)? as u64,
        swap_total_bytes: r.get::<_, i64>(9)? as u64,
        swap_used_bytes: r.get::<_, i64>(10)? as u64,
        disks: disks
            .into_iter()
            .map(
                |(mount, device, fs, total_bytes, available_bytes, read_bps, write_bps)| {
                    DiskSample {
                        mount,
                        device,
                        fs,
                        total_bytes,
                        available_bytes,
                        read_bps,
                        write_bps,
                    }
                },
            )
            .collect(),
        disk_read_bps: r.get(11)?,
        disk_write_bps: r.get(12)?,
        networks: nets
            .into_iter()
            .map(
                |(name, rx_bps, tx_bps, rx_bytes_total, tx_bytes_total)| NetworkSample {
                    name,
                    rx_bps,
                    tx_bps,
                    rx_bytes_total,
                    tx_bytes_total,
                },
            )
            .collect(),
        net_rx_bps: r.get(13)?,
        net_tx_bps: r.get(14)?,
        temperatures: temps
            .into_iter()
            .map(|(label, celsius)| TemperatureSample { label, celsius })
            .collect(),
        process_count: r.get::<_, i64>(15)? as u32,
        uptime_s: r.get::<_, i64>(16)? as u64,
    };
    Ok((seq, Ok(sample)))
}
