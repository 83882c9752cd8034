//! Confirmation of writes and agent limits, against the dev org.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use callforce_actions::{Actions, Agent, Catalog, ConfirmConfig, ErrorCode, Scope};
use serde_json::{Value, json};

use super::*;

/// A delete previews, runs only with its token and the same payload, and a token works once.
#[tokio::test]
async fn a_delete_runs_only_with_its_token_for_the_same_payload() {
    let (org, _, mut call) = setup("+15551234567").await;
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = now.clone();
    let actions = Actions::new(connect(&org).await, Catalog::with_examples()).with_confirmation(
        ConfirmConfig {
            ttl: Duration::from_secs(120),
            key: None,
            clock: Arc::new(move || {
                chrono::DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst))
                    .unwrap_or_default()
            }),
        },
    );
    let a = id_of(
        &ok(
            &actions,
            &mut call,
            "create_task",
            json!({"subject": "first"}),
        )
        .await,
    );
    let b = id_of(
        &ok(
            &actions,
            &mut call,
            "create_task",
            json!({"subject": "second"}),
        )
        .await,
    );
    let exists = |id: String| {
        let actions = &actions;
        async move {
            let soql = format!("SELECT Id FROM Task WHERE Id = '{id}'");
            let r = actions
                .connection()
                .query::<callforce_client::Record>(&soql)
                .await
                .expect("query");
            r.total_size == 1
        }
    };

    // The first call only previews.
    let first = actions
        .run(&mut call, "delete_task", json!({"record_id": a}))
        .await
        .expect("preview");
    let c = &first["confirmation_required"];
    assert_eq!(
        c["preview"]["arguments"]["record_id"],
        a.as_str(),
        "{first}"
    );
    assert_eq!(c["preview"]["effect"], "delete");
    assert_eq!(c["preview"]["object"], "Task");
    assert_eq!(c["expires_at"], "2027-01-15T08:02:00Z");
    let token = c["token"].as_str().expect("token").to_owned();
    assert!(exists(a.clone()).await, "nothing deleted by the preview");

    let with = |id: &str, t: &str| json!({"record_id": id, "confirmation_token": t});
    let code = |r: Result<Value, callforce_actions::ActionError>| r.map_err(|e| e.code);

    // Wrong token, changed payload: refused, nothing deleted.
    let r = actions
        .run(&mut call, "delete_task", with(&a, "v1.1.AAAA"))
        .await;
    assert_eq!(code(r), Err(ErrorCode::ConfirmationInvalid));
    let r = actions
        .run(&mut call, "delete_task", with(&b, &token))
        .await;
    assert_eq!(code(r), Err(ErrorCode::ConfirmationInvalid));
    assert!(exists(b.clone()).await);
    let r = actions
        .run(
            &mut call,
            "delete_task",
            json!({"record_id": a, "confirmation_token": 5}),
        )
        .await;
    assert_eq!(code(r), Err(ErrorCode::InvalidArgument));

    // The right one runs once.
    let done = actions
        .run(&mut call, "delete_task", with(&a, &token))
        .await
        .expect("deleted");
    assert_eq!(done["deleted"], true, "{done}");
    assert!(!exists(a.clone()).await);
    let r = actions
        .run(&mut call, "delete_task", with(&a, &token))
        .await;
    let e = r.expect_err("replay");
    assert_eq!(e.code, ErrorCode::ConfirmationInvalid);
    assert!(e.message.contains("already used"), "{}", e.message);

    // Expired: 2 minutes and 1 ms later.
    let preview = actions
        .run(&mut call, "delete_task", json!({"record_id": b}))
        .await
        .expect("preview");
    let token = preview["confirmation_required"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    now.fetch_add(120_001, Ordering::SeqCst);
    let e = actions
        .run(&mut call, "delete_task", with(&b, &token))
        .await
        .expect_err("expired");
    assert!(e.message.contains("expired"), "{}", e.message);
    assert!(exists(b).await, "nothing deleted with an expired token");
}

/// A template argument that refers to the session is bound as resolved: the preview shows the
/// id, not the placeholder.
#[tokio::test]
async fn the_preview_shows_resolved_values_and_agents_can_turn_confirmation_off() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    ok(
        &actions,
        &mut call,
        "search_contact",
        json!({"search_term": "{{caller_phone}}"}),
    )
    .await;
    let strict = Agent {
        confirm_writes: true,
        ..Agent::default()
    };
    let scope = Scope {
        catalog: None,
        agent: Some(&strict),
    };
    let r = actions
        .run_scoped(
            &mut call,
            "create_case",
            json!({"Subject": "x", "ContactId": "{{search_contact.Id}}"}),
            scope,
        )
        .await
        .expect("preview");
    let id = r["confirmation_required"]["preview"]["arguments"]["ContactId"]
        .as_str()
        .expect("resolved id");
    assert!(id.starts_with("003"), "{r}");

    let relaxed = Agent {
        skip_confirmation: vec!["delete_task".into()],
        actions: Some(vec!["create_task".into(), "delete_task".into()]),
        objects: Some(vec!["Task".into()]),
        ..Agent::default()
    };
    let scope = Scope {
        catalog: None,
        agent: Some(&relaxed),
    };
    let t = actions
        .run_scoped(&mut call, "create_task", json!({"subject": "s"}), scope)
        .await
        .expect("task");
    let done = actions
        .run_scoped(
            &mut call,
            "delete_task",
            json!({"record_id": t["id"]}),
            scope,
        )
        .await
        .expect("deleted without confirmation");
    assert_eq!(done["deleted"], true, "{done}");
    // A disabled action and a forbidden object are refused before anything is sent.
    let e = actions
        .run_scoped(&mut call, "search_contact", json!({}), scope)
        .await
        .expect_err("disabled");
    assert_eq!(e.code, ErrorCode::Forbidden);
    let e = actions
        .run_scoped(&mut call, "serch_task", json!({}), scope)
        .await
        .expect_err("unknown");
    assert_eq!(e.code, ErrorCode::UnknownAction);
}

/// A preview names what the write does: a raw POST that creates a record is a `create`, not a
/// delete; a raw PATCH of a record an `update`; a POST to anything else a `call`.
#[tokio::test]
async fn raw_calls_are_previewed_by_their_real_effect() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    for (method, path, effect) in [
        ("POST", "/sobjects/Case", "create"),
        ("PATCH", "/sobjects/Case/500000000000001AAA", "update"),
        ("DELETE", "/sobjects/Case/500000000000001AAA", "delete"),
        ("POST", "/composite", "call"),
        // Named by the path as it will be sent, its dot segments resolved.
        ("POST", "/sobjects/Case/x/..", "create"),
    ] {
        let r = actions
            .run(
                &mut call,
                "custom_api_call",
                json!({"method": method, "path": path, "body": {"Subject": "x"}}),
            )
            .await
            .expect("preview");
        assert_eq!(
            r["confirmation_required"]["preview"]["effect"], effect,
            "{method} {path}: {r}"
        );
    }
    let r = actions
        .run(&mut call, "create_case", json!({"Subject": "x"}))
        .await
        .expect("created");
    assert!(r.get("confirmation_required").is_none(), "{r}");
}
