//! OAuth: every grant, PKCE, JWT bearer, revoke, sessions, identity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callforce_devorg::Config;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::{base, http, password_login, spawn, spawn_with, token};

async fn post_token(r: &callforce_devorg::Running, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/services/oauth2/token", base(r)))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

async fn limits_status(r: &callforce_devorg::Running, token: &str) -> (u16, Value) {
    let resp = http()
        .get(format!("{}/services/data/v59.0/limits", base(r)))
        .bearer_auth(token)
        .send()
        .await
        .expect("limits request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn password_grant_answers_salesforce_token_json_in_order() {
    let r = spawn().await;
    let t = password_login(&r).await;
    let keys: Vec<&str> = t
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "signature",
            "scope",
            "instance_url",
            "id",
            "token_type",
            "issued_at"
        ]
    );
    let access = t["access_token"].as_str().unwrap_or_default();
    assert!(
        access.starts_with(&format!("{}!", r.org.org_id().as_15())),
        "{access}"
    );
    assert_eq!(t["instance_url"], base(&r));
    assert_eq!(t["id"], r.org.identity_url());
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "api");
    let issued_at = t["issued_at"].as_str().expect("issued_at is a string");
    assert!(issued_at.parse::<u64>().expect("digits") > 1_600_000_000_000);
    let expected = callforce_devorg::oauth::token::signature(
        &r.org.config().client_secret,
        t["id"].as_str().unwrap_or_default(),
        issued_at,
    );
    assert_eq!(t["signature"], expected);
}

#[tokio::test]
async fn password_grant_accepts_the_security_token_appended() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let with_token = format!("{}{}", c.password, c.security_token);
    let (status, _) = post_token(
        &r,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", &c.username),
            ("password", &with_token),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn token_errors_use_salesforce_codes() {
    let r = spawn().await;
    let c = r.org.config().clone();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("username", &c.username),
                ("password", "wrong"),
            ],
            "invalid_grant",
            "authentication failure",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "nope"),
                ("client_secret", &c.client_secret),
                ("username", &c.username),
                ("password", &c.password),
            ],
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &c.client_id),
                ("client_secret", "nope"),
                ("username", &c.username),
                ("password", &c.password),
            ],
            "invalid_client",
            "invalid client credentials",
        ),
        (
            vec![("grant_type", "bogus")],
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (vec![], "invalid_request", "grant type is missing"),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", &c.client_id),
                ("refresh_token", "5Aep861nope"),
            ],
            "invalid_grant",
            "expired access/refresh token",
        ),
    ];
    for (form, error, description) in cases {
        let (status, body) = post_token(&r, &form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(body["error"], error, "{form:?}");
        assert_eq!(body["error_description"], description, "{form:?}");
    }
}

#[tokio::test]
async fn token_answer_honours_format_urlencoded() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let resp = http()
        .post(format!(
            "{}/services/oauth2/token?format=urlencoded",
            base(&r)
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert!(text.starts_with("access_token=00D"), "{text}");
    assert!(text.contains("&token_type=Bearer&"), "{text}");
}

#[tokio::test]
async fn client_credentials_accepts_http_basic() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let resp = http()
        .post(format!("{}/services/oauth2/token", base(&r)))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.expect("json");
    assert!(t.get("refresh_token").is_none());
    let (status, _) = limits_status(&r, t["access_token"].as_str().unwrap_or_default()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn versioned_routes_need_a_live_session_but_the_versions_list_does_not() {
    let r = spawn().await;
    let url = format!("{}/services/data/v59.0/limits", base(&r));
    for auth in [None, Some("Bearer 00Dbogus!x")] {
        let mut req = http().get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("sforce-limit-info"));
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            body,
            serde_json::json!([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])
        );
    }
    let resp = http()
        .get(format!("{}/services/data", base(&r)))
        .send()
        .await
        .expect("request");
    assert_ne!(resp.status(), 401);
    assert!(!resp.headers().contains_key("sforce-limit-info"));
}

