//! Local files that survive power loss.
//!
//! `object_store`'s `LocalFileSystem` writes a temporary file and renames it into place,
//! with no fsync: after a power cut the new name may point at an empty file. Everything a
//! catalog will point at (data files, manifests, manifest lists, metadata JSON) is written
//! through this store, so every put returns only once the file's contents and every
//! directory entry it created are on disk: the file, its directory, and each directory the
//! put had to create up to the first one that already existed. The catalog pointer moves
//! after that, and the buffer acks after the pointer (`crate::sync`).
//!
//! Deletes are not synced: a deleted file that comes back after a crash is an orphan that
//! maintenance deletes again.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// A [`LocalFileSystem`] whose puts are durable when they return.
#[derive(Debug, Default)]
pub struct DurableLocal {
    inner: LocalFileSystem,
}

impl DurableLocal {
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Display for DurableLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLocal({})", self.inner)
    }
}

/// The deepest ancestor directory of `path` that exists now.
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|d| d.is_dir())
        .map(Path::to_owned)
}

/// Fsyncs `file`, then its directory and every directory above it up to `existed`
/// (the ones whose entries the write may have added).
fn sync_file_and_dirs(file: &Path, existed: Option<&Path>) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    for dir in file.ancestors().skip(1) {
        sync_dir(dir)?;
        if existed.is_none_or(|e| e == dir) {
            break;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows has no directory fsync; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "DurableLocal",
        source: format!("cannot make {} durable (fsync): {source}", path.display()).into(),
    }
}

#[async_trait]
impl ObjectStore for DurableLocal {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let file = self.inner.path_to_filesystem(location)?;
        let probe = file.clone();
        let existed = tokio::task::spawn_blocking(move || existing_ancestor(&probe))
            .await
            .expect("stat task");
        let result = self.inner.put_opts(location, payload, opts).await?;
        let synced = file.clone();
        tokio::task::spawn_blocking(move || sync_file_and_dirs(&synced, existed.as_deref()))
            .await
            .expect("fsync task")
            .map_err(|e| io_error(&file, e))?;
        Ok(result)
    }

    /// Not used by pcmetrics (files are put whole); refused rather than left undurable.
    async fn put_multipart_opts(
        &self,
        _location: &ObjPath,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(object_store::Error::NotImplemented)
    }

    async fn get_opts(&self, location: &ObjPath, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_range(&self, location: &ObjPath, range: Range<u64>) -> Result<Bytes> {
        self.inner.get_range(location, range).await
    }

    async fn get_ranges(&self, location: &ObjPath, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    async fn head(&self, location: &ObjPath) -> Result<ObjectMeta> {
        self.inner.head(location).await
    }

    async fn delete(&self, location: &ObjPath) -> Result<()> {
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&ObjPath>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjPath>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    /// Copies are not used for anything a catalog points at; they are not synced.
    async fn copy(&self, from: &ObjPath, to: &ObjPath) -> Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &ObjPath, to: &ObjPath) -> Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn puts_create_directories_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableLocal::new();
        let file = dir.path().join("a/b/c.txt");
        let key = ObjPath::parse(file.to_str().unwrap().trim_start_matches('/')).unwrap();
        store
            .put(&key, PutPayload::from_static(b"hello"))
            .await
            .unwrap();
        let got = store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"hello");
        assert_eq!(
            existing_ancestor(&dir.path().join("a/b/c/d.txt")).as_deref(),
            Some(dir.path().join("a/b").as_path())
        );
        assert!(matches!(
            store.put_multipart(&key).await,
            Err(object_store::Error::NotImplemented)
        ));
    }

    #[test]
    fn a_missing_file_is_an_error_that_names_it() {
        let err = sync_file_and_dirs(Path::new("/nonexistent/x.parquet"), None).unwrap_err();
        let e = io_error(Path::new("/nonexistent/x.parquet"), err);
        assert!(e.to_string().contains("/nonexistent/x.parquet"), "{e}");
    }
}
