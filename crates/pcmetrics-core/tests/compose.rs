//! docker-compose.yml, the .env that `scripts/compose-init` writes and config/compose.toml
//! must describe one stack that is safe on a café Wi-Fi: every port on 127.0.0.1, no
//! credential committed, random keys generated on first use, and pcmetrics and the REST
//! catalog each on their own key limited to the warehouse bucket, never MinIO's root user.
//! A user who runs `scripts/compose-init`, `docker compose up -d` and
//! `scripts/compose-init exec pcmetrics --config config/compose.toml run` must reach MinIO and
//! the catalog with the right bucket, region and key.
//!
//! Docker is not needed: the files are read the way compose and the shell read them, and the
//! script runs for real against temporary directories (the repository's own .env, if any,
//! is never read or touched).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pcmetrics_core::config::{CatalogSettings, Config, S3Settings, StorageSettings};

type Env = HashMap<String, String>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn compose() -> serde_yaml::Value {
    serde_yaml::from_str(&read("docker-compose.yml")).unwrap()
}

const SERVICES: [&str; 3] = ["minio", "minio-init", "iceberg-rest"];

/// The credentials `scripts/compose-init` writes into .env: key ids and secrets.
const CREDENTIALS: [&str; 6] = [
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "PCMETRICS_S3_KEY_ID",
    "PCMETRICS_S3_SECRET",
    "ICEBERG_REST_S3_KEY_ID",
    "ICEBERG_REST_S3_SECRET",
];
const SECRETS: [&str; 3] = [
    "MINIO_ROOT_PASSWORD",
    "PCMETRICS_S3_SECRET",
    "ICEBERG_REST_S3_SECRET",
];
const KEY_IDS: [&str; 3] = [
    "MINIO_ROOT_USER",
    "PCMETRICS_S3_KEY_ID",
    "ICEBERG_REST_S3_KEY_ID",
];
/// Credentials once published with this project or with MinIO itself.
const PUBLISHED: [&str; 2] = ["pcmetrics-dev-secret", "minioadmin"];

/// A name that holds a credential, in compose environments and pcmetrics config keys alike.
fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "ACCESS_KEY",
        "KEY_ID",
        "_USER",
        "MC_HOST",
    ]
    .iter()
    .any(|s| n.contains(s))
}

// ---------------------------------------------------------------------------------------
// Reading .env and compose the way docker compose does.

/// .env as compose reads it: KEY=VALUE lines, comments and blanks skipped, quotes dropped.
fn parse_env(text: &str) -> Env {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let k = k.trim().trim_start_matches("export ").trim();
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// One piece of a compose string: text, or a `${NAME<op><arg>}` / `$NAME` reference.
#[derive(Debug)]
enum Piece<'a> {
    Text(&'a str),
    Ref {
        name: &'a str,
        op: &'a str,
        arg: &'a str,
    },
}

fn name_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

/// Splits a compose string into text and references; `$$` is a literal `$`.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push(Piece::Text(&rest[..i]));
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {s:?}"));
            let inner = &body[..end];
            let n = name_len(inner);
            let tail = &inner[n..];
            let op_len = ["?", ":?", "-", ":-", "+", ":+"]
                .iter()
                .filter(|op| tail.starts_with(**op))
                .map(|op| op.len())
                .max()
                .unwrap_or(0);
            out.push(Piece::Ref {
                name: &inner[..n],
                op: &tail[..op_len],
                arg: &tail[op_len..],
            });
            rest = &body[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                out.push(Piece::Text("$"));
            } else {
                out.push(Piece::Ref {
                    name: &after[..n],
                    op: "",
                    arg: "",
                });
            }
            rest = &after[n..];
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// Compose's interpolation; a missing `${NAME:?message}` is an error carrying the message,
/// as `docker compose` stops with it.
fn interpolate(s: &str, env: &Env) -> Result<String, String> {
    let mut out = String::new();
    for p in pieces(s) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref { name, op, arg } => {
                let v = env.get(name).map(String::as_str);
                let set_nonempty = v.is_some_and(|v| !v.is_empty());
                match op {
                    ":?" if !set_nonempty => return Err(format!("{name}: {arg}")),
                    "?" if v.is_none() => return Err(format!("{name}: {arg}")),
                    ":-" if !set_nonempty => out.push_str(arg),
                    "-" if v.is_none() => out.push_str(arg),
                    ":+" | "+" => {}
                    _ => out.push_str(v.unwrap_or("")),
                }
            }
        }
    }
    Ok(out)
}

