//! The second step of an MFA login: the `mfa_token` (hash only), single
//! use, short-lived, void after too many wrong codes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
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
    pub device_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

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
