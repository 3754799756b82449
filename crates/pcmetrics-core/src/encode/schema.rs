//! The table's schema, in one place: Iceberg field ids, types and docs. The Arrow and
//! Parquet schemas are derived from it, never written by hand.
//!
//! Two kinds of columns:
//!
//! - the **base** columns of [`TABLE_SCHEMA`], which every table is created with. Their ids
//!   are exactly the ones a catalog assigns on create (Iceberg reassigns ids: top-level
//!   fields 1..=23 in order, then nested fields depth first), so they are fixed;
//! - the **evolved** columns of [`EVOLVED_COLUMNS`], added later in the product's life.
//!   A table gets the ones it lacks right after it is created or first loaded by a version
//!   that writes them (schema evolution, optional, the table's next free ids), so tables
//!   created by older versions are upgraded in place: other engines see the new columns,
//!   rows written before read as null, and a PC still on an older version keeps appending
//!   (its files simply lack the column). Their ids are the table's own: [`Layout`] maps
//!   them per table, so a column another engine added first never collides with ours.
//!
//! Never reuse or renumber an id: readers resolve columns by id. `commit` checks the table
//! against this before writing.

use std::sync::{Arc, LazyLock};

use iceberg::spec::{
    ListType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Transform, Type,
    UnboundPartitionSpec,
};

fn p(t: PrimitiveType) -> Type {
    Type::Primitive(t)
}
fn req(id: i32, name: &str, t: PrimitiveType, doc: &str) -> NestedFieldRef {
    Arc::new(NestedField::required(id, name, p(t)).with_doc(doc))
}
fn opt(id: i32, name: &str, t: Type, doc: &str) -> NestedFieldRef {
    Arc::new(NestedField::optional(id, name, t).with_doc(doc))
}
fn list_of(element_id: i32, element: Type) -> Type {
    Type::List(ListType {
        element_field: Arc::new(NestedField::list_element(element_id, element, true)),
    })
}
fn strukt(fields: Vec<NestedFieldRef>) -> Type {
    Type::Struct(StructType::new(fields))
}

pub const TS_FIELD_ID: i32 = 4;

/// `bronze.pc_metrics` as it is created: the base columns, one row per sample. A row is
/// identified by `(host_id, buffer_id, seq)` (see [`EVOLVED_COLUMNS`]); no identifier
/// fields are declared, because Iceberg only allows required columns there and
/// `buffer_id` is optional (older writers do not fill it), while `(host_id, seq)` alone
/// repeats when a PC starts a new buffer.
pub static TABLE_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    use PrimitiveType::*;
    Schema::builder()
        .with_schema_id(0)
        .with_fields(vec![
            req(
                1,
                "host_id",
                String,
                "stable id of the PC (a UUID kept in its data dir)",
            ),
            req(
                2,
                "hostname",
                String,
                "host name of the PC when the sample was synced",
            ),
            req(
                3,
                "seq",
                Long,
                "sample number in the PC's buffer; (host_id, buffer_id, seq) is unique",
            ),
            req(
                TS_FIELD_ID,
                "ts",
                Timestamptz,
                "time of the sample, UTC, microseconds",
            ),
            req(5, "cpu_total_pct", Float, "CPU use, all cores, 0-100"),
            opt(
                6,
                "cpu_core_pct",
                list_of(24, p(Float)),
                "CPU use per logical core, 0-100",
            ),
            req(7, "load_1", Double, "load average, 1 minute (0 on Windows)"),
            req(8, "load_5", Double, "load average, 5 minutes"),
            req(9, "load_15", Double, "load average, 15 minutes"),
            req(10, "mem_total_bytes", Long, "physical memory"),
            req(11, "mem_used_bytes", Long, "memory in use"),
            req(
                12,
                "mem_available_bytes",
                Long,
                "memory available to new programs",
            ),
            req(13, "swap_total_bytes", Long, "swap size"),
            req(14, "swap_used_bytes", Long, "swap in use"),
            req(
                15,
                "disk_read_bps",
                Double,
                "bytes read per second, all devices",
            ),
            req(
                16,
                "disk_write_bps",
                Double,
                "bytes written per second, all devices",
            ),
            opt(
                17,
                "disks",
                list_of(
                    25,
                    strukt(vec![
                        req(26, "mount", String, "mount point"),
                        req(27, "device", String, "block device"),
                        req(28, "fs", String, "file system type"),
                        req(29, "total_bytes", Long, "size"),
                        req(30, "available_bytes", Long, "free space available"),
                        req(31, "read_bps", Double, "bytes read per second"),
                        req(32, "write_bps", Double, "bytes written per second"),
                    ]),
                ),
                "per mounted file system",
            ),
            req(
                18,
                "net_rx_bps",
                Double,
                "bytes received per second, physical interfaces (each byte once)",
            ),
            req(
                19,
                "net_tx_bps",
                Double,
                "bytes sent per second, physical interfaces (each byte once)",
            ),
            opt(
                20,
                "networks",
                list_of(
                    33,
                    strukt(vec![
                        req(34, "name", String, "interface name"),
                        req(35, "rx_bps", Double, "bytes received per second"),
                        req(36, "tx_bps", Double, "bytes sent per second"),
                        req(37, "rx_bytes_total", Long, "bytes received since boot"),
                        req(38, "tx_bytes_total", Long, "bytes sent since boot"),
                    ]),
                ),
                "per network interface",
            ),
            opt(
                21,
                "temperatures",
                list_of(
                    39,
                    strukt(vec![
                        req(40, "label", String, "sensor"),
                        req(41, "celsius", Float, "temperature, degrees Celsius"),
                    ]),
                ),
                "temperature sensors the OS exposes (often none in VMs)",
            ),
            req(22, "process_count", Int, "number of processes"),
            req(23, "uptime_s", Long, "seconds since boot"),
        ])
        .build()
        .expect("the table schema is valid")
});

