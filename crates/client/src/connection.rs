//! A connection to one org: tokens, the pooled HTTP client of its instance, the API version,
//! the latest API usage and the describe cache; every request goes through [`Connection::send`].
//!
//! `send` adds the bearer token, reads `Sforce-Limit-Info`, and on `401 INVALID_SESSION_ID`
//! refreshes (single flight, see [`crate::token`]) and retries exactly once. It never retries
//! anything else: whether and when to retry a write is the caller's decision, from
//! [`Error::class`]. The typed operations above it try a failed read again within the read
//! budget ([`crate::retry`]).

use std::sync::Arc;
use std::time::Duration;

use callforce_types::ApiVersion;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::auth::{Grant, LoginHost, OAuthApp, OAuthClient, Tokens};
use crate::error::{Error, ErrorBody, RequestInfo, Result, transport_error};
use crate::http::HttpPool;
use crate::limits::{ApiUsage, UsageTracker};
use crate::token::{RefreshCoordinator, RotationHook, TokenManager};

tokio::task_local! {
    /// The requests sent by the task inside [`count_round_trips`].
    static COUNTED: std::cell::Cell<u32>;
}

/// Runs `f` and counts the requests it sends to orgs (every retry and re-send after a token
/// refresh; requests of tasks it spawns are not counted): its output and the count.
pub async fn count_round_trips<F: std::future::Future>(f: F) -> (F::Output, u32) {
    COUNTED
        .scope(std::cell::Cell::new(0), async {
            let out = f.await;
            (out, COUNTED.with(std::cell::Cell::get))
        })
        .await
}

/// How to build a [`Connection`].
#[derive(Clone)]
pub struct ConnectionConfig {
    /// The login host tokens are renewed at.
    pub login_host: LoginHost,
    /// The connected app.
    pub app: OAuthApp,
    /// The REST API version (v59.0 by default).
    pub version: ApiVersion,
    /// The org's session timeout when known: the token is refreshed before use once it has
    /// passed (otherwise only on `401 INVALID_SESSION_ID`).
    pub session_lifetime: Option<Duration>,
    /// How long a describe stays cached.
    pub describe_ttl: Duration,
    /// The mid-call budget a read fits in, retries included: a read that fails with a retryable
    /// error is tried again only while the retry can finish within it (see [`crate::retry`]).
    /// Zero: reads are never retried.
    pub read_budget: Duration,
    /// Stores a rotated refresh token before it is used.
    pub on_rotate: Option<RotationHook>,
    /// Serialises refreshes with other processes holding the same connection (see
    /// [`crate::token`]); `None` when this process is the only one.
    pub coordinator: Option<Arc<dyn RefreshCoordinator>>,
    /// The HTTP pool (the process-wide one when `None`).
    pub pool: Option<Arc<HttpPool>>,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("login_host", &self.login_host)
            .field("app", &self.app)
            .field("version", &self.version)
            .field("session_lifetime", &self.session_lifetime)
            .field("describe_ttl", &self.describe_ttl)
            .field("read_budget", &self.read_budget)
            .field("on_rotate", &self.on_rotate.as_ref().map(|_| "hook"))
            .field(
                "coordinator",
                &self.coordinator.as_ref().map(|_| "coordinator"),
            )
            .finish()
    }
}

impl ConnectionConfig {
    /// A configuration with the defaults: v59.0, no known session lifetime, describe cached for
    /// 15 minutes, reads retried within 1.5 s, no rotation hook, no refresh coordinator, the
    /// shared pool.
    pub fn new(login_host: LoginHost, app: OAuthApp) -> Self {
        Self {
            login_host,
            app,
            version: ApiVersion::DEFAULT,
            session_lifetime: None,
            describe_ttl: Duration::from_secs(15 * 60),
            read_budget: crate::retry::DEFAULT_READ_BUDGET,
            on_rotate: None,
            coordinator: None,
            pool: None,
        }
    }
}

/// A version the org supports, from `GET /services/data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The release name (`Winter '24`).
    pub label: String,
    /// The version's base path (`/services/data/v59.0`).
    pub url: String,
    /// The number (`59.0`).
    pub version: String,
}

/// An HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
        }
    }

    fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Patch => reqwest::Method::PATCH,
            Self::Put => reqwest::Method::PUT,
            Self::Delete => reqwest::Method::DELETE,
            Self::Head => reqwest::Method::HEAD,
        }
    }
}

