//! Appends 100k synthetic samples (10 transactions of 10k) to a fresh buffer, then prints
//! samples per second (wall clock, and on-CPU time where Linux tells it, which a busy
//! machine disturbs less) and the buffer's size per sample after a checkpoint. For
//! instruction counts (the exact name: a pattern would also match closures inside
//! `append`, and each match toggles collection):
//!
//!     cargo build --release -p pcmetrics-core --example append_profile
//!     valgrind --tool=callgrind \
//!         --toggle-collect='pcmetrics_core::buffer::SqliteBuffer::append' \
//!         target/release/examples/append_profile

use pcmetrics_core::buffer::SqliteBuffer;
use pcmetrics_core::sample::{MetricSample, SyntheticSource};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("number of samples"));
    let samples: Vec<MetricSample> = SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
        .take(n)
        .collect();
    // A second argument keeps the buffer at that path, for a look inside.
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::args()
        .nth(2)
        .map_or_else(|| dir.path().join("buffer.db"), Into::into);
    let mut buf = SqliteBuffer::open(&path, u64::MAX / 2).unwrap();
    let t = std::time::Instant::now();
    let cpu = on_cpu_ns();
    for chunk in samples.chunks(10_000) {
        buf.append(chunk).unwrap();
    }
    let cpu = on_cpu_ns().zip(cpu).map(|(b, a)| (b - a) as f64 / 1e9);
    let secs = t.elapsed().as_secs_f64();
    drop(buf);
    // Closing the last connection checkpoints the WAL into the main file.
    let size = std::fs::metadata(&path).unwrap().len();
    let cpu = cpu.map_or(String::new(), |c| {
        format!(", {c:.3} s on CPU ({:.0}/s)", n as f64 / c)
    });
    println!(
        "{n} samples in {secs:.3} s ({:.0}/s){cpu}; {size} bytes on disk, {:.1} bytes/sample",
        n as f64 / secs,
        size as f64 / n as f64
    );
}

/// Time this thread has spent on a CPU, user and kernel (Linux only).
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
