//! The dev org's configuration: a plain struct with defaults; the binary fills it from flags.

use std::path::PathBuf;
use std::time::Duration;

/// Which records a new org starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// A small believable org (accounts, contacts, cases, products, articles...).
    #[default]
    Demo,
    /// No records but the dev user, its profile and the standard price book.
    None,
}

/// How to build a dev org.
#[derive(Debug, Clone)]
pub struct Config {
    /// A schema file adding custom objects and fields; `None` uses the built-in demo schema.
    pub schema_file: Option<PathBuf>,
    /// Which records to start with when there is nothing stored yet.
    pub seed: Seed,
    /// Where records are kept across restarts; `None` keeps them in memory only.
    pub data_dir: Option<PathBuf>,
    /// Latency added to every `/services` request.
    pub latency: Duration,
    /// How long an access token stays valid.
    pub session_timeout: Duration,
    /// API requests allowed per day before 403 REQUEST_LIMIT_EXCEEDED.
    pub daily_api_limit: u64,
    /// The dev user's username.
    pub username: String,
    /// The dev user's password.
    pub password: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: String,
    /// Redirect URIs the connected app accepts (`*` accepts any localhost URI).
    pub redirect_uris: Vec<String>,
    /// Whether refreshing a token also replaces the refresh token.
    pub rotate_refresh_tokens: bool,
    /// The dev user's security token: the password grant accepts the password with or without
    /// it appended.
    pub security_token: String,
    /// A PEM X.509 certificate or RSA public key JWT bearer assertions are checked against
    /// (also settable at run time: `PUT /devorg/connected-app/certificate`).
    pub jwt_certificate: Option<PathBuf>,
    /// Latency and failures injected from the start (see [`crate::faults`]); [`Config::latency`]
    /// is used as a fixed latency when this names none.
    pub faults: crate::faults::FaultSpec,
    /// Synthetic Contacts generated at start-up, for load tests of a large org (0: none).
    pub synthetic_contacts: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            schema_file: None,
            seed: Seed::Demo,
            data_dir: None,
            latency: Duration::ZERO,
            session_timeout: Duration::from_secs(2 * 60 * 60),
            daily_api_limit: 100_000,
            username: "dev@callforce.local".into(),
            password: "devorg-password".into(),
            client_id: "callforce-devorg-client".into(),
            client_secret: "callforce-devorg-secret".into(),
            redirect_uris: vec!["*".into()],
            rotate_refresh_tokens: false,
            security_token: "devorgSecurityToken".into(),
            jwt_certificate: None,
            faults: crate::faults::FaultSpec::default(),
            synthetic_contacts: 0,
        }
    }
}
