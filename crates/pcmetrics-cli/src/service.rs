//! `pcmetrics service install|uninstall|status`: the headless agent (`pcmetrics run`) as a
//! systemd user service, for builds from source. A package ships
//! `packaging/pcmetrics.service` as it is; `install` writes that same unit to
//! `$XDG_CONFIG_HOME/systemd/user/` (default `~/.config/systemd/user/`) with `ExecStart=`
//! pointing at this binary and carrying `--data-dir`/`--config`, escaped for systemd.
//!
//! What it promises: the unit never points at a binary that is about to disappear (a cargo
//! `target/` dir, a temporary directory) unless told to; the config is checked as the
//! service will see it (without this shell's environment) before anything is written; and
//! when systemctl or a user manager is missing, it says so, leaves the unit file, and exits
//! non-zero. `--no-start` only writes the file (tests, and machines without a manager).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use pcmetrics_core::config::{Config, ENV_PREFIX, Settings};

/// The unit's name, in the user manager.
pub const UNIT: &str = "pcmetrics.service";
/// The packaged unit, the template of the one `install` writes.
const TEMPLATE: &str = include_str!("../../../packaging/pcmetrics.service");
/// Its command line, replaced by this binary's.
const PACKAGED_EXEC_START: &str = "ExecStart=/usr/bin/pcmetrics run";
/// Where a package puts the unit (what `status` and `uninstall` look for when `install`
/// wrote none), in the user manager's order of precedence.
const PACKAGED_UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/user",
    "/usr/local/lib/systemd/user",
    "/usr/lib/systemd/user",
];

#[derive(Subcommand)]
pub enum Action {
    /// Write the user unit for this binary, then `systemctl --user daemon-reload`, enable
    /// it (start at login) and (re)start it. `--data-dir`/`--config` go into the unit.
    Install(InstallArgs),
    /// Stop and disable the service and remove its unit file. The data is kept.
    Uninstall,
    /// Whether the service is installed, enabled and running, and its unit file.
    Status,
}

#[derive(Args)]
pub struct InstallArgs {
    /// Only write the unit file: no systemctl (for machines without a user manager).
    #[arg(long)]
    pub no_start: bool,
    /// Point the service at this binary even inside a cargo target/ dir or a temporary
    /// directory (the service breaks when it is rebuilt, cleaned or deleted).
    #[arg(long)]
    pub allow_build_dir: bool,
}

pub fn run(action: Action, data_dir: Option<&Path>, config: Option<&Path>) -> Result<ExitCode> {
    if !cfg!(target_os = "linux") {
        bail!(
            "`pcmetrics service` manages a systemd user service, which exists on Linux only; elsewhere run `pcmetrics run` from the platform's own service manager, or use the tray app's Launch at login"
        );
    }
    match action {
        Action::Install(args) => install(&args, data_dir, config),
        Action::Uninstall => uninstall(),
        Action::Status => status(),
    }
}

/// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`: where systemd looks
/// for a user's own units.
fn unit_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or_else(
            || anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot find ~/.config/systemd/user"),
        )?)
        .join(".config"),
    };
    Ok(base.join("systemd").join("user"))
}

fn packaged_unit() -> Option<PathBuf> {
    PACKAGED_UNIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(UNIT))
        .find(|p| p.is_file())
}

