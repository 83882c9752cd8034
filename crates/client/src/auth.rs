//! OAuth 2.0 against a Salesforce login host: the web-server flow with PKCE and `state`,
//! refresh token, JWT bearer, client credentials, username-password, revoke and userinfo.
//!
//! Every token is a [`SecretString`]; the structs holding one have a hand-written `Debug` that
//! prints `[redacted]`. The token endpoint's refusals become [`Error::OAuth`] with Salesforce's
//! `error` and `error_description`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::HttpPool;

/// Where users log in and tokens are issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginHost {
    /// `https://login.salesforce.com` (production and Developer Edition orgs).
    Production,
    /// `https://test.salesforce.com` (sandboxes).
    Sandbox,
    /// A My Domain: `acme` means `https://acme.my.salesforce.com`; a name with a dot is taken
    /// as the full host name.
    MyDomain(String),
    /// Any base URL (a dev org: `http://127.0.0.1:PORT`).
    Url(String),
}

impl LoginHost {
    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match self {
            Self::Production => "https://login.salesforce.com".into(),
            Self::Sandbox => "https://test.salesforce.com".into(),
            Self::MyDomain(d) if d.contains('.') => {
                format!(
                    "https://{}",
                    d.trim_start_matches("https://").trim_end_matches('/')
                )
            }
            Self::MyDomain(d) => format!("https://{d}.my.salesforce.com"),
            Self::Url(u) => u.trim_end_matches('/').to_owned(),
        }
    }
}

/// The connected app: consumer key, consumer secret and callback URL.
#[derive(Clone)]
pub struct OAuthApp {
    /// The consumer key (`client_id`).
    pub client_id: String,
    /// The consumer secret; optional with PKCE and for the JWT bearer flow.
    pub client_secret: Option<SecretString>,
    /// The callback URL registered for the web-server flow.
    pub redirect_uri: Option<String>,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// What the token endpoint answers with.
#[derive(Clone, Deserialize)]
pub struct Tokens {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, when the grant issues one (or a rotated one on refresh).
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// Where REST requests go (`https://acme.my.salesforce.com`).
    pub instance_url: String,
    /// The identity URL (`https://login.salesforce.com/id/00D.../005...`).
    #[serde(default)]
    pub id: String,
    /// The granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// When the token was issued, epoch milliseconds (Salesforce sends a string).
    #[serde(default, deserialize_with = "millis_from_string")]
    pub issued_at: Option<u64>,
    /// Salesforce's HMAC signature of `id + issued_at`.
    #[serde(default)]
    pub signature: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("instance_url", &self.instance_url)
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

fn millis_from_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::S(s)) => s.parse().ok(),
        Some(Raw::N(n)) => Some(n),
        None => None,
    })
}

/// A PKCE verifier and its S256 challenge.
#[derive(Clone)]
pub struct Pkce {
    /// The verifier, sent with the code exchange.
    pub verifier: SecretString,
    /// `base64url(SHA-256(verifier))`, sent with the authorize request.
    pub challenge: String,
}

impl Pkce {
    /// A fresh random verifier (64 characters) and its challenge.
    pub fn generate() -> Self {
        Self::from_verifier(random_token(64))
    }

    /// The challenge of a given verifier.
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[redacted]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// The start of a web-server flow: the URL to send the user to, and what to keep until the
/// callback (the `state` to compare, the PKCE verifier to send).
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The authorize URL.
    pub url: String,
    /// The `state` value; the callback must carry the same.
    pub state: String,
    /// The PKCE pair; the verifier goes with the code exchange.
    pub pkce: Pkce,
}

