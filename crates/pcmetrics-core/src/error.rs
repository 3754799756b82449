//! The one public error: each stage's error, plus what a caller needs to decide whether
//! trying again later can help.

use crate::buffer::BufferError;
use crate::commit::CommitError;
use crate::config::ConfigError;
use crate::encode::EncodeError;
use crate::land::LandError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Buffer(#[from] BufferError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Land(#[from] LandError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(
        "another pcmetrics process is {doing} with data dir {data_dir} (lock {lock}); wait for it or stop it"
    )]
    Busy {
        doing: &'static str,
        data_dir: String,
        lock: String,
    },
    #[error("data dir {path}: {message}")]
    DataDir { path: String, message: String },
    #[error("the pipeline is not running (it stopped or is restarting); try again in a moment")]
    Stopped,
    /// The error of a sync the pipeline ran on a caller's behalf
    /// ([`crate::pipeline::Controller::sync_now`]), as its message.
    #[error("{message}")]
    Relayed { message: String, retryable: bool },
}

/// What can be done about an error, decided by its type (never by its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The same operation may succeed later without anyone changing anything: a server
    /// down, a conflict, a busy lock, a full disk being cleaned up.
    Retryable,
    /// These data can never succeed (a sample whose stored form cannot be decoded, a batch
    /// that cannot be encoded): set them aside and go on with the rest.
    Permanent,
    /// Only the user can fix it: bad config, refused credentials, a corrupt or newer
    /// buffer file, a table another engine changed incompatibly.
    NeedsUser,
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Land(_) | Error::Busy { .. } | Error::Stopped => ErrorClass::Retryable,
            Error::Relayed {
                retryable: true, ..
            } => ErrorClass::Retryable,
            Error::Commit(e) if e.is_retryable() => ErrorClass::Retryable,
            Error::Buffer(BufferError::Sqlite { .. } | BufferError::DiskFull { .. }) => {
                ErrorClass::Retryable
            }
            Error::Buffer(BufferError::Decode { .. }) | Error::Encode(_) => ErrorClass::Permanent,
            _ => ErrorClass::NeedsUser,
        }
    }

    /// Whether the same operation may succeed later without the user changing anything.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A one-line description of an object store error: first what to check, when the error
/// says, then the server's own words.
pub(crate) fn describe_store_error(e: &object_store::Error) -> String {
    use object_store::Error as E;
    let detail = one_line(&with_sources(e));
    const CREDENTIALS: &str = "the server refused the credentials; check storage.access_key_id and storage.secret_access_key";
    const BUCKET: &str = "the bucket does not exist; create it or fix storage.bucket";
    const REFUSED: [&str; 4] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        " 403 ",
    ];
    const SESSION: [&str; 3] = ["ExpiredToken", "InvalidToken", "TokenRefreshRequired"];
    let hint = match e {
        _ if SESSION.iter().any(|m| detail.contains(m)) => Some(
            "the session token expired or belongs to other keys; renew the temporary credentials (storage.session_token or AWS_SESSION_TOKEN, with their keys)",
        ),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Some(CREDENTIALS),
        E::NotFound { .. } => Some(BUCKET),
        _ if detail.contains("NoSuchBucket") => Some(BUCKET),
        _ if REFUSED.iter().any(|m| detail.contains(m)) => Some(CREDENTIALS),
        _ if detail.contains("invalid peer certificate") => Some(
            "the server's TLS certificate is not trusted; if a private CA signed it, set storage.ca_file to that CA's PEM file",
        ),
        _ if detail.contains("onnect") => {
            Some("cannot connect; is the server running at storage.endpoint?")
        }
        _ => None,
    };
    match hint {
        Some(h) => format!("{h} ({detail})"),
        None => detail,
    }
}

/// An error and its chain of causes, e.g. "HTTP error: builder error: <why>".
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Collapses whitespace so multi-line server messages stay on one line, and redacts the
/// credentials of any URL they quote (library errors name the URL they failed on).
pub(crate) fn one_line(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::redact::text(&joined).into_owned()
}
