//! Secrets in the OS keyring (issue 12), against a real Secret Service: GNOME Keyring on a
//! private session bus this test starts itself, with its keyring under a temp HOME and
//! nothing activated on the bus but what the test starts, so the keyring of the user
//! running the tests is never touched. The settings form (the app crate's code, run in a
//! child process of this test binary with the bus in its environment) stores typed
//! secrets in the keyring and only references in the config file; `pcmetrics` resolves
//! them (`config check`, and a sync whose requests carry the key id read from the keyring),
//! never shows them, and a changed endpoint deletes them. Without any session bus the form
//! falls back to the file and says so, and a reference fails with an error naming the key.
//!
//! The tools (`dbus-daemon`, `dbus-send`, `gnome-keyring-daemon`, `secret-tool`) missing
//! is a failure with the command that installs them; `PCMETRICS_TEST_SKIP_KEYRING=1`
//! skips the real-keyring test on a laptop (CI never sets it).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{isolate, pcmetrics, text};
use pcmetrics_app::form::{ConfigFile, SettingsForm};
use pcmetrics_core::config::OsKeyring;
use serde_json::{Value, json};

const KEY_ID: &str = "AKPLANTEDKEYID0001";
const SECRET: &str = "planted-keyring-secret-4711";
const KEY_ID_2: &str = "AKPLANTEDKEYID0002";
const SECRET_2: &str = "planted-keyring-secret-0815";
const TOOLS: [&str; 4] = [
    "dbus-daemon",
    "dbus-send",
    "gnome-keyring-daemon",
    "secret-tool",
];
const INSTALL: &str = "sudo apt-get install dbus-daemon dbus-bin gnome-keyring libsecret-tools";

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// GNOME Keyring's Secret Service on a private session bus, with an unlocked login
/// keyring in a temp HOME. Both daemons are this test's children, killed on drop.
struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Child,
}

