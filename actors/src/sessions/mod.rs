//! Login sessions: issuing an access/refresh pair, rotating refresh tokens
//! with reuse detection, and revoking a whole session (logout, reuse).
//! Single use is decided by conditional updates in the database.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, TransactionTrait,
};
use tracing::{info, warn};
use uuid::Uuid;

use crate::DomainError;
use crate::jwt::Jwt;
use crate::one_time::{self, NewToken};
use crate::store::{refresh_tokens, revoked_tokens, sessions, users};

/// What a completed login or refresh hands to the client. Its `Debug`
/// hides both tokens.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: zeroize::Zeroizing<String>,
    pub expires_in: i64,
    pub session_id: Uuid,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// A session family revoked: the access tokens that must now be refused,
/// as (jti, user id, expiry in Unix ms).
#[derive(Debug, Default)]
pub struct Revoked {
    pub tokens: Vec<(Uuid, Uuid, i64)>,
}

#[derive(Debug, Clone)]
pub struct SessionStore {
    pub db: DatabaseConnection,
    pub jwt: Jwt,
    pub refresh_ttl_ms: i64,
}

impl SessionStore {
    /// Starts a session for a user who just completed a login, and in the
    /// same transaction starts their failure count again.
    pub async fn start(&self, user_id: Uuid, now_ms: i64) -> Result<TokenPair, DomainError> {
        let session_id = Uuid::new_v4();
        let txn = self.db.begin().await?;
        users::Entity::update_many()
            .col_expr(users::Column::FailedAttempts, Expr::value(0))
            .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None))
            .filter(users::Column::Id.eq(user_id))
            .exec(&txn)
            .await?;
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(session_id),
            user_id: Set(user_id),
            created_at: Set(now_ms),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        let pair = self.issue(&txn, user_id, session_id, now_ms).await?;
        txn.commit().await?;
        Ok(pair)
    }

    async fn issue<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: Uuid,
        session_id: Uuid,
        now_ms: i64,
    ) -> Result<TokenPair, DomainError> {
        let access = self
            .jwt
            .issue(user_id, session_id, now_ms / 1000)
            .map_err(|e| DomainError::Internal(format!("jwt: {e}")))?;
        let refresh = NewToken::generate();
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            id: Set(Uuid::new_v4()),
            session_id: Set(session_id),
            user_id: Set(user_id),
            token_hash: Set(refresh.hash.clone()),
            access_jti: Set(access.jti),
            access_expires_at: Set(access.expires_at.saturating_mul(1000)),
            expires_at: Set(now_ms.saturating_add(self.refresh_ttl_ms)),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now_ms),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.secret,
            expires_in: access.expires_at - access.issued_at,
            session_id,
        })
    }

    /// Rotates a refresh token. A token presented a second time (even
    /// concurrently with its first use) revokes its whole session.
    pub async fn rotate(
        &self,
        presented: &str,
        now_ms: i64,
    ) -> Result<(TokenPair, Uuid), RotateError> {
        let Some(hash) = one_time::lookup_hash(presented) else {
            return Err(RotateError::Invalid);
        };
        let Some(row) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await
            .map_err(DomainError::from)?
        else {
            return Err(RotateError::Invalid);
        };
        if row.revoked_at.is_some() || row.expires_at <= now_ms {
            return Err(RotateError::Invalid);
        }
        if row.used_at.is_some() {
            return Err(self.reuse(&row, now_ms).await);
        }
        let txn = self.db.begin().await.map_err(DomainError::from)?;
        let used = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now_ms))
            .filter(refresh_tokens::Column::Id.eq(row.id))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(DomainError::from)?;
        if used.rows_affected != 1 {
            drop(txn);
            return Err(self.reuse(&row, now_ms).await);
        }
        let live = sessions::Entity::find_by_id(row.session_id)
            .filter(sessions::Column::RevokedAt.is_null())
            .one(&txn)
            .await
            .map_err(DomainError::from)?;
        if live.is_none() {
            return Err(RotateError::Invalid);
        }
        let pair = self
            .issue(&txn, row.user_id, row.session_id, now_ms)
            .await?;
        txn.commit().await.map_err(DomainError::from)?;
        Ok((pair, row.user_id))
    }

    async fn reuse(&self, row: &refresh_tokens::Model, now_ms: i64) -> RotateError {
        warn!(session_id = %row.session_id, user_id = %row.user_id, "refresh token reused: revoking its session");
        match self.revoke_session(row.session_id, now_ms).await {
            Ok(revoked) => RotateError::Reused(revoked),
            Err(e) => RotateError::Domain(e),
        }
    }

    /// Revokes a session and every refresh token in it; returns the access
    /// tokens paired with them that have not expired yet.
    pub async fn revoke_session(
        &self,
        session_id: Uuid,
        now_ms: i64,
    ) -> Result<Revoked, DomainError> {
        let txn = self.db.begin().await?;
        let revoked = revoke_where(
            &txn,
            Condition::all().add(sessions::Column::Id.eq(session_id)),
            Condition::all().add(refresh_tokens::Column::SessionId.eq(session_id)),
            now_ms,
        )
        .await?;
        txn.commit().await?;
        info!(%session_id, tokens = revoked.tokens.len(), "session revoked");
        Ok(revoked)
    }

    /// The session an access token belongs to, if its refresh token row
    /// exists (used by logout to find the paired refresh token).
    pub async fn session_of_refresh(
        &self,
        presented: &str,
        user_id: Uuid,
    ) -> Result<Option<Uuid>, DomainError> {
        let Some(hash) = one_time::lookup_hash(presented) else {
            return Ok(None);
        };
        Ok(refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .one(&self.db)
            .await?
            .map(|r| r.session_id))
    }
}

