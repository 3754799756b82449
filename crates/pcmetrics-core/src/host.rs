//! The PC's identity and the data dir's locks.
//!
//! The host id is a UUID in `<data-dir>/host-id`, made once and kept across restarts, so
//! the table tells PCs apart even when two share a host name. Locks are OS file locks
//! (released by the kernel when a process dies, so a crash never leaves a stale lock).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    pub host_id: String,
    pub hostname: String,
}

impl HostIdentity {
    /// Reads `<data-dir>/host-id`, creating it on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join("host-id");
        let data_err = |message: String| Error::DataDir {
            path: data_dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| data_err(format!("cannot create it: {e}; pass a writable --data-dir")))?;
        let host_id = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                uuid::Uuid::parse_str(id).map_err(|_| {
                    data_err(format!(
                        "{} holds {id:?}, not a host id; restore it from a backup, or delete it to sync as a new host",
                        path.display()
                    ))
                })?;
                id.to_owned()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = uuid::Uuid::new_v4().to_string();
                // Write then rename, so a crash never leaves a half-written id.
                let tmp = path.with_extension("tmp");
                let write = || -> std::io::Result<()> {
                    let mut f = File::create(&tmp)?;
                    writeln!(f, "{id}")?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)
                };
                write().map_err(|e| data_err(format!("cannot write {}: {e}", path.display())))?;
                id
            }
            Err(e) => return Err(data_err(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Self {
            host_id,
            hostname: crate::sample::system_host_name(),
        })
    }
}

/// An exclusive lock on `<data-dir>/<name>.lock`, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    pub path: PathBuf,
}

impl DirLock {
    /// Takes the lock or fails at once with [`Error::Busy`] naming what holds it.
    pub fn try_acquire(data_dir: &Path, name: &str, doing: &'static str) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::DataDir {
            path: data_dir.display().to_string(),
            message: format!("cannot create it: {e}; pass a writable --data-dir"),
        })?;
        let path = data_dir.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::DataDir {
                path: data_dir.display().to_string(),
                message: format!("cannot open {}: {e}", path.display()),
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(_) => Err(Error::Busy {
                doing,
                data_dir: data_dir.display().to_string(),
                lock: path.display().to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_id_is_stable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = HostIdentity::load_or_create(dir.path()).unwrap();
        let b = HostIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.host_id, b.host_id);
        std::fs::write(dir.path().join("host-id"), "garbage").unwrap();
        let err = HostIdentity::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a host id"), "{err}");
    }

    #[test]
    fn second_lock_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::try_acquire(dir.path(), "sync", "syncing").unwrap();
        let err = DirLock::try_acquire(dir.path(), "sync", "syncing").unwrap_err();
        assert!(
            err.to_string()
                .contains("another pcmetrics process is syncing")
        );
        drop(first);
        DirLock::try_acquire(dir.path(), "sync", "syncing").unwrap();
    }
}
