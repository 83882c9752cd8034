//! The console's Intents page over real sockets, against the embedded dev org: a map that does
//! not parse is refused next to the editor and changes nothing; a map with a field the org does
//! not have and a picklist value it does not take is shown with every problem and its fix, and
//! not stored; a valid map is saved through the core (active, checked on the connection, audited
//! with the session's key as actor); another workspace sees and checks nothing of it.

use std::net::SocketAddr;

use callforce::serve::{ServeConfig, Started, start};
use callforce_store::{AuditFilter, WorkspaceId};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use secrecy::ExposeSecret;

use super::console::{browser, csrf, sign_in};

/// A field the dev org does not have (one letter off) and a Lead status it does not offer.
const BROKEN: &str = r#"{"intents": {
  "demo_requested": {"object": "Opportunity", "record": {"var": "last.Opportunity.Id"},
                     "fields": {"Demo_Requestd_At__c": "now"}},
  "qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"},
                "fields": {"Status": {"const": "Hot and ready"}}}
}}"#;

const VALID: &str =
    r#"{"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}"#;

struct Console {
    started: Started,
    base: String,
    http: reqwest::Client,
    key: String,
    conn: String,
    _dir: tempfile::TempDir,
}

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
        .expect("connections")[0]
        .id
        .clone();
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

    async fn html(&self, session: &str, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("cf_session={session}"))
            .send()
            .await
            .expect("get");
        (resp.status(), resp.text().await.expect("html"))
    }

    async fn post(&self, session: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("cf_session={session}"))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// The stored map of `ws` and whether it is active.
    async fn stored(&self, ws: WorkspaceId) -> Option<(String, bool)> {
        self.store()
            .intent_map(ws)
            .await
            .expect("intent map")
            .map(|m| (m.map, m.active))
    }

    /// The `config.intents.*` audit entries of `ws`: (kind, actor).
    async fn audited(&self, ws: WorkspaceId) -> Vec<(String, Option<String>)> {
        self.store()
            .list_audit(
                ws,
                &AuditFilter {
                    kind_prefix: Some("config.intents".into()),
                    ..AuditFilter::default()
                },
            )
            .await
            .expect("audit")
            .into_iter()
            .map(|e| (e.kind, e.agent))
            .collect()
    }
}

/// The text in the map editor.
fn editor(html: &str) -> &str {
    html.split("<textarea id=\"map\"")
        .nth(1)
        .and_then(|t| t.split_once('>'))
        .and_then(|(_, t)| t.split("</textarea>").next())
        .expect("the editor")
}

