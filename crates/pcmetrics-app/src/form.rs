//! The settings form: what the window edits, mapped onto the config file.
//!
//! Saving goes through the same path as starting up: the edited config is rendered as
//! TOML, parsed again with the environment overlaid, and validated by
//! [`Config::validate`], so the window shows exactly the errors (key and message) that
//! `pcmetrics config check` would. Secrets never travel back to the window: the form
//! carries them empty plus an `*_set` flag, and an empty secret on save keeps the stored
//! one — unless the address it is for changed: a new S3 endpoint drops the stored keys
//! (and session token) and a new catalog URI the stored token, OAuth2 credential and
//! headers, so nothing is sent to a typed address that the user did not also give the
//! secret for. Keys the form does not show (`storage.session_token`, `storage.ca_file`,
//! `catalog.credential`, `catalog.headers`, `catalog.ca_file`, ...) are kept as the file
//! has them. Credentials inside a URL are redacted in the
//! form; a URL that comes back unchanged keeps them. The file is written atomically and,
//! because it may hold keys, readable by the user only.
//!
//! Secrets typed in the form go to the OS keyring ([`ConfigFile::save`]): each under a
//! new account `<key>@<config file>#<nonce>`, and the file gets the reference
//! `{ keyring = "<account>" }`. The entries are written before the file and the ones the
//! old file referenced deleted after it, so at no point does a file reference an entry
//! holding a secret typed for another address, whatever fails in between. Entries that
//! Settings made for this file and the new file no longer references (a changed
//! endpoint, a replaced secret) are deleted; references written by hand are only dropped,
//! never deleted. With no keyring running (a headless session, no D-Bus), typed secrets
//! are written into the file and the save says so ([`SettingsForm::notice`]). Only the
//! form writes to the keyring; `pcmetrics` reads the file as it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pcmetrics_core::config::{
    CatalogKind, Config, ConfigError, KeyringError, Secret, SecretSource, SecretStore, Settings,
    StorageKind,
};
use pcmetrics_core::redact;
use pcmetrics_core::sample::{DEFAULT_INTERFACE_EXCLUDES, DEFAULT_MOUNT_EXCLUDES};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsForm {
    pub sampling_interval: String,
    pub sync_interval: String,
    #[serde(default = "yes")]
    pub collect_disks: bool,
    #[serde(default = "yes")]
    pub collect_networks: bool,
    #[serde(default = "yes")]
    pub collect_temperatures: bool,
    #[serde(default = "yes")]
    pub collect_processes: bool,
    /// Glob patterns, comma-separated (see `pcmetrics_core::config::FilterConfig`). The
    /// exclude lists show the defaults when the file leaves them unset.
    #[serde(default)]
    pub mounts_include: String,
    #[serde(default)]
    pub mounts_exclude: String,
    #[serde(default)]
    pub interfaces_include: String,
    #[serde(default)]
    pub interfaces_exclude: String,
    pub storage_kind: StorageKind,
    pub storage_root: String,
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub path_style: bool,
    pub allow_http: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub access_key_set: bool,
    #[serde(default)]
    pub secret_key_set: bool,
    pub catalog_kind: CatalogKind,
    pub catalog_uri: String,
    pub warehouse: String,
    pub catalog_token: String,
    #[serde(default)]
    pub token_set: bool,
    /// Send the token to a plain-http catalog URI.
    #[serde(default)]
    pub catalog_allow_http: bool,
    pub notify_sync_failures: bool,
    pub cpu_alert_pct: Option<f64>,
    pub cpu_alert_for: String,
    pub launch_at_login: bool,
    #[serde(default)]
    pub config_path: String,
    /// After a save: what the user must know about where the typed secrets went (no
    /// keyring running: into the config file). Read-only; ignored when sent back.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

fn yes() -> bool {
    true
}

/// A pattern list as the form shows it.
fn patterns(list: &[String]) -> String {
    list.join(", ")
}

/// A typed pattern list: comma-separated, blanks around each pattern dropped.
fn typed_patterns(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The exclude list written back: unset while it is the default (so a later version's
/// defaults apply), else what was typed (empty: exclude nothing).
fn typed_exclude(v: &str, defaults: &[&str]) -> Option<Vec<String>> {
    let typed = typed_patterns(v);
    (typed != defaults).then_some(typed)
}

fn shown_exclude(v: &Option<Vec<String>>, defaults: &[&str]) -> String {
    match v {
        Some(list) => patterns(list),
        None => defaults.join(", "),
    }
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn opt(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A URL as the window shows it: credentials in it redacted.
fn shown_url(v: &Option<String>) -> String {
    v.as_deref()
        .map(|u| redact::url(u).into_owned())
        .unwrap_or_default()
}

/// The URL the form sends back, resolved against the stored one: the redacted form of
/// the stored URL means "unchanged". Returns the URL and whether it changed.
fn edited_url(stored: &Option<String>, typed: &str) -> (Option<String>, bool) {
    let typed = opt(typed);
    if typed.as_deref() == Some(shown_url(stored).as_str()) {
        return (stored.clone(), false);
    }
    let changed = typed != *stored;
    (typed, changed)
}

impl SettingsForm {
    /// The form for `config` (the effective config, file plus environment); secrets blank.
    pub fn from_config(config: &Config, config_path: &Path, launch_at_login: bool) -> Self {
        let s = &config.storage;
        let c = &config.catalog;
        let n = &config.notify;
        Self {
            sampling_interval: config.sampling.interval.clone(),
            sync_interval: config.sync.interval.clone(),
            collect_disks: config.sampling.collect.disks,
            collect_networks: config.sampling.collect.networks,
            collect_temperatures: config.sampling.collect.temperatures,
            collect_processes: config.sampling.collect.processes,
            mounts_include: patterns(&config.sampling.mounts.include),
            mounts_exclude: shown_exclude(&config.sampling.mounts.exclude, DEFAULT_MOUNT_EXCLUDES),
            interfaces_include: patterns(&config.sampling.interfaces.include),
            interfaces_exclude: shown_exclude(
                &config.sampling.interfaces.exclude,
                DEFAULT_INTERFACE_EXCLUDES,
            ),
            storage_kind: s.kind,
            storage_root: s
                .root
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            endpoint: shown_url(&s.endpoint),
            region: text(&s.region),
            bucket: text(&s.bucket),
            path_style: s.path_style,
            allow_http: s.allow_http,
            access_key_id: String::new(),
            secret_access_key: String::new(),
            access_key_set: s.access_key_id.is_some(),
            secret_key_set: s.secret_access_key.is_some(),
            catalog_kind: c.kind,
            catalog_uri: shown_url(&c.uri),
            warehouse: text(&c.warehouse),
            catalog_token: String::new(),
            token_set: c.token.is_some(),
            catalog_allow_http: c.allow_http,
            notify_sync_failures: n.sync_failures,
            cpu_alert_pct: n.cpu_alert_pct,
            cpu_alert_for: n.cpu_alert_for.clone(),
            launch_at_login,
            config_path: config_path.display().to_string(),
            notice: None,
        }
    }

    /// Writes the form onto `file` (the config file's own content, without the
    /// environment). Switching storage or catalog kind drops the other kind's keys, which
    /// validation would otherwise reject ("is set but storage.kind is local"). Returns
    /// the keys whose secret was typed (`storage.access_key_id`,
    /// `storage.secret_access_key`, `catalog.token`), now in `file` in clear.
    pub fn apply_to(&self, file: &mut Config) -> Vec<&'static str> {
        let mut typed = Vec::new();
        file.sampling.interval = self.sampling_interval.trim().to_owned();
        file.sync.interval = self.sync_interval.trim().to_owned();
        let sampling = &mut file.sampling;
        sampling.collect.disks = self.collect_disks;
        sampling.collect.networks = self.collect_networks;
        sampling.collect.temperatures = self.collect_temperatures;
        sampling.collect.processes = self.collect_processes;
        sampling.mounts.include = typed_patterns(&self.mounts_include);
        sampling.mounts.exclude = typed_exclude(&self.mounts_exclude, DEFAULT_MOUNT_EXCLUDES);
        sampling.interfaces.include = typed_patterns(&self.interfaces_include);
        sampling.interfaces.exclude =
            typed_exclude(&self.interfaces_exclude, DEFAULT_INTERFACE_EXCLUDES);

        let s = &mut file.storage;
        let storage_kind_changed = s.kind != self.storage_kind;
        s.kind = self.storage_kind;
        s.root = opt(&self.storage_root).map(PathBuf::from);
        match self.storage_kind {
            StorageKind::Local => {
                s.endpoint = None;
                s.bucket = None;
                s.access_key_id = None;
                s.secret_access_key = None;
                s.session_token = None;
                s.region = None;
                s.ca_file = None;
            }
            StorageKind::S3 => {
                let (endpoint, endpoint_changed) = edited_url(&s.endpoint, &self.endpoint);
                s.endpoint = endpoint;
                s.region = opt(&self.region);
                s.bucket = opt(&self.bucket);
                s.path_style = self.path_style;
                s.allow_http = self.allow_http;
                if storage_kind_changed || endpoint_changed {
                    s.access_key_id = None;
                    s.secret_access_key = None;
                    s.session_token = None;
                }
                if let Some(k) = opt(&self.access_key_id) {
                    s.access_key_id = Some(SecretSource::value(k));
                    typed.push("storage.access_key_id");
                    // A session token belongs to the key it was issued with.
                    s.session_token = None;
                }
                if let Some(k) = opt(&self.secret_access_key) {
                    s.secret_access_key = Some(SecretSource::value(k));
                    typed.push("storage.secret_access_key");
                }
            }
        }

        let c = &mut file.catalog;
        let catalog_kind_changed = c.kind != self.catalog_kind;
        c.kind = self.catalog_kind;
        if catalog_kind_changed {
            c.uri = None;
            c.warehouse = None;
            c.ca_file = None;
            drop_catalog_secrets(c);
        }
        let (uri, uri_changed) = edited_url(&c.uri, &self.catalog_uri);
        if uri_changed {
            drop_catalog_secrets(c);
        }
        // A REST URL left in the form from before a switch back to sql is not a path.
        c.uri = uri.filter(|u| {
            self.catalog_kind == CatalogKind::Rest
                || !(u.starts_with("http://") || u.starts_with("https://"))
        });
        c.warehouse = opt(&self.warehouse);
        c.allow_http = self.catalog_kind == CatalogKind::Rest && self.catalog_allow_http;
        match self.catalog_kind {
            CatalogKind::Sql => {
                c.ca_file = None;
                drop_catalog_secrets(c);
            }
            CatalogKind::Rest => {
                if let Some(t) = opt(&self.catalog_token) {
                    // A typed token is the catalog's authentication now.
                    drop_catalog_secrets(c);
                    c.token = Some(SecretSource::value(t));
                    typed.push("catalog.token");
                }
            }
        }

        let n = &mut file.notify;
        n.sync_failures = self.notify_sync_failures;
        n.cpu_alert_pct = self.cpu_alert_pct;
        n.cpu_alert_for = self.cpu_alert_for.trim().to_owned();
        typed
    }
}

/// Drops what authenticates to the catalog: token, OAuth2 credential (with its endpoint
/// and scope, which mean nothing without it) and headers, which may carry API keys.
fn drop_catalog_secrets(c: &mut pcmetrics_core::config::CatalogConfig) {
    c.token = None;
    c.credential = None;
    c.oauth2_server_uri = None;
    c.scope = None;
    c.headers.clear();
}

/// A secret as the file holds it: the value in clear, or the keyring reference.
fn file_value(secret: &SecretSource) -> toml::Value {
    match secret {
        SecretSource::Value(s) => toml::Value::String(s.expose().to_owned()),
        SecretSource::Keyring(r) => toml::Value::Table(toml::Table::from_iter([(
            "keyring".to_owned(),
            toml::Value::String(r.keyring.clone()),
        )])),
    }
}

/// The config file as TOML, secrets in clear unless they are keyring references (for
/// writing the file only).
pub fn to_file_toml(config: &Config) -> String {
    let mut table = toml::Table::try_from(config).expect("the config is plain data");
    // `Secret` serializes as "<redacted>"; put the real values back for the file.
    let put = |table: &mut toml::Table, section: &str, key: &str, secret: &Option<SecretSource>| {
        if let Some(toml::Value::Table(t)) = table.get_mut(section) {
            match secret {
                Some(s) => t.insert(key.into(), file_value(s)),
                None => t.remove(key),
            };
        }
    };
    put(
        &mut table,
        "storage",
        "access_key_id",
        &config.storage.access_key_id,
    );
    put(
        &mut table,
        "storage",
        "secret_access_key",
        &config.storage.secret_access_key,
    );
    put(
        &mut table,
        "storage",
        "session_token",
        &config.storage.session_token,
    );
    put(&mut table, "catalog", "token", &config.catalog.token);
    put(
        &mut table,
        "catalog",
        "credential",
        &config.catalog.credential,
    );
    if let Some(toml::Value::Table(catalog)) = table.get_mut("catalog") {
        if config.catalog.headers.is_empty() {
            catalog.remove("headers");
        } else {
            let headers = config
                .catalog
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), file_value(v)))
                .collect();
            catalog.insert("headers".into(), toml::Value::Table(headers));
        }
    }
    format!(
        "# pcmetrics config, written by the tray app's settings (comments are not kept).\n{}",
        pcmetrics_core::config::keyring::inline_references(
            &toml::to_string_pretty(&table).expect("a TOML table renders")
        )
    )
}

/// The config file the app reads and writes.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
}