/// One word of a systemd command line (systemd.service(5) "Command lines",
/// systemd.syntax(7) "Quoting"). Plain words stay as they are; any other is double-quoted
/// with `\` and `"` backslash-escaped, `%` doubled (specifiers are expanded on the whole
/// line) and, in arguments, `$` doubled (variables are expanded in arguments, not in the
/// program's path, where `$$` would stay two dollars).
pub fn exec_word(word: &str, is_argument: bool) -> Result<String, String> {
    if let Some(c) = word.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{word:?} holds the control character {c:?}, which a unit file cannot carry; rename it"
        ));
    }
    // systemd refuses these in the program's path however they are escaped ("Executable
    // name contains special characters"); arguments may hold them.
    if !is_argument && let Some(c) = word.chars().find(|c| matches!(c, '\\' | '"' | '\'')) {
        return Err(format!(
            "{word:?} holds {c:?}, which systemd does not allow in a program's path; move the program to a folder without it"
        ));
    }
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.,:+=@-".contains(c));
    if plain {
        return Ok(word.to_owned());
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if is_argument => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

fn path_word(what: &str, path: &Path, is_argument: bool) -> Result<String> {
    let s = path.to_str().ok_or_else(|| {
        anyhow!(
            "{what} {} is not valid UTF-8, which a unit file must be; use a path without such bytes",
            path.display()
        )
    })?;
    exec_word(s, is_argument).map_err(|e| anyhow!("{what}: {e}"))
}

/// The `ExecStart=` line: `<exe> run [--data-dir DIR] [--config FILE]`.
pub fn exec_start(exe: &Path, data_dir: Option<&Path>, config: Option<&Path>) -> Result<String> {
    let mut line = format!("ExecStart={} run", path_word("the program", exe, false)?);
    if let Some(d) = data_dir {
        line += &format!(" --data-dir {}", path_word("--data-dir", d, true)?);
    }
    if let Some(c) = config {
        line += &format!(" --config {}", path_word("--config", c, true)?);
    }
    Ok(line)
}

const DATA_DIR_NOTE: &str = "# Data dir: ";

/// The packaged unit with this command line, and a header saying where it came from.
fn render(exec_start: &str, exe: &Path, data_dir: &Path) -> String {
    let one_line = |p: &Path| p.display().to_string().replace(['\n', '\r'], " ");
    let body = TEMPLATE.replacen(
        &format!("\n{PACKAGED_EXEC_START}\n"),
        &format!("\n{exec_start}\n"),
        1,
    );
    format!(
        "# Written by `pcmetrics service install` (pcmetrics {}); `pcmetrics service uninstall` removes it.\n# Program: {}\n{DATA_DIR_NOTE}{}\n\n{body}",
        pcmetrics_core::version::VERSION,
        one_line(exe),
        one_line(data_dir),
    )
}

fn data_dir_note(unit: &str) -> Option<&str> {
    unit.lines().find_map(|l| l.strip_prefix(DATA_DIR_NOTE))
}

fn exec_start_of(unit: &str) -> Option<&str> {
    unit.lines().find_map(|l| l.strip_prefix("ExecStart="))
}

/// Why `exe` is no place for a service to point at, if it is not: it would change or
/// vanish under the service.
fn transient_location(exe: &Path) -> Option<String> {
    let build = |dir: &Path| {
        format!(
            "is inside the cargo target dir {} (the next build replaces it, `cargo clean` deletes it)",
            dir.display()
        )
    };
    for dir in exe.ancestors().skip(1) {
        let tag = std::fs::read_to_string(dir.join("CACHEDIR.TAG")).unwrap_or_default();
        if tag.contains("cargo") {
            return Some(build(dir));
        }
    }
    let parts: Vec<_> = exe.components().collect();
    if let Some(i) = parts.windows(2).position(|w| {
        w[0].as_os_str() == "target"
            && (w[1].as_os_str() == "debug" || w[1].as_os_str() == "release")
    }) {
        return Some(build(&parts[..=i].iter().collect::<PathBuf>()));
    }
    let mut temps = vec![
        std::env::temp_dir(),
        "/tmp".into(),
        "/var/tmp".into(),
        "/dev/shm".into(),
    ];
    temps.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
    temps.into_iter().find_map(|t| {
        let t = t.canonicalize().unwrap_or(t);
        (t.is_absolute() && t != Path::new("/") && exe.starts_with(&t))
            .then(|| format!("is inside the temporary directory {}", t.display()))
    })
}

/// The config as the service will load it: a service does not see this shell's
/// environment, so no `PCMETRICS_*__*` or `AWS_*` variables.
fn check_config(config: Option<&Path>, data_dir: Option<&Path>) -> Result<Settings> {
    let service_env =
        std::env::vars().filter(|(k, _)| !k.starts_with(ENV_PREFIX) && !k.starts_with("AWS_"));
    match Config::load(config, service_env).and_then(|c| c.validate(data_dir)) {
        Ok(settings) => Ok(settings),
        Err(e) => {
            let here = Config::load(config, std::env::vars()).and_then(|c| c.validate(data_dir));
            if here.is_ok() {
                bail!(
                    "the service would not start: {e}\nIt works in this shell only through PCMETRICS_*/AWS_* environment variables, which a service does not see: put those settings in the config file (keys in the OS keyring; see the README, \"Credentials and TLS\"), then install again"
                );
            }
            bail!("the service would not start: {e}")
        }
    }
}

fn install(args: &InstallArgs, data_dir: Option<&Path>, config: Option<&Path>) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    if !args.allow_build_dir
        && let Some(why) = transient_location(&exe)
    {
        bail!(
            "not installing a service for {exe}: it {why}, and a service must point at a program that stays.\nInstall the program first, then install the service with it:\n  cargo install --locked --path crates/pcmetrics-cli    # puts it in ~/.cargo/bin\n  ~/.cargo/bin/pcmetrics service install\nor pass --allow-build-dir to point the service at {exe} anyway",
            exe = exe.display()
        );
    }
    // A service does not start in this shell's working directory: absolute paths.
    let data_dir = data_dir.map(std::path::absolute).transpose()?;
    let config = config.map(std::path::absolute).transpose()?;
    let settings = check_config(config.as_deref(), data_dir.as_deref())?;
    let line = exec_start(&exe, data_dir.as_deref(), config.as_deref())?;
    let unit = render(&line, &exe, &settings.data_dir);

    let dir = unit_dir()?;
    let path = dir.join(UNIT);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{UNIT}.tmp"));
    std::fs::write(&tmp, &unit).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("  {line}");
    println!("data dir: {}", settings.data_dir.display());

    let start_by_hand =
        "  systemctl --user daemon-reload\n  systemctl --user enable --now pcmetrics.service";
    if args.no_start {
        println!(
            "not enabled or started (--no-start); to start it now and at every login:\n{start_by_hand}"
        );
        return Ok(ExitCode::SUCCESS);
    }
    // restart, not start: a service already running from an earlier install picks up the
    // new unit (an `enable --now` would leave it on the old command line).
    for step in [
        &["daemon-reload"][..],
        &["enable", UNIT],
        &["restart", UNIT],
    ] {
        if let Err(e) = systemctl(step) {
            eprintln!("error: {e}");
            eprintln!(
                "The unit file stays at {}; where a systemd user manager runs (your desktop login session), start it with:\n{start_by_hand}",
                path.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    println!("enabled and started: it starts at every login and restarts after a failure");
    println!("  status: pcmetrics service status");
    println!("  logs:   journalctl --user -u pcmetrics");
    println!(
        "It stops when you log out; to keep it sampling then: loginctl enable-linger. The tray app samples the same data dir: run one of the two."
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall() -> Result<ExitCode> {
    let dir = unit_dir()?;
    let path = dir.join(UNIT);
    let unit = match std::fs::read_to_string(&path) {
        Ok(u) => u,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("not installed: there is no {}", path.display());
            if let Some(p) = packaged_unit() {
                println!(
                    "{} comes with the package; turn it off with: systemctl --user disable --now pcmetrics.service",
                    p.display()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let stopped = systemctl(&["stop", UNIT]);
    // disable works on the files alone, without a user manager.
    let disabled = systemctl(&["disable", UNIT]);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    // What `disable` removes, in case it could not run.
    let wants = dir.join("default.target.wants").join(UNIT);
    if std::fs::read_link(&wants).is_ok_and(|target| target == path) {
        std::fs::remove_file(&wants).with_context(|| format!("removing {}", wants.display()))?;
    }
    if stopped.is_ok() {
        let _ = systemctl(&["daemon-reload"]);
    }
    println!("removed {}", path.display());
    let data_dir = data_dir_note(&unit)
        .map(str::to_owned)
        .or_else(|| pcmetrics_core::config::default_data_dir().map(|d| d.display().to_string()))
        .unwrap_or_else(|| "the data dir".to_owned());
    let code = match &stopped {
        Ok(()) => {
            println!("stopped and disabled");
            ExitCode::SUCCESS
        }
        Err(e) if e.nothing_can_run() => {
            println!("nothing to stop: {}", e.reason());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: could not stop it: {e}\nIf it is running it goes on until your user manager ends; from your login session: systemctl --user stop pcmetrics.service"
            );
            ExitCode::FAILURE
        }
    };
    if let Err(e) = &disabled
        && stopped.is_ok()
    {
        eprintln!("warning: {e}");
    }
    println!("the data stays in {data_dir} (delete it yourself if you want it gone)");
    Ok(code)
}

fn status() -> Result<ExitCode> {
    let own = unit_dir()?.join(UNIT);
    let (path, origin) = if own.is_file() {
        (Some(own.clone()), "written by `pcmetrics service install`")
    } else {
        match packaged_unit() {
            Some(p) => (Some(p), "from the package"),
            None => (None, ""),
        }
    };
    let Some(path) = path else {
        println!("unit file: not installed (no {})", own.display());
        println!("install:   pcmetrics service install");
        return Ok(ExitCode::SUCCESS);
    };
    let unit =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    println!("unit file: {} ({origin})", path.display());
    println!("command:   {}", exec_start_of(&unit).unwrap_or("-"));
    if let Some(d) = data_dir_note(&unit) {
        println!("data dir:  {d}");
    }
    println!("enabled:   {}", state(&["is-enabled", UNIT]));
    println!("active:    {}", state(&["is-active", UNIT]));
    println!("logs:      journalctl --user -u pcmetrics");
    Ok(ExitCode::SUCCESS)
}

/// `systemctl --user is-*`: the state it prints (also with a non-zero exit, e.g.
/// "disabled", "inactive"), or why it could not tell.
fn state(args: &[&str]) -> String {
    match systemctl_output(args) {
        Ok(out) => match String::from_utf8_lossy(&out.stdout).lines().next() {
            Some(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => format!(
                "unknown ({})",
                SystemctlError::Failed {
                    args: args.join(" "),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                }
                .reason()
            ),
        },
        Err(e) => format!("unknown ({})", e.reason()),
    }
}

#[derive(Debug)]
enum SystemctlError {
    NotFound,
    Failed { args: String, stderr: String },
}

/// systemd's own test of whether it runs as the init system (sd_booted(3)).
fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

impl SystemctlError {
    /// Whether the failure means no user manager exists here, so no service of ours runs.
    fn nothing_can_run(&self) -> bool {
        matches!(self, SystemctlError::NotFound) || !systemd_booted()
    }

    fn reason(&self) -> String {
        match self {
            SystemctlError::NotFound => {
                "systemctl was not found: this system does not run systemd, so there is no user service manager".to_owned()
            }
            SystemctlError::Failed { .. } if !systemd_booted() => {
                "systemd is not running on this machine (no /run/systemd/system), so there is no user service manager".to_owned()
            }
            SystemctlError::Failed { args, stderr } if stderr.contains("Failed to connect to bus") => format!(
                "no systemd user manager is reachable from this shell (systemctl --user {args}: {stderr}); a `su`/`sudo` shell or an ssh session without a login session has none (XDG_RUNTIME_DIR={})",
                std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "unset".into())
            ),
            SystemctlError::Failed { args, stderr } => format!("systemctl --user {args} failed: {stderr}"),
        }
    }
}

impl std::fmt::Display for SystemctlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

fn systemctl_output(args: &[&str]) -> Result<std::process::Output, SystemctlError> {
    Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SystemctlError::NotFound,
            _ => SystemctlError::Failed {
                args: args.join(" "),
                stderr: e.to_string(),
            },
        })
}

fn systemctl(args: &[&str]) -> Result<(), SystemctlError> {
    let out = systemctl_output(args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    // Stopping a unit the manager never loaded (written with --no-start, never reloaded):
    // nothing runs, which is what was asked.
    if out.status.success() || (args.first() == Some(&"stop") && stderr.contains("not loaded")) {
        return Ok(());
    }
    Err(SystemctlError::Failed {
        args: args.join(" "),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_escaped_for_systemd() {
        assert_eq!(
            exec_word("/usr/bin/pcmetrics", false).unwrap(),
            "/usr/bin/pcmetrics"
        );
        assert_eq!(
            exec_word("/home/a b/100%/x\\y\"z", true).unwrap(),
            r#""/home/a b/100%%/x\\y\"z""#
        );
        assert_eq!(
            exec_word("/home/a b/100%/x", false).unwrap(),
            r#""/home/a b/100%%/x""#
        );
        assert!(
            exec_word("/home/x\\y/pcmetrics", false)
                .unwrap_err()
                .contains("not allow")
        );
        // `$` is expanded in arguments only.
        assert_eq!(exec_word("/p$HOME", false).unwrap(), "\"/p$HOME\"");
        assert_eq!(exec_word("/p$HOME", true).unwrap(), "\"/p$$HOME\"");
        assert_eq!(exec_word("", true).unwrap(), "\"\"");
        assert!(
            exec_word("/a\nb", true)
                .unwrap_err()
                .contains("control character")
        );
    }

    #[test]
    fn the_unit_is_the_packaged_one_with_this_command_line() {
        assert_eq!(
            TEMPLATE
                .matches(&format!("\n{PACKAGED_EXEC_START}\n"))
                .count(),
            1,
            "packaging/pcmetrics.service must hold exactly one `{PACKAGED_EXEC_START}` line"
        );
        let line = exec_start(
            Path::new("/opt/pc metrics/pcmetrics"),
            Some(Path::new("/d")),
            None,
        )
        .unwrap();
        assert_eq!(
            line,
            r#"ExecStart="/opt/pc metrics/pcmetrics" run --data-dir /d"#
        );
        let unit = render(
            &line,
            Path::new("/opt/pc metrics/pcmetrics"),
            Path::new("/d"),
        );
        assert_eq!(exec_start_of(&unit), Some(&line["ExecStart=".len()..]));
        assert_eq!(data_dir_note(&unit), Some("/d"));
        assert!(!unit.contains(PACKAGED_EXEC_START));
        assert_eq!(
            unit.lines().filter(|l| !l.starts_with('#')).count(),
            TEMPLATE.lines().filter(|l| !l.starts_with('#')).count() + 1,
            "only comments and one blank line are added"
        );
    }

    #[test]
    fn build_and_temporary_dirs_are_transient() {
        assert!(
            transient_location(Path::new("/home/u/src/pcmetrics/target/release/pcmetrics"))
                .unwrap()
                .contains("cargo target dir /home/u/src/pcmetrics/target")
        );
        assert!(
            transient_location(Path::new("/tmp/x/pcmetrics"))
                .unwrap()
                .contains("temporary directory")
        );
        assert_eq!(
            transient_location(Path::new("/usr/local/bin/pcmetrics")),
            None
        );
        assert_eq!(
            transient_location(Path::new("/home/u/.cargo/bin/pcmetrics")),
            None
        );
    }
}
