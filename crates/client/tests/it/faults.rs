//! Faults the dev org cannot make, from wiremock: a proxy's HTML 502, a slow answer, a
//! truncated JSON body, a refused connection; and the dev org's own 503.

use std::time::Duration;

use callforce_client::{
    Class, Connection, ConnectionConfig, Error, ErrorBody, Grant, HttpConfig, HttpPool,
    HttpRequest, LoginHost, Method, OAuthApp, Phase, Tokens,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn tokens(instance: &str) -> Tokens {
    serde_json::from_value(serde_json::json!({
        "access_token": "00Dfake!token",
        "instance_url": instance,
        "id": format!("{instance}/id/00D/005"),
    }))
    .unwrap()
}

fn conn(server: &MockServer, request_timeout: Duration) -> Connection {
    let mut cfg = ConnectionConfig::new(
        LoginHost::Url(server.uri()),
        OAuthApp {
            client_id: "id".into(),
            client_secret: None,
            redirect_uri: None,
        },
    );
    cfg.pool = Some(HttpPool::new(HttpConfig {
        request_timeout,
        ..HttpConfig::default()
    }));
    Connection::new(cfg, tokens(&server.uri()), Grant::None).unwrap()
}

fn req(m: Method, p: &str, body: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: m,
        path: format!("/services/data/v59.0{p}"),
        query: vec![],
        headers: vec![],
        body: body.map(|b| b.as_bytes().to_vec()),
    }
}

#[tokio::test]
async fn an_html_502_from_a_proxy_keeps_its_status_and_text_and_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>"),
        )
        .mount(&server)
        .await;
    let err = conn(&server, Duration::from_secs(5))
        .send(&req(Method::Get, "/limits", None))
        .await
        .unwrap_err();
    match &err {
        Error::Api {
            status: 502,
            body: ErrorBody::Text(t),
            request,
        } => {
            assert!(t.contains("502 Bad Gateway"));
            assert_eq!(request.path, "/services/data/v59.0/limits");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), Class::Retryable);
}

