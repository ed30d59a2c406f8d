//! The admin token of the loopback API: random, created on first run, kept in the data dir
//! with mode 0600, shown by `plantsync token show`, replaced by `plantsync token rotate`.

use crate::domain::Secret;
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name of the token inside the data dir.
pub const TOKEN_FILE: &str = "admin-token";

/// Where the token of `data_dir` lives.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// 32 random bytes (256 bits) as lowercase hex, from the operating system's generator.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads the token.
pub fn read(data_dir: &Path) -> std::io::Result<Secret> {
    let mut text = String::new();
    std::fs::File::open(token_path(data_dir))?.read_to_string(&mut text)?;
    let token = text.trim();
    if token.len() < 32 {
        return Err(std::io::Error::other(
            "the admin token file is too short; run `plantsync token rotate`",
        ));
    }
    Ok(Secret::new(token))
}

/// Why the token file could not be read or written: names the file, says the cause in
/// words (the token itself never appears).
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} the admin token {}: {}", .path.display(), super::dir::in_words(.source))]
pub struct TokenError {
    /// "read" or "write".
    action: &'static str,
    /// The token file.
    path: PathBuf,
    /// What failed.
    #[source]
    source: std::io::Error,
}

/// Reads the token, creating it when there is none.
pub fn load_or_create(data_dir: &Path) -> Result<Secret, TokenError> {
    match read(data_dir) {
        Ok(token) => Ok(token),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => rotate(data_dir),
        Err(source) => Err(TokenError { action: "read", path: token_path(data_dir), source }),
    }
}

/// Writes a new token (owner-only) and returns it.
pub fn rotate(data_dir: &Path) -> Result<Secret, TokenError> {
    write_new(data_dir).map_err(|source| TokenError {
        action: "write",
        path: token_path(data_dir),
        source,
    })
}

fn write_new(data_dir: &Path) -> std::io::Result<Secret> {
    super::dir::create_private_dir(data_dir)?;
    let token = random_token()?;
    let path = token_path(data_dir);
    let temp = path.with_extension("new");
    {
        // A `.new` left by a crash may be readable by others: remove it, create it 0600.
        let _ = std::fs::remove_file(&temp);
        let mut file =
            super::dir::private_file_options().write(true).create_new(true).open(&temp)?;
        std::io::Write::write_all(&mut file, token.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, &path)?;
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.expose().len(), 64);
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(token_path(dir.path())).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let second = rotate(dir.path()).unwrap();
        assert_ne!(second, first);
        assert_eq!(read(dir.path()).unwrap(), second);
    }

    #[test]
    fn a_token_that_cannot_be_read_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(token_path(dir.path())).unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read the admin token {}: is a directory",
                token_path(dir.path()).display()
            )
        );
    }
}
