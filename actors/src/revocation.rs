//! Ending sessions: the one place that marks sessions and their refresh
//! tokens revoked (a logout, a reused refresh token, logout-all, a
//! credential change). What it returns, the sessions it ended, is told to
//! the TokenRegistry once the transaction commits (`work::Work` does).

use sea_orm::ConnectionTrait;
use tracing::info;

use crate::DomainError;
use crate::attempts::Revoked;
use crate::domain::{SessionId, UserId};
use crate::store::{SessionScope, refresh_tokens, sessions};

/// Ends the sessions of `scope` and their refresh tokens: two writes,
/// whatever the number of tokens, sessions first (the order a refresh's
/// claim takes the rows in). An access token is accepted only while its
/// session is live, so this revokes every access token issued in these
/// sessions too, expired or in the leeway alike.
pub(crate) async fn end<C: ConnectionTrait>(
    conn: &C,
    scope: SessionScope,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    // Write first: on SQLite a transaction that reads before it writes can
    // fail to take the write lock when another writer went first.
    let ids = sessions::revoke(conn, scope, now_ms).await?;
    refresh_tokens::revoke(conn, scope, now_ms).await?;
    Ok(Revoked { sessions: ids })
}

/// Ends every session of `user_id` but `keep` (the caller's, when a
/// change keeps it), inside the caller's transaction.
pub(crate) async fn end_all_but<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    keep: Option<SessionId>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    let revoked = end(conn, SessionScope::AllOf { user_id, keep }, now_ms).await?;
    info!(%user_id, sessions = revoked.sessions.len(), "sessions of the user revoked");
    Ok(revoked)
}
