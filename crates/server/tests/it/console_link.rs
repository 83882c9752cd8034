//! Signing in to the console with a one-time link printed by `callforce console-link`, run as a
//! user runs it on the service's data directory while the service runs.

use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use super::console::{browser, csrf, set_cookie};

/// Runs `callforce console-link` on `dir` for the service at `base`: the link it printed.
fn console_link(dir: &std::path::Path, base: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["console-link", "--url", base, "--data-dir"])
        .arg(dir)
        .env("CALLFORCE_LOG", "error")
        .env_remove("CALLFORCE_DATABASE_URL")
        .env_remove("CALLFORCE_PUBLIC_URL")
        .output()
        .expect("run callforce console-link");
    assert!(out.status.success(), "{out:?}");
    let link = String::from_utf8(out.stdout).expect("utf-8");
    let link = link.trim().to_owned();
    assert!(
        link.starts_with(&format!("{base}/sign-in/link?token=")),
        "{link}"
    );
    link
}

/// Opens `link` and presses its button: the answer to the sign-in.
async fn use_link(http: &reqwest::Client, base: &str, link: &str) -> reqwest::Response {
    let page = http.get(link).send().await.expect("open the link");
    assert_eq!(page.status(), StatusCode::OK);
    let pairing = set_cookie(&page, "cf_signin").expect("the form's cookie");
    let html = page.text().await.expect("html");
    let token = link.split("token=").nth(1).expect("token");
    http.post(format!("{base}/sign-in/link"))
        .header(COOKIE, format!("cf_signin={pairing}"))
        .form(&[("csrf", csrf(&html).as_str()), ("link", token)])
        .send()
        .await
        .expect("sign in")
}

#[tokio::test]
async fn a_console_link_signs_in_once_and_acts_as_its_own_revocable_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = browser();

    let link = console_link(dir.path(), &base);
    // Opening the link (as a chat app's preview does) spends nothing.
    let preview = http.get(&link).send().await.expect("preview");
    assert_eq!(preview.status(), StatusCode::OK);
    let resp = use_link(&http, &base, &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/");
    let session = set_cookie(&resp, "cf_session").expect("a session");
    let overview = http
        .get(format!("{base}/"))
        .header(COOKIE, format!("cf_session={session}"))
        .send()
        .await
        .expect("overview");
    assert_eq!(overview.status(), StatusCode::OK);

    // Once only, and a made-up link opens nothing.
    let again = use_link(&http, &base, &link).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&again, "cf_session").is_none());
    let html = again.text().await.expect("html");
    assert!(html.contains("callforce console-link"), "{html}");
    let forged = format!("{base}/sign-in/link?token=0123456789abcdef");
    assert_eq!(
        use_link(&http, &base, &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The form must be the one the browser was given.
    let stray = http
        .post(format!("{base}/sign-in/link"))
        .form(&[("csrf", "made-up"), ("link", "whatever")])
        .send()
        .await
        .expect("post");
    assert_eq!(stray.status(), StatusCode::FORBIDDEN);

    // The session acts as the workspace's "console sign-in links" key (one for every link):
    // revoking it ends the session and voids the links not used yet.
    let second = console_link(dir.path(), &base);
    let store = &started.registry.store();
    let keys = store.list_api_keys(started.workspace).await.expect("keys");
    let link_keys: Vec<_> = keys
        .iter()
        .filter(|k| k.name == callforce_app::console::LINK_KEY_NAME)
        .collect();
    assert_eq!(link_keys.len(), 1, "{keys:?}");
    store
        .revoke_api_key(started.workspace, link_keys[0].id, chrono::Utc::now())
        .await
        .expect("revoke");
    let after = http
        .get(format!("{base}/"))
        .header(COOKIE, format!("cf_session={session}"))
        .send()
        .await
        .expect("overview");
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        use_link(&http, &base, &second).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
