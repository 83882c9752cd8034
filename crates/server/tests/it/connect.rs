//! End-to-end tests of connections over real sockets: the service, a dev org standing in for
//! production, sandbox and My Domain orgs (through the login host override), and an HTTP client
//! that follows redirects, fills in the org's login form and presses Allow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};
use callforce_app::vault::Secrets;

/// A service whose connect flows go to `org`.
pub(crate) struct Env {
    pub(crate) started: Started,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) org: callforce_devorg::Running,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) http: reqwest::Client,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn spawn_org(config: callforce_devorg::Config) -> callforce_devorg::Running {
    let org = callforce_devorg::DevOrg::new(config).expect("org");
    callforce_devorg::spawn(org, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("org starts")
}

pub(crate) async fn env_with(
    org: callforce_devorg::Config,
    tweak: impl FnOnce(&mut ServeConfig),
) -> Env {
    let org = spawn_org(org).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    config.login_host_override = Some(org.org.instance_url().to_owned());
    tweak(&mut config);
    let started = start(config).await.expect("serve starts");
    let key = started.api_key.clone().expect("first key");
    Env {
        base: format!("http://{}", started.addr),
        started,
        dir,
        org,
        key,
        http: client(),
    }
}

pub(crate) async fn env() -> Env {
    env_with(callforce_devorg::Config::default(), |_| {}).await
}

impl Env {
    pub(crate) async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("send");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, key, path).await
    }

    /// `method` with a JSON body and the first key.
    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn link(&self, key: &str, body: Value) -> String {
        let (status, body) = self.post(key, "/v1/connections/link", body).await;
        assert_eq!(status, 201, "{body}");
        body["url"].as_str().expect("url").to_owned()
    }

    /// A second workspace and its key.
    pub(crate) async fn workspace(&self, name: &str) -> String {
        let store = self.started.registry.store();
        let ws = store
            .create_workspace(name, chrono::Utc::now())
            .await
            .expect("workspace");
        let key = store
            .create_api_key(ws.id, "k", chrono::Utc::now())
            .await
            .expect("key");
        secrecy::ExposeSecret::expose_secret(&key.plaintext).to_owned()
    }

    /// The plaintext secrets of a stored connection (opened with the service's vault).
    pub(crate) async fn secrets(
        &self,
        key_workspace: callforce_store::WorkspaceId,
        id: &str,
    ) -> Secrets {
        let reg = &self.started.registry;
        let c = reg
            .store()
            .connection(key_workspace, id)
            .await
            .expect("read")
            .expect("stored");
        Secrets::open(reg.vault(), &c).expect("opens")
    }
}

/// A browser: follows redirects, keeps cookies.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `name`/`value` pairs of a form's hidden inputs.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.strip_prefix("name=\"")?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

impl Browser {
    fn new() -> Self {
        Self {
            http: client(),
            cookies: HashMap::new(),
        }
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap_or("");
            if let Some((k, val)) = v.split(';').next().and_then(|kv| kv.split_once('=')) {
                if val.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), val.to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends one request; returns the response without following it.
    async fn once(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(reqwest::header::COOKIE, self.cookie_header())
        };
        let r = req.send().await.expect("request");
        self.keep_cookies(&r);
        r
    }

    /// Follows redirects from `url` until a page; `stop_at` ends early at a redirect whose
    /// target starts with it (the target is returned as the page's URL, unvisited).
    async fn follow(&mut self, url: &str, stop_at: Option<&str>) -> (String, StatusCode, String) {
        let mut url = url.to_owned();
        for _ in 0..10 {
            if stop_at.is_some_and(|s| url.starts_with(s)) {
                return (url, StatusCode::FOUND, String::new());
            }
            let r = self.once(self.http.get(&url)).await;
            if r.status().is_redirection() {
                url = location(&url, &r);
                continue;
            }
            let status = r.status();
            return (url, status, r.text().await.expect("page"));
        }
        panic!("too many redirects");
    }

    /// Fills in the org's login form on `page` (at `url`) and presses `action`; follows the
    /// redirects after it (stopping at `stop_at`, if given).
    async fn login(
        &mut self,
        url: &str,
        page: &str,
        action: &str,
        stop_at: Option<&str>,
    ) -> (String, StatusCode, String) {
        assert!(page.contains("name=\"password\""), "a login page: {page}");
        let mut form = hidden_inputs(page);
        form.push(("username".into(), "dev@callforce.local".into()));
        form.push(("password".into(), "devorg-password".into()));
        form.push(("action".into(), action.into()));
        let u = url::Url::parse(url).expect("url");
        let post_to = format!(
            "{}/services/oauth2/authorize",
            u.origin().ascii_serialization()
        );
        let r = self.once(self.http.post(&post_to).form(&form)).await;
        assert!(
            r.status().is_redirection(),
            "the form redirects: {}",
            r.status()
        );
        let next = location(&post_to, &r);
        self.follow(&next, stop_at).await
    }
}

fn location(from: &str, r: &reqwest::Response) -> String {
    let loc = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("location");
    url::Url::parse(from)
        .expect("url")
        .join(loc)
        .expect("join")
        .to_string()
}

/// Runs the whole flow from a link in a fresh browser; returns the final page.
pub(crate) async fn connect_in_browser(link: &str) -> (StatusCode, String) {
    let mut b = Browser::new();
    let (url, status, page) = b.follow(link, None).await;
    assert_eq!(status, 200, "{page}");
    let q: HashMap<String, String> = url::Url::parse(&url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q["code_challenge"].is_empty());
    assert!(!q["state"].is_empty());
    let (_, status, page) = b.login(&url, &page, "allow", None).await;
    (status, page)
}

