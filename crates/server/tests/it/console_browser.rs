//! The admin console in a real headless Chromium: Playwright for Python (installed by
//! `scripts/test`) drives Debian's `chromium` (installed by `.ci/run`) through
//! `tests/clients/python/test_console.py` against a real `callforce serve`.
//!
//! Set `CALLFORCE_CONSOLE_SCREENSHOTS=DIR` to keep a 1280 px screenshot of every page in `DIR`,
//! and `CALLFORCE_TEST_CHROMIUM` to use another Chromium than `/usr/bin/chromium`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::clients::{cannot_run, python_dir, python_with, serve_with};

/// The Chromium the tests drive, or why there is none.
fn chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("CALLFORCE_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Chromium at {}; install Debian's with `apt-get install chromium` (.ci/run does)",
            path.display()
        ))
    }
}

#[tokio::test]
async fn the_console_in_headless_chromium() {
    let (python, chromium) = match (python_with("playwright.sync_api"), chromium()) {
        (Ok(python), Ok(chromium)) => (python, chromium),
        (Err(why), _) | (_, Err(why)) => return cannot_run("test_console.py", &why),
    };
    // A second org for the console's Connect to reach through its login page: the service
    // sends every environment's login there.
    let second = callforce_devorg::spawn(
        callforce_devorg::DevOrg::new(callforce_devorg::Config::default()).expect("org"),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("the second dev org starts");
    let second_url = second.org.instance_url().to_owned();
    let service = serve_with(
        "cf_test_console_browser_key",
        &[("CALLFORCE_LOGIN_HOST_OVERRIDE", second_url.as_str())],
    )
    .await;
    let run = tokio::process::Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_console.py",
        ])
        .current_dir(python_dir())
        .env("CALLFORCE_CONSOLE_URL", &service.base)
        .env("CALLFORCE_API_KEY", &service.key)
        .env("CALLFORCE_CHROMIUM", &chromium)
        .env("CALLFORCE_SECOND_ORG", &second_url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A browser that hangs must fail the test, not hold CI until its time runs out.
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("test_console.py ends within 5 minutes")
        .expect("run pytest");
    assert!(
        out.status.success(),
        "test_console.py failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
