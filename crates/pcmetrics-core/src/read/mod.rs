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
