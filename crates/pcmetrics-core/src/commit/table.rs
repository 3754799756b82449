//! The table's shape: created on first use, checked against what pcmetrics writes, and
//! evolved in place when this version writes columns an older one did not (see
//! [`crate::encode::schema`]).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::TableCreation;
use iceberg::spec::Transform;
use iceberg::table::Table;

use super::{BronzeTable, CONFLICT_ROUNDS, CommitError, CommitFailure, METADATA_VERSIONS_KEPT};
use crate::encode::schema::{EVOLVED_COLUMNS, Layout, TABLE_SCHEMA, TS_FIELD_ID, partition_spec};

impl BronzeTable {
    /// Loads the table, creating the namespace and the table on first use (racing
    /// creators on other PCs are fine: "already exists" means load it).
    pub async fn load_or_create(&self) -> Result<Table, CommitError> {
        if let Some(table) = self.load().await? {
            self.check_layout(&table)?;
            return self.evolve(table).await;
        }
        let ns = self.ident.namespace();
        let exists = self
            .catalog
            .namespace_exists(ns)
            .await
            .map_err(|e| self.err(e))?;
        if !exists
            && let Err(e) = self.catalog.create_namespace(ns, HashMap::new()).await
            // Created by another PC in the meantime is fine (see create_table below).
            && !self.catalog.namespace_exists(ns).await.unwrap_or(false)
        {
            return Err(self.err(e));
        }
        let creation = TableCreation::builder()
            .name(self.ident.name().to_owned())
            .schema(TABLE_SCHEMA.clone())
            .partition_spec(partition_spec())
            .properties(HashMap::from([
                ("write.format.default".to_owned(), "parquet".to_owned()),
                (
                    "write.parquet.compression-codec".to_owned(),
                    "zstd".to_owned(),
                ),
                (
                    "comment".to_owned(),
                    "PC metrics, one row per sample, written by pcmetrics".to_owned(),
                ),
                // Metadata files that leave this log are deleted by maintenance.
                (
                    "write.metadata.previous-versions-max".to_owned(),
                    METADATA_VERSIONS_KEPT.to_string(),
                ),
            ]))
            .build();
        let table = match self.catalog.create_table(ns, creation).await {
            Ok(t) => {
                tracing::info!(table = %self.ident, "created the Iceberg table");
                t
            }
            // Another PC created it first. Catalogs say so differently (the SQL catalog
            // reports a UNIQUE constraint), so look rather than parse the error.
            Err(e) => match self.load().await {
                Ok(Some(t)) => t,
                _ => return Err(self.err(e)),
            },
        };
        self.check_layout(&table)?;
        self.evolve(table).await
    }

    /// The table's [`Layout`] (the field ids our files carry), loading, creating and
    /// evolving the table on first use. Cached: a table's ids never change.
    pub async fn layout(&self) -> Result<Layout, CommitError> {
        self.layout
            .get_or_try_init(|| async {
                let table = self.load_or_create().await?;
                self.layout_of(&table)
            })
            .await
            .cloned()
    }

    fn layout_of(&self, table: &Table) -> Result<Layout, CommitError> {
        Layout::of_table(table.metadata().current_schema()).map_err(|message| CommitError::Layout {
            table: self.ident.to_string(),
            message,
        })
    }