/// The rows of the problem tables of a page, as their cells' text.
fn problem_rows(html: &str) -> Vec<String> {
    html.split("<table class=\"intent-problems\">")
        .skip(1)
        .flat_map(|t| {
            let body = t.split("</table>").next().unwrap_or_default();
            body.split("<tr>")
                .skip(2)
                .map(|r| r.to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn a_broken_intent_map_shows_every_problem_with_its_fix_and_a_valid_one_goes_live() {
    let c = console().await;
    let ws = c.started.workspace;
    let session = sign_in(&c.http, &c.base, &c.key).await;
    let (status, html) = c.html(&session, "/intents").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("href=\"/intents\" aria-current=\"page\""),
        "{html}"
    );
    assert!(html.contains("none yet"), "{html}");
    assert!(
        html.contains(&format!("href=\"/connections/{}\"", c.conn)),
        "{html}"
    );
    let token = csrf(&html);

    // JSON that does not parse: refused next to the editor, what was typed kept, nothing stored.
    let typed = r#"{"qualified": "Lead.Status",,}"#;
    let resp = c
        .post(&session, "/intents", &[("csrf", &token), ("map", typed)])
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.expect("html");
    let problem = html
        .split("id=\"map-problem\">")
        .nth(1)
        .and_then(|p| p.split("</p>").next())
        .expect("a problem next to the editor");
    assert!(problem.contains("not valid JSON"), "{problem}");
    assert!(problem.contains("line 1 column"), "where: {problem}");
    assert!(problem.contains("Nothing was saved"), "{problem}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert!(
        ["&#34;", "&quot;"]
            .iter()
            .any(|q| editor(&html) == format!("{{{q}qualified{q}: {q}Lead.Status{q},,}}")),
        "the typed map stays in the editor: {html}"
    );
    // A map of the wrong shape: the entry and what is valid are named.
    let resp = c
        .post(
            &session,
            "/intents",
            &[
                ("csrf", &token),
                (
                    "map",
                    r#"{"intents": {"qualified": {"object": "Lead", "feilds": {}}}}"#,
                ),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.expect("html");
    let problem = html
        .split("id=\"map-problem\">")
        .nth(1)
        .and_then(|p| p.split("</p>").next())
        .expect("a problem next to the editor");
    assert!(problem.contains("intents.qualified"), "{problem}");
    assert!(problem.contains("feilds"), "{problem}");
    assert!(problem.contains("fields"), "what is valid: {problem}");
    assert_eq!(c.stored(ws).await, None, "nothing stored");

    // The check lists every problem with its fix, against the dev org; nothing is stored.
    let resp = c
        .post(
            &session,
            "/intents/check",
            &[("csrf", &token), ("map", BROKEN), ("connection", "")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    let rows = problem_rows(&html);
    let unknown = rows
        .iter()
        .find(|r| r.contains("unknown_field"))
        .unwrap_or_else(|| panic!("an unknown_field row: {html}"));
    assert!(
        unknown.contains("<td data-label=\"Intent\">demo_requested</td>"),
        "{unknown}"
    );
    assert!(
        unknown.contains("<td data-label=\"Field\"><code>Opportunity.Demo_Requestd_At__c</code>"),
        "{unknown}"
    );
    assert!(
        unknown.contains("Demo_Requested_At__c"),
        "the fix: {unknown}"
    );
    let picklist = rows
        .iter()
        .find(|r| r.contains("invalid_picklist_value"))
        .unwrap_or_else(|| panic!("an invalid_picklist_value row: {html}"));
    assert!(
        picklist.contains("<td data-label=\"Intent\">qualified</td>"),
        "{picklist}"
    );
    assert!(
        picklist.contains("<td data-label=\"Field\"><code>Lead.Status</code>"),
        "{picklist}"
    );
    assert!(picklist.contains("Hot and ready"), "{picklist}");
    assert!(
        picklist.contains("Working - Contacted"),
        "the valid values: {picklist}"
    );
    assert!(html.contains("saving it would be refused"), "{html}");
    assert_eq!(c.stored(ws).await, None, "a check stores nothing");

    // Saving it is refused with the same report; the previous state (no map) stays.
    let resp = c
        .post(&session, "/intents", &[("csrf", &token), ("map", BROKEN)])
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.expect("html");
    assert!(html.contains("Why the map was not saved"), "{html}");
    assert!(html.contains("id=\"map-problem\""), "{html}");
    let rows = problem_rows(&html);
    assert!(rows.iter().any(|r| r.contains("unknown_field")), "{html}");
    assert!(
        rows.iter().any(|r| r.contains("invalid_picklist_value")),
        "{html}"
    );
    assert_eq!(c.stored(ws).await, None, "a refused map is not stored");
    assert!(c.audited(ws).await.is_empty());

    // A valid map is saved, active, and checked on the connection; audited with the key.
    let resp = c
        .post(&session, "/intents", &[("csrf", &token), ("map", VALID)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/intents");
    let (map, active) = c.stored(ws).await.expect("stored");
    assert!(active);
    assert!(map.contains("Demo_Requested_At__c"), "{map}");
    let (_, html) = c.html(&session, "/intents").await;
    let state = html
        .split("id=\"map-state\">")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .expect("the state");
    assert!(state.contains(">active<"), "{state}");
    let row = html
        .split("<table id=\"intent-connections\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the connections");
    assert!(row.contains("Checked: passes"), "{row}");
    assert!(row.contains(" UTC</td>"), "when it was checked: {row}");
    assert!(
        editor(&html).contains("Demo_Requested_At__c"),
        "the saved map in the editor: {html}"
    );
    let me = c.store().list_api_keys(ws).await.expect("keys")[0].id.0;
    assert_eq!(
        c.audited(ws).await,
        [(
            "config.intents.put".to_owned(),
            Some(format!("api-key:{me}"))
        )]
    );

    // The saved map checked against the chosen connection (empty editor: the saved map).
    let resp = c
        .post(
            &session,
            "/intents/check",
            &[("csrf", &token), ("map", ""), ("connection", &c.conn)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(html.contains("The map passes"), "{html}");
    assert!(problem_rows(&html).is_empty(), "{html}");

    // Re-checking the saved map keeps it live.
    let resp = c
        .post(&session, "/intents/recheck", &[("csrf", &token)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(c.stored(ws).await.map(|m| m.1), Some(true));

    // Another workspace: none of this map, and A's connection is not one it can check against.
    let store = c.store();
    let b = store
        .create_workspace("b", chrono::Utc::now())
        .await
        .expect("workspace");
    let b_key = store
        .create_api_key(b.id, "b-admin", chrono::Utc::now())
        .await
        .expect("key");
    let theirs = sign_in(&c.http, &c.base, b_key.plaintext.expose_secret()).await;
    let (status, html) = c.html(&theirs, "/intents").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(editor(&html), "", "{html}");
    assert!(!html.contains(&c.conn), "{html}");
    let b_token = csrf(&html);
    let resp = c
        .post(
            &theirs,
            "/intents/check",
            &[("csrf", &b_token), ("map", VALID), ("connection", &c.conn)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"map-problem\""), "{html}");
    let resp = c
        .post(&theirs, "/intents", &[("csrf", &b_token), ("map", VALID)])
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CONFLICT,
        "B has no org to check against"
    );
    assert_eq!(c.stored(b.id).await, None);
    assert_eq!(c.audited(ws).await.len(), 1, "B changed nothing of A's");
}

/// The org drops a mapped field: Re-check (the API's recheck) deactivates the saved map, and
/// the page says it is not active and shows the report it broke with, with the fix.
#[tokio::test]
async fn a_map_the_org_broke_is_shown_inactive_with_its_report_after_a_recheck() {
    let c = console().await;
    let ws = c.started.workspace;
    let session = sign_in(&c.http, &c.base, &c.key).await;
    let (_, html) = c.html(&session, "/intents").await;
    let token = csrf(&html);
    let resp = c
        .post(&session, "/intents", &[("csrf", &token), ("map", VALID)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = c.html(&session, "/intents").await;
    assert!(html.contains("Re-check the saved map"), "{html}");
    assert!(problem_rows(&html).is_empty(), "{html}");

    let org = c.started.devorg.as_ref().expect("embedded org");
    let resp = c
        .http
        .post(format!(
            "{}/devorg/schema/Opportunity/fields/Demo_Requested_At__c",
            org.org.instance_url()
        ))
        .json(&serde_json::json!({"change": "delete"}))
        .send()
        .await
        .expect("alter");
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = c
        .post(&session, "/intents/recheck", &[("csrf", &token)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/intents");
    assert_eq!(c.stored(ws).await.map(|m| m.1), Some(false), "deactivated");

    let (status, html) = c.html(&session, "/intents").await;
    assert_eq!(status, StatusCode::OK);
    let state = html
        .split("id=\"map-state\">")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .expect("the state");
    assert!(state.contains(">not active<"), "{state}");
    assert!(
        html.contains("Why the map is not live everywhere"),
        "{html}"
    );
    let rows = problem_rows(&html);
    let row = rows
        .iter()
        .find(|r| r.contains("unknown_field"))
        .unwrap_or_else(|| panic!("the report it broke with: {html}"));
    assert!(
        row.contains("<td data-label=\"Intent\">demo_requested</td>"),
        "{row}"
    );
    assert!(
        row.contains("<td data-label=\"Field\"><code>Opportunity.Demo_Requested_At__c</code>"),
        "{row}"
    );
    assert!(
        editor(&html).contains("Demo_Requested_At__c"),
        "the saved map stays in the editor to fix: {html}"
    );
    let kinds: Vec<String> = c.audited(ws).await.into_iter().map(|e| e.0).collect();
    assert!(
        kinds.contains(&"config.intents.deactivate".to_owned()),
        "{kinds:?}"
    );
}
