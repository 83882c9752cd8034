//! Command-line interface.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// `println!` for the start-up banners: a closed stdout (the banner piped into `head`, a
/// supervisor that does not read it) must not stop a running service.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// callforce: a Salesforce connector for AI agents that talk to people.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check an intent map against an org schema (a dev org with --schema, the demo schema by
    /// default): every problem with its fix; exits with 1 when the map has errors.
    Check {
        /// The intent map (JSON, docs/intents.md).
        #[arg(long)]
        intents: PathBuf,
        /// Schema file of the org's custom objects and fields (docs/devorg-schema.md).
        #[arg(long)]
        schema: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the connector service (with no org configured: an embedded dev org).
    Serve(ServeArgs),
    /// Run the dev org: a Salesforce-compatible REST org on localhost.
    Devorg(DevorgArgs),
    /// Serve MCP over stdio (for desktop assistants and local agents): with the service
    /// embedded, or bridged to a running one with --url and --api-key.
    Mcp(McpArgs),
    /// Check configuration before go-live.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Writes that failed for good: list, show, edit, replay, discard.
    Deadletter(DeadletterArgs),
    /// The audit log: verify its hash chain, list entries.
    Audit(AuditArgs),
    /// Alerts for the admins (dead letters, connections needing re-authorisation): list and
    /// acknowledge.
    Alert(AlertArgs),
    /// The vault's master key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a one-time link that signs a browser in to the admin console (valid 15 minutes).
    ConsoleLink(ConsoleLinkArgs),
    /// Workspaces (tenants).
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-seal every stored secret under a new master key (a new key file, or the key in
    /// CALLFORCE_NEW_MASTER_KEY when the current one comes from CALLFORCE_MASTER_KEY).
    Rotate {
        /// The service's data directory (its `master.key`, and `callforce.db` unless
        /// --database-url names the database).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The database instead (`postgres://...` or `sqlite:PATH`).
        #[arg(long, env = crate::env::DATABASE_URL, hide_env_values = true)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace and print its first API key (shown once).
    Create {
        /// Its name.
        name: String,
        /// The service's data directory (its `callforce.db`).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The database instead (`postgres://...` or `sqlite:PATH`).
        #[arg(long, env = crate::env::DATABASE_URL, hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Create a new API key for a workspace and print it (shown once): the way back in when
    /// no key is at hand. The workspace's other keys stay valid.
    NewKey {
        /// The workspace's name.
        #[arg(default_value = "default")]
        name: String,
        /// What the key is for, shown in `GET /v1/keys`.
        #[arg(long, default_value = "created with callforce workspace new-key")]
        label: String,
        /// The service's data directory (its `callforce.db`).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The database instead (`postgres://...` or `sqlite:PATH`).
        #[arg(long, env = crate::env::DATABASE_URL, hide_env_values = true)]
        database_url: Option<String>,
    },
}

/// Where `/mcp` may be reached from, besides loopback names (DNS-rebinding protection).
#[derive(clap::Args)]
struct McpHostArgs {
    /// A `Host` that `/mcp` accepts (repeat, or comma-separate in the environment), e.g. the
    /// service's public hostname behind a load balancer.
    #[arg(long = "allowed-host", env = crate::env::ALLOWED_HOSTS, value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// A browser `Origin` that `/mcp` accepts (repeat, or comma-separate in the environment).
    #[arg(long = "allowed-origin", env = crate::env::ALLOWED_ORIGINS, value_delimiter = ',')]
    allowed_origins: Vec<String>,
}

impl McpHostArgs {
    fn config(&self) -> callforce_mcp::McpConfig {
        callforce_mcp::McpConfig::with_extra(&self.allowed_hosts, &self.allowed_origins)
    }
}

#[derive(clap::Args)]
struct McpArgs {
    /// A running service to bridge to (`http://127.0.0.1:8080`); without it the service runs
    /// embedded in this process.
    #[arg(long, requires = "api_key")]
    url: Option<String>,
    /// The API key of the running service (also read from CALLFORCE_API_KEY).
    #[arg(long, env = crate::env::API_KEY, hide_env_values = true)]
    api_key: Option<String>,
    /// Where the embedded service keeps its state.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The call id every tool call of this session runs in (default: a fresh one).
    #[arg(long)]
    call_id: Option<String>,
    /// The caller's phone number, for `{{caller_phone}}`.
    #[arg(long)]
    caller_phone: Option<String>,
    /// The agent whose tools to offer.
    #[arg(long)]
    agent: Option<String>,
    /// Offer the compact tool set (search, query, write, action) instead of the whole catalog.
    #[arg(long)]
    compact: bool,
}

#[derive(clap::Args)]
struct ConsoleLinkArgs {
    /// The workspace to sign in to.
    #[arg(long, default_value = "default")]
    workspace: String,
    /// The service's address as the browser reaches it (also read from CALLFORCE_PUBLIC_URL).
    #[arg(long, env = crate::env::PUBLIC_URL, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The service's data directory (its `callforce.db`).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The database instead (`postgres://...` or `sqlite:PATH`).
    #[arg(long, env = crate::env::DATABASE_URL, hide_env_values = true)]
    database_url: Option<String>,
}

/// Where the admin commands find the service's database.
#[derive(clap::Args)]
struct DbArgs {
    /// The data directory of `callforce serve` (its `callforce.db`).
    #[arg(long, default_value = "data", global = true)]
    data_dir: PathBuf,
    /// The database instead (`sqlite:PATH` or `postgres://...`).
    #[arg(long, env = crate::env::DATABASE_URL, global = true)]
    database_url: Option<String>,
}

#[derive(clap::Args)]
struct DeadletterArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The workspace.
    #[arg(long, default_value = "default", global = true)]
    workspace: String,
    #[command(subcommand)]
    command: DeadletterCommand,
}

#[derive(Subcommand)]
enum DeadletterCommand {
    /// List dead letters (oldest first).
    List {
        /// Only in this status: open, replayed or discarded.
        #[arg(long, value_parser = crate::admin::parse_status)]
        status: Option<callforce_store::DeadLetterStatus>,
        /// Only this call's.
        #[arg(long)]
        call_id: Option<String>,
        /// Only this action's (e.g. log_call).
        #[arg(long)]
        action: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one: the payload, every attempt's error, the call and agent.
    Show {
        /// The dead letter's id.
        id: i64,
    },
    /// Fix the payload before replaying.
    Edit {
        /// The dead letter's id.
        id: i64,
        /// The new payload (JSON), replacing the old one.
        #[arg(long, conflicts_with = "merge")]
        payload: Option<String>,
        /// Fields to change (a JSON merge patch; null removes a field).
        #[arg(long)]
        merge: Option<String>,
    },
    /// Queue dead letters again, with their idempotency keys (no duplicates).
    Replay {
        /// The dead letters' ids.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Every open dead letter (narrowed by --call-id / --action).
        #[arg(long)]
        all: bool,
        /// With --all: only this call's.
        #[arg(long, requires = "all")]
        call_id: Option<String>,
        /// With --all: only this action's.
        #[arg(long, requires = "all")]
        action: Option<String>,
    },
    /// Discard dead letters: nothing more happens to them.
    Discard {
        /// The dead letters' ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Args)]
struct AlertArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The workspace.
    #[arg(long, default_value = "default", global = true)]
    workspace: String,
    #[command(subcommand)]
    command: AlertCommand,
}

#[derive(Subcommand)]
enum AlertCommand {
    /// List alerts, newest first: whether they were delivered and acknowledged.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge alerts as seen: they are not posted to the webhook after that.
    Ack {
        /// The alerts' ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the keyed hash chain; exits with 1 and names the first bad entry if it was
    /// tampered with, with 2 when something could not be checked (no master key for keyed
    /// entries, no key for the checkpoints' signatures).
    Verify {
        /// Only this workspace (default: every workspace).
        #[arg(long)]
        workspace: Option<String>,
        /// A checkpoint file of `serve --audit-checkpoint-file`: every line's signature is
        /// checked, and each chain must reach every checkpointed entry with its hash.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The checkpoints' public key (`ed25519:...`, as `GET /v1/audit/checkpoint-key` and the
        /// start of `serve` show it); without it, the key the vault holds.
        #[arg(long, value_name = "KEY", requires = "checkpoint")]
        checkpoint_key: Option<String>,
    },
    /// Print entries as JSON lines.
    List {
        /// The workspace.
        #[arg(long, default_value = "default")]
        workspace: String,
        /// Only this call's entries.
        #[arg(long)]
        call_id: Option<String>,
        /// Only entries that touched this record.
        #[arg(long)]
        record_id: Option<String>,
        /// Only entries whose kind starts with this (`config.`, `connection.`, `write.dead`).
        #[arg(long)]
        kind: Option<String>,
        /// Only entries after this sequence number.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Where the service keeps its state (SQLite database `callforce.db`, `master.key`).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The database instead of `callforce.db` in the data directory: `postgres://...` (several
    /// instances may share it) or `sqlite:PATH`.
    #[arg(long, env = crate::env::DATABASE_URL, hide_env_values = true)]
    database_url: Option<String>,
    /// End a call after this many seconds without a request.
    #[arg(long, default_value_t = 900)]
    call_idle_timeout: u64,
    /// Keep the operations log (every action run in a call, for the console) and resolved dead
    /// letters this many days, in workspaces that set no retention of their own (Settings).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650), env = crate::env::OPERATIONS_RETENTION_DAYS)]
    operations_retention_days: u32,
    #[command(flatten)]
    mcp: McpHostArgs,
    /// The mid-call budget (ms): how long a blocking write may take, retries included, before
    /// it is queued; a failed read is retried only while the retry fits in it too.
    #[arg(long, default_value_t = 1500)]
    write_budget_ms: u64,
    /// Actions whose writes are queued and acknowledged at once (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = callforce_actions::DEFAULT_NON_BLOCKING.iter().map(|s| (*s).to_owned()))]
    non_blocking: Vec<String>,
    /// How many workers drain the write queue.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Send creates of OBJECT as upserts on its External ID FIELD keyed by the write's
    /// idempotency key (`OBJECT=FIELD`, repeatable; default: Task, Event and Case on
    /// `Callforce_Key__c`, the demo schema's field).
    #[arg(long = "external-id", value_name = "OBJECT=FIELD")]
    external_ids: Vec<String>,
    /// How far before an unanswered create was sent its lookup reaches, for an org clock
    /// behind this one (seconds).
    #[arg(long, default_value_t = 300)]
    lookup_skew_secs: u64,
    /// How many seconds a call's write is remembered: the same action with the same arguments
    /// asked for again in the call within it answers the first result and writes nothing
    /// (0: none kept).
    #[arg(long, default_value_t = 600, env = crate::env::DUPLICATE_WINDOW_SECS)]
    duplicate_window_secs: u64,
    /// Post alerts (dead letters, connections needing re-authorisation) to this webhook as
    /// Slack-compatible JSON, for workspaces without a webhook of their own (Settings).
    #[arg(long, env = crate::env::ALERT_WEBHOOK)]
    alert_webhook: Option<String>,
    /// Seconds between re-checks of live intent maps against the org's describes
    /// (If-Modified-Since; a schema error on an intent write re-checks at once).
    #[arg(long, default_value_t = 60)]
    intents_poll_secs: u64,
    /// Refuse to start when other users can read the data directory (it must be 0700) or the
    /// database files (0600); without it the start warns.
    #[arg(long, env = crate::env::STRICT_PERMISSIONS)]
    strict_permissions: bool,
    /// Append a signed checkpoint of each workspace's audit chain head to this file, once a
    /// minute when the head moved (put it on another volume than the database).
    #[arg(long, value_name = "FILE", env = crate::env::AUDIT_CHECKPOINT_FILE)]
    audit_checkpoint_file: Option<PathBuf>,
    /// Also POST each checkpoint line (JSON) to this endpoint.
    #[arg(long, value_name = "URL", env = crate::env::AUDIT_CHECKPOINT_URL, hide_env_values = true, requires = "audit_checkpoint_file")]
    audit_checkpoint_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeedArg {
    Demo,
    None,
}

#[derive(clap::Args)]
struct DevorgArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8180)]
    port: u16,
    /// Schema file with custom objects and fields (default: the built-in demo schema).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Records to start with when the data directory is empty.
    #[arg(long, value_enum, default_value = "demo")]
    seed: SeedArg,
    /// Keep records in this directory across restarts.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Latency added to every REST request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Lifetime of an access token, in seconds.
    #[arg(long, default_value_t = 7200)]
    session_timeout: u64,
    /// API requests allowed per day before 403 REQUEST_LIMIT_EXCEEDED.
    #[arg(long, default_value_t = 100_000)]
    daily_api_limit: u64,
    /// Generate this many synthetic Contacts at start-up (load tests of a large org).
    #[arg(long, default_value_t = 0)]
    synthetic_contacts: u64,
    /// Latency drawn uniformly between two bounds, in milliseconds: `MIN..MAX` (instead of
    /// --latency-ms).
    #[arg(long, value_name = "MIN..MAX", value_parser = parse_range)]
    jitter_ms: Option<(u64, u64)>,
    /// Faults to inject from the start: a JSON file in the format of `PUT /devorg/faults`
    /// (docs/devorg.md).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Serve HTTPS with a locally generated certificate (its CA file is printed).
    #[arg(long)]
    tls: bool,
    /// Replace the refresh token on every refresh (the old one stops working).
    #[arg(long)]
    rotate_refresh_tokens: bool,
    /// PEM certificate or public key JWT bearer assertions are checked against.
    #[arg(long, value_name = "FILE")]
    jwt_certificate: Option<PathBuf>,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected MIN..MAX, got {s}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if a > b {
        return Err(format!("{a} is more than {b}"));
    }
    Ok((a, b))
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Devorg(args) => devorg(args).await,
            Command::Serve(args) => serve(args).await,
            Command::Mcp(args) => mcp(args).await,
            Command::Config(ConfigCommand::Check {
                intents,
                schema,
                json,
            }) => {
                if crate::intents_check::config_check(&intents, schema.as_deref(), json).await? {
                    Ok(())
                } else {
                    std::process::exit(1)
                }
            }
            Command::Keys {
                command:
                    KeysCommand::Rotate {
                        data_dir,
                        database_url,
                    },
            } => rotate_keys(data_dir, database_url).await,
            Command::Workspace {
                command:
                    WorkspaceCommand::Create {
                        name,
                        data_dir,
                        database_url,
                    },
            } => create_workspace(name, data_dir, database_url).await,
            Command::Workspace {
                command:
                    WorkspaceCommand::NewKey {
                        name,
                        label,
                        data_dir,
                        database_url,
                    },
            } => new_key(name, label, data_dir, database_url).await,
            Command::ConsoleLink(args) => console_link(args).await,
            Command::Deadletter(args) => deadletter(args).await,
            Command::Audit(args) => audit(args).await,
            Command::Alert(args) => alert(args).await,
        }
    }
}

async fn deadletter(args: DeadletterArgs) -> anyhow::Result<()> {
    use crate::admin;
    let (store, _) = admin::open_keyed(
        &args.db.data_dir,
        args.db.database_url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let ws = admin::workspace(&store, &args.workspace).await?;
    let ops = callforce_app::admin::Admin::new(store.clone());
    let result = match args.command {
        DeadletterCommand::List {
            status,
            call_id,
            action,
            limit,
            json,
        } => {
            let filter = callforce_store::DeadLetterFilter {
                status,
                call_id,
                action,
                limit: Some(limit),
                connection_id: None,
            };
            admin::list(&ops, ws, &filter, json).await
        }
        DeadletterCommand::Show { id } => admin::show(&ops, ws, id).await,
        DeadletterCommand::Edit { id, payload, merge } => {
            admin::edit(&ops, ws, id, payload.as_deref(), merge.as_deref()).await
        }
        DeadletterCommand::Replay {
            ids,
            all,
            call_id,
            action,
        } => {
            if all {
                let filter = callforce_store::DeadLetterFilter {
                    call_id,
                    action,
                    ..Default::default()
                };
                admin::replay_all(&ops, ws, &filter).await
            } else {
                admin::replay(&ops, ws, &ids).await
            }
        }
        DeadletterCommand::Discard { ids } => admin::discard(&ops, ws, &ids).await,
    };
    store.close().await;
    result
}

async fn alert(args: AlertArgs) -> anyhow::Result<()> {
    use crate::admin;
    let (store, _) = admin::open_keyed(
        &args.db.data_dir,
        args.db.database_url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let ws = admin::workspace(&store, &args.workspace).await?;
    let ops = callforce_app::admin::Admin::new(store.clone());
    let result = match args.command {
        AlertCommand::List { limit, json } => admin::alert_list(&ops, ws, limit, json).await,
        AlertCommand::Ack { ids } => admin::alert_ack(&ops, ws, &ids).await,
    };
    store.close().await;
    result
}

async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    use crate::admin;
    let (store, vault) = admin::open_keyed(
        &args.db.data_dir,
        args.db.database_url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let result = match args.command {
        AuditCommand::Verify {
            workspace,
            checkpoint,
            checkpoint_key,
        } => {
            let key = match (&checkpoint, checkpoint_key, &vault) {
                (None, _, _) => None,
                (Some(_), Some(text), _) => Some(callforce_app::checkpoint::parse_key(&text)?),
                (Some(_), None, Some(vault)) => vault
                    .stored_checkpoint_key(&store)
                    .await?
                    .map(|k| k.verifying_key()),
                (Some(_), None, None) => None,
            };
            let outcome = admin::verify(
                &store,
                workspace.as_deref(),
                checkpoint.as_deref(),
                key.as_ref(),
            )
            .await;
            store.close().await;
            return match outcome? {
                admin::Outcome::Verified => Ok(()),
                admin::Outcome::Broken => {
                    anyhow::bail!("the audit log does not verify (see above)")
                }
                admin::Outcome::Incomplete => {
                    eprintln!(
                        "nothing found broken, but not everything could be checked (see above)"
                    );
                    std::process::exit(2)
                }
            };
        }
        AuditCommand::List {
            workspace,
            call_id,
            record_id,
            kind,
            after,
            limit,
        } => {
            let ws = admin::workspace(&store, &workspace).await?;
            let filter = callforce_store::AuditFilter {
                call_id,
                record_id,
                kind_prefix: kind.filter(|k| !k.is_empty()),
                after_seq: after,
                limit: Some(limit),
                ..Default::default()
            };
            let ops = callforce_app::admin::Admin::new(store.clone());
            admin::audit_list(&ops, ws, &filter).await
        }
    };
    store.close().await;
    result
}

async fn devorg(args: DevorgArgs) -> anyhow::Result<()> {
    use callforce_devorg::faults::{FaultSpec, Latency};
    use callforce_devorg::{Config, DevOrg, Seed};
    let mut faults: FaultSpec = match &args.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => FaultSpec::default(),
    };
    if let Some((min, max)) = args.jitter_ms {
        faults.latency = Some(Latency {
            fixed_ms: None,
            min_ms: Some(min),
            max_ms: Some(max),
            method: None,
            path: None,
            after: false,
        });
    }
    faults
        .validate()
        .map_err(|e| anyhow::anyhow!("faults: {e}"))?;
    let config = Config {
        schema_file: args.schema,
        seed: match args.seed {
            SeedArg::Demo => Seed::Demo,
            SeedArg::None => Seed::None,
        },
        data_dir: args.data,
        latency: Duration::from_millis(args.latency_ms),
        session_timeout: Duration::from_secs(args.session_timeout),
        daily_api_limit: args.daily_api_limit,
        synthetic_contacts: args.synthetic_contacts,
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        jwt_certificate: args.jwt_certificate,
        faults,
        ..Config::default()
    };
    let org = DevOrg::new(config)?;
    let addr = SocketAddr::new(args.bind, args.port);
    let running = if args.tls {
        callforce_devorg::spawn_tls(org, addr).await?
    } else {
        callforce_devorg::spawn(org, addr).await?
    };
    let c = running.org.config();
    say!("dev org listening");
    say!("  instance URL:  {}", running.org.instance_url());
    say!("  username:      {}", c.username);
    say!("  password:      {}", c.password);
    say!("  client id:     {}", c.client_id);
    say!("  client secret: {}", c.client_secret);
    if let Some(ca) = &running.ca_cert {
        say!("  CA cert:       {}", ca.display());
    }
    tokio::select! {
        r = running.task => r??,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let api_key = std::env::var(crate::env::API_KEY)
        .ok()
        .filter(|k| !k.trim().is_empty());
    let mut pipeline = callforce_app::pipeline::PipelineSettings {
        budget: Duration::from_millis(args.write_budget_ms),
        non_blocking: args.non_blocking,
        workers: args.workers,
        lookup_skew: Duration::from_secs(args.lookup_skew_secs),
        duplicate_window: Duration::from_secs(args.duplicate_window_secs),
        ..callforce_app::pipeline::PipelineSettings::default()
    };
    if !args.external_ids.is_empty() {
        pipeline.external_ids = callforce_app::pipeline::parse_external_ids(&args.external_ids)?;
    }
    let mut config =
        crate::serve::ServeConfig::new(SocketAddr::new(args.bind, args.port), args.data_dir);
    config.api_key = api_key;
    config.database_url = args.database_url.filter(|u| !u.trim().is_empty());
    config.mcp = args.mcp.config();
    config.pipeline = pipeline;
    config.alert_webhook = args.alert_webhook.filter(|u| !u.trim().is_empty());
    config.intents_poll = Duration::from_secs(args.intents_poll_secs.max(1));
    config.operations.retention =
        Duration::from_secs(u64::from(args.operations_retention_days) * 24 * 3600);
    config.strict_permissions = args.strict_permissions;
    config.checkpoints.file = args.audit_checkpoint_file;
    config.checkpoints.url = args.audit_checkpoint_url.filter(|u| !u.trim().is_empty());
    config.calls = callforce_app::CallSettings {
        idle_timeout: Duration::from_secs(args.call_idle_timeout.max(1)),
        ..callforce_app::CallSettings::default()
    };
    let env_key = config.api_key.is_some();
    let data_dir = config.data_dir.clone();
    let database_url = config.database_url.clone();
    let started = crate::serve::start(with_env(config)).await?;
    say!("callforce listening on http://{}", started.addr);
    match &started.api_key {
        Some(key) => {
            say!("  API key:          {key}");
            say!(
                "                    (shown once: only its hash is stored; {} adds a key of your choice)",
                crate::env::API_KEY
            );
        }
        None if env_key => say!("  API key:          the one in {}", crate::env::API_KEY),
        None => say!(
            "  API key:          shown at the first start only; `callforce workspace new-key{}` prints a new one",
            data_dir_arg(&data_dir)
        ),
    }
    for l in &started.loose {
        say!("  warning:          {l}");
    }
    if let Some(org) = &started.devorg {
        let c = org.org.config();
        say!("  embedded dev org: {}", org.org.instance_url());
        say!(
            "                    login {} / {} (its login page: {}/services/oauth2/authorize; client id {})",
            c.username,
            c.password,
            org.org.instance_url(),
            c.client_id
        );
    }
    let connections = started
        .registry
        .store()
        .list_connections(started.workspace)
        .await?;
    say!(
        "  connections:      {} in the default workspace (GET /v1/connections; docs/connections.md)",
        connections.len()
    );
    match started.registry.store().backend() {
        callforce_store::Backend::Postgres => {
            say!("  database:         PostgreSQL (shared by the instances on it)")
        }
        callforce_store::Backend::Sqlite => match &database_url {
            Some(url) => say!("  database:         SQLite, {url}"),
            None => say!(
                "  database:         SQLite, {}",
                data_dir.join("callforce.db").display()
            ),
        },
    }
    say!(
        "  console:          http://{}/ (sign in with an API key, or a link from `callforce console-link`)",
        started.addr
    );
    say!("  health:           http://{}/healthz", started.addr);
    say!("  MCP:              http://{}/mcp", started.addr);
    if let Some(key) = &started.checkpoint_key {
        say!("  audit checkpoints: signed with {key} (GET /v1/audit/checkpoint-key)");
    }
    started.task.await??;
    Ok(())
}

async fn mcp(args: McpArgs) -> anyhow::Result<()> {
    // NB: stdout carries the protocol; everything else goes to stderr (the log writer).
    let (base, api_key, _embedded) = match (args.url, args.api_key) {
        (Some(url), Some(key)) => (url.trim_end_matches('/').to_owned(), key, None),
        (Some(_), None) => anyhow::bail!("--url needs --api-key (or CALLFORCE_API_KEY)"),
        (None, key) => {
            // The embedded service listens on loopback only, with a key of this process.
            let key = key.unwrap_or_else(|| {
                use rand::Rng;
                let n: u128 = rand::rng().random();
                format!("cf_local_{n:032x}")
            });
            let mut config = crate::serve::ServeConfig::new(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                args.data_dir,
            );
            config.api_key = Some(key.clone());
            let started = crate::serve::start(with_env(config)).await?;
            tracing::info!(addr = %started.addr, "embedded service started");
            (format!("http://{}", started.addr), key, Some(started))
        }
    };
    let mut url = format!("{base}/mcp");
    let mut query = Vec::new();
    if args.compact {
        query.push("tools=compact".to_owned());
    }
    if let Some(agent) = &args.agent {
        query.push(format!(
            "agent={}",
            form_urlencoded::byte_serialize(agent.as_bytes()).collect::<String>()
        ));
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let bridge = callforce_mcp::stdio::Bridge {
        url,
        api_key,
        call_id: args
            .call_id
            .unwrap_or_else(callforce_app::calls::new_call_id),
        caller_phone: args.caller_phone,
        agent: args.agent,
    };
    callforce_mcp::stdio::run(
        bridge,
        tokio::io::BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
    )
    .await
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `config` with what the environment says about the vault, the public URL and the connected
/// app.
fn with_env(mut config: crate::serve::ServeConfig) -> crate::serve::ServeConfig {
    config.master_key = env(crate::env::MASTER_KEY).map(secrecy::SecretString::from);
    config.public_url = env(crate::env::PUBLIC_URL);
    config.login_host_override = env(crate::env::LOGIN_HOST_OVERRIDE);
    config.app = env(crate::env::SF_CLIENT_ID).map(|id| {
        (
            id,
            env(crate::env::SF_CLIENT_SECRET).map(secrecy::SecretString::from),
        )
    });
    config
}

/// The store of `--database-url` (or `CALLFORCE_DATABASE_URL`), else `callforce.db` in
/// `data_dir`, which must exist.
async fn open_store(
    data_dir: &std::path::Path,
    database_url: Option<String>,
) -> anyhow::Result<callforce_store::Store> {
    let url = database_url.filter(|u| !u.trim().is_empty());
    crate::admin::open_store(data_dir, url.as_deref()).await
}

async fn rotate_keys(data_dir: PathBuf, database_url: Option<String>) -> anyhow::Result<()> {
    use callforce_app::vault::{KeySource, MasterKey, Vault};
    let store = open_store(&data_dir, database_url).await?;
    let source = KeySource::from(env(crate::env::MASTER_KEY).as_deref(), &data_dir)?;
    let vault = Vault::unlock(&store, &source).await?;
    let new_key = env(crate::env::NEW_MASTER_KEY)
        .map(|k| MasterKey::parse(&k))
        .transpose()?;
    let version = vault
        .rotate(&store, &source, new_key, callforce_app::changes::Actor::Cli)
        .await?;
    println!("every stored secret is sealed under key version {version}");
    if matches!(source, KeySource::Env(_)) {
        println!(
            "  set {} to the value of {} before the next start",
            crate::env::MASTER_KEY,
            crate::env::NEW_MASTER_KEY
        );
    }
    Ok(())
}

/// ` --data-dir DIR` when `dir` is not the default one, for commands printed to copy.
fn data_dir_arg(dir: &std::path::Path) -> String {
    if dir == std::path::Path::new("data") {
        String::new()
    } else {
        format!(" --data-dir {}", dir.display())
    }
}

async fn new_key(
    name: String,
    label: String,
    data_dir: PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let url = database_url.filter(|u| !u.trim().is_empty());
    let (store, _) = crate::admin::open_keyed(
        &data_dir,
        url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let ws = crate::admin::workspace(&store, name.trim()).await?;
    let key = store
        .create_api_key_audited(ws, label.trim(), chrono::Utc::now(), |k| {
            callforce_app::changes::key_create(callforce_app::changes::Actor::Cli, k)
        })
        .await?;
    println!(
        "API key for workspace {}: {}",
        name.trim(),
        key.plaintext.expose_secret()
    );
    println!(
        "  (shown once: only its hash is stored; revoke it with DELETE /v1/keys/{})",
        key.key.id.0
    );
    Ok(())
}

async fn console_link(args: ConsoleLinkArgs) -> anyhow::Result<()> {
    let url = args.database_url.filter(|u| !u.trim().is_empty());
    let (store, _) = crate::admin::open_keyed(
        &args.data_dir,
        url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let name = args.workspace.trim();
    let ws = crate::admin::workspace(&store, name).await?;
    let link = callforce_app::console::make_sign_in_link(
        &store,
        ws,
        callforce_app::changes::Actor::Cli,
        chrono::Utc::now(),
    )
    .await?;
    println!(
        "{}/sign-in/link?token={link}",
        args.url.trim().trim_end_matches('/')
    );
    eprintln!(
        "  (signs one browser in to workspace {name}: once, within {} minutes; its session acts as the key \"{}\")",
        callforce_app::console::LINK_TTL.num_minutes(),
        callforce_app::console::LINK_KEY_NAME
    );
    Ok(())
}

async fn create_workspace(
    name: String,
    data_dir: PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("give the workspace a name");
    }
    let url = database_url.filter(|u| !u.trim().is_empty());
    let (store, _) = crate::admin::open_keyed(
        &data_dir,
        url.as_deref(),
        env(crate::env::MASTER_KEY).as_deref(),
    )
    .await?;
    let now = chrono::Utc::now();
    let actor = callforce_app::changes::Actor::Cli;
    let ws = store
        .create_workspace_audited(name, now, |ws| {
            callforce_app::changes::workspace_create(actor, ws)
        })
        .await?;
    let key = store
        .create_api_key_audited(ws.id, "first key", now, |k| {
            callforce_app::changes::key_create(actor, k)
        })
        .await?;
    println!("workspace {} created (id {})", ws.name, ws.id);
    println!("  API key: {}", key.plaintext.expose_secret());
    println!("           (shown once: only its hash is stored)");
    Ok(())
}