impl ConfigFile {
    /// The file's own content (no environment); defaults when it does not exist yet.
    pub fn read(&self) -> Result<Config, ConfigError> {
        self.load(std::iter::empty())
    }

    /// The effective config: the file with `env` overlaid (defaults when it does not
    /// exist yet).
    pub fn load(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        Config::from_toml_with_env(&self.path.display().to_string(), &text, env)
    }

    /// Applies `form` to the file's content and validates the result as a startup would,
    /// keyring references read through `keyring`. Writes nothing, to the file or the
    /// keyring: typed secrets stay in memory until [`ConfigFile::save`].
    pub fn prepare(
        &self,
        form: &SettingsForm,
        env: impl IntoIterator<Item = (String, String)>,
        data_dir: Option<&Path>,
        keyring: &dyn SecretStore,
    ) -> Result<Prepared, ConfigError> {
        let before = self.read()?;
        let mut file = before.clone();
        let typed = form.apply_to(&mut file);
        let toml = to_file_toml(&file);
        let origin = self.path.display().to_string();
        let env: Vec<(String, String)> = env.into_iter().collect();
        // Each reference is read once for both validations.
        let keyring = ReadOnce {
            inner: keyring,
            read: Mutex::default(),
        };
        // The file must be valid on its own: an environment override (say
        // PCMETRICS_SYNC__INTERVAL) would otherwise hide a bad value written to it until
        // the next start without that variable. Credentials may live only in the
        // environment, so those variables stay.
        let credentials_only = env.iter().filter(|(k, _)| is_credential_var(k)).cloned();
        Config::from_toml_with_env(&origin, &toml, credentials_only)?
            .validate_with(data_dir, &keyring)?;
        // What runs: the file with every override.
        let settings =
            Config::from_toml_with_env(&origin, &toml, env)?.validate_with(data_dir, &keyring)?;
        Ok(Prepared {
            before,
            file,
            typed,
            settings,
        })
    }