impl Authorization {
    /// Checks a callback's `state` against the one sent (constant-time comparison).
    pub fn state_matches(&self, returned: &str) -> bool {
        let (a, b) = (self.state.as_bytes(), returned.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// An RSA private key for signing JWT bearer assertions (RS256).
#[derive(Clone)]
pub struct JwtKey(jsonwebtoken::EncodingKey);

impl JwtKey {
    /// Reads a PEM RSA private key (PKCS#1 or PKCS#8).
    ///
    /// # Errors
    /// [`Error::Setup`] when the PEM is not an RSA private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        jsonwebtoken::EncodingKey::from_rsa_pem(pem)
            .map(Self)
            .map_err(|e| Error::Setup(format!("JWT key: {e}")))
    }
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey([redacted])")
    }
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// The JWT bearer assertion: RS256 over `{iss: client_id, sub: username, aud, exp}`, valid for
/// three minutes (Salesforce accepts up to five).
///
/// # Errors
/// [`Error::Setup`] when signing fails.
pub fn jwt_assertion(
    key: &JwtKey,
    client_id: &str,
    username: &str,
    audience: &str,
) -> Result<String> {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        + 180;
    let claims = JwtClaims {
        iss: client_id,
        sub: username,
        aud: audience,
        exp,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key.0,
    )
    .map_err(|e| Error::Setup(format!("JWT signing: {e}")))
}

/// A way to obtain a new access token without a person: what a connection uses to refresh.
#[derive(Clone)]
pub enum Grant {
    /// The refresh-token grant (after the web-server flow).
    RefreshToken(SecretString),
    /// The JWT bearer grant: a fresh assertion for `username` signed with `key`.
    JwtBearer {
        /// The Salesforce username the token is for.
        username: String,
        /// The app's private key.
        key: JwtKey,
        /// The `aud` claim; the login host's base URL when `None`.
        audience: Option<String>,
    },
    /// The client-credentials grant (the app's run-as user).
    ClientCredentials,
    /// The username-password grant (development only).
    Password {
        /// The username.
        username: String,
        /// The password, with the security token appended when the org needs it.
        password: SecretString,
    },
    /// No way to get a token: an expired session needs re-authorisation.
    None,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RefreshToken(_) => f.write_str("RefreshToken([redacted])"),
            Self::JwtBearer { username, .. } => write!(f, "JwtBearer({username})"),
            Self::ClientCredentials => f.write_str("ClientCredentials"),
            Self::Password { username, .. } => write!(f, "Password({username})"),
            Self::None => f.write_str("None"),
        }
    }
}

