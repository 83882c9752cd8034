//! `POST /services/oauth2/token` (every grant) and `/services/oauth2/revoke`.
//!
//! Errors are `400 {"error","error_description"}` with Salesforce's codes and texts. The answer
//! is JSON unless `format=urlencoded|xml` (or an `Accept` header naming one of them) asks
//! otherwise.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuthCode, Scopes};
use crate::DevOrg;
use crate::error::{JSON, json_response};

/// The JWT bearer grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An OAuth error: `error` and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    /// The error code (`invalid_grant`, `invalid_client_id`...).
    pub error: &'static str,
    /// Salesforce's description.
    pub error_description: &'static str,
}

impl OAuthError {
    const fn new(error: &'static str, error_description: &'static str) -> Self {
        Self {
            error,
            error_description,
        }
    }
}

const AUTH_FAILURE: OAuthError = OAuthError::new("invalid_grant", "authentication failure");
const EXPIRED_TOKEN: OAuthError = OAuthError::new("invalid_grant", "expired access/refresh token");
const BAD_CLIENT_ID: OAuthError = OAuthError::new("invalid_client_id", "client identifier invalid");
const BAD_CLIENT: OAuthError = OAuthError::new("invalid_client", "invalid client credentials");

/// A successful token answer, keys in Salesforce's order.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token (`00D...!...`).
    pub access_token: String,
    /// The refresh token, when the grant issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// HMAC-SHA256 of `id + issued_at` keyed by the client secret, base64.
    pub signature: String,
    /// The granted scopes, space separated.
    pub scope: String,
    /// Where to send REST requests.
    pub instance_url: String,
    /// The identity URL.
    pub id: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Epoch milliseconds, as a string.
    pub issued_at: String,
}

/// Request parameters: the query string and a form-encoded body, the body winning.
pub(crate) fn params(query: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut p: HashMap<String, String> = HashMap::new();
    if let Some(q) = query {
        p.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    p.extend(form_urlencoded::parse(body).into_owned());
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Urlencoded,
    Xml,
}

impl Format {
    fn of(p: &HashMap<String, String>, headers: &HeaderMap) -> Self {
        let named = p.get("format").map(String::as_str).or_else(|| {
            let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
            if accept.contains("json") {
                Some("json")
            } else if accept.contains("x-www-form-urlencoded") {
                Some("urlencoded")
            } else if accept.contains("xml") {
                Some("xml")
            } else {
                None
            }
        });
        match named {
            Some("urlencoded") => Self::Urlencoded,
            Some("xml") => Self::Xml,
            _ => Self::Json,
        }
    }

    fn render<T: Serialize>(self, status: StatusCode, body: &T) -> Response {
        let pairs: Vec<(String, String)> = match serde_json::to_value(body) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
            _ => Vec::new(),
        };
        let (ctype, text) = match self {
            Self::Json => return json_response(status, body),
            Self::Urlencoded => {
                let mut ser = form_urlencoded::Serializer::new(String::new());
                for (k, v) in &pairs {
                    ser.append_pair(k, v);
                }
                ("application/x-www-form-urlencoded", ser.finish())
            }
            Self::Xml => {
                let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><OAuth>");
                for (k, v) in &pairs {
                    s.push_str(&format!("<{k}>{}</{k}>", super::authorize::escape(v)));
                }
                s.push_str("</OAuth>");
                ("application/xml;charset=UTF-8", s)
            }
        };
        let mut r = (status, text).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        r
    }
}

/// `POST /services/oauth2/token`.
pub async fn token(
    State(org): State<DevOrg>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let p = params(uri.query(), &body);
    let format = Format::of(&p, &headers);
    match grant(&org, &p, &headers) {
        Ok(t) => format.render(StatusCode::OK, &t),
        Err(e) => format.render(StatusCode::BAD_REQUEST, &e),
    }
}

