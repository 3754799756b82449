//! How a [`MetricSample`] maps onto a `samples` row: scalars as columns (history queries
//! and rollups read them directly), the per-entity lists (cores, disks, interfaces,
//! sensors) packed into the one `detail` column.
//!
//! ## `detail` on disk
//!
//! Rows written by this version hold a BLOB:
//!
//! ```text
//! detail  = tag cores disks nets temps        tag: one byte, 0x01 (this layout)
//! cores   = count f32*                        per logical core, in the OS's order
//! disks   = count disk*
//! disk    = str(mount) str(device) str(fs) uint(total_bytes) uint(available_bytes)
//!           f64(read_bps) f64(write_bps)
//! nets    = count net*
//! net     = str(name) f64(rx_bps) f64(tx_bps) uint(rx_bytes_total) uint(tx_bytes_total)
//! temps   = count temp*
//! temp    = str(label) f32(celsius)
//!
//! count, uint   unsigned LEB128 varint (7 bits per byte, low bits first, at most 10 bytes)
//! str           uint(byte length) then that many bytes of UTF-8
//! f32, f64      IEEE 754 bits, little-endian (4 and 8 bytes): exact by construction
//! ```
//!
//! Nothing follows `temps`; a decoder rejects trailing bytes, a truncated value, invalid
//! UTF-8 and an unknown tag. A new layout gets a new tag, and decoders keep reading the
//! old ones.
//!
//! Rows written before the BLOB layout hold TEXT: a JSON array of tuples
//! `[[core%...], [[mount, device, fs, total, available, read_bps, write_bps]...],
//! [[name, rx_bps, tx_bps, rx_total, tx_total]...], [[label, celsius]...]]`. They are still
//! read; SQLite's storage class of the value (TEXT or BLOB) tells the two apart. The
//! column is declared `TEXT`, which does not convert BLOBs.
//!
//! Both layouts store non-finite floats as 0 and clamp byte counts to `i64::MAX` (the
//! table's integers are signed 64-bit), like the scalar columns.

use std::sync::LazyLock;

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Row};

use crate::sample::sink::{Detail, DetailSink, DiskRef, NetRef, SampleSink, Scalars, feed_detail};
use crate::sample::{DiskSample, MetricSample, NetworkSample, TemperatureSample};

/// Columns bound per sample, in the order of [`bind`].
const COLUMNS: &str = "ts_us, cpu, load1, load5, load15, mem_total, mem_used, mem_available, \
    swap_total, swap_used, disk_read, disk_write, net_rx, net_tx, temp_max, procs, uptime, detail";
const PARAMS_PER_ROW: usize = 18;

/// Samples per multi-row INSERT. One statement per sample pays the statement's fixed cost
/// (cursors, the AUTOINCREMENT read and write of `sqlite_sequence`) for every row.
pub const ROWS_PER_INSERT: usize = 32;

/// `INSERT OR FAIL INTO samples (...) VALUES (?, ...), ...` for `rows` samples.
///
/// `OR FAIL` instead of the default `ABORT`: on an error, ABORT first undoes the rows this
/// statement already inserted, which needs a statement journal (the pages the statement
/// changes, as they were before it); FAIL leaves them. Either way the error fails the
/// append, whose transaction then rolls back as a whole, so nothing of it stays.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; PARAMS_PER_ROW].join(", "));
    format!(
        "INSERT OR FAIL INTO samples ({COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Inserts [`ROWS_PER_INSERT`] samples per execution (see [`insert`]).
pub static INSERT_MANY_SQL: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));
/// Inserts one sample per execution (see [`insert`]).
pub static INSERT_ONE_SQL: LazyLock<String> = LazyLock::new(|| insert_sql(1));

pub const SELECT_RANGE_SQL: &str = "SELECT seq, ts_us, cpu, load1, load5, load15, \
    mem_total, mem_used, mem_available, swap_total, swap_used, disk_read, disk_write, \
    net_rx, net_tx, procs, uptime, detail FROM samples WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";

