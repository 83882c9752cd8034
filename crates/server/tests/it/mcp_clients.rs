//! The official MCP Python SDK (`mcp` from PyPI, installed by `scripts/test`) runs
//! `tests/clients/python/test_mcp.py` against a real `callforce serve` and `callforce mcp`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The Python with the MCP SDK, or why there is none.
fn python() -> Result<PathBuf, String> {
    let p = std::env::var("CALLFORCE_TEST_PYTHON")
        .map_err(|_| "CALLFORCE_TEST_PYTHON is not set".to_owned())?;
    let p = PathBuf::from(p);
    let ok = std::process::Command::new(&p)
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", p.display()))?
        .success();
    if ok {
        Ok(p)
    } else {
        Err(format!("{} has no `mcp` package", p.display()))
    }
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/python")
}

/// A `callforce serve` on a free port with a known API key; killed on drop.
struct Service {
    _child: tokio::process::Child,
    base: String,
    key: String,
    _dir: tempfile::TempDir,
}

async fn serve() -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "cf_test_mcp_clients_key".to_owned();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("CALLFORCE_API_KEY", &key)
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
        key,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_mcp_python_sdk_over_streamable_http_and_stdio() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{why}: run scripts/test to install the client test tools");
            }
            println!("SKIPPED: test_mcp.py ({why}; run scripts/test to install it)");
            eprintln!("SKIPPED: test_mcp.py ({why}; run scripts/test to install it)");
            return;
        }
    };
    let service = serve().await;
    let embedded = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_mcp.py",
        ])
        .current_dir(clients_dir())
        .env("CALLFORCE_MCP_URL", format!("{}/mcp", service.base))
        .env("CALLFORCE_API_KEY", &service.key)
        .env("CALLFORCE_BIN", env!("CARGO_BIN_EXE_callforce"))
        .env("CALLFORCE_DATA_DIR", embedded.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run pytest");
    assert!(
        out.status.success(),
        "test_mcp.py failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
