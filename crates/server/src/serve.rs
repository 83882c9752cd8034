//! `callforce serve`: the connector service.
//!
//! It starts the dev org in-process, on its own port with the demo data, and connects the
//! default workspace to it over HTTP with OAuth (the client-credentials grant) exactly as it
//! would to a real org: the embedded org is the default workspace's first connection, stored
//! (sealed) like any other, with environment `embedded` (its address changes at every start, so
//! that connection is logged in again at start). Other orgs are connected with the flows of
//! [`callforce_rest::connections`]. What runs: `/healthz`, the agent API of [`callforce_rest::calls`] (`/v1/tools`,
//! `/v1/calls`...), MCP at `/mcp` ([`crate::mcp`]) over the same [`callforce_app::App`], and
//! connections and keys ([`callforce_rest::connections`]). Writes go through the write pipeline
//! ([`callforce_app::pipeline`]), whose workers start with the service and stop when it shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use callforce_client::{ExposeSecret, SecretString};
use serde_json::json;

use callforce_app::registry::{AppConfig, NewConnection, Registry};
use callforce_app::vault::{KeySource, Secrets, Vault};

/// What `serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the service listens.
    pub addr: SocketAddr,
    /// An API key agents may send besides the stored ones (`CALLFORCE_API_KEY`).
    pub api_key: Option<String>,
    /// Where the service keeps its state (`callforce.db`, SQLite, unless `database_url` names
    /// another database; `master.key`).
    pub data_dir: std::path::PathBuf,
    /// The database (`postgres://...` or `sqlite:PATH`; `CALLFORCE_DATABASE_URL`) instead of
    /// `callforce.db` in `data_dir`. Several instances may share one PostgreSQL database.
    pub database_url: Option<String>,
    /// The vault's master key (`CALLFORCE_MASTER_KEY`); the key file in `data_dir` otherwise.
    pub master_key: Option<SecretString>,
    /// The public base URL (`CALLFORCE_PUBLIC_URL`); `http://<listen address>` by default.
    pub public_url: Option<String>,
    /// The connected app of the connect flow (`CALLFORCE_SF_CLIENT_ID` and `_SECRET`); the
    /// embedded dev org's app by default.
    pub app: Option<(String, Option<SecretString>)>,
    /// Replaces every environment's login host (`CALLFORCE_LOGIN_HOST_OVERRIDE`).
    pub login_host_override: Option<String>,
    /// How long a connect link and a flow's state are accepted (10 minutes).
    pub connect_ttl: std::time::Duration,
    /// Where `/mcp` may be reached from.
    pub mcp: callforce_mcp::McpConfig,
    /// The write pipeline's settings.
    pub pipeline: callforce_app::pipeline::PipelineSettings,
    /// The webhook alerts are posted to (`CALLFORCE_ALERT_WEBHOOK`); without it alerts stay in
    /// the store (`GET /v1/alerts`).
    pub alert_webhook: Option<String>,
    /// How call sessions behave (idle timeout, clock).
    pub calls: callforce_app::CallSettings,
    /// How often live intent maps are re-checked against the org's describes (60 s); a schema
    /// error on an intent write re-checks at once.
    pub intents_poll: std::time::Duration,
    /// Refuse to start when the data directory or the database files can be read by other
    /// users (`--strict-permissions`); without it the start warns.
    pub strict_permissions: bool,
    /// Where signed audit checkpoints go (none without a file).
    pub checkpoints: callforce_app::checkpoint::Settings,
}

impl ServeConfig {
    /// The defaults around an address and a data directory.
    pub fn new(addr: SocketAddr, data_dir: std::path::PathBuf) -> Self {
        Self {
            addr,
            api_key: None,
            data_dir,
            database_url: None,
            master_key: None,
            public_url: None,
            app: None,
            login_host_override: None,
            connect_ttl: std::time::Duration::from_secs(600),
            mcp: callforce_mcp::McpConfig::default(),
            pipeline: callforce_app::pipeline::PipelineSettings::default(),
            alert_webhook: None,
            calls: callforce_app::CallSettings::default(),
            intents_poll: std::time::Duration::from_secs(60),
            strict_permissions: false,
            checkpoints: callforce_app::checkpoint::Settings {
                every: std::time::Duration::from_secs(60),
                ..Default::default()
            },
        }
    }
}

