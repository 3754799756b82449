//! # Read: what the lakehouse holds, for this PC and every other
//!
//! The stages before this one write; this one reads the table back for the user:
//! [`hosts()`] lists the PCs in it from the table's own metadata, [`history`] gives any PC's
//! series of a metric from the table's rows, and `sql` (with the `sql`
//! feature, which the CLI enables) answers SQL over every table of the catalog.

pub mod history;
pub mod hosts;
#[cfg(feature = "sql")]
pub mod sql;

pub use hosts::{HostSummary, hosts};

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use iceberg::expr::Predicate;
use iceberg::table::Table;

use crate::commit::{BronzeTable, CommitError};

/// `columns` of the rows of `t` that match `filter` (all rows without one); the files the
/// filter rules out by their statistics are not opened.
async fn scan(
    table: &BronzeTable,
    t: &Table,
    columns: &[&str],
    filter: Option<Predicate>,
) -> Result<Vec<RecordBatch>, CommitError> {
    let mut scan = t.scan().select(columns.iter().copied());
    if let Some(filter) = filter {
        scan = scan.with_filter(filter);
    }
    let stream = scan
        .build()
        .map_err(|e| table.err(e))?
        .to_arrow()
        .await
        .map_err(|e| table.err(e))?;
    stream.try_collect().await.map_err(|e| table.err(e))
}