pub(crate) fn connection_id(page: &str) -> String {
    page.split("class=\"connection-id\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("connection id on the page")
        .to_owned()
}

#[tokio::test]
async fn connect_flow_for_production_sandbox_and_a_custom_domain() {
    let e = env().await;
    let org_url = e.org.org.instance_url().to_owned();
    let mut ids = Vec::new();
    for (environment, domain, profile, scopes) in [
        ("production", None, None, "api refresh_token offline_access"),
        (
            "sandbox",
            None,
            Some("extended"),
            "api refresh_token offline_access web full",
        ),
        (
            "custom",
            Some("acme.my.salesforce.com"),
            Some("privileged"),
            "api refresh_token offline_access web full chatter_api",
        ),
    ] {
        let link = e
            .link(
                &e.key,
                json!({"environment": environment, "domain": domain, "profile": profile}),
            )
            .await;
        let (status, page) = connect_in_browser(&link).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Connected"), "{page}");
        assert!(page.contains(&org_url), "the instance URL is shown: {page}");
        assert!(
            page.contains("API requests used"),
            "the usage is shown: {page}"
        );
        let id = connection_id(&page);
        let (status, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(c["environment"], environment);
        assert_eq!(c["status"], "connected");
        assert_eq!(c["instance_url"], org_url);
        assert_eq!(c["profile"], profile.unwrap_or("standard"));
        assert_eq!(
            c["scopes"]
                .as_array()
                .expect("scopes")
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" "),
            scopes
        );
        assert!(
            c["org_id"].as_str().is_some_and(|o| o.starts_with("00D")),
            "{c}"
        );
        assert!(c["api_usage"]["max"].as_u64().is_some_and(|m| m > 0), "{c}");
        ids.push(id);
    }
    let (_, list) = e.get(&e.key, "/v1/connections").await;
    let listed = list["connections"].as_array().expect("list");
    assert_eq!(listed.len(), 4, "the embedded org and three more: {list}");
    assert_eq!(
        listed.iter().filter(|c| c["default"] == true).count(),
        1,
        "one default: {list}"
    );

    // A call may name its connection; the agent API runs on it.
    let (status, call) = e
        .post(
            &e.key,
            "/v1/calls",
            json!({"caller_phone": "+15551234567", "connection": ids[1]}),
        )
        .await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["connection"], ids[1].as_str());
    let call_id = call["call_id"].as_str().unwrap();
    let (status, found) = e
        .post(
            &e.key,
            &format!("/v1/calls/{call_id}/actions/search_contact"),
            json!({"arguments": {"search_term": "{{caller_phone}}"}}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["records"][0]["LastName"], "Johnson");
    let (status, body) = e
        .post(&e.key, "/v1/calls", json!({"connection": "con_nope"}))
        .await;
    assert_eq!(status, 404, "{body}");

    // The flow asked for the profile's scopes, and a browser that denies gets no connection.
    let link = e.link(&e.key, json!({"environment": "production"})).await;
    let mut b = Browser::new();
    let (url, _, page) = b.follow(&link, None).await;
    let (_, status, page) = b.login(&url, &page, "deny", None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("did not authorise"), "{page}");
}

#[tokio::test]
async fn state_and_link_attacks_are_refused() {
    let e = env().await;
    let callback = format!("{}/connect/salesforce/callback", e.base);

    // No key, no link.
    let r = e
        .http
        .get(format!("{}/connect/salesforce", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A link works once.
    let link = e.link(&e.key, json!({})).await;
    let mut b = Browser::new();
    let (_, status, _) = b.follow(&link, None).await;
    assert_eq!(status, 200);
    let (_, status, page) = Browser::new().follow(&link, None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("used already"), "{page}");
    let (_, status, page) = Browser::new()
        .follow(&format!("{}/connect/salesforce?link=forged", e.base), None)
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid"), "{page}");

    // Forged state.
    let mut b = Browser::new();
    let (_, status, page) = b
        .follow(&format!("{callback}?state=forged&code=x"), None)
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("unknown state"), "{page}");

    // Reused state: the callback URL replayed after it connected.
    let link = e.link(&e.key, json!({})).await;
    let mut b = Browser::new();
    let (url, _, page) = b.follow(&link, None).await;
    let (cb, _, _) = b.login(&url, &page, "allow", Some(&callback)).await;
    let (_, status, page) = b.follow(&cb, None).await;
    assert_eq!(status, 200, "{page}");
    let (_, status, page) = b.follow(&cb, None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("used already"), "{page}");

    // Another workspace's flow: its callback, opened in this workspace's admin's browser.
    let other_key = e.workspace("other").await;
    let link_b = e.link(&other_key, json!({})).await;
    let mut browser_b = Browser::new();
    let (url, _, page) = browser_b.follow(&link_b, None).await;
    let (cb_b, _, _) = browser_b.login(&url, &page, "allow", Some(&callback)).await;
    let link_a = e.link(&e.key, json!({})).await;
    let mut browser_a = Browser::new();
    let _ = browser_a.follow(&link_a, None).await;
    let (_, status, page) = browser_a.follow(&cb_b, None).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("another browser"), "{page}");
    // Nothing was connected for either workspace by it.
    let (_, list) = e.get(&other_key, "/v1/connections").await;
    assert_eq!(list["connections"].as_array().unwrap().len(), 0, "{list}");

    // Bad parameters are refused before any redirect, saying what to fix.
    let (status, body) = e
        .post(
            &e.key,
            "/v1/connections/link",
            json!({"environment": "custom"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("domain="),
        "{body}"
    );
    let (status, body) = e
        .post(&e.key, "/v1/connections/link", json!({"profile": "root"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("standard"),
        "{body}"
    );
    let (status, _) = e
        .post(
            &e.key,
            "/v1/connections/link",
            json!({"environment": "moon"}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let e = env_with(callforce_devorg::Config::default(), |c| {
        c.connect_ttl = Duration::ZERO;
    })
    .await;
    // The link itself expired at once too: a direct start with the key in a header.
    let link = e.link(&e.key, json!({})).await;
    let (_, status, page) = Browser::new().follow(&link, None).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");
    let mut b = Browser::new();
    let r = b
        .once(
            b.http
                .get(format!("{}/connect/salesforce?environment=sandbox", e.base))
                .bearer_auth(&e.key),
        )
        .await;
    assert_eq!(r.status(), 303);
    let url = location(&e.base, &r);
    let (url, _, page) = b.follow(&url, None).await;
    let (_, status, page) = b.login(&url, &page, "allow", None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");
}

fn rsa_key_and_certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let cert = rcgen::CertificateParams::new(vec!["callforce-test".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    (key.serialize_pem(), cert.pem())
}

#[tokio::test]
async fn jwt_bearer_and_client_credentials_connects() {
    let e = env().await;
    let (pem, cert) = rsa_key_and_certificate();
    let r = e
        .http
        .put(format!(
            "{}/devorg/connected-app/certificate",
            e.org.org.instance_url()
        ))
        .body(cert)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (status, c) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "jwt", "environment": "production", "username": "dev@callforce.local", "private_key": pem}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["kind"], "jwt");
    assert_eq!(c["status"], "connected");
    assert!(!c.to_string().contains("PRIVATE KEY"), "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = e
        .post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["ok"], true);
    // A JWT connection renews itself after the org expires its session.
    let expire = format!("{}/devorg/sessions/expire", e.org.org.instance_url());
    e.http.post(&expire).send().await.unwrap();
    let (status, t) = e
        .post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{t}");
    let (status, r) = e
        .post(
            &e.key,
            &format!("/v1/connections/{id}/reconnect"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["id"], id.as_str());

    let (status, c) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "client_credentials", "environment": "sandbox", "name": "run-as"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["kind"], "client_credentials");
    assert_eq!(c["name"], "run-as");

    // Mistakes come back as what to fix.
    let (status, b) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "jwt", "environment": "production"}),
        )
        .await;
    assert_eq!(status, 400, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("private_key"),
        "{b}"
    );
    let (status, b) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "jwt", "username": "dev@callforce.local", "private_key": "not a key"}),
        )
        .await;
    assert_eq!(status, 502, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("PEM"),
        "{b}"
    );
    let (status, _) = e
        .post(&e.key, "/v1/connections", json!({"kind": "web_server"}))
        .await;
    assert_eq!(status, 400);
    let (status, b) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "client_credentials", "client_secret": "wrong"}),
        )
        .await;
    assert_eq!(status, 502, "{b}");
    assert!(
        !b.to_string().contains("wrong"),
        "the secret is not echoed: {b}"
    );
}

