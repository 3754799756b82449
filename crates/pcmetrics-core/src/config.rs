//! # Config: one TOML file, validated once at start
//!
//! [`Config`] is what the file says (every field optional, defaults named below); it is
//! parsed, overlaid with environment variables, then validated into [`Settings`], the
//! typed values the stages use (ripgrep's `lowargs` → `hiargs`). Every validation error
//! names the key, the bad value and the fix.
//!
//! Where the file comes from: `--config FILE`, else `<config dir>/pcmetrics/config.toml`
//! when it exists (e.g. `~/.config/pcmetrics/config.toml`), else nothing: the embedded
//! default needs no file at all.
//!
//! Environment overrides: `PCMETRICS_<SECTION>__<KEY>=value`, e.g.
//! `PCMETRICS_SYNC__INTERVAL=10m`. S3 credentials may instead come from the standard
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` and
//! `AWS_ENDPOINT_URL`, or from the `AWS_PROFILE` profile of `~/.aws/credentials`
//! (`config/aws.rs`).
//! Keys, tokens and header values are [`Secret`]s: they print as `<redacted>` everywhere.
//! In the file each may instead be a reference to the OS keyring,
//! `{ keyring = "<account>" }` ([`keyring`]), resolved when the config is validated.

mod aws;
pub mod keyring;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sample::{
    Collectors, DEFAULT_INTERFACE_EXCLUDES, DEFAULT_MOUNT_EXCLUDES, NameFilter, SamplerOptions,
    SourceKind,
};

pub use keyring::{KeyringError, KeyringRef, MemoryKeyring, OsKeyring, SecretSource, SecretStore};

/// Environment variables that override file keys start with this and name
/// `<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "PCMETRICS_";

/// Keys whose values are credentials ([`Secret`]s), in any section.
pub const SECRET_KEYS: [&str; 5] = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "token",
    "credential",
];

/// Whether the value at `path` (`section.key`, or deeper for a table) is a credential
/// or inside one: a [`SECRET_KEYS`] key (or its keyring reference), or any value of
/// `catalog.headers` (API keys travel there).
fn is_secret_path(path: &str) -> bool {
    path == "catalog.headers"
        || path.starts_with("catalog.headers.")
        || path.split('.').any(|part| SECRET_KEYS.contains(&part))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; check the path given to --config")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config {origin}: {key}: {message}")]
    Type {
        origin: String,
        key: String,
        message: String,
    },
    /// A value that parsed but makes no sense; `message` says what to write instead.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// A value is wrong. The message may quote it, so URLs in it are redacted.
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self::Invalid {
            key: key.to_owned(),
            message: crate::redact::text(&message).into_owned(),
        }
    }
}

/// A credential. Never printed: `Debug`, `Display` and `Serialize` all give `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "<redacted>";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The clear value, for handing to a client library. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Self::REDACTED)
    }
}

/// The config file. Every key is optional; unknown keys are rejected by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the buffer, host id and the embedded lakehouse live. Default: the platform
    /// data dir (`~/.local/share/pcmetrics` on Linux). `--data-dir` wins over this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub sampling: SamplingConfig,
    #[serde(default)]
    pub buffer: BufferConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
}

/// Who keeps the table small and fast: compaction, snapshot expiry, garbage collection
/// and the landing zone's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceRole {
    /// "full", except "own" when S3 storage is paired with the embedded SQL catalog (other
    /// PCs may keep their own catalogs over the same table location).
    #[default]
    Auto,
    /// Everything, for every PC's files: compaction, expiry, garbage collection (including
    /// orphan files under the table location) and the whole landing zone.
    Full,
    /// This PC's share only: compacts its own files, expires snapshots and deletes what
    /// the expired snapshots alone referenced, and its own landing files. No orphan scan.
    Own,
    /// Nothing: another engine maintains the table (Spark's Iceberg procedures). Appends
    /// still merge manifests, as every Iceberg writer does.
    Off,
}

/// Table maintenance. Runs after a sync, at most once per `interval`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// "auto" (default), "full", "own" or "off". On a table many PCs share, set "own" on
    /// all but one PC, which keeps "full".
    #[serde(default)]
    pub role: MaintenanceRole,
    /// Time between maintenance runs, checked after each sync. Default "1h".
    #[serde(default = "default_maintenance_interval")]
    pub interval: String,
    /// A day's files are compacted into one per PC once the day (UTC) ended this long
    /// ago. Default "2h". Samples that arrive later are compacted in at the next run.
    #[serde(default = "default_compact_after")]
    pub compact_after: String,
    /// Files under the table location that no snapshot references are deleted once they
    /// are this old, so commits in flight on other PCs or engines are never touched.
    /// Default "6h".
    #[serde(default = "default_orphan_age")]
    pub orphan_age: String,
    /// Landing zone files are deleted this long after they landed. The landing zone is
    /// the raw drop of every sync (for replays and audits); the table keeps the data.
    /// Default "30d"; "0s" keeps them forever.
    #[serde(default = "default_landing_retention")]
    pub landing_retention: String,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            role: MaintenanceRole::default(),
            interval: default_maintenance_interval(),
            compact_after: default_compact_after(),
            orphan_age: default_orphan_age(),
            landing_retention: default_landing_retention(),
        }
    }
}

fn default_maintenance_interval() -> String {
    "1h".into()
}
fn default_compact_after() -> String {
    "2h".into()
}
fn default_orphan_age() -> String {
    "6h".into()
}
fn default_landing_retention() -> String {
    "30d".into()
}

/// Desktop notifications of the tray app (the CLI ignores this section).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Notify once when syncing keeps failing (3 attempts in a row) and once when it
    /// recovers. Default true.
    #[serde(default = "default_true")]
    pub sync_failures: bool,
    /// Warn when pending samples pass this percentage of buffer.max_pending (past the
    /// bound the oldest are dropped). Default 80.
    #[serde(default = "default_buffer_warn_pct")]
    pub buffer_warn_pct: u8,
    /// Notify when CPU use stays above this percentage for `cpu_alert_for`. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_alert_pct: Option<f64>,
    /// How long CPU use must stay above `cpu_alert_pct`. Default "5m".
    #[serde(default = "default_cpu_alert_for")]
    pub cpu_alert_for: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            sync_failures: true,
            buffer_warn_pct: default_buffer_warn_pct(),
            cpu_alert_pct: None,
            cpu_alert_for: default_cpu_alert_for(),
        }
    }
}

fn default_buffer_warn_pct() -> u8 {
    80
}
fn default_cpu_alert_for() -> String {
    "5m".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Time between samples, e.g. "1s", "500ms", "10s". Default "1s"; at least "250ms"
    /// (CPU use is a difference between two readings that far apart).
    #[serde(default = "default_sampling_interval")]
    pub interval: String,
    /// "system" (this PC) or "synthetic" (deterministic fake data). Default "system".
    #[serde(default)]
    pub source: SourceKind,
    /// Collectors that can be turned off (`[sampling.collect]`).
    #[serde(default)]
    pub collect: Collectors,
    /// Which mount points get a row in `disks` (`[sampling.mounts]`).
    #[serde(default)]
    pub mounts: FilterConfig,
    /// Which network interfaces get a row in `networks` (`[sampling.interfaces]`).
    #[serde(default)]
    pub interfaces: FilterConfig,
}

/// `[sampling.mounts]` and `[sampling.interfaces]`: glob patterns (`*` any run, `?` one
/// character) over mount points or interface names. A name is kept when it matches
/// `include` (or `include` is empty) and not `exclude`. `exclude` unset means the
/// defaults (`sample::DEFAULT_MOUNT_EXCLUDES`, `sample::DEFAULT_INTERFACE_EXCLUDES`);
/// `exclude = []` keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
}

