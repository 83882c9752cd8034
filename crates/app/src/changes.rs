//! Configuration changes and connection events as audit entries: every kind, who made the
//! change, and what each entry holds. The only place that shapes them.
//!
//! An entry's `agent` is the actor: `api-key:<id>` (a stored key), `api-key:env` (the key from
//! `CALLFORCE_API_KEY`), `cli` (a `callforce` command on the data directory) or `system` (the
//! service itself: the first start, the embedded dev org's login, a refused grant, a broken
//! intent map). Its `request` is JSON describing the change; it never holds a token, a key's
//! plaintext, a client secret or a private key: the builders below take only what is safe, and
//! [`scrub`] blanks any field with a secret's name in an admin-supplied definition before it is
//! recorded. The store appends each entry in the transaction of its change (`*_audited`).

use std::fmt;

use callforce_client::ApiUsage;
use callforce_store::{ApiKey, ApiKeyId, NewAuditEntry, StoredConnection, Workspace};
use serde_json::{Map, Value, json};

use crate::caller::Caller;

/// An agent saved (`PUT /v1/agents/{name}`).
pub const AGENT_PUT: &str = "config.agent.put";
/// An agent deleted.
pub const AGENT_DELETE: &str = "config.agent.delete";
/// A custom action saved (`PUT /v1/actions/{name}`).
pub const ACTION_PUT: &str = "config.action.put";
/// A custom action deleted.
pub const ACTION_DELETE: &str = "config.action.delete";
/// An intent map checked and activated (`PUT /v1/intents`).
pub const INTENTS_PUT: &str = "config.intents.put";
/// A live intent map deactivated because it no longer passes its check.
pub const INTENTS_DEACTIVATE: &str = "config.intents.deactivate";
/// A connection's name, default flag or limits changed (`PATCH /v1/connections/{id}`).
pub const CONNECTION_SETTINGS: &str = "config.connection.settings";
/// An API key created (`POST /v1/keys`, the first start, `callforce workspace create`).
pub const KEY_CREATE: &str = "config.key.create";
/// An API key revoked (`DELETE /v1/keys/{id}`).
pub const KEY_REVOKE: &str = "config.key.revoke";
/// A workspace created (`callforce workspace create`, the first start).
pub const WORKSPACE_CREATE: &str = "config.workspace.create";
/// A new connection to an org stored after its test call.
pub const CONNECTED: &str = "connection.connected";
/// An existing connection authorised again (its id, name and limits kept).
pub const RECONNECTED: &str = "connection.reconnected";
/// A connection tested (`POST /v1/connections/{id}/test`), with the outcome.
pub const TESTED: &str = "connection.tested";
/// The org refused a connection's grant: it needs a person to connect it again.
pub const NEEDS_REAUTH: &str = "connection.needs_reauth";
/// A connection disconnected by an admin (its token revoked at the org, secrets forgotten).
pub const DISCONNECTED: &str = "connection.disconnected";
/// The vault's master key rotated (`callforce keys rotate`): one entry per workspace.
pub const VAULT_KEY_ROTATED: &str = "vault.key_rotated";

/// Every kind this module makes (the tests check that each is audited).
pub const KINDS: &[&str] = &[
    AGENT_PUT,
    AGENT_DELETE,
    ACTION_PUT,
    ACTION_DELETE,
    INTENTS_PUT,
    INTENTS_DEACTIVATE,
    CONNECTION_SETTINGS,
    KEY_CREATE,
    KEY_REVOKE,
    WORKSPACE_CREATE,
    CONNECTED,
    RECONNECTED,
    TESTED,
    NEEDS_REAUTH,
    DISCONNECTED,
    VAULT_KEY_ROTATED,
];

/// Who made a change, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A stored API key (`api-key:<id>`).
    Key(ApiKeyId),
    /// The key from `CALLFORCE_API_KEY` (`api-key:env`).
    EnvKey,
    /// A `callforce` command run on the data directory (`cli`).
    Cli,
    /// The service itself (`system`).
    System,
}

impl Actor {
    /// The caller of an API request.
    pub fn of(caller: &Caller) -> Self {
        Self::of_key(caller.key)
    }

