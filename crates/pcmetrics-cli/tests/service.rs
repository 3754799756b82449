//! `pcmetrics service`: the unit in the repo and the one `service install` writes pass
//! `systemd-analyze verify`; install escapes paths for systemd, refuses a binary that will
//! disappear, and drives systemctl; uninstall removes the unit and keeps the data.
//!
//! These machines (and CI) run no systemd user manager, so `systemctl` is a fake on PATH
//! that logs its arguments: the tests never touch the user manager of whoever runs them.
//! Starting a real service is not tested here.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{isolate, text};

const BIN: &str = env!("CARGO_BIN_EXE_pcmetrics");

fn repo_unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/pcmetrics.service")
}

/// `systemd-analyze --user verify <unit>`: passes with nothing said about the unit. A
/// missing tool fails the test with the fix (scripts/test.sh installs it).
fn verify(unit: &Path, scratch: &Path) {
    let runtime = scratch.join("verify-runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = match Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", scratch.join("verify-config"))
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "systemd-analyze is not installed: sudo apt-get install systemd (scripts/test.sh installs it)"
        ),
        Err(e) => panic!("systemd-analyze: {e}"),
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    let about_unit: Vec<_> = stderr.lines().filter(|l| l.contains("pcmetrics")).collect();
    assert!(
        o.status.success() && about_unit.is_empty(),
        "systemd-analyze --user verify {}:\n{}\n--- unit ---\n{}",
        unit.display(),
        text(&o),
        std::fs::read_to_string(unit).unwrap()
    );
}

/// A `systemctl` that appends its arguments to `<dir>/calls` and then prints `stderr`
/// and exits with `code`.
fn fake_systemctl(dir: &Path, code: i32, stderr: &str) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("systemctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n[ -n '{stderr}' ] && echo '{stderr}' >&2\nexit {code}\n",
            dir.join("calls").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `exe <args>` with HOME, XDG_CONFIG_HOME = `<dir>/xdg` and PATH = `path` only.
fn service<S: AsRef<std::ffi::OsStr>>(exe: &Path, dir: &Path, path: &Path, args: &[S]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    isolate(
        &mut cmd,
        &dir.join("home"),
        &[
            ("XDG_CONFIG_HOME", dir.join("xdg").to_str().unwrap()),
            ("PATH", path.to_str().unwrap()),
        ],
    );
    cmd.output().expect("run pcmetrics")
}

fn unit_path(dir: &Path) -> PathBuf {
    dir.join("xdg/systemd/user/pcmetrics.service")
}

#[test]
fn the_packaged_unit_runs_the_installed_cli_and_verifies() {
    let unit = std::fs::read_to_string(repo_unit()).unwrap();
    let exec: Vec<_> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(exec, ["ExecStart=/usr/bin/pcmetrics run"]);
    for line in [
        "Restart=on-failure",
        "StandardOutput=journal",
        "NoNewPrivileges=yes",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "no {line:?} in the unit");
    }
    assert!(unit.lines().any(|l| l.starts_with("RestartSec=")));
    // No /usr/bin/pcmetrics on a build machine: verify the same unit with the built CLI
    // in its place (verify checks that the program exists and is executable).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pcmetrics.service");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/bin/pcmetrics run",
            &format!("ExecStart={BIN} run"),
        ),
    )
    .unwrap();
    verify(&copy, dir.path());
}

#[test]
fn install_escapes_paths_for_systemd_and_uninstall_removes_the_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let t = dir.to_str().unwrap();
    assert!(
        t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c)),
        "the expected line below assumes a plain temp dir: {t}"
    );
    // A program path with a space, `%` and `$`; arguments with `\` too.
    let bin_dir = dir.join("bin dir%1$x");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let exe = bin_dir.join("pcmetrics");
    std::fs::copy(BIN, &exe).unwrap();
    let data = dir.join("data 100%$HOME\\x");
    let config = dir.join("my config%.toml");
    std::fs::write(&config, "").unwrap();
    let fake = fake_systemctl(dir, 0, "");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--data-dir".to_owned(),
            data.to_str().unwrap().to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
            "service".to_owned(),
            "install".to_owned(),
            "--no-start".to_owned(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // A copy in a temporary directory is refused, as is the build dir's (below).
    let o = service(&exe, dir, &fake, &args(&[]));
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("temporary directory") && err.contains("--allow-build-dir"),
        "{}",
        text(&o)
    );
    assert!(!unit_path(dir).exists());

    let o = service(&exe, dir, &fake, &args(&["--allow-build-dir"]));
    assert!(o.status.success(), "{}", text(&o));
    let unit = std::fs::read_to_string(unit_path(dir)).unwrap();
    let exec: Vec<_> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(
        exec,
        [format!(
            r#"ExecStart="{t}/bin dir%%1$x/pcmetrics" run --data-dir "{t}/data 100%%$$HOME\\x" --config "{t}/my config%%.toml""#
        )]
    );
    assert_eq!(
        calls(dir),
        Vec::<String>::new(),
        "--no-start runs no systemctl"
    );
    verify(&unit_path(dir), dir);

    let o = service(&exe, dir, &fake, &["service", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("unit file: {}", unit_path(dir).display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("data dir:  {}", data.display())),
        "{out}"
    );
    assert_eq!(
        calls(dir),
        [
            "--user is-enabled pcmetrics.service",
            "--user is-active pcmetrics.service"
        ]
    );

    let o = service(&exe, dir, &fake, &["service", "uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!unit_path(dir).exists());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("the data stays in {}", data.display())),
        "{out}"
    );
    assert_eq!(
        calls(dir)[2..],
        [
            "--user stop pcmetrics.service",
            "--user disable pcmetrics.service",
            "--user daemon-reload"
        ]
    );

    let o = service(&exe, dir, &fake, &["service", "status"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not installed"),
        "{}",
        text(&o)
    );
}

#[test]
fn install_refuses_the_build_dir_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fake = fake_systemctl(dir, 0, "");
    let o = service(
        Path::new(BIN),
        dir,
        &fake,
        &["service", "install", "--no-start"],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // target/ normally; a CARGO_TARGET_DIR under /tmp is refused as temporary.
    assert!(
        (err.contains("cargo target dir") || err.contains("temporary directory"))
            && err.contains("cargo install")
            && err.contains("--allow-build-dir"),
        "{}",
        text(&o)
    );
    assert!(!unit_path(dir).exists());
}

#[test]
fn install_enables_and_restarts_through_systemctl_or_says_why_it_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let install = ["service", "install", "--allow-build-dir"];

    let ok = fake_systemctl(dir, 0, "");
    let o = service(Path::new(BIN), dir, &ok, &install);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        calls(dir),
        [
            "--user daemon-reload",
            "--user enable pcmetrics.service",
            "--user restart pcmetrics.service"
        ]
    );
    std::fs::remove_file(dir.join("calls")).unwrap();

    // A user manager that cannot be reached: said so, the unit stays, exit 1.
    let no_bus = fake_systemctl(dir, 1, "Failed to connect to bus: No medium found");
    let o = service(Path::new(BIN), dir, &no_bus, &install);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("manager") && err.contains("systemctl --user enable --now"),
        "{}",
        text(&o)
    );
    assert!(unit_path(dir).is_file());
    assert_eq!(calls(dir), ["--user daemon-reload"]);

    // No systemctl at all.
    let empty = dir.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = service(Path::new(BIN), dir, &empty, &install);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("systemctl was not found"),
        "{}",
        text(&o)
    );
    assert!(unit_path(dir).is_file());
}
