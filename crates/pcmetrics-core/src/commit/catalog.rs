//! # Catalog wiring and the commit path
//!
//! [`connect`] builds an iceberg-rust catalog (SQL on SQLite for the embedded default, or
//! REST) over the pipeline's object stores; pcmetrics loads and creates tables through it.
//!
//! Snapshots are committed through a [`Committer`] instead, because iceberg-rust 0.10
//! keeps its `TableCommit` constructor crate-private, so only its own fast append could be
//! committed. Each committer uses its catalog's public protocol, exactly as the catalog's
//! own `update_table` does:
//! - **SQL**: write the new metadata JSON (a fresh name), then compare-and-swap the
//!   `metadata_location` row of `iceberg_tables` (the JDBC catalog layout the embedded
//!   default owns);
//! - **REST**: `POST /v1/{prefix}/namespaces/{ns}/tables/{table}` with the
//!   requirements and updates (the Iceberg REST spec's `CommitTableRequest`).
//!
//! Outcomes are classified by type, never by message text: [`CommitFailure::Conflict`]
//! (the requirements failed: reload and rebase), [`CommitFailure::Unknown`] (the
//! catalog may have applied it: reload and look before trying again), and
//! [`CommitFailure::Rejected`] (it will always fail: the caller gives up).
//!
//! A REST catalog's token (fixed, or OAuth2 client credentials renewed before expiry)
//! comes from one [`auth::TokenSource`] that the committer and the table loader share;
//! [`rest`] sends with it and retries once after a 401.

pub mod auth;
pub mod rest;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{
    Catalog, CatalogBuilder, ErrorKind, MetadataLocation, TableIdent, TableRequirement, TableUpdate,
};
use iceberg_catalog_rest::{CommitTableRequest, CommitTableResponse};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use tokio::sync::OnceCell;

use self::auth::TokenSource;
use self::rest::{RestHttp, RestTables, SendError};
use super::CommitError;
use super::storage::ObjectStoreStorageFactory;
use crate::config::{CatalogSettings, Settings};
use crate::error::one_line;
use crate::land::ObjectStores;

/// The name pcmetrics gives its catalog (the SQL catalog's `catalog_name` column).
pub const CATALOG_NAME: &str = "pcmetrics";

/// A catalog to load and create tables, and the committer that goes with it.
pub struct Connected {
    pub catalog: Arc<dyn Catalog>,
    pub committer: Committer,
    pub name: String,
}

/// Builds the catalog client; does not contact a REST catalog yet.
pub async fn connect(
    settings: &Settings,
    stores: Arc<ObjectStores>,
) -> Result<Connected, CommitError> {
    let factory = Arc::new(ObjectStoreStorageFactory::new(stores));
    match &settings.catalog {
        CatalogSettings::Sql { path, warehouse } => {
            let name = format!("SQL catalog {}", path.display());
            if let Some(w) = super::netfs::sql_catalog_warning(path) {
                tracing::warn!("{w}");
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| CommitError::Catalog {
                    catalog: name.clone(),
                    message: format!("cannot create {}: {e}", dir.display()),
                    retryable: false,
                })?;
            }
            let catalog = SqlCatalogBuilder::default()
                .uri(format!("sqlite:{}?mode=rwc", path.display()))
                .warehouse_location(warehouse.clone())
                .sql_bind_style(SqlBindStyle::QMark)
                .with_storage_factory(factory)
                .load(CATALOG_NAME, HashMap::new())
                .await
                .map_err(|e| catalog_error(&name, e))?;
            Ok(Connected {
                catalog: Arc::new(catalog),
                committer: Committer::Sql { path: path.clone() },
                name,
            })
        }
        CatalogSettings::Rest {
            uri,
            warehouse,
            auth,
            headers,
            ca,
        } => {
            let name = format!("REST catalog {}", crate::redact::url(uri));
            let setup_error = |message: String| CommitError::Catalog {
                catalog: name.clone(),
                message,
                retryable: false,
            };
            let tokens = Arc::new(TokenSource::new(
                auth,
                rest::token_client(uri, auth, headers, ca.as_ref()).map_err(setup_error)?,
            ));
            let http = Arc::new(RestHttp {
                client: rest::client(headers, ca.as_ref(), None).map_err(setup_error)?,
                uri: uri.trim_end_matches('/').to_owned(),
                warehouse: warehouse.clone(),
                tokens,
            });
            Ok(Connected {
                catalog: Arc::new(RestTables::new(
                    http.clone(),
                    headers.clone(),
                    ca.clone(),
                    factory,
                )),
                committer: Committer::Rest(Arc::new(RestCommitter {
                    http,
                    prefix: OnceCell::new(),
                })),
                name,
            })
        }
    }
}

