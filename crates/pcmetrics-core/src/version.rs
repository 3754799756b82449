//! What this build is and which data layouts it writes, for `pcmetrics --version` and the
//! window's About line. Derived from the constants that govern upgrades, never restated:
//! the buffer's [`migrate::LATEST`](crate::buffer::migrate::LATEST) (older buffers are
//! migrated in order on open, newer ones refused) and the table's base columns plus
//! [`EVOLVED_COLUMNS`] (added in place to tables created by older versions).

use serde::Serialize;

use crate::buffer::SCHEMA_VERSION;
use crate::encode::schema::{EVOLVED_COLUMNS, TABLE_SCHEMA};

/// The pcmetrics version (the workspace's; every crate shares it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This build's version and data layouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct About {
    pub version: &'static str,
    /// The buffer file layout this build writes (`PRAGMA user_version`).
    pub buffer_layout: i64,
    /// Top-level columns every table is created with (frozen).
    pub table_base_columns: usize,
    /// Columns added since, oldest first: what schema evolution adds to an older table.
    pub table_evolved_columns: Vec<&'static str>,
}

impl About {
    pub fn current() -> Self {
        Self {
            version: VERSION,
            buffer_layout: SCHEMA_VERSION,
            table_base_columns: TABLE_SCHEMA.as_struct().fields().len(),
            table_evolved_columns: EVOLVED_COLUMNS.iter().map(|c| c.name).collect(),
        }
    }

    /// `23 base columns + 1 evolved column (buffer_id)`.
    pub fn table_layout(&self) -> String {
        let n = self.table_evolved_columns.len();
        let mut s = format!("{} base columns", self.table_base_columns);
        if n > 0 {
            s += &format!(
                " + {n} evolved column{} ({})",
                if n == 1 { "" } else { "s" },
                self.table_evolved_columns.join(", ")
            );
        }
        s
    }

    /// One line, for the window's About: `pcmetrics 0.1.0 · buffer layout 3 · table
    /// layout 23 base columns + 1 evolved column (buffer_id)`.
    pub fn summary(&self) -> String {
        format!(
            "pcmetrics {} · buffer layout {} · table layout {}",
            self.version,
            self.buffer_layout,
            self.table_layout()
        )
    }

    /// The lines `pcmetrics --version` prints after the program name.
    pub fn long(&self) -> String {
        format!(
            "{}\nbuffer layout: {}\ntable layout:  {}",
            self.version,
            self.buffer_layout,
            self.table_layout()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_the_layout_constants() {
        let a = About::current();
        assert_eq!(a.buffer_layout, crate::buffer::migrate::LATEST);
        assert_eq!(a.table_evolved_columns.len(), EVOLVED_COLUMNS.len());
        assert_eq!(
            a.table_base_columns,
            TABLE_SCHEMA.as_struct().fields().len()
        );
        let one = About {
            version: "1.2.3",
            buffer_layout: 3,
            table_base_columns: 23,
            table_evolved_columns: vec!["buffer_id"],
        };
        assert_eq!(
            one.long(),
            "1.2.3\nbuffer layout: 3\ntable layout:  23 base columns + 1 evolved column (buffer_id)"
        );
        assert_eq!(
            one.summary(),
            "pcmetrics 1.2.3 · buffer layout 3 · table layout 23 base columns + 1 evolved column (buffer_id)"
        );
        let none = About {
            table_evolved_columns: vec![],
            ..one.clone()
        };
        assert_eq!(none.table_layout(), "23 base columns");
        let two = About {
            table_evolved_columns: vec!["a", "b"],
            ..one
        };
        assert_eq!(
            two.table_layout(),
            "23 base columns + 2 evolved columns (a, b)"
        );
    }
}