/// The newest rows with `ts_us >= ?1`, newest first, at most `?2` (reversed by the caller).
pub const SELECT_RECENT_SQL: &str = "SELECT seq, ts_us, cpu, load1, load5, load15, \
    mem_total, mem_used, mem_available, swap_total, swap_used, disk_read, disk_write, \
    net_rx, net_tx, procs, uptime, detail FROM samples WHERE ts_us >= ?1 ORDER BY seq DESC LIMIT ?2";

/// Tag byte of the current `detail` BLOB layout.
const DETAIL_V1: u8 = 1;

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

fn put_uint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}
fn put_f32(out: &mut Vec<u8>, x: f32) {
    out.extend_from_slice(&finite32(x).to_le_bytes());
}
fn put_f64(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(&finite64(x).to_le_bytes());
}

/// Writes the `detail` BLOB of `s` into `out` (cleared first).
pub fn encode_detail(s: &MetricSample, out: &mut Vec<u8>) {
    out.clear();
    out.push(DETAIL_V1);
    put_uint(out, s.cpu_core_pct.len() as u64);
    for &c in &s.cpu_core_pct {
        put_f32(out, c);
    }
    put_uint(out, s.disks.len() as u64);
    for d in &s.disks {
        put_str(out, &d.mount);
        put_str(out, &d.device);
        put_str(out, &d.fs);
        put_uint(out, int(d.total_bytes) as u64);
        put_uint(out, int(d.available_bytes) as u64);
        put_f64(out, d.read_bps);
        put_f64(out, d.write_bps);
    }
    put_uint(out, s.networks.len() as u64);
    for n in &s.networks {
        put_str(out, &n.name);
        put_f64(out, n.rx_bps);
        put_f64(out, n.tx_bps);
        put_uint(out, int(n.rx_bytes_total) as u64);
        put_uint(out, int(n.tx_bytes_total) as u64);
    }
    put_uint(out, s.temperatures.len() as u64);
    for t in &s.temperatures {
        put_str(out, &t.label);
        put_f32(out, t.celsius);
    }
}

/// A cursor over a `detail` BLOB.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "detail truncated: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn uint(&mut self) -> Result<u64, String> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            x |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(x);
            }
        }
        Err("detail: varint longer than 64 bits".into())
    }
    /// A list length; every element takes at least one byte, which bounds it by what is left.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.uint()?;
        if n > self.0.len() as u64 {
            return Err(format!("detail: {n} elements in {} bytes", self.0.len()));
        }
        Ok(n as usize)
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.count()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|e| format!("detail: {e}"))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// Decodes a `detail` BLOB into `sink`. On an error the sink may hold part of the lists.
fn decode_blob_into(blob: &[u8], sink: &mut impl DetailSink) -> Result<(), String> {
    let mut r = Reader(blob);
    match r.take(1)?[0] {
        DETAIL_V1 => {}
        tag => return Err(format!("detail: unknown layout tag {tag}")),
    }
    for _ in 0..r.count()? {
        sink.core(r.f32()?);
    }
    for _ in 0..r.count()? {
        sink.disk(DiskRef {
            mount: r.str()?,
            device: r.str()?,
            fs: r.str()?,
            total_bytes: r.uint()?,
            available_bytes: r.uint()?,
            read_bps: r.f64()?,
            write_bps: r.f64()?,
        });
    }
    for _ in 0..r.count()? {
        sink.net(NetRef {
            name: r.str()?,
            rx_bps: r.f64()?,
            tx_bps: r.f64()?,
            rx_bytes_total: r.uint()?,
            tx_bytes_total: r.uint()?,
        });
    }
    for _ in 0..r.count()? {
        let label = r.str()?;
        sink.temperature(label, r.f32()?);
    }
    if !r.0.is_empty() {
        return Err(format!("detail: {} bytes after the end", r.0.len()));
    }
    Ok(())
}

