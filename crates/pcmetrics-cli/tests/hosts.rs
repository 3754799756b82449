//! `pcmetrics hosts`: every PC in a shared table, with its name, first and last sample and
//! rows, answered from the table's metadata; the same before and after maintenance
//! rewrites the files. On a shared folder + SQL catalog and on S3 + REST.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::path::Path;
use std::process::{Command, Output};

use common::text;
use stack::{Stack, unique_table};

fn run(dir: &Path, config_toml: &str, env: &[(&str, String)], args: &[&str]) -> Output {
    let cfg = dir.join("pcmetrics.toml");
    std::fs::write(&cfg, config_toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--config")
        .arg(&cfg)
        .args(args);
    common::isolate(&mut cmd, dir, env);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "pcmetrics {args:?}: {}", text(&o));
    o
}

fn host_id(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("host-id"))
        .unwrap()
        .trim()
        .to_owned()
}

fn two_pcs_are_listed(config_toml: &str, env: &[(&str, String)]) {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    // PC a: 3 days ago for two hours; PC b: 600 samples at one a minute, crossing a day.
    for (dir, samples, step, start) in [
        (&a, "7200", "1s", "2026-11-20T10:00:00Z"),
        (&b, "600", "1m", "2026-11-21T20:00:00Z"),
    ] {
        std::fs::create_dir(dir).unwrap();
        run(
            dir,
            config_toml,
            env,
            &[
                "simulate",
                "--samples",
                samples,
                "--step",
                step,
                "--start",
                start,
            ],
        );
        run(dir, config_toml, env, &["sync"]);
    }
    let listed = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&run(dir, config_toml, env, &["hosts", "--json"]).stdout).unwrap()
    };
    let check = |hosts: &serde_json::Value| {
        let hosts = hosts.as_array().unwrap();
        assert_eq!(hosts.len(), 2, "{hosts:?}");
        let find = |id: &str| hosts.iter().find(|h| h["host_id"] == id).unwrap().clone();
        let ha = find(&host_id(&a));
        assert_eq!(ha["rows"], 7200);
        assert_eq!(ha["first_us"], 1_795_168_800_000_000_i64); // 2026-11-20T10:00:00Z
        assert_eq!(ha["last_us"], 1_795_168_800_000_000_i64 + 7199 * 1_000_000);
        let hb = find(&host_id(&b));
        assert_eq!(hb["rows"], 600);
        assert_eq!(hb["last_us"], 1_795_291_200_000_000_i64 + 599 * 60_000_000);
        assert!(!ha["hostname"].as_str().unwrap().is_empty());
    };
    let before = listed(&b);
    check(&before);
    // Compaction rewrites the closed days into one file per PC: same answer.
    run(&a, config_toml, env, &["maintain"]);
    let after = listed(&a);
    check(&after);
    let text = String::from_utf8(run(&a, config_toml, env, &["hosts"]).stdout).unwrap();
    assert!(
        text.contains("(this PC)") && text.contains(&host_id(&b)),
        "{text}"
    );
}

#[test]
fn hosts_on_a_shared_folder() {
    let dir = tempfile::tempdir().unwrap();
    two_pcs_are_listed(&common::shared_lakehouse_toml(dir.path()), &[]);
}

#[test]
fn hosts_on_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    two_pcs_are_listed(&stack.config_toml(&unique_table("hosts")), &env);
}
