//! Refresh tokens, stored as SHA-256 hashes, each paired with the access
//! token issued beside it. A rotation's claim, which writes this table and
//! `sessions` in one statement, is [`super::refresh_rotation`]'s.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use super::SessionScope;
use crate::domain::{SessionId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub access_jti: Uuid,
    pub access_expires_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The refresh token whose hash is `token_hash`, with its user's stored
/// roles and app metadata (JSON text), in one statement. Written out, not
/// built: a refresh runs it every time, and building the join through the
/// query builder cost more than the statement itself.
pub(crate) async fn find_with_subject<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
) -> Result<Option<(Model, String, String)>, DbErr> {
    use sea_orm::{FromQueryResult, Statement};
    const SQL: &str = "SELECT r.id, r.session_id, r.user_id, r.token_hash, r.access_jti, \
        r.access_expires_at, r.expires_at, r.used_at, r.revoked_at, r.created_at, \
        u.roles AS user_roles, u.app_metadata AS user_app_metadata \
        FROM refresh_tokens r INNER JOIN users u ON u.id = r.user_id \
        WHERE r.token_hash = $1 LIMIT 1";
    let statement =
        Statement::from_sql_and_values(conn.get_database_backend(), SQL, [token_hash.into()]);
    let row = WithSubject::find_by_statement(statement).one(conn).await?;
    Ok(row.map(|r| (r.token(), r.user_roles, r.user_app_metadata)))
}

/// A row of [`find_with_subject`].
#[derive(sea_orm::FromQueryResult)]
struct WithSubject {
    id: Uuid,
    session_id: SessionId,
    user_id: UserId,
    token_hash: String,
    access_jti: Uuid,
    access_expires_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
    user_roles: String,
    user_app_metadata: String,
}

impl WithSubject {
    fn token(&self) -> Model {
        Model {
            id: self.id,
            session_id: self.session_id,
            user_id: self.user_id,
            token_hash: self.token_hash.clone(),
            access_jti: self.access_jti,
            access_expires_at: self.access_expires_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
            created_at: self.created_at,
        }
    }
}

/// Stores `row`, a refresh token just issued (the first of a session).
pub(crate) async fn insert_issued<C: ConnectionTrait>(conn: &C, row: Model) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    Entity::insert(row.into_active_model())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Marks the unrevoked refresh tokens of the sessions of `scope` revoked
/// at `now_ms` (in the transaction that revokes the sessions, after them).
pub(crate) async fn revoke<C: ConnectionTrait>(
    conn: &C,
    scope: SessionScope,
    now_ms: i64,
) -> Result<(), DbErr> {
    let of_scope = scope.rows(Column::SessionId, Column::UserId);
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(of_scope)
        .filter(Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Refresh tokens expired before `dead_before` whose paired access token
/// (with the verification leeway) expired then too: at most `limit`;
/// returns how many. A used or revoked token is kept until then: a used
/// one presented again is how reuse is detected, and a session keeps its
/// rows until none of its tokens can be presented (see
/// [`super::sessions::prune`]).
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let leeway_ms = crate::jwt::LEEWAY_SECS.saturating_mul(1000);
    let dead = sea_orm::Condition::all()
        .add(Column::ExpiresAt.lte(dead_before))
        .add(Column::AccessExpiresAt.lte(dead_before.saturating_sub(leeway_ms)));
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
