//! TOTP (RFC 6238) as authenticator apps do it: SHA-1, 6 digits, 30-second
//! steps, one step of skew either way. Pure functions of the secret, the
//! code and the time, so the rules are tested without waiting.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::DomainError;

/// The issuer shown in authenticator apps.
pub(crate) const ISSUER: &str = "authd";
pub(crate) const STEP_SECS: u64 = 30;
pub(crate) const DIGITS: usize = 6;
pub(crate) const SKEW: u8 = 1;
/// 160 bits, the size RFC 4226 recommends and authenticator apps expect.
pub(crate) const SECRET_BYTES: usize = 20;

pub(crate) fn new_secret() -> Zeroizing<Vec<u8>> {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    Zeroizing::new(bytes.to_vec())
}

/// The TOTP of `secret` for `account` (the email) under `issuer`.
pub fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, DomainError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.replace(':', "")),
        account.replace(':', ""),
    )
    .map_err(|e| DomainError::Internal(format!("totp: {e}")))
}

/// The time step `code` is valid for at `now_secs` (the current step or one
/// either side), if it is later than `last_used` (a code works once).
pub(crate) fn matching_step(
    totp: &TOTP,
    code: &str,
    now_secs: u64,
    last_used: Option<i64>,
) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now_secs / STEP_SECS;
    let mut found = None;
    // Every candidate is compared, in constant time, whatever matches.
    for step in current.saturating_sub(u64::from(SKEW))..=current + u64::from(SKEW) {
        let expected = totp.generate(step * STEP_SECS);
        let equal = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if equal && last_used.is_none_or(|used| step > used) {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows (8 digits, the 20-byte ASCII key).
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let key = b"12345678901234567890".to_vec();
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 8, 1, 30, key, None, String::new());
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time), code, "T = {time}");
        }
    }

    fn sample() -> TOTP {
        totp(&[42u8; SECRET_BYTES], "authd", "ann@example.org").unwrap()
    }

    #[test]
    fn the_current_step_and_one_either_side_are_accepted() {
        let t = sample();
        let now = 1_700_000_015;
        let step = i64::try_from(now / STEP_SECS).unwrap();
        for (at, expected) in [(now - 30, step - 1), (now, step), (now + 30, step + 1)] {
            let code = t.generate(at);
            assert_eq!(matching_step(&t, &code, now, None), Some(expected));
        }
        assert_eq!(matching_step(&t, &t.generate(now - 60), now, None), None);
        assert_eq!(matching_step(&t, &t.generate(now + 60), now, None), None);
    }

    #[test]
    fn a_step_at_or_before_the_last_used_one_is_refused() {
        let t = sample();
        let now = 1_700_000_015;
        let step = i64::try_from(now / STEP_SECS).unwrap();
        let code = t.generate(now);
        assert_eq!(matching_step(&t, &code, now, Some(step)), None);
        assert_eq!(matching_step(&t, &code, now, Some(step + 1)), None);
        assert_eq!(matching_step(&t, &code, now, Some(step - 1)), Some(step));
        // Thirty seconds on, the next code works.
        let next = t.generate(now + 30);
        assert_eq!(
            matching_step(&t, &next, now + 30, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let t = sample();
        let now = 1_700_000_015;
        let code = t.generate(now);
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            " 12345",
            &format!("{code} "),
        ] {
            assert_eq!(matching_step(&t, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let url = sample().get_url();
        assert!(
            url.starts_with("otpauth://totp/authd:ann%40example.org?"),
            "{url}"
        );
        assert!(url.contains("issuer=authd"), "{url}");
        assert!(url.contains("secret="), "{url}");
    }
}
