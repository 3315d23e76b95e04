//! The second step of an MFA login: the `mfa_token` (hash only), single
//! use, short-lived, void after too many wrong codes.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};

use crate::domain::{DeviceId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub failures: i32,
    pub created_at: i64,
    /// The user's credential version when the password was checked: the
    /// second step completes only if it has not moved since.
    pub credential_version: i64,
    /// The known device the password step came from: the code step is
    /// counted in its budget too.
    pub device_id: Option<DeviceId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores a new challenge of `user_id` (its token hashed as `token_hash`)
/// whose password step was checked against credential version
/// `credential_version` from the known device `device_id` (`None`: the
/// account's budget), open until `expires_at`.
pub(crate) async fn open<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    token_hash: String,
    expires_at: i64,
    credential_version: i64,
    device_id: Option<DeviceId>,
    now_ms: i64,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::insert(ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        token_hash: Set(token_hash),
        expires_at: Set(expires_at),
        used_at: Set(None),
        failures: Set(0),
        created_at: Set(now_ms),
        credential_version: Set(credential_version),
        device_id: Set(device_id),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Uses challenge `id` of `user_id` if it is unused, unexpired and has
/// fewer than `max_failures` wrong codes: exactly one of any number of
/// concurrent callers gets `true`.
pub(crate) async fn consume<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    user_id: UserId,
    max_failures: i32,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .filter(super::unused(Column::UsedAt))
        .filter(Column::ExpiresAt.gt(now_ms))
        .filter(Column::Failures.lt(max_failures))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Counts one more wrong code against challenge `id`.
pub(crate) async fn count_failure<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).add(1))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks every unused challenge of `user_id` used: none can be answered.
pub(crate) async fn void_all<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(super::unused(Column::UsedAt))
        .exec(conn)
        .await?;
    Ok(())
}

/// Challenges used, or expired, before `dead_before` (one voided by wrong
/// codes expires within minutes): at most `limit`; returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = super::used_or_expired(Column::UsedAt, Column::ExpiresAt, dead_before);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
