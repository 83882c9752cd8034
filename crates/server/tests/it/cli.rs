//! `callforce deadletter ...` and `callforce audit verify` on a data directory's SQLite.

use std::path::Path;
use std::process::Output;

use callforce_store::{DeadLetterStatus, JobStatus, NewAuditEntry, NewJob, Store, WorkspaceId};
use callforce_testkit::PgSchema;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
}

pub(crate) fn callforce(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(args)
        .env_remove("CALLFORCE_DATABASE_URL")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs the binary")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) async fn open(dir: &Path) -> Store {
    Store::open_sqlite(&dir.join("callforce.db"))
        .await
        .expect("store")
}

async fn dead(store: &Store, ws: WorkspaceId, key: &str, action: &str) -> i64 {
    let job = NewJob {
        workspace: ws,
        connection_id: "conn-1".into(),
        idempotency_key: key.into(),
        ordering_key: format!("Task:{key}"),
        kind: "write".into(),
        payload: serde_json::json!({"action": action, "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Broken"}}})
            .to_string(),
        call_id: Some(format!("call-{key}")),
        agent: Some("aria".into()),
        run_at: t(0),
    };
    let id = store.enqueue(&job, t(0)).await.expect("enqueue").id;
    store
        .lease("w", t(1), TimeDelta::seconds(30), 10)
        .await
        .expect("lease");
    store
        .dead(id, "w", t(2), "INVALID_FIELD: No such column 'Subjet'")
        .await
        .expect("dead")
        .0
}

