//! The `/services/oauth2` routes: login page, tokens, revoke, userinfo; users and sessions.
//!
//! One connected app and one user come from [`Config`]. Sessions live in memory: an access token
//! maps to the scopes it was granted, when it expires and the refresh token it came from, so
//! revoking a refresh token ends its access tokens too. Refresh tokens do not expire (Salesforce's
//! default policy, "valid until revoked").
//!
//! Scopes granted when none are asked for (a decision; Salesforce uses the connected app's
//! selected scopes): `api refresh_token offline_access` for the web-server flow, `api` for the
//! password, client-credentials and JWT bearer grants. Only `api`/`full` (for `/services/data`),
//! `chatter_api` (for `/services/data/*/chatter`) and `refresh_token`/`offline_access` (to get a
//! refresh token, authorization code only) change behaviour.
//!
//! Submodules: [`authorize`] (the login page), [`token`] (grants and revoke), [`identity`]
//! (userinfo and the identity URL), [`gate`] (the middleware in front of the versioned REST
//! routes: session, scope, API allowance, `Sforce-Limit-Info`).

pub mod authorize;
pub mod gate;
pub mod identity;
pub mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use parking_lot::Mutex;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::error::json_response;
use crate::{ApiError, Config, DevOrg};

/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Scopes a token was granted, in the order they were asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space- (or `+`-) separated scope list, dropping duplicates.
    pub fn parse(s: &str) -> Self {
        let mut out: Vec<String> = Vec::new();
        for part in s.split([' ', '+', ',']).filter(|p| !p.is_empty()) {
            if !out.iter().any(|o| o == part) {
                out.push(part.to_owned());
            }
        }
        Self(out)
    }

    /// The requested scopes, or `default` when the request named none.
    pub fn requested_or(requested: Option<&str>, default: &str) -> Self {
        match requested.map(Self::parse) {
            Some(s) if !s.0.is_empty() => s,
            _ => Self::parse(default),
        }
    }

    /// Whether `name` was granted.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s == name)
    }

    /// Whether the token may call `/services/data` (`api` or `full`).
    pub fn allows_api(&self) -> bool {
        self.has("api") || self.has("full")
    }

    /// Whether the token may call the Chatter resources (`chatter_api`, `api` or `full`).
    pub fn allows_chatter(&self) -> bool {
        self.has("chatter_api") || self.allows_api()
    }

    /// Whether a refresh token may be issued (`refresh_token` or `offline_access`).
    pub fn allows_refresh(&self) -> bool {
        self.has("refresh_token") || self.has("offline_access")
    }

    /// The scopes the app knows; anything else is refused with `invalid_scope`.
    pub fn unknown(&self) -> Option<&str> {
        const KNOWN: &[&str] = &[
            "api",
            "chatter_api",
            "full",
            "id",
            "openid",
            "profile",
            "email",
            "address",
            "phone",
            "refresh_token",
            "offline_access",
            "web",
            "visualforce",
            "custom_permissions",
            "content",
            "lightning",
            "wave_api",
            "eclair_api",
            "pardot_api",
            "cdp_api",
        ];
        self.0
            .iter()
            .find(|s| !KNOWN.contains(&s.as_str()))
            .map(String::as_str)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// A live access token.
#[derive(Debug, Clone)]
pub struct Session {
    /// What it may do.
    pub scopes: Scopes,
    /// When it stops working.
    pub expires: Instant,
    /// The refresh token it was issued from or with, if any.
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    scopes: Scopes,
}

#[derive(Debug, Clone)]
struct AuthCode {
    redirect_uri: String,
    challenge: Option<String>,
    challenge_method: String,
    scopes: Scopes,
    expires: Instant,
}

#[derive(Default)]
struct State_ {
    sessions: HashMap<String, Session>,
    refresh: HashMap<String, RefreshGrant>,
    codes: HashMap<String, AuthCode>,
}

/// Counters readable at `GET /devorg/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Access tokens issued by the refresh-token grant.
    pub refreshes: AtomicU64,
    /// Access tokens issued by every other grant.
    pub logins: AtomicU64,
    /// Requests answered by the org (every path).
    pub requests: AtomicU64,
}

