//! Local history: downsampled series from raw samples or per-minute rollups.
//!
//! A query covers `[from, to)` split into `points` equal buckets and returns each bucket's
//! mean, min and max. Buckets of a minute or more are answered from `rollup_1m`, so a
//! 30-day range reads ~43 000 rollup rows, never 2.6 million samples; shorter buckets read
//! the raw samples through the `ts_us` index.

use rusqlite::{Connection, params};
use serde::Serialize;

/// A metric the history can chart: its name for users and its column in `samples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricDef {
    pub name: &'static str,
    pub column: &'static str,
    /// Its column in the table (`bronze.pc_metrics`), if it has one of its own.
    pub table_column: Option<&'static str>,
    pub unit: &'static str,
    pub help: &'static str,
}

/// Every metric `history --metric` accepts.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "cpu",
        column: "cpu",
        table_column: Some("cpu_total_pct"),
        unit: "%",
        help: "CPU use, all cores",
    },
    MetricDef {
        name: "load1",
        column: "load1",
        table_column: Some("load_1"),
        unit: "",
        help: "load average, 1 minute",
    },
    MetricDef {
        name: "load5",
        column: "load5",
        table_column: Some("load_5"),
        unit: "",
        help: "load average, 5 minutes",
    },
    MetricDef {
        name: "load15",
        column: "load15",
        table_column: Some("load_15"),
        unit: "",
        help: "load average, 15 minutes",
    },
    MetricDef {
        name: "mem.used",
        column: "mem_used",
        table_column: Some("mem_used_bytes"),
        unit: "bytes",
        help: "memory in use",
    },
    MetricDef {
        name: "mem.available",
        column: "mem_available",
        table_column: Some("mem_available_bytes"),
        unit: "bytes",
        help: "memory available",
    },
    MetricDef {
        name: "swap.used",
        column: "swap_used",
        table_column: Some("swap_used_bytes"),
        unit: "bytes",
        help: "swap in use",
    },
    MetricDef {
        name: "disk.read",
        column: "disk_read",
        table_column: Some("disk_read_bps"),
        unit: "B/s",
        help: "disk reads, all devices",
    },
    MetricDef {
        name: "disk.write",
        column: "disk_write",
        table_column: Some("disk_write_bps"),
        unit: "B/s",
        help: "disk writes, all devices",
    },
    MetricDef {
        name: "net.rx",
        column: "net_rx",
        table_column: Some("net_rx_bps"),
        unit: "B/s",
        help: "network received, all interfaces",
    },
    MetricDef {
        name: "net.tx",
        column: "net_tx",
        table_column: Some("net_tx_bps"),
        unit: "B/s",
        help: "network sent, all interfaces",
    },
    MetricDef {
        name: "temp.max",
        column: "temp_max",
        table_column: None,
        unit: "°C",
        help: "hottest temperature sensor",
    },
    MetricDef {
        name: "procs",
        column: "procs",
        table_column: Some("process_count"),
        unit: "",
        help: "number of processes",
    },
];

pub const ROLLED_SEQ_KEY: &str = "rolled_seq";

/// Looks a metric up by name; the error lists the valid names.
pub fn metric(name: &str) -> Result<&'static MetricDef, String> {
    METRICS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        format!("unknown metric {name:?}; use one of: {}", names.join(", "))
    })
}

/// `rollup_1m`: per minute and metric, the count, sum, min and max of the samples.
pub fn rollup_schema() -> String {
    let cols: String = METRICS
        .iter()
        .map(|m| {
            let c = m.column;
            format!(", {c}_n INTEGER NOT NULL, {c}_sum REAL, {c}_min REAL, {c}_max REAL")
        })
        .collect();
    format!("CREATE TABLE IF NOT EXISTS rollup_1m (minute INTEGER PRIMARY KEY{cols});")
}

/// Folds samples with `seq > rolled_seq` into `rollup_1m` (merging with existing minutes,
/// so late or back-dated samples are counted too) and advances `rolled_seq`.
pub fn roll_up(conn: &mut Connection) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let rolled: i64 = tx.query_row(
        "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0)",
        [ROLLED_SEQ_KEY],
        |r| r.get(0),
    )?;
    let upto: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM samples", [], |r| {
        r.get(0)
    })?;
    if upto <= rolled {
        return Ok(0);
    }
    let mut names = String::from("minute");
    let mut selects = String::from("ts_us / 60000000");
    let mut merges = Vec::new();
    for m in METRICS {
        let c = m.column;
        names.push_str(&format!(", {c}_n, {c}_sum, {c}_min, {c}_max"));
        selects.push_str(&format!(", count({c}), sum({c}), min({c}), max({c})"));
        merges.push(format!(
            "{c}_n = {c}_n + excluded.{c}_n, \
             {c}_sum = coalesce({c}_sum, 0) + coalesce(excluded.{c}_sum, 0), \
             {c}_min = min(coalesce({c}_min, excluded.{c}_min), coalesce(excluded.{c}_min, {c}_min)), \
             {c}_max = max(coalesce({c}_max, excluded.{c}_max), coalesce(excluded.{c}_max, {c}_max))"
        ));
    }
    // SQLite needs the SELECT of an upsert to end in a clause (here HAVING) so that `ON`
    // is not parsed as a join constraint.
    let sql = format!(
        "INSERT INTO rollup_1m ({names}) SELECT {selects} FROM samples \
         WHERE seq > ?1 AND seq <= ?2 GROUP BY 1 HAVING true \
         ON CONFLICT (minute) DO UPDATE SET {}",
        merges.join(", ")
    );
    let n = tx.execute(&sql, params![rolled, upto])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![ROLLED_SEQ_KEY, upto.to_string()],
    )?;
    tx.commit()?;
    Ok(n as u64)
}