    /// The admin behind a stored key, or the environment's key when `None`.
    pub fn of_key(key: Option<ApiKeyId>) -> Self {
        key.map_or(Self::EnvKey, Self::Key)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(k) => write!(f, "api-key:{}", k.0),
            Self::EnvKey => f.write_str("api-key:env"),
            Self::Cli => f.write_str("cli"),
            Self::System => f.write_str("system"),
        }
    }
}

/// Whether a field name says it holds a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "key"
        || n == "pem"
        || [
            "token",
            "secret",
            "password",
            "private_key",
            "authorization",
            "api_key",
            "credential",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// The value with every field whose name says it holds a secret (`*token*`, `*secret*`,
/// `*password*`, `*private_key*`, `authorization`, `api_key`, `key`, ...) replaced by
/// `"[redacted]"`, at any depth.
pub fn scrub(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if secret_name(k) && !v.is_null() {
                        Value::String("[redacted]".into())
                    } else {
                        scrub(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

fn entry(kind: &str, actor: Actor, request: &Value) -> NewAuditEntry {
    NewAuditEntry {
        kind: kind.to_owned(),
        call_id: None,
        agent: Some(actor.to_string()),
        record_ids: Vec::new(),
        request: Some(scrub(request).to_string()),
        response: None,
    }
}

/// An agent saved, with its definition.
pub fn agent_put(actor: Actor, name: &str, definition: &Value) -> NewAuditEntry {
    entry(
        AGENT_PUT,
        actor,
        &json!({"name": name, "definition": definition}),
    )
}

/// An agent deleted.
pub fn agent_delete(actor: Actor, name: &str) -> NewAuditEntry {
    entry(AGENT_DELETE, actor, &json!({"name": name}))
}

/// A custom action saved, with its definition.
pub fn action_put(actor: Actor, name: &str, definition: &Value) -> NewAuditEntry {
    entry(
        ACTION_PUT,
        actor,
        &json!({"name": name, "definition": definition}),
    )
}

/// A custom action deleted.
pub fn action_delete(actor: Actor, name: &str) -> NewAuditEntry {
    entry(ACTION_DELETE, actor, &json!({"name": name}))
}

/// An intent map activated, with the map and how many warnings its check left.
pub fn intents_put(actor: Actor, map: &Value, warnings: usize) -> NewAuditEntry {
    entry(
        INTENTS_PUT,
        actor,
        &json!({"map": map, "active": true, "warnings": warnings}),
    )
}

/// A live intent map deactivated, with the problems that broke it.
pub fn intents_deactivate(actor: Actor, problems: &[String]) -> NewAuditEntry {
    entry(
        INTENTS_DEACTIVATE,
        actor,
        &json!({"active": false, "problems": problems}),
    )
}

/// What an admin may set on a connection.
fn settings(c: &StoredConnection) -> Value {
    json!({
        "name": c.name,
        "default": c.is_default,
        "daily_share": c.daily_share,
        "max_concurrent": c.max_concurrent,
    })
}

/// A connection's settings changed: the settings before and after.
pub fn connection_settings(
    actor: Actor,
    before: &StoredConnection,
    after: &StoredConnection,
) -> NewAuditEntry {
    entry(
        CONNECTION_SETTINGS,
        actor,
        &json!({"connection_id": after.id, "before": settings(before), "after": settings(after)}),
    )
}

/// An API key created: its id, name and display prefix (never the key).
pub fn key_create(actor: Actor, key: &ApiKey) -> NewAuditEntry {
    entry(
        KEY_CREATE,
        actor,
        &json!({"key_id": key.id, "name": key.name, "prefix": key.prefix}),
    )
}

/// An API key revoked.
pub fn key_revoke(actor: Actor, id: ApiKeyId) -> NewAuditEntry {
    entry(KEY_REVOKE, actor, &json!({"key_id": id}))
}

/// A workspace created.
pub fn workspace_create(actor: Actor, ws: &Workspace) -> NewAuditEntry {
    entry(
        WORKSPACE_CREATE,
        actor,
        &json!({"workspace_id": ws.id, "name": ws.name}),
    )
}

/// What a connection is, without its sealed secrets.
fn connection(c: &StoredConnection) -> Value {
    json!({
        "connection_id": c.id,
        "name": c.name,
        "kind": c.kind,
        "environment": c.environment,
        "login_url": c.login_url,
        "client_id": c.client_id,
        "instance_url": c.instance_url,
        "org_id": c.org_id,
        "user_id": c.user_id,
        "username": c.username,
        "scopes": c.scopes.split_whitespace().collect::<Vec<_>>(),
        "profile": c.profile,
        "api_version": c.api_version,
    })
}

fn usage(u: Option<&ApiUsage>) -> Value {
    u.map_or(Value::Null, |u| json!({"used": u.used, "max": u.max}))
}

/// A connection stored after its test call: [`CONNECTED`] when new, else [`RECONNECTED`].
pub fn connected(
    actor: Actor,
    c: &StoredConnection,
    reconnect: bool,
    api_usage: Option<&ApiUsage>,
) -> NewAuditEntry {
    let mut request = connection(c);
    request["api_usage"] = usage(api_usage);
    entry(
        if reconnect { RECONNECTED } else { CONNECTED },
        actor,
        &request,
    )
}

/// A connection tested: `Ok` with the org's API usage, or the error the test met.
pub fn tested(
    actor: Actor,
    id: &str,
    outcome: Result<Option<&ApiUsage>, (&str, &str)>,
) -> NewAuditEntry {
    let mut e = entry(TESTED, actor, &json!({"connection_id": id}));
    let response = match outcome {
        Ok(u) => json!({"ok": true, "api_usage": usage(u)}),
        Err((code, message)) => json!({"ok": false, "code": code, "message": message}),
    };
    e.response = Some(scrub(&response).to_string());
    e
}

/// The org refused a connection's grant.
pub fn needs_reauth(actor: Actor, id: &str, reason: &str) -> NewAuditEntry {
    entry(
        NEEDS_REAUTH,
        actor,
        &json!({"connection_id": id, "reason": reason}),
    )
}

/// A connection disconnected, and whether the org confirmed the token's revocation.
pub fn disconnected(actor: Actor, id: &str, revoked_at_org: bool) -> NewAuditEntry {
    entry(
        DISCONNECTED,
        actor,
        &json!({"connection_id": id, "revoked_at_org": revoked_at_org}),
    )
}

/// The master key rotated: the new key version and the workspace's connections re-sealed.
pub fn key_rotated(actor: Actor, version: i64, connections: &[String]) -> NewAuditEntry {
    entry(
        VAULT_KEY_ROTATED,
        actor,
        &json!({"key_version": version, "connections": connections}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_print_as_the_audit_log_records_them() {
        let cases = [
            (Actor::Key(ApiKeyId(7)), "api-key:7"),
            (Actor::EnvKey, "api-key:env"),
            (Actor::Cli, "cli"),
            (Actor::System, "system"),
            (Actor::of_key(None), "api-key:env"),
            (Actor::of_key(Some(ApiKeyId(3))), "api-key:3"),
        ];
        for (actor, want) in cases {
            assert_eq!(actor.to_string(), want);
        }
    }

    #[test]
    fn scrub_blanks_secret_named_fields_at_any_depth() {
        let cases = [
            (json!({"name": "a"}), json!({"name": "a"})),
            (
                json!({"access_token": "t"}),
                json!({"access_token": "[redacted]"}),
            ),
            (
                json!({"body": {"Client_Secret__c": "s"}}),
                json!({"body": {"Client_Secret__c": "[redacted]"}}),
            ),
            (
                json!([{"Authorization": "Bearer x"}]),
                json!([{"Authorization": "[redacted]"}]),
            ),
            (
                json!({"private_key": "-----BEGIN"}),
                json!({"private_key": "[redacted]"}),
            ),
            (json!({"key": "cf_1"}), json!({"key": "[redacted]"})),
            (json!({"password": null}), json!({"password": null})),
            (json!({"key_id": 4}), json!({"key_id": 4})),
            (
                json!({"parameters": [{"name": "token"}]}),
                json!({"parameters": [{"name": "token"}]}),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(&input), want, "{input}");
        }
    }

    #[test]
    fn every_kind_is_listed_once_and_named_by_its_family() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            assert!(seen.insert(*k), "{k} twice");
            assert!(
                ["config.", "connection.", "vault."]
                    .iter()
                    .any(|p| k.starts_with(p)),
                "{k}"
            );
        }
        assert_eq!(KINDS.len(), 16);
    }
}
