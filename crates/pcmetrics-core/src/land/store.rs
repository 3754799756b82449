//! Object stores from settings: one S3 client (object_store) serves both the landing zone
//! and the Iceberg table files, so endpoint, credentials, timeouts and retries are set in
//! one place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::durable::DurableLocal;
use crate::config::{S3Settings, StorageSettings};

/// Resolves locations (`file:///…`, `s3://bucket/…`) to a store and a key.
#[derive(Debug)]
pub struct ObjectStores {
    settings: StorageSettings,
    /// Per bucket; the configured bucket is built eagerly, others on first use.
    s3: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    local: Arc<dyn ObjectStore>,
}

/// The S3 client for `bucket`, with every `[storage]` setting applied.
fn s3_client(bucket: &str, s3: &S3Settings) -> Result<AmazonS3, object_store::Error> {
    // allow_http lives in the client options: set it here, or these options would reset
    // it. Fail within seconds when the endpoint is down, instead of the default minutes
    // of retries: the buffer keeps the samples and the next sync retries.
    let mut options = ClientOptions::new()
        .with_allow_http(s3.allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120));
    if let Some(ca) = &s3.ca {
        let certs = ca
            .object_store_certs()
            .map_err(|message| object_store::Error::Generic {
                store: "S3",
                source: message.into(),
            })?;
        for cert in certs {
            options = options.with_root_certificate(cert);
        }
    }
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&s3.region)
        .with_access_key_id(s3.access_key_id.expose())
        .with_secret_access_key(s3.secret_access_key.expose())
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_client_options(options)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        });
    if let Some(token) = &s3.session_token {
        builder = builder.with_token(token.expose());
    }
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder.build()
}

impl ObjectStores {
    pub fn new(settings: &StorageSettings) -> Result<Self, object_store::Error> {
        let stores = Self {
            settings: settings.clone(),
            s3: Mutex::new(HashMap::new()),
            // Durable puts: the catalog must never point at a file a power cut can empty.
            local: Arc::new(DurableLocal::new()),
        };
        if let StorageSettings::S3(s3) = settings {
            stores.bucket(&s3.bucket, s3)?;
        }
        Ok(stores)
    }

