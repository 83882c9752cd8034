//! Stored describes per connection and object.

use anyhow::Result;
use callforce_store::{ConnectionStatus, Error, StoredConnection, WorkspaceId};

use crate::both;
use crate::support::{Db, t};

fn conn(id: &str, ws: WorkspaceId) -> StoredConnection {
    StoredConnection {
        id: id.into(),
        workspace: ws,
        name: format!("conn {id}"),
        kind: "web_server".into(),
        environment: "production".into(),
        login_url: "https://login.salesforce.com".into(),
        client_id: None,
        instance_url: "https://acme.my.salesforce.com".into(),
        org_id: "00D000000000001AAA".into(),
        user_id: "005000000000001AAA".into(),
        username: "admin@acme.example".into(),
        scopes: "api".into(),
        api_version: "v59.0".into(),
        profile: "standard".into(),
        status: ConnectionStatus::Connected,
        status_reason: None,
        is_default: false,
        daily_share: None,
        max_concurrent: None,
        secrets: vec![1],
        key_version: 1,
        created_at: t(0),
        updated_at: t(0),
    }
}

both!(describes_are_kept_per_connection_and_object_and_replaced);
async fn describes_are_kept_per_connection_and_object_and_replaced(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    s.insert_connection(&conn("con_1", a.id)).await?;
    s.insert_connection(&conn("con_2", a.id)).await?;
    assert!(s.describes(a.id, "con_1").await?.is_empty());
    s.put_describe(a.id, "con_1", "Task", r#"{"name":"Task","v":1}"#, t(1))
        .await?;
    s.put_describe(
        a.id,
        "con_1",
        "ContentNote",
        r#"{"name":"ContentNote"}"#,
        t(1),
    )
    .await?;
    s.put_describe(a.id, "con_2", "Task", r#"{"name":"Task","v":9}"#, t(1))
        .await?;
    // A refresh replaces the row of the same object, whatever the case of its name.
    s.put_describe(a.id, "con_1", "TASK", r#"{"name":"Task","v":2}"#, t(5))
        .await?;
    let got = s.describes(a.id, "con_1").await?;
    let summary: Vec<(&str, &str, _)> = got
        .iter()
        .map(|d| (d.object.as_str(), d.describe.as_str(), d.fetched_at))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("contentnote", r#"{"name":"ContentNote"}"#, t(1)),
            ("task", r#"{"name":"Task","v":2}"#, t(5)),
        ]
    );
    // Another workspace neither reads nor writes a's connections' describes.
    assert!(s.describes(b.id, "con_1").await?.is_empty());
    assert!(matches!(
        s.put_describe(b.id, "con_1", "Task", "{}", t(6)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.put_describe(a.id, "con_1", "Task", "not json", t(6))
            .await,
        Err(Error::InvalidJson(_))
    ));
    assert_eq!(s.describes(a.id, "con_1").await?[1].fetched_at, t(5));
    Ok(())
}
