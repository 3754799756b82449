//! REST catalogs behind OAuth2 and private CAs (issue 12), against the loopback stack:
//! `scripts/oauth-proxy.py` in front of the REST catalog issues short-lived tokens for
//! `catalog.credential` and refuses requests with a missing, expired or revoked token.
//! - tokens are renewed before they expire: syncs across several token lifetimes never
//!   send an expired token;
//! - a token revoked on the server costs one 401, one new token and one retry;
//! - a refused credential is a clear, non-retryable error that does not quote the secret;
//! - `catalog.ca_file` and `storage.ca_file`: catalog and S3 behind TLS servers whose
//!   certificate a private CA signed.
//!
//! Every sample ends in the table exactly once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::oauth::{Client, OAuthProxy, TestCa};
use common::stack::{Stack, unique_table};
use pcmetrics_core::buffer::SqliteBuffer;
use pcmetrics_core::config::{Config, Settings};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::SyntheticSource;
use pcmetrics_core::sync::Syncer;

const CLIENT: Client = Client {
    id: "pcm-core-test",
    secret: "planted-client-secret-3141",
};

/// The stack's config with the catalog at `catalog_uri` and `catalog_extra` lines in
/// `[catalog]`.
fn settings(
    stack: &Stack,
    dir: &std::path::Path,
    catalog_uri: &str,
    catalog_extra: &str,
) -> Settings {
    let text = stack
        .config_toml(&unique_table("oauth"))
        .replace(&stack.rest_uri, catalog_uri)
        .replace("[sync]", &format!("{catalog_extra}\n[sync]"));
    let env = stack.aws_env().map(|(k, v)| (k.to_owned(), v));
    Config::from_toml_with_env("test", &text, env)
        .unwrap()
        .validate(Some(dir))
        .unwrap()
}

fn credential() -> String {
    format!(
        "credential = \"{}:{}\"\nallow_http = true",
        CLIENT.id, CLIENT.secret
    )
}

struct Pc {
    host: HostIdentity,
    buffer: Arc<Mutex<SqliteBuffer>>,
    syncer: Syncer,
    next_us: i64,
}

impl Pc {
    fn new(settings: Settings, dir: &std::path::Path) -> Self {
        let host = HostIdentity::load_or_create(dir).unwrap();
        let buffer = Arc::new(Mutex::new(pipeline::open_buffer(&settings).unwrap()));
        let syncer = Syncer::new(settings, host.clone(), buffer.clone());
        Self {
            host,
            buffer,
            syncer,
            next_us: 1_700_000_000_000_000,
        }
    }

    fn sample(&mut self, n: usize) {
        let samples: Vec<_> = SyntheticSource::new(self.next_us, 1_000_000)
            .take(n)
            .collect();
        self.next_us += n as i64 * 1_000_000;
        self.buffer.lock().unwrap().append(&samples).unwrap();
    }

    /// Every sample of the buffer is in the table once, nothing pending.
    async fn assert_exactly_once(&self, expected: i64) {
        assert_eq!(self.buffer.lock().unwrap().status().unwrap().pending, 0);
        let rows = self
            .syncer
            .table()
            .await
            .unwrap()
            .scan_rows()
            .await
            .unwrap();
        let seqs = common::host_seqs(&rows, &self.host.host_id);
        assert_eq!(seqs, (1..=expected).collect::<Vec<_>>());
    }
}

/// Syncs across three lifetimes of a 4-second token: each sync after a pause gets a new
/// token, and none ever reaches the catalog expired (renewed ahead, so no 401 at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_before_they_expire() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let proxy = OAuthProxy::start(&stack.rest_uri, Some(CLIENT), 4, None);
    let dir = tempfile::tempdir().unwrap();
    let mut pc = Pc::new(
        settings(&stack, dir.path(), &proxy.uri, &credential()),
        dir.path(),
    );
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(4_500)).await;
        }
        let before = proxy.stats().issued;
        pc.sample(400);
        pc.syncer.sync().await.unwrap();
        assert!(
            proxy.stats().issued > before,
            "round {round}: the token of the last round expired, a new one was fetched"
        );
    }
    let stats = proxy.stats();
    assert_eq!(
        stats.rejected, 0,
        "no request carried an expired token: {stats:?}"
    );
    assert!(stats.scopes.iter().all(|s| s == "catalog"), "{stats:?}");
    pc.assert_exactly_once(1200).await;
}

