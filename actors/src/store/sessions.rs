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
    /// The known device the login came from (the device token it
    /// returned); a re-authentication in the session spends its budget.
    pub device_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The known device whose login started session `id`.
pub async fn device_of<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Uuid>, DbErr> {
    use sea_orm::QuerySelect;
    Ok(Entity::find_by_id(id)
        .select_only()
        .column(Column::DeviceId)
        .into_tuple::<Option<Uuid>>()
        .one(conn)
        .await?
        .flatten())
}

/// Sessions, ended or not, none of whose tokens is left: no refresh-token
/// row remains ([`super::refresh_tokens::prune`] removes each pair once
/// both its tokens expired), so no access or refresh token of theirs can
/// be presented any more. `idle_before` (the last use before which a
/// session's tokens are all expired with today's refresh lifetime) only
/// narrows the search to old ones; a session whose tokens had a longer
/// lifetime is kept by the refresh-token check. At most `limit`; returns
/// how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    idle_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    use super::refresh_tokens;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let has_tokens = Query::select()
        .expr(Expr::val(1))
        .from(refresh_tokens::Entity)
        .and_where(
            Expr::col((refresh_tokens::Entity, refresh_tokens::Column::SessionId))
                .equals((Entity, Column::Id)),
        )
        .to_owned();
    let dead = sea_orm::Condition::all()
        .add(Column::LastUsedAt.lte(idle_before))
        .add(Expr::exists(has_tokens).not());
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