/// One HTTP request, ready to send: path (absolute, from the instance root), query, extra
/// headers and a JSON body already serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The path from the instance root (`/services/data/v59.0/sobjects/Account`).
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Extra headers (never `Authorization`).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Option<Vec<u8>>,
}

/// An answer with a success status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The body (empty for 204).
    pub body: Vec<u8>,
    /// The `Last-Modified` header, when the answer carried one (describes do).
    pub last_modified: Option<String>,
    /// The request it answers.
    pub request: RequestInfo,
}

impl RawResponse {
    /// The body as JSON; `Value::Null` when empty.
    ///
    /// # Errors
    /// [`Error::Decode`] when the body is not JSON (truncated, HTML...).
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        self.parse()
    }

    /// The body parsed as `T`.
    ///
    /// # Errors
    /// [`Error::Decode`] when it does not parse.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            status: self.status,
            message: e.to_string(),
            request: self.request.clone(),
        })
    }
}

pub(crate) struct Inner {
    pub(crate) pool: Arc<HttpPool>,
    pub(crate) version: ApiVersion,
    pub(crate) tokens: TokenManager,
    pub(crate) usage: UsageTracker,
    pub(crate) describe: crate::describe::DescribeCache,
    /// See [`ConnectionConfig::read_budget`].
    pub(crate) read_budget: Duration,
    /// Requests sent to the org's REST API (retries and re-sends after a refresh included).
    pub(crate) round_trips: std::sync::atomic::AtomicU64,
}

/// A connection to one org; cheap to clone, shared by every request to that org.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("version", &self.inner.version)
            .field("tokens", &self.inner.tokens)
            .finish()
    }
}

