//! What an admin sends to make an account: the fields of a registration
//! (the password optional) and what only an admin sets.

use poem_openapi::Object;
use serde::Deserialize;

use actors::admin::AdminNewUser;
use actors::{DomainError, FieldErrors, NewAccount};

use super::views::roles_and_metadata;
use crate::error::ApiError;

/// A new account. Any other field is refused (400).
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// A valid email address (no display name), at most 254 characters
    /// after trimming. Compared case-insensitively: one account per
    /// address (409 when it has one).
    pub email: String,
    /// Optional; as at registration: 8 to 128 characters with a lowercase
    /// letter, an uppercase letter and a digit; not a commonly used or
    /// breached password; not the email address. Without it the account
    /// has no password and the address is mailed an invitation: a link to
    /// choose one (password-reset-confirm), valid 7 days.
    #[oai(nullable, write_only, validator(min_length = 8, max_length = 128))]
    pub password: Option<String>,
    /// 1 to 100 characters after trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub first_name: String,
    /// 1 to 100 characters after trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub last_name: String,
    /// Optional, at most 200 characters after trimming, no control
    /// characters; blank is the same as absent.
    #[oai(nullable)]
    pub company_name: Option<String>,
    /// `true`: the address counts as verified and no verification mail
    /// goes out. Otherwise (the default) it is unverified: with a
    /// password, the verification mail of a registration is sent; without
    /// one, using the invitation verifies it.
    #[oai(nullable)]
    pub email_verified: Option<bool>,
    /// The roles: at most 20, each matching `^[a-z][a-z0-9_.:-]{0,63}$`
    /// (default none).
    #[oai(nullable)]
    pub roles: Option<Vec<String>>,
    /// The app metadata: a JSON object of at most 4 KiB (default `{}`).
    #[oai(nullable)]
    pub app_metadata: Option<serde_json::Value>,
}

impl CreateUserRequest {
    /// The new account, every field parsed; every failing field reported
    /// at once.
    pub(crate) fn parse(self) -> Result<AdminNewUser, ApiError> {
        let mut errors = FieldErrors::new();
        let account = match NewAccount::parse(
            &self.email,
            self.password.as_deref(),
            &self.first_name,
            &self.last_name,
            self.company_name.as_deref(),
        ) {
            Ok(account) => Some(account),
            Err(DomainError::Validation(e)) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e.into()),
        };
        let (roles, app_metadata) = roles_and_metadata(self.roles, self.app_metadata, &mut errors);
        match account {
            Some(account) if errors.is_empty() => Ok(AdminNewUser {
                account,
                email_verified: self.email_verified.unwrap_or(false),
                roles,
                app_metadata,
            }),
            _ => Err(ApiError::invalid(errors)),
        }
    }
}
