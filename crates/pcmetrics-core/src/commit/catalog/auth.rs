//! # REST catalog authentication: one token source for every request
//!
//! A REST catalog takes a bearer token: a fixed one (`catalog.token`), or one obtained
//! with the OAuth2 client-credentials grant from `catalog.credential` (the Iceberg REST
//! spec's `POST <uri>/v1/oauth/tokens`, or an identity provider's token endpoint).
//! [`TokenSource`] owns it:
//! - it fetches a token on first use and keeps it with its lifetime (`expires_in`);
//! - it renews the token *before* it expires, once less than max(60 s, 10 %) of its
//!   lifetime is left (but never in the first half of it, so a short-lived token is still
//!   reused), so no request of a long sync or of `pcmetrics run` meets an expired token.
//!   If renewing fails while the old token is still valid, the old one is used;
//! - a caller that gets a 401 [`invalidate`](TokenSource::invalidate)s the token it sent
//!   (revoked on the server, or the server's clock disagrees); the next
//!   [`bearer`](TokenSource::bearer) fetches a new one, and the caller retries once.
//!
//! The committer and the iceberg-rust `RestCatalog` share one source (see
//! [`super::rest`]). iceberg-catalog-rest 0.10 can do the exchange itself, but it keeps
//! the first token forever (no expiry, no renewal), so it is never given the credential.
//!
//! Secrets stay inside: the client secret and tokens are [`Secret`]s; errors name the
//! endpoint (URL credentials redacted) and the server's OAuth2 error code, never a
//! request or a response body that could hold them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{OAuth2Settings, RestAuth, Secret};

/// A bearer token, numbered so that a 401 invalidates exactly the token that got it.
#[derive(Clone)]
pub struct Bearer {
    token: Secret,
    generation: u64,
}

impl Bearer {
    /// The clear token, for an `Authorization` header. Never log it.
    pub fn expose(&self) -> &str {
        self.token.expose()
    }

    /// Which token this is: every fetch gives a new number.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bearer({}, #{})", Secret::REDACTED, self.generation)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot reach the OAuth2 token endpoint {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    /// The endpoint answered with an error: the message says which key to check.
    #[error("the OAuth2 token endpoint {endpoint} refused the token request: {message}")]
    Refused {
        endpoint: String,
        message: String,
        retryable: bool,
    },
}

impl AuthError {
    /// A server error or an unreachable endpoint may pass; a refused credential will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            AuthError::Unreachable { .. } => true,
            AuthError::Refused { retryable, .. } => *retryable,
        }
    }
}

/// Where bearer tokens come from (see the module docs).
#[derive(Debug)]
pub struct TokenSource {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    None,
    Fixed(Bearer),
    OAuth2(Exchange),
}

struct Exchange {
    /// A client for the token endpoint: no redirects (the form carries the secret), and
    /// `catalog.headers` only when the endpoint is the catalog's own.
    client: reqwest::Client,
    settings: OAuth2Settings,
    /// Held across a fetch, so concurrent requests wait for one exchange.
    cached: Mutex<Option<Cached>>,
    fetched: AtomicU64,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("endpoint", &crate::redact::url(&self.settings.server_uri))
            .finish_non_exhaustive()
    }
}

struct Cached {
    bearer: Bearer,
    /// `None`: the server gave no lifetime; the token is kept until a 401.
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
}

/// How long after it was asked for a token of `lifetime` is renewed: once less than
/// max(60 s, 10 %) of the lifetime is left, but not in its first half.
pub fn renew_after(lifetime: Duration) -> Duration {
    let margin = Duration::from_secs(60).max(lifetime / 10).min(lifetime / 2);
    lifetime - margin
}

