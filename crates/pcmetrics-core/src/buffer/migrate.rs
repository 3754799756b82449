//! The buffer file's layout, as an ordered list of migrations.
//!
//! `PRAGMA user_version` is the number of migrations a file has had. Opening a file runs
//! the ones it lacks, in order, each in its own transaction together with the version
//! bump, so a crash between two steps leaves a file at a version that exists and the next
//! open goes on from there. A file with a higher version than this build knows was written
//! by a newer pcmetrics and is refused untouched. Append only: a released step is never
//! edited, a change is a new step.

use rusqlite::Connection;

/// One step of the layout.
pub struct Migration {
    /// The version a file has after this step.
    pub version: i64,
    pub what: &'static str,
    pub sql: fn() -> String,
}

fn base_tables() -> String {
    r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_us INTEGER NOT NULL,
    cpu REAL NOT NULL,
    load1 REAL NOT NULL, load5 REAL NOT NULL, load15 REAL NOT NULL,
    mem_total INTEGER NOT NULL, mem_used INTEGER NOT NULL, mem_available INTEGER NOT NULL,
    swap_total INTEGER NOT NULL, swap_used INTEGER NOT NULL,
    disk_read REAL NOT NULL, disk_write REAL NOT NULL,
    net_rx REAL NOT NULL, net_tx REAL NOT NULL,
    temp_max REAL,
    procs INTEGER NOT NULL,
    uptime INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts_us);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_us INTEGER NOT NULL,
    finished_us INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    snapshot_id INTEGER,
    error TEXT
);
"#
    .to_owned()
        + &super::history::rollup_schema()
}

/// The layout, oldest first. `IF NOT EXISTS` everywhere: files from before this list
/// existed may already have some of it.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "samples, batches, sync log, minute rollups",
        sql: base_tables,
    },
    Migration {
        version: 2,
        what: "`detail` may be a binary BLOB (buffer/codec.rs); older versions cannot read it",
        sql: String::new,
    },
    Migration {
        version: 3,
        what: "quarantine: samples that can never be delivered, kept with the reason",
        sql: || {
            "CREATE TABLE IF NOT EXISTS quarantine AS \
             SELECT *, '' AS reason, 0 AS quarantined_us FROM samples WHERE 0;"
                .to_owned()
        },
    },
];

/// The layout version this build writes.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Brings `conn` from `from` to [`LATEST`], one transaction per step.
pub fn run(conn: &mut Connection, from: i64) -> rusqlite::Result<Vec<i64>> {
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(&(m.sql)())?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        tracing::debug!(version = m.version, what = m.what, "buffer layout migrated");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.what);
        }
    }

    #[test]
    fn a_file_is_migrated_from_where_it_stopped() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut conn, 0).unwrap(), vec![1, 2, 3]);
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
        assert!(run(&mut conn, LATEST).unwrap().is_empty());

        // A file made before the quarantine step (version 2) gets only that step.
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(&base_tables()).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        assert_eq!(run(&mut old, 2).unwrap(), vec![3]);
        old.query_row("SELECT count(*) FROM quarantine", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    }
}
