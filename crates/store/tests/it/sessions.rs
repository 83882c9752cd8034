//! Sessions of the admin console.

use anyhow::Result;
use callforce_store::ConsoleSession;

use crate::both;
use crate::support::{Db, t};

both!(a_console_session_lasts_until_it_expires_ends_or_its_key_is_revoked);
async fn a_console_session_lasts_until_it_expires_ends_or_its_key_is_revoked(
    db: &Db,
) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?;
    let key = s.create_api_key(ws.id, "admin", t(0)).await?.key.id;
    let session = ConsoleSession {
        workspace: ws.id,
        key: Some(key),
        csrf: "csrf-1".into(),
        expires_at: t(100),
    };
    s.create_console_session("token-1", &session, t(1)).await?;
    assert_eq!(
        s.console_session("token-1", t(2)).await?,
        Some(session.clone())
    );
    assert_eq!(s.console_session("token-2", t(2)).await?, None);
    // Expired.
    assert_eq!(s.console_session("token-1", t(100)).await?, None);

    // Ended by signing out.
    s.create_console_session("token-3", &session, t(1)).await?;
    s.end_console_session("token-3").await?;
    assert_eq!(s.console_session("token-3", t(2)).await?, None);

    // A session of the environment's key (no key id) lasts; one of a revoked key ends.
    let env = ConsoleSession {
        key: None,
        ..session.clone()
    };
    s.create_console_session("token-4", &env, t(1)).await?;
    s.create_console_session("token-5", &session, t(1)).await?;
    s.revoke_api_key(ws.id, key, t(3)).await?;
    assert_eq!(s.console_session("token-4", t(4)).await?, Some(env));
    assert_eq!(s.console_session("token-5", t(4)).await?, None);
    Ok(())
}

both!(a_sign_in_link_is_taken_once_unexpired_and_never_opens_a_session_itself);
async fn a_sign_in_link_is_taken_once_unexpired_and_never_opens_a_session_itself(
    db: &Db,
) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?;
    let key = s.create_api_key(ws.id, "links", t(0)).await?.key.id;
    s.create_console_link("link-1", ws.id, key, t(1), t(100))
        .await?;
    // A link is not a session.
    assert_eq!(s.console_session("link-1", t(2)).await?, None);
    assert_eq!(
        s.take_console_link("link-1", t(2)).await?,
        Some((ws.id, key))
    );
    assert_eq!(s.take_console_link("link-1", t(3)).await?, None);

    // Expired, then: a key revoked before its link is used.
    s.create_console_link("link-2", ws.id, key, t(1), t(100))
        .await?;
    assert_eq!(s.take_console_link("link-2", t(100)).await?, None);
    s.create_console_link("link-3", ws.id, key, t(1), t(100))
        .await?;
    s.revoke_api_key(ws.id, key, t(5)).await?;
    assert_eq!(s.take_console_link("link-3", t(6)).await?, None);
    Ok(())
}
