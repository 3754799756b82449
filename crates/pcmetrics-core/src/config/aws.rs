//! # The `AWS_PROFILE` profile of the AWS shared files
//!
//! object_store 0.12 reads `AWS_*` variables, web identity and instance credentials, but
//! not the profiles of `~/.aws/credentials` and `~/.aws/config`. pcmetrics reads the one
//! profile `AWS_PROFILE` names, and only its static keys (`aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`) and `region`: what `aws configure`
//! writes. SSO, `role_arn` and `credential_process` profiles need the AWS SDK's
//! machinery; for those the error says how to hand over exported keys instead.
//!
//! Values read are [`Secret`]s at once; errors name files, profiles and keys, never
//! values.

use std::path::PathBuf;

use super::{ConfigError, Secret};

/// Variables that locate the home directory, read with the `AWS_*` ones.
pub(super) const HOME_VARS: [&str; 2] = ["HOME", "USERPROFILE"];

/// A profile's static keys.
pub(super) struct ProfileKeys {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, else `~/.aws/<name>`.
fn shared_file(
    var: &dyn Fn(&str) -> Option<String>,
    override_var: &str,
    name: &str,
) -> Option<PathBuf> {
    var(override_var).map(PathBuf::from).or_else(|| {
        HOME_VARS
            .iter()
            .find_map(|h| var(h))
            .map(|home| PathBuf::from(home).join(".aws").join(name))
    })
}

/// The `key = value` pairs of section `[section]` of an INI file (`None`: no such
/// section, or no such file).
fn section(path: &PathBuf, section: &str) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut found = None;
    let mut current = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim() == section;
            if current {
                found.get_or_insert_with(Vec::new);
            }
        } else if current && let Some((k, v)) = line.split_once('=') {
            found
                .get_or_insert_with(Vec::new)
                .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    found
}

/// The profile's section in the credentials file (`[name]`) and the config file
/// (`[profile name]`, `[default]`), credentials first.
fn profile_sections(
    name: &str,
    var: &dyn Fn(&str) -> Option<String>,
) -> (Vec<PathBuf>, Vec<(String, String)>) {
    let mut files = Vec::new();
    let mut pairs = Vec::new();
    if let Some(path) = shared_file(var, "AWS_SHARED_CREDENTIALS_FILE", "credentials") {
        pairs.extend(section(&path, name).unwrap_or_default());
        files.push(path);
    }
    if let Some(path) = shared_file(var, "AWS_CONFIG_FILE", "config") {
        let header = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        pairs.extend(section(&path, &header).unwrap_or_default());
        files.push(path);
    }
    (files, pairs)
}

fn get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.clone())
}

/// The static keys of profile `name`; an error that says what to do when it has none.
pub(super) fn profile_keys(
    name: &str,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<ProfileKeys, ConfigError> {
    let (files, pairs) = profile_sections(name, var);
    match (
        get(&pairs, "aws_access_key_id"),
        get(&pairs, "aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Ok(ProfileKeys {
            access_key_id: Secret::new(id),
            secret_access_key: Secret::new(secret),
            session_token: get(&pairs, "aws_session_token")
                .or_else(|| get(&pairs, "aws_security_token"))
                .map(Secret::new),
        }),
        _ => {
            let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            Err(ConfigError::invalid(
                "storage.access_key_id",
                format!(
                    "is not set, and AWS_PROFILE={name:?} has no aws_access_key_id and aws_secret_access_key in {}. pcmetrics reads static keys only (not SSO, role_arn or credential_process profiles): run `aws configure export-credentials --profile {name} --format env` and pass the variables it prints, or set storage.access_key_id and storage.secret_access_key",
                    if files.is_empty() {
                        "the AWS shared files (no home directory to find them in)".to_owned()
                    } else {
                        files.join(" or ")
                    }
                ),
            ))
        }
    }
}

/// The `region` of profile `name`, if the shared files give one.
pub(super) fn profile_region(name: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    get(&profile_sections(name, var).1, "region")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(home: &std::path::Path) -> impl Fn(&str) -> Option<String> {
        let home = home.display().to_string();
        move |n: &str| (n == "HOME").then(|| home.clone())
    }

    #[test]
    fn reads_keys_token_and_region_of_the_named_profile() {
        let home = tempfile::tempdir().unwrap();
        let aws = home.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n\
             # temporary keys\n[work]\naws_access_key_id=WORKKEY\naws_secret_access_key = work/secret+x=\n\
             aws_session_token = work-session-token\n",
        )
        .unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-1\n[profile sso]\nsso_session = corp\n",
        )
        .unwrap();
        let var = vars(home.path());
        let keys = profile_keys("work", &var).unwrap();
        assert_eq!(keys.access_key_id.expose(), "WORKKEY");
        assert_eq!(keys.secret_access_key.expose(), "work/secret+x=");
        assert_eq!(
            keys.session_token.as_ref().map(Secret::expose),
            Some("work-session-token")
        );
        assert_eq!(profile_region("work", &var).as_deref(), Some("eu-west-1"));
        assert_eq!(
            profile_region("default", &var).as_deref(),
            Some("us-east-1")
        );
        assert!(
            profile_keys("default", &var)
                .unwrap()
                .session_token
                .is_none()
        );

        let err = profile_keys("sso", &var).err().unwrap().to_string();
        assert!(err.starts_with("storage.access_key_id: "), "{err}");
        assert!(err.contains("AWS_PROFILE=\"sso\""), "{err}");
        assert!(
            err.contains("aws configure export-credentials --profile sso"),
            "{err}"
        );
        for value in ["WORKKEY", "work/secret", "defaultsecret", "DEFAULTKEY"] {
            assert!(!err.contains(value), "{err}");
        }
    }
}