#[tokio::test]
async fn expiring_sessions_gives_401_and_refresh_still_works() {
    let r = spawn().await;
    let (code_tokens, _) = web_server_flow(&r, Some("api refresh_token")).await;
    let access = code_tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = code_tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert_eq!(limits_status(&r, &access).await.0, 200);
    let resp = http()
        .post(format!("{}/devorg/sessions/expire", base(&r)))
        .send()
        .await
        .expect("expire");
    assert_eq!(resp.status(), 200);
    let (status, body) = limits_status(&r, &access).await;
    assert_eq!(status, 401);
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");

    let c = r.org.config().clone();
    let (status, t) = post_token(
        &r,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(
        t.get("refresh_token").is_none(),
        "no rotation by default: {t}"
    );
    assert_eq!(t["scope"], "api refresh_token");
    assert_eq!(
        limits_status(&r, t["access_token"].as_str().unwrap_or_default())
            .await
            .0,
        200
    );
    let stats: Value = http()
        .get(format!("{}/devorg/stats", base(&r)))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["refreshes"], 1);
    assert_eq!(stats["logins"], 1);
}

#[tokio::test]
async fn a_zero_session_timeout_makes_tokens_expire_at_once() {
    let r = spawn_with(Config {
        session_timeout: std::time::Duration::ZERO,
        ..Config::default()
    })
    .await;
    let t = token(&r).await;
    assert_eq!(limits_status(&r, &t).await.0, 401);
}

#[tokio::test]
async fn rotation_replaces_the_refresh_token_and_retires_the_old_one() {
    let r = spawn_with(Config {
        rotate_refresh_tokens: true,
        ..Config::default()
    })
    .await;
    let (t, _) = web_server_flow(&r, None).await;
    let old = t["refresh_token"].as_str().expect("refresh").to_owned();
    let c = r.org.config().clone();
    let form = |rt: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), c.client_id.clone()),
            ("refresh_token".to_owned(), rt.to_owned()),
        ]
    };
    let resp: Value = http()
        .post(format!("{}/services/oauth2/token", base(&r)))
        .form(&form(&old))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    let new = resp["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    assert_ne!(new, old);
    let again = http()
        .post(format!("{}/services/oauth2/token", base(&r)))
        .form(&form(&old))
        .send()
        .await
        .expect("refresh");
    assert_eq!(again.status(), 400);
    let ok = http()
        .post(format!("{}/services/oauth2/token", base(&r)))
        .form(&form(new))
        .send()
        .await
        .expect("refresh");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_token_without_api_scope_is_refused_on_rest() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let (status, t) = post_token(
        &r,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", &c.username),
            ("password", &c.password),
            ("scope", "id"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = limits_status(&r, t["access_token"].as_str().unwrap_or_default()).await;
    assert_eq!(status, 401);
    assert_eq!(
        body[0]["message"],
        "This session is not valid for use with the REST API"
    );
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("v{}", "x".repeat(50));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// GETs the authorize page and POSTs the form with `action`; returns the `Location` query pairs.
async fn authorize(
    r: &callforce_devorg::Running,
    scope: Option<&str>,
    challenge: &str,
    action: &str,
    password: &str,
) -> Result<Vec<(String, String)>, String> {
    let c = r.org.config().clone();
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "st&te 1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(s) = scope {
        q.push(("scope", s));
    }
    let page = http()
        .get(format!("{}/services/oauth2/authorize", base(r)))
        .query(&q)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("name=\"password\""));
    assert!(
        html.contains("value=\"st&amp;te 1\""),
        "state is escaped into the form"
    );
    let mut form = q.clone();
    form.extend([
        ("username", c.username.as_str()),
        ("password", password),
        ("action", action),
    ]);
    let resp = http()
        .post(format!("{}/services/oauth2/authorize", base(r)))
        .form(&form)
        .send()
        .await
        .expect("submit");
    if resp.status() != 302 {
        return Err(resp.text().await.unwrap_or_default());
    }
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let query = location
        .strip_prefix(&format!("{REDIRECT}?"))
        .expect("redirects to the redirect_uri");
    Ok(url_pairs(query))
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let dec = |s: &str| {
                let s = s.replace('+', " ");
                let mut out = Vec::new();
                let b = s.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'%' && i + 2 < b.len() + 1 {
                        let h = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex");
                        out.push(h);
                        i += 3;
                    } else {
                        out.push(b[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).expect("utf8")
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
}

/// The whole web-server flow with PKCE; returns the token answer and the verifier used.
async fn web_server_flow(r: &callforce_devorg::Running, scope: Option<&str>) -> (Value, String) {
    let (verifier, challenge) = pkce();
    let c = r.org.config().clone();
    let pairs = authorize(r, scope, &challenge, "allow", &c.password)
        .await
        .expect("redirect");
    let code = get(&pairs, "code").expect("code").to_owned();
    let (status, t) = post_token(
        r,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    (t, verifier)
}

#[tokio::test]
async fn web_server_flow_with_pkce_issues_tokens_once_per_code() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let (verifier, challenge) = pkce();
    let pairs = authorize(&r, None, &challenge, "allow", &c.password)
        .await
        .expect("redirect");
    assert_eq!(get(&pairs, "state"), Some("st&te 1"));
    let code = get(&pairs, "code").expect("code").to_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, t) = post_token(&r, &form).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "api refresh_token offline_access");
    assert!(
        t["refresh_token"]
            .as_str()
            .is_some_and(|s| s.starts_with("5Aep861"))
    );
    let (status, again) = post_token(&r, &form).await;
    assert_eq!(status, 400, "a code works once");
    assert_eq!(again["error"], "invalid_grant");
}

#[tokio::test]
async fn web_server_flow_rejects_a_wrong_or_missing_verifier() {
    let r = spawn().await;
    let c = r.org.config().clone();
    let (_, challenge) = pkce();
    for (verifier, error) in [
        (Some("wrong-verifier"), "invalid_request"),
        (None, "invalid_grant"),
    ] {
        let pairs = authorize(&r, None, &challenge, "allow", &c.password)
            .await
            .expect("redirect");
        let code = get(&pairs, "code").expect("code").to_owned();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (status, body) = post_token(&r, &form).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], error, "{verifier:?}: {body}");
    }
}