impl Connection {
    /// A connection from tokens already obtained (the web-server flow, or stored ones), renewed
    /// with `grant` (a refresh token in `tokens` is used when `grant` is [`Grant::None`]).
    ///
    /// # Errors
    /// [`Error::Setup`] when the login host or instance URL is not a URL.
    pub fn new(config: ConnectionConfig, tokens: Tokens, grant: Grant) -> Result<Self> {
        let pool = config.pool.clone().unwrap_or_else(HttpPool::shared);
        pool.client_for(&tokens.instance_url)?;
        let oauth = OAuthClient::new(config.login_host.clone(), config.app.clone(), &pool)?;
        let mut tokens = TokenManager::new(
            oauth,
            tokens,
            grant,
            config.on_rotate.clone(),
            config.session_lifetime,
        );
        if let Some(c) = &config.coordinator {
            tokens = tokens.with_coordinator(c.clone());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                version: config.version,
                tokens,
                usage: UsageTracker::default(),
                describe: crate::describe::DescribeCache::new(config.describe_ttl),
                read_budget: config.read_budget,
                round_trips: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Logs in with `grant` (JWT bearer, client credentials, password, or a stored refresh
    /// token) and returns the connection, renewing with the same grant later.
    ///
    /// # Errors
    /// The grant's [`Error::OAuth`] or transport error.
    pub async fn login(config: ConnectionConfig, grant: Grant) -> Result<Self> {
        let pool = config.pool.clone().unwrap_or_else(HttpPool::shared);
        let oauth = OAuthClient::new(config.login_host.clone(), config.app.clone(), &pool)?;
        let tokens = oauth.grant(&grant).await?;
        let grant = match (&grant, &tokens.refresh_token) {
            (Grant::RefreshToken(_), Some(new)) => Grant::RefreshToken(new.clone()),
            _ => grant,
        };
        Self::new(config, tokens, grant)
    }

    /// The API version requests use.
    pub fn version(&self) -> ApiVersion {
        self.inner.version
    }

    /// The instance URL (`https://acme.my.salesforce.com`).
    pub fn instance_url(&self) -> String {
        // NB: read through the token manager: a refresh may move the instance.
        self.inner.tokens.instance_url().to_string()
    }

    /// The token manager (current token, re-authorisation state, [`TokenManager::set_tokens`]).
    pub fn tokens(&self) -> &TokenManager {
        &self.inner.tokens
    }

    /// The org's latest API usage, from the last response that carried `Sforce-Limit-Info`.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.inner.usage.latest()
    }

    /// How many requests this connection has sent to the org's REST API (every retry and every
    /// re-send after a token refresh counts; OAuth token requests do not).
    pub fn round_trips(&self) -> u64 {
        self.inner
            .round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `/services/data/vXX.X`.
    pub fn base_path(&self) -> String {
        format!("/services/data/{}", self.inner.version)
    }

    /// Opens the pooled connection to the instance (TCP and TLS handshakes) before the first
    /// real request, with `GET /services/data` (unauthenticated; not counted against the API
    /// allowance).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn warm(&self) -> Result<()> {
        self.versions().await.map(|_| ())
    }

    /// The API versions the org supports (`GET /services/data`).
    ///
    /// # Errors
    /// Transport or decode errors.
    pub async fn versions(&self) -> Result<Vec<VersionInfo>> {
        let path = "/services/data";
        let request = RequestInfo::new("GET", path);
        let base = self.instance_url();
        let http = self.inner.pool.client_for(&base)?;
        let resp = http
            .get(format!("{base}{path}"))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(request.clone(), e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(request.clone(), e))?;
        if !(200..300).contains(&status) {
            return Err(Error::Api {
                status,
                body: ErrorBody::parse(status, &body),
                request,
            });
        }
        RawResponse {
            status,
            body: body.to_vec(),
            last_modified: None,
            request,
        }
        .parse()
    }

    /// Sends one request with the current token; on `401 INVALID_SESSION_ID` refreshes the token
    /// (once per connection however many requests meet it) and sends it again, once.
    ///
    /// # Errors
    /// [`Error::Api`] for a status of 300 or more (with the parsed body), [`Error::Transport`]
    /// when no answer came, [`Error::NeedsReauthorization`] when the token cannot be renewed.
    pub async fn send(&self, req: &HttpRequest) -> Result<RawResponse> {
        let request = RequestInfo::new(req.method.as_str(), &req.path);
        let mut current = self.inner.tokens.current().await?;
        let mut refreshed = false;
        loop {
            let url = format!("{}{}", current.instance_url, req.path);
            let http = self.inner.pool.client_for(&url)?;
            let mut b = http
                .request(req.method.to_reqwest(), url)
                .bearer_auth(current.access_token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
            if !req.query.is_empty() {
                b = b.query(&req.query);
            }
            for (k, v) in &req.headers {
                b = b.header(k.as_str(), v.as_str());
            }
            if let Some(body) = &req.body {
                b = b
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            self.inner
                .round_trips
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = COUNTED.try_with(|n| n.set(n.get().saturating_add(1)));
            let resp = b
                .send()
                .await
                .map_err(|e| transport_error(request.clone(), e))?;
            let status = resp.status().as_u16();
            if let Some(v) = resp
                .headers()
                .get(crate::limits::HEADER)
                .and_then(|v| v.to_str().ok())
            {
                self.inner.usage.observe(v);
            }
            let last_modified = resp
                .headers()
                .get(reqwest::header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport_error(request.clone(), e))?;
            if (200..300).contains(&status) {
                return Ok(RawResponse {
                    status,
                    body: bytes.to_vec(),
                    last_modified,
                    request,
                });
            }
            let body = ErrorBody::parse(status, &bytes);
            if status == 401 && !refreshed && refreshable(&body) {
                tracing::debug!(%request, "session refused; refreshing");
                current = self.inner.tokens.refresh(current.generation).await?;
                refreshed = true;
                continue;
            }
            return Err(Error::Api {
                status,
                body,
                request,
            });
        }
    }
}

/// Whether a 401 means "the session expired" (refresh) rather than "this token may not use
/// the REST API" (a scope problem a refresh would not fix).
fn refreshable(body: &ErrorBody) -> bool {
    match body {
        ErrorBody::Api(v) => v.first().is_none_or(|e| {
            e.error_code == "INVALID_SESSION_ID"
                && !e.message.contains("not valid for use with the REST API")
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Class;

    /// A request the HTTP stack refuses to build was never sent: a permanent invalid request,
    /// not a lost connection (which a write would read as "maybe applied" and queue).
    #[tokio::test]
    async fn a_request_that_cannot_be_built_is_invalid_not_a_transport_failure() {
        let http = reqwest::Client::new();
        // Refused before any connection is opened (port 9 is never reached).
        let sent = [
            http.post("http://127.0.0.1:9/x").header("X-A", "a\r\nb"),
            http.post("http://127.0.0.1:9/x").header("", "a"),
            http.get(format!("http://127.0.0.1:9/{}", "a".repeat(70_000))),
        ];
        for b in sent {
            let e = b.send().await.expect_err("refused by the builder");
            assert!(e.is_builder(), "{e}");
            let e = transport_error(RequestInfo::new("POST", "/x"), e);
            assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
            assert_eq!(e.class(), Class::Permanent);
        }
    }
}
