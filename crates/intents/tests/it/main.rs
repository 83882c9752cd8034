//! Integration tests of intents against the dev org over real sockets: auto-mapping the demo
//! schema's custom fields, the check with deliberate mistakes, intents compiled and executed
//! (one write, one composite) with the values read back, and the re-check after a schema change.

mod automap;
mod check;
mod run;

use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, SecretString,
};
use callforce_devorg::{Config, DevOrg, Running};

/// A dev org with `config` on 127.0.0.1 (ephemeral port).
pub async fn org_with(config: Config) -> Running {
    let org = DevOrg::new(config).expect("dev org");
    callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn")
}

/// A dev org with the demo schema and records.
pub async fn org() -> Running {
    org_with(Config::default()).await
}

/// A connection logged in as the dev user.
pub async fn connect(r: &Running) -> Connection {
    let c = r.org.config();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: Some("http://127.0.0.1:9/callback".into()),
    };
    let mut cfg = ConnectionConfig::new(LoginHost::Url(format!("http://{}", r.addr)), app);
    cfg.pool = Some(HttpPool::new(HttpConfig::default()));
    let grant = Grant::Password {
        username: c.username.clone(),
        password: SecretString::from(c.password.clone()),
    };
    Connection::login(cfg, grant).await.expect("login")
}

/// The first record of a SOQL query.
pub async fn first(conn: &Connection, soql: &str) -> serde_json::Map<String, serde_json::Value> {
    let r: callforce_client::QueryResult = conn.query(soql).await.expect("query");
    r.records.into_iter().next().expect("a record")
}
