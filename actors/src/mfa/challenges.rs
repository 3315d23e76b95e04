//! MFA login challenges: the `mfa_token` a login with 2FA answers with.
//! 256 random bits, stored as SHA-256, single use, 5 minutes, void after
//! 5 wrong codes. The rules are here; the writes are
//! [`crate::store::mfa_challenges`]'s.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::attempts::Budget;
use crate::domain::UserId;
use crate::one_time::{self, NewToken};
use crate::store::mfa_challenges::{self, Column, Entity};

pub(crate) const TTL_MS: i64 = 5 * 60 * 1000;
pub(crate) const MAX_FAILURES: i32 = 5;

/// Stores a new challenge for `user_id`, whose password was checked against
/// credential version `version` with the failure budget `budget`; returns
/// the token for the client.
pub async fn start<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    version: i64,
    budget: Budget,
    now_ms: i64,
) -> Result<Zeroizing<String>, DomainError> {
    let token = NewToken::generate();
    let device_id = match budget {
        Budget::Device(id) => Some(id),
        Budget::Account => None,
    };
    let expires_at = now_ms.saturating_add(TTL_MS);
    mfa_challenges::open(
        conn,
        user_id,
        token.hash.clone(),
        expires_at,
        version,
        device_id,
        now_ms,
    )
    .await?;
    Ok(token.secret)
}

/// The challenge whose token is `presented`, if it can still be answered.
pub(crate) async fn find_usable<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
    now_ms: i64,
) -> Result<Option<mfa_challenges::Model>, DomainError> {
    let Some(hash) = one_time::lookup_hash(presented) else {
        return Ok(None);
    };
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash.as_str()))
        .one(conn)
        .await?
        .filter(|c| one_time::same_hash(&c.token_hash, &hash))
        .filter(|c| usable(c, now_ms)))
}

pub fn usable(c: &mfa_challenges::Model, now_ms: i64) -> bool {
    c.used_at.is_none() && c.expires_at > now_ms && c.failures < MAX_FAILURES
}

/// Uses the challenge if it can still be answered: exactly one of any
/// number of concurrent callers gets `true`.
pub(crate) async fn consume<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    user_id: UserId,
    now_ms: i64,
) -> Result<bool, DomainError> {
    Ok(mfa_challenges::consume(conn, id, user_id, MAX_FAILURES, now_ms).await?)
}

/// Counts a wrong code against the challenge.
pub async fn failed<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DomainError> {
    Ok(mfa_challenges::count_failure(conn, id).await?)
}

/// Voids every open challenge of a user (a credential changed).
pub async fn void_all<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    now_ms: i64,
) -> Result<(), DomainError> {
    Ok(mfa_challenges::void_all(conn, user_id, now_ms).await?)
}