#[cfg(test)]
fn decode_blob(blob: &[u8]) -> Result<Detail, String> {
    let mut d = Detail::default();
    decode_blob_into(blob, &mut d)?;
    Ok(d)
}

type DiskTuple = (String, String, String, u64, u64, f64, f64);
type NetTuple = (String, f64, f64, u64, u64);

/// The JSON layout of rows written before the BLOB one (read only).
#[derive(serde::Deserialize)]
struct JsonDetail(Vec<f32>, Vec<DiskTuple>, Vec<NetTuple>, Vec<(String, f32)>);

fn decode_json(text: &str) -> Result<Detail, String> {
    let JsonDetail(cores, disks, nets, temps) =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Detail {
        cores,
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
        temperatures: temps
            .into_iter()
            .map(|(label, celsius)| TemperatureSample { label, celsius })
            .collect(),
    })
}

/// Decodes a `detail` value of either layout into `sink`.
fn decode_detail_into(v: ValueRef<'_>, sink: &mut impl DetailSink) -> Result<(), String> {
    match v {
        ValueRef::Blob(b) => decode_blob_into(b, sink),
        ValueRef::Text(t) => {
            let d = decode_json(std::str::from_utf8(t).map_err(|e| e.to_string())?)?;
            feed_detail(sink, &d.cores, &d.disks, &d.networks, &d.temperatures);
            Ok(())
        }
        other => Err(format!("detail is {}, not BLOB or TEXT", other.data_type())),
    }
}

