//! Sealing of data at rest with AES-256-GCM under `AUTH_ENCRYPTION_KEY`.
//! Each ciphertext names the key that made it, so the key can be rotated.
//! Format: `v1.<key id>.<base64url(nonce || ciphertext)>`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::JobsError;

/// One key: its id (first 4 bytes of its SHA-256, hex), the cipher, and
/// the root its derived keys come from.
struct SealKey {
    id: String,
    cipher: Aes256Gcm,
    derive_root: [u8; 32],
}

impl SealKey {
    fn new(key: &[u8; 32]) -> Self {
        let mut root = Sha256::new();
        root.update(b"authd derived keys v1\0");
        root.update(key);
        Self {
            id: hex::encode(&Sha256::digest(key)[..4]),
            cipher: Aes256Gcm::new(key.into()),
            derive_root: root.finalize().into(),
        }
    }

    fn derive(&self, label: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.derive_root);
        h.update(label.as_bytes());
        h.finalize().into()
    }
}

/// Seals with the current key; opens with whichever known key (current or
/// previous) the ciphertext names.
pub struct Sealer {
    current: SealKey,
    previous: Vec<SealKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self::with_previous(key, &[])
    }

    /// A sealer that still opens what `previous` keys sealed (rotation).
    pub fn with_previous(key: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        let current = SealKey::new(key);
        let previous = previous
            .iter()
            .map(SealKey::new)
            .filter(|k| k.id != current.id)
            .collect();
        Self { current, previous }
    }

    /// The id of the key new seals are made with.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// The key id a sealed text names, if it is well formed.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next()) {
            (Some("v1"), Some(kid)) => Some(kid),
            _ => None,
        }
    }

    /// 32-byte keys for another purpose (e.g. keyed hashes of backup
    /// codes), derived from the current encryption key and then each
    /// previous one with `label`: different labels give unrelated keys, and
    /// none reveals the encryption key.
    pub fn derive_keys(&self, label: &str) -> Vec<[u8; 32]> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.derive(label))
            .collect()
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, JobsError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| JobsError::Crypto)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(format!(
            "v1.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, JobsError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(JobsError::Crypto);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == kid)
            .ok_or(JobsError::Crypto)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| JobsError::Crypto)?;
        if raw.len() < 12 {
            return Err(JobsError::Crypto);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| JobsError::Crypto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_the_same_key_and_context() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal(b"secret link", b"row-1").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(sealer.open(&sealed, b"row-1").unwrap(), b"secret link");
        assert!(sealer.open(&sealed, b"row-2").is_err());
        assert!(Sealer::new(&[8u8; 32]).open(&sealed, b"row-1").is_err());
        assert_ne!(sealer.derive_keys("a")[0], sealer.derive_keys("b")[0]);
        assert_eq!(
            sealer.derive_keys("a")[0],
            Sealer::new(&[7u8; 32]).derive_keys("a")[0]
        );
        assert_ne!(
            sealer.derive_keys("a")[0],
            Sealer::new(&[8u8; 32]).derive_keys("a")[0]
        );
        assert_ne!(sealer.derive_keys("a")[0], [7u8; 32]);
        assert!(sealer.open("v1.zz.garbage", b"row-1").is_err());
        assert!(sealer.open("", b"row-1").is_err());
    }

    #[test]
    fn a_rotated_sealer_opens_what_the_previous_key_sealed() {
        let old = Sealer::new(&[1u8; 32]);
        let sealed = old.seal(b"totp secret", b"user-1").unwrap();
        let rotated = Sealer::with_previous(&[2u8; 32], &[[1u8; 32]]);
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(Sealer::key_id_of(&sealed), Some(old.key_id()));
        assert_eq!(rotated.open(&sealed, b"user-1").unwrap(), b"totp secret");
        let resealed = rotated.seal(b"totp secret", b"user-1").unwrap();
        assert_eq!(Sealer::key_id_of(&resealed), Some(rotated.key_id()));
        assert!(old.open(&resealed, b"user-1").is_err());
        assert_eq!(
            rotated.derive_keys("a")[0],
            Sealer::new(&[2u8; 32]).derive_keys("a")[0]
        );
        assert_eq!(
            rotated.derive_keys("a"),
            vec![
                Sealer::new(&[2u8; 32]).derive_keys("a")[0],
                old.derive_keys("a")[0]
            ]
        );
    }

    #[test]
    fn two_seals_of_one_text_differ() {
        let sealer = Sealer::new(&[1u8; 32]);
        assert_ne!(
            sealer.seal(b"x", b"").unwrap(),
            sealer.seal(b"x", b"").unwrap()
        );
    }
}
