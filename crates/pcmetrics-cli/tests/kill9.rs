//! `kill -9` at random points of a sync, many times over, then one sync to the end: the
//! table holds every sample exactly once. The fixed steps are covered by `cli.rs`
//! (`--fail-at`); here the killer picks random moments, including inside catalog commits.

mod common;
#[path = "../../pcmetrics-core/tests/common/proxy.rs"]
mod proxy;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_exactly_once, text};
use proxy::{Proxy, Sabotage};
use stack::{Stack, unique_table};

/// xorshift: reproducible "random" delays; the seed is printed with any failure.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `pcmetrics --data-dir <data> --config <cfg> <args>`, with syncs cut into batches of
/// 300 rows so that a kill can land between commits.
fn pcmetrics(data: &Path, cfg: &Path, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    c.arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("PCMETRICS_SYNC__BATCH_ROWS", "300")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    c
}

/// `kills` rounds of: buffer `per_round` more samples, start a sync, SIGKILL it after a
/// random delay below `max_delay_ms`. Then one sync to the end, and the check.
fn kill_at_random(
    config_toml: &str,
    env: &[(&str, String)],
    kills: usize,
    per_round: usize,
    max_delay_ms: u64,
) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pcmetrics.toml");
    std::fs::write(&cfg, config_toml).unwrap();
    let cmd = |args: &[&str]| pcmetrics(dir.path(), &cfg, env, args);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let mut killed_mid_sync = 0;
    for _ in 0..kills {
        let o = cmd(&[
            "simulate",
            "--samples",
            &per_round.to_string(),
            "--step",
            "10s",
        ])
        .output()
        .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let mut child = cmd(&["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(max_delay_ms)));
        if child.try_wait().unwrap().is_none() {
            killed_mid_sync += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let o = cmd(&["sync", "--json"]).output().unwrap();
    assert!(o.status.success(), "seed {seed}: {}", text(&o));
    assert!(
        killed_mid_sync * 2 >= kills,
        "seed {seed}: most kills must land inside a sync ({killed_mid_sync}/{kills})"
    );

    let samples = kills * per_round;
    assert_exactly_once(
        dir.path(),
        config_toml,
        env,
        samples,
        &format!("seed {seed}"),
    );
    eprintln!(
        "kill -9: {killed_mid_sync} of {kills} kills inside a sync, {samples} samples, 0 lost, 0 duplicated (seed {seed})"
    );
}

fn embedded_config(dir: &Path) -> String {
    format!("[storage]\nroot = \"{}\"\n", dir.display())
}

#[test]
fn kill_9_at_random_points_embedded() {
    let lake = tempfile::tempdir().unwrap();
    // Rounds big enough (5 batches) that a sync outlasts the longest random delay, so most
    // kills land inside one even on an idle machine.
    kill_at_random(&embedded_config(lake.path()), &[], 30, 1500, 250);
}

#[test]
fn kill_9_at_random_points_s3_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    kill_at_random(
        &stack.config_toml(&unique_table("kill")),
        &env,
        20,
        1500,
        600,
    );
}

/// Killed while its commit is at the catalog: once before the catalog applied it, once
/// after (the answer never reaches the dead process). The next sync delivers every
/// sample once, and in the second case finds the batch already in the table.
#[test]
fn kill_9_during_the_catalog_commit() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    for (hold, already) in [(Sabotage::HoldBefore, 0), (Sabotage::HoldAfter, 1)] {
        let proxy = Proxy::start(&stack.rest_uri, hold, 1);
        let dir = tempfile::tempdir().unwrap();
        let table = unique_table("killcommit");
        let cfg = dir.path().join("pcmetrics.toml");
        let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
        let run = |config: &str, args: &[&str]| {
            std::fs::write(&cfg, config).unwrap();
            pcmetrics(dir.path(), &cfg, &env, args)
        };
        let through_proxy = stack
            .config_toml(&table)
            .replace(&stack.rest_uri, &proxy.uri);
        let o = run(&through_proxy, &["simulate", "--samples", "900"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));

        let mut child = run(&through_proxy, &["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while proxy.sabotaged.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{hold:?}: no commit reached the catalog"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "{hold:?}: sync ended before committing"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let o = run(&stack.config_toml(&table), &["sync", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{hold:?}: {}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["already_committed"], already, "{hold:?}: {report}");
        assert_eq!(report["rows"], 900, "{hold:?}: {report}");

        assert_exactly_once(
            dir.path(),
            &stack.config_toml(&table),
            &env,
            900,
            &format!("{hold:?}"),
        );
    }
}
