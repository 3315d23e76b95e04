//! Sealing of data at rest with AES-256-GCM under `AUTH_ENCRYPTION_KEY`.
//! Each ciphertext names the key that made it, so the key can be rotated.
//! Format: `v1.<key id>.<base64url(nonce || ciphertext)>`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::JobsError;

pub struct Sealer {
    key_id: String,
    cipher: Aes256Gcm,
    /// SHA-256 of the key under a fixed label: the root of derived keys.
    derive_root: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        let key_id = hex::encode(&Sha256::digest(key)[..4]);
        let mut root = Sha256::new();
        root.update(b"authd derived keys v1\0");
        root.update(key);
        Self {
            key_id,
            cipher: Aes256Gcm::new(key.into()),
            derive_root: root.finalize().into(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A 32-byte key for another purpose (e.g. keyed hashes of backup
    /// codes), derived from the encryption key and `label`: different
    /// labels give unrelated keys, and none reveals the encryption key.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.derive_root);
        h.update(label.as_bytes());
        h.finalize().into()
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. the row id) so a
    /// ciphertext copied to another row does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, JobsError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let ciphertext = self
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
            self.key_id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, JobsError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(JobsError::Crypto);
        };
        if kid != self.key_id {
            return Err(JobsError::Crypto);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| JobsError::Crypto)?;
        if raw.len() < 12 {
            return Err(JobsError::Crypto);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        self.cipher
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
        assert_ne!(sealer.derive_key("a"), sealer.derive_key("b"));
        assert_eq!(
            sealer.derive_key("a"),
            Sealer::new(&[7u8; 32]).derive_key("a")
        );
        assert_ne!(
            sealer.derive_key("a"),
            Sealer::new(&[8u8; 32]).derive_key("a")
        );
        assert_ne!(sealer.derive_key("a"), [7u8; 32]);
        assert!(sealer.open("v1.zz.garbage", b"row-1").is_err());
        assert!(sealer.open("", b"row-1").is_err());
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