    /// Writes a prepared save: typed secrets into the keyring (or, with no keyring
    /// running, into the file, said in the report), the file, then deletes the keyring
    /// entries Settings made for this file that it no longer references.
    pub fn save(
        &self,
        prepared: Prepared,
        keyring: &dyn SecretStore,
    ) -> Result<SaveReport, SaveError> {
        let Prepared {
            before,
            mut file,
            typed,
            ..
        } = prepared;
        let mut stored = Vec::new();
        let mut in_file = Vec::new();
        let mut notices = Vec::new();
        for (i, key) in typed.iter().enumerate() {
            let Some(slot) = form_secret_slot(&mut file, key) else {
                continue;
            };
            let Some(SecretSource::Value(secret)) = slot.clone() else {
                continue;
            };
            let account = self.new_account(key);
            match keyring.set(&account, &self.label(key), &secret) {
                Ok(()) => {
                    *slot = Some(SecretSource::keyring(account.clone()));
                    stored.push(account);
                }
                Err(KeyringError::Unavailable(why)) => {
                    in_file.extend(typed[i..].iter().copied());
                    notices.push(format!(
                        "No OS keyring is running ({why}), so {} {} written into the config file {}, readable by you only. To keep {} in the keyring instead, start one (GNOME Keyring, KWallet, KeePassXC) and type {} again.",
                        in_file.join(", "),
                        if in_file.len() == 1 { "was" } else { "were" },
                        self.path.display(),
                        if in_file.len() == 1 { "it" } else { "them" },
                        if in_file.len() == 1 { "it" } else { "them" },
                    ));
                    break;
                }
                Err(e) => {
                    self.forget(keyring, &stored);
                    return Err(SaveError::Keyring {
                        key: (*key).to_owned(),
                        message: format!(
                            "could not be stored in the OS keyring: {e}. Nothing was saved; unlock the keyring if it is locked (answer its prompt) and save again"
                        ),
                    });
                }
            }
        }
        if let Err(e) = self.write(&to_file_toml(&file)) {
            self.forget(keyring, &stored);
            return Err(SaveError::Write {
                path: self.path.clone(),
                source: e,
            });
        }
        // Entries this file's Settings made and the file no longer references.
        let now: Vec<String> = references(&file).into_iter().map(|(_, a)| a).collect();
        let stale: Vec<String> = references(&before)
            .into_iter()
            .filter(|(key, account)| self.owns(key, account) && !now.contains(account))
            .map(|(_, account)| account)
            .collect();
        let mut left = Vec::new();
        let mut why = None;
        for account in stale {
            if let Err(e) = keyring.delete(&account) {
                why.get_or_insert_with(|| e.to_string());
                left.push(account);
            }
        }
        if let Some(why) = why {
            notices.push(format!(
                "The config file no longer uses the keyring entries {}, but they could not be deleted ({why}); delete them in your keyring manager (service \"{}\").",
                left.join(", "),
                pcmetrics_core::config::keyring::SERVICE
            ));
        }
        Ok(SaveReport {
            notice: (!notices.is_empty()).then(|| notices.join(" ")),
            secrets_in_file: in_file,
        })
    }

