//! The official MCP Python SDK (`mcp` from PyPI, installed by `scripts/test`) runs
//! `tests/clients/python/test_mcp.py` against a real `callforce serve` and `callforce mcp`.

use std::process::Stdio;

use crate::clients::{cannot_run, python_dir, python_with, serve};

#[tokio::test]
async fn the_mcp_python_sdk_over_streamable_http_and_stdio() {
    let python = match python_with("mcp") {
        Ok(p) => p,
        Err(why) => return cannot_run("test_mcp.py", &why),
    };
    let service = serve("cf_test_mcp_clients_key").await;
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
        .current_dir(python_dir())
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
