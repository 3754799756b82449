//! iceberg-rust's `Storage` over object_store, so table files and the landing zone travel
//! through the same client. Why not iceberg's own opendal storage: one S3 client means
//! one place for endpoint, credentials, path-style, timeouts and retries, one set of
//! error messages, and one fewer HTTP stack in the binary.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};

use crate::land::ObjectStores;

/// Shares the pipeline's [`ObjectStores`]. It is not meant to be serialized (typetag asks
/// for serde): a deserialized copy has no stores and fails every call with a clear error,
/// and serializing never writes credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreStorage {
    #[serde(skip)]
    stores: Option<Arc<ObjectStores>>,
}

impl ObjectStoreStorage {
    pub fn new(stores: Arc<ObjectStores>) -> Self {
        Self {
            stores: Some(stores),
        }
    }

    fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, ObjPath)> {
        let stores = self.stores.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "object store storage was deserialized without its stores",
            )
        })?;
        stores
            .resolve(location)
            .map_err(|m| Error::new(ErrorKind::DataInvalid, m))
    }
}

fn io_error(location: &str, e: object_store::Error) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("{location}: {}", crate::error::describe_store_error(&e)),
    )
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let (store, key) = self.resolve(path)?;
        match store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_error(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let (store, key) = self.resolve(path)?;
        let meta = store.head(&key).await.map_err(|e| io_error(path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        let (store, key) = self.resolve(path)?;
        let got = store.get(&key).await.map_err(|e| io_error(path, e))?;
        got.bytes().await.map_err(|e| io_error(path, e))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectRead {
            store,
            key,
            location: path.to_owned(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let (store, key) = self.resolve(path)?;
        store
            .put(&key, PutPayload::from_bytes(bs))
            .await
            .map(|_| ())
            .map_err(|e| io_error(path, e))
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectWrite {
            store,
            key,
            location: path.to_owned(),
            buf: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let (store, key) = self.resolve(path)?;
        match store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let (store, key) = self.resolve(path)?;
        let mut listed = store.list(Some(&key));
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| io_error(path, e))?;
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_owned()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_owned()))
    }
}

struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    key: ObjPath,
    location: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(|e| io_error(&self.location, e))
    }
}

/// Buffers the whole file and puts it on close: table metadata and manifests are small,
/// and data files are written with `Storage::write` in one call.
struct ObjectWrite {
    store: Arc<dyn ObjectStore>,
    key: ObjPath,
    location: String,
    buf: Vec<u8>,
    closed: bool,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        if self.closed {
            return Err(Error::new(ErrorKind::Unexpected, "write after close"));
        }
        self.buf.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let bytes = Bytes::from(std::mem::take(&mut self.buf));
        self.store
            .put(&self.key, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| io_error(&self.location, e))
    }
}

/// Hands every catalog the same [`ObjectStoreStorage`]; storage properties a REST catalog
/// sends back (endpoints, vended credentials) are not used: pcmetrics' own `[storage]`
/// settings decide where files go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreStorageFactory {
    #[serde(skip)]
    storage: ObjectStoreStorage,
}

impl ObjectStoreStorageFactory {
    pub fn new(stores: Arc<ObjectStores>) -> Self {
        Self {
            storage: ObjectStoreStorage::new(stores),
        }
    }
}

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, _config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.storage.clone()))
    }
}
