pub(crate) const MAX_PERSON_NAME_CHARS: usize = 100;
pub(crate) const MAX_COMPANY_NAME_CHARS: usize = 200;

/// A first or last name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(vec!["is required".into()]);
        }
        check_text(name, MAX_PERSON_NAME_CHARS)?;
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `-`: the name of an account whose identity provider gave none.
    pub(crate) fn placeholder() -> Self {
        Self("-".to_owned())
    }
}

/// A company name: optional, at most 200 characters, no control characters.
/// Blank is the same as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyName(String);

impl CompanyName {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, Vec<String>> {
        let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        check_text(name, MAX_COMPANY_NAME_CHARS)?;
        Ok(Some(Self(name.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_text(text: &str, max: usize) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if text.chars().count() > max {
        errors.push(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        errors.push("must not contain control characters".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_name_is_trimmed() {
        assert_eq!(PersonName::parse("  Ada ").unwrap().as_str(), "Ada");
    }

    #[test]
    fn person_name_must_not_be_blank() {
        assert_eq!(
            PersonName::parse(" \t ").unwrap_err(),
            vec!["is required".to_string()]
        );
    }

    #[test]
    fn person_name_length_counts_characters_not_bytes() {
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
        assert!(PersonName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in ["Ada\u{0}", "A\u{7}da", "Ad\u{1b}[31ma", "Ada\u{85}x"] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CompanyName::parse(Some("Acme\u{8}")).is_err());
    }

    #[test]
    fn blank_company_is_absent_and_long_company_is_refused() {
        assert_eq!(CompanyName::parse(Some("  ")).unwrap(), None);
        assert_eq!(CompanyName::parse(None).unwrap(), None);
        assert!(
            CompanyName::parse(Some(&"x".repeat(200)))
                .unwrap()
                .is_some()
        );
        assert!(CompanyName::parse(Some(&"x".repeat(201))).is_err());
    }
}
