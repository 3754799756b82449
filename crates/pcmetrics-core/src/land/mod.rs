//! # Land: the landing zone
//!
//! Every file that goes into the table is first put, byte for byte, under the landing
//! prefix (default `landing/pc_metrics/`) of the object store, the raw drop zone of the
//! lakehouse. Key layout:
//!
//! ```text
//! <prefix>/host_id=<host id>/date=<YYYY-MM-DD>/<batch name>.parquet
//! ```
//!
//! where the batch name is [`crate::commit::BatchKey::file_stem`] plus the day. Keys are
//! a pure function of the batch, so a retried sync overwrites its own earlier attempt
//! instead of adding a second copy; the landing zone holds each synced row once.

pub mod durable;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};

pub use store::ObjectStores;

use crate::encode::{EncodedFile, day_string};

#[derive(Debug, thiserror::Error)]
#[error("landing zone: {message}; while writing {location}")]
pub struct LandError {
    pub location: String,
    pub message: String,
}

/// Writes encoded batches under the landing prefix.
#[derive(Debug, Clone)]
pub struct LandingZone {
    store: Arc<dyn ObjectStore>,
    base: String,
    prefix: String,
}

impl LandingZone {
    /// `base` is the store's location prefix (for messages), `prefix` the key prefix.
    pub fn new(store: Arc<dyn ObjectStore>, base: String, prefix: &str) -> Self {
        Self {
            store,
            base,
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    pub fn from_stores(stores: &ObjectStores, prefix: &str) -> Result<Self, LandError> {
        let base = stores.landing_base();
        let (store, root) = stores.resolve(&base).map_err(|message| LandError {
            location: base.clone(),
            message,
        })?;
        let prefix = prefix.trim_matches('/');
        let full = if root.as_ref().is_empty() {
            prefix.to_owned()
        } else {
            format!("{}/{prefix}", root.as_ref())
        };
        // `base` names the store's own root, so `base + key` is a full location.
        let base = if root.as_ref().is_empty() {
            base
        } else {
            "file:///".to_owned()
        };
        Ok(Self {
            store,
            base,
            prefix: full,
        })
    }

    /// The key of one file of a batch.
    pub fn key(&self, host_id: &str, file_stem: &str, file: &EncodedFile) -> ObjPath {
        let day = day_string(file.day);
        ObjPath::from(format!(
            "{}/host_id={host_id}/date={day}/{file_stem}-{day}.parquet",
            self.prefix
        ))
    }

    /// Puts the file (overwriting an earlier attempt of the same batch).
    pub async fn put(&self, key: &ObjPath, bytes: Bytes) -> Result<(), LandError> {
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| LandError {
                location: self.location(key),
                message: crate::error::describe_store_error(&e),
            })
    }

    /// The full location of a key, for messages.
    pub fn location(&self, key: &ObjPath) -> String {
        format!("{}{}", self.base, key)
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}
