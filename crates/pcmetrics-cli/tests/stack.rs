//! `pcmetrics sync` against the S3 + REST test stack when something is wrong: a wrong key,
//! an unreachable endpoint, a missing bucket, a catalog that answers errors. Each gives
//! one clear message naming what to fix, exit code 1, and keeps the samples pending; the
//! next sync after the fix delivers them all, once.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use common::{pcmetrics, text};
use stack::{Stack, unique_table};

fn run(data_dir: &Path, config: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    pcmetrics(data_dir, &all, env)
}

fn status(data_dir: &Path, config: &Path, env: &[(&str, String)]) -> serde_json::Value {
    let o = run(data_dir, config, &["status", "--json"], env);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A catalog that answers every request with `status` and a JSON error body.
fn failing_catalog(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(200) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let body = format!(
                r#"{{"error":{{"message":"injected failure","type":"InternalServerError","code":{status}}}}}"#
            );
            let _ = write!(
                conn,
                "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// Simulates samples, breaks the config with `break_it`, checks the failed sync, restores
/// the config and checks that the next sync delivers everything once.
fn scenario(
    name: &str,
    break_it: impl Fn(&Stack, &str) -> (String, Vec<(&'static str, String)>),
    expect: &[&str],
) {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table(name);
    let good = stack.config_toml(&table);
    let good_env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    let cfg = dir.path().join("pcmetrics.toml");

    std::fs::write(&cfg, &good).unwrap();
    let o = run(
        dir.path(),
        &cfg,
        &["simulate", "--samples", "1500"],
        &good_env,
    );
    assert!(o.status.success(), "{}", text(&o));

    let (bad, bad_env) = break_it(&stack, &good);
    std::fs::write(&cfg, &bad).unwrap();
    let o = run(dir.path(), &cfg, &["sync"], &bad_env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{name}: {out}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: sync failed: "), "{name}: {out}");
    for e in expect {
        assert!(
            first.contains(e),
            "{name}: expected {e:?} in the message: {out}"
        );
    }
    assert!(
        stderr.contains("1500 samples stay pending"),
        "{name}: {out}"
    );
    assert!(
        !out.contains(&stack.secret),
        "{name}: the secret leaked: {out}"
    );
    assert_eq!(
        status(dir.path(), &cfg, &bad_env)["buffer"]["pending"],
        1500,
        "{name}"
    );

    std::fs::write(&cfg, &good).unwrap();
    let o = run(dir.path(), &cfg, &["sync", "--json"], &good_env);
    assert!(o.status.success(), "{name}: {}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rows"], 1500, "{name}: {report}");
    let st = status(dir.path(), &cfg, &good_env);
    assert_eq!(st["buffer"]["pending"], 0, "{name}");
    assert!(
        st["metadata_location"]
            .as_str()
            .unwrap()
            .starts_with(&format!("s3://{}/", stack.bucket)),
        "{st}"
    );
}

#[test]
fn wrong_secret_names_the_credentials() {
    scenario(
        "wrongkey",
        |stack, good| {
            (
                good.to_owned(),
                vec![
                    ("AWS_ACCESS_KEY_ID", stack.key_id.clone()),
                    ("AWS_SECRET_ACCESS_KEY", "0".repeat(64)),
                ],
            )
        },
        &["storage.access_key_id", "storage.secret_access_key"],
    );
}

#[test]
fn unreachable_endpoint_names_the_endpoint() {
    scenario(
        "unreachable",
        |stack, good| {
            (
                good.replace(&stack.endpoint, "http://127.0.0.1:9"),
                stack.aws_env().into_iter().collect(),
            )
        },
        &[
            "http://127.0.0.1:9",
            "is the server running at storage.endpoint?",
        ],
    );
}

#[test]
fn missing_bucket_names_the_bucket() {
    scenario(
        "nobucket",
        |stack, good| {
            (
                good.replace(
                    &format!("bucket = \"{}\"", stack.bucket),
                    "bucket = \"no-such-bucket\"",
                ),
                stack.aws_env().into_iter().collect(),
            )
        },
        &["no-such-bucket", "storage.bucket"],
    );
}

#[test]
fn catalog_errors_name_the_catalog() {
    for code in [500u16, 503] {
        scenario(
            &format!("catalog{code}"),
            |stack, good| {
                let uri = failing_catalog(code);
                (
                    good.replace(&stack.rest_uri, &uri),
                    stack.aws_env().into_iter().collect(),
                )
            },
            &["REST catalog http://127.0.0.1:"],
        );
    }
}
