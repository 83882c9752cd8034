//! The token lifecycle against the dev org: refresh on a refused session, single flight,
//! rotation handed to storage, re-authorisation after revocation, API usage.

use std::sync::Arc;
use std::time::Duration;

use callforce_client::token::{
    BoxFuture, RefreshCoordinator, RefreshTicket, RotationHook, StoredTokens,
};
use callforce_client::{Class, Connection, Error, ExposeSecret, Grant, SecretString};
use callforce_devorg::Config;
use parking_lot::Mutex;

use crate::auth::web_server_tokens;
use crate::{config, connect, expire_sessions, get, org, org_with, stats};

async fn refreshes(r: &callforce_devorg::Running) -> u64 {
    stats(r).await["refreshes"].as_u64().unwrap()
}

#[tokio::test]
async fn an_expired_session_is_refreshed_and_the_request_retried_once() {
    let r = org().await;
    let conn = Connection::new(config(&r), web_server_tokens(&r).await, Grant::None).unwrap();
    get(&conn, "/limits").await.unwrap();
    expire_sessions(&r).await;
    get(&conn, "/limits").await.unwrap();
    assert_eq!(refreshes(&r).await, 1);
    // The new token is kept: no further refresh.
    get(&conn, "/limits").await.unwrap();
    assert_eq!(refreshes(&r).await, 1);
}

