//! The generated password of the first superuser, kept in a private file of the data
//! directory rather than in the log (which under systemd or Docker is kept and shipped
//! elsewhere), and removed once that user has a password of their own.

use std::path::{Path, PathBuf};

use crate::config::write_private_file;
use crate::domain::Login;

const FILE_NAME: &str = "initial-admin-password";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Writes the file (mode 0600), replacing one a former first superuser left behind.
pub fn write(data_dir: &Path, login: &Login, password: &str) -> std::io::Result<PathBuf> {
    let path = path(data_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let contents = format!(
        "# The first Consentry superuser. This file is removed when its password is changed.\nlogin: {login}\npassword: {password}\n"
    );
    write_private_file(data_dir, &path, contents.as_bytes())?;
    Ok(path)
}

/// Called after `login`'s password changed: the file no longer holds a working password.
/// Returns whether a file was removed.
pub fn forget(data_dir: &Path, login: &Login) -> bool {
    let path = path(data_dir);
    let Ok(contents) = std::fs::read_to_string(&path) else {
        return false;
    };
    let owner = format!("login: {login}");
    if !contents.lines().any(|l| l == owner) {
        return false;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), %login, "removed the initial password file: the password was changed");
            true
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not remove the initial password file; delete it by hand");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_privately_and_forgotten_only_for_its_owner() {
        let dir = std::env::temp_dir().join(format!("consentry-initial-{}", std::process::id()));
        let admin = Login::parse("admin").unwrap();
        let other = Login::parse("other").unwrap();
        let file = write(&dir, &admin, "secret one").unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A second write replaces the first (a former first superuser's file).
        write(&dir, &admin, "secret two").unwrap();
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("password: secret two")
        );
        assert!(!forget(&dir, &other));
        assert!(file.exists());
        assert!(forget(&dir, &admin));
        assert!(!file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
