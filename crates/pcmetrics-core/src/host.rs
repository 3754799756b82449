//! The PC's identity and the data dir's locks.
//!
//! The host id is a UUID in `<data-dir>/host-id`, made once and kept across restarts, so
//! the table tells PCs apart even when two share a host name. Locks are OS file locks
//! (released by the kernel when a process dies, so a crash never leaves a stale lock).

use std::fs::{File, OpenOptions};
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
        create_private_dir(data_dir)
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
                    // A leftover (or planted) temp file or link is removed, never
                    // followed; create_new refuses anything that appears in between.
                    match std::fs::remove_file(&tmp) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                    let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
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

/// Creates `dir` (and missing parents) readable by this user only: the data dir holds a
/// timeline of what the user did on this PC. An existing data dir that others can read is
/// tightened to 0700 when it is pcmetrics' own (empty, or holding a `host-id`); a folder
/// the user chose that holds other things is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        let ours = dir.join("host-id").exists() || std::fs::read_dir(dir)?.next().is_none();
        if mode & 0o077 != 0 && ours {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
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
        create_private_dir(data_dir).map_err(|e| Error::DataDir {
            path: data_dir.display().to_string(),
            message: format!("cannot create it: {e}; pass a writable --data-dir"),
        })?;
        let path = data_dir.join(format!("{name}.lock"));
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::DataDir {
                path: data_dir.display().to_string(),
                message: format!(
                    "{} is a symbolic link, which pcmetrics does not follow; remove it",
                    path.display()
                ),
            });
        }
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

    #[cfg(unix)]
    #[test]
    fn the_data_dir_is_private_and_links_are_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        HostIdentity::load_or_create(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);

        // A data dir made by an older version with the default umask is tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        DirLock::try_acquire(&dir, "sync", "syncing").unwrap();
        assert_eq!(mode(&dir), 0o700);

        // A planted link at the temp name is removed, its target left alone.
        let victim = parent.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let fresh = parent.path().join("fresh");
        std::fs::create_dir(&fresh).unwrap();
        std::os::unix::fs::symlink(&victim, fresh.join("host-id.tmp")).unwrap();
        HostIdentity::load_or_create(&fresh).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        std::os::unix::fs::symlink(&victim, fresh.join("run.lock")).unwrap();
        let e = DirLock::try_acquire(&fresh, "run", "running").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

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