impl FilterConfig {
    fn filter(&self, key: &str, defaults: &[&str]) -> Result<NameFilter, ConfigError> {
        let exclude = self
            .exclude
            .clone()
            .unwrap_or_else(|| defaults.iter().map(|p| p.to_string()).collect());
        NameFilter::new(self.include.clone(), exclude)
            .map_err(|e| ConfigError::invalid(&format!("{key}.{}", e.list), e.message))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// How long synced samples stay in the local history at full resolution. Default "30d".
    #[serde(default = "default_retention")]
    pub retention: String,
    /// How long the per-minute rollups stay for long-range history. Default "400d".
    #[serde(default = "default_rollup_retention")]
    pub rollup_retention: String,
    /// Most unsynced samples kept; past it the oldest pending are dropped (counted, with a
    /// warning). Default 5 000 000 (58 days offline at 1 s).
    #[serde(default = "default_max_pending")]
    pub max_pending: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Time between syncs while running, e.g. "5m". Default "5m".
    #[serde(default = "default_sync_interval")]
    pub interval: String,
    /// Most samples in one batch (one snapshot, one file per day it spans). Default 100 000.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: u64,
    /// Iceberg namespace of the table. Default "bronze".
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Iceberg table name. Default "pc_metrics".
    #[serde(default = "default_table")]
    pub table: String,
    /// Key prefix of the landing zone in the object store. Default "landing/pc_metrics".
    #[serde(default = "default_landing_prefix")]
    pub landing_prefix: String,
    /// How long table snapshots are kept before maintenance expires them (the newest 10
    /// are always kept). Default "1h": exactly-once does not need old snapshots (the
    /// per-buffer watermark carries it), and every metadata file lists every kept
    /// snapshot, so a fleet of PCs syncing every 5 minutes would otherwise write
    /// megabytes of metadata per sync.
    #[serde(default = "default_snapshot_retention")]
    pub snapshot_retention: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A folder on this PC (`<data-dir>/lakehouse` unless `storage.root` says otherwise).
    #[default]
    Local,
    /// An S3-compatible object store (MinIO, Garage, AWS S3, ...).
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// "local" (default, no service needed) or "s3".
    #[serde(default)]
    pub kind: StorageKind,
    /// local: the folder holding `landing/` and `warehouse/`. Default `<data-dir>/lakehouse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// s3: endpoint URL, e.g. "http://127.0.0.1:9000" for MinIO. Empty means AWS itself.
    /// Fallback: `AWS_ENDPOINT_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// s3: region. Default `AWS_REGION`, else the `AWS_PROFILE` profile's, else "us-east-1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// s3: bucket holding the landing zone (and, usually, the warehouse). Required for s3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// s3: access key id. Fallback: `AWS_ACCESS_KEY_ID`, then the `AWS_PROFILE`
    /// profile. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<SecretSource>,
    /// s3: secret access key. Fallback: `AWS_SECRET_ACCESS_KEY`, then the
    /// `AWS_PROFILE` profile. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretSource>,
    /// s3: session token of temporary credentials (AWS STS, SSO, `aws configure
    /// export-credentials`). Fallback: `AWS_SESSION_TOKEN`, when the keys come from
    /// `AWS_ACCESS_KEY_ID` too (a token belongs to its key). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretSource>,
    /// s3: path-style URLs (`http://host/bucket/key`), as MinIO needs. Default true.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// s3: allow a plain-http endpoint. Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// s3: a PEM file of CA certificates trusted besides the system's, for an endpoint
    /// whose certificate a private CA signed. Default: the system's roots only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    /// The Iceberg SQL catalog in a SQLite file beside the warehouse (embedded default).
    #[default]
    Sql,
    /// An Iceberg REST catalog.
    Rest,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// "sql" (default, a SQLite file) or "rest".
    #[serde(default)]
    pub kind: CatalogKind,
    /// rest: the catalog's base URI, e.g. "http://127.0.0.1:8181". sql: a SQLite file path
    /// (default `<storage root>/catalog.db`, or `<data-dir>/catalog.db` with s3 storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Warehouse. rest: passed to the catalog as `warehouse` (optional). sql: where tables
    /// live; default `file://<storage root>/warehouse` or `s3://<bucket>/warehouse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// rest: a fixed bearer token, if the catalog wants one. Never printed. Not together
    /// with `credential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretSource>,
    /// rest: OAuth2 client credentials, "client_id:client_secret" (Polaris, Lakekeeper,
    /// Unity, Snowflake Open Catalog, Nessie): exchanged for a bearer token that is renewed
    /// before it expires. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretSource>,
    /// rest: where `credential` is exchanged for a token. Default `<uri>/v1/oauth/tokens`
    /// (the Iceberg REST spec's endpoint); an identity provider's token URL otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2_server_uri: Option<String>,
    /// rest: the OAuth2 scope asked for with `credential`. Default "catalog".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// rest: extra HTTP headers sent with every catalog request, name = value (e.g. an
    /// API gateway's key). Values are treated as secrets: never printed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretSource>,
    /// rest: allow sending the token, credential or headers to a plain-http `uri`.
    /// Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// rest: a PEM file of CA certificates trusted besides the system's, for a catalog
    /// whose certificate a private CA signed. Default: the system's roots only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn default_sampling_interval() -> String {
    "1s".into()
}
fn default_retention() -> String {
    "30d".into()
}
fn default_rollup_retention() -> String {
    "400d".into()
}
fn default_max_pending() -> u64 {
    5_000_000
}
fn default_sync_interval() -> String {
    "5m".into()
}
fn default_batch_rows() -> u64 {
    100_000
}
fn default_namespace() -> String {
    "bronze".into()
}
fn default_table() -> String {
    "pc_metrics".into()
}
fn default_landing_prefix() -> String {
    "landing/pc_metrics".into()
}
fn default_snapshot_retention() -> String {
    "1h".into()
}
fn default_true() -> bool {
    true
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            interval: default_sampling_interval(),
            source: SourceKind::default(),
            collect: Collectors::default(),
            mounts: FilterConfig::default(),
            interfaces: FilterConfig::default(),
        }
    }
}
impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            retention: default_retention(),
            rollup_retention: default_rollup_retention(),
            max_pending: default_max_pending(),
        }
    }
}
impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval: default_sync_interval(),
            batch_rows: default_batch_rows(),
            namespace: default_namespace(),
            table: default_table(),
            landing_prefix: default_landing_prefix(),
            snapshot_retention: default_snapshot_retention(),
        }
    }
}
impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            kind: StorageKind::default(),
            root: None,
            endpoint: None,
            region: None,
            bucket: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            path_style: true,
            allow_http: false,
            ca_file: None,
        }
    }
}

/// Where the config comes from: an explicit file, the platform default, or none.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("pcmetrics").join("config.toml"))
}

/// The platform data dir (`~/.local/share/pcmetrics` on Linux).
/// `None` when the user has no home directory: never the shared temp dir, where other
/// users could read the activity timeline or plant files.
pub fn default_data_dir() -> Option<PathBuf> {
    dirs::data_local_dir().map(|d| d.join("pcmetrics"))
}