    /// Adds the [`EVOLVED_COLUMNS`] the table lacks (a table created by an older version,
    /// or just created from the base schema): one schema change, optional columns with the
    /// table's next ids, no identifier fields (see [`TABLE_SCHEMA`]). Rows already written
    /// read as null; other engines see the columns. Racing PCs are fine: after a conflict
    /// the reloaded table usually has them already.
    async fn evolve(&self, mut table: Table) -> Result<Table, CommitError> {
        use iceberg::spec::{NestedField, Schema, Type};
        use iceberg::{TableRequirement, TableUpdate};
        for round in 1.. {
            let current = table.metadata().current_schema().clone();
            let missing: Vec<_> = EVOLVED_COLUMNS
                .iter()
                .filter(|c| current.field_by_name(c.name).is_none())
                .collect();
            if missing.is_empty() {
                return Ok(table);
            }
            let last = table.metadata().last_column_id();
            let mut fields = current.as_struct().fields().to_vec();
            for (i, c) in missing.iter().enumerate() {
                fields.push(Arc::new(
                    NestedField::optional(
                        last + 1 + i as i32,
                        c.name,
                        Type::Primitive(c.ty.clone()),
                    )
                    .with_doc(c.doc),
                ));
            }
            let schema = Schema::builder()
                .with_schema_id(current.schema_id() + 1)
                .with_fields(fields)
                .build()
                .map_err(|e| self.err(e))?;
            let requirements = vec![
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: current.schema_id(),
                },
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: last,
                },
            ];
            let updates = vec![
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ];
            let names: Vec<&str> = missing.iter().map(|c| c.name).collect();
            match self
                .committer
                .commit(&self.ident, &table, requirements, updates)
                .await
            {
                Ok(t) => {
                    tracing::info!(table = %self.ident, columns = ?names, "added columns to the table");
                    table = t;
                }
                Err(CommitFailure::Conflict | CommitFailure::Unknown(_))
                    if round < CONFLICT_ROUNDS =>
                {
                    table = self.load_existing().await?;
                }
                Err(failure) => {
                    return Err(CommitError::Catalog {
                        catalog: self.catalog_name.clone(),
                        message: format!("adding columns {names:?}: {failure}"),
                        retryable: failure.is_retryable(),
                    });
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// The columns pcmetrics writes must still exist with the same types (other engines may
    /// add columns: those read as null in our files), and the partitioning must be day(ts).
    fn check_layout(&self, table: &Table) -> Result<(), CommitError> {
        let current = table.metadata().current_schema();
        for field in TABLE_SCHEMA.as_struct().fields() {
            match current.field_by_id(field.id) {
                Some(f) if same_type(&f.field_type, &field.field_type) => {}
                found => {
                    return Err(CommitError::SchemaMismatch {
                        table: self.ident.to_string(),
                        column: field.name.clone(),
                        id: field.id,
                        found: found.map_or("missing".to_owned(), |f| format!("{}", f.field_type)),
                        expected: format!("{}", field.field_type),
                    });
                }
            }
        }
        for c in EVOLVED_COLUMNS.iter() {
            match current.field_by_name(c.name) {
                Some(f) if *f.field_type != iceberg::spec::Type::Primitive(c.ty.clone()) => {
                    return Err(CommitError::SchemaMismatch {
                        table: self.ident.to_string(),
                        column: c.name.to_owned(),
                        id: f.id,
                        found: format!("{}", f.field_type),
                        expected: format!("{}", c.ty),
                    });
                }
                // Missing: added by `evolve`.
                _ => {}
            }
        }
        let spec = table.metadata().default_partition_spec();
        let ok = spec.fields().len() == 1
            && spec.fields()[0].source_id == TS_FIELD_ID
            && spec.fields()[0].transform == Transform::Day;
        if !ok {
            let found: Vec<String> = spec
                .fields()
                .iter()
                .map(|f| format!("{}({})", f.transform, f.source_id))
                .collect();
            return Err(CommitError::PartitionMismatch {
                table: self.ident.to_string(),
                found: found.join(", "),
            });
        }
        Ok(())
    }
}

/// Type equality by field ids, types and nullability, ignoring names and docs (which other
/// engines may change without breaking our files).
fn same_type(a: &iceberg::spec::Type, b: &iceberg::spec::Type) -> bool {
    use iceberg::spec::Type;
    let same_field = |x: &iceberg::spec::NestedField, y: &iceberg::spec::NestedField| {
        x.id == y.id && x.required == y.required && same_type(&x.field_type, &y.field_type)
    };
    match (a, b) {
        (Type::Primitive(x), Type::Primitive(y)) => x == y,
        (Type::List(x), Type::List(y)) => same_field(&x.element_field, &y.element_field),
        (Type::Struct(x), Type::Struct(y)) => {
            x.fields().len() == y.fields().len()
                && x.fields()
                    .iter()
                    .zip(y.fields())
                    .all(|(f, g)| same_field(f, g))
        }
        (Type::Map(x), Type::Map(y)) => {
            same_field(&x.key_field, &y.key_field) && same_field(&x.value_field, &y.value_field)
        }
        _ => false,
    }
}
