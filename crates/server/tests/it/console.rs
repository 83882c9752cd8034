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

/// A call made through the agent API is listed in Calls, and its timeline shows each tool call
/// with its outcome, arguments and result; another workspace finds nothing of it.
#[tokio::test]
async fn a_call_through_the_api_shows_in_calls_with_its_timeline() {
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
    let api = reqwest::Client::new();
    let call: serde_json::Value = api
        .post(format!("{base}/v1/calls"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"call_id": "call-console-1", "caller_phone": "+15551234567", "agent": "aria"}))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(call["call_id"], "call-console-1");
    for (action, args) in [
        (
            "search_contact",
            serde_json::json!({"search_term": "{{caller_phone}}"}),
        ),
        (
            "get_case",
            serde_json::json!({"record_id": "500000000000001AAA"}),
        ),
    ] {
        api.post(format!("{base}/v1/calls/call-console-1/actions/{action}"))
            .bearer_auth(KEY)
            .json(&serde_json::json!({ "arguments": args }))
            .send()
            .await
            .expect("action");
    }

    let http = browser();
    let session = sign_in(&http, &base, KEY).await;
    let get = |path: &str, session: &str| {
        http.get(format!("{base}{path}"))
            .header(COOKIE, format!("cf_session={session}"))
            .send()
    };
    // The log is written off the call's path: look until both tool calls are there (bounded).
    let mut timeline = String::new();
    for _ in 0..100 {
        timeline = get("/calls/call-console-1", &session)
            .await
            .expect("timeline")
            .text()
            .await
            .expect("html");
        if timeline.contains("get_case") && timeline.contains("search_contact") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        timeline.contains("<h1>Call call-console-1</h1>"),
        "{timeline}"
    );
    let (search, get_case) = (
        timeline.find("search_contact").expect("search_contact"),
        timeline.find("get_case").expect("get_case"),
    );
    assert!(search < get_case, "in the order they ran");
    assert!(
        timeline.contains("not_found"),
        "get_case's outcome: {timeline}"
    );
    assert!(timeline.contains("+15551234567"), "{timeline}");
    assert!(
        timeline.contains("Johnson"),
        "search_contact's result: {timeline}"
    );

    // The overview counts the last hour's tool calls and draws them.
    let overview = get("/", &session)
        .await
        .expect("overview")
        .text()
        .await
        .expect("html");
    assert!(overview.contains("id=\"tool-calls\">2<"), "{overview}");
    assert!(
        overview.contains("id=\"tool-errors\">1<"),
        "get_case's not_found: {overview}"
    );
    assert!(overview.contains("<svg role=\"img\""), "{overview}");

    let list = get("/calls?caller_phone=%2B15551234567", &session)
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(list.contains("href=\"/calls/call-console-1\""), "{list}");
    let none = get("/calls?agent=nobody", &session)
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(!none.contains("call-console-1"), "{none}");
    // A time window: the call is in today's, not in one that ended yesterday; a time that does
    // not read is said next to its field.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for (query, listed) in [
        (format!("/calls?from={today}"), true),
        (format!("/calls?until={yesterday}"), false),
    ] {
        let html = get(&query, &session)
            .await
            .expect("list")
            .text()
            .await
            .expect("html");
        assert_eq!(html.contains("call-console-1"), listed, "{query}: {html}");
    }
    let bad = get("/calls?from=tuesday", &session)
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(
        bad.contains("id=\"from-problem\"") && bad.contains("&#39;tuesday&#39; is not a time"),
        "{bad}"
    );

    // Another workspace: nothing listed, the timeline is not found; no session: sign in.
    let store = started.registry.store();
    let other = store
        .create_workspace("other", chrono::Utc::now())
        .await
        .expect("workspace");
    let key = store
        .create_api_key(other.id, "admin", chrono::Utc::now())
        .await
        .expect("key");
    let theirs = sign_in(&http, &base, key.plaintext.expose_secret()).await;
    let list = get("/calls", &theirs)
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(!list.contains("call-console-1"), "{list}");
    let resp = get("/calls/call-console-1", &theirs)
        .await
        .expect("timeline");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = http.get(format!("{base}/calls")).send().await.expect("get");
    assert_eq!(resp.headers()[LOCATION], "/sign-in");
}
