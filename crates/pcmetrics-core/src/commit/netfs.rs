//! Is the SQL catalog on a network file system?
//!
//! The embedded SQL catalog commits with a compare-and-swap inside one SQLite transaction,
//! which relies on SQLite's file locks. NFS, SMB/CIFS and FUSE mounts (sshfs, cloud drive
//! clients) often do not honour them, so two PCs sharing a catalog file there can both
//! "win" a commit and one snapshot is lost. pcmetrics warns (`config check`, and the log
//! when the catalog opens) and says what to use instead; it does not refuse, since a
//! single PC on a network home directory is safe.

use std::path::Path;

/// The network file system `path` (or its nearest existing ancestor) lives on, if any.
pub fn network_filesystem(path: &Path) -> Option<&'static str> {
    let existing = std::fs::canonicalize(path.ancestors().find(|p| p.exists())?).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    network_kind(fs_type_of(&mounts, &existing)?)
}

/// What to tell the user when the SQL catalog at `path` is on a network file system.
pub fn sql_catalog_warning(path: &Path) -> Option<String> {
    network_filesystem(path).map(|fs| {
        format!(
            "the SQL catalog {} is on {fs}, whose file locks SQLite cannot rely on: two PCs committing through it at once can lose a snapshot. Keep catalog.uri on a local disk, or use an Iceberg REST catalog (catalog.kind = \"rest\") for a shared table",
            path.display()
        )
    })
}

/// The file system type of the mount holding `path` (the longest mount point that is a
/// prefix of it), from `/proc/self/mountinfo` lines:
/// `36 35 98:0 /root /mnt/x rw,noatime master:1 - nfs4 server:/export rw,...`.
fn fs_type_of<'a>(mountinfo: &'a str, path: &Path) -> Option<&'a str> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount_point = fields.nth(4)?;
            let fs_type = line.split(" - ").nth(1)?.split(' ').next()?;
            // Spaces in mount points are written as \040.
            let mount_point = mount_point.replace("\\040", " ");
            path.starts_with(&mount_point)
                .then_some((mount_point.len(), fs_type))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

/// Network and FUSE file systems by type name.
fn network_kind(fs_type: &str) -> Option<&'static str> {
    let base = fs_type.split('.').next().unwrap_or(fs_type);
    match base {
        "nfs" | "nfs4" => Some("NFS"),
        "cifs" | "smb3" | "smbfs" => Some("SMB/CIFS"),
        "fuse" | "fuseblk" if fs_type.contains('.') => Some("a FUSE file system"),
        "9p" => Some("9P"),
        "ceph" => Some("CephFS"),
        "afs" => Some("AFS"),
        "lustre" => Some("Lustre"),
        "gpfs" => Some("GPFS"),
        "glusterfs" => Some("GlusterFS"),
        "davfs" => Some("WebDAV"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /home/me/nas rw,relatime - nfs4 nas:/export rw,vers=4.2
41 27 0:51 / /home/me/gdrive rw,nosuid - fuse.rclone gdrive: rw
42 27 0:52 / /mnt/my\\040share rw - cifs //srv/share rw
43 27 0:53 / /home/me/nas/local rw - ext4 /dev/vdb rw
";

    #[test]
    fn the_longest_mount_point_decides() {
        let kind = |p: &str| fs_type_of(MOUNTINFO, Path::new(p)).and_then(network_kind);
        assert_eq!(kind("/home/me/nas/lakehouse/catalog.db"), Some("NFS"));
        assert_eq!(
            kind("/home/me/gdrive/catalog.db"),
            Some("a FUSE file system")
        );
        assert_eq!(kind("/mnt/my share/catalog.db"), Some("SMB/CIFS"));
        assert_eq!(
            kind("/home/me/nas/local/catalog.db"),
            None,
            "a local disk mounted inside"
        );
        assert_eq!(kind("/home/me/.local/share/pcmetrics/catalog.db"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_local_temp_dir_is_not_a_network_file_system() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            network_filesystem(&dir.path().join("not/yet/catalog.db")),
            None
        );
        assert_eq!(sql_catalog_warning(&dir.path().join("catalog.db")), None);
    }
}
