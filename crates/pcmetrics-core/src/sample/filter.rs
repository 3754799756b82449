//! What the system sampler collects: collectors that can be turned off, and which mounts
//! and network interfaces get a row (`[sampling]` in the config).
//!
//! Mounts and interfaces are chosen by glob patterns over the mount point and the
//! interface name: `*` matches any run of characters (`/` included), `?` one character.
//! A name is kept when it matches an `include` pattern (or `include` is empty) and no
//! `exclude` pattern. An excluded mount or interface has no row and does not count in
//! the disk or network totals.

use serde::{Deserialize, Serialize};

/// Mounts with no row by default: snaps' read-only loop images (one per installed
/// revision) and the layers of container engines, which come and go with containers.
pub const DEFAULT_MOUNT_EXCLUDES: &[&str] = &[
    "/snap/*",
    "/var/snap/*",
    "/var/lib/docker/*",
    "/var/lib/containers/*",
];

/// Interfaces with no row by default: a container's end of a veth pair (a new name per
/// container) and the bridges container engines and libvirt create.
pub const DEFAULT_INTERFACE_EXCLUDES: &[&str] = &["veth*", "docker*", "br-*", "virbr*"];

/// Which names (mount points, interface names) are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

/// An unusable pattern: which list (`"include"` or `"exclude"`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub list: &'static str,
    pub message: String,
}

impl NameFilter {
    /// A filter of these patterns; an error says which pattern is unusable and why.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Self, PatternError> {
        for (list, patterns) in [("include", &include), ("exclude", &exclude)] {
            for p in patterns {
                let message = if p.trim().is_empty() {
                    "an empty pattern matches nothing; remove it, or use \"*\" for every name"
                        .to_owned()
                } else if p.len() > 256 {
                    format!(
                        "pattern {:?}… is longer than 256 characters",
                        p.chars().take(32).collect::<String>()
                    )
                } else {
                    continue;
                };
                return Err(PatternError { list, message });
            }
        }
        Ok(Self { include, exclude })
    }

    /// The filter with the default exclusions of mounts.
    pub fn default_mounts() -> Self {
        Self::excluding(DEFAULT_MOUNT_EXCLUDES)
    }

    /// The filter with the default exclusions of interfaces.
    pub fn default_interfaces() -> Self {
        Self::excluding(DEFAULT_INTERFACE_EXCLUDES)
    }

    fn excluding(patterns: &[&str]) -> Self {
        Self {
            include: Vec::new(),
            exclude: patterns.iter().map(|p| p.to_string()).collect(),
        }
    }

    pub fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob(p, name)))
            && !self.exclude.iter().any(|p| glob(p, name))
    }
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character), in time linear in
/// their lengths times the number of `*` (the usual backtracking to the last star).
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            // The last star takes one more character.
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Collectors of the system sampler that can be turned off (`[sampling.collect]`, each
/// on unless set to false). CPU, memory, load and uptime always run: they cost almost
/// nothing and every chart needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Collectors {
    /// Per-mount space and I/O.
    pub disks: bool,
    /// Per-interface traffic.
    pub networks: bool,
    /// Sensors.
    pub temperatures: bool,
    /// The process count.
    pub processes: bool,
}

impl Default for Collectors {
    fn default() -> Self {
        Self {
            disks: true,
            networks: true,
            temperatures: true,
            processes: true,
        }
    }
}

/// What a [`super::SystemSampler`] collects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplerOptions {
    pub collect: Collectors,
    pub mounts: NameFilter,
    pub interfaces: NameFilter,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        Self {
            collect: Collectors::default(),
            mounts: NameFilter::default_mounts(),
            interfaces: NameFilter::default_interfaces(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_and_single_characters() {
        for (p, n, want) in [
            ("veth*", "veth1a2b", true),
            ("veth*", "eth0", false),
            ("/snap/*", "/snap/core22/1380", true),
            ("/snap/*", "/snapshots", false),
            ("br-*", "br-", true),
            ("wlan?", "wlan0", true),
            ("wlan?", "wlan10", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("/media/*/USB*", "/media/ana/USB STICK", true),
            ("ünï*", "ünïcode", true),
        ] {
            assert_eq!(glob(p, n), want, "{p:?} on {n:?}");
        }
    }

    #[test]
    fn include_then_exclude() {
        let f =
            NameFilter::new(vec!["/".into(), "/home*".into()], vec!["/home/old".into()]).unwrap();
        assert!(f.keeps("/") && f.keeps("/home") && f.keeps("/home/ana"));
        assert!(!f.keeps("/home/old") && !f.keeps("/boot"));
        let d = NameFilter::default_mounts();
        assert!(d.keeps("/") && d.keeps("/run/media/ana/USB"));
        assert!(!d.keeps("/snap/firefox/4848") && !d.keeps("/var/lib/docker/overlay2/x/merged"));
        let i = NameFilter::default_interfaces();
        assert!(i.keeps("eth0") && i.keeps("wlan0") && i.keeps("lo"));
        assert!(!i.keeps("docker0") && !i.keeps("veth9f3c") && !i.keeps("br-5e1a"));
    }

    #[test]
    fn unusable_patterns_are_named() {
        let e = NameFilter::new(vec![" ".into()], vec![]).unwrap_err();
        assert!(e.message.contains("empty pattern"), "{e:?}");
        assert_eq!(e.list, "include");
        let e = NameFilter::new(vec![], vec!["x".repeat(300)]).unwrap_err();
        assert!(e.message.contains("longer than 256"), "{e:?}");
        assert_eq!(e.list, "exclude");
    }
}
