//! Integration tests of the client against the dev org over real sockets (and wiremock for the
//! faults the dev org cannot make).

mod auth;
mod composite;
mod faults;
mod query;
mod records;
mod tls;
mod tokens;

use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, SecretString,
};
use callforce_devorg::{Config, DevOrg, Running};

/// A dev org with `config`, serving on 127.0.0.1 (ephemeral port).
pub async fn org_with(config: Config) -> Running {
    let org = DevOrg::new(config).expect("dev org");
    callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn")
}

/// A dev org with the default configuration.
pub async fn org() -> Running {
    org_with(Config::default()).await
}

/// The dev org's base URL.
pub fn base(r: &Running) -> String {
    format!("http://{}", r.addr)
}

/// The connected app of the dev org.
pub fn app(r: &Running) -> OAuthApp {
    let c = r.org.config();
    OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: Some("http://127.0.0.1:9/callback".into()),
    }
}

/// A connection configuration for the dev org, with its own HTTP pool.
pub fn config(r: &Running) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(LoginHost::Url(base(r)), app(r));
    c.pool = Some(HttpPool::new(HttpConfig::default()));
    c
}

/// The password grant of the dev user.
pub fn password_grant(r: &Running) -> Grant {
    let c = r.org.config();
    Grant::Password {
        username: c.username.clone(),
        password: SecretString::from(c.password.clone()),
    }
}

/// A connection logged in with the password grant.
pub async fn connect(r: &Running) -> Connection {
    Connection::login(config(r), password_grant(r))
        .await
        .expect("login")
}

/// `GET /devorg/stats` as JSON.
pub async fn stats(r: &Running) -> serde_json::Value {
    reqwest::get(format!("{}/devorg/stats", base(r)))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json")
}

/// `POST /devorg/sessions/expire`: every access token stops working.
pub async fn expire_sessions(r: &Running) {
    let resp = reqwest::Client::new()
        .post(format!("{}/devorg/sessions/expire", base(r)))
        .send()
        .await
        .expect("expire");
    assert_eq!(resp.status(), 200);
}

/// An authenticated `GET <base path><rest>` through the connection.
pub async fn get(conn: &Connection, rest: &str) -> callforce_client::Result<serde_json::Value> {
    let req = callforce_client::HttpRequest {
        method: callforce_client::Method::Get,
        path: format!("{}{rest}", conn.base_path()),
        query: vec![],
        headers: vec![],
        body: None,
    };
    conn.send(&req).await?.json()
}
