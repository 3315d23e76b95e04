//! Refresh tokens, stored as SHA-256 hashes, each paired with the access
//! token issued beside it. A rotation's claim, which writes this table and
//! `sessions` in one statement, is [`super::refresh_rotation`]'s.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use super::SessionScope;
use crate::domain::{SessionId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub access_jti: Uuid,
    pub access_expires_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores `row`, a refresh token just issued (the first of a session).
pub(crate) async fn insert_issued<C: ConnectionTrait>(conn: &C, row: Model) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    Entity::insert(row.into_active_model())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Marks the unrevoked refresh tokens of the sessions of `scope` revoked
/// at `now_ms` (in the transaction that revokes the sessions, after them).
pub(crate) async fn revoke<C: ConnectionTrait>(
    conn: &C,
    scope: SessionScope,
    now_ms: i64,
) -> Result<(), DbErr> {
    let of_scope = scope.rows(Column::SessionId, Column::UserId);
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(of_scope)
        .filter(Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Refresh tokens expired before `dead_before` whose paired access token
/// (with the verification leeway) expired then too: at most `limit`;
/// returns how many. A used or revoked token is kept until then: a used
/// one presented again is how reuse is detected, and a session keeps its
/// rows until none of its tokens can be presented (see
/// [`super::sessions::prune`]).
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let leeway_ms = crate::jwt::LEEWAY_SECS.saturating_mul(1000);
    let dead = sea_orm::Condition::all()
        .add(Column::ExpiresAt.lte(dead_before))
        .add(Column::AccessExpiresAt.lte(dead_before.saturating_sub(leeway_ms)));
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
