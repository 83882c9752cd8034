//! The dev org: a Salesforce-compatible REST org on localhost.
//!
//! It serves what real clients (simple-salesforce, jsforce, callforce's own client) expect from
//! an org: records, SOQL and SOSL, composite requests, describe, limits, and the OAuth endpoints
//! with a login page, plus fault and latency injection for tests. It never depends on callforce's
//! client: the two are independent implementations of one protocol and keep each other honest.
//!
//! Modules:
//! - [`schema`]: objects and fields (standard ones in code, custom ones from a schema file).
//! - [`store`]: records in memory with indexes, all-or-nothing transactions, an optional journal.
//! - [`rest`]: the `/services/data` routes.
//! - [`oauth`]: the `/services/oauth2` routes, connected apps, users and sessions.
//! - [`faults`]: latency and injected failures, set by flags or at run time under `/devorg/`.
//! - [`tls`]: the local CA and server certificate for `--tls`.
//! - [`limits`]: the daily API allowance, `Sforce-Limit-Info` and `/limits`.
//! - [`alter`]: schema changes at run time (a field deleted or made read-only) and when each
//!   object's describe last changed (`Last-Modified`, `If-Modified-Since`).
//!
//! The design decision to know: every request sees the org through one [`DevOrg`] handle, and
//! writes take the store's write lock for the whole request, so an all-or-none request that
//! fails is undone before any reader can see a partial result.

pub mod alter;
pub mod config;
pub mod error;
pub mod faults;
pub mod limits;
pub mod oauth;
pub mod query;
pub mod rest;
pub mod schema;
pub mod store;
pub mod synthetic;
pub mod tls;
pub mod value;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use callforce_types::{Id, KeyPrefix};
pub use config::{Config, Seed};
pub use error::{ApiError, Error, Result};

/// A handle on one dev org; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct DevOrg {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Swapped whole by [`DevOrg::alter_field`]; readers take a snapshot.
    schema: parking_lot::RwLock<Arc<schema::Schema>>,
    changes: alter::Changes,
    store: store::Store,
    oauth: oauth::OAuth,
    faults: faults::Faults,
    limits: limits::Limits,
    cursors: query::cursor::Cursors,
    instance_url: OnceLock<String>,
}

impl DevOrg {
    /// Builds an org from its configuration: loads the schema, the stored or demo records.
    ///
    /// # Errors
    /// [`Error`] when the schema file or the data directory cannot be read.
    pub fn new(config: Config) -> Result<Self> {
        let schema = schema::standard::schema_with(config.schema_file.as_deref())?;
        Self::with_schema(config, schema)
    }

    /// Builds an org over a given schema instead of the one `config` names (tests, embedding).
    ///
    /// # Errors
    /// [`Error`] when the data directory cannot be read or the seed does not load.
    pub fn with_schema(config: Config, schema: schema::Schema) -> Result<Self> {
        Self::build(config, schema, true)
    }

    /// Builds an org over a given schema that starts with no records at all, not even the base
    /// seed (tests over a small schema the seed files do not fit).
    ///
    /// # Errors
    /// [`Error`] when the data directory cannot be read.
    pub fn with_schema_unseeded(config: Config, schema: schema::Schema) -> Result<Self> {
        Self::build(config, schema, false)
    }

    fn build(config: Config, schema: schema::Schema, seed: bool) -> Result<Self> {
        // The schema changes kept in the data directory come before its records.
        let schema = match &config.data_dir {
            Some(dir) => alter::replay(dir, schema)?,
            None => schema,
        };
        let schema = Arc::new(schema);
        let store = store::Store::open_with(schema.clone(), &config, dev_user_id(), seed)?;
        store::seed::record_types(&store)?;
        if config.synthetic_contacts > 0 {
            synthetic::add_contacts(&store, config.synthetic_contacts)?;
        }
        let oauth = oauth::OAuth::new(&config)?;
        let faults = faults::Faults::new(&config);
        let limits = limits::Limits::new(&config);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                schema: parking_lot::RwLock::new(schema),
                changes: alter::Changes::new(chrono::Utc::now()),
                store,
                oauth,
                faults,
                limits,
                cursors: query::cursor::Cursors::default(),
                instance_url: OnceLock::new(),
            }),
        })
    }

    /// The configuration the org was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The schema as it is now (a snapshot: [`DevOrg::alter_field`] replaces it).
    pub fn schema(&self) -> Arc<schema::Schema> {
        self.inner.schema.read().clone()
    }

    /// When each object's describe last changed.
    pub fn schema_changes(&self) -> &alter::Changes {
        &self.inner.changes
    }

    /// The record store.
    pub fn store(&self) -> &store::Store {
        &self.inner.store
    }

    /// Open query cursors (the rest of results served through `nextRecordsUrl`).
    pub fn cursors(&self) -> &query::cursor::Cursors {
        &self.inner.cursors
    }

    /// Connected apps, users and sessions.
    pub fn oauth(&self) -> &oauth::OAuth {
        &self.inner.oauth
    }

    /// Injected latency and failures.
    pub fn faults(&self) -> &faults::Faults {
        &self.inner.faults
    }

    /// The daily API request counter.
    pub fn limits(&self) -> &limits::Limits {
        &self.inner.limits
    }

    /// A fresh access token of the dev user with the `api` scope, for in-process requests
    /// through [`DevOrg::router`] (`Authorization: Bearer <token>`); it lasts
    /// [`Config::session_timeout`] like any other.
    pub fn dev_access_token(&self) -> String {
        self.oauth().dev_access_token(self)
    }

    /// The org's id (`00D...`), as the identity URL and tokens carry it.
    pub fn org_id(&self) -> Id {
        Id::mint(KeyPrefix::new("00D").expect("valid prefix"), 1)
    }

    /// The dev user's id (`005...`): the owner and creator of records made through the API.
    pub fn dev_user_id(&self) -> Id {
        dev_user_id()
    }

    /// The identity URL of the dev user: `<instance>/id/<org id>/<user id>`.
    pub fn identity_url(&self) -> String {
        format!(
            "{}/id/{}/{}",
            self.instance_url(),
            self.org_id(),
            self.dev_user_id()
        )
    }

    /// The base URL clients reach this org at (`http://127.0.0.1:PORT`), once it is serving.
    pub fn instance_url(&self) -> &str {
        self.inner
            .instance_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Records the URL the org is served at; the first call wins.
    pub fn set_instance_url(&self, url: String) {
        let _ = self.inner.instance_url.set(url);
    }

    /// The router wrapped in the rewrites Salesforce applies before routing; serve this.
    pub fn service(
        &self,
    ) -> impl tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        tower::ServiceBuilder::new()
            .map_request(normalise)
            .service(self.router())
    }

    /// The full router: `/services/data`, `/services/oauth2`, `/id` and the `/devorg` admin routes.
    pub fn router(&self) -> axum::Router {
        rest::router(self.clone())
            .merge(oauth::router(self.clone()))
            .merge(faults::router(self.clone()))
            .merge(limits::admin_router(self.clone()))
            .merge(alter::admin_router(self.clone()))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                faults::middleware,
            ))
            // Outside the faults, so an injected error under `/services/data/vXX.X` still
            // carries `Sforce-Limit-Info` and only authenticated requests meet injected faults.
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                oauth::gate::middleware,
            ))
    }
}

