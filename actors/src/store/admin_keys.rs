//! Admin API keys: a name, the SHA-256 of the key (never the key), whether
//! it may only read, and when it was made, last used and revoked. Every
//! write to the table is here.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{QueryOrder, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// Hex SHA-256 of the key.
    #[sea_orm(unique)]
    pub key_hash: String,
    pub read_only: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores a new key. A name already taken fails with the unique index's
/// violation ([`super::is_unique_violation`]).
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    key_hash: String,
    read_only: bool,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        key_hash: Set(key_hash),
        read_only: Set(read_only),
        created_at: Set(now_ms),
        last_used_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The key whose hash is `key_hash`, revoked or not.
pub(crate) async fn find_by_hash<C: ConnectionTrait>(
    conn: &C,
    key_hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::KeyHash.eq(key_hash))
        .one(conn)
        .await
}

/// Every key, oldest first.
pub(crate) async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Name)
        .all(conn)
        .await
}

/// Revokes the live key named `name`; returns whether there was one.
pub(crate) async fn revoke<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(Column::Name.eq(name))
        .filter(Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Notes a use of key `id` at `now_ms`, unless one was noted since
/// `unless_since` (at most one write a minute per key).
pub(crate) async fn note_use<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
    unless_since: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(
            sea_orm::Condition::any()
                .add(Column::LastUsedAt.is_null())
                .add(Column::LastUsedAt.lt(unless_since)),
        )
        .exec(conn)
        .await?;
    Ok(())
}