/// One downsampled point: the bucket's start and its mean, min and max.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub ts_us: i64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// Where a history answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Raw,
    Minute,
    /// The raw rows of the lakehouse table (another PC's history).
    Lakehouse,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub metric: &'static str,
    pub unit: &'static str,
    pub from_us: i64,
    pub to_us: i64,
    pub bucket_us: i64,
    pub resolution: Resolution,
    pub points: Vec<Point>,
}

/// Downsamples `metric` over `[from_us, to_us)` to at most `points` buckets. Empty buckets
/// are left out (gaps stay gaps).
pub fn query(
    conn: &Connection,
    metric: &'static MetricDef,
    from_us: i64,
    to_us: i64,
    points: usize,
) -> rusqlite::Result<Series> {
    let bucket_us = bucket_us((to_us - from_us).max(1), points);
    let c = metric.column;
    let (resolution, sql) = if bucket_us >= 60_000_000 {
        (
            Resolution::Minute,
            format!(
                "SELECT (minute * 60000000 - ?1) / ?3 AS b, sum({c}_sum) / sum({c}_n), min({c}_min), max({c}_max)
                 FROM rollup_1m WHERE minute >= ?1 / 60000000 AND minute * 60000000 < ?2 AND {c}_n > 0
                 GROUP BY b ORDER BY b"
            ),
        )
    } else {
        (
            Resolution::Raw,
            format!(
                "SELECT (ts_us - ?1) / ?3 AS b, avg({c}), min({c}), max({c})
                 FROM samples WHERE ts_us >= ?1 AND ts_us < ?2 AND {c} IS NOT NULL
                 GROUP BY b ORDER BY b"
            ),
        )
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![from_us, to_us, bucket_us], |r| {
        Ok(Point {
            ts_us: from_us + r.get::<_, i64>(0)? * bucket_us,
            mean: r.get(1)?,
            min: r.get(2)?,
            max: r.get(3)?,
        })
    })?;
    let points = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Series {
        metric: metric.name,
        unit: metric.unit,
        from_us,
        to_us,
        bucket_us,
        resolution,
        points,
    })
}

/// A year in microseconds (365.25 days).
pub const YEAR_US: i64 = 31_557_600_000_000;
/// The longest range a history query takes: far more than any buffer holds, and far from
/// the `i64` edges, so no arithmetic on a range can overflow.
pub const MAX_SPAN_US: i64 = 1000 * YEAR_US;

/// The length of `[from_us, to_us)` when it is a range a history query takes: it starts
/// before it ends, spans at most [`MAX_SPAN_US`], and both ends lie within that distance of
/// the epoch (so no arithmetic on it can overflow). Shared by the buffer's history and the
/// lakehouse's (`read::history`).
pub fn span(from_us: i64, to_us: i64) -> Option<i64> {
    let in_bounds = |t: i64| (-MAX_SPAN_US..=MAX_SPAN_US).contains(&t);
    to_us
        .checked_sub(from_us)
        .filter(|s| (1..=MAX_SPAN_US).contains(s))
        .filter(|_| in_bounds(from_us) && in_bounds(to_us))
}

/// The width of each of at most `points` buckets over a range of `span` µs.
pub fn bucket_us(span: i64, points: usize) -> i64 {
    let points = points.max(1) as i64;
    ((span + points - 1) / points).max(1)
}

