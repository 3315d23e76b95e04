//! The single-use codes a finished sign-in with a provider hands the
//! frontend, stored as their SHA-256, for `oidc/exchange`. Every write to
//! the table is here.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub code_hash: String,
    pub user_id: UserId,
    pub provider: String,
    /// The SHA-256 of the browser's `__Host-authd_oidc` cookie.
    pub binding_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores a code for `user_id`'s sign-in with `provider`.
pub(crate) async fn issue<C: ConnectionTrait>(
    conn: &C,
    code_hash: String,
    user_id: UserId,
    provider: &str,
    binding_hash: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(Uuid::now_v7()),
        code_hash: Set(code_hash),
        user_id: Set(user_id),
        provider: Set(provider.to_owned()),
        binding_hash: Set(binding_hash.to_owned()),
        created_at: Set(now_ms),
        expires_at: Set(now_ms.saturating_add(ttl_ms)),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The code whose hash is `code_hash`, used or not.
pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    code_hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::CodeHash.eq(code_hash))
        .one(conn)
        .await
}

/// Uses the code if it is unused and unexpired: exactly one of any number
/// of concurrent callers gets `true`.
pub(crate) async fn use_once<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(super::unused(Column::UsedAt))
        .filter(Column::ExpiresAt.gt(now_ms))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Codes used, or expired, before `dead_before`: at most `limit` of them;
/// returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = super::used_or_expired(Column::UsedAt, Column::ExpiresAt, dead_before);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
