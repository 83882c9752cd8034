//! The admin console's sign-in, sessions and pages over real sockets: nothing is served without
//! a session, every change needs its CSRF token, a session sees only its workspace, and no
//! secret reaches a page.

use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::ExposeSecret;

const KEY: &str = "cf_console_env_key_0123456789abcdef";

/// A browser without redirects or a cookie jar: each cookie is passed on by hand.
pub(super) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of cookie `name` a response sets.
pub(super) fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the hidden `csrf` input of a page.
pub(super) fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf input") + 19;
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

/// Signs in with `key`: the session cookie's value.
pub(super) async fn sign_in(http: &reqwest::Client, base: &str, key: &str) -> String {
    let form = http
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .expect("form");
    let pairing = set_cookie(&form, "cf_signin").expect("the form's cookie");
    let token = csrf(&form.text().await.expect("html"));
    let resp = http
        .post(format!("{base}/sign-in"))
        .header(COOKIE, format!("cf_signin={pairing}"))
        .form(&[("csrf", token.as_str()), ("api_key", key)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cf_session="))
        .expect("a session cookie")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    set_cookie(&resp, "cf_session").expect("session")
}

async fn page(http: &reqwest::Client, base: &str, session: &str) -> reqwest::Response {
    http.get(format!("{base}/"))
        .header(COOKIE, format!("cf_session={session}"))
        .send()
        .await
        .expect("page")
}

#[tokio::test]
async fn the_console_needs_a_session_a_csrf_token_and_shows_only_its_workspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        api_key: Some(KEY.into()),
        ..callforce::serve::ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = browser();

    // No page without a session: the overview and signing out send the browser to sign in.
    let resp = http.get(format!("{base}/")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/sign-in");
    let resp = http
        .get(format!("{base}/"))
        .header(COOKIE, "cf_session=forged")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.headers()[LOCATION], "/sign-in");

    // Signing in needs the form's own token, paired with its cookie.
    let resp = http
        .post(format!("{base}/sign-in"))
        .form(&[("csrf", "made-up"), ("api_key", KEY)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&resp, "cf_session").is_none());

    // A wrong key: the form again, saying so; no session.
    let form = http
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .expect("form");
    let pairing = set_cookie(&form, "cf_signin").expect("cookie");
    let token = csrf(&form.text().await.expect("html"));
    let resp = http
        .post(format!("{base}/sign-in"))
        .header(COOKIE, format!("cf_signin={pairing}"))
        .form(&[("csrf", token.as_str()), ("api_key", "cf_wrong")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&resp, "cf_session").is_none());
    assert!(resp.text().await.expect("html").contains("not valid"));

    // The environment's key opens the default workspace: its connection is shown, no secret.
    let session = sign_in(&http, &base, KEY).await;
    let resp = page(&http, &base, &session).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for (name, want) in [("cache-control", "no-store"), ("x-frame-options", "DENY")] {
        assert_eq!(resp.headers()[name], want);
    }
    let html = resp.text().await.expect("html");
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(html.contains("embedded dev org"), "{html}");
    let org = started.devorg.as_ref().expect("embedded org").org.config();
    for secret in [KEY, session.as_str(), org.client_secret.as_str()] {
        assert!(!html.contains(secret), "a secret in the page");
    }

    // Another workspace's key sees none of the default workspace's connections.
    let store = started.registry.store();
    let other = store
        .create_workspace("other", chrono::Utc::now())
        .await
        .expect("workspace");
    let other_key = store
        .create_api_key(other.id, "admin", chrono::Utc::now())
        .await
        .expect("key");
    let other_session = sign_in(&http, &base, other_key.plaintext.expose_secret()).await;
    let html = page(&http, &base, &other_session)
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(!html.contains("embedded dev org"), "{html}");

    // Signing out needs the session's token; without it nothing changes.
    let signed_in = page(&http, &base, &session)
        .await
        .text()
        .await
        .expect("html");
    let resp = http
        .post(format!("{base}/sign-out"))
        .header(COOKIE, format!("cf_session={session}"))
        .form(&[("csrf", "made-up")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(page(&http, &base, &session).await.status(), StatusCode::OK);
    let resp = http
        .post(format!("{base}/sign-out"))
        .header(COOKIE, format!("cf_session={session}"))
        .form(&[("csrf", csrf(&signed_in).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/sign-in");
    let resp = page(&http, &base, &session).await;
    assert_eq!(resp.headers()[LOCATION], "/sign-in", "the session ended");

    // Revoking the key that signed in ends its sessions.
    store
        .revoke_api_key(other.id, other_key.key.id, chrono::Utc::now())
        .await
        .expect("revoke");
    let resp = page(&http, &base, &other_session).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}