fn refs(s: &str) -> Vec<(String, String, String)> {
    pieces(s)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref { name, op, arg } => Some((name.into(), op.into(), arg.into())),
            Piece::Text(_) => None,
        })
        .collect()
}

/// A service's `environment`, raw (map or `KEY=VALUE` list form).
fn raw_environment(compose: &serde_yaml::Value, svc: &str) -> Vec<(String, String)> {
    match &compose["services"][svc]["environment"] {
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Null => String::new(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                };
                (k.as_str().unwrap().to_owned(), v)
            })
            .collect(),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let (k, v) = i.as_str().unwrap().split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        serde_yaml::Value::Null => Vec::new(),
        other => panic!("{svc}.environment: {other:?}"),
    }
}

/// A service's environment as the container gets it.
fn environment(compose: &serde_yaml::Value, svc: &str, env: &Env) -> Env {
    raw_environment(compose, svc)
        .into_iter()
        .map(|(k, v)| {
            let v = interpolate(&v, env).unwrap_or_else(|e| panic!("{svc}.{k}: {e}"));
            (k, v)
        })
        .collect()
}

/// A published port, short syntax `[IP:]HOST:CONTAINER[/proto]` or long syntax.
#[derive(Debug)]
struct Published {
    host_ip: Option<String>,
    host_port: String,
    container_port: String,
}

fn published(compose: &serde_yaml::Value, svc: &str) -> Vec<Published> {
    let Some(ports) = compose["services"][svc]["ports"].as_sequence() else {
        return Vec::new();
    };
    ports
        .iter()
        .map(|p| match p {
            serde_yaml::Value::Mapping(_) => Published {
                host_ip: p["host_ip"].as_str().map(str::to_owned),
                host_port: yaml_scalar(&p["published"]),
                container_port: yaml_scalar(&p["target"]),
            },
            _ => {
                let s = yaml_scalar(p);
                let s = s.split('/').next().unwrap();
                let parts: Vec<&str> = s.rsplitn(3, ':').collect();
                match parts.as_slice() {
                    [c, h, ip] => Published {
                        host_ip: Some((*ip).to_owned()),
                        host_port: (*h).to_owned(),
                        container_port: (*c).to_owned(),
                    },
                    [c, h] => Published {
                        host_ip: None,
                        host_port: (*h).to_owned(),
                        container_port: (*c).to_owned(),
                    },
                    _ => Published {
                        host_ip: None,
                        host_port: String::new(),
                        container_port: s.to_owned(),
                    },
                }
            }
        })
        .collect()
}

