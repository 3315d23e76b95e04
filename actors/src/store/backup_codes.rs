//! Backup codes, stored only as HMAC-SHA256 under a server key.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: UserId,
    pub code_hash: String,
    pub used_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Replaces every backup code of `user_id` by the set hashed as `hashes`.
pub(crate) async fn replace_set<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    hashes: impl IntoIterator<Item = String>,
    now_ms: i64,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let rows = hashes.into_iter().map(|code_hash| ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        code_hash: Set(code_hash),
        used_at: Set(None),
        created_at: Set(now_ms),
    });
    Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Uses the unused code of `user_id` whose hash is one of `candidates`
/// (the typed code under each backup key): exactly one of any number of
/// concurrent callers gets `true`.
pub(crate) async fn use_once<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    candidates: Vec<String>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::CodeHash.is_in(candidates))
        .filter(super::unused(Column::UsedAt))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How many codes of `user_id` are left unused.
pub(crate) async fn unused_count<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(super::unused(Column::UsedAt))
        .count(conn)
        .await
}

/// Removes every backup code of `user_id` (2FA turned off).
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
