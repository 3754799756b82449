//! The catalog does not decide where pcmetrics reads, writes and deletes (issue 12): a
//! table whose location (or metadata) lies outside `storage.root` is refused with an
//! error that names the location and the fix, and nothing outside is touched — not by a
//! sync, not by maintenance.
//!
//! The hostile catalog is the embedded SQL catalog with its `iceberg_tables` row edited to
//! point at a copy of the table's metadata whose `location` is another folder of this PC
//! (what a REST catalog can hand out just as well).

mod common;

use std::path::Path;

use common::{pcmetrics, text};

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p.display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_table_located_outside_the_lakehouse_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = common::NO_ENV;
    let sim = pcmetrics(&data, &["simulate", "--samples", "50"], env);
    assert!(sim.status.success(), "{}", text(&sim));
    let sync = pcmetrics(&data, &["sync"], env);
    assert!(sync.status.success(), "{}", text(&sync));

    // Another folder of this PC, with a file the user cares about.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("metadata")).unwrap();
    std::fs::write(elsewhere.join("precious.txt"), "mine").unwrap();

    // The catalog now says the table lives there.
    let catalog = rusqlite::Connection::open(data.join("lakehouse/catalog.db")).unwrap();
    let current: String = catalog
        .query_row(
            "SELECT metadata_location FROM iceberg_tables WHERE table_name = 'pc_metrics'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let path = current.strip_prefix("file://").unwrap_or(&current);
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let outside = format!("file://{}", elsewhere.display());
    meta["location"] = serde_json::Value::String(outside.clone());
    let moved = elsewhere.join("metadata/00009-hostile.metadata.json");
    std::fs::write(&moved, serde_json::to_vec(&meta).unwrap()).unwrap();
    catalog
        .execute(
            "UPDATE iceberg_tables SET metadata_location = ?1 WHERE table_name = 'pc_metrics'",
            [format!("file://{}", moved.display())],
        )
        .unwrap();
    let before = files_under(&elsewhere);

    let sim = pcmetrics(&data, &["simulate", "--samples", "50"], env);
    assert!(sim.status.success(), "{}", text(&sim));
    let sync = pcmetrics(&data, &["sync"], env);
    assert!(!sync.status.success(), "{}", text(&sync));
    let err = String::from_utf8_lossy(&sync.stderr);
    assert!(
        err.contains("outside storage.root") && err.contains("elsewhere"),
        "{}",
        text(&sync)
    );
    assert!(
        err.contains("sync.table"),
        "the error says how to fix it: {err}"
    );
    let maintain = pcmetrics(&data, &["maintain"], env);
    assert!(
        !maintain.status.success() || text(&maintain).contains("outside storage.root"),
        "{}",
        text(&maintain)
    );
    assert_eq!(
        files_under(&elsewhere),
        before,
        "nothing written or deleted there"
    );
    let status = pcmetrics(&data, &["status"], env);
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .lines()
            .any(|l| l.starts_with("pending samples:") && l.trim_end().ends_with(" 50")),
        "the new samples stay in the buffer: {}",
        text(&status)
    );
}