fn grant(
    org: &DevOrg,
    p: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<TokenResponse, OAuthError> {
    let oauth = org.oauth();
    let cfg = org.config();
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let grant_type =
        get("grant_type").ok_or(OAuthError::new("invalid_request", "grant type is missing"))?;
    let issued = match grant_type {
        "authorization_code" => {
            let code_value =
                get("code").ok_or(OAuthError::new("invalid_request", "code is missing"))?;
            // The secret may be left out when the code is bound to a PKCE challenge.
            client(org, p, headers, false)?;
            let code = oauth.take_code(code_value).ok_or(OAuthError::new(
                "invalid_grant",
                "invalid authorization code",
            ))?;
            if client_secret(p, headers).is_none() && code.challenge.is_none() {
                return Err(BAD_CLIENT);
            }
            check_code(&code, get("redirect_uri"), get("code_verifier"))?;
            let refresh = code.scopes.allows_refresh();
            oauth.issue(org, code.scopes, None, refresh)
        }
        "refresh_token" => {
            client(org, p, headers, false)?;
            let old = get("refresh_token").ok_or(OAuthError::new(
                "invalid_request",
                "refresh token is missing",
            ))?;
            let grant = oauth.refresh_grant(old).ok_or(EXPIRED_TOKEN)?;
            let issued = if cfg.rotate_refresh_tokens {
                let new = oauth.rotate(old).ok_or(EXPIRED_TOKEN)?;
                let mut i = oauth.issue(org, grant.scopes, Some(new.clone()), false);
                i.refresh_token = Some(new);
                i
            } else {
                let mut i = oauth.issue(org, grant.scopes, Some(old.to_owned()), false);
                // Without rotation the answer carries no refresh token: the old one stays.
                i.refresh_token = None;
                i
            };
            oauth.stats.refreshes.fetch_add(1, Ordering::Relaxed);
            return Ok(response(org, issued));
        }
        "password" => {
            client(org, p, headers, true)?;
            let user_ok = get("username") == Some(cfg.username.as_str());
            let pass = get("password").unwrap_or("");
            let pass_ok = pass == cfg.password
                || (!cfg.security_token.is_empty()
                    && pass.strip_suffix(cfg.security_token.as_str()) == Some(&cfg.password));
            if !(user_ok && pass_ok) {
                return Err(AUTH_FAILURE);
            }
            oauth.issue(org, scopes(get("scope"), "api")?, None, false)
        }
        "client_credentials" => {
            client(org, p, headers, true)?;
            oauth.issue(org, scopes(get("scope"), "api")?, None, false)
        }
        JWT_BEARER => {
            let assertion = get("assertion")
                .ok_or(OAuthError::new("invalid_request", "assertion is missing"))?;
            jwt(org, assertion)?;
            oauth.issue(org, scopes(get("scope"), "api")?, None, false)
        }
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
            ));
        }
    };
    oauth.stats.logins.fetch_add(1, Ordering::Relaxed);
    Ok(response(org, issued))
}

fn scopes(requested: Option<&str>, default: &str) -> Result<Scopes, OAuthError> {
    let s = Scopes::requested_or(requested, default);
    match s.unknown() {
        Some(_) => Err(OAuthError::new(
            "invalid_scope",
            "the requested scope is not allowed",
        )),
        None => Ok(s),
    }
}

fn response(org: &DevOrg, issued: super::Issued) -> TokenResponse {
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string();
    let id = org.identity_url();
    TokenResponse {
        signature: signature(&org.config().client_secret, &id, &issued_at),
        access_token: issued.access_token,
        refresh_token: issued.refresh_token,
        scope: issued.scopes.to_string(),
        instance_url: org.instance_url().to_owned(),
        id,
        token_type: "Bearer",
        issued_at,
    }
}

/// Salesforce's token signature: base64(HMAC-SHA256(client secret, id + issued_at)).
pub fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The client secret from the body or HTTP Basic.
fn client_secret(p: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    p.get("client_secret")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| basic(headers).map(|(_, s)| s))
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Checks the client id (and the secret when given, or always when `secret_required`).
fn client(
    org: &DevOrg,
    p: &HashMap<String, String>,
    headers: &HeaderMap,
    secret_required: bool,
) -> Result<(), OAuthError> {
    let cfg = org.config();
    let id = p
        .get("client_id")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| basic(headers).map(|(id, _)| id));
    if id.as_deref() != Some(cfg.client_id.as_str()) {
        return Err(BAD_CLIENT_ID);
    }
    match client_secret(p, headers) {
        Some(s) if s != cfg.client_secret => Err(BAD_CLIENT),
        None if secret_required => Err(BAD_CLIENT),
        _ => Ok(()),
    }
}

