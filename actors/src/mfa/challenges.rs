//! MFA login challenges: the `mfa_token` a login with 2FA answers with.
//! 256 random bits, stored as SHA-256, single use, 5 minutes, void after
//! 5 wrong codes.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::attempts::Budget;
use crate::one_time::{self, NewToken};
use crate::store::mfa_challenges::{self, Column, Entity};

pub const TTL_MS: i64 = 5 * 60 * 1000;
pub const MAX_FAILURES: i32 = 5;

/// Stores a new challenge for `user_id`, whose password was checked against
/// credential version `version` with the failure budget `budget`; returns
/// the token for the client.
pub async fn start<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    version: i64,
    budget: Budget,
    now_ms: i64,
) -> Result<Zeroizing<String>, DomainError> {
    let token = NewToken::generate();
    Entity::insert(mfa_challenges::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        token_hash: Set(token.hash.clone()),
        expires_at: Set(now_ms.saturating_add(TTL_MS)),
        used_at: Set(None),
        failures: Set(0),
        created_at: Set(now_ms),
        credential_version: Set(version),
        device_id: Set(match budget {
            Budget::Device(id) => Some(id),
            Budget::Account => None,
        }),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token.secret)
}

/// The challenge whose token is `presented`, if it can still be answered.
pub async fn find_usable<C: ConnectionTrait>(
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
pub async fn consume<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    user_id: Uuid,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now_ms))
        .filter(Column::Failures.lt(MAX_FAILURES))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Counts a wrong code against the challenge.
pub async fn failed<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DomainError> {
    Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).add(1))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Voids every open challenge of a user (a credential changed).
pub async fn void_all<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    now_ms: i64,
) -> Result<(), DomainError> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
