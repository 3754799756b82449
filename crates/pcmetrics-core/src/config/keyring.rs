//! # Secrets in the OS keyring
//!
//! A secret key of the config ([`super::SECRET_KEYS`] and every `catalog.headers` value)
//! holds either the secret itself, a string, or a reference to an entry of the OS
//! keyring, a table:
//!
//! ```toml
//! secret_access_key = { keyring = "storage.secret_access_key@/home/ann/.config/pcmetrics/config.toml#3f9c0e21d7b4" }
//! ```
//!
//! The two cannot be confused: a string is always the secret, whatever it starts with
//! (`"keyring:x"` is a secret that happens to start with "keyring:"), and environment
//! variables are always strings; only a TOML table is a reference. An entry lives under
//! service [`SERVICE`] and the account the reference names. The Settings window names its
//! accounts `<key>@<config file>#<nonce>`, so two config files never share an entry and a
//! new secret never overwrites the one an older file still references; a hand-written
//! reference may name any account.
//!
//! References are resolved by [`super::Config::validate`], only for the keys the settings
//! use, and resolution failures are config errors that name the key, the entry and the
//! fix. Resolved values are [`Secret`]s like any other: never printed.
//!
//! The keyring is Secret Service on Linux and the BSDs (GNOME Keyring, KWallet,
//! KeePassXC), spoken over D-Bus by zbus in pure Rust with the session encrypted
//! (Diffie-Hellman, AES), so no libdbus or OpenSSL is linked; the login Keychain on
//! macOS; Credential Manager on Windows, with local persistence (never roaming with a
//! domain profile). All through keyring-core and the store crates of the same project.
//!
//! Every call connects anew (a keyring started after the app is found, a restarted one
//! too) on a thread of its own with a deadline: the zbus blocking API must not run on an
//! async runtime's thread, and an unlock prompt nobody answers must not hang a sync.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{ConfigError, ENV_PREFIX, Secret};

/// The service of every pcmetrics entry in the OS keyring.
pub const SERVICE: &str = "pcmetrics";

/// How long one keyring call may take, unlock prompt included.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A config value that names an OS keyring entry instead of holding the secret:
/// `{ keyring = "<account>" }` (service [`SERVICE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringRef {
    /// The entry's account (user name) under service "pcmetrics".
    pub keyring: String,
}

/// A secret as the config gives it: the value, or where the OS keyring keeps it.
///
/// `Serialize` writes a value as `<redacted>` and a reference as it is, so `config show`
/// shows where a secret lives but never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// The secret itself (a string in the file or the environment).
    Value(Secret),
    /// `{ keyring = "<account>" }`.
    Keyring(KeyringRef),
}

impl SecretSource {
    pub fn value(secret: impl Into<String>) -> Self {
        Self::Value(Secret::new(secret))
    }

    pub fn keyring(account: impl Into<String>) -> Self {
        Self::Keyring(KeyringRef {
            keyring: account.into(),
        })
    }

    /// The account of a keyring reference.
    pub fn keyring_account(&self) -> Option<&str> {
        match self {
            Self::Keyring(r) => Some(&r.keyring),
            Self::Value(_) => None,
        }
    }

