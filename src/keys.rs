//! Keys the operator did not give: generated into the data directory on
//! first start (mode 0600), with one warning, and reused afterwards.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::Secret;

/// Returns the configured secret, or the one stored in `data_dir/name`,
/// creating it with `len` random bytes if it does not exist yet.
pub fn resolve(
    configured: Option<&Secret>,
    data_dir: &Path,
    name: &str,
    variable: &str,
    len: usize,
) -> anyhow::Result<Secret> {
    if let Some(s) = configured {
        return Ok(s.clone());
    }
    let path = data_dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{} is not base64; delete it or set {variable}",
                path.display()
            )
        })?;
        anyhow::ensure!(
            bytes.len() >= len.min(32),
            "{} is too short",
            path.display()
        );
        return Ok(Secret(bytes));
    }
    std::fs::create_dir_all(data_dir)?;
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut f) => {
            f.write_all(STANDARD.encode(&bytes).as_bytes())?;
            tracing::warn!(
                file = %path.display(),
                "{variable} is not set: generated a random key into the data directory; \
                 set {variable} (the same on every node) in production"
            );
            Ok(Secret(bytes))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            resolve(None, data_dir, name, variable, len)
        }
        Err(e) => Err(e.into()),
    }
}

/// The Ed25519 signing key (PKCS#8 PEM): from `AUTH_JWT_PRIVATE_KEY_FILE`,
/// or generated into `data_dir/jwt_ed25519.pem` (mode 0600) on first start.
pub fn ed25519_pem(configured: Option<&Path>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = configured {
        return std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "AUTH_JWT_PRIVATE_KEY_FILE: cannot read {}: {e}",
                path.display()
            )
        });
    }
    let path = data_dir.join("jwt_ed25519.pem");
    if let Ok(pem) = std::fs::read(&path) {
        return Ok(pem);
    }
    std::fs::create_dir_all(data_dir)?;
    let pem = actors::jwt::generate_ed25519_pem().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_private(&path, &pem)?;
    tracing::warn!(
        file = %path.display(),
        "AUTH_JWT_PRIVATE_KEY_FILE is not set: generated an Ed25519 key into the data directory; \
         set AUTH_JWT_PRIVATE_KEY_FILE (the same on every node) in production"
    );
    Ok(pem)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = resolve(None, dir.path(), "k", "AUTH_K", 32).unwrap();
        let b = resolve(None, dir.path(), "k", "AUTH_K", 32).unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(a.0.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("k"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let given = Secret(vec![9; 32]);
        assert_eq!(
            resolve(Some(&given), dir.path(), "k", "AUTH_K", 32)
                .unwrap()
                .0,
            vec![9; 32]
        );
        assert!(!dir.path().join("k").exists());
    }
}
