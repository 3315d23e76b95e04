//! What every change of a credential (password reset or change, 2FA on or
//! off, new backup codes, a passkey added or removed, the address moved or
//! put back) does, in the
//! transaction that makes the change: the credential version moves on, so
//! no login checked against the old credentials can start a session (even
//! one in flight); every open `mfa_token` and reset link is void; every
//! known device but
//! the caller's is forgotten; every other session of the user ends.

use sea_orm::ConnectionTrait;

use crate::DomainError;
use crate::attempts::Revoked;
use crate::domain::{SessionId, UserId};
use crate::mfa::challenges;
use crate::revocation;
use crate::store::one_time_tokens::LinkKind;
use crate::store::{devices, one_time_tokens, sessions, users};

/// The whole of a credential change but the change itself. `keep` is the
/// caller's session, which stays (none for a reset by emailed token).
/// The caller tells the TokenRegistry about the returned revocations once
/// the transaction is committed.
pub(crate) async fn changed<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    keep: Option<SessionId>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    users::bump_credentials(conn, user_id, now_ms).await?;
    end_other_logins(conn, user_id, keep, now_ms).await
}

/// Forgets every known device of `user_id` but the one session `keep`
/// logged in with.
async fn forget_other_devices<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    keep: Option<SessionId>,
    now_ms: i64,
) -> Result<(), DomainError> {
    let device = match keep {
        Some(session_id) => sessions::device_of(conn, session_id).await?,
        None => None,
    };
    devices::forget_all_but(conn, user_id, device, now_ms).await?;
    Ok(())
}

/// Voids every open `mfa_token` and reset link, forgets other devices and
/// ends every session but `keep`.
async fn end_other_logins<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    keep: Option<SessionId>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    challenges::void_all(conn, user_id, now_ms).await?;
    one_time_tokens::void_all(conn, user_id, LinkKind::PasswordReset, now_ms).await?;
    forget_other_devices(conn, user_id, keep, now_ms).await?;
    revocation::end_all_but(conn, user_id, keep, now_ms).await
}
