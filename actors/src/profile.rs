//! The owner's profile: their names. Not a credential: changing them ends
//! no session and asks for no password. Roles and app metadata are shown
//! with the profile but only the admin API sets them.

use tracing::instrument;

use crate::DomainError;
use crate::accounts::Accounts;
use crate::attempts::Authenticated;
use crate::audit::{Event, EventKind};
use crate::domain::{CompanyName, PersonName};
use crate::error::FieldErrors;
use crate::store::users::{self, ProfileColumns};
use crate::views::Account;
use crate::work::Work;

/// A change of names, parsed: every given field is valid, and at least one
/// is given (or the change is empty and changes nothing).
#[derive(Debug, Default)]
pub struct ProfileChange {
    first_name: Option<PersonName>,
    last_name: Option<PersonName>,
    /// `Some(None)`: clear it.
    company_name: Option<Option<CompanyName>>,
}

impl ProfileChange {
    /// Parses the fields given (`None`: not given). A name given as
    /// `Some(None)` (JSON `null`) is left as it is: only the company can be
    /// cleared. Reports every failing field at once.
    pub fn parse(
        first_name: Option<Option<&str>>,
        last_name: Option<Option<&str>>,
        company_name: Option<Option<&str>>,
    ) -> Result<Self, DomainError> {
        let mut errors = FieldErrors::new();
        let mut name = |field: &str, given: Option<Option<&str>>| match given.flatten() {
            None => None,
            Some(raw) => match PersonName::parse(raw) {
                Ok(name) => Some(name),
                Err(messages) => {
                    errors.insert(field.to_owned(), messages);
                    None
                }
            },
        };
        let first_name = name("first_name", first_name);
        let last_name = name("last_name", last_name);
        let company_name = match company_name.map(CompanyName::parse) {
            None => None,
            Some(Ok(company)) => Some(company),
            Some(Err(messages)) => {
                errors.insert("company_name".to_owned(), messages);
                None
            }
        };
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        Ok(Self {
            first_name,
            last_name,
            company_name,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first_name.is_none() && self.last_name.is_none() && self.company_name.is_none()
    }

    pub(crate) fn into_columns(self) -> ProfileColumns {
        ProfileColumns {
            first_name: self.first_name.map(|n| n.as_str().to_owned()),
            last_name: self.last_name.map(|n| n.as_str().to_owned()),
            company_name: self.company_name.map(|c| c.map(|c| c.as_str().to_owned())),
        }
    }
}

impl Accounts {
    /// Changes the caller's names and returns the account as it is now.
    /// An empty change changes nothing and records no event.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn update_profile(
        &self,
        who: &Authenticated,
        change: ProfileChange,
    ) -> Result<Account, DomainError> {
        let user_id = who.user.id;
        if change.is_empty() {
            return Ok(who.account());
        }
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now_ms = work.now_ms();
        let row = users::set_profile(work.conn(), user_id, change.into_columns(), now_ms)
            .await?
            // Deleted since its token was accepted.
            .ok_or(DomainError::Unauthorized)?;
        work.record(Event::new(user_id, EventKind::ProfileUpdated, &who.client))
            .await?;
        work.user_changed(user_id);
        work.webhook(&self.after, jobs::EventType::UserUpdated, user_id)
            .await?;
        work.commit(&self.after).await?;
        tracing::info!("profile updated");
        Ok(Account::from(&row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(result: Result<ProfileChange, DomainError>) -> Vec<String> {
        match result {
            Err(DomainError::Validation(errors)) => errors.into_keys().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn only_given_fields_change_and_blank_company_clears_it() {
        let change = ProfileChange::parse(Some(Some(" Ann ")), None, Some(Some("  "))).unwrap();
        let columns = change.into_columns();
        assert_eq!(columns.first_name.as_deref(), Some("Ann"));
        assert_eq!(columns.last_name, None);
        assert_eq!(columns.company_name, Some(None));
        assert!(ProfileChange::parse(None, None, None).unwrap().is_empty());
        let cleared = ProfileChange::parse(None, None, Some(None)).unwrap();
        assert!(!cleared.is_empty());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let long = "x".repeat(201);
        let mut fields = errors_of(ProfileChange::parse(
            Some(Some(" ")),
            Some(Some("")),
            Some(Some(&long)),
        ));
        fields.sort();
        assert_eq!(fields, ["company_name", "first_name", "last_name"]);
        // A name given as null is left as it is.
        assert!(
            ProfileChange::parse(Some(None), Some(None), None)
                .unwrap()
                .is_empty()
        );
        let fields = errors_of(ProfileChange::parse(Some(Some("a\u{7}b")), None, None));
        assert_eq!(fields, ["first_name"]);
    }
}
