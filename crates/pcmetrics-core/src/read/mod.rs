//! # Read: what the lakehouse holds, for this PC and every other
//!
//! The stages before this one write; this one reads the table back for the user:
//! [`hosts`] lists the PCs in it from the table's own metadata.

pub mod hosts;

pub use hosts::{HostSummary, hosts};