impl Config {
    /// Reads `path` (which must exist), or the platform default file when it exists, or
    /// nothing; then applies `PCMETRICS_*__*` and `AWS_*` variables from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (origin, text) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
            ),
            None => match default_config_path().filter(|p| p.is_file()) {
                Some(p) => (
                    p.display().to_string(),
                    std::fs::read_to_string(&p)
                        .map_err(|source| ConfigError::Read { path: p, source })?,
                ),
                None => ("(defaults)".to_owned(), String::new()),
            },
        };
        Self::from_toml_with_env(&origin, &text, env)
    }

    /// Parses TOML text, overlays the environment and checks key names and types.
    /// Secrets ([`SECRET_KEYS`]) from the environment are always strings, and a type error
    /// on one never quotes the value.
    pub fn from_toml_with_env(
        origin: &str,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.to_owned(),
                    message: e.to_string().trim().replace('\n', " "),
                })?;
        let mut aws = Vec::new();
        for (name, raw) in env {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX)
                && let Some((section, key)) = rest.split_once("__")
            {
                let section = section.to_ascii_lowercase();
                let key = key.to_ascii_lowercase();
                // A secret is text even when it looks like a number (and a type error
                // would echo it).
                let value = if is_secret_path(&format!("{section}.{key}")) {
                    toml::Value::String(raw)
                } else {
                    env_value(&raw)
                };
                match table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                {
                    toml::Value::Table(t) => {
                        t.insert(key, value);
                    }
                    _ => {
                        return Err(ConfigError::invalid(
                            &section,
                            format!(
                                "{name} overrides a key of {section:?}, which is not a section"
                            ),
                        ));
                    }
                }
            } else if name.starts_with("AWS_") || aws::HOME_VARS.contains(&name.as_str()) {
                aws.push((name, raw));
            }
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                let secret = is_secret_path(&key);
                ConfigError::Type {
                    origin: origin.to_owned(),
                    message: if secret {
                        // serde quotes the value it could not take: not this one.
                        "must be the secret as a string in quotes, or a keyring reference { keyring = \"<account>\" } (value not shown)".to_owned()
                    } else {
                        e.inner().to_string()
                    },
                    key,
                }
            })?;
        config.apply_aws_env(aws)?;
        Ok(config)
    }

    /// The standard AWS variables fill what the file left unset (the file wins), then the
    /// `AWS_PROFILE` profile of the shared files fills what is still unset. They only
    /// apply to s3 storage: stray AWS variables must not break a local setup.
    fn apply_aws_env(&mut self, vars: Vec<(String, String)>) -> Result<(), ConfigError> {
        let s = &mut self.storage;
        if s.kind != StorageKind::S3 {
            return Ok(());
        }
        let var = |name: &str| {
            vars.iter()
                .rev()
                .find(|(n, v)| n == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        if s.access_key_id.is_none()
            && let Some(key) = var("AWS_ACCESS_KEY_ID")
        {
            s.access_key_id = Some(SecretSource::value(key));
            // A session token is only valid with the key it was issued for.
            if s.session_token.is_none() {
                s.session_token = var("AWS_SESSION_TOKEN").map(SecretSource::value);
            }
        }
        if s.secret_access_key.is_none() {
            s.secret_access_key = var("AWS_SECRET_ACCESS_KEY").map(SecretSource::value);
        }
        if s.region.is_none() {
            s.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        }
        if s.endpoint.is_none() {
            s.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        }
        // Only an explicit AWS_PROFILE is read, never the implicit default profile: keys
        // meant for AWS must not reach a MinIO endpoint because a file happens to exist.
        if let Some(name) = var("AWS_PROFILE") {
            if s.access_key_id.is_none() && s.secret_access_key.is_none() {
                let keys = aws::profile_keys(&name, &var)?;
                s.access_key_id = Some(SecretSource::Value(keys.access_key_id));
                s.secret_access_key = Some(SecretSource::Value(keys.secret_access_key));
                if s.session_token.is_none() {
                    s.session_token = keys.session_token.map(SecretSource::Value);
                }
            }
            if s.region.is_none() {
                s.region = aws::profile_region(&name, &var);
            }
        }
        Ok(())
    }

    /// The effective config as TOML, secrets redacted (`config show`).
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        let redact = |u: &mut Option<String>| {
            if let Some(u) = u {
                *u = crate::redact::url(u).into_owned();
            }
        };
        redact(&mut shown.storage.endpoint);
        redact(&mut shown.catalog.uri);
        redact(&mut shown.catalog.oauth2_server_uri);
        toml::to_string_pretty(&shown)
            .map(|text| keyring::inline_references(&text))
            .unwrap_or_else(|e| format!("# cannot render config: {e}"))
    }

    /// Checks every value and resolves defaults that depend on the data dir, and keyring
    /// references through the OS keyring (contacted only when a key in use is one).
    /// `data_dir_override` is `--data-dir`, which wins over the file.
    pub fn validate(&self, data_dir_override: Option<&Path>) -> Result<Settings, ConfigError> {
        self.validate_with(data_dir_override, &OsKeyring::default())
    }

    /// [`Config::validate`], with keyring references resolved through `keyring`.
    pub fn validate_with(
        &self,
        data_dir_override: Option<&Path>,
        keyring: &dyn SecretStore,
    ) -> Result<Settings, ConfigError> {
        let data_dir = data_dir_override
            .map(Path::to_path_buf)
            .or_else(|| self.data_dir.clone())
            .or_else(default_data_dir)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "data_dir",
                    "is not set and this user has no home directory to keep data in; pass --data-dir DIR (a folder only you can read) or set data_dir in the config",
                )
            })?;

        let sampling_interval = duration("sampling.interval", &self.sampling.interval)?;
        if sampling_interval < Duration::from_millis(250) {
            return Err(ConfigError::invalid(
                "sampling.interval",
                format!(
                    "{:?} is too short: CPU use needs at least 250ms between readings; write e.g. \"1s\"",
                    self.sampling.interval
                ),
            ));
        }
        let retention = duration("buffer.retention", &self.buffer.retention)?;
        let rollup_retention = duration("buffer.rollup_retention", &self.buffer.rollup_retention)?;
        if rollup_retention < retention {
            return Err(ConfigError::invalid(
                "buffer.rollup_retention",
                format!(
                    "{:?} is shorter than buffer.retention {:?}; rollups exist to outlive the raw samples, so make it at least as long",
                    self.buffer.rollup_retention, self.buffer.retention
                ),
            ));
        }
        if self.buffer.max_pending < 1000 {
            return Err(ConfigError::invalid(
                "buffer.max_pending",
                format!(
                    "{} is too small to survive even a short outage; use at least 1000 (default 5000000)",
                    self.buffer.max_pending
                ),
            ));
        }
        let sync_interval = duration("sync.interval", &self.sync.interval)?;
        if sync_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "sync.interval",
                format!(
                    "{:?} is too short: every sync adds a snapshot to the table; write e.g. \"5m\"",
                    self.sync.interval
                ),
            ));
        }
        // A batch is held in memory while it is encoded: about 1.3 KB per sample (peak
        // RSS of a sync ~390 MB at the default, ~1.4 GB at the maximum), whatever the
        // length of the backlog.
        if !(1..=1_000_000).contains(&self.sync.batch_rows) {
            return Err(ConfigError::invalid(
                "sync.batch_rows",
                format!(
                    "{} is out of range; use 1 to 1000000 (default 100000; a sync holds one batch in memory, about 1.3 KB per sample)",
                    self.sync.batch_rows
                ),
            ));
        }
        let snapshot_retention =
            duration("sync.snapshot_retention", &self.sync.snapshot_retention)?;
        identifier("sync.namespace", &self.sync.namespace)?;
        identifier("sync.table", &self.sync.table)?;
        let landing_prefix = self.sync.landing_prefix.trim_matches('/').to_owned();
        if landing_prefix.is_empty() {
            return Err(ConfigError::invalid(
                "sync.landing_prefix",
                "is empty; the landing zone needs its own prefix, e.g. \"landing/pc_metrics\"",
            ));
        }

        let storage = self.storage_settings(&data_dir, keyring)?;
        let catalog = self.catalog_settings(&data_dir, &storage, keyring)?;
        let notify = self.notify_settings(sampling_interval)?;
        let maintenance = self.maintenance_settings(&storage, &catalog)?;

        Ok(Settings {
            data_dir,
            sampling: SamplingSettings {
                interval: sampling_interval,
                source: self.sampling.source,
                options: self.sampler_options()?,
            },
            buffer: BufferSettings {
                retention,
                rollup_retention,
                max_pending: self.buffer.max_pending,
            },
            sync: SyncSettings {
                interval: sync_interval,
                batch_rows: self.sync.batch_rows as usize,
                namespace: self.sync.namespace.clone(),
                table: self.sync.table.clone(),
                landing_prefix,
                snapshot_retention,
            },
            storage,
            catalog,
            notify,
            maintenance,
        })
    }

    fn maintenance_settings(
        &self,
        storage: &StorageSettings,
        catalog: &CatalogSettings,
    ) -> Result<MaintenanceSettings, ConfigError> {
        let m = &self.maintenance;
        let shared_location_risk = matches!(storage, StorageSettings::S3(_))
            && matches!(catalog, CatalogSettings::Sql { .. });
        let (role, warning) = match m.role {
            MaintenanceRole::Auto if shared_location_risk => (
                MaintenanceRole::Own,
                Some(
                    "storage.kind = \"s3\" with the embedded SQL catalog: every PC that does this keeps its own catalog over the same table location, and they cannot see each other's commits. Share a table through a REST catalog (catalog.kind = \"rest\"). Maintenance runs as maintenance.role = \"own\" (no orphan scan); set \"full\" if this PC is the only writer of the bucket's warehouse.".to_owned(),
                ),
            ),
            MaintenanceRole::Auto => (MaintenanceRole::Full, None),
            role => (role, None),
        };
        let interval = duration("maintenance.interval", &m.interval)?;
        if interval < Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "maintenance.interval",
                format!(
                    "{:?} is too short: maintenance reads the table's manifests; write e.g. \"1h\"",
                    m.interval
                ),
            ));
        }
        let landing_retention =
            duration_or_zero("maintenance.landing_retention", &m.landing_retention)?;
        Ok(MaintenanceSettings {
            role,
            warning,
            interval,
            compact_after: duration("maintenance.compact_after", &m.compact_after)?,
            orphan_age: duration_or_zero("maintenance.orphan_age", &m.orphan_age)?,
            landing_retention: (!landing_retention.is_zero()).then_some(landing_retention),
        })
    }

    fn sampler_options(&self) -> Result<SamplerOptions, ConfigError> {
        Ok(SamplerOptions {
            collect: self.sampling.collect,
            mounts: self
                .sampling
                .mounts
                .filter("sampling.mounts", DEFAULT_MOUNT_EXCLUDES)?,
            interfaces: self
                .sampling
                .interfaces
                .filter("sampling.interfaces", DEFAULT_INTERFACE_EXCLUDES)?,
        })
    }

    fn notify_settings(&self, sampling_interval: Duration) -> Result<NotifySettings, ConfigError> {
        let n = &self.notify;
        if !(1..=100).contains(&n.buffer_warn_pct) {
            return Err(ConfigError::invalid(
                "notify.buffer_warn_pct",
                format!(
                    "{} is out of range; use 1 to 100 (default 80)",
                    n.buffer_warn_pct
                ),
            ));
        }
        let cpu_alert = match n.cpu_alert_pct {
            None => None,
            Some(pct) if !(pct > 0.0 && pct <= 100.0) => {
                return Err(ConfigError::invalid(
                    "notify.cpu_alert_pct",
                    format!(
                        "{pct} is not a percentage above 0; use e.g. 90, or leave it out to turn the alert off"
                    ),
                ));
            }
            Some(pct) => {
                let hold = duration("notify.cpu_alert_for", &n.cpu_alert_for)?;
                if hold < sampling_interval {
                    return Err(ConfigError::invalid(
                        "notify.cpu_alert_for",
                        format!(
                            "{:?} is shorter than sampling.interval {:?}; one sample cannot tell a trend, write e.g. \"5m\"",
                            n.cpu_alert_for, self.sampling.interval
                        ),
                    ));
                }
                Some(CpuAlert {
                    above_pct: pct as f32,
                    hold,
                })
            }
        };
        Ok(NotifySettings {
            sync_failures: n.sync_failures,
            buffer_warn_pct: n.buffer_warn_pct,
            cpu_alert,
        })
    }

    fn storage_settings(
        &self,
        data_dir: &Path,
        keyring: &dyn SecretStore,
    ) -> Result<StorageSettings, ConfigError> {
        let s = &self.storage;
        match s.kind {
            StorageKind::Local => {
                for (key, set) in [
                    ("storage.endpoint", s.endpoint.is_some()),
                    ("storage.bucket", s.bucket.is_some()),
                    ("storage.access_key_id", s.access_key_id.is_some()),
                    ("storage.secret_access_key", s.secret_access_key.is_some()),
                    ("storage.session_token", s.session_token.is_some()),
                    ("storage.ca_file", s.ca_file.is_some()),
                ] {
                    if set {
                        return Err(ConfigError::invalid(
                            key,
                            "is set but storage.kind is \"local\"; set storage.kind = \"s3\" to use an object store, or remove the key",
                        ));
                    }
                }
                let root = s.root.clone().unwrap_or_else(|| data_dir.join("lakehouse"));
                Ok(StorageSettings::Local { root })
            }
            StorageKind::S3 => {
                let bucket = s.bucket.clone().filter(|b| !b.is_empty()).ok_or_else(|| {
                    ConfigError::invalid(
                        "storage.bucket",
                        "is not set; storage.kind = \"s3\" needs the bucket name, e.g. bucket = \"warehouse\"",
                    )
                })?;
                if !bucket_name_ok(&bucket) {
                    return Err(ConfigError::invalid(
                        "storage.bucket",
                        format!(
                            "{bucket:?} is not a valid bucket name; use 3-63 lowercase letters, digits, '-' or '.'"
                        ),
                    ));
                }
                let endpoint = s.endpoint.clone().filter(|e| !e.is_empty());
                if let Some(e) = &endpoint {
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(ConfigError::invalid(
                            "storage.endpoint",
                            format!("{e:?} is not a URL; write e.g. \"http://127.0.0.1:9000\""),
                        ));
                    }
                    if e.starts_with("http://") && !s.allow_http {
                        return Err(ConfigError::invalid(
                            "storage.endpoint",
                            format!(
                                "{e:?} is plain http; set storage.allow_http = true to allow it (e.g. MinIO on this PC or a LAN)"
                            ),
                        ));
                    }
                }
                let access_key_id = s
                    .access_key_id
                    .as_ref()
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "storage.access_key_id",
                            "is not set; set it in the config file or in AWS_ACCESS_KEY_ID",
                        )
                    })?
                    .resolve("storage.access_key_id", keyring)?;
                let secret_access_key = s
                    .secret_access_key
                    .as_ref()
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "storage.secret_access_key",
                            "is not set; set it in the config file or in AWS_SECRET_ACCESS_KEY",
                        )
                    })?
                    .resolve("storage.secret_access_key", keyring)?;
                let session_token = match &s.session_token {
                    Some(t) => Some(t.resolve("storage.session_token", keyring)?)
                        .filter(|t| !t.expose().is_empty()),
                    None => None,
                };
                let ca = match &s.ca_file {
                    Some(p) => Some(CaFile::load("storage.ca_file", p)?),
                    None => None,
                };
                Ok(StorageSettings::S3(S3Settings {
                    endpoint,
                    region: s.region.clone().unwrap_or_else(|| "us-east-1".into()),
                    bucket,
                    access_key_id,
                    secret_access_key,
                    session_token,
                    path_style: s.path_style,
                    allow_http: s.allow_http,
                    ca,
                }))
            }
        }
    }

    fn catalog_settings(
        &self,
        data_dir: &Path,
        storage: &StorageSettings,
        keyring: &dyn SecretStore,
    ) -> Result<CatalogSettings, ConfigError> {
        let c = &self.catalog;
        match c.kind {
            CatalogKind::Sql => {
                for (key, set) in [
                    ("catalog.token", c.token.is_some()),
                    ("catalog.credential", c.credential.is_some()),
                    ("catalog.oauth2_server_uri", c.oauth2_server_uri.is_some()),
                    ("catalog.scope", c.scope.is_some()),
                    ("catalog.headers", !c.headers.is_empty()),
                    ("catalog.ca_file", c.ca_file.is_some()),
                ] {
                    if set {
                        return Err(ConfigError::invalid(
                            key,
                            "is set but catalog.kind is \"sql\", a file on this PC that takes no credentials, headers or certificates; remove it or set catalog.kind = \"rest\"",
                        ));
                    }
                }
                let path = match (&c.uri, storage) {
                    (Some(u), _) => PathBuf::from(u.strip_prefix("sqlite:").unwrap_or(u)),
                    (None, StorageSettings::Local { root }) => root.join("catalog.db"),
                    (None, StorageSettings::S3(_)) => data_dir.join("catalog.db"),
                };
                let warehouse = match (&c.warehouse, storage) {
                    (Some(w), _) => w.trim_end_matches('/').to_owned(),
                    (None, StorageSettings::Local { root }) => {
                        format!("file://{}", absolute(root).join("warehouse").display())
                    }
                    (None, StorageSettings::S3(s3)) => format!("s3://{}/warehouse", s3.bucket),
                };
                // pcmetrics touches files only inside storage.root or storage.bucket
                // (see `land::ObjectStores::resolve`); a warehouse elsewhere could never
                // be written.
                let inside = match storage {
                    StorageSettings::Local { root } => {
                        let w = warehouse.strip_prefix("file://").unwrap_or(&warehouse);
                        Path::new(w).starts_with(absolute(root))
                    }
                    StorageSettings::S3(s3) => {
                        let prefix = format!("s3://{}", s3.bucket);
                        warehouse == prefix || warehouse.starts_with(&format!("{prefix}/"))
                    }
                };
                if !inside {
                    return Err(ConfigError::invalid(
                        "catalog.warehouse",
                        format!(
                            "{warehouse:?} is outside {}; pcmetrics reads, writes and deletes only there. Put the warehouse inside it, or move storage.{} to hold it",
                            match storage {
                                StorageSettings::Local { root } =>
                                    format!("storage.root ({})", absolute(root).display()),
                                StorageSettings::S3(s3) =>
                                    format!("storage.bucket ({})", s3.bucket),
                            },
                            match storage {
                                StorageSettings::Local { .. } => "root",
                                StorageSettings::S3(_) => "bucket",
                            }
                        ),
                    ));
                }
                Ok(CatalogSettings::Sql { path, warehouse })
            }
            CatalogKind::Rest => {
                let uri = c.uri.clone().filter(|u| !u.is_empty()).ok_or_else(|| {
                    ConfigError::invalid(
                        "catalog.uri",
                        "is not set; catalog.kind = \"rest\" needs the catalog's URL, e.g. uri = \"http://127.0.0.1:8181\"",
                    )
                })?;
                if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                    return Err(ConfigError::invalid(
                        "catalog.uri",
                        format!(
                            "{uri:?} is not an http(s) URL; write e.g. \"http://127.0.0.1:8181\""
                        ),
                    ));
                }
                let uri = uri.trim_end_matches('/').to_owned();
                let auth = self.rest_auth(&uri, keyring)?;
                let sent = match &auth {
                    RestAuth::Token(_) => Some("catalog.token"),
                    RestAuth::OAuth2(_) => Some("catalog.credential"),
                    RestAuth::None if !c.headers.is_empty() => Some("catalog.headers"),
                    RestAuth::None => None,
                };
                if let Some(sent) = sent
                    && uri.starts_with("http://")
                    && !c.allow_http
                {
                    return Err(ConfigError::invalid(
                        "catalog.uri",
                        format!(
                            "{uri:?} is plain http and {sent} is set: it would cross the network in clear text. Use https, or set catalog.allow_http = true (a catalog on this PC or a LAN you trust)"
                        ),
                    ));
                }
                if matches!(storage, StorageSettings::Local { .. }) {
                    return Err(ConfigError::invalid(
                        "catalog.kind",
                        "\"rest\" needs storage.kind = \"s3\": a REST catalog keeps its warehouse in an object store, not in a folder on this PC",
                    ));
                }
                let mut headers = Vec::new();
                for (name, value) in &c.headers {
                    let key = format!("catalog.headers.{name}");
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(ConfigError::invalid(
                            &key,
                            "is not an HTTP header name; use letters, digits and '-', e.g. \"X-Api-Key\"",
                        ));
                    }
                    if matches!(
                        name.to_ascii_lowercase().as_str(),
                        "authorization" | "host" | "content-length" | "content-type"
                    ) {
                        return Err(ConfigError::invalid(
                            &key,
                            "is set by pcmetrics itself; for a bearer token use catalog.token or catalog.credential",
                        ));
                    }
                    let value = value.resolve(&key, keyring)?;
                    // The value is a secret: say what is wrong without quoting it.
                    if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
                        return Err(ConfigError::invalid(
                            &key,
                            "is not a valid header value (value not shown); use visible ASCII characters and spaces only",
                        ));
                    }
                    headers.push((name.clone(), value));
                }
                let ca = match &c.ca_file {
                    Some(p) => Some(CaFile::load("catalog.ca_file", p)?),
                    None => None,
                };
                Ok(CatalogSettings::Rest {
                    uri,
                    warehouse: c.warehouse.clone(),
                    auth,
                    headers,
                    ca,
                })
            }
        }
    }
}

