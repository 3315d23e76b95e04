//! A user's TOTP secret, sealed with AES-256-GCM; `key_id` names the key.
//! Pending until `confirmed_at` is set; `last_used_step` stops replays.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: UserId,
    pub secret_sealed: String,
    pub key_id: String,
    pub confirmed_at: Option<i64>,
    pub last_used_step: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A secret sealed again under the current key, with that key's id.
pub(crate) struct Resealed {
    pub(crate) secret_sealed: String,
    pub(crate) key_id: String,
}

/// Replaces the pending secret of `user_id` (if any) by a new pending one.
/// A confirmed secret (set meanwhile) keeps its row: the insert fails with
/// the primary key's violation ([`super::is_unique_violation`]).
pub(crate) async fn replace_pending<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    secret_sealed: String,
    key_id: String,
    now_ms: i64,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ConfirmedAt.is_null())
        .exec(conn)
        .await?;
    Entity::insert(ActiveModel {
        user_id: Set(user_id),
        key_id: Set(key_id),
        secret_sealed: Set(secret_sealed),
        confirmed_at: Set(None),
        last_used_step: Set(None),
        created_at: Set(now_ms),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Confirms the pending secret of `user_id`, only if it is still the one
/// sealed as `secret_sealed` (the one a code was checked against), with
/// `step` (that code's) as its last used step; returns whether it did.
pub(crate) async fn confirm_pending<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    secret_sealed: &str,
    step: i64,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::ConfirmedAt, Expr::value(now_ms))
        .col_expr(Column::LastUsedStep, Expr::value(step))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ConfirmedAt.is_null())
        .filter(Column::SecretSealed.eq(secret_sealed))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Uses time step `step` of the confirmed secret of `user_id`: moves its
/// last used step there only if that is later (a step is used once), and
/// stores `resealed` in the same write when given; returns whether it did.
pub(crate) async fn use_step<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    step: i64,
    resealed: Option<Resealed>,
) -> Result<bool, DbErr> {
    let mut update = Entity::update_many().col_expr(Column::LastUsedStep, Expr::value(step));
    if let Some(Resealed {
        secret_sealed,
        key_id,
    }) = resealed
    {
        update = update
            .col_expr(Column::SecretSealed, Expr::value(secret_sealed))
            .col_expr(Column::KeyId, Expr::value(key_id));
    }
    let res = update
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ConfirmedAt.is_not_null())
        .filter(
            sea_orm::Condition::any()
                .add(Column::LastUsedStep.is_null())
                .add(Column::LastUsedStep.lt(step)),
        )
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Removes the secret of `user_id`, confirmed or pending (2FA turned off).
pub(crate) async fn delete_of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}