fn yaml_scalar(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// minio-init's shell script as the container runs it: compose interpolation done, then the
/// shell's `$NAME` / `${NAME}` expansion of the container's environment.
fn init_script(compose: &serde_yaml::Value, env: &Env) -> (String, Env) {
    let svc = &compose["services"]["minio-init"];
    let raw = match &svc["entrypoint"] {
        serde_yaml::Value::Sequence(s) => s.last().unwrap().as_str().unwrap().to_owned(),
        serde_yaml::Value::String(s) => s.clone(),
        other => panic!("minio-init.entrypoint: {other:?}"),
    };
    let container_env = environment(compose, "minio-init", env);
    let script = interpolate(&raw, env).unwrap();
    let mut expanded = String::new();
    for p in pieces(&script) {
        match p {
            Piece::Text(t) => expanded.push_str(t),
            Piece::Ref { name, op, arg } => match container_env.get(name) {
                Some(v) if op.is_empty() => expanded.push_str(v),
                _ if op.is_empty() && arg.is_empty() && !name.is_empty() => {
                    expanded.push('$');
                    expanded.push_str(name);
                }
                _ => panic!("minio-init uses ${{{name}{op}{arg}}}, which its environment lacks"),
            },
        }
    }
    (expanded, container_env)
}

// ---------------------------------------------------------------------------------------
// Running scripts/compose-init against a temporary .env.

fn compose_init(env_file: &Path, args: &[&str]) -> Output {
    let script = repo().join("scripts/compose-init");
    Command::new(&script)
        .args(args)
        .env("PCMETRICS_COMPOSE_ENV", env_file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()))
}

fn ok(out: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

fn assert_no_credentials_in(text: &str, env: &Env, what: &str) {
    for name in CREDENTIALS {
        let v = &env[name];
        assert!(!text.contains(v.as_str()), "{what} printed {name}: {text}");
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fresh .env from the script, in its own temporary directory.
fn generated() -> (tempfile::TempDir, PathBuf, Env) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env");
    let out = compose_init(&file, &[]);
    let printed = ok(&out, "scripts/compose-init");
    let env = parse_env(&std::fs::read_to_string(&file).unwrap());
    assert_no_credentials_in(&printed, &env, "scripts/compose-init");
    (dir, file, env)
}

fn pcmetrics_settings(env: impl IntoIterator<Item = (String, String)>) -> (S3Settings, String) {
    let text = read("config/compose.toml");
    let config = Config::from_toml_with_env("config/compose.toml", &text, env).unwrap();
    let data = tempfile::tempdir().unwrap();
    let settings = config.validate(Some(data.path())).unwrap();
    assert_eq!(settings.table_ident(), "bronze.pc_metrics");
    let StorageSettings::S3(s3) = settings.storage else {
        panic!("compose.toml must use s3 storage")
    };
    let CatalogSettings::Rest { uri, .. } = settings.catalog else {
        panic!("compose.toml must use the REST catalog")
    };
    (s3, uri)
}

// ---------------------------------------------------------------------------------------

#[test]
fn every_published_port_binds_loopback_only() {
    let compose = compose();
    let mut seen = 0;
    for (name, svc) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            svc["network_mode"].as_str() != Some("host"),
            "{name}: network_mode host publishes every port on every interface"
        );
        for p in published(&compose, name) {
            seen += 1;
            assert_eq!(
                p.host_ip.as_deref(),
                Some("127.0.0.1"),
                "{name}: {p:?} must be published as \"127.0.0.1:HOST:CONTAINER\" (without an IP, \
                 docker listens on every interface)"
            );
            assert!(
                !p.host_port.is_empty(),
                "{name}: {p:?} needs a fixed host port"
            );
        }
    }
    assert_eq!(seen, 3, "MinIO's S3 API and console, and the REST catalog");
}