/// Revokes every session of `user_id` but `keep` (the caller's, when a
/// password change keeps it), inside the caller's transaction.
pub async fn revoke_user_sessions<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    keep: Option<Uuid>,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    let mut of_sessions = Condition::all().add(sessions::Column::UserId.eq(user_id));
    let mut of_tokens = Condition::all().add(refresh_tokens::Column::UserId.eq(user_id));
    if let Some(keep) = keep {
        of_sessions = of_sessions.add(sessions::Column::Id.ne(keep));
        of_tokens = of_tokens.add(refresh_tokens::Column::SessionId.ne(keep));
    }
    let revoked = revoke_where(conn, of_sessions, of_tokens, now_ms).await?;
    info!(%user_id, tokens = revoked.tokens.len(), "sessions of the user revoked");
    Ok(revoked)
}

/// Marks the matching sessions and their refresh tokens revoked and records
/// the unexpired access tokens issued with them as revoked.
async fn revoke_where<C: ConnectionTrait>(
    conn: &C,
    of_sessions: Condition,
    of_tokens: Condition,
    now_ms: i64,
) -> Result<Revoked, DomainError> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now_ms))
        .filter(of_sessions)
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now_ms))
        .filter(of_tokens.clone())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    let rows = refresh_tokens::Entity::find()
        .filter(of_tokens)
        .filter(refresh_tokens::Column::AccessExpiresAt.gt(now_ms))
        .all(conn)
        .await?;
    let mut revoked = Revoked::default();
    for r in rows {
        insert_revoked(conn, r.access_jti, r.user_id, r.access_expires_at, now_ms).await?;
        revoked
            .tokens
            .push((r.access_jti, r.user_id, r.access_expires_at));
    }
    Ok(revoked)
}

/// Records a revoked access token; revoking twice is fine.
pub async fn insert_revoked<C: ConnectionTrait>(
    conn: &C,
    jti: Uuid,
    user_id: Uuid,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<(), DomainError> {
    let res = revoked_tokens::Entity::insert(revoked_tokens::ActiveModel {
        jti: Set(jti),
        user_id: Set(user_id),
        expires_at: Set(expires_at_ms),
        revoked_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::column(revoked_tokens::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await;
    match res {
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Why a refresh failed.
#[derive(Debug)]
pub enum RotateError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: the session was revoked.
    Reused(Revoked),
    Domain(DomainError),
}

impl From<DomainError> for RotateError {
    fn from(e: DomainError) -> Self {
        RotateError::Domain(e)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ACCESS: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
    pub(crate) const REFRESH: &str = "R3fr3sh-t0ken-0f-f0rty-three-characters-xyz";

    pub(crate) fn pair() -> TokenPair {
        TokenPair {
            access_token: ACCESS.to_owned(),
            refresh_token: zeroize::Zeroizing::new(REFRESH.to_owned()),
            expires_in: 3600,
            session_id: Uuid::nil(),
        }
    }

    #[test]
    fn debug_of_a_token_pair_hides_both_tokens() {
        let pair = pair();
        for text in [format!("{pair:?}"), format!("{pair:#?}")] {
            assert!(!text.contains(ACCESS) && !text.contains("eyJ"), "{text}");
            assert!(
                !text.contains(REFRESH) && !text.contains("R3fr3sh"),
                "{text}"
            );
            assert!(text.contains("3600"), "{text}");
        }
    }
}
