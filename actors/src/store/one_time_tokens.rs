use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::domain::UserId;
use crate::one_time::{self, NewToken};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "one_time_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: UserId,
    pub purpose: LinkKind,
    pub token_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub created_at: i64,
    /// The address the link is for: the new one of an address change, the
    /// old one of its revert link; empty for the other kinds.
    pub address: Option<String>,
}

/// What an emailed single-use link is for, stored by these names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum LinkKind {
    /// Proves the address of a new account.
    #[sea_orm(string_value = "verify_email")]
    VerifyEmail,
    /// Sets a new password without the old one.
    #[sea_orm(string_value = "password_reset")]
    PasswordReset,
    /// Moves the account to the new address the link was mailed to.
    #[sea_orm(string_value = "email_change")]
    EmailChange,
    /// Puts the old address back, from the old address.
    #[sea_orm(string_value = "email_revert")]
    EmailRevert,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Marks every unused token of `purpose` for `user_id` as used: a new link
/// voids the earlier ones.
pub async fn void_all<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    purpose: LinkKind,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(super::unused(Column::UsedAt))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks the unused tokens of `purpose` for `user_id` issued at or after
/// `since` as used: reverting an address change voids the revert links
/// of the changes that came after the one reverted (they would lead back
/// to addresses the account moved to later).
pub(crate) async fn void_issued_since<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    purpose: LinkKind,
    since: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::CreatedAt.gte(since))
        .filter(super::unused(Column::UsedAt))
        .exec(conn)
        .await?;
    Ok(())
}

/// Uses the token if it is unused and unexpired: exactly one of any number
/// of concurrent callers gets `true`.
pub(crate) async fn consume<C: ConnectionTrait>(
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

/// Stores a new token of `purpose` for `user_id`, valid for `ttl_ms`, and
/// returns it (the secret goes in an email, only its hash is stored).
pub async fn issue<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    purpose: LinkKind,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<NewToken, DbErr> {
    issue_for(conn, user_id, purpose, None, ttl_ms, now_ms).await
}

/// [`issue`] for a link that names the address it is for (an address
/// change and its revert).
pub(crate) async fn issue_for<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    purpose: LinkKind,
    address: Option<String>,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<NewToken, DbErr> {
    let token = NewToken::generate();
    Entity::insert(ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        purpose: Set(purpose),
        token_hash: Set(token.hash.clone()),
        expires_at: Set(now_ms.saturating_add(ttl_ms)),
        used_at: Set(None),
        created_at: Set(now_ms),
        address: Set(address),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// The stored token of `purpose` whose secret is `presented`, used or not.
/// Malformed input is refused before the database is asked.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
    purpose: LinkKind,
) -> Result<Option<Model>, DbErr> {
    let Some(hash) = one_time::lookup_hash(presented) else {
        return Ok(None);
    };
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash.as_str()))
        .filter(Column::Purpose.eq(purpose))
        .one(conn)
        .await?
        .filter(|row| one_time::same_hash(&row.token_hash, &hash)))
}

/// Used tokens, and tokens expired, before `dead_before`: at most `limit`
/// of them; returns how many. Neither can be used again (a used or
/// expired token and an unknown one get the same answer).
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = super::used_or_expired(Column::UsedAt, Column::ExpiresAt, dead_before);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
