//! `GET /openapi.json` describes every `/v1` route the service serves, as OpenAPI 3.1; and
//! schemathesis (from PyPI, installed by `scripts/test`) runs
//! `tests/clients/python/test_openapi.py` against a real `callforce serve` with that
//! description: no 5xx, no answer outside the description.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::clients::{cannot_run, python_dir, python_with, serve};

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// Every `(METHOD, path)` the source's routers mount (`.route("/v1/...", get(a).post(b))`),
/// read from the `.rs` files under `crates/*/src`, so a route added anywhere is found.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let crates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&crates).expect("crates/") {
        let src = dir.expect("entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (path, methods) in route_calls(&text) {
            for m in methods {
                routes.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The `.route(PATH, METHOD(handler).METHOD(handler)...)` calls of `text`: each path with its
/// methods.
fn route_calls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        let args = &rest[at + ".route(".len()..];
        // The call's arguments: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut end = args.len();
        for (i, c) in args.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &args[..end];
        rest = &args[end..];
        let Some(open) = inner.find('"') else {
            continue;
        };
        let Some(len) = inner[open + 1..].find('"') else {
            continue;
        };
        let path = inner[open + 1..open + 1 + len].to_owned();
        let routing = &inner[open + 1 + len + 1..];
        let methods = METHODS
            .iter()
            .filter(|m| {
                routing.match_indices(&format!("{m}(")).any(|(i, _)| {
                    routing[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                })
            })
            .map(|m| (*m).to_owned())
            .collect();
        found.push((path, methods));
    }
    found
}

/// Every `(METHOD, path)` the description has.
fn routes_in_spec(spec: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                routes.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_route_reader_finds_routes_and_their_methods() {
    let text = r#"
        Router::new()
            .route("/v1/a", get(list).post(create))
            .route(
                "/v1/a/{id}",
                get(get_one).patch(update).delete(remove),
            )
            .route("/v1/b", axum::routing::post(make_post(1)))
    "#;
    assert_eq!(
        route_calls(text),
        vec![
            (
                "/v1/a".to_owned(),
                vec!["get".to_owned(), "post".to_owned()]
            ),
            (
                "/v1/a/{id}".to_owned(),
                vec!["get".to_owned(), "patch".to_owned(), "delete".to_owned()]
            ),
            ("/v1/b".to_owned(), vec!["post".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn openapi_json_is_3_1_and_describes_every_v1_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        api_key: Some("k".into()),
        ..callforce::serve::ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();

    // No key needed, JSON, OpenAPI 3.1.
    let resp = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("openapi.json");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().ok(),
        Some("application/json")
    );
    let spec: Value = resp.json().await.expect("JSON");
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "not OpenAPI 3.1: {}",
        spec["openapi"]
    );
    // (test_openapi.py checks it against the OpenAPI 3.1 document schema.)
    for key in ["info", "paths", "components"] {
        assert!(spec[key].is_object(), "no {key}");
    }

    // Every /v1 route the routers mount is described, and nothing else under /v1 is.
    let served: BTreeSet<_> = routes_in_source()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/v1/"))
        .collect();
    assert!(served.len() > 40, "too few routes found: {served:?}");
    let described: BTreeSet<_> = routes_in_spec(&spec)
        .into_iter()
        .filter(|(_, p)| p.starts_with("/v1/"))
        .collect();
    let undescribed: Vec<_> = served.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "routes served but not in /openapi.json: {undescribed:?}"
    );
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "routes in /openapi.json that no router mounts: {unserved:?}"
    );

    // Each described route is one the live service routes (a missing id is the handler's 404,
    // never the router's `unknown_route` or a 405).
    for (method, path) in &described {
        let url = format!(
            "{base}{}",
            path.replace("{id}", "999999").replace("{name}", "nope")
        );
        let resp = http
            .request(method.parse().expect("method"), &url)
            .bearer_auth("k")
            .header("content-type", "application/json")
            .body("{\"nothing\": 1}")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["error"]["code"] != "unknown_route",
            "{method} {path}: the service does not route it ({status} {body})"
        );
    }

    // Each operation has its own id.
    let mut ids = BTreeSet::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("item").values() {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
    }

    // Every keyed operation names the API key scheme and answers errors with the error body.
    assert_eq!(
        spec["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            if path.starts_with("/v1/") && path != "/v1/audit/checkpoint-key" {
                assert!(
                    op.get("security")
                        .is_none_or(|s| s != &serde_json::json!([{}])),
                    "{method} {path} needs no key"
                );
                assert_eq!(
                    responses["401"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
            assert!(
                responses.iter().any(|(status, r)| status.starts_with('2')
                    && r["content"]["application/json"]["schema"].is_object()),
                "{method} {path} has no JSON answer"
            );
            for (status, r) in responses {
                if status.starts_with('4') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_5xx_and_no_answer_outside_the_description() {
    let python = match python_with("schemathesis") {
        Ok(p) => p,
        Err(why) => return cannot_run("test_openapi.py", &why),
    };
    let service = serve("cf_test_openapi_key").await;
    let out = tokio::process::Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_openapi.py",
        ])
        .current_dir(python_dir())
        .env("CALLFORCE_URL", &service.base)
        .env("CALLFORCE_API_KEY", &service.key)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run pytest");
    assert!(
        out.status.success(),
        "test_openapi.py failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
