//! A login session: the family of refresh tokens descended from one login.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The client of the login that started the session.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The last time the session issued tokens (its start, or a refresh).
    pub last_used_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
