//! # The REST catalog over HTTP: one client setup, the current token, one retry on 401
//!
//! Every request to a REST catalog goes through a client built by [`client`]: timeouts,
//! `catalog.ca_file` and `catalog.headers` (values marked sensitive, so reqwest never
//! shows them). Two users send requests, with tokens from one shared [`TokenSource`]:
//! - the committer, through [`RestHttp::send`]: it adds the current bearer token and,
//!   when the catalog answers 401, fetches a new token and sends once more (the catalog
//!   applied nothing it answered 401 to, so resending is safe even for a commit);
//! - iceberg-rust's `RestCatalog` (namespaces, loading and creating tables), through
//!   [`RestTables`]. It is handed a client whose default `Authorization` header carries
//!   the current token, and is rebuilt when the token changes. It never gets the token
//!   or the credential as properties: it would keep an exchanged token forever, and it
//!   copies its properties into every loaded table's FileIO config, which `Debug`
//!   prints. Its errors carry the HTTP status only as text, so after an error
//!   [`RestHttp::rejects`] asks the catalog itself (`GET /v1/config` with the same token)
//!   whether the token is refused: a status code decides the retry, never a message.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use iceberg::io::StorageFactory;
use iceberg::table::Table;
use iceberg::{
    Catalog, CatalogBuilder, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit,
    TableCreation, TableIdent,
};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Mutex;

use super::auth::{AuthError, Bearer, TokenSource};
use crate::config::{CaFile, RestAuth, Secret};

/// A client for catalog requests: timeouts, CA certificates, `headers`, and `bearer` as
/// the default `Authorization` header when given.
pub fn client(
    headers: &[(String, Secret)],
    ca: Option<&CaFile>,
    bearer: Option<&Bearer>,
) -> std::result::Result<reqwest::Client, String> {
    builder(headers, ca, bearer)?.build().map_err(|e| {
        format!(
            "cannot build the HTTP client: {}",
            crate::error::with_sources(&e)
        )
    })
}

fn builder(
    headers: &[(String, Secret)],
    ca: Option<&CaFile>,
    bearer: Option<&Bearer>,
) -> std::result::Result<reqwest::ClientBuilder, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("catalog.headers: {name:?} is not a header name"))?;
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| format!("catalog.headers.{name}: not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    if let Some(b) = bearer {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", b.expose()))
            .map_err(|_| "the catalog token is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .default_headers(map);
    if let Some(ca) = ca {
        for cert in ca.reqwest_certs()? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// The client for the OAuth2 token endpoint. It follows no redirects (the form carries
/// the client secret), and sends `catalog.headers` only to the catalog's own origin: an
/// identity provider elsewhere gets the credential, not the catalog's API keys.
pub fn token_client(
    catalog_uri: &str,
    auth: &RestAuth,
    headers: &[(String, Secret)],
    ca: Option<&CaFile>,
) -> std::result::Result<reqwest::Client, String> {
    let same_origin = match auth {
        RestAuth::OAuth2(o) => matches!(
            (reqwest::Url::parse(catalog_uri), reqwest::Url::parse(&o.server_uri)),
            (Ok(a), Ok(b)) if a.origin() == b.origin()
        ),
        _ => false,
    };
    let headers = if same_origin { headers } else { &[] };
    builder(headers, ca, None)?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            format!(
                "cannot build the HTTP client: {}",
                crate::error::with_sources(&e)
            )
        })
}

/// Why a request was not answered.
#[derive(Debug)]
pub enum SendError {
    /// No token: nothing was sent to the catalog.
    Auth(AuthError),
    Http(reqwest::Error),
}

/// The catalog's address, its client and the token source.
#[derive(Debug)]
pub struct RestHttp {
    /// `catalog.headers` and CA certificates, no token: [`Self::send`] adds it.
    pub client: reqwest::Client,
    pub uri: String,
    pub warehouse: Option<String>,
    pub tokens: Arc<TokenSource>,
}

impl RestHttp {
    /// Sends the request `build` makes, with the current token; after a 401, once more
    /// with a new token.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> std::result::Result<reqwest::Response, SendError> {
        let bearer = self.tokens.bearer().await.map_err(SendError::Auth)?;
        let resp = self.send_with(&build, bearer.as_ref()).await?;
        match bearer {
            Some(rejected)
                if resp.status() == StatusCode::UNAUTHORIZED
                    && self.tokens.invalidate(&rejected).await =>
            {
                tracing::info!("the catalog refused its token (401); retrying with a new one");
                let bearer = self.tokens.bearer().await.map_err(SendError::Auth)?;
                self.send_with(&build, bearer.as_ref()).await
            }
            _ => Ok(resp),
        }
    }

    async fn send_with(
        &self,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        bearer: Option<&Bearer>,
    ) -> std::result::Result<reqwest::Response, SendError> {
        let request = build(&self.client);
        let request = match bearer {
            // bearer_auth marks the header sensitive.
            Some(b) => request.bearer_auth(b.expose()),
            None => request,
        };
        request.send().await.map_err(SendError::Http)
    }

    /// `GET /v1/config`, the catalog's first request.
    pub fn config_request(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let r = client.get(format!("{}/v1/config", self.uri));
        match &self.warehouse {
            Some(w) => r.query(&[("warehouse", w)]),
            None => r,
        }
    }

    /// Whether the catalog refuses `bearer`: 401 to `GET /v1/config` sent with it.
    pub async fn rejects(&self, bearer: &Bearer) -> bool {
        matches!(
            self.config_request(&self.client)
                .bearer_auth(bearer.expose())
                .send()
                .await,
            Ok(r) if r.status() == StatusCode::UNAUTHORIZED
        )
    }
}

