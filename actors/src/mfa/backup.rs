//! Backup codes: 10 per set, 10 characters each from an alphabet without
//! look-alikes (no 0/O, 1/I/L), shown as `XXXXX-XXXXX`, accepted with or
//! without separators and in any case, stored only as HMAC-SHA256 under a
//! server key.

use zeroize::Zeroizing;

pub(crate) const CODES_PER_SET: usize = 10;
pub(crate) const CODE_CHARS: usize = 10;
const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// The keys backup codes are hashed under: the current one first, then
/// those of earlier encryption keys (codes made before a rotation).
#[derive(Clone)]
pub(crate) struct BackupKey(Vec<[u8; 32]>);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

impl BackupKey {
    /// The current key first, then earlier ones.
    pub(crate) fn new(keys: Vec<[u8; 32]>) -> Self {
        Self(keys)
    }

    /// The stored form of a normalised code, under the current key.
    pub(crate) fn hash(&self, normalized: &str) -> String {
        self.0
            .first()
            .map(|key| mac(key, normalized))
            .unwrap_or_default()
    }

    /// Every form a stored code may have (current and earlier keys).
    pub(crate) fn candidates(&self, normalized: &str) -> Vec<String> {
        self.0.iter().map(|key| mac(key, normalized)).collect()
    }
}

fn mac(key: &[u8; 32], normalized: &str) -> String {
    hex::encode(crate::keyed::hmac_sha256(key, normalized.as_bytes()))
}

/// A new set of codes, grouped for display.
pub(crate) fn new_set() -> Vec<Zeroizing<String>> {
    (0..CODES_PER_SET).map(|_| new_code()).collect()
}

fn new_code() -> Zeroizing<String> {
    let mut code = Zeroizing::new(String::with_capacity(CODE_CHARS + 1));
    for i in 0..CODE_CHARS {
        if i == CODE_CHARS / 2 {
            code.push('-');
        }
        let n = rand::random_range(0..ALPHABET.len());
        code.push(char::from(ALPHABET[n]));
    }
    code
}

/// The canonical form of a typed code (separators and spaces dropped, upper
/// case), or `None` if it cannot be one of ours.
pub(crate) fn normalize(typed: &str) -> Option<Zeroizing<String>> {
    if typed.len() > 64 {
        return None;
    }
    let code: Zeroizing<String> = Zeroizing::new(
        typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    (code.len() == CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_has_ten_distinct_grouped_codes_without_look_alikes() {
        let set = new_set();
        assert_eq!(set.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for code in &set {
            assert_eq!(code.len(), 11, "{}", code.as_str());
            assert_eq!(code.as_bytes()[5], b'-');
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
            assert!(normalize(code).is_some());
            assert!(seen.insert(code.to_string()));
        }
    }

    #[test]
    fn codes_are_accepted_with_or_without_separators_in_any_case() {
        let canonical = normalize("ABCDE-FGH23").unwrap();
        for typed in ["abcde-fgh23", "ABCDEFGH23", "abcde fgh23", " AbCdE-fGh23 "] {
            assert_eq!(
                normalize(typed).as_deref().map(String::as_str),
                Some(canonical.as_str()),
                "{typed}"
            );
        }
        for bad in [
            "",
            "ABCDE-FGH2",
            "ABCDE-FGH234",
            "ABCDE-FGH2O",
            "ABCDÉ-FGH23",
            &"A".repeat(100),
        ] {
            assert!(normalize(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hashes_are_keyed() {
        let a = BackupKey::new(vec![[1; 32]]);
        let b = BackupKey::new(vec![[2; 32]]);
        assert_eq!(a.hash("ABCDEFGH23"), a.hash("ABCDEFGH23"));
        assert_ne!(a.hash("ABCDEFGH23"), b.hash("ABCDEFGH23"));
        assert_ne!(a.hash("ABCDEFGH23"), a.hash("ABCDEFGH24"));
        assert_eq!(a.hash("ABCDEFGH23").len(), 64);
        let rotated = BackupKey::new(vec![[2; 32], [1; 32]]);
        assert_eq!(rotated.hash("ABCDEFGH23"), b.hash("ABCDEFGH23"));
        assert_eq!(
            rotated.candidates("ABCDEFGH23"),
            vec![b.hash("ABCDEFGH23"), a.hash("ABCDEFGH23")]
        );
    }
}