#[tokio::test]
async fn a_hundred_concurrent_refused_requests_make_one_refresh() {
    let r = org().await;
    let conn = Connection::new(config(&r), web_server_tokens(&r).await, Grant::None).unwrap();
    get(&conn, "/limits").await.unwrap();
    expire_sessions(&r).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = conn.clone();
            tokio::spawn(async move { get(&c, "/limits").await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(refreshes(&r).await, 1);
}

#[tokio::test]
async fn a_known_session_lifetime_refreshes_before_sending() {
    let r = org().await;
    let mut cfg = config(&r);
    cfg.session_lifetime = Some(Duration::ZERO);
    let conn = Connection::new(cfg, web_server_tokens(&r).await, Grant::None).unwrap();
    get(&conn, "/limits").await.unwrap();
    get(&conn, "/limits").await.unwrap();
    assert_eq!(refreshes(&r).await, 2);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_before_it_is_used() {
    let r = org_with(Config {
        rotate_refresh_tokens: true,
        ..Config::default()
    })
    .await;
    let tokens = web_server_tokens(&r).await;
    let first = tokens.refresh_token.clone().unwrap();
    let stored: Arc<Mutex<Vec<SecretString>>> = Arc::default();
    let sink = stored.clone();
    let hook: RotationHook = Arc::new(move |t| {
        let sink = sink.clone();
        Box::pin(async move {
            sink.lock().push(t);
            Ok(())
        })
    });
    let mut cfg = config(&r);
    cfg.on_rotate = Some(hook);
    let conn = Connection::new(cfg, tokens, Grant::None).unwrap();
    expire_sessions(&r).await;
    get(&conn, "/limits").await.unwrap();
    let second = stored.lock().last().cloned().expect("rotation stored");
    assert_ne!(second.expose_secret(), first.expose_secret());
    // The next refresh uses the stored token (the first is dead after rotation).
    expire_sessions(&r).await;
    get(&conn, "/limits").await.unwrap();
    assert_eq!(stored.lock().len(), 2);
    assert_eq!(refreshes(&r).await, 2);
}

#[tokio::test]
async fn a_rotated_token_that_cannot_be_stored_is_not_used_until_it_is() {
    let r = org_with(Config {
        rotate_refresh_tokens: true,
        ..Config::default()
    })
    .await;
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = fail.clone();
    let hook: RotationHook = Arc::new(move |_t| {
        let flag = flag.clone();
        Box::pin(async move {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                Err("database unavailable".to_owned())
            } else {
                Ok(())
            }
        })
    });
    let mut cfg = config(&r);
    cfg.on_rotate = Some(hook);
    let conn = Connection::new(cfg, web_server_tokens(&r).await, Grant::None).unwrap();
    expire_sessions(&r).await;
    // The refresh itself worked: the request goes through on the new access token.
    get(&conn, "/limits").await.unwrap();
    expire_sessions(&r).await;
    let err = get(&conn, "/limits").await.unwrap_err();
    assert!(matches!(err, Error::Persist(_)), "{err:?}");
    assert_eq!(refreshes(&r).await, 1, "the unstored token was not used");
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    get(&conn, "/limits").await.unwrap();
    assert_eq!(refreshes(&r).await, 2);
}

#[tokio::test]
async fn a_revoked_refresh_token_needs_reauthorisation_without_retrying() {
    let r = org().await;
    let tokens = web_server_tokens(&r).await;
    let refresh = tokens.refresh_token.clone().unwrap();
    let conn = Connection::new(config(&r), tokens, Grant::None).unwrap();
    get(&conn, "/limits").await.unwrap();
    conn.tokens().oauth().revoke(&refresh).await.unwrap();
    let err = get(&conn, "/limits").await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
    assert_eq!(err.class(), Class::Auth);
    assert!(conn.tokens().needs_reauthorization().is_some());
    // Later requests fail at once: not one more request reaches the org.
    let before = stats(&r).await["requests"].as_u64().unwrap();
    for _ in 0..5 {
        let err = get(&conn, "/limits").await.unwrap_err();
        assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
    }
    let after = stats(&r).await["requests"].as_u64().unwrap();
    assert_eq!(
        after - before,
        1,
        "only the stats request itself was counted"
    );
    // Authorising again clears the state.
    conn.tokens()
        .set_tokens(web_server_tokens(&r).await, Grant::None);
    get(&conn, "/limits").await.unwrap();
}

#[tokio::test]
async fn a_login_grant_logs_in_once_not_per_request() {
    let r = org().await;
    let conn = connect(&r).await;
    for _ in 0..10 {
        get(&conn, "/limits").await.unwrap();
    }
    let s = stats(&r).await;
    assert_eq!(s["logins"].as_u64(), Some(1));
    // An expired session is renewed with the same grant, once.
    expire_sessions(&r).await;
    get(&conn, "/limits").await.unwrap();
    assert_eq!(stats(&r).await["logins"].as_u64(), Some(2));
}

#[tokio::test]
async fn api_usage_follows_the_limit_header_and_a_spent_allowance_is_a_limit() {
    let r = org_with(Config {
        daily_api_limit: 3,
        ..Config::default()
    })
    .await;
    let conn = connect(&r).await;
    assert!(conn.api_usage().is_none());
    get(&conn, "/limits").await.unwrap();
    let u = conn.api_usage().unwrap();
    assert_eq!((u.used, u.max), (1, 3));
    get(&conn, "/limits").await.unwrap();
    get(&conn, "/limits").await.unwrap();
    let err = get(&conn, "/limits").await.unwrap_err();
    assert_eq!(err.error_code(), Some("REQUEST_LIMIT_EXCEEDED"), "{err:?}");
    assert_eq!(err.class(), Class::Limit);
    assert_eq!(conn.api_usage().unwrap().remaining(), 0);
    // Never a re-authentication for a limit.
    assert_eq!(stats(&r).await["logins"].as_u64(), Some(1));
    assert_eq!(refreshes(&r).await, 0);
}

/// What two processes share in these tests: the stored tokens behind one lock (the service uses
/// a PostgreSQL advisory lock and the connection's row).
#[derive(Clone)]
struct SharedStore(Arc<tokio::sync::Mutex<Option<StoredTokens>>>);

struct Held(tokio::sync::OwnedMutexGuard<Option<StoredTokens>>);

impl RefreshCoordinator for SharedStore {
    fn lock(&self) -> BoxFuture<'_, Result<Box<dyn RefreshTicket>, String>> {
        Box::pin(async move {
            let guard = self.0.clone().lock_owned().await;
            Ok(Box::new(Held(guard)) as Box<dyn RefreshTicket>)
        })
    }
}

impl RefreshTicket for Held {
    fn stored(&self) -> Option<StoredTokens> {
        self.0.clone()
    }
    fn save(mut self: Box<Self>, tokens: StoredTokens) -> BoxFuture<'static, Result<(), String>> {
        *self.0 = Some(tokens);
        Box::pin(async { Ok(()) })
    }
    fn release(self: Box<Self>, _took_stored: bool) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Two connections ("two processes") holding the same grant of an org that rotates refresh
/// tokens, both refused at once after the org expired its sessions.
async fn two_holders_refresh_at_once(coordinated: bool) -> (u64, Vec<Result<(), Error>>) {
    let r = org_with(Config {
        rotate_refresh_tokens: true,
        ..Config::default()
    })
    .await;
    let tokens = web_server_tokens(&r).await;
    let shared = SharedStore(Arc::new(tokio::sync::Mutex::new(Some(StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        instance_url: Some(tokens.instance_url.clone()),
    }))));
    let conns: Vec<Connection> = (0..2)
        .map(|_| {
            let mut cfg = config(&r);
            if coordinated {
                cfg.coordinator = Some(Arc::new(shared.clone()));
            }
            Connection::new(cfg, tokens.clone(), Grant::None).unwrap()
        })
        .collect();
    let mut results = Vec::new();
    for round in 0..3 {
        expire_sessions(&r).await;
        let (a, b) = tokio::join!(get(&conns[0], "/limits"), get(&conns[1], "/limits"));
        results.push(a.map(|_| ()));
        results.push(b.map(|_| ()));
        if !coordinated && round == 0 {
            break;
        }
    }
    (refreshes(&r).await, results)
}

#[tokio::test]
async fn a_coordinator_makes_one_refresh_for_two_processes_and_rotation_survives() {
    let (refreshed, results) = two_holders_refresh_at_once(true).await;
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "request {i}: {r:?}");
    }
    assert_eq!(refreshed, 3, "one refresh per expiry for both");
}

#[tokio::test]
async fn without_a_coordinator_two_processes_spend_one_rotated_token_twice() {
    // The race the coordinator exists for: the second refresh presents a spent token.
    let (refreshed, results) = two_holders_refresh_at_once(false).await;
    assert_eq!(refreshed, 1);
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(Error::NeedsReauthorization { .. })))
        .count();
    assert_eq!(refused, 1, "{results:?}");
}
