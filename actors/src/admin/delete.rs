//! An admin deletes a user: exactly the owner's own deletion
//! ([`crate::account_data::delete_account`], the one owner of it), without
//! re-authentication, its one remaining event naming the admin.

use tracing::instrument;

use super::{Admin, AdminCaller};
use crate::DomainError;
use crate::account_data::delete_account;
use crate::domain::UserId;

impl Admin {
    /// Deletes a user and everything keyed to it, as the owner's own
    /// deletion does (every session ended on every node, one mail without
    /// a link, `user.deleted`); the bare `account_deleted` event carries
    /// the admin as `actor`. An unknown user, or one a parallel deletion
    /// removed first, is [`DomainError::UserNotFound`].
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn delete_user(&self, caller: &AdminCaller, id: UserId) -> Result<(), DomainError> {
        caller.may_write()?;
        if !delete_account(&self.mfa, id, Some(&caller.actor)).await? {
            return Err(DomainError::UserNotFound);
        }
        Ok(())
    }
}
