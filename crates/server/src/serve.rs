//! `callforce serve`: the connector service.
//!
//! It starts the dev org in-process, on its own port with the demo data, and connects the
//! default workspace to it over HTTP with OAuth (the client-credentials grant) exactly as it
//! would to a real org: the embedded org is the default workspace's first connection, stored
//! (sealed) like any other, with environment `embedded` (its address changes at every start, so
//! that connection is logged in again at start). Other orgs are connected with the flows of
//! [`callforce_app::connections`] (their pages served by [`callforce_web::connect`]). What runs: `/healthz`, the agent API of [`callforce_rest::calls`] (`/v1/tools`,
//! `/v1/calls`...), MCP at `/mcp` ([`callforce_mcp`]) over the same [`callforce_app::App`], and
//! connections and keys ([`callforce_rest::connections`]). Writes go through the write pipeline
//! ([`callforce_app::pipeline`]), whose workers start with the service and stop when it shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use callforce_client::{ExposeSecret, SecretString};

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
    /// How the operations log is kept (retention 30 days).
    pub operations: callforce_app::operations::OperationsSettings,
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
            operations: callforce_app::operations::OperationsSettings::default(),
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

/// How long a stopping service waits for the operations log to write what it holds.
const OPERATIONS_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

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
        .map_err(|e| cannot_listen(config.addr, &e))?;
    let addr = listener.local_addr()?;
    let (store, vault) = open_store(&config).await?;
    let checkpoint_key = vault.checkpoint_key(&store).await?;
    let devorg = callforce_devorg::DevOrg::new(callforce_devorg::Config::default())
        .context("building the dev org")?;
    let devorg = callforce_devorg::spawn(devorg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the embedded dev org")?;
    let workspace = default_workspace(&store).await?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let sinks = callforce_app::pipeline::prepare(&store, &config.pipeline)
        .context("starting the write pipeline")?;
    let registry = Registry::load(
        store.clone(),
        vault,
        connected_app(&config, &devorg, &public_url),
        callforce_actions::Catalog::with_examples(),
        Some(sinks.clone()),
    )
    .await?;
    connect_embedded(&registry, &devorg, workspace).await?;

    let checkpoint_public = checkpoint_key.verifying_key();
    let app = Arc::new(
        callforce_app::App::new(
            registry.clone(),
            store,
            config.api_key.as_deref(),
            workspace,
        )
        .with_call_settings(config.calls.clone()),
    );
    let background = Background::spawn(&config, &app, &sinks, checkpoint_key, addr)?;
    let routes = routes(&config, &app, public_url, checkpoint_public);
    // The first key is made last, once everything else started: a start that fails before
    // leaves the default workspace without a key, and the next start makes it.
    let generated = first_key(registry.store(), workspace, config.api_key.is_some()).await?;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, routes)
            .with_graceful_shutdown(callforce_rest::layer::shutdown_signal())
            .await;
        background.stop().await;
        served
    });
    Ok(Started {
        addr,
        devorg: Some(devorg),
        task,
        api_key: generated,
        loose,
        api: app,
        registry,
        workspace,
        checkpoint_key: config
            .checkpoints
            .file
            .as_ref()
            .map(|_| callforce_app::checkpoint::key_text(&checkpoint_public)),
    })
}

/// Why the service cannot listen on `addr`, and what to do.
fn cannot_listen(addr: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {} is in use on {}: pass --port N to listen on another one, or stop what listens there",
            addr.port(),
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "listening on {addr} is not allowed ({e}): ports under 1024 need privileges; pass --port N with N of 1024 or more"
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "{} is not an address of this machine: pass --bind with one of its addresses (127.0.0.1 or 0.0.0.0)",
            addr.ip()
        ),
        _ => anyhow::anyhow!("listening on {addr}: {e}"),
    }
}

