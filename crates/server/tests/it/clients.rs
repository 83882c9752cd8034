//! What the tests that drive third-party clients (`tests/clients/python`) against a real
//! `callforce serve` child process share: the venv's Python, the clients' directory, the service
//! with a known API key, and the one rule for a missing tool (SKIPPED locally, a failure in CI).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The Python of `$CALLFORCE_TEST_PYTHON` if it can import `module`, or why not.
pub fn python_with(module: &str) -> Result<PathBuf, String> {
    let p = std::env::var("CALLFORCE_TEST_PYTHON").map_err(|_| {
        "CALLFORCE_TEST_PYTHON is not set; run scripts/test to set up .venv".to_owned()
    })?;
    let p = PathBuf::from(p);
    let ok = std::process::Command::new(&p)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", p.display()))?
        .success();
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "{} has no `{module}` package; run scripts/test to install it",
            p.display()
        ))
    }
}

/// `tests/clients/python`, where the pytest files live.
pub fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/python")
}

/// Reports a client test that cannot run (`why` says what is missing and how to install it): a
/// panic under `CI=true`, since CI never skips a client test, otherwise a loud `SKIPPED` line on
/// stdout and stderr. The caller returns after it.
///
/// # Panics
/// Under `CI=true`.
pub fn cannot_run(test: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run under CI=true: {why}");
    }
    println!("SKIPPED: {test} ({why})");
    eprintln!("SKIPPED: {test} ({why})");
}

/// A `callforce serve` child process on a free port with a known API key; killed on drop.
pub struct Service {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`, as the service printed it.
    pub base: String,
    /// The API key given as `CALLFORCE_API_KEY`.
    pub key: String,
    _dir: tempfile::TempDir,
}

/// Starts `callforce serve` on port 0 with `key` as an API key and a fresh data directory, and
/// waits (at most a minute) for its "listening" line.
///
/// # Panics
/// When the service cannot be spawned or does not start listening within a minute.
pub async fn serve(key: &str) -> Service {
    serve_with(key, &[]).await
}

/// As [`serve`], with `env` added to the service's environment.
///
/// # Panics
/// As [`serve`].
pub async fn serve_with(key: &str, env: &[(&str, &str)]) -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .envs(env.iter().copied())
        .env("CALLFORCE_API_KEY", key)
        .env("CALLFORCE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn callforce serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.strip_prefix("callforce listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("callforce serve ended before listening");
    })
    .await
    .expect("callforce serve starts within a minute");
    // Keep draining stdout so the service never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Service {
        _child: child,
        base,
        key: key.to_owned(),
        _dir: dir,
    }
}
