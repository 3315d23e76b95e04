//! Known devices: an opaque token (SHA-256 stored) bound to one account,
//! with its own lock state. A device that reaches the lockout threshold is
//! void. Lock columns are written only here, with states from the lockout
//! state machine.

use sea_orm::ActiveValue::Set;
use sea_orm::QuerySelect;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use zeroize::Zeroizing;

use super::lock_columns;
use crate::lockout::LockState;
use crate::one_time::{self, NewToken};

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub failed_attempts: i32,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("failed_attempts", &self.failed_attempts)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub fn lock_state(device: &Model) -> LockState {
    lock_columns::read(device.failed_attempts, device.locked_until)
}

/// The live device of `user_id` whose token is `presented` (a token of
/// another account, a void one or a malformed one finds nothing).
pub async fn find_live<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    presented: &str,
) -> Result<Option<Model>, DbErr> {
    let Some(hash) = one_time::lookup_hash(presented) else {
        return Ok(None);
    };
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash.as_str()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .one(conn)
        .await?
        .filter(|d| one_time::same_hash(&d.token_hash, &hash)))
}

/// Whether `user_id` has had a device before (live or void): a login from
/// a new device is news to its owner only then.
pub async fn any_for_user<C: ConnectionTrait>(conn: &C, user_id: Uuid) -> Result<bool, DbErr> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .select_only()
        .column(Column::Id)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .is_some())
}

/// The live device `id` of `user_id`.
pub async fn live<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .one(conn)
        .await
}

/// Moves a live device's lock state from `from` to `to` if unchanged; a
/// device whose failures reach `void_at` is void from now on.
pub async fn swap_lock_state<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    from: LockState,
    to: LockState,
    void_at: u32,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let mut update = lock_columns::write(
        Entity::update_many(),
        Column::FailedAttempts,
        Column::LockedUntil,
        to,
    )
    .filter(Column::Id.eq(id))
    .filter(Column::RevokedAt.is_null())
    .filter(lock_columns::still(
        Column::FailedAttempts,
        Column::LockedUntil,
        from,
    ));
    if to.failures >= void_at {
        update = update.col_expr(Column::RevokedAt, Expr::value(now_ms));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// A completed login from device `id`: its count cleared, a new token for
/// it (the old one stops working). `None` if the device was voided meanwhile.
pub async fn renew<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    cleared: LockState,
    now_ms: i64,
) -> Result<Option<Zeroizing<String>>, DbErr> {
    let token = NewToken::generate();
    let res = lock_columns::write(
        Entity::update_many(),
        Column::FailedAttempts,
        Column::LockedUntil,
        cleared,
    )
    .col_expr(Column::TokenHash, Expr::value(token.hash.clone()))
    .col_expr(Column::LastUsedAt, Expr::value(now_ms))
    .filter(Column::Id.eq(id))
    .filter(Column::RevokedAt.is_null())
    .exec(conn)
    .await?;
    Ok((res.rows_affected == 1).then_some(token.secret))
}

/// A new known device for `user_id`; returns its token.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    now_ms: i64,
) -> Result<Zeroizing<String>, DbErr> {
    let token = NewToken::generate();
    Entity::insert(ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user_id),
        token_hash: Set(token.hash.clone()),
        failed_attempts: Set(0),
        locked_until: Set(None),
        created_at: Set(now_ms),
        last_used_at: Set(now_ms),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token.secret)
}

/// Devices voided (by reaching the lockout threshold) before
/// `dead_before`: a void token counts as no token, as an unknown one does.
/// At most `limit`; returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = sea_orm::Condition::all().add(Column::RevokedAt.lte(dead_before));
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
