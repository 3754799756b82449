//! Many PCs syncing into one table at the same moment: eight `pcmetrics sync` processes,
//! each with its own data dir and host id, commit concurrently. Conflicts are retried and
//! every host's samples land exactly once. Runs on the embedded lakehouse shared by all
//! eight (a shared folder and SQL catalog) and on the S3 + REST stack.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{table_rows, text};
use pcmetrics_core::host::HostIdentity;
use stack::{Stack, unique_table};

const HOSTS: usize = 8;
const SAMPLES: u64 = 3000;

fn many_writers(config_toml: &str, env: &[(&str, String)]) {
    let dirs: Vec<_> = (0..HOSTS).map(|_| tempfile::tempdir().unwrap()).collect();
    let run = |dir: &Path, args: &[&str]| {
        let cfg = dir.join("pcmetrics.toml");
        std::fs::write(&cfg, config_toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
        cmd.arg("--data-dir")
            .arg(dir)
            .arg("--config")
            .arg(&cfg)
            .args(args);
        cmd.env("PCMETRICS_SYNC__BATCH_ROWS", "500");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    };
    for (i, d) in dirs.iter().enumerate() {
        let start = format!("2026-11-{:02}T00:00:00Z", 1 + i);
        let o = run(
            d.path(),
            &[
                "simulate",
                "--samples",
                &SAMPLES.to_string(),
                "--start",
                &start,
            ],
        )
        .output()
        .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    // All at once: six batches each, 48 commits racing for the same table.
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            run(d.path(), &["sync", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "a writer failed: {}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["rows"], SAMPLES, "{report}");
    }

    // Read the table back through the catalog, as host 0 sees it.
    let rows = table_rows(dirs[0].path(), config_toml, env);
    let mut per_host: HashMap<String, Vec<i64>> = HashMap::new();
    for r in rows {
        per_host.entry(r.host_id).or_default().push(r.seq);
    }
    for d in &dirs {
        let id = HostIdentity::load_or_create(d.path()).unwrap().host_id;
        let mut seqs = per_host.remove(&id).unwrap_or_default();
        seqs.sort();
        assert_eq!(
            seqs,
            (1..=SAMPLES as i64).collect::<Vec<_>>(),
            "host {id}: every sample once"
        );
    }
    assert!(
        per_host.is_empty(),
        "rows of unknown hosts: {:?}",
        per_host.keys()
    );
}

#[test]
fn eight_hosts_sync_at_once_into_a_shared_embedded_lakehouse() {
    let shared = tempfile::tempdir().unwrap();
    let toml = common::shared_lakehouse_toml(shared.path());
    many_writers(&toml, &[]);
}

#[test]
fn eight_hosts_sync_at_once_into_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    many_writers(&stack.config_toml(&unique_table("writers")), &env);
}
