//! Intent maps per workspace.

use anyhow::Result;
use callforce_store::{Error, NewAlert, NewAuditEntry, Store, WorkspaceId};
use serde_json::json;

use crate::both;
use crate::support::{Db, t};

fn entry() -> NewAuditEntry {
    NewAuditEntry {
        kind: "config.intents.deactivate".into(),
        agent: Some("system".into()),
        ..Default::default()
    }
}

fn alert(connection: &str) -> NewAlert {
    NewAlert {
        kind: "intent_map_broken".into(),
        details: json!({"connection_id": connection, "problems": ["Lead.Status: gone"]}),
    }
}

/// The number of intent map alerts and deactivation entries of `ws`.
async fn recorded(s: &Store, ws: WorkspaceId) -> Result<(usize, usize)> {
    let alerts = s.list_alerts(ws, 100).await?;
    let entries = s
        .list_audit(ws, &callforce_store::AuditFilter::default())
        .await?;
    Ok((
        alerts
            .iter()
            .filter(|a| a.kind == "intent_map_broken")
            .count(),
        entries
            .iter()
            .filter(|e| e.kind == "config.intents.deactivate")
            .count(),
    ))
}

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
    assert!(
        s.deactivate_intent_map(a.id, t(2), r#"{"ok":false}"#, t(3), &entry(), &alert("x"))
            .await?
    );
    let got = s.intent_map(a.id).await?.expect("stored");
    assert!(!got.active);
    assert_eq!(got.report.as_deref(), Some(r#"{"ok":false}"#));
    assert!(
        !s.deactivate_intent_map(b.id, t(2), "{}", t(3), &entry(), &alert("x"))
            .await?,
        "no map, nothing to deactivate"
    );
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
    s.deactivate_intent_map(a.id, t(1), "{}", t(2), &entry(), &alert("x"))
        .await?;
    assert_eq!(s.active_intent_map_workspaces().await?, [b.id]);
    Ok(())
}

both!(a_map_is_deactivated_only_at_the_version_that_broke);
async fn a_map_is_deactivated_only_at_the_version_that_broke(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("a", t(0)).await?.id;
    s.put_intent_map(ws, r#"{"q":"Lead.Status"}"#, true, None, t(1))
        .await?;
    // A map PUT again since: the check of the one stored at t(1) does not touch it.
    s.put_intent_map(ws, r#"{"q":"Lead.Rating"}"#, true, None, t(2))
        .await?;
    assert!(
        !s.deactivate_intent_map(ws, t(1), "{}", t(3), &entry(), &alert("c"))
            .await?
    );
    assert!(s.intent_map(ws).await?.expect("map").active);
    assert_eq!(recorded(s, ws).await?, (0, 0), "nothing written");
    assert!(
        s.deactivate_intent_map(ws, t(2), r#"{"ok":false}"#, t(3), &entry(), &alert("c"))
            .await?
    );
    assert_eq!(recorded(s, ws).await?, (1, 1), "one alert, one audit entry");
    // Once inactive, the same break found again changes nothing.
    assert!(
        !s.deactivate_intent_map(ws, t(2), "{}", t(4), &entry(), &alert("c"))
            .await?
    );
    assert_eq!(recorded(s, ws).await?, (1, 1));
    assert!(matches!(
        s.deactivate_intent_map(ws, t(2), "{not json", t(4), &entry(), &alert("c"))
            .await,
        Err(Error::InvalidJson(_))
    ));
    Ok(())
}

both!(instances_deactivating_one_map_at_once_alert_once);
async fn instances_deactivating_one_map_at_once_alert_once(db: &Db) -> Result<()> {
    let one = &db.store;
    let two = db.second_store().await?;
    for round in 0..10 {
        let ws = one.create_workspace(&format!("w{round}"), t(0)).await?.id;
        one.put_intent_map(ws, r#"{"q":"Lead.Status"}"#, true, None, t(1))
            .await?;
        let deactivate = |s: Store| async move {
            s.deactivate_intent_map(ws, t(1), "{}", t(2), &entry(), &alert("c"))
                .await
        };
        let (a, b, c, d) = tokio::join!(
            tokio::spawn(deactivate(one.clone())),
            tokio::spawn(deactivate(two.clone())),
            tokio::spawn(deactivate(one.clone())),
            tokio::spawn(deactivate(two.clone())),
        );
        let done = [a??, b??, c??, d??];
        assert_eq!(
            done.iter().filter(|d| **d).count(),
            1,
            "round {round}: {done:?}"
        );
        assert_eq!(recorded(one, ws).await?, (1, 1), "round {round}");
        assert!(!one.intent_map(ws).await?.expect("map").active);
    }
    Ok(())
}

both!(an_intent_map_alert_is_recorded_once_per_version_across_instances);
async fn an_intent_map_alert_is_recorded_once_per_version_across_instances(db: &Db) -> Result<()> {
    let one = &db.store;
    let two = db.second_store().await?;
    for round in 0..10 {
        let ws = one.create_workspace(&format!("w{round}"), t(0)).await?.id;
        one.put_intent_map(ws, r#"{"q":"Lead.Status"}"#, true, None, t(1))
            .await?;
        let once =
            |s: Store| async move { s.alert_intent_map_once(ws, t(1), &alert("c"), t(2)).await };
        let (a, b, c, d) = tokio::join!(
            tokio::spawn(once(one.clone())),
            tokio::spawn(once(two.clone())),
            tokio::spawn(once(one.clone())),
            tokio::spawn(once(two.clone())),
        );
        let done = [a??, b??, c??, d??];
        assert_eq!(
            done.iter().filter(|d| **d).count(),
            1,
            "round {round}: {done:?}"
        );
        assert_eq!(recorded(one, ws).await?.0, 1, "round {round}");
    }
    let ws = one.create_workspace("x", t(0)).await?.id;
    assert!(
        !one.alert_intent_map_once(ws, t(1), &alert("c"), t(2))
            .await?,
        "no active map, no alert"
    );
    one.put_intent_map(ws, r#"{"q":"Lead.Status"}"#, true, None, t(1))
        .await?;
    assert!(
        one.alert_intent_map_once(ws, t(1), &alert("c"), t(2))
            .await?
    );
    // Other details (another connection) are another alert; the same ones are not.
    assert!(
        one.alert_intent_map_once(ws, t(1), &alert("d"), t(3))
            .await?
    );
    assert!(
        !one.alert_intent_map_once(ws, t(1), &alert("c"), t(4))
            .await?
    );
    // A map stored since is another version: its problems are alerted again...
    one.put_intent_map(ws, r#"{"q":"Lead.Status"}"#, true, None, t(5))
        .await?;
    assert!(
        !one.alert_intent_map_once(ws, t(1), &alert("c"), t(6))
            .await?,
        "an old version"
    );
    assert!(
        one.alert_intent_map_once(ws, t(5), &alert("c"), t(6))
            .await?
    );
    // ...and an inactive map gets none.
    one.deactivate_intent_map(ws, t(5), "{}", t(7), &entry(), &alert("c"))
        .await?;
    assert!(
        !one.alert_intent_map_once(ws, t(5), &alert("e"), t(8))
            .await?
    );
    assert_eq!(recorded(one, ws).await?, (4, 1));
    Ok(())
}
