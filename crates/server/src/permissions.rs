//! Who may read the service's state: the data directory is its owner's only (0700) and the
//! files in it that hold secrets or call data (the SQLite database with its `-wal` and `-shm`
//! files, `master.key`) are its owner's only (0600).
//!
//! The service creates them so whatever the umask; what it finds already there (made by an
//! earlier release, copied from elsewhere, changed by hand) is checked at every start and
//! reported with the command that fixes it ([`check`]).

use std::path::{Path, PathBuf};

/// A directory or file of the service's state that other users can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    /// The directory or file.
    pub path: PathBuf,
    /// Its permission bits (`0o644`).
    pub mode: u32,
    /// The bits it should have (`0o600`, `0o700`).
    pub want: u32,
}

impl std::fmt::Display for Loose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {:04o}: other users can read it; run `chmod {:o} {}`",
            self.path.display(),
            self.mode,
            self.want,
            self.path.display()
        )
    }
}

/// The mode a directory of the service's state should have.
pub const DIR_MODE: u32 = 0o700;
/// The mode a file of the service's state should have.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its missing parents) with mode 0700, whatever the umask.
///
/// # Errors
/// When it cannot be created.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// The state files of a SQLite database: the file and its `-wal` and `-shm` files.
pub fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    let mut files = vec![db.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// What of `dir` and `files` other users can reach (group or other permission bits set).
/// Paths that do not exist are left out.
#[cfg(unix)]
pub fn check(dir: &Path, files: &[PathBuf]) -> Vec<Loose> {
    use std::os::unix::fs::PermissionsExt;
    let loose = |path: &Path, want: u32| {
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| Loose {
            path: path.to_owned(),
            mode,
            want,
        })
    };
    std::iter::once(loose(dir, DIR_MODE))
        .chain(files.iter().map(|f| loose(f, FILE_MODE)))
        .flatten()
        .collect()
}

/// What of `dir` and `files` other users can reach: nothing is checked off Unix.
#[cfg(not(unix))]
pub fn check(_dir: &Path, _files: &[PathBuf]) -> Vec<Loose> {
    Vec::new()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn loose_modes_are_found_and_private_ones_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        create_dir(&dir).unwrap();
        let db = dir.join("callforce.db");
        std::fs::write(&db, b"").unwrap();
        set(&db, 0o600);
        let files = sqlite_files(&db);
        assert_eq!(
            check(&dir, &files),
            vec![],
            "0700 and 0600 pass; missing files are skipped"
        );

        set(&dir, 0o755);
        set(&db, 0o644);
        let found = check(&dir, &files);
        assert_eq!(
            found,
            vec![
                Loose {
                    path: dir.clone(),
                    mode: 0o755,
                    want: 0o700
                },
                Loose {
                    path: db.clone(),
                    mode: 0o644,
                    want: 0o600
                },
            ]
        );
        assert!(
            found[1].to_string().contains("run `chmod 600 "),
            "{}",
            found[1]
        );
        set(&dir, 0o700);
        set(&db, 0o640);
        assert_eq!(check(&dir, &files).len(), 1, "group read alone is loose");
    }

    #[test]
    fn the_wal_and_shm_files_are_checked() {
        let files = sqlite_files(Path::new("/d/callforce.db"));
        assert_eq!(
            files,
            [
                "/d/callforce.db",
                "/d/callforce.db-wal",
                "/d/callforce.db-shm"
            ]
            .map(PathBuf::from)
        );
    }
}