/// Inserts `rows` with `stmt`, a prepared [`INSERT_MANY_SQL`] or [`INSERT_ONE_SQL`] for
/// as many rows. Their seqs are consecutive and end at the connection's
/// `last_insert_rowid`. `buf` is scratch space for `detail`, reused across calls.
pub fn insert(
    stmt: &mut CachedStatement<'_>,
    rows: &[MetricSample],
    buf: &mut Vec<u8>,
) -> rusqlite::Result<()> {
    for (i, s) in rows.iter().enumerate() {
        bind(stmt, i, s, buf)?;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// Binds sample `s` as row `row` (0-based) of an insert statement. SQLite copies a bound
/// BLOB, so `buf` can be reused for the next row.
fn bind(
    stmt: &mut CachedStatement<'_>,
    row: usize,
    s: &MetricSample,
    buf: &mut Vec<u8>,
) -> rusqlite::Result<()> {
    let p = row * PARAMS_PER_ROW;
    encode_detail(s, buf);
    stmt.raw_bind_parameter(p + 1, s.ts_us)?;
    stmt.raw_bind_parameter(p + 2, finite32(s.cpu_total_pct))?;
    stmt.raw_bind_parameter(p + 3, finite64(s.load_1))?;
    stmt.raw_bind_parameter(p + 4, finite64(s.load_5))?;
    stmt.raw_bind_parameter(p + 5, finite64(s.load_15))?;
    stmt.raw_bind_parameter(p + 6, int(s.mem_total_bytes))?;
    stmt.raw_bind_parameter(p + 7, int(s.mem_used_bytes))?;
    stmt.raw_bind_parameter(p + 8, int(s.mem_available_bytes))?;
    stmt.raw_bind_parameter(p + 9, int(s.swap_total_bytes))?;
    stmt.raw_bind_parameter(p + 10, int(s.swap_used_bytes))?;
    stmt.raw_bind_parameter(p + 11, finite64(s.disk_read_bps))?;
    stmt.raw_bind_parameter(p + 12, finite64(s.disk_write_bps))?;
    stmt.raw_bind_parameter(p + 13, finite64(s.net_rx_bps))?;
    stmt.raw_bind_parameter(p + 14, finite64(s.net_tx_bps))?;
    stmt.raw_bind_parameter(p + 15, s.max_temperature().map(finite32))?;
    stmt.raw_bind_parameter(p + 16, s.process_count)?;
    stmt.raw_bind_parameter(p + 17, int(s.uptime_s))?;
    stmt.raw_bind_parameter(p + 18, &buf[..])
}

/// Hands a row of [`SELECT_RANGE_SQL`] (or [`SELECT_RECENT_SQL`]) to `sink` and returns
/// its seq. The inner error is a decode failure of `detail`; the sink is then left in the
/// middle of the row, and the caller drops it.
pub fn read_row(
    r: &Row<'_>,
    sink: &mut impl SampleSink,
) -> rusqlite::Result<(i64, Result<(), String>)> {
    let seq: i64 = r.get(0)?;
    let scalars = Scalars {
        ts_us: r.get(1)?,
        cpu_total_pct: r.get::<_, f64>(2)? as f32,
        load_1: r.get(3)?,
        load_5: r.get(4)?,
        load_15: r.get(5)?,
        mem_total_bytes: r.get::<_, i64>(6)? as u64,
        mem_used_bytes: r.get::<_, i64>(7)? as u64,
        mem_available_bytes: r.get::<_, i64>(8)? as u64,
        swap_total_bytes: r.get::<_, i64>(9)? as u64,
        swap_used_bytes: r.get::<_, i64>(10)? as u64,
        disk_read_bps: r.get(11)?,
        disk_write_bps: r.get(12)?,
        net_rx_bps: r.get(13)?,
        net_tx_bps: r.get(14)?,
        process_count: r.get::<_, i64>(15)? as u32,
        uptime_s: r.get::<_, i64>(16)? as u64,
    };
    sink.start_row(seq, &scalars);
    if let Err(e) = decode_detail_into(r.get_ref(17)?, sink) {
        return Ok((seq, Err(e)));
    }
    sink.end_row();
    Ok((seq, Ok(())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sample::SyntheticSource;

    /// `detail` exactly as pcmetrics wrote it before the BLOB layout (serde_json of tuples).
    pub(crate) fn legacy_json(s: &MetricSample) -> String {
        #[derive(serde::Serialize)]
        struct Old<'a>(
            Vec<f32>,
            Vec<(&'a str, &'a str, &'a str, u64, u64, f64, f64)>,
            Vec<(&'a str, f64, f64, u64, u64)>,
            Vec<(&'a str, f32)>,
        );
        let c = |x: u64| x.min(i64::MAX as u64);
        serde_json::to_string(&Old(
            s.cpu_core_pct.iter().copied().map(finite32).collect(),
            s.disks
                .iter()
                .map(|d| {
                    let (r, w) = (finite64(d.read_bps), finite64(d.write_bps));
                    let (t, a) = (c(d.total_bytes), c(d.available_bytes));
                    (&d.mount[..], &d.device[..], &d.fs[..], t, a, r, w)
                })
                .collect(),
            s.networks
                .iter()
                .map(|n| {
                    let (rx, tx) = (finite64(n.rx_bps), finite64(n.tx_bps));
                    (
                        &n.name[..],
                        rx,
                        tx,
                        c(n.rx_bytes_total),
                        c(n.tx_bytes_total),
                    )
                })
                .collect(),
            s.temperatures
                .iter()
                .map(|t| (&t.label[..], finite32(t.celsius)))
                .collect(),
        ))
        .unwrap()
    }

    fn detail_of(s: &MetricSample) -> Detail {
        Detail {
            cores: s.cpu_core_pct.clone(),
            disks: s.disks.clone(),
            networks: s.networks.clone(),
            temperatures: s.temperatures.clone(),
        }
    }

    #[test]
    fn legacy_helper_writes_what_the_old_code_wrote() {
        // Captured from a buffer written by the JSON-only codec (seq 1 of SyntheticSource).
        let old = r#"[[50.0,92.90525,97.808334,77.47545],[["/","/dev/nvme0n1p2","ext4",549755813888,214748364800,28910862.0,13420201.0],["/boot/efi","/dev/nvme0n1p1","vfat",536870912,268435456,0.0,0.0]],[["eth0",510471.0,131542.0,0,0],["lo",1000.0,1000.0,0,0]],[["cpu",60.0],["nvme",40.0]]]"#;
        let s = SyntheticSource::new(0, 1_000_000).sample_at(0);
        assert_eq!(legacy_json(&s), old);
        assert_eq!(decode_json(old).unwrap(), detail_of(&s));
    }

    #[test]
    fn blob_round_trips_edge_values() {
        let mut s = SyntheticSource::new(0, 1_000_000).sample_at(7);
        s.cpu_core_pct = vec![f32::MIN_POSITIVE, -0.0, 100.0, f32::MAX, 1e-45];
        s.disks[0].mount = "C:\\ Données ✓".into();
        s.disks[0].device = String::new();
        s.disks[0].total_bytes = i64::MAX as u64;
        s.disks[0].available_bytes = 0;
        s.disks[1].read_bps = f64::MIN_POSITIVE;
        s.disks[1].write_bps = 14533.157626627619;
        s.networks[0].rx_bytes_total = 127;
        s.networks[0].tx_bytes_total = 128;
        s.networks[1].rx_bps = -1e300;
        s.temperatures.clear();
        let mut buf = Vec::new();
        encode_detail(&s, &mut buf);
        assert_eq!(buf[0], DETAIL_V1);
        assert_eq!(decode_blob(&buf).unwrap(), detail_of(&s));

        let empty = MetricSample::default();
        encode_detail(&empty, &mut buf);
        assert_eq!(buf, [DETAIL_V1, 0, 0, 0, 0]);
        assert_eq!(decode_blob(&buf).unwrap(), Detail::default());
    }

    #[test]
    fn blob_stores_what_json_stored_for_odd_values() {
        // Non-finite as 0, byte counts clamped to i64::MAX: the same as the JSON layout.
        let mut s = SyntheticSource::new(0, 1_000_000).sample_at(3);
        s.cpu_core_pct[0] = f32::NAN;
        s.disks[0].read_bps = f64::INFINITY;
        s.disks[0].total_bytes = u64::MAX;
        s.networks[0].tx_bps = f64::NEG_INFINITY;
        s.networks[0].rx_bytes_total = u64::MAX;
        s.temperatures[1].celsius = f32::NAN;
        let mut buf = Vec::new();
        encode_detail(&s, &mut buf);
        let blob = decode_blob(&buf).unwrap();
        assert_eq!(blob, decode_json(&legacy_json(&s)).unwrap());
        assert_eq!(blob.cores[0], 0.0);
        assert_eq!(blob.disks[0].total_bytes, i64::MAX as u64);
    }

    #[test]
    fn damaged_blobs_are_errors_not_garbage() {
        let s = SyntheticSource::new(0, 1_000_000).sample_at(1);
        let mut buf = Vec::new();
        encode_detail(&s, &mut buf);
        for cut in 0..buf.len() {
            assert!(decode_blob(&buf[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(decode_blob(&longer).unwrap_err().contains("after the end"));
        let mut tagged = buf.clone();
        tagged[0] = 2;
        assert!(
            decode_blob(&tagged)
                .unwrap_err()
                .contains("unknown layout tag 2")
        );
        // A huge count is refused before anything is allocated for it.
        let huge = [DETAIL_V1, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_blob(&huge).unwrap_err().contains("elements"));
        let overlong = [
            DETAIL_V1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ];
        assert!(decode_blob(&overlong).unwrap_err().contains("64 bits"));
        // Invalid UTF-8 in a string: the one-byte mount "/" becomes 0xff.
        let at = buf.windows(3).position(|w| w == [1, b'/', 14]).unwrap();
        let mut bad = buf.clone();
        bad[at + 1] = 0xff;
        assert!(decode_blob(&bad).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for x in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            1 << 35,
            i64::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_uint(&mut buf, x);
            let mut r = Reader(&buf);
            assert_eq!(r.uint().unwrap(), x);
            assert!(r.0.is_empty());
        }
    }
}
