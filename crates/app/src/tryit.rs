//! Try it: one custom action of a workspace run outside a live call, with sample arguments, so
//! an admin sees the request it renders and what the org answers before a model ever calls it.
//!
//! A try opens a call of its own (`tryit-` and a random id) on the chosen connection, the
//! workspace's default when none is named, and ends with it. The action is first run under a
//! policy that asks for confirmation, which renders and checks the request exactly as a call
//! would (describe checks included) and sends nothing; the request is then sent, when it may
//! be, with the confirmation token that binds it, so what is sent is what was shown.
//!
//! What may be sent:
//! - on the embedded dev org ([`EMBEDDED`]), anything;
//! - on any other (real) org, nothing until the admin acknowledged that it is real, and a write
//!   (any method but `GET`, or a destructive action) only when the admin also confirmed that
//!   write.
//!
//! A try that sent something is audited ([`TRIED`]) with the admin's key as its actor, the
//! connection, the rendered request (secret-named fields blanked) and the outcome; a write goes
//! through the connection's write pipeline like a call's, and is audited there as well.

use callforce_actions::{
    Action, ActionError, Agent, CallSession, CallVars, Effect, Scope, confirm::TOKEN_ARG,
};
use callforce_store::NewAuditEntry;
use serde_json::{Map, Value, json};

use crate::caller::Caller;
use crate::calls::App;
use crate::changes::{Actor, scrub};
use crate::error::{Error, Kind};
use crate::registry::lookup_error;

/// The environment of the service's own dev org's connection.
pub const EMBEDDED: &str = "embedded";

/// The audit entry of a try that sent its request.
pub const TRIED: &str = "action.tried";

/// What to try: a custom action, its sample arguments, where, and what the admin agreed to.
#[derive(Debug, Clone, Default)]
pub struct TryIt {
    /// The custom action's name.
    pub action: String,
    /// The sample arguments (a JSON object).
    pub arguments: Value,
    /// The connection to run on (`None`: the workspace's default).
    pub connection: Option<String>,
    /// The call variable `caller_phone` the templates may use.
    pub caller_phone: Option<String>,
    /// The admin acknowledged that a connection that is not the dev org reaches a real org.
    pub real_org_acknowledged: bool,
    /// The admin confirmed that a write may be sent to a real org.
    pub write_confirmed: bool,
}

/// Why a rendered request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The connection reaches a real org, and the admin has not acknowledged it.
    RealOrg,
    /// The action writes to a real org, and the admin has not confirmed the write.
    Write,
}

/// The connection a try ran on.
#[derive(Debug, Clone)]
pub struct TriedOn {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its environment (`embedded` for the dev org).
    pub environment: String,
}

impl TriedOn {
    /// Whether it is the service's own dev org.
    pub fn is_dev_org(&self) -> bool {
        self.environment == EMBEDDED
    }
}

/// What a try did.
#[derive(Debug, Clone)]
pub struct Tried {
    /// The connection.
    pub on: TriedOn,
    /// Whether the action writes (any method but `GET`, or destructive).
    pub writes: bool,
    /// The rendered request (`method`, `path`, `query`, `body`), or why it could not be
    /// rendered (the arguments or the definition to fix).
    pub request: Result<Value, ActionError>,
    /// Why the request was not sent, when it was rendered and held back.
    pub held: Option<Held>,
    /// The org's answer as a model reads it, or the error a model would get; `None` when
    /// nothing was sent.
    pub answer: Option<Result<Value, ActionError>>,
}

/// The arguments as an object, without a confirmation token (the try makes its own).
///
/// # Errors
/// `invalid_arguments` when they are not a JSON object.
fn arguments(v: Value) -> Result<Map<String, Value>, Error> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(mut m) => {
            m.remove(TOKEN_ARG);
            Ok(m)
        }
        _ => Err(Error::new(
            Kind::Invalid,
            "invalid_arguments",
            "the sample arguments must be a JSON object, such as {\"search_term\": \"Johnson\"}",
        )),
    }
}

/// Whether a request rendered for a real org may be sent, given what the admin agreed to.
pub fn hold(dev_org: bool, writes: bool, t: &TryIt) -> Option<Held> {
    if dev_org {
        None
    } else if !t.real_org_acknowledged {
        Some(Held::RealOrg)
    } else if writes && !t.write_confirmed {
        Some(Held::Write)
    } else {
        None
    }
}

