//! The `pcmetrics` binary as a user runs it: crash in the middle of a sync and retry,
//! failures with clear messages and non-zero exits, config errors, redaction.

mod common;

use common::{NO_ENV, assert_exactly_once, pcmetrics, text};

#[test]
fn a_sync_killed_at_any_step_then_retried_delivers_every_sample_once() {
    for step in [
        "batch-opened",
        "encoded",
        "landed",
        "table-files-written",
        "committed",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let env = [("PCMETRICS_SYNC__BATCH_ROWS", "1000")];
        let o = pcmetrics(
            dir.path(),
            &["simulate", "--samples", "2500", "--step", "1m"],
            &env,
        );
        assert!(o.status.success(), "{}", text(&o));

        // The process dies (abort, no cleanup, like kill -9) in batch 1 at `step`.
        let o = pcmetrics(dir.path(), &["sync", "--fail-at", step], &env);
        assert!(!o.status.success(), "{step}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("fail point"),
            "{step}: {}",
            text(&o)
        );
        if step == "committed" {
            // The sync reads and encodes ahead: batch 2 was open (and 3 being read) when
            // batch 1 died between its commit and its ack. The retry takes them in order.
            let db = rusqlite::Connection::open(dir.path().join("buffer.db")).unwrap();
            let open: i64 = db
                .query_row("SELECT count(*) FROM batches", [], |r| r.get(0))
                .unwrap();
            assert!(open >= 2, "{step}: {open} open batch(es)");
        }

        let o = pcmetrics(dir.path(), &["sync", "--json"], &env);
        assert!(o.status.success(), "{step}: {}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["rows"], 2500, "{step}: {report}");
        let already = report["already_committed"].as_u64().unwrap();
        assert_eq!(already, u64::from(step == "committed"), "{step}: {report}");

        assert_exactly_once(dir.path(), "", &[], 2500, "embedded");
        let o = pcmetrics(dir.path(), &["status", "--json"], NO_ENV);
        let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(status["buffer"]["pending"], 0, "{step}");
        assert!(
            status["metadata_location"]
                .as_str()
                .unwrap()
                .ends_with(".metadata.json")
        );
    }
}

#[test]
fn unreachable_lakehouse_fails_clearly_and_keeps_samples_pending() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s3.toml");
    std::fs::write(
        &cfg,
        r#"
[storage]
kind = "s3"
endpoint = "http://127.0.0.1:9"
bucket = "warehouse"
allow_http = true
[catalog]
kind = "rest"
uri = "http://127.0.0.1:9"
"#,
    )
    .unwrap();
    let secret = "s3cr3t-value-never-shown";
    let env = [
        ("AWS_ACCESS_KEY_ID", "GKtestkey"),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ];
    let cfg = cfg.to_str().unwrap();
    let o = pcmetrics(
        dir.path(),
        &["--config", cfg, "simulate", "--samples", "300"],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = pcmetrics(dir.path(), &["--config", cfg, "sync"], &env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("sync failed"), "{out}");
    assert!(out.contains("127.0.0.1:9"), "names the endpoint: {out}");
    // The catalog is asked first (for the table's layout), so either hint is right.
    assert!(
        out.contains("is the server running at storage.endpoint?")
            || out.contains("is the catalog running at catalog.uri?"),
        "says what to check: {out}"
    );
    assert!(out.contains("300 samples stay pending"), "{out}");
    assert!(!out.contains(secret), "{out}");

    let o = pcmetrics(dir.path(), &["--config", cfg, "status", "--json"], &env);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["buffer"]["pending"], 300);
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9")
    );
    assert!(!text(&o).contains(secret));

    // The same data dir on the embedded default: everything goes.
    let o = pcmetrics(dir.path(), &["sync"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    assert_exactly_once(dir.path(), "", &[], 300, "embedded");
}

#[test]
fn config_errors_name_the_key_and_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    for (body, expect) in [
        (
            "[sync]\ninterval = \"five minutes\"\n",
            "sync.interval: \"five minutes\" is not a duration",
        ),
        ("[sync]\nintervall = \"5m\"\n", "intervall"),
        ("[buffer]\nmax_pending = \"lots\"\n", "buffer.max_pending"),
    ] {
        std::fs::write(&cfg, body).unwrap();
        let o = pcmetrics(
            dir.path(),
            &["--config", cfg.to_str().unwrap(), "config", "check"],
            NO_ENV,
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(expect),
            "{}",
            text(&o)
        );
    }
    let o = pcmetrics(
        dir.path(),
        &["config", "check"],
        &[("PCMETRICS_SYNC__INTERVAL", "0s")],
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sync.interval"),
        "{}",
        text(&o)
    );
}