#[tokio::test]
async fn authorize_page_denies_and_re_asks_on_wrong_password() {
    let r = spawn().await;
    let (_, challenge) = pkce();
    let denied = authorize(&r, None, &challenge, "deny", "")
        .await
        .expect("redirect");
    assert_eq!(get(&denied, "error"), Some("access_denied"));
    assert_eq!(
        get(&denied, "error_description"),
        Some("end-user denied authorization")
    );
    assert_eq!(get(&denied, "state"), Some("st&te 1"));
    let page = authorize(&r, None, &challenge, "allow", "wrong")
        .await
        .expect_err("no redirect");
    assert!(page.contains("check your username and password"), "{page}");
}

#[tokio::test]
async fn authorize_refuses_unknown_clients_and_foreign_redirects_without_redirecting() {
    let r = spawn().await;
    let c = r.org.config().clone();
    for (client, redirect) in [
        ("nope", REDIRECT),
        (c.client_id.as_str(), "https://evil.example/cb"),
    ] {
        let resp = http()
            .get(format!("{}/services/oauth2/authorize", base(&r)))
            .query(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
            ])
            .send()
            .await
            .expect("page");
        assert_eq!(resp.status(), 400, "{client} {redirect}");
        assert!(resp.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_access_tokens() {
    let r = spawn().await;
    let (t, _) = web_server_flow(&r, None).await;
    let access = t["access_token"].as_str().unwrap_or_default().to_owned();
    let refresh = t["refresh_token"].as_str().unwrap_or_default().to_owned();
    let resp = http()
        .post(format!("{}/services/oauth2/revoke", base(&r)))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    assert_eq!(limits_status(&r, &access).await.0, 401);
    let resp = http()
        .get(format!("{}/services/oauth2/revoke", base(&r)))
        .query(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke again");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"error":"unsupported_token_type","error_description":"this token type is not supported"})
    );
}

#[tokio::test]
async fn revoking_an_access_token_ends_it() {
    let r = spawn().await;
    let t = token(&r).await;
    let resp = http()
        .get(format!("{}/services/oauth2/revoke", base(&r)))
        .query(&[("token", t.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    assert_eq!(limits_status(&r, &t).await.0, 401);
}

#[tokio::test]
async fn userinfo_and_identity_url_describe_the_dev_user() {
    let r = spawn().await;
    let t = token(&r).await;
    let info: Value = http()
        .get(format!("{}/services/oauth2/userinfo", base(&r)))
        .bearer_auth(&t)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"], r.org.identity_url());
    assert_eq!(info["organization_id"], r.org.org_id().to_string());
    assert_eq!(info["preferred_username"], r.org.config().username);
    assert!(
        info["urls"]["rest"]
            .as_str()
            .is_some_and(|u| u.contains("/services/data/v{version}/"))
    );
    let id: Value = http()
        .get(r.org.identity_url())
        .query(&[("format", "json"), ("oauth_token", t.as_str())])
        .send()
        .await
        .expect("identity")
        .json()
        .await
        .expect("json");
    assert_eq!(id["id"], r.org.identity_url());
    assert_eq!(id["user_id"], r.org.dev_user_id().to_string());
    assert_eq!(id["username"], r.org.config().username);
    assert!(id["photos"]["picture"].is_string());
    let bad = http()
        .get(r.org.identity_url())
        .send()
        .await
        .expect("identity");
    assert_eq!(bad.status(), 403);
}

mod jwt {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    fn rsa_cert() -> (rcgen::KeyPair, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let params =
            rcgen::CertificateParams::new(vec!["callforce-jwt".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (key, cert.pem())
    }

    fn assertion(key: &rcgen::KeyPair, iss: &str, sub: &str, aud: &str, exp_in: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"iss": iss, "sub": sub, "aud": aud, "exp": now + exp_in});
        let k = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).expect("encoding key");
        encode(&Header::new(Algorithm::RS256), &claims, &k).expect("sign")
    }

    async fn exchange(r: &callforce_devorg::Running, jwt: &str) -> (u16, Value) {
        post_token(
            r,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", jwt),
            ],
        )
        .await
    }

    #[tokio::test]
    async fn jwt_bearer_grant_checks_the_registered_certificate() {
        let r = spawn().await;
        let c = r.org.config().clone();
        let (key, pem) = rsa_cert();
        let good = assertion(
            &key,
            &c.client_id,
            &c.username,
            "https://login.salesforce.com",
            300,
        );
        let (status, body) = exchange(&r, &good).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "no certificate yet"
        );

        let resp = http()
            .put(format!("{}/devorg/connected-app/certificate", base(&r)))
            .body(pem)
            .send()
            .await
            .expect("register");
        assert_eq!(resp.status(), 204);
        let (status, t) = exchange(&r, &good).await;
        assert_eq!(status, 200, "{t}");
        assert!(t.get("refresh_token").is_none());
        assert_eq!(
            limits_status(&r, t["access_token"].as_str().unwrap_or_default())
                .await
                .0,
            200
        );

        let own = assertion(&key, &c.client_id, &c.username, &base(&r), 300);
        assert_eq!(
            exchange(&r, &own).await.0,
            200,
            "the org's own URL is a valid audience"
        );

        let (other, _) = rsa_cert();
        let cases = [
            (
                assertion(
                    &other,
                    &c.client_id,
                    &c.username,
                    "https://login.salesforce.com",
                    300,
                ),
                "invalid_grant",
            ),
            (
                assertion(
                    &key,
                    &c.client_id,
                    &c.username,
                    "https://elsewhere.example",
                    300,
                ),
                "invalid_grant",
            ),
            (
                assertion(
                    &key,
                    &c.client_id,
                    &c.username,
                    "https://test.salesforce.com",
                    -3600,
                ),
                "invalid_grant",
            ),
            (
                assertion(
                    &key,
                    "other-client",
                    &c.username,
                    "https://login.salesforce.com",
                    300,
                ),
                "invalid_client_id",
            ),
            (
                assertion(
                    &key,
                    &c.client_id,
                    "someone@else",
                    "https://login.salesforce.com",
                    300,
                ),
                "invalid_grant",
            ),
            ("not.a.jwt".to_owned(), "invalid_grant"),
        ];
        for (jwt, error) in cases {
            let (status, body) = exchange(&r, &jwt).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], error, "{body}");
        }
    }

    #[tokio::test]
    async fn a_certificate_that_is_not_pem_is_refused() {
        let r = spawn().await;
        let resp = http()
            .put(format!("{}/devorg/connected-app/certificate", base(&r)))
            .body("hello")
            .send()
            .await
            .expect("register");
        assert_eq!(resp.status(), 400);
    }
}
