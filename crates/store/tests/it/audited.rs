//! The `*_audited` variants: each change commits with its audit entry, or neither commits.

use anyhow::Result;
use callforce_store::{
    AuditFilter, ConnectionStatus, DefinitionKind, Error, NewAlert, NewAuditEntry, Store,
    StoredConnection, Verdict, WorkspaceId,
};
use serde_json::json;

use crate::both;
use crate::support::{Db, t};

fn entry(kind: &str) -> NewAuditEntry {
    NewAuditEntry {
        kind: kind.into(),
        agent: Some("cli".into()),
        request: Some(json!({"what": kind}).to_string()),
        ..Default::default()
    }
}

/// An entry whose request is not JSON: the store refuses it, so the change must not happen.
fn bad(kind: &str) -> NewAuditEntry {
    NewAuditEntry {
        request: Some("{not json".into()),
        ..entry(kind)
    }
}

fn conn(id: &str, ws: WorkspaceId, secs: i64) -> StoredConnection {
    StoredConnection {
        id: id.into(),
        workspace: ws,
        name: format!("conn {id}"),
        kind: "jwt".into(),
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
        secrets: vec![1, 2, 3],
        key_version: 1,
        created_at: t(secs),
        updated_at: t(secs),
    }
}

async fn kinds(s: &Store, ws: WorkspaceId, prefix: Option<&str>) -> Result<Vec<String>> {
    let filter = AuditFilter {
        kind_prefix: prefix.map(str::to_owned),
        ..Default::default()
    };
    Ok(s.list_audit(ws, &filter)
        .await?
        .into_iter()
        .map(|e| e.kind)
        .collect())
}

both!(every_audited_change_commits_with_its_entry);
async fn every_audited_change_commits_with_its_entry(db: &Db) -> Result<()> {
    // Keyed, as the service's store is: once the rotation below gives the database a vault key,
    // an unkeyed store may not append.
    let keyed = db
        .store
        .clone()
        .with_audit_keys(callforce_store::AuditKeys::new(
            1,
            zeroize::Zeroizing::new([3; 32]),
        ));
    let s = &keyed;
    let ws = s
        .create_workspace_audited("acme", t(0), |w| NewAuditEntry {
            request: Some(json!({"workspace_id": w.id, "name": w.name}).to_string()),
            ..entry("config.workspace.create")
        })
        .await?;
    let first = s.list_audit(ws.id, &AuditFilter::default()).await?;
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].request.as_deref(),
        Some(
            json!({"workspace_id": ws.id, "name": "acme"})
                .to_string()
                .as_str()
        )
    );
    let ws = ws.id;

    let key = s
        .create_api_key_audited(ws, "runtime", t(1), |k| NewAuditEntry {
            request: Some(json!({"key_id": k.id, "name": k.name}).to_string()),
            ..entry("config.key.create")
        })
        .await?;
    s.revoke_api_key_audited(ws, key.key.id, t(2), &entry("config.key.revoke"))
        .await?;
    let kind = DefinitionKind::Agent;
    s.put_definition_audited(
        kind,
        ws,
        "aria",
        &json!({}),
        t(3),
        &entry("config.agent.put"),
    )
    .await?;
    s.delete_definition_audited(kind, ws, "aria", t(4), &entry("config.agent.delete"))
        .await?;
    s.put_intent_map_audited(ws, "{}", true, None, t(5), &entry("config.intents.put"))
        .await?;
    let broken = NewAlert {
        kind: "intent_map_broken".into(),
        details: json!({}),
    };
    assert!(
        s.deactivate_intent_map(
            ws,
            t(5),
            "{}",
            t(6),
            &entry("config.intents.deactivate"),
            &broken
        )
        .await?
    );
    s.insert_connection_audited(&conn("con_1", ws, 7), &entry("connection.connected"))
        .await?;
    let mut c = s.connection(ws, "con_1").await?.expect("stored");
    c.daily_share = Some(0.5);
    c.updated_at = t(8);
    s.save_connection_audited(&c, &entry("config.connection.settings"))
        .await?;
    s.set_connection_status_audited(
        ws,
        "con_1",
        ConnectionStatus::NeedsReauth,
        Some("revoked"),
        t(9),
        &entry("connection.needs_reauth"),
    )
    .await?;
    c.status = ConnectionStatus::Connected;
    c.secrets = vec![4, 5];
    c.updated_at = t(10);
    s.replace_connection_audited(&c, &entry("connection.reconnected"))
        .await?;
    s.rotate_vault_key_audited(
        2,
        &[9],
        &[("con_1".into(), vec![6])],
        &[],
        t(11),
        &[(ws, entry("vault.key_rotated"))],
    )
    .await?;

    assert_eq!(
        kinds(s, ws, None).await?,
        [
            "config.workspace.create",
            "config.key.create",
            "config.key.revoke",
            "config.agent.put",
            "config.agent.delete",
            "config.intents.put",
            "config.intents.deactivate",
            "connection.connected",
            "config.connection.settings",
            "connection.needs_reauth",
            "connection.reconnected",
            "vault.key_rotated",
        ]
    );
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 12,
            unkeyed: 0
        }
    );
    // The changes themselves landed.
    assert!(s.list_api_keys(ws).await?[0].revoked_at.is_some());
    assert!(s.definition(kind, ws, "aria").await?.is_none());
    assert!(!s.intent_map(ws).await?.expect("map").active);
    let c = s.connection(ws, "con_1").await?.expect("stored");
    assert_eq!(c.daily_share, Some(0.5));
    assert_eq!(c.status, ConnectionStatus::Connected);
    assert_eq!((c.secrets, c.key_version), (vec![6], 2));
    Ok(())
}

