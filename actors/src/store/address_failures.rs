//! Failed logins for addresses with no account: the same lock state as an
//! account's, keyed by a keyed hash of the normalised address. Written only
//! through the lockout state machine, by the address's session actor.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;

use super::lock_columns::{self, LockColumns};

const LOCK: LockColumns<Column> = LockColumns {
    failed_attempts: Column::FailedAttempts,
    locked_until: Column::LockedUntil,
    last_failed_at: Column::LastFailedAt,
};
use crate::lockout::LockState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "address_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub failed_attempts: i32,
    pub locked_until: Option<i64>,
    pub last_failed_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The lock state of the address `id` (nothing stored: no failures).
pub(crate) async fn lock_state<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<LockState, DbErr> {
    Ok(Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(|row| lock_columns::read(row.failed_attempts, row.locked_until, row.last_failed_at))
        .unwrap_or_default())
}

/// Moves the state of `id` from `from` to `to` only if it is still `from`
/// (no row counts as the empty state); returns whether it did.
pub(crate) async fn swap_lock_state<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    from: LockState,
    to: LockState,
    now_ms: i64,
) -> Result<bool, DbErr> {
    if from == LockState::default() {
        let inserted = Entity::insert(ActiveModel {
            id: Set(id),
            failed_attempts: Set(lock_columns::stored_failures(to)),
            locked_until: Set(to.locked_until),
            last_failed_at: Set(to.last_failure_at),
            updated_at: Set(now_ms),
        })
        .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await;
        match inserted {
            Ok(1) => return Ok(true),
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e),
        }
    }
    let update = LOCK
        .write(Entity::update_many(), to)
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(LOCK.still(from));
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Marks the failure of `id` as standing at `now_ms`: the write an
/// account's failure makes for its audit event, made here too so that a
/// failure costs the same whether the address has an account or not.
pub(crate) async fn failure_stands<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, sea_orm::sea_query::Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// How long an address's failures are remembered after its last one (if
/// no lock is still running): then it counts as no failures again.
pub(crate) const FORGET_AFTER_MS: i64 = crate::lockout::FORGET_AFTER_MS;

/// Addresses whose last failure was [`FORGET_AFTER_MS`] before
/// `dead_before` and whose lock (if any) ended by then: a running lock or
/// a recent count is never cut short. At most `limit`; returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let unlocked = sea_orm::Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lte(dead_before));
    let dead = sea_orm::Condition::all()
        .add(Column::UpdatedAt.lte(dead_before.saturating_sub(FORGET_AFTER_MS)))
        .add(unlocked);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}

/// Forgets the failures counted for the address with id `id` (an account
/// there was deleted: the address starts again as never seen).
pub(crate) async fn forget<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}