impl super::SqliteBuffer {
    /// History of one metric; see [`query`]. Rolls up first so minute buckets include the
    /// newest samples. A range that ends before it starts, or spans more than
    /// [`MAX_SPAN_US`], is refused.
    pub fn history(
        &mut self,
        metric: &'static MetricDef,
        from_us: i64,
        to_us: i64,
        points: usize,
    ) -> Result<Series, super::BufferError> {
        let Some(span) = span(from_us, to_us) else {
            return Err(super::BufferError::BadRange { from_us, to_us });
        };
        let bucket_us = span / points.max(1) as i64;
        if bucket_us >= 60_000_000 {
            roll_up(&mut self.conn).map_err(|e| self.err(e))?;
        }
        query(self.conn(), metric, from_us, to_us, points).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::SqliteBuffer;
    use crate::sample::SyntheticSource;

    const T0: i64 = 1_700_000_040_000_000; // on a minute boundary

    fn buffer_with(
        n: usize,
    ) -> (
        tempfile::TempDir,
        SqliteBuffer,
        Vec<crate::sample::MetricSample>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut b = SqliteBuffer::open(&dir.path().join("b.db"), 10_000_000).unwrap();
        let s: Vec<_> = SyntheticSource::new(T0, 1_000_000).take(n).collect();
        b.append(&s).unwrap();
        (dir, b, s)
    }

    #[test]
    fn ranges_that_are_not_ranges_are_refused_without_overflow() {
        let (_d, mut b, _) = buffer_with(10);
        let m = metric("cpu").unwrap();
        for (from, to) in [
            (T0, T0),
            (T0 + 1, T0),
            (i64::MIN, i64::MAX),
            (i64::MIN, T0),
            (T0, i64::MAX),
            (T0 - 2 * MAX_SPAN_US, T0),
        ] {
            let e = b.history(m, from, to, 60).unwrap_err();
            assert!(
                matches!(e, crate::buffer::BufferError::BadRange { .. }),
                "{from}..{to}: {e}"
            );
            assert!(e.to_string().contains("last 30 days"), "{e}");
        }
        assert_eq!(
            b.history(m, T0, T0 + 10_000_000, 60).unwrap().points.len(),
            10
        );
    }

    #[test]
    fn raw_buckets_match_a_direct_computation() {
        let (_d, mut b, s) = buffer_with(1800);
        let m = metric("cpu").unwrap();
        let series = b.history(m, T0, T0 + 1_800_000_000, 60).unwrap();
        assert_eq!(series.resolution, Resolution::Raw);
        assert_eq!(series.points.len(), 60);
        for (k, p) in series.points.iter().enumerate() {
            let vals: Vec<f64> = s[k * 30..(k + 1) * 30]
                .iter()
                .map(|x| x.cpu_total_pct as f64)
                .collect();
            let mean = vals.iter().sum::<f64>() / 30.0;
            assert!((p.mean - mean).abs() < 1e-6, "bucket {k}");
            assert_eq!(p.min, vals.iter().cloned().fold(f64::MAX, f64::min));
            assert_eq!(p.max, vals.iter().cloned().fold(f64::MIN, f64::max));
            assert_eq!(p.ts_us, T0 + k as i64 * 30_000_000);
        }
    }

    #[test]
    fn a_long_range_ending_now_includes_the_current_minute() {
        // 30 samples in the minute that starts at T0; "now" is 30 s into it.
        let (_d, mut b, s) = buffer_with(30);
        let now = T0 + 30_000_000;
        let cpu = metric("cpu").unwrap();
        let month = b
            .history(cpu, now - 30 * 86_400_000_000, now, 1000)
            .unwrap();
        assert_eq!(month.resolution, Resolution::Minute);
        assert_eq!(month.points.len(), 1, "{month:?}");
        let mean = s.iter().map(|x| x.cpu_total_pct as f64).sum::<f64>() / 30.0;
        assert!((month.points[0].mean - mean).abs() < 1e-4);
    }

    #[test]
    fn minute_rollups_agree_with_raw() {
        let (_d, mut b, _s) = buffer_with(7200);
        let m = metric("mem.used").unwrap();
        let rolled = b.history(m, T0, T0 + 7_200_000_000, 20).unwrap();
        assert_eq!(rolled.resolution, Resolution::Minute);
        let raw = query(b.conn(), m, T0, T0 + 7_200_000_000, 120).unwrap();
        assert_eq!(rolled.points.len(), 20);
        for (k, p) in rolled.points.iter().enumerate() {
            let chunk = &raw.points[k * 6..(k + 1) * 6];
            let mean = chunk.iter().map(|x| x.mean).sum::<f64>() / 6.0;
            assert!((p.mean - mean).abs() / mean < 1e-9);
            assert_eq!(p.max, chunk.iter().map(|x| x.max).fold(f64::MIN, f64::max));
        }
    }

    #[test]
    fn late_samples_merge_into_existing_minutes() {
        let (_d, mut b, s) = buffer_with(120);
        roll_up(&mut b.conn).unwrap();
        b.append(&s[..60]).unwrap(); // the first minute again, e.g. a back-dated import
        roll_up(&mut b.conn).unwrap();
        let n: i64 = b
            .conn()
            .query_row(
                "SELECT cpu_n FROM rollup_1m WHERE minute = ?1",
                [T0 / 60_000_000],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 120);
    }

    #[test]
    fn unknown_metric_lists_the_valid_ones() {
        let err = metric("cpu.total").unwrap_err();
        assert!(
            err.contains("mem.used") && err.contains("\"cpu.total\""),
            "{err}"
        );
    }
}