/// The checks on an authorization code being exchanged: lifetime, redirect URI, PKCE.
fn check_code(
    code: &AuthCode,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    if code.expires <= Instant::now() {
        return Err(OAuthError::new(
            "invalid_grant",
            "authorization code expired",
        ));
    }
    if redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::new(
            "invalid_grant",
            "redirect_uri must match configuration",
        ));
    }
    if let Some(challenge) = &code.challenge {
        let verifier =
            verifier.ok_or(OAuthError::new("invalid_grant", "code verifier is missing"))?;
        if !pkce_matches(challenge, &code.challenge_method, verifier) {
            return Err(OAuthError::new("invalid_request", "invalid code verifier"));
        }
    }
    Ok(())
}

/// Whether `verifier` answers `challenge` (`S256`: base64url(SHA-256(verifier)); `plain`).
pub fn pkce_matches(challenge: &str, method: &str, verifier: &str) -> bool {
    match method {
        "plain" => challenge == verifier,
        _ => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge,
    }
}

#[derive(Debug, Deserialize)]
struct JwtClaims {
    iss: String,
    sub: String,
}

/// Checks a JWT bearer assertion: RS256 by the registered certificate, audience, expiry,
/// issuer (the client id) and subject (the user).
fn jwt(org: &DevOrg, assertion: &str) -> Result<(), OAuthError> {
    use jsonwebtoken::errors::ErrorKind;
    const INVALID: OAuthError = OAuthError::new("invalid_grant", "invalid assertion");
    let key = org.oauth().jwt_key().ok_or(INVALID)?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let own = org.instance_url().to_owned();
    let auds = [
        own.clone(),
        format!("{own}/"),
        "https://login.salesforce.com".to_owned(),
        "https://login.salesforce.com/".to_owned(),
        "https://test.salesforce.com".to_owned(),
        "https://test.salesforce.com/".to_owned(),
    ];
    v.set_audience(&auds);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let data =
        jsonwebtoken::decode::<JwtClaims>(assertion, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::InvalidAudience => OAuthError::new("invalid_grant", "audience is invalid"),
            ErrorKind::ExpiredSignature => OAuthError::new("invalid_grant", "expired assertion"),
            _ => INVALID,
        })?;
    if data.claims.iss != org.config().client_id {
        return Err(BAD_CLIENT_ID);
    }
    if data.claims.sub != org.config().username {
        return Err(OAuthError::new(
            "invalid_grant",
            "user hasn't approved this consumer",
        ));
    }
    Ok(())
}

/// `POST /services/oauth2/revoke` (`token=` in the body) and `GET ?token=`.
pub async fn revoke(State(org): State<DevOrg>, uri: Uri, body: Bytes) -> Response {
    let p = params(uri.query(), &body);
    let known = p
        .get("token")
        .map(|t| org.oauth().revoke(t))
        .unwrap_or(false);
    if known {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, JSON);
        r
    } else {
        json_response(
            StatusCode::BAD_REQUEST,
            &OAuthError::new("unsupported_token_type", "this token type is not supported"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_and_plain() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let cases = [
            (c, "S256", v, true),
            (c, "S256", "wrong", false),
            (v, "plain", v, true),
            (v, "plain", "x", false),
        ];
        for (challenge, method, verifier, ok) in cases {
            assert_eq!(
                pkce_matches(challenge, method, verifier),
                ok,
                "{method} {verifier}"
            );
        }
    }

    #[test]
    fn signature_is_base64_hmac_of_id_and_issued_at() {
        let s = signature("secret", "https://x/id/1/2", "1700000000000");
        assert_eq!(STANDARD.decode(&s).map(|b| b.len()).ok(), Some(32));
        assert_ne!(s, signature("other", "https://x/id/1/2", "1700000000000"));
        assert_eq!(s, signature("secret", "https://x/id/1/2", "1700000000000"));
    }

    #[test]
    fn params_merge_query_and_body() {
        let p = params(Some("a=1&b=2"), b"b=3&c=x+y%21");
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert_eq!(p.get("b").map(String::as_str), Some("3"));
        assert_eq!(p.get("c").map(String::as_str), Some("x y!"));
    }
}