    /// Deletes entries this save wrote, after it failed (best effort: they are not
    /// referenced, only left over).
    fn forget(&self, keyring: &dyn SecretStore, accounts: &[String]) {
        for account in accounts {
            if let Err(e) = keyring.delete(account) {
                tracing::warn!("left keyring entry {account:?} behind: {e}");
            }
        }
    }

    /// Accounts Settings makes for `key` of this file start with this.
    fn account_prefix(&self, key: &str) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("{key}@{}#", path.display())
    }

    /// A new account for `key`: never one an existing file references.
    fn new_account(&self, key: &str) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        format!("{}{}", self.account_prefix(key), &nonce[..12])
    }

    /// Whether Settings made `account` for `key` of this file (and may delete it).
    fn owns(&self, key: &str, account: &str) -> bool {
        account.starts_with(&self.account_prefix(key))
    }

    fn label(&self, key: &str) -> String {
        format!("pcmetrics {key} ({})", self.path.display())
    }

    /// Replaces the file atomically (write a temporary file, then rename), user-only.
    pub fn write(&self, toml: &str) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            std::io::Write::write_all(&mut f, toml.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

/// A validated save, not yet written ([`ConfigFile::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    /// The file as it was.
    before: Config,
    /// The file as the form leaves it; typed secrets still in clear, in memory.
    file: Config,
    /// Keys whose secret was typed.
    typed: Vec<&'static str>,
    /// What the pipeline runs with.
    pub settings: Settings,
}

impl Prepared {
    /// The file as it is written when no keyring takes the typed secrets.
    pub fn toml(&self) -> String {
        to_file_toml(&self.file)
    }
}

/// What a save did that the user should know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaveReport {
    /// For the window ([`SettingsForm::notice`]).
    pub notice: Option<String>,
    /// Typed secrets written into the file because no keyring was running.
    pub secrets_in_file: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{key}: {message}")]
    Keyring { key: String, message: String },
    #[error("cannot write the config file {path}: {source}; check that its folder is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The slot of a form secret key in `file`.
fn form_secret_slot<'a>(file: &'a mut Config, key: &str) -> Option<&'a mut Option<SecretSource>> {
    match key {
        "storage.access_key_id" => Some(&mut file.storage.access_key_id),
        "storage.secret_access_key" => Some(&mut file.storage.secret_access_key),
        "catalog.token" => Some(&mut file.catalog.token),
        _ => None,
    }
}

/// Every keyring reference of `file`: config key and account.
fn references(file: &Config) -> Vec<(String, String)> {
    let s = &file.storage;
    let c = &file.catalog;
    let mut all: Vec<(String, &SecretSource)> = [
        ("storage.access_key_id", &s.access_key_id),
        ("storage.secret_access_key", &s.secret_access_key),
        ("storage.session_token", &s.session_token),
        ("catalog.token", &c.token),
        ("catalog.credential", &c.credential),
    ]
    .into_iter()
    .filter_map(|(key, v)| v.as_ref().map(|v| (key.to_owned(), v)))
    .collect();
    all.extend(
        c.headers
            .iter()
            .map(|(name, v)| (format!("catalog.headers.{name}"), v)),
    );
    all.into_iter()
        .filter_map(|(key, v)| v.keyring_account().map(|a| (key, a.to_owned())))
        .collect()
}

/// A keyring that reads each account once (a save validates twice).
#[derive(Debug)]
struct ReadOnce<'a> {
    inner: &'a dyn SecretStore,
    read: Mutex<HashMap<String, Result<Secret, KeyringError>>>,
}

impl SecretStore for ReadOnce<'_> {
    fn get(&self, account: &str) -> Result<Secret, KeyringError> {
        if let Some(r) = self.read.lock().unwrap().get(account) {
            return r.clone();
        }
        let r = self.inner.get(account);
        self.read
            .lock()
            .unwrap()
            .insert(account.to_owned(), r.clone());
        r
    }
    fn set(&self, account: &str, label: &str, secret: &Secret) -> Result<(), KeyringError> {
        self.inner.set(account, label, secret)
    }
    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        self.inner.delete(account)
    }
}

/// Environment variables that may carry credentials or locate them (and AWS
/// endpoint/region defaults, which only fill what the file leaves unset).
fn is_credential_var(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.starts_with("AWS_")
        || [
            "PCMETRICS_STORAGE__ACCESS_KEY_ID",
            "PCMETRICS_STORAGE__SECRET_ACCESS_KEY",
            "PCMETRICS_STORAGE__SESSION_TOKEN",
            "PCMETRICS_CATALOG__TOKEN",
            "PCMETRICS_CATALOG__CREDENTIAL",
            // Where AWS_PROFILE's files are.
            "HOME",
            "USERPROFILE",
        ]
        .contains(&n.as_str())
}

