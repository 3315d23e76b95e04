//! What the admin API takes and gives: the admin view of a user, a page of
//! users, and a change of a user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem_openapi::Object;
use poem_openapi::types::MaybeUndefined;
use serde::Deserialize;

use actors::admin::{AdminUser, AdminUserChange, UserCursor};
use actors::domain::{AppMetadata, Email, Roles};
use actors::{DomainError, FieldErrors, ProfileChange};

use crate::error::ApiError;
use crate::time::rfc3339_ms;
use crate::tokens::UserView;

/// A user as an admin sees it.
#[derive(Object, Debug)]
pub struct AdminUserView {
    /// The user object (as login and verify-token give it).
    #[oai(flatten)]
    pub user: UserView,
    /// Logins are refused and every session ended.
    pub disabled: bool,
    /// When the lock from failed attempts ends (RFC 3339), while it lasts.
    #[oai(nullable)]
    pub locked_until: Option<String>,
    /// When the latest login completed (RFC 3339), if any is stored.
    #[oai(nullable)]
    pub last_login_at: Option<String>,
    /// How many passkeys it has.
    pub passkeys: u64,
    /// How many sessions are live.
    pub sessions: u64,
}

impl From<AdminUser> for AdminUserView {
    fn from(u: AdminUser) -> Self {
        Self {
            user: u.account.into(),
            disabled: u.disabled,
            locked_until: u.locked_until.map(rfc3339_ms),
            last_login_at: u.last_login_at.map(rfc3339_ms),
            passkeys: u.passkeys,
            sessions: u.sessions,
        }
    }
}

/// One user.
#[derive(Object, Debug)]
pub struct AdminUserData {
    /// The admin view of the user.
    pub user: AdminUserView,
}

/// A page of users.
#[derive(Object, Debug)]
pub struct UserPage {
    /// Newest first.
    pub users: Vec<AdminUserView>,
    /// Pass as `cursor` for the next page; null at the end.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A change of a user; a field left out (or `null`) stays as it is, but
/// `company_name: null` clears it. Any other field is refused (400).
#[derive(Object, Deserialize, Debug)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// First name: 1 to 100 characters after trimming, no control characters.
    #[oai(nullable, validator(min_length = 1))]
    #[serde(default)]
    pub first_name: MaybeUndefined<String>,
    /// Last name: 1 to 100 characters after trimming, no control characters.
    #[oai(nullable, validator(min_length = 1))]
    #[serde(default)]
    pub last_name: MaybeUndefined<String>,
    /// Company name, at most 200 characters; `null` (or blank) clears it.
    #[oai(nullable)]
    #[serde(default)]
    pub company_name: MaybeUndefined<String>,
    /// A new address (rules as at registration), set at once: the old
    /// address is told, and every reset, verification and pending
    /// address-change link of the user stops working. It is verified when
    /// `email_verified: true` comes with it, else unverified and mailed a
    /// verification link. Sessions stay. Another account's address -> 409.
    #[oai(nullable)]
    #[serde(default)]
    pub email: Option<String>,
    /// Mark the address verified (`true`) or not (`false`); with `email`,
    /// whether the new address is verified.
    #[oai(nullable)]
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// `true`: refuse logins and end every session; `false`: enable again.
    #[oai(nullable)]
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The roles (replacing the old ones): at most 20, each matching
    /// `^[a-z][a-z0-9_.:-]{0,63}$`.
    #[oai(nullable)]
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// The app metadata (replacing the old): a JSON object of at most 4 KiB.
    #[oai(nullable)]
    #[serde(default)]
    pub app_metadata: Option<serde_json::Value>,
}

impl UpdateUserRequest {
    /// The change, every field parsed; every failing field reported at once.
    pub(crate) fn parse(self) -> Result<AdminUserChange, ApiError> {
        let given = |f: MaybeUndefined<String>| -> Option<Option<String>> { f.into() };
        let (first, last, company) = (
            given(self.first_name),
            given(self.last_name),
            given(self.company_name),
        );
        let mut errors = FieldErrors::new();
        let names = match ProfileChange::parse(
            first.as_ref().map(Option::as_deref),
            last.as_ref().map(Option::as_deref),
            company.as_ref().map(Option::as_deref),
        ) {
            Ok(names) => names,
            Err(DomainError::Validation(e)) => {
                errors.extend(e);
                ProfileChange::default()
            }
            Err(e) => return Err(e.into()),
        };
        let email = match self.email.as_deref().map(Email::parse).transpose() {
            Ok(e) => e,
            Err(messages) => {
                errors.insert("email".to_owned(), messages);
                None
            }
        };
        let (roles, app_metadata) = roles_and_metadata(self.roles, self.app_metadata, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        Ok(AdminUserChange {
            names,
            email,
            email_verified: self.email_verified,
            disabled: self.disabled,
            roles,
            app_metadata,
        })
    }
}

/// Roles and app metadata as an admin gives them, parsed; what fails is
/// added to `errors` under its field.
pub(crate) fn roles_and_metadata(
    roles: Option<Vec<String>>,
    app_metadata: Option<serde_json::Value>,
    errors: &mut FieldErrors,
) -> (Option<Roles>, Option<AppMetadata>) {
    let roles = roles
        .map(|r| Roles::parse(&r))
        .transpose()
        .unwrap_or_else(|messages| {
            errors.insert("roles".to_owned(), messages);
            None
        });
    let app_metadata = app_metadata
        .map(AppMetadata::parse)
        .transpose()
        .unwrap_or_else(|messages| {
            errors.insert("app_metadata".to_owned(), messages);
            None
        });
    (roles, app_metadata)
}

/// A cursor as the opaque text clients pass back.
pub(crate) fn encode_cursor(c: UserCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", c.created_at, c.id))
}

pub(crate) fn decode_cursor(text: &str) -> Result<UserCursor, ApiError> {
    let bad = || {
        ApiError::from(DomainError::field(
            "cursor",
            "is not a cursor from this list",
        ))
    };
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('.').ok_or_else(bad)?;
    Ok(UserCursor {
        created_at: at.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}