/// The token endpoint's answer (RFC 6749 §5.1). `access_token` is a [`Secret`] from the
/// moment it is parsed.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// An error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    /// The source for `auth`; `client` is used for the token endpoint only.
    pub fn new(auth: &RestAuth, client: reqwest::Client) -> Self {
        let kind = match auth {
            RestAuth::None => Kind::None,
            RestAuth::Token(t) => Kind::Fixed(Bearer {
                token: t.clone(),
                generation: 0,
            }),
            RestAuth::OAuth2(settings) => Kind::OAuth2(Exchange {
                client,
                settings: settings.clone(),
                cached: Mutex::new(None),
                fetched: AtomicU64::new(0),
            }),
        };
        Self { kind }
    }

    /// The token to send now, fetched or renewed first when needed; `None` when the
    /// catalog takes no token.
    pub async fn bearer(&self) -> Result<Option<Bearer>, AuthError> {
        match &self.kind {
            Kind::None => Ok(None),
            Kind::Fixed(b) => Ok(Some(b.clone())),
            Kind::OAuth2(x) => x.bearer().await.map(Some),
        }
    }

    /// The catalog answered 401 to `rejected`. Returns whether a retry can send another
    /// token: true with a credential (the next [`Self::bearer`] fetches a new one, or
    /// returns the one a concurrent request already fetched), false for a fixed token.
    pub async fn invalidate(&self, rejected: &Bearer) -> bool {
        let Kind::OAuth2(x) = &self.kind else {
            return false;
        };
        let mut cached = x.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.bearer.generation == rejected.generation)
        {
            *cached = None;
        }
        true
    }
}

impl Exchange {
    async fn bearer(&self) -> Result<Bearer, AuthError> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(c) = cached.as_ref()
            && c.renew_at.is_none_or(|t| now < t)
        {
            return Ok(c.bearer.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                let bearer = fresh.bearer.clone();
                *cached = Some(fresh);
                Ok(bearer)
            }
            // Renewing early failed, but the token has time left: use it, try again on
            // the next request.
            Err(e) => match cached.as_ref() {
                Some(c) if c.expires_at.is_some_and(|t| now < t) => {
                    tracing::warn!(
                        "cannot renew the catalog token yet, using the current one: {e}"
                    );
                    Ok(c.bearer.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// One client-credentials exchange.
    async fn fetch(&self) -> Result<Cached, AuthError> {
        let s = &self.settings;
        let endpoint = crate::redact::url(&s.server_uri).into_owned();
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("scope", s.scope.as_str()),
        ];
        if let Some(id) = &s.client_id {
            form.push(("client_id", id.expose()));
        }
        form.push(("client_secret", s.client_secret.expose()));
        let asked = Instant::now();
        let resp = self
            .client
            .post(&s.server_uri)
            .form(&form)
            .send()
            .await
            .map_err(|e| AuthError::Unreachable {
                endpoint: endpoint.clone(),
                message: self.scrub(&crate::error::with_sources(&e)),
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let described = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| match e.error_description {
                    Some(d) if !d.is_empty() => format!("{} ({})", e.error, d),
                    _ => e.error,
                })
                .ok();
            let code = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| e.error)
                .unwrap_or_default();
            let hint = match (status.as_u16(), code.as_str()) {
                (_, "invalid_scope") => "check catalog.scope",
                (_, "invalid_client" | "unauthorized_client" | "invalid_grant")
                | (401 | 403, _) => "check catalog.credential (\"client_id:client_secret\")",
                (404 | 405, _) => {
                    "check catalog.oauth2_server_uri: this catalog may take tokens from an identity provider instead of <catalog.uri>/v1/oauth/tokens"
                }
                _ => "check catalog.credential, catalog.scope and catalog.oauth2_server_uri",
            };
            let said: String = described
                .map(|d| format!(" {}", self.scrub(&crate::error::one_line(&d))))
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(AuthError::Refused {
                endpoint,
                message: format!("{status}{said}; {hint}"),
                retryable: status.is_server_error() || status.as_u16() == 429,
            });
        }
        // The body holds the token: it is never quoted, not even when it does not parse.
        let body = resp.bytes().await.map_err(|e| AuthError::Unreachable {
            endpoint: endpoint.clone(),
            message: self.scrub(&crate::error::with_sources(&e)),
        })?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| AuthError::Refused {
                endpoint: endpoint.clone(),
                message: format!(
                    "{status} without an access_token in a JSON object (body not shown); check catalog.oauth2_server_uri"
                ),
                retryable: false,
            })?;
        if parsed.access_token.expose().is_empty() {
            return Err(AuthError::Refused {
                endpoint,
                message: format!("{status} with an empty access_token"),
                retryable: false,
            });
        }
        let lifetime = parsed
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
        let generation = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            endpoint = %endpoint,
            generation,
            lifetime = ?lifetime,
            "fetched a catalog token"
        );
        Ok(Cached {
            bearer: Bearer {
                token: parsed.access_token,
                generation,
            },
            renew_at: lifetime.map(|l| asked + renew_after(l)),
            expires_at: lifetime.map(|l| asked + l),
        })
    }