impl Config {
    /// `catalog.token` or `catalog.credential` (with its token endpoint and scope) for a
    /// REST catalog at `uri`.
    fn rest_auth(&self, uri: &str, keyring: &dyn SecretStore) -> Result<RestAuth, ConfigError> {
        let c = &self.catalog;
        let resolve = |key: &str, s: &Option<SecretSource>| match s {
            Some(s) => Ok(Some(s.resolve(key, keyring)?).filter(|t| !t.expose().is_empty())),
            None => Ok::<_, ConfigError>(None),
        };
        let credential = resolve("catalog.credential", &c.credential)?;
        let token = resolve("catalog.token", &c.token)?;
        let credential = credential.as_ref();
        let token = token.as_ref();
        let Some(credential) = credential else {
            for (key, set) in [
                ("catalog.oauth2_server_uri", c.oauth2_server_uri.is_some()),
                ("catalog.scope", c.scope.is_some()),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        key,
                        "is set but catalog.credential is not; it only applies to the OAuth2 exchange of catalog.credential, so set the credential or remove this key",
                    ));
                }
            }
            return Ok(token.map_or(RestAuth::None, |t| RestAuth::Token(t.clone())));
        };
        if token.is_some() {
            return Err(ConfigError::invalid(
                "catalog.credential",
                "is set together with catalog.token; keep one: catalog.token for a fixed bearer token, or catalog.credential for OAuth2 client credentials (exchanged for tokens that are renewed before they expire)",
            ));
        }
        let (client_id, client_secret) = match credential.expose().split_once(':') {
            Some((id, secret)) => (Some(Secret::new(id)), Secret::new(secret)),
            None => (None, credential.clone()),
        };
        if client_secret.expose().is_empty()
            || client_id.as_ref().is_some_and(|i| i.expose().is_empty())
        {
            return Err(ConfigError::invalid(
                "catalog.credential",
                "has an empty client id or secret (value not shown); write it as \"client_id:client_secret\"",
            ));
        }
        let server_uri = match c.oauth2_server_uri.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ConfigError::invalid(
                        "catalog.oauth2_server_uri",
                        format!(
                            "{u:?} is not an http(s) URL; write the token endpoint, e.g. \"https://idp.example.com/oauth2/token\", or remove it to use <catalog.uri>/v1/oauth/tokens"
                        ),
                    ));
                }
                if u.starts_with("http://") && !c.allow_http {
                    return Err(ConfigError::invalid(
                        "catalog.oauth2_server_uri",
                        format!(
                            "{u:?} is plain http: catalog.credential would cross the network in clear text. Use https, or set catalog.allow_http = true (a catalog on this PC or a LAN you trust)"
                        ),
                    ));
                }
                u.to_owned()
            }
            None => format!("{uri}/v1/oauth/tokens"),
        };
        let scope = c.scope.clone().unwrap_or_else(|| "catalog".to_owned());
        if scope.trim().is_empty() {
            return Err(ConfigError::invalid(
                "catalog.scope",
                "is empty; write the scope the catalog grants, e.g. \"PRINCIPAL_ROLE:ALL\" (Polaris), or remove it for \"catalog\"",
            ));
        }
        Ok(RestAuth::OAuth2(OAuth2Settings {
            server_uri,
            client_id,
            client_secret,
            scope,
        }))
    }
}

