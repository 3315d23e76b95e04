use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub email_verified_at: Option<i64>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub failed_attempts: i32,
    pub locked_until: Option<i64>,
    /// Access tokens issued before this (Unix ms) are refused.
    pub tokens_invalid_before: Option<i64>,
    /// Two-factor authentication is on (a confirmed TOTP secret exists).
    pub mfa_enabled: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn find_by_normalized_email<C: ConnectionTrait>(
    conn: &C,
    normalized: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::EmailNormalized.eq(normalized))
        .one(conn)
        .await
}

/// Bumps `updated_at`. Done first in a transaction, it serialises concurrent
/// writers for one user (a row lock on PostgreSQL).
pub async fn touch<C: ConnectionTrait>(conn: &C, id: Uuid, now_ms: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}
