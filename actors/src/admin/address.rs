//! An admin sets a user's address: at once, in the unit of work of the
//! change (`Admin::change_user`). The old address is told (a notice with
//! no link); every link of the user that a mailbox already holds and
//! that acts on the account as it was (reset, verification, pending
//! address change) is void, so a link in the old mailbox no longer works.
//! The new address is verified when the admin says so, else unverified
//! and mailed a verification link. Sessions stay: an admin fixing an
//! address is not a compromise, and the password did not change.

use jobs::EmailKind;

use super::Admin;
use crate::DomainError;
use crate::domain::Email;
use crate::email_change::set_address;
use crate::store::one_time_tokens::{self, LinkKind};
use crate::store::users;
use crate::work::Work;

/// The links an admin's address change voids. A revert link (to an
/// address the account had before the current one) stays: it is the
/// older owner's way back if the account was taken over, and it ends
/// every session and mails a reset link when used.
const VOIDED: [LinkKind; 3] = [
    LinkKind::PasswordReset,
    LinkKind::VerifyEmail,
    LinkKind::EmailChange,
];

impl Admin {
    /// Moves the user `before` (its row, taken first in `work`) to `to`,
    /// verified if `verified`: 409 when another account has `to`.
    pub(super) async fn set_email(
        &self,
        work: &mut Work,
        before: &users::Model,
        to: &Email,
        verified: bool,
    ) -> Result<(), DomainError> {
        let (id, now) = (before.id, work.now_ms());
        set_address(work, id, to, verified.then_some(now)).await?;
        for kind in VOIDED {
            one_time_tokens::void_all(work.conn(), id, kind, now).await?;
        }
        let accounts = &self.accounts;
        let notice = EmailKind::EmailChangedByAdmin {
            // A name typed at registration only once the address was
            // proved (as in a reset mail): anyone can register any address.
            first_name: if before.email_verified_at.is_some() {
                before.first_name.clone()
            } else {
                String::new()
            },
        };
        work.mail_to(&accounts.sealer, id, &before.email, notice)
            .await?;
        if !verified {
            accounts.queue_verification(work, id, to.as_str()).await?;
        }
        Ok(())
    }
}
