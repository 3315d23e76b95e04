//! The passkeys users registered: webauthn-rs's serialized `Passkey`, with
//! its signature counter and backup flags also as columns, so that a use
//! is recorded only if the counter is still the one the assertion was
//! checked against.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{PaginatorTrait, QueryOrder};

use crate::domain::{PasskeyId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: PasskeyId,
    pub user_id: UserId,
    /// The credential id, base64url without padding.
    pub credential_id: String,
    /// webauthn-rs's `Passkey` as JSON (public key, counter, flags).
    pub passkey: String,
    /// The owner's label for it.
    pub name: String,
    /// The signature counter of the last accepted use (0: the
    /// authenticator keeps none, as synced passkeys do).
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// At most this many passkeys per account (counted in the transaction
/// that adds one).
pub(crate) const MAX_PER_USER: u64 = 20;

/// A user's passkeys, oldest first: all of them (an account may hold more
/// than [`MAX_PER_USER`] from before the cap was counted at the finish, and
/// its owner must see and be able to remove every one).
pub(crate) async fn of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}

/// How many passkeys a user has.
pub(crate) async fn count_of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .count(conn)
        .await
}

/// The passkey with this credential id (base64url), whoever's it is.
pub async fn by_credential_id<C: ConnectionTrait>(
    conn: &C,
    credential_id: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::CredentialId.eq(credential_id))
        .one(conn)
        .await
}

/// Stores a newly registered passkey.
pub async fn add<C: ConnectionTrait>(conn: &C, row: Model) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        credential_id: Set(row.credential_id),
        passkey: Set(row.passkey),
        name: Set(row.name),
        counter: Set(row.counter),
        backup_eligible: Set(row.backup_eligible),
        backup_state: Set(row.backup_state),
        created_at: Set(row.created_at),
        last_used_at: Set(row.last_used_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Renames one of `user_id`'s passkeys; `false` if it has none with `id`.
pub async fn rename<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    id: PasskeyId,
    name: &str,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Name, Expr::value(name))
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Removes one of `user_id`'s passkeys; `false` if it has none with `id`.
pub async fn remove<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    id: PasskeyId,
) -> Result<bool, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// What an accepted assertion changes on its passkey.
#[derive(Debug, Clone)]
pub(crate) struct Use {
    pub passkey: String,
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub at: i64,
}

/// Records an accepted use of passkey `id`, only if its counter is still
/// `seen` (the value the assertion was checked against): of two uses
/// checked against the same counter, one is recorded and the other gets
/// `false` (refused like a cloned authenticator).
pub(crate) async fn record_use<C: ConnectionTrait>(
    conn: &C,
    id: PasskeyId,
    seen: i64,
    change: Use,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Passkey, Expr::value(change.passkey))
        .col_expr(Column::Counter, Expr::value(change.counter))
        .col_expr(Column::BackupEligible, Expr::value(change.backup_eligible))
        .col_expr(Column::BackupState, Expr::value(change.backup_state))
        .col_expr(Column::LastUsedAt, Expr::value(change.at))
        .filter(Column::Id.eq(id))
        .filter(Column::Counter.eq(seen))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