/// The config key an error is about, for pointing at the form field.
pub fn error_key(e: &ConfigError) -> Option<String> {
    match e {
        ConfigError::Invalid { key, .. } | ConfigError::Type { key, .. } => Some(key.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcmetrics_core::config::MemoryKeyring;

    fn file_in(dir: &Path) -> ConfigFile {
        ConfigFile {
            path: dir.join("config.toml"),
        }
    }

    fn form_for(file: &ConfigFile) -> SettingsForm {
        SettingsForm::from_config(&file.load(std::iter::empty()).unwrap(), &file.path, false)
    }

    /// `prepare` with no keyring references about: the file it would write (typed
    /// secrets in clear) and the settings.
    fn prep(
        file: &ConfigFile,
        form: &SettingsForm,
        env: impl IntoIterator<Item = (String, String)>,
        dir: &Path,
    ) -> Result<(String, Settings), ConfigError> {
        let p = file.prepare(form, env, Some(dir), &MemoryKeyring::unavailable())?;
        Ok((p.toml(), p.settings))
    }

    #[test]
    fn defaults_round_trip_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let form = form_for(&file);
        assert_eq!(form.sampling_interval, "1s");
        assert_eq!(form.storage_kind, StorageKind::Local);
        let (toml, settings) = prep(&file, &form, [], dir.path()).unwrap();
        assert_eq!(settings.sync.interval, std::time::Duration::from_secs(300));
        file.write(&toml).unwrap();
        assert_eq!(form_for(&file), form);
    }

    #[test]
    fn what_is_collected_is_saved_and_defaults_stay_unset() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let mut form = form_for(&file);
        assert_eq!(form.mounts_exclude, DEFAULT_MOUNT_EXCLUDES.join(", "));
        assert!(form.collect_disks && form.collect_processes);
        // Saved as they are: the defaults are not written into the file.
        let (toml, _) = prep(&file, &form, [], dir.path()).unwrap();
        assert!(!toml.contains("exclude"), "{toml}");

        form.collect_temperatures = false;
        form.mounts_include = " /, /home* ".into();
        form.interfaces_exclude = String::new();
        let (toml, settings) = prep(&file, &form, [], dir.path()).unwrap();
        let o = &settings.sampling.options;
        assert!(!o.collect.temperatures && o.collect.disks);
        assert!(o.mounts.keeps("/home/ana") && !o.mounts.keeps("/boot"));
        assert!(
            o.interfaces.keeps("docker0"),
            "exclude = [] keeps every interface"
        );
        file.write(&toml).unwrap();
        let back = form_for(&file);
        assert_eq!(
            (
                back.mounts_include.as_str(),
                back.interfaces_exclude.as_str()
            ),
            ("/, /home*", "")
        );
        assert!(!back.collect_temperatures);

        let mut form = back;
        form.mounts_exclude = "/snap/*, ,".into();
        form.interfaces_include = "eth?, ".into();
        assert!(
            prep(&file, &form, [], dir.path()).is_ok(),
            "blank entries are dropped"
        );
    }

    #[test]
    fn bad_values_get_the_config_files_key_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let mut form = form_for(&file);
        form.sync_interval = "soon".into();
        let e = prep(&file, &form, [], dir.path()).unwrap_err();
        assert_eq!(error_key(&e).as_deref(), Some("sync.interval"));
        assert!(e.to_string().contains("is not a duration"), "{e}");

        let mut form = form_for(&file);
        form.storage_kind = StorageKind::S3;
        form.bucket = "warehouse".into();
        form.endpoint = "http://127.0.0.1:9000".into();
        let e = prep(&file, &form, [], dir.path()).unwrap_err();
        assert_eq!(error_key(&e).as_deref(), Some("storage.endpoint"));
        assert!(e.to_string().contains("allow_http"), "{e}");

        let mut form = form_for(&file);
        form.cpu_alert_pct = Some(150.0);
        let e = prep(&file, &form, [], dir.path()).unwrap_err();
        assert_eq!(error_key(&e).as_deref(), Some("notify.cpu_alert_pct"));
    }

    #[test]
    fn secrets_are_kept_when_blank_written_user_only_and_never_sent_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let mut form = form_for(&file);
        form.storage_kind = StorageKind::S3;
        form.bucket = "warehouse".into();
        form.endpoint = "http://127.0.0.1:9000".into();
        form.allow_http = true;
        form.access_key_id = "GK0123".into();
        form.secret_access_key = "very-secret-value".into();
        let (toml, settings) = prep(&file, &form, [], dir.path()).unwrap();
        file.write(&toml).unwrap();
        let pcmetrics_core::config::StorageSettings::S3(s3) = &settings.storage else {
            panic!("s3 expected")
        };
        assert_eq!(s3.secret_access_key.expose(), "very-secret-value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Read back: the form carries no secret, only "set".
        let again = form_for(&file);
        assert_eq!(again.secret_access_key, "");
        assert_eq!(again.access_key_id, "");
        assert!(again.secret_key_set && again.access_key_set);
        assert!(
            !serde_json::to_string(&again)
                .unwrap()
                .contains("very-secret")
        );

        // Saving with blank secrets keeps the stored ones; a new value replaces them.
        let mut edit = again.clone();
        edit.sync_interval = "10m".into();
        let (toml, _) = prep(&file, &edit, [], dir.path()).unwrap();
        assert!(toml.contains("very-secret-value") && toml.contains("10m"));
        edit.secret_access_key = "rotated".into();
        let (toml, _) = prep(&file, &edit, [], dir.path()).unwrap();
        assert!(toml.contains("rotated") && !toml.contains("very-secret-value"));
    }

    fn s3_form(file: &ConfigFile) -> SettingsForm {
        let mut form = form_for(file);
        form.storage_kind = StorageKind::S3;
        form.bucket = "warehouse".into();
        form.endpoint = "https://s3.example".into();
        form.catalog_kind = CatalogKind::Rest;
        form.catalog_uri = "https://catalog.example".into();
        form
    }

    fn save(
        file: &ConfigFile,
        form: &SettingsForm,
        dir: &Path,
        keyring: &dyn SecretStore,
    ) -> Result<SaveReport, String> {
        let p = file
            .prepare(form, [], Some(dir), keyring)
            .map_err(|e| e.to_string())?;
        file.save(p, keyring).map_err(|e| e.to_string())
    }

    /// The keyring accounts the file references, by key.
    fn refs(file: &ConfigFile) -> HashMap<String, String> {
        references(&file.read().unwrap()).into_iter().collect()
    }

    #[test]
    fn typed_secrets_go_to_the_keyring_and_the_file_keeps_only_references() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let keyring = MemoryKeyring::default();
        let mut form = s3_form(&file);
        form.access_key_id = "AKPLANTED1".into();
        form.secret_access_key = "planted-secret-1".into();
        form.catalog_token = "planted-token-1".into();
        let report = save(&file, &form, dir.path(), &keyring).unwrap();
        assert_eq!(report, SaveReport::default());
        let text = std::fs::read_to_string(&file.path).unwrap();
        for secret in ["AKPLANTED1", "planted-secret-1", "planted-token-1"] {
            assert!(!text.contains(secret), "{secret} in the file:\n{text}");
        }
        let first = refs(&file);
        assert_eq!(first.len(), 3, "{text}");
        assert!(
            text.contains(&format!(
                "secret_access_key = {{ keyring = \"{}\" }}\n",
                first["storage.secret_access_key"]
            )),
            "{text}"
        );
        let entries = keyring.entries();
        for (key, secret) in [
            ("storage.access_key_id", "AKPLANTED1"),
            ("storage.secret_access_key", "planted-secret-1"),
            ("catalog.token", "planted-token-1"),
        ] {
            let account = &first[key];
            assert!(file.owns(key, account), "{account}");
            assert_eq!(entries[account].expose(), secret);
        }
        // The file as pcmetrics reads it resolves to the typed values.
        let settings = file
            .load(std::iter::empty())
            .unwrap()
            .validate_with(Some(dir.path()), &keyring)
            .unwrap();
        let pcmetrics_core::config::StorageSettings::S3(s3) = &settings.storage else {
            panic!()
        };
        assert_eq!(s3.secret_access_key.expose(), "planted-secret-1");
        let form = form_for(&file);
        assert!(form.access_key_set && form.secret_key_set && form.token_set);

        // Blank fields keep the references and the entries.
        let mut edit = form.clone();
        edit.sync_interval = "10m".into();
        save(&file, &edit, dir.path(), &keyring).unwrap();
        assert_eq!(refs(&file), first);
        assert_eq!(keyring.entries().len(), 3);

        // A new secret: a new entry, the old one deleted.
        edit.secret_access_key = "planted-secret-2".into();
        save(&file, &edit, dir.path(), &keyring).unwrap();
        let second = refs(&file);
        assert_ne!(
            second["storage.secret_access_key"],
            first["storage.secret_access_key"]
        );
        assert_eq!(
            second["storage.access_key_id"],
            first["storage.access_key_id"]
        );
        let entries = keyring.entries();
        assert_eq!(entries.len(), 3);
        assert!(!entries.contains_key(&first["storage.secret_access_key"]));

        // Another endpoint: the stored keys do not follow it; the new ones replace them.
        let mut moved = form_for(&file);
        moved.endpoint = "https://elsewhere.example".into();
        let e = save(&file, &moved, dir.path(), &keyring).unwrap_err();
        assert!(e.starts_with("storage.access_key_id: is not set"), "{e}");
        assert_eq!(keyring.entries().len(), 3, "a failed save changes nothing");
        moved.access_key_id = "AKPLANTED3".into();
        moved.secret_access_key = "planted-secret-3".into();
        save(&file, &moved, dir.path(), &keyring).unwrap();
        let third = refs(&file);
        let entries = keyring.entries();
        for old in [
            &second["storage.access_key_id"],
            &second["storage.secret_access_key"],
        ] {
            assert!(!entries.contains_key(old), "{old} left in {entries:?}");
            assert!(!third.values().any(|a| a == old));
        }
        assert_eq!(
            third["catalog.token"], first["catalog.token"],
            "the catalog did not move"
        );

        // Another catalog URI: the token's entry goes with the reference.
        let mut moved = form_for(&file);
        moved.catalog_uri = "https://other-catalog.example".into();
        save(&file, &moved, dir.path(), &keyring).unwrap();
        assert!(!refs(&file).contains_key("catalog.token"));
        assert!(!keyring.entries().contains_key(&first["catalog.token"]));

        // A reference written by hand is dropped with its address, never deleted.
        keyring
            .set("shared-minio", "l", &Secret::new("hand-secret"))
            .unwrap();
        let text = std::fs::read_to_string(&file.path).unwrap().replace(
            "[storage]\n",
            "[storage]\nsession_token = { keyring = \"shared-minio\" }\n",
        );
        std::fs::write(&file.path, text).unwrap();
        assert_eq!(refs(&file)["storage.session_token"], "shared-minio");
        let mut local = form_for(&file);
        local.storage_kind = StorageKind::Local;
        local.catalog_kind = CatalogKind::Sql;
        save(&file, &local, dir.path(), &keyring).unwrap();
        assert!(refs(&file).is_empty());
        let left: Vec<String> = keyring.entries().into_keys().collect();
        assert_eq!(
            left,
            ["shared-minio"],
            "Settings' own entries are all deleted"
        );
    }

    #[test]
    fn with_no_keyring_typed_secrets_fall_back_to_the_file_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let mut form = s3_form(&file);
        form.access_key_id = "AKPLANTED1".into();
        form.secret_access_key = "planted-secret-1".into();
        let report = save(&file, &form, dir.path(), &MemoryKeyring::unavailable()).unwrap();
        let notice = report.notice.unwrap();
        assert!(
            notice.starts_with("No OS keyring is running (no session bus (test keyring)), so storage.access_key_id, storage.secret_access_key were written into the config file"),
            "{notice}"
        );
        assert!(
            notice.contains(&file.path.display().to_string()),
            "{notice}"
        );
        assert!(!notice.contains("planted"), "{notice}");
        assert_eq!(
            report.secrets_in_file,
            ["storage.access_key_id", "storage.secret_access_key"]
        );
        let text = std::fs::read_to_string(&file.path).unwrap();
        assert!(text.contains("planted-secret-1") && refs(&file).is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn references_are_written_inline_and_read_back_the_same() {
        let mut config: Config = Config::from_toml_with_env(
            "t",
            "[catalog]\nkind = \"rest\"\ncredential = { keyring = \"cred\" }\n[catalog.headers]\nX-Api-Key = { keyring = \"hdr\" }\nX-Tenant = \"acme\"\n",
            Vec::new(),
        )
        .unwrap();
        config.storage.session_token = Some(SecretSource::keyring("tok"));
        let text = to_file_toml(&config);
        for line in [
            "credential = { keyring = \"cred\" }\n",
            "X-Api-Key = { keyring = \"hdr\" }\n",
            "X-Tenant = \"acme\"\n",
            "session_token = { keyring = \"tok\" }\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        let again = Config::from_toml_with_env("t", &text, Vec::new()).unwrap();
        assert_eq!(again.catalog.headers, config.catalog.headers);
        assert_eq!(again.catalog.credential, config.catalog.credential);
        assert_eq!(again.storage.session_token, config.storage.session_token);
    }

    /// A keyring that is running but refuses (locked, prompt dismissed).
    #[derive(Debug)]
    struct Locked;
    impl SecretStore for Locked {
        fn get(&self, _: &str) -> Result<Secret, KeyringError> {
            Err(KeyringError::Locked("prompt dismissed".into()))
        }
        fn set(&self, _: &str, _: &str, _: &Secret) -> Result<(), KeyringError> {
            Err(KeyringError::Locked("prompt dismissed".into()))
        }
        fn delete(&self, _: &str) -> Result<(), KeyringError> {
            Err(KeyringError::Locked("prompt dismissed".into()))
        }
    }

    #[test]
    fn a_keyring_that_refuses_or_a_failed_write_saves_nothing_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let mut form = s3_form(&file);
        form.access_key_id = "AKPLANTED1".into();
        form.secret_access_key = "planted-secret-1".into();
        let e = save(&file, &form, dir.path(), &Locked).unwrap_err();
        assert!(
            e.starts_with("storage.access_key_id: could not be stored in the OS keyring: the keyring is locked"),
            "{e}"
        );
        assert!(
            e.contains("Nothing was saved") && !e.contains("planted"),
            "{e}"
        );
        assert!(!file.path.exists());

        // The file cannot be written: the entries just stored are deleted again.
        let keyring = MemoryKeyring::default();
        let prepared = file.prepare(&form, [], Some(dir.path()), &keyring).unwrap();
        std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
        let unwritable = ConfigFile {
            path: dir.path().join("not-a-dir/config.toml"),
        };
        let e = unwritable.save(prepared, &keyring).unwrap_err();
        assert!(matches!(e, SaveError::Write { .. }), "{e}");
        assert!(keyring.entries().is_empty(), "{:?}", keyring.entries());
    }

    const STORED: &str = r#"
[storage]
kind = "s3"
bucket = "warehouse"
endpoint = "https://minio:url-pass-42@s3.example"
access_key_id = "AKSTORED"
secret_access_key = "stored-secret-value"
[catalog]
kind = "rest"
uri = "https://catalog.example"
token = "stored-token-value"
"#;

    #[test]
    fn kept_secrets_do_not_follow_a_changed_endpoint_or_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        std::fs::write(&file.path, STORED).unwrap();
        let form = form_for(&file);
        // The URL's credentials are not sent to the window either.
        assert_eq!(form.endpoint, "https://<redacted>@s3.example");
        assert!(
            !serde_json::to_string(&form)
                .unwrap()
                .contains("url-pass-42")
        );

        // Unchanged endpoint and catalog: everything kept, the URL's user info too.
        let (toml, _) = prep(&file, &form, [], dir.path()).unwrap();
        for kept in [
            "url-pass-42@s3.example",
            "stored-secret-value",
            "stored-token-value",
        ] {
            assert!(toml.contains(kept), "{kept} dropped from {toml}");
        }

        // Another endpoint: the stored keys would go to whatever was typed; they are
        // dropped, and validation asks for new ones.
        let mut moved = form.clone();
        moved.endpoint = "https://attacker.example".into();
        let e = prep(&file, &moved, [], dir.path()).unwrap_err();
        assert_eq!(
            error_key(&e).as_deref(),
            Some("storage.access_key_id"),
            "{e}"
        );
        moved.access_key_id = "AKNEW".into();
        moved.secret_access_key = "new-secret".into();
        let (toml, _) = prep(&file, &moved, [], dir.path()).unwrap();
        assert!(!toml.contains("stored-secret-value") && !toml.contains("AKSTORED"));
        assert!(
            toml.contains("stored-token-value"),
            "the catalog did not move"
        );

        // Another catalog URI: the token is dropped (a REST catalog may go without one).
        let mut moved = form.clone();
        moved.catalog_uri = "https://other-catalog.example".into();
        let (toml, _) = prep(&file, &moved, [], dir.path()).unwrap();
        assert!(!toml.contains("stored-token-value"), "{toml}");
        assert!(toml.contains("stored-secret-value"), "storage did not move");
        // A new token typed with the new URI is kept.
        moved.catalog_token = "typed-token".into();
        let (toml, _) = prep(&file, &moved, [], dir.path()).unwrap();
        assert!(toml.contains("typed-token"));
    }

    const STORED_OAUTH: &str = r#"