    /// The secret: the value, or the keyring entry read through `store`. `key` names the
    /// config key in errors.
    pub fn resolve(&self, key: &str, store: &dyn SecretStore) -> Result<Secret, ConfigError> {
        match self {
            Self::Value(s) => Ok(s.clone()),
            Self::Keyring(r) => resolve(key, &r.keyring, store),
        }
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretSource;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "the secret as a string, or a keyring reference { keyring = \"<account>\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
                Ok(SecretSource::value(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretSource, E> {
                Ok(SecretSource::value(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretSource, A::Error> {
                KeyringRef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SecretSource::Keyring)
            }
        }
        d.deserialize_any(V)
    }
}

/// Why the keyring did not do what was asked. The texts come from the keyring, never
/// from a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// Nothing to talk to: no session bus, no Secret Service on it, no keyring on this
    /// platform.
    #[error("no keyring is reachable ({0})")]
    Unavailable(String),
    /// The keyring is there but locked, or the user dismissed the unlock prompt.
    #[error("the keyring is locked or refused access ({0})")]
    Locked(String),
    /// No entry for the account.
    #[error("the keyring has no such entry")]
    Missing,
    /// Anything else the keyring said (or no answer before the deadline).
    #[error("the keyring failed ({0})")]
    Failed(String),
}

/// Where secrets are kept: the OS keyring ([`OsKeyring`]) or, in tests, memory
/// ([`MemoryKeyring`]). Accounts are under service [`SERVICE`].
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    fn get(&self, account: &str) -> Result<Secret, KeyringError>;
    /// Creates or replaces the entry; `label` is what keyring managers show.
    fn set(&self, account: &str, label: &str, secret: &Secret) -> Result<(), KeyringError>;
    /// Deleting an entry that does not exist is not an error.
    fn delete(&self, account: &str) -> Result<(), KeyringError>;
}

/// The platform's keyring. Connects on every call (see the module docs).
#[derive(Debug, Clone)]
pub struct OsKeyring {
    deadline: Duration,
}

impl Default for OsKeyring {
    fn default() -> Self {
        Self { deadline: DEADLINE }
    }
}

impl OsKeyring {
    /// Runs `op` on an entry of a freshly connected store, on a thread of its own.
    fn run<T: Send + 'static>(
        &self,
        account: &str,
        label: Option<&str>,
        op: impl FnOnce(&keyring_core::Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, KeyringError> {
        let account = account.to_owned();
        let label = label.map(str::to_owned);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("pcmetrics-keyring".into())
            .spawn(move || {
                let result = match platform::store() {
                    Err(e) => Err(KeyringError::Unavailable(reason(&e))),
                    Ok(store) => {
                        let modifiers = platform::modifiers(label.as_deref());
                        let refs: std::collections::HashMap<&str, &str> =
                            modifiers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        store
                            .build(SERVICE, &account, Some(&refs))
                            .and_then(|entry| op(&entry))
                            .map_err(classify)
                    }
                };
                let _ = tx.send(result);
            })
            .map_err(|e| KeyringError::Failed(format!("cannot start a thread: {e}")))?;
        rx.recv_timeout(self.deadline).unwrap_or_else(|_| {
            Err(KeyringError::Failed(format!(
                "no answer within {} s; is an unlock prompt waiting?",
                self.deadline.as_secs()
            )))
        })
    }
}

impl SecretStore for OsKeyring {
    fn get(&self, account: &str) -> Result<Secret, KeyringError> {
        self.run(account, None, |e| e.get_password().map(Secret::new))
    }

    fn set(&self, account: &str, label: &str, secret: &Secret) -> Result<(), KeyringError> {
        let secret = secret.clone();
        self.run(account, Some(label), move |e| {
            e.set_password(secret.expose())
        })
    }

    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        match self.run(account, None, |e| e.delete_credential()) {
            Err(KeyringError::Missing) => Ok(()),
            other => other,
        }
    }
}

/// A keyring's error as text. Only variants whose text is the keyring's own; the ones
/// carrying secret bytes (`BadEncoding`, `BadDataFormat`) get words instead.
fn reason(e: &keyring_core::Error) -> String {
    use keyring_core::Error as E;
    match e {
        E::PlatformFailure(p) | E::NoStorageAccess(p) => crate::error::with_sources(p.as_ref()),
        E::BadEncoding(_) => "the entry is not UTF-8 text".to_owned(),
        E::BadDataFormat(..) => "the entry's data is malformed".to_owned(),
        E::Ambiguous(entries) => format!(
            "{} entries match; delete all but one in your keyring manager",
            entries.len()
        ),
        E::NoEntry => "no such entry".to_owned(),
        E::NoDefaultStore => "no keyring on this platform".to_owned(),
        E::TooLong(what, limit) => format!("{what} is longer than the keyring's {limit}"),
        E::Invalid(what, why) => format!("{what} {why}"),
        E::NotSupportedByStore(why) => why.clone(),
        _ => "unknown keyring error".to_owned(),
    }
}

fn classify(e: keyring_core::Error) -> KeyringError {
    use keyring_core::Error as E;
    match e {
        E::NoEntry => KeyringError::Missing,
        E::NoStorageAccess(_) => KeyringError::Locked(reason(&e)),
        E::NoDefaultStore => KeyringError::Unavailable(reason(&e)),
        _ => KeyringError::Failed(reason(&e)),
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Result};

    pub fn store() -> Result<Arc<CredentialStore>> {
        Ok(zbus_secret_service_keyring_store::Store::new()?)
    }

    /// Seahorse and KWallet show the label.
    pub fn modifiers(label: Option<&str>) -> Vec<(&'static str, String)> {
        label.map(|l| ("label", l.to_owned())).into_iter().collect()
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Result};

    pub fn store() -> Result<Arc<CredentialStore>> {
        Ok(apple_native_keyring_store::keychain::Store::new()?)
    }

    pub fn modifiers(_label: Option<&str>) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(windows)]
mod platform {
    use std::collections::HashMap;
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Result};

