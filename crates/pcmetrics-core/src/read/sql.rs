//! SQL over the lakehouse: DataFusion over every table of the catalog.
//!
//! DataFusion is the Rust SQL engine iceberg-rust integrates with (`iceberg-datafusion`):
//! the same catalog, FileIO and object stores as the sync, so queries read exactly the
//! files the table's current snapshots name, through the same credentials and location
//! confinement. Tables are addressed as `namespace.table` (`bronze.pc_metrics`), or by
//! their bare name in the configured namespace; the catalog itself is `lakehouse`.

use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use iceberg_datafusion::IcebergCatalogProvider;

use crate::commit::BronzeTable;

/// The name queries may use for the catalog (`lakehouse.bronze.pc_metrics`).
pub const CATALOG: &str = "lakehouse";

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("the catalog's tables cannot be listed: {0}")]
    Catalog(String),
    /// The query itself: a syntax error, an unknown table or column, a type error.
    #[error("{0}")]
    Query(String),
}

/// A SQL session over the catalog of `table`, with `namespace` as the default schema.
pub async fn session(table: &BronzeTable, namespace: &str) -> Result<SessionContext, SqlError> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG, namespace)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    let provider = IcebergCatalogProvider::try_new(table.catalog().clone())
        .await
        .map_err(|e| SqlError::Catalog(crate::error::one_line(&e.to_string())))?;
    ctx.register_catalog(CATALOG, Arc::new(provider));
    Ok(ctx)
}

/// Runs one statement and collects its result.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    let frame = ctx
        .sql(sql)
        .await
        .map_err(|e| SqlError::Query(crate::error::one_line(&e.to_string())))?;
    frame
        .collect()
        .await
        .map_err(|e| SqlError::Query(crate::error::one_line(&e.to_string())))
}

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    Csv,
    /// One JSON array of row objects.
    Json,
    Parquet,
}

/// Writes `batches` to `out` as `format`.
pub fn write<W: std::io::Write + Send>(
    batches: &[RecordBatch],
    format: Format,
    mut out: W,
) -> Result<(), SqlError> {
    use datafusion::arrow;
    let fail = |e: &dyn std::fmt::Display| SqlError::Query(format!("writing the result: {e}"));
    match format {
        Format::Table => {
            let table =
                arrow::util::pretty::pretty_format_batches(batches).map_err(|e| fail(&e))?;
            writeln!(out, "{table}").map_err(|e| fail(&e))?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b).map_err(|e| fail(&e))?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b).map_err(|e| fail(&e))?;
            }
            w.finish().map_err(|e| fail(&e))?;
            drop(w);
            writeln!(out).map_err(|e| fail(&e))?;
        }
        Format::Parquet => {
            let Some(schema) = batches.first().map(|b| b.schema()) else {
                return Err(SqlError::Query(
                    "the query returned nothing to write as Parquet".to_owned(),
                ));
            };
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, None)
                .map_err(|e| fail(&e))?;
            for b in batches {
                w.write(b).map_err(|e| fail(&e))?;
            }
            w.close().map_err(|e| fail(&e))?;
        }
    }
    Ok(())
}