[storage]
kind = "s3"
bucket = "warehouse"
endpoint = "https://s3.example"
access_key_id = "ASIASTORED"
secret_access_key = "stored-secret-value"
session_token = "stored-session-token"
ca_file = "CA_PATH"
[catalog]
kind = "rest"
uri = "https://catalog.example"
credential = "client:stored-client-secret"
oauth2_server_uri = "https://idp.example/token"
scope = "PRINCIPAL_ROLE:ALL"
ca_file = "CA_PATH"
[catalog.headers]
X-Api-Key = "stored-header-value"
"#;

    /// Keys the form does not show survive a save in clear in the file; the secrets among
    /// them follow their address like the keys the form shows.
    #[test]
    fn keys_the_form_does_not_show_are_kept_and_follow_their_address() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, TEST_CA).unwrap();
        let file = file_in(dir.path());
        std::fs::write(
            &file.path,
            STORED_OAUTH.replace("CA_PATH", &ca.display().to_string()),
        )
        .unwrap();
        let form = form_for(&file);
        assert!(!serde_json::to_string(&form).unwrap().contains("stored-"));
        let (toml, settings) = prep(&file, &form, [], dir.path()).unwrap();
        for kept in [
            "stored-session-token",
            "stored-client-secret",
            "stored-header-value",
            "https://idp.example/token",
            "PRINCIPAL_ROLE:ALL",
            "ca.pem",
        ] {
            assert!(toml.contains(kept), "{kept} dropped from {toml}");
        }
        assert!(!toml.contains("<redacted>"), "{toml}");
        let pcmetrics_core::config::CatalogSettings::Rest { headers, .. } = &settings.catalog
        else {
            panic!()
        };
        assert_eq!(headers[0].1.expose(), "stored-header-value");

        // Another catalog URI: credential, its endpoint and scope, and the headers go.
        let mut moved = form.clone();
        moved.catalog_uri = "https://other-catalog.example".into();
        let (toml, _) = prep(&file, &moved, [], dir.path()).unwrap();
        for gone in [
            "stored-client-secret",
            "stored-header-value",
            "idp.example",
            "PRINCIPAL_ROLE",
        ] {
            assert!(!toml.contains(gone), "{gone} left in {toml}");
        }
        assert!(
            toml.contains("stored-session-token"),
            "storage did not move"
        );
        // A token typed in the form replaces the credential.
        let mut token = form.clone();
        token.catalog_token = "typed-token".into();
        let (toml, _) = prep(&file, &token, [], dir.path()).unwrap();
        assert!(toml.contains("typed-token") && !toml.contains("stored-client-secret"));
        // A new key: the stored session token belonged to the old one.
        let mut key = form.clone();
        key.access_key_id = "AKNEW".into();
        key.secret_access_key = "new-secret".into();
        let (toml, _) = prep(&file, &key, [], dir.path()).unwrap();
        assert!(!toml.contains("stored-session-token"), "{toml}");
        assert!(
            toml.contains("stored-client-secret"),
            "the catalog did not move"
        );
        // Back to local and sql: none of it is left.
        let mut local = form.clone();
        local.storage_kind = StorageKind::Local;
        local.catalog_kind = CatalogKind::Sql;
        let (toml, _) = prep(&file, &local, [], dir.path()).unwrap();
        assert!(
            !toml.contains("stored-") && !toml.contains("ca.pem"),
            "{toml}"
        );
    }

    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjTCCATSgAwIBAgITHvVINzjiMiTPuVe3vmqMzfi/BTAKBggqhkjOPQQDAjAc
