//! Running the `pcmetrics` binary from tests, isolated from the machine's config and
//! environment.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// No extra environment.
pub const NO_ENV: &[(&str, &str)] = &[];

/// Runs `pcmetrics --data-dir <data_dir> <args>` with only `env` from the outside: no
/// config file, `PCMETRICS_*` or `AWS_*` variables of the machine running the tests.
pub fn pcmetrics<K: AsRef<str>, V: AsRef<str>>(
    data_dir: &Path,
    args: &[&str],
    env: &[(K, V)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env("HOME", data_dir)
        .env("XDG_CONFIG_HOME", data_dir.join("no-config"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PCMETRICS_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k.as_ref(), v.as_ref());
    }
    cmd.output().expect("run pcmetrics")
}

/// Status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
