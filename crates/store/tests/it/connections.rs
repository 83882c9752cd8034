//! Connections, one-time tokens and vault key checks.

use anyhow::Result;
use callforce_store::{
    ConnectionStatus, Error, OneTimeKind, OneTimeToken, StoredConnection, Taken, WorkspaceId,
};

use crate::both;
use crate::support::{Db, t};

fn conn(id: &str, ws: WorkspaceId, secs: i64) -> StoredConnection {
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
        scopes: "api refresh_token offline_access".into(),
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

both!(connections_are_scoped_and_the_first_is_the_default);
async fn connections_are_scoped_and_the_first_is_the_default(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    let first = s.insert_connection(&conn("con_1", a.id, 1)).await?;
    let second = s.insert_connection(&conn("con_2", a.id, 2)).await?;
    assert!(first.is_default && !second.is_default);
    assert!(
        s.insert_connection(&conn("con_x", WorkspaceId(999), 1))
            .await
            .is_err()
    );
    assert!(
        !format!("{first:?}").contains("[1, 2, 3]"),
        "Debug hides the sealed secrets"
    );

    // Another workspace sees and changes nothing of a's.
    assert_eq!(s.connection(b.id, "con_1").await?, None);
    assert!(s.list_connections(b.id).await?.is_empty());
    let mut stolen = conn("con_1", b.id, 3);
    stolen.name = "mine".into();
    assert!(matches!(
        s.save_connection(&stolen).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.save_connection_secrets(b.id, "con_1", &[9], 1, t(3))
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.set_connection_status(b.id, "con_1", ConnectionStatus::Disconnected, None, t(3))
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.set_default_connection(b.id, "con_2").await,
        Err(Error::NotFound)
    ));

    // Settings never overwrite secrets; secrets are written on their own.
    let mut changed = first.clone();
    changed.daily_share = Some(0.5);
    changed.max_concurrent = Some(4);
    changed.secrets = vec![7];
    let saved = s.save_connection(&changed).await?;
    assert_eq!(saved.secrets, vec![1, 2, 3]);
    assert_eq!(
        (saved.daily_share, saved.max_concurrent),
        (Some(0.5), Some(4))
    );
    s.save_connection_secrets(a.id, "con_1", &[4, 5], 2, t(4))
        .await?;
    let read = s.connection(a.id, "con_1").await?.expect("stored");
    assert_eq!((read.secrets, read.key_version), (vec![4, 5], 2));

    s.set_connection_status(
        a.id,
        "con_1",
        ConnectionStatus::NeedsReauth,
        Some("invalid_grant"),
        t(5),
    )
    .await?;
    let read = s.connection(a.id, "con_1").await?.expect("stored");
    assert_eq!(read.status, ConnectionStatus::NeedsReauth);
    assert_eq!(read.status_reason.as_deref(), Some("invalid_grant"));

    s.set_default_connection(a.id, "con_2").await?;
    let all = s.list_connections(a.id).await?;
    assert_eq!(
        all.iter()
            .map(|c| (c.id.as_str(), c.is_default))
            .collect::<Vec<_>>(),
        vec![("con_1", false), ("con_2", true)]
    );
    assert_eq!(s.all_connections().await?.len(), 2);
    Ok(())
}

both!(one_time_tokens_work_once_and_expire);
async fn one_time_tokens_work_once_and_expire(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("a", t(0)).await?;
    let token = OneTimeToken {
        workspace: ws.id,
        api_key: None,
        payload: r#"{"environment":"sandbox"}"#.into(),
        secret: Some(vec![1, 2]),
        key_version: Some(1),
        expires_at: t(600),
    };
    s.create_one_time(OneTimeKind::State, "h1", &token, t(0))
        .await?;
    s.create_one_time(OneTimeKind::State, "h2", &token, t(0))
        .await?;
    // A state is not a link.
    assert_eq!(
        s.take_one_time(OneTimeKind::Link, "h1", t(1)).await?,
        Taken::Unknown
    );
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "h1", t(1)).await?,
        Taken::Fresh(token.clone())
    );
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "h1", t(2)).await?,
        Taken::Reused
    );
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "forged", t(2)).await?,
        Taken::Unknown
    );
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "h2", t(600)).await?,
        Taken::Expired
    );
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "h2", t(601)).await?,
        Taken::Reused
    );
    Ok(())
}

both!(vault_keys_register_once_and_rotate_atomically);
async fn vault_keys_register_once_and_rotate_atomically(db: &Db) -> Result<()> {
    let s = &db.store;
    assert_eq!(s.latest_vault_key().await?, None);
    assert!(s.register_first_vault_key(&[1], t(0)).await?);
    assert!(
        !s.register_first_vault_key(&[2], t(0)).await?,
        "the first key stays"
    );
    assert_eq!(s.latest_vault_key().await?, Some((1, vec![1])));
    let ws = s.create_workspace("a", t(0)).await?;
    s.insert_connection(&conn("con_1", ws.id, 1)).await?;
    let pending = OneTimeToken {
        workspace: ws.id,
        api_key: None,
        payload: "{}".into(),
        secret: Some(vec![1]),
        key_version: Some(1),
        expires_at: t(600),
    };
    s.create_one_time(OneTimeKind::State, "h", &pending, t(0))
        .await?;
    assert!(matches!(
        s.rotate_vault_key(1, &[3], &[], t(1)).await,
        Err(Error::InvalidState(_))
    ));
    s.rotate_vault_key(2, &[3], &[("con_1".into(), vec![8, 8])], t(1))
        .await?;
    assert_eq!(s.latest_vault_key().await?, Some((2, vec![3])));
    let c = s.connection(ws.id, "con_1").await?.expect("stored");
    assert_eq!((c.secrets, c.key_version), (vec![8, 8], 2));
    assert_eq!(
        s.take_one_time(OneTimeKind::State, "h", t(2)).await?,
        Taken::Unknown
    );
    // An instance still holding the old key cannot write secrets the new key would not open.
    assert!(matches!(
        s.save_connection_secrets(ws.id, "con_1", &[5], 1, t(3))
            .await,
        Err(Error::InvalidState(_))
    ));
    let c = s.connection(ws.id, "con_1").await?.expect("stored");
    assert_eq!((c.secrets, c.key_version), (vec![8, 8], 2));
    s.save_connection_secrets(ws.id, "con_1", &[6], 2, t(3))
        .await?;
    Ok(())
}
