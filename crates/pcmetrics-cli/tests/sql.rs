//! `pcmetrics sql`: SQL over the lakehouse with DataFusion. A daily average over three
//! days of one PC equals the same average computed here from the same samples; the
//! output formats; a bad query is one clear error. Embedded default and S3 + REST.

mod common;
#[path = "../../pcmetrics-core/tests/common/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::text;
use pcmetrics_core::sample::SyntheticSource;
use stack::{Stack, unique_table};

/// 2026-11-20T00:00:00Z
const START_US: i64 = 1_795_132_800_000_000;
const STEP_US: i64 = 60_000_000;
const SAMPLES: usize = 3 * 1440;

fn pcmetrics(dir: &Path, config: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcmetrics"));
    cmd.arg("--data-dir").arg(dir);
    if let Some(config) = config {
        let cfg = dir.join("pcmetrics.toml");
        std::fs::write(&cfg, config).unwrap();
        cmd.arg("--config").arg(cfg);
    }
    cmd.args(args);
    common::isolate(&mut cmd, dir, env);
    cmd.output().unwrap()
}

fn daily_average(config: Option<&str>, env: &[(&str, String)], namespace_table: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    ok(pcmetrics(
        dir.path(),
        config,
        env,
        &[
            "simulate",
            "--samples",
            &SAMPLES.to_string(),
            "--step",
            "1m",
            "--start",
            "2026-11-20T00:00:00Z",
        ],
    ));
    ok(pcmetrics(dir.path(), config, env, &["sync"]));

    // The same samples, averaged here.
    let mut want: BTreeMap<i64, (f64, u64)> = BTreeMap::new();
    for s in SyntheticSource::new(START_US, STEP_US).take(SAMPLES) {
        let day = s.ts_us.div_euclid(86_400_000_000);
        let e = want.entry(day).or_default();
        e.0 += f64::from(s.cpu_total_pct);
        e.1 += 1;
    }

    let query = format!(
        "SELECT CAST(date_trunc('day', ts) AS VARCHAR) AS day, avg(cpu_total_pct) AS cpu, count(*) AS n \
         FROM {namespace_table} GROUP BY 1 ORDER BY 1"
    );
    let o = ok(pcmetrics(
        dir.path(),
        config,
        env,
        &["sql", &query, "--format", "json"],
    ));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (row, (_, (sum, n))) in got.iter().zip(&want) {
        assert_eq!(row["n"].as_u64().unwrap(), *n, "{row}");
        let avg = sum / *n as f64;
        let cpu = row["cpu"].as_f64().unwrap();
        assert!(
            (cpu - avg).abs() < 1e-9 * avg.abs().max(1.0),
            "{row}: want {avg}"
        );
    }
    assert!(
        got[0]["day"].as_str().unwrap().starts_with("2026-11-20"),
        "{got:?}"
    );

    // A table for a terminal, CSV, and Parquet to a file.
    let o = ok(pcmetrics(
        dir.path(),
        config,
        env,
        &[
            "sql",
            &format!("SELECT count(*) AS n FROM {namespace_table}"),
        ],
    ));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains(&format!("| {SAMPLES} ")), "{shown}");
    let o = ok(pcmetrics(
        dir.path(),
        config,
        env,
        &[
            "sql",
            &format!("SELECT seq FROM {namespace_table} ORDER BY seq LIMIT 2"),
            "--format",
            "csv",
        ],
    ));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "seq\n1\n2\n");
    let out = dir.path().join("out.parquet");
    ok(pcmetrics(
        dir.path(),
        config,
        env,
        &[
            "sql",
            &format!("SELECT host_id, ts, cpu_total_pct FROM {namespace_table}"),
            "--format",
            "parquet",
            "--output",
            out.to_str().unwrap(),
        ],
    ));
    let bytes = bytes::Bytes::from(std::fs::read(&out).unwrap());
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as usize,
        SAMPLES
    );

    // A wrong query: one clear message, exit code 1.
    let o = pcmetrics(
        dir.path(),
        config,
        env,
        &[
            "sql",
            &format!("SELECT no_such_column FROM {namespace_table}"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no_such_column"), "{}", text(&o));
}

#[test]
fn sql_on_the_embedded_default() {
    // The bare table name resolves in the configured namespace.
    daily_average(None, &[], "pc_metrics");
}

#[test]
fn sql_on_s3_and_rest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let table = unique_table("sql");
    let env: Vec<(&str, String)> = stack.aws_env().into_iter().collect();
    daily_average(
        Some(&stack.config_toml(&table)),
        &env,
        &format!("bronze.{table}"),
    );
}
