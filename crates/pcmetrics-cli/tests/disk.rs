//! A data dir on a disk that fills up, then turns read-only: each gives a clear error and
//! exit code 1, nothing already buffered is lost, and once there is room again every
//! sample is delivered. Uses a small tmpfs (the tests run as root, as CI does); where
//! mounting is not allowed the test fails and says why.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NO_ENV, pcmetrics, text};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "this test needs to mount a small tmpfs (run as root): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs(at.to_owned())
    }
    fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn pending(data: &Path) -> u64 {
    let o = pcmetrics(data, &["status", "--json"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["buffer"]["pending"].as_u64().unwrap()
}

#[test]
fn full_then_read_only_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let disk = Tmpfs::mount(&data, "3m");

    // Fill the disk: appends go in transactions of 10 000, so the last one fails whole.
    let mut appended = 0u64;
    let full = loop {
        let o = pcmetrics(&data, &["simulate", "--samples", "2000"], NO_ENV);
        if !o.status.success() {
            break o;
        }
        appended += 2000;
        assert!(appended < 100_000, "a 3 MB disk never filled up");
    };
    let msg = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{}", text(&full));
    assert!(
        msg.contains("disk is full") && msg.contains("free some space"),
        "{}",
        text(&full)
    );
    assert!(appended > 0);

    // Room again: nothing that was appended is lost, and all of it syncs.
    disk.remount("size=64m");
    assert_eq!(pending(&data), appended);
    let o = pcmetrics(&data, &["sync", "--json"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rows"], appended);

    // Read-only: a clear error, the buffer file untouched.
    let o = pcmetrics(&data, &["simulate", "--samples", "10"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(data.join("buffer.db")).unwrap();
    disk.remount("ro");
    let o = pcmetrics(&data, &["simulate", "--samples", "10"], NO_ENV);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("cannot be written") || msg.contains("read-only"),
        "{}",
        text(&o)
    );
    assert!(
        msg.contains("--data-dir") || msg.contains("permissions"),
        "says what to do: {}",
        text(&o)
    );
    assert_eq!(std::fs::read(data.join("buffer.db")).unwrap(), before);
    disk.remount("rw");
    assert_eq!(pending(&data), 10);

    // The disk fills up while sampling: every sample fails, the log says so once (and
    // counts the rest a minute later), not every time.
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    run.arg("--data-dir")
        .arg(&data)
        .args(["run", "--for", "5s", "--source", "synthetic"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    common::isolate(
        &mut run,
        &data,
        &[
            ("PCMETRICS_SAMPLING__INTERVAL", "250ms"),
            ("PCMETRICS_SYNC__INTERVAL", "1h"),
        ],
    );
    let child = run.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let o = child.wait_with_output().unwrap();
    std::fs::remove_file(&filler).unwrap();
    let errors = String::from_utf8_lossy(&o.stderr)
        .matches("cannot buffer a sample")
        .count();
    assert_eq!(errors, 1, "one line for ~16 failed samples: {}", text(&o));
}
