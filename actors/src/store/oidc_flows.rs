//! Sign-ins (and links) sent to a provider and not yet back: keyed by the
//! SHA-256 of their `state`, bound to the browser that started them by the
//! SHA-256 of its `__Host-authd_oidc` cookie, used once. Every write to
//! the table is here.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub state_hash: String,
    pub binding_hash: String,
    pub provider: String,
    /// Where the browser goes back to (an allowed origin's URL).
    pub redirect_to: String,
    /// The account a link flow adds the identity to; none for a sign-in.
    pub user_id: Option<UserId>,
    pub nonce: String,
    /// The PKCE verifier, sealed with the encryption key.
    pub pkce_verifier: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Stores a started flow.
pub(crate) async fn start<C: ConnectionTrait>(conn: &C, flow: Model) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(flow.id),
        state_hash: Set(flow.state_hash),
        binding_hash: Set(flow.binding_hash),
        provider: Set(flow.provider),
        redirect_to: Set(flow.redirect_to),
        user_id: Set(flow.user_id),
        nonce: Set(flow.nonce),
        pkce_verifier: Set(flow.pkce_verifier),
        created_at: Set(flow.created_at),
        expires_at: Set(flow.expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The flow whose state hashes to `state_hash`, used or not.
pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    state_hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::StateHash.eq(state_hash))
        .one(conn)
        .await
}

/// Uses the flow if it is unused (expired or not: the caller tells the
/// browser which): exactly one of any number of concurrent callers gets
/// `true`.
pub(crate) async fn use_once<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(super::unused(Column::UsedAt))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Flows used, or expired, before `dead_before`: at most `limit` of them;
/// returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = super::used_or_expired(Column::UsedAt, Column::ExpiresAt, dead_before);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
