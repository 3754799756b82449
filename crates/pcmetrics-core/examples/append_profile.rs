//! Appends 100k synthetic samples (10 transactions of 10k) to a fresh buffer, then prints
//! the buffer's size per sample after a checkpoint. For instruction counts:
//!
//!     cargo build --release -p pcmetrics-core --example append_profile
//!     valgrind --tool=callgrind --toggle-collect='*SqliteBuffer*append*' \
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
    for chunk in samples.chunks(10_000) {
        buf.append(chunk).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    drop(buf);
    // Closing the last connection checkpoints the WAL into the main file.
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "{n} samples in {secs:.3} s ({:.0}/s); {size} bytes on disk, {:.1} bytes/sample",
        n as f64 / secs,
        size as f64 / n as f64
    );
}
