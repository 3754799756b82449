//! Writers' clocks do not block each other. Iceberg refuses a snapshot more than a minute
//! older than the table's last update, so with snapshots stamped by each writer's own
//! clock, one PC an hour ahead (dual boot with the RTC in local time) made every other
//! PC's commit fail, and a PC whose clock stepped back failed on its own. Here one PC runs
//! under libfaketime an hour ahead, then an hour behind, alternating with a PC on the
//! right time, on the shared embedded lakehouse and on S3 + REST: every commit succeeds and
//! every sample of both is in the table once.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{table_rows, text};
use pcmetrics_core::host::HostIdentity;
use stack::{Stack, unique_table};

const SAMPLES_PER_ROUND: u64 = 200;

fn faketime_available() -> bool {
    Command::new("faketime")
        .args(["-f", "+0", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `pcmetrics` for `dir`, under a clock shifted by `shift` (libfaketime syntax) if any.
fn run(dir: &Path, config_toml: &str, env: &[(&str, String)], shift: Option<&str>, args: &[&str]) {
    let cfg = dir.join("pcmetrics.toml");
    std::fs::write(&cfg, config_toml).unwrap();
    let mut cmd = match shift {
        Some(s) => {
            let mut c = Command::new("faketime");
            c.args(["-f", s]).arg(env!("CARGO_BIN_EXE_pcmetrics"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_pcmetrics")),
    };
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--config")
        .arg(&cfg)
        .args(args);
    common::isolate(&mut cmd, dir, env);
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "pcmetrics {args:?} with the clock shifted {shift:?} failed: {}",
        text(&o)
    );
}

fn skewed_writers(config_toml: &str, env: &[(&str, String)]) {
    assert!(
        faketime_available(),
        "this test shifts a writer's clock with libfaketime: install it (sudo apt-get install faketime; scripts/test.sh does)"
    );
    let ahead = tempfile::tempdir().unwrap();
    let right = tempfile::tempdir().unwrap();
    let samples = SAMPLES_PER_ROUND.to_string();
    // The skewed PC commits first, then the right one, in every round; in the last rounds
    // the skewed PC's own clock steps back an hour, then two.
    let shifts = ["+1h", "+1h", "+0", "-1h"];
    for shift in shifts {
        for (dir, shift) in [(ahead.path(), Some(shift)), (right.path(), None)] {
            run(
                dir,
                config_toml,
                env,
                shift,
                &["simulate", "--samples", &samples],
            );
            run(dir, config_toml, env, shift, &["sync"]);
        }
    }
    let rows = table_rows(right.path(), config_toml, env);
    let mut per_host: HashMap<String, Vec<i64>> = HashMap::new();
    for r in rows {
        per_host.entry(r.host_id).or_default().push(r.seq);
    }
    let n = SAMPLES_PER_ROUND as i64 * shifts.len() as i64;
    for d in [ahead.path(), right.path()] {
        let id = HostIdentity::load_or_create(d).unwrap().host_id;
        let mut seqs = per_host.remove(&id).unwrap_or_default();
        seqs.sort();
        assert_eq!(
            seqs,
            (1..=n).collect::<Vec<_>>(),
            "host {id}: every sample once"
        );
    }
}

#[test]
fn a_writer_an_hour_ahead_blocks_nobody_on_a_shared_embedded_lakehouse() {
    let shared = tempfile::tempdir().unwrap();
    let toml = common::shared_lakehouse_toml(shared.path());
    skewed_writers(&toml, &[]);
}

#[test]
fn a_writer_an_hour_ahead_blocks_nobody_on_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    skewed_writers(&stack.config_toml(&unique_table("skew")), &env);
}
