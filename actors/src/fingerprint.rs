//! Key fingerprints: a short name for a key that reveals nothing of it, the
//! same on every node that has the key. Stored in the database to find
//! nodes with different keys, logged at start, and the `kid` of HS256
//! access tokens.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first 8 bytes (16 hex digits) of HMAC-SHA256 keyed by `key` over a
/// fixed text naming `purpose` (so the same bytes used for two purposes
/// get two unrelated fingerprints).
pub fn fingerprint(purpose: &str, key: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"authd key fingerprint: ");
    mac.update(purpose.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_short_stable_and_depends_on_key_and_purpose() {
        let a = fingerprint("x", &[1; 32]);
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint("x", &[1; 32]));
        assert_ne!(a, fingerprint("x", &[2; 32]));
        assert_ne!(a, fingerprint("y", &[1; 32]));
    }
}