#[tokio::test]
async fn deadletter_commands_list_show_edit_replay_and_discard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let store = open(dir.path()).await;
    let ws = store
        .create_workspace("default", t(0))
        .await
        .expect("ws")
        .id;
    let a = dead(&store, ws, "a", "log_call").await;
    let b = dead(&store, ws, "b", "create_case").await;
    let c = dead(&store, ws, "c", "log_call").await;

    let out = callforce(&["deadletter", "list", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    assert_eq!(list.lines().count(), 4, "a header and three rows:\n{list}");
    assert!(
        list.contains("log_call") && list.contains("INVALID_FIELD"),
        "{list}"
    );
    let out = callforce(&[
        "deadletter",
        "list",
        "--action",
        "create_case",
        "--json",
        "--data-dir",
        data,
    ]);
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], b);

    let out = callforce(&["deadletter", "show", &a.to_string(), "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(shown["payload"]["request"]["record"]["Subject"], "Broken");
    assert_eq!(
        shown["errors"][0]["error"],
        "INVALID_FIELD: No such column 'Subjet'"
    );
    assert_eq!(shown["call_id"], "call-a");
    let out = callforce(&["deadletter", "show", "99999", "--data-dir", data]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no dead letter 99999"),
        "{}",
        stderr(&out)
    );

    let out = callforce(&[
        "deadletter",
        "edit",
        &a.to_string(),
        "--merge",
        r#"{"request":{"record":{"Subject":"Fixed"}}}"#,
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = callforce(&[
        "deadletter",
        "edit",
        &a.to_string(),
        "--payload",
        "{oops",
        "--data-dir",
        data,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    let out = callforce(&[
        "deadletter",
        "edit",
        &a.to_string(),
        "--merge",
        r#"{"request":null}"#,
        "--data-dir",
        data,
    ]);
    assert!(
        !out.status.success(),
        "a payload that is no write job is refused"
    );
    assert!(
        stderr(&out).contains("no longer be a write job"),
        "{}",
        stderr(&out)
    );

    // Replay one: its job is queued again, with the fixed payload and the same key.
    let out = callforce(&["deadletter", "replay", &a.to_string(), "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("replayed"), "{}", stdout(&out));
    let dl = store
        .dead_letter(ws, callforce_store::DeadLetterId(a))
        .await
        .expect("read")
        .expect("dl");
    assert_eq!(dl.status, DeadLetterStatus::Replayed);
    let job = store.job(ws, dl.job_id).await.expect("read").expect("job");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.idempotency_key, "a");
    assert!(job.payload.contains("Fixed"), "{}", job.payload);
    // Twice: refused, non-zero exit, the reason said.
    let out = callforce(&["deadletter", "replay", &a.to_string(), "--data-dir", data]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not open"), "{}", stderr(&out));

    let out = callforce(&["deadletter", "discard", &b.to_string(), "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = callforce(&["deadletter", "replay", "--all", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 dead letter(s) replayed"),
        "{}",
        stdout(&out)
    );
    let dl_c = store
        .dead_letter(ws, callforce_store::DeadLetterId(c))
        .await
        .expect("read")
        .expect("dl");
    assert_eq!(dl_c.status, DeadLetterStatus::Replayed);
    let out = callforce(&["deadletter", "replay", "--data-dir", data]);
    assert!(!out.status.success(), "replay needs ids or --all");

    // Each action is in the audit log, as the CLI's, and the chain holds.
    let log = store
        .list_audit(ws, &Default::default())
        .await
        .expect("audit");
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deadletter.edit",
            "deadletter.replay",
            "deadletter.discard",
            "deadletter.replay"
        ]
    );
    assert!(log.iter().all(|e| e.agent.as_deref() == Some("cli")));
    let out = callforce(&["audit", "verify", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("workspace default: intact (4 entries)"),
        "{}",
        stdout(&out)
    );

    // Another workspace, the database named by URL.
    let out = callforce(&[
        "deadletter",
        "list",
        "--workspace",
        "nope",
        "--database-url",
        &format!("sqlite:{}", dir.path().join("callforce.db").display()),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no workspace named 'nope'"),
        "{}",
        stderr(&out)
    );
    store.close().await;
}

#[tokio::test]
async fn admin_commands_refuse_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    for args in [
        vec!["deadletter", "list", "--data-dir", data],
        vec!["audit", "verify", "--data-dir", data],
    ] {
        let out = callforce(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains("no database at"), "{}", stderr(&out));
    }
    assert!(
        !dir.path().join("callforce.db").exists(),
        "nothing was created"
    );
}

/// A data directory with two workspaces whose chains hold 5 and 2 entries.
async fn chain(dir: &Path) {
    let store = open(dir).await;
    let a = store
        .create_workspace("default", t(0))
        .await
        .expect("ws")
        .id;
    let b = store.create_workspace("other", t(0)).await.expect("ws").id;
    for i in 1..=5 {
        let e = NewAuditEntry {
            kind: "write.done".into(),
            call_id: Some(format!("call-{i}")),
            agent: Some("aria".into()),
            record_ids: vec![format!("00T00000000000{i}AAA")],
            request: Some(format!(r#"{{"n":{i}}}"#)),
            response: Some(r#"{"success":true}"#.into()),
        };
        store.append_audit(a, t(i), &e).await.expect("append");
        if i <= 2 {
            store.append_audit(b, t(i), &e).await.expect("append");
        }
    }
    store.close().await;
}

async fn tamper(dir: &Path, sql: &[&str]) {
    let store = open(dir).await;
    let pool = store.sqlite_pool().expect("sqlite");
    for q in sql {
        let n = sqlx::query(q)
            .execute(pool)
            .await
            .expect("tamper")
            .rows_affected();
        assert!(n > 0, "{q} changed nothing");
    }
    store.close().await;
}

#[tokio::test]
async fn audit_verify_catches_every_kind_of_tampering_and_names_the_first_bad_entry() {
    // The default workspace's id is 1; its chain has seq 1..=5.
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "an edited entry",
            &["UPDATE audit_log SET request = '{\"n\":33}' WHERE workspace_id = 1 AND seq = 3"],
            "BROKEN at entry 3: its content does not match its hash",
        ),
        (
            "an edited time",
            &["UPDATE audit_log SET at = at + 1 WHERE workspace_id = 1 AND seq = 2"],
            "BROKEN at entry 2: its content does not match its hash",
        ),
        (
            "a deleted entry",
            &["DELETE FROM audit_log WHERE workspace_id = 1 AND seq = 3"],
            "BROKEN at entry 3: it is missing",
        ),
        (
            "two swapped entries",
            &[
                "UPDATE audit_log SET seq = 100 WHERE workspace_id = 1 AND seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE workspace_id = 1 AND seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE workspace_id = 1 AND seq = 100",
            ],
            "BROKEN at entry 2: it does not link to the entry before it",
        ),
        (
            "a truncated tail",
            &["DELETE FROM audit_log WHERE workspace_id = 1 AND seq >= 4"],
            "BROKEN at entry 4: the chain ends before or differently from its recorded head",
        ),
    ];
    for (what, sql, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_str().expect("utf-8 path");
        chain(dir.path()).await;
        let out = callforce(&["audit", "verify", "--data-dir", data]);
        assert!(
            out.status.success(),
            "{what}: intact before: {}",
            stdout(&out)
        );
        tamper(dir.path(), sql).await;
        let out = callforce(&["audit", "verify", "--data-dir", data]);
        let report = stdout(&out);
        assert!(!out.status.success(), "{what}: exit code: {report}");
        assert!(
            report.contains(&format!("workspace default: {want}")),
            "{what}: {report}"
        );
        assert!(
            report.contains("workspace other: intact (2 entries)"),
            "{what}: {report}"
        );
        assert!(
            stderr(&out).contains("does not verify"),
            "{what}: {}",
            stderr(&out)
        );
        // Only the other workspace: intact, exit 0.
        let out = callforce(&[
            "audit",
            "verify",
            "--workspace",
            "other",
            "--data-dir",
            data,
        ]);
        assert!(out.status.success(), "{what}: {}", stdout(&out));
    }
}

/// The same commands on PostgreSQL, named by `--database-url` (a fresh schema per run).
#[tokio::test]
async fn deadletter_and_audit_commands_work_on_postgres() {
    let test = "deadletter_and_audit_commands_work_on_postgres";
    let Some(schema) = PgSchema::for_test(test).await.expect("schema") else {
        return;
    };
    let scoped = schema.url();
    let store = Store::open(&scoped).await.expect("scoped store");
    let (current,): (String,) = sqlx::query_as("SELECT current_schema()")
        .fetch_one(store.pg_pool().expect("postgres"))
        .await
        .expect("schema");
    assert_eq!(current, schema.name(), "the URL's search_path is in force");
    let ws = store
        .create_workspace("default", t(0))
        .await
        .expect("ws")
        .id;
    let a = dead(&store, ws, "pa", "log_call").await;
    let out = callforce(&["deadletter", "list", "--json", "--database-url", &scoped]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    let out = callforce(&[
        "deadletter",
        "replay",
        &a.to_string(),
        "--database-url",
        &scoped,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dl = store
        .dead_letter(ws, callforce_store::DeadLetterId(a))
        .await
        .expect("read")
        .expect("dl");
    assert_eq!(dl.status, DeadLetterStatus::Replayed);
    let out = callforce(&["audit", "verify", "--database-url", &scoped]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workspace default: intact (1 entries)"),
        "{}",
        stdout(&out)
    );
    store.close().await;
}

/// The JSON lines `callforce audit list` prints for a workspace and a kind prefix.
fn audit_lines(data: &str, workspace: &str, kind: &str) -> Vec<serde_json::Value> {
    let out = callforce(&[
        "audit",
        "list",
        "--data-dir",
        data,
        "--workspace",
        workspace,
        "--kind",
        kind,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn workspace_create_and_keys_rotate_are_audited_as_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let store = open(dir.path()).await;
    store
        .create_workspace("default", t(0))
        .await
        .expect("default");
    store.close().await;

    let out = callforce(&["workspace", "create", "acme", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out)
        .split_whitespace()
        .find(|w| w.starts_with("cf_"))
        .expect("the key is printed once")
        .to_owned();
    let out = callforce(&["keys", "rotate", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));

    // On a database with a vault (its audit log keyed), a new key and an acknowledged alert
    // are appended with the master key from the data directory.
    let out = callforce(&["workspace", "new-key", "acme", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("cf_"), "{}", stdout(&out));
    let store = open(dir.path()).await;
    let acme = store
        .workspace_by_name("acme")
        .await
        .expect("read")
        .expect("acme")
        .id;
    let alert = store
        .record_alert(
            acme,
            &callforce_store::NewAlert {
                kind: callforce_store::alerts::KIND_NEEDS_REAUTH.into(),
                details: serde_json::json!({"reason": "revoked"}),
            },
            t(1),
        )
        .await
        .expect("alert");
    store.close().await;
    let id = alert.0.to_string();
    let out = callforce(&[
        "alert",
        "ack",
        &id,
        "--workspace",
        "acme",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = callforce(&["alert", "list", "--workspace", "acme", "--data-dir", data]);
    assert!(
        stdout(&out).contains("cli"),
        "acknowledged by the CLI: {}",
        stdout(&out)
    );
    let out = callforce(&[
        "alert",
        "ack",
        "987654",
        "--workspace",
        "acme",
        "--data-dir",
        data,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no alert 987654"), "{}", stderr(&out));

    let config = audit_lines(data, "acme", "config.");
    let kinds: Vec<(&str, &str)> = config
        .iter()
        .filter_map(|e| Some((e["kind"].as_str()?, e["agent"].as_str()?)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("config.workspace.create", "cli"),
            ("config.key.create", "cli"),
            ("config.key.create", "cli")
        ]
    );
    let request: serde_json::Value =
        serde_json::from_str(config[0]["request"].as_str().expect("request")).expect("JSON");
    assert_eq!(request["name"], "acme");
    for ws in ["acme", "default"] {
        let rotated = audit_lines(data, ws, "vault.");
        assert_eq!(rotated.len(), 1, "{ws}: {rotated:?}");
        assert_eq!(rotated[0]["kind"], "vault.key_rotated");
        assert_eq!(rotated[0]["agent"], "cli");
    }
    assert!(audit_lines(data, "acme", "write.").is_empty());
    let everything = audit_lines(data, "acme", "");
    assert_eq!(
        everything.len(),
        5,
        "and the second key and the acknowledged alert"
    );
    assert_eq!(everything[4]["kind"], "alert.acknowledge");
    let text = serde_json::Value::Array(everything).to_string();
    assert!(!text.contains(&key), "the key's plaintext is not recorded");
    let master = std::fs::read_to_string(dir.path().join("master.key")).expect("key file");
    assert!(!text.contains(master.trim()), "nor the master key");

    let out = callforce(&["audit", "verify", "--data-dir", data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("workspace acme: intact (5 entries)"),
        "{report}"
    );
    assert!(
        report.contains("workspace default: intact (1 entries)"),
        "{report}"
    );
}

/// `workspace create` and `keys rotate` on PostgreSQL, named by `--database-url` (the database
/// `callforce serve --database-url` uses).
#[tokio::test]
async fn workspace_create_and_keys_rotate_work_on_postgres() {
    let test = "workspace_create_and_keys_rotate_work_on_postgres";
    let Some(schema) = PgSchema::for_test(test).await.expect("schema") else {
        return;
    };
    let scoped = schema.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");

    let out = callforce(&[
        "workspace",
        "create",
        "acme",
        "--data-dir",
        data,
        "--database-url",
        &scoped,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out)
        .split_whitespace()
        .find(|w| w.starts_with("cf_"))
        .expect("the key is printed once")
        .to_owned();
    assert!(
        !dir.path().join("callforce.db").exists(),
        "nothing is written to SQLite"
    );
    let store = Store::open(&scoped).await.expect("scoped store");
    let ws = store
        .workspace_by_name("acme")
        .await
        .expect("read")
        .expect("the workspace is in PostgreSQL");
    let (opened, _) = store
        .authenticate(&key)
        .await
        .expect("authenticate")
        .expect("the printed key opens it");
    assert_eq!(opened, ws.id);
    // The master key file sits in the data directory; the secrets in PostgreSQL.
    let out = callforce(&[
        "keys",
        "rotate",
        "--data-dir",
        data,
        "--database-url",
        &scoped,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("key version"), "{}", stdout(&out));
    let (versions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM vault_keys")
        .fetch_one(store.pg_pool().expect("postgres"))
        .await
        .expect("vault keys");
    assert!(
        versions >= 1,
        "the rotation registered its key in PostgreSQL"
    );
}

/// `callforce config check` checks a map against a dev org with the given schema (the demo
/// schema by default): 0 and `ok` for a good map, 1 and every problem with its fix for a bad
/// one; the same map passes against the schema that has its field.
#[test]
fn config_check_reports_every_problem_against_the_given_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("intents.json");
    let good = dir.path().join("good.json");
    std::fs::write(
        &map,
        r#"{"demo_requested": "Lead.Demo_Date__c", "qualified": "Lead.Status"}"#,
    )
    .expect("map");
    std::fs::write(
        &good,
        r#"{"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}"#,
    )
    .expect("map");
    let check = |map: &Path, schema: Option<&Path>| {
        let mut args = vec!["config", "check", "--intents", map.to_str().expect("path")];
        if let Some(s) = schema {
            args.extend(["--schema", s.to_str().expect("path")]);
        }
        callforce(&args)
    };

    let demo = check(&good, None);
    assert_eq!(demo.status.code(), Some(0), "{}", stderr(&demo));
    assert!(
        stdout(&demo).starts_with("ok: 2 intent(s)"),
        "{}",
        stdout(&demo)
    );

    let demo = check(&map, None);
    assert_eq!(demo.status.code(), Some(1), "{}", stderr(&demo));
    let out = stdout(&demo);
    assert!(
        out.contains("error: intents.demo_requested.writes[0].fields.Demo_Date__c:")
            && out.contains("  fix: ")
            && out.contains("FAILED: 2 intent(s)"),
        "{out}"
    );

    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"fields": {"Lead": [{"name": "Demo_Date__c", "label": "Demo Date", "type": "date"}]}}"#,
    )
    .expect("schema");
    let own = check(&map, Some(&schema));
    assert_eq!(own.status.code(), Some(0), "{}", stdout(&own));
}

/// A start that cannot take its port says which port and what to pass, in plain lines with no
/// backtrace (even with RUST_BACKTRACE set), and exits with status 1.
#[test]
fn serve_on_a_taken_port_says_to_pass_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", &port, "--data-dir"])
        .arg(dir.path())
        .env("RUST_BACKTRACE", "1")
        .env("CALLFORCE_LOG", "error")
        .output()
        .expect("run callforce");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: port {port} is in use on 127.0.0.1: pass --port N"
        )),
        "{err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
    assert!(err.lines().count() <= 3, "{err}");
}

/// A PostgreSQL that refuses connections is reported with that cause, not as a pool that timed
/// out.
#[test]
fn serve_with_an_unreachable_database_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/none"])
        .env("CALLFORCE_LOG", "error")
        .output()
        .expect("run callforce");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: opening the database of --database-url"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
}

/// A SQLite database that cannot be created is named in the error.
#[test]
fn serve_with_a_bad_sqlite_path_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("missing-dir").join("callforce.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .arg("--database-url")
        .arg(format!("sqlite:{}", bad.display()))
        .env("CALLFORCE_LOG", "error")
        .output()
        .expect("run callforce");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("opening the database {}", bad.display())),
        "{err}"
    );
}

/// Logs written to a file or a pipe carry no colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour() {
    use std::os::unix::fs::PermissionsExt;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    // A data directory others can read: the start warns in the log before it stops.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", &port, "--data-dir"])
        .arg(dir.path())
        .env("CALLFORCE_LOG", "warn")
        .env_remove("NO_COLOR")
        .output()
        .expect("run callforce");
    let err = stderr(&out);
    assert!(err.contains("WARN"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

/// Runs `callforce serve` on `dir` with `env` and no log; its exit code and stderr.
fn serve_refused(dir: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"));
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("CALLFORCE_LOG", "error")
        .env("RUST_BACKTRACE", "1")
        .env_remove("CALLFORCE_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run callforce");
    let err = stderr(&out);
    assert!(!err.contains("backtrace"), "{err}");
    assert!(err.lines().count() <= 2, "{err}");
    (out.status.code(), err)
}

/// Every way the vault's master key can be wrong stops the start with a line or two that say
/// which key and what to do.
#[test]
fn serve_with_a_bad_master_key_says_which_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");

    let (code, err) = serve_refused(
        &dir.path().join("a"),
        &[("CALLFORCE_MASTER_KEY", "not-a-key")],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error: CALLFORCE_MASTER_KEY is not a usable master key")
            && err.contains("32 bytes in base64 (44 characters) or hex (64 digits)"),
        "{err}"
    );

    // A key file that cannot be read (here: a directory in its place).
    let unreadable = dir.path().join("b");
    std::fs::create_dir_all(unreadable.join("master.key")).expect("mkdir");
    let (code, err) = serve_refused(&unreadable, &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "error: reading the master key file {}",
            unreadable.join("master.key").display()
        )),
        "{err}"
    );

    // A database sealed under a key file that is gone, then under another key.
    let sealed = dir.path().join("c");
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&sealed)
        .env("CALLFORCE_LOG", "error")
        .env_remove("CALLFORCE_MASTER_KEY")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let mut banner = std::io::BufReader::new(first.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut banner, &mut line).expect("banner");
    assert!(line.contains("listening"), "{line}");
    first.kill().expect("kill");
    first.wait().expect("wait");
    let key_file = sealed.join("master.key");
    std::fs::remove_file(&key_file).expect("remove the key file");
    let (code, err) = serve_refused(&sealed, &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "error: the master key file {} is missing but the database holds secrets sealed with a key: restore the file or set CALLFORCE_MASTER_KEY",
            key_file.display()
        )),
        "{err}"
    );
    let (code, err) = serve_refused(&sealed, &[("CALLFORCE_MASTER_KEY", &"11".repeat(32))]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error: wrong master key: it does not open this database's secrets"),
        "{err}"
    );
}
