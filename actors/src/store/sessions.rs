//! A login session: the family of refresh tokens descended from one login.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use super::SessionScope;
use crate::domain::{DeviceId, SessionId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The client of the login that started the session.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The last time the session issued tokens (its start, or a refresh).
    pub last_used_at: i64,
    /// The known device the login came from (the device token it
    /// returned); a re-authentication in the session spends its budget.
    pub device_id: Option<DeviceId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores a session of `user_id` started at `now_ms` by a login from
/// `ip` with `user_agent`, on the known device `device_id`.
pub(crate) async fn start<C: ConnectionTrait>(
    conn: &C,
    id: SessionId,
    user_id: UserId,
    ip: Option<String>,
    user_agent: Option<String>,
    device_id: Option<DeviceId>,
    now_ms: i64,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::insert(ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        created_at: Set(now_ms),
        revoked_at: Set(None),
        ip: Set(ip),
        user_agent: Set(user_agent),
        last_used_at: Set(now_ms),
        device_id: Set(device_id),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Marks the live sessions of `scope` revoked at `now_ms`; returns the ids
/// of those this statement ended. RETURNING names exactly those, in the
/// same round trip (not those another request ended in the same ms).
pub(crate) async fn revoke<C: ConnectionTrait>(
    conn: &C,
    scope: SessionScope,
    now_ms: i64,
) -> Result<Vec<SessionId>, DbErr> {
    let of_scope = scope.rows(Column::Id, Column::UserId);
    Ok(Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(of_scope)
        .filter(Column::RevokedAt.is_null())
        .exec_with_returning(conn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// The known device whose login started session `id`.
pub async fn device_of<C: ConnectionTrait>(
    conn: &C,
    id: SessionId,
) -> Result<Option<DeviceId>, DbErr> {
    use sea_orm::QuerySelect;
    Ok(Entity::find_by_id(id)
        .select_only()
        .column(Column::DeviceId)
        .into_tuple::<Option<DeviceId>>()
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

/// Every stored session of `user_id`, live or ended, newest first.
pub(crate) async fn all_of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::QueryOrder;
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(conn)
        .await
}