/// Why a commit did not apply.
#[derive(Debug)]
pub enum CommitFailure {
    /// A requirement failed (another writer committed first): reload, rebase, retry.
    Conflict,
    /// The catalog may or may not have applied it (5xx, timeout, cut connection).
    Unknown(String),
    /// Nothing was applied: the catalog could not be reached. Try again later.
    Unreachable(String),
    /// It will fail again as it is (bad request, forbidden, a table that is gone).
    Rejected(String),
}

impl CommitFailure {
    /// Whether trying again later, without changes, can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, CommitFailure::Rejected(_))
    }
}

impl std::fmt::Display for CommitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitFailure::Conflict => f.write_str("another writer committed first"),
            CommitFailure::Unknown(m) => write!(f, "commit state unknown: {m}"),
            CommitFailure::Unreachable(m) => write!(f, "{m}"),
            CommitFailure::Rejected(m) => write!(f, "commit rejected: {m}"),
        }
    }
}

/// Sends a snapshot's requirements and updates through the catalog's public protocol.
#[derive(Debug, Clone)]
pub enum Committer {
    Sql { path: PathBuf },
    Rest(Arc<RestCommitter>),
}

impl Committer {
    /// Applies `updates` to `base` if `requirements` still hold; returns the table as
    /// committed.
    pub async fn commit(
        &self,
        ident: &TableIdent,
        base: &Table,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table, CommitFailure> {
        match self {
            Committer::Sql { path } => sql_commit(path, ident, base, requirements, updates).await,
            Committer::Rest(rest) => rest.commit(ident, base, requirements, updates).await,
        }
    }

    /// Whether other processes on other PCs can commit to the same table through this
    /// catalog (false for the SQL catalog file, which lives on this PC).
    pub fn is_shared(&self) -> bool {
        matches!(self, Committer::Rest(_))
    }
}

async fn sql_commit(
    path: &std::path::Path,
    ident: &TableIdent,
    base: &Table,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
) -> Result<Table, CommitFailure> {
    let rejected = |e: iceberg::Error| CommitFailure::Rejected(one_line(&e.to_string()));
    for r in &requirements {
        if r.check(Some(base.metadata())).is_err() {
            return Err(CommitFailure::Conflict);
        }
    }
    let current = base
        .metadata_location()
        .ok_or_else(|| CommitFailure::Rejected("the table has no metadata location".into()))?
        .to_owned();
    let mut builder = base.metadata().clone().into_builder(Some(current.clone()));
    for u in updates {
        builder = u.apply(builder).map_err(rejected)?;
    }
    let metadata = builder.build().map_err(rejected)?.metadata;
    let location = MetadataLocation::from_str(&current)
        .map_err(rejected)?
        .with_next_version()
        .with_new_metadata(&metadata);
    // A fresh file name on every attempt: nothing another commit names is overwritten.
    metadata
        .write_to(base.file_io(), &location)
        .await
        .map_err(|e| CommitFailure::Unreachable(one_line(&e.to_string())))?;
    let new_location = location.to_string();
    let (db, ns, name) = (
        path.to_path_buf(),
        ident.namespace().join("."),
        ident.name().to_owned(),
    );
    let swapped_to = new_location.clone();
    let swapped = tokio::task::spawn_blocking(move || -> rusqlite::Result<usize> {
        let conn = rusqlite::Connection::open(&db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute(
            "UPDATE iceberg_tables SET metadata_location = ?1, previous_metadata_location = ?2
             WHERE catalog_name = ?3 AND table_namespace = ?4 AND table_name = ?5
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
               AND metadata_location = ?2",
            rusqlite::params![swapped_to, current, CATALOG_NAME, ns, name],
        )
    })
    .await
    .map_err(|e| CommitFailure::Unknown(e.to_string()))?
    // A failed UPDATE (busy, I/O) rolled back: nothing was applied.
    .map_err(|e| CommitFailure::Unreachable(one_line(&e.to_string())))?;
    if swapped == 0 {
        return Err(CommitFailure::Conflict);
    }
    table_from(base, metadata, new_location)
}

/// Commits through a REST catalog's `POST .../tables/{table}`.
#[derive(Debug)]
pub struct RestCommitter {
    http: Arc<RestHttp>,
    /// The catalog's path prefix, from `GET /v1/config` (asked once).
    prefix: OnceCell<Option<String>>,
}

#[derive(serde::Deserialize, Default)]
struct CatalogConfig {
    #[serde(default)]
    defaults: HashMap<String, String>,
    #[serde(default)]
    overrides: HashMap<String, String>,
}

/// No token could be had: nothing reached the catalog.
fn token_failure(e: auth::AuthError) -> CommitFailure {
    if e.is_retryable() {
        CommitFailure::Unreachable(e.to_string())
    } else {
        CommitFailure::Rejected(e.to_string())
    }
}

impl RestCommitter {
    async fn prefix(&self) -> Result<Option<String>, CommitFailure> {
        self.prefix
            .get_or_try_init(|| async {
                let resp = match self.http.send(|c| self.http.config_request(c)).await {
                    Ok(r) => r,
                    Err(SendError::Auth(e)) => return Err(token_failure(e)),
                    Err(SendError::Http(e)) => {
                        return Err(CommitFailure::Unreachable(format!("GET /v1/config: {e}")));
                    }
                };
                if !resp.status().is_success() {
                    return Err(CommitFailure::Unreachable(format!(
                        "GET /v1/config answered {}",
                        resp.status()
                    )));
                }
                let config: CatalogConfig = resp.json().await.unwrap_or_default();
                Ok(config
                    .overrides
                    .get("prefix")
                    .or(config.defaults.get("prefix"))
                    .cloned())
            })
            .await
            .cloned()
    }

    async fn commit(
        &self,
        ident: &TableIdent,
        base: &Table,
        requirements: Vec<TableRequirement>,
        updates: Vec<TableUpdate>,
    ) -> Result<Table, CommitFailure> {
        let prefix = self.prefix().await?;
        let url = [self.http.uri.as_str(), "v1"]
            .into_iter()
            .chain(prefix.as_deref())
            .chain([
                "namespaces",
                &ident.namespace().to_url_string(),
                "tables",
                ident.name(),
            ])
            .collect::<Vec<_>>()
            .join("/");
        let body = serde_json::to_vec(&CommitTableRequest {
            identifier: Some(ident.clone()),
            requirements,
            updates,
        })
        .map_err(|e| CommitFailure::Rejected(format!("cannot encode the commit: {e}")))?;
        let post = |c: &reqwest::Client| {
            c.post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        };
        let resp = match self.http.send(post).await {
            Ok(r) => r,
            Err(SendError::Auth(e)) => return Err(token_failure(e)),
            // Connection refused before anything was sent cannot have applied.
            Err(SendError::Http(e)) if e.is_connect() => {
                return Err(CommitFailure::Unreachable(format!(
                    "cannot reach the catalog: {e}; is it running at catalog.uri?"
                )));
            }
            Err(SendError::Http(e)) => {
                return Err(CommitFailure::Unknown(crate::error::with_sources(&e)));
            }
        };
        let status = resp.status();
        if status.is_success() {
            let r: CommitTableResponse = resp
                .json()
                .await
                .map_err(|e| CommitFailure::Unknown(format!("unreadable commit response: {e}")))?;
            return table_from(base, r.metadata, r.metadata_location);
        }
        let text = one_line(&resp.text().await.unwrap_or_default());
        let text: String = text.chars().take(300).collect();
        Err(match status.as_u16() {
            409 => CommitFailure::Conflict,
            500..=599 => CommitFailure::Unknown(format!("{status}: {text}")),
            _ => CommitFailure::Rejected(format!("{status}: {text}")),
        })
    }
}

/// The committed table: `base`'s identity and file IO with the new metadata.
fn table_from(
    base: &Table,
    metadata: TableMetadata,
    location: String,
) -> Result<Table, CommitFailure> {
    Table::builder()
        .identifier(base.identifier().clone())
        .file_io(base.file_io().clone())
        .metadata(metadata)
        .metadata_location(location)
        .runtime(iceberg::Runtime::current())
        .build()
        .map_err(|e| CommitFailure::Unknown(one_line(&e.to_string())))
}

/// A catalog error as the pipeline reports it, with a hint where one helps.
pub fn catalog_error(catalog: &str, e: iceberg::Error) -> CommitError {
    let retryable = e.retryable()
        || matches!(
            e.kind(),
            ErrorKind::Unexpected | ErrorKind::CatalogCommitConflicts
        );
    let message = one_line(&e.to_string());
    let hint = if message.contains("invalid peer certificate") {
        "; the server's TLS certificate is not trusted: if a private CA signed it, set catalog.ca_file to that CA's PEM file"
    } else if message.contains("OAuth2 token endpoint") {
        // The token error says what to check.
        ""
    } else if message.contains("error sending request") || message.contains("onnection refused") {
        "; is the catalog running at catalog.uri?"
    } else if message.contains("unable to open database file") {
        "; check that the data dir is writable"
    } else {
        ""
    };
    CommitError::Catalog {
        catalog: catalog.to_owned(),
        message: format!("{message}{hint}"),
        retryable,
    }
}
