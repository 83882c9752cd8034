//! The API's contract: `GET /openapi.json` (no API key) answers the OpenAPI 3.1 description of
//! every `/v1` route (and `/healthz`), generated from the handlers' annotations and the request
//! and answer types they use. Every operation that needs an API key says so (`bearer`); every
//! error answer has [`ErrorBody`](super::ErrorBody), the one error body of the API.

use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{agents, calls, connections, deadletters, health, intents};

/// The description of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "callforce",
        description = "The REST API of callforce: calls and their actions, agents and custom actions, connections and API keys, intent maps, dead letters, jobs, the audit log and alerts. Every `/v1` route needs `Authorization: Bearer <API key>` and sees only the key's workspace."
    ),
    paths(
        health::healthz,
        calls::tools,
        calls::start_call,
        calls::caller_context,
        calls::run_action,
        calls::end_call,
        agents::list_agents,
        agents::get_agent,
        agents::put_agent,
        agents::delete_agent,
        agents::list_actions,
        agents::get_action,
        agents::put_action,
        agents::delete_action,
        connections::link,
        connections::create,
        connections::list,
        connections::show,
        connections::update,
        connections::test,
        connections::reconnect,
        connections::disconnect,
        connections::create_key,
        connections::list_keys,
        connections::revoke_key,
        intents::get_map,
        intents::put_map,
        intents::check_map,
        intents::recheck_map,
        deadletters::list,
        deadletters::show,
        deadletters::edit,
        deadletters::delete_dead_letter,
        deadletters::replay_one,
        deadletters::replay_many,
        deadletters::discard,
        deadletters::audit,
        deadletters::verify,
        deadletters::alerts,
        deadletters::acknowledge,
        deadletters::settings,
        deadletters::put_settings,
        deadletters::test_alert,
        deadletters::list_jobs,
        deadletters::show_job,
        super::public_key,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&Bearer),
    security(("api_key" = [])),
    tags(
        (name = "calls", description = "Tools for a model, call sessions and the actions run in them"),
        (name = "agents", description = "Agents and custom actions"),
        (name = "connections", description = "The workspace's org connections and API keys"),
        (name = "intents", description = "The workspace's intent map"),
        (name = "deadletters", description = "Writes that failed for good"),
        (name = "jobs", description = "Queued writes"),
        (name = "audit", description = "The audit log"),
        (name = "alerts", description = "Alerts"),
        (name = "health", description = "Whether the service reaches its org"),
    )
)]
pub struct ApiDoc;

/// Adds the API key scheme, and the answers every operation may give with the API's error
/// body: 401 (no valid key) when it needs a key, 400 when a path parameter does not parse
/// (not UTF-8 once decoded), 500 (the service failed).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer <key>`"))
                    .build(),
            ),
        );
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let public = op
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().all(is_empty_requirement));
                let in_path =
                    op.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path)
                    });
                let responses = &mut op.responses.responses;
                if in_path {
                    responses
                        .entry("400".into())
                        .or_insert_with(|| error("A path parameter does not parse"));
                }
                if !public {
                    responses
                        .entry("401".into())
                        .or_insert_with(|| error("No valid API key"));
                }
                responses
                    .entry("500".into())
                    .or_insert_with(|| error("The service failed (the cause is logged)"));
            }
        }
    }
}

/// Whether a security requirement is the empty one (no key needed).
fn is_empty_requirement(r: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(serde_json::Map::is_empty))
}

/// The description, as served.
pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`: the API's description (no API key).
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let body = spec().to_json().unwrap_or_default();
    axum::Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response()
            }
        }),
    )
}