#[test]
fn no_credential_is_written_into_compose_or_the_pcmetrics_config() {
    let text = read("docker-compose.yml");
    let compose = compose();
    for literal in PUBLISHED {
        assert!(
            !text.contains(literal),
            "docker-compose.yml contains {literal:?}"
        );
    }
    // Every credential-looking variable is one `${VAR:?...}` reference, nothing literal.
    for svc in SERVICES {
        for (key, value) in raw_environment(&compose, svc) {
            if !looks_secret(&key) {
                continue;
            }
            let pieces = pieces(value.trim());
            assert!(
                matches!(
                    pieces.as_slice(),
                    [Piece::Text(""), Piece::Ref { .. }, Piece::Text("")]
                ),
                "{svc}.{key} = {value:?}: a credential must be exactly one ${{VAR}} from .env"
            );
        }
    }
    // Credentials in URLs (MC_HOST_*, endpoints) come from variables too.
    for (i, _) in text.match_indices("://") {
        let rest = &text[i + 3..];
        let host_end = rest
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"')
            .unwrap_or(rest.len());
        if let Some((userinfo, _)) = rest[..host_end].rsplit_once('@') {
            for part in userinfo.split(':') {
                assert!(
                    part.starts_with('$'),
                    "a literal credential in a URL: {userinfo:?}"
                );
            }
        }
    }

    // config/compose.toml: no key anywhere, so validating it without the environment fails
    // on the missing key (the key comes from scripts/compose-init exec).
    let toml_text = read("config/compose.toml");
    for literal in PUBLISHED {
        assert!(
            !toml_text.contains(literal),
            "config/compose.toml contains {literal:?}"
        );
    }
    let table: toml::Table = toml_text.parse().unwrap();
    fn walk(prefix: &str, t: &toml::Table) {
        for (k, v) in t {
            let key = format!("{prefix}{k}");
            assert!(
                !looks_secret(k),
                "config/compose.toml sets {key}: keys belong in .env"
            );
            if let toml::Value::Table(inner) = v {
                walk(&format!("{key}."), inner);
            }
        }
    }
    walk("", &table);
    let err = Config::from_toml_with_env("config/compose.toml", &toml_text, Vec::new())
        .unwrap()
        .validate(Some(tempfile::tempdir().unwrap().path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("storage.access_key_id: is not set"),
        "{err}"
    );
}

#[test]
fn compose_stops_with_the_fix_when_env_was_not_generated() {
    let compose = compose();
    let (_dir, _file, generated) = generated();
    let mut checked = 0;
    for svc in SERVICES {
        for (key, value) in raw_environment(&compose, svc) {
            for (name, op, arg) in refs(&value) {
                checked += 1;
                assert!(
                    op == ":?" && arg.contains("scripts/compose-init"),
                    "{svc}.{key} = {value:?}: write ${{{name}:?run scripts/compose-init first}} so \
                     compose stops with the fix instead of running with an empty value"
                );
                assert!(
                    generated.contains_key(&name),
                    "{svc}.{key} uses {name}, which scripts/compose-init does not write"
                );
            }
            if !refs(&value).is_empty() {
                let err = interpolate(&value, &Env::new()).unwrap_err();
                assert!(err.contains("run scripts/compose-init first"), "{err}");
            }
        }
    }
    assert!(checked >= 10, "only {checked} references");
}

#[test]
fn dotenv_is_git_ignored_and_no_credential_is_committed() {
    // .gitignore, read as git reads it (root-level names; the last match wins).
    let gitignore = read(".gitignore");
    let ignored = |name: &str| {
        let mut ignored = false;
        for line in gitignore.lines().map(str::trim_end) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            let pat = pat.strip_prefix('/').unwrap_or(pat);
            if !pat.trim_end_matches('/').contains('/') && glob(pat, name) {
                ignored = !negate;
            }
        }
        ignored
    };
    assert!(ignored(".env"), ".env must be in .gitignore");
    // The script's temporary file, if it is interrupted while writing.
    assert!(ignored(".env.Ab12Cd"), ".env.* must be in .gitignore");

    // No tracked .env* file holds a credential (a .env.example without values would pass).
    let out = Command::new("git")
        .arg("-C")
        .arg(repo())
        .args(["ls-files", "-z"])
        .output()
        .expect("git must be installed: the test reads the index");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    for path in listing.split('\0').filter(|p| {
        let base = p.rsplit('/').next().unwrap();
        base == ".env" || base.starts_with(".env.")
    }) {
        let shown = Command::new("git")
            .arg("-C")
            .arg(repo())
            .args(["show", &format!(":{path}")])
            .output()
            .unwrap();
        let committed = parse_env(&String::from_utf8_lossy(&shown.stdout));
        for (k, v) in &committed {
            assert!(
                !looks_secret(k) || v.is_empty(),
                "{path} is committed with {k} set: `git rm {path}`; scripts/compose-init \
                 generates it"
            );
        }
    }
}

