//! `pcmetrics maintain` dies half-way, by a fail point (`--fail-at`) or by `kill -9` at a
//! random moment: the table still loads and holds every sample exactly once with its
//! values, the next uninterrupted run finishes the work, and after it a dry run finds
//! nothing left to compact or collect. On the embedded default and on S3 + REST.
//!
//! Syncs run with `maintenance.role = "off"`, so the table piles up small files and
//! snapshots and only the `maintain` processes under test touch its lifecycle (a sync
//! would otherwise maintain on the first run in a fresh data dir).

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{table_rows, text};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::sample::MetricSample;
use stack::{Stack, unique_table};

/// Every variable a command of this file sets: small batches (many files and snapshots
/// per day), and no maintenance that the test did not ask for.
const BASE_ENV: &[(&str, &str)] = &[
    ("PCMETRICS_SYNC__BATCH_ROWS", "50"),
    ("PCMETRICS_MAINTENANCE__INTERVAL", "1000d"),
];
const SYNC_ENV: &[(&str, &str)] = &[("PCMETRICS_MAINTENANCE__ROLE", "off")];
/// Maintenance that does everything at once: expire all but the newest ten snapshots,
/// delete unreferenced files however young, compact every day that ended.
const MAINTAIN_ENV: &[(&str, &str)] = &[
    ("PCMETRICS_SYNC__SNAPSHOT_RETENTION", "1ms"),
    ("PCMETRICS_MAINTENANCE__ORPHAN_AGE", "0s"),
    ("PCMETRICS_MAINTENANCE__COMPACT_AFTER", "1s"),
];

const STEPS: [&str; 5] = [
    "compacted",
    "compact-committed",
    "expired",
    "collecting",
    "orphans",
];

/// How far a killed `maintain` got, as the table shows it afterwards.
const KILL_PHASES: [&str; 4] = [
    "nothing committed",
    "compaction committed, expiry not",
    "expiry committed",
    "maintain had ended",
];

/// xorshift: reproducible "random" delays; the seed is printed with any failure.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One lakehouse: a config file's text and the variables (keys) that go with it.
struct Backend {
    name: &'static str,
    config_toml: String,
    env: Vec<(&'static str, String)>,
    /// Keeps the embedded lakehouse's folder alive.
    _lake: Option<tempfile::TempDir>,
}

impl Backend {
    fn embedded() -> Self {
        let lake = tempfile::tempdir().unwrap();
        Self {
            name: "embedded",
            config_toml: format!("[storage]\nroot = \"{}\"\n", lake.path().display()),
            env: Vec::new(),
            _lake: Some(lake),
        }
    }

    fn s3_rest(stack: &Stack, tag: &str) -> Self {
        Self {
            name: "s3+rest",
            config_toml: stack.config_toml(&unique_table(tag)),
            env: stack.aws_env().into_iter().collect(),
            _lake: None,
        }
    }
}

/// A data dir with its config file, on one backend.
struct Pc<'a> {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    backend: &'a Backend,
}