    /// Target names are `<account>.pcmetrics`; a service without the divider keeps them
    /// unambiguous.
    pub fn store() -> Result<Arc<CredentialStore>> {
        Ok(windows_native_keyring_store::Store::new_with_configuration(
            &HashMap::from([("service_no_divider", "true")]),
        )?)
    }

    /// Local persistence: the entry stays on this PC instead of roaming with a domain
    /// profile (the library's default).
    pub fn modifiers(_label: Option<&str>) -> Vec<(&'static str, String)> {
        vec![("persistence", "Local".to_owned())]
    }
}

#[cfg(not(any(
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ),
    target_os = "macos",
    windows
)))]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Error, Result};

    pub fn store() -> Result<Arc<CredentialStore>> {
        Err(Error::NoDefaultStore)
    }

    pub fn modifiers(_label: Option<&str>) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// An in-memory keyring for tests, optionally one that is never reachable.
#[derive(Debug, Default)]
pub struct MemoryKeyring {
    entries: Mutex<BTreeMap<String, Secret>>,
    unavailable: bool,
}

impl MemoryKeyring {
    /// A keyring that answers every call with [`KeyringError::Unavailable`].
    pub fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    /// Every entry: account and secret.
    pub fn entries(&self) -> BTreeMap<String, Secret> {
        self.entries.lock().unwrap().clone()
    }