impl App {
    /// Tries custom action `t.action` of `caller`'s workspace (see the [module](self)).
    ///
    /// # Errors
    /// No such custom action (404 `unknown_action`), arguments that are not a JSON object (400),
    /// a connection that cannot be used (as [`lookup_error`]), the store failed. What the
    /// action itself refuses is in [`Tried::request`] or [`Tried::answer`].
    pub async fn try_action(&self, caller: &Caller, t: TryIt) -> Result<Tried, Error> {
        let view = self
            .workspaces()
            .view(caller.workspace)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading the workspace's actions failed");
                Error::internal()
            })?;
        let Some(Action::Custom(custom)) = view.catalog.get(&t.action) else {
            return Err(Error::new(
                Kind::NotFound,
                "unknown_action",
                format!("this workspace has no custom action '{}'", t.action),
            ));
        };
        let writes = custom.effect() != Effect::Read;
        let mut args = arguments(t.arguments.clone())?;
        let live = self
            .registry()
            .get(caller.workspace, t.connection.as_deref())
            .map_err(|e| lookup_error(&e))?;
        let on = {
            let m = live.meta.read();
            TriedOn {
                id: m.id.clone(),
                name: m.name.clone(),
                environment: m.environment.clone(),
            }
        };
        let call_id = format!("tryit-{}", crate::token::random_hex(8));
        let mut call = CallSession::new(CallVars {
            call_id: call_id.clone(),
            caller_phone: t.caller_phone.clone().filter(|p| !p.trim().is_empty()),
            workspace: Some(caller.workspace.0),
            ..CallVars::default()
        });
        // Asking for confirmation renders and checks the request without sending it.
        let policy = Agent {
            actions: Some(vec![t.action.clone()]),
            confirm: vec![t.action.clone()],
            ..Agent::default()
        };
        let scope = || Scope {
            catalog: Some(&view.catalog),
            agent: Some(&policy),
        };
        let preview = live
            .actions
            .run_scoped(&mut call, &t.action, Value::Object(args.clone()), scope())
            .await;
        let (request, token) = match preview {
            Ok(v) => {
                let c = &v["confirmation_required"];
                (
                    c["preview"]["request"].clone(),
                    c["token"].as_str().unwrap_or_default().to_owned(),
                )
            }
            Err(e) => {
                return Ok(Tried {
                    on,
                    writes,
                    request: Err(e),
                    held: None,
                    answer: None,
                });
            }
        };
        if let Some(held) = hold(on.is_dev_org(), writes, &t) {
            return Ok(Tried {
                on,
                writes,
                request: Ok(request),
                held: Some(held),
                answer: None,
            });
        }
        args.insert(TOKEN_ARG.into(), Value::String(token));
        let answer = live
            .actions
            .run_scoped(&mut call, &t.action, Value::Object(args), scope())
            .await;
        self.registry().observe(&live).await;
        let entry = tried(
            Actor::of(caller),
            &call_id,
            &t.action,
            &on,
            &request,
            &answer,
        );
        if let Err(e) = self
            .store()
            .append_audit(caller.workspace, chrono::Utc::now(), &entry)
            .await
        {
            tracing::error!(error = %e, "auditing a try of a custom action failed");
            return Err(Error::internal());
        }
        Ok(Tried {
            on,
            writes,
            request: Ok(request),
            held: None,
            answer: Some(answer),
        })
    }
}

/// The audit entry of a try that sent `request` on `on`: who, which action, where, what was
/// sent (secret-named fields blanked) and the outcome (`ok`, or the error's code).
fn tried(
    actor: Actor,
    call_id: &str,
    action: &str,
    on: &TriedOn,
    request: &Value,
    answer: &Result<Value, ActionError>,
) -> NewAuditEntry {
    let outcome = match answer {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "code": e.code, "message": e.message}),
    };
    NewAuditEntry {
        kind: TRIED.to_owned(),
        call_id: Some(call_id.to_owned()),
        agent: Some(actor.to_string()),
        record_ids: Vec::new(),
        request: Some(
            scrub(&json!({
                "action": action,
                "connection_id": on.id,
                "environment": on.environment,
                "request": request,
            }))
            .to_string(),
        ),
        response: Some(scrub(&outcome).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dev_org_runs_without_the_admins_agreement() {
        let t = |ack, confirmed| TryIt {
            real_org_acknowledged: ack,
            write_confirmed: confirmed,
            ..TryIt::default()
        };
        for (dev_org, writes, ack, confirmed, want) in [
            (true, false, false, false, None),
            (true, true, false, false, None),
            (false, false, false, false, Some(Held::RealOrg)),
            (false, true, false, true, Some(Held::RealOrg)),
            (false, false, true, false, None),
            (false, true, true, false, Some(Held::Write)),
            (false, true, true, true, None),
        ] {
            assert_eq!(
                hold(dev_org, writes, &t(ack, confirmed)),
                want,
                "{dev_org} {writes} {ack} {confirmed}"
            );
        }
    }

    #[test]
    fn sample_arguments_are_an_object_without_a_token() {
        assert_eq!(arguments(Value::Null), Ok(Map::new()));
        let m = arguments(json!({"a": 1, "confirmation_token": "x"})).expect("object");
        assert_eq!(Value::Object(m), json!({"a": 1}));
        for bad in [json!([1]), json!("a"), json!(3)] {
            assert_eq!(
                arguments(bad.clone()).map_err(|e| e.code),
                Err("invalid_arguments"),
                "{bad}"
            );
        }
    }
}