#[tokio::test]
async fn a_slow_answer_times_out_ambiguous_for_a_write_retryable_for_a_read() {
    let server = MockServer::start().await;
    Mock::given(path("/services/data/v59.0/sobjects/Account"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let c = conn(&server, Duration::from_millis(200));
    let err = c
        .send(&req(
            Method::Post,
            "/sobjects/Account",
            Some(r#"{"Name":"x"}"#),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                phase: Phase::Sent { write: true },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), Class::Ambiguous);
    let err = c
        .send(&req(Method::Get, "/sobjects/Account", None))
        .await
        .unwrap_err();
    assert_eq!(err.class(), Class::Retryable, "{err:?}");
}

#[tokio::test]
async fn a_truncated_json_answer_is_a_decode_error_ambiguous_for_a_write() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("content-type", "application/json;charset=UTF-8")
                .set_body_string(r#"{"id":"001xx000003DGb2AAG","succ"#),
        )
        .mount(&server)
        .await;
    let c = conn(&server, Duration::from_secs(5));
    let resp = c
        .send(&req(Method::Post, "/sobjects/Account", Some("{}")))
        .await
        .unwrap();
    let err = resp.json().unwrap_err();
    assert!(matches!(err, Error::Decode { status: 201, .. }), "{err:?}");
    assert_eq!(err.class(), Class::Ambiguous);
}

#[tokio::test]
async fn a_refused_connection_was_never_sent_and_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let instance = format!("http://{addr}");
    let mut cfg = ConnectionConfig::new(
        LoginHost::Url(instance.clone()),
        OAuthApp {
            client_id: "id".into(),
            client_secret: None,
            redirect_uri: None,
        },
    );
    cfg.pool = Some(HttpPool::new(HttpConfig::default()));
    let c = Connection::new(cfg, tokens(&instance), Grant::None).unwrap();
    let err = c
        .send(&req(Method::Post, "/sobjects/Account", Some("{}")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                phase: Phase::NotSent,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), Class::Retryable);
}

#[tokio::test]
async fn a_limit_answer_never_triggers_a_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let err = conn(&server, Duration::from_secs(5))
        .send(&req(Method::Get, "/limits", None))
        .await
        .unwrap_err();
    assert_eq!(err.class(), Class::Limit, "{err:?}");
}

#[tokio::test]
async fn the_dev_orgs_injected_503_is_retryable() {
    let r = crate::org().await;
    let c = crate::connect(&r).await;
    let resp = reqwest::Client::new()
        .put(format!("{}/devorg/faults", crate::base(&r)))
        .json(&serde_json::json!({"rules": [{"kind": "unavailable", "count": 1}]}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let err = crate::get(&c, "/limits").await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(err.class(), Class::Retryable);
    crate::get(&c, "/limits").await.unwrap();
}

/// Puts `rules` in force at the dev org.
async fn inject(r: &callforce_devorg::Running, rules: serde_json::Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/devorg/faults", crate::base(r)))
        .json(&serde_json::json!({ "rules": rules }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn reads_under_an_injected_503_lock_error_or_dropped_connection_succeed_after_a_retry() {
    let r = crate::org().await;
    let c = crate::connect(&r).await;
    for kind in ["unavailable", "unable_to_lock_row", "server_error", "drop"] {
        inject(
            &r,
            serde_json::json!([{"kind": kind, "count": 1, "method": "GET"}]),
        )
        .await;
        let before = c.round_trips();
        let rows = c
            .query::<callforce_client::Record>("SELECT Id FROM Account LIMIT 1")
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(rows.records.len(), 1, "{kind}");
        assert_eq!(
            c.round_trips() - before,
            2,
            "{kind}: one failure, one retry"
        );
    }
    // Every read path: a record by id, a search, a raw GET.
    let rows = c
        .query::<callforce_client::Record>("SELECT Id FROM Account LIMIT 1")
        .await
        .unwrap();
    let id = callforce_client::Id::parse(rows.records[0]["Id"].as_str().unwrap()).unwrap();
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 1}])).await;
    c.get("Account", id, &["Name"]).await.expect("get");
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 1}])).await;
    c.search("FIND {Acme} IN NAME FIELDS RETURNING Account(Id)")
        .await
        .expect("search");
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 1}])).await;
    c.raw(callforce_client::RawRequest {
        method: Method::Get,
        path: "limits".into(),
        query: vec![],
        headers: vec![],
        body: None,
    })
    .await
    .expect("raw GET");
}

#[tokio::test]
async fn a_read_is_retried_twice_at_most_and_a_write_or_a_permanent_failure_never() {
    let r = crate::org().await;
    let c = crate::connect(&r).await;
    // Three 503s in a row: the first try and two retries fail; the failure is returned.
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 3}])).await;
    let before = c.round_trips();
    let err = c.limits().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(c.round_trips() - before, 3);
    // A write is one try: the queue decides about writes.
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 1}])).await;
    let before = c.round_trips();
    let mut rec = callforce_client::Record::new();
    rec.insert("Name".into(), "Not retried".into());
    let err = c.create("Account", rec).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(c.round_trips() - before, 1);
    // A malformed query is permanent: one try.
    let before = c.round_trips();
    let err = c
        .query::<callforce_client::Record>("SELECT Nope FROM Account")
        .await
        .unwrap_err();
    assert_eq!(err.class(), Class::Permanent, "{err:?}");
    assert_eq!(c.round_trips() - before, 1);
}

#[tokio::test]
async fn with_no_read_budget_a_read_is_one_try() {
    let r = crate::org().await;
    let mut config = crate::config(&r);
    config.read_budget = Duration::ZERO;
    let c = Connection::login(config, crate::password_grant(&r))
        .await
        .expect("login");
    inject(&r, serde_json::json!([{"kind": "unavailable", "count": 1}])).await;
    let err = c.limits().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    c.limits().await.expect("the next read");
}
