//! The web-server flow's login and consent page: `GET`/`POST /services/oauth2/authorize`.
//!
//! `GET` checks the client id and the redirect URI (either wrong: an error page, never a
//! redirect, so a bad link cannot bounce a user anywhere) and serves a form with the username,
//! the password and the requested scopes. `POST` of that form: Deny redirects with
//! `error=access_denied`; Allow checks the credentials (wrong: the page again with an error) and
//! redirects with a one-time `code`. `state` is echoed on every redirect.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::token::params;
use super::{AuthCode, CODE_LIFETIME, Scopes};
use crate::DevOrg;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `uri` is one the connected app accepts: listed exactly, or any `http` loopback URI
/// (`127.0.0.1`, `localhost`, `[::1]`, any port) when the list holds `*`.
pub fn redirect_allowed(registered: &[String], uri: &str) -> bool {
    registered.iter().any(|r| {
        if r == "*" {
            is_loopback_http(uri)
        } else {
            r == uri
        }
    })
}

fn is_loopback_http(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    let port_ok = match authority.strip_prefix(host) {
        Some("") => true,
        Some(p) => p
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok()),
        None => false,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") && port_ok
}

/// `redirect_uri` with `pairs` added to its query string.
fn redirect(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}{}", ser.finish());
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => error_page("invalid_request", "redirect_uri is not a valid URI"),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

fn error_page(error: &str, description: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title>\
             </head><body><h1>OAuth error</h1><p><code>error={}</code></p><p>{}</p></body></html>",
            escape(error),
            escape(description)
        ),
    )
}

/// The parameters of an authorization request, checked.
struct AuthRequest {
    redirect_uri: String,
    state: Option<String>,
    scopes: Scopes,
    challenge: Option<String>,
    challenge_method: String,
    login_hint: Option<String>,
}

/// Checks an authorization request; `Err` is the page or redirect to answer with instead.
fn check(org: &DevOrg, p: &HashMap<String, String>) -> Result<AuthRequest, Box<Response>> {
    let cfg = org.config();
    let get = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
    if get("client_id").as_deref() != Some(cfg.client_id.as_str()) {
        return Err(Box::new(error_page(
            "invalid_client_id",
            "client identifier invalid",
        )));
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return Err(Box::new(error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        )));
    };
    if !redirect_allowed(&cfg.redirect_uris, &redirect_uri) {
        return Err(Box::new(error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        )));
    }
    let state = get("state");
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = &state {
            pairs.push(("state", s));
        }
        redirect(&redirect_uri, &pairs)
    };
    if get("response_type").as_deref() != Some("code") {
        return Err(Box::new(fail(
            "unsupported_response_type",
            "response type not supported",
        )));
    }
    let scopes = Scopes::requested_or(get("scope").as_deref(), "api refresh_token offline_access");
    if scopes.unknown().is_some() {
        return Err(Box::new(fail(
            "invalid_scope",
            "the requested scope is not allowed",
        )));
    }
    let challenge_method = get("code_challenge_method").unwrap_or_else(|| "S256".into());
    if !matches!(challenge_method.as_str(), "S256" | "plain") {
        return Err(Box::new(fail(
            "invalid_request",
            "unsupported code challenge method",
        )));
    }
    Ok(AuthRequest {
        state,
        scopes,
        challenge: get("code_challenge"),
        challenge_method,
        login_hint: get("login_hint"),
        redirect_uri,
    })
}

/// `GET /services/oauth2/authorize`: the login and consent page.
pub async fn page(State(org): State<DevOrg>, uri: Uri) -> Response {
    let p = params(uri.query(), b"");
    match check(&org, &p) {
        Ok(req) => login_form(&org, &p, &req, None),
        Err(r) => *r,
    }
}

/// `POST /services/oauth2/authorize`: the login form submitted.
pub async fn submit(State(org): State<DevOrg>, uri: Uri, body: Bytes) -> Response {
    let p = params(uri.query(), &body);
    let req = match check(&org, &p) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if let Some(s) = &req.state {
            pairs.push(("state", s.clone()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect(&req.redirect_uri, &borrowed)
    };
    if p.get("action").map(String::as_str) != Some("allow") {
        return with_state(vec![
            ("error", "access_denied".into()),
            ("error_description", "end-user denied authorization".into()),
        ]);
    }
    let cfg = org.config();
    let user_ok = p.get("username") == Some(&cfg.username);
    let pass_ok = p.get("password") == Some(&cfg.password);
    if !(user_ok && pass_ok) {
        return login_form(
            &org,
            &p,
            &req,
            Some(
                "Please check your username and password. If you still can't log in, contact your Salesforce administrator.",
            ),
        );
    }
    let code = org.oauth().store_code(AuthCode {
        redirect_uri: req.redirect_uri.clone(),
        challenge: req.challenge.clone(),
        challenge_method: req.challenge_method.clone(),
        scopes: req.scopes.clone(),
        expires: Instant::now() + CODE_LIFETIME,
    });
    with_state(vec![("code", code)])
}

fn login_form(
    org: &DevOrg,
    p: &HashMap<String, String>,
    req: &AuthRequest,
    error: Option<&str>,
) -> Response {
    let hidden: String = [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|k| p.get(*k).map(|v| (k, v)))
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(k),
            escape(v)
        )
    })
    .collect();
    let scopes: String = req
        .scopes
        .to_string()
        .split(' ')
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let username = p
        .get("username")
        .cloned()
        .or_else(|| req.login_hint.clone())
        .unwrap_or_default();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Login | callforce dev org</title>\
<style>body{{font-family:sans-serif;max-width:26rem;margin:3rem auto}}label{{display:block;margin-top:1rem}}\
input[type=text],input[type=password]{{width:100%;padding:.4rem}}.error{{color:#b00}}\
button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}}</style></head>\n<body>\
<h1>callforce dev org</h1>\
<form method=\"post\" action=\"/services/oauth2/authorize\">{hidden}{error}\
<label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\">\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\">\
<p><strong>{app}</strong> is asking to:</p><ul class=\"scopes\">{scopes}</ul>\
<button type=\"submit\" name=\"action\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\
</form></body></html>\n",
        username = escape(&username),
        app = escape(&org.config().client_id),
    );
    html(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn redirect_uris_star_accepts_only_loopback_http() {
        let star = vec!["*".to_owned()];
        let cases = [
            ("http://127.0.0.1:8080/callback", true),
            ("http://localhost:3000/cb?x=1", true),
            ("http://localhost/cb", true),
            ("http://[::1]:9/cb", true),
            ("https://127.0.0.1:8080/cb", false),
            ("http://evil.example/cb", false),
            ("http://127.0.0.1.evil.example/cb", false),
            ("http://localhost@evil.example/cb", false),
            ("http://localhost:abc/cb", false),
        ];
        for (uri, ok) in cases {
            assert_eq!(redirect_allowed(&star, uri), ok, "{uri}");
        }
        let listed = vec!["https://app.example/cb".to_owned()];
        assert!(redirect_allowed(&listed, "https://app.example/cb"));
        assert!(!redirect_allowed(&listed, "https://app.example/cb2"));
        assert!(!redirect_allowed(&listed, "http://127.0.0.1:1/cb"));
    }
}
