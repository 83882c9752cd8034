//! A non-blocking write never waits on the org: after a restart with the org unreachable, with
//! a slow org, and on a connection the org stopped authorising, a `log_call` is acknowledged
//! queued (checked against the describe kept in the store) and lands once the org can take it.
//! And a connection the org stopped authorising answers `needs_reauth`, as documented; a read
//! that meets a 503, a lock error or a dropped connection is retried within the mid-call budget.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::connect::{Env, connect_in_browser, connection_id, env};
use crate::queue::{Api, eventually, org_conn, service, tasks};
use callforce::serve::{ServeConfig, start};

/// Replaces the dev org's faults with `spec` (`null`: none).
async fn faults(e: &Env, spec: Value) {
    let url = format!("{}/devorg/faults", e.org.org.instance_url());
    let r = if spec.is_null() {
        e.http.delete(url).send().await
    } else {
        e.http.put(url).json(&spec).send().await
    }
    .expect("faults");
    assert!(r.status().is_success(), "{}", r.status());
}

/// What the dev org has been asked so far: API requests, logins and refreshes.
async fn asked(e: &Env) -> (u64, u64, u64) {
    let s: Value = e
        .http
        .get(format!("{}/devorg/stats", e.org.org.instance_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    (n("apiRequests"), n("logins"), n("refreshes"))
}

/// A client-credentials connection to the test's org; returns its id.
async fn connect_org(e: &Env) -> String {
    let (status, c) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "client_credentials", "environment": "production"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    c["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_log_call_after_a_restart_with_the_org_unreachable_is_queued_and_lands_once_it_is_back() {
    let e = env().await;
    let id = connect_org(&e).await;
    // The org cannot be reached (every request to it has its connection closed unanswered),
    // and the service restarts (a new registry from the store).
    faults(
        &e,
        json!({"rules": [{"kind": "drop", "probability": 1.0, "path": "/services/*"}]}),
    )
    .await;
    e.started.task.abort();
    let mut config = ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        e.dir.path().to_owned(),
    );
    config.login_host_override = Some(e.org.org.instance_url().to_owned());
    let again = start(config).await.expect("restarts");
    let api = Api::of(&again, &e.key);
    let call = api.call(Some(&id)).await;
    // The connection holds the Task describe kept in the store, though the org cannot be asked.
    let live = again
        .registry
        .get_any(again.workspace, &id)
        .expect("loaded");
    let task = live.actions.connection().held_describe("Task");
    assert!(
        task.is_some_and(|d| d.field("CallDisposition").is_some()),
        "the stored Task describe was handed to the connection"
    );
    let reference = api.log_call(&call, "Logged while the org was down").await;
    // The org is back: the write lands, once.
    faults(&e, Value::Null).await;
    eventually("the write landed", || async {
        (api.job(&reference).await["status"] == "done").then_some(())
    })
    .await;
    let org = org_conn(&e.org.org).await;
    assert_eq!(tasks(&org, "Logged while the org was down").await, 1);
}

#[tokio::test]
async fn a_log_call_is_acknowledged_without_asking_a_slow_org_anything() {
    let e = env().await;
    let id = connect_org(&e).await;
    let api = Api::of(&e.started, &e.key);
    let call = api.call(Some(&id)).await;
    // The queue holds the write, so nothing but the agent's path could ask the org; and the
    // org takes 20 s to answer anything.
    let (store, ws) = (e.started.registry.store(), e.started.workspace);
    store
        .pause_connection(ws, &id, chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .await
        .expect("pause");
    faults(
        &e,
        json!({"latency": {"fixed_ms": 20_000, "path": "/services/*"}}),
    )
    .await;
    let before = asked(&e).await;
    let reference = api.log_call(&call, "Acknowledged at once").await;
    assert_eq!(asked(&e).await, before, "the org was asked something");
    // The org answers quickly again and the queue goes on: the write lands.
    faults(&e, Value::Null).await;
    e.started
        .registry
        .resume_queue(ws, &id)
        .await
        .expect("resume");
    eventually("the write landed", || async {
        (api.job(&reference).await["status"] == "done").then_some(())
    })
    .await;
    let org = org_conn(&e.org.org).await;
    assert_eq!(tasks(&org, "Acknowledged at once").await, 1);
}

#[tokio::test]
async fn a_revoked_connection_answers_needs_reauth_and_its_log_call_is_queued_and_lands_after_the_reconnect()
 {
    let e = env().await;
    let api = Api::of(&e.started, &e.key);
    let link = e
        .link(
            &e.key,
            json!({"environment": "sandbox", "profile": "standard"}),
        )
        .await;
    let (_, page) = connect_in_browser(&link).await;
    let id = connection_id(&page);
    let call = api.call(Some(&id)).await;
    // The org revokes the grant (its access tokens end with it).
    let refresh = e
        .secrets(e.started.workspace, &id)
        .await
        .refresh_token
        .clone()
        .expect("refresh token");
    let r = e
        .http
        .post(format!(
            "{}/services/oauth2/revoke",
            e.org.org.instance_url()
        ))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    // The read that meets the refused grant, and every one after it, answers as documented.
    for _ in 0..2 {
        let (status, v) = api
            .send(
                reqwest::Method::POST,
                &format!("/v1/calls/{call}/actions/search_contact"),
                Some(json!({"arguments": {"search_term": "Acme"}})),
            )
            .await;
        assert_eq!(status, 503, "{v}");
        assert_eq!(v["error"]["code"], "needs_reauth", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("connect"),
            "{v}"
        );
    }
    let (_, c) = e.get(&e.key, &format!("/v1/connections/{id}")).await;
    assert_eq!(c["status"], "needs_reauth", "{c}");
    // The call's last write is not lost: it is queued, and waits.
    let reference = api.log_call(&call, "Logged after the revocation").await;
    assert_eq!(api.job(&reference).await["status"], "queued");
    // A reconnect: it lands, once.
    let (status, r) = e
        .post(
            &e.key,
            &format!("/v1/connections/{id}/reconnect"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let (status, page) = connect_in_browser(r["url"].as_str().expect("url")).await;
    assert_eq!(status, 200, "{page}");
    eventually("the write landed", || async {
        (api.job(&reference).await["status"] == "done").then_some(())
    })
    .await;
    let org = org_conn(&e.org.org).await;
    assert_eq!(tasks(&org, "Logged after the revocation").await, 1);
}

#[tokio::test]
async fn reads_under_injected_503s_lock_errors_and_dropped_connections_succeed_after_a_retry() {
    let (started, _dir) = service().await;
    let api = Api::of(&started, "k");
    let call = api.call(None).await;
    let org = started
        .devorg
        .as_ref()
        .expect("embedded org")
        .org
        .instance_url()
        .to_owned();
    let http = reqwest::Client::new();
    let run = |name: &'static str, arguments: Value| {
        let api = &api;
        let call = call.clone();
        async move {
            api.send(
                reqwest::Method::POST,
                &format!("/v1/calls/{call}/actions/{name}"),
                Some(json!({ "arguments": arguments })),
            )
            .await
        }
    };
    let (status, found) = run("search_contact", json!({"search_term": "+15551234567"})).await;
    assert_eq!(status, 200, "{found}");
    let id = found["result"]["records"][0]["Id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    // Once without faults: the Contact describe is cached, so each fault meets the read itself.
    let (status, v) = run("get_contact", json!({"record_id": id})).await;
    assert_eq!(status, 200, "{v}");
    for kind in ["unavailable", "unable_to_lock_row", "drop"] {
        let r = http
            .put(format!("{org}/devorg/faults"))
            .json(&json!({"rules": [{"kind": kind, "count": 1, "method": "GET"}]}))
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success());
        let (status, v) = run("get_contact", json!({"record_id": id})).await;
        assert_eq!(status, 200, "{kind}: {v}");
        assert_eq!(v["result"]["Id"].as_str(), Some(id.as_str()), "{kind}: {v}");
        let f: Value = http
            .get(format!("{org}/devorg/faults"))
            .send()
            .await
            .expect("faults")
            .json()
            .await
            .expect("json");
        assert!(
            f["counters"][kind].as_u64().unwrap_or(0) >= 1,
            "{kind}: the fault was met: {f}"
        );
    }
}