#[tokio::test]
async fn rotation_over_100_refreshes_is_persisted_before_use() {
    let org = callforce_devorg::Config {
        rotate_refresh_tokens: true,
        ..callforce_devorg::Config::default()
    };
    let e = env_with(org, |_| {}).await;
    let link = e.link(&e.key, json!({})).await;
    let (status, page) = connect_in_browser(&link).await;
    assert_eq!(status, 200, "{page}");
    let id = connection_id(&page);
    let ws = e.started.workspace;
    let first = e
        .secrets(ws, &id)
        .await
        .refresh_token
        .clone()
        .expect("refresh token");
    let expire = format!("{}/devorg/sessions/expire", e.org.org.instance_url());
    for i in 0..100 {
        e.http.post(&expire).send().await.unwrap();
        let (status, t) = e
            .post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
            .await;
        assert_eq!(status, 200, "refresh {i}: {t}");
    }
    let stats: Value = e
        .http
        .get(format!("{}/devorg/stats", e.org.org.instance_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["refreshes"].as_u64().unwrap() >= 100, "{stats}");
    let last = e
        .secrets(ws, &id)
        .await
        .refresh_token
        .clone()
        .expect("refresh token");
    assert_ne!(first, last, "the stored refresh token rotated");
    // The stored token is the live one: the old one is refused by the org, the stored one works.
    let token = |t: &str| {
        e.http
            .post(format!(
                "{}/services/oauth2/token",
                e.org.org.instance_url()
            ))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t),
                ("client_id", "callforce-devorg-client"),
                ("client_secret", "callforce-devorg-secret"),
            ])
            .send()
    };
    assert_eq!(token(&first).await.unwrap().status(), 400);

    // A restart (a new registry from the store) carries on with the stored token.
    let dir = e.dir.path().to_owned();
    e.started.task.abort();
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir);
    config.login_host_override = Some(e.org.org.instance_url().to_owned());
    let again = start(config).await.expect("restarts");
    let base = format!("http://{}", again.addr);
    e.http.post(&expire).send().await.unwrap();
    let r = e
        .http
        .post(format!("{base}/v1/connections/{id}/test"))
        .bearer_auth(&e.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let _ = token(&last).await;
}

