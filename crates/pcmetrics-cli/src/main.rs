//! `pcmetrics`: the command line over pcmetrics-core. Parses arguments, loads the config,
//! calls the core and prints; nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use pcmetrics_core::buffer::history;
use pcmetrics_core::config::{Config, Settings};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::sample::{SourceKind, SyntheticSource, now_us};
use pcmetrics_core::sync::{LastMaintenance, Step, Syncer};
use pcmetrics_core::{maintain, pipeline};

mod service;

/// mimalloc instead of glibc's malloc: a sync encodes on tokio's blocking threads, and
/// glibc keeps an arena per thread that holds on to freed batch memory, so the resident
/// size grew with the length of a backlog (466 MB draining 5 M samples in 100 000-row
/// batches, against a 208 MB heap peak); mimalloc returns it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pcmetrics",
    version,
    about = "Samples this PC's metrics into a personal lakehouse (SQLite buffer -> Parquet -> Iceberg)"
)]
struct Cli {
    /// Data dir: buffer, host id and the embedded lakehouse. Default: the platform data dir.
    #[arg(long, global = true, env = "PCMETRICS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Config file. Default: <config dir>/pcmetrics/config.toml if it exists.
    #[arg(long, global = true, env = "PCMETRICS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (repeat for more); PCMETRICS_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sample and sync on schedule until Ctrl-C / SIGTERM or --for ends.
    Run(RunArgs),
    /// Sync the pending samples now.
    Sync(SyncArgs),
    /// Run SQL over the lakehouse's tables (bronze.pc_metrics, ...) with DataFusion.
    Sql(SqlArgs),
    /// List the PCs in the table: name, host id, first and last sample, rows.
    Hosts {
        #[arg(long)]
        json: bool,
    },
    /// Show the buffer, the last syncs and the table.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Maintain the table now: compact closed days, expire snapshots, delete what no
    /// retained snapshot references. Also runs by itself after syncs.
    Maintain {
        /// Say what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        /// Abort the process when maintenance reaches this step (crash tests).
        #[arg(long, hide = true, value_name = "STEP")]
        fail_at: Option<maintain::Step>,
    },
    /// A downsampled series from the local history.
    History(HistoryArgs),
    /// Append synthetic samples to the buffer.
    Simulate(SimulateArgs),
    /// Show or check the config.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run `pcmetrics run` as a systemd user service (Linux): install, uninstall, status.
    Service {
        #[command(subcommand)]
        action: service::Action,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Stop after this long, e.g. "30s", "2h" (default: until Ctrl-C / SIGTERM).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Sample this PC ("system") or deterministic fake data ("synthetic").
    #[arg(long)]
    source: Option<SourceKind>,
}

#[derive(Args)]
struct SyncArgs {
    #[arg(long)]
    json: bool,
    /// Abort the process when the sync reaches this step (crash tests).
    #[arg(long, hide = true, value_name = "STEP")]
    fail_at: Option<Step>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
struct HistoryArgs {
    /// Metric name; `pcmetrics history --metric list` shows them all.
    #[arg(long)]
    metric: String,
    /// How far back, e.g. "1h", "30d".
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    since: Duration,
    /// Most points in the series.
    #[arg(long, default_value_t = 60)]
    points: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Which PC: "this" (the local buffer), a host name or id from `pcmetrics hosts` (read
    /// from the lakehouse), or "all" (this PC locally, the others from the lakehouse).
    #[arg(long, value_name = "PC")]
    host: Option<String>,
}

#[derive(Args)]
struct SqlArgs {
    /// One SQL statement, e.g. "SELECT count(*) FROM bronze.pc_metrics".
    query: String,
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    format: SqlFormat,
    /// Write the result to this file instead of stdout (required for parquet).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SqlFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Args)]
struct SimulateArgs {
    /// How many samples.
    #[arg(long)]
    samples: u64,
    /// Time between samples.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    step: Duration,
    /// Time of the first sample, RFC 3339 (e.g. 2026-11-01T00:00:00Z) or a date; default:
    /// so that the last sample is now.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective config (file, environment and defaults), secrets redacted.
    Show,
    /// Validate the config and say where data will go.
    Check,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|_| format!("{s:?} is not a duration; write e.g. \"30s\", \"5m\" or \"2h\""))
}

fn main() -> ExitCode {
    // `--version` adds the data layouts this build writes; `-V` stays one line.
    static LONG_VERSION: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| pcmetrics_core::version::About::current().long());
    let matches = Cli::command()
        .long_version(LONG_VERSION.as_str())
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(&cli);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start the async runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Run(_)) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("PCMETRICS_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("{default},sqlx=warn,iceberg=warn"))
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| pcmetrics_core::redact::Writer::new(std::io::stderr()))
        .init();
}

fn load(cli: &Cli) -> Result<(Config, Settings)> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    let settings = config.validate(cli.data_dir.as_deref())?;
    Ok((config, settings))
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    // Uninstall and status must work with a broken config; install checks it itself.
    if let Command::Service { action } = cli.command {
        return service::run(action, cli.data_dir.as_deref(), cli.config.as_deref());
    }
    let (config, settings) = load(&cli)?;
    match cli.command {
        Command::Run(args) => run(settings, args).await,
        Command::Sync(args) => sync(settings, args).await,
        Command::Status { json } => status(settings, json).await,
        Command::Hosts { json } => hosts(settings, json).await,
        Command::Sql(args) => sql(settings, args).await,
        Command::Maintain {
            dry_run,
            json,
            fail_at,
        } => maintain(settings, dry_run, json, fail_at).await,
        Command::History(args) => history(settings, args).await,
        Command::Simulate(args) => simulate(settings, args),
        Command::Config { action } => {
            match action {
                ConfigAction::Show => print!("{}", config.to_redacted_toml()),
                ConfigAction::Check => {
                    if let Some(w) = &settings.maintenance.warning {
                        eprintln!("warning: {w}");
                    }
                    if let pcmetrics_core::config::CatalogSettings::Sql { path, .. } =
                        &settings.catalog
                        && let Some(w) = pcmetrics_core::commit::netfs::sql_catalog_warning(path)
                    {
                        eprintln!("warning: {w}");
                    }
                    println!("config ok");
                    println!("data dir:  {}", settings.data_dir.display());
                    println!("table:     {}", settings.table_ident());
                    println!("lakehouse: {}", settings.describe_lakehouse());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Service { .. } => unreachable!("dispatched before the config is loaded"),
    }
}

/// Resolves at the first Ctrl-C, SIGTERM or the end of `--for`. The signal handlers are
/// installed when this is called, not when the future is first polled: a Ctrl-C while
/// the agent is still starting is then a clean stop rather than the default action,
/// which kills the process.
fn shutdown_signal(run_for: Option<Duration>) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        let (ctrl_c, term) = (wait_for(int), wait_for(term));
        #[cfg(not(unix))]
        let (ctrl_c, term) = (
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            std::future::pending::<()>(),
        );
        stop_on(run_for, ctrl_c, term).await
    }
}

#[cfg(unix)]
async fn wait_for(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn stop_on(
    run_for: Option<Duration>,
    ctrl_c: impl std::future::Future<Output = ()>,
    term: impl std::future::Future<Output = ()>,
) {
    let timer = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: stopping (flushing and one last sync; Ctrl-C again to exit at once)"),
        _ = term => tracing::info!("SIGTERM: stopping"),
        _ = timer => tracing::info!("--for elapsed: stopping"),
    }
    // A second Ctrl-C (or SIGTERM) does not wait for the last sync: every sample is
    // already durable in the buffer, and whatever the sync had not finished stays pending.
    tokio::spawn(async {
        second_signal().await;
        eprintln!("stopping at once; pending samples stay in the buffer for the next sync");
        std::process::exit(130);
    });
}

async fn second_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(mut settings: Settings, args: RunArgs) -> Result<ExitCode> {
    if let Some(source) = args.source {
        settings.sampling.source = source;
    }
    let stop = shutdown_signal(args.run_for);
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        lakehouse = %settings.describe_lakehouse(),
        interval = ?settings.sampling.interval,
        sync_interval = ?settings.sync.interval,
        "pcmetrics running; Ctrl-C to stop"
    );
    let source = settings.sampling.open_source().await;
    let report = pipeline::run(settings, source, stop, None).await?;
    println!(
        "stopped: {} samples taken, {} rows synced ({} syncs ok, {} failed), {} pending",
        report.samples,
        report.rows_synced,
        report.syncs_ok,
        report.syncs_failed,
        report.pending_at_exit
    );
    Ok(ExitCode::SUCCESS)
}

