//! History of any PC from the lakehouse: a downsampled series of one metric of one PC,
//! read from the table's rows (`bronze.pc_metrics`).
//!
//! This PC's own history comes from its local buffer (raw for `buffer.retention`, minute
//! rollups for `buffer.rollup_retention`); another PC's exists only in the table. The scan
//! reads two columns and lets the table prune by the files' `host_id` and `ts` bounds (one
//! PC per file, one file per PC per closed day), so its cost follows the rows in range.

use iceberg::expr::Reference;
use iceberg::spec::Datum;

use crate::buffer::history::{self, MetricDef, Point, Resolution, Series};
use crate::commit::{BronzeTable, CommitError};

/// One PC's series and where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostSeries {
    pub host_id: String,
    pub hostname: String,
    /// "local buffer" or "lakehouse".
    pub source: &'static str,
    pub series: Series,
}

#[derive(Debug, thiserror::Error)]
pub enum LakehouseHistoryError {
    #[error(transparent)]
    Table(#[from] CommitError),
    #[error("metric {0} has no column of its own in the table; ask for another metric")]
    NoColumn(&'static str),
    #[error(
        "history range {from_us}..{to_us} is not a range of time: it must start before it ends and span at most 1000 years"
    )]
    BadRange { from_us: i64, to_us: i64 },
    /// The table's column is not a number (another engine changed its type).
    #[error("column {column} of the table does not read as a number: {message}")]
    NotNumeric {
        column: &'static str,
        message: String,
    },
}

/// `metric` of PC `host_id` over `[from_us, to_us)` in at most `points` buckets (mean, min,
/// max of the rows in each; empty buckets left out).
pub async fn series(
    table: &BronzeTable,
    host_id: &str,
    metric: &'static MetricDef,
    from_us: i64,
    to_us: i64,
    points: usize,
) -> Result<Series, LakehouseHistoryError> {
    let column = metric
        .table_column
        .ok_or(LakehouseHistoryError::NoColumn(metric.name))?;
    let span =
        history::span(from_us, to_us).ok_or(LakehouseHistoryError::BadRange { from_us, to_us })?;
    let bucket_us = history::bucket_us(span, points);
    let mut buckets: Vec<Option<(f64, f64, f64, u64)>> = vec![None; points.max(1)];
    if let Some(t) = table.load().await? {
        let filter = Reference::new("host_id")
            .equal_to(Datum::string(host_id))
            .and(Reference::new("ts").greater_than_or_equal_to(Datum::timestamptz_micros(from_us)))
            .and(Reference::new("ts").less_than(Datum::timestamptz_micros(to_us)));
        let batches = super::scan(table, &t, &["ts", column], Some(filter)).await?;
        for b in &batches {
            use arrow_array::Array;
            use arrow_array::cast::AsArray;
            let ts = b
                .column(0)
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            let values =
                arrow_cast::cast(b.column(1), &arrow_schema::DataType::Float64).map_err(|e| {
                    CommitError::Write {
                        location: column.to_owned(),
                        message: e.to_string(),
                    }
                })?;
            let values = values.as_primitive::<arrow_array::types::Float64Type>();
            for i in 0..b.num_rows() {
                if values.is_null(i) {
                    continue;
                }
                let (t, v) = (ts.value(i), values.value(i));
                let k = ((t - from_us) / bucket_us) as usize;
                let Some(slot) = buckets.get_mut(k) else {
                    continue;
                };
                let e = slot.get_or_insert((0.0, f64::INFINITY, f64::NEG_INFINITY, 0));
                e.0 += v;
                e.1 = e.1.min(v);
                e.2 = e.2.max(v);
                e.3 += 1;
            }
        }
    }
    let points = buckets
        .into_iter()
        .enumerate()
        .filter_map(|(k, b)| {
            let (sum, min, max, n) = b?;
            Some(Point {
                ts_us: from_us + k as i64 * bucket_us,
                mean: sum / n as f64,
                min,
                max,
            })
        })
        .collect();
    Ok(Series {
        metric: metric.name,
        unit: metric.unit,
        from_us,
        to_us,
        bucket_us,
        resolution: Resolution::Lakehouse,
        points,
    })
}
