use std::str::FromStr;

use email_address::{EmailAddress, Options};
use unicode_normalization::UnicodeNormalization;

pub(crate) const MAX_EMAIL_CHARS: usize = 254;

/// An email address: a valid addr-spec (no display name), trimmed, at most
/// 254 characters. It keeps the address as given, and a normalised form
/// (Unicode NFC, lower case) that decides uniqueness and login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    given: String,
    normalized: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        let given = raw.trim();
        if given.is_empty() {
            return Err(vec!["is required".into()]);
        }
        if given.chars().count() > MAX_EMAIL_CHARS {
            return Err(vec![format!(
                "must be at most {MAX_EMAIL_CHARS} characters"
            )]);
        }
        if given.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(vec!["must be a valid email address".into()]);
        }
        // Validate the composed (NFC) form: a decomposed accent is the same
        // address as the composed one.
        let composed: String = given.nfc().collect();
        let options = Options::default().without_display_text();
        if EmailAddress::parse_with_options(&composed, options).is_err()
            || EmailAddress::from_str(&composed).is_err()
        {
            return Err(vec!["must be a valid email address".into()]);
        }
        Ok(Self {
            given: given.to_owned(),
            normalized: normalize(given),
        })
    }

    /// The address as the user typed it (trimmed): where mail goes.
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// The form compared for uniqueness and login.
    pub(crate) fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// NFC, then lower case. Look-alikes from other scripts (e.g. a dotless ı)
/// stay distinct: they are different mailboxes.
pub(crate) fn normalize(address: &str) -> String {
    address.trim().nfc().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_address_and_keeps_it_as_given() {
        let e = Email::parse("  Mike.Smith@Example.org ").unwrap();
        assert_eq!(e.as_str(), "Mike.Smith@Example.org");
        assert_eq!(e.normalized(), "mike.smith@example.org");
    }

    #[test]
    fn case_variants_normalise_to_one_address() {
        assert_eq!(
            Email::parse("MIKE@x.org").unwrap().normalized(),
            Email::parse("mike@x.org").unwrap().normalized()
        );
    }

    #[test]
    fn composed_and_decomposed_forms_normalise_to_one_address() {
        let composed = Email::parse("jos\u{e9}@x.org").unwrap();
        let decomposed = Email::parse("jose\u{301}@x.org").unwrap();
        assert_eq!(composed.normalized(), decomposed.normalized());
    }

    #[test]
    fn dotless_i_is_a_different_address() {
        assert_ne!(
            Email::parse("m\u{131}ke@x.org").unwrap().normalized(),
            Email::parse("mike@x.org").unwrap().normalized()
        );
    }

    #[test]
    fn rejects_what_is_not_an_addr_spec() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@x.org",
            "a@",
            "a@@x.org",
            "Mike <mike@x.org>",
            "mike\u{ff20}x.org",
            "mi ke@x.org",
            "mike@x.org\u{0}",
            "mike\n@x.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rejects_more_than_254_characters() {
        let long = format!("{}@{}.org", "a".repeat(64), "b".repeat(200));
        assert!(long.chars().count() > 254);
        assert_eq!(
            Email::parse(&long).unwrap_err(),
            vec!["must be at most 254 characters".to_string()]
        );
    }
}