fn syncer(settings: Settings) -> Result<Syncer> {
    let host = HostIdentity::load_or_create(&settings.data_dir)?;
    let buffer = pipeline::open_buffer(&settings)?;
    Ok(Syncer::new(settings, host, Arc::new(Mutex::new(buffer))))
}

async fn sync(settings: Settings, args: SyncArgs) -> Result<ExitCode> {
    let data_dir = settings.data_dir.clone();
    let syncer = syncer(settings)?.with_fail_point(args.fail_at);
    match syncer.sync().await {
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if r.batches == 0 {
                println!("nothing to sync");
            } else {
                println!(
                    "synced {} rows in {} files ({} bytes), {} batches{} in {:.2}s; snapshot {}",
                    r.rows,
                    r.files,
                    r.bytes,
                    r.batches,
                    if r.already_committed > 0 {
                        format!(" ({} were already in the table)", r.already_committed)
                    } else {
                        String::new()
                    },
                    r.duration_ms as f64 / 1000.0,
                    r.snapshot_id.map_or("-".into(), |s| s.to_string()),
                );
                if let Some(m) = &r.metadata_location {
                    println!("table metadata: {m}");
                }
            }
            for id in &r.rekeyed {
                eprintln!(
                    "warning: the table had samples of this buffer that it did not deliver: this data dir was restored from a backup or copied from another PC. It continues as buffer {id}; the samples of both timelines are in the table."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let pending = pipeline::open_buffer(syncer.settings())
                .and_then(|b| Ok(b.status()?.pending))
                .map_or_else(|_| "unknown".into(), |p| p.to_string());
            eprintln!("error: sync failed: {e}");
            eprintln!(
                "{pending} samples stay pending in {}; they will go with the next sync",
                data_dir.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn maintain(
    settings: Settings,
    dry_run: bool,
    json: bool,
    fail_at: Option<maintain::Step>,
) -> Result<ExitCode> {
    if let Some(w) = &settings.maintenance.warning {
        eprintln!("warning: {w}");
    }
    let syncer = syncer(settings)?.with_maintenance_fail_point(fail_at);
    let report = syncer.maintain(dry_run).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} ({:.2}s)",
            report.summary(),
            report.duration_ms as f64 / 1000.0
        );
        for w in &report.warnings {
            println!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt_time(us: Option<i64>) -> String {
    us.and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The table of `settings`, for the commands that only read it (`sql`, `hosts`,
/// `history --host`).
async fn connect_table(settings: &Settings) -> Result<pcmetrics_core::commit::BronzeTable> {
    let stores = Arc::new(
        pcmetrics_core::land::ObjectStores::new(&settings.storage)
            .map_err(|e| anyhow!("storage: {e}"))?,
    );
    Ok(pcmetrics_core::commit::BronzeTable::connect(settings, stores).await?)
}

/// `pcmetrics sql`: one statement over the catalog's tables, printed or written.
async fn sql(settings: Settings, args: SqlArgs) -> Result<ExitCode> {
    use pcmetrics_core::read::sql;
    if matches!(args.format, SqlFormat::Parquet) && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let table = connect_table(&settings).await?;
    let ctx = sql::session(&table, &settings.sync.namespace).await?;
    let batches = sql::query(&ctx, &args.query).await?;
    let format = match args.format {
        SqlFormat::Table => sql::Format::Table,
        SqlFormat::Csv => sql::Format::Csv,
        SqlFormat::Json => sql::Format::Json,
        SqlFormat::Parquet => sql::Format::Parquet,
    };
    match &args.output {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("--output {}", path.display()))?,
            );
            sql::write(&batches, format, &mut file)?;
            std::io::Write::flush(&mut file)?;
        }
        None => sql::write(&batches, format, std::io::stdout())?,
    }
    if format == sql::Format::Table {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        eprintln!("{rows} row{}", if rows == 1 { "" } else { "s" });
    }
    Ok(ExitCode::SUCCESS)
}

/// `pcmetrics hosts`: every PC in the table, from its metadata (no data file is read).
async fn hosts(settings: Settings, json: bool) -> Result<ExitCode> {
    let me = HostIdentity::load_or_create(&settings.data_dir)?;
    let table = connect_table(&settings).await?;
    let hosts = pcmetrics_core::read::hosts(&table).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hosts)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hosts.is_empty() {
        println!(
            "no PC has synced into {} yet (the first sync creates it)",
            settings.table_ident()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<36} {:<23} {:<23} {:>12}",
        "hostname", "host id", "first sample", "last sample", "rows"
    );
    for h in &hosts {
        let this = if h.host_id == me.host_id {
            "  (this PC)"
        } else {
            ""
        };
        println!(
            "{:<20} {:<36} {:<23} {:<23} {:>12}{this}",
            h.hostname,
            h.host_id,
            fmt_time(Some(h.first_us)),
            fmt_time(Some(h.last_us)),
            h.rows
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(settings: Settings, json: bool) -> Result<ExitCode> {
    let buffer = pipeline::open_buffer(&settings)?;
    let st = buffer.status()?;
    let quarantined = buffer.quarantined(20)?;
    let buffer_path = buffer.path().to_owned();
    let runs = buffer.recent_sync_runs(10)?;
    let last_ok = buffer.last_successful_sync()?;
    let last_error = runs.first().and_then(|r| r.error.clone());
    let host = HostIdentity::load_or_create(&settings.data_dir)?;
    // The table's metadata location, if the lakehouse answers (bounded: status must be quick).
    let syncer = Syncer::new(settings.clone(), host.clone(), Arc::new(Mutex::new(buffer)));
    let table = tokio::time::timeout(Duration::from_secs(10), async {
        let t = syncer.table().await?;
        let loaded = t.load().await?;
        let health = match &loaded {
            Some(_) => maintain::health::measure(t).await?,
            None => None,
        };
        Ok::<_, pcmetrics_core::Error>(loaded.map(|l| (l, health)))
    })
    .await;
    let last_maintenance = LastMaintenance::read(&settings.data_dir);
    let mut health = None;
    let (metadata_location, table_error) = match table {
        Ok(Ok(Some((t, h)))) => {
            health = h;
            (t.metadata_location().map(str::to_owned), None)
        }
        Ok(Ok(None)) => (
            None,
            Some("not created yet (the first sync creates it)".to_owned()),
        ),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (
            None,
            Some("the catalog did not answer within 10s".to_owned()),
        ),
    };
    if json {
        let v = serde_json::json!({
            "host_id": host.host_id,
            "hostname": host.hostname,
            "data_dir": settings.data_dir,
            "buffer": st,
            "quarantined": quarantined,
            "last_successful_sync": last_ok,
            "last_error": last_error,
            "table": settings.table_ident(),
            "lakehouse": settings.describe_lakehouse(),
            "metadata_location": metadata_location,
            "table_error": table_error,
            "table_health": health,
            "last_maintenance": last_maintenance,
            "maintenance_role": format!("{:?}", settings.maintenance.role).to_lowercase(),
            "recent_syncs": runs,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("host:              {} ({})", host.hostname, host.host_id);
    println!("data dir:          {}", settings.data_dir.display());
    println!("pending samples:   {}", st.pending);
    println!("oldest pending:    {}", fmt_time(st.oldest_pending_us));
    println!("newest sample:     {}", fmt_time(st.newest_sample_us));
    println!("dropped (full):    {}", st.dropped_total);
    if st.quarantined > 0 {
        println!(
            "quarantined:       {} sample(s) that can never be delivered, set aside so the rest goes on; they stay in {} (table quarantine). Please report them (status --json lists them).",
            st.quarantined,
            buffer_path.display()
        );
        for q in &quarantined {
            println!(
                "                   seq {} at {}: {}",
                q.seq,
                fmt_time(Some(q.ts_us)),
                q.reason
            );
        }
    }
    println!("samples kept:      {}", st.samples_kept);
    println!(
        "last sync ok:      {}",
        last_ok.as_ref().map_or("never".into(), |r| format!(
            "{} ({} rows)",
            fmt_time(Some(r.finished_us)),
            r.rows
        ))
    );
    println!(
        "last error:        {}",
        last_error.as_deref().unwrap_or("-")
    );
    println!(
        "table:             {} in {}",
        settings.table_ident(),
        settings.describe_lakehouse()
    );
    println!(
        "metadata location: {}",
        metadata_location
            .as_deref()
            .or(table_error.as_deref())
            .unwrap_or("-")
    );
    if let Some(h) = &health {
        println!(
            "table health:      {} data files ({} bytes, {} stored), {} manifests in the current snapshot, {} snapshots (oldest {}), metadata {} files {} bytes",
            h.data_files,
            h.data_bytes,
            h.stored_data_files,
            h.manifests,
            h.snapshots,
            fmt_time(h.oldest_snapshot_ms.map(|ms| ms * 1000)),
            h.metadata_files,
            h.metadata_bytes
        );
    }
    println!(
        "last maintenance:  {}",
        match &last_maintenance {
            None => "never".to_owned(),
            Some(m) => format!(
                "{}: {}",
                fmt_time(Some(m.at_ms * 1000)),
                m.error
                    .clone()
                    .unwrap_or_else(|| m.report.as_ref().map_or_else(String::new, |r| r.summary()))
            ),
        }
    );
    if !runs.is_empty() {
        println!("recent syncs:");
        for r in &runs {
            println!(
                "  {}  {:>8} rows {:>3} files {:>10} bytes {:>7.2}s  {}",
                fmt_time(Some(r.started_us)),
                r.rows,
                r.files,
                r.bytes,
                (r.finished_us - r.started_us) as f64 / 1e6,
                r.error
                    .as_deref()
                    .map_or_else(|| "ok".to_owned(), |e| format!("FAILED: {e}"))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn history(settings: Settings, args: HistoryArgs) -> Result<ExitCode> {
    use pcmetrics_core::read::history::HostSeries;
    if args.metric == "list" {
        for m in history::METRICS {
            println!("{:<14} {:<6} {}", m.name, m.unit, m.help);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let metric = history::metric(&args.metric).map_err(|e| anyhow!("--metric: {e}"))?;
    if args.points == 0 || args.points > 100_000 {
        bail!("--points: {} is out of range; use 1 to 100000", args.points);
    }
    let to = now_us();
    let since = i64::try_from(args.since.as_micros())
        .ok()
        .filter(|&s| s <= history::MAX_SPAN_US)
        .ok_or_else(|| {
            anyhow!(
                "--since: {} is further back than pcmetrics keeps anything (at most {} years); use e.g. \"30d\"",
                humantime::format_duration(args.since),
                history::MAX_SPAN_US / history::YEAR_US
            )
        })?;
    let from = to - since;
    let me = HostIdentity::load_or_create(&settings.data_dir)?;
    let local = |me: &HostIdentity| -> Result<HostSeries> {
        let mut buffer = pipeline::open_buffer(&settings)?;
        Ok(HostSeries {
            host_id: me.host_id.clone(),
            hostname: me.hostname.clone(),
            source: "local buffer",
            series: buffer.history(metric, from, to, args.points)?,
        })
    };
    let Some(wanted) = args
        .host
        .clone()
        .filter(|h| h != "this" && *h != me.host_id)
    else {
        let this = local(&me)?;
        print_history(&[this], args.format, args.host.is_some())?;
        return Ok(ExitCode::SUCCESS);
    };
    // Other PCs: from the lakehouse.
    let mut shown = Vec::new();
    if wanted == "all" {
        shown.push(local(&me)?);
    }
    let others = async {
        let table = connect_table(&settings).await?;
        let hosts = pcmetrics_core::read::hosts(&table).await?;
        let picked: Vec<_> = hosts
            .into_iter()
            .filter(|h| h.host_id != me.host_id)
            .filter(|h| wanted == "all" || h.host_id == wanted || h.hostname == wanted)
            .collect();
        let mut out = Vec::new();
        for h in picked {
            let series = pcmetrics_core::read::history::series(
                &table,
                &h.host_id,
                metric,
                from,
                to,
                args.points,
            )
            .await?;
            out.push(HostSeries {
                host_id: h.host_id,
                hostname: h.hostname,
                source: "lakehouse",
                series,
            });
        }
        Ok::<_, anyhow::Error>(out)
    };
    match others.await {
        Ok(found) if found.is_empty() && wanted != "all" => bail!(
            "--host {wanted:?}: no such PC in the table; `pcmetrics hosts` lists them (\"this\" and \"all\" work too)"
        ),
        Ok(found) => shown.extend(found),
        // Honest about what is missing; this PC's own history still shows.
        Err(e) if wanted == "all" => eprintln!(
            "the other PCs are not shown: the lakehouse cannot be read ({e:#}); this PC's history is from its local buffer"
        ),
        Err(e) => return Err(e.context(format!("--host {wanted:?}: reading the lakehouse"))),
    }
    print_history(&shown, args.format, true)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints series; `per_host` adds the PC to every row (and makes JSON an array).
fn print_history(
    shown: &[pcmetrics_core::read::history::HostSeries],
    format: Format,
    per_host: bool,
) -> Result<()> {
    match format {
        Format::Json if per_host => println!("{}", serde_json::to_string_pretty(shown)?),
        Format::Json => println!("{}", serde_json::to_string_pretty(&shown[0].series)?),
        Format::Csv => {
            println!(
                "{}ts,mean,min,max",
                if per_host { "hostname,host_id," } else { "" }
            );
            for h in shown {
                for p in &h.series.points {
                    let who = if per_host {
                        format!("{},{},", h.hostname, h.host_id)
                    } else {
                        String::new()
                    };
                    println!(
                        "{who}{},{},{},{}",
                        fmt_rfc3339(p.ts_us),
                        p.mean,
                        p.min,
                        p.max
                    );
                }
            }
        }
        Format::Table => {
            for h in shown {
                let series = &h.series;
                if per_host {
                    println!("{} ({}), from the {}", h.hostname, h.host_id, h.source);
                }
                println!(
                    "{} ({}) from {} to {}, {} buckets of {}s, from {:?} data",
                    series.metric,
                    if series.unit.is_empty() {
                        "-"
                    } else {
                        series.unit
                    },
                    fmt_time(Some(series.from_us)),
                    fmt_time(Some(series.to_us)),
                    series.points.len(),
                    series.bucket_us / 1_000_000,
                    series.resolution
                );
                println!("{:<24} {:>14} {:>14} {:>14}", "time", "mean", "min", "max");
                for p in &series.points {
                    println!(
                        "{:<24} {:>14.2} {:>14.2} {:>14.2}",
                        fmt_time(Some(p.ts_us)),
                        p.mean,
                        p.min,
                        p.max
                    );
                }
            }
        }
    }
    Ok(())
}

fn fmt_rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn parse_start(s: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros());
    }
    bail!("--start: {s:?} is not a time; write e.g. 2026-11-01T00:00:00Z or 2026-11-01")
}

fn simulate(settings: Settings, args: SimulateArgs) -> Result<ExitCode> {
    if args.step.is_zero() {
        bail!("--step: must be more than 0, e.g. \"1s\"");
    }
    let step_us = args.step.as_micros() as i64;
    let start = match &args.start {
        Some(s) => parse_start(s)?,
        None => now_us() - (args.samples.saturating_sub(1) as i64) * step_us,
    };
    if Some(&settings.data_dir) == pcmetrics_core::config::default_data_dir().as_ref() {
        bail!(
            "simulate writes synthetic samples, and refuses the default data dir {} so that they never mix with this PC's real history; pass --data-dir DIR (a new folder)",
            settings.data_dir.display()
        );
    }
    HostIdentity::load_or_create(&settings.data_dir)?;
    let mut buffer = pipeline::open_buffer(&settings)?;
    buffer.claim_source(pcmetrics_core::sample::SourceKind::Synthetic)?;
    let clock = std::time::Instant::now();
    let mut source = SyntheticSource::new(start, step_us);
    let mut left = args.samples;
    let (mut first, mut last, mut dropped) = (None, 0, 0);
    let mut chunk = Vec::with_capacity(10_000);
    while left > 0 {
        chunk.clear();
        chunk.extend(source.by_ref().take(left.min(10_000) as usize));
        left -= chunk.len() as u64;
        let a = buffer.append(&chunk).context("appending to the buffer")?;
        first.get_or_insert(a.first_seq);
        last = a.last_seq;
        dropped += a.dropped;
    }
    buffer.maintain(
        now_us(),
        &pcmetrics_core::buffer::Retention::from_settings(&settings),
    )?;
    let secs = clock.elapsed().as_secs_f64();
    println!(
        "appended {} samples (seq {}..={}) in {:.2}s ({:.0}/s){}",
        args.samples,
        first.unwrap_or(0),
        last,
        secs,
        args.samples as f64 / secs.max(1e-9),
        if dropped > 0 {
            format!("; {dropped} oldest pending dropped (buffer.max_pending)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