#[tokio::test]
async fn a_revoked_connection_needs_reauth_and_reconnects() {
    let e = env().await;
    let link = e
        .link(
            &e.key,
            json!({"environment": "sandbox", "profile": "standard"}),
        )
        .await;
    let (_, page) = connect_in_browser(&link).await;
    let id = connection_id(&page);
    let refresh = e
        .secrets(e.started.workspace, &id)
        .await
        .refresh_token
        .clone()
        .expect("refresh token");
    // Revoked at the org (an admin there removed the app's access).
    let r = e
        .http
        .post(format!(
            "{}/services/oauth2/revoke",
            e.org.org.instance_url()
        ))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, t) = e
        .post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 409, "{t}");
    assert_eq!(t["error"]["code"], "needs_reauth");
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
    assert_eq!(c["status"], "needs_reauth", "{c}");
    assert!(
        c["status_reason"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{c}"
    );
    let (status, body) = e.post(&e.key, "/v1/calls", json!({"connection": id})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "needs_reauth");
    // The admins are alerted once, through the alert outbox.
    let (_, alerts) = e.get(&e.key, "/v1/alerts").await;
    let reauth: Vec<&Value> = alerts["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["kind"] == "connection_needs_reauth")
        .collect();
    assert_eq!(reauth.len(), 1, "{alerts}");
    assert_eq!(
        reauth[0]["details"]["connection_id"],
        id.as_str(),
        "{alerts}"
    );

    // Reconnect: a new link for the same connection.
    let (status, r) = e
        .post(
            &e.key,
            &format!("/v1/connections/{id}/reconnect"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let (status, page) = connect_in_browser(r["url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(connection_id(&page), id, "the same connection");
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(c["environment"], "sandbox");

    // Disconnect revokes at the org.
    let (status, d) = e
        .send(
            reqwest::Method::DELETE,
            &e.key,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["revoked_at_org"], true);
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
    assert_eq!(c["status"], "disconnected");
    let (status, _) = e.post(&e.key, "/v1/calls", json!({"connection": id})).await;
    assert_eq!(status, 404);
}

/// `extended` grants `full`, which covers `chatter_api` as at Salesforce; a client-credentials
/// connection's refusal says to change its connected app, not to pick a profile.
#[tokio::test]
async fn scope_profiles_refuse_a_chatter_post_before_any_request() {
    let e = env().await;
    let chatter = json!({"arguments": {"method": "POST", "path": "/services/data/v59.0/chatter/feed-elements", "body": {"body": {"messageSegments": [{"type": "Text", "text": "hi"}]}, "feedElementType": "FeedItem", "subjectId": "me"}}});
    for (profile, refused) in [
        ("standard", true),
        ("extended", false),
        ("privileged", false),
        ("client_credentials", true),
    ] {
        let id = if profile == "client_credentials" {
            let (status, c) = e
                .post(
                    &e.key,
                    "/v1/connections",
                    json!({"kind": "client_credentials", "environment": "production"}),
                )
                .await;
            assert_eq!(status, 201, "{c}");
            assert_eq!(c["profile"], "connected_app", "{c}");
            c["id"].as_str().unwrap().to_owned()
        } else {
            let link = e.link(&e.key, json!({"profile": profile})).await;
            let (_, page) = connect_in_browser(&link).await;
            connection_id(&page)
        };
        let (_, call) = e.post(&e.key, "/v1/calls", json!({"connection": id})).await;
        let call_id = call["call_id"].as_str().unwrap();
        let before = e
            .org
            .org
            .oauth()
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        let (status, body) = e
            .post(
                &e.key,
                &format!("/v1/calls/{call_id}/actions/custom_api_call"),
                chatter.clone(),
            )
            .await;
        let after = e
            .org
            .org
            .oauth()
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
        if refused {
            assert_eq!(status, 422, "{profile}: {body}");
            assert_eq!(body["error"]["code"], "missing_scope", "{body}");
            if profile == "client_credentials" {
                assert!(
                    message.contains("chatter_api")
                        && message.contains("connected app")
                        && message.contains(&format!("/v1/connections/{id}/reconnect"))
                        && !message.contains("profile="),
                    "{profile}: {message}"
                );
            } else {
                assert!(
                    message.contains("chatter_api") && message.contains("privileged"),
                    "{profile}: {message}"
                );
            }
            assert_eq!(before, after, "{profile}: nothing was sent");
        } else {
            // Past the scope check: the next step is the caller's confirmation of the write.
            assert_eq!(status, 200, "{profile}: {body}");
            assert!(!message.contains("OAuth scope"), "{profile}: {body}");
            assert!(
                body["result"]["confirmation_required"].is_object(),
                "{profile}: {body}"
            );
        }
    }
}

/// The scopes of a client-credentials or JWT connection come from its connected app: a profile
/// asked for is refused with that explanation, not stored and shown as if it applied.
#[tokio::test]
async fn a_profile_on_a_client_credentials_or_jwt_connection_is_refused_with_why() {
    let e = env().await;
    for body in [
        json!({"kind": "client_credentials", "environment": "production", "profile": "privileged"}),
        json!({"kind": "jwt", "environment": "production", "profile": "extended",
            "username": "dev@callforce.local", "private_key": "-----BEGIN PRIVATE KEY-----"}),
    ] {
        let (status, r) = e.post(&e.key, "/v1/connections", body.clone()).await;
        assert_eq!(status, 400, "{body}: {r}");
        assert_eq!(r["error"]["code"], "invalid_parameters", "{r}");
        let message = r["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("connected app") && message.contains("leave profile out"),
            "{message}"
        );
    }
    let (_, list) = e.get(&e.key, "/v1/connections").await;
    assert_eq!(
        list["connections"].as_array().map(Vec::len),
        Some(1),
        "only the embedded org: {list}"
    );
}

#[tokio::test]
async fn limits_refuse_reads_beyond_the_share_or_the_cap() {
    let e = env().await;
    let ws = e.started.workspace;
    let live = e.started.registry.get(ws, None).expect("default");
    let id = live.id();
    for bad in [
        json!({"daily_share": 0}),
        json!({"daily_share": 1.5}),
        json!({"max_concurrent": 0}),
        json!({"max_concurrent": "x"}),
        json!({"default": false}),
    ] {
        let r = e
            .http
            .patch(format!("{}/v1/connections/{id}", e.base))
            .bearer_auth(&e.key)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let patch = |body: Value| {
        e.http
            .patch(format!("{}/v1/connections/{id}", e.base))
            .bearer_auth(&e.key)
            .json(&body)
            .send()
    };
    // A cap of one: a read while another holds the slot is refused; a write waits.
    let r = patch(json!({"max_concurrent": 1})).await.unwrap();
    assert_eq!(r.status(), 200);
    let held = live.admit_read().expect("a slot").expect("capped");
    assert!(matches!(
        live.admit_read(),
        Err(callforce_app::registry::LimitError::Concurrency { cap: 1, .. })
    ));
    let (_, call) = e.post(&e.key, "/v1/calls", json!({})).await;
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    let (status, body) = e
        .post(
            &e.key,
            &format!("/v1/calls/{call_id}/actions/search_contact"),
            json!({"arguments": {"search_term": "Johnson"}}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{body}"
    );
    let waiting = tokio::spawn({
        let live = live.clone();
        async move { live.admit_write().await.map(|p| p.is_some()) }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the write waits for the slot");
    drop(held);
    assert_eq!(waiting.await.unwrap(), Ok(true));

    // A share of the daily allowance: once the org reports usage beyond it, reads are refused.
    let r = patch(json!({"max_concurrent": null, "daily_share": 0.000001}))
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["limits"]["max_concurrent"], Value::Null, "{v}");
    assert_eq!(v["limits"]["daily_share"], 0.000001, "{v}");
    let (status, body) = e
        .post(
            &e.key,
            &format!("/v1/calls/{call_id}/actions/search_contact"),
            json!({"arguments": {"search_term": "Johnson"}}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily API allowance"),
        "{body}"
    );
    assert!(live.admit_write().await.is_err(), "writes stay queued");
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
    assert!(c["api_usage"]["used"].as_u64().is_some(), "{c}");
    patch(json!({"daily_share": null})).await.unwrap();
    let (status, _) = e
        .post(
            &e.key,
            &format!("/v1/calls/{call_id}/actions/search_contact"),
            json!({"arguments": {"search_term": "Johnson"}}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn api_keys_are_shown_once_listed_and_revoked() {
    let e = env().await;
    let (status, k) = e
        .post(&e.key, "/v1/keys", json!({"name": "voice agent"}))
        .await;
    assert_eq!(status, 201, "{k}");
    let new_key = k["key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("cf_"));
    let (status, _) = e.get(&new_key, "/v1/tools").await;
    assert_eq!(status, 200);
    let (_, list) = e.get(&e.key, "/v1/keys").await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{list}");
    assert!(!list.to_string().contains(&new_key), "never shown again");
    let (status, _) = e
        .send(
            reqwest::Method::DELETE,
            &e.key,
            &format!("/v1/keys/{}", k["id"]),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = e.get(&new_key, "/v1/tools").await;
    assert_eq!(status, 401);
    let (status, _) = e
        .send(reqwest::Method::DELETE, &e.key, "/v1/keys/999999")
        .await;
    assert_eq!(status, 404);
}

/// Workspace B's key against everything of workspace A: every route answers as if A's things
/// did not exist, and A's things are unchanged after.
#[tokio::test]
async fn a_workspace_gets_nothing_of_another() {
    let e = env().await;
    let a_conn = e
        .started
        .registry
        .get(e.started.workspace, None)
        .unwrap()
        .id();
    let (_, call) = e.post(&e.key, "/v1/calls", json!({})).await;
    let a_call = call["call_id"].as_str().unwrap().to_owned();
    let (_, keys) = e.get(&e.key, "/v1/keys").await;
    let a_key_id = keys["keys"][0]["id"].clone();
    let b = e.workspace("b").await;
    let (status, b_conn) = e
        .post(&b, "/v1/connections", json!({"kind": "client_credentials"}))
        .await;
    assert_eq!(status, 201, "{b_conn}");

    use reqwest::Method as M;
    let matrix: Vec<(M, String, Value)> = vec![
        (M::GET, format!("/v1/connections/{a_conn}"), Value::Null),
        (
            M::PATCH,
            format!("/v1/connections/{a_conn}"),
            json!({"daily_share": 0.5}),
        ),
        (
            M::PATCH,
            format!("/v1/connections/{a_conn}"),
            json!({"default": true}),
        ),
        (M::POST, format!("/v1/connections/{a_conn}/test"), json!({})),
        (
            M::POST,
            format!("/v1/connections/{a_conn}/reconnect"),
            json!({}),
        ),
        (M::DELETE, format!("/v1/connections/{a_conn}"), Value::Null),
        (M::POST, "/v1/calls".into(), json!({"connection": a_conn})),
        (
            M::POST,
            format!("/v1/calls/{a_call}/actions/search_contact"),
            json!({"arguments": {"search_term": "Johnson"}}),
        ),
        (M::POST, format!("/v1/calls/{a_call}/end"), json!({})),
        (M::DELETE, format!("/v1/keys/{a_key_id}"), Value::Null),
        (
            M::POST,
            "/v1/connections/link".into(),
            json!({"connection": a_conn}),
        ),
    ];
    for (method, path, body) in &matrix {
        let mut req = e
            .http
            .request(method.clone(), format!("{}{path}", e.base))
            .bearer_auth(&b);
        if !body.is_null() {
            req = req.json(body);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status == 404 || status == 400,
            "{method} {path}: {status} {text}"
        );
        let a_org = e
            .started
            .devorg
            .as_ref()
            .expect("embedded")
            .org
            .instance_url();
        assert!(!text.contains(a_org), "{method} {path}: {text}");
    }
    // Lists show only B's own.
    let (_, list) = e.get(&b, "/v1/connections").await;
    let ids: Vec<&str> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b_conn["id"].as_str().unwrap()]);
    let (_, keys) = e.get(&b, "/v1/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    // A's things are intact.
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{a_conn}")).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["limits"]["daily_share"], Value::Null);
    assert_eq!(c["default"], true);
    let (status, _) = e
        .post(
            &e.key,
            &format!("/v1/calls/{a_call}/actions/search_contact"),
            json!({"arguments": {"search_term": "Johnson"}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = e.get(&e.key, "/v1/tools").await;
    assert_eq!(status, 200, "A's key still works");
    // Each audit log holds its own workspace's changes only; B's refused attempts left none.
    let b_key_id = keys["keys"][0]["id"].as_i64().unwrap();
    assert_eq!(
        changes_of(&e, &b).await,
        [(
            "connection.connected".to_owned(),
            format!("api-key:{b_key_id}")
        )]
    );
    let system = |k: &str| (k.to_owned(), "system".to_owned());
    assert_eq!(
        changes_of(&e, &e.key).await,
        [
            system("config.workspace.create"),
            system("connection.connected"),
            system("config.key.create")
        ]
    );
    let (_, b_config) = e.get(&b, "/v1/audit?kind=config.").await;
    assert_eq!(b_config["entries"], json!([]), "{b_config}");
    // A call id may be reused across workspaces without clashing.
    let (status, _) = e.post(&b, "/v1/calls", json!({"call_id": a_call})).await;
    assert_eq!(status, 201);
}

/// A shared buffer the test's log lines are written to.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_in_plain_text_in_the_database_the_logs_or_the_api() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let org = callforce_devorg::Config {
        rotate_refresh_tokens: true,
        ..callforce_devorg::Config::default()
    };
    let e = env_with(org, |_| {}).await;
    let ws = e.started.workspace;
    let mut secrets: Vec<String> = Vec::new();
    let link = e.link(&e.key, json!({"profile": "privileged"})).await;
    let (_, page) = connect_in_browser(&link).await;
    let id = connection_id(&page);
    let remember = |s: Secrets, out: &mut Vec<String>| {
        out.extend(s.access_token.clone());
        out.extend(s.refresh_token.clone());
        out.extend(s.client_secret.clone());
        out.extend(
            s.jwt_key_pem
                .clone()
                .map(|p| p.lines().nth(1).unwrap_or("").to_owned()),
        );
    };
    remember(e.secrets(ws, &id).await, &mut secrets);
    let expire = format!("{}/devorg/sessions/expire", e.org.org.instance_url());
    for _ in 0..3 {
        e.http.post(&expire).send().await.unwrap();
        e.post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
            .await;
        remember(e.secrets(ws, &id).await, &mut secrets);
    }
    let (pem, cert) = rsa_key_and_certificate();
    e.http
        .put(format!(
            "{}/devorg/connected-app/certificate",
            e.org.org.instance_url()
        ))
        .body(cert)
        .send()
        .await
        .unwrap();
    let (_, jwt) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "jwt", "username": "dev@callforce.local", "private_key": pem}),
        )
        .await;
    let jwt_id = jwt["id"].as_str().unwrap().to_owned();
    remember(e.secrets(ws, &jwt_id).await, &mut secrets);
    let embedded = e.started.registry.get(ws, None).unwrap().id();
    remember(e.secrets(ws, &embedded).await, &mut secrets);
    secrets.push(e.key.clone());
    secrets.push("callforce-devorg-secret".into());
    secrets.retain(|s| s.len() >= 8);
    assert!(secrets.len() >= 8, "tokens to look for: {}", secrets.len());

    let (_, list) = e.get(&e.key, "/v1/connections").await;
    let (_, audit) = e.get(&e.key, "/v1/audit?limit=1000").await;
    assert!(
        audit["entries"].as_array().is_some_and(|a| a.len() >= 4),
        "the connects and tests are in the audit log: {audit}"
    );
    let api_text = format!("{list}{audit}");
    let log_text = String::from_utf8(logs.0.lock().clone()).unwrap();
    assert!(log_text.contains("org connected"), "logs were captured");
    let mut files = Vec::new();
    for f in std::fs::read_dir(e.dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("callforce.db"))
        {
            files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    assert!(!files.is_empty());
    for s in &secrets {
        assert!(!log_text.contains(s.as_str()), "a secret in the logs");
        assert!(!api_text.contains(s.as_str()), "a secret in the API");
        for (name, bytes) in &files {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a secret in plain text in {name}"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_master_key_stops_the_service_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = |key: Option<&str>| {
        let mut c = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
        c.master_key = key.map(|k| secrecy::SecretString::from(k.to_owned()));
        c
    };
    let right = callforce_app::vault::MasterKey::generate()
        .to_base64()
        .to_string();
    let first = start(config(Some(&right))).await.expect("starts");
    first.task.abort();
    let again = start(config(Some(&right)))
        .await
        .expect("the same key starts");
    again.task.abort();
    let wrong = callforce_app::vault::MasterKey::generate()
        .to_base64()
        .to_string();
    let err = start(config(Some(&wrong))).await.err().expect("refused");
    assert!(format!("{err:#}").contains("wrong master key"), "{err:#}");
    // Without the key, the key file is missing: refused too, saying what to do.
    let err = start(config(None)).await.err().expect("refused");
    assert!(format!("{err:#}").contains("master key"), "{err:#}");
    let err = start(config(Some("not-a-key")))
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("CALLFORCE_MASTER_KEY"),
        "{err:#}"
    );
}

/// The kinds and actors of the workspace's configuration and connection entries, in order.
async fn changes_of(e: &Env, key: &str) -> Vec<(String, String)> {
    let (status, log) = e.get(key, "/v1/audit?limit=1000").await;
    assert_eq!(status, 200, "{log}");
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|x| callforce_app::changes::KINDS.contains(&x["kind"].as_str().unwrap_or("")))
        .map(|x| {
            (
                x["kind"].as_str().unwrap_or("").to_owned(),
                x["agent"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_and_connection_event_is_audited_once_by_its_actor_without_secrets() {
    let e = env().await;
    let ws = e.started.workspace;
    let store = e.started.registry.store().clone();
    let admin = format!("api-key:{}", store.list_api_keys(ws).await.unwrap()[0].id.0);
    let mut secrets: Vec<String> = vec![e.key.clone(), "callforce-devorg-secret".into()];

    // Agents and custom actions.
    let (status, b) = e
        .send_json(
            reqwest::Method::PUT,
            "/v1/agents/aria",
            json!({"actions": ["search_contact"]}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    let (status, _) = e
        .send(reqwest::Method::DELETE, &e.key, "/v1/agents/aria")
        .await;
    assert_eq!(status, 200);
    let action = json!({
        "description": "Find a contact by email", "method": "GET", "object": "Contact",
        "endpoint": "/services/data/v59.0/query/?q=SELECT Id FROM Contact WHERE Email = '{{email}}'",
        "parameters": [{"name": "email", "location": "query", "required": true}]
    });
    let (status, b) = e
        .send_json(reqwest::Method::PUT, "/v1/actions/find_by_email", action)
        .await;
    assert_eq!(status, 200, "{b}");
    let (status, _) = e
        .send(reqwest::Method::DELETE, &e.key, "/v1/actions/find_by_email")
        .await;
    assert_eq!(status, 200);
    // A refused change is not audited.
    let (status, _) = e
        .send(reqwest::Method::DELETE, &e.key, "/v1/agents/nobody")
        .await;
    assert_eq!(status, 404);

    // Intents: one activated by the admin, then a broken one deactivated by the service.
    let (status, b) = e
        .send_json(
            reqwest::Method::PUT,
            "/v1/intents",
            json!({"qualified": "Lead.Status"}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    store
        .put_intent_map(
            ws,
            r#"{"qualified": "Lead.No_Such_Field__c"}"#,
            true,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (status, b) = e.post(&e.key, "/v1/intents/recheck", json!({})).await;
    assert_eq!(status, 200, "{b}");

    // Keys.
    let (status, k) = e.post(&e.key, "/v1/keys", json!({"name": "voice"})).await;
    assert_eq!(status, 201, "{k}");
    secrets.push(k["key"].as_str().unwrap().to_owned());
    let (status, _) = e
        .send(
            reqwest::Method::DELETE,
            &e.key,
            &format!("/v1/keys/{}", k["id"]),
        )
        .await;
    assert_eq!(status, 200);

    // A connection: connected, settings changed, refused at the org, reconnected, disconnected.
    let link = e.link(&e.key, json!({"environment": "sandbox"})).await;
    let (_, page) = connect_in_browser(&link).await;
    let id = connection_id(&page);
    let s = e.secrets(ws, &id).await;
    secrets.extend(s.access_token.clone());
    let refresh = s.refresh_token.clone().expect("refresh token");
    secrets.push(refresh.clone());
    let (status, b) = e
        .send_json(
            reqwest::Method::PATCH,
            &format!("/v1/connections/{id}"),
            json!({"daily_share": 0.5, "name": "sales sandbox"}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    e.http
        .post(format!(
            "{}/services/oauth2/revoke",
            e.org.org.instance_url()
        ))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    let (status, _) = e
        .post(&e.key, &format!("/v1/connections/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 409);
    let (status, r) = e
        .post(
            &e.key,
            &format!("/v1/connections/{id}/reconnect"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let (status, _) = connect_in_browser(r["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let s = e.secrets(ws, &id).await;
    secrets.extend(s.access_token.clone());
    secrets.extend(s.refresh_token.clone());
    let (status, _) = e
        .send(
            reqwest::Method::DELETE,
            &e.key,
            &format!("/v1/connections/{id}"),
        )
        .await;
    assert_eq!(status, 200);

    // The master key rotated from the command line.
    let source = callforce_app::vault::KeySource::from(None, e.dir.path()).unwrap();
    let old_key = std::fs::read(e.dir.path().join("master.key")).unwrap();
    let vault = callforce_app::vault::Vault::unlock(&store, &source)
        .await
        .unwrap();
    vault
        .rotate(&store, &source, None, callforce_app::changes::Actor::Cli)
        .await
        .unwrap();
    let new_key = std::fs::read(e.dir.path().join("master.key")).unwrap();
    assert_ne!(old_key, new_key);

    let (system, cli) = ("system".to_owned(), "cli".to_owned());
    let want: Vec<(&str, &String)> = vec![
        ("config.workspace.create", &system),
        ("connection.connected", &system),
        ("config.key.create", &system),
        ("config.agent.put", &admin),
        ("config.agent.delete", &admin),
        ("config.action.put", &admin),
        ("config.action.delete", &admin),
        ("config.intents.put", &admin),
        ("config.intents.deactivate", &system),
        ("config.key.create", &admin),
        ("config.key.revoke", &admin),
        ("connection.connected", &admin),
        ("config.connection.settings", &admin),
        ("connection.needs_reauth", &system),
        ("connection.tested", &admin),
        ("connection.reconnected", &admin),
        ("connection.disconnected", &admin),
        ("vault.key_rotated", &cli),
    ];
    let got = changes_of(&e, &e.key).await;
    let got_ref: Vec<(&str, &String)> = got.iter().map(|(k, a)| (k.as_str(), a)).collect();
    assert_eq!(got_ref, want);
    // Every kind but the one made at `callforce workspace create` (tests/it/cli.rs) is here.
    for kind in callforce_app::changes::KINDS {
        let n = got.iter().filter(|(k, _)| k == kind).count();
        let expected = match *kind {
            "config.key.create" | "connection.connected" => 2,
            _ => 1,
        };
        assert_eq!(n, expected, "{kind}");
    }

    // What the entries say, and what they never say.
    let (_, log) = e.get(&e.key, "/v1/audit?kind=connection.&limit=1000").await;
    let entries = log["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|x| x["kind"].as_str().unwrap().starts_with("connection."))
    );
    let settings = e.get(&e.key, "/v1/audit?kind=config.connection.").await.1;
    assert_eq!(
        settings["entries"][0]["request"]["before"]["daily_share"],
        Value::Null
    );
    assert_eq!(
        settings["entries"][0]["request"]["after"],
        json!({"name": "sales sandbox", "default": false, "daily_share": 0.5, "max_concurrent": null})
    );
    let tested = &entries
        .iter()
        .find(|x| x["kind"] == "connection.tested")
        .unwrap();
    assert_eq!(tested["response"]["ok"], false, "{tested}");
    assert_eq!(tested["response"]["code"], "needs_reauth", "{tested}");
    let rotated = e.get(&e.key, "/v1/audit?kind=vault.").await.1;
    assert_eq!(rotated["entries"][0]["request"]["key_version"], 2);
    assert_eq!(
        rotated["entries"][0]["request"]["connections"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "the embedded org's connection and the disconnected one: {rotated}"
    );
    let (_, all) = e.get(&e.key, "/v1/audit?limit=1000").await;
    let text = all.to_string();
    let stored = format!(
        "{:?}",
        store.list_audit(ws, &Default::default()).await.unwrap()
    );
    secrets.retain(|s| s.len() >= 8);
    assert!(secrets.len() >= 6, "secrets to look for: {}", secrets.len());
    for s in secrets
        .iter()
        .map(String::as_str)
        .chain([hex(&old_key).as_str(), hex(&new_key).as_str()])
    {
        assert!(!text.contains(s), "a secret in the audit log: {s}");
        assert!(!stored.contains(s), "a secret in the stored audit log");
    }
    for raw in [&old_key, &new_key] {
        let raw = String::from_utf8_lossy(raw).trim().to_owned();
        assert!(!text.contains(&raw) && !stored.contains(&raw));
    }

    // The chain still verifies.
    let (_, verdict) = e.get(&e.key, "/v1/audit/verify").await;
    assert_eq!(verdict["verdict"], "intact", "{verdict}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn a_change_made_with_the_environment_key_is_audited_as_api_key_env() {
    let env_key = "cf_0123456789abcdef0123456789abcdef0123456789abcdef";
    let org = spawn_org(callforce_devorg::Config::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    config.login_host_override = Some(org.org.instance_url().to_owned());
    config.api_key = Some(env_key.to_owned());
    let started = start(config).await.expect("serve starts");
    let e = Env {
        base: format!("http://{}", started.addr),
        started,
        dir,
        org,
        key: env_key.to_owned(),
        http: client(),
    };
    let (status, b) = e
        .send_json(reqwest::Method::PUT, "/v1/agents/aria", json!({}))
        .await;
    assert_eq!(status, 200, "{b}");
    let got = changes_of(&e, env_key).await;
    assert_eq!(
        got.last(),
        Some(&("config.agent.put".to_owned(), "api-key:env".to_owned()))
    );
    // No key was made at this first start: the environment's key is the admin's.
    assert!(
        !got.iter().any(|(k, _)| k == "config.key.create"),
        "{got:?}"
    );
    assert!(
        !e.get(env_key, "/v1/audit")
            .await
            .1
            .to_string()
            .contains(env_key)
    );
}
