//! Intent maps per workspace.

use anyhow::Result;
use callforce_store::Error;

use crate::both;
use crate::support::{Db, t};

both!(intent_map_is_kept_per_workspace_and_replaced);
async fn intent_map_is_kept_per_workspace_and_replaced(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    assert_eq!(s.intent_map(a.id).await?, None);
    s.put_intent_map(a.id, r#"{"qualified":"Lead.Status"}"#, false, None, t(1))
        .await?;
    let got = s.intent_map(a.id).await?.expect("stored");
    assert_eq!(got.map, r#"{"qualified":"Lead.Status"}"#);
    assert!(!got.active);
    assert_eq!((got.report, got.updated_at), (None, t(1)));
    assert_eq!(
        s.intent_map(b.id).await?,
        None,
        "another workspace sees nothing"
    );

    s.put_intent_map(
        a.id,
        r#"{"x":"Task.Description"}"#,
        true,
        Some(r#"{"ok":true}"#),
        t(2),
    )
    .await?;
    let got = s.intent_map(a.id).await?.expect("stored");
    assert_eq!(got.map, r#"{"x":"Task.Description"}"#);
    assert!(got.active);
    s.set_intent_map_state(a.id, false, r#"{"ok":false}"#, t(3))
        .await?;
    let got = s.intent_map(a.id).await?.expect("stored");
    assert!(!got.active);
    assert_eq!(got.report.as_deref(), Some(r#"{"ok":false}"#));
    assert!(matches!(
        s.set_intent_map_state(b.id, true, "{}", t(3)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.put_intent_map(b.id, "{not json", false, None, t(3)).await,
        Err(Error::InvalidJson(_))
    ));
    Ok(())
}

both!(active_intent_maps_are_listed_by_workspace);
async fn active_intent_maps_are_listed_by_workspace(db: &Db) -> Result<()> {
    let s = &db.store;
    assert!(s.active_intent_map_workspaces().await?.is_empty());
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    let c = s.create_workspace("c", t(0)).await?;
    s.put_intent_map(b.id, r#"{"q":"Lead.Status"}"#, true, None, t(1))
        .await?;
    s.put_intent_map(a.id, r#"{"q":"Lead.Status"}"#, true, None, t(1))
        .await?;
    s.put_intent_map(c.id, r#"{"q":"Lead.Status"}"#, false, None, t(1))
        .await?;
    assert_eq!(s.active_intent_map_workspaces().await?, [a.id, b.id]);
    s.set_intent_map_state(a.id, false, "{}", t(2)).await?;
    assert_eq!(s.active_intent_map_workspaces().await?, [b.id]);
    Ok(())
}
