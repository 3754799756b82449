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
    isolate(&mut cmd, data_dir, env);
    cmd.output().expect("run pcmetrics")
}

/// Gives `cmd` only `env` from the outside (see [`pcmetrics`]). No session bus either,
/// so no test reaches the keyring of the user running it; a test that wants one passes
/// `DBUS_SESSION_BUS_ADDRESS` (and `XDG_RUNTIME_DIR`) in `env`.
pub fn isolate<K: AsRef<str>, V: AsRef<str>>(cmd: &mut Command, data_dir: &Path, env: &[(K, V)]) {
    cmd.env("HOME", data_dir)
        .env("XDG_CONFIG_HOME", data_dir.join("no-config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", data_dir.join("no-session"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PCMETRICS_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k.as_ref(), v.as_ref());
    }
}

/// A config for a lakehouse many data dirs share: a folder and a SQL catalog under `dir`
/// (as PCs would share a network folder).
pub fn shared_lakehouse_toml(dir: &Path) -> String {
    let root = dir.join("lakehouse");
    format!(
        "[storage]\nroot = \"{}\"\n[catalog]\nuri = \"{}\"\n",
        root.display(),
        root.join("catalog.db").display()
    )
}

/// `pcmetrics --data-dir <dir> --config <dir>/pcmetrics.toml` with `config_toml` written
/// there and only `env` from the outside (see [`isolate`]); add the arguments.
pub fn with_config(dir: &Path, config_toml: &str, env: &[(&str, String)]) -> Command {
    let cfg = dir.join("pcmetrics.toml");
    std::fs::write(&cfg, config_toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir").arg(dir).arg("--config").arg(&cfg);
    isolate(&mut cmd, dir, env);
    cmd
}

/// [`with_config`] run with `args`, which must succeed.
pub fn run_ok(dir: &Path, config_toml: &str, env: &[(&str, String)], args: &[&str]) -> Output {
    let o = with_config(dir, config_toml, env)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "pcmetrics {args:?}: {}", text(&o));
    o
}

/// Every file under `dir` (recursively) whose bytes contain `needle`: where a secret
/// must not have been stored.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
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

/// Every row of the table that `config_toml` (with `env`) points at, as the PC of
/// `data_dir` reads it through the catalog.
pub fn table_rows(
    data_dir: &Path,
    config_toml: &str,
    env: &[(&str, String)],
) -> Vec<pcmetrics_core::encode::decode::TableRow> {
    let vars = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let config =
        pcmetrics_core::config::Config::from_toml_with_env("test", config_toml, vars).unwrap();
    let settings = config.validate(Some(data_dir)).unwrap();
    let host = pcmetrics_core::host::HostIdentity::load_or_create(data_dir).unwrap();
    let buffer = pcmetrics_core::pipeline::open_buffer(&settings).unwrap();
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(buffer));
    let syncer = pcmetrics_core::sync::Syncer::new(settings, host, buffer);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { syncer.table().await.unwrap().scan_rows().await.unwrap() })
}

/// Every sample in the buffer of `data_dir` is in the table exactly once with equal
/// values, nothing is pending, and there are `expected` of them. `context` prefixes
/// failure messages.
pub fn assert_exactly_once(
    data_dir: &Path,
    config_toml: &str,
    env: &[(&str, String)],
    expected: usize,
    context: &str,
) {
    let rows = table_rows(data_dir, config_toml, env);
    let host_id = pcmetrics_core::host::HostIdentity::load_or_create(data_dir)
        .unwrap()
        .host_id;
    let vars = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let config =
        pcmetrics_core::config::Config::from_toml_with_env("test", config_toml, vars).unwrap();
    let buffer =
        pcmetrics_core::pipeline::open_buffer(&config.validate(Some(data_dir)).unwrap()).unwrap();
    assert_eq!(
        buffer.status().unwrap().pending,
        0,
        "{context}: pending samples"
    );
    let want = buffer.read_range(1, i64::MAX).unwrap();
    assert_eq!(want.len(), expected, "{context}: samples in the buffer");
    let mut got = std::collections::HashMap::new();
    for r in rows.into_iter().filter(|r| r.host_id == host_id) {
        let seq = r.seq;
        assert!(
            got.insert(seq, r.sample).is_none(),
            "{context}: seq {seq} is in the table twice"
        );
    }
    assert_eq!(got.len(), expected, "{context}: rows in the table");
    for (seq, sample) in want {
        assert_eq!(got.get(&seq), Some(&sample), "{context}: seq {seq}");
    }
}