/// Environment values: booleans and integers as such, anything else as a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(raw.to_owned())
}

/// Parses a humantime duration ("1s", "5m", "30d"), naming the key when it fails.
pub fn duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(ConfigError::invalid(
            key,
            format!("{value:?} is zero; write a positive duration, e.g. \"5m\""),
        )),
        Err(_) => Err(ConfigError::invalid(
            key,
            format!("{value:?} is not a duration; write e.g. \"5m\", \"30s\" or \"7d\""),
        )),
    }
}

/// Like [`duration`], but zero ("0s") is allowed.
fn duration_or_zero(key: &str, value: &str) -> Result<Duration, ConfigError> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) => Ok(d),
        Err(_) => duration(key, value),
    }
}

fn identifier(key: &str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !value.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!(
                "{value:?} is not a plain identifier; use lowercase letters, digits and '_', starting with a letter"
            ),
        ))
    }
}

fn bucket_name_ok(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Validated settings: what the stages use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub sampling: SamplingSettings,
    pub buffer: BufferSettings,
    pub sync: SyncSettings,
    pub storage: StorageSettings,
    pub catalog: CatalogSettings,
    pub notify: NotifySettings,
    pub maintenance: MaintenanceSettings,
}

/// Validated `[maintenance]`, with `role` resolved (never `Auto`).
#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    pub role: MaintenanceRole,
    /// Why `auto` resolved the way it did, when the user should know.
    pub warning: Option<String>,
    pub interval: Duration,
    pub compact_after: Duration,
    pub orphan_age: Duration,
    /// `None`: keep landing files forever.
    pub landing_retention: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub sync_failures: bool,
    pub buffer_warn_pct: u8,
    pub cpu_alert: Option<CpuAlert>,
}

/// CPU use above `above_pct` for `hold` is worth a notification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuAlert {
    pub above_pct: f32,
    pub hold: Duration,
}

#[derive(Debug, Clone)]
pub struct SamplingSettings {
    pub interval: Duration,
    pub source: SourceKind,
    /// What the system sampler collects.
    pub options: SamplerOptions,
}

impl SamplingSettings {
    /// The source these settings describe (see [`SourceKind::open`]).
    pub async fn open_source(&self) -> Box<dyn crate::sample::Source> {
        self.source.open(self.interval, self.options.clone()).await
    }
}

#[derive(Debug, Clone)]
pub struct BufferSettings {
    pub retention: Duration,
    pub rollup_retention: Duration,
    pub max_pending: u64,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub interval: Duration,
    pub snapshot_retention: Duration,
    pub batch_rows: usize,
    pub namespace: String,
    pub table: String,
    pub landing_prefix: String,
}

#[derive(Debug, Clone)]
pub enum StorageSettings {
    Local { root: PathBuf },
    S3(S3Settings),
}

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    pub path_style: bool,
    pub allow_http: bool,
    pub ca: Option<CaFile>,
}

#[derive(Debug, Clone)]
pub enum CatalogSettings {
    Sql {
        path: PathBuf,
        warehouse: String,
    },
    Rest {
        uri: String,
        warehouse: Option<String>,
        auth: RestAuth,
        /// Extra headers for every catalog request (names checked, values secret).
        headers: Vec<(String, Secret)>,
        ca: Option<CaFile>,
    },
}

/// How pcmetrics authenticates to a REST catalog.
#[derive(Debug, Clone, Default)]
pub enum RestAuth {
    #[default]
    None,
    /// `catalog.token`: the same bearer token on every request.
    Token(Secret),
    /// `catalog.credential`: the OAuth2 client-credentials grant.
    OAuth2(OAuth2Settings),
}

#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    /// The token endpoint.
    pub server_uri: String,
    /// `None` when the credential is a bare client secret (as Iceberg clients allow).
    pub client_id: Option<Secret>,
    pub client_secret: Secret,
    pub scope: String,
}

/// CA certificates from a PEM file (`storage.ca_file`, `catalog.ca_file`), trusted
/// besides the system's roots. Read and checked once, at validation, so a wrong path or
/// a file that is not a certificate is a config error rather than a TLS failure later.
#[derive(Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pem: Arc<[u8]>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CaFile").field(&self.path).finish()
    }
}

