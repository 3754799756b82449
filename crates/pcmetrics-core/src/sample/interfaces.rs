//! Which network interfaces count in the `net_rx_bps` / `net_tx_bps` totals.
//!
//! Traffic between containers crosses a veth, a bridge and often the loopback too, so
//! summing every interface counts the same bytes two or three times. The totals count
//! physical interfaces only (Ethernet, Wi-Fi, USB, a VM's virtio NIC); every interface
//! keeps its own row in `networks`. On Linux an interface is virtual when its sysfs device
//! lives under `/sys/devices/virtual/` (loopback, docker0, br-*, veth*, tun/tap, wg*, …);
//! elsewhere, by well-known name prefixes. When nothing looks physical (a container), every
//! interface but loopback counts, so the totals never read 0 for a machine with traffic.

use std::collections::HashMap;
use std::path::PathBuf;

/// Name prefixes of virtual interfaces, for systems without sysfs.
const VIRTUAL_PREFIXES: &[&str] = &[
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "vmnet",
    "vboxnet",
    "utun",
    "awdl",
    "llw",
    "bridge",
    "tun",
    "tap",
    "wg",
    "zt",
    "tailscale",
    "vEthernet",
    "Loopback",
    "isatap",
    "Teredo",
];

#[derive(Debug)]
pub(crate) struct Interfaces {
    /// `/sys/class/net` (tests point it at a recorded tree).
    sys_class_net: PathBuf,
    physical: HashMap<String, bool>,
}

impl Default for Interfaces {
    fn default() -> Self {
        Self::with_sysfs("/sys/class/net")
    }
}

impl Interfaces {
    pub(crate) fn with_sysfs(sys_class_net: impl Into<PathBuf>) -> Self {
        Self {
            sys_class_net: sys_class_net.into(),
            physical: HashMap::new(),
        }
    }

    /// Whether `name` is a physical interface (cached: the answer does not change while
    /// the interface exists).
    pub(crate) fn is_physical(&mut self, name: &str) -> bool {
        if let Some(&p) = self.physical.get(name) {
            return p;
        }
        let p = match std::fs::canonicalize(self.sys_class_net.join(name)) {
            Ok(device) => !device.to_string_lossy().contains("/devices/virtual/"),
            Err(_) => !VIRTUAL_PREFIXES.iter().any(|v| name.starts_with(v)),
        };
        self.physical.insert(name.to_owned(), p);
        p
    }

    /// Which of `names` count in the totals.
    pub(crate) fn counted<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<bool> {
        let physical: Vec<bool> = names
            .clone()
            .into_iter()
            .map(|n| self.is_physical(n))
            .collect();
        if physical.iter().any(|&p| p) {
            return physical;
        }
        names
            .into_iter()
            .map(|n| !(n == "lo" || n == "lo0" || n.starts_with("Loopback")))
            .collect()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A recorded sysfs layout: eth0 and wlan0 on PCI, the rest virtual.
    fn sysfs() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let class = root.path().join("class/net");
        std::fs::create_dir_all(&class).unwrap();
        for (name, device) in [
            ("eth0", "devices/pci0000:00/0000:00:03.0/virtio2/net/eth0"),
            ("wlan0", "devices/pci0000:00/0000:00:14.3/net/wlan0"),
            ("lo", "devices/virtual/net/lo"),
            ("docker0", "devices/virtual/net/docker0"),
            ("veth1a2b", "devices/virtual/net/veth1a2b"),
        ] {
            let dir = root.path().join(device);
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(&dir, class.join(name)).unwrap();
        }
        root
    }

    #[test]
    fn only_physical_interfaces_count() {
        let root = sysfs();
        let mut i = Interfaces::with_sysfs(root.path().join("class/net"));
        let names = ["docker0", "eth0", "lo", "veth1a2b", "wlan0"];
        assert_eq!(i.counted(names), [false, true, false, false, true]);
    }

    #[test]
    fn without_sysfs_names_decide_and_a_container_still_counts() {
        let mut i = Interfaces::with_sysfs("/nonexistent");
        assert_eq!(
            i.counted(["en0", "lo0", "utun3", "bridge0"]),
            [true, false, false, false]
        );
        // Only virtual-looking interfaces (a container's veth end): all but loopback count.
        assert_eq!(i.counted(["lo", "veth0"]), [false, true]);
    }
}
