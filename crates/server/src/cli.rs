//! Command-line interface.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// callforce: a Salesforce connector for AI agents that talk to people.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the connector service (with no org configured: an embedded dev org).
    Serve(ServeArgs),
    /// Run the dev org: a Salesforce-compatible REST org on localhost.
    Devorg(DevorgArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Where the service keeps its state (SQLite database `callforce.db`).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
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
        }
    }
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
    println!("dev org listening");
    println!("  instance URL:  {}", running.org.instance_url());
    println!("  username:      {}", c.username);
    println!("  password:      {}", c.password);
    println!("  client id:     {}", c.client_id);
    println!("  client secret: {}", c.client_secret);
    if let Some(ca) = &running.ca_cert {
        println!("  CA cert:       {}", ca.display());
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
    let started = crate::serve::start(crate::serve::ServeConfig {
        addr: SocketAddr::new(args.bind, args.port),
        api_key,
        data_dir: args.data_dir,
    })
    .await?;
    println!("callforce listening on http://{}", started.addr);
    if let Some(key) = &started.api_key {
        println!("  API key:          {key}");
        println!(
            "                    (shown once: only its hash is stored; {} adds a key of your choice)",
            crate::env::API_KEY
        );
    }
    if let Some(org) = &started.devorg {
        println!("  embedded dev org: {}", org.org.instance_url());
    }
    println!("  health:           http://{}/healthz", started.addr);
    started.task.await??;
    Ok(())
}
