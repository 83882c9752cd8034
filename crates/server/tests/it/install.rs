//! The README's install, as a newcomer runs it on a fresh checkout: the files git knows copied
//! to a temporary directory, the README's `cargo install` line run there (as a debug build into
//! this workspace's target directory, so the dependencies are not built again, and into a
//! temporary root instead of `~/.cargo`), then the installed `callforce` found on the `PATH`:
//! `--version`, `serve` up to its banner, and an admin command on the data it made.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace's root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's install command, as written.
fn install_line() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let section = &readme[readme.find("## Install").expect("an Install section")..];
    section
        .lines()
        .find(|l| l.starts_with("cargo install"))
        .expect("a cargo install line under Install")
        .to_owned()
}

/// Copies the files git knows (tracked, or new and not ignored) from the workspace to `to`.
fn copy_checkout(to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(workspace())
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    for file in out.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(file).expect("a UTF-8 path"));
        let from = workspace().join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &dest).expect("copy");
    }
}

#[test]
fn the_readme_install_puts_a_working_callforce_on_the_path() {
    let line = install_line();
    assert_eq!(line, "cargo install --locked --path crates/server");
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = tmp.path().join("callforce");
    copy_checkout(&checkout);
    let root = tmp.path().join("root");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);

    let mut words = line.split_whitespace();
    let status = Command::new(words.next().expect("cargo"))
        .args(words)
        .arg("--debug")
        .arg("--root")
        .arg(&root)
        .current_dir(&checkout)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(Stdio::null())
        .status()
        .expect("cargo install");
    assert!(status.success(), "`{line} --debug` failed");

    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let callforce = |args: &[&str]| {
        let mut cmd = Command::new("callforce");
        cmd.args(args)
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env("CALLFORCE_LOG", "error")
            .env_remove("CALLFORCE_DATABASE_URL")
            .env_remove("CALLFORCE_MASTER_KEY");
        cmd
    };
    let version = callforce(&["--version"])
        .output()
        .expect("callforce --version");
    assert!(version.status.success());
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("callforce "),
        "{version:?}"
    );

    let mut serve = callforce(&["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("callforce serve");
    let mut banner = String::new();
    let mut out = std::io::BufReader::new(serve.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut banner).expect("banner");
    serve.kill().expect("stop");
    serve.wait().expect("wait");
    assert!(
        banner.starts_with("callforce listening on http://127.0.0.1:"),
        "{banner}"
    );

    let verify = callforce(&["audit", "verify"])
        .output()
        .expect("audit verify");
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.contains("workspace default: intact"),
        "{verify:?}"
    );
}
