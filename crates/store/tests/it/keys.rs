//! Workspaces and API keys.

use anyhow::Result;
use callforce_store::{Error, NewAuditEntry, NewJob, Verdict};
use secrecy::ExposeSecret;

use crate::both;
use crate::support::{Db, t};

both!(api_key_authenticates_until_revoked);
async fn api_key_authenticates_until_revoked(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?;
    assert_eq!(
        s.workspace_by_name("acme").await?.map(|w| w.id),
        Some(ws.id)
    );
    assert_eq!(s.workspace_by_name("other").await?.map(|w| w.id), None);
    let created = s.create_api_key(ws.id, "runtime", t(1)).await?;
    let plain = created.plaintext.expose_secret().to_owned();
    assert!(plain.starts_with("cf_") && plain.len() == 51, "{plain}");
    assert_eq!(created.key.prefix, &plain[..9]);
    assert!(
        !format!("{created:?}").contains(&plain),
        "Debug must not show the key"
    );

    assert_eq!(s.authenticate(&plain).await?, Some((ws.id, created.key.id)));
    assert_eq!(s.authenticate(&format!("{plain}x")).await?, None);
    assert_eq!(s.authenticate("cf_nothing").await?, None);
    assert_eq!(s.authenticate("").await?, None);

    let keys = s.list_api_keys(ws.id).await?;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "runtime");
    assert_eq!(keys[0].revoked_at, None);

    s.revoke_api_key(ws.id, created.key.id, t(5)).await?;
    assert_eq!(s.authenticate(&plain).await?, None);
    s.revoke_api_key(ws.id, created.key.id, t(9)).await?;
    assert_eq!(s.list_api_keys(ws.id).await?[0].revoked_at, Some(t(5)));
    Ok(())
}

#[tokio::test]
async fn sqlite_file_holds_the_key_hash_never_the_plaintext() -> Result<()> {
    let db = Db::sqlite().await?;
    let ws = db.store.create_workspace("acme", t(0)).await?;
    let created = db.store.create_api_key(ws.id, "runtime", t(1)).await?;
    let plain = created.plaintext.expose_secret().to_owned();
    let hash = callforce_store::keys::hash_key(&plain);
    db.store.close().await;

    let dir = db.dir.as_ref().expect("sqlite dir").path().to_owned();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        bytes.extend(std::fs::read(entry?.path())?);
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    // The search works: the hash (what is stored) is found...
    assert!(
        contains(&hash),
        "the stored hash should be in the database files"
    );
    // ...and the plaintext, or its secret part, is not.
    assert!(
        !contains(&plain),
        "plaintext key found in the database files"
    );
    assert!(
        !contains(&plain[9..]),
        "the key's secret part found in the database files"
    );
    Ok(())
}

both!(workspaces_see_nothing_of_each_other);
async fn workspaces_see_nothing_of_each_other(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?;
    let b = s.create_workspace("b", t(0)).await?;
    let key_a = s.create_api_key(a.id, "a-key", t(0)).await?;

    // Keys: B cannot list or revoke A's key; A's key opens A only.
    assert!(s.list_api_keys(b.id).await?.is_empty());
    assert!(matches!(
        s.revoke_api_key(b.id, key_a.key.id, t(1)).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        s.authenticate(key_a.plaintext.expose_secret())
            .await?
            .map(|x| x.0),
        Some(a.id)
    );

    // Jobs and dead letters.
    let job = NewJob {
        workspace: a.id,
        connection_id: "conn".into(),
        idempotency_key: "k1".into(),
        ordering_key: "Contact:1".into(),
        kind: "create".into(),
        payload: "{}".into(),
        call_id: Some("call".into()),
        agent: None,
        run_at: t(0),
    };
    let id = s.enqueue(&job, t(0)).await?.id;
    assert!(s.job(b.id, id).await?.is_none());
    assert!(s.job(a.id, id).await?.is_some());
    assert!(s.list_jobs(b.id, None, 10).await?.is_empty());
    let leased = s
        .lease("w", t(0), chrono::TimeDelta::seconds(30), 10)
        .await?;
    assert_eq!(leased.len(), 1);
    let dl = s.dead(id, "w", t(1), "bad field").await?;
    assert!(s.dead_letter(b.id, dl).await?.is_none());
    assert!(
        s.list_dead_letters(b.id, &Default::default())
            .await?
            .is_empty()
    );
    assert!(matches!(
        s.replay_dead_letter(b.id, dl, t(2)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.discard_dead_letter(b.id, dl, t(2)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        s.edit_dead_letter_payload(b.id, dl, "{}", t(2)).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        s.list_dead_letters(a.id, &Default::default()).await?.len(),
        1
    );

    // The same idempotency key in B is B's own job.
    let other = s
        .enqueue(
            &NewJob {
                workspace: b.id,
                ..job.clone()
            },
            t(3),
        )
        .await?;
    assert!(other.created);
    assert_ne!(other.id, id);

    // Audit.
    let entry = NewAuditEntry {
        kind: "write.done".into(),
        call_id: Some("call".into()),
        ..Default::default()
    };
    s.append_audit(a.id, t(4), &entry).await?;
    assert!(s.list_audit(b.id, &Default::default()).await?.is_empty());
    assert_eq!(
        s.verify_audit(b.id).await?,
        Verdict::Intact {
            entries: 0,
            unkeyed: 0
        }
    );
    assert_eq!(
        s.verify_audit(a.id).await?,
        Verdict::Intact {
            entries: 1,
            unkeyed: 1
        }
    );
    Ok(())
}

#[tokio::test]
async fn open_picks_the_backend_from_the_url() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("by-url.db");
    let s = callforce_store::Store::open(&format!("sqlite:{}", path.display())).await?;
    assert_eq!(s.backend(), callforce_store::Backend::Sqlite);
    let ws = s.create_workspace("w", t(0)).await?;
    assert_eq!(
        s.workspace(ws.id).await?.map(|w| w.name),
        Some("w".to_owned())
    );
    s.close().await;
    // Reopening runs the migrations again as a no-op and keeps the data.
    let s = callforce_store::Store::open(&format!("sqlite://{}", path.display())).await?;
    assert_eq!(
        s.workspace(ws.id).await?.map(|w| w.name),
        Some("w".to_owned())
    );
    s.close().await;
    assert!(matches!(
        callforce_store::Store::open("mysql://localhost/x").await,
        Err(Error::UnsupportedUrl)
    ));
    Ok(())
}

both!(database_errors_carry_no_database_text_in_their_message);
async fn database_errors_carry_no_database_text_in_their_message(db: &Db) -> Result<()> {
    // A constraint failure reached through raw SQL, wrapped as the store wraps it.
    let raw = db
        .exec("INSERT INTO workspaces (name, created_at) VALUES (NULL, 0)")
        .await;
    let detail = format!("{:#}", raw.expect_err("NOT NULL must refuse"));
    assert!(detail.to_lowercase().contains("null"), "{detail}");
    let sqlx_err = match db.store.backend() {
        callforce_store::Backend::Sqlite => {
            sqlx::query("INSERT INTO workspaces (name, created_at) VALUES (NULL, 0)")
                .execute(db.store.sqlite_pool().expect("sqlite"))
                .await
                .expect_err("refused")
        }
        callforce_store::Backend::Postgres => {
            sqlx::query("INSERT INTO workspaces (name, created_at) VALUES (NULL, 0)")
                .execute(db.store.pg_pool().expect("postgres"))
                .await
                .expect_err("refused")
        }
    };
    let err = Error::from(sqlx_err);
    assert_eq!(err.to_string(), "database error");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the detail stays available for logs"
    );
    Ok(())
}