/// A token error as iceberg-rust reports catalog errors.
fn auth_error(e: AuthError) -> iceberg::Error {
    let kind = if e.is_retryable() {
        ErrorKind::Unexpected
    } else {
        ErrorKind::DataInvalid
    };
    iceberg::Error::new(kind, e.to_string()).with_retryable(e.is_retryable())
}

/// iceberg-rust's `RestCatalog`, rebuilt with each new token (see the module docs).
pub struct RestTables {
    http: Arc<RestHttp>,
    /// `uri` and `warehouse` only: no credentials.
    props: HashMap<String, String>,
    headers: Vec<(String, Secret)>,
    ca: Option<CaFile>,
    factory: Arc<dyn StorageFactory>,
    /// The catalog built for a token generation (`None`: no token).
    current: Mutex<Option<(Option<u64>, Arc<RestCatalog>)>>,
}

impl std::fmt::Debug for RestTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestTables")
            .field("uri", &crate::redact::url(&self.http.uri))
            .finish_non_exhaustive()
    }
}

impl RestTables {
    pub fn new(
        http: Arc<RestHttp>,
        headers: Vec<(String, Secret)>,
        ca: Option<CaFile>,
        factory: Arc<dyn StorageFactory>,
    ) -> Self {
        let mut props = HashMap::from([("uri".to_owned(), http.uri.clone())]);
        if let Some(w) = &http.warehouse {
            props.insert("warehouse".into(), w.clone());
        }
        Self {
            http,
            props,
            headers,
            ca,
            factory,
            current: Mutex::new(None),
        }
    }

    /// The catalog for the current token, and that token.
    async fn current(&self) -> Result<(Option<Bearer>, Arc<RestCatalog>)> {
        let bearer = self.http.tokens.bearer().await.map_err(auth_error)?;
        let generation = bearer.as_ref().map(Bearer::generation);
        let mut current = self.current.lock().await;
        if let Some((g, catalog)) = current.as_ref()
            && *g == generation
        {
            return Ok((bearer, catalog.clone()));
        }
        let client = client(&self.headers, self.ca.as_ref(), bearer.as_ref())
            .map_err(|m| iceberg::Error::new(ErrorKind::DataInvalid, m))?;
        let catalog = Arc::new(
            RestCatalogBuilder::default()
                .with_client(client)
                .with_storage_factory(self.factory.clone())
                .load(super::CATALOG_NAME, self.props.clone())
                .await?,
        );
        *current = Some((generation, catalog.clone()));
        Ok((bearer, catalog))
    }

    /// Whether `result` failed because the catalog refuses `bearer`; if so the token is
    /// dropped and a retry gets a new one.
    async fn refused<T>(&self, result: &Result<T>, bearer: Option<&Bearer>) -> bool {
        // iceberg-catalog-rest reports an unexpected status (401 included) as Unexpected.
        let (Err(e), Some(bearer)) = (result, bearer) else {
            return false;
        };
        e.kind() == ErrorKind::Unexpected
            && self.http.rejects(bearer).await
            && self.http.tokens.invalidate(bearer).await
    }

    /// Runs `op` on the current catalog; when the catalog refused the token, once more
    /// with a new one.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Arc<RestCatalog>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let (bearer, catalog) = self.current().await?;
        let result = op(catalog).await;
        if !self.refused(&result, bearer.as_ref()).await {
            return result;
        }
        tracing::info!("the catalog refused its token (401); retrying with a new one");
        let (_, catalog) = self.current().await?;
        op(catalog).await
    }
}

/// `TableCreation` is not `Clone`; a retry needs a second one.
fn copy_creation(c: &TableCreation) -> TableCreation {
    TableCreation {
        name: c.name.clone(),
        location: c.location.clone(),
        schema: c.schema.clone(),
        partition_spec: c.partition_spec.clone(),
        sort_order: c.sort_order.clone(),
        properties: c.properties.clone(),
        format_version: c.format_version,
    }
}

#[async_trait]
impl Catalog for RestTables {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.call(|c| async move { c.list_namespaces(parent).await })
            .await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let properties = &properties;
        self.call(|c| async move { c.create_namespace(namespace, properties.clone()).await })
            .await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.call(|c| async move { c.get_namespace(namespace).await })
            .await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.call(|c| async move { c.namespace_exists(namespace).await })
            .await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        let properties = &properties;
        self.call(|c| async move { c.update_namespace(namespace, properties.clone()).await })
            .await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.call(|c| async move { c.drop_namespace(namespace).await })
            .await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.call(|c| async move { c.list_tables(namespace).await })
            .await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        let creation = &creation;
        self.call(|c| async move { c.create_table(namespace, copy_creation(creation)).await })
            .await
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.call(|c| async move { c.load_table(table).await })
            .await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.call(|c| async move { c.drop_table(table).await })
            .await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.call(|c| async move { c.purge_table(table).await })
            .await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.call(|c| async move { c.table_exists(table).await })
            .await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.call(|c| async move { c.rename_table(src, dest).await })
            .await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        let location = &metadata_location;
        self.call(|c| async move { c.register_table(table, location.clone()).await })
            .await
    }

    /// Not retried: a `TableCommit` cannot be rebuilt outside iceberg-rust. After a 401
    /// the token is dropped, so the caller's next attempt has a new one. (pcmetrics
    /// commits through [`super::Committer`], which retries.)
    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let (bearer, catalog) = self.current().await?;
        let result = catalog.update_table(commit).await;
        self.refused(&result, bearer.as_ref()).await;
        result
    }
}