/// Connected apps, users and live sessions.
pub struct OAuth {
    state: Mutex<State_>,
    jwt_key: Mutex<Option<jsonwebtoken::DecodingKey>>,
    stats: Stats,
}

impl OAuth {
    /// Sets up the connected app and the dev user from the configuration.
    ///
    /// # Errors
    /// The JWT certificate file named by [`Config::jwt_certificate`] is unreadable or not a PEM
    /// RSA certificate or public key.
    pub fn new(config: &Config) -> std::io::Result<Self> {
        let jwt_key = match &config.jwt_certificate {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path)?;
                Some(jwt_key_from_pem(&pem).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?)
            }
        };
        Ok(Self {
            state: Mutex::new(State_::default()),
            jwt_key: Mutex::new(jwt_key),
            stats: Stats::default(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The live session of an access token, if it exists and has not expired.
    pub fn session(&self, access_token: &str) -> Option<Session> {
        let mut st = self.state.lock();
        match st.sessions.get(access_token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                st.sessions.remove(access_token);
                None
            }
            None => None,
        }
    }

    /// Ends every access token now (refresh tokens keep working).
    pub fn expire_sessions(&self) -> usize {
        let mut st = self.state.lock();
        let n = st.sessions.len();
        st.sessions.clear();
        n
    }

    /// Registers the certificate or public key JWT bearer assertions are checked against.
    ///
    /// # Errors
    /// The PEM is not an RSA certificate or public key.
    pub fn set_jwt_certificate(&self, pem: &[u8]) -> Result<(), String> {
        let key = jwt_key_from_pem(pem)?;
        *self.jwt_key.lock() = Some(key);
        Ok(())
    }

    fn jwt_key(&self) -> Option<jsonwebtoken::DecodingKey> {
        self.jwt_key.lock().clone()
    }

    /// Issues an `api` access token of the dev user without a grant (for in-process callers).
    pub fn dev_access_token(&self, org: &DevOrg) -> String {
        self.issue(org, Scopes::parse("api"), None, false)
            .access_token
    }

    /// Issues an access token (and a refresh token when `with_refresh`), recording the session.
    fn issue(
        &self,
        org: &DevOrg,
        scopes: Scopes,
        refresh_token: Option<String>,
        with_refresh: bool,
    ) -> Issued {
        let access = format!("{}!{}", org.org_id().as_15(), random_string(96));
        let mut st = self.state.lock();
        let refresh = match refresh_token {
            Some(r) => Some(r),
            None if with_refresh => {
                let r = format!("5Aep861{}", random_string(80));
                st.refresh.insert(
                    r.clone(),
                    RefreshGrant {
                        scopes: scopes.clone(),
                    },
                );
                Some(r)
            }
            None => None,
        };
        st.sessions.insert(
            access.clone(),
            Session {
                scopes: scopes.clone(),
                expires: Instant::now() + org.config().session_timeout,
                refresh_token: refresh.clone(),
            },
        );
        Issued {
            access_token: access,
            refresh_token: refresh,
            scopes,
        }
    }

    fn store_code(&self, code: AuthCode) -> String {
        let value = format!("aPrx{}", random_string(64));
        let mut st = self.state.lock();
        let now = Instant::now();
        st.codes.retain(|_, c| c.expires > now);
        st.codes.insert(value.clone(), code);
        value
    }

    /// Takes a code out (codes are one-time, whatever the outcome of the exchange).
    fn take_code(&self, code: &str) -> Option<AuthCode> {
        self.state.lock().codes.remove(code)
    }

    fn refresh_grant(&self, token: &str) -> Option<RefreshGrant> {
        self.state.lock().refresh.get(token).cloned()
    }

    /// Replaces a refresh token by a new one with the same grant (rotation).
    fn rotate(&self, old: &str) -> Option<String> {
        let mut st = self.state.lock();
        let grant = st.refresh.remove(old)?;
        let new = format!("5Aep861{}", random_string(80));
        st.refresh.insert(new.clone(), grant);
        for s in st.sessions.values_mut() {
            if s.refresh_token.as_deref() == Some(old) {
                s.refresh_token = Some(new.clone());
            }
        }
        Some(new)
    }

    /// Revokes an access or refresh token; a refresh token takes its access tokens with it.
    /// Returns whether the token was known.
    pub fn revoke(&self, token: &str) -> bool {
        let mut st = self.state.lock();
        if st.refresh.remove(token).is_some() {
            st.sessions
                .retain(|_, s| s.refresh_token.as_deref() != Some(token));
            return true;
        }
        st.sessions.remove(token).is_some()
    }
}

struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    scopes: Scopes,
}