    fn bucket(
        &self,
        bucket: &str,
        s3: &S3Settings,
    ) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
        let mut cache = self.s3.lock().expect("store cache lock");
        if let Some(store) = cache.get(bucket) {
            return Ok(store.clone());
        }
        let store: Arc<dyn ObjectStore> = Arc::new(s3_client(bucket, s3)?);
        cache.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }

    /// The store and key for an absolute location, which must lie inside what the config
    /// names: `storage.bucket` with S3, `storage.root` with a local folder.
    ///
    /// Table locations come from the catalog and file paths from table metadata; neither
    /// is trusted to stay in bounds. A REST catalog could otherwise point pcmetrics (with
    /// this PC's keys) at another bucket of the same service, or at `file://` paths on this
    /// PC, and maintenance deletes under the table's location.
    pub fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, ObjPath), String> {
        const FIX: &str = "the table's catalog or metadata points outside it; correct the table's location in the catalog or point sync.table at a new table";
        if let Some(rest) = location
            .strip_prefix("s3://")
            .or_else(|| location.strip_prefix("s3a://"))
        {
            let StorageSettings::S3(s3) = &self.settings else {
                return Err(format!(
                    "{location} is in S3 but storage.kind is \"local\"; set storage.kind = \"s3\""
                ));
            };
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket != s3.bucket {
                return Err(format!(
                    "{location} is outside storage.bucket = {:?}, the only bucket pcmetrics reads, writes and deletes in; {FIX}",
                    s3.bucket
                ));
            }
            let store = self.bucket(bucket, s3).map_err(|e| e.to_string())?;
            let key = ObjPath::parse(key).map_err(|e| format!("{location}: {e}"))?;
            return Ok((store, key));
        }
        let path = location
            .strip_prefix("file://")
            .or_else(|| location.strip_prefix("file:"))
            .unwrap_or(location);
        if !path.starts_with('/') {
            return Err(format!(
                "{location} is neither an s3:// nor an absolute file location"
            ));
        }
        match &self.settings {
            StorageSettings::S3(s3) => {
                return Err(format!(
                    "{location} is a file on this PC, but storage.kind = \"s3\" keeps everything in bucket {:?}; {FIX}",
                    s3.bucket
                ));
            }
            StorageSettings::Local { root } => {
                let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
                let p = std::path::Path::new(path);
                let climbs = p
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
                if climbs || !p.starts_with(&root) {
                    return Err(format!(
                        "{location} is outside storage.root = {:?}, the only folder pcmetrics reads, writes and deletes in; {FIX}",
                        root.display().to_string()
                    ));
                }
            }
        }
        let key =
            ObjPath::parse(path.trim_start_matches('/')).map_err(|e| format!("{location}: {e}"))?;
        Ok((self.local.clone(), key))
    }

    /// The landing zone's store and its location prefix, e.g. `s3://warehouse/` or
    /// `file:///home/me/.local/share/pcmetrics/lakehouse/`.
    pub fn landing_base(&self) -> String {
        match &self.settings {
            StorageSettings::Local { root } => format!(
                "file://{}/",
                std::path::absolute(root)
                    .unwrap_or_else(|_| root.clone())
                    .display()
            ),
            StorageSettings::S3(s3) => format!("s3://{}/", s3.bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_file_and_rejects_relative() {
        let stores = ObjectStores::new(&StorageSettings::Local {
            root: "/tmp/x".into(),
        })
        .unwrap();
        let (_, key) = stores.resolve("file:///tmp/x/warehouse/a.json").unwrap();
        assert_eq!(key.as_ref(), "tmp/x/warehouse/a.json");
        assert!(stores.resolve("relative/path").is_err());
        assert!(
            stores
                .resolve("s3://b/k")
                .unwrap_err()
                .contains("storage.kind")
        );
        assert_eq!(stores.landing_base(), "file:///tmp/x/");
    }

    #[test]
    fn refuses_locations_outside_the_root() {
        let stores = ObjectStores::new(&StorageSettings::Local {
            root: "/tmp/x".into(),
        })
        .unwrap();
        for outside in [
            "file:///home/me/.ssh/id_ed25519",
            "file:///tmp/x/../y/a.json",
            "file:///tmp/xy/a.json",
            "/etc/passwd",
        ] {
            let e = stores.resolve(outside).unwrap_err();
            assert!(e.contains("outside storage.root"), "{outside}: {e}");
        }
    }

    #[test]
    fn refuses_other_buckets_and_local_files_with_s3() {
        let s3 = crate::config::S3Settings {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            bucket: "warehouse".into(),
            access_key_id: crate::config::Secret::new("k"),
            secret_access_key: crate::config::Secret::new("s"),
            session_token: None,
            path_style: true,
            allow_http: true,
            ca: None,
        };
        let stores = ObjectStores::new(&StorageSettings::S3(s3)).unwrap();
        let (_, key) = stores.resolve("s3://warehouse/iceberg/t/a.json").unwrap();
        assert_eq!(key.as_ref(), "iceberg/t/a.json");
        let e = stores.resolve("s3://other/iceberg/t/a.json").unwrap_err();
        assert!(e.contains("outside storage.bucket = \"warehouse\""), "{e}");
        let e = stores.resolve("file:///home/me/notes.txt").unwrap_err();
        assert!(e.contains("is a file on this PC"), "{e}");
    }

    /// A session token (temporary credentials) signs every request with its key, and
    /// shows in no Debug output.
    #[tokio::test]
    async fn the_session_token_reaches_the_s3_client_and_never_prints() {
        use crate::config::{Config, StorageSettings};
        let config = Config::from_toml_with_env(
            "t",
            "[storage]\nkind = \"s3\"\nbucket = \"warehouse\"\nendpoint = \"http://127.0.0.1:1\"\nallow_http = true\n",
            [
                ("AWS_ACCESS_KEY_ID", "ASIATEMPKEY"),
                ("AWS_SECRET_ACCESS_KEY", "temp-secret-value"),
                ("AWS_SESSION_TOKEN", "planted-session-token-42"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        let settings = config.validate(Some(std::path::Path::new("/d"))).unwrap();
        let StorageSettings::S3(s3) = &settings.storage else {
            panic!("s3")
        };
        let client = s3_client("warehouse", s3).unwrap();
        let credential = client.credentials().get_credential().await.unwrap();
        assert_eq!(credential.key_id, "ASIATEMPKEY");
        assert_eq!(
            credential.token.as_deref(),
            Some("planted-session-token-42")
        );
        let stores = ObjectStores::new(&settings.storage).unwrap();
        let shown = format!(
            "{client:?}\n{stores:?}\n{settings:?}\n{}",
            config.to_redacted_toml()
        );
        for secret in ["planted-session-token-42", "temp-secret-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
