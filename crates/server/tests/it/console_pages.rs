//! The console's Connections, Dead letters, Jobs and Settings pages over real sockets: every
//! route needs a session and every change its CSRF token (a route matrix), a session sees only
//! its workspace, and each page's changes go through the core and land in the audit log with
//! the session's key as actor; no secret reaches a page.

use std::net::SocketAddr;

use callforce::serve::{ServeConfig, Started, start};
use callforce_store::{AuditFilter, DefinitionKind, NewJob, WorkspaceId};
use chrono::TimeDelta;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use secrecy::ExposeSecret;
use serde_json::json;

use super::console::{browser, csrf, sign_in};

struct Console {
    started: Started,
    base: String,
    http: reqwest::Client,
    /// The first start's key (a stored key of the default workspace).
    key: String,
    /// The embedded dev org's connection.
    conn: String,
    _dir: tempfile::TempDir,
}

/// The agent and custom action the fixture's workspace has.
const MATRIX_AGENT: &str = "matrix-agent";
const MATRIX_ACTION: &str = "matrix_action";

async fn console() -> Console {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let key = started.api_key.clone().expect("first key");
    let conn = started
        .registry
        .store()
        .list_connections(started.workspace)
        .await
        .expect("connections")
        .first()
        .expect("the embedded org")
        .id
        .clone();
    // An agent and a custom action of the workspace, for the Agents and actions routes.
    let admin = callforce_app::Caller {
        workspace: started.workspace,
        key: None,
    };
    let workspaces = started.api.workspaces();
    workspaces
        .put_agent(&admin, MATRIX_AGENT, br#"{"actions": ["search_contact"]}"#)
        .await
        .expect("agent");
    let action = json!({"description": "Contacts by name.", "method": "GET", "endpoint": "/services/data/v59.0/query/?q=SELECT+Id+FROM+Contact+WHERE+LastName='{{n}}'", "parameters": [{"name": "n", "location": "query"}]});
    workspaces
        .put_action(&admin, MATRIX_ACTION, action.to_string().as_bytes())
        .await
        .expect("custom action");
    Console {
        base: format!("http://{}", started.addr),
        started,
        http: browser(),
        key,
        conn,
        _dir: dir,
    }
}

impl Console {
    fn store(&self) -> &callforce_store::Store {
        self.started.registry.store()
    }

    async fn get(&self, session: Option<&str>, path: &str) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = session {
            req = req.header(COOKIE, format!("cf_session={s}"));
        }
        req.send().await.expect("get")
    }

    async fn html(&self, session: &str, path: &str) -> (StatusCode, String) {
        let resp = self.get(Some(session), path).await;
        (resp.status(), resp.text().await.expect("html"))
    }

    async fn post(
        &self,
        session: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(s) = session {
            req = req.header(COOKIE, format!("cf_session={s}"));
        }
        req.send().await.expect("post")
    }

    /// The session's CSRF token, as its pages carry it.
    async fn token(&self, session: &str) -> String {
        csrf(&self.html(session, "/settings").await.1)
    }

    /// A write job of `ws` that failed for good, on a connection no worker holds (so a replay
    /// stays queued); its dead letter's id.
    async fn dead(&self, ws: WorkspaceId, key: &str, call: &str) -> i64 {
        let store = self.store();
        let now = chrono::Utc::now();
        let job = NewJob {
            workspace: ws,
            connection_id: "conn-elsewhere".into(),
            idempotency_key: key.into(),
            ordering_key: format!("Task:{key}"),
            kind: "write".into(),
            payload: json!({"action": "log_call", "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Broken"}}})
                .to_string(),
            call_id: Some(call.into()),
            agent: Some("aria".into()),
            run_at: now,
        };
        let id = store.enqueue(&job, now).await.expect("enqueue").id;
        let leased = store
            .lease("test", now, TimeDelta::seconds(30), 100)
            .await
            .expect("lease");
        assert!(leased.iter().any(|j| j.id == id));
        store
            .dead(
                id,
                "test",
                now,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is wrong",
            )
            .await
            .expect("dead")
            .0
    }
}

