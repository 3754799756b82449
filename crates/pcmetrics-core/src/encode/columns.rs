//! Samples as Arrow columns, built as they are read.
//!
//! [`BatchColumns`] is a [`SampleSink`]: the buffer hands it each row of a batch (names
//! borrowed from the stored row) and it appends the values to one set of plain column
//! vectors per UTC day, which become the arrays of a [`RecordBatch`] without copying. A
//! day of 1 s samples is then one allocation per column instead of a `MetricSample`, a
//! list and a string per sample, which is what made reading a batch cost more than
//! encoding it (see `examples/sync_profile.rs`).

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType, Field, Fields};

use super::day_of;
use super::schema::ARROW_SCHEMA;
use crate::sample::MetricSample;
use crate::sample::sink::{DetailSink, DiskRef, NetRef, SampleSink, Scalars, feed};

/// The table's integers are signed 64-bit; larger counts are clamped.
fn int(x: u64) -> i64 {
    x.min(i64::MAX as u64) as i64
}

/// The element field and struct fields of a `list<struct<..>>` column.
fn list_fields(name: &str) -> (Arc<Field>, Option<Fields>) {
    let field = ARROW_SCHEMA
        .field_with_name(name)
        .expect("field is in the schema");
    let DataType::List(element) = field.data_type() else {
        unreachable!("{name} is a list")
    };
    let fields = match element.data_type() {
        DataType::Struct(fields) => Some(fields.clone()),
        _ => None,
    };
    (element.clone(), fields)
}

