//! Agents and custom actions per workspace.

use anyhow::Result;
use callforce_store::{DefinitionKind, Error};
use serde_json::json;

use crate::both;
use crate::support::{Db, t};

both!(definitions_are_saved_replaced_and_deleted_per_workspace);
async fn definitions_are_saved_replaced_and_deleted_per_workspace(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    let kind = DefinitionKind::Agent;
    s.put_definition(
        kind,
        a.id,
        "aria",
        &json!({"enabled": ["search_contact"]}),
        t(1),
    )
    .await?;
    s.put_definition(kind, b.id, "aria", &json!({"enabled": []}), t(1))
        .await?;
    // Replacing keeps one row and the latest value.
    s.put_definition(kind, a.id, "aria", &json!({"enabled": ["log_call"]}), t(2))
        .await?;
    let got = s.definition(kind, a.id, "aria").await?.expect("saved");
    assert_eq!(got.definition, json!({"enabled": ["log_call"]}));
    assert_eq!(got.updated_at, t(2));
    assert_eq!(s.definitions(kind, a.id).await?.len(), 1);
    // The other workspace's agent of the same name is its own.
    let other = s.definition(kind, b.id, "aria").await?.expect("saved");
    assert_eq!(other.definition, json!({"enabled": []}));
    // Kinds are separate.
    assert!(
        s.definition(DefinitionKind::CustomAction, a.id, "aria")
            .await?
            .is_none()
    );
    s.delete_definition(kind, a.id, "aria").await?;
    assert!(s.definition(kind, a.id, "aria").await?.is_none());
    assert!(matches!(
        s.delete_definition(kind, a.id, "aria").await,
        Err(Error::NotFound)
    ));
    assert!(s.definition(kind, b.id, "aria").await?.is_some());
    Ok(())
}