impl CaFile {
    /// Reads `path` and checks that it holds at least one certificate the TLS stack takes.
    pub fn load(key: &str, path: &Path) -> Result<Self, ConfigError> {
        let fix = "point it at a PEM file holding the CA certificate(s), e.g. the ca.crt your server's certificate was signed with";
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::invalid(key, format!("cannot read {:?}: {e}; {fix}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ConfigError::invalid(key, format!("{:?} is not PEM: {e}; {fix}", path.display()))
        })?;
        if certs.is_empty() {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "{:?} has no \"-----BEGIN CERTIFICATE-----\" block; {fix}",
                    path.display()
                ),
            ));
        }
        // The TLS stack parses the certificates when a client is built: build one.
        certs
            .into_iter()
            .fold(
                reqwest::Client::builder().tls_built_in_root_certs(false),
                |b, c| b.add_root_certificate(c),
            )
            .build()
            .map_err(|e| {
                ConfigError::invalid(
                    key,
                    format!(
                        "{:?} holds a certificate the TLS library refuses ({}); {fix}",
                        path.display(),
                        crate::error::with_sources(&e)
                    ),
                )
            })?;
        Ok(Self {
            path: path.to_owned(),
            pem: pem.into(),
        })
    }

    /// The certificates, for reqwest (the REST catalog's client).
    pub fn reqwest_certs(&self) -> Result<Vec<reqwest::Certificate>, String> {
        reqwest::Certificate::from_pem_bundle(&self.pem)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// The certificates, for object_store (the S3 client).
    pub fn object_store_certs(&self) -> Result<Vec<object_store::Certificate>, String> {
        object_store::Certificate::from_pem_bundle(&self.pem)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl Settings {
    /// Settings for a data dir with everything else default (tests, benchmarks).
    pub fn embedded(data_dir: &Path) -> Self {
        Config::default()
            .validate(Some(data_dir))
            .expect("the default config is valid")
    }

    /// `namespace.table`, as users and other engines name it.
    pub fn table_ident(&self) -> String {
        format!("{}.{}", self.sync.namespace, self.sync.table)
    }

    /// A one-line description of where data goes, without secrets.
    pub fn describe_lakehouse(&self) -> String {
        let storage = match &self.storage {
            StorageSettings::Local { root } => format!("local folder {}", root.display()),
            StorageSettings::S3(s) => format!(
                "s3://{} at {}",
                s.bucket,
                crate::redact::url(s.endpoint.as_deref().unwrap_or("AWS"))
            ),
        };
        let catalog = match &self.catalog {
            CatalogSettings::Sql { path, .. } => format!("SQL catalog {}", path.display()),
            CatalogSettings::Rest { uri, .. } => {
                format!("REST catalog {}", crate::redact::url(uri))
            }
        };
        format!("{storage}, {catalog}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with_env("test.toml", text, Vec::new())
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_file_is_the_embedded_default() {
        let s = parse("").unwrap().validate(Some(Path::new("/d"))).unwrap();
        assert_eq!(s.sampling.interval, Duration::from_secs(1));
        assert_eq!(s.sync.interval, Duration::from_secs(300));
        assert_eq!(s.table_ident(), "bronze.pc_metrics");
        assert!(
            matches!(&s.storage, StorageSettings::Local { root } if root == Path::new("/d/lakehouse"))
        );
        match &s.catalog {
            CatalogSettings::Sql { path, warehouse } => {
                assert_eq!(path, Path::new("/d/lakehouse/catalog.db"));
                assert_eq!(warehouse, "file:///d/lakehouse/warehouse");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_duration_names_key_value_and_fix() {
        let err = parse("[sync]\ninterval = \"five minutes\"")
            .unwrap()
            .validate(None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "sync.interval: \"five minutes\" is not a duration; write e.g. \"5m\", \"30s\" or \"7d\""
        );
    }

    #[test]
    fn collectors_and_name_filters() {
        let s = parse("").unwrap().validate(Some(Path::new("/d"))).unwrap();
        assert_eq!(s.sampling.options, SamplerOptions::default());
        let s = parse(
            "[sampling.collect]\ntemperatures = false\n\
             [sampling.mounts]\ninclude = [\"/\", \"/home*\"]\n\
             [sampling.interfaces]\nexclude = []\n",
        )
        .unwrap()
        .validate(Some(Path::new("/d")))
        .unwrap();
        let o = &s.sampling.options;
        assert!(!o.collect.temperatures && o.collect.disks && o.collect.processes);
        assert!(o.mounts.keeps("/home/ana") && !o.mounts.keeps("/boot"));
        assert!(
            !o.mounts.keeps("/snap/core/1"),
            "the default excludes still apply"
        );
        assert!(
            o.interfaces.keeps("veth12"),
            "exclude = [] keeps every interface"
        );
        let err = parse("[sampling.mounts]\nexclude = [\"\"]")
            .unwrap()
            .validate(Some(Path::new("/d")))
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "sampling.mounts.exclude"),
            "{err}"
        );
        assert!(err.to_string().contains("empty pattern"), "{err}");
        let err = parse("[sampling.collect]\ngpu = true")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gpu"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = parse("[sync]\nintervall = \"5m\"").unwrap_err().to_string();
        assert!(err.contains("sync"), "{err}");
        assert!(err.contains("intervall"), "{err}");
        let err = parse("[synk]\ninterval = \"5m\"").unwrap_err().to_string();
        assert!(err.contains("synk"), "{err}");
    }

    /// A batch is held in memory: a bound that would not fit a PC is refused with why.
    #[test]
    fn batch_rows_is_bounded_by_memory() {
        let ok = parse("[sync]\nbatch_rows = 1000000").unwrap();
        assert!(ok.validate(Some(Path::new("/d"))).is_ok());
        let err = parse("[sync]\nbatch_rows = 5000000")
            .unwrap()
            .validate(Some(Path::new("/d")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sync.batch_rows") && err.contains("1.3 KB per sample"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        let err = parse("[sync]\nbatch_rows = \"many\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sync.batch_rows"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = parse("[sync\n").unwrap_err().to_string();
        assert!(
            err.starts_with("config file test.toml is not valid TOML"),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_file() {
        let c = Config::from_toml_with_env(
            "t",
            "[sync]\ninterval = \"5m\"",
            env(&[
                ("PCMETRICS_SYNC__INTERVAL", "10m"),
                ("PCMETRICS_SYNC__BATCH_ROWS", "500"),
                ("PCMETRICS_DATA_DIR", "/ignored/by/config"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.sync.interval, "10m");
        assert_eq!(c.sync.batch_rows, 500);
        let err = Config::from_toml_with_env("t", "", env(&[("PCMETRICS_SYNC__NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    const S3: &str = r#"
        [storage]
        kind = "s3"
        endpoint = "http://127.0.0.1:9000"
        bucket = "warehouse"
        allow_http = true
        [catalog]
        kind = "rest"
        uri = "http://127.0.0.1:8181/"
    "#;

    #[test]
    fn s3_keys_come_from_aws_env_and_are_never_printed() {
        let c = Config::from_toml_with_env(
            "t",
            S3,
            env(&[
                ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
            ]),
        )
        .unwrap();
        let s = c.validate(None).unwrap();
        let shown = format!("{}\n{:?}\n{:?}", c.to_redacted_toml(), c, s);
        assert!(!shown.contains("AKIAEXAMPLEKEY"), "{shown}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains(Secret::REDACTED));
        match s.storage {
            StorageSettings::S3(s3) => {
                assert_eq!(s3.secret_access_key.expose(), "very-secret-value");
                assert_eq!(s3.region, "us-east-1");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(s.catalog, CatalogSettings::Rest { ref uri, .. } if uri == "http://127.0.0.1:8181")
        );
    }

    #[test]
    fn a_catalog_token_needs_https_unless_allowed() {
        let env = env(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        let with = |extra: &str| {
            Config::from_toml_with_env("t", &format!("{S3}{extra}"), env.clone())
                .unwrap()
                .validate(None)
        };
        // No token: plain http is the user's call (a loopback catalog without auth).
        assert!(with("").is_ok());
        let err = with("token = \"tok\"\n").unwrap_err().to_string();
        assert!(err.starts_with("catalog.uri:"), "{err}");
        assert!(err.contains("catalog.allow_http = true"), "{err}");
        assert!(!err.contains("tok\""), "{err}");
        assert!(with("token = \"tok\"\nallow_http = true\n").is_ok());
        let https = format!("{S3}token = \"tok\"\n").replace("http://127.0.0.1:8181/", "https://c");
        assert!(
            Config::from_toml_with_env("t", &https, env.clone())
                .unwrap()
                .validate(None)
                .is_ok()
        );
    }

    #[test]
    fn credentials_in_urls_are_redacted_in_config_show_and_errors() {
        let text = S3.replace(
            "http://127.0.0.1:9000",
            "http://u:url-pass-7@127.0.0.1:9000",
        );
        let env = env(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        let c = Config::from_toml_with_env("t", &text, env.clone()).unwrap();
        let s = c.validate(None).unwrap();
        let shown = format!("{}\n{}", c.to_redacted_toml(), s.describe_lakehouse());
        assert!(!shown.contains("url-pass-7"), "{shown}");
        assert!(
            shown.contains("http://<redacted>@127.0.0.1:9000"),
            "{shown}"
        );
        // A value quoted by an error.
        let bad = text.replace("allow_http = true", "allow_http = false");
        let err = Config::from_toml_with_env("t", &bad, env)
            .unwrap()
            .validate(None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plain http") && !err.contains("url-pass-7"),
            "{err}"
        );
    }

    #[test]
    fn numeric_secrets_are_text_and_never_echoed() {
        let c = Config::from_toml_with_env(
            "t",
            S3,
            env(&[
                ("PCMETRICS_STORAGE__ACCESS_KEY_ID", "4242"),
                ("PCMETRICS_STORAGE__SECRET_ACCESS_KEY", "123456"),
            ]),
        )
        .unwrap();
        let s = c.validate(None).unwrap();
        let StorageSettings::S3(s3) = s.storage else {
            panic!("s3")
        };
        assert_eq!(s3.secret_access_key.expose(), "123456");
        // Unquoted in the file: an error, without the value.
        let text = S3.replace(
            "allow_http = true",
            "allow_http = true\nsecret_access_key = 987654",
        );
        let err = Config::from_toml_with_env("t", &text, Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("storage.secret_access_key"), "{err}");
        assert!(!err.contains("987654"), "{err}");
    }

    #[test]
    fn file_keys_win_over_aws_env() {
        let text = format!("{S3}\n");
        let text = text.replace(
            "allow_http = true",
            "allow_http = true\naccess_key_id = \"fromfile\"\nsecret_access_key = \"filesecret\"",
        );
        let c = Config::from_toml_with_env(
            "t",
            &text,
            env(&[
                ("AWS_ACCESS_KEY_ID", "fromenv"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.storage.access_key_id,
            Some(SecretSource::value("fromfile"))
        );
    }

    #[test]
    fn s3_checks_name_what_to_fix() {
        let no_keys = parse(S3).unwrap().validate(None).unwrap_err().to_string();
        assert!(
            no_keys.starts_with("storage.access_key_id: is not set"),
            "{no_keys}"
        );
        assert!(no_keys.contains("AWS_ACCESS_KEY_ID"));

        let http = parse(&S3.replace(
            "allow_http = true",
            "access_key_id = \"k\"\nsecret_access_key = \"s\"",
        ))
        .unwrap()
        .validate(None)
        .unwrap_err()
        .to_string();
        assert!(http.contains("storage.allow_http = true"), "{http}");

        let rest_local = parse("[catalog]\nkind = \"rest\"\nuri = \"http://x\"")
            .unwrap()
            .validate(None)
            .unwrap_err()
            .to_string();
        assert!(rest_local.starts_with("catalog.kind:"), "{rest_local}");
    }

    #[test]
    fn ranges_are_checked() {
        for (text, key) in [
            ("[sampling]\ninterval = \"10ms\"", "sampling.interval"),
            ("[sync]\nbatch_rows = 0", "sync.batch_rows"),
            ("[sync]\nnamespace = \"Bronze-1\"", "sync.namespace"),
            ("[buffer]\nmax_pending = 10", "buffer.max_pending"),
            (
                "[buffer]\nrollup_retention = \"1d\"",
                "buffer.rollup_retention",
            ),
            ("[sampling]\nsource = \"fake\"", "sampling.source"),
        ] {
            let err = match parse(text) {
                Ok(c) => c.validate(None).unwrap_err().to_string(),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    const REST_HTTPS: &str = r#"
        [storage]
        kind = "s3"
        bucket = "warehouse"
        access_key_id = "k"
        secret_access_key = "s"
        [catalog]
        kind = "rest"
        uri = "https://catalog.example/api/catalog/"
    "#;

    fn rest(extra: &str) -> Result<Settings, ConfigError> {
        Config::from_toml_with_env("t", &format!("{REST_HTTPS}{extra}"), Vec::new())?
            .validate(Some(Path::new("/d")))
    }

    #[test]
    fn oauth2_credential_defaults_to_the_spec_endpoint_and_scope() {
        let s = rest("credential = \"planted-id:planted-secret-9\"\n").unwrap();
        let CatalogSettings::Rest {
            uri,
            auth: RestAuth::OAuth2(o),
            ..
        } = &s.catalog
        else {
            panic!("{:?}", s.catalog)
        };
        assert_eq!(uri, "https://catalog.example/api/catalog");
        assert_eq!(
            o.server_uri,
            "https://catalog.example/api/catalog/v1/oauth/tokens"
        );
        assert_eq!(o.scope, "catalog");
        assert_eq!(o.client_id.as_ref().unwrap().expose(), "planted-id");
        assert_eq!(o.client_secret.expose(), "planted-secret-9");

        let s = rest(
            "credential = \"id:sec\"\noauth2_server_uri = \"https://idp.example/token\"\nscope = \"PRINCIPAL_ROLE:ALL\"\n",
        )
        .unwrap();
        let CatalogSettings::Rest {
            auth: RestAuth::OAuth2(o),
            ..
        } = &s.catalog
        else {
            panic!()
        };
        assert_eq!(o.server_uri, "https://idp.example/token");
        assert_eq!(o.scope, "PRINCIPAL_ROLE:ALL");
    }

    #[test]
    fn credential_errors_name_the_keys_and_the_fix() {
        let err = |extra: &str| rest(extra).unwrap_err().to_string();
        let both = err("token = \"t\"\ncredential = \"id:planted-secret-9\"\n");
        assert!(both.starts_with("catalog.credential: "), "{both}");
        assert!(both.contains("catalog.token"), "{both}");
        assert!(!both.contains("planted-secret-9"), "{both}");

        let e = err("scope = \"x\"\n");
        assert!(
            e.starts_with("catalog.scope: is set but catalog.credential is not"),
            "{e}"
        );
        let e = err("oauth2_server_uri = \"https://idp/t\"\n");
        assert!(e.starts_with("catalog.oauth2_server_uri: "), "{e}");
        let e = err("credential = \"id:\"\n");
        assert!(e.starts_with("catalog.credential: has an empty"), "{e}");
        let e = err("credential = \"id:s\"\noauth2_server_uri = \"idp/token\"\n");
        assert!(e.contains("not an http(s) URL"), "{e}");
        let e = err("credential = \"id:s\"\noauth2_server_uri = \"http://idp/token\"\n");
        assert!(
            e.starts_with("catalog.oauth2_server_uri:") && e.contains("catalog.allow_http = true"),
            "{e}"
        );
        // Plain http catalog: like a token, a credential needs allow_http.
        let http = |extra: &str| {
            let text = format!("{REST_HTTPS}{extra}").replace(
                "https://catalog.example/api/catalog/",
                "http://127.0.0.1:8181",
            );
            Config::from_toml_with_env("t", &text, Vec::new())?.validate(Some(Path::new("/d")))
        };
        let e = http("credential = \"id:planted-secret-9\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("catalog.uri:"), "{e}");
        assert!(e.contains("catalog.credential is set"), "{e}");
        assert!(e.contains("catalog.allow_http = true"), "{e}");
        assert!(!e.contains("planted-secret-9"), "{e}");
        assert!(http("credential = \"id:s\"\nallow_http = true\n").is_ok());
        let e = http("[catalog.headers]\nX-Api-Key = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog.headers is set"), "{e}");
        // Rest-only keys with the SQL catalog.
        let e = parse("[catalog]\ncredential = \"a:b\"\n")
            .unwrap()
            .validate(Some(Path::new("/d")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("catalog.credential: is set but catalog.kind is \"sql\""),
            "{e}"
        );
    }

    #[test]
    fn credential_and_headers_are_never_printed() {
        let text = format!(
            "{REST_HTTPS}credential = \"planted-id:planted-secret-9\"\n[catalog.headers]\nX-Api-Key = \"planted-header-7\"\nX-Tenant = \"acme\"\n"
        );
        let c = Config::from_toml_with_env("t", &text, Vec::new()).unwrap();
        let s = c.validate(Some(Path::new("/d"))).unwrap();
        let shown = format!(
            "{}\n{c:?}\n{s:?}\n{}",
            c.to_redacted_toml(),
            s.describe_lakehouse()
        );
        for secret in ["planted-secret-9", "planted-id", "planted-header-7", "acme"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("X-Api-Key = \"<redacted>\""), "{shown}");
        let CatalogSettings::Rest { headers, .. } = &s.catalog else {
            panic!()
        };
        assert_eq!(headers[0].0, "X-Api-Key");
        assert_eq!(headers[0].1.expose(), "planted-header-7");

        // From the environment: text, even when numeric; a type error does not echo it.
        let c = Config::from_toml_with_env(
            "t",
            REST_HTTPS,
            env(&[("PCMETRICS_CATALOG__CREDENTIAL", "123456")]),
        )
        .unwrap();
        assert_eq!(c.catalog.credential, Some(SecretSource::value("123456")));
        for bad in [
            "credential = 424242\n",
            "[catalog.headers]\nX-Api-Key = 424242\n",
        ] {
            let e = Config::from_toml_with_env("t", &format!("{REST_HTTPS}{bad}"), Vec::new())
                .unwrap_err()
                .to_string();
            assert!(!e.contains("424242"), "{e}");
            assert!(e.contains("value not shown"), "{e}");
        }
        let e = Config::from_toml_with_env(
            "t",
            REST_HTTPS,
            env(&[("PCMETRICS_CATALOG__HEADERS", "planted-header-7")]),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("planted-header-7"), "{e}");
    }

    /// Keyring references resolve at validation, only where the settings use them; config
    /// show prints the reference, never the secret.
    #[test]
    fn keyring_references_resolve_at_validation_and_show_as_references() {
        let keyring = MemoryKeyring::default();
        for (account, secret) in [
            ("ak", "AKPLANTED"),
            ("sk", "planted-secret-5"),
            ("cred", "client:planted-client-6"),
            ("hdr", "planted-header-8"),
        ] {
            keyring.set(account, "test", &Secret::new(secret)).unwrap();
        }
        let text = format!(
            "{REST_HTTPS}credential = {{ keyring = \"cred\" }}\n[catalog.headers]\nX-Api-Key = {{ keyring = \"hdr\" }}\n"
        )
        .replace("access_key_id = \"k\"", "access_key_id = { keyring = \"ak\" }")
        .replace("secret_access_key = \"s\"", "secret_access_key = { keyring = \"sk\" }");
        let c = Config::from_toml_with_env("t", &text, Vec::new()).unwrap();
        let s = c.validate_with(Some(Path::new("/d")), &keyring).unwrap();
        let StorageSettings::S3(s3) = &s.storage else {
            panic!()
        };
        assert_eq!(s3.access_key_id.expose(), "AKPLANTED");
        assert_eq!(s3.secret_access_key.expose(), "planted-secret-5");
        let CatalogSettings::Rest {
            auth: RestAuth::OAuth2(o),
            headers,
            ..
        } = &s.catalog
        else {
            panic!()
        };
        assert_eq!(o.client_secret.expose(), "planted-client-6");
        assert_eq!(headers[0].1.expose(), "planted-header-8");
        let shown = format!("{}\n{c:?}\n{s:?}", c.to_redacted_toml());
        for secret in ["AKPLANTED", "planted-"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        for line in [
            "secret_access_key = { keyring = \"sk\" }\n",
            "X-Api-Key = { keyring = \"hdr\" }\n",
        ] {
            assert!(c.to_redacted_toml().contains(line), "{line}: {shown}");
        }
        let again = Config::from_toml_with_env("t", &c.to_redacted_toml(), Vec::new()).unwrap();
        assert_eq!(
            again.storage.secret_access_key,
            Some(SecretSource::keyring("sk")),
            "config show prints the reference: {}",
            c.to_redacted_toml()
        );

        // A reference the settings do not use is not read; one they use, without a
        // keyring, is an error naming the key.
        let unused = "[storage]\nroot = \"/x\"\n[catalog]\nuri = \"/x/c.db\"\n";
        assert!(
            parse(unused)
                .unwrap()
                .validate_with(Some(Path::new("/d")), &MemoryKeyring::unavailable())
                .is_ok()
        );
        let e = c
            .validate_with(Some(Path::new("/d")), &MemoryKeyring::unavailable())
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "storage.access_key_id: is kept in the OS keyring (service \"pcmetrics\", account \"ak\"), but no keyring is reachable"
            ),
            "{e}"
        );
        // The environment wins over a reference in the file, as over any file value.
        let c = Config::from_toml_with_env(
            "t",
            &text,
            env(&[
                ("PCMETRICS_STORAGE__ACCESS_KEY_ID", "AKENV"),
                ("PCMETRICS_STORAGE__SECRET_ACCESS_KEY", "env-secret"),
                ("PCMETRICS_CATALOG__CREDENTIAL", "id:env-secret"),
            ]),
        )
        .unwrap();
        let e = c
            .validate_with(Some(Path::new("/d")), &MemoryKeyring::unavailable())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("catalog.headers.X-Api-Key: "), "{e}");
        // A malformed reference is a type error that quotes nothing.
        for bad in [
            "token = { keyring = \"a\", value = \"planted-9\" }\n",
            "token = { secret = \"planted-9\" }\n",
        ] {
            let e = Config::from_toml_with_env("t", &format!("{REST_HTTPS}{bad}"), Vec::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains("catalog.token"), "{e}");
            assert!(
                e.contains("{ keyring = ") && !e.contains("planted-9"),
                "{e}"
            );
        }
    }

    #[test]
    fn header_names_and_values_are_checked_without_quoting_values() {
        let e = rest("[catalog.headers]\n\"Bad Name\" = \"v\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("catalog.headers.Bad Name: is not an HTTP header name"),
            "{e}"
        );
        let e = rest("[catalog.headers]\nX-Key = \"planted\\nvalue\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("catalog.headers.X-Key:") && !e.contains("planted"),
            "{e}"
        );
        let e = rest("[catalog.headers]\nAuthorization = \"Bearer x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog.token or catalog.credential"), "{e}");
    }

    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBjTCCATSgAwIBAgITHvVINzjiMiTPuVe3vmqMzfi/BTAKBggqhkjOPQQDAjAc\nMRowGAYDVQQDDBFwY21ldHJpY3MgdGVzdCBDQTAgFw0yNjEyMDIwMjQ5MTJaGA8y\nMTI2MTEwODAyNDkxMlowHDEaMBgGA1UEAwwRcGNtZXRyaWNzIHRlc3QgQ0EwWTAT\nBgcqhkjOPQIBBggqhkjOPQMBBwNCAATs0D+3mRhie6Y63+/O3YF9Z0wQr+5vZ3Ai\nUGjahkNBz88i56Wmy+tcWHZx1UL7Ubm52GhAJ9koXpl0fYcUMU5Oo1MwUTAdBgNV\nHQ4EFgQUV1/xh7cXfGKN7p9WSDWfKisyoY8wHwYDVR0jBBgwFoAUV1/xh7cXfGKN\n7p9WSDWfKisyoY8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBZ\n7urkBh+IgPIDXg8p5nsuc8GMZj4+cJcBFYXHSus6+wIgKmaISuJaYoNyvqyuISnN\nTnuWKf9NE57ICAJkTw+V9dM=\n-----END CERTIFICATE-----";

    #[test]
    fn ca_files_are_read_and_checked_at_validation() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, TEST_CA).unwrap();
        let not_pem = dir.path().join("notes.txt");
        std::fs::write(&not_pem, "just text\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.path().join("missing.pem");
        // `ca_file` in [storage] (before [catalog]) or in [catalog] (at the end).
        let with = |section: &str, path: &Path| {
            let line = format!("ca_file = \"{}\"\n", path.display());
            let text = match section {
                "storage" => REST_HTTPS.replace("[catalog]", &format!("{line}[catalog]")),
                _ => format!("{REST_HTTPS}{line}"),
            };
            Config::from_toml_with_env("t", &text, Vec::new())
                .unwrap()
                .validate(Some(Path::new("/d")))
        };
        let s = with("storage", &good).unwrap();
        let StorageSettings::S3(s3) = &s.storage else {
            panic!()
        };
        assert_eq!(s3.ca.as_ref().unwrap().path, good);
        assert_eq!(
            s3.ca.as_ref().unwrap().object_store_certs().unwrap().len(),
            1
        );
        let s = with("catalog", &good).unwrap();
        let CatalogSettings::Rest { ca: Some(ca), .. } = &s.catalog else {
            panic!()
        };
        assert_eq!(ca.reqwest_certs().unwrap().len(), 1);
        for section in ["storage", "catalog"] {
            for (path, says) in [
                (&missing, "cannot read"),
                (&not_pem, "no \"-----BEGIN CERTIFICATE-----\" block"),
                (&broken, "refuses"),
            ] {
                let e = with(section, path).unwrap_err().to_string();
                assert!(e.starts_with(&format!("{section}.ca_file: ")), "{e}");
                assert!(e.contains(says), "{e}");
                assert!(e.contains("point it at a PEM file"), "{e}");
            }
        }
    }

    #[test]
    fn session_tokens_go_with_their_keys() {
        let s3 = "[storage]\nkind = \"s3\"\nbucket = \"warehouse\"\n";
        let token_of = |text: &str, vars: &[(&str, &str)]| {
            let s = Config::from_toml_with_env("t", text, env(vars))
                .unwrap()
                .validate(Some(Path::new("/d")))
                .unwrap();
            let StorageSettings::S3(s3) = s.storage else {
                panic!()
            };
            s3.session_token.map(|t| t.expose().to_owned())
        };
        let temp = [
            ("AWS_ACCESS_KEY_ID", "ASIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s1"),
            ("AWS_SESSION_TOKEN", "tok1"),
        ];
        assert_eq!(token_of(s3, &temp).as_deref(), Some("tok1"));
        // Keys written in the file: a token in the environment belongs to other keys.
        let file_keys = format!("{s3}access_key_id = \"AKIA\"\nsecret_access_key = \"s\"\n");
        assert_eq!(token_of(&file_keys, &temp), None);
        let file_token = format!("{file_keys}session_token = \"tok2\"\n");
        assert_eq!(token_of(&file_token, &temp).as_deref(), Some("tok2"));
        let e = parse("[storage]\nsession_token = \"t\"\n")
            .unwrap()
            .validate(Some(Path::new("/d")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("storage.session_token: is set but storage.kind is \"local\""),
            "{e}"
        );
    }

    #[test]
    fn an_explicit_aws_profile_gives_keys_token_and_region() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = DEFAULT\naws_secret_access_key = d\n[ci]\naws_access_key_id = ASIACI\naws_secret_access_key = ci-secret\naws_session_token = ci-token\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[profile ci]\nregion = eu-north-1\n",
        )
        .unwrap();
        let homevar = home.path().display().to_string();
        let s3 = "[storage]\nkind = \"s3\"\nbucket = \"warehouse\"\n";
        let settings = |vars: &[(&str, &str)]| {
            let mut vars = vars.to_vec();
            vars.push(("HOME", &homevar));
            Config::from_toml_with_env("t", s3, env(&vars))
                .and_then(|c| c.validate(Some(Path::new("/d"))))
                .map(|s| match s.storage {
                    StorageSettings::S3(s3) => s3,
                    other => panic!("{other:?}"),
                })
        };
        let s = settings(&[("AWS_PROFILE", "ci")]).unwrap();
        assert_eq!(s.access_key_id.expose(), "ASIACI");
        assert_eq!(s.secret_access_key.expose(), "ci-secret");
        assert_eq!(s.session_token.unwrap().expose(), "ci-token");
        assert_eq!(s.region, "eu-north-1");
        // Variables win over the profile, as with the AWS CLI.
        let s = settings(&[
            ("AWS_PROFILE", "ci"),
            ("AWS_ACCESS_KEY_ID", "FROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "e"),
            ("AWS_REGION", "us-west-2"),
        ])
        .unwrap();
        assert_eq!(s.access_key_id.expose(), "FROMENV");
        assert!(s.session_token.is_none());
        assert_eq!(s.region, "us-west-2");
        // No AWS_PROFILE: the default profile is not read.
        let e = settings(&[]).unwrap_err().to_string();
        assert!(e.starts_with("storage.access_key_id: is not set"), "{e}");
        let e = settings(&[("AWS_PROFILE", "nope")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWS_PROFILE=\"nope\""), "{e}");
    }
}