/// `*` and `?` globbing of one path component, as .gitignore uses it.
fn glob(pat: &str, name: &str) -> bool {
    match pat.chars().next() {
        None => name.is_empty(),
        Some('*') => (0..=name.len())
            .filter(|i| name.is_char_boundary(*i))
            .any(|i| glob(&pat[1..], &name[i..])),
        Some('?') => {
            let mut c = name.chars();
            c.next().is_some() && glob(&pat[1..], c.as_str())
        }
        Some(p) => name.starts_with(p) && glob(&pat[p.len_utf8()..], &name[p.len_utf8()..]),
    }
}

#[cfg(unix)]
#[test]
fn compose_init_writes_random_private_keys_once_and_never_prints_them() {
    let (dir_a, a, env_a) = generated();
    let (_dir_b, _b, env_b) = generated();
    let first = std::fs::read_to_string(&a).unwrap();

    assert_eq!(mode(&a), 0o600, "only the user may read .env");
    for name in CREDENTIALS
        .iter()
        .chain(&["AWS_REGION", "WAREHOUSE_BUCKET"])
    {
        assert!(env_a.contains_key(*name), "{name} missing from .env");
    }
    for name in SECRETS {
        let v = &env_a[name];
        // 128 bits at least: hex digits carry 4 bits each. At most 40 characters: the
        // longest secret every S3 client takes.
        assert!(
            v.len() >= 32 && v.len() <= 40 && v.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name} has {} characters; want 32-40 random hex digits",
            v.len()
        );
    }
    for name in KEY_IDS {
        let v = &env_a[name];
        assert!(
            (3..=20).contains(&v.len()) && !v.contains(['=', ',', ':', '@', '/']),
            "{name} = {v:?}: an access key is 3-20 characters, without = , : @ /"
        );
    }
    for name in CREDENTIALS {
        assert_ne!(
            env_a[name], env_b[name],
            "{name} is the same in two fresh .env files"
        );
    }
    let ids: BTreeSet<_> = KEY_IDS.iter().map(|n| &env_a[*n]).collect();
    assert_eq!(
        ids.len(),
        3,
        "root, pcmetrics and the catalog need three distinct keys"
    );

    // A rerun keeps the file as it is.
    let printed = ok(&compose_init(&a, &[]), "second run");
    assert_no_credentials_in(&printed, &env_a, "second run");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), first);
    assert_eq!(mode(&a), 0o600);

    // A missing variable is added, the others kept, a loose mode tightened.
    let without: String = first
        .lines()
        .filter(|l| !l.starts_with("PCMETRICS_S3_SECRET="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&a, without).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let printed = ok(&compose_init(&a, &[]), "run on an incomplete .env");
    let completed = parse_env(&std::fs::read_to_string(&a).unwrap());
    assert_no_credentials_in(&printed, &completed, "run on an incomplete .env");
    assert_eq!(mode(&a), 0o600);
    for (k, v) in &env_a {
        if k != "PCMETRICS_S3_SECRET" {
            assert_eq!(&completed[k], v, "{k} changed");
        }
    }
    assert_ne!(
        completed["PCMETRICS_S3_SECRET"],
        env_a["PCMETRICS_S3_SECRET"]
    );
    assert_eq!(completed["PCMETRICS_S3_SECRET"].len(), 40);

    // rotate: new secrets, same key ids, nothing shown.
    let printed = ok(&compose_init(&a, &["rotate"]), "rotate");
    let rotated = parse_env(&std::fs::read_to_string(&a).unwrap());
    assert_no_credentials_in(&printed, &completed, "rotate");
    assert_no_credentials_in(&printed, &rotated, "rotate");
    assert_eq!(mode(&a), 0o600);
    for name in SECRETS {
        assert_ne!(rotated[name], completed[name], "rotate kept {name}");
    }
    for name in KEY_IDS {
        assert_eq!(rotated[name], completed[name], "rotate changed {name}");
    }

    // No temporary file left beside it (it would hold the secrets).
    let names: Vec<_> = std::fs::read_dir(dir_a.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [".env"]);
}

