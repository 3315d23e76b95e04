use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "one_time_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: String,
    pub token_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Marks every unused token of `purpose` for `user_id` as used: a new link
/// voids the earlier ones.
pub async fn void_all<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    purpose: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Uses the token if it is unused and unexpired: exactly one of any number
/// of concurrent callers gets `true`.
pub async fn consume<C: ConnectionTrait>(conn: &C, id: Uuid, now_ms: i64) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now_ms))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
