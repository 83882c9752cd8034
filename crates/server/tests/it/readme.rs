//! The README's shell examples, run as a reader runs them: every fenced `sh` block in order, in
//! one bash session, against a fresh `callforce serve` and a `callforce devorg` started from the
//! built binary, with `callforce` on the `PATH`. Only what a reader changes is changed: the
//! addresses (the test's ports instead of 8080 and 8180) and the printed API key. The
//! `cargo run` and `cargo install` lines are left out (the test starts the binary it built), and
//! so is `scripts/test`, which runs this test.
//!
//! Every `curl` reports its status: each must be a success, but for the refusals the README
//! shows on purpose.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The README's refusals shown on purpose: (method, a part of the URL, status).
const SHOWN_REFUSALS: [(&str, &str, u16); 3] = [
    ("POST", "/actions/create_case", 422),
    ("POST", "/sobjects/Opportunity", 400),
    ("GET", "/limits", 503),
];

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `callforce args` in `dir` and reads its stdout until `last` begins a line; the lines
/// read (the rest is drained as it comes).
fn start(dir: &Path, args: &[&str], last: &str) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(args)
        .current_dir(dir)
        .env("CALLFORCE_LOG", "warn")
        .env_remove("CALLFORCE_API_KEY")
        .env_remove("CALLFORCE_DATABASE_URL")
        .env_remove("CALLFORCE_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start callforce");
    let out = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut lines = Vec::new();
    let mut out = BufReader::new(out).lines();
    for line in out.by_ref() {
        let line = line.expect("read the banner");
        let done = line.trim_start().starts_with(last);
        lines.push(line);
        if done {
            // The rest is read too: a closed pipe would fail the process's next print.
            std::thread::spawn(move || out.for_each(drop));
            return (running, lines);
        }
    }
    panic!("callforce {args:?} ended before printing {last:?}: {lines:?}");
}

/// The word after `label` on the banner line that has it.
fn banner_value(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {lines:?}"))
        .to_owned()
}

/// The README's `sh` blocks, in order.
fn shell_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim_end() == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_shell_block_of_the_readme_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("read README.md");
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() >= 10, "only {} sh blocks", blocks.len());

    let dir = tempfile::tempdir().expect("tempdir");
    let (_service, banner) = start(dir.path(), &["serve", "--port", "0"], "console:");
    let service = banner_value(&banner, "callforce listening on http://");
    let key = banner_value(&banner, "API key:");
    assert!(key.starts_with("cf_"), "{banner:?}");
    let (_org, org_banner) = start(dir.path(), &["devorg", "--port", "0"], "client secret:");
    let org = banner_value(&org_banner, "instance URL:")
        .trim_start_matches("http://")
        .to_owned();

    let bin = Path::new(env!("CARGO_BIN_EXE_callforce"))
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let mut script = format!(
        "set -e\nexport PATH=\"{bin}:$PATH\"\n\
         curl() {{ command curl -w '%{{stderr}}@@ %{{http_code}} %{{method}} %{{url_effective}}\\n' \"$@\"; }}\n"
    );
    for block in &blocks {
        for line in block.lines() {
            if ["cargo run", "cargo install", "scripts/test"]
                .iter()
                .any(|skipped| line.starts_with(skipped))
            {
                continue;
            }
            let line = line
                .replace("127.0.0.1:8080", &service)
                .replace("127.0.0.1:8180", &org)
                .replace("KEY=cf_...", &format!("KEY={key}"));
            script.push_str(&line);
            script.push('\n');
        }
    }

    let mut bash = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while bash.try_wait().expect("wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the README's blocks ran for over 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = bash.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a README command failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );

    let statuses: Vec<(u16, &str, &str)> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("@@ "))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            (
                status,
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        statuses.len() >= 40,
        "only {} requests: {stderr}",
        statuses.len()
    );
    for (status, method, url) in &statuses {
        let shown = SHOWN_REFUSALS
            .iter()
            .any(|(m, part, s)| m == method && url.contains(part) && s == status);
        assert!(
            (200..300).contains(status) || shown,
            "{method} {url} answered {status}:\n--- stdout\n{stdout}"
        );
    }
    for (m, part, s) in SHOWN_REFUSALS {
        assert!(
            statuses
                .iter()
                .any(|(st, me, u)| *st == s && *me == m && u.contains(part)),
            "the README's {m} {part} no longer answers {s}"
        );
    }
}
