//! The table's schema, in one place: Iceberg field ids, types and docs. The Arrow and
//! Parquet schemas are derived from it, never written by hand.
//!
//! Field ids are exactly the ones a catalog assigns when it creates the table (Iceberg
//! reassigns ids on create: top-level fields 1..=23 in order, then nested fields depth
//! first), so the ids in our Parquet files match the table's without a lookup. New
//! columns get the next free id at the end. Never reuse or renumber an id: readers
//! resolve columns by id. `commit` checks the table against this schema before writing.

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

/// `bronze.pc_metrics`, one row per sample. `(host_id, seq)` is the row's identity.
pub static TABLE_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    use PrimitiveType::*;
    Schema::builder()
        .with_schema_id(0)
        .with_identifier_field_ids([1, 3])
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
                "sample number in the PC's buffer; (host_id, seq) is unique",
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

/// Partitioned by the UTC day of `ts` (`ts_day`).
pub fn partition_spec() -> UnboundPartitionSpec {
    UnboundPartitionSpec::builder()
        .with_spec_id(0)
        .add_partition_field(TS_FIELD_ID, "ts_day", Transform::Day)
        .expect("ts exists")
        .build()
}

/// The Arrow schema of the Parquet files, with `PARQUET:field_id` on every field.
pub static ARROW_SCHEMA: LazyLock<arrow_schema::SchemaRef> = LazyLock::new(|| {
    Arc::new(
        iceberg::arrow::schema_to_arrow_schema(&TABLE_SCHEMA)
            .expect("the table schema converts to Arrow"),
    )
});

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
        assert_eq!(ids.len(), 23 + 4 + 7 + 5 + 2);
    }
}