/// A list column: offsets into the values of its element columns.
fn list(name: &str, offsets: Vec<i32>, values: Vec<ArrayRef>) -> Result<ArrayRef, ArrowError> {
    let (element, fields) = list_fields(name);
    let values: ArrayRef = match fields {
        Some(fields) => Arc::new(StructArray::try_new(fields, values, None)?),
        None => values.into_iter().next().expect("one value column"),
    };
    Ok(Arc::new(ListArray::try_new(
        element,
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

fn strings(mut b: StringBuilder) -> ArrayRef {
    Arc::new(b.finish())
}

/// Offsets of a list column, starting at 0.
fn offsets(cap: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(cap + 1);
    v.push(0);
    v
}

fn end_list(offsets: &mut Vec<i32>, len: usize) {
    offsets.push(i32::try_from(len).expect("under 2^31 list values per file"));
}

/// The rows of one file, column by column, in the order of [`ARROW_SCHEMA`].
#[derive(Debug)]
pub struct Columns {
    seq: Vec<i64>,
    ts: Vec<i64>,
    cpu: Vec<f32>,
    core_offsets: Vec<i32>,
    cores: Vec<f32>,
    load: [Vec<f64>; 3],
    /// Memory total, used, available; swap total, used.
    mem: [Vec<i64>; 5],
    disk_io: [Vec<f64>; 2],
    disk_offsets: Vec<i32>,
    disk_names: [StringBuilder; 3],
    disk_bytes: [Vec<i64>; 2],
    disk_rates: [Vec<f64>; 2],
    net_io: [Vec<f64>; 2],
    net_offsets: Vec<i32>,
    net_name: StringBuilder,
    net_rates: [Vec<f64>; 2],
    net_totals: [Vec<i64>; 2],
    temp_offsets: Vec<i32>,
    temp_label: StringBuilder,
    temp_celsius: Vec<f32>,
    procs: Vec<i32>,
    uptime: Vec<i64>,
}

impl Columns {
    pub fn with_capacity(rows: usize) -> Self {
        Columns {
            seq: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            cpu: Vec::with_capacity(rows),
            core_offsets: offsets(rows),
            cores: Vec::new(),
            load: [
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
            ],
            mem: [
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
            ],
            disk_io: [Vec::with_capacity(rows), Vec::with_capacity(rows)],
            disk_offsets: offsets(rows),
            disk_names: Default::default(),
            disk_bytes: Default::default(),
            disk_rates: Default::default(),
            net_io: [Vec::with_capacity(rows), Vec::with_capacity(rows)],
            net_offsets: offsets(rows),
            net_name: StringBuilder::new(),
            net_rates: Default::default(),
            net_totals: Default::default(),
            temp_offsets: offsets(rows),
            temp_label: StringBuilder::new(),
            temp_celsius: Vec::new(),
            procs: Vec::with_capacity(rows),
            uptime: Vec::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.seq.first().copied()
    }

    pub fn last_seq(&self) -> Option<i64> {
        self.seq.last().copied()
    }

    /// The Arrow batch of these rows, with the constant columns (host, buffer) filled in.
    pub fn finish(
        self,
        host_id: &str,
        hostname: &str,
        buffer_id: &str,
    ) -> Result<RecordBatch, ArrowError> {
        let n = self.seq.len();
        let DataType::Timestamp(_, tz) = ARROW_SCHEMA
            .field_with_name("ts")
            .expect("ts is in the schema")
            .data_type()
            .clone()
        else {
            unreachable!("ts is a timestamp")
        };
        let f64s = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
        let i64s = |v: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(v)) };
        let constant = |s: &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, n)))
        };
        let [load_1, load_5, load_15] = self.load;
        let [mem_total, mem_used, mem_available, swap_total, swap_used] = self.mem;
        let [disk_read, disk_write] = self.disk_io;
        let [mount, device, fs] = self.disk_names;
        let [disk_total, disk_available] = self.disk_bytes;
        let [disk_read_bps, disk_write_bps] = self.disk_rates;
        let [net_rx, net_tx] = self.net_io;
        let [rx_bps, tx_bps] = self.net_rates;
        let [rx_total, tx_total] = self.net_totals;
        let columns: Vec<ArrayRef> = vec![
            constant(host_id),
            constant(hostname),
            i64s(self.seq),
            Arc::new(TimestampMicrosecondArray::from(self.ts).with_timezone_opt(tz)),
            Arc::new(Float32Array::from(self.cpu)),
            list(
                "cpu_core_pct",
                self.core_offsets,
                vec![Arc::new(Float32Array::from(self.cores))],
            )?,
            f64s(load_1),
            f64s(load_5),
            f64s(load_15),
            i64s(mem_total),
            i64s(mem_used),
            i64s(mem_available),
            i64s(swap_total),
            i64s(swap_used),
            f64s(disk_read),
            f64s(disk_write),
            list(
                "disks",
                self.disk_offsets,
                vec![
                    strings(mount),
                    strings(device),
                    strings(fs),
                    i64s(disk_total),
                    i64s(disk_available),
                    f64s(disk_read_bps),
                    f64s(disk_write_bps),
                ],
            )?,
            f64s(net_rx),
            f64s(net_tx),
            list(
                "networks",
                self.net_offsets,
                vec![
                    strings(self.net_name),
                    f64s(rx_bps),
                    f64s(tx_bps),
                    i64s(rx_total),
                    i64s(tx_total),
                ],
            )?,
            list(
                "temperatures",
                self.temp_offsets,
                vec![
                    strings(self.temp_label),
                    Arc::new(Float32Array::from(self.temp_celsius)),
                ],
            )?,
            Arc::new(Int32Array::from(self.procs)),
            i64s(self.uptime),
            // Evolved columns, in the order of schema::EVOLVED_COLUMNS.
            constant(buffer_id),
        ];
        RecordBatch::try_new(ARROW_SCHEMA.clone(), columns)
    }
}

impl DetailSink for Columns {
    fn core(&mut self, pct: f32) {
        self.cores.push(pct);
    }

    fn disk(&mut self, d: DiskRef<'_>) {
        let [mount, device, fs] = &mut self.disk_names;
        mount.append_value(d.mount);
        device.append_value(d.device);
        fs.append_value(d.fs);
        self.disk_bytes[0].push(int(d.total_bytes));
        self.disk_bytes[1].push(int(d.available_bytes));
        self.disk_rates[0].push(d.read_bps);
        self.disk_rates[1].push(d.write_bps);
    }

    fn net(&mut self, n: NetRef<'_>) {
        self.net_name.append_value(n.name);
        self.net_rates[0].push(n.rx_bps);
        self.net_rates[1].push(n.tx_bps);
        self.net_totals[0].push(int(n.rx_bytes_total));
        self.net_totals[1].push(int(n.tx_bytes_total));
    }

