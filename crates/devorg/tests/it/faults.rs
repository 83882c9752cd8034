//! Injected latency and failures, and TLS.

use serde_json::{Value, json};

use crate::harness::{any_port, base, http, spawn, token};

async fn put_faults(r: &callforce_devorg::Running, spec: Value) -> reqwest::Response {
    http()
        .put(format!("{}/devorg/faults", base(r)))
        .json(&spec)
        .send()
        .await
        .expect("put faults")
}

async fn counters(r: &callforce_devorg::Running) -> Value {
    let v: Value = http()
        .get(format!("{}/devorg/faults", base(r)))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    v["counters"].clone()
}

#[tokio::test]
async fn a_count_of_503s_then_success() {
    let r = spawn().await;
    let t = token(&r).await;
    let resp = put_faults(
        &r,
        json!({"rules":[{"kind":"unavailable","count":2,"path":"/services/data/*/limits"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let url = format!("{}/services/data/v59.0/limits", base(&r));
    for _ in 0..2 {
        let resp = http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .expect("limits");
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("sforce-limit-info"));
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body[0]["errorCode"], "SERVER_UNAVAILABLE");
    }
    let ok = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(ok.status(), 200);
    assert_eq!(counters(&r).await["unavailable"], 2);
}

#[tokio::test]
async fn server_errors_and_lock_errors_have_salesforce_bodies() {
    let r = spawn().await;
    let t = token(&r).await;
    let url = format!("{}/services/data/v59.0/limits", base(&r));
    put_faults(
        &r,
        json!({"rules":[{"kind":"server_error","probability":1.0}]}),
    )
    .await;
    let resp = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "UNKNOWN_EXCEPTION");
    assert!(body[0]["message"].as_str().unwrap_or_default().starts_with(
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
    ));
    put_faults(
        &r,
        json!({"rules":[{"kind":"unable_to_lock_row","count":1,"method":"GET"}]}),
    )
    .await;
    let resp = http()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("limits");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!([{"message":"unable to obtain exclusive access to this record or 1 records","errorCode":"UNABLE_TO_LOCK_ROW"}])
    );
    let cleared = http()
        .delete(format!("{}/devorg/faults", base(&r)))
        .send()
        .await
        .expect("delete");
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .expect("limits")
            .status(),
        200
    );
}

#[tokio::test]
async fn latency_is_applied_to_matching_requests() {
    let r = spawn().await;
    put_faults(
        &r,
        json!({"latency":{"min_ms":1,"max_ms":3,"path":"/services/oauth2/*"}}),
    )
    .await;
    let _ = token(&r).await;
    let _ = token(&r).await;
    assert_eq!(counters(&r).await["delayed"], 2);
}

#[tokio::test]
async fn an_invalid_fault_spec_is_refused() {
    let r = spawn().await;
    let resp = put_faults(&r, json!({"rules":[{"kind":"drop","probability":2.0}]})).await;
    assert_eq!(resp.status(), 400);
    let resp = put_faults(&r, json!({"rules":[{"kind":"explode","count":1}]})).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_dropped_connection_is_an_error_for_the_client() {
    let r = spawn().await;
    let t = token(&r).await;
    put_faults(&r, json!({"rules":[{"kind":"drop","count":1}]})).await;
    let url = format!("{}/services/data/v59.0/limits", base(&r));
    let err = http().get(&url).bearer_auth(&t).send().await;
    assert!(err.is_err(), "no response expected: {err:?}");
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .expect("limits")
            .status(),
        200
    );
    assert_eq!(counters(&r).await["drop"], 1);
}

// NB: record routes are not served yet, so commit-then-drop is shown on a write route of the
// org's own: resetting the API counter.
#[tokio::test]
async fn commit_then_drop_applies_the_write_but_answers_nothing() {
    let r = spawn().await;
    let set = http()
        .put(format!("{}/devorg/limits", base(&r)))
        .json(&json!({"used": 7}))
        .send()
        .await
        .expect("set");
    assert_eq!(set.status(), 200);
    put_faults(&r, json!({"rules":[{"kind":"commit_then_drop","count":1,"method":"POST","path":"/devorg/limits/reset"}]})).await;
    let err = http()
        .post(format!("{}/devorg/limits/reset", base(&r)))
        .send()
        .await;
    assert!(err.is_err(), "no response expected: {err:?}");
    let usage: Value = http()
        .get(format!("{}/devorg/limits", base(&r)))
        .send()
        .await
        .expect("limits")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["used"], 0, "the reset was applied");
}

#[tokio::test]
async fn tls_serves_https_with_a_certificate_the_ca_file_vouches_for() {
    let org = callforce_devorg::DevOrg::new(callforce_devorg::Config::default()).expect("org");
    let r = callforce_devorg::spawn_tls(org, any_port())
        .await
        .expect("tls");
    assert!(base(&r).starts_with("https://127.0.0.1:"));
    let ca_path = r.ca_cert.clone().expect("ca path");
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(&ca_path).expect("ca file")).expect("pem");
    let trusted = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    let c = r.org.config().clone();
    for host in [base(&r), base(&r).replace("127.0.0.1", "localhost")] {
        let resp = trusted
            .post(format!("{host}/services/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
            ])
            .send()
            .await
            .expect("https request");
        assert_eq!(resp.status(), 200);
        let t: Value = resp.json().await.expect("json");
        assert!(
            t["instance_url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://"))
        );
    }
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .expect("client");
    assert!(
        untrusting
            .get(format!("{}/services/data", base(&r)))
            .send()
            .await
            .is_err()
    );
}
