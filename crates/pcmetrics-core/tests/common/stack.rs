//! The S3 + REST test stack, from the variables `scripts/test-stack env` prints. Shared by
//! the core and CLI test suites.
//!
//! Missing variables fail the test, with the command to fix it. On a laptop without the
//! stack, `PCMETRICS_TEST_SKIP_STACK=1` skips the S3 + REST cases (and says so); CI never
//! sets it.

#![allow(dead_code)]

#[derive(Debug, Clone)]
pub struct Stack {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    pub rest_uri: String,
}

impl Stack {
    /// The stack's settings, `None` only when `PCMETRICS_TEST_SKIP_STACK=1`.
    pub fn from_env() -> Option<Stack> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let all = (
            var("PCMETRICS_TEST_S3_ENDPOINT"),
            var("PCMETRICS_TEST_S3_REGION"),
            var("PCMETRICS_TEST_S3_BUCKET"),
            var("PCMETRICS_TEST_S3_KEY_ID"),
            var("PCMETRICS_TEST_S3_SECRET"),
            var("PCMETRICS_TEST_REST_URI"),
        );
        match all {
            (
                Some(endpoint),
                Some(region),
                Some(bucket),
                Some(key_id),
                Some(secret),
                Some(rest_uri),
            ) => Some(Stack {
                endpoint,
                region,
                bucket,
                key_id,
                secret,
                rest_uri,
            }),
            _ if var("PCMETRICS_TEST_SKIP_STACK").as_deref() == Some("1") => {
                eprintln!("SKIPPED: S3 + REST backend (PCMETRICS_TEST_SKIP_STACK=1)");
                None
            }
            _ => panic!(
                "the S3 + REST test stack is not configured: run `scripts/test-stack up && eval \"$(scripts/test-stack env)\"` \
                 before the tests (scripts/test.sh does), or set PCMETRICS_TEST_SKIP_STACK=1 to skip these cases on a laptop"
            ),
        }
    }

    /// S3 storage settings for this stack, reached at `endpoint` (the stack's own, or a
    /// proxy in front of it).
    pub fn storage_via(&self, endpoint: &str) -> pcmetrics_core::config::StorageSettings {
        pcmetrics_core::config::StorageSettings::S3(pcmetrics_core::config::S3Settings {
            endpoint: Some(endpoint.to_owned()),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            access_key_id: pcmetrics_core::config::Secret::new(self.key_id.clone()),
            secret_access_key: pcmetrics_core::config::Secret::new(self.secret.clone()),
            session_token: None,
            path_style: true,
            allow_http: true,
            ca: None,
        })
    }

    /// REST catalog settings, reached at `uri` (the stack's own, or a proxy).
    pub fn catalog_via(&self, uri: &str) -> pcmetrics_core::config::CatalogSettings {
        pcmetrics_core::config::CatalogSettings::Rest {
            uri: uri.to_owned(),
            warehouse: None,
            auth: Default::default(),
            headers: Vec::new(),
            ca: None,
        }
    }

    /// Points `settings` at this stack, with its own table.
    pub fn apply(&self, settings: &mut pcmetrics_core::config::Settings, table: &str) {
        settings.storage = self.storage_via(&self.endpoint);
        settings.catalog = self.catalog_via(&self.rest_uri);
        settings.sync.table = table.to_owned();
    }

    /// A pcmetrics config file for this stack; keys are given through AWS_* variables.
    pub fn config_toml(&self, table: &str) -> String {
        format!(
            "[storage]\nkind = \"s3\"\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\nallow_http = true\n\
             [catalog]\nkind = \"rest\"\nuri = \"{}\"\n[sync]\ntable = \"{table}\"\n",
            self.endpoint, self.region, self.bucket, self.rest_uri
        )
    }

    pub fn aws_env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }
}

/// A table name no other test uses, so tests can share one catalog.
pub fn unique_table(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("t_{tag}_{:x}_{nanos:x}", std::process::id())
}