    fn temperature(&mut self, label: &str, celsius: f32) {
        self.temp_label.append_value(label);
        self.temp_celsius.push(celsius);
    }
}

impl SampleSink for Columns {
    fn start_row(&mut self, seq: i64, s: &Scalars) {
        self.seq.push(seq);
        self.ts.push(s.ts_us);
        self.cpu.push(s.cpu_total_pct);
        self.load[0].push(s.load_1);
        self.load[1].push(s.load_5);
        self.load[2].push(s.load_15);
        self.mem[0].push(int(s.mem_total_bytes));
        self.mem[1].push(int(s.mem_used_bytes));
        self.mem[2].push(int(s.mem_available_bytes));
        self.mem[3].push(int(s.swap_total_bytes));
        self.mem[4].push(int(s.swap_used_bytes));
        self.disk_io[0].push(s.disk_read_bps);
        self.disk_io[1].push(s.disk_write_bps);
        self.net_io[0].push(s.net_rx_bps);
        self.net_io[1].push(s.net_tx_bps);
        self.procs.push(s.process_count.min(i32::MAX as u32) as i32);
        self.uptime.push(int(s.uptime_s));
    }

    fn end_row(&mut self) {
        end_list(&mut self.core_offsets, self.cores.len());
        end_list(&mut self.disk_offsets, self.disk_bytes[0].len());
        end_list(&mut self.net_offsets, self.net_rates[0].len());
        end_list(&mut self.temp_offsets, self.temp_celsius.len());
    }
}

/// The rows of one batch as [`Columns`], one set per UTC day (the table's partition),
/// in the order the rows came. Most batches hold one day (a new batch ends with the day
/// of its first sample); a clock that went back, or a batch opened by an older version,
/// can hold more.
#[derive(Debug)]
pub struct BatchColumns {
    days: Vec<(i32, Columns)>,
    current: usize,
    rows: usize,
    capacity: usize,
}

impl BatchColumns {
    /// For about `rows` rows (the size of the seq range being read).
    pub fn with_capacity(rows: usize) -> Self {
        BatchColumns {
            days: Vec::new(),
            current: 0,
            rows: 0,
            capacity: rows,
        }
    }

    pub fn from_samples(rows: &[(i64, MetricSample)]) -> Self {
        let mut columns = Self::with_capacity(rows.len());
        for (seq, s) in rows {
            feed(&mut columns, *seq, s);
        }
        columns
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The lowest seq read (rows come in seq order, so the first of the first day).
    pub fn first_seq(&self) -> Option<i64> {
        self.days.iter().filter_map(|(_, c)| c.first_seq()).min()
    }

    /// The days, ascending, each with its rows.
    pub fn into_days(mut self) -> Vec<(i32, Columns)> {
        self.days.sort_by_key(|(day, _)| *day);
        self.days
    }

    fn current(&mut self) -> &mut Columns {
        &mut self.days[self.current].1
    }
}

impl DetailSink for BatchColumns {
    fn core(&mut self, pct: f32) {
        self.current().core(pct);
    }
    fn disk(&mut self, d: DiskRef<'_>) {
        self.current().disk(d);
    }
    fn net(&mut self, n: NetRef<'_>) {
        self.current().net(n);
    }
    fn temperature(&mut self, label: &str, celsius: f32) {
        self.current().temperature(label, celsius);
    }
}

impl SampleSink for BatchColumns {
    fn start_row(&mut self, seq: i64, s: &Scalars) {
        let day = day_of(s.ts_us);
        if self.days.get(self.current).map(|(d, _)| *d) != Some(day) {
            self.current = match self.days.iter().position(|(d, _)| *d == day) {
                Some(i) => i,
                None => {
                    // The first day gets the whole capacity; the others are the rare case.
                    let cap = if self.days.is_empty() {
                        self.capacity
                    } else {
                        0
                    };
                    self.days.push((day, Columns::with_capacity(cap)));
                    self.days.len() - 1
                }
            };
        }
        self.rows += 1;
        self.current().start_row(seq, s);
    }

    fn end_row(&mut self) {
        self.current().end_row();
    }
}
