use std::collections::HashSet;
use std::sync::LazyLock;

use zeroize::Zeroizing;

use super::Email;

pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
pub(crate) const MAX_PASSWORD_CHARS: usize = 128;

/// 30,000 most common passwords (lower case), from the zxcvbn project (MIT).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// A new password that meets the rules: 8 to 128 characters, a lowercase
/// letter, an uppercase letter and a digit, not a common password, not the
/// email address. Never printed; wiped from memory when dropped.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            errors.push(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if chars > MAX_PASSWORD_CHARS {
            errors.push(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
        }
        if !raw.chars().any(char::is_lowercase) {
            errors.push("must contain a lowercase letter".into());
        }
        if !raw.chars().any(char::is_uppercase) {
            errors.push("must contain an uppercase letter".into());
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            errors.push("must contain a digit".into());
        }
        if is_common(raw) {
            errors.push("is too common".into());
        }
        if email.is_some_and(|e| super::email::normalize(raw) == e.normalized()) {
            errors.push("must not be the same as the email address".into());
        }
        if errors.is_empty() {
            Ok(Self(Zeroizing::new(raw.to_owned())))
        } else {
            Err(errors)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Whether `candidate` is on the shipped list of common passwords.
pub(crate) fn is_common(candidate: &str) -> bool {
    let lowered = Zeroizing::new(candidate.to_lowercase());
    COMMON.contains(lowered.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(raw: &str) -> Vec<String> {
        Password::parse(raw, None).err().unwrap_or_default()
    }

    #[test]
    fn a_good_password_passes() {
        assert!(Password::parse("Tr0ub4dor&3x", None).is_ok());
    }

    #[test]
    fn each_rule_has_its_message() {
        assert!(errors("Ab1").contains(&"must be at least 8 characters".to_string()));
        let long = format!("Ab1{}", "x".repeat(126));
        assert!(errors(&long).contains(&"must be at most 128 characters".to_string()));
        assert_eq!(errors("ABCDEFG1X"), vec!["must contain a lowercase letter"]);
        assert_eq!(
            errors("abcdefg1x"),
            vec!["must contain an uppercase letter"]
        );
        assert_eq!(errors("Abcdefghx"), vec!["must contain a digit"]);
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert!(is_common("password1"));
        assert!(errors("Password1").contains(&"is too common".to_string()));
        assert!(errors("PASSword123").contains(&"is too common".to_string()));
    }

    #[test]
    fn the_list_has_at_least_ten_thousand_entries() {
        assert!(COMMON.len() >= 10_000);
    }

    #[test]
    fn password_equal_to_email_is_refused() {
        let email = Email::parse("Ann1@X.org").unwrap();
        let errs = Password::parse("ann1@x.orG", Some(&email)).unwrap_err();
        assert!(errs.contains(&"must not be the same as the email address".to_string()));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("Tr0ub4dor&3x", None).unwrap();
        assert!(!format!("{p:?}").contains("Tr0ub"));
    }
}