#[test]
fn config_show_redacts_keys_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[storage]\nkind = \"s3\"\nbucket = \"warehouse\"\nendpoint = \"https://s3.example\"\nsecret_access_key = \"file-secret-123\"\n",
    )
    .unwrap();
    let o = pcmetrics(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "config", "show"],
        &[("AWS_ACCESS_KEY_ID", "AKIAENVKEY999")],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        !out.contains("file-secret-123") && !out.contains("AKIAENVKEY999"),
        "{out}"
    );
    assert!(out.contains("<redacted>"), "{out}");
    assert!(out.contains("bucket = \"warehouse\""), "{out}");
}

#[test]
fn history_reads_the_local_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let o = pcmetrics(dir.path(), &["simulate", "--samples", "7200"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    let o = pcmetrics(
        dir.path(),
        &[
            "history", "--metric", "cpu", "--since", "2h", "--points", "12", "--format", "json",
        ],
        NO_ENV,
    );
    assert!(o.status.success(), "{}", text(&o));
    let series: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let points = series["points"].as_array().unwrap();
    assert!((11..=13).contains(&points.len()), "{series}");
    assert_eq!(series["resolution"], "minute");
    for p in points {
        let (min, mean, max) = (
            p["min"].as_f64().unwrap(),
            p["mean"].as_f64().unwrap(),
            p["max"].as_f64().unwrap(),
        );
        assert!(
            min <= mean && mean <= max && (0.0..=100.0).contains(&mean),
            "{p}"
        );
    }
    let o = pcmetrics(dir.path(), &["history", "--metric", "nope"], NO_ENV);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("mem.used"),
        "{}",
        text(&o)
    );
}

/// `run` stopped with Ctrl-C flushes and tries one last sync (up to 30 s); a second Ctrl-C
/// ends the process at once, and the samples stay pending. The lakehouse here accepts
/// connections and never answers, so the last sync hangs.
#[cfg(unix)]
#[test]
fn a_second_ctrl_c_exits_at_once_and_keeps_samples_pending() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s); // accept, never answer
        }
    });
    let cfg = dir.path().join("hang.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sampling]\ninterval = \"250ms\"\nsource = \"synthetic\"\n[sync]\ninterval = \"1h\"\n\
             [storage]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{port}\"\nbucket = \"hang\"\nallow_http = true\n"
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    common::isolate(
        &mut cmd,
        dir.path(),
        &[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")],
    );
    let child = cmd.spawn().unwrap();
    let pid = child.id().to_string();
    // Until the agent has buffered samples: it is running, with its handlers installed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = pcmetrics(dir.path(), &["status", "--json"], NO_ENV);
        let pending = serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|s| s["buffer"]["pending"].as_u64());
        if pending >= Some(5) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no samples buffered: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sigint = || {
        let s = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(s.success());
    };
    sigint();
    std::thread::sleep(Duration::from_millis(500));
    let second = Instant::now();
    sigint();
    let o = child.wait_with_output().unwrap();
    let waited = second.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the second Ctrl-C took {waited:?} to end the process: {}",
        text(&o)
    );
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("stopping at once"), "{}", text(&o));
    let o = pcmetrics(dir.path(), &["status", "--json"], NO_ENV);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        status["buffer"]["pending"].as_u64() >= Some(5),
        "the samples taken stay pending: {status}"
    );
}

/// Synthetic samples never mix with a PC's real history: `simulate` refuses the default
/// data dir, and a data dir that holds synthetic samples refuses the system sampler.
#[test]
fn synthetic_samples_stay_out_of_real_data_dirs() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.args(["simulate", "--samples", "10"]);
    common::isolate(&mut cmd, home.path(), NO_ENV);
    cmd.env_remove("XDG_DATA_HOME");
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("refuses the default data dir") && text(&o).contains("--data-dir"),
        "{}",
        text(&o)
    );
    assert!(
        !home
            .path()
            .join(".local/share/pcmetrics/buffer.db")
            .exists()
    );

    let dir = tempfile::tempdir().unwrap();
    let o = pcmetrics(dir.path(), &["simulate", "--samples", "10"], NO_ENV);
    assert!(o.status.success(), "{}", text(&o));
    let o = pcmetrics(dir.path(), &["run", "--for", "1s"], NO_ENV);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("holds synthetic samples and this would add system ones"),
        "{}",
        text(&o)
    );
    assert_eq!(
        pcmetrics(dir.path(), &["status", "--json"], NO_ENV)
            .status
            .code(),
        Some(0)
    );
}

/// A range far beyond anything kept is a clear error, not an overflow (a panic in debug
/// builds, every sample in release).
#[test]
fn history_refuses_a_range_beyond_what_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let o = pcmetrics(
        dir.path(),
        &["history", "--metric", "cpu", "--since", "300000years"],
        NO_ENV,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("--since") && out.contains("30d"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}