#[cfg(unix)]
#[test]
fn an_env_with_the_old_published_password_is_refused_until_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env");
    std::fs::write(
        &file,
        "MINIO_ROOT_USER=pcmetrics\nMINIO_ROOT_PASSWORD=pcmetrics-dev-secret\nAWS_REGION=us-east-1\n\
         WAREHOUSE_BUCKET=warehouse\n",
    )
    .unwrap();
    let out = compose_init(&file, &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a published root password was accepted"
    );
    assert!(
        text.contains("MINIO_ROOT_PASSWORD") && text.contains("rotate"),
        "{text}"
    );
    ok(&compose_init(&file, &["rotate"]), "rotate");
    let env = parse_env(&std::fs::read_to_string(&file).unwrap());
    assert_ne!(env["MINIO_ROOT_PASSWORD"], "pcmetrics-dev-secret");
    assert!(env.contains_key("PCMETRICS_S3_SECRET"));
    ok(&compose_init(&file, &[]), "run after rotate");
}

#[cfg(unix)]
#[test]
fn pcmetrics_runs_with_its_own_key_never_root() {
    let (_dir, file, env) = generated();
    // A key left in the caller's shell must not win over the stack's key.
    let out = Command::new(repo().join("scripts/compose-init"))
        .args(["exec", "env"])
        .env("PCMETRICS_COMPOSE_ENV", &file)
        .env("PCMETRICS_STORAGE__ACCESS_KEY_ID", "stray-key")
        .env("PCMETRICS_STORAGE__SECRET_ACCESS_KEY", "stray-secret")
        .output()
        .unwrap();
    let stdout = ok(&out, "scripts/compose-init exec env");
    let child: Env = parse_env(&stdout);
    assert_eq!(child["AWS_ACCESS_KEY_ID"], env["PCMETRICS_S3_KEY_ID"]);
    assert_eq!(child["AWS_SECRET_ACCESS_KEY"], env["PCMETRICS_S3_SECRET"]);
    assert!(!child.contains_key("PCMETRICS_STORAGE__ACCESS_KEY_ID"));
    assert!(!child.contains_key("PCMETRICS_STORAGE__SECRET_ACCESS_KEY"));
    for name in [
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "ICEBERG_REST_S3_SECRET",
    ] {
        assert!(
            !stdout.contains(&env[name]),
            "pcmetrics' environment holds {name}"
        );
    }

    // pcmetrics, given that environment, uses that key.
    let (s3, _) = pcmetrics_settings(child);
    assert_eq!(s3.access_key_id.expose(), env["PCMETRICS_S3_KEY_ID"]);
    assert_eq!(s3.secret_access_key.expose(), env["PCMETRICS_S3_SECRET"]);
    assert_ne!(s3.access_key_id.expose(), env["MINIO_ROOT_USER"]);
    assert_ne!(s3.secret_access_key.expose(), env["MINIO_ROOT_PASSWORD"]);

    // Without a generated .env it says what to run.
    let missing = Command::new(repo().join("scripts/compose-init"))
        .args(["exec", "true"])
        .env("PCMETRICS_COMPOSE_ENV", file.with_file_name("absent.env"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run scripts/compose-init"));
}

const BUCKET_ACTIONS: [&str; 3] = [
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
];
const OBJECT_ACTIONS: [&str; 5] = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

#[test]
fn minio_init_gives_pcmetrics_and_the_catalog_keys_limited_to_the_bucket() {
    let compose = compose();
    let (_dir, _file, env) = generated();
    let (script, container_env) = init_script(&compose, &env);
    let bucket = &env["WAREHOUSE_BUCKET"];
    let lines: Vec<String> = script.lines().map(|l| l.trim().replace('"', "")).collect();
    let has = |want: &str| lines.iter().any(|l| l == want);

    // The init signs in as root without putting the password on a command line.
    let root_url = format!(
        "export MC_HOST_local=http://{}:{}@minio:9000",
        env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]
    );
    assert!(
        has(&root_url),
        "minio-init must sign in as root through MC_HOST_local:\n{script}"
    );
    assert!(
        has(&format!("mc mb --ignore-existing local/{bucket}")),
        "{script}"
    );

    // The policy: exactly the bucket, only the actions pcmetrics and the catalog use.
    let create = lines
        .iter()
        .position(|l| l.starts_with("mc admin policy create local "))
        .unwrap_or_else(|| panic!("minio-init creates no policy:\n{script}"));
    let words: Vec<&str> = lines[create].split_whitespace().collect();
    let policy_name = words[5];
    assert_eq!(
        &words[6..],
        ["/dev/stdin", "<<EOF"],
        "the policy is a here-document"
    );
    let body: Vec<&str> = script
        .lines()
        .skip(create + 1)
        .take_while(|l| l.trim() != "EOF")
        .collect();
    let policy: serde_json::Value = serde_json::from_str(&body.join("\n"))
        .unwrap_or_else(|e| panic!("policy JSON: {e}\n{}", body.join("\n")));
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let objects_arn = format!("arn:aws:s3:::{bucket}/*");
    let mut granted = BTreeSet::new();
    for st in policy["Statement"].as_array().unwrap() {
        let keys: BTreeSet<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys.is_subset(&BTreeSet::from(["Sid", "Effect", "Action", "Resource"])),
            "{st}: no Principal, Condition, NotAction or NotResource"
        );
        assert_eq!(st["Effect"], "Allow");
        let strings = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => {
                    a.iter().map(|s| s.as_str().unwrap().to_owned()).collect()
                }
                other => panic!("{other}"),
            }
        };
        let resources = strings(&st["Resource"]);
        for action in strings(&st["Action"]) {
            let allowed_on = if BUCKET_ACTIONS.contains(&action.as_str()) {
                &bucket_arn
            } else if OBJECT_ACTIONS.contains(&action.as_str()) {
                &objects_arn
            } else {
                panic!("{action} is more than pcmetrics and the catalog need")
            };
            assert_eq!(
                resources,
                std::slice::from_ref(allowed_on),
                "{action} must apply to {allowed_on} only"
            );
            granted.insert(action);
        }
    }
    for needed in [
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ] {
        assert!(granted.contains(needed), "the policy lacks {needed}");
    }

    // Each key: created with its secret on stdin, then given the policy.
    for (id, secret) in [
        ("PCMETRICS_S3_KEY_ID", "PCMETRICS_S3_SECRET"),
        ("ICEBERG_REST_S3_KEY_ID", "ICEBERG_REST_S3_SECRET"),
    ] {
        let (id, secret) = (&env[id], &env[secret]);
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with("| mc admin user add local")
                    && l.contains(id.as_str())
                    && l.contains(secret.as_str())),
            "minio-init must add user {id} with its secret:\n{script}"
        );
        assert!(
            has(&format!(
                "mc admin policy attach local {policy_name} --user {id}"
            )),
            "minio-init must attach {policy_name} to {id}:\n{script}"
        );
        assert_ne!(id, &env["MINIO_ROOT_USER"]);
    }

    // No secret is an argument of mc (`ps` shows arguments to every user of the host).
    for l in &lines {
        let command = l.rsplit('|').next().unwrap().trim();
        if command.starts_with("mc ") {
            for name in SECRETS {
                assert!(
                    !command.contains(&env[name]),
                    "{name} on mc's command line: {l}"
                );
            }
        }
    }
    assert_eq!(container_env["WAREHOUSE_BUCKET"], *bucket);
}