impl SecretService {
    /// `None` only when `PCMETRICS_TEST_SKIP_KEYRING=1`.
    fn start() -> Option<Self> {
        let missing: Vec<&str> = TOOLS.into_iter().filter(|t| !on_path(t)).collect();
        if !missing.is_empty() {
            if std::env::var("PCMETRICS_TEST_SKIP_KEYRING").as_deref() == Ok("1") {
                eprintln!("SKIPPED: real keyring (PCMETRICS_TEST_SKIP_KEYRING=1)");
                return None;
            }
            panic!(
                "the keyring tests need {}: install them with `{INSTALL}` (scripts/test.sh does), or set PCMETRICS_TEST_SKIP_KEYRING=1 to skip them on a laptop",
                missing.join(", ")
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir(&run).unwrap();
        // A session bus with no service directories: nothing is activated on it (no
        // prompter, no other keyring), only what this test starts.
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                run.display()
            ),
        )
        .unwrap();
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        let mut keyring = tool(dir.path(), &address, "gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        // The login keyring's password; closing stdin ends it.
        keyring
            .stdin
            .take()
            .unwrap()
            .write_all(b"pcmetrics-test")
            .unwrap();
        let ss = Self {
            dir,
            address,
            bus,
            keyring,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let owned = ss
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&owned.stdout).contains("boolean true") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not take org.freedesktop.secrets on the test bus"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(ss)
    }

    /// What a process needs to reach this Secret Service, and only it.
    fn env(&self) -> Vec<(String, String)> {
        bus_env(self.dir.path(), &self.address)
    }

    fn command(&self, program: &str) -> Command {
        tool(self.dir.path(), &self.address, program)
    }

    /// The secret of entry `account` (service "pcmetrics"), read by libsecret's
    /// `secret-tool`: an independent client of the Secret Service.
    fn lookup(&self, account: &str) -> Option<String> {
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", "pcmetrics", "username", account])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    /// Every account under service "pcmetrics".
    fn accounts(&self) -> Vec<String> {
        let out = self
            .command("secret-tool")
            .args(["search", "--all", "service", "pcmetrics"])
            .output()
            .unwrap();
        // secret-tool prints the attributes on stderr or stdout depending on version.
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        all.lines()
            .filter_map(|l| l.strip_prefix("attribute.username = "))
            .map(str::to_owned)
            .collect()
    }

    /// Locks the login keyring, as a screen lock or a timeout would.
    fn lock(&self) {
        let out = self
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

fn bus_env(dir: &Path, address: &str) -> Vec<(String, String)> {
    vec![
        ("DBUS_SESSION_BUS_ADDRESS".into(), address.to_owned()),
        (
            "XDG_RUNTIME_DIR".into(),
            dir.join("run").display().to_string(),
        ),
    ]
}

/// A tool on the test bus with the test HOME, nothing of the user's environment.
fn tool(dir: &Path, address: &str, program: &str) -> Command {
    let home = dir.join("home");
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .envs(bus_env(dir, address));
    cmd
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// Not a test of its own: the settings form, saved with the OS keyring, in a child process
/// of this binary (see [`save_form`]) so that the session bus in its environment is the
/// one the form's keyring calls reach. A no-op in a plain test run.
#[test]
fn child_saves_a_settings_form() {
    let Ok(request) = std::env::var("PCMETRICS_TEST_FORM_REQUEST") else {
        return;
    };
    let request: Value = serde_json::from_str(&request).unwrap();
    let file = ConfigFile {
        path: PathBuf::from(request["config"].as_str().unwrap()),
    };
    let data_dir = PathBuf::from(request["data_dir"].as_str().unwrap());
    let mut form = serde_json::to_value(SettingsForm::from_config(
        &file.read().unwrap(),
        &file.path,
        false,
    ))
    .unwrap();
    for (k, v) in request["edit"].as_object().unwrap() {
        form[k] = v.clone();
    }
    let form: SettingsForm = serde_json::from_value(form).unwrap();
    let keyring = OsKeyring::default();
    let result = file
        .prepare(&form, [], Some(&data_dir), &keyring)
        .map_err(|e| e.to_string())
        .and_then(|p| file.save(p, &keyring).map_err(|e| e.to_string()));
    let answer = match result {
        Ok(report) => json!({ "notice": report.notice }),
        Err(e) => json!({ "error": e }),
    };
    println!("\nFORM-RESULT {answer}");
}

/// Saves the form of `config` with `edit` applied (field → value) in a child process
/// with `env`; the save's notice, or its error.
fn save_form(
    env: &[(String, String)],
    config: &Path,
    data_dir: &Path,
    edit: Value,
) -> Result<Option<String>, String> {
    let request = json!({
        "config": config.display().to_string(),
        "data_dir": data_dir.display().to_string(),
        "edit": edit,
    });
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_saves_a_settings_form",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    isolate(&mut cmd, data_dir, env);
    let out = cmd
        .env("PCMETRICS_TEST_FORM_REQUEST", request.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer = stdout
        .lines()
        .find_map(|l| l.split_once("FORM-RESULT ").map(|(_, answer)| answer))
        .unwrap_or_else(|| panic!("the form child did not answer: {}", text(&out)));
    let answer: Value = serde_json::from_str(answer).unwrap();
    match answer.get("error") {
        Some(e) => Err(e.as_str().unwrap().to_owned()),
        None => Ok(answer["notice"].as_str().map(str::to_owned)),
    }
}

/// The keyring accounts a config file references, by key (`storage.secret_access_key`).
fn references(config: &Path) -> BTreeMap<String, String> {
    let table: toml::Table = std::fs::read_to_string(config).unwrap().parse().unwrap();
    let mut found = BTreeMap::new();
    for (section, keys) in &table {
        if let Some(keys) = keys.as_table() {
            for (key, value) in keys {
                if let Some(account) = value.get("keyring").and_then(|a| a.as_str()) {
                    found.insert(format!("{section}.{key}"), account.to_owned());
                }
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A loopback "S3 server" that refuses everything and keeps each request's head, so a
/// test can see which key id a sync signed with.
fn recording_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = conn.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, heads)
}

#[test]
fn the_settings_form_keeps_typed_secrets_in_a_real_secret_service() {
    let Some(ss) = SecretService::start() else {
        return;
    };
    let env = ss.env();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(dir.path().join("cfg")).unwrap();
    let config = dir.path().join("cfg/config.toml");
    let cfg = config.to_str().unwrap();
    let run = |args: &[&str], env: &[(String, String)]| {
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        pcmetrics(&data, &all, env)
    };
    let (port, requests) = recording_server();

    // Typed in Settings: into the keyring; the file gets references only.
    let notice = save_form(
        &env,
        &config,
        &data,
        json!({
            "storage_kind": "s3",
            "endpoint": format!("http://127.0.0.1:{port}"),
            "allow_http": true,
            "bucket": "warehouse",
            "region": "us-east-1",
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
        }),
    )
    .unwrap();
    assert_eq!(notice, None, "a keyring is running");
    let bytes = std::fs::read(&config).unwrap();
    for secret in [KEY_ID, SECRET] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is in the config file:\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let first = references(&config);
    let prefix = |key: &str| format!("{key}@{}#", std::path::absolute(&config).unwrap().display());
    for key in ["storage.access_key_id", "storage.secret_access_key"] {
        assert!(first[key].starts_with(&prefix(key)), "{first:?}");
    }
    assert_eq!(
        ss.lookup(&first["storage.secret_access_key"]).as_deref(),
        Some(SECRET)
    );
    assert_eq!(
        ss.lookup(&first["storage.access_key_id"]).as_deref(),
        Some(KEY_ID)
    );

    // pcmetrics resolves the references, and shows them, never the secrets.
    let check = run(&["config", "check"], &env);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("config ok"),
        "{}",
        text(&check)
    );
    let show = run(&["config", "show"], &env);
    assert!(show.status.success(), "{}", text(&show));
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains(&format!(
            "secret_access_key = {{ keyring = \"{}\" }}",
            first["storage.secret_access_key"]
        )),
        "{shown}"
    );
    // A sync signs its requests with the key read from the keyring.
    let sim = run(&["simulate", "--samples", "5"], &env);
    assert!(sim.status.success(), "{}", text(&sim));
    let sync = run(&["-vv", "sync"], &env);
    assert!(
        !sync.status.success(),
        "the server refuses: {}",
        text(&sync)
    );
    let heads = requests.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .any(|h| h.contains(&format!("Credential={KEY_ID}/"))),
        "no request signed with the key id from the keyring: {heads:?}"
    );
    let status = run(&["status", "--json"], &env);
    for (what, out) in [
        ("config show", &show),
        ("sync -vv", &sync),
        ("status", &status),
    ] {
        let all = text(out);
        assert!(!all.contains(SECRET), "{what} shows the secret: {all}");
    }
    for (what, out) in [("config show", &show), ("status", &status)] {
        assert!(!text(out).contains(KEY_ID), "{what} shows the key id");
    }
    assert!(heads.iter().all(|h| !h.contains(SECRET)));
    assert_eq!(
        common::files_containing(&data, SECRET),
        Vec::<String>::new()
    );

    // A reference to an entry that is not there: an error naming the key and the fix.
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace(&first["storage.secret_access_key"], "no-such-account"),
    )
    .unwrap();
    let out = pcmetrics(
        &data,
        &["--config", missing.to_str().unwrap(), "config", "check"],
        &env,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: storage.secret_access_key: is kept in the OS keyring (service \"pcmetrics\", account \"no-such-account\"), but the keyring has no such entry"),
        "{err}"
    );
    assert!(err.contains("secret-tool store"), "{err}");

    // Saving with the secret fields blank keeps references and entries.
    assert_eq!(
        save_form(&env, &config, &data, json!({ "sync_interval": "10m" })),
        Ok(None)
    );
    assert_eq!(references(&config), first);
    assert!(ss.lookup(&first["storage.secret_access_key"]).is_some());

    // Another endpoint without new keys: the stored ones do not follow it.
    let (other, _) = recording_server();
    let moved = json!({ "endpoint": format!("http://127.0.0.1:{other}") });
    let e = save_form(&env, &config, &data, moved.clone()).unwrap_err();
    assert!(e.starts_with("storage.access_key_id: is not set"), "{e}");
    assert_eq!(references(&config), first, "nothing saved");
    // With new keys: new entries, and the old ones deleted from the keyring.
    let mut moved = moved;
    moved["access_key_id"] = json!(KEY_ID_2);
    moved["secret_access_key"] = json!(SECRET_2);
    assert_eq!(save_form(&env, &config, &data, moved), Ok(None));
    let second = references(&config);
    for key in ["storage.access_key_id", "storage.secret_access_key"] {
        assert_ne!(second[key], first[key]);
        assert_eq!(ss.lookup(&first[key]), None, "{key}: old entry left");
    }
    assert_eq!(
        ss.lookup(&second["storage.secret_access_key"]).as_deref(),
        Some(SECRET_2)
    );
    let mut accounts = ss.accounts();
    accounts.sort();
    let mut want: Vec<String> = second.values().cloned().collect();
    want.sort();
    assert_eq!(accounts, want, "exactly the referenced entries are left");

    // A locked keyring: a clear error naming the key, for pcmetrics and for the form.
    ss.lock();
    let out = run(&["config", "check"], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("error: storage.access_key_id: is kept in the OS keyring")
            && err.contains("the keyring is locked"),
        "{err}"
    );
    let before = std::fs::read(&config).unwrap();
    let e = save_form(
        &env,
        &config,
        &data,
        json!({ "access_key_id": KEY_ID, "secret_access_key": SECRET }),
    )
    .unwrap_err();
    assert!(
        e.starts_with(
            "storage.access_key_id: could not be stored in the OS keyring: the keyring is locked"
        ) && e.contains("Nothing was saved"),
        "{e}"
    );
    assert_eq!(std::fs::read(&config).unwrap(), before, "nothing saved");
    // Leaving s3 needs no secret: the file is saved without the references, and the
    // entries it can not delete now are named.
    let notice = save_form(&env, &config, &data, json!({ "storage_kind": "local" }))
        .unwrap()
        .expect("the entries left behind are named");
    assert!(
        notice.contains("could not be deleted")
            && notice.contains(&second["storage.secret_access_key"]),
        "{notice}"
    );
    assert!(references(&config).is_empty());
}

#[test]
fn leaving_s3_deletes_the_entries_settings_made() {
    let Some(ss) = SecretService::start() else {
        return;
    };
    let env = ss.env();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    let s3 = json!({
        "storage_kind": "s3",
        "endpoint": "https://s3.example",
        "bucket": "warehouse",
        "access_key_id": KEY_ID,
        "secret_access_key": SECRET,
    });
    assert_eq!(save_form(&env, &config, &data, s3), Ok(None));
    assert_eq!(ss.accounts().len(), 2);
    let local = json!({ "storage_kind": "local" });
    assert_eq!(save_form(&env, &config, &data, local), Ok(None));
    assert!(references(&config).is_empty());
    assert_eq!(ss.accounts(), Vec::<String>::new());
    let check = pcmetrics(
        &data,
        &["--config", config.to_str().unwrap(), "config", "check"],
        &env,
    );
    assert!(check.status.success(), "{}", text(&check));
}

/// No session bus at all (a headless box, an SSH session): the form writes typed secrets
/// into the user-only file and says so; a reference is an error naming the key and the fix.
#[test]
fn without_a_session_bus_the_form_falls_back_to_the_file_and_references_fail_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    let cfg = config.to_str().unwrap();
    // `isolate` removes DBUS_SESSION_BUS_ADDRESS and points XDG_RUNTIME_DIR where no bus is.
    let no_bus: Vec<(String, String)> = Vec::new();
    let notice = save_form(
        &no_bus,
        &config,
        &data,
        json!({
            "storage_kind": "s3",
            "endpoint": "https://s3.example",
            "bucket": "warehouse",
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
        }),
    )
    .unwrap()
    .expect("the save says where the secrets went");
    assert!(notice.starts_with("No OS keyring is running ("), "{notice}");
    assert!(
        notice.contains(
            "storage.access_key_id, storage.secret_access_key were written into the config file"
        ),
        "{notice}"
    );
    assert!(notice.contains(cfg), "{notice}");
    assert!(
        !notice.contains(SECRET) && !notice.contains(KEY_ID),
        "{notice}"
    );
    let bytes = std::fs::read(&config).unwrap();
    assert!(contains(&bytes, SECRET) && references(&config).is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the fallback file is the user's only");
    }
    let check = pcmetrics(&data, &["--config", cfg, "config", "check"], &no_bus);
    assert!(check.status.success(), "{}", text(&check));

    // A reference with no keyring to resolve it.
    std::fs::write(
        &config,
        "[storage]\nkind = \"s3\"\nendpoint = \"https://s3.example\"\nbucket = \"warehouse\"\n\
         access_key_id = \"AKINFILE\"\nsecret_access_key = { keyring = \"storage.secret_access_key@elsewhere\" }\n",
    )
    .unwrap();
    let out = pcmetrics(&data, &["--config", cfg, "config", "check"], &no_bus);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: storage.secret_access_key: is kept in the OS keyring (service \"pcmetrics\", account \"storage.secret_access_key@elsewhere\"), but no keyring is reachable ("),
        "{err}"
    );
    assert!(
        err.contains("set PCMETRICS_STORAGE__SECRET_ACCESS_KEY instead"),
        "{err}"
    );
    // The fix it names works.
    let out = pcmetrics(
        &data,
        &["--config", cfg, "config", "check"],
        &[("PCMETRICS_STORAGE__SECRET_ACCESS_KEY", "from-env")],
    );
    assert!(out.status.success(), "{}", text(&out));
}