/// A token revoked on the server: the next catalog request gets a 401, pcmetrics fetches
/// exactly one new token and the request succeeds on its retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_costs_one_new_token_and_one_retry() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    // Long-lived tokens: only revocation ends them here.
    let proxy = OAuthProxy::start(&stack.rest_uri, Some(CLIENT), 3600, None);
    let dir = tempfile::tempdir().unwrap();
    let mut pc = Pc::new(
        settings(&stack, dir.path(), &proxy.uri, &credential()),
        dir.path(),
    );
    pc.sample(300);
    pc.syncer.sync().await.unwrap();
    assert_eq!(proxy.stats().issued, 1);

    // Table loads and commits both recover; each revocation costs exactly one token.
    proxy.revoke();
    let table = pc.syncer.table().await.unwrap();
    assert!(table.load().await.unwrap().is_some());
    let stats = proxy.stats();
    assert_eq!(stats.issued, 2, "{stats:?}");
    assert!(stats.rejected >= 1, "{stats:?}");
    for round in 0..2 {
        proxy.revoke();
        pc.sample(300);
        pc.syncer.sync().await.unwrap();
        assert_eq!(proxy.stats().issued, 3 + round, "round {round}");
    }
    // Mid-sync: the token dies after the sync's first request (loading the table), so
    // its commit gets the 401: the committer fetches one token and posts once more.
    let before = proxy.stats();
    proxy.revoke_after(1);
    pc.sample(300);
    pc.syncer.sync().await.unwrap();
    let stats = proxy.stats();
    assert_eq!(stats.issued, before.issued + 1, "{stats:?}");
    assert_eq!(stats.rejected, before.rejected + 1, "{stats:?}");
    pc.assert_exactly_once(1200).await;
}

/// A wrong secret: the sync fails with an error that names catalog.credential and is not
/// retried as if it could pass; the secret is not in it; samples stay pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_is_a_clear_error_without_the_secret() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let proxy = OAuthProxy::start(&stack.rest_uri, Some(CLIENT), 60, None);
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!(
        "credential = \"{}:planted-wrong-secret-2718\"\nallow_http = true",
        CLIENT.id
    );
    let mut pc = Pc::new(settings(&stack, dir.path(), &proxy.uri, &wrong), dir.path());
    pc.sample(100);
    let err = pc.syncer.sync().await.unwrap_err();
    let shown = format!("{err}\n{err:?}");
    assert!(shown.contains("check catalog.credential"), "{shown}");
    assert!(shown.contains("invalid_client"), "{shown}");
    assert!(!shown.contains("planted-wrong-secret-2718"), "{shown}");
    assert!(!err.is_retryable(), "{shown}");
    assert_eq!(pc.buffer.lock().unwrap().status().unwrap().pending, 100);
    assert_eq!(proxy.stats().issued, 0);
}

/// The catalog (with OAuth2) and S3 behind TLS servers whose certificate a private CA
/// signed: without the CA files the TLS handshake fails; with them every sample lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_files_reach_the_catalog_and_s3_clients() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::create(certs.path());
    let tls = Some((ca.cert.as_path(), ca.key.as_path()));
    let catalog = OAuthProxy::start(&stack.rest_uri, Some(CLIENT), 60, tls);
    let s3 = OAuthProxy::start(&stack.endpoint, None, 60, tls);
    assert!(catalog.uri.starts_with("https://") && s3.uri.starts_with("https://"));
    let build = |dir: &std::path::Path, storage_ca: bool, catalog_ca: bool| {
        let line = |on: bool| {
            if on {
                format!("ca_file = \"{}\"\n", ca.ca.display())
            } else {
                String::new()
            }
        };
        let text = stack
            .config_toml(&unique_table("tls"))
            .replace(&stack.rest_uri, &catalog.uri)
            .replace(&stack.endpoint, &s3.uri)
            .replace("[catalog]", &format!("{}[catalog]", line(storage_ca)))
            .replace(
                "[sync]",
                &format!(
                    "credential = \"{}:{}\"\n{}[sync]",
                    CLIENT.id,
                    CLIENT.secret,
                    line(catalog_ca)
                ),
            );
        let env = stack.aws_env().map(|(k, v)| (k.to_owned(), v));
        Config::from_toml_with_env("test", &text, env)
            .unwrap()
            .validate(Some(dir))
            .unwrap()
    };

    // Without one of the CA files, that client refuses the server's certificate.
    for (storage_ca, catalog_ca, which) in [(false, true, "s3"), (true, false, "catalog")] {
        let dir = tempfile::tempdir().unwrap();
        let mut pc = Pc::new(build(dir.path(), storage_ca, catalog_ca), dir.path());
        pc.sample(50);
        let err = pc.syncer.sync().await.unwrap_err().to_string();
        eprintln!("{which} without its CA file: {err}");
        assert!(
            err.contains(&format!(
                "set {}.ca_file",
                if which == "s3" { "storage" } else { "catalog" }
            )),
            "{which}: an unknown CA fails the handshake, and the error says what to set: {err}"
        );
        assert_eq!(pc.buffer.lock().unwrap().status().unwrap().pending, 50);
    }

    let dir = tempfile::tempdir().unwrap();
    let mut pc = Pc::new(build(dir.path(), true, true), dir.path());
    pc.sample(500);
    pc.syncer.sync().await.unwrap();
    pc.assert_exactly_once(500).await;
}
