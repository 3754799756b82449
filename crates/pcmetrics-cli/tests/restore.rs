//! A data dir restored from last week's backup, or copied to a second PC, keeps numbering
//! samples with seqs (and batch ids) the table already has from the other timeline. The
//! table must not take the new batches for "already delivered": the sync detects the
//! diverged timeline, moves the buffer to a new identity and delivers, so every sample of
//! every timeline is in the table once. On a lakehouse outside the data dir (shared
//! folder + SQL catalog) and on S3 + REST.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{run_ok, table_rows, text};
use pcmetrics_core::host::HostIdentity;
use stack::{Stack, unique_table};

/// `samples` samples starting at `start`, then a sync; returns the sync's report.
fn sample_and_sync(
    dir: &Path,
    config_toml: &str,
    env: &[(&str, String)],
    start: &str,
) -> serde_json::Value {
    run_ok(
        dir,
        config_toml,
        env,
        &["simulate", "--samples", "300", "--start", start],
    );
    let o = run_ok(dir, config_toml, env, &["sync", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

fn restored_and_copied(config_toml: &str, env: &[(&str, String)]) {
    let root = tempfile::tempdir().unwrap();
    let pc = root.path().join("pc");
    let backup = root.path().join("backup");
    let copy = root.path().join("copy");
    std::fs::create_dir(&pc).unwrap();

    let rekeyed = |r: &serde_json::Value| r["rekeyed"].as_array().map_or(0, Vec::len);
    let mut reports = Vec::new();
    reports.push(sample_and_sync(
        &pc,
        config_toml,
        env,
        "2026-11-01T00:00:00Z",
    ));
    copy_dir(&pc, &backup); // last week's backup
    copy_dir(&pc, &copy); // the same data dir, moved to a second PC
    reports.push(sample_and_sync(
        &pc,
        config_toml,
        env,
        "2026-11-01T01:00:00Z",
    ));
    // Restore the backup: the buffer numbers new samples 301.. again, as batch 2 again.
    std::fs::remove_dir_all(&pc).unwrap();
    copy_dir(&backup, &pc);
    reports.push(sample_and_sync(
        &pc,
        config_toml,
        env,
        "2026-11-08T00:00:00Z",
    ));
    // The second PC, with a copy of the same data dir, does the same.
    reports.push(sample_and_sync(
        &copy,
        config_toml,
        env,
        "2026-11-09T00:00:00Z",
    ));
    // And both carry on.
    reports.push(sample_and_sync(
        &pc,
        config_toml,
        env,
        "2026-11-10T00:00:00Z",
    ));
    reports.push(sample_and_sync(
        &copy,
        config_toml,
        env,
        "2026-11-11T00:00:00Z",
    ));

    // Every sample of every timeline once: 6 × 300 samples, told apart by time.
    let host = HostIdentity::load_or_create(&pc).unwrap().host_id;
    let rows = table_rows(&pc, config_toml, env);
    let mut by_ts: HashMap<i64, u32> = HashMap::new();
    for r in rows.iter().filter(|r| r.host_id == host) {
        *by_ts.entry(r.sample.ts_us).or_default() += 1;
    }
    assert_eq!(
        by_ts.len(),
        6 * 300,
        "every sample of every timeline is in the table; sync reports: {reports:#?}"
    );
    assert!(by_ts.values().all(|&n| n == 1), "and each once");
    // Each sync delivered its own 300 as new rows; the restored and the copied data dir
    // each moved to a new buffer identity once, and then carried on.
    for r in &reports {
        assert_eq!(
            (r["rows"].as_u64(), r["already_committed"].as_u64()),
            (Some(300), Some(0)),
            "{r}"
        );
    }
    let moves: Vec<usize> = reports.iter().map(rekeyed).collect();
    assert_eq!(moves, [0, 0, 1, 1, 0, 0]);
}

#[test]
fn a_restored_or_copied_data_dir_loses_nothing_on_a_shared_lakehouse() {
    let shared = tempfile::tempdir().unwrap();
    let toml = common::shared_lakehouse_toml(shared.path());
    restored_and_copied(&toml, &[]);
}

#[test]
fn a_restored_or_copied_data_dir_loses_nothing_on_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    restored_and_copied(&stack.config_toml(&unique_table("restore")), &env);
}
