//! `pcmetrics hosts`: every PC in a shared table, with its name, first and last sample and
//! rows, answered from the table's metadata; the same before and after maintenance
//! rewrites the files. On a shared folder + SQL catalog and on S3 + REST.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::path::Path;
use std::process::Command;

use common::{run_ok, text};
use stack::{Stack, unique_table};

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
        run_ok(
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
        run_ok(dir, config_toml, env, &["sync"]);
    }
    let listed = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&run_ok(dir, config_toml, env, &["hosts", "--json"]).stdout).unwrap()
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
    run_ok(&a, config_toml, env, &["maintain"]);
    let after = listed(&a);
    check(&after);
    let text = String::from_utf8(run_ok(&a, config_toml, env, &["hosts"]).stdout).unwrap();
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

/// `history --host`: another PC's series comes from the lakehouse and equals what that PC
/// sampled (its own local history of the same samples); "all" shows both; an unknown PC
/// is a clear error.
fn history_of_another_pc(config_toml: &str, env: &[(&str, String)]) {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for (dir, samples) in [(&a, "90"), (&b, "120")] {
        std::fs::create_dir(dir).unwrap();
        run_ok(
            dir,
            config_toml,
            env,
            &["simulate", "--samples", samples, "--step", "1m"],
        );
        run_ok(dir, config_toml, env, &["sync"]);
    }
    let json = |dir: &Path, args: &[&str]| -> serde_json::Value {
        let mut all = vec![
            "history", "--metric", "cpu", "--since", "1d", "--points", "1",
        ];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        serde_json::from_slice(&run_ok(dir, config_toml, env, &all).stdout).unwrap()
    };
    let own = json(&b, &[]);
    let from_a = json(&a, &["--host", &host_id(&b)]);
    let shown = from_a.as_array().unwrap();
    assert_eq!(shown.len(), 1, "{from_a}");
    assert_eq!(shown[0]["source"], "lakehouse");
    let (p, q) = (&own["points"][0], &shown[0]["series"]["points"][0]);
    for k in ["mean", "min", "max"] {
        let (x, y) = (p[k].as_f64().unwrap(), q[k].as_f64().unwrap());
        assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{k}: {p} vs {q}");
    }
    assert_eq!(shown[0]["series"]["resolution"], "lakehouse");

    let all = json(&a, &["--host", "all"]);
    let sources: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host_id"].as_str().unwrap(),
                h["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        vec![
            (host_id(&a).as_str(), "local buffer"),
            (host_id(&b).as_str(), "lakehouse")
        ]
    );

    let cfg = a.join("pcmetrics.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir")
        .arg(&a)
        .arg("--config")
        .arg(&cfg)
        .args(["history", "--metric", "cpu", "--host", "no-such-pc"]);
    common::isolate(&mut cmd, &a, env);
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pcmetrics hosts"), "{}", text(&o));
}

#[test]
fn history_of_another_pc_on_a_shared_folder() {
    let dir = tempfile::tempdir().unwrap();
    history_of_another_pc(&common::shared_lakehouse_toml(dir.path()), &[]);
}

#[test]
fn history_of_another_pc_on_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    history_of_another_pc(&stack.config_toml(&unique_table("history")), &env);
}

/// With the lakehouse unreachable, `--host all` still shows this PC and says what is
/// missing.
#[test]
fn history_of_all_pcs_without_the_lakehouse() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        "[storage]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nbucket = \"warehouse\"\nallow_http = true\n\
         access_key_id = \"k\"\nsecret_access_key = \"s\"\n[catalog]\nkind = \"rest\"\nuri = \"http://127.0.0.1:{port}\"\n"
    );
    run_ok(
        dir.path(),
        &toml,
        &[],
        &["simulate", "--samples", "30", "--step", "1m"],
    );
    let o = run_ok(
        dir.path(),
        &toml,
        &[],
        &[
            "history", "--metric", "cpu", "--host", "all", "--since", "1d", "--format", "json",
        ],
    );
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown[0]["source"], "local buffer");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the other PCs are not shown"),
        "{}",
        text(&o)
    );
}
