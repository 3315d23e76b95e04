//! Security events of a user (the audit trail). Written only by
//! `append`, which [`crate::audit::record`] calls.

use sea_orm::entity::prelude::*;

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: UserId,
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

/// Appends an event of kind `kind` (one of `EventKind`'s names) of
/// `user_id` at `at`, with the client of the request that caused it.
pub(crate) async fn append<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    kind: &str,
    at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::insert(ActiveModel {
        // Time-ordered: events of one millisecond list in the order this
        // process recorded them.
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        at: Set(at),
        ip: Set(ip),
        user_agent: Set(user_agent),
        request_id: Set(request_id),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

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