MRowGAYDVQQDDBFwY21ldHJpY3MgdGVzdCBDQTAgFw0yNjEyMDIwMjQ5MTJaGA8y
MTI2MTEwODAyNDkxMlowHDEaMBgGA1UEAwwRcGNtZXRyaWNzIHRlc3QgQ0EwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAATs0D+3mRhie6Y63+/O3YF9Z0wQr+5vZ3Ai
UGjahkNBz88i56Wmy+tcWHZx1UL7Ubm52GhAJ9koXpl0fYcUMU5Oo1MwUTAdBgNV
HQ4EFgQUV1/xh7cXfGKN7p9WSDWfKisyoY8wHwYDVR0jBBgwFoAUV1/xh7cXfGKN
7p9WSDWfKisyoY8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBZ
7urkBh+IgPIDXg8p5nsuc8GMZj4+cJcBFYXHSus6+wIgKmaISuJaYoNyvqyuISnN
TnuWKf9NE57ICAJkTw+V9dM=
-----END CERTIFICATE-----
";

    #[test]
    fn switching_back_to_local_drops_the_s3_and_rest_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        std::fs::write(
            &file.path,
            r#"
[storage]
kind = "s3"
bucket = "warehouse"
endpoint = "https://s3.example"
access_key_id = "AK"
secret_access_key = "SK"
[catalog]
kind = "rest"
uri = "https://catalog.example"
token = "T"
"#,
        )
        .unwrap();
        let mut form = form_for(&file);
        assert_eq!(form.catalog_uri, "https://catalog.example");
        assert!(form.token_set);
        form.storage_kind = StorageKind::Local;
        form.catalog_kind = CatalogKind::Sql;
        let (toml, settings) = prep(&file, &form, [], dir.path()).unwrap();
        assert!(matches!(
            settings.storage,
            pcmetrics_core::config::StorageSettings::Local { .. }
        ));
        for gone in ["AK", "SK", "catalog.example", "\"T\""] {
            assert!(!toml.contains(gone), "{gone} left in {toml}");
        }
    }

    #[test]
    fn an_environment_override_does_not_hide_a_bad_value_written_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let env = || [("PCMETRICS_SYNC__INTERVAL".to_owned(), "1h".to_owned())];
        let mut form = SettingsForm::from_config(&file.load(env()).unwrap(), &file.path, false);
        assert_eq!(form.sync_interval, "1h");
        form.sync_interval = "soon".into();
        let e = prep(&file, &form, env(), dir.path()).unwrap_err();
        assert_eq!(error_key(&e).as_deref(), Some("sync.interval"), "{e}");
        // Credentials from the environment still count.
        form.sync_interval = "5m".into();
        form.storage_kind = StorageKind::S3;
        form.bucket = "warehouse".into();
        let creds = [
            ("AWS_ACCESS_KEY_ID".to_owned(), "AK".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "SK".to_owned()),
        ];
        let (toml, _) = prep(&file, &form, creds, dir.path()).unwrap();
        assert!(
            !toml.contains("SK"),
            "environment secrets are not copied into the file"
        );
    }

    #[test]
    fn environment_overrides_apply_when_validating() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        let form = form_for(&file);
        let env = [("PCMETRICS_SYNC__INTERVAL".to_owned(), "nope".to_owned())];
        let e = prep(&file, &form, env, dir.path()).unwrap_err();
        assert_eq!(error_key(&e).as_deref(), Some("sync.interval"));
    }
}