    /// `text` with the client id and secret taken out, should a server or a library
    /// quote them.
    fn scrub(&self, text: &str) -> String {
        let mut out = crate::redact::text(text).into_owned();
        let s = &self.settings;
        for secret in [Some(&s.client_secret), s.client_id.as_ref()]
            .into_iter()
            .flatten()
        {
            if !secret.expose().is_empty() {
                out = out.replace(secret.expose(), Secret::REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_ahead_of_expiry_but_not_at_once() {
        let s = Duration::from_secs;
        // Long tokens: 10 % before expiry.
        assert_eq!(renew_after(s(3600)), s(3240));
        // Five minutes: a minute before.
        assert_eq!(renew_after(s(300)), s(240));
        // Short tokens: half-way, not on every request.
        assert_eq!(renew_after(s(60)), s(30));
        assert_eq!(renew_after(s(3)), Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn a_fixed_token_is_not_invalidated_and_none_sends_nothing() {
        let client = reqwest::Client::new();
        let fixed = TokenSource::new(&RestAuth::Token(Secret::new("t")), client.clone());
        let b = fixed.bearer().await.unwrap().unwrap();
        assert_eq!(b.expose(), "t");
        assert!(!fixed.invalidate(&b).await);
        assert!(!format!("{b:?} {fixed:?}").contains("\"t\""));
        let none = TokenSource::new(&RestAuth::None, client);
        assert!(none.bearer().await.unwrap().is_none());
    }

    /// A token endpoint on a loopback port that answers each connection with the next of
    /// `answers` (status, body), counting requests.
    fn endpoint(answers: Vec<(u16, String)>) -> (String, std::sync::Arc<AtomicU64>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/oauth/tokens", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, count)
    }

    fn oauth(url: &str) -> TokenSource {
        TokenSource::new(
            &RestAuth::OAuth2(OAuth2Settings {
                server_uri: url.to_owned(),
                client_id: Some(Secret::new("planted-id")),
                client_secret: Secret::new("planted-secret-77"),
                scope: "catalog".into(),
            }),
            reqwest::Client::new(),
        )
    }

    #[tokio::test]
    async fn fetches_once_renews_after_invalidation_and_never_shows_the_token() {
        let (url, count) = endpoint(vec![
            (
                200,
                r#"{"access_token":"tok-one","token_type":"bearer","expires_in":3600}"#.into(),
            ),
            (
                200,
                r#"{"access_token":"tok-two","token_type":"bearer","expires_in":"3600"}"#.into(),
            ),
        ]);
        let source = oauth(&url);
        let first = source.bearer().await.unwrap().unwrap();
        assert_eq!(first.expose(), "tok-one");
        // Cached: no second request.
        assert_eq!(source.bearer().await.unwrap().unwrap().generation(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(source.invalidate(&first).await);
        let second = source.bearer().await.unwrap().unwrap();
        assert_eq!((second.expose(), second.generation()), ("tok-two", 2));
        // A late 401 for the first token does not drop the second.
        assert!(source.invalidate(&first).await);
        assert_eq!(source.bearer().await.unwrap().unwrap().generation(), 2);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        let shown = format!("{first:?} {second:?} {source:?}");
        for s in ["tok-one", "tok-two", "planted-secret-77", "planted-id"] {
            assert!(!shown.contains(s), "{shown}");
        }
    }

    #[tokio::test]
    async fn a_refused_credential_names_the_key_and_never_the_secret() {
        let (url, _) = endpoint(vec![
            (
                401,
                r#"{"error":"invalid_client","error_description":"bad secret planted-secret-77"}"#
                    .into(),
            ),
            (200, r#"{"token":"planted-secret-77"}"#.into()),
        ]);
        let source = oauth(&url);
        let e = source.bearer().await.unwrap_err();
        let shown = e.to_string();
        assert!(!e.is_retryable());
        assert!(shown.contains("401"), "{shown}");
        assert!(shown.contains("invalid_client"), "{shown}");
        assert!(shown.contains("check catalog.credential"), "{shown}");
        assert!(!shown.contains("planted-secret-77"), "{shown}");
        // A 200 without a token: the body is not quoted.
        let shown = source.bearer().await.unwrap_err().to_string();
        assert!(shown.contains("without an access_token"), "{shown}");
        assert!(!shown.contains("planted-secret-77"), "{shown}");
    }
}
