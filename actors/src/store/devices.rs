//! Known devices: an opaque token (SHA-256 stored) bound to one account,
//! with its own lock state. A device that reaches the lockout threshold is
//! void. Lock columns are written only here, with states from the lockout
//! state machine.

use sea_orm::ActiveValue::Set;
use sea_orm::QuerySelect;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use zeroize::Zeroizing;

use super::lock_columns::{self, LockColumns};

const LOCK: LockColumns<Column> = LockColumns {
    failed_attempts: Column::FailedAttempts,
    locked_until: Column::LockedUntil,
    last_failed_at: Column::LastFailedAt,
};
use crate::domain::{DeviceId, UserId};
use crate::lockout::LockState;
use crate::one_time::{self, NewToken};

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: DeviceId,
    pub user_id: UserId,
    pub token_hash: String,
    pub failed_attempts: i32,
    pub locked_until: Option<i64>,
    pub last_failed_at: Option<i64>,
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

pub(crate) fn lock_state(device: &Model) -> LockState {
    lock_columns::read(
        device.failed_attempts,
        device.locked_until,
        device.last_failed_at,
    )
}

/// The live device of `user_id` whose token is `presented` (a token of
/// another account, a void one or a malformed one finds nothing).
pub(crate) async fn find_live<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
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
pub(crate) async fn any_for_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<bool, DbErr> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .select_only()
        .column(Column::Id)
        .into_tuple::<DeviceId>()
        .one(conn)
        .await?
        .is_some())
}

/// The device `id` of `user_id`, live or void.
pub(crate) async fn of_user<C: ConnectionTrait>(
    conn: &C,
    id: DeviceId,
    user_id: UserId,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::UserId.eq(user_id))
        .one(conn)
        .await
}

/// Moves a device's lock state from `from` to `to` if unchanged; a device
/// whose failures reach `void_at` is void from now on (its token no longer
/// finds it; its lock still holds for the sessions it logged in).
pub(crate) async fn swap_lock_state<C: ConnectionTrait>(
    conn: &C,
    id: DeviceId,
    from: LockState,
    to: LockState,
    void_at: u32,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let mut update = LOCK
        .write(Entity::update_many(), to)
        .filter(Column::Id.eq(id))
        .filter(LOCK.still(from));
    if to.failures >= void_at {
        let since =
            sea_orm::sea_query::Func::coalesce([Expr::col(Column::RevokedAt), Expr::value(now_ms)]);
        update = update.col_expr(Column::RevokedAt, since.into());
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// A completed login from device `id`: its count cleared, a new token for
/// it (the old one stops working). `None` if the device was voided meanwhile.
pub(crate) async fn renew<C: ConnectionTrait>(
    conn: &C,
    id: DeviceId,
    cleared: LockState,
    now_ms: i64,
) -> Result<Option<Zeroizing<String>>, DbErr> {
    let token = NewToken::generate();
    let res = LOCK
        .write(Entity::update_many(), cleared)
        .col_expr(Column::TokenHash, Expr::value(token.hash.clone()))
        .col_expr(Column::LastUsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok((res.rows_affected == 1).then_some(token.secret))
}

/// A new known device for `user_id`; returns its id and token.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    now_ms: i64,
) -> Result<(DeviceId, Zeroizing<String>), DbErr> {
    let token = NewToken::generate();
    let id = DeviceId::new_v4();
    Entity::insert(ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        token_hash: Set(token.hash.clone()),
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_failed_at: Set(None),
        created_at: Set(now_ms),
        last_used_at: Set(now_ms),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok((id, token.secret))
}

/// The most live devices an account keeps: a new one past this voids the
/// least recently used, so a client that never keeps its token cannot
/// grow the table without bound.
pub const MAX_LIVE_PER_USER: u64 = 32;

/// Voids the live devices of `user_id` past the [`MAX_LIVE_PER_USER`]
/// most recently used; returns how many.
pub(crate) async fn retire_beyond_cap<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    now_ms: i64,
) -> Result<u64, DbErr> {
    use sea_orm::QueryOrder;
    let kept: Vec<DeviceId> = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .order_by_desc(Column::LastUsedAt)
        .order_by_desc(Column::Id)
        .select_only()
        .column(Column::Id)
        .limit(MAX_LIVE_PER_USER + 1)
        .into_tuple()
        .all(conn)
        .await?;
    if (kept.len() as u64) <= MAX_LIVE_PER_USER {
        return Ok(0);
    }
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .filter(Column::Id.is_not_in(kept.into_iter().take(MAX_LIVE_PER_USER as usize)))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Forgets every live device of `user_id` but `keep` (a credential
/// change: a former intruder's device loses its private budget).
pub(crate) async fn forget_all_but<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    keep: Option<DeviceId>,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now_ms))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null());
    if let Some(id) = keep {
        update = update.filter(Column::Id.ne(id));
    }
    Ok(update.exec(conn).await?.rows_affected)
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

/// Every stored device of `user_id`, live or forgotten, oldest first.
pub(crate) async fn all_of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::QueryOrder;
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}
