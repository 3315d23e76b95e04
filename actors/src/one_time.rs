//! Single-use tokens: 256 random bits, sent to the user base64url-encoded,
//! stored only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A freshly made token: the secret goes in an email, the hash in the database.
pub struct NewToken {
    pub secret: Zeroizing<String>,
    pub hash: String,
}

impl NewToken {
    pub(crate) fn generate() -> Self {
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
        let hash = hash_token(&secret);
        Self { secret, hash }
    }
}

pub(crate) fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The stored form of a presented token, or `None` if it cannot be one of
/// ours (refused before the database is asked).
pub(crate) fn lookup_hash(presented: &str) -> Option<String> {
    well_formed(presented).then(|| hash_token(presented))
}

/// Compares a stored hash with a computed one in constant time.
pub(crate) fn same_hash(stored: &str, computed: &str) -> bool {
    bool::from(stored.as_bytes().ct_eq(computed.as_bytes()))
}

/// Whether `presented` has the shape of one of our tokens (43 base64url
/// characters); anything else is refused before touching the database.
pub(crate) fn well_formed(presented: &str) -> bool {
    presented.len() == 43
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = NewToken::generate();
        let b = NewToken::generate();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(a.secret.as_bytes()).unwrap().len(),
            32
        );
        assert!(well_formed(&a.secret));
        assert_ne!(*a.secret, *b.secret);
        assert_eq!(a.hash, hash_token(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert_eq!(lookup_hash(&a.secret), Some(a.hash.clone()));
        assert!(same_hash(&a.hash, &hash_token(&a.secret)));
        assert!(!same_hash(&a.hash, &b.hash));
        assert_eq!(lookup_hash("not a token"), None);
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(44)));
        assert!(!well_formed(&format!("{}=", "a".repeat(42))));
        assert!(!well_formed(&"é".repeat(21)));
    }
}
