//! Every OAuth flow against the dev org's login pages and token endpoint.

use callforce_client::auth::{Authorization, Pkce};
use callforce_client::{
    Connection, Error, ExposeSecret, Grant, JwtKey, OAuthClient, SecretString, Tokens,
};

use crate::{app, base, config, connect, get, org, password_grant, stats};

/// Fills in the dev org's login form as a person would and returns the callback's query.
async fn log_in(r: &callforce_devorg::Running, auth: &Authorization) -> Vec<(String, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&auth.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let query = url::Url::parse(&auth.url)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let c = r.org.config();
    let resp = http
        .post(format!("{}/services/oauth2/authorize?{query}", base(r)))
        .form(&[
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
            ("action", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> &'a str {
    q.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The web-server flow from the authorize URL to a working connection.
pub async fn web_server_tokens(r: &callforce_devorg::Running) -> Tokens {
    let oauth = OAuthClient::new(
        callforce_client::LoginHost::Url(base(r)),
        app(r),
        &callforce_client::HttpPool::shared(),
    )
    .unwrap();
    let auth = oauth.authorize_url(&["api", "refresh_token"]).unwrap();
    let q = log_in(r, &auth).await;
    assert!(
        auth.state_matches(param(&q, "state")),
        "state must come back unchanged"
    );
    oauth
        .exchange_code(param(&q, "code"), &auth.pkce)
        .await
        .unwrap()
}

#[tokio::test]
async fn web_server_flow_with_pkce_and_state_gives_working_tokens() {
    let r = org().await;
    let tokens = web_server_tokens(&r).await;
    assert!(
        tokens.refresh_token.is_some(),
        "refresh_token scope gives a refresh token"
    );
    assert_eq!(tokens.instance_url, base(&r));
    assert!(tokens.issued_at.is_some());
    let conn = Connection::new(config(&r), tokens, Grant::None).unwrap();
    let limits = get(&conn, "/limits").await.unwrap();
    assert!(limits["DailyApiRequests"]["Max"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn code_exchange_with_the_wrong_verifier_is_refused() {
    let r = org().await;
    let oauth = OAuthClient::new(
        callforce_client::LoginHost::Url(base(&r)),
        app(&r),
        &callforce_client::HttpPool::shared(),
    )
    .unwrap();
    let auth = oauth.authorize_url(&[]).unwrap();
    let q = log_in(&r, &auth).await;
    let err = oauth
        .exchange_code(param(&q, "code"), &Pkce::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { status: 400, error, .. } if error == "invalid_request"),
        "{err:?}"
    );
}

#[tokio::test]
async fn jwt_bearer_with_a_registered_certificate_logs_in() {
    let r = org().await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["callforce-test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let put = reqwest::Client::new()
        .put(format!("{}/devorg/connected-app/certificate", base(&r)))
        .body(cert.pem())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let jwt_key = JwtKey::from_pem(key.serialize_pem().as_bytes()).unwrap();
    let grant = Grant::JwtBearer {
        username: r.org.config().username.clone(),
        key: jwt_key.clone(),
        audience: None,
    };
    let conn = Connection::login(config(&r), grant).await.unwrap();
    get(&conn, "/limits").await.unwrap();

    // Another user is refused, and so is another key.
    let other = Grant::JwtBearer {
        username: "nobody@example.com".into(),
        key: jwt_key,
        audience: None,
    };
    let err = Connection::login(config(&r), other).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let wrong_key = Grant::JwtBearer {
        username: r.org.config().username.clone(),
        key: JwtKey::from_pem(stranger.serialize_pem().as_bytes()).unwrap(),
        audience: None,
    };
    let err = Connection::login(config(&r), wrong_key).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_credentials_flow_logs_in() {
    let r = org().await;
    let conn = Connection::login(config(&r), Grant::ClientCredentials)
        .await
        .unwrap();
    get(&conn, "/limits").await.unwrap();
}

#[tokio::test]
async fn password_flow_logs_in_and_a_wrong_password_is_refused() {
    let r = org().await;
    let conn = connect(&r).await;
    get(&conn, "/limits").await.unwrap();
    let bad = Grant::Password {
        username: r.org.config().username.clone(),
        password: SecretString::from("wrong".to_owned()),
    };
    let err = Connection::login(config(&r), bad).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, description, .. }
            if error == "invalid_grant" && description == "authentication failure"),
        "{err:?}"
    );
}

#[tokio::test]
async fn userinfo_names_the_dev_user_and_revoke_ends_the_token() {
    let r = org().await;
    let oauth = OAuthClient::new(
        callforce_client::LoginHost::Url(base(&r)),
        app(&r),
        &callforce_client::HttpPool::shared(),
    )
    .unwrap();
    let tokens = oauth.grant(&password_grant(&r)).await.unwrap();
    let info = oauth
        .userinfo(&base(&r), &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(info.user_id, r.org.dev_user_id().to_string());
    assert_eq!(info.organization_id, r.org.org_id().to_string());
    oauth.revoke(&tokens.access_token).await.unwrap();
    let err = oauth
        .userinfo(&base(&r), &tokens.access_token)
        .await
        .unwrap_err();
    // Salesforce's userinfo answers a dead token with 403 `Bad_OAuth_Token`.
    assert_eq!(err.status(), Some(403), "{err:?}");
    let err = oauth.revoke(&tokens.access_token).await.unwrap_err();
    assert!(matches!(err, Error::OAuth { status: 400, .. }), "{err:?}");
    assert!(!format!("{err:?} {err}").contains(tokens.access_token.expose_secret()));
}

#[tokio::test]
async fn the_connection_knows_its_user_from_the_token_answer_or_userinfo() {
    let r = org().await;
    let dev_user = r.org.dev_user_id().to_string();
    // From the identity URL of the token answer: no request.
    let conn = connect(&r).await;
    let before = conn.round_trips();
    assert_eq!(&*conn.user_id().await.unwrap(), dev_user);
    assert_eq!(conn.round_trips(), before);
    // Stored tokens without the identity URL: asked of userinfo once, then remembered.
    let oauth = OAuthClient::new(
        callforce_client::LoginHost::Url(base(&r)),
        app(&r),
        &callforce_client::HttpPool::shared(),
    )
    .unwrap();
    let mut tokens: Tokens = oauth.grant(&password_grant(&r)).await.unwrap();
    tokens.id = String::new();
    let conn = Connection::new(config(&r), tokens, password_grant(&r)).unwrap();
    assert!(conn.tokens().user_id().is_none());
    assert_eq!(&*conn.user_id().await.unwrap(), dev_user);
    assert_eq!(conn.tokens().user_id().as_deref(), Some(dev_user.as_str()));
}

#[tokio::test]
async fn versions_are_discovered_and_warm_opens_the_connection_without_spending_allowance() {
    let r = org().await;
    let conn = connect(&r).await;
    let before = stats(&r).await["apiRequests"].as_u64().unwrap();
    conn.warm().await.unwrap();
    let versions = conn.versions().await.unwrap();
    assert!(
        versions
            .iter()
            .any(|v| v.version == "59.0" && v.url == "/services/data/v59.0")
    );
    assert_eq!(stats(&r).await["apiRequests"].as_u64().unwrap(), before);
    assert_eq!(conn.version().to_string(), "v59.0");
}
