//! Object stores from settings: one S3 client (object_store) serves both the landing zone
//! and the Iceberg table files, so endpoint, credentials, timeouts and retries are set in
//! one place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
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
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&s3.region)
            .with_access_key_id(s3.access_key_id.expose())
            .with_secret_access_key(s3.secret_access_key.expose())
            .with_virtual_hosted_style_request(!s3.path_style)
            // Fail within seconds when the endpoint is down, instead of the default
            // minutes of retries: the buffer keeps the samples and the next sync retries.
            .with_client_options(
                // allow_http lives in the client options: set it here, or these options
                // would reset it.
                ClientOptions::new()
                    .with_allow_http(s3.allow_http)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
            });
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
        cache.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }

    /// The store and key for an absolute location.
    pub fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, ObjPath), String> {
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
}
