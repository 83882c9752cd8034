//! The console's Audit page over real sockets: its filters (kind, actor, call, time), its pages
//! (keyset, newest first) through a few hundred entries without a repeat or a gap, and Verify,
//! which says the log is intact, or names the first entry that was edited in the database.

use std::net::SocketAddr;

use callforce::serve::{ServeConfig, Started, start};
use callforce_store::NewAuditEntry;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use secrecy::ExposeSecret;

use super::console::{browser, csrf, sign_in};

/// Entries appended by the test, besides the ones the service wrote at its start.
const ADDED: i64 = 320;

struct Bed {
    started: Started,
    base: String,
    http: reqwest::Client,
    session: String,
    /// When the test's first entry happened; entry `i` is `i` minutes later.
    t0: DateTime<Utc>,
    _dir: tempfile::TempDir,
}

impl Bed {
    async fn html(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .send()
            .await
            .expect("get");
        (resp.status(), resp.text().await.expect("html"))
    }

    async fn verify(&self) -> (StatusCode, String) {
        let token = csrf(&self.html("/audit").await.1);
        let resp = self
            .http
            .post(format!("{}/audit/verify", self.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .form(&[("csrf", token.as_str())])
            .send()
            .await
            .expect("post");
        (resp.status(), resp.text().await.expect("html"))
    }
}

/// A service with [`ADDED`] entries appended to the default workspace's chain: entry `i` is of
/// kind `test.even`/`test.odd`, by `agent-a` (every third) or `agent-b`, in call `call-{i % 10}`,
/// `i` minutes after `t0`, a day ago.
async fn bed() -> Bed {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 86_400, 0).expect("t0");
    let store = started.registry.store();
    for i in 0..ADDED {
        let entry = NewAuditEntry {
            kind: if i % 2 == 0 { "test.even" } else { "test.odd" }.into(),
            call_id: Some(format!("call-{}", i % 10)),
            agent: Some(if i % 3 == 0 { "agent-a" } else { "agent-b" }.into()),
            record_ids: vec![],
            request: Some(format!(r#"{{"n":{i}}}"#)),
            response: None,
        };
        store
            .append_audit(started.workspace, t0 + TimeDelta::minutes(i), &entry)
            .await
            .expect("append");
    }
    let key = started.api_key.clone().expect("first key");
    let http = browser();
    let session = sign_in(&http, &format!("http://{}", started.addr), &key).await;
    Bed {
        base: format!("http://{}", started.addr),
        started,
        http,
        session,
        t0,
        _dir: dir,
    }
}

/// The entries a page lists, by seq, in its order.
fn seqs(html: &str) -> Vec<u64> {
    html.split("<summary>Entry ")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.parse().ok())
        .collect()
}

/// The path of a page's "Older entries" link.
fn older(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\">Older entries")?;
    let start = html[..end].rfind("href=\"")? + 6;
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// The entries of every page from `first`, following the "Older entries" links.
async fn all_pages(bed: &Bed, first: &str) -> (Vec<u64>, usize) {
    let mut path = first.to_owned();
    let mut found = Vec::new();
    let mut pages = 0;
    loop {
        let (status, html) = bed.html(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        pages += 1;
        found.extend(seqs(&html));
        match older(&html) {
            Some(next) => path = next,
            None => return (found, pages),
        }
        assert!(pages < 100, "the pages never end");
    }
}

#[tokio::test]
async fn the_audit_pages_go_through_every_entry_newest_first_without_repeats_or_gaps() {
    let bed = bed().await;
    let total = bed
        .started
        .registry
        .store()
        .audit_heads()
        .await
        .expect("heads")
        .into_iter()
        .find(|h| h.workspace == bed.started.workspace)
        .expect("a chain")
        .seq;
    assert!(
        total > ADDED as u64,
        "the service's own entries and the test's"
    );
    let (found, pages) = all_pages(&bed, "/audit").await;
    let want: Vec<u64> = (1..=total).rev().collect();
    assert_eq!(found, want, "every entry once, newest first");
    assert!(pages >= 6, "{pages} pages of at most 50");

    // A filtered walk: only the matching entries, each once.
    let (found, _) = all_pages(&bed, "/audit?actor=agent-a&kind=test.").await;
    let first_added = total - ADDED as u64 + 1;
    let want: Vec<u64> = (0..ADDED as u64)
        .rev()
        .filter(|i| i % 3 == 0)
        .map(|i| first_added + i)
        .collect();
    assert_eq!(found, want);

    // A page number that is not one says so next to a link to the newest entries.
    let (status, html) = bed.html("/audit?before=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("is not a page of the log"), "{html}");
}

#[tokio::test]
async fn the_audit_filters_by_kind_actor_call_and_time() {
    let bed = bed().await;
    let total = bed
        .started
        .registry
        .store()
        .audit_heads()
        .await
        .expect("heads")[0]
        .seq;
    let first_added = total - ADDED as u64 + 1;
    let added = |pick: &dyn Fn(u64) -> bool| -> Vec<u64> {
        (0..ADDED as u64)
            .rev()
            .filter(|i| pick(*i))
            .map(|i| first_added + i)
            .take(50)
            .collect()
    };

    let (_, html) = bed.html("/audit?kind=test.odd").await;
    assert_eq!(seqs(&html), added(&|i| i % 2 == 1));
    let (_, html) = bed.html("/audit?call_id=call-7").await;
    assert_eq!(seqs(&html), added(&|i| i % 10 == 7));
    assert!(html.contains("href=\"/audit?call_id=call-7\">call-7</a>"));
    let (_, html) = bed.html("/audit?actor=agent-b&call_id=call-3").await;
    assert_eq!(seqs(&html), added(&|i| i % 10 == 3 && i % 3 != 0));
    // The time window: entries 100 to 109 minutes after t0 (`to` is exclusive).
    let at = |m: i64| {
        (bed.t0 + TimeDelta::minutes(m))
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let (_, html) = bed
        .html(&format!("/audit?from={}&to={}", at(100), at(110)))
        .await;
    assert_eq!(seqs(&html), added(&|i| (100..110).contains(&i)));
    // One page holds them all: no page links, and no empty list of them.
    assert!(!html.contains("aria-label=\"Pages\""), "{html}");
    // The details of an entry are on the page, collapsed.
    assert!(html.contains("&#34;n&#34;: 105"), "{html}");
    assert!(html.contains("<details><summary>Entry"), "{html}");

    // Configuration changes name the key that made them by its name, never the key.
    let key = bed.started.api_key.clone().expect("key");
    let (_, html) = bed.html("/audit?kind=config.").await;
    assert!(!seqs(&html).is_empty(), "{html}");
    assert!(!html.contains(&key), "a key in the page");

    // A time that is not one: said next to its field, nothing listed.
    let (status, html) = bed.html("/audit?from=last+tuesday&kind=test.").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("id=\"from-problem\">&#39;last tuesday&#39; is not a time"),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert!(seqs(&html).is_empty());

    // Another workspace's session sees only its own chain.
    let store = bed.started.registry.store();
    let other = store
        .create_workspace("other", Utc::now())
        .await
        .expect("workspace");
    let key = store
        .create_api_key(other.id, "admin", Utc::now())
        .await
        .expect("key");
    let theirs = sign_in(&bed.http, &bed.base, key.plaintext.expose_secret()).await;
    let resp = bed
        .http
        .get(format!("{}/audit?call_id=call-7", bed.base))
        .header(COOKIE, format!("cf_session={theirs}"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(seqs(&html).is_empty(), "{html}");
    assert!(!html.contains("agent-a"), "{html}");
}

#[tokio::test]
async fn verify_says_intact_then_names_the_first_entry_edited_in_the_database() {
    let bed = bed().await;
    let ws = bed.started.workspace;
    let store = bed.started.registry.store();
    let total = store.audit_heads().await.expect("heads")[0].seq;
    let (status, html) = bed.verify().await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("The audit log is intact: {total} entries checked")),
        "{html}"
    );

    // Two entries edited behind the service's back: the earlier one is reported.
    let pool = store.sqlite_pool().expect("sqlite");
    let (late, early) = (total - 5, total - 40);
    for seq in [late, early] {
        let n = sqlx::query(
            "UPDATE audit_log SET request = '{\"n\":-1}' WHERE workspace_id = $1 AND seq = $2",
        )
        .bind(ws.0)
        .bind(i64::try_from(seq).expect("seq"))
        .execute(pool)
        .await
        .expect("tamper")
        .rows_affected();
        assert_eq!(n, 1);
    }
    let (status, html) = bed.verify().await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!(
            "The first bad entry is entry {early}: its content does not match its hash"
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("<dt>Entry</dt><dd>{early}</dd>")),
        "{html}"
    );

    // Verify is a form with the session's token: without it nothing is checked.
    let resp = bed
        .http
        .post(format!("{}/audit/verify", bed.base))
        .header(COOKIE, format!("cf_session={}", bed.session))
        .form(&[("csrf", "made-up")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
