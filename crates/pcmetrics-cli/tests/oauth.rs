//! `pcmetrics` with a REST catalog behind OAuth2 (issue 12), against the loopback stack:
//! `scripts/oauth-proxy.py` in front of the REST catalog issues 3-second tokens for
//! `catalog.credential` and refuses every request without a valid, unexpired token.
//! `pcmetrics run` syncs across several token lifetimes, a one-shot `sync` survives its
//! token being revoked between two requests (401, one new token, one retry), and every
//! sample ends in the table once. The client secret, a secret `catalog.headers` value and
//! every token issued appear nowhere: not in the output of any command (also at `-vv`),
//! `config show`, `status --json`, nor in any file of the data dir.

mod common;
#[path = "../../pcmetrics-core/tests/common/oauth.rs"]
mod oauth;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::process::Output;
use std::time::Duration;

use common::{pcmetrics, text};
use oauth::{Client, OAuthProxy};
use stack::{Stack, unique_table};

const CLIENT_ID: &str = "pcm-cli-test";
const SECRET: &str = "planted-client-secret-1618";
const HEADER: &str = "planted-header-value-2236";

#[test]
fn oauth2_catalog_across_token_lifetimes_without_showing_secrets() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let proxy = OAuthProxy::start(
        &stack.rest_uri,
        Some(Client {
            id: CLIENT_ID,
            secret: SECRET,
        }),
        3,
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("pcmetrics.toml");
    let config = stack
        .config_toml(&unique_table("cli_oauth"))
        .replace(&stack.rest_uri, &proxy.uri)
        .replace(
            "[sync]",
            &format!(
                "credential = \"{CLIENT_ID}:{SECRET}\"\nallow_http = true\n\
                 [catalog.headers]\nX-Api-Key = \"{HEADER}\"\n[sync]\ninterval = \"1s\""
            ),
        );
    std::fs::write(&cfg, &config).unwrap();
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut run = |args: &[&str]| -> Output {
        let mut all = vec!["--config", cfg.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = pcmetrics(&data, &all, &env);
        outputs.push((args.join(" "), text(&o)));
        o
    };

    let show = run(&["config", "show"]);
    assert!(show.status.success(), "{}", text(&show));
    let shown = text(&show);
    assert!(shown.contains("credential = \"<redacted>\""), "{shown}");
    assert!(shown.contains("X-Api-Key = \"<redacted>\""), "{shown}");
    assert!(run(&["config", "check"]).status.success());

    // A one-shot sync whose token is revoked after its first catalog request.
    let o = run(&["simulate", "--samples", "400"]);
    assert!(o.status.success(), "{}", text(&o));
    proxy.revoke_after(1);
    let before = proxy.stats();
    let o = run(&["-vv", "sync"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = proxy.stats();
    assert!(
        after.rejected > before.rejected,
        "a 401 happened: {after:?}"
    );
    assert!(
        after.issued >= 2,
        "one token, then one after the 401: {after:?}"
    );

    // `run` keeps one process (and its token source) across several 3-second lifetimes,
    // syncing every second.
    let before = proxy.stats();
    let o = run(&["-vv", "run", "--for", "8s", "--source", "synthetic"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = proxy.stats();
    assert!(
        after.issued >= before.issued + 3,
        "tokens renewed while running: {before:?} -> {after:?}"
    );

    // Past the last token's expiry, then more samples and a sync.
    std::thread::sleep(Duration::from_millis(3_500));
    let o = run(&["simulate", "--samples", "200"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["-vv", "sync"]);
    assert!(o.status.success(), "{}", text(&o));
    let json = run(&["status", "--json"]);
    assert!(json.status.success(), "{}", text(&json));
    let o = run(&["status"]);
    assert!(o.status.success(), "{}", text(&o));

    // Every sample of the buffer is in the table once.
    let total = pcmetrics_core::pipeline::open_buffer(
        &pcmetrics_core::config::Config::from_toml_with_env(
            "test",
            &config,
            env.iter().map(|(k, v)| (k.to_string(), v.clone())),
        )
        .unwrap()
        .validate(Some(&data))
        .unwrap(),
    )
    .unwrap()
    .read_range(1, i64::MAX)
    .unwrap()
    .len();
    assert!(total > 600, "run sampled too: {total}");
    common::assert_exactly_once(&data, &config, &env, total, "oauth2");

    let stats = proxy.stats();
    assert!(stats.issued > 1, "{stats:?}");
    assert!(stats.tokens.iter().all(|t| t.len() > 10));
    let secrets: Vec<&str> = [SECRET, HEADER]
        .into_iter()
        .chain(stats.tokens.iter().map(String::as_str))
        .collect();
    for (command, output) in &outputs {
        for s in &secrets {
            assert!(!output.contains(s), "`{command}` shows {s}:\n{output}");
        }
    }
    for s in &secrets {
        let files = common::files_containing(&data, s);
        assert!(files.is_empty(), "{s} is stored in {files:?}");
    }
}