impl<'a> Pc<'a> {
    fn new(backend: &'a Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("pcmetrics.toml");
        std::fs::write(&cfg, &backend.config_toml).unwrap();
        Self { dir, cfg, backend }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `pcmetrics --data-dir <dir> --config <cfg> <args>`, isolated from the machine's
    /// config and `PCMETRICS_*` / `AWS_*` variables (as `common::pcmetrics`).
    fn cmd(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
        c.arg("--data-dir")
            .arg(self.path())
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("no-config"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PCMETRICS_") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.envs(self.backend.env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(BASE_ENV.iter().copied())
            .envs(extra.iter().copied());
        c
    }

    fn run_ok(&self, args: &[&str], extra: &[(&str, &str)], context: &str) -> Output {
        let o = self.cmd(args, extra).output().unwrap();
        assert!(
            o.status.success(),
            "{context}: `pcmetrics {}` failed: {}",
            args.join(" "),
            text(&o)
        );
        o
    }

    /// Buffers `samples` samples a minute apart from `start` (RFC 3339).
    fn simulate(&self, samples: u64, start: &str, context: &str) {
        self.run_ok(
            &[
                "simulate",
                "--samples",
                &samples.to_string(),
                "--start",
                start,
                "--step",
                "60s",
            ],
            &[],
            context,
        );
    }

    fn sync(&self, context: &str) {
        self.run_ok(&["sync"], SYNC_ENV, context);
    }

    /// `maintain --json [more]`, which must succeed; its report.
    fn maintain(&self, more: &[&str], context: &str) -> serde_json::Value {
        let mut args = vec!["maintain", "--json"];
        args.extend_from_slice(more);
        let o = self.run_ok(&args, MAINTAIN_ENV, context);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{context}: maintain --json printed no report ({e}): {}",
                text(&o)
            )
        })
    }

    /// An uninterrupted run that must do all of its work without a warning.
    fn maintain_clean(&self, context: &str) -> serde_json::Value {
        let report = self.maintain(&[], context);
        assert_eq!(
            report["warnings"],
            serde_json::json!([]),
            "{context}: the uninterrupted maintain reported warnings: {report}"
        );
        report
    }

    /// After an uninterrupted run, a dry run with the same settings finds nothing to
    /// compact, expire or delete.
    fn assert_nothing_left(&self, context: &str) {
        let report = self.maintain(&["--dry-run"], context);
        let left: Vec<String> = [
            "days_compacted",
            "snapshots_expired",
            "manifest_lists_deleted",
            "manifests_deleted",
            "data_files_deleted",
            "metadata_files_deleted",
            "orphans_deleted",
        ]
        .into_iter()
        .filter(|k| report[k] != 0)
        .map(|k| format!("{k} = {}", report[k]))
        .collect();
        assert!(
            left.is_empty() && report["warnings"] == serde_json::json!([]),
            "{context}: a dry run after the uninterrupted maintain still finds work ({}): {report}",
            left.join(", ")
        );
    }

    /// `status --json`'s `table_health`: live and stored files, snapshots.
    fn health(&self, context: &str) -> serde_json::Value {
        let o = self.run_ok(&["status", "--json"], &[], context);
        let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            status["table_health"].is_object(),
            "{context}: status has no table health: {status}"
        );
        status["table_health"].clone()
    }

    /// The table loads, and the rows of this PC are seqs 1..=`n`, each once. Values are
    /// those `seen` recorded for a seq earlier (compaction rewrites rows, it must not
    /// change them); new seqs are recorded.
    fn assert_rows(&self, n: i64, seen: &mut BTreeMap<i64, MetricSample>, context: &str) {
        let b = self.backend;
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            table_rows(self.path(), &b.config_toml, &b.env)
        }))
        .unwrap_or_else(|_| {
            panic!("{context}: the table does not load (the panic above says why)")
        });
        let host = HostIdentity::load_or_create(self.path()).unwrap().host_id;
        let mut seqs = Vec::with_capacity(rows.len());
        for r in rows.into_iter().filter(|r| r.host_id == host) {
            seqs.push(r.seq);
            match seen.get(&r.seq) {
                Some(s) => assert!(
                    *s == r.sample,
                    "{context}: seq {} changed its values: was {s:?}, now {:?}",
                    r.seq,
                    r.sample
                ),
                None => {
                    seen.insert(r.seq, r.sample);
                }
            }
        }
        seqs.sort_unstable();
        if seqs.iter().copied().ne(1..=n) {
            let mut dups: Vec<i64> = seqs
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0])
                .collect();
            dups.dedup();
            let missing: Vec<i64> = (1..=n).filter(|s| seqs.binary_search(s).is_err()).collect();
            let extra: Vec<i64> = seqs
                .iter()
                .copied()
                .filter(|s| !(1..=n).contains(s))
                .collect();
            panic!(
                "{context}: the table has {} rows of this PC, want seqs 1..={n} once each; \
                 {} seqs twice or more (first {:?}), {} missing (first {:?}), {} out of range (first {:?})",
                seqs.len(),
                dups.len(),
                &dups[..dups.len().min(10)],
                missing.len(),
                &missing[..missing.len().min(10)],
                extra.len(),
                &extra[..extra.len().min(10)],
            );
        }
    }
}

/// "compact-committed" → "CompactCommitted", as the fail point names itself on stderr.
fn step_name(step: &str) -> String {
    step.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

/// The process died by the fail point of `step` (an abort), not by an error or success.
fn assert_died_at(o: &Output, step: &str, context: &str) {
    assert!(
        !o.status.success(),
        "{context}: maintain --fail-at {step} succeeded, the fail point was never reached: {}",
        text(o)
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(6),
            "{context}: maintain --fail-at {step} did not die by SIGABRT: {}",
            text(o)
        );
    }
    let want = format!("maintenance fail point {} reached", step_name(step));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&want),
        "{context}: stderr does not say {want:?}: {}",
        text(o)
    );
}

