//! Security events of a user (the audit trail). Written only by
//! [`crate::audit::record`].

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// One of [`crate::audit::EventKind`]'s names.
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Events recorded before `recorded_before` (the audit retention): at most
/// `limit`; returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    recorded_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let old = sea_orm::Condition::all().add(Column::At.lt(recorded_before));
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, old, limit).await
}