both!(a_refused_entry_or_change_commits_neither);
async fn a_refused_entry_or_change_commits_neither(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let kind = DefinitionKind::CustomAction;
    assert!(matches!(
        s.put_definition_audited(kind, ws, "x", &json!({}), t(1), &bad("config.action.put"))
            .await,
        Err(Error::InvalidJson(_))
    ));
    assert!(s.definition(kind, ws, "x").await?.is_none());
    // Nothing to delete, nothing to revoke, no map, no connection: no entry either.
    assert!(matches!(
        s.delete_definition_audited(kind, ws, "x", t(2), &entry("config.action.delete"))
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.revoke_api_key_audited(ws, callforce_store::ApiKeyId(77), t(2), &entry("k"))
            .await,
        Err(Error::NotFound)
    ));
    let broken = NewAlert {
        kind: "intent_map_broken".into(),
        details: json!({}),
    };
    assert!(
        !s.deactivate_intent_map(ws, t(1), "{}", t(2), &entry("i"), &broken)
            .await?
    );
    assert!(s.list_alerts(ws, 10).await?.is_empty());
    assert!(matches!(
        s.set_connection_status_audited(
            ws,
            "con_9",
            ConnectionStatus::NeedsReauth,
            None,
            t(2),
            &entry("c")
        )
        .await,
        Err(Error::NotFound)
    ));
    let key = s
        .create_api_key_audited(ws, "k", t(3), |_| bad("config.key.create"))
        .await;
    assert!(matches!(key, Err(Error::InvalidJson(_))));
    assert!(s.list_api_keys(ws).await?.is_empty(), "the key rolled back");
    assert!(matches!(
        s.insert_connection_audited(&conn("con_1", ws, 4), &bad("connection.connected"))
            .await,
        Err(Error::InvalidJson(_))
    ));
    assert!(s.connection(ws, "con_1").await?.is_none());

    // Secrets sealed under a key older than the newest are refused, and so is the entry.
    s.insert_connection(&conn("con_1", ws, 5)).await?;
    s.rotate_vault_key(2, &[9], &[("con_1".into(), vec![6])], t(6))
        .await?;
    let mut stale = s.connection(ws, "con_1").await?.expect("stored");
    stale.secrets = vec![0];
    stale.key_version = 1;
    stale.status = ConnectionStatus::Disconnected;
    assert!(matches!(
        s.replace_connection_audited(&stale, &entry("connection.disconnected"))
            .await,
        Err(Error::InvalidState(_))
    ));
    let kept = s.connection(ws, "con_1").await?.expect("stored");
    assert_eq!(
        (kept.status, kept.secrets),
        (ConnectionStatus::Connected, vec![6])
    );
    let mut other_ws = conn("con_1", WorkspaceId(ws.0 + 100), 7);
    other_ws.key_version = 2;
    assert!(matches!(
        s.replace_connection_audited(&other_ws, &entry("connection.disconnected"))
            .await,
        Err(Error::NotFound)
    ));

    assert!(kinds(s, ws, None).await?.is_empty());
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 0,
            unkeyed: 0
        }
    );
    Ok(())
}

both!(a_settings_change_to_default_takes_the_flag_from_the_others);
async fn a_settings_change_to_default_takes_the_flag_from_the_others(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    s.insert_connection(&conn("con_1", ws, 1)).await?;
    let mut second = s.insert_connection(&conn("con_2", ws, 2)).await?;
    assert!(!second.is_default);
    second.is_default = true;
    s.save_connection_audited(&second, &entry("config.connection.settings"))
        .await?;
    let all = s.list_connections(ws).await?;
    let defaults: Vec<&str> = all
        .iter()
        .filter(|c| c.is_default)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(defaults, ["con_2"]);
    Ok(())
}

both!(the_kind_filter_is_a_prefix_and_takes_underscores_literally);
async fn the_kind_filter_is_a_prefix_and_takes_underscores_literally(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    for k in [
        "config.agent.put",
        "write.done",
        "connection.needs_reauth",
        "config.key.create",
        "connectionXneeds",
    ] {
        s.append_audit(ws, t(1), &entry(k)).await?;
    }
    assert_eq!(
        kinds(s, ws, Some("config.")).await?,
        ["config.agent.put", "config.key.create"]
    );
    assert_eq!(
        kinds(s, ws, Some("connection.")).await?,
        ["connection.needs_reauth"]
    );
    assert_eq!(
        kinds(s, ws, Some("connection.needs_")).await?,
        ["connection.needs_reauth"]
    );
    assert_eq!(kinds(s, ws, Some("write.done")).await?, ["write.done"]);
    assert!(kinds(s, ws, Some("nothing")).await?.is_empty());
    assert!(
        kinds(s, ws, Some("%")).await?.is_empty(),
        "no LIKE wildcards"
    );
    // Combined with paging: the filter applies before the limit.
    let page = s
        .list_audit(
            ws,
            &AuditFilter {
                kind_prefix: Some("config.".into()),
                limit: Some(1),
                after_seq: Some(1),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].kind, "config.key.create");
    Ok(())
}
