//! What every change of a credential (password reset or change, 2FA on or
//! off, new backup codes) does, in the transaction that makes the change:
//! the credential version moves on, so no login checked against the old
//! credentials can start a session (even one in flight); every open
//! `mfa_token` is void; every other session of the user ends.

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::DomainError;
use crate::mfa::challenges;
use crate::sessions::{Revoked, revoke_user_sessions};
use crate::store::users;

/// The whole of a credential change but the change itself. `keep` is the
/// caller's session, which stays (none for a reset by emailed token).
/// The caller tells the TokenRegistry about the returned revocations once
/// the transaction is committed.
pub async fn changed<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    keep: Option<Uuid>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    users::bump_credentials(conn, user_id, now_ms).await?;
    end_other_logins(conn, user_id, keep, now_ms).await
}

/// Voids every open `mfa_token` and ends every session but `keep`; for a
/// change whose transaction already moved the credential version on
/// (2FA turned on, inside the user's actor).
pub async fn end_other_logins<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    keep: Option<Uuid>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    challenges::void_all(conn, user_id, now_ms).await?;
    revoke_user_sessions(conn, user_id, keep, now_ms).await
}