/// The OAuth endpoints of one login host for one connected app.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    host: LoginHost,
    app: OAuthApp,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl OAuthClient {
    /// The endpoints of `host` for `app`, over a pooled client of `pool`.
    ///
    /// # Errors
    /// [`Error::Setup`] when the host URL is invalid.
    pub fn new(host: LoginHost, app: OAuthApp, pool: &HttpPool) -> Result<Self> {
        let http = pool.client_for(&host.base_url())?;
        Ok(Self { host, app, http })
    }

    /// The login host.
    pub fn host(&self) -> &LoginHost {
        &self.host
    }

    /// The connected app.
    pub fn app(&self) -> &OAuthApp {
        &self.app
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/services/oauth2/{path}", self.host.base_url())
    }

    /// Starts the web-server flow: the authorize URL with `response_type=code`, the client id,
    /// the redirect URI, the scopes, a random `state` and a PKCE S256 challenge.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the app has no redirect URI.
    pub fn authorize_url(&self, scopes: &[&str]) -> Result<Authorization> {
        let redirect = self
            .app
            .redirect_uri
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("the app has no redirect URI".into()))?;
        let pkce = Pkce::generate();
        let state = random_token(32);
        let mut url = url::Url::parse(&self.endpoint("authorize"))
            .map_err(|e| Error::Setup(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.app.client_id)
                .append_pair("redirect_uri", redirect)
                .append_pair("state", &state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
        }
        Ok(Authorization {
            url: url.into(),
            state,
            pkce,
        })
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    ///
    /// # Errors
    /// [`Error::OAuth`] when the endpoint refuses; [`Error::Transport`] on network failure.
    pub async fn exchange_code(&self, code: &str, pkce: &Pkce) -> Result<Tokens> {
        let redirect = self.app.redirect_uri.clone().unwrap_or_default();
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("client_id", self.app.client_id.clone()),
            ("redirect_uri", redirect),
            ("code_verifier", pkce.verifier.expose_secret().to_owned()),
        ];
        self.push_secret(&mut form);
        self.token(form).await
    }

    /// Obtains a new access token with a refresh token (the answer carries a new refresh token
    /// when the org rotates them).
    ///
    /// # Errors
    /// [`Error::OAuth`] (`invalid_grant` when the refresh token is revoked or expired).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Tokens> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose_secret().to_owned()),
            ("client_id", self.app.client_id.clone()),
        ];
        self.push_secret(&mut form);
        self.token(form).await
    }

    /// The JWT bearer flow: a signed assertion for `username`; `audience` defaults to the login
    /// host's base URL.
    ///
    /// # Errors
    /// [`Error::OAuth`] when the assertion is refused.
    pub async fn jwt_bearer(
        &self,
        username: &str,
        key: &JwtKey,
        audience: Option<&str>,
    ) -> Result<Tokens> {
        let aud = audience
            .map(str::to_owned)
            .unwrap_or_else(|| self.host.base_url());
        let assertion = jwt_assertion(key, &self.app.client_id, username, &aud)?;
        self.token(vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion", assertion),
        ])
        .await
    }

    /// The client-credentials flow (the consumer secret is required).
    ///
    /// # Errors
    /// [`Error::OAuth`] when refused.
    pub async fn client_credentials(&self) -> Result<Tokens> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.app.client_id.clone()),
        ];
        self.push_secret(&mut form);
        self.token(form).await
    }

    /// The username-password flow (development orgs only; no refresh token).
    ///
    /// # Errors
    /// [`Error::OAuth`] (`invalid_grant`, `authentication failure`) when refused.
    pub async fn password(&self, username: &str, password: &SecretString) -> Result<Tokens> {
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("client_id", self.app.client_id.clone()),
            ("username", username.to_owned()),
            ("password", password.expose_secret().to_owned()),
        ];
        self.push_secret(&mut form);
        self.token(form).await
    }

    /// Obtains tokens with a [`Grant`].
    ///
    /// # Errors
    /// As the grant's own method; [`Error::NeedsReauthorization`] for [`Grant::None`].
    pub async fn grant(&self, grant: &Grant) -> Result<Tokens> {
        match grant {
            Grant::RefreshToken(t) => self.refresh(t).await,
            Grant::JwtBearer {
                username,
                key,
                audience,
            } => self.jwt_bearer(username, key, audience.as_deref()).await,
            Grant::ClientCredentials => self.client_credentials().await,
            Grant::Password { username, password } => self.password(username, password).await,
            Grant::None => Err(Error::NeedsReauthorization {
                reason: "the session expired and the connection has no way to refresh it".into(),
            }),
        }
    }

    /// Revokes an access or refresh token (revoking a refresh token ends its access tokens).
    ///
    /// # Errors
    /// [`Error::OAuth`] when the token is unknown (`unsupported_token_type`, `invalid_token`).
    pub async fn revoke(&self, token: &SecretString) -> Result<()> {
        let resp = self
            .http
            .post(self.endpoint("revoke"))
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|e| oauth_transport("POST", "/services/oauth2/revoke", e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| oauth_transport("POST", "/services/oauth2/revoke", e))?;
        if status == 200 {
            Ok(())
        } else {
            Err(oauth_error(status, &body))
        }
    }

    /// The OpenID Connect userinfo of the token's user (`sub`, `user_id`, `organization_id`,
    /// `preferred_username`, `email`...), from `base_url` (the instance or the login host).
    ///
    /// # Errors
    /// [`Error::Api`] with 401 when the token is not valid.
    pub async fn userinfo(&self, base_url: &str, access_token: &SecretString) -> Result<UserInfo> {
        let path = "/services/oauth2/userinfo";
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| oauth_transport("GET", path, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| oauth_transport("GET", path, e))?;
        let request = crate::error::RequestInfo::new("GET", path);
        if status != 200 {
            return Err(Error::Api {
                status,
                body: crate::error::ErrorBody::parse(status, &body),
                request,
            });
        }
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            status,
            message: e.to_string(),
            request,
        })
    }

    fn push_secret(&self, form: &mut Vec<(&'static str, String)>) {
        if let Some(s) = &self.app.client_secret {
            form.push(("client_secret", s.expose_secret().to_owned()));
        }
    }

    async fn token(&self, form: Vec<(&'static str, String)>) -> Result<Tokens> {
        let path = "/services/oauth2/token";
        let resp = self
            .http
            .post(self.endpoint("token"))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| oauth_transport("POST", path, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| oauth_transport("POST", path, e))?;
        if status != 200 {
            return Err(oauth_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            status,
            message: e.to_string(),
            request: crate::error::RequestInfo::new("POST", path),
        })
    }
}

/// The OpenID Connect claims of the userinfo endpoint that callforce reads; the rest is kept in
/// `other`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    /// The identity URL.
    pub sub: String,
    /// The user's id.
    pub user_id: String,
    /// The org's id.
    pub organization_id: String,
    /// The username.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The user's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

fn oauth_transport(method: &str, path: &str, e: reqwest::Error) -> Error {
    crate::error::transport_error(crate::error::RequestInfo::new(method, path), e)
}

fn oauth_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<OAuthErrorBody>(body) {
        Ok(b) => Error::OAuth {
            status,
            error: b.error,
            description: b.error_description,
        },
        Err(_) => Error::OAuth {
            status,
            error: format!("http_{status}"),
            description: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

/// A random URL-safe string of `n` characters.
fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_hosts() {
        let cases = [
            (LoginHost::Production, "https://login.salesforce.com"),
            (LoginHost::Sandbox, "https://test.salesforce.com"),
            (
                LoginHost::MyDomain("acme".into()),
                "https://acme.my.salesforce.com",
            ),
            (
                LoginHost::MyDomain("acme--uat.sandbox.my.salesforce.com".into()),
                "https://acme--uat.sandbox.my.salesforce.com",
            ),
            (
                LoginHost::Url("http://127.0.0.1:8080/".into()),
                "http://127.0.0.1:8080",
            ),
        ];
        for (h, want) in cases {
            assert_eq!(h.base_url(), want, "{h:?}");
        }
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let g = Pkce::generate();
        assert_eq!(g.verifier.expose_secret().len(), 64);
    }

    #[test]
    fn secrets_never_reach_debug() {
        let t: Tokens = serde_json::from_str(
            r#"{"access_token":"00Dx!SECRETACCESS","refresh_token":"5AepSECRETREFRESH",
                "instance_url":"https://x","id":"https://x/id/1/2","issued_at":"1278448832702"}"#,
        )
        .unwrap();
        assert_eq!(t.issued_at, Some(1_278_448_832_702));
        let app = OAuthApp {
            client_id: "id".into(),
            client_secret: Some("SECRETCLIENT".to_owned().into()),
            redirect_uri: None,
        };
        let grant = Grant::Password {
            username: "u".into(),
            password: "SECRETPASSWORD".to_owned().into(),
        };
        let all = format!("{t:?} {app:?} {grant:?} {:?}", Pkce::generate());
        assert!(!all.contains("SECRET"), "{all}");
    }

    #[test]
    fn authorize_url_carries_state_and_s256_challenge() {
        let app = OAuthApp {
            client_id: "cid".into(),
            client_secret: None,
            redirect_uri: Some("http://127.0.0.1:9/cb".into()),
        };
        let c = OAuthClient::new(LoginHost::Production, app, &HttpPool::shared()).unwrap();
        let a = c.authorize_url(&["api", "refresh_token"]).unwrap();
        let u = url::Url::parse(&a.url).unwrap();
        assert_eq!(u.path(), "/services/oauth2/authorize");
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:9/cb");
        assert_eq!(q["state"], a.state);
        assert_eq!(q["code_challenge"], a.pkce.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "api refresh_token");
        assert!(a.state_matches(&a.state.clone()));
        assert!(!a.state_matches("other"));
    }
}