/// A started service: its address and the embedded dev org, if any.
pub struct Started {
    /// The address the service listens on.
    pub addr: SocketAddr,
    /// The embedded dev org (kept alive as long as the service).
    pub devorg: Option<callforce_devorg::Running>,
    /// The serving task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The key created at the first start (shown once; only its hash is stored).
    pub api_key: Option<String>,
    /// The state files other users can read, found at start (warned about; refused with
    /// [`ServeConfig::strict_permissions`]).
    pub loose: Vec<crate::permissions::Loose>,
    /// The agent API's state.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by tests"))]
    pub api: Arc<callforce_app::App>,
    /// The live connections.
    pub registry: Arc<Registry>,
    /// The default workspace.
    pub workspace: callforce_store::WorkspaceId,
    /// The public key audit checkpoints are signed with, when checkpoints are on.
    pub checkpoint_key: Option<String>,
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the describe refresher looks for connections whose describes are due.
const DESCRIBE_POLL: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the alert sender looks for due alerts.
const ALERT_POLL: std::time::Duration = std::time::Duration::from_secs(1);

struct Shared {
    registry: Arc<Registry>,
    workspace: callforce_store::WorkspaceId,
}

/// Starts the embedded dev org, connects to it and serves the service's routes on `config.addr`.
///
/// # Errors
/// When the dev org or the listener cannot start, or the connection cannot log in.
pub async fn start(config: ServeConfig) -> anyhow::Result<Started> {
    crate::permissions::create_dir(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let loose = check_permissions(&config)?;
    // NB: the port is taken before anything is created, so a start that cannot listen leaves
    // no workspace behind whose first key was never shown.
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let store = match &config.database_url {
        // NB: the URL may hold a password: it is never part of an error or a log line.
        Some(url) => callforce_store::Store::open(url).await.with_context(|| {
            format!(
                "opening the database of --database-url ({})",
                crate::env::DATABASE_URL
            )
        })?,
        None => {
            let db = config.data_dir.join("callforce.db");
            callforce_store::Store::open_sqlite(&db)
                .await
                .with_context(|| format!("opening {}", db.display()))?
        }
    };
    let source = KeySource::from(
        config.master_key.as_ref().map(|k| k.expose_secret()),
        &config.data_dir,
    )?;
    let vault = Arc::new(Vault::unlock(&store, &source).await?);
    // Audit entries are keyed with the master key's audit key; checkpoints signed with the
    // vault's Ed25519 key.
    let audit_keys = vault.audit_keys(&store).await?;
    let store = store.with_audit_keys(audit_keys);
    let checkpoint_key = vault.checkpoint_key(&store).await?;

    let org = callforce_devorg::DevOrg::new(callforce_devorg::Config::default())
        .context("building the dev org")?;
    let running = callforce_devorg::spawn(org, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the embedded dev org")?;
    let c = running.org.config();
    let instance_url = running.org.instance_url().to_owned();

    // Every service has a "default" workspace: the one the first key and CALLFORCE_API_KEY open.
    let now = chrono::Utc::now();
    let workspace = match store
        .workspace_by_name("default")
        .await
        .context("reading the default workspace")?
    {
        Some(ws) => ws,
        None => match store
            .create_workspace_audited("default", now, |ws| {
                callforce_app::changes::workspace_create(callforce_app::changes::Actor::System, ws)
            })
            .await
        {
            Ok(ws) => ws,
            // Another instance on the same database created it first.
            Err(e) => match store.workspace_by_name("default").await? {
                Some(ws) => ws,
                None => return Err(e).context("creating the default workspace"),
            },
        },
    };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let (client_id, client_secret) = config.app.clone().unwrap_or_else(|| {
        (
            c.client_id.clone(),
            Some(SecretString::from(c.client_secret.clone())),
        )
    });
    let app = AppConfig {
        client_id,
        client_secret,
        redirect_uri: format!(
            "{}/connect/salesforce/callback",
            public_url.trim_end_matches('/')
        ),
        login_host_override: config.login_host_override.clone(),
    };
    let sinks = callforce_app::pipeline::prepare(&store, &config.pipeline)
        .context("starting the write pipeline")?;
    let registry = Registry::load(
        store.clone(),
        vault,
        app,
        callforce_actions::Catalog::with_examples(),
        Some(sinks.clone()),
    )
    .await?;

    // The embedded dev org: the default workspace's connection, logged in again at every start
    // (its address is new each time).
    let embedded = store
        .list_connections(workspace.id)
        .await?
        .into_iter()
        .find(|c| c.environment == "embedded");
    let mut secrets = Secrets::default();
    secrets.client_secret = Some(c.client_secret.clone());
    registry
        .connect_grant(
            NewConnection {
                id: embedded.map(|e| e.id),
                workspace: workspace.id,
                kind: "client_credentials",
                environment: "embedded".into(),
                login_url: instance_url.clone(),
                client_id: Some(c.client_id.clone()),
                profile: callforce_app::registry::APP_PROFILE.to_owned(),
                name: Some("embedded dev org".into()),
                secrets,
                jwt_username: None,
            },
            callforce_app::changes::Actor::System,
        )
        .await
        .context("connecting to the embedded dev org")?;
    tracing::info!(%instance_url, "connected to the embedded dev org");

    let workers =
        callforce_app::pipeline::spawn_workers(&sinks, registry.clone(), config.pipeline.workers);
    // The describes the non-blocking writes are checked against: missing or an hour old ones
    // are fetched in the background, never on an agent's time.
    let describes = AbortOnDrop(registry.spawn_describe_refresher(DESCRIBE_POLL));
    let alert_store = store.clone();
    let checkpoint_public = checkpoint_key.verifying_key();
    let checkpoints = match &config.checkpoints.file {
        Some(file) => {
            let every = config
                .checkpoints
                .every
                .max(std::time::Duration::from_millis(10));
            let checkpointer = callforce_app::checkpoint::Checkpointer::new(
                store.clone(),
                checkpoint_key,
                file.clone(),
                config.checkpoints.url.clone(),
            )?;
            tracing::info!(
                file = %file.display(),
                key = %callforce_app::checkpoint::key_text(&checkpoint_public),
                "audit checkpoints on"
            );
            Some(AbortOnDrop(checkpointer.spawn(every)))
        }
        None => None,
    };
    let api = Arc::new(
        callforce_app::App::new(
            registry.clone(),
            store,
            config.api_key.as_deref(),
            workspace.id,
        )
        .with_call_settings(config.calls.clone()),
    );
    // Idle calls are swept a few times per idle period (at least every minute).
    let sweep_every = (config.calls.idle_timeout / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let sweeper = api.spawn_sweeper(sweep_every);
    let poller = callforce_app::intents::Intents::spawn_poller(
        api.clone(),
        config.intents_poll.max(std::time::Duration::from_secs(1)),
    );
    let api_state = api.clone();
    let connections = Arc::new(callforce_app::connections::Connections::new(
        registry.clone(),
        api.clone(),
        callforce_app::connections::ConnectSettings {
            public_url,
            ttl: config.connect_ttl,
        },
    ));
    let shared = Arc::new(Shared {
        registry: registry.clone(),
        workspace: workspace.id,
    });
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .with_state(shared)
        .merge(callforce_mcp::router(api.clone(), &config.mcp))
        .merge(callforce_rest::metrics::router(api.clone()))
        .merge(callforce_rest::intents::router(api.clone()))
        .merge(callforce_rest::calls::router(api.clone()))
        .merge(callforce_rest::connections::router(connections.clone()))
        .merge(callforce_web::connect::router(connections))
        .merge(callforce_rest::audit_key_router(checkpoint_public));
    let app = callforce_rest::layer::layer(app, api);
    let alerts = match &config.alert_webhook {
        Some(url) => {
            let sender = callforce_app::alerts::AlertSender::new(
                alert_store,
                url,
                &format!("http://{addr}"),
            )?;
            Some(AbortOnDrop(sender.spawn(ALERT_POLL)))
        }
        None => {
            tracing::info!(
                "no alert webhook configured ({}): alerts are kept in the store, see GET /v1/alerts",
                crate::env::ALERT_WEBHOOK
            );
            None
        }
    };
    // The first key is made last, once everything else started: a start that fails before
    // leaves the default workspace without a key, and the next start makes it.
    let generated = first_key(registry.store(), workspace.id, config.api_key.is_some()).await?;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(callforce_rest::layer::shutdown_signal())
            .await;
        // The queue's workers stop after their current round; unfinished jobs stay queued.
        workers.stop().await;
        // The sender stops with the service, also when this task is aborted.
        drop(alerts);
        drop(describes);
        drop(checkpoints);
        sweeper.abort();
        poller.abort();
        served
    });
    Ok(Started {
        addr,
        devorg: Some(running),
        task,
        api_key: generated,
        loose,
        api: api_state,
        registry,
        workspace: workspace.id,
        checkpoint_key: config
            .checkpoints
            .file
            .as_ref()
            .map(|_| callforce_app::checkpoint::key_text(&checkpoint_public)),
    })
}

/// The data directory's and the database files' loose permissions, as warnings; an error with
/// [`ServeConfig::strict_permissions`].
fn check_permissions(config: &ServeConfig) -> anyhow::Result<Vec<crate::permissions::Loose>> {
    let db = match config.database_url.as_deref() {
        None => Some(config.data_dir.join("callforce.db")),
        Some(url) => url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(std::path::PathBuf::from),
    };
    let mut files = db
        .map(|db| crate::permissions::sqlite_files(&db))
        .unwrap_or_default();
    files.push(config.data_dir.join("master.key"));
    let loose = crate::permissions::check(&config.data_dir, &files);
    if loose.is_empty() {
        return Ok(loose);
    }
    if config.strict_permissions {
        let list: Vec<String> = loose.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "--strict-permissions: the service's state must be readable by its owner only:\n  {}",
            list.join("\n  ")
        );
    }
    for l in &loose {
        tracing::warn!("{l} (the service's state holds tokens, phone numbers and payloads)");
    }
    Ok(loose)
}

/// Creates the default workspace's first API key when it never had one and no key comes from
/// `CALLFORCE_API_KEY`: the key to print, shown once.
async fn first_key(
    store: &callforce_store::Store,
    workspace: callforce_store::WorkspaceId,
    env_key: bool,
) -> anyhow::Result<Option<String>> {
    // NB: a revoked key counts: a workspace whose keys were all revoked gets no new one here
    // (`callforce workspace new-key` makes one on purpose).
    if env_key || !store.list_api_keys(workspace).await?.is_empty() {
        return Ok(None);
    }
    let key = store
        .create_api_key_audited(
            workspace,
            "created at first start",
            chrono::Utc::now(),
            |k| callforce_app::changes::key_create(callforce_app::changes::Actor::System, k),
        )
        .await
        .context("creating the first API key")?;
    Ok(Some(key.plaintext.expose_secret().to_owned()))
}

/// `GET /healthz`: 200 when the default workspace's org answers, 503 with the reason when it
/// does not.
async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let live = match s.registry.get(s.workspace, None) {
        Ok(l) => l,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "org": {"error": e.to_string()}})),
            );
        }
    };
    let conn = live.actions.connection().clone();
    let instance_url = conn.instance_url();
    match conn.warm().await {
        Ok(()) => {
            let usage = conn
                .api_usage()
                .map(|u| json!({"used": u.used, "max": u.max}));
            (
                StatusCode::OK,
                Json(
                    json!({"status": "ok", "org": {"instance_url": instance_url, "api_usage": usage}}),
                ),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: the org does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "org": {"instance_url": instance_url, "error": e.to_string()}}),
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serve_connects_to_the_embedded_dev_org_and_reports_health() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = start(ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        ))
        .await
        .expect("starts");
        let body: serde_json::Value = reqwest::get(format!("http://{}/healthz", started.addr))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        assert_eq!(body["status"], "ok", "{body}");
        let org = started.devorg.as_ref().expect("embedded org");
        assert_eq!(body["org"]["instance_url"], org.org.instance_url());
        assert!(
            body["org"]["api_usage"]["max"]
                .as_u64()
                .is_some_and(|m| m > 0),
            "{body}"
        );

        // The org failing is reported, not hidden.
        let faults = format!("{}/devorg/faults", org.org.instance_url());
        let put = reqwest::Client::new()
            .put(&faults)
            .body(r#"{"rules": [{"kind": "unavailable", "probability": 1.0, "path": "/services/data*"}]}"#)
            .send()
            .await
            .expect("set faults");
        assert!(put.status().is_success());
        let resp = reqwest::get(format!("http://{}/healthz", started.addr))
            .await
            .expect("healthz");
        assert_eq!(resp.status(), 503);
    }

    /// A first start that cannot take its port leaves no key behind unshown: the next start
    /// makes and shows the first key.
    #[tokio::test]
    async fn a_first_start_that_cannot_listen_shows_the_first_key_at_the_next_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let config = ServeConfig::new(taken.local_addr().expect("addr"), dir.path().to_owned());
        let err = start(config.clone())
            .await
            .err()
            .expect("the port is taken");
        assert!(format!("{err:#}").contains("listening on"), "{err:#}");
        drop(taken);

        let mut config = config;
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let started = start(config.clone()).await.expect("starts");
        let key = started.api_key.clone().expect("the first key, shown now");
        let resp = reqwest::Client::new()
            .get(format!("http://{}/v1/tools", started.addr))
            .bearer_auth(&key)
            .send()
            .await
            .expect("tools");
        assert_eq!(resp.status(), 200);
        started.task.abort();
        let again = start(config).await.expect("starts again");
        assert!(again.api_key.is_none(), "shown once");
    }

    /// The data directory is its owner's only and so are the database files, whatever the
    /// umask; looser ones found at start are reported, and refused when asked.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_state_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        let config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.clone());
        let started = start(config.clone()).await.expect("starts");
        assert!(started.loose.is_empty(), "{:?}", started.loose);
        assert_eq!(mode(&dir), 0o700);
        for name in [
            "callforce.db",
            "callforce.db-wal",
            "callforce.db-shm",
            "master.key",
        ] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        started.task.abort();
        drop(started);

        let db = dir.join("callforce.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let started = start(config.clone())
            .await
            .expect("a loose file is a warning");
        assert_eq!(started.loose.len(), 1, "{:?}", started.loose);
        assert_eq!(started.loose[0].path, db);
        started.task.abort();
        drop(started);

        let mut strict = config;
        strict.strict_permissions = true;
        let err = start(strict).await.err().expect("refused");
        let text = format!("{err:#}");
        assert!(
            text.contains("chmod 600") && text.contains("callforce.db"),
            "{text}"
        );
    }

    /// The example conversation through the agent API.
    #[tokio::test]
    async fn the_example_conversation_through_the_agent_api() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
        let first = start(config.clone()).await.expect("starts");
        let key = first
            .api_key
            .clone()
            .expect("a key is created at the first start");
        first.task.abort();
        // A later start over the same data directory creates no key, and the first one still
        // works: only its hash was stored.
        let started = start(config).await.expect("starts again");
        assert!(started.api_key.is_none(), "no new key at a later start");
        for file in std::fs::read_dir(dir.path()).expect("data dir") {
            let bytes = std::fs::read(file.expect("entry").path()).expect("read");
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "the plaintext key is not stored"
            );
        }
        let base = format!("http://{}", started.addr);
        let http = reqwest::Client::new();
        let post = |path: String, body: serde_json::Value| {
            http.post(format!("{base}{path}"))
                .bearer_auth(&key)
                .json(&body)
                .send()
        };

        // Without the key: 401 with a hint.
        let resp = http
            .get(format!("{base}/v1/tools"))
            .send()
            .await
            .expect("tools");
        assert_eq!(resp.status(), 401);
        let tools: serde_json::Value = http
            .get(format!("{base}/v1/tools"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("tools")
            .json()
            .await
            .expect("json");
        let names: Vec<&str> = tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            names.contains(&"search_contact") && names.contains(&"log_call"),
            "{names:?}"
        );

        let call: serde_json::Value = post(
            "/v1/calls".into(),
            json!({"caller_phone": "+15551234567", "agent": "aria"}),
        )
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
        let id = call["call_id"].as_str().expect("call id").to_owned();

        let found: serde_json::Value = post(
            format!("/v1/calls/{id}/actions/search_contact"),
            json!({"arguments": {"search_term": "{{caller_phone}}"}}),
        )
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
        assert_eq!(
            found["result"]["records"][0]["LastName"], "Johnson",
            "{found}"
        );
        assert_eq!(
            found["result"]["records"][0]["Account"]["Name"],
            "Acme Corporation"
        );

        let case = post(
            format!("/v1/calls/{id}/actions/create_case"),
            json!({"arguments": {"Subject": "Invoice discrepancy", "ContactId": "{{search_contact.Id}}", "Priority": "High"}}),
        )
        .await
        .expect("case");
        assert_eq!(case.status(), 200);

        // A wrong picklist value comes back as something a model can fix.
        let bad = post(
            format!("/v1/calls/{id}/actions/create_case"),
            json!({"arguments": {"Subject": "x", "ContactId": "{{search_contact.Id}}", "Priority": "urgentish"}}),
        )
        .await
        .expect("bad case");
        assert_eq!(bad.status(), 422);
        let body: serde_json::Value = bad.json().await.expect("json");
        assert_eq!(body["error"]["field"], "Priority", "{body}");

        let unknown = post(format!("/v1/calls/{id}/actions/no_such_action"), json!({}))
            .await
            .expect("unknown");
        assert_eq!(unknown.status(), 404);
        let end = post(format!("/v1/calls/{id}/end"), json!({}))
            .await
            .expect("end");
        assert_eq!(end.status(), 200);
        let gone = post(format!("/v1/calls/{id}/actions/search_contact"), json!({}))
            .await
            .expect("gone");
        assert_eq!(gone.status(), 404);
    }
}