/// A form post: its path and fields.
type Post = (String, Vec<(&'static str, String)>);

/// The routes of the pages: every GET, and every POST with the form it takes.
fn routes(conn: &str, dl: i64, key: i64) -> (Vec<String>, Vec<Post>) {
    let gets = vec![
        "/connections".to_owned(),
        format!("/connections/{conn}"),
        format!("/connections/{conn}/disconnect"),
        "/deadletters".to_owned(),
        "/deadletters?status=open".to_owned(),
        format!("/deadletters/{dl}"),
        format!("/deadletters/{dl}/discard"),
        "/jobs".to_owned(),
        "/settings".to_owned(),
        format!("/settings/keys/{key}/revoke"),
        "/agents".to_owned(),
        format!("/agents/{MATRIX_AGENT}"),
        format!("/agents/{MATRIX_AGENT}/delete"),
        "/actions".to_owned(),
        "/actions/new".to_owned(),
        format!("/actions/{MATRIX_ACTION}"),
        format!("/actions/{MATRIX_ACTION}/delete"),
        "/audit".to_owned(),
        "/audit?kind=config.&before=3".to_owned(),
        "/intents".to_owned(),
    ];
    let posts = vec![
        ("/connections/link".to_owned(), vec![("environment", "production".to_owned())]),
        (format!("/connections/{conn}/test"), vec![]),
        (format!("/connections/{conn}/reconnect"), vec![]),
        (
            format!("/connections/{conn}/limits"),
            vec![("daily_share", "0.5".to_owned()), ("max_concurrent", "3".to_owned())],
        ),
        (format!("/connections/{conn}/disconnect"), vec![("confirm", "yes".to_owned())]),
        ("/deadletters/replay".to_owned(), vec![("call_id", "call-a".to_owned())]),
        ("/deadletters/replay-selected".to_owned(), vec![("id", dl.to_string())]),
        (
            format!("/deadletters/{dl}/payload"),
            vec![("payload", r#"{"action": "log_call", "request": {"op": "delete", "sobject": "Task", "id": "00T000000000001AAA"}}"#.to_owned())],
        ),
        (format!("/deadletters/{dl}/replay"), vec![]),
        (format!("/deadletters/{dl}/discard"), vec![("confirm", "yes".to_owned())]),
        ("/settings/keys".to_owned(), vec![("name", "sneaky".to_owned())]),
        (format!("/settings/keys/{key}/revoke"), vec![("confirm", "yes".to_owned())]),
        ("/agents".to_owned(), vec![("name", "sneaky".to_owned())]),
        (
            format!("/agents/{MATRIX_AGENT}/policy"),
            vec![("all_actions", "yes".to_owned())],
        ),
        (format!("/agents/{MATRIX_AGENT}/delete"), vec![("confirm", "yes".to_owned())]),
        (
            "/actions".to_owned(),
            vec![
                ("name", "sneaky".to_owned()),
                ("method", "GET".to_owned()),
                ("endpoint", "/services/data/v59.0/limits".to_owned()),
            ],
        ),
        (
            format!("/actions/{MATRIX_ACTION}/definition"),
            vec![
                ("method", "DELETE".to_owned()),
                ("endpoint", "/services/data/v59.0/sobjects/Contact/{{n}}".to_owned()),
            ],
        ),
        (
            format!("/actions/{MATRIX_ACTION}/try"),
            vec![("arguments", r#"{"n": "Johnson"}"#.to_owned())],
        ),
        (format!("/actions/{MATRIX_ACTION}/delete"), vec![("confirm", "yes".to_owned())]),
        ("/audit/verify".to_owned(), vec![]),
        (
            "/settings/alert-webhook".to_owned(),
            vec![("alert_webhook", "http://127.0.0.1:9/hook".to_owned())],
        ),
        ("/settings/test-alert".to_owned(), vec![]),
        ("/settings/retention".to_owned(), vec![("retention_days", "3".to_owned())]),
        ("/settings/alerts/1/acknowledge".to_owned(), vec![]),
        (
            "/intents".to_owned(),
            vec![("map", r#"{"qualified": "Lead.Status"}"#.to_owned())],
        ),
        (
            "/intents/check".to_owned(),
            vec![("map", r#"{"qualified": "Lead.Status"}"#.to_owned()), ("connection", conn.to_owned())],
        ),
        ("/intents/recheck".to_owned(), vec![]),
    ];
    (gets, posts)
}

/// What the routes could change, to see that nothing did.
async fn state(c: &Console, ws: WorkspaceId) -> String {
    let store = c.store();
    let conns = store.list_connections(ws).await.expect("connections");
    let conns: Vec<_> = conns
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.status.as_str(),
                c.daily_share,
                c.max_concurrent,
            )
        })
        .collect();
    let dls = store
        .list_dead_letters(ws, &Default::default())
        .await
        .expect("dead letters");
    let dls: Vec<_> = dls
        .iter()
        .map(|d| (d.id, d.status, d.payload.clone()))
        .collect();
    let keys = store.list_api_keys(ws).await.expect("keys");
    let keys: Vec<_> = keys.iter().map(|k| (k.id, k.revoked_at)).collect();
    let mut definitions = Vec::new();
    for kind in [DefinitionKind::Agent, DefinitionKind::CustomAction] {
        for d in store.definitions(kind, ws).await.expect("definitions") {
            definitions.push((d.name, d.definition));
        }
    }
    let settings = store.workspace_settings(ws).await.expect("settings");
    let alerts = store.list_alerts(ws, 100).await.expect("alerts");
    let alerts: Vec<_> = alerts.iter().map(|a| (a.id, a.acknowledged_at)).collect();
    let intents = store
        .intent_map(ws)
        .await
        .expect("intent map")
        .map(|m| (m.map, m.active));
    format!("{conns:?} {dls:?} {keys:?} {definitions:?} {settings:?} {alerts:?} {intents:?}")
}

#[tokio::test]
async fn every_console_page_needs_a_session_and_every_change_its_csrf_token() {
    let c = console().await;
    let ws = c.started.workspace;
    let dl = c.dead(ws, "a/log_call/0", "call-a").await;
    let key_id = c.store().list_api_keys(ws).await.expect("keys")[0].id.0;
    let (gets, posts) = routes(&c.conn, dl, key_id);
    let before = state(&c, ws).await;

    // Without a session (none, or a forged one), every route sends the browser to sign in.
    for session in [None, Some("forged")] {
        for path in &gets {
            let resp = c.get(session, path).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "GET {path}");
            assert_eq!(resp.headers()[LOCATION], "/sign-in", "GET {path}");
        }
        for (path, form) in &posts {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let resp = c.post(session, path, &form).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "POST {path}");
            assert_eq!(resp.headers()[LOCATION], "/sign-in", "POST {path}");
        }
    }

    // With a session, every page answers, marks itself in the navigation, and shows no secret.
    let session = sign_in(&c.http, &c.base, &c.key).await;
    let org = c
        .started
        .devorg
        .as_ref()
        .expect("embedded org")
        .org
        .config();
    for path in &gets {
        let (status, html) = c.html(&session, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {html}");
        assert_eq!(
            html.matches("aria-current=\"page\"").count(),
            1,
            "GET {path}"
        );
        for secret in [c.key.as_str(), session.as_str(), org.client_secret.as_str()] {
            assert!(!html.contains(secret), "a secret in {path}");
        }
    }
    let (_, html) = c.html(&session, "/deadletters").await;
    assert!(
        html.contains("href=\"/deadletters\" aria-current=\"page\""),
        "{html}"
    );

    // Every change without the session's token (a wrong one, or none) is refused: nothing
    // changes.
    let token = c.token(&session).await;
    for (path, form) in &posts {
        for csrf in [Some("made-up"), None] {
            let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(t) = csrf {
                form.push(("csrf", t));
            }
            let resp = c.post(Some(&session), path, &form).await;
            assert_eq!(
                resp.status(),
                StatusCode::FORBIDDEN,
                "POST {path} csrf {csrf:?}"
            );
        }
    }
    assert_eq!(
        state(&c, ws).await,
        before,
        "a refused form changed something"
    );
    assert!(!token.is_empty());
}

#[tokio::test]
async fn a_console_session_sees_nothing_of_another_workspace() {
    let c = console().await;
    let a = c.started.workspace;
    let dl = c.dead(a, "a/log_call/0", "call-a").await;
    let a_key = c.store().list_api_keys(a).await.expect("keys")[0].clone();
    let a_name = c.store().list_connections(a).await.expect("connections")[0]
        .name
        .clone();

    let store = c.store();
    let b = store
        .create_workspace("b", chrono::Utc::now())
        .await
        .expect("workspace");
    let b_key = store
        .create_api_key(b.id, "b-admin", chrono::Utc::now())
        .await
        .expect("key");
    let b_dl = c.dead(b.id, "b/log_call/0", "call-b").await;
    let before = state(&c, a).await;

    let session = sign_in(&c.http, &c.base, b_key.plaintext.expose_secret()).await;
    let token = c.token(&session).await;
    for (path, absent) in [
        ("/connections", a_name.as_str()),
        ("/deadletters", "call-a"),
        ("/jobs", "call-a"),
        ("/settings", a_key.prefix.as_str()),
    ] {
        let (status, html) = c.html(&session, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!html.contains(absent), "{path} shows {absent}");
    }
    // B's own dead letter is there.
    let (_, html) = c.html(&session, "/deadletters").await;
    assert!(html.contains(&format!("/deadletters/{b_dl}")), "{html}");

    // A's ids are not found for B, read or changed.
    let (gets, posts) = routes(&c.conn, dl, a_key.id.0);
    // (`/actions/new` is every workspace's form for a new action.)
    for path in gets
        .iter()
        .filter(|p| p.matches('/').count() > 1 && !p.ends_with("/new"))
    {
        let (status, _) = c.html(&session, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
    }
    for (path, form) in &posts {
        if path.matches('/').count() < 3 {
            continue; // the routes that name no id of A's
        }
        let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("csrf", &token));
        let resp = c.post(Some(&session), path, &form).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    // Replaying "all of call-a" from B replays none of A's.
    let resp = c
        .post(
            Some(&session),
            "/deadletters/replay",
            &[("csrf", &token), ("call_id", "call-a")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(&c, a).await, before, "B changed something of A's");
}

#[tokio::test]
async fn keys_dead_letters_and_connections_are_managed_from_the_console() {
    let c = console().await;
    let ws = c.started.workspace;
    let session = sign_in(&c.http, &c.base, &c.key).await;
    let token = c.token(&session).await;
    let me = c.store().list_api_keys(ws).await.expect("keys")[0].id.0;
    let actor = format!("api-key:{me}");

    // A key is created and shown once; after that it is listed by its prefix only.
    let resp = c
        .post(
            Some(&session),
            "/settings/keys",
            &[("csrf", &token), ("name", "ivr")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    let marker = "id=\"new-key-value\">";
    let at = html.find(marker).expect("the key") + marker.len();
    let new_key = html[at..].split('<').next().expect("key").to_owned();
    assert!(new_key.starts_with("cf_"), "{new_key}");
    let created = c
        .store()
        .list_api_keys(ws)
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.name == "ivr")
        .expect("listed");
    let (_, settings) = c.html(&session, "/settings").await;
    assert!(settings.contains(&created.prefix), "{settings}");
    assert!(!settings.contains(&new_key), "the key shown again");
    let api = |key: String| {
        let http = reqwest::Client::new();
        let url = format!("{}/v1/connections", c.base);
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("api")
                .status()
        }
    };
    assert_eq!(api(new_key.clone()).await, StatusCode::OK);

    // Revoked after a confirmation; the API refuses it then.
    let revoke = format!("/settings/keys/{}/revoke", created.id.0);
    let (status, confirm) = c.html(&session, &revoke).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains("name=\"confirm\" value=\"yes\""),
        "{confirm}"
    );
    let resp = c.post(Some(&session), &revoke, &[("csrf", &token)]).await;
    assert_eq!(
        resp.headers()[LOCATION],
        revoke.as_str(),
        "no revoke without confirming"
    );
    assert_eq!(api(new_key.clone()).await, StatusCode::OK);
    let resp = c
        .post(
            Some(&session),
            &revoke,
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/settings");
    assert_eq!(api(new_key).await, StatusCode::UNAUTHORIZED);

    // A dead letter: shown with its error and call; a payload that is not JSON, then one its
    // job could not run, are refused with the reason next to the editor; a good one is saved.
    let dl = c.dead(ws, "a/log_call/0", "call-a").await;
    let page = format!("/deadletters/{dl}");
    let (_, list) = c
        .html(&session, "/deadletters?status=open&call_id=call-a")
        .await;
    assert!(list.contains(&format!("href=\"{page}\"")), "{list}");
    let (_, shown) = c.html(&session, &page).await;
    for want in [
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "call-a",
        "log_call",
        "Broken",
    ] {
        assert!(shown.contains(want), "{want} in {shown}");
    }
    let edit = format!("{page}/payload");
    let resp = c
        .post(
            Some(&session),
            &edit,
            &[("csrf", &token), ("payload", "{not json")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"payload-problem\""), "{html}");
    assert!(html.contains("not valid JSON"), "{html}");
    assert!(html.contains("{not json"), "what was typed is kept: {html}");
    let resp = c
        .post(
            Some(&session),
            &edit,
            &[("csrf", &token), ("payload", r#"{"nope": 1}"#)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("no longer be a write job")
    );
    let fixed = r#"{"action": "log_call", "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Fixed subject"}}}"#;
    let resp = c
        .post(
            Some(&session),
            &edit,
            &[("csrf", &token), ("payload", fixed)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], page.as_str());
    let (_, shown) = c.html(&session, &page).await;
    assert!(shown.contains("Fixed subject"), "{shown}");

    // Replayed: its status says so, and its job is queued again.
    let resp = c
        .post(
            Some(&session),
            &format!("{page}/replay"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, shown) = c.html(&session, &page).await;
    assert!(shown.contains("id=\"status\">replayed<"), "{shown}");
    assert!(
        !shown.contains("<textarea"),
        "a replayed dead letter is not edited"
    );
    let (_, jobs) = c.html(&session, "/jobs?status=queued").await;
    assert!(jobs.contains("call-a"), "{jobs}");
    let (status, _) = c.html(&session, "/jobs?status=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // All of a call, and discarding after a confirmation.
    let d2 = c.dead(ws, "b/log_call/0", "call-b").await;
    let d3 = c.dead(ws, "b/log_call/1", "call-b").await;
    let resp = c
        .post(
            Some(&session),
            "/deadletters/replay",
            &[("csrf", &token), ("call_id", "call-b")],
        )
        .await;
    assert_eq!(resp.headers()[LOCATION], "/deadletters?call_id=call-b");
    for id in [d2, d3] {
        let (_, shown) = c.html(&session, &format!("/deadletters/{id}")).await;
        assert!(shown.contains("id=\"status\">replayed<"), "{id}");
    }
    // A selection: the ticked ones go again, the others stay open.
    let picked = [
        c.dead(ws, "s/log_call/0", "call-s").await,
        c.dead(ws, "s/log_call/1", "call-s").await,
    ];
    let left = c.dead(ws, "s/log_call/2", "call-s").await;
    let (_, list) = c.html(&session, "/deadletters?call_id=call-s").await;
    assert!(
        list.contains(&format!(
            "name=\"id\" value=\"{left}\" form=\"replay-selected\""
        )),
        "{list}"
    );
    let (a, b) = (picked[0].to_string(), picked[1].to_string());
    let resp = c
        .post(
            Some(&session),
            "/deadletters/replay-selected",
            &[("csrf", token.as_str()), ("id", &a), ("id", &b)],
        )
        .await;
    assert_eq!(resp.headers()[LOCATION], "/deadletters");
    for id in picked {
        let (_, shown) = c.html(&session, &format!("/deadletters/{id}")).await;
        assert!(shown.contains("id=\"status\">replayed<"), "{id}");
    }
    let (_, shown) = c.html(&session, &format!("/deadletters/{left}")).await;
    assert!(shown.contains("id=\"status\">open<"), "{shown}");
    let resp = c
        .post(
            Some(&session),
            "/deadletters/replay-selected",
            &[("csrf", token.as_str())],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let d4 = c.dead(ws, "c/log_call/0", "call-c").await;
    let discard = format!("/deadletters/{d4}/discard");
    let resp = c.post(Some(&session), &discard, &[("csrf", &token)]).await;
    assert_eq!(
        resp.headers()[LOCATION],
        discard.as_str(),
        "no discard without confirming"
    );
    let resp = c
        .post(
            Some(&session),
            &discard,
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, shown) = c.html(&session, &format!("/deadletters/{d4}")).await;
    assert!(shown.contains("id=\"status\">discarded<"), "{shown}");

    // The changes are audited with the session's key as the actor.
    let entries = c
        .store()
        .list_audit(
            ws,
            &AuditFilter {
                kind_prefix: Some("deadletter.".into()),
                ..AuditFilter::default()
            },
        )
        .await
        .expect("audit");
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["deadletter.edit", "deadletter.replay", "deadletter.discard"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for e in &entries {
        assert_eq!(e.agent.as_deref(), Some(actor.as_str()), "{}", e.kind);
    }

    // A connection: a limit out of range is refused next to its field; good ones are saved.
    let conn = format!("/connections/{}", c.conn);
    let resp = c
        .post(
            Some(&session),
            &format!("{conn}/limits"),
            &[
                ("csrf", &token),
                ("daily_share", "2"),
                ("max_concurrent", ""),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"daily_share-problem\""), "{html}");
    assert!(
        html.contains("value=\"2\""),
        "what was typed is kept: {html}"
    );
    let resp = c
        .post(
            Some(&session),
            &format!("{conn}/limits"),
            &[
                ("csrf", &token),
                ("daily_share", "0.5"),
                ("max_concurrent", "4"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, shown) = c.html(&session, &conn).await;
    assert!(
        shown.contains("value=\"0.5\"") && shown.contains("value=\"4\""),
        "{shown}"
    );

    // Test, and Connect: a one-time link the browser is sent to; a bad environment is said.
    let resp = c
        .post(Some(&session), &format!("{conn}/test"), &[("csrf", &token)])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.expect("html").contains("Test passed"));
    let resp = c
        .post(
            Some(&session),
            "/connections/link",
            &[
                ("csrf", &token),
                ("environment", "sandbox"),
                ("profile", "standard"),
            ],
        )
        .await;
    // The browser goes on to the org by a refresh and a link: a redirect of the form's post
    // would leave the pages' `form-action 'self'`.
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("html");
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"0; url=http://")
            && page.contains("/connect/salesforce?link="),
        "{page}"
    );
    let resp = c
        .post(
            Some(&session),
            "/connections/link",
            &[("csrf", &token), ("environment", "custom"), ("domain", "")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("role=\"alert\""));

    // Disconnected after a confirmation: its status says so.
    let resp = c
        .post(
            Some(&session),
            &format!("{conn}/disconnect"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        resp.headers()[LOCATION],
        format!("{conn}/disconnect").as_str()
    );
    let (_, shown) = c.html(&session, &conn).await;
    assert!(shown.contains("id=\"status\">connected<"), "{shown}");
    let resp = c
        .post(
            Some(&session),
            &format!("{conn}/disconnect"),
            &[("csrf", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, shown) = c.html(&session, &conn).await;
    assert!(shown.contains("id=\"status\">disconnected<"), "{shown}");
    let (_, list) = c.html(&session, "/connections").await;
    assert!(list.contains("status-disconnected"), "{list}");
}