/// Opens the database (`--database-url`, else `callforce.db` in the data directory) and unlocks
/// the vault with the master key; the store keys its audit entries with the vault's audit keys.
async fn open_store(config: &ServeConfig) -> anyhow::Result<(callforce_store::Store, Arc<Vault>)> {
    let store = match &config.database_url {
        // NB: the URL may hold a password: it is never part of an error or a log line.
        Some(url) => callforce_store::Store::open(url).await.with_context(|| {
            // A SQLite path is named; a PostgreSQL URL may hold a password, so it is not.
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .map(|p| format!(" {p}"))
                .unwrap_or_default();
            format!(
                "opening the database{path} of --database-url ({})",
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
    let audit_keys = vault.audit_keys(&store).await?;
    Ok((store.with_audit_keys(audit_keys), vault))
}

/// The "default" workspace every service has (the one the first key and `CALLFORCE_API_KEY`
/// open), created at the first start.
async fn default_workspace(
    store: &callforce_store::Store,
) -> anyhow::Result<callforce_store::WorkspaceId> {
    if let Some(ws) = store
        .workspace_by_name("default")
        .await
        .context("reading the default workspace")?
    {
        return Ok(ws.id);
    }
    let created = store
        .create_workspace_audited("default", chrono::Utc::now(), |ws| {
            callforce_app::changes::workspace_create(callforce_app::changes::Actor::System, ws)
        })
        .await;
    match created {
        Ok(ws) => Ok(ws.id),
        // Another instance on the same database created it first.
        Err(e) => match store.workspace_by_name("default").await? {
            Some(ws) => Ok(ws.id),
            None => Err(e).context("creating the default workspace"),
        },
    }
}

/// The connected app of the connect flow: the configured one, else the embedded dev org's.
fn connected_app(
    config: &ServeConfig,
    devorg: &callforce_devorg::Running,
    public_url: &str,
) -> AppConfig {
    let c = devorg.org.config();
    let (client_id, client_secret) = config.app.clone().unwrap_or_else(|| {
        (
            c.client_id.clone(),
            Some(SecretString::from(c.client_secret.clone())),
        )
    });
    AppConfig {
        client_id,
        client_secret,
        redirect_uri: format!(
            "{}/connect/salesforce/callback",
            public_url.trim_end_matches('/')
        ),
        login_host_override: config.login_host_override.clone(),
    }
}

/// Connects the default workspace to the embedded dev org: its connection, logged in again at
/// every start (the org's address is new each time).
async fn connect_embedded(
    registry: &Registry,
    devorg: &callforce_devorg::Running,
    workspace: callforce_store::WorkspaceId,
) -> anyhow::Result<()> {
    let c = devorg.org.config();
    let instance_url = devorg.org.instance_url().to_owned();
    let embedded = registry
        .store()
        .list_connections(workspace)
        .await?
        .into_iter()
        .find(|c| c.environment == "embedded");
    let mut secrets = Secrets::default();
    secrets.client_secret = Some(c.client_secret.clone());
    registry
        .connect_grant(
            NewConnection {
                id: embedded.map(|e| e.id),
                workspace,
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
    Ok(())
}

/// The service's background work: the write queue's workers, and tasks that end when dropped
/// (also when the serving task is aborted).
struct Background {
    workers: callforce_app::pipeline::Workers,
    operations: Option<callforce_app::operations::Writer>,
    tasks: Vec<AbortOnDrop>,
}

impl Background {
    /// Starts the queue's workers, the describe refresher, the idle-call sweeper, the intents
    /// poller, the operations log's writer and retention sweep, the alert sender, and the checkpoints when configured.
    fn spawn(
        config: &ServeConfig,
        app: &Arc<callforce_app::App>,
        sinks: &callforce_app::pipeline::SinkParts,
        checkpoint_key: ed25519_dalek::SigningKey,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let registry = app.registry();
        let workers = callforce_app::pipeline::spawn_workers(
            sinks,
            registry.clone(),
            config.pipeline.workers,
        );
        // The describes the non-blocking writes are checked against: missing or an hour old
        // ones are fetched in the background, never on an agent's time.
        let mut tasks = vec![AbortOnDrop(
            registry.spawn_describe_refresher(DESCRIBE_POLL),
        )];
        // Idle calls are swept a few times per idle period (at least every minute).
        let sweep_every = (config.calls.idle_timeout / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        );
        tasks.push(AbortOnDrop(app.spawn_sweeper(sweep_every)));
        tasks.push(AbortOnDrop(app.spawn_intents_poller(
            config.intents_poll.max(std::time::Duration::from_secs(1)),
        )));
        // Every action run in a call, recorded off the hot path, and its retention sweep.
        let (operations, retention) = app.spawn_operations_log(&config.operations);
        tasks.push(AbortOnDrop(retention));
        tasks.extend(spawn_checkpoints(config, app.store(), checkpoint_key)?);
        tasks.extend(spawn_alerts(config, app.store(), addr)?);
        Ok(Self {
            workers,
            operations,
            tasks,
        })
    }

    /// Stops it all: the workers after their current round (unfinished jobs stay queued), the
    /// operations log after writing what it holds.
    async fn stop(self) {
        self.workers.stop().await;
        if let Some(log) = self.operations {
            log.flush_and_stop(OPERATIONS_FLUSH).await;
        }
        drop(self.tasks);
    }
}

/// Starts the signed audit checkpoints when a checkpoint file is configured.
fn spawn_checkpoints(
    config: &ServeConfig,
    store: &callforce_store::Store,
    key: ed25519_dalek::SigningKey,
) -> anyhow::Result<Option<AbortOnDrop>> {
    let Some(file) = &config.checkpoints.file else {
        return Ok(None);
    };
    let every = config
        .checkpoints
        .every
        .max(std::time::Duration::from_millis(10));
    let public = key.verifying_key();
    let checkpointer = callforce_app::checkpoint::Checkpointer::new(
        store.clone(),
        key,
        file.clone(),
        config.checkpoints.url.clone(),
    )?;
    tracing::info!(
        file = %file.display(),
        key = %callforce_app::checkpoint::key_text(&public),
        "audit checkpoints on"
    );
    Ok(Some(AbortOnDrop(checkpointer.spawn(every))))
}

/// Starts the alert sender: each workspace's alerts go to its own webhook (Settings), else to
/// the service-wide one when configured; says where alerts go without one.
fn spawn_alerts(
    config: &ServeConfig,
    store: &callforce_store::Store,
    addr: SocketAddr,
) -> anyhow::Result<Option<AbortOnDrop>> {
    let api_base = format!("http://{addr}");
    let sender = match &config.alert_webhook {
        Some(url) => callforce_app::alerts::AlertSender::new(store.clone(), url, &api_base)?,
        None => {
            tracing::info!(
                "no service-wide alert webhook ({}): alerts go to their workspace's own webhook, \
                 if set, else stay in the store, see GET /v1/alerts",
                crate::env::ALERT_WEBHOOK
            );
            callforce_app::alerts::AlertSender::per_workspace(store.clone(), &api_base)?
        }
    };
    Ok(Some(AbortOnDrop(sender.spawn(ALERT_POLL))))
}

/// Every route of the service, behind the layers every request passes: `/healthz`, MCP,
/// `/metrics`, the agent API, intents, connections and keys, the console and the connect pages,
/// the checkpoint key.
fn routes(
    config: &ServeConfig,
    app: &Arc<callforce_app::App>,
    public_url: String,
    checkpoint_key: callforce_app::checkpoint::VerifyingKey,
) -> axum::Router {
    let secure = public_url.starts_with("https://");
    let connections = Arc::new(callforce_app::connections::Connections::new(
        app.registry().clone(),
        app.clone(),
        callforce_app::connections::ConnectSettings {
            public_url,
            ttl: config.connect_ttl,
        },
    ));
    let routes = axum::Router::new()
        .merge(callforce_rest::health::router(app.clone()))
        .merge(callforce_mcp::router(app.clone(), &config.mcp))
        .merge(callforce_rest::metrics::router(app.clone()))
        .merge(callforce_rest::intents::router(app.clone()))
        .merge(callforce_rest::calls::router(app.clone()))
        .merge(callforce_rest::connections::router(connections.clone()))
        .merge(callforce_web::connect::router(connections.clone()))
        .merge(callforce_web::console::router(
            callforce_app::console::Console::new(app.clone(), connections),
            secure,
        ))
        .merge(callforce_rest::audit_key_router(checkpoint_key))
        .merge(callforce_rest::openapi::router());
    callforce_rest::layer::layer(routes, app.clone())
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