/// The dev user's id, fixed for every org.
fn dev_user_id() -> Id {
    Id::mint(KeyPrefix::new("005").expect("valid prefix"), 1)
}

/// Rewrites a request before routing, as Salesforce's front end does: a trailing slash is
/// ignored (`/sobjects/Contact/` is `/sobjects/Contact`) and `?_HttpMethod=PATCH` on a POST turns
/// it into that method.
fn normalise(mut req: axum::extract::Request) -> axum::extract::Request {
    use axum::http::{Method, Uri};
    let uri = req.uri();
    let path = uri.path();
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let override_method = (req.method() == Method::POST)
        .then(|| uri.query())
        .flatten()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("_HttpMethod=")))
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    if trimmed.len() != path.len() {
        let pq = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(new) = pq.parse::<Uri>() {
            *req.uri_mut() = new;
        }
    }
    if let Some(m) = override_method {
        *req.method_mut() = m;
    }
    req
}

/// A dev org serving on a socket.
pub struct Running {
    /// The org being served.
    pub org: DevOrg,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The serving task; it ends when the process does.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// With TLS, the CA certificate (PEM) clients must trust.
    pub ca_cert: Option<std::path::PathBuf>,
}

/// The org's service as the serving loop runs it: a response marked
/// [`faults::DropConnection`] becomes an error, on which hyper closes the connection unanswered.
fn network_service(
    router: axum::Router,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = faults::Dropped,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::ServiceBuilder::new()
        .map_request(|r: axum::http::Request<hyper::body::Incoming>| r.map(axum::body::Body::new))
        .map_result(
            |r: Result<axum::response::Response, std::convert::Infallible>| match r {
                Ok(resp) if resp.extensions().get::<faults::DropConnection>().is_some() => {
                    Err(faults::Dropped)
                }
                Ok(resp) => Ok(resp),
                Err(never) => match never {},
            },
        )
        .map_request(normalise)
        .service(router)
}

fn bind(addr: SocketAddr) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Binds `addr` (port 0 picks a free one) and serves `org` over plain HTTP in a background task.
///
/// # Errors
/// The bind error.
pub async fn spawn(org: DevOrg, addr: SocketAddr) -> std::io::Result<Running> {
    let (listener, addr) = bind(addr)?;
    org.set_instance_url(format!("http://{addr}"));
    let server = axum_server::from_tcp(listener)?;
    let make = tower::make::Shared::new(network_service(org.router()));
    let task = tokio::spawn(async move { server.serve(make).await });
    Ok(Running {
        org,
        addr,
        task,
        ca_cert: None,
    })
}

/// Like [`spawn`], over HTTPS with the certificate of [`tls::ensure`] (kept in the data
/// directory, else in a new temporary directory); the instance URL is `https://127.0.0.1:PORT`
/// and [`Running::ca_cert`] names the CA to trust.
///
/// # Errors
/// The bind error, or the certificate could not be made or loaded.
pub async fn spawn_tls(org: DevOrg, addr: SocketAddr) -> std::io::Result<Running> {
    let files = tls::ensure(org.config().data_dir.as_deref())?;
    // NB: `from_pem_file` (unlike `from_pem_chain_file`) advertises h2 and http/1.1 through ALPN,
    // so clients that speak HTTP/2 get it, as they do from a real org.
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key).await?;
    let (listener, addr) = bind(addr)?;
    org.set_instance_url(format!("https://{addr}"));
    let server = axum_server::from_tcp_rustls(listener, tls)?;
    let make = tower::make::Shared::new(network_service(org.router()));
    let task = tokio::spawn(async move { server.serve(make).await });
    Ok(Running {
        org,
        addr,
        task,
        ca_cert: Some(files.ca_cert),
    })
}