    fn check(&self) -> Result<(), KeyringError> {
        if self.unavailable {
            Err(KeyringError::Unavailable(
                "no session bus (test keyring)".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl SecretStore for MemoryKeyring {
    fn get(&self, account: &str) -> Result<Secret, KeyringError> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .get(account)
            .cloned()
            .ok_or(KeyringError::Missing)
    }

    fn set(&self, account: &str, _label: &str, secret: &Secret) -> Result<(), KeyringError> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .insert(account.to_owned(), secret.clone());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        self.check()?;
        self.entries.lock().unwrap().remove(account);
        Ok(())
    }
}

impl<S: SecretStore + ?Sized> SecretStore for Arc<S> {
    fn get(&self, account: &str) -> Result<Secret, KeyringError> {
        (**self).get(account)
    }
    fn set(&self, account: &str, label: &str, secret: &Secret) -> Result<(), KeyringError> {
        (**self).set(account, label, secret)
    }
    fn delete(&self, account: &str) -> Result<(), KeyringError> {
        (**self).delete(account)
    }
}

/// The environment variable that can give `key` instead, if there is one (a single
/// header has none).
fn env_var(key: &str) -> Option<String> {
    let (section, name) = key.split_once('.')?;
    (!name.contains('.')).then(|| {
        format!(
            "{ENV_PREFIX}{}__{}",
            section.to_ascii_uppercase(),
            name.to_ascii_uppercase()
        )
    })
}

/// Reads the entry `account` for config key `key`; errors name the key, the entry, what
/// is wrong and what to do.
fn resolve(key: &str, account: &str, store: &dyn SecretStore) -> Result<Secret, ConfigError> {
    if account.trim().is_empty() {
        return Err(ConfigError::invalid(
            key,
            "is { keyring = \"\" }; name the account of the keyring entry (service \"pcmetrics\"), or write the secret itself",
        ));
    }
    let entry = format!("the OS keyring (service \"{SERVICE}\", account {account:?})");
    let instead = match env_var(key) {
        Some(var) => format!(", or set {var} instead"),
        None => String::new(),
    };
    let message = match store.get(account) {
        Ok(secret) => return Ok(secret),
        Err(KeyringError::Unavailable(why)) => format!(
            "is kept in {entry}, but no keyring is reachable ({why}). Run pcmetrics in the desktop session whose keyring holds it{instead}, or write the secret itself in place of the reference (the file must then stay readable by you only)"
        ),
        Err(KeyringError::Locked(why)) => format!(
            "is kept in {entry}, but the keyring is locked or refused access ({why}). Unlock it (log in to the desktop session, or unlock the keyring in your keyring manager) and try again{instead}"
        ),
        Err(KeyringError::Missing) => format!(
            "is kept in {entry}, but the keyring has no such entry. Type the secret again in Settings, or store it yourself{}{instead}",
            if cfg!(target_os = "linux") {
                format!(
                    ", e.g. secret-tool store --label=pcmetrics service {SERVICE} username '{account}'"
                )
            } else {
                format!(" under service \"{SERVICE}\", account {account:?}")
            }
        ),
        Err(KeyringError::Failed(why)) => {
            format!("is kept in {entry}, but reading it failed ({why}){instead}")
        }
    };
    Err(ConfigError::invalid(key, message))
}

/// `secret_access_key = { keyring = "…" }` on one line, as the README writes it, instead
/// of the `[storage.secret_access_key]` section the serializer makes of it (same TOML).
pub fn inline_references(text: &str) -> String {
    fn inline(t: &mut toml_edit::Table) {
        let refs: Vec<String> = t
            .iter()
            .filter(|(_, v)| {
                v.as_table()
                    .is_some_and(|r| r.len() == 1 && r.contains_key("keyring"))
            })
            .map(|(k, _)| k.to_owned())
            .collect();
        for key in refs {
            if let Some(Ok(table)) = t.remove(&key).map(toml_edit::Item::into_table) {
                t.insert(&key, toml_edit::value(table.into_inline_table()));
            }
        }
    }
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return text.to_owned();
    };
    for section in ["storage", "catalog"] {
        if let Some(t) = doc.get_mut(section).and_then(toml_edit::Item::as_table_mut) {
            inline(t);
            if let Some(h) = t.get_mut("headers").and_then(toml_edit::Item::as_table_mut) {
                inline(h);
            }
        }
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_always_the_secret_and_only_a_table_is_a_reference() {
        #[derive(Deserialize)]
        struct T {
            s: SecretSource,
        }
        let parse = |text: &str| toml::from_str::<T>(text).map(|t| t.s);
        assert_eq!(
            parse("s = \"keyring:looks-like-one\"").unwrap(),
            SecretSource::value("keyring:looks-like-one")
        );
        assert_eq!(
            parse("s = { keyring = \"acct\" }").unwrap(),
            SecretSource::keyring("acct")
        );
        assert!(parse("s = { keyring = \"a\", extra = 1 }").is_err());
        assert!(parse("s = { keyrng = \"a\" }").is_err());
        assert!(parse("s = 42").is_err());
        // Shown: the reference as it is, a value never.
        let shown = toml::to_string(&BTreeMap::from([
            ("v", SecretSource::value("planted-7")),
            ("r", SecretSource::keyring("acct")),
        ]))
        .unwrap();
        assert!(!shown.contains("planted-7") && shown.contains("<redacted>"));
        assert!(shown.contains("keyring = \"acct\""), "{shown}");
    }

    #[test]
    fn resolution_errors_name_the_key_the_entry_and_the_fix() {
        let store = MemoryKeyring::default();
        store
            .set("acct", "l", &Secret::new("planted-secret-3"))
            .unwrap();
        let r = SecretSource::keyring("acct");
        assert_eq!(
            r.resolve("storage.secret_access_key", &store)
                .unwrap()
                .expose(),
            "planted-secret-3"
        );
        let e = SecretSource::keyring("gone")
            .resolve("storage.secret_access_key", &store)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("storage.secret_access_key: is kept in the OS keyring (service \"pcmetrics\", account \"gone\"), but the keyring has no such entry"),
            "{e}"
        );
        assert!(e.contains("PCMETRICS_STORAGE__SECRET_ACCESS_KEY"), "{e}");
        let e = r
            .resolve("catalog.headers.X-Api-Key", &MemoryKeyring::unavailable())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("catalog.headers.X-Api-Key: is kept in the OS keyring")
                && e.contains("no keyring is reachable"),
            "{e}"
        );
        assert!(
            !e.contains("PCMETRICS_"),
            "no variable sets one header: {e}"
        );
        let e = SecretSource::keyring(" ")
            .resolve("catalog.token", &store)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("catalog.token: is { keyring = \"\" }"), "{e}");
    }
}
