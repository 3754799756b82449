//! Power loss on the embedded default: every file the catalog points at is durable (the
//! file and each directory entry fsynced) before the catalog's pointer moves, and the
//! buffer acks after that. Proven on the real binary by tracing its fsync and rename
//! system calls with strace (`-y` prints the path behind every descriptor).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NO_ENV, isolate, pcmetrics, text};

/// One traced system call: its position in the trace, name and the paths it names.
#[derive(Debug)]
struct Call {
    at: usize,
    name: String,
    paths: Vec<String>,
}

/// Parses strace's `-f -y` output: `PID fsync(7</a/b>) = 0`, `PID rename("/a", "/b") = 0`.
fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    for (at, line) in trace.lines().enumerate() {
        let line = line
            .split_once(' ')
            .map_or(line, |(_, rest)| rest)
            .trim_start();
        let Some((name, rest)) = line.split_once('(') else {
            continue;
        };
        if !rest.contains(") = 0") {
            continue; // failed or unfinished calls prove nothing
        }
        let mut paths = Vec::new();
        // fd annotations: 7</path>
        for part in rest.split('<').skip(1) {
            if let Some((p, _)) = part.split_once('>') {
                paths.push(p.to_owned());
            }
        }
        // string arguments: "path"
        for (i, part) in rest.split('"').enumerate() {
            if i % 2 == 1 {
                paths.push(part.to_owned());
            }
        }
        calls.push(Call {
            at,
            name: name.to_owned(),
            paths,
        });
    }
    calls
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn table_files_are_durable_before_the_catalog_points_at_them() {
    assert!(
        strace_available(),
        "this test traces system calls with strace: install it (sudo apt-get install strace; scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = pcmetrics(&data, &["simulate", "--samples", "3000"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));

    let log = dir.path().join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-y",
        "-qq",
        "-e",
        "trace=fsync,fdatasync,rename,renameat,renameat2",
        "-o",
    ])
    .arg(&log)
    .arg(env!("CARGO_BIN_EXE_pcmetrics"))
    .arg("--data-dir")
    .arg(&data)
    .arg("sync");
    isolate(&mut cmd, &data, NO_ENV);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let trace = std::fs::read_to_string(&log).unwrap();
    let calls = parse(&trace);
    let fsynced = |path: &str| -> Vec<usize> {
        calls
            .iter()
            .filter(|c| {
                (c.name == "fsync" || c.name == "fdatasync") && c.paths.iter().any(|p| p == path)
            })
            .map(|c| c.at)
            .collect()
    };

    // The pointer: the last fsync of the SQL catalog's database.
    let lakehouse = data.join("lakehouse");
    let catalog = lakehouse.join("catalog.db");
    let commit = *fsynced(catalog.to_str().unwrap())
        .last()
        .unwrap_or_else(|| panic!("no fsync of {} in the trace:\n{trace}", catalog.display()));

    // Every file of the table: data files, manifests, manifest lists, metadata JSON.
    let mut files = Vec::new();
    files_under(&lakehouse.join("warehouse"), &mut files);
    assert!(
        files.len() >= 5,
        "expected the table's files, found {files:?}"
    );
    for f in &files {
        let path = f.to_str().unwrap();
        let file_syncs = fsynced(path);
        let Some(&synced) = file_syncs.first() else {
            panic!("{path} was never fsynced: the catalog can point at a file a power cut empties");
        };
        assert!(
            synced < commit,
            "{path} fsynced at trace line {synced}, after the catalog commit at line {commit}"
        );
        // Its directory entry too: an fsync of the parent after the file's rename.
        let renamed = calls
            .iter()
            .filter(|c| c.name.starts_with("rename") && c.paths.last().is_some_and(|p| p == path))
            .map(|c| c.at)
            .next()
            .unwrap_or(0);
        let parent = f.parent().unwrap().to_str().unwrap();
        assert!(
            fsynced(parent).iter().any(|&d| d > renamed && d < commit),
            "the directory {parent} was not fsynced between the rename of {path} (line {renamed}) and the commit (line {commit})"
        );
    }

    // The buffer acks after the pointer moved: its last durable write follows the commit.
    let wal = data.join("buffer.db-wal");
    let acked = fsynced(wal.to_str().unwrap());
    assert!(
        acked.last().is_some_and(|&a| a > commit),
        "the buffer's last fsync ({acked:?}) is not after the catalog commit at line {commit}"
    );
}
