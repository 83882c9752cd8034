//! End-to-end tests of the actions against a dev org over real sockets.

mod bad_input;
mod confirm;
mod conversation;
mod custom;
mod errors;
mod misheard;
mod templates;
mod tools;

use callforce_actions::{ActionError, Actions, CallSession, CallVars, Catalog};
use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, SecretString,
};
use callforce_devorg::{Config, DevOrg, Running};
use serde_json::Value;

/// A dev org with the demo data on 127.0.0.1 (ephemeral port).
pub async fn org() -> Running {
    let org = DevOrg::new(Config::default()).expect("dev org");
    callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("spawn")
}

/// A connection logged in with the password grant of the dev user.
pub async fn connect(r: &Running) -> Connection {
    let c = r.org.config();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: Some("http://127.0.0.1:9/callback".into()),
    };
    let mut config = ConnectionConfig::new(LoginHost::Url(format!("http://{}", r.addr)), app);
    config.pool = Some(HttpPool::new(HttpConfig::default()));
    let grant = Grant::Password {
        username: c.username.clone(),
        password: SecretString::from(c.password.clone()),
    };
    Connection::login(config, grant).await.expect("login")
}

/// A dev org, the catalog with the custom examples bound to it, and a call from `phone`.
pub async fn setup(phone: &str) -> (Running, Actions, CallSession) {
    let r = org().await;
    let conn = connect(&r).await;
    let actions = Actions::new(conn, Catalog::with_examples());
    let call = CallSession::new(CallVars {
        call_id: "call-test-1".into(),
        caller_phone: Some(phone.into()),
        agent: Some("agent-7".into()),
        ..CallVars::default()
    });
    (r, actions, call)
}

/// Runs an action that must succeed; one that asks for confirmation is confirmed with its token.
pub async fn ok(actions: &Actions, call: &mut CallSession, name: &str, args: Value) -> Value {
    let first = match actions.run(call, name, args.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{name} failed: {}", e.to_json()),
    };
    let Some(token) = first["confirmation_required"]["token"].as_str() else {
        return first;
    };
    let mut args = if args.is_null() {
        serde_json::json!({})
    } else {
        args
    };
    args["confirmation_token"] = Value::from(token);
    match actions.run(call, name, args).await {
        Ok(v) => v,
        Err(e) => panic!("{name} failed after confirmation: {}", e.to_json()),
    }
}

/// Runs an action that must fail.
pub async fn err(
    actions: &Actions,
    call: &mut CallSession,
    name: &str,
    args: Value,
) -> ActionError {
    let first = match actions.run(call, name, args.clone()).await {
        Ok(v) => v,
        Err(e) => return e,
    };
    // A write that asks for confirmation is confirmed: then it must fail.
    let Some(token) = first["confirmation_required"]["token"].as_str() else {
        panic!("{name} should have failed but returned {first}");
    };
    let mut args = if args.is_null() {
        serde_json::json!({})
    } else {
        args
    };
    args["confirmation_token"] = Value::from(token);
    match actions.run(call, name, args).await {
        Ok(v) => panic!("{name} should have failed after confirmation but returned {v}"),
        Err(e) => e,
    }
}

/// The id in a result (`id`).
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// The id of the one record a SOQL query finds.
pub async fn one_id(actions: &Actions, soql: &str) -> String {
    let r = actions
        .connection()
        .query::<callforce_client::Record>(soql)
        .await
        .expect("query");
    r.records
        .first()
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("nothing for {soql}"))
        .to_owned()
}
