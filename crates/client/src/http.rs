//! The HTTP layer: one pooled keep-alive client per instance URL, rustls, HTTP/2 when the server
//! offers it (ALPN), gzip, connect and request timeouts.
//!
//! An [`HttpPool`] hands out one `reqwest::Client` per origin (scheme, host, port), so every
//! connection to the same instance shares its TCP/TLS connections. [`HttpPool::shared`] is the
//! process-wide pool used when a connection is given none.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// How HTTP clients are built.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, answer body included.
    pub request_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Extra CA certificates (PEM) to trust, besides the system's (for a local dev org over TLS).
    pub extra_root_certs: Vec<Vec<u8>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            extra_root_certs: Vec::new(),
        }
    }
}

/// Pooled HTTP clients, one per origin.
#[derive(Debug)]
pub struct HttpPool {
    config: HttpConfig,
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl HttpPool {
    /// A pool whose clients follow `config`.
    pub fn new(config: HttpConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The process-wide pool with the default [`HttpConfig`].
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<HttpPool>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::new(HttpConfig::default()))
            .clone()
    }

    /// The configuration clients are built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The client for the origin of `url`, built on first use.
    ///
    /// # Errors
    /// [`Error::Setup`] when `url` has no host or a CA certificate does not parse.
    pub fn client_for(&self, url: &str) -> Result<reqwest::Client> {
        let origin = origin(url)?;
        let mut clients = self.clients.lock();
        if let Some(c) = clients.get(&origin) {
            return Ok(c.clone());
        }
        let client = self.build()?;
        clients.insert(origin, client.clone());
        Ok(client)
    }

    fn build(&self) -> Result<reqwest::Client> {
        let c = &self.config;
        let mut b = reqwest::Client::builder()
            .connect_timeout(c.connect_timeout)
            .timeout(c.request_timeout)
            .pool_idle_timeout(c.pool_idle_timeout)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_while_idle(true)
            .gzip(true)
            .user_agent(concat!("callforce-client/", env!("CARGO_PKG_VERSION")));
        for pem in &c.extra_root_certs {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::Setup(format!("CA certificate: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| Error::Setup(e.to_string()))
    }
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> Result<String> {
    let u = url::Url::parse(url).map_err(|e| Error::Setup(format!("URL {url:?}: {e}")))?;
    let host = u
        .host_str()
        .ok_or_else(|| Error::Setup(format!("URL {url:?} has no host")))?;
    Ok(format!(
        "{}://{}:{}",
        u.scheme(),
        host,
        u.port_or_known_default().unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let cases = [
            (
                "https://acme.my.salesforce.com/services/data",
                "https://acme.my.salesforce.com:443",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://127.0.0.1:9/x?y", "https://127.0.0.1:9"),
        ];
        for (url, want) in cases {
            assert_eq!(origin(url).ok().as_deref(), Some(want), "{url}");
        }
        assert!(origin("not a url").is_err());
    }

    #[tokio::test]
    async fn one_client_per_origin() {
        let pool = HttpPool::new(HttpConfig::default());
        pool.client_for("http://127.0.0.1:1/a").unwrap();
        pool.client_for("http://127.0.0.1:1/b").unwrap();
        pool.client_for("http://127.0.0.1:2/").unwrap();
        assert_eq!(pool.clients.lock().len(), 2);
    }
}
