//! The account's passkeys as a notice lists them (a password changed or
//! reset, later an address changed): each one's name and when it was
//! added, so that the owner sees a passkey they did not add. Nothing of
//! the credential goes into a mail.

use jobs::email::PasskeyNote;
use sea_orm::ConnectionTrait;

use crate::DomainError;
use crate::alerts::utc_minute;
use crate::domain::UserId;
use crate::store::passkeys;

/// The passkeys of `user_id`, oldest first, as a notice lists them; empty
/// when it has none (the notice then says nothing of passkeys).
pub(crate) async fn of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<PasskeyNote>, DomainError> {
    Ok(passkeys::of_user(conn, user_id)
        .await?
        .into_iter()
        .map(|p| PasskeyNote {
            name: p.name,
            added: utc_minute(p.created_at),
        })
        .collect())
}
