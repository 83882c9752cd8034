//! Helpers: spawn a dev org, log in, run third-party client test files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use callforce_devorg::{Config, DevOrg, Running};
use serde_json::Value;

/// The loopback address with a free port.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A dev org with `config`, served over plain HTTP.
pub async fn spawn_with(config: Config) -> Running {
    let org = DevOrg::new(config).expect("org builds");
    callforce_devorg::spawn(org, any_port())
        .await
        .expect("binds")
}

/// A dev org with the default configuration, served over plain HTTP.
pub async fn spawn() -> Running {
    spawn_with(Config::default()).await
}

/// An HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// The base URL of a running org.
pub fn base(r: &Running) -> String {
    r.org.instance_url().to_owned()
}

/// Logs in with the password grant; returns the token answer.
pub async fn password_login(r: &Running) -> Value {
    let c = r.org.config();
    let resp = http()
        .post(format!("{}/services/oauth2/token", base(r)))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("token json")
}

/// The access token of a password login.
pub async fn token(r: &Running) -> String {
    password_login(r).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repo root")
        .to_path_buf()
}

/// A third-party client to run a test file with.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// pytest from `$CALLFORCE_TEST_PYTHON` (or `.venv/bin/python`), on `tests/clients/python`.
    Python,
    /// `node --test` in `$CALLFORCE_TEST_NODE_DIR` (or `tests/clients/node`).
    Node,
}

/// Where the client's interpreter is, or why it is missing.
fn interpreter(client: Client) -> Result<(PathBuf, PathBuf), String> {
    let root = repo_root();
    match client {
        Client::Python => {
            let python = std::env::var_os("CALLFORCE_TEST_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".venv/bin/python"));
            if python.exists() {
                Ok((python, root.join("tests/clients/python")))
            } else {
                Err(format!("no Python venv at {}", python.display()))
            }
        }
        Client::Node => {
            let dir = std::env::var_os("CALLFORCE_TEST_NODE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("tests/clients/node"));
            if dir.join("node_modules/jsforce").exists() {
                Ok((PathBuf::from("node"), dir))
            } else {
                Err(format!("no jsforce in {}/node_modules", dir.display()))
            }
        }
    }
}

/// Runs one client test file (`test_x.py` or `x.test.mjs`, relative to the client's directory)
/// against `org`, passing it the org's coordinates in `CALLFORCE_*` env vars. Panics with the
/// client's output when it fails; when the client is not installed, fails under `CI=true` and
/// otherwise prints a visible `SKIPPED:` line.
pub async fn run_client(client: Client, org: &Running, file: &str, ca: Option<&Path>) {
    let (program, dir) = match interpreter(client) {
        Ok(found) => found,
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{why}: run scripts/test to install the client test tools");
            }
            eprintln!("SKIPPED: {file} ({why}; run scripts/test to install it)");
            println!("SKIPPED: {file} ({why}; run scripts/test to install it)");
            return;
        }
    };
    let c = org.org.config();
    let mut cmd = tokio::process::Command::new(&program);
    match client {
        Client::Python => {
            cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", file]);
        }
        Client::Node => {
            cmd.args(["--test", file]);
        }
    }
    cmd.current_dir(&dir)
        .env("CALLFORCE_INSTANCE_URL", org.org.instance_url())
        .env("CALLFORCE_USERNAME", &c.username)
        .env("CALLFORCE_PASSWORD", &c.password)
        .env("CALLFORCE_SECURITY_TOKEN", &c.security_token)
        .env("CALLFORCE_CLIENT_ID", &c.client_id)
        .env("CALLFORCE_CLIENT_SECRET", &c.client_secret)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // NB: requests lets these override `Session.verify`; the tests trust the org's CA.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(ca) = ca {
        cmd.env("CALLFORCE_CA_CERT", ca)
            // Node reads extra trust anchors from here at start-up.
            .env("NODE_EXTRA_CA_CERTS", ca);
    }
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    if !out.status.success() {
        panic!(
            "{file} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