/// For each step on a fresh table: 4100 samples over four days in small batches, two
/// syncs interrupted after writing their table files (so orphans exist), then `maintain
/// --fail-at step`. The crash leaves every sample once with its values; the next run
/// finishes, leaves them so too, and a dry run after it finds nothing left.
fn fail_points(make_backend: &dyn Fn(&str) -> Backend) {
    for step in STEPS {
        let clock = Instant::now();
        let backend = make_backend(step);
        let context = format!("{} --fail-at {step}", backend.name);
        let context = context.as_str();
        let pc = Pc::new(&backend);
        // Two rounds, so that days have files of both (and 80 snapshots pile up).
        pc.simulate(2000, "2026-11-01T00:00:00Z", context);
        pc.sync(context);
        pc.simulate(2000, "2026-11-02T09:20:00Z", context);
        pc.sync(context);
        // The same batch staged twice and never committed: two unreferenced data files,
        // so the orphan scan has more than one to delete.
        pc.simulate(100, "2026-11-04T00:00:00Z", context);
        for _ in 0..2 {
            let o = pc
                .cmd(&["sync", "--fail-at", "table-files-written"], SYNC_ENV)
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("fail point TableFilesWritten"),
                "{context}: sync --fail-at table-files-written: {}",
                text(&o)
            );
        }
        pc.sync(context);
        let n = 4100;
        let mut seen = BTreeMap::new();
        pc.assert_rows(n, &mut seen, &format!("{context}, before maintain"));

        let o = pc
            .cmd(&["maintain", "--json", "--fail-at", step], MAINTAIN_ENV)
            .output()
            .unwrap();
        assert_died_at(&o, step, context);
        pc.assert_rows(n, &mut seen, &format!("{context}, after the crash"));

        let report = pc.maintain_clean(&format!("{context}, maintain after the crash"));
        // Every step is before the orphan scan ends, so the interrupted syncs' files (at
        // least) are still there for this run.
        assert!(
            report["orphans_deleted"].as_u64().unwrap_or(0) >= 1,
            "{context}: the maintain after the crash deleted no orphans: {report}"
        );
        pc.assert_rows(n, &mut seen, &format!("{context}, after the next maintain"));
        pc.assert_nothing_left(context);
        eprintln!(
            "{context}: crashed, recovered, {n} samples once, nothing left ({:.1}s); recovery: {report}",
            clock.elapsed().as_secs_f64()
        );
    }
}

/// `rounds` rounds of: 300 samples on a new day, a sync, then `maintain` killed (SIGKILL)
/// after a random delay below `max_delay_ms`; after each, every sample so far is in the
/// table once with its values. Then one uninterrupted maintain, and nothing is left.
fn random_kills(backend: &Backend, rounds: u64, max_delay_ms: u64) {
    const PER_ROUND: u64 = 300;
    let pc = Pc::new(backend);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let mut seen = BTreeMap::new();
    let mut killed_inside = 0;
    let mut phases = [0; 4];
    for round in 0..rounds {
        let context = format!("{} seed {seed} round {round}", backend.name);
        let start = format!("2026-11-{:02}T00:00:00Z", 1 + round);
        pc.simulate(PER_ROUND, &start, &context);
        pc.sync(&context);
        let before = pc.health(&context);

        let mut child = pc
            .cmd(&["maintain"], MAINTAIN_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.below(max_delay_ms);
        std::thread::sleep(Duration::from_millis(delay));
        let finished = child.try_wait().unwrap();
        if finished.is_none() {
            killed_inside += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(s) = finished {
            assert!(
                s.success(),
                "{context}: maintain failed before the kill: {s:?}"
            );
        }
        // How far the killed run got, from what it left in the table.
        let after = pc.health(&context);
        let count = |h: &serde_json::Value, k: &str| h[k].as_u64().unwrap();
        let compacted = count(&after, "data_files") < count(&before, "data_files");
        let expired =
            count(&after, "snapshots") < count(&before, "snapshots") + u64::from(compacted);
        let phase = match (finished.is_some(), compacted, expired) {
            (true, ..) => 3,
            (false, _, true) => 2,
            (false, true, false) => 1,
            (false, false, false) => 0,
        };
        phases[phase] += 1;
        eprintln!(
            "{context}: kill after {delay} ms: {} (live files {} -> {}, snapshots {} -> {})",
            KILL_PHASES[phase],
            count(&before, "data_files"),
            count(&after, "data_files"),
            count(&before, "snapshots"),
            count(&after, "snapshots"),
        );
        let n = ((round + 1) * PER_ROUND) as i64;
        pc.assert_rows(n, &mut seen, &context);
    }
    let context = format!("{} seed {seed}, final maintain", backend.name);
    let report = pc.maintain_clean(&context);
    let n = (rounds * PER_ROUND) as i64;
    pc.assert_rows(n, &mut seen, &context);
    pc.assert_nothing_left(&context);
    assert!(
        killed_inside * 2 >= rounds,
        "{context}: most kills must land inside a maintain, {killed_inside} of {rounds} did"
    );
    eprintln!(
        "{}: {killed_inside} of {rounds} kills inside maintain ({}), {n} samples, 0 lost, 0 duplicated (seed {seed}); final run: {report}",
        backend.name,
        KILL_PHASES
            .iter()
            .zip(phases)
            .map(|(p, k)| format!("{p}: {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn fail_points_embedded() {
    fail_points(&|_| Backend::embedded());
}

#[test]
fn fail_points_s3_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    fail_points(&|step| Backend::s3_rest(&stack, &format!("mfail_{}", step.replace('-', "_"))));
}

#[test]
fn random_kills_embedded() {
    random_kills(&Backend::embedded(), 12, 400);
}

#[test]
fn random_kills_s3_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    // A run takes seconds here (each manifest is a GET): a longer window reaches expiry
    // and the deletions, not only compaction.
    random_kills(&Backend::s3_rest(&stack, "mkill"), 8, 3000);
}