#[test]
fn the_catalog_does_not_use_root() {
    let compose = compose();
    let (_dir, _file, env) = generated();
    for (key, value) in raw_environment(&compose, "iceberg-rest") {
        for (name, _, _) in refs(&value) {
            assert!(
                !name.starts_with("MINIO_ROOT"),
                "iceberg-rest.{key} uses {name}"
            );
        }
    }
    let rest = environment(&compose, "iceberg-rest", &env);
    assert_eq!(rest["AWS_ACCESS_KEY_ID"], env["ICEBERG_REST_S3_KEY_ID"]);
    assert_eq!(rest["AWS_SECRET_ACCESS_KEY"], env["ICEBERG_REST_S3_SECRET"]);
    assert_ne!(rest["AWS_ACCESS_KEY_ID"], env["MINIO_ROOT_USER"]);
    assert_ne!(rest["AWS_SECRET_ACCESS_KEY"], env["MINIO_ROOT_PASSWORD"]);
    assert_ne!(rest["AWS_ACCESS_KEY_ID"], env["PCMETRICS_S3_KEY_ID"]);
}

#[test]
fn compose_stack_env_and_pcmetrics_config_agree() {
    let compose = compose();
    let (_dir, _file, env) = generated();
    let (s3, uri) = pcmetrics_settings([
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            env["PCMETRICS_S3_KEY_ID"].clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            env["PCMETRICS_S3_SECRET"].clone(),
        ),
    ]);
    let minio = environment(&compose, "minio", &env);
    let rest = environment(&compose, "iceberg-rest", &env);

    // Ports: pcmetrics points at 127.0.0.1 and the host port of MinIO's S3 API / the catalog.
    // Ports: pcmetrics points at the address and port where MinIO's S3 API and the catalog
    // are published.
    let address = |svc: &str, container: &str| -> String {
        let p = published(&compose, svc)
            .into_iter()
            .find(|p| p.container_port == container)
            .unwrap_or_else(|| panic!("{svc} does not publish {container}"));
        format!(
            "http://{}:{}",
            p.host_ip.as_deref().unwrap_or("0.0.0.0"),
            p.host_port
        )
    };
    assert_eq!(s3.endpoint.as_deref().unwrap(), address("minio", "9000"));
    assert!(
        published(&compose, "minio")
            .iter()
            .any(|p| p.container_port == "9001"),
        "console port"
    );
    assert_eq!(uri.trim_end_matches('/'), address("iceberg-rest", "8181"));

    // Bucket: the .env names it, the init creates it, the catalog's warehouse and pcmetrics'
    // landing zone are in it.
    assert_eq!(s3.bucket, env["WAREHOUSE_BUCKET"]);
    let (script, _) = init_script(&compose, &env);
    let mb = format!("mc mb --ignore-existing local/{}", s3.bucket);
    assert!(
        script.lines().any(|l| l.trim().replace('"', "") == mb),
        "minio-init must run `{mb}`:\n{script}"
    );
    assert!(
        rest["CATALOG_WAREHOUSE"].starts_with(&format!("s3://{}/", s3.bucket)),
        "{}",
        rest["CATALOG_WAREHOUSE"]
    );
    assert_eq!(rest["CATALOG_S3_PATH__STYLE__ACCESS"], "true");
    assert_eq!(rest["CATALOG_S3_ENDPOINT"], "http://minio:9000");
    assert!(s3.path_style);

    // Region.
    assert_eq!(env["AWS_REGION"], s3.region);
    assert_eq!(minio["MINIO_REGION"], s3.region);
    assert_eq!(rest["AWS_REGION"], s3.region);

    // MinIO's root user is the one in .env (and only MinIO and the init know it).
    assert_eq!(minio["MINIO_ROOT_USER"], env["MINIO_ROOT_USER"]);
    assert_eq!(minio["MINIO_ROOT_PASSWORD"], env["MINIO_ROOT_PASSWORD"]);
}