fn jwt_key_from_pem(pem: &[u8]) -> Result<jsonwebtoken::DecodingKey, String> {
    // NB: jsonwebtoken reads the subject public key out of a `CERTIFICATE` block as well as a
    // `PUBLIC KEY` / `RSA PUBLIC KEY` one.
    jsonwebtoken::DecodingKey::from_rsa_pem(pem)
        .map_err(|e| format!("not a PEM RSA certificate or public key ({e})"))
}

/// A random alphanumeric string of `n` characters.
pub(crate) fn random_string(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// The OAuth routes, the identity URL and the `/devorg` admin routes for sessions and stats.
pub fn router(org: DevOrg) -> axum::Router {
    axum::Router::new()
        .route(
            "/services/oauth2/authorize",
            get(authorize::page).post(authorize::submit),
        )
        .route("/services/oauth2/token", post(token::token))
        .route(
            "/services/oauth2/revoke",
            get(token::revoke).post(token::revoke),
        )
        .route(
            "/services/oauth2/userinfo",
            get(identity::userinfo).post(identity::userinfo),
        )
        .route("/id/{org}/{user}", get(identity::identity))
        .route("/devorg/sessions/expire", post(expire_sessions))
        .route("/devorg/connected-app/certificate", put(put_certificate))
        .route("/devorg/stats", get(stats))
        .with_state(org)
}

async fn expire_sessions(State(org): State<DevOrg>) -> Response {
    let n = org.oauth().expire_sessions();
    json_response(StatusCode::OK, &serde_json::json!({ "expired": n }))
}

async fn put_certificate(State(org): State<DevOrg>, body: axum::body::Bytes) -> Response {
    match org.oauth().set_jwt_certificate(&body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CERTIFICATE", message).into_response()
        }
    }
}

async fn stats(State(org): State<DevOrg>) -> Response {
    let s = org.oauth().stats();
    let (used, max) = org.limits().usage();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "refreshes": s.refreshes.load(Ordering::Relaxed),
            "logins": s.logins.load(Ordering::Relaxed),
            "requests": s.requests.load(Ordering::Relaxed),
            "apiRequests": used,
            "apiRequestLimit": max,
            "faults": org.faults().counters(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_rights() {
        let cases: &[(&str, bool, bool, bool)] = &[
            // scope, api, chatter, refresh
            ("api", true, true, false),
            ("full", true, true, false),
            ("chatter_api", false, true, false),
            ("id refresh_token", false, false, true),
            ("api+offline_access", true, true, true),
            ("", false, false, false),
        ];
        for (s, api, chatter, refresh) in cases {
            let sc = Scopes::parse(s);
            assert_eq!(sc.allows_api(), *api, "{s}");
            assert_eq!(sc.allows_chatter(), *chatter, "{s}");
            assert_eq!(sc.allows_refresh(), *refresh, "{s}");
        }
    }

    #[test]
    fn scopes_drop_duplicates_and_default_when_empty() {
        assert_eq!(Scopes::parse("api api id").to_string(), "api id");
        assert_eq!(Scopes::requested_or(Some(""), "api").to_string(), "api");
        assert_eq!(Scopes::requested_or(None, "api id").to_string(), "api id");
        assert_eq!(Scopes::parse("api bogus").unknown(), Some("bogus"));
    }
}