/// A column added after the base layout: always optional, its id assigned by the table.
#[derive(Debug, Clone)]
pub struct EvolvedColumn {
    pub name: &'static str,
    pub ty: PrimitiveType,
    pub doc: &'static str,
}

/// Columns added after the base layout, oldest first. Append only.
pub static EVOLVED_COLUMNS: LazyLock<Vec<EvolvedColumn>> = LazyLock::new(|| {
    vec![EvolvedColumn {
        name: "buffer_id",
        ty: PrimitiveType::String,
        doc: "the buffer (one data dir's timeline) the sample comes from: (host_id, buffer_id, seq) is unique; null in rows written before pcmetrics recorded it",
    }]
});

/// The highest base field id (the last nested field of [`TABLE_SCHEMA`]).
pub const BASE_LAST_FIELD_ID: i32 = 41;

/// The columns pcmetrics writes into one table: the base columns with their fixed ids and
/// the evolved columns with the ids this table gave them, as the Iceberg schema of our
/// files and its Arrow form (with `PARQUET:field_id` on every field).
#[derive(Debug, Clone)]
pub struct Layout {
    pub schema: Arc<Schema>,
    pub arrow: arrow_schema::SchemaRef,
}

impl Layout {
    fn from_fields(fields: Vec<NestedFieldRef>) -> Self {
        let schema = Schema::builder()
            .with_schema_id(0)
            .with_fields(fields)
            .build()
            .expect("the layout is a valid schema");
        let arrow = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(&schema).expect("the layout converts to Arrow"),
        );
        Self {
            schema: Arc::new(schema),
            arrow,
        }
    }

    /// The layout of a table created by this version: evolved columns take the ids after
    /// the base ones, in order.
    pub fn latest() -> &'static Layout {
        static LATEST: LazyLock<Layout> = LazyLock::new(|| {
            let mut fields = TABLE_SCHEMA.as_struct().fields().to_vec();
            for (i, c) in EVOLVED_COLUMNS.iter().enumerate() {
                fields.push(evolved_field(BASE_LAST_FIELD_ID + 1 + i as i32, c));
            }
            Layout::from_fields(fields)
        });
        &LATEST
    }

    /// The layout versions before any evolved column wrote (the base columns only): what
    /// a PC still on such a version appends. For upgrade tests.
    pub fn base() -> &'static Layout {
        static BASE: LazyLock<Layout> =
            LazyLock::new(|| Layout::from_fields(TABLE_SCHEMA.as_struct().fields().to_vec()));
        &BASE
    }

    /// The columns of `full` (a batch in the [`Layout::latest`] shape) that this layout
    /// has, under this layout's field ids.
    pub fn project(
        &self,
        full: &arrow_array::RecordBatch,
    ) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
        let columns = self
            .arrow
            .fields()
            .iter()
            .map(|f| {
                full.column_by_name(f.name()).cloned().ok_or_else(|| {
                    arrow_schema::ArrowError::SchemaError(format!("no column {:?}", f.name()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        arrow_array::RecordBatch::try_new(self.arrow.clone(), columns)
    }

    /// The layout of a table whose current schema is `table`: the evolved columns take the
    /// table's ids (found by name). Every evolved column must be there (see
    /// `BronzeTable::load_or_create`, which adds missing ones) with our type.
    pub fn of_table(table: &Schema) -> Result<Layout, String> {
        let mut fields = TABLE_SCHEMA.as_struct().fields().to_vec();
        for c in EVOLVED_COLUMNS.iter() {
            let found = table
                .field_by_name(c.name)
                .ok_or_else(|| format!("the table has no column {:?}", c.name))?;
            if *found.field_type != Type::Primitive(c.ty.clone()) {
                return Err(format!(
                    "column {:?} (field id {}) is {} but pcmetrics writes {}",
                    c.name, found.id, found.field_type, c.ty
                ));
            }
            fields.push(evolved_field(found.id, c));
        }
        Ok(Layout::from_fields(fields))
    }

    /// `batch` (read from one of this table's files) in this layout: columns by name, an
    /// evolved column the file predates as nulls. A column of another type, or one the
    /// layout does not have (another engine's), is an error: rewriting would lose it.
    pub fn conform(
        &self,
        batch: &arrow_array::RecordBatch,
    ) -> Result<arrow_array::RecordBatch, String> {
        for f in batch.schema().fields() {
            if self.arrow.field_with_name(f.name()).is_err() {
                return Err(format!(
                    "it has column {:?}, which pcmetrics does not write",
                    f.name()
                ));
            }
        }
        let columns = self
            .arrow
            .fields()
            .iter()
            .map(|f| match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
                Some(c) => Err(format!(
                    "column {:?} is {} where pcmetrics writes {}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                )),
                None if f.is_nullable() => {
                    Ok(arrow_array::new_null_array(f.data_type(), batch.num_rows()))
                }
                None => Err(format!("it lacks column {:?}", f.name())),
            })
            .collect::<Result<Vec<_>, String>>()?;
        arrow_array::RecordBatch::try_new(self.arrow.clone(), columns).map_err(|e| e.to_string())
    }
}

fn evolved_field(id: i32, c: &EvolvedColumn) -> NestedFieldRef {
    Arc::new(NestedField::optional(id, c.name, p(c.ty.clone())).with_doc(c.doc))
}

/// Partitioned by the UTC day of `ts` (`ts_day`).
pub fn partition_spec() -> UnboundPartitionSpec {
    UnboundPartitionSpec::builder()
        .with_spec_id(0)
        .add_partition_field(TS_FIELD_ID, "ts_day", Transform::Day)
        .expect("ts exists")
        .build()
}

/// The Arrow schema of the Parquet files of a table created by this version (see
/// [`Layout`]), with `PARQUET:field_id` on every field.
pub static ARROW_SCHEMA: LazyLock<arrow_schema::SchemaRef> =
    LazyLock::new(|| Layout::latest().arrow.clone());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arrow_field_carries_its_iceberg_id() {
        fn walk(f: &arrow_schema::Field, out: &mut Vec<i32>) {
            let id = f
                .metadata()
                .get("PARQUET:field_id")
                .unwrap_or_else(|| panic!("{} has no field id", f.name()));
            out.push(id.parse().unwrap());
            match f.data_type() {
                arrow_schema::DataType::List(e) => walk(e, out),
                arrow_schema::DataType::Struct(fs) => fs.iter().for_each(|f| walk(f, out)),
                _ => {}
            }
        }
        let mut ids = Vec::new();
        ARROW_SCHEMA.fields().iter().for_each(|f| walk(f, &mut ids));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "ids are unique");
        assert_eq!(ids.len(), 23 + 4 + 7 + 5 + 2 + EVOLVED_COLUMNS.len());
        assert_eq!(
            TABLE_SCHEMA.highest_field_id(),
            BASE_LAST_FIELD_ID,
            "the base layout is frozen: new columns go to EVOLVED_COLUMNS"
        );
    }

    #[test]
    fn a_table_layout_takes_the_tables_ids_for_evolved_columns() {
        // Another engine added a column first: buffer_id got 43.
        let mut fields = TABLE_SCHEMA.as_struct().fields().to_vec();
        fields.push(Arc::new(NestedField::optional(
            42,
            "note",
            p(PrimitiveType::String),
        )));
        fields.push(Arc::new(NestedField::optional(
            43,
            "buffer_id",
            p(PrimitiveType::String),
        )));
        let table = Schema::builder().with_fields(fields).build().unwrap();
        let layout = Layout::of_table(&table).unwrap();
        let f = layout.arrow.field_with_name("buffer_id").unwrap();
        assert_eq!(f.metadata()["PARQUET:field_id"], "43");
        assert!(layout.arrow.field_with_name("note").is_err());
        assert_eq!(
            Layout::latest()
                .arrow
                .field_with_name("buffer_id")
                .unwrap()
                .metadata()["PARQUET:field_id"],
            "42"
        );
        // A table without it (not evolved yet) has no layout.
        assert!(
            Layout::of_table(&TABLE_SCHEMA)
                .unwrap_err()
                .contains("buffer_id")
        );
    }

    #[test]
    fn conform_fills_columns_a_file_predates_and_refuses_foreign_ones() {
        let latest = Layout::latest();
        let base = iceberg::arrow::schema_to_arrow_schema(&TABLE_SCHEMA).unwrap();
        let old = arrow_array::RecordBatch::new_empty(Arc::new(base));
        let conformed = latest.conform(&old).unwrap();
        assert_eq!(conformed.schema(), latest.arrow);
        let mut extra: Vec<arrow_schema::FieldRef> = latest.arrow.fields().to_vec();
        extra.push(Arc::new(arrow_schema::Field::new(
            "note",
            arrow_schema::DataType::Utf8,
            true,
        )));
        let foreign =
            arrow_array::RecordBatch::new_empty(Arc::new(arrow_schema::Schema::new(extra)));
        assert!(latest.conform(&foreign).unwrap_err().contains("note"));
    }
}
