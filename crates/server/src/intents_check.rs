//! `callforce config check --intents`: an intent map checked against an embedded dev org.

use callforce_client::Connection;
use callforce_intents::IntentMap;

/// `callforce config check --intents FILE [--schema FILE]`: checks an intent map against an
/// embedded dev org with the given schema (the demo schema by default) and prints every problem
/// with its fix. Returns whether the map passed.
///
/// # Errors
/// When the file cannot be read or parsed, or the dev org cannot start.
pub async fn config_check(
    intents: &std::path::Path,
    schema: Option<&std::path::Path>,
    as_json: bool,
) -> anyhow::Result<bool> {
    use anyhow::Context;
    use callforce_client::{ConnectionConfig, Grant, LoginHost, OAuthApp, SecretString};

    let text = std::fs::read_to_string(intents)
        .with_context(|| format!("reading {}", intents.display()))?;
    let map = IntentMap::from_json(&text).with_context(|| format!("in {}", intents.display()))?;
    let org = callforce_devorg::DevOrg::new(callforce_devorg::Config {
        schema_file: schema.map(std::path::Path::to_path_buf),
        seed: callforce_devorg::Seed::None,
        ..callforce_devorg::Config::default()
    })
    .context("building the dev org")?;
    let running = callforce_devorg::spawn(org, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the dev org")?;
    let c = running.org.config();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: None,
    };
    let conn = Connection::login(
        ConnectionConfig::new(LoginHost::Url(running.org.instance_url().to_owned()), app),
        Grant::ClientCredentials,
    )
    .await
    .context("connecting to the dev org")?;
    let (report, _) = callforce_intents::check_live(&conn, &map)
        .await
        .context("describing the org")?;
    running.task.abort();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            let level = match p.severity {
                callforce_intents::Severity::Error => "error",
                callforce_intents::Severity::Warning => "warning",
            };
            println!("{level}: {}: {}\n  fix: {}", p.path, p.message, p.fix);
        }
        println!(
            "{}: {} intent(s), {} field(s), {} error(s), {} warning(s)",
            if report.ok { "ok" } else { "FAILED" },
            report.intents,
            report.fields,
            report.errors(),
            report.problems.len() - report.errors()
        );
    }
    Ok(report.ok)
}
