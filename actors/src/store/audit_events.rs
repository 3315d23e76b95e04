//! Security events of a user (the audit trail). Written only by
//! `append` (which [`crate::audit::record`] calls), `append_bare` (the
//! one event a deleted account leaves) and the deletes below.
//!
//! The rows have no foreign key to `users` (migration 000026), so that
//! `account_deleted` outlives its account. `append` therefore writes an
//! event only while its user exists, in the same statement: on PostgreSQL
//! it takes the user row's key-share lock, as a foreign key check would,
//! so an event of a failure that raced the account's deletion is not
//! left behind, with its IP, once the deletion commits.

use sea_orm::entity::prelude::*;
use sea_orm::{DbBackend, Statement};

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
    /// Who made the change when not the user: `admin:<key name>`.
    pub actor: Option<String>,
    /// The identity provider the event came through, if any.
    pub provider: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who caused an event: the client of the request, and the admin key
/// when not the user (`admin:<key name>`).
#[derive(Debug, Default)]
pub(crate) struct Origin {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) provider: Option<String>,
}

/// Appends an event of kind `kind` (one of `EventKind`'s names) of
/// `user_id` at `at`, with where it came from, if the user exists (else
/// nothing is written).
pub(crate) async fn append<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    kind: &str,
    at: i64,
    origin: Origin,
) -> Result<(), DbErr> {
    let Origin {
        ip,
        user_agent,
        request_id,
        actor,
        provider,
    } = origin;
    let backend = conn.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => " FOR KEY SHARE",
        _ => "",
    };
    let sql = format!(
        "INSERT INTO audit_events (id, user_id, kind, at, ip, user_agent, request_id, actor, provider) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = $2{lock})"
    );
    // Time-ordered: events of one millisecond list in the order this
    // process recorded them.
    let values: [sea_orm::Value; 9] = [
        Uuid::now_v7().into(),
        user_id.into(),
        kind.into(),
        at.into(),
        ip.into(),
        user_agent.into(),
        request_id.into(),
        actor.into(),
        provider.into(),
    ];
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Appends an event of `user_id` with nothing of the client: the one a
/// deleted account leaves, written after its user row is gone. `actor` is
/// the admin key that made the change (`admin:<key name>`), when one did.
pub(crate) async fn append_bare<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    kind: &str,
    at: i64,
    actor: Option<&str>,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    Entity::insert(ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        at: Set(at),
        ip: Set(None),
        user_agent: Set(None),
        request_id: Set(None),
        actor: Set(actor.map(str::to_owned)),
        provider: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Deletes every event of these users (their accounts are being removed).
pub(crate) async fn delete_of_users<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[UserId],
) -> Result<u64, DbErr> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let res = Entity::delete_many()
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
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
