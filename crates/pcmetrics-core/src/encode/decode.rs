//! Table rows back to samples: reads a `RecordBatch` of the bronze table (by column name,
//! independently of how [`super::to_record_batch`] built it). Used to verify what a table
//! holds against the buffer.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ListArray, RecordBatch, StructArray};

use crate::sample::{DiskSample, MetricSample, NetworkSample, TemperatureSample};

/// One table row: who, which sample, and the sample.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub host_id: String,
    pub hostname: String,
    /// The buffer the sample came from; `None` for rows written before the column existed.
    pub buffer_id: Option<String>,
    pub seq: i64,
    pub sample: MetricSample,
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| format!("the table has no column {name:?}"))
}

fn structs_at(list: &ListArray, row: usize) -> StructArray {
    list.value(row).as_struct().clone()
}

pub fn from_record_batch(b: &RecordBatch) -> Result<Vec<TableRow>, String> {
    let s = |n| col(b, n).map(|c| c.as_string::<i32>().clone());
    let f64c = |n| col(b, n).map(|c| c.as_primitive::<Float64Type>().clone());
    let i64c = |n| col(b, n).map(|c| c.as_primitive::<Int64Type>().clone());
    let host = s("host_id")?;
    let hostname = s("hostname")?;
    // Absent from tables (or projections) that predate it.
    let buffer = b
        .column_by_name("buffer_id")
        .map(|c| c.as_string::<i32>().clone());
    let seq = i64c("seq")?;
    let ts = col(b, "ts")?
        .as_primitive::<TimestampMicrosecondType>()
        .clone();
    let cpu = col(b, "cpu_total_pct")?
        .as_primitive::<Float32Type>()
        .clone();
    let cores = col(b, "cpu_core_pct")?.as_list::<i32>().clone();
    let (l1, l5, l15) = (f64c("load_1")?, f64c("load_5")?, f64c("load_15")?);
    let (mt, mu, ma) = (
        i64c("mem_total_bytes")?,
        i64c("mem_used_bytes")?,
        i64c("mem_available_bytes")?,
    );
    let (st, su) = (i64c("swap_total_bytes")?, i64c("swap_used_bytes")?);
    let (dr, dw) = (f64c("disk_read_bps")?, f64c("disk_write_bps")?);
    let (nr, nt) = (f64c("net_rx_bps")?, f64c("net_tx_bps")?);
    let disks = col(b, "disks")?.as_list::<i32>().clone();
    let nets = col(b, "networks")?.as_list::<i32>().clone();
    let temps = col(b, "temperatures")?.as_list::<i32>().clone();
    let procs = col(b, "process_count")?.as_primitive::<Int32Type>().clone();
    let uptime = i64c("uptime_s")?;

    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let d = structs_at(&disks, i);
        let n = structs_at(&nets, i);
        let t = structs_at(&temps, i);
        let ds = |k: usize| d.column(k).as_string::<i32>().clone();
        let di = |k: usize| d.column(k).as_primitive::<Int64Type>().clone();
        let df = |k: usize| d.column(k).as_primitive::<Float64Type>().clone();
        let (mount, dev, fs, tot, avail, rd, wr) =
            (ds(0), ds(1), ds(2), di(3), di(4), df(5), df(6));
        let (nn, nrx, ntx, nrt, ntt) = (
            n.column(0).as_string::<i32>().clone(),
            n.column(1).as_primitive::<Float64Type>().clone(),
            n.column(2).as_primitive::<Float64Type>().clone(),
            n.column(3).as_primitive::<Int64Type>().clone(),
            n.column(4).as_primitive::<Int64Type>().clone(),
        );
        let (tl, tc) = (
            t.column(0).as_string::<i32>().clone(),
            t.column(1).as_primitive::<Float32Type>().clone(),
        );
        out.push(TableRow {
            host_id: host.value(i).to_owned(),
            hostname: hostname.value(i).to_owned(),
            buffer_id: buffer
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i).to_owned()),
            seq: seq.value(i),
            sample: MetricSample {
                ts_us: ts.value(i),
                cpu_total_pct: cpu.value(i),
                cpu_core_pct: cores
                    .value(i)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec(),
                load_1: l1.value(i),
                load_5: l5.value(i),
                load_15: l15.value(i),
                mem_total_bytes: mt.value(i) as u64,
                mem_used_bytes: mu.value(i) as u64,
                mem_available_bytes: ma.value(i) as u64,
                swap_total_bytes: st.value(i) as u64,
                swap_used_bytes: su.value(i) as u64,
                disks: (0..d.len())
                    .map(|k| DiskSample {
                        mount: mount.value(k).to_owned(),
                        device: dev.value(k).to_owned(),
                        fs: fs.value(k).to_owned(),
                        total_bytes: tot.value(k) as u64,
                        available_bytes: avail.value(k) as u64,
                        read_bps: rd.value(k),
                        write_bps: wr.value(k),
                    })
                    .collect(),
                disk_read_bps: dr.value(i),
                disk_write_bps: dw.value(i),
                networks: (0..n.len())
                    .map(|k| NetworkSample {
                        name: nn.value(k).to_owned(),
                        rx_bps: nrx.value(k),
                        tx_bps: ntx.value(k),
                        rx_bytes_total: nrt.value(k) as u64,
                        tx_bytes_total: ntt.value(k) as u64,
                    })
                    .collect(),
                net_rx_bps: nr.value(i),
                net_tx_bps: nt.value(i),
                temperatures: (0..t.len())
                    .map(|k| TemperatureSample {
                        label: tl.value(k).to_owned(),
                        celsius: tc.value(k),
                    })
                    .collect(),
                process_count: procs.value(i) as u32,
                uptime_s: uptime.value(i) as u64,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SyntheticSource;

    #[test]
    fn decode_inverts_encode() {
        let rows: Vec<(i64, MetricSample)> = SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
            .take(300)
            .enumerate()
            .map(|(i, s)| (i as i64 + 10, s))
            .collect();
        let refs: Vec<_> = rows.iter().collect();
        let batch = super::super::to_record_batch("h", "pc", "b", &refs).unwrap();
        let back = from_record_batch(&batch).unwrap();
        assert_eq!(back.len(), 300);
        for (got, (seq, want)) in back.iter().zip(&rows) {
            assert_eq!((got.host_id.as_str(), got.seq), ("h", *seq));
            assert_eq!(&got.sample, want);
        }
    }
}
